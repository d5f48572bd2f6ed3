//! Differential test of the query engine against mingo (MongoDB's query language in JS, run
//! by `tests/differential/oracle.js`): thousands of random documents and queries — every
//! operator, nested objects and arrays, mixed types, missing fields, typed dates, orderBy,
//! skip and limit — must return the same documents in the same order from Minibase and
//! from mingo.
//!
//! Reproducible: `MB_DIFF_SEED=<n>` replays a run (the seed is printed on failure).
//! Bounded by default (a few seconds); `MB_DIFF_LONG=1` runs 20× more queries over more
//! documents. Known, deliberate differences from mingo are kept out of the generator and
//! listed in docs/database.md ("Differences from mingo"): nested arrays, numeric keys in
//! objects, `$size`/`$all`/`$elemMatch` through arrays of objects, ranges against `null`.

use serde_json::{Map, Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, pct: usize) -> bool {
        self.pick(100) < pct
    }
}

const STRINGS: &[&str] = &[
    "", "a", "ab", "b", "B", "ba", "apple", "Apple", "zeta", "中文",
];

fn scalar(r: &mut Rng) -> Value {
    match r.pick(11) {
        0 => Value::Null,
        1 => json!(r.chance(50)),
        2..=4 => json!(r.pick(9) as i64 - 3),
        5 => json!(r.pick(6) as f64 - 2.5),
        6..=8 => json!(STRINGS[r.pick(STRINGS.len())]),
        _ => json!({"$date": 1_700_000_000_000i64 + r.pick(4) as i64 * 86_400_000}),
    }
}

fn small_object(r: &mut Rng, fields: &[&str]) -> Value {
    let mut m = Map::new();
    for f in fields {
        if r.chance(70) {
            m.insert(f.to_string(), scalar(r));
        }
    }
    Value::Object(m)
}

fn document(r: &mut Rng, i: usize) -> Value {
    let mut m = Map::new();
    m.insert("_id".into(), json!(format!("d{i:05}")));
    if r.chance(85) {
        m.insert("s".into(), scalar(r));
    }
    if r.chance(80) {
        let o = if r.chance(80) {
            let mut o = Map::new();
            if r.chance(75) {
                o.insert("x".into(), scalar(r));
            }
            if r.chance(60) {
                o.insert(
                    "y".into(),
                    if r.chance(70) {
                        small_object(r, &["z", "w"])
                    } else {
                        scalar(r)
                    },
                );
            }
            Value::Object(o)
        } else {
            scalar(r)
        };
        m.insert("o".into(), o);
    }
    if r.chance(80) {
        let t = if r.chance(75) {
            Value::Array((0..r.pick(5)).map(|_| scalar(r)).collect())
        } else {
            scalar(r)
        };
        m.insert("t".into(), t);
    }
    if r.chance(70) {
        m.insert(
            "items".into(),
            Value::Array(
                (0..r.pick(4))
                    .map(|_| small_object(r, &["x", "y"]))
                    .collect(),
            ),
        );
    }
    Value::Object(m)
}

const PATHS: &[&str] = &[
    "s",
    "o",
    "o.x",
    "o.y",
    "o.y.z",
    "t",
    "t.0",
    "t.1",
    "items.x",
    "items.y",
    "items.0.x",
    "items.1.y",
    "nope",
    "_id",
];
/// Sort keys hold scalars only: on arrays and objects mingo's order differs from MongoDB's
/// (see docs/database.md), which Minibase follows and unit-tests in docdb.
const SORTABLE: &[&str] = &["s", "o.x", "o.y.z", "_id"];

fn operand(r: &mut Rng, path: &str) -> Value {
    if path == "_id" && r.chance(70) {
        return json!(format!("d{:05}", r.pick(400)));
    }
    scalar(r)
}

fn non_null(r: &mut Rng, path: &str) -> Value {
    loop {
        let v = operand(r, path);
        if !v.is_null() {
            return v;
        }
    }
}

fn field_cond(r: &mut Rng, path: &str, depth: usize) -> Value {
    let arrays = path == "t" || path == "items";
    match r.pick(if depth > 0 { 15 } else { 17 }) {
        0 | 1 => operand(r, path),
        2 => json!({"$eq": operand(r, path)}),
        3 => json!({"$neq": operand(r, path)}),
        4 => json!({"$lt": non_null(r, path)}),
        5 => json!({"$lte": non_null(r, path)}),
        6 => json!({"$gt": non_null(r, path)}),
        7 => json!({"$gte": non_null(r, path)}),
        8 => json!({"$gt": non_null(r, path), "$lt": non_null(r, path)}),
        9 | 10 => {
            let list: Vec<Value> = (0..1 + r.pick(3)).map(|_| operand(r, path)).collect();
            let mut m = Map::new();
            m.insert(
                if r.chance(50) { "$in" } else { "$nin" }.to_string(),
                Value::Array(list),
            );
            Value::Object(m)
        }
        11 => json!({"$exists": r.chance(50)}),
        12 => json!({"$mod": [2 + r.pick(2) as i64, r.pick(2) as i64]}),
        13 => {
            let pattern = ["^a", "a", "^A", "b$", "^$", "中"][r.pick(6)];
            let options = if r.chance(50) { "i" } else { "" };
            json!({"$regex": pattern, "$options": options})
        }
        14 => match field_cond(r, path, depth + 1) {
            // $not takes an operator object: wrap plain values.
            Value::Object(m)
                if !m.is_empty()
                    && m.keys().all(|k| k.starts_with('$'))
                    && !m.contains_key("$date") =>
            {
                json!({"$not": Value::Object(m)})
            }
            other => json!({"$not": {"$eq": other}}),
        },
        15 => {
            let op = ["$or", "$and", "$nor"][r.pick(3)];
            let items: Vec<Value> = (0..1 + r.pick(2))
                .map(|_| match field_cond(r, path, depth + 1) {
                    Value::Object(m)
                        if !m.is_empty()
                            && m.keys().all(|k| k.starts_with('$'))
                            && !m.contains_key("$date") =>
                    {
                        Value::Object(m)
                    }
                    other => json!({"$eq": other}),
                })
                .collect();
            let mut m = Map::new();
            m.insert(op.to_string(), Value::Array(items));
            Value::Object(m)
        }
        _ => {
            if arrays && path == "t" {
                match r.pick(4) {
                    0 => json!({"$size": r.pick(4)}),
                    1 => {
                        let all: Vec<Value> = (0..1 + r.pick(2)).map(|_| scalar(r)).collect();
                        json!({ "$all": all })
                    }
                    2 => {
                        json!({"$elemMatch": {"$gte": non_null(r, path), "$lt": non_null(r, path)}})
                    }
                    _ => Value::Array((0..r.pick(3)).map(|_| scalar(r)).collect()),
                }
            } else if arrays {
                match r.pick(2) {
                    0 => json!({"$size": r.pick(3)}),
                    _ => {
                        json!({"$elemMatch": {"x": field_cond(r, "x", depth + 1), "y": {"$exists": r.chance(50)}}})
                    }
                }
            } else {
                operand(r, path)
            }
        }
    }
}

fn where_(r: &mut Rng, depth: usize) -> Value {
    let mut m = Map::new();
    for _ in 0..1 + r.pick(2) {
        match r.pick(if depth >= 2 { 6 } else { 8 }) {
            6 => {
                let op = ["$and", "$or", "$nor"][r.pick(3)];
                m.insert(
                    op.into(),
                    Value::Array((0..1 + r.pick(3)).map(|_| where_(r, depth + 1)).collect()),
                );
            }
            7 => {
                // CloudBase flattening: {"o": {"x": v}} ≡ {"o.x": v}
                let mut inner = Map::new();
                let f = ["x", "y"][r.pick(2)];
                inner.insert(f.into(), field_cond(r, &format!("o.{f}"), depth + 1));
                m.insert("o".into(), Value::Object(inner));
            }
            _ => {
                let mut p = PATHS[r.pick(PATHS.len())];
                if r.chance(15) {
                    p = ["t", "items"][r.pick(2)];
                }
                let c = field_cond(r, p, 0);
                m.insert(p.into(), c);
            }
        }
    }
    Value::Object(m)
}

fn query(r: &mut Rng) -> Value {
    let mut q = Map::new();
    q.insert(
        "where".into(),
        if r.chance(5) {
            Value::Null
        } else {
            where_(r, 0)
        },
    );
    if r.chance(60) {
        let keys: Vec<Value> = (0..1 + r.pick(2))
            .map(|_| {
                json!([
                    SORTABLE[r.pick(SORTABLE.len())],
                    if r.chance(50) { "asc" } else { "desc" }
                ])
            })
            .collect();
        q.insert("orderBy".into(), Value::Array(keys));
    }
    if r.chance(25) {
        q.insert("skip".into(), json!(r.pick(6)));
    }
    q.insert(
        "limit".into(),
        json!(if r.chance(30) { 1 + r.pick(30) } else { 1000 }),
    );
    Value::Object(q)
}

fn oracle(docs: &[Value], queries: &[Value]) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential");
    assert!(
        dir.join("node_modules/mingo").exists(),
        "mingo is not installed: run scripts/test-deps.sh (npm install in {})",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join("oracle.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Node.js 20) must be installed: scripts/test-deps.sh");
    let input = serde_json::to_vec(&json!({"docs": docs, "queries": queries})).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "oracle failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["results"].as_array().unwrap().clone()
}

/// What runs the queries on Minibase's side.
pub trait Engine {
    /// Stores the documents.
    async fn load(&mut self, docs: &[Value]);
    /// Runs one query (`{"where","orderBy","skip","limit"}`), returning the `_id`s in order.
    async fn run(&mut self, q: &Value) -> Result<Vec<String>, String>;
}

/// Generates, runs both sides and compares. Panics with the seed and the first mismatches.
pub async fn differential(engine: &mut impl Engine) {
    let long = std::env::var("MB_DIFF_LONG").is_ok_and(|v| v == "1");
    let seed: u64 = std::env::var("MB_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let (ndocs, nqueries) = if long { (1200, 40_000) } else { (300, 2_000) };
    let mut r = Rng(seed);
    let docs: Vec<Value> = (0..ndocs).map(|i| document(&mut r, i)).collect();
    let queries: Vec<Value> = (0..nqueries).map(|_| query(&mut r)).collect();
    engine.load(&docs).await;
    let expected = oracle(&docs, &queries);
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for (q, exp) in queries.iter().zip(expected.iter()) {
        let got = engine.run(q).await;
        let exp_ids: Result<Vec<String>, String> = match exp {
            Value::Array(a) => Ok(a
                .iter()
                .map(|x| x.as_str().unwrap_or("?").to_string())
                .collect()),
            other => Err(other.to_string()),
        };
        match (&got, &exp_ids) {
            (Ok(g), Ok(e)) if g == e => {
                if !g.is_empty() {
                    nonempty += 1;
                }
            }
            _ => failures.push(format!(
                "query {q}\n  minibase: {got:?}\n  mingo:    {exp_ids:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from mingo (MB_DIFF_SEED={seed}); first ones:\n{}",
        failures.len(),
        queries.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        nonempty > queries.len() / 4,
        "the generator should produce mostly non-empty results ({nonempty})"
    );
}
