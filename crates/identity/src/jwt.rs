//! HS256 access tokens, written out rather than pulled from a general JWT library so that
//! exactly one algorithm is ever accepted: a token whose header says anything but
//! `{"alg":"HS256"}` (`none`, RS256 with our secret as a "public key", …) is refused before any
//! signature is computed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const ISSUER: &str = "minibase";

/// The header of every token this server issues, `{"alg":"HS256","typ":"JWT"}`, base64url.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

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
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{HEADER_B64}.{payload}");
        let sig = B64.encode(self.sign_input(input.as_bytes()));
        format!("{input}.{sig}")
    }

    /// Verifies a token at time `now` (seconds). Runs on every signed-in request, so it does
    /// not allocate before the signature is known good: the header we issue is compared as
    /// text (any other header is decoded and must still say HS256), the MAC is fed the two
    /// parts in place and the signature decoded on the stack.
    pub fn decode(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        if token.len() > 4096 {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        if h != HEADER_B64 {
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
        }
        // An HS256 signature is 32 bytes; room for a little more, so that a longer one is
        // refused as a wrong signature rather than as malformed.
        let mut sig = [0u8; 48];
        let n = match B64.decode_slice(s, &mut sig) {
            Ok(n) => n,
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => return Err(JwtError::Signature),
            Err(base64::DecodeSliceError::DecodeError(_)) => return Err(JwtError::Malformed),
        };
        let mut mac = self.mac.clone();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        // constant-time comparison (and a length check) inside `hmac`
        mac.verify_slice(&sig[..n])
            .map_err(|_| JwtError::Signature)?;
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
pub fn claims(
    uid: &str,
    sid: &str,
    openid: &str,
    unionid: Option<&str>,
    platform: &str,
    now: i64,
    ttl_secs: i64,
) -> Claims {
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
        assert_eq!(
            b.decode(&a.encode(&sample(1000)), 1001),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn alg_none_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let h = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = B64.encode(serde_json::to_vec(&sample(1000)).unwrap());
        assert_eq!(
            k.decode(&format!("{h}.{p}."), 1001),
            Err(JwtError::Algorithm)
        );
        let h = B64.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        assert_eq!(
            k.decode(&format!("{h}.{p}.AAAA"), 1001),
            Err(JwtError::Algorithm)
        );
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
    fn issued_header_is_the_constant_compared_as_text() {
        assert_eq!(HEADER_B64, B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#));
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        assert!(
            k.encode(&sample(1000))
                .starts_with(&format!("{HEADER_B64}."))
        );
    }

    /// A token signed with our secret under another spelling of the HS256 header.
    fn signed_with_header(k: &JwtKeys, header: &[u8]) -> String {
        let h = B64.encode(header);
        let p = B64.encode(serde_json::to_vec(&sample(1000)).unwrap());
        let sig = B64.encode(k.sign_input(format!("{h}.{p}").as_bytes()));
        format!("{h}.{p}.{sig}")
    }

    #[test]
    fn another_hs256_header_still_verifies_and_other_algorithms_do_not() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = signed_with_header(&k, br#"{"typ":"JWT","alg":"HS256"}"#);
        assert_eq!(k.decode(&t, 1001).unwrap(), sample(1000));
        // correctly signed, but the header names another algorithm: refused before the MAC
        let t = signed_with_header(&k, br#"{"typ":"JWT","alg":"RS256"}"#);
        assert_eq!(k.decode(&t, 1001), Err(JwtError::Algorithm));
    }

    #[test]
    fn signatures_of_the_wrong_length_or_encoding_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.encode(&sample(1000));
        let (input, sig) = t.rsplit_once('.').unwrap();
        let raw = B64.decode(sig).unwrap();
        let truncated = B64.encode(&raw[..31]);
        assert_eq!(
            k.decode(&format!("{input}.{truncated}"), 1001),
            Err(JwtError::Signature)
        );
        let longer = B64.encode([raw.as_slice(), &[0u8; 8]].concat());
        assert_eq!(
            k.decode(&format!("{input}.{longer}"), 1001),
            Err(JwtError::Signature)
        );
        let much_longer = B64.encode([raw.as_slice(), &[0u8; 64]].concat());
        assert_eq!(
            k.decode(&format!("{input}.{much_longer}"), 1001),
            Err(JwtError::Signature)
        );
        assert_eq!(
            k.decode(&format!("{input}.{sig}!"), 1001),
            Err(JwtError::Malformed)
        );
        assert_eq!(
            k.decode(&format!("{input}."), 1001),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn garbage_refused() {
        let k = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        for t in ["", "a", "a.b", "a.b.c", "a.b.c.d", "...", &"x".repeat(5000)] {
            assert!(k.decode(t, 0).is_err(), "{t}");
        }
    }
}
