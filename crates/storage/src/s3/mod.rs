//! The S3-compatible backend (`storage.url = "s3://bucket?endpoint=…&region=…"`): AWS S3,
//! Tencent COS, Aliyun OSS, MinIO, SeaweedFS, s3s-fs. Plain HTTP over reqwest with our own
//! SigV4 ([`sigv4`]), path-style or virtual-host-style addressing.
//!
//! Uploads are spooled to a local temp file first (`<data_dir>/tmp/s3-spool`): memory stays
//! flat however many clients upload at once, the size limit is enforced before anything reaches
//! the bucket, every request carries the real payload sha256, and a failed part can be retried.
//! Files up to `part_size` (8 MiB) go up in one `PutObject`; larger ones as a multipart upload,
//! aborted on failure so no orphan parts are billed. Every request has a timeout and is retried
//! (3 attempts, backoff) on connection errors, 5xx and throttling.

pub mod sigv4;

use crate::backend::{Backend, ByteRange, ByteStream, Object, ObjectMeta, Staged};
use crate::error::StorageError;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use sigv4::{Credentials, EMPTY_SHA256, SignRequest};
use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Default part size of multipart uploads (and the single-PUT threshold).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
const ATTEMPTS: u32 = 3;

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Bucket name (COS: `name-appid`).
    pub bucket: String,
    /// `http(s)://host[:port]` of the service (without the bucket).
    pub endpoint: url::Url,
    /// Signing region (`us-east-1`, `ap-guangzhou`, `oss-cn-hangzhou`).
    pub region: String,
    /// `https://endpoint/bucket/key` (MinIO, SeaweedFS) instead of `https://bucket.endpoint/key`.
    pub path_style: bool,
    /// Prepended to every key (share a bucket between apps), e.g. `minibase/`.
    pub prefix: String,
    /// The access key pair.
    pub credentials: Credentials,
    /// Local directory for upload spooling.
    pub spool_dir: PathBuf,
    /// Part size of multipart uploads; files up to this size use one PUT. At least 5 MiB.
    pub part_size: u64,
    /// Timeout of one request (connection and each read; uploads get more per byte).
    pub timeout: Duration,
}

/// The S3 backend.
#[derive(Debug, Clone)]
pub struct S3Backend {
    cfg: Arc<S3Config>,
    http: reqwest::Client,
}

struct Req<'a> {
    method: Method,
    key: Option<&'a str>,
    query: &'a [(&'a str, &'a str)],
    headers: Vec<(&'static str, String)>,
    payload_hash: String,
    timeout: Option<Duration>,
}

enum Body {
    Empty,
    Bytes(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl S3Backend {
    /// A backend for this bucket; creates the spool directory and cleans old spool files.
    pub async fn open(cfg: S3Config) -> Result<S3Backend, StorageError> {
        if cfg.part_size < 5 * 1024 * 1024 {
            return Err(StorageError::Config(
                "part_size must be at least 5 MiB (S3's minimum)".into(),
            ));
        }
        if cfg.credentials.access_key_id.is_empty() || cfg.credentials.secret_access_key.is_empty()
        {
            return Err(StorageError::Config(
                "S3 credentials missing: set storage.access_key_id and storage.secret_access_key \
                 (or MINIBASE_STORAGE__ACCESS_KEY_ID / MINIBASE_STORAGE__SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                    .into(),
            ));
        }
        tokio::fs::create_dir_all(&cfg.spool_dir).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .read_timeout(cfg.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StorageError::Config(format!("HTTP client: {e}")))?;
        Ok(S3Backend {
            cfg: Arc::new(cfg),
            http,
        })
    }

    /// The bucket configuration.
    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(StorageError::InvalidPath("bad object key".into()));
        }
        Ok(format!("{}{key}", self.cfg.prefix))
    }

    /// `(url, host header, encoded path)` for a key (or the bucket itself).
    fn locate(&self, key: Option<&str>) -> Result<(String, String, String), StorageError> {
        let ep = &self.cfg.endpoint;
        let host = ep
            .host_str()
            .ok_or_else(|| StorageError::Config("endpoint has no host".into()))?;
        let port = ep.port().map(|p| format!(":{p}")).unwrap_or_default();
        let key_path = match key {
            Some(k) => sigv4::uri_encode(&self.full_key(k)?, true),
            None => String::new(),
        };
        let (host, path) = if self.cfg.path_style {
            (
                format!("{host}{port}"),
                format!("/{}/{key_path}", self.cfg.bucket),
            )
        } else {
            (
                format!("{}.{host}{port}", self.cfg.bucket),
                format!("/{key_path}"),
            )
        };
        Ok((format!("{}://{host}{path}", ep.scheme()), host, path))
    }

    async fn body_of(body: &Body) -> Result<reqwest::Body, StorageError> {
        Ok(match body {
            Body::Empty => reqwest::Body::from(Bytes::new()),
            Body::Bytes(b) => reqwest::Body::from(b.clone()),
            Body::File { path, offset, len } => {
                let mut f = tokio::fs::File::open(path).await?;
                f.seek(SeekFrom::Start(*offset)).await?;
                let stream = tokio_util::io::ReaderStream::with_capacity(f.take(*len), 64 * 1024);
                reqwest::Body::wrap_stream(stream)
            }
        })
    }

    fn body_len(body: &Body) -> u64 {
        match body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Sends a signed request, retrying transient failures. Answers with the response, whatever
    /// its status; transport failures after all attempts are `Unavailable`.
    async fn send(&self, r: &Req<'_>, body: &Body) -> Result<reqwest::Response, StorageError> {
        let (url, host, path) = self.locate(r.key)?;
        let query = sigv4::canonical_query(r.query);
        let url = if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        };
        let mut last_err = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << (2 * (attempt - 1)))).await;
            }
            let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let mut headers: Vec<(&str, &str)> = vec![
                ("host", host.as_str()),
                ("x-amz-date", amz_date.as_str()),
                ("x-amz-content-sha256", r.payload_hash.as_str()),
            ];
            for (k, v) in &r.headers {
                headers.push((k, v.as_str()));
            }
            let auth = sigv4::authorization(
                &self.cfg.credentials,
                &SignRequest {
                    method: r.method.as_str(),
                    path: &path,
                    query: &query,
                    headers: &headers,
                    payload_hash: &r.payload_hash,
                    amz_date: &amz_date,
                    region: &self.cfg.region,
                },
            );
            let mut req = self
                .http
                .request(r.method.clone(), &url)
                .header("authorization", auth);
            for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
                req = req.header(*k, *v);
            }
            let len = Self::body_len(body);
            if !matches!(body, Body::Empty) || matches!(r.method, Method::PUT | Method::POST) {
                req = req.header("content-length", len.to_string());
            }
            req = req.body(Self::body_of(body).await?);
            let timeout = r.timeout.unwrap_or(self.cfg.timeout);
            // Uploads: the base timeout plus time for the bytes at a slow 256 KiB/s.
            let timeout = timeout + Duration::from_secs(len / (256 * 1024));
            req = req.timeout(timeout);
            match req.send().await {
                Ok(resp) => {
                    let s = resp.status();
                    let transient = s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS;
                    if transient && attempt + 1 < ATTEMPTS {
                        last_err = format!("HTTP {s}");
                        tracing::debug!(status = %s, attempt, "S3 request failed, retrying");
                        continue;
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    last_err = mb_core::error_chain(&e);
                    tracing::debug!(error = %last_err, attempt, "S3 request failed, retrying");
                }
            }
        }
        Err(StorageError::Unavailable(last_err))
    }

    /// Turns a non-success response into an error, reading S3's XML error body.
    async fn fail(resp: reqwest::Response) -> StorageError {
        let status = resp.status();
        let text = tokio::time::timeout(Duration::from_secs(5), resp.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let code = xml_text(&text, "Code")
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let message = xml_text(&text, "Message").unwrap_or_default();
        if status == StatusCode::NOT_FOUND
            && (code == "NoSuchKey" || code == "Not Found" || code == "NotFound")
        {
            return StorageError::NotFound;
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return StorageError::Unavailable(format!("HTTP {status} {code}: {message}"));
        }
        StorageError::Upstream {
            status: status.as_u16(),
            code,
            message,
        }
    }

    async fn simple(&self, r: Req<'_>, body: Body) -> Result<reqwest::Response, StorageError> {
        let resp = self.send(&r, &body).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(Self::fail(resp).await)
        }
    }

    async fn put_single(
        &self,
        key: &str,
        path: PathBuf,
        size: u64,
        sha256: String,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let r = Req {
            method: Method::PUT,
            key: Some(key),
            query: &[],
            headers: vec![("content-type", content_type.to_string())],
            payload_hash: sha256,
            timeout: None,
        };
        self.simple(
            r,
            Body::File {
                path,
                offset: 0,
                len: size,
            },
        )
        .await
        .map(|_| ())
    }

    async fn put_multipart(
        &self,
        key: &str,
        staged: &S3Staged,
        path: PathBuf,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let r = Req {
            method: Method::POST,
            key: Some(key),
            query: &[("uploads", "")],
            headers: vec![("content-type", content_type.to_string())],
            payload_hash: EMPTY_SHA256.into(),
            timeout: None,
        };
        let resp = self.simple(r, Body::Empty).await?;
        let text = resp
            .text()
            .await
            .map_err(|e| StorageError::Unavailable(mb_core::error_chain(&e)))?;
        let upload_id = xml_text(&text, "UploadId").ok_or_else(|| StorageError::Upstream {
            status: 200,
            code: "MalformedResponse".into(),
            message: "no UploadId".into(),
        })?;
        let result = self.upload_parts(key, &upload_id, staged, path).await;
        if result.is_err() {
            let r = Req {
                method: Method::DELETE,
                key: Some(key),
                query: &[("uploadId", &upload_id)],
                headers: vec![],
                payload_hash: EMPTY_SHA256.into(),
                timeout: None,
            };
            match self.simple(r, Body::Empty).await {
                Ok(_) => tracing::info!(key, "aborted multipart upload after failure"),
                Err(e) => {
                    tracing::warn!(key, error = %e, "could not abort multipart upload (the bucket's lifecycle rule should clean it)")
                }
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        staged: &S3Staged,
        path: PathBuf,
    ) -> Result<(), StorageError> {
        let mut etags = Vec::with_capacity(staged.part_hashes.len());
        for (i, hash) in staged.part_hashes.iter().enumerate() {
            let number = (i + 1).to_string();
            let offset = i as u64 * self.cfg.part_size;
            let len = (staged.size - offset).min(self.cfg.part_size);
            let r = Req {
                method: Method::PUT,
                key: Some(key),
                query: &[("partNumber", &number), ("uploadId", upload_id)],
                headers: vec![],
                payload_hash: hash.clone(),
                timeout: None,
            };
            let resp = self
                .simple(
                    r,
                    Body::File {
                        path: path.clone(),
                        offset,
                        len,
                    },
                )
                .await?;
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| StorageError::Upstream {
                    status: 200,
                    code: "MalformedResponse".into(),
                    message: "part without ETag".into(),
                })?
                .to_string();
            etags.push(etag);
        }
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                xml_escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let body = Bytes::from(xml);
        let r = Req {
            method: Method::POST,
            key: Some(key),
            query: &[("uploadId", upload_id)],
            headers: vec![("content-type", "application/xml".into())],
            payload_hash: sigv4::sha256_hex(&body),
            timeout: Some(self.cfg.timeout * 4),
        };
        let resp = self.simple(r, Body::Bytes(body)).await?;
        // CompleteMultipartUpload may fail with 200 and an <Error> body.
        let text = resp
            .text()
            .await
            .map_err(|e| StorageError::Unavailable(mb_core::error_chain(&e)))?;
        if text.contains("<Error>") {
            return Err(StorageError::Upstream {
                status: 200,
                code: xml_text(&text, "Code").unwrap_or_default(),
                message: xml_text(&text, "Message").unwrap_or_default(),
            });
        }
        Ok(())
    }
}

fn meta_from_headers(h: &reqwest::header::HeaderMap, size: u64) -> ObjectMeta {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    ObjectMeta {
        size,
        etag: get("etag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
        modified_ms: get("last-modified")
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.timestamp_millis()),
    }
}

fn content_length(h: &reqwest::header::HeaderMap) -> Option<u64> {
    h.get("content-length")?.to_str().ok()?.parse().ok()
}

/// `bytes a-b/total` → (a, b, total); `bytes */total` → total only.
fn parse_content_range(v: &str) -> Option<(Option<(u64, u64)>, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = total.trim().parse().ok()?;
    if range.trim() == "*" {
        return Some((None, total));
    }
    let (a, b) = range.split_once('-')?;
    Some((
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        total,
    ))
}

fn range_header(r: ByteRange) -> String {
    match r {
        ByteRange::From {
            start,
            end: Some(e),
        } => format!("bytes={start}-{e}"),
        ByteRange::From { start, end: None } => format!("bytes={start}-"),
        ByteRange::Suffix(n) => format!("bytes=-{n}"),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The text of the first element named `tag` in an XML document (entities resolved).
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if out.is_none() && e.local_name().as_ref() == tag.as_bytes() => {
                out = Some(String::new())
            }
            Event::Text(t) => {
                if let Some(o) = out.as_mut() {
                    o.push_str(&t.decode().ok()?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(o) = out.as_mut() {
                    let name = r.decode().ok()?;
                    match name.as_ref() {
                        "amp" => o.push('&'),
                        "lt" => o.push('<'),
                        "gt" => o.push('>'),
                        "quot" => o.push('"'),
                        "apos" => o.push('\''),
                        _ => {
                            if let Some(c) = r.resolve_char_ref().ok().flatten() {
                                o.push(c);
                            }
                        }
                    }
                }
            }
            Event::End(_) if out.is_some() => return out,
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// A spooled upload waiting for its key.
struct S3Staged {
    backend: S3Backend,
    file: crate::local::TempFile,
    size: u64,
    sha256: String,
    part_hashes: Vec<String>,
}

#[async_trait]
impl Staged for S3Staged {
    async fn commit(self: Box<Self>, key: &str, content_type: &str) -> Result<(), StorageError> {
        let path = self
            .file
            .path()
            .ok_or_else(|| StorageError::Io(io::Error::other("spool file gone")))?;
        let result = if self.size <= self.backend.cfg.part_size {
            self.backend
                .put_single(key, path, self.size, self.sha256.clone(), content_type)
                .await
        } else {
            self.backend
                .put_multipart(key, &self, path, content_type)
                .await
        };
        self.file.remove().await;
        result
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn stage(&self, mut body: ByteStream) -> Result<Box<dyn Staged>, StorageError> {
        let path = self.cfg.spool_dir.join(mb_core::ids::random_hex(16));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        file.set_max_buf_size(256 * 1024);
        let guard = crate::local::TempFile::new(path);
        let mut total = Sha256::new();
        let mut part = Sha256::new();
        let mut part_hashes = Vec::new();
        let mut in_part = 0u64;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(StorageError::from_body)?;
            file.write_all(&chunk).await?;
            total.update(&chunk);
            size += chunk.len() as u64;
            while !chunk.is_empty() {
                let take = ((self.cfg.part_size - in_part) as usize).min(chunk.len());
                part.update(&chunk[..take]);
                in_part += take as u64;
                chunk = chunk.slice(take..);
                if in_part == self.cfg.part_size {
                    part_hashes.push(hex::encode(std::mem::take(&mut part).finalize()));
                    in_part = 0;
                }
            }
        }
        if in_part > 0 || part_hashes.is_empty() {
            part_hashes.push(hex::encode(part.finalize()));
        }
        file.flush().await?;
        drop(file);
        Ok(Box::new(S3Staged {
            backend: self.clone(),
            file: guard,
            size,
            sha256: hex::encode(total.finalize()),
            part_hashes,
        }))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StorageError> {
        let mut headers = vec![];
        if let Some(r) = range {
            headers.push(("range", range_header(r)));
        }
        let r = Req {
            method: Method::GET,
            key: Some(key),
            query: &[],
            headers,
            payload_hash: EMPTY_SHA256.into(),
            timeout: None,
        };
        let resp = self.send(&r, &Body::Empty).await?;
        let status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            let size = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
                .map(|(_, t)| t);
            let size = match size {
                Some(s) => s,
                None => self.head(key).await?.size,
            };
            return Err(StorageError::RangeNotSatisfiable { size });
        }
        if !status.is_success() {
            return Err(Self::fail(resp).await);
        }
        let h = resp.headers().clone();
        let len = content_length(&h);
        let (meta, got_range) = if status == StatusCode::PARTIAL_CONTENT {
            let (rng, total) = h
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
                .ok_or_else(|| StorageError::Upstream {
                    status: 206,
                    code: "MalformedResponse".into(),
                    message: "206 without Content-Range".into(),
                })?;
            (meta_from_headers(&h, total), rng)
        } else {
            let size = len.ok_or_else(|| StorageError::Upstream {
                status: 200,
                code: "MalformedResponse".into(),
                message: "no Content-Length".into(),
            })?;
            (meta_from_headers(&h, size), None)
        };
        // A store that ignored our Range answered 200 with everything: cut it ourselves.
        let (body, out_range): (ByteStream, _) = match (range, got_range) {
            (Some(r), None) => {
                let (a, b) = r
                    .resolve(meta.size)
                    .ok_or(StorageError::RangeNotSatisfiable { size: meta.size })?;
                let s = resp.bytes_stream().map(|c| c.map_err(io::Error::other));
                (Box::pin(skip_take(Box::pin(s), a, b - a + 1)), Some((a, b)))
            }
            (_, rng) => (
                Box::pin(resp.bytes_stream().map(|c| c.map_err(io::Error::other))),
                rng,
            ),
        };
        Ok(Object {
            meta,
            range: out_range,
            body,
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        let r = Req {
            method: Method::HEAD,
            key: Some(key),
            query: &[],
            headers: vec![],
            payload_hash: EMPTY_SHA256.into(),
            timeout: None,
        };
        let resp = self.send(&r, &Body::Empty).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(StorageError::NotFound);
        }
        if !resp.status().is_success() {
            return Err(Self::fail(resp).await);
        }
        let size = content_length(resp.headers()).unwrap_or(0);
        Ok(meta_from_headers(resp.headers(), size))
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        // S3 answers 204 whether or not the key existed: ask first.
        match self.head(key).await {
            Ok(_) => {}
            Err(StorageError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        }
        let r = Req {
            method: Method::DELETE,
            key: Some(key),
            query: &[],
            headers: vec![],
            payload_hash: EMPTY_SHA256.into(),
            timeout: None,
        };
        self.simple(r, Body::Empty).await?;
        Ok(true)
    }
}

/// Skips `skip` bytes of a stream and yields the next `take`.
fn skip_take(
    inner: ByteStream,
    skip: u64,
    take: u64,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold(
        (inner, skip, take),
        |(mut s, mut skip, mut take)| async move {
            loop {
                if take == 0 {
                    return None;
                }
                match s.next().await? {
                    Err(e) => return Some((Err(e), (s, 0, 0))),
                    Ok(mut c) => {
                        if skip >= c.len() as u64 {
                            skip -= c.len() as u64;
                            continue;
                        }
                        c = c.slice(skip as usize..);
                        skip = 0;
                        if c.len() as u64 > take {
                            c = c.slice(..take as usize);
                        }
                        take -= c.len() as u64;
                        return Some((Ok(c), (s, skip, take)));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod real_server_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(path_style: bool, endpoint: &str, prefix: &str) -> S3Backend {
        S3Backend {
            cfg: Arc::new(S3Config {
                bucket: "media".into(),
                endpoint: url::Url::parse(endpoint).unwrap(),
                region: "us-east-1".into(),
                path_style,
                prefix: prefix.into(),
                credentials: Credentials {
                    access_key_id: "a".into(),
                    secret_access_key: "b".into(),
                },
                spool_dir: std::env::temp_dir(),
                part_size: DEFAULT_PART_SIZE,
                timeout: Duration::from_secs(1),
            }),
            http: reqwest::Client::new(),
        }
    }

    #[test]
    fn addressing_styles() {
        let b = backend(true, "http://127.0.0.1:9000", "");
        assert_eq!(
            b.locate(Some("a b/猫.png")).unwrap(),
            (
                "http://127.0.0.1:9000/media/a%20b/%E7%8C%AB.png".into(),
                "127.0.0.1:9000".into(),
                "/media/a%20b/%E7%8C%AB.png".into()
            )
        );
        let b = backend(false, "https://cos.ap-guangzhou.myqcloud.com", "app/");
        assert_eq!(
            b.locate(Some("x.png")).unwrap(),
            (
                "https://media.cos.ap-guangzhou.myqcloud.com/app/x.png".into(),
                "media.cos.ap-guangzhou.myqcloud.com".into(),
                "/app/x.png".into()
            )
        );
        assert!(b.locate(Some("../x")).is_err());
        assert!(b.locate(Some("a//x")).is_err());
    }

    #[test]
    fn content_range_and_xml() {
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Some((Some((0, 9)), 100))
        );
        assert_eq!(parse_content_range("bytes */100"), Some((None, 100)));
        assert_eq!(parse_content_range("nonsense"), None);
        let xml = r#"<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The key &amp; more</Message></Error>"#;
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(xml_text(xml, "Message").as_deref(), Some("The key & more"));
        assert_eq!(xml_text(xml, "UploadId"), None);
    }
}
