//! The admin console in a real browser: Debian's Chromium driven over WebDriver
//! (`chromedriver`, installed by `scripts/test-deps.sh`), one browser session for the whole
//! suite. Each action is done through the page as a person would, then checked through the
//! API or the areas: sign-in and the lockout, documents created/edited/deleted, the rule
//! tester, a file uploaded and deleted, a function invoked, an order refunded with the fake
//! WeChat Pay, a session revoked; and in the page: a document holding `<script>` and
//! `onerror=` shows as text, a forged CSRF token is refused. A screenshot of every page is
//! saved under the target directory (`console-screenshots/`); with
//! `MB_CONSOLE_DOC_SCREENSHOTS=1` also into `docs/img/` for docs/console.md.
//!
//! Without Chromium the suite is skipped with a loud message, except in CI (`CI` set), where
//! test-deps installs it and a missing browser fails the suite.

#![allow(clippy::unwrap_used)]

use crate::console::{ADMIN, PASSWORD, create_admin};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::TestServer;
use testkit::fake_pay::{FakeWechatPay, SignMode};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The screenshots docs/console.md shows (written to docs/img/ with MB_CONSOLE_DOC_SCREENSHOTS=1).
const DOC_SHOTS: &[&str] = &[
    "overview",
    "database",
    "rules",
    "functions",
    "payments",
    "logs",
    "database-en",
    "tablet",
];
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver in a process group of its own, with the Chromium it starts: the whole group
/// is killed when dropped (also when a check failed before the session was closed).
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a browser session, or `None` (skipped) without Chromium outside CI.
async fn browser() -> Option<(Driver, Client)> {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        if std::env::var_os("CI").is_some() {
            panic!("Chromium or chromedriver is missing in CI: scripts/test-deps.sh installs them");
        }
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: the console's browser tests need {CHROMIUM} and {CHROMEDRIVER} \
             (apt-get install chromium chromium-driver, or run scripts/test-deps.sh) !!!!!!!!\n\n"
        );
        return None;
    }
    let port = free_port();
    use std::os::unix::process::CommandExt;
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", driver.port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
                "--window-size=1280,720", "--lang=zh-CN",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session");
    Some((driver, client))
}

struct Page<'a> {
    c: &'a Client,
    base: String,
    shots: PathBuf,
    docs: Option<PathBuf>,
}

impl Page<'_> {
    async fn go(&self, hash: &str) {
        self.c
            .goto(&format!("{}/_/{hash}", self.base))
            .await
            .unwrap();
    }
    async fn el(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }
    async fn click(&self, css: &str) {
        self.el(css).await.click().await.unwrap();
    }
    async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap()
    }
    /// Sets a field's value as typing would (input events fired).
    async fn fill(&self, css: &str, value: &str) {
        let e = self.el(css).await;
        self.c
            .execute(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input')); arguments[0].dispatchEvent(new Event('change'));",
                vec![serde_json::to_value(&e).unwrap(), json!(value)],
            )
            .await
            .unwrap();
    }
    /// Waits until `css`'s text satisfies `pred`.
    async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            if let Ok(e) = self.c.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if pred(&t) {
                        return t;
                    }
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "timed out waiting on the text of {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.unwrap()
    }
    async fn shot(&self, name: &str) {
        // let charts and fonts settle
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), &png).unwrap();
        if let Some(d) = self.docs.as_ref().filter(|_| DOC_SHOTS.contains(&name)) {
            std::fs::write(d.join(format!("console-{name}.png")), &png).unwrap();
        }
    }
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !f().await {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    // ---- a server with something in every area --------------------------------------------
    let fns = tempfile::tempdir().unwrap();
    write(
        fns.path(),
        "hello/index.js",
        "const cloud = require('wx-server-sdk');\nexports.main = async (event) => { console.log('greeting', event.name); return { greeting: '你好 ' + event.name, openid: cloud.getWXContext().OPENID || null }; };",
    );
    write(
        fns.path(),
        "hello/config.json",
        r#"{ "triggers": [{ "name": "daily", "type": "timer", "config": "0 30 9 * * * *" }] }"#,
    );
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let keys = tempfile::tempdir().unwrap();
    let fn_dir = fns.path().to_path_buf();
    let srv = TestServer::builder()
        .config(|c| {
            c.server.domains = vec!["api.example.com".into()];
            c.functions.dir = fn_dir;
            c.console.max_failed_logins = 3;
            c.wechat.appid = fake.appid().into();
            fake.configure(
                c,
                keys.path(),
                "https://api.example.com/api/pay/wechat/notify",
            );
            c.collections.insert(
                "notes".into(),
                config::CollectionConfig {
                    read: Some(config::RuleSource::Expr(
                        "doc._openid == auth.openid".into(),
                    )),
                    write: Some(config::RuleSource::Expr(
                        "doc._openid == auth.openid".into(),
                    )),
                    ..Default::default()
                },
            );
        })
        .start()
        .await;
    fake.redirect_notifications_to(&srv.url(""));
    create_admin(&srv, ADMIN, PASSWORD).await;
    create_admin(&srv, "locky", PASSWORD).await;
    let db = srv.state().db().clone();
    let sys = mb_core::Caller::Service;
    let evil = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
    let evil_id = db
        .create(
            &sys,
            "notes",
            json!({ "_openid": "o-alice", "title": evil, "rank": 1 }),
        )
        .await
        .unwrap();
    for i in 0..30 {
        db.create(
            &sys,
            "notes",
            json!({ "_openid": format!("o-{}", i % 3), "title": format!("笔记 {i}"), "rank": i }),
        )
        .await
        .unwrap();
    }
    let login = srv.login("o-alice").await;
    let uid = login["user"]["id"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let token = login["access_token"].as_str().unwrap().to_string();
    // user traffic for the Logs page and the Overview's charts
    for _ in 0..5 {
        srv.http()
            .get(srv.url(&format!("/api/db/notes/docs/{evil_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        srv.http()
            .get(srv.url("/api/db/notes/docs/missing"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    // a paid order
    let res = srv
        .http()
        .post(srv.url("/api/pay/wechat/orders"))
        .bearer_auth(srv.service_key())
        .json(&json!({ "description": "会员月卡", "amount": { "total": 1800 }, "openid": "o-alice", "out_trade_no": "MB20260101001" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    fake.pay("MB20260101001").await;
    let order_state = || {
        let db = db.clone();
        async move {
            db.query(
                &mb_core::Caller::System,
                "_pay_orders",
                &docdb::QueryRequest {
                    where_: json!({ "out_trade_no": "MB20260101001" }),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
        }
    };
    wait_until("the order paid", || async {
        order_state().await["state"] == "SUCCESS"
    })
    .await;

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let docs = std::env::var_os("MB_CONSOLE_DOC_SCREENSHOTS")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/img"));
    if let Some(d) = &docs {
        std::fs::create_dir_all(d).unwrap();
    }
    let p = Page {
        c: &client,
        base: srv.url(""),
        shots,
        docs,
    };

    // ---- first load, cold (fresh profile, nothing cached) -----------------------------------
    p.go("").await;
    p.el("#login-name").await;
    let timing = p
        .js("const n = performance.getEntriesByType('navigation')[0]; return { ready: window.__mbReady, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, bytes: performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, n.transferSize) };")
        .await;
    let ready = timing["ready"].as_f64().unwrap();
    eprintln!(
        "console first load (cold, loopback): interactive after {ready:.0} ms, DOMContentLoaded {:.0} ms, {} bytes transferred",
        timing["dcl"].as_f64().unwrap_or(0.0),
        timing["bytes"]
    );
    assert!(
        ready < 2000.0,
        "first load took {ready} ms to become interactive"
    );
    p.shot("signin").await;

    // ---- wrong password: lockout, seen in the page and through the API ----------------------
    let clear_error =
        "document.querySelector('[data-test=login-error]').textContent = ''; return true;";
    for _ in 0..3 {
        p.js(clear_error).await;
        p.fill("#login-name", "locky").await;
        p.fill("#login-password", "not the password").await;
        p.click("#login-submit").await;
        p.wait_text("[data-test=login-error]", |t| !t.is_empty())
            .await;
    }
    p.js(clear_error).await;
    p.fill("#login-name", "locky").await;
    p.fill("#login-password", PASSWORD).await;
    p.click("#login-submit").await;
    let msg = p
        .wait_text("[data-test=login-error]", |t| t.contains("locked"))
        .await;
    assert!(msg.contains("locked"), "{msg}");
    let res = crate::console::signin_raw(&srv, "locky", PASSWORD, None).await;
    assert_eq!(res.status(), 429);

    // ---- sign in --------------------------------------------------------------------------
    p.fill("#login-name", ADMIN).await;
    p.fill("#login-password", PASSWORD).await;
    p.click("#login-submit").await;
    assert_eq!(p.text("[data-test=who]").await, ADMIN);
    p.el("[data-test=card-rps]").await;
    // the charts fill after two samples (5 s apart)
    wait_until("a chart sample", || async {
        !srv.state().console().unwrap().samples().is_empty()
    })
    .await;
    p.go("#/overview").await;
    p.el("[data-test=chart-rps] path.line").await;
    p.shot("overview").await;

    // ---- database: a document with <script> and onerror= renders as text --------------------
    p.go("#/database/notes").await;
    p.el(&format!("[data-test=doc-{evil_id}]")).await;
    p.shot("database").await;
    p.click(&format!("[data-test=doc-{evil_id}]")).await;
    let editor = p.el("#doc-editor").await;
    let shown = editor.prop("value").await.unwrap().unwrap();
    assert!(shown.contains("<script>window.__xss=1</script>"), "{shown}");
    let row = p.text(&format!("[data-test=doc-{evil_id}]")).await;
    assert!(row.contains("onerror"), "{row}");
    assert_eq!(p.js("return window.__xss === undefined && document.querySelectorAll('script').length === 1 && document.querySelectorAll('#page img').length === 0").await, json!(true));
    p.shot("editor").await;

    // edit it through the editor, checked through the user API
    p.fill(
        "#doc-editor",
        &json!({ "_openid": "o-alice", "title": "edited in the console", "rank": 1 }).to_string(),
    )
    .await;
    p.click("[data-test=doc-save]").await;
    p.wait_text("[data-test=notice]", |t| !t.is_empty()).await;
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/notes/docs/{evil_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["title"], "edited in the console");

    // create one
    p.click("[data-test=db-new]").await;
    p.fill(
        "#doc-editor",
        r#"{"_openid": "o-alice", "title": "made in the browser", "rank": 99}"#,
    )
    .await;
    p.click("[data-test=doc-save]").await;
    p.wait_text("[data-test=notice]", |t| t.contains(":")).await;
    let made = db
        .query(
            &sys,
            "notes",
            &docdb::QueryRequest {
                where_: json!({ "title": "made in the browser" }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    let made_id = made[0]["_id"].as_str().unwrap().to_string();
    // invalid JSON is refused in the page, nothing sent
    p.click("[data-test=db-new]").await;
    p.fill("#doc-editor", "{ not json").await;
    p.click("[data-test=doc-save]").await;
    p.wait_text("[data-test=doc-panel] [data-test=error]", |t| !t.is_empty())
        .await;

    // delete, with the confirmation
    p.fill("#db-where", r#"{"rank": 99}"#).await;
    p.click("[data-test=db-query]").await;
    p.click(&format!("[data-test=doc-{made_id}]")).await;
    p.click("[data-test=doc-delete]").await;
    p.click("[data-test=modal-ok]").await;
    p.wait_text("[data-test=db-range]", |t| t.starts_with("0–0"))
        .await;
    assert!(db.get(&sys, "notes", &made_id).await.unwrap().is_none());

    // a forged CSRF token from the page's own origin is refused, and nothing is created
    let status = p
        .c
        .execute_async(
            "const done = arguments[0]; fetch('/_/api/db/notes/docs', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'forged' }, body: JSON.stringify({ data: { title: 'csrf' } }) }).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));
    assert_eq!(
        db.count(&sys, "notes", &json!({ "title": "csrf" }))
            .await
            .unwrap(),
        0
    );

    // ---- the rule tester agrees with the API -------------------------------------------------
    p.go("#/database/notes/tester").await;
    p.fill("#rt-openid", "o-bob").await;
    p.fill("#rt-id", &evil_id).await;
    p.click("[data-test=rt-run]").await;
    let verdict = p
        .wait_text("[data-test=rt-verdict]", |t| !t.is_empty())
        .await;
    assert_eq!(verdict, "拒绝", "bob may not read alice's note");
    let bob = srv.user_token("o-bob").await;
    let res = srv
        .http()
        .get(srv.url(&format!("/api/db/notes/docs/{evil_id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    p.fill("#rt-openid", "o-alice").await;
    p.click("[data-test=rt-run]").await;
    p.wait_text("[data-test=rt-verdict]", |t| t == "允许").await;
    p.shot("rules").await;
    p.go("#/database/notes/meta").await;
    p.el("[data-test=rules] code").await;

    // ---- files: upload and delete -----------------------------------------------------------
    let upload = tempfile::tempdir().unwrap();
    let png = upload.path().join("dot.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82").unwrap();
    p.go("#/files").await;
    p.el("#files-input")
        .await
        .send_keys(png.to_str().unwrap())
        .await
        .unwrap();
    p.fill("#files-path", "avatars/dot.png").await;
    p.click("[data-test=files-upload]").await;
    p.el("[data-test='file-avatars/dot.png']").await;
    let cloud = storage::CloudPath::parse("avatars/dot.png").unwrap();
    let rec = srv.state().files().record(&cloud).await.unwrap().unwrap();
    assert_eq!(rec.content_type, "image/png");
    p.shot("files").await;
    p.click("[data-test='delete-avatars/dot.png']").await;
    p.click("[data-test=modal-ok]").await;
    wait_until("the file deleted", || async {
        srv.state().files().record(&cloud).await.unwrap().is_none()
    })
    .await;

    // ---- functions: invoke with an event and a caller ----------------------------------------
    p.go("#/functions/hello").await;
    p.fill("#fn-event", r#"{"name": "小程序"}"#).await;
    p.fill("#fn-openid", "o-alice").await;
    p.click("[data-test=fn-invoke]").await;
    let out = p
        .wait_text("[data-test=fn-output]", |t| !t.is_empty())
        .await;
    assert!(
        out.contains("你好 小程序") && out.contains("o-alice"),
        "{out}"
    );
    let logs = p.text("[data-test=fn-logs]").await;
    assert!(logs.contains("greeting 小程序"), "{logs}");
    let invs = srv
        .state()
        .functions()
        .activity()
        .invocations(Some("hello"), 10);
    assert_eq!(invs.len(), 1);
    assert!(invs[0].ok);
    p.shot("functions").await;

    // ---- payments: refund with the fake WeChat Pay ------------------------------------------
    p.go("#/payments/MB20260101001").await;
    p.fill("#refund-amount", "5.00").await;
    p.fill("#refund-reason", "顾客申请").await;
    p.click("[data-test=refund]").await;
    p.click("[data-test=modal-ok]").await;
    p.wait_text("[data-test=order-history]", |t| {
        t.contains("refund_requested")
    })
    .await;
    let order = order_state().await;
    let refunds = order["refunds"].as_object().unwrap();
    assert_eq!(refunds.len(), 1);
    let (no, r) = refunds.iter().next().unwrap();
    assert_eq!(r["amount"], 500);
    assert!(fake.refund(no).is_some(), "WeChat Pay got the refund");
    p.js("window.scrollTo(0, 0); return true;").await;
    p.shot("payments").await;

    // ---- users: revoke a session -----------------------------------------------------------
    p.go(&format!("#/users/{uid}")).await;
    let sessions = srv.state().identity().sessions_of(&uid, 10).await.unwrap();
    p.click(&format!("[data-test=revoke-{}]", sessions[0].id))
        .await;
    p.click("[data-test=modal-ok]").await;
    p.wait_text("[data-test=user-detail]", |t| t.contains("已吊销"))
        .await;
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    p.shot("users").await;

    // ---- logs: errors highlighted, searchable ---------------------------------------------
    p.go("#/logs").await;
    p.el("[data-test=logs-list] tr.err").await;
    p.fill("#logs-status", "404").await;
    p.click("[data-test=logs-search]").await;
    p.wait_text("[data-test=logs-list]", |t| {
        t.contains("/api/db/notes/docs/missing")
    })
    .await;
    assert_eq!(
        p.js("return Array.from(document.querySelectorAll('[data-test=logs-list] tbody tr')).every(tr => tr.classList.contains('err') && tr.textContent.includes('404'))").await,
        json!(true)
    );
    p.el("[data-test=audit-list] code").await;
    p.shot("logs").await;

    // ---- settings, then English ------------------------------------------------------------
    p.go("#/settings").await;
    p.el("[data-test=settings-list] code").await;
    let text = p.text("[data-test=settings-list]").await;
    assert!(!text.contains(srv.service_key()), "secrets are never shown");
    p.shot("settings").await;
    p.click("[data-test=lang]").await;
    p.wait_text("[data-test=nav-database]", |t| t.contains("Database"))
        .await;
    p.go("#/database/notes").await;
    p.el("[data-test=db-results] tr.click").await;
    p.shot("database-en").await;
    // and back to Chinese for whoever looks next
    p.click("[data-test=lang]").await;
    p.wait_text("[data-test=nav-database]", |t| t.contains("数据库"))
        .await;

    // ---- a tablet: the menu folds to icons, the columns stack, nothing overflows ---------------
    client.set_window_size(1024, 768).await.unwrap();
    p.go("#/payments/MB20260101001").await;
    p.el("[data-test=order-history] li").await;
    let layout = p
        .js("const side = document.querySelector('.side').getBoundingClientRect().width; const wide = Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 6).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)); return { side, overflow: document.documentElement.scrollWidth > window.innerWidth, wide, width: window.innerWidth };")
        .await;
    assert!(layout["side"].as_f64().unwrap() < 100.0, "{layout}");
    assert_eq!(layout["overflow"], false, "{layout}");
    p.shot("tablet").await;

    client.close().await.unwrap();
    srv.stop().await;
}
