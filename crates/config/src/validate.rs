//! Second phase: checks that span keys or need parsing beyond types (addresses, modes that
//! exclude each other, key lengths), and resolution of relative paths against the config
//! file's directory. Every error names the key.

use crate::ConfigError;
use crate::model::{Config, TlsMode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.into(),
    }
}

fn check_addr(key: &str, value: &str, required: bool) -> Result<(), ConfigError> {
    if value.is_empty() {
        if required {
            return Err(key_err(key, "must be set (e.g. \"0.0.0.0:443\")"));
        }
        return Ok(());
    }
    value.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
        key_err(
            key,
            format!("{value:?} is not a socket address; write host:port such as \"0.0.0.0:443\""),
        )
    })
}

fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(key_err(key, format!("{value:?} is not an http(s) URL")))
    }
}

/// Whether `name` can be a collection name: letters, digits, `_` and `-`, starting with a
/// letter or `_`, at most 64 characters.
pub fn valid_collection_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_domain(d: &str) -> bool {
    let d = d.strip_prefix("*.").unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Checks a deserialised configuration.
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    let s = &c.server;
    check_addr("server.http_addr", &s.http_addr, false)?;
    check_addr(
        "server.https_addr",
        &s.https_addr,
        c.tls.mode != TlsMode::Off,
    )?;
    check_addr("server.redirect_addr", &s.redirect_addr, false)?;
    if c.tls.mode == TlsMode::Off && s.http_addr.is_empty() {
        return Err(key_err(
            "server.http_addr",
            "must be set when tls.mode = \"off\" (nothing would listen)",
        ));
    }
    for d in &s.domains {
        if !valid_domain(d) {
            return Err(key_err(
                "server.domains",
                format!(
                    "{d:?} is not a domain name (write api.example.com: no scheme, port or path)"
                ),
            ));
        }
    }
    if !matches!(s.log_format.as_str(), "json" | "pretty") {
        return Err(key_err(
            "server.log_format",
            "must be \"json\" or \"pretty\"",
        ));
    }
    if s.log_level.trim().is_empty() {
        return Err(key_err(
            "server.log_level",
            "must not be empty (e.g. \"info\")",
        ));
    }
    for o in &s.cors_origins {
        if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
            return Err(key_err(
                "server.cors_origins",
                format!("{o:?} is not an origin (write https://h5.example.com, or \"*\")"),
            ));
        }
    }
    if s.header_timeout.get().is_zero() {
        return Err(key_err("server.header_timeout", "must be more than 0"));
    }
    if s.max_connections == 0 {
        return Err(key_err("server.max_connections", "must be at least 1"));
    }

    let l = &c.limits;
    if l.body.bytes() == 0 {
        return Err(key_err("limits.body", "must be more than 0"));
    }
    if l.upload.bytes() == 0 {
        return Err(key_err("limits.upload", "must be more than 0"));
    }
    if l.document.bytes() == 0 {
        return Err(key_err("limits.document", "must be more than 0"));
    }
    if l.depth == 0 {
        return Err(key_err("limits.depth", "must be at least 1"));
    }
    if l.max_limit == 0 {
        return Err(key_err("limits.max_limit", "must be at least 1"));
    }
    if l.default_limit == 0 || l.default_limit > l.max_limit {
        return Err(key_err(
            "limits.default_limit",
            "must be between 1 and limits.max_limit",
        ));
    }
    if l.rate_per_ip == 0 && l.rate_burst != 0 {
        return Err(key_err(
            "limits.rate_burst",
            "has no effect unless limits.rate_per_ip is set",
        ));
    }

    let t = &c.tls;
    if !matches!(t.min_version.as_str(), "1.2" | "1.3") {
        return Err(key_err(
            "tls.min_version",
            format!("{:?}: must be \"1.2\" or \"1.3\"", t.min_version),
        ));
    }
    if t.mode == TlsMode::Files {
        if t.cert_file.as_os_str().is_empty() {
            return Err(key_err(
                "tls.cert_file",
                "must be set when tls.mode = \"files\"",
            ));
        }
        if t.key_file.as_os_str().is_empty() {
            return Err(key_err(
                "tls.key_file",
                "must be set when tls.mode = \"files\"",
            ));
        }
    }
    for (i, pair) in t.certificates.iter().enumerate() {
        if pair.cert_file.as_os_str().is_empty() || pair.key_file.as_os_str().is_empty() {
            return Err(key_err(
                &format!("tls.certificates[{i}]"),
                "needs both cert_file and key_file",
            ));
        }
    }
    if t.mode == TlsMode::Acme {
        if s.domains.is_empty() {
            return Err(key_err(
                "server.domains",
                "must list at least one domain when tls.mode = \"acme\"",
            ));
        }
        check_url("tls.acme.directory_url", &t.acme.directory_url)?;
        if !matches!(
            t.acme.challenge.as_str(),
            "http-01" | "tls-alpn-01" | "dns-01"
        ) {
            return Err(key_err(
                "tls.acme.challenge",
                "must be \"http-01\", \"tls-alpn-01\" or \"dns-01\"",
            ));
        }
        if t.acme.challenge == "http-01" && s.redirect_addr.is_empty() {
            return Err(key_err(
                "server.redirect_addr",
                "must be set (e.g. \"0.0.0.0:80\") for tls.acme.challenge = \"http-01\"",
            ));
        }
        if t.acme.challenge == "dns-01"
            && !matches!(
                t.acme.dns_provider.as_str(),
                "dnspod" | "alidns" | "cloudflare"
            )
        {
            return Err(key_err(
                "tls.acme.dns_provider",
                "must be \"dnspod\", \"alidns\" or \"cloudflare\" for tls.acme.challenge = \"dns-01\"",
            ));
        }
    }

    let a = &c.auth;
    if a.dev_login && matches!(t.mode, TlsMode::Files | TlsMode::Acme) {
        return Err(key_err(
            "auth.dev_login",
            "is refused with tls.mode = \"files\" or \"acme\": dev login lets anyone sign in as anyone; use it only in development",
        ));
    }
    if !a.service_key.is_empty() && a.service_key.expose().len() < 16 {
        return Err(key_err(
            "auth.service_key",
            "is too short: use at least 16 random characters (e.g. `openssl rand -hex 32`)",
        ));
    }
    if !a.jwt_secret.is_empty() && a.jwt_secret.expose().len() < 32 {
        return Err(key_err(
            "auth.jwt_secret",
            "is too short: use at least 32 random characters, or leave it empty to generate one",
        ));
    }
    if a.access_ttl.get().is_zero() {
        return Err(key_err("auth.access_ttl", "must be more than 0"));
    }
    if a.refresh_ttl.get() < a.access_ttl.get() {
        return Err(key_err(
            "auth.refresh_ttl",
            "must be at least auth.access_ttl",
        ));
    }

    let w = &c.wechat;
    check_url("wechat.api_base", &w.api_base)?;
    if !w.appid.is_empty() && !w.appid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(key_err(
            "wechat.appid",
            "must be the AppID from the mini program console (wx…)",
        ));
    }
    if !w.push_aes_key.is_empty() && w.push_aes_key.expose().len() != 43 {
        return Err(key_err(
            "wechat.push_aes_key",
            "must be the 43-character EncodingAESKey from the console",
        ));
    }

    let p = &c.wechat_pay;
    check_url("wechat_pay.api_base", &p.api_base)?;
    if !p.mchid.is_empty() {
        if p.merchant_serial_no.is_empty() {
            return Err(key_err(
                "wechat_pay.merchant_serial_no",
                "must be set when wechat_pay.mchid is",
            ));
        }
        if p.merchant_key_file.as_os_str().is_empty() {
            return Err(key_err(
                "wechat_pay.merchant_key_file",
                "must be set when wechat_pay.mchid is (apiclient_key.pem)",
            ));
        }
        if p.apiv3_key.expose().len() != 32 {
            return Err(key_err(
                "wechat_pay.apiv3_key",
                "must be the 32-byte APIv3 key (set MINIBASE_WECHAT_PAY__APIV3_KEY)",
            ));
        }
        if p.public_key_id.is_empty() != p.public_key_file.as_os_str().is_empty() {
            return Err(key_err(
                "wechat_pay.public_key_file",
                "public_key_id and public_key_file go together",
            ));
        }
        if p.public_key_id.is_empty() && !p.platform_certs {
            return Err(key_err(
                "wechat_pay.platform_certs",
                "with no public_key_id/public_key_file, platform certificates are the only way to verify WeChat Pay: set it to true",
            ));
        }
        if p.notify_url.is_empty() {
            return Err(key_err(
                "wechat_pay.notify_url",
                "must be set when wechat_pay.mchid is",
            ));
        }
    }
    if !p.notify_url.is_empty()
        && !p.notify_url.starts_with("https://")
        && !p.notify_url.starts_with("http://")
    {
        return Err(key_err("wechat_pay.notify_url", "must be a URL"));
    }

    let db_url = c.database_url();
    if !db_url.starts_with("sqlite://")
        && !db_url.starts_with("postgres://")
        && !db_url.starts_with("postgresql://")
    {
        return Err(key_err(
            "database.url",
            "must start with sqlite:// (or postgres://)",
        ));
    }
    let st = c.storage_url();
    if !st.starts_with("file://") && !st.starts_with("s3://") {
        return Err(key_err("storage.url", "must start with file:// or s3://"));
    }
    if c.storage.default_max_age > c.storage.max_age {
        return Err(key_err(
            "storage.default_max_age",
            "must not exceed storage.max_age",
        ));
    }
    if !c.storage.public_base_url.is_empty() {
        check_url("storage.public_base_url", &c.storage.public_base_url)?;
    }
    if c.storage.timeout.get().is_zero() {
        return Err(key_err("storage.timeout", "must be more than 0"));
    }
    if c.storage.max_age.get().is_zero() {
        return Err(key_err("storage.max_age", "must be more than 0"));
    }
    if !c.storage.signing_secret.is_empty() && c.storage.signing_secret.expose().len() < 32 {
        return Err(key_err(
            "storage.signing_secret",
            "is too short: use at least 32 random characters, or leave it empty to generate one",
        ));
    }

    for (name, coll) in &c.collections {
        if !valid_collection_name(name) {
            return Err(key_err(
                &format!("collections.{name}"),
                "invalid collection name (letters, digits, _ and -, starting with a letter or _, ≤ 64)",
            ));
        }
        for (i, idx) in coll.indexes.iter().enumerate() {
            if idx.fields.is_empty() {
                return Err(key_err(
                    &format!("collections.{name}.indexes[{i}]"),
                    "needs at least one field",
                ));
            }
        }
    }

    let f = &c.functions;
    if f.concurrency == 0 {
        return Err(key_err("functions.concurrency", "must be at least 1"));
    }
    if f.timeout.get().is_zero() {
        return Err(key_err("functions.timeout", "must be more than 0"));
    }
    if !(-12..=14).contains(&f.timezone_offset_hours) {
        return Err(key_err(
            "functions.timezone_offset_hours",
            "must be between -12 and 14",
        ));
    }
    let mem = f.memory_limit.bytes();
    if !(16 << 20..=4 << 30).contains(&mem) {
        return Err(key_err(
            "functions.memory_limit",
            "must be between 16MiB and 4GiB",
        ));
    }
    check_functions_extra(f)?;
    let r = &c.realtime;
    if r.send_buffer == 0 {
        return Err(key_err("realtime.send_buffer", "must be at least 1"));
    }
    if r.max_watches_per_connection == 0 {
        return Err(key_err(
            "realtime.max_watches_per_connection",
            "must be at least 1",
        ));
    }
    if r.max_docs_per_watch == 0 {
        return Err(key_err("realtime.max_docs_per_watch", "must be at least 1"));
    }
    if r.idle_timeout.get() < Duration::from_secs(1) {
        return Err(key_err("realtime.idle_timeout", "must be at least 1s"));
    }
    if r.max_snapshot_bytes.bytes() < 1024 {
        return Err(key_err(
            "realtime.max_snapshot_bytes",
            "must be at least 1KiB",
        ));
    }
    if r.send_buffer_bytes.bytes() < r.max_snapshot_bytes.bytes() {
        return Err(key_err(
            "realtime.send_buffer_bytes",
            "must be at least realtime.max_snapshot_bytes",
        ));
    }
    let k = &c.console;
    if k.session_ttl.get() < Duration::from_secs(60) {
        return Err(key_err("console.session_ttl", "must be at least 1m"));
    }
    if k.idle_timeout.get() < Duration::from_secs(60) {
        return Err(key_err("console.idle_timeout", "must be at least 1m"));
    }
    if k.max_failed_logins == 0 {
        return Err(key_err("console.max_failed_logins", "must be at least 1"));
    }
    if k.recent_requests > 100_000 {
        return Err(key_err(
            "console.recent_requests",
            "must be at most 100000 (they are kept in memory)",
        ));
    }
    Ok(())
}

fn resolve(base: &Path, p: &mut PathBuf) {
    if !p.as_os_str().is_empty() && p.is_relative() {
        *p = base.join(&*p);
    }
}

fn resolve_url(base: &Path, url: &mut String, scheme: &str) {
    if let Some(rest) = url.strip_prefix(scheme) {
        let p = Path::new(rest.split('?').next().unwrap_or(rest));
        if p.is_relative() && !rest.is_empty() {
            let query = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
            *url = format!("{scheme}{}{query}", base.join(p).display());
        }
    }
}

/// Makes relative paths relative to `base` (the config file's directory).
pub fn resolve_paths(c: &mut Config, base: &Path) {
    resolve(base, &mut c.server.data_dir);
    resolve(base, &mut c.tls.cert_file);
    resolve(base, &mut c.tls.key_file);
    resolve(base, &mut c.tls.chain_file);
    for pair in &mut c.tls.certificates {
        resolve(base, &mut pair.cert_file);
        resolve(base, &mut pair.key_file);
        resolve(base, &mut pair.chain_file);
    }
    resolve(base, &mut c.tls.acme.ca_file);
    resolve(base, &mut c.wechat_pay.merchant_key_file);
    resolve(base, &mut c.wechat_pay.public_key_file);
    resolve(base, &mut c.functions.dir);
    resolve_url(base, &mut c.database.url, "sqlite://");
    resolve_url(base, &mut c.storage.url, "file://");
}

/// Paths Minibase serves itself: a `[functions.routes]` path may not be one of them or lie
/// below one (it would never be reached).
pub const RESERVED_ROUTE_PREFIXES: &[&str] = &[
    "/api/auth",
    "/api/db",
    "/api/functions",
    "/api/health",
    "/api/pay",
    "/api/realtime",
    "/api/storage",
    "/api/wechat",
    "/fn",
    "/storage",
    "/metrics",
    "/_",
];

/// Whether `name` can name a function folder (as the functions area checks it).
fn valid_function_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

fn check_env_names<'a>(
    prefix: &str,
    names: impl Iterator<Item = &'a String>,
) -> Result<(), ConfigError> {
    for k in names {
        let ok = !k.is_empty()
            && !k.as_bytes()[0].is_ascii_digit()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(key_err(
                &format!("{prefix}.{k}"),
                "an environment variable name must be letters, digits and '_', not starting with a digit",
            ));
        }
    }
    Ok(())
}

/// `functions.runtime`, `[functions.env]`, `[functions.NAME]` and `[functions.routes]`.
fn check_functions_extra(f: &crate::model::FunctionsConfig) -> Result<(), ConfigError> {
    if f.runtime != "quickjs" && f.runtime != "node" {
        return Err(key_err(
            "functions.runtime",
            format!(
                "{:?} is not a runtime: use \"quickjs\" or \"node\"",
                f.runtime
            ),
        ));
    }
    check_env_names("functions.env", f.env.keys())?;
    for (name, o) in &f.per_function {
        if !valid_function_name(name) {
            return Err(key_err(
                &format!("functions.{name}"),
                "unknown key; a table here is a function's settings ([functions.NAME.env]) and NAME must be a function name (letters, digits, '-', '_')",
            ));
        }
        check_env_names(&format!("functions.{name}.env"), o.env.keys())?;
    }
    for (path, target) in &f.routes {
        let key = format!("functions.routes.{path:?}");
        let clean = path.starts_with('/')
            && path.len() <= 256
            && (path == "/" || !path.ends_with('/'))
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
            && !path.contains("//")
            && !path.split('/').any(|seg| seg == "." || seg == "..");
        if !clean {
            return Err(key_err(
                &key,
                "a route is a path such as \"/api/products\": starting with '/', no trailing '/', letters, digits and -._~ only",
            ));
        }
        if let Some(r) = RESERVED_ROUTE_PREFIXES
            .iter()
            .find(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            return Err(key_err(
                &key,
                format!("{r} is served by Minibase itself; choose another path"),
            ));
        }
        if !valid_function_name(target) {
            return Err(key_err(
                &key,
                format!("{target:?} is not a function name (letters, digits, '-', '_')"),
            ));
        }
    }
    Ok(())
}
