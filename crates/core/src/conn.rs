//! What the listener knows about the connection a request came on. `edge` inserts a
//! [`ConnectionInfo`] into every request's extensions; `server` derives the client IP from it
//! (believing `X-Forwarded-For` only from trusted proxies) and the scheme for absolute URLs.

use std::net::SocketAddr;

/// The connection a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The peer's address (a proxy's, when behind one).
    pub remote: SocketAddr,
    /// The listener's address.
    pub local: SocketAddr,
    /// Whether the connection is TLS (the request came in as `https`).
    pub tls: bool,
}
