//! What an operator's console asks of the database beyond documents: the collections with
//! their counts, their indexes, their rules as written, and a rule tester ("as this user,
//! may I read/update this document?") that goes through the very evaluation a request would
//! ([`Database::check_rule`]), so its answer can never disagree with the API's.

use super::{Database, Op, rule_env};
use crate::backend::{CollectionInfo, IndexInfo};
use crate::error::DbError;
use mb_core::Caller;
use serde::Serialize;
use serde_json::Value;

/// The operation a rule is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleOp {
    /// Reading (`get`, queries, counts, watches).
    Read,
    /// Creating a document.
    Create,
    /// Updating (or replacing) a document.
    Update,
    /// Deleting a document.
    Delete,
}

impl RuleOp {
    /// From `read`, `create`, `update`, `delete`.
    pub fn parse(s: &str) -> Option<RuleOp> {
        Some(match s {
            "read" => RuleOp::Read,
            "create" => RuleOp::Create,
            "update" => RuleOp::Update,
            "delete" => RuleOp::Delete,
            _ => return None,
        })
    }

    fn op(self) -> Op {
        match self {
            RuleOp::Read => Op::Read,
            RuleOp::Create => Op::Create,
            RuleOp::Update => Op::Update,
            RuleOp::Delete => Op::Delete,
        }
    }
}

/// A collection's rules as written (`None` = no rule: closed to users for that operation).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesView {
    /// Read rule.
    pub read: Option<String>,
    /// Create rule (after the `write` fallback).
    pub create: Option<String>,
    /// Update rule (after the `write` fallback).
    pub update: Option<String>,
    /// Delete rule (after the `write` fallback).
    pub delete: Option<String>,
    /// Whether the collection is internal to Minibase (never served over HTTP).
    pub internal: bool,
    /// Whether it is a system collection (`_…`: written only by Minibase).
    pub system: bool,
}

/// The answer of [`Database::check_rule`].
#[derive(Debug, Clone, Serialize)]
pub struct RuleCheck {
    /// Whether the operation is allowed.
    pub allowed: bool,
    /// The rule that decided, as written (`None` when no rule applies: privileged callers,
    /// closed collections).
    pub rule: Option<String>,
    /// Why, in one sentence.
    pub reason: String,
}

impl Database {
    /// Every collection that holds (or held) documents, with its document count, by name.
    pub async fn collections(&self) -> Result<Vec<CollectionInfo>, DbError> {
        self.inner.backend.collections().await
    }

    /// The indexes of a collection as the engine has them.
    pub async fn indexes(&self, collection: &str) -> Result<Vec<IndexInfo>, DbError> {
        super::check_collection(collection)?;
        self.inner.backend.indexes(collection).await
    }

    /// A collection's rules as written (config, or declared in code by an area).
    pub fn rules_of(&self, collection: &str) -> RulesView {
        let rules = self.inner.rules.read().get(collection).cloned();
        let src = |r: &Option<crate::Rule>| r.as_ref().map(|r| r.source().to_string());
        let mut view = match rules {
            Some(r) => RulesView {
                read: src(&r.read),
                create: src(&r.create),
                update: src(&r.update),
                delete: src(&r.delete),
                ..RulesView::default()
            },
            None => RulesView::default(),
        };
        view.internal = self.is_internal(collection);
        view.system = collection.starts_with('_');
        view
    }

    /// Whether `caller` may do `op` on `doc` (the stored document; for `create`, the new one),
    /// with `data` as the request's data (`request.data` in rules: the update, or the new
    /// document), decided exactly as the request itself would be: the same access checks,
    /// the same partial evaluation of the rule, the same match on the document.
    pub fn check_rule(
        &self,
        caller: &Caller,
        collection: &str,
        op: RuleOp,
        doc: &Value,
        data: Option<&Value>,
    ) -> Result<RuleCheck, DbError> {
        let rule = self.rules_of(collection);
        let source = match op {
            RuleOp::Read => rule.read,
            RuleOp::Create => rule.create,
            RuleOp::Update => rule.update,
            RuleOp::Delete => rule.delete,
        };
        let now = mb_core::now_ms();
        match self.access(caller, collection, op.op()) {
            Err(DbError::PermissionDenied(m)) => Ok(RuleCheck {
                allowed: false,
                rule: None,
                reason: m.to_string(),
            }),
            Err(e) => Err(e),
            Ok(super::Access::All) => Ok(RuleCheck {
                allowed: true,
                rule: None,
                reason: format!("{} callers are not subject to rules", caller.kind()),
            }),
            Ok(super::Access::Rule(r)) => {
                let data = match op {
                    RuleOp::Create => Some(data.unwrap_or(doc)),
                    _ => data,
                };
                let allowed = r.to_filter(&rule_env(caller, now, data)).matches(doc);
                Ok(RuleCheck {
                    allowed,
                    rule: source,
                    reason: if allowed {
                        "the rule holds for this document".into()
                    } else {
                        "the rule does not hold for this document".into()
                    },
                })
            }
        }
    }
}
