//! The instances of one function: at most `concurrency` at once (each serves one call at a
//! time, as CloudBase instances do), warm ones kept for reuse, callers beyond the limit
//! waiting in a bounded queue (`functions.queue`; a full queue, or a wait longer than the
//! function's timeout, is answered `UNAVAILABLE`).

use crate::CallContext;
use crate::error::FunctionError;
use crate::worker::{Instance, Job, JobOutcome, WorkerConfig};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long an idle instance is kept warm.
pub(crate) const IDLE_TTL: Duration = Duration::from_secs(600);
/// How long past its timeout an instance may take to answer before it is given up on.
const GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Pool {
    cfg: Arc<WorkerConfig>,
    slots: Arc<Semaphore>,
    concurrency: usize,
    queue: usize,
    waiting: AtomicUsize,
    idle: Mutex<Vec<Instance>>,
    timeout: Mutex<Duration>,
}

impl Pool {
    pub fn new(cfg: Arc<WorkerConfig>, concurrency: usize, queue: usize) -> Self {
        let timeout = cfg.defaults.timeout;
        Pool {
            cfg,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            queue,
            waiting: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            timeout: Mutex::new(timeout),
        }
    }

    fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Runs one invocation on a free (or new) instance.
    pub async fn invoke(
        self: &Arc<Self>,
        event: String,
        call: CallContext,
    ) -> Result<String, FunctionError> {
        let timeout = *self.timeout.lock();
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            // A call from inside another function never waits: its caller holds an instance
            // while waiting for it, so waiting could deadlock. It runs on an extra instance,
            // bounded by the nesting limit.
            Err(_) if call.depth > 0 => None,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(FunctionError::Busy {
                        name: self.name().to_owned(),
                    });
                }
                let acquired =
                    tokio::time::timeout(timeout, self.slots.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match acquired {
                    Ok(Ok(p)) => Some(p),
                    Ok(Err(_)) => return Err(FunctionError::ShuttingDown),
                    Err(_) => {
                        return Err(FunctionError::Busy {
                            name: self.name().to_owned(),
                        });
                    }
                }
            }
        };
        let idle = self.idle.lock().pop();
        let instance = match idle {
            Some(i) => i,
            None => Instance::spawn(self.cfg.clone()).map_err(|e| {
                FunctionError::Internal(format!("could not start an instance thread: {e}"))
            })?,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        if !instance.send(Job { event, call, reply }) {
            return Err(FunctionError::Internal("instance thread is gone".into()));
        }
        let outcome = match tokio::time::timeout(timeout + GRACE, answer).await {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => JobOutcome {
                result: Err(FunctionError::Internal("instance stopped".into())),
                keep: false,
                timeout: None,
            },
            Err(_) => {
                tracing::error!(function = %self.name(), "instance did not answer after its timeout; abandoned");
                JobOutcome {
                    result: Err(FunctionError::Timeout {
                        name: self.name().to_owned(),
                        ms: timeout.as_millis() as u64,
                    }),
                    keep: false,
                    timeout: None,
                }
            }
        };
        if let Some(t) = outcome.timeout {
            *self.timeout.lock() = t;
        }
        if outcome.keep && (permit.is_some() || self.idle.lock().len() < self.concurrency) {
            let mut instance = instance;
            instance.last_used = Instant::now();
            self.idle.lock().push(instance);
        }
        drop(permit);
        outcome.result
    }

    /// Drops instances idle for longer than `ttl`. Whether the pool is now entirely unused.
    pub fn reap(&self, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut idle = self.idle.lock();
        idle.retain(|i| now.duration_since(i.last_used) < ttl);
        idle.is_empty() && self.slots.available_permits() == self.concurrency
    }

    /// Drops every idle instance.
    pub fn clear(&self) {
        self.idle.lock().clear();
    }

    /// Calls in progress or waiting.
    pub fn busy(&self) -> usize {
        self.concurrency - self.slots.available_permits() + self.waiting.load(Ordering::SeqCst)
    }
}
