// The adapter of every mini-program platform whose API follows WeChat's shape: `wx`, `qq`,
// `tt` (Douyin), `swan` (Baidu), `uni` (uni-app) and `Taro`. They share the option names
// (`header`, `data`, `filePath`, `name`, `formData`), the answers (`statusCode`, `header`,
// `data`) and the callback style (`success`/`fail`/`complete`, `fail({errMsg})`); what differs
// (how to get a login code, payment, Taro's promises) comes in `MpOptions`.

import {
  Adapter,
  DownloadResult,
  HttpResponse,
  PlatformError,
  Socket,
  SocketHandlers,
  Task,
} from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Api = any;

export interface MpOptions {
  provider?: string;
  /** Resolves to the platform's login code. */
  login?: (api: Api) => Promise<string>;
  pay?: (api: Api, params: Record<string, unknown>) => Promise<unknown>;
}

export function noop() {}

/** Reads a failure payload of any platform: wx's `{errMsg}`, Baidu's `{errCode, errMsg}`,
 * Alipay's `{error, errorMessage}`. */
export function failMsg(e: Api): string {
  if (!e) return 'fail';
  if (typeof e == 'string') return e;
  return String(e.errMsg || e.errorMessage || e.message || e.error || 'fail');
}

function failure(e: Api) {
  const msg = failMsg(e);
  return new PlatformError(msg, /abort/i.test(msg));
}

/** Text answers are parsed when they are JSON (platforms differ in whether they parse). */
export function parseBody(data: unknown): unknown {
  if (typeof data == 'string' && data) {
    try {
      return JSON.parse(data);
    } catch (_) {
      /* not JSON: keep the text */
    }
  }
  return data;
}

/** Calls `fn(opts + callbacks)`, returning the platform's task object and a promise. A
 * platform that also returns a promise (Taro, uni in some builds) has its rejection caught:
 * the callbacks are what we listen to. */
export function call<T>(api: Api, fn: string, opts: Record<string, unknown>): { task: Api; promise: Promise<T> } {
  let task: Api;
  const promise = new Promise<T>((resolve, reject) => {
    if (!api || typeof api[fn] != 'function') {
      reject(new PlatformError(fn + ':fail not supported on this platform'));
      return;
    }
    opts.success = resolve;
    opts.fail = (e: Api) => reject(failure(e));
    task = api[fn](opts);
    if (task && typeof task.then == 'function') task.then(undefined, noop);
  });
  return { task, promise };
}

function response(r: Api): HttpResponse {
  return {
    status: r.statusCode !== undefined ? r.statusCode : r.status,
    headers: r.header || r.headers || {},
    body: parseBody(r.data),
  };
}

function abortable<T>(c: { task: Api; promise: Promise<T> }, onAbort?: () => void): Task<T> {
  return {
    promise: c.promise,
    abort() {
      const t = c.task;
      if (t && typeof t.abort == 'function') t.abort();
      if (onAbort) onAbort();
    },
  };
}

/** Wires a platform SocketTask (wx's shape, also qq/tt/swan/uni/Taro/Alipay's `multiple`
 * tasks) to the SDK's handlers. Taro answers a promise of the task. */
export function wireSocket(t: Api, on: SocketHandlers): Socket {
  let task: Api;
  let closed = false;
  const attach = (x: Api) => {
    task = x;
    x.onOpen(() => on.open());
    x.onMessage((m: Api) => {
      let d = m && m.data;
      // Alipay: {data: {data, isBuffer}}
      if (d && typeof d == 'object' && 'data' in d) d = d.data;
      on.message(typeof d == 'string' ? d : String(d));
    });
    x.onClose((e: Api) => {
      if (closed) return;
      closed = true;
      on.close((e && e.code) || 1006, (e && e.reason) || '');
    });
    x.onError((e: Api) => on.error(failMsg(e)));
  };
  if (t && typeof t.then == 'function') {
    t.then(attach, (e: Api) => {
      closed = true;
      on.close(1006, failMsg(e));
    });
  } else if (t) attach(t);
  else setTimeout(() => on.close(1006, 'connectSocket returned no task'));
  return {
    send(data) {
      if (task) task.send({ data, fail: noop });
    },
    close(code, reason) {
      if (task) task.close({ code: code || 1000, reason: reason || '', fail: noop });
    },
  };
}

/** An adapter over a wx-shaped API object. */
export function mpAdapter(name: string, api: Api, o: MpOptions = {}): Adapter {
  return {
    name,
    provider: o.provider,
    request(req) {
      const c = call<Api>(api, 'request', {
        url: req.url,
        method: req.method,
        header: req.headers,
        data: req.body,
        timeout: req.timeout,
        dataType: 'text',
        responseType: 'text',
      });
      return abortable({ task: c.task, promise: c.promise.then(response) });
    },
    upload(req) {
      const c = call<Api>(api, 'uploadFile', {
        url: req.url,
        filePath: req.filePath,
        name: req.name,
        header: req.headers,
        formData: req.formData,
        timeout: req.timeout,
      });
      const t = c.task;
      const progress = (p: Api) => {
        const sent = p.totalBytesSent || 0;
        const total = p.totalBytesExpectedToSend || 0;
        req.onProgress({
          progress: p.progress,
          totalBytesSent: sent,
          totalBytesExpectedToSend: total,
          loaded: sent,
          total,
        });
      };
      if (t) {
        if (typeof t.onProgressUpdate == 'function') t.onProgressUpdate(progress);
        else if (typeof t.progress == 'function') t.progress(progress);
      }
      return abortable({ task: t, promise: c.promise.then(response) });
    },
    download(url, headers) {
      const c = call<Api>(api, 'downloadFile', { url, header: headers });
      return abortable({
        task: c.task,
        promise: c.promise.then(
          (r): DownloadResult => ({ statusCode: r.statusCode, tempFilePath: r.tempFilePath }),
        ),
      });
    },
    socket(url, headers, on) {
      // success/fail given: uni-app answers a SocketTask only then
      return wireSocket(api.connectSocket({ url, header: headers, success: noop, fail: noop }), on);
    },
    storage: {
      get(k) {
        const v = api.getStorageSync(k);
        return typeof v == 'string' && v ? v : undefined;
      },
      set(k, v) {
        api.setStorageSync(k, v);
      },
      remove(k) {
        api.removeStorageSync(k);
      },
    },
    login: o.login ? () => o.login!(api) : undefined,
    pay: o.pay ? (p) => o.pay!(api, p) : undefined,
    onShow: (cb) => api.onAppShow && api.onAppShow(cb),
    onHide: (cb) => api.onAppHide && api.onAppHide(cb),
  };
}

/** `api.login()` → `code` (wx, qq, tt, Taro). */
export function codeLogin(api: Api, fn = 'login', extra: Record<string, unknown> = {}) {
  return call<Api>(api, fn, extra).promise.then((r) => {
    if (!r || !r.code) throw new PlatformError(fn + ':fail no code');
    return String(r.code);
  });
}

/** `requestPayment(params)` with the server's parameters as they are (WeChat Pay). */
export function requestPayment(api: Api, params: Record<string, unknown>) {
  const opts: Record<string, unknown> = {};
  for (const k in params) opts[k] = params[k];
  return call(api, 'requestPayment', opts).promise;
}
