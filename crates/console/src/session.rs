//! Console sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie scoped to
//! `/_/` (Secure when the request came over HTTPS), of which only a SHA-256 is stored
//! (`_admin_sessions`), with an absolute lifetime (`console.session_ttl`) and an idle timeout
//! (`console.idle_timeout`).
//!
//! Every change also needs the session's CSRF token in `X-CSRF-Token` (the page reads it from
//! `GET /_/api/auth/session`; a cross-site page can neither read it nor, thanks to SameSite,
//! send the cookie), and a browser's `Sec-Fetch-Site`, when sent, must say `same-origin`.
//! Bearer credentials are refused outright: user tokens and the service key never reach the
//! console API.
//!
//! [`AdminSession`] is the extractor handlers take: who, with the checks above done.

use crate::Console;
use crate::admins::SESSIONS;
use crate::error::ConsoleError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use mb_core::{ApiError, Caller, now_ms};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "mb_console";
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How often `last_seen` is written back at most (ms).
const TOUCH_EVERY_MS: i64 = 60_000;

fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session cookie's value in a request, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=') {
                if k == COOKIE && val.len() == 64 && val.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Some(val.to_string());
                }
            }
        }
    }
    None
}

/// `Set-Cookie` for a new session (or, with `max_age = 0`, to clear it).
pub fn set_cookie(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let v = format!(
        "{COOKIE}={token}; Path=/_/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age_secs.max(0),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in admin, as established for the current request.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The admin's name.
    pub admin: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Session id (SHA-256 of the token).
    pub id: String,
    /// When the session ends at the latest, ms since the epoch.
    pub expires_at: i64,
}

/// A new session, stored: `(cookie token, session)`.
pub async fn create(
    console: &Console,
    admin: &str,
    ip: &str,
    user_agent: &str,
) -> Result<(String, AdminSession), ApiError> {
    let token = mb_core::ids::random_hex(32);
    let csrf = mb_core::ids::random_hex(32);
    let id = token_id(&token);
    let now = now_ms();
    let expires_at = now + console.settings().session_ttl.as_millis() as i64;
    let ua: String = user_agent.chars().take(200).collect();
    console
        .db()
        .create(
            &Caller::System,
            SESSIONS,
            json!({
                "_id": id, "admin": admin, "csrf": csrf, "created_at": now, "last_seen": now,
                "expires_at": expires_at, "ip": ip, "user_agent": ua,
            }),
        )
        .await?;
    Ok((
        token,
        AdminSession {
            admin: admin.to_string(),
            csrf,
            id,
            expires_at,
        },
    ))
}

/// Ends the session of a token (no error when there is none).
pub async fn destroy(console: &Console, token: &str) -> Result<(), ApiError> {
    console
        .db()
        .delete_by_id(&Caller::System, SESSIONS, &token_id(token))
        .await?;
    Ok(())
}

/// The live session of a cookie token, touching `last_seen` now and then.
pub async fn lookup(console: &Console, token: &str) -> Result<Option<AdminSession>, ApiError> {
    let id = token_id(token);
    let Some(doc) = console.db().get(&Caller::System, SESSIONS, &id).await? else {
        return Ok(None);
    };
    let int = |k: &str| doc.get(k).and_then(Value::as_i64).unwrap_or(0);
    let now = now_ms();
    let idle = console.settings().idle_timeout.as_millis() as i64;
    if int("expires_at") <= now || int("last_seen") + idle <= now {
        console
            .db()
            .delete_by_id(&Caller::System, SESSIONS, &id)
            .await?;
        return Ok(None);
    }
    if int("last_seen") + TOUCH_EVERY_MS <= now {
        console
            .db()
            .update_by_id(&Caller::System, SESSIONS, &id, &json!({ "last_seen": now }))
            .await?;
    }
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Some(AdminSession {
        admin: s("admin"),
        csrf: s("csrf"),
        id,
        expires_at: int("expires_at"),
    }))
}

/// Whether a request is a change (anything but GET/HEAD/OPTIONS).
fn is_change(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses bearer credentials, and changes that come from another site or without the CSRF
/// token of `session` (when given).
pub fn guard(
    headers: &HeaderMap,
    method: &Method,
    session: Option<&AdminSession>,
) -> Result<(), ConsoleError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(ConsoleError::TokenRefused);
    }
    if is_change(method) {
        if let Some(site) = headers.get("sec-fetch-site") {
            if !matches!(site.as_bytes(), b"same-origin" | b"none") {
                return Err(ConsoleError::Csrf);
            }
        }
        if let Some(s) = session {
            let sent = headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or(b"");
            if s.csrf.is_empty() || !bool::from(sent.ct_eq(s.csrf.as_bytes())) {
                return Err(ConsoleError::Csrf);
            }
        }
    }
    Ok(())
}

impl FromRequestParts<Console> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, ApiError> {
        guard(&parts.headers, &parts.method, None)?;
        let token = cookie_token(&parts.headers).ok_or(ConsoleError::NoSession)?;
        let session = lookup(console, &token)
            .await?
            .ok_or(ConsoleError::NoSession)?;
        guard(&parts.headers, &parts.method, Some(&session))?;
        Ok(session)
    }
}
