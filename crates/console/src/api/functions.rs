//! The Functions page: every function with its runtime, limits and timer triggers (with
//! their next runs), recent invocations (errors included), and a test invocation with an
//! event and a caller (the admin, or a user by openid) that answers the result or the error,
//! the duration and the lines the function logged.

use super::Json;
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::AdminSession;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use functions::CallContext;
use mb_core::{ApiError, Caller, UserIdentity};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/functions", get(list))
        .route("/functions/{name}/invocations", get(invocations))
        .route("/functions/{name}/invoke", post(invoke))
}

async fn list(State(console): State<Console>, _s: AdminSession) -> impl IntoResponse {
    let f = console.functions();
    Json(json!({
        "data": f.catalog().await,
        "invocations": f.activity().invocations(None, 50),
        "timezone_offset_hours": f.settings().timezone_offset_hours,
    }))
}

async fn invocations(
    State(console): State<Console>,
    Path(name): Path<String>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    if !functions::spec::valid_name(&name) {
        return Err(ApiError::invalid("invalid function name"));
    }
    let a = console.functions().activity();
    Ok(Json(json!({
        "invocations": a.invocations(Some(&name), 50),
        "logs": a.logs_of_function(&name, 200),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invoke {
    /// The event (an object).
    #[serde(default)]
    event: Value,
    /// Call as the user with this openid (`OPENID` in `getWXContext()`); absent = the admin.
    #[serde(default)]
    openid: Option<String>,
}

async fn invoke(
    State(console): State<Console>,
    Path(name): Path<String>,
    s: AdminSession,
    meta: RequestMeta,
    Json(body): Json<Invoke>,
) -> Result<impl IntoResponse, ApiError> {
    if !functions::spec::valid_name(&name) {
        return Err(ApiError::invalid("invalid function name"));
    }
    if !(body.event.is_object() || body.event.is_null()) {
        return Err(ApiError::invalid("the event must be a JSON object"));
    }
    let caller = match body
        .openid
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        None => Caller::Admin,
        Some(openid) if openid.len() <= 128 => Caller::User(UserIdentity {
            uid: identity::user_id("wechat", openid),
            openid: openid.to_string(),
            unionid: None,
            platform: "wechat".into(),
            session_id: String::new(),
        }),
        Some(_) => return Err(ApiError::invalid("openid must be at most 128 characters")),
    };
    // Its own request id, so its log lines are its own.
    let request_id = format!("console-{}", mb_core::ids::random_hex(8));
    let ip = meta.ip.parse().ok();
    let ctx = CallContext::new(caller, request_id.clone(), ip);
    let started = std::time::Instant::now();
    let result = console
        .functions()
        .call(&name, body.event.clone(), ctx)
        .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let logs = console.functions().activity().logs_of(&request_id);
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "functions.invoke",
            target: &name,
            before: None,
            after: Some(json!({ "event": body.event, "openid": body.openid, "ok": result.is_ok(), "request_id": request_id })),
        },
    )
    .await;
    let (ok, result, error) = match result {
        Ok(text) => (
            true,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            Value::Null,
        ),
        Err(e) => {
            let api = ApiError::from(e);
            (
                false,
                Value::Null,
                json!({ "code": api.code.as_str(), "message": api.message }),
            )
        }
    };
    Ok(Json(json!({
        "ok": ok,
        "result": result,
        "error": error,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "logs": logs,
    })))
}
