//! The bounded queue of frames waiting to be written to one connection.
//!
//! The dispatcher pushes (never waits); the connection's task pops and writes. A connection
//! whose queue would go past `realtime.send_buffer` frames or `realtime.send_buffer_bytes`
//! bytes is a slow consumer: its queue is emptied at once (memory back) and it is marked
//! closed, and its task sends an error frame and disconnects. An idle outbox holds no
//! allocation beyond its header.

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

/// One queued text frame. Snapshot frames are shared (a reference count) by every connection
/// whose watch has the same id and query: built once, written many times, never copied.
pub(crate) type Out = Utf8Bytes;

/// Why an outbox stopped accepting frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Too many frames or bytes waiting.
    SlowConsumer { frames: usize, bytes: usize },
    /// The server is shutting down.
    Shutdown,
    /// The connection is gone (its task ended).
    Gone,
}

/// What the connection's task gets next.
pub(crate) enum Next {
    Frame(Out),
    Closed(Closed),
}

#[derive(Default)]
struct State {
    items: VecDeque<Out>,
    bytes: usize,
    closed: Option<Closed>,
    waker: Option<Waker>,
}

/// A connection's queue.
pub(crate) struct Outbox {
    state: Mutex<State>,
    max_frames: usize,
    max_bytes: usize,
}

impl Outbox {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// Queues a frame; `Err` when the outbox is closed (now or before).
    pub(crate) fn push(&self, out: Out) -> Result<(), Closed> {
        let waker = {
            let mut s = self.state.lock();
            if let Some(c) = s.closed {
                return Err(c);
            }
            let len = out.len();
            if s.items.len() >= self.max_frames || s.bytes + len > self.max_bytes {
                let why = Closed::SlowConsumer {
                    frames: s.items.len() + 1,
                    bytes: s.bytes + len,
                };
                s.items = VecDeque::new();
                s.bytes = 0;
                s.closed = Some(why);
                let w = s.waker.take();
                drop(s);
                if let Some(w) = w {
                    w.wake();
                }
                return Err(why);
            }
            s.bytes += len;
            s.items.push_back(out);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Closes the outbox (queued frames are dropped), unless it is closed already.
    pub(crate) fn close(&self, why: Closed) {
        let waker = {
            let mut s = self.state.lock();
            if s.closed.is_some() {
                return;
            }
            s.closed = Some(why);
            s.items = VecDeque::new();
            s.bytes = 0;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The next frame, or why there will be none.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut s = self.state.lock();
        if let Some(c) = s.closed {
            return Poll::Ready(Next::Closed(c));
        }
        if let Some(out) = s.items.pop_front() {
            s.bytes -= out.len();
            if s.items.is_empty() && s.items.capacity() > 16 {
                s.items = VecDeque::new();
            }
            return Poll::Ready(Next::Frame(out));
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn f(s: &'static str) -> Out {
        Utf8Bytes::from_static(s)
    }

    #[tokio::test]
    async fn bounded_by_frames_and_bytes() {
        let o = Outbox::new(2, 100);
        o.push(f("a")).unwrap();
        o.push(f("b")).unwrap();
        assert_eq!(
            o.push(f("c")),
            Err(Closed::SlowConsumer {
                frames: 3,
                bytes: 3
            })
        );
        assert!(matches!(
            poll_fn(|cx| o.poll_next(cx)).await,
            Next::Closed(Closed::SlowConsumer { .. })
        ));
        assert!(o.push(f("d")).is_err());

        let o = Outbox::new(10, 10);
        o.push(f("12345678")).unwrap();
        assert!(o.push(f("123")).is_err());
    }

    #[tokio::test]
    async fn pops_in_order_and_wakes() {
        let o = std::sync::Arc::new(Outbox::new(10, 1000));
        let o2 = o.clone();
        let t = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 2 {
                if let Next::Frame(x) = poll_fn(|cx| o2.poll_next(cx)).await {
                    got.push(x.to_string());
                }
            }
            got
        });
        tokio::task::yield_now().await;
        o.push(f("x")).unwrap();
        o.push(f("pb")).unwrap();
        assert_eq!(t.await.unwrap(), vec!["x".to_string(), "pb".to_string()]);
    }
}
