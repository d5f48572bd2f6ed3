//! Test helpers shared by the integration tests and benches: fake upstreams that are real
//! HTTP servers on loopback (one module per fake).
//!
//! - [`fake_pay::FakeWechatPay`]: a WeChat Pay API v3 server (orders, refunds, certificates,
//!   signed answers in public-key / platform-certificate / mixed mode, signed and encrypted
//!   notifications with duplicates, retries and forgeries).

pub mod fake_pay;

pub use fake_pay::FakeWechatPay;
