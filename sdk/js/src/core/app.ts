// An initialised app: what `minibase.init({url})` answers. wx.cloud's surface: `auth`,
// `database()`, `callFunction`, `uploadFile`, `downloadFile`, `getTempFileURL`, `deleteFile`,
// plus `requestPayment`.
import { Adapter, PlatformError, Progress, Task } from '../adapters/types';
import { Database } from '../db/database';
import { Auth } from './auth';
import { Callbacks, settle } from './callback';
import { apiError, invalid, MinibaseError, platformError } from './errors';
import { Http } from './http';
import { Realtime, RealtimeOptions } from './realtime';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export interface InitOptions {
  /** Your Minibase server: `https://api.example.com` (add it to the request, socket,
   * uploadFile and downloadFile legal domains). */
  url: string;
  /** `wx`, `qq`, `tt`, `my`, `swan`, `uni`, `taro`, `browser`, `node`, or an adapter object;
   * detected when omitted. */
  platform?: string | Adapter;
  /** Taro's object (`import Taro from '@tarojs/taro'`), with `platform: 'taro'`. */
  taro?: Any;
  /** The login provider (`wechat`, `qq`, `douyin`, `alipay`, `baidu`); follows the platform. */
  provider?: string;
  /** Sign in with the platform's login code on the first call that needs it (default true). */
  autoSignIn?: boolean;
  /** Server-side code only (Node, never a mini program): call as a service with this key. */
  serviceKey?: string;
  /** Per request, ms (default 15000). */
  timeout?: number;
  /** Per upload, ms (default 600000). */
  uploadTimeout?: number;
  realtime?: RealtimeOptions;
  /** Browser and Node: a WebSocket constructor, a fetch, a storage. */
  WebSocket?: Any;
  fetch?: Any;
  storage?: Adapter['storage'];
}

export interface UploadFileOptions extends Callbacks<UploadFileResult> {
  /** Where it goes: `avatars/<openid>/head.jpg` → fileID `mb://avatars/<openid>/head.jpg`. */
  cloudPath: string;
  /** The platform's temp path (`wx.chooseMedia`…); a File/Blob in browsers; a path, Blob or
   * Uint8Array in Node. */
  filePath: Any;
  onUploadProgress?: (p: Progress) => void;
}

export interface UploadFileResult {
  fileID: string;
  statusCode: number;
  errMsg: string;
}

/** A Promise of the upload that is also its task, as `wx.uploadFile`'s. */
export interface UploadTask extends Promise<UploadFileResult> {
  abort(): void;
  onProgressUpdate(cb: (p: Progress) => void): void;
  offProgressUpdate(cb: (p: Progress) => void): void;
}

export interface FileInfo {
  fileID: string;
  status: number;
  tempFileURL?: string;
  maxAge?: number;
  code?: string;
  errMsg?: string;
}

const MAX_BATCH = 50;

function utf8Length(s: string) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? (i++, 4) : 3;
  }
  return n;
}

/** The server's cloudPath rules (docs/storage.md), checked before any byte is sent: the
 * server refuses such paths as soon as it reads them, often before the phone has finished
 * sending, and the phone may then see a broken connection instead of the answer. */
export function cloudPathProblem(p: string): string | undefined {
  if (!p) return 'must not be empty';
  if (utf8Length(p) > 850) return 'longer than 850 bytes';
  if (p[0] == '/' || p[p.length - 1] == '/') return "must not start or end with '/'";
  if (p.indexOf('..') >= 0) return "must not contain '..'";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/.test(p)) return 'must not contain control or invisible characters';
  if (/[\\`^"{}[\]~%#?<>|]/.test(p)) return 'must not contain \\ ` ^ " { } [ ] ~ % # ? < > |';
  const segs = p.split('/');
  for (const s of segs) {
    if (!s) return "must not contain '//'";
    if (s == '.') return "must not contain a '.' segment";
    if (utf8Length(s) > 255) return 'a name between slashes is longer than 255 bytes';
  }
  if (segs[0] == '.minibase') return 'the .minibase/ prefix is reserved';
  return undefined;
}

export class App {
  /** @internal */ http: Http;
  auth: Auth;
  /** @internal */ realtime: Realtime;
  private db?: Database;

  constructor(
    public adapter: Adapter,
    private o: InitOptions,
  ) {
    this.http = new Http(o.url, adapter, o.timeout || 15000);
    this.auth = new Auth(this.http, adapter, {
      autoSignIn: o.autoSignIn !== false,
      provider: o.provider,
      serviceKey: o.serviceKey,
    });
    this.http.auth = this.auth;
    this.realtime = new Realtime(this.http, this.auth, adapter, o.realtime);
  }

  /** The database (one per app). */
  database(): Database {
    return this.db || (this.db = new Database(this.http, this.realtime));
  }

  /** Calls a cloud function: `{result}`. Not re-sent after a network failure. */
  callFunction<R = Any>(o: { name: string; data?: Any } & Callbacks<{ result: R; requestID?: string; errMsg: string }>) {
    const op = 'cloud.callFunction';
    const p = (async () => {
      if (!o || !o.name) throw invalid(op, 'name is required');
      let id: string | undefined;
      const res = await this.http.exchange(op, {}, (t) => {
        const task = this.http.send('POST', '/api/functions/' + encodeURIComponent(o.name), { data: o.data === undefined ? {} : o.data }, t);
        return task;
      });
      for (const k in res.headers) if (k.toLowerCase() == 'x-request-id') id = res.headers[k];
      return { result: (res.body as Any).result as R, requestID: id, errMsg: op + ':ok' };
    })();
    return settle(p, o);
  }

  /** Uploads a file (multipart `file` + `cloudPath`). The answer is a Promise and a task:
   * `abort()`, `onProgressUpdate(cb)`. */
  uploadFile(o: UploadFileOptions): UploadTask {
    const op = 'cloud.uploadFile';
    let inner: Task<Any> | undefined;
    let aborted = false;
    const listeners: ((p: Progress) => void)[] = [];
    if (o && o.onUploadProgress) listeners.push(o.onUploadProgress);
    const p = (async () => {
      if (!o || typeof o.cloudPath != 'string') throw invalid(op, 'cloudPath is required');
      const problem = cloudPathProblem(o.cloudPath);
      if (problem) throw invalid(op, 'cloudPath ' + problem);
      if (o.filePath == null) throw invalid(op, 'filePath is required');
      const res = await this.http.exchange(op, {}, (token) => {
        if (aborted) return Promise.reject(new PlatformError('uploadFile:fail abort', true));
        inner = this.adapter.upload({
          url: this.http.base + '/api/storage/upload',
          headers: this.http.headers(token),
          filePath: o.filePath,
          name: 'file',
          formData: { cloudPath: o.cloudPath },
          timeout: this.o.uploadTimeout || 600000,
          onProgress: (e) => {
            for (const l of listeners.slice()) l(e);
          },
        });
        return inner.promise;
      });
      return { fileID: (res.body as Any).fileID as string, statusCode: res.status, errMsg: op + ':ok' };
    })();
    settle(p, o);
    const task = p as UploadTask;
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
  getTempFileURL(o: { fileList: (string | { fileID: string; maxAge?: number })[] } & Callbacks<{ fileList: FileInfo[]; errMsg: string }>) {
    const op = 'cloud.getTempFileURL';
    return settle(
      this.batches(op, o && o.fileList, '/api/storage/temp-urls', (f) => (typeof f == 'string' ? { fileID: f } : f), true),
      o,
    );
  }

  /** Deletes files; each entry has its own `status` (0 deleted). */
  deleteFile(o: { fileList: string[] } & Callbacks<{ fileList: FileInfo[]; errMsg: string }>) {
    return settle(
      this.batches('cloud.deleteFile', o && o.fileList, '/api/storage/delete', (f) => f, false),
      o,
    );
  }

  private async batches(op: string, list: Any[], path: string, map: (f: Any) => Any, read: boolean) {
    if (!Array.isArray(list) || !list.length) throw invalid(op, 'fileList must be a non-empty array');
    let out: FileInfo[] = [];
    for (let i = 0; i < list.length; i += MAX_BATCH) {
      const r = await this.http.call<Any>(op, 'POST', path, { fileList: list.slice(i, i + MAX_BATCH).map(map) }, { read });
      out = out.concat(r.fileList);
    }
    return { fileList: out, errMsg: op + ':ok' };
  }

  /** Downloads a file: a temp path in mini programs, an object URL in browsers, the bytes
   * (`data`) in Node. */
  downloadFile(o: { fileID: string } & Callbacks<{ tempFilePath?: string; data?: Uint8Array; statusCode: number; errMsg: string }>) {
    const op = 'cloud.downloadFile';
    const p = (async () => {
      if (!o || !o.fileID) throw invalid(op, 'fileID is required');
      const { fileList } = await this.getTempFileURL({ fileList: [o.fileID] });
      const f = fileList[0];
      if (!f || f.status != 0 || !f.tempFileURL) throw new MinibaseError(op, (f && f.code) || 'NOT_FOUND', (f && f.errMsg) || 'no such file');
      let r;
      try {
        r = await this.adapter.download(f.tempFileURL, {}).promise;
      } catch (e) {
        throw platformError(op, e);
      }
      if (r.statusCode != 200) throw apiError(op, { status: r.statusCode, headers: {}, body: '' });
      return Object.assign(r, { errMsg: op + ':ok' });
    })();
    return settle(p, o);
  }

  /** Pays an order: asks the server for the payment parameters of `orderId` (your
   * `out_trade_no`), then calls the platform's payment (`wx.requestPayment`). Also takes the
   * parameters themselves (`{payment}`) when your function answered them. Trust the order
   * document (`_pay_orders`), not this answer, to know it is paid. */
  requestPayment(o: { orderId?: string; payment?: Record<string, Any> } & Callbacks<{ errMsg: string; orderId?: string }>) {
    const op = 'requestPayment';
    const p = (async () => {
      if (!this.adapter.pay) throw new MinibaseError(op, 'UNSUPPORTED', 'no payment API on ' + this.adapter.name);
      let params = o && o.payment;
      if (!params) {
        if (!o || !o.orderId) throw invalid(op, 'orderId or payment is required');
        const r = await this.http.call<Any>(op, 'POST', '/api/pay/wechat/orders/' + encodeURIComponent(o.orderId) + '/payment', {});
        params = r.payment;
      }
      try {
        await this.adapter.pay(params as Record<string, Any>);
      } catch (e) {
        const err = platformError(op, e);
        if (err.code == 'NETWORK_ERROR') err.code = 'PAYMENT_FAILED';
        throw err;
      }
      return { errMsg: op + ':ok', orderId: o.orderId };
    })();
    return settle(p, o);
  }
}
