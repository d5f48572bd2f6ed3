// The example mini program (examples/miniprogram-todo) run as WeChat would run it — its own
// app.js, page and copy of minibase.wx.js, in a context without Node's globals — through the
// simulated wx against a real server: signs in by itself, shows the list live (a todo added on
// another device of the same user appears), adds, attaches a photo (upload with progress, temp
// URL shown), completes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { setup } = require('./setup');
const { until, repo } = require('./harness');
const { loadMiniProgram } = require('../sim/miniprogram');

const ROOT = path.join(repo, 'examples/miniprogram-todo/miniprogram');

test('the example mini program', async (t) => {
  const env = await setup(t);
  const photo = crypto.randomBytes(64 * 1024);
  const wx = env.phone('todo-user', { nextMedia: () => wx._engine.tempFile(photo, '.jpg') });
  const mp = loadMiniProgram(ROOT, wx, { 'config.js': { url: env.server.url } });
  const page = mp.openPage('pages/index/index');
  t.after(() => page.onUnload());

  await until('signed in and the first snapshot shown', () => page.data.user && page.updates >= 2);
  assert.equal(page.data.user.openid, 'todo-user');
  assert.deepEqual(page.data.todos, []);
  assert.equal(wx._calls.login, 1);

  page.onInput({ detail: { value: '  买牛奶  ' } });
  await page.onAdd();
  assert.equal(page.data.title, '');
  await until('the new todo on the list', () => page.data.todos.length == 1);
  assert.equal(page.data.todos[0].title, '买牛奶');

  // the same user on a second device (e.g. their iPad): appears live on the first
  const other = env.phone('todo-user');
  const otherApp = env.app(other);
  await otherApp.database().collection('todos').add({ data: { title: 'from the iPad', done: false, createdAt: otherApp.database().serverDate() } });
  await until('the other device’s todo', () => page.data.todos.length == 2);
  assert.deepEqual(
    page.data.todos.map((x) => x.title),
    ['from the iPad', '买牛奶'],
  );
  // someone else's todos never show up
  const stranger = env.app(env.phone('todo-stranger'));
  await stranger.database().collection('todos').add({ data: { title: 'not yours', done: false, createdAt: new Date() } });

  const milk = page.data.todos.find((x) => x.title == '买牛奶');
  const progress = [];
  const origSetData = page.setData;
  page.setData = function (p, cb) {
    if (p.progress) progress.push(p.progress);
    return origSetData.call(this, p, cb);
  };
  await page.onAttach({ currentTarget: { dataset: { id: milk._id } } });
  assert.equal(page.data.error, '');
  assert.ok(progress.length >= 1 && progress[progress.length - 1] == 100, 'progress shown: ' + progress);
  await until('the photo shown', () => page.data.todos.find((x) => x._id == milk._id).photoUrl);
  const url = page.data.todos.find((x) => x._id == milk._id).photoUrl;
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(photo), 'the temp URL serves the photo');

  await page.onDone({ currentTarget: { dataset: { id: milk._id } } });
  await until('done todos leave the list', () => page.data.todos.length == 1);
  assert.equal(page.data.todos[0].title, 'from the iPad');
  assert.equal(page.data.error, '');
});
