//! HTTPS through the edge with real clients: TLS versions and ALPN with curl, the chain with
//! `openssl s_client -showcerts`, SNI across several certificates (RSA and ECDSA), every key
//! format the SSL consoles hand out, every bad-file case refused at start naming the file,
//! reloads (SIGHUP and changed files) that new connections see while old ones keep working,
//! and the self-signed development CA.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use minibase_edge::{Edge, EdgeStats};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use time::OffsetDateTime;

fn files_config(f: &LeafFiles) -> config::Config {
    tls_config(|c| {
        c.tls.cert_file = f.bundle.clone();
        c.tls.key_file = f.key.clone();
    })
}

async fn bind_err(c: &config::Config) -> String {
    match Edge::bind(c, Arc::new(EdgeStats::default())).await {
        Ok(_) => panic!("Edge::bind accepted a bad configuration"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn curl_and_openssl_see_tls12_tls13_h2_and_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&["api.example.test"], KeyKind::Ecdsa)
        .write(dir.path(), "api");
    let srv = Running::start(&files_config(&files)).await;
    let ca = &pki.root_pem;
    let host = "api.example.test";

    let (ok, out, err) = curl(
        host,
        srv.port(),
        "/info",
        ca,
        &["--tlsv1.2", "--tls-max", "1.2"],
    )
    .await;
    assert!(ok && out == "tls=true", "TLS 1.2: {out} {err}");
    let (ok, out, err) = curl(host, srv.port(), "/info", ca, &["--tlsv1.3"]).await;
    assert!(ok && out == "tls=true", "TLS 1.3: {out} {err}");
    let (ok, _, err) = curl(
        host,
        srv.port(),
        "/info",
        ca,
        &["--tlsv1", "--tls-max", "1.1"],
    )
    .await;
    assert!(!ok, "TLS 1.1 must be refused: {err}");
    let (ok, out, err) = curl(
        host,
        srv.port(),
        "/info",
        ca,
        &["-o", "/dev/null", "-w", "%{http_version}"],
    )
    .await;
    assert!(ok && out == "2", "ALPN must give h2: {out} {err}");
    let (ok, out, _) = curl(
        host,
        srv.port(),
        "/info",
        ca,
        &["--http1.1", "-o", "/dev/null", "-w", "%{http_version}"],
    )
    .await;
    assert!(ok && out == "1.1");
    let (ok, out, _) = curl(
        host,
        srv.port(),
        "/info",
        ca,
        &["-D", "-", "-o", "/dev/null"],
    )
    .await;
    assert!(
        ok && out
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{out}"
    );

    let ca_arg = ca.display().to_string();
    let out = s_client(
        srv.port(),
        host,
        &["-showcerts", "-CAfile", &ca_arg, "-verify_hostname", host],
    )
    .await;
    assert_eq!(
        out.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "leaf + intermediate: {out}"
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(srv.stats.tls_handshakes_ok.load(Relaxed) >= 6);
    assert!(srv.stats.tls_handshakes_failed.load(Relaxed) >= 1);
    srv.stop().await;
}

#[tokio::test]
async fn min_version_13_refuses_tls12() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&["api.example.test"], KeyKind::Ecdsa)
        .write(dir.path(), "api");
    let mut c = files_config(&files);
    c.tls.min_version = "1.3".into();
    let srv = Running::start(&c).await;
    let (ok, _, _) = curl(
        "api.example.test",
        srv.port(),
        "/info",
        &pki.root_pem,
        &["--tls-max", "1.2"],
    )
    .await;
    assert!(!ok, "TLS 1.2 must be refused with min_version = 1.3");
    let (ok, _, err) = curl(
        "api.example.test",
        srv.port(),
        "/info",
        &pki.root_pem,
        &["--tlsv1.3"],
    )
    .await;
    assert!(ok, "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn sni_picks_the_certificate_of_each_domain_rsa_and_ecdsa() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let a = pki.leaf(&["a.example.test"], KeyKind::Ecdsa);
    let b = pki.leaf(&["b.example.test", "*.b.example.test"], KeyKind::Rsa);
    let fa = a.write(dir.path(), "a");
    let fb = b.write(dir.path(), "b");
    let c = tls_config(|c| {
        c.server.domains = vec!["a.example.test".into(), "b.example.test".into()];
        c.tls.cert_file = fa.cert.clone(); // leaf and chain in separate files
        c.tls.chain_file = fa.chain.clone();
        c.tls.key_file = fa.key.clone();
        c.tls.certificates = vec![config::CertificateFiles {
            cert_file: fb.bundle.clone(),
            key_file: fb.key.clone(),
            chain_file: Default::default(),
        }];
    });
    let srv = Running::start(&c).await;
    for (host, want) in [
        ("a.example.test", &a.der),
        ("b.example.test", &b.der),
        ("x.b.example.test", &b.der),
    ] {
        let client = TlsClient::connect(srv.port(), host, &pki.root_pem)
            .await
            .unwrap();
        assert_eq!(&client.leaf(), want, "{host}");
        let (ok, out, err) = curl(host, srv.port(), "/info", &pki.root_pem, &[]).await;
        assert!(ok && out == "tls=true", "{host}: {err}");
    }
    // no SNI (an IP address): the first certificate
    let out = s_client(srv.port(), "", &["-noservername"]).await;
    assert!(
        out.contains("CN = a.example.test") || out.contains("CN=a.example.test"),
        "{out}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn every_key_format_of_the_ssl_consoles_loads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let rsa = pki.leaf(&["rsa.example.test"], KeyKind::Rsa);
    let ec = pki.leaf(&["ec.example.test"], KeyKind::Ecdsa);
    let cases = [
        ("rsa-pkcs8", &rsa, rsa.key_pem.clone(), "BEGIN PRIVATE KEY"),
        (
            "rsa-pkcs1",
            &rsa,
            openssl(&["rsa", "-traditional"], &rsa.key_pem),
            "BEGIN RSA PRIVATE KEY",
        ),
        ("ec-pkcs8", &ec, ec.key_pem.clone(), "BEGIN PRIVATE KEY"),
        (
            "ec-sec1",
            &ec,
            openssl(&["ec"], &ec.key_pem),
            "BEGIN EC PRIVATE KEY",
        ),
    ];
    for (name, leaf, key_pem, marker) in cases {
        assert!(key_pem.contains(marker), "{name}: {key_pem}");
        let files = leaf.write(dir.path(), name);
        std::fs::write(&files.key, &key_pem).unwrap();
        let srv = Running::start(&files_config(&files)).await;
        let host = if name.starts_with("rsa") {
            "rsa.example.test"
        } else {
            "ec.example.test"
        };
        let (ok, out, err) = curl(host, srv.port(), "/info", &pki.root_pem, &[]).await;
        assert!(ok && out == "tls=true", "{name}: {err}");
        srv.stop().await;
    }
}

#[tokio::test]
async fn bad_certificate_files_refuse_start_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let good = pki.leaf(&["api.example.test"], KeyKind::Rsa);
    let files = good.write(dir.path(), "good");
    let other = pki
        .leaf(&["api.example.test"], KeyKind::Ecdsa)
        .write(dir.path(), "other");

    // missing files
    let mut c = files_config(&files);
    c.tls.cert_file = dir.path().join("nope_bundle.crt");
    let msg = bind_err(&c).await;
    assert!(
        msg.contains("nope_bundle.crt")
            && msg.contains("not found")
            && msg.contains("tls.cert_file"),
        "{msg}"
    );
    let mut c = files_config(&files);
    c.tls.key_file = dir.path().join("nope.key");
    let msg = bind_err(&c).await;
    assert!(
        msg.contains("nope.key") && msg.contains("not found") && msg.contains("tls.key_file"),
        "{msg}"
    );

    // encrypted keys, both PEM flavours
    for (name, key) in [
        (
            "enc-pkcs8.key",
            openssl(
                &[
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-passout",
                    "pass:secret",
                ],
                &good.key_pem,
            ),
        ),
        (
            "enc-trad.key",
            openssl(
                &["rsa", "-traditional", "-aes256", "-passout", "pass:secret"],
                &good.key_pem,
            ),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, key).unwrap();
        let mut c = files_config(&files);
        c.tls.key_file = path;
        let msg = bind_err(&c).await;
        assert!(
            msg.contains(name) && msg.contains("encrypted") && msg.contains("openssl pkey"),
            "{msg}"
        );
    }

    // a key of another certificate
    let mut c = files_config(&files);
    c.tls.key_file = other.key.clone();
    let msg = bind_err(&c).await;
    assert!(
        msg.contains("other.key") && msg.contains("does not belong"),
        "{msg}"
    );

    // expired
    let now = OffsetDateTime::now_utc();
    let expired = pki
        .leaf_valid(
            &["api.example.test"],
            KeyKind::Ecdsa,
            now - time::Duration::days(100),
            now - time::Duration::days(10),
        )
        .write(dir.path(), "expired");
    let msg = bind_err(&files_config(&expired)).await;
    assert!(
        msg.contains("expired_bundle.crt") && msg.contains("expired on") && msg.contains("renew"),
        "{msg}"
    );

    // swapped files
    let mut c = files_config(&files);
    c.tls.cert_file = files.key.clone();
    let msg = bind_err(&c).await;
    assert!(msg.contains("good.key") && msg.contains("swapped"), "{msg}");

    // DER instead of PEM
    let der = dir.path().join("cert.der");
    std::fs::write(&der, &good.der).unwrap();
    let mut c = files_config(&files);
    c.tls.cert_file = der;
    let msg = bind_err(&c).await;
    assert!(
        msg.contains("cert.der") && msg.contains("DER") && msg.contains("openssl x509 -inform der"),
        "{msg}"
    );

    // a bad file in the tls.certificates list is named with its index
    let mut c = files_config(&files);
    c.tls.certificates = vec![config::CertificateFiles {
        cert_file: dir.path().join("missing2.crt"),
        key_file: files.key.clone(),
        chain_file: Default::default(),
    }];
    let msg = bind_err(&c).await;
    assert!(
        msg.contains("missing2.crt") && msg.contains("tls.certificates[0].cert_file"),
        "{msg}"
    );
}

#[tokio::test]
async fn leaf_after_chain_in_the_bundle_is_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let leaf = pki.leaf(&["api.example.test"], KeyKind::Ecdsa);
    let files = leaf.write(dir.path(), "api");
    std::fs::write(
        &files.bundle,
        format!("{}{}", leaf.chain_pem, leaf.cert_pem),
    )
    .unwrap();
    let srv = Running::start(&files_config(&files)).await;
    let (ok, _, err) = curl("api.example.test", srv.port(), "/info", &pki.root_pem, &[]).await;
    assert!(ok, "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn sighup_and_changed_files_reload_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let first = pki.leaf(&["api.example.test"], KeyKind::Ecdsa);
    let files = first.write(dir.path(), "api");
    let mut c = files_config(&files);
    c.tls.reload_interval = config::HumanDuration::parse("200ms").unwrap();
    let srv = Running::start(&c).await;
    let host = "api.example.test";

    let mut old = TlsClient::connect(srv.port(), host, &pki.root_pem)
        .await
        .unwrap();
    assert_eq!(old.leaf(), first.der);
    assert!(old.get("/info").await.contains("tls=true"));

    // SIGHUP with a new certificate (written in place: same inode, maybe same mtime second)
    let second = pki.leaf(&["api.example.test"], KeyKind::Rsa);
    std::fs::write(
        &files.bundle,
        format!("{}{}", second.cert_pem, second.chain_pem),
    )
    .unwrap();
    std::fs::write(&files.key, &second.key_pem).unwrap();
    unsafe_free_sighup();
    let mut seen = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = TlsClient::connect(srv.port(), host, &pki.root_pem)
            .await
            .unwrap()
            .leaf();
        if seen == second.der {
            break;
        }
    }
    assert_eq!(seen, second.der, "new connections see the new certificate");
    assert!(
        old.get("/info").await.contains("tls=true"),
        "the old connection keeps working"
    );
    assert_eq!(old.leaf(), first.der);

    // a bad new certificate: refused, the previous keeps serving
    let failed_before = srv.stats.cert_reloads_failed.load(Relaxed);
    std::fs::write(
        &files.key,
        pki.leaf(&["api.example.test"], KeyKind::Ecdsa).key_pem,
    )
    .unwrap();
    unsafe_free_sighup();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if srv.stats.cert_reloads_failed.load(Relaxed) > failed_before {
            break;
        }
    }
    assert!(
        srv.stats.cert_reloads_failed.load(Relaxed) > failed_before,
        "the mismatched key was refused"
    );
    assert_eq!(
        TlsClient::connect(srv.port(), host, &pki.root_pem)
            .await
            .unwrap()
            .leaf(),
        second.der
    );

    // changed files, no signal: picked up by polling (tls.reload_interval)
    let third = pki.leaf(&["api.example.test"], KeyKind::Ecdsa);
    let tmp = dir.path().join("next.key");
    std::fs::write(&tmp, &third.key_pem).unwrap();
    std::fs::write(
        dir.path().join("next.crt"),
        format!("{}{}", third.cert_pem, third.chain_pem),
    )
    .unwrap();
    std::fs::rename(dir.path().join("next.crt"), &files.bundle).unwrap();
    std::fs::rename(&tmp, &files.key).unwrap();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = TlsClient::connect(srv.port(), host, &pki.root_pem)
            .await
            .unwrap()
            .leaf();
        if seen == third.der {
            break;
        }
    }
    assert_eq!(seen, third.der);
    assert!(old.get("/info").await.contains("tls=true"));
    srv.stop().await;
}

/// Sends SIGHUP to this process (the edge's watcher handles it).
fn unsafe_free_sighup() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn self_signed_mode_generates_a_ca_once_and_serves_localhost() {
    let data = tempfile::tempdir().unwrap();
    let c = tls_config(|c| {
        c.tls.mode = config::TlsMode::SelfSigned;
        c.server.data_dir = data.path().to_path_buf();
        c.server.domains = vec!["dev.example.test".into()];
    });
    let srv = Running::start(&c).await;
    let ca = srv.dev_ca.clone().expect("a CA file");
    assert!(ca.starts_with(data.path()));
    for host in ["localhost", "dev.example.test"] {
        let (ok, out, err) = curl(host, srv.port(), "/info", &ca, &[]).await;
        assert!(ok && out == "tls=true", "{host}: {err}");
    }
    let (ok, _, err) = curl("127.0.0.1", srv.port(), "/info", &ca, &[]).await;
    assert!(ok, "IP SAN: {err}");
    let (_, headers, _) = curl(
        "localhost",
        srv.port(),
        "/info",
        &ca,
        &["-D", "-", "-o", "/dev/null"],
    )
    .await;
    assert!(
        !headers
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "no HSTS on development certificates"
    );
    #[cfg(unix)]
    for key in ["dev-ca.key", "dev-server.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("tls").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let ca_before = std::fs::read(&ca).unwrap();
    let leaf_before = std::fs::read(data.path().join("tls/dev-server.pem")).unwrap();
    srv.stop().await;

    // restart: the same CA and server certificate
    let srv = Running::start(&c).await;
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before);
    assert_eq!(
        std::fs::read(data.path().join("tls/dev-server.pem")).unwrap(),
        leaf_before
    );
    srv.stop().await;

    // a new domain: a new server certificate from the same CA
    let mut c2 = c.clone();
    c2.server.domains.push("other.example.test".into());
    let srv = Running::start(&c2).await;
    assert_eq!(std::fs::read(&ca).unwrap(), ca_before);
    let (ok, _, err) = curl("other.example.test", srv.port(), "/info", &ca, &[]).await;
    assert!(ok, "{err}");
    srv.stop().await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&["api.example.test"], KeyKind::Ecdsa)
        .write(dir.path(), "api");
    let mut c = files_config(&files);
    c.server.header_timeout = config::HumanDuration::parse("400ms").unwrap();
    let srv = Running::start(&c).await;
    let mut s = tokio::net::TcpStream::connect(srv.https).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut s, &mut buf),
    )
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(srv.stats.https.header_timeouts.load(Relaxed), 1);
    srv.stop().await;
}

#[tokio::test]
async fn redirect_points_at_the_https_port() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki
        .leaf(&["api.example.test"], KeyKind::Ecdsa)
        .write(dir.path(), "api");
    let mut c = files_config(&files);
    c.server.redirect_addr = "127.0.0.1:0".into();
    c.server.domains = vec!["api.example.test".into()];
    let srv = Running::start(&c).await;
    let r = srv.redirect.unwrap();
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            "Host: api.example.test",
            &format!("http://{r}/p?q=1"),
        ])
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out,
        format!("301 https://api.example.test:{}/p?q=1", srv.port())
    );
    srv.stop().await;
}
