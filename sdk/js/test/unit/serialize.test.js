// How the query builder writes every operator on the wire: requests are captured by an adapter
// that records them (the SDK's public extension point) and answers like the server would.
// Query and update operators follow docs/database.md; aggregation stages and geo follow
// MongoDB/CloudBase (`{"$match": …}`, GeoJSON, `$geoNear`/`$geoWithin`/`$geoIntersects`).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const minibase = require('../../dist/index.cjs');

function recorder(answer = () => ({})) {
  const sent = [];
  const adapter = {
    name: 'recorder',
    request(req) {
      sent.push({ method: req.method, path: req.url.replace('http://x.test', ''), body: req.body && JSON.parse(req.body), headers: req.headers });
      return { promise: Promise.resolve({ status: 200, headers: {}, body: answer(req) }), abort() {} };
    },
    upload() {
      throw new Error('no uploads here');
    },
    download() {
      throw new Error('no downloads here');
    },
    socket() {
      throw new Error('no sockets here');
    },
    storage: { get() {}, set() {}, remove() {} },
  };
  const app = minibase.init({ url: 'http://x.test/', platform: adapter, serviceKey: 'svc' });
  return { app, db: app.database(), sent, last: () => sent[sent.length - 1] };
}

test('query operators', async () => {
  const { db, last } = recorder(() => ({ data: [] }));
  const _ = db.command;
  const where = async (cond) => {
    await db.collection('c').where(cond).get();
    return last().body.where;
  };
  assert.deepEqual(await where({ a: _.eq(1), b: _.neq(2) }), { a: { $eq: 1 }, b: { $neq: 2 } });
  assert.deepEqual(await where({ a: _.lt(1), b: _.lte(2), c: _.gt(3), d: _.gte(4.5) }), { a: { $lt: 1 }, b: { $lte: 2 }, c: { $gt: 3 }, d: { $gte: 4.5 } });
  assert.deepEqual(await where({ a: _.in([1, 2]), b: _.nin(['x']), c: _.all([1]) }), { a: { $in: [1, 2] }, b: { $nin: ['x'] }, c: { $all: [1] } });
  assert.deepEqual(await where({ a: _.exists(true), b: _.size(3), c: _.mod(4, 1), d: _.mod([2, 0]) }), { a: { $exists: true }, b: { $size: 3 }, c: { $mod: [4, 1] }, d: { $mod: [2, 0] } });
  assert.deepEqual(await where({ a: _.elemMatch({ x: _.gt(1) }) }), { a: { $elemMatch: { x: { $gt: 1 } } } });
  assert.deepEqual(await where({ a: _.not(_.gt(1)) }), { a: { $not: { $gt: 1 } } });
  assert.deepEqual(await where({ a: _.gt(1).and(_.lt(5)) }), { a: { $and: [{ $gt: 1 }, { $lt: 5 }] } });
  assert.deepEqual(await where({ a: _.eq(1).or(_.eq(2), _.eq(3)) }), { a: { $or: [{ $eq: 1 }, { $eq: 2 }, { $eq: 3 }] } });
  assert.deepEqual(await where(_.and([{ a: 1 }, { b: _.gt(2) }])), { $and: [{ a: 1 }, { b: { $gt: 2 } }] });
  assert.deepEqual(await where(_.or({ a: 1 }, { b: 2 })), { $or: [{ a: 1 }, { b: 2 }] });
  assert.deepEqual(await where(_.nor([{ a: 1 }])), { $nor: [{ a: 1 }] });
  assert.deepEqual(await where({ a: { b: 1, c: _.gt(2) } }), { a: { b: 1, c: { $gt: 2 } } }, 'nested objects stay nested (the server flattens)');
  assert.deepEqual(await where({ d: new Date(86400000) }), { d: { $date: 86400000 } });
  assert.deepEqual(await where({ s: /^ab/gim }), { s: { $regex: '^ab', $options: 'im' } });
  assert.deepEqual(await where({ s: db.RegExp({ regexp: 'x.*', options: 'i' }) }), { s: { $regex: 'x.*', $options: 'i' } });
  assert.deepEqual(await where({ u: undefined, v: null }), { v: null });
  assert.deepEqual(await where(_.expr(_.aggregate.gt(['$a', '$b']))), { $expr: { $gt: ['$a', '$b'] } });
});

test('geo values and operators', async () => {
  const { db, last } = recorder(() => ({ data: [] }));
  const _ = db.command;
  const { Point, LineString, Polygon, MultiPoint, MultiLineString, MultiPolygon } = db.Geo;
  const p = new Point(113.3, 23.1);
  assert.deepEqual(JSON.parse(JSON.stringify(Point(1, 2))), { type: 'Point', coordinates: [1, 2] }, 'with or without new');
  const ring = [Point(0, 0), Point(1, 0), Point(1, 1), Point(0, 0)];
  await db.collection('c').add({
    data: {
      p,
      l: LineString([Point(0, 0), [1, 1]]),
      poly: Polygon([LineString(ring)]),
      mp: MultiPoint([Point(0, 0), Point(1, 1)]),
      ml: MultiLineString([LineString([Point(0, 0), Point(1, 1)])]),
      mpoly: MultiPolygon([Polygon([ring])]),
    },
  });
  const d = last().body;
  assert.deepEqual(d.p, { type: 'Point', coordinates: [113.3, 23.1] });
  assert.deepEqual(d.l, { type: 'LineString', coordinates: [[0, 0], [1, 1]] });
  const sq = [[0, 0], [1, 0], [1, 1], [0, 0]];
  assert.deepEqual(d.poly, { type: 'Polygon', coordinates: [sq] });
  assert.deepEqual(d.mp, { type: 'MultiPoint', coordinates: [[0, 0], [1, 1]] });
  assert.deepEqual(d.ml, { type: 'MultiLineString', coordinates: [[[0, 0], [1, 1]]] });
  assert.deepEqual(d.mpoly, { type: 'MultiPolygon', coordinates: [[sq]] });

  const where = async (cond) => {
    await db.collection('c').where(cond).get();
    return last().body.where;
  };
  assert.deepEqual(await where({ loc: _.geoNear({ geometry: p, maxDistance: 1000, minDistance: 10 }) }), {
    loc: { $geoNear: { $geometry: { type: 'Point', coordinates: [113.3, 23.1] }, $maxDistance: 1000, $minDistance: 10 } },
  });
  assert.deepEqual(await where({ loc: _.geoNear({ geometry: p }) }), { loc: { $geoNear: { $geometry: { type: 'Point', coordinates: [113.3, 23.1] } } } });
  assert.deepEqual(await where({ loc: _.geoWithin({ geometry: Polygon([ring]) }) }), { loc: { $geoWithin: { $geometry: { type: 'Polygon', coordinates: [sq] } } } });
  assert.deepEqual(await where({ loc: _.geoWithin({ centerSphere: [p, 0.01] }) }), { loc: { $geoWithin: { $centerSphere: [[113.3, 23.1], 0.01] } } });
  assert.deepEqual(await where({ loc: _.geoWithin({ centerSphere: [[1, 2], 0.1] }) }), { loc: { $geoWithin: { $centerSphere: [[1, 2], 0.1] } } });
  assert.deepEqual(await where({ loc: _.geoIntersects({ geometry: Point(1, 2) }) }), { loc: { $geoIntersects: { $geometry: { type: 'Point', coordinates: [1, 2] } } } });

  assert.throws(() => Point(181, 0), TypeError);
  assert.throws(() => Point(0, -91), TypeError);
  assert.throws(() => Point('1', 2), TypeError);
  assert.throws(() => LineString('nope'), TypeError);
});

test('update operators', async () => {
  const { db, last } = recorder(() => ({ updated: 1 }));
  const _ = db.command;
  const upd = async (data) => {
    await db.collection('c').doc('d').update({ data });
    assert.equal(last().method, 'PATCH');
    assert.equal(last().path, '/api/db/c/docs/d');
    return last().body.data;
  };
  assert.deepEqual(await upd({ a: 1, b: { c: 'x' } }), { a: 1, b: { c: 'x' } });
  assert.deepEqual(await upd({ a: _.set({ x: 1 }) }), { a: { $set: { x: 1 } } });
  assert.deepEqual(await upd({ a: _.remove() }), { a: { $remove: true } });
  assert.deepEqual(await upd({ a: _.inc(1), b: _.mul(2), c: _.min(1), d: _.max(5) }), { a: { $inc: 1 }, b: { $mul: 2 }, c: { $min: 1 }, d: { $max: 5 } });
  assert.deepEqual(await upd({ a: _.rename('b') }), { a: { $rename: 'b' } });
  assert.deepEqual(await upd({ a: _.push(1, 2) }), { a: { $push: [1, 2] } });
  assert.deepEqual(await upd({ a: _.push([1, 2]) }), { a: { $push: [1, 2] } });
  assert.deepEqual(await upd({ a: _.push({ each: [1], position: 0, sort: 1, slice: 5 }) }), { a: { $push: { each: [1], position: 0, sort: 1, slice: 5 } } });
  assert.deepEqual(await upd({ a: _.pop(), b: _.shift() }), { a: { $pop: 1 }, b: { $shift: true } });
  assert.deepEqual(await upd({ a: _.unshift(0, -1) }), { a: { $unshift: [0, -1] } });
  assert.deepEqual(await upd({ a: _.unshift([0]) }), { a: { $unshift: [0] } });
  assert.deepEqual(await upd({ a: _.addToSet(3) }), { a: { $addToSet: { each: [3] } } });
  assert.deepEqual(await upd({ a: _.addToSet({ each: [1, 2] }) }), { a: { $addToSet: { each: [1, 2] } } });
  assert.deepEqual(await upd({ a: _.addToSet({ k: 1 }) }), { a: { $addToSet: { each: [{ k: 1 }] } } });
  assert.deepEqual(await upd({ a: _.pull(1), b: _.pull(_.gt(2)), c: _.pull({ s: _.lt(3) }) }), { a: { $pull: 1 }, b: { $pull: { $gt: 2 } }, c: { $pull: { s: { $lt: 3 } } } });
  assert.deepEqual(await upd({ a: _.pullAll([1, 2]) }), { a: { $pullAll: [1, 2] } });
  assert.deepEqual(await upd({ a: { b: _.inc(1) }, t: db.serverDate({ offset: 1000 }), d: new Date(0) }), { a: { b: { $inc: 1 } }, t: { $serverDate: { offset: 1000 } }, d: { $date: 0 } });
  assert.deepEqual(await upd({ t: db.serverDate() }), { t: { $serverDate: { offset: 0 } } });
});

test('the rest of a query, and the wx.cloud result shapes', async () => {
  const answers = {
    '/api/db/c/query': { data: [{ _id: 'a', when: { $date: 5 }, deep: [{ at: { $date: 6 } }], notDate: { $date: 'x' } }] },
    '/api/db/c/count': { total: 7 },
    '/api/db/c/update': { updated: 3 },
    '/api/db/c/remove': { deleted: 2 },
    '/api/db/c/docs': { _id: 'new' },
  };
  const { db, sent, last } = recorder((req) => answers[req.url.replace('http://x.test', '')] || { _id: 'd', created: true, updated: 1, deleted: 1, data: {} });
  const _ = db.command;
  const r = await db.collection('c').where({ a: 1 }).orderBy('a', 'desc').orderBy('b', 'asc').skip(5).limit(10).field({ a: true, b: 1, c: 0 }).get();
  assert.deepEqual(last().body, { where: { a: 1 }, orderBy: [['a', 'desc'], ['b', 'asc']], skip: 5, limit: 10, field: { a: true, b: true, c: false } });
  assert.equal(last().headers.authorization, 'Bearer svc');
  assert.ok(r.data[0].when instanceof Date && r.data[0].when.getTime() == 5);
  assert.ok(r.data[0].deep[0].at instanceof Date);
  assert.deepEqual(r.data[0].notDate, { $date: 'x' });
  assert.deepEqual(await db.collection('c').get(), { data: r.data, errMsg: 'collection.get:ok' });
  assert.deepEqual(last().body, {}, 'a bare get sends no conditions');
  assert.deepEqual(await db.collection('c').where({ a: _.gt(1) }).count(), { total: 7, errMsg: 'collection.count:ok' });
  assert.deepEqual(last().body, { where: { a: { $gt: 1 } } });
  assert.deepEqual(await db.collection('c').where({ a: 1 }).update({ data: { b: _.inc(1) } }), { stats: { updated: 3 }, errMsg: 'collection.update:ok' });
  assert.deepEqual(last().body, { where: { a: 1 }, data: { b: { $inc: 1 } } });
  assert.deepEqual(await db.collection('c').where({ a: 1 }).remove(), { stats: { removed: 2 }, errMsg: 'collection.remove:ok' });
  assert.deepEqual(await db.collection('c').add({ data: { x: 1, skip: undefined } }), { _id: 'new', errMsg: 'collection.add:ok' });
  assert.deepEqual(last().body, { x: 1 });
  await db.collection('c').doc('a/b c').set({ data: { _id: 'ignored', v: 1 } });
  assert.equal(last().path, '/api/db/c/docs/a%2Fb%20c', 'ids are escaped');
  assert.deepEqual(last().body, { v: 1 });
  // queries are immutable
  const base = db.collection('c').where({ a: 1 });
  base.limit(1);
  await base.get();
  assert.equal(last().body.limit, undefined);
  assert.ok(sent.every((s) => s.headers['content-type'] == 'application/json'));
});

test('aggregation pipelines and db.command.aggregate', async () => {
  const { db, last } = recorder(() => ({ data: [{ _id: 'x', total: 3, at: { $date: 9 } }] }));
  const _ = db.command;
  const $ = _.aggregate;
  const r = await db
    .collection('orders')
    .aggregate()
    .match({ status: 'paid', amount: _.gt(10), at: _.gte(new Date(0)) })
    .project({ amount: 1, city: 1 })
    .addFields({ double: $.multiply(['$amount', 2]) })
    .group({ _id: '$city', total: $.sum('$amount'), avg: $.avg('$amount'), n: $.sum(1), names: $.push('$name'), first: $.first('$at') })
    .sort({ total: -1 })
    .skip(1)
    .limit(5)
    .end();
  assert.deepEqual(last(), {
    method: 'POST',
    path: '/api/db/orders/aggregate',
    headers: last().headers,
    body: {
      pipeline: [
        { $match: { status: 'paid', amount: { $gt: 10 }, at: { $gte: { $date: 0 } } } },
        { $project: { amount: 1, city: 1 } },
        { $addFields: { double: { $multiply: ['$amount', 2] } } },
        { $group: { _id: '$city', total: { $sum: '$amount' }, avg: { $avg: '$amount' }, n: { $sum: 1 }, names: { $push: '$name' }, first: { $first: '$at' } } },
        { $sort: { total: -1 } },
        { $skip: 1 },
        { $limit: 5 },
      ],
    },
  });
  assert.equal(r.errMsg, 'collection.aggregate:ok');
  assert.ok(r.list[0].at instanceof Date);

  const p = db.Geo.Point(113, 23);
  await db
    .collection('c')
    .aggregate()
    .geoNear({ near: p, distanceField: 'dist', spherical: true, maxDistance: 500, query: { open: true, rank: _.lt(5) } })
    .unwind('$tags')
    .unwind({ path: '$items', includeArrayIndex: 'i', preserveNullAndEmptyArrays: true })
    .count('n')
    .end();
  assert.deepEqual(last().body.pipeline, [
    { $geoNear: { near: { type: 'Point', coordinates: [113, 23] }, distanceField: 'dist', spherical: true, maxDistance: 500, query: { open: true, rank: { $lt: 5 } } } },
    { $unwind: '$tags' },
    { $unwind: { path: '$items', includeArrayIndex: 'i', preserveNullAndEmptyArrays: true } },
    { $count: 'n' },
  ]);

  await db
    .collection('c')
    .aggregate()
    .lookup({ from: 'users', localField: 'uid', foreignField: '_id', as: 'user' })
    .lookup({ from: 'items', let: { o: '$_id' }, pipeline: db.pipeline().match(_.expr($.eq(['$order', '$$o']))).project({ _id: 0 }).done(), as: 'items' })
    .replaceRoot({ newRoot: $.mergeObjects(['$$ROOT', { x: 1 }]) })
    .sample({ size: 3 })
    .sortByCount('$city')
    .bucket({ groupBy: '$price', boundaries: [0, 10, 100], default: 'other', output: { n: $.sum(1) } })
    .bucketAuto({ groupBy: '$price', buckets: 4 })
    .end();
  assert.deepEqual(last().body.pipeline, [
    { $lookup: { from: 'users', localField: 'uid', foreignField: '_id', as: 'user' } },
    { $lookup: { from: 'items', let: { o: '$_id' }, pipeline: [{ $match: { $expr: { $eq: ['$order', '$$o'] } } }, { $project: { _id: 0 } }], as: 'items' } },
    { $replaceRoot: { newRoot: { $mergeObjects: ['$$ROOT', { x: 1 }] } } },
    { $sample: { size: 3 } },
    { $sortByCount: '$city' },
    { $bucket: { groupBy: '$price', boundaries: [0, 10, 100], default: 'other', output: { n: { $sum: 1 } } } },
    { $bucketAuto: { groupBy: '$price', buckets: 4 } },
  ]);

  // expression operators: one argument as is, several as an array, neq as $ne
  assert.deepEqual($.neq(['$a', 1]), { $ne: ['$a', 1] });
  assert.deepEqual($.cond({ if: $.gte(['$n', 10]), then: 'big', else: 'small' }), { $cond: { if: { $gte: ['$n', 10] }, then: 'big', else: 'small' } });
  assert.deepEqual($.add('$a', '$b'), { $add: ['$a', '$b'] });
  assert.deepEqual($.dateToString({ date: new Date(0), format: '%Y' }), { $dateToString: { date: { $date: 0 }, format: '%Y' } });
  assert.deepEqual($.switch({ branches: [{ case: $.eq(['$a', 1]), then: 'one' }], default: 'x' }), { $switch: { branches: [{ case: { $eq: ['$a', 1] }, then: 'one' }], default: 'x' } });
  for (const op of ['abs', 'ifNull', 'filter', 'map', 'size', 'arrayElemAt', 'in', 'year', 'stdDevPop', 'stdDevSamp', 'mergeObjects', 'addToSet', 'last', 'max', 'min', 'toUpper', 'substr', 'let', 'literal']) {
    assert.equal(typeof $[op], 'function', op);
    assert.deepEqual(Object.keys($[op](1)), ['$' + op]);
  }
});

test('init refuses a bad url and unknown platforms', () => {
  assert.throws(() => minibase.init({ url: 'api.example.com' }), (e) => e.code == 'INVALID_ARGUMENT');
  assert.throws(() => minibase.init({}), (e) => e.code == 'INVALID_ARGUMENT');
  assert.throws(() => minibase.init({ url: 'https://x', platform: 'palm' }), (e) => e.code == 'UNSUPPORTED');
  const app = minibase.init({ url: 'https://x.example.com///', platform: 'node' });
  assert.equal(app.http.base, 'https://x.example.com');
  assert.equal(minibase.app(), app);
});

test('cloudPath rules are checked before anything is sent', async () => {
  const { app, sent } = recorder();
  const bad = ['', '/a', 'a/', 'a//b', 'a/../b', '..', 'a/./b', '.', 'a\\b', 'a\u0000b', 'a\u007fb', 'a\u200bb', 'a\u202eb', 'a%20b', 'a#b', 'a?b', 'a<b', 'a|b', 'a~b', 'a^b', 'a`b', 'a"b', 'a{b}', 'a[b]', '.minibase/x', 'x'.repeat(851), 'a/' + 'y'.repeat(256), '中'.repeat(284)];
  for (const p of bad) {
    await assert.rejects(app.uploadFile({ cloudPath: p, filePath: 'x' }), (e) => e.code == 'INVALID_ARGUMENT' && /cloudPath/.test(e.errMsg), JSON.stringify(p));
  }
  assert.equal(sent.length, 0);
  const uploads = [];
  app.adapter.upload = (req) => {
    uploads.push(req.formData.cloudPath);
    return { promise: Promise.resolve({ status: 200, headers: {}, body: { fileID: 'mb://' + req.formData.cloudPath } }), abort() {} };
  };
  const long = ['中'.repeat(85), '中'.repeat(85), '中'.repeat(85), 'x'.repeat(82)].join('/'); // 850 bytes, segments of 255
  await assert.rejects(app.uploadFile({ cloudPath: long + 'x', filePath: 'x' }), (e) => /850/.test(e.errMsg));
  const good = ['a.jpg', 'avatars/o1/头像 1.jpg', "x/-_.!*'()+,;=@&$:", '.hidden/a', 'a.b/c.d', long, 'y'.repeat(255)];
  for (const p of good) assert.equal((await app.uploadFile({ cloudPath: p, filePath: 'x' })).fileID, 'mb://' + p);
  assert.deepEqual(uploads, good);
});
