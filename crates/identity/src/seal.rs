//! Encryption at rest for per-user platform secrets (WeChat `session_key`): AES-256-GCM with a
//! key derived from the JWT secret (so every instance that can verify tokens can also unseal,
//! and nothing new has to be configured). Stored as `v1:<base64(nonce ‖ ciphertext)>`.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Seals and unseals small secrets.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// A sealer whose key is HMAC-SHA256(root_secret, purpose).
    pub fn derive(root_secret: &[u8], purpose: &str) -> Sealer {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(root_secret).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        let key = mac.finalize().into_bytes();
        Sealer {
            cipher: Aes256Gcm::new(&key),
        }
    }

    /// Encrypts `plain`, binding it to `context` (e.g. the user id) so a sealed value cannot be
    /// moved to another user.
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                aes_gcm::aead::Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", B64.encode(out))
    }

    /// Decrypts a value made by [`Sealer::seal`] with the same context.
    pub fn unseal(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let raw = B64.decode(sealed.strip_prefix("v1:")?).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                aes_gcm::aead::Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::derive(b"root-secret-root-secret-root-secret", "session_key");
        let sealed = s.seal(b"tiihtNczf5v6AKRyjwEUhQ==", "u1");
        assert!(!sealed.contains("tiih"));
        assert_eq!(
            s.unseal(&sealed, "u1").unwrap(),
            b"tiihtNczf5v6AKRyjwEUhQ=="
        );
        assert!(s.unseal(&sealed, "u2").is_none());
        let other = Sealer::derive(b"another-root-secret-another-root", "session_key");
        assert!(other.unseal(&sealed, "u1").is_none());
        assert!(s.unseal("v1:garbage", "u1").is_none());
        assert!(s.unseal("", "u1").is_none());
    }
}
