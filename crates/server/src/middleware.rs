//! The middleware every request goes through, in one function so its cost is easy to see
//! ([`observe`]):
//!
//! 1. a request id: the client's `X-Request-Id` when it is sane (≤ 64 of `[A-Za-z0-9._-]`),
//!    else a new one; echoed in the response header and in every error body;
//! 2. the request id, the client IP and the authenticator, as one request extension
//!    ([`RequestContext`]; handlers take [`crate::extract::ClientIp`], [`RequestId`] or
//!    `Caller`);
//! 3. the per-IP rate limit (429 + `Retry-After`);
//! 4. the request timeout (`server.request_timeout`; uploads, downloads, WebSockets and
//!    functions, which have their own limits, are exempt);
//! 5. the error envelope on every error response — ours get their `request_id`; plain-text
//!    errors from axum or layers (404, 405, 413, rejections) are rewritten into the envelope —
//!    except responses marked [`RawResponse`] (a function's own HTTP answer);
//! 6. metrics and one JSON access-log line: method, path (never the query string, which may
//!    hold a token or a signature), status, latency, client IP, request id.

use crate::extract::client_ip;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use mb_core::{ApiError, ConnectionInfo, ErrorCode, RequestContext};
use std::net::IpAddr;
use std::time::Instant;

/// The id of the current request, for handlers that need it as text (an extractor over the
/// [`RequestContext`] the middleware puts into every request).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestContext>()
            .map(|c| RequestId(c.request_id().to_owned()))
            .ok_or_else(|| {
                ApiError::internal("no request context (the observe middleware is not in front)")
            })
    }
}

/// Marks a response whose error status and body must reach the client untouched (a cloud
/// function's own HTTP answer, a protocol that dictates its error shape).
#[derive(Debug, Clone, Copy)]
pub struct RawResponse;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's `X-Request-Id` when it is sane (≤ 64 of `[A-Za-z0-9._-]`): shared, not copied.
fn sane_request_id(v: Option<&HeaderValue>) -> Option<HeaderValue> {
    let v = v?;
    let b = v.as_bytes();
    (!b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b)))
    .then(|| v.clone())
}

/// A new request id: 16 lowercase hex digits.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand_like::next_u64();
    let mut buf = [0u8; 16];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((n >> ((15 - i) * 4)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&buf).expect("hex digits are a valid header value")
}

/// A tiny non-cryptographic generator for request ids (not secrets; no syscall per request).
mod rand_like {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            let addr = &t as *const u64 as u64;
            t ^ addr.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15
        });
    }
    pub fn next_u64() -> u64 {
        STATE.with(|s| {
            // splitmix64
            let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }
}

/// Paths with their own time limits (streams, sockets, functions).
fn exempt_from_timeout(path: &str) -> bool {
    path.starts_with("/api/storage/upload")
        || path.starts_with("/storage/")
        || path == "/api/realtime"
        || path.starts_with("/api/functions/")
        || path.starts_with("/fn/")
        || path.starts_with("/_/api/files/raw")
        || path.starts_with("/_/api/functions/")
}

/// See the module docs.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let config = state.config();
    let request_id =
        sane_request_id(req.headers().get(&X_REQUEST_ID)).unwrap_or_else(new_request_id);
    let method = req.method().clone();
    // The console's recent-requests log, for requests it keeps (not the console's own).
    let recent = state
        .recent_requests()
        .filter(|_| console::requests::RecentRequests::wants(req.uri().path()));
    let caller_seen: Option<mb_core::CallerSlot> = recent.map(|_| Default::default());
    // Only what the access log and the timeout need; the path is copied only when logged.
    let path = (config.server.access_log || recent.is_some()).then(|| req.uri().path().to_string());
    let no_timeout = exempt_from_timeout(req.uri().path());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let ip = match req.extensions().get::<ConnectionInfo>() {
        Some(c) => client_ip(req.headers(), c.remote.ip(), &config.server.trusted_proxies),
        None => IpAddr::from([127, 0, 0, 1]),
    };
    // One extension (one allocation) for everything handlers may ask for.
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client_ip: ip,
        authenticator: state.authenticator().clone(),
        caller_seen: caller_seen.clone(),
    });
    let _in_flight = state.metrics().in_flight();

    let limited = state.rate_limiter().and_then(|rl| rl.check(ip).err());
    let mut res = if let Some(wait) = limited {
        ApiError::rate_limited(wait).into_response()
    } else if no_timeout {
        next.run(req).await
    } else {
        match tokio::time::timeout(config.server.request_timeout.get(), next.run(req)).await {
            Ok(res) => res,
            Err(_) => ApiError::new(ErrorCode::DeadlineExceeded, "the request took too long")
                .into_response(),
        }
    };
    let id_text = request_id.to_str().unwrap_or("");
    if res.status().as_u16() >= 400 {
        res = finalize_error(res, id_text).await;
    }
    let status = res.status().as_u16();
    let elapsed = start.elapsed();
    state.metrics().record(
        &method,
        route.as_ref().map_or("unmatched", |r| r.as_str()),
        status,
        elapsed,
    );
    if let (Some(ring), Some(path)) = (recent, &path) {
        ring.record(console::requests::Finished {
            request_id: id_text,
            method: method.as_str(),
            path,
            status,
            elapsed,
            ip,
            caller: caller_seen.as_ref().and_then(|s| s.get()),
        });
    }
    if let Some(path) = path.filter(|_| config.server.access_log) {
        tracing::info!(
            target: "minibase::access",
            request_id = %id_text,
            method = %method,
            path = %path,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            ip = %ip,
            "request"
        );
    }
    res.headers_mut().insert(X_REQUEST_ID, request_id);
    res
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn finalize_error(res: Response, request_id: &str) -> Response {
    if res.extensions().get::<RawResponse>().is_some() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let error = match parts.extensions.remove::<ApiError>() {
        Some(e) => e,
        None => {
            if is_json(&parts.headers) {
                return Response::from_parts(parts, body);
            }
            let text = match tokio::time::timeout(std::time::Duration::from_secs(1), body.collect())
                .await
            {
                Ok(Ok(collected)) => {
                    let bytes = collected.to_bytes();
                    String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                        .trim()
                        .to_string()
                }
                _ => String::new(),
            };
            let status = parts.status;
            let message = match status {
                StatusCode::NOT_FOUND => "no such route".to_string(),
                StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this route".to_string(),
                StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_string(),
                _ if !text.is_empty() => text,
                _ => status.canonical_reason().unwrap_or("error").to_string(),
            };
            ApiError::new(ErrorCode::from_status(status), message)
        }
    };
    let body = serde_json::to_vec(&error.to_body(Some(request_id))).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(error);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert_eq!(
            sane_request_id(Some(&HeaderValue::from_static("abc-1.2_3"))).unwrap(),
            "abc-1.2_3"
        );
        assert_eq!(
            sane_request_id(Some(&HeaderValue::from_static("a b"))),
            None
        );
        assert_eq!(
            sane_request_id(Some(&HeaderValue::from_str(&"a".repeat(65)).unwrap())),
            None
        );
        assert_ne!(new_request_id(), new_request_id());
        assert_eq!(new_request_id().len(), 16);
        assert!(
            new_request_id()
                .as_bytes()
                .iter()
                .all(u8::is_ascii_hexdigit)
        );
    }
}
