//! `DbError`: what can go wrong in the document database, close to its HTTP meaning, and the
//! written-out conversion into the API envelope ([`mb_core::ApiError`]). Client errors carry
//! messages safe to show; [`DbError::Internal`] carries the real cause, which is logged by
//! the conversion and never answered.

use mb_core::ApiError;
use std::borrow::Cow;
use std::fmt;

/// An error of the document database.
#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// No such document (only where absence is an error, e.g. an update that requires one).
    NotFound(Cow<'static, str>),
    /// Duplicate `_id` or a unique index violated.
    Conflict(Cow<'static, str>),
    /// A rule said no, or the collection is not opened to this caller.
    PermissionDenied(Cow<'static, str>),
    /// Malformed input: unknown operator, bad path, bad id, wrong type, …
    Invalid(Cow<'static, str>),
    /// A document over `limits.document`.
    TooLarge(Cow<'static, str>),
    /// The database is shutting down or overloaded.
    Unavailable(Cow<'static, str>),
    /// A bug or an I/O failure; the message is for logs only.
    Internal(String),
}

impl DbError {
    /// 400-class: malformed input.
    pub fn invalid(msg: impl Into<Cow<'static, str>>) -> Self {
        DbError::Invalid(msg.into())
    }
    /// 403-class.
    pub fn denied(msg: impl Into<Cow<'static, str>>) -> Self {
        DbError::PermissionDenied(msg.into())
    }
    /// 409-class.
    pub fn conflict(msg: impl Into<Cow<'static, str>>) -> Self {
        DbError::Conflict(msg.into())
    }
    /// 500-class; `cause` is logged, never answered.
    pub fn internal(cause: impl fmt::Display) -> Self {
        DbError::Internal(cause.to_string())
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NotFound(m) => write!(f, "not found: {m}"),
            DbError::Conflict(m) => write!(f, "conflict: {m}"),
            DbError::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            DbError::Invalid(m) => write!(f, "invalid: {m}"),
            DbError::TooLarge(m) => write!(f, "too large: {m}"),
            DbError::Unavailable(m) => write!(f, "unavailable: {m}"),
            DbError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => ApiError::not_found(m),
            DbError::Conflict(m) => ApiError::conflict(m),
            DbError::PermissionDenied(m) => ApiError::denied(m),
            DbError::Invalid(m) => ApiError::invalid(m),
            DbError::TooLarge(m) => ApiError::too_large(m),
            DbError::Unavailable(m) => ApiError::unavailable(m),
            DbError::Internal(cause) => ApiError::internal(format_args!("docdb: {cause}")),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            if f.code == rusqlite::ErrorCode::ConstraintViolation {
                let unique = msg.as_deref().unwrap_or("");
                if unique.contains(".id")
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                {
                    return DbError::conflict("a document with this _id already exists");
                }
                return DbError::conflict("a unique index of this collection is violated");
            }
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) {
                return DbError::Unavailable("database busy, retry".into());
            }
        }
        DbError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mb_core::ErrorCode;

    #[test]
    fn maps_to_envelope_codes() {
        let cases = [
            (DbError::NotFound("x".into()), ErrorCode::NotFound),
            (DbError::conflict("x"), ErrorCode::Conflict),
            (DbError::denied("x"), ErrorCode::PermissionDenied),
            (DbError::invalid("x"), ErrorCode::InvalidArgument),
            (DbError::TooLarge("x".into()), ErrorCode::PayloadTooLarge),
            (DbError::Unavailable("x".into()), ErrorCode::Unavailable),
        ];
        for (e, code) in cases {
            assert_eq!(ApiError::from(e).code, code);
        }
        let api = ApiError::from(DbError::internal("SELECT secret FROM /var/x"));
        assert_eq!(api.code, ErrorCode::Internal);
        assert!(!api.message.contains("SELECT"));
    }
}
