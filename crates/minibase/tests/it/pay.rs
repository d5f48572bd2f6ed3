//! WeChat Pay through HTTP (API.md §8) against the fake WeChat Pay server: order → paySign
//! verifiable with the merchant public key → notification → SUCCESS once; 50 concurrent
//! duplicates; forged/stale/SIGNTEST notifications refused with nothing changed; anomalies;
//! refunds (partial, full, over-refund, concurrent); reconciliation of a dropped notification
//! across a restart; both verification modes and a mixed period; bad input and callers.

#![allow(clippy::unwrap_used)]

use crate::util::expect_error;
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::TestServer;
use testkit::fake_pay::{FakeWechatPay, NotifyOptions, SignMode, Tamper};

struct Pay {
    srv: TestServer,
    fake: FakeWechatPay,
    _keys: tempfile::TempDir,
}

async fn start(mode: SignMode, tweak: impl FnOnce(&mut config::Config)) -> Pay {
    let fake = FakeWechatPay::start(mode).await;
    let keys = tempfile::tempdir().unwrap();
    let srv = TestServer::builder()
        .config(|c| {
            c.wechat.appid = fake.appid().into();
            // the server's port is chosen at start: the fake delivers to it by redirect
            fake.configure(
                c,
                keys.path(),
                "https://api.example.com/api/pay/wechat/notify",
            );
            tweak(c);
        })
        .start()
        .await;
    fake.redirect_notifications_to(&srv.url(""));
    Pay {
        srv,
        fake,
        _keys: keys,
    }
}

impl Pay {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.srv
            .http()
            .post(self.srv.url(path))
            .bearer_auth(self.srv.service_key())
            .json(body)
            .send()
            .await
            .unwrap()
    }
    async fn create(&self, body: Value) -> Value {
        let res = self.post("/api/pay/wechat/orders", &body).await;
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.unwrap()
    }
    async fn order(&self, no: &str) -> Value {
        let res = self
            .srv
            .http()
            .get(self.srv.url(&format!("/api/pay/wechat/orders/{no}")))
            .bearer_auth(self.srv.service_key())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["data"].clone()
    }
    async fn refund(&self, body: Value) -> reqwest::Response {
        self.post("/api/pay/wechat/refunds", &body).await
    }
    async fn wait(&self, what: &str, no: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            let doc = self.order(no).await;
            if pred(&doc) {
                return doc;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "timed out waiting for {what}: {doc:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn order_body(total: Value, no: &str) -> Value {
    json!({"description": "会员月卡", "amount": {"total": total}, "openid": "o-payer-1", "out_trade_no": no})
}

fn pay_sign_verifies(fake: &FakeWechatPay, payment: &Value) -> bool {
    use rsa::signature::Verifier;
    let msg = format!(
        "{}\n{}\n{}\n{}\n",
        fake.appid(),
        payment["timeStamp"].as_str().unwrap(),
        payment["nonceStr"].as_str().unwrap(),
        payment["package"].as_str().unwrap()
    );
    let Ok(sig) =
        base64::engine::general_purpose::STANDARD.decode(payment["paySign"].as_str().unwrap())
    else {
        return false;
    };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else {
        return false;
    };
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(fake.merchant_public_key())
        .verify(msg.as_bytes(), &sig)
        .is_ok()
}

async fn end_to_end(mode: SignMode) {
    let p = start(mode, |_| {}).await;
    let created = p.create(order_body(json!(1800), "E2E000001")).await;
    assert_eq!(created["out_trade_no"], "E2E000001");
    let prepay_id = created["prepay_id"].as_str().unwrap();
    assert_eq!(Some(prepay_id.to_string()), p.fake.prepay_id("E2E000001"));
    let payment = &created["payment"];
    assert_eq!(payment["package"], format!("prepay_id={prepay_id}"));
    assert_eq!(payment["signType"], "RSA");
    assert!(
        payment["timeStamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    assert!(
        pay_sign_verifies(&p.fake, payment),
        "paySign verifies with the merchant public key"
    );
    let doc = p.order("E2E000001").await;
    assert_eq!(doc["state"], "NOTPAY");
    assert_eq!(doc["openid"], "o-payer-1");
    assert_eq!(doc["description"], "会员月卡");
    assert_eq!(doc["amount"]["total"], 1800);
    assert_eq!(doc["refunded"], 0);

    let deliveries = p.fake.pay("E2E000001").await;
    assert_eq!(deliveries.len(), 1, "acknowledged at once: {deliveries:?}");
    assert_eq!(deliveries[0].status, 204);
    let doc = p.order("E2E000001").await;
    assert_eq!(doc["state"], "SUCCESS");
    assert!(doc["transaction_id"].as_str().unwrap().starts_with("42000"));
    assert!(doc["paid_at"]["$date"].as_i64().unwrap() > 0);
    assert_eq!(p.fake.bad_signatures(), 0);
}

#[tokio::test]
async fn order_to_success_in_public_key_mode() {
    end_to_end(SignMode::PublicKey).await;
}

#[tokio::test]
async fn order_to_success_in_platform_certificate_mode() {
    end_to_end(SignMode::PlatformCert).await;
}

#[tokio::test]
async fn order_to_success_in_a_mixed_period() {
    let p = start(SignMode::Mixed, |_| {}).await;
    // answers and notifications alternate between the two keys; all verify
    for i in 0..4 {
        let no = format!("MIX00000{i}");
        p.create(order_body(json!(100), &no)).await;
        assert_eq!(p.fake.pay(&no).await[0].status, 204);
        assert_eq!(p.order(&no).await["state"], "SUCCESS");
    }
}

#[tokio::test]
async fn fifty_duplicate_notifications_move_the_order_once() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(990), "DUP000001")).await;
    p.fake.set_drop_notifications(true);
    p.fake.pay("DUP000001").await;
    let mut changes = p.srv.state().db().subscribe();
    let d = p
        .fake
        .notify_payment("DUP000001", NotifyOptions::duplicates(50))
        .await;
    assert_eq!(d.len(), 50);
    assert!(
        d.iter().all(|d| d.status == 204),
        "{:?}",
        d.iter().find(|d| d.status != 204)
    );
    let doc = p.order("DUP000001").await;
    assert_eq!(doc["state"], "SUCCESS");
    let mut writes = 0;
    while let Ok(Some(ev)) = changes.try_recv() {
        if ev.collection == "_pay_orders" {
            writes += 1;
        }
    }
    assert_eq!(writes, 1, "the order was written once");
    // WeChat Pay's later retries change nothing either
    let updated_at = doc["updated_at"].clone();
    p.fake
        .notify_payment("DUP000001", NotifyOptions::default())
        .await;
    assert_eq!(p.order("DUP000001").await["updated_at"], updated_at);
}

#[tokio::test]
async fn forged_stale_and_probe_notifications_change_nothing() {
    let p = start(SignMode::PlatformCert, |_| {}).await;
    p.create(order_body(json!(500), "BAD000001")).await;
    p.fake.set_drop_notifications(true);
    p.fake.pay("BAD000001").await;
    let before = p.order("BAD000001").await;
    for (tamper, status) in [
        (Tamper::ForgedSignature, 401),
        (Tamper::TamperedBody, 401),
        (Tamper::StaleTimestamp, 401),
        (Tamper::SignTest, 401),
        (Tamper::UnknownSerial, 401),
        (Tamper::Unsigned, 401),
        (Tamper::WrongApiV3Key, 400),
    ] {
        let d = p
            .fake
            .notify_payment("BAD000001", NotifyOptions::tampered(tamper.clone()))
            .await;
        assert_eq!(d[0].status, status, "{tamper:?}: {}", d[0].body);
        // WeChat Pay's shape, not the error envelope
        let body: Value = serde_json::from_str(&d[0].body).unwrap();
        assert_eq!(body["code"], "FAIL", "{tamper:?}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body.get("error").is_none());
    }
    // WeChat Pay retries refused notifications
    let d = p
        .fake
        .notify_payment(
            "BAD000001",
            NotifyOptions {
                tamper: Tamper::SignTest,
                retries: 2,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(d.len(), 3);
    assert_eq!(p.order("BAD000001").await, before, "nothing changed");
    // garbage straight at the endpoint
    for body in ["", "not json", "{}"] {
        let res = p
            .srv
            .http()
            .post(p.srv.url("/api/pay/wechat/notify"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "FAIL");
    }
    // the genuine one still works
    assert_eq!(
        p.fake
            .notify_payment("BAD000001", NotifyOptions::default())
            .await[0]
            .status,
        204
    );
    assert_eq!(p.order("BAD000001").await["state"], "SUCCESS");
}

#[tokio::test]
async fn disagreeing_notifications_are_anomalies_never_payments() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(500), "ANO000001")).await;
    p.fake.set_drop_notifications(true);
    p.fake.pay("ANO000001").await;
    for t in [
        Tamper::WrongAmount(1),
        Tamper::WrongAppid,
        Tamper::WrongMchid,
    ] {
        assert_eq!(
            p.fake
                .notify_payment("ANO000001", NotifyOptions::tampered(t))
                .await[0]
                .status,
            204
        );
    }
    assert_eq!(p.order("ANO000001").await["state"], "NOTPAY");
    let anomalies = anomalies(&p, "ANO000001").await;
    assert_eq!(anomalies.len(), 3, "{anomalies:#?}");
    let fields: Vec<&str> = anomalies
        .iter()
        .map(|a| a["detail"]["differences"][0]["field"].as_str().unwrap())
        .collect();
    for f in ["amount.total", "appid", "mchid"] {
        assert!(fields.contains(&f), "{fields:?}");
    }
    // duplicates of an anomaly are recorded once
    p.fake
        .notify_payment("ANO000001", NotifyOptions::duplicates(5))
        .await;
    assert_eq!(
        p.order("ANO000001").await["state"],
        "SUCCESS",
        "the genuine notification still pays it"
    );
    p.fake
        .notify_payment("ANO000001", NotifyOptions::tampered(Tamper::WrongAmount(1)))
        .await;
    assert_eq!(self::anomalies(&p, "ANO000001").await.len(), 3);
}

/// The anomalies recorded for an order (as the service caller reads them).
async fn anomalies(p: &Pay, no: &str) -> Vec<Value> {
    let req = docdb::QueryRequest {
        where_: json!({"out_trade_no": no}),
        ..Default::default()
    };
    p.srv
        .state()
        .db()
        .query(&mb_core::Caller::Service, "_pay_anomalies", &req)
        .await
        .unwrap()
}

#[tokio::test]
async fn payers_read_their_own_orders_only() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(100), "OWN000001")).await;
    let mine = p.srv.user_token("o-payer-1").await;
    let theirs = p.srv.user_token("o-someone-else").await;
    let get = |token: String| {
        let req = p
            .srv
            .http()
            .get(p.srv.url("/api/pay/wechat/orders/OWN000001"))
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    let res = get(mine.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["data"]["out_trade_no"],
        "OWN000001"
    );
    expect_error(get(theirs.clone()).await, 404, "NOT_FOUND").await;
    // and through the database layer, under the default rule (what realtime watchers see)
    let user = |openid: &str| {
        mb_core::Caller::User(mb_core::UserIdentity {
            uid: "u".into(),
            openid: openid.into(),
            unionid: None,
            platform: "wechat".into(),
            session_id: "s".into(),
        })
    };
    let db = p.srv.state().db();
    let all = docdb::QueryRequest::default();
    assert_eq!(
        db.query(&user("o-payer-1"), "_pay_orders", &all)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        db.query(&user("o-someone-else"), "_pay_orders", &all)
            .await
            .unwrap()
            .is_empty()
    );
    let e = db
        .update_where(
            &user("o-payer-1"),
            "_pay_orders",
            &json!({}),
            &json!({"state": "SUCCESS"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, docdb::DbError::PermissionDenied(_)), "{e}");
    let res = p
        .srv
        .http()
        .get(p.srv.url("/api/pay/wechat/orders/OWN000001"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn payers_get_the_payment_parameters_of_their_own_unpaid_orders() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(300), "PAYP00001")).await;
    let mine = p.srv.user_token("o-payer-1").await;
    let theirs = p.srv.user_token("o-someone-else").await;
    let ask = |no: &str, token: Option<&str>| {
        let mut req = p
            .srv
            .http()
            .post(p.srv.url(&format!("/api/pay/wechat/orders/{no}/payment")))
            .json(&json!({}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    // the payer (what the client SDK's requestPayment({orderId}) asks), signed afresh
    let res = ask("PAYP00001", Some(&mine)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["out_trade_no"], "PAYP00001");
    let prepay_id = p.fake.prepay_id("PAYP00001").unwrap();
    assert_eq!(body["payment"]["package"], format!("prepay_id={prepay_id}"));
    assert!(pay_sign_verifies(&p.fake, &body["payment"]));
    // a service caller too
    let res = ask("PAYP00001", Some(p.srv.service_key())).await;
    assert_eq!(res.status(), 200);
    // nobody else learns that the order exists; bad numbers and anonymous callers are refused
    expect_error(ask("PAYP00001", Some(&theirs)).await, 404, "NOT_FOUND").await;
    expect_error(ask("NOSUCH0001", Some(&mine)).await, 404, "NOT_FOUND").await;
    expect_error(ask("x", Some(&mine)).await, 400, "INVALID_ARGUMENT").await;
    expect_error(ask("PAYP00001", None).await, 401, "UNAUTHENTICATED").await;
    // a paid order cannot be paid again; a closed one neither
    p.fake.pay("PAYP00001").await;
    p.wait("SUCCESS", "PAYP00001", |d| d["state"] == "SUCCESS")
        .await;
    expect_error(ask("PAYP00001", Some(&mine)).await, 409, "CONFLICT").await;
    p.create(order_body(json!(300), "PAYP00002")).await;
    p.post("/api/pay/wechat/orders/PAYP00002/close", &json!({}))
        .await;
    expect_error(ask("PAYP00002", Some(&mine)).await, 409, "CONFLICT").await;
    let requests = p.fake.requests().len();
    expect_error(ask("PAYP00002", Some(&mine)).await, 409, "CONFLICT").await;
    assert_eq!(p.fake.requests().len(), requests, "WeChat Pay is not asked");
}

#[tokio::test]
async fn refunds_partial_full_over_and_concurrent() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(1000), "REF000001")).await;
    // not paid yet
    expect_error(
        p.refund(json!({"out_trade_no": "REF000001", "refund": 100}))
            .await,
        409,
        "CONFLICT",
    )
    .await;
    p.fake.pay("REF000001").await;
    // partial
    let res = p.refund(json!({"out_trade_no": "REF000001", "refund": 300, "out_refund_no": "RF-1", "reason": "少发了"})).await;
    assert_eq!(res.status(), 200);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["out_refund_no"], "RF-1");
    assert_eq!(r["refund"], 300);
    assert!(["PROCESSING", "SUCCESS"].contains(&r["status"].as_str().unwrap()));
    let doc = p
        .wait("the partial refund", "REF000001", |d| d["refunded"] == 300)
        .await;
    assert_eq!(doc["state"], "REFUND");
    assert_eq!(doc["refunds"]["RF-1"]["status"], "SUCCESS");
    assert_eq!(doc["refundable"], 700);
    // the same refund number again: the same refund, nothing more
    let again: Value = p
        .refund(json!({"out_trade_no": "REF000001", "refund": 300, "out_refund_no": "RF-1"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["refund_id"], r["refund_id"]);
    // more than is left
    let e = expect_error(
        p.refund(json!({"out_trade_no": "REF000001", "refund": 701}))
            .await,
        409,
        "CONFLICT",
    )
    .await;
    assert!(e["error"]["message"].as_str().unwrap().contains("700"));
    // concurrent: 10 × 100 on the 700 left → 7 succeed
    let results = futures_util::future::join_all(
        (0..10).map(|_| p.refund(json!({"out_trade_no": "REF000001", "refund": 100}))),
    )
    .await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    let conflicts = results.iter().filter(|r| r.status() == 409).count();
    assert_eq!((ok, conflicts), (7, 3));
    let doc = p
        .wait("all refunds", "REF000001", |d| d["refunded"] == 1000)
        .await;
    assert_eq!(doc["refundable"], 0);
    // fully refunded: nothing more
    expect_error(
        p.refund(json!({"out_trade_no": "REF000001", "refund": 1}))
            .await,
        409,
        "CONFLICT",
    )
    .await;
    let recorded: i64 = doc["refunds"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(recorded, 1000);
    assert!(
        doc["refunds"]
            .as_object()
            .unwrap()
            .values()
            .all(|r| r["status"] == "SUCCESS")
    );
}

#[tokio::test]
async fn full_refund_in_one_go() {
    let p = start(SignMode::PlatformCert, |_| {}).await;
    p.create(order_body(json!(250), "FULL00001")).await;
    p.fake.pay("FULL00001").await;
    let res = p
        .refund(json!({"out_trade_no": "FULL00001", "refund": 250}))
        .await;
    assert_eq!(res.status(), 200);
    let doc = p
        .wait("the full refund", "FULL00001", |d| d["refunded"] == 250)
        .await;
    assert_eq!(doc["state"], "REFUND");
    expect_error(
        p.refund(json!({"out_trade_no": "FULL00001", "refund": 1}))
            .await,
        409,
        "CONFLICT",
    )
    .await;
    expect_error(
        p.refund(json!({"out_trade_no": "NOSUCH001", "refund": 1}))
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_dropped_notification_is_reconciled_even_across_a_restart() {
    let p = start(SignMode::PublicKey, |c| {
        c.wechat_pay.reconcile_after = config::HumanDuration(Duration::from_millis(400))
    })
    .await;
    p.create(order_body(json!(100), "LOST00001")).await;
    p.fake.set_drop_notifications(true);
    p.fake.pay("LOST00001").await;
    assert_eq!(p.order("LOST00001").await["state"], "NOTPAY");
    // restart before reconciliation happens: it is driven by the stored order
    let Pay { srv, fake, _keys } = p;
    let srv = srv.restart().await;
    fake.redirect_notifications_to(&srv.url(""));
    let p = Pay { srv, fake, _keys };
    let doc = p
        .wait("reconciliation", "LOST00001", |d| d["state"] == "SUCCESS")
        .await;
    assert!(doc["transaction_id"].as_str().is_some());
    assert!(
        doc.get("reconcile_at").is_none(),
        "no more polling once final"
    );
    // sync on read finds a payment at once
    p.create(order_body(json!(100), "LOST00002")).await;
    p.fake.pay("LOST00002").await;
    let res = p
        .srv
        .http()
        .get(p.srv.url("/api/pay/wechat/orders/LOST00002?sync=true"))
        .bearer_auth(p.srv.service_key())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["data"]["state"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn close_an_unpaid_order() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    p.create(order_body(json!(100), "CLS000001")).await;
    let res = p
        .post("/api/pay/wechat/orders/CLS000001/close", &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["data"]["state"],
        "CLOSED"
    );
    assert_eq!(p.fake.order("CLS000001").unwrap()["trade_state"], "CLOSED");
    // creating it again is a conflict, not a new payment
    expect_error(
        p.post(
            "/api/pay/wechat/orders",
            &order_body(json!(100), "CLS000001"),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    p.create(order_body(json!(100), "CLS000002")).await;
    p.fake.pay("CLS000002").await;
    expect_error(
        p.post("/api/pay/wechat/orders/CLS000002/close", &json!({}))
            .await,
        409,
        "CONFLICT",
    )
    .await;
    expect_error(
        p.post("/api/pay/wechat/orders/NOSUCH001/close", &json!({}))
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn bad_input_and_callers_are_refused_with_nothing_created() {
    let p = start(SignMode::PublicKey, |_| {}).await;
    let bad = [
        (
            json!({"description": "x", "amount": {"total": 1.5}, "openid": "o-1"}),
            "decimal",
        ),
        (
            json!({"description": "x", "amount": {"total": 100.0}, "openid": "o-1"}),
            "decimal",
        ),
        (
            json!({"description": "x", "amount": {"total": "100"}, "openid": "o-1"}),
            "integer",
        ),
        (
            json!({"description": "x", "amount": {"total": 0}, "openid": "o-1"}),
            "positive",
        ),
        (
            json!({"description": "x", "amount": {"total": -1}, "openid": "o-1"}),
            "positive",
        ),
        (
            json!({"description": "x", "amount": {}, "openid": "o-1"}),
            "amount.total",
        ),
        (json!({"description": "x", "openid": "o-1"}), "amount"),
        (
            json!({"amount": {"total": 1}, "openid": "o-1"}),
            "description",
        ),
        (
            json!({"description": "x", "amount": {"total": 1}}),
            "openid",
        ),
        (
            json!({"description": "x", "amount": {"total": 1}, "openid": "o-1", "out_trade_no": "abc"}),
            "out_trade_no",
        ),
        (
            json!({"description": "x", "amount": {"total": 1}, "openid": "o-1", "out_trade_no": "a/../b/c"}),
            "out_trade_no",
        ),
        (
            json!({"description": "x", "amount": {"total": 1}, "openid": "o-1", "total_fee": 1}),
            "total_fee",
        ),
        (json!([1, 2]), "object"),
    ];
    for (body, msg) in bad {
        let e = expect_error(
            p.post("/api/pay/wechat/orders", &body).await,
            400,
            "INVALID_ARGUMENT",
        )
        .await;
        assert!(
            e["error"]["message"].as_str().unwrap().contains(msg),
            "{body}: {e}"
        );
    }
    // malformed JSON
    let res = p
        .srv
        .http()
        .post(p.srv.url("/api/pay/wechat/orders"))
        .bearer_auth(p.srv.service_key())
        .header("content-type", "application/json")
        .body("{\"description\": ")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    assert!(p.fake.requests().is_empty(), "nothing reached WeChat Pay");
    // users and anonymous callers cannot create, close or refund
    let token = p.srv.user_token("o-payer-1").await;
    for (path, body) in [
        ("/api/pay/wechat/orders", order_body(json!(1), "USR000001")),
        ("/api/pay/wechat/orders/USR000001/close", json!({})),
        (
            "/api/pay/wechat/refunds",
            json!({"out_trade_no": "USR000001", "refund": 1}),
        ),
    ] {
        let res = p
            .srv
            .http()
            .post(p.srv.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, 403, "PERMISSION_DENIED").await;
        let res = p
            .srv
            .http()
            .post(p.srv.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, 401, "UNAUTHENTICATED").await;
    }
    // refund input
    for body in [
        json!({"out_trade_no": "USR000001", "refund": 0.5}),
        json!({"out_trade_no": "USR000001"}),
        json!({"refund": 1}),
        json!({"out_trade_no": "USR000001", "refund": "1"}),
        json!({"out_trade_no": "USR000001", "refund": 1, "out_refund_no": "a b"}),
    ] {
        expect_error(p.refund(body).await, 400, "INVALID_ARGUMENT").await;
    }
    // unknown and malformed order numbers
    let get = |no: &str| {
        p.srv
            .http()
            .get(p.srv.url(&format!("/api/pay/wechat/orders/{no}")))
            .bearer_auth(p.srv.service_key())
            .send()
    };
    expect_error(get("NOSUCH001").await.unwrap(), 404, "NOT_FOUND").await;
    expect_error(get("x%2F..%2Fy").await.unwrap(), 400, "INVALID_ARGUMENT").await;
    let n = p
        .srv
        .state()
        .db()
        .count(&mb_core::Caller::Service, "_pay_orders", &json!({}))
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing was created");
    // WeChat Pay's refusals are 502 with its code
    p.fake.fail_next(3);
    let e = expect_error(
        p.post("/api/pay/wechat/orders", &order_body(json!(1), "UPS000001"))
            .await,
        502,
        "UPSTREAM_ERROR",
    )
    .await;
    assert_eq!(e["error"]["upstream"]["service"], "wechat_pay");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SYSTEM_ERROR")
    );
}

#[tokio::test]
async fn not_configured_is_a_clear_503() {
    let srv = TestServer::start().await;
    let res = srv
        .http()
        .post(srv.url("/api/pay/wechat/orders"))
        .bearer_auth(srv.service_key())
        .json(&order_body(json!(1), "NCF000001"))
        .send()
        .await
        .unwrap();
    expect_error(res, 503, "UNAVAILABLE").await;
    let res = srv
        .http()
        .post(srv.url("/api/pay/wechat/notify"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "FAIL");
}
