// Express peer of bench/scenarios/functions.sh: the same two endpoints as the Minibase
// functions `hello` and `item` (a trivial handler, and one indexed lookup), as a Node/Express
// backend would write them: express.json(), a pg pool, NODE_ENV=production, one process.
'use strict';
const express = require('express');
const { Pool } = require('pg');

const port = Number(process.env.PORT || 3000);
const pool = new Pool({ connectionString: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test', max: 10 });

const app = express();
app.disable('x-powered-by');
app.use(express.json());

app.post('/api/functions/hello', (req, res) => {
  const data = (req.body && req.body.data) || {};
  res.json({ result: { hello: data.name || 'world' } });
});

app.post('/api/functions/item', async (req, res, next) => {
  try {
    const data = (req.body && req.body.data) || {};
    const r = await pool.query('SELECT id, code, title FROM bench_items WHERE code = $1', [data.code]);
    res.json({ result: r.rows[0] || null });
  } catch (e) {
    next(e);
  }
});

// Seeds bench_items (10,000 rows, unique index on code) when asked, then serves.
async function main() {
  if (process.argv.includes('--seed')) {
    await pool.query('DROP TABLE IF EXISTS bench_items');
    await pool.query('CREATE TABLE bench_items (id serial PRIMARY KEY, code text NOT NULL, title text)');
    await pool.query("INSERT INTO bench_items (code, title) SELECT 'c' || i, 'item ' || i FROM generate_series(0, 9999) AS i");
    await pool.query('CREATE UNIQUE INDEX bench_items_code ON bench_items (code)');
    await pool.query('ANALYZE bench_items');
  }
  app.listen(port, '127.0.0.1', () => console.log(`express peer on ${port}`));
}
main().catch((e) => { console.error(e); process.exit(1); });
