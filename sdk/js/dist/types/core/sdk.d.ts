import { Adapter } from '../adapters/types';
import { App, InitOptions } from './app';
import { MinibaseError } from './errors';
export declare const VERSION = "0.1.0";
export declare function makeSdk(pick: (o: InitOptions) => Adapter): {
    /** Starts an app for your server; the latest one is also the default app. */
    init(o: InitOptions): App;
    /** The default app (the latest `init`). */
    app: () => App;
    database: () => import("..").Database;
    callFunction: App["callFunction"];
    uploadFile: App["uploadFile"];
    downloadFile: App["downloadFile"];
    getTempFileURL: App["getTempFileURL"];
    deleteFile: App["deleteFile"];
    requestPayment: App["requestPayment"];
    /** `db.command`, also without a database. */
    command: {
        eq: (v: any) => import("..").Command;
        neq: (v: any) => import("..").Command;
        lt: (v: any) => import("..").Command;
        lte: (v: any) => import("..").Command;
        gt: (v: any) => import("..").Command;
        gte: (v: any) => import("..").Command;
        in: (v: any) => import("..").Command;
        nin: (v: any) => import("..").Command;
        exists: (v: any) => import("..").Command;
        size: (v: any) => import("..").Command;
        mod: (divisor: number | number[], remainder?: number) => import("..").Command;
        all: (v: any) => import("..").Command;
        elemMatch: (v: any) => import("..").Command;
        and: (...c: any[]) => import("..").Command;
        or: (...c: any[]) => import("..").Command;
        nor: (...c: any[]) => import("..").Command;
        not: (v: any) => import("..").Command;
        expr: (v: any) => import("..").Command;
        geoNear: (v: any) => import("..").Command;
        geoWithin: (v: any) => import("..").Command;
        geoIntersects: (v: any) => import("..").Command;
        set: (v: any) => import("..").Command;
        remove: () => import("..").Command;
        inc: (v: any) => import("..").Command;
        mul: (v: any) => import("..").Command;
        min: (v: any) => import("..").Command;
        max: (v: any) => import("..").Command;
        rename: (v: any) => import("..").Command;
        push: (...v: any[]) => import("..").Command;
        pop: () => import("..").Command;
        shift: () => import("..").Command;
        unshift: (...v: any[]) => import("..").Command;
        addToSet: (v: any) => import("..").Command;
        pull: (v: any) => import("..").Command;
        pullAll: (v: any) => import("..").Command;
        aggregate: Record<string, (...args: any[]) => Record<string, unknown>>;
    };
    Geo: {
        Point: {
            new (lng: number, lat: number): import("..").GeoValue;
            (lng: number, lat: number): import("..").GeoValue;
        };
        LineString: {
            new (points: any[]): import("..").GeoValue;
            (points: any[]): import("..").GeoValue;
        };
        Polygon: {
            new (lines: any[]): import("..").GeoValue;
            (lines: any[]): import("..").GeoValue;
        };
        MultiPoint: {
            new (points: any[]): import("..").GeoValue;
            (points: any[]): import("..").GeoValue;
        };
        MultiLineString: {
            new (lines: any[]): import("..").GeoValue;
            (lines: any[]): import("..").GeoValue;
        };
        MultiPolygon: {
            new (polygons: any[]): import("..").GeoValue;
            (polygons: any[]): import("..").GeoValue;
        };
    };
    MinibaseError: typeof MinibaseError;
    version: string;
};
export type Sdk = ReturnType<typeof makeSdk>;
