import { Callbacks } from '../core/callback';
import { Http } from '../core/http';
import { Realtime, Snapshot, Watcher, WatchHandlers } from '../core/realtime';
import { Pipeline } from './aggregate';
import { DbRegExp, ServerDate } from './command';
type Any = any;
/** A stored document: your fields plus `_id` (and `_openid` for documents users created). */
export type Doc<T> = T & {
    _id: string;
    _openid?: string;
};
export interface WriteOptions<T> extends Callbacks {
    data: T;
}
interface QueryState {
    where?: Any;
    orderBy?: [string, 'asc' | 'desc'][];
    skip?: number;
    limit?: number;
    field?: Record<string, boolean>;
}
/** wx.cloud accepts `{success, fail}` in place of options: these calls take them. */
type Cb<T> = Callbacks<T> | undefined;
export declare class Database {
    /** `db.command` (`const _ = db.command`). */
    command: {
        eq: (v: any) => import("./command").Command;
        neq: (v: any) => import("./command").Command;
        lt: (v: any) => import("./command").Command;
        lte: (v: any) => import("./command").Command;
        gt: (v: any) => import("./command").Command;
        gte: (v: any) => import("./command").Command;
        in: (v: any) => import("./command").Command;
        nin: (v: any) => import("./command").Command;
        exists: (v: any) => import("./command").Command;
        size: (v: any) => import("./command").Command;
        mod: (divisor: number | number[], remainder?: number) => import("./command").Command;
        all: (v: any) => import("./command").Command;
        elemMatch: (v: any) => import("./command").Command;
        and: (...c: any[]) => import("./command").Command;
        or: (...c: any[]) => import("./command").Command;
        nor: (...c: any[]) => import("./command").Command;
        not: (v: any) => import("./command").Command;
        expr: (v: any) => import("./command").Command;
        geoNear: (v: any) => import("./command").Command;
        geoWithin: (v: any) => import("./command").Command;
        geoIntersects: (v: any) => import("./command").Command;
        set: (v: any) => import("./command").Command;
        remove: () => import("./command").Command;
        inc: (v: any) => import("./command").Command;
        mul: (v: any) => import("./command").Command;
        min: (v: any) => import("./command").Command;
        max: (v: any) => import("./command").Command;
        rename: (v: any) => import("./command").Command;
        push: (...v: any[]) => import("./command").Command;
        pop: () => import("./command").Command;
        shift: () => import("./command").Command;
        unshift: (...v: any[]) => import("./command").Command;
        addToSet: (v: any) => import("./command").Command;
        pull: (v: any) => import("./command").Command;
        pullAll: (v: any) => import("./command").Command;
        aggregate: Record<string, (...args: any[]) => Record<string, unknown>>;
    };
    /** `db.Geo.Point(lng, lat)`… */
    Geo: {
        Point: {
            new (lng: number, lat: number): import("./command").Geo;
            (lng: number, lat: number): import("./command").Geo;
        };
        LineString: {
            new (points: any[]): import("./command").Geo;
            (points: any[]): import("./command").Geo;
        };
        Polygon: {
            new (lines: any[]): import("./command").Geo;
            (lines: any[]): import("./command").Geo;
        };
        MultiPoint: {
            new (points: any[]): import("./command").Geo;
            (points: any[]): import("./command").Geo;
        };
        MultiLineString: {
            new (lines: any[]): import("./command").Geo;
            (lines: any[]): import("./command").Geo;
        };
        MultiPolygon: {
            new (polygons: any[]): import("./command").Geo;
            (polygons: any[]): import("./command").Geo;
        };
    };
    constructor(
    /** @internal */ http: Http, 
    /** @internal */ rt: Realtime);
    collection<T = Record<string, Any>>(name: string): CollectionReference<T>;
    /** The server's time when the write happens (plus `offset` ms). */
    serverDate(o?: {
        offset?: number;
    }): ServerDate;
    /** A regular expression condition: `db.RegExp({regexp: '^wx', options: 'i'})`. */
    RegExp(o: {
        regexp: string;
        options?: string;
    }): DbRegExp;
    /** A sub-pipeline for `lookup({from, let, pipeline, as})`: `db.pipeline().match(…).done()`. */
    pipeline(): Pipeline;
}
export declare class Query<T> {
    /** The collection's name. */
    name: string;
    constructor(
    /** @internal */ db: Database, 
    /** The collection's name. */
    name: string, 
    /** @internal */ q: QueryState);
    private next;
    /** Conditions: fields and `db.command` operators; replaces earlier conditions. */
    where(cond: Record<string, Any> | Any): Query<T>;
    orderBy(field: string, order?: 'asc' | 'desc'): Query<T>;
    skip(n: number): Query<T>;
    limit(n: number): Query<T>;
    /** Projection: `{title: true}` (only those) or `{content: false}` (all but those). */
    field(f: Record<string, boolean | 0 | 1>): Query<T>;
    /** The matching documents (at most `limit`, 20 when none is given). */
    get(o?: Cb<{
        data: Doc<T>[];
        errMsg: string;
    }>): Promise<{
        data: Doc<T>[];
        errMsg: string;
    }>;
    count(o?: Cb<{
        total: number;
        errMsg: string;
    }>): Promise<{
        total: number;
        errMsg: string;
    }>;
    /** Updates every matching document the rules let you (`stats.updated` says how many). */
    update(o: WriteOptions<Record<string, Any>>): Promise<{
        stats: {
            updated: number;
        };
        errMsg: string;
    }>;
    /** Removes every matching document the rules let you. */
    remove(o?: Cb<{
        stats: {
            removed: number;
        };
        errMsg: string;
    }>): Promise<{
        stats: {
            removed: number;
        };
        errMsg: string;
    }>;
    /** Follows the query live: `onChange(snapshot)` with the whole result and what changed. */
    watch(h: WatchHandlers): Watcher;
}
export declare class CollectionReference<T> extends Query<T> {
    /** Creates a document (`_id` optional); answers its `_id`. Never re-sent after a network
     * failure: see "Retries" in docs/sdk.md. */
    add(o: WriteOptions<T & {
        _id?: string;
    }>): Promise<{
        _id: string;
        errMsg: string;
    }>;
    doc(id: string): DocumentReference<T>;
    aggregate(): Aggregate;
}
export declare class DocumentReference<T> {
    private coll;
    id: string;
    private fields?;
    constructor(coll: CollectionReference<T>, id: string);
    private path;
    private get http();
    /** Projection for `get()`. */
    field(f: Record<string, boolean | 0 | 1>): DocumentReference<T>;
    /** The document; fails with `NOT_FOUND` when it does not exist (or the rules hide it). */
    get(o?: Cb<{
        data: Doc<T>;
        errMsg: string;
    }>): Promise<{
        data: Doc<T>;
        errMsg: string;
    }>;
    /** Replaces the document, or creates it with this `_id`. */
    set(o: WriteOptions<T>): Promise<{
        _id: string;
        stats: {
            updated: number;
            created: number;
        };
        errMsg: string;
    }>;
    /** Updates fields (plain values merge; `db.command` operators apply). */
    update(o: WriteOptions<Record<string, Any>>): Promise<{
        stats: {
            updated: number;
        };
        errMsg: string;
    }>;
    remove(o?: Cb<{
        stats: {
            removed: number;
        };
        errMsg: string;
    }>): Promise<{
        stats: {
            removed: number;
        };
        errMsg: string;
    }>;
    /** Follows this one document. */
    watch(h: WatchHandlers): Watcher;
}
export declare class Aggregate extends Pipeline {
    private coll;
    constructor(coll: Query<Any>);
    /** Runs the pipeline: `{list}` as wx.cloud answers. */
    end(o?: Cb<{
        list: Any[];
        errMsg: string;
    }>): Promise<{
        list: Any[];
        errMsg: string;
    }>;
}
export type { Snapshot, Watcher };
