//! Files (API.md §5): `POST /api/storage/upload` (multipart, exactly as `wx.uploadFile` sends
//! it), `POST /api/storage/temp-urls`, `POST /api/storage/delete`, and the signed download
//! route `GET /storage/{cloudPath}?exp=…&sig=…`. The work is done by [`storage::Files`];
//! this module speaks HTTP: multipart parsing without buffering, idle timeouts, Range,
//! conditional requests and response headers.

use crate::extract::Json;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use mb_core::{ApiError, Caller, ConnectionInfo, ErrorCode};
use serde::Deserialize;
use serde_json::json;
use std::io;
use std::time::Duration;
use storage::{ByteRange, ByteStream, CloudPath, StorageError};

/// Upload endpoint.
pub const UPLOAD: &str = "/api/storage/upload";
/// Temporary URLs endpoint.
pub const TEMP_URLS: &str = "/api/storage/temp-urls";
/// Delete endpoint.
pub const DELETE: &str = "/api/storage/delete";
/// Download route prefix.
pub const DOWNLOAD: &str = "/storage/{*path}";

/// Form fields other than the file: at most this many, each at most this long.
const MAX_FIELDS: usize = 16;
const MAX_FIELD_BYTES: usize = 4096;
/// Multipart overhead allowed beyond `limits.upload` (boundaries, part headers, fields).
const FORM_SLACK: u64 = 256 * 1024;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        // Uploads have their own limit (limits.upload), enforced while streaming.
        .route(UPLOAD, post(upload).layer(DefaultBodyLimit::disable()))
        .route(TEMP_URLS, post(temp_urls))
        .route(DELETE, post(delete))
        .route(DOWNLOAD, get(download))
}

/// Fails a body stream that stays silent longer than `idle` (slow networks are fine, dead
/// ones are not).
fn idle_timeout<S>(
    inner: S,
    idle: Duration,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold(Some(inner), move |st| async move {
        let mut s = st?;
        match tokio::time::timeout(idle, s.next()).await {
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client sent nothing for too long",
                )),
                None,
            )),
            Ok(None) => None,
            Ok(Some(Ok(b))) => Some((Ok(b), Some(s))),
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), None)),
        }
    })
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => {
            ApiError::too_large("upload body over the size limit")
        }
        multer::Error::StreamReadFailed(inner) => {
            ApiError::invalid(format!("upload interrupted: {inner}"))
        }
        other => ApiError::invalid(format!("malformed multipart/form-data body: {other}")),
    }
}

async fn read_text_field(mut field: multer::Field<'static>) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::invalid(format!(
                "form field longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::invalid("form field is not UTF-8"))
}

/// Reads what is left of a refused upload for a moment, so the client gets to read our answer
/// instead of a reset connection. Bounded in bytes and time.
async fn drain(mut mp: multer::Multipart<'static>) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async move {
        while let Ok(Some(mut f)) = mp.next_field().await {
            while let Ok(Some(_)) = f.chunk().await {}
        }
    })
    .await;
}

async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<Response, ApiError> {
    let caller = caller.require_signed_in()?;
    let files = state.files();
    let limit = state.config().limits.upload.bytes();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::invalid("expected a multipart/form-data body with fields `file` and `cloudPath` (as wx.uploadFile sends)"))?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + FORM_SLACK) {
        return Err(ApiError::too_large(format!(
            "file is larger than the upload limit ({limit} bytes)"
        )));
    }
    let idle = state.config().server.idle_timeout.get();
    let body = idle_timeout(req.into_body().into_data_stream(), idle);
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limit + FORM_SLACK));
    let mut mp = multer::Multipart::with_constraints(body, boundary, constraints);

    let mut path: Option<CloudPath> = None;
    let mut staged = None;
    let mut fields = 0;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ApiError::invalid(format!(
                "more than {MAX_FIELDS} form fields"
            )));
        }
        match field.name().unwrap_or("") {
            "file" => {
                if staged.is_some() {
                    return Err(ApiError::invalid(
                        "more than one `file` field: upload one file per request",
                    ));
                }
                let stream: ByteStream = Box::pin(
                    field.map(|r| r.map_err(|e| io::Error::other(mb_core::error_chain(&e)))),
                );
                match files.stage(stream).await {
                    Ok(s) => staged = Some(s),
                    Err(e) => {
                        if e.code == ErrorCode::PayloadTooLarge {
                            drain(mp).await;
                        }
                        return Err(e);
                    }
                }
            }
            "cloudPath" => {
                if path.is_some() {
                    return Err(ApiError::invalid("more than one `cloudPath` field"));
                }
                let text = read_text_field(field).await?;
                let p = CloudPath::parse(&text).map_err(ApiError::from)?;
                if staged.is_none() {
                    // Known before the bytes: refuse now rather than after receiving them.
                    if let Err(e) = files.check_write(&caller, &p).await {
                        drain(mp).await;
                        return Err(e);
                    }
                }
                path = Some(p);
            }
            // Other formData fields are allowed and ignored (bounded).
            _ => {
                read_text_field(field).await?;
            }
        }
    }
    let Some(staged) = staged else {
        return Err(ApiError::invalid(
            "missing the file: the file field must be named `file` (wx.uploadFile name: 'file')",
        ));
    };
    let Some(path) = path else {
        return Err(ApiError::invalid(
            "missing form field `cloudPath` (wx.uploadFile formData: { cloudPath })",
        ));
    };
    let record = files.upload(&caller, &path, staged).await?;
    Ok(axum::Json(json!({ "fileID": record.file_id() })).into_response())
}

/// One entry of `fileList` in temp-urls: `{"fileID","maxAge"}` or a bare fileID string.
#[derive(Deserialize)]
#[serde(untagged)]
enum TempUrlEntry {
    Id(String),
    Full {
        #[serde(rename = "fileID")]
        file_id: String,
        #[serde(rename = "maxAge", default)]
        max_age: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TempUrlsBody {
    #[serde(rename = "fileList")]
    file_list: Vec<TempUrlEntry>,
}

/// `https://host` for temporary URLs: `storage.public_base_url`, else the request's scheme and host.
fn base_url(
    state: &AppState,
    headers: &HeaderMap,
    conn: Option<&ConnectionInfo>,
) -> Result<String, ApiError> {
    if let Some(configured) = state.files().storage().public_base_url() {
        return Ok(configured.to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .ok_or_else(|| ApiError::invalid("cannot tell this server's address: send a Host header or set storage.public_base_url"))?;
    let trusted = conn.is_some_and(|c| {
        state
            .config()
            .server
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&c.remote.ip()))
    });
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let scheme = match forwarded.as_deref() {
        Some(p @ ("http" | "https")) if trusted => p.to_string(),
        _ if conn.is_some_and(|c| c.tls) => "https".into(),
        _ => "http".into(),
    };
    Ok(format!("{scheme}://{host}"))
}

async fn temp_urls(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    conn: Option<axum::Extension<ConnectionInfo>>,
    Json(body): Json<TempUrlsBody>,
) -> Result<Response, ApiError> {
    let caller = caller.require_signed_in()?;
    if body.file_list.len() > storage::files::MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "at most {} files per call",
            storage::files::MAX_BATCH
        )));
    }
    let base = base_url(&state, &headers, conn.as_deref())?;
    let list: Vec<(String, Option<u64>)> = body
        .file_list
        .into_iter()
        .map(|e| match e {
            TempUrlEntry::Id(id) => (id, None),
            TempUrlEntry::Full { file_id, max_age } => (file_id, max_age),
        })
        .collect();
    let out = state.files().temp_urls(&caller, &base, &list).await?;
    Ok(axum::Json(json!({ "fileList": out })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    #[serde(rename = "fileList")]
    file_list: Vec<String>,
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<DeleteBody>,
) -> Result<Response, ApiError> {
    let caller = caller.require_signed_in()?;
    if body.file_list.len() > storage::files::MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "at most {} files per call",
            storage::files::MAX_BATCH
        )));
    }
    let out = state.files().delete(&caller, &body.file_list).await?;
    Ok(axum::Json(json!({ "fileList": out })).into_response())
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2).
fn none_match(value: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    value
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

async fn download(
    State(state): State<AppState>,
    Path(path): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let files = state.files();
    let query = req.uri().query().unwrap_or("");
    let exp = query_param(query, "exp");
    let sig = query_param(query, "sig");
    let now_s = mb_core::now_ms() / 1000;
    if let Err(reason) = files.storage().verify(&path, exp, sig, now_s) {
        tracing::debug!(?reason, "temporary URL refused");
        return Err(ApiError::denied("this link is invalid or has expired"));
    }
    let cloud_path = CloudPath::parse(&path).map_err(|_| ApiError::not_found("no such file"))?;
    let headers = req.headers();
    let record = files.record(&cloud_path).await?;
    let max_age = exp
        .and_then(|e| e.parse::<i64>().ok())
        .map_or(0, |e| (e - now_s).max(0));
    let cache = format!("private, max-age={max_age}");
    if let (Some(r), Some(inm)) = (
        &record,
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
    ) {
        if none_match(inm, &r.etag()) {
            return Ok((
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, hv(&r.etag())),
                    (header::CACHE_CONTROL, hv(&cache)),
                ],
            )
                .into_response());
        }
    }
    let mut range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => {
            ByteRange::parse_header(v).map_err(|_| ApiError::invalid("malformed Range header"))?
        }
    };
    // If-Range: serve the whole file when the client's copy is stale.
    if let (Some(ir), Some(r)) = (
        headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()),
        &record,
    ) {
        if ir.trim() != r.etag() {
            range = None;
        }
    }
    let object = match files.storage().get(&cloud_path, range).await {
        Ok(o) => o,
        Err(StorageError::RangeNotSatisfiable { size }) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [
                    (header::CONTENT_RANGE, hv(&format!("bytes */{size}"))),
                    (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
                ],
            )
                .into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let (content_type, etag) = match &record {
        Some(r) if r.size == object.meta.size => (r.content_type.clone(), r.etag()),
        _ => (
            storage::sniff::content_type(&[], cloud_path.extension().as_deref()).to_string(),
            format!("\"{}\"", object.meta.etag),
        ),
    };
    let size = object.meta.size;
    let (status, len) = match object.range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, b - a + 1),
        None => (StatusCode::OK, size),
    };
    let mut res = Response::new(Body::from_stream(object.body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&content_type));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(header::ETAG, hv(&etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, hv(&cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some((a, b)) = object.range {
        h.insert(header::CONTENT_RANGE, hv(&format!("bytes {a}-{b}/{size}")));
    }
    if storage::sniff::is_active(&content_type) {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matching() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"x\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
        assert_eq!(query_param("exp=1&sig=abc", "sig"), Some("abc"));
        assert_eq!(query_param("xexp=1&exp=2", "exp"), Some("2"));
    }
}
