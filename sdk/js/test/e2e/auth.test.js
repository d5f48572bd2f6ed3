// Sign-in and tokens through the wx adapter against a real server whose access tokens live 2 s:
// implicit sign-in (once, however many calls wait), the session kept in wx storage, one
// refresh in flight for everybody, a 401 refreshed and retried once, a refused refresh signing
// in again through wx.login without the page noticing, sign-out, phone numbers, and login
// failures.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setup, requests } = require('./setup');
const { snapshots } = require('./harness');

const count = (list, what) => list.filter((r) => r == what).length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('auth', async (t) => {
  // tokens live 2 s; realtime re-checks a connection's token every second (idle_timeout / 3)
  const env = await setup(t, { accessTtl: '2s', extra: '[realtime]\nidle_timeout = "3s"\n' });
  const key = 'minibase:auth:' + env.server.url;

  await t.test('the first call signs in through wx.login, once for everybody waiting', async () => {
    const wx = env.phone('auth-alice');
    const app = env.app(wx);
    const states = [];
    app.auth.onAuthStateChanged((u) => states.push(u && u.openid));
    const todos = app.database().collection('todos');
    const all = await Promise.all(Array.from({ length: 8 }, () => todos.get()));
    for (const r of all) assert.equal(r.errMsg, 'collection.get:ok');
    assert.equal(wx._calls.login, 1);
    assert.equal(count(requests(wx), 'POST /api/auth/wechat/login'), 1);
    assert.equal(app.auth.currentUser.openid, 'auth-alice');
    assert.equal(app.auth.currentUser.platform, 'wechat');
    assert.deepEqual(states, [null, 'auth-alice']);
    const stored = JSON.parse(wx.getStorageSync(key));
    assert.equal(stored.user.openid, 'auth-alice');
    assert.ok(stored.refresh_token);
  });

  await t.test('the session survives a restart of the mini program', async () => {
    const wx = env.phone('auth-bob');
    await env.app(wx).auth.signIn();
    const again = env.app(wx); // a new launch: same storage
    assert.equal(again.auth.currentUser.openid, 'auth-bob', 'known at once, from storage');
    await again.database().collection('todos').get();
    assert.equal(wx._calls.login, 1, 'no second wx.login');
  });

  await t.test('an expiring token is refreshed once however many calls wait', async () => {
    const wx = env.phone('auth-carol');
    const app = env.app(wx);
    await app.auth.signIn();
    const todos = app.database().collection('todos');
    await sleep(1700); // within the last quarter of the 2 s lifetime
    const from = wx._engine.log.length;
    await Promise.all(Array.from({ length: 10 }, () => todos.get()));
    const log = requests(wx, from);
    assert.equal(count(log, 'POST /api/auth/refresh'), 1, log.join('\n'));
    assert.equal(log.indexOf('POST /api/auth/refresh'), 0, 'refreshed before sending');
    assert.equal(count(log, 'POST /api/db/todos/query'), 10);
    assert.equal(wx._calls.login, 1);
  });

  await t.test('a call refused with 401 refreshes (once for all) and is sent again', async () => {
    const wx = env.phone('auth-dave');
    await env.app(wx).auth.signIn();
    // the phone's clock is wrong: it believes the token is good for an hour
    const s = JSON.parse(wx.getStorageSync(key));
    s.expires_at = Date.now() + 3600e3;
    wx.setStorageSync(key, JSON.stringify(s));
    const app = env.app(wx);
    await sleep(2200); // the token has expired at the server
    const from = wx._engine.log.length;
    const todos = app.database().collection('todos');
    const res = await Promise.all(Array.from({ length: 5 }, () => todos.get()));
    for (const r of res) assert.equal(r.errMsg, 'collection.get:ok');
    const log = requests(wx, from);
    assert.equal(count(log, 'POST /api/auth/refresh'), 1, log.join('\n'));
    assert.equal(count(log, 'POST /api/db/todos/query'), 10, 'each sent twice: refused, then accepted');
    assert.equal(wx._calls.login, 1);
  });

  await t.test('a refused refresh signs in again through wx.login without the page noticing', async () => {
    const wx = env.phone('auth-erin');
    const app = env.app(wx);
    const user = await app.auth.signIn();
    const todos = app.database().collection('todos');
    await todos.add({ data: { title: 'before' } });
    // the session is revoked elsewhere (signed out on another device, an operator…)
    const s = JSON.parse(wx.getStorageSync(key));
    const r = await fetch(env.server.url + '/api/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh_token }) });
    assert.equal(r.status, 204);
    const from = wx._engine.log.length;
    const got = await todos.get();
    assert.deepEqual(
      got.data.map((d) => d.title),
      ['before'],
    );
    const log = requests(wx, from);
    // query refused (401) → refresh refused → wx.login → query again; on a slow machine the
    // 2 s token may be refreshed before the first query instead (then no refused query)
    assert.equal(count(log, 'POST /api/auth/refresh'), 1, log.join('\n'));
    assert.equal(count(log, 'POST /api/auth/wechat/login'), 1, log.join('\n'));
    assert.equal(log[log.length - 1], 'POST /api/db/todos/query');
    assert.ok(log.indexOf('POST /api/auth/wechat/login') > log.indexOf('POST /api/auth/refresh'));
    assert.equal(wx._calls.login, 2);
    assert.equal(app.auth.currentUser.id, user.id, 'the same user');
  });

  await t.test('sign out revokes the session; the next call signs in again', async () => {
    const wx = env.phone('auth-frank');
    const app = env.app(wx);
    await app.auth.signIn();
    const states = [];
    const stop = app.auth.onAuthStateChanged((u) => states.push(u && u.openid));
    await sleep(0);
    const s = JSON.parse(wx.getStorageSync(key));
    await app.auth.signOut();
    assert.equal(app.auth.currentUser, null);
    assert.equal(wx.getStorageSync(key), '');
    assert.deepEqual(states, ['auth-frank', null]);
    const r = await fetch(env.server.url + '/api/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh_token }) });
    assert.equal(r.status, 401, 'the server forgot the session');
    await app.database().collection('todos').get();
    assert.equal(app.auth.currentUser.openid, 'auth-frank');
    assert.equal(wx._calls.login, 2);
    stop();
  });

  await t.test('without autoSignIn nothing signs in by itself', async () => {
    const wx = env.phone('auth-gina');
    const app = env.app(wx, { autoSignIn: false });
    await app.database().collection('items').add({ data: { anonymous: true } });
    assert.equal(wx._calls.login, 0);
    assert.equal(app.auth.currentUser, null);
    const u = await app.auth.signIn();
    assert.equal(u.openid, 'auth-gina');
  });

  await t.test('phone numbers', async () => {
    const wx = env.phone('auth-hank');
    const app = env.app(wx);
    await env.fakes.wechatApi('/_fake/phone-codes', { code: 'phone-code-1', phone: '13800138000' });
    const before = wx._engine.log.length;
    await assert.rejects(app.auth.signInWithPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }), (e) => e.code == 'CANCELLED');
    assert.equal(wx._engine.log.length, before, 'nothing sent when the user refused');
    const p = await app.auth.signInWithPhoneNumber({ detail: { code: 'phone-code-1' } });
    assert.equal(p.phoneNumber, '13800138000');
    assert.equal(p.purePhoneNumber, '13800138000');
    assert.equal(p.countryCode, '86');
    assert.equal(app.auth.currentUser.phone_number, '13800138000');
    assert.equal((await app.auth.getUser()).phone_number, '13800138000');
    await assert.rejects(app.auth.signInWithPhoneNumber({ detail: { code: 'phone-code-1' } }), (e) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.upstream.errcode, 40029);
      return true;
    });
  });

  await t.test('login failures reach the caller, and the next call works', async () => {
    const wx = env.phone('auth-ivy');
    const app = env.app(wx);
    wx._sim.loginFails = 1;
    await assert.rejects(app.database().collection('todos').get(), (e) => {
      assert.equal(e.code, 'NETWORK_ERROR');
      assert.match(e.errMsg, /^auth\.signIn:fail /);
      return true;
    });
    await env.fakes.wechatApi('/_fake/faults', { endpoint: 'jscode2session', errcode: 40226 });
    await assert.rejects(app.auth.signIn(), (e) => {
      assert.equal(e.code, 'UPSTREAM_ERROR');
      assert.equal(e.errCode, 502);
      assert.deepEqual(e.upstream, { service: 'wechat', errcode: 40226 });
      return true;
    });
    assert.equal((await app.database().collection('todos').get()).errMsg, 'collection.get:ok');
  });

  await t.test('a watch outlives its token: the server closes, the SDK renews and reconnects', async () => {
    const wx = env.phone('auth-jack');
    const app = env.app(wx);
    const todos = app.database().collection('todos');
    const s = snapshots();
    todos.where({ tag: 'live' }).watch(s);
    await s.next();
    await sleep(3500); // the token expired: the server sent UNAUTHENTICATED and closed (1008)
    const { _id } = await todos.add({ data: { tag: 'live' } });
    const got = await s.next((x) => x.docs.some((d) => d._id == _id), 8000);
    assert.equal(got.docs.length, 1);
    assert.equal(s.errors.length, 0, 'the page saw no error');
    assert.ok(wx._calls.connectSocket >= 2, 'reconnected');
    assert.ok(requests(wx).includes('POST /api/auth/refresh'));
    assert.equal(wx._calls.login, 1, 'renewed by refresh, not a new sign-in');
  });

  await t.test('dev sign-in as an openid', async () => {
    const wx = env.phone('unused');
    const app = env.app(wx, { autoSignIn: false });
    const u = await app.auth.signInWithOpenid('dev-user-1');
    assert.equal(u.openid, 'dev-user-1');
    assert.equal(wx._calls.login, 0);
  });
});
