//! The pay area's errors and their one mapping onto the API error envelope.
//!
//! WeChat Pay's own refusals become 502 `UPSTREAM_ERROR` with
//! `upstream: {service: "wechat_pay", errcode: null}` (WeChat Pay v3 codes are strings such as
//! `PARAM_ERROR`, so the code is put in the message, e.g. `wechat pay: ORDERPAID: 订单已支付`).

use mb_core::{ApiError, ErrorCode};

/// The `upstream.service` name of WeChat Pay.
pub const SERVICE: &str = "wechat_pay";

/// Everything that can go wrong in the pay area.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayError {
    /// `[wechat_pay] mchid` is not set.
    #[error(
        "WeChat Pay is not configured on this server (set [wechat_pay] mchid and the merchant keys)"
    )]
    NotConfigured,
    /// A configuration value is unusable (startup).
    #[error("wechat_pay configuration: {0}")]
    Config(String),
    /// Our caller's input is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// No such order or refund (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the order's state (409), e.g. closing a paid order.
    #[error("{0}")]
    Conflict(String),
    /// WeChat Pay answered with an error.
    #[error("wechat pay: {code}: {message}")]
    Upstream {
        /// HTTP status of WeChat Pay's answer.
        status: u16,
        /// WeChat Pay's error code (`PARAM_ERROR`, `ORDERPAID`, …).
        code: String,
        /// WeChat Pay's message.
        message: String,
    },
    /// WeChat Pay did not answer within the configured timeout (after retries).
    #[error("wechat pay did not answer in time")]
    Timeout,
    /// WeChat Pay could not be reached (after retries).
    #[error("wechat pay is unreachable: {0}")]
    Unreachable(String),
    /// An answer or a notification failed signature verification.
    #[error("wechat pay signature verification failed: {0}")]
    Verification(String),
    /// An answer or a notification could not be decrypted or parsed.
    #[error("wechat pay message could not be read: {0}")]
    BadMessage(String),
    /// A bug or a storage failure; logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl PayError {
    /// The WeChat Pay error code, when WeChat Pay answered with one.
    pub fn upstream_code(&self) -> Option<&str> {
        match self {
            PayError::Upstream { code, .. } => Some(code),
            _ => None,
        }
    }
    /// Whether a later attempt might succeed (timeouts, unreachable, WeChat Pay 5xx / rate limit).
    pub fn is_transient(&self) -> bool {
        match self {
            PayError::Timeout | PayError::Unreachable(_) => true,
            PayError::Upstream { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> ApiError {
        match e {
            PayError::NotConfigured => ApiError::unavailable(e.to_string()),
            PayError::Invalid(m) => ApiError::invalid(m),
            PayError::NotFound(m) => ApiError::not_found(m),
            PayError::Conflict(m) => ApiError::conflict(m),
            PayError::Upstream { .. } => {
                ApiError::upstream(ErrorCode::UpstreamError, SERVICE, None, e.to_string())
            }
            PayError::Timeout => {
                ApiError::upstream(ErrorCode::DeadlineExceeded, SERVICE, None, e.to_string())
            }
            PayError::Unreachable(_) => ApiError::upstream(
                ErrorCode::Unavailable,
                SERVICE,
                None,
                "wechat pay is unreachable, try again later",
            ),
            PayError::Verification(_) | PayError::BadMessage(_) => {
                tracing::warn!(error = %e, "wechat pay answer refused");
                ApiError::upstream(
                    ErrorCode::UpstreamError,
                    SERVICE,
                    None,
                    "wechat pay answer failed verification",
                )
            }
            PayError::Config(_) | PayError::Internal(_) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn upstream_maps_to_502_with_code_in_message() {
        let e: ApiError = PayError::Upstream {
            status: 400,
            code: "PARAM_ERROR".into(),
            message: "bad".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::UpstreamError);
        let body = e.to_body(None);
        assert_eq!(body["error"]["upstream"]["service"], "wechat_pay");
        assert!(body["error"]["upstream"].get("errcode").is_none());
        assert_eq!(body["error"]["message"], "wechat pay: PARAM_ERROR: bad");
        let t: ApiError = PayError::Timeout.into();
        assert_eq!(t.code, ErrorCode::DeadlineExceeded);
        let i: ApiError =
            PayError::Invalid("amount.total must be a positive integer".into()).into();
        assert_eq!(i.code, ErrorCode::InvalidArgument);
        assert!(
            PayError::Upstream {
                status: 500,
                code: "SYSTEM_ERROR".into(),
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !PayError::Upstream {
                status: 403,
                code: "ORDERPAID".into(),
                message: String::new()
            }
            .is_transient()
        );
    }
}
