import { Adapter, HttpResponse } from '../adapters/types';
export interface CallOptions {
    /** Send the user's token (default true). */
    auth?: boolean;
    /** Idempotent: retried on network failures and 503. */
    read?: boolean;
}
/** What the HTTP core needs from authentication. */
export interface TokenSource {
    /** A token to send (signs in or refreshes first when needed), or undefined (anonymous). */
    token(op: string): Promise<string | undefined>;
    /** `stale` was refused with 401: a newer token (one refresh in flight for all callers). */
    renew(stale: string, op: string): Promise<string>;
    /** Whether 401 answers can be recovered from (not for a fixed service key). */
    canRenew(): boolean;
}
export declare class Http {
    base: string;
    adapter: Adapter;
    timeout: number;
    auth: TokenSource;
    constructor(base: string, adapter: Adapter, timeout: number);
    headers(token?: string): Record<string, string>;
    send(method: string, path: string, body: unknown, token?: string): Promise<HttpResponse>;
    /** Sends with the retry policy above; resolves to the parsed body of a 2xx answer. */
    call<T = unknown>(op: string, method: string, path: string, body?: unknown, o?: CallOptions): Promise<T>;
    /** The retry loop around any exchange (requests, uploads). */
    exchange(op: string, o: CallOptions, go: (token?: string) => Promise<HttpResponse>): Promise<HttpResponse>;
}
export declare function isUnauthenticated(e: unknown): boolean;
