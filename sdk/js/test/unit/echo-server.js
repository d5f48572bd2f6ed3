// A small HTTP + WebSocket server on a random loopback port, answering what the adapter tests
// need to see: the request as received, error envelopes, text, silence, multipart uploads,
// file bytes, and an echoing WebSocket.
'use strict';
const http = require('node:http');
const { WebSocketServer } = require('ws');

function parseMultipart(buf, contentType) {
  const m = /boundary=(.+)$/.exec(contentType || '');
  if (!m) return null;
  const sep = Buffer.from('--' + m[1]);
  const fields = {};
  let file = null;
  let pos = buf.indexOf(sep);
  while (pos >= 0) {
    const start = pos + sep.length;
    if (buf.slice(start, start + 2).toString() == '--') break;
    const headEnd = buf.indexOf('\r\n\r\n', start);
    const next = buf.indexOf(sep, headEnd);
    const head = buf.slice(start + 2, headEnd).toString();
    const body = buf.slice(headEnd + 4, next - 2);
    const name = /name="([^"]*)"/.exec(head)[1];
    if (/filename="/.test(head)) file = { field: name, size: body.length, first: body.slice(0, 16).toString() };
    else fields[name] = body.toString();
    pos = next;
  }
  return { fields, file };
}

async function startEchoServer() {
  const seen = { uploads: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url, 'http://x');
      const json = (status, v, headers = {}) => {
        res.writeHead(status, Object.assign({ 'content-type': 'application/json; charset=utf-8' }, headers));
        res.end(JSON.stringify(v));
      };
      if (u.pathname.startsWith('/echo')) {
        let parsed = body.toString();
        try {
          parsed = JSON.parse(parsed);
        } catch (_) {
          /* keep text */
        }
        return json(200, { method: req.method, path: u.pathname, query: u.search, headers: req.headers, body: parsed }, { 'X-Request-Id': 'req-echo' });
      }
      const st = /^\/status\/(\d+)$/.exec(u.pathname);
      if (st) {
        const code = Number(st[1]);
        return json(code, { error: { code: code == 401 ? 'UNAUTHENTICATED' : 'SOMETHING', message: 'status ' + code, request_id: 'req-' + code } }, { 'X-Request-Id': 'req-' + code, 'Retry-After': '1' });
      }
      if (u.pathname == '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('plain text');
      }
      if (u.pathname == '/slow') return; // never answers
      if (u.pathname == '/upload') {
        seen.uploads++;
        return json(200, parseMultipart(body, req.headers['content-type']));
      }
      if (u.pathname == '/file') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end('hello file');
      }
      json(404, { error: { code: 'NOT_FOUND', message: 'no route', request_id: 'x' } });
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url, 'http://x');
    if (u.searchParams.get('reject')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ hello: true, authorization: req.headers.authorization || null, query: u.search }));
      ws.on('message', (d) => {
        const t = d.toString();
        if (t == 'close-me') ws.close(4001, 'bye');
        else ws.send('echo:' + t);
      });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = 'http://127.0.0.1:' + server.address().port;
  return {
    base,
    seen,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(r);
      }),
  };
}

module.exports = { startEchoServer };
