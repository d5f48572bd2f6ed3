//! The storage area's errors, close to their HTTP meaning, and their one conversion into the
//! API error envelope (written out: no blanket conversion turns an upstream failure into a 500).

use mb_core::{ApiError, ErrorCode};
use std::io;

/// What can go wrong storing or reading an object.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The `cloudPath` (or backend key) is not acceptable; the message says why.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// The body was larger than the limit; nothing was stored.
    #[error("file is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// No such object.
    #[error("no such file")]
    NotFound,
    /// The requested byte range lies outside the object.
    #[error("range not satisfiable (object is {size} bytes)")]
    RangeNotSatisfiable {
        /// The object's size, for `Content-Range: bytes */size`.
        size: u64,
    },
    /// The key cannot be stored because of another object (local disk: `a` is a file and
    /// `a/b` is wanted, or the other way round).
    #[error("path conflicts with an existing file or folder: {0}")]
    Conflict(String),
    /// Reading the incoming body failed (client went away, idle timeout, malformed multipart).
    #[error("upload interrupted: {0}")]
    Body(io::Error),
    /// The object store could not be reached or timed out.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
    /// The object store answered with an error.
    #[error("object storage refused: {code}: {message}")]
    Upstream {
        /// HTTP status from the store.
        status: u16,
        /// The store's error code (`AccessDenied`, `NoSuchBucket`, …).
        code: String,
        /// The store's message.
        message: String,
    },
    /// Local I/O failed (disk full, permissions).
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
    /// The configuration (`storage.url`, credentials) is not usable.
    #[error("storage configuration: {0}")]
    Config(String),
}

/// Marks the error a size-limited body stream yields when the limit is passed, so that the
/// backends' generic "body failed" path can be told apart from a real client error.
#[derive(Debug)]
pub(crate) struct LimitExceeded(pub u64);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "body exceeds {} bytes", self.0)
    }
}
impl std::error::Error for LimitExceeded {}

impl StorageError {
    /// Turns a body-stream error into `TooLarge` when it is the limit marker, `Body` otherwise.
    pub(crate) fn from_body(e: io::Error) -> StorageError {
        if let Some(l) = e.get_ref().and_then(|i| i.downcast_ref::<LimitExceeded>()) {
            return StorageError::TooLarge { limit: l.0 };
        }
        StorageError::Body(e)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::InvalidPath(m) => ApiError::invalid(format!("invalid cloudPath: {m}")),
            StorageError::TooLarge { limit } => ApiError::too_large(format!(
                "file is larger than the upload limit ({limit} bytes)"
            )),
            StorageError::NotFound => ApiError::not_found("no such file"),
            StorageError::RangeNotSatisfiable { .. } => {
                ApiError::new(ErrorCode::InvalidArgument, "range not satisfiable")
            }
            StorageError::Conflict(m) => ApiError::conflict(m),
            StorageError::Body(e) => ApiError::invalid(format!("upload interrupted: {e}")),
            StorageError::Unavailable(m) => {
                tracing::warn!(error = %m, "object storage unavailable");
                ApiError::upstream(
                    ErrorCode::Unavailable,
                    "s3",
                    None,
                    "object storage is unavailable, try again",
                )
            }
            StorageError::Upstream {
                status,
                code,
                message,
            } => {
                tracing::warn!(status, code = %code, message = %message, "object storage refused");
                ApiError::upstream(
                    ErrorCode::UpstreamError,
                    "s3",
                    None,
                    format!("object storage refused the request ({code})"),
                )
            }
            StorageError::Io(e) => ApiError::internal(format!("storage I/O: {e}")),
            StorageError::Config(m) => ApiError::internal(format!("storage configuration: {m}")),
        }
    }
}
