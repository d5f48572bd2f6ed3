//! The order document of `_pay_orders` and its state machine, written as the CloudBase-style
//! `where` + update pairs that the service runs through docdb's conditional update
//! (`update_where`): every transition names the states it may start from in its `where`, so
//! it happens once and only once however many notifications, reconcilers and instances race.
//!
//! ```text
//!            paid (notification / reconciliation)
//!   NOTPAY ──────────────────────────────────────▶ SUCCESS ──refund succeeded──▶ REFUND
//!     │  ▲                                          ▲   (refunds: PENDING → PROCESSING →
//!     │  └── PAYERROR ──paid────────────────────────┘    SUCCESS | CLOSED | ABNORMAL | FAILED)
//!     └──closed / expired──▶ CLOSED ──paid anyway (money taken: WeChat Pay is the truth)──▶ SUCCESS
//! ```
//!
//! Money bookkeeping lives in the same document so it is atomic: `refundable` (fen that may
//! still be refunded: 0 until paid, then `amount.total` minus refunds in flight or done) is
//! decremented by a conditional `$inc` that requires `refundable >= amount`, so concurrent
//! refunds can never exceed what was paid. `refunded` counts refunds that succeeded.
//! Refunds are kept in the `refunds` map keyed by `out_refund_no`.

use crate::error::PayError;
use crate::model::{Refund, Transaction, parse_fen, validate_out_refund_no, validate_out_trade_no};
use serde_json::{Map, Value, json};

/// The system collection of orders.
pub const ORDERS: &str = "_pay_orders";
/// The system collection of anomalies (genuine notifications that disagree with our orders).
pub const ANOMALIES: &str = "_pay_anomalies";
/// The default read rule of `_pay_orders`: a payer reads their own orders.
pub const ORDERS_READ_RULE: &str = "doc.openid == auth.openid";
/// How long a JSAPI prepay id lives when no `time_expire` is given (WeChat Pay: 2 hours).
pub const DEFAULT_EXPIRY_MS: i64 = 2 * 3600 * 1000;

/// `state` of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Created, not paid (yet).
    NotPay,
    /// Paid.
    Success,
    /// Paid, and at least one refund succeeded.
    Refund,
    /// Closed unpaid.
    Closed,
    /// The last payment attempt failed (the payer may retry until it expires).
    PayError,
}

impl OrderState {
    /// The stored spelling (WeChat Pay's).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::NotPay => "NOTPAY",
            OrderState::Success => "SUCCESS",
            OrderState::Refund => "REFUND",
            OrderState::Closed => "CLOSED",
            OrderState::PayError => "PAYERROR",
        }
    }
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<OrderState> {
        Some(match s {
            "NOTPAY" => OrderState::NotPay,
            "SUCCESS" => OrderState::Success,
            "REFUND" => OrderState::Refund,
            "CLOSED" => OrderState::Closed,
            "PAYERROR" => OrderState::PayError,
            _ => return None,
        })
    }
    /// Whether money was received.
    pub fn is_paid(self) -> bool {
        matches!(self, OrderState::Success | OrderState::Refund)
    }
}

/// A validated order request (`POST /api/pay/wechat/orders`, `cloud.pay.createOrder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrder {
    /// 商品描述.
    pub description: String,
    /// Given by the caller, or `None` to generate one.
    pub out_trade_no: Option<String>,
    /// Fen.
    pub total: i64,
    /// The payer.
    pub openid: String,
    /// 附加数据.
    pub attach: Option<String>,
    /// RFC 3339 expiry.
    pub time_expire: Option<String>,
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, PayError> {
    v.as_object()
        .ok_or_else(|| PayError::Invalid(format!("{what} must be a JSON object")))
}

fn refuse_unknown(m: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<(), PayError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(PayError::Invalid(format!(
            "unknown field {prefix}{k} (expected one of: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, PayError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(PayError::Invalid(format!("{key} must be a string"))),
    }
}

fn req_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, PayError> {
    opt_str(m, key)?.ok_or_else(|| PayError::Invalid(format!("{key} is required")))
}

/// Checks an openid's shape (WeChat openids are 28 characters of `[A-Za-z0-9_-]`).
pub fn validate_openid(s: &str) -> Result<(), PayError> {
    if s.is_empty()
        || s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(PayError::Invalid(
            "openid must be 1 to 128 characters of letters, digits, _ and -".into(),
        ));
    }
    Ok(())
}

impl CreateOrder {
    /// Validates a JSON request; `now_ms` checks `time_expire` is in the future.
    pub fn from_json(v: &Value, now_ms: i64) -> Result<CreateOrder, PayError> {
        let m = obj(v, "the order")?;
        refuse_unknown(
            m,
            &[
                "description",
                "out_trade_no",
                "amount",
                "openid",
                "attach",
                "time_expire",
            ],
            "",
        )?;
        let description = req_str(m, "description")?.trim();
        if description.is_empty() || description.chars().count() > 127 {
            return Err(PayError::Invalid(
                "description must be 1 to 127 characters".into(),
            ));
        }
        let out_trade_no = opt_str(m, "out_trade_no")?.map(str::to_string);
        if let Some(no) = &out_trade_no {
            validate_out_trade_no(no).map_err(PayError::Invalid)?;
        }
        let amount = m
            .get("amount")
            .ok_or_else(|| PayError::Invalid("amount is required: {\"total\": <fen>}".into()))?;
        let am = obj(amount, "amount")?;
        refuse_unknown(am, &["total", "currency"], "amount.")?;
        let total = parse_fen(am.get("total"), "amount.total").map_err(PayError::Invalid)?;
        match am.get("currency") {
            None | Some(Value::Null) => {}
            Some(Value::String(c)) if c == "CNY" => {}
            Some(_) => {
                return Err(PayError::Invalid(
                    "amount.currency can only be \"CNY\"".into(),
                ));
            }
        }
        let openid = req_str(m, "openid")?;
        validate_openid(openid)?;
        let attach = opt_str(m, "attach")?.map(str::to_string);
        if attach.as_ref().is_some_and(|a| a.chars().count() > 128) {
            return Err(PayError::Invalid(
                "attach must be at most 128 characters".into(),
            ));
        }
        let time_expire = opt_str(m, "time_expire")?.map(str::to_string);
        if let Some(t) = &time_expire {
            let at = parse_rfc3339_ms(t).ok_or_else(|| {
                PayError::Invalid(
                    "time_expire must be RFC 3339, e.g. 2024-06-08T10:34:56+08:00".into(),
                )
            })?;
            if at <= now_ms + 60_000 {
                return Err(PayError::Invalid(
                    "time_expire must be more than a minute in the future".into(),
                ));
            }
        }
        Ok(CreateOrder {
            description: description.to_string(),
            out_trade_no,
            total,
            openid: openid.to_string(),
            attach,
            time_expire,
        })
    }
}

/// A validated refund request (`POST /api/pay/wechat/refunds`, `cloud.pay.refund`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRefund {
    /// The order.
    pub out_trade_no: String,
    /// Given, or `None` to generate one.
    pub out_refund_no: Option<String>,
    /// Fen to refund.
    pub refund: i64,
    /// 退款原因.
    pub reason: Option<String>,
}

impl CreateRefund {
    /// Validates a JSON request.
    pub fn from_json(v: &Value) -> Result<CreateRefund, PayError> {
        let m = obj(v, "the refund")?;
        refuse_unknown(
            m,
            &["out_trade_no", "out_refund_no", "refund", "reason"],
            "",
        )?;
        let out_trade_no = req_str(m, "out_trade_no")?.to_string();
        validate_out_trade_no(&out_trade_no).map_err(PayError::Invalid)?;
        let out_refund_no = opt_str(m, "out_refund_no")?.map(str::to_string);
        if let Some(no) = &out_refund_no {
            validate_out_refund_no(no).map_err(PayError::Invalid)?;
        }
        let refund = parse_fen(m.get("refund"), "refund").map_err(PayError::Invalid)?;
        let reason = opt_str(m, "reason")?.map(str::to_string);
        if reason.as_ref().is_some_and(|r| r.chars().count() > 80) {
            return Err(PayError::Invalid(
                "reason must be at most 80 characters".into(),
            ));
        }
        Ok(CreateRefund {
            out_trade_no,
            out_refund_no,
            refund,
            reason,
        })
    }
}

/// Milliseconds of an RFC 3339 time.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A stored date value.
pub fn date(ms: i64) -> Value {
    json!({ "$date": ms })
}

/// Reads a stored date (`{"$date": ms}`).
pub fn as_date(v: Option<&Value>) -> Option<i64> {
    v?.get("$date")?.as_i64()
}

/// The document of a new order (prepay done).
#[allow(clippy::too_many_arguments)]
pub fn new_order_doc(
    o: &CreateOrder,
    out_trade_no: &str,
    appid: &str,
    mchid: &str,
    prepay_id: &str,
    now_ms: i64,
    reconcile_after_ms: i64,
) -> Value {
    let expire_at = o
        .time_expire
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(now_ms + DEFAULT_EXPIRY_MS);
    let mut d = json!({
        "out_trade_no": out_trade_no,
        "openid": o.openid,
        "description": o.description,
        "amount": { "total": o.total, "currency": "CNY" },
        "appid": appid,
        "mchid": mchid,
        "prepay_id": prepay_id,
        "state": OrderState::NotPay.as_str(),
        "refunded": 0,
        "refundable": 0,
        "refunds": {},
        "created_at": date(now_ms),
        "updated_at": date(now_ms),
        "expire_at": date(expire_at),
        "reconcile_at": date(now_ms + reconcile_after_ms),
        "reconcile_attempts": 0,
    });
    if let Some(a) = &o.attach {
        d["attach"] = json!(a);
    }
    if let Some(t) = &o.time_expire {
        d["time_expire"] = json!(t);
    }
    d
}

/// Whether a stored order is the same purchase as a new request (so a retried create
/// answers the existing order instead of a conflict).
pub fn same_purchase(doc: &Value, o: &CreateOrder) -> bool {
    doc.pointer("/amount/total").and_then(Value::as_i64) == Some(o.total)
        && doc.get("openid").and_then(Value::as_str) == Some(o.openid.as_str())
        && doc.get("description").and_then(Value::as_str) == Some(o.description.as_str())
}

/// A `where` on one order.
pub fn by_no(out_trade_no: &str) -> Value {
    json!({ "out_trade_no": out_trade_no })
}

fn states(list: &[OrderState]) -> Value {
    json!({ "$in": list.iter().map(|s| s.as_str()).collect::<Vec<_>>() })
}

/// What disagrees between a genuine transaction and our order (an anomaly), if anything:
/// `[{"field", "expected", "received"}, …]`.
pub fn transaction_mismatch(
    order: &Value,
    t: &Transaction,
    appid: &str,
    mchid: &str,
) -> Option<Value> {
    let mut diffs = Vec::new();
    let mut diff = |field: &str, expected: Value, received: Value| {
        diffs.push(json!({ "field": field, "expected": expected, "received": received }));
    };
    let total = order.pointer("/amount/total").and_then(Value::as_i64);
    let got_total = t.amount.as_ref().and_then(|a| a.total);
    if got_total != total {
        diff("amount.total", json!(total), json!(got_total));
    }
    let want_appid = order.get("appid").and_then(Value::as_str).unwrap_or(appid);
    if t.appid != want_appid || t.appid != appid {
        diff("appid", json!(want_appid), json!(t.appid));
    }
    let want_mchid = order.get("mchid").and_then(Value::as_str).unwrap_or(mchid);
    if t.mchid != want_mchid || t.mchid != mchid {
        diff("mchid", json!(want_mchid), json!(t.mchid));
    }
    if let Some(c) = t.amount.as_ref().and_then(|a| a.currency.as_deref()) {
        if c != "CNY" {
            diff("amount.currency", json!("CNY"), json!(c));
        }
    }
    (!diffs.is_empty()).then_some(Value::Array(diffs))
}

/// NOTPAY / PAYERROR / CLOSED → SUCCESS, with the transaction's id and time; makes the whole
/// amount refundable and stops reconciliation.
pub fn paid_transition(
    out_trade_no: &str,
    total: i64,
    t: &Transaction,
    now_ms: i64,
) -> (Value, Value) {
    let paid_at = t
        .success_time
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .unwrap_or(now_ms);
    let mut update = json!({
        "state": OrderState::Success.as_str(),
        "transaction_id": t.transaction_id.clone().unwrap_or_default(),
        "paid_at": date(paid_at),
        "refundable": total,
        "updated_at": date(now_ms),
        "reconcile_at": { "$remove": true },
    });
    if let Some(pt) = t.amount.as_ref().and_then(|a| a.payer_total) {
        update["payer_total"] = json!(pt);
    }
    if let Some(b) = &t.bank_type {
        update["bank_type"] = json!(b);
    }
    let mut w = by_no(out_trade_no);
    w["state"] = states(&[OrderState::NotPay, OrderState::PayError, OrderState::Closed]);
    (w, update)
}

/// NOTPAY / PAYERROR → CLOSED (closed by us, or found closed at WeChat Pay).
pub fn closed_transition(out_trade_no: &str, now_ms: i64) -> (Value, Value) {
    let mut w = by_no(out_trade_no);
    w["state"] = states(&[OrderState::NotPay, OrderState::PayError]);
    (
        w,
        json!({ "state": OrderState::Closed.as_str(), "updated_at": date(now_ms), "reconcile_at": { "$remove": true } }),
    )
}

/// NOTPAY → PAYERROR (the last payment attempt failed; reconciliation goes on).
pub fn payerror_transition(out_trade_no: &str, desc: Option<&str>, now_ms: i64) -> (Value, Value) {
    let mut w = by_no(out_trade_no);
    w["state"] = OrderState::NotPay.as_str().into();
    let mut u = json!({ "state": OrderState::PayError.as_str(), "updated_at": date(now_ms) });
    if let Some(d) = desc {
        u["trade_state_desc"] = json!(d);
    }
    (w, u)
}

/// Statuses of a refund in the `refunds` map.
pub mod refund_status {
    /// Reserved locally, not yet accepted by WeChat Pay.
    pub const PENDING: &str = "PENDING";
    /// Accepted by WeChat Pay, money on its way.
    pub const PROCESSING: &str = "PROCESSING";
    /// Money returned.
    pub const SUCCESS: &str = "SUCCESS";
    /// Closed by WeChat Pay without refunding.
    pub const CLOSED: &str = "CLOSED";
    /// Could not reach the payer's account; needs the merchant console (退款异常).
    pub const ABNORMAL: &str = "ABNORMAL";
    /// Refused by WeChat Pay when requested (nothing was refunded).
    pub const FAILED: &str = "FAILED";
}

fn refund_path(out_refund_no: &str, field: &str) -> String {
    format!("refunds.{out_refund_no}.{field}")
}

/// Reserves `refund` fen of a paid order for a new refund: only when that much is still
/// refundable and the refund number is new. Runs as one conditional update.
pub fn reserve_refund(
    r: &CreateRefund,
    out_refund_no: &str,
    now_ms: i64,
    reconcile_after_ms: i64,
) -> (Value, Value) {
    let mut w = by_no(&r.out_trade_no);
    w["state"] = states(&[OrderState::Success, OrderState::Refund]);
    w["refundable"] = json!({ "$gte": r.refund });
    w[format!("refunds.{out_refund_no}")] = json!({ "$exists": false });
    let mut rec = json!({
        "out_refund_no": out_refund_no,
        "amount": r.refund,
        "status": refund_status::PENDING,
        "created_at": date(now_ms),
    });
    if let Some(reason) = &r.reason {
        rec["reason"] = json!(reason);
    }
    let u = json!({
        "refundable": { "$inc": -r.refund },
        format!("refunds.{out_refund_no}"): { "$set": rec },
        "updated_at": date(now_ms),
        "reconcile_at": date(now_ms + reconcile_after_ms),
        "reconcile_attempts": 0,
    });
    (w, u)
}

/// Applies a refund status reported by WeChat Pay (answer, query or notification) to the
/// refund `out_refund_no` of amount `amount` (ours, from the stored record). `None` when the
/// status needs no change.
pub fn refund_transition(
    out_trade_no: &str,
    out_refund_no: &str,
    amount: i64,
    r: &Refund,
    now_ms: i64,
) -> Option<(Value, Value)> {
    use refund_status::*;
    let status_path = refund_path(out_refund_no, "status");
    let (from, mut u): (&[&str], Value) = match r.status.as_str() {
        "SUCCESS" => (
            &[PENDING, PROCESSING, ABNORMAL],
            json!({
                status_path.clone(): SUCCESS,
                "refunded": { "$inc": amount },
                "state": OrderState::Refund.as_str(),
                refund_path(out_refund_no, "success_at"): date(r.success_time.as_deref().and_then(parse_rfc3339_ms).unwrap_or(now_ms)),
            }),
        ),
        "CLOSED" => (
            &[PENDING, PROCESSING, ABNORMAL],
            json!({ status_path.clone(): CLOSED, "refundable": { "$inc": amount } }),
        ),
        "ABNORMAL" => (
            &[PENDING, PROCESSING],
            json!({ status_path.clone(): ABNORMAL }),
        ),
        "PROCESSING" => (&[PENDING], json!({ status_path.clone(): PROCESSING })),
        _ => return None,
    };
    if !r.refund_id.is_empty() {
        u[refund_path(out_refund_no, "refund_id")] = json!(r.refund_id);
    }
    if let Some(acc) = &r.user_received_account {
        u[refund_path(out_refund_no, "user_received_account")] = json!(acc);
    }
    u["updated_at"] = date(now_ms);
    let mut w = by_no(out_trade_no);
    w[status_path] = json!({ "$in": from });
    Some((w, u))
}

/// PENDING → FAILED when WeChat Pay refused the refund outright; releases the reservation.
pub fn refund_failed(
    out_trade_no: &str,
    out_refund_no: &str,
    amount: i64,
    reason: &str,
    now_ms: i64,
) -> (Value, Value) {
    let mut w = by_no(out_trade_no);
    w[refund_path(out_refund_no, "status")] = json!(refund_status::PENDING);
    let u = json!({
        refund_path(out_refund_no, "status"): refund_status::FAILED,
        refund_path(out_refund_no, "error"): reason,
        "refundable": { "$inc": amount },
        "updated_at": date(now_ms),
    });
    (w, u)
}

/// The refunds of an order still waiting for WeChat Pay (number, amount, status).
pub fn refunds_in_flight(order: &Value) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    if let Some(m) = order.get("refunds").and_then(Value::as_object) {
        for (no, r) in m {
            let status = r.get("status").and_then(Value::as_str).unwrap_or("");
            if matches!(
                status,
                refund_status::PENDING | refund_status::PROCESSING | refund_status::ABNORMAL
            ) {
                out.push((
                    no.clone(),
                    r.get("amount").and_then(Value::as_i64).unwrap_or(0),
                    status.to_string(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::TransactionAmount;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn create_order_validation() {
        let ok = json!({"description": "咖啡", "amount": {"total": 1800}, "openid": "o-abc_123"});
        let o = CreateOrder::from_json(&ok, NOW).unwrap();
        assert_eq!(o.total, 1800);
        assert_eq!(o.out_trade_no, None);
        for (bad, msg) in [
            (json!([]), "object"),
            (
                json!({"amount": {"total": 1}, "openid": "o"}),
                "description is required",
            ),
            (
                json!({"description": "", "amount": {"total": 1}, "openid": "o"}),
                "description must",
            ),
            (
                json!({"description": "x", "openid": "o"}),
                "amount is required",
            ),
            (
                json!({"description": "x", "amount": 100, "openid": "o"}),
                "amount must be a JSON object",
            ),
            (
                json!({"description": "x", "amount": {"total": 1.5}, "openid": "o"}),
                "decimal",
            ),
            (
                json!({"description": "x", "amount": {"total": "100"}, "openid": "o"}),
                "integer",
            ),
            (
                json!({"description": "x", "amount": {"total": 0}, "openid": "o"}),
                "positive",
            ),
            (
                json!({"description": "x", "amount": {"total": -5}, "openid": "o"}),
                "positive",
            ),
            (
                json!({"description": "x", "amount": {"total": 1, "currency": "USD"}}),
                "CNY",
            ),
            (
                json!({"description": "x", "amount": {"total_fee": 1}, "openid": "o"}),
                "unknown field amount.total_fee",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}}),
                "openid is required",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o p"}),
                "openid must",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": 5}),
                "openid must be a string",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o", "out_trade_no": "12"}),
                "6 to 32",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o", "totalFee": 1}),
                "unknown field totalFee",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o", "time_expire": "tomorrow"}),
                "RFC 3339",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o", "time_expire": "2000-01-01T00:00:00+08:00"}),
                "future",
            ),
            (
                json!({"description": "x", "amount": {"total": 1}, "openid": "o", "attach": "a".repeat(129)}),
                "attach",
            ),
        ] {
            let e = CreateOrder::from_json(&bad, NOW).unwrap_err();
            assert!(
                matches!(&e, PayError::Invalid(m) if m.contains(msg)),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn create_refund_validation() {
        let r = CreateRefund::from_json(&json!({"out_trade_no": "T000001", "refund": 5})).unwrap();
        assert_eq!(r.refund, 5);
        assert!(
            CreateRefund::from_json(&json!({"out_trade_no": "T000001", "refund": 0.5})).is_err()
        );
        assert!(CreateRefund::from_json(&json!({"out_trade_no": "T000001"})).is_err());
        assert!(CreateRefund::from_json(&json!({"refund": 1})).is_err());
        assert!(
            CreateRefund::from_json(
                &json!({"out_trade_no": "T000001", "refund": 1, "out_refund_no": "a.b"})
            )
            .is_err()
        );
        assert!(
            CreateRefund::from_json(&json!({"out_trade_no": "T000001", "refund": 1, "amount": 1}))
                .is_err()
        );
    }

    #[test]
    fn mismatches() {
        let o = CreateOrder::from_json(
            &json!({"description": "x", "amount": {"total": 100}, "openid": "o"}),
            NOW,
        )
        .unwrap();
        let doc = new_order_doc(&o, "T000001", "wxA", "190", "wx1", NOW, 1000);
        assert_eq!(as_date(doc.get("reconcile_at")), Some(NOW + 1000));
        assert_eq!(as_date(doc.get("expire_at")), Some(NOW + DEFAULT_EXPIRY_MS));
        let mut t = Transaction {
            appid: "wxA".into(),
            mchid: "190".into(),
            out_trade_no: "T000001".into(),
            trade_state: "SUCCESS".into(),
            amount: Some(TransactionAmount {
                total: Some(100),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(transaction_mismatch(&doc, &t, "wxA", "190"), None);
        t.amount = Some(TransactionAmount {
            total: Some(1),
            ..Default::default()
        });
        let m = transaction_mismatch(&doc, &t, "wxA", "190").unwrap();
        assert_eq!(
            m[0],
            json!({"field": "amount.total", "expected": 100, "received": 1})
        );
        t.amount = Some(TransactionAmount {
            total: Some(100),
            ..Default::default()
        });
        t.appid = "wxB".into();
        assert_eq!(
            transaction_mismatch(&doc, &t, "wxA", "190").unwrap()[0]["field"],
            "appid"
        );
        t.appid = "wxA".into();
        t.mchid = "191".into();
        assert_eq!(
            transaction_mismatch(&doc, &t, "wxA", "190").unwrap()[0]["field"],
            "mchid"
        );
    }

    #[test]
    fn transitions_name_their_starting_states() {
        let t = Transaction {
            transaction_id: Some("4200".into()),
            success_time: Some("2024-06-08T10:34:56+08:00".into()),
            ..Default::default()
        };
        let (w, u) = paid_transition("T000001", 100, &t, NOW);
        assert_eq!(w["state"]["$in"], json!(["NOTPAY", "PAYERROR", "CLOSED"]));
        assert_eq!(u["paid_at"]["$date"], 1_717_814_096_000i64);
        assert_eq!(u["refundable"], 100);
        let r = CreateRefund {
            out_trade_no: "T000001".into(),
            out_refund_no: None,
            refund: 30,
            reason: None,
        };
        let (w, u) = reserve_refund(&r, "R1", NOW, 1000);
        assert_eq!(w["refundable"]["$gte"], 30);
        assert_eq!(w["refunds.R1"]["$exists"], false);
        assert_eq!(u["refundable"]["$inc"], -30);
        let done = Refund {
            status: "SUCCESS".into(),
            refund_id: "50".into(),
            ..Default::default()
        };
        let (w, u) = refund_transition("T000001", "R1", 30, &done, NOW).unwrap();
        assert_eq!(
            w["refunds.R1.status"]["$in"],
            json!(["PENDING", "PROCESSING", "ABNORMAL"])
        );
        assert_eq!(u["refunded"]["$inc"], 30);
        assert_eq!(u["state"], "REFUND");
        let unknown = Refund {
            status: "WHATEVER".into(),
            ..Default::default()
        };
        assert!(refund_transition("T000001", "R1", 30, &unknown, NOW).is_none());
    }
}
