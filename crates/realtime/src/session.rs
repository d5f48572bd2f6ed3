//! What one connection's client messages turn into: `watch` requests validated against the
//! caller's rules and the limits (on the connection's own task, so parsing runs in parallel
//! with the dispatcher), `unwatch`, and `ping`.

use crate::RealtimeOptions;
use crate::hub::{Cmd, ConnId, WatchSpec};
use crate::outbox::{Out, Outbox};
use crate::protocol::{self, BadMessage, ClientMessage, WatchRequest};
use crate::window::Matcher;
use docdb::filter::parse_order_by;
use docdb::{Database, Filter, QueryRequest};
use mb_core::{ApiError, Caller};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One connection's view of the realtime area.
pub(crate) struct Session {
    pub conn: ConnId,
    pub caller: Caller,
    pub db: Database,
    pub opts: Arc<RealtimeOptions>,
    pub outbox: Arc<Outbox>,
    pub tx: mpsc::Sender<Cmd>,
}

impl Session {
    fn reply_error(&self, id: Option<&str>, e: &ApiError) {
        let _ = self.outbox.push(Out::from(protocol::error_frame(id, e)));
    }

    /// Handles one text frame. `Err` when the dispatcher is gone (shutting down).
    pub(crate) async fn on_text(&self, text: &str) -> Result<(), ()> {
        match protocol::parse(text) {
            Err(BadMessage { id, error }) => self.reply_error(id.as_deref(), &error),
            Ok(ClientMessage::Ping) => {
                let _ = self.outbox.push(Out::from(protocol::pong()));
            }
            Ok(ClientMessage::Pong) => {}
            Ok(ClientMessage::Unwatch { id }) => {
                self.tx
                    .send(Cmd::Unwatch {
                        conn: self.conn,
                        id,
                    })
                    .await
                    .map_err(|_| ())?;
            }
            Ok(ClientMessage::Watch(req)) => {
                match prepare(&self.db, &self.opts, &self.caller, *req) {
                    Ok(spec) => self
                        .tx
                        .send(Cmd::Watch {
                            conn: self.conn,
                            spec: Box::new(spec),
                        })
                        .await
                        .map_err(|_| ())?,
                    Err(BadMessage { id, error }) => self.reply_error(id.as_deref(), &error),
                }
            }
        }
        Ok(())
    }
}

/// Validates a watch request for `caller`: collection and read rule, `where`, `orderBy`,
/// `limit`; builds the group key and the database query.
pub(crate) fn prepare(
    db: &Database,
    opts: &RealtimeOptions,
    caller: &Caller,
    req: WatchRequest,
) -> Result<WatchSpec, BadMessage> {
    let id = req.id;
    let fail = |error: ApiError| BadMessage {
        id: Some(id.clone()),
        error,
    };
    let read = db
        .read_filter(caller, &req.collection)
        .map_err(|e| fail(ApiError::from(e)))?;
    if matches!(read, Filter::False) {
        return Err(fail(ApiError::denied(format!(
            "the read rule of {} lets this caller see no document{}",
            req.collection,
            if matches!(caller, Caller::Anonymous) {
                " (sign in first)"
            } else {
                ""
            }
        ))));
    }
    let where_ = Filter::parse_with_depth(&req.where_, db.limits().depth)
        .map_err(|e| fail(ApiError::from(e)))?;
    let order = parse_order_by(&req.order_by).map_err(|e| fail(ApiError::from(e)))?;
    let max = opts.max_docs_per_watch;
    let (limit, capped) = match &req.limit {
        Value::Null => (max, true),
        v => match v.as_u64() {
            Some(n) if n >= 1 && n <= max as u64 => (n as usize, false),
            _ => {
                return Err(fail(ApiError::invalid(format!(
                    "watch: limit must be an integer from 1 to {max}"
                ))));
            }
        },
    };
    let query = QueryRequest {
        where_: where_.to_json(),
        order_by: req.order_by.clone(),
        skip: Value::Null,
        limit: json!(limit + usize::from(capped)),
        field: Value::Null,
    };
    // Equal keys see equal documents and equal visibility: the rule is kept apart from
    // `where` so that a document hidden by the rule never shows for anyone in the group.
    let key = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}{}",
        req.collection,
        where_.to_json(),
        read.to_json(),
        req.order_by,
        limit,
        if capped { "c" } else { "w" }
    );
    Ok(WatchSpec {
        id: Arc::from(id.as_str()),
        collection: req.collection,
        matcher: Matcher {
            where_,
            read,
            order,
        },
        limit,
        capped,
        key,
        query,
    })
}
