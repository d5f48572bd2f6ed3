//! Cloud functions on the Node.js runtime (`config.json` `"runtime": "Nodejs18.15"`): the same
//! HTTP API, event, context, SDK and limits as QuickJS, in supervised Node worker processes.
//! Node is found on PATH (scripts/test-deps.sh installs it).

use crate::util::expect_error;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::TestServer;

/// A functions folder readable by the workers' lower-privileged user (tests run as root).
fn folder() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("functions");
    std::fs::create_dir_all(&dir).unwrap();
    (tmp, dir)
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const NODE: &str = r#"{"runtime": "Nodejs18.15"}"#;

async fn start(dir: &Path, f: impl FnOnce(&mut config::Config) + Send + 'static) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::builder()
        .config(move |c| {
            c.functions.dir = dir;
            c.wechat.appid = "wxnodetest".into();
            f(c);
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
async fn a_cloudbase_function_runs_unchanged_on_node() {
    let (_tmp, dir) = folder();
    write(
        &dir,
        "orders/config.json",
        r#"{"runtime": "Nodejs18.15", "envVariables": {"SHOP": "from-config"}}"#,
    );
    write(
        &dir,
        "orders/index.js",
        r#"
const cloud = require('wx-server-sdk')
cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV })
const db = cloud.database()
const _ = db.command
const os = require('os')
const { helper } = require('./lib/helper')
exports.main = async (event, context) => {
  const { OPENID, APPID, SOURCE } = cloud.getWXContext()
  console.log('order for', OPENID, { n: event.n })
  const { _id } = await db.collection('orders').add({ data: { _openid: OPENID, n: event.n, at: new Date(1700000000000), createdAt: db.serverDate() } })
  await db.collection('orders').doc(_id).update({ data: { n: _.inc(1), tags: _.push(['new']) } })
  const got = await db.collection('orders').doc(_id).get()
  const { total } = await db.collection('orders').where({ _openid: OPENID, n: _.gte(1) }).count()
  const other = await cloud.callFunction({ name: 'quick', data: { x: 2 } })
  return {
    node: process.version, uid: process.getuid(), cwd: process.cwd(), platform: os.platform(),
    OPENID, APPID, SOURCE, userInfo: event.userInfo, requestId: context.request_id,
    fn: context.function_name, remaining: context.getRemainingTimeInMillis() > 0,
    doc: got.data, isDate: got.data.at instanceof Date, total, other: other.result,
    env: Object.keys(process.env).sort(), SHOP: process.env.SHOP, REGION: process.env.REGION,
    SECRET: process.env.SMS_SECRET, helper: helper(),
  }
}
"#,
    );
    write(
        &dir,
        "orders/lib/helper.js",
        "exports.helper = () => 'helped'\n",
    );
    write(
        &dir,
        "quick/index.js",
        "const cloud = require('wx-server-sdk')\nexports.main = async (e) => ({ doubled: e.x * 2, source: cloud.getWXContext().SOURCE, engine: typeof process.versions.node })\n",
    );
    let srv = start(&dir, |c| {
        c.functions
            .env
            .insert("REGION".into(), config::Secret::new("ap-shanghai"));
        c.functions
            .env
            .insert("SHOP".into(), config::Secret::new("from-toml"));
        let mut o = config::FunctionOverrides::default();
        o.env
            .insert("SMS_SECRET".into(), config::Secret::new("only-orders"));
        c.functions.per_function.insert("orders".into(), o);
    })
    .await;
    let alice = srv.user_token("o-alice").await;
    let r = result(&srv, "orders", &alice, json!({"n": 1})).await;
    assert!(r["node"].as_str().unwrap().starts_with('v'), "{r}");
    assert_ne!(r["uid"], 0, "workers of a root server run as nobody");
    assert!(
        r["cwd"].as_str().unwrap().ends_with("/functions/orders"),
        "{r}"
    );
    assert_eq!(r["platform"], "linux");
    assert_eq!(r["OPENID"], "o-alice");
    assert_eq!(r["APPID"], "wxnodetest");
    assert_eq!(r["SOURCE"], "wx_client");
    assert_eq!(
        r["userInfo"],
        json!({"appId": "wxnodetest", "openId": "o-alice"})
    );
    assert_eq!(r["fn"], "orders");
    assert_eq!(r["remaining"], true);
    assert_eq!(r["doc"]["n"], 2);
    assert_eq!(r["doc"]["tags"], json!(["new"]));
    assert_eq!(r["doc"]["at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(r["isDate"], true);
    assert_eq!(r["total"], 1);
    // A QuickJS function called from a Node one.
    assert_eq!(
        r["other"],
        json!({"doubled": 4, "source": "wx_client,scf", "engine": "string"})
    );
    // A clean environment: the function's variables over [functions.env], nothing of ours.
    assert_eq!(r["SHOP"], "from-config");
    assert_eq!(r["REGION"], "ap-shanghai");
    assert_eq!(r["SECRET"], "only-orders");
    assert_eq!(
        r["env"],
        json!(["HOME", "LANG", "PATH", "REGION", "SHOP", "SMS_SECRET"])
    );
    assert_eq!(r["helper"], "helped");
    // The document is in the database, as the HTTP API serves it.
    let doc_id = r["doc"]["_id"].as_str().unwrap();
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/orders/docs/{doc_id}")))
        .bearer_auth(srv.service_key())
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["at"], json!({"$date": 1_700_000_000_000i64}));
    // Warm: the second call reuses the worker (module state persists).
    let r2 = result(&srv, "orders", &alice, json!({"n": 5})).await;
    assert_eq!(r2["total"], 2);
    srv.stop().await;
}

#[tokio::test]
async fn a_dying_or_hanging_worker_is_replaced_and_its_call_answered() {
    let (_tmp, dir) = folder();
    write(
        &dir,
        "fragile/config.json",
        r#"{"runtime": "node", "timeout": 2, "memorySize": 32}"#,
    );
    write(
        &dir,
        "fragile/index.js",
        r#"
let calls = 0
exports.main = async (event) => {
  calls += 1
  if (event.do === 'exit') process.exit(3)
  if (event.do === 'spin') { for (;;) {} }
  if (event.do === 'bomb') { const a = []; for (;;) a.push(new Array(100000).fill(calls)) }
  if (event.do === 'throw') throw new TypeError('bad input ' + event.n)
  if (event.do === 'nothing') return event.undef ? undefined : null
  if (event.do === 'late') { setTimeout(() => { throw new Error('from a timer') }, 10); return new Promise(() => {}) }
  return { calls, pid: process.pid }
}
"#,
    );
    let srv = start(&dir, |_| {}).await;
    let key = srv.service_key().to_owned();
    let first = result(&srv, "fragile", &key, json!({})).await;
    assert_eq!(first["calls"], 1);
    for undef in [false, true] {
        let r = result(
            &srv,
            "fragile",
            &key,
            json!({"do": "nothing", "undef": undef}),
        )
        .await;
        assert_eq!(r, Value::Null);
    }
    let res = call(&srv, "fragile", &key, json!({"do": "throw", "n": 7})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    assert_eq!(body["error"]["message"], "TypeError: bad input 7");
    // A thrown error keeps the worker (and its state: this is its fifth call).
    let again = result(&srv, "fragile", &key, json!({})).await;
    assert_eq!(
        (&again["pid"], again["calls"].as_i64()),
        (&first["pid"], Some(5))
    );
    let res = call(&srv, "fragile", &key, json!({"do": "late"})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    assert_eq!(body["error"]["message"], "Error: from a timer");

    let res = call(&srv, "fragile", &key, json!({"do": "exit"})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("worker process died") && msg.contains("exit code 3"),
        "{msg}"
    );
    let after = result(&srv, "fragile", &key, json!({})).await;
    assert_eq!(after["calls"], 1, "a new worker");
    assert_ne!(after["pid"], first["pid"]);

    let started = std::time::Instant::now();
    let res = call(&srv, "fragile", &key, json!({"do": "spin"})).await;
    expect_error(res, 504, "DEADLINE_EXCEEDED").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(result(&srv, "fragile", &key, json!({})).await["calls"], 1);

    let res = call(&srv, "fragile", &key, json!({"do": "bomb"})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("memory limit of 32 MiB"), "{msg}");
    assert_eq!(result(&srv, "fragile", &key, json!({})).await["calls"], 1);
    // The server itself is fine.
    let res = srv.http().get(srv.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn node_functions_reload_keep_their_own_sdk_and_name_bad_runtimes() {
    let (_tmp, dir) = folder();
    write(&dir, "edit/config.json", NODE);
    write(
        &dir,
        "edit/index.js",
        "const v = require('./v')\nexports.main = async () => ({ v })\n",
    );
    write(&dir, "edit/v.js", "module.exports = 1\n");
    write(&dir, "own/config.json", NODE);
    write(
        &dir,
        "own/index.js",
        "const sdk = require('wx-server-sdk')\nexports.main = async () => ({ own: sdk.own === true, builtin: typeof sdk.database })\n",
    );
    write(
        &dir,
        "own/node_modules/wx-server-sdk/index.js",
        "exports.own = true\n",
    );
    write(&dir, "py/config.json", r#"{"runtime": "Python3.9"}"#);
    write(&dir, "py/index.js", "exports.main = async () => 1\n");
    write(&dir, "broken/config.json", NODE);
    write(
        &dir,
        "broken/index.js",
        "const x = require('./missing')\nexports.main = async () => x\n",
    );
    let srv = start(&dir, |_| {}).await;
    let key = srv.service_key().to_owned();
    assert_eq!(result(&srv, "edit", &key, json!({})).await["v"], 1);
    // A file it required changed: the next call runs the new version.
    tokio::time::sleep(Duration::from_millis(20)).await;
    write(&dir, "edit/v.js", "module.exports = 22\n");
    assert_eq!(result(&srv, "edit", &key, json!({})).await["v"], 22);
    assert_eq!(
        result(&srv, "own", &key, json!({})).await,
        json!({"own": true, "builtin": "undefined"})
    );
    let res = call(&srv, "py", &key, json!({})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Python3.9"),
        "{body}"
    );
    let res = call(&srv, "broken", &key, json!({})).await;
    let body = expect_error(res, 502, "UPSTREAM_ERROR").await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("failed to load") && msg.contains("./missing"),
        "{msg}"
    );
    // Fixing the file fixes the function.
    write(&dir, "broken/missing.js", "module.exports = 'found'\n");
    assert_eq!(result(&srv, "broken", &key, json!({})).await, "found");
    srv.stop().await;
}

#[tokio::test]
async fn runtime_node_by_default_and_a_missing_node_stops_the_start() {
    let (_tmp, dir) = folder();
    write(
        &dir,
        "plain/index.js",
        "exports.main = async () => typeof require('fs').readFileSync\n",
    );
    let srv = start(&dir, |c| c.functions.runtime = "node".into()).await;
    let key = srv.service_key().to_owned();
    assert_eq!(result(&srv, "plain", &key, json!({})).await, "function");
    srv.stop().await;
    let mut cfg = config::Config::default();
    cfg.functions.runtime = "node".into();
    cfg.functions.node_path = "/nonexistent/node".into();
    let err = functions::Functions::new(
        functions::Settings::from_config(&cfg),
        functions::Services::default(),
    )
    .err()
    .unwrap();
    assert!(err.contains("node_path"), "{err}");
}

#[tokio::test]
async fn functions_routes_mount_http_triggers_at_chosen_paths() {
    let (_tmp, dir) = folder();
    let echo = "exports.main = async (event) => ({ statusCode: 200, headers: { 'x-fn': NAME }, body: { path: event.path, method: event.httpMethod, q: event.queryStringParameters, body: event.body, openid: require('wx-server-sdk').getWXContext().OPENID } })\n";
    write(
        &dir,
        "products/index.js",
        &echo.replace("NAME", "'products'"),
    );
    write(&dir, "register/config.json", NODE);
    write(
        &dir,
        "register/index.js",
        &echo.replace("NAME", "'register'"),
    );
    write(&dir, "root/index.js", &echo.replace("NAME", "'root'"));
    let srv = start(&dir, |c| {
        for (path, f) in [("/api/products", "products"), ("/register", "register")] {
            c.functions.routes.insert(path.into(), f.into());
        }
    })
    .await;
    let get = |path: &str| srv.http().get(srv.url(path)).send();
    let res = get("/api/products?page=2").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-fn"], "products");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["path"], "/api/products");
    assert_eq!(body["q"], json!({"page": "2"}));
    assert_eq!(body["openid"], "", "public, like /fn/{{name}}");
    let body: Value = get("/api/products/42").await.unwrap().json().await.unwrap();
    assert_eq!(body["path"], "/api/products/42");
    // Only the route and what is below it.
    let res = get("/api/productsx").await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    // A Node function behind a route, with a body.
    let res = srv
        .http()
        .post(srv.url("/register"))
        .header("content-type", "application/json")
        .body(r#"{"phone":"138"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-fn"], "register");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["method"].as_str(), body["body"].as_str()),
        (Some("POST"), Some(r#"{"phone":"138"}"#))
    );
    // Minibase's own routes are unaffected, and unknown paths are still 404.
    assert_eq!(get("/api/health").await.unwrap().status(), 200);
    expect_error(get("/nowhere").await.unwrap(), 404, "NOT_FOUND").await;
    srv.stop().await;
    // A configuration routing onto Minibase's own paths is refused with the key named.
    let mut cfg = config::Config::default();
    cfg.functions
        .routes
        .insert("/api/db/x".into(), "products".into());
    let err = config::validate(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("functions.routes") && err.contains("/api/db"),
        "{err}"
    );
}

/// A one-shot fake of Tencent Cloud's SMS API on loopback: answers every request with a
/// `SendSms` success and hands each request's head and body to the test.
pub(crate) async fn fake_sms() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..20 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = s.read(&mut chunk).await else {
                    break (String::new(), String::new());
                };
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(at) = text.find("\r\n\r\n") {
                    let head = text[..at].to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= at + 4 + len {
                        break (
                            text[..at].to_string(),
                            text[at + 4..at + 4 + len].to_string(),
                        );
                    }
                }
            };
            let _ = tx.send((head, body));
            let answer = r#"{"Response":{"SendStatusSet":[{"SerialNo":"2640:1","PhoneNumber":"+8613800000000","Fee":1,"SessionContext":"","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"fake-request-1"}}"#;
            let res = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = s.write_all(res.as_bytes()).await;
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn npm_packages_work_on_node() {
    let npm =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functions-npm/node_modules");
    assert!(
        npm.is_dir(),
        "scripts/test-deps.sh installs {}",
        npm.display()
    );
    let (_tmp, dir) = folder();
    write(
        &dir,
        "npm/config.json",
        r#"{"runtime": "Nodejs18.15", "envVariables": {"SMS_ID": "AKIDfake", "SMS_KEY": "fake-key"}}"#,
    );
    std::os::unix::fs::symlink(&npm, dir.join("npm/node_modules")).unwrap();
    write(
        &dir,
        "npm/index.js",
        r#"
const cloud = require('wx-server-sdk')
const TcbRouter = require('tcb-router')
const axios = require('axios')
const rp = require('request-promise')
const dayjs = require('dayjs')
const _ = require('lodash')
const tencentcloud = require('tencentcloud-sdk-nodejs-sms')
exports.main = async (event) => {
  const app = new TcbRouter({ event })
  app.use(async (ctx, next) => { ctx.data = { openid: cloud.getWXContext().OPENID }; await next() })
  app.router('http', async (ctx) => {
    const a = await axios.get(event.url)
    const r = await rp({ uri: event.url, json: true })
    ctx.body = { axios: a.data.status, request: r.status }
  })
  app.router('pure', async (ctx) => {
    ctx.body = { day: dayjs('2024-02-28').add(1, 'day').format('YYYY-MM-DD'), chunks: _.chunk([1, 2, 3, 4, 5], 2), openid: ctx.data.openid }
  })
  app.router('sms', async (ctx) => {
    const Client = tencentcloud.sms.v20210111.Client
    const client = new Client({
      credential: { secretId: process.env.SMS_ID, secretKey: process.env.SMS_KEY },
      region: 'ap-guangzhou',
      profile: { httpProfile: { endpoint: event.endpoint, protocol: 'http://' } },
    })
    const r = await client.SendSms({ PhoneNumberSet: ['+8613800000000'], SmsSdkAppId: '1400000000', SignName: 'Minibase', TemplateId: '100', TemplateParamSet: ['1234'] })
    ctx.body = { code: r.SendStatusSet[0].Code, requestId: r.RequestId }
  })
  return app.serve()
}
"#,
    );
    // The packages stay in the checkout, which the default `nobody` may not be able to read
    // (a clone under /root): these workers keep the server's user.
    let srv = start(&dir, |c| c.functions.node_user = "root".into()).await;
    let alice = srv.user_token("o-npm").await;
    let r = result(&srv, "npm", &alice, json!({"$url": "pure"})).await;
    assert_eq!(
        r,
        json!({"day": "2024-02-29", "chunks": [[1, 2], [3, 4], [5]], "openid": "o-npm"})
    );
    let health = srv.url("/api/health");
    let r = result(&srv, "npm", &alice, json!({"$url": "http", "url": health})).await;
    assert_eq!(r, json!({"axios": "ok", "request": "ok"}));
    let (endpoint, mut seen) = fake_sms().await;
    let r = result(
        &srv,
        "npm",
        &alice,
        json!({"$url": "sms", "endpoint": endpoint}),
    )
    .await;
    assert_eq!(r, json!({"code": "Ok", "requestId": "fake-request-1"}));
    let (head, body) = seen.recv().await.unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-tc-action: sendsms"), "{head}");
    assert!(
        head.contains("authorization: tc3-hmac-sha256 credential=akidfake/"),
        "{head}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["TemplateParamSet"], json!(["1234"]));
    srv.stop().await;
}

/// The open APIs real CloudBase functions call, the same function on both runtimes.
const OPENAPIS_JS: &str = r#"
const cloud = require('wx-server-sdk')
cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV })
const settle = (p) => p.then((r) => r, (e) => ({ failed: true, errCode: e.errCode, code: e.code, message: e.message }))
exports.main = async (event) => {
  const { OPENID } = cloud.getWXContext()
  const o = cloud.openapi
  const out = {}
  out.oldCheck = await settle(o.security.msgSecCheck({ content: event.text }))
  out.v2Check = await settle(o.security.msgSecCheck({ content: event.text, version: 2, scene: 2, openid: OPENID }))
  out.added = await settle(o.subscribeMessage.addTemplate({ tid: '99', kidList: [1, 2], sceneDesc: 'order shipped' }))
  out.list = await settle(o.subscribeMessage.getTemplateList({}))
  out.categories = await settle(o.subscribeMessage.getCategory({}))
  out.deleted = await settle(o.subscribeMessage.deleteTemplate({ priTmplId: out.added.priTmplId }))
  out.deletedAgain = await settle(o.subscribeMessage.deleteTemplate({ priTmplId: out.added.priTmplId }))
  out.template = await settle(o.templateMessage.send({ touser: OPENID, templateId: 'T', formId: 'F', data: {} }))
  out.custom = await settle(o.customerServiceMessage.send({ touser: OPENID, msgtype: 'text', text: { content: '您好' } }))
  out.uniform = await settle(o.uniformMessage.send({ touser: OPENID, mpTemplateMsg: { appid: 'wxmp', templateId: 'T', url: 'https://x', miniprogram: { appid: 'wxmini', pagepath: 'index' }, data: {} } }))
  const code = await o.wxacode.get({ path: 'pages/index/index', width: 430 })
  const qr = await o.wxacode.createQRCode({ path: 'pages/index/index' })
  out.images = [code.contentType, code.buffer.length > 50, qr.contentType, Buffer.isBuffer(qr.buffer) || qr.buffer instanceof Uint8Array]
  out.scheme = await settle(o.urlscheme.generate({ jumpWxa: { path: 'pages/index/index', query: 'a=1', envVersion: 'release' }, isExpire: true, expireType: 1, expireInterval: 1 }))
  out.link = await settle(o.urllink.generate({ path: 'pages/index/index', query: 'a=1' }))
  out.invoked = await settle(o.invoke({ path: '/wxa/generate_urllink', data: { path: 'pages/a/a' } }))
  out.invokeBad = await settle(o.invoke({ path: '/cgi-bin/stable_token', data: {} }))
  out.unknown = await settle(o.nosuch.api({}))
  return out
}
"#;

#[tokio::test]
async fn the_rest_of_wx_server_sdk_openapi_on_both_runtimes() {
    use testkit::fake_wechat::{FakeWechat, FakeWechatOptions};
    let fake = FakeWechat::start_with(FakeWechatOptions {
        appid: "wxnodetest".into(),
        ..Default::default()
    })
    .await;
    let (_tmp, dir) = folder();
    write(&dir, "apisq/index.js", OPENAPIS_JS);
    write(&dir, "apisn/index.js", OPENAPIS_JS);
    write(&dir, "apisn/config.json", NODE);
    let (url, secret) = (fake.url(), fake.secret());
    let srv = start(&dir, move |c| {
        c.wechat.api_base = url;
        c.wechat.secret = config::Secret::new(secret);
    })
    .await;
    let user = srv.user_token("o-api").await;
    for (i, f) in ["apisq", "apisn"].into_iter().enumerate() {
        let r = result(&srv, f, &user, json!({"text": "fake-risky-word here"})).await;
        // The old form answers by errcode; the v2 one by verdict.
        assert_eq!(r["oldCheck"]["failed"], true, "{f}: {r}");
        assert_eq!(r["oldCheck"]["errCode"], 87014, "{f}: {r}");
        assert_eq!(r["v2Check"]["result"]["suggest"], "risky", "{f}: {r}");
        let tmpl = r["added"]["priTmplId"].as_str().unwrap();
        assert!(tmpl.starts_with("fake-tmpl-"), "{f}: {r}");
        assert_eq!(
            r["added"]["errMsg"],
            "openapi.subscribeMessage.addTemplate:ok"
        );
        assert_eq!(r["list"]["data"][0]["priTmplId"], tmpl, "{f}: {r}");
        assert_eq!(r["categories"]["data"][0]["id"], 616);
        assert_eq!(r["deleted"]["errCode"], 0);
        assert_eq!(r["deletedAgain"]["errCode"], 40037);
        // Template messages are retired: WeChat's error passes through as WeChat gives it.
        assert_eq!(r["template"]["errCode"], 41028, "{f}: {r}");
        assert!(
            r["template"]["message"]
                .as_str()
                .unwrap()
                .contains("invalid form id"),
            "{f}: {r}"
        );
        assert_eq!(r["custom"]["errCode"], 0, "{f}: {r}");
        assert_eq!(r["uniform"]["errCode"], 0, "{f}: {r}");
        assert_eq!(
            r["images"],
            json!(["image/png", true, "image/png", true]),
            "{f}: {r}"
        );
        assert!(
            r["scheme"]["openlink"]
                .as_str()
                .unwrap()
                .starts_with("weixin://dl/business/"),
            "{f}: {r}"
        );
        assert!(
            r["link"]["urlLink"]
                .as_str()
                .unwrap()
                .starts_with("https://wxaurl.cn/"),
            "{f}: {r}"
        );
        assert!(
            r["invoked"]["url_link"]
                .as_str()
                .unwrap()
                .starts_with("https://wxaurl.cn/"),
            "{f}: {r}"
        );
        assert_eq!(r["invoked"]["errCode"], 0);
        assert_eq!(r["invokeBad"]["code"], "INVALID_ARGUMENT", "{f}: {r}");
        assert_eq!(r["unknown"]["code"], "INVALID_ARGUMENT", "{f}: {r}");
        assert!(
            r["unknown"]["message"]
                .as_str()
                .unwrap()
                .contains("openapi.invoke"),
            "{f}: {r}"
        );
        let custom = fake.received("/cgi-bin/message/custom/send");
        assert_eq!(custom.len(), i + 1);
        assert_eq!(custom[i]["touser"], "o-api");
        assert_eq!(custom[i]["text"]["content"], "您好");
        let uniform = fake.received("/cgi-bin/message/wxopen/template/uniform_send");
        assert_eq!(uniform[i]["mp_template_msg"]["template_id"], "T");
    }
    srv.stop().await;
}

/// CloudBase's `cloud.cloudPay` calls, as a shop function makes them.
const CLOUDPAY_JS: &str = r#"
const cloud = require('wx-server-sdk')
cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV })
exports.main = async (event) => {
  const settle = (p) => p.then((r) => r, (e) => ({ failed: true, code: e.code, message: e.message }))
  switch (event.step) {
    case 'order': return cloud.cloudPay.unifiedOrder({ body: '会员月卡', outTradeNo: event.no, spbillCreateIp: '127.0.0.1', subMchId: '1900000109', totalFee: 1800, envId: 'x', functionName: 'paid' })
    case 'query': return cloud.cloudPay.queryOrder({ outTradeNo: event.no, subMchId: '1900000109' })
    case 'refund': return cloud.cloudPay.refund({ outTradeNo: event.no, outRefundNo: 'R' + event.no, totalFee: 1800, refundFee: 800, subMchId: '1900000109' })
    case 'queryRefund': return cloud.cloudPay.queryRefund({ outTradeNo: event.no, outRefundNo: 'R' + event.no })
    case 'close': return cloud.cloudPay.closeOrder({ outTradeNo: event.no })
    case 'bad': return settle(cloud.cloudPay.unifiedOrder({ body: 'x', outTradeNo: event.no, totalFee: 0 }))
  }
}
"#;

#[tokio::test]
async fn cloud_pay_in_cloudbase_shapes_on_both_runtimes() {
    use testkit::fake_pay::{FakeWechatPay, SignMode};
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let keys = tempfile::tempdir().unwrap();
    let (_tmp, dir) = folder();
    write(&dir, "payq/index.js", CLOUDPAY_JS);
    write(&dir, "payn/index.js", CLOUDPAY_JS);
    write(&dir, "payn/config.json", NODE);
    let d = dir.clone();
    let srv = TestServer::builder()
        .config(|c| {
            c.wechat.appid = fake.appid().into();
            fake.configure(
                c,
                keys.path(),
                "https://api.example.com/api/pay/wechat/notify",
            );
            c.functions.dir = d;
        })
        .start()
        .await;
    fake.redirect_notifications_to(&srv.url(""));
    let user = srv.user_token("o-cloudpay").await;
    for (f, no) in [("payq", "CP00000001"), ("payn", "CP00000002")] {
        let r = result(&srv, f, &user, json!({"step": "order", "no": no})).await;
        assert_eq!(
            (r["returnCode"].as_str(), r["resultCode"].as_str()),
            (Some("SUCCESS"), Some("SUCCESS")),
            "{f}: {r}"
        );
        assert_eq!(r["errMsg"], "cloudPay.unifiedOrder:ok");
        assert!(
            r["payment"]["package"]
                .as_str()
                .unwrap()
                .starts_with("prepay_id="),
            "{f}: {r}"
        );
        assert_eq!(
            format!("prepay_id={}", r["prepayId"].as_str().unwrap()),
            r["payment"]["package"].as_str().unwrap()
        );
        let q = result(&srv, f, &user, json!({"step": "query", "no": no})).await;
        assert_eq!(q["tradeState"], "NOTPAY", "{f}: {q}");
        assert_eq!(q["totalFee"], 1800);
        assert_eq!(q["openid"], "o-cloudpay", "the caller pays");
        fake.pay(no).await;
        let q = result(&srv, f, &user, json!({"step": "query", "no": no})).await;
        assert_eq!(q["tradeState"], "SUCCESS", "{f}: {q}");
        assert!(!q["transactionId"].as_str().unwrap().is_empty());
        let r = result(&srv, f, &user, json!({"step": "refund", "no": no})).await;
        assert_eq!(r["refundFee"], 800, "{f}: {r}");
        assert_eq!(r["outRefundNo"], format!("R{no}"));
        let r = result(&srv, f, &user, json!({"step": "queryRefund", "no": no})).await;
        assert_eq!(r["refundCount"], 1, "{f}: {r}");
        assert_eq!(r["refunds"][0]["refundFee"], 800);
        let bad = result(&srv, f, &user, json!({"step": "bad", "no": no})).await;
        assert_eq!(bad["failed"], true);
        assert!(
            bad["message"].as_str().unwrap().contains("totalFee"),
            "{bad}"
        );
    }
    let r = result(
        &srv,
        "payn",
        &user,
        json!({"step": "order", "no": "CP00000003"}),
    )
    .await;
    assert_eq!(r["resultCode"], "SUCCESS");
    let r = result(
        &srv,
        "payn",
        &user,
        json!({"step": "close", "no": "CP00000003"}),
    )
    .await;
    assert_eq!(r["errMsg"], "cloudPay.closeOrder:ok");
    let q = result(
        &srv,
        "payq",
        &user,
        json!({"step": "query", "no": "CP00000003"}),
    )
    .await;
    assert_eq!(q["tradeState"], "CLOSED");
    srv.stop().await;
}

/// Node built-ins on QuickJS: the same npm packages as above (copied into the function's
/// folder, where QuickJS's `require` stays), through the SSRF-guarded fetch.
#[tokio::test]
async fn npm_packages_needing_node_built_ins_work_on_quickjs() {
    let npm =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functions-npm/node_modules");
    assert!(
        npm.is_dir(),
        "scripts/test-deps.sh installs {}",
        npm.display()
    );
    let (_tmp, dir) = folder();
    write(
        &dir,
        "q/config.json",
        // Parsing axios, request and the SDK on QuickJS takes seconds on a loaded machine.
        r#"{"timeout": 60, "envVariables": {"SMS_ID": "AKIDquick", "SMS_KEY": "k"}}"#,
    );
    crate::functions_migration::copy_dir(&npm, &dir.join("q/node_modules"));
    write(
        &dir,
        "q/index.js",
        r#"
exports.main = async (event) => {
  const out = {}
  if (event.what === 'axios') {
    const axios = require('axios')
    const r = await axios.get(event.url, { params: { a: 1 } })
    const p = await axios.post(event.url.replace('/api/health', '/api/functions/echo'), { data: { x: 1 } }, { headers: { authorization: 'Bearer ' + event.key }, validateStatus: () => true })
    out.axios = [r.status, r.data.status, p.status, p.data.result && p.data.result.x]
  }
  if (event.what === 'request') {
    const rp = require('request-promise')
    const r = await rp({ uri: event.url, json: true })
    const request = require('request')
    const viaCallback = await new Promise((resolve, reject) => request.get({ url: event.url, qs: { a: 1 }, json: true }, (err, res, body) => (err ? reject(err) : resolve([res.statusCode, body.status]))))
    out.request = [r.status, viaCallback]
  }
  if (event.what === 'sms') {
    const tencentcloud = require('tencentcloud-sdk-nodejs-sms')
    const client = new tencentcloud.sms.v20210111.Client({
      credential: { secretId: process.env.SMS_ID, secretKey: process.env.SMS_KEY },
      region: 'ap-guangzhou', profile: { httpProfile: { endpoint: event.endpoint, protocol: 'http://' } },
    })
    const r = await client.SendSms({ PhoneNumberSet: ['+8613800000000'], SmsSdkAppId: '1400000000', SignName: 'Minibase', TemplateId: '100', TemplateParamSet: ['1234'] })
    out.sms = r.SendStatusSet[0].Code
  }
  if (event.what === 'builtins') {
    const zlib = require('zlib'), crypto = require('crypto'), fs = require('fs'), os = require('os'), url = require('url')
    const { StringDecoder } = require('string_decoder')
    const { Readable, Transform, pipeline } = require('stream')
    const gz = zlib.gzipSync('hello '.repeat(50))
    out.zlib = [gz[0], gz[1], zlib.gunzipSync(gz).toString().length]
    const key = crypto.randomBytes(32), iv = crypto.randomBytes(16)
    const c = crypto.createCipheriv('aes-256-cbc', key, iv)
    const enc = c.update('秘密 message', 'utf8', 'base64') + c.final('base64')
    const d = crypto.createDecipheriv('aes-256-cbc', key, iv)
    out.cbc = d.update(enc, 'base64', 'utf8') + d.final('utf8')
    out.fs = [JSON.parse(fs.readFileSync(__dirname + '/config.json', 'utf8')).envVariables.SMS_ID, fs.existsSync('index.js'), fs.existsSync('/etc/passwd')]
    try { fs.readFileSync('/etc/passwd') } catch (e) { out.fsOutside = e.code }
    out.os = [os.platform(), typeof os.cpus().length]
    out.url = [url.parse('https://u:p@example.com:8443/a/b?x=1#h').port, new URL('../c?y=2', 'https://example.com/a/b').href]
    const dec = new StringDecoder('utf8')
    const bytes = Buffer.from('云')
    out.decoder = dec.write(bytes.subarray(0, 1)) + '|' + dec.write(bytes.subarray(1))
    const upper = new Transform({ transform(chunk, e, cb) { cb(null, chunk.toString().toUpperCase()) } })
    let text = ''
    upper.on('data', (c) => { text += c })
    await new Promise((resolve, reject) => pipeline(Readable.from(['a', 'b', 'c']), upper, (e) => (e ? reject(e) : resolve())))
    out.stream = text
    try { require('net').connect(80) } catch (e) { out.net = e.message }
  }
  if (event.what === 'rsa') {
    const crypto = require('crypto')
    const sig = crypto.createSign('RSA-SHA256').update(event.text).sign(event.key, 'base64')
    const ok = crypto.createVerify('RSA-SHA256').update(event.text).verify(event.pub, sig, 'base64')
    const bad = crypto.createVerify('RSA-SHA256').update(event.text + '!').verify(event.pub, sig, 'base64')
    const sealed = crypto.publicEncrypt({ key: event.pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, Buffer.from('13800000000'))
    const opened = crypto.privateDecrypt(event.key, sealed).toString()
    // WeChat Pay v3's notification resource: AES-256-GCM with a tag and associated data.
    const key = Buffer.from('0123456789abcdef0123456789abcdef'), nonce = Buffer.from('0123456789ab')
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce).setAAD(Buffer.from('transaction'))
    const ct = Buffer.concat([c.update('{"trade_state":"SUCCESS"}'), c.final(), c.getAuthTag()])
    const d = crypto.createDecipheriv('aes-256-gcm', key, nonce)
    d.setAuthTag(ct.subarray(ct.length - 16))
    d.setAAD(Buffer.from('transaction'))
    const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString()
    out.rsa = { sig, ok, bad, opened, plain }
  }
  return out
}
"#,
    );
    write(
        &dir,
        "echo/index.js",
        "exports.main = async (e) => ({ x: e.x })\n",
    );
    let (sms_endpoint, mut seen) = fake_sms().await;
    let srv = start(&dir, |c| c.functions.http_allow = vec!["127.0.0.1".into()]).await;
    let key = srv.service_key().to_owned();
    let health = srv.url("/api/health");
    let r = result(&srv, "q", &key, json!({"what": "builtins"})).await;
    assert_eq!(r["zlib"], json!([0x1f, 0x8b, 300]), "{r}");
    assert_eq!(r["cbc"], "秘密 message");
    assert_eq!(r["fs"], json!(["AKIDquick", true, false]));
    assert_eq!(r["fsOutside"], "EACCES");
    assert_eq!(r["os"], json!(["linux", "number"]));
    assert_eq!(r["url"], json!(["8443", "https://example.com/c?y=2"]));
    assert_eq!(r["decoder"], "|云");
    assert_eq!(r["stream"], "ABC");
    assert!(
        r["net"].as_str().unwrap().contains("\"runtime\": \"node\""),
        "{r}"
    );
    // RSA with a key the test makes; the signature checked here with the rsa crate.
    let (pem, pub_pem, public) = {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
        let k = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let pem = k
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let public = k.to_public_key();
        let pub_pem = public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        (pem, pub_pem, public)
    };
    let data = json!({"what": "rsa", "key": pem, "pub": pub_pem, "text": "签名 me"});
    let r = result(&srv, "q", &key, data).await;
    assert_eq!(
        (r["rsa"]["ok"].as_bool(), r["rsa"]["bad"].as_bool()),
        (Some(true), Some(false)),
        "{r}"
    );
    assert_eq!(r["rsa"]["opened"], "13800000000");
    assert_eq!(r["rsa"]["plain"], r#"{"trade_state":"SUCCESS"}"#);
    {
        use base64::Engine as _;
        use sha2::Digest;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(r["rsa"]["sig"].as_str().unwrap())
            .unwrap();
        let hashed = sha2::Sha256::digest("签名 me".as_bytes());
        public
            .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed, &sig)
            .unwrap();
    }
    let r = result(
        &srv,
        "q",
        &key,
        json!({"what": "axios", "url": health, "key": key}),
    )
    .await;
    assert_eq!(r["axios"], json!([200, "ok", 200, 1]), "{r}");
    let r = result(&srv, "q", &key, json!({"what": "request", "url": health})).await;
    assert_eq!(r["request"], json!(["ok", [200, "ok"]]), "{r}");
    let r = result(
        &srv,
        "q",
        &key,
        json!({"what": "sms", "endpoint": sms_endpoint}),
    )
    .await;
    assert_eq!(r["sms"], "Ok", "{r}");
    let (head, _) = seen.recv().await.unwrap();
    assert!(
        head.to_ascii_lowercase().contains("x-tc-action: sendsms"),
        "{head}"
    );
    srv.stop().await;
}
