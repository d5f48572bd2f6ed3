//! `tls.mode = "acme"`: certificates for `server.domains` obtained and renewed over ACME
//! (Let's Encrypt, ZeroSSL, any RFC 8555 CA) with instant-acme.
//!
//! - The account key lives in `<data_dir>/acme/account-<directory hash>.json` (0600), one
//!   account per ACME directory.
//! - The certificate and its key live in `<data_dir>/acme/certs/` (key 0600), with a small
//!   `meta.json` saying which directory issued it for which names. An existing valid
//!   certificate is served at once on start; with none, a temporary self-signed one is served
//!   until the first issuance completes.
//! - Challenges: `http-01` answered by the redirect listener, `tls-alpn-01` by the HTTPS
//!   listener (ALPN `acme-tls/1`), `dns-01` through a [`crate::dns`] provider; every challenge
//!   response (token, certificate, TXT record) is removed afterwards, whatever the outcome.
//! - Renewal when a third of the lifetime is left, or inside the window the CA suggests (ACME
//!   renewal information, RFC 9773) when it offers one; failures retry with backoff
//!   ([`retry_delay`]). A new certificate is swapped in for new handshakes; established
//!   connections keep theirs.

mod http;

use crate::dns::{DnsProvider, TxtRecord};
use crate::fsutil::{private_dir, write_atomic};
use crate::redirect::Http01Challenges;
use crate::tls::pem::{from_parts, parse_pem_pair};
use crate::tls::store::{CertSet, CertStore, ServedCert};
use crate::tls::x509::{format_time, now_unix};
use crate::{EdgeError, EdgeStats};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The challenge type of `tls.acme.challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Challenge {
    Http01,
    TlsAlpn01,
    Dns01,
}

impl Challenge {
    fn acme_type(self) -> ChallengeType {
        match self {
            Challenge::Http01 => ChallengeType::Http01,
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            Challenge::Dns01 => ChallengeType::Dns01,
        }
    }
}

/// What `meta.json` records about the stored certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Meta {
    directory_url: String,
    domains: Vec<String>,
}

/// The certificate being served, as far as renewal is concerned.
#[derive(Debug, Clone)]
struct Current {
    der: CertificateDer<'static>,
    not_before: i64,
    not_after: i64,
    /// Issued by this directory for exactly these names (false for the placeholder).
    matches_config: bool,
}

/// The ACME manager: issues, stores, serves and renews the certificate.
pub(crate) struct Acme {
    directory_url: String,
    email: String,
    challenge: Challenge,
    domains: Vec<String>,
    dir: PathBuf,
    http: http::AcmeHttp,
    dns: Option<Box<dyn DnsProvider>>,
    dns_propagation: Duration,
    store: Arc<CertStore>,
    http01: Arc<Http01Challenges>,
    account: tokio::sync::Mutex<Option<Account>>,
    current: parking_lot::Mutex<Option<Current>>,
}

/// Why an issuance failed (a human sentence; the ACME problem detail when there is one).
#[derive(Debug)]
pub(crate) struct AcmeError(String);

impl std::fmt::Display for AcmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn acme_err(context: &str) -> impl Fn(instant_acme::Error) -> AcmeError + '_ {
    move |e| match e {
        instant_acme::Error::Api(p) => AcmeError(format!(
            "{context}: the CA said {}: {}",
            p.r#type.as_deref().unwrap_or("error"),
            p.detail.as_deref().unwrap_or("")
        )),
        other => AcmeError(format!("{context}: {other}")),
    }
}

/// How long to wait before retry number `failures` (1-based): 5 s, 30 s, 2 min, 10 min,
/// 30 min, 1 h, 2 h, then every 4 h — quick for a blip, gentle on the CA's rate limits.
pub(crate) fn retry_delay(failures: u32) -> Duration {
    const STEPS: [u64; 7] = [5, 30, 120, 600, 1800, 3600, 7200];
    let secs = STEPS
        .get(failures.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(4 * 3600);
    Duration::from_secs(secs)
}

/// When a certificate valid from `not_before` to `not_after` should be renewed: when a third
/// of its lifetime is left.
pub(crate) fn renew_at(not_before: i64, not_after: i64) -> i64 {
    not_after - (not_after - not_before).max(0) / 3
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("directory_url", &self.directory_url)
            .field("challenge", &self.challenge)
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl Acme {
    pub(crate) fn new(
        config: &config::Config,
        store: Arc<CertStore>,
        http01: Arc<Http01Challenges>,
    ) -> Result<Acme, EdgeError> {
        let a = &config.tls.acme;
        let challenge = match a.challenge.as_str() {
            "http-01" => Challenge::Http01,
            "tls-alpn-01" => Challenge::TlsAlpn01,
            "dns-01" => Challenge::Dns01,
            other => {
                return Err(EdgeError::Tls(format!(
                    "tls.acme.challenge = {other:?}: must be \"http-01\", \"tls-alpn-01\" or \"dns-01\""
                )));
            }
        };
        let domains: Vec<String> = config
            .server
            .domains
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if domains.is_empty() {
            return Err(EdgeError::Tls("server.domains must list the domains to get certificates for (tls.mode = \"acme\")".into()));
        }
        if challenge != Challenge::Dns01
            && let Some(w) = domains.iter().find(|d| d.starts_with("*."))
        {
            return Err(EdgeError::Tls(format!(
                "server.domains has the wildcard {w}: wildcard certificates can only be validated with tls.acme.challenge = \"dns-01\""
            )));
        }
        if challenge == Challenge::Http01 && config.server.redirect_addr.is_empty() {
            return Err(EdgeError::Tls(
                "tls.acme.challenge = \"http-01\" needs server.redirect_addr (e.g. \"0.0.0.0:80\"): the CA checks http://<domain>/.well-known/acme-challenge/".into(),
            ));
        }
        let dns = if challenge == Challenge::Dns01 {
            Some(crate::dns::from_config(a, &|k| std::env::var(k).ok())?)
        } else {
            None
        };
        Ok(Acme {
            directory_url: a.directory_url.clone(),
            email: a.email.clone(),
            challenge,
            domains,
            dir: config.server.data_dir.join("acme"),
            http: http::AcmeHttp::new(&a.ca_file)?,
            dns,
            dns_propagation: a.dns_propagation.get(),
            store,
            http01,
            account: tokio::sync::Mutex::new(None),
            current: parking_lot::Mutex::new(None),
        })
    }

    /// Whether tls-alpn-01 validation must be answered on the HTTPS listener.
    pub(crate) fn uses_tls_alpn(&self) -> bool {
        self.challenge == Challenge::TlsAlpn01
    }

    fn cert_paths(&self) -> (PathBuf, PathBuf, PathBuf) {
        let d = self.dir.join("certs");
        (
            d.join("certificate.pem"),
            d.join("private.key"),
            d.join("meta.json"),
        )
    }

    fn account_path(&self) -> PathBuf {
        let h = hex::encode(Sha256::digest(self.directory_url.as_bytes()));
        self.dir.join(format!("account-{}.json", &h[..16]))
    }

    /// The certificate to serve at start: the stored one while it is valid, else a temporary
    /// self-signed one. Blocking (file IO, key generation).
    pub(crate) fn initial(&self) -> Result<CertSet, EdgeError> {
        private_dir(&self.dir)?;
        let (cert_path, key_path, meta_path) = self.cert_paths();
        let now = now_unix();
        if let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
            let meta: Option<Meta> = std::fs::read(&meta_path)
                .ok()
                .and_then(|m| serde_json::from_slice(&m).ok());
            match parse_pem_pair(&cert_path, &cert_pem, &key_path, &key_pem, "tls")
                .and_then(|(chain, key)| from_parts(chain, key, &cert_path, &key_path, "tls", now))
            {
                Ok(loaded) => {
                    let matches = meta.is_some_and(|m| {
                        m.directory_url == self.directory_url && m.domains == self.domains
                    });
                    tracing::info!(
                        names = ?loaded.cert.names,
                        expires = %format_time(loaded.cert.not_after),
                        "serving the stored ACME certificate"
                    );
                    *self.current.lock() = Some(Current {
                        der: loaded.cert.key.cert[0].clone(),
                        not_before: loaded.leaf.not_before,
                        not_after: loaded.leaf.not_after,
                        matches_config: matches,
                    });
                    let mut served = loaded.cert;
                    served.origin = "acme".into();
                    return Ok(CertSet::new(vec![served]));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the stored ACME certificate is unusable; a new one will be requested")
                }
            }
        }
        tracing::info!(
            domains = ?self.domains,
            "no certificate yet: serving a temporary self-signed certificate until the CA issues one"
        );
        Ok(CertSet::new(vec![placeholder(&self.domains)?]))
    }

    /// Issues and renews until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stats: Arc<EdgeStats>, stop: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let wait = match self.due_in().await {
                Some(wait) => wait,
                None => match self.issue_and_install().await {
                    Ok(()) => {
                        failures = 0;
                        stats.cert_reloads_ok.fetch_add(1, Relaxed);
                        continue;
                    }
                    Err(e) => {
                        failures += 1;
                        stats.cert_reloads_failed.fetch_add(1, Relaxed);
                        let delay = retry_delay(failures);
                        tracing::error!(
                            error = %e,
                            attempt = failures,
                            retry_in_secs = delay.as_secs(),
                            "ACME certificate request failed; still serving the previous certificate"
                        );
                        delay
                    }
                },
            };
            // Re-check at least hourly (clock changes, suspended machines).
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait.min(Duration::from_secs(3600))) => {}
            }
        }
    }

    /// `None` when a certificate must be requested now, else how long until then.
    async fn due_in(&self) -> Option<Duration> {
        let current = self.current.lock().clone()?;
        if !current.matches_config {
            return None;
        }
        let now = now_unix();
        let mut at = renew_at(current.not_before, current.not_after);
        if let Some(window) = self.renewal_window(&current).await {
            at = window.min(current.not_after - 3600);
        }
        (at > now).then(|| Duration::from_secs((at - now) as u64))
    }

    /// A moment inside the CA's suggested renewal window (RFC 9773), when it has one.
    async fn renewal_window(&self, current: &Current) -> Option<i64> {
        let id = instant_acme::CertificateIdentifier::try_from(&current.der).ok()?;
        let account = self.account().await.ok()?;
        let (info, _) = account.renewal_info(&id).await.ok()?;
        let start = info.suggested_window.start.unix_timestamp();
        let end = info.suggested_window.end.unix_timestamp().max(start);
        let spread = (end - start).max(0) as u64;
        let offset = if spread == 0 {
            0
        } else {
            u64::from_le_bytes(rand_bytes()) % spread
        };
        Some(start + offset as i64)
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let mut slot = self.account.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let path = self.account_path();
        let builder = || Account::builder_with_http(Box::new(self.http.clone()));
        let account = match std::fs::read(&path) {
            Ok(bytes) => {
                let creds: AccountCredentials = serde_json::from_slice(&bytes).map_err(|e| {
                    AcmeError(format!("{}: not an ACME account file: {e}", path.display()))
                })?;
                builder()
                    .from_credentials(creds)
                    .await
                    .map_err(acme_err("loading the ACME account"))?
            }
            Err(_) => {
                let contact = format!("mailto:{}", self.email);
                let contacts: Vec<&str> = if self.email.is_empty() {
                    vec![]
                } else {
                    vec![contact.as_str()]
                };
                let (account, creds) = builder()
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.directory_url.clone(),
                        None,
                    )
                    .await
                    .map_err(acme_err("creating the ACME account"))?;
                let json =
                    serde_json::to_vec_pretty(&creds).map_err(|e| AcmeError(e.to_string()))?;
                write_atomic(&path, &json, true).map_err(|e| AcmeError(e.to_string()))?;
                tracing::info!(directory = %self.directory_url, account = %account.id(), "created the ACME account");
                account
            }
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    async fn issue_and_install(&self) -> Result<(), AcmeError> {
        tracing::info!(domains = ?self.domains, challenge = ?self.challenge, "requesting a certificate");
        let (chain_pem, key_pem) = self.issue().await?;
        let (cert_path, key_path, meta_path) = self.cert_paths();
        let (chain, key) = parse_pem_pair(
            &cert_path,
            chain_pem.as_bytes(),
            &key_path,
            key_pem.as_bytes(),
            "tls",
        )
        .map_err(|e| AcmeError(format!("the CA sent an unusable certificate: {e}")))?;
        let loaded = from_parts(chain, key, &cert_path, &key_path, "tls", now_unix())
            .map_err(|e| AcmeError(format!("the CA sent an unusable certificate: {e}")))?;
        let certs_dir = self.dir.join("certs");
        let meta = Meta {
            directory_url: self.directory_url.clone(),
            domains: self.domains.clone(),
        };
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|e| AcmeError(e.to_string()))?;
        let write = || -> Result<(), EdgeError> {
            private_dir(&certs_dir)?;
            write_atomic(&key_path, key_pem.as_bytes(), true)?;
            write_atomic(&cert_path, chain_pem.as_bytes(), false)?;
            write_atomic(&meta_path, &meta_json, false)
        };
        write().map_err(|e| AcmeError(format!("cannot store the new certificate: {e}")))?;
        *self.current.lock() = Some(Current {
            der: loaded.cert.key.cert[0].clone(),
            not_before: loaded.leaf.not_before,
            not_after: loaded.leaf.not_after,
            matches_config: true,
        });
        tracing::info!(
            names = ?loaded.cert.names,
            expires = %format_time(loaded.cert.not_after),
            renew_at = %format_time(renew_at(loaded.leaf.not_before, loaded.leaf.not_after)),
            "installed a new ACME certificate"
        );
        let mut served = loaded.cert;
        served.origin = "acme".into();
        self.store.replace(CertSet::new(vec![served]));
        Ok(())
    }

    /// One order: challenges set up, validated, cleaned up; returns (chain PEM, key PEM).
    async fn issue(&self) -> Result<(String, String), AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(acme_err("creating the order"))?;
        let mut cleanup = Cleanup::default();
        let result = self.validate_and_finalize(&mut order, &mut cleanup).await;
        cleanup.run(self).await;
        result
    }

    async fn validate_and_finalize(
        &self,
        order: &mut instant_acme::Order,
        cleanup: &mut Cleanup,
    ) -> Result<(String, String), AcmeError> {
        let kind = self.challenge.acme_type();
        // Pass 1: put every challenge response in place.
        let mut pending = 0;
        {
            let mut authzs = order.authorizations();
            while let Some(authz) = authzs.next().await {
                let mut authz = authz.map_err(acme_err("fetching an authorization"))?;
                match authz.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => {
                        return Err(AcmeError(format!(
                            "the authorization for {} is {other:?}",
                            authz.identifier()
                        )));
                    }
                }
                let name = authz.identifier().to_string();
                let base = name.trim_start_matches("*.").to_string();
                let challenge = authz.challenge(kind.clone()).ok_or_else(|| {
                    AcmeError(format!("the CA offers no {:?} challenge for {name}; choose another tls.acme.challenge", self.challenge))
                })?;
                let key_auth = challenge.key_authorization();
                match self.challenge {
                    Challenge::Http01 => {
                        self.http01.insert(&challenge.token, key_auth.as_str());
                        cleanup.tokens.push(challenge.token.clone());
                    }
                    Challenge::TlsAlpn01 => {
                        let cert = alpn_certificate(&base, key_auth.digest().as_ref())?;
                        self.store.set_challenge(&base, cert);
                        cleanup.alpn.push(base);
                    }
                    Challenge::Dns01 => {
                        let Some(dns) = &self.dns else {
                            return Err(AcmeError("dns-01 without a DNS provider".into()));
                        };
                        let fqdn = format!("_acme-challenge.{base}");
                        let record =
                            dns.create_txt(&fqdn, &key_auth.dns_value())
                                .await
                                .map_err(|e| {
                                    AcmeError(format!("creating the TXT record {fqdn}: {e}"))
                                })?;
                        tracing::info!(record = %fqdn, provider = dns.name(), "created the dns-01 TXT record");
                        cleanup.records.push(record);
                    }
                }
                pending += 1;
            }
        }
        if self.challenge == Challenge::Dns01 && pending > 0 && !self.dns_propagation.is_zero() {
            tokio::time::sleep(self.dns_propagation).await;
        }
        // Pass 2: tell the CA to validate.
        {
            let mut authzs = order.authorizations();
            while let Some(authz) = authzs.next().await {
                let mut authz = authz.map_err(acme_err("fetching an authorization"))?;
                if authz.status != AuthorizationStatus::Pending {
                    continue;
                }
                if let Some(mut challenge) = authz.challenge(kind.clone()) {
                    challenge
                        .set_ready()
                        .await
                        .map_err(acme_err("answering the challenge"))?;
                }
            }
        }
        let retry = RetryPolicy::new()
            .initial_delay(Duration::from_millis(500))
            .backoff(1.5)
            .timeout(Duration::from_secs(180));
        let status = order
            .poll_ready(&retry)
            .await
            .map_err(acme_err("waiting for validation"))?;
        if status != OrderStatus::Ready {
            return Err(AcmeError(self.why_invalid(order).await));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| AcmeError(format!("generating the key: {e}")))?;
        let mut params = CertificateParams::new(self.domains.clone())
            .map_err(|e| AcmeError(format!("building the CSR: {e}")))?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(|e| AcmeError(format!("building the CSR: {e}")))?;
        order
            .finalize_csr(csr.der())
            .await
            .map_err(acme_err("finalizing the order"))?;
        let chain = order
            .poll_certificate(&retry)
            .await
            .map_err(acme_err("downloading the certificate"))?;
        Ok((chain, key.serialize_pem()))
    }

    /// The CA's reason an order failed validation, from the failed challenges.
    async fn why_invalid(&self, order: &mut instant_acme::Order) -> String {
        let mut reasons = Vec::new();
        let mut authzs = order.authorizations();
        while let Some(Ok(mut authz)) = authzs.next().await {
            let name = authz.identifier().to_string();
            if let Ok(state) = authz.refresh().await {
                for c in &state.challenges {
                    if let Some(p) = &c.error {
                        reasons.push(format!(
                            "{name}: {}",
                            p.detail.as_deref().unwrap_or("validation failed")
                        ));
                    }
                }
            }
        }
        let hint = match self.challenge {
            Challenge::Http01 => {
                "check that the domain's A record points at this server and port 80 is open (security group / firewall)"
            }
            Challenge::TlsAlpn01 => {
                "check that the domain's A record points at this server and port 443 is open (security group / firewall)"
            }
            Challenge::Dns01 => {
                "check the DNS provider credentials and that the domain is in that account; raise tls.acme.dns_propagation if the TXT record is slow to appear"
            }
        };
        if reasons.is_empty() {
            format!("the CA did not validate the domains; {hint}")
        } else {
            format!("validation failed: {}; {hint}", reasons.join("; "))
        }
    }
}

/// Challenge responses to take down after an order, whatever its outcome.
#[derive(Default)]
struct Cleanup {
    tokens: Vec<String>,
    alpn: Vec<String>,
    records: Vec<TxtRecord>,
}

impl Cleanup {
    async fn run(&mut self, acme: &Acme) {
        for t in self.tokens.drain(..) {
            acme.http01.remove(&t);
        }
        for d in self.alpn.drain(..) {
            acme.store.clear_challenge(&d);
        }
        if let Some(dns) = &acme.dns {
            for r in self.records.drain(..) {
                match dns.delete_txt(&r).await {
                    Ok(()) => tracing::info!(record = %r.fqdn, "removed the dns-01 TXT record"),
                    Err(e) => {
                        tracing::warn!(record = %r.fqdn, error = %e, "could not remove the dns-01 TXT record; delete it by hand")
                    }
                }
            }
        }
    }
}

fn rand_bytes() -> [u8; 8] {
    let mut b = [0u8; 8];
    if let Ok(h) = hex::decode(mb_core::ids::random_hex(8)) {
        b.copy_from_slice(&h[..8]);
    }
    b
}

/// The self-signed certificate carrying the acmeIdentifier extension (RFC 8737).
fn alpn_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let err = |e: rcgen::Error| AcmeError(format!("building the tls-alpn-01 certificate: {e}"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = CertificateParams::new(vec![domain.to_string()]).map_err(err)?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(err)?;
    certified(cert.der().clone(), key).map_err(AcmeError)
}

fn certified(der: CertificateDer<'static>, key: KeyPair) -> Result<Arc<CertifiedKey>, String> {
    let pk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(pk)
        .map_err(|e| format!("loading a generated key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(vec![der], signing)))
}

/// A temporary self-signed certificate for the domains, served until the first issuance.
fn placeholder(domains: &[String]) -> Result<ServedCert, EdgeError> {
    let err =
        |e: rcgen::Error| EdgeError::Tls(format!("cannot generate the temporary certificate: {e}"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let params = CertificateParams::new(domains.to_vec()).map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    let not_after = now_unix() + 86400;
    Ok(ServedCert {
        key: certified(cert.der().clone(), key).map_err(EdgeError::Tls)?,
        names: domains.to_vec(),
        not_after,
        origin: "temporary (waiting for ACME)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_happens_with_a_third_of_the_lifetime_left() {
        // a 90-day certificate renews 30 days before expiry
        let nb = 1_700_000_000;
        let na = nb + 90 * 86400;
        assert_eq!(renew_at(nb, na), na - 30 * 86400);
        // a 6-day certificate renews 2 days before
        assert_eq!(renew_at(nb, nb + 6 * 86400), nb + 4 * 86400);
    }

    #[test]
    fn retries_back_off_and_settle_at_four_hours() {
        let d: Vec<u64> = (1..=9).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(d, vec![5, 30, 120, 600, 1800, 3600, 7200, 14400, 14400]);
    }
}
