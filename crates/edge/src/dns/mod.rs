//! DNS-01 providers: create the `_acme-challenge` TXT record through a DNS provider's API and
//! remove it after validation. The providers our users have their domains at:
//!
//! - [`dnspod`]: DNSPod / Tencent Cloud DNS (API 3.0, TC3-HMAC-SHA256 signatures),
//! - [`alidns`]: Alibaba Cloud DNS (RPC API, signature v1 with HMAC-SHA1),
//! - [`cloudflare`]: Cloudflare (API token).
//!
//! Credentials come from `tls.acme.dns_key_id` / `tls.acme.dns_key_secret` (usually set as
//! `MINIBASE_TLS__ACME__DNS_KEY_SECRET` in the environment or `.env`) or, when those are empty,
//! from each provider's usual variables ([`CREDENTIAL_VARS`]). Every call has a timeout and one
//! retry on network errors and 5xx answers; API errors carry the provider's code and message.

pub mod alidns;
pub mod cloudflare;
pub mod dnspod;

use crate::EdgeError;
use std::time::Duration;

/// A TXT record we created, with what deleting it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// The zone (registered domain) it lives in.
    pub zone: String,
    /// The provider's record id.
    pub id: String,
    /// The record's full name.
    pub fqdn: String,
}

/// Why a DNS provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The provider answered with an error (bad credentials, no such zone, quota, …).
    #[error("{provider} refused: {code}: {message}")]
    Api {
        /// `dnspod`, `alidns`, `cloudflare`.
        provider: &'static str,
        /// The provider's error code.
        code: String,
        /// The provider's message.
        message: String,
    },
    /// No zone in the account contains the name.
    #[error(
        "{provider}: no domain in this account contains {name}; add the domain to the {provider} account (or use another provider)"
    )]
    NoZone {
        /// The provider.
        provider: &'static str,
        /// The record name.
        name: String,
    },
    /// The provider could not be reached or answered garbage.
    #[error("{provider}: {message}")]
    Transport {
        /// The provider.
        provider: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// A DNS provider able to create and delete TXT records.
#[async_trait::async_trait]
pub trait DnsProvider: Send + Sync {
    /// `dnspod`, `alidns` or `cloudflare`.
    fn name(&self) -> &'static str;
    /// Creates the TXT record `fqdn` (no trailing dot) with `value`.
    async fn create_txt(&self, fqdn: &str, value: &str) -> Result<TxtRecord, DnsError>;
    /// Deletes a record created by [`create_txt`](DnsProvider::create_txt).
    async fn delete_txt(&self, record: &TxtRecord) -> Result<(), DnsError>;
}

/// The environment variables read for each provider when the config keys are empty:
/// `(provider, id variable, secret variable)`.
pub const CREDENTIAL_VARS: &[(&str, &str, &str)] = &[
    (
        "dnspod",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
    ),
    (
        "alidns",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    ),
    ("cloudflare", "", "CLOUDFLARE_API_TOKEN"),
];

/// Builds the provider of `tls.acme.dns_provider` with its credentials; a startup error names
/// what is missing.
pub fn from_config(
    acme: &config::AcmeConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn DnsProvider>, EdgeError> {
    let name = acme.dns_provider.as_str();
    let Some((_, id_var, secret_var)) = CREDENTIAL_VARS.iter().find(|(p, _, _)| *p == name) else {
        return Err(EdgeError::Tls(format!(
            "tls.acme.dns_provider = {name:?}: must be \"dnspod\", \"alidns\" or \"cloudflare\""
        )));
    };
    let from_env = |var: &str| {
        if var.is_empty() {
            None
        } else {
            env(var).filter(|v| !v.trim().is_empty())
        }
    };
    let id = if acme.dns_key_id.is_empty() {
        from_env(id_var).unwrap_or_default()
    } else {
        acme.dns_key_id.clone()
    };
    let secret = if acme.dns_key_secret.is_empty() {
        from_env(secret_var).unwrap_or_default()
    } else {
        acme.dns_key_secret.expose().to_string()
    };
    let missing = |what: &str, var: &str| {
        EdgeError::Tls(format!(
            "tls.acme.dns_provider = \"{name}\" needs {what}: set {var} in the environment (e.g. the systemd EnvironmentFile), or MINIBASE_TLS__ACME__{} (see docs/https.md)",
            if what.contains("secret") || what.contains("token") {
                "DNS_KEY_SECRET"
            } else {
                "DNS_KEY_ID"
            }
        ))
    };
    if !id_var.is_empty() && id.trim().is_empty() {
        return Err(missing("the API key id", id_var));
    }
    if secret.trim().is_empty() {
        return Err(missing(
            if name == "cloudflare" {
                "an API token"
            } else {
                "the API key secret"
            },
            secret_var,
        ));
    }
    let base = |default: &str| {
        let b = if acme.dns_api_base.is_empty() {
            default
        } else {
            acme.dns_api_base.as_str()
        };
        b.trim_end_matches('/').to_string()
    };
    let client = http_client()?;
    Ok(match name {
        "dnspod" => Box::new(dnspod::Dnspod::new(
            client,
            base(dnspod::API_BASE),
            id,
            secret,
        )),
        "alidns" => Box::new(alidns::Alidns::new(
            client,
            base(alidns::API_BASE),
            id,
            secret,
        )),
        _ => Box::new(cloudflare::Cloudflare::new(
            client,
            base(cloudflare::API_BASE),
            secret,
        )),
    })
}

fn http_client() -> Result<reqwest::Client, EdgeError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("minibase/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EdgeError::Tls(format!("cannot build the DNS API client: {e}")))
}

/// Zones that could hold `fqdn`, longest first, never a bare TLD:
/// `_acme-challenge.api.example.com` → `api.example.com`, `example.com`.
pub(crate) fn zone_candidates(fqdn: &str) -> Vec<String> {
    let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
    (1..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect()
}

/// The longest of `zones` containing `fqdn`.
pub(crate) fn best_zone<'a>(
    fqdn: &str,
    zones: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let fqdn = fqdn.trim_end_matches('.').to_ascii_lowercase();
    zones
        .into_iter()
        .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
        .filter(|z| fqdn.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())
}

/// `fqdn` relative to `zone`: `_acme-challenge.api` in `example.com`.
pub(crate) fn relative_name(fqdn: &str, zone: &str) -> String {
    let fqdn = fqdn.trim_end_matches('.');
    fqdn.strip_suffix(zone)
        .and_then(|s| s.strip_suffix('.'))
        .unwrap_or(fqdn)
        .to_string()
}

/// Sends a request built by `make`, retrying once after network errors and 5xx answers.
pub(crate) async fn send_with_retry(
    provider: &'static str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, serde_json::Value), DnsError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = make().send().await;
        let retryable = match &result {
            Err(e) => !e.is_builder(),
            Ok(r) => r.status().is_server_error(),
        };
        if retryable && attempt < 2 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let res = result.map_err(|e| DnsError::Transport {
            provider,
            message: format!(
                "request failed: {}",
                if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    e.to_string()
                }
            ),
        })?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| DnsError::Transport {
            provider,
            message: e.to_string(),
        })?;
        let json = serde_json::from_slice(&body).map_err(|_| DnsError::Transport {
            provider,
            message: format!("answered HTTP {status} with a body that is not JSON"),
        })?;
        return Ok((status, json));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_tried_longest_first_without_the_tld() {
        assert_eq!(
            zone_candidates("_acme-challenge.api.example.com"),
            vec!["api.example.com", "example.com"]
        );
        assert_eq!(
            best_zone(
                "_acme-challenge.api.example.com",
                ["example.com", "other.com", "api.example.com"]
            )
            .as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            best_zone("_acme-challenge.api.example.com", ["ample.com"]),
            None
        );
        assert_eq!(
            relative_name("_acme-challenge.api.example.com", "example.com"),
            "_acme-challenge.api"
        );
    }
}
