//! HTTPS through the `minibase` binary: TLS 1.2 and 1.3 with curl, TLS 1.1 refused, ALPN h2,
//! the whole chain seen by `openssl s_client -showcerts`, the redirect listener (301 with the
//! right Location, unknown hosts refused), SIGHUP with a new certificate seen by new
//! connections while an old connection keeps working, slow clients cut, bad certificate
//! files refused at start naming the file, the self-signed development CA, and
//! `minibase doctor` against it all.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::pki::{KeyKind, LeafFiles, Pki, openssl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "api.tls.test";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minibase"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MINIBASE_") {
            c.env_remove(k);
        }
    }
    c
}

/// A `minibase serve --config` child with its bound addresses; killed on drop.
struct Served {
    child: Child,
    https: u16,
    redirect: Option<u16>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr_port(v: &serde_json::Value) -> Option<u16> {
    let s = v
        .as_str()?
        .trim_start_matches("Some(")
        .trim_end_matches(')');
    s.rsplit(':').next()?.parse().ok()
}

fn write_config(dir: &Path, tls: &str) -> PathBuf {
    let path = dir.join("minibase.toml");
    let text = format!(
        "[server]\ndata_dir = \"{}\"\nhttp_addr = \"\"\nhttps_addr = \"127.0.0.1:0\"\nredirect_addr = \"127.0.0.1:0\"\ndomains = [\"{HOST}\"]\nheader_timeout = \"1s\"\n\n{tls}\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn files_tls(f: &LeafFiles) -> String {
    format!(
        "[tls]\nmode = \"files\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nreload_interval = \"0\"\n",
        f.bundle.display(),
        f.key.display()
    )
}

fn serve(config: &Path) -> Served {
    let mut child = bin()
        .args(["serve", "--config"])
        .arg(config)
        .env("MINIBASE_SERVER__LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("minibase is serving") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let _ = tx.send((addr_port(&v["https"]), addr_port(&v["redirect"])));
            }
            sink.lock().unwrap().push(line);
        }
    });
    let (https, redirect) = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(x) => x,
        Err(_) => panic!(
            "minibase did not start: {}",
            logs.lock().unwrap().join("\n")
        ),
    };
    Served {
        child,
        https: https.expect("an HTTPS listener"),
        redirect,
        logs,
    }
}

fn curl(port: u16, path: &str, ca: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--resolve",
            &format!("{HOST}:{port}:127.0.0.1"),
            "--cacert",
        ])
        .arg(ca)
        .args(extra)
        .arg(format!("https://{HOST}:{port}{path}"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s_client(port: u16, extra: &[&str]) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            HOST,
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn signal(child: &Child, name: &str) {
    assert!(
        Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .unwrap()
            .success()
    );
}

/// An HTTP/1.1 keep-alive connection over TLS trusting `root`.
struct Conn(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl Conn {
    async fn open(port: u16, root: &Path) -> Conn {
        let cfg = testkit::pki::client_config(root);
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
        Conn(
            tokio_rustls::TlsConnector::from(Arc::new(cfg))
                .connect(name, tcp)
                .await
                .unwrap(),
        )
    }

    fn leaf(&self) -> Vec<u8> {
        self.0.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    async fn health(&mut self) -> String {
        self.0
            .write_all(format!("GET /api/health HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.0.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[test]
fn tls_versions_alpn_chain_redirect_and_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Rsa).write(dir.path(), "api");
    let served = serve(&write_config(dir.path(), &files_tls(&files)));
    let (port, ca) = (served.https, &pki.root_pem);

    let (ok, body, err) = curl(port, "/api/health", ca, &["--tlsv1.2", "--tls-max", "1.2"]);
    assert!(
        ok && body.contains("\"status\":\"ok\""),
        "TLS 1.2: {body} {err}"
    );
    let (ok, _, err) = curl(port, "/api/health", ca, &["--tlsv1.3"]);
    assert!(ok, "TLS 1.3: {err}");
    let (ok, _, _) = curl(port, "/api/health", ca, &["--tlsv1", "--tls-max", "1.1"]);
    assert!(!ok, "TLS 1.1 must be refused");
    let (ok, v, _) = curl(
        port,
        "/api/health",
        ca,
        &["-o", "/dev/null", "-w", "%{http_version}"],
    );
    assert!(ok && v == "2", "ALPN h2: {v}");

    let out = s_client(port, &["-showcerts", "-CAfile", &ca.display().to_string()]);
    assert_eq!(
        out.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{out}"
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");

    let r = served.redirect.unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            &format!("Host: {HOST}"),
        ])
        .arg(format!("http://127.0.0.1:{r}/api/db/todos/query?limit=5"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("301 https://{HOST}:{port}/api/db/todos/query?limit=5")
    );
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Host: evil.example.net",
        ])
        .arg(format!("http://127.0.0.1:{r}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "421");

    // minibase doctor agrees: nothing fails (the test port is not 443: a warning)
    let out = bin()
        .args([
            "doctor",
            &format!("https://{HOST}:{port}/"),
            "--resolve",
            "127.0.0.1",
            "--json",
        ])
        .args(["--http-port", &r.to_string(), "--ca-file"])
        .arg(ca)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["ok"], true);
    let status = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    for id in [
        "tls12", "chain", "name", "expiry", "redirect", "hsts", "json",
    ] {
        assert_eq!(status(id), "pass", "{id}: {report:#}");
    }
    assert_eq!(status("url"), "warn");
    // without the private root the chain is untrusted: exit 1, text report with the fix
    let out = bin()
        .args([
            "doctor",
            &format!("https://{HOST}:{port}/"),
            "--resolve",
            "127.0.0.1",
            "--http-port",
            &r.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  chain") && text.contains("fix:"),
        "{text}"
    );
}

#[test]
fn sighup_changes_the_certificate_of_new_connections_and_keeps_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let first = pki.leaf(&[HOST], KeyKind::Ecdsa);
    let files = first.write(dir.path(), "api");
    let mut served = serve(&write_config(dir.path(), &files_tls(&files)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut old = Conn::open(served.https, &pki.root_pem).await;
        assert_eq!(old.leaf(), first.der);
        assert!(old.health().await.starts_with("HTTP/1.1 200"));

        let second = pki.leaf(&[HOST], KeyKind::Rsa);
        std::fs::write(
            &files.bundle,
            format!("{}{}", second.cert_pem, second.chain_pem),
        )
        .unwrap();
        std::fs::write(&files.key, &second.key_pem).unwrap();
        signal(&served.child, "HUP");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let c = Conn::open(served.https, &pki.root_pem).await;
            if c.leaf() == second.der {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "new connections never saw the new certificate"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            old.health().await.starts_with("HTTP/1.1 200"),
            "the old connection keeps working"
        );

        // a bad certificate on the next SIGHUP: refused, logged, the current one keeps serving
        std::fs::write(&files.key, pki.leaf(&[HOST], KeyKind::Ecdsa).key_pem).unwrap();
        signal(&served.child, "HUP");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            Conn::open(served.https, &pki.root_pem).await.leaf(),
            second.der
        );
        let logs = served.logs.lock().unwrap().join("\n");
        assert!(
            logs.contains("certificate reload refused") && logs.contains("does not belong"),
            "{logs}"
        );
    });
    signal(&served.child, "TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while served.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slow_clients_are_cut_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.leaf(&[HOST], KeyKind::Ecdsa).write(dir.path(), "api");
    let served = serve(&write_config(dir.path(), &files_tls(&files)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // a TLS handshake that never starts
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", served.https)).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap_or(0);
        assert_eq!(n, 0);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        // headers trickled over TLS, a byte every 200 ms
        let mut c = Conn::open(served.https, &pki.root_pem).await;
        let started = Instant::now();
        let head = b"GET /api/health HTTP/1.1\r\nHost: api.tls.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut cut = false;
        for b in head {
            if c.0.write_all(&[*b]).await.is_err() || c.0.flush().await.is_err() {
                cut = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), c.0.read(&mut buf)).await {
                cut = true;
                break;
            }
        }
        assert!(cut, "a trickling client was never cut");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    });
}

#[test]
fn bad_certificate_files_stop_the_binary_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let good = pki.leaf(&[HOST], KeyKind::Rsa);
    let files = good.write(dir.path(), "api");
    let other = pki.leaf(&[HOST], KeyKind::Ecdsa).write(dir.path(), "other");
    let now = time::OffsetDateTime::now_utc();
    let expired = pki
        .leaf_valid(
            &[HOST],
            KeyKind::Ecdsa,
            now - time::Duration::days(90),
            now - time::Duration::days(1),
        )
        .write(dir.path(), "expired");
    let encrypted = dir.path().join("encrypted.key");
    std::fs::write(
        &encrypted,
        openssl(
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:x",
            ],
            &good.key_pem,
        ),
    )
    .unwrap();
    let cases: Vec<(String, String, &str)> = vec![
        (
            dir.path().join("missing_bundle.crt").display().to_string(),
            files.key.display().to_string(),
            "missing_bundle.crt",
        ),
        (
            files.bundle.display().to_string(),
            encrypted.display().to_string(),
            "encrypted",
        ),
        (
            files.bundle.display().to_string(),
            other.key.display().to_string(),
            "does not belong",
        ),
        (
            expired.bundle.display().to_string(),
            expired.key.display().to_string(),
            "expired on",
        ),
    ];
    for (cert, key, expect) in cases {
        let tls =
            format!("[tls]\nmode = \"files\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n");
        let config = write_config(dir.path(), &tls);
        let out = bin()
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cert} {key} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "stderr should say {expect:?}: {err}");
        assert!(
            err.contains(&cert) || err.contains(&key),
            "stderr should name the file: {err}"
        );
    }
}

#[test]
fn self_signed_mode_tells_how_to_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&write_config(dir.path(), "[tls]\nmode = \"self-signed\"\n"));
    let ca = dir.path().join("data/tls/dev-ca.pem");
    assert!(ca.exists());
    let (ok, body, err) = curl(served.https, "/api/health", &ca, &[]);
    assert!(ok && body.contains("ok"), "{err}");
    let logs = served.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("dev-ca.pem") && logs.contains("update-ca-certificates"),
        "{logs}"
    );
}
