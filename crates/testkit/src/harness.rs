//! [`TestServer`]: boots the real server in-process, as `minibase serve` would, on random
//! ports, and talks HTTP to it. Stopping is graceful; the data directory can be kept to
//! restart on the same data.

use config::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Configures a [`TestServer`] before it starts.
pub struct TestServerBuilder {
    config: Config,
    data_dir: Option<PathBuf>,
}

/// A running server. Dropping it stops the server (abruptly); prefer [`TestServer::stop`].
pub struct TestServer {
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    redirect_addr: Option<SocketAddr>,
    service_key: String,
    config: Arc<Config>,
    state: server::AppState,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _tempdir: Option<tempfile::TempDir>,
    data_dir: PathBuf,
}

impl TestServerBuilder {
    /// Changes the configuration (addresses default to `127.0.0.1:0`).
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Uses this data directory (kept after the test) instead of a temporary one.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Starts the server; panics with the startup error if it cannot start (it is a test).
    pub async fn start(self) -> TestServer {
        match self.try_start().await {
            Ok(s) => s,
            Err(e) => panic!("test server failed to start: {e:#}"),
        }
    }

    /// Starts the server, or returns the startup error (for tests of startup failures).
    pub async fn try_start(self) -> anyhow::Result<TestServer> {
        let mut config = self.config;
        let (tempdir, data_dir) = match self.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        config.server.data_dir = data_dir.clone();
        config::validate(&config)?;
        let service_key = config.auth.service_key.expose().to_string();
        let stats = Arc::new(edge::EdgeStats::default());
        let app = server::build(config.clone(), stats.clone()).await?;
        let edge = edge::Edge::bind(&config, stats).await?;
        let (http_addr, https_addr, redirect_addr) =
            (edge.http_addr(), edge.https_addr(), edge.redirect_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let router = app.router;
        let task = tokio::spawn(async move {
            let _ = edge
                .serve(router, async move {
                    let _ = rx.await;
                })
                .await;
        });
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(TestServer {
            http_addr,
            https_addr,
            redirect_addr,
            service_key,
            config: Arc::new(config),
            state: app.state,
            http,
            shutdown: Some(tx),
            task: Some(task),
            _tempdir: tempdir,
            data_dir,
        })
    }
}

impl TestServer {
    /// A builder with test defaults: listeners on `127.0.0.1:0`, dev login on, a random
    /// service key, access logs off, a temporary data directory.
    pub fn builder() -> TestServerBuilder {
        let mut config = Config::default();
        config.server.http_addr = "127.0.0.1:0".into();
        config.server.https_addr = "127.0.0.1:0".into();
        config.server.access_log = false;
        config.auth.dev_login = true;
        config.auth.service_key =
            config::Secret::new(format!("svc-{}", mb_core::ids::random_hex(16)));
        TestServerBuilder {
            config,
            data_dir: None,
        }
    }

    /// Starts a server with the test defaults.
    pub async fn start() -> TestServer {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:<port><path>` on the plain listener.
    pub fn url(&self, path: &str) -> String {
        match self.http_addr {
            Some(a) => format!("http://{a}{path}"),
            None => panic!("the plain HTTP listener is off in this test"),
        }
    }

    /// `https://127.0.0.1:<port><path>` on the TLS listener.
    pub fn https_url(&self, path: &str) -> String {
        match self.https_addr {
            Some(a) => format!("https://{a}{path}"),
            None => panic!("the HTTPS listener is off in this test"),
        }
    }

    /// The bound addresses.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }
    /// The HTTPS listener's address.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }
    /// The redirect listener's address.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_addr
    }

    /// An HTTP client (no redirects followed; test certificates accepted).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The service key.
    pub fn service_key(&self) -> &str {
        &self.service_key
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's state (direct access to areas, for assertions).
    pub fn state(&self) -> &server::AppState {
        &self.state
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Signs in through `POST /api/auth/dev/login`; the whole answer.
    pub async fn login(&self, openid: &str) -> serde_json::Value {
        let res = self
            .http
            .post(self.url("/api/auth/dev/login"))
            .json(&serde_json::json!({ "openid": openid }))
            .send()
            .await
            .expect("dev login request");
        assert_eq!(res.status(), 200, "dev login failed");
        res.json().await.expect("dev login answer")
    }

    /// An access token for a user with this openid.
    pub async fn user_token(&self, openid: &str) -> String {
        self.login(openid).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown_inner().await;
    }

    async fn shutdown_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
            let state = self.state.clone();
            let _ = tokio::task::spawn_blocking(move || state.db().close()).await;
        }
    }

    /// Stops the server and starts a new one on the same data directory and configuration
    /// (new ports).
    pub async fn restart(mut self) -> TestServer {
        self.shutdown_inner().await;
        let tempdir = self._tempdir.take();
        let mut config = (*self.config).clone();
        config.server.http_addr = "127.0.0.1:0".into();
        config.server.https_addr = "127.0.0.1:0".into();
        if !config.server.redirect_addr.is_empty() {
            config.server.redirect_addr = "127.0.0.1:0".into();
        }
        let mut next = TestServerBuilder {
            config,
            data_dir: Some(self.data_dir.clone()),
        }
        .start()
        .await;
        next._tempdir = tempdir;
        next
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
