//! The object-store interface both backends implement, and the body adapter that enforces the
//! size limit and computes the sha256 and the sniffing head on the way through.
//!
//! Writes happen in two steps so that an upload never becomes visible half-written and so that
//! the bytes can arrive before their name does (a multipart form may carry `cloudPath` after
//! the file): [`Backend::stage`] consumes the body into a private place (a temp file), and
//! [`Staged::commit`] makes it the object at a key, atomically. Dropping a [`Staged`] without
//! committing removes it.

use crate::error::{LimitExceeded, StorageError};
use crate::sniff::SNIFF_LEN;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// A body: chunks of bytes or an I/O error (client gone, idle timeout).
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// A byte range as asked for by a `Range` header, before the object size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` or `bytes=start-end` (end inclusive, clamped to the size).
    From {
        /// First byte.
        start: u64,
        /// Last byte (inclusive), if given.
        end: Option<u64>,
    },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// A `Range` header that is not a valid byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRange;

impl ByteRange {
    /// Parses a `Range` header value. `Ok(None)` means "ignore it and serve the whole object"
    /// (other units, several ranges — allowed by RFC 9110); `Err` means malformed.
    pub fn parse_header(v: &str) -> Result<Option<ByteRange>, BadRange> {
        let Some(spec) = v.trim().strip_prefix("bytes=") else {
            return Ok(None);
        };
        if spec.contains(',') {
            return Ok(None);
        }
        let (a, b) = spec.trim().split_once('-').ok_or(BadRange)?;
        let num = |s: &str| -> Result<u64, BadRange> {
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(BadRange);
            }
            s.parse().map_err(|_| BadRange)
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return Ok(Some(ByteRange::Suffix(num(b)?)));
        }
        let start = num(a)?;
        let end = if b.is_empty() { None } else { Some(num(b)?) };
        if end.is_some_and(|e| e < start) {
            return Err(BadRange);
        }
        Ok(Some(ByteRange::From { start, end }))
    }

    /// The inclusive `(first, last)` bytes of an object of `size`, or `None` when unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => {
                if start >= size {
                    return None;
                }
                Some((start, end.map_or(size - 1, |e| e.min(size - 1))))
            }
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return None;
                }
                Some((size - n.min(size), size - 1))
            }
        }
    }
}

/// What a backend knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// The backend's entity tag (S3 ETag; size and mtime on local disk), unquoted.
    pub etag: String,
    /// Last modification, milliseconds since the epoch, when known.
    pub modified_ms: Option<i64>,
}

/// An object being read.
pub struct Object {
    /// The whole object's metadata.
    pub meta: ObjectMeta,
    /// The inclusive byte range being returned, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes (the range, or everything).
    pub body: ByteStream,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish()
    }
}

/// A body consumed into a private place, not yet visible under any key.
#[async_trait]
pub trait Staged: Send {
    /// Makes the staged bytes the object at `key`, atomically replacing any previous one.
    /// `content_type` is recorded where the backend can keep it (S3 `Content-Type`).
    async fn commit(self: Box<Self>, key: &str, content_type: &str) -> Result<(), StorageError>;
}

/// An object store: local disk or S3-compatible.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and `doctor`: `local` or `s3`.
    fn kind(&self) -> &'static str;
    /// Consumes `body` into a private place. On a body error the partial data is removed and
    /// the error returned (`StorageError::Body`, or `TooLarge` for the limit marker).
    async fn stage(&self, body: ByteStream) -> Result<Box<dyn Staged>, StorageError>;
    /// Reads an object, or a range of it (`RangeNotSatisfiable` when outside).
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StorageError>;
    /// Metadata of an object.
    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError>;
    /// Deletes an object; `Ok(false)` when it did not exist.
    async fn delete(&self, key: &str) -> Result<bool, StorageError>;
}

/// What the body adapter learned about the bytes that went through it.
#[derive(Debug, Clone, Default)]
pub struct BodyInfo {
    /// Bytes seen.
    pub size: u64,
    /// sha256, lowercase hex (set when the body ended).
    pub sha256: String,
    /// The first bytes, for content sniffing.
    pub head: Vec<u8>,
}

struct Meter {
    hasher: Sha256,
    info: BodyInfo,
}

/// Wraps a body so that it fails with the limit marker past `limit` bytes, and records size,
/// sha256 and the first [`SNIFF_LEN`] bytes into the returned handle.
pub fn metered(body: ByteStream, limit: u64) -> (ByteStream, Arc<Mutex<BodyInfo>>) {
    let info = Arc::new(Mutex::new(BodyInfo::default()));
    let stream = Metered {
        inner: body,
        limit,
        meter: Some(Meter {
            hasher: Sha256::new(),
            info: BodyInfo::default(),
        }),
        out: info.clone(),
    };
    (Box::pin(stream), info)
}

struct Metered {
    inner: ByteStream,
    limit: u64,
    meter: Option<Meter>,
    out: Arc<Mutex<BodyInfo>>,
}

impl Stream for Metered {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(meter) = this.meter.as_mut() else {
            return Poll::Ready(None);
        };
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                meter.info.size += chunk.len() as u64;
                if meter.info.size > this.limit {
                    this.meter = None;
                    return Poll::Ready(Some(Err(io::Error::other(LimitExceeded(this.limit)))));
                }
                meter.hasher.update(&chunk);
                if meter.info.head.len() < SNIFF_LEN {
                    let take = (SNIFF_LEN - meter.info.head.len()).min(chunk.len());
                    meter.info.head.extend_from_slice(&chunk[..take]);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.meter = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                if let Some(m) = this.meter.take() {
                    let mut info = m.info;
                    info.sha256 = hex::encode(m.hasher.finalize());
                    if let Ok(mut out) = this.out.lock() {
                        *out = info;
                    }
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing() {
        let p = |s| ByteRange::parse_header(s);
        assert_eq!(
            p("bytes=0-9"),
            Ok(Some(ByteRange::From {
                start: 0,
                end: Some(9)
            }))
        );
        assert_eq!(
            p("bytes=5-"),
            Ok(Some(ByteRange::From {
                start: 5,
                end: None
            }))
        );
        assert_eq!(p("bytes=-3"), Ok(Some(ByteRange::Suffix(3))));
        assert_eq!(p("bytes=0-1,3-4"), Ok(None));
        assert_eq!(p("items=0-1"), Ok(None));
        assert!(p("bytes=9-5").is_err());
        assert!(p("bytes=a-b").is_err());
        assert!(p("bytes=-").is_err());
        assert!(p("bytes=+1-2").is_err());
        assert_eq!(
            ByteRange::From {
                start: 0,
                end: Some(9)
            }
            .resolve(5),
            Some((0, 4))
        );
        assert_eq!(
            ByteRange::From {
                start: 5,
                end: None
            }
            .resolve(5),
            None
        );
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(
            ByteRange::From {
                start: 0,
                end: None
            }
            .resolve(0),
            None
        );
    }

    #[tokio::test]
    async fn metering_counts_hashes_and_limits() {
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let (mut s, info) = metered(Box::pin(futures_util::stream::iter(chunks)), 100);
        while let Some(c) = s.next().await {
            c.unwrap();
        }
        let i = info.lock().unwrap().clone();
        assert_eq!(i.size, 11);
        assert_eq!(i.head, b"hello world");
        assert_eq!(
            i.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );

        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let (mut s, _) = metered(Box::pin(futures_util::stream::iter(chunks)), 10);
        assert!(s.next().await.unwrap().is_ok());
        let e = s.next().await.unwrap().unwrap_err();
        assert!(matches!(
            StorageError::from_body(e),
            StorageError::TooLarge { limit: 10 }
        ));
    }
}
