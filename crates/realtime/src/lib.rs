//! Realtime `watch` (API.md §4): CloudBase-style live queries over one WebSocket per client,
//! with the collection's read rule applied to every event, fed by docdb's change bus.
//!
//! # Using it (the server's `routes/realtime.rs`)
//!
//! ```ignore
//! let rt = realtime::Realtime::start(db.clone(), realtime::RealtimeOptions::from_config(&config));
//! // GET /api/realtime:
//! let admission = rt.admit(&caller, client_ip)?;            // 429 past the per-user/per-IP limits
//! let reauth = /* re-verifies the caller's token now and then */;
//! Ok(rt.configure(ws).on_upgrade(move |socket| async move {
//!     rt.serve(socket, caller, admission, reauth).await
//! }))
//! ```
//!
//! # How it works
//! - [`Realtime::start`] spawns the dispatcher ([`hub`]): one task that subscribes to
//!   [`docdb::Database::subscribe`] and owns every watch. Watches of the same query (same
//!   collection, `where`, read rule, `orderBy`, `limit`) share one group: one window in
//!   memory ([`window`]), one database query to fill it, one evaluation of each change, one
//!   serialised snapshot body. Groups are indexed by collection.
//! - Each connection is one task ([`socket`]) with a bounded outbox: the dispatcher never
//!   waits on a connection; a connection that does not keep up is disconnected with an error
//!   frame ([`RealtimeOptions::send_buffer`], [`RealtimeOptions::send_buffer_bytes`]).
//! - Snapshots follow CloudBase: `docs` is the whole result after the change (in `orderBy`
//!   order), `docChanges` says what changed (`dataType` add/update/replace/remove, and
//!   `limit` for documents shifted in or out of an `orderBy` + `limit` window; `queueType`
//!   enqueue/update/dequeue). A document that stops being readable leaves as
//!   `remove`/`dequeue` without content.
//!
//! # Many instances
//! Nothing here knows where events come from: the dispatcher reads a [`docdb::ChangeReceiver`]
//! from the database's [`docdb::ChangeBus`]. A Redis (PUBLISH/SUBSCRIBE) or PostgreSQL
//! (LISTEN/NOTIFY) bus that delivers every instance's commits, in commit order per document,
//! makes every instance's watches see every instance's writes; see `docs/realtime.md`.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod hub;
mod outbox;
pub mod protocol;
mod session;
mod socket;
pub mod window;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use docdb::Database;
use mb_core::{ApiError, Caller, ErrorCode};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::mpsc;

/// Limits of the realtime area (`[realtime]` in the config).
#[derive(Debug, Clone)]
pub struct RealtimeOptions {
    /// Watches one connection may hold.
    pub max_watches_per_connection: usize,
    /// Documents one watch may hold; also the largest `limit`.
    pub max_docs_per_watch: usize,
    /// Connections one user may hold.
    pub max_connections_per_user: usize,
    /// Connections one client IP may hold.
    pub max_connections_per_ip: usize,
    /// A connection that sends nothing (not even a pong to our pings) this long is closed.
    pub idle_timeout: Duration,
    /// Frames queued for one connection before it is disconnected as too slow.
    pub send_buffer: usize,
    /// Bytes queued for one connection before it is disconnected as too slow.
    pub send_buffer_bytes: usize,
    /// Largest snapshot frame of one watch.
    pub max_snapshot_bytes: usize,
    /// Largest message a client may send (`limits.body`).
    pub max_message_bytes: usize,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        RealtimeOptions::from_config(&config::Config::default())
    }
}

impl RealtimeOptions {
    /// From `[realtime]` (and `limits.body` for client messages).
    pub fn from_config(c: &config::Config) -> Self {
        let r = &c.realtime;
        RealtimeOptions {
            max_watches_per_connection: r.max_watches_per_connection as usize,
            max_docs_per_watch: r.max_docs_per_watch as usize,
            max_connections_per_user: r.max_connections_per_user as usize,
            max_connections_per_ip: r.max_connections_per_ip as usize,
            idle_timeout: r.idle_timeout.get(),
            send_buffer: r.send_buffer as usize,
            send_buffer_bytes: r.send_buffer_bytes.as_usize(),
            max_snapshot_bytes: r.max_snapshot_bytes.as_usize(),
            max_message_bytes: c.limits.body.as_usize(),
        }
    }

    /// How often the server pings a connection (WebSocket ping frames, which every client
    /// answers by itself): a third of the idle timeout, so a live client never idles out.
    pub fn ping_interval(&self) -> Duration {
        (self.idle_timeout / 3).max(Duration::from_millis(100))
    }
}

/// Counters of the realtime area (for `/metrics` and benchmarks).
#[derive(Debug, Default)]
pub struct Stats {
    /// Open connections.
    pub connections: AtomicU64,
    /// Active watches.
    pub watches: AtomicU64,
    /// Distinct queries being watched.
    pub groups: AtomicU64,
    /// Change events seen.
    pub events: AtomicU64,
    /// Snapshot frames queued.
    pub frames: AtomicU64,
    /// Window refills from the database.
    pub refills: AtomicU64,
    /// Connections dropped as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Times the dispatcher fell behind the bus and reloaded everything.
    pub lagged: AtomicU64,
}

impl Stats {
    /// Appends the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let gauges: [(&str, &str, &AtomicU64); 3] = [
            (
                "minibase_realtime_connections",
                "Open realtime WebSocket connections.",
                &self.connections,
            ),
            (
                "minibase_realtime_watches",
                "Active realtime watches.",
                &self.watches,
            ),
            (
                "minibase_realtime_queries",
                "Distinct watched queries (watches of the same query share one).",
                &self.groups,
            ),
        ];
        let counters: [(&str, &str, &AtomicU64); 5] = [
            (
                "minibase_realtime_events_total",
                "Committed changes seen by realtime.",
                &self.events,
            ),
            (
                "minibase_realtime_snapshots_total",
                "Snapshot frames queued to watchers.",
                &self.frames,
            ),
            (
                "minibase_realtime_refills_total",
                "orderBy+limit windows refilled from the database.",
                &self.refills,
            ),
            (
                "minibase_realtime_slow_consumers_total",
                "Connections dropped for reading too slowly.",
                &self.slow_consumers,
            ),
            (
                "minibase_realtime_lagged_total",
                "Times realtime fell behind the change bus and reloaded every watch.",
                &self.lagged,
            ),
        ];
        for (kind, list) in [("gauge", &gauges[..]), ("counter", &counters[..])] {
            for (name, help, v) in list {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
                let _ = writeln!(out, "{name} {}", v.load(Relaxed));
            }
        }
    }
}

/// Re-checks the credential a connection was opened with (expiry, sign-out); called every
/// ping interval for users.
pub type Reauth = Box<dyn Fn() -> Result<(), ApiError> + Send + Sync>;

#[derive(Default)]
struct Counts {
    by_user: HashMap<String, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

struct Inner {
    db: Database,
    opts: Arc<RealtimeOptions>,
    tx: mpsc::Sender<Cmd>,
    next_conn: AtomicU64,
    counts: Arc<Mutex<Counts>>,
    stats: Arc<Stats>,
    closing: AtomicBool,
}

use hub::Cmd;

/// The realtime area. Cheap to clone.
#[derive(Clone)]
pub struct Realtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Realtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Realtime")
    }
}

/// A connection slot, counted against the per-user and per-IP limits until dropped.
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
    stats: Arc<Stats>,
    user: Option<String>,
    ip: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut c = self.counts.lock();
        if let Some(u) = &self.user {
            if let Some(n) = c.by_user.get_mut(u) {
                *n -= 1;
                if *n == 0 {
                    c.by_user.remove(u);
                }
            }
        }
        if let Some(n) = c.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
        self.stats.connections.fetch_sub(1, Relaxed);
    }
}

impl Realtime {
    /// Starts the dispatcher (needs a Tokio runtime). It stops when every handle and every
    /// connection is gone, or the database's bus closes.
    pub fn start(db: Database, options: RealtimeOptions) -> Realtime {
        let opts = Arc::new(options);
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel(1024);
        let bus = db.subscribe();
        let hub = hub::Hub::new(db.clone(), opts.clone(), tx.downgrade(), stats.clone());
        tokio::spawn(hub.run(bus, rx));
        Realtime {
            inner: Arc::new(Inner {
                db,
                opts,
                tx,
                next_conn: AtomicU64::new(1),
                counts: Arc::new(Mutex::new(Counts::default())),
                stats,
                closing: AtomicBool::new(false),
            }),
        }
    }

    /// The limits in force.
    pub fn options(&self) -> &RealtimeOptions {
        &self.inner.opts
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Takes a connection slot for `caller` from `ip`: 429 `RATE_LIMITED` past
    /// `max_connections_per_user` or `max_connections_per_ip`, 503 when shutting down.
    pub fn admit(&self, caller: &Caller, ip: IpAddr) -> Result<Admission, ApiError> {
        if self.inner.closing.load(Relaxed) {
            return Err(ApiError::unavailable("the server is shutting down"));
        }
        let opts = &self.inner.opts;
        let user = caller.user().map(|u| u.uid.clone());
        let mut c = self.inner.counts.lock();
        if c.by_ip.get(&ip).copied().unwrap_or(0) >= opts.max_connections_per_ip {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many realtime connections from this address (realtime.max_connections_per_ip = {})",
                    opts.max_connections_per_ip
                ),
            ));
        }
        if let Some(u) = &user {
            if c.by_user.get(u).copied().unwrap_or(0) >= opts.max_connections_per_user {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "too many realtime connections for this user (realtime.max_connections_per_user = {}): close one first",
                        opts.max_connections_per_user
                    ),
                ));
            }
            *c.by_user.entry(u.clone()).or_default() += 1;
        }
        *c.by_ip.entry(ip).or_default() += 1;
        self.inner.stats.connections.fetch_add(1, Relaxed);
        Ok(Admission {
            counts: self.inner.counts.clone(),
            stats: self.inner.stats.clone(),
            user,
            ip,
        })
    }

    /// Applies the socket settings: small read buffer (idle connections are cheap), eager
    /// writes, client messages bounded by `limits.body`.
    pub fn configure(&self, ws: WebSocketUpgrade) -> WebSocketUpgrade {
        let max = self.inner.opts.max_message_bytes.max(4096);
        ws.read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(max)
            .max_frame_size(max)
    }

    /// Serves an upgraded connection until it ends.
    pub async fn serve(
        &self,
        socket: WebSocket,
        caller: Caller,
        admission: Admission,
        reauth: Option<Reauth>,
    ) {
        socket::run(self.clone(), socket, caller, admission, reauth).await
    }

    /// Refuses new connections and closes every open one with an error frame and close code
    /// 1001, so clients reconnect (to another instance, or after the restart). Returns at
    /// once; [`Realtime::closed`] waits for the connections to end.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Relaxed);
        let _ = self.inner.tx.send(Cmd::Shutdown).await;
    }

    /// Waits until every connection has ended, at most `timeout`; false if some remain.
    pub async fn closed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.inner.stats.connections.load(Relaxed) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}
