// The runtime of a Node.js worker process (node.rs): one function, one call at a time, like a
// QuickJS instance. It talks to Minibase over the socket `chan` (the process's fd 0) in JSON
// lines:
//
//   Minibase → worker: {t:'init', root, name, cloud}      load the function (once)
//                      {t:'invoke', seq, info, event}     run main(event, context)
//                      {t:'reply', id, ok, value}         the answer of a host call
//   worker → Minibase: {t:'loaded', ok, files, result}    index.js loaded (or its error)
//                      {t:'done', seq, ok, files, result} main settled (result is raw JSON)
//                      {t:'call', id, op, args}           a host call (database, files, …)
//                      {t:'log', level, msg}              console.* and cloud.logger()
//
// `require('wx-server-sdk')` (and `minibase`, `@cloudbase/node-sdk`, `tcb-admin-node`) is
// Minibase's built-in SDK — the same cloud.js QuickJS runs — unless the function's own folder
// holds a copy. Evaluated by the bootstrap in node.rs as `(function (require, chan, rest) {…})`.
(function (require, chan, rest) {
  'use strict';
  const Module = require('module');
  const path = require('path');
  const util = require('util');
  const vm = require('vm');

  function send(obj) { chan.write(JSON.stringify(obj) + '\n'); }

  // ---------------------------------------------------------------- logs

  function log(level, msg) { send({ t: 'log', level, msg: String(msg) }); }
  const at = (level) => (...args) => log(level, util.format(...args));
  console.log = at('info'); console.info = at('info'); console.debug = at('debug'); console.trace = at('debug');
  console.warn = at('warn'); console.error = at('error');
  console.dir = (v) => log('info', util.inspect(v));
  console.table = (v) => log('info', util.inspect(v));

  // ---------------------------------------------------------------- values crossing to the host

  // As prelude.js: Dates, RegExps and bytes become typed wire values; cloud.js adds its kinds.
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
    if (v instanceof ArrayBuffer) return { $bytes: Buffer.from(v).toString('base64') };
    if (ArrayBuffer.isView(v)) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
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
      if (keys[0] === '$bytes' && typeof v.$bytes === 'string') return Buffer.from(v.$bytes, 'base64');
    }
    for (const k of keys) v[k] = fromWire(v[k]);
    return v;
  }
  function hostError(info) {
    const err = new Error(info.message);
    err.code = info.code;
    err.errCode = info.errCode !== undefined ? info.errCode : -1;
    err.errMsg = info.message;
    if (info.upstream) err.upstream = info.upstream;
    return err;
  }

  // ---------------------------------------------------------------- host calls

  const pending = new Map();
  let opSeq = 0;
  function hostCall(op, args, wire) {
    let a;
    try { a = wire ? args : toWire(args === undefined ? {} : args, 0); } catch (e) { return Promise.reject(e); }
    const id = ++opSeq;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      send({ t: 'call', id, op, args: a });
    });
  }
  function reply(m) {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(fromWire(m.value)); else p.reject(hostError(m.value));
  }

  // ---------------------------------------------------------------- errors

  function errorInfo(e) {
    if (e instanceof Error) {
      return JSON.stringify({ name: e.name || 'Error', message: String(e.message), stack: e.stack ? String(e.stack) : '' });
    }
    let message;
    try { message = typeof e === 'string' ? e : JSON.stringify(e); } catch (_) { message = String(e); }
    return JSON.stringify({ name: '', message: String(message), stack: '' });
  }

  // ---------------------------------------------------------------- loading

  let root = '';
  let main = null;
  let current = null;
  let sdk = null;
  const SDK_NAMES = ['wx-server-sdk', 'minibase', '@cloudbase/node-sdk', 'tcb-admin-node'];
  const origLoad = Module._load;
  // The built-in SDK, unless the function ships its own copy inside its folder.
  Module._load = function (request, parent, isMain) {
    if (sdk && SDK_NAMES.indexOf(request) !== -1) {
      let own = null;
      try { own = Module._resolveFilename(request, parent, isMain); } catch (_) { own = null; }
      if (!own || !own.startsWith(root + path.sep)) {
        return request === '@cloudbase/node-sdk' || request === 'tcb-admin-node' ? sdk.nodeSdk : sdk.cloud;
      }
    }
    return origLoad.apply(this, arguments);
  };

  // Module files loaded so far (reported so that an edit reloads the function).
  let known = 0;
  function newFiles() {
    const all = Object.keys(require.cache).filter((f) => f.startsWith(root + path.sep));
    if (all.length === known) return [];
    known = all.length;
    return all;
  }

  // Where a module that was not found could appear (so that adding it, or `npm install`,
  // reloads the function).
  function probes(e) {
    const m = e && e.code === 'MODULE_NOT_FOUND' && /Cannot find module '([^']+)'/.exec(e.message);
    if (!m) return [];
    const req = m[1];
    const from = e.requireStack && e.requireStack[0] ? path.dirname(e.requireStack[0]) : root;
    let bases = [];
    if (req === '.' || req === '..' || req.startsWith('./') || req.startsWith('../')) bases = [path.resolve(from, req)];
    else if (!path.isAbsolute(req)) {
      for (let d = from; d === root || d.startsWith(root + path.sep); d = path.dirname(d)) bases.push(path.join(d, 'node_modules', req));
    }
    const exts = ['', '.js', '.json', '.node', '/index.js', '/index.json', '/package.json'];
    const out = [];
    for (const b of bases) for (const x of exts) if ((b + x).startsWith(root + path.sep)) out.push(b + x);
    return out;
  }

  function init(m) {
    root = m.root;
    process.title = 'minibase-fn-' + m.name;
    const internals = {
      hostCall, wireHooks, toWire, fromWire, Buffer, inspect: (v) => util.inspect(v),
      format: (args) => util.format(...args), log, current: () => current,
    };
    try {
      const factory = vm.runInThisContext(m.cloud, { filename: 'minibase:cloud.js' });
      sdk = factory(internals);
      const req = Module.createRequire(path.join(root, 'index.js'));
      const exp = req('./index.js');
      if (exp && typeof exp.main === 'function') main = exp.main;
      else if (typeof exp === 'function') main = exp;
      else throw new TypeError('index.js must export a main function: exports.main = async (event, context) => { ... }');
    } catch (e) {
      const files = newFiles().concat(probes(e));
      chan.write('{"t":"loaded","ok":false,"files":' + JSON.stringify(files) + ',"result":' + errorInfo(e) + '}\n');
      return;
    }
    send({ t: 'loaded', ok: true, files: newFiles() });
  }

  // ---------------------------------------------------------------- invocations

  let inflight = null;
  function done(seq, ok, payload) {
    if (inflight !== seq) return;
    inflight = null;
    chan.write('{"t":"done","seq":' + seq + ',"ok":' + ok + ',"files":' + JSON.stringify(newFiles()) + ',"result":' + payload + '}\n');
  }
  function invoke(m) {
    const seq = m.seq;
    const info = m.info;
    current = { wxContext: info.wxContext };
    const context = Object.assign({}, info.context, {
      getRemainingTimeInMillis: () => Math.max(0, info.deadline - Date.now()),
    });
    inflight = seq;
    let result;
    try {
      result = Promise.resolve(main.call(undefined, m.event, context));
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
          done(seq, false, errorInfo(new TypeError('the value returned by main is not JSON-serialisable: ' + e.message)));
          return;
        }
        done(seq, true, json);
      },
      (err) => done(seq, false, errorInfo(err)),
    );
  }

  // An exception thrown outside main's promise (a timer callback) fails the call in flight,
  // as on QuickJS; between calls it is logged. The process keeps serving either way.
  process.on('uncaughtException', (e) => {
    if (inflight !== null) done(inflight, false, errorInfo(e));
    else log('error', 'uncaught exception between calls: ' + (e && e.stack ? e.stack : String(e)));
  });

  function onLine(line) {
    if (!line) return;
    const m = JSON.parse(line);
    switch (m.t) {
      case 'reply': reply(m); break;
      case 'invoke': invoke(m); break;
      case 'init': init(m); break;
    }
  }
  let buf = rest || '';
  function drain() {
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  }
  chan.on('data', (d) => { buf += d; drain(); });
  chan.on('end', () => process.exit(0));
  chan.on('error', () => process.exit(0));
  drain();
});
