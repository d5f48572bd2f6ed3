//! Cloudflare's v4 API with an API token (`Authorization: Bearer`, permission Zone.DNS:Edit):
//! `GET /zones?name=` (find the zone), `POST /zones/{id}/dns_records`,
//! `DELETE /zones/{id}/dns_records/{record}`. Answers are `{"success","errors","result"}`.

use super::{DnsError, DnsProvider, TxtRecord, send_with_retry, zone_candidates};
use serde_json::{Value, json};

/// The production endpoint.
pub const API_BASE: &str = "https://api.cloudflare.com/client/v4";
const PROVIDER: &str = "cloudflare";

/// The Cloudflare client.
pub struct Cloudflare {
    client: reqwest::Client,
    base: String,
    token: String,
}

fn check(status: reqwest::StatusCode, json: Value) -> Result<Value, DnsError> {
    if json.get("success").and_then(Value::as_bool) == Some(true) && status.is_success() {
        return Ok(json.get("result").cloned().unwrap_or(Value::Null));
    }
    let first = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .cloned()
        .unwrap_or(Value::Null);
    Err(DnsError::Api {
        provider: PROVIDER,
        code: first
            .get("code")
            .map(|c| c.to_string())
            .unwrap_or_else(|| status.as_u16().to_string()),
        message: first
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("request refused")
            .to_string(),
    })
}

impl Cloudflare {
    /// A client for `base` (normally [`API_BASE`]).
    pub fn new(client: reqwest::Client, base: String, token: String) -> Cloudflare {
        Cloudflare {
            client,
            base,
            token,
        }
    }

    async fn zone_of(&self, fqdn: &str) -> Result<(String, String), DnsError> {
        for candidate in zone_candidates(fqdn) {
            let url = format!("{}/zones", self.base);
            let (status, json) = send_with_retry(PROVIDER, || {
                self.client
                    .get(&url)
                    .bearer_auth(&self.token)
                    .query(&[("name", candidate.as_str())])
            })
            .await?;
            let result = check(status, json)?;
            if let Some(id) = result
                .as_array()
                .and_then(|a| a.first())
                .and_then(|z| z.get("id"))
                .and_then(Value::as_str)
            {
                return Ok((candidate, id.to_string()));
            }
        }
        Err(DnsError::NoZone {
            provider: PROVIDER,
            name: fqdn.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl DnsProvider for Cloudflare {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn create_txt(&self, fqdn: &str, value: &str) -> Result<TxtRecord, DnsError> {
        let (_, zone_id) = self.zone_of(fqdn).await?;
        let url = format!("{}/zones/{zone_id}/dns_records", self.base);
        let body = json!({"type": "TXT", "name": fqdn, "content": value, "ttl": 1});
        let (status, json) = send_with_retry(PROVIDER, || {
            self.client.post(&url).bearer_auth(&self.token).json(&body)
        })
        .await?;
        let result = check(status, json)?;
        let id = result
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| DnsError::Transport {
                provider: PROVIDER,
                message: "the created record has no id".into(),
            })?;
        Ok(TxtRecord {
            zone: zone_id,
            id: id.to_string(),
            fqdn: fqdn.to_string(),
        })
    }

    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError> {
        let url = format!(
            "{}/zones/{}/dns_records/{}",
            self.base, record.zone, record.id
        );
        let (status, json) = send_with_retry(PROVIDER, || {
            self.client.delete(&url).bearer_auth(&self.token)
        })
        .await?;
        check(status, json).map(|_| ())
    }
}
