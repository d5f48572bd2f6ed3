//! The configuration model: one struct per TOML section, exactly as API.md §1 names the keys.
//! Every struct refuses unknown keys; every field has a default so an empty file is a valid
//! development setup. Cross-field checks live in `validate.rs`.

use crate::secret::Secret;
use crate::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn d(s: &str) -> HumanDuration {
    HumanDuration::parse(s).unwrap_or_default()
}
fn sz(s: &str) -> ByteSize {
    ByteSize::parse(s).unwrap_or_default()
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[limits]`
    pub limits: LimitsConfig,
    /// `[tls]`
    pub tls: TlsConfig,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[wechat]`
    pub wechat: WechatConfig,
    /// `[wechat_pay]`
    pub wechat_pay: WechatPayConfig,
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[storage]`
    pub storage: StorageConfig,
    /// `[collections.NAME]`: collections opened to users, with rules and indexes.
    pub collections: BTreeMap<String, CollectionConfig>,
    /// `[functions]`
    pub functions: FunctionsConfig,
    /// `[realtime]`
    pub realtime: RealtimeConfig,
    /// `[console]`
    pub console: ConsoleConfig,
    /// Where each value set by the operator came from, by dotted key: `file <path>`,
    /// `env MINIBASE_…` or `--data-dir` (filled by [`crate::load_from`]; keys not listed have
    /// their default). Not a configuration key.
    #[serde(skip)]
    pub origins: BTreeMap<String, String>,
}

/// `[server]`: listeners, domains, proxies, logs and timeouts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Everything Minibase stores locally lives here.
    pub data_dir: PathBuf,
    /// Plain HTTP listener; `""` disables it.
    pub http_addr: String,
    /// HTTPS listener, when `tls.mode != "off"`.
    pub https_addr: String,
    /// HTTP → HTTPS redirect and ACME http-01 listener; `""` disables it.
    pub redirect_addr: String,
    /// The request legal domains this server answers for (certificates, redirects).
    pub domains: Vec<String>,
    /// Networks whose `X-Forwarded-For` / `X-Real-IP` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS (H5 pages); `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter.
    pub log_level: String,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// Whether each request is logged.
    pub access_log: bool,
    /// How long a client may take to send request headers.
    pub header_timeout: HumanDuration,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: HumanDuration,
    /// How long one request may take before 504.
    pub request_timeout: HumanDuration,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: HumanDuration,
    /// Open connections at most; new ones wait.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("./mb_data"),
            http_addr: "127.0.0.1:8090".into(),
            https_addr: "0.0.0.0:443".into(),
            redirect_addr: String::new(),
            domains: Vec::new(),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            log_level: "info".into(),
            log_format: "json".into(),
            access_log: true,
            header_timeout: d("10s"),
            idle_timeout: d("75s"),
            request_timeout: d("60s"),
            shutdown_timeout: d("15s"),
            max_connections: 25_000,
        }
    }
}

/// `[limits]`: rates and sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per second per client IP; 0 = off.
    pub rate_per_ip: u32,
    /// Bucket size; 0 = 2 × `rate_per_ip`.
    pub rate_burst: u32,
    /// Largest JSON body.
    pub body: ByteSize,
    /// Largest uploaded file.
    pub upload: ByteSize,
    /// Largest stored document.
    pub document: ByteSize,
    /// Deepest JSON nesting.
    pub depth: u32,
    /// Largest query `limit`.
    pub max_limit: u32,
    /// `limit` when a user's query gives none (CloudBase: 20).
    pub default_limit: u32,
    /// Largest query `skip`.
    pub max_skip: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            rate_per_ip: 0,
            rate_burst: 0,
            body: sz("1MiB"),
            upload: sz("50MiB"),
            document: sz("256KiB"),
            depth: 64,
            max_limit: 1000,
            default_limit: 20,
            max_skip: 1_000_000,
        }
    }
}

impl LimitsConfig {
    /// The effective token-bucket size.
    pub fn effective_burst(&self) -> u32 {
        if self.rate_burst == 0 {
            self.rate_per_ip.saturating_mul(2)
        } else {
            self.rate_burst
        }
    }
}

/// How the HTTPS listener gets its certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// HTTP only.
    #[default]
    Off,
    /// A local CA and leaf generated into `data_dir` (development).
    SelfSigned,
    /// PEM files as downloaded from a certificate console.
    Files,
    /// Certificates obtained and renewed automatically over ACME.
    Acme,
}

impl TlsMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files => "files",
            TlsMode::Acme => "acme",
        }
    }
}

/// One certificate/key pair in `files` mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateFiles {
    /// Leaf certificate, optionally followed by its chain (a `_bundle.crt`).
    pub cert_file: PathBuf,
    /// Private key (PKCS#1, PKCS#8 or SEC1 PEM).
    pub key_file: PathBuf,
    /// Intermediate chain when it is a separate file.
    pub chain_file: PathBuf,
}

/// `[tls]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// `off`, `self-signed`, `files` or `acme`.
    pub mode: TlsMode,
    /// `files` mode: PEM chain (leaf first).
    pub cert_file: PathBuf,
    /// `files` mode: private key.
    pub key_file: PathBuf,
    /// `files` mode: the intermediate chain when not bundled in `cert_file`.
    pub chain_file: PathBuf,
    /// More certificate/key pairs for other domains (chosen by SNI).
    pub certificates: Vec<CertificateFiles>,
    /// `"1.2"` or `"1.3"`.
    pub min_version: String,
    /// How often certificate files are checked for changes (SIGHUP reloads at once).
    pub reload_interval: HumanDuration,
    /// `[tls.acme]`
    pub acme: AcmeConfig,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            mode: TlsMode::Off,
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            chain_file: PathBuf::new(),
            certificates: Vec::new(),
            min_version: "1.2".into(),
            reload_interval: d("10s"),
            acme: AcmeConfig::default(),
        }
    }
}

/// `[tls.acme]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcmeConfig {
    /// The ACME directory.
    pub directory_url: String,
    /// Contact email for the account.
    pub email: String,
    /// `http-01`, `tls-alpn-01` or `dns-01`.
    pub challenge: String,
    /// Extra root certificate to trust for the ACME server.
    pub ca_file: PathBuf,
    /// `dnspod`, `alidns` or `cloudflare` (dns-01).
    pub dns_provider: String,
    /// API base of the DNS provider (tests point it at a fake); empty = the provider's.
    pub dns_api_base: String,
    /// Seconds to wait after creating a TXT record before asking for validation.
    pub dns_propagation: HumanDuration,
    /// DNS API key id (DNSPod SecretId, Alibaba Cloud AccessKey ID); empty = from the
    /// provider's usual environment variable.
    pub dns_key_id: String,
    /// DNS API secret (DNSPod SecretKey, Alibaba Cloud AccessKey Secret, Cloudflare API
    /// token); empty = from the provider's usual environment variable.
    pub dns_key_secret: Secret,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
            email: String::new(),
            challenge: "http-01".into(),
            ca_file: PathBuf::new(),
            dns_provider: String::new(),
            dns_api_base: String::new(),
            dns_propagation: d("10s"),
            dns_key_id: String::new(),
            dns_key_secret: Secret::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The service key servers present as `Authorization: Bearer <key>`.
    pub service_key: Secret,
    /// HS256 secret for access tokens; generated into `data_dir` when empty.
    pub jwt_secret: Secret,
    /// Access token lifetime.
    pub access_ttl: HumanDuration,
    /// Refresh token lifetime.
    pub refresh_ttl: HumanDuration,
    /// Enables `POST /api/auth/dev/login` (development only).
    pub dev_login: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            service_key: Secret::default(),
            jwt_secret: Secret::default(),
            access_ttl: d("2h"),
            refresh_ttl: d("30d"),
            dev_login: false,
        }
    }
}

/// `[wechat]`: the mini program's WeChat identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatConfig {
    /// AppID (`wx…`).
    pub appid: String,
    /// AppSecret.
    pub secret: Secret,
    /// WeChat API base URL.
    pub api_base: String,
    /// Message push Token.
    pub push_token: Secret,
    /// Message push EncodingAESKey (43 characters, safe mode).
    pub push_aes_key: Secret,
    /// Function that receives accepted push messages.
    pub push_function: String,
    /// Timeout of one call to the WeChat API.
    pub timeout: HumanDuration,
}

impl Default for WechatConfig {
    fn default() -> Self {
        WechatConfig {
            appid: String::new(),
            secret: Secret::default(),
            api_base: "https://api.weixin.qq.com".into(),
            push_token: Secret::default(),
            push_aes_key: Secret::default(),
            push_function: String::new(),
            timeout: d("5s"),
        }
    }
}

/// `[wechat_pay]`: WeChat Pay API v3 merchant settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatPayConfig {
    /// Merchant id.
    pub mchid: String,
    /// AppID paid for; defaults to `wechat.appid`.
    pub appid: String,
    /// WeChat Pay API base URL.
    pub api_base: String,
    /// Serial number of the merchant API certificate.
    pub merchant_serial_no: String,
    /// `apiclient_key.pem`.
    pub merchant_key_file: PathBuf,
    /// APIv3 key (32 bytes).
    pub apiv3_key: Secret,
    /// `PUB_KEY_ID_…` (public-key mode).
    pub public_key_id: String,
    /// WeChat Pay public key PEM (public-key mode).
    pub public_key_file: PathBuf,
    /// Also fetch `/v3/certificates` (platform-certificate mode).
    pub platform_certs: bool,
    /// Where WeChat Pay sends payment notifications.
    pub notify_url: String,
    /// Where WeChat Pay sends refund notifications; defaults from `notify_url`.
    pub refund_notify_url: String,
    /// Function called when an order is paid or refunded.
    pub notify_function: String,
    /// Orders still NOTPAY this long after creation are queried.
    pub reconcile_after: HumanDuration,
    /// Timeout of one call to WeChat Pay.
    pub timeout: HumanDuration,
}

impl Default for WechatPayConfig {
    fn default() -> Self {
        WechatPayConfig {
            mchid: String::new(),
            appid: String::new(),
            api_base: "https://api.mch.weixin.qq.com".into(),
            merchant_serial_no: String::new(),
            merchant_key_file: PathBuf::new(),
            apiv3_key: Secret::default(),
            public_key_id: String::new(),
            public_key_file: PathBuf::new(),
            platform_certs: true,
            notify_url: String::new(),
            refund_notify_url: String::new(),
            notify_function: String::new(),
            reconcile_after: d("5m"),
            timeout: d("10s"),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/data.db`; empty = `sqlite://<data_dir>/data.db`.
    pub url: String,
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `file://dir` or `s3://bucket?endpoint=…&region=…&path_style=true`; empty =
    /// `file://<data_dir>/storage`.
    pub url: String,
    /// HMAC secret for temporary URLs; generated into `data_dir` when empty.
    pub signing_secret: Secret,
    /// Base of temporary URLs; empty = from the request.
    pub public_base_url: String,
    /// S3 access key id (COS SecretId, OSS AccessKeyId); empty = `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// S3 secret access key; empty = `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// Timeout of one request to the S3 service (connect, and each read).
    pub timeout: HumanDuration,
    /// `maxAge` when a temp-url request gives none.
    pub default_max_age: HumanDuration,
    /// The largest `maxAge` honoured.
    pub max_age: HumanDuration,
    /// `[storage.rules]`
    pub rules: StorageRulesConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: String::new(),
            signing_secret: Secret::default(),
            public_base_url: String::new(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            timeout: d("30s"),
            default_max_age: d("2h"),
            max_age: d("7d"),
            rules: StorageRulesConfig::default(),
        }
    }
}

/// `[storage.rules]`: who may read and write which files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageRulesConfig {
    /// Read rule (temp URLs).
    pub read: RuleSource,
    /// Write rule (upload, delete).
    pub write: RuleSource,
}

impl Default for StorageRulesConfig {
    fn default() -> Self {
        StorageRulesConfig {
            read: RuleSource::Expr("resource.openid == auth.openid".into()),
            write: RuleSource::Expr("resource.openid == auth.openid".into()),
        }
    }
}

/// A rule as written in config: `true`, `false` or an expression string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RuleSource {
    /// `true` / `false`.
    Bool(bool),
    /// An expression such as `doc._openid == auth.openid`.
    Expr(String),
}

/// `[collections.NAME]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectionConfig {
    /// Read rule; absent = closed to users.
    pub read: Option<RuleSource>,
    /// Write rule; the fallback of create/update/delete.
    pub write: Option<RuleSource>,
    /// Create rule (falls back to `write`).
    pub create: Option<RuleSource>,
    /// Update rule (falls back to `write`).
    pub update: Option<RuleSource>,
    /// Delete rule (falls back to `write`).
    pub delete: Option<RuleSource>,
    /// Indexes on JSON paths.
    pub indexes: Vec<IndexConfig>,
}

/// One index: `{ fields = ["_openid", "due"], unique = false }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Field paths; a leading `-` makes that field descending.
    pub fields: Vec<String>,
    /// Whether two documents may share the indexed values.
    pub unique: bool,
}

/// `[functions]`. Besides its own keys, the section holds one table per function that needs
/// settings of its own (`[functions.NAME.env]`), which is why it cannot refuse unknown keys by
/// itself: a key that is not a setting must be such a table (see [`FunctionOverrides`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionsConfig {
    /// One folder per function: `index.js` + optional `config.json`.
    pub dir: PathBuf,
    /// Default timeout of one invocation (`config.json` `timeout` overrides).
    pub timeout: HumanDuration,
    /// Memory limit of one function instance.
    pub memory_limit: ByteSize,
    /// Concurrent invocations per function at most.
    pub concurrency: u32,
    /// Calls of one function that may wait for a free instance; more are refused with 503.
    pub queue: u32,
    /// Time zone of timer triggers, as a UTC offset in hours.
    pub timezone_offset_hours: i32,
    /// Hosts (or CIDRs) the function HTTP client may reach even when private or loopback.
    pub http_allow: Vec<String>,
    /// The runtime of functions whose `config.json` names none: `quickjs` or `node`.
    pub runtime: String,
    /// The Node.js executable; `""` looks for `node` on `PATH`.
    pub node_path: String,
    /// The user Node.js workers run as when Minibase runs as root; `""` = `nobody`.
    pub node_user: String,
    /// Environment variables of every function, under each `config.json` `envVariables`.
    pub env: BTreeMap<String, Secret>,
    /// HTTP routes: a path (and everything below it) → the function serving it as its HTTP
    /// trigger.
    pub routes: BTreeMap<String, String>,
    /// `[functions.NAME]`: settings of one function.
    #[serde(flatten)]
    pub per_function: BTreeMap<String, FunctionOverrides>,
}

/// `[functions.NAME]`: what one function gets beyond the `[functions]` defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionOverrides {
    /// Environment variables of this function, over `[functions.env]` and under its
    /// `config.json` `envVariables`.
    pub env: BTreeMap<String, Secret>,
}

impl Default for FunctionsConfig {
    fn default() -> Self {
        FunctionsConfig {
            dir: PathBuf::from("./functions"),
            timeout: d("10s"),
            memory_limit: sz("64MiB"),
            concurrency: 16,
            queue: 256,
            timezone_offset_hours: 8,
            http_allow: Vec::new(),
            runtime: "quickjs".into(),
            node_path: String::new(),
            node_user: String::new(),
            env: BTreeMap::new(),
            routes: BTreeMap::new(),
            per_function: BTreeMap::new(),
        }
    }
}

/// `[realtime]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealtimeConfig {
    /// Watches one connection may hold.
    pub max_watches_per_connection: u32,
    /// Documents one watch may hold (CloudBase: 5000).
    pub max_docs_per_watch: u32,
    /// Connections one user may hold.
    pub max_connections_per_user: u32,
    /// Connections one client IP may hold.
    pub max_connections_per_ip: u32,
    /// A connection silent this long is closed.
    pub idle_timeout: HumanDuration,
    /// Messages queued for one connection before it is dropped as too slow.
    pub send_buffer: u32,
    /// Bytes queued for one connection before it is dropped as too slow.
    pub send_buffer_bytes: ByteSize,
    /// Largest snapshot one watch may send; a watch whose result grows past it fails.
    pub max_snapshot_bytes: ByteSize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            max_watches_per_connection: 20,
            max_docs_per_watch: 5000,
            max_connections_per_user: 10,
            max_connections_per_ip: 1000,
            idle_timeout: d("90s"),
            send_buffer: 256,
            send_buffer_bytes: sz("16MiB"),
            max_snapshot_bytes: sz("8MiB"),
        }
    }
}

/// `[console]`: the admin console at `/_/` (docs/console.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serves the console at `/_/` (its pages) and `/_/api/` (its JSON API).
    pub enabled: bool,
    /// Networks the console answers; empty = any address. Other clients get 404.
    pub allow_from: Vec<ipnet::IpNet>,
    /// Longest life of a console session (sign in again after it).
    pub session_ttl: HumanDuration,
    /// A session unused this long ends.
    pub idle_timeout: HumanDuration,
    /// Failed sign-ins in a row that lock an admin out.
    pub max_failed_logins: u32,
    /// How long a locked-out admin must wait.
    pub lockout: HumanDuration,
    /// Recent requests kept in memory for the Logs page; 0 = none kept.
    pub recent_requests: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            allow_from: Vec::new(),
            session_ttl: d("12h"),
            idle_timeout: d("1h"),
            max_failed_logins: 5,
            lockout: d("15m"),
            recent_requests: 2000,
        }
    }
}

impl Config {
    /// The SQLite (or later PostgreSQL) URL, with the default under `data_dir` filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("data.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }
    /// The storage URL, with the default under `data_dir` filled in.
    pub fn storage_url(&self) -> String {
        if self.storage.url.is_empty() {
            format!("file://{}", self.server.data_dir.join("storage").display())
        } else {
            self.storage.url.clone()
        }
    }
    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.auth.access_ttl.get()
    }
}
