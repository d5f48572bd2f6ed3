//! WeChat Pay (API.md §8): orders, refunds, notifications. Handlers read top to bottom: who is
//! calling, may they, do it through [`pay::service::PayService`].
//!
//! The two notification routes answer WeChat Pay's own shape, not the error envelope:
//! `204` when handled, `{"code":"FAIL","message"}` with 4xx/5xx so WeChat Pay retries. They
//! read the raw body, which is verified before anything parses it.

use crate::extract::Json;
use crate::middleware::RawResponse;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mb_core::{ApiError, Caller};
use pay::PayError;
use pay::orders::{CreateOrder, CreateRefund};
use pay::service::PayService;
use serde::Deserialize;
use serde_json::{Value, json};

/// Path prefix of this area.
pub const PREFIX: &str = "/api/pay/wechat";

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/pay/wechat/orders", post(create_order))
        .route("/api/pay/wechat/orders/{out_trade_no}", get(get_order))
        .route(
            "/api/pay/wechat/orders/{out_trade_no}/close",
            post(close_order),
        )
        .route(
            "/api/pay/wechat/orders/{out_trade_no}/payment",
            post(payment),
        )
        .route("/api/pay/wechat/refunds", post(create_refund))
        .route("/api/pay/wechat/notify", post(notify))
        .route("/api/pay/wechat/refund-notify", post(notify))
}

fn service(state: &AppState) -> Result<&PayService, ApiError> {
    state.pay().ok_or_else(|| PayError::NotConfigured.into())
}

/// `POST /api/pay/wechat/orders` (service callers): prepay → `wx.requestPayment` parameters.
async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Value>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_service()?;
    let pay = service(&state)?;
    let req = CreateOrder::from_json(&body, mb_core::now_ms())?;
    let created = pay.create_order(req).await?;
    Ok(Json(created))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetOrderQuery {
    /// Ask WeChat Pay first when the order is still unpaid.
    #[serde(default)]
    sync: bool,
}

/// `GET /api/pay/wechat/orders/{out_trade_no}` → `{"data": <order>}` (service callers; a payer
/// for their own order).
async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(out_trade_no): Path<String>,
    Query(q): Query<GetOrderQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = caller.require_signed_in()?;
    let pay = service(&state)?;
    let doc = pay.get_order(&caller, &out_trade_no, q.sync).await?;
    Ok(Json(json!({ "data": doc })))
}

/// `POST /api/pay/wechat/orders/{out_trade_no}/payment` (the payer; service callers) →
/// `{"out_trade_no","prepay_id","payment"}`: what `wx.requestPayment` takes, for an order that
/// can still be paid.
async fn payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(out_trade_no): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let caller = caller.require_signed_in()?;
    let pay = service(&state)?;
    Ok(Json(pay.payment(&caller, &out_trade_no).await?))
}

/// `POST /api/pay/wechat/orders/{out_trade_no}/close` (service callers) → `{"data": <order>}`.
async fn close_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(out_trade_no): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_service()?;
    let pay = service(&state)?;
    let doc = pay.close_order(&out_trade_no).await?;
    Ok(Json(json!({ "data": doc })))
}

/// `POST /api/pay/wechat/refunds` (service callers).
async fn create_refund(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Value>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_service()?;
    let pay = service(&state)?;
    let req = CreateRefund::from_json(&body)?;
    Ok(Json(pay.refund(req).await?))
}

/// `POST /api/pay/wechat/notify` and `/refund-notify`: WeChat Pay's notifications.
async fn notify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(pay) = state.pay() else {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "wechat pay is not configured on this server",
        );
    };
    match pay.handle_notification(&headers, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => fail(
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &r.message,
        ),
    }
}

/// WeChat Pay's failure answer, kept out of the error envelope.
fn fail(status: StatusCode, message: &str) -> Response {
    let body = json!({ "code": "FAIL", "message": message }).to_string();
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response();
    res.extensions_mut().insert(RawResponse);
    res
}
