//! Test support (feature `testing`): a real S3 server, s3s-fs, started on a free loopback port
//! over a temp directory, for this crate's tests and the HTTP tests of `crates/minibase`.
//!
//! The binary is installed by `scripts/test-deps.sh`; it is looked up in `$S3S_FS`,
//! `$MINIBASE_TOOLS_DIR/bin`, `~/.cache/minibase-tools/bin`, then `PATH`. A missing binary fails
//! the test with that instruction rather than skipping it silently.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running s3s-fs; killed on drop.
pub struct S3sFs {
    child: Option<Child>,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    /// Access key the server accepts.
    pub access_key: String,
    /// Secret key the server accepts.
    pub secret_key: String,
    /// A bucket created at start.
    pub bucket: String,
}

fn find_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return PathBuf::from(p);
    }
    let mut candidates = Vec::new();
    if let Ok(t) = std::env::var("MINIBASE_TOOLS_DIR") {
        candidates.push(Path::new(&t).join("bin/s3s-fs"));
    }
    if let Ok(h) = std::env::var("HOME") {
        candidates.push(Path::new(&h).join(".cache/minibase-tools/bin/s3s-fs"));
    }
    if let Ok(path) = std::env::var("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("s3s-fs")));
    }
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("s3s-fs not found: run scripts/test-deps.sh (installs it into ~/.cache/minibase-tools/bin), or set S3S_FS")
    })
}

impl S3sFs {
    /// Starts s3s-fs with a fresh directory and one bucket (`media`).
    pub fn start() -> S3sFs {
        let dir = tempfile::tempdir().expect("temp dir");
        let bucket = "media".to_string();
        std::fs::create_dir_all(dir.path().join(&bucket)).expect("bucket dir");
        let mut s = S3sFs {
            child: None,
            dir,
            addr: "127.0.0.1:1".parse().expect("addr"),
            access_key: format!("AK{}", mb_core::ids::random_hex(8)),
            secret_key: mb_core::ids::random_hex(20),
            bucket,
        };
        s.spawn(None);
        s
    }

    fn spawn(&mut self, port: Option<u16>) {
        let bin = find_binary();
        for _ in 0..5 {
            let port = port.unwrap_or_else(|| {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                l.local_addr().expect("addr").port()
            });
            let child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args([
                    "--access-key",
                    &self.access_key,
                    "--secret-key",
                    &self.secret_key,
                ])
                .arg(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    self.addr = addr;
                    return;
                }
                if let Some(c) = self.child.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break; // port taken: try another
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
        }
        panic!("s3s-fs did not start");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `storage.url` for the bucket.
    pub fn storage_url(&self) -> String {
        format!(
            "s3://{}?endpoint={}&region=us-east-1&path_style=true",
            self.bucket,
            self.endpoint()
        )
    }

    /// The directory s3s-fs serves (`<dir>/<bucket>/<key>`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (a backend that goes away).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.addr.port();
        self.spawn(Some(port));
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` reproducible bytes that do not compress or repeat (xorshift from `seed`): file contents
/// for round-trip tests, where a pattern could hide an offset bug.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
