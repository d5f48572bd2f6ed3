import { Adapter } from '../adapters/types';
import { Auth } from './auth';
import { MinibaseError } from './errors';
import { Http } from './http';
export interface RealtimeOptions {
    pingInterval?: number;
    pongTimeout?: number;
    reconnectBase?: number;
    reconnectMax?: number;
}
type Doc = Record<string, any> & {
    _id: string;
};
export interface DocChange {
    id: number;
    dataType: 'init' | 'add' | 'update' | 'replace' | 'remove' | 'limit';
    queueType: 'init' | 'enqueue' | 'update' | 'dequeue';
    docId: string;
    doc?: Doc;
    updatedFields?: Record<string, unknown>;
    removedFields?: string[];
}
export interface Snapshot {
    /** Event number of this watcher, from 1. */
    id: number;
    /** `'init'` on the first snapshot only. */
    type?: 'init';
    /** The whole result after the change, in `orderBy` order. */
    docs: Doc[];
    docChanges: DocChange[];
}
export interface WatchHandlers {
    onChange: (snapshot: Snapshot) => void;
    onError?: (error: MinibaseError) => void;
}
export declare class Watcher {
    id: string;
    msg: Record<string, unknown>;
    h: WatchHandlers;
    private rt;
    /** Event number of the last snapshot delivered. */
    eventId: number;
    last: Doc[] | null;
    closed: boolean;
    constructor(id: string, msg: Record<string, unknown>, h: WatchHandlers, rt: Realtime);
    /** Stops the watch (sends `unwatch`; the last watcher closes the connection). */
    close(): Promise<void>;
}
export declare class Realtime {
    private http;
    private auth;
    private adapter;
    private ws?;
    private state;
    private watchers;
    private n;
    private seq;
    private attempt;
    private retryTimer;
    private pingTimer;
    private deadTimer;
    private stale?;
    private check;
    private token?;
    private o;
    /** Connections opened (for tests and diagnostics). */
    opened: number;
    constructor(http: Http, auth: Auth, adapter: Adapter, o?: RealtimeOptions);
    watch(msg: Record<string, unknown>, h: WatchHandlers): Watcher;
    /** Forgets a watcher; `unwatch` tells the server when it still follows it. */
    drop(w: Watcher, unwatch: boolean): void;
    /** Back in the foreground: reconnect now, or check that the open link still answers. */
    wake(): void;
    private shut;
    private connect;
    private retry;
    /** Every watcher ends with `e` (signed out for good). */
    private fail;
    private ping;
    private stopTimers;
    private send;
    private onMessage;
    private deliver;
}
/** Dates come as `{"$date": ms}`: give `Date` objects, as wx.cloud does. */
export declare function decode(v: any): any;
export {};
