//! One function instance: a dedicated thread owning a QuickJS runtime (QuickJS is `!Send`).
//! The thread loads the function's code, then serves one invocation at a time; after each it
//! asks its pool (`pool.rs`) for the next waiting call, and parks on its channel only when
//! there is none. During an invocation it runs its own little event loop: promise jobs, timers, and completions of host
//! calls, which come back over the same channel. Database calls are polled on the instance
//! thread itself (their waker posts to the channel), and the thread is marked with
//! `docdb::backend::mark_blocking_thread`, so the SQLite backend runs reads right here: a
//! query is answered in the first poll, without a hand-off to a reader thread and back. Writes
//! still go to the database's writer (group commit) and wake the instance when committed; the
//! other host calls (HTTP, files, open APIs, `callFunction`) run on the tokio runtime.
//!
//! Life of an instance, as CloudBase's:
//! - **warm**: module-level state survives between invocations of the same instance;
//! - **frozen between calls**: timers and completions that arrive while idle wait for the next
//!   invocation;
//! - **reloaded** when a file it loaded (or `config.json`) changed: the new version is loaded
//!   in a fresh runtime before the call; if it does not load, the call (and every later one
//!   until the files change again) answers the load error — calls never run half-old,
//!   half-new code;
//! - **discarded** after a timeout (the interrupt handler stops runaway code), when it ran
//!   out of memory, or on a bug.

use crate::error::FunctionError;
use crate::host::{HostError, OpContext};
use crate::modules::{Fingerprint, Resolver, stamp};
use crate::pool::{Next, Pool, Ticket};
use crate::spec::FunctionSpec;
use crate::{CallContext, natives};
use rquickjs::{
    CatchResultExt, Context, Ctx, Function, Object, Persistent, Runtime, Value as JsValue,
};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

const PRELUDE_JS: &str = include_str!("js/prelude.js");
const CLOUD_JS: &str = include_str!("js/cloud.js");

/// QuickJS's own stack limit, well inside the thread's.
const JS_STACK: usize = 1 << 20;
/// The instance thread's stack.
const THREAD_STACK: usize = 4 << 20;
/// Log lines one invocation may write; the rest are counted and reported once.
const MAX_LOG_LINES: u32 = 1000;
/// Invocations between two heap-size checks of a healthy instance.
const MEMORY_CHECK_EVERY: u64 = 1024;
/// Longest log line kept.
const MAX_LOG_LINE: usize = 8 << 10;

/// What every instance of every function shares: bindings, HTTP client, runtime handle.
pub(crate) struct HostEnv {
    pub services: crate::host::Services,
    pub fetch: crate::fetch::FetchClient,
    pub handle: tokio::runtime::Handle,
    pub manager: Weak<crate::Inner>,
    pub appid: String,
    pub env_id: String,
    /// Recent invocations and log lines (the console's Functions page).
    pub activity: crate::activity::Activity,
    /// The Node.js runtime, or why it is not available.
    pub node: Result<crate::node::NodeRuntime, String>,
}

/// What every instance of one function shares.
pub(crate) struct WorkerConfig {
    pub name: String,
    /// The canonical functions folder.
    pub dir: PathBuf,
    pub defaults: FunctionSpec,
    /// The runtime when `config.json` names none.
    pub runtime: crate::spec::Runtime,
    pub host: Arc<HostEnv>,
    /// The last check that found a version's files unchanged: its fingerprint key and when
    /// the check began.
    pub verified: parking_lot::Mutex<(u64, Option<Instant>)>,
}

impl WorkerConfig {
    /// Whether the files of `fp` are unchanged for a call submitted at `submitted`. A check
    /// that began after the call was submitted (by any instance with the same files) already
    /// answers that, so under load most calls skip the `stat`s: a file changed before a call
    /// was made is always seen by that call.
    pub fn unchanged_since(&self, fp: &mut Fingerprint, submitted: Instant) -> bool {
        let key = fp.key();
        let began = Instant::now();
        {
            let v = self.verified.lock();
            if v.0 == key && v.1.is_some_and(|t| t >= submitted) && !fp.deps_due(began) {
                return true;
            }
        }
        if fp.changed() {
            return false;
        }
        let mut v = self.verified.lock();
        if v.0 != key || v.1.is_none_or(|t| began > t) {
            *v = (key, Some(began));
        }
        true
    }
}

/// Messages to an instance thread.
pub(crate) enum Msg {
    Invoke(Box<Job>),
    /// A host call finished; `result` is the JSON text of its answer.
    OpDone {
        generation: u64,
        id: u32,
        result: Result<String, HostError>,
    },
    /// A host call polled on this thread was woken: poll it again.
    OpWake {
        generation: u64,
        id: u32,
    },
    /// A line from a Node.js worker process (`node.rs`).
    NodeLine {
        generation: u64,
        line: Vec<u8>,
    },
    /// The Node.js worker process closed its channel (it exited or was killed).
    NodeGone {
        generation: u64,
    },
    Shutdown,
}

/// How a host call started.
pub(crate) enum OpStart {
    /// Running: its answer comes later, delivered to `complete(id, …)`.
    Pending(u32),
    /// Answered already (a database read run inline).
    Done(Result<String, HostError>),
}

/// A host call polled on the instance thread.
struct LocalOp {
    fut: Pin<Box<dyn Future<Output = Result<String, HostError>> + Send>>,
    waker: Arc<OpWaker>,
}

/// Wakes a [`LocalOp`]: one `OpWake` message on the instance's channel per wake-up.
struct OpWaker {
    tx: Sender<Msg>,
    generation: u64,
    id: u32,
    queued: AtomicBool,
}

impl std::task::Wake for OpWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Msg::OpWake {
                generation: self.generation,
                id: self.id,
            });
        }
    }
}

/// One invocation: the event (JSON text) and who is calling; the answer is the JSON text of
/// the result.
pub(crate) struct Job {
    pub event: String,
    pub call: CallContext,
    /// When the call was made (files changed before then must be seen).
    pub submitted: Instant,
    pub reply: tokio::sync::oneshot::Sender<Result<String, FunctionError>>,
    pub ticket: Arc<Ticket>,
}

/// How an invocation ended, and whether the instance may be reused.
struct JobOutcome {
    /// The JSON text of the result.
    pub result: Result<String, FunctionError>,
    pub keep: bool,
    /// The function's timeout as its `config.json` says (for the pool's queue waits).
    pub timeout: Option<Duration>,
}

/// The pool's handle on a parked instance thread; dropping it stops the thread.
pub(crate) struct Instance {
    tx: Option<Sender<Msg>>,
    pub last_used: Instant,
}

impl Instance {
    /// Starts an instance thread serving `first`, then what `pool` gives it.
    pub fn spawn(cfg: Arc<WorkerConfig>, pool: Weak<Pool>, first: Box<Job>) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let name = format!("fn-{}", cfg.name.chars().take(12).collect::<String>());
        std::thread::Builder::new()
            .name(name)
            .stack_size(THREAD_STACK)
            .spawn(move || run(cfg, pool, rx, tx, first))?;
        Ok(())
    }

    /// Hands a call to the parked thread; the call back if the thread is gone.
    pub fn hand(mut self, job: Box<Job>) -> Result<(), Box<Job>> {
        let Some(tx) = self.tx.take() else {
            return Err(job);
        };
        match tx.send(Msg::Invoke(job)) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::SendError(Msg::Invoke(job))) => Err(job),
            Err(_) => unreachable!("the message sent is an Invoke"),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Shutdown);
        }
    }
}

/// The state natives share with the engine (the thread's only owner of JS-facing state).
pub(crate) struct Shared {
    pub cfg: Arc<WorkerConfig>,
    pub resolver: Resolver,
    pub generation: u64,
    pub tx: Sender<Msg>,
    pub deadline: Cell<Option<Instant>>,
    pub interrupted: Cell<bool>,
    pub st: RefCell<State>,
    /// Host calls polled on this thread (database calls), by id.
    local: RefCell<HashMap<u32, LocalOp>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub fingerprint: Fingerprint,
    timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    armed: HashMap<u32, u64>,
    arm_seq: u64,
    pub pending_ops: usize,
    next_op: u32,
    pub outcome: Option<(u64, bool, String)>,
    pub call: Option<CallState>,
    log_lines: u32,
    logs_dropped: u32,
}

/// The invocation in progress, for logs and host calls.
#[derive(Clone)]
pub(crate) struct CallState {
    pub ctx: CallContext,
    pub deadline: Instant,
}

impl Shared {
    pub fn arm_timer(&self, id: u32, ms: f64) {
        let mut st = self.st.borrow_mut();
        st.arm_seq += 1;
        let seq = st.arm_seq;
        let due = Instant::now() + Duration::from_millis(ms.clamp(0.0, 2_147_483_647.0) as u64);
        st.armed.insert(id, seq);
        st.timers.push(Reverse((due, seq, id)));
    }

    pub fn clear_timer(&self, id: u32) {
        self.st.borrow_mut().armed.remove(&id);
    }

    /// The next live timer's due time (stale entries are dropped).
    fn next_timer(&self) -> Option<Instant> {
        let mut st = self.st.borrow_mut();
        while let Some(Reverse((due, seq, id))) = st.timers.peek().copied() {
            if st.armed.get(&id) == Some(&seq) {
                return Some(due);
            }
            st.timers.pop();
        }
        None
    }

    fn pop_due_timer(&self, now: Instant) -> Option<u32> {
        let due = self.next_timer()?;
        if due > now {
            return None;
        }
        let mut st = self.st.borrow_mut();
        let Reverse((_, _, id)) = st.timers.pop()?;
        st.armed.remove(&id);
        Some(id)
    }

    /// Starts a host call. A database call is polled on this thread, first right away: when
    /// that first poll already has the answer (reads run inline on this thread), it is
    /// returned as [`OpStart::Done`] and the JavaScript side settles its promise at once.
    /// Otherwise the answer comes over the channel later (the call is polled again whenever it
    /// is woken); the other host calls run on the tokio runtime.
    pub fn start_op(&self, op: String, args: Value) -> OpStart {
        let (id, cx) = {
            let mut st = self.st.borrow_mut();
            st.next_op = st.next_op.wrapping_add(1);
            st.pending_ops += 1;
            let cx = op_context(&self.cfg, st.call.as_ref());
            (st.next_op, cx)
        };
        let host = self.cfg.host.clone();
        let tx = self.tx.clone();
        let generation = self.generation;
        if crate::host::is_database_op(&op) {
            let fut = Box::pin(async move {
                crate::host::dispatch_json(&host.services, &host.fetch, None, &op, args, cx).await
            });
            let waker = Arc::new(OpWaker {
                tx: tx.clone(),
                generation,
                id,
                queued: AtomicBool::new(false),
            });
            self.local.borrow_mut().insert(id, LocalOp { fut, waker });
            if let Some(result) = self.poll_local(id) {
                let mut st = self.st.borrow_mut();
                st.pending_ops = st.pending_ops.saturating_sub(1);
                return OpStart::Done(result);
            }
            return OpStart::Pending(id);
        }
        host.handle.clone().spawn(async move {
            let manager = host.manager.upgrade().map(crate::Functions::from_inner);
            let result =
                crate::host::dispatch_json(&host.services, &host.fetch, manager, &op, args, cx)
                    .await;
            let _ = tx.send(Msg::OpDone {
                generation,
                id,
                result,
            });
        });
        OpStart::Pending(id)
    }

    /// Polls the local host call `id`; its answer once it has one.
    fn poll_local(&self, id: u32) -> Option<Result<String, HostError>> {
        // Taken out while polled: the map is not borrowed while the future runs.
        let mut op = self.local.borrow_mut().remove(&id)?;
        op.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(op.waker.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        match op.fut.as_mut().poll(&mut cx) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => {
                self.local.borrow_mut().insert(id, op);
                None
            }
        }
    }

    /// `console.*` and `cloud.logger()`: into our structured logs, with the request id.
    pub fn log(&self, level: &str, msg: &str) {
        let mut st = self.st.borrow_mut();
        if st.log_lines >= MAX_LOG_LINES {
            st.logs_dropped += 1;
            return;
        }
        st.log_lines += 1;
        let rid = st
            .call
            .as_ref()
            .map(|c| c.ctx.request_id.clone())
            .unwrap_or_default();
        drop(st);
        emit_log(&self.cfg.host, &self.cfg.name, &rid, level, msg);
    }

    fn timed_out(&self) -> bool {
        self.interrupted.get() || self.deadline.get().is_some_and(|d| Instant::now() >= d)
    }
}

/// Budget of log lines for one invocation: at most [`MAX_LOG_LINES`], the rest counted.
#[derive(Default)]
pub(crate) struct LogBudget {
    pub lines: u32,
    pub dropped: u32,
}

impl LogBudget {
    /// Whether one more line may be written (counts it either way).
    pub fn take(&mut self) -> bool {
        if self.lines >= MAX_LOG_LINES {
            self.dropped += 1;
            return false;
        }
        self.lines += 1;
        true
    }
}

/// Writes one line of a function's log (`console.*`, `cloud.logger()`) into ours and the
/// console's activity, cut at [`MAX_LOG_LINE`] bytes.
pub(crate) fn emit_log(host: &HostEnv, function: &str, rid: &str, level: &str, msg: &str) {
    {
        let mut end = msg.len().min(MAX_LOG_LINE);
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        let msg = &msg[..end];
        let f = function;
        host.activity.log(f, rid, level, msg);
        match level {
            "error" => {
                tracing::error!(target: "minibase::functions::log", function = f, request_id = %rid, "{msg}")
            }
            "warn" => {
                tracing::warn!(target: "minibase::functions::log", function = f, request_id = %rid, "{msg}")
            }
            "debug" => {
                tracing::debug!(target: "minibase::functions::log", function = f, request_id = %rid, "{msg}")
            }
            _ => {
                tracing::info!(target: "minibase::functions::log", function = f, request_id = %rid, "{msg}")
            }
        }
    }
}

/// The context of a host call made during `call` (or, without one, while loading).
pub(crate) fn op_context(cfg: &WorkerConfig, call: Option<&CallState>) -> OpContext {
    match call {
        Some(c) => OpContext {
            name: cfg.name.clone(),
            caller: c.ctx.caller.clone(),
            request_id: c.ctx.request_id.clone(),
            source: c.ctx.source.clone(),
            client_ip: c.ctx.client_ip,
            depth: c.ctx.depth,
            openid: c.ctx.openid.clone(),
            remaining: c.deadline.saturating_duration_since(Instant::now()),
        },
        None => OpContext {
            name: cfg.name.clone(),
            caller: mb_core::Caller::System,
            request_id: String::new(),
            source: "load".into(),
            client_ip: None,
            depth: 0,
            openid: None,
            remaining: cfg.defaults.timeout,
        },
    }
}

/// A JavaScript failure, read out of the exception.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsFailure {
    pub name: String,
    pub message: String,
    pub stack: String,
}

impl JsFailure {
    fn summary(&self) -> String {
        if self.name.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.name, self.message)
        }
    }
    /// `file:line:col` of the innermost frame, if the stack has one.
    fn location(&self) -> Option<String> {
        let line = self
            .stack
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("at "))?;
        let loc = match (line.find('('), line.rfind(')')) {
            (Some(a), Some(b)) if b > a => &line[a + 1..b],
            _ => line.trim_start_matches("at "),
        };
        (!loc.is_empty() && !loc.starts_with("minibase:") && loc != "native")
            .then(|| loc.to_string())
    }
    fn is_oom(&self) -> bool {
        self.message == "out of memory"
    }
}

/// Reads an exception (or another rquickjs error) into a [`JsFailure`].
pub(crate) fn failure(ctx: &Ctx<'_>, e: rquickjs::Error) -> JsFailure {
    match e {
        rquickjs::Error::Exception => describe(&ctx.catch()),
        rquickjs::Error::Allocation => JsFailure {
            name: "InternalError".into(),
            message: "out of memory".into(),
            stack: String::new(),
        },
        other => JsFailure {
            name: "InternalError".into(),
            message: other.to_string(),
            stack: String::new(),
        },
    }
}

fn describe(v: &JsValue<'_>) -> JsFailure {
    let text =
        |v: Option<JsValue<'_>>| v.and_then(|x| x.as_string().and_then(|s| s.to_string().ok()));
    if let Some(obj) = v.as_object() {
        let message = text(obj.get("message").ok());
        if let Some(message) = message {
            return JsFailure {
                name: text(obj.get("name").ok()).unwrap_or_else(|| "Error".into()),
                message,
                stack: text(obj.get("stack").ok()).unwrap_or_default(),
            };
        }
    }
    if let Some(s) = v.as_string().and_then(|s| s.to_string().ok()) {
        return JsFailure {
            name: String::new(),
            message: s,
            stack: String::new(),
        };
    }
    let message = v
        .ctx()
        .json_stringify(v.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{v:?}"));
    JsFailure {
        name: String::new(),
        message,
        stack: String::new(),
    }
}

/// A loaded version of the function. Field order matters: the persistent handle must be
/// dropped before the context and the runtime.
struct Engine {
    api: Persistent<Object<'static>>,
    ctx: Context,
    rt: Runtime,
    shared: Rc<Shared>,
    spec: FunctionSpec,
    generation: u64,
    seq: u64,
}

enum Slot {
    Empty,
    Ready(Box<Engine>),
    /// A version running in a Node.js worker process.
    Node(Box<crate::node::NodeEngine>),
    Broken(Box<LoadFailure>),
}

/// Why a version did not load, with what it depends on (so a fix is noticed).
pub(crate) struct LoadFailure {
    pub fingerprint: Fingerprint,
    pub error: FunctionError,
    pub timeout: Duration,
}

/// The thread's state between messages.
struct Worker {
    cfg: Arc<WorkerConfig>,
    /// The function's pool (CPU slots are given up while waiting on I/O).
    pool: Weak<Pool>,
    /// The call being served.
    ticket: Option<Arc<Ticket>>,
    slot: Slot,
    generation: u64,
    stash: Vec<(u32, Result<String, HostError>)>,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
}

fn run(
    cfg: Arc<WorkerConfig>,
    pool: Weak<Pool>,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
    first: Box<Job>,
) {
    // Database reads of host calls polled here run right on this thread (it is ours to block).
    docdb::backend::mark_blocking_thread();
    // Host calls polled here may use the runtime's timers and spawn tasks.
    let handle = cfg.host.handle.clone();
    let _runtime = handle.enter();
    let mut w = Worker {
        cfg,
        pool,
        ticket: None,
        slot: Slot::Empty,
        generation: 0,
        stash: Vec::new(),
        rx,
        tx,
    };
    let mut next = Some(first);
    loop {
        let Some(job) = next.take().or_else(|| w.wait()) else {
            break;
        };
        let Job {
            event,
            call,
            submitted,
            reply,
            ticket,
        } = *job;
        w.ticket = Some(ticket.clone());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            w.serve(&event, call, submitted)
        }));
        let outcome = outcome.unwrap_or_else(|_| {
            tracing::error!(function = %w.cfg.name, "function instance panicked; discarded");
            JobOutcome {
                result: Err(FunctionError::Internal("instance panicked".into())),
                keep: false,
                timeout: None,
            }
        });
        // Decided before answering, so the caller's next call finds this instance parked
        // (or queued for it).
        let then = match w.pool.upgrade() {
            Some(pool) => pool.finished(&ticket, outcome.keep, outcome.timeout, || Instance {
                tx: Some(w.tx.clone()),
                last_used: Instant::now(),
            }),
            None => Next::Exit,
        };
        let _ = reply.send(outcome.result);
        match then {
            Next::Job(job) => next = Some(job),
            Next::Park => {}
            Next::Exit => break,
        }
    }
}

impl Worker {
    /// Parked: waits for a call, keeping the answers of host calls that arrive meanwhile.
    /// `None` when told to stop.
    fn wait(&mut self) -> Option<Box<Job>> {
        loop {
            match self.rx.recv() {
                Ok(Msg::Invoke(job)) => return Some(job),
                Ok(Msg::Shutdown) | Err(_) => return None,
                Ok(Msg::OpDone {
                    generation: g,
                    id,
                    result,
                }) => {
                    if matches!(&self.slot, Slot::Ready(e) if e.generation == g) {
                        self.stash.push((id, result));
                    }
                }
                Ok(Msg::OpWake { generation: g, id }) => {
                    if let Slot::Ready(e) = &self.slot {
                        if e.generation == g {
                            if let Some(result) = e.shared.poll_local(id) {
                                self.stash.push((id, result));
                            }
                        }
                    }
                }
                // Output of code still running in a Node.js worker between calls: kept for
                // the next call (see `node.rs`).
                Ok(Msg::NodeLine {
                    generation: g,
                    line,
                }) => {
                    if let Slot::Node(n) = &mut self.slot {
                        n.parked_line(g, line);
                    }
                }
                Ok(Msg::NodeGone { generation: g }) => {
                    if let Slot::Node(n) = &mut self.slot {
                        n.parked_gone(g);
                    }
                }
            }
        }
    }

    fn serve(&mut self, event: &str, call: CallContext, submitted: Instant) -> JobOutcome {
        // Reload when a file this version depends on changed.
        let stale = match &mut self.slot {
            Slot::Ready(e) => !self
                .cfg
                .unchanged_since(&mut e.shared.st.borrow_mut().fingerprint, submitted),
            // A worker process that died between calls is replaced, as after an edit.
            Slot::Node(n) => {
                !n.alive() || !self.cfg.unchanged_since(n.fingerprint_mut(), submitted)
            }
            Slot::Broken(f) => f.fingerprint.changed(),
            Slot::Empty => true,
        };
        if stale {
            if matches!(self.slot, Slot::Ready(_) | Slot::Node(_)) {
                tracing::info!(function = %self.cfg.name, "function files changed (or its worker exited); reloading");
            }
            self.slot = Slot::Empty;
            self.stash.clear();
            self.generation += 1;
            match load_version(&self.cfg, self.generation, self.tx.clone(), &self.rx) {
                Ok(slot) => self.slot = slot,
                Err(f) => {
                    tracing::warn!(function = %self.cfg.name, error = %f.error, "function failed to load");
                    let keep = !matches!(
                        f.error,
                        FunctionError::NotFound(_)
                            | FunctionError::Internal(_)
                            | FunctionError::Memory { .. }
                    );
                    let outcome = JobOutcome {
                        result: Err(f.error.clone()),
                        keep,
                        timeout: Some(f.timeout),
                    };
                    self.slot = Slot::Broken(f);
                    return outcome;
                }
            }
        }
        match &mut self.slot {
            Slot::Broken(f) => JobOutcome {
                result: Err(f.error.clone()),
                keep: true,
                timeout: Some(f.timeout),
            },
            Slot::Ready(engine) => {
                let timeout = engine.spec.timeout;
                let (pool, ticket) = (&self.pool, &self.ticket);
                let waiting = |blocked: bool| {
                    if let (Some(pool), Some(ticket)) = (pool.upgrade(), ticket) {
                        if blocked {
                            pool.blocked(ticket)
                        } else {
                            pool.resumed(ticket)
                        }
                    }
                };
                let (result, keep) =
                    engine.invoke(event, call, &mut self.stash, &self.rx, &waiting);
                JobOutcome {
                    result,
                    keep,
                    timeout: Some(timeout),
                }
            }
            Slot::Node(engine) => {
                let timeout = engine.timeout();
                let (pool, ticket) = (&self.pool, &self.ticket);
                let waiting = |blocked: bool| {
                    if let (Some(pool), Some(ticket)) = (pool.upgrade(), ticket) {
                        if blocked {
                            pool.blocked(ticket)
                        } else {
                            pool.resumed(ticket)
                        }
                    }
                };
                let (result, keep) = engine.invoke(event, call, &self.rx, &waiting);
                JobOutcome {
                    result,
                    keep,
                    timeout: Some(timeout),
                }
            }
            Slot::Empty => JobOutcome {
                result: Err(FunctionError::Internal("no engine".into())),
                keep: false,
                timeout: None,
            },
        }
    }
}

/// A function's current version as its files say: where it is, what it depends on so far
/// (`index.js`, `config.json`) and its settings.
pub(crate) struct Version {
    pub root: PathBuf,
    pub fingerprint: Fingerprint,
    pub spec: FunctionSpec,
}

/// Reads the folder and `config.json` of the function's current version.
pub(crate) fn read_version(cfg: &WorkerConfig) -> Result<Version, Box<LoadFailure>> {
    let fail = |fingerprint: Fingerprint, error: FunctionError, timeout: Duration| {
        Box::new(LoadFailure {
            fingerprint,
            error,
            timeout,
        })
    };
    let name = cfg.name.clone();
    let default_timeout = cfg.defaults.timeout;
    let folder = cfg.dir.join(&name);
    let mut fp = Fingerprint::default();
    let index = folder.join("index.js");
    fp.record(&index, stamp(&index));
    let Ok(root) = std::fs::canonicalize(&folder) else {
        return Err(fail(fp, FunctionError::NotFound(name), default_timeout));
    };
    if stamp(&root.join("index.js")).is_none() {
        return Err(fail(fp, FunctionError::NotFound(name), default_timeout));
    }
    let config_path = root.join("config.json");
    let config_stamp = stamp(&config_path);
    fp.record(&config_path, config_stamp);
    let load_err = |fp: Fingerprint, message: String| {
        Err(fail(
            fp,
            FunctionError::Load {
                name: name.clone(),
                message,
            },
            default_timeout,
        ))
    };
    let spec = match config_stamp {
        None => cfg.defaults.clone(),
        Some(_) => match std::fs::read_to_string(&config_path) {
            Ok(text) => match FunctionSpec::parse(&text, &cfg.defaults) {
                Ok(s) => s,
                Err(m) => return load_err(fp, m),
            },
            Err(e) => return load_err(fp, format!("config.json: {e}")),
        },
    };
    Ok(Version {
        root,
        fingerprint: fp,
        spec,
    })
}

/// Loads the current version on the runtime it asks for.
fn load_version(
    cfg: &Arc<WorkerConfig>,
    generation: u64,
    tx: Sender<Msg>,
    rx: &Receiver<Msg>,
) -> Result<Slot, Box<LoadFailure>> {
    let version = read_version(cfg)?;
    match version.spec.runtime.unwrap_or(cfg.runtime) {
        crate::spec::Runtime::QuickJs => {
            Engine::load(cfg, version, generation, tx).map(|e| Slot::Ready(Box::new(e)))
        }
        crate::spec::Runtime::Node => {
            crate::node::NodeEngine::start(cfg, version, generation, tx, rx)
                .map(|e| Slot::Node(Box::new(e)))
        }
    }
}

impl Engine {
    /// Loads the function's current files into a fresh runtime.
    fn load(
        cfg: &Arc<WorkerConfig>,
        version: Version,
        generation: u64,
        tx: Sender<Msg>,
    ) -> Result<Engine, Box<LoadFailure>> {
        let fail = |fingerprint: Fingerprint, error: FunctionError, timeout: Duration| {
            Box::new(LoadFailure {
                fingerprint,
                error,
                timeout,
            })
        };
        let name = cfg.name.clone();
        let Version {
            root,
            fingerprint: fp,
            spec,
        } = version;
        let timeout = spec.timeout;
        let memory_mib = (spec.memory_limit >> 20) as u64;
        let internal = |fp: Fingerprint, e: rquickjs::Error| {
            Err(fail(
                fp,
                FunctionError::Internal(format!("QuickJS: {e}")),
                timeout,
            ))
        };
        let rt = match Runtime::new() {
            Ok(rt) => rt,
            Err(e) => return internal(fp, e),
        };
        rt.set_memory_limit(spec.memory_limit);
        rt.set_max_stack_size(JS_STACK);
        let shared = Rc::new(Shared {
            cfg: cfg.clone(),
            resolver: Resolver::new(root),
            generation,
            tx,
            deadline: Cell::new(None),
            interrupted: Cell::new(false),
            st: RefCell::new(State {
                fingerprint: fp,
                ..State::default()
            }),
            local: RefCell::new(HashMap::new()),
        });
        let sh = shared.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            if let Some(d) = sh.deadline.get() {
                if Instant::now() >= d {
                    sh.interrupted.set(true);
                    return true;
                }
            }
            false
        })));
        let take_fp = |shared: &Rc<Shared>| std::mem::take(&mut shared.st.borrow_mut().fingerprint);
        let ctx = match Context::full(&rt) {
            Ok(c) => c,
            Err(e) => return internal(take_fp(&shared), e),
        };
        shared.deadline.set(Some(Instant::now() + timeout));
        let env_json = serde_json::to_string(&spec.env).unwrap_or_else(|_| "{}".into());
        let loaded: Result<Persistent<Object<'static>>, JsFailure> = ctx.with(|ctx| {
            let api = boot(&ctx, &shared).map_err(|e| failure(&ctx, e))?;
            let load: Function = api.get("load").map_err(|e| failure(&ctx, e))?;
            load.call::<_, ()>((env_json,))
                .map_err(|e| failure(&ctx, e))?;
            Ok(Persistent::save(&ctx, api))
        });
        let result = match loaded {
            Ok(api) => {
                let engine = Engine {
                    api,
                    ctx,
                    rt,
                    shared: shared.clone(),
                    spec,
                    generation,
                    seq: 0,
                };
                // Promise jobs queued by top-level code.
                match engine.run_jobs() {
                    Ok(()) => Ok(engine),
                    Err(f) => Err(f),
                }
            }
            Err(f) => Err(f),
        };
        shared.deadline.set(None);
        match result {
            Ok(engine) => Ok(engine),
            Err(f) => {
                let error = if shared.interrupted.get() {
                    FunctionError::Load {
                        name: name.clone(),
                        message: format!(
                            "top-level code did not finish within {} ms",
                            timeout.as_millis()
                        ),
                    }
                } else if f.is_oom() {
                    FunctionError::Memory {
                        name: name.clone(),
                        mib: memory_mib,
                    }
                } else {
                    let mut message = f.summary();
                    if let Some(loc) = f.location() {
                        message = format!("{message} ({loc})");
                    }
                    if !f.stack.is_empty() {
                        tracing::warn!(function = %name, stack = %f.stack, "load error stack");
                    }
                    FunctionError::Load {
                        name: name.clone(),
                        message,
                    }
                };
                Err(fail(take_fp(&shared), error, timeout))
            }
        }
    }

    /// Runs queued promise jobs until there are none.
    fn run_jobs(&self) -> Result<(), JsFailure> {
        loop {
            match self.rt.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => return Ok(()),
                Err(job) => {
                    let f = job.0.with(|ctx| describe(&ctx.catch()));
                    if self.shared.timed_out() || f.is_oom() {
                        return Err(f);
                    }
                    // An exception escaping a job is already a rejected promise; note it.
                    tracing::debug!(function = %self.shared.cfg.name, error = %f.summary(), "exception in a promise job");
                }
            }
        }
    }

    fn with_api<R>(
        &self,
        f: impl for<'js> FnOnce(&Ctx<'js>, Object<'js>) -> rquickjs::Result<R>,
    ) -> Result<R, JsFailure> {
        self.ctx.with(|ctx| {
            let api = self
                .api
                .clone()
                .restore(&ctx)
                .map_err(|e| failure(&ctx, e))?;
            f(&ctx, api).catch(&ctx).map_err(|e| match e {
                rquickjs::CaughtError::Exception(ex) => describe(&ex.into_value()),
                rquickjs::CaughtError::Value(v) => describe(&v),
                rquickjs::CaughtError::Error(e) => JsFailure {
                    name: "InternalError".into(),
                    message: e.to_string(),
                    stack: String::new(),
                },
            })
        })
    }

    fn deliver(&self, id: u32, result: Result<String, HostError>) -> Result<(), JsFailure> {
        {
            let mut st = self.shared.st.borrow_mut();
            st.pending_ops = st.pending_ops.saturating_sub(1);
        }
        let (ok, payload) = match result {
            Ok(text) => (true, text),
            Err(e) => (false, e.to_js_json()),
        };
        self.with_api(|_, api| {
            let complete: Function = api.get("complete")?;
            complete.call::<_, ()>((id, ok, payload))
        })
    }

    /// Runs one invocation to its end. Returns the result and whether to keep the instance.
    fn invoke(
        &mut self,
        event: &str,
        call: CallContext,
        stash: &mut Vec<(u32, Result<String, HostError>)>,
        rx: &Receiver<Msg>,
        waiting: &dyn Fn(bool),
    ) -> (Result<String, FunctionError>, bool) {
        self.seq += 1;
        let seq = self.seq;
        let name = self.shared.cfg.name.clone();
        let started = Instant::now();
        let deadline = started + self.spec.timeout;
        let request_id = call.request_id.clone();
        let ctx_json = context_json(&self.shared.cfg, &self.spec, &call, deadline);
        {
            let mut st = self.shared.st.borrow_mut();
            st.call = Some(CallState {
                ctx: call,
                deadline,
            });
            st.outcome = None;
            st.log_lines = 0;
            st.logs_dropped = 0;
        }
        self.shared.interrupted.set(false);
        self.shared.deadline.set(Some(deadline));
        let result = self.drive(seq, event, &ctx_json, stash, rx, deadline, waiting);
        self.shared.deadline.set(None);
        let dropped = {
            let mut st = self.shared.st.borrow_mut();
            st.call = None;
            st.logs_dropped
        };
        if dropped > 0 {
            tracing::warn!(function = %name, request_id = %request_id, dropped, "function log lines over the limit were dropped");
        }
        let ms = started.elapsed().as_millis() as u64;
        let (result, keep) = match result {
            Ok(Ok(json)) => (Ok(json), true),
            Ok(Err(f)) => {
                tracing::warn!(function = %name, request_id = %request_id, error = %f.summary(), stack = %f.stack, "function threw");
                (
                    Err(FunctionError::Thrown {
                        name: name.clone(),
                        message: f.summary(),
                    }),
                    true,
                )
            }
            Err(e) => {
                tracing::warn!(function = %name, request_id = %request_id, error = %e, elapsed_ms = ms, "function instance discarded");
                (Err(e), false)
            }
        };
        // Measuring the heap walks it, so it is done after failures and every few calls.
        let check = !keep || result.is_err() || seq % MEMORY_CHECK_EVERY == 0;
        let keep = keep && (!check || self.memory_ok());
        (result, keep)
    }

    /// The event loop of one invocation. `Ok(Err(_))`: the function failed (instance fine);
    /// `Err(_)`: the instance must go (timeout, memory, bug).
    // The call's parts (seq, event, context) and the loop's plumbing (stash, channel,
    // deadline, waiting hook) are each used once; bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn drive(
        &mut self,
        seq: u64,
        event: &str,
        ctx_json: &str,
        stash: &mut Vec<(u32, Result<String, HostError>)>,
        rx: &Receiver<Msg>,
        deadline: Instant,
        waiting: &dyn Fn(bool),
    ) -> Result<Result<String, JsFailure>, FunctionError> {
        let name = self.shared.cfg.name.clone();
        let fatal = |this: &Self, f: &JsFailure| -> Option<FunctionError> {
            if this.shared.interrupted.get() || this.shared.timed_out() {
                Some(FunctionError::Timeout {
                    name: name.clone(),
                    ms: this.spec.timeout.as_millis() as u64,
                })
            } else if f.is_oom() {
                Some(FunctionError::Memory {
                    name: name.clone(),
                    mib: (this.spec.memory_limit >> 20) as u64,
                })
            } else {
                None
            }
        };
        for (id, r) in stash.drain(..) {
            if let Err(f) = self.deliver(id, r) {
                if let Some(e) = fatal(self, &f) {
                    return Err(e);
                }
            }
        }
        let started = self.with_api(|_, api| {
            let invoke: Function = api.get("invoke")?;
            invoke.call::<_, ()>((seq as f64, event, ctx_json))
        });
        if let Err(f) = started {
            return match fatal(self, &f) {
                Some(e) => Err(e),
                None => Ok(Err(f)),
            };
        }
        loop {
            if let Err(f) = self.run_jobs() {
                return Err(fatal(self, &f).unwrap_or(FunctionError::Internal(f.summary())));
            }
            let outcome = self.shared.st.borrow_mut().outcome.take();
            if let Some((s, ok, json)) = outcome {
                if s == seq {
                    if ok {
                        return Ok(Ok(json));
                    }
                    let f: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                    let text = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let failure = JsFailure {
                        name: text("name"),
                        message: text("message"),
                        stack: text("stack"),
                    };
                    if let Some(e) = fatal(self, &failure) {
                        return Err(e);
                    }
                    return Ok(Err(failure));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FunctionError::Timeout {
                    name,
                    ms: self.spec.timeout.as_millis() as u64,
                });
            }
            let next_timer = self.shared.next_timer();
            if self.shared.st.borrow().pending_ops == 0 && next_timer.is_none() {
                return Ok(Err(JsFailure {
                    name: "Error".into(),
                    message:
                        "main() returned a promise that never settles (nothing left to wait for)"
                            .into(),
                    stack: String::new(),
                }));
            }
            let wake = next_timer.map_or(deadline, |t| t.min(deadline));
            // Waiting for I/O or a timer: this instance's CPU slot goes to a queued call.
            let msg = match rx.try_recv() {
                Ok(m) => Ok(m),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {
                    waiting(true);
                    let m = rx.recv_timeout(wake.saturating_duration_since(now));
                    waiting(false);
                    m
                }
            };
            match msg {
                Ok(Msg::OpDone {
                    generation,
                    id,
                    result,
                }) => {
                    if generation == self.generation {
                        if let Err(f) = self.deliver(id, result) {
                            if let Some(e) = fatal(self, &f) {
                                return Err(e);
                            }
                        }
                    }
                }
                Ok(Msg::OpWake { generation, id }) => {
                    if generation == self.generation {
                        if let Some(result) = self.shared.poll_local(id) {
                            if let Err(f) = self.deliver(id, result) {
                                if let Some(e) = fatal(self, &f) {
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
                Ok(Msg::Invoke(job)) => {
                    // Never happens: only parked instances are handed calls.
                    let _ = job
                        .reply
                        .send(Err(FunctionError::Internal("instance busy".into())));
                }
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(FunctionError::ShuttingDown);
                }
                Ok(Msg::NodeLine { .. } | Msg::NodeGone { .. })
                | Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            while let Some(id) = self.shared.pop_due_timer(now) {
                let fired = self.with_api(|_, api| {
                    let fire: Function = api.get("fireTimer")?;
                    fire.call::<_, ()>((id,))
                });
                if let Err(f) = fired {
                    if let Some(e) = fatal(self, &f) {
                        return Err(e);
                    }
                    // An exception thrown by a timer callback fails the invocation, as an
                    // uncaught exception does in Node.
                    return Ok(Err(f));
                }
            }
        }
    }

    /// Whether the heap is comfortably inside the limit (after a collection if needed).
    fn memory_ok(&self) -> bool {
        let limit = self.spec.memory_limit as i64;
        let used = |rt: &Runtime| rt.memory_usage().malloc_size;
        if used(&self.rt) * 10 < limit * 8 {
            return true;
        }
        self.rt.run_gc();
        used(&self.rt) * 10 < limit * 8
    }
}

/// `{wxContext, context, deadline}` for the JavaScript side of `invoke` (both runtimes).
pub(crate) fn context_json(
    cfg: &WorkerConfig,
    spec: &FunctionSpec,
    call: &CallContext,
    deadline: Instant,
) -> String {
    {
        let host = &cfg.host;
        let user = call.caller.user();
        let (v4, v6) = match call.client_ip {
            Some(std::net::IpAddr::V4(ip)) => (ip.to_string(), String::new()),
            Some(std::net::IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(v4) => (v4.to_string(), String::new()),
                None => (String::new(), ip.to_string()),
            },
            None => (String::new(), String::new()),
        };
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i64;
        // Written through borrowed structs: no intermediate JSON tree (this runs per call).
        #[derive(serde::Serialize)]
        #[allow(non_snake_case)]
        struct WxContext<'a> {
            OPENID: &'a str,
            APPID: &'a str,
            UNIONID: &'a str,
            UID: &'a str,
            ENV: &'a str,
            SOURCE: &'a str,
            CLIENTIP: &'a str,
            CLIENTIPV6: &'a str,
        }
        #[derive(serde::Serialize)]
        #[allow(non_snake_case)]
        struct Context<'a> {
            request_id: &'a str,
            function_name: &'a str,
            function_version: &'a str,
            namespace: &'a str,
            memory_limit_in_mb: usize,
            time_limit_in_ms: u64,
            environ: &'a str,
            callbackWaitsForEmptyEventLoop: bool,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Info<'a> {
            wx_context: WxContext<'a>,
            context: Context<'a>,
            deadline: i64,
        }
        let info = Info {
            wx_context: WxContext {
                OPENID: user
                    .map(|u| u.openid.as_str())
                    .or(call.openid.as_deref())
                    .unwrap_or(""),
                APPID: &host.appid,
                UNIONID: user.and_then(|u| u.unionid.as_deref()).unwrap_or(""),
                UID: user.map(|u| u.uid.as_str()).unwrap_or(""),
                ENV: &host.env_id,
                SOURCE: &call.source,
                CLIENTIP: &v4,
                CLIENTIPV6: &v6,
            },
            context: Context {
                request_id: &call.request_id,
                function_name: &cfg.name,
                function_version: "$LATEST",
                namespace: &host.env_id,
                memory_limit_in_mb: spec.memory_limit >> 20,
                time_limit_in_ms: spec.timeout.as_millis() as u64,
                environ: "",
                callbackWaitsForEmptyEventLoop: false,
            },
            deadline: mb_core::now_ms() + remaining,
        };
        serde_json::to_string(&info).unwrap_or_else(|_| "{}".into())
    }
}

/// Installs the natives and evaluates the prelude and the cloud SDK; returns the internal API.
fn boot<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>) -> rquickjs::Result<Object<'js>> {
    let native = natives::install(ctx, shared)?;
    let prelude: Function = natives::eval_named(ctx, PRELUDE_JS, "minibase:prelude.js")?;
    let cloud: Function = natives::eval_named(ctx, CLOUD_JS, "minibase:cloud.js")?;
    prelude.call((native, cloud))
}
