// Express peer of bench/scenarios/db.sh: the stack people build by hand for a mini-program
// backend — Express 4, PostgreSQL with a jsonb column, JWT (HS256) bearer auth, owner-only
// access enforced in SQL — with the same endpoints and shapes as Minibase's database for the
// four benchmarked operations (create, get by id, indexed query with orderBy, $inc).
// One Node process (NODE_ENV=production), a pg pool of 20.
'use strict';
const crypto = require('crypto');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Pool } = require('pg');

const port = Number(process.env.PORT || 3000);
const secret = process.env.JWT_SECRET || crypto.randomBytes(32).toString('hex');
const pool = new Pool({ connectionString: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test', max: 20 });

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: '1mb' }));

app.post('/api/auth/dev/login', (req, res) => {
  const openid = String((req.body && req.body.openid) || '');
  if (!openid) return res.status(400).json({ error: { code: 'INVALID_ARGUMENT', message: 'openid' } });
  res.json({ access_token: jwt.sign({ sub: openid }, secret, { algorithm: 'HS256', expiresIn: '2h' }) });
});

function auth(req, res, next) {
  const h = req.headers.authorization || '';
  if (!h.startsWith('Bearer ')) return res.status(401).json({ error: { code: 'UNAUTHENTICATED', message: 'token' } });
  try {
    req.openid = jwt.verify(h.slice(7), secret, { algorithms: ['HS256'] }).sub;
    next();
  } catch (e) {
    res.status(401).json({ error: { code: 'UNAUTHENTICATED', message: 'token' } });
  }
}

const wrap = (f) => (req, res, next) => f(req, res).catch(next);

app.post('/api/db/todos/docs', auth, wrap(async (req, res) => {
  const doc = req.body;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return res.status(400).json({ error: { code: 'INVALID_ARGUMENT', message: 'document' } });
  const id = crypto.randomBytes(16).toString('hex');
  doc._id = id;
  doc._openid = req.openid;
  await pool.query('INSERT INTO todos (id, owner, data) VALUES ($1, $2, $3)', [id, req.openid, doc]);
  res.status(201).json({ _id: id });
}));

app.get('/api/db/todos/docs/:id', auth, wrap(async (req, res) => {
  const r = await pool.query('SELECT data FROM todos WHERE id = $1 AND owner = $2', [req.params.id, req.openid]);
  if (!r.rows.length) return res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such document' } });
  res.json({ data: r.rows[0].data });
}));

// {"where": {"list": …}, "orderBy": [["due", "desc"]], "limit": n}: the benchmarked shape.
app.post('/api/db/todos/query', auth, wrap(async (req, res) => {
  const q = req.body || {};
  const list = q.where && q.where.list;
  const limit = Math.min(Number(q.limit || 20), 1000);
  const r = await pool.query(
    "SELECT data FROM todos WHERE owner = $1 AND data->>'list' = $2 ORDER BY (data->'due') DESC LIMIT $3",
    [req.openid, list, limit]);
  res.json({ data: r.rows.map((x) => x.data) });
}));

// {"data": {"n": {"$inc": k}}}: an atomic increment in one UPDATE.
app.patch('/api/db/todos/docs/:id', auth, wrap(async (req, res) => {
  const inc = req.body && req.body.data && req.body.data.n && req.body.data.n.$inc;
  if (typeof inc !== 'number') return res.status(400).json({ error: { code: 'INVALID_ARGUMENT', message: 'only {n: {$inc}}' } });
  const r = await pool.query(
    "UPDATE todos SET data = jsonb_set(data, '{n}', to_jsonb(COALESCE((data->>'n')::numeric, 0) + $3)) WHERE id = $1 AND owner = $2",
    [req.params.id, req.openid, inc]);
  res.json({ updated: r.rowCount });
}));

app.use((err, req, res, next) => {
  console.error(err);
  res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
});

async function main() {
  if (process.argv.includes('--seed')) {
    await pool.query('DROP TABLE IF EXISTS todos');
    await pool.query('CREATE TABLE todos (id text PRIMARY KEY, owner text NOT NULL, data jsonb NOT NULL)');
    await pool.query("CREATE INDEX todos_owner_list_due ON todos (owner, (data->>'list'), (data->'due') DESC)");
    await pool.query(
      "INSERT INTO todos (id, owner, data) SELECT md5(i::text), 'bench-user', jsonb_build_object('_id', md5(i::text), '_openid', 'bench-user', 'title', 'todo ' || i, 'list', 'l' || (i % 10), 'due', i, 'done', false) FROM generate_series(0, 999) AS i");
    await pool.query('ANALYZE todos');
  }
  app.listen(port, '127.0.0.1', () => console.log(`express db peer on ${port}`));
}
main().catch((e) => { console.error(e); process.exit(1); });
