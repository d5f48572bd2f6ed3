//! The v3 client against the fake WeChat Pay server (a real HTTP server on loopback): signing,
//! both verification modes and a mixed period, certificate rotation, refusals of unsigned,
//! probe and forged answers, retries, timeouts, upstream errors, refunds, and notification
//! verification + decryption through a real HTTP receiver.

#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use minibase_pay::model::NotificationResource;
use minibase_pay::{JsapiOrder, PayError, PayOptions, RefundRequest, WechatPayClient};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::fake_pay::{FakeWechatPay, NotifyOptions, SignMode, Tamper};

/// A merchant endpoint that verifies notifications with our client and records the outcome.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Result<minibase_pay::Notification, String>>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn receiver(client: WechatPayClient) -> Receiver {
    let seen: Arc<Mutex<Vec<Result<minibase_pay::Notification, String>>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/api/pay/wechat/{kind}",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (client, s) = (client.clone(), s.clone());
            async move {
                match client.parse_notification(&headers, &body).await {
                    Ok(n) => {
                        s.lock().push(Ok(n));
                        StatusCode::NO_CONTENT
                    }
                    Err(e) => {
                        let code = match e {
                            PayError::Verification(_) => StatusCode::UNAUTHORIZED,
                            _ => StatusCode::BAD_REQUEST,
                        };
                        s.lock().push(Err(e.to_string()));
                        code
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url,
        seen,
        _task: task,
    }
}

struct Setup {
    fake: FakeWechatPay,
    client: WechatPayClient,
    rx: Receiver,
    _dir: tempfile::TempDir,
}

/// A fake in `mode` and a client configured for it through `PayOptions::from_config`.
async fn setup(mode: SignMode, tweak: impl FnOnce(&FakeWechatPay, &mut PayOptions)) -> Setup {
    let fake = FakeWechatPay::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    // the notify URL is not known before the receiver runs; the fake redirects to it
    let mut cfg = config::Config::default();
    fake.configure(
        &mut cfg,
        dir.path(),
        "https://merchant.example.com/api/pay/wechat/notify",
    );
    let mut opts = PayOptions::from_config(&cfg).unwrap().unwrap();
    opts.cert_min_gap = Duration::ZERO;
    opts.timeout = Duration::from_secs(5);
    tweak(&fake, &mut opts);
    let client = WechatPayClient::new(opts).unwrap();
    let rx = receiver(client.clone()).await;
    fake.redirect_notifications_to(&rx.url);
    Setup {
        fake,
        client,
        rx,
        _dir: dir,
    }
}

fn order(no: &str, total: i64) -> JsapiOrder {
    JsapiOrder {
        description: "测试商品".into(),
        out_trade_no: no.into(),
        total,
        openid: "o-payer-1".into(),
        attach: Some("a=1".into()),
        time_expire: None,
    }
}

fn verify_pay_sign(fake: &FakeWechatPay, appid: &str, p: &minibase_pay::RequestPayment) -> bool {
    use base64::Engine as _;
    use rsa::signature::Verifier;
    let msg = format!(
        "{appid}\n{}\n{}\n{}\n",
        p.time_stamp, p.nonce_str, p.package
    );
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&p.pay_sign)
        .unwrap();
    let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(fake.merchant_public_key())
        .verify(msg.as_bytes(), &sig)
        .is_ok()
}

#[tokio::test]
async fn public_key_mode_order_pay_notify_query() {
    let s = setup(SignMode::PublicKey, |_, _| {}).await;
    assert!(!s.client.options().platform_certs);
    let prepay_id = s
        .client
        .jsapi_prepay(&order("T000001", 1800))
        .await
        .unwrap();
    assert_eq!(Some(prepay_id.clone()), s.fake.prepay_id("T000001"));
    // same order again: WeChat Pay answers the same prepay id (idempotent)
    assert_eq!(
        s.client
            .jsapi_prepay(&order("T000001", 1800))
            .await
            .unwrap(),
        prepay_id
    );
    let p = s.client.request_payment(&prepay_id).await.unwrap();
    assert_eq!(p.package, format!("prepay_id={prepay_id}"));
    assert_eq!(p.sign_type, "RSA");
    assert_eq!(p.nonce_str.len(), 32);
    assert!(
        verify_pay_sign(&s.fake, s.fake.appid(), &p),
        "paySign verifies with the merchant public key"
    );
    assert!(!verify_pay_sign(&s.fake, "wx-other-app", &p));

    let t = s.client.query_order("T000001").await.unwrap();
    assert_eq!(t.trade_state, "NOTPAY");
    assert_eq!(t.amount.unwrap().total, Some(1800));

    let deliveries = s.fake.pay("T000001").await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].ok(), "{deliveries:?}");
    let seen = s.rx.seen.lock().clone();
    let n = seen[0].as_ref().unwrap();
    assert_eq!(n.event_type, "TRANSACTION.SUCCESS");
    let NotificationResource::Transaction(t) = &n.resource else {
        panic!("not a transaction")
    };
    assert_eq!(t.out_trade_no, "T000001");
    assert_eq!(t.trade_state, "SUCCESS");
    assert_eq!(t.appid, s.fake.appid());
    assert!(t.transaction_id.is_some());

    let t = s.client.query_order("T000001").await.unwrap();
    assert_eq!(t.trade_state, "SUCCESS");
    assert_eq!(
        s.fake.bad_signatures(),
        0,
        "every request we sent verified at WeChat Pay"
    );
}

#[tokio::test]
async fn platform_certificate_mode_and_rotation() {
    let s = setup(SignMode::PlatformCert, |_, _| {}).await;
    assert!(s.client.options().public_key.is_none());
    // first verification fetches the certificates on demand
    s.client.jsapi_prepay(&order("C000001", 1)).await.unwrap();
    assert_eq!(s.client.platform_cert_serials(), s.fake.platform_serials());
    // WeChat Pay rotates its certificate: the unknown serial triggers a refresh
    let new_serial = s.fake.rotate_platform_cert();
    let t = s.client.query_order("C000001").await.unwrap();
    assert_eq!(t.trade_state, "NOTPAY");
    assert!(s.client.platform_cert_serials().contains(&new_serial));
    assert_eq!(s.client.platform_cert_serials().len(), 2);
    // notifications signed with the new certificate verify too
    s.fake.pay("C000001").await;
    assert!(s.rx.seen.lock()[0].is_ok());
    // explicit refresh
    assert_eq!(s.client.refresh_certificates().await.unwrap(), 2);
}

#[tokio::test]
async fn certificate_refresh_limits_and_failures() {
    let s = setup(SignMode::PlatformCert, |_, o| {
        o.cert_min_gap = Duration::from_secs(3600)
    })
    .await;
    s.client.query_order("X000001").await.unwrap_err(); // 404, not verified, fine
    s.client.jsapi_prepay(&order("L000001", 1)).await.unwrap(); // fetches certificates
    let before = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v3/certificates")
        .count();
    assert_eq!(before, 1);
    // a forged serial does not make us hammer /v3/certificates
    for _ in 0..5 {
        let d = s
            .fake
            .notify_payment("L000001", NotifyOptions::tampered(Tamper::UnknownSerial))
            .await;
        assert_eq!(d[0].status, 401);
    }
    let after = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v3/certificates")
        .count();
    assert_eq!(after, 1, "on-demand refreshes are rate limited");
    // certificates unavailable (public-key-only merchant): a clear error
    s.fake.set_certificates_unavailable(true);
    let e = s.client.refresh_certificates().await.unwrap_err();
    assert_eq!(e.upstream_code(), Some("RESOURCE_NOT_EXISTS"));
}

#[tokio::test]
async fn mixed_period_needs_both_keys() {
    // both configured: every answer verifies, whichever key signed it
    let s = setup(SignMode::Mixed, |_, _| {}).await;
    for i in 0..6 {
        s.client
            .jsapi_prepay(&order(&format!("M00000{i}"), 100))
            .await
            .unwrap();
    }
    for i in 0..6 {
        s.fake.pay(&format!("M00000{i}")).await;
    }
    assert_eq!(s.rx.seen.lock().iter().filter(|r| r.is_ok()).count(), 6);

    // only the public key configured: answers signed with the platform certificate fail
    let s = setup(SignMode::Mixed, |_, o| o.platform_certs = false).await;
    let results: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push(
                s.client
                    .jsapi_prepay(&order(&format!("N00000{i}"), 100))
                    .await,
            );
        }
        v
    };
    let failed = results
        .iter()
        .filter(|r| matches!(r, Err(PayError::Verification(_))))
        .count();
    assert!(
        (2..=4).contains(&failed),
        "about half fail verification: {results:?}"
    );
}

#[tokio::test]
async fn pkcs1_merchant_key_works() {
    let s = setup(SignMode::PublicKey, |fake, o| {
        let pem = fake.merchant_key_pem_pkcs1();
        assert!(pem.contains("BEGIN RSA PRIVATE KEY"));
        o.merchant_key =
            minibase_pay::crypto::MerchantKey::from_pem(&pem, o.merchant_key.serial_no()).unwrap();
    })
    .await;
    s.client.jsapi_prepay(&order("P100001", 5)).await.unwrap();
    assert_eq!(s.fake.bad_signatures(), 0);
}

#[tokio::test]
async fn answers_that_fail_verification() {
    let s = setup(SignMode::PublicKey, |_, _| {}).await;
    s.fake.set_unsigned_answers(true);
    let e = s
        .client
        .jsapi_prepay(&order("U000001", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PayError::Verification(m) if m.contains("unsigned")),
        "{e}"
    );
    s.fake.set_unsigned_answers(false);
    s.fake.set_signtest_answers(true);
    let e = s
        .client
        .jsapi_prepay(&order("U000002", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PayError::Verification(m) if m.contains("SIGNTEST")),
        "{e}"
    );
    s.fake.set_signtest_answers(false);
    s.fake.set_forged_answers(true);
    let e = s
        .client
        .jsapi_prepay(&order("U000003", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PayError::Verification(m) if m.contains("does not verify")),
        "{e}"
    );
    // as an API error: 502 with the upstream service, nothing internal
    let api: mb_core::ApiError = e.into();
    assert_eq!(api.code, mb_core::ErrorCode::UpstreamError);
    assert_eq!(api.upstream.unwrap().service, "wechat_pay");
}

#[tokio::test]
async fn bounded_retries_and_timeouts() {
    let s = setup(SignMode::PublicKey, |_, o| o.attempts = 3).await;
    s.fake.fail_next(2);
    s.client.jsapi_prepay(&order("R000001", 1)).await.unwrap();
    s.fake.fail_next(3);
    let e = s
        .client
        .jsapi_prepay(&order("R000002", 1))
        .await
        .unwrap_err();
    assert_eq!(e.upstream_code(), Some("SYSTEM_ERROR"));
    assert!(e.is_transient());
    // 2 + 3 failures + 1 success, each attempt freshly signed and accepted
    assert_eq!(s.fake.requests().len(), 6);
    assert_eq!(s.fake.bad_signatures(), 0);

    let s = setup(SignMode::PublicKey, |_, o| {
        o.timeout = Duration::from_millis(200);
        o.attempts = 2;
    })
    .await;
    s.fake.set_delay(Duration::from_secs(3));
    let t0 = Instant::now();
    let e = s.client.query_order("R000003").await.unwrap_err();
    assert!(matches!(e, PayError::Timeout), "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "bounded: {:?}",
        t0.elapsed()
    );
    let api: mb_core::ApiError = e.into();
    assert_eq!(api.code, mb_core::ErrorCode::DeadlineExceeded);

    // nobody listening
    let s = setup(SignMode::PublicKey, |_, o| {
        o.api_base = "http://127.0.0.1:9".into();
        o.attempts = 2;
    })
    .await;
    let e = s.client.query_order("R000004").await.unwrap_err();
    assert!(matches!(e, PayError::Unreachable(_)), "{e}");
}

#[tokio::test]
async fn upstream_errors_are_clear() {
    let s = setup(SignMode::PublicKey, |_, _| {}).await;
    let e = s.client.query_order("E000404").await.unwrap_err();
    assert_eq!(e.upstream_code(), Some("ORDER_NOT_EXIST"));
    let api: mb_core::ApiError = e.into();
    assert_eq!(api.code, mb_core::ErrorCode::UpstreamError);
    assert!(api.message.contains("ORDER_NOT_EXIST"));
    // a different order under the same number
    s.client.jsapi_prepay(&order("E000001", 100)).await.unwrap();
    let e = s
        .client
        .jsapi_prepay(&order("E000001", 200))
        .await
        .unwrap_err();
    assert_eq!(e.upstream_code(), Some("OUT_TRADE_NO_USED"));
    // close, then paying is impossible and closing twice is fine
    s.client.close_order("E000001").await.unwrap();
    s.client.close_order("E000001").await.unwrap();
    assert_eq!(
        s.client.query_order("E000001").await.unwrap().trade_state,
        "CLOSED"
    );
    // closing a paid order
    s.client.jsapi_prepay(&order("E000002", 100)).await.unwrap();
    s.fake.pay("E000002").await;
    assert_eq!(
        s.client
            .close_order("E000002")
            .await
            .unwrap_err()
            .upstream_code(),
        Some("ORDERPAID")
    );
    // our own validation never reaches WeChat Pay
    let n = s.fake.requests().len();
    assert!(matches!(
        s.client.query_order("../x").await,
        Err(PayError::Invalid(_))
    ));
    assert!(matches!(
        s.client.query_refund("a/b").await,
        Err(PayError::Invalid(_))
    ));
    assert_eq!(s.fake.requests().len(), n);
}

#[tokio::test]
async fn wrong_merchant_key_is_refused_by_wechat_pay() {
    let other = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let s = setup(SignMode::PublicKey, |_, o| {
        o.merchant_key =
            minibase_pay::crypto::MerchantKey::from_key(other, o.merchant_key.serial_no()).unwrap();
    })
    .await;
    let e = s
        .client
        .jsapi_prepay(&order("K000001", 1))
        .await
        .unwrap_err();
    assert_eq!(e.upstream_code(), Some("SIGN_ERROR"));
    assert_eq!(s.fake.bad_signatures(), 1, "4xx is not retried");
}

#[tokio::test]
async fn refunds_partial_full_and_over() {
    let s = setup(SignMode::PublicKey, |_, _| {}).await;
    s.client
        .jsapi_prepay(&order("F000001", 1000))
        .await
        .unwrap();
    // not paid yet
    let req = |no: &str, amount| RefundRequest {
        out_trade_no: "F000001".into(),
        out_refund_no: no.into(),
        refund: amount,
        total: 1000,
        reason: Some("不想要了".into()),
    };
    assert_eq!(
        s.client
            .refund(&req("RF1", 300))
            .await
            .unwrap_err()
            .upstream_code(),
        Some("INVALID_REQUEST")
    );
    s.fake.pay("F000001").await;
    let r = s.client.refund(&req("RF1", 300)).await.unwrap();
    assert_eq!(r.status, "PROCESSING");
    assert_eq!(r.amount.refund, 300);
    // same refund number again: same refund (idempotent)
    assert_eq!(
        s.client.refund(&req("RF1", 300)).await.unwrap().refund_id,
        r.refund_id
    );
    // more than what is left
    assert_eq!(
        s.client
            .refund(&req("RF2", 701))
            .await
            .unwrap_err()
            .upstream_code(),
        Some("INVALID_REQUEST")
    );
    let r2 = s.client.refund(&req("RF2", 700)).await.unwrap();
    assert_eq!(r2.amount.refund, 700);
    // the fake completes refunds and notifies the refund URL
    let t0 = Instant::now();
    while s
        .rx
        .seen
        .lock()
        .iter()
        .filter(|n| matches!(n, Ok(n) if n.event_type == "REFUND.SUCCESS"))
        .count()
        < 2
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "refund notifications: {:?}",
            s.rx.seen.lock()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let q = s.client.query_refund("RF2").await.unwrap();
    assert_eq!(q.status, "SUCCESS");
    let seen = s.rx.seen.lock().clone();
    let refund = seen.iter().find_map(|n| match n {
        Ok(minibase_pay::Notification {
            resource: NotificationResource::Refund(r),
            ..
        }) if r.out_refund_no == "RF1" => Some(r.clone()),
        _ => None,
    });
    let refund = refund.unwrap();
    assert_eq!(refund.status, "SUCCESS");
    assert_eq!(refund.amount.refund, 300);
    assert_eq!(
        s.client.query_order("F000001").await.unwrap().trade_state,
        "REFUND"
    );
}

#[tokio::test]
async fn notifications_are_verified_and_decrypted() {
    let s = setup(SignMode::PublicKey, |_, _| {}).await;
    s.client.jsapi_prepay(&order("V000001", 100)).await.unwrap();
    s.fake.set_drop_notifications(true);
    assert!(s.fake.pay("V000001").await.is_empty());
    for (tamper, status, msg) in [
        (Tamper::ForgedSignature, 401, "does not verify"),
        (Tamper::TamperedBody, 401, "does not verify"),
        (Tamper::StaleTimestamp, 401, "5 minutes"),
        (Tamper::SignTest, 401, "SIGNTEST"),
        (Tamper::UnknownSerial, 401, "unknown Wechatpay-Serial"),
        (Tamper::Unsigned, 401, "unsigned"),
        (Tamper::WrongApiV3Key, 400, "APIv3 key"),
    ] {
        let d = s
            .fake
            .notify_payment("V000001", NotifyOptions::tampered(tamper.clone()))
            .await;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].status, status, "{tamper:?}");
        let last = s.rx.seen.lock().last().cloned().unwrap();
        assert!(
            matches!(&last, Err(m) if m.contains(msg)),
            "{tamper:?}: {last:?}"
        );
    }
    // genuine but disagreeing data still verifies: deciding what it means is the order layer's job
    let d = s
        .fake
        .notify_payment("V000001", NotifyOptions::tampered(Tamper::WrongAmount(1)))
        .await;
    assert!(d[0].ok());
    // WeChat Pay retries while the merchant fails: the fake retries after 401s
    let d = s
        .fake
        .notify_payment(
            "V000001",
            NotifyOptions {
                tamper: Tamper::SignTest,
                retries: 2,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(d.len(), 3);
    // 50 duplicates at once all verify
    let d = s
        .fake
        .notify_payment("V000001", NotifyOptions::duplicates(50))
        .await;
    assert_eq!(d.len(), 50);
    assert!(d.iter().all(|d| d.ok()));
}
