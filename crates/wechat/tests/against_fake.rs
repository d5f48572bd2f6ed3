//! The WeChat client, token manager and open APIs against the fake WeChat server over
//! loopback HTTP (no mocks of our own code).

#![allow(clippy::unwrap_used)]

use minibase_wechat as wechat;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use testkit::FakeWechat;
use testkit::fake_wechat::{Endpoint, Fault};
use wechat::openapi::{
    GetPhoneNumber, MediaCheckAsync, MsgSecCheck, SubscribeMessage, WxacodeUnlimited,
};
use wechat::{
    AccessTokenManager, ClientSettings, KvStore, MemoryKv, OpenApi, WechatClient, WechatError,
};

fn settings(fake: &FakeWechat) -> ClientSettings {
    ClientSettings {
        api_base: fake.url(),
        appid: fake.appid(),
        secret: fake.secret(),
        timeout: Duration::from_secs(2),
    }
}

fn client(fake: &FakeWechat) -> WechatClient {
    WechatClient::new(settings(fake)).unwrap()
}

fn openapi_with(fake: &FakeWechat, kv: Arc<dyn KvStore>) -> OpenApi {
    OpenApi::new(Arc::new(AccessTokenManager::new(client(fake), kv)))
}

fn check(openid: &str, content: &str) -> MsgSecCheck {
    MsgSecCheck {
        content: content.into(),
        version: 2,
        scene: 2,
        openid: openid.into(),
        title: None,
        nickname: None,
        signature: None,
    }
}

#[tokio::test]
async fn code2session_success_and_errors() {
    let fake = FakeWechat::start().await;
    let c = client(&fake);
    let code = fake.issue_code_with_unionid("o_alice", "u_alice");
    let s = c.code2session(&code).await.unwrap();
    assert_eq!(s.openid, "o_alice");
    assert_eq!(s.unionid.as_deref(), Some("u_alice"));
    assert_eq!(Some(s.session_key.clone()), fake.session_key("o_alice"));
    // single use
    assert_eq!(
        c.code2session(&code).await.unwrap_err().errcode(),
        Some(40163)
    );
    // unknown
    assert_eq!(
        c.code2session("nope").await.unwrap_err().errcode(),
        Some(40029)
    );
    // expired
    fake.set_code_ttl(Duration::from_millis(1));
    let code = fake.issue_code("o_bob");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        c.code2session(&code).await.unwrap_err().errcode(),
        Some(40029)
    );
    fake.set_code_ttl(Duration::from_secs(300));
    // scripted errors
    for errcode in [45011, 40226, 40013] {
        fake.fail_once(Endpoint::Jscode2session, errcode);
        let code = fake.issue_code("o_carol");
        assert_eq!(
            c.code2session(&code).await.unwrap_err().errcode(),
            Some(errcode)
        );
    }
    // wrong secret
    let mut bad = settings(&fake);
    bad.secret = "wrong".into();
    let e = WechatClient::new(bad)
        .unwrap()
        .code2session(&fake.issue_code("o_dan"))
        .await
        .unwrap_err();
    assert_eq!(e.errcode(), Some(40125));
}

#[tokio::test]
async fn busy_is_retried_a_bounded_number_of_times() {
    let fake = FakeWechat::start().await;
    let c = client(&fake);
    fake.fail_once(Endpoint::Jscode2session, -1);
    let code = fake.issue_code("o_x");
    assert_eq!(c.code2session(&code).await.unwrap().openid, "o_x");
    assert_eq!(fake.calls(Endpoint::Jscode2session), 2);

    fake.reset_counters();
    fake.fail_next(Endpoint::Jscode2session, Fault::Errcode(-1), 10);
    let code = fake.issue_code("o_x");
    assert_eq!(c.code2session(&code).await.unwrap_err().errcode(), Some(-1));
    assert_eq!(
        fake.calls(Endpoint::Jscode2session),
        u64::from(wechat::client::MAX_ATTEMPTS)
    );
    fake.clear_faults();

    // 5xx is retried; garbage is not
    fake.reset_counters();
    fake.fail_next(Endpoint::Jscode2session, Fault::HttpStatus(502), 1);
    let code = fake.issue_code("o_x");
    assert!(c.code2session(&code).await.is_ok());
    assert_eq!(fake.calls(Endpoint::Jscode2session), 2);
    fake.fail_next(Endpoint::Jscode2session, Fault::Garbage, 1);
    let code = fake.issue_code("o_x");
    assert!(matches!(
        c.code2session(&code).await,
        Err(WechatError::BadResponse(_))
    ));
}

#[tokio::test]
async fn timeouts_and_unreachable_never_leak_secrets() {
    let fake = FakeWechat::start().await;
    let mut s = settings(&fake);
    s.timeout = Duration::from_millis(200);
    let c = WechatClient::new(s.clone()).unwrap();
    // a login code is single use: no retry after a timeout
    fake.fail_next(
        Endpoint::Jscode2session,
        Fault::Delay(Duration::from_millis(600)),
        1,
    );
    let code = fake.issue_code("o_t");
    assert_eq!(
        c.code2session(&code).await.unwrap_err(),
        WechatError::Timeout
    );
    assert_eq!(fake.calls(Endpoint::Jscode2session), 1);
    // stable_token (normal mode) is idempotent: retried after a timeout
    fake.fail_next(
        Endpoint::StableToken,
        Fault::Delay(Duration::from_millis(600)),
        1,
    );
    let t = c.stable_token(false).await.unwrap();
    assert!(!t.access_token.is_empty());
    assert_eq!(fake.calls(Endpoint::StableToken), 2);

    // nothing listening: a transport error, without the URL (which carries the secret)
    let addr = fake.addr();
    fake.stop().await;
    s.api_base = format!("http://{addr}");
    let c = WechatClient::new(s.clone()).unwrap();
    let e = c.code2session("some-code").await.unwrap_err();
    assert!(matches!(e, WechatError::Transport(_)), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains(&s.secret), "{text}");
    assert!(!text.contains("some-code"), "{text}");
    let api = e.to_login_error();
    assert_eq!(api.code.status().as_u16(), 503);
    assert!(!api.message.contains(&s.secret));
}

#[tokio::test]
async fn a_thousand_concurrent_calls_fetch_one_token() {
    let fake = FakeWechat::start().await;
    let api = openapi_with(&fake, Arc::new(MemoryKv::default()));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.msg_sec_check(&check("o_many", &format!("hello {i}")))
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().result.suggest, "pass");
    }
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
    assert_eq!(fake.calls(Endpoint::MsgSecCheck), 1000);
    assert_eq!(
        api.tokens()
            .stats()
            .fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn rejected_token_refreshes_once_and_retries_once() {
    let fake = FakeWechat::start().await;
    let api = openapi_with(&fake, Arc::new(MemoryKv::default()));
    api.msg_sec_check(&check("o", "a")).await.unwrap();
    let first = fake.current_token().unwrap();
    fake.reset_counters();

    fake.invalidate_tokens();
    let r = api
        .msg_sec_check(&check("o", "fake-risky-word here"))
        .await
        .unwrap();
    assert_eq!(r.result.suggest, "risky");
    assert_eq!(fake.calls(Endpoint::StableToken), 1, "one refresh");
    assert_eq!(fake.calls(Endpoint::MsgSecCheck), 2, "one retry");
    assert_ne!(fake.current_token().unwrap(), first);
    assert_eq!(
        api.tokens()
            .stats()
            .forced
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // a 40001 that persists: still exactly one refresh and one retry, then the error
    fake.reset_counters();
    fake.fail_next(Endpoint::MsgSecCheck, Fault::Errcode(40001), 5);
    let e = api.msg_sec_check(&check("o", "b")).await.unwrap_err();
    assert_eq!(e.errcode(), Some(40001));
    assert_eq!(fake.calls(Endpoint::MsgSecCheck), 2);
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
    // and that refresh was in normal mode: a force refresh happened less than 30 s ago
    assert_eq!(
        api.tokens()
            .stats()
            .forced
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    fake.clear_faults();

    // 42001 from an expired token, under concurrency: one refresh for everyone
    let fake2 = FakeWechat::start().await;
    let api2 = openapi_with(&fake2, Arc::new(MemoryKv::default()));
    api2.msg_sec_check(&check("o", "a")).await.unwrap();
    fake2.reset_counters();
    fake2.expire_tokens();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let api2 = api2.clone();
        tasks.push(tokio::spawn(async move {
            api2.msg_sec_check(&check("o", "c")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake2.calls(Endpoint::StableToken), 1);
}

#[tokio::test]
async fn token_persists_across_restarts_and_instances() {
    let fake = FakeWechat::start().await;
    let kv: Arc<MemoryKv> = Arc::new(MemoryKv::default());
    let a = openapi_with(&fake, kv.clone());
    a.msg_sec_check(&check("o", "a")).await.unwrap();
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
    // "restart": a new manager over the same store reads the token, does not fetch
    let b = openapi_with(&fake, kv.clone());
    b.msg_sec_check(&check("o", "b")).await.unwrap();
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
    assert_eq!(
        b.tokens()
            .stats()
            .adopted
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // several cold instances at once, one store: one fetch in all
    let fake2 = FakeWechat::start().await;
    let kv2: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let instances: Vec<OpenApi> = (0..4).map(|_| openapi_with(&fake2, kv2.clone())).collect();
    let mut tasks = Vec::new();
    for (i, api) in instances.iter().enumerate() {
        for _ in 0..25 {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                api.msg_sec_check(&check("o", &format!("i{i}"))).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake2.calls(Endpoint::StableToken), 1);

    // one instance meets a rejected token: the others pick up the new one from the store
    fake2.invalidate_tokens();
    instances[0].msg_sec_check(&check("o", "x")).await.unwrap();
    assert_eq!(fake2.calls(Endpoint::StableToken), 2);
    fake2.reset_counters();
    instances[1].msg_sec_check(&check("o", "y")).await.unwrap();
    assert_eq!(
        fake2.calls(Endpoint::StableToken),
        0,
        "instance 1 read the refreshed token"
    );
    assert_eq!(
        fake2.calls(Endpoint::MsgSecCheck),
        2,
        "one rejected call, one retry"
    );
}

#[tokio::test]
async fn proactive_refresh_before_expiry() {
    let fake = FakeWechat::start().await;
    fake.set_token_ttl(Duration::from_secs(2));
    let tokens = Arc::new(AccessTokenManager::new(
        client(&fake),
        Arc::new(MemoryKv::default()),
    ));
    let first = tokens.token().await.unwrap();
    let handle = tokens.spawn_refresher();
    // refresh is due at half-life (1 s) for such a short token; allow for the jitter
    let mut refreshed = false;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if fake.calls(Endpoint::StableToken) >= 2 {
            refreshed = true;
            break;
        }
    }
    handle.abort();
    assert!(refreshed, "the background refresher fetched a new token");
    let now = tokens.token().await.unwrap();
    assert_ne!(now, first);
}

#[tokio::test]
async fn open_apis() {
    let fake = FakeWechat::start().await;
    let api = openapi_with(&fake, Arc::new(MemoryKv::default()));

    // subscribe messages: 43101 without a subscription, accepted with one
    let msg = SubscribeMessage {
        touser: "o_sub".into(),
        template_id: "TPL1".into(),
        page: Some("pages/index/index".into()),
        data: serde_json::from_value(json!({"thing1": {"value": "hi"}})).unwrap(),
        miniprogram_state: None,
        lang: None,
    };
    assert_eq!(
        api.send_subscribe_message(&msg)
            .await
            .unwrap_err()
            .errcode(),
        Some(43101)
    );
    fake.grant_subscription("o_sub", "TPL1", 1);
    api.send_subscribe_message(&msg).await.unwrap();
    assert_eq!(fake.sent_messages().len(), 1);
    assert_eq!(fake.sent_messages()[0]["data"]["thing1"]["value"], "hi");
    assert_eq!(
        api.send_subscribe_message(&msg)
            .await
            .unwrap_err()
            .errcode(),
        Some(43101)
    );

    // wxacode: a real PNG, or the errcode
    let img = api
        .get_unlimited_wxacode(&WxacodeUnlimited {
            scene: "id=42".into(),
            page: Some("pages/item/item".into()),
            check_path: Some(false),
            env_version: None,
            width: None,
            auto_color: None,
            line_color: None,
            is_hyaline: Some(true),
        })
        .await
        .unwrap();
    assert_eq!(img.content_type, "image/png");
    assert!(img.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let bad = WxacodeUnlimited {
        scene: "x".into(),
        page: Some("/pages/bad".into()),
        check_path: None,
        env_version: None,
        width: None,
        auto_color: None,
        line_color: None,
        is_hyaline: None,
    };
    assert_eq!(
        api.get_unlimited_wxacode(&bad).await.unwrap_err().errcode(),
        Some(41030)
    );

    // phone numbers: single use
    fake.add_phone_code("pc1", "13800138000", "86");
    let p = api
        .get_phone_number(&GetPhoneNumber {
            code: "pc1".into(),
            openid: None,
        })
        .await
        .unwrap();
    assert_eq!(p.pure_phone_number, "13800138000");
    assert_eq!(p.country_code, "86");
    assert_eq!(p.watermark["appid"], fake.appid());
    assert_eq!(
        api.get_phone_number(&GetPhoneNumber {
            code: "pc1".into(),
            openid: None
        })
        .await
        .unwrap_err()
        .errcode(),
        Some(40029)
    );

    // media check
    let r = api
        .media_check_async(&MediaCheckAsync {
            media_url: "https://x/y.png".into(),
            media_type: 2,
            version: 2,
            scene: 1,
            openid: "o".into(),
        })
        .await
        .unwrap();
    assert!(!r.trace_id.is_empty());
    assert_eq!(fake.media_checks().len(), 1);

    // by name, as HTTP and functions call them
    let r = api
        .call_by_name(
            "msgSecCheck",
            json!({"content": "hi", "scene": 2, "openid": "o"}),
        )
        .await
        .unwrap()
        .unwrap();
    match r {
        wechat::OpenApiReply::Json(v) => {
            assert_eq!(v["result"]["suggest"], "pass");
            assert!(v.get("errcode").is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(api.call_by_name("nope", json!({})).await.is_none());
    let e = api
        .call_by_name("subscribeMessage.send", json!({"touser": 1}))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, WechatError::InvalidRequest(_)));
    // only one token was ever needed
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
}

#[tokio::test]
async fn fake_stable_token_rules() {
    let fake = FakeWechat::start().await;
    let c = client(&fake);
    let a = c.stable_token(false).await.unwrap();
    assert_eq!(a.expires_in, 7200);
    // normal mode: the same token while it has more than 5 minutes left
    assert_eq!(
        c.stable_token(false).await.unwrap().access_token,
        a.access_token
    );
    // force refresh: a new token, the old one dead
    let b = c.stable_token(true).await.unwrap();
    assert_ne!(b.access_token, a.access_token);
    // a second force within 30 s does not refresh
    assert_eq!(
        c.stable_token(true).await.unwrap().access_token,
        b.access_token
    );
    // per-minute limit
    fake.set_token_minute_limit(4);
    assert_eq!(
        c.stable_token(false).await.unwrap_err().errcode(),
        Some(45011)
    );
    // wrong secret
    let mut s = settings(&fake);
    s.secret = "nope".into();
    assert_eq!(
        WechatClient::new(s)
            .unwrap()
            .stable_token(false)
            .await
            .unwrap_err()
            .errcode(),
        Some(40125)
    );
    // the old token is refused by open APIs with 40001, the new one accepted
    let http = reqwest::Client::new();
    let call = |token: String| {
        let http = http.clone();
        let url = format!("{}/wxa/msg_sec_check", fake.url());
        async move {
            let v: serde_json::Value = http
                .post(url)
                .query(&[("access_token", token)])
                .json(&json!({"content": "x", "version": 2, "scene": 1, "openid": "o"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["errcode"].as_i64().unwrap()
        }
    };
    assert_eq!(call(a.access_token).await, 40001);
    assert_eq!(call(b.access_token).await, 0);
    assert_eq!(call(String::new()).await, 41001);
}

#[tokio::test]
async fn fake_scripting_over_http_and_lenient_mode() {
    let fake = FakeWechat::start_with(testkit::FakeWechatOptions {
        lenient: true,
        ..Default::default()
    })
    .await;
    let c = client(&fake);
    let http = reqwest::Client::new();
    let v: serde_json::Value = http
        .post(format!("{}/_fake/codes", fake.url()))
        .json(&json!({"openid": "oScripted", "session_key": "AAAAAAAAAAAAAAAAAAAAAA=="}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = c.code2session(v["code"].as_str().unwrap()).await.unwrap();
    assert_eq!(
        (s.openid.as_str(), s.session_key.as_str()),
        ("oScripted", "AAAAAAAAAAAAAAAAAAAAAA==")
    );
    // lenient: any code once; openid:NAME logs in as NAME; other codes map to a stable openid
    assert_eq!(
        c.code2session("openid:alice").await.unwrap().openid,
        "alice"
    );
    assert_eq!(
        c.code2session("openid:alice").await.unwrap_err().errcode(),
        Some(40163)
    );
    assert_eq!(
        c.code2session("openid:alice:2").await.unwrap().openid,
        "alice"
    );
    let x = c.code2session("whatever-1").await.unwrap();
    assert_eq!(x.openid, testkit::fake_wechat::openid_for("whatever-1"));
    let res = http
        .post(format!("{}/_fake/faults", fake.url()))
        .json(&json!({"endpoint": "jscode2session", "errcode": 45011}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        c.code2session("another").await.unwrap_err().errcode(),
        Some(45011)
    );
    let calls: serde_json::Value = http
        .get(format!("{}/_fake/calls", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["jscode2session"], 6);
}

#[tokio::test]
async fn token_persists_in_the_database_across_restarts() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("data.db").display());
    {
        let db = docdb::Database::open(&url, docdb::DbOptions::default()).unwrap();
        let api = openapi_with(&fake, Arc::new(wechat::DocdbKv::new(db)));
        api.msg_sec_check(&check("o", "a")).await.unwrap();
    }
    let db = docdb::Database::open(&url, docdb::DbOptions::default()).unwrap();
    let api = openapi_with(&fake, Arc::new(wechat::DocdbKv::new(db)));
    api.msg_sec_check(&check("o", "b")).await.unwrap();
    assert_eq!(fake.calls(Endpoint::StableToken), 1);
}
