// The database through the SDK (wx adapter) against a real server: CRUD with wx.cloud's result
// shapes, every query and update operator of the wire contract, dates, server dates, regular
// expressions, projections, ordering, paging, counts, bulk writes, callbacks, rules, and the
// error codes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('./setup');

test('database', async (t) => {
  const env = await setup(t);
  const app = env.app(env.phone('db-alice'));
  const db = app.database();
  const _ = db.command;
  const items = db.collection('items');

  await t.test('add, get, set, update, remove with wx.cloud shapes', async () => {
    const due = new Date('2024-06-01T08:00:00Z');
    const added = await items.add({ data: { title: 'milk', due, n: 1 } });
    assert.equal(added.errMsg, 'collection.add:ok');
    assert.equal(typeof added._id, 'string');
    const got = await items.doc(added._id).get();
    assert.equal(got.errMsg, 'document.get:ok');
    assert.equal(got.data.title, 'milk');
    assert.ok(got.data.due instanceof Date, 'dates come back as Date');
    assert.equal(got.data.due.getTime(), due.getTime());
    assert.equal(got.data._openid, 'db-alice');

    const set = await items.doc('fixed-1').set({ data: { title: 'first' } });
    assert.deepEqual(set, { _id: 'fixed-1', stats: { updated: 0, created: 1 }, errMsg: 'document.set:ok' });
    const replaced = await items.doc('fixed-1').set({ data: { other: true } });
    assert.deepEqual(replaced.stats, { updated: 1, created: 0 });
    assert.deepEqual(Object.keys((await items.doc('fixed-1').get()).data).sort(), ['_id', '_openid', 'other']);

    const upd = await items.doc(added._id).update({ data: { n: _.inc(2), done: true } });
    assert.deepEqual(upd, { stats: { updated: 1 }, errMsg: 'document.update:ok' });
    assert.equal((await items.doc(added._id).get()).data.n, 3);

    const rm = await items.doc(added._id).remove();
    assert.deepEqual(rm, { stats: { removed: 1 }, errMsg: 'document.remove:ok' });
    assert.deepEqual((await items.doc(added._id).remove()).stats, { removed: 0 });
    await assert.rejects(items.doc(added._id).get(), (e) => {
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.errCode, 404);
      assert.match(e.errMsg, /^document\.get:fail NOT_FOUND/);
      assert.ok(e.requestId);
      return true;
    });
  });

  await t.test('every update operator', async () => {
    const id = 'upd-1';
    await items.doc(id).set({
      data: { a: 10, b: 3, lo: 5, hi: 5, old: 'x', arr: [3, 1, 2], tags: ['a'], rm: 1, nested: { k: 1, keep: true }, obj: { x: 1, y: 2 }, scores: [1, 5, 9], dup: [1, 2, 2, 3] },
    });
    await items.doc(id).update({
      data: {
        a: _.inc(5),
        b: _.mul(4),
        lo: _.min(2),
        hi: _.max(9),
        old: _.rename('renamed'),
        arr: _.push({ each: [0, 4], sort: 1, slice: 4 }),
        tags: _.addToSet('b'),
        rm: _.remove(),
        nested: { k: 2 }, // merges
        obj: _.set({ z: 3 }), // replaces
        scores: _.pull(_.gt(4)),
        dup: _.pullAll([2]),
        at: db.serverDate({ offset: 60000 }),
      },
    });
    const d = (await items.doc(id).get()).data;
    assert.equal(d.a, 15);
    assert.equal(d.b, 12);
    assert.equal(d.lo, 2);
    assert.equal(d.hi, 9);
    assert.equal(d.renamed, 'x');
    assert.equal(d.old, undefined);
    assert.deepEqual(d.arr, [0, 1, 2, 3]);
    assert.deepEqual(d.tags, ['a', 'b']);
    assert.equal('rm' in d, false);
    assert.deepEqual(d.nested, { k: 2, keep: true });
    assert.deepEqual(d.obj, { z: 3 });
    assert.deepEqual(d.scores, [1]);
    assert.deepEqual(d.dup, [1, 3]);
    assert.ok(d.at instanceof Date);
    assert.ok(Math.abs(d.at.getTime() - (Date.now() + 60000)) < 30000, 'server date + offset');

    await items.doc(id).update({ data: { arr: _.pop(), tags: _.unshift('z', 'y'), scores: _.push(7, 8) } });
    await items.doc(id).update({ data: { tags: _.shift(), scores: _.push([9]), list: _.push({ each: ['m'], position: 0 }) } });
    const e = (await items.doc(id).get()).data;
    assert.deepEqual(e.arr, [0, 1, 2]);
    assert.deepEqual(e.tags, ['y', 'a', 'b']);
    assert.deepEqual(e.scores, [1, 7, 8, 9]);
    assert.deepEqual(e.list, ['m']);
    await items.doc(id).update({ data: { tags: _.addToSet({ each: ['a', 'q'] }), people: _.pull({ age: _.lt(18) }) } });
    assert.deepEqual((await items.doc(id).get()).data.tags, ['y', 'a', 'b', 'q']);
  });

  await t.test('every query operator', async () => {
    const q = db.collection('items');
    await q.where({ group: 'ops' }).remove();
    const docs = [
      { _id: 'o1', group: 'ops', n: 1, s: 'apple', tags: ['x', 'y'], nested: { c: 'red' }, when: new Date(1000), items: [{ p: 5 }, { p: 20 }] },
      { _id: 'o2', group: 'ops', n: 2, s: 'Banana', tags: ['y'], nested: { c: 'blue' }, when: new Date(2000), items: [{ p: 1 }] },
      { _id: 'o3', group: 'ops', n: 3, s: 'cherry', tags: [], nested: { c: 'red' }, when: new Date(3000), extra: null },
      { _id: 'o4', group: 'ops', n: 4, s: 'date', tags: ['x', 'y', 'z'] },
    ];
    for (const d of docs) await q.add({ data: d });
    const ids = async (cond) => (await q.where(Object.assign({ group: 'ops' }, cond)).orderBy('_id', 'asc').get()).data.map((d) => d._id);
    const top = async (cond) => (await q.where(_.and([{ group: 'ops' }, cond])).orderBy('_id', 'asc').get()).data.map((d) => d._id);

    assert.deepEqual(await ids({ n: _.eq(2) }), ['o2']);
    assert.deepEqual(await ids({ n: _.neq(2) }), ['o1', 'o3', 'o4']);
    assert.deepEqual(await ids({ n: _.lt(2) }), ['o1']);
    assert.deepEqual(await ids({ n: _.lte(2) }), ['o1', 'o2']);
    assert.deepEqual(await ids({ n: _.gt(3) }), ['o4']);
    assert.deepEqual(await ids({ n: _.gte(3) }), ['o3', 'o4']);
    assert.deepEqual(await ids({ n: _.in([1, 4]) }), ['o1', 'o4']);
    assert.deepEqual(await ids({ n: _.nin([1, 4]) }), ['o2', 'o3']);
    assert.deepEqual(await ids({ extra: _.exists(true) }), ['o3']);
    assert.deepEqual(await ids({ when: _.exists(false) }), ['o4']);
    assert.deepEqual(await ids({ tags: _.size(1) }), ['o2']);
    assert.deepEqual(await ids({ n: _.mod(2, 1) }), ['o1', 'o3']);
    assert.deepEqual(await ids({ n: _.mod([2, 0]) }), ['o2', 'o4']);
    assert.deepEqual(await ids({ tags: _.all(['x', 'y']) }), ['o1', 'o4']);
    assert.deepEqual(await ids({ items: _.elemMatch({ p: _.gt(10) }) }), ['o1']);
    assert.deepEqual(await ids({ n: _.not(_.gt(2)) }), ['o1', 'o2']);
    assert.deepEqual(await ids({ n: _.gt(1).and(_.lt(4)) }), ['o2', 'o3']);
    assert.deepEqual(await ids({ n: _.lt(2).or(_.gt(3)) }), ['o1', 'o4']);
    assert.deepEqual(await ids({ n: _.or([_.eq(1), _.eq(3)]) }), ['o1', 'o3']);
    assert.deepEqual(await top(_.or([{ n: 1 }, { s: 'date' }])), ['o1', 'o4']);
    assert.deepEqual(await top(_.nor([{ n: 1 }, { n: 2 }])), ['o3', 'o4']);
    assert.deepEqual(await ids({ nested: { c: 'red' } }), ['o1', 'o3'], 'nested objects are paths');
    assert.deepEqual(await ids({ 'nested.c': 'blue' }), ['o2']);
    assert.deepEqual(await ids({ tags: 'z' }), ['o4'], 'arrays match by element');
    assert.deepEqual(await ids({ s: /^b/i }), ['o2'], 'a JS RegExp');
    assert.deepEqual(await ids({ s: db.RegExp({ regexp: 'RR', options: 'i' }) }), ['o3']);
    assert.deepEqual(await ids({ when: _.gt(new Date(1500)) }), ['o2', 'o3'], 'dates compare as dates');
    assert.deepEqual(await ids({ 'items.p': _.lt(2) }), ['o2']);

    // orderBy, skip, limit, field, count
    const page = await q.where({ group: 'ops' }).orderBy('n', 'desc').skip(1).limit(2).field({ n: true, s: true }).get();
    assert.deepEqual(
      page.data.map((d) => [d._id, d.n, d.s, d.tags]),
      [
        ['o3', 3, 'cherry', undefined],
        ['o2', 2, 'Banana', undefined],
      ],
    );
    const excl = await q.where({ _id: 'o1' }).field({ items: false, tags: 0 }).get();
    assert.equal(excl.data[0].items, undefined);
    assert.equal(excl.data[0].s, 'apple');
    assert.deepEqual(await q.where({ group: 'ops', n: _.gte(2) }).count(), { total: 3, errMsg: 'collection.count:ok' });
    const one = await q.doc('o2').field({ s: true }).get();
    assert.deepEqual(one.data, { _id: 'o2', s: 'Banana' });

    // bulk writes
    const up = await q.where({ group: 'ops', n: _.lte(2) }).update({ data: { flag: 'low', n: _.inc(10) } });
    assert.deepEqual(up, { stats: { updated: 2 }, errMsg: 'collection.update:ok' });
    assert.deepEqual(await ids({ flag: 'low', n: _.gt(10) }), ['o1', 'o2']);
    const rm = await q.where({ group: 'ops', flag: 'low' }).remove();
    assert.deepEqual(rm, { stats: { removed: 2 }, errMsg: 'collection.remove:ok' });
    assert.equal((await q.where({ group: 'ops' }).count()).total, 2);
  });

  await t.test('callbacks as wx.cloud takes them', async () => {
    await items.doc('cb-1').set({ data: { v: 1 } });
    const res = await new Promise((resolve, reject) =>
      items.doc('cb-1').get({
        success: (r) => resolve(r),
        fail: reject,
      }),
    );
    assert.equal(res.data.v, 1);
    const err = await new Promise((resolve) => {
      let completed = false;
      items.doc('cb-missing').get({
        fail: (e) => setTimeout(() => resolve({ e, completed })),
        complete: () => (completed = true),
      });
    });
    assert.equal(err.e.code, 'NOT_FOUND');
    assert.equal(err.completed, true);
    const added = await new Promise((resolve) => db.collection('items').add({ data: { cb: true }, success: resolve }));
    assert.equal(added.errMsg, 'collection.add:ok');
  });

  await t.test('rules: each user sees only their own todos', async () => {
    const todos = db.collection('todos');
    const mine = await todos.add({ data: { title: 'mine' } });
    const bob = env.app(env.phone('db-bob'));
    const bobTodos = bob.database().collection('todos');
    await bobTodos.add({ data: { title: 'bobs' } });
    assert.deepEqual(
      (await bobTodos.get()).data.map((d) => d.title),
      ['bobs'],
    );
    await assert.rejects(bobTodos.doc(mine._id).get(), (e) => e.code == 'NOT_FOUND');
    await assert.rejects(bobTodos.doc(mine._id).update({ data: { title: 'hacked' } }), (e) => e.code == 'PERMISSION_DENIED' || e.code == 'NOT_FOUND');
    assert.equal((await todos.doc(mine._id).get()).data.title, 'mine');
    assert.equal((await bobTodos.where({}).remove()).stats.removed, 1, 'only bob’s own');
  });

  await t.test('error codes', async () => {
    assert.deepEqual((await db.collection('secret').get()).data, [], 'a read rule of false hides everything');
    await assert.rejects(db.collection('undeclared').get(), (e) => {
      assert.equal(e.code, 'PERMISSION_DENIED');
      assert.equal(e.errCode, 403);
      assert.match(e.errMsg, /^collection\.get:fail PERMISSION_DENIED: /);
      return true;
    });
    await assert.rejects(db.collection('undeclared').add({ data: { a: 1 } }), (e) => e.code == 'PERMISSION_DENIED');
    await items.doc('dup-1').set({ data: {} });
    await assert.rejects(items.add({ data: { _id: 'dup-1' } }), (e) => e.code == 'CONFLICT' && e.errCode == 409);
    await assert.rejects(items.where({ n: { $where: 'x' } }).get(), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(items.limit(5000).get(), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(items.doc('upd-x').update({ data: { _id: 'new' } }), (e) => e.code == 'INVALID_ARGUMENT' || e.code == 'NOT_FOUND');
    await assert.rejects(items.add({ data: { big: 'x'.repeat(300 * 1024) } }), (e) => e.code == 'PAYLOAD_TOO_LARGE' && e.errCode == 413);
    assert.throws(() => items.where('nope'), (e) => e.code == 'INVALID_ARGUMENT');
    assert.throws(() => items.orderBy('a', 'up'), (e) => e.code == 'INVALID_ARGUMENT');
  });

  await t.test('a write is not re-sent after a network failure; a read is', async () => {
    const wx = env.phone('db-carol');
    const carol = env.app(wx);
    const c = carol.database().collection('items');
    await c.doc('net-1').set({ data: { n: 0 } });
    wx._engine.offline = true;
    const before = wx._engine.log.length;
    await assert.rejects(c.doc('net-1').update({ data: { n: _.inc(1) } }), (e) => e.code == 'NETWORK_ERROR' && e.errCode == -1);
    // a read retries: bring the network back while it waits
    setTimeout(() => (wx._engine.offline = false), 100);
    const r = await c.doc('net-1').get();
    assert.equal(r.data.n, 0, 'the failed $inc never ran');
    void before;
  });
});
