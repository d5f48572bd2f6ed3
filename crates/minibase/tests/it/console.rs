//! The admin console's API at `/_/api/` over HTTP, as its page uses it (the browser suite in
//! `console_browser.rs` drives the page itself): sessions and their refusals (no session,
//! user tokens, the service key, forged or missing CSRF tokens, other sites), lockout, TOTP,
//! `allow_from` and the switch; every page's endpoints checked against the user API or the
//! areas afterwards; bad input; the audit log; and the paging measurement of a
//! 10,000-document collection.

#![allow(clippy::unwrap_used)]

use crate::util::expect_error;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::TestServer;

pub const ADMIN: &str = "ops";
pub const PASSWORD: &str = "correct horse battery";

/// A signed-in console client: the session cookie and the CSRF token.
pub struct Admin<'a> {
    pub srv: &'a TestServer,
    pub cookie: String,
    pub csrf: String,
}

pub async fn create_admin(srv: &TestServer, name: &str, password: &str) {
    console::admins::Admins::new(srv.state().db().clone())
        .create(name, password)
        .await
        .unwrap();
}

pub async fn signin_raw(
    srv: &TestServer,
    name: &str,
    password: &str,
    code: Option<&str>,
) -> reqwest::Response {
    srv.http()
        .post(srv.url("/_/api/auth/signin"))
        .json(&json!({ "name": name, "password": password, "code": code }))
        .send()
        .await
        .unwrap()
}

impl<'a> Admin<'a> {
    pub async fn signin(srv: &'a TestServer, name: &str, password: &str) -> Admin<'a> {
        let res = signin_raw(srv, name, password, None).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        Self::from_response(srv, res).await
    }

    async fn from_response(srv: &'a TestServer, res: reqwest::Response) -> Admin<'a> {
        let set = res
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        assert!(set.contains("Path=/_/"), "{set}");
        let cookie = set.split(';').next().unwrap().to_string();
        let body: Value = res.json().await.unwrap();
        Admin {
            srv,
            cookie,
            csrf: body["csrf"].as_str().unwrap().to_string(),
        }
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.srv
            .http()
            .request(method, self.srv.url(&format!("/_/api{path}")))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
    }

    pub async fn get(&self, path: &str) -> Value {
        let res = self.req(Method::GET, path).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "GET {path}: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    pub async fn send(&self, method: Method, path: &str, body: Value) -> reqwest::Response {
        self.req(method, path).json(&body).send().await.unwrap()
    }

    pub async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let res = self.send(method.clone(), path, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }
}

async fn server() -> TestServer {
    let srv = TestServer::builder()
        .config(|c| {
            c.collections.insert(
                "notes".into(),
                config::CollectionConfig {
                    read: Some(config::RuleSource::Expr(
                        "doc._openid == auth.openid".into(),
                    )),
                    write: Some(config::RuleSource::Expr(
                        "doc._openid == auth.openid".into(),
                    )),
                    indexes: vec![config::IndexConfig {
                        fields: vec!["_openid".into(), "-rank".into()],
                        unique: false,
                    }],
                    ..Default::default()
                },
            );
        })
        .start()
        .await;
    create_admin(&srv, ADMIN, PASSWORD).await;
    srv
}

/// Every console API route, as (method, path, body).
fn routes() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/auth/session"),
        (Method::POST, "/auth/signout"),
        (Method::GET, "/overview"),
        (Method::GET, "/db/collections"),
        (Method::GET, "/db/notes/meta"),
        (Method::POST, "/db/notes/query"),
        (Method::POST, "/db/notes/docs"),
        (Method::GET, "/db/notes/docs/abc"),
        (Method::PUT, "/db/notes/docs/abc"),
        (Method::DELETE, "/db/notes/docs/abc"),
        (Method::POST, "/db/notes/rules/test"),
        (Method::GET, "/users"),
        (Method::GET, "/users/abc"),
        (
            Method::POST,
            "/users/abc/sessions/0123456789abcdef0123456789abcdef/revoke",
        ),
        (Method::GET, "/files"),
        (Method::GET, "/files/raw?path=a.png"),
        (Method::PUT, "/files/raw?path=a.png"),
        (Method::DELETE, "/files/raw?path=a.png"),
        (Method::GET, "/functions"),
        (Method::GET, "/functions/f/invocations"),
        (Method::POST, "/functions/f/invoke"),
        (Method::GET, "/pay/orders"),
        (Method::GET, "/pay/orders/X1"),
        (Method::POST, "/pay/orders/X1/refund"),
        (Method::GET, "/logs"),
        (Method::GET, "/audit"),
        (Method::GET, "/settings"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_works_without_a_session_and_tokens_are_refused() {
    let srv = server().await;
    let user = srv.user_token("o-user").await;
    for (m, path) in routes() {
        let url = srv.url(&format!("/_/api{path}"));
        let res = srv
            .http()
            .request(m.clone(), &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 401, "UNAUTHENTICATED").await;
        // a user token, or the service key, is refused even with a valid session cookie
        for bearer in [user.as_str(), srv.service_key()] {
            let res = srv
                .http()
                .request(m.clone(), &url)
                .bearer_auth(bearer)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let body = expect_error(res, 401, "UNAUTHENTICATED").await;
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("tokens"),
                "{m} {path}: {body}"
            );
        }
        // a made-up cookie is no session
        let res = srv
            .http()
            .request(m.clone(), &url)
            .header("cookie", format!("mb_console={}", "a".repeat(64)))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 401, "UNAUTHENTICATED").await;
    }
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let res = a
        .req(Method::GET, "/overview")
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    // the pages themselves are public (the sign-in form), with a strict CSP
    let res = srv.http().get(srv.url("/_/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let html = res.text().await.unwrap();
    assert!(html.contains("/_/assets/app.js?v="), "{html}");
    let res = srv.http().get(srv.url("/_")).send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/_/");
    // the console's collections are internal: the user API never serves them, even to the
    // service key
    for coll in ["_admins", "_admin_sessions", "_audit"] {
        let res = srv
            .http()
            .post(srv.url(&format!("/api/db/{coll}/query")))
            .bearer_auth(srv.service_key())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(res, 403, "PERMISSION_DENIED").await;
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_embedded_gzipped_and_small() {
    let srv = server().await;
    let html = srv
        .http()
        .get(srv.url("/_/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = 0;
    for name in ["app.js", "app.css", "icon.svg"] {
        let v = html
            .split(&format!("/_/assets/{name}?v="))
            .nth(1)
            .map(|r| r.split('"').next().unwrap().to_string());
        let url = match v {
            Some(v) => format!("/_/assets/{name}?v={v}"),
            None => format!("/_/assets/{name}"),
        };
        let res = srv
            .http()
            .get(srv.url(&url))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let etag = res.headers()["etag"].clone();
        total += res.bytes().await.unwrap().len();
        let res = srv
            .http()
            .get(srv.url(&url))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304);
    }
    assert!(total < 300 * 1024, "first load transfers {total} bytes");
    assert!(
        console::assets::first_load_gzip_bytes() < 300 * 1024,
        "{}",
        console::assets::first_load_gzip_bytes()
    );
    let res = srv
        .http()
        .get(srv.url("/_/assets/nope.js"))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_and_other_sites_are_refused_and_change_nothing() {
    let srv = server().await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let doc = json!({ "data": { "_openid": "o-a", "text": "x" } });
    // no token
    let res = srv
        .http()
        .post(srv.url("/_/api/db/notes/docs"))
        .header("cookie", &a.cookie)
        .json(&doc)
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "PERMISSION_DENIED").await;
    // a forged token
    let res = srv
        .http()
        .post(srv.url("/_/api/db/notes/docs"))
        .header("cookie", &a.cookie)
        .header("x-csrf-token", "f".repeat(64))
        .json(&doc)
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "PERMISSION_DENIED").await;
    // the right token from another site
    let res = a
        .req(Method::POST, "/db/notes/docs")
        .header("sec-fetch-site", "cross-site")
        .json(&doc)
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "PERMISSION_DENIED").await;
    let total = a.ok(Method::POST, "/db/notes/query", json!({})).await["total"].clone();
    assert_eq!(total, 0, "nothing was created");
    // sign-out needs the token too, and then the session is gone
    let res = srv
        .http()
        .post(srv.url("/_/api/auth/signout"))
        .header("cookie", &a.cookie)
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "PERMISSION_DENIED").await;
    a.ok(Method::POST, "/auth/signout", json!({})).await;
    let res = a.req(Method::GET, "/overview").send().await.unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_admin_out() {
    let srv = TestServer::builder()
        .config(|c| c.console.max_failed_logins = 3)
        .start()
        .await;
    create_admin(&srv, ADMIN, PASSWORD).await;
    // unknown admin and wrong password answer alike
    let res = signin_raw(&srv, "nobody", PASSWORD, None).await;
    let unknown = expect_error(res, 401, "UNAUTHENTICATED").await;
    for _ in 0..3 {
        let res = signin_raw(&srv, ADMIN, "wrong password!", None).await;
        let body = expect_error(res, 401, "UNAUTHENTICATED").await;
        assert_eq!(body["error"]["message"], unknown["error"]["message"]);
    }
    let res = signin_raw(&srv, ADMIN, PASSWORD, None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.headers().get("set-cookie").is_none());
    let body = expect_error(res, 429, "RATE_LIMITED").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked")
    );
    // reset-password unlocks
    let admins = console::admins::Admins::new(srv.state().db().clone());
    assert!(
        admins
            .reset_password(ADMIN, "another long password")
            .await
            .unwrap()
    );
    let res = signin_raw(&srv, ADMIN, PASSWORD, None).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    Admin::signin(&srv, ADMIN, "another long password").await;
    // bad input
    for body in [json!({}), json!({ "name": 1, "password": "x" }), json!([1])] {
        let res = srv
            .http()
            .post(srv.url("/_/api/auth/signin"))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "INVALID_ARGUMENT").await;
    }
    let res = signin_raw(&srv, &"x".repeat(5000), &"y".repeat(5000), None).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    // too short a password is refused at creation
    assert!(admins.create("short", "123").await.is_err());
    assert!(admins.create("bad name!", PASSWORD).await.is_err());
    assert!(admins.create(ADMIN, PASSWORD).await.is_err(), "taken");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_codes_when_enabled() {
    let srv = server().await;
    let admins = console::admins::Admins::new(srv.state().db().clone());
    let secret = admins.set_totp(ADMIN, true).await.unwrap().unwrap();
    let res = signin_raw(&srv, ADMIN, PASSWORD, None).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    let key = console::totp::unbase32(&secret).unwrap();
    let step = mb_core::now_ms() / 1000 / 30;
    let code = format!("{:06}", console::totp::code_at(&key, step));
    let wrong = format!(
        "{:06}",
        (console::totp::code_at(&key, step) + 1) % 1_000_000
    );
    let res = signin_raw(&srv, ADMIN, PASSWORD, Some(&wrong)).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    let res = signin_raw(&srv, ADMIN, PASSWORD, Some(&code)).await;
    assert_eq!(res.status(), 200);
    // the same code again is a replay
    let res = signin_raw(&srv, ADMIN, PASSWORD, Some(&code)).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_and_the_switch() {
    let srv = TestServer::builder()
        .config(|c| c.console.allow_from = vec!["10.0.0.0/8".parse().unwrap()])
        .start()
        .await;
    for path in ["/_/", "/_/api/auth/session", "/_/assets/app.js"] {
        let res = srv.http().get(srv.url(path)).send().await.unwrap();
        expect_error(res, 404, "NOT_FOUND").await;
    }
    srv.stop().await;
    let srv = TestServer::builder()
        .config(|c| c.console.enabled = false)
        .start()
        .await;
    let res = srv.http().get(srv.url("/_/")).send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    assert!(srv.state().console().is_none());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_rules_and_the_audit_log() {
    let srv = server().await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    // create as the admin, for a user; the user sees it through the user API
    let created = a
        .ok(Method::POST, "/db/notes/docs", json!({ "data": { "_openid": "o-alice", "text": "<script>alert(1)</script>", "rank": 1 } }))
        .await;
    let id = created["_id"].as_str().unwrap().to_string();
    let alice = srv.user_token("o-alice").await;
    let bob = srv.user_token("o-bob").await;
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/notes/docs/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // query with where, order and paging, with the total
    for i in 0..5 {
        a.ok(
            Method::POST,
            "/db/notes/docs",
            json!({ "data": { "_openid": "o-bob", "rank": 10 + i } }),
        )
        .await;
    }
    let page = a
        .ok(
            Method::POST,
            "/db/notes/query",
            json!({ "where": { "_openid": "o-bob" }, "orderBy": [["rank", "desc"]], "skip": 1, "limit": 2 }),
        )
        .await;
    assert_eq!(page["total"], 5);
    let ranks: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rank"].as_i64().unwrap())
        .collect();
    assert_eq!(ranks, [13, 12]);
    // replace, then the user API sees the change
    a.ok(
        Method::PUT,
        &format!("/db/notes/docs/{id}"),
        json!({ "data": { "_openid": "o-alice", "text": "edited" } }),
    )
    .await;
    let doc = a.get(&format!("/db/notes/docs/{id}")).await;
    assert_eq!(doc["data"]["text"], "edited");
    // the rule tester agrees with the API
    let test = |openid: &str, op: &str| {
        let body = json!({ "openid": openid, "op": op, "id": id });
        let a = &a;
        async move { a.ok(Method::POST, "/db/notes/rules/test", body).await }
    };
    let r = test("o-alice", "read").await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["rule"], "doc._openid == auth.openid");
    let r = test("o-bob", "read").await;
    assert_eq!(r["allowed"], false, "{r}");
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/notes/docs/{id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "bob cannot read it through the API either"
    );
    assert_eq!(test("o-bob", "update").await["allowed"], false);
    assert_eq!(test("o-alice", "delete").await["allowed"], true);
    assert_eq!(test("", "read").await["allowed"], false);
    let r = a
        .ok(
            Method::POST,
            "/db/notes/rules/test",
            json!({ "openid": "o-carol", "op": "create", "doc": { "_openid": "o-carol" } }),
        )
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    let r = a
        .ok(
            Method::POST,
            "/db/notes/rules/test",
            json!({ "openid": "o-carol", "op": "read", "id": id }),
        )
        .await;
    assert_eq!(r["allowed"], false);
    // indexes and rules
    let meta = a.get("/db/notes/meta").await;
    assert!(
        meta["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["fields"] == json!(["_openid", "-rank"]) && i["owner"] == "config"),
        "{meta}"
    );
    assert_eq!(meta["rules"]["read"], "doc._openid == auth.openid");
    let colls = a.get("/db/collections").await;
    let notes = colls["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "notes")
        .unwrap()
        .clone();
    assert_eq!(notes["count"], 6);
    assert!(
        !colls["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "_admins" || c["name"] == "_sessions"),
        "internal collections are not listed: {colls}"
    );
    // delete
    a.ok(Method::DELETE, &format!("/db/notes/docs/{id}"), json!(null))
        .await;
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/notes/docs/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // bad input, refused with nothing changed
    let res = a
        .send(
            Method::POST,
            "/db/notes/query",
            json!({ "where": { "$bogus": 1 } }),
        )
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(Method::POST, "/db/notes/docs", json!({ "data": [1, 2] }))
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(Method::POST, "/db/notes/docs", json!({ "nodata": 1 }))
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .req(Method::POST, "/db/notes/docs")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(
            Method::POST,
            "/db/notes/rules/test",
            json!({ "op": "fly", "id": "x" }),
        )
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(
            Method::POST,
            "/db/notes/rules/test",
            json!({ "op": "read", "id": "nope" }),
        )
        .await;
    expect_error(res, 404, "NOT_FOUND").await;
    let res = a
        .send(Method::DELETE, "/db/notes/docs/nope", json!(null))
        .await;
    expect_error(res, 404, "NOT_FOUND").await;
    for coll in ["_admins", "_sessions", "_audit", "_user_secrets"] {
        let res = a
            .send(Method::POST, &format!("/db/{coll}/query"), json!({}))
            .await;
        expect_error(res, 403, "PERMISSION_DENIED").await;
    }
    let res = a
        .send(
            Method::POST,
            "/db/_users/docs",
            json!({ "data": { "x": 1 } }),
        )
        .await;
    expect_error(res, 403, "PERMISSION_DENIED").await;
    let res = a
        .send(Method::POST, "/db/bad%20name/query", json!({}))
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(
            Method::POST,
            "/db/notes/docs",
            json!({ "data": { "x": "y".repeat(2 << 20) } }),
        )
        .await;
    assert!(matches!(res.status().as_u16(), 413), "{}", res.status());
    assert_eq!(
        a.ok(Method::POST, "/db/notes/query", json!({})).await["total"],
        5
    );
    // every change is in the audit log, newest first, with before and after
    let audit = a.get("/audit?limit=50").await;
    let entries = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "db.delete", "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "db.create").count(), 6);
    let update = entries.iter().find(|e| e["action"] == "db.update").unwrap();
    assert_eq!(update["admin"], ADMIN);
    assert_eq!(update["target"], format!("notes/{id}"));
    assert_eq!(update["before"]["text"], "<script>alert(1)</script>");
    assert_eq!(update["after"]["text"], "edited");
    assert!(update["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(actions.contains(&"auth.signin"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sessions_and_recent_requests() {
    let srv = server().await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let login = srv.login("o-carol").await;
    let token = login["access_token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let uid = login["user"]["id"].as_str().unwrap().to_string();
    let found = a.get("/users?q=o-carol").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["_id"], uid.as_str());
    assert_eq!(
        a.get(&format!("/users?q={uid}")).await["data"][0]["openid"],
        "o-carol"
    );
    assert_eq!(
        a.get("/users?q=nobody").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let detail = a.get(&format!("/users/{uid}")).await;
    let sessions = detail["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(
        !detail
            .to_string()
            .contains(refresh.split('.').nth(1).unwrap()),
        "no secrets"
    );
    let sid = sessions[0]["id"].as_str().unwrap().to_string();
    // a few user requests, one failing, for the recent-requests log
    let res = srv
        .http()
        .get(srv.url("/api/db/notes/docs/missing"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let logs = a.get("/logs?user=o-carol").await;
    let entry = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == rid.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], 404);
    assert_eq!(entry["caller"], "user");
    assert_eq!(entry["uid"], uid.as_str());
    assert_eq!(entry["path"], "/api/db/notes/docs/missing");
    assert_eq!(
        a.get(&format!("/logs?request_id={rid}")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let errors = a.get("/logs?errors=1").await;
    assert!(
        errors["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"].as_u64().unwrap() >= 400)
    );
    assert!(
        a.get("/logs?status=4xx").await["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == rid.as_str())
    );
    assert!(
        !a.get("/logs").await["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"].as_str().unwrap().starts_with("/_/")),
        "the console's own requests are not logged"
    );
    let res = a.req(Method::GET, "/logs?limit=0").send().await.unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    // revoke the session: the refresh token and the access token stop working
    a.ok(
        Method::POST,
        &format!("/users/{uid}/sessions/{sid}/revoke"),
        json!({}),
    )
    .await;
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    let res = srv
        .http()
        .get(srv.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let detail = a.get(&format!("/users/{uid}")).await;
    assert_eq!(detail["sessions"][0]["revoked"], true);
    assert!(
        detail["sessions"][0]["revoked_reason"]
            .as_str()
            .unwrap()
            .contains(ADMIN)
    );
    let res = a
        .send(
            Method::POST,
            &format!("/users/{uid}/sessions/nothex/revoke"),
            json!({}),
        )
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(
            Method::POST,
            &format!("/users/other/sessions/{sid}/revoke"),
            json!({}),
        )
        .await;
    expect_error(res, 404, "NOT_FOUND").await;
    let res = a.req(Method::GET, "/users/nobody").send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_upload_preview_download_delete() {
    let srv = server().await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";
    let res = a
        .req(Method::PUT, "/files/raw?path=img%2Fdot.png")
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let html = b"<html><script>alert(1)</script></html>";
    let res = a
        .req(Method::PUT, "/files/raw?path=img%2Fevil.html")
        .body(html.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list = a.get("/files?prefix=img%2F").await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["path"], "img/dot.png");
    assert_eq!(data[0]["preview"], true);
    assert_eq!(data[0]["size"], png.len());
    assert_eq!(data[1]["preview"], false);
    assert_eq!(
        a.get("/files?prefix=other%2F").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // an image previews inline; anything else downloads, sandboxed
    let res = a
        .req(Method::GET, "/files/raw?path=img%2Fdot.png")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), png);
    let res = a
        .req(Method::GET, "/files/raw?path=img%2Fevil.html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    // the file is there for users too: a signed URL of the user API serves it
    let res = srv
        .http()
        .post(srv.url("/api/storage/temp-urls"))
        .bearer_auth(srv.service_key())
        .json(&json!({ "fileList": [{ "fileID": "mb://img/dot.png" }] }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fileList"][0]["status"], 0, "{body}");
    // delete
    a.ok(Method::DELETE, "/files/raw?path=img%2Fdot.png", json!(null))
        .await;
    let res = a
        .req(Method::GET, "/files/raw?path=img%2Fdot.png")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let res = a
        .req(Method::DELETE, "/files/raw?path=img%2Fdot.png")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    // bad paths
    for p in ["", "..%2Fx", "%2Fabs", "a%00b"] {
        let res = a
            .req(Method::PUT, &format!("/files/raw?path={p}"))
            .body("x")
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "INVALID_ARGUMENT").await;
    }
    let res = a.req(Method::GET, "/files/raw").send().await.unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .req(Method::GET, "/files?limit=100000")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let audit = a.get("/audit").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "files.upload").count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == "files.delete").count(), 1);
    srv.stop().await;
}

fn write(dir: &std::path::Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_invoked_with_logs_and_history() {
    let fns = tempfile::tempdir().unwrap();
    write(
        fns.path(),
        "hello/index.js",
        "const cloud = require('wx-server-sdk');\nexports.main = async (event) => { console.log('hi', event.name); const ctx = cloud.getWXContext(); if (event.fail) throw new Error('boom'); return { greeting: 'hello ' + event.name, openid: ctx.OPENID || null }; };",
    );
    write(
        fns.path(),
        "hello/config.json",
        r#"{ "timeout": 5, "triggers": [{ "name": "nightly", "type": "timer", "config": "0 0 2 * * * *" }] }"#,
    );
    let dir = fns.path().to_path_buf();
    let srv = TestServer::builder()
        .config(|c| c.functions.dir = dir)
        .start()
        .await;
    create_admin(&srv, ADMIN, PASSWORD).await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let list = a.get("/functions").await;
    let f = &list["data"][0];
    assert_eq!(f["name"], "hello");
    assert_eq!(f["runtime"], "quickjs");
    assert_eq!(f["timeout_ms"], 5000);
    assert_eq!(f["timers"][0]["name"], "nightly");
    assert_eq!(f["timers"][0]["next"].as_array().unwrap().len(), 3);
    assert!(
        f["timers"][0]["next"][0]
            .as_str()
            .unwrap()
            .contains("T02:00:00"),
        "{f}"
    );
    let r = a
        .ok(
            Method::POST,
            "/functions/hello/invoke",
            json!({ "event": { "name": "世界" }, "openid": "o-dan" }),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["greeting"], "hello 世界");
    assert_eq!(r["result"]["openid"], "o-dan");
    assert!(r["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r["logs"][0]["message"], "hi 世界", "{r}");
    let r = a
        .ok(
            Method::POST,
            "/functions/hello/invoke",
            json!({ "event": { "fail": true } }),
        )
        .await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]["message"].as_str().unwrap().contains("boom"),
        "{r}"
    );
    // and a call from a user, through the user API
    let user = srv.user_token("o-erin").await;
    let res = srv
        .http()
        .post(srv.url("/api/functions/hello"))
        .bearer_auth(&user)
        .json(&json!({ "data": { "name": "e" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let inv = a.get("/functions/hello/invocations").await;
    let invs = inv["invocations"].as_array().unwrap();
    assert_eq!(invs.len(), 3);
    assert_eq!(invs[0]["caller"], "user");
    assert_eq!(invs[1]["ok"], false);
    assert!(invs[1]["error"].as_str().unwrap().contains("boom"));
    assert!(inv["logs"].as_array().unwrap().len() >= 3);
    let res = a
        .send(
            Method::POST,
            "/functions/nope/invoke",
            json!({ "event": {} }),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    let res = a
        .send(Method::POST, "/functions/..%2Fx/invoke", json!({}))
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = a
        .send(
            Method::POST,
            "/functions/hello/invoke",
            json!({ "event": [1] }),
        )
        .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_redact_secrets() {
    let srv = TestServer::builder()
        .config(|c| {
            c.wechat.secret = config::Secret::new("wx-super-secret-value");
            c.origins
                .insert("wechat.secret".into(), "env MINIBASE_WECHAT__SECRET".into());
        })
        .start()
        .await;
    create_admin(&srv, ADMIN, PASSWORD).await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let res = a.req(Method::GET, "/settings").send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains("wx-super-secret-value"));
    assert!(!text.contains(srv.service_key()));
    let body: Value = serde_json::from_str(&text).unwrap();
    let entry = |k: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(entry("wechat.secret")["value"], "[set, redacted]");
    assert_eq!(
        entry("wechat.secret")["origin"],
        "env MINIBASE_WECHAT__SECRET"
    );
    assert_eq!(entry("auth.service_key")["secret"], true);
    assert_eq!(entry("limits.max_limit")["value"], 1000);
    assert_eq!(entry("limits.max_limit")["origin"], "default");
    assert_eq!(body["admins"][0]["name"], ADMIN);
    srv.stop().await;
}

/// A 10,000-document collection pages in under 100 ms per page (the median of every page
/// of a walk through it, and the deepest pages), measured over HTTP on loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_document_collection_pages_quickly() {
    let srv = server().await;
    let db = srv.state().db().clone();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..10_000).step_by(8) {
                db.create(
                    &mb_core::Caller::Service,
                    "big",
                    json!({ "n": i, "title": format!("item {i}"), "tags": ["a", "b"], "_openid": format!("o-{}", i % 50) }),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    let mut times = Vec::new();
    let mut skip = 0;
    let mut seen = 0;
    while skip < 10_000 {
        let t0 = Instant::now();
        let page = a
            .ok(
                Method::POST,
                "/db/big/query",
                json!({ "skip": skip, "limit": 100 }),
            )
            .await;
        times.push(t0.elapsed());
        assert_eq!(page["total"], 10_000);
        seen += page["data"].as_array().unwrap().len();
        skip += 100;
    }
    assert_eq!(seen, 10_000);
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    eprintln!(
        "console paging, 10,000 documents, 100 per page: median {median:?}, p90 {p90:?}, max {:?}",
        times.last().unwrap()
    );
    assert!(
        median < Duration::from_millis(100),
        "median page {median:?}"
    );
    srv.stop().await;
}

/// `minibase admin …` through the real binary: a password from standard input, list, a
/// sign-in with it over HTTP, reset-password, TOTP on, delete; bad input refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_of_the_binary() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_minibase"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .current_dir(dir.path())
            .env_remove("MINIBASE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        &["admin", "create", "ops", "--password-stdin"],
        "a long password 1\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(
        &["admin", "create", "ops", "--password-stdin"],
        "a long password 1\n",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(&["admin", "create", "x", "--password-stdin"], "short\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("at least 10"), "{err}");
    let (code, out, _) = run(&["admin", "list"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("ops") && out.contains("never"), "{out}");
    let (code, out, _) = run(&["admin", "totp", "ops"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("otpauth://totp/Minibase:ops?secret="), "{out}");
    let (code, _, _) = run(&["admin", "totp", "ops", "--disable"], "");
    assert_eq!(code, Some(0));
    let (code, _, _) = run(
        &["admin", "reset-password", "ops", "--password-stdin"],
        "another long one\n",
    );
    assert_eq!(code, Some(0));
    let (code, _, err) = run(
        &["admin", "reset-password", "nobody", "--password-stdin"],
        "another long one\n",
    );
    assert_eq!(code, Some(1), "{err}");
    // the server on that data directory signs the admin in with the new password
    let srv = TestServer::builder().data_dir(&data).start().await;
    let res = signin_raw(&srv, "ops", "a long password 1", None).await;
    expect_error(res, 401, "UNAUTHENTICATED").await;
    let a = Admin::signin(&srv, "ops", "another long one").await;
    let audit = a.get("/audit?limit=20").await;
    let actions: Vec<String> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["admin"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("cli:") && a.ends_with("admin.create")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.ends_with("admin.reset_password")),
        "{actions:?}"
    );
    srv.stop().await;
    let (code, out, _) = run(&["admin", "delete", "ops"], "");
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = run(&["admin", "list"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("no admins yet"), "{out}");
    let (code, _, _) = run(&["admin", "delete", "ops"], "");
    assert_eq!(code, Some(1));
}

/// The Overview: samples of the request counters, and `minibase doctor` run for a configured
/// domain from the console, its last report kept and shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_counters_and_doctor_reports() {
    let srv = TestServer::builder()
        .config(|c| c.server.domains = vec!["localhost".into(), "*.example.com".into()])
        .start()
        .await;
    create_admin(&srv, ADMIN, PASSWORD).await;
    let a = Admin::signin(&srv, ADMIN, PASSWORD).await;
    for _ in 0..3 {
        srv.http().get(srv.url("/api/health")).send().await.unwrap();
    }
    srv.http().get(srv.url("/nope")).send().await.unwrap();
    let o = a.get("/overview").await;
    assert!(o["requests_total"].as_u64().unwrap() >= 4, "{o}");
    assert!(o["database"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(o["tls"]["mode"], "off");
    assert_eq!(o["doctor"][0]["domain"], "localhost");
    assert!(o["doctor"][0]["last"].is_null());
    let r = a
        .ok(Method::POST, "/doctor", json!({ "domain": "localhost" }))
        .await;
    let report = &r["last"]["report"];
    assert_eq!(
        report["ok"], false,
        "nothing serves https://localhost:443 here: {report}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "tcp" && c["status"] == "fail"),
        "{report}"
    );
    let o = a.get("/overview").await;
    assert_eq!(o["doctor"][0]["last"]["report"]["url"], report["url"]);
    for bad in [
        json!({ "domain": "evil.example.org" }),
        json!({ "domain": "*.example.com" }),
        json!({}),
    ] {
        let res = a.send(Method::POST, "/doctor", bad).await;
        expect_error(res, 400, "INVALID_ARGUMENT").await;
    }
    srv.stop().await;
}
