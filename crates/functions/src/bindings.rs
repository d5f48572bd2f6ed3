//! Bindings of the [`crate::host`] traits over the crates below this one (storage; the
//! document database joins when docdb's API lands). Functions act with CloudBase's admin
//! rights: [`Caller::Service`], which bypasses rules but never writes system collections
//! directly (the storage service keeps `_files` itself).
//!
//! Open APIs and pay are areas beside this one; the server binds them (see
//! `server::routes::functions`).

use crate::host::{Files, HostError};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use mb_core::{ApiError, Caller, ErrorCode};
use serde_json::Value;

/// The largest file `cloud.downloadFile` hands to a function (it lives in the instance's heap).
pub const MAX_DOWNLOAD: u64 = 20 << 20;

/// `cloud.uploadFile` & co. over the storage area's [`storage::Files`].
pub struct StorageFiles {
    files: storage::Files,
    base_url: String,
}

impl StorageFiles {
    /// `base_url` is how temporary URLs are written (`https://api.example.com`, no trailing
    /// slash): `storage.public_base_url`, or the server's own address.
    pub fn new(files: storage::Files, base_url: impl Into<String>) -> Self {
        StorageFiles {
            files,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }
}

fn api(e: impl Into<ApiError>) -> HostError {
    HostError::from(e.into())
}

#[async_trait]
impl Files for StorageFiles {
    async fn upload(&self, cloud_path: &str, content: Vec<u8>) -> Result<String, HostError> {
        let path = storage::CloudPath::parse(cloud_path).map_err(api)?;
        let body: storage::ByteStream =
            Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(content))]));
        let record = self
            .files
            .upload_stream(&Caller::Service, &path, body)
            .await
            .map_err(api)?;
        Ok(record.file_id())
    }

    async fn download(&self, file_id: &str) -> Result<Vec<u8>, HostError> {
        let path = storage::CloudPath::from_file_id(file_id).map_err(api)?;
        let download = self.files.open(&path, None).await.map_err(api)?;
        if download.object.meta.size > MAX_DOWNLOAD {
            return Err(HostError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "downloadFile: {file_id} is larger than {} MiB; hand out a temp URL instead",
                    MAX_DOWNLOAD >> 20
                ),
            ));
        }
        let mut body = download.object.body;
        let mut out = Vec::with_capacity(download.object.meta.size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                HostError::from(ApiError::internal(format!("reading {file_id}: {e}")))
            })?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn temp_urls(&self, files: Vec<(String, Option<u64>)>) -> Result<Vec<Value>, HostError> {
        let list = self
            .files
            .temp_urls(&Caller::Service, &self.base_url, &files)
            .await
            .map_err(api)?;
        Ok(list
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect())
    }

    async fn delete(&self, file_ids: Vec<String>) -> Result<Vec<Value>, HostError> {
        let list = self
            .files
            .delete(&Caller::Service, &file_ids)
            .await
            .map_err(api)?;
        Ok(list
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect())
    }
}
