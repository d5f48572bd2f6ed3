//! The payment service over a real docdb (SQLite in a temp dir) and the fake WeChat Pay
//! server, with a minimal HTTP receiver standing in for the notify route: orders moved once
//! under duplicate notifications, anomalies, refunds under concurrency, reconciliation of
//! lost notifications and of refunds whose answer was lost, and restarts.

#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use mb_core::Caller;
use minibase_pay::orders::{CreateOrder, CreateRefund};
use minibase_pay::service::{PayEvent, PayEventKind, PayEventSink, PayService};
use minibase_pay::{PayError, PayOptions, WechatPayClient};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::fake_pay::{FakeWechatPay, NotifyOptions, SignMode, Tamper};

#[derive(Default)]
struct Events(Mutex<Vec<PayEvent>>);

#[async_trait::async_trait]
impl PayEventSink for Events {
    async fn on_event(&self, event: PayEvent) {
        self.0.lock().push(event);
    }
}

struct Setup {
    fake: FakeWechatPay,
    svc: PayService,
    db: docdb::Database,
    events: Arc<Events>,
    dir: tempfile::TempDir,
    _rx: tokio::task::JoinHandle<()>,
}

async fn open_service(
    fake: &FakeWechatPay,
    dir: &std::path::Path,
    reconcile_after: Duration,
) -> (PayService, docdb::Database, String) {
    let mut cfg = config::Config::default();
    fake.configure(
        &mut cfg,
        &dir.join("keys"),
        "https://merchant.example.com/api/pay/wechat/notify",
    );
    let client = WechatPayClient::new(PayOptions::from_config(&cfg).unwrap().unwrap()).unwrap();
    let db = docdb::Database::open(
        &format!("sqlite://{}/data.db", dir.display()),
        docdb::DbOptions::from_config(&cfg),
    )
    .unwrap();
    let svc = PayService::new(client, db.clone(), reconcile_after)
        .await
        .unwrap();
    (svc, db, cfg.wechat_pay.notify_url)
}

async fn receiver(svc: PayService) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/api/pay/wechat/{kind}",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let svc = svc.clone();
            async move {
                match svc.handle_notification(&headers, &body).await {
                    Ok(()) => StatusCode::NO_CONTENT.into_response(),
                    Err(r) => (
                        StatusCode::from_u16(r.status).unwrap(),
                        axum::Json(json!({"code": "FAIL", "message": r.message})),
                    )
                        .into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (
        url,
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }),
    )
}
use axum::response::IntoResponse;

async fn setup(mode: SignMode, reconcile_after: Duration) -> Setup {
    let fake = FakeWechatPay::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let (svc, db, _) = open_service(&fake, dir.path(), reconcile_after).await;
    let events = Arc::new(Events::default());
    svc.set_event_sink(events.clone());
    let (url, rx) = receiver(svc.clone()).await;
    fake.redirect_notifications_to(&url);
    Setup {
        fake,
        svc,
        db,
        events,
        dir,
        _rx: rx,
    }
}

fn order_req(total: i64, no: Option<&str>) -> CreateOrder {
    let mut v =
        json!({"description": "会员月卡", "amount": {"total": total}, "openid": "o-payer-1"});
    if let Some(no) = no {
        v["out_trade_no"] = json!(no);
    }
    CreateOrder::from_json(&v, mb_core::now_ms()).unwrap()
}

async fn order(s: &Setup, no: &str) -> Value {
    s.svc.get_order(&Caller::Service, no, false).await.unwrap()
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let t0 = Instant::now();
    while !f().await {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn paid_once_under_50_duplicate_notifications() {
    let s = setup(SignMode::PublicKey, Duration::from_secs(300)).await;
    let created = s.svc.create_order(order_req(990, None)).await.unwrap();
    assert_eq!(created.out_trade_no.len(), 32);
    let doc = order(&s, &created.out_trade_no).await;
    assert_eq!(doc["state"], "NOTPAY");
    assert_eq!(doc["amount"]["total"], 990);
    assert_eq!(doc["prepay_id"], created.prepay_id.as_str());
    assert_eq!(doc["refunded"], 0);

    // the payer pays, but the first notification is lost
    s.fake.set_drop_notifications(true);
    s.fake.pay(&created.out_trade_no).await;
    let mut changes = s.db.subscribe();
    // then 50 copies arrive at the same moment
    let d = s
        .fake
        .notify_payment(&created.out_trade_no, NotifyOptions::duplicates(50))
        .await;
    assert_eq!(d.len(), 50);
    assert!(
        d.iter().all(|d| d.status == 204),
        "{:?}",
        d.iter().find(|d| d.status != 204)
    );
    let doc = order(&s, &created.out_trade_no).await;
    assert_eq!(doc["state"], "SUCCESS");
    assert!(doc["transaction_id"].as_str().unwrap().starts_with("42000"));
    assert!(doc["paid_at"]["$date"].as_i64().is_some());
    assert_eq!(doc["refundable"], 990);
    assert!(doc.get("reconcile_at").is_none());
    wait_for("the paid event", async || !s.events.0.lock().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = s.events.0.lock().clone();
    assert_eq!(events.len(), 1, "moved exactly once: {events:?}");
    assert_eq!(events[0].kind, PayEventKind::Paid);
    // and the change went through the normal write path: exactly one change event
    let mut n = 0;
    while let Ok(Some(ev)) = changes.try_recv() {
        if ev.collection == "_pay_orders" {
            n += 1;
        }
    }
    assert_eq!(n, 1);
}

#[tokio::test]
async fn forged_and_anomalous_notifications_change_nothing() {
    let s = setup(SignMode::PlatformCert, Duration::from_secs(300)).await;
    let c = s
        .svc
        .create_order(order_req(500, Some("A000001")))
        .await
        .unwrap();
    s.fake.set_drop_notifications(true);
    s.fake.pay(&c.out_trade_no).await;
    let before = order(&s, "A000001").await;
    for (t, status) in [
        (Tamper::ForgedSignature, 401),
        (Tamper::StaleTimestamp, 401),
        (Tamper::SignTest, 401),
        (Tamper::TamperedBody, 401),
        (Tamper::Unsigned, 401),
        (Tamper::UnknownSerial, 401),
        (Tamper::WrongApiV3Key, 400),
    ] {
        let d = s
            .fake
            .notify_payment("A000001", NotifyOptions::tampered(t.clone()))
            .await;
        assert_eq!(d[0].status, status, "{t:?}");
        let body: Value = serde_json::from_str(&d[0].body).unwrap();
        assert_eq!(body["code"], "FAIL");
    }
    assert_eq!(order(&s, "A000001").await, before);
    // genuine but disagreeing: acknowledged, recorded, never paid
    for t in [
        Tamper::WrongAmount(1),
        Tamper::WrongAppid,
        Tamper::WrongMchid,
    ] {
        let d = s
            .fake
            .notify_payment("A000001", NotifyOptions::tampered(t))
            .await;
        assert_eq!(d[0].status, 204);
    }
    // duplicates of an anomaly are recorded once
    s.fake
        .notify_payment("A000001", NotifyOptions::tampered(Tamper::WrongAmount(1)))
        .await;
    assert_eq!(order(&s, "A000001").await["state"], "NOTPAY");
    let anomalies =
        s.db.query(
            &Caller::Service,
            "_pay_anomalies",
            &docdb::QueryRequest {
                where_: json!({"out_trade_no": "A000001"}),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(anomalies.len(), 3, "{anomalies:#?}");
    assert!(anomalies.iter().any(|a| a["detail"]["differences"][0]
        == json!({"field": "amount.total", "expected": 500, "received": 1})));
    // the genuine one still works afterwards
    assert_eq!(
        s.fake
            .notify_payment("A000001", NotifyOptions::default())
            .await[0]
            .status,
        204
    );
    assert_eq!(order(&s, "A000001").await["state"], "SUCCESS");
}

#[tokio::test]
async fn create_is_idempotent_per_purchase() {
    let s = setup(SignMode::PublicKey, Duration::from_secs(300)).await;
    let a = s
        .svc
        .create_order(order_req(100, Some("I000001")))
        .await
        .unwrap();
    let b = s
        .svc
        .create_order(order_req(100, Some("I000001")))
        .await
        .unwrap();
    assert_eq!(a.prepay_id, b.prepay_id);
    let e = s
        .svc
        .create_order(order_req(200, Some("I000001")))
        .await
        .unwrap_err();
    assert!(matches!(e, PayError::Conflict(_)), "{e}");
    // concurrent creates of one number: one document
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let svc = s.svc.clone();
        set.spawn(async move { svc.create_order(order_req(300, Some("I000002"))).await });
    }
    let mut ids = Vec::new();
    while let Some(r) = set.join_next().await {
        ids.push(r.unwrap().unwrap().prepay_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let n =
        s.db.count(
            &Caller::Service,
            "_pay_orders",
            &json!({"out_trade_no": "I000002"}),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    s.fake.pay("I000001").await;
    let e = s
        .svc
        .create_order(order_req(100, Some("I000001")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PayError::Conflict(m) if m.contains("paid")),
        "{e}"
    );
}

#[tokio::test]
async fn close_then_user_cannot_pay_and_payer_rule() {
    let s = setup(SignMode::PublicKey, Duration::from_secs(300)).await;
    s.svc
        .create_order(order_req(100, Some("C000001")))
        .await
        .unwrap();
    let doc = s.svc.close_order("C000001").await.unwrap();
    assert_eq!(doc["state"], "CLOSED");
    assert_eq!(
        s.svc.close_order("C000001").await.unwrap()["state"],
        "CLOSED"
    );
    assert_eq!(s.fake.order("C000001").unwrap()["trade_state"], "CLOSED");
    // paid orders cannot be closed
    s.svc
        .create_order(order_req(100, Some("C000002")))
        .await
        .unwrap();
    s.fake.pay("C000002").await;
    assert!(matches!(
        s.svc.close_order("C000002").await,
        Err(PayError::Conflict(_))
    ));
    // the payer reads their order through the default rule; others do not see it
    let payer = Caller::User(mb_core::UserIdentity {
        uid: "u1".into(),
        openid: "o-payer-1".into(),
        unionid: None,
        platform: "wechat".into(),
        session_id: "s".into(),
    });
    let other = Caller::User(mb_core::UserIdentity {
        openid: "o-someone-else".into(),
        ..match &payer {
            Caller::User(u) => u.clone(),
            _ => unreachable!(),
        }
    });
    assert_eq!(
        s.svc.get_order(&payer, "C000002", false).await.unwrap()["state"],
        "SUCCESS"
    );
    assert!(matches!(
        s.svc.get_order(&other, "C000002", false).await,
        Err(PayError::NotFound(_))
    ));
    assert!(matches!(
        s.svc.get_order(&Caller::Anonymous, "C000002", false).await,
        Err(PayError::NotFound(_))
    ));
    let mine =
        s.db.query(&payer, "_pay_orders", &docdb::QueryRequest::default())
            .await
            .unwrap();
    assert_eq!(mine.len(), 2);
    assert!(
        s.db.query(&other, "_pay_orders", &docdb::QueryRequest::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn refunds_never_exceed_what_was_paid() {
    let s = setup(SignMode::Mixed, Duration::from_secs(300)).await;
    s.fake.set_manual_refunds(true);
    s.svc
        .create_order(order_req(100, Some("F000001")))
        .await
        .unwrap();
    // not paid: nothing to refund
    let e = s
        .svc
        .refund(CreateRefund::from_json(&json!({"out_trade_no": "F000001", "refund": 1})).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PayError::Conflict(m) if m.contains("not paid")),
        "{e}"
    );
    s.fake.pay("F000001").await;
    // ten concurrent refunds of 30 fen on a 100-fen order: three succeed
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let svc = s.svc.clone();
        set.spawn(async move {
            svc.refund(
                CreateRefund::from_json(&json!({"out_trade_no": "F000001", "refund": 30})).unwrap(),
            )
            .await
        });
    }
    let mut ok = Vec::new();
    let mut refused = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(o) => ok.push(o),
            Err(PayError::Conflict(m)) => {
                assert!(m.contains("exceeds"), "{m}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok.len(), refused), (3, 7));
    assert!(
        ok.iter()
            .all(|o| o.status == "PROCESSING" && !o.refund_id.is_empty())
    );
    let doc = order(&s, "F000001").await;
    assert_eq!(doc["refundable"], 10);
    assert_eq!(doc["refunded"], 0);
    assert_eq!(doc["state"], "SUCCESS");
    // the refunds complete; their notifications move the money once each
    for o in &ok {
        s.fake.complete_refund(&o.out_refund_no).await;
        s.fake
            .notify_refund(&o.out_refund_no, NotifyOptions::duplicates(5))
            .await;
    }
    let doc = order(&s, "F000001").await;
    assert_eq!(doc["refunded"], 90);
    assert_eq!(doc["state"], "REFUND");
    assert_eq!(
        doc["refunds"][ok[0].out_refund_no.as_str()]["status"],
        "SUCCESS"
    );
    // the rest, exactly; then nothing more
    let last = s
        .svc
        .refund(
            CreateRefund::from_json(
                &json!({"out_trade_no": "F000001", "refund": 10, "out_refund_no": "LAST-1"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(last.refund, 10);
    // asking again with the same number is the same refund
    let again = s
        .svc
        .refund(
            CreateRefund::from_json(
                &json!({"out_trade_no": "F000001", "refund": 10, "out_refund_no": "LAST-1"}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.refund_id, last.refund_id);
    assert!(
        s.svc
            .refund(
                CreateRefund::from_json(&json!({"out_trade_no": "F000001", "refund": 1})).unwrap()
            )
            .await
            .is_err()
    );
    s.fake.complete_refund("LAST-1").await;
    wait_for("the last refund", async || {
        order(&s, "F000001").await["refunded"] == 100
    })
    .await;
    let refunded = || {
        s.events
            .0
            .lock()
            .iter()
            .filter(|e| e.kind == PayEventKind::Refunded)
            .count()
    };
    wait_for("four refund events", async || refunded() >= 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        refunded(),
        4,
        "one event per refund, duplicates notwithstanding"
    );
}

#[tokio::test]
async fn refused_refund_releases_its_reservation() {
    let s = setup(SignMode::PublicKey, Duration::from_secs(300)).await;
    s.svc
        .create_order(order_req(100, Some("G000001")))
        .await
        .unwrap();
    s.fake.pay("G000001").await;
    // WeChat Pay refuses (here: the merchant key is not accepted)
    let svc_bad = {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config::Config::default();
        s.fake.configure(
            &mut cfg,
            dir.path(),
            "https://m.example.com/api/pay/wechat/notify",
        );
        let mut opts = PayOptions::from_config(&cfg).unwrap().unwrap();
        let other = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        opts.merchant_key =
            minibase_pay::crypto::MerchantKey::from_key(other, opts.merchant_key.serial_no())
                .unwrap();
        PayService::new(
            WechatPayClient::new(opts).unwrap(),
            s.db.clone(),
            Duration::from_secs(300),
        )
        .await
        .unwrap()
    };
    let e = svc_bad
        .refund(
            CreateRefund::from_json(
                &json!({"out_trade_no": "G000001", "refund": 100, "out_refund_no": "BAD1"}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.upstream_code(), Some("SIGN_ERROR"));
    let doc = order(&s, "G000001").await;
    assert_eq!(doc["refundable"], 100);
    assert_eq!(doc["refunds"]["BAD1"]["status"], "FAILED");
    // the full amount can still be refunded
    s.svc
        .refund(
            CreateRefund::from_json(&json!({"out_trade_no": "G000001", "refund": 100})).unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn reconciliation_finds_lost_payments_and_survives_restarts() {
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let dir = tempfile::tempdir().unwrap();
    let reconcile_after = Duration::from_millis(300);
    let (svc, db, _) = open_service(&fake, dir.path(), reconcile_after).await;
    let a = svc
        .create_order(order_req(100, Some("Z000001")))
        .await
        .unwrap();
    svc.create_order(order_req(100, Some("Z000002")))
        .await
        .unwrap();
    fake.set_drop_notifications(true);
    fake.pay(&a.out_trade_no).await;
    // "restart": a new service over the same data, with its reconciler running
    drop(svc);
    tokio::task::spawn_blocking(move || db.close())
        .await
        .unwrap();
    let (svc, _db, _) = open_service(&fake, dir.path(), reconcile_after).await;
    let _task = svc.spawn_reconciler();
    let t0 = Instant::now();
    loop {
        let doc = svc
            .get_order(&Caller::Service, "Z000001", false)
            .await
            .unwrap();
        if doc["state"] == "SUCCESS" {
            assert!(doc.get("reconcile_at").is_none());
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "reconciliation did not find the payment"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the unpaid one keeps being checked (with backoff), and is not paid
    wait_for("the unpaid order to be checked", async || {
        svc.get_order(&Caller::Service, "Z000002", false)
            .await
            .unwrap()["reconcile_attempts"]
            .as_i64()
            .unwrap()
            >= 3
    })
    .await;
    let doc = svc
        .get_order(&Caller::Service, "Z000002", false)
        .await
        .unwrap();
    assert_eq!(doc["state"], "NOTPAY");
    assert!(doc.get("reconcile_at").is_some());
    let queries = fake
        .requests()
        .iter()
        .filter(|r| {
            r.path
                .starts_with("/v3/pay/transactions/out-trade-no/Z000002")
        })
        .count();
    // the third claim comes after the second query (one reconciler visits orders in turn)
    assert!(queries >= 2, "queried again: {queries}");
}

#[tokio::test]
async fn many_reconcilers_apply_once() {
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let dir = tempfile::tempdir().unwrap();
    let (svc, db, _) = open_service(&fake, dir.path(), Duration::from_millis(100)).await;
    let events = Arc::new(Events::default());
    svc.set_event_sink(events.clone());
    for i in 0..5 {
        svc.create_order(order_req(100, Some(&format!("Y00000{i}"))))
            .await
            .unwrap();
    }
    fake.set_drop_notifications(true);
    for i in 0..5 {
        fake.pay(&format!("Y00000{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    // four "instances" over the same database pass at the same moment
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let svc = svc.clone();
        set.spawn(async move { svc.reconcile_due().await.unwrap() });
    }
    let mut visited = 0;
    while let Some(n) = set.join_next().await {
        visited += n.unwrap();
    }
    assert_eq!(visited, 5, "each order claimed by exactly one pass");
    let paid = db
        .count(
            &Caller::Service,
            "_pay_orders",
            &json!({"state": "SUCCESS"}),
        )
        .await
        .unwrap();
    assert_eq!(paid, 5);
    wait_for("events", async || events.0.lock().len() == 5).await;
}

#[tokio::test]
async fn expired_unpaid_orders_are_closed_and_lost_refund_answers_recovered() {
    let s = setup(SignMode::PublicKey, Duration::from_millis(100)).await;
    // an order that expires in just over a minute cannot wait in a test: shorten its expiry
    s.svc
        .create_order(order_req(100, Some("X000001")))
        .await
        .unwrap();
    s.db.update_where(
        &Caller::System,
        "_pay_orders",
        &json!({"out_trade_no": "X000001"}),
        &json!({"expire_at": {"$date": mb_core::now_ms() - 120_000}}),
    )
    .await
    .unwrap();
    // a paid order whose refund request timed out: WeChat Pay never got it (PENDING)
    s.svc
        .create_order(order_req(100, Some("X000002")))
        .await
        .unwrap();
    s.fake.pay("X000002").await;
    s.fake.set_delay(Duration::from_secs(12));
    let slow = tokio::time::timeout(
        Duration::from_millis(300),
        s.svc.refund(
            CreateRefund::from_json(
                &json!({"out_trade_no": "X000002", "refund": 40, "out_refund_no": "LOST1"}),
            )
            .unwrap(),
        ),
    )
    .await;
    assert!(slow.is_err(), "the refund call was cut short");
    s.fake.set_delay(Duration::ZERO);
    let doc = order(&s, "X000002").await;
    assert_eq!(doc["refunds"]["LOST1"]["status"], "PENDING");
    assert_eq!(doc["refundable"], 60);
    let _task = s.svc.spawn_reconciler();
    wait_for("expired order closed", async || {
        order(&s, "X000001").await["state"] == "CLOSED"
    })
    .await;
    assert_eq!(s.fake.order("X000001").unwrap()["trade_state"], "CLOSED");
    wait_for("lost refund re-submitted and completed", async || {
        order(&s, "X000002").await["refunded"] == 40
    })
    .await;
    let _ = &s.dir;
}

#[tokio::test]
async fn an_unanswered_refund_is_pending_then_completed_by_the_reconciler() {
    let fake = FakeWechatPay::start(SignMode::PublicKey).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config::Config::default();
    fake.configure(
        &mut cfg,
        &dir.path().join("keys"),
        "https://merchant.example.com/api/pay/wechat/notify",
    );
    let mut opts = PayOptions::from_config(&cfg).unwrap().unwrap();
    opts.timeout = Duration::from_millis(200);
    opts.attempts = 2;
    let db = docdb::Database::open(
        &format!("sqlite://{}/data.db", dir.path().display()),
        docdb::DbOptions::from_config(&cfg),
    )
    .unwrap();
    let svc = PayService::new(
        WechatPayClient::new(opts).unwrap(),
        db,
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let (url, _rx) = receiver(svc.clone()).await;
    fake.redirect_notifications_to(&url);
    svc.create_order(order_req(100, Some("P000001")))
        .await
        .unwrap();
    fake.pay("P000001").await;
    fake.set_delay(Duration::from_secs(2));
    let r = svc
        .refund(
            CreateRefund::from_json(&json!({"out_trade_no": "P000001", "refund": 100})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, "PENDING");
    assert!(r.out_refund_no.starts_with('R'));
    fake.set_delay(Duration::ZERO);
    let doc = svc
        .get_order(&Caller::Service, "P000001", false)
        .await
        .unwrap();
    assert_eq!(doc["refundable"], 0, "the amount stays reserved");
    let _task = svc.spawn_reconciler();
    let t0 = Instant::now();
    while svc
        .get_order(&Caller::Service, "P000001", false)
        .await
        .unwrap()["refunded"]
        != 100
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the pending refund was not completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // exactly one refund exists at WeChat Pay
    assert_eq!(
        fake.refund(&r.out_refund_no).unwrap()["amount"]["refund"],
        100
    );
}

#[tokio::test]
async fn the_methods_functions_call() {
    let s = setup(SignMode::PublicKey, Duration::from_secs(300)).await;
    let created = s
        .svc
        .call_method(
            "createOrder",
            &json!({"description": "云函数下单", "amount": {"total": 300}, "openid": "o-payer-1"}),
        )
        .await
        .unwrap();
    let no = created["out_trade_no"].as_str().unwrap().to_string();
    assert_eq!(created["payment"]["signType"], "RSA");
    assert!(created["payment"]["paySign"].as_str().is_some());
    let q = s
        .svc
        .call_method("queryOrder", &json!({"out_trade_no": no}))
        .await
        .unwrap();
    assert_eq!(q["data"]["state"], "NOTPAY");
    s.fake.set_drop_notifications(true);
    s.fake.pay(&no).await;
    let q = s
        .svc
        .call_method("queryOrder", &json!({"out_trade_no": no, "sync": true}))
        .await
        .unwrap();
    assert_eq!(q["data"]["state"], "SUCCESS", "sync asks WeChat Pay");
    let r = s
        .svc
        .call_method("refund", &json!({"out_trade_no": no, "refund": 100}))
        .await
        .unwrap();
    assert_eq!(r["refund"], 100);
    assert!(matches!(
        s.svc
            .call_method("closeOrder", &json!({"out_trade_no": no}))
            .await,
        Err(PayError::Conflict(_))
    ));
    assert!(matches!(
        s.svc.call_method("queryOrder", &json!({})).await,
        Err(PayError::Invalid(_))
    ));
    assert!(matches!(
        s.svc
            .call_method("createOrder", &json!({"amount": {"total": 1.5}}))
            .await,
        Err(PayError::Invalid(_))
    ));
    let e = s
        .svc
        .call_method("unifiedOrder", &json!({}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("createOrder"), "{e}");
}
