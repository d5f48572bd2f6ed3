//! The edge of Minibase: every listening socket, TLS, certificates and the checks that prove a
//! domain is ready to be a mini program's request legal domain (request合法域名).
//!
//! # Serving
//!
//! ```no_run
//! # async fn run(config: config::Config, app: axum::Router) -> Result<(), minibase_edge::EdgeError> {
//! use std::sync::Arc;
//! let stats = Arc::new(minibase_edge::EdgeStats::default());
//! let edge = minibase_edge::Edge::bind(&config, stats.clone()).await?; // binds, loads certificates
//! println!("listening on {:?}", edge.http_addr());
//! edge.serve(app, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! [`Edge::bind`] binds `server.http_addr`, `server.https_addr` (when `tls.mode != "off"`) and
//! `server.redirect_addr` (when set). [`Edge::serve`] serves an axum [`Router`] on the HTTP and
//! HTTPS listeners with HTTP/1.1 and h2, inserting [`mb_core::ConnectionInfo`] (peer and local
//! addresses, TLS or not) into every request, enforcing `server.header_timeout`,
//! `server.idle_timeout` and `server.max_connections`, and drains in-flight requests for up to
//! `server.shutdown_timeout` once its shutdown future resolves. [`EdgeStats`] counts
//! connections and handshakes for `/metrics`.
//!
//! Modules: `listener` (binding), `conn` (one connection: timeouts, accounting), `redirect`
//! (HTTP → HTTPS and ACME http-01).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod acme;
mod conn;
pub mod dns;
pub mod doctor;
mod error;
mod fsutil;
mod listener;
mod redirect;
mod stats;
pub mod tls;

pub use error::EdgeError;
pub use redirect::Http01Challenges;
pub use stats::{EdgeStats, ListenerKind, ListenerStats};

use axum::Router;
use config::{Config, TlsMode};
use conn::{AppService, ConnEnv, ConnSettings, ConnState, Shutdown, Tracked};
use http::HeaderValue;
use mb_core::ConnectionInfo;
use stats::OpenGuard;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// A bound listener.
struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
    kind: ListenerKind,
}

impl Bound {
    fn bind(key: &'static str, addr: &str, kind: ListenerKind) -> Result<Bound, EdgeError> {
        let listener = listener::bind(key, addr)?;
        let addr = listener.local_addr().map_err(|source| EdgeError::Bind {
            key,
            addr: addr.to_string(),
            hint: "the socket was bound but its address cannot be read",
            source,
        })?;
        Ok(Bound {
            listener,
            addr,
            kind,
        })
    }
}

/// The bound listeners and loaded certificates, ready to [`serve`](Edge::serve).
pub struct Edge {
    http: Option<Bound>,
    https: Option<Bound>,
    redirect: Option<Bound>,
    tls: Option<Arc<tls::Tls>>,
    redirect_router: Option<Router>,
    challenges: Arc<Http01Challenges>,
    hsts: Option<HeaderValue>,
    settings: ConnSettings,
    shutdown_timeout: Duration,
    max_connections: usize,
    stats: Arc<EdgeStats>,
}

impl Edge {
    /// Binds every configured listener (`server.http_addr`; `server.https_addr` when
    /// `tls.mode != "off"`; `server.redirect_addr` when set) and loads or generates
    /// certificates. Every failure is a startup error naming the key, address or file and
    /// what to do.
    pub async fn bind(config: &Config, stats: Arc<EdgeStats>) -> Result<Edge, EdgeError> {
        let s = &config.server;
        let challenges = Arc::new(Http01Challenges::default());
        let tls = match config.tls.mode {
            TlsMode::Off => None,
            _ => Some(Arc::new(tls::Tls::setup(config, challenges.clone()).await?)),
        };
        let http = if s.http_addr.is_empty() {
            None
        } else {
            Some(Bound::bind(
                "server.http_addr",
                &s.http_addr,
                ListenerKind::Http,
            )?)
        };
        let https = if tls.is_some() {
            Some(Bound::bind(
                "server.https_addr",
                &s.https_addr,
                ListenerKind::Https,
            )?)
        } else {
            None
        };
        let (redirect, redirect_router) = if s.redirect_addr.is_empty() {
            (None, None)
        } else {
            let bound = Bound::bind(
                "server.redirect_addr",
                &s.redirect_addr,
                ListenerKind::Redirect,
            )?;
            let target = redirect::RedirectTarget {
                domains: s
                    .domains
                    .iter()
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
                allow_local: config.tls.mode == TlsMode::SelfSigned,
                https_port: https.as_ref().map(|b| b.addr.port()).unwrap_or(443),
            };
            (
                Some(bound),
                Some(redirect::router(target, challenges.clone())),
            )
        };
        let hsts = matches!(config.tls.mode, TlsMode::Files | TlsMode::Acme)
            .then(|| HeaderValue::from_static("max-age=31536000"));
        Ok(Edge {
            http,
            https,
            redirect,
            tls,
            redirect_router,
            challenges,
            hsts,
            settings: ConnSettings {
                header_timeout: s.header_timeout.get(),
                idle_timeout: nonzero(s.idle_timeout.get()),
            },
            shutdown_timeout: s.shutdown_timeout.get(),
            max_connections: s.max_connections.max(1),
            stats,
        })
    }

    /// The bound address of the plain HTTP listener (the real port when configured as 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|b| b.addr)
    }

    /// The bound address of the HTTPS listener.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(|b| b.addr)
    }

    /// The bound address of the redirect listener.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|b| b.addr)
    }

    /// The development CA certificate to trust (`tls.mode = "self-signed"`).
    pub fn dev_ca_file(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().and_then(|t| t.dev_ca_file())
    }

    /// The pending ACME http-01 challenges the redirect listener answers.
    pub fn http01_challenges(&self) -> Arc<Http01Challenges> {
        self.challenges.clone()
    }

    /// Serves `app` on the HTTP and HTTPS listeners (and redirects on the redirect listener)
    /// until `shutdown` resolves; then stops accepting (new connections are refused) and waits
    /// up to `server.shutdown_timeout` for in-flight requests before closing what is left.
    pub async fn serve(
        self,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EdgeError> {
        let shutdown_signal = Shutdown::default();
        let tracker = TaskTracker::new();
        let shared = Arc::new(Shared {
            env: ConnEnv {
                builder: conn::http_builder(),
                settings: self.settings,
                shutdown: shutdown_signal.clone(),
            },
            stats: self.stats.clone(),
            limiter: Arc::new(Semaphore::new(
                self.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            tracker: tracker.clone(),
        });
        let mut loops = Vec::new();
        if let Some(b) = self.http {
            loops.push(tokio::spawn(accept_loop(
                shared.clone(),
                b,
                app.clone(),
                None,
                None,
            )));
        }
        if self.tls.is_none() {
            // `systemctl reload` sends SIGHUP; without TLS there is nothing to reload, but the
            // signal must not kill the process (its default action).
            tokio::spawn(ignore_sighup(shutdown_signal.graceful.clone()));
        }
        if let (Some(b), Some(tls)) = (self.https, self.tls) {
            tls.spawn(self.stats.clone(), shutdown_signal.graceful.clone());
            let acceptor = tls.acceptor.clone();
            loops.push(tokio::spawn(accept_loop(
                shared.clone(),
                b,
                app.clone(),
                Some(acceptor),
                self.hsts,
            )));
        }
        if let (Some(b), Some(router)) = (self.redirect, self.redirect_router) {
            loops.push(tokio::spawn(accept_loop(
                shared.clone(),
                b,
                router,
                None,
                None,
            )));
        }
        drop(app);

        shutdown.await;
        tracing::info!(
            open_connections = self.stats.open_connections(),
            "shutting down: no longer accepting connections, draining in-flight requests"
        );
        shutdown_signal.drain();
        for l in loops {
            let _ = l.await;
        }
        tracker.close();
        if tokio::time::timeout(self.shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open_connections = self.stats.open_connections(),
                "server.shutdown_timeout passed: closing the remaining connections"
            );
            shutdown_signal.hard.cancel();
            tracker.wait().await;
        }
        Ok(())
    }
}

async fn ignore_sighup(stop: tokio_util::sync::CancellationToken) {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = hup.recv() => tracing::info!("SIGHUP: no certificates to reload (tls.mode = \"off\")"),
            }
        }
    }
    #[cfg(not(unix))]
    stop.cancelled().await;
}

fn nonzero(d: Duration) -> Duration {
    if d.is_zero() {
        Duration::from_secs(u64::MAX / 4)
    } else {
        d
    }
}

/// What every accept loop and connection task shares.
struct Shared {
    env: ConnEnv,
    stats: Arc<EdgeStats>,
    limiter: Arc<Semaphore>,
    tracker: TaskTracker,
}

async fn accept_loop(
    shared: Arc<Shared>,
    bound: Bound,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    hsts: Option<HeaderValue>,
) {
    let listener = Arc::new(Listener {
        app,
        tls,
        hsts,
        kind: bound.kind,
        local: bound.addr,
    });
    let graceful = shared.env.shutdown.graceful.clone();
    let stop = graceful.cancelled();
    tokio::pin!(stop);
    loop {
        // `server.max_connections`: beyond it, new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            biased;
            _ = stop.as_mut() => break,
            p = shared.limiter.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            _ = stop.as_mut() => break,
            r = bound.listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(listener = bound.kind.as_str(), error = %e, "accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        shared.tracker.spawn(handle(
            shared.clone(),
            listener.clone(),
            stream,
            remote,
            permit,
        ));
    }
}

/// What every connection of one listener shares.
struct Listener {
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    hsts: Option<HeaderValue>,
    kind: ListenerKind,
    local: SocketAddr,
}

async fn handle(
    shared: Arc<Shared>,
    listener: Arc<Listener>,
    stream: TcpStream,
    remote: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Listener {
        app,
        tls,
        hsts,
        kind,
        local,
    } = &*listener;
    let (app, hsts, kind) = (app.clone(), hsts.clone(), *kind);
    let info = ConnectionInfo {
        remote,
        local: *local,
        tls: tls.is_some(),
    };
    let slot = conn::Slot::new(permit, OpenGuard::new(shared.stats.clone(), kind));
    let stats = shared.stats.listener(kind);
    let mut ticket = shared.env.shutdown.hub.register();
    let Some(acceptor) = tls else {
        let state = ConnState::new(false);
        let io = Tracked::new(stream, state.clone(), true, slot);
        let svc = AppService::new(app, info, state.clone(), None);
        conn::drive(&shared.env, io, state, svc, &mut ticket, stats).await;
        return;
    };
    // The handshake gets the header timeout too: a client that stalls it holds nothing long.
    let handshake = tokio::select! {
        biased;
        _ = &mut ticket.rx => return,
        r = tokio::time::timeout(shared.env.settings.header_timeout, acceptor.accept(stream)) => r,
    };
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.stats.tls_handshakes_failed.fetch_add(1, Relaxed);
            tracing::debug!(remote = %info.remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            shared.stats.tls_handshakes_failed.fetch_add(1, Relaxed);
            stats.header_timeouts.fetch_add(1, Relaxed);
            return;
        }
    };
    shared.stats.tls_handshakes_ok.fetch_add(1, Relaxed);
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let state = ConnState::new(h2);
    let io = Tracked::new(stream, state.clone(), false, slot);
    let svc = AppService::new(app, info, state.clone(), hsts);
    conn::drive(&shared.env, io, state, svc, &mut ticket, stats).await;
}
