//! Why an invocation failed, and how each reason is answered over HTTP (API.md §0).
//!
//! The mapping is written out, not derived: a function's own failure (an exception it threw,
//! code that does not load, a memory bomb) is answered as `UPSTREAM_ERROR` (502) with
//! `upstream.service = "function"` and the JavaScript message in `message`, the way CloudBase
//! hands the error message to `wx.cloud.callFunction`'s `fail`. A timeout is
//! `DEADLINE_EXCEEDED` (504), a full queue `UNAVAILABLE` (503, `Retry-After`), an unknown
//! function `NOT_FOUND` (404). Stacks go to the logs only.

use mb_core::{ApiError, ErrorCode};

/// The `upstream.service` of errors raised by a function's own code.
pub const UPSTREAM_SERVICE: &str = "function";

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    /// The name is not a valid function name (letters, digits, `-`, `_`).
    #[error("invalid function name: use letters, digits, '-' and '_' (at most 64)")]
    BadName,
    /// No folder with an `index.js` for this name.
    #[error("no function named '{0}'")]
    NotFound(String),
    /// The request could not be turned into an event.
    #[error("{0}")]
    BadRequest(String),
    /// The function's code (or its `config.json`) does not load.
    #[error("function '{name}' failed to load: {message}")]
    Load {
        /// Function name.
        name: String,
        /// What went wrong, with file and line when known.
        message: String,
    },
    /// The function threw (or its promise rejected).
    #[error("{message}")]
    Thrown {
        /// Function name.
        name: String,
        /// `Name: message` of the JavaScript error.
        message: String,
    },
    /// The invocation ran past its timeout and was stopped.
    #[error("function '{name}' timed out after {ms} ms")]
    Timeout {
        /// Function name.
        name: String,
        /// The timeout that applied.
        ms: u64,
    },
    /// The instance ran out of its memory limit and was discarded.
    #[error("function '{name}' exceeded its memory limit of {mib} MiB")]
    Memory {
        /// Function name.
        name: String,
        /// The limit in MiB.
        mib: u64,
    },
    /// The instance's worker process died during the call (Node.js runtime): it is replaced.
    #[error("function '{name}' worker process died during the call: {message}")]
    Crashed {
        /// Function name.
        name: String,
        /// How it ended (exit code or signal), and its last error output.
        message: String,
    },
    /// Every instance is busy and the wait queue is full (or the wait took too long).
    #[error("function '{name}' is busy, retry later")]
    Busy {
        /// Function name.
        name: String,
    },
    /// An HTTP-triggered function returned something that is not a valid response.
    #[error("function '{name}' returned an invalid HTTP response: {message}")]
    BadResponse {
        /// Function name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// Minibase is shutting down.
    #[error("functions are shutting down")]
    ShuttingDown,
    /// A bug on our side; the cause is logged, never answered.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<FunctionError> for ApiError {
    fn from(e: FunctionError) -> Self {
        let message = e.to_string();
        match e {
            FunctionError::BadName | FunctionError::BadRequest(_) => ApiError::invalid(message),
            FunctionError::NotFound(_) => ApiError::not_found(message),
            FunctionError::Load { .. }
            | FunctionError::Thrown { .. }
            | FunctionError::Memory { .. }
            | FunctionError::Crashed { .. }
            | FunctionError::BadResponse { .. } => {
                ApiError::upstream(ErrorCode::UpstreamError, UPSTREAM_SERVICE, None, message)
            }
            FunctionError::Timeout { .. } => ApiError::new(ErrorCode::DeadlineExceeded, message),
            FunctionError::Busy { .. } => {
                let mut e = ApiError::unavailable(message);
                e.retry_after = Some(1);
                e
            }
            FunctionError::ShuttingDown => {
                let mut e = ApiError::unavailable(message);
                e.retry_after = Some(5);
                e
            }
            FunctionError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let thrown = FunctionError::Thrown {
            name: "a".into(),
            message: "Error: boom".into(),
        };
        let e = ApiError::from(thrown);
        assert_eq!(e.code, ErrorCode::UpstreamError);
        assert_eq!(e.message, "Error: boom");
        assert_eq!(e.upstream.as_ref().map(|u| u.service), Some("function"));
        let t = ApiError::from(FunctionError::Timeout {
            name: "a".into(),
            ms: 5,
        });
        assert_eq!(t.code.status().as_u16(), 504);
        let b = ApiError::from(FunctionError::Busy { name: "a".into() });
        assert_eq!(b.code.status().as_u16(), 503);
        assert_eq!(b.retry_after, Some(1));
        assert_eq!(
            ApiError::from(FunctionError::NotFound("x".into())).code,
            ErrorCode::NotFound
        );
        assert_eq!(
            ApiError::from(FunctionError::BadName).code,
            ErrorCode::InvalidArgument
        );
    }
}
