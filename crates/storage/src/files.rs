//! Files as users and functions see them (API.md §5): uploads with storage rules and `_files`
//! metadata, temporary URLs, deletes and downloads. Used by the HTTP routes
//! (`server::routes::storage`) and by cloud functions (`cloud.uploadFile`,
//! `cloud.getTempFileURL`, `cloud.deleteFile`, with [`Caller::System`] or [`Caller::Service`],
//! which bypass rules).
//!
//! Two seams keep this crate free of the database's internals: [`FileIndex`] stores the
//! metadata rows (implemented over docdb's `_files` collection by the server), and
//! [`FileRules`] evaluates `[storage.rules]` (implemented over docdb's rule language).
//!
//! Per path, "check the rule, commit the bytes, write the row" runs under a lock, so two
//! concurrent uploads to one path cannot leave one user's bytes under another's row.

use crate::error::StorageError;
use crate::path::CloudPath;
use crate::{ByteRange, ByteStream, Object, StagedUpload, Storage};
use async_trait::async_trait;
use mb_core::{ApiError, Caller};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Most entries in one temp-urls or delete call (CloudBase's limit).
pub const MAX_BATCH: usize = 50;

/// The metadata row of a stored file (system collection `_files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    /// The cloud path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Sniffed content type.
    pub content_type: String,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// The uploader's openid (`resource.openid` in rules); `None` for service uploads.
    pub openid: Option<String>,
    /// First upload, ms since the epoch.
    pub created_ms: i64,
    /// Last upload, ms since the epoch.
    pub updated_ms: i64,
}

impl FileRecord {
    /// `mb://<path>`.
    pub fn file_id(&self) -> String {
        format!("{}{}", crate::path::FILE_ID_SCHEME, self.path)
    }
    /// The strong ETag of the content: its sha256, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }
}

/// Where `_files` rows live.
#[async_trait]
pub trait FileIndex: Send + Sync + 'static {
    /// The row of a path.
    async fn get(&self, path: &CloudPath) -> Result<Option<FileRecord>, ApiError>;
    /// Creates or replaces the row of `record.path`.
    async fn put(&self, record: &FileRecord) -> Result<(), ApiError>;
    /// Removes the row of a path (no error when there is none).
    async fn remove(&self, path: &CloudPath) -> Result<(), ApiError>;
}

/// Read (temporary URLs) or write (upload, delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `[storage.rules] read`.
    Read,
    /// `[storage.rules] write`.
    Write,
}

/// The file a rule is asked about: `resource.openid`, `resource.path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource<'a> {
    /// The uploader (the caller, for a new file); `None` when unknown or uploaded by a service.
    pub openid: Option<&'a str>,
    /// The cloud path.
    pub path: &'a str,
}

/// Evaluates `[storage.rules]` for a user (privileged callers never reach it).
pub trait FileRules: Send + Sync + 'static {
    /// Whether `caller` may `access` `resource` at `now_ms`.
    fn allows(
        &self,
        access: Access,
        caller: &Caller,
        resource: &Resource<'_>,
        now_ms: i64,
    ) -> Result<bool, ApiError>;
}

/// One entry of a temp-urls answer (CloudBase `getTempFileURL` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TempUrlResult {
    /// As asked.
    #[serde(rename = "fileID")]
    pub file_id: String,
    /// The URL; empty when `status != 0`.
    #[serde(rename = "tempFileURL")]
    pub temp_file_url: String,
    /// Seconds the URL is valid for (after capping).
    #[serde(rename = "maxAge", skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// 0 ok, -1 failed (see `code`, `errMsg`).
    pub status: i32,
    /// `"OK"`, `"NOT_FOUND"`, `"PERMISSION_DENIED"`, `"INVALID_ARGUMENT"`.
    pub code: &'static str,
    /// Human-readable outcome.
    #[serde(rename = "errMsg")]
    pub err_msg: String,
}

/// One entry of a delete answer (CloudBase `deleteFile` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteResult {
    /// As asked.
    #[serde(rename = "fileID")]
    pub file_id: String,
    /// 0 ok, -1 failed.
    pub status: i32,
    /// `"OK"`, `"NOT_FOUND"`, `"PERMISSION_DENIED"`, `"INVALID_ARGUMENT"`, `"UNAVAILABLE"`.
    pub code: &'static str,
    /// Human-readable outcome.
    #[serde(rename = "errMsg")]
    pub err_msg: String,
}

/// A download being answered.
#[derive(Debug)]
pub struct Download {
    /// The bytes (or range).
    pub object: Object,
    /// The metadata row, when the file has one.
    pub record: Option<FileRecord>,
    /// The content type to answer with.
    pub content_type: String,
    /// The ETag to answer with (quoted).
    pub etag: String,
}

/// The files service. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    storage: Storage,
    index: Arc<dyn FileIndex>,
    rules: Arc<dyn FileRules>,
    locks: Arc<[tokio::sync::Mutex<()>]>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

fn fail(code: &'static str, msg: impl Into<String>) -> (i32, &'static str, String) {
    (-1, code, msg.into())
}

impl Files {
    /// A files service over a storage, a metadata index and rules.
    pub fn new(storage: Storage, index: Arc<dyn FileIndex>, rules: Arc<dyn FileRules>) -> Files {
        let locks: Vec<_> = (0..256).map(|_| tokio::sync::Mutex::new(())).collect();
        Files {
            storage,
            index,
            rules,
            locks: locks.into(),
        }
    }

    /// The underlying storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    fn lock_for(&self, path: &CloudPath) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.as_str().hash(&mut h);
        &self.locks[(h.finish() as usize) % self.locks.len()]
    }

    fn allowed(
        &self,
        access: Access,
        caller: &Caller,
        openid: Option<&str>,
        path: &CloudPath,
    ) -> Result<bool, ApiError> {
        if caller.is_privileged() {
            return Ok(true);
        }
        if matches!(caller, Caller::Anonymous) {
            return Ok(false);
        }
        self.rules.allows(
            access,
            caller,
            &Resource {
                openid,
                path: path.as_str(),
            },
            mb_core::now_ms(),
        )
    }

    /// Whether `caller` may write `path` now (new file: as its uploader; existing: as its
    /// owner's file). Lets the upload route refuse before reading the body when `cloudPath`
    /// comes first; [`Files::upload`] checks again under the path lock.
    pub async fn check_write(&self, caller: &Caller, path: &CloudPath) -> Result<(), ApiError> {
        if caller.is_privileged() {
            return Ok(());
        }
        let existing = self.index.get(path).await?;
        self.check_write_with(caller, path, existing.as_ref())
    }

    fn check_write_with(
        &self,
        caller: &Caller,
        path: &CloudPath,
        existing: Option<&FileRecord>,
    ) -> Result<(), ApiError> {
        let owner = match existing {
            Some(r) => r.openid.as_deref(),
            None => caller.openid(),
        };
        if self.allowed(Access::Write, caller, owner, path)? {
            Ok(())
        } else if existing.is_some() {
            Err(ApiError::denied(
                "storage rules do not allow you to overwrite this file",
            ))
        } else {
            Err(ApiError::denied(
                "storage rules do not allow you to upload to this path",
            ))
        }
    }

    /// Stages a body (size limit enforced, nothing kept on error).
    pub async fn stage(&self, body: ByteStream) -> Result<StagedUpload, ApiError> {
        self.storage.stage(body).await.map_err(ApiError::from)
    }

    /// Commits a staged upload to `path` for `caller`: checks the write rule, replaces the
    /// bytes atomically and records the `_files` row. On any failure nothing new is visible.
    pub async fn upload(
        &self,
        caller: &Caller,
        path: &CloudPath,
        staged: StagedUpload,
    ) -> Result<FileRecord, ApiError> {
        let _guard = self.lock_for(path).lock().await;
        let existing = self.index.get(path).await?;
        self.check_write_with(caller, path, existing.as_ref())?;
        let stored = self.storage.commit(staged, path).await?;
        let now = mb_core::now_ms();
        let record = FileRecord {
            path: path.as_str().to_string(),
            size: stored.size,
            content_type: stored.content_type,
            sha256: stored.sha256,
            // Overwriting keeps the owner; a new file belongs to its uploader.
            openid: match &existing {
                Some(r) => r.openid.clone(),
                None => caller.openid().map(str::to_string),
            },
            created_ms: existing.as_ref().map_or(now, |r| r.created_ms),
            updated_ms: now,
        };
        if let Err(e) = self.index.put(&record).await {
            // Bytes without a row would be an orphan nobody can manage: take them back.
            if existing.is_none() {
                if let Err(d) = self.storage.delete(path).await {
                    tracing::warn!(path = %path, error = %d, "could not remove file after metadata failure");
                }
            }
            return Err(e);
        }
        Ok(record)
    }

    /// Stages and uploads in one go (functions' `cloud.uploadFile`).
    pub async fn upload_stream(
        &self,
        caller: &Caller,
        path: &CloudPath,
        body: ByteStream,
    ) -> Result<FileRecord, ApiError> {
        if !caller.is_privileged() {
            self.check_write(caller, path).await?;
        }
        let staged = self.stage(body).await?;
        self.upload(caller, path, staged).await
    }

    /// Temporary URLs for up to [`MAX_BATCH`] files. `base` is `https://host` (no trailing
    /// slash); each entry's `maxAge` (seconds) is capped by `storage.max_age`.
    pub async fn temp_urls(
        &self,
        caller: &Caller,
        base: &str,
        list: &[(String, Option<u64>)],
    ) -> Result<Vec<TempUrlResult>, ApiError> {
        if list.len() > MAX_BATCH {
            return Err(ApiError::invalid(format!(
                "at most {MAX_BATCH} files per call"
            )));
        }
        let now_s = mb_core::now_ms() / 1000;
        let mut out = Vec::with_capacity(list.len());
        for (file_id, max_age) in list {
            let result = self
                .temp_url_one(caller, base, file_id, *max_age, now_s)
                .await;
            out.push(match result {
                Ok((url, age)) => TempUrlResult {
                    file_id: file_id.clone(),
                    temp_file_url: url,
                    max_age: Some(age),
                    status: 0,
                    code: "OK",
                    err_msg: "ok".into(),
                },
                Err((status, code, msg)) => TempUrlResult {
                    file_id: file_id.clone(),
                    temp_file_url: String::new(),
                    max_age: None,
                    status,
                    code,
                    err_msg: msg,
                },
            });
        }
        Ok(out)
    }

    async fn temp_url_one(
        &self,
        caller: &Caller,
        base: &str,
        file_id: &str,
        max_age: Option<u64>,
        now_s: i64,
    ) -> Result<(String, u64), (i32, &'static str, String)> {
        let path = CloudPath::from_file_id(file_id)
            .map_err(|e| fail("INVALID_ARGUMENT", e.to_string()))?;
        let record = self
            .index
            .get(&path)
            .await
            .map_err(|e| fail(e.code.as_str(), e.message.to_string()))?;
        let exists = match &record {
            Some(_) => true,
            // Files put in the bucket by other means: known to the backend only.
            None if caller.is_privileged() => match self.storage.head(&path).await {
                Ok(_) => true,
                Err(StorageError::NotFound) => false,
                Err(e) => return Err(fail("UNAVAILABLE", ApiError::from(e).message.to_string())),
            },
            None => false,
        };
        let owner = record.as_ref().and_then(|r| r.openid.as_deref());
        // Rules first: whether someone else's file exists is not disclosed.
        if !self
            .allowed(Access::Read, caller, owner, &path)
            .map_err(|e| fail(e.code.as_str(), e.message.to_string()))?
        {
            return Err(fail(
                "PERMISSION_DENIED",
                "storage rules do not allow you to read this file",
            ));
        }
        if !exists {
            return Err(fail("NOT_FOUND", "file not found"));
        }
        let age = self.storage.effective_max_age(max_age);
        let url = self.storage.temp_url(base, &path, age, now_s);
        Ok((url.url, age.as_secs()))
    }

    /// Deletes up to [`MAX_BATCH`] files, each checked against the write rule.
    pub async fn delete(
        &self,
        caller: &Caller,
        file_ids: &[String],
    ) -> Result<Vec<DeleteResult>, ApiError> {
        if file_ids.len() > MAX_BATCH {
            return Err(ApiError::invalid(format!(
                "at most {MAX_BATCH} files per call"
            )));
        }
        let mut out = Vec::with_capacity(file_ids.len());
        for file_id in file_ids {
            let (status, code, err_msg) = match self.delete_one(caller, file_id).await {
                Ok(()) => (0, "OK", "ok".to_string()),
                Err(e) => e,
            };
            out.push(DeleteResult {
                file_id: file_id.clone(),
                status,
                code,
                err_msg,
            });
        }
        Ok(out)
    }

    async fn delete_one(
        &self,
        caller: &Caller,
        file_id: &str,
    ) -> Result<(), (i32, &'static str, String)> {
        let path = CloudPath::from_file_id(file_id)
            .map_err(|e| fail("INVALID_ARGUMENT", e.to_string()))?;
        let _guard = self.lock_for(&path).lock().await;
        let api = |e: ApiError| fail(e.code.as_str(), e.message.to_string());
        let record = self.index.get(&path).await.map_err(api)?;
        let owner = record.as_ref().and_then(|r| r.openid.as_deref());
        if !self
            .allowed(Access::Write, caller, owner, &path)
            .map_err(api)?
        {
            return Err(fail(
                "PERMISSION_DENIED",
                "storage rules do not allow you to delete this file",
            ));
        }
        let existed = self
            .storage
            .delete(&path)
            .await
            .map_err(|e| api(ApiError::from(e)))?;
        if record.is_some() {
            self.index.remove(&path).await.map_err(api)?;
        }
        if !existed && record.is_none() {
            return Err(fail("NOT_FOUND", "file not found"));
        }
        Ok(())
    }

    /// Opens a download of `path` after checking its temporary-URL signature (403 for a
    /// missing, tampered or expired one, all alike).
    pub async fn open_signed(
        &self,
        path: &str,
        exp: Option<&str>,
        sig: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<Download, ApiError> {
        if let Err(reason) = self
            .storage
            .verify(path, exp, sig, mb_core::now_ms() / 1000)
        {
            tracing::debug!(?reason, "temporary URL refused");
            return Err(ApiError::denied("this link is invalid or has expired"));
        }
        let path = CloudPath::parse(path).map_err(|_| ApiError::not_found("no such file"))?;
        self.open(&path, range).await
    }

    /// The metadata row of a file (for conditional requests before opening).
    pub async fn record(&self, path: &CloudPath) -> Result<Option<FileRecord>, ApiError> {
        self.index.get(path).await
    }

    /// Opens a download of `path` (no rule check: for signed URLs and privileged callers).
    pub async fn open(
        &self,
        path: &CloudPath,
        range: Option<ByteRange>,
    ) -> Result<Download, ApiError> {
        let record = self.index.get(path).await?;
        let object = self.storage.get(path, range).await?;
        let (content_type, etag) = match &record {
            Some(r) if r.size == object.meta.size => (r.content_type.clone(), r.etag()),
            _ => (
                crate::sniff::content_type(&[], path.extension().as_deref()).to_string(),
                format!("\"{}\"", object.meta.etag),
            ),
        };
        Ok(Download {
            object,
            record,
            content_type,
            etag,
        })
    }

    /// The granted lifetime for an asked `maxAge`.
    pub fn effective_max_age(&self, max_age: Option<u64>) -> Duration {
        self.storage.effective_max_age(max_age)
    }
}

#[cfg(test)]
mod tests {
    //! The service's decisions with an in-memory index and the default rule written out
    //! (`resource.openid == auth.openid`); the HTTP tests cover the real docdb seams.
    use super::*;
    use crate::{LocalBackend, Settings, UrlSigner};
    use bytes::Bytes;
    use mb_core::UserIdentity;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemIndex(Mutex<HashMap<String, FileRecord>>);
    #[async_trait]
    impl FileIndex for MemIndex {
        async fn get(&self, path: &CloudPath) -> Result<Option<FileRecord>, ApiError> {
            Ok(self.0.lock().unwrap().get(path.as_str()).cloned())
        }
        async fn put(&self, r: &FileRecord) -> Result<(), ApiError> {
            self.0.lock().unwrap().insert(r.path.clone(), r.clone());
            Ok(())
        }
        async fn remove(&self, path: &CloudPath) -> Result<(), ApiError> {
            self.0.lock().unwrap().remove(path.as_str());
            Ok(())
        }
    }
    struct OwnerOnly;
    impl FileRules for OwnerOnly {
        fn allows(
            &self,
            _: Access,
            caller: &Caller,
            r: &Resource<'_>,
            _: i64,
        ) -> Result<bool, ApiError> {
            Ok(r.openid.is_some() && r.openid == caller.openid())
        }
    }
    fn user(o: &str) -> Caller {
        Caller::User(UserIdentity {
            uid: o.into(),
            openid: o.into(),
            unionid: None,
            platform: "dev".into(),
            session_id: "s".into(),
        })
    }
    fn body(b: &'static [u8]) -> ByteStream {
        Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(b))]))
    }

    #[tokio::test]
    async fn ownership_rules_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(LocalBackend::open(dir.path()).await.unwrap());
        let settings = Settings {
            upload_limit: 100,
            default_max_age: Duration::from_secs(60),
            max_age: Duration::from_secs(600),
            public_base_url: None,
        };
        let storage = Storage::new(backend, UrlSigner::new(b"k"), settings);
        let files = Files::new(storage, Arc::new(MemIndex::default()), Arc::new(OwnerOnly));
        let (a, b) = (user("a"), user("b"));
        let p = CloudPath::parse("x/1.png").unwrap();
        let r = files
            .upload_stream(&a, &p, body(b"\x89PNG\r\n\x1a\n"))
            .await
            .unwrap();
        assert_eq!(
            (r.openid.as_deref(), r.content_type.as_str(), r.size),
            (Some("a"), "image/png", 8)
        );
        assert_eq!(
            files
                .upload_stream(&b, &p, body(b"b"))
                .await
                .unwrap_err()
                .code,
            mb_core::ErrorCode::PermissionDenied
        );
        let r2 = files
            .upload_stream(&Caller::Service, &p, body(b"svc"))
            .await
            .unwrap();
        assert_eq!(
            (r2.openid.as_deref(), r2.created_ms),
            (Some("a"), r.created_ms),
            "overwrite keeps owner and creation"
        );
        assert_eq!(
            files
                .upload_stream(&a, &p, body(&[0u8; 101]))
                .await
                .unwrap_err()
                .code,
            mb_core::ErrorCode::PayloadTooLarge
        );

        let ids = vec![
            (p.file_id(), Some(10_000)),
            ("mb://nope".to_string(), None),
            ("bad".to_string(), None),
        ];
        let t = files.temp_urls(&a, "https://h", &ids).await.unwrap();
        assert_eq!((t[0].status, t[0].max_age), (0, Some(600)));
        assert!(
            t[0].temp_file_url
                .starts_with("https://h/storage/x/1.png?exp=")
        );
        assert_eq!(
            (t[1].code, t[2].code),
            ("PERMISSION_DENIED", "INVALID_ARGUMENT")
        );
        assert_eq!(
            files.temp_urls(&b, "https://h", &ids[..1]).await.unwrap()[0].code,
            "PERMISSION_DENIED"
        );
        assert_eq!(
            files
                .temp_urls(&Caller::Service, "https://h", &ids[1..2])
                .await
                .unwrap()[0]
                .code,
            "NOT_FOUND"
        );
        let too_many: Vec<_> = (0..51).map(|i| (format!("mb://{i}"), None)).collect();
        assert!(files.temp_urls(&a, "h", &too_many).await.is_err());

        assert_eq!(
            files.delete(&b, &[p.file_id()]).await.unwrap()[0].code,
            "PERMISSION_DENIED"
        );
        assert_eq!(files.delete(&a, &[p.file_id()]).await.unwrap()[0].status, 0);
        assert_eq!(
            files
                .delete(&Caller::Service, &[p.file_id()])
                .await
                .unwrap()[0]
                .code,
            "NOT_FOUND"
        );
        assert!(!dir.path().join("x/1.png").exists());
        assert_eq!(
            files
                .upload_stream(&Caller::Anonymous, &p, body(b"x"))
                .await
                .unwrap_err()
                .code,
            mb_core::ErrorCode::PermissionDenied
        );
    }
}
