//! The certificate store: which certificate a TLS handshake gets, chosen by SNI (exact names,
//! then one-label wildcards, then the default), by what the client can verify (RSA or ECDSA
//! when a name has both), and, for ACME tls-alpn-01 validation, the challenge certificate.
//! Reloads swap the whole set atomically: handshakes in progress keep what they picked, and
//! established connections are never touched.

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// The ALPN protocol of ACME tls-alpn-01 validation (RFC 8737).
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// One certificate chain with its key and the names it serves.
#[derive(Debug, Clone)]
pub(crate) struct ServedCert {
    pub key: Arc<CertifiedKey>,
    /// SAN DNS names, lower case (`*.example.com` for wildcards).
    pub names: Vec<String>,
    /// Leaf expiry, seconds since the epoch.
    pub not_after: i64,
    /// Where it came from, for logs (a file path, "self-signed", "acme").
    pub origin: String,
}

/// Every certificate served at one time.
#[derive(Debug, Default)]
pub(crate) struct CertSet {
    exact: HashMap<String, Vec<Arc<CertifiedKey>>>,
    wildcard: HashMap<String, Vec<Arc<CertifiedKey>>>,
    default: Vec<Arc<CertifiedKey>>,
    pub certs: Vec<ServedCert>,
}

impl CertSet {
    /// Builds the lookup tables; the first certificate is the default (clients without SNI,
    /// IP addresses, unknown names).
    pub(crate) fn new(certs: Vec<ServedCert>) -> CertSet {
        let mut set = CertSet::default();
        for c in &certs {
            for n in &c.names {
                let table = match n.strip_prefix("*.") {
                    Some(parent) => set.wildcard.entry(parent.to_string()),
                    None => set.exact.entry(n.clone()),
                };
                table.or_default().push(c.key.clone());
            }
        }
        if let Some(first) = certs.first() {
            set.default.push(first.key.clone());
            // Same names with another key type (RSA + ECDSA pairs) also serve as default.
            for c in certs.iter().skip(1) {
                if c.names == first.names {
                    set.default.push(c.key.clone());
                }
            }
        }
        set.certs = certs;
        set
    }

    fn candidates(&self, sni: Option<&str>) -> &[Arc<CertifiedKey>] {
        if let Some(name) = sni {
            if let Some(c) = self.exact.get(name) {
                return c;
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(c) = self.wildcard.get(parent)
            {
                return c;
            }
        }
        &self.default
    }

    /// Whether some certificate covers `host`.
    pub(crate) fn covers(&self, host: &str) -> bool {
        self.exact.contains_key(host)
            || host
                .split_once('.')
                .is_some_and(|(_, parent)| self.wildcard.contains_key(parent))
    }
}

/// The resolver rustls asks on every handshake.
#[derive(Debug, Default)]
pub struct CertStore {
    set: RwLock<Arc<CertSet>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertStore {
    /// Serves `set` to every handshake from now on.
    pub(crate) fn replace(&self, set: CertSet) {
        *self.set.write() = Arc::new(set);
    }

    /// The set served now.
    pub(crate) fn current(&self) -> Arc<CertSet> {
        self.set.read().clone()
    }

    /// Serves `cert` to tls-alpn-01 validation handshakes for `domain`.
    pub(crate) fn set_challenge(&self, domain: &str, cert: Arc<CertifiedKey>) {
        self.challenges
            .write()
            .insert(domain.to_ascii_lowercase(), cert);
    }

    /// Stops serving the tls-alpn-01 certificate for `domain`.
    pub(crate) fn clear_challenge(&self, domain: &str) {
        self.challenges.write().remove(&domain.to_ascii_lowercase());
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello
            .server_name()
            .map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        if hello
            .alpn()
            .is_some_and(|mut p| p.any(|p| p == ACME_TLS_ALPN))
        {
            return sni.and_then(|name| self.challenges.read().get(&name).cloned());
        }
        let set = self.set.read().clone();
        let candidates = set.candidates(sni.as_deref());
        match candidates {
            [] => None,
            [only] => Some(only.clone()),
            many => {
                let offered = hello.signature_schemes();
                many.iter()
                    .find(|c| c.key.choose_scheme(offered).is_some())
                    .or_else(|| many.first())
                    .cloned()
            }
        }
    }
}
