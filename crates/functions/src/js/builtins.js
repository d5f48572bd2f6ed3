// Node built-ins for QuickJS functions, beyond the prelude's: os, url (URL, parse/format/
// resolve), string_decoder, punycode, tty, stream, http/https (a client over the SSRF-guarded
// fetch host call), fs (read-only, the function's own folder), zlib, net/tls/dns (requirable;
// using them says to switch to runtime "node"), and crypto's ciphers, signatures and RSA
// encryption (natives_node.rs). Evaluated by the prelude the first time one is required, as
// `(function (api) {...})`; returns the modules by name.
(function (api) {
  'use strict';
  const { native, Buffer, EventEmitter, util, hostCall, toU8, process, querystring, URLSearchParams, setTimeout, clearTimeout, setImmediate } = api;
  const nextTick = (fn, ...a) => process.nextTick(fn, ...a);

  function nodeOnly(what) {
    const e = new Error(what + ' is not available on the QuickJS runtime: set "runtime": "node" in this function\'s config.json (or [functions] runtime = "node") to run it on Node.js');
    e.code = 'ERR_MINIBASE_NODE_ONLY';
    return e;
  }
  const errno = (message, code) => Object.assign(new Error(message), { code });

  // ================================================================ os

  const os = {
    EOL: '\n', platform: () => 'linux', type: () => 'Linux', arch: () => 'x64', release: () => '5.15.0', version: () => '#1 SMP',
    machine: () => 'x86_64', hostname: () => 'minibase', homedir: () => '/tmp', tmpdir: () => '/tmp', endianness: () => 'LE',
    uptime: () => Math.floor(process.uptime()), loadavg: () => [0, 0, 0], totalmem: () => 2147483648, freemem: () => 1073741824,
    cpus: () => [{ model: 'minibase', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }],
    availableParallelism: () => 1, networkInterfaces: () => ({}),
    userInfo: () => ({ uid: -1, gid: -1, username: 'minibase', homedir: '/tmp', shell: null }),
    constants: { signals: {}, errno: {}, priority: {} }, devNull: '/dev/null',
  };

  // ================================================================ url

  const SPECIAL = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443, 'ftp:': 21, 'file:': null };
  class URL {
    constructor(input, base) {
      const parts = JSON.parse(base === undefined ? native.urlParse(String(input)) : native.urlParse(String(input), String(base instanceof URL ? base.href : base)));
      this._set(parts);
    }
    _set(p) {
      this._p = p;
      if (!this._sp) {
        this._sp = new URLSearchParams(p.search);
        const sp = this._sp, self = this;
        for (const m of ['append', 'delete', 'set', 'sort']) {
          const orig = sp[m];
          sp[m] = function (...a) { const r = orig.apply(sp, a); const q = sp.toString(); self._p = JSON.parse(native.urlSet(self._p.href, 'search', q)); return r; };
        }
      } else {
        this._sp._list = new URLSearchParams(p.search)._list;
      }
    }
    static canParse(input, base) { try { new URL(input, base); return true; } catch (e) { return false; } }
    get href() { return this._p.href; }
    set href(v) { this._set(JSON.parse(native.urlParse(String(v)))); }
    get origin() { return this._p.origin; }
    get searchParams() { return this._sp; }
    toString() { return this._p.href; }
    toJSON() { return this._p.href; }
  }
  for (const k of ['protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']) {
    Object.defineProperty(URL.prototype, k, {
      get() { return this._p[k]; },
      set(v) { this._set(JSON.parse(native.urlSet(this._p.href, k, String(v)))); },
      enumerable: true, configurable: true,
    });
  }

  // The legacy API: url.parse / format / resolve.
  function Url() {
    this.protocol = null; this.slashes = null; this.auth = null; this.host = null; this.port = null; this.hostname = null;
    this.hash = null; this.search = null; this.query = null; this.pathname = null; this.path = null; this.href = null;
  }
  function urlParse(str, parseQuery, slashesDenoteHost) {
    if (str instanceof Url) return str;
    if (typeof str !== 'string') throw new TypeError('The "url" argument must be of type string');
    const u = new Url();
    let rest = str.trim();
    const hashAt = rest.indexOf('#');
    if (hashAt !== -1) { u.hash = rest.slice(hashAt); rest = rest.slice(0, hashAt); }
    const qAt = rest.indexOf('?');
    if (qAt !== -1) { u.search = rest.slice(qAt); rest = rest.slice(0, qAt); } else if (parseQuery) { u.search = ''; }
    u.query = u.search ? u.search.slice(1) : (parseQuery ? '' : null);
    if (parseQuery) u.query = querystring.parse(u.query || '');
    const proto = /^([a-z0-9.+-]+:)/i.exec(rest);
    if (proto) { u.protocol = proto[1].toLowerCase(); rest = rest.slice(proto[1].length); }
    if ((proto || slashesDenoteHost) && rest.startsWith('//') || (u.protocol && u.protocol in SPECIAL && rest.startsWith('//'))) {
      u.slashes = true;
      rest = rest.slice(2);
      const end = rest.search(/[/]/);
      let authority = end === -1 ? rest : rest.slice(0, end);
      rest = end === -1 ? '' : rest.slice(end);
      const at = authority.lastIndexOf('@');
      if (at !== -1) { u.auth = decodeURIComponent(authority.slice(0, at)); authority = authority.slice(at + 1); }
      const pm = /:(\d*)$/.exec(authority);
      if (pm) { u.port = pm[1] || null; authority = authority.slice(0, pm.index); }
      u.hostname = authority.toLowerCase();
      u.host = u.hostname + (u.port ? ':' + u.port : '');
      if (!rest && u.protocol in SPECIAL) rest = '/';
    }
    u.pathname = rest || (u.slashes ? '/' : null);
    if (u.pathname === null && !u.protocol && !u.host) u.pathname = rest;
    u.path = (u.pathname || '') + (u.search || '') || null;
    u.href = urlFormat(u);
    return u;
  }
  function urlFormat(o) {
    if (typeof o === 'string') o = urlParse(o);
    if (o instanceof URL) return o.href;
    let auth = o.auth ? encodeURIComponent(o.auth).replace(/%3A/i, ':') + '@' : '';
    let protocol = o.protocol || '';
    if (protocol && protocol.slice(-1) !== ':') protocol += ':';
    let host = '';
    if (o.host) host = auth + o.host;
    else if (o.hostname) host = auth + (o.hostname.indexOf(':') !== -1 ? '[' + o.hostname + ']' : o.hostname) + (o.port ? ':' + o.port : '');
    let pathname = o.pathname || '';
    let search = o.search || '';
    if (!search && o.query && typeof o.query === 'object' && Object.keys(o.query).length) search = '?' + querystring.stringify(o.query);
    else if (!search && typeof o.query === 'string' && o.query) search = '?' + o.query;
    if (search && search[0] !== '?') search = '?' + search;
    let hash = o.hash || '';
    if (hash && hash[0] !== '#') hash = '#' + hash;
    const slashes = o.slashes || (protocol && protocol in SPECIAL);
    if (slashes || host) { if (pathname && pathname[0] !== '/') pathname = '/' + pathname; host = '//' + host; }
    return protocol + host + pathname + search + hash;
  }
  function urlResolve(from, to) { return new URL(to, new URL(from, 'resolve://')).href.replace(/^resolve:\/\//, ''); }
  Url.prototype.format = function () { return urlFormat(this); };
  Url.prototype.resolve = function (to) { return urlResolve(this.href, to); };
  const url = {
    URL, URLSearchParams, Url, parse: urlParse, format: urlFormat, resolve: urlResolve,
    domainToASCII: (d) => native.domainToASCII(String(d)), domainToUnicode: (d) => native.domainToUnicode(String(d)),
    fileURLToPath: (u) => { const x = typeof u === 'string' ? new URL(u) : u; if (x.protocol !== 'file:') throw new TypeError('The URL must be of scheme file'); return decodeURIComponent(x.pathname); },
    pathToFileURL: (p) => new URL('file://' + encodeURI(p)),
  };

  // ================================================================ string_decoder, punycode, tty

  class StringDecoder {
    constructor(enc) { this.encoding = String(enc || 'utf8').toLowerCase().replace('-', ''); this._rest = null; }
    write(buf) {
      if (typeof buf === 'string') return buf;
      let b = Buffer.from(toU8(buf));
      if (this._rest) { b = Buffer.concat([this._rest, b]); this._rest = null; }
      if (this.encoding === 'utf8') {
        // Keep an incomplete trailing sequence for the next write.
        let i = b.length - 1, n = 0;
        while (i >= 0 && n < 4 && (b[i] & 0xc0) === 0x80) { i--; n++; }
        if (i >= 0) {
          const lead = b[i];
          const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
          if (need > n + 1) { this._rest = b.subarray(i); b = b.subarray(0, i); }
        }
      } else if (this.encoding === 'base64') {
        const keep = b.length % 3;
        if (keep) { this._rest = b.subarray(b.length - keep); b = b.subarray(0, b.length - keep); }
      }
      return b.toString(this.encoding);
    }
    end(buf) { let out = buf ? this.write(buf) : ''; if (this._rest) { out += this._rest.toString(this.encoding); this._rest = null; } return out; }
  }
  const punycode = {
    toASCII: (d) => native.domainToASCII(String(d)) || String(d),
    toUnicode: (d) => native.domainToUnicode(String(d)),
    ucs2: { decode: (s) => Array.from(String(s), (c) => c.codePointAt(0)), encode: (a) => String.fromCodePoint(...a) },
    version: '2.1.0',
  };
  const tty = { isatty: () => false, ReadStream: function ReadStream() { throw nodeOnly('tty.ReadStream'); }, WriteStream: function WriteStream() { throw nodeOnly('tty.WriteStream'); } };

  // ================================================================ stream

  function Stream(opts) { if (!(this instanceof Stream)) return new Stream(opts); EventEmitter.call(this, opts); }
  util.inherits(Stream, EventEmitter);
  // The legacy pipe (for streams that are not Readable).
  Stream.prototype.pipe = function (dest, opts) {
    const src = this;
    src.on('data', (c) => { if (dest.write(c) === false && src.pause) { src.pause(); dest.once('drain', () => src.resume()); } });
    if (!opts || opts.end !== false) src.on('end', () => dest.end());
    dest.emit('pipe', src);
    return dest;
  };

  function Readable(opts) {
    if (!(this instanceof Readable)) return new Readable(opts);
    Stream.call(this, opts);
    opts = opts || {};
    this._rs = { buffer: [], flowing: null, ended: false, endEmitted: false, reading: false, scheduled: false, objectMode: !!(opts.objectMode || opts.readableObjectMode), encoding: null, decoder: null, destroyed: false, readCalled: false, hwm: opts.highWaterMark || 16384, length: 0 };
    if (opts.encoding) this.setEncoding(opts.encoding);
    if (typeof opts.read === 'function') this._read = opts.read;
    if (typeof opts.destroy === 'function') this._destroy = opts.destroy;
    this.readable = true;
    this.destroyed = false;
  }
  util.inherits(Readable, Stream);
  Object.assign(Readable.prototype, {
    _read() {},
    push(chunk, enc) {
      const s = this._rs;
      if (s.destroyed) return false;
      if (chunk === null) { s.ended = true; this._kick(); return false; }
      if (!s.objectMode) {
        if (typeof chunk === 'string') chunk = Buffer.from(chunk, enc);
        else if (!(chunk instanceof Buffer)) chunk = Buffer.from(toU8(chunk) || chunk);
        if (chunk.length === 0) { this._kick(); return true; }
        s.length += chunk.length;
      } else s.length += 1;
      s.buffer.push(chunk);
      this._kick();
      return s.length < s.hwm;
    },
    unshift(chunk) { const s = this._rs; s.buffer.unshift(chunk); s.length += s.objectMode ? 1 : chunk.length; },
    setEncoding(enc) { this._rs.encoding = enc; this._rs.decoder = new StringDecoder(enc); return this; },
    _out(c) { const s = this._rs; return s.decoder && !s.objectMode ? s.decoder.write(c) : c; },
    on(ev, fn) {
      const r = Stream.prototype.on.call(this, ev, fn);
      if (ev === 'data' && this._rs.flowing !== false) this.resume();
      if (ev === 'readable') { this._rs.readCalled = true; this._kick(); }
      return r;
    },
    resume() { const s = this._rs; s.flowing = true; this._kick(); return this; },
    pause() { this._rs.flowing = false; return this; },
    isPaused() { return this._rs.flowing === false; },
    read(n) {
      const s = this._rs;
      s.readCalled = true;
      if (s.buffer.length === 0) { this._kick(); return null; }
      let out;
      if (s.objectMode) out = s.buffer.shift();
      else if (n === undefined || n >= s.length) { out = Buffer.concat(s.buffer); s.buffer = []; }
      else { const all = Buffer.concat(s.buffer); out = all.subarray(0, n); s.buffer = [all.subarray(n)]; }
      s.length -= s.objectMode ? 1 : out.length;
      this._kick();
      return this._out(out);
    },
    _kick() { const s = this._rs; if (s.scheduled) return; s.scheduled = true; nextTick(() => { s.scheduled = false; this._flow(); }); },
    _flow() {
      const s = this._rs;
      if (s.destroyed) return;
      if (s.flowing) {
        while (s.buffer.length && s.flowing && !s.destroyed) {
          const c = s.buffer.shift();
          s.length -= s.objectMode ? 1 : c.length;
          this.emit('data', this._out(c));
        }
      } else if (s.buffer.length && this.listenerCount('readable')) {
        this.emit('readable');
      }
      if (s.ended && s.buffer.length === 0) {
        if ((s.flowing || s.readCalled) && !s.endEmitted) {
          s.endEmitted = true;
          if (!s.flowing && this.listenerCount('readable')) this.emit('readable');
          this.readable = false;
          this.emit('end');
          if (this._autoClose !== false) nextTick(() => { if (!this.destroyed) { this.destroyed = true; this.emit('close'); } });
        }
      } else if (!s.ended && !s.reading && s.length < s.hwm && (s.flowing || s.readCalled)) {
        s.reading = true;
        nextTick(() => { s.reading = false; if (!s.destroyed && !s.ended) this._read(s.hwm); });
      }
    },
    pipe(dest, opts) {
      const src = this;
      src.on('data', (c) => { if (dest.write(c) === false) { src.pause(); dest.once('drain', () => src.resume()); } });
      if (!opts || opts.end !== false) src.once('end', () => dest.end());
      dest.emit('pipe', src);
      return dest;
    },
    unpipe() { this.removeAllListeners('data'); return this; },
    destroy(err, cb) {
      const s = this._rs;
      if (s.destroyed) return this;
      s.destroyed = true; this.destroyed = true;
      const done = (e) => { if (cb) cb(e); if (e) nextTick(() => this.emit('error', e)); nextTick(() => this.emit('close')); };
      if (this._destroy) this._destroy(err || null, done); else done(err);
      return this;
    },
    [Symbol.asyncIterator]() {
      const src = this, queue = [], waiting = [];
      let done = false, error = null;
      const settle = () => { while (waiting.length && (queue.length || done || error)) { const w = waiting.shift(); if (error) w.reject(error); else if (queue.length) w.resolve({ value: queue.shift(), done: false }); else w.resolve({ value: undefined, done: true }); } };
      src.on('data', (c) => { queue.push(c); settle(); });
      src.on('end', () => { done = true; settle(); });
      src.on('error', (e) => { error = e; settle(); });
      return { next: () => new Promise((resolve, reject) => { waiting.push({ resolve, reject }); settle(); }), return: () => { src.destroy(); return Promise.resolve({ done: true }); }, [Symbol.asyncIterator]() { return this; } };
    },
  });
  Object.defineProperty(Readable.prototype, 'readableEnded', { get() { return this._rs.endEmitted; } });
  Object.defineProperty(Readable.prototype, 'readableFlowing', { get() { return this._rs.flowing; } });
  Readable.from = (iterable, opts) => {
    const r = new Readable(Object.assign({ objectMode: true }, opts));
    (async () => { try { for await (const x of iterable) r.push(x); r.push(null); } catch (e) { r.destroy(e); } })();
    return r;
  };

  function initWritable(self, opts) {
    opts = opts || {};
    self._ws = { queue: [], writing: false, ending: false, finished: false, finishing: false, needDrain: false, objectMode: !!(opts.objectMode || opts.writableObjectMode), hwm: opts.highWaterMark || 16384, length: 0, corked: 0, decodeStrings: opts.decodeStrings !== false, defaultEncoding: 'utf8' };
    if (typeof opts.write === 'function') self._write = opts.write;
    if (typeof opts.writev === 'function') self._writev = opts.writev;
    if (typeof opts.final === 'function') self._final = opts.final;
    if (typeof opts.destroy === 'function') self._destroy = opts.destroy;
    self.writable = true;
  }
  function Writable(opts) {
    if (!(this instanceof Writable) && !(this instanceof Duplex)) return new Writable(opts);
    Stream.call(this, opts);
    initWritable(this, opts);
    this.destroyed = false;
  }
  util.inherits(Writable, Stream);
  const writableMethods = {
    _write(chunk, enc, cb) { if (this._writev) this._writev([{ chunk, encoding: enc }], cb); else cb(Object.assign(new Error('The _write() method is not implemented'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' })); },
    write(chunk, enc, cb) {
      if (typeof enc === 'function') { cb = enc; enc = undefined; }
      const s = this._ws;
      if (s.ending || this.destroyed) {
        const e = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
        nextTick(() => { if (cb) cb(e); this.emit('error', e); });
        return false;
      }
      if (!s.objectMode && typeof chunk === 'string' && s.decodeStrings) { chunk = Buffer.from(chunk, enc || s.defaultEncoding); enc = 'buffer'; }
      else if (!s.objectMode && chunk !== null && typeof chunk === 'object' && !(chunk instanceof Buffer)) { chunk = Buffer.from(toU8(chunk)); enc = 'buffer'; }
      s.length += s.objectMode ? 1 : chunk.length;
      s.queue.push([chunk, enc || 'buffer', cb]);
      const ok = s.length < s.hwm;
      if (!ok) s.needDrain = true;
      if (!s.corked) this._drainQueue();
      return ok;
    },
    _drainQueue() {
      const s = this._ws;
      if (s.writing) return;
      if (s.queue.length === 0) { if (s.ending) this._finishUp(); return; }
      s.writing = true;
      const [chunk, enc, cb] = s.queue.shift();
      let sync = true;
      this._write(chunk, enc, (err) => {
        const after = () => {
          s.writing = false;
          s.length -= s.objectMode ? 1 : chunk.length;
          if (err) { if (cb) cb(err); this.destroy(err); return; }
          if (cb) cb();
          if (s.needDrain && s.length === 0 && !s.ending) { s.needDrain = false; this.emit('drain'); }
          this._drainQueue();
        };
        if (sync) nextTick(after); else after();
      });
      sync = false;
    },
    _finishUp() {
      const s = this._ws;
      if (s.finishing) return;
      s.finishing = true;
      const done = (err) => {
        if (err) { this.destroy(err); return; }
        s.finished = true;
        this.writable = false;
        nextTick(() => { this.emit('finish'); if (!(this instanceof Duplex) && this._autoDestroy !== false) nextTick(() => { if (!this.destroyed) { this.destroyed = true; this.emit('close'); } }); });
      };
      if (this._final) this._final(done); else done();
    },
    end(chunk, enc, cb) {
      if (typeof chunk === 'function') { cb = chunk; chunk = null; } else if (typeof enc === 'function') { cb = enc; enc = undefined; }
      if (chunk !== null && chunk !== undefined) this.write(chunk, enc);
      const s = this._ws;
      if (cb) { if (s.finished) nextTick(cb); else this.once('finish', cb); }
      if (!s.ending) { s.ending = true; s.corked = 0; this._drainQueue(); }
      return this;
    },
    cork() { this._ws.corked++; },
    uncork() { if (this._ws.corked) this._ws.corked--; if (!this._ws.corked) this._drainQueue(); },
    setDefaultEncoding(enc) { this._ws.defaultEncoding = enc; return this; },
  };
  Object.assign(Writable.prototype, writableMethods);
  Writable.prototype.destroy = Readable.prototype.destroy;
  Object.defineProperty(Writable.prototype, 'writableEnded', { get() { return this._ws.ending; } });
  Object.defineProperty(Writable.prototype, 'writableFinished', { get() { return this._ws.finished; } });

  function Duplex(opts) {
    if (!(this instanceof Duplex)) return new Duplex(opts);
    Readable.call(this, opts);
    initWritable(this, opts);
    if (opts && opts.allowHalfOpen === false) this.once('end', () => this.end());
  }
  util.inherits(Duplex, Readable);
  Object.assign(Duplex.prototype, writableMethods);
  Duplex.prototype.destroy = Readable.prototype.destroy;
  Object.defineProperty(Duplex.prototype, 'writableEnded', { get() { return this._ws.ending; } });

  function Transform(opts) {
    if (!(this instanceof Transform)) return new Transform(opts);
    Duplex.call(this, opts);
    if (opts && typeof opts.transform === 'function') this._transform = opts.transform;
    if (opts && typeof opts.flush === 'function') this._flush = opts.flush;
  }
  util.inherits(Transform, Duplex);
  Transform.prototype._transform = function () { throw Object.assign(new Error('The _transform() method is not implemented'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' }); };
  Transform.prototype._write = function (chunk, enc, cb) {
    this._transform(chunk, enc, (err, data) => { if (err) return cb(err); if (data !== null && data !== undefined) this.push(data); cb(); });
  };
  Transform.prototype._final = function (cb) {
    const end = (err, data) => { if (err) return cb(err); if (data !== null && data !== undefined) this.push(data); this.push(null); cb(); };
    if (this._flush) this._flush(end); else end();
  };
  Transform.prototype._read = function () {};
  function PassThrough(opts) { if (!(this instanceof PassThrough)) return new PassThrough(opts); Transform.call(this, opts); }
  util.inherits(PassThrough, Transform);
  PassThrough.prototype._transform = function (c, e, cb) { cb(null, c); };

  function finished(stream, opts, cb) {
    if (typeof opts === 'function') { cb = opts; }
    let called = false;
    const once = (e) => { if (!called) { called = true; cb(e); } };
    stream.on('error', once);
    stream.on('end', () => once());
    stream.on('finish', () => once());
    stream.on('close', () => nextTick(() => once()));
    return () => {};
  }
  function pipeline(...streams) {
    const cb = typeof streams[streams.length - 1] === 'function' ? streams.pop() : null;
    if (Array.isArray(streams[0])) streams = streams[0];
    let failed = false;
    const fail = (e) => { if (failed) return; failed = true; for (const s of streams) if (s.destroy && !s.destroyed) s.destroy(); if (cb) cb(e); };
    for (let i = 0; i < streams.length - 1; i++) streams[i].pipe(streams[i + 1]);
    for (const s of streams) s.on('error', fail);
    const last = streams[streams.length - 1];
    finished(last, (e) => { if (e) fail(e); else if (!failed && cb) { failed = true; cb(); } });
    return last;
  }
  const streamPromises = {
    pipeline: (...s) => new Promise((resolve, reject) => pipeline(...s, (e) => (e ? reject(e) : resolve()))),
    finished: (s) => new Promise((resolve, reject) => finished(s, (e) => (e ? reject(e) : resolve()))),
  };
  Object.assign(Stream, { Stream, Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished, promises: streamPromises });
  Stream.isReadable = (s) => !!s && s.readable !== false && typeof s.pipe === 'function';

  // ================================================================ http, https (client)

  const STATUS_CODES = { 100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
  const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];
  const DROP = ['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'proxy-connection', 'upgrade'];

  function Agent(opts) { if (!(this instanceof Agent)) return new Agent(opts); EventEmitter.call(this); this.options = Object.assign({}, opts); this.keepAlive = !!(opts && opts.keepAlive); this.maxSockets = (opts && opts.maxSockets) || Infinity; this.sockets = {}; this.requests = {}; this.freeSockets = {}; }
  util.inherits(Agent, EventEmitter);
  Agent.prototype.destroy = function () {};
  Agent.prototype.getName = function (o) { return (o.host || 'localhost') + ':' + (o.port || '') + ':'; };

  // What code sees as `req.socket`: a stand-in (the connection is Minibase's).
  function FakeSocket(remote) {
    EventEmitter.call(this);
    Object.assign(this, { remoteAddress: remote, remotePort: 0, localAddress: '127.0.0.1', encrypted: false, readable: true, writable: true, connecting: false, destroyed: false, authorized: true });
  }
  util.inherits(FakeSocket, EventEmitter);
  Object.assign(FakeSocket.prototype, {
    setTimeout(ms, cb) { if (cb) this.once('timeout', cb); return this; }, setNoDelay() { return this; }, setKeepAlive() { return this; },
    ref() { return this; }, unref() { return this; }, destroy() { this.destroyed = true; return this; }, end() { return this; },
    address() { return { address: '127.0.0.1', family: 'IPv4', port: 0 }; }, getPeerCertificate() { return {}; },
  });

  function IncomingMessage(r, socket) {
    Readable.call(this);
    this.statusCode = r.status;
    this.statusMessage = r.statusText || STATUS_CODES[r.status] || '';
    this.httpVersion = '1.1'; this.httpVersionMajor = 1; this.httpVersionMinor = 1;
    this.headers = {}; this.rawHeaders = []; this.trailers = {}; this.rawTrailers = [];
    for (const [k, v] of r.headers || []) {
      this.rawHeaders.push(k, v);
      const key = String(k).toLowerCase();
      if (key === 'set-cookie') (this.headers[key] || (this.headers[key] = [])).push(v);
      else if (this.headers[key] !== undefined) this.headers[key] += ', ' + v;
      else this.headers[key] = v;
    }
    this.socket = this.connection = socket;
    this.complete = false; this.aborted = false; this.url = ''; this.method = null;
    this.once('end', () => { this.complete = true; });
  }
  util.inherits(IncomingMessage, Readable);
  IncomingMessage.prototype.setTimeout = function (ms, cb) { if (cb) this.once('timeout', cb); return this; };

  function fetchError(info, url) {
    const m = String(info.message || 'request failed');
    let code = 'ECONNRESET';
    if (info.code === 'DEADLINE_EXCEEDED') code = 'ETIMEDOUT';
    else if (info.code === 'PERMISSION_DENIED') code = 'EACCES';
    else if (/could not connect|connection refused/i.test(m)) code = 'ECONNREFUSED';
    else if (/dns|resolve|lookup/i.test(m)) code = 'ENOTFOUND';
    else if (info.code === 'INVALID_ARGUMENT') code = 'ERR_INVALID_ARG_VALUE';
    const e = new Error(m);
    e.code = code; e.errno = code; e.syscall = 'connect';
    try { e.hostname = new URL(url).hostname; } catch (_) { /* not a URL */ }
    return e;
  }

  function makeHttp(defaultProtocol) {
    const globalAgent = new Agent();
    function ClientRequest(input, options, cb) {
      if (!(this instanceof ClientRequest)) return new ClientRequest(input, options, cb);
      Writable.call(this);
      if (typeof options === 'function') { cb = options; options = undefined; }
      let o;
      if (typeof input === 'string' || input instanceof URL) {
        const u = input instanceof URL ? input : new URL(input);
        o = { protocol: u.protocol, hostname: u.hostname, port: u.port, path: u.pathname + u.search, auth: u.username ? decodeURIComponent(u.username) + ':' + decodeURIComponent(u.password) : undefined };
        if (options) o = Object.assign(o, options);
      } else o = Object.assign({}, input);
      const protocol = o.protocol || defaultProtocol;
      let host = o.hostname || (o.host ? String(o.host).replace(/:\d+$/, '') : 'localhost');
      if (host.indexOf(':') !== -1 && host[0] !== '[') host = '[' + host + ']';
      const port = o.port || (o.host && /:(\d+)$/.test(o.host) ? /:(\d+)$/.exec(o.host)[1] : '');
      this._url = protocol + '//' + host + (port && !(protocol === 'http:' && port == 80) && !(protocol === 'https:' && port == 443) ? ':' + port : '') + (o.path || '/');
      this.method = String(o.method || 'GET').toUpperCase();
      this.path = o.path || '/';
      this.host = host;
      this.protocol = protocol;
      this._headers = {};
      if (o.headers) {
        if (Array.isArray(o.headers)) for (let i = 0; i < o.headers.length; i += 2) this.setHeader(o.headers[i], o.headers[i + 1]);
        else for (const k of Object.keys(o.headers)) if (o.headers[k] !== undefined) this.setHeader(k, o.headers[k]);
      }
      if (o.auth && !this.hasHeader('authorization')) this.setHeader('authorization', 'Basic ' + Buffer.from(o.auth).toString('base64'));
      this._timeoutMs = o.timeout;
      this._autoDestroy = false; // it lives on until the response (then 'close')
      this._chunks = [];
      this.aborted = false;
      this.reusedSocket = false;
      this.socket = this.connection = new FakeSocket(host);
      this.agent = o.agent === undefined ? globalAgent : o.agent;
      if (cb) this.once('response', cb);
      if (o.signal) o.signal.addEventListener && o.signal.addEventListener('abort', () => this.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' })));
      nextTick(() => { this.emit('socket', this.socket); });
    }
    util.inherits(ClientRequest, Writable);
    Object.assign(ClientRequest.prototype, {
      setHeader(k, v) { this._headers[String(k).toLowerCase()] = [k, v]; return this; },
      getHeader(k) { const h = this._headers[String(k).toLowerCase()]; return h ? h[1] : undefined; },
      hasHeader(k) { return String(k).toLowerCase() in this._headers; },
      removeHeader(k) { delete this._headers[String(k).toLowerCase()]; },
      getHeaders() { const o = {}; for (const k of Object.keys(this._headers)) o[k] = this._headers[k][1]; return o; },
      getHeaderNames() { return Object.keys(this._headers); },
      getRawHeaderNames() { return Object.values(this._headers).map((h) => h[0]); },
      flushHeaders() {}, setNoDelay() {}, setSocketKeepAlive() {},
      setTimeout(ms, cb) { this._timeoutMs = ms; if (cb) this.once('timeout', cb); return this; },
      abort() { if (this.aborted) return; this.aborted = true; nextTick(() => this.emit('abort')); this.destroy(); },
      _write(chunk, enc, cb) { this._chunks.push(Buffer.from(chunk)); cb(); },
      _final(cb) { cb(); this._send(); },
      _send() {
        const pairs = [];
        for (const k of Object.keys(this._headers)) {
          if (DROP.indexOf(k) !== -1) continue;
          const v = this._headers[k][1];
          for (const x of Array.isArray(v) ? v : [v]) pairs.push([k, String(x)]);
        }
        const args = { url: this._url, method: this.method, headers: pairs, redirect: 'manual' };
        if (this._chunks.length) args.body = Buffer.concat(this._chunks);
        if (this._timeoutMs) args.timeout = this._timeoutMs;
        let timer = null;
        if (this._timeoutMs) timer = setTimeout(() => { this.emit('timeout'); this.socket.emit('timeout'); }, this._timeoutMs);
        // Exceptions thrown by listeners are uncaught, as in Node (not a silently rejected
        // promise): they fail the call.
        const uncaught = (fn) => (v) => { try { fn(v); } catch (e) { setTimeout(() => { throw e; }, 0); } };
        hostCall('fetch', args).then(uncaught((r) => {
          if (timer) clearTimeout(timer);
          if (this.aborted || this.destroyed) return;
          const res = new IncomingMessage(r, this.socket);
          res.req = this;
          this.res = res;
          if (!this.emit('response', res)) res.resume();
          const body = r.body instanceof Uint8Array ? r.body : Buffer.from(r.body || '');
          for (let i = 0; i < body.length; i += 65536) res.push(Buffer.from(body.subarray(i, i + 65536)));
          res.push(null);
          this.emit('close');
        }), uncaught((err) => {
          if (timer) clearTimeout(timer);
          if (this.aborted || this.destroyed) return;
          this.emit('error', fetchError(err, this._url));
          this.emit('close');
        }));
      },
    });
    const request = (input, options, cb) => new ClientRequest(input, options, cb);
    const get = (input, options, cb) => { const r = request(input, options, cb); r.end(); return r; };
    function createServer() { throw nodeOnly('http.createServer (functions answer through their HTTP trigger)'); }
    return { request, get, Agent, globalAgent, ClientRequest, IncomingMessage, STATUS_CODES, METHODS, createServer, Server: createServer, validateHeaderName() {}, validateHeaderValue() {}, maxHeaderSize: 16384 };
  }
  const http = makeHttp('http:');
  const https = makeHttp('https:');

  // ================================================================ fs (read-only)

  function readBytes(p) { return Buffer.from(native.fsRead(String(p instanceof URL ? url.fileURLToPath(p) : p))); }
  function decoded(b, opts) { const enc = typeof opts === 'string' ? opts : opts && opts.encoding; return enc ? b.toString(enc) : b; }
  function Stats(j) { Object.assign(this, { size: j.size, mode: j.mode, ino: j.ino, mtimeMs: j.mtimeMs, mtime: new Date(j.mtimeMs), ctime: new Date(j.mtimeMs), atime: new Date(j.mtimeMs), birthtime: new Date(j.mtimeMs) }); this._f = j.file; this._d = j.dir; }
  Stats.prototype.isFile = function () { return this._f; };
  Stats.prototype.isDirectory = function () { return this._d; };
  Stats.prototype.isSymbolicLink = function () { return false; };
  const statOf = (p) => new Stats(JSON.parse(native.fsStat(String(p))));
  const readOnly = (name) => function () { throw errno('EROFS: ' + name + '() is not available on QuickJS: a function\'s files are read-only (use the database or cloud storage; runtime "node" for more)', 'EROFS'); };
  const cbify = (fn) => (...args) => { const cb = args.pop(); let r, e = null; try { r = fn(...args); } catch (x) { e = x; } nextTick(() => cb(e, r)); };
  const fsSync = {
    readFileSync: (p, o) => decoded(readBytes(p), o),
    existsSync: (p) => { try { native.fsStat(String(p)); return true; } catch (e) { return false; } },
    statSync: (p, o) => { try { return statOf(p); } catch (e) { if (o && o.throwIfNoEntry === false) return undefined; throw e; } },
    readdirSync: (p, o) => { const names = native.fsReaddir(String(p)); return o && o.withFileTypes ? names.map((n) => { const s = statOf(String(p) + '/' + n); return { name: n, isFile: () => s.isFile(), isDirectory: () => s.isDirectory(), isSymbolicLink: () => false }; }) : names; },
    accessSync: (p) => { native.fsStat(String(p)); },
    realpathSync: (p) => { native.fsStat(String(p)); return String(p); },
  };
  fsSync.lstatSync = fsSync.statSync;
  const fs = Object.assign({}, fsSync, {
    readFile: (p, o, cb) => { if (typeof o === 'function') { cb = o; o = undefined; } cbify(fsSync.readFileSync)(p, o, cb); },
    stat: (p, o, cb) => { if (typeof o === 'function') { cb = o; o = undefined; } cbify(fsSync.statSync)(p, cb); },
    readdir: (p, o, cb) => { if (typeof o === 'function') { cb = o; o = undefined; } cbify(fsSync.readdirSync)(p, o, cb); },
    access: (p, m, cb) => { if (typeof m === 'function') { cb = m; } cbify(fsSync.accessSync)(p, cb); },
    exists: (p, cb) => nextTick(() => cb(fsSync.existsSync(p))),
    createReadStream(p, o) {
      const r = new Readable(o);
      r.path = p;
      r._read = function () { try { this.push(readBytes(p)); this.push(null); } catch (e) { this.destroy(e); } this._read = () => {}; };
      return r;
    },
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, O_RDONLY: 0 },
  });
  fs.lstat = fs.stat;
  fs.realpath = (p, o, cb) => { if (typeof o === 'function') cb = o; cbify(fsSync.realpathSync)(p, cb); };
  for (const w of ['writeFile', 'writeFileSync', 'appendFile', 'appendFileSync', 'mkdir', 'mkdirSync', 'unlink', 'unlinkSync', 'rm', 'rmSync', 'rename', 'renameSync', 'createWriteStream', 'copyFile', 'copyFileSync', 'open', 'openSync']) fs[w] = readOnly(w);
  const fsPromises = {
    readFile: async (p, o) => fsSync.readFileSync(p, o), stat: async (p) => fsSync.statSync(p), lstat: async (p) => fsSync.statSync(p),
    readdir: async (p, o) => fsSync.readdirSync(p, o), access: async (p) => fsSync.accessSync(p), realpath: async (p) => fsSync.realpathSync(p),
  };
  for (const w of ['writeFile', 'appendFile', 'mkdir', 'unlink', 'rm', 'rename', 'copyFile', 'open']) fsPromises[w] = async () => readOnly(w)();
  fs.promises = fsPromises;

  // ================================================================ zlib

  const Z = { Z_NO_FLUSH: 0, Z_PARTIAL_FLUSH: 1, Z_SYNC_FLUSH: 2, Z_FULL_FLUSH: 3, Z_FINISH: 4, Z_OK: 0, Z_STREAM_END: 1, Z_DEFAULT_COMPRESSION: -1, Z_BEST_SPEED: 1, Z_BEST_COMPRESSION: 9 };
  const zop = (op) => (buf, opts) => {
    const input = typeof buf === 'string' ? Buffer.from(buf) : toU8(buf);
    return Buffer.from(opts && opts.level >= 0 ? native.zlib(op, input, opts.level) : native.zlib(op, input));
  };
  const zlib = { constants: Z };
  for (const [name, op] of [['gzip', 'gzip'], ['gunzip', 'gunzip'], ['deflate', 'deflate'], ['inflate', 'inflate'], ['deflateRaw', 'deflateRaw'], ['inflateRaw', 'inflateRaw'], ['unzip', 'unzip']]) {
    const sync = zop(op);
    zlib[name + 'Sync'] = sync;
    zlib[name] = (buf, opts, cb) => { if (typeof opts === 'function') { cb = opts; opts = undefined; } cbify(sync)(buf, opts, cb); };
    // A stream: the whole input, (de)compressed when it ends (bounded like the sync call).
    const ctor = 'create' + name[0].toUpperCase() + name.slice(1);
    zlib[ctor] = (opts) => {
      const chunks = [];
      const t = new Transform({
        transform(c, e, cb) { chunks.push(Buffer.from(c)); cb(); },
        flush(cb) { let out; try { out = sync(Buffer.concat(chunks), opts); } catch (e) { cb(e); return; } cb(null, out); },
      });
      t.bytesWritten = 0; t.close = (cb) => { if (cb) nextTick(cb); }; t.flush = (k, cb) => { if (typeof k === 'function') k(); else if (cb) cb(); };
      return t;
    };
  }
  Object.assign(zlib, Z);

  // ================================================================ net, tls, dns: requirable, Node only

  const isIPv4 = (s) => /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(String(s));
  const isIPv6 = (s) => { try { return String(s).indexOf(':') !== -1 && new URL('http://[' + s + ']/').hostname.length > 2; } catch (e) { return false; } };
  const net = {
    isIP: (s) => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0), isIPv4, isIPv6,
    connect() { throw nodeOnly('net.connect'); }, createConnection() { throw nodeOnly('net.createConnection'); },
    createServer() { throw nodeOnly('net.createServer'); },
    Socket: function Socket() { throw nodeOnly('net.Socket'); }, Server: function Server() { throw nodeOnly('net.Server'); },
  };
  const tls = {
    connect() { throw nodeOnly('tls.connect'); }, createSecureContext() { throw nodeOnly('tls.createSecureContext'); },
    TLSSocket: function TLSSocket() { throw nodeOnly('tls.TLSSocket'); }, checkServerIdentity: () => undefined,
    DEFAULT_MIN_VERSION: 'TLSv1.2', DEFAULT_MAX_VERSION: 'TLSv1.3', rootCertificates: [],
  };
  const http2 = {
    connect() { throw nodeOnly('http2.connect'); }, createServer() { throw nodeOnly('http2.createServer'); },
    constants: { HTTP2_HEADER_METHOD: ':method', HTTP2_HEADER_PATH: ':path', HTTP2_HEADER_STATUS: ':status', HTTP2_HEADER_AUTHORITY: ':authority', HTTP2_HEADER_SCHEME: ':scheme' },
  };
  // readline over a readable stream (createInterface, 'line'/'close', async iteration).
  function Interface(opts) {
    EventEmitter.call(this);
    const input = opts && opts.input ? opts.input : opts;
    let rest = '';
    const lines = [];
    const waiters = [];
    let closed = false;
    const flush = () => { while (waiters.length && (lines.length || closed)) { const w = waiters.shift(); w(lines.length ? { value: lines.shift(), done: false } : { value: undefined, done: true }); } };
    const emitLine = (l) => { lines.push(l); this.emit('line', l); flush(); };
    if (input && typeof input.on === 'function') {
      input.on('data', (c) => { rest += typeof c === 'string' ? c : Buffer.from(c).toString('utf8'); let i; while ((i = rest.search(/\r?\n/)) !== -1) { const l = rest.slice(0, i); rest = rest.slice(i + (rest[i] === '\r' ? 2 : 1)); emitLine(l); } });
      input.on('end', () => this.close());
      input.on('error', (e) => this.emit('error', e));
    }
    this.close = () => { if (closed) return; if (rest) { emitLine(rest); rest = ''; } closed = true; this.emit('close'); flush(); };
    this[Symbol.asyncIterator] = () => ({ next: () => new Promise((r) => { waiters.push(r); flush(); }), return: () => { this.close(); return Promise.resolve({ done: true }); }, [Symbol.asyncIterator]() { return this; } });
  }
  util.inherits(Interface, EventEmitter);
  const readline = { createInterface: (opts) => new Interface(opts), Interface };

  const dnsFail = (name) => function (...a) { const cb = a.pop(); const e = nodeOnly('dns.' + name); if (typeof cb === 'function') nextTick(() => cb(e)); else throw e; };
  const dns = { lookup: dnsFail('lookup'), resolve: dnsFail('resolve'), resolve4: dnsFail('resolve4'), resolve6: dnsFail('resolve6'), promises: { lookup: async () => { throw nodeOnly('dns.promises.lookup'); } } };

  // ================================================================ crypto: ciphers, signatures, RSA

  const bytesOf = (v, enc) => (typeof v === 'string' ? Buffer.from(v, enc || 'utf8') : Buffer.from(toU8(v) || v));
  function keyPem(k) {
    if (typeof k === 'string') return k;
    if (k instanceof Uint8Array) return Buffer.from(k).toString('utf8');
    if (k && k.key !== undefined) return keyPem(k.key);
    throw new TypeError('the key must be a PEM string or Buffer (or { key })');
  }
  function Cipher(alg, key, iv, decrypt) {
    this._alg = String(alg).toLowerCase(); this._key = bytesOf(key); this._iv = iv === null || iv === undefined ? Buffer.alloc(0) : bytesOf(iv);
    this._decrypt = decrypt; this._chunks = []; this._aad = Buffer.alloc(0); this._tag = null; this._auto = true;
  }
  Object.assign(Cipher.prototype, {
    // The output comes whole from final(): `update(...) + final(...)` is the same text.
    update(data, inEnc, outEnc) { this._chunks.push(bytesOf(data, inEnc)); return outEnc ? '' : Buffer.alloc(0); },
    final(outEnc) {
      const data = Buffer.concat(this._chunks);
      let extra;
      if (this._alg.endsWith('-gcm')) extra = this._decrypt ? Buffer.concat([this._tag || Buffer.alloc(0), this._aad]) : this._aad;
      if (!this._auto) throw new Error('setAutoPadding(false) is not supported on QuickJS (use runtime "node")');
      let out = Buffer.from(extra ? native.cipher(this._alg, this._decrypt, this._key, this._iv, data, extra) : native.cipher(this._alg, this._decrypt, this._key, this._iv, data));
      if (this._alg.endsWith('-gcm') && !this._decrypt) { this._tag = out.subarray(out.length - 16); out = out.subarray(0, out.length - 16); }
      return outEnc ? out.toString(outEnc) : out;
    },
    setAAD(b) { this._aad = bytesOf(b); return this; },
    setAuthTag(t) { this._tag = bytesOf(t); return this; },
    getAuthTag() { return this._tag; },
    setAutoPadding(on) { this._auto = on !== false; return this; },
  });
  const rsaPadding = (k) => (k && typeof k === 'object' && k.padding === 1 ? 'pkcs1' : 'oaep');
  function Signer(alg, verify) { this._alg = String(alg); this._chunks = []; this._verify = verify; }
  Object.assign(Signer.prototype, {
    update(d, enc) { this._chunks.push(bytesOf(d, enc)); return this; },
    write(d, enc) { this.update(d, enc); return true; },
    end(d, enc) { if (d !== undefined) this.update(d, enc); },
    sign(key, outEnc) { const s = Buffer.from(native.rsa('sign', this._alg, keyPem(key), Buffer.concat(this._chunks))); return outEnc ? s.toString(outEnc) : s; },
    verify(key, sig, sigEnc) { return native.rsa('verify', this._alg, keyPem(key), Buffer.concat(this._chunks), bytesOf(sig, sigEnc || (typeof sig === 'string' ? 'base64' : undefined))); },
  });
  const cryptoExtra = {
    createCipheriv: (alg, key, iv) => new Cipher(alg, key, iv, false),
    createDecipheriv: (alg, key, iv) => new Cipher(alg, key, iv, true),
    createSign: (alg) => new Signer(alg, false),
    createVerify: (alg) => new Signer(alg, true),
    sign: (alg, data, key) => Buffer.from(native.rsa('sign', alg || 'sha256', keyPem(key), bytesOf(data))),
    verify: (alg, data, key, sig) => native.rsa('verify', alg || 'sha256', keyPem(key), bytesOf(data), bytesOf(sig)),
    publicEncrypt: (key, data) => Buffer.from(native.rsa('publicEncrypt', rsaPadding(key), keyPem(key), bytesOf(data))),
    privateDecrypt: (key, data) => Buffer.from(native.rsa('privateDecrypt', rsaPadding(key), keyPem(key), bytesOf(data))),
  };

  return {
    os, url, string_decoder: { StringDecoder }, punycode, tty, net, tls, dns, http2, readline,
    stream: Stream, 'stream/promises': streamPromises, http, https, fs, 'fs/promises': fsPromises, zlib, cryptoExtra,
  };
});
