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
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("minibase {}", env!("CARGO_PKG_VERSION")));
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
    let out = bin().args(["init", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let toml_text = std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap();
    assert!(toml_text.contains("# "));
    let env_text = std::fs::read_to_string(dir.path().join(".env.example")).unwrap();
    assert!(env_text.contains("MINIBASE_WECHAT__SECRET="));
    // No secret values in either file.
    for line in env_text.lines().filter(|l| !l.starts_with('#') && l.contains('=')) {
        assert!(line.ends_with('='), "{line}");
    }
    // The written config loads.
    let cfg = config::load_from(
        config::Sources { file: Some(dir.path().join("minibase.toml")), env: Default::default() },
        None,
    )
    .unwrap();
    assert!(cfg.collections.contains_key("todos"));
    // A second init refuses, --force overwrites.
    std::fs::write(dir.path().join("minibase.toml"), "# mine").unwrap();
    let out = bin().args(["init", "--dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap(), "# mine");
    let out = bin().args(["init", "--force", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    assert_ne!(std::fs::read_to_string(dir.path().join("minibase.toml")).unwrap(), "# mine");
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

#[test]
fn bad_configs_exit_non_zero_naming_the_key() {
    let cases: &[(&str, &[(&str, &str)], &str)] = &[
        ("[server]\nhttp_adr = \"127.0.0.1:0\"\n", &[], "server.http_adr"),
        ("[auth]\naccess_ttl = \"forever\"\n", &[], "auth.access_ttl"),
        ("[tls]\nmode = \"files\"\n", &[], "tls.cert_file"),
        ("", &[("MINIBASE_LIMITS__BODY", "huge")], "limits.body"),
        ("", &[("MINIBASE_SERVR__HTTP_ADDR", "x")], "servr.http_addr"),
        (
            "[auth]\ndev_login = true\n[tls]\nmode = \"files\"\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n",
            &[],
            "auth.dev_login",
        ),
        ("[server]\nhttp_addr = \"127.0.0.1:0\"\n[collections.todos]\nread = \"doc._openid ==\"\n", &[], "collections.todos.read"),
    ];
    for (cfg, env, key) in cases {
        let out = serve_with(cfg, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cfg} should be refused");
        assert!(err.contains(key), "{cfg}: stderr should name {key}: {err}");
    }
    // A missing config file is named too.
    let out = bin().args(["serve", "--config", "/nonexistent/minibase.toml"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/minibase.toml"));
}

/// Starts `minibase serve` on a free port and returns the child and its address.
pub fn spawn_server(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (std::process::Child, String) {
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
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("minibase is serving") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let http = v["http"].as_str().unwrap_or("").trim_start_matches("Some(").trim_end_matches(')').to_string();
                let _ = tx.send(http);
                sent = true;
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(20)).expect("server announced its address");
    (child, addr)
}

/// Sends a signal (`TERM`, `HUP`, `KILL`) to a child process.
pub fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

#[test]
fn serve_starts_fast_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (mut child, addr) = spawn_server(dir.path(), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let res = http.get(format!("http://{addr}/api/health")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        eprintln!("start to first request: {:?}", started.elapsed());
    });
    signal(&child, "TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
