//! The result of one watched query, kept in memory and moved forward by change events.
//!
//! A [`Window`] is what a watch currently shows: the documents matching `where` and the
//! caller's read rule, in `orderBy` order (then `_id`), at most `limit` of them. Each entry
//! keeps its sort key and its JSON text, serialised once, so that every snapshot's `docs` is
//! a concatenation and never a re-serialisation.
//!
//! [`Window::apply`] moves the window by one committed [`ChangeEvent`] and says what changed
//! in CloudBase's vocabulary ([`Change`]: `dataType` × `queueType`), or that it cannot decide
//! alone: when a document leaves a *full* window (more matching documents may exist beyond
//! its last entry) the window must be refilled from the database ([`Applied::NeedRefill`]);
//! it is then left untouched so that the caller can compute one exact diff between the old
//! window and the refilled one ([`diff`]), attributing each difference to the events that
//! caused it ([`Attribution`]) or to the window shift (`dataType: "limit"`).
//!
//! Visibility: the read rule is part of the match. A document that stops satisfying the
//! rule leaves the window as `remove`/`dequeue` *without* its content or fields, whatever
//! the write was; a document that simply stops matching `where` (but stays readable) leaves
//! as `update`/`dequeue` with its new content, as CloudBase does.

use bytes::Bytes;
use docdb::filter::{Direction, SortKey, sort_key_at};
use docdb::{ChangeEvent, ChangeOp, Filter};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a watch matches: `where`, the caller's read rule, and the order.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The watch's `where`.
    pub where_: Filter,
    /// The caller's read rule as a filter (`Filter::True` for service callers).
    pub read: Filter,
    /// `orderBy` (`_id` ascending breaks ties).
    pub order: Vec<SortKey>,
}

impl Matcher {
    fn visible(&self, doc: &Value) -> bool {
        self.read.matches(doc)
    }
}

/// The position of a document in a window: its `orderBy` keys, then its `_id`. One shared
/// allocation for the keys (each part length-prefixed), so clones are reference counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocKey {
    parts: Arc<[u8]>,
    /// Bit i set: key i is descending.
    desc: u8,
    id: Arc<str>,
}

/// The next length-prefixed part of an encoded key.
fn next_part(b: &[u8]) -> (&[u8], &[u8]) {
    if b.len() < 4 {
        return (&[], &[]);
    }
    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = (4 + n).min(b.len());
    (&b[4..end], &b[end..])
}

impl DocKey {
    /// The key of `doc` (whose `_id` is `id`) under `order`, ordered exactly as queries order.
    pub fn of(doc: &Value, order: &[SortKey], id: Arc<str>) -> DocKey {
        let mut parts = Vec::with_capacity(order.len() * 16);
        let mut desc = 0u8;
        for (i, k) in order.iter().enumerate() {
            let part = sort_key_at(Some(doc), k.path.segments(), k.dir);
            parts.extend_from_slice(&(part.len() as u32).to_le_bytes());
            parts.extend_from_slice(&part);
            if k.dir == Direction::Desc && i < 8 {
                desc |= 1 << i;
            }
        }
        DocKey {
            parts: Arc::from(parts),
            desc,
            id,
        }
    }

    /// The document's `_id`.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }
}

impl Ord for DocKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (mut a, mut b) = (&self.parts[..], &other.parts[..]);
        let mut i = 0;
        while !a.is_empty() && !b.is_empty() {
            let (pa, ra) = next_part(a);
            let (pb, rb) = next_part(b);
            let o = if self.desc & (1 << i.min(7)) != 0 {
                pb.cmp(pa)
            } else {
                pa.cmp(pb)
            };
            if o != Ordering::Equal {
                return o;
            }
            (a, b, i) = (ra, rb, i + 1);
        }
        self.id.cmp(&other.id)
    }
}

impl PartialOrd for DocKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// CloudBase's `dataType`: what happened to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Created.
    Add,
    /// Changed by an update (`updatedFields` / `removedFields`).
    Update,
    /// Replaced wholesale (`set`).
    Replace,
    /// Deleted, or no longer readable by this caller.
    Remove,
    /// Unchanged itself: entered or left an `orderBy` + `limit` window because others moved.
    Limit,
}

impl DataType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Add => "add",
            DataType::Update => "update",
            DataType::Replace => "replace",
            DataType::Remove => "remove",
            DataType::Limit => "limit",
        }
    }

    fn of(op: ChangeOp) -> DataType {
        match op {
            ChangeOp::Add => DataType::Add,
            ChangeOp::Update => DataType::Update,
            ChangeOp::Replace => DataType::Replace,
            ChangeOp::Remove => DataType::Remove,
        }
    }
}

/// CloudBase's `queueType`: what happened to the watch's result list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// The document entered the result.
    Enqueue,
    /// The document stayed in the result (its content or position changed).
    Update,
    /// The document left the result.
    Dequeue,
}

impl QueueType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Enqueue => "enqueue",
            QueueType::Update => "update",
            QueueType::Dequeue => "dequeue",
        }
    }
}

/// One entry of a snapshot's `docChanges`.
#[derive(Debug, Clone)]
pub struct Change {
    /// `dataType`.
    pub data_type: DataType,
    /// `queueType`.
    pub queue_type: QueueType,
    /// `docId`.
    pub doc_id: Arc<str>,
    /// `doc` (JSON text), absent when the caller may not see the document any more.
    pub doc: Option<Bytes>,
    /// `updatedFields` (JSON object text), for `dataType: "update"`.
    pub updated: Option<Bytes>,
    /// `removedFields` (JSON array text), for `dataType: "update"`.
    pub removed: Option<Bytes>,
}

impl Change {
    fn bare(
        data_type: DataType,
        queue_type: QueueType,
        doc_id: Arc<str>,
        doc: Option<Bytes>,
    ) -> Change {
        Change {
            data_type,
            queue_type,
            doc_id,
            doc,
            updated: None,
            removed: None,
        }
    }
}

/// The JSON of one event, serialised at most once however many watches it reaches.
pub struct EventJson<'a> {
    ev: &'a ChangeEvent,
    id: Option<Arc<str>>,
    doc: Option<Bytes>,
    fields: Option<(Option<Bytes>, Option<Bytes>)>,
}

fn to_bytes(v: &impl serde::Serialize) -> Bytes {
    // Serialising a `Value` (or a map of them) to memory cannot fail.
    Bytes::from(serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec()))
}

impl<'a> EventJson<'a> {
    /// Wraps an event.
    pub fn new(ev: &'a ChangeEvent) -> Self {
        EventJson {
            ev,
            id: None,
            doc: None,
            fields: None,
        }
    }

    fn id(&mut self) -> Arc<str> {
        self.id
            .get_or_insert_with(|| Arc::from(self.ev.id.as_str()))
            .clone()
    }

    fn doc(&mut self) -> Option<Bytes> {
        if self.doc.is_none() {
            self.doc = self.ev.doc.as_ref().map(to_bytes);
        }
        self.doc.clone()
    }

    fn fields(&mut self) -> (Option<Bytes>, Option<Bytes>) {
        if self.ev.op != ChangeOp::Update {
            return (None, None);
        }
        let ev = self.ev;
        self.fields
            .get_or_insert_with(|| {
                (
                    ev.updated_fields.as_ref().map(to_bytes),
                    ev.removed_fields.as_ref().map(to_bytes),
                )
            })
            .clone()
    }

    /// The change of this event's document with its content (and fields for updates).
    fn change(&mut self, queue_type: QueueType) -> Change {
        let (updated, removed) = self.fields();
        Change {
            data_type: DataType::of(self.ev.op),
            queue_type,
            doc_id: self.id(),
            doc: self.doc(),
            updated,
            removed,
        }
    }
}

/// What [`Window::apply`] did.
#[derive(Debug)]
pub enum Applied {
    /// The window moved; these are the changes (possibly none).
    Changes(Vec<Change>),
    /// A document left a full window: refill from the database (the window is untouched).
    NeedRefill,
    /// A watch without `limit` would hold more documents than allowed (window untouched).
    TooMany,
}

/// The documents a watch currently shows.
#[derive(Debug, Clone)]
pub struct Window {
    entries: BTreeMap<DocKey, Bytes>,
    ids: HashMap<Arc<str>, DocKey>,
    /// Every matching document is in `entries` (false: more may exist past the last one).
    complete: bool,
    limit: usize,
    /// No explicit `limit`: going past it is an error, not a window shift.
    capped: bool,
}

impl Window {
    /// A window from a query's result, in query order. `capped` windows were queried with
    /// `limit + 1` and fail with `Err(())` when the result is larger than `limit`.
    pub fn from_docs(
        docs: Vec<Value>,
        m: &Matcher,
        limit: usize,
        capped: bool,
    ) -> Result<Window, TooMany> {
        if capped && docs.len() > limit {
            return Err(TooMany);
        }
        let complete = capped || docs.len() < limit;
        let mut w = Window {
            entries: BTreeMap::new(),
            ids: HashMap::with_capacity(docs.len()),
            complete,
            limit,
            capped,
        };
        for doc in docs {
            let Some(id) = doc.get("_id").and_then(Value::as_str) else {
                continue;
            };
            let id: Arc<str> = Arc::from(id);
            let key = DocKey::of(&doc, &m.order, id.clone());
            w.ids.insert(id, key.clone());
            w.entries.insert(key, to_bytes(&doc));
        }
        Ok(w)
    }

    /// Documents in the window.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `id` is in the window.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// The documents' JSON, in order.
    pub fn docs(&self) -> impl Iterator<Item = (&Arc<str>, &Bytes)> {
        self.entries.iter().map(|(k, v)| (&k.id, v))
    }

    /// Approximate bytes of JSON held.
    pub fn json_bytes(&self) -> usize {
        self.entries.values().map(|b| b.len() + 1).sum()
    }

    fn insert(&mut self, key: DocKey, json: Bytes) {
        self.ids.insert(key.id.clone(), key.clone());
        self.entries.insert(key, json);
    }

    fn remove(&mut self, key: &DocKey) -> Option<Bytes> {
        self.ids.remove(&key.id);
        self.entries.remove(key)
    }

    fn last_key(&self) -> Option<&DocKey> {
        self.entries.last_key_value().map(|(k, _)| k)
    }

    /// Moves the window by one committed change. See the module docs.
    pub fn apply(&mut self, ev: &ChangeEvent, m: &Matcher, enc: &mut EventJson<'_>) -> Applied {
        let old = self.ids.get(ev.id.as_str()).cloned();
        let (now_in, hidden) = match &ev.doc {
            None => (false, false),
            Some(d) => {
                let visible = m.visible(d);
                (visible && m.where_.matches(d), !visible)
            }
        };
        match (old, &ev.doc) {
            (None, Some(doc)) if now_in => {
                let key = DocKey::of(doc, &m.order, enc.id());
                if self.entries.len() < self.limit {
                    if !self.complete {
                        // Not reachable after a refill (an incomplete window is full); be safe.
                        return Applied::NeedRefill;
                    }
                    let change = enc.change(QueueType::Enqueue);
                    self.insert(key, change.doc.clone().unwrap_or_default());
                    return Applied::Changes(vec![change]);
                }
                if self.capped {
                    return Applied::TooMany;
                }
                let Some(last) = self.last_key() else {
                    return Applied::Changes(Vec::new());
                };
                if key > *last {
                    // Past the end of a full window: outside, and now known to exist.
                    self.complete = false;
                    return Applied::Changes(Vec::new());
                }
                let last = last.clone();
                let change = enc.change(QueueType::Enqueue);
                let pushed_out = self.remove(&last);
                self.insert(key, change.doc.clone().unwrap_or_default());
                self.complete = false;
                Applied::Changes(vec![
                    change,
                    Change::bare(
                        DataType::Limit,
                        QueueType::Dequeue,
                        last.id.clone(),
                        pushed_out,
                    ),
                ])
            }
            (None, _) => Applied::Changes(Vec::new()),
            (Some(old), _) if !now_in => {
                if !self.complete {
                    return Applied::NeedRefill;
                }
                let before = self.remove(&old);
                let change = if ev.op == ChangeOp::Remove {
                    Change::bare(DataType::Remove, QueueType::Dequeue, old.id.clone(), before)
                } else if hidden {
                    Change::bare(DataType::Remove, QueueType::Dequeue, old.id.clone(), None)
                } else {
                    enc.change(QueueType::Dequeue)
                };
                Applied::Changes(vec![change])
            }
            (Some(old), Some(doc)) => {
                let key = DocKey::of(doc, &m.order, old.id.clone());
                if !self.complete && key > old {
                    // Moving towards the end of a full window: documents outside may now
                    // come before it.
                    match self.last_key() {
                        Some(last) if *last != old && key < *last => {}
                        _ => return Applied::NeedRefill,
                    }
                }
                let change = enc.change(QueueType::Update);
                self.remove(&old);
                self.insert(key, change.doc.clone().unwrap_or_default());
                Applied::Changes(vec![change])
            }
            (Some(_), None) => Applied::Changes(Vec::new()), // unreachable: no doc means !now_in
        }
    }
}

/// A watch without `limit` matched more documents than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

/// Whether dotted path `p` is `prefix` or below it.
fn within(p: &str, prefix: &str) -> bool {
    p == prefix
        || (p.len() > prefix.len() && p.starts_with(prefix) && p.as_bytes()[prefix.len()] == b'.')
}

/// What the events of one document amount to, across several events.
#[derive(Debug, Clone)]
struct Attr {
    op: ChangeOp,
    updated: Map<String, Value>,
    removed: Vec<String>,
    last: Arc<ChangeEvent>,
}

impl Attr {
    fn merge_fields(&mut self, ev: &ChangeEvent) {
        if let Some(removed) = &ev.removed_fields {
            for r in removed {
                self.updated.retain(|k, _| !within(k, r));
                self.removed.retain(|x| !within(x, r));
                self.removed.push(r.clone());
            }
        }
        if let Some(updated) = &ev.updated_fields {
            for (k, v) in updated {
                self.removed.retain(|x| !within(x, k));
                self.updated.retain(|x, _| !within(x, k));
                self.updated.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The combined effect of two successive writes of one document, as a client sees it.
fn combine(prev: ChangeOp, next: ChangeOp) -> ChangeOp {
    use ChangeOp::*;
    match (prev, next) {
        (_, Remove) => Remove,
        (Add, _) => Add,
        (Update, Update) => Update,
        _ => Replace,
    }
}

/// Per document, the writes seen while a window was being refilled: which `dataType` each
/// difference gets. Bounded: past `cap` documents it gives up ([`Attribution::record`]
/// returns false) and the watch gets a fresh init snapshot instead of a diff.
#[derive(Debug, Default)]
pub struct Attribution {
    map: HashMap<Arc<str>, Attr>,
}

impl Attribution {
    /// Most documents tracked.
    pub const CAP: usize = 10_000;

    /// Records one event; false when over [`Attribution::CAP`].
    pub fn record(&mut self, ev: &Arc<ChangeEvent>) -> bool {
        if let Some(a) = self.map.get_mut(ev.id.as_str()) {
            a.op = combine(a.op, ev.op);
            match ev.op {
                ChangeOp::Update => a.merge_fields(ev),
                _ => {
                    a.updated.clear();
                    a.removed.clear();
                }
            }
            a.last = ev.clone();
            return true;
        }
        if self.map.len() >= Self::CAP {
            return false;
        }
        let mut a = Attr {
            op: ev.op,
            updated: Map::new(),
            removed: Vec::new(),
            last: ev.clone(),
        };
        a.merge_fields(ev);
        self.map.insert(Arc::from(ev.id.as_str()), a);
        true
    }

    fn change(&self, a: &Attr, queue_type: QueueType, id: &Arc<str>, doc: Option<Bytes>) -> Change {
        let data_type = match a.op {
            ChangeOp::Remove => DataType::Replace, // removed then re-created, as far as the window knows
            op => DataType::of(op),
        };
        let (updated, removed) = if a.op == ChangeOp::Update {
            (Some(to_bytes(&a.updated)), Some(to_bytes(&a.removed)))
        } else {
            (None, None)
        };
        Change {
            data_type,
            queue_type,
            doc_id: id.clone(),
            doc,
            updated,
            removed,
        }
    }
}

/// The changes from `old` to `new` (the same watch before and after a refill), each
/// attributed to the writes that caused it, or to the window shift (`limit`). Leaving
/// documents first (in `old` order), then staying ones, then entering ones (in `new` order).
pub fn diff(old: &Window, new: &Window, attrib: &Attribution, m: &Matcher) -> Vec<Change> {
    let mut out = Vec::new();
    for (key, json) in &old.entries {
        if new.ids.contains_key(&key.id) {
            continue;
        }
        let change = match attrib.map.get(&key.id) {
            None => Change::bare(
                DataType::Limit,
                QueueType::Dequeue,
                key.id.clone(),
                Some(json.clone()),
            ),
            Some(a) => match &a.last.doc {
                None => Change::bare(
                    DataType::Remove,
                    QueueType::Dequeue,
                    key.id.clone(),
                    Some(json.clone()),
                ),
                Some(d) if !m.visible(d) => {
                    Change::bare(DataType::Remove, QueueType::Dequeue, key.id.clone(), None)
                }
                Some(d) => attrib.change(a, QueueType::Dequeue, &key.id, Some(to_bytes(d))),
            },
        };
        out.push(change);
    }
    let mut entering = Vec::new();
    for (key, json) in &new.entries {
        let was_in = old.ids.contains_key(&key.id);
        match (was_in, attrib.map.get(&key.id)) {
            (true, None) => {}
            (true, Some(a)) => {
                out.push(attrib.change(a, QueueType::Update, &key.id, Some(json.clone())))
            }
            (false, None) => entering.push(Change::bare(
                DataType::Limit,
                QueueType::Enqueue,
                key.id.clone(),
                Some(json.clone()),
            )),
            (false, Some(a)) => {
                entering.push(attrib.change(a, QueueType::Enqueue, &key.id, Some(json.clone())))
            }
        }
    }
    out.extend(entering);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use docdb::filter::parse_order_by;
    use serde_json::json;

    fn matcher(where_: Value, read: Value, order: Value) -> Matcher {
        Matcher {
            where_: Filter::parse(&where_).unwrap(),
            read: Filter::parse(&read).unwrap(),
            order: parse_order_by(&order).unwrap(),
        }
    }

    fn ev(op: ChangeOp, id: &str, doc: Option<Value>) -> ChangeEvent {
        ChangeEvent {
            seq: 0,
            collection: "c".into(),
            id: id.into(),
            op,
            doc: doc.map(|mut d| {
                d["_id"] = json!(id);
                d
            }),
            updated_fields: None,
            removed_fields: None,
        }
    }

    fn ids(w: &Window) -> Vec<String> {
        w.docs().map(|(id, _)| id.to_string()).collect()
    }

    fn apply(w: &mut Window, e: &ChangeEvent, m: &Matcher) -> Applied {
        w.apply(e, m, &mut EventJson::new(e))
    }

    fn kinds(a: Applied) -> Vec<(String, &'static str, &'static str, bool)> {
        match a {
            Applied::Changes(cs) => cs
                .into_iter()
                .map(|c| {
                    (
                        c.doc_id.to_string(),
                        c.data_type.as_str(),
                        c.queue_type.as_str(),
                        c.doc.is_some(),
                    )
                })
                .collect(),
            other => panic!("expected changes, got {other:?}"),
        }
    }

    fn score_docs(n: &[(&str, i64)]) -> Vec<Value> {
        n.iter()
            .map(|(id, s)| json!({"_id": id, "score": s}))
            .collect()
    }

    #[test]
    fn keys_order_like_queries() {
        let order = parse_order_by(&json!([["score", "desc"], ["name", "asc"]])).unwrap();
        let docs = [
            json!({"_id": "a", "score": 1, "name": "x"}),
            json!({"_id": "b", "score": 3, "name": "y"}),
            json!({"_id": "c", "score": 3, "name": "a"}),
            json!({"_id": "d", "name": "z"}),
            json!({"_id": "e", "score": "text"}),
            json!({"_id": "f", "score": [0, 9]}),
        ];
        let mut by_key: Vec<&Value> = docs.iter().collect();
        by_key.sort_by_key(|d| DocKey::of(d, &order, Arc::from(d["_id"].as_str().unwrap())));
        let mut by_cmp: Vec<&Value> = docs.iter().collect();
        by_cmp.sort_by(|a, b| docdb::filter::compare_docs(a, b, &order));
        assert_eq!(by_key, by_cmp);
    }

    #[test]
    fn complete_window_add_update_remove() {
        let m = matcher(json!({"done": false}), Value::Null, Value::Null);
        let mut w =
            Window::from_docs(vec![json!({"_id": "a", "done": false})], &m, 10, false).unwrap();
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Add, "b", Some(json!({"done": false}))),
                &m
            )),
            [("b".into(), "add", "enqueue", true)]
        );
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Add, "z", Some(json!({"done": true}))),
                &m
            )),
            []
        );
        let mut up = ev(ChangeOp::Update, "a", Some(json!({"done": false, "n": 1})));
        up.updated_fields = Some(serde_json::from_value(json!({"n": 1})).unwrap());
        up.removed_fields = Some(vec![]);
        let Applied::Changes(cs) = apply(&mut w, &up, &m) else {
            panic!()
        };
        assert_eq!(
            (cs[0].data_type, cs[0].queue_type),
            (DataType::Update, QueueType::Update)
        );
        assert_eq!(cs[0].updated.as_deref(), Some(&br#"{"n":1}"#[..]));
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Update, "a", Some(json!({"done": true}))),
                &m
            )),
            [("a".into(), "update", "dequeue", true)]
        );
        assert_eq!(
            kinds(apply(&mut w, &ev(ChangeOp::Remove, "b", None), &m)),
            [("b".into(), "remove", "dequeue", true)]
        );
        assert!(w.is_empty());
    }

    #[test]
    fn hidden_documents_leave_without_content() {
        let m = matcher(Value::Null, json!({"_openid": "me"}), Value::Null);
        let mut w =
            Window::from_docs(vec![json!({"_id": "a", "_openid": "me"})], &m, 10, false).unwrap();
        // Given to someone else: a removal without content, whatever the write was.
        let moved = ev(
            ChangeOp::Replace,
            "a",
            Some(json!({"_openid": "other", "secret": 1})),
        );
        let Applied::Changes(cs) = apply(&mut w, &moved, &m) else {
            panic!()
        };
        assert_eq!(
            (cs[0].data_type, cs[0].queue_type),
            (DataType::Remove, QueueType::Dequeue)
        );
        assert!(cs[0].doc.is_none() && cs[0].updated.is_none());
        // Someone else's documents never show up.
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Add, "x", Some(json!({"_openid": "other"}))),
                &m
            )),
            []
        );
    }

    #[test]
    fn limit_window_shifts_and_refills() {
        let m = matcher(Value::Null, Value::Null, json!([["score", "desc"]]));
        let mut w = Window::from_docs(score_docs(&[("a", 9), ("b", 8)]), &m, 2, false).unwrap();
        // Beats the last: enters, pushes the last out.
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Add, "c", Some(json!({"score": 10}))),
                &m
            )),
            [
                ("c".into(), "add", "enqueue", true),
                ("b".into(), "limit", "dequeue", true)
            ]
        );
        assert_eq!(ids(&w), ["c", "a"]);
        // Past the end of a full window: nothing.
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Add, "d", Some(json!({"score": 1}))),
                &m
            )),
            []
        );
        // Moving up inside: an update of position.
        assert_eq!(
            kinds(apply(
                &mut w,
                &ev(ChangeOp::Update, "a", Some(json!({"score": 11}))),
                &m
            )),
            [("a".into(), "update", "update", true)]
        );
        assert_eq!(ids(&w), ["a", "c"]);
        // Leaving a full window, or moving to its end: the database must say what comes next.
        assert!(matches!(
            apply(&mut w, &ev(ChangeOp::Remove, "a", None), &m),
            Applied::NeedRefill
        ));
        assert!(matches!(
            apply(
                &mut w,
                &ev(ChangeOp::Update, "c", Some(json!({"score": 0}))),
                &m
            ),
            Applied::NeedRefill
        ));
        assert_eq!(ids(&w), ["a", "c"], "untouched when a refill is needed");
    }

    #[test]
    fn capped_windows_refuse_to_grow() {
        let m = matcher(Value::Null, Value::Null, Value::Null);
        assert_eq!(
            Window::from_docs(score_docs(&[("a", 1), ("b", 2), ("c", 3)]), &m, 2, true)
                .unwrap_err(),
            TooMany
        );
        let mut w = Window::from_docs(score_docs(&[("a", 1), ("b", 2)]), &m, 2, true).unwrap();
        assert!(matches!(
            apply(&mut w, &ev(ChangeOp::Add, "c", Some(json!({}))), &m),
            Applied::TooMany
        ));
        assert_eq!(
            kinds(apply(&mut w, &ev(ChangeOp::Remove, "a", None), &m)),
            [("a".into(), "remove", "dequeue", true)]
        );
    }

    #[test]
    fn diff_attributes_changes() {
        let m = matcher(
            Value::Null,
            json!({"_openid": "me"}),
            json!([["score", "desc"]]),
        );
        let doc = |id: &str, s: i64| json!({"_id": id, "_openid": "me", "score": s});
        let old =
            Window::from_docs(vec![doc("a", 9), doc("b", 8), doc("c", 7)], &m, 3, false).unwrap();
        let new =
            Window::from_docs(vec![doc("b", 10), doc("c", 7), doc("d", 6)], &m, 3, false).unwrap();
        let mut at = Attribution::default();
        let mut up = ev(ChangeOp::Update, "b", Some(doc("b", 10)));
        up.updated_fields = Some(serde_json::from_value(json!({"score": 10, "x.y": 1})).unwrap());
        at.record(&Arc::new(up));
        let mut up2 = ev(ChangeOp::Update, "b", Some(doc("b", 10)));
        up2.removed_fields = Some(vec!["x".into()]);
        at.record(&Arc::new(up2));
        at.record(&Arc::new(ev(ChangeOp::Remove, "a", None)));
        let cs = diff(&old, &new, &at, &m);
        let k: Vec<_> = cs
            .iter()
            .map(|c| {
                (
                    c.doc_id.to_string(),
                    c.data_type.as_str(),
                    c.queue_type.as_str(),
                )
            })
            .collect();
        assert_eq!(
            k,
            [
                ("a".into(), "remove", "dequeue"),
                ("b".into(), "update", "update"),
                ("d".into(), "limit", "enqueue")
            ]
        );
        assert_eq!(cs[1].updated.as_deref(), Some(&br#"{"score":10}"#[..]));
        assert_eq!(cs[1].removed.as_deref(), Some(&br#"["x"]"#[..]));
        // A document that became invisible leaves without content.
        let mut at = Attribution::default();
        at.record(&Arc::new(ev(
            ChangeOp::Replace,
            "a",
            Some(json!({"_openid": "other"})),
        )));
        let new =
            Window::from_docs(vec![doc("b", 8), doc("c", 7), doc("d", 6)], &m, 3, false).unwrap();
        let cs = diff(&old, &new, &at, &m);
        assert_eq!(
            (cs[0].data_type, cs[0].doc.is_none()),
            (DataType::Remove, true)
        );
    }

    #[test]
    fn field_paths_nest() {
        assert!(
            within("a.b", "a") && within("a", "a") && !within("ab", "a") && !within("a", "a.b")
        );
        assert_eq!(combine(ChangeOp::Add, ChangeOp::Update), ChangeOp::Add);
        assert_eq!(
            combine(ChangeOp::Update, ChangeOp::Replace),
            ChangeOp::Replace
        );
        assert_eq!(
            combine(ChangeOp::Replace, ChangeOp::Remove),
            ChangeOp::Remove
        );
    }
}
