//! Fake DNS provider APIs for DNS-01 tests: real HTTP servers on loopback that check request
//! signatures the way the real APIs do and keep TXT records in memory.
//!
//! - [`FakeDnspod`]: Tencent Cloud API 3.0 (`dnspod.tencentcloudapi.com`), TC3-HMAC-SHA256
//!   checked over the signed headers and the body, timestamps within 5 minutes.
//! - [`FakeAlidns`]: Alibaba Cloud RPC API (`alidns.aliyuncs.com`), signature v1 (HMAC-SHA1)
//!   recomputed from the received parameters, timestamps within 15 minutes, nonces single-use.
//! - [`FakeCloudflare`]: Cloudflare API v4 with an API token.
//!
//! Each can push the records it holds to a `pebble-challtestsrv` ([`crate::pebble::ChallTestSrv`])
//! so Pebble's DNS-01 validation sees them, exactly as a real provider publishes them. Tests
//! read what was created and deleted ([`DnsLog`]), and inject failures (`fail_next`).
//!
//! The signature checks here are written independently of `edge::dns`, from the providers'
//! documentation, so a bug in our signing cannot hide behind the same bug in the fake.

mod alidns;
mod cloudflare;
mod dnspod;

pub use alidns::FakeAlidns;
pub use cloudflare::FakeCloudflare;
pub use dnspod::FakeDnspod;

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A TXT record held by a fake provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// Provider record id.
    pub id: String,
    /// The zone (e.g. `example.com`).
    pub zone: String,
    /// The full name (e.g. `_acme-challenge.api.example.com`).
    pub fqdn: String,
    /// The TXT value.
    pub value: String,
}

/// What a fake provider saw: records now held, and every record ever created / deleted.
#[derive(Debug, Default, Clone)]
pub struct DnsLog {
    /// Records held now, by id.
    pub records: BTreeMap<String, FakeRecord>,
    /// Every record created, in order.
    pub created: Vec<FakeRecord>,
    /// Ids deleted, in order.
    pub deleted: Vec<String>,
    /// Requests refused for a bad signature, token or timestamp.
    pub auth_failures: u32,
}

/// State shared by the three fakes: zones, records, the challtestsrv to publish to, faults.
pub(crate) struct Shared {
    pub zones: Vec<String>,
    pub log: Mutex<DnsLog>,
    pub challtestsrv: Option<String>,
    pub fail_next: Mutex<u32>,
    pub next_id: Mutex<u64>,
    pub http: reqwest::Client,
}

impl Shared {
    pub(crate) fn new(zones: &[&str], challtestsrv: Option<String>) -> Arc<Shared> {
        Arc::new(Shared {
            zones: zones.iter().map(|z| z.to_string()).collect(),
            log: Mutex::new(DnsLog::default()),
            challtestsrv,
            fail_next: Mutex::new(0),
            next_id: Mutex::new(100_000),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("http client"),
        })
    }

    /// Whether this request should fail (an injected outage).
    pub(crate) fn take_fault(&self) -> bool {
        let mut n = self.fail_next.lock();
        if *n > 0 {
            *n -= 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn auth_failed(&self) {
        self.log.lock().auth_failures += 1;
    }

    pub(crate) async fn create(&self, zone: &str, fqdn: &str, value: &str) -> FakeRecord {
        let id = {
            let mut n = self.next_id.lock();
            *n += 1;
            n.to_string()
        };
        let rec = FakeRecord {
            id: id.clone(),
            zone: zone.into(),
            fqdn: fqdn.into(),
            value: value.into(),
        };
        {
            let mut log = self.log.lock();
            log.records.insert(id, rec.clone());
            log.created.push(rec.clone());
        }
        if let Some(url) = &self.challtestsrv {
            let _ = self
                .http
                .post(format!("{url}/set-txt"))
                .json(&serde_json::json!({"host": format!("{fqdn}."), "value": value}))
                .send()
                .await;
        }
        rec
    }

    pub(crate) async fn delete(&self, id: &str) -> Option<FakeRecord> {
        let rec = {
            let mut log = self.log.lock();
            let rec = log.records.remove(id)?;
            log.deleted.push(id.to_string());
            rec
        };
        if let Some(url) = &self.challtestsrv {
            let _ = self
                .http
                .post(format!("{url}/clear-txt"))
                .json(&serde_json::json!({"host": format!("{}.", rec.fqdn)}))
                .send()
                .await;
        }
        Some(rec)
    }

    pub(crate) fn zone_exists(&self, zone: &str) -> bool {
        self.zones.iter().any(|z| z == zone)
    }
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Decodes `%XX` escapes (and `+` as space, as form bodies allow).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs.
pub(crate) fn parse_form(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}
