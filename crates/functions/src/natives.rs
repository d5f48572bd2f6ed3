//! The Rust functions the prelude is given (`native.*` in `js/prelude.js`): module loading
//! confined to the function's folder, host calls, timers, logs, and the byte and hash
//! primitives behind `Buffer`, `TextEncoder` and `require('crypto')`. User code never sees
//! this object; it only reaches what the prelude builds on it.

use crate::modules::{MAX_SOURCE_BYTES, stamp};
use crate::worker::Shared;
use base64::Engine as _;
use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray, Value};
use std::path::Path;
use std::rc::Rc;

/// Evaluates `source` as a script named `name` (shown in stacks), returning its value.
pub(crate) fn eval_named<'js, V: rquickjs::FromJs<'js>>(
    ctx: &Ctx<'js>,
    source: &str,
    name: &str,
) -> rquickjs::Result<V> {
    let mut opts = rquickjs::context::EvalOptions::default();
    opts.global = true;
    opts.strict = false;
    opts.filename = Some(name.to_string());
    ctx.eval_with_options(source, opts)
}

pub(crate) fn throw(ctx: &Ctx<'_>, message: &str, code: Option<&str>) -> rquickjs::Error {
    match Exception::from_message(ctx.clone(), message) {
        Ok(e) => {
            if let Some(code) = code {
                let _ = e.as_object().set("code", code);
            }
            e.throw()
        }
        Err(e) => e,
    }
}

/// The bytes of a `Uint8Array` (or a subclass such as `Buffer`) or an `ArrayBuffer`, copied.
#[allow(unsafe_code)]
pub(crate) fn bytes_of(v: &Value<'_>) -> Option<Vec<u8>> {
    if let Ok(ta) = TypedArray::<u8>::from_value(v.clone()) {
        // SAFETY: the slice is copied at once; no JavaScript runs while it is borrowed.
        return unsafe { ta.as_bytes() }.map(<[u8]>::to_vec);
    }
    if let Some(ab) = ArrayBuffer::from_value(v.clone()) {
        // SAFETY: as above.
        return unsafe { ab.as_bytes() }.map(<[u8]>::to_vec);
    }
    None
}

pub(crate) fn need_bytes(ctx: &Ctx<'_>, v: &Value<'_>) -> rquickjs::Result<Vec<u8>> {
    bytes_of(v).ok_or_else(|| throw(ctx, "expected a Buffer, Uint8Array or ArrayBuffer", None))
}

/// Lenient base64 as Node reads it: either alphabet, padding optional, whitespace ignored.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()
}

fn digest(alg: &str, key: Option<&[u8]>, data: &[u8]) -> Option<Vec<u8>> {
    use hmac::{Hmac, Mac};
    use sha2::Digest;
    macro_rules! run {
        ($h:ty) => {{
            match key {
                None => Some(<$h>::digest(data).to_vec()),
                Some(k) => {
                    let mut m = <Hmac<$h> as Mac>::new_from_slice(k).ok()?;
                    m.update(data);
                    Some(m.finalize().into_bytes().to_vec())
                }
            }
        }};
    }
    match alg {
        "md5" => run!(md5::Md5),
        "sha1" => run!(sha1::Sha1),
        "sha224" => run!(sha2::Sha224),
        "sha256" => run!(sha2::Sha256),
        "sha384" => run!(sha2::Sha384),
        "sha512" => run!(sha2::Sha512),
        _ => None,
    }
}

/// A path as shown in stacks and error messages: relative to the functions folder.
fn display_path(shared: &Shared, path: &Path) -> String {
    let root = shared.resolver.root();
    let rel = path.strip_prefix(root).unwrap_or(path);
    format!("{}/{}", shared.cfg.name, rel.display())
}

/// Builds the `native` object.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, shared: &Rc<Shared>) -> rquickjs::Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set(
        "root",
        shared.resolver.root().to_string_lossy().into_owned(),
    )?;
    o.set("version", env!("CARGO_PKG_VERSION"))?;

    let sh = shared.clone();
    o.set(
        "log",
        Function::new(ctx.clone(), move |level: String, msg: String| {
            sh.log(&level, &msg)
        })?,
    )?;

    let sh = shared.clone();
    o.set(
        "resolve",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, from: String, spec: String| -> rquickjs::Result<String> {
                let mut st = sh.st.borrow_mut();
                let fp = &mut st.fingerprint;
                let r = sh
                    .resolver
                    .resolve(Path::new(&from), &spec, &mut |p, exists| {
                        fp.record(p, if exists { stamp(p) } else { None });
                    });
                drop(st);
                match r {
                    Ok(p) => Ok(p.to_string_lossy().into_owned()),
                    Err(e) => Err(throw(&ctx, e.message(), Some(e.code()))),
                }
            },
        )?,
    )?;

    let sh = shared.clone();
    o.set(
        "read",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, path: String| -> rquickjs::Result<String> {
                let p = Path::new(&path);
                if !sh.resolver.contains(p) {
                    return Err(throw(
                        &ctx,
                        "module outside the function folder",
                        Some("ERR_REQUIRE_OUTSIDE_FUNCTION"),
                    ));
                }
                let s = stamp(p);
                sh.st.borrow_mut().fingerprint.record(p, s);
                let shown = display_path(&sh, p);
                match std::fs::metadata(p) {
                    Ok(m) if m.len() > MAX_SOURCE_BYTES => {
                        return Err(throw(
                            &ctx,
                            &format!("{shown} is larger than {} MiB", MAX_SOURCE_BYTES >> 20),
                            None,
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(throw(
                            &ctx,
                            &format!("Cannot find module '{shown}'"),
                            Some("MODULE_NOT_FOUND"),
                        ));
                    }
                }
                match std::fs::read(p) {
                    Ok(bytes) => String::from_utf8(bytes)
                        .map(|s| s.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(s))
                        .map_err(|_| throw(&ctx, &format!("{shown} is not UTF-8 text"), None)),
                    Err(e) => Err(throw(&ctx, &format!("{shown}: {e}"), None)),
                }
            },
        )?,
    )?;

    let sh = shared.clone();
    o.set(
        "compile",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, src: String, path: String| -> rquickjs::Result<Function<'js>> {
            let shown = display_path(&sh, Path::new(&path));
            // Keep line numbers: the wrapper opens on the first line.
            let body = if src.starts_with("#!") { format!("//{src}") } else { src };
            let wrapped = format!("(function (exports, require, module, __filename, __dirname) {{{body}\n}})");
            match eval_named::<Function>(&ctx, &wrapped, &shown) {
                Ok(f) => Ok(f),
                Err(rquickjs::Error::Exception) => {
                    let ex = ctx.catch();
                    let looks_esm = body.lines().any(|l| {
                        let l = l.trim_start();
                        l.starts_with("import ") || l.starts_with("export ")
                    });
                    if looks_esm {
                        if let Some(obj) = ex.as_object() {
                            let msg: String = obj.get::<_, Option<String>>("message").ok().flatten().unwrap_or_default();
                            let _ = obj.set(
                                "message",
                                format!("{msg} — Minibase functions are CommonJS: use require() and exports.main instead of import/export"),
                            );
                        }
                    }
                    Err(ctx.throw(ex))
                }
                Err(e) => Err(e),
            }
        })?,
    )?;

    let sh = shared.clone();
    o.set(
        "call",
        Function::new(
            ctx.clone(),
            // A number: the id of a running call (answered later through `complete`); a
            // string: the answer's JSON, already there; `{ error }`: the error's JSON.
            move |ctx: Ctx<'js>,
                  op: String,
                  args: String|
                  -> rquickjs::Result<rquickjs::Value<'js>> {
                let args: serde_json::Value = serde_json::from_str(&args)
                    .map_err(|e| throw(&ctx, &format!("invalid arguments: {e}"), None))?;
                match sh.start_op(op, args) {
                    crate::worker::OpStart::Pending(id) => {
                        Ok(rquickjs::Value::new_number(ctx, id as f64))
                    }
                    crate::worker::OpStart::Done(Ok(text)) => {
                        Ok(rquickjs::String::from_str(ctx, &text)?.into_value())
                    }
                    crate::worker::OpStart::Done(Err(e)) => {
                        let o = Object::new(ctx)?;
                        o.set("error", e.to_js_json())?;
                        Ok(o.into_value())
                    }
                }
            },
        )?,
    )?;

    let sh = shared.clone();
    o.set(
        "timer",
        Function::new(ctx.clone(), move |id: u32, ms: f64| sh.arm_timer(id, ms))?,
    )?;
    let sh = shared.clone();
    o.set(
        "clearTimer",
        Function::new(ctx.clone(), move |id: u32| sh.clear_timer(id))?,
    )?;

    let sh = shared.clone();
    o.set(
        "done",
        Function::new(ctx.clone(), move |seq: f64, ok: bool, json: String| {
            sh.st.borrow_mut().outcome = Some((seq as u64, ok, json));
        })?,
    )?;

    o.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            ArrayBuffer::new(ctx, s.into_bytes())
        })?,
    )?;
    o.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>| -> rquickjs::Result<String> {
                Ok(String::from_utf8_lossy(&need_bytes(&ctx, &v)?).into_owned())
            },
        )?,
    )?;
    o.set(
        "base64Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>, url: Opt<bool>| -> rquickjs::Result<String> {
                let bytes = need_bytes(&ctx, &v)?;
                Ok(if url.0.unwrap_or(false) {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
                } else {
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                })
            },
        )?,
    )?;
    o.set(
        "base64Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, s: String| -> rquickjs::Result<ArrayBuffer<'js>> {
                let bytes =
                    base64_decode(&s).ok_or_else(|| throw(&ctx, "invalid base64 string", None))?;
                ArrayBuffer::new(ctx, bytes)
            },
        )?,
    )?;
    o.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, alg: String, data: Value<'js>| -> rquickjs::Result<ArrayBuffer<'js>> {
                let data = need_bytes(&ctx, &data)?;
                let out = digest(&alg, None, &data).ok_or_else(|| {
                    throw(&ctx, &format!("Digest method not supported: {alg}"), None)
                })?;
                ArrayBuffer::new(ctx, out)
            },
        )?,
    )?;
    o.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             key: Value<'js>,
             data: Value<'js>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let key = need_bytes(&ctx, &key)?;
                let data = need_bytes(&ctx, &data)?;
                let out = digest(&alg, Some(&key), &data).ok_or_else(|| {
                    throw(&ctx, &format!("Digest method not supported: {alg}"), None)
                })?;
                ArrayBuffer::new(ctx, out)
            },
        )?,
    )?;
    o.set(
        "randomBytes",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, n: u32| -> rquickjs::Result<ArrayBuffer<'js>> {
                if n > 65536 {
                    return Err(throw(
                        &ctx,
                        "randomBytes: at most 65536 bytes at a time",
                        None,
                    ));
                }
                let mut buf = vec![0u8; n as usize];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
                ArrayBuffer::new(ctx, buf)
            },
        )?,
    )?;
    o.set(
        "randomUuid",
        Function::new(ctx.clone(), || {
            let mut b = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        })?,
    )?;
    crate::natives_node::install(ctx, &o, shared)?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVs\nbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64_decode("@@@").is_none());
    }

    #[test]
    fn digests() {
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(digest("md5", None, b"abc").unwrap()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            hex(digest("sha1", None, b"abc").unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(digest(
                "sha256",
                Some(b"key"),
                b"The quick brown fox jumps over the lazy dog"
            )
            .unwrap()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(digest("sha3", None, b"").is_none());
    }
}
