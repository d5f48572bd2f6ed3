//! The bounded queue of frames waiting to be written to one connection.
//!
//! The dispatcher pushes (never waits); the connection's task pops and writes. A connection
//! whose queue would go past `realtime.send_buffer` frames or `realtime.send_buffer_bytes`
//! bytes is a slow consumer: its queue is emptied at once (memory back) and it is marked
//! closed, and its task sends an error frame and disconnects. An idle outbox holds no
//! allocation beyond its header.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

/// One queued frame.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A complete JSON text frame (errors, pongs).
    Frame(Bytes),
    /// A snapshot: the watch's prefix, then the body shared by every watch of the query.
    Snapshot { prefix: Bytes, body: Bytes },
}

impl Out {
    pub(crate) fn len(&self) -> usize {
        match self {
            Out::Frame(b) => b.len(),
            Out::Snapshot { prefix, body } => prefix.len() + body.len(),
        }
    }

    /// The frame's text.
    pub(crate) fn into_text(self) -> Bytes {
        match self {
            Out::Frame(b) => b,
            Out::Snapshot { prefix, body } => {
                let mut v = Vec::with_capacity(prefix.len() + body.len());
                v.extend_from_slice(&prefix);
                v.extend_from_slice(&body);
                Bytes::from(v)
            }
        }
    }
}

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
        Outbox { state: Mutex::new(State::default()), max_frames: max_frames.max(1), max_bytes }
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
                let why = Closed::SlowConsumer { frames: s.items.len() + 1, bytes: s.bytes + len };
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

    #[tokio::test]
    async fn bounded_by_frames_and_bytes() {
        let o = Outbox::new(2, 100);
        o.push(Out::Frame(Bytes::from_static(b"a"))).unwrap();
        o.push(Out::Frame(Bytes::from_static(b"b"))).unwrap();
        assert_eq!(o.push(Out::Frame(Bytes::from_static(b"c"))), Err(Closed::SlowConsumer { frames: 3, bytes: 3 }));
        assert!(matches!(poll_fn(|cx| o.poll_next(cx)).await, Next::Closed(Closed::SlowConsumer { .. })));
        assert!(o.push(Out::Frame(Bytes::from_static(b"d"))).is_err());

        let o = Outbox::new(10, 10);
        o.push(Out::Snapshot { prefix: Bytes::from_static(b"12345"), body: Bytes::from_static(b"123") }).unwrap();
        assert!(o.push(Out::Frame(Bytes::from_static(b"123"))).is_err());
    }

    #[tokio::test]
    async fn pops_in_order_and_wakes() {
        let o = std::sync::Arc::new(Outbox::new(10, 1000));
        let o2 = o.clone();
        let t = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 2 {
                if let Next::Frame(f) = poll_fn(|cx| o2.poll_next(cx)).await {
                    got.push(f.into_text());
                }
            }
            got
        });
        tokio::task::yield_now().await;
        o.push(Out::Frame(Bytes::from_static(b"x"))).unwrap();
        o.push(Out::Snapshot { prefix: Bytes::from_static(b"p"), body: Bytes::from_static(b"b") }).unwrap();
        assert_eq!(t.await.unwrap(), vec![Bytes::from_static(b"x"), Bytes::from_static(b"pb")]);
    }
}
