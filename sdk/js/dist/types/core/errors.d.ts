import { HttpResponse } from '../adapters/types';
export interface Upstream {
    service: string;
    errcode?: number;
}
export declare class MinibaseError extends Error {
    /** The HTTP status for errors the server answered; -1 when no answer came (network,
     * timeout, abort, a platform call that failed). */
    errCode: number;
    /** `"collection.get:fail PERMISSION_DENIED: …"`, as wx.cloud writes it. */
    errMsg: string;
    /** The envelope's code (`PERMISSION_DENIED`, `NOT_FOUND`…), or the SDK's own:
     * `NETWORK_ERROR`, `ABORTED`, `CANCELLED` (the user closed a payment or refused a
     * button), `PAYMENT_FAILED` (the platform's payment failed otherwise), `UNSUPPORTED`,
     * `INVALID_ARGUMENT` (refused before sending). */
    code: string;
    statusCode?: number;
    requestId?: string;
    upstream?: Upstream;
    constructor(op: string, code: string, message: string, errCode?: number);
}
export declare function requestIdOf(res: HttpResponse): string | undefined;
export declare function retryAfterMs(res: HttpResponse): number;
/** An error answer of the server (API.md §0 envelope), or anything else a proxy sent. */
export declare function apiError(op: string, res: HttpResponse): MinibaseError;
/** A platform failure (no HTTP answer). */
export declare function platformError(op: string, e: unknown): MinibaseError;
export declare function invalid(op: string, message: string): MinibaseError;
