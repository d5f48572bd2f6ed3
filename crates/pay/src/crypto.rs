//! The cryptographic primitives of WeChat Pay API v3, each small and separately tested:
//!
//! - [`MerchantKey`]: the merchant private key (`apiclient_key.pem`, PKCS#8 or PKCS#1) and its
//!   certificate serial; signs with SHA256withRSA (PKCS#1 v1.5), base64.
//! - [`parse_public_key_pem`] and [`verify_sha256_rsa`]: WeChat Pay's public keys (public-key
//!   mode `pub_key.pem`, or the key of a platform certificate).
//! - [`ApiV3Key`]: AEAD_AES_256_GCM (AES-GCM, 12-byte nonce, 16-byte tag appended) used for
//!   notification resources and `/v3/certificates`. Production keys are 32 bytes; 16-byte keys
//!   are accepted so WeChat's published AES-128 test vector runs too.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::fmt;

/// A key or ciphertext that could not be used; the message never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub String);

fn err(msg: impl Into<String>) -> CryptoError {
    CryptoError(msg.into())
}

/// The merchant API private key and the serial number of its certificate (商户API证书序列号).
#[derive(Clone)]
pub struct MerchantKey {
    key: SigningKey<Sha256>,
    public: RsaPublicKey,
    serial_no: String,
}

impl fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantKey")
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl MerchantKey {
    /// Reads `apiclient_key.pem`: `-----BEGIN PRIVATE KEY-----` (PKCS#8, what the merchant
    /// console's tool writes) or `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    pub fn from_pem(pem: &str, serial_no: &str) -> Result<MerchantKey, CryptoError> {
        let pem = pem.trim();
        let key = if pem.contains("BEGIN RSA PRIVATE KEY") {
            RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|_| err("not a valid PKCS#1 RSA private key PEM"))?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            RsaPrivateKey::from_pkcs8_pem(pem)
                .map_err(|_| err("not a valid PKCS#8 RSA private key PEM"))?
        } else {
            return Err(err(
                "expected a PEM private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
            ));
        };
        Self::from_key(key, serial_no)
    }

    /// Wraps an already parsed key.
    pub fn from_key(key: RsaPrivateKey, serial_no: &str) -> Result<MerchantKey, CryptoError> {
        use rsa::traits::PublicKeyParts;
        if key.size() < 256 {
            return Err(err("the merchant key must be RSA 2048 bits or more"));
        }
        if serial_no.trim().is_empty() {
            return Err(err("the merchant certificate serial number is empty"));
        }
        let public = key.to_public_key();
        Ok(MerchantKey {
            key: SigningKey::<Sha256>::new(key),
            public,
            serial_no: serial_no.trim().to_string(),
        })
    }

    /// The merchant certificate serial number this key belongs to.
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// The public half (what WeChat Pay, and our tests, verify with).
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// SHA256withRSA over `message`, base64. Uses RSA blinding. This is a few milliseconds of
    /// CPU: callers on the async runtime go through `spawn_blocking`.
    pub fn sign(&self, message: &[u8]) -> String {
        let sig: Signature = self.key.sign_with_rng(&mut rand::rngs::OsRng, message);
        B64.encode(sig.to_bytes())
    }
}

/// Parses a public key PEM: SPKI (`BEGIN PUBLIC KEY`, the WeChat Pay public key file) or
/// PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn parse_public_key_pem(pem: &str) -> Result<RsaPublicKey, CryptoError> {
    let pem = pem.trim();
    if pem.contains("BEGIN RSA PUBLIC KEY") {
        RsaPublicKey::from_pkcs1_pem(pem).map_err(|_| err("not a valid PKCS#1 RSA public key PEM"))
    } else if pem.contains("BEGIN PUBLIC KEY") {
        RsaPublicKey::from_public_key_pem(pem).map_err(|_| err("not a valid RSA public key PEM"))
    } else {
        Err(err("expected a PEM public key (BEGIN PUBLIC KEY)"))
    }
}

/// Parses a DER SubjectPublicKeyInfo holding an RSA key (from a certificate).
pub fn parse_public_key_spki_der(der: &[u8]) -> Result<RsaPublicKey, CryptoError> {
    RsaPublicKey::from_public_key_der(der)
        .map_err(|_| err("the certificate does not hold an RSA public key"))
}

/// Whether `signature_b64` is a valid SHA256withRSA signature of `message` by `key`.
pub fn verify_sha256_rsa(key: &RsaPublicKey, message: &[u8], signature_b64: &str) -> bool {
    let Ok(raw) = B64.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &sig)
        .is_ok()
}

/// The APIv3 key (APIv3密钥), for AEAD_AES_256_GCM.
#[derive(Clone)]
pub struct ApiV3Key(Vec<u8>);

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key([redacted])")
    }
}

impl ApiV3Key {
    /// The key as set in the merchant console: 32 ASCII characters (16 also accepted, for the
    /// published AES-128 test vector).
    pub fn new(key: &[u8]) -> Result<ApiV3Key, CryptoError> {
        match key.len() {
            16 | 32 => Ok(ApiV3Key(key.to_vec())),
            n => Err(err(format!("the APIv3 key must be 32 bytes, got {n}"))),
        }
    }

    /// Decrypts `ciphertext_b64` (ciphertext ‖ 16-byte tag) with `nonce` (12 bytes) and
    /// `associated_data`; fails on any tampering.
    pub fn decrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        ciphertext_b64: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        if nonce.len() != 12 {
            return Err(err("the resource nonce must be 12 bytes"));
        }
        let data = B64
            .decode(ciphertext_b64.trim())
            .map_err(|_| err("the resource ciphertext is not base64"))?;
        if data.len() < 16 {
            return Err(err("the resource ciphertext is too short"));
        }
        let nonce = Nonce::from_slice(nonce.as_bytes());
        let payload = Payload {
            msg: &data,
            aad: associated_data.as_bytes(),
        };
        let out = match self.0.len() {
            32 => Aes256Gcm::new_from_slice(&self.0)
                .map_err(|_| err("bad key"))?
                .decrypt(nonce, payload),
            _ => Aes128Gcm::new_from_slice(&self.0)
                .map_err(|_| err("bad key"))?
                .decrypt(nonce, payload),
        };
        out.map_err(|_| {
            err("the resource does not decrypt with the APIv3 key (wrong key or tampered)")
        })
    }

    /// Encrypts (used by tests and by the fake WeChat Pay server's checks of our decryption).
    pub fn encrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        plaintext: &[u8],
    ) -> Result<String, CryptoError> {
        if nonce.len() != 12 {
            return Err(err("the nonce must be 12 bytes"));
        }
        let nonce = Nonce::from_slice(nonce.as_bytes());
        let payload = Payload {
            msg: plaintext,
            aad: associated_data.as_bytes(),
        };
        let out = match self.0.len() {
            32 => Aes256Gcm::new_from_slice(&self.0)
                .map_err(|_| err("bad key"))?
                .encrypt(nonce, payload),
            _ => Aes128Gcm::new_from_slice(&self.0)
                .map_err(|_| err("bad key"))?
                .encrypt(nonce, payload),
        };
        out.map(|c| B64.encode(c))
            .map_err(|_| err("encryption failed"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use std::sync::OnceLock;

    pub(crate) fn test_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("keygen"))
    }

    /// WeChat Pay's published AEAD vector (16-byte key, i.e. AES-128-GCM).
    #[test]
    fn published_aes_gcm_vector() {
        let key = ApiV3Key::new(b"testAPIv3Key0000").unwrap();
        let plain = key
            .decrypt(
                "wCq51qZv4Yfg",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
            )
            .unwrap();
        assert_eq!(plain, b"Hello World");
        // and encryption reproduces the published ciphertext
        let c = key
            .encrypt(
                "wCq51qZv4Yfg",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                b"Hello World",
            )
            .unwrap();
        assert_eq!(c, "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC");
        // tampered aad, nonce or ciphertext fail
        assert!(
            key.decrypt(
                "wCq51qZv4Yfg",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR9",
                "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            )
            .is_err()
        );
        assert!(
            key.decrypt(
                "wCq51qZv4Yfh",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            )
            .is_err()
        );
        assert!(
            key.decrypt(
                "wCq51qZv4Yfg",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                "GsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            )
            .is_err()
        );
        assert!(
            key.decrypt("short", "", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC")
                .is_err()
        );
        assert!(key.decrypt("wCq51qZv4Yfg", "", "not base64!").is_err());
    }

    /// Production keys: 32 bytes, AES-256-GCM, generated here.
    #[test]
    fn aes_256_gcm_with_generated_keys() {
        for _ in 0..8 {
            let raw = mb_core::ids::random_alnum(32);
            let key = ApiV3Key::new(raw.as_bytes()).unwrap();
            let nonce = mb_core::ids::random_alnum(12);
            let c = key
                .encrypt(&nonce, "transaction", "{\"a\":1}".as_bytes())
                .unwrap();
            assert_eq!(
                key.decrypt(&nonce, "transaction", &c).unwrap(),
                b"{\"a\":1}"
            );
            let other = ApiV3Key::new(mb_core::ids::random_alnum(32).as_bytes()).unwrap();
            assert!(other.decrypt(&nonce, "transaction", &c).is_err());
            assert!(key.decrypt(&nonce, "refund", &c).is_err());
        }
        assert!(ApiV3Key::new(b"short").is_err());
        assert!(ApiV3Key::new(&[0u8; 24]).is_err());
        assert_eq!(
            format!("{:?}", ApiV3Key::new(&[7u8; 32]).unwrap()),
            "ApiV3Key([redacted])"
        );
    }

    #[test]
    fn merchant_key_pkcs8_and_pkcs1_sign_and_verify() {
        let key = test_key();
        let p8 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let p1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
        let a = MerchantKey::from_pem(&p8, "ABC123").unwrap();
        let b = MerchantKey::from_pem(&p1, " ABC123\n").unwrap();
        assert_eq!(b.serial_no(), "ABC123");
        let pub_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let public = parse_public_key_pem(&pub_pem).unwrap();
        let msg = b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n";
        let s1 = a.sign(msg);
        let s2 = b.sign(msg);
        // PKCS#1 v1.5 is deterministic (blinding does not change the result)
        assert_eq!(s1, s2);
        assert!(verify_sha256_rsa(&public, msg, &s1));
        assert!(!verify_sha256_rsa(&public, b"other", &s1));
        assert!(!verify_sha256_rsa(&public, msg, "bm90IGEgc2lnbmF0dXJl"));
        assert!(!verify_sha256_rsa(&public, msg, "%%%"));
        assert!(format!("{a:?}").contains("ABC123"));
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }

    #[test]
    fn bad_pems_are_refused_clearly() {
        assert!(
            MerchantKey::from_pem("hello", "S")
                .unwrap_err()
                .0
                .contains("PEM private key")
        );
        assert!(
            MerchantKey::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "S"
            )
            .is_err()
        );
        let p8 = test_key().to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(MerchantKey::from_pem(&p8, "  ").is_err());
        assert!(parse_public_key_pem("nope").is_err());
        assert!(parse_public_key_pem(&p8).is_err());
    }
}
