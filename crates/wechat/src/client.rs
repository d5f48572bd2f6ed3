//! The HTTP client for `wechat.api_base`: one reqwest client with `wechat.timeout`, bounded
//! retries, errcode parsing, and the two calls that need no access token: `sns/jscode2session`
//! (login) and `cgi-bin/stable_token` (the token itself).
//!
//! Retries: at most [`MAX_ATTEMPTS`] attempts, with a short backoff, when the request never
//! reached WeChat (connection errors), when WeChat answered errcode -1 (busy) or a 5xx status,
//! and — for idempotent calls only — after a timeout. A login code is single-use, so
//! jscode2session is not retried after a timeout: WeChat may have consumed it.

use crate::error::WechatError;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Attempts per call at most (the first one included).
pub const MAX_ATTEMPTS: u32 = 3;

/// What jscode2session answered. `session_key` is secret: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Code2Session {
    /// The user's openid under this AppID.
    pub openid: String,
    /// The unionid, when the AppID is bound to an open-platform account.
    pub unionid: Option<String>,
    /// The session key (base64 of 16 bytes). Never log it, never send it to a client.
    pub session_key: String,
}

impl std::fmt::Debug for Code2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code2Session")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("session_key", &"[redacted]")
            .finish()
    }
}

/// A stable_token answer.
#[derive(Clone)]
pub struct FetchedToken {
    /// The access token (secret).
    pub access_token: String,
    /// Lifetime in seconds, as WeChat said.
    pub expires_in: u64,
}

impl std::fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A raw WeChat answer: some APIs (wxacode) answer image bytes on success.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// The `Content-Type` WeChat sent (empty when none).
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

impl RawReply {
    /// Whether the body is JSON (an errcode answer or a JSON result).
    pub fn is_json(&self) -> bool {
        let ct = self.content_type.to_ascii_lowercase();
        ct.contains("json") || ct.starts_with("text/plain") || self.body.first() == Some(&b'{')
    }
}

/// Settings of a [`WechatClient`].
#[derive(Clone)]
pub struct ClientSettings {
    /// `wechat.api_base`, without a trailing slash.
    pub api_base: String,
    /// `wechat.appid`.
    pub appid: String,
    /// `wechat.secret`.
    pub secret: String,
    /// `wechat.timeout`: for one attempt.
    pub timeout: Duration,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("api_base", &self.api_base)
            .field("appid", &self.appid)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientSettings {
    /// From the `[wechat]` configuration section.
    pub fn from_config(cfg: &config::WechatConfig) -> Self {
        ClientSettings {
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
            appid: cfg.appid.clone(),
            secret: cfg.secret.expose().to_string(),
            timeout: cfg.timeout.get(),
        }
    }
}

/// The WeChat API client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WechatClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
}

/// One HTTP request to WeChat, before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub post: bool,
    pub path: &'a str,
    /// Query parameters; values may be secret (never logged).
    pub query: Vec<(&'a str, String)>,
    pub body: Option<Value>,
    /// Safe to resend after a timeout.
    pub idempotent: bool,
}

impl WechatClient {
    /// A client for these settings.
    pub fn new(settings: ClientSettings) -> Result<Self, WechatError> {
        let timeout = if settings.timeout.is_zero() {
            Duration::from_secs(5)
        } else {
            settings.timeout
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("minibase/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WechatError::Transport(e.without_url().to_string()))?;
        Ok(WechatClient {
            inner: Arc::new(Inner { http, settings }),
        })
    }

    /// A client from the `[wechat]` section.
    pub fn from_config(cfg: &config::WechatConfig) -> Result<Self, WechatError> {
        Self::new(ClientSettings::from_config(cfg))
    }

    /// Our AppID.
    pub fn appid(&self) -> &str {
        &self.inner.settings.appid
    }

    /// The API base URL.
    pub fn api_base(&self) -> &str {
        &self.inner.settings.api_base
    }

    fn require_credentials(&self) -> Result<(), WechatError> {
        if self.inner.settings.appid.is_empty() {
            return Err(WechatError::NotConfigured("wechat.appid"));
        }
        if self.inner.settings.secret.is_empty() {
            return Err(WechatError::NotConfigured("wechat.secret"));
        }
        Ok(())
    }

    /// `GET sns/jscode2session`: exchanges a `wx.login` code for openid, unionid and session_key.
    pub async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError> {
        self.require_credentials()?;
        let s = &self.inner.settings;
        let v = self
            .call_json(Call {
                post: false,
                path: "/sns/jscode2session",
                query: vec![
                    ("appid", s.appid.clone()),
                    ("secret", s.secret.clone()),
                    ("js_code", code.to_string()),
                    ("grant_type", "authorization_code".into()),
                ],
                body: None,
                idempotent: false,
            })
            .await?;
        let openid = str_field(&v, "openid")
            .ok_or_else(|| WechatError::BadResponse("jscode2session: no openid".into()))?;
        let session_key = str_field(&v, "session_key")
            .ok_or_else(|| WechatError::BadResponse("jscode2session: no session_key".into()))?;
        let unionid = str_field(&v, "unionid").filter(|u| !u.is_empty());
        Ok(Code2Session {
            openid,
            unionid,
            session_key,
        })
    }

    /// `POST cgi-bin/stable_token`: the stable access token (normal or force-refresh mode).
    pub async fn stable_token(&self, force_refresh: bool) -> Result<FetchedToken, WechatError> {
        self.require_credentials()?;
        let s = &self.inner.settings;
        let v = self
            .call_json(Call {
                post: true,
                path: "/cgi-bin/stable_token",
                query: vec![],
                body: Some(serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": s.appid,
                    "secret": s.secret,
                    "force_refresh": force_refresh,
                })),
                // normal mode is idempotent; a timed-out force refresh may have happened
                idempotent: !force_refresh,
            })
            .await?;
        let access_token = str_field(&v, "access_token")
            .ok_or_else(|| WechatError::BadResponse("stable_token: no access_token".into()))?;
        let expires_in = v
            .get("expires_in")
            .and_then(Value::as_u64)
            .ok_or_else(|| WechatError::BadResponse("stable_token: no expires_in".into()))?;
        Ok(FetchedToken {
            access_token,
            expires_in,
        })
    }

    /// Sends a call and parses a JSON answer, turning a non-zero errcode into an error.
    pub(crate) async fn call_json(&self, call: Call<'_>) -> Result<Value, WechatError> {
        let raw = self.call_raw(call).await?;
        parse_json(&raw.body)
    }

    /// Sends a call with bounded retries; the answer may be JSON or bytes. A JSON answer with
    /// errcode -1 is retried here; other errcodes are the caller's to interpret.
    pub(crate) async fn call_raw(&self, call: Call<'_>) -> Result<RawReply, WechatError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send_once(&call).await;
            let retry = match &result {
                Ok(raw) if raw.is_json() => matches!(
                    parse_json(&raw.body),
                    Err(WechatError::Api { errcode: -1, .. })
                ),
                Ok(_) => false,
                Err(WechatError::Transport(_)) => true,
                Err(WechatError::Timeout) => call.idempotent,
                Err(_) => false,
            };
            if !retry || attempt >= MAX_ATTEMPTS {
                return result;
            }
            tracing::debug!(path = call.path, attempt, "retrying WeChat API call");
            tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<RawReply, WechatError> {
        let url = format!("{}{}", self.inner.settings.api_base, call.path);
        let mut req = if call.post {
            self.inner.http.post(&url)
        } else {
            self.inner.http.get(&url)
        };
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.body {
            // WeChat wants UTF-8 JSON without escaping of non-ASCII characters.
            let bytes =
                serde_json::to_vec(body).map_err(|e| WechatError::InvalidRequest(e.to_string()))?;
            req = req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(bytes);
        }
        let res = req.send().await.map_err(map_reqwest)?;
        let status = res.status();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = res.bytes().await.map_err(map_reqwest)?;
        if status.is_server_error() {
            return Err(WechatError::Transport(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(WechatError::BadResponse(format!(
                "HTTP {}",
                status.as_u16()
            )));
        }
        Ok(RawReply { content_type, body })
    }
}

fn map_reqwest(e: reqwest::Error) -> WechatError {
    if e.is_timeout() {
        WechatError::Timeout
    } else {
        // without_url: WeChat URLs carry secret= and access_token=
        WechatError::Transport(e.without_url().to_string())
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Parses a JSON answer; a present, non-zero errcode is an error. An absent errcode is success.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, WechatError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| WechatError::BadResponse("not JSON".into()))?;
    if !v.is_object() {
        return Err(WechatError::BadResponse("not a JSON object".into()));
    }
    match v.get("errcode") {
        None | Some(Value::Null) => Ok(v),
        Some(c) => {
            let errcode = c
                .as_i64()
                .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| WechatError::BadResponse("errcode is not a number".into()))?;
            if errcode == 0 {
                Ok(v)
            } else {
                let errmsg = v
                    .get("errmsg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                Err(WechatError::Api { errcode, errmsg })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcode_parsing() {
        assert!(parse_json(br#"{"openid":"o","session_key":"k"}"#).is_ok());
        assert!(parse_json(br#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert_eq!(
            parse_json(br#"{"errcode":40029,"errmsg":"invalid code"}"#),
            Err(WechatError::Api {
                errcode: 40029,
                errmsg: "invalid code".into()
            })
        );
        // errmsg is never matched: a success with a scary message is still a success
        assert!(parse_json(br#"{"errcode":0,"errmsg":"invalid"}"#).is_ok());
        assert_eq!(
            parse_json(br#"{"errcode":"-1"}"#).unwrap_err().errcode(),
            Some(-1)
        );
        assert!(matches!(
            parse_json(b"<html>"),
            Err(WechatError::BadResponse(_))
        ));
        assert!(matches!(
            parse_json(b"[1]"),
            Err(WechatError::BadResponse(_))
        ));
    }

    #[test]
    fn debug_hides_secrets() {
        let s = Code2Session {
            openid: "o".into(),
            unionid: None,
            session_key: "SECRETKEY".into(),
        };
        assert!(!format!("{s:?}").contains("SECRETKEY"));
        let t = FetchedToken {
            access_token: "TOKENVALUE".into(),
            expires_in: 7200,
        };
        assert!(!format!("{t:?}").contains("TOKENVALUE"));
        let c = ClientSettings {
            api_base: "x".into(),
            appid: "wx".into(),
            secret: "APPSECRET".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{c:?}").contains("APPSECRET"));
    }
}
