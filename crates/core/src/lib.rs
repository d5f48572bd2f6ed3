//! The vocabulary every Minibase area shares with the wire contract (API.md §0):
//!
//! - [`ApiError`] and [`ErrorCode`]: the one error envelope
//!   `{"error":{"code","message","request_id","upstream"?}}`; every area converts its own
//!   errors into it, and `server` fills in the request id.
//! - [`Caller`]: who is calling (a mini-program user, a service holding the service key, an
//!   admin, or nobody), as established by the auth middleware and read by rules.
//! - [`ids`]: time-sortable document ids and random tokens.
//!
//! This crate stays small on purpose: anything here is a dependency of every other crate.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod caller;
pub mod conn;
pub mod error;
pub mod ids;

pub use auth::{Authenticate, Authenticator, CallerSlot, RequestContext};
pub use caller::{Caller, UserIdentity};
pub use conn::ConnectionInfo;
pub use error::{ApiError, ErrorCode, Upstream, error_chain};

/// Milliseconds since the Unix epoch, the unit of `now` in rules and of `$date` values.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
