//! Application state: one cheap-to-clone handle on every area's service, as TrailBase's
//! `AppState` does. Areas add their service here and an accessor below.

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use std::sync::Arc;
use std::time::Instant;

/// Shared state of the running server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<config::Config>,
    db: docdb::Database,
    identity: identity::Identity,
    pay: Option<pay::service::PayService>,
    files: storage::Files,
    wechat: wechat::Wechat,
    functions: functions::Functions,
    realtime: realtime::Realtime,
    metrics: Metrics,
    console: Option<console::Console>,
    recent: Option<console::requests::RecentRequests>,
    rate_limiter: Option<RateLimiter>,
    edge_stats: Arc<edge::EdgeStats>,
    authenticator: mb_core::Authenticator,
    started: Instant,
}

/// Every area's service, built by [`crate::build`] and handed to [`AppState::new`] at once
/// (a new area adds a field here and an accessor on [`AppState`]).
pub(crate) struct Areas {
    pub db: docdb::Database,
    pub identity: identity::Identity,
    pub pay: Option<pay::service::PayService>,
    pub files: storage::Files,
    pub wechat: wechat::Wechat,
    pub functions: functions::Functions,
    pub realtime: realtime::Realtime,
    /// The admin console, when `console.enabled`.
    pub console: Option<console::Console>,
    /// Request metrics (shared with the console's sampler).
    pub metrics: Metrics,
    /// The recent-requests ring the access log feeds (console's Logs page).
    pub recent: Option<console::requests::RecentRequests>,
}

impl AppState {
    pub(crate) fn new(
        config: Arc<config::Config>,
        areas: Areas,
        edge_stats: Arc<edge::EdgeStats>,
    ) -> AppState {
        let Areas {
            db,
            identity,
            pay,
            files,
            wechat,
            functions,
            realtime,
            console,
            metrics,
            recent,
        } = areas;
        let rate_limiter = (config.limits.rate_per_ip > 0)
            .then(|| RateLimiter::new(config.limits.rate_per_ip, config.limits.effective_burst()));
        let authenticator =
            mb_core::Authenticator(Arc::new(crate::auth::ServerAuthenticator::new(
                config.auth.service_key.expose(),
                identity.clone(),
            )));
        AppState {
            inner: Arc::new(Inner {
                authenticator,
                config,
                db,
                identity,
                pay,
                files,
                wechat,
                functions,
                realtime,
                metrics,
                console,
                recent,
                rate_limiter,
                edge_stats,
                started: Instant::now(),
            }),
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &config::Config {
        &self.inner.config
    }
    /// The document database.
    pub fn db(&self) -> &docdb::Database {
        &self.inner.db
    }
    /// Users, sessions and tokens.
    pub fn identity(&self) -> &identity::Identity {
        &self.inner.identity
    }
    /// WeChat Pay, when `[wechat_pay] mchid` is set.
    pub fn pay(&self) -> Option<&pay::service::PayService> {
        self.inner.pay.as_ref()
    }
    /// Files: uploads, temporary URLs, deletes, downloads (also `cloud.uploadFile` & co).
    pub fn files(&self) -> &storage::Files {
        &self.inner.files
    }
    /// The WeChat platform: API client, shared access token, open APIs, message push.
    pub fn wechat(&self) -> &wechat::Wechat {
        &self.inner.wechat
    }
    /// Cloud functions.
    pub fn functions(&self) -> &functions::Functions {
        &self.inner.functions
    }
    /// Realtime `watch` over WebSocket.
    pub fn realtime(&self) -> &realtime::Realtime {
        &self.inner.realtime
    }
    /// Request metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    /// The admin console, when enabled.
    pub fn console(&self) -> Option<&console::Console> {
        self.inner.console.as_ref()
    }
    /// The recent-requests ring, when the console keeps one.
    pub fn recent_requests(&self) -> Option<&console::requests::RecentRequests> {
        self.inner.recent.as_ref()
    }
    /// The per-IP rate limiter, when `limits.rate_per_ip` is set.
    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.inner.rate_limiter.as_ref()
    }
    /// Connection statistics of the listeners.
    pub fn edge_stats(&self) -> &edge::EdgeStats {
        &self.inner.edge_stats
    }
    /// Verifies bearer credentials (put into every request by the middleware).
    pub fn authenticator(&self) -> &mb_core::Authenticator {
        &self.inner.authenticator
    }
    /// When the server started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }
}
