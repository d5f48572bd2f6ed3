//! DNSPod (Tencent Cloud DNS) through Tencent Cloud API 3.0: `POST /` with the action in
//! `X-TC-Action`, signed with TC3-HMAC-SHA256 (the signing key derived from the SecretKey, the
//! date, the service and `tc3_request`). Actions: `DescribeDomainList` (find the zone),
//! `CreateRecord`, `DeleteRecord` (version 2021-03-23).

use super::{DnsError, DnsProvider, TxtRecord, best_zone, relative_name, send_with_retry};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The production endpoint.
pub const API_BASE: &str = "https://dnspod.tencentcloudapi.com";
const SERVICE: &str = "dnspod";
const VERSION: &str = "2021-03-23";
const PROVIDER: &str = "dnspod";

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// The intermediate values of a TC3 signature (exposed for the published test vectors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3 {
    /// hex(sha256(canonical request)).
    pub hashed_canonical_request: String,
    /// hex(SecretDate).
    pub secret_date: String,
    /// hex(SecretService).
    pub secret_service: String,
    /// hex(SecretSigning).
    pub secret_signing: String,
    /// The signature, hex.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

/// Signs a `POST /` request. `headers` are the signed headers as (lower-case name, value), in
/// the order they sort; `timestamp` is Unix seconds.
pub fn tc3_sign(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
    timestamp: i64,
) -> Tc3 {
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(payload))
    );
    let hashed = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let date = utc_date(timestamp);
    let scope = format!("{date}/{service}/tc3_request");
    let string_to_sign = format!("TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashed}");
    let secret_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac(&secret_date, service.as_bytes());
    let secret_signing = hmac(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac(&secret_signing, string_to_sign.as_bytes()));
    Tc3 {
        authorization: format!(
            "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
        hashed_canonical_request: hashed,
        secret_date: hex::encode(secret_date),
        secret_service: hex::encode(secret_service),
        secret_signing: hex::encode(secret_signing),
        signature,
    }
}

/// `YYYY-MM-DD` of a Unix timestamp, UTC.
fn utc_date(timestamp: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(timestamp) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => "1970-01-01".into(),
    }
}

/// The DNSPod client.
pub struct Dnspod {
    client: reqwest::Client,
    base: String,
    host: String,
    secret_id: String,
    secret_key: String,
}

impl Dnspod {
    /// A client for `base` (normally [`API_BASE`]).
    pub fn new(
        client: reqwest::Client,
        base: String,
        secret_id: String,
        secret_key: String,
    ) -> Dnspod {
        let host = base
            .split("://")
            .nth(1)
            .unwrap_or(&base)
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        Dnspod {
            client,
            base,
            host,
            secret_id,
            secret_key,
        }
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value, DnsError> {
        let payload = body.to_string();
        let content_type = "application/json; charset=utf-8";
        let make = || {
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let lower_action = action.to_ascii_lowercase();
            let sig = tc3_sign(
                &self.secret_id,
                &self.secret_key,
                SERVICE,
                &[
                    ("content-type", content_type),
                    ("host", &self.host),
                    ("x-tc-action", &lower_action),
                ],
                payload.as_bytes(),
                ts,
            );
            self.client
                .post(format!("{}/", self.base))
                .header("Authorization", sig.authorization)
                .header("Content-Type", content_type)
                .header("Host", &self.host)
                .header("X-TC-Action", action)
                .header("X-TC-Timestamp", ts.to_string())
                .header("X-TC-Version", VERSION)
                .body(payload.clone())
        };
        let (status, json) = send_with_retry(PROVIDER, make).await?;
        let response = json.get("Response").cloned().unwrap_or(Value::Null);
        if let Some(err) = response.get("Error") {
            return Err(DnsError::Api {
                provider: PROVIDER,
                code: err
                    .get("Code")
                    .and_then(Value::as_str)
                    .unwrap_or("Unknown")
                    .to_string(),
                message: err
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        if !status.is_success() || response.is_null() {
            return Err(DnsError::Transport {
                provider: PROVIDER,
                message: format!("unexpected answer (HTTP {status})"),
            });
        }
        Ok(response)
    }

    async fn zone_of(&self, fqdn: &str) -> Result<String, DnsError> {
        let res = self
            .call("DescribeDomainList", json!({"Offset": 0, "Limit": 3000}))
            .await?;
        let names: Vec<String> = res
            .get("DomainList")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|d| d.get("Name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        best_zone(fqdn, names.iter().map(String::as_str)).ok_or_else(|| DnsError::NoZone {
            provider: PROVIDER,
            name: fqdn.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl DnsProvider for Dnspod {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn create_txt(&self, fqdn: &str, value: &str) -> Result<TxtRecord, DnsError> {
        let zone = self.zone_of(fqdn).await?;
        let res = self
            .call(
                "CreateRecord",
                json!({
                    "Domain": zone,
                    "SubDomain": relative_name(fqdn, &zone),
                    "RecordType": "TXT",
                    "RecordLine": "默认",
                    "Value": value,
                    "TTL": 600,
                }),
            )
            .await?;
        let id = match res.get("RecordId") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(DnsError::Transport {
                    provider: PROVIDER,
                    message: "CreateRecord answered without RecordId".into(),
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
        let id: u64 = record.id.parse().map_err(|_| DnsError::Transport {
            provider: PROVIDER,
            message: format!("record id {:?} is not a number", record.id),
        })?;
        self.call(
            "DeleteRecord",
            json!({"Domain": record.zone, "RecordId": id}),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of Tencent Cloud's documentation example (exact bytes, `\u` escapes literal).
    const BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    #[test]
    fn payload_hash_of_the_documentation_example() {
        assert_eq!(
            hex::encode(Sha256::digest(BODY.as_bytes())),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
    }

    #[test]
    fn tc3_vector_with_the_action_header_signed() {
        let sig = tc3_sign(
            &format!("AKID{}", "*".repeat(32)),
            &"*".repeat(32),
            "cvm",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("host", "cvm.tencentcloudapi.com"),
                ("x-tc-action", "describeinstances"),
            ],
            BODY.as_bytes(),
            1551113065,
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            sig.secret_date,
            "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
        );
        assert_eq!(
            sig.secret_service,
            "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
        );
        assert_eq!(
            sig.secret_signing,
            "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
        );
        assert_eq!(
            sig.signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
        assert!(sig.authorization.starts_with(&format!(
            "TC3-HMAC-SHA256 Credential=AKID{}/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=10b1a37a",
            "*".repeat(32)
        )));
    }

    #[test]
    fn tc3_vector_of_the_older_documentation() {
        let sig = tc3_sign(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "cvm",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("host", "cvm.tencentcloudapi.com"),
            ],
            BODY.as_bytes(),
            1551113065,
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            sig.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }
}
