//! `GET /overview`: the charts' samples (requests/s, p99 latency, error rate, open
//! WebSockets over the last hour), the counters now, the database's size on disk, and the
//! HTTPS setup (mode, domains) with each domain's last doctor report (which holds the
//! certificate's expiry).

use super::Json;
use crate::Console;
use crate::session::AdminSession;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

pub fn router() -> Router<Console> {
    Router::new().route("/overview", get(overview))
}

/// Bytes of the SQLite database on disk (file, WAL and shared memory).
fn database_bytes(url: &str) -> Option<u64> {
    let path = url.strip_prefix("sqlite://")?;
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Some(size(path.to_string()) + size(format!("{path}-wal")) + size(format!("{path}-shm")))
}

async fn overview(
    State(console): State<Console>,
    _s: AdminSession,
) -> Result<impl IntoResponse, mb_core::ApiError> {
    let cfg = console.config();
    let url = cfg.database_url();
    let db_bytes = tokio::task::spawn_blocking(move || database_bytes(&url))
        .await
        .ok()
        .flatten();
    let totals = console.host().request_totals();
    let collections = console.db().collections().await.ok();
    let doctor = super::doctor::last_reports(&console).await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": console.uptime_secs(),
        "samples": console.samples(),
        "sample_every_secs": crate::SAMPLE_EVERY.as_secs(),
        "requests_total": totals.count,
        "errors_total": totals.errors,
        "websockets": console.host().open_websockets(),
        "connections": console.host().open_connections(),
        "database": {
            "url": cfg.database_url(),
            "bytes": db_bytes,
            "collections": collections.as_ref().map(|c| c.iter().filter(|c| !console.db().is_internal(&c.name)).count()),
            "documents": collections.as_ref().map(|c| c.iter().filter(|c| !console.db().is_internal(&c.name)).map(|c| c.count).sum::<u64>()),
        },
        "tls": {
            "mode": cfg.tls.mode.as_str(),
            "domains": cfg.server.domains,
        },
        "doctor": doctor,
        "pay_configured": console.pay().is_some(),
    })))
}
