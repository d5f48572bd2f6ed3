// Builds dist/ from src/ (esbuild for the bundles, tsc for the type declarations).
//
//   node scripts/build.mjs           writes dist/
//   node scripts/build.mjs --check   builds in memory and fails when dist/ differs (dist/ is
//                                    committed: mini programs copy dist/minibase.wx.js without
//                                    npm, so it must always match the sources)
//
// Outputs: index.mjs / index.cjs (every adapter, readable), minibase.{wx,qq,tt,my,swan}.js
// (CommonJS, minified, one adapter each), minibase.browser.js (a minified IIFE defining the
// global `minibase`), types/ (declarations), and the copy of minibase.wx.js in
// examples/miniprogram-todo/miniprogram/lib/ (checked like dist/). ES2017 syntax at most (the WeChat base library's
// engines); the wx build must stay within 15 KB min+gzip.
import { build } from 'esbuild';
import ts from 'typescript';
import { gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const check = process.argv.includes('--check');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} | https://github.com/minibase */`;
const WX_BUDGET = 15 * 1024;

const common = {
  bundle: true,
  write: false,
  target: 'es2017',
  platform: 'neutral',
  legalComments: 'none',
  banner: { js: banner },
  logLevel: 'error',
  charset: 'utf8',
};

const jobs = [
  { entryPoints: ['src/index.ts'], outfile: 'dist/index.mjs', format: 'esm' },
  { entryPoints: ['src/index.ts'], outfile: 'dist/index.cjs', format: 'cjs' },
  { entryPoints: ['src/index.ts'], outfile: 'dist/minibase.browser.js', format: 'iife', globalName: 'minibase', minify: true },
  ...['wx', 'qq', 'tt', 'my', 'swan'].map((p) => ({
    entryPoints: [`src/entries/${p}.ts`],
    outfile: `dist/minibase.${p}.js`,
    format: 'cjs',
    minify: true,
  })),
];

/** path (relative to the package) → contents */
const out = new Map();
for (const j of jobs) {
  const r = await build({ ...common, ...j, absWorkingDir: root });
  for (const f of r.outputFiles) out.set(relative(root, f.path), f.text);
}

// The example mini program carries its own copy of the wx build, as a user's would.
const EXAMPLE_COPY = '../../examples/miniprogram-todo/miniprogram/lib/minibase.wx.js';
out.set(EXAMPLE_COPY, out.get('dist/minibase.wx.js'));

// Declarations.
const cfg = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')) });
const program = ts.createProgram(cfg.fileNames, cfg.options);
const diags = ts.getPreEmitDiagnostics(program);
if (diags.length) {
  fail(ts.formatDiagnostics(diags, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
}
program.emit(undefined, (file, text) => out.set(relative(root, file), text));

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

function listDist(dir, acc = []) {
  if (!existsSync(dir)) return acc;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) listDist(p, acc);
    else acc.push(relative(root, p));
  }
  return acc;
}

const sizes = [...out.keys()]
  .filter((f) => /minibase\.\w+\.js$/.test(f))
  .sort()
  .map((f) => ({ file: f, min: Buffer.byteLength(out.get(f)), gz: gzipSync(out.get(f), { level: 9 }).length }));
for (const s of sizes) console.log(`${s.file.padEnd(28)} ${String(s.min).padStart(7)} B min  ${String(s.gz).padStart(6)} B min+gzip`);
const wx = sizes.find((s) => s.file.endsWith('minibase.wx.js'));
if (wx.gz > WX_BUDGET) fail(`dist/minibase.wx.js is ${wx.gz} B min+gzip, over the ${WX_BUDGET} B budget`);

if (check) {
  const stale = [];
  for (const [f, text] of out) {
    const p = join(root, f);
    if (!existsSync(p) || readFileSync(p, 'utf8') !== text) stale.push(f);
  }
  for (const f of listDist(dist)) if (!out.has(f)) stale.push(f + ' (not built any more)');
  if (stale.length) fail(`dist/ does not match src/ — run \`npm run build\` and commit dist/:\n  ${stale.join('\n  ')}`);
  console.log('dist/ matches the sources');
} else {
  rmSync(dist, { recursive: true, force: true });
  for (const [f, text] of out) {
    const p = join(root, f);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  console.log(`wrote ${out.size} files to dist/`);
}
