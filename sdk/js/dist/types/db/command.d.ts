type Any = any;
/** An operator waiting to be written: `_.gt(1)`, `_.inc(2)`, `_.or([...])`. */
export declare class Command {
    op: string;
    args: Any[];
    constructor(op: string, args: Any[]);
    /** `_.gt(1).and(_.lt(5))` */
    and(...c: Any[]): Command;
    /** `_.eq(1).or(_.eq(2))` */
    or(...c: Any[]): Command;
}
export declare class ServerDate {
    offset: number;
    constructor(offset?: number);
}
export declare class DbRegExp {
    regexp: string;
    options: string;
    constructor(regexp: string, options?: string);
}
/** A GeoJSON value (`db.Geo.Point(113.3, 23.1)`). */
export declare class Geo {
    type: string;
    coordinates: Any[];
    constructor(type: string, coordinates: Any[]);
    toJSON(): {
        type: string;
        coordinates: any[];
    };
}
/** `db.Geo`: constructors (with or without `new`) of GeoJSON values, as CloudBase's. */
export declare const GeoNS: {
    Point: {
        new (lng: number, lat: number): Geo;
        (lng: number, lat: number): Geo;
    };
    LineString: {
        new (points: Any[]): Geo;
        (points: Any[]): Geo;
    };
    Polygon: {
        new (lines: Any[]): Geo;
        (lines: Any[]): Geo;
    };
    MultiPoint: {
        new (points: Any[]): Geo;
        (points: Any[]): Geo;
    };
    MultiLineString: {
        new (lines: Any[]): Geo;
        (lines: Any[]): Geo;
    };
    MultiPolygon: {
        new (polygons: Any[]): Geo;
        (polygons: Any[]): Geo;
    };
};
/** `db.command`. */
export declare const command: {
    eq: (v: Any) => Command;
    neq: (v: Any) => Command;
    lt: (v: Any) => Command;
    lte: (v: Any) => Command;
    gt: (v: Any) => Command;
    gte: (v: Any) => Command;
    in: (v: Any) => Command;
    nin: (v: Any) => Command;
    exists: (v: Any) => Command;
    size: (v: Any) => Command;
    mod: (divisor: number | number[], remainder?: number) => Command;
    all: (v: Any) => Command;
    elemMatch: (v: Any) => Command;
    and: (...c: Any[]) => Command;
    or: (...c: Any[]) => Command;
    nor: (...c: Any[]) => Command;
    not: (v: Any) => Command;
    expr: (v: Any) => Command;
    geoNear: (v: Any) => Command;
    geoWithin: (v: Any) => Command;
    geoIntersects: (v: Any) => Command;
    set: (v: Any) => Command;
    remove: () => Command;
    inc: (v: Any) => Command;
    mul: (v: Any) => Command;
    min: (v: Any) => Command;
    max: (v: Any) => Command;
    rename: (v: Any) => Command;
    push: (...v: Any[]) => Command;
    pop: () => Command;
    shift: () => Command;
    unshift: (...v: Any[]) => Command;
    addToSet: (v: Any) => Command;
    pull: (v: Any) => Command;
    pullAll: (v: Any) => Command;
    /** `db.command.aggregate` (`$`): aggregation expression operators, see aggregate.ts. */
    aggregate: Record<string, (...args: Any[]) => Record<string, unknown>>;
};
/** Writes a value for the wire: Date → `{$date}`, `db.serverDate()` → `{$serverDate}`,
 * RegExp → `{$regex, $options}`, Geo → GeoJSON, commands → operator objects. */
export declare function encode(v: Any): Any;
export {};
