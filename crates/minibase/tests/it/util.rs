//! Small helpers shared by the integration tests.

use serde_json::Value;

/// Asserts the error envelope of API.md §0 and returns it.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    let got_status = res.status().as_u16();
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = res.text().await.expect("body");
    assert_eq!(got_status, status, "status (body: {text})");
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct} (body: {text})"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON error body, got {text}"));
    assert_eq!(body["error"]["code"], code, "code (body: {text})");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message (body: {text})"
    );
    assert_eq!(
        body["error"]["request_id"].as_str(),
        request_id.as_deref(),
        "request_id echoes the header"
    );
    body
}
