//! `minibase doctor` checks against our own edge in each TLS mode and against real nginx
//! configured wrongly (chain without the intermediate, expired certificate, wrong name, TLS
//! 1.3 only, no redirect, TLS 1.0 still on): each problem caught by the right check with the
//! right fix, and a correct setup passing.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use minibase_edge::doctor::{DoctorOptions, Report, Status, run};
use std::path::Path;
use testkit::nginx::Nginx;
use testkit::pebble::free_port;
use time::OffsetDateTime;

const HOST: &str = "api.doctor.test";

fn opts(port: u16, http_port: u16, ca: Option<&Path>) -> DoctorOptions {
    let mut o = DoctorOptions::new(format!("https://{HOST}:{port}/api/health"));
    o.resolve = Some("127.0.0.1".parse().unwrap());
    o.http_port = http_port;
    o.ca_file = ca.map(Path::to_path_buf);
    o.timeout = std::time::Duration::from_secs(3);
    o
}

fn status(r: &Report, id: &str) -> Status {
    r.check(id)
        .unwrap_or_else(|| panic!("no check {id}: {}", r.render()))
        .status
}

fn assert_fails(r: &Report, id: &str, fix_words: &[&str]) {
    let c = r.check(id).unwrap();
    assert_eq!(c.status, Status::Fail, "{id} should fail:\n{}", r.render());
    let fix = c.fix.as_deref().unwrap_or("");
    for w in fix_words {
        assert!(
            fix.contains(w),
            "the fix for {id} should mention {w:?}: {fix}"
        );
    }
    assert!(!r.ok);
}

/// Everything that does not depend on port 443 passes (the test port is never 443).
fn assert_healthy(r: &Report) {
    for c in &r.checks {
        match c.id {
            "url" => assert_eq!(c.status, Status::Warn, "{}", r.render()), // a test port, not 443
            "websocket" | "hsts" | "json" => {}
            _ => assert_eq!(c.status, Status::Pass, "{}:\n{}", c.id, r.render()),
        }
    }
    assert!(r.ok, "{}", r.render());
}

#[tokio::test]
async fn our_edge_in_files_mode_passes_and_shows_hsts_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Rsa).write(dir.path(), "api");
    let c = tls_config(|c| {
        c.tls.cert_file = files.bundle.clone();
        c.tls.key_file = files.key.clone();
        c.server.redirect_addr = "127.0.0.1:0".into();
        c.server.domains = vec![HOST.into()];
    });
    let srv = Running::start(&c).await;
    let r = run(&opts(
        srv.port(),
        srv.redirect.unwrap().port(),
        Some(&pki.root_pem),
    ))
    .await;
    assert_healthy(&r);
    assert_eq!(status(&r, "hsts"), Status::Pass);
    assert_eq!(status(&r, "json"), Status::Pass);
    assert!(
        r.check("tls13").unwrap().message.contains("HTTP/2"),
        "{}",
        r.render()
    );
    // the JSON form of the report
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ok"], true);
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "chain" && c["status"] == "pass")
    );

    // without the private root: untrusted
    let r = run(&opts(srv.port(), srv.redirect.unwrap().port(), None)).await;
    assert_fails(&r, "chain", &["trusted CA"]);
    srv.stop().await;
}

#[tokio::test]
async fn our_edge_in_self_signed_and_off_modes() {
    let data = tempfile::tempdir().unwrap();
    let c = tls_config(|c| {
        c.tls.mode = config::TlsMode::SelfSigned;
        c.server.data_dir = data.path().to_path_buf();
        c.server.domains = vec![HOST.into()];
        c.server.redirect_addr = "127.0.0.1:0".into();
    });
    let srv = Running::start(&c).await;
    let ca = srv.dev_ca.clone().unwrap();
    let r = run(&opts(srv.port(), srv.redirect.unwrap().port(), Some(&ca))).await;
    assert_healthy(&r);
    assert_eq!(
        status(&r, "hsts"),
        Status::Warn,
        "no HSTS for development certificates"
    );
    srv.stop().await;

    // tls.mode = "off": the plain listener speaks no TLS at all
    let mut c = config::Config::default();
    c.server.http_addr = "127.0.0.1:0".into();
    let stats = std::sync::Arc::new(minibase_edge::EdgeStats::default());
    let edge = minibase_edge::Edge::bind(&c, stats).await.unwrap();
    let port = edge.http_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(edge.serve(app(), async move {
        let _ = rx.await;
    }));
    let r = run(&opts(port, free_port(), None)).await;
    assert_fails(&r, "tls12", &["serve HTTPS"]);
    assert!(
        r.check("tls12").unwrap().message.contains("plain HTTP"),
        "{}",
        r.render()
    );
    assert_fails(&r, "redirect", &["server.redirect_addr"]);
    assert_eq!(status(&r, "chain"), Status::Skip);
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn ip_hosts_and_localhost_fail_the_url_check() {
    for url in [
        "https://127.0.0.1/",
        "https://localhost/",
        "http://api.example.com/",
    ] {
        let mut o = DoctorOptions::new(url);
        o.resolve = Some("127.0.0.1".parse().unwrap());
        o.http_port = free_port();
        o.timeout = std::time::Duration::from_millis(500);
        let r = run(&o).await;
        assert_eq!(status(&r, "url"), Status::Fail, "{url}: {}", r.render());
    }
}

#[tokio::test]
async fn an_expiring_certificate_warns() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let now = OffsetDateTime::now_utc();
    let files = pki
        .leaf_valid(
            &[HOST],
            KeyKind::Ecdsa,
            now - time::Duration::days(80),
            now + time::Duration::days(10),
        )
        .write(dir.path(), "soon");
    let c = tls_config(|c| {
        c.tls.cert_file = files.bundle.clone();
        c.tls.key_file = files.key.clone();
    });
    let srv = Running::start(&c).await;
    let r = run(&opts(srv.port(), free_port(), Some(&pki.root_pem))).await;
    assert_eq!(status(&r, "expiry"), Status::Warn, "{}", r.render());
    assert!(r.check("expiry").unwrap().message.contains("day"));
    srv.stop().await;
}

// ---- nginx configured wrongly -----------------------------------------------------------------

struct NginxCase {
    nginx: Nginx,
    https: u16,
    http: u16,
}

/// nginx serving `cert_file`/`key_file` with `tls_lines`, and a port-80-style server that
/// redirects (or not).
async fn nginx(cert_file: &Path, key_file: &Path, tls_lines: &str, redirect: bool) -> NginxCase {
    let https = free_port();
    let http = free_port();
    let port80 = if redirect {
        format!(
            "server {{ listen 127.0.0.1:{http}; return 301 https://$host:{https}$request_uri; }}"
        )
    } else {
        format!(
            "server {{ listen 127.0.0.1:{http}; default_type text/plain; return 200 'welcome'; }}"
        )
    };
    let servers = format!(
        "server {{\n  listen 127.0.0.1:{https} ssl http2;\n  server_name {HOST};\n  ssl_certificate {};\n  ssl_certificate_key {};\n  {tls_lines}\n  \
         default_type application/json;\n  add_header Strict-Transport-Security \"max-age=31536000\" always;\n  location / {{ return 200 '{{\"status\":\"ok\"}}'; }}\n}}\n{port80}\n",
        cert_file.display(),
        key_file.display()
    );
    let nginx = Nginx::start(&servers, &[https, http]).await;
    NginxCase { nginx, https, http }
}

#[tokio::test]
async fn nginx_configured_right_passes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Rsa).write(dir.path(), "ok");
    let n = nginx(
        &files.bundle,
        &files.key,
        "ssl_protocols TLSv1.2 TLSv1.3;",
        true,
    )
    .await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_healthy(&r);
    assert_eq!(status(&r, "hsts"), Status::Pass);
    drop(n.nginx);
}

#[tokio::test]
async fn nginx_without_the_intermediate_fails_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&[HOST], KeyKind::Rsa)
        .write(dir.path(), "leafonly");
    let n = nginx(&files.cert, &files.key, "", true).await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_fails(&r, "chain", &["bundle"]);
    assert!(
        r.check("chain")
            .unwrap()
            .message
            .contains("incomplete chain"),
        "{}",
        r.render()
    );
    assert_eq!(status(&r, "name"), Status::Pass);
}

#[tokio::test]
async fn nginx_with_an_expired_certificate_fails_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let now = OffsetDateTime::now_utc();
    let files = pki
        .leaf_valid(
            &[HOST],
            KeyKind::Ecdsa,
            now - time::Duration::days(100),
            now - time::Duration::days(3),
        )
        .write(dir.path(), "expired");
    let n = nginx(&files.bundle, &files.key, "", true).await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_fails(&r, "expiry", &["renew"]);
    assert_eq!(
        status(&r, "chain"),
        Status::Pass,
        "the chain itself is fine: {}",
        r.render()
    );
}

#[tokio::test]
async fn nginx_with_the_wrong_name_fails_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&["www.other.test"], KeyKind::Rsa)
        .write(dir.path(), "wrong");
    let n = nginx(&files.bundle, &files.key, "", true).await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_fails(&r, "name", &["covers this domain"]);
    assert!(r.check("name").unwrap().message.contains("www.other.test"));
}

#[tokio::test]
async fn nginx_with_tls13_only_fails_tls12() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Ecdsa).write(dir.path(), "tls13");
    let n = nginx(&files.bundle, &files.key, "ssl_protocols TLSv1.3;", true).await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_fails(&r, "tls12", &["ssl_protocols TLSv1.2 TLSv1.3"]);
    assert_eq!(status(&r, "tls13"), Status::Pass);
    assert_eq!(
        status(&r, "chain"),
        Status::Pass,
        "certificates still checked over TLS 1.3"
    );
}

#[tokio::test]
async fn nginx_without_a_redirect_fails_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&[HOST], KeyKind::Ecdsa)
        .write(dir.path(), "noredirect");
    let n = nginx(&files.bundle, &files.key, "", false).await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_fails(&r, "redirect", &["return 301"]);
    assert!(
        r.check("redirect").unwrap().message.contains("200"),
        "{}",
        r.render()
    );
    // and nothing listening at all on the HTTP port
    let r = run(&opts(n.https, free_port(), Some(&pki.root_pem))).await;
    assert_fails(&r, "redirect", &["security group"]);
}

#[tokio::test]
async fn nginx_with_tls10_still_enabled_warns() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Rsa).write(dir.path(), "legacy");
    let n = nginx(
        &files.bundle,
        &files.key,
        "ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers DEFAULT:@SECLEVEL=0;",
        true,
    )
    .await;
    let r = run(&opts(n.https, n.http, Some(&pki.root_pem))).await;
    assert_eq!(status(&r, "legacy_tls"), Status::Warn, "{}", r.render());
    assert!(
        r.check("legacy_tls").unwrap().message.contains("TLS 1.0"),
        "{}",
        r.render()
    );
    assert!(r.ok, "old protocols only warn");
}
