//! The payment service: orders as documents of `_pay_orders`, written through docdb's normal
//! write path as [`Caller::System`] (so realtime watchers and functions see every change),
//! moved by conditional updates only (see [`crate::orders`]), fed by verified notifications
//! and by a reconciler that queries WeChat Pay about orders and refunds nobody told us about.
//!
//! Used by the HTTP routes (`server::routes::pay`) and, later, by functions (`cloud.pay.*`):
//! [`PayService::create_order`], [`PayService::get_order`], [`PayService::close_order`],
//! [`PayService::refund`], [`PayService::handle_notification`], [`PayService::reconcile_due`].
//! Transitions are reported to a [`PayEventSink`] (the hook for `wechat_pay.notify_function`).

use crate::client::WechatPayClient;
use crate::error::PayError;
use crate::model::{JsapiOrder, NotificationResource, Refund, RefundRequest, Transaction};
use crate::orders::{
    self, ANOMALIES, CreateOrder, CreateRefund, ORDERS, OrderState, date, refund_status,
};
use crate::sign::RequestPayment;
use docdb::{Database, DbError, QueryRequest};
use mb_core::{Caller, now_ms};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What happened to an order (delivered once per transition, by the instance that made it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayEventKind {
    /// The order was paid (NOTPAY/PAYERROR/CLOSED → SUCCESS).
    Paid,
    /// A refund succeeded (the order is now REFUND).
    Refunded,
    /// A refund was closed or became abnormal without refunding.
    RefundFailed,
    /// The order was closed unpaid.
    Closed,
}

/// A transition, with the order document as it is after it.
#[derive(Debug, Clone, Serialize)]
pub struct PayEvent {
    /// What happened.
    pub kind: PayEventKind,
    /// The order.
    pub out_trade_no: String,
    /// The refund, for refund events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_refund_no: Option<String>,
    /// The order document after the change.
    pub order: Value,
}

/// Receives [`PayEvent`]s. The functions area implements it to call
/// `wechat_pay.notify_function`; the default does nothing (changes are visible to realtime
/// watchers anyway). Called in a background task, after the change is committed.
#[async_trait::async_trait]
pub trait PayEventSink: Send + Sync + 'static {
    /// Handles one event; errors are the sink's to log.
    async fn on_event(&self, event: PayEvent);
}

/// What `create_order` answers (API.md §8).
#[derive(Debug, Clone, Serialize)]
pub struct CreatedOrder {
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat Pay's prepay id.
    pub prepay_id: String,
    /// The `wx.requestPayment` parameters.
    pub payment: RequestPayment,
}

/// What `refund` answers.
#[derive(Debug, Clone, Serialize)]
pub struct RefundOutcome {
    /// The order.
    pub out_trade_no: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// WeChat Pay's refund id (empty while PENDING).
    pub refund_id: String,
    /// `PROCESSING` (usual), `SUCCESS`, `ABNORMAL`, `CLOSED`, or `PENDING`: recorded but not
    /// yet confirmed by WeChat Pay (it did not answer in time); Minibase re-submits it.
    pub status: String,
    /// Fen.
    pub refund: i64,
}

/// Why a notification was not acknowledged: WeChat Pay retries it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRejection {
    /// HTTP status to answer (401 forged, 400 unreadable, 500/503 our side).
    pub status: u16,
    /// The `message` of `{"code":"FAIL","message"}`.
    pub message: String,
}

struct Inner {
    client: WechatPayClient,
    db: Database,
    reconcile_after: Duration,
    sink: parking_lot::RwLock<Option<Arc<dyn PayEventSink>>>,
}

/// The payment service. Cheap to clone.
#[derive(Clone)]
pub struct PayService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayService")
            .field("mchid", &self.inner.client.mchid())
            .finish_non_exhaustive()
    }
}

fn db_err(e: DbError) -> PayError {
    match e {
        DbError::Unavailable(m) => PayError::Internal(format!("database unavailable: {m}")),
        other => PayError::Internal(format!("database: {other}")),
    }
}

fn str_of<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, PayError> {
    serde_json::to_value(v).map_err(|e| PayError::Internal(format!("answer: {e}")))
}

fn state_of(doc: &Value) -> Option<OrderState> {
    OrderState::parse(str_of(doc, "state"))
}

/// Declares `_pay_orders`' default read rule and the indexes pay needs. Idempotent; called by
/// [`PayService::new`], and by the server even when WeChat Pay is not configured (so the
/// rule is always in force).
pub async fn declare_collections(db: &Database) -> Result<(), PayError> {
    db.declare_rules(
        ORDERS,
        docdb::CollectionRules::parse(Some(orders::ORDERS_READ_RULE), None).map_err(db_err)?,
    )
    .map_err(db_err)?;
    db.ensure_index(ORDERS, &["out_trade_no"], true)
        .await
        .map_err(db_err)?;
    db.ensure_index(ORDERS, &["reconcile_at"], false)
        .await
        .map_err(db_err)?;
    db.ensure_index(ORDERS, &["openid", "-created_at"], false)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl PayService {
    /// A service over `db`; declares the collections' rule and indexes.
    pub async fn new(
        client: WechatPayClient,
        db: Database,
        reconcile_after: Duration,
    ) -> Result<PayService, PayError> {
        declare_collections(&db).await?;
        Ok(PayService {
            inner: Arc::new(Inner {
                client,
                db,
                reconcile_after,
                sink: parking_lot::RwLock::new(None),
            }),
        })
    }

    /// The WeChat Pay client.
    pub fn client(&self) -> &WechatPayClient {
        &self.inner.client
    }

    /// Installs the receiver of [`PayEvent`]s (replaces any previous one).
    pub fn set_event_sink(&self, sink: Arc<dyn PayEventSink>) {
        *self.inner.sink.write() = Some(sink);
    }

    fn reconcile_after_ms(&self) -> i64 {
        self.inner.reconcile_after.as_millis().min(i64::MAX as u128) as i64
    }

    async fn find(&self, caller: &Caller, out_trade_no: &str) -> Result<Option<Value>, PayError> {
        let req = QueryRequest {
            where_: orders::by_no(out_trade_no),
            limit: json!(1),
            ..Default::default()
        };
        let docs = self
            .inner
            .db
            .query(caller, ORDERS, &req)
            .await
            .map_err(|e| match e {
                DbError::PermissionDenied(_) => {
                    PayError::NotFound(format!("no order {out_trade_no}"))
                }
                other => db_err(other),
            })?;
        Ok(docs.into_iter().next())
    }

    async fn find_system(&self, out_trade_no: &str) -> Result<Option<Value>, PayError> {
        self.find(&Caller::System, out_trade_no).await
    }

    async fn update(&self, (where_, update): (Value, Value)) -> Result<u64, PayError> {
        self.inner
            .db
            .update_where(&Caller::System, ORDERS, &where_, &update)
            .await
            .map_err(db_err)
    }

    // ---- orders ------------------------------------------------------------------------------

    /// Creates an order: JSAPI prepay at WeChat Pay, then the `_pay_orders` document, then the
    /// `wx.requestPayment` parameters. Creating the same purchase again under the same
    /// `out_trade_no` answers the same order (safe retries); another purchase under a used
    /// number is a conflict.
    pub async fn create_order(&self, req: CreateOrder) -> Result<CreatedOrder, PayError> {
        let out_trade_no = req
            .out_trade_no
            .clone()
            .unwrap_or_else(mb_core::ids::new_doc_id);
        if req.out_trade_no.is_some() {
            if let Some(doc) = self.find_system(&out_trade_no).await? {
                return self.existing_order(doc, &req).await;
            }
        }
        let client = &self.inner.client;
        let prepay_id = client
            .jsapi_prepay(&JsapiOrder {
                description: req.description.clone(),
                out_trade_no: out_trade_no.clone(),
                total: req.total,
                openid: req.openid.clone(),
                attach: req.attach.clone(),
                time_expire: req.time_expire.clone(),
            })
            .await?;
        let doc = orders::new_order_doc(
            &req,
            &out_trade_no,
            client.appid(),
            client.mchid(),
            &prepay_id,
            now_ms(),
            self.reconcile_after_ms(),
        );
        match self.inner.db.create(&Caller::System, ORDERS, doc).await {
            Ok(_) => {}
            Err(DbError::Conflict(_)) => {
                // a concurrent create of the same number won
                let doc = self.find_system(&out_trade_no).await?.ok_or_else(|| {
                    PayError::Internal("order vanished after a create conflict".into())
                })?;
                return self.existing_order(doc, &req).await;
            }
            Err(e) => return Err(db_err(e)),
        }
        let payment = client.request_payment(&prepay_id).await?;
        Ok(CreatedOrder {
            out_trade_no,
            prepay_id,
            payment,
        })
    }

    async fn existing_order(
        &self,
        doc: Value,
        req: &CreateOrder,
    ) -> Result<CreatedOrder, PayError> {
        if !orders::same_purchase(&doc, req) {
            let no = str_of(&doc, "out_trade_no");
            return Err(PayError::Conflict(format!(
                "out_trade_no {no} is already used by another order"
            )));
        }
        self.payable(doc).await
    }

    /// The `wx.requestPayment` parameters of an order that can still be paid (unpaid, not
    /// closed, not expired), freshly signed over its stored `prepay_id`.
    async fn payable(&self, doc: Value) -> Result<CreatedOrder, PayError> {
        let no = str_of(&doc, "out_trade_no").to_string();
        match state_of(&doc) {
            Some(OrderState::NotPay | OrderState::PayError) => {}
            Some(OrderState::Success | OrderState::Refund) => {
                return Err(PayError::Conflict(format!("order {no} is already paid")));
            }
            _ => {
                return Err(PayError::Conflict(format!(
                    "order {no} is closed; create a new order number"
                )));
            }
        }
        if orders::as_date(doc.get("expire_at")).is_some_and(|t| t <= now_ms()) {
            return Err(PayError::Conflict(format!(
                "order {no} has expired; create a new order number"
            )));
        }
        let prepay_id = str_of(&doc, "prepay_id").to_string();
        let payment = self.inner.client.request_payment(&prepay_id).await?;
        Ok(CreatedOrder {
            out_trade_no: no,
            prepay_id,
            payment,
        })
    }

    /// The payment parameters of an order as `caller` sees it: its payer (the client SDK's
    /// `requestPayment({orderId})`) or a service caller. `NotFound` for anybody else's order.
    pub async fn payment(
        &self,
        caller: &Caller,
        out_trade_no: &str,
    ) -> Result<CreatedOrder, PayError> {
        crate::model::validate_out_trade_no(out_trade_no).map_err(PayError::Invalid)?;
        let doc = self
            .find(caller, out_trade_no)
            .await?
            .ok_or_else(|| PayError::NotFound(format!("no order {out_trade_no}")))?;
        self.payable(doc).await
    }

    /// Reads an order as `caller` sees it (a payer only their own; `NotFound` otherwise).
    /// With `sync`, an unpaid order is first checked with WeChat Pay.
    pub async fn get_order(
        &self,
        caller: &Caller,
        out_trade_no: &str,
        sync: bool,
    ) -> Result<Value, PayError> {
        crate::model::validate_out_trade_no(out_trade_no).map_err(PayError::Invalid)?;
        let not_found = || PayError::NotFound(format!("no order {out_trade_no}"));
        let doc = self
            .find(caller, out_trade_no)
            .await?
            .ok_or_else(not_found)?;
        if sync
            && matches!(
                state_of(&doc),
                Some(OrderState::NotPay | OrderState::PayError)
            )
        {
            self.sync_order(&doc).await?;
            return self.find(caller, out_trade_no).await?.ok_or_else(not_found);
        }
        Ok(doc)
    }

    /// Closes an unpaid order at WeChat Pay, then locally. Closing a closed order is fine;
    /// closing a paid one is a conflict (refund it instead).
    pub async fn close_order(&self, out_trade_no: &str) -> Result<Value, PayError> {
        crate::model::validate_out_trade_no(out_trade_no).map_err(PayError::Invalid)?;
        let doc = self
            .find_system(out_trade_no)
            .await?
            .ok_or_else(|| PayError::NotFound(format!("no order {out_trade_no}")))?;
        match state_of(&doc) {
            Some(OrderState::Closed) => return Ok(doc),
            Some(s) if s.is_paid() => {
                return Err(PayError::Conflict(format!(
                    "order {out_trade_no} is paid; refund it instead of closing"
                )));
            }
            _ => {}
        }
        match self.inner.client.close_order(out_trade_no).await {
            Ok(()) => {
                if self
                    .update(orders::closed_transition(out_trade_no, now_ms()))
                    .await?
                    == 1
                {
                    self.emit(PayEventKind::Closed, out_trade_no, None);
                }
            }
            Err(e) if e.upstream_code() == Some("ORDERPAID") => {
                self.sync_order(&doc).await?;
                return Err(PayError::Conflict(format!(
                    "order {out_trade_no} was paid meanwhile; refund it instead"
                )));
            }
            Err(e) => return Err(e),
        }
        let doc = self
            .find_system(out_trade_no)
            .await?
            .ok_or_else(|| PayError::NotFound(format!("no order {out_trade_no}")))?;
        if state_of(&doc).is_some_and(OrderState::is_paid) {
            return Err(PayError::Conflict(format!(
                "order {out_trade_no} was paid meanwhile; refund it instead"
            )));
        }
        Ok(doc)
    }

    // ---- functions ---------------------------------------------------------------------------

    /// `cloud.pay.<method>(args)` for functions: the bodies and answers of the HTTP API, as a
    /// service caller. `createOrder` (body of `POST …/orders`, answers
    /// `{out_trade_no, prepay_id, payment}`), `queryOrder` (`{out_trade_no, sync?}` →
    /// `{data}`), `closeOrder` (`{out_trade_no}` → `{data}`), `refund` (body of
    /// `POST …/refunds`, answers `{out_trade_no, out_refund_no, refund_id, status, refund}`).
    pub async fn call_method(&self, method: &str, args: &Value) -> Result<Value, PayError> {
        let no = || -> Result<String, PayError> {
            args.get("out_trade_no")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| PayError::Invalid("out_trade_no is required".into()))
        };
        match method {
            "createOrder" => {
                let created = self
                    .create_order(CreateOrder::from_json(args, now_ms())?)
                    .await?;
                to_json(&created)
            }
            "queryOrder" => {
                let sync = args.get("sync").and_then(Value::as_bool).unwrap_or(false);
                Ok(json!({ "data": self.get_order(&Caller::Service, &no()?, sync).await? }))
            }
            "closeOrder" => Ok(json!({ "data": self.close_order(&no()?).await? })),
            "refund" => {
                let outcome = self.refund(CreateRefund::from_json(args)?).await?;
                to_json(&outcome)
            }
            other => Err(PayError::Invalid(format!(
                "unknown method cloud.pay.{other} (available: createOrder, queryOrder, closeOrder, refund)"
            ))),
        }
    }

    // ---- refunds -----------------------------------------------------------------------------

    /// Refunds part or all of a paid order. The amount is reserved on the order document by a
    /// conditional update first, so concurrent refunds never exceed what was paid; a refund
    /// WeChat Pay refuses releases its reservation. Asking again with the same
    /// `out_refund_no` answers (and if needed re-submits) the same refund.
    pub async fn refund(&self, req: CreateRefund) -> Result<RefundOutcome, PayError> {
        let no = &req.out_trade_no;
        let doc = self
            .find_system(no)
            .await?
            .ok_or_else(|| PayError::NotFound(format!("no order {no}")))?;
        if !state_of(&doc).is_some_and(OrderState::is_paid) {
            return Err(PayError::Conflict(format!(
                "order {no} is not paid ({})",
                str_of(&doc, "state")
            )));
        }
        let total = doc
            .pointer("/amount/total")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let out_refund_no = req
            .out_refund_no
            .clone()
            .unwrap_or_else(|| format!("R{}", mb_core::ids::new_doc_id()));
        if req.out_refund_no.is_some() {
            if let Some(existing) = doc.pointer(&format!("/refunds/{out_refund_no}")) {
                return self
                    .existing_refund(no, &out_refund_no, total, existing, &req)
                    .await;
            }
        }
        let reserved = self
            .update(orders::reserve_refund(
                &req,
                &out_refund_no,
                now_ms(),
                self.reconcile_after_ms(),
            ))
            .await?;
        if reserved == 0 {
            let doc = self
                .find_system(no)
                .await?
                .ok_or_else(|| PayError::NotFound(format!("no order {no}")))?;
            if let Some(existing) = doc.pointer(&format!("/refunds/{out_refund_no}")) {
                return self
                    .existing_refund(no, &out_refund_no, total, existing, &req)
                    .await;
            }
            let left = doc.get("refundable").and_then(Value::as_i64).unwrap_or(0);
            return Err(PayError::Conflict(format!(
                "refund of {} fen exceeds what order {no} can still refund ({left} fen)",
                req.refund
            )));
        }
        self.submit_refund(no, &out_refund_no, req.refund, total, req.reason.clone())
            .await
    }

    async fn existing_refund(
        &self,
        no: &str,
        out_refund_no: &str,
        total: i64,
        rec: &Value,
        req: &CreateRefund,
    ) -> Result<RefundOutcome, PayError> {
        let amount = rec.get("amount").and_then(Value::as_i64).unwrap_or(0);
        if amount != req.refund {
            return Err(PayError::Conflict(format!(
                "out_refund_no {out_refund_no} is already used for {amount} fen"
            )));
        }
        let status = str_of(rec, "status");
        if status == refund_status::PENDING {
            let reason = rec
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_string);
            return self
                .submit_refund(no, out_refund_no, amount, total, reason)
                .await;
        }
        Ok(RefundOutcome {
            out_trade_no: no.to_string(),
            out_refund_no: out_refund_no.to_string(),
            refund_id: str_of(rec, "refund_id").to_string(),
            status: status.to_string(),
            refund: amount,
        })
    }

    /// Sends a reserved (PENDING) refund to WeChat Pay and records its answer.
    async fn submit_refund(
        &self,
        no: &str,
        out_refund_no: &str,
        amount: i64,
        total: i64,
        reason: Option<String>,
    ) -> Result<RefundOutcome, PayError> {
        let req = RefundRequest {
            out_trade_no: no.into(),
            out_refund_no: out_refund_no.into(),
            refund: amount,
            total,
            reason,
        };
        match self.inner.client.refund(&req).await {
            Ok(r) => {
                self.apply_refund_status(no, out_refund_no, amount, &r)
                    .await?;
                let status = if r.status.is_empty() {
                    refund_status::PROCESSING.to_string()
                } else {
                    r.status.clone()
                };
                Ok(RefundOutcome {
                    out_trade_no: no.into(),
                    out_refund_no: out_refund_no.into(),
                    refund_id: r.refund_id,
                    status,
                    refund: amount,
                })
            }
            Err(e) if matches!(e, PayError::Upstream { .. }) && !e.is_transient() => {
                // refused outright: nothing was refunded, release the reservation
                self.update(orders::refund_failed(
                    no,
                    out_refund_no,
                    amount,
                    &e.to_string(),
                    now_ms(),
                ))
                .await?;
                Err(e)
            }
            // unknown outcome (timeout, 5xx): recorded as PENDING, the reconciler re-submits it
            // (WeChat Pay refunds are idempotent per out_refund_no)
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, out_trade_no = no, out_refund_no, "refund not confirmed by wechat pay yet; will retry");
                Ok(RefundOutcome {
                    out_trade_no: no.into(),
                    out_refund_no: out_refund_no.into(),
                    refund_id: String::new(),
                    status: refund_status::PENDING.into(),
                    refund: amount,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn apply_refund_status(
        &self,
        no: &str,
        out_refund_no: &str,
        amount: i64,
        r: &Refund,
    ) -> Result<bool, PayError> {
        let Some(t) = orders::refund_transition(no, out_refund_no, amount, r, now_ms()) else {
            return Ok(false);
        };
        let moved = self.update(t).await? == 1;
        if moved {
            match r.status.as_str() {
                "SUCCESS" => self.emit(PayEventKind::Refunded, no, Some(out_refund_no)),
                "CLOSED" | "ABNORMAL" => {
                    self.emit(PayEventKind::RefundFailed, no, Some(out_refund_no))
                }
                _ => {}
            }
        }
        Ok(moved)
    }

    // ---- notifications -----------------------------------------------------------------------

    /// Handles a notification's raw headers and body: verified before anything parses it,
    /// decrypted, then applied once. `Ok` = acknowledge (204), also for genuine
    /// notifications that disagree with our order (recorded in `_pay_anomalies`, never
    /// applied) or that we have already applied.
    pub async fn handle_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), NotifyRejection> {
        let n = self
            .inner
            .client
            .parse_notification(headers, body)
            .await
            .map_err(|e| {
                let status = match &e {
                    PayError::Verification(_) => 401,
                    PayError::BadMessage(_) => 400,
                    _ => 500,
                };
                tracing::warn!(error = %e, status, "wechat pay notification refused");
                NotifyRejection {
                    status,
                    message: e.to_string(),
                }
            })?;
        let applied = match &n.resource {
            NotificationResource::Transaction(t) if n.event_type == "TRANSACTION.SUCCESS" => {
                self.apply_transaction(t, "notify", Some(&n.id)).await
            }
            NotificationResource::Transaction(_) => Ok(()),
            NotificationResource::Refund(r) => self.apply_refund_notice(r, Some(&n.id)).await,
        };
        applied.map_err(|e| {
            tracing::error!(error = %e, notification = %n.id, "wechat pay notification not applied; WeChat Pay will retry");
            NotifyRejection { status: 500, message: "temporarily unable to process the notification".into() }
        })
    }

    /// Applies a genuine transaction (from a notification or a query) to its order.
    async fn apply_transaction(
        &self,
        t: &Transaction,
        source: &str,
        notification: Option<&str>,
    ) -> Result<(), PayError> {
        let Some(doc) = self.find_system(&t.out_trade_no).await? else {
            return self
                .anomaly(
                    "unknown_order",
                    &t.out_trade_no,
                    None,
                    source,
                    notification,
                    json!({ "transaction": t }),
                )
                .await;
        };
        match t.trade_state.as_str() {
            "SUCCESS" | "REFUND" => {
                let client = &self.inner.client;
                if let Some(diff) =
                    orders::transaction_mismatch(&doc, t, client.appid(), client.mchid())
                {
                    return self
                        .anomaly(
                            "mismatch",
                            &t.out_trade_no,
                            None,
                            source,
                            notification,
                            json!({ "differences": diff, "transaction": t }),
                        )
                        .await;
                }
                let total = doc
                    .pointer("/amount/total")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                if self
                    .update(orders::paid_transition(&t.out_trade_no, total, t, now_ms()))
                    .await?
                    == 1
                {
                    tracing::info!(out_trade_no = %t.out_trade_no, source, "wechat pay order paid");
                    self.emit(PayEventKind::Paid, &t.out_trade_no, None);
                }
            }
            "CLOSED" | "REVOKED" => {
                let moved = self
                    .update(orders::closed_transition(&t.out_trade_no, now_ms()))
                    .await?;
                if moved == 1 {
                    self.emit(PayEventKind::Closed, &t.out_trade_no, None);
                }
            }
            "PAYERROR" => {
                self.update(orders::payerror_transition(
                    &t.out_trade_no,
                    t.trade_state_desc.as_deref(),
                    now_ms(),
                ))
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn apply_refund_notice(
        &self,
        r: &Refund,
        notification: Option<&str>,
    ) -> Result<(), PayError> {
        let Some(doc) = self.find_system(&r.out_trade_no).await? else {
            return self
                .anomaly(
                    "unknown_order",
                    &r.out_trade_no,
                    Some(&r.out_refund_no),
                    "refund-notify",
                    notification,
                    json!({ "refund": r }),
                )
                .await;
        };
        let Some(rec) = doc
            .pointer(&format!("/refunds/{}", r.out_refund_no))
            .filter(|_| !r.out_refund_no.is_empty())
        else {
            return self
                .anomaly(
                    "unknown_refund",
                    &r.out_trade_no,
                    Some(&r.out_refund_no),
                    "refund-notify",
                    notification,
                    json!({ "refund": r }),
                )
                .await;
        };
        let amount = rec.get("amount").and_then(Value::as_i64).unwrap_or(0);
        let mchid_ok = r
            .mchid
            .as_deref()
            .is_none_or(|m| m == self.inner.client.mchid());
        if r.amount.refund != amount || !mchid_ok {
            let diff = json!([
                { "field": "amount.refund", "expected": amount, "received": r.amount.refund },
                { "field": "mchid", "expected": self.inner.client.mchid(), "received": r.mchid },
            ]);
            return self
                .anomaly(
                    "mismatch",
                    &r.out_trade_no,
                    Some(&r.out_refund_no),
                    "refund-notify",
                    notification,
                    json!({ "differences": diff, "refund": r }),
                )
                .await;
        }
        self.apply_refund_status(&r.out_trade_no, &r.out_refund_no, amount, r)
            .await
            .map(|_| ())
    }

    /// Records a genuine message that disagrees with our data, once per distinct content.
    async fn anomaly(
        &self,
        kind: &str,
        out_trade_no: &str,
        out_refund_no: Option<&str>,
        source: &str,
        notification: Option<&str>,
        detail: Value,
    ) -> Result<(), PayError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(
            format!("{kind}\n{out_trade_no}\n{out_refund_no:?}\n{detail}").as_bytes(),
        );
        let id: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        tracing::error!(
            kind,
            out_trade_no,
            ?out_refund_no,
            source,
            "wechat pay anomaly: a genuine message disagrees with our order; not applied"
        );
        let doc = json!({
            "_id": id,
            "kind": kind,
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "source": source,
            "notification_id": notification,
            "detail": detail,
            "created_at": date(now_ms()),
        });
        match self.inner.db.create(&Caller::System, ANOMALIES, doc).await {
            Ok(_) | Err(DbError::Conflict(_)) => Ok(()),
            Err(e) => Err(db_err(e)),
        }
    }

    fn emit(&self, kind: PayEventKind, out_trade_no: &str, out_refund_no: Option<&str>) {
        let Some(sink) = self.inner.sink.read().clone() else {
            return;
        };
        let this = self.clone();
        let (no, rno) = (out_trade_no.to_string(), out_refund_no.map(str::to_string));
        tokio::spawn(async move {
            match this.find_system(&no).await {
                Ok(Some(order)) => {
                    sink.on_event(PayEvent {
                        kind,
                        out_trade_no: no,
                        out_refund_no: rno,
                        order,
                    })
                    .await
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "pay event not delivered"),
            }
        });
    }

    // ---- reconciliation ----------------------------------------------------------------------

    /// Asks WeChat Pay about one unpaid order and applies the answer.
    async fn sync_order(&self, doc: &Value) -> Result<(), PayError> {
        let no = str_of(doc, "out_trade_no");
        match self.inner.client.query_order(no).await {
            Ok(t) => {
                if t.out_trade_no != no {
                    return Err(PayError::BadMessage(
                        "the order query answered another order".into(),
                    ));
                }
                self.apply_transaction(&t, "query", None).await
            }
            Err(e) => Err(e),
        }
    }

    fn lease_ms(&self, attempts: i64) -> i64 {
        let base = self.reconcile_after_ms().max(100);
        let factor = 1i64 << attempts.clamp(0, 12);
        base.saturating_mul(factor).min(30 * 60 * 1000)
    }

    /// One reconciliation pass: every order whose `reconcile_at` has come (unpaid orders
    /// `reconcile_after` after creation, orders with refunds in flight) is claimed by a
    /// conditional update (so many instances can run this at once), then checked with
    /// WeChat Pay: paid orders become SUCCESS, closed ones CLOSED, expired unpaid ones are
    /// closed, refunds are queried (and re-submitted when WeChat Pay never got them).
    /// Returns how many orders were visited.
    pub async fn reconcile_due(&self) -> Result<usize, PayError> {
        let now = now_ms();
        let req = QueryRequest {
            where_: json!({ "reconcile_at": { "$lte": date(now) } }),
            order_by: json!([["reconcile_at", "asc"]]),
            limit: json!(50),
            ..Default::default()
        };
        let due = self
            .inner
            .db
            .query(&Caller::System, ORDERS, &req)
            .await
            .map_err(db_err)?;
        let mut visited = 0;
        for doc in due {
            let id = str_of(&doc, "_id").to_string();
            let Some(at) = doc.get("reconcile_at").cloned() else {
                continue;
            };
            let attempts = doc
                .get("reconcile_attempts")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let lease = date(now_ms() + self.lease_ms(attempts));
            let claim = self
                .inner
                .db
                .update_where(
                    &Caller::System,
                    ORDERS,
                    &json!({ "_id": id, "reconcile_at": { "$eq": at } }),
                    &json!({ "reconcile_at": lease, "reconcile_attempts": { "$inc": 1 } }),
                )
                .await
                .map_err(db_err)?;
            if claim != 1 {
                continue; // another instance (or a notification) got there first
            }
            visited += 1;
            if let Err(e) = self.reconcile_order(&doc).await {
                tracing::warn!(error = %e, out_trade_no = %str_of(&doc, "out_trade_no"), "wechat pay reconciliation failed; will retry");
                continue;
            }
            // nothing left to wait for: stop visiting (unless something changed meanwhile)
            if let Some(fresh) = self.find_system(str_of(&doc, "out_trade_no")).await? {
                let final_state = matches!(
                    state_of(&fresh),
                    Some(OrderState::Success | OrderState::Refund | OrderState::Closed)
                );
                if final_state && orders::refunds_in_flight(&fresh).is_empty() {
                    self.inner
                        .db
                        .update_where(
                            &Caller::System,
                            ORDERS,
                            &json!({ "_id": id, "reconcile_at": { "$eq": lease } }),
                            &json!({ "reconcile_at": { "$remove": true } }),
                        )
                        .await
                        .map_err(db_err)?;
                }
            }
        }
        Ok(visited)
    }

    async fn reconcile_order(&self, doc: &Value) -> Result<(), PayError> {
        let no = str_of(doc, "out_trade_no").to_string();
        if matches!(
            state_of(doc),
            Some(OrderState::NotPay | OrderState::PayError)
        ) {
            match self.inner.client.query_order(&no).await {
                Ok(t) => self.apply_transaction(&t, "reconcile", None).await?,
                Err(e) if e.upstream_code() == Some("ORDER_NOT_EXIST") => {
                    tracing::warn!(out_trade_no = %no, "wechat pay does not know this order");
                }
                Err(e) => return Err(e),
            }
            let fresh = self.find_system(&no).await?.unwrap_or_else(|| doc.clone());
            let expired =
                orders::as_date(fresh.get("expire_at")).is_some_and(|t| t + 60_000 <= now_ms());
            if expired
                && matches!(
                    state_of(&fresh),
                    Some(OrderState::NotPay | OrderState::PayError)
                )
            {
                match self.inner.client.close_order(&no).await {
                    Ok(()) => {
                        if self
                            .update(orders::closed_transition(&no, now_ms()))
                            .await?
                            == 1
                        {
                            tracing::info!(out_trade_no = %no, "expired unpaid order closed");
                            self.emit(PayEventKind::Closed, &no, None);
                        }
                    }
                    Err(e) if e.upstream_code() == Some("ORDERPAID") => {
                        self.sync_order(&fresh).await?
                    }
                    Err(e) if e.upstream_code() == Some("ORDER_NOT_EXIST") => {
                        self.update(orders::closed_transition(&no, now_ms()))
                            .await?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let total = doc
            .pointer("/amount/total")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        for (rno, amount, status) in orders::refunds_in_flight(doc) {
            match self.inner.client.query_refund(&rno).await {
                Ok(r) => {
                    self.apply_refund_status(&no, &rno, amount, &r).await?;
                }
                Err(e)
                    if e.upstream_code() == Some("RESOURCE_NOT_EXISTS")
                        && status == refund_status::PENDING =>
                {
                    let reason = doc
                        .pointer(&format!("/refunds/{rno}/reason"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    match self.submit_refund(&no, &rno, amount, total, reason).await {
                        Ok(_) => {}
                        Err(e) if !e.is_transient() => {} // recorded as FAILED by submit_refund
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs [`PayService::reconcile_due`] in the background every few seconds (a fraction of
    /// `reconcile_after`, at most 30 s). Stops when every clone of the service is dropped.
    pub fn spawn_reconciler(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let tick = (self.inner.reconcile_after / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                let Some(inner) = weak.upgrade() else { return };
                let service = PayService { inner };
                if let Err(e) = service.reconcile_due().await {
                    tracing::warn!(error = %e, "wechat pay reconciliation pass failed");
                }
            }
        })
    }
}
