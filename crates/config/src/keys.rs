//! Every configuration key, with the type an environment override is parsed as and whether it
//! is a secret. This table drives `MINIBASE_<SECTION>__<KEY>` parsing and is checked against
//! the model (every field listed) and against `docs/configuration.md` (every key documented)
//! by tests.

/// How an environment value is turned into a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Taken as a string, verbatim (also durations and sizes).
    Str,
    /// `true`/`false`/`1`/`0`/`yes`/`no`.
    Bool,
    /// An integer.
    Int,
    /// A TOML array (`["a","b"]`) or a comma-separated list.
    List,
    /// A TOML value (`true`, a string, or an inline table/array): rules and indexes.
    Toml,
}

/// One key. `*` in a path stands for a user-chosen name (a collection).
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Dotted path, e.g. `server.http_addr`, `collections.*.read`.
    pub path: &'static str,
    /// How an environment override is parsed.
    pub kind: KeyKind,
    /// Whether the value is a secret (never logged or printed).
    pub secret: bool,
}

const fn k(path: &'static str, kind: KeyKind) -> KeySpec {
    KeySpec {
        path,
        kind,
        secret: false,
    }
}
const fn s(path: &'static str) -> KeySpec {
    KeySpec {
        path,
        kind: KeyKind::Str,
        secret: true,
    }
}

use KeyKind::*;

/// All keys.
pub const KEYS: &[KeySpec] = &[
    k("server.data_dir", Str),
    k("server.http_addr", Str),
    k("server.https_addr", Str),
    k("server.redirect_addr", Str),
    k("server.domains", List),
    k("server.trusted_proxies", List),
    k("server.cors_origins", List),
    k("server.log_level", Str),
    k("server.log_format", Str),
    k("server.access_log", Bool),
    k("server.header_timeout", Str),
    k("server.idle_timeout", Str),
    k("server.request_timeout", Str),
    k("server.shutdown_timeout", Str),
    k("server.max_connections", Int),
    k("limits.rate_per_ip", Int),
    k("limits.rate_burst", Int),
    k("limits.body", Str),
    k("limits.upload", Str),
    k("limits.document", Str),
    k("limits.depth", Int),
    k("limits.max_limit", Int),
    k("limits.default_limit", Int),
    k("limits.max_skip", Int),
    k("tls.mode", Str),
    k("tls.cert_file", Str),
    k("tls.key_file", Str),
    k("tls.chain_file", Str),
    k("tls.certificates", Toml),
    k("tls.min_version", Str),
    k("tls.reload_interval", Str),
    k("tls.acme.directory_url", Str),
    k("tls.acme.email", Str),
    k("tls.acme.challenge", Str),
    k("tls.acme.ca_file", Str),
    k("tls.acme.dns_provider", Str),
    k("tls.acme.dns_api_base", Str),
    k("tls.acme.dns_propagation", Str),
    k("tls.acme.dns_key_id", Str),
    s("tls.acme.dns_key_secret"),
    s("auth.service_key"),
    s("auth.jwt_secret"),
    k("auth.access_ttl", Str),
    k("auth.refresh_ttl", Str),
    k("auth.dev_login", Bool),
    k("wechat.appid", Str),
    s("wechat.secret"),
    k("wechat.api_base", Str),
    s("wechat.push_token"),
    s("wechat.push_aes_key"),
    k("wechat.push_function", Str),
    k("wechat.timeout", Str),
    k("wechat_pay.mchid", Str),
    k("wechat_pay.appid", Str),
    k("wechat_pay.api_base", Str),
    k("wechat_pay.merchant_serial_no", Str),
    k("wechat_pay.merchant_key_file", Str),
    s("wechat_pay.apiv3_key"),
    k("wechat_pay.public_key_id", Str),
    k("wechat_pay.public_key_file", Str),
    k("wechat_pay.platform_certs", Bool),
    k("wechat_pay.notify_url", Str),
    k("wechat_pay.refund_notify_url", Str),
    k("wechat_pay.notify_function", Str),
    k("wechat_pay.reconcile_after", Str),
    k("wechat_pay.timeout", Str),
    k("database.url", Str),
    k("storage.url", Str),
    s("storage.signing_secret"),
    k("storage.public_base_url", Str),
    k("storage.access_key_id", Str),
    s("storage.secret_access_key"),
    k("storage.timeout", Str),
    k("storage.default_max_age", Str),
    k("storage.max_age", Str),
    k("storage.rules.read", Toml),
    k("storage.rules.write", Toml),
    k("collections.*.read", Toml),
    k("collections.*.write", Toml),
    k("collections.*.create", Toml),
    k("collections.*.update", Toml),
    k("collections.*.delete", Toml),
    k("collections.*.indexes", Toml),
    k("functions.dir", Str),
    k("functions.timeout", Str),
    k("functions.memory_limit", Str),
    k("functions.concurrency", Int),
    k("functions.queue", Int),
    k("functions.timezone_offset_hours", Int),
    k("functions.http_allow", List),
    k("functions.runtime", Str),
    k("functions.node_path", Str),
    k("functions.node_user", Str),
    s("functions.env.*"),
    k("functions.routes.*", Str),
    s("functions.*.env.*"),
    k("realtime.max_watches_per_connection", Int),
    k("realtime.max_docs_per_watch", Int),
    k("realtime.max_connections_per_user", Int),
    k("realtime.max_connections_per_ip", Int),
    k("realtime.idle_timeout", Str),
    k("realtime.send_buffer", Int),
    k("realtime.send_buffer_bytes", Str),
    k("realtime.max_snapshot_bytes", Str),
    k("console.enabled", Bool),
    k("console.allow_from", List),
    k("console.session_ttl", Str),
    k("console.idle_timeout", Str),
    k("console.max_failed_logins", Int),
    k("console.lockout", Str),
    k("console.recent_requests", Int),
];

/// The spec of a concrete dotted path (`collections.todos.read` matches `collections.*.read`).
pub fn find(path: &str) -> Option<&'static KeySpec> {
    let parts: Vec<&str> = path.split('.').collect();
    KEYS.iter().find(|spec| {
        let pat: Vec<&str> = spec.path.split('.').collect();
        pat.len() == parts.len() && pat.iter().zip(&parts).all(|(p, q)| *p == "*" || p == q)
    })
}

/// Whether a dotted path names a secret.
pub fn is_secret(path: &str) -> bool {
    find(path).is_some_and(|s| s.secret)
}
