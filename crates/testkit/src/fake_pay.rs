//! A fake WeChat Pay API v3 server: a real HTTP server on `127.0.0.1:0` that behaves like
//! `api.mch.weixin.qq.com` closely enough to test a merchant backend end to end.
//!
//! - Checks every request's `Authorization` (`WECHATPAY2-SHA256-RSA2048`, mchid, merchant
//!   serial, 5-minute window, SHA256withRSA with the merchant public key); refuses with
//!   401 `SIGN_ERROR` otherwise.
//! - Answers signed in public-key mode (`PUB_KEY_ID_…`), platform-certificate mode, or a
//!   "mixed period" alternating both, and serves `/v3/certificates` encrypted with the APIv3
//!   key.
//! - Keeps its own orders and refunds (JSAPI prepay, query, close, refund, refund query) with
//!   WeChat Pay's error codes.
//! - Sends signed, AES-256-GCM-encrypted notifications to the notify URL an order or refund
//!   carried: on payment, duplicated (N copies at the same moment), retried while the merchant
//!   answers non-2xx, or tampered (forged signature, stale timestamp, SIGNTEST probe, …);
//!   notifications can be dropped to test reconciliation.
//!
//! Its crypto is written here independently of the `pay` crate (only the RustCrypto
//! primitives are shared), so a formatting mistake in one is not mirrored by the other.
//! RSA keys are generated at test time (once per test process, shared by every fake).

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use parking_lot::Mutex;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which key the fake signs its answers and notifications with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMode {
    /// WeChat Pay public key (`Wechatpay-Serial: PUB_KEY_ID_…`).
    PublicKey,
    /// Platform certificate (`Wechatpay-Serial: <certificate serial>`).
    PlatformCert,
    /// A migration period: alternates between the two, message by message.
    Mixed,
}

/// How to spoil a notification (everything except `None` must be refused by the merchant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// A genuine notification.
    None,
    /// Signed by a key that is not WeChat Pay's, with a genuine serial.
    ForgedSignature,
    /// Genuinely signed, then the body changed.
    TamperedBody,
    /// Genuinely signed with a timestamp ten minutes old.
    StaleTimestamp,
    /// A `WECHATPAY/SIGNTEST/` probe.
    SignTest,
    /// Signed with a serial nobody knows.
    UnknownSerial,
    /// No `Wechatpay-*` headers at all.
    Unsigned,
    /// Genuinely signed, but the resource is encrypted with another APIv3 key.
    WrongApiV3Key,
    /// Genuine (signed and encrypted) but the amount differs from the order: an anomaly.
    WrongAmount(i64),
    /// Genuine but for another appid: an anomaly.
    WrongAppid,
    /// Genuine but for another merchant id: an anomaly.
    WrongMchid,
}

/// How to send a notification.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// How to spoil it.
    pub tamper: Tamper,
    /// Copies sent at the same moment (duplicates).
    pub copies: usize,
    /// Further attempts after a non-2xx answer (WeChat Pay retries).
    pub retries: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            tamper: Tamper::None,
            copies: 1,
            retries: 3,
            retry_delay: Duration::from_millis(50),
        }
    }
}

impl NotifyOptions {
    /// A tampered notification, sent once without retries.
    pub fn tampered(tamper: Tamper) -> Self {
        NotifyOptions {
            tamper,
            copies: 1,
            retries: 0,
            ..Default::default()
        }
    }
    /// `n` identical genuine copies at once, no retries.
    pub fn duplicates(n: usize) -> Self {
        NotifyOptions {
            copies: n,
            retries: 0,
            ..Default::default()
        }
    }
}

/// One delivery attempt of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The merchant's HTTP status (0 when the connection failed).
    pub status: u16,
    /// The merchant's answer body.
    pub body: String,
}

impl Delivery {
    /// Whether WeChat Pay would count it as acknowledged (2xx).
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// Whether the merchant signature checked out.
    pub signature_ok: bool,
}

/// Key files written for a Minibase config (see [`FakeWechatPay::configure`]).
#[derive(Debug, Clone)]
pub struct FakePayFiles {
    /// `apiclient_key.pem` (PKCS#8).
    pub merchant_key_file: PathBuf,
    /// The WeChat Pay public key PEM.
    pub public_key_file: PathBuf,
}

struct PlatformCert {
    serial: String,
    key: RsaPrivateKey,
    pem: String,
    effective_time: String,
    expire_time: String,
}

#[derive(Debug, Clone)]
struct Order {
    appid: String,
    mchid: String,
    out_trade_no: String,
    description: String,
    total: i64,
    openid: String,
    attach: Option<String>,
    notify_url: String,
    prepay_id: String,
    state: String,
    transaction_id: Option<String>,
    success_time: Option<String>,
}

#[derive(Debug, Clone)]
struct RefundRec {
    refund_id: String,
    out_refund_no: String,
    out_trade_no: String,
    transaction_id: String,
    refund: i64,
    total: i64,
    status: String,
    notify_url: Option<String>,
    reason: Option<String>,
    success_time: Option<String>,
    create_time: String,
}

#[derive(Debug, Clone, Default)]
struct Behaviour {
    fail_next: u32,
    unsigned_answers: bool,
    signtest_answers: bool,
    forged_answers: bool,
    delay: Duration,
    drop_notifications: bool,
    manual_refunds: bool,
    certificates_unavailable: bool,
    notify_redirect: Option<String>,
}

struct State {
    mchid: String,
    appid: String,
    merchant_serial: String,
    merchant_public: RsaPublicKey,
    apiv3_key: String,
    public_key_id: String,
    public_key: RsaPrivateKey,
    platform: Mutex<Vec<PlatformCert>>,
    mode: Mutex<SignMode>,
    counter: AtomicU64,
    orders: Mutex<HashMap<String, Order>>,
    refunds: Mutex<HashMap<String, RefundRec>>,
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<RecordedRequest>>,
    http: reqwest::Client,
}

/// The fake server. Dropping it stops it.
pub struct FakeWechatPay {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWechatPay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- keys ------------------------------------------------------------------------------------

/// RSA-2048 keys generated once per test process: 0 merchant, 1 WeChat Pay public key,
/// 2.. platform certificates, and a separate forger key.
fn pool_key(i: usize) -> RsaPrivateKey {
    static POOL: OnceLock<Mutex<Vec<RsaPrivateKey>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| Mutex::new(Vec::new()));
    let mut keys = pool.lock();
    while keys.len() <= i {
        keys.push(RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation"));
    }
    keys[i].clone()
}

fn forger_key() -> RsaPrivateKey {
    static K: OnceLock<RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation"))
        .clone()
}

fn sign_b64(key: &RsaPrivateKey, msg: &[u8]) -> String {
    let sig: Signature = SigningKey::<Sha256>::new(key.clone()).sign(msg);
    B64.encode(sig.to_bytes())
}

fn rand_alnum(n: usize) -> String {
    mb_core::ids::random_alnum(n)
}

fn rand_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn now_secs() -> i64 {
    mb_core::now_ms() / 1000
}

fn beijing_now() -> String {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    chrono::Utc::now()
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn aead_encrypt(key: &[u8], nonce: &str, aad: &str, plain: &[u8]) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let out = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("encrypt");
    B64.encode(out)
}

fn make_platform_cert(key: RsaPrivateKey) -> PlatformCert {
    let mut serial_bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut serial_bytes);
    serial_bytes[0] = (serial_bytes[0] & 0x7f) | 0x10; // positive, no leading zero byte
    let serial: String = serial_bytes.iter().map(|b| format!("{b:02X}")).collect();
    let pem8 = key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem8, &rcgen::PKCS_RSA_SHA256)
        .expect("rcgen key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Tenpay.com Root CA fake platform certificate",
    );
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial_bytes));
    use chrono::Datelike;
    let year = chrono::Utc::now().year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
    let cert = params
        .self_signed(&kp)
        .expect("self-signed platform certificate");
    PlatformCert {
        serial,
        key,
        pem: cert.pem(),
        effective_time: format!("{}-01-01T00:00:00+08:00", year - 1),
        expire_time: format!("{}-01-01T00:00:00+08:00", year + 5),
    }
}

// ---- the server ------------------------------------------------------------------------------

impl FakeWechatPay {
    /// Starts a fake signing in `mode`, on a random loopback port.
    pub async fn start(mode: SignMode) -> FakeWechatPay {
        let merchant = pool_key(0);
        let state = Arc::new(State {
            mchid: format!("19{}", rand_digits(8)),
            appid: format!("wx{}", mb_core::ids::random_hex(8)),
            merchant_serial: mb_core::ids::random_hex(20).to_uppercase(),
            merchant_public: merchant.to_public_key(),
            apiv3_key: rand_alnum(32),
            public_key_id: format!("PUB_KEY_ID_01{}", rand_digits(30)),
            public_key: pool_key(1),
            platform: Mutex::new(vec![make_platform_cert(pool_key(2))]),
            mode: Mutex::new(mode),
            counter: AtomicU64::new(0),
            orders: Mutex::new(HashMap::new()),
            refunds: Mutex::new(HashMap::new()),
            behaviour: Mutex::new(Behaviour::default()),
            requests: Mutex::new(Vec::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake wechat pay");
        let addr = listener.local_addr().expect("addr");
        let st = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let st = st.clone();
                async move { handle(st, method, uri, headers, body).await }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWechatPay { addr, state, task }
    }

    /// The API base to configure (`wechat_pay.api_base`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Merchant id.
    pub fn mchid(&self) -> &str {
        &self.state.mchid
    }
    /// The appid orders must be for.
    pub fn appid(&self) -> &str {
        &self.state.appid
    }
    /// The merchant certificate serial the fake expects in `Authorization`.
    pub fn merchant_serial(&self) -> &str {
        &self.state.merchant_serial
    }
    /// The merchant private key, PKCS#8 PEM (`apiclient_key.pem`).
    pub fn merchant_key_pem(&self) -> String {
        pool_key(0)
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string()
    }
    /// The merchant private key, PKCS#1 PEM (older tools).
    pub fn merchant_key_pem_pkcs1(&self) -> String {
        pool_key(0)
            .to_pkcs1_pem(LineEnding::LF)
            .expect("pem")
            .to_string()
    }
    /// The merchant public key (what WeChat Pay checks `paySign` with).
    pub fn merchant_public_key(&self) -> RsaPublicKey {
        self.state.merchant_public.clone()
    }
    /// The APIv3 key (32 characters).
    pub fn apiv3_key(&self) -> &str {
        &self.state.apiv3_key
    }
    /// `PUB_KEY_ID_…`.
    pub fn public_key_id(&self) -> &str {
        &self.state.public_key_id
    }
    /// The WeChat Pay public key PEM (SPKI).
    pub fn public_key_pem(&self) -> String {
        self.state
            .public_key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }
    /// Serials of the platform certificates served (current signer first).
    pub fn platform_serials(&self) -> Vec<String> {
        self.state
            .platform
            .lock()
            .iter()
            .map(|c| c.serial.clone())
            .collect()
    }

    /// Writes the key files into `dir` and fills `cfg.wechat_pay` for this fake: public-key
    /// mode sets `public_key_id/file` and turns `platform_certs` off, platform-certificate mode
    /// the reverse, mixed mode both.
    pub fn configure(
        &self,
        cfg: &mut config::Config,
        dir: &Path,
        notify_url: &str,
    ) -> FakePayFiles {
        std::fs::create_dir_all(dir).expect("key dir");
        let files = FakePayFiles {
            merchant_key_file: dir.join("apiclient_key.pem"),
            public_key_file: dir.join("pub_key.pem"),
        };
        std::fs::write(&files.merchant_key_file, self.merchant_key_pem()).expect("write key");
        std::fs::write(&files.public_key_file, self.public_key_pem()).expect("write key");
        let p = &mut cfg.wechat_pay;
        p.mchid = self.mchid().into();
        p.appid = self.appid().into();
        p.api_base = self.url();
        p.merchant_serial_no = self.merchant_serial().into();
        p.merchant_key_file = files.merchant_key_file.clone();
        p.apiv3_key = config::Secret::new(self.apiv3_key());
        p.notify_url = notify_url.into();
        let mode = *self.state.mode.lock();
        let (pk, certs) = match mode {
            SignMode::PublicKey => (true, false),
            SignMode::PlatformCert => (false, true),
            SignMode::Mixed => (true, true),
        };
        if pk {
            p.public_key_id = self.public_key_id().into();
            p.public_key_file = files.public_key_file.clone();
        } else {
            p.public_key_id = String::new();
            p.public_key_file = PathBuf::new();
        }
        p.platform_certs = certs;
        files
    }

    // ---- behaviour knobs ----

    /// Switches the signing mode.
    pub fn set_mode(&self, mode: SignMode) {
        *self.state.mode.lock() = mode;
    }
    /// The next `n` requests get 500 `SYSTEM_ERROR` (to test retries).
    pub fn fail_next(&self, n: u32) {
        self.state.behaviour.lock().fail_next = n;
    }
    /// 2xx answers without any `Wechatpay-*` header.
    pub fn set_unsigned_answers(&self, on: bool) {
        self.state.behaviour.lock().unsigned_answers = on;
    }
    /// 2xx answers carrying a `WECHATPAY/SIGNTEST/` probe signature.
    pub fn set_signtest_answers(&self, on: bool) {
        self.state.behaviour.lock().signtest_answers = on;
    }
    /// Answers signed by a key that is not WeChat Pay's (genuine serial).
    pub fn set_forged_answers(&self, on: bool) {
        self.state.behaviour.lock().forged_answers = on;
    }
    /// Wait this long before answering (to test timeouts).
    pub fn set_delay(&self, d: Duration) {
        self.state.behaviour.lock().delay = d;
    }
    /// Payments no longer notify the merchant (a lost notification).
    pub fn set_drop_notifications(&self, on: bool) {
        self.state.behaviour.lock().drop_notifications = on;
    }
    /// Refunds stay PROCESSING until [`FakeWechatPay::complete_refund`].
    pub fn set_manual_refunds(&self, on: bool) {
        self.state.behaviour.lock().manual_refunds = on;
    }
    /// `/v3/certificates` answers 404 (a merchant in public-key mode only).
    pub fn set_certificates_unavailable(&self, on: bool) {
        self.state.behaviour.lock().certificates_unavailable = on;
    }
    /// Deliver notifications to this origin (`http://127.0.0.1:1234`) instead of the notify
    /// URL's own, keeping its path and query (the merchant's port is chosen after the config).
    pub fn redirect_notifications_to(&self, origin: &str) {
        self.state.behaviour.lock().notify_redirect =
            Some(origin.trim_end_matches('/').to_string());
    }
    /// Issues a new platform certificate and signs with it from now on (the old one is still
    /// listed, as during WeChat Pay's certificate rotation).
    pub fn rotate_platform_cert(&self) -> String {
        let n = self.state.platform.lock().len();
        let cert = make_platform_cert(pool_key(2 + n));
        let serial = cert.serial.clone();
        self.state.platform.lock().insert(0, cert);
        serial
    }

    // ---- inspection ----

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().clone()
    }
    /// How many requests failed the merchant signature check.
    pub fn bad_signatures(&self) -> usize {
        self.state
            .requests
            .lock()
            .iter()
            .filter(|r| !r.signature_ok)
            .count()
    }
    /// The fake's view of an order, as its query would answer (without signing).
    pub fn order(&self, out_trade_no: &str) -> Option<Value> {
        self.state
            .orders
            .lock()
            .get(out_trade_no)
            .map(transaction_json)
    }
    /// The `prepay_id` of an order.
    pub fn prepay_id(&self, out_trade_no: &str) -> Option<String> {
        self.state
            .orders
            .lock()
            .get(out_trade_no)
            .map(|o| o.prepay_id.clone())
    }
    /// The fake's view of a refund.
    pub fn refund(&self, out_refund_no: &str) -> Option<Value> {
        self.state
            .refunds
            .lock()
            .get(out_refund_no)
            .map(refund_json)
    }

    // ---- what the payer and WeChat Pay do ----

    /// The payer pays: the order becomes SUCCESS and, unless notifications are dropped, a
    /// `TRANSACTION.SUCCESS` notification is delivered (retried on failure). Returns the
    /// delivery attempts (empty when dropped).
    pub async fn pay(&self, out_trade_no: &str) -> Vec<Delivery> {
        {
            let mut orders = self.state.orders.lock();
            let o = orders.get_mut(out_trade_no).expect("fake: no such order");
            assert_eq!(
                o.state, "NOTPAY",
                "fake: order {out_trade_no} is {} and cannot be paid",
                o.state
            );
            o.state = "SUCCESS".into();
            o.transaction_id = Some(format!("42000{}", rand_digits(23)));
            o.success_time = Some(beijing_now());
        }
        if self.state.behaviour.lock().drop_notifications {
            return Vec::new();
        }
        self.notify_payment(out_trade_no, NotifyOptions::default())
            .await
    }

    /// The payer's payment fails (PAYERROR), without a notification (WeChat Pay only notifies
    /// successes).
    pub fn fail_payment(&self, out_trade_no: &str) {
        let mut orders = self.state.orders.lock();
        let o = orders.get_mut(out_trade_no).expect("fake: no such order");
        o.state = "PAYERROR".into();
    }

    /// Sends the order's `TRANSACTION.SUCCESS` notification (the order must be paid unless the
    /// notification is tampered) with the given options.
    pub async fn notify_payment(&self, out_trade_no: &str, opts: NotifyOptions) -> Vec<Delivery> {
        let (mut resource, url) = {
            let orders = self.state.orders.lock();
            let o = orders.get(out_trade_no).expect("fake: no such order");
            (transaction_json(o), o.notify_url.clone())
        };
        match &opts.tamper {
            Tamper::WrongAmount(t) => {
                resource["amount"]["total"] = json!(t);
                resource["amount"]["payer_total"] = json!(t);
            }
            Tamper::WrongAppid => resource["appid"] = json!("wx0000000000000000"),
            Tamper::WrongMchid => resource["mchid"] = json!("1900000000"),
            _ => {}
        }
        self.deliver(
            &url,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &resource,
            &opts,
        )
        .await
    }

    /// Completes a PROCESSING refund (SUCCESS) and notifies its notify URL.
    pub async fn complete_refund(&self, out_refund_no: &str) -> Vec<Delivery> {
        complete_refund(&self.state, out_refund_no).await
    }

    /// Sends a refund's `REFUND.<status>` notification with the given options.
    pub async fn notify_refund(&self, out_refund_no: &str, opts: NotifyOptions) -> Vec<Delivery> {
        notify_refund(&self.state, out_refund_no, &opts).await
    }

    async fn deliver(
        &self,
        url: &str,
        event_type: &str,
        summary: &str,
        original_type: &str,
        resource: &Value,
        opts: &NotifyOptions,
    ) -> Vec<Delivery> {
        deliver(
            &self.state,
            url,
            event_type,
            summary,
            original_type,
            resource,
            opts,
        )
        .await
    }
}

async fn complete_refund(state: &Arc<State>, out_refund_no: &str) -> Vec<Delivery> {
    {
        let mut refunds = state.refunds.lock();
        let r = refunds
            .get_mut(out_refund_no)
            .expect("fake: no such refund");
        if r.status != "PROCESSING" {
            return Vec::new();
        }
        r.status = "SUCCESS".into();
        r.success_time = Some(beijing_now());
        let out_trade_no = r.out_trade_no.clone();
        drop(refunds);
        if let Some(o) = state.orders.lock().get_mut(&out_trade_no) {
            o.state = "REFUND".into();
        }
    }
    if state.behaviour.lock().drop_notifications {
        return Vec::new();
    }
    notify_refund(state, out_refund_no, &NotifyOptions::default()).await
}

async fn notify_refund(
    state: &Arc<State>,
    out_refund_no: &str,
    opts: &NotifyOptions,
) -> Vec<Delivery> {
    let (r, url) = {
        let refunds = state.refunds.lock();
        let r = refunds
            .get(out_refund_no)
            .expect("fake: no such refund")
            .clone();
        let url = r.notify_url.clone();
        (r, url)
    };
    let Some(url) = url else { return Vec::new() };
    let mut resource = json!({
        "mchid": state.mchid,
        "out_trade_no": r.out_trade_no,
        "transaction_id": r.transaction_id,
        "out_refund_no": r.out_refund_no,
        "refund_id": r.refund_id,
        "refund_status": r.status,
        "user_received_account": "支付用户零钱",
        "amount": {"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund},
    });
    if let Some(t) = &r.success_time {
        resource["success_time"] = json!(t);
    }
    match &opts.tamper {
        Tamper::WrongAmount(t) => {
            resource["amount"]["refund"] = json!(t);
            resource["amount"]["payer_refund"] = json!(t);
        }
        Tamper::WrongMchid => resource["mchid"] = json!("1900000000"),
        _ => {}
    }
    let summary = if r.status == "SUCCESS" {
        "退款成功"
    } else {
        "退款状态变更"
    };
    deliver(
        state,
        &url,
        &format!("REFUND.{}", r.status),
        summary,
        "refund",
        &resource,
        opts,
    )
    .await
}

async fn deliver(
    state: &Arc<State>,
    url: &str,
    event_type: &str,
    summary: &str,
    original_type: &str,
    resource: &Value,
    opts: &NotifyOptions,
) -> Vec<Delivery> {
    let url = match &state.behaviour.lock().notify_redirect {
        Some(origin) => match url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(path_start) => format!("{origin}{}", &url[path_start..]),
            None => origin.clone(),
        },
        None => url.to_string(),
    };
    let key = if opts.tamper == Tamper::WrongApiV3Key {
        rand_alnum(32)
    } else {
        state.apiv3_key.clone()
    };
    let nonce = rand_alnum(12);
    let ciphertext = aead_encrypt(
        key.as_bytes(),
        &nonce,
        original_type,
        resource.to_string().as_bytes(),
    );
    let body = json!({
        "id": format!("EV-{}", mb_core::ids::random_hex(12)),
        "create_time": beijing_now(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": original_type,
            "nonce": nonce,
        },
    })
    .to_string();
    let mut all = Vec::new();
    let mut attempt = 0;
    loop {
        // each attempt is signed afresh (new timestamp and nonce), copies share one signature
        let (headers, sent_body) = notification_headers(state, &body, &opts.tamper);
        let mut set = tokio::task::JoinSet::new();
        let barrier = Arc::new(tokio::sync::Barrier::new(opts.copies.max(1)));
        for _ in 0..opts.copies.max(1) {
            let req = state
                .http
                .post(&url)
                .headers(headers.clone())
                .body(sent_body.clone());
            let barrier = barrier.clone();
            set.spawn(async move {
                barrier.wait().await;
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        Delivery {
                            status,
                            body: resp.text().await.unwrap_or_default(),
                        }
                    }
                    Err(e) => Delivery {
                        status: 0,
                        body: e.to_string(),
                    },
                }
            });
        }
        let mut round = Vec::new();
        while let Some(r) = set.join_next().await {
            round.push(r.expect("delivery task"));
        }
        let acknowledged = round.iter().any(Delivery::ok);
        all.extend(round);
        if acknowledged || attempt >= opts.retries {
            return all;
        }
        attempt += 1;
        tokio::time::sleep(opts.retry_delay).await;
    }
}

fn notification_headers(
    state: &State,
    body: &str,
    tamper: &Tamper,
) -> (reqwest::header::HeaderMap, String) {
    let mut ts = now_secs();
    if *tamper == Tamper::StaleTimestamp {
        ts -= 600;
    }
    let nonce = rand_alnum(32);
    let (serial, key) = answer_signer(state);
    let msg = format!("{ts}\n{nonce}\n{body}\n");
    let mut signature = match tamper {
        Tamper::ForgedSignature => sign_b64(&forger_key(), msg.as_bytes()),
        _ => sign_b64(&key, msg.as_bytes()),
    };
    let mut serial = serial;
    let mut sent = body.to_string();
    match tamper {
        Tamper::SignTest => signature = format!("WECHATPAY/SIGNTEST/{signature}"),
        Tamper::UnknownSerial => serial = mb_core::ids::random_hex(20).to_uppercase(),
        Tamper::TamperedBody => sent = body.replacen("\"summary\":\"", "\"summary\":\"x", 1),
        _ => {}
    }
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if *tamper != Tamper::Unsigned {
        h.insert(
            "wechatpay-serial",
            HeaderValue::from_str(&serial).expect("serial"),
        );
        h.insert(
            "wechatpay-signature",
            HeaderValue::from_str(&signature).expect("signature"),
        );
        h.insert(
            "wechatpay-timestamp",
            HeaderValue::from_str(&ts.to_string()).expect("ts"),
        );
        h.insert(
            "wechatpay-nonce",
            HeaderValue::from_str(&nonce).expect("nonce"),
        );
        h.insert(
            "wechatpay-signature-type",
            HeaderValue::from_static("WECHATPAY2-SHA256-RSA2048"),
        );
    }
    (h, sent)
}

/// The serial and key the next signed message uses.
fn answer_signer(state: &State) -> (String, RsaPrivateKey) {
    let mode = *state.mode.lock();
    let use_pk = match mode {
        SignMode::PublicKey => true,
        SignMode::PlatformCert => false,
        SignMode::Mixed => state.counter.fetch_add(1, Ordering::Relaxed) % 2 == 0,
    };
    if use_pk {
        (state.public_key_id.clone(), state.public_key.clone())
    } else {
        let certs = state.platform.lock();
        (certs[0].serial.clone(), certs[0].key.clone())
    }
}

fn transaction_json(o: &Order) -> Value {
    let desc = match o.state.as_str() {
        "SUCCESS" => "支付成功",
        "REFUND" => "转入退款",
        "CLOSED" => "已关闭",
        "PAYERROR" => "支付失败",
        _ => "订单未支付",
    };
    let mut v = json!({
        "appid": o.appid,
        "mchid": o.mchid,
        "out_trade_no": o.out_trade_no,
        "trade_type": "JSAPI",
        "trade_state": o.state,
        "trade_state_desc": desc,
        "attach": o.attach.clone().unwrap_or_default(),
        "payer": {"openid": o.openid},
        "amount": {"total": o.total, "currency": "CNY", "payer_currency": "CNY"},
    });
    if let Some(t) = &o.transaction_id {
        v["transaction_id"] = json!(t);
        v["bank_type"] = json!("OTHERS");
        v["amount"]["payer_total"] = json!(o.total);
    }
    if let Some(t) = &o.success_time {
        v["success_time"] = json!(t);
    }
    v
}

fn refund_json(r: &RefundRec) -> Value {
    let mut v = json!({
        "refund_id": r.refund_id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": r.create_time,
        "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund,
            "settlement_refund": r.refund, "settlement_total": r.total, "discount_refund": 0, "currency": "CNY"
        },
    });
    if let Some(t) = &r.success_time {
        v["success_time"] = json!(t);
    }
    if let Some(reason) = &r.reason {
        v["reason"] = json!(reason);
    }
    v
}

// ---- request handling ----

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"code": code, "message": message}))
}

/// Parses `WECHATPAY2-SHA256-RSA2048 k="v",…` into its fields.
fn parse_authorization(h: &str) -> Option<HashMap<String, String>> {
    let rest = h.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut out = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        out.insert(k.to_string(), v.to_string());
    }
    Some(out)
}

fn check_signature(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let f = parse_authorization(auth).ok_or("Authorization is not WECHATPAY2-SHA256-RSA2048")?;
    let get = |k: &str| {
        f.get(k)
            .cloned()
            .ok_or_else(|| format!("Authorization lacks {k}"))
    };
    if get("mchid")? != state.mchid {
        return Err("mchid does not match".into());
    }
    if get("serial_no")? != state.merchant_serial {
        return Err("serial_no is not the merchant certificate's".into());
    }
    let ts: i64 = get("timestamp")?.parse().map_err(|_| "bad timestamp")?;
    if (now_secs() - ts).abs() > 300 {
        return Err("timestamp expired".into());
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let body = std::str::from_utf8(body).map_err(|_| "body is not UTF-8")?;
    let msg = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        method.as_str(),
        path,
        ts,
        get("nonce_str")?,
        body
    );
    let sig = B64
        .decode(get("signature")?)
        .map_err(|_| "signature is not base64")?;
    let sig = Signature::try_from(sig.as_slice()).map_err(|_| "bad signature")?;
    VerifyingKey::<Sha256>::new(state.merchant_public.clone())
        .verify(msg.as_bytes(), &sig)
        .map_err(|_| "signature does not verify with the merchant public key".to_string())
}

async fn handle(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behaviour = state.behaviour.lock().clone();
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    let sig = check_signature(&state, &method, &uri, &headers, &body);
    state.requests.lock().push(RecordedRequest {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        signature_ok: sig.is_ok(),
    });
    let (status, answer) = if let Err(why) = sig {
        error(
            StatusCode::UNAUTHORIZED,
            "SIGN_ERROR",
            &format!("签名错误: {why}"),
        )
    } else if behaviour.fail_next > 0 {
        state.behaviour.lock().fail_next -= 1;
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
        )
    } else {
        route(&state, &method, &uri, &body).await
    };
    signed_response(&state, &behaviour, status, answer)
}

fn signed_response(
    state: &State,
    behaviour: &Behaviour,
    status: StatusCode,
    answer: Value,
) -> Response {
    let body = if status == StatusCode::NO_CONTENT {
        String::new()
    } else {
        answer.to_string()
    };
    let mut resp = (status, body.clone()).into_response();
    let h = resp.headers_mut();
    if !body.is_empty() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    h.insert(
        "request-id",
        HeaderValue::from_str(&mb_core::ids::random_hex(16)).expect("id"),
    );
    if behaviour.unsigned_answers && status.is_success() {
        return resp;
    }
    let ts = now_secs();
    let nonce = rand_alnum(32);
    let (serial, key) = answer_signer(state);
    let msg = format!("{ts}\n{nonce}\n{body}\n");
    let mut signature = if behaviour.forged_answers {
        sign_b64(&forger_key(), msg.as_bytes())
    } else {
        sign_b64(&key, msg.as_bytes())
    };
    if behaviour.signtest_answers {
        signature = format!("WECHATPAY/SIGNTEST/{signature}");
    }
    h.insert(
        "wechatpay-serial",
        HeaderValue::from_str(&serial).expect("serial"),
    );
    h.insert(
        "wechatpay-signature",
        HeaderValue::from_str(&signature).expect("sig"),
    );
    h.insert(
        "wechatpay-timestamp",
        HeaderValue::from_str(&ts.to_string()).expect("ts"),
    );
    h.insert(
        "wechatpay-nonce",
        HeaderValue::from_str(&nonce).expect("nonce"),
    );
    resp
}

async fn route(state: &Arc<State>, method: &Method, uri: &Uri, body: &[u8]) -> (StatusCode, Value) {
    let path = uri.path();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let json_body = || -> Result<Value, (StatusCode, Value)> {
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "请求体不是合法的JSON对象",
                )
            })
    };
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), seg.as_slice()) {
        ("POST", ["v3", "pay", "transactions", "jsapi"]) => match json_body() {
            Ok(b) => jsapi(state, &b),
            Err(e) => e,
        },
        ("GET", ["v3", "pay", "transactions", "out-trade-no", no]) => {
            if query.get("mchid").map(String::as_str) != Some(state.mchid.as_str()) {
                error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数错误")
            } else {
                match state.orders.lock().get(&decode(no)) {
                    Some(o) => (StatusCode::OK, transaction_json(o)),
                    None => error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
                }
            }
        }
        ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "close"]) => match json_body() {
            Ok(b) if b["mchid"] != json!(state.mchid) => {
                error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid 参数错误")
            }
            Ok(_) => {
                let mut orders = state.orders.lock();
                match orders.get_mut(&decode(no)) {
                    None => error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
                    Some(o) if o.state == "SUCCESS" || o.state == "REFUND" => {
                        error(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付")
                    }
                    Some(o) => {
                        o.state = "CLOSED".into();
                        (StatusCode::NO_CONTENT, Value::Null)
                    }
                }
            }
            Err(e) => e,
        },
        ("POST", ["v3", "refund", "domestic", "refunds"]) => match json_body() {
            Ok(b) => refund(state, &b),
            Err(e) => e,
        },
        ("GET", ["v3", "refund", "domestic", "refunds", no]) => {
            match state.refunds.lock().get(&decode(no)) {
                Some(r) => (StatusCode::OK, refund_json(r)),
                None => error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在"),
            }
        }
        ("GET", ["v3", "certificates"]) => certificates(state),
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "接口不存在"),
    }
}

fn decode(seg: &str) -> String {
    // order numbers may carry `|` and `*`, which clients percent-encode
    let mut out = Vec::new();
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&seg[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_no(s: &str, min: usize, max: usize, extra: &[u8]) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

fn jsapi(state: &Arc<State>, b: &Value) -> (StatusCode, Value) {
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (appid, mchid, description, out_trade_no, notify_url) = (
        s("appid"),
        s("mchid"),
        s("description"),
        s("out_trade_no"),
        s("notify_url"),
    );
    let openid = b
        .pointer("/payer/openid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let total = b.pointer("/amount/total").and_then(Value::as_i64);
    if appid.is_empty()
        || mchid.is_empty()
        || description.is_empty()
        || out_trade_no.is_empty()
        || notify_url.is_empty()
    {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "缺少必填参数");
    }
    if mchid != state.mchid || appid != state.appid {
        return error(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        );
    }
    if description.chars().count() > 127 {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "description 超长");
    }
    if !valid_no(&out_trade_no, 6, 32, b"_-|*") {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "out_trade_no 格式错误",
        );
    }
    if !(notify_url.starts_with("https://") || notify_url.starts_with("http://")) {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "notify_url 格式错误",
        );
    }
    let Some(total) = total.filter(|t| *t > 0) else {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "amount.total 必须为正整数",
        );
    };
    if b.pointer("/amount/currency")
        .and_then(Value::as_str)
        .unwrap_or("CNY")
        != "CNY"
    {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "currency 只支持 CNY",
        );
    }
    if openid.is_empty() {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "payer.openid 必填");
    }
    if let Some(t) = b.get("time_expire").and_then(Value::as_str) {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            return error(
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "time_expire 格式错误",
            );
        }
    }
    let attach = b.get("attach").and_then(Value::as_str).map(str::to_string);
    if attach.as_ref().is_some_and(|a| a.chars().count() > 128) {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "attach 超长");
    }
    let mut orders = state.orders.lock();
    if let Some(o) = orders.get(&out_trade_no) {
        return match o.state.as_str() {
            "SUCCESS" | "REFUND" => error(StatusCode::FORBIDDEN, "ORDERPAID", "该订单已支付"),
            "CLOSED" => error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭"),
            _ if o.total != total || o.description != description || o.openid != openid => {
                error(StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED", "商户订单号重复")
            }
            _ => (StatusCode::OK, json!({"prepay_id": o.prepay_id})),
        };
    }
    let prepay_id = format!(
        "wx{}{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        mb_core::ids::random_hex(10)
    );
    orders.insert(
        out_trade_no.clone(),
        Order {
            appid,
            mchid,
            out_trade_no,
            description,
            total,
            openid,
            attach,
            notify_url,
            prepay_id: prepay_id.clone(),
            state: "NOTPAY".into(),
            transaction_id: None,
            success_time: None,
        },
    );
    (StatusCode::OK, json!({"prepay_id": prepay_id}))
}

fn refund(state: &Arc<State>, b: &Value) -> (StatusCode, Value) {
    let out_trade_no = b
        .get("out_trade_no")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let out_refund_no = b
        .get("out_refund_no")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let refund = b.pointer("/amount/refund").and_then(Value::as_i64);
    let total = b.pointer("/amount/total").and_then(Value::as_i64);
    if out_trade_no.is_empty() || !valid_no(&out_refund_no, 1, 64, b"_-|*@") {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "out_trade_no / out_refund_no 参数错误",
        );
    }
    let (Some(refund), Some(total)) = (refund.filter(|r| *r > 0), total) else {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "amount.refund / amount.total 必须为正整数",
        );
    };
    if b.pointer("/amount/currency").and_then(Value::as_str) != Some("CNY") {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "amount.currency 必填 CNY",
        );
    }
    let order = match state.orders.lock().get(&out_trade_no) {
        Some(o) => o.clone(),
        None => return error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在"),
    };
    if !(order.state == "SUCCESS" || order.state == "REFUND") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "订单未支付，不能退款",
        );
    }
    if total != order.total {
        return error(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "订单金额与原订单不一致",
        );
    }
    let mut refunds = state.refunds.lock();
    if let Some(r) = refunds.get(&out_refund_no) {
        return if r.out_trade_no == out_trade_no && r.refund == refund {
            (StatusCode::OK, refund_json(r))
        } else {
            error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "退款单号重复")
        };
    }
    let already: i64 = refunds
        .values()
        .filter(|r| r.out_trade_no == out_trade_no && r.status != "CLOSED")
        .map(|r| r.refund)
        .sum();
    if already + refund > order.total {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "申请退款金额超过订单可退金额",
        );
    }
    let rec = RefundRec {
        refund_id: format!("50{}", rand_digits(27)),
        out_refund_no: out_refund_no.clone(),
        out_trade_no,
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        refund,
        total,
        status: "PROCESSING".into(),
        notify_url: b
            .get("notify_url")
            .and_then(Value::as_str)
            .map(str::to_string),
        reason: b.get("reason").and_then(Value::as_str).map(str::to_string),
        success_time: None,
        create_time: beijing_now(),
    };
    let answer = refund_json(&rec);
    refunds.insert(out_refund_no.clone(), rec);
    drop(refunds);
    if !state.behaviour.lock().manual_refunds {
        let st = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            complete_refund(&st, &out_refund_no).await;
        });
    }
    (StatusCode::OK, answer)
}

fn certificates(state: &Arc<State>) -> (StatusCode, Value) {
    if state.behaviour.lock().certificates_unavailable {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "无可用的平台证书，请使用微信支付公钥",
        );
    }
    let data: Vec<Value> = state
        .platform
        .lock()
        .iter()
        .map(|c| {
            let nonce = rand_alnum(12);
            json!({
                "serial_no": c.serial,
                "effective_time": c.effective_time,
                "expire_time": c.expire_time,
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": nonce,
                    "associated_data": "certificate",
                    "ciphertext": aead_encrypt(state.apiv3_key.as_bytes(), &nonce, "certificate", c.pem.as_bytes()),
                },
            })
        })
        .collect();
    (StatusCode::OK, json!({"data": data}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn authorization_parsing() {
        let f = parse_authorization(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="N",timestamp="1554208460",serial_no="S",signature="a/b+c=="#,
        );
        assert!(f.is_none(), "unterminated quote refused");
        let f = parse_authorization(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="N",timestamp="1554208460",serial_no="S",signature="a/b+c==""#,
        )
        .unwrap();
        assert_eq!(f["signature"], "a/b+c==");
        assert_eq!(f["mchid"], "1900009191");
        assert!(parse_authorization("Bearer x").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("ab%7Ccd%2A"), "ab|cd*");
        assert_eq!(decode("abc%"), "abc%");
        assert_eq!(decode("abc%7"), "abc%7");
    }
}
