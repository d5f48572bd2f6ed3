import { Adapter } from './types';
type Any = any;
export interface WebOptions {
    /** A WebSocket constructor where none is global (Node < 22: `require('ws')`). */
    WebSocket?: Any;
    /** A fetch where none is global. */
    fetch?: Any;
    /** Where tokens are kept (Node: memory by default). */
    storage?: Adapter['storage'];
}
/** Browsers: fetch, XMLHttpRequest uploads with progress, localStorage, WebSocket. */
export declare function browserAdapter(o?: WebOptions): Adapter;
/** Node ≥ 18: fetch (global), WebSocket (global from Node 22, else `init({WebSocket:
 * require('ws')})`), tokens in memory unless `storage` is given. `filePath` may be a path on
 * disk, a Blob or a Uint8Array. */
export declare function nodeAdapter(o?: WebOptions): Adapter;
export {};
