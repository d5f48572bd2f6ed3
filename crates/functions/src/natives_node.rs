//! The Rust side of the Node built-ins QuickJS functions get from `js/builtins.js` (loaded
//! the first time one is required): WHATWG URL parsing (the `url` crate), `fs` reads confined
//! to the function's folder, `zlib` (flate2, with a bound on what decompresses), and the
//! `crypto` ciphers SMS and payment SDKs use (AES-CBC/ECB/GCM, RSA PKCS#1 v1.5 signatures,
//! RSA encryption with OAEP or PKCS#1 v1.5 padding). Installed on the prelude's `native`
//! object by `natives::install`.

use crate::modules::MAX_SOURCE_BYTES;
use crate::natives::{eval_named, need_bytes, throw};
use crate::worker::Shared;
use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Function, Object, Value};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

const BUILTINS_JS: &str = include_str!("js/builtins.js");

/// The most a decompression may produce (a zip bomb stops here).
const MAX_INFLATED: u64 = 64 << 20;

fn url_json(u: &url::Url) -> String {
    json!({
        "href": u.as_str(),
        "protocol": format!("{}:", u.scheme()),
        "username": u.username(),
        "password": u.password().unwrap_or(""),
        "host": match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        },
        "hostname": u.host_str().unwrap_or(""),
        "port": u.port().map(|p| p.to_string()).unwrap_or_default(),
        "pathname": u.path(),
        "search": u.query().filter(|q| !q.is_empty()).map(|q| format!("?{q}")).unwrap_or_default(),
        "hash": u.fragment().filter(|f| !f.is_empty()).map(|f| format!("#{f}")).unwrap_or_default(),
        "origin": u.origin().ascii_serialization(),
    })
    .to_string()
}

fn invalid_url(ctx: &Ctx<'_>, input: &str) -> rquickjs::Error {
    throw(
        ctx,
        &format!("Invalid URL: {input}"),
        Some("ERR_INVALID_URL"),
    )
}

/// A path a function's `fs` call names, resolved against its folder and kept inside it
/// (symlinks included).
fn confined(shared: &Shared, path: &str) -> Result<PathBuf, (String, &'static str)> {
    let root = shared.resolver.root();
    let p = Path::new(path);
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    };
    let real = std::fs::canonicalize(&joined).map_err(|_| {
        (
            format!("ENOENT: no such file or directory, '{path}'"),
            "ENOENT",
        )
    })?;
    if !shared.resolver.contains(&real) {
        return Err((
            format!(
                "EACCES: '{path}' is outside the function's folder (fs on QuickJS reads only the function's own files; use runtime \"node\" for more)"
            ),
            "EACCES",
        ));
    }
    Ok(real)
}

/// Adds the natives of `js/builtins.js` to `o`.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    o: &Object<'js>,
    shared: &Rc<Shared>,
) -> rquickjs::Result<()> {
    o.set(
        "builtins",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>| -> rquickjs::Result<Function<'js>> {
                eval_named(&ctx, BUILTINS_JS, "minibase:builtins.js")
            },
        )?,
    )?;

    // ---- URL
    o.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, base: Opt<String>| -> rquickjs::Result<String> {
                let parsed = match base.0 {
                    Some(b) => url::Url::parse(&b).and_then(|b| b.join(&input)),
                    None => url::Url::parse(&input),
                };
                parsed
                    .map(|u| url_json(&u))
                    .map_err(|_| invalid_url(&ctx, &input))
            },
        )?,
    )?;
    o.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             href: String,
             part: String,
             value: String|
             -> rquickjs::Result<String> {
                let mut u = url::Url::parse(&href).map_err(|_| invalid_url(&ctx, &href))?;
                let v = value.as_str();
                // As the URL standard's setters: a value that does not fit is ignored.
                let _ = match part.as_str() {
                    "protocol" => u.set_scheme(v.trim_end_matches(':')),
                    "username" => u.set_username(v),
                    "password" => u.set_password(Some(v).filter(|s| !s.is_empty())),
                    "host" | "hostname" => u.set_host(Some(v)).map_err(|_| ()),
                    "port" => u.set_port(v.parse().ok()),
                    "pathname" => {
                        u.set_path(v);
                        Ok(())
                    }
                    "search" => {
                        let q = v.trim_start_matches('?');
                        u.set_query(Some(q).filter(|q| !q.is_empty()));
                        Ok(())
                    }
                    "hash" => {
                        let f = v.trim_start_matches('#');
                        u.set_fragment(Some(f).filter(|f| !f.is_empty()));
                        Ok(())
                    }
                    _ => Ok(()),
                };
                Ok(url_json(&u))
            },
        )?,
    )?;
    o.set(
        "domainToASCII",
        Function::new(ctx.clone(), |s: String| url::quirks::domain_to_ascii(&s))?,
    )?;
    o.set(
        "domainToUnicode",
        Function::new(ctx.clone(), |s: String| url::quirks::domain_to_unicode(&s))?,
    )?;

    // ---- fs (read-only, inside the folder)
    let sh = shared.clone();
    o.set(
        "fsRead",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, path: String| -> rquickjs::Result<ArrayBuffer<'js>> {
                let real = confined(&sh, &path).map_err(|(m, c)| throw(&ctx, &m, Some(c)))?;
                let meta = std::fs::metadata(&real)
                    .map_err(|e| throw(&ctx, &format!("{path}: {e}"), Some("EIO")))?;
                if meta.is_dir() {
                    return Err(throw(
                        &ctx,
                        &format!("EISDIR: illegal operation on a directory, read '{path}'"),
                        Some("EISDIR"),
                    ));
                }
                if meta.len() > MAX_SOURCE_BYTES {
                    return Err(throw(
                        &ctx,
                        &format!("{path} is larger than {} MiB", MAX_SOURCE_BYTES >> 20),
                        Some("EFBIG"),
                    ));
                }
                let bytes = std::fs::read(&real)
                    .map_err(|e| throw(&ctx, &format!("{path}: {e}"), Some("EIO")))?;
                ArrayBuffer::new(ctx, bytes)
            },
        )?,
    )?;
    let sh = shared.clone();
    o.set(
        "fsStat",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, path: String| -> rquickjs::Result<String> {
                use std::os::unix::fs::MetadataExt;
                let real = confined(&sh, &path).map_err(|(m, c)| throw(&ctx, &m, Some(c)))?;
                let m = std::fs::metadata(&real)
                    .map_err(|e| throw(&ctx, &format!("{path}: {e}"), Some("EIO")))?;
                Ok(json!({
                    "file": m.is_file(), "dir": m.is_dir(), "size": m.len(),
                    "mtimeMs": m.mtime() * 1000 + m.mtime_nsec() / 1_000_000,
                    "mode": m.mode(), "ino": m.ino(),
                })
                .to_string())
            },
        )?,
    )?;
    let sh = shared.clone();
    o.set(
        "fsReaddir",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, path: String| -> rquickjs::Result<Vec<String>> {
                let real = confined(&sh, &path).map_err(|(m, c)| throw(&ctx, &m, Some(c)))?;
                let rd = std::fs::read_dir(&real)
                    .map_err(|e| throw(&ctx, &format!("ENOTDIR: {path}: {e}"), Some("ENOTDIR")))?;
                let mut names: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                Ok(names)
            },
        )?,
    )?;

    // ---- zlib
    o.set(
        "zlib",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             op: String,
             data: Value<'js>,
             level: Opt<u32>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let input = need_bytes(&ctx, &data)?;
                let out = zlib(&op, &input, level.0.unwrap_or(6))
                    .map_err(|(m, c)| throw(&ctx, &m, Some(c)))?;
                ArrayBuffer::new(ctx, out)
            },
        )?,
    )?;

    // ---- crypto
    o.set(
        "cipher",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             decrypt: bool,
             key: Value<'js>,
             iv: Value<'js>,
             data: Value<'js>,
             extra: Opt<Value<'js>>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let (key, data) = (need_bytes(&ctx, &key)?, need_bytes(&ctx, &data)?);
                let iv = crate::natives::bytes_of(&iv).unwrap_or_default();
                // GCM: the additional data (encrypt) or `aad ‖ tag` split by the caller.
                let extra = extra.0.as_ref().and_then(crate::natives::bytes_of);
                let out = cipher(&alg, decrypt, &key, &iv, &data, extra.as_deref())
                    .map_err(|m| throw(&ctx, &m, Some("ERR_CRYPTO")))?;
                ArrayBuffer::new(ctx, out)
            },
        )?,
    )?;
    o.set(
        "rsa",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             op: String,
             alg: String,
             pem: String,
             data: Value<'js>,
             sig: Opt<Value<'js>>|
             -> rquickjs::Result<Value<'js>> {
                let data = need_bytes(&ctx, &data)?;
                let sig = sig.0.as_ref().and_then(crate::natives::bytes_of);
                match rsa_op(&op, &alg, &pem, &data, sig.as_deref()) {
                    Ok(RsaOut::Bytes(b)) => Ok(ArrayBuffer::new(ctx, b)?.into_value()),
                    Ok(RsaOut::Bool(b)) => Ok(Value::new_bool(ctx, b)),
                    Err(m) => Err(throw(&ctx, &m, Some("ERR_CRYPTO"))),
                }
            },
        )?,
    )?;
    Ok(())
}

/// Compresses or decompresses `input`. Decompressed output is bounded by [`MAX_INFLATED`].
pub(crate) fn zlib(op: &str, input: &[u8], level: u32) -> Result<Vec<u8>, (String, &'static str)> {
    use flate2::Compression;
    use flate2::read::{
        DeflateDecoder, DeflateEncoder, GzDecoder, GzEncoder, MultiGzDecoder, ZlibDecoder,
        ZlibEncoder,
    };
    let lvl = Compression::new(level.min(9));
    let mut out = Vec::new();
    let bounded = |r: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), (String, &'static str)> {
        r.take(MAX_INFLATED + 1)
            .read_to_end(out)
            .map_err(|e| (format!("{e}"), "Z_DATA_ERROR"))?;
        if out.len() as u64 > MAX_INFLATED {
            return Err((
                format!(
                    "decompressed data is larger than {} MiB",
                    MAX_INFLATED >> 20
                ),
                "ERR_BUFFER_TOO_LARGE",
            ));
        }
        Ok(())
    };
    let enc = |r: &mut dyn Read, out: &mut Vec<u8>| {
        r.read_to_end(out)
            .map(|_| ())
            .map_err(|e| (format!("{e}"), "Z_DATA_ERROR"))
    };
    match op {
        "gzip" => enc(&mut GzEncoder::new(input, lvl), &mut out)?,
        "deflate" => enc(&mut ZlibEncoder::new(input, lvl), &mut out)?,
        "deflateRaw" => enc(&mut DeflateEncoder::new(input, lvl), &mut out)?,
        "gunzip" => bounded(&mut MultiGzDecoder::new(input), &mut out)?,
        "inflate" => bounded(&mut ZlibDecoder::new(input), &mut out)?,
        "inflateRaw" => bounded(&mut DeflateDecoder::new(input), &mut out)?,
        "unzip" => {
            if input.starts_with(&[0x1f, 0x8b]) {
                bounded(&mut GzDecoder::new(input), &mut out)?
            } else {
                bounded(&mut ZlibDecoder::new(input), &mut out)?
            }
        }
        other => {
            return Err((
                format!("zlib: unknown operation {other}"),
                "ERR_INVALID_ARG_VALUE",
            ));
        }
    }
    Ok(out)
}

/// AES in CBC (PKCS#7 padding), ECB (PKCS#7) or GCM (12-byte IV, 16-byte tag appended on
/// encryption; on decryption `extra` is `tag ‖ aad`).
pub(crate) fn cipher(
    alg: &str,
    decrypt: bool,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    extra: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let alg = alg.to_ascii_lowercase();
    let bits = key.len() * 8;
    let want = |b: usize| {
        if bits != b {
            Err(format!(
                "Invalid key length: {alg} needs a {}-byte key",
                b / 8
            ))
        } else {
            Ok(())
        }
    };
    let bad = |_| "bad decrypt".to_string();
    macro_rules! cbc {
        ($aes:ty) => {{
            if iv.len() != 16 {
                return Err("Invalid initialization vector: CBC needs a 16-byte iv".into());
            }
            if decrypt {
                cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|e| e.to_string())?
                    .decrypt_padded_vec_mut::<Pkcs7>(data)
                    .map_err(bad)
            } else {
                Ok(cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|e| e.to_string())?
                    .encrypt_padded_vec_mut::<Pkcs7>(data))
            }
        }};
    }
    macro_rules! ecb {
        ($aes:ty) => {{
            use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
            let c = <$aes>::new_from_slice(key).map_err(|e| e.to_string())?;
            if decrypt {
                if data.len() % 16 != 0 || data.is_empty() {
                    return Err("bad decrypt".into());
                }
                let mut out = data.to_vec();
                for b in out.chunks_mut(16) {
                    c.decrypt_block(GenericArray::from_mut_slice(b));
                }
                let pad = *out.last().unwrap_or(&0) as usize;
                if pad == 0 || pad > 16 || out[out.len() - pad..].iter().any(|&x| x as usize != pad)
                {
                    return Err("bad decrypt".into());
                }
                out.truncate(out.len() - pad);
                Ok(out)
            } else {
                let pad = 16 - data.len() % 16;
                let mut out = data.to_vec();
                out.extend(std::iter::repeat_n(pad as u8, pad));
                for b in out.chunks_mut(16) {
                    c.encrypt_block(GenericArray::from_mut_slice(b));
                }
                Ok(out)
            }
        }};
    }
    macro_rules! gcm {
        ($g:ty) => {{
            use aes_gcm::aead::{Aead, KeyInit, Payload};
            if iv.len() != 12 {
                return Err("Invalid initialization vector: GCM needs a 12-byte iv here".into());
            }
            let c = <$g>::new_from_slice(key).map_err(|e| e.to_string())?;
            let nonce = aes_gcm::Nonce::from_slice(iv);
            if decrypt {
                let extra = extra.unwrap_or_default();
                if extra.len() < 16 {
                    return Err(
                        "Unsupported state or unable to authenticate data: no auth tag".into(),
                    );
                }
                let (tag, aad) = extra.split_at(16);
                let mut msg = data.to_vec();
                msg.extend_from_slice(tag);
                c.decrypt(nonce, Payload { msg: &msg, aad })
                    .map_err(|_| "Unsupported state or unable to authenticate data".to_string())
            } else {
                c.encrypt(
                    nonce,
                    Payload {
                        msg: data,
                        aad: extra.unwrap_or_default(),
                    },
                )
                .map_err(|_| "encryption failed".to_string())
            }
        }};
    }
    match alg.as_str() {
        "aes-128-cbc" => want(128).and_then(|_| cbc!(aes::Aes128)),
        "aes-192-cbc" => want(192).and_then(|_| cbc!(aes::Aes192)),
        "aes-256-cbc" => want(256).and_then(|_| cbc!(aes::Aes256)),
        "aes-128-ecb" => want(128).and_then(|_| ecb!(aes::Aes128)),
        "aes-192-ecb" => want(192).and_then(|_| ecb!(aes::Aes192)),
        "aes-256-ecb" => want(256).and_then(|_| ecb!(aes::Aes256)),
        "aes-128-gcm" => want(128).and_then(|_| gcm!(aes_gcm::Aes128Gcm)),
        "aes-256-gcm" => want(256).and_then(|_| gcm!(aes_gcm::Aes256Gcm)),
        other => Err(format!(
            "Unknown cipher {other} on QuickJS (aes-128/192/256-cbc, -ecb, aes-128/256-gcm are there; use runtime \"node\" for more)"
        )),
    }
}

pub(crate) enum RsaOut {
    Bytes(Vec<u8>),
    Bool(bool),
}

fn private_key(pem: &str) -> Result<rsa::RsaPrivateKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| "invalid RSA private key (PEM, PKCS#8 or PKCS#1)".into())
}

fn public_key(pem: &str) -> Result<rsa::RsaPublicKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    if pem.contains("PRIVATE KEY") {
        return private_key(pem).map(|k| k.to_public_key());
    }
    rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| "invalid RSA public key (PEM: PUBLIC KEY or RSA PUBLIC KEY)".into())
}

/// `sign`/`verify` (RSA PKCS#1 v1.5 with `alg` = sha1/sha256/sha512) and
/// `publicEncrypt`/`privateDecrypt` (`alg` = `oaep` (SHA-1, Node's default) or `pkcs1`).
pub(crate) fn rsa_op(
    op: &str,
    alg: &str,
    pem: &str,
    data: &[u8],
    sig: Option<&[u8]>,
) -> Result<RsaOut, String> {
    use rsa::{Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign};
    use sha2::Digest;
    let alg = alg.to_ascii_lowercase().replace('-', "");
    let scheme_hash = || -> Result<(Pkcs1v15Sign, Vec<u8>), String> {
        Ok(match alg.trim_start_matches("rsa") {
            "sha256" | "sha256withrsaencryption" => (
                Pkcs1v15Sign::new::<sha2::Sha256>(),
                sha2::Sha256::digest(data).to_vec(),
            ),
            "sha1" | "sha1withrsaencryption" => (
                Pkcs1v15Sign::new::<sha1::Sha1>(),
                sha1::Sha1::digest(data).to_vec(),
            ),
            "sha512" | "sha512withrsaencryption" => (
                Pkcs1v15Sign::new::<sha2::Sha512>(),
                sha2::Sha512::digest(data).to_vec(),
            ),
            other => return Err(format!("Unknown signature algorithm {other}")),
        })
    };
    let mut rng = rand::rngs::OsRng;
    match op {
        "sign" => {
            let (scheme, hashed) = scheme_hash()?;
            private_key(pem)?
                .sign(scheme, &hashed)
                .map(RsaOut::Bytes)
                .map_err(|e| e.to_string())
        }
        "verify" => {
            let (scheme, hashed) = scheme_hash()?;
            let sig = sig.unwrap_or_default();
            Ok(RsaOut::Bool(
                public_key(pem)?.verify(scheme, &hashed, sig).is_ok(),
            ))
        }
        "publicEncrypt" => {
            let key = public_key(pem)?;
            let r = if alg == "pkcs1" {
                key.encrypt(&mut rng, Pkcs1v15Encrypt, data)
            } else {
                key.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), data)
            };
            r.map(RsaOut::Bytes).map_err(|e| e.to_string())
        }
        "privateDecrypt" => {
            let key = private_key(pem)?;
            let r = if alg == "pkcs1" {
                key.decrypt(Pkcs1v15Encrypt, data)
            } else {
                key.decrypt(Oaep::new::<sha1::Sha1>(), data)
            };
            r.map(RsaOut::Bytes).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown RSA operation {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_round_trips_and_bounds() {
        let data = b"hello hello hello hello".repeat(100);
        for (c, d) in [
            ("gzip", "gunzip"),
            ("deflate", "inflate"),
            ("deflateRaw", "inflateRaw"),
            ("gzip", "unzip"),
            ("deflate", "unzip"),
        ] {
            let z = zlib(c, &data, 6).unwrap();
            assert!(z.len() < data.len());
            assert_eq!(zlib(d, &z, 6).unwrap(), data, "{c}/{d}");
        }
        assert!(zlib("gunzip", b"not gzip", 6).is_err());
        let bomb = zlib("gzip", &vec![0u8; (MAX_INFLATED + 10) as usize], 9).unwrap();
        assert_eq!(
            zlib("gunzip", &bomb, 6).unwrap_err().1,
            "ERR_BUFFER_TOO_LARGE"
        );
    }

    #[test]
    fn ciphers_match_known_vectors() {
        // NIST SP 800-38A F.2.1 (first block), then PKCS#7 adds a block.
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let pt = hex("6bc1bee22e409f96e93d7e117393172a");
        let ct = cipher("aes-128-cbc", false, &key, &iv, &pt, None).unwrap();
        assert_eq!(&ct[..16], &hex("7649abac8119b246cee98e9b12e9197d")[..]);
        assert_eq!(
            cipher("aes-128-cbc", true, &key, &iv, &ct, None).unwrap(),
            pt
        );
        let ct = cipher("aes-128-ecb", false, &key, &[], &pt, None).unwrap();
        assert_eq!(&ct[..16], &hex("3ad77bb40d7a3660a89ecaf32466ef97")[..]);
        assert_eq!(
            cipher("aes-128-ecb", true, &key, &[], &ct, None).unwrap(),
            pt
        );
        let k256 = [7u8; 32];
        let nonce = [1u8; 12];
        let sealed = cipher("aes-256-gcm", false, &k256, &nonce, b"secret", Some(b"aad")).unwrap();
        let (body, tag) = sealed.split_at(sealed.len() - 16);
        let mut extra = tag.to_vec();
        extra.extend_from_slice(b"aad");
        assert_eq!(
            cipher("aes-256-gcm", true, &k256, &nonce, body, Some(&extra)).unwrap(),
            b"secret"
        );
        extra[0] ^= 1;
        assert!(cipher("aes-256-gcm", true, &k256, &nonce, body, Some(&extra)).is_err());
        assert!(
            cipher("aes-256-cbc", false, &key, &iv, b"x", None)
                .unwrap_err()
                .contains("key length")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
