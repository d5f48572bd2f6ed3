//! Hidden documents never influence a query (issue 16, item 1): a caller's own conditions are
//! never evaluated on a document their read rule hides, so what a costly condition takes can
//! not tell anything about such a document — through every endpoint that takes a `where`
//! (query, count, update, remove) and `watch`, with and without indexes on the fields
//! involved.
//!
//! The probe is the attack that was reported: user B counts with a regex that is expensive
//! only on text starting with the right prefix, against user A's hidden diary. Before the fix
//! the hit took ~250× the miss; the assertions allow a wide margin for a loaded machine.

use crate::realtime::Ws;
use config::{CollectionConfig, Config, IndexConfig, RuleSource};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::TestServer;

/// Costly only on text that starts with `PIN=<digit>` (the lazy DFA then walks thousands of
/// states per byte); a miss is refused at the anchor, at once.
fn probe(digit: char) -> Value {
    json!({"diary": {"$regex": format!("^PIN={digit}.*(?:[a-z ]{{100}}){{80}}X")}})
}

fn declare(indexed: bool) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        let owner = Some(RuleSource::Expr("doc._openid == auth.openid".into()));
        c.collections.insert(
            "diaries".into(),
            CollectionConfig {
                read: owner.clone(),
                write: owner,
                indexes: if indexed {
                    vec![
                        IndexConfig {
                            fields: vec!["_openid".into()],
                            unique: false,
                        },
                        IndexConfig {
                            fields: vec!["diary".into()],
                            unique: false,
                        },
                    ]
                } else {
                    Vec::new()
                },
                ..Default::default()
            },
        );
    }
}

/// A's secret diary: the PIN, then a long lowercase text (no `X`), as in the report.
fn secret_diary() -> String {
    let mut s = String::from("PIN=7 ");
    while s.len() < 24_000 {
        s.push_str("dear diary today i went to the market and bought apples ");
    }
    s
}

/// An endpoint taking a `where`: its name, its body around a given `where`, and the field of
/// its answer that says how many documents it saw.
type Endpoint = (&'static str, fn(Value) -> Value, &'static str);

async fn post(srv: &TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = srv
        .http()
        .post(srv.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The median time of `n` runs of `f`.
async fn median<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// How long a new watch of the probe takes to answer its initial snapshot (empty for B).
async fn watch_time(ws: &mut Ws, id: &str, digit: char) -> Duration {
    let t = Instant::now();
    let snap = ws
        .watch(id, "diaries", json!({"where": probe(digit)}))
        .await;
    assert_eq!(snap["docs"], json!([]), "{snap}");
    t.elapsed()
}

/// The hit (the hidden diary's real prefix) must cost about what the miss costs.
fn assert_no_gap(what: &str, hit: Duration, miss: Duration) {
    let allowed = miss * 4 + Duration::from_millis(60);
    assert!(
        hit <= allowed,
        "{what}: a condition matching only the hidden document took {hit:?}, a miss {miss:?}: \
         the condition ran on a document the read rule hides"
    );
}

async fn every_endpoint_hides_the_hidden_document(indexed: bool) {
    let srv = TestServer::builder().config(declare(indexed)).start().await;
    let a = srv.user_token("owner-a").await;
    let b = srv.user_token("prober-b").await;
    let (status, _) = post(
        &srv,
        &a,
        "/api/db/diaries/docs",
        json!({"diary": secret_diary()}),
    )
    .await;
    assert_eq!(status, 201);
    // B's own document, so that B's rule selects something and the gate is exercised.
    let (status, _) = post(
        &srv,
        &b,
        "/api/db/diaries/docs",
        json!({"diary": "nothing here"}),
    )
    .await;
    assert_eq!(status, 201);

    let endpoints: [Endpoint; 4] = [
        ("count", |w| json!({"where": w}), "total"),
        ("query", |w| json!({"where": w, "limit": 10}), "data"),
        (
            "update",
            |w| json!({"where": w, "data": {"seen": true}}),
            "updated",
        ),
        ("remove", |w| json!({"where": w}), "deleted"),
    ];
    for (endpoint, body, field) in endpoints {
        let path = format!("/api/db/diaries/{endpoint}");
        let run = |digit: char| {
            let (srv, b, path, w) = (&srv, &b, &path, body(probe(digit)));
            async move {
                let (status, v) = post(srv, b, path, w).await;
                assert_eq!(status, 200, "{path}: {v}");
                let n = match &v[field] {
                    Value::Array(a) => a.len() as u64,
                    x => x.as_u64().unwrap(),
                };
                assert_eq!(n, 0, "{path}: B sees nothing of A's diary: {v}");
            }
        };
        run('7').await; // warm-up: statements prepared, regex compiled
        let miss = median(3, || run('8')).await;
        let hit = median(3, || run('7')).await;
        assert_no_gap(&format!("{endpoint} (indexes: {indexed})"), hit, miss);
    }

    // watch: the initial snapshot is queried under B's rule…
    let mut ws = Ws::connect(&srv, Some(&b)).await;
    watch_time(&mut ws, "warm", '7').await;
    let miss = watch_time(&mut ws, "m1", '8')
        .await
        .min(watch_time(&mut ws, "m2", '8').await);
    let hit = watch_time(&mut ws, "h1", '7')
        .await
        .min(watch_time(&mut ws, "h2", '7').await);
    assert_no_gap(&format!("watch init (indexes: {indexed})"), hit, miss);

    // …and changes to the hidden document are never matched against B's where (the watches
    // above, one group): B's own change reaches B at once even right after A rewrote the
    // diary three times.
    let mine = ws.watch("mine", "diaries", json!({"where": {}})).await;
    assert_eq!(mine["docs"].as_array().map(Vec::len), Some(1), "{mine}");
    for i in 0..3 {
        let (status, _) = post(
            &srv,
            &a,
            "/api/db/diaries/update",
            json!({"where": {}, "data": {"edits": i}}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let t = Instant::now();
    let (status, _) = post(
        &srv,
        &b,
        "/api/db/diaries/docs",
        json!({"diary": "PIN=7 is mine, without the letter after the text"}),
    )
    .await;
    assert_eq!(status, 201);
    let change = ws.next().await;
    assert_eq!(change["id"], "mine", "{change}");
    assert_eq!(change["docChanges"][0]["dataType"], "add", "{change}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "B's change was held up {:?} behind changes to A's hidden document",
        t.elapsed()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_documents_never_influence_a_query_without_indexes() {
    every_endpoint_hides_the_hidden_document(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_documents_never_influence_a_query_with_indexes() {
    every_endpoint_hides_the_hidden_document(true).await;
}
