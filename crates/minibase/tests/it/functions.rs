//! Cloud functions through HTTP (API.md §6): `POST /api/functions/{name}` and the HTTP trigger
//! `/fn/{name}/…`, on the real server with the CloudBase-style fixture functions of
//! `tests/fixtures/functions/` (copied per test, so a test may edit its copy).

use crate::util::expect_error;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::TestServer;

/// A copy of the fixture functions in a temp dir.
fn fixtures() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("functions");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functions"),
        &dir,
    );
    (tmp, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

async fn start(dir: &Path) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::builder()
        .config(move |c| {
            c.functions.dir = dir;
            c.functions.memory_limit = config::ByteSize::parse("32MiB").unwrap();
            c.wechat.appid = "wxfunctionstest".into();
        })
        .start()
        .await
}

async fn call(srv: &TestServer, name: &str, token: &str, data: Value) -> reqwest::Response {
    srv.http()
        .post(srv.url(&format!("/api/functions/{name}")))
        .bearer_auth(token)
        .json(&json!({ "data": data }))
        .send()
        .await
        .unwrap()
}

async fn result(srv: &TestServer, name: &str, token: &str, data: Value) -> Value {
    let res = call(srv, name, token, data).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{name}: {body}");
    body["result"].clone()
}

#[tokio::test]
async fn todo_crud_as_a_cloudbase_function() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let alice = srv.user_token("o-alice").await;
    let bob = srv.user_token("o-bob").await;
    let added = result(
        &srv,
        "todo",
        &alice,
        json!({"action": "add", "title": "buy milk", "due": 1_700_000_000_000i64}),
    )
    .await;
    let id = added["_id"].as_str().unwrap().to_owned();
    assert_eq!(added["errMsg"], "collection.add:ok");
    result(
        &srv,
        "todo",
        &alice,
        json!({"action": "add", "title": "call mom", "due": 1_600_000_000_000i64}),
    )
    .await;
    result(
        &srv,
        "todo",
        &bob,
        json!({"action": "add", "title": "bob's", "due": 1}),
    )
    .await;
    let list = result(&srv, "todo", &alice, json!({"action": "list"})).await;
    let titles: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["call mom", "buy milk"],
        "only alice's, ordered by due"
    );
    assert_eq!(list["data"][1]["due"], "2023-11-14T22:13:20.000Z");
    let done = result(&srv, "todo", &alice, json!({"action": "done", "id": id})).await;
    assert_eq!(done["stats"]["updated"], 1);
    // Bob can't touch alice's todo through the function's own check.
    assert_eq!(
        result(&srv, "todo", &bob, json!({"action": "remove", "id": id})).await["stats"]["removed"],
        0
    );
    let got = result(&srv, "todo", &alice, json!({"action": "get", "id": id})).await;
    assert_eq!(got["data"]["done"], true);
    assert_eq!(got["data"]["tags"], json!(["done"]));
    assert_eq!(got["data"]["_openid"], "o-alice");
    // What the function wrote is what the database API serves.
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/todos/docs/{id}")))
        .bearer_auth(srv.service_key())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["data"]["title"], "buy milk");
    assert_eq!(doc["data"]["due"], json!({"$date": 1_700_000_000_000i64}));
    assert_eq!(
        result(&srv, "todo", &alice, json!({"action": "remove", "id": id})).await["stats"]["removed"],
        1
    );
    assert_eq!(
        result(&srv, "todo", &alice, json!({"action": "count"})).await["total"],
        1
    );
    let res = call(&srv, "todo", &alice, json!({"action": "get", "id": id})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn get_wx_context_is_the_caller() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let alice = srv.user_token("o-alice").await;
    let r = result(
        &srv,
        "whoami",
        &alice,
        json!({"echo": 1, "userInfo": {"openId": "forged"}}),
    )
    .await;
    assert_eq!(r["OPENID"], "o-alice");
    assert_eq!(r["APPID"], "wxfunctionstest");
    assert_eq!(r["SOURCE"], "wx_client");
    assert_eq!(r["CLIENTIP"], "127.0.0.1");
    assert_eq!(
        r["userInfo"],
        json!({"appId": "wxfunctionstest", "openId": "o-alice"})
    );
    assert_eq!(r["echo"], 1);
    let res = srv
        .http()
        .post(srv.url("/api/functions/whoami"))
        .bearer_auth(srv.service_key())
        .header("x-request-id", "req-whoami-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["OPENID"], "");
    assert_eq!(body["result"]["SOURCE"], "wx_http");
    assert_eq!(body["result"]["userInfo"], Value::Null);
    assert_eq!(body["result"]["requestId"], "req-whoami-1");
    srv.stop().await;
}

#[tokio::test]
async fn bad_calls_get_clear_errors() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let alice = srv.user_token("o-alice").await;
    let url = srv.url("/api/functions/whoami");
    let res = srv
        .http()
        .post(&url)
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    let res = srv
        .http()
        .post(&url)
        .bearer_auth("not-a-token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    expect_error(
        call(&srv, "nope", &alice, json!({})).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let res = srv
        .http()
        .post(srv.url("/api/functions/a.b"))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv
        .http()
        .post(srv.url("/api/functions/..%2fetc"))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status().as_u16(), 400 | 404),
        "{}",
        res.status()
    );
    let res = srv
        .http()
        .post(&url)
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{\"data\":")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    expect_error(
        call(&srv, "whoami", &alice, json!([1, 2])).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        call(&srv, "whoami", &alice, json!("text")).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let big = "x".repeat(2 << 20);
    let res = srv
        .http()
        .post(&url)
        .bearer_auth(&alice)
        .json(&json!({"data": {"big": big}}))
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    let res = srv
        .http()
        .get(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    // A thrown error: the message reaches the caller, in the envelope.
    let body = expect_error(
        call(&srv, "boom", &alice, json!({"x": 7})).await,
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    assert_eq!(body["error"]["message"], "Error: boom: 7");
    assert_eq!(body["error"]["upstream"]["service"], "function");
    // Leaving the folder is refused.
    let body = expect_error(
        call(&srv, "escape", &alice, json!({})).await,
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inside its own folder"),
        "{body}"
    );
    let body = expect_error(
        call(&srv, "escape", &alice, json!({"path": "/etc/passwd"})).await,
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inside its own folder"),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn runaway_code_is_contained_and_the_server_keeps_serving() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let alice = srv.user_token("o-alice").await;
    let t = Instant::now();
    let (spin, bomb, ok) = tokio::join!(
        call(&srv, "spin", &alice, json!({})),
        call(&srv, "bomb", &alice, json!({})),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            result(&srv, "whoami", &alice, json!({})).await
        },
    );
    assert_eq!(ok["OPENID"], "o-alice", "other calls are served meanwhile");
    let body = expect_error(spin, 504, "DEADLINE_EXCEEDED").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 1000 ms"),
        "{body}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    let body = expect_error(bomb, 502, "UPSTREAM_ERROR").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory limit of 32 MiB"),
        "{body}"
    );
    let health = srv.http().get(srv.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // And again: fresh instances replace the discarded ones.
    expect_error(
        call(&srv, "spin", &alice, json!({})).await,
        504,
        "DEADLINE_EXCEEDED",
    )
    .await;
    assert_eq!(
        result(&srv, "whoami", &alice, json!({})).await["OPENID"],
        "o-alice"
    );
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_calls_run_on_separate_instances() {
    let (_tmp, dir) = fixtures();
    let d = dir.clone();
    let srv = TestServer::builder()
        .config(move |c| {
            c.functions.dir = d;
            c.functions.concurrency = 4;
            c.functions.queue = 64;
        })
        .start()
        .await;
    let alice = srv.user_token("o-alice").await;
    let t = Instant::now();
    let calls = (0..16).map(|n| result(&srv, "slow", &alice, json!({"n": n})));
    let results = futures_util::future::join_all(calls).await;
    for (n, r) in results.iter().enumerate() {
        assert_eq!(r["n"], n);
        assert_eq!(
            r["concurrentInInstance"], 1,
            "an instance serves one call at a time"
        );
    }
    let took = t.elapsed();
    // 16 calls of 100 ms, 4 at a time: about 400 ms, certainly not 1.6 s nor 100 ms.
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_long_cpu_bound_call_does_not_hold_up_short_ones() {
    // Calls beyond the cores' worth of running instances wait for a CPU slot, but only briefly:
    // with every slot taken by calls spinning for 0.7 s, a short call still answers quickly on
    // an instance of its own.
    let (_tmp, dir) = fixtures();
    write(
        &dir,
        "spin/index.js",
        "exports.main = async (event) => { const end = Date.now() + event.ms; while (Date.now() < end) {} return { ms: event.ms } }",
    );
    let srv = start(&dir).await;
    let alice = srv.user_token("o-alice").await;
    assert_eq!(
        result(&srv, "spin", &alice, json!({"ms": 0})).await["ms"],
        0
    );
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinning = futures_util::future::join_all(
        (0..cores).map(|_| call(&srv, "spin", &alice, json!({"ms": 700}))),
    );
    let short = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        assert_eq!(
            result(&srv, "spin", &alice, json!({"ms": 1})).await["ms"],
            1
        );
        t.elapsed()
    };
    let (spun, took) = tokio::join!(spinning, short);
    assert!(
        took < Duration::from_millis(450),
        "a short call waited behind the spinning ones: {took:?}"
    );
    for r in spun {
        assert_eq!(r.status(), 200);
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503() {
    let (_tmp, dir) = fixtures();
    let d = dir.clone();
    let srv = TestServer::builder()
        .config(move |c| {
            c.functions.dir = d;
            c.functions.concurrency = 1;
            c.functions.queue = 2;
        })
        .start()
        .await;
    let alice = srv.user_token("o-alice").await;
    let calls = (0..6).map(|n| call(&srv, "slow", &alice, json!({"n": n})));
    let responses = futures_util::future::join_all(calls).await;
    let mut ok = 0;
    for res in responses {
        if res.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(res.headers().get("retry-after").unwrap(), "1");
            expect_error(res, 503, "UNAVAILABLE").await;
        }
    }
    assert_eq!(ok, 3, "one running, two waiting");
    srv.stop().await;
}

#[tokio::test]
async fn hot_reload_serves_the_edited_file_on_the_next_call() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let key = srv.service_key().to_owned();
    write(
        &dir,
        "hot/index.js",
        "let calls = 0; exports.main = async () => ({ v: 1, calls: ++calls })",
    );
    assert_eq!(
        result(&srv, "hot", &key, json!({})).await,
        json!({"v": 1, "calls": 1})
    );
    assert_eq!(
        result(&srv, "hot", &key, json!({})).await,
        json!({"v": 1, "calls": 2}),
        "warm instance keeps module state"
    );
    write(
        &dir,
        "hot/index.js",
        "exports.main = async () => ({ v: 2, lib: require('./lib').name })",
    );
    write(&dir, "hot/lib.js", "exports.name = 'lib v1'");
    assert_eq!(
        result(&srv, "hot", &key, json!({})).await,
        json!({"v": 2, "lib": "lib v1"})
    );
    write(&dir, "hot/lib.js", "exports.name = 'lib v2'");
    assert_eq!(
        result(&srv, "hot", &key, json!({})).await,
        json!({"v": 2, "lib": "lib v2"})
    );
    write(
        &dir,
        "hot/index.js",
        "exports.main = async () => {\n  return oops(\n}\n",
    );
    let body = expect_error(
        call(&srv, "hot", &key, json!({})).await,
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("failed to load")
            && msg.contains("SyntaxError")
            && msg.contains("hot/index.js:"),
        "{msg}"
    );
    write(
        &dir,
        "hot/index.js",
        "exports.main = async () => ({ v: 3 })",
    );
    assert_eq!(result(&srv, "hot", &key, json!({})).await, json!({"v": 3}));
    std::fs::remove_dir_all(dir.join("hot")).unwrap();
    expect_error(call(&srv, "hot", &key, json!({})).await, 404, "NOT_FOUND").await;
    srv.stop().await;
}

#[tokio::test]
async fn timer_trigger_fires_once_per_tick() {
    let (_tmp, dir) = fixtures();
    write(
        &dir,
        "tick/index.js",
        "const cloud = require('wx-server-sdk'); const db = cloud.database();
         exports.main = async (event) => { await db.collection('ticks').add({ data: { time: event.Time, trigger: event.TriggerName, source: cloud.getWXContext().SOURCE } }) }",
    );
    write(
        &dir,
        "tick/config.json",
        r#"{"triggers": [{"name": "everySecond", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    let srv = start(&dir).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Renaming the trigger's schedule file mid-way must not double-fire a tick.
    write(
        &dir,
        "tick/config.json",
        r#"{"timeout": 3, "triggers": [{"name": "everySecond", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let res = srv
        .http()
        .post(srv.url("/api/db/ticks/query"))
        .bearer_auth(srv.service_key())
        .json(&json!({"orderBy": [["time", "asc"]], "limit": 100}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let docs = body["data"].as_array().unwrap();
    let mut times: Vec<&str> = docs.iter().map(|d| d["time"].as_str().unwrap()).collect();
    let n = times.len();
    times.dedup();
    assert_eq!(times.len(), n, "a tick fired twice: {body}");
    assert!((3..=6).contains(&n), "{n} runs in ~5 s: {body}");
    assert_eq!(docs[0]["trigger"], "everySecond");
    assert_eq!(docs[0]["source"], "wx_trigger");
    srv.stop().await;
}

#[tokio::test]
async fn fetch_cannot_reach_the_server_itself_unless_allowed() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let key = srv.service_key().to_owned();
    let own = srv.url("/api/health");
    let r = result(&srv, "net", &key, json!({"url": own})).await;
    assert_eq!(r["code"], "PERMISSION_DENIED", "{r}");
    let port = url_port(&own);
    for url in [
        format!("http://localhost:{port}/api/health"),
        "http://169.254.169.254/latest/meta-data/".into(),
        format!("http://[::1]:{port}/"),
    ] {
        let r = result(&srv, "net", &key, json!({"url": url})).await;
        assert_eq!(r["code"], "PERMISSION_DENIED", "{url}: {r}");
    }
    srv.stop().await;
    let d = dir.clone();
    let srv = TestServer::builder()
        .config(move |c| {
            c.functions.dir = d;
            c.functions.http_allow = vec!["127.0.0.1".into()];
        })
        .start()
        .await;
    let r = result(
        &srv,
        "net",
        srv.service_key(),
        json!({"url": srv.url("/api/health")}),
    )
    .await;
    assert_eq!(r["status"], 200, "{r}");
    assert!(r["body"].as_str().unwrap().contains("ok"), "{r}");
    srv.stop().await;
}

fn url_port(url: &str) -> u16 {
    url.split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn http_trigger_speaks_cloudbase_http_access() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let res = srv
        .http()
        .get(srv.url("/fn/web/hello?name=mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(res.headers()["x-fn"], "web");
    let cookies: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.text().await.unwrap(), "<h1>hi mini</h1>");
    let res = srv
        .http()
        .put(srv.url("/fn/web/echo?a=1&b=two%20words"))
        .header("content-type", "application/json")
        .body(r#"{"k":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let echo: Value = res.json().await.unwrap();
    assert_eq!(
        echo,
        json!({"method": "PUT", "path": "/echo", "query": {"a": "1", "b": "two words"}, "contentType": "application/json", "body": "{\"k\":1}", "isBase64Encoded": false})
    );
    let res = srv
        .http()
        .post(srv.url("/fn/web/echo"))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8, 255, 1])
        .send()
        .await
        .unwrap();
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["isBase64Encoded"], true);
    assert_eq!(echo["body"], "AP8B");
    let res = srv
        .http()
        .get(srv.url("/fn/web/text"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.text().await.unwrap(), "plain text");
    let res = srv.http().get(srv.url("/fn/web/png")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &[137, 80, 78, 71]);
    let res = srv
        .http()
        .get(srv.url("/fn/web/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "no route /missing"})
    );
    let res = srv.http().get(srv.url("/fn/web")).send().await.unwrap();
    assert_eq!(res.status(), 404, "path '/' reaches the function too");
    expect_error(
        srv.http().get(srv.url("/fn/web/bad")).send().await.unwrap(),
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    expect_error(
        srv.http().get(srv.url("/fn/nope/x")).send().await.unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        srv.http().get(srv.url("/fn/boom")).send().await.unwrap(),
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn files_from_a_function_are_served_by_the_storage_area() {
    let (_tmp, dir) = fixtures();
    let srv = start(&dir).await;
    let key = srv.service_key().to_owned();
    let r = result(
        &srv,
        "files",
        &key,
        json!({"name": "daily", "text": "日报 ok"}),
    )
    .await;
    assert_eq!(r["fileID"], "mb://reports/daily.txt");
    assert_eq!(r["status"], 0);
    assert_eq!(r["text"], "日报 ok");
    // The temporary URL is signed by the storage area and serves the bytes.
    let url = r["url"].as_str().unwrap();
    let path = &url[url.find("/storage/").unwrap()..];
    let res = srv.http().get(srv.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "日报 ok");
    let r = result(
        &srv,
        "files",
        &key,
        json!({"name": "gone", "text": "x", "remove": true}),
    )
    .await;
    assert_eq!(r["deleted"], 0);
    let url = r["url"].as_str().unwrap();
    let res = srv
        .http()
        .get(srv.url(&url[url.find("/storage/").unwrap()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    srv.stop().await;
}

#[tokio::test]
async fn open_apis_and_message_push_reach_functions() {
    use testkit::fake_wechat::{FakeWechat, FakeWechatOptions};
    const TOKEN: &str = "pushTokenForFunctions";
    const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let fake = FakeWechat::start_with(FakeWechatOptions {
        appid: "wxfunctionswechat".into(),
        ..Default::default()
    })
    .await;
    let (_tmp, dir) = fixtures();
    let (url, secret, d) = (fake.url(), fake.secret(), dir.clone());
    let srv = TestServer::builder()
        .config(move |c| {
            c.functions.dir = d;
            c.wechat.api_base = url;
            c.wechat.appid = "wxfunctionswechat".into();
            c.wechat.secret = config::Secret::new(secret);
            c.wechat.push_token = config::Secret::new(TOKEN);
            c.wechat.push_aes_key = config::Secret::new(AES);
            c.wechat.push_function = "onpush".into();
        })
        .start()
        .await;
    let user = srv.user_token("o-wx").await;
    let r = result(&srv, "wx", &user, json!({"text": "你好"})).await;
    assert_eq!(r["suggest"], "pass", "{r}");
    assert_eq!(r["errCode"], 0);
    assert_eq!(r["errMsg"], "openapi.security.msgSecCheck:ok");
    assert_eq!(
        r["sent"]["errCode"], 43101,
        "not subscribed yet: WeChat's errcode reaches the function: {r}"
    );
    fake.grant_subscription("o-wx", "TPL", 1);
    let r = result(&srv, "wx", &user, json!({"text": "fake-risky-word"})).await;
    assert_eq!(r["suggest"], "risky");
    assert_eq!(r["sent"]["errCode"], 0, "{r}");
    let sent = fake.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["template_id"], "TPL");
    assert_eq!(sent[0]["touser"], "o-wx");
    assert_eq!(sent[0]["data"]["thing1"]["value"], "ok");

    // A plain-mode message push reaches wechat.push_function.
    let ts = (mb_core::now_ms() / 1000).to_string();
    let crypto = wechat::PushCrypto::new(TOKEN, AES, "wxfunctionswechat").unwrap();
    let sig = crypto.signature(&ts, "n1");
    let msg = json!({"ToUserName": "gh_x", "FromUserName": "o-sender", "CreateTime": 1, "MsgType": "text", "Content": "在吗", "MsgId": 1}).to_string();
    let res = srv
        .http()
        .post(srv.url("/api/wechat/push"))
        .query(&[
            ("signature", sig.as_str()),
            ("timestamp", ts.as_str()),
            ("nonce", "n1"),
            ("openid", "o-sender"),
        ])
        .body(msg)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "success");
    let deadline = Instant::now() + Duration::from_secs(5);
    let docs = loop {
        let docs = srv
            .state()
            .db()
            .query(
                &mb_core::Caller::System,
                "pushes",
                &docdb::QueryRequest::default(),
            )
            .await
            .unwrap();
        if !docs.is_empty() || Instant::now() > deadline {
            break docs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(docs.len(), 1, "the push function ran once");
    assert_eq!(docs[0]["from"], "o-sender");
    assert_eq!(docs[0]["content"], "在吗");
    assert_eq!(docs[0]["openid"], "o-sender");
    assert_eq!(docs[0]["source"], "wx_message");
    srv.stop().await;
}

#[tokio::test]
async fn pay_from_a_function_and_its_notification_into_a_function() {
    use testkit::fake_pay::{FakeWechatPay, SignMode};
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let keys = tempfile::tempdir().unwrap();
    let (_tmp, dir) = fixtures();
    let srv = TestServer::builder()
        .config(|c| {
            c.wechat.appid = fake.appid().into();
            fake.configure(
                c,
                keys.path(),
                "https://api.example.com/api/pay/wechat/notify",
            );
            c.functions.dir = dir.clone();
            c.wechat_pay.notify_function = "paid".into();
        })
        .start()
        .await;
    fake.redirect_notifications_to(&srv.url(""));
    let user = srv.user_token("o-payer-fn").await;
    let r = result(&srv, "shop", &user, json!({"no": "FN0000001"})).await;
    assert_eq!(r["out_trade_no"], "FN0000001");
    assert_eq!(r["state"], "NOTPAY");
    assert_eq!(r["payment"]["signType"], "RSA");
    assert!(
        r["payment"]["package"]
            .as_str()
            .unwrap()
            .starts_with("prepay_id=")
    );
    let deliveries = fake.pay("FN0000001").await;
    assert_eq!(deliveries[0].status, 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    let docs = loop {
        let docs = srv
            .state()
            .db()
            .query(
                &mb_core::Caller::System,
                "deliveries",
                &docdb::QueryRequest::default(),
            )
            .await
            .unwrap();
        if !docs.is_empty() || Instant::now() > deadline {
            break docs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["kind"], "PAID");
    assert_eq!(docs[0]["no"], "FN0000001");
    assert_eq!(docs[0]["state"], "SUCCESS");
    assert_eq!(docs[0]["openid"], "o-payer-fn");
    assert_eq!(docs[0]["source"], "wx_paycallback");
    srv.stop().await;
}
