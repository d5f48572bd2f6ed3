//! WeChat Pay API v3 for Minibase (微信支付 APIv3).
//!
//! - [`WechatPayClient`]: signs every request with the merchant key, verifies every answer
//!   (WeChat Pay public-key mode `PUB_KEY_ID_…` and platform-certificate mode, chosen by
//!   `Wechatpay-Serial`), with timeouts, bounded retries and clear [`PayError`]s. Calls:
//!   [`WechatPayClient::jsapi_prepay`], [`WechatPayClient::request_payment`] (the
//!   `wx.requestPayment` parameters), [`WechatPayClient::query_order`],
//!   [`WechatPayClient::close_order`], [`WechatPayClient::refund`],
//!   [`WechatPayClient::query_refund`], and [`WechatPayClient::parse_notification`] (verify
//!   the raw body, then decrypt).
//! - [`crypto`], [`sign`], [`verify`]: the primitives (merchant key, APIv3 AES-GCM, signature
//!   formats, the 5-minute window, `WECHATPAY/SIGNTEST/` probes).
//! - [`model`]: WeChat Pay's bodies and our input checks (amounts in fen, order numbers).
//!
//! ```no_run
//! # use minibase_pay as pay;
//! # async fn demo(cfg: config::Config) -> Result<(), pay::PayError> {
//! let opts = pay::PayOptions::from_config(&cfg)?.ok_or(pay::PayError::NotConfigured)?;
//! let client = pay::WechatPayClient::new(opts)?;
//! let prepay_id = client
//!     .jsapi_prepay(&pay::JsapiOrder {
//!         description: "一杯咖啡".into(),
//!         out_trade_no: "20240601000001".into(),
//!         total: 1800, // fen
//!         openid: "o-payer".into(),
//!         attach: None,
//!         time_expire: None,
//!     })
//!     .await?;
//! let payment = client.request_payment(&prepay_id).await?; // hand to wx.requestPayment
//! # let _ = payment; Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod crypto;
pub mod error;
pub mod model;
pub mod orders;
pub mod service;
pub mod sign;
pub mod verify;

pub use client::{PayOptions, WechatPayClient};
pub use error::PayError;
pub use model::{
    JsapiOrder, Notification, NotificationResource, Refund, RefundRequest, Transaction,
};
pub use sign::RequestPayment;
