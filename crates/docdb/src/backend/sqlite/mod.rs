//! The embedded SQLite backend.
//!
//! - One table per collection, `c_<name>` (`id TEXT PRIMARY KEY, data BLOB` holding SQLite
//!   JSONB), created on first write. Upper-case letters are escaped in table names (`^a`)
//!   because SQLite identifiers are case-insensitive while collection names are not.
//! - WAL journal with `synchronous = FULL`: a transaction is fsynced to the WAL before it is
//!   acknowledged, so acknowledged writes survive `kill -9` *and* power loss. (`NORMAL` would
//!   survive a process kill too, but may lose the last commits on power loss; the group
//!   commit below makes FULL cheap: one fsync per batch, not per write.)
//! - ONE writer thread owns the only write connection and is fed by a channel. It takes every
//!   write waiting in the channel (up to [`MAX_BATCH`]) and runs them in one transaction,
//!   each in its own savepoint so one failing write does not undo the others (group commit).
//!   Replies and change events go out only after `COMMIT` returned.
//! - Reads never wait for the writer (WAL snapshots). A read of one document by `_id` (a
//!   primary-key lookup of one row, plus the rule filter on that row) runs on the calling
//!   thread, on an idle read-only connection taken from a small stack (opened on demand, at
//!   most [`MAX_IDLE_INLINE`] kept): it costs less than handing a job to another thread and
//!   waking the caller back. Queries and counts, whose cost depends on the data, go to a pool
//!   of reader threads with their own connections so they never hold an async runtime worker —
//!   unless the caller's thread is ours to block ([`super::on_blocking_thread`]: cloud-function
//!   instance threads), where they run inline too.
//! - Statements are prepared once per connection and cached (`prepare_cached`).
//! - Per collection, every path that ever held an array is recorded (`mb_array_paths`); see
//!   `sql.rs` for why.

mod functions;
pub(crate) mod sql;

use super::{Action, Backend, IndexOwner, IndexSpec, Query, Target, WriteOp, WriteResult};
use crate::change::{ChangeBus, ChangeEvent, ChangeOp};
use crate::error::DbError;
use crate::filter::Filter;
use crate::value::DocLimits;
use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use serde_json::Value;
use sql::{Planner, Sql};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// Most idle read-only connections kept for reads run on the calling thread.
pub const MAX_IDLE_INLINE: usize = 64;

/// Options of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Reader threads (and connections).
    pub readers: usize,
    /// Document limits enforced when storing.
    pub limits: DocLimits,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            limits: DocLimits::default(),
        }
    }
}

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

// The common variant is the big one; boxing it would cost an allocation per write.
#[allow(clippy::large_enum_variant)]
enum WriterOp {
    Write(WriteOp),
    Indexes {
        collection: String,
        indexes: Vec<IndexSpec>,
        owner: IndexOwner,
    },
}

struct WriterMsg {
    op: WriterOp,
    reply: oneshot::Sender<Result<WriteResult, DbError>>,
}

/// What readers and the writer share.
struct Shared {
    /// Per collection: dotted paths that ever held an array.
    arrays: RwLock<HashMap<String, HashSet<String>>>,
    /// Bumped whenever `arrays` grows (readers re-plan when it moved under them).
    arrays_version: AtomicU64,
    /// Commit sequence for change events.
    seq: AtomicU64,
}

/// The SQLite backend. Cheap to share behind an `Arc`.
pub struct SqliteBackend {
    checkpoint_tx: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    writer_tx: RwLock<Option<mpsc::Sender<WriterMsg>>>,
    reader_tx: RwLock<Option<mpsc::Sender<ReadJob>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shared: Arc<Shared>,
    bus: Arc<dyn ChangeBus>,
    /// The database file (inline read connections are opened on demand).
    path: PathBuf,
    /// Idle read-only connections for reads on the calling thread; `None` once closed.
    inline: Mutex<Option<Vec<Connection>>>,
}

/// The field paths of an index from its `CREATE INDEX` text (as `ensure_indexes` writes it:
/// `id` or `mb_k(data -> '$."a"."b"')`, then `ASC`/`DESC`), `-` marking descending ones.
fn index_fields(sql: &str) -> Vec<String> {
    let Some(open) = sql.find(" (") else {
        return Vec::new();
    };
    let cols = sql[open + 2..].trim_end().trim_end_matches(')');
    let mut out = Vec::new();
    // Columns are separated by ", " outside quoted path literals.
    let (mut in_quote, mut start) = (false, 0);
    let bytes = cols.as_bytes();
    let mut parts = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'\'' => in_quote = !in_quote,
            b',' if !in_quote => {
                parts.push(&cols[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&cols[start..]);
    for part in parts {
        let part = part.trim();
        let desc = part.ends_with(" DESC");
        let path = match (part.find("'$"), part.rfind('\'')) {
            (Some(a), Some(b)) if b > a + 1 => {
                // '$."seg"."seg"' with '' for a quote inside a segment
                let lit = part[a + 2..b].replace("''", "'");
                lit.split("\".\"")
                    .map(|s| s.trim_start_matches(".\"").trim_end_matches('"'))
                    .collect::<Vec<_>>()
                    .join(".")
            }
            _ if part.starts_with("id ") || part == "id" => "_id".to_string(),
            _ => part.to_string(),
        };
        out.push(if desc { format!("-{path}") } else { path });
    }
    out
}

/// The quoted table name of a collection.
pub(crate) fn table_name(collection: &str) -> String {
    let mut s = String::with_capacity(collection.len() + 6);
    s.push_str("\"c_");
    for c in collection.chars() {
        if c.is_ascii_uppercase() {
            s.push('^');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s.push('"');
    s
}

fn collection_of_table(table: &str) -> Option<String> {
    let rest = table.strip_prefix("c_")?;
    let mut out = String::with_capacity(rest.len());
    let mut upper = false;
    for c in rest.chars() {
        if c == '^' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn is_no_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.starts_with("no such table"))
}

fn open_conn(path: &Path, read_only: bool) -> Result<Connection, DbError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| DbError::internal(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if read_only {
        conn.execute_batch(
            "PRAGMA query_only = ON; PRAGMA cache_size = -16000; PRAGMA mmap_size = 268435456;",
        )?;
    } else {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::internal(format!(
                "could not enable WAL (journal_mode = {mode})"
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY; \
             PRAGMA mmap_size = 268435456; PRAGMA foreign_keys = OFF;",
        )?;
    }
    conn.set_prepared_statement_cache_capacity(256);
    functions::register(&conn)?;
    Ok(conn)
}

fn internal<E: std::fmt::Display>(e: E) -> DbError {
    DbError::internal(e)
}

impl SqliteBackend {
    /// Opens (creating) the database file at `path`, with its parent directories.
    /// `indexes` (config-declared, per collection) are applied before the backend serves.
    pub fn open(
        path: &Path,
        options: SqliteOptions,
        bus: Arc<dyn ChangeBus>,
        indexes: Vec<(String, Vec<IndexSpec>)>,
    ) -> Result<SqliteBackend, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError::internal(format!("creating {}: {e}", parent.display())))?;
        }
        let conn = open_conn(path, false)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS mb_array_paths (coll TEXT NOT NULL, path TEXT NOT NULL, \
             PRIMARY KEY (coll, path)) WITHOUT ROWID;",
        )?;
        let mut arrays: HashMap<String, HashSet<String>> = HashMap::new();
        {
            let mut st = conn.prepare("SELECT coll, path FROM mb_array_paths")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (c, p) = row?;
                arrays.entry(c).or_default().insert(p);
            }
        }
        let mut tables = HashSet::new();
        {
            let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for row in rows {
                if let Some(c) = collection_of_table(&row?) {
                    tables.insert(c);
                }
            }
        }
        let shared = Arc::new(Shared {
            arrays: RwLock::new(arrays),
            arrays_version: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        });

        let mut threads = Vec::new();
        let (wtx, wrx) = mpsc::channel::<WriterMsg>(8192);
        let mut writer = Writer {
            conn,
            tables,
            shared: shared.clone(),
            bus: bus.clone(),
            limits: options.limits,
        };
        writer.init_indexes(&indexes)?;
        threads.push(
            std::thread::Builder::new()
                .name("docdb-writer".into())
                .spawn(move || writer.run(wrx))
                .map_err(internal)?,
        );

        // WAL checkpoints run on their own thread and connection, so the writer never stalls
        // on copying pages into the database file (auto-checkpoint is off on the writer).
        let (ctx, crx) = std::sync::mpsc::channel::<()>();
        let cconn = open_conn(path, false)?;
        threads.push(
            std::thread::Builder::new()
                .name("docdb-checkpoint".into())
                .spawn(move || checkpointer(cconn, crx))
                .map_err(internal)?,
        );

        let (rtx, rrx) = mpsc::channel::<ReadJob>(8192);
        let rrx = Arc::new(Mutex::new(rrx));
        for i in 0..options.readers.max(1) {
            let conn = open_conn(path, true)?;
            let rrx = rrx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("docdb-reader-{i}"))
                    .spawn(move || {
                        loop {
                            let job = rrx.lock().blocking_recv();
                            match job {
                                // A panicking job must not take a reader down with it; its
                                // caller sees the dropped reply as an internal error.
                                Some(job) => {
                                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                        || job(&conn),
                                    ));
                                }
                                None => break,
                            }
                        }
                    })
                    .map_err(internal)?,
            );
        }
        Ok(SqliteBackend {
            checkpoint_tx: Mutex::new(Some(ctx)),
            writer_tx: RwLock::new(Some(wtx)),
            reader_tx: RwLock::new(Some(rtx)),
            threads: Mutex::new(threads),
            shared,
            bus,
            path: path.to_path_buf(),
            inline: Mutex::new(Some(Vec::new())),
        })
    }

    /// Runs a read on the calling thread, on an idle read-only connection (opening one when
    /// none is idle). For reads whose cost is bounded (one row by primary key), or on threads
    /// that may block.
    fn read_here<T>(
        &self,
        f: impl FnOnce(&Connection, &Shared) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let idle = self.inline.lock().as_mut().ok_or_else(closed)?.pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_conn(&self.path, true)?,
        };
        let result = f(&conn, &self.shared);
        if let Some(idle) = self.inline.lock().as_mut()
            && idle.len() < MAX_IDLE_INLINE
        {
            idle.push(conn);
        }
        result
    }

    /// Runs a read inline on a thread that may block, else on the reader pool.
    async fn read_any<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Shared) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        if super::on_blocking_thread() {
            self.read_here(f)
        } else {
            self.read(f).await
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Shared) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let tx = self.reader_tx.read().clone().ok_or_else(closed)?;
        let (rtx, rrx) = oneshot::channel();
        let shared = self.shared.clone();
        tx.send(Box::new(move |conn: &Connection| {
            let _ = rtx.send(f(conn, &shared));
        }))
        .await
        .map_err(|_| closed())?;
        rrx.await
            .map_err(|_| DbError::internal("reader thread dropped a job"))?
    }

    async fn send_write(&self, op: WriterOp) -> Result<WriteResult, DbError> {
        let tx = self.writer_tx.read().clone().ok_or_else(closed)?;
        let (rtx, rrx) = oneshot::channel();
        tx.send(WriterMsg { op, reply: rtx })
            .await
            .map_err(|_| closed())?;
        rrx.await
            .map_err(|_| DbError::internal("writer thread dropped a write"))?
    }
}

fn closed() -> DbError {
    DbError::Unavailable("the database is shutting down".into())
}

/// Plans (under the array-paths lock) and runs (without it) until the set of array paths
/// did not move in between, so a query never misses array matches of a concurrent commit it
/// sees.
fn planned<T>(
    shared: &Shared,
    collection: &str,
    plan: impl Fn(&Planner<'_>) -> Sql,
    mut run: impl FnMut(&Sql) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut attempt = 0;
    loop {
        let before = shared.arrays_version.load(Ordering::SeqCst);
        let sql = {
            let arrays = shared.arrays.read();
            plan(&Planner {
                arrays: arrays.get(collection),
            })
        };
        let result = run(&sql);
        attempt += 1;
        if attempt >= 4 || shared.arrays_version.load(Ordering::SeqCst) == before {
            return result;
        }
    }
}

/// Prepares a read (cached per connection); `None` when the collection has no table yet,
/// which reads as a collection with no documents.
fn prepare_read<'c>(
    conn: &'c Connection,
    sql: &Sql,
) -> Result<Option<rusqlite::CachedStatement<'c>>, DbError> {
    match conn.prepare_cached(&sql.text) {
        Ok(st) => Ok(Some(st)),
        Err(e) if is_no_table(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs a `SELECT json(data) …`, handing each document's JSON text to `each`; how many.
fn each_doc_text(
    conn: &Connection,
    sql: &Sql,
    mut each: impl FnMut(&[u8]) -> Result<(), DbError>,
) -> Result<usize, DbError> {
    let Some(mut st) = prepare_read(conn, sql)? else {
        return Ok(0);
    };
    let mut rows = st.query(params_from_iter(sql.params.iter()))?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        match row.get_ref(0)? {
            rusqlite::types::ValueRef::Text(t) => each(t)?,
            _ => return Err(DbError::internal("document is not JSON text")),
        }
        n += 1;
    }
    Ok(n)
}

fn run_select_docs(conn: &Connection, sql: &Sql) -> Result<Vec<Value>, DbError> {
    let mut out = Vec::new();
    each_doc_text(conn, sql, |text| {
        out.push(serde_json::from_slice(text).map_err(internal)?);
        Ok(())
    })?;
    Ok(out)
}

/// Runs a `SELECT json(data) …` and appends the documents' JSON texts, comma-separated.
fn run_select_json(conn: &Connection, sql: &Sql, out: &mut String) -> Result<usize, DbError> {
    let mut first = true;
    each_doc_text(conn, sql, |text| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        out.push_str(std::str::from_utf8(text).map_err(internal)?);
        Ok(())
    })
}

fn get_sql(collection: &str, id: &str, filter: &Filter, planner: &Planner<'_>) -> Sql {
    let mut sql = Sql::default();
    sql.text.push_str("SELECT json(data) FROM ");
    sql.text.push_str(&table_name(collection));
    sql.text.push_str(" WHERE id = ?");
    sql.params
        .push(rusqlite::types::Value::Text(id.to_string()));
    if !matches!(filter, Filter::True) {
        sql.text.push_str(" AND ");
        planner.filter(filter, &mut sql);
    }
    sql
}

fn query_sql(collection: &str, q: &Query, planner: &Planner<'_>, select: &str) -> Sql {
    let mut sql = Sql::default();
    sql.text.push_str(select);
    sql.text.push_str(" FROM ");
    sql.text.push_str(&table_name(collection));
    sql.text.push_str(" WHERE ");
    planner.filter(&q.filter, &mut sql);
    sql.text.push_str(" ORDER BY ");
    planner.order(&q.order, &mut sql);
    sql.text.push_str(" LIMIT ");
    sql.params.push(rusqlite::types::Value::Integer(
        q.limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1),
    ));
    sql.text.push_str("? OFFSET ");
    sql.params.push(rusqlite::types::Value::Integer(
        q.skip.min(i64::MAX as u64) as i64
    ));
    sql.text.push('?');
    sql
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn get(
        &self,
        collection: &str,
        id: &str,
        filter: Filter,
    ) -> Result<Option<Value>, DbError> {
        self.read_here(|conn, shared| {
            planned(
                shared,
                collection,
                |planner| get_sql(collection, id, &filter, planner),
                |sql| run_select_docs(conn, sql),
            )
            .map(|mut v| v.pop())
        })
    }

    async fn get_json(
        &self,
        collection: &str,
        id: &str,
        filter: Filter,
    ) -> Result<Option<String>, DbError> {
        self.read_here(|conn, shared| {
            planned(
                shared,
                collection,
                |planner| get_sql(collection, id, &filter, planner),
                |sql| {
                    let mut out = String::new();
                    Ok((run_select_json(conn, sql, &mut out)? > 0).then_some(out))
                },
            )
        })
    }

    async fn query_json(&self, collection: &str, q: Query) -> Result<String, DbError> {
        let collection = collection.to_string();
        self.read_any(move |conn, shared| {
            planned(
                shared,
                &collection,
                |planner| query_sql(&collection, &q, planner, "SELECT json(data)"),
                |sql| {
                    let mut out = String::with_capacity(4096);
                    out.push('[');
                    run_select_json(conn, sql, &mut out)?;
                    out.push(']');
                    Ok(out)
                },
            )
        })
        .await
    }

    async fn query(&self, collection: &str, q: Query) -> Result<Vec<Value>, DbError> {
        let collection = collection.to_string();
        self.read_any(move |conn, shared| {
            planned(
                shared,
                &collection,
                |planner| query_sql(&collection, &q, planner, "SELECT json(data)"),
                |sql| run_select_docs(conn, sql),
            )
        })
        .await
    }

    async fn count(&self, collection: &str, filter: Filter) -> Result<u64, DbError> {
        let collection = collection.to_string();
        self.read_any(move |conn, shared| {
            planned(
                shared,
                &collection,
                |planner| {
                    let mut sql = Sql::default();
                    sql.text.push_str("SELECT count(*) FROM ");
                    sql.text.push_str(&table_name(&collection));
                    sql.text.push_str(" WHERE ");
                    planner.filter(&filter, &mut sql);
                    sql
                },
                |sql| {
                    let Some(mut st) = prepare_read(conn, sql)? else {
                        return Ok(0);
                    };
                    let n: i64 = st.query_row(params_from_iter(sql.params.iter()), |r| r.get(0))?;
                    Ok(n.max(0) as u64)
                },
            )
        })
        .await
    }

    async fn write(&self, op: WriteOp) -> Result<WriteResult, DbError> {
        self.send_write(WriterOp::Write(op)).await
    }

    async fn ensure_indexes(
        &self,
        collection: &str,
        indexes: Vec<IndexSpec>,
        owner: IndexOwner,
    ) -> Result<(), DbError> {
        self.send_write(WriterOp::Indexes {
            collection: collection.to_string(),
            indexes,
            owner,
        })
        .await
        .map(|_| ())
    }

    async fn explain(&self, collection: &str, q: Query) -> Result<Vec<String>, DbError> {
        let collection = collection.to_string();
        self.read(move |conn, shared| {
            planned(
                shared,
                &collection,
                |planner| query_sql(&collection, &q, planner, "SELECT json(data)"),
                |sql| {
                    // EXPLAIN does not check the schema cookie: read the schema first so
                    // indexes created since this connection last looked are seen (real
                    // statements re-prepare by themselves when the schema changed).
                    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
                    let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))?;
                    let rows = st.query_map(params_from_iter(sql.params.iter()), |r| {
                        r.get::<_, String>(3)
                    })?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
                },
            )
        })
        .await
    }

    async fn collections(&self) -> Result<Vec<super::CollectionInfo>, DbError> {
        self.read(|conn, _| {
            // The schema first, as in `explain`: tables created since this connection last
            // looked must be seen.
            let tables: Vec<String> = {
                let mut st = conn.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'c\\_%' ESCAPE '\\' ORDER BY name",
                )?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            let mut out = Vec::with_capacity(tables.len());
            for t in tables {
                let Some(name) = collection_of_table(&t) else {
                    continue;
                };
                let count: i64 =
                    conn.query_row(&format!("SELECT count(*) FROM {}", table_name(&name)), [], |r| {
                        r.get(0)
                    })?;
                out.push(super::CollectionInfo {
                    name,
                    count: count.max(0) as u64,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn indexes(&self, collection: &str) -> Result<Vec<super::IndexInfo>, DbError> {
        let table = table_name(collection).trim_matches('"').to_string();
        self.read(move |conn, _| {
            let mut st = conn.prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name",
            )?;
            let rows = st.query_map(params![table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, sql) = row?;
                let owner = if name.starts_with("mbx_") {
                    "config"
                } else {
                    "system"
                };
                out.push(super::IndexInfo {
                    fields: index_fields(&sql),
                    unique: sql.starts_with("CREATE UNIQUE"),
                    name,
                    owner,
                });
            }
            Ok(out)
        })
        .await
    }

    fn bus(&self) -> Arc<dyn ChangeBus> {
        self.bus.clone()
    }

    fn close(&self) {
        self.writer_tx.write().take();
        self.checkpoint_tx.lock().take();
        self.reader_tx.write().take();
        self.inline.lock().take();
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.writer_tx.get_mut().take();
        self.checkpoint_tx.get_mut().take();
        self.reader_tx.get_mut().take();
        // Threads end on their own once the channels are closed and drained.
    }
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    tables: HashSet<String>,
    shared: Arc<Shared>,
    bus: Arc<dyn ChangeBus>,
    limits: DocLimits,
}

type PendingEvent = (
    String,
    String,
    ChangeOp,
    Option<Value>,
    Option<crate::update::Changes>,
);

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<WriterMsg>) {
        let mut batch: Vec<WriterMsg> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            self.process(&mut batch);
        }
        // Channel closed: checkpoint so the WAL does not outlive us needlessly.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
    }

    fn process(&mut self, batch: &mut Vec<WriterMsg>) {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let err = DbError::from(e);
            for m in batch.drain(..) {
                let _ = m.reply.send(Err(err.clone()));
            }
            return;
        }
        let mut created_tables: Vec<String> = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        let mut events: Vec<PendingEvent> = Vec::new();
        for m in batch.drain(..) {
            if self.conn.is_autocommit() {
                results.push((
                    m.reply,
                    Err(DbError::internal(
                        "transaction aborted by an earlier failure",
                    )),
                ));
                continue;
            }
            let mut evs = Vec::new();
            let r = match m.op {
                WriterOp::Write(op) => self.run_op(op, &mut evs, &mut created_tables),
                WriterOp::Indexes {
                    collection,
                    indexes,
                    owner,
                } => self
                    .savepoint(|w| {
                        w.ensure_indexes(&collection, &indexes, owner, &mut created_tables)
                    })
                    .map(|_| WriteResult::default()),
            };
            if r.is_ok() {
                events.append(&mut evs);
            }
            results.push((m.reply, r));
        }
        let commit = if self.conn.is_autocommit() {
            Err(DbError::internal("transaction aborted"))
        } else {
            self.conn.execute_batch("COMMIT").map_err(DbError::from)
        };
        match commit {
            Ok(()) => {
                if !events.is_empty() {
                    let evs = events
                        .into_iter()
                        .map(|(collection, id, op, doc, changes)| {
                            let (updated_fields, removed_fields) = match changes {
                                Some(c) => (Some(c.updated), Some(c.removed)),
                                None => (None, None),
                            };
                            Arc::new(ChangeEvent {
                                seq: self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1,
                                collection,
                                id,
                                op,
                                doc,
                                updated_fields,
                                removed_fields,
                            })
                        })
                        .collect();
                    self.bus.publish(evs);
                }
                for (reply, r) in results {
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "docdb: commit failed");
                let _ = self.conn.execute_batch("ROLLBACK");
                for t in created_tables {
                    self.tables.remove(&t);
                }
                for (reply, r) in results {
                    let _ =
                        reply.send(r.and(Err(DbError::internal(format!("commit failed: {e}")))));
                }
            }
        }
    }

    fn init_indexes(&mut self, indexes: &[(String, Vec<IndexSpec>)]) -> Result<(), DbError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut created = Vec::new();
        for (collection, specs) in indexes {
            if let Err(e) = self.ensure_indexes(collection, specs, IndexOwner::Config, &mut created)
            {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(match e {
                    DbError::Conflict(m) => {
                        DbError::invalid(format!("collections.{collection}.indexes: {m}"))
                    }
                    other => other,
                });
            }
        }
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.conn.execute_batch("SAVEPOINT w")?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("RELEASE w")?;
                Ok(v)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK TO w; RELEASE w");
                }
                Err(e)
            }
        }
    }

    fn ensure_table(&mut self, collection: &str, created: &mut Vec<String>) -> Result<(), DbError> {
        if self.tables.contains(collection) {
            return Ok(());
        }
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL) WITHOUT ROWID",
            table_name(collection)
        ))?;
        self.tables.insert(collection.to_string());
        created.push(collection.to_string());
        Ok(())
    }

    /// Records paths of `doc` that hold arrays, before the write commits.
    fn track_arrays(&mut self, collection: &str, doc: &Value) -> Result<(), DbError> {
        let mut found: Vec<String> = Vec::new();
        {
            let arrays = self.shared.arrays.read();
            let known = arrays.get(collection);
            let mut path = String::new();
            walk_arrays(doc, &mut path, &mut |p| {
                if !known.is_some_and(|k| k.contains(p)) && !found.iter().any(|f| f == p) {
                    found.push(p.to_string());
                }
            });
        }
        if found.is_empty() {
            return Ok(());
        }
        {
            let mut arrays = self.shared.arrays.write();
            let set = arrays.entry(collection.to_string()).or_default();
            for p in &found {
                set.insert(p.clone());
            }
            self.shared.arrays_version.fetch_add(1, Ordering::SeqCst);
        }
        let mut st = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO mb_array_paths (coll, path) VALUES (?1, ?2)")?;
        for p in &found {
            st.execute(params![collection, p])?;
        }
        Ok(())
    }

    fn serialize(&self, doc: &Value) -> Result<String, DbError> {
        let text = serde_json::to_string(doc).map_err(internal)?;
        if text.len() > self.limits.max_bytes {
            return Err(DbError::TooLarge(
                format!(
                    "document is {} bytes, over the limit of {} bytes",
                    text.len(),
                    self.limits.max_bytes
                )
                .into(),
            ));
        }
        Ok(text)
    }

    fn insert(
        &mut self,
        collection: &str,
        doc: Value,
        evs: &mut Vec<PendingEvent>,
        created: &mut Vec<String>,
    ) -> Result<(), DbError> {
        let id = doc
            .get("_id")
            .and_then(Value::as_str)
            .ok_or_else(|| DbError::internal("insert without _id"))?
            .to_string();
        let text = self.serialize(&doc)?;
        self.ensure_table(collection, created)?;
        self.track_arrays(collection, &doc)?;
        let sql = format!(
            "INSERT INTO {} (id, data) VALUES (?1, jsonb(?2))",
            table_name(collection)
        );
        self.conn.prepare_cached(&sql)?.execute(params![id, text])?;
        evs.push((collection.to_string(), id, ChangeOp::Add, Some(doc), None));
        Ok(())
    }

    fn run_op(
        &mut self,
        op: WriteOp,
        evs: &mut Vec<PendingEvent>,
        created: &mut Vec<String>,
    ) -> Result<WriteResult, DbError> {
        match op {
            WriteOp::Insert { collection, doc } => {
                self.insert(&collection, doc, evs, created)?;
                Ok(WriteResult {
                    affected: 1,
                    created: true,
                })
            }
            WriteOp::Modify {
                collection,
                target,
                mut decide,
            } => self.savepoint(|w| {
                let mut result = WriteResult::default();
                match target {
                    Target::Id(id) => {
                        let stored = w.load(&collection, &id)?;
                        let action = guarded(&mut decide, stored.as_ref())?;
                        w.apply(&collection, &id, action, evs, created, &mut result)?;
                    }
                    Target::Where { filter, limit } => {
                        if !w.tables.contains(&collection) {
                            return Ok(result);
                        }
                        let q = Query {
                            filter,
                            order: Vec::new(),
                            skip: 0,
                            limit,
                        };
                        let rows = {
                            let arrays = w.shared.arrays.read();
                            let planner = Planner {
                                arrays: arrays.get(&collection),
                            };
                            query_sql(&collection, &q, &planner, "SELECT id, json(data)")
                        };
                        let docs: Vec<(String, Value)> = {
                            let mut st = w.conn.prepare_cached(&rows.text)?;
                            let mut rs = st.query(params_from_iter(rows.params.iter()))?;
                            let mut out = Vec::new();
                            while let Some(r) = rs.next()? {
                                let id: String = r.get(0)?;
                                let text: String = r.get(1)?;
                                out.push((id, serde_json::from_str(&text).map_err(internal)?));
                            }
                            out
                        };
                        for (id, doc) in docs {
                            let action = guarded(&mut decide, Some(&doc))?;
                            w.apply(&collection, &id, action, evs, created, &mut result)?;
                        }
                    }
                }
                Ok(result)
            }),
        }
    }

    fn load(&mut self, collection: &str, id: &str) -> Result<Option<Value>, DbError> {
        if !self.tables.contains(collection) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT json(data) FROM {} WHERE id = ?1",
            table_name(collection)
        );
        let text: Option<String> = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(internal))
            .transpose()
    }

    fn apply(
        &mut self,
        collection: &str,
        id: &str,
        action: Action,
        evs: &mut Vec<PendingEvent>,
        created: &mut Vec<String>,
        result: &mut WriteResult,
    ) -> Result<(), DbError> {
        match action {
            Action::Keep => {}
            Action::Insert(doc) => {
                if doc.get("_id").and_then(Value::as_str) != Some(id) {
                    return Err(DbError::internal(
                        "inserted document does not carry the target _id",
                    ));
                }
                self.insert(collection, doc, evs, created)?;
                result.affected += 1;
                result.created = true;
            }
            Action::Replace(doc) | Action::Update { doc, .. }
                if doc.get("_id").and_then(Value::as_str) != Some(id) =>
            {
                return Err(DbError::internal("a write changed _id"));
            }
            Action::Replace(doc) => {
                self.store(collection, id, &doc)?;
                evs.push((
                    collection.to_string(),
                    id.to_string(),
                    ChangeOp::Replace,
                    Some(doc),
                    None,
                ));
                result.affected += 1;
            }
            Action::Update { doc, changes } => {
                result.affected += 1;
                if !changes.is_empty() {
                    self.store(collection, id, &doc)?;
                    evs.push((
                        collection.to_string(),
                        id.to_string(),
                        ChangeOp::Update,
                        Some(doc),
                        Some(changes),
                    ));
                }
            }
            Action::Delete => {
                let sql = format!("DELETE FROM {} WHERE id = ?1", table_name(collection));
                let n = self.conn.prepare_cached(&sql)?.execute(params![id])?;
                if n > 0 {
                    evs.push((
                        collection.to_string(),
                        id.to_string(),
                        ChangeOp::Remove,
                        None,
                        None,
                    ));
                    result.affected += 1;
                }
            }
        }
        Ok(())
    }

    fn store(&mut self, collection: &str, id: &str, doc: &Value) -> Result<(), DbError> {
        let text = self.serialize(doc)?;
        self.track_arrays(collection, doc)?;
        let sql = format!(
            "UPDATE {} SET data = jsonb(?2) WHERE id = ?1",
            table_name(collection)
        );
        self.conn.prepare_cached(&sql)?.execute(params![id, text])?;
        Ok(())
    }

    fn ensure_indexes(
        &mut self,
        collection: &str,
        specs: &[IndexSpec],
        owner: IndexOwner,
        created: &mut Vec<String>,
    ) -> Result<(), DbError> {
        self.ensure_table(collection, created)?;
        let table = table_name(collection);
        let bare_table = table.trim_matches('"').to_string();
        let prefix = format!(
            "{}{}_",
            if owner == IndexOwner::Config {
                "mbx_"
            } else {
                "mbs_"
            },
            &bare_table[2..]
        );
        let mut desired: Vec<(String, String)> = Vec::new();
        for spec in specs {
            let mut canon = String::from(if spec.unique { "u" } else { "n" });
            let mut cols = Vec::new();
            for (path, asc) in &spec.fields {
                canon.push('|');
                canon.push_str(path.as_str());
                canon.push(if *asc { '+' } else { '-' });
                let expr = if path.is("_id") {
                    "id".to_string()
                } else {
                    sql::key_expr(path)
                };
                cols.push(format!("{expr} {}", if *asc { "ASC" } else { "DESC" }));
            }
            let name = format!("{prefix}{:016x}", fnv1a(canon.as_bytes()));
            let ddl = format!(
                "CREATE {}INDEX IF NOT EXISTS \"{name}\" ON {table} ({})",
                if spec.unique { "UNIQUE " } else { "" },
                cols.join(", ")
            );
            desired.push((name, ddl));
        }
        if owner == IndexOwner::Config {
            let existing: Vec<String> = {
                let mut st = self.conn.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1",
                )?;
                let rows = st.query_map(params![bare_table], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            for name in existing {
                if name.starts_with(&prefix) && !desired.iter().any(|(n, _)| *n == name) {
                    self.conn
                        .execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""))?;
                    tracing::info!(collection, index = %name, "docdb: dropped an index no longer declared");
                }
            }
        }
        for (name, ddl) in desired {
            self.conn.execute_batch(&ddl).map_err(|e| match DbError::from(e) {
                DbError::Conflict(_) => DbError::conflict(format!(
                    "existing documents of {collection} violate the unique index {name}; fix them first"
                )),
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Runs a write's `decide` closure so that a panic in it fails that write, not the writer.
fn guarded(decide: &mut super::Decide, stored: Option<&Value>) -> Result<Action, DbError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(stored)))
        .unwrap_or_else(|_| Err(DbError::internal("a write's decision panicked")))
}

/// Copies committed WAL pages into the database file every quarter second (PASSIVE: never
/// blocks the writer or readers), and once more when the backend closes.
fn checkpointer(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(std::time::Duration::from_millis(250))
    {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "docdb: WAL checkpoint failed");
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Calls `f` with the dotted path (object keys only) of every array in `v`.
fn walk_arrays(v: &Value, path: &mut String, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                match child {
                    Value::Array(_) => {
                        f(path);
                        walk_elements(child, path, f);
                    }
                    Value::Object(_) => walk_arrays(child, path, f),
                    _ => {}
                }
                path.truncate(len);
            }
        }
        Value::Array(_) => walk_elements(v, path, f),
        _ => {}
    }
}

fn walk_elements(v: &Value, path: &mut String, f: &mut dyn FnMut(&str)) {
    if let Value::Array(a) = v {
        for e in a {
            match e {
                Value::Array(_) => walk_elements(e, path, f),
                Value::Object(_) => walk_arrays(e, path, f),
                _ => {}
            }
        }
    }
}

/// Resolves a `sqlite://` URL into a file path.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() {
        None
    } else {
        Some(PathBuf::from(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_fields_from_sql() {
        assert_eq!(
            index_fields(
                "CREATE UNIQUE INDEX \"mbx_todos_1\" ON \"c_todos\" (mb_k(data -> '$.\"_openid\"') ASC, mb_k(data -> '$.\"a\".\"b\"') DESC, id ASC)"
            ),
            vec!["_openid", "-a.b", "_id"]
        );
    }

    #[test]
    fn table_names_keep_case() {
        assert_eq!(table_name("Todos"), "\"c_^todos\"");
        assert_eq!(collection_of_table("c_^todos").as_deref(), Some("Todos"));
        assert_eq!(collection_of_table("c__users").as_deref(), Some("_users"));
        assert_eq!(
            path_from_url("sqlite://mb_data/data.db"),
            Some(PathBuf::from("mb_data/data.db"))
        );
        assert_eq!(
            path_from_url("sqlite:///abs/x.db"),
            Some(PathBuf::from("/abs/x.db"))
        );
    }

    #[test]
    fn array_paths() {
        let mut found = Vec::new();
        walk_arrays(
            &json!({"a": [{"b": [1]}, [{"c": []}]], "d": {"e": []}, "f": 1}),
            &mut String::new(),
            &mut |p| found.push(p.to_string()),
        );
        assert_eq!(found, ["a", "a.b", "a.c", "d.e"]);
    }
}
