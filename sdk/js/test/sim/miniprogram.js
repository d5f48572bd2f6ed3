// A small mini-program runtime to run a real mini program's logic (app.js and its pages) as
// WeChat would: each file is a CommonJS module in one JS context that has `wx`, `App`, `Page`,
// `getApp` and timers — and none of Node's globals (`process`, `Buffer`, `fetch`, `require` of
// packages), so code that leans on Node fails here as it would on a phone. `setData` passes the
// data through JSON, as WeChat does between the logic and view layers.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

/** `overrides`: module exports to use instead of a file (e.g. `{'config.js': {url}}`, as a
 * developer edits config.js for a local server). */
function loadMiniProgram(root, wx, overrides = {}) {
  let app;
  let pageDef;
  const ctx = vm.createContext({
    wx,
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    App: (o) => (app = o),
    Page: (o) => (pageDef = o),
    getApp: () => app,
  });
  const cache = {};
  function load(file) {
    const full = path.resolve(root, file.endsWith('.js') ? file : file + '.js');
    if (!full.startsWith(path.resolve(root))) throw new Error('require outside the mini program: ' + file);
    if (cache[full]) return cache[full].exports;
    const rel = path.relative(root, full);
    if (overrides[rel]) return overrides[rel];
    const module = { exports: {} };
    cache[full] = module;
    const src = fs.readFileSync(full, 'utf8');
    const fn = vm.runInContext('(function (module, exports, require) {' + src + '\n})', ctx, { filename: full });
    fn(module, module.exports, (p) => {
      if (!p.startsWith('.')) throw new Error('mini programs cannot require packages: ' + p);
      return load(path.relative(root, path.resolve(path.dirname(full), p)));
    });
    return module.exports;
  }
  load('app.js');
  app.onLaunch && app.onLaunch({ path: 'pages/index/index', scene: 1001 });
  const appJson = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));

  /** Opens a page: its instance, with `data`, `setData` and the page's methods. */
  function openPage(route, query = {}) {
    if (!appJson.pages.includes(route)) throw new Error('not in app.json: ' + route);
    pageDef = undefined;
    delete cache[path.resolve(root, route + '.js')];
    load(route);
    const def = pageDef;
    const page = { route, data: JSON.parse(JSON.stringify(def.data || {})), updates: 0 };
    for (const k of Object.keys(def)) if (typeof def[k] == 'function') page[k] = def[k];
    page.setData = function (patch, cb) {
      Object.assign(this.data, JSON.parse(JSON.stringify(patch)));
      this.updates++;
      if (cb) setTimeout(cb);
    };
    page.onLoad && page.onLoad(query);
    page.onShow && page.onShow();
    return page;
  }

  return { app, openPage };
}

module.exports = { loadMiniProgram };
