//! Object storage for Minibase: users' images, audio and video (API.md §5).
//!
//! - [`Storage`] is what the rest of Minibase uses: it validates nothing about callers (rules
//!   and `_files` metadata are the HTTP layer's and the functions area's job) but owns the
//!   backend, the upload size limit, content sniffing, and temporary-URL signing.
//! - [`Backend`] is the object-store interface: [`LocalBackend`] (default, `file://dir`) and
//!   [`S3Backend`] (`s3://bucket?endpoint=…`, any S3-compatible store, SigV4 by hand).
//! - [`CloudPath`] is a validated `cloudPath`; file ids are `mb://<cloudPath>`.
//! - [`UrlSigner`] signs `/storage/{cloudPath}?exp=…&sig=…` URLs.
//!
//! Writing is two-step so a file is never visible half-written and its bytes can arrive
//! before its name (multipart forms may put `cloudPath` after the file):
//!
//! ```no_run
//! # use minibase_storage as storage;
//! # async fn demo(storage: storage::Storage, body: storage::ByteStream) -> Result<(), storage::StorageError> {
//! let staged = storage.stage(body).await?;          // streamed to a temp file, limit enforced
//! let path = storage::CloudPath::parse("avatars/u1.png")?;
//! let stored = storage.commit(staged, &path).await?; // atomically visible at its key
//! println!("{} {} bytes {} sha256 {}", stored.path.file_id(), stored.size, stored.content_type, stored.sha256);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod docdb_adapter;
pub mod error;
pub mod files;
pub mod local;
pub mod location;
pub mod path;
pub mod s3;
pub mod signing;
pub mod sniff;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backend::{Backend, BadRange, ByteRange, ByteStream, Object, ObjectMeta, Staged};
pub use docdb_adapter::{DocdbFileIndex, DocdbRules};
pub use error::StorageError;
pub use files::{Access, FileIndex, FileRecord, FileRules, Files, Resource};
pub use local::LocalBackend;
pub use location::Location;
pub use path::CloudPath;
pub use s3::{S3Backend, S3Config};
pub use signing::{SignatureError, UrlSigner};

use backend::BodyInfo;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a [`Storage`] beyond its backend and signer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted file (`limits.upload`).
    pub upload_limit: u64,
    /// Lifetime of a temporary URL when none is asked (`storage.default_max_age`).
    pub default_max_age: Duration,
    /// Longest lifetime honoured (`storage.max_age`).
    pub max_age: Duration,
    /// Base of temporary URLs when set (`storage.public_base_url`), without trailing `/`.
    pub public_base_url: Option<String>,
}

/// The storage service. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    signer: UrlSigner,
    settings: Settings,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.inner.backend.kind())
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// An upload consumed into a private place, with what was learned on the way.
pub struct StagedUpload {
    staged: Box<dyn Staged>,
    info: BodyInfo,
}

impl StagedUpload {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.info.size
    }
    /// sha256, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.info.sha256
    }
    /// The content type for a file of these bytes stored at `path`.
    pub fn content_type(&self, path: &CloudPath) -> &'static str {
        sniff::content_type(&self.info.head, path.extension().as_deref())
    }
}

impl std::fmt::Debug for StagedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedUpload")
            .field("size", &self.info.size)
            .field("sha256", &self.info.sha256)
            .finish()
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Where.
    pub path: CloudPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Sniffed content type.
    pub content_type: String,
}

/// A temporary URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempUrl {
    /// The full URL.
    pub url: String,
    /// When it stops working, unix seconds.
    pub expires_at: i64,
}

impl Storage {
    /// Opens the backend named by `storage.url` (creating local directories), and loads or
    /// generates the signing secret.
    pub async fn open(config: &config::Config) -> Result<Storage, StorageError> {
        let data_dir = &config.server.data_dir;
        let backend: Arc<dyn Backend> = match Location::parse(&config.storage_url())? {
            Location::Local(root) => Arc::new(LocalBackend::open(root).await?),
            Location::S3 {
                bucket,
                endpoint,
                region,
                path_style,
                prefix,
                part_size,
            } => {
                let st = &config.storage;
                let env = |k: &str| std::env::var(k).unwrap_or_default();
                let access_key_id = if st.access_key_id.is_empty() {
                    env("AWS_ACCESS_KEY_ID")
                } else {
                    st.access_key_id.clone()
                };
                let secret_access_key = if st.secret_access_key.is_empty() {
                    env("AWS_SECRET_ACCESS_KEY")
                } else {
                    st.secret_access_key.expose().to_string()
                };
                Arc::new(
                    S3Backend::open(S3Config {
                        bucket,
                        endpoint,
                        region,
                        path_style,
                        prefix,
                        credentials: s3::sigv4::Credentials {
                            access_key_id,
                            secret_access_key,
                        },
                        spool_dir: data_dir.join("tmp").join("s3-spool"),
                        part_size: part_size.unwrap_or(s3::DEFAULT_PART_SIZE),
                        timeout: st.timeout.get(),
                    })
                    .await?,
                )
            }
        };
        let signer = UrlSigner::load_or_generate(config.storage.signing_secret.expose(), data_dir)
            .map_err(|e| StorageError::Config(format!("storage signing secret: {e}")))?;
        Ok(Storage::new(
            backend,
            signer,
            Settings {
                upload_limit: config.limits.upload.bytes(),
                default_max_age: config.storage.default_max_age.get(),
                max_age: config.storage.max_age.get(),
                public_base_url: Some(
                    config
                        .storage
                        .public_base_url
                        .trim_end_matches('/')
                        .to_string(),
                )
                .filter(|s| !s.is_empty()),
            },
        ))
    }

    /// A storage over an explicit backend (tests, tools).
    pub fn new(backend: Arc<dyn Backend>, signer: UrlSigner, settings: Settings) -> Storage {
        Storage {
            inner: Arc::new(Inner {
                backend,
                signer,
                settings,
            }),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// `storage.public_base_url`, when set: the base of temporary URLs made outside a request
    /// (cloud functions). Routes fall back to the request's scheme and `Host`.
    pub fn public_base_url(&self) -> Option<&str> {
        self.inner.settings.public_base_url.as_deref()
    }

    /// The URL signer.
    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    /// Consumes a body into a private place, refusing more than the upload limit
    /// (`StorageError::TooLarge`, nothing kept).
    pub async fn stage(&self, body: ByteStream) -> Result<StagedUpload, StorageError> {
        self.stage_with_limit(body, self.inner.settings.upload_limit)
            .await
    }

    /// As [`Storage::stage`] with another limit.
    pub async fn stage_with_limit(
        &self,
        body: ByteStream,
        limit: u64,
    ) -> Result<StagedUpload, StorageError> {
        let (body, info) = backend::metered(body, limit);
        let staged = self.inner.backend.stage(body).await?;
        let info = info.lock().map(|i| i.clone()).unwrap_or_default();
        Ok(StagedUpload { staged, info })
    }

    /// Makes a staged upload the file at `path`, replacing any previous one atomically.
    pub async fn commit(
        &self,
        staged: StagedUpload,
        path: &CloudPath,
    ) -> Result<StoredFile, StorageError> {
        let content_type = staged.content_type(path);
        let StagedUpload { staged, info } = staged;
        staged.commit(path.as_str(), content_type).await?;
        Ok(StoredFile {
            path: path.clone(),
            size: info.size,
            sha256: info.sha256,
            content_type: content_type.to_string(),
        })
    }

    /// Stages and commits in one go.
    pub async fn put(
        &self,
        path: &CloudPath,
        body: ByteStream,
    ) -> Result<StoredFile, StorageError> {
        let staged = self.stage(body).await?;
        self.commit(staged, path).await
    }

    /// Reads a file or a range of it.
    pub async fn get(
        &self,
        path: &CloudPath,
        range: Option<ByteRange>,
    ) -> Result<Object, StorageError> {
        self.inner.backend.get(path.as_str(), range).await
    }

    /// Metadata of a file.
    pub async fn head(&self, path: &CloudPath) -> Result<ObjectMeta, StorageError> {
        self.inner.backend.head(path.as_str()).await
    }

    /// Deletes a file; `Ok(false)` when there was none.
    pub async fn delete(&self, path: &CloudPath) -> Result<bool, StorageError> {
        self.inner.backend.delete(path.as_str()).await
    }

    /// The lifetime granted for an asked `maxAge` in seconds: the default when `None`, capped
    /// at `storage.max_age`, at least one second.
    pub fn effective_max_age(&self, max_age_secs: Option<u64>) -> Duration {
        let s = &self.inner.settings;
        match max_age_secs {
            None => s.default_max_age.min(s.max_age),
            Some(n) => Duration::from_secs(n.max(1)).min(s.max_age),
        }
    }

    /// A temporary URL for `path` under `base` (`https://api.example.com`, no trailing `/`),
    /// valid for `max_age` from `now` (unix seconds).
    pub fn temp_url(&self, base: &str, path: &CloudPath, max_age: Duration, now: i64) -> TempUrl {
        let exp = now.saturating_add(max_age.as_secs() as i64);
        let base = base.trim_end_matches('/');
        TempUrl {
            url: format!("{base}{}", self.inner.signer.signed_path(path, exp)),
            expires_at: exp,
        }
    }

    /// Checks the `exp` and `sig` of a download of `path` (the decoded cloud path).
    pub fn verify(
        &self,
        path: &str,
        exp: Option<&str>,
        sig: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        self.inner.signer.verify(path, exp, sig, now)
    }
}
