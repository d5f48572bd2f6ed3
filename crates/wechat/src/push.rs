//! Message push (消息推送) crypto and parsing: WeChat's `WXBizMsgCrypt` scheme.
//!
//! - **Plain mode (明文模式)**: the query carries `signature = sha1(sort(token, timestamp,
//!   nonce))`; the body is the message itself, JSON or XML.
//! - **Safe mode (安全模式)**, `encrypt_type=aes`: the body is `{"ToUserName","Encrypt"}` (or
//!   the XML equivalent); `msg_signature = sha1(sort(token, timestamp, nonce, Encrypt))`;
//!   `Encrypt` is AES-256-CBC under `base64(EncodingAESKey + "=")` with iv = key[0..16] and
//!   PKCS#7 padding to **32-byte** blocks, over `16 random bytes ‖ u32 BE length ‖ message ‖
//!   appid`. The trailing appid must be ours.
//! - **URL verification (GET)**: `signature` + `echostr` (answered as is), or WeCom-style
//!   `msg_signature` + encrypted `echostr` (answered decrypted).
//!
//! [`PushCrypto::open`] does all checks for a POST, including the timestamp window;
//! [`ReplayCache`] refuses a `(timestamp, nonce, signature)` seen before. Nothing here panics on
//! hostile input; every refusal is a [`PushError`] that says 401 (signature) or 400 (the rest).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use std::collections::{HashMap, VecDeque};
use subtle::ConstantTimeEq;

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;

/// How far a push `timestamp` may be from our clock, in seconds, by default.
pub const DEFAULT_WINDOW_SECS: i64 = 300;
/// Deepest XML nesting accepted in a push body.
const MAX_XML_DEPTH: usize = 16;

/// Why a push request was refused. [`PushError::status`] says how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// A required query parameter or body field is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// `signature` / `msg_signature` does not match: forged, or the Token is wrong.
    #[error("push signature does not match")]
    BadSignature,
    /// `timestamp` is not a number or too far from now.
    #[error("push timestamp is missing, malformed or outside the allowed window")]
    StaleTimestamp,
    /// This `(timestamp, nonce, signature)` was already accepted.
    #[error("push message replayed (nonce already used)")]
    Replayed,
    /// A safe-mode message arrived but no EncodingAESKey is configured.
    #[error("safe-mode push received but wechat.push_aes_key is not configured")]
    NotConfigured,
    /// `Encrypt` is not base64 of whole blocks, or its padding/length is wrong.
    #[error("push message could not be decrypted")]
    Decrypt,
    /// The decrypted message names another appid.
    #[error("push message is for another appid")]
    AppidMismatch,
    /// The body is neither a JSON object nor an XML document.
    #[error("push body is not a valid JSON or XML message")]
    BadBody,
}

impl PushError {
    /// 401 for signature failures, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            PushError::BadSignature => 401,
            _ => 400,
        }
    }
}

/// Whether a body was JSON or XML (replies use the same format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// `{…}`
    Json,
    /// `<xml>…</xml>`
    Xml,
}

/// The query string WeChat sends with a push (all optional here; checks say what is missing).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PushQuery {
    /// 3-field signature (plain mode and URL verification).
    pub signature: Option<String>,
    /// Seconds since the epoch, as text.
    pub timestamp: Option<String>,
    /// Random nonce.
    pub nonce: Option<String>,
    /// URL verification challenge.
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    pub encrypt_type: Option<String>,
    /// 4-field signature (safe mode).
    pub msg_signature: Option<String>,
    /// The user's openid (sent by WeChat for convenience).
    pub openid: Option<String>,
}

/// An accepted, decrypted push message.
#[derive(Debug, Clone)]
pub struct PushMessage {
    /// The message's own format.
    pub format: BodyFormat,
    /// Whether it arrived encrypted (safe mode).
    pub encrypted: bool,
    /// The message as JSON (XML elements become string fields; nested ones objects).
    pub message: Value,
    /// The message text exactly as sent (after decryption).
    pub raw: String,
    /// The signature that authenticated it (a replay key together with timestamp and nonce).
    pub signature: String,
    /// `timestamp` from the query.
    pub timestamp: i64,
    /// `nonce` from the query.
    pub nonce: String,
}

impl PushMessage {
    /// The key under which replays are recognised: stable for a given request.
    pub fn replay_key(&self) -> String {
        sha1_hex(&[&self.timestamp.to_string(), &self.nonce, &self.signature])
    }
}

impl PushMessage {
    /// The document stored in `_wechat_push` for this message (its `_id` is [`Self::replay_key`]).
    pub fn to_record(&self, openid: Option<&str>, received_at_ms: i64) -> Value {
        let field = |k: &str| {
            self.message
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        serde_json::json!({
            "_id": self.replay_key(),
            "received_at": { "$date": received_at_ms },
            "format": self.format,
            "encrypted": self.encrypted,
            "openid": openid.map(str::to_string).or_else(|| field("FromUserName")),
            "msg_type": field("MsgType"),
            "event": field("Event"),
            "message": self.message,
        })
    }
}

/// Where accepted push messages go after they are stored: the functions area registers one
/// that runs `wechat.push_function`. Called after the answer to WeChat, off the request path.
#[async_trait::async_trait]
pub trait PushHandler: Send + Sync + 'static {
    /// Handles one accepted message. `function` is `wechat.push_function`; `record` is the
    /// stored `_wechat_push` document (with `message`). An error is logged and recorded on the
    /// document as `handler_error`.
    async fn handle(&self, function: &str, record: &Value) -> Result<(), String>;
}

/// `sha1(concat(sorted(parts)))`, lowercase hex: WeChat's push signature.
pub fn sign(parts: &[&str]) -> String {
    let mut v: Vec<&str> = parts.to_vec();
    v.sort_unstable();
    let mut h = Sha1::new();
    for p in v {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn sha1_hex(parts: &[&str]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

fn eq_ct(a: &str, b: &str) -> bool {
    let a = a.trim().to_ascii_lowercase();
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Decodes a 43-character EncodingAESKey into the 32-byte AES key.
pub fn decode_aes_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    if encoding_aes_key.len() != 43 {
        return None;
    }
    // WeChat's keys often have non-zero trailing bits in the last character: decode leniently.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = engine
        .decode(format!("{encoding_aes_key}=").as_bytes())
        .ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// The push configuration: Token, optional EncodingAESKey, appid. Cheap to share.
#[derive(Clone)]
pub struct PushCrypto {
    token: String,
    key: Option<[u8; 32]>,
    appid: String,
    window_secs: i64,
}

impl std::fmt::Debug for PushCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCrypto")
            .field("appid", &self.appid)
            .field("safe_mode", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl PushCrypto {
    /// `token` is the console's Token; `encoding_aes_key` the 43-character EncodingAESKey
    /// (empty = plain mode only); `appid` ours. `None` when the key is malformed.
    pub fn new(token: &str, encoding_aes_key: &str, appid: &str) -> Option<Self> {
        let key = if encoding_aes_key.is_empty() {
            None
        } else {
            Some(decode_aes_key(encoding_aes_key)?)
        };
        Some(PushCrypto {
            token: token.to_string(),
            key,
            appid: appid.to_string(),
            window_secs: DEFAULT_WINDOW_SECS,
        })
    }

    /// Changes the accepted clock difference (seconds).
    pub fn with_window(mut self, secs: i64) -> Self {
        self.window_secs = secs.max(1);
        self
    }

    /// Whether safe mode is available.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The 3-field signature for `timestamp` and `nonce`.
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sign(&[&self.token, timestamp, nonce])
    }

    /// The 4-field signature over an `Encrypt` value.
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sign(&[&self.token, timestamp, nonce, encrypt])
    }

    /// URL verification (GET): the text to answer, or why not. WeChat's mini-program console
    /// sends `signature` + plain `echostr`; WeCom-style `msg_signature` + encrypted `echostr` is
    /// accepted too and answered decrypted. No timestamp window here: the console's check is
    /// a one-off and replaying it reveals nothing.
    pub fn verify_url(&self, q: &PushQuery) -> Result<String, PushError> {
        let ts = q
            .timestamp
            .as_deref()
            .ok_or(PushError::Missing("timestamp"))?;
        let nonce = q.nonce.as_deref().ok_or(PushError::Missing("nonce"))?;
        let echostr = q.echostr.as_deref().ok_or(PushError::Missing("echostr"))?;
        if let Some(msg_sig) = q.msg_signature.as_deref() {
            if self.key.is_none() {
                return Err(PushError::NotConfigured);
            }
            if !eq_ct(msg_sig, &self.msg_signature(ts, nonce, echostr)) {
                return Err(PushError::BadSignature);
            }
            return self.decrypt(echostr);
        }
        let sig = q
            .signature
            .as_deref()
            .ok_or(PushError::Missing("signature"))?;
        if !eq_ct(sig, &self.signature(ts, nonce)) {
            return Err(PushError::BadSignature);
        }
        Ok(echostr.to_string())
    }

    /// Verifies and opens a pushed message (POST): timestamp window, signature (3-field in plain
    /// mode, `msg_signature` in safe mode), decryption and appid check. `now_secs` is the
    /// current Unix time. Replays are the caller's to check, with [`PushMessage::replay_key`].
    pub fn open(
        &self,
        q: &PushQuery,
        body: &[u8],
        now_secs: i64,
    ) -> Result<PushMessage, PushError> {
        let ts_s = q
            .timestamp
            .as_deref()
            .ok_or(PushError::Missing("timestamp"))?;
        let nonce = q.nonce.as_deref().ok_or(PushError::Missing("nonce"))?;
        if nonce.is_empty() || nonce.len() > 128 {
            return Err(PushError::Missing("nonce"));
        }
        let ts: i64 = ts_s.trim().parse().map_err(|_| PushError::StaleTimestamp)?;
        if (now_secs - ts).abs() > self.window_secs {
            return Err(PushError::StaleTimestamp);
        }
        let text = std::str::from_utf8(body).map_err(|_| PushError::BadBody)?;
        let safe = q
            .encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"));
        if safe {
            if self.key.is_none() {
                return Err(PushError::NotConfigured);
            }
            let msg_sig = q
                .msg_signature
                .as_deref()
                .ok_or(PushError::Missing("msg_signature"))?;
            let (_, outer) = parse_body(text)?;
            let encrypt = outer
                .get("Encrypt")
                .and_then(Value::as_str)
                .ok_or(PushError::Missing("Encrypt"))?;
            let expected = self.msg_signature(ts_s, nonce, encrypt);
            if !eq_ct(msg_sig, &expected) {
                return Err(PushError::BadSignature);
            }
            let inner = self.decrypt(encrypt)?;
            let (format, message) = parse_body(&inner)?;
            Ok(PushMessage {
                format,
                encrypted: true,
                message,
                raw: inner,
                signature: expected,
                timestamp: ts,
                nonce: nonce.to_string(),
            })
        } else {
            let sig = q
                .signature
                .as_deref()
                .ok_or(PushError::Missing("signature"))?;
            let expected = self.signature(ts_s, nonce);
            if !eq_ct(sig, &expected) {
                return Err(PushError::BadSignature);
            }
            let (format, message) = parse_body(text)?;
            // Signature covers only timestamp+nonce in plain mode: the replay key includes
            // a digest of the body so two different messages never collide.
            let signature = sign(&[&expected, &sha1_hex(&[text])]);
            Ok(PushMessage {
                format,
                encrypted: false,
                message,
                raw: text.to_string(),
                signature,
                timestamp: ts,
                nonce: nonce.to_string(),
            })
        }
    }

    /// Decrypts an `Encrypt` value and checks the trailing appid.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, PushError> {
        let key = self.key.ok_or(PushError::NotConfigured)?;
        let ct = base64::engine::general_purpose::STANDARD
            .decode(encrypt_b64.trim().as_bytes())
            .map_err(|_| PushError::Decrypt)?;
        if ct.is_empty() || ct.len() % 16 != 0 || ct.len() > 4 * 1024 * 1024 {
            return Err(PushError::Decrypt);
        }
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let mut buf = Aes256CbcDec::new(&key.into(), &iv.into())
            .decrypt_padded_vec_mut::<NoPadding>(&ct)
            .map_err(|_| PushError::Decrypt)?;
        // PKCS#7 with 32-byte blocks: 1..=32 bytes of value n.
        let n = *buf.last().ok_or(PushError::Decrypt)? as usize;
        if n == 0
            || n > 32
            || n > buf.len()
            || !buf[buf.len() - n..].iter().all(|&b| b as usize == n)
        {
            return Err(PushError::Decrypt);
        }
        buf.truncate(buf.len() - n);
        if buf.len() < 20 {
            return Err(PushError::Decrypt);
        }
        let len = u32::from_be_bytes([buf[16], buf[17], buf[18], buf[19]]) as usize;
        let rest = &buf[20..];
        if len > rest.len() {
            return Err(PushError::Decrypt);
        }
        let (msg, appid) = rest.split_at(len);
        if !self.appid.is_empty() && appid != self.appid.as_bytes() {
            return Err(PushError::AppidMismatch);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| PushError::Decrypt)
    }

    /// Encrypts `msg` as WeChat does, with the given 16 random bytes (for replies, fakes and tests).
    pub fn encrypt_with(&self, msg: &str, random16: &[u8; 16]) -> Result<String, PushError> {
        let key = self.key.ok_or(PushError::NotConfigured)?;
        let mut plain = Vec::with_capacity(20 + msg.len() + self.appid.len() + 32);
        plain.extend_from_slice(random16);
        plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let ct =
            Aes256CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<NoPadding>(&plain);
        Ok(base64::engine::general_purpose::STANDARD.encode(ct))
    }

    /// Encrypts `msg` with fresh random bytes.
    pub fn encrypt(&self, msg: &str) -> Result<String, PushError> {
        let mut r = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut r);
        self.encrypt_with(msg, &r)
    }
}

/// A bounded memory of accepted replay keys, each kept for the timestamp window.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<ReplayInner>,
    ttl_secs: i64,
    max: usize,
}

#[derive(Debug, Default)]
struct ReplayInner {
    seen: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl ReplayCache {
    /// Keeps keys `ttl_secs` (use twice the timestamp window), at most `max` of them.
    pub fn new(ttl_secs: i64, max: usize) -> Self {
        ReplayCache {
            inner: Mutex::new(ReplayInner::default()),
            ttl_secs,
            max: max.max(1),
        }
    }

    /// Records `key`; `false` when it was already there (a replay).
    pub fn insert(&self, key: &str, now_secs: i64) -> bool {
        let mut g = self.inner.lock();
        while let Some((exp, _)) = g.order.front() {
            if *exp > now_secs && g.order.len() < self.max {
                break;
            }
            if let Some((_, k)) = g.order.pop_front() {
                g.seen.remove(&k);
            }
        }
        if g.seen.contains_key(key) {
            return false;
        }
        let exp = now_secs + self.ttl_secs;
        g.seen.insert(key.to_string(), exp);
        g.order.push_back((exp, key.to_string()));
        true
    }

    /// Forgets `key` (when storing the message failed and WeChat may retry).
    pub fn remove(&self, key: &str) {
        let mut g = self.inner.lock();
        g.seen.remove(key);
    }
}

/// Parses a push body: a JSON object, or an XML document whose root's children become fields.
pub fn parse_body(text: &str) -> Result<(BodyFormat, Value), PushError> {
    let t = text.trim_start_matches('\u{feff}').trim();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|_| PushError::BadBody)?;
        if !v.is_object() {
            return Err(PushError::BadBody);
        }
        Ok((BodyFormat::Json, v))
    } else if t.starts_with('<') {
        Ok((BodyFormat::Xml, xml_to_json(t)?))
    } else {
        Err(PushError::BadBody)
    }
}

/// Converts WeChat's flat XML (`<xml><ToUserName><![CDATA[…]]></ToUserName>…</xml>`) into a
/// JSON object: text and CDATA become strings, nested elements objects, repeated names arrays.
pub fn xml_to_json(text: &str) -> Result<Value, PushError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    // Text is kept as is: whitespace between child elements is dropped with the parent's text.
    // Stack of (element name, children so far, text so far).
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        match reader.read_event().map_err(|_| PushError::BadBody)? {
            Event::Start(e) => {
                if root.is_some() || stack.len() >= MAX_XML_DEPTH {
                    return Err(PushError::BadBody);
                }
                let name = String::from_utf8(e.name().as_ref().to_vec())
                    .map_err(|_| PushError::BadBody)?;
                stack.push((name, Map::new(), String::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec())
                    .map_err(|_| PushError::BadBody)?;
                match stack.last_mut() {
                    Some((_, children, _)) => {
                        add_child(children, name, Value::String(String::new()))
                    }
                    None => return Err(PushError::BadBody),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|_| PushError::BadBody)?;
                match stack.last_mut() {
                    Some((_, _, text)) => text.push_str(&s),
                    // whitespace around the root is fine, anything else is not
                    None if s.trim().is_empty() => {}
                    None => return Err(PushError::BadBody),
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|_| PushError::BadBody)?;
                let ch = match name.as_ref() {
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "amp" => "&".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    _ => match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(PushError::BadBody),
                    },
                };
                match stack.last_mut() {
                    Some((_, _, text)) => text.push_str(&ch),
                    None => return Err(PushError::BadBody),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(c.as_ref()).map_err(|_| PushError::BadBody)?;
                match stack.last_mut() {
                    Some((_, _, text)) => text.push_str(s),
                    None => return Err(PushError::BadBody),
                }
            }
            Event::End(_) => {
                let (name, children, text) = stack.pop().ok_or(PushError::BadBody)?;
                let value = if children.is_empty() {
                    Value::String(text)
                } else {
                    Value::Object(children)
                };
                match stack.last_mut() {
                    Some((_, parent, _)) => add_child(parent, name, value),
                    None => {
                        root = Some(match value {
                            Value::Object(m) => Value::Object(m),
                            _ => Value::Object(Map::new()),
                        })
                    }
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(PushError::BadBody),
        }
    }
    if !stack.is_empty() {
        return Err(PushError::BadBody);
    }
    root.ok_or(PushError::BadBody)
}

fn add_child(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(a)) => a.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Builds the XML reply envelope for safe mode (`Encrypt`, `MsgSignature`, `TimeStamp`, `Nonce`).
pub fn encrypted_reply_xml(
    encrypt: &str,
    msg_signature: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
    format!(
        "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{msg_signature}]]></MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // vectors/wechat.md, "Message push crypto": WeChat Open Platform documentation example.
    const TOKEN: &str = "AAAAA";
    const APPID: &str = "wx134c8103faa5a59e";
    const TS: &str = "1715943329";
    const NONCE: &str = "1590219412";
    const ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";

    fn doc_crypto() -> PushCrypto {
        PushCrypto::new(TOKEN, &"A".repeat(43), APPID).unwrap()
    }

    #[test]
    fn official_signatures() {
        let c = doc_crypto();
        assert_eq!(
            c.signature(TS, NONCE),
            "cc0c594499c1634947d5b502f158ee518947db27"
        );
        assert_eq!(
            c.msg_signature(TS, NONCE, ENCRYPT),
            "6c12a4205838198b8fa631b3220723bb07f1015c"
        );
    }

    #[test]
    fn official_decrypt() {
        let c = doc_crypto();
        let msg = c.decrypt(ENCRYPT).unwrap();
        assert_eq!(msg.len(), 292);
        let (_, v) = parse_body(&msg).unwrap();
        assert_eq!(v["Event"], "debug_demo");
        assert_eq!(v["debug_str"], "hello world");
        // the random prefix is the documented one
        let key = decode_aes_key(&"A".repeat(43)).unwrap();
        let ct = base64::engine::general_purpose::STANDARD
            .decode(ENCRYPT)
            .unwrap();
        let iv: [u8; 16] = key[..16].try_into().unwrap();
        let plain = Aes256CbcDec::new(&key.into(), &iv.into())
            .decrypt_padded_vec_mut::<NoPadding>(&ct)
            .unwrap();
        assert_eq!(&plain[..16], b"1205899eaf019bbd");
    }

    #[test]
    fn official_reply_encryption() {
        let c = doc_crypto();
        let msg = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
        let enc = c.encrypt_with(msg, b"999951349e8ee746").unwrap();
        assert_eq!(
            enc,
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
        assert_eq!(
            c.msg_signature("1713424427", "415670741", &enc),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
        assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }

    #[test]
    fn wecom_url_verification_vector() {
        let c = PushCrypto::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx5823bf96d3bd56c7",
        )
        .unwrap();
        let q = PushQuery {
            msg_signature: Some("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3".into()),
            timestamp: Some("1409659589".into()),
            nonce: Some("263014780".into()),
            echostr: Some("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==".into()),
            ..Default::default()
        };
        assert_eq!(c.verify_url(&q).unwrap(), "1616140317555161061");
        let mut bad = q.clone();
        bad.msg_signature = Some("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4".into());
        assert_eq!(c.verify_url(&bad), Err(PushError::BadSignature));
        // same key, other receiver: appid check
        let other = PushCrypto::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx0000000000000000",
        )
        .unwrap();
        assert_eq!(other.verify_url(&q), Err(PushError::AppidMismatch));
    }

    #[test]
    fn plain_url_verification() {
        let c = doc_crypto();
        let q = PushQuery {
            signature: Some("cc0c594499c1634947d5b502f158ee518947db27".into()),
            timestamp: Some(TS.into()),
            nonce: Some(NONCE.into()),
            echostr: Some("abc123".into()),
            ..Default::default()
        };
        assert_eq!(c.verify_url(&q).unwrap(), "abc123");
        let mut bad = q.clone();
        bad.nonce = Some("1590219413".into());
        assert_eq!(c.verify_url(&bad), Err(PushError::BadSignature));
        let mut missing = q;
        missing.echostr = None;
        assert_eq!(c.verify_url(&missing), Err(PushError::Missing("echostr")));
    }

    #[test]
    fn open_safe_mode_json_and_xml() {
        let c = doc_crypto();
        let now = 1715943329 + 10;
        let q = PushQuery {
            timestamp: Some(TS.into()),
            nonce: Some(NONCE.into()),
            encrypt_type: Some("aes".into()),
            msg_signature: Some("6c12a4205838198b8fa631b3220723bb07f1015c".into()),
            signature: Some("cc0c594499c1634947d5b502f158ee518947db27".into()),
            ..Default::default()
        };
        let json = format!(r#"{{"ToUserName":"gh_97417a04a28d","Encrypt":"{ENCRYPT}"}}"#);
        let m = c.open(&q, json.as_bytes(), now).unwrap();
        assert!(m.encrypted);
        assert_eq!(m.message["debug_str"], "hello world");
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"
        );
        let m2 = c.open(&q, xml.as_bytes(), now).unwrap();
        assert_eq!(m2.message, m.message);
        assert_eq!(m.replay_key(), m2.replay_key());

        // stale
        assert_eq!(
            c.open(&q, json.as_bytes(), now + 400).unwrap_err(),
            PushError::StaleTimestamp
        );
        // forged signature
        let mut f = q.clone();
        f.msg_signature = Some("0".repeat(40));
        assert_eq!(
            c.open(&f, json.as_bytes(), now).unwrap_err(),
            PushError::BadSignature
        );
        // tampered ciphertext (signature then fails)
        let tampered = json.replacen("D7yz", "D7yZ", 1);
        assert_eq!(
            c.open(&q, tampered.as_bytes(), now).unwrap_err(),
            PushError::BadSignature
        );
        // another appid configured
        let other = PushCrypto::new(TOKEN, &"A".repeat(43), "wx0000000000000000").unwrap();
        assert_eq!(
            other.open(&q, json.as_bytes(), now).unwrap_err(),
            PushError::AppidMismatch
        );
        // plain-only configuration
        let plain_only = PushCrypto::new(TOKEN, "", APPID).unwrap();
        assert_eq!(
            plain_only.open(&q, json.as_bytes(), now).unwrap_err(),
            PushError::NotConfigured
        );
    }

    #[test]
    fn open_plain_mode() {
        let c = doc_crypto();
        let now = 1715943329;
        let q = PushQuery {
            timestamp: Some(TS.into()),
            nonce: Some(NONCE.into()),
            signature: Some("cc0c594499c1634947d5b502f158ee518947db27".into()),
            ..Default::default()
        };
        let body = r#"{"ToUserName":"gh_x","FromUserName":"oABC","CreateTime":1715943329,"MsgType":"event","Event":"debug_demo"}"#;
        let m = c.open(&q, body.as_bytes(), now).unwrap();
        assert!(!m.encrypted);
        assert_eq!(m.format, BodyFormat::Json);
        assert_eq!(m.message["FromUserName"], "oABC");
        let xml = "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><CreateTime>1715943329</CreateTime><Content>a &amp; b &#x4e2d;</Content><Empty/><Nested><A>1</A><A>2</A></Nested></xml>";
        let m = c.open(&q, xml.as_bytes(), now).unwrap();
        assert_eq!(m.format, BodyFormat::Xml);
        assert_eq!(m.message["CreateTime"], "1715943329");
        assert_eq!(m.message["Content"], "a & b 中");
        assert_eq!(m.message["Empty"], "");
        assert_eq!(m.message["Nested"]["A"], serde_json::json!(["1", "2"]));
        let mut nosig = q.clone();
        nosig.signature = None;
        assert_eq!(
            c.open(&nosig, body.as_bytes(), now).unwrap_err(),
            PushError::Missing("signature")
        );
        // Different bodies under the same signature give different replay keys.
        let a = c.open(&q, br#"{"a":1}"#, now).unwrap();
        let b = c.open(&q, br#"{"a":2}"#, now).unwrap();
        assert_ne!(a.replay_key(), b.replay_key());
    }

    #[test]
    fn garbage_never_panics() {
        let c = doc_crypto();
        for enc in [
            "",
            "!!!",
            "AAAA",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            &"A".repeat(64),
            &"/".repeat(44),
        ] {
            assert!(c.decrypt(enc).is_err(), "{enc}");
        }
        // valid encryption of a too-short plaintext
        let key = decode_aes_key(&"A".repeat(43)).unwrap();
        let iv: [u8; 16] = key[..16].try_into().unwrap();
        let mut short = vec![1u8; 8];
        short.extend(std::iter::repeat_n(24u8, 24));
        let ct =
            Aes256CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<NoPadding>(&short);
        let ct = base64::engine::general_purpose::STANDARD.encode(ct);
        assert_eq!(c.decrypt(&ct), Err(PushError::Decrypt));
        // length field larger than the data
        let mut lie = vec![0u8; 16];
        lie.extend_from_slice(&1000u32.to_be_bytes());
        lie.extend_from_slice(b"hi");
        let pad = 32 - lie.len() % 32;
        lie.extend(std::iter::repeat_n(pad as u8, pad));
        let ct =
            Aes256CbcEnc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<NoPadding>(&lie);
        let ct = base64::engine::general_purpose::STANDARD.encode(ct);
        assert_eq!(c.decrypt(&ct), Err(PushError::Decrypt));
        for body in [
            "",
            "null",
            "[1]",
            "<xml>",
            "<a></b>",
            "<xml><a>1</a></xml><x/>",
            "{bad",
            "plain",
            "<!DOCTYPE x><xml/>",
        ] {
            assert!(parse_body(body).is_err(), "{body}");
        }
        let deep = format!("<xml>{}{}</xml>", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse_body(&deep).is_err());
        assert!(PushCrypto::new("t", "short", "wx").is_none());
        assert!(PushCrypto::new("t", &"*".repeat(43), "wx").is_none());
    }

    #[test]
    fn replay_cache() {
        let r = ReplayCache::new(600, 3);
        assert!(r.insert("a", 100));
        assert!(!r.insert("a", 101));
        assert!(r.insert("b", 101));
        assert!(r.insert("c", 101));
        // over capacity: the oldest is dropped
        assert!(r.insert("d", 101));
        assert!(r.insert("a", 102));
        // expiry
        assert!(r.insert("d", 102 + 700));
        r.remove("d");
        assert!(r.insert("d", 102 + 700));
    }
}
