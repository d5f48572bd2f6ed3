//! The admin console of Minibase, served by the binary at `/_/` (docs/console.md).
//!
//! - **Pages** (`/_/`): one HTML page, one script and one stylesheet, hand-written, embedded
//!   in the binary and gzipped once at start ([`assets`]): nothing to build, no npm, no CDN.
//!   Chinese first, English switchable. They talk only to the console's JSON API.
//! - **API** (`/_/api/…`, [`api`]): separate from the user API. Callers are admins signed in
//!   with a console session cookie ([`session`]); user tokens and the service key are refused.
//!   Every change needs the session's CSRF token and is written to the audit log
//!   ([`audit`], `_audit`). Handlers act as [`mb_core::Caller::Admin`] (rules do not apply;
//!   internal collections stay out of reach) except where they must be `System`.
//! - **Admins** ([`admins`]): created with `minibase admin create` (the CLI calls
//!   [`admins::Admins`] directly), Argon2id passwords, lockout, optional TOTP ([`totp`]).
//! - **Telemetry**: the server hands in a [`Host`] (request counters, open sockets) that a
//!   sampler turns into the Overview's charts, and feeds the [`requests::RecentRequests`] ring
//!   behind the Logs page.
//!
//! The server builds a [`Console`] with [`Console::open`] and mounts [`Console::router`] at
//! `/_` (behind its own middleware: request ids, access log, error envelope).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admins;
pub mod api;
pub mod assets;
pub mod audit;
pub mod error;
pub mod requests;
pub mod session;
pub mod totp;

pub use error::ConsoleError;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mb_core::{ApiError, RequestContext};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Request counters of the whole server, as the console's sampler reads them.
#[derive(Debug, Clone, Default)]
pub struct RequestTotals {
    /// Requests answered since start.
    pub count: u64,
    /// Of which with a 5xx status.
    pub errors: u64,
    /// Latency histogram: (upper bound in seconds, requests in this bucket only), ascending.
    pub buckets: Vec<(f64, u64)>,
}

/// What the console needs from the server beyond the areas' services.
pub trait Host: Send + Sync + 'static {
    /// The request counters now.
    fn request_totals(&self) -> RequestTotals;
    /// Realtime WebSocket connections open now.
    fn open_websockets(&self) -> u64;
    /// TCP connections open now, all listeners.
    fn open_connections(&self) -> u64;
}

/// Everything [`Console::open`] needs.
pub struct Deps {
    /// The configuration.
    pub config: Arc<config::Config>,
    /// Documents.
    pub db: docdb::Database,
    /// Users and sessions.
    pub identity: identity::Identity,
    /// Files.
    pub files: storage::Files,
    /// Cloud functions.
    pub functions: functions::Functions,
    /// WeChat Pay, when configured.
    pub pay: Option<pay::service::PayService>,
    /// The server's counters.
    pub host: Arc<dyn Host>,
    /// The recent-requests ring the server feeds (`None`: `console.recent_requests = 0`).
    pub requests: Option<requests::RecentRequests>,
}

/// The console settings, from `[console]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest session.
    pub session_ttl: Duration,
    /// Idle session timeout.
    pub idle_timeout: Duration,
    /// Lockout policy.
    pub lockout: admins::Lockout,
    /// Networks allowed (empty = any).
    pub allow_from: Vec<ipnet::IpNet>,
}

/// One point of the Overview's charts.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// When, ms since the epoch.
    pub at: i64,
    /// Requests per second over the interval.
    pub rps: f64,
    /// Upper bound of the 99th-percentile latency over the interval, ms (`null`: no requests).
    pub p99_ms: Option<f64>,
    /// Share of 5xx answers over the interval, 0–1.
    pub error_rate: f64,
    /// Realtime sockets open.
    pub websockets: u64,
}

/// Seconds between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept (one hour).
pub const SAMPLES: usize = 720;
/// Sign-in attempts one address may make per window.
pub const SIGNIN_ATTEMPTS: u32 = 20;
/// The sign-in rate-limit window.
pub const SIGNIN_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The console service. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<config::Config>,
    settings: Settings,
    db: docdb::Database,
    identity: identity::Identity,
    files: storage::Files,
    functions: functions::Functions,
    pay: Option<pay::service::PayService>,
    admins: admins::Admins,
    host: Arc<dyn Host>,
    requests: Option<requests::RecentRequests>,
    samples: Mutex<VecDeque<Sample>>,
    attempts: Mutex<HashMap<IpAddr, (i64, u32)>>,
    started: std::time::Instant,
}

impl Console {
    /// Opens the console: its collections declared internal, the indexes its searches use,
    /// and the sampler of the Overview's charts (stops when the console is dropped).
    pub async fn open(deps: Deps) -> Result<Console, ApiError> {
        let c = &deps.config.console;
        let admins = admins::Admins::new(deps.db.clone());
        for (coll, fields) in [
            (identity::USERS, &["openid"][..]),
            (identity::USERS, &["unionid"][..]),
            (identity::USERS, &["phone_number"][..]),
            (identity::USERS, &["-created_at"][..]),
            (identity::SESSIONS, &["uid", "-created_at"][..]),
            (admins::SESSIONS, &["admin"][..]),
            (pay::orders::ORDERS, &["state", "-created_at"][..]),
            (pay::orders::ORDERS, &["-created_at"][..]),
        ] {
            deps.db.ensure_index(coll, fields, false).await?;
        }
        let console = Console {
            inner: Arc::new(Inner {
                settings: Settings {
                    session_ttl: c.session_ttl.get(),
                    idle_timeout: c.idle_timeout.get(),
                    lockout: admins::Lockout::from_config(c),
                    allow_from: c.allow_from.clone(),
                },
                config: deps.config,
                db: deps.db,
                identity: deps.identity,
                files: deps.files,
                functions: deps.functions,
                pay: deps.pay,
                admins,
                host: deps.host,
                requests: deps.requests,
                samples: Mutex::new(VecDeque::with_capacity(SAMPLES)),
                attempts: Mutex::new(HashMap::new()),
                started: std::time::Instant::now(),
            }),
        };
        tokio::spawn(sampler(Arc::downgrade(&console.inner)));
        Ok(console)
    }

    /// The console's routes (`/`, `/assets/…`, `/api/…`), to be nested at `/_`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(assets::router())
            .nest("/api", api::router())
            .fallback(|| async { ApiError::not_found("no such console page or API") })
            .layer(axum::middleware::from_fn_with_state(self.clone(), gate))
            .with_state(self.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &config::Config {
        &self.inner.config
    }
    /// The console settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
    /// Documents.
    pub fn db(&self) -> &docdb::Database {
        &self.inner.db
    }
    /// Users and sessions.
    pub fn identity(&self) -> &identity::Identity {
        &self.inner.identity
    }
    /// Files.
    pub fn files(&self) -> &storage::Files {
        &self.inner.files
    }
    /// Functions.
    pub fn functions(&self) -> &functions::Functions {
        &self.inner.functions
    }
    /// WeChat Pay, when configured.
    pub fn pay(&self) -> Option<&pay::service::PayService> {
        self.inner.pay.as_ref()
    }
    /// The admin store.
    pub fn admins(&self) -> &admins::Admins {
        &self.inner.admins
    }
    /// The server's counters.
    pub fn host(&self) -> &dyn Host {
        self.inner.host.as_ref()
    }
    /// The recent-requests ring.
    pub fn requests(&self) -> Option<&requests::RecentRequests> {
        self.inner.requests.as_ref()
    }
    /// The Overview's samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.inner.samples.lock().iter().cloned().collect()
    }
    /// Seconds since the console (the server) started.
    pub fn uptime_secs(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// Counts a sign-in attempt from `ip`; refuses beyond [`SIGNIN_ATTEMPTS`] per window.
    pub fn signin_attempt(&self, ip: IpAddr) -> Result<(), ConsoleError> {
        let now = mb_core::now_ms();
        let mut map = self.inner.attempts.lock();
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| *start + SIGNIN_WINDOW_MS > now);
        }
        let e = map.entry(ip).or_insert((now, 0));
        if e.0 + SIGNIN_WINDOW_MS <= now {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > SIGNIN_ATTEMPTS {
            return Err(ConsoleError::TooManyAttempts {
                retry_after: ((e.0 + SIGNIN_WINDOW_MS - now) as u64).div_ceil(1000),
            });
        }
        Ok(())
    }
}

/// In front of every console route: `console.allow_from` (others get 404, as if there were
/// no console), and the security headers of every console answer.
async fn gate(State(console): State<Console>, req: Request, next: Next) -> Response {
    let allowed = &console.settings().allow_from;
    if !allowed.is_empty() {
        let ip = req
            .extensions()
            .get::<RequestContext>()
            .map(|c| c.client_ip);
        if !ip.is_some_and(|ip| allowed.iter().any(|n| n.contains(&ip))) {
            return ApiError::not_found("no such route").into_response();
        }
    }
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // Files served for download or preview carry their own, stricter policy.
    let csp = h.remove("x-mb-file-csp").unwrap_or(HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Takes a [`Sample`] every [`SAMPLE_EVERY`] while the console lives.
async fn sampler(weak: Weak<Inner>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(std::time::Instant, RequestTotals)> = None;
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let now = std::time::Instant::now();
        let totals = inner.host.request_totals();
        if let Some((then, prev)) = &last {
            let secs = now.duration_since(*then).as_secs_f64().max(0.001);
            let sample = sample_between(prev, &totals, secs, inner.host.open_websockets());
            let mut s = inner.samples.lock();
            if s.len() >= SAMPLES {
                s.pop_front();
            }
            s.push_back(sample);
        }
        last = Some((now, totals));
    }
}

/// The sample of the interval between two readings of the counters.
pub fn sample_between(prev: &RequestTotals, now: &RequestTotals, secs: f64, ws: u64) -> Sample {
    let n = now.count.saturating_sub(prev.count);
    let errors = now.errors.saturating_sub(prev.errors);
    let mut p99 = None;
    if n > 0 {
        let want = (n as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (i, (le, c)) in now.buckets.iter().enumerate() {
            let before = prev.buckets.get(i).map_or(0, |b| b.1);
            seen += c.saturating_sub(before);
            if seen >= want {
                p99 = Some(*le);
                break;
            }
        }
        // Slower than the largest finite bound: shown as that bound.
        let largest = now
            .buckets
            .iter()
            .map(|b| b.0)
            .filter(|le| le.is_finite())
            .fold(0.0, f64::max);
        p99 = Some(p99.filter(|v| v.is_finite()).unwrap_or(largest) * 1000.0);
    }
    Sample {
        at: mb_core::now_ms(),
        rps: n as f64 / secs,
        p99_ms: p99,
        error_rate: if n > 0 { errors as f64 / n as f64 } else { 0.0 },
        websockets: ws,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_from_counter_deltas() {
        let prev = RequestTotals {
            count: 100,
            errors: 1,
            buckets: vec![(0.001, 50), (0.01, 40), (0.1, 10)],
        };
        let now = RequestTotals {
            count: 300,
            errors: 3,
            buckets: vec![(0.001, 150), (0.01, 137), (0.1, 13)],
        };
        let s = sample_between(&prev, &now, 2.0, 7);
        assert_eq!(s.rps, 100.0);
        assert_eq!(s.error_rate, 0.01);
        assert_eq!(s.p99_ms, Some(100.0));
        assert_eq!(s.websockets, 7);
        let idle = sample_between(&now, &now, 5.0, 0);
        assert_eq!(idle.rps, 0.0);
        assert_eq!(idle.p99_ms, None);
    }
}
