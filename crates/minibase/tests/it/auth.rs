//! Callers and tokens (API.md §0, §2): dev login, me, refresh rotation and reuse detection,
//! logout, the service key, and every kind of bad token.

use crate::util::expect_error;
use base64::Engine;
use serde_json::{Value, json};
use testkit::TestServer;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

async fn me(srv: &TestServer, token: &str) -> reqwest::Response {
    srv.http()
        .get(srv.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn refresh(srv: &TestServer, refresh_token: &str) -> reqwest::Response {
    srv.http()
        .post(srv.url("/api/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn dev_login_issues_tokens_and_me_answers_the_user() {
    let srv = TestServer::start().await;
    let login = srv.login("o-alice").await;
    assert_eq!(login["expires_in"], 7200);
    assert_eq!(login["user"]["openid"], "o-alice");
    assert_eq!(login["user"]["platform"], "wechat");
    assert!(login["user"]["id"].as_str().unwrap().len() == 32);
    let res = me(&srv, login["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["openid"], "o-alice");
    assert_eq!(body["user"]["id"], login["user"]["id"]);
    // The same openid is the same user.
    let again = srv.login("o-alice").await;
    assert_eq!(again["user"]["id"], login["user"]["id"]);
    assert_ne!(again["refresh_token"], login["refresh_token"]);
}

#[tokio::test]
async fn concurrent_first_logins_make_one_user() {
    let srv = TestServer::start().await;
    let logins = futures_util::future::join_all((0..20).map(|_| srv.login("o-race"))).await;
    let ids: std::collections::HashSet<String> = logins
        .iter()
        .map(|l| l["user"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1);
    let res = srv
        .http()
        .post(srv.url("/api/db/_users/count"))
        .bearer_auth(srv.service_key())
        .json(&json!({ "where": { "openid": "o-race" } }))
        .send()
        .await
        .unwrap();
    if res.status() == 200 {
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["total"], 1);
    }
}

#[tokio::test]
async fn dev_login_validates_and_can_be_disabled() {
    let srv = TestServer::start().await;
    for bad in [
        json!({}),
        json!({ "openid": "" }),
        json!({ "openid": 5 }),
        json!({ "openid": "a b" }),
        json!({ "openid": "x".repeat(200) }),
    ] {
        let res = srv
            .http()
            .post(srv.url("/api/auth/dev/login"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        expect_error(res, 400, "INVALID_ARGUMENT").await;
    }
    let srv = TestServer::builder()
        .config(|c| c.auth.dev_login = false)
        .start()
        .await;
    let res = srv
        .http()
        .post(srv.url("/api/auth/dev/login"))
        .json(&json!({ "openid": "o" }))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let srv = TestServer::start().await;
    let login = srv.login("o-bob").await;
    let r1 = login["refresh_token"].as_str().unwrap().to_string();
    let res = refresh(&srv, &r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        me(&srv, second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // Reusing the rotated token is theft: the whole session goes.
    expect_error(refresh(&srv, &r1).await, 401, "UNAUTHENTICATED").await;
    expect_error(refresh(&srv, &r2).await, 401, "UNAUTHENTICATED").await;
    expect_error(
        me(&srv, second["access_token"].as_str().unwrap()).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        me(&srv, login["access_token"].as_str().unwrap()).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    // Another session of the same user is untouched.
    let other = srv.login("o-bob").await;
    assert_eq!(
        me(&srv, other["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn logout_revokes_access_and_refresh() {
    let srv = TestServer::start().await;
    let login = srv.login("o-carol").await;
    let access = login["access_token"].as_str().unwrap();
    let rt = login["refresh_token"].as_str().unwrap();
    let res = srv
        .http()
        .post(srv.url("/api/auth/logout"))
        .json(&json!({ "refresh_token": rt }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    expect_error(me(&srv, access).await, 401, "UNAUTHENTICATED").await;
    expect_error(refresh(&srv, rt).await, 401, "UNAUTHENTICATED").await;
    // Logging out again is harmless; a made-up token is refused.
    let res = srv
        .http()
        .post(srv.url("/api/auth/logout"))
        .json(&json!({ "refresh_token": rt }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let fake = format!("{}.{}", "0".repeat(32), "1".repeat(64));
    let res = srv
        .http()
        .post(srv.url("/api/auth/logout"))
        .json(&json!({ "refresh_token": fake }))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn logout_survives_a_restart_and_tokens_stay_valid_across_restarts() {
    let srv = TestServer::start().await;
    let keep = srv.login("o-keep").await;
    let gone = srv.login("o-gone").await;
    let res = srv
        .http()
        .post(srv.url("/api/auth/logout"))
        .json(&json!({ "refresh_token": gone["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let srv = srv.restart().await;
    assert_eq!(
        me(&srv, keep["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    expect_error(
        me(&srv, gone["access_token"].as_str().unwrap()).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(
        refresh(&srv, keep["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(srv.data_dir().join("secrets/jwt_secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let srv = TestServer::start().await;
    let good = srv.user_token("o-dave").await;
    let parts: Vec<&str> = good.split('.').collect();
    // alg: none
    let none_header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    // signed with another secret
    let other = identity::jwt::JwtKeys::new(b"another-secret-another-secret-xx");
    let claims: identity::jwt::Claims =
        serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    let forged = other.encode(&claims);
    // tampered payload
    let mut evil = claims.clone();
    evil.oid = "o-someone-else".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(serde_json::to_vec(&evil).unwrap()),
        parts[2]
    );
    for token in [
        alg_none.as_str(),
        forged.as_str(),
        tampered.as_str(),
        "garbage",
        "a.b.c",
    ] {
        expect_error(me(&srv, token).await, 401, "UNAUTHENTICATED").await;
    }
    for header in ["Bearer", "Basic dXNlcjpwYXNz", "Bearer ", "token abc"] {
        let res = srv
            .http()
            .get(srv.url("/api/auth/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        expect_error(res, 401, "UNAUTHENTICATED").await;
    }
    let res = srv
        .http()
        .get(srv.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
    // A bad token does not get in the way of an endpoint that needs none.
    let res = srv
        .http()
        .get(srv.url("/api/health"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn expired_access_tokens_are_401() {
    let srv = TestServer::builder()
        .config(|c| c.auth.access_ttl = config::HumanDuration::parse("1s").unwrap())
        .start()
        .await;
    let login = srv.login("o-erin").await;
    assert_eq!(login["expires_in"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let body = expect_error(
        me(&srv, login["access_token"].as_str().unwrap()).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The refresh token still works and gives a fresh access token.
    let res = refresh(&srv, login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn service_key_is_a_service_caller_not_a_user() {
    let srv = TestServer::start().await;
    let res = me(&srv, srv.service_key()).await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let wrong = format!("{}x", srv.service_key());
    expect_error(me(&srv, &wrong).await, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn refresh_validates_its_input() {
    let srv = TestServer::start().await;
    for bad in [
        "",
        "nodot",
        "abc.def",
        &format!("{}.{}", "g".repeat(32), "1".repeat(64)),
    ] {
        expect_error(refresh(&srv, bad).await, 401, "UNAUTHENTICATED").await;
    }
}
