//! One WebSocket connection: a single task that reads client frames, writes queued frames,
//! pings, and enforces the idle timeout, token lifetime and slow-consumer rules.
//!
//! The task is one `poll_fn` state machine over the socket, the connection's [`Outbox`] and
//! one interval timer: no second task, no per-watch task, no lock held across a write. A
//! frame popped from the outbox is handed to the socket only when the socket is ready, so
//! nothing is lost when the loop wakes for something else. A write that makes no progress
//! for `realtime.idle_timeout` ends the connection.

use crate::hub::{Cmd, ConnId};
use crate::outbox::{Closed, Next, Outbox};
use crate::protocol;
use crate::session::Session;
use crate::{Admission, Realtime, Reauth};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use mb_core::{ApiError, Caller, ErrorCode};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

/// Frames written per wake-up before the loop looks at reads and timers again.
const WRITE_BUDGET: usize = 64;
/// How long a farewell (error frame + close) may take.
const FAREWELL: Duration = Duration::from_secs(10);
/// How long to wait for the client's answer to our close frame.
const CLOSE_REPLY: Duration = Duration::from_secs(3);

enum Ev {
    Incoming(Option<Result<Message, axum::Error>>),
    Written,
    WriteFailed,
    Closed(Closed),
    Tick,
}

enum End {
    /// The client closed, or the socket is gone: nothing more to say.
    Quiet,
    /// Say why in an error frame, then close with this code.
    Explain(ApiError, u16, &'static str),
}

/// Tells the dispatcher a connection is gone, even if its task is dropped mid-way.
struct Guard {
    conn: ConnId,
    outbox: Arc<Outbox>,
    tx: mpsc::Sender<Cmd>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.outbox.close(Closed::Gone);
        if let Err(mpsc::error::TrySendError::Full(cmd)) =
            self.tx.try_send(Cmd::Close { conn: self.conn })
        {
            let tx = self.tx.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = tx.send(cmd).await;
                });
            }
        }
    }
}

/// One thing the connection's task waits on (the socket's read side, the timer): its own
/// waker records that it fired, then wakes the task.
struct Source {
    ready: AtomicBool,
    task: AtomicWaker,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            ready: AtomicBool::new(true),
            task: AtomicWaker::new(),
        }
    }
}

impl Source {
    fn set_task(&self, w: &Waker) {
        self.task.register(w);
    }

    fn take(&self) -> bool {
        self.ready.swap(false, Acquire)
    }

    fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }
}

impl Wake for Source {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Release);
        self.task.wake();
    }
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn run(
    rt: Realtime,
    mut ws: WebSocket,
    caller: Caller,
    admission: Admission,
    reauth: Option<Reauth>,
) {
    let _admission = admission;
    let inner = &rt.inner;
    let opts = inner.opts.clone();
    let conn = inner.next_conn.fetch_add(1, Relaxed);
    let outbox = Arc::new(Outbox::new(opts.send_buffer, opts.send_buffer_bytes));
    let tx = inner.tx.clone();
    if tx
        .send(Cmd::Open {
            conn,
            outbox: outbox.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let _guard = Guard {
        conn,
        outbox: outbox.clone(),
        tx: tx.clone(),
    };
    let session = Session {
        conn,
        caller,
        db: inner.db.clone(),
        opts: opts.clone(),
        outbox: outbox.clone(),
        tx,
    };

    let period = opts.ping_interval();
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    let mut pending: Option<Message> = None;
    let mut flushing = false;
    let mut writing_since: Option<Instant> = None;
    let reads = Arc::new(Source::default());
    let timer = Arc::new(Source::default());

    let end = loop {
        let ev = std::future::poll_fn(|cx| {
            reads.set_task(cx.waker());
            timer.set_task(cx.waker());
            // Reads and the timer are polled only when they woke us: most wake-ups are frames
            // to write, and polling the socket for reads on each costs a tenth of a fan-out.
            if reads.take() {
                let waker = reads.waker();
                if let Poll::Ready(m) = ws.poll_next_unpin(&mut Context::from_waker(&waker)) {
                    reads.ready.store(true, Release); // frames may already be buffered
                    return Poll::Ready(Ev::Incoming(m));
                }
            }
            if timer.take() {
                let waker = timer.waker();
                if tick.poll_tick(&mut Context::from_waker(&waker)).is_ready() {
                    timer.ready.store(true, Release);
                    return Poll::Ready(Ev::Tick);
                }
            }
            for _ in 0..WRITE_BUDGET {
                if flushing {
                    match ws.poll_flush_unpin(cx) {
                        Poll::Ready(Ok(())) => {
                            flushing = false;
                            writing_since = None;
                        }
                        Poll::Ready(Err(_)) => return Poll::Ready(Ev::WriteFailed),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                if pending.is_none() {
                    match outbox.poll_next(cx) {
                        Poll::Ready(Next::Frame(out)) => pending = Some(Message::Text(out)),
                        Poll::Ready(Next::Closed(c)) => return Poll::Ready(Ev::Closed(c)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                match ws.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {
                        if let Some(m) = pending.take() {
                            if ws.start_send_unpin(m).is_err() {
                                return Poll::Ready(Ev::WriteFailed);
                            }
                            flushing = true;
                            writing_since.get_or_insert_with(Instant::now);
                        }
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Ev::WriteFailed),
                    Poll::Pending => {
                        writing_since.get_or_insert_with(Instant::now);
                        return Poll::Pending;
                    }
                }
            }
            Poll::Ready(Ev::Written)
        })
        .await;

        match ev {
            Ev::Written => {}
            Ev::Incoming(Some(Ok(msg))) => {
                last_seen = Instant::now();
                match msg {
                    Message::Text(t) => {
                        if session.on_text(t.as_str()).await.is_err() {
                            break End::Explain(
                                ApiError::unavailable("the server is shutting down: reconnect"),
                                1001,
                                "server shutting down",
                            );
                        }
                    }
                    Message::Binary(_) => {
                        let e = ApiError::invalid(
                            "binary frames are not supported: send JSON text frames",
                        );
                        let _ = outbox.push(Utf8Bytes::from(protocol::error_frame(None, &e)));
                    }
                    Message::Ping(_) | Message::Pong(_) => {}
                    Message::Close(_) => break End::Quiet,
                }
            }
            Ev::Incoming(Some(Err(e))) => {
                let msg = e.to_string();
                let (code, status) = if msg.contains("too long") || msg.contains("Space limit") {
                    (ErrorCode::PayloadTooLarge, 1009)
                } else {
                    (ErrorCode::InvalidArgument, 1002)
                };
                break End::Explain(
                    ApiError::new(code, format!("bad WebSocket frame: {msg}")),
                    status,
                    "bad frame",
                );
            }
            Ev::Incoming(None) | Ev::WriteFailed => break End::Quiet,
            Ev::Closed(Closed::SlowConsumer { frames, bytes }) => {
                inner.stats.slow_consumers.fetch_add(1, Relaxed);
                tracing::info!(
                    conn,
                    frames,
                    bytes,
                    "realtime: disconnecting a slow consumer"
                );
                break End::Explain(
                    ApiError::unavailable(format!(
                        "this connection reads too slowly: {frames} frames ({bytes} bytes) waiting, over \
                         realtime.send_buffer ({}) or realtime.send_buffer_bytes ({}); reconnect and watch again",
                        opts.send_buffer, opts.send_buffer_bytes
                    )),
                    1008,
                    "slow consumer",
                );
            }
            Ev::Closed(_) => {
                break End::Explain(
                    ApiError::unavailable("the server is shutting down: reconnect"),
                    1001,
                    "server shutting down",
                );
            }
            Ev::Tick => {
                let now = Instant::now();
                if writing_since.is_some_and(|t| now.duration_since(t) > opts.idle_timeout) {
                    tracing::info!(
                        conn,
                        "realtime: dropping a connection whose writes made no progress"
                    );
                    break End::Quiet;
                }
                if now.duration_since(last_seen) > opts.idle_timeout {
                    break End::Explain(
                        ApiError::new(
                            ErrorCode::DeadlineExceeded,
                            format!(
                                "nothing received for {}s (realtime.idle_timeout): closing",
                                opts.idle_timeout.as_secs()
                            ),
                        ),
                        1001,
                        "idle",
                    );
                }
                if let Some(check) = &reauth {
                    if let Err(e) = check() {
                        break End::Explain(
                            ApiError::unauthenticated(format!(
                                "{}; reconnect with a fresh token",
                                e.message
                            )),
                            1008,
                            "unauthenticated",
                        );
                    }
                }
                if pending.is_none() && !flushing {
                    pending = Some(Message::Ping(Bytes::new()));
                }
            }
        }
    };

    if let End::Explain(error, code, reason) = end {
        let farewell = async {
            ws.send(Message::Text(Utf8Bytes::from(protocol::error_frame(
                None, &error,
            ))))
            .await?;
            ws.send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await?;
            // The closing handshake: let the client read what is buffered and answer, rather
            // than cutting the TCP connection under its last frames.
            let _ = tokio::time::timeout(CLOSE_REPLY, async {
                while let Some(Ok(m)) = ws.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
            Ok::<(), axum::Error>(())
        };
        let _ = tokio::time::timeout(FAREWELL, farewell).await;
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
    }
    // `_guard` tells the dispatcher.
}
