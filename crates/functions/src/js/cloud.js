// The `cloud` object of `require('wx-server-sdk')` / `require('minibase')`: the CloudBase server
// SDK surface (init, getWXContext, database with db.command, files, callFunction, openapi,
// pay, logger) plus fetch. Everything that leaves the instance goes through
// `internals.hostCall(op, args)` (host.rs), as the wire shapes of API.md §3.
//
// Evaluated once per instance as `(function (internals) {...})`; returns
// `{ cloud, nodeSdk, fetch, Headers, Response }`.
(function (internals) {
  'use strict';
  const { hostCall, wireHooks, toWire, Buffer, format, log } = internals;

  function isPlainObject(v) {
    if (v === null || typeof v !== 'object') return false;
    const p = Object.getPrototypeOf(v);
    return p === Object.prototype || p === null;
  }
  function fail(message, code) {
    const e = new TypeError(message);
    if (code) e.code = code;
    return e;
  }
  // wx-server-sdk style: every API returns a promise and also honours success/fail/complete.
  function withCallbacks(opts, promise) {
    if (opts && (typeof opts.success === 'function' || typeof opts.fail === 'function' || typeof opts.complete === 'function')) {
      promise.then(
        (r) => { if (typeof opts.success === 'function') opts.success(r); if (typeof opts.complete === 'function') opts.complete(r); },
        (e) => { if (typeof opts.fail === 'function') opts.fail(e); if (typeof opts.complete === 'function') opts.complete(e); },
      );
    }
    return promise;
  }

  // ================================================================ database

  const TYPED_KEYS = ['$date', '$regex', '$options', '$serverDate', '$bytes'];
  function isOperatorObject(v) {
    if (!isPlainObject(v)) return false;
    const keys = Object.keys(v);
    return keys.length > 0 && keys.every((k) => k.charAt(0) === '$' && TYPED_KEYS.indexOf(k) === -1);
  }

  class ServerDate {
    constructor(opts) {
      const offset = opts && opts.offset !== undefined ? Number(opts.offset) : 0;
      if (!isFinite(offset)) throw fail('serverDate offset must be a number of milliseconds');
      this.offset = offset;
    }
  }
  class DbRegExp {
    constructor(opts) {
      if (!opts || typeof opts.regexp !== 'string') throw fail('db.RegExp({regexp, options}) needs a regexp string');
      this.regexp = opts.regexp;
      this.options = typeof opts.options === 'string' ? opts.options : '';
    }
  }

  // Query commands (`_.gt(3)`), logic (`_.or(...)`, `.and(...)`) and update commands (`_.inc(1)`).
  class QueryCommand {
    constructor(op, operand) { this.op = op; this.operand = operand; }
    and(...args) { return new LogicCommand('and', [this].concat(flatArgs(args))); }
    or(...args) { return new LogicCommand('or', [this].concat(flatArgs(args))); }
  }
  class LogicCommand {
    constructor(op, operands) { this.op = op; this.operands = operands; }
    and(...args) { return new LogicCommand('and', [this].concat(flatArgs(args))); }
    or(...args) { return new LogicCommand('or', [this].concat(flatArgs(args))); }
  }
  class UpdateCommand {
    constructor(op, operand) { this.op = op; this.operand = operand; }
  }
  function flatArgs(args) { return args.length === 1 && Array.isArray(args[0]) ? args[0] : args; }

  function fieldExpr(v) {
    if (v instanceof QueryCommand) {
      const op = v.op, x = v.operand;
      switch (op) {
        case 'in': case 'nin': case 'all':
          if (!Array.isArray(x)) throw fail('_.' + op + '() expects an array');
          return { ['$' + op]: toWire(x, 0) };
        case 'exists': return { $exists: !!x };
        case 'size':
          if (typeof x !== 'number') throw fail('_.size() expects a number');
          return { $size: x };
        case 'mod': return { $mod: x };
        case 'elemMatch':
          return { $elemMatch: x instanceof QueryCommand || x instanceof LogicCommand ? fieldExpr(x) : encodeWhere(x) };
        default: return { ['$' + op]: toWire(x, 0) };
      }
    }
    if (v instanceof LogicCommand) {
      if (v.op === 'not') return { $not: fieldExpr(v.operands[0]) };
      return { ['$' + v.op]: v.operands.map(fieldExpr) };
    }
    if (v instanceof UpdateCommand) throw fail('update command _.' + v.op + '() can only be used in update data');
    if (isOperatorObject(v)) return toWire(v, 0);
    return { $eq: toWire(v, 0) };
  }

  // Conditions on paths, ANDed; a path that would get two incompatible conditions goes into `$and`.
  class Clauses {
    constructor() { this.obj = {}; this.extra = []; }
    add(path, expr) {
      if (!Object.prototype.hasOwnProperty.call(this.obj, path)) { this.obj[path] = expr; return; }
      const prev = this.obj[path];
      if (isOperatorObject(prev) && isOperatorObject(expr) && Object.keys(expr).every((k) => !(k in prev))) {
        this.obj[path] = Object.assign({}, prev, expr);
      } else {
        this.extra.push({ [path]: expr });
      }
    }
    build() {
      if (this.extra.length === 0) return this.obj;
      const parts = Object.keys(this.obj).length ? [this.obj].concat(this.extra) : this.extra;
      return parts.length === 1 ? parts[0] : { $and: parts };
    }
  }

  function encodeWhere(cond) {
    if (cond instanceof LogicCommand) {
      if (cond.op === 'not') throw fail('_.not() must be used on a field: where({ field: _.not(...) })');
      return { ['$' + cond.op]: cond.operands.map(encodeWhere) };
    }
    if (cond instanceof QueryCommand || cond instanceof UpdateCommand) throw fail('where() expects an object of conditions, e.g. where({ age: _.gt(18) })');
    if (!isPlainObject(cond)) throw fail('where() expects an object of conditions');
    const acc = new Clauses();
    for (const k of Object.keys(cond)) {
      if (cond[k] !== undefined) walkWhere(acc, k, cond[k]);
    }
    return acc.build();
  }
  function walkWhere(acc, path, v) {
    if (v instanceof QueryCommand) { acc.add(path, fieldExpr(v)); return; }
    if (v instanceof LogicCommand) {
      if (v.op === 'and') { for (const o of v.operands) walkWhere(acc, path, o); return; }
      if (v.op === 'not') { acc.add(path, { $not: fieldExpr(v.operands[0]) }); return; }
      acc.extra.push({ ['$' + v.op]: v.operands.map((o) => encodeWhere({ [path]: o })) });
      return;
    }
    if (v instanceof UpdateCommand) throw fail('update command _.' + v.op + '() can only be used in update data');
    if (isPlainObject(v)) {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      if (keys.length === 0) { acc.add(path, { $eq: {} }); return; }
      if (isOperatorObject(v)) { acc.add(path, toWire(v, 0)); return; }
      for (const k of keys) walkWhere(acc, path + '.' + k, v[k]);
      return;
    }
    acc.add(path, toWire(v, 0));
  }

  function updateWire(c) {
    const x = c.operand;
    const num = (name) => { if (typeof x !== 'number' || !isFinite(x)) throw fail('_.' + name + '() expects a number'); return x; };
    const list = (v) => (Array.isArray(v) ? v : [v]);
    switch (c.op) {
      case 'set': return { $set: toWire(x, 0) };
      case 'remove': return { $remove: true };
      case 'inc': return { $inc: num('inc') };
      case 'mul': return { $mul: num('mul') };
      case 'min': return { $min: toWire(x, 0) };
      case 'max': return { $max: toWire(x, 0) };
      case 'rename':
        if (typeof x !== 'string' || !x) throw fail('_.rename() expects the new field path');
        return { $rename: x };
      case 'push': {
        if (isPlainObject(x) && Array.isArray(x.each)) {
          const spec = { each: toWire(x.each, 0) };
          for (const k of ['position', 'sort', 'slice']) if (x[k] !== undefined) spec[k] = toWire(x[k], 0);
          return { $push: spec };
        }
        return { $push: { each: toWire(list(x), 0) } };
      }
      case 'pop': return { $pop: 1 };
      case 'shift': return { $shift: true };
      case 'unshift': return { $unshift: toWire(list(x), 0) };
      case 'addToSet':
        if (isPlainObject(x) && Array.isArray(x.each)) return { $addToSet: { each: toWire(x.each, 0) } };
        return { $addToSet: { each: [toWire(x, 0)] } };
      case 'pull':
        if (x instanceof QueryCommand || x instanceof LogicCommand) return { $pull: fieldExpr(x) };
        if (isPlainObject(x) && !isOperatorObject(x)) return { $pull: encodeWhere(x) };
        return { $pull: toWire(x, 0) };
      case 'pullAll':
        if (!Array.isArray(x)) throw fail('_.pullAll() expects an array');
        return { $pullAll: toWire(x, 0) };
    }
    throw fail('unknown update command ' + c.op);
  }

  function encodeUpdate(data) {
    if (!isPlainObject(data)) throw fail('update data must be an object: update({ data: { ... } })');
    const out = {};
    for (const k of Object.keys(data)) walkUpdate(out, k, data[k]);
    if (Object.keys(out).length === 0) throw fail('update data is empty');
    return out;
  }
  function walkUpdate(out, path, v) {
    if (v === undefined) return;
    if (v instanceof UpdateCommand) { out[path] = updateWire(v); return; }
    if (v instanceof QueryCommand || v instanceof LogicCommand) throw fail('query command _.' + v.op + '() can not be used in update data');
    if (isPlainObject(v)) {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      if (keys.length === 0) { out[path] = { $set: {} }; return; }
      if (isOperatorObject(v)) { out[path] = toWire(v, 0); return; }
      for (const k of keys) walkUpdate(out, path + '.' + k, v[k]);
      return;
    }
    out[path] = toWire(v, 0);
  }

  // Commands and server dates inside documents and operands.
  wireHooks.push((v) => {
    if (v instanceof ServerDate) return { $serverDate: { offset: v.offset } };
    if (v instanceof DbRegExp) return { $regex: v.regexp, $options: v.options };
    if (v instanceof UpdateCommand) throw fail('update command _.' + v.op + '() can only be used in update data');
    if (v instanceof QueryCommand || v instanceof LogicCommand) throw fail('query command _.' + v.op + '() can only be used in where()');
    return undefined;
  });

  const command = {
    eq: (v) => new QueryCommand('eq', v),
    neq: (v) => new QueryCommand('neq', v),
    lt: (v) => new QueryCommand('lt', v),
    lte: (v) => new QueryCommand('lte', v),
    gt: (v) => new QueryCommand('gt', v),
    gte: (v) => new QueryCommand('gte', v),
    in: (v) => new QueryCommand('in', v),
    nin: (v) => new QueryCommand('nin', v),
    exists: (v) => new QueryCommand('exists', v === undefined ? true : v),
    size: (v) => new QueryCommand('size', v),
    mod: (a, b) => new QueryCommand('mod', Array.isArray(a) ? a : [a, b]),
    all: (v) => new QueryCommand('all', v),
    elemMatch: (v) => new QueryCommand('elemMatch', v),
    and: (...args) => new LogicCommand('and', flatArgs(args)),
    or: (...args) => new LogicCommand('or', flatArgs(args)),
    nor: (...args) => new LogicCommand('nor', flatArgs(args)),
    not: (v) => new LogicCommand('not', [v]),
    set: (v) => new UpdateCommand('set', v),
    remove: () => new UpdateCommand('remove', true),
    inc: (v) => new UpdateCommand('inc', v),
    mul: (v) => new UpdateCommand('mul', v),
    min: (v) => new UpdateCommand('min', v),
    max: (v) => new UpdateCommand('max', v),
    rename: (v) => new UpdateCommand('rename', v),
    push: (...args) => new UpdateCommand('push', args.length > 1 ? args : args[0]),
    pop: () => new UpdateCommand('pop', 1),
    shift: () => new UpdateCommand('shift', true),
    unshift: (...args) => new UpdateCommand('unshift', args.length > 1 ? args : args[0]),
    addToSet: (v) => new UpdateCommand('addToSet', v),
    pull: (v) => new UpdateCommand('pull', v),
    pullAll: (v) => new UpdateCommand('pullAll', v),
  };
  for (const name of ['geoNear', 'geoWithin', 'geoIntersects', 'expr', 'aggregate']) {
    Object.defineProperty(command, name, { get() { throw fail('db.command.' + name + ' is not supported by Minibase yet'); } });
  }

  const DEFAULT_LIMIT = 100;
  const MAX_LIMIT = 1000;

  function checkCollection(name) {
    if (typeof name !== 'string' || !name) throw fail('collection name must be a non-empty string');
    return name;
  }
  function checkData(opts, what) {
    if (!opts || typeof opts !== 'object' || !('data' in opts)) throw fail(what + ' expects { data: ... }');
    return opts.data;
  }
  function encodeDoc(data, what) {
    if (!isPlainObject(data)) throw fail(what + ' data must be an object');
    return toWire(data, 0);
  }
  function encodeProjection(p) {
    if (!isPlainObject(p)) throw fail('field() expects an object such as { name: true }');
    const out = {};
    for (const k of Object.keys(p)) out[k] = !!p[k];
    return out;
  }

  class Query {
    constructor(db, coll, state) {
      this._db = db;
      this._coll = coll;
      this._state = state || { where: null, orderBy: [], skip: undefined, limit: undefined, field: undefined };
    }
    _with(change) { return new this.constructor(this._db, this._coll, Object.assign({}, this._state, change)); }
    where(cond) { return this._with({ where: encodeWhere(cond) }); }
    orderBy(field, order) {
      if (typeof field !== 'string' || !field) throw fail('orderBy() expects a field path');
      const dir = String(order === undefined ? 'asc' : order).toLowerCase();
      if (dir !== 'asc' && dir !== 'desc') throw fail("orderBy() direction must be 'asc' or 'desc'");
      return this._with({ orderBy: this._state.orderBy.concat([[field, dir]]) });
    }
    skip(n) {
      if (!Number.isInteger(n) || n < 0) throw fail('skip() expects a non-negative integer');
      return this._with({ skip: n });
    }
    limit(n) {
      if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw fail('limit() expects an integer from 1 to ' + MAX_LIMIT);
      return this._with({ limit: n });
    }
    field(p) { return this._with({ field: encodeProjection(p) }); }
    get(opts) {
      const s = this._state;
      const args = { collection: this._coll, where: s.where || {}, orderBy: s.orderBy, limit: s.limit === undefined ? DEFAULT_LIMIT : s.limit };
      if (s.skip !== undefined) args.skip = s.skip;
      if (s.field !== undefined) args.field = s.field;
      return withCallbacks(opts, hostCall('db.query', args, true).then((r) => ({ data: r.data, errMsg: 'collection.get:ok' })));
    }
    count(opts) {
      return withCallbacks(opts, hostCall('db.count', { collection: this._coll, where: this._state.where || {} }, true)
        .then((r) => ({ total: r.total, errMsg: 'collection.count:ok' })));
    }
    update(opts) {
      if (this._state.where === null) return Promise.reject(fail('call where() before update(); use where({}) to update every document'));
      let data;
      try { data = encodeUpdate(checkData(opts, 'update()')); } catch (e) { return Promise.reject(e); }
      return withCallbacks(opts, hostCall('db.updateWhere', { collection: this._coll, where: this._state.where, data }, true)
        .then((r) => ({ stats: { updated: r.updated }, errMsg: 'collection.update:ok' })));
    }
    remove(opts) {
      if (this._state.where === null) return Promise.reject(fail('call where() before remove(); use where({}) to remove every document'));
      return withCallbacks(opts, hostCall('db.removeWhere', { collection: this._coll, where: this._state.where }, true)
        .then((r) => ({ stats: { removed: r.removed }, errMsg: 'collection.remove:ok' })));
    }
    watch() { throw fail('watch() is not available inside cloud functions; watch from the mini program'); }
  }

  class CollectionReference extends Query {
    get collectionName() { return this._coll; }
    doc(id) {
      if ((typeof id !== 'string' || !id) && typeof id !== 'number') throw fail('doc() expects a document id');
      return new DocumentReference(this._db, this._coll, String(id));
    }
    add(opts) {
      let data;
      try { data = checkData(opts, 'add()'); } catch (e) { return Promise.reject(e); }
      if (Array.isArray(data)) {
        const run = async () => {
          const ids = [];
          for (const d of data) ids.push((await hostCall('db.add', { collection: this._coll, data: encodeDoc(d, 'add()') }, true))._id);
          return { _ids: ids, ids, errMsg: 'collection.add:ok' };
        };
        return withCallbacks(opts, run());
      }
      let doc;
      try { doc = encodeDoc(data, 'add()'); } catch (e) { return Promise.reject(e); }
      return withCallbacks(opts, hostCall('db.add', { collection: this._coll, data: doc }, true).then((r) => ({ _id: r._id, errMsg: 'collection.add:ok' })));
    }
    aggregate() { throw fail('aggregate() is not supported by Minibase yet'); }
  }

  class DocumentReference {
    constructor(db, coll, id, field) { this._db = db; this._coll = coll; this._id = id; this._field = field; }
    get id() { return this._id; }
    field(p) { return new DocumentReference(this._db, this._coll, this._id, encodeProjection(p)); }
    get(opts) {
      const args = { collection: this._coll, id: this._id };
      if (this._field) args.field = this._field;
      return withCallbacks(opts, hostCall('db.get', args, true).then((r) => {
        if (r.data === null || r.data === undefined) {
          const e = new Error('document.get:fail document with _id ' + this._id + ' does not exist');
          e.code = 'NOT_FOUND';
          e.errCode = -1;
          e.errMsg = e.message;
          throw e;
        }
        return { data: r.data, errMsg: 'document.get:ok' };
      }));
    }
    set(opts) {
      let data;
      try {
        data = encodeDoc(checkData(opts, 'set()'), 'set()');
        if ('_id' in data && data._id !== this._id) throw fail('set() data must not contain a different _id');
        delete data._id;
      } catch (e) { return Promise.reject(e); }
      return withCallbacks(opts, hostCall('db.set', { collection: this._coll, id: this._id, data }, true).then((r) => ({
        _id: this._id,
        stats: { updated: r.created ? 0 : 1, created: r.created ? 1 : 0 },
        errMsg: 'document.set:ok',
      })));
    }
    update(opts) {
      let data;
      try { data = encodeUpdate(checkData(opts, 'update()')); } catch (e) { return Promise.reject(e); }
      return withCallbacks(opts, hostCall('db.updateDoc', { collection: this._coll, id: this._id, data }, true)
        .then((r) => ({ stats: { updated: r.updated }, errMsg: 'document.update:ok' })));
    }
    remove(opts) {
      return withCallbacks(opts, hostCall('db.removeDoc', { collection: this._coll, id: this._id }, true)
        .then((r) => ({ stats: { removed: r.removed }, errMsg: 'document.remove:ok' })));
    }
    watch() { throw fail('watch() is not available inside cloud functions; watch from the mini program'); }
  }

  class Database {
    constructor(config) { this.config = config || {}; this.command = command; }
    collection(name) { return new CollectionReference(this, checkCollection(name)); }
    serverDate(opts) { return new ServerDate(opts); }
    RegExp(opts) { return new DbRegExp(opts); }
    createCollection(name) { checkCollection(name); return Promise.resolve({ errMsg: 'createCollection:ok' }); }
    get Geo() { throw fail('db.Geo is not supported by Minibase yet'); }
    startTransaction() { return Promise.reject(fail('transactions are not supported by Minibase yet')); }
    runTransaction() { return Promise.reject(fail('transactions are not supported by Minibase yet')); }
  }

  // ================================================================ fetch

  class Headers {
    constructor(init) {
      this._m = new Map();
      if (!init) return;
      if (init instanceof Headers) { init.forEach((v, k) => this.append(k, v)); return; }
      if (Array.isArray(init)) { for (const [k, v] of init) this.append(k, v); return; }
      for (const k of Object.keys(init)) {
        const v = init[k];
        if (Array.isArray(v)) for (const x of v) this.append(k, x);
        else if (v !== undefined && v !== null) this.append(k, v);
      }
    }
    append(k, v) { k = String(k).toLowerCase(); const l = this._m.get(k); if (l) l.push(String(v)); else this._m.set(k, [String(v)]); }
    set(k, v) { this._m.set(String(k).toLowerCase(), [String(v)]); }
    get(k) { const l = this._m.get(String(k).toLowerCase()); return l ? l.join(', ') : null; }
    getSetCookie() { return (this._m.get('set-cookie') || []).slice(); }
    has(k) { return this._m.has(String(k).toLowerCase()); }
    delete(k) { this._m.delete(String(k).toLowerCase()); }
    forEach(fn, self) { for (const [k, l] of this._m) fn.call(self, l.join(', '), k, this); }
    entries() { return Array.from(this._m, ([k, l]) => [k, l.join(', ')])[Symbol.iterator](); }
    keys() { return Array.from(this._m.keys())[Symbol.iterator](); }
    values() { return Array.from(this._m.values(), (l) => l.join(', '))[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    _pairs() { const out = []; for (const [k, l] of this._m) for (const v of l) out.push([k, v]); return out; }
    _object() { const o = {}; for (const [k, l] of this._m) o[k] = l.join(', '); return o; }
  }

  class Response {
    constructor(r) {
      this.status = r.status;
      this.statusText = r.statusText || '';
      this.url = r.url || '';
      this.redirected = !!r.redirected;
      this.headers = new Headers(r.headers || []);
      this._body = r.body instanceof Uint8Array ? r.body : Buffer.from(r.body || '');
      this.bodyUsed = false;
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    _take() {
      if (this.bodyUsed) return Promise.reject(new TypeError('Body has already been consumed'));
      this.bodyUsed = true;
      return Promise.resolve(this._body);
    }
    text() { return this._take().then((b) => Buffer.from(b).toString('utf8')); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    arrayBuffer() { return this._take().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    buffer() { return this._take().then((b) => Buffer.from(b)); }
    clone() { const c = new Response({ status: this.status, statusText: this.statusText, url: this.url, redirected: this.redirected, headers: this.headers._pairs(), body: this._body }); return c; }
  }

  function requestBody(body, headers) {
    if (body === undefined || body === null) return undefined;
    if (typeof body === 'string') return body;
    if (body instanceof URLSearchParams) {
      if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
      return body.toString();
    }
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return Buffer.from(body instanceof ArrayBuffer ? body : body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    throw new TypeError('fetch body must be a string, Buffer, ArrayBuffer or URLSearchParams (use JSON.stringify for objects)');
  }

  function fetch(input, init) {
    init = init || {};
    try {
      const url = typeof input === 'string' ? input : input && typeof input.url === 'string' ? input.url : String(input);
      const headers = new Headers(init.headers);
      const body = requestBody(init.body, headers);
      const args = {
        url,
        method: String(init.method || 'GET').toUpperCase(),
        headers: headers._pairs(),
        redirect: init.redirect || 'follow',
      };
      if (body !== undefined) args.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      if (init.timeout !== undefined) args.timeout = Number(init.timeout);
      return hostCall('fetch', args).then((r) => new Response(r));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // Laf's `cloud.fetch` is axios: `cloud.fetch({ url, method, params, data, headers })` resolves
  // `{ status, statusText, headers, data }` and rejects on non-2xx. A string first argument
  // means the standard fetch() instead.
  function axiosLike(config) {
    if (!config || typeof config.url !== 'string') return Promise.reject(new TypeError('cloud.fetch(config) needs config.url'));
    let url = config.url;
    if (config.baseURL && !/^https?:\/\//i.test(url)) url = config.baseURL.replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
    if (config.params) {
      const p = new URLSearchParams();
      for (const k of Object.keys(config.params)) { const v = config.params[k]; if (v !== undefined && v !== null) p.append(k, v); }
      const qs = p.toString();
      if (qs) url += (url.indexOf('?') === -1 ? '?' : '&') + qs;
    }
    const headers = new Headers(config.headers);
    let body = config.data;
    if (body !== undefined && body !== null && typeof body === 'object' && !(body instanceof URLSearchParams) && !(body instanceof ArrayBuffer) && !ArrayBuffer.isView(body)) {
      body = JSON.stringify(body);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json;charset=utf-8');
    }
    return fetch(url, { method: config.method || 'GET', headers, body, timeout: config.timeout }).then(async (res) => {
      let data;
      const type = config.responseType;
      if (type === 'arraybuffer' || type === 'buffer') data = await res.buffer();
      else {
        const text = await res.text();
        data = text;
        if (type !== 'text') { try { data = JSON.parse(text); } catch (e) { data = text; } }
      }
      const response = { status: res.status, statusText: res.statusText, headers: res.headers._object(), data, config };
      const valid = typeof config.validateStatus === 'function' ? config.validateStatus(res.status) : res.status >= 200 && res.status < 300;
      if (!valid) {
        const e = new Error('Request failed with status code ' + res.status);
        e.response = response;
        e.status = res.status;
        throw e;
      }
      return response;
    });
  }
  function cloudFetch(a, b) {
    return typeof a === 'string' ? fetch(a, b) : axiosLike(a);
  }
  for (const m of ['get', 'delete', 'head', 'options']) cloudFetch[m] = (url, config) => axiosLike(Object.assign({}, config, { url, method: m }));
  for (const m of ['post', 'put', 'patch']) cloudFetch[m] = (url, data, config) => axiosLike(Object.assign({}, config, { url, method: m, data }));

  // ================================================================ files

  function fileBytes(content) {
    if (typeof content === 'string') return Buffer.from(content, 'utf8');
    if (content instanceof ArrayBuffer || ArrayBuffer.isView(content)) return Buffer.from(content instanceof ArrayBuffer ? content : content.buffer.slice(content.byteOffset, content.byteOffset + content.byteLength));
    throw fail('uploadFile fileContent must be a Buffer or a string');
  }
  function uploadFile(opts) {
    try {
      if (!opts || typeof opts.cloudPath !== 'string' || !opts.cloudPath) throw fail('uploadFile needs cloudPath');
      const args = { cloudPath: opts.cloudPath, fileContent: fileBytes(opts.fileContent) };
      return withCallbacks(opts, hostCall('storage.upload', args).then((r) => ({ fileID: r.fileID, statusCode: 200, errMsg: 'uploadFile:ok' })));
    } catch (e) { return Promise.reject(e); }
  }
  function downloadFile(opts) {
    if (!opts || typeof opts.fileID !== 'string') return Promise.reject(fail('downloadFile needs fileID'));
    return withCallbacks(opts, hostCall('storage.download', { fileID: opts.fileID }).then((r) => ({ fileContent: r.fileContent, statusCode: 200, errMsg: 'downloadFile:ok' })));
  }
  function getTempFileURL(opts) {
    if (!opts || !Array.isArray(opts.fileList)) return Promise.reject(fail('getTempFileURL needs fileList'));
    const fileList = opts.fileList.map((f) => (typeof f === 'string' ? { fileID: f } : { fileID: f && f.fileID, maxAge: f && f.maxAge }));
    return withCallbacks(opts, hostCall('storage.tempUrls', { fileList }).then((r) => ({ fileList: r.fileList, errMsg: 'getTempFileURL:ok' })));
  }
  function deleteFile(opts) {
    if (!opts || !Array.isArray(opts.fileList)) return Promise.reject(fail('deleteFile needs fileList'));
    return withCallbacks(opts, hostCall('storage.delete', { fileList: opts.fileList }).then((r) => ({ fileList: r.fileList, errMsg: 'deleteFile:ok' })));
  }

  // ================================================================ open APIs and pay

  // `cloud.openapi.<namespace>.<method>(args)`, e.g. cloud.openapi.security.msgSecCheck({...}).
  function namespaceProxy(op, prefix) {
    return new Proxy({}, {
      get(_, key) {
        if (typeof key !== 'string' || key === 'then' || key === 'toJSON') return undefined;
        return (args) => hostCall(op, { api: prefix + key, args: args === undefined ? {} : args });
      },
    });
  }
  const openapi = new Proxy({}, {
    get(_, ns) {
      if (typeof ns !== 'string' || ns === 'then' || ns === 'toJSON') return undefined;
      // Any other open API by its path: cloud.openapi.invoke({ path, method, data }).
      if (ns === 'invoke') return (args) => hostCall('openapi', { api: 'invoke', args: args === undefined ? {} : args });
      return namespaceProxy('openapi', ns + '.');
    },
  });
  const pay = namespaceProxy('pay', '');

  // CloudBase's `cloud.cloudPay` (WeChat Pay v2 field names, camelCase, fen) over Minibase's
  // WeChat Pay v3 methods: the answers keep CloudBase's shape (`returnCode`, `resultCode`,
  // `payment` for wx.requestPayment). Sub-merchant fields (`subMchId`) are not used: Minibase
  // pays as the configured merchant, and notifications go to `wechat_pay.notify_function`.
  const payOk = (name, extra) => Object.assign({ returnCode: 'SUCCESS', returnMsg: 'OK', resultCode: 'SUCCESS', errCode: 0, errMsg: 'cloudPay.' + name + ':ok' }, extra);
  function needNo(args, key) {
    if (!args || typeof args[key] !== 'string' || !args[key]) throw fail('cloudPay needs ' + key);
    return args[key];
  }
  const TRADE_STATE = { NOTPAY: 'NOTPAY', SUCCESS: 'SUCCESS', REFUND: 'REFUND', CLOSED: 'CLOSED', PAYERROR: 'PAYERROR' };
  const cloudPay = {
    unifiedOrder(args) {
      try {
        const outTradeNo = needNo(args, 'outTradeNo');
        if (!Number.isInteger(args.totalFee) || args.totalFee <= 0) throw fail('cloudPay.unifiedOrder needs totalFee (fen, a positive integer)');
        const c = internals.current();
        const openid = args.openid || args.subOpenid || (c && c.wxContext && c.wxContext.OPENID) || '';
        const order = { description: String(args.body || ''), out_trade_no: outTradeNo, amount: { total: args.totalFee }, openid };
        if (args.attach !== undefined) order.attach = String(args.attach);
        return withCallbacks(args, hostCall('pay', { api: 'createOrder', args: order }).then((r) => payOk('unifiedOrder', {
          tradeType: 'JSAPI', outTradeNo: r.out_trade_no, prepayId: r.prepay_id, nonceStr: r.payment && r.payment.nonceStr, payment: r.payment,
        })));
      } catch (e) { return Promise.reject(e); }
    },
    queryOrder(args) {
      try {
        const no = needNo(args, 'outTradeNo');
        return withCallbacks(args, hostCall('pay', { api: 'queryOrder', args: { out_trade_no: no, sync: true } }).then(({ data }) => payOk('queryOrder', {
          outTradeNo: data.out_trade_no, tradeState: TRADE_STATE[data.state] || data.state, transactionId: data.transaction_id || '',
          totalFee: data.amount && data.amount.total, cashFee: data.payer_total !== undefined ? data.payer_total : data.amount && data.amount.total,
          openid: data.openid, attach: data.attach || '', timeEnd: data.paid_at || null,
        })));
      } catch (e) { return Promise.reject(e); }
    },
    closeOrder(args) {
      try {
        const no = needNo(args, 'outTradeNo');
        return withCallbacks(args, hostCall('pay', { api: 'closeOrder', args: { out_trade_no: no } }).then(() => payOk('closeOrder', { outTradeNo: no })));
      } catch (e) { return Promise.reject(e); }
    },
    refund(args) {
      try {
        const no = needNo(args, 'outTradeNo');
        if (!Number.isInteger(args.refundFee) || args.refundFee <= 0) throw fail('cloudPay.refund needs refundFee (fen, a positive integer)');
        const req = { out_trade_no: no, refund: args.refundFee };
        if (args.outRefundNo) req.out_refund_no = String(args.outRefundNo);
        if (args.refundDesc) req.reason = String(args.refundDesc);
        return withCallbacks(args, hostCall('pay', { api: 'refund', args: req }).then((r) => payOk('refund', {
          outTradeNo: r.out_trade_no, outRefundNo: r.out_refund_no, refundId: r.refund_id || '', refundFee: r.refund, totalFee: args.totalFee, refundStatus: r.status,
        })));
      } catch (e) { return Promise.reject(e); }
    },
    queryRefund(args) {
      try {
        const no = needNo(args, 'outTradeNo');
        return withCallbacks(args, hostCall('pay', { api: 'queryOrder', args: { out_trade_no: no } }).then(({ data }) => {
          const refunds = Object.keys(data.refunds || {}).filter((k) => !args.outRefundNo || k === args.outRefundNo).map((k) => {
            const x = data.refunds[k];
            return { outRefundNo: k, refundId: x.refund_id || '', refundFee: x.amount, refundStatus: x.status };
          });
          if (args.outRefundNo && refunds.length === 0) {
            const e = new Error('cloudPay.queryRefund:fail no refund ' + args.outRefundNo + ' of order ' + no);
            e.code = 'NOT_FOUND'; e.errCode = -1; e.errMsg = e.message;
            throw e;
          }
          return payOk('queryRefund', { outTradeNo: no, totalFee: data.amount && data.amount.total, refundCount: refunds.length, refunds });
        }));
      } catch (e) { return Promise.reject(e); }
    },
  };

  // ================================================================ the cloud object

  function getWXContext() {
    const c = internals.current();
    return Object.assign({}, c ? c.wxContext : {});
  }
  function logger() {
    const at = (level) => (...args) => log(level, format(args));
    return { log: at('info'), info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  }
  function callFunction(opts) {
    if (!opts || typeof opts.name !== 'string' || !opts.name) return Promise.reject(fail('callFunction needs name'));
    const data = opts.data === undefined ? {} : opts.data;
    return withCallbacks(opts, hostCall('callFunction', { name: opts.name, data }).then((r) => ({ result: r.result, requestID: r.requestID, errMsg: 'cloud.callFunction:ok' })));
  }

  const DYNAMIC_CURRENT_ENV = Symbol('DYNAMIC_CURRENT_ENV');
  const cloud = {
    DYNAMIC_CURRENT_ENV,
    init() {},
    updateConfig() {},
    getWXContext,
    database: (config) => new Database(config),
    uploadFile,
    downloadFile,
    getTempFileURL,
    deleteFile,
    callFunction,
    openapi,
    pay,
    cloudPay,
    logger,
    fetch: cloudFetch,
  };

  // @cloudbase/node-sdk: `const app = tcb.init({ env }); app.database()...`.
  const app = {
    database: cloud.database,
    uploadFile, downloadFile, getTempFileURL, deleteFile, callFunction,
    auth: () => ({
      getUserInfo() { const c = getWXContext(); return { openId: c.OPENID || '', appId: c.APPID || '', uid: c.UID || '', customUserId: '' }; },
      getEndUserInfo() { const c = getWXContext(); return Promise.resolve({ userInfo: { openId: c.OPENID || '', appId: c.APPID || '', uid: c.UID || '' } }); },
      getClientIP() { return getWXContext().CLIENTIP || ''; },
    }),
    logger,
  };
  const nodeSdk = { init: () => app, SYMBOL_CURRENT_ENV: DYNAMIC_CURRENT_ENV, getCloudbaseContext: () => getWXContext() };

  return { cloud, nodeSdk, fetch, Headers, Response };
});
