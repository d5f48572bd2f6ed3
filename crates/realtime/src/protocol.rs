//! The messages of `GET /api/realtime` (API.md §4): parsing what clients send, and writing
//! what the server sends as JSON text built from pre-serialised pieces.
//!
//! Client → server: `watch`, `unwatch`, `ping`, `pong`. Server → client: `snapshot` (init and
//! changes), `error`, `pong`. A snapshot frame is `prefix + body`: the prefix
//! `{"type":"snapshot","id":"w1",` is per watch, the body (`"docs":[…],"docChanges":[…]}`)
//! is built once per change and shared by every watch of the same query.

use crate::window::{Change, Window};
use bytes::BufMut;
use mb_core::ApiError;
use serde_json::{Map, Value};

/// Longest watch id accepted.
pub const MAX_ID_LEN: usize = 128;

/// A parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Start a watch.
    Watch(Box<WatchRequest>),
    /// Stop a watch.
    Unwatch {
        /// The watch's id.
        id: String,
    },
    /// Application-level keepalive; answered with `{"type":"pong"}`.
    Ping,
    /// Answer to a ping (ignored).
    Pong,
}

/// `{"type":"watch","id","collection","where","orderBy","limit"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchRequest {
    /// Chosen by the client; echoed in every frame of this watch.
    pub id: String,
    /// Collection name.
    pub collection: String,
    /// `where` (`null` = everything).
    pub where_: Value,
    /// `orderBy` (`null` = by `_id`).
    pub order_by: Value,
    /// `limit` (`null` = no limit: at most `max_docs_per_watch` documents, or an error).
    pub limit: Value,
}

/// Why a client message was refused, and the watch id it named, if any.
#[derive(Debug, Clone)]
pub struct BadMessage {
    /// The `id` of the message when it had a usable one.
    pub id: Option<String>,
    /// What is wrong.
    pub error: ApiError,
}

fn bad(id: Option<&str>, msg: impl Into<String>) -> BadMessage {
    BadMessage {
        id: id.map(str::to_string),
        error: ApiError::invalid(msg.into()),
    }
}

fn take_id(m: &Map<String, Value>, kind: &str) -> Result<String, BadMessage> {
    match m.get("id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_LEN => Ok(s.clone()),
        Some(Value::String(_)) => Err(bad(
            None,
            format!("{kind}: id must be 1 to {MAX_ID_LEN} bytes"),
        )),
        Some(_) => Err(bad(None, format!("{kind}: id must be a string"))),
        None => Err(bad(None, format!("{kind}: id is required"))),
    }
}

fn only_keys(
    m: &Map<String, Value>,
    allowed: &[&str],
    kind: &str,
    id: Option<&str>,
) -> Result<(), BadMessage> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(
            id,
            format!(
                "{kind}: unknown field {k:?} (expected {})",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientMessage, BadMessage> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| bad(None, format!("malformed JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(bad(None, "a message must be a JSON object with a \"type\""));
    };
    let kind = match m.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(bad(None, "type must be a string")),
        None => return Err(bad(None, "type is required (watch, unwatch, ping, pong)")),
    };
    match kind {
        "watch" => {
            let id = take_id(&m, "watch")?;
            only_keys(
                &m,
                &["type", "id", "collection", "where", "orderBy", "limit"],
                "watch",
                Some(&id),
            )?;
            let collection = match m.get("collection") {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(bad(Some(&id), "watch: collection must be a string")),
                None => return Err(bad(Some(&id), "watch: collection is required")),
            };
            let get = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
            Ok(ClientMessage::Watch(Box::new(WatchRequest {
                id,
                collection,
                where_: get("where"),
                order_by: get("orderBy"),
                limit: get("limit"),
            })))
        }
        "unwatch" => {
            let id = take_id(&m, "unwatch")?;
            only_keys(&m, &["type", "id"], "unwatch", Some(&id))?;
            Ok(ClientMessage::Unwatch { id })
        }
        "ping" => Ok(ClientMessage::Ping),
        "pong" => Ok(ClientMessage::Pong),
        other => {
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| s.len() <= MAX_ID_LEN);
            Err(bad(
                id,
                format!("unknown message type {other:?} (watch, unwatch, ping, pong)"),
            ))
        }
    }
}

/// `{"type":"pong"}`.
pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_string()
}

/// The text of a frame built from valid UTF-8 pieces (JSON text and ASCII).
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn put_json(out: &mut Vec<u8>, v: &impl serde::Serialize) {
    // Strings and maps of `Value`s always serialise.
    if let Ok(b) = serde_json::to_vec(v) {
        out.put_slice(&b);
    }
}

/// `{"type":"error","id":…,"error":{"code","message"}}` (no `id` when the frame had none).
pub fn error_frame(id: Option<&str>, error: &ApiError) -> String {
    let mut out = Vec::with_capacity(96 + error.message.len());
    out.put_slice(br#"{"type":"error","#);
    if let Some(id) = id {
        out.put_slice(br#""id":"#);
        put_json(&mut out, &id);
        out.put_u8(b',');
    }
    out.put_slice(br#""error":{"code":"#);
    put_json(&mut out, &error.code.as_str());
    out.put_slice(br#","message":"#);
    put_json(&mut out, &error.message);
    out.put_slice(b"}}");
    into_string(out)
}

/// The per-watch start of a snapshot frame: `{"type":"snapshot","id":"w1",`.
pub fn snapshot_prefix(id: &str) -> String {
    let mut out = Vec::with_capacity(32 + id.len());
    out.put_slice(br#"{"type":"snapshot","id":"#);
    put_json(&mut out, &id);
    out.put_u8(b',');
    into_string(out)
}

fn put_docs(out: &mut Vec<u8>, w: &Window) {
    out.put_slice(br#""docs":["#);
    for (i, (_, json)) in w.docs().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(json);
    }
    out.put_u8(b']');
}

/// The shared part of an init snapshot: `"snapshotType":"init","docs":[…],"docChanges":[…]}`.
pub fn init_body(w: &Window) -> String {
    let mut out = Vec::with_capacity(64 + w.json_bytes() * 2 + w.len() * 64);
    out.put_slice(br#""snapshotType":"init","#);
    put_docs(&mut out, w);
    out.put_slice(br#","docChanges":["#);
    for (i, (id, json)) in w.docs().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(br#"{"dataType":"init","queueType":"init","docId":"#);
        put_json(&mut out, &id.as_ref());
        out.put_slice(br#","doc":"#);
        out.put_slice(json);
        out.put_u8(b'}');
    }
    out.put_slice(b"]}");
    into_string(out)
}

/// The shared part of a change snapshot: `"docs":[…],"docChanges":[…]}`.
pub fn change_body(w: &Window, changes: &[Change]) -> String {
    let extra: usize = changes
        .iter()
        .map(|c| 96 + c.doc.as_ref().map_or(0, |d| d.len()))
        .sum();
    let mut out = Vec::with_capacity(32 + w.json_bytes() + extra);
    put_docs(&mut out, w);
    out.put_slice(br#","docChanges":["#);
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(br#"{"dataType":""#);
        out.put_slice(c.data_type.as_str().as_bytes());
        out.put_slice(br#"","queueType":""#);
        out.put_slice(c.queue_type.as_str().as_bytes());
        out.put_slice(br#"","docId":"#);
        put_json(&mut out, &c.doc_id.as_ref());
        if let Some(doc) = &c.doc {
            out.put_slice(br#","doc":"#);
            out.put_slice(doc);
        }
        if let Some(u) = &c.updated {
            out.put_slice(br#","updatedFields":"#);
            out.put_slice(u);
        }
        if let Some(r) = &c.removed {
            out.put_slice(br#","removedFields":"#);
            out.put_slice(r);
        }
        out.put_u8(b'}');
    }
    out.put_slice(b"]}");
    into_string(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{EventJson, Matcher, Window};
    use docdb::{ChangeEvent, ChangeOp, Filter};
    use serde_json::json;

    #[test]
    fn parses_the_four_messages() {
        let w = parse(r#"{"type":"watch","id":"w1","collection":"todos","where":{"a":1},"orderBy":[["a","desc"]],"limit":5}"#).unwrap();
        assert_eq!(
            w,
            ClientMessage::Watch(Box::new(WatchRequest {
                id: "w1".into(),
                collection: "todos".into(),
                where_: json!({"a": 1}),
                order_by: json!([["a", "desc"]]),
                limit: json!(5),
            }))
        );
        assert_eq!(
            parse(r#"{"type":"unwatch","id":"w1"}"#).unwrap(),
            ClientMessage::Unwatch { id: "w1".into() }
        );
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientMessage::Ping);
        assert_eq!(parse(r#"{"type":"pong"}"#).unwrap(), ClientMessage::Pong);
    }

    #[test]
    fn refuses_bad_messages_with_the_id_when_known() {
        for (text, id, needle) in [
            ("{", None, "malformed JSON"),
            ("[1]", None, "JSON object"),
            (r#"{"id":"w"}"#, None, "type is required"),
            (
                r#"{"type":"watch","collection":"t"}"#,
                None,
                "id is required",
            ),
            (
                r#"{"type":"watch","id":7,"collection":"t"}"#,
                None,
                "id must be a string",
            ),
            (
                r#"{"type":"watch","id":"w1"}"#,
                Some("w1"),
                "collection is required",
            ),
            (
                r#"{"type":"watch","id":"w1","collection":"t","skip":1}"#,
                Some("w1"),
                "unknown field \"skip\"",
            ),
            (
                r#"{"type":"subscribe","id":"w2"}"#,
                Some("w2"),
                "unknown message type",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.id.as_deref(), id, "{text}");
            assert!(
                e.error.message.contains(needle),
                "{text}: {}",
                e.error.message
            );
        }
    }

    #[test]
    fn frames_are_valid_json() {
        let e: Value =
            serde_json::from_str(&error_frame(Some("w\"1"), &ApiError::denied("no \"way\"")))
                .unwrap();
        assert_eq!(
            e,
            json!({"type": "error", "id": "w\"1", "error": {"code": "PERMISSION_DENIED", "message": "no \"way\""}})
        );
        let m = Matcher {
            where_: Filter::True,
            read: Filter::True,
            order: vec![],
        };
        let mut w = Window::from_docs(vec![json!({"_id": "a", "n": 1})], &m, 10, false).unwrap();
        let frame = snapshot_prefix("w1") + &init_body(&w);
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"type": "snapshot", "id": "w1", "snapshotType": "init", "docs": [{"_id": "a", "n": 1}],
                   "docChanges": [{"dataType": "init", "queueType": "init", "docId": "a", "doc": {"_id": "a", "n": 1}}]})
        );
        let ev = ChangeEvent {
            seq: 1,
            collection: "c".into(),
            id: "a".into(),
            op: ChangeOp::Update,
            doc: Some(json!({"_id": "a", "n": 2})),
            updated_fields: Some(serde_json::from_value(json!({"n": 2})).unwrap()),
            removed_fields: Some(vec!["old".into()]),
        };
        let crate::window::Applied::Changes(cs) = w.apply(&ev, &m, &mut EventJson::new(&ev)) else {
            panic!()
        };
        let frame = snapshot_prefix("w1") + &change_body(&w, &cs);
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"type": "snapshot", "id": "w1", "docs": [{"_id": "a", "n": 2}],
                   "docChanges": [{"dataType": "update", "queueType": "update", "docId": "a", "doc": {"_id": "a", "n": 2},
                                   "updatedFields": {"n": 2}, "removedFields": ["old"]}]})
        );
    }
}
