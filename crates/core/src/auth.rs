//! Turning `Authorization: Bearer …` into a [`Caller`].
//!
//! `server` puts a [`RequestContext`] (which holds the [`Authenticator`]) into every request's
//! extensions — one extension for the request id, the client IP and the authenticator, so the
//! hot path allocates once; [`Caller`] is then an axum extractor any handler can take,
//! whatever its state type:
//!
//! - no credentials → [`Caller::Anonymous`];
//! - the service key → [`Caller::Service`];
//! - a valid access token for a live session → [`Caller::User`];
//! - anything else (malformed header, bad signature, `alg: none`, expired, logged out) → 401.
//!
//! Verification is lazy: a handler that does not take `Caller` never pays for it, and an
//! expired token sent along with `POST /api/auth/refresh` does not get in the way. For
//! WebSocket upgrades (browsers cannot set headers there) the token may come as
//! `?access_token=`; never elsewhere, so tokens stay out of URLs.

use crate::{ApiError, Caller};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use std::net::IpAddr;
use std::sync::Arc;

/// Verifies a bearer credential. Implemented by `server` over the service key and `identity`.
pub trait Authenticate: Send + Sync + 'static {
    /// The caller a bearer credential stands for, or why it is refused.
    fn authenticate(&self, bearer: &str) -> Result<Caller, ApiError>;
}

/// The authenticator of the running server (in every request's [`RequestContext`]).
#[derive(Clone)]
pub struct Authenticator(pub Arc<dyn Authenticate>);

/// What the server's middleware establishes for every request, as one request extension.
#[derive(Clone)]
pub struct RequestContext {
    /// The request id (the client's sane `X-Request-Id`, or a new one), as sent back.
    pub request_id: HeaderValue,
    /// The client's address (`X-Forwarded-For` believed only from trusted proxies).
    pub client_ip: IpAddr,
    /// Verifies bearer credentials.
    pub authenticator: Authenticator,
    /// Where the established caller is left for the access log to see (only when something
    /// reads it: the console's recent-requests log).
    pub caller_seen: Option<CallerSlot>,
}

/// The caller a request turned out to have, set once by the [`Caller`] extractor.
pub type CallerSlot = Arc<std::sync::OnceLock<Caller>>;

impl RequestContext {
    /// The request id as text (always ASCII: ids are checked or generated that way).
    pub fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or("")
    }
}

/// The bearer credential of a request, if any: the `Authorization` header, or for a
/// WebSocket upgrade the `access_token` query parameter.
pub fn bearer_credential(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return Err(ApiError::unauthenticated(
                "Authorization must be `Bearer <token>`",
            ));
        };
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthenticated(
                "Authorization must be `Bearer <token>`",
            ));
        }
        return Ok(Some(token.trim().to_string()));
    }
    if is_websocket_upgrade(&parts.headers) {
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&') {
                if let Some(v) = pair.strip_prefix("access_token=") {
                    if v.is_empty() {
                        return Err(ApiError::unauthenticated("empty access_token"));
                    }
                    return Ok(Some(v.to_string()));
                }
            }
        }
    }
    Ok(None)
}

fn is_websocket_upgrade(h: &HeaderMap) -> bool {
    h.get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let ctx = parts.extensions.get::<RequestContext>();
        let caller = match bearer_credential(parts)? {
            None => Caller::Anonymous,
            Some(token) => {
                let ctx = ctx.ok_or_else(|| {
                    ApiError::internal(
                        "no request context (the server's middleware is not in front)",
                    )
                })?;
                ctx.authenticator.0.authenticate(&token)?
            }
        };
        if let Some(slot) = ctx.and_then(|c| c.caller_seen.as_ref()) {
            let _ = slot.set(caller.clone());
        }
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Caller {
    /// Refuses anonymous callers with 401.
    pub fn require_signed_in(self) -> Result<Caller, ApiError> {
        match self {
            Caller::Anonymous => Err(ApiError::unauthenticated(
                "sign in first: missing Authorization: Bearer <token>",
            )),
            other => Ok(other),
        }
    }
    /// Refuses everyone but service, admin and system callers (401 when anonymous, else 403).
    pub fn require_service(self) -> Result<Caller, ApiError> {
        match self {
            Caller::Anonymous => Err(ApiError::unauthenticated(
                "this endpoint needs the service key",
            )),
            Caller::User(_) => Err(ApiError::denied(
                "this endpoint is for service callers only",
            )),
            other => Ok(other),
        }
    }
}
