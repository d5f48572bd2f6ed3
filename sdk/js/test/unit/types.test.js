// The published declarations (dist/types) as a TypeScript user meets them: test/types/usage.ts
// must compile, and its `@ts-expect-error` lines must be errors (unused ones fail).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const ts = require('typescript');

test('dist/types type-checks a user’s code, generics included', () => {
  const file = path.join(__dirname, '../types/usage.ts');
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2017,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2017.d.ts', 'lib.dom.d.ts'],
    skipLibCheck: false,
  });
  const diags = ts.getPreEmitDiagnostics(program);
  const text = ts.formatDiagnostics(diags, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\n' });
  assert.equal(diags.length, 0, text);
});
