//! Binding listening sockets: parse the configured address, set the options a busy server
//! wants (SO_REUSEADDR, a deep accept backlog, dual-stack `[::]`), and turn OS errors into
//! startup errors that name the key and say what to do.

use crate::error::{EdgeError, bind_hint};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Accept backlog requested (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// Binds `addr` (the value of config key `key`).
pub(crate) fn bind(key: &'static str, addr: &str) -> Result<TcpListener, EdgeError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| EdgeError::BadAddr {
        key,
        addr: addr.to_string(),
    })?;
    let err = |source: std::io::Error| EdgeError::Bind {
        key,
        addr: addr.to_string(),
        hint: bind_hint(&source, parsed.port()),
        source,
    };
    let socket = Socket::new(
        Domain::for_address(parsed),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    if parsed.is_ipv6() && parsed.ip().is_unspecified() {
        // `[::]:443` should also accept IPv4, as nginx's `listen [::]:443` users expect.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&parsed.into()).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)?;
    TcpListener::from_std(socket.into()).map_err(err)
}
