//! The edge serving plain HTTP and redirects, driven over real sockets: connection facts reach
//! handlers, slow and idle clients are cut at their timeouts, shutdown drains, the connection
//! limit holds, and the redirect listener redirects only our own domains.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use config::Config;
use mb_core::ConnectionInfo;
use minibase_edge::{Edge, EdgeError, EdgeStats};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    c.server.http_addr = "127.0.0.1:0".into();
    f(&mut c);
    c
}

fn app() -> Router {
    Router::new()
        .route(
            "/info",
            get(
                |axum::Extension(info): axum::Extension<ConnectionInfo>| async move {
                    format!("{} {} {}", info.remote, info.local, info.tls)
                },
            ),
        )
        .route(
            "/ws",
            get(|ws: axum::extract::WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(msg)) = socket.recv().await {
                        if socket.send(msg).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                "slow done"
            }),
        )
}

struct Running {
    http: SocketAddr,
    redirect: Option<SocketAddr>,
    stats: Arc<EdgeStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), EdgeError>>,
}

impl Running {
    async fn start(c: Config) -> Running {
        let stats = Arc::new(EdgeStats::default());
        let edge = Edge::bind(&c, stats.clone()).await.expect("bind");
        let http = edge.http_addr().expect("http listener");
        let redirect = edge.redirect_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(edge.serve(app(), async move {
            let _ = rx.await;
        }));
        Running {
            http,
            redirect,
            stats,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        self.task.await.expect("join").expect("serve");
    }
}

/// Sends a raw request and reads until the server closes or `limit` passes.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn handlers_see_connection_info() {
    let srv = Running::start(config(|_| {})).await;
    let body = reqwest::get(srv.url("/info"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parts: Vec<&str> = body.split(' ').collect();
    assert_eq!(parts.len(), 3, "{body}");
    assert!(parts[0].starts_with("127.0.0.1:"), "{body}");
    assert_eq!(parts[1], srv.http.to_string());
    assert_eq!(parts[2], "false");
    assert!(srv.stats.http.accepted.load(Relaxed) >= 1);
    srv.stop().await;
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let srv = Running::start(config(|_| {})).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = client.get(srv.url("/info")).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert!(res.text().await.unwrap().contains("false"));
    srv.stop().await;
}

#[tokio::test]
async fn slowloris_is_cut_at_the_header_timeout() {
    let srv = Running::start(config(|c| {
        c.server.header_timeout = config::HumanDuration::parse("600ms").unwrap()
    }))
    .await;
    let mut s = TcpStream::connect(srv.http).await.unwrap();
    let started = Instant::now();
    let head =
        b"GET /info HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_at = None;
    for b in head.iter() {
        if s.write_all(&[*b]).await.is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            closed_at = Some(started.elapsed());
            break;
        }
    }
    let closed_at = closed_at.expect("the server never closed a trickling client");
    assert!(
        closed_at >= Duration::from_millis(500),
        "closed too early: {closed_at:?}"
    );
    assert!(
        closed_at < Duration::from_millis(2500),
        "closed too late: {closed_at:?}"
    );
    assert!(srv.stats.http.header_timeouts.load(Relaxed) >= 1);
    srv.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_cut_at_the_header_timeout() {
    let srv = Running::start(config(|c| {
        c.server.header_timeout = config::HumanDuration::parse("500ms").unwrap()
    }))
    .await;
    let started = Instant::now();
    let out = raw(srv.http, b"").await;
    assert_eq!(out, "");
    let t = started.elapsed();
    assert!(
        t >= Duration::from_millis(400) && t < Duration::from_secs(3),
        "{t:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn keep_alive_outlives_the_header_timeout_and_ends_at_the_idle_timeout() {
    let srv = Running::start(config(|c| {
        c.server.header_timeout = config::HumanDuration::parse("300ms").unwrap();
        c.server.idle_timeout = config::HumanDuration::parse("1500ms").unwrap();
    }))
    .await;
    let mut s = TcpStream::connect(srv.http).await.unwrap();
    let req = b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        s.write_all(req).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        // idle for longer than the header timeout, shorter than the idle timeout
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let idle_from = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let waited = idle_from.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    assert_eq!(srv.stats.http.idle_closed.load(Relaxed), 1);
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_connections() {
    let srv = Running::start(config(|c| {
        c.server.shutdown_timeout = config::HumanDuration::parse("5s").unwrap()
    }))
    .await;
    let url = srv.url("/slow");
    let in_flight =
        tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = srv.http;
    let Running { stop, task, .. } = srv;
    let _ = stop.map(|s| s.send(()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections must be refused while draining"
    );
    assert_eq!(in_flight.await.unwrap(), "slow done");
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_gives_up_after_the_shutdown_timeout() {
    let srv = Running::start(config(|c| {
        c.server.shutdown_timeout = config::HumanDuration::parse("200ms").unwrap()
    }))
    .await;
    let url = srv.url("/slow");
    let in_flight = tokio::spawn(async move { reqwest::get(url).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    srv.stop().await;
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the slow request was cut"
    );
}

#[tokio::test]
async fn max_connections_makes_new_connections_wait() {
    let srv = Running::start(config(|c| c.server.max_connections = 1)).await;
    let mut a = TcpStream::connect(srv.http).await.unwrap();
    a.write_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(a.read(&mut buf).await.unwrap() > 0);
    let url = srv.url("/info");
    let b = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !b.is_finished(),
        "a second connection was served beyond max_connections = 1"
    );
    drop(a);
    let status = tokio::time::timeout(Duration::from_secs(5), b)
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert_eq!(status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn redirect_listener_redirects_only_our_domains() {
    let srv = Running::start(config(|c| {
        c.server.redirect_addr = "127.0.0.1:0".into();
        c.server.domains = vec!["api.example.com".into()];
    }))
    .await;
    let r = srv.redirect.unwrap();
    let out = raw(
        r,
        b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: api.example.com:8080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 301"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("location: https://api.example.com/a/b?x=1&y=2\r\n"),
        "{out}"
    );

    let out = raw(
        r,
        b"GET /a HTTP/1.1\r\nHost: evil.example.net\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 421"), "{out}");
    assert!(!out.to_ascii_lowercase().contains("location:"), "{out}");

    // absolute-form cannot smuggle another host past the check
    let out = raw(r, b"GET http://evil.example.net/ HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 421"), "{out}");

    let out = raw(r, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        out.starts_with("HTTP/1.0 400") || out.starts_with("HTTP/1.1 400"),
        "{out}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn redirect_listener_answers_acme_http01_challenges() {
    let stats = Arc::new(EdgeStats::default());
    let c = config(|c| {
        c.server.redirect_addr = "127.0.0.1:0".into();
        c.server.domains = vec!["api.example.com".into()];
    });
    let edge = Edge::bind(&c, stats).await.unwrap();
    let r = edge.redirect_addr().unwrap();
    edge.http01_challenges().insert("tok123", "tok123.thumb");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(edge.serve(app(), async move {
        let _ = rx.await;
    }));
    let out = raw(r, b"GET /.well-known/acme-challenge/tok123 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("tok123.thumb"), "{out}");
    let out = raw(r, b"GET /.well-known/acme-challenge/other HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_busy_port_is_a_startup_error_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let c = config(|c| c.server.http_addr = addr.clone());
    let err = Edge::bind(&c, Arc::new(EdgeStats::default()))
        .await
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("server.http_addr") && msg.contains(&addr) && msg.contains("another process"),
        "{msg}"
    );
}

#[tokio::test]
async fn sighup_without_tls_does_not_kill_the_process() {
    let srv = Running::start(config(|_| {})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = reqwest::get(srv.url("/info"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("false"));
    srv.stop().await;
}

#[tokio::test]
async fn websockets_keep_their_connection_slot_until_they_close() {
    use futures_util::{SinkExt, StreamExt};
    let srv = Running::start(config(|c| c.server.max_connections = 1)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", srv.http))
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text("hi"))
        .await
        .unwrap();
    assert_eq!(
        ws.next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "hi"
    );
    assert_eq!(
        srv.stats.http.open.load(Relaxed),
        1,
        "the upgraded connection is still open"
    );
    let url = srv.url("/info");
    let waiting = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "max_connections = 1 is held by the WebSocket"
    );
    ws.close(None).await.unwrap();
    drop(ws);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served after the WebSocket closed")
        .unwrap();
    assert_eq!(status, 200);
    srv.stop().await;
}
