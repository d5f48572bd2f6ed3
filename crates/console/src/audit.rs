//! The audit log: every change an admin makes through the console (and every admin change
//! made with the CLI) as one document of the internal collection `_audit`: who, what, on
//! which target, when, from where, with the request id, and the target before and after.
//! Large before/after values are cut to a marker so one entry stays small.
//!
//! Entries are written after the change succeeded; ids sort by time, so the console pages
//! the log newest first by `_id`.

use crate::Console;
use crate::admins::AUDIT;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use mb_core::{ApiError, Caller, ConnectionInfo, RequestContext, now_ms};
use serde_json::{Value, json};
use std::convert::Infallible;

/// Largest before/after value kept whole (bytes of JSON).
pub const MAX_SNAPSHOT: usize = 32 * 1024;

/// Where a request came from: for the audit log and session records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client IP (as the server established it, trusted proxies honoured).
    pub ip: String,
    /// The request id.
    pub request_id: String,
    /// Whether the request came over HTTPS (cookie `Secure`).
    pub https: bool,
    /// The browser's `User-Agent`.
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let ctx = parts.extensions.get::<RequestContext>();
        let tls = parts
            .extensions
            .get::<ConnectionInfo>()
            .is_some_and(|c| c.tls);
        Ok(RequestMeta {
            ip: ctx.map(|c| c.client_ip.to_string()).unwrap_or_default(),
            request_id: ctx.map(|c| c.request_id().to_string()).unwrap_or_default(),
            https: tls,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        })
    }
}

fn snapshot(v: Option<Value>) -> Value {
    match v {
        None => Value::Null,
        Some(v) => {
            let n = v.to_string().len();
            if n > MAX_SNAPSHOT {
                json!({ "truncated": true, "bytes": n })
            } else {
                v
            }
        }
    }
}

/// One change, as recorded.
pub struct Change<'a> {
    /// `db.create`, `db.update`, `db.delete`, `files.upload`, `files.delete`,
    /// `functions.invoke`, `pay.refund`, `users.revoke_session`, `auth.signin`, …
    pub action: &'a str,
    /// What it was done to: `todos/abc123`, a file path, an order number, …
    pub target: &'a str,
    /// The target before (documents), or `None`.
    pub before: Option<Value>,
    /// The target after, or what was asked (a refund), or `None`.
    pub after: Option<Value>,
}

/// Writes one entry (errors are logged, never returned: the change itself succeeded).
pub async fn record(db: &docdb::Database, admin: &str, meta: &RequestMeta, change: Change<'_>) {
    let doc = json!({
        "at": now_ms(),
        "admin": admin,
        "action": change.action,
        "target": change.target,
        "before": snapshot(change.before),
        "after": snapshot(change.after),
        "ip": meta.ip,
        "request_id": meta.request_id,
    });
    if let Err(e) = db.create(&Caller::System, AUDIT, doc).await {
        tracing::error!(error = %e, action = change.action, target = change.target, "console: could not write the audit log");
    }
}

/// Entries newest first: `limit` of them, older than the entry `before` when given.
pub async fn list(
    console: &Console,
    before: Option<&str>,
    admin: Option<&str>,
    limit: u64,
) -> Result<Vec<Value>, ApiError> {
    let mut w = serde_json::Map::new();
    if let Some(b) = before {
        w.insert("_id".into(), json!({ "$lt": b }));
    }
    if let Some(a) = admin {
        w.insert("admin".into(), json!(a));
    }
    Ok(console
        .db()
        .query(
            &Caller::System,
            AUDIT,
            &docdb::QueryRequest {
                where_: Value::Object(w),
                order_by: json!([["_id", "desc"]]),
                limit: json!(limit.clamp(1, 200)),
                ..Default::default()
            },
        )
        .await?)
}
