//! The migration suite: CloudBase-style functions (`tests/fixtures/migration/`, written as real
//! projects write them) copied unchanged into `functions.dir` and run through HTTP on both
//! runtimes — QuickJS (the default) and Node.js (`[functions] runtime = "node"`) — with the same
//! calls and the same expected answers. Upstreams are testkit's fake WeChat and WeChat Pay and a
//! loopback fake of Tencent Cloud's SMS API.

use crate::functions_node::fake_sms;
use crate::util::expect_error;
use serde_json::{Value, json};
use std::path::Path;
use testkit::TestServer;
use testkit::fake_pay::{FakeWechatPay, SignMode};
use testkit::fake_wechat::{FakeWechat, FakeWechatOptions};

/// Cases needing transactions, aggregation and geo queries (issue #17): set to `false` once
/// `db.runTransaction`, `aggregate()` and `db.Geo` land.
const PENDING_ON_17: bool = true;

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&src, &dst);
        } else if ty.is_file() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The suite's functions in a temp dir, with the npm packages `npm install` would put in the
/// functions' own `node_modules`.
fn functions_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let npm = fixtures.join("functions-npm/node_modules");
    assert!(
        npm.is_dir(),
        "scripts/test-deps.sh installs {}",
        npm.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    // Readable by the Node.js workers' user (`nobody`: tests run as root).
    std::fs::set_permissions(
        tmp.path(),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let dir = tmp.path().join("functions");
    copy_dir(&fixtures.join("migration"), &dir);
    for (f, pkg) in [
        ("router", "tcb-router"),
        ("dates", "dayjs"),
        ("lists", "lodash"),
    ] {
        copy_dir(&npm.join(pkg), &dir.join(f).join("node_modules").join(pkg));
    }
    // The SMS SDK and its dependency tree, as installed.
    copy_dir(&npm, &dir.join("sms/node_modules"));
    (tmp, dir)
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

async fn ok(srv: &TestServer, rt: &str, name: &str, token: &str, data: Value) -> Value {
    let res = call(srv, name, token, data).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "[{rt}] {name}: {body}");
    body["result"].clone()
}

/// Runs every case against one server; `rt` names the runtime in failures.
async fn suite(rt: &str, srv: &TestServer, wx: &FakeWechat, pay: &FakeWechatPay) {
    let alice = srv.user_token("o-mig-alice").await;
    let bob = srv.user_token("o-mig-bob").await;
    let key = srv.service_key().to_owned();
    let ok = |name: &'static str, token: &str, data: Value| {
        let token = token.to_owned();
        async move { ok(srv, rt, name, &token, data).await }
    };

    // login, callOther
    let r = ok("login", &alice, json!({"n": 1})).await;
    assert_eq!(
        r,
        json!({"event": {"n": 1}, "openid": "o-mig-alice", "appid": "wxmigration", "unionid": "", "env": "minibase"}),
        "[{rt}]"
    );
    let r = ok("callOther", &bob, json!({"n": 7})).await;
    assert_eq!(r, json!({"viaLogin": "o-mig-bob", "n": 7}), "[{rt}]");

    // counter
    for n in 1..=3 {
        assert_eq!(
            ok("counter", &alice, json!({"name": "visits"})).await["count"],
            n,
            "[{rt}]"
        );
    }

    // todos: add, page, update, remove (owner checks)
    let mut ids = Vec::new();
    for (title, rank) in [("c", 3), ("a", 1), ("b", 2)] {
        let r = ok("addTodo", &alice, json!({"title": title, "rank": rank})).await;
        assert_eq!(r["ok"], true, "[{rt}] {r}");
        ids.push(r["_id"].as_str().unwrap().to_owned());
    }
    ok("addTodo", &bob, json!({"title": "bob's", "rank": 0})).await;
    let p1 = ok("listTodos", &alice, json!({"page": 1, "size": 2})).await;
    assert_eq!(
        p1,
        json!({"total": 3, "pages": 2, "titles": ["a", "b"], "hasId": true}),
        "[{rt}]"
    );
    let p2 = ok("listTodos", &alice, json!({"page": 2, "size": 2})).await;
    assert_eq!(p2["titles"], json!(["c"]), "[{rt}]");
    assert_eq!(
        ok("updateTodo", &bob, json!({"id": ids[0]})).await["updated"],
        0,
        "[{rt}]"
    );
    assert_eq!(
        ok("updateTodo", &alice, json!({"id": ids[0]})).await["updated"],
        1,
        "[{rt}]"
    );
    assert_eq!(
        ok("removeTodo", &bob, json!({"id": ids[1]})).await["removed"],
        0,
        "[{rt}]"
    );
    assert_eq!(
        ok("removeTodo", &alice, json!({"id": ids[1]})).await["removed"],
        1,
        "[{rt}]"
    );
    assert_eq!(
        ok("listTodos", &alice, json!({})).await["total"],
        2,
        "[{rt}]"
    );

    // leaderboard
    assert_eq!(
        ok("submitScore", &alice, json!({"score": 50, "nick": "A"})).await,
        50,
        "[{rt}]"
    );
    assert_eq!(
        ok("submitScore", &alice, json!({"score": 30, "nick": "A"})).await,
        50,
        "[{rt}]"
    );
    assert_eq!(
        ok("submitScore", &bob, json!({"score": 70, "nick": "B"})).await,
        70,
        "[{rt}]"
    );
    let top = ok("leaderboard", &bob, json!({"top": 2})).await;
    assert_eq!(
        top,
        json!([{"rank": 1, "nick": "B", "best": 70}, {"rank": 2, "nick": "A", "best": 50}]),
        "[{rt}]"
    );

    // orders without overselling
    ok("createOrder", &key, json!({"sku": "cup", "init": 3})).await;
    let r = ok("createOrder", &alice, json!({"sku": "cup", "qty": 2})).await;
    assert_eq!(r, json!({"ok": true, "orderId": true, "left": 1}), "[{rt}]");
    let r = ok("createOrder", &bob, json!({"sku": "cup", "qty": 2})).await;
    assert_eq!(r, json!({"ok": false, "reason": "sold out"}), "[{rt}]");

    // profile (set + partial update of a nested object), search, tags, batch
    ok("profile", &alice, json!({"nick": "Alice"})).await;
    let r = ok("profile", &alice, json!({"theme": "dark"})).await;
    assert_eq!(
        r,
        json!({"nick": "Alice", "level": 2, "settings": {"theme": "dark", "lang": "zh"}}),
        "[{rt}]"
    );
    ok("search", &key, json!({"seed": true})).await;
    assert_eq!(
        ok("search", &key, json!({"kw": "云"})).await,
        json!(["云开发入门", "小程序云函数实战"]),
        "[{rt}]"
    );
    assert_eq!(
        ok("search", &key, json!({"kw": "minibase"})).await,
        json!(["Minibase 迁移"]),
        "[{rt}]"
    );
    ok("tags", &key, json!({"id": 1, "create": true})).await;
    ok("tags", &key, json!({"id": 1, "add": "red"})).await;
    ok("tags", &key, json!({"id": 1, "add": "red"})).await;
    let tags = ok("tags", &key, json!({"id": 1, "add": "blue"})).await;
    assert_eq!(tags, json!(["red", "blue"]), "[{rt}]");
    assert_eq!(
        ok("tags", &key, json!({"id": 1, "remove": "red"})).await,
        json!(["blue"]),
        "[{rt}]"
    );
    let r = ok(
        "batchAdd",
        &key,
        json!({"items": [3, 1, 2], "group": format!("g-{rt}")}),
    )
    .await;
    assert_eq!(r, json!({"xs": [1, 2, 3], "total": 3}), "[{rt}]");

    // timer-triggered cleanup (called with the timer event, as the trigger does)
    ok("cleanup", &key, json!({"seed": true})).await;
    let r = ok(
        "cleanup",
        &key,
        json!({"Type": "Timer", "TriggerName": "nightly"}),
    )
    .await;
    assert_eq!(r, json!({"type": "Timer", "removed": 2}), "[{rt}]");

    // files, open APIs, cloudPay
    let r = ok(
        "upload",
        &alice,
        json!({"name": format!("a-{rt}"), "text": "头像"}),
    )
    .await;
    assert_eq!(r["fileID"], format!("mb://avatars/a-{rt}.txt"), "[{rt}]");
    assert_eq!(
        (
            r["hasUrl"].as_bool(),
            r["text"].as_str(),
            r["deleted"].as_i64()
        ),
        (Some(true), Some("头像"), Some(0)),
        "[{rt}] {r}"
    );
    assert_eq!(
        ok("contentCheck", &alice, json!({"text": "你好"})).await,
        json!({"pass": true, "errCode": 0}),
        "[{rt}]"
    );
    assert_eq!(
        ok("contentCheck", &alice, json!({"text": "fake-risky-word"})).await,
        json!({"pass": false, "errCode": 87014}),
        "[{rt}]"
    );
    assert_eq!(
        ok("notify", &alice, json!({"id": "A1", "name": "杯子"})).await,
        json!({"sent": false, "errCode": 43101}),
        "[{rt}]"
    );
    wx.grant_subscription("o-mig-alice", "TPL_SHIP", 1);
    assert_eq!(
        ok("notify", &alice, json!({"id": "A1", "name": "杯子"})).await,
        json!({"sent": true}),
        "[{rt}]"
    );
    let r = ok("shareCode", &key, json!({"id": format!("s-{rt}")})).await;
    assert_eq!(
        r,
        json!({"fileID": format!("mb://qrcode/s-{rt}.png"), "contentType": "image/png", "png": "PNG"}),
        "[{rt}]"
    );
    assert_eq!(
        ok("shareLink", &key, json!({"id": 9})).await,
        json!({"link": true, "scheme": true}),
        "[{rt}]"
    );
    let no = format!("MIG{}", rt.to_uppercase());
    assert_eq!(
        ok("pay", &alice, json!({"no": no})).await,
        json!({"ok": true, "hasPayment": true}),
        "[{rt}]"
    );
    assert!(
        pay.prepay_id(&no).is_some(),
        "[{rt}] the order reached WeChat Pay"
    );

    // npm packages, Node-style code
    let r = ok("router", &alice, json!({"$url": "user"})).await;
    assert_eq!(
        r,
        json!({"route": "user", "openid": "o-mig-alice"}),
        "[{rt}]"
    );
    assert_eq!(
        ok("router", &alice, json!({"$url": "b"})).await,
        json!({"route": "b"}),
        "[{rt}]"
    );
    let r = ok("dates", &key, json!({"date": "2024-01-31"})).await;
    assert_eq!(
        r,
        json!({"next": "2024-02-29", "weekday": 3, "endOfMonth": 31}),
        "[{rt}]"
    );
    let users = json!([{"name": "a", "city": "sz", "age": 17}, {"name": "b", "city": "bj", "age": 40}, {"name": "c", "city": "sz", "age": 30}]);
    let r = ok("lists", &key, json!({"users": users})).await;
    assert_eq!(
        r,
        json!({"cities": ["bj", "sz"], "oldest": "b", "names": ["b", "c"]}),
        "[{rt}]"
    );
    let r = ok("sign", &key, json!({"params": {"b": 2, "a": 1}})).await;
    assert_eq!(r["md5"], "72AAE3161ACDF7BADD9A0FDE9125D758", "[{rt}] {r}");
    assert_eq!(r["nonce"], 32);
    let r = ok("envConfig", &key, json!({})).await;
    assert_eq!(
        r,
        json!({"region": "ap-shanghai", "shop": "小店", "missing": true}),
        "[{rt}]"
    );
    let r = ok("buffers", &key, json!({"text": "云"})).await;
    assert_eq!(
        r,
        json!({"b64": "5LqR", "hex": "6d696e69", "back": "云", "len": 3, "json": [1, 2]}),
        "[{rt}]"
    );
    let r = ok("asyncFlow", &key, json!({})).await;
    assert_eq!(
        r,
        json!({"results": ["a", "b", "c"], "race": "fast", "waited": true, "budget": true}),
        "[{rt}]"
    );
    let r = ok("nodeSdk", &bob, json!({"key": "k1", "v": 42})).await;
    assert_eq!(r, json!({"v": 42, "openid": "o-mig-bob"}), "[{rt}]");
    let r = ok(
        "withLib",
        &key,
        json!({"items": [{"price": 100, "qty": 2}, {"price": 50, "qty": 1}]}),
    )
    .await;
    assert_eq!(r, json!({"name": "小店", "total": 225}), "[{rt}]");
    let res = call(srv, "fails", &key, json!({})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    assert_eq!(
        body["error"]["message"], "Error: 参数 id 不能为空",
        "[{rt}]"
    );

    // SMS through Tencent Cloud's npm SDK (Node's http, stream, url… on both runtimes)
    let (endpoint, mut seen) = fake_sms().await;
    let r = ok(
        "sms",
        &key,
        json!({"endpoint": endpoint, "phone": "13800000000", "code": "1234"}),
    )
    .await;
    assert_eq!(r, json!({"code": "Ok"}), "[{rt}]");
    let (_, body) = seen.recv().await.unwrap();
    assert!(body.contains("+8613800000000"), "[{rt}] {body}");

    // HTTP access: the trigger and [functions.routes]
    let res = srv
        .http()
        .post(srv.url("/fn/httpApi/orders?x=1"))
        .body(r#"{"a":1}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "[{rt}]");
    assert_eq!(res.headers()["x-path"], "/orders");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"got": {"a": 1}, "q": {"x": "1"}}), "[{rt}]");
    let body: Value = srv
        .http()
        .get(srv.url("/api/products?page=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"page": 2, "items": ["p3", "p4"]}), "[{rt}]");
    let body: Value = srv
        .http()
        .get(srv.url("/api/products/77"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"id": "77", "name": "product 77"}), "[{rt}]");
    let res = srv
        .http()
        .post(srv.url("/register"))
        .body(r#"{"phone":"13800000000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"ok": true, "id": true}),
        "[{rt}]"
    );
    let res = srv
        .http()
        .post(srv.url("/register"))
        .body(r#"{"phone":"12"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "[{rt}]");
    assert_eq!(
        srv.http()
            .get(srv.url("/register"))
            .send()
            .await
            .unwrap()
            .status(),
        405,
        "[{rt}]"
    );

    // Transactions, aggregation, geo: issue #17.
    if PENDING_ON_17 {
        eprintln!("[{rt}] payOrderTx, salesStats, nearby: pending on issue #17");
    } else {
        let r = ok("payOrderTx", &alice, json!({"amount": 1})).await;
        assert_eq!(r, json!({"paid": 1}), "[{rt}]");
        let r = ok("salesStats", &key, json!({})).await;
        assert_eq!(r, json!([{"_id": "cup", "qty": 2}]), "[{rt}]");
        assert_eq!(
            ok("nearby", &key, json!({"lng": 113.9, "lat": 22.5})).await,
            0,
            "[{rt}]"
        );
    }
}

async fn run(rt: &'static str) {
    let wx = FakeWechat::start_with(FakeWechatOptions {
        appid: "wxmigration".into(),
        ..Default::default()
    })
    .await;
    let pay = FakeWechatPay::start(SignMode::PublicKey).await;
    let keys = tempfile::tempdir().unwrap();
    let (_tmp, dir) = functions_folder();
    let (url, secret) = (wx.url(), wx.secret());
    let srv = TestServer::builder()
        .config(|c| {
            pay.configure(
                c,
                keys.path(),
                "https://api.example.com/api/pay/wechat/notify",
            );
            c.wechat.appid = "wxmigration".into();
            c.wechat.api_base = url;
            c.wechat.secret = config::Secret::new(secret);
            c.functions.dir = dir.clone();
            c.functions.runtime = rt.into();
            // The SMS fake is on loopback, which QuickJS's fetch refuses unless listed.
            c.functions.http_allow = vec!["127.0.0.1".into()];
            c.functions
                .env
                .insert("REGION".into(), config::Secret::new("ap-shanghai"));
            c.functions
                .routes
                .insert("/api/products".into(), "products".into());
            c.functions
                .routes
                .insert("/register".into(), "register".into());
        })
        .start()
        .await;
    suite(rt, &srv, &wx, &pay).await;
    srv.stop().await;
}

#[tokio::test]
async fn migration_suite_on_quickjs() {
    run("quickjs").await;
}

#[tokio::test]
async fn migration_suite_on_node() {
    run("node").await;
}
