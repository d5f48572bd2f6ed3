//! Cloud functions (云函数): CloudBase-style JavaScript functions run in-process on QuickJS.
//!
//! A function is a folder `functions.dir/<name>/` holding `index.js` (CommonJS,
//! `exports.main = async (event, context) => …`) and an optional `config.json` (timeout,
//! memory, environment variables, timer triggers; see [`spec`]). Inside,
//! `require('wx-server-sdk')` (alias `minibase`) gives the `cloud` object: `getWXContext()`,
//! `database()` with `db.command`, files, `callFunction`, `openapi`, `pay`, `logger()`, plus
//! `fetch` with an SSRF guard ([`fetch`]).
//!
//! # Public API
//!
//! - [`Functions`]: the manager. [`Functions::new`] with [`Settings`] (from the config) and
//!   [`Services`] (the bindings to the other areas, see [`host`]); then
//!   [`Functions::call`] (`wx.cloud.callFunction`, `POST /api/functions/{name}`),
//!   [`Functions::http`] (the HTTP trigger, `/fn/{name}/…`), [`Functions::invoke`] (any event:
//!   payment notifications, message push) and [`Functions::start_timers`] (timer triggers).
//! - [`bindings`]: the [`host`] traits over storage (and docdb, when it lands).
//! - [`CallContext`]: who is calling, which becomes `cloud.getWXContext()`.
//! - [`FunctionError`]: why a call failed; converts into the API error envelope.
//!
//! # Runtimes
//!
//! Each function runs on QuickJS (the default, in-process) or on Node.js (`config.json`
//! `"runtime": "node"` / CloudBase's `"Nodejs18.15"`, or `[functions] runtime = "node"`): see
//! `node.rs`. Both share the pool, the host calls, the limits and hot reload; an instance
//! holds either engine.
//!
//! # Runtime model
//!
//! Each function has up to `functions.concurrency` instances; an instance is a thread owning
//! its own QuickJS runtime (separate heap, memory limit, interrupt handler), so functions never
//! see each other's globals and a runaway one never blocks the async runtime. Calls beyond
//! the limit wait in the function's queue, which a finishing instance serves next without
//! sleeping (`pool.rs`). Instances stay
//! warm between calls (module state persists, as on CloudBase) and reload when their files
//! change. See `worker.rs` for the life of an instance and `docs/functions.md` for users.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod activity;
pub mod bindings;
pub mod error;
pub mod fetch;
pub mod host;
pub mod http;
pub mod modules;
mod natives;
mod natives_node;
mod node;
mod pool;
pub mod spec;
pub mod triggers;
mod worker;

pub use error::FunctionError;
pub use host::{Database, Files, HostError, OpenApi, Pay, Query, Services, TimerLease};
pub use http::{HttpRequest, HttpResponse};

use mb_core::Caller;
use parking_lot::Mutex;
use pool::Pool;
use serde_json::{Map, Value, json};
use spec::FunctionSpec;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use worker::{HostEnv, WorkerConfig};

/// How deep `cloud.callFunction` may nest.
pub const MAX_CALL_DEPTH: u32 = 8;
/// The largest result (JSON text) a function may return, as CloudBase's 6 MB.
pub const MAX_RESULT_BYTES: usize = 6 << 20;

/// The deepest `data` [`Functions::call_raw`] passes on as it is (what a parse into a tree
/// would accept, well inside serde_json's limit of 128 for the whole body).
const MAX_RAW_DEPTH: usize = 100;

/// How deeply arrays and objects nest in a (valid) JSON text.
fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The `[functions]` settings and what else the manager needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The functions folder.
    pub dir: PathBuf,
    /// Default timeout of one invocation.
    pub timeout: Duration,
    /// Default memory limit of one instance, in bytes.
    pub memory_limit: usize,
    /// Instances (concurrent calls) per function.
    pub concurrency: usize,
    /// Calls that may wait for an instance, per function.
    pub queue: usize,
    /// Time zone of timer triggers.
    pub timezone_offset_hours: i32,
    /// `functions.http_allow`.
    pub http_allow: Vec<String>,
    /// The mini program's AppID (`APPID` in `getWXContext()`).
    pub appid: String,
    /// `ENV` in `getWXContext()`.
    pub env_id: String,
    /// The runtime of functions whose `config.json` names none.
    pub runtime: spec::Runtime,
    /// `functions.node_path` (`""`: `node` on `PATH`).
    pub node_path: String,
    /// `functions.node_user` (`""`: `nobody`), used when the server runs as root.
    pub node_user: String,
    /// `[functions.env]`: every function's environment, under its own.
    pub env: BTreeMap<String, config::Secret>,
    /// `[functions.NAME.env]`: one function's environment, over `env`.
    pub function_env: BTreeMap<String, BTreeMap<String, config::Secret>>,
    /// `[functions.routes]`: path → function.
    pub routes: BTreeMap<String, String>,
}

impl Settings {
    /// The settings of a loaded configuration.
    pub fn from_config(c: &config::Config) -> Self {
        let f = &c.functions;
        Settings {
            dir: f.dir.clone(),
            timeout: f.timeout.get(),
            memory_limit: f.memory_limit.bytes() as usize,
            concurrency: f.concurrency.max(1) as usize,
            queue: f.queue as usize,
            timezone_offset_hours: f.timezone_offset_hours,
            http_allow: f.http_allow.clone(),
            appid: c.wechat.appid.clone(),
            env_id: "minibase".into(),
            runtime: if f.runtime == "node" {
                spec::Runtime::Node
            } else {
                spec::Runtime::QuickJs
            },
            node_path: f.node_path.clone(),
            node_user: f.node_user.clone(),
            env: f.env.clone(),
            function_env: f
                .per_function
                .iter()
                .map(|(k, v)| (k.clone(), v.env.clone()))
                .collect(),
            routes: f.routes.clone(),
        }
    }

    /// The defaults a function's `config.json` is read over: the timeout and memory limit,
    /// and the environment of `[functions.env]` and `[functions.<name>.env]`.
    pub fn defaults_for(&self, name: &str) -> FunctionSpec {
        let mut spec = FunctionSpec::defaults(self.timeout, self.memory_limit);
        for (k, v) in self.env.iter().chain(
            self.function_env
                .get(name)
                .into_iter()
                .flat_map(|m| m.iter()),
        ) {
            spec.env.insert(k.clone(), v.expose().to_owned());
        }
        spec
    }

    /// The function serving `path` through `[functions.routes]`: the longest route that is
    /// `path` or a parent of it.
    pub fn route(&self, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .filter(|(r, _)| {
                r.as_str() == "/"
                    || path == r.as_str()
                    || path
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(r, _)| r.len())
            .map(|(_, f)| f.as_str())
    }
}

/// Who is calling, as `cloud.getWXContext()` will tell the function.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The caller (a user gives `OPENID`, `UNIONID`).
    pub caller: Caller,
    /// The request id (in the function's logs and `context.request_id`).
    pub request_id: String,
    /// The client's address (`CLIENTIP` / `CLIENTIPV6`).
    pub client_ip: Option<IpAddr>,
    /// `SOURCE`: `wx_client`, `wx_http`, `wx_trigger`, `wx_paycallback`, `http`, …
    pub source: String,
    /// `callFunction` nesting (0 for outside calls).
    pub depth: u32,
    /// The user an event is about when the caller is not that user (the sender of a pushed
    /// message, the payer of a notified order): `OPENID` then.
    pub openid: Option<String>,
}

impl CallContext {
    /// A context with the `SOURCE` CloudBase uses for this kind of caller: `wx_client` for a
    /// mini-program user, `wx_http` for service and admin callers, `wx_trigger` for Minibase
    /// itself, `wx_unknown` for anonymous callers.
    pub fn new(caller: Caller, request_id: impl Into<String>, client_ip: Option<IpAddr>) -> Self {
        let source = match &caller {
            Caller::User(_) => "wx_client",
            Caller::Service | Caller::Admin => "wx_http",
            Caller::System => "wx_trigger",
            Caller::Anonymous => "wx_unknown",
        };
        CallContext {
            caller,
            request_id: request_id.into(),
            client_ip,
            source: source.into(),
            depth: 0,
            openid: None,
        }
    }

    /// The same context with another `SOURCE`.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// The same context on behalf of `openid` (see [`CallContext::openid`]).
    pub fn on_behalf_of(mut self, openid: impl Into<String>) -> Self {
        self.openid = Some(openid.into());
        self
    }
}

/// The function manager. Cheap to clone.
#[derive(Clone)]
pub struct Functions {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    settings: Settings,
    dir: Mutex<Option<PathBuf>>,
    host: Arc<HostEnv>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    shutting_down: AtomicBool,
    lease: Option<Arc<dyn TimerLease>>,
}

impl Functions {
    /// A manager over `settings.dir`. Must be called inside a tokio runtime (host calls and
    /// timers run on it). Fails on an invalid `functions.http_allow`.
    pub fn new(settings: Settings, services: Services) -> Result<Self, String> {
        let policy = fetch::AddressPolicy::new(&settings.http_allow)?;
        let fetch = fetch::FetchClient::new(policy)?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "functions must be started inside the tokio runtime".to_string())?;
        let lease = services.lease.clone();
        // Node.js is looked for once; when it is the default runtime, its absence stops the
        // start. Otherwise a function asking for it gets the reason as its load error.
        let node = node::NodeRuntime::detect(&settings.node_path, &settings.node_user);
        if settings.runtime == spec::Runtime::Node {
            if let Err(e) = &node {
                return Err(format!("functions.runtime = \"node\": {e}"));
            }
        }
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            host: Arc::new(HostEnv {
                services,
                fetch,
                handle: handle.clone(),
                manager: weak.clone(),
                appid: settings.appid.clone(),
                env_id: settings.env_id.clone(),
                activity: activity::Activity::default(),
                node,
            }),
            dir: Mutex::new(None),
            settings,
            pools: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            lease,
        });
        // Reap idle instances in the background while the manager lives.
        let weak = Arc::downgrade(&inner);
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.pools.lock().retain(|_, p| !p.reap(pool::IDLE_TTL));
            }
        });
        Ok(Functions { inner })
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Functions { inner }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// `wx.cloud.callFunction`: `data` (an object, or null) becomes the event, with
    /// `userInfo: {appId, openId}` for a user caller (a `userInfo` sent by the client is
    /// dropped). Returns the JSON text of what `main` returned.
    pub async fn call(
        &self,
        name: &str,
        data: Value,
        ctx: CallContext,
    ) -> Result<String, FunctionError> {
        let mut event = match data {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err(FunctionError::BadRequest("'data' must be an object".into())),
        };
        event.remove("userInfo");
        if let Some(u) = ctx.caller.user() {
            event.insert(
                "userInfo".into(),
                json!({ "appId": self.inner.settings.appid, "openId": u.openid }),
            );
        }
        self.invoke_text(name, Value::Object(event).to_string(), ctx)
            .await
    }

    /// [`Functions::call`] with `data` as the JSON text the client sent (`None`: absent or
    /// `null`). A service or admin caller's object without `userInfo` becomes the event as
    /// it is, without being parsed into a tree and written out again; anything else takes
    /// the [`Functions::call`] path, so both answer alike.
    pub async fn call_raw(
        &self,
        name: &str,
        data: Option<&str>,
        ctx: CallContext,
    ) -> Result<String, FunctionError> {
        let Some(text) = data else {
            return self.call(name, Value::Null, ctx).await;
        };
        let verbatim = ctx.caller.user().is_none()
            && text.trim_start().starts_with('{')
            && !text.contains("userInfo")
            && json_depth(text) <= MAX_RAW_DEPTH;
        if verbatim {
            return self.invoke_text(name, text.to_owned(), ctx).await;
        }
        let data: Value = serde_json::from_str(text)
            .map_err(|e| FunctionError::BadRequest(format!("'data': {e}")))?;
        self.call(name, data, ctx).await
    }

    /// Runs `name` with any event (payment notifications, message push, timers); the parsed
    /// result.
    pub async fn invoke(
        &self,
        name: &str,
        event: &Value,
        ctx: CallContext,
    ) -> Result<Value, FunctionError> {
        let text = self.invoke_text(name, event.to_string(), ctx).await?;
        serde_json::from_str(&text)
            .map_err(|e| FunctionError::Internal(format!("result JSON: {e}")))
    }

    /// Whether a function named `name` exists now.
    pub async fn exists(&self, name: &str) -> bool {
        if !spec::valid_name(name) {
            return false;
        }
        let dir = self.inner.settings.dir.join(name).join("index.js");
        tokio::task::spawn_blocking(move || dir.is_file())
            .await
            .unwrap_or(false)
    }

    async fn invoke_text(
        &self,
        name: &str,
        event: String,
        ctx: CallContext,
    ) -> Result<String, FunctionError> {
        if !spec::valid_name(name) {
            return Err(FunctionError::BadName);
        }
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(FunctionError::ShuttingDown);
        }
        let started = std::time::Instant::now();
        let activity_ctx = ctx.clone();
        let result = self.invoke_pool(name, event, ctx).await;
        self.inner.host.activity.record(
            name,
            &activity_ctx,
            started.elapsed().as_secs_f64() * 1000.0,
            result.as_ref().err().map(|e| e.to_string()),
        );
        result
    }

    async fn invoke_pool(
        &self,
        name: &str,
        event: String,
        ctx: CallContext,
    ) -> Result<String, FunctionError> {
        let pool = self.pool(name).await?;
        // A caller that goes away takes nothing with it: the call, once handed over or
        // queued, belongs to the pool and its instance threads.
        let text = pool.invoke(event, ctx).await?;
        if text.len() > MAX_RESULT_BYTES {
            return Err(FunctionError::Thrown {
                name: name.to_owned(),
                message: format!(
                    "the value returned by main is larger than {} MiB",
                    MAX_RESULT_BYTES >> 20
                ),
            });
        }
        Ok(text)
    }

    async fn pool(&self, name: &str) -> Result<Arc<Pool>, FunctionError> {
        if let Some(p) = self.inner.pools.lock().get(name) {
            return Ok(p.clone());
        }
        let settings = &self.inner.settings;
        let configured = settings.dir.clone();
        let fname = name.to_owned();
        let defaults = settings.defaults_for(name);
        let found = tokio::task::spawn_blocking(move || {
            let dir = std::fs::canonicalize(&configured).ok()?;
            let folder = dir.join(&fname);
            if !folder.join("index.js").is_file() {
                return None;
            }
            // The function's own timeout, so that its first calls are waited for as long as
            // it may run (the instances report it again after every call).
            let timeout = std::fs::read_to_string(folder.join("config.json"))
                .ok()
                .and_then(|text| FunctionSpec::parse(&text, &defaults).ok())
                .map_or(defaults.timeout, |spec| spec.timeout);
            Some((dir, timeout))
        })
        .await
        .ok()
        .flatten();
        let Some((dir, timeout)) = found else {
            return Err(FunctionError::NotFound(name.to_owned()));
        };
        *self.inner.dir.lock() = Some(dir.clone());
        let mut pools = self.inner.pools.lock();
        let pool = pools.entry(name.to_owned()).or_insert_with(|| {
            let cfg = Arc::new(WorkerConfig {
                name: name.to_owned(),
                dir,
                defaults: settings.defaults_for(name),
                runtime: settings.runtime,
                host: self.inner.host.clone(),
                verified: Mutex::new((0, None)),
            });
            Pool::new(cfg, settings.concurrency, settings.queue, timeout)
        });
        Ok(pool.clone())
    }

    /// Calls in progress or waiting, per function (for metrics and tests).
    pub fn busy(&self) -> HashMap<String, usize> {
        self.inner
            .pools
            .lock()
            .iter()
            .map(|(k, p)| (k.clone(), p.busy()))
            .collect()
    }

    /// Refuses new calls and stops idle instances; calls in progress finish.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for p in self.inner.pools.lock().values() {
            p.clear();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for p in self.pools.get_mut().values() {
            p.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_depth;

    #[test]
    fn json_depth_counts_nesting_outside_strings() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth(r#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(json_depth(r#"{"a":"[[[{{{\"]]"}"#), 1);
        assert_eq!(json_depth(&("[".repeat(200) + &"]".repeat(200))), 200);
    }
}
