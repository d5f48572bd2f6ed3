/** A request as the SDK makes it: the body is already a JSON string. */
export interface HttpRequest {
    url: string;
    method: string;
    headers: Record<string, string>;
    body?: string;
    /** Milliseconds. */
    timeout: number;
}
/** An answer: any HTTP status (errors too); `body` is parsed JSON when it parses, else text. */
export interface HttpResponse {
    status: number;
    headers: Record<string, string>;
    body: unknown;
}
/** Upload progress, in both vocabularies (wx's and the browser's). */
export interface Progress {
    progress: number;
    totalBytesSent: number;
    totalBytesExpectedToSend: number;
    loaded: number;
    total: number;
}
export interface UploadRequest {
    url: string;
    headers: Record<string, string>;
    /** A platform temp path (`wxfile://…`, `ttfile://…`), a path on disk (Node), or a
     * File / Blob / Uint8Array (browser, Node). */
    filePath: unknown;
    /** Multipart field of the file: always `file`. */
    name: string;
    formData: Record<string, string>;
    timeout: number;
    onProgress(p: Progress): void;
}
export interface DownloadResult {
    statusCode: number;
    /** Mini programs: the temp path; browsers: an object URL. */
    tempFilePath?: string;
    /** Node: the bytes. */
    data?: Uint8Array;
}
/** A started operation that can be cancelled. */
export interface Task<T> {
    promise: Promise<T>;
    abort(): void;
}
/** The events of a WebSocket, whatever the platform calls them. */
export interface SocketHandlers {
    open(): void;
    message(data: string): void;
    close(code: number, reason: string): void;
    error(message: string): void;
}
export interface Socket {
    send(data: string): void;
    close(code?: number, reason?: string): void;
}
export interface Adapter {
    /** `wx`, `qq`, `tt`, `my`, `swan`, `uni`, `taro`, `browser`, `node`, or your own. */
    name: string;
    /** The login provider: `POST /api/auth/{provider}/login` (`wechat`, `qq`, `douyin`, `alipay`,
     * `baidu`); none where the platform has no login code (browser, Node). */
    provider?: string;
    request(req: HttpRequest): Task<HttpResponse>;
    upload(req: UploadRequest): Task<HttpResponse>;
    download(url: string, headers: Record<string, string>): Task<DownloadResult>;
    /** Opens a WebSocket; `headers` carries the token where the platform can send headers. */
    socket(url: string, headers: Record<string, string>, on: SocketHandlers): Socket;
    /** True when the socket cannot carry headers (browser): the token goes in `?access_token=`. */
    socketTokenInQuery?: boolean;
    storage: {
        get(key: string): string | undefined;
        set(key: string, value: string): void;
        remove(key: string): void;
    };
    /** The platform's login code (`wx.login` → `code`, `my.getAuthCode` → `authCode`…). */
    login?(): Promise<string>;
    /** The platform's payment call, given the server's parameters. */
    pay?(params: Record<string, unknown>): Promise<unknown>;
    /** App returns to the foreground / goes to the background. */
    onShow?(cb: () => void): void;
    onHide?(cb: () => void): void;
}
/** A platform call failed before any HTTP answer (network, timeout, abort, user cancel). */
export declare class PlatformError extends Error {
    errMsg: string;
    aborted: boolean;
    constructor(errMsg: string, aborted?: boolean);
}
