/*! @minibase/sdk 0.1.0 | Apache-2.0 | https://github.com/minibase */
"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// src/index.ts
var index_exports = {};
__export(index_exports, {
  Geo: () => Geo2,
  MinibaseError: () => MinibaseError,
  app: () => app,
  browserAdapter: () => browserAdapter,
  callFunction: () => callFunction,
  command: () => command2,
  database: () => database,
  default: () => index_default,
  deleteFile: () => deleteFile,
  detectPlatform: () => detectPlatform,
  downloadFile: () => downloadFile,
  getTempFileURL: () => getTempFileURL,
  init: () => init,
  myAdapter: () => myAdapter,
  nodeAdapter: () => nodeAdapter,
  qqAdapter: () => qqAdapter,
  requestPayment: () => requestPayment2,
  swanAdapter: () => swanAdapter,
  taroAdapter: () => taroAdapter,
  ttAdapter: () => ttAdapter,
  uniAdapter: () => uniAdapter,
  uploadFile: () => uploadFile,
  version: () => version,
  wxAdapter: () => wxAdapter
});
module.exports = __toCommonJS(index_exports);

// src/adapters/types.ts
var PlatformError = class extends Error {
  constructor(errMsg, aborted = false) {
    super(errMsg);
    this.errMsg = errMsg;
    this.aborted = aborted;
  }
};

// src/adapters/mp.ts
function noop() {
}
function failMsg(e) {
  if (!e) return "fail";
  if (typeof e == "string") return e;
  return String(e.errMsg || e.errorMessage || e.message || e.error || "fail");
}
function failure(e) {
  const msg = failMsg(e);
  return new PlatformError(msg, /abort/i.test(msg));
}
function parseBody(data) {
  if (typeof data == "string" && data) {
    try {
      return JSON.parse(data);
    } catch (_) {
    }
  }
  return data;
}
function call(api, fn, opts) {
  let task;
  const promise = new Promise((resolve, reject) => {
    if (!api || typeof api[fn] != "function") {
      reject(new PlatformError(fn + ":fail not supported on this platform"));
      return;
    }
    opts.success = resolve;
    opts.fail = (e) => reject(failure(e));
    task = api[fn](opts);
    if (task && typeof task.then == "function") task.then(void 0, noop);
  });
  return { task, promise };
}
function response(r) {
  return {
    status: r.statusCode !== void 0 ? r.statusCode : r.status,
    headers: r.header || r.headers || {},
    body: parseBody(r.data)
  };
}
function abortable(c, onAbort) {
  return {
    promise: c.promise,
    abort() {
      const t = c.task;
      if (t && typeof t.abort == "function") t.abort();
      if (onAbort) onAbort();
    }
  };
}
function wireSocket(t, on) {
  let task;
  let closed = false;
  const attach = (x) => {
    task = x;
    x.onOpen(() => on.open());
    x.onMessage((m) => {
      let d = m && m.data;
      if (d && typeof d == "object" && "data" in d) d = d.data;
      on.message(typeof d == "string" ? d : String(d));
    });
    x.onClose((e) => {
      if (closed) return;
      closed = true;
      on.close(e && e.code || 1006, e && e.reason || "");
    });
    x.onError((e) => on.error(failMsg(e)));
  };
  if (t && typeof t.then == "function") {
    t.then(attach, (e) => {
      closed = true;
      on.close(1006, failMsg(e));
    });
  } else if (t) attach(t);
  else setTimeout(() => on.close(1006, "connectSocket returned no task"));
  return {
    send(data) {
      if (task) task.send({ data, fail: noop });
    },
    close(code, reason) {
      if (task) task.close({ code: code || 1e3, reason: reason || "", fail: noop });
    }
  };
}
function mpAdapter(name, api, o = {}) {
  return {
    name,
    provider: o.provider,
    request(req) {
      const c = call(api, "request", {
        url: req.url,
        method: req.method,
        header: req.headers,
        data: req.body,
        timeout: req.timeout,
        dataType: "text",
        responseType: "text"
      });
      return abortable({ task: c.task, promise: c.promise.then(response) });
    },
    upload(req) {
      const c = call(api, "uploadFile", {
        url: req.url,
        filePath: req.filePath,
        name: req.name,
        header: req.headers,
        formData: req.formData,
        timeout: req.timeout
      });
      const t = c.task;
      const progress = (p) => {
        const sent = p.totalBytesSent || 0;
        const total = p.totalBytesExpectedToSend || 0;
        req.onProgress({
          progress: p.progress,
          totalBytesSent: sent,
          totalBytesExpectedToSend: total,
          loaded: sent,
          total
        });
      };
      if (t) {
        if (typeof t.onProgressUpdate == "function") t.onProgressUpdate(progress);
        else if (typeof t.progress == "function") t.progress(progress);
      }
      return abortable({ task: t, promise: c.promise.then(response) });
    },
    download(url, headers) {
      const c = call(api, "downloadFile", { url, header: headers });
      return abortable({
        task: c.task,
        promise: c.promise.then(
          (r) => ({ statusCode: r.statusCode, tempFilePath: r.tempFilePath })
        )
      });
    },
    socket(url, headers, on) {
      return wireSocket(api.connectSocket({ url, header: headers, success: noop, fail: noop }), on);
    },
    storage: {
      get(k) {
        const v = api.getStorageSync(k);
        return typeof v == "string" && v ? v : void 0;
      },
      set(k, v) {
        api.setStorageSync(k, v);
      },
      remove(k) {
        api.removeStorageSync(k);
      }
    },
    login: o.login ? () => o.login(api) : void 0,
    pay: o.pay ? (p) => o.pay(api, p) : void 0,
    onShow: (cb) => api.onAppShow && api.onAppShow(cb),
    onHide: (cb) => api.onAppHide && api.onAppHide(cb)
  };
}
function codeLogin(api, fn = "login", extra = {}) {
  return call(api, fn, extra).promise.then((r) => {
    if (!r || !r.code) throw new PlatformError(fn + ":fail no code");
    return String(r.code);
  });
}
function requestPayment(api, params) {
  const opts = {};
  for (const k in params) opts[k] = params[k];
  return call(api, "requestPayment", opts).promise;
}

// src/adapters/my.ts
function answer(r) {
  return {
    status: r.status !== void 0 ? r.status : r.statusCode,
    headers: r.headers || r.header || {},
    body: parseBody(r.data)
  };
}
function httpOrFail(p) {
  return p.then(answer, (e) => {
    const raw = e.raw;
    if (raw && typeof raw.status == "number") return answer(raw);
    throw e;
  });
}
function myCall(api, fn, opts) {
  let task;
  const promise = new Promise((resolve, reject) => {
    if (!api || typeof api[fn] != "function") {
      reject(new PlatformError(fn + ":fail not supported on this platform"));
      return;
    }
    opts.success = resolve;
    opts.fail = (e) => {
      const msg = String(e && (e.errorMessage || e.errMsg) || "fail") + (e && e.error ? " (" + e.error + ")" : "");
      const err = new PlatformError(fn + ":fail " + msg, /abort/i.test(msg) || e && e.error === 9);
      err.raw = e;
      reject(err);
    };
    task = api[fn](opts);
  });
  return { task, promise };
}
var FILE_TYPES = [
  [/\.(jpe?g|png|gif|webp|heic|bmp)$/i, "image"],
  [/\.(mp4|mov|m4v|3gp)$/i, "video"],
  [/\.(mp3|m4a|aac|amr|wav|silk)$/i, "audio"]
];
function myAdapter(api = typeof my != "undefined" ? my : void 0) {
  const abortable2 = (c) => ({
    promise: c.promise,
    abort() {
      if (c.task && c.task.abort) c.task.abort();
    }
  });
  return {
    name: "my",
    provider: "alipay",
    request(req) {
      const c = myCall(api, "request", {
        url: req.url,
        method: req.method,
        headers: req.headers,
        data: req.body,
        timeout: req.timeout,
        dataType: "text"
      });
      return abortable2({ task: c.task, promise: httpOrFail(c.promise) });
    },
    upload(req) {
      const path = String(req.filePath);
      let fileType = "image";
      for (const [re, t] of FILE_TYPES) if (re.test(path)) fileType = t;
      const c = myCall(api, "uploadFile", {
        url: req.url,
        filePath: req.filePath,
        fileName: req.name,
        fileType,
        header: req.headers,
        formData: req.formData,
        timeout: req.timeout
      });
      if (c.task && c.task.onProgressUpdate) {
        c.task.onProgressUpdate((p) => {
          const sent = p.totalBytesWritten || 0;
          const total = p.totalBytesExpectedToWrite || 0;
          req.onProgress({ progress: p.progress, totalBytesSent: sent, totalBytesExpectedToSend: total, loaded: sent, total });
        });
      }
      return abortable2({ task: c.task, promise: httpOrFail(c.promise) });
    },
    download(url, headers) {
      const c = myCall(api, "downloadFile", { url, header: headers });
      return {
        promise: c.promise.then((r) => ({ statusCode: r.statusCode || 200, tempFilePath: r.apFilePath || r.tempFilePath })),
        abort() {
          if (c.task && c.task.abort) c.task.abort();
        }
      };
    },
    socket(url, headers, on) {
      return wireSocket(api.connectSocket({ url, header: headers, multiple: true, success: noop, fail: noop }), on);
    },
    storage: {
      get(key) {
        const r = api.getStorageSync({ key });
        const v = r && r.data;
        return typeof v == "string" && v ? v : void 0;
      },
      set(key, data) {
        api.setStorageSync({ key, data });
      },
      remove(key) {
        api.removeStorageSync({ key });
      }
    },
    login() {
      return call(api, "getAuthCode", { scopes: "auth_base" }).promise.then((r) => {
        if (!r || !r.authCode) throw new PlatformError("getAuthCode:fail no authCode");
        return String(r.authCode);
      });
    },
    pay(params) {
      return call(api, "tradePay", Object.assign({}, params)).promise.then((r) => {
        if (r && r.resultCode == "9000") return r;
        throw new PlatformError("tradePay:fail " + (r && r.resultCode == "6001" ? "cancel" : "resultCode " + (r && r.resultCode)));
      });
    },
    onShow: (cb) => api.onAppShow && api.onAppShow(cb),
    onHide: (cb) => api.onAppHide && api.onAppHide(cb)
  };
}

// src/adapters/qq.ts
function qqAdapter(api = typeof qq != "undefined" ? qq : void 0) {
  return mpAdapter("qq", api, { provider: "qq", login: codeLogin, pay: requestPayment });
}

// src/adapters/swan.ts
function swanAdapter(api = typeof swan != "undefined" ? swan : void 0) {
  return mpAdapter("swan", api, {
    provider: "baidu",
    login: (a) => codeLogin(a, typeof a.getLoginCode == "function" ? "getLoginCode" : "login"),
    pay: (a, p) => call(a, "requestPolymerPayment", Object.assign({}, p)).promise
  });
}

// src/adapters/tt.ts
function ttAdapter(api = typeof tt != "undefined" ? tt : void 0) {
  return mpAdapter("tt", api, {
    provider: "douyin",
    login: (a) => codeLogin(a, "login", { force: true }),
    pay: (a, p) => call(a, "pay", Object.assign({}, p)).promise
  });
}

// src/adapters/uni.ts
var PROVIDERS = {
  "mp-weixin": ["wechat", "weixin"],
  "mp-qq": ["qq", "qq"],
  "mp-toutiao": ["douyin", "toutiao"],
  "mp-alipay": ["alipay", "alipay"],
  "mp-baidu": ["baidu", "baidu"],
  app: ["wechat", "weixin"]
};
function uniAdapter(api = typeof uni != "undefined" ? uni : void 0) {
  let platform = "";
  try {
    platform = api.getSystemInfoSync().uniPlatform || "";
  } catch (_) {
  }
  const p = PROVIDERS[platform];
  return mpAdapter("uni", api, {
    provider: p && p[0],
    login: p ? (a) => codeLogin(a, "login", { provider: p[1] }) : void 0,
    pay: (a, params) => call(a, "requestPayment", Object.assign({ provider: platform == "mp-alipay" ? "alipay" : "wxpay" }, params)).promise
  });
}

// src/adapters/web.ts
var g = typeof globalThis != "undefined" ? globalThis : typeof self != "undefined" ? self : {};
function headersOf(h) {
  const out = {};
  if (h && typeof h.forEach == "function") h.forEach((v, k) => out[k] = v);
  return out;
}
function fetchTask(doFetch, url, init2, timeout) {
  const ctl = typeof AbortController != "undefined" ? new AbortController() : void 0;
  let aborted = false;
  let timer;
  if (ctl) init2.signal = ctl.signal;
  const promise = new Promise((resolve, reject) => {
    if (timeout > 0 && ctl) timer = setTimeout(() => ctl.abort(), timeout);
    doFetch(url, init2).then(
      resolve,
      (e) => reject(new PlatformError(aborted ? "request:fail abort" : timer && ctl && ctl.signal.aborted ? "request:fail timeout" : "request:fail " + (e && e.message || e), aborted))
    );
  }).then(
    (r) => {
      clearTimeout(timer);
      return r;
    },
    (e) => {
      clearTimeout(timer);
      throw e;
    }
  );
  return {
    promise,
    abort() {
      aborted = true;
      if (ctl) ctl.abort();
    }
  };
}
function readResponse(r) {
  return r.text().then((t) => ({ status: r.status, headers: headersOf(r.headers), body: parseBody(t) }));
}
function memoryStorage() {
  const m = {};
  return {
    get: (k) => m[k],
    set: (k, v) => {
      m[k] = v;
    },
    remove: (k) => {
      delete m[k];
    }
  };
}
function localStorageOr() {
  try {
    const ls = g.localStorage;
    const probe = "__mb";
    ls.setItem(probe, "1");
    ls.removeItem(probe);
    return {
      get: (k) => ls.getItem(k) || void 0,
      set: (k, v) => ls.setItem(k, v),
      remove: (k) => ls.removeItem(k)
    };
  } catch (_) {
    return memoryStorage();
  }
}
function openSocket(Ctor, url, on) {
  if (!Ctor) {
    setTimeout(() => on.close(1006, "no WebSocket: pass init({WebSocket})"));
    return { send() {
    }, close() {
    } };
  }
  const ws = new Ctor(url);
  let closed = false;
  ws.onopen = () => on.open();
  ws.onmessage = (e) => on.message(typeof e.data == "string" ? e.data : String(e.data));
  ws.onclose = (e) => {
    if (closed) return;
    closed = true;
    on.close(e.code || 1006, e.reason || "");
  };
  ws.onerror = (e) => on.error(e && e.message || "socket error");
  return {
    send(d) {
      if (ws.readyState === 1) ws.send(d);
    },
    close(code, reason) {
      try {
        ws.close(code || 1e3, reason);
      } catch (_) {
        ws.close();
      }
    }
  };
}
function webAdapter(name, o, upload, download, storage) {
  const doFetch = o.fetch || g.fetch && g.fetch.bind(g);
  return {
    name,
    socketTokenInQuery: true,
    request(req) {
      const t = fetchTask(doFetch, req.url, { method: req.method, headers: req.headers, body: req.body }, req.timeout);
      return { promise: t.promise.then(readResponse), abort: t.abort };
    },
    upload: (req) => upload(req, doFetch),
    download,
    socket: (url, _headers, on) => openSocket(o.WebSocket || g.WebSocket, url, on),
    storage,
    onShow(cb) {
      if (g.document && g.addEventListener) {
        g.document.addEventListener("visibilitychange", () => g.document.visibilityState == "visible" && cb());
        g.addEventListener("online", cb);
      }
    },
    onHide(cb) {
      if (g.document) g.document.addEventListener("visibilitychange", () => g.document.visibilityState == "hidden" && cb());
    }
  };
}
function progressOf(loaded, total) {
  return {
    progress: total ? Math.round(loaded / total * 100) : 0,
    totalBytesSent: loaded,
    totalBytesExpectedToSend: total,
    loaded,
    total
  };
}
function browserAdapter(o = {}) {
  const doFetch = o.fetch || g.fetch && g.fetch.bind(g);
  return webAdapter(
    "browser",
    o,
    (req) => {
      const xhr = new g.XMLHttpRequest();
      let aborted = false;
      const promise = new Promise((resolve, reject) => {
        const fd = new g.FormData();
        for (const k in req.formData) fd.append(k, req.formData[k]);
        fd.append(req.name, req.filePath);
        xhr.open("POST", req.url);
        for (const k in req.headers) xhr.setRequestHeader(k, req.headers[k]);
        if (req.timeout) xhr.timeout = req.timeout;
        xhr.upload.onprogress = (e) => req.onProgress(progressOf(e.loaded, e.total));
        xhr.onload = () => resolve({ status: xhr.status, headers: { "x-request-id": xhr.getResponseHeader("x-request-id") || "" }, body: parseBody(xhr.responseText) });
        xhr.onerror = () => reject(new PlatformError("uploadFile:fail network error"));
        xhr.ontimeout = () => reject(new PlatformError("uploadFile:fail timeout"));
        xhr.onabort = () => reject(new PlatformError("uploadFile:fail abort", true));
        xhr.send(fd);
      });
      return {
        promise,
        abort() {
          if (!aborted) {
            aborted = true;
            xhr.abort();
          }
        }
      };
    },
    (url, headers) => {
      const t = fetchTask(doFetch, url, { headers }, 0);
      return {
        promise: t.promise.then(
          (r) => r.blob().then((b) => ({ statusCode: r.status, tempFilePath: g.URL.createObjectURL(b) }))
        ),
        abort: t.abort
      };
    },
    o.storage || localStorageOr()
  );
}
function nodeAdapter(o = {}) {
  const doFetch = o.fetch || g.fetch && g.fetch.bind(g);
  return webAdapter(
    "node",
    o,
    (req, f) => {
      let inner;
      let aborted = false;
      const promise = bytesOf(req.filePath).then((bytes) => {
        if (aborted) throw new PlatformError("uploadFile:fail abort", true);
        const boundary = "----minibase" + Math.random().toString(16).slice(2);
        const enc2 = new TextEncoder();
        let head = "";
        for (const k in req.formData) {
          head += "--" + boundary + '\r\nContent-Disposition: form-data; name="' + k + '"\r\n\r\n' + req.formData[k] + "\r\n";
        }
        const fname = typeof req.filePath == "string" ? req.filePath.split(/[\\/]/).pop() : "file";
        head += "--" + boundary + '\r\nContent-Disposition: form-data; name="' + req.name + '"; filename="' + fname + '"\r\nContent-Type: application/octet-stream\r\n\r\n';
        const parts = [enc2.encode(head), bytes, enc2.encode("\r\n--" + boundary + "--\r\n")];
        const total = parts[0].length + bytes.length + parts[2].length;
        let sent = 0;
        let i = 0;
        let off = 0;
        const CHUNK = 256 * 1024;
        const body = new g.ReadableStream({
          pull(ctl) {
            while (i < parts.length && off >= parts[i].length) {
              i++;
              off = 0;
            }
            if (i >= parts.length) {
              ctl.close();
              return;
            }
            const c = parts[i].subarray(off, off + CHUNK);
            off += c.length;
            sent += c.length;
            ctl.enqueue(c);
            req.onProgress(progressOf(sent, total));
          }
        });
        const headers = {};
        for (const k in req.headers) headers[k] = req.headers[k];
        headers["content-type"] = "multipart/form-data; boundary=" + boundary;
        headers["content-length"] = String(total);
        inner = fetchTask(f, req.url, { method: "POST", headers, body, duplex: "half" }, req.timeout);
        return inner.promise.then(readResponse);
      });
      return {
        promise,
        abort() {
          aborted = true;
          if (inner) inner.abort();
        }
      };
    },
    (url, headers) => {
      const t = fetchTask(doFetch, url, { headers }, 0);
      return {
        promise: t.promise.then((r) => r.arrayBuffer().then((b) => ({ statusCode: r.status, data: new Uint8Array(b) }))),
        abort: t.abort
      };
    },
    o.storage || memoryStorage()
  );
}
function bytesOf(f) {
  if (f instanceof Uint8Array) return Promise.resolve(f);
  if (f && typeof f.arrayBuffer == "function") return f.arrayBuffer().then((b) => new Uint8Array(b));
  if (typeof f == "string") {
    const p = g.process;
    const fs = p && p.getBuiltinModule && p.getBuiltinModule("fs");
    if (!fs) return Promise.reject(new PlatformError("uploadFile:fail cannot read files here: pass a Blob or Uint8Array"));
    return new Promise(
      (resolve, reject) => fs.readFile(f, (e, b) => e ? reject(new PlatformError("uploadFile:fail " + e.message)) : resolve(b))
    );
  }
  return Promise.reject(new PlatformError("uploadFile:fail filePath must be a path, a Blob or a Uint8Array"));
}

// src/adapters/wx.ts
function wxAdapter(api = typeof wx != "undefined" ? wx : void 0) {
  return mpAdapter("wx", api, { provider: "wechat", login: codeLogin, pay: requestPayment });
}

// src/adapters/detect.ts
var has = (x) => {
  try {
    const v = x();
    return !!v && typeof v.request == "function";
  } catch (_) {
    return false;
  }
};
var ADAPTERS = {
  wx: () => wxAdapter(),
  qq: () => qqAdapter(),
  tt: () => ttAdapter(),
  my: () => myAdapter(),
  swan: () => swanAdapter(),
  uni: () => uniAdapter(),
  browser: browserAdapter,
  node: nodeAdapter
};
function detectPlatform() {
  if (has(() => uni)) return "uni";
  if (has(() => qq)) return "qq";
  if (has(() => tt)) return "tt";
  if (has(() => swan)) return "swan";
  if (has(() => my)) return "my";
  if (has(() => wx)) return "wx";
  try {
    if (typeof window != "undefined" && window.document) return "browser";
  } catch (_) {
  }
  try {
    if (process.versions.node) return "node";
  } catch (_) {
  }
  return void 0;
}

// src/adapters/taro.ts
var PROVIDERS2 = {
  WEAPP: "wechat",
  QQ: "qq",
  TT: "douyin",
  ALIPAY: "alipay",
  SWAN: "baidu"
};
function taroAdapter(api) {
  let env = "";
  try {
    env = String(api.getEnv());
  } catch (_) {
  }
  const provider = PROVIDERS2[env];
  return mpAdapter("taro", api, {
    provider,
    login: provider ? codeLogin : void 0,
    pay: requestPayment
  });
}

// src/core/errors.ts
var MinibaseError = class extends Error {
  constructor(op, code, message, errCode = -1) {
    const errMsg = op + ":fail " + code + ": " + message;
    super(errMsg);
    this.name = "MinibaseError";
    this.errCode = errCode;
    this.errMsg = errMsg;
    this.code = code;
  }
};
function header(h, name) {
  for (const k in h) if (k.toLowerCase() == name) return h[k];
  return void 0;
}
function requestIdOf(res) {
  return header(res.headers, "x-request-id");
}
function retryAfterMs(res) {
  const s = Number(header(res.headers, "retry-after"));
  return s > 0 ? s * 1e3 : 0;
}
function apiError(op, res) {
  const b = res.body;
  const env = b && typeof b == "object" && b.error && typeof b.error == "object" ? b.error : void 0;
  const e = new MinibaseError(
    op,
    env && env.code ? String(env.code) : "HTTP_" + res.status,
    env && env.message ? String(env.message) : typeof b == "string" && b ? b.slice(0, 200) : "HTTP " + res.status,
    res.status
  );
  e.statusCode = res.status;
  e.requestId = env && env.request_id || requestIdOf(res);
  if (b && b.upstream) e.upstream = b.upstream;
  else if (env && env.upstream) e.upstream = env.upstream;
  return e;
}
function platformError(op, e) {
  if (e instanceof MinibaseError) return e;
  const p = e;
  const msg = p && (p.errMsg || p.message) || String(e);
  const code = p && p.aborted ? "ABORTED" : /cancel/i.test(msg) ? "CANCELLED" : "NETWORK_ERROR";
  return new MinibaseError(op, code, msg);
}
function invalid(op, message) {
  return new MinibaseError(op, "INVALID_ARGUMENT", message);
}

// src/db/command.ts
var Command = class _Command {
  constructor(op, args) {
    this.op = op;
    this.args = args;
  }
  /** `_.gt(1).and(_.lt(5))` */
  and(...c) {
    return new _Command("and", [this].concat(flat(c)));
  }
  /** `_.eq(1).or(_.eq(2))` */
  or(...c) {
    return new _Command("or", [this].concat(flat(c)));
  }
};
var ServerDate = class {
  constructor(offset = 0) {
    this.offset = offset;
  }
};
var DbRegExp = class {
  constructor(regexp, options = "") {
    this.regexp = regexp;
    this.options = options;
  }
};
var Geo = class {
  constructor(type, coordinates) {
    this.type = type;
    this.coordinates = coordinates;
  }
  toJSON() {
    return { type: this.type, coordinates: this.coordinates };
  }
};
function checkPoint(p) {
  const c = p instanceof Geo ? p.coordinates : p;
  if (!Array.isArray(c) || c.length != 2 || typeof c[0] != "number" || typeof c[1] != "number" || Math.abs(c[0]) > 180 || Math.abs(c[1]) > 90) {
    throw new TypeError("a point is [longitude -180..180, latitude -90..90]");
  }
  return c;
}
var coords = (list, f) => {
  if (!Array.isArray(list)) throw new TypeError("expected an array");
  return list.map((x) => x instanceof Geo ? x.coordinates : f(x));
};
var GeoNS = {
  Point: function(longitude, latitude) {
    return new Geo("Point", checkPoint([longitude, latitude]));
  },
  LineString: function(points) {
    return new Geo("LineString", coords(points, checkPoint));
  },
  Polygon: function(lines) {
    return new Geo("Polygon", coords(lines, (l) => coords(l, checkPoint)));
  },
  MultiPoint: function(points) {
    return new Geo("MultiPoint", coords(points, checkPoint));
  },
  MultiLineString: function(lines) {
    return new Geo("MultiLineString", coords(lines, (l) => coords(l, checkPoint)));
  },
  MultiPolygon: function(polygons) {
    return new Geo("MultiPolygon", coords(polygons, (p) => coords(p, (l) => coords(l, checkPoint))));
  }
};
function flat(a) {
  return a.length == 1 && Array.isArray(a[0]) ? a[0] : a;
}
var cmd = (op) => (v) => new Command(op, [v]);
var logic = (op) => (...c) => new Command(op, flat(c));
var command = {
  // comparison
  eq: cmd("eq"),
  neq: cmd("neq"),
  lt: cmd("lt"),
  lte: cmd("lte"),
  gt: cmd("gt"),
  gte: cmd("gte"),
  in: cmd("in"),
  nin: cmd("nin"),
  // fields and arrays
  exists: cmd("exists"),
  size: cmd("size"),
  mod: (divisor, remainder) => new Command("mod", [Array.isArray(divisor) ? divisor : [divisor, remainder]]),
  all: cmd("all"),
  elemMatch: cmd("elemMatch"),
  // logic
  and: logic("and"),
  or: logic("or"),
  nor: logic("nor"),
  not: cmd("not"),
  expr: cmd("expr"),
  // geo
  geoNear: cmd("geoNear"),
  geoWithin: cmd("geoWithin"),
  geoIntersects: cmd("geoIntersects"),
  // updates
  set: cmd("set"),
  remove: () => new Command("remove", []),
  inc: cmd("inc"),
  mul: cmd("mul"),
  min: cmd("min"),
  max: cmd("max"),
  rename: cmd("rename"),
  push: (...v) => new Command("push", v),
  pop: () => new Command("pop", [1]),
  shift: () => new Command("shift", []),
  unshift: (...v) => new Command("unshift", v),
  addToSet: cmd("addToSet"),
  pull: cmd("pull"),
  pullAll: cmd("pullAll"),
  /** `db.command.aggregate` (`$`): aggregation expression operators, see aggregate.ts. */
  aggregate: {}
};
function plain(v) {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}
function encode(v) {
  if (v === null || typeof v != "object") return v;
  if (v instanceof Command) return encodeCommand(v);
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof ServerDate) return { $serverDate: { offset: v.offset } };
  if (v instanceof RegExp) return { $regex: v.source, $options: v.flags.replace(/[^imsx]/g, "") };
  if (v instanceof DbRegExp) return { $regex: v.regexp, $options: v.options };
  if (v instanceof Geo) return v.toJSON();
  if (Array.isArray(v)) return v.map(encode);
  if (!plain(v) && typeof v.toJSON == "function") return encode(v.toJSON());
  const out = {};
  for (const k in v) if (v[k] !== void 0) out[k] = encode(v[k]);
  return out;
}
var geometry = encode;
function encodeCommand(c) {
  const a = c.args;
  const v = a[0];
  switch (c.op) {
    case "and":
    case "or":
    case "nor":
      return { ["$" + c.op]: a.map(encode) };
    case "mod":
      return { $mod: v };
    case "geoNear": {
      const o = { $geometry: geometry(v.geometry) };
      if (v.maxDistance !== void 0) o.$maxDistance = v.maxDistance;
      if (v.minDistance !== void 0) o.$minDistance = v.minDistance;
      return { $geoNear: o };
    }
    case "geoWithin":
      return { $geoWithin: v.centerSphere ? { $centerSphere: [v.centerSphere[0] instanceof Geo ? v.centerSphere[0].coordinates : v.centerSphere[0], v.centerSphere[1]] } : { $geometry: geometry(v.geometry) } };
    case "geoIntersects":
      return { $geoIntersects: { $geometry: geometry(v.geometry) } };
    case "remove":
      return { $remove: true };
    case "shift":
      return { $shift: true };
    case "push": {
      if (a.length == 1 && v && typeof v == "object" && !Array.isArray(v) && Array.isArray(v.each)) {
        const o = { each: encode(v.each) };
        for (const k of ["position", "sort", "slice"]) if (v[k] !== void 0) o[k] = v[k];
        return { $push: o };
      }
      return { $push: encode(a.length == 1 && Array.isArray(v) ? v : a) };
    }
    case "unshift":
      return { $unshift: encode(a.length == 1 && Array.isArray(v) ? v : a) };
    case "addToSet":
      return { $addToSet: { each: encode(v && typeof v == "object" && Array.isArray(v.each) ? v.each : [v]) } };
    default:
      return { ["$" + c.op]: encode(v) };
  }
}

// src/core/callback.ts
function settle(p, o) {
  const c = o;
  if (c && typeof c == "object" && (c.success || c.fail || c.complete)) {
    p.then(
      (r) => {
        if (c.success) c.success(r);
        if (c.complete) c.complete(r);
      },
      (e) => {
        if (c.fail) c.fail(e);
        if (c.complete) c.complete(e);
      }
    );
  }
  return p;
}
var sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// src/core/realtime.ts
var Watcher = class {
  constructor(id, msg, h, rt) {
    this.id = id;
    this.msg = msg;
    this.h = h;
    this.rt = rt;
    /** Event number of the last snapshot delivered. */
    this.eventId = 0;
    this.last = null;
    this.closed = false;
  }
  /** Stops the watch (sends `unwatch`; the last watcher closes the connection). */
  close() {
    if (!this.closed) this.rt.drop(this, true);
    return Promise.resolve();
  }
};
var Realtime = class {
  constructor(http, auth, adapter, o = {}) {
    this.http = http;
    this.auth = auth;
    this.adapter = adapter;
    this.state = 0;
    // closed, connecting, open
    this.watchers = {};
    this.n = 0;
    this.seq = 0;
    this.attempt = 0;
    // a token the server refused
    this.check = false;
    /** Connections opened (for tests and diagnostics). */
    this.opened = 0;
    this.o = {
      pingInterval: o.pingInterval || 3e4,
      pongTimeout: o.pongTimeout || 1e4,
      reconnectBase: o.reconnectBase || 500,
      reconnectMax: o.reconnectMax || 3e4
    };
    if (adapter.onShow) adapter.onShow(() => this.wake());
  }
  watch(msg, h) {
    const id = "w" + ++this.seq;
    msg.type = "watch";
    msg.id = id;
    const w = new Watcher(id, msg, h, this);
    this.watchers[id] = w;
    this.n++;
    if (this.state == 2) this.send(msg);
    else this.connect();
    return w;
  }
  /** Forgets a watcher; `unwatch` tells the server when it still follows it. */
  drop(w, unwatch) {
    w.closed = true;
    if (!this.watchers[w.id]) return;
    delete this.watchers[w.id];
    this.n--;
    if (unwatch && this.state == 2) this.send({ type: "unwatch", id: w.id });
    if (this.n == 0) this.shut();
  }
  /** Back in the foreground: reconnect now, or check that the open link still answers. */
  wake() {
    if (this.n == 0) return;
    if (this.state == 0) {
      clearTimeout(this.retryTimer);
      this.retryTimer = void 0;
      this.attempt = 0;
      this.connect();
    } else if (this.state == 2) this.ping();
  }
  shut() {
    clearTimeout(this.retryTimer);
    this.retryTimer = void 0;
    this.stopTimers();
    const ws = this.ws;
    this.ws = void 0;
    this.state = 0;
    if (ws) ws.close(1e3, "no more watches");
  }
  async connect() {
    if (this.state != 0 || this.retryTimer || this.n == 0) return;
    this.state = 1;
    let token;
    try {
      if (this.stale) token = await this.auth.renew(this.stale, "watch");
      else if (this.check && this.auth.currentUser) {
        await this.auth.getUser();
        token = await this.auth.token("watch");
      } else token = await this.auth.token("watch");
      this.stale = void 0;
      this.check = false;
    } catch (e) {
      this.state = 0;
      if (e instanceof MinibaseError && e.errCode == 401) return this.fail(e);
      return this.retry();
    }
    if (this.n == 0) {
      this.state = 0;
      return;
    }
    this.token = token;
    let url = this.http.base.replace(/^http/, "ws") + "/api/realtime";
    const headers = {};
    if (token) {
      if (this.adapter.socketTokenInQuery) url += "?access_token=" + encodeURIComponent(token);
      else headers.authorization = "Bearer " + token;
    }
    let open = false;
    const ws = this.adapter.socket(url, headers, {
      open: () => {
        if (this.ws != ws) return;
        open = true;
        this.opened++;
        this.state = 2;
        for (const id in this.watchers) this.send(this.watchers[id].msg);
        this.pingTimer = setInterval(() => this.ping(), this.o.pingInterval);
      },
      message: (data) => {
        if (this.ws == ws) this.onMessage(data);
      },
      close: () => {
        if (this.ws != ws) return;
        this.ws = void 0;
        this.state = 0;
        this.stopTimers();
        if (!open) this.check = true;
        this.retry();
      },
      error: () => {
      }
    });
    this.ws = ws;
  }
  retry() {
    if (this.n == 0 || this.retryTimer) return;
    const d = Math.min(this.o.reconnectMax, this.o.reconnectBase * Math.pow(2, this.attempt++));
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = void 0;
        this.connect();
      },
      d * (0.5 + Math.random() / 2)
    );
  }
  /** Every watcher ends with `e` (signed out for good). */
  fail(e) {
    for (const id in this.watchers) {
      const w = this.watchers[id];
      this.drop(w, false);
      if (w.h.onError) w.h.onError(e);
    }
  }
  ping() {
    this.send({ type: "ping" });
    if (!this.deadTimer) {
      this.deadTimer = setTimeout(() => {
        const ws = this.ws;
        this.deadTimer = void 0;
        if (!ws) return;
        this.ws = void 0;
        this.state = 0;
        this.stopTimers();
        ws.close(4e3, "no pong");
        this.retry();
      }, this.o.pongTimeout);
    }
  }
  stopTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    this.pingTimer = this.deadTimer = void 0;
  }
  send(m) {
    if (this.ws) this.ws.send(JSON.stringify(m));
  }
  onMessage(data) {
    clearTimeout(this.deadTimer);
    this.deadTimer = void 0;
    let m;
    try {
      m = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (m.type == "snapshot") {
      const w = this.watchers[m.id];
      if (w) {
        this.attempt = 0;
        this.deliver(w, m);
      }
    } else if (m.type == "error") {
      const err = new MinibaseError("watch", m.error.code, m.error.message);
      if (m.id) {
        const w = this.watchers[m.id];
        if (w) {
          this.drop(w, false);
          if (w.h.onError) w.h.onError(err);
        }
      } else if (m.error.code == "UNAUTHENTICATED") this.stale = this.token;
    }
  }
  deliver(w, m) {
    const docs = decode(m.docs);
    let changes;
    let type;
    if (m.snapshotType == "init" && w.last) {
      changes = diff(w.last, docs);
      if (!changes.length) {
        w.last = docs;
        return;
      }
    } else {
      changes = decode(m.docChanges);
      if (m.snapshotType == "init") type = "init";
    }
    w.last = docs;
    const id = ++w.eventId;
    for (const c of changes) c.id = id;
    const snap = { id, docs, docChanges: changes };
    if (type) snap.type = type;
    try {
      w.h.onChange(snap);
    } catch (e) {
      setTimeout(() => {
        throw e;
      });
    }
  }
};
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v == "object") {
    const keys = Object.keys(v);
    if (keys.length == 1 && keys[0] == "$date" && typeof v.$date == "number") return new Date(v.$date);
    const out = {};
    for (const k of keys) out[k] = decode(v[k]);
    return out;
  }
  return v;
}
function same(a, b) {
  return JSON.stringify(a) == JSON.stringify(b);
}
function diff(before, after) {
  const old = {};
  const now = {};
  const out = [];
  for (const d of before) old[d._id] = d;
  for (const d of after) now[d._id] = d;
  for (const d of before) {
    if (!now[d._id]) out.push({ id: 0, dataType: "remove", queueType: "dequeue", docId: d._id, doc: d });
  }
  for (const d of after) {
    const o = old[d._id];
    if (!o) out.push({ id: 0, dataType: "add", queueType: "enqueue", docId: d._id, doc: d });
    else if (!same(o, d)) {
      const updatedFields = {};
      const removedFields = [];
      for (const k in d) if (!same(o[k], d[k])) updatedFields[k] = d[k];
      for (const k in o) if (!(k in d)) removedFields.push(k);
      out.push({ id: 0, dataType: "update", queueType: "update", docId: d._id, doc: d, updatedFields, removedFields });
    }
  }
  return out;
}

// src/db/aggregate.ts
var OPS = "abs add addToSet allElementsTrue and anyElementTrue arrayElemAt arrayToObject avg ceil cmp concat concatArrays cond dateFromParts dateFromString dateToParts dateToString dayOfMonth dayOfWeek dayOfYear divide eq exp filter first floor gt gte hour ifNull in indexOfArray indexOfBytes indexOfCP isArray isoDayOfWeek isoWeek isoWeekYear last let literal ln log log10 lt lte ltrim map max mergeObjects meta millisecond min minute mod month multiply neq not objectToArray or pow push range reduce reverseArray rtrim second setDifference setEquals setIntersection setIsSubset setUnion size slice split sqrt stdDevPop stdDevSamp strLenBytes strLenCP strcasecmp substr substrBytes substrCP subtract sum switch toBool toDate toDecimal toDouble toInt toLong toLower toObjectId toString toUpper trim trunc type week year zip".split(" ");
for (const op of OPS) {
  command.aggregate[op] = (...a) => ({ [op == "neq" ? "$ne" : "$" + op]: encode(a.length == 1 ? a[0] : a) });
}
var Pipeline = class _Pipeline {
  constructor() {
    this.stages = [];
  }
  add(stage, v) {
    this.stages.push({ ["$" + stage]: v });
    return this;
  }
  addFields(o) {
    return this.add("addFields", encode(o));
  }
  bucket(o) {
    return this.add("bucket", encode(o));
  }
  bucketAuto(o) {
    return this.add("bucketAuto", encode(o));
  }
  count(field) {
    return this.add("count", field);
  }
  geoNear(o) {
    const v = encode(o);
    if (o.near instanceof Geo) v.near = o.near.toJSON();
    return this.add("geoNear", v);
  }
  group(o) {
    return this.add("group", encode(o));
  }
  limit(n) {
    return this.add("limit", n);
  }
  /** `{from, localField, foreignField, as}`, or `{from, let, pipeline: db.pipeline()….done(), as}`. */
  lookup(o) {
    const v = encode(o);
    if (o.pipeline instanceof _Pipeline) v.pipeline = o.pipeline.stages;
    return this.add("lookup", v);
  }
  match(q) {
    return this.add("match", encode(q));
  }
  project(o) {
    return this.add("project", encode(o));
  }
  replaceRoot(o) {
    return this.add("replaceRoot", encode(o));
  }
  sample(o) {
    return this.add("sample", o);
  }
  skip(n) {
    return this.add("skip", n);
  }
  sort(o) {
    return this.add("sort", o);
  }
  sortByCount(e) {
    return this.add("sortByCount", encode(e));
  }
  unwind(o) {
    return this.add("unwind", o);
  }
  /** Ends a sub-pipeline (`db.pipeline()…done()`, for `lookup`). */
  done() {
    return this.stages;
  }
};

// src/db/database.ts
var enc = encodeURIComponent;
var Database = class {
  constructor(http, rt) {
    this.http = http;
    this.rt = rt;
    /** `db.command` (`const _ = db.command`). */
    this.command = command;
    /** `db.Geo.Point(lng, lat)`… */
    this.Geo = GeoNS;
  }
  collection(name) {
    return new CollectionReference(this, name, {});
  }
  /** The server's time when the write happens (plus `offset` ms). */
  serverDate(o = {}) {
    return new ServerDate(o.offset || 0);
  }
  /** A regular expression condition: `db.RegExp({regexp: '^wx', options: 'i'})`. */
  RegExp(o) {
    return new DbRegExp(o.regexp, o.options || "");
  }
  /** A sub-pipeline for `lookup({from, let, pipeline, as})`: `db.pipeline().match(…).done()`. */
  pipeline() {
    return new Pipeline();
  }
};
var Query = class _Query {
  constructor(db, name, q) {
    this.db = db;
    this.name = name;
    this.q = q;
  }
  next(patch) {
    return new _Query(this.db, this.name, Object.assign({}, this.q, patch));
  }
  /** @internal */
  path(rest) {
    return "/api/db/" + enc(this.name) + rest;
  }
  /** Conditions: fields and `db.command` operators; replaces earlier conditions. */
  where(cond) {
    if (!cond || typeof cond != "object" || Array.isArray(cond)) throw invalid("collection.where", "where takes an object");
    return this.next({ where: encode(cond) });
  }
  orderBy(field, order = "asc") {
    if (order != "asc" && order != "desc") throw invalid("collection.orderBy", "order is 'asc' or 'desc'");
    return this.next({ orderBy: (this.q.orderBy || []).concat([[field, order]]) });
  }
  skip(n) {
    return this.next({ skip: n });
  }
  limit(n) {
    return this.next({ limit: n });
  }
  /** Projection: `{title: true}` (only those) or `{content: false}` (all but those). */
  field(f) {
    const out = {};
    for (const k in f) out[k] = !!f[k];
    return this.next({ field: out });
  }
  /** The matching documents (at most `limit`, 20 when none is given). */
  get(o) {
    const body = {};
    const q = this.q;
    if (q.where) body.where = q.where;
    if (q.orderBy) body.orderBy = q.orderBy;
    if (q.skip !== void 0) body.skip = q.skip;
    if (q.limit !== void 0) body.limit = q.limit;
    if (q.field) body.field = q.field;
    return settle(
      this.db.http.call("collection.get", "POST", this.path("/query"), body, { read: true }).then((r) => ({ data: decode(r.data), errMsg: "collection.get:ok" })),
      o
    );
  }
  count(o) {
    return settle(
      this.db.http.call("collection.count", "POST", this.path("/count"), { where: this.q.where || {} }, { read: true }).then((r) => ({ total: r.total, errMsg: "collection.count:ok" })),
      o
    );
  }
  /** Updates every matching document the rules let you (`stats.updated` says how many). */
  update(o) {
    return settle(
      this.db.http.call("collection.update", "POST", this.path("/update"), { where: this.q.where || {}, data: encode(o && o.data) }).then((r) => ({ stats: { updated: r.updated }, errMsg: "collection.update:ok" })),
      o
    );
  }
  /** Removes every matching document the rules let you. */
  remove(o) {
    return settle(
      this.db.http.call("collection.remove", "POST", this.path("/remove"), { where: this.q.where || {} }).then((r) => ({ stats: { removed: r.deleted }, errMsg: "collection.remove:ok" })),
      o
    );
  }
  /** Follows the query live: `onChange(snapshot)` with the whole result and what changed. */
  watch(h) {
    const q = this.q;
    if (q.skip) throw invalid("collection.watch", "skip is not supported by watch");
    if (q.field) throw invalid("collection.watch", "field is not supported by watch");
    const msg = { collection: this.name };
    if (q.where) msg.where = q.where;
    if (q.orderBy) msg.orderBy = q.orderBy;
    if (q.limit !== void 0) msg.limit = q.limit;
    if (!h || typeof h.onChange != "function") throw invalid("collection.watch", "watch needs {onChange}");
    return this.db.rt.watch(msg, h);
  }
};
var CollectionReference = class extends Query {
  /** Creates a document (`_id` optional); answers its `_id`. Never re-sent after a network
   * failure: see "Retries" in docs/sdk.md. */
  add(o) {
    return settle(
      this.db.http.call("collection.add", "POST", this.path("/docs"), encode(o && o.data)).then((r) => ({ _id: r._id, errMsg: "collection.add:ok" })),
      o
    );
  }
  doc(id) {
    return new DocumentReference(this, String(id));
  }
  aggregate() {
    return new Aggregate(this);
  }
};
var DocumentReference = class _DocumentReference {
  constructor(coll, id) {
    this.coll = coll;
    this.id = id;
  }
  path() {
    return this.coll.path("/docs/" + enc(this.id));
  }
  get http() {
    return this.coll.db.http;
  }
  /** Projection for `get()`. */
  field(f) {
    const d = new _DocumentReference(this.coll, this.id);
    d.fields = {};
    for (const k in f) d.fields[k] = !!f[k];
    return d;
  }
  /** The document; fails with `NOT_FOUND` when it does not exist (or the rules hide it). */
  get(o) {
    const op = "document.get";
    const p = this.fields ? this.coll.where({ _id: this.id }).field(this.fields).limit(1).get().then((r) => {
      if (!r.data.length) throw notFound(op, this.id);
      return r.data[0];
    }) : this.http.call(op, "GET", this.path(), void 0, { read: true }).then((r) => decode(r.data));
    return settle(
      p.then((data) => ({ data, errMsg: op + ":ok" })),
      o
    );
  }
  /** Replaces the document, or creates it with this `_id`. */
  set(o) {
    const data = encode(o && o.data);
    if (data) delete data._id;
    return settle(
      this.http.call("document.set", "PUT", this.path(), data).then((r) => ({
        _id: r._id,
        stats: { updated: r.created ? 0 : 1, created: r.created ? 1 : 0 },
        errMsg: "document.set:ok"
      })),
      o
    );
  }
  /** Updates fields (plain values merge; `db.command` operators apply). */
  update(o) {
    return settle(
      this.http.call("document.update", "PATCH", this.path(), { data: encode(o && o.data) }).then((r) => ({ stats: { updated: r.updated }, errMsg: "document.update:ok" })),
      o
    );
  }
  remove(o) {
    return settle(
      this.http.call("document.remove", "DELETE", this.path()).then((r) => ({ stats: { removed: r.deleted }, errMsg: "document.remove:ok" })),
      o
    );
  }
  /** Follows this one document. */
  watch(h) {
    return this.coll.where({ _id: this.id }).watch(h);
  }
};
function notFound(op, id) {
  const e = invalid(op, "document " + id + " does not exist");
  e.code = "NOT_FOUND";
  e.errCode = 404;
  e.errMsg = e.message = op + ":fail NOT_FOUND: document " + id + " does not exist";
  return e;
}
var Aggregate = class extends Pipeline {
  constructor(coll) {
    super();
    this.coll = coll;
  }
  /** Runs the pipeline: `{list}` as wx.cloud answers. */
  end(o) {
    const http = this.coll.db.http;
    return settle(
      http.call("collection.aggregate", "POST", this.coll.path("/aggregate"), { pipeline: this.stages }, { read: true }).then((r) => ({ list: decode(r.data), errMsg: "collection.aggregate:ok" })),
      o
    );
  }
};

// src/core/http.ts
var Http = class {
  constructor(base, adapter, timeout) {
    this.base = base;
    this.adapter = adapter;
    this.timeout = timeout;
  }
  headers(token) {
    const h = {};
    if (token) h.authorization = "Bearer " + token;
    return h;
  }
  send(method, path, body, token) {
    const headers = this.headers(token);
    let text;
    if (body !== void 0) {
      headers["content-type"] = "application/json";
      text = JSON.stringify(body);
    }
    return this.adapter.request({ url: this.base + path, method, headers, body: text, timeout: this.timeout }).promise;
  }
  /** Sends with the retry policy above; resolves to the parsed body of a 2xx answer. */
  async call(op, method, path, body, o = {}) {
    const res = await this.exchange(op, o, (token) => this.send(method, path, body, token));
    return res.body;
  }
  /** The retry loop around any exchange (requests, uploads). */
  async exchange(op, o, go) {
    let token = o.auth === false ? void 0 : await this.auth.token(op);
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await go(token);
      } catch (e) {
        const err = platformError(op, e);
        if (o.read && err.code == "NETWORK_ERROR" && attempt < 2) {
          await sleep(300 * (attempt + 1));
          continue;
        }
        throw err;
      }
      if (res.status == 401 && token && !renewed && this.auth.canRenew()) {
        renewed = true;
        token = await this.auth.renew(token, op);
        continue;
      }
      if ((res.status == 429 || o.read && res.status == 503) && attempt < 2) {
        await sleep(Math.min(5e3, retryAfterMs(res) || 300 * (attempt + 1)));
        continue;
      }
      if (res.status >= 300 || res.status < 200) throw apiError(op, res);
      return res;
    }
  }
};
function isUnauthenticated(e) {
  return e instanceof MinibaseError && (e.code == "UNAUTHENTICATED" || e.errCode == 401);
}

// src/core/auth.ts
var Auth = class {
  constructor(http, adapter, o) {
    this.http = http;
    this.adapter = adapter;
    this.o = o;
    // undefined: not read from storage yet
    this.flight = null;
    this.listeners = [];
    this.key = "minibase:auth:" + http.base;
  }
  load() {
    if (this.session === void 0) {
      this.session = null;
      try {
        const raw = this.adapter.storage.get(this.key);
        const s = raw && JSON.parse(raw);
        if (s && s.access_token && s.refresh_token && s.user) this.session = s;
      } catch (_) {
      }
    }
    return this.session;
  }
  save(s) {
    const before = this.session ? this.session.user : null;
    this.session = s;
    try {
      if (s) this.adapter.storage.set(this.key, JSON.stringify(s));
      else this.adapter.storage.remove(this.key);
    } catch (_) {
    }
    const after = s ? s.user : null;
    if (JSON.stringify(before) != JSON.stringify(after)) this.emit();
  }
  emit() {
    const u = this.currentUser;
    for (const l of this.listeners.slice()) {
      try {
        l(u);
      } catch (_) {
      }
    }
  }
  adopt(a) {
    const ttl = Math.max(1, Number(a.expires_in) || 0) * 1e3;
    this.save({ access_token: a.access_token, refresh_token: a.refresh_token, expires_at: Date.now() + ttl, ttl, user: a.user });
    return a.access_token;
  }
  /** The signed-in user, or null. */
  get currentUser() {
    const s = this.load();
    return s ? s.user : null;
  }
  /** Calls `cb(user | null)` now (asynchronously) and on every sign-in, sign-out and change of
   * the user; returns a function that stops it. */
  onAuthStateChanged(cb) {
    this.listeners.push(cb);
    Promise.resolve().then(() => this.listeners.indexOf(cb) >= 0 && cb(this.currentUser));
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }
  canRenew() {
    return !this.o.serviceKey;
  }
  /** Signs in with the platform's login code (`wx.login`, `my.getAuthCode`…). */
  signIn(opts = {}) {
    return this.single(() => this.doSignIn(opts)).then(() => this.currentUser);
  }
  async doSignIn(opts) {
    const op = "auth.signIn";
    const provider = opts.provider || this.o.provider || this.adapter.provider;
    let code = opts.code;
    if (!code) {
      if (!this.adapter.login) throw new MinibaseError(op, "UNSUPPORTED", "no login code on " + this.adapter.name + ": pass {code}");
      try {
        code = await this.adapter.login();
      } catch (e) {
        throw platformError(op, e);
      }
    }
    if (!provider) throw invalid(op, "no login provider: pass {provider}");
    const a = await this.http.call(op, "POST", "/api/auth/" + provider + "/login", { code }, { auth: false });
    return this.adopt(a);
  }
  /** Development only: signs in as `openid` through `POST /api/auth/dev/login` (the server
   * must run with `auth.dev_login`). */
  signInWithOpenid(openid) {
    return this.single(
      async () => this.adopt(await this.http.call("auth.signInWithOpenid", "POST", "/api/auth/dev/login", { openid }, { auth: false }))
    ).then(() => this.currentUser);
  }
  /** Binds the phone number of a `<button open-type="getPhoneNumber">` event (or `{code}`). */
  async signInWithPhoneNumber(e) {
    const op = "auth.signInWithPhoneNumber";
    const code = e && e.detail && e.detail.code || e && e.code;
    if (!code) throw new MinibaseError(op, "CANCELLED", "no code: the user refused or the button is not getPhoneNumber");
    const r = await this.http.call(op, "POST", "/api/auth/wechat/phone", { code });
    const s = this.load();
    if (s) this.save(Object.assign({}, s, { user: Object.assign({}, s.user, { phone_number: r.phone_number }) }));
    return { phoneNumber: r.phone_number, purePhoneNumber: r.pure_phone_number, countryCode: r.country_code, user: this.currentUser };
  }
  /** Reads the user from the server (`GET /api/auth/me`). */
  async getUser() {
    const r = await this.http.call("auth.getUser", "GET", "/api/auth/me", void 0, { read: true });
    const s = this.load();
    if (s && r.user) this.save(Object.assign({}, s, { user: r.user }));
    return r.user;
  }
  /** Signs out: the server revokes the session; the stored tokens are forgotten. */
  async signOut() {
    const s = this.load();
    this.save(null);
    if (s) {
      try {
        await this.http.call("auth.signOut", "POST", "/api/auth/logout", { refresh_token: s.refresh_token }, { auth: false });
      } catch (_) {
      }
    }
  }
  /** The access token to send, after signing in or refreshing when needed. */
  async token(op) {
    if (this.o.serviceKey) return this.o.serviceKey;
    if (this.flight) return this.flight;
    const s = this.load();
    if (!s) {
      if (this.o.autoSignIn && this.adapter.login) return this.single(() => this.doSignIn({}));
      return void 0;
    }
    if (s.expires_at - Date.now() < Math.min(6e4, s.ttl / 4)) return this.renew(s.access_token, op);
    return s.access_token;
  }
  /** `stale` was refused (or is about to expire): one refresh for everybody waiting. */
  renew(stale, op) {
    const s = this.load();
    if (s && s.access_token != stale) return Promise.resolve(s.access_token);
    return this.single(() => this.refresh(op));
  }
  single(f) {
    if (!this.flight) {
      this.flight = f().then(
        (t) => {
          this.flight = null;
          return t;
        },
        (e) => {
          this.flight = null;
          throw e;
        }
      );
    }
    return this.flight;
  }
  async refresh(op) {
    const s = this.load();
    if (s) {
      try {
        return this.adopt(await this.http.call(op, "POST", "/api/auth/refresh", { refresh_token: s.refresh_token }, { auth: false }));
      } catch (e) {
        if (!isUnauthenticated(e) && !(e instanceof MinibaseError && e.code == "INVALID_ARGUMENT")) throw e;
        this.save(null);
      }
    }
    if (this.adapter.login && this.o.autoSignIn) return this.doSignIn({});
    throw new MinibaseError(op, "UNAUTHENTICATED", "signed out: sign in again", 401);
  }
};

// src/core/app.ts
var MAX_BATCH = 50;
function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 128 ? 1 : c < 2048 ? 2 : c >= 55296 && c < 56320 ? (i++, 4) : 3;
  }
  return n;
}
function cloudPathProblem(p) {
  if (!p) return "must not be empty";
  if (utf8Length(p) > 850) return "longer than 850 bytes";
  if (p[0] == "/" || p[p.length - 1] == "/") return "must not start or end with '/'";
  if (p.indexOf("..") >= 0) return "must not contain '..'";
  if (/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/.test(p)) return "must not contain control or invisible characters";
  if (/[\\`^"{}[\]~%#?<>|]/.test(p)) return 'must not contain \\ ` ^ " { } [ ] ~ % # ? < > |';
  const segs = p.split("/");
  for (const s of segs) {
    if (!s) return "must not contain '//'";
    if (s == ".") return "must not contain a '.' segment";
    if (utf8Length(s) > 255) return "a name between slashes is longer than 255 bytes";
  }
  if (segs[0] == ".minibase") return "the .minibase/ prefix is reserved";
  return void 0;
}
var App = class {
  constructor(adapter, o) {
    this.adapter = adapter;
    this.o = o;
    this.http = new Http(o.url, adapter, o.timeout || 15e3);
    this.auth = new Auth(this.http, adapter, {
      autoSignIn: o.autoSignIn !== false,
      provider: o.provider,
      serviceKey: o.serviceKey
    });
    this.http.auth = this.auth;
    this.realtime = new Realtime(this.http, this.auth, adapter, o.realtime);
  }
  /** The database (one per app). */
  database() {
    return this.db || (this.db = new Database(this.http, this.realtime));
  }
  /** Calls a cloud function: `{result}`. Not re-sent after a network failure. */
  callFunction(o) {
    const op = "cloud.callFunction";
    const p = (async () => {
      if (!o || !o.name) throw invalid(op, "name is required");
      let id;
      const res = await this.http.exchange(op, {}, (t) => {
        const task = this.http.send("POST", "/api/functions/" + encodeURIComponent(o.name), { data: o.data === void 0 ? {} : o.data }, t);
        return task;
      });
      for (const k in res.headers) if (k.toLowerCase() == "x-request-id") id = res.headers[k];
      return { result: res.body.result, requestID: id, errMsg: op + ":ok" };
    })();
    return settle(p, o);
  }
  /** Uploads a file (multipart `file` + `cloudPath`). The answer is a Promise and a task:
   * `abort()`, `onProgressUpdate(cb)`. */
  uploadFile(o) {
    const op = "cloud.uploadFile";
    let inner;
    let aborted = false;
    const listeners = [];
    if (o && o.onUploadProgress) listeners.push(o.onUploadProgress);
    const p = (async () => {
      if (!o || typeof o.cloudPath != "string") throw invalid(op, "cloudPath is required");
      const problem = cloudPathProblem(o.cloudPath);
      if (problem) throw invalid(op, "cloudPath " + problem);
      if (o.filePath == null) throw invalid(op, "filePath is required");
      const res = await this.http.exchange(op, {}, (token) => {
        if (aborted) return Promise.reject(new PlatformError("uploadFile:fail abort", true));
        inner = this.adapter.upload({
          url: this.http.base + "/api/storage/upload",
          headers: this.http.headers(token),
          filePath: o.filePath,
          name: "file",
          formData: { cloudPath: o.cloudPath },
          timeout: this.o.uploadTimeout || 6e5,
          onProgress: (e) => {
            for (const l of listeners.slice()) l(e);
          }
        });
        return inner.promise;
      });
      return { fileID: res.body.fileID, statusCode: res.status, errMsg: op + ":ok" };
    })();
    settle(p, o);
    const task = p;
    task.abort = () => {
      aborted = true;
      if (inner) inner.abort();
    };
    task.onProgressUpdate = (cb) => listeners.push(cb);
    task.offProgressUpdate = (cb) => {
      const i = listeners.indexOf(cb);
      if (i >= 0) listeners.splice(i, 1);
    };
    return task;
  }
  /** Temporary URLs of files (`maxAge` in seconds); each entry has its own `status`. */
  getTempFileURL(o) {
    const op = "cloud.getTempFileURL";
    return settle(
      this.batches(op, o && o.fileList, "/api/storage/temp-urls", (f) => typeof f == "string" ? { fileID: f } : f, true),
      o
    );
  }
  /** Deletes files; each entry has its own `status` (0 deleted). */
  deleteFile(o) {
    return settle(
      this.batches("cloud.deleteFile", o && o.fileList, "/api/storage/delete", (f) => f, false),
      o
    );
  }
  async batches(op, list, path, map, read) {
    if (!Array.isArray(list) || !list.length) throw invalid(op, "fileList must be a non-empty array");
    let out = [];
    for (let i = 0; i < list.length; i += MAX_BATCH) {
      const r = await this.http.call(op, "POST", path, { fileList: list.slice(i, i + MAX_BATCH).map(map) }, { read });
      out = out.concat(r.fileList);
    }
    return { fileList: out, errMsg: op + ":ok" };
  }
  /** Downloads a file: a temp path in mini programs, an object URL in browsers, the bytes
   * (`data`) in Node. */
  downloadFile(o) {
    const op = "cloud.downloadFile";
    const p = (async () => {
      if (!o || !o.fileID) throw invalid(op, "fileID is required");
      const { fileList } = await this.getTempFileURL({ fileList: [o.fileID] });
      const f = fileList[0];
      if (!f || f.status != 0 || !f.tempFileURL) throw new MinibaseError(op, f && f.code || "NOT_FOUND", f && f.errMsg || "no such file");
      let r;
      try {
        r = await this.adapter.download(f.tempFileURL, {}).promise;
      } catch (e) {
        throw platformError(op, e);
      }
      if (r.statusCode != 200) throw apiError(op, { status: r.statusCode, headers: {}, body: "" });
      return Object.assign(r, { errMsg: op + ":ok" });
    })();
    return settle(p, o);
  }
  /** Pays an order: asks the server for the payment parameters of `orderId` (your
   * `out_trade_no`), then calls the platform's payment (`wx.requestPayment`). Also takes the
   * parameters themselves (`{payment}`) when your function answered them. Trust the order
   * document (`_pay_orders`), not this answer, to know it is paid. */
  requestPayment(o) {
    const op = "requestPayment";
    const p = (async () => {
      if (!this.adapter.pay) throw new MinibaseError(op, "UNSUPPORTED", "no payment API on " + this.adapter.name);
      let params = o && o.payment;
      if (!params) {
        if (!o || !o.orderId) throw invalid(op, "orderId or payment is required");
        const r = await this.http.call(op, "POST", "/api/pay/wechat/orders/" + encodeURIComponent(o.orderId) + "/payment", {});
        params = r.payment;
      }
      try {
        await this.adapter.pay(params);
      } catch (e) {
        const err = platformError(op, e);
        if (err.code == "NETWORK_ERROR") err.code = "PAYMENT_FAILED";
        throw err;
      }
      return { errMsg: op + ":ok", orderId: o.orderId };
    })();
    return settle(p, o);
  }
};

// src/core/sdk.ts
var VERSION = "0.1.0";
function makeSdk(pick2) {
  let current;
  const app2 = () => {
    if (!current) throw new MinibaseError("app", "INVALID_ARGUMENT", "call minibase.init({url}) first");
    return current;
  };
  return {
    /** Starts an app for your server; the latest one is also the default app. */
    init(o) {
      if (!o || typeof o.url != "string" || !/^https?:\/\/[^/]+/.test(o.url)) {
        throw new MinibaseError("init", "INVALID_ARGUMENT", "url must be http(s)://host[:port]");
      }
      const opts = Object.assign({}, o, { url: o.url.replace(/\/+$/, "") });
      const adapter = typeof o.platform == "object" && o.platform ? o.platform : pick2(opts);
      return current = new App(adapter, opts);
    },
    /** The default app (the latest `init`). */
    app: app2,
    database: () => app2().database(),
    callFunction: ((o) => app2().callFunction(o)),
    uploadFile: ((o) => app2().uploadFile(o)),
    downloadFile: ((o) => app2().downloadFile(o)),
    getTempFileURL: ((o) => app2().getTempFileURL(o)),
    deleteFile: ((o) => app2().deleteFile(o)),
    requestPayment: ((o) => app2().requestPayment(o)),
    /** `db.command`, also without a database. */
    command,
    Geo: GeoNS,
    MinibaseError,
    version: VERSION
  };
}

// src/index.ts
function pick(o) {
  const name = o.platform || (o.taro ? "taro" : detectPlatform());
  if (name == "taro") return taroAdapter(o.taro);
  const make = name && ADAPTERS[name];
  if (!make) throw new MinibaseError("init", "UNSUPPORTED", "unknown platform " + name + ": pass {platform}");
  return make(o);
}
var minibase = makeSdk(pick);
var index_default = minibase;
var { init, app, database, callFunction, uploadFile, downloadFile, getTempFileURL, deleteFile, requestPayment: requestPayment2, command: command2, Geo: Geo2, version } = minibase;
