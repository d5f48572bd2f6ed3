//! The WeChat area's error type and its conversions into the API envelope (API.md §0, §2).
//!
//! WeChat answers HTTP 200 with `{"errcode": N, "errmsg": "…"}` on failure; an absent errcode
//! (or 0) means success. We branch on `errcode` only, never on `errmsg`. Nothing in these
//! errors carries the AppSecret, a `session_key` or an access token: URLs are stripped from
//! transport errors because WeChat puts `secret=` and `access_token=` in query strings.

use mb_core::{ApiError, ErrorCode};

/// errcode: the access token is invalid or not the latest.
pub const ERR_INVALID_TOKEN: i64 = 40001;
/// errcode: the access token expired.
pub const ERR_EXPIRED_TOKEN: i64 = 42001;
/// errcode: system busy, retry later.
pub const ERR_BUSY: i64 = -1;
/// errcode: invalid login code.
pub const ERR_INVALID_CODE: i64 = 40029;
/// errcode: login code already used.
pub const ERR_CODE_USED: i64 = 40163;
/// errcode: rate limited.
pub const ERR_RATE_LIMITED: i64 = 45011;

/// Why a WeChat call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WechatError {
    /// WeChat refused with this errcode. `errmsg` is kept for logs and service callers.
    #[error("WeChat API error {errcode}: {errmsg}")]
    Api {
        /// WeChat's errcode.
        errcode: i64,
        /// WeChat's errmsg (informational only).
        errmsg: String,
    },
    /// No answer within `wechat.timeout`.
    #[error("WeChat API timed out")]
    Timeout,
    /// Could not reach WeChat, or it answered an HTTP error status.
    #[error("WeChat API unreachable: {0}")]
    Transport(String),
    /// WeChat answered something we could not understand.
    #[error("unexpected answer from the WeChat API: {0}")]
    BadResponse(String),
    /// A required setting is missing (e.g. `wechat.appid`).
    #[error("WeChat is not configured: {0} is empty")]
    NotConfigured(&'static str),
    /// The caller's request is invalid before anything is sent to WeChat.
    #[error("{0}")]
    InvalidRequest(String),
}

impl WechatError {
    /// WeChat's errcode, when WeChat gave one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// 40001 / 42001: refresh the access token and retry once.
    pub fn is_token_rejected(&self) -> bool {
        matches!(
            self.errcode(),
            Some(ERR_INVALID_TOKEN) | Some(ERR_EXPIRED_TOKEN)
        )
    }

    /// Worth retrying the same request: transport failures and errcode -1.
    pub fn is_transient(&self) -> bool {
        matches!(self, WechatError::Transport(_)) || self.errcode() == Some(ERR_BUSY)
    }

    /// The answer for `POST /api/auth/wechat/login` (API.md §2): 40029/40163 → 400, 45011 →
    /// 429, -1 → 503, any other errcode → 502, each with `upstream.errcode`.
    pub fn to_login_error(&self) -> ApiError {
        match self {
            WechatError::Api { errcode, .. } => {
                let (code, msg): (ErrorCode, &'static str) = match *errcode {
                    ERR_INVALID_CODE => (
                        ErrorCode::InvalidArgument,
                        "invalid login code: call wx.login again",
                    ),
                    ERR_CODE_USED => (
                        ErrorCode::InvalidArgument,
                        "login code already used: call wx.login again",
                    ),
                    ERR_RATE_LIMITED => (
                        ErrorCode::RateLimited,
                        "WeChat rate limit reached, retry later",
                    ),
                    ERR_BUSY => (ErrorCode::Unavailable, "WeChat is busy, retry later"),
                    _ => (ErrorCode::UpstreamError, "WeChat refused the login"),
                };
                upstream(code, Some(*errcode), msg.to_string())
            }
            other => self.transport_error(other),
        }
    }

    /// The answer for open-API and user-data calls: rate limits → 429, -1 → 503, errcodes that
    /// mean the request was wrong → 400, other errcodes → 502, each with `upstream.errcode`
    /// and WeChat's errmsg (never secret) in the message.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            WechatError::Api { errcode, errmsg } => {
                let code = match *errcode {
                    ERR_BUSY => ErrorCode::Unavailable,
                    45009 | ERR_RATE_LIMITED | 45047 | 45001 | 45002 => ErrorCode::RateLimited,
                    // bad code / openid / template / page / scene / data / argument
                    40003 | ERR_INVALID_CODE | ERR_CODE_USED | 40037 | 40097 | 40129 | 40169
                    | 41030 | 44002 | 44004 | 47001 | 47003 | 61451 | 85096 => {
                        ErrorCode::InvalidArgument
                    }
                    _ => ErrorCode::UpstreamError,
                };
                let shown: String = errmsg.chars().take(200).collect();
                upstream(
                    code,
                    Some(*errcode),
                    format!("WeChat errcode {errcode}: {shown}"),
                )
            }
            other => self.transport_error(other),
        }
    }

    fn transport_error(&self, e: &WechatError) -> ApiError {
        match e {
            WechatError::Timeout => upstream(
                ErrorCode::DeadlineExceeded,
                None,
                "WeChat API timed out".into(),
            ),
            WechatError::Transport(_) => upstream(
                ErrorCode::Unavailable,
                None,
                "WeChat API unreachable, retry later".into(),
            ),
            WechatError::BadResponse(_) => upstream(
                ErrorCode::UpstreamError,
                None,
                "unexpected answer from the WeChat API".into(),
            ),
            WechatError::NotConfigured(key) => ApiError::unavailable(format!(
                "WeChat is not configured on this server ({key} is empty)"
            )),
            WechatError::InvalidRequest(msg) => ApiError::invalid(msg.clone()),
            WechatError::Api { .. } => {
                ApiError::internal("unreachable: api error in transport_error")
            }
        }
    }
}

fn upstream(code: ErrorCode, errcode: Option<i64>, message: String) -> ApiError {
    let mut e = ApiError::upstream(code, "wechat", errcode, message);
    if code == ErrorCode::RateLimited || code == ErrorCode::Unavailable {
        e.retry_after = Some(1);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64) -> WechatError {
        WechatError::Api {
            errcode,
            errmsg: "x".into(),
        }
    }

    #[test]
    fn login_mapping_is_exactly_api_md() {
        for (errcode, status) in [
            (40029, 400),
            (40163, 400),
            (45011, 429),
            (-1, 503),
            (40226, 502),
            (40013, 502),
            (12345, 502),
        ] {
            let e = api(errcode).to_login_error();
            assert_eq!(e.code.status().as_u16(), status, "{errcode}");
            let up = e.upstream.unwrap();
            assert_eq!(up.service, "wechat");
            assert_eq!(up.errcode, Some(errcode));
        }
        assert_eq!(
            WechatError::Timeout.to_login_error().code,
            ErrorCode::DeadlineExceeded
        );
        assert_eq!(
            WechatError::Transport("x".into()).to_login_error().code,
            ErrorCode::Unavailable
        );
    }

    #[test]
    fn token_and_transient() {
        assert!(api(40001).is_token_rejected());
        assert!(api(42001).is_token_rejected());
        assert!(!api(40029).is_token_rejected());
        assert!(api(-1).is_transient());
        assert!(WechatError::Transport("x".into()).is_transient());
        assert!(!WechatError::Timeout.is_transient());
    }
}
