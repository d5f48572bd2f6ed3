//! The dispatcher: one task that owns every watch, fed by docdb's change bus and by the
//! connections' commands, and that never waits on a connection.
//!
//! **Groups.** Watches with the same collection, `where`, read rule (as a filter, with the
//! caller's `auth` folded in), `orderBy` and `limit` see the same documents, so they share
//! one [`Group`]: one window, one database query, one evaluation of each event, one
//! serialised snapshot body. Ten thousand users watching the same public query cost one
//! group; ten thousand users each watching their own documents cost ten thousand small ones.
//! Groups are indexed by collection, so an event only visits the groups of its collection.
//!
//! **Loading.** A new group, or a window that needs a refill, queries the database (as the
//! system, with the read rule already ANDed into the filter) in a spawned task. Events that
//! arrive meanwhile are buffered and replayed on the query's result: replay is idempotent
//! (each event carries the document's full new state, and the buffer holds every event since
//! before the query started, in commit order), so the window ends exactly at the last event
//! seen, whatever the query's snapshot was. A refill then sends one diff from the old window,
//! attributed to the writes seen ([`crate::window::diff`]); a first load sends `init`.
//!
//! **Fan-out.** A snapshot body is pushed (a reference count, no copy) to each subscriber's
//! [`Outbox`]; a full outbox closes its connection as a slow consumer instead of growing.
//!
//! **Lag.** If the dispatcher falls more than the bus's capacity behind, every group is
//! reloaded and every watch gets a fresh init snapshot.

use crate::outbox::{Out, Outbox};
use crate::protocol::{self, snapshot_prefix};
use crate::window::{Applied, Attribution, EventJson, Matcher, TooMany, Window, diff};
use crate::{RealtimeOptions, Stats};
use axum::extract::ws::Utf8Bytes;
use docdb::{ChangeEvent, ChangeReceiver, Database, DbError, QueryRequest, RecvError};
use mb_core::{ApiError, ErrorCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;

/// A connection's id (process-wide counter).
pub(crate) type ConnId = u64;

/// Most events buffered per loading group before its query result is known to be stale.
const REPLAY_CAP: usize = 10_000;

/// What connections and query tasks tell the dispatcher.
pub(crate) enum Cmd {
    Open {
        conn: ConnId,
        outbox: Arc<Outbox>,
    },
    Watch {
        conn: ConnId,
        spec: Box<WatchSpec>,
    },
    Unwatch {
        conn: ConnId,
        id: String,
    },
    Close {
        conn: ConnId,
    },
    Loaded {
        group: usize,
        epoch: u64,
        result: Result<Vec<Value>, DbError>,
    },
    Shutdown,
}

/// A validated watch, ready for the dispatcher.
pub(crate) struct WatchSpec {
    pub id: Arc<str>,
    pub collection: String,
    pub matcher: Matcher,
    pub limit: usize,
    pub capped: bool,
    /// Identifies the query: watches with equal keys share a group.
    pub key: String,
    /// The database query of the group (the watch's own `where`; run for the system, gated
    /// by the matcher's read rule).
    pub query: QueryRequest,
}

struct Sub {
    outbox: Arc<Outbox>,
    /// `{"type":"snapshot","id":"w1",`
    prefix: Arc<str>,
    needs_init: bool,
}

/// Builds each frame once per distinct watch id in a fan-out: clients usually number their
/// watches alike (`w1`, `w2`…), so most subscribers of a query share the very same frame.
struct Frames<'a> {
    body: &'a str,
    last: Option<(&'a str, Utf8Bytes)>,
    built: HashMap<&'a str, Utf8Bytes>,
}

impl<'a> Frames<'a> {
    fn new(body: &'a str) -> Self {
        Frames {
            body,
            last: None,
            built: HashMap::new(),
        }
    }

    fn build(&self, prefix: &str) -> Utf8Bytes {
        let mut s = String::with_capacity(prefix.len() + self.body.len());
        s.push_str(prefix);
        s.push_str(self.body);
        Utf8Bytes::from(s)
    }

    fn get(&mut self, prefix: &'a str) -> Utf8Bytes {
        match &self.last {
            Some((p, f)) if *p == prefix => f.clone(),
            Some(_) => {
                if let Some(f) = self.built.get(prefix) {
                    return f.clone();
                }
                let f = self.build(prefix);
                if let Some((p, old)) = self.last.replace((prefix, f.clone())) {
                    self.built.insert(p, old);
                }
                f
            }
            None => {
                let f = self.build(prefix);
                self.last = Some((prefix, f.clone()));
                f
            }
        }
    }
}

struct Loading {
    epoch: u64,
    replay: Vec<Arc<ChangeEvent>>,
    /// Events were dropped from `replay`: the result in flight is useless, query again.
    stale: bool,
    /// For a refill: who caused what (`None`: send a fresh init instead of a diff).
    attrib: Option<Attribution>,
}

impl Loading {
    fn buffer(&mut self, ev: &Arc<ChangeEvent>) {
        if !self.stale {
            if self.replay.len() >= REPLAY_CAP {
                self.replay = Vec::new();
                self.stale = true;
            } else {
                self.replay.push(ev.clone());
            }
        }
        if let Some(a) = &mut self.attrib {
            if !a.record(ev) {
                self.attrib = None;
            }
        }
    }
}

enum Phase {
    Ready,
    Loading(Box<Loading>),
}

struct Group {
    key: String,
    collection: String,
    coll_index: usize,
    matcher: Matcher,
    query: QueryRequest,
    limit: usize,
    capped: bool,
    window: Option<Window>,
    phase: Phase,
    subs: HashMap<(ConnId, Arc<str>), Sub>,
    init_cache: Option<Arc<str>>,
}

struct ConnState {
    outbox: Arc<Outbox>,
    watches: HashMap<Arc<str>, usize>,
}

/// The dispatcher's state. See the module docs.
pub(crate) struct Hub {
    db: Database,
    opts: Arc<RealtimeOptions>,
    tx: mpsc::WeakSender<Cmd>,
    stats: Arc<Stats>,
    conns: HashMap<ConnId, ConnState>,
    groups: Vec<Option<Group>>,
    free: Vec<usize>,
    by_key: HashMap<String, usize>,
    by_collection: HashMap<String, Vec<usize>>,
    next_epoch: u64,
}

fn too_many(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "more than {limit} documents match this watch (realtime.max_docs_per_watch): narrow the where or add a limit"
    ))
}

fn too_big(bytes: usize, max: usize) -> ApiError {
    ApiError::too_large(format!(
        "this watch's snapshot is {bytes} bytes, over realtime.max_snapshot_bytes ({max}): narrow the where or lower the limit"
    ))
}

/// Queues a change snapshot for every subscriber of `g` that has had its init.
fn fan_out(g: &mut Group, body: &str, stats: &Stats) {
    g.init_cache = None;
    let mut frames = Frames::new(body);
    let mut n = 0;
    for sub in g.subs.values().filter(|s| !s.needs_init) {
        let _ = sub.outbox.push(frames.get(&sub.prefix));
        n += 1;
    }
    stats.frames.fetch_add(n, Relaxed);
}

/// Starts (or restarts) the database query of a group.
fn start_query(
    g: &mut Group,
    gid: usize,
    epoch: u64,
    db: &Database,
    tx: &mpsc::WeakSender<Cmd>,
    attrib: Option<Attribution>,
) {
    g.phase = Phase::Loading(Box::new(Loading {
        epoch,
        replay: Vec::new(),
        stale: false,
        attrib,
    }));
    spawn_query(g, gid, epoch, db, tx);
}

fn spawn_query(g: &Group, gid: usize, epoch: u64, db: &Database, tx: &mpsc::WeakSender<Cmd>) {
    let Some(tx) = tx.upgrade() else { return };
    let db = db.clone();
    let collection = g.collection.clone();
    let query = g.query.clone();
    let read = g.matcher.read.clone();
    tokio::spawn(async move {
        let result = db.query_gated(&collection, &read, &query).await;
        let _ = tx
            .send(Cmd::Loaded {
                group: gid,
                epoch,
                result,
            })
            .await;
    });
}

impl Hub {
    pub(crate) fn new(
        db: Database,
        opts: Arc<RealtimeOptions>,
        tx: mpsc::WeakSender<Cmd>,
        stats: Arc<Stats>,
    ) -> Hub {
        Hub {
            db,
            opts,
            tx,
            stats,
            conns: HashMap::new(),
            groups: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            by_collection: HashMap::new(),
            next_epoch: 1,
        }
    }

    /// Runs until every command sender is gone.
    pub(crate) async fn run(mut self, mut bus: ChangeReceiver, mut rx: mpsc::Receiver<Cmd>) {
        let mut bus_open = true;
        loop {
            tokio::select! {
                ev = bus.recv(), if bus_open => {
                    match ev {
                        Ok(ev) => {
                            self.on_event(&ev);
                            // Drain what is ready, bounded so commands are not starved.
                            for _ in 0..255 {
                                match bus.try_recv() {
                                    Ok(Some(ev)) => self.on_event(&ev),
                                    Ok(None) => break,
                                    Err(e) => {
                                        bus_open = self.on_bus_error(e);
                                        break;
                                    }
                                }
                            }
                        }
                        Err(e) => bus_open = self.on_bus_error(e),
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd),
                    None => break,
                },
            }
        }
    }

    fn next_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// Handles a bus failure; false when the bus is gone for good.
    fn on_bus_error(&mut self, e: RecvError) -> bool {
        match e {
            RecvError::Lagged(n) => {
                tracing::warn!(
                    missed = n,
                    "realtime fell behind the change bus: reloading every watch"
                );
                self.stats.lagged.fetch_add(1, Relaxed);
                for gid in 0..self.groups.len() {
                    let epoch = self.next_epoch();
                    let Some(g) = self.groups[gid].as_mut() else {
                        continue;
                    };
                    match &mut g.phase {
                        Phase::Loading(l) => {
                            l.stale = true;
                            l.replay = Vec::new();
                            l.attrib = None;
                        }
                        Phase::Ready => start_query(g, gid, epoch, &self.db, &self.tx, None),
                    }
                }
                true
            }
            RecvError::Closed => {
                tracing::info!("change bus closed: realtime stops");
                for c in self.conns.values() {
                    c.outbox.close(crate::outbox::Closed::Shutdown);
                }
                false
            }
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Open { conn, outbox } => {
                self.conns.insert(
                    conn,
                    ConnState {
                        outbox,
                        watches: HashMap::new(),
                    },
                );
            }
            Cmd::Watch { conn, spec } => self.on_watch(conn, *spec),
            Cmd::Unwatch { conn, id } => self.on_unwatch(conn, &id),
            Cmd::Close { conn } => self.on_close(conn),
            Cmd::Loaded {
                group,
                epoch,
                result,
            } => self.on_loaded(group, epoch, result),
            Cmd::Shutdown => {
                for c in self.conns.values() {
                    c.outbox.close(crate::outbox::Closed::Shutdown);
                }
            }
        }
    }

    fn send_error(outbox: &Outbox, id: Option<&str>, e: &ApiError) {
        let _ = outbox.push(Out::from(protocol::error_frame(id, e)));
    }

    fn on_watch(&mut self, conn: ConnId, spec: WatchSpec) {
        let max = self.opts.max_watches_per_connection;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let outbox = c.outbox.clone();
        if c.watches.contains_key(&spec.id) {
            let e = ApiError::invalid(format!(
                "watch id {:?} is already in use on this connection: unwatch it first",
                &*spec.id
            ));
            return Self::send_error(&outbox, Some(&spec.id), &e);
        }
        if c.watches.len() >= max {
            let e = ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "at most {max} watches per connection (realtime.max_watches_per_connection): unwatch one first"
                ),
            );
            return Self::send_error(&outbox, Some(&spec.id), &e);
        }
        let id = spec.id.clone();
        let gid = match self.by_key.get(&spec.key) {
            Some(&gid) => gid,
            None => self.new_group(spec),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.watches.insert(id.clone(), gid);
        }
        self.stats.watches.fetch_add(1, Relaxed);
        let Some(g) = self.groups[gid].as_mut() else {
            return;
        };
        g.subs.insert(
            (conn, id.clone()),
            Sub {
                outbox,
                prefix: Arc::from(snapshot_prefix(&id)),
                needs_init: true,
            },
        );
        if matches!(g.phase, Phase::Ready) {
            self.send_inits(gid);
        }
    }

    fn new_group(&mut self, spec: WatchSpec) -> usize {
        let gid = match self.free.pop() {
            Some(i) => i,
            None => {
                self.groups.push(None);
                self.groups.len() - 1
            }
        };
        let list = self
            .by_collection
            .entry(spec.collection.clone())
            .or_default();
        list.push(gid);
        let mut g = Group {
            key: spec.key.clone(),
            collection: spec.collection,
            coll_index: list.len() - 1,
            matcher: spec.matcher,
            query: spec.query,
            limit: spec.limit,
            capped: spec.capped,
            window: None,
            phase: Phase::Ready,
            subs: HashMap::new(),
            init_cache: None,
        };
        let epoch = self.next_epoch();
        start_query(&mut g, gid, epoch, &self.db, &self.tx, None);
        self.by_key.insert(spec.key, gid);
        self.groups[gid] = Some(g);
        self.stats.groups.fetch_add(1, Relaxed);
        gid
    }

    fn remove_group(&mut self, gid: usize) -> Option<Group> {
        let g = self.groups.get_mut(gid)?.take()?;
        self.free.push(gid);
        self.by_key.remove(&g.key);
        if let Some(list) = self.by_collection.get_mut(&g.collection) {
            let i = g.coll_index;
            if i < list.len() && list[i] == gid {
                list.swap_remove(i);
                if let Some(&moved) = list.get(i) {
                    if let Some(m) = self.groups[moved].as_mut() {
                        m.coll_index = i;
                    }
                }
            }
            if list.is_empty() {
                self.by_collection.remove(&g.collection);
            }
        }
        self.stats.groups.fetch_sub(1, Relaxed);
        Some(g)
    }

    fn detach(&mut self, conn: ConnId, id: &Arc<str>, gid: usize) {
        self.stats.watches.fetch_sub(1, Relaxed);
        let Some(g) = self.groups.get_mut(gid).and_then(Option::as_mut) else {
            return;
        };
        g.subs.remove(&(conn, id.clone()));
        if g.subs.is_empty() {
            self.remove_group(gid);
        }
    }

    fn on_unwatch(&mut self, conn: ConnId, id: &str) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c.watches.remove_entry(id) {
            Some((id, gid)) => self.detach(conn, &id, gid),
            None => {
                let e = ApiError::not_found(format!("no watch {id:?} on this connection"));
                Self::send_error(&c.outbox, Some(id), &e);
            }
        }
    }

    fn on_close(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        for (id, gid) in c.watches {
            self.detach(conn, &id, gid);
        }
    }

    /// Ends every watch of a group with an error frame.
    fn fail_group(&mut self, gid: usize, e: &ApiError) {
        let Some(g) = self.remove_group(gid) else {
            return;
        };
        for ((conn, id), sub) in g.subs {
            Self::send_error(&sub.outbox, Some(&id), e);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.watches.remove(&id);
            }
            self.stats.watches.fetch_sub(1, Relaxed);
        }
    }

    /// Sends the init snapshot to the group's subscribers that are waiting for one.
    fn send_inits(&mut self, gid: usize) {
        let max = self.opts.max_snapshot_bytes;
        let Some(g) = self.groups[gid].as_mut() else {
            return;
        };
        let Some(w) = &g.window else { return };
        let body = g
            .init_cache
            .get_or_insert_with(|| Arc::from(protocol::init_body(w)))
            .clone();
        if body.len() + 200 > max {
            let e = too_big(body.len(), max);
            return self.fail_group(gid, &e);
        }
        let mut frames = Frames::new(&body);
        let mut n = 0;
        for sub in g.subs.values_mut().filter(|s| s.needs_init) {
            sub.needs_init = false;
            let _ = sub.outbox.push(frames.get(&sub.prefix));
            n += 1;
        }
        self.stats.frames.fetch_add(n, Relaxed);
    }

    /// Sends a change snapshot to the group's subscribers that have had their init.
    fn send_changes(&mut self, gid: usize, body: String) {
        let max = self.opts.max_snapshot_bytes;
        if body.len() + 200 > max {
            let e = too_big(body.len(), max);
            return self.fail_group(gid, &e);
        }
        let Some(g) = self.groups[gid].as_mut() else {
            return;
        };
        fan_out(g, &body, &self.stats);
    }

    fn on_event(&mut self, ev: &Arc<ChangeEvent>) {
        self.stats.events.fetch_add(1, Relaxed);
        let Some(list) = self.by_collection.get(&ev.collection) else {
            return;
        };
        let mut enc = EventJson::new(ev);
        let max = self.opts.max_snapshot_bytes;
        let mut too_big_bodies: Vec<(usize, usize)> = Vec::new();
        let mut refills: Vec<usize> = Vec::new();
        let mut failed: Vec<usize> = Vec::new();
        for &gid in list {
            let Some(g) = self.groups[gid].as_mut() else {
                continue;
            };
            match &mut g.phase {
                Phase::Loading(l) => l.buffer(ev),
                Phase::Ready => {
                    let Some(w) = g.window.as_mut() else { continue };
                    match w.apply(ev, &g.matcher, &mut enc) {
                        Applied::Changes(cs) if cs.is_empty() => {}
                        Applied::Changes(cs) => {
                            // Sent at once, so that connections start writing (on the other
                            // cores) while the next groups are evaluated.
                            let body = protocol::change_body(w, &cs);
                            if body.len() + 200 > max {
                                too_big_bodies.push((gid, body.len()));
                            } else {
                                fan_out(g, &body, &self.stats);
                            }
                        }
                        Applied::NeedRefill => refills.push(gid),
                        Applied::TooMany => failed.push(gid),
                    }
                }
            }
        }
        for (gid, len) in too_big_bodies {
            self.fail_group(gid, &too_big(len, max));
        }
        for gid in refills {
            let epoch = self.next_epoch();
            let Some(g) = self.groups[gid].as_mut() else {
                continue;
            };
            let mut attrib = Attribution::default();
            attrib.record(ev);
            self.stats.refills.fetch_add(1, Relaxed);
            start_query(g, gid, epoch, &self.db, &self.tx, Some(attrib));
        }
        for gid in failed {
            let limit = self.groups[gid].as_ref().map_or(0, |g| g.limit);
            self.fail_group(gid, &too_many(limit));
        }
    }

    fn on_loaded(&mut self, gid: usize, epoch: u64, result: Result<Vec<Value>, DbError>) {
        let new_epoch = self.next_epoch();
        let Some(g) = self.groups.get_mut(gid).and_then(Option::as_mut) else {
            return;
        };
        let Phase::Loading(l) = &mut g.phase else {
            return;
        };
        if l.epoch != epoch {
            return;
        }
        if l.stale {
            l.epoch = new_epoch;
            l.stale = false;
            spawn_query(g, gid, new_epoch, &self.db, &self.tx);
            return;
        }
        let docs = match result {
            Ok(docs) => docs,
            Err(e) => {
                tracing::error!(error = %e, collection = %g.collection, "realtime: a watch's query failed");
                let e = match e {
                    DbError::Internal(_) => {
                        ApiError::new(ErrorCode::Internal, "the watch's query failed")
                    }
                    other => ApiError::from(other),
                };
                return self.fail_group(gid, &e);
            }
        };
        let mut w = match Window::from_docs(docs, &g.matcher, g.limit, g.capped) {
            Ok(w) => w,
            Err(TooMany) => {
                let e = too_many(g.limit);
                return self.fail_group(gid, &e);
            }
        };
        for ev in std::mem::take(&mut l.replay) {
            if !matches!(
                w.apply(&ev, &g.matcher, &mut EventJson::new(&ev)),
                Applied::Changes(_)
            ) {
                // The replay shifted a full window: the database must fill it again.
                l.epoch = new_epoch;
                spawn_query(g, gid, new_epoch, &self.db, &self.tx);
                return;
            }
        }
        let Phase::Loading(l) = std::mem::replace(&mut g.phase, Phase::Ready) else {
            return;
        };
        let old = g.window.replace(w);
        g.init_cache = None;
        let changes = match (&old, &l.attrib, &g.window) {
            (Some(old), Some(attrib), Some(new)) => Some(diff(old, new, attrib, &g.matcher)),
            _ => None,
        };
        match changes {
            None => {
                // First load, or lost track (lag, too many changes): everyone starts afresh.
                for s in g.subs.values_mut() {
                    s.needs_init = true;
                }
            }
            Some(cs) if !cs.is_empty() => {
                if let Some(w) = &g.window {
                    let body = protocol::change_body(w, &cs);
                    self.send_changes(gid, body);
                }
            }
            Some(_) => {}
        }
        self.send_inits(gid);
    }
}
