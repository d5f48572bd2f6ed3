//! Verifying what WeChat Pay sends us: answers to our requests and notifications.
//!
//! The signed message is `TIMESTAMP\nNONCE\nRAW_BODY\n` with the `Wechatpay-Timestamp`,
//! `Wechatpay-Nonce`, `Wechatpay-Signature` and `Wechatpay-Serial` headers. The serial chooses
//! the key:
//! - `PUB_KEY_ID_…`: the WeChat Pay public key (微信支付公钥, public-key mode, merchants since
//!   2024 and everyone migrating);
//! - anything else: a platform certificate (平台证书) fetched from `/v3/certificates`.
//!
//! During a migration WeChat Pay signs with either, so both can be configured at once. A
//! timestamp more than five minutes away from our clock, a missing header, an unknown serial or
//! a `WECHATPAY/SIGNTEST/` probe (WeChat Pay's check that merchants really verify) fail.

use crate::crypto::{CryptoError, parse_public_key_spki_der, verify_sha256_rsa};
use parking_lot::RwLock;
use rsa::RsaPublicKey;
use std::collections::HashMap;

/// How far a signed timestamp may be from our clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// The prefix of WeChat Pay's signature probes, which must never verify.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// The serial prefix of WeChat Pay public keys.
pub const PUB_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// Why a signature was refused. Messages are safe to log (no key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A `Wechatpay-*` header is missing or not text.
    #[error("missing {0} header (unsigned)")]
    MissingHeader(&'static str),
    /// A `WECHATPAY/SIGNTEST/` probe.
    #[error("signature test probe (WECHATPAY/SIGNTEST/) refused")]
    SignTest,
    /// The timestamp is not a number.
    #[error("bad Wechatpay-Timestamp")]
    BadTimestamp,
    /// The timestamp is too far from now.
    #[error("Wechatpay-Timestamp is more than 5 minutes from now")]
    StaleTimestamp,
    /// No key known for this serial.
    #[error("unknown Wechatpay-Serial {0}")]
    UnknownSerial(String),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// The `Wechatpay-*` headers of a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Wechatpay-Serial`.
    pub serial: String,
    /// `Wechatpay-Signature`.
    pub signature: String,
    /// `Wechatpay-Timestamp`.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
}

impl SignedHeaders {
    /// Reads the four headers; any missing one means "unsigned".
    pub fn from_headers(h: &http::HeaderMap) -> Result<SignedHeaders, VerifyError> {
        fn get(h: &http::HeaderMap, name: &'static str) -> Result<String, VerifyError> {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or(VerifyError::MissingHeader(name))
        }
        Ok(SignedHeaders {
            serial: get(h, "wechatpay-serial")?,
            signature: get(h, "wechatpay-signature")?,
            timestamp: get(h, "wechatpay-timestamp")?,
            nonce: get(h, "wechatpay-nonce")?,
        })
    }
}

/// The message WeChat Pay signs.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// A platform certificate's public key and validity.
#[derive(Debug, Clone)]
pub struct PlatformCert {
    /// Serial number, uppercase hex.
    pub serial_no: String,
    /// The certificate's key.
    pub key: RsaPublicKey,
    /// `notAfter`, seconds since the epoch.
    pub not_after: i64,
}

impl PlatformCert {
    /// Parses a decrypted certificate PEM and checks that it carries `expected_serial`.
    pub fn from_pem(pem: &str, expected_serial: &str) -> Result<PlatformCert, CryptoError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes())
            .map_err(|_| CryptoError("the platform certificate is not PEM".into()))?;
        let cert = pem
            .parse_x509()
            .map_err(|_| CryptoError("the platform certificate does not parse".into()))?;
        let serial = hex_upper(cert.tbs_certificate.raw_serial());
        let expected = normalize_serial(expected_serial);
        if serial != expected {
            return Err(CryptoError(format!(
                "platform certificate serial {serial} is not the announced {expected}"
            )));
        }
        let key = parse_public_key_spki_der(cert.tbs_certificate.subject_pki.raw)?;
        Ok(PlatformCert {
            serial_no: serial,
            key,
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    // DER serials may carry a leading 0x00 to stay positive; WeChat Pay's serials do not show it.
    let bytes = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        b => b,
    };
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Serial numbers compared case-insensitively, without leading zero bytes' worth of `00`.
pub fn normalize_serial(s: &str) -> String {
    let s = s.trim().to_ascii_uppercase();
    let t = s.trim_start_matches("00");
    if t.is_empty() { s } else { t.to_string() }
}

/// Holds every key that may sign for WeChat Pay and checks signatures against them.
#[derive(Debug, Default)]
pub struct Verifier {
    public_key: Option<(String, RsaPublicKey)>,
    certs: RwLock<HashMap<String, PlatformCert>>,
}

impl Verifier {
    /// A verifier with the public-key-mode key (`PUB_KEY_ID_…`, PEM key) when configured.
    pub fn new(public_key: Option<(String, RsaPublicKey)>) -> Verifier {
        Verifier {
            public_key,
            certs: RwLock::new(HashMap::new()),
        }
    }

    /// Adds (or replaces) platform certificates and forgets expired ones.
    pub fn add_certs(&self, certs: Vec<PlatformCert>, now_secs: i64) {
        let mut map = self.certs.write();
        map.retain(|_, c| c.not_after > now_secs);
        for c in certs {
            if c.not_after > now_secs {
                map.insert(c.serial_no.clone(), c);
            }
        }
    }

    /// The serials of the platform certificates held.
    pub fn cert_serials(&self) -> Vec<String> {
        let mut v: Vec<String> = self.certs.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether a key for `serial` is known.
    pub fn knows(&self, serial: &str) -> bool {
        self.key_for(serial).is_some()
    }

    fn key_for(&self, serial: &str) -> Option<RsaPublicKey> {
        if serial.starts_with(PUB_KEY_ID_PREFIX) {
            return match &self.public_key {
                Some((id, key)) if id == serial => Some(key.clone()),
                _ => None,
            };
        }
        self.certs
            .read()
            .get(&normalize_serial(serial))
            .map(|c| c.key.clone())
    }

    /// Checks a signed message at time `now_secs`.
    pub fn verify(&self, h: &SignedHeaders, body: &[u8], now_secs: i64) -> Result<(), VerifyError> {
        check_headers(h, now_secs)?;
        let key = self
            .key_for(&h.serial)
            .ok_or_else(|| VerifyError::UnknownSerial(h.serial.clone()))?;
        verify_with(&key, h, body)
    }
}

/// The checks that need no key: probes and the timestamp window.
pub fn check_headers(h: &SignedHeaders, now_secs: i64) -> Result<(), VerifyError> {
    if h.signature.starts_with(SIGNTEST_PREFIX) {
        return Err(VerifyError::SignTest);
    }
    let ts: i64 = h.timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now_secs - ts).abs() > MAX_SKEW_SECS {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}

/// Verifies a signed message with a given key (headers already checked).
pub fn verify_with(key: &RsaPublicKey, h: &SignedHeaders, body: &[u8]) -> Result<(), VerifyError> {
    if verify_sha256_rsa(
        key,
        &response_message(&h.timestamp, &h.nonce, body),
        &h.signature,
    ) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    mb_core::now_ms() / 1000
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::MerchantKey;

    fn signer() -> MerchantKey {
        MerchantKey::from_key(crate::crypto::tests::test_key().clone(), "X").unwrap()
    }

    fn signed(serial: &str, ts: i64, body: &[u8]) -> SignedHeaders {
        let sig = signer().sign(&response_message(&ts.to_string(), "NONCE", body));
        SignedHeaders {
            serial: serial.into(),
            signature: sig,
            timestamp: ts.to_string(),
            nonce: "NONCE".into(),
        }
    }

    #[test]
    fn public_key_mode() {
        let pk = signer().public_key().clone();
        let v = Verifier::new(Some(("PUB_KEY_ID_0114".into(), pk)));
        let now = 1_700_000_000;
        let body = br#"{"prepay_id":"wx1"}"#;
        assert_eq!(
            v.verify(&signed("PUB_KEY_ID_0114", now, body), body, now),
            Ok(())
        );
        // five minutes either way is fine, more is not
        assert_eq!(
            v.verify(&signed("PUB_KEY_ID_0114", now - 300, body), body, now),
            Ok(())
        );
        assert_eq!(
            v.verify(&signed("PUB_KEY_ID_0114", now + 301, body), body, now),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            v.verify(&signed("PUB_KEY_ID_0114", now - 301, body), body, now),
            Err(VerifyError::StaleTimestamp)
        );
        // another public key id, or a body changed after signing
        assert!(matches!(
            v.verify(&signed("PUB_KEY_ID_0115", now, body), body, now),
            Err(VerifyError::UnknownSerial(_))
        ));
        assert_eq!(
            v.verify(&signed("PUB_KEY_ID_0114", now, body), b"{}", now),
            Err(VerifyError::BadSignature)
        );
        // probe
        let mut probe = signed("PUB_KEY_ID_0114", now, body);
        probe.signature = format!("{SIGNTEST_PREFIX}{}", probe.signature);
        assert_eq!(v.verify(&probe, body, now), Err(VerifyError::SignTest));
        let mut bad_ts = signed("PUB_KEY_ID_0114", now, body);
        bad_ts.timestamp = "soon".into();
        assert_eq!(v.verify(&bad_ts, body, now), Err(VerifyError::BadTimestamp));
    }

    #[test]
    fn platform_cert_mode_and_expiry() {
        let pk = signer().public_key().clone();
        let v = Verifier::new(None);
        let now = 1_700_000_000;
        v.add_certs(
            vec![PlatformCert {
                serial_no: "5157F09EFDC096DE".into(),
                key: pk.clone(),
                not_after: now + 10,
            }],
            now,
        );
        let body = b"";
        assert_eq!(
            v.verify(&signed("5157f09efdc096de", now, body), body, now),
            Ok(())
        );
        assert!(!v.knows("PUB_KEY_ID_1"));
        // expired certificates are dropped on the next update
        v.add_certs(vec![], now + 11);
        assert!(v.cert_serials().is_empty());
    }

    #[test]
    fn headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            SignedHeaders::from_headers(&h),
            Err(VerifyError::MissingHeader("wechatpay-serial"))
        );
        h.insert("Wechatpay-Serial", "S".parse().unwrap());
        h.insert("Wechatpay-Signature", "SIG".parse().unwrap());
        h.insert("Wechatpay-Timestamp", "1".parse().unwrap());
        assert_eq!(
            SignedHeaders::from_headers(&h),
            Err(VerifyError::MissingHeader("wechatpay-nonce"))
        );
        h.insert("Wechatpay-Nonce", "N".parse().unwrap());
        assert_eq!(SignedHeaders::from_headers(&h).unwrap().nonce, "N");
        assert_eq!(normalize_serial("00ab"), "AB");
    }
}
