//! The local-disk backend (`storage.url = "file://dir"`), the default.
//!
//! An object `a/b.png` is the file `<root>/a/b.png`. Writes go to a temp file under
//! `<root>/.minibase/tmp/` (same file system, so the final rename is atomic), are fsynced,
//! renamed over the target, and the target's directory is fsynced: a reader sees the old file
//! or the complete new one, never a half-written one, and an acknowledged upload survives a
//! crash. Keys are confined under the root whatever they contain: every segment is checked
//! again here (no `..`, `.`, empty, backslash or NUL), independently of `cloudPath` validation.

use crate::backend::{Backend, ByteRange, ByteStream, Object, ObjectMeta, Staged};
use crate::error::StorageError;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

const TMP_DIR: &str = ".minibase/tmp";
const READ_BUF: usize = 64 * 1024;
const WRITE_BUF: usize = 256 * 1024;

/// Files on local disk under one root directory.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// Opens (creating) the root and its temp directory, and removes temp files left by a
    /// crash more than an hour ago.
    pub async fn open(root: impl Into<PathBuf>) -> Result<LocalBackend, StorageError> {
        let root: PathBuf = root.into();
        let tmp = root.join(TMP_DIR);
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            std::fs::create_dir_all(&tmp)?;
            let cutoff = SystemTime::now() - Duration::from_secs(3600);
            for entry in std::fs::read_dir(&tmp)?.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))??;
        Ok(LocalBackend { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file for `key`, confined under the root.
    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        let mut p = self.root.clone();
        if key.is_empty() {
            return Err(StorageError::InvalidPath("empty key".into()));
        }
        for seg in key.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." || seg.contains(['\\', '\0']) {
                return Err(StorageError::InvalidPath(
                    "key escapes the storage root".into(),
                ));
            }
            p.push(seg);
        }
        Ok(p)
    }
}

fn meta_of(m: &std::fs::Metadata) -> ObjectMeta {
    let modified = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
    ObjectMeta {
        size: m.len(),
        etag: format!("{:x}-{:x}", m.len(), modified.map_or(0, |d| d.as_nanos())),
        modified_ms: modified.map(|d| d.as_millis() as i64),
    }
}

fn not_found_or(e: io::Error) -> StorageError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StorageError::NotFound,
        _ => StorageError::Io(e),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?
}

/// Removes a temp file when dropped unless it was committed.
pub(crate) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> TempFile {
        TempFile { path: Some(path) }
    }
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }
    /// Removes the file now (rather than in the background on drop).
    pub(crate) async fn remove(mut self) {
        if let Some(p) = self.path.take() {
            let _ = tokio::fs::remove_file(p).await;
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || {
                        let _ = std::fs::remove_file(p);
                    });
                }
                Err(_) => {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

struct LocalStaged {
    backend: LocalBackend,
    tmp: TempFile,
}

#[async_trait]
impl Staged for LocalStaged {
    async fn commit(
        mut self: Box<Self>,
        key: &str,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let target = self.backend.path_of(key)?;
        let Some(tmp) = self.tmp.path.take() else {
            return Err(StorageError::Io(io::Error::other(
                "staged file already committed",
            )));
        };
        let root = self.backend.root.clone();
        let key = key.to_string();
        let result = blocking({
            let tmp = tmp.clone();
            move || commit_blocking(&root, &tmp, &target, &key)
        })
        .await;
        if result.is_err() {
            self.tmp.path = Some(tmp); // removed on drop
        }
        result
    }
}

fn commit_blocking(root: &Path, tmp: &Path, target: &Path, key: &str) -> Result<(), StorageError> {
    let conflict =
        || StorageError::Conflict(format!("{key:?} (a file and a folder cannot share a name)"));
    let parent = target.parent().unwrap_or(root);
    // A concurrent delete may remove an emptied parent between mkdir and rename: retry once.
    for attempt in 0..2 {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return Err(match e.kind() {
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => conflict(),
                _ => StorageError::Io(e),
            });
        }
        if std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
            return Err(conflict());
        }
        match std::fs::rename(tmp, target) {
            Ok(()) => {
                std::fs::File::open(parent)?.sync_all()?;
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt == 0 => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::DirectoryNotEmpty
                ) =>
            {
                return Err(conflict());
            }
            Err(e) => return Err(StorageError::Io(e)),
        }
    }
    Err(StorageError::Io(io::Error::other(
        "parent directory kept disappearing",
    )))
}

#[async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn stage(&self, mut body: ByteStream) -> Result<Box<dyn Staged>, StorageError> {
        let path = self.root.join(TMP_DIR).join(mb_core::ids::random_hex(16));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        // Bounded write-behind buffer per upload: memory stays flat with many concurrent uploads.
        file.set_max_buf_size(WRITE_BUF);
        let guard = TempFile { path: Some(path) };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::from_body)?;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        Ok(Box::new(LocalStaged {
            backend: self.clone(),
            tmp: guard,
        }))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StorageError> {
        let path = self.path_of(key)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(not_found_or)?;
        let m = file.metadata().await?;
        if !m.is_file() {
            return Err(StorageError::NotFound);
        }
        let meta = meta_of(&m);
        let (start, len, range) = match range {
            None => (0, meta.size, None),
            Some(r) => {
                let (a, b) = r
                    .resolve(meta.size)
                    .ok_or(StorageError::RangeNotSatisfiable { size: meta.size })?;
                (a, b - a + 1, Some((a, b)))
            }
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        use tokio::io::AsyncReadExt;
        let reader = file.take(len);
        let body = tokio_util::io::ReaderStream::with_capacity(reader, READ_BUF);
        Ok(Object {
            meta,
            range,
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        let path = self.path_of(key)?;
        let m = tokio::fs::metadata(&path).await.map_err(not_found_or)?;
        if !m.is_file() {
            return Err(StorageError::NotFound);
        }
        Ok(meta_of(&m))
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        blocking(move || {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Ok(false),
                Err(e) => return not_found_or(e).or_if_missing(false),
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) => return not_found_or(e).or_if_missing(false),
            }
            // Remove folders left empty, up to the root (best effort; fails when not empty).
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root || !d.starts_with(&root) || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            if let Some(p) = path.parent() {
                if let Ok(f) = std::fs::File::open(p).or_else(|_| std::fs::File::open(&root)) {
                    let _ = f.sync_all();
                }
            }
            Ok(true)
        })
        .await
    }
}

trait NotFoundThen {
    fn or_if_missing<T>(self, v: T) -> Result<T, StorageError>;
}
impl NotFoundThen for StorageError {
    fn or_if_missing<T>(self, v: T) -> Result<T, StorageError> {
        match self {
            StorageError::NotFound => Ok(v),
            e => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    trait CommitTest {
        async fn commit_test(self, key: &str) -> Result<(), StorageError>;
    }
    impl CommitTest for Box<dyn Staged> {
        async fn commit_test(self, key: &str) -> Result<(), StorageError> {
            self.commit(key, "application/octet-stream").await
        }
    }

    fn body(parts: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(futures_util::stream::iter(
            parts.into_iter().map(|p| Ok(Bytes::from_static(p))),
        ))
    }

    async fn read_all(o: Object) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = o.body;
        while let Some(c) = b.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    fn tmp_count(root: &Path) -> usize {
        std::fs::read_dir(root.join(TMP_DIR)).unwrap().count()
    }

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(dir.path()).await.unwrap();
        let s = b.stage(body(vec![b"hello ", b"world"])).await.unwrap();
        assert!(matches!(
            b.head("a/b.txt").await,
            Err(StorageError::NotFound)
        ));
        s.commit_test("a/b.txt").await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("a/b.txt")).unwrap(),
            b"hello world"
        );
        assert_eq!(tmp_count(dir.path()), 0);
        assert_eq!(b.head("a/b.txt").await.unwrap().size, 11);
        assert_eq!(
            read_all(b.get("a/b.txt", None).await.unwrap()).await,
            b"hello world"
        );
        let o = b
            .get(
                "a/b.txt",
                Some(ByteRange::From {
                    start: 6,
                    end: Some(100),
                }),
            )
            .await
            .unwrap();
        assert_eq!(o.range, Some((6, 10)));
        assert_eq!(read_all(o).await, b"world");
        let o = b.get("a/b.txt", Some(ByteRange::Suffix(3))).await.unwrap();
        assert_eq!(read_all(o).await, b"rld");
        assert!(matches!(
            b.get(
                "a/b.txt",
                Some(ByteRange::From {
                    start: 11,
                    end: None
                })
            )
            .await,
            Err(StorageError::RangeNotSatisfiable { size: 11 })
        ));
        // Overwrite is atomic and complete.
        b.stage(body(vec![b"new"]))
            .await
            .unwrap()
            .commit_test("a/b.txt")
            .await
            .unwrap();
        assert_eq!(
            read_all(b.get("a/b.txt", None).await.unwrap()).await,
            b"new"
        );
        assert!(b.delete("a/b.txt").await.unwrap());
        assert!(!b.delete("a/b.txt").await.unwrap());
        assert!(
            !dir.path().join("a").exists(),
            "emptied folders are removed"
        );
        assert!(matches!(
            b.get("a/b.txt", None).await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn failed_body_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(dir.path()).await.unwrap();
        let parts: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"partial")),
            Err(io::Error::other("client gone")),
        ];
        let r = b.stage(Box::pin(futures_util::stream::iter(parts))).await;
        assert!(matches!(r, Err(StorageError::Body(_))));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(tmp_count(dir.path()), 0);
        // Staged but never committed: removed on drop.
        let s = b.stage(body(vec![b"x"])).await.unwrap();
        assert_eq!(tmp_count(dir.path()), 1);
        drop(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(tmp_count(dir.path()), 0);
    }

    #[tokio::test]
    async fn keys_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let b = LocalBackend::open(&root).await.unwrap();
        for key in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            "a\\..\\b",
            "a\0b",
            "",
        ] {
            let s = b.stage(body(vec![b"x"])).await.unwrap();
            assert!(
                matches!(s.commit(key, "x").await, Err(StorageError::InvalidPath(_))),
                "{key:?}"
            );
            assert!(
                matches!(b.get(key, None).await, Err(StorageError::InvalidPath(_))),
                "{key:?}"
            );
            assert!(
                matches!(b.delete(key).await, Err(StorageError::InvalidPath(_))),
                "{key:?}"
            );
        }
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn file_and_folder_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(dir.path()).await.unwrap();
        b.stage(body(vec![b"x"]))
            .await
            .unwrap()
            .commit_test("a")
            .await
            .unwrap();
        let r = b
            .stage(body(vec![b"y"]))
            .await
            .unwrap()
            .commit_test("a/b")
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(_))), "{r:?}");
        b.stage(body(vec![b"x"]))
            .await
            .unwrap()
            .commit_test("c/d")
            .await
            .unwrap();
        let r = b
            .stage(body(vec![b"y"]))
            .await
            .unwrap()
            .commit_test("c")
            .await;
        assert!(matches!(r, Err(StorageError::Conflict(_))), "{r:?}");
        assert!(matches!(
            b.get("c", None).await,
            Err(StorageError::NotFound)
        ));
    }
}
