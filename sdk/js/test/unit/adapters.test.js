// Each adapter against a faithful simulation of its platform's callback API (test/sim), over
// real HTTP and WebSockets to a local echo server: requests and their answers, HTTP errors,
// network failures, timeouts and aborts, uploads with progress and abort, downloads, sockets
// (open, messages, close codes, refused upgrades), storage, login codes and payment.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const WebSocket = require('ws');
const sdk = require('../../dist/index.cjs');
const sim = require('../sim/platforms');
const { startEchoServer } = require('./echo-server');

let server;
test.before(async () => {
  server = await startEchoServer();
});
test.after(() => server.close());

function installBrowserGlobals(win) {
  for (const k of ['XMLHttpRequest', 'localStorage', 'document']) globalThis[k] = win[k];
  globalThis.addEventListener = win.addEventListener;
}

const PLATFORMS = {
  wx: () => {
    const api = sim.makeWx();
    return { api, engine: api._engine, adapter: sdk.wxAdapter(api), provider: 'wechat' };
  },
  qq: () => {
    const api = sim.makeQq();
    return { api, engine: api._engine, adapter: sdk.qqAdapter(api), provider: 'qq' };
  },
  tt: () => {
    const api = sim.makeTt();
    return { api, engine: api._engine, adapter: sdk.ttAdapter(api), provider: 'douyin' };
  },
  swan: () => {
    const api = sim.makeSwan();
    return { api, engine: api._engine, adapter: sdk.swanAdapter(api), provider: 'baidu' };
  },
  uni: () => {
    const api = sim.makeUni({ uniPlatform: 'mp-toutiao' });
    return { api, engine: api._engine, adapter: sdk.uniAdapter(api), provider: 'douyin' };
  },
  taro: () => {
    const api = sim.makeTaro({ env: 'QQ' });
    return { api, engine: api._engine, adapter: sdk.taroAdapter(api), provider: 'qq' };
  },
  my: () => {
    const api = sim.makeMy();
    return { api, engine: api._engine, adapter: sdk.myAdapter(api), provider: 'alipay' };
  },
  browser: () => {
    const win = sim.makeBrowser();
    installBrowserGlobals(win);
    return { api: win, engine: win._engine, adapter: sdk.browserAdapter({ WebSocket }), provider: undefined };
  },
  node: () => {
    const engine = new sim.Engine();
    return { api: null, engine, adapter: sdk.nodeAdapter({ WebSocket }), provider: undefined };
  },
};

const headerOf = (h, k) => {
  for (const x of Object.keys(h)) if (x.toLowerCase() == k) return h[x];
};

function socketEvents(adapter, url, headers) {
  const ev = [];
  const waiters = [];
  const push = (e) => {
    ev.push(e);
    for (const w of waiters.splice(0)) w();
  };
  const s = adapter.socket(url, headers, {
    open: () => push({ t: 'open' }),
    message: (d) => push({ t: 'message', d }),
    close: (code, reason) => push({ t: 'close', code, reason }),
    error: (m) => push({ t: 'error', m }),
  });
  const next = (pred, ms = 5000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timeout waiting; events: ' + JSON.stringify(ev))), ms);
      const check = () => {
        const e = ev.find(pred);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else waiters.push(check);
      };
      check();
    });
  return { s, ev, next };
}

for (const [name, make] of Object.entries(PLATFORMS)) {
  test(`${name}: adapter`, async (t) => {
    const { api, engine, adapter, provider } = make();
    t.after(() => engine.cleanup());

    assert.equal(adapter.provider, provider, 'login provider');

    await t.test('a JSON request and its answer', async () => {
      const r = await adapter.request({
        url: server.base + '/echo/a',
        method: 'POST',
        headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
        body: JSON.stringify({ a: 1, s: '中文' }),
        timeout: 5000,
      }).promise;
      assert.equal(r.status, 200);
      assert.equal(r.body.method, 'POST');
      assert.deepEqual(r.body.body, { a: 1, s: '中文' });
      assert.equal(r.body.headers.authorization, 'Bearer tok');
      assert.match(r.body.headers['content-type'], /^application\/json/);
      assert.equal(headerOf(r.headers, 'x-request-id'), 'req-echo');
    });

    await t.test('GET without a body', async () => {
      const r = await adapter.request({ url: server.base + '/echo/get', method: 'GET', headers: {}, timeout: 5000 }).promise;
      assert.equal(r.body.method, 'GET');
      assert.equal(r.body.body, '');
    });

    await t.test('an HTTP error is an answer, not a failure', async () => {
      for (const code of [401, 403, 404, 429, 500, 503]) {
        const r = await adapter.request({ url: server.base + '/status/' + code, method: 'GET', headers: {}, timeout: 5000 }).promise;
        assert.equal(r.status, code);
        assert.equal(r.body.error.message, 'status ' + code);
        assert.equal(headerOf(r.headers, 'retry-after'), '1');
      }
    });

    await t.test('a text answer stays text', async () => {
      const r = await adapter.request({ url: server.base + '/text', method: 'GET', headers: {}, timeout: 5000 }).promise;
      assert.equal(r.body, 'plain text');
    });

    await t.test('a network failure', async () => {
      await assert.rejects(adapter.request({ url: 'http://127.0.0.1:9/x', method: 'GET', headers: {}, timeout: 5000 }).promise, (e) => {
        assert.equal(e.aborted, false);
        assert.match(e.errMsg, /fail/);
        return true;
      });
    });

    await t.test('a timeout', async () => {
      await assert.rejects(adapter.request({ url: server.base + '/slow', method: 'GET', headers: {}, timeout: 150 }).promise, (e) => {
        assert.equal(e.aborted, false);
        assert.match(e.errMsg, /time|超时|13/);
        return true;
      });
    });

    await t.test('abort', async () => {
      const task = adapter.request({ url: server.base + '/slow', method: 'GET', headers: {}, timeout: 5000 });
      setTimeout(() => task.abort(), 50);
      await assert.rejects(task.promise, (e) => {
        assert.equal(e.aborted, true, e.errMsg);
        return true;
      });
    });

    await t.test('upload with progress', async () => {
      const bytes = Buffer.alloc(300 * 1024, 7);
      const path = engine.tempFile(bytes, '.jpg');
      const file = name == 'browser' ? new Blob([bytes]) : path;
      const seen = [];
      const r = await adapter.upload({
        url: server.base + '/upload',
        headers: { authorization: 'Bearer up' },
        filePath: file,
        name: 'file',
        formData: { cloudPath: 'a/b.jpg' },
        timeout: 10000,
        onProgress: (p) => seen.push(p),
      }).promise;
      assert.equal(r.status, 200);
      assert.equal(r.body.fields.cloudPath, 'a/b.jpg');
      assert.equal(r.body.file.field, 'file');
      assert.equal(r.body.file.size, bytes.length);
      assert.ok(seen.length >= 2, 'several progress events');
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].totalBytesSent >= seen[i - 1].totalBytesSent);
      const last = seen[seen.length - 1];
      assert.equal(last.totalBytesSent, last.totalBytesExpectedToSend);
      assert.equal(last.loaded, last.total);
      assert.ok(last.total > bytes.length, 'the multipart body is counted');
      assert.ok(last.progress >= 99);
    });

    await t.test('upload abort', async () => {
      const bytes = Buffer.alloc(8 * 1024 * 1024, 1);
      const path = engine.tempFile(bytes, '.mp4');
      const file = name == 'browser' ? new Blob([bytes]) : path;
      let task;
      let aborted = false;
      task = adapter.upload({
        url: server.base + '/upload',
        headers: {},
        filePath: file,
        name: 'file',
        formData: { cloudPath: 'big.mp4' },
        timeout: 10000,
        onProgress: (p) => {
          if (!aborted && p.totalBytesSent > 256 * 1024) {
            aborted = true;
            task.abort();
          }
        },
      });
      await assert.rejects(task.promise, (e) => {
        assert.equal(e.aborted, true, e.errMsg);
        return true;
      });
      assert.ok(aborted);
    });

    await t.test('download', async () => {
      const r = await adapter.download(server.base + '/file', {}).promise;
      assert.equal(r.statusCode, 200);
      if (name == 'node') assert.equal(Buffer.from(r.data).toString(), 'hello file');
      else if (name == 'browser') {
        assert.match(r.tempFilePath, /^blob:/);
        const blob = require('node:buffer').resolveObjectURL(r.tempFilePath);
        assert.equal(await blob.text(), 'hello file');
      } else assert.equal(fs.readFileSync(r.tempFilePath, 'utf8'), 'hello file');
    });

    await t.test('a socket: open, messages, the server closing', async () => {
      const url = server.base.replace('http', 'ws') + '/ws' + (adapter.socketTokenInQuery ? '?access_token=tok' : '');
      const { s, next } = socketEvents(adapter, url, adapter.socketTokenInQuery ? {} : { authorization: 'Bearer tok' });
      await next((e) => e.t == 'open');
      const hello = JSON.parse((await next((e) => e.t == 'message')).d);
      if (adapter.socketTokenInQuery) assert.equal(hello.query, '?access_token=tok');
      else assert.equal(hello.authorization, 'Bearer tok');
      s.send('ping?');
      assert.equal((await next((e) => e.t == 'message' && e.d.startsWith('echo:'))).d, 'echo:ping?');
      s.send('close-me');
      const c = await next((e) => e.t == 'close');
      assert.equal(c.code, 4001);
      assert.equal(c.reason, 'bye');
    });

    await t.test('a socket: closing it ourselves', async () => {
      const url = server.base.replace('http', 'ws') + '/ws';
      const { s, next } = socketEvents(adapter, url, {});
      await next((e) => e.t == 'open');
      s.close(1000, 'done');
      const c = await next((e) => e.t == 'close');
      assert.equal(c.code, 1000);
    });

    await t.test('a refused upgrade closes before opening', async () => {
      const url = server.base.replace('http', 'ws') + '/ws?reject=1';
      const { ev, next } = socketEvents(adapter, url, {});
      const c = await next((e) => e.t == 'close');
      assert.equal(c.code, 1006);
      assert.ok(!ev.some((e) => e.t == 'open'));
    });

    await t.test('storage', () => {
      assert.equal(adapter.storage.get('k'), undefined);
      adapter.storage.set('k', '{"a":1}');
      assert.equal(adapter.storage.get('k'), '{"a":1}');
      adapter.storage.remove('k');
      assert.equal(adapter.storage.get('k'), undefined);
    });

    if (provider) {
      await t.test('login code', async () => {
        const code = await adapter.login();
        assert.equal(typeof code, 'string');
        assert.ok(code.length > 3);
      });
    } else {
      assert.equal(adapter.login, undefined, 'no login code on ' + name);
    }
    void api;
  });
}

test('my: payment answers resultCode', async () => {
  const ok = sdk.myAdapter(sim.makeMy({ tradeResult: '9000' }));
  assert.equal((await ok.pay({ tradeNO: 'T1' })).resultCode, '9000');
  const cancel = sdk.myAdapter(sim.makeMy({ tradeResult: '6001' }));
  await assert.rejects(cancel.pay({ tradeNO: 'T1' }), /cancel/);
});

test('my: an HTTP error (fail with error 19) keeps its body', async () => {
  const a = sdk.myAdapter(sim.makeMy());
  const r = await a.request({ url: server.base + '/status/409', method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}', timeout: 5000 }).promise;
  assert.equal(r.status, 409);
  assert.equal(r.body.error.request_id, 'req-409');
});

test('uni: the login provider follows the build target', async () => {
  for (const [target, provider] of [
    ['mp-weixin', 'wechat'],
    ['mp-alipay', 'alipay'],
    ['mp-baidu', 'baidu'],
    ['mp-qq', 'qq'],
  ]) {
    const a = sdk.uniAdapter(sim.makeUni({ uniPlatform: target }));
    assert.equal(a.provider, provider);
    assert.match(await a.login(), /^uni-/);
  }
  const web = sdk.uniAdapter(sim.makeUni({ uniPlatform: 'web' }));
  assert.equal(web.provider, undefined);
  assert.equal(web.login, undefined);
});

test('detectPlatform', () => {
  const saved = {};
  const names = ['uni', 'qq', 'tt', 'swan', 'my', 'wx'];
  for (const n of names) saved[n] = globalThis[n];
  try {
    for (const n of names) delete globalThis[n];
    assert.equal(sdk.detectPlatform(), 'node');
    globalThis.wx = sim.makeWx();
    assert.equal(sdk.detectPlatform(), 'wx');
    globalThis.qq = sim.makeQq(); // QQ also defines wx
    assert.equal(sdk.detectPlatform(), 'qq');
    delete globalThis.qq;
    globalThis.uni = sim.makeUni(); // uni-app on WeChat has both
    assert.equal(sdk.detectPlatform(), 'uni');
    delete globalThis.uni;
    delete globalThis.wx;
    globalThis.my = sim.makeMy();
    assert.equal(sdk.detectPlatform(), 'my');
  } finally {
    for (const n of names) {
      if (saved[n] === undefined) delete globalThis[n];
      else globalThis[n] = saved[n];
    }
  }
});
