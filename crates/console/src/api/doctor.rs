//! `POST /doctor {domain}`: runs `minibase doctor` against one of `server.domains` from the
//! server itself (as WeChat and phones will see it: DNS, TLS 1.2, the chain, the name, the
//! certificate's expiry, the redirect, JSON, WebSocket) and keeps the last report per domain
//! (internal collection `_console_doctor`), which the Overview shows with the certificate's
//! expiry.

use super::Json;
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::AdminSession;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use mb_core::{ApiError, Caller};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Last doctor report per domain (internal).
pub const DOCTOR: &str = "_console_doctor";

/// The route.
pub fn router() -> Router<Console> {
    Router::new().route("/doctor", post(run))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    domain: String,
}

/// The last report of each configured domain (`null` where none was run yet).
pub async fn last_reports(console: &Console) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for d in &console.config().server.domains {
        let id = d.to_ascii_lowercase().replace('*', "_");
        let doc = console.db().get(&Caller::System, DOCTOR, &id).await?;
        out.push(json!({ "domain": d, "last": doc }));
    }
    Ok(out)
}

async fn run(
    State(console): State<Console>,
    s: AdminSession,
    meta: RequestMeta,
    Json(body): Json<Run>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(domain) = console
        .config()
        .server
        .domains
        .iter()
        .find(|d| d.eq_ignore_ascii_case(&body.domain) && !d.starts_with("*."))
        .cloned()
    else {
        return Err(ApiError::invalid(
            "domain must be one of server.domains (not a wildcard)",
        ));
    };
    let mut opts = edge::doctor::DoctorOptions::new(format!("https://{domain}/api/health"));
    opts.timeout = Duration::from_secs(3);
    let report = edge::doctor::run(&opts).await;
    let report = serde_json::to_value(&report).map_err(ApiError::internal)?;
    let doc = json!({ "at": mb_core::now_ms(), "report": report });
    let id = domain.to_ascii_lowercase();
    console
        .db()
        .set(&Caller::System, DOCTOR, &id, doc.clone())
        .await?;
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "doctor.run",
            target: &domain,
            before: None,
            after: Some(json!({ "ok": report["ok"] })),
        },
    )
    .await;
    Ok(Json(json!({ "domain": domain, "last": doc })))
}
