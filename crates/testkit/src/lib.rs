//! Test helpers shared by the integration tests and benches:
//!
//! - `TestServer` (feature `harness`): the real Minibase server (every area, every middleware,
//!   the real listeners of `edge`) on `127.0.0.1:0` with a temporary data directory, dev login
//!   on and a random service key, plus helpers to sign users in.
//!
//! Fake upstreams are real HTTP servers on loopback (one module per fake):
//!
//! - [`fake_pay::FakeWechatPay`]: a WeChat Pay API v3 server (orders, refunds, certificates,
//!   signed answers in public-key / platform-certificate / mixed mode, signed and encrypted
//!   notifications with duplicates, retries and forgeries).
//! - [`fake_wechat::FakeWechat`]: the WeChat API (`api.weixin.qq.com`): login codes, the
//!   stable access token, phone numbers, content security, subscribe messages, mini-program
//!   codes; errors on demand ([`fake_wechat::Fault`]) and call counters
//!   ([`fake_wechat::Endpoint`]).
//! - [`fake_dns`]: DNS provider APIs for DNS-01 (DNSPod, Alibaba Cloud DNS, Cloudflare), with
//!   their request signatures checked.
//! - [`pebble`]: Pebble (ACME test CA) and pebble-challtestsrv as child processes.
//! - [`nginx`]: nginx with a generated configuration, as a peer for tests and benchmarks.
//! - [`pki`]: a root → intermediate → leaf test PKI (ECDSA and RSA) for TLS tests.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod fake_dns;
pub mod fake_pay;
pub mod fake_wechat;
#[cfg(feature = "harness")]
mod harness;
pub mod nginx;
pub mod pebble;
pub mod pki;
mod process;

pub use fake_pay::FakeWechatPay;
pub use fake_wechat::{FakeUser, FakeWechat, FakeWechatOptions};
#[cfg(feature = "harness")]
pub use harness::{TestServer, TestServerBuilder};
