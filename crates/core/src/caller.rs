//! Who is calling. Established once per request by `server`'s auth extractor; read by rules
//! (`auth.openid`, `auth.unionid`, `auth.uid`), by `_openid` stamping and by functions
//! (`cloud.getWXContext()`).

use serde::Serialize;

/// A signed-in mini-program user, as carried by a valid access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserIdentity {
    /// Our user id (`_users._id`), `auth.uid` in rules.
    pub uid: String,
    /// The platform's openid, `auth.openid` in rules; stamped as `_openid` on writes.
    pub openid: String,
    /// The WeChat unionid when the platform gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// `"wechat"`, later `"alipay"`, … (and `"dev"` for dev logins).
    pub platform: String,
    /// The login session this token belongs to (revoked on logout).
    #[serde(skip)]
    pub session_id: String,
}

/// The three kinds of caller of API.md §0, plus nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were presented.
    Anonymous,
    /// A mini-program user; rules apply.
    User(UserIdentity),
    /// A server holding the service key; rules do not apply.
    Service,
    /// A console operator; rules do not apply.
    Admin,
    /// Minibase itself (system collections, payment notifications, timers).
    System,
}

impl Caller {
    /// Whether rules are bypassed for this caller.
    pub fn is_privileged(&self) -> bool {
        matches!(self, Caller::Service | Caller::Admin | Caller::System)
    }
    /// The user, when the caller is one.
    pub fn user(&self) -> Option<&UserIdentity> {
        match self {
            Caller::User(u) => Some(u),
            _ => None,
        }
    }
    /// The openid to stamp on writes and to expose as `auth.openid`.
    pub fn openid(&self) -> Option<&str> {
        self.user().map(|u| u.openid.as_str())
    }
    /// A short label for logs and metrics: `user`, `service`, `admin`, `system`, `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::User(_) => "user",
            Caller::Service => "service",
            Caller::Admin => "admin",
            Caller::System => "system",
        }
    }
}
