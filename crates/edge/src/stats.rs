//! Counters the listeners keep, read by `server`'s `/metrics` (open connections per listener,
//! connections accepted, TLS handshakes). Plain relaxed atomics: the hot path only increments.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// `server.http_addr`: plain HTTP serving the application.
    Http,
    /// `server.https_addr`: HTTPS serving the application.
    Https,
    /// `server.redirect_addr`: HTTP → HTTPS redirects and ACME http-01.
    Redirect,
}

impl ListenerKind {
    /// All kinds, in a stable order (for metrics).
    pub const ALL: [ListenerKind; 3] = [
        ListenerKind::Http,
        ListenerKind::Https,
        ListenerKind::Redirect,
    ];

    /// The label used in metrics and logs: `http`, `https`, `redirect`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Http => "http",
            ListenerKind::Https => "https",
            ListenerKind::Redirect => "redirect",
        }
    }
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections closed because the client was too slow sending request headers
    /// (`server.header_timeout`) or finishing the TLS handshake.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed after `server.idle_timeout` without a request.
    pub idle_closed: AtomicU64,
}

/// Counters of every listener, shared with the metrics endpoint (`Arc<EdgeStats>`).
#[derive(Debug, Default)]
pub struct EdgeStats {
    /// The plain HTTP listener.
    pub http: ListenerStats,
    /// The HTTPS listener.
    pub https: ListenerStats,
    /// The redirect listener.
    pub redirect: ListenerStats,
    /// TLS handshakes completed.
    pub tls_handshakes_ok: AtomicU64,
    /// TLS handshakes that failed (bad client, protocol version refused, timeout, …).
    pub tls_handshakes_failed: AtomicU64,
    /// Certificate reloads that succeeded (SIGHUP, changed files, ACME renewals).
    pub cert_reloads_ok: AtomicU64,
    /// Certificate reloads refused (the previous certificates kept serving).
    pub cert_reloads_failed: AtomicU64,
}

impl EdgeStats {
    /// The counters of one listener.
    pub fn listener(&self, kind: ListenerKind) -> &ListenerStats {
        match kind {
            ListenerKind::Http => &self.http,
            ListenerKind::Https => &self.https,
            ListenerKind::Redirect => &self.redirect,
        }
    }

    /// Open connections on every listener together.
    pub fn open_connections(&self) -> u64 {
        ListenerKind::ALL
            .iter()
            .map(|k| self.listener(*k).open.load(Relaxed))
            .sum()
    }
}

/// Counts a connection as open for as long as it lives.
pub(crate) struct OpenGuard {
    stats: Arc<EdgeStats>,
    kind: ListenerKind,
}

impl OpenGuard {
    pub(crate) fn new(stats: Arc<EdgeStats>, kind: ListenerKind) -> Self {
        let l = stats.listener(kind);
        l.accepted.fetch_add(1, Relaxed);
        l.open.fetch_add(1, Relaxed);
        OpenGuard { stats, kind }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.stats.listener(self.kind).open.fetch_sub(1, Relaxed);
    }
}
