// SDK overhead per call: the same query (`where({_id}).get()`, a signed-in user) through the
// SDK and written by hand, in one Node process, measured two ways:
//
// 1. in process: both answer from the same canned HTTP answer (the real server's, fetched
//    once), so only the client's own work is timed: building the request, the token check,
//    JSON, result shaping (the SDK also turns `{$date}` into Date and builds wx.cloud's shape);
// 2. over loopback against a running server: the SDK's node adapter (fetch) against plain
//    fetch with the same body and token, keep-alive, sequential calls.
//
// Rounds alternate SDK and raw; each figure is the median of the rounds' per-call means. Prints
// `RESULT {json}`. Usage: node bench/sdk/overhead.js BASE_URL
'use strict';
const path = require('node:path');
const minibase = require(path.join(__dirname, '../../sdk/js/dist/index.cjs'));

const base = process.argv[2];
if (!base) {
  console.error('usage: node bench/sdk/overhead.js BASE_URL');
  process.exit(2);
}
const ROUNDS = Number(process.env.SDK_BENCH_ROUNDS || 7);
const N_LOCAL = Number(process.env.SDK_BENCH_LOCAL || 50000);
const N_NET = Number(process.env.SDK_BENCH_NET || 1500);

const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1000; // µs

async function timeIt(n, f) {
  const t0 = now();
  for (let i = 0; i < n; i++) await f(i);
  return (now() - t0) / n;
}

async function main() {
  // a user and a realistic document
  const login = await (await fetch(base + '/api/auth/dev/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ openid: 'bench-sdk' }) })).json();
  const token = login.access_token;
  const auth = { authorization: 'Bearer ' + token, 'content-type': 'application/json' };
  const doc = { title: 'buy milk', done: false, due: { $date: 1717200000000 }, tags: ['home', 'shop'], meta: { by: 'bench', n: 3 } };
  const put = await fetch(base + '/api/db/bench/docs/d1', { method: 'PUT', headers: auth, body: JSON.stringify(doc) });
  if (!put.ok) throw new Error('seed: ' + put.status + ' ' + (await put.text()));
  const body = JSON.stringify({ where: { _id: 'd1' } });
  const cannedText = await (await fetch(base + '/api/db/bench/query', { method: 'POST', headers: auth, body })).text();
  if (!cannedText.includes('buy milk')) throw new Error('unexpected answer ' + cannedText);

  // the session the SDK would have stored after dev login
  const storage = new Map();
  const session = JSON.stringify({ access_token: token, refresh_token: login.refresh_token, expires_at: Date.now() + login.expires_in * 1000, ttl: login.expires_in * 1000, user: login.user });

  // 1. in process: a transport answering the canned text at once
  const canned = {
    name: 'canned',
    request(req) {
      return { promise: Promise.resolve({ status: 200, headers: {}, body: JSON.parse(cannedText) }), abort() {} };
    },
    upload() {},
    download() {},
    socket() {},
    storage: { get: (k) => storage.get(k), set: (k, v) => storage.set(k, v), remove: (k) => storage.delete(k) },
  };
  storage.set('minibase:auth:' + base, session);
  const local = minibase.init({ url: base, platform: canned, autoSignIn: false });
  const ldb = local.database();
  const rawLocal = async () => {
    const req = { url: base + '/api/db/bench/query', method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: JSON.stringify({ where: { _id: 'd1' } }) };
    const res = await Promise.resolve({ status: 200, text: cannedText, req });
    if (res.status !== 200) throw new Error('status');
    return JSON.parse(res.text).data;
  };
  const sdkLocal = () => ldb.collection('bench').where({ _id: 'd1' }).get();
  const check = await sdkLocal();
  if (check.data[0].title != 'buy milk' || !(check.data[0].due instanceof Date)) throw new Error('sdk answer ' + JSON.stringify(check));

  // 2. over loopback
  const nodeStorage = new Map([['minibase:auth:' + base, session]]);
  const net = minibase.init({
    url: base,
    platform: 'node',
    autoSignIn: false,
    storage: { get: (k) => nodeStorage.get(k), set: (k, v) => nodeStorage.set(k, v), remove: (k) => nodeStorage.delete(k) },
  });
  const ndb = net.database();
  const rawNet = async () => {
    const r = await fetch(base + '/api/db/bench/query', { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: JSON.stringify({ where: { _id: 'd1' } }) });
    if (r.status !== 200) throw new Error('status ' + r.status);
    return JSON.parse(await r.text()).data;
  };
  const sdkNet = () => ndb.collection('bench').where({ _id: 'd1' }).get();

  // warm up (JIT, keep-alive connections)
  await timeIt(N_LOCAL / 5, rawLocal);
  await timeIt(N_LOCAL / 5, sdkLocal);
  await timeIt(200, rawNet);
  await timeIt(200, sdkNet);

  const r = { localRaw: [], localSdk: [], netRaw: [], netSdk: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // alternate which goes first
    if (round % 2) {
      r.localSdk.push(await timeIt(N_LOCAL, sdkLocal));
      r.localRaw.push(await timeIt(N_LOCAL, rawLocal));
      r.netSdk.push(await timeIt(N_NET, sdkNet));
      r.netRaw.push(await timeIt(N_NET, rawNet));
    } else {
      r.localRaw.push(await timeIt(N_LOCAL, rawLocal));
      r.localSdk.push(await timeIt(N_LOCAL, sdkLocal));
      r.netRaw.push(await timeIt(N_NET, rawNet));
      r.netSdk.push(await timeIt(N_NET, sdkNet));
    }
  }
  const round2 = (x) => Math.round(x * 100) / 100;
  const out = {
    rounds: ROUNDS,
    local_calls_per_round: N_LOCAL,
    net_calls_per_round: N_NET,
    local_raw_us: round2(median(r.localRaw)),
    local_sdk_us: round2(median(r.localSdk)),
    local_overhead_us: round2(median(r.localSdk.map((s, i) => s - r.localRaw[i]))),
    net_raw_us: round2(median(r.netRaw)),
    net_sdk_us: round2(median(r.netSdk)),
    net_overhead_us: round2(median(r.netSdk.map((s, i) => s - r.netRaw[i]))),
    per_round: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.map(round2)])),
  };
  console.log('RESULT ' + JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
