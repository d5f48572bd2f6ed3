//! nginx (the Debian package) run as a child process with a generated configuration, as a peer
//! in tests (`minibase doctor` against wrongly configured servers) and benchmarks. The prefix,
//! pid file, logs and temp paths all live in a temporary directory; the process runs under
//! `timeout` and is stopped (SIGTERM to `timeout`, passed on to nginx) when the value drops.

use crate::process::Proc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MAX_LIFETIME_SECS: u32 = 900;

/// The nginx binary (`/usr/sbin` is not on every PATH).
pub fn binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}

/// Whether nginx is installed.
pub fn installed() -> bool {
    Command::new(binary())
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running nginx.
pub struct Nginx {
    _proc: Proc,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `servers` (the contents of the `http {}` block: `server { … }`
    /// blocks) and waits until every port in `ports` accepts connections. Panics with nginx's
    /// error log when it refuses the configuration.
    pub async fn start(servers: &str, ports: &[u16]) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{servers}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let check = Command::new(binary())
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .output()
            .expect("nginx is installed (scripts/test-deps.sh)");
        assert!(
            check.status.success(),
            "nginx refused the configuration: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("timeout")
            .args(["-k", "5", &MAX_LIFETIME_SECS.to_string()])
            .arg(binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/test-deps.sh)");
        let nginx = Nginx {
            _proc: Proc::new(child),
            dir,
        };
        for port in ports {
            let mut up = false;
            for _ in 0..200 {
                if tokio::net::TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .is_ok()
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(up, "nginx did not listen on {port}: {}", nginx.error_log());
        }
        nginx
    }

    /// The prefix directory (certificates can be written here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The master process id, for RSS measurements.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}
