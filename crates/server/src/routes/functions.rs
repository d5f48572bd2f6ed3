//! Cloud functions (API.md §6): `POST /api/functions/{name}` (`wx.cloud.callFunction`) and the
//! HTTP trigger `ANY /fn/{name}/{rest…}` (CloudBase's HTTP access). The engine is the
//! `functions` crate; this module turns requests into calls and results into responses, and
//! [`bindings`] connects the engine to the other areas.
//!
//! - `POST /api/functions/{name}` `{"data": {…}}` → `{"result": …}`. A user's or the service
//!   key's token is required (anonymous → 401); the caller becomes `cloud.getWXContext()`.
//! - `ANY /fn/{name}` and `/fn/{name}/{rest…}`: public; the request becomes the
//!   integration-request event, the function's answer the response.
//! - `[functions.routes]` (`"/api/products" = "products"`): the same trigger at a path of the
//!   user's choice and every path below it ([`routed`], the router's fallback: Minibase's own
//!   routes always win); `event.path` is the whole request path, as CloudBase's HTTP access.
//!
//! Errors (`functions::FunctionError` → envelope): a thrown error or a load failure is 502
//! `UPSTREAM_ERROR` with `upstream.service = "function"` and the JS message; a timeout 504
//! `DEADLINE_EXCEEDED`; a full queue 503 `UNAVAILABLE`; an unknown function 404.

pub mod bindings;

use crate::extract::{ClientIp, Json};
use crate::middleware::RequestId;
use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use functions::{CallContext, HttpRequest};
use mb_core::{ApiError, Caller};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `POST /api/functions/{name}`.
pub const CALL_PATH: &str = "/api/functions/{name}";
/// The HTTP trigger of a function, without and with a sub-path.
pub const TRIGGER_PATHS: [&str; 2] = ["/fn/{name}", "/fn/{name}/{*rest}"];

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(CALL_PATH, post(call))
        .route(TRIGGER_PATHS[0], any(trigger))
        .route(TRIGGER_PATHS[1], any(trigger))
}

/// The body of `wx.cloud.callFunction`: `data` (other keys, such as `name`, are ignored),
/// kept as the client's JSON text (the engine passes it on without re-encoding it).
#[derive(Debug, Deserialize)]
struct CallBody {
    #[serde(default)]
    data: Option<Box<RawValue>>,
}

async fn call(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    RequestId(request_id): RequestId,
    Path(name): Path<String>,
    Json(body): Json<CallBody>,
) -> Result<Response, ApiError> {
    if matches!(caller, Caller::Anonymous) {
        return Err(ApiError::unauthenticated(
            "calling a function needs a user's access token or the service key (public endpoints: /fn/{name})",
        ));
    }
    let ctx = CallContext::new(caller, request_id, Some(ip));
    let data = body.data.as_deref().map(RawValue::get);
    let result = state.functions().call_raw(&name, data, ctx).await?;
    // The result is JSON text already: wrap it without parsing it again.
    let mut out = Vec::with_capacity(result.len() + 11);
    out.extend_from_slice(b"{\"result\":");
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        out,
    )
        .into_response())
}

/// Both trigger routes: `/fn/{name}` (path `/`) and `/fn/{name}/{*rest}`.
async fn trigger(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestId(request_id): RequestId,
    Path(params): Path<Vec<(String, String)>>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let (name, rest) = (param("name").to_owned(), param("rest"));
    run_trigger(state, ip, request_id, name, format!("/{rest}"), parts, body).await
}

/// The router's fallback: a `[functions.routes]` path runs its function's HTTP trigger;
/// anything else is 404.
pub async fn routed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestId(request_id): RequestId,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = parts.uri.path().to_owned();
    let Some(name) = state.functions().settings().route(&path).map(str::to_owned) else {
        return Err(ApiError::not_found("no such route"));
    };
    run_trigger(state, ip, request_id, name, path, parts, body).await
}

/// Runs function `name` as the HTTP trigger of a request whose path, as the event gives it,
/// is `path`.
async fn run_trigger(
    state: AppState,
    ip: std::net::IpAddr,
    request_id: String,
    name: String,
    path: String,
    parts: Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let req = HttpRequest {
        method: method.as_str().to_owned(),
        path,
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let ctx = CallContext::new(Caller::Anonymous, request_id, Some(ip)).with_source("http");
    let res = state.functions().http(&name, req, ctx).await?;
    let status = StatusCode::from_u16(res.status)
        .map_err(|_| ApiError::internal("function status out of range"))?;
    let mut out = Response::builder().status(status);
    for (k, v) in &res.headers {
        let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v.as_bytes()),
        ) else {
            return Err(ApiError::from(functions::FunctionError::BadResponse {
                name: name.clone(),
                message: format!("invalid header '{k}'"),
            }));
        };
        out = out.header(k, v);
    }
    out.body(Body::from(res.body)).map_err(ApiError::internal)
}
