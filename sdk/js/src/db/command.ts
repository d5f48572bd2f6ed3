// `db.command` (`_`): query and update operators, `db.serverDate`, `db.RegExp`, `db.Geo`, and
// how every value is written on the wire (docs/database.md: `$date`, `$serverDate`, `$regex`,
// operator objects, GeoJSON).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** An operator waiting to be written: `_.gt(1)`, `_.inc(2)`, `_.or([...])`. */
export class Command {
  constructor(
    public op: string,
    public args: Any[],
  ) {}
  /** `_.gt(1).and(_.lt(5))` */
  and(...c: Any[]): Command {
    return new Command('and', [this].concat(flat(c)));
  }
  /** `_.eq(1).or(_.eq(2))` */
  or(...c: Any[]): Command {
    return new Command('or', [this].concat(flat(c)));
  }
}

export class ServerDate {
  constructor(public offset = 0) {}
}

export class DbRegExp {
  constructor(
    public regexp: string,
    public options = '',
  ) {}
}

/** A GeoJSON value (`db.Geo.Point(113.3, 23.1)`). */
export class Geo {
  constructor(
    public type: string,
    public coordinates: Any[],
  ) {}
  toJSON() {
    return { type: this.type, coordinates: this.coordinates };
  }
}

function checkPoint(p: Any): number[] {
  const c = p instanceof Geo ? p.coordinates : p;
  if (!Array.isArray(c) || c.length != 2 || typeof c[0] != 'number' || typeof c[1] != 'number' || Math.abs(c[0]) > 180 || Math.abs(c[1]) > 90) {
    throw new TypeError('a point is [longitude -180..180, latitude -90..90]');
  }
  return c;
}
const coords = (list: Any[], f: (x: Any) => Any) => {
  if (!Array.isArray(list)) throw new TypeError('expected an array');
  return list.map((x) => (x instanceof Geo ? x.coordinates : f(x)));
};

/** `db.Geo`: constructors (with or without `new`) of GeoJSON values, as CloudBase's. */
export const GeoNS = {
  Point: function (longitude: number, latitude: number) {
    return new Geo('Point', checkPoint([longitude, latitude]));
  } as Any as { new (lng: number, lat: number): Geo; (lng: number, lat: number): Geo },
  LineString: function (points: Any[]) {
    return new Geo('LineString', coords(points, checkPoint));
  } as Any as { new (points: Any[]): Geo; (points: Any[]): Geo },
  Polygon: function (lines: Any[]) {
    return new Geo('Polygon', coords(lines, (l) => coords(l, checkPoint)));
  } as Any as { new (lines: Any[]): Geo; (lines: Any[]): Geo },
  MultiPoint: function (points: Any[]) {
    return new Geo('MultiPoint', coords(points, checkPoint));
  } as Any as { new (points: Any[]): Geo; (points: Any[]): Geo },
  MultiLineString: function (lines: Any[]) {
    return new Geo('MultiLineString', coords(lines, (l) => coords(l, checkPoint)));
  } as Any as { new (lines: Any[]): Geo; (lines: Any[]): Geo },
  MultiPolygon: function (polygons: Any[]) {
    return new Geo('MultiPolygon', coords(polygons, (p) => coords(p, (l) => coords(l, checkPoint))));
  } as Any as { new (polygons: Any[]): Geo; (polygons: Any[]): Geo },
};

function flat(a: Any[]): Any[] {
  return a.length == 1 && Array.isArray(a[0]) ? a[0] : a;
}

const cmd = (op: string) => (v: Any) => new Command(op, [v]);
const logic = (op: string) => (...c: Any[]) => new Command(op, flat(c));

/** `db.command`. */
export const command = {
  // comparison
  eq: cmd('eq'),
  neq: cmd('neq'),
  lt: cmd('lt'),
  lte: cmd('lte'),
  gt: cmd('gt'),
  gte: cmd('gte'),
  in: cmd('in'),
  nin: cmd('nin'),
  // fields and arrays
  exists: cmd('exists'),
  size: cmd('size'),
  mod: (divisor: number | number[], remainder?: number) =>
    new Command('mod', [Array.isArray(divisor) ? divisor : [divisor, remainder]]),
  all: cmd('all'),
  elemMatch: cmd('elemMatch'),
  // logic
  and: logic('and'),
  or: logic('or'),
  nor: logic('nor'),
  not: cmd('not'),
  expr: cmd('expr'),
  // geo
  geoNear: cmd('geoNear'),
  geoWithin: cmd('geoWithin'),
  geoIntersects: cmd('geoIntersects'),
  // updates
  set: cmd('set'),
  remove: () => new Command('remove', []),
  inc: cmd('inc'),
  mul: cmd('mul'),
  min: cmd('min'),
  max: cmd('max'),
  rename: cmd('rename'),
  push: (...v: Any[]) => new Command('push', v),
  pop: () => new Command('pop', [1]),
  shift: () => new Command('shift', []),
  unshift: (...v: Any[]) => new Command('unshift', v),
  addToSet: cmd('addToSet'),
  pull: cmd('pull'),
  pullAll: cmd('pullAll'),
  /** `db.command.aggregate` (`$`): aggregation expression operators, see aggregate.ts. */
  aggregate: {} as Record<string, (...args: Any[]) => Record<string, unknown>>,
};

/** A plain object (not a Date, a Command, a Geo…). */
function plain(v: Any) {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Writes a value for the wire: Date → `{$date}`, `db.serverDate()` → `{$serverDate}`,
 * RegExp → `{$regex, $options}`, Geo → GeoJSON, commands → operator objects. */
export function encode(v: Any): Any {
  if (v === null || typeof v != 'object') return v;
  if (v instanceof Command) return encodeCommand(v);
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof ServerDate) return { $serverDate: { offset: v.offset } };
  if (v instanceof RegExp) return { $regex: v.source, $options: v.flags.replace(/[^imsx]/g, '') };
  if (v instanceof DbRegExp) return { $regex: v.regexp, $options: v.options };
  if (v instanceof Geo) return v.toJSON();
  if (Array.isArray(v)) return v.map(encode);
  if (!plain(v) && typeof v.toJSON == 'function') return encode(v.toJSON());
  const out: Record<string, Any> = {};
  for (const k in v) if (v[k] !== undefined) out[k] = encode(v[k]);
  return out;
}

const geometry = encode;

function encodeCommand(c: Command): Any {
  const a = c.args;
  const v = a[0];
  switch (c.op) {
    case 'and':
    case 'or':
    case 'nor':
      return { ['$' + c.op]: a.map(encode) };
    case 'mod':
      return { $mod: v };
    case 'geoNear': {
      const o: Any = { $geometry: geometry(v.geometry) };
      if (v.maxDistance !== undefined) o.$maxDistance = v.maxDistance;
      if (v.minDistance !== undefined) o.$minDistance = v.minDistance;
      return { $geoNear: o };
    }
    case 'geoWithin':
      return { $geoWithin: v.centerSphere ? { $centerSphere: [v.centerSphere[0] instanceof Geo ? v.centerSphere[0].coordinates : v.centerSphere[0], v.centerSphere[1]] } : { $geometry: geometry(v.geometry) } };
    case 'geoIntersects':
      return { $geoIntersects: { $geometry: geometry(v.geometry) } };
    case 'remove':
      return { $remove: true };
    case 'shift':
      return { $shift: true };
    case 'push': {
      // _.push(1, 2), _.push([1, 2]), _.push({each, position, sort, slice})
      if (a.length == 1 && v && typeof v == 'object' && !Array.isArray(v) && Array.isArray(v.each)) {
        const o: Any = { each: encode(v.each) };
        for (const k of ['position', 'sort', 'slice']) if (v[k] !== undefined) o[k] = v[k];
        return { $push: o };
      }
      return { $push: encode(a.length == 1 && Array.isArray(v) ? v : a) };
    }
    case 'unshift':
      return { $unshift: encode(a.length == 1 && Array.isArray(v) ? v : a) };
    case 'addToSet':
      return { $addToSet: { each: encode(v && typeof v == 'object' && Array.isArray(v.each) ? v.each : [v]) } };
    default:
      return { ['$' + c.op]: encode(v) };
  }
}
