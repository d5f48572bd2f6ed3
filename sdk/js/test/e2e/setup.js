// One server per test file: the fakes, `minibase serve`, a simulated `wx` installed as the
// global (so the SDK detects it, as in a real mini program) and an app initialised on it.
'use strict';
const { startFakes, startServer } = require('./harness');
const { makeWx } = require('../sim/platforms');
const minibase = require('../../dist/index.cjs');

/** Fast timings for tests (production: 30 s pings, 10 s pong timeout, 0.5–30 s backoff); the
 * pong timeout leaves room for a loaded machine. */
const FAST = { pingInterval: 1000, pongTimeout: 2500, reconnectBase: 50, reconnectMax: 400 };

async function setup(t, opts = {}) {
  const fakes = await startFakes();
  t.after(() => fakes.stop());
  const server = await startServer({ fakes, extra: opts.extra, functions: opts.functions, accessTtl: opts.accessTtl });
  t.after(() => server.cleanup());
  const env = {
    fakes,
    server,
    minibase,
    /** A new simulated phone (its own storage) with a user signing in as `openid`. */
    phone(openid, more = {}) {
      const wx = makeWx(
        Object.assign(
          {
            openid,
            pay: {
              appid: fakes.pay.appid,
              merchantPublicKeyPem: fakes.pay.merchant_public_key_pem,
              onPaid: (prepayId) => env.onPaid && env.onPaid(prepayId),
            },
          },
          more,
        ),
      );
      t.after(() => wx._engine.cleanup());
      return wx;
    },
    /** `minibase.init` on a phone (installed as the global `wx`, detected by the SDK). */
    app(wx, o = {}) {
      globalThis.wx = wx;
      const app = minibase.init(Object.assign({ url: server.url, realtime: FAST }, o));
      t.after(() => app.realtime && closeAll(app));
      return app;
    },
  };
  return env;
}

function closeAll(app) {
  // eslint-disable-next-line no-underscore-dangle
  const rt = app.realtime;
  for (const id of Object.keys(rt.watchers || {})) rt.watchers[id].close();
}

/** Paths requested by a phone since `from` (its engine's log). */
function requests(wx, from = 0) {
  return wx._engine.log.slice(from).map((r) => r.method + ' ' + r.path);
}

module.exports = { setup, FAST, requests };
