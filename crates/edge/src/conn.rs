//! One accepted connection, served with hyper-util's auto (HTTP/1.1 + h2) connection builder.
//!
//! What hyper does not do for us is done here, cheaply:
//! - **Header timeout** (`server.header_timeout`): from the first byte of a request head (or the
//!   connection's start) to the moment the head is complete. A slowloris client trickling
//!   header bytes is cut when it runs out, however steadily it trickles.
//! - **Idle timeout** (`server.idle_timeout`): a keep-alive connection with no request in
//!   flight and no bytes moving for that long is closed. (hyper's own HTTP/1 header timeout
//!   also runs while a connection idles between requests, which would cap keep-alive at the
//!   header timeout; it is therefore off and replaced by this watchdog.)
//! - **Graceful shutdown**: on the drain signal, HTTP/1 connections finish their in-flight
//!   request and close, h2 connections send GOAWAY; on the hard signal they are dropped.
//!
//! The bookkeeping is a few relaxed atomics in [`ConnState`], updated by the [`Tracked`] IO
//! wrapper and the service; one timer per connection checks them ([`ConnState::check`]).

use axum::Router;
use axum::routing::future::RouteFuture;
use http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use mb_core::ConnectionInfo;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::stats::OpenGuard;

/// Timeouts every connection of a listener shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSettings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// The two shutdown signals: drain (stop accepting, finish in-flight requests) and hard (drop
/// whatever is left once `server.shutdown_timeout` has passed). Connections learn about the
/// drain through a [`DrainHub`] ticket rather than by polling `graceful`: a cancellation
/// token takes a process-wide lock on every poll, which every connection would contend on at
/// every wake-up.
#[derive(Clone, Default)]
pub(crate) struct Shutdown {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
    pub hub: Arc<DrainHub>,
}

impl Shutdown {
    /// Starts draining: listeners stop (they watch `graceful`), connections are told.
    pub(crate) fn drain(&self) {
        self.graceful.cancel();
        self.hub.start();
    }
}

/// Tells every open connection when draining starts. One lock when a connection registers and
/// one when it leaves; nothing per request.
#[derive(Default)]
pub(crate) struct DrainHub {
    inner: parking_lot::Mutex<HubInner>,
}

#[derive(Default)]
struct HubInner {
    draining: bool,
    next: u64,
    waiting: std::collections::HashMap<u64, tokio::sync::oneshot::Sender<()>>,
}

impl DrainHub {
    /// A ticket whose receiver completes when draining starts (at once if it already has).
    pub(crate) fn register(self: &Arc<Self>) -> DrainTicket {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut inner = self.inner.lock();
        let id = inner.next;
        inner.next += 1;
        if !inner.draining {
            inner.waiting.insert(id, tx);
        } // else: the sender drops here and the receiver completes at once
        DrainTicket {
            hub: self.clone(),
            id,
            rx,
        }
    }

    fn start(&self) {
        let waiting = {
            let mut inner = self.inner.lock();
            inner.draining = true;
            std::mem::take(&mut inner.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(());
        }
    }
}

/// A connection's registration with the [`DrainHub`]; leaving drops it.
pub(crate) struct DrainTicket {
    hub: Arc<DrainHub>,
    id: u64,
    pub rx: tokio::sync::oneshot::Receiver<()>,
}

impl Drop for DrainTicket {
    fn drop(&mut self) {
        self.hub.inner.lock().waiting.remove(&self.id);
    }
}

/// What every connection of the edge shares.
pub(crate) struct ConnEnv {
    pub builder: auto::Builder<TokioExecutor>,
    pub settings: ConnSettings,
    pub shutdown: Shutdown,
}

/// The HTTP/1.1 + h2 connection builder used for every connection.
pub(crate) fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // Replaced by our watchdog, which does not cut idle keep-alive connections early.
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(256 * 1024);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_pending_accept_reset_streams(50)
        .max_header_list_size(64 * 1024)
        // WebSocket over h2 (RFC 8441), which axum's WebSocketUpgrade understands.
        .enable_connect_protocol();
    b
}

/// Activity of one connection, shared by its IO wrapper, its service and its watchdog.
/// Times are milliseconds since `epoch` (the connection's start). Moving bytes only bumps a
/// counter (no clock read per read or write); the watchdog notices changes when it wakes.
pub(crate) struct ConnState {
    epoch: Instant,
    /// Bumped whenever bytes move or a request finishes.
    activity: AtomicU64,
    /// `1 + ms` when the first byte of a request head arrived (or the connection started) and
    /// the head is not complete yet; 0 when not waiting for a head.
    head_since: AtomicU64,
    in_flight: AtomicU32,
    h2: AtomicBool,
}

/// What the watchdog remembers between its checks.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    seen: u64,
    changed_at_ms: u64,
}

/// Why the watchdog closed a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Check again at this instant.
    Recheck(Instant),
    /// The request head (or, for a new connection, the first request) took too long.
    HeaderTimeout,
    /// Nothing happened for `idle_timeout`.
    Idle,
}

impl ConnState {
    pub(crate) fn new(h2: bool) -> Arc<ConnState> {
        Arc::new(ConnState {
            epoch: Instant::now(),
            activity: AtomicU64::new(0),
            head_since: AtomicU64::new(if h2 { 0 } else { 1 }),
            in_flight: AtomicU32::new(0),
            h2: AtomicBool::new(h2),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn bump(&self) {
        // Not an atomic increment: any change is enough for the watchdog to notice.
        self.activity
            .store(self.activity.load(Relaxed).wrapping_add(1), Relaxed);
    }

    fn on_read(&self) {
        self.bump();
        if self.in_flight.load(Relaxed) == 0
            && self.head_since.load(Relaxed) == 0
            && !self.h2.load(Relaxed)
        {
            self.head_since.store(self.now_ms() + 1, Relaxed);
        }
    }

    fn on_write(&self) {
        self.bump();
    }

    fn request_started(&self) {
        self.head_since.store(0, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
    }

    fn request_finished(&self) {
        self.bump();
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// What the watchdog should do now.
    pub(crate) fn check(&self, s: &ConnSettings, w: &mut Watch) -> Verdict {
        let now = self.now_ms();
        let at = |ms: u64| self.epoch + Duration::from_millis(ms);
        let header = s.header_timeout.as_millis() as u64;
        let idle = s.idle_timeout.as_millis() as u64;
        let activity = self.activity.load(Relaxed);
        if activity != w.seen {
            w.seen = activity;
            w.changed_at_ms = now;
        }
        if self.in_flight.load(Relaxed) > 0 {
            // Handlers are bounded by `server.request_timeout`; look again later.
            return Verdict::Recheck(at(now + header.min(idle).max(1)));
        }
        let head = self.head_since.load(Relaxed);
        if head != 0 && !self.h2.load(Relaxed) {
            let deadline = head - 1 + header;
            return if now >= deadline {
                Verdict::HeaderTimeout
            } else {
                Verdict::Recheck(at(deadline))
            };
        }
        let deadline = w.changed_at_ms + idle;
        if now >= deadline {
            Verdict::Idle
        } else {
            // A request head may start any moment, and activity is only noticed here: look
            // again soon enough to time both.
            Verdict::Recheck(at(deadline.min(now + header.min(idle).max(1))))
        }
    }
}

/// An IO wrapper that tells [`ConnState`] when bytes move.
///
/// It also carries the connection's slot of `server.max_connections` and its place in the open
/// connection count: when a connection is upgraded (WebSocket), the socket — and with it this
/// wrapper — moves to the upgraded stream, so the slot is held until the WebSocket closes.
pub(crate) struct Tracked<IO> {
    io: IO,
    state: Arc<ConnState>,
    sniff: bool,
    _slot: Slot,
}

/// What a connection holds for as long as its socket lives.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _open: OpenGuard,
}

impl Slot {
    pub(crate) fn new(permit: tokio::sync::OwnedSemaphorePermit, open: OpenGuard) -> Slot {
        Slot {
            _permit: permit,
            _open: open,
        }
    }
}

impl<IO> Tracked<IO> {
    /// `sniff`: look at the first bytes for the h2 preface (plaintext h2c with prior knowledge).
    pub(crate) fn new(io: IO, state: Arc<ConnState>, sniff: bool, slot: Slot) -> Self {
        Tracked {
            io,
            state,
            sniff,
            _slot: slot,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                if this.sniff {
                    this.sniff = false;
                    if new.starts_with(b"PRI * HTTP/2") {
                        this.state.h2.store(true, Relaxed);
                        this.state.head_since.store(0, Relaxed);
                    }
                }
                this.state.on_read();
            }
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.state.on_write();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.state.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The per-connection hyper service: adds the connection's facts to every request and hands
/// it to the axum router.
#[derive(Clone)]
pub(crate) struct AppService {
    app: Router,
    info: ConnectionInfo,
    state: Arc<ConnState>,
    hsts: Option<HeaderValue>,
}

impl AppService {
    pub(crate) fn new(
        app: Router,
        info: ConnectionInfo,
        state: Arc<ConnState>,
        hsts: Option<HeaderValue>,
    ) -> Self {
        AppService {
            app,
            info,
            state,
            hsts,
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for AppService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = AppFuture;

    fn call(&self, mut req: http::Request<Incoming>) -> AppFuture {
        let ext = req.extensions_mut();
        ext.insert(self.info);
        self.state.request_started();
        let guard = InFlight(Some(self.state.clone()));
        // Router is always ready (poll_ready is a no-op), and cloning it is one Arc increment.
        let mut app = self.app.clone();
        AppFuture {
            inner: app.call(req),
            guard,
            hsts: self.hsts.clone(),
        }
    }
}

/// Marks a request finished when its handler completes (or is dropped).
struct InFlight(Option<Arc<ConnState>>);

impl InFlight {
    fn finish(&mut self) {
        if let Some(s) = self.0.take() {
            s.request_finished();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish();
    }
}

pin_project! {
    /// The router's future, plus in-flight accounting and HSTS.
    pub(crate) struct AppFuture {
        #[pin]
        inner: RouteFuture<Infallible>,
        guard: InFlight,
        hsts: Option<HeaderValue>,
    }
}

impl Future for AppFuture {
    type Output = Result<axum::response::Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match ready!(this.inner.poll(cx)) {
            Ok(res) => res,
            Err(never) => match never {},
        };
        if let Some(v) = this.hsts.take() {
            res.headers_mut()
                .entry(STRICT_TRANSPORT_SECURITY)
                .or_insert(v);
        }
        this.guard.finish();
        Poll::Ready(Ok(res))
    }
}

/// Serves HTTP on `io` until the client leaves, a timeout fires or shutdown says so.
pub(crate) async fn drive<IO>(
    env: &ConnEnv,
    io: IO,
    state: Arc<ConnState>,
    svc: AppService,
    ticket: &mut DrainTicket,
    stats: &crate::stats::ListenerStats,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = env.settings;
    let remote = svc.info.remote;
    let conn = env
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let watchdog = tokio::time::sleep(settings.header_timeout.min(settings.idle_timeout));
    tokio::pin!(watchdog);
    // Polled only while draining (polling a cancellation token takes a process-wide lock).
    let hard = env.shutdown.hard.cancelled();
    tokio::pin!(hard);
    let mut watch = Watch::default();
    let mut draining = false;
    loop {
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = &mut ticket.rx, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = hard.as_mut(), if draining => return,
            _ = watchdog.as_mut() => match state.check(&settings, &mut watch) {
                Verdict::Recheck(at) => watchdog.as_mut().reset(at),
                Verdict::HeaderTimeout => {
                    stats.header_timeouts.fetch_add(1, Relaxed);
                    tracing::debug!(%remote, "closing connection: request headers not received within server.header_timeout");
                    return;
                }
                Verdict::Idle => {
                    stats.idle_closed.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> ConnSettings {
        ConnSettings {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn new_connection_must_send_a_head_within_the_header_timeout() {
        let s = ConnState::new(false);
        let mut w = Watch::default();
        assert!(matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)));
        tokio::time::advance(Duration::from_secs(9)).await;
        s.on_read(); // trickled bytes do not reset the clock
        assert!(matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(s.check(&settings(), &mut w), Verdict::HeaderTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_connections_idle_for_the_idle_timeout_not_the_header_timeout() {
        let s = ConnState::new(false);
        let mut w = Watch::default();
        s.on_read();
        s.request_started();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(
            matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)),
            "in-flight requests are never cut"
        );
        s.request_finished();
        // the watchdog wakes at least every header_timeout while idle
        for _ in 0..6 {
            tokio::time::advance(Duration::from_secs(10)).await;
            assert!(matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)));
        }
        // the next request starts, is timed by the header timeout
        s.on_read();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(s.check(&settings(), &mut w), Verdict::HeaderTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_close_after_the_idle_timeout() {
        let s = ConnState::new(true);
        let mut w = Watch::default();
        s.request_started();
        s.request_finished();
        assert!(matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)));
        for _ in 0..7 {
            tokio::time::advance(Duration::from_secs(10)).await;
            assert!(matches!(s.check(&settings(), &mut w), Verdict::Recheck(_)));
        }
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(s.check(&settings(), &mut w), Verdict::Idle);
    }
}
