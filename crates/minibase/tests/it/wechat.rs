//! WeChat through HTTP against the fake WeChat server: login, refresh, me, phone, decrypt and
//! signature (official vectors), every upstream error mapping, bad input, open APIs with the
//! shared token (1,000 concurrent calls → one fetch; 40001 → one refresh + one retry), and
//! message push (verification, plain and safe mode, JSON and XML, forgeries, replays).

#![allow(clippy::unwrap_used)]

use config::Secret;
use serde_json::{Value, json};
use testkit::TestServer;
use testkit::fake_wechat::{Endpoint, FakeUser, FakeWechat, FakeWechatOptions, Fault};

// vectors/wechat.md: WeChat's encryptedData sample
const VEC_APPID: &str = "wx4f4bc4dec97d474b";
const VEC_SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const VEC_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const VEC_ENCRYPTED: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
// vectors/wechat.md: rawData signature
const SIG_SESSION_KEY: &str = "HyVFkGl5F5OQWJZZaNzBBg==";
const SIG_RAW: &str = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
const SIG: &str = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";

const PUSH_TOKEN: &str = "pushTokenForTests";
fn push_aes_key() -> String {
    // a 43-character EncodingAESKey, as the console generates
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".to_string()
}

struct Env {
    fake: FakeWechat,
    srv: TestServer,
}

async fn env_with_appid(appid: &str) -> Env {
    let fake = FakeWechat::start_with(FakeWechatOptions {
        appid: appid.into(),
        ..Default::default()
    })
    .await;
    let (url, secret) = (fake.url(), fake.secret());
    let appid = appid.to_string();
    let srv = TestServer::builder()
        .config(move |c| {
            c.wechat.api_base = url;
            c.wechat.appid = appid;
            c.wechat.secret = Secret::new(secret);
            c.wechat.push_token = Secret::new(PUSH_TOKEN);
            c.wechat.push_aes_key = Secret::new(push_aes_key());
            c.wechat.timeout = config::HumanDuration::parse("2s").unwrap();
        })
        .start()
        .await;
    Env { fake, srv }
}

async fn env() -> Env {
    env_with_appid(VEC_APPID).await
}

impl Env {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.srv.http().post(self.srv.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn login(&self, code: &str) -> (u16, Value) {
        self.post("/api/auth/wechat/login", None, json!({ "code": code }))
            .await
    }

    /// Signs `openid` in through the real WeChat login with this session key.
    async fn login_with_key(&self, openid: &str, session_key: &str) -> String {
        let code = format!("code-{openid}");
        self.fake.add_code(
            &code,
            FakeUser {
                openid: openid.into(),
                unionid: None,
                session_key: session_key.into(),
            },
        );
        let (status, body) = self.login(&code).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    fn service_key(&self) -> String {
        self.srv.service_key().to_string()
    }
}

fn assert_upstream(body: &Value, code: &str, errcode: i64) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["upstream"]["service"], "wechat", "{body}");
    assert_eq!(body["error"]["upstream"]["errcode"], errcode, "{body}");
}

#[tokio::test]
async fn login_refresh_me() {
    let e = env().await;
    let code = e.fake.issue_code_with_unionid("oAlice", "uAlice");
    let (status, body) = e.login(&code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["openid"], "oAlice");
    assert_eq!(body["user"]["unionid"], "uAlice");
    assert_eq!(body["user"]["platform"], "wechat");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    let key = e.fake.session_key("oAlice").unwrap();
    assert!(
        !body.to_string().contains(&key),
        "session_key never leaves the server"
    );
    let uid = body["user"]["id"].as_str().unwrap().to_string();
    let access = body["access_token"].as_str().unwrap().to_string();

    let res = e
        .srv
        .http()
        .get(e.srv.url("/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["id"], uid.as_str());
    assert_eq!(me["user"]["openid"], "oAlice");

    let (status, refreshed) = e
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": body["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["user"]["id"], uid.as_str());

    // the same person logging in again is the same user
    let (status, again) = e.login(&e.fake.issue_code("oAlice")).await;
    assert_eq!(status, 200);
    assert_eq!(again["user"]["id"], uid.as_str());
    // the session key is sealed at rest: not in the database file in clear
    let db_bytes: Vec<u8> = std::fs::read_dir(e.srv.data_dir())
        .unwrap()
        .filter_map(|f| f.ok())
        .filter(|f| f.file_name().to_string_lossy().starts_with("data.db"))
        .flat_map(|f| std::fs::read(f.path()).unwrap_or_default())
        .collect();
    assert!(!db_bytes.windows(key.len()).any(|w| w == key.as_bytes()));
}

#[tokio::test]
async fn login_upstream_errors_map_exactly() {
    let e = env().await;
    // real behaviour of the fake: unknown code, reused code
    let (status, body) = e.login("never-issued").await;
    assert_eq!(status, 400);
    assert_upstream(&body, "INVALID_ARGUMENT", 40029);
    let code = e.fake.issue_code("oBob");
    assert_eq!(e.login(&code).await.0, 200);
    let (status, body) = e.login(&code).await;
    assert_eq!(status, 400);
    assert_upstream(&body, "INVALID_ARGUMENT", 40163);

    // errors on demand (-1 is retried by the client, so it must persist to surface)
    for (errcode, times, status, name) in [
        (40029, 1, 400, "INVALID_ARGUMENT"),
        (40163, 1, 400, "INVALID_ARGUMENT"),
        (45011, 1, 429, "RATE_LIMITED"),
        (-1, 3, 503, "UNAVAILABLE"),
        (40226, 1, 502, "UPSTREAM_ERROR"),
        (40013, 1, 502, "UPSTREAM_ERROR"),
        (61024, 1, 502, "UPSTREAM_ERROR"),
    ] {
        e.fake
            .fail_next(Endpoint::Jscode2session, Fault::Errcode(errcode), times);
        let res = e
            .srv
            .http()
            .post(e.srv.url("/api/auth/wechat/login"))
            .json(&json!({ "code": e.fake.issue_code("oBob") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "errcode {errcode}");
        if status == 429 {
            assert!(res.headers().contains_key("retry-after"));
        }
        let body: Value = res.json().await.unwrap();
        assert_upstream(&body, name, errcode);
        assert!(body["error"]["request_id"].is_string());
    }
    // -1 once is absorbed by the bounded retry
    e.fake.fail_once(Endpoint::Jscode2session, -1);
    assert_eq!(e.login(&e.fake.issue_code("oBob")).await.0, 200);
}

#[tokio::test]
async fn bad_login_codes_never_reach_wechat() {
    let e = env().await;
    let huge = "x".repeat(10_000);
    for body in [
        json!({}),
        json!({ "code": "" }),
        json!({ "code": huge }),
        json!({ "code": 42 }),
        json!({ "code": "含中文" }),
        json!({ "code": "a b" }),
        json!([1]),
    ] {
        let (status, answer) = e.post("/api/auth/wechat/login", None, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_ARGUMENT");
    }
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/auth/wechat/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(e.fake.calls(Endpoint::Jscode2session), 0);
}

#[tokio::test]
async fn phone_number_is_stored_and_returned_by_me() {
    let e = env().await;
    let token = e.login_with_key("oPhone", "AAAAAAAAAAAAAAAAAAAAAA==").await;
    e.fake.add_phone_code("phone-code-1", "13800138000", "86");
    let (status, body) = e
        .post(
            "/api/auth/wechat/phone",
            Some(&token),
            json!({ "code": "phone-code-1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "phone_number": "13800138000", "pure_phone_number": "13800138000", "country_code": "86" })
    );
    let me: Value = e
        .srv
        .http()
        .get(e.srv.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["phone_number"], "13800138000");
    // single use
    let (status, body) = e
        .post(
            "/api/auth/wechat/phone",
            Some(&token),
            json!({ "code": "phone-code-1" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_upstream(&body, "INVALID_ARGUMENT", 40029);
    // who may call
    assert_eq!(
        e.post("/api/auth/wechat/phone", None, json!({ "code": "x" }))
            .await
            .0,
        401
    );
    assert_eq!(
        e.post(
            "/api/auth/wechat/phone",
            Some(&e.service_key()),
            json!({ "code": "x" })
        )
        .await
        .0,
        403
    );
    assert_eq!(
        e.post(
            "/api/auth/wechat/phone",
            Some(&token),
            json!({ "code": "" })
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn decrypt_official_vector_and_garbage() {
    let e = env().await;
    let token = e
        .login_with_key("oGZUI0egBJY1zhBYw2KhdUfwVJJE", VEC_SESSION_KEY)
        .await;
    let (status, body) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&token),
            json!({ "encrypted_data": VEC_ENCRYPTED, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
    assert_eq!(body["data"]["watermark"]["appid"], VEC_APPID);

    // another app's watermark
    let foreign =
        json!({ "openId": "o", "watermark": { "appid": "wx0000000000000000", "timestamp": 1 } })
            .to_string();
    let enc = wechat::data::encrypt_user_data(VEC_SESSION_KEY, VEC_IV, foreign.as_bytes()).unwrap();
    let (status, body) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&token),
            json!({ "encrypted_data": enc, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("watermark")
    );

    // garbage: never a 500, never a panic
    for (data, iv) in [
        ("!!!not base64!!!", VEC_IV),
        ("", VEC_IV),
        ("AAAA", VEC_IV),
        (VEC_ENCRYPTED, "short"),
        (VEC_ENCRYPTED, "%%%%"),
        (VEC_ENCRYPTED, "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("AAAAAAAAAAAAAAAAAAAAAA==", VEC_IV),
    ] {
        let (status, body) = e
            .post(
                "/api/auth/wechat/decrypt",
                Some(&token),
                json!({ "encrypted_data": data, "iv": iv }),
            )
            .await;
        assert_eq!(status, 400, "{data} {iv} → {body}");
    }
    let (status, _) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&token),
            json!({ "encrypted_data": 1, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 400);
    // wrong key: another user's session
    let other = e.login_with_key("oOther", "AAAAAAAAAAAAAAAAAAAAAA==").await;
    let (status, _) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&other),
            json!({ "encrypted_data": VEC_ENCRYPTED, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 400);
    // a user without a WeChat session (dev login) and non-users
    let (status, _) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&e.service_key()),
            json!({ "encrypted_data": VEC_ENCRYPTED, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = e
        .post(
            "/api/auth/wechat/decrypt",
            None,
            json!({ "encrypted_data": VEC_ENCRYPTED, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn signature_official_vector() {
    let e = env().await;
    let token = e.login_with_key("oSig", SIG_SESSION_KEY).await;
    let (status, body) = e
        .post(
            "/api/auth/wechat/verify-signature",
            Some(&token),
            json!({ "raw_data": SIG_RAW, "signature": SIG }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "valid": true }));
    let tampered = SIG_RAW.replace("Band", "Bond");
    let (_, body) = e
        .post(
            "/api/auth/wechat/verify-signature",
            Some(&token),
            json!({ "raw_data": tampered, "signature": SIG }),
        )
        .await;
    assert_eq!(body, json!({ "valid": false }));
    let (status, _) = e
        .post(
            "/api/auth/wechat/verify-signature",
            Some(&token),
            json!({ "raw_data": SIG_RAW }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn open_apis_for_service_callers() {
    let e = env().await;
    let key = e.service_key();
    let user = e.login_with_key("oUser", "AAAAAAAAAAAAAAAAAAAAAA==").await;
    let check = json!({ "content": "你好", "scene": 2, "openid": "oUser" });
    assert_eq!(
        e.post("/api/wechat/openapi/msgSecCheck", None, check.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        e.post(
            "/api/wechat/openapi/msgSecCheck",
            Some(&user),
            check.clone()
        )
        .await
        .0,
        403
    );
    let (status, body) = e
        .post("/api/wechat/openapi/nope", Some(&key), check.clone())
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        e.post("/api/wechat/openapi/msgSecCheck", Some(&key), json!([1]))
            .await
            .0,
        400
    );
    assert_eq!(
        e.post(
            "/api/wechat/openapi/msgSecCheck",
            Some(&key),
            json!({ "content": 1 })
        )
        .await
        .0,
        400
    );
    assert_eq!(
        e.fake.calls(Endpoint::StableToken),
        0,
        "nothing was sent for refused requests"
    );

    let (status, body) = e
        .post("/api/wechat/openapi/msgSecCheck", Some(&key), check.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["suggest"], "pass");
    let (_, body) = e
        .post(
            "/api/wechat/openapi/msgSecCheck",
            Some(&key),
            json!({ "content": "fake-risky-word", "scene": 2, "openid": "o" }),
        )
        .await;
    assert_eq!(body["result"]["suggest"], "risky");

    // subscribe messages: 43101 until the user subscribes
    let msg = json!({ "touser": "oUser", "templateId": "TPL", "data": { "thing1": { "value": "到货了" } } });
    let (status, body) = e
        .post(
            "/api/wechat/openapi/subscribeMessage.send",
            Some(&key),
            msg.clone(),
        )
        .await;
    assert_eq!(status, 502);
    assert_upstream(&body, "UPSTREAM_ERROR", 43101);
    e.fake.grant_subscription("oUser", "TPL", 1);
    assert_eq!(
        e.post("/api/wechat/openapi/subscribeMessage.send", Some(&key), msg)
            .await
            .0,
        200
    );
    assert_eq!(
        e.fake.sent_messages()[0]["data"]["thing1"]["value"],
        "到货了"
    );

    // mini-program codes: image bytes with their content type, or the JSON error
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/wechat/openapi/wxacode.getUnlimited"))
        .bearer_auth(&key)
        .json(&json!({ "scene": "id=42", "page": "pages/item/item" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let (status, body) = e
        .post(
            "/api/wechat/openapi/wxacode.getUnlimited",
            Some(&key),
            json!({ "scene": "a", "page": "/pages/x" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_upstream(&body, "INVALID_ARGUMENT", 41030);

    e.fake.add_phone_code("pc", "13900139000", "86");
    let (status, body) = e
        .post(
            "/api/wechat/openapi/phonenumber.getPhoneNumber",
            Some(&key),
            json!({ "code": "pc" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone_info"]["purePhoneNumber"], "13900139000");
    let (status, body) = e
        .post(
            "/api/wechat/openapi/mediaCheckAsync",
            Some(&key),
            json!({ "media_url": "https://x/y.png", "media_type": 2, "scene": 1, "openid": "o" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["trace_id"].is_string());
    // -1 persisting → 503
    e.fake
        .fail_next(Endpoint::MsgSecCheck, Fault::Errcode(-1), 3);
    let (status, body) = e
        .post("/api/wechat/openapi/msgSecCheck", Some(&key), check)
        .await;
    assert_eq!(status, 503);
    assert_upstream(&body, "UNAVAILABLE", -1);
    assert_eq!(
        e.fake.calls(Endpoint::StableToken),
        1,
        "one token for everything"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_open_api_calls_fetch_one_token() {
    let e = env().await;
    let key = e.service_key();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let http = e.srv.http().clone();
        let url = e.srv.url("/api/wechat/openapi/msgSecCheck");
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(&json!({ "content": format!("hello {i}"), "scene": 2, "openid": "o" }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(e.fake.calls(Endpoint::StableToken), 1);
    assert_eq!(e.fake.calls(Endpoint::MsgSecCheck), 1000);
}

#[tokio::test]
async fn rejected_token_one_refresh_one_retry() {
    let e = env().await;
    let key = e.service_key();
    let check = json!({ "content": "hi", "scene": 2, "openid": "o" });
    assert_eq!(
        e.post("/api/wechat/openapi/msgSecCheck", Some(&key), check.clone())
            .await
            .0,
        200
    );
    e.fake.reset_counters();
    e.fake.invalidate_tokens();
    let (status, body) = e
        .post("/api/wechat/openapi/msgSecCheck", Some(&key), check.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(e.fake.calls(Endpoint::StableToken), 1, "one refresh");
    assert_eq!(e.fake.calls(Endpoint::MsgSecCheck), 2, "one retry");
    // a token that stays rejected: still one refresh, one retry, then the error
    e.fake.reset_counters();
    e.fake
        .fail_next(Endpoint::MsgSecCheck, Fault::Errcode(42001), 2);
    let (status, body) = e
        .post("/api/wechat/openapi/msgSecCheck", Some(&key), check)
        .await;
    assert_eq!(status, 502);
    assert_upstream(&body, "UPSTREAM_ERROR", 42001);
    assert_eq!(e.fake.calls(Endpoint::MsgSecCheck), 2);
    assert_eq!(e.fake.calls(Endpoint::StableToken), 1);
}

#[tokio::test]
async fn token_survives_a_restart() {
    let e = env().await;
    let key = e.service_key();
    let check = json!({ "content": "hi", "scene": 2, "openid": "o" });
    assert_eq!(
        e.post("/api/wechat/openapi/msgSecCheck", Some(&key), check.clone())
            .await
            .0,
        200
    );
    let Env { fake, srv } = e;
    let srv = srv.restart().await;
    let e = Env { fake, srv };
    assert_eq!(
        e.post(
            "/api/wechat/openapi/msgSecCheck",
            Some(&e.service_key()),
            check
        )
        .await
        .0,
        200
    );
    assert_eq!(
        e.fake.calls(Endpoint::StableToken),
        1,
        "the stored token was reused"
    );
}

// ---- message push -------------------------------------------------------------------------

fn now_secs() -> i64 {
    mb_core::now_ms() / 1000
}

fn crypto(appid: &str) -> wechat::PushCrypto {
    wechat::PushCrypto::new(PUSH_TOKEN, &push_aes_key(), appid).unwrap()
}

async fn push_count(e: &Env) -> u64 {
    e.srv
        .state()
        .db()
        .count(&mb_core::Caller::System, "_wechat_push", &json!({}))
        .await
        .unwrap()
}

async fn post_push(e: &Env, query: &[(&str, String)], body: &str) -> (u16, String) {
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/wechat/push"))
        .query(query)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn plain_query(ts: i64, nonce: &str) -> Vec<(&'static str, String)> {
    let sig = crypto(VEC_APPID).signature(&ts.to_string(), nonce);
    vec![
        ("signature", sig),
        ("timestamp", ts.to_string()),
        ("nonce", nonce.into()),
        ("openid", "oPush".into()),
    ]
}

fn safe_request(
    appid: &str,
    ts: i64,
    nonce: &str,
    inner: &str,
    xml: bool,
) -> (Vec<(&'static str, String)>, String) {
    let c = crypto(appid);
    let enc = c.encrypt(inner).unwrap();
    let msg_sig = c.msg_signature(&ts.to_string(), nonce, &enc);
    let body = if xml {
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        )
    } else {
        json!({ "ToUserName": "gh_test", "Encrypt": enc }).to_string()
    };
    let q = vec![
        ("signature", c.signature(&ts.to_string(), nonce)),
        ("timestamp", ts.to_string()),
        ("nonce", nonce.into()),
        ("openid", "oPush".into()),
        ("encrypt_type", "aes".into()),
        ("msg_signature", msg_sig),
    ];
    (q, body)
}

#[tokio::test]
async fn push_url_verification() {
    let e = env().await;
    let ts = now_secs().to_string();
    let sig = crypto(VEC_APPID).signature(&ts, "n1");
    let res = e
        .srv
        .http()
        .get(e.srv.url("/api/wechat/push"))
        .query(&[
            ("signature", sig.as_str()),
            ("timestamp", &ts),
            ("nonce", "n1"),
            ("echostr", "echo-123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "echo-123");
    let res = e
        .srv
        .http()
        .get(e.srv.url("/api/wechat/push"))
        .query(&[
            ("signature", "0".repeat(40).as_str()),
            ("timestamp", &ts),
            ("nonce", "n1"),
            ("echostr", "echo-123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = e
        .srv
        .http()
        .get(e.srv.url("/api/wechat/push"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn push_plain_and_safe_json_and_xml() {
    let e = env().await;
    let ts = now_secs();
    let json_msg = json!({ "ToUserName": "gh_test", "FromUserName": "oPush", "CreateTime": ts, "MsgType": "event", "Event": "wxa_media_check", "trace_id": "t1" }).to_string();
    let xml_msg = format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oPush]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 <b>]]></Content></xml>"
    );

    let (s, body) = post_push(&e, &plain_query(ts, "p1"), &json_msg).await;
    assert_eq!((s, body.as_str()), (200, "success"));
    let (s, body) = post_push(&e, &plain_query(ts, "p2"), &xml_msg).await;
    assert_eq!((s, body.as_str()), (200, "success"));
    let (q, b) = safe_request(VEC_APPID, ts, "s1", &json_msg, false);
    assert_eq!(post_push(&e, &q, &b).await, (200, "success".to_string()));
    let (q, b) = safe_request(VEC_APPID, ts, "s2", &xml_msg, true);
    assert_eq!(post_push(&e, &q, &b).await, (200, "success".to_string()));
    assert_eq!(push_count(&e).await, 4);

    let docs = e
        .srv
        .state()
        .db()
        .query(
            &mb_core::Caller::System,
            "_wechat_push",
            &docdb::QueryRequest {
                where_: json!({}),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let texts: Vec<&Value> = docs.iter().filter(|d| d["msg_type"] == "text").collect();
    assert_eq!(texts.len(), 2);
    for d in &texts {
        assert_eq!(d["message"]["Content"], "你好 <b>");
        assert_eq!(d["format"], "xml");
        assert_eq!(d["openid"], "oPush");
    }
    let events: Vec<&Value> = docs
        .iter()
        .filter(|d| d["event"] == "wxa_media_check")
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events.iter().any(|d| d["encrypted"] == true));
    assert!(events.iter().any(|d| d["encrypted"] == false));
}

#[tokio::test]
async fn push_forged_replayed_stale_and_foreign_change_nothing() {
    let e = env().await;
    let ts = now_secs();
    let msg = json!({ "MsgType": "event", "Event": "x" }).to_string();

    // forged plain signature
    let mut q = plain_query(ts, "f1");
    q[0].1 = "0".repeat(40);
    assert_eq!(post_push(&e, &q, &msg).await.0, 401);
    // forged safe-mode signature
    let (mut q, b) = safe_request(VEC_APPID, ts, "f2", &msg, false);
    q[5].1 = "1".repeat(40);
    assert_eq!(post_push(&e, &q, &b).await.0, 401);
    // tampered ciphertext under a valid-looking signature
    let (q, b) = safe_request(VEC_APPID, ts, "f3", &msg, false);
    let tampered = b.replacen("\"Encrypt\":\"", "\"Encrypt\":\"AAAA", 1);
    assert_eq!(post_push(&e, &q, &tampered).await.0, 401);
    // encrypted for another appid (right key and token)
    let (q, b) = safe_request("wx0000000000000000", ts, "f4", &msg, false);
    assert_eq!(post_push(&e, &q, &b).await.0, 400);
    // stale and future timestamps
    assert_eq!(
        post_push(&e, &plain_query(ts - 3600, "f5"), &msg).await.0,
        400
    );
    assert_eq!(
        post_push(&e, &plain_query(ts + 3600, "f6"), &msg).await.0,
        400
    );
    // garbage bodies
    assert_eq!(
        post_push(&e, &plain_query(ts, "f7"), "not a message")
            .await
            .0,
        400
    );
    assert_eq!(
        post_push(&e, &plain_query(ts, "f8"), "<xml><a></xml>")
            .await
            .0,
        400
    );
    let (q, _) = safe_request(VEC_APPID, ts, "f9", &msg, false);
    assert_eq!(post_push(&e, &q, "{}").await.0, 400);
    assert_eq!(push_count(&e).await, 0, "nothing refused was stored");

    // replay: the same request twice
    let q = plain_query(ts, "r1");
    assert_eq!(post_push(&e, &q, &msg).await.0, 200);
    assert_eq!(post_push(&e, &q, &msg).await.0, 400);
    let (q, b) = safe_request(VEC_APPID, ts, "r2", &msg, true);
    assert_eq!(post_push(&e, &q, &b).await.0, 200);
    assert_eq!(post_push(&e, &q, &b).await.0, 400);
    assert_eq!(push_count(&e).await, 2);
}

#[tokio::test]
async fn user_data_needs_a_wechat_session() {
    let e = env().await;
    // a dev-login user has no session_key
    let token = e.srv.user_token("oDev").await;
    let (status, body) = e
        .post(
            "/api/auth/wechat/decrypt",
            Some(&token),
            json!({ "encrypted_data": VEC_ENCRYPTED, "iv": VEC_IV }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = e
        .post(
            "/api/auth/wechat/verify-signature",
            Some(&token),
            json!({ "raw_data": SIG_RAW, "signature": SIG }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn push_without_configuration_is_404() {
    let srv = TestServer::start().await;
    let res = srv
        .http()
        .get(srv.url("/api/wechat/push"))
        .query(&[("echostr", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = srv
        .http()
        .post(srv.url("/api/wechat/push"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

struct Recorder(tokio::sync::mpsc::UnboundedSender<(String, Value)>);

#[async_trait::async_trait]
impl wechat::PushHandler for Recorder {
    async fn handle(&self, function: &str, record: &Value) -> Result<(), String> {
        let _ = self.0.send((function.to_string(), record.clone()));
        Err("recorded (and refused, to see the error stored)".into())
    }
}

#[tokio::test]
async fn accepted_pushes_reach_the_registered_handler() {
    let fake = FakeWechat::start_with(FakeWechatOptions {
        appid: VEC_APPID.into(),
        ..Default::default()
    })
    .await;
    let url = fake.url();
    let srv = TestServer::builder()
        .config(move |c| {
            c.wechat.api_base = url;
            c.wechat.appid = VEC_APPID.into();
            c.wechat.push_token = Secret::new(PUSH_TOKEN);
            c.wechat.push_function = "onPush".into();
        })
        .start()
        .await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    srv.state()
        .wechat()
        .set_push_handler(std::sync::Arc::new(Recorder(tx)));
    let e = Env { fake, srv };
    let ts = now_secs();
    let (s, _) = post_push(
        &e,
        &plain_query(ts, "h1"),
        r#"{"MsgType":"event","Event":"user_enter_tempsession"}"#,
    )
    .await;
    assert_eq!(s, 200);
    let (function, record) = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(function, "onPush");
    assert_eq!(record["event"], "user_enter_tempsession");
    // the outcome is recorded on the stored message
    let id = record["_id"].as_str().unwrap().to_string();
    let mut stored = Value::Null;
    for _ in 0..50 {
        stored = e
            .srv
            .state()
            .db()
            .get(&mb_core::Caller::System, "_wechat_push", &id)
            .await
            .unwrap()
            .unwrap();
        if stored.get("handled_at").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        stored["handler_error"]
            .as_str()
            .unwrap()
            .contains("recorded")
    );
    // service callers read pushes through the documents API; users do not
    let query = json!({ "where": { "event": "user_enter_tempsession" } });
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/db/_wechat_push/query"))
        .bearer_auth(e.srv.service_key())
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let user = e.srv.user_token("oNosy").await;
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/db/_wechat_push/query"))
        .bearer_auth(user)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == 403
            || res.json::<Value>().await.unwrap()["data"]
                .as_array()
                .is_some_and(|a| a.is_empty())
    );
    // the access token store is internal: not even service callers see it
    let res = e
        .srv
        .http()
        .post(e.srv.url("/api/db/_kv/query"))
        .bearer_auth(e.srv.service_key())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == 403 || res.status() == 404,
        "{}",
        res.status()
    );
}

/// `minibase dev fake-wechat` + `minibase serve`: the whole login flow with the real binary.
#[test]
fn dev_fake_wechat_command_serves_the_login_flow() {
    use std::io::{BufRead, BufReader};
    let mut fake = std::process::Command::new(env!("CARGO_BIN_EXE_minibase"))
        .args(["dev", "fake-wechat", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(fake.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    let dir = tempfile::tempdir().unwrap();
    let crate::cli::Served {
        child: mut server,
        addr,
        ..
    } = crate::cli::spawn_server(
        dir.path(),
        &[
            ("MINIBASE_WECHAT__API_BASE", url.as_str()),
            ("MINIBASE_WECHAT__APPID", testkit::fake_wechat::FAKE_APPID),
            ("MINIBASE_WECHAT__SECRET", testkit::fake_wechat::FAKE_SECRET),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let http = reqwest::Client::new();
        let res = http
            .post(format!("http://{addr}/api/auth/wechat/login"))
            .json(&json!({ "code": "openid:alice" }))
            .send()
            .await?;
        let status = res.status().as_u16();
        let body: Value = res.json().await?;
        let again = http
            .post(format!("http://{addr}/api/auth/wechat/login"))
            .json(&json!({ "code": "openid:alice" }))
            .send()
            .await?;
        Ok::<_, reqwest::Error>((status, body, again.status().as_u16()))
    });
    crate::cli::signal(&server, "TERM");
    crate::cli::signal(&fake, "TERM");
    let _ = server.wait();
    let _ = fake.wait();
    let (status, body, again) = result.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["openid"], "alice");
    assert_eq!(again, 400, "codes stay single-use");
}

#[tokio::test]
async fn login_timeout_and_missing_configuration() {
    let e = env().await;
    // WeChat slower than wechat.timeout (2 s here): 504, and the code is not retried
    e.fake.fail_next(
        Endpoint::Jscode2session,
        Fault::Delay(std::time::Duration::from_millis(2500)),
        1,
    );
    let (status, body) = e.login(&e.fake.issue_code("oSlow")).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "DEADLINE_EXCEEDED");
    assert_eq!(body["error"]["upstream"]["service"], "wechat");
    assert_eq!(e.fake.calls(Endpoint::Jscode2session), 1);

    // a server without [wechat] settings says so, without calling anything
    let srv = TestServer::start().await;
    let res = srv
        .http()
        .post(srv.url("/api/auth/wechat/login"))
        .json(&json!({ "code": "abc" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wechat.appid"),
        "{body}"
    );
    let res = srv
        .http()
        .post(srv.url("/api/wechat/openapi/msgSecCheck"))
        .bearer_auth(srv.service_key())
        .json(&json!({ "content": "x", "scene": 1, "openid": "o" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}
