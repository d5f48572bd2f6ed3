//! The change bus: every committed write publishes a [`ChangeEvent`], in commit order, for
//! the realtime area (`watch`) and anyone else who wants to react to data changes.
//!
//! Writes from every caller (users, service, functions, Minibase itself) go through the one
//! writer, which publishes after its transaction commits, so subscribers never see a change
//! that could still be rolled back, and see the changes of one document in commit order.
//!
//! [`ChangeBus`] is a small trait: [`LocalBus`] (in-process, a bounded broadcast) is the
//! implementation for one machine; a Redis or PostgreSQL LISTEN/NOTIFY one can implement the
//! same two methods for many. A subscriber that falls more than the bus capacity behind gets
//! [`RecvError::Lagged`] and must resynchronise (realtime re-queries its watches).

use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::broadcast;

/// What a write did to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Created (POST docs, or PUT of a new id).
    Add,
    /// Changed by an update (PATCH, bulk update): `updated_fields` / `removed_fields` say how.
    Update,
    /// Replaced wholesale (PUT of an existing id).
    Replace,
    /// Deleted.
    Remove,
}

impl ChangeOp {
    /// The realtime wire spelling (`dataType`): `add`, `update`, `replace`, `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Add => "add",
            ChangeOp::Update => "update",
            ChangeOp::Replace => "replace",
            ChangeOp::Remove => "remove",
        }
    }
}

/// One committed change of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// Position in the global commit order (increasing, gaps possible).
    pub seq: u64,
    /// Collection name.
    pub collection: String,
    /// The document's `_id`.
    pub id: String,
    /// What happened.
    pub op: ChangeOp,
    /// The full document after the change (`None` for [`ChangeOp::Remove`]).
    pub doc: Option<Value>,
    /// For [`ChangeOp::Update`]: dotted paths set, with their new values.
    pub updated_fields: Option<Map<String, Value>>,
    /// For [`ChangeOp::Update`]: dotted paths removed.
    pub removed_fields: Option<Vec<String>>,
}

/// Why [`ChangeReceiver::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This many events were dropped because the subscriber was too slow; resynchronise.
    Lagged(u64),
    /// The bus is gone (shutdown).
    Closed,
}

/// A subscription: a bounded stream of events.
pub struct ChangeReceiver {
    rx: broadcast::Receiver<Arc<ChangeEvent>>,
}

impl ChangeReceiver {
    /// Wraps a broadcast receiver (for other [`ChangeBus`] implementations).
    pub fn from_broadcast(rx: broadcast::Receiver<Arc<ChangeEvent>>) -> Self {
        ChangeReceiver { rx }
    }

    /// The next event.
    pub async fn recv(&mut self) -> Result<Arc<ChangeEvent>, RecvError> {
        match self.rx.recv().await {
            Ok(e) => Ok(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(RecvError::Closed),
        }
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Result<Option<Arc<ChangeEvent>>, RecvError> {
        match self.rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
        }
    }
}

/// Where committed changes are published.
pub trait ChangeBus: Send + Sync + 'static {
    /// Publishes events of one commit, in order. Must not block.
    fn publish(&self, events: Vec<Arc<ChangeEvent>>);
    /// A new subscription, starting with the next published event.
    fn subscribe(&self) -> ChangeReceiver;
}

/// The in-process bus: a bounded broadcast channel.
pub struct LocalBus {
    tx: broadcast::Sender<Arc<ChangeEvent>>,
}

impl LocalBus {
    /// A bus keeping at most `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        LocalBus { tx }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus::new(8192)
    }
}

impl ChangeBus for LocalBus {
    fn publish(&self, events: Vec<Arc<ChangeEvent>>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for e in events {
            let _ = self.tx.send(e);
        }
    }

    fn subscribe(&self) -> ChangeReceiver {
        ChangeReceiver {
            rx: self.tx.subscribe(),
        }
    }
}
