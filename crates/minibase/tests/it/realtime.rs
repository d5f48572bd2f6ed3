//! Realtime over WebSocket (API.md §4), through the real server: init snapshots; add,
//! update, replace and remove from users, service callers and Minibase itself; `orderBy` +
//! `limit` windows entering, leaving and refilling; read rules on every event (owners never
//! see each other's documents, a document that becomes hidden leaves without its content);
//! a fresh init after reconnecting; malformed frames, unknown collections, bad tokens, limits,
//! idle and slow clients; and `minibase doctor`'s WebSocket check against `/api/realtime`.

#![allow(clippy::unwrap_used)]

use crate::util::expect_error;
use config::{CollectionConfig, Config, RuleSource};
use futures_util::{SinkExt, StreamExt};
use mb_core::Caller;
use serde_json::{Value, json};
use std::time::Duration;
use testkit::TestServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

fn rule(s: &str) -> Option<RuleSource> {
    Some(RuleSource::Expr(s.to_string()))
}

fn declare(c: &mut Config) {
    // Everyone reads; signed-in users write.
    c.collections.insert(
        "board".into(),
        CollectionConfig {
            read: Some(RuleSource::Bool(true)),
            write: rule("auth.openid != null"),
            ..Default::default()
        },
    );
    // Owners only.
    c.collections.insert(
        "todos".into(),
        CollectionConfig {
            read: rule("doc._openid == auth.openid"),
            write: rule("doc._openid == auth.openid"),
            ..Default::default()
        },
    );
    // Published posts for everyone, drafts for their author.
    c.collections.insert(
        "posts".into(),
        CollectionConfig {
            read: rule("doc.published == true || doc._openid == auth.openid"),
            write: rule("doc._openid == auth.openid"),
            ..Default::default()
        },
    );
}

async fn server() -> TestServer {
    TestServer::builder().config(declare).start().await
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking the realtime protocol.
pub(crate) struct Ws {
    s: Stream,
}

fn ws_url(srv: &TestServer, token: Option<&str>) -> String {
    let base = srv.url("/api/realtime").replacen("http://", "ws://", 1);
    match token {
        Some(t) => format!("{base}?access_token={t}"),
        None => base,
    }
}

impl Ws {
    /// Connects with `?access_token=` (or anonymously).
    pub(crate) async fn connect(srv: &TestServer, token: Option<&str>) -> Ws {
        let (s, res) = tokio_tungstenite::connect_async(ws_url(srv, token))
            .await
            .expect("WebSocket upgrade");
        assert_eq!(res.status().as_u16(), 101);
        Ws { s }
    }

    /// Connects with `Authorization: Bearer`.
    async fn connect_header(srv: &TestServer, token: &str) -> Ws {
        let mut req = ws_url(srv, None).into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (s, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("WebSocket upgrade");
        Ws { s }
    }

    async fn send(&mut self, v: Value) {
        self.s.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn send_raw(&mut self, m: Message) {
        self.s.send(m).await.unwrap();
    }

    /// The next JSON frame (control frames skipped); panics after 10 s.
    pub(crate) async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10s")
    }

    async fn next_within(&mut self, d: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let m = tokio::time::timeout_at(deadline, self.s.next())
                .await
                .ok()?;
            match m {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("JSON frame"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(c))) => panic!("closed by the server: {c:?}"),
                other => panic!("unexpected: {other:?}"),
            }
        }
    }

    /// Asserts no JSON frame arrives for a while.
    async fn silent(&mut self, ms: u64) {
        if let Some(v) = self.next_within(Duration::from_millis(ms)).await {
            panic!("expected no frame, got {v}");
        }
    }

    pub(crate) async fn watch(&mut self, id: &str, collection: &str, extra: Value) -> Value {
        let mut msg = json!({"type": "watch", "id": id, "collection": collection});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                msg[k] = v;
            }
        }
        self.send(msg).await;
        let snap = self.next().await;
        assert_eq!(snap["type"], "snapshot", "{snap}");
        assert_eq!(snap["id"], id);
        assert_eq!(snap["snapshotType"], "init", "{snap}");
        snap
    }

    /// The next frame, which must be an error for `id` with `code`.
    async fn error(&mut self, id: Option<&str>, code: &str) -> Value {
        let f = self.next().await;
        assert_eq!(f["type"], "error", "{f}");
        assert_eq!(f["error"]["code"], code, "{f}");
        assert!(
            f["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{f}"
        );
        match id {
            Some(id) => assert_eq!(f["id"], id, "{f}"),
            None => assert!(f.get("id").is_none(), "{f}"),
        }
        f
    }

    /// Reads until the server closes; returns the JSON frames seen on the way.
    async fn until_closed(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.s.next())
                .await
                .expect("closed within 20s")
            {
                Some(Ok(Message::Text(t))) => {
                    frames.push(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(Message::Close(c))) => return (frames, c.map(|c| u16::from(c.code))),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("until_closed: {e}");
                    return (frames, None);
                }
                None => return (frames, None),
            }
        }
    }
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap())
        .collect()
}

/// `(dataType, queueType, docId)` of each change.
fn changes(snap: &Value) -> Vec<(String, String, String)> {
    assert_eq!(snap["type"], "snapshot", "{snap}");
    assert!(
        snap.get("snapshotType").is_none(),
        "a change snapshot: {snap}"
    );
    snap["docChanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["dataType"].as_str().unwrap().to_string(),
                c["queueType"].as_str().unwrap().to_string(),
                c["docId"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ch(d: &str, q: &str, id: &str) -> (String, String, String) {
    (d.to_string(), q.to_string(), id.to_string())
}

async fn post(srv: &TestServer, token: &str, coll: &str, doc: Value) -> String {
    let res = srv
        .http()
        .post(srv.url(&format!("/api/db/{coll}/docs")))
        .bearer_auth(token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["_id"].as_str().unwrap().to_string()
}

async fn call(
    srv: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = srv
        .http()
        .request(method.clone(), srv.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert!(status < 300, "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_every_kind_of_change_from_every_caller() {
    let srv = server().await;
    let svc = srv.service_key().to_string();
    let a = srv.user_token("rt-a").await;
    let b = srv.user_token("rt-b").await;
    post(
        &srv,
        &svc,
        "board",
        json!({"_id": "n1", "text": "hello", "done": false}),
    )
    .await;
    post(
        &srv,
        &svc,
        "board",
        json!({"_id": "n0", "text": "first", "done": true}),
    )
    .await;

    let mut w = Ws::connect(&srv, Some(&a)).await;
    let init = w
        .watch("w1", "board", json!({"where": {"done": false}}))
        .await;
    assert_eq!(ids(&init["docs"]), ["n1"]);
    assert_eq!(
        init["docChanges"],
        json!([{"dataType": "init", "queueType": "init", "docId": "n1", "doc": init["docs"][0]}])
    );

    // Another user adds.
    let id = post(&srv, &b, "board", json!({"text": "from b", "done": false})).await;
    let s = w.next().await;
    assert_eq!(s["id"], "w1");
    assert_eq!(changes(&s), [ch("add", "enqueue", &id)]);
    assert_eq!(s["docChanges"][0]["doc"]["_openid"], "rt-b");
    let mut both = vec!["n1", id.as_str()];
    both.sort();
    assert_eq!(
        ids(&s["docs"]),
        both,
        "docs is the whole result after the change, in _id order"
    );

    // The service updates: updatedFields / removedFields.
    call(
        &srv,
        &svc,
        reqwest::Method::PATCH,
        "/api/db/board/docs/n1",
        Some(json!({"data": {"likes": {"$inc": 2}, "text": {"$remove": true}}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("update", "update", "n1")]);
    assert_eq!(s["docChanges"][0]["updatedFields"], json!({"likes": 2}));
    assert_eq!(s["docChanges"][0]["removedFields"], json!(["text"]));
    assert_eq!(
        s["docChanges"][0]["doc"],
        json!({"_id": "n1", "done": false, "likes": 2})
    );
    let n1 = s["docs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["_id"] == "n1")
        .unwrap();
    assert_eq!(*n1, s["docChanges"][0]["doc"]);

    // Minibase itself (a System write, as payments and timers do) replaces.
    srv.state()
        .db()
        .set(
            &Caller::System,
            "board",
            "n1",
            json!({"text": "replaced", "done": false}),
        )
        .await
        .unwrap();
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("replace", "update", "n1")]);
    assert_eq!(s["docChanges"][0]["doc"]["text"], "replaced");
    assert!(s["docChanges"][0].get("updatedFields").is_none());

    // A document that stops matching `where` (still readable) leaves with its new content.
    call(
        &srv,
        &b,
        reqwest::Method::PATCH,
        &format!("/api/db/board/docs/{id}"),
        Some(json!({"data": {"done": true}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("update", "dequeue", &id)]);
    assert_eq!(s["docChanges"][0]["doc"]["done"], true);
    assert_eq!(ids(&s["docs"]), ["n1"]);

    // Writes outside the watch say nothing.
    post(
        &srv,
        &b,
        "board",
        json!({"text": "done already", "done": true}),
    )
    .await;
    w.silent(300).await;

    // Removal, by the service.
    call(
        &srv,
        &svc,
        reqwest::Method::DELETE,
        "/api/db/board/docs/n1",
        None,
    )
    .await;
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("remove", "dequeue", "n1")]);
    assert_eq!(s["docs"], json!([]));

    // A document created by the service with PUT (set of a new id) is an add.
    call(
        &srv,
        &svc,
        reqwest::Method::PUT,
        "/api/db/board/docs/n9",
        Some(json!({"done": false})),
    )
    .await;
    assert_eq!(changes(&w.next().await), [ch("add", "enqueue", "n9")]);

    // unwatch: nothing more for w1; ping/pong still works.
    w.send(json!({"type": "unwatch", "id": "w1"})).await;
    w.send(json!({"type": "ping"})).await;
    assert_eq!(w.next().await, json!({"type": "pong"}));
    call(
        &srv,
        &svc,
        reqwest::Method::DELETE,
        "/api/db/board/docs/n9",
        None,
    )
    .await;
    w.silent(300).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_by_limit_windows_enter_leave_and_refill() {
    let srv = server().await;
    let svc = srv.service_key().to_string();
    for (id, score) in [("s5", 5), ("s3", 3), ("s1", 1)] {
        post(&srv, &svc, "board", json!({"_id": id, "score": score})).await;
    }
    let mut w = Ws::connect_header(&srv, &svc).await;
    let init = w
        .watch(
            "top",
            "board",
            json!({"orderBy": [["score", "desc"]], "limit": 2}),
        )
        .await;
    assert_eq!(ids(&init["docs"]), ["s5", "s3"]);

    // A better one enters and pushes the last one out.
    post(&srv, &svc, "board", json!({"_id": "s10", "score": 10})).await;
    let s = w.next().await;
    assert_eq!(
        changes(&s),
        [ch("add", "enqueue", "s10"), ch("limit", "dequeue", "s3")]
    );
    assert_eq!(ids(&s["docs"]), ["s10", "s5"]);

    // A worse one does not show up.
    post(&srv, &svc, "board", json!({"_id": "s0", "score": 0})).await;
    w.silent(300).await;

    // Leaving a full window: refilled from the database, in one snapshot.
    call(
        &srv,
        &svc,
        reqwest::Method::DELETE,
        "/api/db/board/docs/s10",
        None,
    )
    .await;
    let s = w.next().await;
    assert_eq!(
        changes(&s),
        [ch("remove", "dequeue", "s10"), ch("limit", "enqueue", "s3")]
    );
    assert_eq!(ids(&s["docs"]), ["s5", "s3"]);

    // An update that moves a document in.
    call(
        &srv,
        &svc,
        reqwest::Method::PATCH,
        "/api/db/board/docs/s1",
        Some(json!({"data": {"score": 7}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(
        changes(&s),
        [ch("update", "enqueue", "s1"), ch("limit", "dequeue", "s3")]
    );
    assert_eq!(s["docChanges"][0]["updatedFields"], json!({"score": 7}));
    assert_eq!(ids(&s["docs"]), ["s1", "s5"]);

    // Moving inside the window is a queueType update, with the new order in docs.
    call(
        &srv,
        &svc,
        reqwest::Method::PATCH,
        "/api/db/board/docs/s5",
        Some(json!({"data": {"score": 8}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("update", "update", "s5")]);
    assert_eq!(ids(&s["docs"]), ["s5", "s1"]);

    // An update that moves a document out: the next one comes back in.
    call(
        &srv,
        &svc,
        reqwest::Method::PATCH,
        "/api/db/board/docs/s1",
        Some(json!({"data": {"score": -1}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(
        changes(&s),
        [ch("update", "dequeue", "s1"), ch("limit", "enqueue", "s3")]
    );
    assert_eq!(s["docChanges"][0]["doc"]["score"], -1);
    assert_eq!(ids(&s["docs"]), ["s5", "s3"]);

    // Many concurrent writes: every snapshot's docs is exactly the query's answer at the end.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (http, url, svc) = (
            srv.http().clone(),
            srv.url("/api/db/board/docs"),
            svc.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(svc)
                .json(&json!({"score": (i * 7) % 13}))
                .send()
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected = call(
        &srv,
        &svc,
        reqwest::Method::POST,
        "/api/db/board/query",
        Some(json!({"orderBy": [["score", "desc"]], "limit": 2})),
    )
    .await;
    let mut last = Value::Null;
    while let Some(s) = w.next_within(Duration::from_millis(700)).await {
        last = s;
    }
    assert_eq!(
        last["docs"], expected["data"],
        "the window ends where the database is"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_never_see_each_others_documents() {
    let srv = server().await;
    let svc = srv.service_key().to_string();
    let a = srv.user_token("owner-a").await;
    let b = srv.user_token("owner-b").await;
    post(&srv, &a, "todos", json!({"_id": "ta", "t": "a's"})).await;
    post(&srv, &b, "todos", json!({"_id": "tb", "t": "b's"})).await;

    let mut wa = Ws::connect(&srv, Some(&a)).await;
    let mut wb = Ws::connect(&srv, Some(&b)).await;
    // The same query for both: each sees only their own.
    let ia = wa.watch("mine", "todos", json!({})).await;
    let ib = wb.watch("mine", "todos", json!({})).await;
    assert_eq!(ids(&ia["docs"]), ["ta"]);
    assert_eq!(ids(&ib["docs"]), ["tb"]);
    // Even a where naming the other's openid shows nothing of theirs.
    let spy = wa
        .watch("spy", "todos", json!({"where": {"_openid": "owner-b"}}))
        .await;
    assert_eq!(spy["docs"], json!([]));

    post(&srv, &b, "todos", json!({"_id": "tb2", "t": "b again"})).await;
    assert_eq!(changes(&wb.next().await), [ch("add", "enqueue", "tb2")]);
    wa.silent(400).await;

    // The service hands b's document to a: it leaves b's watch without content, and enters a's.
    call(
        &srv,
        &svc,
        reqwest::Method::PUT,
        "/api/db/todos/docs/tb2",
        Some(json!({"_openid": "owner-a", "t": "now a's", "secret": 42})),
    )
    .await;
    let sb = wb.next().await;
    assert_eq!(changes(&sb), [ch("remove", "dequeue", "tb2")]);
    assert!(
        sb["docChanges"][0].get("doc").is_none(),
        "no content for a document b may no longer read: {sb}"
    );
    assert!(!sb.to_string().contains("secret"));
    assert_eq!(ids(&sb["docs"]), ["tb"]);
    let sa = wa.next().await;
    assert_eq!(changes(&sa), [ch("replace", "enqueue", "tb2")]);
    assert_eq!(ids(&sa["docs"]), ["ta", "tb2"]);
    wa.silent(300).await; // the spy watch (where _openid == owner-b) saw nothing
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_updated_to_become_hidden_leaves_without_content() {
    let srv = server().await;
    let a = srv.user_token("reader").await;
    let author = srv.user_token("author").await;
    post(
        &srv,
        &author,
        "posts",
        json!({"_id": "p1", "title": "hi", "published": true}),
    )
    .await;
    post(
        &srv,
        &author,
        "posts",
        json!({"_id": "p2", "title": "draft", "published": false}),
    )
    .await;

    let mut anon = Ws::connect(&srv, None).await;
    let mut w = Ws::connect(&srv, Some(&a)).await;
    assert_eq!(
        ids(&w
            .watch("feed", "posts", json!({"orderBy": [["title", "asc"]]}))
            .await["docs"]),
        ["p1"]
    );
    assert_eq!(
        ids(&anon.watch("feed", "posts", json!({})).await["docs"]),
        ["p1"],
        "anonymous callers read published posts"
    );

    call(
        &srv,
        &author,
        reqwest::Method::PATCH,
        "/api/db/posts/docs/p1",
        Some(json!({"data": {"published": false, "title": "secret draft"}})),
    )
    .await;
    for ws in [&mut w, &mut anon] {
        let s = ws.next().await;
        assert_eq!(changes(&s), [ch("remove", "dequeue", "p1")]);
        let c = &s["docChanges"][0];
        assert!(
            c.get("doc").is_none()
                && c.get("updatedFields").is_none()
                && c.get("removedFields").is_none(),
            "{s}"
        );
        assert!(!s.to_string().contains("secret draft"), "{s}");
        assert_eq!(s["docs"], json!([]));
    }
    // Publishing the draft makes it enter.
    call(
        &srv,
        &author,
        reqwest::Method::PATCH,
        "/api/db/posts/docs/p2",
        Some(json!({"data": {"published": true}})),
    )
    .await;
    let s = w.next().await;
    assert_eq!(changes(&s), [ch("update", "enqueue", "p2")]);
    assert_eq!(s["docChanges"][0]["doc"]["title"], "draft");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payers_watch_their_orders_written_by_minibase() {
    let srv = server().await;
    let a = srv.user_token("payer-a").await;
    let b = srv.user_token("payer-b").await;
    let mut wa = Ws::connect(&srv, Some(&a)).await;
    let mut wb = Ws::connect(&srv, Some(&b)).await;
    wa.watch(
        "orders",
        "_pay_orders",
        json!({"where": {"state": "SUCCESS"}}),
    )
    .await;
    wb.watch("orders", "_pay_orders", json!({})).await;
    let db = srv.state().db();
    db.create(
        &Caller::System,
        "_pay_orders",
        json!({"_id": "o1", "openid": "payer-a", "state": "NOTPAY", "amount": {"total": 1}}),
    )
    .await
    .unwrap();
    // a's watch is only for paid orders; b may not read a's orders.
    db.update_where(
        &Caller::System,
        "_pay_orders",
        &json!({"_id": "o1", "state": "NOTPAY"}),
        &json!({"state": "SUCCESS"}),
    )
    .await
    .unwrap();
    let s = wa.next().await;
    assert_eq!(changes(&s), [ch("update", "enqueue", "o1")]);
    assert_eq!(
        s["docChanges"][0]["updatedFields"],
        json!({"state": "SUCCESS"})
    );
    wb.silent(400).await;
    // Internal collections are never watchable, even by the service.
    let mut svc = Ws::connect(&srv, Some(srv.service_key())).await;
    svc.send(json!({"type": "watch", "id": "s", "collection": "_sessions"}))
        .await;
    svc.error(Some("s"), "PERMISSION_DENIED").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_gets_a_fresh_init_snapshot() {
    let srv = server().await;
    let a = srv.user_token("again").await;
    post(&srv, &a, "todos", json!({"_id": "r1", "n": 1})).await;
    let mut w = Ws::connect(&srv, Some(&a)).await;
    assert_eq!(ids(&w.watch("w", "todos", json!({})).await["docs"]), ["r1"]);
    w.s.close(None).await.unwrap();
    drop(w);

    // Changes while away.
    post(&srv, &a, "todos", json!({"_id": "r2", "n": 2})).await;
    call(
        &srv,
        &a,
        reqwest::Method::DELETE,
        "/api/db/todos/docs/r1",
        None,
    )
    .await;

    let mut w = Ws::connect(&srv, Some(&a)).await;
    let init = w.watch("w", "todos", json!({})).await;
    assert_eq!(ids(&init["docs"]), ["r2"]);
    assert_eq!(init["docChanges"][0]["dataType"], "init");
    // And it is live again.
    post(&srv, &a, "todos", json!({"_id": "r3"})).await;
    assert_eq!(changes(&w.next().await), [ch("add", "enqueue", "r3")]);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_bad_watches_get_error_frames() {
    let srv = server().await;
    let a = srv.user_token("bad").await;
    let mut w = Ws::connect(&srv, Some(&a)).await;
    w.send_raw(Message::text("{not json")).await;
    w.error(None, "INVALID_ARGUMENT").await;
    w.send_raw(Message::text("[1,2]")).await;
    w.error(None, "INVALID_ARGUMENT").await;
    w.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    w.error(None, "INVALID_ARGUMENT").await;
    w.send(json!({"type": "subscribe", "id": "x"})).await;
    w.error(Some("x"), "INVALID_ARGUMENT").await;
    w.send(json!({"type": "watch", "collection": "todos"}))
        .await;
    w.error(None, "INVALID_ARGUMENT").await;
    w.send(json!({"type": "watch", "id": "w1"})).await;
    w.error(Some("w1"), "INVALID_ARGUMENT").await;
    for (id, extra, code) in [
        (
            "nope",
            json!({"collection": "not_declared"}),
            "PERMISSION_DENIED",
        ),
        ("bad-name", json!({"collection": "a b"}), "INVALID_ARGUMENT"),
        (
            "internal",
            json!({"collection": "_sessions"}),
            "PERMISSION_DENIED",
        ),
        (
            "op",
            json!({"collection": "todos", "where": {"a": {"$bogus": 1}}}),
            "INVALID_ARGUMENT",
        ),
        (
            "where-type",
            json!({"collection": "todos", "where": [1]}),
            "INVALID_ARGUMENT",
        ),
        (
            "order",
            json!({"collection": "todos", "orderBy": [["a", "sideways"]]}),
            "INVALID_ARGUMENT",
        ),
        (
            "limit0",
            json!({"collection": "todos", "limit": 0}),
            "INVALID_ARGUMENT",
        ),
        (
            "limit-big",
            json!({"collection": "todos", "limit": 5001}),
            "INVALID_ARGUMENT",
        ),
        (
            "limit-type",
            json!({"collection": "todos", "limit": "10"}),
            "INVALID_ARGUMENT",
        ),
        (
            "extra",
            json!({"collection": "todos", "skip": 3}),
            "INVALID_ARGUMENT",
        ),
    ] {
        let mut msg = json!({"type": "watch", "id": id});
        for (k, v) in extra.as_object().unwrap() {
            msg[k] = v.clone();
        }
        w.send(msg).await;
        w.error(Some(id), code).await;
    }
    // The same id twice; unwatching what does not exist.
    w.watch("dup", "todos", json!({})).await;
    w.send(json!({"type": "watch", "id": "dup", "collection": "todos"}))
        .await;
    w.error(Some("dup"), "INVALID_ARGUMENT").await;
    w.send(json!({"type": "unwatch", "id": "ghost"})).await;
    w.error(Some("ghost"), "NOT_FOUND").await;
    // The connection is still fine.
    w.send(json!({"type": "ping"})).await;
    assert_eq!(w.next().await, json!({"type": "pong"}));

    // Anonymous callers: only where a rule lets them read.
    let mut anon = Ws::connect(&srv, None).await;
    anon.send(json!({"type": "watch", "id": "t", "collection": "todos"}))
        .await;
    anon.error(Some("t"), "PERMISSION_DENIED").await;
    anon.watch("b", "board", json!({})).await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let srv = server().await;
    for token in ["garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        match tokio_tungstenite::connect_async(ws_url(&srv, Some(token))).await {
            Err(WsError::Http(res)) => {
                assert_eq!(res.status().as_u16(), 401);
                let body: Value =
                    serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{body}");
            }
            other => panic!("expected 401, got {:?}", other.map(|(_, r)| r.status())),
        }
    }
    let mut req = ws_url(&srv, None).into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert!(
        matches!(tokio_tungstenite::connect_async(req).await, Err(WsError::Http(r)) if r.status() == 401)
    );
    // A plain GET is not a WebSocket: a clear 4xx in the envelope.
    let res = srv
        .http()
        .get(srv.url("/api/realtime"))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 400, "INVALID_ARGUMENT").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket"),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_watches_and_connections() {
    let srv = TestServer::builder()
        .config(|c| {
            declare(c);
            c.realtime.max_watches_per_connection = 2;
            c.realtime.max_connections_per_user = 1;
            c.realtime.max_docs_per_watch = 3;
        })
        .start()
        .await;
    let svc = srv.service_key().to_string();
    let a = srv.user_token("limited").await;
    let mut w = Ws::connect(&srv, Some(&a)).await;
    w.watch("1", "board", json!({})).await;
    w.watch("2", "board", json!({"where": {"x": 1}})).await;
    w.send(json!({"type": "watch", "id": "3", "collection": "board"}))
        .await;
    w.error(Some("3"), "RATE_LIMITED").await;
    // One connection per user here: the second upgrade is refused with 429.
    match tokio_tungstenite::connect_async(ws_url(&srv, Some(&a))).await {
        Err(WsError::Http(res)) => assert_eq!(res.status().as_u16(), 429),
        other => panic!("expected 429, got {:?}", other.map(|(_, r)| r.status())),
    }
    // A watch without limit may hold max_docs_per_watch documents; past that it ends.
    for i in 0..3 {
        post(&srv, &svc, "board", json!({"i": i})).await;
        assert_eq!(changes(&w.next().await).len(), 1);
    }
    post(&srv, &svc, "board", json!({"i": 3})).await;
    let e = w.error(Some("1"), "PAYLOAD_TOO_LARGE").await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 3"),
        "{e}"
    );
    // The watch is gone (its id is free again) and a limited watch is fine.
    let init = w
        .watch(
            "1",
            "board",
            json!({"limit": 2, "orderBy": [["i", "desc"]]}),
        )
        .await;
    assert_eq!(init["docs"].as_array().unwrap().len(), 2);
    // Closing frees the connection slot.
    w.s.close(None).await.unwrap();
    drop(w);
    let mut ok = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(ws_url(&srv, Some(&a)))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the slot is given back when a connection closes");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumers_are_disconnected_with_an_error_frame() {
    let srv = TestServer::builder()
        .config(|c| {
            declare(c);
            c.realtime.send_buffer = 4;
        })
        .start()
        .await;
    let svc = srv.service_key().to_string();
    let mut w = Ws::connect(&srv, Some(&svc)).await;
    w.watch("all", "board", json!({})).await;
    // Stop reading while large documents pour in: every snapshot carries them all.
    let big = "x".repeat(100_000);
    for i in 0..40 {
        post(&srv, &svc, "board", json!({"i": i, "big": big})).await;
    }
    let (frames, close) = w.until_closed().await;
    let last = frames.last().expect("frames");
    assert_eq!(last["type"], "error", "the last frame explains: {last}");
    assert_eq!(last["error"]["code"], "UNAVAILABLE");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too slowly"),
        "{last}"
    );
    assert!(
        frames.len() < 41,
        "disconnected before everything was queued ({} frames)",
        frames.len()
    );
    assert_eq!(close, Some(1008));
    assert_eq!(
        srv.state()
            .realtime()
            .stats()
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_idle_out_and_live_ones_stay() {
    let srv = TestServer::builder()
        .config(|c| {
            declare(c);
            c.realtime.idle_timeout = config::HumanDuration::parse("1s").unwrap();
        })
        .start()
        .await;
    // A client that keeps reading answers the server's pings and stays.
    let mut live = Ws::connect(&srv, None).await;
    live.watch("b", "board", json!({})).await;
    live.silent(2500).await;
    live.send(json!({"type": "ping"})).await;
    assert_eq!(live.next().await, json!({"type": "pong"}));
    // A client that reads nothing (a dead peer) is closed, with an error frame first.
    let mut dead = Ws::connect(&srv, None).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (frames, close) = dead.until_closed().await;
    assert_eq!(
        frames.last().unwrap()["error"]["code"],
        "DEADLINE_EXCEEDED",
        "{frames:?}"
    );
    assert_eq!(close, Some(1001));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_end_when_the_token_expires() {
    let srv = TestServer::builder()
        .config(|c| {
            declare(c);
            c.auth.access_ttl = config::HumanDuration::parse("2s").unwrap();
            c.realtime.idle_timeout = config::HumanDuration::parse("1500ms").unwrap();
        })
        .start()
        .await;
    let a = srv.user_token("short-lived").await;
    let mut w = Ws::connect(&srv, Some(&a)).await;
    w.watch("t", "todos", json!({})).await;
    let (frames, close) = w.until_closed().await;
    let last = frames.last().expect("an error frame");
    assert_eq!(last["error"]["code"], "UNAUTHENTICATED", "{last}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reconnect"),
        "{last}"
    );
    assert_eq!(close, Some(1008));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_sees_the_websocket_upgrade_at_api_realtime() {
    use testkit::pki::{KeyKind, Pki};
    const HOST: &str = "api.realtime.test";
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Ecdsa).write(dir.path(), "api");
    let srv = TestServer::builder()
        .config(|c| {
            declare(c);
            c.auth.dev_login = false;
            c.tls.mode = config::TlsMode::Files;
            c.tls.cert_file = files.bundle.clone();
            c.tls.key_file = files.key.clone();
            c.server.domains = vec![HOST.into()];
        })
        .start()
        .await;
    let port = srv.https_addr().unwrap().port();
    let mut o = edge::doctor::DoctorOptions::new(format!("https://{HOST}:{port}/api/health"));
    o.resolve = Some("127.0.0.1".parse().unwrap());
    o.ca_file = Some(pki.root_pem.clone());
    o.timeout = Duration::from_secs(5);
    let report = edge::doctor::run(&o).await;
    let ws = report.check("websocket").expect("a websocket check");
    assert_eq!(ws.status, edge::doctor::Status::Pass, "{}", report.render());
    assert!(ws.message.contains("works"), "{}", report.render());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_with_going_away() {
    let srv = server().await;
    let mut w = Ws::connect(&srv, None).await;
    w.watch("b", "board", json!({})).await;
    let rt = srv.state().realtime().clone();
    rt.shutdown().await;
    let (frames, close) = w.until_closed().await;
    assert_eq!(
        frames.last().unwrap()["error"]["code"],
        "UNAVAILABLE",
        "{frames:?}"
    );
    assert_eq!(close, Some(1001));
    assert!(
        rt.closed(Duration::from_secs(5)).await,
        "every connection ended"
    );
    match tokio_tungstenite::connect_async(ws_url(&srv, None)).await {
        Err(WsError::Http(res)) => assert_eq!(res.status().as_u16(), 503),
        other => panic!("expected 503, got {:?}", other.map(|(_, r)| r.status())),
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_bus_still_ends_right() {
    let srv = server().await;
    let db = srv.state().db().clone();
    let mut w = Ws::connect(&srv, Some(srv.service_key())).await;
    let init = w
        .watch(
            "bulk",
            "board",
            json!({"where": {"bulk": true}, "orderBy": [["i", "asc"]], "limit": 3}),
        )
        .await;
    assert_eq!(init["docs"], json!([]));
    // 9,000 documents, then one update of all of them: 9,000 events in one commit, more than
    // the in-process bus keeps (8,192), so realtime may fall behind and start the watch afresh.
    let mut tasks = Vec::new();
    for chunk in 0..9 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in chunk * 1000..(chunk + 1) * 1000 {
                db.create(&Caller::System, "board", json!({"i": i, "bulk": false}))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = db
        .update_where(
            &Caller::System,
            "board",
            &json!({"bulk": false}),
            &json!({"bulk": true}),
        )
        .await
        .unwrap();
    assert_eq!(n, 9000);
    let mut last = Value::Null;
    while let Some(s) = w.next_within(Duration::from_millis(1500)).await {
        last = s;
    }
    let is: Vec<i64> = last["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [0, 1, 2], "{}", last["docChanges"]);
    let lagged = srv
        .state()
        .realtime()
        .stats()
        .lagged
        .load(std::sync::atomic::Ordering::Relaxed);
    if lagged > 0 {
        assert_eq!(
            last["snapshotType"], "init",
            "after a lag the watch starts afresh"
        );
    }
    srv.stop().await;
}
