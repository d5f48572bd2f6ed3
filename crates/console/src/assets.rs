//! The console's pages: `assets/index.html`, `app.js` and `app.css`, written by hand (no
//! framework, no bundler, nothing to build: `cargo build` is all), embedded in the binary
//! with `include_str!`, gzipped once on first use, and served with strong caching: the page
//! names the script and stylesheet with a hash of their content, so a new build is never
//! served stale.

use crate::Console;
use axum::Router;
use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use mb_core::ApiError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::OnceLock;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// One asset, ready to serve.
pub struct Asset {
    /// The bytes.
    pub raw: Vec<u8>,
    /// The bytes gzipped.
    pub gzip: Vec<u8>,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Strong ETag.
    pub etag: String,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn asset(raw: Vec<u8>, content_type: &'static str) -> Asset {
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&raw))[..20]);
    Asset {
        gzip: gzip(&raw),
        raw,
        content_type,
        etag,
    }
}

/// Every asset by file name (`index.html` with the hashed names of the others filled in).
pub fn all() -> &'static [(&'static str, Asset)] {
    static ALL: OnceLock<Vec<(&'static str, Asset)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let js = asset(APP_JS.as_bytes().to_vec(), "text/javascript; charset=utf-8");
        let css = asset(APP_CSS.as_bytes().to_vec(), "text/css; charset=utf-8");
        let version = |a: &Asset| a.etag.trim_matches('"').to_string();
        let index = INDEX
            .replace("{{js}}", &version(&js))
            .replace("{{css}}", &version(&css));
        vec![
            (
                "index.html",
                asset(index.into_bytes(), "text/html; charset=utf-8"),
            ),
            ("app.js", js),
            ("app.css", css),
            ("icon.svg", asset(ICON.as_bytes().to_vec(), "image/svg+xml")),
        ]
    })
}

fn serve(name: &str, headers: &HeaderMap, immutable: bool) -> Response {
    let Some((_, a)) = all().iter().find(|(n, _)| *n == name) else {
        return ApiError::not_found("no such console asset").into_response();
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == a.etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gz = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut res = if gz {
            let mut r = a.gzip.clone().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            a.raw.clone().into_response()
        };
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&a.etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `/` (the page), `/assets/{file}`; the bare `/_` redirects to `/_/`.
pub fn router() -> Router<Console> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap, uri: OriginalUri| async move {
                // Nested at `/_`: `/_` itself arrives as `/` too; send it to `/_/` so
                // relative URLs and the cookie path (`/_/`) apply.
                if uri.path() == "/_" {
                    Redirect::permanent("/_/").into_response()
                } else {
                    serve("index.html", &h, false)
                }
            }),
        )
        .route(
            "/assets/{file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { serve(&file, &h, true) }),
        )
}

/// Bytes a browser transfers for a first load (the page, script, stylesheet and icon,
/// gzipped): held under 300 KB.
pub fn first_load_gzip_bytes() -> usize {
    all().iter().map(|(_, a)| a.gzip.len()).sum()
}
