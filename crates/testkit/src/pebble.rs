//! Pebble, Let's Encrypt's ACME test server, and `pebble-challtestsrv`, its scriptable DNS
//! server, run as real processes for end-to-end certificate tests (`apt-get install pebble`,
//! done by `scripts/test-deps.sh`).
//!
//! [`Pebble::start`] generates a CA and a certificate for Pebble's own HTTPS listener, picks
//! free ports, starts `pebble-challtestsrv` (answering every name with 127.0.0.1, and TXT
//! records pushed to it) and Pebble configured to validate http-01 and tls-alpn-01 on the
//! ports given (our listeners), and waits until the directory answers. Both processes are
//! killed when the value is dropped, and run under `timeout` so that even a test killed
//! outright leaves nothing running for long.

use crate::process::Proc;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longest a test's Pebble may live (seconds), even if the test process is killed.
const MAX_LIFETIME_SECS: u32 = 900;

/// Whether `pebble` and `pebble-challtestsrv` are installed.
pub fn installed() -> bool {
    ["pebble", "pebble-challtestsrv"].iter().all(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A free TCP (and UDP) port on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = tcp.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

async fn wait_tcp(addr: SocketAddr, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not start listening on {addr}");
}

/// `pebble-challtestsrv`: DNS on a free port answering A 127.0.0.1 for every name, plus TXT
/// records set through its management API.
pub struct ChallTestSrv {
    /// The DNS server (UDP and TCP).
    pub dns: SocketAddr,
    /// The management API (`/set-txt`, `/clear-txt`, …).
    pub management_url: String,
    http: reqwest::Client,
    _proc: Proc,
}

impl ChallTestSrv {
    /// Starts one.
    pub async fn start() -> ChallTestSrv {
        let dns_port = free_port();
        let mgmt_port = free_port();
        let child = Command::new("timeout")
            .args(["-k", "5", &MAX_LIFETIME_SECS.to_string()])
            .arg("pebble-challtestsrv")
            .args(["-management", &format!("127.0.0.1:{mgmt_port}")])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv is installed (scripts/test-deps.sh)");
        let proc = Proc::new(child);
        let mgmt: SocketAddr = ([127, 0, 0, 1], mgmt_port).into();
        wait_tcp(mgmt, "pebble-challtestsrv").await;
        wait_tcp(([127, 0, 0, 1], dns_port).into(), "pebble-challtestsrv DNS").await;
        ChallTestSrv {
            dns: ([127, 0, 0, 1], dns_port).into(),
            management_url: format!("http://127.0.0.1:{mgmt_port}"),
            http: reqwest::Client::new(),
            _proc: proc,
        }
    }

    /// Adds a TXT record (`host` without the trailing dot).
    pub async fn set_txt(&self, host: &str, value: &str) {
        self.http
            .post(format!("{}/set-txt", self.management_url))
            .json(&serde_json::json!({"host": format!("{host}."), "value": value}))
            .send()
            .await
            .expect("challtestsrv set-txt");
    }

    /// Removes the TXT records of `host`.
    pub async fn clear_txt(&self, host: &str) {
        self.http
            .post(format!("{}/clear-txt", self.management_url))
            .json(&serde_json::json!({"host": format!("{host}.")}))
            .send()
            .await
            .expect("challtestsrv clear-txt");
    }
}

/// What Pebble validates against.
#[derive(Debug, Clone, Default)]
pub struct PebbleOptions {
    /// Where Pebble connects for http-01 (our redirect listener's port).
    pub http_port: u16,
    /// Where Pebble connects for tls-alpn-01 (our HTTPS listener's port).
    pub tls_port: u16,
    /// Validity of issued certificates (Pebble's default is 5 years minus a bit).
    pub cert_validity: Option<Duration>,
}

/// A running Pebble with its challtestsrv.
pub struct Pebble {
    /// `https://127.0.0.1:<port>/dir`.
    pub directory_url: String,
    /// The CA of Pebble's own HTTPS listener (`tls.acme.ca_file`).
    pub ca_file: PathBuf,
    /// `https://127.0.0.1:<port>`: Pebble's management API (issuing roots).
    pub management_url: String,
    /// Its DNS server.
    pub challtestsrv: ChallTestSrv,
    http: reqwest::Client,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Pebble {
    /// Starts challtestsrv and Pebble.
    pub async fn start(opts: PebbleOptions) -> Pebble {
        let challtestsrv = ChallTestSrv::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        // Pebble's own listener certificate, from a CA we hand to the ACME client.
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.distinguished_name
            .push(DnType::CommonName, "Pebble listener test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        let ca_file = dir.path().join("listener-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write");
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).expect("write");
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).expect("write");

        let port = free_port();
        let mgmt = free_port();
        let mut pebble = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": opts.http_port,
            "tlsPort": opts.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(v) = opts.cert_validity {
            pebble["certificateValidityPeriod"] = serde_json::json!(v.as_secs().max(1));
        }
        let config = dir.path().join("pebble.json");
        std::fs::write(&config, serde_json::json!({ "pebble": pebble }).to_string())
            .expect("write");
        let child = Command::new("timeout")
            .args(["-k", "5", &MAX_LIFETIME_SECS.to_string()])
            .arg("pebble")
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &challtestsrv.dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble is installed (scripts/test-deps.sh)");
        let proc = Proc::new(child);
        wait_tcp(([127, 0, 0, 1], port).into(), "pebble").await;
        wait_tcp(([127, 0, 0, 1], mgmt).into(), "pebble management").await;
        let ca_pem = std::fs::read(&ca_file).expect("read");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("pem"))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Pebble {
            directory_url: format!("https://127.0.0.1:{port}/dir"),
            ca_file,
            management_url: format!("https://127.0.0.1:{mgmt}"),
            challtestsrv,
            http,
            _proc: proc,
            _dir: dir,
        }
    }

    /// Stops Pebble and its challtestsrv now (files such as [`Pebble::ca_file`] stay until
    /// the value is dropped).
    pub fn stop(&mut self) {
        self._proc.stop();
        self.challtestsrv._proc.stop();
    }

    /// The root that signs the certificates Pebble issues (PEM), for clients to trust.
    pub async fn issuing_root_pem(&self) -> String {
        self.http
            .get(format!("{}/roots/0", self.management_url))
            .send()
            .await
            .expect("pebble roots")
            .text()
            .await
            .expect("pebble roots body")
    }
}
