// Files through the wx adapter (wx.uploadFile, wx.downloadFile, wx.request) against a real
// server: a 20 MB upload with progress, an aborted one that leaves nothing behind, temporary
// URLs (batched past 50), downloads, deletes, storage rules and bad input.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { setup } = require('./setup');

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

test('storage', async (t) => {
  const env = await setup(t);
  const wx = env.phone('st-alice');
  const app = env.app(wx);

  await t.test('a 20 MB upload with progress, then its temp URL and a download', async () => {
    const bytes = crypto.randomBytes(20 * 1024 * 1024);
    const filePath = wx._engine.tempFile(bytes, '.mp4');
    const seen = [];
    const task = app.uploadFile({ cloudPath: 'videos/st-alice/big.mp4', filePath, onUploadProgress: (p) => seen.push(p) });
    const alsoSeen = [];
    task.onProgressUpdate((p) => alsoSeen.push(p.progress));
    const r = await task;
    assert.deepEqual(r, { fileID: 'mb://videos/st-alice/big.mp4', statusCode: 200, errMsg: 'cloud.uploadFile:ok' });
    assert.ok(seen.length > 20, 'progress all along: ' + seen.length);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loaded >= seen[i - 1].loaded);
    const last = seen[seen.length - 1];
    assert.equal(last.progress, 100);
    assert.equal(last.loaded, last.total);
    assert.ok(last.total > bytes.length);
    assert.equal(alsoSeen.length, seen.length);

    const { fileList } = await app.getTempFileURL({ fileList: [{ fileID: r.fileID, maxAge: 600 }] });
    assert.equal(fileList[0].status, 0);
    assert.match(fileList[0].tempFileURL, /\/storage\/videos\/st-alice\/big\.mp4\?exp=\d+&sig=/);
    const d = await app.downloadFile({ fileID: r.fileID });
    assert.equal(d.statusCode, 200);
    assert.equal(d.errMsg, 'cloud.downloadFile:ok');
    assert.equal(sha(fs.readFileSync(d.tempFilePath)), sha(bytes));
  });

  await t.test('an aborted upload fails with ABORTED and stores nothing', async () => {
    const bytes = crypto.randomBytes(20 * 1024 * 1024);
    const filePath = wx._engine.tempFile(bytes, '.mp4');
    let task;
    let aborted = false;
    task = app.uploadFile({
      cloudPath: 'videos/st-alice/aborted.mp4',
      filePath,
      onUploadProgress: (p) => {
        if (!aborted && p.loaded > 2 * 1024 * 1024) {
          aborted = true;
          task.abort();
        }
      },
    });
    await assert.rejects(task, (e) => {
      assert.equal(e.code, 'ABORTED');
      assert.equal(e.errCode, -1);
      assert.match(e.errMsg, /^cloud\.uploadFile:fail ABORTED/);
      return true;
    });
    const { fileList } = await app.getTempFileURL({ fileList: ['mb://videos/st-alice/aborted.mp4'] });
    assert.equal(fileList[0].status, -1);
    const files = await env.server.service('POST', '/api/db/_files/query', { where: { path: 'videos/st-alice/aborted.mp4' } });
    assert.deepEqual(files.body.data, []);
  });

  await t.test('abort before the upload starts', async () => {
    const task = app.uploadFile({ cloudPath: 'x/never.txt', filePath: wx._engine.tempFile(Buffer.from('x')) });
    task.abort();
    await assert.rejects(task, (e) => e.code == 'ABORTED');
  });

  await t.test('temp URLs in batches of 50, per-file status, delete', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await app.uploadFile({ cloudPath: `docs/st-alice/${i}.txt`, filePath: wx._engine.tempFile(Buffer.from('file ' + i), '.txt') });
      ids.push(r.fileID);
    }
    const list = [];
    for (let i = 0; i < 52; i++) list.push(ids[i % 3]);
    const before = wx._engine.log.length;
    const { fileList, errMsg } = await app.getTempFileURL({ fileList: list });
    assert.equal(errMsg, 'cloud.getTempFileURL:ok');
    assert.equal(fileList.length, 52);
    assert.ok(fileList.every((f) => f.status == 0));
    assert.equal(wx._engine.log.slice(before).filter((r) => r.path == '/api/storage/temp-urls').length, 2, 'two requests');

    const del = await app.deleteFile({ fileList: [ids[0], 'mb://docs/st-alice/none.txt'] });
    assert.equal(del.errMsg, 'cloud.deleteFile:ok');
    assert.equal(del.fileList[0].status, 0);
    assert.equal(del.fileList[1].status, -1);
    const after = await app.getTempFileURL({ fileList: [ids[0], ids[1]] });
    assert.equal(after.fileList[0].status, -1);
    assert.equal(after.fileList[1].status, 0);
    await assert.rejects(app.downloadFile({ fileID: ids[0] }), (e) => e.code == 'PERMISSION_DENIED' || e.code == 'NOT_FOUND');
  });

  await t.test('rules: another user cannot read or overwrite my files', async () => {
    const bobWx = env.phone('st-bob');
    const bob = env.app(bobWx);
    const { fileList } = await bob.getTempFileURL({ fileList: ['mb://docs/st-alice/1.txt'] });
    assert.equal(fileList[0].status, -1);
    assert.equal(fileList[0].code, 'PERMISSION_DENIED');
    await assert.rejects(bob.uploadFile({ cloudPath: 'docs/st-alice/1.txt', filePath: bobWx._engine.tempFile(Buffer.from('evil')) }), (e) => e.code == 'PERMISSION_DENIED' && e.errCode == 403);
  });

  await t.test('bad input', async () => {
    const before = wx._engine.log.length;
    await assert.rejects(app.uploadFile({ cloudPath: '../etc/passwd', filePath: wx._engine.tempFile(Buffer.from('x')) }), (e) => e.code == 'INVALID_ARGUMENT' && /'\.\.'/.test(e.errMsg));
    assert.equal(wx._engine.log.length, before, 'refused before sending');
    await assert.rejects(app.uploadFile({ cloudPath: 'a.txt' }), (e) => e.code == 'INVALID_ARGUMENT' && e.errCode == -1);
    await assert.rejects(app.uploadFile({ filePath: 'x' }), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(app.getTempFileURL({ fileList: [] }), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(app.deleteFile({}), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(app.downloadFile({}), (e) => e.code == 'INVALID_ARGUMENT');
    await assert.rejects(app.uploadFile({ cloudPath: 'a.txt', filePath: '/no/such/file' }), (e) => e.code == 'NETWORK_ERROR' && /file not found/.test(e.errMsg));
  });

  await t.test('callbacks', async () => {
    const r = await new Promise((resolve, reject) => {
      const task = app.uploadFile({ cloudPath: 'cb/st-alice/a.txt', filePath: wx._engine.tempFile(Buffer.from('cb')), success: resolve, fail: reject });
      assert.equal(typeof task.abort, 'function');
    });
    assert.equal(r.fileID, 'mb://cb/st-alice/a.txt');
  });
});
