//! The HTTP client behind `fetch()` and `cloud.fetch()` inside functions, with the SSRF guard.
//!
//! A function may call the public internet, but never this machine or its private network:
//! loopback, private (RFC 1918), shared (100.64/10, where some clouds put metadata), link-local
//! (169.254/16, metadata services), unique-local IPv6 and other non-global addresses are
//! refused unless `functions.http_allow` lists them (a CIDR, an IP, or a host name such as
//! `internal.example.com` or `*.corp.example`). The check is made on the *resolved* addresses,
//! inside the connector's DNS resolver, so a public name pointing at 127.0.0.1 is refused too
//! (no DNS rebinding between check and connect), and again on every redirect.
//!
//! Every request has a timeout (the invocation's remaining time, at most 30 s), at most 5
//! redirects, and bodies of at most 10 MiB each way.

use crate::host::{HostError, bytes_value, value_bytes};
use ipnet::IpNet;
use mb_core::ErrorCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Largest request or response body.
pub const MAX_BODY: usize = 10 << 20;
/// Longest a single request may take.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;

/// Which addresses are allowed beyond the public internet (`functions.http_allow`).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl AddressPolicy {
    /// Parses `functions.http_allow`: CIDRs, IPs, host names, `*.suffix` wildcards.
    pub fn new(allow: &[String]) -> Result<Self, String> {
        let mut p = AddressPolicy::default();
        for entry in allow {
            let e = entry.trim();
            if e.is_empty() {
                continue;
            }
            if let Ok(net) = e.parse::<IpNet>() {
                p.nets.push(net);
            } else if let Ok(ip) = e.parse::<IpAddr>() {
                p.nets.push(IpNet::from(ip));
            } else if e
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
                && (!e.contains('*') || (e.starts_with("*.") && !e[2..].contains('*')))
            {
                p.hosts.push(e.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "functions.http_allow: '{e}' is not a CIDR, an IP or a host name"
                ));
            }
        }
        Ok(p)
    }

    fn host_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => *h == host,
        })
    }

    /// Whether connecting to `ip` is allowed.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        is_global(ip) || self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Whether `ip` is an ordinary public address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address: judge that one.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return is_global_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ));
            }
            if s[0] == 0x2002 {
                return is_global_v4(Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                ));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
                && v6 != Ipv6Addr::UNSPECIFIED
        }
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240) // reserved
}

/// The refusal, recognisable in reqwest's error chain.
#[derive(Debug)]
struct Blocked(String);
impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Blocked {}

fn blocked_message(what: &str) -> String {
    format!(
        "fetch to {what} is refused: private, loopback and link-local addresses are blocked \
         (list them in functions.http_allow to allow them)"
    )
}

/// The DNS step of every connection: resolve, then keep only allowed addresses.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let listed = policy.host_listed(&host);
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| listed || policy.ip_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                let what = addrs
                    .first()
                    .map(|a| format!("{host} ({})", a.ip()))
                    .unwrap_or(host);
                return Err(Box::new(Blocked(blocked_message(&what)))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// One request from a function.
#[derive(Debug)]
pub struct FetchRequest {
    url: reqwest::Url,
    method: reqwest::Method,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    follow: bool,
    timeout: Duration,
}

impl FetchRequest {
    /// From the `fetch` host call's arguments; `remaining` is the invocation's time left.
    pub fn from_args(args: &Value, remaining: Duration) -> Result<Self, HostError> {
        let url_s = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| HostError::invalid("fetch: url must be a string"))?;
        let url = reqwest::Url::parse(url_s)
            .map_err(|e| HostError::invalid(format!("fetch: invalid URL '{url_s}': {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(HostError::invalid(format!(
                "fetch: only http and https URLs are supported, not '{}'",
                url.scheme()
            )));
        }
        let m = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = reqwest::Method::from_bytes(m.as_bytes())
            .map_err(|_| HostError::invalid(format!("fetch: invalid method '{m}'")))?;
        let mut headers = Vec::new();
        if let Some(list) = args.get("headers").and_then(Value::as_array) {
            for pair in list {
                match (
                    pair.get(0).and_then(Value::as_str),
                    pair.get(1).and_then(Value::as_str),
                ) {
                    (Some(k), Some(v)) => headers.push((k.to_owned(), v.to_owned())),
                    _ => {
                        return Err(HostError::invalid(
                            "fetch: headers must be name/value strings",
                        ));
                    }
                }
            }
        }
        let body = match args.get("body") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                value_bytes(v)
                    .ok_or_else(|| HostError::invalid("fetch: body must be a string or bytes"))?,
            ),
        };
        if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
            return Err(HostError::new(
                ErrorCode::PayloadTooLarge,
                "fetch: request body over 10 MiB",
            ));
        }
        let follow = args.get("redirect").and_then(Value::as_str) != Some("manual");
        let mut timeout = remaining.min(MAX_TIMEOUT);
        if let Some(ms) = args.get("timeout").and_then(Value::as_f64) {
            if ms > 0.0 {
                timeout = timeout.min(Duration::from_secs_f64(ms / 1000.0));
            }
        }
        Ok(FetchRequest {
            url,
            method,
            headers,
            body,
            follow,
            timeout: timeout.max(Duration::from_millis(1)),
        })
    }
}

/// The SSRF-safe client shared by all functions.
#[derive(Clone)]
pub struct FetchClient {
    follow: reqwest::Client,
    manual: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl FetchClient {
    /// A client enforcing `policy`.
    pub fn new(policy: AddressPolicy) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let build = |redirect: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver {
                    policy: policy.clone(),
                }))
                .no_proxy()
                .redirect(redirect)
                .user_agent(concat!("minibase-functions/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .pool_idle_timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))
        };
        let p = policy.clone();
        let follow = build(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(Blocked(format!(
                    "fetch: more than {MAX_REDIRECTS} redirects"
                )));
            }
            match literal_ip(attempt.url()) {
                Some(ip) if !p.ip_allowed(ip) => {
                    attempt.error(Blocked(blocked_message(&ip.to_string())))
                }
                _ if !matches!(attempt.url().scheme(), "http" | "https") => {
                    attempt.error(Blocked("fetch: redirect to a non-http URL".into()))
                }
                _ => attempt.follow(),
            }
        }))?;
        let manual = build(reqwest::redirect::Policy::none())?;
        Ok(FetchClient {
            follow,
            manual,
            policy,
        })
    }

    /// Performs one request: `{status, statusText, url, redirected, headers: [[k, v]…], body}`.
    pub async fn fetch(&self, req: FetchRequest) -> Result<Value, HostError> {
        if let Some(ip) = literal_ip(&req.url) {
            if !self.policy.ip_allowed(ip) {
                return Err(HostError::new(
                    ErrorCode::PermissionDenied,
                    blocked_message(&ip.to_string()),
                ));
            }
        }
        let client = if req.follow {
            &self.follow
        } else {
            &self.manual
        };
        let mut b = client
            .request(req.method, req.url.clone())
            .timeout(req.timeout);
        for (k, v) in &req.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| HostError::invalid(format!("fetch: invalid header name '{k}'")))?;
            let value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                HostError::invalid(format!("fetch: invalid value for header '{k}'"))
            })?;
            b = b.header(name, value);
        }
        if let Some(body) = req.body {
            b = b.body(body);
        }
        let mut res = b.send().await.map_err(map_error)?;
        let status = res.status();
        let final_url = res.url().to_string();
        let headers: Vec<Value> = res
            .headers()
            .iter()
            .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(map_error)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HostError::new(
                    ErrorCode::PayloadTooLarge,
                    "fetch: response body over 10 MiB",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(json!({
            "status": status.as_u16(),
            "statusText": status.canonical_reason().unwrap_or(""),
            "url": final_url,
            "redirected": final_url != req.url.as_str(),
            "headers": headers,
            "body": bytes_value(&body),
        }))
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn map_error(e: reqwest::Error) -> HostError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return HostError::new(ErrorCode::PermissionDenied, b.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return HostError::new(ErrorCode::DeadlineExceeded, "fetch: the request timed out");
    }
    let url = e
        .url()
        .map(|u| format!(" {}", u.host_str().unwrap_or("")))
        .unwrap_or_default();
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    HostError::new(
        ErrorCode::UpstreamError,
        format!(
            "fetch{url}: {what}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_addresses() {
        for ok in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "101.32.1.1"] {
            assert!(is_global(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "224.0.0.1",
            "::127.0.0.1",
        ] {
            assert!(!is_global(bad.parse().unwrap()), "{bad}");
        }
    }

    #[test]
    fn allow_list() {
        let p = AddressPolicy::new(&[
            "127.0.0.1".into(),
            "10.0.0.0/8".into(),
            "*.corp.example".into(),
            "db.local".into(),
        ])
        .unwrap();
        assert!(p.ip_allowed("127.0.0.1".parse().unwrap()));
        assert!(!p.ip_allowed("127.0.0.2".parse().unwrap()));
        assert!(p.ip_allowed("10.9.9.9".parse().unwrap()));
        assert!(p.host_listed("a.corp.example"));
        assert!(!p.host_listed("corp.example"));
        assert!(p.host_listed("DB.local."));
        assert!(AddressPolicy::new(&["http://x".into()]).is_err());
        assert!(AddressPolicy::new(&["a*b".into()]).is_err());
    }
}
