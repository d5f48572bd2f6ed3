//! Shared pieces of the edge's integration tests: the test PKI (`testkit::pki`), a running
//! edge, and clients (curl, openssl s_client, an in-process rustls client that reports the
//! certificate it was given).
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use config::Config;
use minibase_edge::{Edge, EdgeError, EdgeStats};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use testkit::pki::{KeyKind, Leaf, LeafFiles, Pki, openssl, openssl_rsa_pkcs8};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub fn app() -> Router {
    Router::new()
        .route(
            "/info",
            get(
                |axum::Extension(info): axum::Extension<mb_core::ConnectionInfo>| async move {
                    format!("tls={}", info.tls)
                },
            ),
        )
        .route(
            "/api/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
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
pub async fn curl(
    host: &str,
    port: u16,
    path: &str,
    ca: &Path,
    extra: &[&str],
) -> (bool, String, String) {
    let url = format!("https://{host}:{port}{path}");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "10".into(),
        "--resolve".into(),
        resolve,
        "--cacert".into(),
        ca.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url);
    let out = tokio::process::Command::new("curl")
        .args(&args)
        .output()
        .await
        .expect("curl is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A TLS connection from an in-process rustls client trusting `root_pem`.
pub struct TlsClient {
    pub stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl TlsClient {
    pub async fn connect(port: u16, name: &str, root_pem: &Path) -> Result<TlsClient, String> {
        let cfg = testkit::pki::client_config(root_pem);
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let sn = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(sn, tcp)
            .await
            .map_err(|e| e.to_string())?;
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
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.stream.read(&mut buf),
        )
        .await
        .unwrap()
        .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}
