// `app.database()`: collections, queries, documents and aggregation with wx.cloud's surface,
// over the documents API (`/api/db/{coll}/…`, docs/api.md). Queries are immutable: every
// `where`/`orderBy`/`skip`/`limit`/`field` answers a new query.
import { Callbacks, settle } from '../core/callback';
import { invalid } from '../core/errors';
import { Http } from '../core/http';
import { decode, Realtime, Snapshot, Watcher, WatchHandlers } from '../core/realtime';
import { Pipeline } from './aggregate';
import { command, DbRegExp, encode, GeoNS, ServerDate } from './command';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** A stored document: your fields plus `_id` (and `_openid` for documents users created). */
export type Doc<T> = T & { _id: string; _openid?: string };

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

const enc = encodeURIComponent;

/** wx.cloud accepts `{success, fail}` in place of options: these calls take them. */
type Cb<T> = Callbacks<T> | undefined;

export class Database {
  /** `db.command` (`const _ = db.command`). */
  command = command;
  /** `db.Geo.Point(lng, lat)`… */
  Geo = GeoNS;

  constructor(
    /** @internal */ public http: Http,
    /** @internal */ public rt: Realtime,
  ) {}

  collection<T = Record<string, Any>>(name: string): CollectionReference<T> {
    return new CollectionReference<T>(this, name, {});
  }

  /** The server's time when the write happens (plus `offset` ms). */
  serverDate(o: { offset?: number } = {}) {
    return new ServerDate(o.offset || 0);
  }

  /** A regular expression condition: `db.RegExp({regexp: '^wx', options: 'i'})`. */
  RegExp(o: { regexp: string; options?: string }) {
    return new DbRegExp(o.regexp, o.options || '');
  }

  /** A sub-pipeline for `lookup({from, let, pipeline, as})`: `db.pipeline().match(…).done()`. */
  pipeline() {
    return new Pipeline();
  }
}

export class Query<T> {
  constructor(
    /** @internal */ protected db: Database,
    /** The collection's name. */
    public name: string,
    /** @internal */ protected q: QueryState,
  ) {}

  private next(patch: QueryState): Query<T> {
    return new Query<T>(this.db, this.name, Object.assign({}, this.q, patch));
  }

  /** @internal */
  path(rest: string) {
    return '/api/db/' + enc(this.name) + rest;
  }

  /** Conditions: fields and `db.command` operators; replaces earlier conditions. */
  where(cond: Record<string, Any> | Any): Query<T> {
    if (!cond || typeof cond != 'object' || Array.isArray(cond)) throw invalid('collection.where', 'where takes an object');
    return this.next({ where: encode(cond) });
  }

  orderBy(field: string, order: 'asc' | 'desc' = 'asc'): Query<T> {
    if (order != 'asc' && order != 'desc') throw invalid('collection.orderBy', "order is 'asc' or 'desc'");
    return this.next({ orderBy: (this.q.orderBy || []).concat([[field, order]]) });
  }

  skip(n: number): Query<T> {
    return this.next({ skip: n });
  }

  limit(n: number): Query<T> {
    return this.next({ limit: n });
  }

  /** Projection: `{title: true}` (only those) or `{content: false}` (all but those). */
  field(f: Record<string, boolean | 0 | 1>): Query<T> {
    const out: Record<string, boolean> = {};
    for (const k in f) out[k] = !!f[k];
    return this.next({ field: out });
  }

  /** The matching documents (at most `limit`, 20 when none is given). */
  get(o?: Cb<{ data: Doc<T>[]; errMsg: string }>): Promise<{ data: Doc<T>[]; errMsg: string }> {
    const body: Any = {};
    const q = this.q;
    if (q.where) body.where = q.where;
    if (q.orderBy) body.orderBy = q.orderBy;
    if (q.skip !== undefined) body.skip = q.skip;
    if (q.limit !== undefined) body.limit = q.limit;
    if (q.field) body.field = q.field;
    return settle(
      this.db.http
        .call<Any>('collection.get', 'POST', this.path('/query'), body, { read: true })
        .then((r) => ({ data: decode(r.data), errMsg: 'collection.get:ok' })),
      o,
    );
  }

  count(o?: Cb<{ total: number; errMsg: string }>): Promise<{ total: number; errMsg: string }> {
    return settle(
      this.db.http
        .call<Any>('collection.count', 'POST', this.path('/count'), { where: this.q.where || {} }, { read: true })
        .then((r) => ({ total: r.total, errMsg: 'collection.count:ok' })),
      o,
    );
  }

  /** Updates every matching document the rules let you (`stats.updated` says how many). */
  update(o: WriteOptions<Record<string, Any>>): Promise<{ stats: { updated: number }; errMsg: string }> {
    return settle(
      this.db.http
        .call<Any>('collection.update', 'POST', this.path('/update'), { where: this.q.where || {}, data: encode(o && o.data) })
        .then((r) => ({ stats: { updated: r.updated }, errMsg: 'collection.update:ok' })),
      o,
    );
  }

  /** Removes every matching document the rules let you. */
  remove(o?: Cb<{ stats: { removed: number }; errMsg: string }>): Promise<{ stats: { removed: number }; errMsg: string }> {
    return settle(
      this.db.http
        .call<Any>('collection.remove', 'POST', this.path('/remove'), { where: this.q.where || {} })
        .then((r) => ({ stats: { removed: r.deleted }, errMsg: 'collection.remove:ok' })),
      o,
    );
  }

  /** Follows the query live: `onChange(snapshot)` with the whole result and what changed. */
  watch(h: WatchHandlers): Watcher {
    const q = this.q;
    if (q.skip) throw invalid('collection.watch', 'skip is not supported by watch');
    if (q.field) throw invalid('collection.watch', 'field is not supported by watch');
    const msg: Any = { collection: this.name };
    if (q.where) msg.where = q.where;
    if (q.orderBy) msg.orderBy = q.orderBy;
    if (q.limit !== undefined) msg.limit = q.limit;
    if (!h || typeof h.onChange != 'function') throw invalid('collection.watch', 'watch needs {onChange}');
    return this.db.rt.watch(msg, h);
  }
}

export class CollectionReference<T> extends Query<T> {
  /** Creates a document (`_id` optional); answers its `_id`. Never re-sent after a network
   * failure: see "Retries" in docs/sdk.md. */
  add(o: WriteOptions<T & { _id?: string }>): Promise<{ _id: string; errMsg: string }> {
    return settle(
      this.db.http
        .call<Any>('collection.add', 'POST', this.path('/docs'), encode(o && o.data))
        .then((r) => ({ _id: r._id, errMsg: 'collection.add:ok' })),
      o,
    );
  }

  doc(id: string): DocumentReference<T> {
    return new DocumentReference<T>(this, String(id));
  }

  aggregate(): Aggregate {
    return new Aggregate(this);
  }
}

export class DocumentReference<T> {
  private fields?: Record<string, boolean>;

  constructor(
    private coll: CollectionReference<T>,
    public id: string,
  ) {}

  private path() {
    return this.coll.path('/docs/' + enc(this.id));
  }

  private get http() {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (this.coll as any).db.http as Http;
  }

  /** Projection for `get()`. */
  field(f: Record<string, boolean | 0 | 1>): DocumentReference<T> {
    const d = new DocumentReference<T>(this.coll, this.id);
    d.fields = {};
    for (const k in f) d.fields[k] = !!f[k];
    return d;
  }

  /** The document; fails with `NOT_FOUND` when it does not exist (or the rules hide it). */
  get(o?: Cb<{ data: Doc<T>; errMsg: string }>): Promise<{ data: Doc<T>; errMsg: string }> {
    const op = 'document.get';
    const p = this.fields
      ? this.coll
          .where({ _id: this.id })
          .field(this.fields)
          .limit(1)
          .get()
          .then((r) => {
            if (!r.data.length) throw notFound(op, this.id);
            return r.data[0];
          })
      : this.http.call<Any>(op, 'GET', this.path(), undefined, { read: true }).then((r) => decode(r.data));
    return settle(
      p.then((data: Doc<T>) => ({ data, errMsg: op + ':ok' })),
      o,
    );
  }

  /** Replaces the document, or creates it with this `_id`. */
  set(o: WriteOptions<T>): Promise<{ _id: string; stats: { updated: number; created: number }; errMsg: string }> {
    const data = encode(o && o.data);
    if (data) delete data._id;
    return settle(
      this.http.call<Any>('document.set', 'PUT', this.path(), data).then((r) => ({
        _id: r._id,
        stats: { updated: r.created ? 0 : 1, created: r.created ? 1 : 0 },
        errMsg: 'document.set:ok',
      })),
      o,
    );
  }

  /** Updates fields (plain values merge; `db.command` operators apply). */
  update(o: WriteOptions<Record<string, Any>>): Promise<{ stats: { updated: number }; errMsg: string }> {
    return settle(
      this.http
        .call<Any>('document.update', 'PATCH', this.path(), { data: encode(o && o.data) })
        .then((r) => ({ stats: { updated: r.updated }, errMsg: 'document.update:ok' })),
      o,
    );
  }

  remove(o?: Cb<{ stats: { removed: number }; errMsg: string }>): Promise<{ stats: { removed: number }; errMsg: string }> {
    return settle(
      this.http
        .call<Any>('document.remove', 'DELETE', this.path())
        .then((r) => ({ stats: { removed: r.deleted }, errMsg: 'document.remove:ok' })),
      o,
    );
  }

  /** Follows this one document. */
  watch(h: WatchHandlers): Watcher {
    return this.coll.where({ _id: this.id }).watch(h);
  }
}

function notFound(op: string, id: string) {
  const e = invalid(op, 'document ' + id + ' does not exist');
  e.code = 'NOT_FOUND';
  e.errCode = 404;
  e.errMsg = e.message = op + ':fail NOT_FOUND: document ' + id + ' does not exist';
  return e;
}

export class Aggregate extends Pipeline {
  constructor(private coll: Query<Any>) {
    super();
  }

  /** Runs the pipeline: `{list}` as wx.cloud answers. */
  end(o?: Cb<{ list: Any[]; errMsg: string }>): Promise<{ list: Any[]; errMsg: string }> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const http = (this.coll as any).db.http as Http;
    return settle(
      http
        .call<Any>('collection.aggregate', 'POST', this.coll.path('/aggregate'), { pipeline: this.stages }, { read: true })
        .then((r) => ({ list: decode(r.data), errMsg: 'collection.aggregate:ok' })),
      o,
    );
  }
}

export type { Snapshot, Watcher };
