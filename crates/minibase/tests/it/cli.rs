//! The binary itself: `version`, `init`, configuration errors at start, `serve` with graceful
//! shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minibase"));
    // Never inherit configuration from the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("MINIBASE_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn version_prints_the_version() {
    let out = bin().arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("minibase {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_commands_get_help() {
    let out = bin().arg("serv").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serve"), "{err}");
}

#[test]
fn init_writes_a_valid_commented_config_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml_text = std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap();
    assert!(toml_text.contains("# "));
    let env_text = std::fs::read_to_string(dir.path().join(".env.example")).unwrap();
    assert!(env_text.contains("MINIBASE_WECHAT__SECRET="));
    // No secret values in either file.
    for line in env_text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        assert!(line.ends_with('='), "{line}");
    }
    // The written config loads.
    let cfg = config::load_from(
        config::Sources {
            file: Some(dir.path().join("minibase.toml")),
            env: Default::default(),
        },
        None,
    )
    .unwrap();
    assert!(cfg.collections.contains_key("todos"));
    // A second init refuses, --force overwrites.
    std::fs::write(dir.path().join("minibase.toml"), "# mine").unwrap();
    let out = bin()
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap(),
        "# mine"
    );
    let out = bin()
        .args(["init", "--force", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_ne!(
        std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap(),
        "# mine"
    );
}

fn serve_with(config: &str, env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minibase.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = bin();
    cmd.args(["serve", "--config"]).arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A bad configuration: the file, environment variables, and the key the error must name.
type BadConfig<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_configs_exit_non_zero_naming_the_key() {
    let cases: &[BadConfig] = &[
        (
            "[server]\nhttp_adr = \"127.0.0.1:0\"\n",
            &[],
            "server.http_adr",
        ),
        ("[auth]\naccess_ttl = \"forever\"\n", &[], "auth.access_ttl"),
        ("[tls]\nmode = \"files\"\n", &[], "tls.cert_file"),
        ("", &[("MINIBASE_LIMITS__BODY", "huge")], "limits.body"),
        ("", &[("MINIBASE_SERVR__HTTP_ADDR", "x")], "servr.http_addr"),
        (
            "[auth]\ndev_login = true\n[tls]\nmode = \"files\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n",
            &[],
            "auth.dev_login",
        ),
        (
            "[server]\nhttp_addr = \"127.0.0.1:0\"\n[collections.todos]\nread = \"doc._openid ==\"\n",
            &[],
            "collections.todos.read",
        ),
    ];
    for (cfg, env, key) in cases {
        let out = serve_with(cfg, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cfg} should be refused");
        assert!(err.contains(key), "{cfg}: stderr should name {key}: {err}");
    }
    // A missing config file is named too.
    let out = bin()
        .args(["serve", "--config", "/nonexistent/minibase.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/minibase.toml"));
}

/// A `minibase serve` child process and everything it logged so far.
pub struct Served {
    /// The process.
    pub child: std::process::Child,
    /// `host:port` of the plain HTTP listener.
    pub addr: String,
    /// stderr lines (JSON logs).
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `minibase serve` on a free port with data in `dir`.
pub fn spawn_server(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Served {
    let mut cmd = bin();
    cmd.args(["serve", "--data-dir"])
        .arg(dir)
        .current_dir(dir)
        .env("MINIBASE_SERVER__HTTP_ADDR", "127.0.0.1:0")
        .env("MINIBASE_SERVER__LOG_FORMAT", "json")
        .env("MINIBASE_AUTH__DEV_LOGIN", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("minibase is serving") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let http = v["http"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("Some(")
                    .trim_end_matches(')')
                    .to_string();
                let _ = tx.send(http);
                sent = true;
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server announced its address");
    Served { child, addr, logs }
}

/// Waits for a child to exit after a signal, asserting a clean exit.
pub fn wait_exit(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a signal (`TERM`, `HUP`, `KILL`) to a child process.
pub fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn serve_starts_fast_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut served = spawn_server(dir.path(), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let res = reqwest::get(format!("http://{}/api/health", served.addr))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });
    eprintln!("start to first served request: {:?}", started.elapsed());
    drop(rt);
    signal(&served.child, "TERM");
    let status = wait_exit(&mut served.child, 60);
    assert!(
        status.success(),
        "{status}; logs: {:#?}",
        served.logs.lock().unwrap()
    );
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    // A request that is still sending its body when SIGTERM arrives completes; new
    // connections are refused afterwards.
    let dir = tempfile::tempdir().unwrap();
    let mut served = spawn_server(dir.path(), &[("MINIBASE_SERVER__SHUTDOWN_TIMEOUT", "10s")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(&served.addr).await.unwrap();
        let body = r#"{"openid":"o-inflight"}"#;
        let head = format!(
            "POST /api/auth/dev/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&body.as_bytes()[..5]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        signal(&served.child, "TERM");
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The listener is closed: a new connection is refused.
        assert!(tokio::net::TcpStream::connect(&served.addr).await.is_err(), "still accepting after SIGTERM");
        conn.write_all(&body.as_bytes()[5..]).await.unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("access_token"));
    });
    assert!(wait_exit(&mut served.child, 60).success());
}

#[test]
fn access_logs_are_json_and_never_carry_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let service_key = "svc-key-that-must-never-be-logged-0123456789";
    let mut served = spawn_server(dir.path(), &[("MINIBASE_AUTH__SERVICE_KEY", service_key)]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (access, refresh) = rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://{}", served.addr);
        let login: serde_json::Value = http
            .post(format!("{base}/api/auth/dev/login"))
            .json(&serde_json::json!({ "openid": "o-logged" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = login["access_token"].as_str().unwrap().to_string();
        let refresh = login["refresh_token"].as_str().unwrap().to_string();
        http.get(format!("{base}/api/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        http.get(format!("{base}/api/auth/me"))
            .bearer_auth("forged.token.value")
            .send()
            .await
            .unwrap();
        http.post(format!("{base}/api/auth/refresh"))
            .json(&serde_json::json!({ "refresh_token": refresh }))
            .send()
            .await
            .unwrap();
        http.get(format!("{base}/metrics"))
            .bearer_auth(service_key)
            .send()
            .await
            .unwrap();
        http.get(format!(
            "{base}/api/health?access_token={access}&sig=secret-signature"
        ))
        .send()
        .await
        .unwrap();
        (access, refresh)
    });
    signal(&served.child, "TERM");
    assert!(wait_exit(&mut served.child, 60).success());
    std::thread::sleep(Duration::from_millis(200));
    let logs = served.logs.lock().unwrap().clone();
    let access_lines: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "minibase::access")
        .collect();
    assert!(access_lines.len() >= 6, "{logs:#?}");
    let me = access_lines
        .iter()
        .find(|v| v["path"] == "/api/auth/me")
        .unwrap();
    for field in ["request_id", "method", "status", "latency_ms", "ip"] {
        assert!(!me[field].is_null(), "access log lacks {field}: {me}");
    }
    let all = logs.join("\n");
    for secret in [
        access.as_str(),
        refresh.as_str(),
        service_key,
        "secret-signature",
        "forged.token.value",
    ] {
        assert!(!all.contains(secret), "a secret reached the logs: {secret}");
    }
    // The access token's signature part alone must not appear either.
    assert!(!all.contains(access.rsplit('.').next().unwrap()));
}
