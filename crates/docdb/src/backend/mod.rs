//! The storage-backend trait: what the document layer (`db.rs`: callers, rules, `_openid`,
//! validation) needs from a database engine, and nothing SQLite-specific.
//!
//! A backend stores documents keyed by (collection, `_id`), translates [`Filter`]s and sort
//! keys into its own query language (never loading a collection to filter it), runs writes
//! atomically per document, and publishes committed changes on the [`ChangeBus`].
//!
//! Writes are expressed as a [`WriteOp`]: a target (one id, or every document a filter
//! selects) and a `decide` closure that sees each stored document *inside the write
//! transaction* and says what to do with it. Rules, update operators and `_openid` checks
//! live in that closure, so they are evaluated on the same version of the document that is
//! written: this is what makes conditional updates exact and `$inc` atomic. SQLite runs it in
//! its single writer thread; PostgreSQL would run it between `SELECT … FOR UPDATE` and the
//! `UPDATE` of one transaction.

pub mod sqlite;

use crate::change::ChangeBus;
use crate::error::DbError;
use crate::filter::{Filter, SortKey};
use crate::update::Changes;
use async_trait::async_trait;
use serde_json::Value;
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    static BLOCKING_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one that may block (a dedicated OS thread, not an async
/// runtime worker): backends then run reads of any size directly on it instead of handing
/// them to their own threads. Cloud-function instance threads call this.
pub fn mark_blocking_thread() {
    BLOCKING_THREAD.with(|b| b.set(true));
}

/// Whether [`mark_blocking_thread`] was called on this thread.
pub fn on_blocking_thread() -> bool {
    BLOCKING_THREAD.with(|b| b.get())
}

/// A query as the backend runs it: rules already ANDed into `filter`, limits already checked.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which documents.
    pub filter: Filter,
    /// `orderBy` (the backend adds `_id` as the last tie-breaker).
    pub order: Vec<SortKey>,
    /// Documents to skip.
    pub skip: u64,
    /// Most documents to return (`None` = all).
    pub limit: Option<u64>,
}

/// Which documents a [`WriteOp`] visits.
#[derive(Debug, Clone)]
pub enum Target {
    /// One document by `_id`; `decide` sees `None` when it does not exist.
    Id(String),
    /// Every document the filter selects (at most `limit`), in `_id` order.
    Where {
        /// Selection.
        filter: Filter,
        /// Most documents to visit.
        limit: Option<u64>,
    },
}

/// What to do with one visited document.
#[derive(Debug, Clone)]
pub enum Action {
    /// Leave it (not counted).
    Keep,
    /// Create it (only for [`Target::Id`] of a missing document); must hold `_id`.
    Insert(Value),
    /// Replace it wholesale.
    Replace(Value),
    /// Store the updated document; `changes` says what changed (empty = nothing to write).
    Update {
        /// The new document.
        doc: Value,
        /// What changed.
        changes: Changes,
    },
    /// Delete it.
    Delete,
}

/// The per-document decision of a write, run inside the write transaction.
pub type Decide = Box<dyn FnMut(Option<&Value>) -> Result<Action, DbError> + Send>;

/// A write.
pub enum WriteOp {
    /// Create a document (`doc` holds `_id`); [`DbError::Conflict`] when the id exists.
    Insert {
        /// Collection.
        collection: String,
        /// The complete document.
        doc: Value,
    },
    /// Visit documents and decide what to do with each.
    Modify {
        /// Collection.
        collection: String,
        /// Which documents.
        target: Target,
        /// What to do with each.
        decide: Decide,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteResult {
    /// Documents inserted, replaced, updated or deleted ([`Action::Keep`] not counted).
    pub affected: u64,
    /// Whether a document was created.
    pub created: bool,
}

/// An index on JSON paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexSpec {
    /// Field paths with direction (`true` = ascending).
    pub fields: Vec<(crate::path::FieldPath, bool)>,
    /// Whether indexed values must be unique.
    pub unique: bool,
}

impl IndexSpec {
    /// Parses config-style fields: `["_openid", "-due"]` (a leading `-` = descending).
    pub fn parse(fields: &[String], unique: bool) -> Result<IndexSpec, DbError> {
        if fields.is_empty() {
            return Err(DbError::invalid("an index needs at least one field"));
        }
        if fields.len() > 8 {
            return Err(DbError::invalid("an index has at most 8 fields"));
        }
        let fields = fields
            .iter()
            .map(|f| {
                let (name, asc) = match f.strip_prefix('-') {
                    Some(rest) => (rest, false),
                    None => (f.strip_prefix('+').unwrap_or(f), true),
                };
                Ok((crate::path::FieldPath::parse(name)?, asc))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(IndexSpec { fields, unique })
    }
}

/// Whose index: config-declared ones are dropped when no longer declared; system ones
/// (declared by other areas in code) are only ever created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOwner {
    /// `[collections.X] indexes`.
    Config,
    /// Declared in code with [`crate::Database::ensure_index`].
    System,
}

/// A collection as stored, for operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CollectionInfo {
    /// The collection's name.
    pub name: String,
    /// How many documents it holds.
    pub count: u64,
}

/// An index as the engine has it, for operators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexInfo {
    /// The engine's name of the index.
    pub name: String,
    /// Field paths, with a leading `-` for descending ones (as `[collections] indexes`).
    pub fields: Vec<String>,
    /// Whether indexed values must be unique.
    pub unique: bool,
    /// `config` (`[collections.X] indexes`) or `system` (declared by an area in code).
    pub owner: &'static str,
}

/// A storage engine for documents.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// One document by id, if it exists and matches `filter`.
    async fn get(
        &self,
        collection: &str,
        id: &str,
        filter: Filter,
    ) -> Result<Option<Value>, DbError>;
    /// Documents matching the query, in order.
    async fn query(&self, collection: &str, query: Query) -> Result<Vec<Value>, DbError>;
    /// [`Backend::get`] as JSON text, exactly as stored (no parse/serialise round trip).
    async fn get_json(
        &self,
        collection: &str,
        id: &str,
        filter: Filter,
    ) -> Result<Option<String>, DbError>;
    /// [`Backend::query`] as one JSON array text.
    async fn query_json(&self, collection: &str, query: Query) -> Result<String, DbError>;
    /// How many documents match.
    async fn count(&self, collection: &str, filter: Filter) -> Result<u64, DbError>;
    /// Runs a write atomically (per document) and durably; publishes its changes.
    async fn write(&self, op: WriteOp) -> Result<WriteResult, DbError>;
    /// Creates indexes idempotently; for [`IndexOwner::Config`], also drops config indexes
    /// of this collection that are no longer in `indexes`.
    async fn ensure_indexes(
        &self,
        collection: &str,
        indexes: Vec<IndexSpec>,
        owner: IndexOwner,
    ) -> Result<(), DbError>;
    /// The engine's plan for a query (for tests and operators), one line per step.
    async fn explain(&self, collection: &str, query: Query) -> Result<Vec<String>, DbError>;
    /// Every collection that has a table, with its document count, by name.
    async fn collections(&self) -> Result<Vec<CollectionInfo>, DbError>;
    /// The indexes of a collection (none when it has no table yet).
    async fn indexes(&self, collection: &str) -> Result<Vec<IndexInfo>, DbError>;
    /// The change bus this backend publishes on.
    fn bus(&self) -> Arc<dyn ChangeBus>;
    /// Stops accepting work and waits for in-flight writes to commit.
    fn close(&self);
}
