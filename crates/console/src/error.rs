//! The console's own refusals, each mapped to the API envelope with a stable code. Errors of
//! the areas the console drives (documents, files, payments, functions) keep their own
//! conversions into [`ApiError`].

use mb_core::{ApiError, ErrorCode};

/// Why the console refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleError {
    /// No console session, or an expired one (401).
    NoSession,
    /// A bearer token (user token, service key) was sent to the console API (401).
    TokenRefused,
    /// A change without the session's CSRF token, or from another site (403).
    Csrf,
    /// Wrong name, password or one-time code (401).
    BadCredentials,
    /// Too many failed sign-ins (429 with `Retry-After`).
    LockedOut {
        /// Seconds until the admin may try again.
        retry_after: u64,
    },
    /// Too many sign-in attempts from one address (429).
    TooManyAttempts {
        /// Seconds until the address may try again.
        retry_after: u64,
    },
    /// A request the console cannot act on (400).
    Invalid(String),
}

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> ApiError {
        match e {
            ConsoleError::NoSession => ApiError::unauthenticated("sign in to the console first"),
            ConsoleError::TokenRefused => ApiError::unauthenticated(
                "the console API takes the console session only; tokens and the service key are refused here",
            ),
            ConsoleError::Csrf => ApiError::denied(
                "missing or wrong CSRF token (X-CSRF-Token), or a request from another site",
            ),
            ConsoleError::BadCredentials => {
                ApiError::unauthenticated("wrong name, password or one-time code")
            }
            ConsoleError::LockedOut { retry_after } => {
                let mut e = ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "too many failed sign-ins: this admin is locked for {} more minute(s)",
                        retry_after.div_ceil(60)
                    ),
                );
                e.retry_after = Some(retry_after.max(1));
                e
            }
            ConsoleError::TooManyAttempts { retry_after } => ApiError::rate_limited(retry_after),
            ConsoleError::Invalid(m) => ApiError::invalid(m),
        }
    }
}

impl axum::response::IntoResponse for ConsoleError {
    fn into_response(self) -> axum::response::Response {
        ApiError::from(self).into_response()
    }
}
