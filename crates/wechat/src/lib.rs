//! The WeChat platform for Minibase (API.md §2, §7): everything a mini-program backend must
//! otherwise hand-write, done once.
//!
//! - [`client::WechatClient`]: the HTTP client for `wechat.api_base` (timeouts from
//!   `wechat.timeout`, bounded retries, errcode parsing; secrets never in logs or errors), with
//!   `jscode2session` ([`WechatClient::code2session`]) and `stable_token`.
//! - [`token::AccessTokenManager`]: the one shared access token — single-flight, refreshed
//!   before expiry, persisted in a [`token::KvStore`] and shared by instances through a lease;
//!   [`AccessTokenManager::call`] refreshes once and retries once on 40001/42001.
//!   [`kv_docdb::DocdbKv`] is the store over the document database's internal `_kv`.
//! - [`openapi::OpenApi`]: typed open-API clients (`msgSecCheck`, `mediaCheckAsync`,
//!   `subscribeMessage.send`, `wxacode.getUnlimited`, `phonenumber.getPhoneNumber`) and
//!   [`OpenApi::call_by_name`] for HTTP and functions.
//! - [`data`]: user data — `encryptedData` decryption with the watermark check, `rawData`
//!   signatures.
//! - [`push`]: message push — URL verification, plain and safe mode (WXBizMsgCrypt), JSON and
//!   XML, timestamp window and replay cache.
//! - [`error::WechatError`]: one error type, converted into the API envelope by
//!   [`WechatError::to_login_error`] (exactly API.md §2) and [`WechatError::to_api_error`].
//!
//! [`Wechat`] bundles them as the server (and functions, and pay) use them:
//!
//! ```no_run
//! # use minibase_wechat as wechat;
//! # async fn demo(cfg: &config::WechatConfig) -> Result<(), wechat::WechatError> {
//! use std::sync::Arc;
//! let wx = wechat::Wechat::new(cfg, Arc::new(wechat::MemoryKv::default()))?;
//! let session = wx.client().code2session("code-from-wx.login").await?;
//! let verdict = wx
//!     .openapi()
//!     .msg_sec_check(&wechat::openapi::MsgSecCheck {
//!         content: "hello".into(), version: 2, scene: 2, openid: session.openid.clone(),
//!         title: None, nickname: None, signature: None,
//!     })
//!     .await?;
//! assert!(!verdict.result.suggest.is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod data;
pub mod error;
pub mod kv_docdb;
pub mod openapi;
pub mod push;
pub mod token;

pub use client::{ClientSettings, Code2Session, WechatClient};
pub use error::WechatError;
pub use kv_docdb::DocdbKv;
pub use openapi::{OpenApi, OpenApiReply};
pub use push::{PushCrypto, PushError, PushHandler, PushMessage, PushQuery, ReplayCache};
pub use token::{AccessTokenManager, KvEntry, KvStore, MemoryKv};

use std::sync::Arc;

/// The WeChat area as one cheap-to-clone handle: client, token manager, open APIs, push crypto.
#[derive(Clone, Debug)]
pub struct Wechat {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: WechatClient,
    tokens: Arc<AccessTokenManager>,
    openapi: OpenApi,
    push: Option<PushCrypto>,
    replay: ReplayCache,
    push_function: String,
    push_handler: parking_lot::RwLock<Option<Arc<dyn PushHandler>>>,
}

impl std::fmt::Debug for dyn PushHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushHandler")
    }
}

impl Wechat {
    /// Builds the area from `[wechat]`, persisting the access token in `store`.
    pub fn new(cfg: &config::WechatConfig, store: Arc<dyn KvStore>) -> Result<Self, WechatError> {
        let client = WechatClient::from_config(cfg)?;
        let tokens = Arc::new(AccessTokenManager::new(client.clone(), store));
        let openapi = OpenApi::new(tokens.clone());
        let push = if cfg.push_token.is_empty() {
            None
        } else {
            Some(
                PushCrypto::new(cfg.push_token.expose(), cfg.push_aes_key.expose(), &cfg.appid)
                    .ok_or_else(|| {
                        WechatError::InvalidRequest(
                            "wechat.push_aes_key must be the 43-character EncodingAESKey from the console (letters and digits)"
                                .into(),
                        )
                    })?,
            )
        };
        let replay = ReplayCache::new(2 * push::DEFAULT_WINDOW_SECS, 100_000);
        Ok(Wechat {
            inner: Arc::new(Inner {
                client,
                tokens,
                openapi,
                push,
                replay,
                push_function: cfg.push_function.clone(),
                push_handler: parking_lot::RwLock::new(None),
            }),
        })
    }

    /// The HTTP client (login, stable_token).
    pub fn client(&self) -> &WechatClient {
        &self.inner.client
    }
    /// Our AppID.
    pub fn appid(&self) -> &str {
        self.inner.client.appid()
    }
    /// The shared access token.
    pub fn tokens(&self) -> &Arc<AccessTokenManager> {
        &self.inner.tokens
    }
    /// The typed open-API clients.
    pub fn openapi(&self) -> &OpenApi {
        &self.inner.openapi
    }
    /// Message push crypto, when `wechat.push_token` is set.
    pub fn push(&self) -> Option<&PushCrypto> {
        self.inner.push.as_ref()
    }
    /// The replay cache of accepted push messages.
    pub fn replay_cache(&self) -> &ReplayCache {
        &self.inner.replay
    }
    /// `wechat.push_function`: the function accepted pushes are handed to (empty = none).
    pub fn push_function(&self) -> &str {
        &self.inner.push_function
    }
    /// Registers where accepted push messages go (the functions area does, at startup).
    pub fn set_push_handler(&self, handler: Arc<dyn PushHandler>) {
        *self.inner.push_handler.write() = Some(handler);
    }
    /// The registered push handler.
    pub fn push_handler(&self) -> Option<Arc<dyn PushHandler>> {
        self.inner.push_handler.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_encoding_aes_key_is_refused_with_its_name() {
        let mut cfg = config::WechatConfig {
            appid: "wx1".into(),
            ..Default::default()
        };
        cfg.push_token = config::Secret::new("t");
        cfg.push_aes_key = config::Secret::new("*".repeat(43));
        let e = Wechat::new(&cfg, Arc::new(MemoryKv::default())).unwrap_err();
        assert!(e.to_string().contains("wechat.push_aes_key"), "{e}");
        cfg.push_aes_key = config::Secret::new("");
        let w = Wechat::new(&cfg, Arc::new(MemoryKv::default())).unwrap();
        assert!(w.push().is_some_and(|p| !p.has_key()));
    }
}
