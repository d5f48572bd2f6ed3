//! The function engine end to end, without the HTTP server: real QuickJS instances over
//! function folders written into a temp dir. (Through HTTP: `crates/minibase/tests/it/functions.rs`.)
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use mb_core::{Caller, UserIdentity};
use minibase_functions::{
    CallContext, Database, FunctionError, Functions, HostError, Query, Services, Settings,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings(dir: &Path) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        timeout: Duration::from_secs(3),
        memory_limit: 32 << 20,
        concurrency: 4,
        queue: 8,
        timezone_offset_hours: 8,
        http_allow: Vec::new(),
        appid: "wxtestappid".into(),
        env_id: "minibase".into(),
        runtime: minibase_functions::spec::Runtime::QuickJs,
        node_path: String::new(),
        node_user: String::new(),
        env: Default::default(),
        function_env: Default::default(),
        routes: Default::default(),
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn user(openid: &str) -> CallContext {
    CallContext::new(
        Caller::User(UserIdentity {
            uid: "u1".into(),
            openid: openid.into(),
            unionid: Some("union-1".into()),
            platform: "wechat".into(),
            session_id: "s".into(),
        }),
        "req-1",
        Some("203.0.113.9".parse().unwrap()),
    )
}

fn service() -> CallContext {
    CallContext::new(Caller::Service, "req-svc", None)
}

async fn call(f: &Functions, name: &str, data: Value) -> Result<Value, FunctionError> {
    f.call(name, data, service())
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("functions");
    std::fs::create_dir_all(&dir).unwrap();
    Setup { dir, _tmp: tmp }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_and_export_styles() {
    let s = setup();
    write(
        &s.dir,
        "hello/index.js",
        "exports.main = async (event, context) => ({ hello: event.name, fn: context.function_name })",
    );
    write(
        &s.dir,
        "plain/index.js",
        "module.exports = function (event) { return event.n * 2 }",
    );
    write(
        &s.dir,
        "mainprop/index.js",
        "module.exports.main = (e) => 'sync ' + e.x",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    assert_eq!(
        call(&f, "hello", json!({"name": "mb"})).await.unwrap(),
        json!({"hello": "mb", "fn": "hello"})
    );
    assert_eq!(
        call(&f, "plain", json!({"n": 21})).await.unwrap(),
        json!(42)
    );
    assert_eq!(
        call(&f, "mainprop", json!({"x": 1})).await.unwrap(),
        json!("sync 1")
    );
    assert!(matches!(
        call(&f, "nope", json!({})).await,
        Err(FunctionError::NotFound(_))
    ));
    assert!(matches!(
        call(&f, "../etc", json!({})).await,
        Err(FunctionError::BadName)
    ));
    assert!(matches!(
        f.call("hello", json!([1]), service()).await,
        Err(FunctionError::BadRequest(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wx_context_and_user_info() {
    let s = setup();
    write(
        &s.dir,
        "who/index.js",
        "const cloud = require('wx-server-sdk'); const mb = require('minibase');
         cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV });
         exports.main = async (event) => ({ ctx: cloud.getWXContext(), same: cloud === mb, userInfo: event.userInfo })",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    let r: Value = serde_json::from_str(
        &f.call(
            "who",
            json!({"userInfo": {"openId": "forged"}}),
            user("o-123"),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r["ctx"]["OPENID"], "o-123");
    assert_eq!(r["ctx"]["UNIONID"], "union-1");
    assert_eq!(r["ctx"]["APPID"], "wxtestappid");
    assert_eq!(r["ctx"]["SOURCE"], "wx_client");
    assert_eq!(r["ctx"]["CLIENTIP"], "203.0.113.9");
    assert_eq!(r["same"], true);
    assert_eq!(
        r["userInfo"],
        json!({"appId": "wxtestappid", "openId": "o-123"})
    );
    let r = call(&f, "who", json!({})).await.unwrap();
    assert_eq!(r["ctx"]["OPENID"], "");
    assert_eq!(r["ctx"]["SOURCE"], "wx_http");
    assert!(r.get("userInfo").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_state_persists_and_functions_are_isolated() {
    let s = setup();
    write(
        &s.dir,
        "counter/index.js",
        "let n = 0; globalThis.secret = 'counter-secret'; exports.main = async () => ++n",
    );
    write(
        &s.dir,
        "spy/index.js",
        "exports.main = async () => typeof globalThis.secret",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    for i in 1..=3 {
        assert_eq!(call(&f, "counter", json!({})).await.unwrap(), json!(i));
    }
    assert_eq!(
        call(&f, "spy", json!({})).await.unwrap(),
        json!("undefined")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requires_stay_inside_the_folder() {
    let s = setup();
    write(&s.dir, "secret.js", "module.exports = 'top secret'");
    write(
        &s.dir,
        "other/index.js",
        "exports.main = () => 1; exports.leak = 'other'",
    );
    write(
        &s.dir,
        "mods/index.js",
        "const lib = require('./lib/util'); const data = require('./data.json'); const pkg = require('leftpad');
         exports.main = async (e) => {
           if (e.escape) return require(e.escape);
           return { sum: lib.add(2, 3), name: data.name, pad: pkg('7', 3), same: require('./lib/util') === lib, path: require('path').join('a', '..', 'b') };
         }",
    );
    write(&s.dir, "mods/lib/util.js", "exports.add = (a, b) => a + b");
    write(&s.dir, "mods/data.json", r#"{"name": "json ok"}"#);
    write(
        &s.dir,
        "mods/node_modules/leftpad/package.json",
        r#"{"main": "lib/pad.js"}"#,
    );
    write(
        &s.dir,
        "mods/node_modules/leftpad/lib/pad.js",
        "module.exports = (s, n) => s.padStart(n, '0')",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    assert_eq!(
        call(&f, "mods", json!({})).await.unwrap(),
        json!({"sum": 5, "name": "json ok", "pad": "007", "same": true, "path": "b"})
    );
    for esc in [
        "../secret",
        "../secret.js",
        "../other/index.js",
        "/etc/passwd",
        "./lib/../../secret",
    ] {
        let e = call(&f, "mods", json!({"escape": esc})).await.unwrap_err();
        let FunctionError::Thrown { message, .. } = e else {
            panic!("{esc}: {e:?}")
        };
        assert!(
            message.contains("only require files inside its own folder"),
            "{esc}: {message}"
        );
    }
    let e = call(&f, "mods", json!({"escape": "child_process"}))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("'child_process' is not available on the QuickJS runtime")
            && msg.contains("\"runtime\": \"node\""),
        "{msg}"
    );
    let e = call(&f, "mods", json!({"escape": "./missing"}))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("Cannot find module './missing'"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_clear_and_keep_the_instance() {
    let s = setup();
    write(
        &s.dir,
        "thrower/index.js",
        "let calls = 0; exports.main = async (e) => { calls++; if (e.fail) throw new TypeError('bad input: ' + e.fail); if (e.str) throw 'plain string'; return calls }",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    assert_eq!(call(&f, "thrower", json!({})).await.unwrap(), json!(1));
    let e = call(&f, "thrower", json!({"fail": "x"})).await.unwrap_err();
    assert_eq!(
        e,
        FunctionError::Thrown {
            name: "thrower".into(),
            message: "TypeError: bad input: x".into()
        }
    );
    let e = call(&f, "thrower", json!({"str": true})).await.unwrap_err();
    assert_eq!(e.to_string(), "plain string");
    // Same warm instance: the module state survived the errors.
    assert_eq!(call(&f, "thrower", json!({})).await.unwrap(), json!(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_loops_and_memory_bombs_are_contained() {
    let s = setup();
    write(
        &s.dir,
        "loop/index.js",
        "exports.main = async (e) => { if (e.spin) { while (true) {} } return 'alive' }",
    );
    write(&s.dir, "loop/config.json", r#"{"timeout": 1}"#);
    write(
        &s.dir,
        "bomb/index.js",
        "exports.main = async (e) => { if (e.boom) { const a = []; while (true) a.push(new Array(100000).fill('x' + a.length)); } return 'fine' }",
    );
    write(
        &s.dir,
        "sleeper/index.js",
        "exports.main = () => new Promise(() => setTimeout(() => {}, 60000))",
    );
    write(&s.dir, "sleeper/config.json", r#"{"timeout": 1}"#);
    write(
        &s.dir,
        "huge/index.js",
        "exports.main = () => 'x'.repeat(7 * 1024 * 1024)",
    );
    write(
        &s.dir,
        "never/index.js",
        "exports.main = () => new Promise(() => {})",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    let t = Instant::now();
    let e = call(&f, "loop", json!({"spin": true})).await.unwrap_err();
    assert!(
        matches!(e, FunctionError::Timeout { ms: 1000, .. }),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(call(&f, "loop", json!({})).await.unwrap(), json!("alive"));
    let e = call(&f, "bomb", json!({"boom": true})).await.unwrap_err();
    assert!(matches!(e, FunctionError::Memory { mib: 32, .. }), "{e:?}");
    assert_eq!(call(&f, "bomb", json!({})).await.unwrap(), json!("fine"));
    let e = call(&f, "sleeper", json!({})).await.unwrap_err();
    assert!(matches!(e, FunctionError::Timeout { .. }), "{e:?}");
    let e = call(&f, "never", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("never settles"), "{e}");
    let e = call(&f, "huge", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("larger than 6 MiB"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_and_broken_versions() {
    let s = setup();
    write(&s.dir, "hot/index.js", "exports.main = async () => 'v1'");
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    assert_eq!(call(&f, "hot", json!({})).await.unwrap(), json!("v1"));
    write(&s.dir, "hot/index.js", "exports.main = async () => 'v2'");
    assert_eq!(call(&f, "hot", json!({})).await.unwrap(), json!("v2"));
    write(
        &s.dir,
        "hot/index.js",
        "exports.main = async () => {\n  return 'v3' +;\n}\n",
    );
    let e = call(&f, "hot", json!({})).await.unwrap_err();
    let FunctionError::Load { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("SyntaxError") && message.contains("hot/index.js:2"),
        "{message}"
    );
    // Still broken until fixed; then the fix is served.
    assert!(matches!(
        call(&f, "hot", json!({})).await,
        Err(FunctionError::Load { .. })
    ));
    write(
        &s.dir,
        "hot/index.js",
        "exports.main = async () => require('./helper').v",
    );
    write(&s.dir, "hot/helper.js", "exports.v = 'helper v1'");
    assert_eq!(
        call(&f, "hot", json!({})).await.unwrap(),
        json!("helper v1")
    );
    write(&s.dir, "hot/helper.js", "exports.v = 'helper v2!'");
    assert_eq!(
        call(&f, "hot", json!({})).await.unwrap(),
        json!("helper v2!")
    );
    write(
        &s.dir,
        "hot/config.json",
        r#"{"envVariables": {"GREETING": "ni hao"}}"#,
    );
    write(
        &s.dir,
        "hot/index.js",
        "exports.main = async () => process.env.GREETING",
    );
    assert_eq!(call(&f, "hot", json!({})).await.unwrap(), json!("ni hao"));
    write(
        &s.dir,
        "esm/index.js",
        "import x from 'y'\nexport const main = () => 1\n",
    );
    let e = call(&f, "esm", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("CommonJS"), "{e}");
    write(&s.dir, "nomain/index.js", "exports.handler = () => 1");
    let e = call(&f, "nomain", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("must export a main function"), "{e}");
    std::fs::remove_dir_all(s.dir.join("hot")).unwrap();
    assert!(matches!(
        call(&f, "hot", json!({})).await,
        Err(FunctionError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_and_queue() {
    let s = setup();
    write(
        &s.dir,
        "slow/index.js",
        "let busy = false; exports.main = async () => { if (busy) throw new Error('instance shared'); busy = true; await new Promise(r => setTimeout(r, 200)); busy = false; return 'ok' }",
    );
    let mut st = settings(&s.dir);
    st.concurrency = 2;
    st.queue = 3;
    let f = Functions::new(st, Services::default()).unwrap();
    let t = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { call(&f, "slow", json!({})).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), json!("ok"));
    }
    // 5 calls, 2 at a time, 200 ms each: at least 3 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t.elapsed()
    );
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { call(&f, "slow", json!({})).await })
        })
        .collect();
    let mut busy = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => {}
            Err(FunctionError::Busy { .. }) => busy += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(busy, 3, "2 running + 3 queued, 3 refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_basics() {
    let s = setup();
    write(
        &s.dir,
        "node/index.js",
        r#"const crypto = require('crypto'); const qs = require('querystring');
        exports.main = async () => {
          const t0 = Date.now();
          await new Promise(r => setTimeout(r, 30));
          const waited = Date.now() - t0;
          let ticks = 0; await new Promise(r => { const i = setInterval(() => { if (++ticks === 3) { clearInterval(i); r(); } }, 5); });
          const b = Buffer.from('你好, minibase');
          console.log('log line', { a: 1 }, [1, 2]);
          console.error(new Error('logged error'));
          return {
            waited: waited >= 25, ticks,
            b64: b.toString('base64'), back: Buffer.from(b.toString('base64'), 'base64').toString(),
            hex: Buffer.from('abc').toString('hex'), len: b.length,
            md5: crypto.createHash('md5').update('abc').digest('hex'),
            hmac: crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('base64'),
            uuid: /^[0-9a-f-]{36}$/.test(crypto.randomUUID()),
            rand: crypto.randomBytes(8).length,
            qs: qs.stringify({ a: 1, b: 'x y' }), parsed: qs.parse('a=1&b=x%20y'),
            usp: new URLSearchParams({ q: 'a&b' }).toString(),
            te: new TextDecoder().decode(new TextEncoder().encode('ü')),
            atob: atob(btoa('hi')),
          };
        }"#,
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    let r = call(&f, "node", json!({})).await.unwrap();
    assert_eq!(r["waited"], true);
    assert_eq!(r["ticks"], 3);
    assert_eq!(r["back"], "你好, minibase");
    assert_eq!(r["b64"], "5L2g5aW9LCBtaW5pYmFzZQ==");
    assert_eq!(r["hex"], "616263");
    assert_eq!(r["len"], 16);
    assert_eq!(r["md5"], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(r["hmac"], "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=");
    assert_eq!(r["uuid"], true);
    assert_eq!(r["rand"], 8);
    assert_eq!(r["qs"], "a=1&b=x%20y");
    assert_eq!(r["parsed"], json!({"a": "1", "b": "x y"}));
    assert_eq!(r["usp"], "q=a%26b");
    assert_eq!(r["te"], "ü");
    assert_eq!(r["atob"], "hi");
}

/// A database binding that records what the SDK sends and answers canned results.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Value)>>,
}

#[async_trait]
impl Database for Recorder {
    async fn query(&self, c: &str, q: Query) -> Result<Vec<Value>, HostError> {
        self.calls.lock().push(("query".into(), json!({"c": c, "where": q.r#where, "orderBy": q.order_by, "skip": q.skip, "limit": q.limit, "field": q.field})));
        Ok(vec![json!({"_id": "a", "due": {"$date": 86400000}})])
    }
    async fn count(&self, c: &str, w: Value) -> Result<u64, HostError> {
        self.calls
            .lock()
            .push(("count".into(), json!({"c": c, "where": w})));
        Ok(7)
    }
    async fn get(
        &self,
        c: &str,
        id: &str,
        field: Option<Value>,
    ) -> Result<Option<Value>, HostError> {
        self.calls
            .lock()
            .push(("get".into(), json!({"c": c, "id": id, "field": field})));
        Ok((id != "missing").then(|| json!({"_id": id, "title": "t"})))
    }
    async fn add(&self, c: &str, doc: Value) -> Result<String, HostError> {
        self.calls
            .lock()
            .push(("add".into(), json!({"c": c, "doc": doc})));
        if doc.get("_id") == Some(&json!("dup")) {
            return Err(HostError::new(
                mb_core::ErrorCode::Conflict,
                "duplicate _id",
            ));
        }
        Ok("newid".into())
    }
    async fn set(&self, c: &str, id: &str, doc: Value) -> Result<bool, HostError> {
        self.calls
            .lock()
            .push(("set".into(), json!({"c": c, "id": id, "doc": doc})));
        Ok(true)
    }
    async fn update_doc(&self, c: &str, id: &str, u: Value) -> Result<u64, HostError> {
        self.calls
            .lock()
            .push(("updateDoc".into(), json!({"c": c, "id": id, "data": u})));
        Ok(1)
    }
    async fn remove_doc(&self, c: &str, id: &str) -> Result<u64, HostError> {
        self.calls
            .lock()
            .push(("removeDoc".into(), json!({"c": c, "id": id})));
        Ok(1)
    }
    async fn update(&self, c: &str, w: Value, u: Value) -> Result<u64, HostError> {
        self.calls
            .lock()
            .push(("update".into(), json!({"c": c, "where": w, "data": u})));
        Ok(2)
    }
    async fn remove(&self, c: &str, w: Value) -> Result<u64, HostError> {
        self.calls
            .lock()
            .push(("remove".into(), json!({"c": c, "where": w})));
        Ok(3)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_builder_sends_the_wire_operators() {
    let s = setup();
    write(
        &s.dir,
        "db/index.js",
        r#"const cloud = require('wx-server-sdk');
        const db = cloud.database(); const _ = db.command;
        exports.main = async () => {
          const out = {};
          const q = await db.collection('todos').where({ _openid: 'o1', done: false, due: _.gt(new Date(1000)).and(_.lt(5000)), tags: _.in(['a', 'b']),
              style: { color: 'red' }, title: db.RegExp({ regexp: '^mini', options: 'i' }), n: _.or(_.lt(1), _.gt(9)) })
            .orderBy('due', 'desc').orderBy('title', 'asc').skip(5).limit(10).field({ title: true, due: 1 }).get();
          out.get = q; out.isDate = q.data[0].due instanceof Date;
          out.count = await db.collection('todos').where(_.or([{ a: 1 }, { b: _.exists(true) }])).count();
          out.doc = await db.collection('todos').doc('d1').get();
          try { await db.collection('todos').doc('missing').get(); } catch (e) { out.missing = e.message; out.missingCode = e.code; }
          out.add = await db.collection('todos').add({ data: { title: 'x', at: db.serverDate({ offset: 1000 }), when: new Date(0), list: [1, { y: 2 }] } });
          try { await db.collection('todos').add({ data: { _id: 'dup' } }); } catch (e) { out.dup = { code: e.code, msg: e.errMsg }; }
          out.set = await db.collection('todos').doc('d2').set({ data: { title: 'replaced' } });
          out.upd = await db.collection('todos').doc('d3').update({ data: { views: _.inc(1), tags: _.push(['c']), 'a.b': _.remove(), style: { color: 'blue' }, list: _.pull(_.in([1])), at: db.serverDate() } });
          out.bulk = await db.collection('todos').where({ done: true }).update({ data: { archived: true } });
          out.rm = await db.collection('todos').doc('d4').remove();
          out.rmAll = await db.collection('todos').where({ archived: _.eq(true) }).remove();
          try { await db.collection('todos').update({ data: { x: 1 } }); } catch (e) { out.noWhere = e.message; }
          try { db.collection('todos').limit(5000); } catch (e) { out.badLimit = e.message; }
          try { await db.collection('todos').add({ data: { n: _.inc(1) } }); } catch (e) { out.cmdInDoc = e.message; }
          return out;
        }"#,
    );
    let rec = Arc::new(Recorder::default());
    let services = Services {
        database: Some(rec.clone()),
        ..Services::default()
    };
    let f = Functions::new(settings(&s.dir), services).unwrap();
    let r = call(&f, "db", json!({})).await.unwrap();
    let calls = rec.calls.lock().clone();
    let by = |op: &str| {
        calls
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by("query")[0],
        json!({"c": "todos", "where": {"$and": [
            {
                "_openid": "o1", "done": false, "due": {"$gt": {"$date": 1000}, "$lt": 5000}, "tags": {"$in": ["a", "b"]},
                "style.color": "red", "title": {"$regex": "^mini", "$options": "i"}
            },
            {"$or": [{"n": {"$lt": 1}}, {"n": {"$gt": 9}}]}
        ]},
        "orderBy": [["due", "desc"], ["title", "asc"]], "skip": 5, "limit": 10, "field": {"title": true, "due": true}})
    );
    assert_eq!(r["get"]["errMsg"], "collection.get:ok");
    assert_eq!(r["get"]["data"][0]["due"], "1970-01-02T00:00:00.000Z");
    assert_eq!(r["isDate"], true);
    assert_eq!(
        by("count")[0]["where"],
        json!({"$or": [{"a": 1}, {"b": {"$exists": true}}]})
    );
    assert_eq!(
        r["count"],
        json!({"total": 7, "errMsg": "collection.count:ok"})
    );
    assert_eq!(
        r["doc"],
        json!({"data": {"_id": "d1", "title": "t"}, "errMsg": "document.get:ok"})
    );
    assert_eq!(r["missingCode"], "NOT_FOUND");
    assert!(r["missing"].as_str().unwrap().contains("does not exist"));
    assert_eq!(
        by("add")[0]["doc"],
        json!({"title": "x", "at": {"$serverDate": {"offset": 1000}}, "when": {"$date": 0}, "list": [1, {"y": 2}]})
    );
    assert_eq!(
        r["add"],
        json!({"_id": "newid", "errMsg": "collection.add:ok"})
    );
    assert_eq!(
        r["dup"],
        json!({"code": "CONFLICT", "msg": "duplicate _id"})
    );
    assert_eq!(
        r["set"],
        json!({"_id": "d2", "stats": {"updated": 0, "created": 1}, "errMsg": "document.set:ok"})
    );
    assert_eq!(
        by("updateDoc")[0]["data"],
        json!({"views": {"$inc": 1}, "tags": {"$push": {"each": ["c"]}}, "a.b": {"$remove": true}, "style.color": "blue",
               "list": {"$pull": {"$in": [1]}}, "at": {"$serverDate": {"offset": 0}}})
    );
    assert_eq!(
        r["upd"],
        json!({"stats": {"updated": 1}, "errMsg": "document.update:ok"})
    );
    assert_eq!(
        by("update")[0],
        json!({"c": "todos", "where": {"done": true}, "data": {"archived": true}})
    );
    assert_eq!(r["bulk"]["stats"]["updated"], 2);
    assert_eq!(r["rm"]["stats"]["removed"], 1);
    assert_eq!(by("remove")[0]["where"], json!({"archived": {"$eq": true}}));
    assert_eq!(r["rmAll"]["stats"]["removed"], 3);
    assert!(r["noWhere"].as_str().unwrap().contains("where()"));
    assert!(r["badLimit"].as_str().unwrap().contains("limit()"));
    assert!(r["cmdInDoc"].as_str().unwrap().contains("update data"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_bindings_are_clear_errors() {
    let s = setup();
    write(
        &s.dir,
        "apis/index.js",
        r#"const cloud = require('wx-server-sdk');
        exports.main = async (e) => {
          const out = {};
          for (const [k, f] of Object.entries({
            db: () => cloud.database().collection('x').get(),
            upload: () => cloud.uploadFile({ cloudPath: 'a.txt', fileContent: Buffer.from('x') }),
            openapi: () => cloud.openapi.security.msgSecCheck({ content: 'hi' }),
            pay: () => cloud.pay.createOrder({ description: 'x' }),
          })) { try { await f(); out[k] = 'no error'; } catch (err) { out[k] = err.code + ': ' + err.message; } }
          return out;
        }"#,
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    let r = call(&f, "apis", json!({})).await.unwrap();
    assert_eq!(
        r["db"],
        "UNAVAILABLE: cloud.database() is not available on this server"
    );
    assert!(
        r["upload"]
            .as_str()
            .unwrap()
            .starts_with("UNAVAILABLE: cloud file APIs")
    );
    assert_eq!(
        r["openapi"],
        "UNAVAILABLE: cloud.openapi.security.msgSecCheck is not available on this server"
    );
    assert!(r["pay"].as_str().unwrap().contains("cloud.pay.createOrder"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_function_from_a_function() {
    let s = setup();
    write(
        &s.dir,
        "a/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async (e) => { const r = await cloud.callFunction({ name: 'b', data: { x: e.x } }); return { got: r.result, errMsg: r.errMsg } }",
    );
    write(
        &s.dir,
        "b/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async (e) => ({ doubled: e.x * 2, source: cloud.getWXContext().SOURCE, openid: cloud.getWXContext().OPENID })",
    );
    write(
        &s.dir,
        "loop/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async () => (await cloud.callFunction({ name: 'loop' })).result",
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    let r: Value =
        serde_json::from_str(&f.call("a", json!({"x": 4}), user("o-9")).await.unwrap()).unwrap();
    assert_eq!(
        r,
        json!({"got": {"doubled": 8, "source": "wx_client,scf", "openid": "o-9"}, "errMsg": "cloud.callFunction:ok"})
    );
    let e = call(&f, "loop", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
}

/// A one-shot HTTP server on loopback answering `body` to every request.
async fn tiny_http(body: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_refuses_private_addresses_unless_allowed() {
    let s = setup();
    let addr = tiny_http(r#"{"pong":true}"#).await;
    write(
        &s.dir,
        "net/index.js",
        r#"const cloud = require('wx-server-sdk');
        exports.main = async (e) => {
          try {
            if (e.axios) { const r = await cloud.fetch({ url: e.url, method: 'post', data: { a: 1 } }); return { status: r.status, data: r.data }; }
            const r = await fetch(e.url, { headers: { 'x-test': '1' } });
            return { status: r.status, ok: r.ok, json: await r.json(), type: r.headers.get('content-type') };
          } catch (err) { return { error: err.message, code: err.code }; }
        }"#,
    );
    let f = Functions::new(settings(&s.dir), Services::default()).unwrap();
    for url in [
        format!("http://{addr}/"),
        format!("http://localhost:{}/", addr.port()),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]:9/".into(),
        "http://2130706433/".into(),
    ] {
        let r = call(&f, "net", json!({"url": url})).await.unwrap();
        assert_eq!(r["code"], "PERMISSION_DENIED", "{url}: {r}");
        assert!(
            r["error"].as_str().unwrap().contains("refused"),
            "{url}: {r}"
        );
    }
    let r = call(&f, "net", json!({"url": "file:///etc/passwd"}))
        .await
        .unwrap();
    assert_eq!(r["code"], "INVALID_ARGUMENT");
    let mut st = settings(&s.dir);
    st.http_allow = vec!["127.0.0.1/32".into()];
    let f = Functions::new(st, Services::default()).unwrap();
    let r = call(&f, "net", json!({"url": format!("http://{addr}/ping")}))
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"status": 200, "ok": true, "json": {"pong": true}, "type": "application/json"})
    );
    let r = call(
        &f,
        "net",
        json!({"url": format!("http://{addr}/ping"), "axios": true}),
    )
    .await
    .unwrap();
    assert_eq!(r, json!({"status": 200, "data": {"pong": true}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_fires_once_per_tick() {
    let s = setup();
    write(
        &s.dir,
        "tick/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async (e) => { await cloud.database().collection('ticks').add({ data: { t: e.Time, type: e.Type, name: e.TriggerName, src: cloud.getWXContext().SOURCE } }); }",
    );
    write(
        &s.dir,
        "tick/config.json",
        r#"{"triggers": [{"name": "everySecond", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    write(
        &s.dir,
        "tock/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async (e) => { await cloud.database().collection('tocks').add({ data: { t: e.Time } }); }",
    );
    write(
        &s.dir,
        "tock/config.json",
        r#"{"triggers": [{"name": "everySecond", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    let rec = Arc::new(Recorder::default());
    let services = Services {
        database: Some(rec.clone()),
        ..Services::default()
    };
    let f = Functions::new(settings(&s.dir), services).unwrap();
    let timers = f.start_timers();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    // A config edit mid-way must not fire a tick twice.
    write(
        &s.dir,
        "tick/config.json",
        r#"{"timeout": 5, "triggers": [{"name": "everySecond", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    timers.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = rec.calls.lock().clone();
    for coll in ["ticks", "tocks"] {
        let times: Vec<String> = calls
            .iter()
            .filter(|(op, v)| op == "add" && v["c"] == coll)
            .map(|(_, v)| v["doc"]["t"].as_str().unwrap().to_owned())
            .collect();
        let mut uniq = times.clone();
        uniq.dedup();
        assert_eq!(uniq, times, "{coll}: a tick fired twice: {times:?}");
        assert!(times.len() >= 3 && times.len() <= 5, "{coll}: {times:?}");
    }
    let first = calls
        .iter()
        .find(|(op, v)| op == "add" && v["c"] == "ticks")
        .unwrap();
    assert_eq!(first.1["doc"]["type"], "Timer");
    assert_eq!(first.1["doc"]["name"], "everySecond");
    assert_eq!(first.1["doc"]["src"], "wx_trigger");
    assert!(first.1["doc"]["t"].as_str().unwrap().ends_with('Z'));
}

/// `_files` rows in memory (the server keeps them in docdb).
#[derive(Default)]
struct MemIndex(Mutex<std::collections::HashMap<String, storage::FileRecord>>);
#[async_trait]
impl storage::FileIndex for MemIndex {
    async fn get(
        &self,
        path: &storage::CloudPath,
    ) -> Result<Option<storage::FileRecord>, mb_core::ApiError> {
        Ok(self.0.lock().get(path.as_str()).cloned())
    }
    async fn put(&self, r: &storage::FileRecord) -> Result<(), mb_core::ApiError> {
        self.0.lock().insert(r.path.clone(), r.clone());
        Ok(())
    }
    async fn remove(&self, path: &storage::CloudPath) -> Result<(), mb_core::ApiError> {
        self.0.lock().remove(path.as_str());
        Ok(())
    }
}
struct NoUsers;
impl storage::FileRules for NoUsers {
    fn allows(
        &self,
        _: storage::Access,
        _: &Caller,
        _: &storage::Resource<'_>,
        _: i64,
    ) -> Result<bool, mb_core::ApiError> {
        Ok(false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_files_over_real_storage() {
    let s = setup();
    let store_dir = s.dir.parent().unwrap().join("store");
    let backend = Arc::new(storage::LocalBackend::open(&store_dir).await.unwrap());
    let st = storage::Storage::new(
        backend,
        storage::UrlSigner::new(b"test-signing-secret-0123456789abcdef"),
        storage::Settings {
            upload_limit: 1 << 20,
            default_max_age: Duration::from_secs(60),
            max_age: Duration::from_secs(600),
            public_base_url: None,
        },
    );
    let files = storage::Files::new(st, Arc::new(MemIndex::default()), Arc::new(NoUsers));
    let binding =
        minibase_functions::bindings::StorageFiles::new(files, "https://api.example.com/");
    let services = Services {
        files: Some(Arc::new(binding)),
        ..Services::default()
    };
    write(
        &s.dir,
        "files/index.js",
        r#"const cloud = require('wx-server-sdk');
        exports.main = async () => {
          const up = await cloud.uploadFile({ cloudPath: 'reports/a.txt', fileContent: Buffer.from('hello file') });
          const down = await cloud.downloadFile({ fileID: up.fileID });
          const urls = await cloud.getTempFileURL({ fileList: [up.fileID, { fileID: 'mb://nope.txt', maxAge: 60 }] });
          let bad; try { await cloud.uploadFile({ cloudPath: '../etc/passwd', fileContent: 'x' }); } catch (e) { bad = e.code; }
          const del = await cloud.deleteFile({ fileList: [up.fileID] });
          let gone; try { await cloud.downloadFile({ fileID: up.fileID }); } catch (e) { gone = e.code; }
          return { up, text: down.fileContent.toString(), isBuffer: Buffer.isBuffer(down.fileContent), urls: urls.fileList, bad, del: del.fileList, gone };
        }"#,
    );
    let f = Functions::new(settings(&s.dir), services).unwrap();
    let r = call(&f, "files", json!({})).await.unwrap();
    assert_eq!(
        r["up"],
        json!({"fileID": "mb://reports/a.txt", "statusCode": 200, "errMsg": "uploadFile:ok"})
    );
    assert_eq!(r["text"], "hello file");
    assert_eq!(r["isBuffer"], true);
    assert_eq!(r["urls"][0]["status"], 0);
    assert!(
        r["urls"][0]["tempFileURL"]
            .as_str()
            .unwrap()
            .starts_with("https://api.example.com/storage/reports/a.txt?"),
        "{r}"
    );
    assert_eq!(r["urls"][1]["status"], -1);
    assert_eq!(r["bad"], "INVALID_ARGUMENT");
    assert_eq!(r["del"][0]["status"], 0);
    assert_eq!(r["gone"], "NOT_FOUND");
}

fn open_db(dir: &Path) -> docdb::Database {
    docdb::Database::open(
        &format!("sqlite://{}", dir.join("data.db").display()),
        docdb::DbOptions::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todo_crud_on_the_real_database() {
    let s = setup();
    let db = open_db(s.dir.parent().unwrap());
    db.ensure_index("todos", &["_openid", "due"], false)
        .await
        .unwrap();
    let services = Services {
        database: Some(Arc::new(minibase_functions::bindings::DocDatabase::new(
            db.clone(),
        ))),
        ..Services::default()
    };
    write(
        &s.dir,
        "todo/index.js",
        r#"const cloud = require('wx-server-sdk');
        cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV });
        const db = cloud.database(); const _ = db.command;
        exports.main = async (event) => {
          const { OPENID } = cloud.getWXContext();
          const todos = db.collection('todos');
          switch (event.action) {
            case 'add': return todos.add({ data: { _openid: OPENID, title: event.title, due: new Date(event.due), tags: [], views: 0, createdAt: db.serverDate() } });
            case 'list': return todos.where({ _openid: OPENID, due: _.gte(new Date(event.from)) }).orderBy('due', 'asc').field({ title: true, due: true, views: true, tags: true }).get();
            case 'count': return todos.where({ _openid: OPENID }).count();
            case 'done': return todos.doc(event.id).update({ data: { done: true, views: _.inc(1), tags: _.push(['x']) } });
            case 'get': { const r = await todos.doc(event.id).get(); return { ...r, isDate: r.data.due instanceof Date, created: r.data.createdAt instanceof Date }; }
            case 'set': return todos.doc(event.id).set({ data: { _openid: OPENID, title: 'replaced', due: new Date(0) } });
            case 'clear': return todos.where({ _openid: OPENID, done: true }).remove();
            case 'rm': return todos.doc(event.id).remove();
            case 'bad': return todos.where({ a: { $nope: 1 } }).get();
            case 'sys': return db.collection('_users').add({ data: { openid: 'x' } });
          }
        }"#,
    );
    let f = Functions::new(settings(&s.dir), services).unwrap();
    let run = |data: Value| {
        let f = f.clone();
        async move {
            f.call("todo", data, user("o-todo"))
                .await
                .map(|t| serde_json::from_str::<Value>(&t).unwrap())
        }
    };
    let a = run(json!({"action": "add", "title": "buy milk", "due": 2000}))
        .await
        .unwrap();
    let id = a["_id"].as_str().unwrap().to_owned();
    run(json!({"action": "add", "title": "old", "due": 10}))
        .await
        .unwrap();
    let list = run(json!({"action": "list", "from": 1000})).await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["title"], "buy milk");
    assert_eq!(list["data"][0]["due"], "1970-01-01T00:00:02.000Z");
    assert_eq!(run(json!({"action": "count"})).await.unwrap()["total"], 2);
    assert_eq!(
        run(json!({"action": "done", "id": id})).await.unwrap()["stats"]["updated"],
        1
    );
    let got = run(json!({"action": "get", "id": id})).await.unwrap();
    assert_eq!(got["data"]["views"], 1);
    assert_eq!(got["data"]["tags"], json!(["x"]));
    assert_eq!(got["data"]["_openid"], "o-todo");
    assert_eq!(got["isDate"], true);
    assert_eq!(got["created"], true);
    // The document is really in the database, as the HTTP API will see it.
    let stored = db
        .get(&Caller::System, "todos", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["done"], true);
    assert_eq!(stored["due"], json!({"$date": 2000}));
    let set = run(json!({"action": "set", "id": "custom-1"}))
        .await
        .unwrap();
    assert_eq!(set["stats"], json!({"updated": 0, "created": 1}));
    assert_eq!(
        run(json!({"action": "clear"})).await.unwrap()["stats"]["removed"],
        1
    );
    assert_eq!(
        run(json!({"action": "rm", "id": "custom-1"}))
            .await
            .unwrap()["stats"]["removed"],
        1
    );
    assert_eq!(run(json!({"action": "count"})).await.unwrap()["total"], 1);
    let e = run(json!({"action": "bad"})).await.unwrap_err();
    assert!(e.to_string().contains("$nope"), "{e}");
    let e = run(json!({"action": "sys"})).await.unwrap_err();
    assert!(e.to_string().contains("written only by Minibase"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_ticks_once_across_servers_sharing_a_database() {
    let s = setup();
    let db = open_db(s.dir.parent().unwrap());
    write(
        &s.dir,
        "tick/index.js",
        "const cloud = require('wx-server-sdk'); exports.main = async (e) => { await cloud.database().collection('ticks').add({ data: { t: e.Time } }); }",
    );
    write(
        &s.dir,
        "tick/config.json",
        r#"{"triggers": [{"name": "s", "type": "timer", "config": "* * * * * * *"}]}"#,
    );
    let mk = || {
        let services = Services {
            database: Some(Arc::new(minibase_functions::bindings::DocDatabase::new(
                db.clone(),
            ))),
            lease: Some(Arc::new(minibase_functions::bindings::KvTimerLease::new(
                db.clone(),
            ))),
            ..Services::default()
        };
        Functions::new(settings(&s.dir), services).unwrap()
    };
    let (a, b) = (mk(), mk());
    let (ta, tb) = (a.start_timers(), b.start_timers());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    ta.abort();
    tb.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let docs = db
        .query(
            &Caller::System,
            "ticks",
            &docdb::QueryRequest {
                limit: json!(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut times: Vec<String> = docs
        .iter()
        .map(|d| d["t"].as_str().unwrap().to_owned())
        .collect();
    let n = times.len();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), n, "a tick ran twice: {docs:?}");
    assert!((2..=4).contains(&n), "{n} runs: {docs:?}");
}
