//! Signing in and out: `POST /auth/signin` `{name, password, code?}` sets the session cookie
//! and answers the CSRF token; `GET /auth/session` tells the page who is signed in (and the
//! CSRF token again, the cookie being unreadable to scripts); `POST /auth/signout` ends it.

use super::Json;
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::{self, AdminSession};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use mb_core::ApiError;
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<Console> {
    Router::new()
        .route("/auth/signin", post(signin))
        .route("/auth/session", get(current))
        .route("/auth/signout", post(signout))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
}

async fn signin(
    State(console): State<Console>,
    method: Method,
    headers: HeaderMap,
    meta: RequestMeta,
    Json(body): Json<SignIn>,
) -> Result<impl IntoResponse, ApiError> {
    session::guard(&headers, &method, None)?;
    let ip = meta
        .ip
        .parse()
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    console.signin_attempt(ip)?;
    let code = body.code.as_deref().filter(|c| !c.trim().is_empty());
    console
        .admins()
        .verify(&body.name, &body.password, code, console.settings().lockout)
        .await?;
    let (token, s) = session::create(&console, &body.name, &meta.ip, &meta.user_agent).await?;
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "auth.signin",
            target: &s.admin,
            before: None,
            after: None,
        },
    )
    .await;
    let max_age = console.settings().session_ttl.as_secs() as i64;
    Ok((
        [(
            header::SET_COOKIE,
            session::set_cookie(&token, max_age, meta.https),
        )],
        Json(json!({ "admin": s.admin, "csrf": s.csrf, "expires_at": s.expires_at })),
    ))
}

async fn current(session: AdminSession) -> impl IntoResponse {
    Json(json!({
        "admin": session.admin,
        "csrf": session.csrf,
        "expires_at": session.expires_at,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn signout(
    State(console): State<Console>,
    s: AdminSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = session::cookie_token(&headers) {
        session::destroy(&console, &token).await?;
    }
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "auth.signout",
            target: &s.admin,
            before: None,
            after: None,
        },
    )
    .await;
    Ok((
        [(header::SET_COOKIE, session::set_cookie("", 0, meta.https))],
        Json(json!({ "signed_out": true })),
    ))
}
