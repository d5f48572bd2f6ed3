//! Alibaba Cloud DNS (Alidns) through its RPC API: form parameters plus the common ones
//! (`AccessKeyId`, `Timestamp`, `SignatureNonce`, …), signed with signature v1 — HMAC-SHA1 over
//! `METHOD&%2F&<percent-encoded sorted query>` with the key `AccessKeySecret + "&"`. Actions:
//! `DescribeDomains` (find the zone), `AddDomainRecord`, `DeleteDomainRecord` (2015-01-09).

use super::{DnsError, DnsProvider, TxtRecord, best_zone, relative_name, send_with_retry};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use std::collections::BTreeMap;

/// The production endpoint.
pub const API_BASE: &str = "https://alidns.aliyuncs.com";
const VERSION: &str = "2015-01-09";
const PROVIDER: &str = "alidns";

/// RFC 3986 percent-encoding as Alibaba Cloud specifies it: unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) stay, everything else is `%XX` of its UTF-8 bytes.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sorted, encoded query string (`Signature` excluded).
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The string signed for `method` (`GET` or `POST`).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

/// Signature v1: base64(HMAC-SHA1(secret + "&", string to sign)).
pub fn sign(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .unwrap_or_else(|_| unreachable!());
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The Alidns client.
pub struct Alidns {
    client: reqwest::Client,
    base: String,
    key_id: String,
    secret: String,
}

impl Alidns {
    /// A client for `base` (normally [`API_BASE`]).
    pub fn new(client: reqwest::Client, base: String, key_id: String, secret: String) -> Alidns {
        Alidns {
            client,
            base,
            key_id,
            secret,
        }
    }

    async fn call(&self, action: &str, extra: &[(&str, String)]) -> Result<Value, DnsError> {
        let make = || {
            let mut params: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in extra {
                params.insert((*k).to_string(), v.clone());
            }
            let now = time::OffsetDateTime::now_utc();
            params.insert("Action".into(), action.into());
            params.insert("Format".into(), "JSON".into());
            params.insert("Version".into(), VERSION.into());
            params.insert("AccessKeyId".into(), self.key_id.clone());
            params.insert("SignatureMethod".into(), "HMAC-SHA1".into());
            params.insert("SignatureVersion".into(), "1.0".into());
            params.insert("SignatureNonce".into(), mb_core::ids::random_hex(16));
            params.insert(
                "Timestamp".into(),
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    now.year(),
                    u8::from(now.month()),
                    now.day(),
                    now.hour(),
                    now.minute(),
                    now.second()
                ),
            );
            let signature = sign("POST", &params, &self.secret);
            params.insert("Signature".into(), signature);
            let body = params
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            self.client
                .post(format!("{}/", self.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
        };
        let (status, json) = send_with_retry(PROVIDER, make).await?;
        if !status.is_success() || json.get("Code").is_some() {
            return Err(DnsError::Api {
                provider: PROVIDER,
                code: json
                    .get("Code")
                    .and_then(Value::as_str)
                    .unwrap_or("Unknown")
                    .to_string(),
                message: json
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        Ok(json)
    }

    async fn zone_of(&self, fqdn: &str) -> Result<String, DnsError> {
        let mut names = Vec::new();
        for page in 1..=50u32 {
            let res = self
                .call(
                    "DescribeDomains",
                    &[("PageNumber", page.to_string()), ("PageSize", "100".into())],
                )
                .await?;
            let domains = res
                .pointer("/Domains/Domain")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            names.extend(domains.iter().filter_map(|d| {
                d.get("DomainName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }));
            let total = res.get("TotalCount").and_then(Value::as_u64).unwrap_or(0);
            if domains.is_empty() || names.len() as u64 >= total {
                break;
            }
        }
        best_zone(fqdn, names.iter().map(String::as_str)).ok_or_else(|| DnsError::NoZone {
            provider: PROVIDER,
            name: fqdn.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl DnsProvider for Alidns {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn create_txt(&self, fqdn: &str, value: &str) -> Result<TxtRecord, DnsError> {
        let zone = self.zone_of(fqdn).await?;
        let res = self
            .call(
                "AddDomainRecord",
                &[
                    ("DomainName", zone.clone()),
                    ("RR", relative_name(fqdn, &zone)),
                    ("Type", "TXT".into()),
                    ("Value", value.to_string()),
                    ("TTL", "600".into()),
                ],
            )
            .await?;
        let id = match res.get("RecordId") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(DnsError::Transport {
                    provider: PROVIDER,
                    message: "AddDomainRecord answered without RecordId".into(),
                });
            }
        };
        Ok(TxtRecord {
            zone,
            id,
            fqdn: fqdn.to_string(),
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        self.call("DeleteDomainRecord", &[("RecordId", record.id.clone())])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signature_v1_documentation_example() {
        let p = params(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            string_to_sign("GET", &p),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            sign("GET", &p, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        assert_eq!(
            sign("POST", &p, "testsecret"),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
    }

    #[test]
    fn signature_v1_second_example() {
        let p = params(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeDedicatedHosts"),
            ("Format", "JSON"),
            ("RegionId", "cn-beijing"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2023-03-13T08:34:30Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            sign("GET", &p, "testsecret"),
            "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
        );
        assert_eq!(
            sign("POST", &p, "testsecret"),
            "ZvQ9xGiFnquSJRvj+WE6kdSpTwU="
        );
    }

    #[test]
    fn percent_encoding_is_rfc3986() {
        assert_eq!(percent_encode("a b*c~d/é"), "a%20b%2Ac~d%2F%C3%A9");
    }
}
