// What ships: every file of dist/ parses as ES2017 (the WeChat base library's engines), never
// calls eval or Function, the wx build stays within 15 KB min+gzip, and each single-file build
// loads as CommonJS in a bare context (no Node globals) with only its platform's object and
// picks that platform.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const zlib = require('node:zlib');
const acorn = require('acorn');
const sim = require('../sim/platforms');

const dist = path.join(__dirname, '../../dist');
const files = fs.readdirSync(dist).filter((f) => /\.(c?js|mjs)$/.test(f));

function walk(node, visit) {
  if (!node || typeof node.type != 'string') return;
  visit(node);
  for (const k of Object.keys(node)) {
    const v = node[k];
    if (Array.isArray(v)) v.forEach((c) => walk(c, visit));
    else if (v && typeof v.type == 'string') walk(v, visit);
  }
}

for (const f of files) {
  test(`${f}: ES2017, no eval, no Function`, () => {
    const src = fs.readFileSync(path.join(dist, f), 'utf8');
    const ast = acorn.parse(src, { ecmaVersion: 2017, sourceType: f.endsWith('.mjs') ? 'module' : 'script' });
    walk(ast, (n) => {
      if ((n.type == 'CallExpression' || n.type == 'NewExpression') && n.callee.type == 'Identifier') {
        assert.notEqual(n.callee.name, 'eval', 'eval in ' + f);
        assert.notEqual(n.callee.name, 'Function', 'Function in ' + f);
      }
      if (n.type == 'MemberExpression' && !n.computed && n.property.name == 'constructor' && n.object.type == 'FunctionExpression') {
        assert.fail('Function constructor through .constructor in ' + f);
      }
    });
  });
}

test('the wx build is within 15 KB min+gzip', () => {
  const gz = zlib.gzipSync(fs.readFileSync(path.join(dist, 'minibase.wx.js')), { level: 9 }).length;
  assert.ok(gz <= 15 * 1024, gz + ' B');
});

for (const [p, make, name] of [
  ['wx', () => sim.makeWx(), 'wx'],
  ['qq', () => sim.makeQq(), 'qq'],
  ['tt', () => sim.makeTt(), 'tt'],
  ['my', () => sim.makeMy(), 'my'],
  ['swan', () => sim.makeSwan(), 'swan'],
]) {
  test(`minibase.${p}.js loads bare, with only ${p}`, () => {
    const api = make();
    try {
      const module = { exports: {} };
      const ctx = vm.createContext({ [p]: api, module, exports: module.exports, setTimeout, clearTimeout, setInterval, clearInterval });
      vm.runInContext(fs.readFileSync(path.join(dist, `minibase.${p}.js`), 'utf8'), ctx);
      const m = module.exports;
      assert.equal(typeof m.init, 'function');
      assert.equal(m.default.init, m.init, 'import minibase from … works too');
      const app = m.init({ url: 'https://api.example.com' });
      assert.equal(app.adapter.name, name);
      assert.equal(m.app(), app);
      assert.equal(typeof m.database().collection('x').where({ a: m.command.gt(1) }).get, 'function');
    } finally {
      api._engine.cleanup();
    }
  });
}
