//! Automatic certificates end to end against Pebble (Let's Encrypt's ACME test server), which
//! validates for real: http-01 against our redirect listener, tls-alpn-01 against our HTTPS
//! listener, dns-01 through a fake DNS provider that publishes the TXT record to
//! pebble-challtestsrv. Then renewal of short-lived certificates while a client keeps its
//! connection, and a restart serving the stored certificate with the CA gone.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::fake_dns::{FakeAlidns, FakeCloudflare, FakeDnspod};
use testkit::pebble::{Pebble, PebbleOptions, free_port};

struct Setup {
    pebble: Pebble,
    https_port: u16,
    redirect_port: u16,
    root: PathBuf,
    _root_dir: tempfile::TempDir,
}

async fn setup(validity: Option<Duration>) -> Setup {
    let https_port = free_port();
    let redirect_port = free_port();
    let pebble = Pebble::start(PebbleOptions {
        http_port: redirect_port,
        tls_port: https_port,
        cert_validity: validity,
    })
    .await;
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path().join("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root_pem().await).unwrap();
    Setup {
        pebble,
        https_port,
        redirect_port,
        root,
        _root_dir: root_dir,
    }
}

fn acme_config(s: &Setup, data: &Path, domains: &[&str], challenge: &str) -> config::Config {
    tls_config(|c| {
        c.tls.mode = config::TlsMode::Acme;
        c.server.data_dir = data.to_path_buf();
        c.server.domains = domains.iter().map(|d| d.to_string()).collect();
        c.server.https_addr = format!("127.0.0.1:{}", s.https_port);
        c.server.redirect_addr = format!("127.0.0.1:{}", s.redirect_port);
        c.tls.acme.directory_url = s.pebble.directory_url.clone();
        c.tls.acme.ca_file = s.pebble.ca_file.clone();
        c.tls.acme.email = "ops@example.test".into();
        c.tls.acme.challenge = challenge.into();
        c.tls.acme.dns_propagation = config::HumanDuration::parse("0").unwrap();
    })
}

/// Waits until a handshake for `name`, verified against Pebble's root, succeeds.
async fn wait_trusted(port: u16, name: &str, root: &Path) -> TlsClient {
    let mut last = String::new();
    for _ in 0..150 {
        match TlsClient::connect(port, name, root).await {
            Ok(c) => return c,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no trusted certificate for {name} after 15 s: {last}");
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn leaf_names(der: &[u8]) -> Vec<String> {
    minibase_edge::tls::x509::CertFacts::parse(der)
        .unwrap()
        .dns_names
}

#[tokio::test]
async fn http01_issuance_then_restart_serves_the_stored_certificate() {
    let s = setup(None).await;
    let data = tempfile::tempdir().unwrap();
    let c = acme_config(
        &s,
        data.path(),
        &["acme-http.example.test", "www.acme-http.example.test"],
        "http-01",
    );
    let srv = Running::start(&c).await;
    // before issuance: a temporary certificate nobody trusts
    assert!(
        TlsClient::connect(srv.port(), "acme-http.example.test", &s.root)
            .await
            .is_err()
    );
    let mut client = wait_trusted(srv.port(), "acme-http.example.test", &s.root).await;
    let leaf = client.leaf();
    let mut names = leaf_names(&leaf);
    names.sort();
    assert_eq!(
        names,
        vec!["acme-http.example.test", "www.acme-http.example.test"]
    );
    assert!(client.get("/info").await.contains("tls=true"));
    let acme_dir = data.path().join("acme");
    #[cfg(unix)]
    {
        assert_eq!(mode(&acme_dir.join("certs/private.key")), 0o600);
        let account = std::fs::read_dir(&acme_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("account-")
            })
            .expect("the account file");
        assert_eq!(mode(&account), 0o600);
    }
    // the redirect listener no longer answers the (used) challenge token, and redirects
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Host: acme-http.example.test",
        ])
        .arg(format!("http://127.0.0.1:{}/x", s.redirect_port))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "301");

    // minibase doctor is happy with the ACME certificate (trusting Pebble's root)
    let mut o = minibase_edge::doctor::DoctorOptions::new(format!(
        "https://acme-http.example.test:{}/api/health",
        srv.port()
    ));
    o.resolve = Some("127.0.0.1".parse().unwrap());
    o.http_port = s.redirect_port;
    o.ca_file = Some(s.root.clone());
    let report = minibase_edge::doctor::run(&o).await;
    assert!(report.ok, "{}", report.render());
    for id in [
        "tls12", "chain", "name", "expiry", "redirect", "hsts", "json",
    ] {
        assert_eq!(
            report.check(id).unwrap().status,
            minibase_edge::doctor::Status::Pass,
            "{id}: {}",
            report.render()
        );
    }
    srv.stop().await;

    // restart with the CA gone: the stored certificate is served at once
    let mut s = s;
    s.pebble.stop();
    let srv = Running::start(&c).await;
    let again = TlsClient::connect(srv.port(), "acme-http.example.test", &s.root)
        .await
        .unwrap();
    assert_eq!(again.leaf(), leaf);
    srv.stop().await;
}

#[tokio::test]
async fn tls_alpn01_issuance_on_the_https_listener() {
    let s = setup(None).await;
    let data = tempfile::tempdir().unwrap();
    let mut c = acme_config(&s, data.path(), &["acme-alpn.example.test"], "tls-alpn-01");
    c.server.redirect_addr = String::new(); // not needed for tls-alpn-01
    let srv = Running::start(&c).await;
    let client = wait_trusted(srv.port(), "acme-alpn.example.test", &s.root).await;
    assert_eq!(leaf_names(&client.leaf()), vec!["acme-alpn.example.test"]);
    // the validation certificate is gone: an acme-tls/1 handshake now finds nothing
    let out = s_client(
        srv.port(),
        "acme-alpn.example.test",
        &["-alpn", "acme-tls/1"],
    )
    .await;
    assert!(
        !out.contains("ALPN protocol: acme-tls/1") || out.contains("alert"),
        "{out}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn dns01_through_dnspod_with_a_wildcard_and_the_txt_record_removed() {
    let s = setup(None).await;
    let fake = FakeDnspod::start(
        "AKIDpebble",
        "pebble-secret",
        &["dns.example.test"],
        Some(s.pebble.challtestsrv.management_url.clone()),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let mut c = acme_config(
        &s,
        data.path(),
        &["dns.example.test", "*.dns.example.test"],
        "dns-01",
    );
    c.server.redirect_addr = String::new();
    c.tls.acme.dns_provider = "dnspod".into();
    c.tls.acme.dns_api_base = fake.url();
    c.tls.acme.dns_key_id = "AKIDpebble".into();
    c.tls.acme.dns_key_secret = config::Secret::new("pebble-secret");
    let srv = Running::start(&c).await;
    let client = wait_trusted(srv.port(), "api.dns.example.test", &s.root).await;
    let mut names = leaf_names(&client.leaf());
    names.sort();
    assert_eq!(names, vec!["*.dns.example.test", "dns.example.test"]);
    let log = fake.log();
    assert_eq!(
        log.created.len(),
        2,
        "one TXT record per authorization: {log:?}"
    );
    assert!(
        log.created
            .iter()
            .all(|r| r.fqdn == "_acme-challenge.dns.example.test")
    );
    assert_eq!(log.deleted.len(), 2);
    assert!(
        log.records.is_empty(),
        "TXT records removed after validation"
    );
    assert_eq!(log.auth_failures, 0);
    srv.stop().await;
}

#[tokio::test]
async fn dns01_through_alidns_and_cloudflare() {
    let s = setup(None).await;
    let ali = FakeAlidns::start(
        "LTAIpebble",
        "ali-secret",
        &["ali.example.test"],
        Some(s.pebble.challtestsrv.management_url.clone()),
    )
    .await;
    let cf = FakeCloudflare::start(
        "cf-pebble",
        &["cf.example.test"],
        Some(s.pebble.challtestsrv.management_url.clone()),
    )
    .await;
    for (provider, domain, base, id, secret) in [
        (
            "alidns",
            "www.ali.example.test",
            ali.url(),
            "LTAIpebble",
            "ali-secret",
        ),
        ("cloudflare", "cf.example.test", cf.url(), "", "cf-pebble"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut c = acme_config(&s, data.path(), &[domain], "dns-01");
        c.server.redirect_addr = String::new();
        c.tls.acme.dns_provider = provider.into();
        c.tls.acme.dns_api_base = base;
        c.tls.acme.dns_key_id = id.into();
        c.tls.acme.dns_key_secret = config::Secret::new(secret);
        let srv = Running::start(&c).await;
        wait_trusted(srv.port(), domain, &s.root).await;
        srv.stop().await;
    }
    assert_eq!(ali.log().created.len(), 1);
    assert!(ali.log().records.is_empty());
    assert_eq!(cf.log().created.len(), 1);
    assert!(cf.log().records.is_empty());
}

#[tokio::test]
async fn short_lived_certificates_renew_while_a_connection_stays_open() {
    let s = setup(Some(Duration::from_secs(9))).await;
    let data = tempfile::tempdir().unwrap();
    let c = acme_config(&s, data.path(), &["renew.example.test"], "http-01");
    let srv = Running::start(&c).await;
    let mut kept = wait_trusted(srv.port(), "renew.example.test", &s.root).await;
    let first = kept.leaf();
    let mut renewed = None;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(c) = TlsClient::connect(srv.port(), "renew.example.test", &s.root).await
            && c.leaf() != first
        {
            renewed = Some(c.leaf());
            break;
        }
    }
    assert!(
        renewed.is_some(),
        "a new certificate was issued before the first expired (renewal at 2/3 of 9 s)"
    );
    assert!(
        kept.get("/info").await.contains("tls=true"),
        "the connection opened before renewal still works"
    );
    assert_eq!(kept.leaf(), first);
    assert!(
        srv.stats
            .cert_reloads_ok
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    srv.stop().await;
}

#[tokio::test]
async fn wildcards_without_dns01_are_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let c = tls_config(|c| {
        c.tls.mode = config::TlsMode::Acme;
        c.server.data_dir = data.path().to_path_buf();
        c.server.domains = vec!["*.example.test".into()];
        c.server.redirect_addr = "127.0.0.1:0".into();
    });
    let err = minibase_edge::Edge::bind(&c, Default::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("dns-01") && err.contains("*.example.test"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_order_is_retried_with_backoff_and_the_previous_certificate_keeps_serving() {
    let s = setup(None).await;
    let cf = FakeCloudflare::start(
        "cf-retry",
        &["retry.example.test"],
        Some(s.pebble.challtestsrv.management_url.clone()),
    )
    .await;
    // The DNS API is down for the first attempt (both tries of the first call).
    cf.fail_next(2);
    let data = tempfile::tempdir().unwrap();
    let mut c = acme_config(&s, data.path(), &["retry.example.test"], "dns-01");
    c.server.redirect_addr = String::new();
    c.tls.acme.dns_provider = "cloudflare".into();
    c.tls.acme.dns_api_base = cf.url();
    c.tls.acme.dns_key_secret = config::Secret::new("cf-retry");
    let srv = Running::start(&c).await;
    // meanwhile the temporary certificate answers handshakes
    assert!(
        TlsClient::connect(srv.port(), "retry.example.test", &s.root)
            .await
            .is_err()
    );
    wait_trusted(srv.port(), "retry.example.test", &s.root).await;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        srv.stats.cert_reloads_failed.load(Relaxed),
        1,
        "one failed attempt before the retry"
    );
    assert_eq!(srv.stats.cert_reloads_ok.load(Relaxed), 1);
    assert!(cf.log().records.is_empty());
    srv.stop().await;
}
