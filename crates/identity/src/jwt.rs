//! HS256 access tokens, written out rather than pulled from a general JWT library so that
//! exactly one algorithm is ever accepted: a token whose header says anything but
//! `{"alg":"HS256"}` (`none`, RS256 with our secret as a "public key", …) is refused before any
//! signature is computed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const ISSUER: &str = "minibase";

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Always `minibase`.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The login session (refresh-token family) it belongs to.
    pub sid: String,
    /// The platform openid.
    pub oid: String,
    /// The unionid, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uni: Option<String>,
    /// Platform (`wechat`, …).
    pub plt: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

/// Why a token was refused. Deliberately coarse: clients only learn "401".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm (or none).
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not verify with our secret.
    #[error("invalid token signature")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Not issued by Minibase.
    #[error("token not issued by this server")]
    Issuer,
}

/// Signs and verifies with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    mac: HmacSha256,
}

impl JwtKeys {
    /// Keys from a secret (at least 32 bytes in practice; config validation enforces it).
    pub fn new(secret: &[u8]) -> JwtKeys {
        // HMAC accepts keys of any length; this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        JwtKeys { mac }
    }

    fn sign_input(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    /// Encodes and signs claims.
    pub fn encode(&self, claims: &Claims) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{header}.{payload}");
        let sig = B64.encode(self.sign_input(input.as_bytes()));
        format!("{input}.{sig}")
    }

    /// Verifies a token at time `now` (seconds).
    pub fn decode(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        if token.len() > 4096 {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        #[derive(Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if header.alg != "HS256" {
            return Err(JwtError::Algorithm);
        }
        let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
        let expected = self.sign_input(format!("{h}.{p}").as_bytes());
        if sig.len() != expected.len() || !bool::from(sig.ct_eq(&expected)) {
            return Err(JwtError::Signature);
        }
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(JwtError::Issuer);
        }
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }
}

/// Claims for a new token.
pub fn claims(uid: &str, sid: &str, openid: &str, unionid: Option<&str>, platform: &str, now: i64, ttl_secs: i64) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: uid.into(),
        sid: sid.into(),
        oid: openid.into(),
        uni: unionid.map(str::to_string),
        plt: platform.into(),
        iat: now,
        exp: now + ttl_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(now: i64) -> Claims {
        claims("u1", "s1", "o1", Some("un1"), "wechat", now, 60)
    }

    #[test]
    fn round_trip() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.encode(&sample(1000));
        assert_eq!(k.decode(&t, 1001).unwrap(), sample(1000));
    }

    #[test]
    fn expired_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.encode(&sample(1000));
        assert_eq!(k.decode(&t, 1060), Err(JwtError::Expired));
    }

    #[test]
    fn other_secret_refused() {
        let a = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let b = JwtKeys::new(b"fedcba9876543210fedcba9876543210");
        assert_eq!(b.decode(&a.encode(&sample(1000)), 1001), Err(JwtError::Signature));
    }

    #[test]
    fn alg_none_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let h = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = B64.encode(serde_json::to_vec(&sample(1000)).unwrap());
        assert_eq!(k.decode(&format!("{h}.{p}."), 1001), Err(JwtError::Algorithm));
        let h = B64.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        assert_eq!(k.decode(&format!("{h}.{p}.AAAA"), 1001), Err(JwtError::Algorithm));
    }

    #[test]
    fn tampered_payload_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.encode(&sample(1000));
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let mut c = sample(1000);
        c.sub = "someone-else".into();
        parts[1] = B64.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(k.decode(&parts.join("."), 1001), Err(JwtError::Signature));
    }

    #[test]
    fn garbage_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        for t in ["", "a", "a.b", "a.b.c", "a.b.c.d", "...", &"x".repeat(5000)] {
            assert!(k.decode(t, 0).is_err(), "{t}");
        }
    }
}
