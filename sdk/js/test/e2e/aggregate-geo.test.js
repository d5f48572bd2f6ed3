// Aggregation and geo queries through the SDK against a real server. The client side is done
// and its wire format is unit-tested (test/unit/serialize.test.js); the server side is issue 17
// (in progress). Skipped until the server answers `POST /api/db/{c}/aggregate` and the geo
// operators: when it does, delete SKIP below (and add the geo index to the config if the
// server requires one for `places.loc`).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('./setup');

const SKIP = 'server side of aggregation and geo is issue 17 (not merged yet): enable by deleting SKIP';

test('aggregation', { skip: SKIP }, async (t) => {
  const env = await setup(t);
  const app = env.app(env.phone('agg-alice'));
  const db = app.database();
  const _ = db.command;
  const $ = _.aggregate;
  const orders = db.collection('items');
  const rows = [
    { kind: 'order', city: 'gz', amount: 10, at: new Date('2024-01-01') },
    { kind: 'order', city: 'gz', amount: 30, at: new Date('2024-02-01') },
    { kind: 'order', city: 'sz', amount: 5, at: new Date('2024-03-01') },
    { kind: 'order', city: 'bj', amount: 50, at: new Date('2024-04-01') },
    { kind: 'other', city: 'gz', amount: 1000 },
  ];
  for (const r of rows) await orders.add({ data: r });

  const { list, errMsg } = await orders
    .aggregate()
    .match({ kind: 'order', amount: _.gte(5) })
    .group({ _id: '$city', total: $.sum('$amount'), n: $.sum(1), last: $.max('$at') })
    .sort({ total: -1, _id: 1 })
    .end();
  assert.equal(errMsg, 'collection.aggregate:ok');
  assert.deepEqual(
    list.map((x) => [x._id, x.total, x.n]),
    [
      ['bj', 50, 1],
      ['gz', 40, 2],
      ['sz', 5, 1],
    ],
  );
  assert.ok(list[1].last instanceof Date);
  assert.equal(list[1].last.toISOString(), '2024-02-01T00:00:00.000Z');

  const counted = await orders.aggregate().match({ kind: 'order' }).project({ big: $.gt(['$amount', 20]) }).sortByCount('$big').end();
  assert.deepEqual(
    counted.list.map((x) => [x._id, x.count]).sort(),
    [
      [false, 2],
      [true, 2],
    ],
  );
  await assert.rejects(orders.aggregate().group({ _id: '$city', x: { $nope: 1 } }).end(), (e) => e.code == 'INVALID_ARGUMENT');
});

test('geo queries', { skip: SKIP }, async (t) => {
  const env = await setup(t);
  const app = env.app(env.phone('geo-alice'));
  const db = app.database();
  const _ = db.command;
  const { Point, Polygon, LineString } = db.Geo;
  const places = db.collection('places');
  // around Guangzhou Tower (113.3245, 23.1064); 0.001° of latitude ≈ 111 m
  const pts = {
    tower: [113.3245, 23.1064],
    near: [113.3245, 23.1074], // ~111 m north
    mid: [113.3245, 23.1154], // ~1 km north
    far: [113.3245, 23.2064], // ~11 km north
  };
  for (const [name, [lng, lat]] of Object.entries(pts)) await places.doc(name).set({ data: { name, loc: Point(lng, lat) } });
  const here = Point(113.3245, 23.1064);

  const near = await places.where({ loc: _.geoNear({ geometry: here, maxDistance: 2000 }) }).get();
  assert.deepEqual(
    near.data.map((d) => d._id),
    ['tower', 'near', 'mid'],
    'nearest first, within 2 km',
  );
  assert.deepEqual(near.data[0].loc, { type: 'Point', coordinates: [113.3245, 23.1064] });
  const ring = await places.where({ loc: _.geoNear({ geometry: here, minDistance: 50, maxDistance: 500 }) }).get();
  assert.deepEqual(
    ring.data.map((d) => d._id),
    ['near'],
  );

  const box = Polygon([LineString([Point(113.32, 23.10), Point(113.33, 23.10), Point(113.33, 23.11), Point(113.32, 23.11), Point(113.32, 23.10)])]);
  const within = await places.where({ loc: _.geoWithin({ geometry: box }) }).orderBy('_id', 'asc').get();
  assert.deepEqual(
    within.data.map((d) => d._id),
    ['near', 'tower'],
  );
  // 1.5 km on the earth's radius (6378.1 km), as MongoDB's $centerSphere
  const sphere = await places.where({ loc: _.geoWithin({ centerSphere: [here, 1.5 / 6378.1] }) }).orderBy('_id', 'asc').get();
  assert.deepEqual(
    sphere.data.map((d) => d._id),
    ['mid', 'near', 'tower'],
  );
  const hit = await places.where({ loc: _.geoIntersects({ geometry: box }) }).orderBy('_id', 'asc').get();
  assert.deepEqual(
    hit.data.map((d) => d._id),
    ['near', 'tower'],
  );

  const agg = await places
    .aggregate()
    .geoNear({ near: here, distanceField: 'dist', spherical: true, maxDistance: 2000, query: { name: _.neq('tower') } })
    .project({ dist: 1 })
    .end();
  assert.deepEqual(
    agg.list.map((d) => d._id),
    ['near', 'mid'],
  );
  assert.ok(Math.abs(agg.list[0].dist - 111) < 5, 'distance in metres: ' + agg.list[0].dist);
});
