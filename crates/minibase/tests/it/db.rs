//! Documents over HTTP (API.md §3): every endpoint's shapes, clear 400s for malformed input,
//! limits, rule isolation between users through every endpoint, system and internal
//! collections, unique indexes, the differential test against mingo through the API, and
//! durability of acknowledged writes across `kill -9`.

use crate::db_differential::{Engine, differential};
use crate::util::expect_error;
use config::{CollectionConfig, Config, IndexConfig, RuleSource};
use mb_core::Caller;
use serde_json::{Value, json};
use testkit::TestServer;

fn rule(s: &str) -> Option<RuleSource> {
    Some(RuleSource::Expr(s.to_string()))
}

fn declare(c: &mut Config) {
    c.collections.insert(
        "todos".into(),
        CollectionConfig {
            read: rule("doc._openid == auth.openid"),
            write: rule("doc._openid == auth.openid"),
            indexes: vec![
                IndexConfig {
                    fields: vec!["_openid".into(), "-due".into()],
                    unique: false,
                },
                IndexConfig {
                    fields: vec!["code".into()],
                    unique: true,
                },
            ],
            ..Default::default()
        },
    );
    c.collections.insert(
        "posts".into(),
        CollectionConfig {
            read: rule("doc.published == true || doc._openid == auth.openid"),
            create: rule("request.data.title != null"),
            update: rule("doc._openid == auth.openid"),
            delete: Some(RuleSource::Bool(false)),
            ..Default::default()
        },
    );
}

async fn server() -> TestServer {
    TestServer::builder().config(declare).start().await
}

struct Client<'a> {
    srv: &'a TestServer,
    token: String,
}

impl<'a> Client<'a> {
    async fn user(srv: &'a TestServer, openid: &str) -> Client<'a> {
        Client {
            srv,
            token: srv.user_token(openid).await,
        }
    }
    fn service(srv: &'a TestServer) -> Client<'a> {
        Client {
            srv,
            token: srv.service_key().to_string(),
        }
    }
    fn anonymous(srv: &'a TestServer) -> Client<'a> {
        Client {
            srv,
            token: String::new(),
        }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.srv.http().request(method, self.srv.url(path));
        if self.token.is_empty() {
            r
        } else {
            r.bearer_auth(&self.token)
        }
    }
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let r = self.req(method, path);
        let r = match body {
            Some(b) => r.json(&b),
            None => r,
        };
        r.send().await.unwrap()
    }
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let res = self.send(method.clone(), path, body).await;
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.ok(reqwest::Method::POST, path, Some(body), 200).await
    }
    async fn create(&self, coll: &str, doc: Value) -> String {
        let v = self
            .ok(
                reqwest::Method::POST,
                &format!("/api/db/{coll}/docs"),
                Some(doc),
                201,
            )
            .await;
        v["_id"].as_str().unwrap().to_string()
    }
    async fn query(&self, coll: &str, q: Value) -> Vec<Value> {
        self.post(&format!("/api/db/{coll}/query"), q).await["data"]
            .as_array()
            .unwrap()
            .clone()
    }
    async fn count(&self, coll: &str, w: Value) -> u64 {
        self.post(&format!("/api/db/{coll}/count"), json!({"where": w}))
            .await["total"]
            .as_u64()
            .unwrap()
    }
}

use reqwest::Method;

#[tokio::test]
async fn every_endpoint_round_trips() {
    let srv = server().await;
    let svc = Client::service(&srv);
    let id = svc
        .create(
            "notes",
            json!({"title": "a", "n": 1, "tags": ["x"], "when": {"$date": 5}}),
        )
        .await;
    assert_eq!(id.len(), 32);
    let got = svc
        .ok(Method::GET, &format!("/api/db/notes/docs/{id}"), None, 200)
        .await;
    assert_eq!(
        got,
        json!({"data": {"_id": id, "title": "a", "n": 1, "tags": ["x"], "when": {"$date": 5}}})
    );
    let put = svc
        .ok(
            Method::PUT,
            "/api/db/notes/docs/fixed",
            Some(json!({"title": "b", "n": 2})),
            200,
        )
        .await;
    assert_eq!(put, json!({"_id": "fixed", "created": true}));
    let put = svc
        .ok(
            Method::PUT,
            "/api/db/notes/docs/fixed",
            Some(json!({"title": "c", "n": 3})),
            200,
        )
        .await;
    assert_eq!(put, json!({"_id": "fixed", "created": false}));
    let upd = svc
        .ok(
            Method::PATCH,
            &format!("/api/db/notes/docs/{id}"),
            Some(json!({"data": {"n": {"$inc": 5}, "at": {"$serverDate": {}}}})),
            200,
        )
        .await;
    assert_eq!(upd, json!({"updated": 1}));
    let upd = svc
        .ok(
            Method::PATCH,
            "/api/db/notes/docs/missing",
            Some(json!({"data": {"n": 1}})),
            200,
        )
        .await;
    assert_eq!(upd, json!({"updated": 0}));
    let doc = svc
        .ok(Method::GET, &format!("/api/db/notes/docs/{id}"), None, 200)
        .await;
    assert_eq!(doc["data"]["n"], 6);
    assert!(doc["data"]["at"]["$date"].as_i64().unwrap() > 1_600_000_000_000);
    let q = svc
        .query(
            "notes",
            json!({"where": {"n": {"$gt": 2}}, "orderBy": [["n", "desc"]], "field": {"n": true}}),
        )
        .await;
    assert_eq!(
        q,
        vec![json!({"_id": id, "n": 6}), json!({"_id": "fixed", "n": 3})]
    );
    assert_eq!(svc.count("notes", json!({"tags": "x"})).await, 1);
    assert_eq!(
        svc.post(
            "/api/db/notes/update",
            json!({"where": {"n": {"$lt": 100}}, "data": {"seen": true}})
        )
        .await,
        json!({"updated": 2})
    );
    assert_eq!(
        svc.post("/api/db/notes/remove", json!({"where": {"_id": "fixed"}}))
            .await,
        json!({"deleted": 1})
    );
    let del = svc
        .ok(
            Method::DELETE,
            &format!("/api/db/notes/docs/{id}"),
            None,
            200,
        )
        .await;
    assert_eq!(del, json!({"deleted": 1}));
    let del = svc
        .ok(
            Method::DELETE,
            &format!("/api/db/notes/docs/{id}"),
            None,
            200,
        )
        .await;
    assert_eq!(del, json!({"deleted": 0}));
    expect_error(
        svc.send(Method::GET, &format!("/api/db/notes/docs/{id}"), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    // A duplicate _id is a conflict.
    svc.create("notes", json!({"_id": "dup"})).await;
    expect_error(
        svc.send(
            Method::POST,
            "/api/db/notes/docs",
            Some(json!({"_id": "dup"})),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
}

#[tokio::test]
async fn malformed_input_gets_clear_400s_and_changes_nothing() {
    let srv = server().await;
    let svc = Client::service(&srv);
    svc.create("c", json!({"_id": "keep", "n": 1})).await;
    let bad: Vec<(Method, &str, Value, u16, &str)> = vec![
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"n": {"$where": "1"}}}),
            400,
            "unknown query operator",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"$where": "1"}}),
            400,
            "unknown query operator",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"a..b": 1}}),
            400,
            "bad field path",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"n": {"$in": 5}}}),
            400,
            "$in takes an array",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"n": {"$regex": "("}}}),
            400,
            "$regex",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"n": {"$gt": 1, "m": 2}}}),
            400,
            "mixes operators",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": {"n": {"$serverDate": {}}}}),
            400,
            "only allowed in writes",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"where": [1]}),
            400,
            "where must be an object",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"limit": "x"}),
            400,
            "limit",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"limit": 1001}),
            400,
            "limit must be at most 1000",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"skip": -1}),
            400,
            "skip",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"skip": 1_000_001}),
            400,
            "skip must be at most",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"orderBy": [["n", "up"]]}),
            400,
            "direction",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"orderBy": "n"}),
            400,
            "orderBy",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"field": {"a": true, "b": false}}),
            400,
            "cannot mix",
        ),
        (
            Method::POST,
            "/api/db/c/query",
            json!({"wher": {}}),
            400,
            "wher",
        ),
        (
            Method::POST,
            "/api/db/c/count",
            json!({"where": {"n": {"$size": -1}}}),
            400,
            "$size",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!([1, 2]),
            400,
            "must be a JSON object",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!({"$set": 1}),
            400,
            "may not start with '$'",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!({"a": {"b.c": 1}}),
            400,
            "may not contain '.'",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!({"_id": 5}),
            400,
            "_id must be a string",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!({"_id": "a/b"}),
            400,
            "_id may contain only",
        ),
        (
            Method::POST,
            "/api/db/c/docs",
            json!({"t": {"$date": "yesterday"}}),
            400,
            "$date",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"n": 2}),
            400,
            "data",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"data": {"n": {"$inc": "1"}}}),
            400,
            "$inc takes a number",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"data": {"n": {"$frobnicate": 1}}}),
            400,
            "unknown update operator",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"data": {"_id": "x"}}),
            400,
            "cannot be updated",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"data": {"n": 1, "n.x": 2}}),
            400,
            "conflict",
        ),
        (
            Method::PATCH,
            "/api/db/c/docs/keep",
            json!({"data": {"n.x": 2}}),
            400,
            "cannot create a field inside a number",
        ),
        (
            Method::POST,
            "/api/db/c/update",
            json!({"where": {}, "data": {"$set": {"n": 1}}}),
            400,
            "unexpected operator $set",
        ),
        (
            Method::POST,
            "/api/db/c/update",
            json!({"where": {}}),
            400,
            "data",
        ),
        (
            Method::PUT,
            "/api/db/c/docs/keep",
            json!({"_id": "other"}),
            400,
            "differs",
        ),
        (
            Method::POST,
            "/api/db/bad%20name/docs",
            json!({}),
            400,
            "invalid collection name",
        ),
    ];
    for (method, path, body, status, needle) in bad {
        let res = svc.send(method.clone(), path, Some(body.clone())).await;
        let env = expect_error(
            res,
            status,
            if status == 400 {
                "INVALID_ARGUMENT"
            } else {
                "PAYLOAD_TOO_LARGE"
            },
        )
        .await;
        let msg = env["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{method} {path} {body}: {msg:?} should mention {needle:?}"
        );
    }
    // Malformed JSON and bodies over the limits.
    let res = svc
        .req(Method::POST, "/api/db/c/docs")
        .header("content-type", "application/json")
        .body("{\"a\":")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let big = "x".repeat(300 * 1024);
    expect_error(
        svc.send(Method::POST, "/api/db/c/docs", Some(json!({"big": big})))
            .await,
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!({"d": deep});
    }
    expect_error(
        svc.send(Method::POST, "/api/db/c/docs", Some(deep.clone()))
            .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        svc.send(
            Method::POST,
            "/api/db/c/query",
            Some(json!({"where": deep})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    // Nothing changed.
    assert_eq!(
        svc.query("c", json!({})).await,
        vec![json!({"_id": "keep", "n": 1})]
    );
}

/// Alice and Bob each own documents of the owner-only collection `todos`; whatever Bob sends,
/// through any endpoint, he never reads, counts, changes or deletes Alice's.
#[tokio::test]
async fn users_are_isolated_through_every_endpoint() {
    let srv = server().await;
    let alice = Client::user(&srv, "alice").await;
    let bob = Client::user(&srv, "bob").await;
    let anon = Client::anonymous(&srv);
    let svc = Client::service(&srv);
    let mut alice_ids = Vec::new();
    for i in 0..5 {
        alice_ids.push(alice.create("todos", json!({"title": format!("a{i}"), "due": i, "secret": "alice's", "code": format!("a{i}")})).await);
    }
    let bob_id = bob
        .create("todos", json!({"title": "b0", "due": 1, "code": "b0"}))
        .await;
    let snapshot = svc
        .query("todos", json!({"orderBy": [["_id", "asc"]]}))
        .await;
    assert_eq!(snapshot.len(), 6);
    let a0 = &alice_ids[0];

    // Reads: by id, queries of every shape, projections, counts.
    expect_error(
        bob.send(Method::GET, &format!("/api/db/todos/docs/{a0}"), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    let hostile_wheres = [
        json!({}),
        json!({"_openid": "alice"}),
        json!({"_id": a0}),
        json!({"_id": {"$in": alice_ids}}),
        json!({"$or": [{"_openid": "alice"}, {"_openid": "bob"}]}),
        json!({"$or": [{"_openid": {"$exists": true}}, {"title": {"$exists": true}}]}),
        json!({"$nor": [{"_openid": "bob"}]}),
        json!({"_openid": {"$neq": "bob"}}),
        json!({"_openid": {"$not": {"$eq": "bob"}}}),
        json!({"secret": "alice's"}),
        json!({"title": {"$regex": "^a"}}),
    ];
    for w in &hostile_wheres {
        for field in [
            Value::Null,
            json!({"_openid": false}),
            json!({"title": true}),
            json!({"secret": true, "_id": false}),
        ] {
            let docs = bob
                .query("todos", json!({"where": w, "field": field, "limit": 1000}))
                .await;
            assert!(
                docs.iter().all(|d| d.get("secret").is_none()
                    && d.get("_id").is_none_or(|id| id == &json!(bob_id))),
                "{w}: {docs:?}"
            );
            assert!(docs.len() <= 1, "{w}: {docs:?}");
        }
        let n = bob.count("todos", w.clone()).await;
        assert!(n <= 1, "count {w}: {n}");
    }
    assert_eq!(bob.count("todos", json!({})).await, 1);
    assert_eq!(alice.count("todos", json!({})).await, 5);

    // Writes to one document: refused, nothing changes.
    expect_error(
        bob.send(
            Method::PATCH,
            &format!("/api/db/todos/docs/{a0}"),
            Some(json!({"data": {"title": "pwned"}})),
        )
        .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    expect_error(
        bob.send(
            Method::PUT,
            &format!("/api/db/todos/docs/{a0}"),
            Some(json!({"title": "pwned"})),
        )
        .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    expect_error(
        bob.send(Method::DELETE, &format!("/api/db/todos/docs/{a0}"), None)
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    // Bulk writes touch only Bob's own documents.
    for w in &hostile_wheres {
        let u = bob
            .post(
                "/api/db/todos/update",
                json!({"where": w, "data": {"due": {"$inc": 100}}}),
            )
            .await;
        assert!(u["updated"].as_u64().unwrap() <= 1, "{w}: {u}");
    }
    let r = bob
        .post(
            "/api/db/todos/remove",
            json!({"where": {"_openid": "alice"}}),
        )
        .await;
    assert_eq!(r, json!({"deleted": 0}));
    // Forging ownership is refused.
    expect_error(
        bob.send(
            Method::POST,
            "/api/db/todos/docs",
            Some(json!({"_openid": "alice", "title": "x"})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        bob.send(
            Method::PATCH,
            &format!("/api/db/todos/docs/{bob_id}"),
            Some(json!({"data": {"_openid": "alice"}})),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    // Anonymous callers see and write nothing.
    assert!(anon.query("todos", json!({})).await.is_empty());
    assert_eq!(anon.count("todos", json!({})).await, 0);
    expect_error(
        anon.send(
            Method::POST,
            "/api/db/todos/docs",
            Some(json!({"title": "x"})),
        )
        .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;

    // Alice's documents are exactly as they were.
    let after = svc
        .query(
            "todos",
            json!({"orderBy": [["_id", "asc"]], "where": {"_openid": "alice"}}),
        )
        .await;
    let before: Vec<&Value> = snapshot
        .iter()
        .filter(|d| d["_openid"] == "alice")
        .collect();
    assert_eq!(after.iter().collect::<Vec<_>>(), before);
    // Bob's own document took the increments of the three wheres that match it
    // (`{}` and the two `$or`s); the others select only Alice's documents.
    let mine = bob
        .ok(
            Method::GET,
            &format!("/api/db/todos/docs/{bob_id}"),
            None,
            200,
        )
        .await;
    assert_eq!(mine["data"]["due"], 301);
    // Alice can delete hers; `posts` says nobody deletes, `create` needs a title.
    assert_eq!(
        alice
            .ok(
                Method::DELETE,
                &format!("/api/db/todos/docs/{a0}"),
                None,
                200
            )
            .await,
        json!({"deleted": 1})
    );
    let p = alice
        .create("posts", json!({"title": "hello", "published": true}))
        .await;
    expect_error(
        alice
            .send(
                Method::POST,
                "/api/db/posts/docs",
                Some(json!({"body": "no title"})),
            )
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    expect_error(
        alice
            .send(Method::DELETE, &format!("/api/db/posts/docs/{p}"), None)
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    assert_eq!(
        bob.query("posts", json!({})).await.len(),
        1,
        "published posts are readable by all"
    );
    expect_error(
        bob.send(
            Method::PATCH,
            &format!("/api/db/posts/docs/{p}"),
            Some(json!({"data": {"title": "x"}})),
        )
        .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    // A collection that is not declared is closed to users, open to services.
    expect_error(
        bob.send(Method::POST, "/api/db/undeclared/query", Some(json!({})))
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    expect_error(
        bob.send(Method::POST, "/api/db/undeclared/docs", Some(json!({})))
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    svc.create("undeclared", json!({})).await;
    // Unique index: 409 for a duplicate code, whoever writes it.
    expect_error(
        bob.send(
            Method::POST,
            "/api/db/todos/docs",
            Some(json!({"code": "a1"})),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    // Default limit for users is 20.
    for i in 0..25 {
        bob.create("todos", json!({"due": i, "code": format!("bx{i}")}))
            .await;
    }
    assert_eq!(bob.query("todos", json!({})).await.len(), 20);
    // The owner rule plus an indexed orderBy uses the declared index.
    let plan = srv
        .state()
        .db()
        .explain(
            "todos",
            &json!({"_openid": "bob"}),
            &json!([["due", "desc"]]),
        )
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("USING INDEX mbx_todos_"), "{plan}");
}

#[tokio::test]
async fn system_and_internal_collections_over_http() {
    let srv = server().await;
    let db = srv.state().db().clone();
    db.create(
        &Caller::System,
        "_reports",
        json!({"_id": "e1", "openid": "alice"}),
    )
    .await
    .unwrap();
    db.declare_internal("_vault");
    db.create(
        &Caller::System,
        "_vault",
        json!({"_id": "k", "secret": "s"}),
    )
    .await
    .unwrap();
    let svc = Client::service(&srv);
    let alice = Client::user(&srv, "alice").await;
    // Service reads system collections; nobody writes them over HTTP.
    assert_eq!(svc.query("_reports", json!({})).await.len(), 1);
    for (m, path, body) in [
        (Method::POST, "/api/db/_reports/docs", Some(json!({}))),
        (Method::PUT, "/api/db/_reports/docs/e1", Some(json!({}))),
        (
            Method::PATCH,
            "/api/db/_reports/docs/e1",
            Some(json!({"data": {"x": 1}})),
        ),
        (Method::DELETE, "/api/db/_reports/docs/e1", None),
        (
            Method::POST,
            "/api/db/_reports/update",
            Some(json!({"data": {"x": 1}})),
        ),
        (Method::POST, "/api/db/_reports/remove", Some(json!({}))),
    ] {
        expect_error(
            svc.send(m.clone(), path, body.clone()).await,
            403,
            "PERMISSION_DENIED",
        )
        .await;
        expect_error(alice.send(m, path, body).await, 403, "PERMISSION_DENIED").await;
    }
    // Users read a system collection only where a rule allows.
    expect_error(
        alice
            .send(Method::POST, "/api/db/_reports/query", Some(json!({})))
            .await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    db.declare_rules(
        "_reports",
        docdb::CollectionRules::parse(Some("doc.openid == auth.openid"), None).unwrap(),
    )
    .unwrap();
    assert_eq!(alice.query("_reports", json!({})).await.len(), 1);
    let bob = Client::user(&srv, "bob").await;
    assert!(bob.query("_reports", json!({})).await.is_empty());
    // Internal collections: never, for anyone.
    for c in [&svc, &alice] {
        expect_error(
            c.send(Method::GET, "/api/db/_vault/docs/k", None).await,
            403,
            "PERMISSION_DENIED",
        )
        .await;
        expect_error(
            c.send(Method::POST, "/api/db/_vault/query", Some(json!({})))
                .await,
            403,
            "PERMISSION_DENIED",
        )
        .await;
        expect_error(
            c.send(Method::POST, "/api/db/_vault/count", Some(json!({})))
                .await,
            403,
            "PERMISSION_DENIED",
        )
        .await;
    }
}

struct Http<'a> {
    client: Client<'a>,
}

impl Engine for Http<'_> {
    async fn load(&mut self, docs: &[Value]) {
        for d in docs {
            self.client.create("diff", d.clone()).await;
        }
    }
    async fn run(&mut self, q: &Value) -> Result<Vec<String>, String> {
        let res = self
            .client
            .send(Method::POST, "/api/db/diff/query", Some(q.clone()))
            .await;
        let status = res.status();
        let v: Value = res.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(v.to_string());
        }
        Ok(v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["_id"].as_str().unwrap_or("?").to_string())
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_engine_agrees_with_mingo_over_http() {
    let srv = server().await;
    differential(&mut Http {
        client: Client::service(&srv),
    })
    .await;
}

/// Writers hammer the real binary; it is killed with SIGKILL mid-load and restarted; every
/// write that was acknowledged is there, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    use std::sync::{Arc, Mutex};
    const KEY: &str = "durability-test-service-key-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let crate::cli::Served {
        mut child, addr, ..
    } = crate::cli::spawn_server(dir.path(), &[("MINIBASE_AUTH__SERVICE_KEY", KEY)]);
    let http = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let incs: Arc<Mutex<(u64, u64)>> = Arc::default(); // (acknowledged, attempted)
    http.post(format!("http://{addr}/api/db/dur/docs"))
        .bearer_auth(KEY)
        .json(&json!({"_id": "counter", "n": 0}))
        .send()
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..24 {
        let (http, addr, acked, incs) = (http.clone(), addr.clone(), acked.clone(), incs.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let doc = json!({"_id": format!("w{w}-{i}"), "w": w, "i": i, "body": "x".repeat(100 + (i % 7) * 50), "nested": {"list": [i, w, "s"]}});
                let res = http.post(format!("http://{addr}/api/db/dur/docs")).bearer_auth(KEY).json(&doc).send().await;
                match res {
                    Ok(r) if r.status().as_u16() == 201 => acked.lock().unwrap().push(doc),
                    _ => return,
                }
                if i % 4 == 0 {
                    incs.lock().unwrap().1 += 1;
                    let res = http
                        .patch(format!("http://{addr}/api/db/dur/docs/counter"))
                        .bearer_auth(KEY)
                        .json(&json!({"data": {"n": {"$inc": 1}}}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => incs.lock().unwrap().0 += 1,
                        _ => return,
                    }
                }
            }
        }));
    }
    // Let the load build up, then kill mid-flight.
    let start = std::time::Instant::now();
    while acked.lock().unwrap().len() < 3000 && start.elapsed() < std::time::Duration::from_secs(20)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    crate::cli::signal(&child, "KILL");
    let _ = child.wait();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    let (inc_acked, inc_tried) = *incs.lock().unwrap();
    assert!(
        acked.len() >= 500,
        "the load should have been running ({} acknowledged)",
        acked.len()
    );

    let crate::cli::Served {
        mut child, addr, ..
    } = crate::cli::spawn_server(dir.path(), &[("MINIBASE_AUTH__SERVICE_KEY", KEY)]);
    for doc in &acked {
        let id = doc["_id"].as_str().unwrap();
        let res = http
            .get(format!("http://{addr}/api/db/dur/docs/{id}"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "acknowledged {id} is missing after kill -9"
        );
        let got: Value = res.json().await.unwrap();
        assert_eq!(&got["data"], doc, "acknowledged {id} is not whole");
    }
    let counter: Value = http
        .get(format!("http://{addr}/api/db/dur/docs/counter"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = counter["data"]["n"].as_u64().unwrap();
    assert!(
        n >= inc_acked && n <= inc_tried,
        "counter {n}: acknowledged {inc_acked}, attempted {inc_tried}"
    );
    crate::cli::signal(&child, "KILL");
    let _ = child.wait();
}
