//! HTTP plumbing shared by every route: health, request ids, the error envelope on 404/405/413
//! and extractor rejections, CORS, rate limits, metrics.

use crate::util::expect_error;
use serde_json::{Value, json};
use testkit::TestServer;

#[tokio::test]
async fn health_answers_status_and_version() {
    let srv = TestServer::start().await;
    let res = srv.http().get(srv.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
    );
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_generated_otherwise() {
    let srv = TestServer::start().await;
    let res = srv
        .http()
        .get(srv.url("/api/health"))
        .header("x-request-id", "client-123_a.b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-123_a.b");
    let res = srv
        .http()
        .get(srv.url("/api/health"))
        .header("x-request-id", "bad id\"<script>")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "bad id\"<script>");
    assert_eq!(id.len(), 16);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let srv = TestServer::start().await;
    let res = srv
        .http()
        .get(srv.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let res = srv
        .http()
        .delete(srv.url("/api/health"))
        .send()
        .await
        .unwrap();
    expect_error(res, 405, "METHOD_NOT_ALLOWED").await;
    let res = srv
        .http()
        .get(srv.url("/api/auth/refresh"))
        .send()
        .await
        .unwrap();
    expect_error(res, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_reason() {
    let srv = TestServer::start().await;
    let url = srv.url("/api/auth/refresh");
    let res = srv
        .http()
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"refresh_token\": ")
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 400, "INVALID_ARGUMENT").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    let res = srv
        .http()
        .post(&url)
        .json(&json!({ "refresh_token": 42 }))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 400, "INVALID_ARGUMENT").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refresh_token"),
        "{body}"
    );
    let res = srv.http().post(&url).json(&json!({})).send().await.unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv
        .http()
        .post(&url)
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv
        .http()
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv.http().post(&url).send().await.unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv
        .http()
        .post(&url)
        .json(&json!({ "refresh_token": "x", "extra": 1 }))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let srv = TestServer::builder()
        .config(|c| c.limits.body = config::ByteSize(1024))
        .start()
        .await;
    let big = json!({ "refresh_token": "x".repeat(4096) });
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    // Within the limit the same endpoint answers normally.
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .json(&json!({ "refresh_token": "x" }))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_not_crashing() {
    let srv = TestServer::start().await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let deep = format!(
        "{{\"refresh_token\":{}1{}}}",
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let res = srv
        .http()
        .post(srv.url("/api/auth/refresh"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let res = srv.http().get(srv.url("/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let srv = TestServer::builder()
        .config(|c| {
            c.limits.rate_per_ip = 1;
            c.limits.rate_burst = 3;
        })
        .start()
        .await;
    let mut limited = None;
    for _ in 0..10 {
        let res = srv.http().get(srv.url("/api/health")).send().await.unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the bucket of 3 runs out within 10 requests");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    expect_error(res, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    // Nobody is trusted by default: a spoofed X-Forwarded-For cannot dodge the limit.
    let srv = TestServer::builder()
        .config(|c| {
            c.limits.rate_per_ip = 1;
            c.limits.rate_burst = 2;
        })
        .start()
        .await;
    let mut statuses = vec![];
    for i in 0..6 {
        let res = srv
            .http()
            .get(srv.url("/api/health"))
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let srv = TestServer::builder()
        .config(|c| c.server.cors_origins = vec!["https://h5.example.com".into()])
        .start()
        .await;
    let res = srv
        .http()
        .request(reqwest::Method::OPTIONS, srv.url("/api/auth/refresh"))
        .header("origin", "https://h5.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://h5.example.com"
    );
    let res = srv
        .http()
        .get(srv.url("/api/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let srv = TestServer::start().await;
    for _ in 0..3 {
        srv.http().get(srv.url("/api/health")).send().await.unwrap();
    }
    srv.http().get(srv.url("/nope")).send().await.unwrap();
    let text = srv
        .http()
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "minibase_http_requests_total{method=\"GET\",route=\"/api/health\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "minibase_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/health\""
    ));
    assert!(text.contains("minibase_build_info{version=\""));
    assert!(text.contains("minibase_open_connections"), "{text}");
}
