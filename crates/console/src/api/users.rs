//! The Users page: search by openid, unionid, phone number or user id; a user's document,
//! login sessions (revocable) and the other platform accounts of the same person (same
//! unionid).

use super::{Json, limit_param, query_param};
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::AdminSession;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use docdb::QueryRequest;
use mb_core::{ApiError, Caller};
use serde_json::{Value, json};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/users", get(search))
        .route("/users/{uid}", get(user))
        .route("/users/{uid}/sessions/{sid}/revoke", post(revoke))
}

async fn search(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let q = query_param(uri.query(), "q").unwrap_or_default();
    let q = q.trim();
    let limit = limit_param(query_param(uri.query(), "limit"), 50, 200)?;
    if q.len() > 128 {
        return Err(ApiError::invalid("the search is at most 128 characters"));
    }
    let req = if q.is_empty() {
        QueryRequest {
            order_by: json!([["created_at", "desc"]]),
            limit: json!(limit),
            ..Default::default()
        }
    } else {
        QueryRequest {
            where_: json!({ "$or": [
                { "_id": q }, { "openid": q }, { "unionid": q },
                { "phone_number": q }, { "pure_phone_number": q },
            ]}),
            limit: json!(limit),
            ..Default::default()
        }
    };
    let users = console
        .db()
        .query(&Caller::Admin, identity::USERS, &req)
        .await?;
    Ok(Json(json!({ "data": users })))
}

async fn user(
    State(console): State<Console>,
    Path(uid): Path<String>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    let db = console.db();
    let Some(user) = db.get(&Caller::Admin, identity::USERS, &uid).await? else {
        return Err(ApiError::not_found("no such user"));
    };
    let sessions = console.identity().sessions_of(&uid, 50).await?;
    let linked = match user.get("unionid").and_then(Value::as_str) {
        Some(union) if !union.is_empty() => {
            db.query(
                &Caller::Admin,
                identity::USERS,
                &QueryRequest {
                    where_: json!({ "unionid": union, "_id": { "$ne": uid } }),
                    limit: json!(20),
                    ..Default::default()
                },
            )
            .await?
        }
        _ => Vec::new(),
    };
    Ok(Json(
        json!({ "user": user, "sessions": sessions, "linked": linked }),
    ))
}

async fn revoke(
    State(console): State<Console>,
    Path((uid, sid)): Path<(String, String)>,
    s: AdminSession,
    meta: RequestMeta,
) -> Result<impl IntoResponse, ApiError> {
    if sid.len() != 32 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("malformed session id"));
    }
    let reason = format!("console: revoked by {}", s.admin);
    if !console
        .identity()
        .revoke_session(&uid, &sid, &reason)
        .await?
    {
        return Err(ApiError::not_found("this user has no such session"));
    }
    let target = format!("{uid}/{sid}");
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "users.revoke_session",
            target: &target,
            before: None,
            after: None,
        },
    )
    .await;
    Ok(Json(json!({ "revoked": true })))
}
