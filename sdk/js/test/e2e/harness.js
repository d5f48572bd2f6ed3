// End-to-end harness: a real `minibase serve` process (on a free loopback port, a temporary
// data directory) with testkit's fake WeChat and fake WeChat Pay (`minibase-fakes`) as its
// upstreams, and the SDK running through a simulated `wx` over real HTTP and WebSockets.
//
// The binaries come from the environment (scripts/test.sh builds them and sets both):
//   MINIBASE_BIN        target/debug/minibase
//   MINIBASE_FAKES_BIN  target/debug/minibase-fakes
// Without them, $CARGO_TARGET_DIR/debug or the repository's target/debug is tried; if they are
// missing the tests fail and say how to build them.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const crypto = require('node:crypto');

const repo = path.resolve(__dirname, '../../../..');

function findBin(env, name) {
  const candidates = [process.env[env], process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug', name), path.join(repo, 'target/debug', name)];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new Error(`${name} not found: build it (cargo build -p minibase -p minibase-testkit --bins) and set ${env}`);
}

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts minibase-fakes; answers its JSON line plus helpers. */
async function startFakes() {
  const bin = findBin('MINIBASE_FAKES_BIN', 'minibase-fakes');
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error('minibase-fakes exited with ' + c)));
  });
  const info = JSON.parse(line);
  return Object.assign(info, {
    async controlPost(p, body) {
      const r = await fetch(info.control + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error('fakes control ' + p + ': ' + r.status + ' ' + (await r.text()));
      return r.status == 204 ? null : r.json();
    },
    async wechatApi(p, body) {
      const r = await fetch(info.wechat.url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error('fake wechat ' + p + ': ' + r.status);
      return r.status == 204 ? null : r.json();
    },
    stop() {
      children.delete(child);
      child.stdin.end(); // EOF stops it
      return new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  });
}

const q = (s) => JSON.stringify(String(s));

/** The minibase.toml of a test server. `extra` is appended TOML. */
function configToml({ dataDir, port, fakes, serviceKey, extra = '', functionsDir, accessTtl = '2h' }) {
  const p = fakes.pay;
  return `
[server]
http_addr = "127.0.0.1:${port}"
data_dir = ${q(dataDir)}
access_log = false
log_format = "json"
log_level = "info"

[auth]
service_key = ${q(serviceKey)}
dev_login = true
access_ttl = ${q(accessTtl)}

[wechat]
appid = ${q(fakes.wechat.appid)}
secret = ${q(fakes.wechat.secret)}
api_base = ${q(fakes.wechat.url)}

[wechat_pay]
mchid = ${q(p.mchid)}
appid = ${q(p.appid)}
api_base = ${q(p.url)}
merchant_serial_no = ${q(p.merchant_serial_no)}
merchant_key_file = ${q(p.merchant_key_file)}
apiv3_key = ${q(p.apiv3_key)}
public_key_id = ${q(p.public_key_id)}
public_key_file = ${q(p.public_key_file)}
platform_certs = false
notify_url = "https://api.example.com/api/pay/wechat/notify"

[collections.todos]
read = "doc._openid == auth.openid"
write = "doc._openid == auth.openid"

[collections.items]
read = true
write = true

[collections.places]
read = true
write = true

[collections.secret]
read = false
write = false
${functionsDir ? `\n[functions]\ndir = ${q(functionsDir)}\n` : ''}
${extra}
`;
}

/** A port free right now (the server binds it; a restart reuses it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = require('node:net').createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `minibase serve`. opts: {fakes, extra (TOML), functions: {name: source}, accessTtl}.
 * Answers {url, port, serviceKey, dataDir, service(method, path, body), stop(), kill(), restart()}.
 */
async function startServer(opts) {
  const bin = findBin('MINIBASE_BIN', 'minibase');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-e2e-'));
  const dataDir = path.join(dir, 'data');
  let functionsDir;
  if (opts.functions) {
    functionsDir = path.join(dir, 'functions');
    for (const [name, src] of Object.entries(opts.functions)) {
      fs.mkdirSync(path.join(functionsDir, name), { recursive: true });
      fs.writeFileSync(path.join(functionsDir, name, 'index.js'), src);
    }
  }
  const serviceKey = 'svc-' + crypto.randomBytes(16).toString('hex');
  const port = opts.port || (await freePort());
  const configPath = path.join(dir, 'minibase.toml');
  fs.writeFileSync(configPath, configToml({ dataDir, port, fakes: opts.fakes, serviceKey, extra: opts.extra, functionsDir, accessTtl: opts.accessTtl }));
  const srv = { url: 'http://127.0.0.1:' + port, port, serviceKey, dataDir, dir, child: null, log: [] };

  async function launch() {
    const env = Object.assign({}, process.env);
    for (const k of Object.keys(env)) if (k.startsWith('MINIBASE_') && k != 'MINIBASE_BIN' && k != 'MINIBASE_FAKES_BIN') delete env[k];
    delete env.MINIBASE_BIN;
    delete env.MINIBASE_FAKES_BIN;
    const child = spawn(bin, ['serve', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env });
    children.add(child);
    srv.child = child;
    const rl = readline.createInterface({ input: child.stderr });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('minibase did not start in 30 s:\n' + srv.log.slice(-20).join('\n'))), 30000);
      rl.on('line', (l) => {
        srv.log.push(l);
        if (srv.log.length > 500) srv.log.shift();
        if (l.includes('minibase is serving')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (c) => {
        clearTimeout(timer);
        reject(new Error('minibase exited with ' + c + ':\n' + srv.log.slice(-20).join('\n')));
      });
    });
    child.once('exit', () => children.delete(child));
    await opts.fakes.controlPost('/notify-redirect', { origin: srv.url });
  }

  srv.service = async (method, p, body) => {
    const r = await fetch(srv.url + p, {
      method,
      headers: Object.assign({ authorization: 'Bearer ' + serviceKey }, body !== undefined ? { 'content-type': 'application/json' } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch (_) {
      json = text;
    }
    return { status: r.status, body: json };
  };
  /** Graceful stop (SIGTERM), as an operator would. */
  srv.stop = async () => {
    const c = srv.child;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await done;
  };
  /** kill -9. */
  srv.kill = async () => {
    const c = srv.child;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await done;
  };
  /** Starts again on the same port and data. */
  srv.start = launch;
  srv.cleanup = async () => {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await launch();
  } catch (e) {
    await srv.kill();
    throw e;
  }
  return srv;
}

/** Polls `f` until it answers truthy (or throws after `ms`). */
async function until(what, f, ms = 10000) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what + ': ' + (last && last.stack ? last.stack : JSON.stringify(last)));
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Collects a watcher's snapshots; `next(pred)` waits for one that matches. */
function snapshots() {
  const list = [];
  const errors = [];
  const waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  return {
    list,
    errors,
    onChange: (s) => {
      list.push(s);
      wake();
    },
    onError: (e) => {
      errors.push(e);
      wake();
    },
    next(pred = () => true, ms = 10000, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching snapshot; got ' + JSON.stringify(list.slice(-3)) + ' errors ' + errors.map((e) => e.errMsg))), ms);
        const check = () => {
          const s = list.slice(from).find(pred);
          if (s) {
            clearTimeout(timer);
            resolve(s);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

module.exports = { startFakes, startServer, until, snapshots, freePort, repo };
