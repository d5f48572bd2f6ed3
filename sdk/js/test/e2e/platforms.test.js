// Every other adapter end to end against the real server, over its platform simulation:
// sign-in (dev login; the platforms' own login endpoints come with their server side), the
// session in the platform's storage, documents, a watch, an upload, a temp URL and a download.
// Each platform's login call goes to `/api/auth/<provider>/login` with its login code.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const WebSocket = require('ws');
const sim = require('../sim/platforms');
const { setup, FAST } = require('./setup');
const { snapshots } = require('./harness');

function browserGlobals(win) {
  for (const k of ['XMLHttpRequest', 'localStorage', 'document']) globalThis[k] = win[k];
  globalThis.addEventListener = win.addEventListener;
}

function memory() {
  const m = new Map();
  return { get: (k) => m.get(k), set: (k, v) => m.set(k, v), remove: (k) => m.delete(k) };
}

const PLATFORMS = [
  ['qq', () => sim.makeQq(), () => ({ platform: 'qq' }), 'qq', (api) => (globalThis.qq = api)],
  ['tt', () => sim.makeTt(), () => ({ platform: 'tt' }), 'douyin', (api) => (globalThis.tt = api)],
  ['swan', () => sim.makeSwan(), () => ({ platform: 'swan' }), 'baidu', (api) => (globalThis.swan = api)],
  ['my', () => sim.makeMy(), () => ({ platform: 'my' }), 'alipay', (api) => (globalThis.my = api)],
  ['uni', () => sim.makeUni({ uniPlatform: 'mp-alipay' }), () => ({ platform: 'uni' }), 'alipay', (api) => (globalThis.uni = api)],
  ['taro', () => sim.makeTaro({ env: 'TT' }), (api) => ({ platform: 'taro', taro: api }), 'douyin', () => {}],
  ['browser', () => sim.makeBrowser(), () => ({ platform: 'browser', WebSocket }), undefined, browserGlobals],
  ['node', () => ({ _engine: new sim.Engine(), store: memory() }), (api) => ({ platform: 'node', WebSocket, storage: api.store }), undefined, () => {}],
];

test('every platform end to end', async (t) => {
  const env = await setup(t);
  for (const [name, make, opts, provider, install] of PLATFORMS) {
    await t.test(name, async () => {
      const api = make();
      const engine = api._engine;
      t.after(() => engine.cleanup());
      install(api);
      const app = env.minibase.init(Object.assign({ url: env.server.url, autoSignIn: false, realtime: FAST }, opts(api)));
      assert.equal(app.adapter.name, name);
      assert.equal(app.adapter.provider, provider);

      if (provider) {
        // the platform's own login: its code goes to its provider's endpoint
        const before = engine.log.length;
        await app.auth.signIn().catch(() => {});
        assert.deepEqual(engine.log.slice(before).map((r) => r.path), ['/api/auth/' + provider + '/login']);
      }
      const openid = 'plat-' + name;
      const user = await app.auth.signInWithOpenid(openid);
      assert.equal(user.openid, openid);

      const todos = app.database().collection('todos');
      const s = snapshots();
      const w = todos.where({ list: 'p' }).watch(s);
      await s.next();
      const { _id } = await todos.add({ data: { list: 'p', title: name, at: new Date(1) } });
      const snap = await s.next((x) => x.docs.length == 1);
      assert.equal(snap.docs[0]._id, _id);
      assert.equal(snap.docChanges[0].dataType, 'add');
      const got = await todos.doc(_id).get();
      assert.equal(got.data.title, name);
      assert.ok(got.data.at instanceof Date);
      await w.close();

      const bytes = Buffer.from('hello from ' + name);
      const filePath = name == 'browser' ? new Blob([bytes]) : name == 'node' ? new Uint8Array(bytes) : engine.tempFile(bytes, '.jpg');
      const progress = [];
      const up = await app.uploadFile({ cloudPath: `p/${openid}/a.jpg`, filePath, onUploadProgress: (p) => progress.push(p.progress) });
      assert.equal(up.fileID, `mb://p/${openid}/a.jpg`);
      assert.ok(progress.length >= 1);
      const d = await app.downloadFile({ fileID: up.fileID });
      const body = name == 'node' ? Buffer.from(d.data) : name == 'browser' ? Buffer.from(await require('node:buffer').resolveObjectURL(d.tempFilePath).arrayBuffer()) : fs.readFileSync(d.tempFilePath);
      assert.equal(body.toString(), bytes.toString());

      // the session is in the platform's storage: a new app picks it up
      const again = env.minibase.init(Object.assign({ url: env.server.url, autoSignIn: false }, opts(api)));
      assert.equal(again.auth.currentUser.openid, openid);
      assert.equal((await again.database().collection('todos').where({ list: 'p' }).get()).data.length, 1);
    });
  }
});
