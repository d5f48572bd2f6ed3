//! WeChat platform routes (API.md §2, §7):
//!
//! - `POST /api/auth/wechat/login`: `wx.login` code → jscode2session → identity's user and tokens;
//! - `POST /api/auth/wechat/phone`, `/decrypt`, `/verify-signature`: user data with the
//!   user's sealed `session_key`;
//! - `POST /api/wechat/openapi/{api}`: the open APIs, for service callers only;
//! - `GET`/`POST /api/wechat/push`: message push verification and delivery.
//!
//! The WeChat logic lives in the `wechat` crate; this module parses, authorises and maps errors.

use crate::extract::Json;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mb_core::{ApiError, Caller, UserIdentity};
use serde::Deserialize;
use serde_json::{Value, json};
use wechat::{OpenApiReply, PushError, PushQuery};

/// The system collection accepted push messages are stored in.
pub const PUSH_COLLECTION: &str = "_wechat_push";
/// Longest login / phone code accepted (WeChat's are 32 characters).
const MAX_CODE_LEN: usize = 128;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/wechat/login", post(login))
        .route("/api/auth/wechat/phone", post(phone))
        .route("/api/auth/wechat/decrypt", post(decrypt))
        .route("/api/auth/wechat/verify-signature", post(verify_signature))
        .route("/api/wechat/openapi/{api}", post(openapi))
        .route("/api/wechat/push", get(push_verify).post(push_receive))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

/// A `wx.login` / getPhoneNumber code: refused before WeChat is called when it cannot be one.
fn check_code(code: &str) -> Result<&str, ApiError> {
    if code.is_empty() {
        return Err(ApiError::invalid(
            "code must not be empty: pass the code from wx.login",
        ));
    }
    if code.len() > MAX_CODE_LEN {
        return Err(ApiError::invalid("code is too long to be a WeChat code"));
    }
    if !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid("code must be printable ASCII"));
    }
    Ok(code)
}

fn signed_in_user(caller: Caller) -> Result<UserIdentity, ApiError> {
    match caller {
        Caller::User(u) => Ok(u),
        Caller::Anonymous => Err(ApiError::unauthenticated(
            "sign in first: this needs a user's access token",
        )),
        _ => Err(ApiError::denied(
            "this endpoint is for mini-program users (it uses the user's WeChat session)",
        )),
    }
}

async fn login(
    State(state): State<AppState>,
    Json(body): Json<CodeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let code = check_code(&body.code)?;
    let session = state
        .wechat()
        .client()
        .code2session(code)
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "WeChat login refused");
            e.to_login_error()
        })?;
    let signed_in = state
        .identity()
        .sign_in(identity::PlatformLogin {
            platform: "wechat".into(),
            openid: session.openid,
            unionid: session.unionid,
            session_key: Some(session.session_key),
        })
        .await?;
    Ok(Json(signed_in))
}

async fn phone(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CodeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let user = signed_in_user(caller)?;
    let code = check_code(&body.code)?;
    let info = state
        .wechat()
        .openapi()
        .get_phone_number(&wechat::openapi::GetPhoneNumber {
            code: code.to_string(),
            openid: Some(user.openid.clone()),
        })
        .await
        .map_err(|e| e.to_api_error())?;
    let phone = identity::PhoneNumber {
        phone_number: info.phone_number,
        pure_phone_number: info.pure_phone_number,
        country_code: info.country_code,
    };
    state.identity().set_phone(&user.uid, &phone).await?;
    Ok(Json(phone))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecryptBody {
    encrypted_data: String,
    iv: String,
}

async fn session_key(state: &AppState, user: &UserIdentity) -> Result<String, ApiError> {
    state
        .identity()
        .session_key(&user.uid)
        .await?
        .ok_or_else(|| {
            ApiError::invalid("no WeChat session for this user: sign in with wx.login first")
        })
}

fn data_error(e: wechat::data::DataError) -> ApiError {
    match e {
        wechat::data::DataError::BadSessionKey => {
            ApiError::internal("stored session_key is not a 16-byte base64 key")
        }
        other => ApiError::invalid(other.to_string()),
    }
}

async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<DecryptBody>,
) -> Result<impl IntoResponse, ApiError> {
    let user = signed_in_user(caller)?;
    let key = session_key(&state, &user).await?;
    let data = wechat::data::decrypt_user_data(
        &key,
        &body.encrypted_data,
        &body.iv,
        state.wechat().appid(),
    )
    .map_err(data_error)?;
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureBody {
    raw_data: String,
    signature: String,
}

async fn verify_signature(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SignatureBody>,
) -> Result<impl IntoResponse, ApiError> {
    let user = signed_in_user(caller)?;
    let key = session_key(&state, &user).await?;
    Ok(Json(
        json!({ "valid": wechat::data::verify_signature(&body.raw_data, &body.signature, &key) }),
    ))
}

async fn openapi(
    State(state): State<AppState>,
    caller: Caller,
    Path(api): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    match &caller {
        Caller::Service | Caller::Admin | Caller::System => {}
        Caller::Anonymous => {
            return Err(ApiError::unauthenticated("open APIs need the service key"));
        }
        Caller::User(_) => {
            return Err(ApiError::denied(
                "open APIs are for servers and functions, not mini-program users",
            ));
        }
    }
    if !body.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    let reply = state
        .wechat()
        .openapi()
        .call_by_name(&api, body)
        .await
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no open API {api:?}; known: {}",
                wechat::openapi::API_NAMES.join(", ")
            ))
        })?
        .map_err(|e| e.to_api_error())?;
    Ok(match reply {
        OpenApiReply::Json(v) => Json(v).into_response(),
        OpenApiReply::Image(img) => {
            let mut res = (StatusCode::OK, img.bytes).into_response();
            let ct = HeaderValue::from_str(&img.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            res.headers_mut().insert(header::CONTENT_TYPE, ct);
            res
        }
    })
}

fn push_error(e: PushError) -> ApiError {
    match e.status() {
        401 => ApiError::unauthenticated(e.to_string()),
        _ => ApiError::invalid(e.to_string()),
    }
}

fn text(body: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn push_not_configured() -> ApiError {
    ApiError::not_found("message push is not configured (set wechat.push_token)")
}

async fn push_verify(
    State(state): State<AppState>,
    Query(q): Query<PushQuery>,
) -> Result<Response, ApiError> {
    let crypto = state.wechat().push().ok_or_else(push_not_configured)?;
    let echo = crypto.verify_url(&q).map_err(push_error)?;
    Ok(text(echo))
}

async fn push_receive(
    State(state): State<AppState>,
    Query(q): Query<PushQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wx = state.wechat().clone();
    let crypto = wx.push().ok_or_else(push_not_configured)?;
    let now_ms = mb_core::now_ms();
    let msg = crypto.open(&q, &body, now_ms / 1000).map_err(|e| {
        tracing::warn!(error = %e, "push refused");
        push_error(e)
    })?;
    let key = msg.replay_key();
    if !wx.replay_cache().insert(&key, now_ms / 1000) {
        return Err(push_error(PushError::Replayed));
    }
    let record = msg.to_record(q.openid.as_deref(), now_ms);
    match state
        .db()
        .create(&Caller::System, PUSH_COLLECTION, record.clone())
        .await
    {
        Ok(_) => {}
        Err(docdb::DbError::Conflict(_)) => return Err(push_error(PushError::Replayed)),
        Err(e) => {
            // not stored: forget it so WeChat's retry is accepted
            wx.replay_cache().remove(&key);
            return Err(ApiError::internal(format!("storing a push message: {e}")));
        }
    }
    if let (Some(handler), false) = (wx.push_handler(), wx.push_function().is_empty()) {
        let db = state.db().clone();
        let function = wx.push_function().to_string();
        tokio::spawn(async move {
            let outcome = handler.handle(&function, &record).await;
            let update = match &outcome {
                Ok(()) => json!({ "handled_at": { "$date": mb_core::now_ms() } }),
                Err(e) => {
                    tracing::warn!(function = %function, error = %e, "push handler failed");
                    json!({ "handled_at": { "$date": mb_core::now_ms() }, "handler_error": e })
                }
            };
            if let Err(e) = db
                .update_by_id(&Caller::System, PUSH_COLLECTION, &key, &update)
                .await
            {
                tracing::warn!(error = %e, "could not record the push handler outcome");
            }
        });
    }
    Ok(text("success".into()))
}
