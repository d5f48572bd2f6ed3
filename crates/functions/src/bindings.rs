//! Bindings of the [`crate::host`] traits over the crates below this one: the document
//! database ([`DocDatabase`], [`KvTimerLease`]) and storage ([`StorageFiles`]). Functions act
//! with CloudBase's admin rights: [`Caller::Service`], which bypasses rules but never writes
//! system collections directly (those belong to Minibase; the storage service keeps `_files`
//! itself). Only the timer lease, Minibase's own bookkeeping, writes as [`Caller::System`].
//!
//! Open APIs and pay are areas beside this one; the server binds them (see
//! `server::routes::functions`).

use crate::host::{Database, Files, HostError, Query, TimerLease};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use mb_core::{ApiError, Caller, ErrorCode};
use serde_json::{Value, json};

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

/// `cloud.database()` over docdb, as a service caller (rules bypassed, system collections
/// read-only).
pub struct DocDatabase {
    db: docdb::Database,
}

impl DocDatabase {
    /// Binds `db`.
    pub fn new(db: docdb::Database) -> Self {
        DocDatabase { db }
    }
}

fn query_request(q: Query) -> docdb::QueryRequest {
    docdb::QueryRequest {
        where_: q.r#where,
        order_by: Value::Array(q.order_by.into_iter().map(|(f, d)| json!([f, d])).collect()),
        skip: q.skip.map_or(Value::Null, Value::from),
        limit: q.limit.map_or(Value::Null, Value::from),
        field: q.field.unwrap_or(Value::Null),
    }
}

fn db_err(e: docdb::DbError) -> HostError {
    HostError::from(ApiError::from(e))
}

#[async_trait]
impl Database for DocDatabase {
    async fn query(&self, collection: &str, q: Query) -> Result<Vec<Value>, HostError> {
        self.db
            .query(&Caller::Service, collection, &query_request(q))
            .await
            .map_err(db_err)
    }
    async fn query_json(&self, collection: &str, q: Query) -> Result<String, HostError> {
        self.db
            .query_json(&Caller::Service, collection, &query_request(q))
            .await
            .map_err(db_err)
    }
    async fn count(&self, collection: &str, r#where: Value) -> Result<u64, HostError> {
        self.db
            .count(&Caller::Service, collection, &r#where)
            .await
            .map_err(db_err)
    }
    async fn get(
        &self,
        collection: &str,
        id: &str,
        field: Option<Value>,
    ) -> Result<Option<Value>, HostError> {
        let projection = match &field {
            Some(f) => docdb::projection::Projection::parse(f).map_err(db_err)?,
            None => None,
        };
        let doc = self
            .db
            .get(&Caller::Service, collection, id)
            .await
            .map_err(db_err)?;
        Ok(match (doc, projection) {
            (Some(d), Some(p)) => Some(p.apply(d)),
            (d, _) => d,
        })
    }
    async fn add(&self, collection: &str, doc: Value) -> Result<String, HostError> {
        self.db
            .create(&Caller::Service, collection, doc)
            .await
            .map_err(db_err)
    }
    async fn set(&self, collection: &str, id: &str, doc: Value) -> Result<bool, HostError> {
        self.db
            .set(&Caller::Service, collection, id, doc)
            .await
            .map_err(db_err)
    }
    async fn update_doc(
        &self,
        collection: &str,
        id: &str,
        update: Value,
    ) -> Result<u64, HostError> {
        self.db
            .update_by_id(&Caller::Service, collection, id, &update)
            .await
            .map_err(db_err)
    }
    async fn remove_doc(&self, collection: &str, id: &str) -> Result<u64, HostError> {
        self.db
            .delete_by_id(&Caller::Service, collection, id)
            .await
            .map_err(db_err)
    }
    async fn update(
        &self,
        collection: &str,
        r#where: Value,
        update: Value,
    ) -> Result<u64, HostError> {
        self.db
            .update_where(&Caller::Service, collection, &r#where, &update)
            .await
            .map_err(db_err)
    }
    async fn remove(&self, collection: &str, r#where: Value) -> Result<u64, HostError> {
        self.db
            .remove_where(&Caller::Service, collection, &r#where)
            .await
            .map_err(db_err)
    }
}

/// The internal collection timer ticks are claimed in (shared with the WeChat token store).
pub const LEASE_COLLECTION: &str = "_kv";

/// Once-per-cluster timer ticks: one `_kv` document per trigger holding the last tick fired,
/// advanced by compare-and-set, so of several servers sharing the database exactly one runs
/// each tick.
pub struct KvTimerLease {
    db: docdb::Database,
}

impl KvTimerLease {
    /// Claims ticks in `db`'s `_kv` (declared internal).
    pub fn new(db: docdb::Database) -> Self {
        db.declare_internal(LEASE_COLLECTION);
        KvTimerLease { db }
    }
}

#[async_trait]
impl TimerLease for KvTimerLease {
    async fn claim(&self, timer: &str, tick_ms: i64) -> bool {
        let id = format!("functions.timer:{timer}");
        let sys = Caller::System;
        let advanced = self
            .db
            .update_where(
                &sys,
                LEASE_COLLECTION,
                &json!({ "_id": id, "tick": { "$lt": tick_ms } }),
                &json!({ "tick": tick_ms }),
            )
            .await;
        match advanced {
            Ok(1) => return true,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(timer, error = %e, "timer lease: update failed; firing anyway");
                return true;
            }
        }
        match self
            .db
            .create(
                &sys,
                LEASE_COLLECTION,
                json!({ "_id": id, "tick": tick_ms }),
            )
            .await
        {
            Ok(_) => true,
            Err(docdb::DbError::Conflict(_)) => false,
            Err(e) => {
                tracing::warn!(timer, error = %e, "timer lease: create failed; firing anyway");
                true
            }
        }
    }
}
