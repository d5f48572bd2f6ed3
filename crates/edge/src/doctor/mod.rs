//! `minibase doctor <https-url>`: checks a mini program's request legal domain
//! (request合法域名) the way WeChat and phones will, before you submit it in the console.
//!
//! Each [`Check`] is pass / warn / fail with the fix in one line; the report fails when any
//! check fails. Checks, in order: the URL (https, a domain and not an IP, port 443), DNS, TCP
//! reachability, TLS 1.2 (required by WeChat) and TLS 1.3, TLS 1.0/1.1 still enabled, the chain
//! (complete and from a trusted CA — phones do not fetch missing intermediates), the name in
//! the SAN, expiry, HTTP → HTTPS redirect on port 80, HSTS, a JSON request answered with JSON,
//! and a WebSocket upgrade at `/api/realtime`.
//!
//! `--resolve <ip>` checks a server before DNS points at it; `--ca-file` trusts an extra root
//! (private CAs, tests).

mod probe;

use crate::tls::x509::{CertFacts, format_time, now_unix};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to check and how.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The https URL of the request legal domain (a path is used for the JSON check).
    pub url: String,
    /// An extra trusted root certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// The plain HTTP port expected to redirect to HTTPS.
    pub http_port: u16,
    /// Connect to this address instead of resolving the host.
    pub resolve: Option<IpAddr>,
    /// Timeout of each network step.
    pub timeout: Duration,
}

impl DoctorOptions {
    /// Defaults for `url`: port 80 for the redirect, 5 s per step.
    pub fn new(url: impl Into<String>) -> DoctorOptions {
        DoctorOptions {
            url: url.into(),
            ca_file: None,
            http_port: 80,
            resolve: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth fixing.
    Warn,
    /// WeChat or phones will refuse this.
    Fail,
    /// Not checked, because an earlier check failed.
    Skip,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable id: `url`, `dns`, `tcp`, `tls12`, `tls13`, `legacy_tls`, `chain`, `name`,
    /// `expiry`, `redirect`, `hsts`, `json`, `websocket`.
    pub id: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// How to fix it (for warn and fail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every check of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL checked.
    pub url: String,
    /// Whether nothing failed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Human-readable report, one line per check and its fix.
    pub fn render(&self) -> String {
        let mut out = format!("minibase doctor {}\n\n", self.url);
        for c in &self.checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            out.push_str(&format!("  {tag}  {:<10} {}\n", c.id, c.message));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("        {:<10} fix: {fix}\n", ""));
            }
        }
        let fails = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        let warns = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Warn)
            .count();
        out.push('\n');
        if fails == 0 {
            out.push_str(&format!(
                "OK: ready to be a request legal domain (request合法域名){}.\n",
                if warns > 0 {
                    format!(", with {warns} warning(s)")
                } else {
                    String::new()
                }
            ));
        } else {
            out.push_str(&format!(
                "{fails} check(s) failed{}: WeChat or phones will refuse this domain until they are fixed.\n",
                if warns > 0 { format!(", {warns} warning(s)") } else { String::new() }
            ));
        }
        out
    }
}

struct Run {
    checks: Vec<Check>,
}

impl Run {
    fn add(
        &mut self,
        id: &'static str,
        status: Status,
        message: impl Into<String>,
        fix: Option<&str>,
    ) {
        self.checks.push(Check {
            id,
            status,
            message: message.into(),
            fix: fix.map(str::to_string),
        });
    }
    fn pass(&mut self, id: &'static str, message: impl Into<String>) {
        self.add(id, Status::Pass, message, None);
    }
    fn warn(&mut self, id: &'static str, message: impl Into<String>, fix: &str) {
        self.add(id, Status::Warn, message, Some(fix));
    }
    fn fail(&mut self, id: &'static str, message: impl Into<String>, fix: &str) {
        self.add(id, Status::Fail, message, Some(fix));
    }
    fn skip(&mut self, ids: &[&'static str], why: &str) {
        for id in ids {
            self.add(id, Status::Skip, why, None);
        }
    }
    fn finish(self, url: &str) -> Report {
        let ok = !self.checks.iter().any(|c| c.status == Status::Fail);
        Report {
            url: url.to_string(),
            ok,
            checks: self.checks,
        }
    }
}

const AFTER_TCP: &[&str] = &[
    "tls12",
    "tls13",
    "legacy_tls",
    "chain",
    "name",
    "expiry",
    "redirect",
    "hsts",
    "json",
    "websocket",
];

/// Runs every check.
pub async fn run(opts: &DoctorOptions) -> Report {
    let mut r = Run { checks: Vec::new() };
    let Some((host, port, path)) = check_url(&mut r, &opts.url) else {
        return r.finish(&opts.url);
    };

    // DNS
    let addrs: Vec<SocketAddr> = if let Some(ip) = opts.resolve {
        r.pass(
            "dns",
            format!("not resolved: connecting to {ip} as asked (--resolve)"),
        );
        vec![SocketAddr::new(ip, port)]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(opts.timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
        {
            Ok(Ok(a)) => {
                let a: Vec<SocketAddr> = a.collect();
                if a.is_empty() {
                    r.fail("dns", format!("{host} has no address"), "add an A record for the domain pointing at the server's public IP in your DNS console (DNSPod / Alibaba Cloud DNS)");
                } else {
                    let list: Vec<String> = a.iter().map(|s| s.ip().to_string()).collect();
                    r.pass("dns", format!("{host} → {}", list.join(", ")));
                }
                a
            }
            _ => {
                r.fail("dns", format!("{host} does not resolve"), "add an A record for the domain pointing at the server's public IP in your DNS console (DNSPod / Alibaba Cloud DNS)");
                Vec::new()
            }
        }
    };
    if addrs.is_empty() {
        r.skip(&["tcp"], "no address");
        r.skip(AFTER_TCP, "no address");
        return r.finish(&opts.url);
    }

    // TCP
    let mut addr = None;
    let mut last_err = String::new();
    for a in &addrs {
        match tokio::time::timeout(opts.timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(_)) => {
                addr = Some(*a);
                break;
            }
            Ok(Err(e)) => last_err = e.to_string(),
            Err(_) => last_err = "timed out".into(),
        }
    }
    let Some(addr) = addr else {
        r.fail(
            "tcp",
            format!("port {port} is not reachable on {} ({last_err})", addrs[0].ip()),
            "open TCP 443 in the cloud security group (安全组) and the server firewall, and make sure Minibase (server.https_addr) or your proxy listens on it",
        );
        r.skip(AFTER_TCP, "port not reachable");
        return r.finish(&opts.url);
    };
    r.pass("tcp", format!("port {port} reachable on {}", addr.ip()));

    // TLS versions
    let t = opts.timeout;
    let tls12 = probe::handshake(
        addr,
        &host,
        probe::probe_config(Some(&rustls::version::TLS12), &[b"http/1.1"]),
        t,
    )
    .await;
    let tls13 = probe::handshake(
        addr,
        &host,
        probe::probe_config(Some(&rustls::version::TLS13), &[b"h2", b"http/1.1"]),
        t,
    )
    .await;
    let plain_http = |e: &String| e.contains("InvalidContentType") || e.contains("corrupt message");
    match (&tls12, &tls13) {
        (Ok(_), _) => r.pass("tls12", "TLS 1.2 supported"),
        (Err(e), Err(_)) if plain_http(e) => r.fail(
            "tls12",
            format!("port {port} speaks plain HTTP, not TLS"),
            "serve HTTPS on this port: Minibase `tls.mode` = \"acme\" or \"files\" with `server.https_addr`; nginx `listen 443 ssl;`",
        ),
        (Err(e), _) => r.fail(
            "tls12",
            format!("TLS 1.2 handshake failed: {e}"),
            "WeChat requires TLS 1.2: Minibase `tls.min_version = \"1.2\"`; nginx `ssl_protocols TLSv1.2 TLSv1.3;`",
        ),
    }
    match (&tls13, &tls12) {
        (Ok((h, _)), _) => r.pass(
            "tls13",
            format!(
                "TLS 1.3 supported{}",
                if h.alpn.as_deref() == Some(b"h2") {
                    ", HTTP/2 offered"
                } else {
                    ""
                }
            ),
        ),
        (Err(_), Ok(_)) => r.pass(
            "tls13",
            "TLS 1.3 not supported (optional; newer phones use it when offered)",
        ),
        (Err(e), Err(_)) => r.fail("tls13", format!("no TLS 1.3 either: {e}"), "see tls12"),
    }
    let mut legacy = Vec::new();
    for (v, name) in [(0x0301u16, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        if probe::legacy_version_accepted(addr, &host, v, t).await {
            legacy.push(name);
        }
    }
    if legacy.is_empty() {
        r.pass("legacy_tls", "TLS 1.0 and 1.1 disabled");
    } else {
        r.warn(
            "legacy_tls",
            format!("{} still enabled", legacy.join(" and ")),
            "disable old protocols: nginx `ssl_protocols TLSv1.2 TLSv1.3;` (Minibase never offers them)",
        );
    }

    // Certificate checks, from whichever handshake worked (TLS 1.2 first: what WeChat needs).
    let chain = match (&tls12, &tls13) {
        (Ok((h, _)), _) | (Err(_), Ok((h, _))) => Some(h.chain.clone()),
        _ => None,
    };
    let Some(chain) = chain.filter(|c| !c.is_empty()) else {
        r.skip(&["chain", "name", "expiry"], "no TLS handshake succeeded");
        check_redirect(&mut r, opts, &host, addr.ip()).await;
        r.skip(&["hsts", "json", "websocket"], "no TLS handshake succeeded");
        return r.finish(&opts.url);
    };
    check_certificates(&mut r, opts, &host, &chain);

    check_redirect(&mut r, opts, &host, addr.ip()).await;
    check_http(&mut r, opts, &host, addr, &path).await;
    check_websocket(&mut r, opts, &host, addr).await;
    r.finish(&opts.url)
}

/// Parses the URL; returns (host, port, path).
fn check_url(r: &mut Run, url: &str) -> Option<(String, u16, String)> {
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(_) => {
            r.fail(
                "url",
                format!("{url:?} is not a URL"),
                "write it as https://api.example.com",
            );
            return None;
        }
    };
    let Some(host) = uri.host().map(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }) else {
        r.fail(
            "url",
            format!("{url:?} has no host"),
            "write it as https://api.example.com",
        );
        return None;
    };
    let mut problems = Vec::new();
    let mut status = Status::Pass;
    let mut fix = None;
    if uri.scheme_str() != Some("https") {
        status = Status::Fail;
        problems.push("not https".to_string());
        fix = Some("request legal domains must be https://; checking https on the same host");
    }
    if host.parse::<IpAddr>().is_ok() || host == "localhost" {
        status = Status::Fail;
        problems.push(format!("{host} is not a public domain name"));
        fix = Some(
            "WeChat accepts only domain names with an ICP filing (备案), never IP addresses or localhost: point a domain at the server",
        );
    }
    let port = uri.port_u16().unwrap_or(443);
    if port != 443 {
        if status == Status::Pass {
            status = Status::Warn;
            fix = Some(
                "serve on 443 (server.https_addr = \"0.0.0.0:443\"); a domain with a port must be entered with that port in the console and every request must use it",
            );
        }
        problems.push(format!("port {port} instead of 443"));
    }
    let path = match uri.path() {
        "" | "/" => "/api/health".to_string(),
        p => uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| p.to_string()),
    };
    let message = if problems.is_empty() {
        format!("https://{host} on port 443")
    } else {
        problems.join("; ")
    };
    r.add("url", status, message, fix);
    Some((host, port, path))
}

fn roots(opts: &DoctorOptions) -> (rustls::RootCertStore, Option<String>) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut problem = None;
    if let Some(f) = &opts.ca_file {
        match CertificateDer::pem_file_iter(f) {
            Ok(iter) => {
                for c in iter.flatten() {
                    if roots.add(c).is_err() {
                        problem = Some(format!(
                            "{}: a certificate could not be used as a root",
                            f.display()
                        ));
                    }
                }
            }
            Err(e) => problem = Some(format!("{}: {e}", f.display())),
        }
    }
    (roots, problem)
}

fn check_certificates(
    r: &mut Run,
    opts: &DoctorOptions,
    host: &str,
    chain: &[CertificateDer<'static>],
) {
    let leaf = match CertFacts::parse(&chain[0]) {
        Ok(f) => f,
        Err(e) => {
            r.fail(
                "chain",
                format!("the server's certificate cannot be parsed: {e}"),
                "install a valid certificate",
            );
            r.skip(&["name", "expiry"], "unparsable certificate");
            return;
        }
    };
    let now = now_unix();

    // Trust, judged at a moment the leaf is valid and for a name it has, so that expiry and
    // name mismatches are reported by their own checks.
    let (roots, ca_problem) = roots(opts);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build();
    let at = now.clamp(
        leaf.not_before + 1,
        (leaf.not_after - 1).max(leaf.not_before + 1),
    );
    let name_for_chain = leaf
        .dns_names
        .iter()
        .find(|n| !n.starts_with("*."))
        .cloned()
        .or_else(|| {
            leaf.dns_names
                .first()
                .map(|w| format!("x{}", w.trim_start_matches('*')))
        });
    let chain_result = match (
        verifier,
        name_for_chain.and_then(|n| ServerName::try_from(n).ok()),
    ) {
        (Ok(v), Some(name)) => {
            use rustls::client::danger::ServerCertVerifier;
            v.verify_server_cert(
                &chain[0],
                &chain[1..],
                &name,
                &[],
                UnixTime::since_unix_epoch(Duration::from_secs(at.max(0) as u64)),
            )
            .map(|_| ())
        }
        (Err(e), _) => Err(rustls::Error::General(format!(
            "cannot build the verifier: {e}"
        ))),
        (_, None) => Err(rustls::Error::General(
            "the certificate has no DNS name".into(),
        )),
    };
    let self_signed = chain.len() == 1 && leaf.self_issued();
    match chain_result {
        Ok(()) => r.pass(
            "chain",
            format!(
                "trusted chain of {} certificate(s), issued by {}",
                chain.len(),
                leaf.issuer_cn
            ),
        ),
        Err(e) => {
            let (message, fix) = if self_signed {
                (
                    format!("self-signed certificate ({})", leaf.subject_cn),
                    "WeChat only accepts certificates from a trusted CA: use tls.mode = \"acme\" (free, automatic) or a certificate from the Tencent Cloud / Aliyun SSL console",
                )
            } else if chain.len() == 1 {
                (
                    format!(
                        "incomplete chain: the server sends only its own certificate, not the intermediate of {}",
                        leaf.issuer_cn
                    ),
                    "serve the full chain: the `*_bundle.crt` (nginx download) or leaf + intermediate in tls.cert_file / tls.chain_file; nginx `ssl_certificate` must point at the bundle",
                )
            } else {
                (
                    format!(
                        "the chain is not trusted ({}): issued by {}",
                        short_error(&e),
                        leaf.issuer_cn
                    ),
                    "use a certificate from a publicly trusted CA and serve its intermediates (the `*_bundle.crt`); a missing or wrong intermediate also shows up like this",
                )
            };
            r.fail("chain", message, fix);
        }
    }
    if let Some(p) = ca_problem {
        r.warn(
            "chain",
            format!("--ca-file not fully used: {p}"),
            "pass a PEM file with the root certificate",
        );
    }

    // Name
    if leaf.covers(host) {
        r.pass(
            "name",
            format!(
                "{host} is in the certificate ({})",
                leaf.dns_names.join(", ")
            ),
        );
    } else {
        r.fail(
            "name",
            format!("the certificate is for {}, not {host}", if leaf.dns_names.is_empty() { leaf.subject_cn.clone() } else { leaf.dns_names.join(", ") }),
            "get a certificate that covers this domain (server.domains with tls.mode = \"acme\", or the right certificate from your console)",
        );
    }

    // Expiry
    let days = (leaf.not_after - now) / 86400;
    if leaf.not_after < now {
        r.fail(
            "expiry",
            format!("the certificate expired on {}", format_time(leaf.not_after)),
            "renew it (Minibase tls.mode = \"acme\" renews automatically; otherwise download the renewed certificate and reload)",
        );
    } else if leaf.not_before > now {
        r.fail(
            "expiry",
            format!(
                "the certificate is not valid until {}",
                format_time(leaf.not_before)
            ),
            "check the server's clock (timedatectl) or wait",
        );
    } else if days < 30 {
        r.warn(
            "expiry",
            format!("expires in {days} day(s), on {}", format_time(leaf.not_after)),
            "renew soon (tls.mode = \"acme\" renews automatically a third of the lifetime before expiry)",
        );
    } else {
        r.pass(
            "expiry",
            format!("valid until {} ({days} days)", format_time(leaf.not_after)),
        );
    }
}

fn short_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
        other => other.to_string(),
    }
}

async fn check_redirect(r: &mut Run, opts: &DoctorOptions, host: &str, ip: IpAddr) {
    let addr = SocketAddr::new(ip, opts.http_port);
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("port {} not reachable ({e})", opts.http_port))?;
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: minibase-doctor\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 || buf.len() > 16 * 1024 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Ok::<String, String>(String::from_utf8_lossy(&buf).into_owned())
    };
    let fix = "redirect HTTP to HTTPS: Minibase `server.redirect_addr = \"0.0.0.0:80\"`; nginx `server { listen 80; return 301 https://$host$request_uri; }`; and open TCP 80 in the security group";
    match tokio::time::timeout(opts.timeout, work).await {
        Ok(Ok(head)) => {
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let location = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
                        .map(|(_, v)| v.trim().to_string())
                })
                .unwrap_or_default();
            if matches!(status, 301 | 302 | 307 | 308)
                && location
                    .to_ascii_lowercase()
                    .starts_with(&format!("https://{host}"))
            {
                r.pass(
                    "redirect",
                    format!(
                        "HTTP on port {} redirects ({status}) to {location}",
                        opts.http_port
                    ),
                );
            } else if matches!(status, 301 | 302 | 307 | 308) {
                r.fail(
                    "redirect",
                    format!(
                        "HTTP on port {} redirects to {location:?}, not https://{host}",
                        opts.http_port
                    ),
                    fix,
                );
            } else {
                r.fail(
                    "redirect",
                    format!(
                        "HTTP on port {} answers {status} instead of redirecting to HTTPS",
                        opts.http_port
                    ),
                    fix,
                );
            }
        }
        Ok(Err(e)) => r.fail("redirect", format!("no HTTP → HTTPS redirect: {e}"), fix),
        Err(_) => r.fail(
            "redirect",
            format!(
                "no HTTP → HTTPS redirect: port {} timed out",
                opts.http_port
            ),
            fix,
        ),
    }
}

/// One HTTPS/1.1 request over a probe connection; returns (status, lower-case headers, body).
async fn https_get(
    opts: &DoctorOptions,
    host: &str,
    addr: SocketAddr,
    path: &str,
    extra: &str,
) -> Result<(u16, Vec<(String, String)>, String), String> {
    let cfg = probe::probe_config(None, &[b"http/1.1"]);
    let (_, mut tls) = probe::handshake(addr, host, cfg, opts.timeout).await?;
    let host_header = if addr.port() == 443 {
        host.to_string()
    } else {
        format!("{host}:{}", addr.port())
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: minibase-doctor\r\n{extra}Connection: close\r\n\r\n"
    );
    let work = async {
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match tls.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if buf.is_empty() => return Err(e.to_string()),
                Err(_) => break, // a close without close_notify after the answer
            }
            if buf.len() > 64 * 1024 {
                break;
            }
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                && path == "/api/realtime"
                && end > 0
            {
                break;
            }
        }
        Ok::<Vec<u8>, String>(buf)
    };
    let buf = tokio::time::timeout(opts.timeout, work)
        .await
        .map_err(|_| "timed out".to_string())??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    Ok((status, headers, body.to_string()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn check_http(r: &mut Run, opts: &DoctorOptions, host: &str, addr: SocketAddr, path: &str) {
    match https_get(opts, host, addr, path, "Accept: application/json\r\n").await {
        Ok((status, headers, _)) => {
            if header(&headers, "strict-transport-security").is_some() {
                r.pass("hsts", "Strict-Transport-Security is set");
            } else {
                r.warn(
                    "hsts",
                    "no Strict-Transport-Security header",
                    "send HSTS (Minibase does with tls.mode = \"acme\" or \"files\"; nginx `add_header Strict-Transport-Security \"max-age=31536000\" always;`)",
                );
            }
            let ct = header(&headers, "content-type")
                .unwrap_or("")
                .to_ascii_lowercase();
            if ct.contains("json") {
                r.pass("json", format!("GET {path} answered {status} with JSON"));
            } else {
                r.warn(
                    "json",
                    format!("GET {path} answered {status} with {:?}, not JSON", if ct.is_empty() { "no content type" } else { ct.as_str() }),
                    "make sure the domain reaches the API (not a web page, a CDN or a default site): wx.request expects JSON",
                );
            }
        }
        Err(e) => {
            r.fail(
                "hsts",
                format!("HTTPS request failed: {e}"),
                "check that the server answers HTTP over TLS",
            );
            r.skip(&["json"], "HTTPS request failed");
        }
    }
}

async fn check_websocket(r: &mut Run, opts: &DoctorOptions, host: &str, addr: SocketAddr) {
    let extra = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let fix = "wx.connectSocket needs the WebSocket upgrade at /api/realtime; behind nginx add `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`";
    match https_get(opts, host, addr, "/api/realtime", extra).await {
        Ok((101, headers, _)) => {
            if header(&headers, "sec-websocket-accept") == Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
                r.pass("websocket", "WebSocket upgrade at /api/realtime works");
            } else {
                r.warn(
                    "websocket",
                    "101 at /api/realtime but a wrong Sec-WebSocket-Accept",
                    fix,
                );
            }
        }
        Ok((401, _, _)) => r.pass(
            "websocket",
            "/api/realtime answers the WebSocket upgrade (401 without a token, as expected)",
        ),
        Ok((404, _, _)) => r.warn(
            "websocket",
            "no WebSocket endpoint at /api/realtime (404)",
            fix,
        ),
        Ok((status, _, _)) => r.warn(
            "websocket",
            format!("the WebSocket upgrade at /api/realtime answered {status}"),
            fix,
        ),
        Err(e) => r.warn(
            "websocket",
            format!("the WebSocket upgrade at /api/realtime failed: {e}"),
            fix,
        ),
    }
}
