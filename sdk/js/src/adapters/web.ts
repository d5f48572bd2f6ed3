// Browsers (H5) and Node: `fetch` for requests, the standard `WebSocket` for realtime (the
// token goes in `?access_token=`: a browser WebSocket cannot send headers). Browsers upload
// with XMLHttpRequest (progress, abort) and keep tokens in localStorage; Node uploads a
// streamed multipart body through fetch (progress as the body is read) and keeps tokens in
// memory unless given a storage.
import { parseBody } from './mp';
import { Adapter, HttpResponse, PlatformError, Progress, SocketHandlers, Task, UploadRequest } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const g: Any = typeof globalThis != 'undefined' ? globalThis : typeof self != 'undefined' ? self : {};

export interface WebOptions {
  /** A WebSocket constructor where none is global (Node < 22: `require('ws')`). */
  WebSocket?: Any;
  /** A fetch where none is global. */
  fetch?: Any;
  /** Where tokens are kept (Node: memory by default). */
  storage?: Adapter['storage'];
}

function headersOf(h: Any): Record<string, string> {
  const out: Record<string, string> = {};
  if (h && typeof h.forEach == 'function') h.forEach((v: string, k: string) => (out[k] = v));
  return out;
}

function fetchTask(doFetch: Any, url: string, init: Any, timeout: number): Task<Any> {
  const ctl = typeof AbortController != 'undefined' ? new AbortController() : undefined;
  let aborted = false;
  let timer: Any;
  if (ctl) init.signal = ctl.signal;
  const promise = new Promise<Any>((resolve, reject) => {
    if (timeout > 0 && ctl) timer = setTimeout(() => ctl.abort(), timeout);
    doFetch(url, init).then(resolve, (e: Any) =>
      reject(new PlatformError(aborted ? 'request:fail abort' : timer && ctl && ctl.signal.aborted ? 'request:fail timeout' : 'request:fail ' + ((e && e.message) || e), aborted)),
    );
  }).then(
    (r) => {
      clearTimeout(timer);
      return r;
    },
    (e) => {
      clearTimeout(timer);
      throw e;
    },
  );
  return {
    promise,
    abort() {
      aborted = true;
      if (ctl) ctl.abort();
    },
  };
}

function readResponse(r: Any): Promise<HttpResponse> {
  return r.text().then((t: string) => ({ status: r.status, headers: headersOf(r.headers), body: parseBody(t) }));
}

function memoryStorage(): Adapter['storage'] {
  const m: Record<string, string> = {};
  return {
    get: (k) => m[k],
    set: (k, v) => {
      m[k] = v;
    },
    remove: (k) => {
      delete m[k];
    },
  };
}

function localStorageOr(): Adapter['storage'] {
  try {
    const ls = g.localStorage;
    const probe = '__mb';
    ls.setItem(probe, '1');
    ls.removeItem(probe);
    return {
      get: (k) => ls.getItem(k) || undefined,
      set: (k, v) => ls.setItem(k, v),
      remove: (k) => ls.removeItem(k),
    };
  } catch (_) {
    return memoryStorage(); // private mode, no DOM storage
  }
}

function openSocket(Ctor: Any, url: string, on: SocketHandlers) {
  if (!Ctor) {
    setTimeout(() => on.close(1006, 'no WebSocket: pass init({WebSocket})'));
    return { send() {}, close() {} };
  }
  const ws = new Ctor(url);
  let closed = false;
  ws.onopen = () => on.open();
  ws.onmessage = (e: Any) => on.message(typeof e.data == 'string' ? e.data : String(e.data));
  ws.onclose = (e: Any) => {
    if (closed) return;
    closed = true;
    on.close(e.code || 1006, e.reason || '');
  };
  ws.onerror = (e: Any) => on.error((e && e.message) || 'socket error');
  return {
    send(d: string) {
      if (ws.readyState === 1) ws.send(d);
    },
    close(code?: number, reason?: string) {
      try {
        ws.close(code || 1000, reason);
      } catch (_) {
        ws.close();
      }
    },
  };
}

function webAdapter(name: string, o: WebOptions, upload: (req: UploadRequest, doFetch: Any) => Task<HttpResponse>, download: Adapter['download'], storage: Adapter['storage']): Adapter {
  const doFetch = o.fetch || (g.fetch && g.fetch.bind(g));
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
        g.document.addEventListener('visibilitychange', () => g.document.visibilityState == 'visible' && cb());
        g.addEventListener('online', cb);
      }
    },
    onHide(cb) {
      if (g.document) g.document.addEventListener('visibilitychange', () => g.document.visibilityState == 'hidden' && cb());
    },
  };
}

function progressOf(loaded: number, total: number): Progress {
  return {
    progress: total ? Math.round((loaded / total) * 100) : 0,
    totalBytesSent: loaded,
    totalBytesExpectedToSend: total,
    loaded,
    total,
  };
}

/** Browsers: fetch, XMLHttpRequest uploads with progress, localStorage, WebSocket. */
export function browserAdapter(o: WebOptions = {}): Adapter {
  const doFetch = o.fetch || (g.fetch && g.fetch.bind(g));
  return webAdapter(
    'browser',
    o,
    (req) => {
      const xhr = new g.XMLHttpRequest();
      let aborted = false;
      const promise = new Promise<HttpResponse>((resolve, reject) => {
        const fd = new g.FormData();
        for (const k in req.formData) fd.append(k, req.formData[k]);
        fd.append(req.name, req.filePath);
        xhr.open('POST', req.url);
        for (const k in req.headers) xhr.setRequestHeader(k, req.headers[k]);
        if (req.timeout) xhr.timeout = req.timeout;
        xhr.upload.onprogress = (e: Any) => req.onProgress(progressOf(e.loaded, e.total));
        xhr.onload = () =>
          resolve({ status: xhr.status, headers: { 'x-request-id': xhr.getResponseHeader('x-request-id') || '' }, body: parseBody(xhr.responseText) });
        xhr.onerror = () => reject(new PlatformError('uploadFile:fail network error'));
        xhr.ontimeout = () => reject(new PlatformError('uploadFile:fail timeout'));
        xhr.onabort = () => reject(new PlatformError('uploadFile:fail abort', true));
        xhr.send(fd);
      });
      return {
        promise,
        abort() {
          if (!aborted) {
            aborted = true;
            xhr.abort();
          }
        },
      };
    },
    (url, headers) => {
      const t = fetchTask(doFetch, url, { headers }, 0);
      return {
        promise: t.promise.then((r: Any) =>
          r.blob().then((b: Any) => ({ statusCode: r.status, tempFilePath: g.URL.createObjectURL(b) })),
        ),
        abort: t.abort,
      };
    },
    o.storage || localStorageOr(),
  );
}

/** Node ≥ 18: fetch (global), WebSocket (global from Node 22, else `init({WebSocket:
 * require('ws')})`), tokens in memory unless `storage` is given. `filePath` may be a path on
 * disk, a Blob or a Uint8Array. */
export function nodeAdapter(o: WebOptions = {}): Adapter {
  const doFetch = o.fetch || (g.fetch && g.fetch.bind(g));
  return webAdapter(
    'node',
    o,
    (req, f) => {
      let inner: Task<Any> | undefined;
      let aborted = false;
      const promise = bytesOf(req.filePath).then((bytes) => {
        if (aborted) throw new PlatformError('uploadFile:fail abort', true);
        const boundary = '----minibase' + Math.random().toString(16).slice(2);
        const enc = new TextEncoder();
        let head = '';
        for (const k in req.formData) {
          head += '--' + boundary + '\r\nContent-Disposition: form-data; name="' + k + '"\r\n\r\n' + req.formData[k] + '\r\n';
        }
        const fname = typeof req.filePath == 'string' ? req.filePath.split(/[\\/]/).pop() : 'file';
        head += '--' + boundary + '\r\nContent-Disposition: form-data; name="' + req.name + '"; filename="' + fname + '"\r\nContent-Type: application/octet-stream\r\n\r\n';
        const parts = [enc.encode(head), bytes, enc.encode('\r\n--' + boundary + '--\r\n')];
        const total = parts[0].length + bytes.length + parts[2].length;
        let sent = 0;
        let i = 0;
        let off = 0;
        const CHUNK = 256 * 1024;
        const body = new g.ReadableStream({
          pull(ctl: Any) {
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
          },
        });
        const headers: Record<string, string> = {};
        for (const k in req.headers) headers[k] = req.headers[k];
        headers['content-type'] = 'multipart/form-data; boundary=' + boundary;
        headers['content-length'] = String(total);
        inner = fetchTask(f, req.url, { method: 'POST', headers, body, duplex: 'half' }, req.timeout);
        return inner.promise.then(readResponse);
      });
      return {
        promise,
        abort() {
          aborted = true;
          if (inner) inner.abort();
        },
      };
    },
    (url, headers) => {
      const t = fetchTask(doFetch, url, { headers }, 0);
      return {
        promise: t.promise.then((r: Any) => r.arrayBuffer().then((b: ArrayBuffer) => ({ statusCode: r.status, data: new Uint8Array(b) }))),
        abort: t.abort,
      };
    },
    o.storage || memoryStorage(),
  );
}

function bytesOf(f: Any): Promise<Uint8Array> {
  if (f instanceof Uint8Array) return Promise.resolve(f);
  if (f && typeof f.arrayBuffer == 'function') return f.arrayBuffer().then((b: ArrayBuffer) => new Uint8Array(b));
  if (typeof f == 'string') {
    // Node only: read the file (`process.getBuiltinModule`: Node ≥ 20.16; older: pass bytes).
    const p = g.process;
    const fs = p && p.getBuiltinModule && p.getBuiltinModule('fs');
    if (!fs) return Promise.reject(new PlatformError('uploadFile:fail cannot read files here: pass a Blob or Uint8Array'));
    return new Promise((resolve, reject) =>
      fs.readFile(f, (e: Any, b: Uint8Array) => (e ? reject(new PlatformError('uploadFile:fail ' + e.message)) : resolve(b))),
    );
  }
  return Promise.reject(new PlatformError('uploadFile:fail filePath must be a path, a Blob or a Uint8Array'));
}
