// Realtime `watch` through the wx adapter's sockets against a real server: CloudBase's
// onChange shape, one connection for every watcher, close(), errors of one watch, and staying
// live across a dropped connection, a half-open link, the app going to the background, and a
// server restart — each time the page gets only what changed meanwhile.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('./setup');
const { snapshots, until } = require('./harness');

const ids = (s) => s.docs.map((d) => d._id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('realtime', async (t) => {
  const env = await setup(t);
  const svc = (method, path, body) => env.server.service(method, path, body);
  let n = 0;
  const group = () => 'g' + ++n; // each subtest watches its own documents

  await t.test('init, add, update, remove in CloudBase’s shape', async () => {
    const wx = env.phone('rt-alice');
    const app = env.app(wx);
    const db = app.database();
    const _ = db.command;
    const g = group();
    const s = snapshots();
    const w = db.collection('items').where({ g, done: false }).orderBy('rank', 'asc').limit(10).watch(s);
    const init = await s.next();
    assert.equal(init.type, 'init');
    assert.equal(init.id, 1);
    assert.deepEqual(init.docs, []);
    assert.deepEqual(init.docChanges, []);

    const when = new Date('2025-01-01T00:00:00Z');
    const { _id } = await db.collection('items').add({ data: { g, done: false, rank: 2, title: 'a', when } });
    const added = await s.next((x) => x.id == 2);
    assert.equal(added.type, undefined);
    assert.deepEqual(ids(added), [_id]);
    assert.ok(added.docs[0].when instanceof Date);
    assert.equal(added.docChanges.length, 1);
    const c = added.docChanges[0];
    assert.equal(c.dataType, 'add');
    assert.equal(c.queueType, 'enqueue');
    assert.equal(c.docId, _id);
    assert.equal(c.id, 2);
    assert.equal(c.doc.title, 'a');

    await db.collection('items').doc(_id).update({ data: { title: 'b' } });
    const updated = await s.next((x) => x.id == 3);
    assert.equal(updated.docChanges[0].dataType, 'update');
    assert.equal(updated.docChanges[0].queueType, 'update');
    assert.deepEqual(updated.docChanges[0].updatedFields, { title: 'b' });

    await db.collection('items').doc(_id).update({ data: { done: true } });
    const left = await s.next((x) => x.id == 4);
    assert.deepEqual(left.docs, []);
    assert.equal(left.docChanges[0].queueType, 'dequeue');

    await w.close();
    await db.collection('items').add({ data: { g, done: false, rank: 1 } });
    await sleep(300);
    assert.equal(s.list.length, 4, 'nothing after close()');
    assert.equal(s.errors.length, 0);
    void _;
  });

  await t.test('one connection for every watcher; the last close() closes it', async () => {
    const wx = env.phone('rt-bob');
    const app = env.app(wx);
    const c = app.database().collection('items');
    const g = group();
    const all = [snapshots(), snapshots(), snapshots()];
    const ws = all.map((s, i) => c.where({ g, k: i }).watch(s));
    await Promise.all(all.map((s) => s.next()));
    assert.equal(wx._calls.connectSocket, 1);
    await svc('POST', '/api/db/items/docs', { g, k: 1 });
    await all[1].next((x) => x.id == 2);
    assert.equal(all[0].list.length, 1);
    assert.equal(all[2].list.length, 1);
    await ws[0].close();
    await ws[1].close();
    assert.equal(wx._engine.sockets.size, 1);
    await ws[2].close();
    await until('the socket to close', () => wx._engine.sockets.size == 0);
  });

  await t.test('an error ends one watch, not the others', async () => {
    const app = env.app(env.phone('rt-carol'));
    const db = app.database();
    const bad = snapshots();
    const good = snapshots();
    db.collection('undeclared').watch(bad);
    db.collection('items').where({ g: group() }).watch(good);
    await until('the error', () => bad.errors.length == 1);
    assert.equal(bad.errors[0].code, 'PERMISSION_DENIED');
    assert.match(bad.errors[0].errMsg, /^watch:fail PERMISSION_DENIED/);
    await good.next();
    assert.throws(() => db.collection('items').skip(1).watch(good), (e) => e.code == 'INVALID_ARGUMENT');
    assert.throws(() => db.collection('items').field({ a: true }).watch(good), (e) => e.code == 'INVALID_ARGUMENT');
    assert.throws(() => db.collection('items').watch({}), (e) => e.code == 'INVALID_ARGUMENT');
  });

  await t.test('a dropped connection: reconnects and delivers what changed meanwhile', async () => {
    const wx = env.phone('rt-dave');
    const app = env.app(wx);
    const g = group();
    await svc('PUT', '/api/db/items/docs/' + g + '-keep', { g, v: 1 });
    await svc('PUT', '/api/db/items/docs/' + g + '-gone', { g, v: 1 });
    const s = snapshots();
    app.database().collection('items').where({ g }).orderBy('_id', 'asc').watch(s);
    await s.next();
    wx._engine.offline = true; // the phone loses the network
    wx._engine.dropSockets();
    await svc('PATCH', '/api/db/items/docs/' + g + '-keep', { data: { v: 2 } });
    await svc('DELETE', '/api/db/items/docs/' + g + '-gone');
    await svc('PUT', '/api/db/items/docs/' + g + '-new', { g, v: 1 });
    await sleep(300);
    wx._engine.offline = false;
    const after = await s.next((x) => x.id == 2);
    assert.equal(after.type, undefined, 'not a fresh init: the changes since the last snapshot');
    assert.deepEqual(ids(after), [g + '-keep', g + '-new']);
    const byType = {};
    for (const c of after.docChanges) byType[c.docId] = [c.dataType, c.queueType];
    assert.deepEqual(byType, {
      [g + '-keep']: ['update', 'update'],
      [g + '-gone']: ['remove', 'dequeue'],
      [g + '-new']: ['add', 'enqueue'],
    });
    assert.deepEqual(after.docChanges.find((c) => c.docId == g + '-keep').updatedFields, { v: 2 });
    assert.ok(wx._calls.connectSocket >= 2);
    // and it is live again
    await svc('PATCH', '/api/db/items/docs/' + g + '-new', { data: { v: 3 } });
    const live = await s.next((x) => x.id == 3);
    assert.equal(live.docChanges[0].docId, g + '-new');
  });

  await t.test('nothing changed while away: no snapshot at all', async () => {
    const wx = env.phone('rt-erin');
    const app = env.app(wx);
    const g = group();
    await svc('PUT', '/api/db/items/docs/' + g, { g });
    const s = snapshots();
    app.database().collection('items').where({ g }).watch(s);
    await s.next();
    const before = wx._calls.connectSocket;
    wx._engine.dropSockets();
    await until('a reconnect', () => wx._calls.connectSocket > before && wx._engine.sockets.size == 1);
    await sleep(400);
    assert.equal(s.list.length, 1);
  });

  await t.test('a half-open link is found by the heartbeat and replaced', async () => {
    const wx = env.phone('rt-frank');
    const app = env.app(wx);
    const g = group();
    const s = snapshots();
    app.database().collection('items').where({ g }).watch(s);
    await s.next();
    wx._engine.freezeSockets(); // frames vanish, no close comes
    await svc('PUT', '/api/db/items/docs/' + g, { g, v: 1 });
    const got = await s.next((x) => x.id == 2, 10000);
    assert.deepEqual(ids(got), [g]);
    assert.equal(wx._calls.connectSocket, 2);
  });

  await t.test('back from the background: reconnects at once', async () => {
    const wx = env.phone('rt-gina');
    // a long backoff: only onAppShow can bring it back quickly
    const app = env.app(wx, { realtime: { pingInterval: 60000, pongTimeout: 5000, reconnectBase: 60000, reconnectMax: 60000 } });
    const g = group();
    const s = snapshots();
    app.database().collection('items').where({ g }).watch(s);
    await s.next();
    wx._hide();
    wx._engine.dropSockets(); // WeChat closes the sockets of a backgrounded mini program
    await svc('PUT', '/api/db/items/docs/' + g, { g });
    await sleep(300);
    assert.equal(s.list.length, 1, 'waiting out the backoff');
    const t0 = Date.now();
    wx._show();
    await s.next((x) => x.id == 2, 8000);
    assert.ok(Date.now() - t0 < 5000, 'long before the 30–60 s backoff');
  });

  await t.test('a server restart: watchers come back on their own', async () => {
    const wx = env.phone('rt-hank');
    const app = env.app(wx);
    const g = group();
    const s = snapshots();
    app.database().collection('items').where({ g }).watch(s);
    await s.next();
    await env.server.stop(); // SIGTERM: realtime connections are told to go (1001)
    await env.server.start(); // same port, same data
    await svc('PUT', '/api/db/items/docs/' + g, { g, after: 'restart' });
    const got = await s.next((x) => x.id == 2, 10000);
    assert.deepEqual(ids(got), [g]);
    assert.equal(s.errors.length, 0);
    // kill -9 too
    await env.server.kill();
    await env.server.start();
    await svc('PATCH', '/api/db/items/docs/' + g, { data: { after: 'kill' } });
    const again = await s.next((x) => x.id == 3, 10000);
    assert.equal(again.docs[0].after, 'kill');
  });
});
