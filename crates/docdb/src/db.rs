//! [`Database`]: the document layer every area uses. It knows who is calling
//! ([`mb_core::Caller`]), which collections are open to whom (config rules, system and
//! internal collections), stamps `_openid`, validates documents and queries against the
//! limits, and hands backend-neutral work to a [`Backend`].

use crate::backend::sqlite::{SqliteBackend, SqliteOptions};
use crate::backend::{Action, Backend, IndexOwner, IndexSpec, Query, Target, WriteOp};
use crate::change::{ChangeBus, ChangeReceiver, LocalBus};
use crate::error::DbError;
use crate::filter::{Filter, SortKey, parse_order_by};
use crate::projection::Projection;
use crate::rules::{DOC_ROOTS, Rule, RuleEnv, parse_config_rule};
use crate::update::Update;
use crate::value::{self, DocLimits};
use config::CollectionConfig;
use mb_core::Caller;
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Size and shape limits (API.md §0), usually from `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest stored document, bytes.
    pub document_bytes: usize,
    /// Deepest JSON nesting of documents, `where` and updates.
    pub depth: usize,
    /// Largest `limit` of a query.
    pub max_limit: u64,
    /// `limit` of a user's query that gives none (CloudBase: 20).
    pub default_limit: u64,
    /// Largest `skip`.
    pub max_skip: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            document_bytes: 256 * 1024,
            depth: 64,
            max_limit: 1000,
            default_limit: 20,
            max_skip: 1_000_000,
        }
    }
}

impl Limits {
    /// From `[limits]`.
    pub fn from_config(l: &config::LimitsConfig) -> Self {
        Limits {
            document_bytes: l.document.as_usize(),
            depth: l.depth as usize,
            max_limit: l.max_limit as u64,
            default_limit: l.default_limit as u64,
            max_skip: l.max_skip,
        }
    }
}

/// How to open a [`Database`].
#[derive(Clone)]
pub struct DbOptions {
    /// Limits.
    pub limits: Limits,
    /// `[collections.NAME]`: rules and indexes.
    pub collections: BTreeMap<String, CollectionConfig>,
    /// Reader connections (SQLite).
    pub readers: usize,
    /// Where committed changes are published; a [`LocalBus`] when `None`.
    pub bus: Option<Arc<dyn ChangeBus>>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            limits: Limits::default(),
            collections: BTreeMap::new(),
            readers: 4,
            bus: None,
        }
    }
}

impl DbOptions {
    /// From the whole configuration (`[limits]`, `[collections]`).
    pub fn from_config(c: &config::Config) -> Self {
        DbOptions {
            limits: Limits::from_config(&c.limits),
            collections: c.collections.clone(),
            ..DbOptions::default()
        }
    }
}

/// A query (`POST /api/db/{coll}/query` body).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryRequest {
    /// `where` (null = everything).
    #[serde(rename = "where")]
    pub where_: Value,
    /// `orderBy`: `[["field","asc"|"desc"], …]`.
    #[serde(rename = "orderBy")]
    pub order_by: Value,
    /// Documents to skip.
    pub skip: Value,
    /// Most documents to return.
    pub limit: Value,
    /// Projection: `{"name": true}`.
    pub field: Value,
}

/// Rules of one collection, parsed. `None` = closed.
#[derive(Debug, Clone, Default)]
pub struct CollectionRules {
    /// Read rule.
    pub read: Option<Rule>,
    /// Create rule (falls back to `write`).
    pub create: Option<Rule>,
    /// Update rule (falls back to `write`).
    pub update: Option<Rule>,
    /// Delete rule (falls back to `write`).
    pub delete: Option<Rule>,
}

impl CollectionRules {
    /// Parses `[collections.NAME]` rules, naming the key in errors.
    pub fn from_config(name: &str, c: &CollectionConfig) -> Result<CollectionRules, DbError> {
        let p = |what: &str, src: &Option<config::RuleSource>| -> Result<Option<Rule>, DbError> {
            src.as_ref()
                .map(|s| parse_config_rule(&format!("collections.{name}.{what}"), s, DOC_ROOTS))
                .transpose()
        };
        let write = p("write", &c.write)?;
        Ok(CollectionRules {
            read: p("read", &c.read)?,
            create: p("create", &c.create)?.or_else(|| write.clone()),
            update: p("update", &c.update)?.or_else(|| write.clone()),
            delete: p("delete", &c.delete)?.or(write),
        })
    }

    /// Rules given as expressions (for built-in system collections).
    pub fn parse(read: Option<&str>, write: Option<&str>) -> Result<CollectionRules, DbError> {
        let p = |s: Option<&str>| {
            s.map(|s| {
                Rule::parse(s, DOC_ROOTS).map_err(|e| DbError::invalid(format!("rule {s:?}: {e}")))
            })
            .transpose()
        };
        let write = p(write)?;
        Ok(CollectionRules {
            read: p(read)?,
            create: write.clone(),
            update: write.clone(),
            delete: write,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Create,
    Update,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Create => "create documents in",
            Op::Update => "update",
            Op::Delete => "delete from",
        }
    }
}

/// What a caller may do: everything, or what a rule allows.
enum Access {
    All,
    Rule(Rule),
}

struct Inner {
    backend: Arc<dyn Backend>,
    limits: Limits,
    rules: RwLock<HashMap<String, Arc<CollectionRules>>>,
    internal: RwLock<HashSet<String>>,
}

/// The document database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Database")
    }
}

/// The auth object rules see (`auth.openid`, `auth.unionid`, `auth.uid`); `None` when anonymous.
fn auth_value(caller: &Caller) -> Option<Value> {
    caller.user().map(|u| {
        let mut m = Map::new();
        m.insert("openid".into(), Value::String(u.openid.clone()));
        m.insert("uid".into(), Value::String(u.uid.clone()));
        if let Some(un) = &u.unionid {
            m.insert("unionid".into(), Value::String(un.clone()));
        }
        Value::Object(m)
    })
}

fn rule_env(caller: &Caller, now: i64, request_data: Option<&Value>) -> RuleEnv {
    let mut env = RuleEnv::new().with("now", Value::from(now));
    if let Some(a) = auth_value(caller) {
        env.set("auth", a);
    }
    if let Some(d) = request_data {
        env.set("request", json!({ "data": d }));
    }
    env
}

fn denied_by_rule() -> DbError {
    DbError::denied("the collection's rule does not allow this")
}

impl Database {
    /// Opens the database at `url` (`sqlite://path/to/data.db`; parent directories are
    /// created), applies `[collections]` indexes and parses their rules. A bad rule or index
    /// refuses to open, naming the config key.
    pub fn open(url: &str, options: DbOptions) -> Result<Database, DbError> {
        let mut rules = HashMap::new();
        let mut indexes = Vec::new();
        for (name, c) in &options.collections {
            if !config::valid_collection_name(name) {
                return Err(DbError::invalid(format!(
                    "collections.{name}: invalid collection name"
                )));
            }
            rules.insert(
                name.clone(),
                Arc::new(CollectionRules::from_config(name, c)?),
            );
            let mut specs = Vec::new();
            for (i, idx) in c.indexes.iter().enumerate() {
                specs.push(IndexSpec::parse(&idx.fields, idx.unique).map_err(|e| {
                    DbError::invalid(format!("collections.{name}.indexes[{i}]: {e}"))
                })?);
            }
            indexes.push((name.clone(), specs));
        }
        let bus = options
            .bus
            .clone()
            .unwrap_or_else(|| Arc::new(LocalBus::default()));
        let backend: Arc<dyn Backend> = if url.starts_with("sqlite://") {
            let path = crate::backend::sqlite::path_from_url(url)
                .ok_or_else(|| DbError::invalid("database.url: sqlite:// needs a file path"))?;
            let limits = DocLimits {
                max_bytes: options.limits.document_bytes,
                max_depth: options.limits.depth,
            };
            Arc::new(SqliteBackend::open(
                &path,
                SqliteOptions {
                    readers: options.readers,
                    limits,
                },
                bus,
                indexes,
            )?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(DbError::invalid(
                "database.url: the PostgreSQL backend is not available yet; use sqlite://",
            ));
        } else {
            return Err(DbError::invalid("database.url must start with sqlite://"));
        };
        Ok(Database {
            inner: Arc::new(Inner {
                backend,
                limits: options.limits,
                rules: RwLock::new(rules),
                internal: RwLock::new(HashSet::new()),
            }),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Declares rules for a collection in code (e.g. pay: `_pay_orders` readable by
    /// `doc.openid == auth.openid`). Rules declared in config for the same collection win.
    pub fn declare_rules(&self, collection: &str, rules: CollectionRules) -> Result<(), DbError> {
        check_collection(collection)?;
        let mut map = self.inner.rules.write();
        map.entry(collection.to_string())
            .or_insert_with(|| Arc::new(rules));
        Ok(())
    }

    /// Declares an internal collection (`_sessions`, `_kv`, `_secrets`, …): only
    /// [`Caller::System`] may read or write it; HTTP callers never see it.
    pub fn declare_internal(&self, collection: &str) {
        self.inner.internal.write().insert(collection.to_string());
    }

    /// Whether a collection is internal (the HTTP layer refuses it for everyone).
    pub fn is_internal(&self, collection: &str) -> bool {
        self.inner.internal.read().contains(collection)
    }

    /// Creates an index idempotently (for system collections declared by other areas):
    /// `fields` like `["openid"]` or `["_openid", "-created"]` (`-` = descending).
    pub async fn ensure_index(
        &self,
        collection: &str,
        fields: &[&str],
        unique: bool,
    ) -> Result<(), DbError> {
        check_collection(collection)?;
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        let spec = IndexSpec::parse(&fields, unique)?;
        self.inner
            .backend
            .ensure_indexes(collection, vec![spec], IndexOwner::System)
            .await
    }

    /// A subscription to committed changes (see [`crate::change`]).
    pub fn subscribe(&self) -> ChangeReceiver {
        self.inner.backend.bus().subscribe()
    }

    /// The change bus.
    pub fn bus(&self) -> Arc<dyn ChangeBus> {
        self.inner.backend.bus()
    }

    /// Waits for in-flight writes and stops the storage threads (blocking; call at shutdown).
    pub fn close(&self) {
        self.inner.backend.close();
    }

    fn access(&self, caller: &Caller, collection: &str, op: Op) -> Result<Access, DbError> {
        check_collection(collection)?;
        if matches!(caller, Caller::System) {
            return Ok(Access::All);
        }
        if self.is_internal(collection) {
            return Err(DbError::denied(format!(
                "collection {collection} is internal"
            )));
        }
        let system = collection.starts_with('_');
        if system && op != Op::Read {
            return Err(DbError::denied(format!(
                "system collection {collection} is written only by Minibase"
            )));
        }
        if caller.is_privileged() {
            return Ok(Access::All);
        }
        let rules = self.inner.rules.read().get(collection).cloned();
        let Some(rules) = rules else {
            return Err(DbError::denied(format!(
                "collection {collection} is not opened to clients"
            )));
        };
        let rule = match op {
            Op::Read => &rules.read,
            Op::Create => &rules.create,
            Op::Update => &rules.update,
            Op::Delete => &rules.delete,
        };
        match rule {
            Some(r) => Ok(Access::Rule(r.clone())),
            None => Err(DbError::denied(format!(
                "no rule lets clients {} {collection}",
                op.verb()
            ))),
        }
    }

    /// The filter a caller's reads of `collection` are restricted to (`Filter::True` for
    /// service callers). Realtime ANDs it into watches and checks changed documents with
    /// [`Filter::matches`].
    pub fn read_filter(&self, caller: &Caller, collection: &str) -> Result<Filter, DbError> {
        self.rule_filter(caller, collection, Op::Read, mb_core::now_ms(), None)
    }

    /// What the caller's rule for `op` requires of a document, as a filter (`True` for
    /// privileged callers); `data` is the request's data, as rules see it.
    fn rule_filter(
        &self,
        caller: &Caller,
        collection: &str,
        op: Op,
        now: i64,
        data: Option<&Value>,
    ) -> Result<Filter, DbError> {
        Ok(match self.access(caller, collection, op)? {
            Access::All => Filter::True,
            Access::Rule(r) => r.to_filter(&rule_env(caller, now, data)),
        })
    }

    /// What a bulk write's rule (`op_rule`) selects among the documents the caller may read:
    /// the gate of its `where`. A caller's conditions never run on a document hidden from
    /// them, even one their write rule would let them change blindly; a collection they may
    /// not read at all selects nothing.
    fn visible_and(&self, caller: &Caller, collection: &str, op_rule: Filter) -> Filter {
        let read = self
            .read_filter(caller, collection)
            .unwrap_or(Filter::False);
        read.and(op_rule)
    }

    /// One `Modify` write.
    async fn modify(
        &self,
        collection: &str,
        target: Target,
        decide: impl FnMut(Option<&Value>) -> Result<Action, DbError> + Send + 'static,
    ) -> Result<crate::backend::WriteResult, DbError> {
        self.inner
            .backend
            .write(WriteOp::Modify {
                collection: collection.to_string(),
                target,
                decide: Box::new(decide),
            })
            .await
    }

    /// Applies `act` to every document matching `selection` (where ∧ rule), re-checking each
    /// one against it inside the write; how many were changed.
    async fn modify_where(
        &self,
        collection: &str,
        selection: Filter,
        act: impl Fn(&Value) -> Result<Action, DbError> + Send + 'static,
    ) -> Result<u64, DbError> {
        if matches!(selection, Filter::False) {
            return Ok(0);
        }
        let check = selection.clone();
        let decide = move |stored: Option<&Value>| match stored {
            Some(old) if check.matches(old) => act(old),
            _ => Ok(Action::Keep),
        };
        Ok(self
            .modify(
                collection,
                Target::Where {
                    filter: selection,
                    limit: None,
                },
                decide,
            )
            .await?
            .affected)
    }

    fn parse_where(&self, w: &Value) -> Result<Filter, DbError> {
        Filter::parse_with_depth(w, self.inner.limits.depth)
    }

    fn limits_doc(&self) -> DocLimits {
        DocLimits {
            max_bytes: self.inner.limits.document_bytes,
            max_depth: self.inner.limits.depth,
        }
    }

    /// Prepares a document from a client for storing: object, `_id`, `_openid`, values.
    fn prepare_doc(
        &self,
        caller: &Caller,
        mut doc: Value,
        id: Option<&str>,
        now: i64,
    ) -> Result<(Value, String), DbError> {
        let Value::Object(ref mut m) = doc else {
            return Err(DbError::invalid("a document must be a JSON object"));
        };
        let id = match (m.get("_id"), id) {
            (Some(Value::String(s)), Some(want)) if s != want => {
                return Err(DbError::invalid(
                    "_id in the body differs from the _id in the path",
                ));
            }
            (Some(Value::String(s)), _) => s.clone(),
            (Some(_), _) => return Err(DbError::invalid("_id must be a string")),
            (None, Some(want)) => want.to_string(),
            (None, None) => mb_core::ids::new_doc_id(),
        };
        value::check_id(&id)?;
        m.shift_remove("_id");
        match caller {
            Caller::User(u) => match m.get("_openid") {
                Some(Value::String(s)) if *s == u.openid => {}
                Some(_) => {
                    return Err(DbError::invalid(
                        "_openid is set by the server and cannot be changed",
                    ));
                }
                None => {}
            },
            Caller::Anonymous => {
                if m.contains_key("_openid") {
                    return Err(DbError::invalid(
                        "_openid is set by the server and cannot be changed",
                    ));
                }
            }
            _ => {
                if m.get("_openid").is_some_and(|v| !v.is_string()) {
                    return Err(DbError::invalid("_openid must be a string"));
                }
            }
        }
        m.shift_remove("_openid");
        value::prepare_stored(&mut doc, 1, &self.limits_doc(), now)?;
        Ok((doc, id))
    }

    /// Creates a document; returns its `_id` (generated when absent).
    pub async fn create(
        &self,
        caller: &Caller,
        collection: &str,
        doc: Value,
    ) -> Result<String, DbError> {
        let access = self.access(caller, collection, Op::Create)?;
        let now = mb_core::now_ms();
        let service_openid = doc.get("_openid").cloned();
        let (body, id) = self.prepare_doc(caller, doc, None, now)?;
        let doc = assemble(&id, stamp_openid(caller, service_openid, None), body);
        if let Access::Rule(rule) = &access {
            let env = rule_env(caller, now, Some(&doc));
            if !rule.to_filter(&env).matches(&doc) {
                return Err(denied_by_rule());
            }
        }
        self.inner
            .backend
            .write(WriteOp::Insert {
                collection: collection.to_string(),
                doc,
            })
            .await?;
        Ok(id)
    }

    /// Reads one document (`None` if absent or not readable by the caller).
    pub async fn get(
        &self,
        caller: &Caller,
        collection: &str,
        id: &str,
    ) -> Result<Option<Value>, DbError> {
        value::check_id(id)?;
        let filter = self.read_filter(caller, collection)?;
        if matches!(filter, Filter::False) {
            return Ok(None);
        }
        self.inner.backend.get(collection, id, filter).await
    }

    /// [`Database::get`] as JSON text, exactly as stored.
    pub async fn get_json(
        &self,
        caller: &Caller,
        collection: &str,
        id: &str,
    ) -> Result<Option<String>, DbError> {
        value::check_id(id)?;
        let filter = self.read_filter(caller, collection)?;
        if matches!(filter, Filter::False) {
            return Ok(None);
        }
        self.inner.backend.get_json(collection, id, filter).await
    }

    /// CloudBase `set`: replaces the document `id`, or creates it. Returns whether it was
    /// created. `_openid` is kept from the stored document (or stamped for a user's create).
    pub async fn set(
        &self,
        caller: &Caller,
        collection: &str,
        id: &str,
        doc: Value,
    ) -> Result<bool, DbError> {
        value::check_id(id)?;
        let create_access = self.access(caller, collection, Op::Create);
        let update_access = self.access(caller, collection, Op::Update);
        if let (Err(e), Err(_)) = (&create_access, &update_access) {
            return Err(e.clone());
        }
        let now = mb_core::now_ms();
        let given_openid = doc.get("_openid").cloned();
        let (body, id) = self.prepare_doc(caller, doc, Some(id), now)?;
        let caller = caller.clone();
        let target_id = id.clone();
        let decide = move |stored: Option<&Value>| -> Result<Action, DbError> {
            match stored {
                None => {
                    let doc = assemble(
                        &id,
                        stamp_openid(&caller, given_openid.clone(), None),
                        body.clone(),
                    );
                    match &create_access {
                        Err(e) => Err(e.clone()),
                        Ok(Access::All) => Ok(Action::Insert(doc)),
                        Ok(Access::Rule(rule)) => {
                            if rule
                                .to_filter(&rule_env(&caller, now, Some(&doc)))
                                .matches(&doc)
                            {
                                Ok(Action::Insert(doc))
                            } else {
                                Err(denied_by_rule())
                            }
                        }
                    }
                }
                Some(old) => {
                    let old_openid = old.get("_openid").cloned();
                    if caller.user().is_some() || matches!(caller, Caller::Anonymous) {
                        if let Some(g) = &given_openid {
                            if Some(g) != old_openid.as_ref() {
                                return Err(DbError::invalid(
                                    "_openid is set by the server and cannot be changed",
                                ));
                            }
                        }
                    }
                    let doc = assemble(
                        &id,
                        stamp_openid(&caller, given_openid.clone(), old_openid),
                        body.clone(),
                    );
                    match &update_access {
                        Err(e) => Err(e.clone()),
                        Ok(Access::All) => Ok(Action::Replace(doc)),
                        Ok(Access::Rule(rule)) => {
                            if rule
                                .to_filter(&rule_env(&caller, now, Some(&doc)))
                                .matches(old)
                            {
                                Ok(Action::Replace(doc))
                            } else {
                                Err(denied_by_rule())
                            }
                        }
                    }
                }
            }
        };
        Ok(self
            .modify(collection, Target::Id(target_id), decide)
            .await?
            .created)
    }

    /// Applies an update to one document; returns 0 (no such document) or 1.
    pub async fn update_by_id(
        &self,
        caller: &Caller,
        collection: &str,
        id: &str,
        update: &Value,
    ) -> Result<u64, DbError> {
        value::check_id(id)?;
        self.check_depth(update, "update")?;
        let parsed = Update::parse(update)?;
        let now = mb_core::now_ms();
        let rule_filter = self.rule_filter(caller, collection, Op::Update, now, Some(update))?;
        let limits = self.limits_doc();
        let decide = move |stored: Option<&Value>| -> Result<Action, DbError> {
            let Some(old) = stored else {
                return Ok(Action::Keep);
            };
            if !rule_filter.matches(old) {
                return Err(denied_by_rule());
            }
            apply_update(&parsed, old, now, &limits)
        };
        Ok(self
            .modify(collection, Target::Id(id.to_string()), decide)
            .await?
            .affected)
    }

    /// Deletes one document; returns 0 (no such document) or 1.
    pub async fn delete_by_id(
        &self,
        caller: &Caller,
        collection: &str,
        id: &str,
    ) -> Result<u64, DbError> {
        value::check_id(id)?;
        let rule_filter =
            self.rule_filter(caller, collection, Op::Delete, mb_core::now_ms(), None)?;
        let decide = move |stored: Option<&Value>| -> Result<Action, DbError> {
            let Some(old) = stored else {
                return Ok(Action::Keep);
            };
            if !rule_filter.matches(old) {
                return Err(denied_by_rule());
            }
            Ok(Action::Delete)
        };
        Ok(self
            .modify(collection, Target::Id(id.to_string()), decide)
            .await?
            .affected)
    }

    fn check_depth(&self, v: &Value, what: &str) -> Result<(), DbError> {
        let max = self.inner.limits.depth;
        if value::depth_of(v, max + 1) > max {
            return Err(DbError::invalid(format!(
                "{what} nested deeper than {max} levels"
            )));
        }
        Ok(())
    }

    /// Checks a query request and turns it into the backend's query (the caller's read rule
    /// ANDed in); `None` when it can match nothing.
    /// Plans a caller's query; `read` overrides the caller's own read rule (realtime's shared
    /// groups run as the system under the rule their watchers have in common).
    fn plan_query(
        &self,
        caller: &Caller,
        collection: &str,
        req: &QueryRequest,
        read: Option<&Filter>,
    ) -> Result<(Option<Query>, Option<Projection>), DbError> {
        let filter = self.parse_where(&req.where_)?;
        let order: Vec<SortKey> = parse_order_by(&req.order_by)?;
        let projection = Projection::parse(&req.field)?;
        let limits = &self.inner.limits;
        let skip = match &req.skip {
            Value::Null => 0,
            v => v
                .as_u64()
                .ok_or_else(|| DbError::invalid("skip must be a non-negative integer"))?,
        };
        if skip > limits.max_skip && !matches!(caller, Caller::System) {
            return Err(DbError::invalid(format!(
                "skip must be at most {}",
                limits.max_skip
            )));
        }
        let limit = match &req.limit {
            Value::Null => match caller {
                Caller::System => None,
                Caller::User(_) | Caller::Anonymous => Some(limits.default_limit),
                _ => Some(limits.default_limit.max(100).min(limits.max_limit)),
            },
            v => {
                let n = v
                    .as_u64()
                    .ok_or_else(|| DbError::invalid("limit must be a non-negative integer"))?;
                if n > limits.max_limit && !matches!(caller, Caller::System) {
                    return Err(DbError::invalid(format!(
                        "limit must be at most {}",
                        limits.max_limit
                    )));
                }
                Some(n)
            }
        };
        let read = match read {
            Some(r) => r.clone(),
            None => self.read_filter(caller, collection)?,
        };
        let filter = Filter::gated(read, filter);
        if matches!(filter, Filter::False) || limit == Some(0) {
            return Ok((None, projection));
        }
        Ok((
            Some(Query {
                filter,
                order,
                skip,
                limit,
            }),
            projection,
        ))
    }

    /// Runs a query: `where` (gated by the caller's read rule), `orderBy`, `skip`,
    /// `limit`, projection.
    pub async fn query(
        &self,
        caller: &Caller,
        collection: &str,
        req: &QueryRequest,
    ) -> Result<Vec<Value>, DbError> {
        let (query, projection) = self.plan_query(caller, collection, req, None)?;
        self.run_query(collection, query, projection).await
    }

    /// Runs a query for the system under a read rule resolved earlier with
    /// [`Database::read_filter`]: the rule gates `where` exactly as in [`Database::query`]
    /// (realtime loads the shared window of every watcher with that rule this way).
    pub async fn query_gated(
        &self,
        collection: &str,
        read: &Filter,
        req: &QueryRequest,
    ) -> Result<Vec<Value>, DbError> {
        let (query, projection) = self.plan_query(&Caller::System, collection, req, Some(read))?;
        self.run_query(collection, query, projection).await
    }

    async fn run_query(
        &self,
        collection: &str,
        query: Option<Query>,
        projection: Option<Projection>,
    ) -> Result<Vec<Value>, DbError> {
        let Some(query) = query else {
            return Ok(Vec::new());
        };
        let docs = self.inner.backend.query(collection, query).await?;
        Ok(match projection {
            Some(p) => docs.into_iter().map(|d| p.apply(d)).collect(),
            None => docs,
        })
    }

    /// [`Database::query`] as a JSON array text, straight from storage when there is no
    /// projection (what the HTTP layer answers, without a parse/serialise round trip).
    pub async fn query_json(
        &self,
        caller: &Caller,
        collection: &str,
        req: &QueryRequest,
    ) -> Result<String, DbError> {
        let (query, projection) = self.plan_query(caller, collection, req, None)?;
        let Some(query) = query else {
            return Ok("[]".to_string());
        };
        match projection {
            None => self.inner.backend.query_json(collection, query).await,
            Some(p) => {
                let docs: Vec<Value> = self
                    .inner
                    .backend
                    .query(collection, query)
                    .await?
                    .into_iter()
                    .map(|d| p.apply(d))
                    .collect();
                serde_json::to_string(&docs).map_err(DbError::internal)
            }
        }
    }

    /// Counts the documents matching `where` that the caller may read.
    pub async fn count(
        &self,
        caller: &Caller,
        collection: &str,
        where_: &Value,
    ) -> Result<u64, DbError> {
        let filter = Filter::gated(
            self.read_filter(caller, collection)?,
            self.parse_where(where_)?,
        );
        if matches!(filter, Filter::False) {
            return Ok(0);
        }
        self.inner.backend.count(collection, filter).await
    }

    /// Applies an update to every document matching `where` that the caller may read and
    /// whose update rule allows it; returns how many. Atomic per document: a document is
    /// re-checked against `where` inside the write, so conditional updates
    /// (`{"_id": x, "state": "NOTPAY"}`) succeed for exactly one of many concurrent callers.
    pub async fn update_where(
        &self,
        caller: &Caller,
        collection: &str,
        where_: &Value,
        update: &Value,
    ) -> Result<u64, DbError> {
        let filter = self.parse_where(where_)?;
        self.check_depth(update, "update")?;
        let parsed = Update::parse(update)?;
        let now = mb_core::now_ms();
        let rule = self.rule_filter(caller, collection, Op::Update, now, Some(update))?;
        let selection = Filter::gated(self.visible_and(caller, collection, rule), filter);
        let limits = self.limits_doc();
        self.modify_where(collection, selection, move |old| {
            apply_update(&parsed, old, now, &limits)
        })
        .await
    }

    /// Deletes every document matching `where` that the caller may read and whose delete rule
    /// allows it; returns how many.
    pub async fn remove_where(
        &self,
        caller: &Caller,
        collection: &str,
        where_: &Value,
    ) -> Result<u64, DbError> {
        let filter = self.parse_where(where_)?;
        let rule = self.rule_filter(caller, collection, Op::Delete, mb_core::now_ms(), None)?;
        let selection = Filter::gated(self.visible_and(caller, collection, rule), filter);
        self.modify_where(collection, selection, |_| Ok(Action::Delete))
            .await
    }

    /// The storage engine's plan for a query (service view: no rules), one line per step.
    /// For tests and operators checking that an index is used.
    pub async fn explain(
        &self,
        collection: &str,
        where_: &Value,
        order_by: &Value,
    ) -> Result<Vec<String>, DbError> {
        self.explain_as(&Caller::System, collection, where_, order_by)
            .await
    }

    /// The storage engine's plan for a query as `caller` runs it (their read rule gating
    /// `where`), one line per step: shows which index a user's query can use.
    pub async fn explain_as(
        &self,
        caller: &Caller,
        collection: &str,
        where_: &Value,
        order_by: &Value,
    ) -> Result<Vec<String>, DbError> {
        check_collection(collection)?;
        let req = QueryRequest {
            where_: where_.clone(),
            order_by: order_by.clone(),
            limit: Value::from(20),
            ..Default::default()
        };
        match self.plan_query(caller, collection, &req, None)?.0 {
            Some(query) => self.inner.backend.explain(collection, query).await,
            None => Ok(vec![
                "nothing to read: the rule or the limit selects no document".into(),
            ]),
        }
    }
}

fn check_collection(name: &str) -> Result<(), DbError> {
    if config::valid_collection_name(name) {
        Ok(())
    } else {
        Err(DbError::invalid(format!(
            "invalid collection name {name:?} (letters, digits, _ and -, starting with a letter or _, at most 64)"
        )))
    }
}

/// The `_openid` a written document gets: a user's own; for service and system callers the
/// one they gave, else the stored one.
fn stamp_openid(caller: &Caller, given: Option<Value>, stored: Option<Value>) -> Option<Value> {
    match caller {
        Caller::User(u) => stored.or(Some(Value::String(u.openid.clone()))),
        Caller::Anonymous => stored,
        _ => given.filter(Value::is_string).or(stored),
    }
}

/// `{_id, _openid?, …body}` with the reserved fields first.
fn assemble(id: &str, openid: Option<Value>, body: Value) -> Value {
    let mut m = Map::new();
    m.insert("_id".into(), Value::String(id.to_string()));
    if let Some(o) = openid {
        m.insert("_openid".into(), o);
    }
    if let Value::Object(b) = body {
        for (k, v) in b {
            if k != "_id" && k != "_openid" {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

fn apply_update(u: &Update, old: &Value, now: i64, limits: &DocLimits) -> Result<Action, DbError> {
    let mut doc = old.clone();
    let changes = u.apply(&mut doc, now)?;
    if !changes.is_empty() {
        value::prepare_stored(&mut doc, 1, limits, now)?;
    }
    Ok(Action::Update { doc, changes })
}

mod inspect;
pub use inspect::{RuleCheck, RuleOp, RulesView};
