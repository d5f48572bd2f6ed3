//! Documents (API.md §3): `/api/db/{coll}/…`, the CloudBase-compatible database over HTTP.
//! Handlers read top to bottom: who is calling (the `Caller` extractor), which collection
//! (internal ones are refused to every HTTP caller), then one [`docdb::Database`] call, which
//! applies rules, `_openid`, limits and validation.

use crate::extract::Json;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use docdb::{Database, QueryRequest};
use mb_core::{ApiError, Caller};
use serde::Deserialize;
use serde_json::{Value, json};

/// Path prefix of this area.
pub const PREFIX: &str = "/api/db";

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/db/{coll}/docs", post(create))
        .route(
            "/api/db/{coll}/docs/{id}",
            get(read).put(set).patch(update_one).delete(delete_one),
        )
        .route("/api/db/{coll}/query", post(query))
        .route("/api/db/{coll}/count", post(count))
        .route("/api/db/{coll}/update", post(update_where))
        .route("/api/db/{coll}/remove", post(remove_where))
}

/// The database, for a collection HTTP callers may address at all: internal collections
/// (`_sessions`, `_kv`, …) are refused to everyone, service callers included.
fn db<'a>(state: &'a AppState, coll: &str) -> Result<&'a Database, ApiError> {
    let db = state.db();
    if db.is_internal(coll) {
        return Err(ApiError::denied(format!(
            "collection {coll} is internal to Minibase"
        )));
    }
    Ok(db)
}

/// `{"data": <json>}` around JSON text that comes straight from storage (documents are not
/// parsed and re-serialised on the read paths).
fn data_response(json: String) -> Response {
    let mut body = String::with_capacity(json.len() + 9);
    body.push_str("{\"data\":");
    body.push_str(&json);
    body.push('}');
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `POST /api/db/{coll}/docs` → 201 `{"_id"}`.
async fn create(
    State(state): State<AppState>,
    Path(coll): Path<String>,
    caller: Caller,
    Json(doc): Json<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let id = db(&state, &coll)?.create(&caller, &coll, doc).await?;
    Ok((StatusCode::CREATED, Json(json!({ "_id": id }))))
}

/// `GET /api/db/{coll}/docs/{id}` → `{"data": doc}`; 404 when absent or hidden by the rule.
async fn read(
    State(state): State<AppState>,
    Path((coll, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    match db(&state, &coll)?.get_json(&caller, &coll, &id).await? {
        Some(doc) => Ok(data_response(doc)),
        None => Err(ApiError::not_found("no such document")),
    }
}

/// `PUT /api/db/{coll}/docs/{id}` (CloudBase `set`) → `{"_id","created"}`.
async fn set(
    State(state): State<AppState>,
    Path((coll, id)): Path<(String, String)>,
    caller: Caller,
    Json(doc): Json<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let created = db(&state, &coll)?.set(&caller, &coll, &id, doc).await?;
    Ok(Json(json!({ "_id": id, "created": created })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataBody {
    data: Value,
}

/// `PATCH /api/db/{coll}/docs/{id}` `{"data": update}` → `{"updated": 0|1}`.
async fn update_one(
    State(state): State<AppState>,
    Path((coll, id)): Path<(String, String)>,
    caller: Caller,
    Json(body): Json<DataBody>,
) -> Result<impl IntoResponse, ApiError> {
    let n = db(&state, &coll)?
        .update_by_id(&caller, &coll, &id, &body.data)
        .await?;
    Ok(Json(json!({ "updated": n })))
}

/// `DELETE /api/db/{coll}/docs/{id}` → `{"deleted": 0|1}`.
async fn delete_one(
    State(state): State<AppState>,
    Path((coll, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let n = db(&state, &coll)?.delete_by_id(&caller, &coll, &id).await?;
    Ok(Json(json!({ "deleted": n })))
}

/// `POST /api/db/{coll}/query` `{"where","orderBy","skip","limit","field"}` → `{"data": [...]}`.
async fn query(
    State(state): State<AppState>,
    Path(coll): Path<String>,
    caller: Caller,
    Json(req): Json<QueryRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let docs = db(&state, &coll)?.query_json(&caller, &coll, &req).await?;
    Ok(data_response(docs))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WhereBody {
    #[serde(rename = "where")]
    where_: Value,
}

/// `POST /api/db/{coll}/count` `{"where"}` → `{"total": n}`.
async fn count(
    State(state): State<AppState>,
    Path(coll): Path<String>,
    caller: Caller,
    Json(body): Json<WhereBody>,
) -> Result<impl IntoResponse, ApiError> {
    let n = db(&state, &coll)?
        .count(&caller, &coll, &body.where_)
        .await?;
    Ok(Json(json!({ "total": n })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateWhereBody {
    #[serde(rename = "where", default)]
    where_: Value,
    data: Value,
}

/// `POST /api/db/{coll}/update` `{"where","data"}` → `{"updated": n}`.
async fn update_where(
    State(state): State<AppState>,
    Path(coll): Path<String>,
    caller: Caller,
    Json(body): Json<UpdateWhereBody>,
) -> Result<impl IntoResponse, ApiError> {
    let n = db(&state, &coll)?
        .update_where(&caller, &coll, &body.where_, &body.data)
        .await?;
    Ok(Json(json!({ "updated": n })))
}

/// `POST /api/db/{coll}/remove` `{"where"}` → `{"deleted": n}`.
async fn remove_where(
    State(state): State<AppState>,
    Path(coll): Path<String>,
    caller: Caller,
    Json(body): Json<WhereBody>,
) -> Result<impl IntoResponse, ApiError> {
    let n = db(&state, &coll)?
        .remove_where(&caller, &coll, &body.where_)
        .await?;
    Ok(Json(json!({ "deleted": n })))
}
