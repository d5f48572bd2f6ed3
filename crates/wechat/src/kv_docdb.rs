//! [`KvStore`] over the document database's internal collection `_kv`: where the shared
//! access token and its refresh lease persist, so a restart reuses the token and several
//! instances on one database share it. Compare-and-set is an `update_where` on the revision
//! (or a `create` that conflicts when the key exists).

use crate::token::{KvEntry, KvStore};
use async_trait::async_trait;
use mb_core::Caller;
use serde_json::{Value, json};

/// The internal collection (never served over HTTP).
pub const KV_COLLECTION: &str = "_kv";

/// A [`KvStore`] in `_kv`.
#[derive(Clone)]
pub struct DocdbKv {
    db: docdb::Database,
}

impl std::fmt::Debug for DocdbKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocdbKv")
    }
}

impl DocdbKv {
    /// A store in `db`'s `_kv` (declared internal here).
    pub fn new(db: docdb::Database) -> Self {
        db.declare_internal(KV_COLLECTION);
        DocdbKv { db }
    }
}

#[async_trait]
impl KvStore for DocdbKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, String> {
        let doc = self
            .db
            .get(&Caller::System, KV_COLLECTION, key)
            .await
            .map_err(|e| e.to_string())?;
        Ok(doc.map(|d| KvEntry {
            value: d.get("value").cloned().unwrap_or(Value::Null),
            rev: d.get("rev").and_then(Value::as_u64).unwrap_or(0),
        }))
    }

    async fn put_if(
        &self,
        key: &str,
        expected_rev: Option<u64>,
        value: Value,
    ) -> Result<bool, String> {
        match expected_rev {
            None => {
                let doc = json!({ "_id": key, "value": value, "rev": 1 });
                match self.db.create(&Caller::System, KV_COLLECTION, doc).await {
                    Ok(_) => Ok(true),
                    Err(docdb::DbError::Conflict(_)) => Ok(false),
                    Err(e) => Err(e.to_string()),
                }
            }
            Some(rev) => {
                let update = json!({ "value": { "$set": value }, "rev": rev + 1 });
                self.db
                    .update_where(
                        &Caller::System,
                        KV_COLLECTION,
                        &json!({ "_id": key, "rev": rev }),
                        &update,
                    )
                    .await
                    .map(|n| n == 1)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compare_and_set_over_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("data.db").display());
        let db = docdb::Database::open(&url, docdb::DbOptions::default()).unwrap();
        let kv = DocdbKv::new(db.clone());
        assert_eq!(kv.get("k").await.unwrap(), None);
        assert!(kv.put_if("k", None, json!({"a": 1})).await.unwrap());
        assert!(
            !kv.put_if("k", None, json!({"a": 2})).await.unwrap(),
            "create conflicts"
        );
        assert_eq!(
            kv.get("k").await.unwrap(),
            Some(KvEntry {
                value: json!({"a": 1}),
                rev: 1
            })
        );
        assert!(
            !kv.put_if("k", Some(5), json!({"a": 3})).await.unwrap(),
            "stale revision"
        );
        // $set replaces the value wholesale (no merge of nested objects)
        assert!(kv.put_if("k", Some(1), json!({"b": 2})).await.unwrap());
        assert_eq!(
            kv.get("k").await.unwrap(),
            Some(KvEntry {
                value: json!({"b": 2}),
                rev: 2
            })
        );
        // internal: not even service callers see it
        assert!(db.get(&Caller::Service, KV_COLLECTION, "k").await.is_err());
    }
}
