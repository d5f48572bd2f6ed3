// The machinery under every simulated platform: real HTTP (node:http), real WebSockets (ws),
// real files. Each platform's simulation (platforms.js) only shapes calls and answers the way
// that platform documents them; what goes over the wire is real.
//
// Fault injection for tests: `offline` (requests and new sockets fail at once), `dropSockets()`
// (an abrupt TCP close, as when the phone changes network), `freezeSockets()` (a half-open
// link: frames vanish both ways and no close comes), and a log of every request made.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

let seq = 0;

class Engine {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-sim-'));
    this.offline = false;
    this.log = []; // {method, path}
    this.sockets = new Set();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  /** A new temp file (like a `wxfile://tmp_…` path) holding `bytes`; answers its real path. */
  tempFile(bytes, ext = '.bin') {
    const p = path.join(this.dir, 'tmp_' + ++seq + ext);
    fs.writeFileSync(p, bytes);
    return p;
  }

  cleanup() {
    for (const s of this.sockets) s.terminate();
    this.agent.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** HTTP request. Answers {status, headers, text}; fails with {reason}. */
  request({ url, method = 'GET', headers = {}, body, timeout = 60000 }) {
    let req;
    let done = false;
    let aborted = false;
    const promise = new Promise((resolve, reject) => {
      if (this.offline) return setTimeout(() => reject({ reason: 'net::ERR_INTERNET_DISCONNECTED' }));
      const u = new URL(url);
      this.log.push({ method, path: u.pathname });
      req = http.request(u, { method, headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          done = true;
          resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (e) => reject({ reason: aborted ? 'abort' : e.message }));
      });
      req.setTimeout(timeout, () => {
        req.destroy();
        reject({ reason: 'timeout' });
      });
      req.on('error', (e) => reject({ reason: aborted ? 'abort' : e.code || e.message }));
      if (body !== undefined) req.write(body);
      req.end();
    });
    return {
      promise,
      abort() {
        if (done || !req) return;
        aborted = true;
        req.destroy();
      },
    };
  }

  /** multipart/form-data upload of a real file, written in chunks as the socket drains;
   * `onProgress({sent, total})` after each. */
  upload({ url, headers = {}, filePath, name, formData = {}, timeout = 600000, onProgress }) {
    let req;
    let aborted = false;
    let done = false;
    const promise = new Promise((resolve, reject) => {
      if (this.offline) return setTimeout(() => reject({ reason: 'net::ERR_INTERNET_DISCONNECTED' }));
      let size;
      try {
        size = fs.statSync(filePath).size;
      } catch (e) {
        return setTimeout(() => reject({ reason: 'file not found ' + filePath }));
      }
      const boundary = '----WebKitFormBoundary' + Math.random().toString(36).slice(2);
      let head = '';
      for (const k of Object.keys(formData)) {
        head += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${formData[k]}\r\n`;
      }
      head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${path.basename(filePath)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      const tail = `\r\n--${boundary}--\r\n`;
      const total = Buffer.byteLength(head) + size + Buffer.byteLength(tail);
      const u = new URL(url);
      this.log.push({ method: 'POST', path: u.pathname });
      req = http.request(
        u,
        {
          method: 'POST',
          agent: this.agent,
          headers: Object.assign({}, headers, { 'content-type': 'multipart/form-data; boundary=' + boundary, 'content-length': total }),
        },
        (res) => {
          answered = true;
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            done = true;
            resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      req.setTimeout(timeout, () => {
        req.destroy();
        reject({ reason: 'timeout' });
      });
      // A server may answer early (a refused cloudPath, 401, 413) and close while the body is
      // still being written: like phones' HTTP stacks, report its answer, not the broken pipe.
      let answered = false;
      req.on('error', (e) => {
        if (aborted) return reject({ reason: 'abort' });
        setTimeout(() => answered || reject({ reason: e.code || e.message }), 200);
      });
      let sent = 0;
      const write = (buf) =>
        new Promise((ok) => {
          if (aborted || req.destroyed) return ok(false);
          req.write(buf, () => {
            sent += buf.length;
            if (!aborted && onProgress) onProgress({ sent, total });
            ok(true);
          });
        });
      (async () => {
        if (!(await write(Buffer.from(head)))) return;
        const fd = fs.openSync(filePath, 'r');
        try {
          const buf = Buffer.alloc(64 * 1024);
          let off = 0;
          while (off < size) {
            const n = fs.readSync(fd, buf, 0, buf.length, off);
            off += n;
            if (!(await write(Buffer.from(buf.subarray(0, n))))) return;
          }
        } finally {
          fs.closeSync(fd);
        }
        if (!(await write(Buffer.from(tail)))) return;
        req.end();
      })();
    });
    return {
      promise,
      abort() {
        if (done || !req) return;
        aborted = true;
        req.destroy();
      },
    };
  }

  /** Downloads into a new temp file: {status, path}. */
  download({ url, headers = {} }) {
    let req;
    const promise = new Promise((resolve, reject) => {
      if (this.offline) return setTimeout(() => reject({ reason: 'net::ERR_INTERNET_DISCONNECTED' }));
      const u = new URL(url);
      this.log.push({ method: 'GET', path: u.pathname });
      req = http.get(u, { headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, path: this.tempFile(Buffer.concat(chunks)) }));
      });
      req.on('error', (e) => reject({ reason: e.code || e.message }));
    });
    return { promise, abort: () => req && req.destroy() };
  }

  /** A WebSocket with the platform-neutral events `open`, `message(text)`, `close(code, reason)`,
   * `error(msg)`, `refused(status)` (the upgrade was answered with a status, not 101). */
  socket({ url, headers = {} }, on) {
    if (this.offline) {
      setTimeout(() => {
        on.error('net::ERR_INTERNET_DISCONNECTED');
        on.close(1006, 'abnormal closure');
      });
      return { send() {}, close() {} };
    }
    this.log.push({ method: 'WS', path: new URL(url).pathname });
    const ws = new WebSocket(url, { headers });
    this.sockets.add(ws);
    let closed = false;
    const close = (code, reason) => {
      if (closed) return;
      closed = true;
      this.sockets.delete(ws);
      on.close(code, reason);
    };
    ws.on('open', () => on.open());
    ws.on('message', (data, isBinary) => {
      if (!ws.frozen) on.message(isBinary ? data : data.toString('utf8'));
    });
    ws.on('unexpected-response', (_req, res) => {
      on.error('Invalid HTTP status ' + res.statusCode);
      res.resume();
      ws.terminate();
      close(1006, 'abnormal closure');
    });
    ws.on('error', (e) => {
      on.error(e.message);
    });
    ws.on('close', (code, reason) => close(code || 1006, reason ? reason.toString() : ''));
    return {
      send: (data) => {
        if (ws.frozen) return true;
        if (ws.readyState !== WebSocket.OPEN) return false;
        ws.send(data);
        return true;
      },
      close: (code = 1000, reason = '') => {
        try {
          ws.close(code, reason);
        } catch (_) {
          ws.terminate();
        }
      },
      ws,
    };
  }

  /** Every open socket dies at once (no close frame), as when the network changes. */
  dropSockets() {
    for (const s of this.sockets) s.terminate();
  }

  /** Frames stop flowing both ways on the sockets open now, which stay "open" (a half-open
   * link); sockets opened later work. */
  freezeSockets() {
    for (const s of this.sockets) {
      s.frozen = true;
      s.pause();
    }
  }
}

module.exports = { Engine };
