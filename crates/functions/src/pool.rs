//! The instances of one function: at most `concurrency` at once (each serves one call at a
//! time, as CloudBase instances do), warm ones kept for reuse, callers beyond the limit
//! waiting in a bounded queue (`functions.queue`; a full queue, or a wait longer than the
//! function's timeout, is answered `UNAVAILABLE`).
//!
//! The queue is the function's, not a caller's: an instance that finishes a call takes the
//! next waiting one itself, without going to sleep and being woken again, and only an
//! instance with nothing to do parks (in `idle`) until a call is handed to it. A call is
//! handed to a parked instance first, else to a new one while there are fewer than
//! `concurrency`, else queued.
//!
//! **CPU slots.** JavaScript runs on the instance threads, so more instances running at once
//! than the machine has cores only adds thread switches: every call would wake a parked
//! thread and put it back to sleep. So while [`Pool::cpu_slots`] instances are *running*
//! (executing JavaScript, not waiting for a host call or a timer), a new call joins the queue,
//! where the next of them to finish takes it without sleeping. An instance that starts
//! waiting on I/O gives its slot up ([`Pool::blocked`]) and hands a queued call to a parked
//! instance. So that a long CPU-bound call cannot hold up the calls behind it, a call queued
//! for a slot that is not taken within [`CPU_SLOT_WAIT`] is started on an instance of its own
//! as before.

use crate::CallContext;
use crate::error::FunctionError;
use crate::worker::{Instance, Job, WorkerConfig};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long an idle instance is kept warm.
pub(crate) const IDLE_TTL: Duration = Duration::from_secs(600);
/// How long past its timeout an instance may take to answer before it is given up on.
const GRACE: Duration = Duration::from_secs(5);
/// Longest a call waits for a CPU slot while instances could take it.
pub(crate) const CPU_SLOT_WAIT: Duration = Duration::from_millis(2);

/// Where a call stands. Changed only under the pool's lock.
pub(crate) struct Ticket(AtomicU8);

const QUEUED: u8 = 0;
/// On an instance, running (holding a CPU slot).
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;
/// On an instance that waits for a host call or a timer (no CPU slot).
const WAITING: u8 = 4;

impl Ticket {
    fn new(state: u8) -> Arc<Ticket> {
        Arc::new(Ticket(AtomicU8::new(state)))
    }
    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

/// The instance a call that starts now runs on.
enum Seat {
    /// A parked instance.
    Parked(Instance),
    /// A new instance thread (its `live` slot counted).
    New,
}

/// What an instance does after a call.
pub(crate) enum Next {
    /// Serve this call now.
    Job(Box<Job>),
    /// Wait on its channel for a call (its handle is in the pool's idle list).
    Park,
    /// Stop the thread.
    Exit,
}

pub(crate) struct Pool {
    cfg: Arc<WorkerConfig>,
    concurrency: usize,
    cpu_slots: usize,
    queue_limit: usize,
    state: Mutex<State>,
    timeout: Mutex<Duration>,
    this: Weak<Pool>,
}

#[derive(Default)]
struct State {
    /// Calls waiting for an instance, oldest first.
    queue: VecDeque<Box<Job>>,
    /// Parked instances, most recently used last.
    idle: Vec<Instance>,
    /// Instance threads that count against `concurrency` (serving a call or parked).
    live: usize,
    /// Calls in state RUNNING (on an instance, not waiting on I/O).
    running: usize,
    /// Refusing calls; finishing instances stop.
    closed: bool,
}

impl Pool {
    /// `timeout`: the function's, as its `config.json` said when the pool was made.
    pub fn new(
        cfg: Arc<WorkerConfig>,
        concurrency: usize,
        queue: usize,
        timeout: Duration,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Pool {
            cfg,
            concurrency: concurrency.max(1),
            cpu_slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_limit: queue,
            state: Mutex::new(State::default()),
            timeout: Mutex::new(timeout),
            this: this.clone(),
        })
    }

    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn busy_error(&self) -> FunctionError {
        FunctionError::Busy {
            name: self.name().to_owned(),
        }
    }

    /// Runs one invocation: on a parked instance, a new one, or the next instance to finish.
    pub async fn invoke(&self, event: String, call: CallContext) -> Result<String, FunctionError> {
        let submitted = Instant::now();
        let timeout = *self.timeout.lock();
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        // A call from inside another function never waits: its caller holds an instance
        // while waiting for it, so waiting could deadlock. It runs on an extra instance,
        // bounded by the nesting limit.
        let nested = call.depth > 0;
        let ticket = Ticket::new(RUNNING);
        let job = Box::new(Job {
            event,
            call,
            submitted,
            reply,
            ticket: ticket.clone(),
        });
        let mut for_slot = false;
        let queued = {
            let mut st = self.state.lock();
            if st.closed {
                return Err(FunctionError::ShuttingDown);
            }
            if !nested && st.running >= self.cpu_slots && st.queue.len() < self.queue_limit {
                // Every core is busy with this function's JavaScript: the next instance to
                // finish takes it (see the module docs).
                ticket.set(QUEUED);
                st.queue.push_back(job);
                for_slot = true;
                true
            } else if let Some(seat) = self.seat(&mut st, nested) {
                drop(st);
                self.start(seat, job)?;
                false
            } else if st.queue.len() < self.queue_limit {
                ticket.set(QUEUED);
                st.queue.push_back(job);
                true
            } else {
                return Err(self.busy_error());
            }
        };
        if for_slot {
            if let Ok(r) = tokio::time::timeout(CPU_SLOT_WAIT, &mut answer).await {
                return r
                    .unwrap_or_else(|_| Err(FunctionError::Internal("instance stopped".into())));
            }
            // No slot came free: start it on an instance of its own if there is one.
            let mut st = self.state.lock();
            if ticket.get() == QUEUED && !st.closed {
                if let Some(seat) = self.seat(&mut st, false) {
                    let at = st
                        .queue
                        .iter()
                        .position(|j| Arc::ptr_eq(&j.ticket, &ticket));
                    let job = at
                        .and_then(|i| st.queue.remove(i))
                        .expect("a queued call is in the queue");
                    ticket.set(RUNNING);
                    drop(st);
                    self.start(seat, job)?;
                }
            }
        }
        if queued {
            if let Ok(r) = tokio::time::timeout(timeout, &mut answer).await {
                return r
                    .unwrap_or_else(|_| Err(FunctionError::Internal("instance stopped".into())));
            }
            let mut st = self.state.lock();
            if ticket.get() == QUEUED {
                st.queue.retain(|j| !Arc::ptr_eq(&j.ticket, &ticket));
                return Err(self.busy_error());
            }
        }
        match tokio::time::timeout(timeout + GRACE, &mut answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(FunctionError::Internal("instance stopped".into())),
            Err(_) => {
                let mut st = self.state.lock();
                let state = ticket.get();
                if state == RUNNING || state == WAITING {
                    tracing::error!(function = %self.name(), "instance did not answer after its timeout; abandoned");
                    // The stuck thread no longer counts; whoever waits gets a new instance.
                    ticket.set(ABANDONED);
                    st.live -= 1;
                    if state == RUNNING {
                        st.running -= 1;
                    }
                    let next = self.refill(&mut st);
                    drop(st);
                    if let Some(job) = next {
                        let _ = self.spawn(job);
                    }
                    return Err(FunctionError::Timeout {
                        name: self.name().to_owned(),
                        ms: timeout.as_millis() as u64,
                    });
                }
                drop(st);
                // Finished just now: the answer is on its way.
                answer
                    .await
                    .unwrap_or_else(|_| Err(FunctionError::Internal("instance stopped".into())))
            }
        }
    }

    /// Starts an instance thread for `job` (its `live` slot and CPU slot already counted).
    fn spawn(&self, job: Box<Job>) -> Result<(), FunctionError> {
        Instance::spawn(self.cfg.clone(), self.this.clone(), job).map_err(|e| {
            let mut st = self.state.lock();
            st.live -= 1;
            st.running -= 1;
            FunctionError::Internal(format!("could not start an instance thread: {e}"))
        })
    }

    /// An instance for a call that starts now: a parked one, else a new one while there are
    /// fewer than `concurrency` (or always, when `extra`). Its CPU slot is counted.
    fn seat(&self, st: &mut State, extra: bool) -> Option<Seat> {
        let seat = if let Some(instance) = st.idle.pop() {
            Seat::Parked(instance)
        } else if st.live < self.concurrency || extra {
            st.live += 1;
            Seat::New
        } else {
            return None;
        };
        st.running += 1;
        Some(seat)
    }

    /// Starts `job` on its seat. A parked instance whose thread died without telling the pool
    /// is replaced by a new one.
    fn start(&self, seat: Seat, job: Box<Job>) -> Result<(), FunctionError> {
        match seat {
            Seat::Parked(instance) => match instance.hand(job) {
                Ok(()) => Ok(()),
                Err(job) => self.spawn(job),
            },
            Seat::New => self.spawn(job),
        }
    }

    /// The instance serving `ticket`'s call starts waiting for a host call or a timer: it
    /// gives its CPU slot up, and a call queued for a slot goes to a parked instance.
    pub(crate) fn blocked(&self, ticket: &Ticket) {
        let mut st = self.state.lock();
        if ticket.get() != RUNNING {
            return;
        }
        ticket.set(WAITING);
        st.running -= 1;
        if st.queue.is_empty() || st.running >= self.cpu_slots {
            return;
        }
        let Some(seat) = self.seat(&mut st, false) else {
            return;
        };
        let job = st.queue.pop_front().expect("the queue is not empty");
        job.ticket.set(RUNNING);
        drop(st);
        let _ = self.start(seat, job);
    }

    /// The instance serving `ticket`'s call runs again after [`Pool::blocked`].
    pub(crate) fn resumed(&self, ticket: &Ticket) {
        let mut st = self.state.lock();
        if ticket.get() == WAITING {
            ticket.set(RUNNING);
            st.running += 1;
        }
    }

    /// When a slot came free and calls wait: the call a new instance should take (its slot
    /// counted).
    fn refill(&self, st: &mut State) -> Option<Box<Job>> {
        if st.live >= self.concurrency {
            return None;
        }
        let job = st.queue.pop_front()?;
        job.ticket.set(RUNNING);
        st.live += 1;
        st.running += 1;
        Some(job)
    }

    /// Called by an instance thread when `ticket`'s call is over (just before it answers):
    /// the next call to serve, or whether to park or stop. `keep` is false when the instance
    /// must go; `timeout` is the function's (for queue waits); `park` makes the instance's
    /// handle for the idle list. Calls still queued are served even after [`Pool::clear`].
    pub(crate) fn finished(
        &self,
        ticket: &Ticket,
        keep: bool,
        timeout: Option<Duration>,
        park: impl FnOnce() -> Instance,
    ) -> Next {
        if let Some(t) = timeout {
            *self.timeout.lock() = t;
        }
        let mut st = self.state.lock();
        match ticket.get() {
            // No longer counted: the pool gave up on this thread.
            ABANDONED => return Next::Exit,
            RUNNING => st.running -= 1,
            _ => {}
        }
        ticket.set(DONE);
        if !keep || st.live > self.concurrency {
            st.live -= 1;
            let next = if keep { None } else { self.refill(&mut st) };
            drop(st);
            if let Some(job) = next {
                let _ = self.spawn(job);
            }
            return Next::Exit;
        }
        if let Some(job) = st.queue.pop_front() {
            job.ticket.set(RUNNING);
            st.running += 1;
            return Next::Job(job);
        }
        if st.closed {
            st.live -= 1;
            return Next::Exit;
        }
        let mut instance = park();
        instance.last_used = Instant::now();
        st.idle.push(instance);
        Next::Park
    }

    /// Drops instances idle for longer than `ttl`. Whether the pool is now entirely unused.
    pub fn reap(&self, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut st = self.state.lock();
        let before = st.idle.len();
        st.idle.retain(|i| now.duration_since(i.last_used) < ttl);
        st.live -= before - st.idle.len();
        st.live == 0 && st.queue.is_empty()
    }

    /// Refuses new calls and drops every idle instance; calls in progress finish.
    pub fn clear(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        let idle = std::mem::take(&mut st.idle);
        st.live -= idle.len();
        drop(st);
        drop(idle);
    }

    /// Calls in progress or waiting.
    pub fn busy(&self) -> usize {
        let st = self.state.lock();
        st.live - st.idle.len() + st.queue.len()
    }
}
