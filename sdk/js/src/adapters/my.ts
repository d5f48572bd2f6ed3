// Alipay (`my`). Its API differs from wx's in names and shapes:
// - `my.request` takes `headers` (not `header`) and answers `{status, headers, data}`; an HTTP
//   status outside 2xx calls `fail({error: 19, errorMessage, status, data?, headers?})`, a
//   network failure `fail({error: 12|13, errorMessage})`. Without `content-type:
//   application/json` it sends a form body, so the SDK sends JSON text itself.
// - `my.uploadFile` takes `fileName` (the multipart field) and `fileType`; progress is
//   `{progress, totalBytesWritten, totalBytesExpectedToWrite}`.
// - `my.downloadFile` answers `apFilePath`.
// - storage is `my.getStorageSync({key})` → `{data}`, `my.setStorageSync({key, data})`.
// - `my.connectSocket({multiple: true})` answers a SocketTask (else the global one-socket API).
// - the login code is `my.getAuthCode({scopes})` → `authCode`; payment is `my.tradePay({tradeNO})`,
//   which calls `success` with `resultCode` '9000' when paid ('6001' cancelled…).
import { Api, call, noop, parseBody, wireSocket } from './mp';
import { Adapter, HttpResponse, PlatformError } from './types';

function answer(r: Api): HttpResponse {
  return {
    status: r.status !== undefined ? r.status : r.statusCode,
    headers: r.headers || r.header || {},
    body: parseBody(r.data),
  };
}

/** A fail payload that is an HTTP answer (error 19) becomes a response; others stay errors. */
function httpOrFail(p: Promise<Api>): Promise<HttpResponse> {
  return p.then(answer, (e: PlatformError & { raw?: Api }) => {
    const raw = e.raw;
    if (raw && typeof raw.status == 'number') return answer(raw);
    throw e;
  });
}

/** Like `call`, keeping the raw failure payload (error 19 carries the HTTP answer). */
function myCall(api: Api, fn: string, opts: Record<string, unknown>) {
  let task: Api;
  const promise = new Promise<Api>((resolve, reject) => {
    if (!api || typeof api[fn] != 'function') {
      reject(new PlatformError(fn + ':fail not supported on this platform'));
      return;
    }
    opts.success = resolve;
    opts.fail = (e: Api) => {
      const msg = String((e && (e.errorMessage || e.errMsg)) || 'fail') + (e && e.error ? ' (' + e.error + ')' : '');
      const err = new PlatformError(fn + ':fail ' + msg, /abort/i.test(msg) || (e && e.error === 9));
      (err as PlatformError & { raw?: Api }).raw = e;
      reject(err);
    };
    task = api[fn](opts);
  });
  return { task, promise };
}

const FILE_TYPES: [RegExp, string][] = [
  [/\.(jpe?g|png|gif|webp|heic|bmp)$/i, 'image'],
  [/\.(mp4|mov|m4v|3gp)$/i, 'video'],
  [/\.(mp3|m4a|aac|amr|wav|silk)$/i, 'audio'],
];

export function myAdapter(api: Api = typeof my != 'undefined' ? my : undefined): Adapter {
  const abortable = (c: { task: Api; promise: Promise<HttpResponse> }) => ({
    promise: c.promise,
    abort() {
      if (c.task && c.task.abort) c.task.abort();
    },
  });
  return {
    name: 'my',
    provider: 'alipay',
    request(req) {
      const c = myCall(api, 'request', {
        url: req.url,
        method: req.method,
        headers: req.headers,
        data: req.body,
        timeout: req.timeout,
        dataType: 'text',
      });
      return abortable({ task: c.task, promise: httpOrFail(c.promise) });
    },
    upload(req) {
      const path = String(req.filePath);
      let fileType = 'image';
      for (const [re, t] of FILE_TYPES) if (re.test(path)) fileType = t;
      const c = myCall(api, 'uploadFile', {
        url: req.url,
        filePath: req.filePath,
        fileName: req.name,
        fileType,
        header: req.headers,
        formData: req.formData,
        timeout: req.timeout,
      });
      if (c.task && c.task.onProgressUpdate) {
        c.task.onProgressUpdate((p: Api) => {
          const sent = p.totalBytesWritten || 0;
          const total = p.totalBytesExpectedToWrite || 0;
          req.onProgress({ progress: p.progress, totalBytesSent: sent, totalBytesExpectedToSend: total, loaded: sent, total });
        });
      }
      return abortable({ task: c.task, promise: httpOrFail(c.promise) });
    },
    download(url, headers) {
      const c = myCall(api, 'downloadFile', { url, header: headers });
      return {
        promise: c.promise.then((r: Api) => ({ statusCode: r.statusCode || 200, tempFilePath: r.apFilePath || r.tempFilePath })),
        abort() {
          if (c.task && c.task.abort) c.task.abort();
        },
      };
    },
    socket(url, headers, on) {
      return wireSocket(api.connectSocket({ url, header: headers, multiple: true, success: noop, fail: noop }), on);
    },
    storage: {
      get(key) {
        const r = api.getStorageSync({ key });
        const v = r && r.data;
        return typeof v == 'string' && v ? v : undefined;
      },
      set(key, data) {
        api.setStorageSync({ key, data });
      },
      remove(key) {
        api.removeStorageSync({ key });
      },
    },
    login() {
      return call<Api>(api, 'getAuthCode', { scopes: 'auth_base' }).promise.then((r) => {
        if (!r || !r.authCode) throw new PlatformError('getAuthCode:fail no authCode');
        return String(r.authCode);
      });
    },
    pay(params) {
      return call<Api>(api, 'tradePay', Object.assign({}, params)).promise.then((r) => {
        if (r && r.resultCode == '9000') return r;
        throw new PlatformError('tradePay:fail ' + (r && r.resultCode == '6001' ? 'cancel' : 'resultCode ' + (r && r.resultCode)));
      });
    },
    onShow: (cb) => api.onAppShow && api.onAppShow(cb),
    onHide: (cb) => api.onAppHide && api.onAppHide(cb),
  };
}

declare const my: Api;
