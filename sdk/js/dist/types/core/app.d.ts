import { Adapter, Progress } from '../adapters/types';
import { Database } from '../db/database';
import { Auth } from './auth';
import { Callbacks } from './callback';
import { RealtimeOptions } from './realtime';
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
/** The server's cloudPath rules (docs/storage.md), checked before any byte is sent: the
 * server refuses such paths as soon as it reads them, often before the phone has finished
 * sending, and the phone may then see a broken connection instead of the answer. */
export declare function cloudPathProblem(p: string): string | undefined;
export declare class App {
    adapter: Adapter;
    private o;
    auth: Auth;
    private db?;
    constructor(adapter: Adapter, o: InitOptions);
    /** The database (one per app). */
    database(): Database;
    /** Calls a cloud function: `{result}`. Not re-sent after a network failure. */
    callFunction<R = Any>(o: {
        name: string;
        data?: Any;
    } & Callbacks<{
        result: R;
        requestID?: string;
        errMsg: string;
    }>): Promise<{
        result: R;
        requestID: string | undefined;
        errMsg: string;
    }>;
    /** Uploads a file (multipart `file` + `cloudPath`). The answer is a Promise and a task:
     * `abort()`, `onProgressUpdate(cb)`. */
    uploadFile(o: UploadFileOptions): UploadTask;
    /** Temporary URLs of files (`maxAge` in seconds); each entry has its own `status`. */
    getTempFileURL(o: {
        fileList: (string | {
            fileID: string;
            maxAge?: number;
        })[];
    } & Callbacks<{
        fileList: FileInfo[];
        errMsg: string;
    }>): Promise<{
        fileList: FileInfo[];
        errMsg: string;
    }>;
    /** Deletes files; each entry has its own `status` (0 deleted). */
    deleteFile(o: {
        fileList: string[];
    } & Callbacks<{
        fileList: FileInfo[];
        errMsg: string;
    }>): Promise<{
        fileList: FileInfo[];
        errMsg: string;
    }>;
    private batches;
    /** Downloads a file: a temp path in mini programs, an object URL in browsers, the bytes
     * (`data`) in Node. */
    downloadFile(o: {
        fileID: string;
    } & Callbacks<{
        tempFilePath?: string;
        data?: Uint8Array;
        statusCode: number;
        errMsg: string;
    }>): Promise<import("../adapters/types").DownloadResult & {
        errMsg: string;
    }>;
    /** Pays an order: asks the server for the payment parameters of `orderId` (your
     * `out_trade_no`), then calls the platform's payment (`wx.requestPayment`). Also takes the
     * parameters themselves (`{payment}`) when your function answered them. Trust the order
     * document (`_pay_orders`), not this answer, to know it is paid. */
    requestPayment(o: {
        orderId?: string;
        payment?: Record<string, Any>;
    } & Callbacks<{
        errMsg: string;
        orderId?: string;
    }>): Promise<{
        errMsg: string;
        orderId: string | undefined;
    }>;
}
export {};
