//! Shared pieces of the edge's integration tests: a test PKI (root → intermediate → leaves,
//! ECDSA with rcgen and RSA through the `openssl` command), a running edge, and clients (curl,
//! openssl s_client, an in-process rustls client that reports the certificate it was given).
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use config::Config;
use minibase_edge::{Edge, EdgeError, EdgeStats};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub struct Pki {
    pub dir: PathBuf,
    pub root_pem: PathBuf,
    root: Issuer<'static, KeyPair>,
    inter: Issuer<'static, KeyPair>,
    pub inter_pem: String,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub chain_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    /// Writes `<name>.crt` (leaf only), `<name>_bundle.crt` (leaf + intermediate),
    /// `<name>.key`, `<name>_chain.crt`; returns the directory's paths.
    pub fn write(&self, dir: &Path, name: &str) -> LeafFiles {
        let f = LeafFiles {
            cert: dir.join(format!("{name}.crt")),
            bundle: dir.join(format!("{name}_bundle.crt")),
            key: dir.join(format!("{name}.key")),
            chain: dir.join(format!("{name}_chain.crt")),
        };
        std::fs::write(&f.cert, &self.cert_pem).unwrap();
        std::fs::write(&f.bundle, format!("{}{}", self.cert_pem, self.chain_pem)).unwrap();
        std::fs::write(&f.key, &self.key_pem).unwrap();
        std::fs::write(&f.chain, &self.chain_pem).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        f
    }
}

#[derive(Clone)]
pub struct LeafFiles {
    pub cert: PathBuf,
    pub bundle: PathBuf,
    pub key: PathBuf,
    pub chain: PathBuf,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "Minibase Test PKI");
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str, path_len: u8) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    p
}

pub enum KeyKind {
    Ecdsa,
    Rsa,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let root_params = ca_params("Minibase Test Root", 1);
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let inter_params = ca_params("Minibase Test Intermediate", 0);
        let inter_cert = inter_params.signed_by(&inter_key, &root).unwrap();
        let inter = Issuer::new(inter_params, inter_key);
        let root_pem = dir.join("root.pem");
        std::fs::write(&root_pem, root_cert.pem()).unwrap();
        Pki { dir: dir.to_path_buf(), root_pem, root, inter, inter_pem: inter_cert.pem() }
    }

    pub fn leaf(&self, names: &[&str], kind: KeyKind) -> Leaf {
        self.leaf_valid(names, kind, OffsetDateTime::now_utc() - Duration::days(1), OffsetDateTime::now_utc() + Duration::days(90))
    }

    pub fn leaf_valid(&self, names: &[&str], kind: KeyKind, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Leaf {
        let key = match kind {
            KeyKind::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            KeyKind::Rsa => KeyPair::from_pem(&openssl_rsa_pkcs8()).unwrap(),
        };
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = dn(names[0]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.not_before = not_before;
        p.not_after = not_after;
        let cert = p.signed_by(&key, &self.inter).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), chain_pem: self.inter_pem.clone(), der: cert.der().to_vec() }
    }
}

/// A fresh 2048-bit RSA key as PKCS#8 PEM (rcgen with ring cannot generate RSA keys).
pub fn openssl_rsa_pkcs8() -> String {
    let out = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `openssl <args>` feeding `input`, returns stdout.
pub fn openssl(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn app() -> Router {
    Router::new()
        .route(
            "/info",
            get(|axum::Extension(info): axum::Extension<mb_core::ConnectionInfo>| async move { format!("tls={}", info.tls) }),
        )
        .route("/api/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(800)).await;
                "slow done"
            }),
        )
}

pub struct Running {
    pub http: Option<SocketAddr>,
    pub https: SocketAddr,
    pub redirect: Option<SocketAddr>,
    pub dev_ca: Option<PathBuf>,
    pub stats: Arc<EdgeStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), EdgeError>>,
}

pub fn tls_config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    c.server.http_addr = String::new();
    c.server.https_addr = "127.0.0.1:0".into();
    c.tls.mode = config::TlsMode::Files;
    f(&mut c);
    c
}

impl Running {
    pub async fn start(c: &Config) -> Running {
        let stats = Arc::new(EdgeStats::default());
        let edge = Edge::bind(c, stats.clone()).await.expect("bind");
        let (tx, rx) = oneshot::channel::<()>();
        Running {
            http: edge.http_addr(),
            https: edge.https_addr().expect("https listener"),
            redirect: edge.redirect_addr(),
            dev_ca: edge.dev_ca_file(),
            stats,
            stop: Some(tx),
            task: tokio::spawn(edge.serve(app(), async move {
                let _ = rx.await;
            })),
        }
    }

    pub fn port(&self) -> u16 {
        self.https.port()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        self.task.await.unwrap().unwrap();
    }
}

/// curl against `https://<host>:<port><path>` resolved to 127.0.0.1; returns (success, stdout, stderr).
pub async fn curl(host: &str, port: u16, path: &str, ca: &Path, extra: &[&str]) -> (bool, String, String) {
    let url = format!("https://{host}:{port}{path}");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let mut args: Vec<String> = vec!["-sS".into(), "--max-time".into(), "10".into(), "--resolve".into(), resolve, "--cacert".into(), ca.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url);
    let out = tokio::process::Command::new("curl").args(&args).output().await.expect("curl is installed");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `openssl s_client` output for a connection with `servername`.
pub async fn s_client(port: u16, servername: &str, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect];
    if !servername.is_empty() {
        args.extend_from_slice(&["-servername", servername]);
    }
    args.extend_from_slice(extra);
    let mut child = tokio::process::Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child.stdin.take()); // EOF: s_client exits after the handshake
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A TLS connection from an in-process rustls client trusting `root_pem`.
pub struct TlsClient {
    pub stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl TlsClient {
    pub async fn connect(port: u16, name: &str, root_pem: &Path) -> Result<TlsClient, String> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_file_iter(root_pem).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let sn = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(sn, tcp).await.map_err(|e| e.to_string())?;
        Ok(TlsClient { stream })
    }

    /// DER of the leaf certificate the server sent.
    pub fn leaf(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    /// One HTTP/1.1 keep-alive request; returns the response head and body.
    pub async fn get(&mut self, path: &str) -> String {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        self.stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), self.stream.read(&mut buf)).await.unwrap().unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}
