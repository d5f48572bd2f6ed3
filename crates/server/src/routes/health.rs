//! `GET /api/health` and `GET /metrics` (API.md §9).

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use mb_core::{ApiError, Caller, ConnectionInfo};
use std::fmt::Write;

/// Health and metrics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
}

/// The health answer never changes: written once at compile time, served without serialising.
const HEALTH_BODY: &str = concat!(
    r#"{"status":"ok","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

async fn health() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        HEALTH_BODY,
    )
}

/// Prometheus metrics: open on the plain HTTP listener (keep it on loopback or a private
/// network); over HTTPS only for the service key.
async fn metrics(
    State(state): State<AppState>,
    conn: Option<axum::Extension<ConnectionInfo>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let over_tls = conn.map(|c| c.tls).unwrap_or(false);
    if over_tls && !caller.is_privileged() {
        return Err(match caller {
            Caller::Anonymous => {
                ApiError::unauthenticated("metrics over HTTPS need the service key")
            }
            _ => ApiError::denied("metrics over HTTPS need the service key"),
        });
    }
    let mut out = String::with_capacity(8192);
    state.metrics().render(&mut out);
    crate::metrics::render_edge(state.edge_stats(), &mut out);
    state.realtime().stats().render(&mut out);
    let _ = writeln!(out, "# HELP minibase_build_info Build information.");
    let _ = writeln!(out, "# TYPE minibase_build_info gauge");
    let _ = writeln!(
        out,
        "minibase_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "# HELP minibase_uptime_seconds Seconds since start.");
    let _ = writeln!(out, "# TYPE minibase_uptime_seconds gauge");
    let _ = writeln!(
        out,
        "minibase_uptime_seconds {}",
        state.started().elapsed().as_secs()
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn health_body_is_the_json_it_always_was() {
        let v: serde_json::Value = serde_json::from_str(super::HEALTH_BODY).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
        );
    }
}
