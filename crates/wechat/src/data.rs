//! Mini-program user data (开放数据): `encryptedData` from `wx.getUserInfo`, `wx.getWeRunData`,
//! `wx.getShareInfo`… is AES-128-CBC (PKCS#7) under the user's `session_key` with the `iv`
//! the client got alongside, and carries a `watermark.appid` that must be ours; `rawData` is
//! signed as `sha1(rawData + session_key)` in lowercase hex.
//!
//! Everything here takes untrusted input and never panics: bad base64, wrong lengths, bad
//! padding (which is what a wrong key usually produces), non-UTF-8 or non-JSON plaintext each
//! give a [`DataError`] whose message is safe to show a client (it never contains the key).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// The largest `encryptedData` accepted (base64 characters). Real payloads are a few KiB.
pub const MAX_ENCRYPTED_LEN: usize = 64 * 1024;

/// Why user data could not be decrypted or checked. Messages are client-safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The stored session key is not 16 bytes of base64 (a server-side problem).
    #[error("the session key is not a valid 16-byte base64 key")]
    BadSessionKey,
    /// `iv` is not 16 bytes of base64.
    #[error("iv must be 16 bytes, base64-encoded")]
    BadIv,
    /// `encrypted_data` is not base64, is empty, too long, or not whole AES blocks.
    #[error("encrypted_data must be base64 of whole 16-byte AES blocks")]
    BadCiphertext,
    /// The padding was wrong after decryption: a wrong or outdated session key, or tampered data.
    #[error(
        "could not decrypt: the data does not match the current session key (call wx.login again and retry)"
    )]
    Decrypt,
    /// The plaintext is not a JSON object.
    #[error("decrypted data is not a JSON object")]
    NotJson,
    /// `watermark.appid` is missing or is another mini program's.
    #[error("watermark.appid does not match this mini program")]
    WatermarkMismatch,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    // Clients sometimes send base64 that went through a query string: '+' became ' '.
    let cleaned: String = s
        .trim()
        .chars()
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(cleaned.as_bytes()).ok()
}

fn key16(s: &str, err: DataError) -> Result<[u8; 16], DataError> {
    let v = b64(s).ok_or_else(|| err.clone())?;
    <[u8; 16]>::try_from(v.as_slice()).map_err(|_| err)
}

/// Decrypts `encrypted_data` with `session_key` and `iv` (all base64), returning the plaintext
/// bytes. No watermark check: see [`decrypt_user_data`].
pub fn decrypt_raw(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
) -> Result<Vec<u8>, DataError> {
    let key = key16(session_key, DataError::BadSessionKey)?;
    let iv = key16(iv, DataError::BadIv)?;
    if encrypted_data.len() > MAX_ENCRYPTED_LEN {
        return Err(DataError::BadCiphertext);
    }
    let ct = b64(encrypted_data).ok_or(DataError::BadCiphertext)?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(DataError::BadCiphertext);
    }
    Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|_| DataError::Decrypt)
}

/// Decrypts user data and checks that `watermark.appid` equals `appid`: the answer of
/// `POST /api/auth/wechat/decrypt`.
pub fn decrypt_user_data(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<serde_json::Value, DataError> {
    let plain = decrypt_raw(session_key, encrypted_data, iv)?;
    let value: serde_json::Value =
        serde_json::from_slice(&plain).map_err(|_| DataError::NotJson)?;
    if !value.is_object() {
        return Err(DataError::NotJson);
    }
    let wm = value
        .get("watermark")
        .and_then(|w| w.get("appid"))
        .and_then(|a| a.as_str());
    match wm {
        Some(a) if !appid.is_empty() && a == appid => Ok(value),
        _ => Err(DataError::WatermarkMismatch),
    }
}

/// Encrypts `plaintext` the way WeChat does (for fakes and tests). `session_key` and `iv` are
/// base64 of 16 bytes.
pub fn encrypt_user_data(
    session_key: &str,
    iv: &str,
    plaintext: &[u8],
) -> Result<String, DataError> {
    let key = key16(session_key, DataError::BadSessionKey)?;
    let iv = key16(iv, DataError::BadIv)?;
    let ct = Aes128CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    Ok(base64::engine::general_purpose::STANDARD.encode(ct))
}

/// `sha1(raw_data + session_key)`, lowercase hex.
pub fn signature(raw_data: &str, session_key: &str) -> String {
    let mut h = Sha1::new();
    h.update(raw_data.as_bytes());
    h.update(session_key.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `signature` is `sha1(raw_data + session_key)` (hex, case-insensitive), compared in
/// constant time.
pub fn verify_signature(raw_data: &str, signature_hex: &str, session_key: &str) -> bool {
    let expected = signature(raw_data, session_key);
    let given = signature_hex.trim().to_ascii_lowercase();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // WeChat's own sample (vectors/wechat.md, "Mini-program encryptedData").
    const APPID: &str = "wx4f4bc4dec97d474b";
    const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const ENCRYPTED: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";
    const PLAIN: &str = r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#;

    #[test]
    fn official_vector_decrypts() {
        let raw = decrypt_raw(SESSION_KEY, ENCRYPTED, IV).unwrap();
        assert_eq!(raw.len(), 393);
        assert_eq!(std::str::from_utf8(&raw).unwrap(), PLAIN);
        let v = decrypt_user_data(SESSION_KEY, ENCRYPTED, IV, APPID).unwrap();
        assert_eq!(v["openId"], "oGZUI0egBJY1zhBYw2KhdUfwVJJE");
        assert_eq!(v["unionId"], "ocMvos6NjeKLIBqg5Mr9QjxrP1FA");
    }

    #[test]
    fn watermark_of_another_app_is_refused() {
        assert_eq!(
            decrypt_user_data(SESSION_KEY, ENCRYPTED, IV, "wx0000000000000000"),
            Err(DataError::WatermarkMismatch)
        );
        assert_eq!(
            decrypt_user_data(SESSION_KEY, ENCRYPTED, IV, ""),
            Err(DataError::WatermarkMismatch)
        );
    }

    #[test]
    fn round_trip() {
        let ct = encrypt_user_data(SESSION_KEY, IV, PLAIN.as_bytes()).unwrap();
        assert_eq!(ct, ENCRYPTED);
    }

    #[test]
    fn garbage_never_panics() {
        // wrong key: padding fails (or, rarely, yields non-JSON)
        let wrong = "AAAAAAAAAAAAAAAAAAAAAA==";
        let e = decrypt_user_data(wrong, ENCRYPTED, IV, APPID).unwrap_err();
        assert!(
            matches!(e, DataError::Decrypt | DataError::NotJson),
            "{e:?}"
        );
        assert_eq!(
            decrypt_raw("not base64!", ENCRYPTED, IV),
            Err(DataError::BadSessionKey)
        );
        assert_eq!(
            decrypt_raw("AAAA", ENCRYPTED, IV),
            Err(DataError::BadSessionKey)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, ENCRYPTED, "%%%"),
            Err(DataError::BadIv)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, ENCRYPTED, "AAAA"),
            Err(DataError::BadIv)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, "", IV),
            Err(DataError::BadCiphertext)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, "!!!!", IV),
            Err(DataError::BadCiphertext)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, "AAAAAAAA", IV),
            Err(DataError::BadCiphertext)
        );
        assert_eq!(
            decrypt_raw(SESSION_KEY, &"A".repeat(MAX_ENCRYPTED_LEN + 4), IV),
            Err(DataError::BadCiphertext)
        );
        // truncated ciphertext: last block gone → bad padding, not a panic
        let cut = base64::engine::general_purpose::STANDARD.encode(&b64(ENCRYPTED).unwrap()[..32]);
        assert!(decrypt_user_data(SESSION_KEY, &cut, IV, APPID).is_err());
        // flipped iv changes the first block only → not JSON
        let e = decrypt_user_data(SESSION_KEY, ENCRYPTED, "AAAAAAAAAAAAAAAAAAAAAA==", APPID)
            .unwrap_err();
        assert_eq!(e, DataError::NotJson);
        // a valid encryption of non-JSON
        let ct = encrypt_user_data(SESSION_KEY, IV, b"\xff\xfe not json").unwrap();
        assert_eq!(
            decrypt_user_data(SESSION_KEY, &ct, IV, APPID),
            Err(DataError::NotJson)
        );
        // a JSON array is not user data
        let ct = encrypt_user_data(SESSION_KEY, IV, b"[1,2]").unwrap();
        assert_eq!(
            decrypt_user_data(SESSION_KEY, &ct, IV, APPID),
            Err(DataError::NotJson)
        );
        // no watermark
        let ct = encrypt_user_data(SESSION_KEY, IV, br#"{"a":1}"#).unwrap();
        assert_eq!(
            decrypt_user_data(SESSION_KEY, &ct, IV, APPID),
            Err(DataError::WatermarkMismatch)
        );
    }

    #[test]
    fn messages_never_carry_the_key() {
        for e in [
            DataError::BadSessionKey,
            DataError::Decrypt,
            DataError::BadIv,
        ] {
            assert!(!e.to_string().contains(SESSION_KEY));
        }
    }

    // vectors/wechat.md, "rawData signature".
    #[test]
    fn official_signature_vector() {
        let key = "HyVFkGl5F5OQWJZZaNzBBg==";
        let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
        let sig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c";
        assert_eq!(signature(raw, key), sig);
        assert!(verify_signature(raw, sig, key));
        assert!(verify_signature(raw, &sig.to_uppercase(), key));
        assert!(!verify_signature(
            raw,
            "75e81ceda165f4ffa64f4068af58c64b8f54b88d",
            key
        ));
        assert!(!verify_signature(&format!("{raw} "), sig, key));
        assert!(!verify_signature(raw, "", key));
        assert!(!verify_signature(raw, sig, "other"));
    }
}
