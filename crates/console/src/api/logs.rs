//! The Logs page: recent requests searched by request id, path, status and user (errors
//! highlighted by the page), and the audit log of admins' changes.

use super::{Json, limit_param, query_param};
use crate::Console;
use crate::audit;
use crate::requests::RequestQuery;
use crate::session::AdminSession;
use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::get;
use mb_core::ApiError;
use serde_json::json;

pub fn router() -> Router<Console> {
    Router::new()
        .route("/logs", get(requests))
        .route("/audit", get(audit_log))
}

async fn requests(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let q = uri.query();
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match query_param(q, name).filter(|s| !s.trim().is_empty()) {
            Some(s) if s.len() > 256 => Err(ApiError::invalid(format!(
                "{name} is at most 256 characters"
            ))),
            other => Ok(other.map(|s| s.trim().to_string())),
        }
    };
    let query = RequestQuery {
        request_id: text("request_id")?,
        path: text("path")?,
        status: text("status")?,
        user: text("user")?,
        errors: query_param(q, "errors").is_some_and(|v| v == "1" || v == "true"),
        limit: limit_param(query_param(q, "limit"), 200, 2000)? as usize,
    };
    let Some(ring) = console.requests() else {
        return Ok(Json(json!({ "enabled": false, "data": [] })));
    };
    Ok(Json(json!({
        "enabled": true,
        "capacity": ring.capacity(),
        "data": ring.query(&query),
    })))
}

async fn audit_log(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let before = query_param(uri.query(), "before").filter(|s| !s.is_empty());
    let admin = query_param(uri.query(), "admin").filter(|s| !s.is_empty());
    let limit = limit_param(query_param(uri.query(), "limit"), 50, 200)?;
    let entries = audit::list(&console, before.as_deref(), admin.as_deref(), limit).await?;
    Ok(Json(json!({ "data": entries })))
}
