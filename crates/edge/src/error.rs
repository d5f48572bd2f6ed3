//! Why the edge could not start (or reload). Every variant names the config key, address or file
//! concerned and says what to do, because these messages are what an operator sees when
//! `minibase serve` refuses to start.

use std::io;
use std::path::PathBuf;

/// A startup (or reload) failure of the listeners or certificates.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A configured address is not a socket address.
    #[error(
        "config key `{key}`: {addr:?} is not a socket address; write host:port such as \"0.0.0.0:443\""
    )]
    BadAddr {
        /// The config key (`server.http_addr`, …).
        key: &'static str,
        /// What was configured.
        addr: String,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} (config key `{key}`): {source}; {hint}")]
    Bind {
        /// The config key (`server.http_addr`, …).
        key: &'static str,
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A certificate or key file is missing, unreadable or unusable.
    #[error("{}: {message}", path.display())]
    CertFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The TLS configuration cannot be used (names the key).
    #[error("{0}")]
    Tls(String),
    /// Reading or writing generated files under `server.data_dir` failed.
    #[error("{}: {source}", path.display())]
    DataDir {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl EdgeError {
    pub(crate) fn data_dir(path: impl Into<PathBuf>, source: io::Error) -> EdgeError {
        EdgeError::DataDir {
            path: path.into(),
            source,
        }
    }
}

/// The advice for a failed `bind()`.
pub(crate) fn bind_hint(err: &io::Error, port: u16) -> &'static str {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            "another process is using this port (nginx? another minibase?): stop it (`ss -ltnp` shows who) or choose another address"
        }
        io::ErrorKind::PermissionDenied if port < 1024 => {
            "ports below 1024 need CAP_NET_BIND_SERVICE: run under the shipped systemd unit (AmbientCapabilities=CAP_NET_BIND_SERVICE) or `sudo setcap cap_net_bind_service=+ep $(command -v minibase)`"
        }
        io::ErrorKind::PermissionDenied => {
            "the operating system refused: check SELinux/AppArmor or the user's rights"
        }
        io::ErrorKind::AddrNotAvailable => {
            "this machine has no such address: use 0.0.0.0 (all IPv4 addresses), [::] or one of the machine's own IPs (on cloud servers the public IP is usually not on the machine: use 0.0.0.0)"
        }
        _ => "check that the address belongs to this machine and the port is free",
    }
}
