//! The error envelope of API.md §0 and the stable codes clients branch on.
//!
//! Handlers return `Result<_, ApiError>`. Client errors carry their message to the client;
//! [`ApiError::internal`] logs the real cause and answers a generic message, so SQL, paths
//! and secrets never leak. The response body is rendered by `server`'s request-id
//! middleware, which knows the request id: [`ApiError`]'s `IntoResponse` stores the error in
//! the response extensions and writes a provisional body without it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// Stable error codes (API.md §0). Clients branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: malformed JSON, unknown operator, bad field path, bad id, wrong types.
    InvalidArgument,
    /// 401: missing, malformed, expired or revoked token.
    Unauthenticated,
    /// 403: a rule said no; a collection not opened to clients.
    PermissionDenied,
    /// 404: no such document, file, function or route.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: duplicate `_id`, unique index violated.
    Conflict,
    /// 413: body, document or file over its limit.
    PayloadTooLarge,
    /// 429: rate limited; comes with `Retry-After`.
    RateLimited,
    /// 502: an upstream platform refused; `upstream.errcode` says why.
    UpstreamError,
    /// 503: upstream busy, shutting down, overloaded.
    Unavailable,
    /// 504: an upstream or a function took too long.
    DeadlineExceeded,
    /// 500: a bug. Never carries internals.
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::UpstreamError => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code for an HTTP status produced outside our handlers (axum rejections, layers).
    pub fn from_status(status: StatusCode) -> ErrorCode {
        match status.as_u16() {
            400 | 422 | 415 => ErrorCode::InvalidArgument,
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::PermissionDenied,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            429 => ErrorCode::RateLimited,
            502 => ErrorCode::UpstreamError,
            503 => ErrorCode::Unavailable,
            504 | 408 => ErrorCode::DeadlineExceeded,
            s if (400..500).contains(&s) => ErrorCode::InvalidArgument,
            _ => ErrorCode::Internal,
        }
    }

    /// The wire spelling, e.g. `"PERMISSION_DENIED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which upstream refused, and its own error code (`upstream` in the envelope).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    /// `"wechat"`, `"wechat_pay"`, `"s3"`, …
    pub service: &'static str,
    /// The upstream's own code (WeChat `errcode`), when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
}

/// An error as answered to a client. See the module docs.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code; decides the status.
    pub code: ErrorCode,
    /// Human-readable, safe to show (never internals).
    pub message: Cow<'static, str>,
    /// Set for upstream failures.
    pub upstream: Option<Upstream>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a client-safe message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
            upstream: None,
            retry_after: None,
        }
    }
    /// 400 INVALID_ARGUMENT.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// 401 UNAUTHENTICATED.
    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    /// 403 PERMISSION_DENIED.
    pub fn denied(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }
    /// 404 NOT_FOUND.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// 409 CONFLICT.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    /// 413 PAYLOAD_TOO_LARGE.
    pub fn too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }
    /// 503 UNAVAILABLE.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    /// 429 RATE_LIMITED with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, "too many requests, slow down");
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }
    /// An upstream refusal (502 by default) with the upstream's code.
    pub fn upstream(
        code: ErrorCode,
        service: &'static str,
        errcode: Option<i64>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut e = Self::new(code, message);
        e.upstream = Some(Upstream { service, errcode });
        e
    }
    /// 500 INTERNAL: logs `cause` (which may hold internals) and answers a generic message.
    #[track_caller]
    pub fn internal(cause: impl fmt::Display) -> Self {
        let location = std::panic::Location::caller();
        tracing::error!(error = %cause, at = %location, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The JSON envelope, with the request id when known.
    pub fn to_body(&self, request_id: Option<&str>) -> serde_json::Value {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code.as_str().into());
        error.insert("message".into(), self.message.as_ref().into());
        if let Some(id) = request_id {
            error.insert("request_id".into(), id.into());
        }
        if let Some(up) = &self.upstream {
            error.insert(
                "upstream".into(),
                serde_json::to_value(up).unwrap_or_default(),
            );
        }
        serde_json::json!({ "error": error })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_body(None)).unwrap_or_default();
        let mut res = (self.code.status(), body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res.extensions_mut().insert(self);
        res
    }
}

/// An error and its sources, `outer: inner: …`, for messages where the outermost text alone
/// hides the cause (HTTP clients and multipart parsers wrap the I/O error that matters).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ApiError::upstream(
            ErrorCode::InvalidArgument,
            "wechat",
            Some(40029),
            "invalid code",
        );
        let body = e.to_body(Some("r1"));
        assert_eq!(body["error"]["code"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["request_id"], "r1");
        assert_eq!(body["error"]["upstream"]["errcode"], 40029);
        assert_eq!(body["error"]["upstream"]["service"], "wechat");
    }

    #[test]
    fn statuses() {
        assert_eq!(ErrorCode::RateLimited.status().as_u16(), 429);
        assert_eq!(
            ErrorCode::from_status(StatusCode::PAYLOAD_TOO_LARGE),
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ErrorCode::InvalidArgument
        );
    }
}
