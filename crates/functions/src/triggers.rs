//! Timer triggers (定时触发器) from each function's `config.json`.
//!
//! One scheduler task watches the functions folder (re-reading a `config.json` when it
//! changes) and wakes right after the next tick of any trigger. Each tick of each trigger
//! fires exactly once: the scheduler remembers, per function and trigger name, the last tick
//! it fired, so editing `config.json` (or the code) never fires a tick twice, and a tick
//! missed while the server was busy or stopped is skipped rather than replayed. Times are in
//! `functions.timezone_offset_hours` (UTC+8 by default, as CloudBase).
//!
//! With several servers sharing one database, a [`crate::TimerLease`] makes each tick fire on
//! one server only.
//!
//! The event is CloudBase's: `{"Type":"Timer","TriggerName":…,"Time":"2024-01-01T02:00:00Z","Message":""}`,
//! and `getWXContext().SOURCE` is `wx_trigger`.

use crate::modules::{Stamp, stamp};
use crate::spec::{FunctionSpec, TimerTrigger, valid_name};
use crate::{CallContext, Functions, Inner};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use mb_core::Caller;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the functions folder is re-read at least.
const RESCAN: Duration = Duration::from_secs(1);

type ConfigCache = HashMap<String, (Option<Stamp>, Vec<TimerTrigger>)>;

impl Functions {
    /// Starts the timer scheduler; it stops when the manager is dropped (or the handle aborted).
    pub fn start_timers(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let offset = self.settings().timezone_offset_hours;
        tokio::spawn(scheduler(weak, offset))
    }
}

/// Reads every function's timer triggers, re-parsing only changed `config.json` files.
fn scan(dir: &Path, cache: &mut ConfigCache, defaults: &FunctionSpec) {
    let mut seen = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let folder = entry.path();
            if !valid_name(&name) || !folder.join("index.js").is_file() {
                continue;
            }
            let cfg = folder.join("config.json");
            let st = stamp(&cfg);
            seen.push(name.clone());
            if cache.get(&name).is_some_and(|(s, _)| *s == st) {
                continue;
            }
            let timers = match st {
                None => Vec::new(),
                Some(_) => match std::fs::read_to_string(&cfg)
                    .map_err(|e| e.to_string())
                    .and_then(|t| FunctionSpec::parse(&t, defaults))
                {
                    Ok(spec) => spec.timers,
                    Err(e) => {
                        tracing::warn!(function = %name, error = %e, "timer triggers not loaded");
                        Vec::new()
                    }
                },
            };
            cache.insert(name, (st, timers));
        }
    }
    cache.retain(|k, _| seen.contains(k));
}

async fn scheduler(weak: Weak<Inner>, offset_hours: i32) {
    let Some(tz) = FixedOffset::east_opt(offset_hours * 3600) else {
        tracing::error!(
            offset_hours,
            "invalid timezone offset; timer triggers disabled"
        );
        return;
    };
    let mut cache: ConfigCache = HashMap::new();
    // (function, trigger) → the last tick fired (or the moment the trigger was first seen).
    let mut last: HashMap<(String, String), DateTime<FixedOffset>> = HashMap::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let functions = Functions::from_inner(inner);
        let dir = functions.settings().dir.clone();
        let defaults = FunctionSpec::defaults(
            functions.settings().timeout,
            functions.settings().memory_limit,
        );
        cache = tokio::task::spawn_blocking(move || {
            scan(&dir, &mut cache, &defaults);
            cache
        })
        .await
        .unwrap_or_default();
        let now = Utc::now().with_timezone(&tz);
        last.retain(|(f, t), _| {
            cache
                .get(f)
                .is_some_and(|(_, ts)| ts.iter().any(|x| &x.name == t))
        });
        let mut wake = now + chrono::Duration::from_std(RESCAN).unwrap_or_default();
        for (fname, (_, timers)) in &cache {
            for t in timers {
                let key = (fname.clone(), t.name.clone());
                let since = *last.entry(key.clone()).or_insert(now);
                // The latest tick that has come since the last one fired.
                let mut due = None;
                for tick in t.schedule.after(&since) {
                    if tick > now {
                        if tick < wake {
                            wake = tick;
                        }
                        break;
                    }
                    due = Some(tick);
                }
                if let Some(tick) = due {
                    last.insert(key, tick);
                    fire(&functions, fname, &t.name, tick.with_timezone(&Utc));
                    if let Some(next) = t.schedule.after(&tick).next() {
                        if next < wake {
                            wake = next;
                        }
                    }
                }
            }
        }
        drop(functions);
        let sleep = (wake - Utc::now().with_timezone(&tz))
            .to_std()
            .unwrap_or_default()
            + Duration::from_millis(5);
        tokio::time::sleep(sleep.min(RESCAN)).await;
    }
}

fn fire(functions: &Functions, name: &str, trigger: &str, tick: DateTime<Utc>) {
    let functions = functions.clone();
    let (name, trigger) = (name.to_owned(), trigger.to_owned());
    tokio::spawn(async move {
        if let Some(lease) = functions.inner.lease.clone() {
            if !lease
                .claim(&format!("{name}:{trigger}"), tick.timestamp_millis())
                .await
            {
                tracing::debug!(function = %name, trigger = %trigger, "timer tick taken by another server");
                return;
            }
        }
        let request_id = mb_core::ids::random_hex(16);
        let event = json!({
            "Type": "Timer",
            "TriggerName": trigger,
            "Time": tick.to_rfc3339_opts(SecondsFormat::Secs, true),
            "Message": "",
        });
        let ctx =
            CallContext::new(Caller::System, request_id.clone(), None).with_source("wx_trigger");
        match functions.invoke(&name, &event, ctx).await {
            Ok(_) => {
                tracing::info!(function = %name, trigger = %trigger, request_id = %request_id, "timer trigger ran")
            }
            Err(e) => {
                tracing::warn!(function = %name, trigger = %trigger, request_id = %request_id, error = %e, "timer trigger failed")
            }
        }
    });
}
