// Simulations of each platform's callback API, as each documents it, over the real HTTP and
// WebSocket of engine.js. What each one reproduces (the things the SDK's adapters must get
// right):
//
// wx / qq   `header`, `statusCode`, success for every HTTP status, `fail({errMsg})` for network
//           failures, timeouts (`…:fail timeout`) and aborts (`…:fail abort`); `dataType: 'json'`
//           parses when it can; callbacks are asynchronous; `getStorageSync` answers '' for a
//           missing key; upload tasks report `{progress, totalBytesSent,
//           totalBytesExpectedToSend}`; a refused socket upgrade is `onError` then `onClose(1006)`.
// tt        as wx, failures add `errNo`; `login` answers `{code, anonymousCode, isLogin}`.
// swan      as wx, failures are `{errCode, errMsg}`; the login code comes from `getLoginCode`.
// uni       as wx; a call without success/fail/complete answers a Promise instead of a task;
//           `connectSocket` answers its SocketTask only when a callback is given;
//           `getSystemInfoSync().uniPlatform`; `login({provider})` requires the provider.
// Taro      as wx, and every call also answers a Promise (rejecting on failure); `request`'s
//           promise has `abort()`, `uploadFile`'s has `progress(cb)` and `abort()`;
//           `connectSocket` answers a Promise of the SocketTask; `getEnv()`.
// my        (Alipay) `headers` and `status`; a non-2xx status calls `fail({error: 19,
//           errorMessage, status, data, headers})`; network `error: 12`, timeout `error: 13`;
//           without `content-type: application/json` an object body is sent form-encoded;
//           `uploadFile` needs `fileName` and `fileType`, progress is `totalBytesWritten`;
//           `downloadFile` answers `apFilePath`; storage takes `{key, data}` and answers
//           `{data}`; `connectSocket({multiple: true})` answers a SocketTask; `getAuthCode`
//           answers `authCode`; `tradePay` calls success with `resultCode`.
// browser   `XMLHttpRequest` (upload progress, abort, timeout), `localStorage`, `document`
//           visibility, `WebSocket` (ws, which speaks the browser API), the real `fetch`.
'use strict';
const fs = require('node:fs');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { Engine } = require('./engine');

const later = (f) => setTimeout(f, 0);

function finish(o, ok, res) {
  later(() => {
    try {
      if (ok && o.success) o.success(res);
      if (!ok && o.fail) o.fail(res);
    } finally {
      if (o.complete) o.complete(res);
    }
  });
}

const titleCase = (h) => {
  const out = {};
  for (const k of Object.keys(h)) out[k.replace(/(^|-)([a-z])/g, (_, a, b) => a + b.toUpperCase())] = Array.isArray(h[k]) ? h[k].join(', ') : h[k];
  return out;
};

function qs(data) {
  return Object.keys(data)
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(typeof data[k] == 'object' ? JSON.stringify(data[k]) : data[k]))
    .join('&');
}

function headerOf(h, name) {
  for (const k of Object.keys(h || {})) if (k.toLowerCase() == name) return h[k];
  return undefined;
}

/** wx.request's body rules: GET objects go to the query string, JSON by default. */
function wxBody(o, method) {
  let url = o.url;
  let body;
  const data = o.data;
  if (data === undefined || data === null) return { url, body };
  if (method == 'GET') {
    if (typeof data == 'object') url += (url.includes('?') ? '&' : '?') + qs(data);
    return { url, body };
  }
  if (typeof data == 'string' || Buffer.isBuffer(data)) body = data;
  else {
    const ct = String(headerOf(o.header, 'content-type') || 'application/json');
    body = ct.includes('json') ? JSON.stringify(data) : qs(data);
  }
  return { url, body };
}

/**
 * A wx-shaped API object (`wx`, `qq`, `tt`, `swan`, and the base of `uni` and `Taro`).
 * opts: {name, engine, failExtra(errMsg) → extra fields, login(), pay(params)}
 */
function wxLike(opts) {
  const engine = opts.engine;
  const storage = new Map();
  const show = [];
  const hide = [];
  const fail = (api, reason, extra) => Object.assign({ errMsg: api + ':fail ' + reason }, opts.failExtra ? opts.failExtra(reason) : {}, extra || {});
  const api = {
    _storage: storage,
    _engine: engine,
    _calls: { login: 0, requestPayment: 0, connectSocket: 0 },

    request(o) {
      const method = (o.method || 'GET').toUpperCase();
      const { url, body } = wxBody(o, method);
      const headers = Object.assign({}, o.header || {});
      if (body !== undefined && !headerOf(headers, 'content-type')) headers['content-type'] = 'application/json';
      const t = engine.request({ url, method, headers, body, timeout: o.timeout || 60000 });
      t.promise.then(
        (r) => {
          let data = r.text;
          if ((o.dataType || 'json') == 'json') {
            try {
              data = JSON.parse(r.text);
            } catch (_) {
              /* wx keeps the text */
            }
          }
          finish(o, true, { data, statusCode: r.status, header: titleCase(r.headers), cookies: [], errMsg: 'request:ok' });
        },
        (e) => finish(o, false, fail('request', e.reason)),
      );
      return { abort: () => t.abort(), onHeadersReceived() {}, offHeadersReceived() {} };
    },

    uploadFile(o) {
      const listeners = [];
      if (!o.filePath || !o.name) {
        finish(o, false, fail('uploadFile', 'parameter error: filePath and name are required'));
        return { abort() {}, onProgressUpdate() {}, offProgressUpdate() {} };
      }
      const t = engine.upload({
        url: o.url,
        headers: o.header,
        filePath: o.filePath,
        name: o.name,
        formData: o.formData,
        timeout: o.timeout,
        onProgress: ({ sent, total }) => {
          const p = { progress: Math.floor((sent / total) * 100), totalBytesSent: sent, totalBytesExpectedToSend: total };
          for (const l of listeners.slice()) l(p);
        },
      });
      t.promise.then(
        (r) => finish(o, true, { data: r.text, statusCode: r.status, header: titleCase(r.headers), errMsg: 'uploadFile:ok' }),
        (e) => finish(o, false, fail('uploadFile', e.reason)),
      );
      return {
        abort: () => t.abort(),
        onProgressUpdate: (cb) => listeners.push(cb),
        offProgressUpdate: (cb) => listeners.splice(listeners.indexOf(cb) >>> 0, 1),
        onHeadersReceived() {},
        offHeadersReceived() {},
      };
    },

    downloadFile(o) {
      const t = engine.download({ url: o.url, headers: o.header });
      t.promise.then(
        (r) => finish(o, true, { tempFilePath: r.path, statusCode: r.status, errMsg: 'downloadFile:ok' }),
        (e) => finish(o, false, fail('downloadFile', e.reason)),
      );
      return { abort: () => t.abort(), onProgressUpdate() {} };
    },

    connectSocket(o) {
      api._calls.connectSocket++;
      const h = { open: [], message: [], close: [], error: [] };
      const emit = (k, v) => later(() => h[k].slice().forEach((cb) => cb(v)));
      const s = engine.socket(
        { url: o.url, headers: o.header },
        {
          open: () => emit('open', { header: {}, profile: {} }),
          message: (data) => emit('message', { data }),
          close: (code, reason) => emit('close', { code, reason }),
          error: (msg) => emit('error', fail('connectSocket', msg)),
        },
      );
      finish(o, true, { errMsg: 'connectSocket:ok' });
      return {
        _socket: s,
        send(x) {
          const ok = s.send(x.data);
          finish(x, ok, ok ? { errMsg: 'sendSocketMessage:ok' } : fail('sendSocketMessage', 'socket is not connected'));
        },
        close(x = {}) {
          s.close(x.code, x.reason);
          finish(x, true, { errMsg: 'closeSocket:ok' });
        },
        onOpen: (cb) => h.open.push(cb),
        onMessage: (cb) => h.message.push(cb),
        onClose: (cb) => h.close.push(cb),
        onError: (cb) => h.error.push(cb),
      };
    },

    login(o = {}) {
      api._calls.login++;
      Promise.resolve()
        .then(() => opts.login(o))
        .then(
          (r) => finish(o, true, Object.assign({ errMsg: 'login:ok' }, r)),
          (e) => finish(o, false, fail('login', e.message || e)),
        );
    },

    requestPayment(o) {
      api._calls.requestPayment++;
      Promise.resolve()
        .then(() => opts.pay(o))
        .then(
          () => finish(o, true, { errMsg: 'requestPayment:ok' }),
          (e) => finish(o, false, fail('requestPayment', e.message || e)),
        );
    },

    setStorageSync(k, v) {
      storage.set(k, JSON.stringify(v));
    },
    getStorageSync(k) {
      return storage.has(k) ? JSON.parse(storage.get(k)) : '';
    },
    removeStorageSync(k) {
      storage.delete(k);
    },

    onAppShow: (cb) => show.push(cb),
    onAppHide: (cb) => hide.push(cb),
    /** test controls: the app goes to the background / comes back */
    _hide: () => hide.forEach((cb) => cb({})),
    _show: () => show.forEach((cb) => cb({ scene: 1001 })),

    chooseMedia(o) {
      const file = opts.nextMedia ? opts.nextMedia() : engine.tempFile(Buffer.from('not a real photo'), '.jpg');
      finish(o, true, { tempFiles: [{ tempFilePath: file, size: fs.statSync(file).size, fileType: 'image' }], type: 'image', errMsg: 'chooseMedia:ok' });
    },
    showToast() {},
    showModal(o) {
      finish(o, true, { confirm: true, cancel: false, errMsg: 'showModal:ok' });
    },
  };
  return api;
}

/** Verifies a `paySign` as WeChat does: RSA-SHA256 by the merchant key over
 * `appid\ntimeStamp\nnonceStr\npackage\n`. */
function checkPaySign(p, appid, merchantPublicKeyPem) {
  for (const k of ['timeStamp', 'nonceStr', 'package', 'signType', 'paySign']) {
    if (typeof p[k] != 'string' || !p[k]) throw new Error('parameter error: ' + k + ' missing');
  }
  if (p.signType != 'RSA') throw new Error('parameter error: signType must be RSA');
  const msg = `${appid}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;
  const ok = crypto.createVerify('RSA-SHA256').update(msg).verify(merchantPublicKeyPem, p.paySign, 'base64');
  if (!ok) throw new Error('支付验证签名失败');
}

let codeSeq = 0;

/** WeChat. opts: {openid (who wx.login signs in as), pay: {appid, merchantPublicKeyPem, onPaid(prepayId), cancel}} */
function makeWx(opts = {}) {
  const engine = opts.engine || new Engine();
  const sim = {
    openid: opts.openid || 'sim-user',
    loginFails: 0,
  };
  const wx = wxLike({
    name: 'wx',
    engine,
    login() {
      if (sim.loginFails > 0) {
        sim.loginFails--;
        throw new Error('system error');
      }
      // the fake WeChat (lenient) signs `openid:NAME:…` codes in as NAME
      return { code: 'openid:' + sim.openid + ':' + ++codeSeq + Math.random().toString(36).slice(2, 8) };
    },
    async pay(p) {
      const po = opts.pay;
      if (!po) throw new Error('no merchant configured in the simulation');
      checkPaySign(p, po.appid, po.merchantPublicKeyPem);
      if (po.cancel) throw new Error('cancel');
      if (po.onPaid) await po.onPaid(p.package.replace(/^prepay_id=/, ''));
    },
    nextMedia: opts.nextMedia,
  });
  wx._sim = sim;
  return wx;
}

function makeQq(opts = {}) {
  const engine = opts.engine || new Engine();
  return wxLike({ name: 'qq', engine, login: () => ({ code: 'qq-code-' + ++codeSeq }), pay: async () => {} });
}

function makeTt(opts = {}) {
  const engine = opts.engine || new Engine();
  return wxLike({
    name: 'tt',
    engine,
    failExtra: () => ({ errNo: 21100 }),
    login: (o) => {
      if (o.force !== true && o.force !== undefined) throw new Error('force must be a boolean');
      return { code: 'tt-code-' + ++codeSeq, anonymousCode: 'anon-' + codeSeq, isLogin: true };
    },
    pay: async () => ({ code: 0 }),
  });
}

function makeSwan(opts = {}) {
  const engine = opts.engine || new Engine();
  const swan = wxLike({ name: 'swan', engine, failExtra: () => ({ errCode: 1001 }), login: () => ({ code: 'swan-login-' + ++codeSeq }), pay: async () => {} });
  swan.getLoginCode = (o) => finish(o, true, { code: 'swan-code-' + ++codeSeq, errMsg: 'getLoginCode:ok' });
  swan.requestPolymerPayment = (o) => finish(o, true, { errMsg: 'requestPolymerPayment:ok' });
  return swan;
}

/** uni-app: promise when no callback is given; SocketTask only with a callback. */
function makeUni(opts = {}) {
  const engine = opts.engine || new Engine();
  const base = wxLike({
    name: 'uni',
    engine,
    login: (o) => {
      if (!o.provider) throw new Error('provider is required');
      return { code: 'uni-' + o.provider + '-' + ++codeSeq, authResult: {} };
    },
    pay: async (p) => {
      if (!p.provider) throw new Error('provider is required');
    },
  });
  const uni = Object.assign({}, base);
  const hasCb = (o) => o && (o.success || o.fail || o.complete);
  for (const fn of ['request', 'uploadFile', 'downloadFile', 'login', 'requestPayment']) {
    uni[fn] = (o = {}) => {
      if (hasCb(o)) return base[fn](o);
      return new Promise((resolve, reject) => base[fn](Object.assign({}, o, { success: resolve, fail: reject })));
    };
  }
  uni.connectSocket = (o) => {
    const task = base.connectSocket(o);
    return hasCb(o) ? task : Promise.resolve({ errMsg: 'connectSocket:ok' });
  };
  uni.getSystemInfoSync = () => ({ uniPlatform: opts.uniPlatform || 'mp-weixin', platform: 'devtools' });
  return uni;
}

/** Taro: every call answers a Promise too. */
function makeTaro(opts = {}) {
  const engine = opts.engine || new Engine();
  const base = wxLike({ name: 'taro', engine, login: () => ({ code: 'taro-code-' + ++codeSeq }), pay: async () => {} });
  const Taro = Object.assign({}, base);
  const promised = (fn, decorate) => (o = {}) => {
    let task;
    const p = new Promise((resolve, reject) => {
      task = base[fn](
        Object.assign({}, o, {
          success: (r) => {
            if (o.success) o.success(r);
            resolve(r);
          },
          fail: (e) => {
            if (o.fail) o.fail(e);
            reject(e);
          },
          complete: o.complete,
        }),
      );
    });
    if (decorate) decorate(p, task);
    return p;
  };
  Taro.request = promised('request', (p, t) => (p.abort = () => t.abort()));
  Taro.uploadFile = promised('uploadFile', (p, t) => {
    p.abort = () => t.abort();
    p.progress = (cb) => t.onProgressUpdate(cb);
  });
  Taro.downloadFile = promised('downloadFile', (p, t) => (p.abort = () => t.abort()));
  Taro.login = promised('login');
  Taro.requestPayment = promised('requestPayment');
  Taro.connectSocket = (o) => Promise.resolve(base.connectSocket(o));
  Taro.getEnv = () => opts.env || 'WEAPP';
  Taro.ENV_TYPE = { WEAPP: 'WEAPP', ALIPAY: 'ALIPAY', TT: 'TT', SWAN: 'SWAN', QQ: 'QQ', WEB: 'WEB' };
  return Taro;
}

/** Alipay. */
function makeMy(opts = {}) {
  const engine = opts.engine || new Engine();
  const storage = new Map();
  const show = [];
  const my = {
    _storage: storage,
    _engine: engine,
    _calls: { getAuthCode: 0, tradePay: 0 },
    request(o) {
      const method = (o.method || 'GET').toUpperCase();
      const headers = Object.assign({}, o.headers || {});
      let url = o.url;
      let body;
      if (o.data !== undefined) {
        if (method == 'GET') {
          if (typeof o.data == 'object') url += '?' + qs(o.data);
        } else if (typeof o.data == 'string') body = o.data;
        else {
          const ct = String(headerOf(headers, 'content-type') || 'application/x-www-form-urlencoded');
          if (!headerOf(headers, 'content-type')) headers['content-type'] = ct;
          body = ct.includes('json') ? JSON.stringify(o.data) : qs(o.data);
        }
      }
      const t = engine.request({ url, method, headers, body, timeout: o.timeout || 30000 });
      let aborted = false;
      t.promise.then(
        (r) => {
          let data = r.text;
          if ((o.dataType || 'json') == 'json') {
            try {
              data = JSON.parse(r.text);
            } catch (_) {
              return finish(o, false, { error: 14, errorMessage: 'JSON parse data error' });
            }
          }
          if (r.status < 200 || r.status > 299) {
            return finish(o, false, { error: 19, errorMessage: 'http status error', status: r.status, data, headers: r.headers });
          }
          finish(o, true, { data, status: r.status, headers: r.headers });
        },
        (e) =>
          finish(
            o,
            false,
            aborted ? { error: 9, errorMessage: 'request abort' } : e.reason == 'timeout' ? { error: 13, errorMessage: '超时' } : { error: 12, errorMessage: '网络出错' },
          ),
      );
      return {
        abort: () => {
          aborted = true;
          t.abort();
        },
      };
    },
    uploadFile(o) {
      const listeners = [];
      if (!o.fileName || !o.fileType || !o.filePath) {
        finish(o, false, { error: 2, errorMessage: 'invalid parameter: fileName, fileType and filePath are required' });
        return { abort() {}, onProgressUpdate() {} };
      }
      const t = engine.upload({
        url: o.url,
        headers: o.header,
        filePath: o.filePath,
        name: o.fileName,
        formData: o.formData,
        onProgress: ({ sent, total }) => {
          const p = { progress: Math.floor((sent / total) * 100), totalBytesWritten: sent, totalBytesExpectedToWrite: total };
          for (const l of listeners.slice()) l(p);
        },
      });
      t.promise.then(
        (r) => finish(o, true, { data: r.text, statusCode: r.status, header: r.headers }),
        (e) => finish(o, false, { error: e.reason == 'abort' ? 9 : 12, errorMessage: e.reason == 'abort' ? 'upload abort' : '网络出错' }),
      );
      return { abort: () => t.abort(), onProgressUpdate: (cb) => listeners.push(cb) };
    },
    downloadFile(o) {
      const t = engine.download({ url: o.url, headers: o.header });
      t.promise.then(
        (r) => finish(o, true, { apFilePath: r.path }),
        () => finish(o, false, { error: 12, errorMessage: '下载失败' }),
      );
      return { abort: () => t.abort() };
    },
    connectSocket(o) {
      if (!o.multiple) {
        finish(o, false, { error: 2, errorMessage: 'this simulation only has SocketTasks (multiple: true)' });
        return undefined;
      }
      const h = { open: [], message: [], close: [], error: [] };
      const emit = (k, v) => later(() => h[k].slice().forEach((cb) => cb(v)));
      const s = engine.socket(
        { url: o.url, headers: o.header },
        {
          open: () => emit('open', {}),
          message: (data) => emit('message', { data, isBuffer: false }),
          close: (code, reason) => emit('close', { code, reason }),
          error: (msg) => emit('error', { error: 1, errorMessage: msg }),
        },
      );
      finish(o, true, {});
      return {
        send: (x) => finish(x, s.send(x.data), {}),
        close: (x = {}) => s.close(x.code, x.reason),
        onOpen: (cb) => h.open.push(cb),
        onMessage: (cb) => h.message.push(cb),
        onClose: (cb) => h.close.push(cb),
        onError: (cb) => h.error.push(cb),
      };
    },
    setStorageSync({ key, data }) {
      storage.set(key, JSON.stringify(data));
      return { success: true };
    },
    getStorageSync({ key }) {
      return { data: storage.has(key) ? JSON.parse(storage.get(key)) : null };
    },
    removeStorageSync({ key }) {
      storage.delete(key);
      return { success: true };
    },
    getAuthCode(o) {
      my._calls.getAuthCode++;
      finish(o, true, { authCode: 'ali-auth-' + ++codeSeq, authErrorScopes: {}, authSuccessScopes: [o.scopes] });
    },
    tradePay(o) {
      my._calls.tradePay++;
      if (!o.tradeNO && !o.orderStr) return finish(o, false, { error: 2, errorMessage: 'tradeNO or orderStr required' });
      finish(o, true, { resultCode: opts.tradeResult || '9000' });
    },
    onAppShow: (cb) => show.push(cb),
    onAppHide() {},
  };
  return my;
}

/** A browser's globals over the engine (and the real fetch). */
function makeBrowser(opts = {}) {
  const engine = opts.engine || new Engine();
  const store = new Map();
  const listeners = { visibilitychange: [], online: [] };
  const document = {
    visibilityState: 'visible',
    addEventListener: (k, cb) => (listeners[k] = listeners[k] || []).push(cb),
  };
  class XMLHttpRequest {
    constructor() {
      this.upload = {};
      this.status = 0;
      this.responseText = '';
      this.timeout = 0;
      this._headers = {};
    }
    open(method, url) {
      this._method = method;
      this._url = url;
    }
    setRequestHeader(k, v) {
      this._headers[k] = v;
    }
    getResponseHeader(k) {
      return (this._res && headerOf(this._res, k.toLowerCase())) || null;
    }
    async send(fd) {
      // FormData: string fields and one Blob, written to a temp file as the browser reads it
      const formData = {};
      let filePath;
      let name;
      for (const [k, v] of fd.entries()) {
        if (typeof v == 'string') formData[k] = v;
        else {
          name = k;
          filePath = engine.tempFile(Buffer.from(await v.arrayBuffer()));
        }
      }
      this._task = engine.upload({
        url: this._url,
        headers: this._headers,
        filePath,
        name,
        formData,
        timeout: this.timeout || 600000,
        onProgress: ({ sent, total }) => this.upload.onprogress && this.upload.onprogress({ loaded: sent, total, lengthComputable: true }),
      });
      this._task.promise.then(
        (r) => {
          this.status = r.status;
          this.responseText = r.text;
          this._res = r.headers;
          if (this.onload) this.onload();
        },
        (e) => {
          if (e.reason == 'abort') return this.onabort && this.onabort();
          if (e.reason == 'timeout') return this.ontimeout && this.ontimeout();
          if (this.onerror) this.onerror();
        },
      );
    }
    abort() {
      if (this._task) this._task.abort();
    }
  }
  const window = {
    document,
    localStorage: {
      getItem: (k) => (store.has(k) ? store.get(k) : null),
      setItem: (k, v) => store.set(k, String(v)),
      removeItem: (k) => store.delete(k),
    },
    XMLHttpRequest,
    FormData,
    WebSocket,
    fetch: globalThis.fetch,
    URL,
    _hide() {
      document.visibilityState = 'hidden';
      listeners.visibilitychange.forEach((cb) => cb());
    },
    _show() {
      document.visibilityState = 'visible';
      listeners.visibilitychange.forEach((cb) => cb());
    },
    _store: store,
    _engine: engine,
  };
  window.addEventListener = (k, cb) => (listeners[k] = listeners[k] || []).push(cb);
  window.window = window;
  return window;
}

module.exports = { Engine, makeWx, makeQq, makeTt, makeSwan, makeUni, makeTaro, makeMy, makeBrowser, checkPaySign };
