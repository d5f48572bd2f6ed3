import '../db/aggregate';
declare const minibase: {
    init(o: import("..").InitOptions): import("..").App;
    app: () => import("..").App;
    database: () => import("..").Database;
    callFunction: import("..").App["callFunction"];
    uploadFile: import("..").App["uploadFile"];
    downloadFile: import("..").App["downloadFile"];
    getTempFileURL: import("..").App["getTempFileURL"];
    deleteFile: import("..").App["deleteFile"];
    requestPayment: import("..").App["requestPayment"];
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
    MinibaseError: typeof import("..").MinibaseError;
    version: string;
};
export default minibase;
export declare const init: (o: import("..").InitOptions) => import("..").App, app: () => import("..").App, database: () => import("..").Database, callFunction: <R = any>(o: {
    name: string;
    data?: any;
} & import("../core/callback").Callbacks<{
    result: R;
    requestID?: string;
    errMsg: string;
}>) => Promise<{
    result: R;
    requestID: string | undefined;
    errMsg: string;
}>, uploadFile: (o: import("..").UploadFileOptions) => import("..").UploadTask, downloadFile: (o: {
    fileID: string;
} & import("../core/callback").Callbacks<{
    tempFilePath?: string;
    data?: Uint8Array;
    statusCode: number;
    errMsg: string;
}>) => Promise<import("../adapters/types").DownloadResult & {
    errMsg: string;
}>, getTempFileURL: (o: {
    fileList: (string | {
        fileID: string;
        maxAge?: number;
    })[];
} & import("../core/callback").Callbacks<{
    fileList: import("..").FileInfo[];
    errMsg: string;
}>) => Promise<{
    fileList: import("..").FileInfo[];
    errMsg: string;
}>, deleteFile: (o: {
    fileList: string[];
} & import("../core/callback").Callbacks<{
    fileList: import("..").FileInfo[];
    errMsg: string;
}>) => Promise<{
    fileList: import("..").FileInfo[];
    errMsg: string;
}>, requestPayment: (o: {
    orderId?: string;
    payment?: Record<string, any>;
} & import("../core/callback").Callbacks<{
    errMsg: string;
    orderId?: string;
}>) => Promise<{
    errMsg: string;
    orderId: string | undefined;
}>, command: {
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
}, Geo: {
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
}, MinibaseError: typeof import("..").MinibaseError, version: string;
