// The runtime every function instance starts with: Node-like globals (console, timers,
// Buffer, TextEncoder, URLSearchParams, process), the CommonJS module system confined to the
// function's folder, and the plumbing for asynchronous host calls.
//
// Evaluated once per instance by worker.rs as `(function (native, cloudFactory) {...})`. `native`
// holds the Rust functions (natives.rs); nothing here is reachable from user code except
// what is installed on globalThis or returned by require(). Returns the internal API the
// worker drives: load, invoke, complete, fireTimer.
(function (native, cloudFactory) {
  'use strict';
  const G = globalThis;

  // ---------------------------------------------------------------- formatting and console

  function inspect(v, depth, seen) {
    depth = depth === undefined ? 0 : depth;
    seen = seen || [];
    switch (typeof v) {
      case 'string': return depth === 0 ? v : JSON.stringify(v);
      case 'undefined': return 'undefined';
      case 'function': return '[Function: ' + (v.name || 'anonymous') + ']';
      case 'symbol': return v.toString();
      case 'bigint': return v.toString() + 'n';
      case 'number': case 'boolean': return String(v);
    }
    if (v === null) return 'null';
    if (v instanceof Error) return v.stack ? v.name + ': ' + v.message + '\n' + v.stack : v.name + ': ' + v.message;
    if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return v.toString();
    if (seen.indexOf(v) !== -1) return '[Circular]';
    if (depth > 4) return Array.isArray(v) ? '[Array]' : '[Object]';
    seen.push(v);
    let out;
    if (G.Buffer && v instanceof G.Buffer) {
      out = '<Buffer ' + Array.from(v.subarray(0, 50), (b) => (b < 16 ? '0' : '') + b.toString(16)).join(' ') + (v.length > 50 ? ' ...' : '') + '>';
    } else if (Array.isArray(v)) {
      const items = v.slice(0, 100).map((x) => inspect(x, depth + 1, seen));
      if (v.length > 100) items.push('... ' + (v.length - 100) + ' more items');
      out = '[ ' + items.join(', ') + ' ]';
      if (items.length === 0) out = '[]';
    } else if (v instanceof Map) {
      out = 'Map(' + v.size + ') { ' + Array.from(v, ([k, x]) => inspect(k, depth + 1, seen) + ' => ' + inspect(x, depth + 1, seen)).join(', ') + ' }';
    } else if (v instanceof Set) {
      out = 'Set(' + v.size + ') { ' + Array.from(v, (x) => inspect(x, depth + 1, seen)).join(', ') + ' }';
    } else {
      const keys = Object.keys(v);
      const parts = keys.slice(0, 100).map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ': ' + inspect(v[k], depth + 1, seen));
      out = parts.length ? '{ ' + parts.join(', ') + ' }' : '{}';
    }
    seen.pop();
    return out;
  }

  function format(args) {
    if (args.length === 0) return '';
    let first = args[0];
    let rest = 1;
    let head;
    if (typeof first === 'string' && first.indexOf('%') !== -1) {
      head = first.replace(/%([sdifjoO%])/g, (m, c) => {
        if (c === '%') return '%';
        if (rest >= args.length) return m;
        const a = args[rest++];
        switch (c) {
          case 's': return typeof a === 'string' ? a : inspect(a, 1);
          case 'd': case 'i': return String(c === 'i' ? parseInt(a, 10) : Number(a));
          case 'f': return String(parseFloat(a));
          case 'j': try { return JSON.stringify(a); } catch (e) { return '[Circular]'; }
          default: return inspect(a, 1);
        }
      });
    } else {
      head = inspect(first);
    }
    const tail = [];
    for (let i = rest; i < args.length; i++) tail.push(inspect(args[i]));
    return tail.length ? head + ' ' + tail.join(' ') : head;
  }

  function logAt(level) {
    return function () { native.log(level, format(Array.prototype.slice.call(arguments))); };
  }
  const timersByLabel = new Map();
  const counts = new Map();
  const console = {
    log: logAt('info'), info: logAt('info'), warn: logAt('warn'), error: logAt('error'),
    debug: logAt('debug'), trace: logAt('debug'),
    dir: (v) => native.log('info', inspect(v, 1)),
    table: (v) => native.log('info', inspect(v, 1)),
    assert: (cond, ...rest) => { if (!cond) native.log('error', 'Assertion failed' + (rest.length ? ': ' + format(rest) : '')); },
    time: (label = 'default') => { timersByLabel.set(label, Date.now()); },
    timeEnd: (label = 'default') => {
      const t = timersByLabel.get(label);
      if (t !== undefined) { timersByLabel.delete(label); native.log('info', label + ': ' + (Date.now() - t) + 'ms'); }
    },
    count: (label = 'default') => { const n = (counts.get(label) || 0) + 1; counts.set(label, n); native.log('info', label + ': ' + n); },
  };

  // ---------------------------------------------------------------- errors crossing the boundary

  // What the worker reports when a call fails: name, message, stack, and our code if any.
  function errorInfo(e) {
    if (e instanceof Error) {
      return JSON.stringify({ name: e.name || 'Error', message: String(e.message), stack: e.stack ? String(e.stack) : '', code: typeof e.code === 'string' ? e.code : undefined });
    }
    let message;
    try { message = typeof e === 'string' ? e : JSON.stringify(e); } catch (_) { message = String(e); }
    return JSON.stringify({ name: '', message: String(message), stack: '' });
  }

  function hostError(info) {
    const err = new Error(info.message);
    err.code = info.code;
    err.errCode = info.errCode !== undefined ? info.errCode : -1;
    err.errMsg = info.message;
    if (info.upstream) err.upstream = info.upstream;
    return err;
  }

  // ---------------------------------------------------------------- bytes: Buffer, TextEncoder

  function toU8(v) {
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return null;
  }

  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === 'string') return bufferFromString(value, encodingOrOffset);
      if (value instanceof ArrayBuffer) {
        const off = encodingOrOffset || 0;
        return new Buffer(value, off, length === undefined ? value.byteLength - off : length);
      }
      const u8 = toU8(value);
      if (u8) { const b = new Buffer(u8.length); b.set(u8); return b; }
      if (Array.isArray(value)) { const b = new Buffer(value.length); for (let i = 0; i < value.length; i++) b[i] = value[i] & 255; return b; }
      if (value && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer.from(value.data);
      throw new TypeError('The first argument must be a string, Buffer, ArrayBuffer, Array or array-like object');
    }
    static alloc(size, fill, encoding) {
      const b = new Buffer(size);
      if (fill !== undefined && fill !== 0) {
        if (typeof fill === 'number') b.fill(fill & 255);
        else { const f = Buffer.from(fill, encoding); if (f.length) for (let i = 0; i < size; i++) b[i] = f[i % f.length]; }
      }
      return b;
    }
    static allocUnsafe(size) { return new Buffer(size); }
    static allocUnsafeSlow(size) { return new Buffer(size); }
    static isBuffer(v) { return v instanceof Buffer; }
    static isEncoding(e) { return ['utf8', 'utf-8', 'hex', 'base64', 'base64url', 'latin1', 'binary', 'ascii'].indexOf(String(e).toLowerCase()) !== -1; }
    static byteLength(v, enc) { return typeof v === 'string' ? bufferFromString(v, enc).length : (toU8(v) || []).length; }
    static concat(list, total) {
      if (total === undefined) total = list.reduce((n, b) => n + b.length, 0);
      const out = Buffer.alloc(total);
      let off = 0;
      for (const b of list) { if (off >= total) break; const u = toU8(b); out.set(u.subarray(0, Math.min(u.length, total - off)), off); off += u.length; }
      return out;
    }
    static compare(a, b) { return a.compare(b); }
    toString(encoding, start, end) {
      const u = this.subarray(start || 0, end === undefined ? this.length : end);
      switch (String(encoding || 'utf8').toLowerCase()) {
        case 'utf8': case 'utf-8': return native.utf8Decode(u);
        case 'hex': { let s = ''; for (let i = 0; i < u.length; i++) s += (u[i] < 16 ? '0' : '') + u[i].toString(16); return s; }
        case 'base64': return native.base64Encode(u, false);
        case 'base64url': return native.base64Encode(u, true);
        case 'latin1': case 'binary': case 'ascii': { let s = ''; for (let i = 0; i < u.length; i++) s += String.fromCharCode(encoding === 'ascii' ? u[i] & 127 : u[i]); return s; }
        default: throw new TypeError('Unknown encoding: ' + encoding);
      }
    }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    equals(other) { return this.compare(other) === 0; }
    compare(other) {
      const o = toU8(other);
      const n = Math.min(this.length, o.length);
      for (let i = 0; i < n; i++) if (this[i] !== o[i]) return this[i] < o[i] ? -1 : 1;
      return this.length === o.length ? 0 : this.length < o.length ? -1 : 1;
    }
    slice(start, end) { return this.subarray(start, end); }
    write(string, offset, length, encoding) {
      if (typeof offset === 'string') { encoding = offset; offset = 0; length = undefined; }
      const src = bufferFromString(string, encoding);
      offset = offset || 0;
      const n = Math.min(src.length, this.length - offset, length === undefined ? Infinity : length);
      this.set(src.subarray(0, n), offset);
      return n;
    }
    readUInt8(o = 0) { return this[o]; }
    readUInt16BE(o = 0) { return (this[o] << 8) | this[o + 1]; }
    readUInt32BE(o = 0) { return ((this[o] << 24) >>> 0) + ((this[o + 1] << 16) | (this[o + 2] << 8) | this[o + 3]); }
    readUInt16LE(o = 0) { return this[o] | (this[o + 1] << 8); }
    readUInt32LE(o = 0) { return (this[o] | (this[o + 1] << 8) | (this[o + 2] << 16)) + this[o + 3] * 0x1000000; }
  }
  Object.defineProperty(Buffer, Symbol.species, { get: () => Buffer });
  // Enumerable statics, as Node's (libraries copy them with for…in, e.g. safer-buffer).
  for (const k of Object.getOwnPropertyNames(Buffer)) {
    if (typeof Buffer[k] === 'function') Object.defineProperty(Buffer, k, { enumerable: true });
  }

  function bufferFromString(s, encoding) {
    s = String(s);
    switch (String(encoding || 'utf8').toLowerCase()) {
      case 'utf8': case 'utf-8': return new Buffer(native.utf8Encode(s));
      case 'hex': {
        const n = s.length >> 1;
        const b = new Buffer(n);
        for (let i = 0; i < n; i++) { const x = parseInt(s.substr(i * 2, 2), 16); if (isNaN(x)) return b.subarray(0, i); b[i] = x; }
        return b;
      }
      case 'base64': case 'base64url': return new Buffer(native.base64Decode(s));
      case 'latin1': case 'binary': case 'ascii': { const b = new Buffer(s.length); for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 255; return b; }
      default: throw new TypeError('Unknown encoding: ' + encoding);
    }
  }

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') { return new Uint8Array(native.utf8Encode(String(s))); }
  }
  class TextDecoder {
    constructor(label = 'utf-8') {
      const l = String(label).toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8') throw new RangeError('TextDecoder only supports utf-8');
    }
    get encoding() { return 'utf-8'; }
    decode(v) { return v === undefined ? '' : native.utf8Decode(toU8(v)); }
  }

  function atob(s) { return Buffer.from(String(s), 'base64').toString('latin1'); }
  function btoa(s) {
    s = String(s);
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) throw new Error('btoa: character out of range');
    return Buffer.from(s, 'latin1').toString('base64');
  }

  // ---------------------------------------------------------------- URLSearchParams, querystring

  function decodeComponent(s) {
    s = s.replace(/\+/g, ' ');
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }
  class URLSearchParams {
    constructor(init) {
      this._list = [];
      if (init === undefined || init === null) return;
      if (typeof init === 'string') {
        const s = init.charAt(0) === '?' ? init.slice(1) : init;
        for (const part of s.split('&')) {
          if (!part) continue;
          const eq = part.indexOf('=');
          this._list.push(eq === -1 ? [decodeComponent(part), ''] : [decodeComponent(part.slice(0, eq)), decodeComponent(part.slice(eq + 1))]);
        }
      } else if (init instanceof URLSearchParams) {
        this._list = init._list.slice();
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const [k, v] of init) this._list.push([String(k), String(v)]);
      } else {
        for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
      }
    }
    append(k, v) { this._list.push([String(k), String(v)]); }
    delete(k) { this._list = this._list.filter(([x]) => x !== k); }
    get(k) { const e = this._list.find(([x]) => x === k); return e ? e[1] : null; }
    getAll(k) { return this._list.filter(([x]) => x === k).map(([, v]) => v); }
    has(k) { return this._list.some(([x]) => x === k); }
    set(k, v) {
      const i = this._list.findIndex(([x]) => x === k);
      if (i === -1) { this.append(k, v); return; }
      this._list[i] = [String(k), String(v)];
      this._list = this._list.filter(([x], j) => x !== k || j === i);
    }
    sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); }
    forEach(fn, self) { for (const [k, v] of this._list) fn.call(self, v, k, this); }
    keys() { return this._list.map(([k]) => k)[Symbol.iterator](); }
    values() { return this._list.map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this._list.map((e) => e.slice())[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    get size() { return this._list.length; }
    toString() {
      const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
      return this._list.map(([k, v]) => enc(k) + '=' + enc(v)).join('&');
    }
  }

  const querystring = {
    parse(s, sep = '&', eq = '=') {
      const out = {};
      if (typeof s !== 'string' || s === '') return out;
      for (const part of s.split(sep)) {
        if (!part) continue;
        const i = part.indexOf(eq);
        const k = decodeComponent(i === -1 ? part : part.slice(0, i));
        const v = i === -1 ? '' : decodeComponent(part.slice(i + eq.length));
        if (Object.prototype.hasOwnProperty.call(out, k)) out[k] = [].concat(out[k], v);
        else out[k] = v;
      }
      return out;
    },
    stringify(obj, sep = '&', eq = '=') {
      if (!obj || typeof obj !== 'object') return '';
      const parts = [];
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        const vals = Array.isArray(v) ? v : [v];
        for (const x of vals) parts.push(encodeURIComponent(k) + eq + encodeURIComponent(x === undefined || x === null ? '' : String(x)));
      }
      return parts.join(sep);
    },
    escape: encodeURIComponent,
    unescape: decodeComponent,
  };
  querystring.decode = querystring.parse;
  querystring.encode = querystring.stringify;

  // ---------------------------------------------------------------- timers

  const timers = new Map();
  let timerSeq = 0;
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    const id = ++timerSeq;
    const delay = Math.max(0, Math.min(Number(ms) || 0, 2147483647));
    timers.set(id, { fn, args, repeat: repeat ? Math.max(1, delay) : 0 });
    native.timer(id, delay);
    return id;
  }
  function clearTimer(id) {
    if (id && typeof id === 'object' && typeof id[Symbol.toPrimitive] === 'function') id = id[Symbol.toPrimitive]();
    if (timers.delete(id)) native.clearTimer(id);
  }
  function fireTimer(id) {
    const t = timers.get(id);
    if (!t) return;
    if (t.repeat) native.timer(id, t.repeat);
    else timers.delete(id);
    t.fn.apply(undefined, t.args);
  }
  const setTimeout = (fn, ms, ...args) => addTimer(fn, ms, args, false);
  const setInterval = (fn, ms, ...args) => addTimer(fn, ms, args, true);
  const setImmediate = (fn, ...args) => addTimer(fn, 0, args, false);
  const queueMicrotask = (fn) => { Promise.resolve().then(fn); };

  // ---------------------------------------------------------------- host calls

  // Values crossing to the host: Dates, RegExps and bytes become typed wire values; the
  // cloud library adds its own kinds (commands, server dates) through `wireHooks`.
  const wireHooks = [];
  function toWire(v, depth) {
    if (depth > 64) throw new TypeError('value nested too deeply (or circular)');
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'number' && !isFinite(v)) return null;
      if (typeof v === 'bigint') throw new TypeError('BigInt values are not supported');
      return v;
    }
    for (const hook of wireHooks) { const r = hook(v, depth); if (r !== undefined) return r; }
    if (v instanceof Date) {
      if (isNaN(v.getTime())) throw new TypeError('Invalid Date');
      return { $date: v.getTime() };
    }
    if (v instanceof RegExp) return { $regex: v.source, $options: v.flags.replace(/[^imsux]/g, '') };
    const u8 = toU8(v);
    if (u8) return { $bytes: native.base64Encode(u8, false) };
    if (Array.isArray(v)) return v.map((x) => (x === undefined || typeof x === 'function' ? null : toWire(x, depth + 1)));
    if (typeof v.toJSON === 'function' && Object.getPrototypeOf(v) !== Object.prototype) return toWire(v.toJSON(), depth + 1);
    const out = {};
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      out[k] = toWire(x, depth + 1);
    }
    return out;
  }
  function fromWire(v) {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = fromWire(v[i]); return v; }
    const keys = Object.keys(v);
    if (keys.length === 1) {
      if (keys[0] === '$date' && typeof v.$date === 'number') return new Date(v.$date);
      if (keys[0] === '$bytes' && typeof v.$bytes === 'string') return new Buffer(native.base64Decode(v.$bytes));
    }
    for (const k of keys) v[k] = fromWire(v[k]);
    return v;
  }

  const pending = new Map();
  // `wire`: the arguments are already plain wire JSON (the database builder encodes them), so
  // they need no second walk.
  function hostCall(op, args, wire) {
    let json;
    try {
      json = JSON.stringify(wire ? args : toWire(args === undefined ? {} : args, 0));
    } catch (e) {
      return Promise.reject(e);
    }
    let r;
    try {
      r = native.call(op, json);
    } catch (e) {
      return Promise.reject(e);
    }
    if (typeof r === 'number') return new Promise((resolve, reject) => { pending.set(r, { resolve, reject }); });
    // Answered at once (a database read runs on the instance's own thread).
    if (typeof r === 'string') {
      const v = JSON.parse(r);
      return Promise.resolve(r.indexOf('"$') === -1 ? v : fromWire(v));
    }
    return Promise.reject(hostError(JSON.parse(r.error)));
  }
  function complete(id, ok, payload) {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    const v = JSON.parse(payload);
    // Typed values are rare in answers: walk only when the text has one.
    if (ok) p.resolve(payload.indexOf('"$') === -1 ? v : fromWire(v));
    else p.reject(hostError(v));
  }

  // ---------------------------------------------------------------- process, global

  const startedAt = Date.now();
  const processObj = {
    env: {},
    argv: ['node', 'index.js'],
    platform: 'linux',
    arch: 'x64',
    version: 'v18.0.0',
    versions: { node: '18.0.0', minibase: native.version },
    pid: 1,
    title: 'minibase-function',
    cwd: () => '/var/user',
    uptime: () => (Date.now() - startedAt) / 1000,
    hrtime: Object.assign((prev) => {
      const t = performance.now();
      let s = Math.floor(t / 1000), ns = Math.floor((t % 1000) * 1e6);
      if (prev) { s -= prev[0]; ns -= prev[1]; if (ns < 0) { s -= 1; ns += 1e9; } }
      return [s, ns];
    }, { bigint: () => BigInt(Math.floor(performance.now() * 1e6)) }),
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0 }),
    nextTick: (fn, ...args) => { Promise.resolve().then(() => fn(...args)); },
    on: () => processObj,
    once: () => processObj,
    off: () => processObj,
    emitWarning: (w) => native.log('warn', String(w && w.message ? w.message : w)),
    exit: () => { throw new Error('process.exit() is not available in a cloud function; return from main instead'); },
    stdout: { write: (s) => { native.log('info', String(s).replace(/\n$/, '')); return true; }, isTTY: false, fd: 1, on() { return this; }, once() { return this; }, end() {} },
    stderr: { write: (s) => { native.log('warn', String(s).replace(/\n$/, '')); return true; }, isTTY: false, fd: 2, on() { return this; }, once() { return this; }, end() {} },
    release: { name: 'node' },
    execArgv: [],
    umask: () => 0o22,
    emit: () => false,
    listeners: () => [],
    binding: (name) => { throw new Error('process.binding(' + name + ') is not available on QuickJS'); },
  };

  // ---------------------------------------------------------------- small Node built-ins

  const path = (() => {
    function normalizeParts(parts, absolute) {
      const out = [];
      for (const p of parts) {
        if (!p || p === '.') continue;
        if (p === '..') { if (out.length && out[out.length - 1] !== '..') out.pop(); else if (!absolute) out.push('..'); }
        else out.push(p);
      }
      return out;
    }
    const api = {
      sep: '/',
      delimiter: ':',
      normalize(p) {
        const abs = p.charAt(0) === '/';
        const s = normalizeParts(p.split('/'), abs).join('/');
        return (abs ? '/' : '') + (s || (abs ? '' : '.')) + (p.endsWith('/') && s ? '/' : '');
      },
      join(...parts) { const j = parts.filter((x) => x !== '').join('/'); return j ? api.normalize(j) : '.'; },
      resolve(...parts) {
        let r = '';
        for (let i = parts.length - 1; i >= 0 && r.charAt(0) !== '/'; i--) r = parts[i] + (r ? '/' + r : '');
        if (r.charAt(0) !== '/') r = '/var/user/' + r;
        return '/' + normalizeParts(r.split('/'), true).join('/');
      },
      isAbsolute: (p) => p.charAt(0) === '/',
      dirname(p) { const i = p.replace(/\/+$/, '').lastIndexOf('/'); return i === -1 ? '.' : i === 0 ? '/' : p.slice(0, i); },
      basename(p, ext) { let b = p.replace(/\/+$/, ''); b = b.slice(b.lastIndexOf('/') + 1); return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b; },
      extname(p) { const b = api.basename(p); const i = b.lastIndexOf('.'); return i <= 0 ? '' : b.slice(i); },
      relative(from, to) {
        const a = api.resolve(from).split('/').filter(Boolean), b = api.resolve(to).split('/').filter(Boolean);
        let i = 0; while (i < a.length && i < b.length && a[i] === b[i]) i++;
        return a.slice(i).map(() => '..').concat(b.slice(i)).join('/');
      },
      parse(p) { const base = api.basename(p), ext = api.extname(p); return { root: p.charAt(0) === '/' ? '/' : '', dir: api.dirname(p), base, ext, name: ext ? base.slice(0, -ext.length) : base }; },
      format(o) { return (o.dir ? o.dir + '/' : o.root || '') + (o.base || (o.name || '') + (o.ext || '')); },
    };
    api.posix = api;
    return api;
  })();

  function promisify(fn) {
    return function (...args) {
      return new Promise((resolve, reject) => fn.call(this, ...args, (err, value) => (err ? reject(err) : resolve(value))));
    };
  }
  const inspectFn = (v) => inspect(v, 1);
  inspectFn.custom = Symbol.for('nodejs.util.inspect.custom');
  promisify.custom = Symbol.for('nodejs.util.promisify.custom');
  const warned = new Set();
  const util = {
    format: (...a) => format(a),
    inspect: inspectFn,
    promisify,
    callbackify: (fn) => function (...args) { const cb = args.pop(); fn.apply(this, args).then((v) => cb(null, v), (e) => cb(e)); },
    inherits(ctor, superCtor) {
      Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
      Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
    },
    deprecate: (fn, msg) => function (...a) { if (!warned.has(msg)) { warned.add(msg); native.log('warn', 'DeprecationWarning: ' + msg); } return fn.apply(this, a); },
    debuglog: () => Object.assign(() => {}, { enabled: false }),
    isDeepStrictEqual: (a, b) => { try { return JSON.stringify(a) === JSON.stringify(b); } catch (e) { return false; } },
    isArray: Array.isArray,
    isBuffer: (v) => v instanceof Buffer,
    isString: (v) => typeof v === 'string',
    isNumber: (v) => typeof v === 'number',
    isFunction: (v) => typeof v === 'function',
    isObject: (v) => v !== null && typeof v === 'object',
    isUndefined: (v) => v === undefined,
    isNullOrUndefined: (v) => v === null || v === undefined,
    isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
    isDate: (v) => v instanceof Date,
    isRegExp: (v) => v instanceof RegExp,
    isError: (v) => v instanceof Error,
    types: {
      isDate: (v) => v instanceof Date, isRegExp: (v) => v instanceof RegExp, isPromise: (v) => v instanceof Promise,
      isUint8Array: (v) => v instanceof Uint8Array, isArrayBuffer: (v) => v instanceof ArrayBuffer,
      isAnyArrayBuffer: (v) => v instanceof ArrayBuffer, isArrayBufferView: (v) => ArrayBuffer.isView(v),
      isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView), isNativeError: (v) => v instanceof Error,
      isAsyncFunction: (v) => typeof v === 'function' && v.constructor && v.constructor.name === 'AsyncFunction',
      isGeneratorFunction: (v) => typeof v === 'function' && v.constructor && v.constructor.name === 'GeneratorFunction',
      isMap: (v) => v instanceof Map, isSet: (v) => v instanceof Set,
    },
    stripVTControlCharacters: (s) => String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, ''),
    TextEncoder,
    TextDecoder,
  };

  // A function constructor, as Node's: old-style subclasses call `EventEmitter.call(this)`.
  function EventEmitter(opts) {
    if (!(this instanceof EventEmitter)) return new EventEmitter(opts);
    EventEmitter.init.call(this);
  }
  EventEmitter.init = function () {
    if (!this._events || this._events === Object.getPrototypeOf(this)._events) this._events = Object.create(null);
    if (this._maxListeners === undefined) this._maxListeners = undefined;
  };
  const evs = (ee) => (ee._events && Object.prototype.hasOwnProperty.call(ee, '_events') ? ee._events : (ee._events = Object.create(null)));
  Object.assign(EventEmitter.prototype, {
    on(name, fn) {
      if (typeof fn !== 'function') throw new TypeError('The "listener" argument must be of type function');
      const e = evs(this);
      if (e.newListener) this.emit('newListener', name, fn.listener || fn);
      (e[name] || (e[name] = [])).push(fn);
      return this;
    },
    prependListener(name, fn) { const e = evs(this); (e[name] || (e[name] = [])).unshift(fn); return this; },
    once(name, fn) { const self = this; function w(...a) { self.removeListener(name, w); return fn.apply(self, a); } w.listener = fn; return this.on(name, w); },
    prependOnceListener(name, fn) { const self = this; function w(...a) { self.removeListener(name, w); return fn.apply(self, a); } w.listener = fn; return this.prependListener(name, w); },
    off(name, fn) {
      const e = evs(this);
      const l = e[name];
      if (!l) return this;
      const i = l.findIndex((x) => x === fn || x.listener === fn);
      if (i !== -1) { l.splice(i, 1); if (l.length === 0) delete e[name]; if (e.removeListener) this.emit('removeListener', name, fn); }
      return this;
    },
    emit(name, ...args) {
      const l = evs(this)[name];
      if (!l || l.length === 0) {
        if (name === 'error') { const er = args[0]; if (er instanceof Error) throw er; const e = new Error('Unhandled error.' + (er === undefined ? '' : ' (' + inspect(er) + ')')); e.context = er; throw e; }
        return false;
      }
      for (const fn of l.slice()) fn.apply(this, args);
      return true;
    },
    removeAllListeners(name) { const e = evs(this); if (name === undefined) this._events = Object.create(null); else delete e[name]; return this; },
    listenerCount(name) { return (evs(this)[name] || []).length; },
    listeners(name) { return (evs(this)[name] || []).map((f) => f.listener || f); },
    rawListeners(name) { return (evs(this)[name] || []).slice(); },
    eventNames() { return Object.keys(evs(this)); },
    setMaxListeners(n) { this._maxListeners = n; return this; },
    getMaxListeners() { return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners; },
  });
  EventEmitter.prototype.addListener = EventEmitter.prototype.on;
  EventEmitter.prototype.removeListener = EventEmitter.prototype.off;
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.defaultMaxListeners = 10;
  EventEmitter.listenerCount = (ee, name) => ee.listenerCount(name);
  EventEmitter.once = (ee, name) => new Promise((resolve, reject) => {
    const onErr = (e) => { ee.removeListener(name, onEv); reject(e); };
    const onEv = (...a) => { if (name !== 'error') ee.removeListener('error', onErr); resolve(a); };
    ee.once(name, onEv);
    if (name !== 'error') ee.once('error', onErr);
  });

  function assert(cond, message) { if (!cond) { const e = new Error(message || 'Assertion failed'); e.code = 'ERR_ASSERTION'; throw e; } }
  assert.ok = assert;
  assert.equal = (a, b, m) => assert(a == b, m || a + ' == ' + b);
  assert.strictEqual = (a, b, m) => assert(a === b, m || a + ' === ' + b);
  assert.notStrictEqual = (a, b, m) => assert(a !== b, m || a + ' !== ' + b);
  assert.deepStrictEqual = (a, b, m) => assert(util.isDeepStrictEqual(a, b), m || 'values are not deeply equal');

  const crypto = (() => {
    const ALGS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
    function algName(a) {
      const n = String(a).toLowerCase().replace('-', '');
      if (ALGS.indexOf(n) === -1) throw new Error('Digest method not supported: ' + a);
      return n;
    }
    function toBytes(data, enc) {
      if (typeof data === 'string') return Buffer.from(data, enc || 'utf8');
      const u = toU8(data);
      if (!u) throw new TypeError('data must be a string, Buffer, TypedArray or DataView');
      return u;
    }
    class Hash {
      constructor(alg, key) { this._alg = algName(alg); this._key = key; this._chunks = []; }
      update(data, enc) { this._chunks.push(toBytes(data, enc)); return this; }
      digest(enc) {
        const data = Buffer.concat(this._chunks);
        const out = new Buffer(this._key ? native.hmac(this._alg, this._key, data) : native.hash(this._alg, data));
        return enc ? out.toString(enc) : out;
      }
    }
    return {
      createHash: (alg) => new Hash(alg, null),
      createHmac: (alg, key) => new Hash(alg, toBytes(key)),
      randomBytes(n, cb) {
        const b = new Buffer(native.randomBytes(n >>> 0));
        if (typeof cb === 'function') { queueMicrotask(() => cb(null, b)); return undefined; }
        return b;
      },
      randomUUID: () => native.randomUuid(),
      getRandomValues(arr) { const u = toU8(arr); u.set(new Uint8Array(native.randomBytes(u.length))); return arr; },
      timingSafeEqual(a, b) {
        const x = toU8(a), y = toU8(b);
        if (x.length !== y.length) throw new RangeError('Input buffers must have the same byte length');
        let d = 0;
        for (let i = 0; i < x.length; i++) d |= x[i] ^ y[i];
        return d === 0;
      },
      getHashes: () => ALGS.slice(),
    };
  })();

  const builtins = {
    buffer: { Buffer, constants: { MAX_LENGTH: 0x7fffffff, MAX_STRING_LENGTH: 0x1fffffe8 }, kMaxLength: 0x7fffffff },
    util,
    path,
    querystring,
    events: EventEmitter,
    assert,
    crypto,
    timers: { setTimeout, setInterval, setImmediate, clearTimeout: clearTimer, clearInterval: clearTimer, clearImmediate: clearTimer },
    process: processObj,
    console,
    perf_hooks: { performance: G.performance },
  };
  // The rest of the Node built-ins functions use live in builtins.js, evaluated the first time
  // one of them is required (most functions never do: no cost for them).
  let lib = null;
  function nodeLib() {
    if (!lib) {
      lib = native.builtins()({
        native, Buffer, EventEmitter, util, hostCall, toU8, process: processObj, path, querystring, URLSearchParams,
        setTimeout, clearTimeout: clearTimer, setImmediate, inspect, crypto,
      });
    }
    return lib;
  }
  const LAZY = ['os', 'url', 'string_decoder', 'punycode', 'tty', 'net', 'tls', 'dns', 'http2', 'readline', 'stream', 'stream/promises', 'http', 'https', 'fs', 'fs/promises', 'zlib'];
  for (const name of LAZY) {
    Object.defineProperty(builtins, name, { get: () => nodeLib()[name], enumerable: true, configurable: true });
  }
  for (const k of ['createCipheriv', 'createDecipheriv', 'createSign', 'createVerify', 'publicEncrypt', 'privateDecrypt', 'sign', 'verify']) {
    crypto[k] = (...a) => nodeLib().cryptoExtra[k](...a);
  }
  crypto.constants = { RSA_PKCS1_PADDING: 1, RSA_NO_PADDING: 3, RSA_PKCS1_OAEP_PADDING: 4 };
  const unavailable = ['child_process', 'dgram', 'cluster', 'worker_threads', 'vm', 'v8', 'module', 'inspector', 'async_hooks', 'repl', 'trace_events', 'wasi'];

  // ---------------------------------------------------------------- globals

  const globals = {
    console, setTimeout, setInterval, setImmediate, clearTimeout: clearTimer, clearInterval: clearTimer,
    clearImmediate: clearTimer, queueMicrotask, Buffer, TextEncoder, TextDecoder, URLSearchParams, atob, btoa,
    process: processObj, global: G,
  };
  for (const k of Object.keys(globals)) {
    Object.defineProperty(G, k, { value: globals[k], writable: true, configurable: true, enumerable: false });
  }
  // URL as a global, as in Node (built on the first use).
  if (typeof G.URL === 'undefined') {
    Object.defineProperty(G, 'URL', { get: () => nodeLib().url.URL, set: (v) => Object.defineProperty(G, 'URL', { value: v, writable: true, configurable: true }), configurable: true, enumerable: false });
  }
  if (typeof G.crypto === 'undefined') {
    Object.defineProperty(G, 'crypto', { value: { getRandomValues: crypto.getRandomValues, randomUUID: crypto.randomUUID }, writable: true, configurable: true });
  }

  // ---------------------------------------------------------------- the cloud SDK

  const internals = { hostCall, wireHooks, toWire, fromWire, Buffer, inspect, format, log: native.log, current: () => current };
  const sdk = cloudFactory(internals);
  for (const k of ['fetch', 'Headers', 'Response']) {
    Object.defineProperty(G, k, { value: sdk[k], writable: true, configurable: true, enumerable: false });
  }
  const sdkModules = {
    'wx-server-sdk': sdk.cloud,
    'minibase': sdk.cloud,
    '@cloudbase/node-sdk': sdk.nodeSdk,
    'tcb-admin-node': sdk.nodeSdk,
  };

  // ---------------------------------------------------------------- CommonJS modules

  const moduleCache = new Map();
  function dirnameOf(p) { const i = p.lastIndexOf('/'); return i <= 0 ? '/' : p.slice(0, i); }

  function makeRequire(fromDir) {
    function require(spec) {
      if (typeof spec !== 'string' || spec === '') throw new TypeError('require() expects a non-empty string');
      if (Object.prototype.hasOwnProperty.call(sdkModules, spec)) return sdkModules[spec];
      const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
      if (Object.prototype.hasOwnProperty.call(builtins, bare)) return builtins[bare];
      if (unavailable.indexOf(bare) !== -1) {
        const e = new Error("Node built-in module '" + bare + "' is not available on the QuickJS runtime: set \"runtime\": \"node\" in this function's config.json (or [functions] runtime = \"node\") to run it on Node.js");
        e.code = 'MODULE_NOT_FOUND';
        throw e;
      }
      const file = native.resolve(fromDir, spec);
      const cached = moduleCache.get(file);
      if (cached) return cached.exports;
      const module = { id: file, filename: file, path: dirnameOf(file), exports: {}, loaded: false, children: [], paths: [] };
      moduleCache.set(file, module);
      try {
        if (file.endsWith('.json')) {
          module.exports = JSON.parse(native.read(file));
        } else {
          const fn = native.compile(native.read(file), file);
          const req = makeRequire(module.path);
          fn.call(module.exports, module.exports, req, module, file, module.path);
        }
      } catch (e) {
        moduleCache.delete(file);
        throw e;
      }
      module.loaded = true;
      return module.exports;
    }
    require.resolve = (spec) => native.resolve(fromDir, spec);
    require.cache = {};
    return require;
  }

  let entry = null;
  // Loads index.js; throws (with the file and line in the stack) when it can't.
  function load(envJson) {
    const env = JSON.parse(envJson);
    for (const k of Object.keys(env)) processObj.env[k] = String(env[k]);
    const exportsValue = makeRequire(native.root)('./index.js');
    let main = null;
    if (exportsValue && typeof exportsValue.main === 'function') main = exportsValue.main;
    else if (typeof exportsValue === 'function') main = exportsValue;
    if (!main) throw new TypeError('index.js must export a main function: exports.main = async (event, context) => { ... }');
    entry = main;
  }

  // ---------------------------------------------------------------- invocations

  let current = null;
  // Starts one invocation; the outcome reaches the worker through native.done(seq, ok, json).
  function invoke(seq, eventJson, contextJson) {
    // Parsed only when the function looks at it (most calls never do).
    let info = null;
    const get = () => info || (info = JSON.parse(contextJson));
    current = { get wxContext() { return get().wxContext; } };
    const event = JSON.parse(eventJson);
    const context = {
      get request_id() { return get().context.request_id; },
      get function_name() { return get().context.function_name; },
      get function_version() { return get().context.function_version; },
      get namespace() { return get().context.namespace; },
      get memory_limit_in_mb() { return get().context.memory_limit_in_mb; },
      get time_limit_in_ms() { return get().context.time_limit_in_ms; },
      get environ() { return get().context.environ; },
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, get().deadline - Date.now()),
    };
    let result;
    try {
      result = Promise.resolve(entry.call(undefined, event, context));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (value) => {
        let json;
        try {
          json = JSON.stringify(value === undefined ? null : value);
          if (json === undefined) json = 'null';
        } catch (e) {
          native.done(seq, false, errorInfo(new TypeError('the value returned by main is not JSON-serialisable: ' + e.message)));
          return;
        }
        native.done(seq, true, json);
      },
      (err) => native.done(seq, false, errorInfo(err)),
    );
  }

  return { load, invoke, complete, fireTimer, errorInfo };
});
