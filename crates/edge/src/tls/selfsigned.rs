//! `tls.mode = "self-signed"`: a local development CA and a server certificate signed by it,
//! generated into `<data_dir>/tls/` and kept across restarts, so a developer trusts the CA once
//! (`dev-ca.pem`) and every later certificate is accepted. Keys are ECDSA P-256 (fast
//! handshakes), written 0600. The server certificate covers `server.domains`, `localhost`,
//! `127.0.0.1` and `::1`; it is re-issued when those change or when it nears expiry.

use super::pem::{Loaded, from_parts, parse_pem_pair};
use super::x509::{CertFacts, now_unix};
use crate::EdgeError;
use crate::fsutil::{private_dir, write_atomic};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The files of the development CA and server certificate.
#[derive(Debug, Clone)]
pub(crate) struct SelfSigned {
    pub dir: PathBuf,
    /// Names the server certificate must cover.
    pub names: Vec<String>,
}

const CA_CERT: &str = "dev-ca.pem";
const CA_KEY: &str = "dev-ca.key";
const LEAF_CERT: &str = "dev-server.pem";
const LEAF_KEY: &str = "dev-server.key";
/// Re-issue the server certificate when less than this is left.
const RENEW_BEFORE: i64 = 30 * 86400;

fn gen_err(what: &str, e: rcgen::Error) -> EdgeError {
    EdgeError::Tls(format!(
        "tls.mode = \"self-signed\": cannot generate the {what}: {e}"
    ))
}

impl SelfSigned {
    pub(crate) fn new(data_dir: &Path, domains: &[String]) -> SelfSigned {
        let mut names: Vec<String> = domains.iter().map(|d| d.to_ascii_lowercase()).collect();
        for n in ["localhost", "127.0.0.1", "::1"] {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
        SelfSigned {
            dir: data_dir.join("tls"),
            names,
        }
    }

    /// The CA certificate developers trust.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// Loads the CA and server certificate, generating what is missing, stale or expiring.
    /// Returns the loaded pair and whether anything was generated.
    pub(crate) fn ensure(&self) -> Result<(Loaded, bool), EdgeError> {
        private_dir(&self.dir)?;
        let now = now_unix();
        let (issuer, ca_der, mut generated) = self.ensure_ca(now)?;
        let leaf_path = self.dir.join(LEAF_CERT);
        let key_path = self.dir.join(LEAF_KEY);
        if !generated && let Some(loaded) = self.usable_leaf(&leaf_path, &key_path, &ca_der, now) {
            return Ok((loaded, false));
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| gen_err("server key", e))?;
        let mut params = CertificateParams::new(self.names.clone())
            .map_err(|e| gen_err("server certificate", e))?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            self.names
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into()),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let start = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_before = start;
        // 397 days: the longest validity browsers and phones accept for a server certificate.
        params.not_after = start + Duration::days(397);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| gen_err("server certificate", e))?;
        let ca_pem = std::fs::read_to_string(self.ca_file())
            .map_err(|e| EdgeError::data_dir(self.ca_file(), e))?;
        write_atomic(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_atomic(
            &leaf_path,
            format!("{}{}", cert.pem(), ca_pem).as_bytes(),
            false,
        )?;
        generated = true;
        let loaded = self.load_leaf(&leaf_path, &key_path, now)?;
        Ok((loaded, generated))
    }

    fn load_leaf(&self, leaf_path: &Path, key_path: &Path, now: i64) -> Result<Loaded, EdgeError> {
        let cert_pem = std::fs::read(leaf_path).map_err(|e| EdgeError::data_dir(leaf_path, e))?;
        let key_pem = std::fs::read(key_path).map_err(|e| EdgeError::data_dir(key_path, e))?;
        let (chain, key) = parse_pem_pair(leaf_path, &cert_pem, key_path, &key_pem, "tls")?;
        let mut loaded = from_parts(chain, key, leaf_path, key_path, "tls", now)?;
        loaded.cert.origin = "self-signed".into();
        loaded.warnings.clear();
        Ok(loaded)
    }

    /// The existing server certificate, if it is ours, covers every name and is not expiring.
    fn usable_leaf(
        &self,
        leaf_path: &Path,
        key_path: &Path,
        ca_der: &[u8],
        now: i64,
    ) -> Option<Loaded> {
        let loaded = self.load_leaf(leaf_path, key_path, now).ok()?;
        let chain = &loaded.cert.key.cert;
        let signed_by_our_ca = chain.get(1).is_some_and(|c| c.as_ref() == ca_der);
        let covers = self.names.iter().all(|n| loaded.leaf.covers(n));
        (signed_by_our_ca && covers && loaded.leaf.not_after - now > RENEW_BEFORE).then_some(loaded)
    }

    fn ensure_ca(&self, now: i64) -> Result<(Issuer<'static, KeyPair>, Vec<u8>, bool), EdgeError> {
        let cert_path = self.dir.join(CA_CERT);
        let key_path = self.dir.join(CA_KEY);
        if let (Ok(pem), Ok(key_pem)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                .map(|d: rustls_pki_types::CertificateDer<'static>| d.as_ref().to_vec())
                .ok();
            let facts = der.as_deref().and_then(|d| CertFacts::parse(d).ok());
            if let (Some(der), Some(facts), Ok(key)) = (der, facts, KeyPair::from_pem(&key_pem))
                && facts.not_after - now > RENEW_BEFORE
                && let Ok(issuer) = Issuer::from_ca_cert_pem(&pem, key)
            {
                return Ok((issuer, der, false));
            }
            tracing::warn!(
                ca_file = %cert_path.display(),
                "the development CA is unusable or expiring; generating a new one (trust the new dev-ca.pem again)"
            );
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| gen_err("CA key", e))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| gen_err("CA certificate", e))?;
        let mut dn = DistinguishedName::new();
        let host = hostname();
        let id: String = mb_core::ids::random_hex(4);
        dn.push(DnType::OrganizationName, "Minibase development");
        dn.push(
            DnType::CommonName,
            format!("Minibase Development CA {host} {id}"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let start = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_before = start;
        params.not_after = start + Duration::days(3650);
        let cert = params
            .self_signed(&key)
            .map_err(|e| gen_err("CA certificate", e))?;
        write_atomic(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_atomic(&cert_path, cert.pem().as_bytes(), false)?;
        let der = cert.der().as_ref().to_vec();
        Ok((Issuer::new(params, key), der, true))
    }

    /// How to trust the CA, for the startup log.
    pub(crate) fn trust_instructions(&self) -> String {
        let ca = self.ca_file();
        let ca = ca.display();
        format!(
            "Development HTTPS uses a local CA: {ca}. Trust it once — curl: `curl --cacert {ca} https://localhost:PORT/api/health`; \
             Debian/Ubuntu: `sudo cp {ca} /usr/local/share/ca-certificates/minibase-dev-ca.crt && sudo update-ca-certificates`; \
             macOS: `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}`; \
             Windows: `certutil -addstore -f ROOT {ca}`; Node: `NODE_EXTRA_CA_CERTS={ca}`. \
             WeChat DevTools: Details → Local Settings → tick \"Do not verify valid domain names, web-view (business domain names), TLS versions and HTTPS certificates\" (不校验合法域名…). \
             Real phones need a real certificate: tls.mode = \"acme\" or \"files\"."
        )
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
