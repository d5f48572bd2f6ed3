//! Extractors whose rejections are always the error envelope with a message a developer can
//! act on.
//!
//! - [`Json<T>`]: the body as JSON. Not JSON, wrong shape, too deep, too large → 400 or 413
//!   naming the problem (`invalid body: code: invalid type: integer, expected a string`).
//!   A missing `Content-Type` is accepted (some HTTP clients omit it); another media type is
//!   refused.
//! - [`ClientIp`]: the client's address, believing `X-Forwarded-For`/`X-Real-IP` only when the
//!   connection comes from `server.trusted_proxies`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use mb_core::{ApiError, ConnectionInfo, ErrorCode};
use serde::de::DeserializeOwned;
use std::net::IpAddr;

/// A JSON body (request) or a JSON answer (response).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Largest nesting depth accepted in any JSON body before the configured document checks.
pub const MAX_BODY_DEPTH: usize = 128;

fn json_content_type(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => {
            let v = v.to_str().unwrap_or("").to_ascii_lowercase();
            let mime = v.split(';').next().unwrap_or("").trim();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
                || mime.is_empty()
        }
    }
}

/// Parses JSON bytes into `T`, with the failing path in the message.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("empty body: expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end()
                .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?;
            Ok(v)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let msg = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("malformed JSON: {inner}")
                }
                _ if path == "." || path.is_empty() => format!("invalid body: {inner}"),
                _ => format!("invalid body: `{path}`: {inner}"),
            };
            Err(ApiError::invalid(msg))
        }
    }
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::invalid("Content-Type must be application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status.as_u16() == 413 {
                ApiError::too_large("request body too large")
            } else {
                ApiError::new(
                    ErrorCode::from_status(status),
                    format!("cannot read body: {}", rejection.body_text()),
                )
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("serialising a response: {e}")).into_response(),
        }
    }
}

/// The client's IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client IP of a request: the peer address, or — when the peer is a trusted proxy — the
/// right-most untrusted address of `X-Forwarded-For` (then `X-Real-IP`).
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    if let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        let mut last = None;
        for part in xff.split(',').rev() {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if is_trusted(&ip) => last = Some(ip),
                Ok(ip) => return ip,
                Err(_) => break,
            }
        }
        if let Some(ip) = last {
            return ip;
        }
    }
    if let Some(ip) = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<mb_core::RequestContext>() {
            return Ok(ClientIp(ctx.client_ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectionInfo>()
            .map(|c| c.remote.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_only_from_trusted() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.0.0.7".parse().unwrap());
        assert_eq!(
            client_ip(&h, "10.0.0.1".parse().unwrap(), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&h, "8.8.8.8".parse().unwrap(), &trusted),
            "8.8.8.8".parse::<IpAddr>().unwrap()
        );
        // A client cannot prepend a fake address past the first untrusted hop.
        h.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        assert_eq!(
            client_ip(&h, "10.0.0.1".parse().unwrap(), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", "5.6.7.8".parse().unwrap());
        assert_eq!(
            client_ip(&h, "10.0.0.1".parse().unwrap(), &trusted),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            code: String,
        }
        let e = parse_json::<B>(br#"{"code": 5}"#).unwrap_err();
        assert!(e.message.contains("`code`"), "{}", e.message);
        let e = parse_json::<B>(br#"{"code": "#).unwrap_err();
        assert!(e.message.starts_with("malformed JSON"), "{}", e.message);
        let e = parse_json::<B>(b"").unwrap_err();
        assert!(e.message.contains("empty body"));
        let e = parse_json::<B>(br#"{"code":"a"} x"#).unwrap_err();
        assert!(
            e.message.contains("malformed JSON") || e.message.contains("trailing"),
            "{}",
            e.message
        );
    }
}
