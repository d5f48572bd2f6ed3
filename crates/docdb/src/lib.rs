//! Minibase's document database: CloudBase-compatible collections, queries, updates and
//! security rules (API.md §3), on embedded SQLite (PostgreSQL next).
//!
//! # Using it from another area
//!
//! ```no_run
//! # use minibase_docdb as docdb;
//! # async fn demo() -> Result<(), docdb::DbError> {
//! use docdb::{Database, DbOptions, QueryRequest};
//! use mb_core::Caller;
//! use serde_json::json;
//!
//! let db = Database::open("sqlite://mb_data/data.db", DbOptions::default())?;
//! db.declare_internal("_sessions");                       // never visible over HTTP
//! db.declare_rules("_pay_orders", docdb::CollectionRules::parse(Some("doc.openid == auth.openid"), None)?)?;
//! db.ensure_index("_users", &["openid"], true).await?;
//!
//! let id = db.create(&Caller::System, "_users", json!({"openid": "o1"})).await?;
//! let user = db.get(&Caller::System, "_users", &id).await?;
//! // exactly-once state change: only one concurrent caller gets 1
//! let n = db.update_where(&Caller::System, "_pay_orders",
//!     &json!({"_id": "order1", "state": "NOTPAY"}), &json!({"state": "SUCCESS"})).await?;
//! let page = db.query(&Caller::Service, "todos",
//!     &QueryRequest { where_: json!({"done": false}), limit: json!(10), ..Default::default() }).await?;
//! # let _ = (user, n, page); Ok(()) }
//! ```
//!
//! # For realtime (`watch`)
//!
//! - [`Database::subscribe`] gives every committed change ([`ChangeEvent`]: collection, id,
//!   `Add|Update|Replace|Remove`, the new full document, `updated_fields`/`removed_fields`),
//!   in commit order, from every caller. [`RecvError::Lagged`] means re-query the watches.
//! - A watch's `where` parses with [`Filter::parse`]; [`Database::read_filter`] gives the
//!   caller's read rule as a filter. A changed document belongs to the watch when
//!   `where.matches(doc) && rule.matches(doc)` — no query per watcher.
//! - [`filter::parse_order_by`] and [`filter::compare_docs`] order documents exactly as
//!   queries do; [`Database::query`] serves the initial snapshot.
//!
//! # For other rule users (storage)
//!
//! [`Rule::parse`] with your own roots (`["auth", "resource", "now"]`), a [`RuleEnv`] with
//! their values, and [`Rule::allows`]`(&env, None)`.
//!
//! # Map of the crate
//! - [`Database`] (`db.rs`): callers, rules, `_openid`, limits; the API other areas use.
//! - [`filter`]: the query language, parsed, and evaluated in memory ([`Filter::matches`],
//!   [`filter::compare_docs`]) with the same semantics as the SQL translation.
//! - [`update`]: the update language. [`projection`]: `field`.
//! - [`rules`]: the rule language, reusable with other roots (storage rules).
//! - [`change`]: [`ChangeEvent`]s of every committed write, on a [`ChangeBus`].
//! - [`backend`]: the storage-backend trait and the SQLite backend (single group-committing
//!   writer, reader pool, SQL translation).
//! - [`value`]: typed values (`$date`, `$serverDate`), validation, the cross-type order.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod change;
mod db;
pub mod error;
pub mod filter;
pub mod path;
pub mod projection;
pub mod rules;
pub mod update;
pub mod value;

pub use backend::{CollectionInfo, IndexInfo};
pub use change::{ChangeBus, ChangeEvent, ChangeOp, ChangeReceiver, LocalBus, RecvError};
pub use db::{
    CollectionRules, Database, DbOptions, Limits, QueryRequest, RuleCheck, RuleOp, RulesView,
};
pub use error::DbError;
pub use filter::Filter;
pub use rules::{Rule, RuleEnv, RuleError};

#[cfg(test)]
mod tests;
