//! The Payments page: orders of `_pay_orders` filtered by state and creation time (newest
//! first, with the total), an order with its history (created, paid, each refund, anomalies
//! WeChat Pay's messages showed), and refunds through the pay service, as a mini program's
//! server would ask for them (`POST /api/pay/wechat/refunds`).

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
use pay::orders::{ANOMALIES, CreateRefund, ORDERS, OrderState};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/pay/orders", get(orders))
        .route("/pay/orders/{no}", get(order))
        .route("/pay/orders/{no}/refund", post(refund))
}

fn ms_param(uri: &Uri, name: &str) -> Result<Option<i64>, ApiError> {
    match query_param(uri.query(), name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{name} must be milliseconds since the epoch"))),
    }
}

async fn orders(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let mut w = Map::new();
    if let Some(state) = query_param(uri.query(), "state").filter(|s| !s.is_empty()) {
        if OrderState::parse(&state).is_none() {
            return Err(ApiError::invalid(format!("unknown order state {state:?}")));
        }
        w.insert("state".into(), json!(state));
    }
    let mut created = Map::new();
    if let Some(from) = ms_param(&uri, "from")? {
        created.insert("$gte".into(), json!({ "$date": from }));
    }
    if let Some(to) = ms_param(&uri, "to")? {
        created.insert("$lt".into(), json!({ "$date": to }));
    }
    if !created.is_empty() {
        w.insert("created_at".into(), Value::Object(created));
    }
    if let Some(openid) = query_param(uri.query(), "openid").filter(|s| !s.is_empty()) {
        w.insert("openid".into(), json!(openid));
    }
    let skip = query_param(uri.query(), "skip")
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| ApiError::invalid("skip must be an integer"))
        })
        .transpose()?
        .unwrap_or(0);
    let limit = limit_param(query_param(uri.query(), "limit"), 20, 200)?;
    let where_ = Value::Object(w);
    let db = console.db();
    let req = QueryRequest {
        where_: where_.clone(),
        order_by: json!([["created_at", "desc"]]),
        skip: json!(skip),
        limit: json!(limit),
        ..Default::default()
    };
    let (data, total) = tokio::try_join!(
        db.query(&Caller::Admin, ORDERS, &req),
        db.count(&Caller::Admin, ORDERS, &where_)
    )?;
    Ok(Json(json!({
        "configured": console.pay().is_some(),
        "data": data,
        "total": total,
    })))
}

fn date_of(v: Option<&Value>) -> Option<i64> {
    pay::orders::as_date(v)
}

/// The order's life as events, oldest first.
fn history(order: &Value, anomalies: &[Value]) -> Vec<Value> {
    let mut h = Vec::new();
    let mut push = |at: Option<i64>, kind: &str, detail: Value| {
        if let Some(at) = at {
            h.push(json!({ "at": at, "kind": kind, "detail": detail }));
        }
    };
    push(
        date_of(order.get("created_at")),
        "created",
        json!({ "amount": order.pointer("/amount/total"), "prepay_id": order.get("prepay_id") }),
    );
    push(
        date_of(order.get("paid_at")),
        "paid",
        json!({ "transaction_id": order.get("transaction_id") }),
    );
    if let Some(refunds) = order.get("refunds").and_then(Value::as_object) {
        for (no, r) in refunds {
            push(
                date_of(r.get("created_at")),
                "refund_requested",
                json!({ "out_refund_no": no, "amount": r.get("amount"), "reason": r.get("reason") }),
            );
            let status = r.get("status").and_then(Value::as_str).unwrap_or("");
            let at = date_of(r.get("success_at")).or_else(|| date_of(r.get("updated_at")));
            if status != "PENDING" && status != "PROCESSING" {
                push(
                    at,
                    "refund_finished",
                    json!({ "out_refund_no": no, "status": status, "refund_id": r.get("refund_id"), "error": r.get("error") }),
                );
            }
        }
    }
    for a in anomalies {
        push(
            date_of(a.get("created_at")),
            "anomaly",
            json!({ "kind": a.get("kind"), "source": a.get("source"), "detail": a.get("detail") }),
        );
    }
    // By second, in the order pushed within one: WeChat Pay's times have whole seconds.
    h.sort_by_key(|e| e["at"].as_i64().unwrap_or(0) / 1000);
    h
}

async fn order(
    State(console): State<Console>,
    Path(no): Path<String>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    pay::model::validate_out_trade_no(&no).map_err(ApiError::invalid)?;
    let db = console.db();
    let by_no = QueryRequest {
        where_: json!({ "out_trade_no": no }),
        limit: json!(1),
        ..Default::default()
    };
    let Some(order) = db
        .query(&Caller::Admin, ORDERS, &by_no)
        .await?
        .into_iter()
        .next()
    else {
        return Err(ApiError::not_found(format!("no order {no}")));
    };
    let anomalies = db
        .query(
            &Caller::Admin,
            ANOMALIES,
            &QueryRequest {
                where_: json!({ "out_trade_no": no }),
                limit: json!(50),
                ..Default::default()
            },
        )
        .await?;
    let history = history(&order, &anomalies);
    Ok(Json(
        json!({ "order": order, "anomalies": anomalies, "history": history }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    /// Fen.
    refund: Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    out_refund_no: Option<String>,
}

async fn refund(
    State(console): State<Console>,
    Path(no): Path<String>,
    s: AdminSession,
    meta: RequestMeta,
    Json(body): Json<RefundBody>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(pay) = console.pay() else {
        return Err(ApiError::unavailable(
            "WeChat Pay is not configured ([wechat_pay] mchid)",
        ));
    };
    let mut req = json!({ "out_trade_no": no, "refund": body.refund });
    if let Some(r) = &body.reason {
        req["reason"] = json!(r);
    }
    if let Some(r) = &body.out_refund_no {
        req["out_refund_no"] = json!(r);
    }
    let refund = CreateRefund::from_json(&req)?;
    let outcome = pay.refund(refund).await?;
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "pay.refund",
            target: &no,
            before: None,
            after: serde_json::to_value(&outcome).ok(),
        },
    )
    .await;
    Ok(Json(outcome))
}
