//! Realtime (API.md §4): `GET /api/realtime`, the WebSocket of `watch`.
//!
//! The upgrade is authenticated like any request: `Authorization: Bearer` (which
//! `wx.connectSocket({header})` can send) or `?access_token=` (browsers cannot set headers on
//! WebSockets). A bad, expired or revoked token is refused with 401 in the error envelope
//! before any upgrade; no token means an anonymous connection, which may watch only what the
//! read rules let anonymous callers read. Past `realtime.max_connections_per_user` or
//! `max_connections_per_ip` the upgrade is refused with 429. A user's token is re-checked
//! every ping interval: once it expires or its session signs out, the connection gets an
//! `UNAUTHENTICATED` error frame and is closed, so clients refresh and reconnect.
//! Everything after the upgrade is the `realtime` crate's.

use crate::extract::ClientIp;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mb_core::{ApiError, Caller, ErrorCode};

/// The WebSocket path.
pub const PATH: &str = "/api/realtime";

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    parts: Parts,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|rejection| {
        ApiError::new(
            ErrorCode::from_status(rejection.status()),
            format!(
                "{PATH} is a WebSocket endpoint (wx.connectSocket): {}",
                rejection.body_text()
            ),
        )
    })?;
    let reauth: Option<realtime::Reauth> =
        match (&caller, mb_core::auth::bearer_credential(&parts)?) {
            (Caller::User(_), Some(token)) => {
                let auth = state.authenticator().clone();
                Some(Box::new(move || auth.0.authenticate(&token).map(|_| ())))
            }
            _ => None,
        };
    let rt = state.realtime().clone();
    let admission = rt.admit(&caller, ip)?;
    let upgrade = rt.configure(ws);
    Ok(upgrade
        .on_upgrade(move |socket| async move { rt.serve(socket, caller, admission, reauth).await })
        .into_response())
}
