import { Adapter, Socket, SocketHandlers } from './types';
export type Api = any;
export interface MpOptions {
    provider?: string;
    /** Resolves to the platform's login code. */
    login?: (api: Api) => Promise<string>;
    pay?: (api: Api, params: Record<string, unknown>) => Promise<unknown>;
}
export declare function noop(): void;
/** Reads a failure payload of any platform: wx's `{errMsg}`, Baidu's `{errCode, errMsg}`,
 * Alipay's `{error, errorMessage}`. */
export declare function failMsg(e: Api): string;
/** Text answers are parsed when they are JSON (platforms differ in whether they parse). */
export declare function parseBody(data: unknown): unknown;
/** Calls `fn(opts + callbacks)`, returning the platform's task object and a promise. A
 * platform that also returns a promise (Taro, uni in some builds) has its rejection caught:
 * the callbacks are what we listen to. */
export declare function call<T>(api: Api, fn: string, opts: Record<string, unknown>): {
    task: Api;
    promise: Promise<T>;
};
/** Wires a platform SocketTask (wx's shape, also qq/tt/swan/uni/Taro/Alipay's `multiple`
 * tasks) to the SDK's handlers. Taro answers a promise of the task. */
export declare function wireSocket(t: Api, on: SocketHandlers): Socket;
/** An adapter over a wx-shaped API object. */
export declare function mpAdapter(name: string, api: Api, o?: MpOptions): Adapter;
/** `api.login()` → `code` (wx, qq, tt, Taro). */
export declare function codeLogin(api: Api, fn?: string, extra?: Record<string, unknown>): Promise<string>;
/** `requestPayment(params)` with the server's parameters as they are (WeChat Pay). */
export declare function requestPayment(api: Api, params: Record<string, unknown>): Promise<unknown>;
