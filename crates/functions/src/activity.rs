//! What the functions did lately, for operators (the console's Functions page): the last
//! invocations with their outcome and duration, and the last lines functions logged
//! (`console.*`, `cloud.logger()`), each with its request id so one invocation's logs can be
//! picked out. Both are small bounded rings in memory: a busy function costs one short lock
//! per call and per line, and nothing here grows.
//!
//! Also [`Functions::catalog`]: every function in the folder with its settings and the next
//! runs of its timer triggers.

use crate::spec::{FunctionSpec, valid_name};
use crate::{CallContext, Functions};
use chrono::{FixedOffset, SecondsFormat, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;

/// Invocations remembered.
pub const RECENT_INVOCATIONS: usize = 200;
/// Log lines remembered (all functions together).
pub const RECENT_LOG_LINES: usize = 2000;

/// One finished invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// When it finished, ms since the epoch.
    pub at: i64,
    /// The function.
    pub function: String,
    /// The request id (its log lines carry it too).
    pub request_id: String,
    /// `SOURCE` (`wx_client`, `wx_http`, `wx_trigger`, …).
    pub source: String,
    /// `user`, `service`, `admin`, `system` or `anonymous`.
    pub caller: &'static str,
    /// Milliseconds from the call to its answer (waiting for an instance included).
    pub duration_ms: f64,
    /// Whether it returned a value.
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line a function logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// When, ms since the epoch.
    pub at: i64,
    /// The function.
    pub function: String,
    /// The invocation's request id.
    pub request_id: String,
    /// `info`, `warn`, `error`, `debug`.
    pub level: String,
    /// The text (already cut to the per-line limit).
    pub message: String,
}

/// The rings.
#[derive(Debug, Default)]
pub struct Activity {
    invocations: Mutex<VecDeque<Invocation>>,
    logs: Mutex<VecDeque<LogLine>>,
}

fn push<T>(ring: &Mutex<VecDeque<T>>, cap: usize, item: T) {
    let mut r = ring.lock();
    if r.len() >= cap {
        r.pop_front();
    }
    r.push_back(item);
}

impl Activity {
    pub(crate) fn record(&self, name: &str, ctx: &CallContext, ms: f64, error: Option<String>) {
        push(
            &self.invocations,
            RECENT_INVOCATIONS,
            Invocation {
                at: mb_core::now_ms(),
                function: name.to_owned(),
                request_id: ctx.request_id.clone(),
                source: ctx.source.clone(),
                caller: ctx.caller.kind(),
                duration_ms: ms,
                ok: error.is_none(),
                error,
            },
        );
    }

    pub(crate) fn log(&self, function: &str, request_id: &str, level: &str, message: &str) {
        push(
            &self.logs,
            RECENT_LOG_LINES,
            LogLine {
                at: mb_core::now_ms(),
                function: function.to_owned(),
                request_id: request_id.to_owned(),
                level: level.to_owned(),
                message: message.to_owned(),
            },
        );
    }

    /// The latest invocations, newest first, of one function or of all.
    pub fn invocations(&self, function: Option<&str>, limit: usize) -> Vec<Invocation> {
        self.invocations
            .lock()
            .iter()
            .rev()
            .filter(|i| function.is_none_or(|f| i.function == f))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The log lines of one invocation, oldest first.
    pub fn logs_of(&self, request_id: &str) -> Vec<LogLine> {
        self.logs
            .lock()
            .iter()
            .filter(|l| l.request_id == request_id)
            .cloned()
            .collect()
    }

    /// The latest log lines of one function, oldest first.
    pub fn logs_of_function(&self, function: &str, limit: usize) -> Vec<LogLine> {
        let logs = self.logs.lock();
        let mut out: Vec<LogLine> = logs
            .iter()
            .rev()
            .filter(|l| l.function == function)
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// A function as found in the folder.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionInfo {
    /// Its name (the folder's).
    pub name: String,
    /// What runs it.
    pub runtime: &'static str,
    /// Time limit of one invocation, ms.
    pub timeout_ms: u64,
    /// Memory limit of one instance, bytes.
    pub memory_limit: usize,
    /// Names of its environment variables (values are not shown: they may be secrets).
    pub env: Vec<String>,
    /// Its timer triggers.
    pub timers: Vec<TimerInfo>,
    /// Why its `config.json` was refused, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
}

/// A timer trigger and its next runs.
#[derive(Debug, Clone, Serialize)]
pub struct TimerInfo {
    /// The trigger's name.
    pub name: String,
    /// The expression as written.
    pub expr: String,
    /// The next few runs, RFC 3339 in `functions.timezone_offset_hours`.
    pub next: Vec<String>,
}

impl Functions {
    /// The recent invocations and log lines.
    pub fn activity(&self) -> &Activity {
        &self.inner.host.activity
    }

    /// Every function in `functions.dir`, by name, with its settings and the next three runs
    /// of each timer trigger.
    pub async fn catalog(&self) -> Vec<FunctionInfo> {
        let settings = self.settings().clone();
        tokio::task::spawn_blocking(move || {
            let defaults = FunctionSpec::defaults(settings.timeout, settings.memory_limit);
            let tz = FixedOffset::east_opt(settings.timezone_offset_hours * 3600)
                .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC is an offset"));
            let now = Utc::now().with_timezone(&tz);
            let mut out = Vec::new();
            let Ok(entries) = std::fs::read_dir(&settings.dir) else {
                return out;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let folder = entry.path();
                if !valid_name(&name) || !folder.join("index.js").is_file() {
                    continue;
                }
                let (spec, config_error) = match std::fs::read_to_string(folder.join("config.json"))
                {
                    Err(_) => (defaults.clone(), None),
                    Ok(text) => match FunctionSpec::parse(&text, &defaults) {
                        Ok(s) => (s, None),
                        Err(e) => (defaults.clone(), Some(e)),
                    },
                };
                out.push(FunctionInfo {
                    name,
                    runtime: "quickjs",
                    timeout_ms: spec.timeout.as_millis() as u64,
                    memory_limit: spec.memory_limit,
                    env: spec.env.keys().cloned().collect(),
                    timers: spec
                        .timers
                        .iter()
                        .map(|t| TimerInfo {
                            name: t.name.clone(),
                            expr: t.expr.clone(),
                            next: t
                                .schedule
                                .after(&now)
                                .take(3)
                                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, false))
                                .collect(),
                        })
                        .collect(),
                    config_error,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        })
        .await
        .unwrap_or_default()
    }
}
