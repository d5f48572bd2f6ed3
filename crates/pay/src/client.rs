//! The WeChat Pay API v3 client: every request signed with the merchant key, every answer
//! verified (public-key or platform-certificate mode, chosen by `Wechatpay-Serial`), timeouts
//! from config, bounded retries of transient failures, clear errors.
//!
//! Platform certificates are fetched from `/v3/certificates`, decrypted with the APIv3 key,
//! cached, refreshed in the background every hour (WeChat Pay asks for at least every 12 h)
//! and on demand when an unknown serial shows up (at most once per `cert_min_gap`).

use crate::crypto::{ApiV3Key, MerchantKey, parse_public_key_pem};
use crate::error::PayError;
use crate::model::{
    EncryptedResource, JsapiOrder, Notification, NotificationEnvelope, NotificationResource,
    Refund, RefundRequest, Transaction, validate_out_refund_no, validate_out_trade_no,
};
use crate::sign::{RequestPayment, authorization, request_payment};
use crate::verify::{
    PlatformCert, SignedHeaders, Verifier, VerifyError, check_headers, now_secs, verify_with,
};
use serde_json::{Value, json};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The AEAD algorithm name WeChat Pay uses.
pub const AEAD_ALGORITHM: &str = "AEAD_AES_256_GCM";

/// Largest answer read from WeChat Pay.
const MAX_ANSWER: usize = 1 << 20;

/// Everything the client needs, already loaded and checked.
#[derive(Debug, Clone)]
pub struct PayOptions {
    /// Merchant id (商户号).
    pub mchid: String,
    /// The appid paid for.
    pub appid: String,
    /// API base, e.g. `https://api.mch.weixin.qq.com`.
    pub api_base: String,
    /// The merchant private key and its certificate serial.
    pub merchant_key: MerchantKey,
    /// The APIv3 key.
    pub apiv3_key: ApiV3Key,
    /// Public-key mode: `PUB_KEY_ID_…` and the WeChat Pay public key.
    pub public_key: Option<(String, rsa::RsaPublicKey)>,
    /// Platform-certificate mode: fetch `/v3/certificates`.
    pub platform_certs: bool,
    /// Payment notification URL sent with each order.
    pub notify_url: String,
    /// Refund notification URL sent with each refund.
    pub refund_notify_url: String,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// Attempts per call (1 = no retry).
    pub attempts: u32,
    /// Background certificate refresh period.
    pub cert_refresh_every: Duration,
    /// On-demand refreshes (unknown serial) at most this often.
    pub cert_min_gap: Duration,
}

impl PayOptions {
    /// Reads `[wechat_pay]` (and `wechat.appid`): `Ok(None)` when `mchid` is not set; key files
    /// are read here, so a bad key is a startup error naming the key.
    pub fn from_config(c: &config::Config) -> Result<Option<PayOptions>, PayError> {
        let p = &c.wechat_pay;
        if p.mchid.is_empty() {
            return Ok(None);
        }
        let appid = if p.appid.is_empty() {
            c.wechat.appid.clone()
        } else {
            p.appid.clone()
        };
        if appid.is_empty() {
            return Err(PayError::Config(
                "wechat_pay.appid (or wechat.appid) must be set".into(),
            ));
        }
        let pem = std::fs::read_to_string(&p.merchant_key_file).map_err(|e| {
            PayError::Config(format!(
                "wechat_pay.merchant_key_file {}: {e}",
                p.merchant_key_file.display()
            ))
        })?;
        let merchant_key = MerchantKey::from_pem(&pem, &p.merchant_serial_no)
            .map_err(|e| PayError::Config(format!("wechat_pay.merchant_key_file: {e}")))?;
        let apiv3_key = ApiV3Key::new(p.apiv3_key.expose().as_bytes())
            .map_err(|e| PayError::Config(format!("wechat_pay.apiv3_key: {e}")))?;
        let public_key = if p.public_key_id.is_empty() {
            None
        } else {
            if !p
                .public_key_id
                .starts_with(crate::verify::PUB_KEY_ID_PREFIX)
            {
                return Err(PayError::Config(
                    "wechat_pay.public_key_id must start with PUB_KEY_ID_".into(),
                ));
            }
            let pem = std::fs::read_to_string(&p.public_key_file).map_err(|e| {
                PayError::Config(format!(
                    "wechat_pay.public_key_file {}: {e}",
                    p.public_key_file.display()
                ))
            })?;
            let key = parse_public_key_pem(&pem)
                .map_err(|e| PayError::Config(format!("wechat_pay.public_key_file: {e}")))?;
            Some((p.public_key_id.clone(), key))
        };
        if public_key.is_none() && !p.platform_certs {
            return Err(PayError::Config(
                "no way to verify WeChat Pay: set public_key_id/public_key_file or platform_certs"
                    .into(),
            ));
        }
        Ok(Some(PayOptions {
            mchid: p.mchid.clone(),
            appid,
            api_base: p.api_base.trim_end_matches('/').to_string(),
            merchant_key,
            apiv3_key,
            public_key,
            platform_certs: p.platform_certs,
            notify_url: p.notify_url.clone(),
            refund_notify_url: refund_notify_url(&p.notify_url, &p.refund_notify_url),
            timeout: p.timeout.get(),
            attempts: 3,
            cert_refresh_every: Duration::from_secs(3600),
            cert_min_gap: Duration::from_secs(10),
        }))
    }
}

/// `refund_notify_url`, defaulting to `notify_url` with its last segment `notify` replaced by
/// `refund-notify` (our own route layout), else `notify_url` itself.
pub fn refund_notify_url(notify_url: &str, refund_notify_url: &str) -> String {
    if !refund_notify_url.is_empty() {
        return refund_notify_url.to_string();
    }
    match notify_url.strip_suffix("/notify") {
        Some(base) => format!("{base}/refund-notify"),
        None => notify_url.to_string(),
    }
}

/// An answer from WeChat Pay before interpretation.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

struct Inner {
    opts: PayOptions,
    http: reqwest::Client,
    verifier: Verifier,
    /// Single flight for certificate refreshes; holds when the last one ran.
    refresh: tokio::sync::Mutex<Option<Instant>>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct WechatPayClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WechatPayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatPayClient")
            .field("mchid", &self.inner.opts.mchid)
            .finish_non_exhaustive()
    }
}

impl WechatPayClient {
    /// A client; no network until the first call.
    pub fn new(opts: PayOptions) -> Result<WechatPayClient, PayError> {
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!(
                "minibase/",
                env!("CARGO_PKG_VERSION"),
                " (wechatpay-apiv3)"
            ))
            .build()
            .map_err(|e| PayError::Config(format!("http client: {e}")))?;
        let verifier = Verifier::new(opts.public_key.clone());
        Ok(WechatPayClient {
            inner: Arc::new(Inner {
                opts,
                http,
                verifier,
                refresh: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The options in use.
    pub fn options(&self) -> &PayOptions {
        &self.inner.opts
    }
    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.inner.opts.mchid
    }
    /// The appid paid for.
    pub fn appid(&self) -> &str {
        &self.inner.opts.appid
    }
    /// Serials of the platform certificates currently cached.
    pub fn platform_cert_serials(&self) -> Vec<String> {
        self.inner.verifier.cert_serials()
    }

    // ---- the API ---------------------------------------------------------------------------

    /// JSAPI prepay (`POST /v3/pay/transactions/jsapi`): the `prepay_id`.
    pub async fn jsapi_prepay(&self, o: &JsapiOrder) -> Result<String, PayError> {
        validate_out_trade_no(&o.out_trade_no).map_err(PayError::Invalid)?;
        let mut body = json!({
            "appid": self.appid(),
            "mchid": self.mchid(),
            "description": o.description,
            "out_trade_no": o.out_trade_no,
            "notify_url": self.inner.opts.notify_url,
            "amount": {"total": o.total, "currency": "CNY"},
            "payer": {"openid": o.openid},
        });
        if let Some(a) = &o.attach {
            body["attach"] = json!(a);
        }
        if let Some(t) = &o.time_expire {
            body["time_expire"] = json!(t);
        }
        let v: Value = self
            .call_json("POST", "/v3/pay/transactions/jsapi", Some(&body))
            .await?;
        v.get("prepay_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| PayError::BadMessage("the prepay answer has no prepay_id".into()))
    }

    /// The `wx.requestPayment` parameters for a prepay id (signed off the async runtime).
    pub async fn request_payment(&self, prepay_id: &str) -> Result<RequestPayment, PayError> {
        let inner = self.inner.clone();
        let prepay_id = prepay_id.to_string();
        tokio::task::spawn_blocking(move || {
            let nonce = mb_core::ids::random_alnum(32);
            request_payment(
                &inner.opts.merchant_key,
                &inner.opts.appid,
                &prepay_id,
                now_secs(),
                &nonce,
            )
        })
        .await
        .map_err(|e| PayError::Internal(format!("signing task: {e}")))
    }

    /// Queries an order by our order number.
    pub async fn query_order(&self, out_trade_no: &str) -> Result<Transaction, PayError> {
        validate_out_trade_no(out_trade_no).map_err(PayError::Invalid)?;
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            out_trade_no,
            self.mchid()
        );
        let v = self.call_json("GET", &path, None).await?;
        serde_json::from_value(v)
            .map_err(|e| PayError::BadMessage(format!("order query answer: {e}")))
    }

    /// Closes an unpaid order (idempotent at WeChat Pay).
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), PayError> {
        validate_out_trade_no(out_trade_no).map_err(PayError::Invalid)?;
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.call("POST", &path, Some(&json!({"mchid": self.mchid()})))
            .await
            .map(|_| ())
    }

    /// Requests a refund (idempotent per `out_refund_no` at WeChat Pay).
    pub async fn refund(&self, r: &RefundRequest) -> Result<Refund, PayError> {
        validate_out_trade_no(&r.out_trade_no).map_err(PayError::Invalid)?;
        validate_out_refund_no(&r.out_refund_no).map_err(PayError::Invalid)?;
        let mut body = json!({
            "out_trade_no": r.out_trade_no,
            "out_refund_no": r.out_refund_no,
            "notify_url": self.inner.opts.refund_notify_url,
            "amount": {"refund": r.refund, "total": r.total, "currency": "CNY"},
        });
        if let Some(reason) = &r.reason {
            body["reason"] = json!(reason);
        }
        let v = self
            .call_json("POST", "/v3/refund/domestic/refunds", Some(&body))
            .await?;
        serde_json::from_value(v).map_err(|e| PayError::BadMessage(format!("refund answer: {e}")))
    }

    /// Queries a refund by our refund number.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<Refund, PayError> {
        validate_out_refund_no(out_refund_no).map_err(PayError::Invalid)?;
        let v = self
            .call_json(
                "GET",
                &format!("/v3/refund/domestic/refunds/{out_refund_no}"),
                None,
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| PayError::BadMessage(format!("refund query answer: {e}")))
    }

    // ---- notifications ---------------------------------------------------------------------

    /// Verifies a notification's signature over the raw body (before anything parses it),
    /// then decrypts its resource. `Verification` errors mean "not from WeChat Pay".
    pub async fn parse_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, PayError> {
        self.verify_signed(headers, body).await?;
        let env: NotificationEnvelope = serde_json::from_slice(body)
            .map_err(|e| PayError::BadMessage(format!("notification body: {e}")))?;
        let plain = self.decrypt_resource(&env.resource)?;
        let resource = if env.event_type.starts_with("TRANSACTION.") {
            NotificationResource::Transaction(
                serde_json::from_slice(&plain)
                    .map_err(|e| PayError::BadMessage(format!("transaction resource: {e}")))?,
            )
        } else if env.event_type.starts_with("REFUND.") {
            NotificationResource::Refund(
                serde_json::from_slice(&plain)
                    .map_err(|e| PayError::BadMessage(format!("refund resource: {e}")))?,
            )
        } else {
            return Err(PayError::BadMessage(format!(
                "unknown event_type {:?}",
                env.event_type
            )));
        };
        Ok(Notification {
            id: env.id,
            event_type: env.event_type,
            resource,
        })
    }

    /// Decrypts an `encrypt-resource` with the APIv3 key.
    pub fn decrypt_resource(&self, r: &EncryptedResource) -> Result<Vec<u8>, PayError> {
        if r.algorithm != AEAD_ALGORITHM {
            return Err(PayError::BadMessage(format!(
                "unsupported resource algorithm {:?}",
                r.algorithm
            )));
        }
        self.inner
            .opts
            .apiv3_key
            .decrypt(
                &r.nonce,
                r.associated_data.as_deref().unwrap_or(""),
                &r.ciphertext,
            )
            .map_err(|e| PayError::BadMessage(e.0))
    }

    // ---- certificates ----------------------------------------------------------------------

    /// Fetches `/v3/certificates`, decrypts and caches the platform certificates; returns how
    /// many are held. The answer is verified with a key already trusted or with one of the
    /// certificates it carries (their authenticity comes from the APIv3-key encryption).
    pub async fn refresh_certificates(&self) -> Result<usize, PayError> {
        let mut last = self.inner.refresh.lock().await;
        let n = self.refresh_locked().await?;
        *last = Some(Instant::now());
        Ok(n)
    }

    async fn refresh_locked(&self) -> Result<usize, PayError> {
        let ans = self.send("GET", "/v3/certificates", None).await?;
        if !(200..300).contains(&ans.status) {
            return Err(upstream_error(&ans));
        }
        let h = SignedHeaders::from_headers(&ans.headers)
            .map_err(|e| PayError::Verification(e.to_string()))?;
        check_headers(&h, now_secs()).map_err(|e| PayError::Verification(e.to_string()))?;
        let v: Value = serde_json::from_slice(&ans.body)
            .map_err(|e| PayError::BadMessage(format!("certificates: {e}")))?;
        let mut certs = Vec::new();
        for item in v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let serial = item
                .get("serial_no")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let enc: EncryptedResource = serde_json::from_value(
                item.get("encrypt_certificate").cloned().unwrap_or_default(),
            )
            .map_err(|e| PayError::BadMessage(format!("certificate entry: {e}")))?;
            let pem = self.decrypt_resource(&enc)?;
            let pem = String::from_utf8(pem)
                .map_err(|_| PayError::BadMessage("certificate is not text".into()))?;
            let cert =
                PlatformCert::from_pem(&pem, serial).map_err(|e| PayError::BadMessage(e.0))?;
            certs.push(cert);
        }
        // the answer itself: signed by a key we trust already, or by one of these certificates
        let verified = match self.inner.verifier.verify(&h, &ans.body, now_secs()) {
            Ok(()) => true,
            Err(VerifyError::UnknownSerial(_)) => certs.iter().any(|c| {
                c.serial_no == crate::verify::normalize_serial(&h.serial)
                    && verify_with(&c.key, &h, &ans.body).is_ok()
            }),
            Err(_) => false,
        };
        if !verified {
            return Err(PayError::Verification(
                "the /v3/certificates answer is not signed by WeChat Pay".into(),
            ));
        }
        let now = now_secs();
        let fresh = certs.iter().filter(|c| c.not_after > now).count();
        self.inner.verifier.add_certs(certs, now);
        tracing::info!(certificates = fresh, serials = ?self.inner.verifier.cert_serials(), "wechat pay platform certificates refreshed");
        Ok(self.inner.verifier.cert_serials().len())
    }

    /// A refresh because an unknown serial showed up, at most once per `cert_min_gap`
    /// (concurrent callers wait for the one in flight).
    async fn refresh_on_demand(&self, serial: &str) {
        let mut last = self.inner.refresh.lock().await;
        if self.inner.verifier.knows(serial) {
            return; // another caller's refresh brought it
        }
        if let Some(t) = *last {
            if t.elapsed() < self.inner.opts.cert_min_gap {
                return;
            }
        }
        if let Err(e) = self.refresh_locked().await {
            tracing::warn!(error = %e, "wechat pay platform certificate refresh failed");
        }
        *last = Some(Instant::now());
    }

    /// Starts the background certificate refresher (platform-certificate mode only). It stops
    /// by itself once every clone of the client is dropped.
    pub fn spawn_certificate_refresher(&self) -> Option<tokio::task::JoinHandle<()>> {
        if !self.inner.opts.platform_certs {
            return None;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.opts.cert_refresh_every;
        Some(tokio::spawn(async move {
            let mut wait = Duration::ZERO;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                let client = WechatPayClient { inner };
                wait = match client.refresh_certificates().await {
                    Ok(_) => every,
                    Err(e) => {
                        tracing::warn!(error = %e, "wechat pay platform certificate refresh failed; retrying in 1 minute");
                        Duration::from_secs(60).min(every)
                    }
                };
            }
        }))
    }

    // ---- transport -------------------------------------------------------------------------

    /// Verifies a signed answer or notification, refreshing certificates once for an unknown
    /// serial.
    async fn verify_signed(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), PayError> {
        let h = SignedHeaders::from_headers(headers)
            .map_err(|e| PayError::Verification(e.to_string()))?;
        match self.inner.verifier.verify(&h, body, now_secs()) {
            Err(VerifyError::UnknownSerial(s))
                if self.inner.opts.platform_certs
                    && !s.starts_with(crate::verify::PUB_KEY_ID_PREFIX) =>
            {
                self.refresh_on_demand(&s).await;
                self.inner
                    .verifier
                    .verify(&h, body, now_secs())
                    .map_err(|e| PayError::Verification(e.to_string()))
            }
            r => r.map_err(|e| PayError::Verification(e.to_string())),
        }
    }

    /// One call: signed request, verified 2xx answer (body bytes), or the upstream's error.
    async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, PayError> {
        let ans = self.send(method, path_and_query, body).await?;
        if !(200..300).contains(&ans.status) {
            return Err(upstream_error(&ans));
        }
        self.verify_signed(&ans.headers, &ans.body).await?;
        Ok(ans.body)
    }

    async fn call_json(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, PayError> {
        let bytes = self.call(method, path_and_query, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| PayError::BadMessage(format!("answer is not JSON: {e}")))
    }

    /// Sends a signed request, retrying timeouts, connection failures, 5xx and 429 with
    /// backoff (each attempt freshly signed).
    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<RawAnswer, PayError> {
        let url = reqwest::Url::parse(&format!("{}{}", self.inner.opts.api_base, path_and_query))
            .map_err(|e| PayError::Internal(format!("bad wechat pay URL: {e}")))?;
        let signed_path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let body_text = match body {
            Some(v) => serde_json::to_string(v).map_err(|e| PayError::Internal(e.to_string()))?,
            None => String::new(),
        };
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| PayError::Internal("bad method".into()))?;
        let attempts = self.inner.opts.attempts.max(1);
        let mut last_err = PayError::Unreachable("no attempt made".into());
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * 3u64.pow(attempt - 1))).await;
            }
            let auth = {
                let inner = self.inner.clone();
                let (m, p, b) = (method.to_string(), signed_path.clone(), body_text.clone());
                tokio::task::spawn_blocking(move || {
                    let nonce = mb_core::ids::random_alnum(32);
                    authorization(
                        &inner.opts.merchant_key,
                        &inner.opts.mchid,
                        &m,
                        &p,
                        now_secs(),
                        &nonce,
                        &b,
                    )
                })
                .await
                .map_err(|e| PayError::Internal(format!("signing task: {e}")))?
            };
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header("Authorization", auth)
                .header("Accept", "application/json");
            if body.is_some() {
                req = req
                    .header("Content-Type", "application/json")
                    .body(body_text.clone());
            }
            match self.exchange(req).await {
                Ok(ans) if ans.status >= 500 || ans.status == 429 => {
                    last_err = upstream_error(&ans);
                    tracing::warn!(status = ans.status, attempt, path = %url.path(), "wechat pay answered a transient error");
                }
                Ok(ans) => return Ok(ans),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, path = %url.path(), "wechat pay call failed");
                    last_err = e;
                }
            }
        }
        Err(last_err)
    }

    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<RawAnswer, PayError> {
        let mut resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(PayError::BadMessage("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawAnswer {
            status,
            headers,
            body,
        })
    }
}

fn transport_error(e: reqwest::Error) -> PayError {
    if e.is_timeout() {
        PayError::Timeout
    } else {
        PayError::Unreachable(without_url(&e))
    }
}

/// reqwest errors print the URL; ours carries no secret, but keep messages short.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "wechat pay");
    }
    if let Some(src) = std::error::Error::source(e) {
        s = format!("{s}: {src}");
    }
    s
}

fn upstream_error(ans: &RawAnswer) -> PayError {
    let v: Value = serde_json::from_slice(&ans.body).unwrap_or(Value::Null);
    let code = v
        .get("code")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP_{}", ans.status));
    let mut message = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if message.chars().count() > 300 {
        message = message.chars().take(300).collect();
    }
    PayError::Upstream {
        status: ans.status,
        code,
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refund_notify_url_defaults() {
        assert_eq!(
            refund_notify_url("https://a.example.com/api/pay/wechat/notify", ""),
            "https://a.example.com/api/pay/wechat/refund-notify"
        );
        assert_eq!(
            refund_notify_url("https://a.example.com/pay", ""),
            "https://a.example.com/pay"
        );
        assert_eq!(
            refund_notify_url("https://a/notify", "https://b/r"),
            "https://b/r"
        );
    }

    #[test]
    fn upstream_errors_keep_the_code() {
        let ans = RawAnswer {
            status: 403,
            headers: Default::default(),
            body: br#"{"code":"ORDERPAID","message":"paid"}"#.to_vec(),
        };
        let e = upstream_error(&ans);
        assert_eq!(e.upstream_code(), Some("ORDERPAID"));
        assert_eq!(e.to_string(), "wechat pay: ORDERPAID: paid");
        let ans = RawAnswer {
            status: 502,
            headers: Default::default(),
            body: b"<html>".to_vec(),
        };
        assert_eq!(upstream_error(&ans).upstream_code(), Some("HTTP_502"));
    }
}
