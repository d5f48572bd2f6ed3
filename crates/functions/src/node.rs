//! The Node.js runtime: a function version running in a Node.js worker process that its
//! instance thread supervises (the pool, queueing, CPU slots, hot reload and the instance's
//! life are the same as QuickJS's: see `worker.rs`, `pool.rs`).
//!
//! The process is `node --max-old-space-size=<memorySize> -e <bootstrap>` with:
//! - a **clean environment**: `PATH`, `HOME=/tmp`, `LANG`, and the function's variables
//!   (`[functions.env]`, `[functions.NAME.env]`, `config.json` `envVariables`) — none of the
//!   server's own variables or secrets;
//! - the function's folder as working directory, its own process group, and the
//!   lower-privileged `functions.node_user` (`nobody`) when the server runs as root;
//! - `PR_SET_PDEATHSIG`, so it dies with its instance thread (and so with the server);
//! - fd 0 one end of a Unix socket pair: the channel of `js/node_worker.js` (JSON lines);
//!   stdout and stderr one socket read by a thread that copies them into the function's log
//!   and keeps the last lines (V8's "heap out of memory" becomes [`FunctionError::Memory`]).
//!
//! The bootstrap receives the worker's source as the first line and evaluates it; the worker
//! then loads `cloud.js` (the SDK QuickJS runs) and the function. A reader thread turns the
//! channel's lines into [`Msg::NodeLine`]s on the instance's channel, where host-call answers
//! arrive too, so the instance thread waits on one channel. Host calls go through
//! `host::dispatch_json` exactly as QuickJS's: database calls are polled on the instance
//! thread first (reads answer at once), the rest run on the tokio runtime.
//!
//! A call past its timeout kills the process group (the instance is discarded, as on QuickJS);
//! a process that dies during a call fails that call with [`FunctionError::Crashed`] (or
//! `Memory`); one that died between calls is replaced before the next call.

use crate::CallContext;
use crate::error::FunctionError;
use crate::host::HostError;
use crate::modules::{Fingerprint, stamp};
use crate::spec::FunctionSpec;
use crate::worker::{
    CallState, HostEnv, LoadFailure, LogBudget, Msg, Version, WorkerConfig, context_json, emit_log,
    op_context,
};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

const WORKER_JS: &str = include_str!("js/node_worker.js");
const CLOUD_JS: &str = include_str!("js/cloud.js");

/// Reads the worker's source (the first line, a JSON string) and hands it the channel.
const BOOTSTRAP: &str = "const net=require('net'),vm=require('vm');\
const c=new net.Socket({fd:0,readable:true,writable:true});c.setEncoding('utf8');let b='';\
function f(d){b+=d;const i=b.indexOf('\\n');if(i<0)return;c.removeListener('data',f);\
vm.runInThisContext(JSON.parse(b.slice(0,i)),{filename:'minibase:node-worker.js'})(require,c,b.slice(i+1));}\
c.on('data',f);";

/// Time a new process may take to start, on top of the function's timeout for its top-level
/// code.
const START_GRACE: Duration = Duration::from_secs(5);
/// Lines of output kept for the error of a process that died.
const OUTPUT_TAIL: usize = 20;
/// Output lines of one process copied into the log; the rest are dropped.
const MAX_OUTPUT_LINES: u64 = 10_000;
/// Lines kept from a worker between calls (background logs and calls); past that the
/// process is replaced.
const MAX_BACKLOG: usize = 1000;
/// The longest line read from a worker (a result is at most 6 MiB of JSON).
const MAX_LINE: usize = crate::MAX_RESULT_BYTES + (1 << 20);

/// Where Node.js is and who its workers run as.
#[derive(Debug, Clone)]
pub(crate) struct NodeRuntime {
    path: PathBuf,
    /// `(uid, gid)` to switch to (the server runs as root).
    user: Option<(u32, u32)>,
}

impl NodeRuntime {
    /// Finds the executable (`node_path`, else `node` on `PATH`) and, when the server runs as
    /// root, the user to run workers as (`node_user`, else `nobody`).
    pub fn detect(node_path: &str, node_user: &str) -> Result<NodeRuntime, String> {
        let path = if node_path.is_empty() {
            let dirs = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&dirs)
                .map(|d| d.join("node"))
                .find(|p| executable(p))
                .ok_or_else(|| {
                    "Node.js was not found on PATH: install it (e.g. `apt install nodejs`) or set functions.node_path"
                        .to_string()
                })?
        } else {
            let p = PathBuf::from(node_path);
            if !executable(&p) {
                return Err(format!(
                    "functions.node_path {node_path:?} is not an executable file"
                ));
            }
            p
        };
        let user = if running_as_root() {
            let name = if node_user.is_empty() {
                "nobody"
            } else {
                node_user
            };
            if name == "root" {
                None
            } else {
                Some(lookup_user(name).ok_or_else(|| {
                    format!("functions.node_user: no user {name:?} in /etc/passwd")
                })?)
            }
        } else {
            None
        };
        Ok(NodeRuntime { path, user })
    }
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[allow(unsafe_code)]
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `(uid, gid)` of `name` in `/etc/passwd`.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// What the output thread saw.
#[derive(Default)]
struct Output {
    tail: Mutex<VecDeque<String>>,
    oom: AtomicBool,
}

/// A line from the worker.
#[derive(Deserialize)]
struct FromNode<'a> {
    #[serde(borrow)]
    t: Cow<'a, str>,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    id: u32,
    #[serde(default)]
    ok: bool,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    args: Option<Value>,
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(default)]
    files: Vec<String>,
}

/// How waiting on the worker ended.
enum Pumped {
    /// `loaded` or `done`: whether it succeeded, and the result (JSON text).
    Finished(bool, String),
    Timeout,
    Gone,
    Shutdown,
}

/// A function version in a Node.js worker process.
pub(crate) struct NodeEngine {
    cfg: Arc<WorkerConfig>,
    spec: FunctionSpec,
    generation: u64,
    child: Child,
    chan: UnixStream,
    output: Arc<Output>,
    fingerprint: Fingerprint,
    /// Lines that arrived while parked, handled at the next call.
    backlog: Vec<Vec<u8>>,
    /// The channel closed (the process is gone).
    gone: bool,
    seq: u64,
    /// Host calls running on the tokio runtime.
    pending_ops: usize,
    tx: Sender<Msg>,
    budget: LogBudget,
}

impl NodeEngine {
    /// Starts a worker process for `version` and loads the function in it.
    pub fn start(
        cfg: &Arc<WorkerConfig>,
        version: Version,
        generation: u64,
        tx: Sender<Msg>,
        rx: &Receiver<Msg>,
    ) -> Result<NodeEngine, Box<LoadFailure>> {
        let Version {
            root,
            fingerprint,
            spec,
        } = version;
        let name = cfg.name.clone();
        let timeout = spec.timeout;
        let load_error = |fingerprint: Fingerprint, message: String| {
            Box::new(LoadFailure {
                fingerprint,
                error: FunctionError::Load {
                    name: name.clone(),
                    message,
                },
                timeout,
            })
        };
        let node = match &cfg.host.node {
            Ok(n) => n.clone(),
            Err(e) => {
                return Err(load_error(
                    fingerprint,
                    format!("the function asks for the Node.js runtime, but {e}"),
                ));
            }
        };
        let spawned = spawn(&node, &root, &spec);
        let (child, chan, out) = match spawned {
            Ok(x) => x,
            Err(e) => {
                return Err(load_error(
                    fingerprint,
                    format!("could not start Node.js ({}): {e}", node.path.display()),
                ));
            }
        };
        let output = Arc::new(Output::default());
        let reader = chan.try_clone();
        let mut engine = NodeEngine {
            cfg: cfg.clone(),
            spec,
            generation,
            child,
            chan,
            output: output.clone(),
            fingerprint,
            backlog: Vec::new(),
            gone: false,
            seq: 0,
            pending_ops: 0,
            tx: tx.clone(),
            budget: LogBudget::default(),
        };
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let fp = std::mem::take(&mut engine.fingerprint);
                return Err(load_error(fp, format!("worker channel: {e}")));
            }
        };
        let fname = cfg.name.clone();
        let started = std::thread::Builder::new()
            .name(format!(
                "fn-out-{}",
                fname.chars().take(8).collect::<String>()
            ))
            .stack_size(64 << 10)
            .spawn({
                let host = cfg.host.clone();
                move || copy_output(&host, &fname, out, &output)
            })
            .and_then(|_| {
                std::thread::Builder::new()
                    .name("fn-node-chan".into())
                    .stack_size(64 << 10)
                    .spawn(move || read_channel(reader, generation, tx))
            });
        if let Err(e) = started {
            let fp = std::mem::take(&mut engine.fingerprint);
            return Err(load_error(fp, format!("could not start a thread: {e}")));
        }
        let deadline = Instant::now() + timeout + START_GRACE;
        let mut first = serde_json::to_string(WORKER_JS).unwrap_or_default();
        first.push('\n');
        let init = serde_json::json!({
            "t": "init", "root": root.to_string_lossy(), "name": cfg.name, "cloud": CLOUD_JS,
        });
        first.push_str(&init.to_string());
        first.push('\n');
        if let Err(e) = engine.write(first.as_bytes(), deadline) {
            let fp = std::mem::take(&mut engine.fingerprint);
            return Err(load_error(fp, format!("worker channel: {e}")));
        }
        let mut never = |_: bool| {};
        let waited = engine.pump(rx, None, deadline, &mut never, None);
        let failed = |engine: &mut NodeEngine, message: String| {
            let fp = std::mem::take(&mut engine.fingerprint);
            Err(load_error(fp, message))
        };
        match waited {
            Pumped::Finished(true, _) => Ok(engine),
            Pumped::Finished(false, info) => {
                let f = failure_of(&info, &cfg.dir);
                let mut message = f.summary();
                if let Some(loc) = f.location(&root) {
                    message = format!("{message} ({loc})");
                }
                if !f.stack.is_empty() {
                    tracing::warn!(function = %cfg.name, stack = %f.stack, "load error stack");
                }
                failed(&mut engine, message)
            }
            Pumped::Timeout => failed(
                &mut engine,
                format!(
                    "the Node.js worker did not load the function within {} ms",
                    (timeout + START_GRACE).as_millis()
                ),
            ),
            Pumped::Gone => {
                let why = engine.death();
                failed(&mut engine, format!("the Node.js worker exited: {why}"))
            }
            Pumped::Shutdown => failed(&mut engine, "functions are shutting down".into()),
        }
    }

    /// The function's timeout.
    pub fn timeout(&self) -> Duration {
        self.spec.timeout
    }

    /// What the loaded version depends on.
    pub fn fingerprint_mut(&mut self) -> &mut Fingerprint {
        &mut self.fingerprint
    }

    /// Whether the process still runs (checked before each call).
    pub fn alive(&mut self) -> bool {
        !self.gone && self.backlog.len() < MAX_BACKLOG && matches!(self.child.try_wait(), Ok(None))
    }

    /// A line that arrived while parked.
    pub fn parked_line(&mut self, generation: u64, line: Vec<u8>) {
        if generation == self.generation && self.backlog.len() < MAX_BACKLOG {
            self.backlog.push(line);
        }
    }

    /// The channel closed while parked.
    pub fn parked_gone(&mut self, generation: u64) {
        if generation == self.generation {
            self.gone = true;
        }
    }

    /// Runs one invocation. Returns the result and whether to keep the instance.
    pub fn invoke(
        &mut self,
        event: &str,
        call: CallContext,
        rx: &Receiver<Msg>,
        waiting: &dyn Fn(bool),
    ) -> (Result<String, FunctionError>, bool) {
        self.seq += 1;
        let seq = self.seq;
        let name = self.cfg.name.clone();
        let started = Instant::now();
        let deadline = started + self.spec.timeout;
        let request_id = call.request_id.clone();
        let info = context_json(&self.cfg, &self.spec, &call, deadline);
        let state = CallState {
            ctx: call,
            deadline,
        };
        self.budget = LogBudget::default();
        for line in std::mem::take(&mut self.backlog) {
            self.handle_line(&line, Some(&state), None);
        }
        let mut msg = Vec::with_capacity(event.len() + info.len() + 48);
        msg.extend_from_slice(b"{\"t\":\"invoke\",\"seq\":");
        msg.extend_from_slice(seq.to_string().as_bytes());
        msg.extend_from_slice(b",\"info\":");
        msg.extend_from_slice(info.as_bytes());
        msg.extend_from_slice(b",\"event\":");
        msg.extend_from_slice(event.as_bytes());
        msg.extend_from_slice(b"}\n");
        let waited = match self.write(&msg, deadline) {
            Ok(()) => self.pump(rx, Some(&state), deadline, &mut |b| waiting(b), Some(seq)),
            Err(_) if Instant::now() >= deadline => Pumped::Timeout,
            Err(_) => Pumped::Gone,
        };
        if self.budget.dropped > 0 {
            tracing::warn!(function = %name, request_id = %request_id, dropped = self.budget.dropped, "function log lines over the limit were dropped");
        }
        let ms = started.elapsed().as_millis() as u64;
        match waited {
            Pumped::Finished(true, json) => (Ok(json), true),
            Pumped::Finished(false, info) => {
                let f = failure_of(&info, &self.cfg.dir);
                tracing::warn!(function = %name, request_id = %request_id, error = %f.summary(), stack = %f.stack, "function threw");
                (
                    Err(FunctionError::Thrown {
                        name,
                        message: f.summary(),
                    }),
                    true,
                )
            }
            Pumped::Timeout => {
                self.kill();
                tracing::warn!(function = %name, request_id = %request_id, elapsed_ms = ms, "function timed out; its Node.js worker was killed");
                (
                    Err(FunctionError::Timeout {
                        name,
                        ms: self.spec.timeout.as_millis() as u64,
                    }),
                    false,
                )
            }
            Pumped::Gone => {
                let why = self.death();
                tracing::warn!(function = %name, request_id = %request_id, reason = %why, "Node.js worker died during a call; replaced");
                let error = if self.output.oom.load(Ordering::Relaxed) {
                    FunctionError::Memory {
                        name,
                        mib: (self.spec.memory_limit >> 20) as u64,
                    }
                } else {
                    FunctionError::Crashed { name, message: why }
                };
                (Err(error), false)
            }
            Pumped::Shutdown => (Err(FunctionError::ShuttingDown), false),
        }
    }

    /// Writes to the worker, giving up at `deadline`.
    fn write(&mut self, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.chan.set_write_timeout(Some(left))?;
        self.chan.write_all(bytes)
    }

    /// Handles the worker's lines and host-call answers (all on the instance's channel `rx`)
    /// until `loaded` (`until` is `None`) or `done` of call `until` arrives, the deadline
    /// passes or the worker is gone.
    fn pump(
        &mut self,
        rx: &Receiver<Msg>,
        call: Option<&CallState>,
        deadline: Instant,
        waiting: &mut dyn FnMut(bool),
        until: Option<u64>,
    ) -> Pumped {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Pumped::Timeout;
            }
            // While the worker waits for a host call, this call gives its CPU slot up.
            let blocked = self.pending_ops > 0;
            let msg = match rx.try_recv() {
                Ok(m) => Ok(m),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {
                    if blocked {
                        waiting(true);
                    }
                    let m = rx.recv_timeout(deadline - now);
                    if blocked {
                        waiting(false);
                    }
                    m
                }
            };
            match msg {
                Ok(Msg::NodeLine { generation, line }) => {
                    if generation == self.generation {
                        if let Some((ok, r)) = self.handle_line(&line, call, Some(until)) {
                            return Pumped::Finished(ok, r);
                        }
                    }
                }
                Ok(Msg::NodeGone { generation }) => {
                    if generation == self.generation {
                        self.gone = true;
                        return Pumped::Gone;
                    }
                }
                Ok(Msg::OpDone {
                    generation,
                    id,
                    result,
                }) => {
                    if generation == self.generation {
                        self.pending_ops = self.pending_ops.saturating_sub(1);
                        self.reply(id, result);
                    }
                }
                Ok(Msg::OpWake { .. }) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Msg::Invoke(job)) => {
                    // Never happens: only parked instances are handed calls.
                    let _ = job
                        .reply
                        .send(Err(FunctionError::Internal("instance busy".into())));
                }
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    return Pumped::Shutdown;
                }
            }
        }
    }

    /// Handles one line; `Some((ok, result))` when it ends the wait for `until`.
    fn handle_line(
        &mut self,
        line: &[u8],
        call: Option<&CallState>,
        until: Option<Option<u64>>,
    ) -> Option<(bool, String)> {
        let m: FromNode = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(function = %self.cfg.name, error = %e, "unreadable line from the Node.js worker");
                return None;
            }
        };
        match m.t.as_ref() {
            "log" => {
                if self.budget.take() {
                    let rid = call.map(|c| c.ctx.request_id.as_str()).unwrap_or("");
                    emit_log(
                        &self.cfg.host,
                        &self.cfg.name,
                        rid,
                        m.level.as_deref().unwrap_or("info"),
                        m.msg.as_deref().unwrap_or(""),
                    );
                }
                None
            }
            "call" => {
                let op = m.op.unwrap_or_default();
                let args = m.args.unwrap_or(Value::Null);
                self.start_op(m.id, op, args, call);
                None
            }
            "loaded" | "done" => {
                self.record_files(&m.files);
                let wanted = match until {
                    Some(None) => m.t == "loaded",
                    Some(Some(seq)) => m.t == "done" && m.seq == seq,
                    None => false,
                };
                if !wanted {
                    return None;
                }
                // A JSON `null` result reads as `None`.
                let result = m.result.map_or("null", |r| r.get()).to_owned();
                Some((m.ok, result))
            }
            _ => None,
        }
    }

    /// Adds the module files the worker reports to the fingerprint.
    fn record_files(&mut self, files: &[String]) {
        for f in files {
            let p = Path::new(f);
            self.fingerprint.record(p, stamp(p));
        }
    }

    /// Starts host call `id`: database calls are polled here first (a read answers at
    /// once), the rest run on the tokio runtime; answers come back as `OpDone`.
    fn start_op(&mut self, id: u32, op: String, args: Value, call: Option<&CallState>) {
        let cx = op_context(&self.cfg, call);
        let host = self.cfg.host.clone();
        let generation = self.generation;
        let tx = self.tx.clone();
        if crate::host::is_database_op(&op) {
            let mut fut = Box::pin(async move {
                crate::host::dispatch_json(&host.services, &host.fetch, None, &op, args, cx).await
            });
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(result) => {
                    self.reply(id, result);
                }
                Poll::Pending => {
                    self.pending_ops += 1;
                    self.cfg.host.handle.spawn(async move {
                        let result = fut.await;
                        let _ = tx.send(Msg::OpDone {
                            generation,
                            id,
                            result,
                        });
                    });
                }
            }
            return;
        }
        self.pending_ops += 1;
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
    }

    /// Sends a host call's answer to the worker.
    fn reply(&mut self, id: u32, result: Result<String, HostError>) {
        let (ok, payload) = match result {
            Ok(text) => (true, text),
            Err(e) => (false, e.to_js_json()),
        };
        let mut line = Vec::with_capacity(payload.len() + 48);
        line.extend_from_slice(b"{\"t\":\"reply\",\"id\":");
        line.extend_from_slice(id.to_string().as_bytes());
        line.extend_from_slice(if ok {
            b",\"ok\":true"
        } else {
            b",\"ok\":false"
        });
        line.extend_from_slice(b",\"value\":");
        line.extend_from_slice(payload.as_bytes());
        line.extend_from_slice(b"}\n");
        // A worker that does not read its answers within the call's time is killed by the
        // caller's deadline; a short cap keeps this write from blocking past it.
        let _ = self.write(&line, Instant::now() + Duration::from_secs(5));
    }

    /// Why the process ended: its exit status and last output lines.
    fn death(&mut self) -> String {
        let status = match self.child.wait_timeout(Duration::from_secs(1)) {
            Some(s) => describe_status(s),
            None => {
                self.kill();
                "it stopped answering".into()
            }
        };
        let tail: Vec<String> = self
            .output
            .tail
            .lock()
            .map(|t| t.iter().rev().take(3).rev().cloned().collect())
            .unwrap_or_default();
        if tail.is_empty() {
            status
        } else {
            format!("{status}; last output: {}", tail.join(" | "))
        }
    }

    /// Kills the worker's process group and reaps it.
    #[allow(unsafe_code)]
    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the group is the worker's own
            // (process_group(0) at spawn), so this signals only what the worker started.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.gone = true;
    }
}

impl Drop for NodeEngine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a child with a timeout.
trait WaitTimeout {
    fn wait_timeout(&mut self, t: Duration) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for Child {
    fn wait_timeout(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + t;
        loop {
            match self.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => return None,
            }
        }
    }
}

fn describe_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// A failure reported by the worker (`{name, message, stack}`).
struct NodeFailure {
    name: String,
    message: String,
    stack: String,
}

impl NodeFailure {
    fn summary(&self) -> String {
        if self.name.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.name, self.message)
        }
    }
    /// `file:line:col` of the innermost frame inside the function's folder, relative to it.
    fn location(&self, root: &Path) -> Option<String> {
        let root = root.to_string_lossy();
        self.stack.lines().map(str::trim).find_map(|l| {
            let at = l.find(root.as_ref())?;
            let rest = l[at + root.len()..].trim_start_matches('/');
            let end = rest.find(')').unwrap_or(rest.len());
            Some(rest[..end].to_string())
        })
    }
}

/// Reads a failure; paths in its message are shown relative to the functions folder `dir`
/// (as QuickJS shows them), and Node's "Require stack" list is left to the stack.
fn failure_of(json: &str, dir: &Path) -> NodeFailure {
    let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut message = text("message");
    if let Some(at) = message.find("\nRequire stack:") {
        message.truncate(at);
    }
    let prefix = format!("{}/", dir.to_string_lossy());
    NodeFailure {
        name: text("name"),
        message: message.replace(&prefix, ""),
        stack: text("stack"),
    }
}

/// Starts the process: returns it, the channel and the output socket.
fn spawn(
    node: &NodeRuntime,
    root: &Path,
    spec: &FunctionSpec,
) -> std::io::Result<(Child, UnixStream, UnixStream)> {
    let (ours, theirs) = UnixStream::pair()?;
    let (out_ours, out_theirs) = UnixStream::pair()?;
    let out_err = out_theirs.try_clone()?;
    let mib = (spec.memory_limit >> 20).max(16);
    let mut cmd = Command::new(&node.path);
    cmd.arg(format!("--max-old-space-size={mib}"))
        .arg("--unhandled-rejections=warn")
        .arg("-e")
        .arg(BOOTSTRAP)
        .current_dir(root)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", "/tmp")
        .env("LANG", "C.UTF-8")
        .envs(&spec.env)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(out_theirs)))
        .stderr(Stdio::from(OwnedFd::from(out_err)))
        .process_group(0);
    if let Some((uid, gid)) = node.user {
        cmd.uid(uid).gid(gid);
    }
    set_parent_death_signal(&mut cmd);
    let child = cmd.spawn()?;
    Ok((child, ours, out_ours))
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe. It runs after the uid/gid switch, which would clear the setting.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The reader thread of a worker's channel: lines to the instance thread.
fn read_channel(chan: UnixStream, generation: u64, tx: Sender<Msg>) {
    let mut r = BufReader::with_capacity(64 << 10, chan);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) if line.last() != Some(&b'\n') => break,
            Ok(_) => {
                line.pop();
                let msg = Msg::NodeLine {
                    generation,
                    line: std::mem::take(&mut line),
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Msg::NodeGone { generation });
}

/// The output thread: stdout and stderr lines into the function's log, the last ones kept.
fn copy_output(host: &HostEnv, function: &str, out: UnixStream, seen: &Output) {
    let r = BufReader::new(out);
    let mut n = 0u64;
    for line in r.split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line).into_owned();
        if text.contains("heap out of memory") || text.contains("Allocation failed") {
            seen.oom.store(true, Ordering::Relaxed);
        }
        n += 1;
        if n <= MAX_OUTPUT_LINES {
            emit_log(host, function, "", "info", &text);
        }
        if let Ok(mut t) = seen.tail.lock() {
            if t.len() == OUTPUT_TAIL {
                t.pop_front();
            }
            t.push_back(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_failures() {
        assert_eq!(lookup_user("root"), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-here"), None);
        let f = failure_of(
            r#"{"name":"TypeError","message":"x is not a function","stack":"TypeError: x\n    at main (/srv/fn/a/index.js:3:9)\n    at x"}"#,
            Path::new("/srv/fn"),
        );
        assert_eq!(f.summary(), "TypeError: x is not a function");
        assert_eq!(
            f.location(Path::new("/srv/fn/a")).as_deref(),
            Some("index.js:3:9")
        );
        let f = failure_of(
            r#"{"name":"Error","message":"Cannot find module './m'\nRequire stack:\n- /srv/fn/a/index.js","stack":""}"#,
            Path::new("/srv/fn"),
        );
        assert_eq!(f.message, "Cannot find module './m'");
        let f = failure_of(r#"{"message":"bad /srv/fn/a/x.js"}"#, Path::new("/srv/fn"));
        assert_eq!(f.message, "bad a/x.js");
    }
}
