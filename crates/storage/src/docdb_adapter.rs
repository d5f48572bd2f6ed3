//! The two seams of [`crate::files`] implemented over the document database: `_files` rows
//! ([`DocdbFileIndex`]) and `[storage.rules]` in docdb's rule language ([`DocdbRules`], roots
//! `auth`, `resource`, `now`). One rule language for collections and files.

use crate::files::{Access, FileIndex, FileRecord, FileRules, Resource};
use crate::path::CloudPath;
use async_trait::async_trait;
use docdb::rules::{Rule, RuleEnv, parse_config_rule};
use mb_core::{ApiError, Caller};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The system collection of file metadata.
pub const COLLECTION: &str = "_files";
/// The roots storage rules may use.
pub const STORAGE_ROOTS: &[&str] = &["auth", "resource", "now"];

/// The `_id` of a path's row: its sha256 (paths may hold characters ids may not).
pub fn row_id(path: &str) -> String {
    hex::encode(Sha256::digest(path.as_bytes()))
}

/// `_files` in docdb, written and read as [`Caller::System`].
#[derive(Clone)]
pub struct DocdbFileIndex {
    db: docdb::Database,
}

impl DocdbFileIndex {
    /// An index over this database, with `_files` indexed by `path` and by uploader.
    pub async fn open(db: docdb::Database) -> Result<DocdbFileIndex, docdb::DbError> {
        db.ensure_index(COLLECTION, &["path"], true).await?;
        db.ensure_index(COLLECTION, &["_openid", "updatedAt"], false)
            .await?;
        Ok(DocdbFileIndex { db })
    }
}

fn date_ms(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Object(m)) => m.get("$date").and_then(Value::as_i64).unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

fn from_doc(doc: &Value) -> Option<FileRecord> {
    Some(FileRecord {
        path: doc.get("path")?.as_str()?.to_string(),
        size: doc.get("size")?.as_u64()?,
        content_type: doc
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_string(),
        sha256: doc
            .get("sha256")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        openid: doc
            .get("_openid")
            .and_then(Value::as_str)
            .map(str::to_string),
        created_ms: date_ms(doc.get("createdAt")),
        updated_ms: date_ms(doc.get("updatedAt")),
    })
}

#[async_trait]
impl FileIndex for DocdbFileIndex {
    async fn get(&self, path: &CloudPath) -> Result<Option<FileRecord>, ApiError> {
        let doc = self
            .db
            .get(&Caller::System, COLLECTION, &row_id(path.as_str()))
            .await
            .map_err(ApiError::from)?;
        Ok(doc
            .as_ref()
            .and_then(from_doc)
            .filter(|r| r.path == path.as_str()))
    }

    async fn put(&self, r: &FileRecord) -> Result<(), ApiError> {
        let mut doc = json!({
            "fileID": r.file_id(),
            "path": r.path,
            "size": r.size,
            "contentType": r.content_type,
            "sha256": r.sha256,
            "createdAt": {"$date": r.created_ms},
            "updatedAt": {"$date": r.updated_ms},
        });
        if let (Some(o), Some(m)) = (&r.openid, doc.as_object_mut()) {
            m.insert("_openid".into(), Value::String(o.clone()));
        }
        self.db
            .set(&Caller::System, COLLECTION, &row_id(&r.path), doc)
            .await
            .map_err(ApiError::from)?;
        Ok(())
    }

    async fn remove(&self, path: &CloudPath) -> Result<(), ApiError> {
        self.db
            .delete_by_id(&Caller::System, COLLECTION, &row_id(path.as_str()))
            .await
            .map_err(ApiError::from)?;
        Ok(())
    }
}

/// `[storage.rules]` compiled with docdb's rule language.
#[derive(Debug, Clone)]
pub struct DocdbRules {
    read: Rule,
    write: Rule,
}

impl DocdbRules {
    /// Parses `storage.rules.read` / `.write`; errors name the key and column.
    pub fn from_config(c: &config::StorageRulesConfig) -> Result<DocdbRules, ApiError> {
        let read = parse_config_rule("storage.rules.read", &c.read, STORAGE_ROOTS)
            .map_err(ApiError::from)?;
        let write = parse_config_rule("storage.rules.write", &c.write, STORAGE_ROOTS)
            .map_err(ApiError::from)?;
        Ok(DocdbRules { read, write })
    }
}

impl FileRules for DocdbRules {
    fn allows(
        &self,
        access: Access,
        caller: &Caller,
        resource: &Resource<'_>,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let mut env = RuleEnv::new().with("now", Value::from(now_ms));
        if let Some(u) = caller.user() {
            let mut a = Map::new();
            a.insert("openid".into(), Value::String(u.openid.clone()));
            a.insert("uid".into(), Value::String(u.uid.clone()));
            if let Some(un) = &u.unionid {
                a.insert("unionid".into(), Value::String(un.clone()));
            }
            env.set("auth", Value::Object(a));
        }
        let mut r = Map::new();
        r.insert("path".into(), Value::String(resource.path.to_string()));
        if let Some(o) = resource.openid {
            r.insert("openid".into(), Value::String(o.to_string()));
        }
        env.set("resource", Value::Object(r));
        let rule = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        Ok(rule.allows(&env, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mb_core::UserIdentity;

    fn user(o: &str) -> Caller {
        Caller::User(UserIdentity {
            uid: format!("u-{o}"),
            openid: o.into(),
            unionid: None,
            platform: "dev".into(),
            session_id: "s".into(),
        })
    }

    #[tokio::test]
    async fn rows_round_trip_in_docdb() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config::Config::default();
        let url = format!("sqlite://{}", dir.path().join("data.db").display());
        let db = docdb::Database::open(&url, docdb::DbOptions::from_config(&cfg)).unwrap();
        let index = DocdbFileIndex::open(db.clone()).await.unwrap();
        let p = CloudPath::parse("相册/a b.jpg").unwrap();
        assert_eq!(index.get(&p).await.unwrap(), None);
        let r = FileRecord {
            path: p.as_str().into(),
            size: 3,
            content_type: "image/jpeg".into(),
            sha256: "ab".repeat(32),
            openid: Some("oA".into()),
            created_ms: 1000,
            updated_ms: 2000,
        };
        index.put(&r).await.unwrap();
        assert_eq!(index.get(&p).await.unwrap(), Some(r.clone()));
        let doc = db
            .get(&Caller::Service, COLLECTION, &row_id(p.as_str()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc["fileID"], "mb://相册/a b.jpg");
        assert_eq!(doc["_openid"], "oA");
        let svc = FileRecord {
            openid: None,
            ..r.clone()
        };
        index
            .put(&FileRecord {
                path: "x".into(),
                ..svc
            })
            .await
            .unwrap();
        assert_eq!(
            index
                .get(&CloudPath::parse("x").unwrap())
                .await
                .unwrap()
                .unwrap()
                .openid,
            None
        );
        index.remove(&p).await.unwrap();
        index.remove(&p).await.unwrap();
        assert_eq!(index.get(&p).await.unwrap(), None);
    }

    #[test]
    fn storage_rules_in_the_docdb_language() {
        let rules = DocdbRules::from_config(&config::StorageRulesConfig::default()).unwrap();
        let mine = Resource {
            openid: Some("oA"),
            path: "a.jpg",
        };
        let unknown = Resource {
            openid: None,
            path: "a.jpg",
        };
        assert!(rules.allows(Access::Read, &user("oA"), &mine, 0).unwrap());
        assert!(!rules.allows(Access::Write, &user("oB"), &mine, 0).unwrap());
        assert!(
            !rules
                .allows(Access::Write, &user("oA"), &unknown, 0)
                .unwrap()
        );
        assert!(
            !rules
                .allows(Access::Read, &Caller::Anonymous, &unknown, 0)
                .unwrap()
        );
        let custom = config::StorageRulesConfig {
            read: config::RuleSource::Expr("resource.path == 'public/x' || now > 5".into()),
            write: config::RuleSource::Bool(false),
        };
        let rules = DocdbRules::from_config(&custom).unwrap();
        assert!(
            rules
                .allows(
                    Access::Read,
                    &user("oB"),
                    &Resource {
                        openid: None,
                        path: "public/x"
                    },
                    0
                )
                .unwrap()
        );
        assert!(!rules.allows(Access::Read, &user("oB"), &mine, 0).unwrap());
        assert!(rules.allows(Access::Read, &user("oB"), &mine, 6).unwrap());
        assert!(!rules.allows(Access::Write, &user("oA"), &mine, 0).unwrap());
        let bad = config::StorageRulesConfig {
            read: config::RuleSource::Expr("doc.x == 1".into()),
            write: config::RuleSource::Bool(true),
        };
        let e = DocdbRules::from_config(&bad).unwrap_err();
        assert!(e.message.contains("storage.rules.read"), "{}", e.message);
    }
}
