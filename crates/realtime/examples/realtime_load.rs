//! Load client of `bench/scenarios/realtime.sh`: opens N WebSocket connections to a running
//! Minibase, each with one watch, reports the server's RSS per idle connection, then times K
//! writes from the moment the HTTP write is sent to the moment each watcher has the snapshot.
//!
//! ```text
//! realtime_load --base http://127.0.0.1:8090 --service-key KEY --pid SERVER_PID \
//!     --connections 10000 --writes 20 --interval-ms 1000 [--users] [--distinct] [--sources 4]
//! ```
//!
//! - Every watcher watches `feed` ordered by `seq` descending with `limit: 1` (the newest
//!   message); each write posts `{"seq": k}` with the service key, so every watcher gets one
//!   snapshot per write whose `docs[0].seq` is `k`.
//! - `--distinct`: every watcher's `where` differs (`{"tag": {"$neq": "c<i>"}}`), so no two
//!   watches share a query: the worst case (one window, one evaluation and one serialisation per
//!   watcher). Without it all watchers share one query (a public feed).
//! - `--users`: each connection is a different user (dev login), else anonymous.
//! - `--sources K`: connections are spread over source addresses 127.0.0.1 … 127.0.0.K.
//!
//! Prints one line `RESULT {json}`. This process shares the machine's cores with the server,
//! so the latencies include the client's own scheduling: they are an upper bound.
#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    base: String,
    service_key: String,
    pid: u32,
    connections: usize,
    writes: usize,
    interval: Duration,
    users: bool,
    distinct: bool,
    sources: u8,
}

fn args() -> Args {
    let mut a = Args {
        base: "http://127.0.0.1:8090".into(),
        service_key: String::new(),
        pid: 0,
        connections: 1000,
        writes: 20,
        interval: Duration::from_millis(1000),
        users: false,
        distinct: false,
        sources: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--base" => a.base = v(),
            "--service-key" => a.service_key = v(),
            "--pid" => a.pid = v().parse().unwrap(),
            "--connections" => a.connections = v().parse().unwrap(),
            "--writes" => a.writes = v().parse().unwrap(),
            "--interval-ms" => a.interval = Duration::from_millis(v().parse().unwrap()),
            "--sources" => a.sources = v().parse::<u8>().unwrap().max(1),
            "--users" => a.users = true,
            "--distinct" => a.distinct = true,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in milliseconds.
fn cpu_ms(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    ticks * 10 // USER_HZ = 100
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first `"seq":N` of a snapshot (`docs` comes first and holds the newest message only),
/// and where its digits end; `None` when the frame is not complete enough yet.
fn first_seq_bytes(frame: &[u8]) -> Option<(u64, usize)> {
    let i = find(frame, b"\"seq\":")? + 6;
    let len = frame[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 || i + len == frame.len() {
        return None;
    }
    let seq = std::str::from_utf8(&frame[i..i + len]).ok()?.parse().ok()?;
    Some((seq, i + len))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let base = a.base.trim_end_matches('/').to_string();
    let ws_base = base.replacen("http://", "ws://", 1) + "/api/realtime";
    let server: SocketAddr = base.trim_start_matches("http://").parse().unwrap();

    // The newest message exists before anyone watches. Sequence numbers start from the clock so
    // that a feed left over from an earlier run never hides the new messages.
    let base_seq: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        * 1000;
    let post = |k: u64| {
        let seq = base_seq + k;
        http.post(format!("{base}/api/db/feed/docs"))
            .bearer_auth(&a.service_key)
            .json(&json!({"seq": seq, "text": "hello from the load client", "tag": "bench"}))
            .send()
    };
    assert!(post(0).await.unwrap().status().is_success(), "seeding feed");

    let tokens: Vec<Option<String>> = if a.users {
        let sem = Arc::new(Semaphore::new(64));
        let mut tasks = Vec::with_capacity(a.connections);
        for i in 0..a.connections {
            let (http, url, sem) = (
                http.clone(),
                format!("{base}/api/auth/dev/login"),
                sem.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                let v: Value = http
                    .post(url)
                    .json(&json!({"openid": format!("oLoad{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                Some(v["access_token"].as_str().unwrap().to_string())
            }));
        }
        let mut out = Vec::with_capacity(a.connections);
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    } else {
        vec![None; a.connections]
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = proc_status_kb(a.pid, "VmRSS:");

    // Connect everyone; each reads its init snapshot before it counts as connected.
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let sem = Arc::new(Semaphore::new(256));
    let ready = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(a.connections);
    for (i, token) in tokens.into_iter().enumerate() {
        let (sem, tx, ws_base, ready) = (sem.clone(), tx.clone(), ws_base.clone(), ready.clone());
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % a.sources as usize) as u8));
        let distinct = a.distinct;
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await.unwrap();
            let sock = TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::new(source, 0)).unwrap();
            let stream = sock.connect(server).await.unwrap();
            let url = match token {
                Some(t) => format!("{ws_base}?access_token={t}"),
                None => ws_base,
            };
            let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
            let mut watch = json!({"type": "watch", "id": "w", "collection": "feed", "orderBy": [["seq", "desc"]], "limit": 1});
            if distinct {
                watch["where"] = json!({"tag": {"$neq": format!("c{i}")}});
            }
            ws.send(Message::text(watch.to_string())).await.unwrap();
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"init\"") => break,
                    Some(Ok(Message::Text(t))) => panic!("unexpected frame before init: {t}"),
                    Some(Ok(_)) => {}
                    other => panic!("connection {i} ended before init: {other:?}"),
                }
            }
            drop(permit);
            ready.fetch_add(1, Relaxed);
            // From here on, read the raw bytes: the frames are unmasked text, and the only thing
            // needed is each snapshot's first `"seq":N`. This keeps the client's own CPU per frame
            // low (it shares the cores with the server). Server pings go unanswered, which is
            // fine for runs shorter than realtime.idle_timeout.
            let tcp = ws.get_mut();
            let mut buf = vec![0u8; 16 * 1024];
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let n = match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let at = Instant::now();
                carry.extend_from_slice(&buf[..n]);
                let mut from = 0;
                while let Some(i) = find(&carry[from..], b"{\"type\":\"snapshot\"") {
                    let start = from + i;
                    match first_seq_bytes(&carry[start..]) {
                        Some((seq, end)) => {
                            let _ = tx.send((seq, at));
                            from = start + end;
                        }
                        None => break,
                    }
                }
                // keep only an unfinished snapshot head for the next read
                let keep = find(&carry[from..], b"{\"type\":\"snapshot\"").map(|i| from + i).unwrap_or(carry.len().saturating_sub(24));
                carry.drain(..keep.max(from).min(carry.len()));
            }
        }));
    }
    drop(tx);
    // Wait until every connection has its init snapshot.
    while ready.load(Relaxed) < a.connections {
        if let Some(t) = tasks.iter_mut().find(|t| t.is_finished()) {
            if let Err(e) = t.await {
                panic!("a connection failed: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = proc_status_kb(a.pid, "VmRSS:");
    let alive = tasks.iter().filter(|t| !t.is_finished()).count();

    // Writes, one at a time, spaced so each fan-out is measured alone.
    let cpu0 = cpu_ms(a.pid);
    let me = std::process::id();
    let my_cpu0 = cpu_ms(me);
    let mut sent_at = Vec::with_capacity(a.writes + 1);
    sent_at.push(Instant::now());
    for k in 1..=a.writes as u64 {
        let t0 = Instant::now();
        sent_at.push(t0);
        let status = post(k).await.unwrap().status();
        assert!(status.is_success(), "write {k}: {status}");
        tokio::time::sleep(a.interval.saturating_sub(t0.elapsed())).await;
    }
    let expected = a.connections * a.writes;
    let mut lat_ms = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lat_ms.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((seq, at))) if seq > base_seq && seq - base_seq <= a.writes as u64 => lat_ms
                .push(
                    at.duration_since(sent_at[(seq - base_seq) as usize])
                        .as_secs_f64()
                        * 1000.0,
                ),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let cpu1 = cpu_ms(a.pid);
    let my_cpu1 = cpu_ms(me);
    lat_ms.sort_by(|x, y| x.total_cmp(y));
    let result = json!({
        "connections": a.connections,
        "alive": alive,
        "users": a.users,
        "distinct_queries": a.distinct,
        "connect_secs": (connect_secs * 10.0).round() / 10.0,
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "rss_per_connection_kb": ((rss_after as f64 - rss_before as f64) / a.connections as f64 * 10.0).round() / 10.0,
        "writes": a.writes,
        "samples": lat_ms.len(),
        "missing": expected - lat_ms.len(),
        "p50_ms": (percentile(&lat_ms, 50.0) * 10.0).round() / 10.0,
        "p90_ms": (percentile(&lat_ms, 90.0) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&lat_ms, 99.0) * 10.0).round() / 10.0,
        "max_ms": (lat_ms.last().copied().unwrap_or(f64::NAN) * 10.0).round() / 10.0,
        "server_cpu_ms_per_write": (cpu1 - cpu0) as f64 / a.writes as f64,
        "client_cpu_ms_per_write": (my_cpu1 - my_cpu0) as f64 / a.writes as f64,
    });
    println!("RESULT {result}");
    std::process::exit(0);
}
