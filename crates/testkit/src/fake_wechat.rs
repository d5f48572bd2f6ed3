//! A fake WeChat API server: a real HTTP server on loopback that behaves like
//! `api.weixin.qq.com` for the calls Minibase makes, so tests (and `minibase dev fake-wechat`)
//! exercise the real client over the network.
//!
//! What it does, as WeChat does:
//! - `GET /sns/jscode2session`: single-use login codes that expire (default 5 minutes);
//!   40029 for an unknown or expired code, 40163 for a reused one, 40013/40125 for a wrong
//!   AppID/AppSecret. Success answers carry no errcode at all.
//! - `POST /cgi-bin/stable_token`: normal mode returns the current token until its last 5
//!   minutes, then a new one (the old one stays valid until it expires); `force_refresh`
//!   invalidates every earlier token, at most once per 30 s (a sooner one returns the current
//!   token) and 20 times a day (then 45009); 10,000 calls a minute (then 45011).
//! - Open APIs checking `access_token` (41001 missing, 40001 invalid, 42001 expired):
//!   `wxa/business/getuserphonenumber` (single-use phone codes), `wxa/msg_sec_check` (v2;
//!   "risky" for scripted words), `wxa/media_check_async`, `cgi-bin/message/subscribe/send`
//!   (43101 unless the user granted the template), `wxa/getwxacodeunlimit` (a real PNG).
//! - The other open APIs cloud functions call (without fault scripting or counters): the old
//!   (v1) `msg_sec_check` form (87014 for risky words), subscribe-message templates
//!   (`wxaapi/newtmpl/*`, a template library kept per fake), `template/send` (the retired
//!   template messages: every form id is refused, 41028, as WeChat does now),
//!   `template/uniform_send` and `message/custom/send` (recorded, see
//!   [`FakeWechat::received`]), `getwxacode` and `createwxaqrcode` (PNGs), `generatescheme`
//!   and `generate_urllink`.
//!
//! Tests script it through [`FakeWechat`]: issue codes ([`FakeWechat::issue_code`],
//! [`FakeWechat::add_code`]), inject a fault for the next N calls of an endpoint (an errcode,
//! a delay, an HTTP status or garbage: [`FakeWechat::fail_next`]), invalidate or expire
//! tokens, and read call counters ([`FakeWechat::calls`]). The same script is reachable over
//! HTTP under `/_fake/…` for developers running it as a process.

#![allow(clippy::result_large_err)] // handlers answer early with a whole Response

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The AppID the fake answers for by default.
pub const FAKE_APPID: &str = "wxfa4e0000000c0de1";
/// The AppSecret the fake expects by default.
pub const FAKE_SECRET: &str = "fake-app-secret-0123456789abcdef";

/// The endpoints of the fake, for scripting and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /sns/jscode2session`
    Jscode2session,
    /// `POST /cgi-bin/stable_token`
    StableToken,
    /// `POST /wxa/business/getuserphonenumber`
    GetUserPhoneNumber,
    /// `POST /wxa/msg_sec_check`
    MsgSecCheck,
    /// `POST /wxa/media_check_async`
    MediaCheckAsync,
    /// `POST /cgi-bin/message/subscribe/send`
    SubscribeSend,
    /// `POST /wxa/getwxacodeunlimit`
    GetWxacodeUnlimit,
}

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Jscode2session,
        Endpoint::StableToken,
        Endpoint::GetUserPhoneNumber,
        Endpoint::MsgSecCheck,
        Endpoint::MediaCheckAsync,
        Endpoint::SubscribeSend,
        Endpoint::GetWxacodeUnlimit,
    ];
    /// A short name (`jscode2session`, `stable_token`, …) used by the `/_fake` HTTP API.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Jscode2session => "jscode2session",
            Endpoint::StableToken => "stable_token",
            Endpoint::GetUserPhoneNumber => "getuserphonenumber",
            Endpoint::MsgSecCheck => "msg_sec_check",
            Endpoint::MediaCheckAsync => "media_check_async",
            Endpoint::SubscribeSend => "subscribe_send",
            Endpoint::GetWxacodeUnlimit => "getwxacodeunlimit",
        }
    }
    /// The endpoint with this short name.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// A scripted misbehaviour for the next call(s) of an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer `{"errcode": N, "errmsg": "…"}` (HTTP 200, as WeChat does).
    Errcode(i64),
    /// Wait this long, then answer normally (client timeouts).
    Delay(Duration),
    /// Answer this HTTP status with an HTML body.
    HttpStatus(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
}

/// A user as jscode2session describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// openid under the fake's AppID.
    pub openid: String,
    /// unionid, when the fake should send one.
    pub unionid: Option<String>,
    /// The session key (base64 of 16 bytes).
    pub session_key: String,
}

/// How to start the fake.
#[derive(Debug, Clone)]
pub struct FakeWechatOptions {
    /// AppID it answers for.
    pub appid: String,
    /// AppSecret it expects.
    pub secret: String,
    /// Accept any unknown login code (still once), deriving a stable openid from it; codes
    /// written `openid:NAME` or `openid:NAME:ANYTHING` log in as `NAME`. For developers
    /// running the fake by hand, and for benchmarks.
    pub lenient: bool,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
    /// Lifetime of login and phone codes.
    pub code_ttl: Duration,
}

impl Default for FakeWechatOptions {
    fn default() -> Self {
        FakeWechatOptions {
            appid: FAKE_APPID.into(),
            secret: FAKE_SECRET.into(),
            lenient: false,
            token_ttl: Duration::from_secs(7200),
            code_ttl: Duration::from_secs(300),
        }
    }
}

struct CodeEntry {
    user: FakeUser,
    issued: Instant,
    used: bool,
}

struct PhoneEntry {
    phone: String,
    country_code: String,
    issued: Instant,
    used: bool,
}

struct TokenEntry {
    expires: Instant,
    revoked: Option<i64>,
}

#[derive(Default)]
struct Tokens {
    valid: HashMap<String, TokenEntry>,
    current: Option<String>,
    last_force: Option<Instant>,
    force_today: u32,
    minute_start: Option<Instant>,
    minute_count: u32,
}

struct Inner {
    opts: Mutex<FakeWechatOptions>,
    codes: Mutex<HashMap<String, CodeEntry>>,
    users: Mutex<HashMap<String, FakeUser>>,
    phone_codes: Mutex<HashMap<String, PhoneEntry>>,
    tokens: Mutex<Tokens>,
    faults: Mutex<HashMap<Endpoint, VecDeque<Fault>>>,
    counters: [AtomicU64; 7],
    risky_words: Mutex<HashSet<String>>,
    subscriptions: Mutex<HashMap<(String, String), u32>>,
    sent: Mutex<Vec<Value>>,
    media_checks: Mutex<Vec<Value>>,
    /// Requests to the other open APIs, by path.
    received: Mutex<Vec<(String, Value)>>,
    /// The subscribe-message template library.
    templates: Mutex<Vec<Value>>,
    minute_limit: Mutex<u32>,
    seq: AtomicU64,
}

/// The running fake. Dropping it stops the server.
pub struct FakeWechat {
    addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeWechat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWechat")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn random_token(prefix: &str, n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    let mut s = prefix.to_string();
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// A stable openid for a name: `o` + 27 characters, like WeChat's.
pub fn openid_for(name: &str) -> String {
    let h = Sha1::digest(format!("openid:{name}").as_bytes());
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h);
    format!("o{}", &b[..27])
}

impl FakeWechat {
    /// Starts the fake on `127.0.0.1:0` with the default AppID and secret.
    pub async fn start() -> FakeWechat {
        Self::start_with(FakeWechatOptions::default()).await
    }

    /// Starts the fake on `127.0.0.1:0` with these options.
    pub async fn start_with(opts: FakeWechatOptions) -> FakeWechat {
        match Self::start_on(
            "127.0.0.1:0"
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
            opts,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => panic!("fake WeChat could not bind a loopback port: {e}"),
        }
    }

    /// Starts the fake on `addr` (the `minibase dev fake-wechat` command).
    pub async fn start_on(
        addr: SocketAddr,
        opts: FakeWechatOptions,
    ) -> std::io::Result<FakeWechat> {
        let inner = Arc::new(Inner {
            opts: Mutex::new(opts),
            codes: Mutex::default(),
            users: Mutex::default(),
            phone_codes: Mutex::default(),
            tokens: Mutex::default(),
            faults: Mutex::default(),
            counters: Default::default(),
            risky_words: Mutex::new(["fake-risky-word".to_string()].into_iter().collect()),
            subscriptions: Mutex::default(),
            sent: Mutex::default(),
            media_checks: Mutex::default(),
            received: Mutex::default(),
            templates: Mutex::default(),
            minute_limit: Mutex::new(10_000),
            seq: AtomicU64::new(1),
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = router(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeWechat {
            addr,
            inner,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The base URL to put in `wechat.api_base`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The AppID it answers for.
    pub fn appid(&self) -> String {
        self.inner.opts.lock().appid.clone()
    }
    /// The AppSecret it expects.
    pub fn secret(&self) -> String {
        self.inner.opts.lock().secret.clone()
    }

    /// Registers a login code for `user` (single-use, expires after the code TTL).
    pub fn add_code(&self, code: &str, user: FakeUser) {
        self.inner.add_code(code, user);
    }

    /// A fresh login code for the user `openid` (created with a random session key and no
    /// unionid the first time; later codes reuse their session key).
    pub fn issue_code(&self, openid: &str) -> String {
        let user = self.inner.user(openid, None);
        let code = random_token("code_", 12);
        self.inner.add_code(&code, user);
        code
    }

    /// Like [`FakeWechat::issue_code`], with a unionid.
    pub fn issue_code_with_unionid(&self, openid: &str, unionid: &str) -> String {
        let user = self.inner.user(openid, Some(unionid.to_string()));
        let code = random_token("code_", 12);
        self.inner.add_code(&code, user);
        code
    }

    /// Sets the session key the user gets from their next login code.
    pub fn set_session_key(&self, openid: &str, session_key: &str) {
        let mut u = self.inner.user(openid, None);
        u.session_key = session_key.to_string();
        self.inner.users.lock().insert(openid.to_string(), u);
    }

    /// The user's current session key.
    pub fn session_key(&self, openid: &str) -> Option<String> {
        self.inner
            .users
            .lock()
            .get(openid)
            .map(|u| u.session_key.clone())
    }

    /// Changes how long login and phone codes live.
    pub fn set_code_ttl(&self, ttl: Duration) {
        self.inner.opts.lock().code_ttl = ttl;
    }

    /// Changes the lifetime of access tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.inner.opts.lock().token_ttl = ttl;
    }

    /// Changes stable_token's per-minute limit (default 10,000).
    pub fn set_token_minute_limit(&self, n: u32) {
        *self.inner.minute_limit.lock() = n;
    }

    /// Makes the next `times` calls of `endpoint` misbehave with `fault`.
    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        let mut f = self.inner.faults.lock();
        let q = f.entry(endpoint).or_default();
        for _ in 0..times {
            q.push_back(fault.clone());
        }
    }

    /// Shorthand for `fail_next(endpoint, Fault::Errcode(errcode), 1)`.
    pub fn fail_once(&self, endpoint: Endpoint, errcode: i64) {
        self.fail_next(endpoint, Fault::Errcode(errcode), 1);
    }

    /// Clears every scripted fault.
    pub fn clear_faults(&self) {
        self.inner.faults.lock().clear();
    }

    /// Every access token issued so far stops working: the next use answers 40001.
    pub fn invalidate_tokens(&self) {
        let mut t = self.inner.tokens.lock();
        for e in t.valid.values_mut() {
            e.revoked = Some(40001);
        }
    }

    /// Every access token issued so far expires: the next use answers 42001.
    pub fn expire_tokens(&self) {
        let mut t = self.inner.tokens.lock();
        for e in t.valid.values_mut() {
            e.revoked = Some(42001);
        }
    }

    /// The token stable_token would answer in normal mode now, if any.
    pub fn current_token(&self) -> Option<String> {
        self.inner.tokens.lock().current.clone()
    }

    /// A phone code (from `<button open-type="getPhoneNumber">`) for this number.
    pub fn add_phone_code(&self, code: &str, pure_phone_number: &str, country_code: &str) {
        self.inner.phone_codes.lock().insert(
            code.to_string(),
            PhoneEntry {
                phone: pure_phone_number.to_string(),
                country_code: country_code.to_string(),
                issued: Instant::now(),
                used: false,
            },
        );
    }

    /// Text containing `word` is judged `risky` (label 20001) by msg_sec_check.
    pub fn add_risky_word(&self, word: &str) {
        self.inner.risky_words.lock().insert(word.to_string());
    }

    /// `openid` accepts `count` more messages of `template_id` (one-time subscriptions).
    pub fn grant_subscription(&self, openid: &str, template_id: &str, count: u32) {
        *self
            .inner
            .subscriptions
            .lock()
            .entry((openid.to_string(), template_id.to_string()))
            .or_default() += count;
    }

    /// Subscribe messages accepted so far (their request bodies).
    pub fn sent_messages(&self) -> Vec<Value> {
        self.inner.sent.lock().clone()
    }

    /// Requests to the recorded open APIs (`/cgi-bin/message/custom/send`,
    /// `/cgi-bin/message/wxopen/template/uniform_send`) at `path`, oldest first.
    pub fn received(&self, path: &str) -> Vec<Value> {
        self.inner
            .received
            .lock()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// media_check_async requests accepted so far.
    pub fn media_checks(&self) -> Vec<Value> {
        self.inner.media_checks.lock().clone()
    }

    /// How many requests `endpoint` received (failed ones included).
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.inner.counters[endpoint.index()].load(Ordering::SeqCst)
    }

    /// Sets every counter back to 0.
    pub fn reset_counters(&self) {
        for c in &self.inner.counters {
            c.store(0, Ordering::SeqCst);
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits until the server stops (the CLI runs it until Ctrl-C).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Inner {
    fn add_code(&self, code: &str, user: FakeUser) {
        self.users.lock().insert(user.openid.clone(), user.clone());
        self.codes.lock().insert(
            code.to_string(),
            CodeEntry {
                user,
                issued: Instant::now(),
                used: false,
            },
        );
    }

    fn user(&self, openid: &str, unionid: Option<String>) -> FakeUser {
        let mut users = self.users.lock();
        let u = users.entry(openid.to_string()).or_insert_with(|| FakeUser {
            openid: openid.to_string(),
            unionid: None,
            session_key: random_b64(16),
        });
        if unionid.is_some() {
            u.unionid = unionid;
        }
        u.clone()
    }

    fn count(&self, e: Endpoint) {
        self.counters[e.index()].fetch_add(1, Ordering::SeqCst);
    }

    /// Applies a scripted fault: `Some(response)` to answer instead.
    async fn fault(&self, e: Endpoint) -> Option<Response> {
        let f = self.faults.lock().get_mut(&e).and_then(|q| q.pop_front());
        match f? {
            Fault::Errcode(c) => Some(err(c, errmsg(c))),
            Fault::Delay(d) => {
                tokio::time::sleep(d).await;
                None
            }
            Fault::HttpStatus(s) => Some(
                (
                    StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY),
                    "<html>upstream error</html>",
                )
                    .into_response(),
            ),
            Fault::Garbage => Some((StatusCode::OK, "<html>not json</html>").into_response()),
        }
    }

    /// Checks `access_token`: `Err(response)` when it is missing or not valid.
    fn check_token(&self, token: Option<&str>) -> Result<(), Response> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(err(41001, "access_token missing"));
        };
        let t = self.tokens.lock();
        match t.valid.get(token) {
            None => Err(err(40001, errmsg(40001))),
            Some(e) if e.revoked.is_some() => {
                let c = e.revoked.unwrap_or(40001);
                Err(err(c, errmsg(c)))
            }
            Some(e) if e.expires <= Instant::now() => Err(err(42001, errmsg(42001))),
            Some(_) => Ok(()),
        }
    }

    fn trace_id(&self) -> String {
        format!("fake-trace-{}", self.seq.fetch_add(1, Ordering::Relaxed))
    }
}

fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40029 => "invalid code",
        40037 => "invalid template_id",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40169 => "invalid length for scene, or the data is not json string",
        40226 => "high risk user",
        41001 => "access_token missing",
        41008 => "missing code",
        41030 => "invalid page",
        42001 => "access_token expired",
        43101 => "user refuse to accept the msg",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        47001 => "data format error",
        _ => "fake error",
    }
}

fn err(code: i64, msg: &str) -> Response {
    Json(json!({ "errcode": code, "errmsg": format!("{msg} rid: fake-{code}") })).into_response()
}

fn ok(mut v: Value) -> Response {
    if let Some(m) = v.as_object_mut() {
        m.insert("errcode".into(), json!(0));
        m.insert("errmsg".into(), json!("ok"));
    }
    Json(v).into_response()
}

type St = State<Arc<Inner>>;

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/sns/jscode2session", get(jscode2session))
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/wxa/business/getuserphonenumber", post(getuserphonenumber))
        .route("/wxa/msg_sec_check", post(msg_sec_check))
        .route("/wxa/media_check_async", post(media_check_async))
        .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
        .route("/wxa/getwxacodeunlimit", post(getwxacodeunlimit))
        .route("/wxaapi/newtmpl/gettemplate", get(template_list))
        .route("/wxaapi/newtmpl/getcategory", get(template_categories))
        .route("/wxaapi/newtmpl/addtemplate", post(template_add))
        .route("/wxaapi/newtmpl/deltemplate", post(template_delete))
        .route("/cgi-bin/message/wxopen/template/send", post(template_send))
        .route(
            "/cgi-bin/message/wxopen/template/uniform_send",
            post(uniform_send),
        )
        .route("/cgi-bin/message/custom/send", post(custom_send))
        .route("/wxa/getwxacode", post(wxacode_get))
        .route("/cgi-bin/wxaapp/createwxaqrcode", post(wxacode_get))
        .route("/wxa/generatescheme", post(generate_scheme))
        .route("/wxa/generate_urllink", post(generate_urllink))
        .route("/_fake/codes", post(script_code))
        .route("/_fake/phone-codes", post(script_phone_code))
        .route("/_fake/faults", post(script_fault))
        .route("/_fake/tokens/invalidate", post(script_invalidate))
        .route("/_fake/calls", get(script_calls))
        .with_state(inner)
}

/// Parses a JSON body leniently: WeChat answers 47001 for anything it cannot read.
fn body_json(body: &[u8]) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(err(47001, errmsg(47001))),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
struct Code2SessionQuery {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

async fn jscode2session(State(st): St, Query(q): Query<Code2SessionQuery>) -> Response {
    st.count(Endpoint::Jscode2session);
    if let Some(r) = st.fault(Endpoint::Jscode2session).await {
        return r;
    }
    let (appid, secret, code_ttl, lenient) = {
        let o = st.opts.lock();
        (o.appid.clone(), o.secret.clone(), o.code_ttl, o.lenient)
    };
    if q.appid.as_deref() != Some(appid.as_str()) {
        return err(40013, errmsg(40013));
    }
    if q.secret.as_deref() != Some(secret.as_str()) {
        return err(40125, errmsg(40125));
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return err(40002, errmsg(40002));
    }
    let Some(code) = q.js_code.filter(|c| !c.is_empty()) else {
        return err(41008, errmsg(41008));
    };
    let user = {
        let mut codes = st.codes.lock();
        match codes.get_mut(&code) {
            Some(e) if e.used => return err(40163, errmsg(40163)),
            Some(e) if e.issued.elapsed() > code_ttl => return err(40029, errmsg(40029)),
            Some(e) => {
                e.used = true;
                e.user.clone()
            }
            None if lenient => {
                // `openid:NAME` or `openid:NAME:ANYTHING` (a fresh code for the same user)
                let openid = match code.strip_prefix("openid:") {
                    Some(rest) => rest.split(':').next().unwrap_or(rest).to_string(),
                    None => openid_for(&code),
                };
                drop(codes);
                let u = st.user(&openid, None);
                st.codes.lock().insert(
                    code.clone(),
                    CodeEntry {
                        user: u.clone(),
                        issued: Instant::now(),
                        used: true,
                    },
                );
                u
            }
            None => return err(40029, errmsg(40029)),
        }
    };
    // Like WeChat: no errcode on success.
    let mut v = json!({ "openid": user.openid, "session_key": user.session_key });
    if let Some(u) = user.unionid {
        v["unionid"] = json!(u);
    }
    Json(v).into_response()
}

async fn stable_token(State(st): St, body: axum::body::Bytes) -> Response {
    st.count(Endpoint::StableToken);
    if let Some(r) = st.fault(Endpoint::StableToken).await {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (appid, secret, ttl) = {
        let o = st.opts.lock();
        (o.appid.clone(), o.secret.clone(), o.token_ttl)
    };
    if s(&v, "grant_type") != Some("client_credential") {
        return err(40002, errmsg(40002));
    }
    if s(&v, "appid") != Some(appid.as_str()) {
        return err(40013, errmsg(40013));
    }
    if s(&v, "secret") != Some(secret.as_str()) {
        return err(40125, errmsg(40125));
    }
    let force = v
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let limit = *st.minute_limit.lock();
    let now = Instant::now();
    let mut t = st.tokens.lock();
    match t.minute_start {
        Some(start) if now.duration_since(start) < Duration::from_secs(60) => t.minute_count += 1,
        _ => {
            t.minute_start = Some(now);
            t.minute_count = 1;
        }
    }
    if t.minute_count > limit {
        return err(45011, errmsg(45011));
    }
    // the rotation window: the last 5 minutes (or last half of a short test lifetime)
    let window = Duration::from_secs(300).min(ttl / 2);
    let current = t.current.clone().and_then(|c| {
        let e = t.valid.get(&c)?;
        (e.revoked.is_none() && e.expires > now).then(|| (c.clone(), e.expires))
    });
    if force {
        let recent = t
            .last_force
            .is_some_and(|l| now.duration_since(l) < Duration::from_secs(30));
        if !recent {
            if t.force_today >= 20 {
                return err(45009, errmsg(45009));
            }
            t.force_today += 1;
            t.last_force = Some(now);
            // force refresh: every earlier token stops working at once
            for e in t.valid.values_mut() {
                e.revoked.get_or_insert(40001);
            }
            return issue(&mut t, now, ttl);
        }
        if let Some((c, exp)) = current {
            return token_answer(&c, exp - now);
        }
        return issue(&mut t, now, ttl);
    }
    match current {
        Some((c, exp)) if exp - now > window => token_answer(&c, exp - now),
        _ => issue(&mut t, now, ttl),
    }
}

fn issue(t: &mut Tokens, now: Instant, ttl: Duration) -> Response {
    let token = random_token("fake_at_", 32);
    t.valid.retain(|_, e| e.expires > now);
    t.valid.insert(
        token.clone(),
        TokenEntry {
            expires: now + ttl,
            revoked: None,
        },
    );
    t.current = Some(token.clone());
    token_answer(&token, ttl)
}

fn token_answer(token: &str, left: Duration) -> Response {
    // Like WeChat: no errcode on success.
    Json(json!({ "access_token": token, "expires_in": left.as_secs().max(1) })).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn getuserphonenumber(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    st.count(Endpoint::GetUserPhoneNumber);
    if let Some(r) = st.fault(Endpoint::GetUserPhoneNumber).await {
        return r;
    }
    if let Err(r) = st.check_token(q.access_token.as_deref()) {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(code) = s(&v, "code") else {
        return err(47001, errmsg(47001));
    };
    let ttl = st.opts.lock().code_ttl;
    let mut codes = st.phone_codes.lock();
    let Some(e) = codes.get_mut(code) else {
        return err(40029, errmsg(40029));
    };
    if e.used || e.issued.elapsed() > ttl {
        return err(40029, errmsg(40029));
    }
    e.used = true;
    let phone_number = if e.country_code == "86" {
        e.phone.clone()
    } else {
        format!("+{} {}", e.country_code, e.phone)
    };
    let appid = st.opts.lock().appid.clone();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ok(json!({
        "phone_info": {
            "phoneNumber": phone_number,
            "purePhoneNumber": e.phone,
            "countryCode": e.country_code,
            "watermark": { "timestamp": ts, "appid": appid }
        }
    }))
}

async fn msg_sec_check(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    st.count(Endpoint::MsgSecCheck);
    if let Some(r) = st.fault(Endpoint::MsgSecCheck).await {
        return r;
    }
    if let Err(r) = st.check_token(q.access_token.as_deref()) {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if v.get("version").is_none() && v.get("openid").is_none() {
        // The old (v1) form: content only, answered by an errcode.
        let Some(content) = s(&v, "content") else {
            return err(47001, errmsg(47001));
        };
        let risky = st
            .risky_words
            .lock()
            .iter()
            .any(|w| content.contains(w.as_str()));
        return if risky {
            err(87014, "risky content")
        } else {
            ok(json!({}))
        };
    }
    if v.get("version").and_then(Value::as_i64) != Some(2) {
        return err(47001, errmsg(47001));
    }
    if s(&v, "openid").is_none() {
        return err(40003, errmsg(40003));
    }
    if !matches!(v.get("scene").and_then(Value::as_i64), Some(1..=4)) {
        return err(47001, errmsg(47001));
    }
    let Some(content) = s(&v, "content") else {
        return err(47001, errmsg(47001));
    };
    let risky = st
        .risky_words
        .lock()
        .iter()
        .any(|w| content.contains(w.as_str()));
    let (suggest, label) = if risky {
        ("risky", 20001)
    } else {
        ("pass", 100)
    };
    ok(json!({
        "result": { "suggest": suggest, "label": label },
        "detail": [{ "strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90 }],
        "trace_id": st.trace_id(),
    }))
}

async fn media_check_async(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    st.count(Endpoint::MediaCheckAsync);
    if let Some(r) = st.fault(Endpoint::MediaCheckAsync).await {
        return r;
    }
    if let Err(r) = st.check_token(q.access_token.as_deref()) {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if s(&v, "media_url").is_none()
        || !matches!(v.get("media_type").and_then(Value::as_i64), Some(1 | 2))
        || v.get("version").and_then(Value::as_i64) != Some(2)
    {
        return err(47001, errmsg(47001));
    }
    if s(&v, "openid").is_none() {
        return err(40003, errmsg(40003));
    }
    st.media_checks.lock().push(v);
    ok(json!({ "trace_id": st.trace_id() }))
}

async fn subscribe_send(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    st.count(Endpoint::SubscribeSend);
    if let Some(r) = st.fault(Endpoint::SubscribeSend).await {
        return r;
    }
    if let Err(r) = st.check_token(q.access_token.as_deref()) {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(touser) = s(&v, "touser") else {
        return err(40003, errmsg(40003));
    };
    let Some(template) = s(&v, "template_id") else {
        return err(40037, errmsg(40037));
    };
    if !v.get("data").is_some_and(Value::is_object) {
        return err(47003, "argument invalid! data.thing1.value invalid");
    }
    let lenient = st.opts.lock().lenient;
    if !lenient {
        let mut subs = st.subscriptions.lock();
        match subs.get_mut(&(touser.to_string(), template.to_string())) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return err(43101, errmsg(43101)),
        }
    }
    let msgid = st.seq.fetch_add(1, Ordering::Relaxed);
    st.sent.lock().push(v);
    ok(json!({ "msgid": msgid }))
}

async fn getwxacodeunlimit(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    st.count(Endpoint::GetWxacodeUnlimit);
    if let Some(r) = st.fault(Endpoint::GetWxacodeUnlimit).await {
        return r;
    }
    if let Err(r) = st.check_token(q.access_token.as_deref()) {
        return r;
    }
    let v = match body_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let scene = v.get("scene").and_then(Value::as_str).unwrap_or("");
    if scene.is_empty() || scene.chars().count() > 32 {
        return err(40169, errmsg(40169));
    }
    if s(&v, "page").is_some_and(|p| p.starts_with('/')) {
        return err(41030, errmsg(41030));
    }
    let width = v
        .get("width")
        .and_then(Value::as_u64)
        .unwrap_or(430)
        .clamp(280, 1280);
    let hyaline = v
        .get("is_hyaline")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // A small real PNG whose pattern depends on the scene; its side is width/10 px.
    let side = (width / 10) as u32;
    let png = png_pattern(scene, side, hyaline);
    let mut res = (StatusCode::OK, png).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    res
}

// ---- the other open APIs -------------------------------------------------------------------

/// The token check and JSON body of the other open APIs.
fn authed(st: &Inner, q: &TokenQuery, body: &[u8]) -> Result<Value, Response> {
    st.check_token(q.access_token.as_deref())?;
    if body.is_empty() {
        return Ok(json!({}));
    }
    body_json(body)
}

async fn template_list(State(st): St, Query(q): Query<TokenQuery>) -> Response {
    if let Err(r) = authed(&st, &q, b"") {
        return r;
    }
    ok(json!({ "data": st.templates.lock().clone() }))
}

async fn template_categories(State(st): St, Query(q): Query<TokenQuery>) -> Response {
    if let Err(r) = authed(&st, &q, b"") {
        return r;
    }
    ok(json!({ "data": [{ "id": 616, "name": "公交" }, { "id": 627, "name": "教育" }] }))
}

async fn template_add(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    let v = match authed(&st, &q, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(tid) = s(&v, "tid") else {
        return err(200014, "template tid is invalid");
    };
    if !v
        .get("kid_list")
        .is_some_and(|k| k.as_array().is_some_and(|a| (2..=5).contains(&a.len())))
    {
        return err(200020, "keyword list is invalid");
    }
    let id = format!("fake-tmpl-{}", st.seq.fetch_add(1, Ordering::Relaxed));
    st.templates.lock().push(json!({
        "priTmplId": id, "title": format!("模板 {tid}"), "content": "{{thing1.DATA}}", "example": "", "type": 2,
    }));
    ok(json!({ "priTmplId": id }))
}

async fn template_delete(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    let v = match authed(&st, &q, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = s(&v, "pri_tmpl_id").unwrap_or_default().to_string();
    let mut t = st.templates.lock();
    let before = t.len();
    t.retain(|x| x["priTmplId"] != id.as_str());
    if t.len() == before {
        return err(40037, errmsg(40037));
    }
    ok(json!({}))
}

async fn template_send(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authed(&st, &q, &body) {
        return r;
    }
    // Template messages are retired: no form id is valid any more.
    err(41028, "invalid form id")
}

/// Records a message of `path` after checking its recipient (and `need`, when given).
fn record_message(st: &Inner, q: &TokenQuery, body: &[u8], path: &str, need: &str) -> Response {
    let v = match authed(st, q, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if s(&v, "touser").is_none() {
        return err(40003, errmsg(40003));
    }
    if v.get(need).is_none() {
        return err(47001, errmsg(47001));
    }
    st.received.lock().push((path.to_string(), v));
    ok(json!({}))
}

async fn uniform_send(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    record_message(
        &st,
        &q,
        &body,
        "/cgi-bin/message/wxopen/template/uniform_send",
        "mp_template_msg",
    )
}

async fn custom_send(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    record_message(&st, &q, &body, "/cgi-bin/message/custom/send", "msgtype")
}

async fn wxacode_get(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    let v = match authed(&st, &q, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(path) = s(&v, "path") else {
        return err(41030, errmsg(41030));
    };
    let mut res = (StatusCode::OK, png_pattern(path, 43, false)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    res
}

async fn generate_scheme(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authed(&st, &q, &body) {
        return r;
    }
    let n = st.seq.fetch_add(1, Ordering::Relaxed);
    ok(json!({ "openlink": format!("weixin://dl/business/?t=fake{n}") }))
}

async fn generate_urllink(
    State(st): St,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authed(&st, &q, &body) {
        return r;
    }
    let n = st.seq.fetch_add(1, Ordering::Relaxed);
    ok(json!({ "url_link": format!("https://wxaurl.cn/fake{n}") }))
}

// ---- the /_fake scripting API ------------------------------------------------------------

#[derive(Deserialize)]
struct ScriptCode {
    openid: String,
    unionid: Option<String>,
    session_key: Option<String>,
    code: Option<String>,
}

async fn script_code(State(st): St, Json(b): Json<ScriptCode>) -> Response {
    let mut user = st.user(&b.openid, b.unionid);
    if let Some(k) = b.session_key {
        user.session_key = k;
    }
    let code = b.code.unwrap_or_else(|| random_token("code_", 12));
    st.add_code(&code, user);
    Json(json!({ "code": code })).into_response()
}

#[derive(Deserialize)]
struct ScriptPhone {
    code: String,
    phone: String,
    country_code: Option<String>,
}

async fn script_phone_code(State(st): St, Json(b): Json<ScriptPhone>) -> Response {
    st.phone_codes.lock().insert(
        b.code.clone(),
        PhoneEntry {
            phone: b.phone,
            country_code: b.country_code.unwrap_or_else(|| "86".into()),
            issued: Instant::now(),
            used: false,
        },
    );
    Json(json!({ "code": b.code })).into_response()
}

#[derive(Deserialize)]
struct ScriptFault {
    endpoint: String,
    errcode: Option<i64>,
    delay_ms: Option<u64>,
    status: Option<u16>,
    times: Option<u32>,
}

async fn script_fault(State(st): St, Json(b): Json<ScriptFault>) -> Response {
    let Some(e) = Endpoint::from_name(&b.endpoint) else {
        return (StatusCode::BAD_REQUEST, "unknown endpoint").into_response();
    };
    let fault = match (b.errcode, b.delay_ms, b.status) {
        (Some(c), _, _) => Fault::Errcode(c),
        (_, Some(ms), _) => Fault::Delay(Duration::from_millis(ms)),
        (_, _, Some(s)) => Fault::HttpStatus(s),
        _ => Fault::Garbage,
    };
    let mut f = st.faults.lock();
    let q = f.entry(e).or_default();
    for _ in 0..b.times.unwrap_or(1) {
        q.push_back(fault.clone());
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn script_invalidate(State(st): St) -> Response {
    for e in st.tokens.lock().valid.values_mut() {
        e.revoked = Some(40001);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn script_calls(State(st): St) -> Response {
    let m: serde_json::Map<String, Value> = Endpoint::ALL
        .iter()
        .map(|e| {
            (
                e.name().to_string(),
                json!(st.counters[e.index()].load(Ordering::SeqCst)),
            )
        })
        .collect();
    Json(Value::Object(m)).into_response()
}

// ---- a tiny PNG encoder (stored deflate blocks; no dependency) ------------------------------

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `side`×`side` PNG (grey, or grey+alpha when `alpha`) with a pattern derived from `seed`.
pub fn png_pattern(seed: &str, side: u32, alpha: bool) -> Vec<u8> {
    let side = side.max(8);
    let digest = Sha1::digest(seed.as_bytes());
    let cells = 8u32;
    let cell = side.div_ceil(cells);
    let mut raw = Vec::new();
    for y in 0..side {
        raw.push(0); // filter: none
        for x in 0..side {
            let (cx, cy) = (x / cell, y / cell);
            let bit = (cy * cells + cx) as usize;
            let on = digest[(bit / 8) % digest.len()] >> (bit % 8) & 1 == 1;
            let v = if on { 0u8 } else { 255u8 };
            raw.push(v);
            if alpha {
                raw.push(if on { 255 } else { 0 });
            }
        }
    }
    let mut z = vec![0x78, 0x01];
    let mut chunks = raw.chunks(65_535).peekable();
    while let Some(block) = chunks.next() {
        z.push(if chunks.peek().is_none() { 1 } else { 0 });
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, if alpha { 4 } else { 0 }, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_adler_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn png_is_well_formed() {
        let p = png_pattern("a=1", 43, false);
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&p[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([p[16], p[17], p[18], p[19]]), 43);
        assert!(p.ends_with(&[0xae, 0x42, 0x60, 0x82]));
        assert_ne!(png_pattern("a=1", 43, false), png_pattern("a=2", 43, false));
    }

    #[test]
    fn openids_are_stable() {
        assert_eq!(openid_for("alice"), openid_for("alice"));
        assert_ne!(openid_for("alice"), openid_for("bob"));
        assert_eq!(openid_for("alice").len(), 28);
    }
}
