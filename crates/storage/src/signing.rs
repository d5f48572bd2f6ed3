//! Temporary URLs: `/storage/{cloudPath}?exp=<unix seconds>&sig=<signature>`.
//!
//! `sig` is HMAC-SHA256 over `"v1\n" + cloudPath + "\n" + exp`, keyed with the signing secret,
//! base64url without padding. Verification recomputes it and compares in constant time; an
//! expired `exp`, a tampered path, `exp` or `sig` all fail the same way (403). The secret comes
//! from `storage.signing_secret`, or is generated once into `<data_dir>/secrets/storage_signing_secret`
//! (mode 0600) so URLs survive restarts. Several instances behind one domain must share it.

use crate::path::CloudPath;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// The name of the generated signing secret (`<data_dir>/secrets/<name>`).
pub const SECRET_NAME: &str = "storage_signing_secret";

/// Signs and verifies temporary URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([redacted])")
    }
}

/// Why a temporary URL was refused. Clients get one 403 for all of them; the reason is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `exp` or `sig` missing or malformed.
    Malformed,
    /// `exp` is in the past.
    Expired,
    /// The signature does not match the path and expiry.
    BadSignature,
}

impl UrlSigner {
    /// A signer with this secret.
    pub fn new(secret: &[u8]) -> UrlSigner {
        UrlSigner {
            key: secret.to_vec(),
        }
    }

    /// The secret from config, else the one in `<data_dir>/secrets/storage_signing_secret`
    /// (generated there on first use, readable only by the owner).
    pub fn load_or_generate(configured: &str, data_dir: &Path) -> io::Result<UrlSigner> {
        if !configured.is_empty() {
            return Ok(UrlSigner::new(configured.as_bytes()));
        }
        let secret = config::generated::load_or_generate(data_dir, SECRET_NAME)?;
        Ok(UrlSigner::new(secret.as_bytes()))
    }

    fn mac(&self, path: &str, exp: i64) -> HmacSha256 {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts any key length"),
        };
        mac.update(b"v1\n");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// The signature of `path` valid until `exp` (unix seconds).
    pub fn sign(&self, path: &CloudPath, exp: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(path.as_str(), exp).finalize().into_bytes())
    }

    /// The path and query of a temporary URL: `/storage/<encoded path>?exp=…&sig=…`.
    pub fn signed_path(&self, path: &CloudPath, exp: i64) -> String {
        format!(
            "/storage/{}?exp={exp}&sig={}",
            path.url_encoded(),
            self.sign(path, exp)
        )
    }

    /// Checks `exp` and `sig` of a request for `path` at time `now` (unix seconds).
    pub fn verify(
        &self,
        path: &str,
        exp: Option<&str>,
        sig: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let exp_s = exp.ok_or(SignatureError::Malformed)?;
        let sig = sig.ok_or(SignatureError::Malformed)?;
        // Canonical decimal only: "+5" or "05" would sign differently than they parse.
        if exp_s.is_empty()
            || exp_s.len() > 12
            || !exp_s.bytes().all(|b| b.is_ascii_digit())
            || exp_s.starts_with('0')
        {
            return Err(SignatureError::Malformed);
        }
        let exp: i64 = exp_s.parse().map_err(|_| SignatureError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Malformed)?;
        // Signature first, in constant time; then expiry.
        self.mac(path, exp)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::BadSignature)?;
        if exp < now {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let s = UrlSigner::new(b"0123456789abcdef0123456789abcdef");
        let p = CloudPath::parse("a/猫.png").unwrap();
        let sig = s.sign(&p, 2000);
        assert!(s.verify("a/猫.png", Some("2000"), Some(&sig), 1000).is_ok());
        assert_eq!(
            s.verify("a/猫.png", Some("2000"), Some(&sig), 2001),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            s.verify("a/猫.pnG", Some("2000"), Some(&sig), 1000),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            s.verify("a/猫.png", Some("2001"), Some(&sig), 1000),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            s.verify("a/猫.png", Some("02000"), Some(&sig), 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify("a/猫.png", None, Some(&sig), 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            s.verify("a/猫.png", Some("2000"), Some("!!"), 1000),
            Err(SignatureError::Malformed)
        );
        let mut bad = sig.clone().into_bytes();
        bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(
            s.verify("a/猫.png", Some("2000"), Some(&bad), 1000),
            Err(SignatureError::BadSignature)
        );
        let other = UrlSigner::new(b"another secret another secret !!");
        assert_eq!(
            other.verify("a/猫.png", Some("2000"), Some(&sig), 1000),
            Err(SignatureError::BadSignature)
        );
        assert!(
            s.signed_path(&p, 2000)
                .starts_with("/storage/a/%E7%8C%AB.png?exp=2000&sig=")
        );
    }

    #[test]
    fn generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = UrlSigner::load_or_generate("", dir.path()).unwrap();
        let b = UrlSigner::load_or_generate("", dir.path()).unwrap();
        assert_eq!(a.key, b.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config::generated::secret_path(dir.path(), SECRET_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let c =
            UrlSigner::load_or_generate("configured-secret-configured-secret", dir.path()).unwrap();
        assert_ne!(a.key, c.key);
    }
}
