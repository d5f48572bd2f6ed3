//! Sessions and tokens (API.md §2): refresh, logout, me, and the development login. Platform
//! logins (`/api/auth/wechat/*`) live with their platform's routes.

use crate::extract::Json;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use mb_core::{ApiError, Caller};
use serde::Deserialize;
use serde_json::json;

/// Auth routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/dev/login", post(dev_login))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.identity().refresh(&body.refresh_token).await?))
}

async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<impl IntoResponse, ApiError> {
    state.identity().logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    let user = match caller.require_signed_in()? {
        Caller::User(u) => u,
        _ => {
            return Err(ApiError::invalid(
                "service callers are not users: /api/auth/me needs a user's access token",
            ));
        }
    };
    let view = state
        .identity()
        .user(&user.uid)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("user no longer exists"))?;
    Ok(Json(json!({ "user": view })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevLoginBody {
    openid: String,
    #[serde(default)]
    unionid: Option<String>,
}

/// Signs in as any openid, as WeChat login would (same user ids), when `auth.dev_login` is on.
async fn dev_login(
    State(state): State<AppState>,
    Json(body): Json<DevLoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.config().auth.dev_login {
        return Err(ApiError::not_found(
            "dev login is disabled (auth.dev_login = false)",
        ));
    }
    let valid =
        |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    if !valid(&body.openid) {
        return Err(ApiError::invalid(
            "openid must be 1 to 128 printable ASCII characters",
        ));
    }
    if let Some(u) = &body.unionid {
        if !valid(u) {
            return Err(ApiError::invalid(
                "unionid must be 1 to 128 printable ASCII characters",
            ));
        }
    }
    let signed_in = state
        .identity()
        .sign_in(identity::PlatformLogin {
            platform: "wechat".into(),
            openid: body.openid,
            unionid: body.unionid,
            session_key: None,
        })
        .await?;
    Ok(Json(signed_in))
}
