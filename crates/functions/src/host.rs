//! What a function can reach outside its instance, as small traits the server implements over
//! the other areas (the binding points), and the dispatch of `hostCall(op, args)` from
//! `cloud.js` to them.
//!
//! | op | from | binding |
//! |---|---|---|
//! | `db.*` | `cloud.database()` | [`Database`] (docdb, rules bypassed) |
//! | `storage.*` | `cloud.uploadFile/downloadFile/getTempFileURL/deleteFile` | [`Files`] |
//! | `openapi` | `cloud.openapi.<ns>.<method>(args)` | [`OpenApi`] |
//! | `pay` | `cloud.pay.<method>(args)` | [`Pay`] |
//! | `fetch` | `fetch()`, `cloud.fetch()` | [`crate::fetch::FetchClient`] (SSRF-safe) |
//! | `callFunction` | `cloud.callFunction` | the function manager itself |
//!
//! A binding that is not configured answers a clear `UNAVAILABLE` error inside the function
//! (`cloud.uploadFile is not available: …`). Arguments and results are JSON in the wire shapes
//! of API.md §3; bytes travel as `{"$bytes": "<base64>"}` (see [`bytes_value`]).

use crate::fetch::{FetchClient, FetchRequest};
use async_trait::async_trait;
use base64::Engine as _;
use mb_core::{ApiError, Caller, ErrorCode};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// An error a host call hands back to the function, where it becomes a JavaScript `Error` with
/// `code` (our stable code), `errCode` and `errMsg` (CloudBase's names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostError {
    /// Our stable code, e.g. `CONFLICT`.
    pub code: ErrorCode,
    /// Human-readable message (safe to show: no internals).
    pub message: String,
    /// The upstream's own code (WeChat `errcode`), or -1.
    #[serde(rename = "errCode")]
    pub errcode: i64,
}

impl HostError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HostError {
            code,
            message: message.into(),
            errcode: -1,
        }
    }
    /// `INVALID_ARGUMENT`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// `UNAVAILABLE`: a binding that is not configured.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    pub(crate) fn to_js_json(&self) -> String {
        json!({ "code": self.code.as_str(), "message": self.message, "errCode": self.errcode })
            .to_string()
    }
}

impl From<ApiError> for HostError {
    /// Keeps the code and message; an upstream's errcode becomes `errCode`. (`ApiError`'s
    /// internal errors already carry only a generic message.)
    fn from(e: ApiError) -> Self {
        HostError {
            code: e.code,
            message: e.message.into_owned(),
            errcode: e.upstream.and_then(|u| u.errcode).unwrap_or(-1),
        }
    }
}

/// `{"$bytes": base64}`: how bytes travel in host-call JSON (a `Buffer` inside the function).
pub fn bytes_value(bytes: &[u8]) -> Value {
    json!({ "$bytes": base64::engine::general_purpose::STANDARD.encode(bytes) })
}

/// The bytes of a `{"$bytes": base64}` value.
pub fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    let s = v.as_object()?.get("$bytes")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A query as `cloud.database()` sends it: API.md §3 `where`, `orderBy`, `skip`, `limit`, `field`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The `where` object (possibly `{}`).
    pub r#where: Value,
    /// `[["field","asc"|"desc"], …]`.
    pub order_by: Vec<(String, String)>,
    /// Documents to skip.
    pub skip: Option<u64>,
    /// At most this many (the SDK always sends one: 100 by default, ≤ 1000).
    pub limit: Option<u64>,
    /// Projection.
    pub field: Option<Value>,
}

/// The document database as functions see it: CloudBase admin rights (rules bypassed), wire
/// shapes of API.md §3. Implemented over docdb by the server.
#[async_trait]
pub trait Database: Send + Sync {
    /// `collection.where(...).orderBy(...).skip(...).limit(...).field(...).get()`: the documents.
    async fn query(&self, collection: &str, query: Query) -> Result<Vec<Value>, HostError>;
    /// [`Database::query`] as the JSON text of the documents' array. The default serialises
    /// what `query` returns; a binding that holds the documents as JSON text already answers
    /// it without a parse/serialise round trip.
    async fn query_json(&self, collection: &str, query: Query) -> Result<String, HostError> {
        let docs = self.query(collection, query).await?;
        serde_json::to_string(&docs)
            .map_err(|e| HostError::new(ErrorCode::Internal, format!("result JSON: {e}")))
    }
    /// `.count()`: how many match.
    async fn count(&self, collection: &str, r#where: Value) -> Result<u64, HostError>;
    /// `.doc(id).get()`: the document, if any (projected by `field`).
    async fn get(
        &self,
        collection: &str,
        id: &str,
        field: Option<Value>,
    ) -> Result<Option<Value>, HostError>;
    /// `.add({data})`: the new `_id`.
    async fn add(&self, collection: &str, doc: Value) -> Result<String, HostError>;
    /// `.doc(id).set({data})`: replace or create; whether it was created.
    async fn set(&self, collection: &str, id: &str, doc: Value) -> Result<bool, HostError>;
    /// `.doc(id).update({data})`: 0 or 1.
    async fn update_doc(&self, collection: &str, id: &str, update: Value)
    -> Result<u64, HostError>;
    /// `.doc(id).remove()`: 0 or 1.
    async fn remove_doc(&self, collection: &str, id: &str) -> Result<u64, HostError>;
    /// `.where(...).update({data})`: how many were updated.
    async fn update(
        &self,
        collection: &str,
        r#where: Value,
        update: Value,
    ) -> Result<u64, HostError>;
    /// `.where(...).remove()`: how many were removed.
    async fn remove(&self, collection: &str, r#where: Value) -> Result<u64, HostError>;
}

/// Files as functions see them (`cloud.uploadFile` & co., admin rights).
#[async_trait]
pub trait Files: Send + Sync {
    /// Stores `content` at `cloud_path`; the `fileID` (`mb://…`).
    async fn upload(&self, cloud_path: &str, content: Vec<u8>) -> Result<String, HostError>;
    /// The bytes of a file.
    async fn download(&self, file_id: &str) -> Result<Vec<u8>, HostError>;
    /// `[{fileID, maxAge?}]` → `[{fileID, tempFileURL, status, errMsg, maxAge}]` as API.md §5.
    async fn temp_urls(&self, files: Vec<(String, Option<u64>)>) -> Result<Vec<Value>, HostError>;
    /// `[fileID]` → `[{fileID, status, errMsg}]`.
    async fn delete(&self, file_ids: Vec<String>) -> Result<Vec<Value>, HostError>;
}

/// WeChat open APIs (`cloud.openapi.security.msgSecCheck(args)` calls
/// `call("security.msgSecCheck", args)`), with CloudBase's camelCase arguments and results.
/// Binary results (`wxacode.getUnlimited`) put the image in `buffer` as [`bytes_value`].
#[async_trait]
pub trait OpenApi: Send + Sync {
    /// Calls one API.
    async fn call(&self, api: &str, args: Value) -> Result<Value, HostError>;
}

/// WeChat Pay for functions (`cloud.pay.createOrder(args)` calls `call("createOrder", args)`):
/// the bodies and answers of API.md §8.
#[async_trait]
pub trait Pay: Send + Sync {
    /// Calls one method.
    async fn call(&self, method: &str, args: Value) -> Result<Value, HostError>;
}

/// Makes one timer tick fire once across several Minibase servers sharing a database.
#[async_trait]
pub trait TimerLease: Send + Sync {
    /// Claims tick `tick_ms` of `timer` (`function:trigger`): `true` for exactly one claimant.
    async fn claim(&self, timer: &str, tick_ms: i64) -> bool;
}

/// The bindings a function manager is given. `None` = that area is not available.
#[derive(Clone, Default)]
pub struct Services {
    /// Once-per-cluster timer ticks; `None` = this server fires every tick itself.
    pub lease: Option<Arc<dyn TimerLease>>,
    /// `cloud.database()`.
    pub database: Option<Arc<dyn Database>>,
    /// `cloud.uploadFile` & co.
    pub files: Option<Arc<dyn Files>>,
    /// `cloud.openapi`.
    pub openapi: Option<Arc<dyn OpenApi>>,
    /// `cloud.pay`.
    pub pay: Option<Arc<dyn Pay>>,
}

/// Who is running: what a host call needs to know about its invocation.
#[derive(Debug, Clone)]
pub(crate) struct OpContext {
    pub name: String,
    pub caller: Caller,
    pub request_id: String,
    pub source: String,
    pub client_ip: Option<std::net::IpAddr>,
    pub depth: u32,
    pub openid: Option<String>,
    pub remaining: std::time::Duration,
}

/// The collection and [`Query`] of a `db.query` call.
fn query_args(args: &Value) -> Result<(String, Query), HostError> {
    let coll = args
        .get("collection")
        .and_then(Value::as_str)
        .ok_or_else(|| HostError::invalid("'collection' must be a string"))?
        .to_owned();
    let order_by = match args.get("orderBy") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                let f = i.get(0).and_then(|x| x.as_str());
                let d = i.get(1).and_then(|x| x.as_str());
                match (f, d) {
                    (Some(f), Some(d)) => Ok((f.to_owned(), d.to_owned())),
                    _ => Err(HostError::invalid(
                        "orderBy must be [[field, 'asc'|'desc'], …]",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let q = Query {
        r#where: args.get("where").cloned().unwrap_or_else(|| json!({})),
        order_by,
        skip: args.get("skip").and_then(Value::as_u64),
        limit: args.get("limit").and_then(Value::as_u64),
        field: args.get("field").cloned(),
    };
    Ok((coll, q))
}

/// Whether `op` only reaches the database (whose calls need no async runtime to be polled:
/// the instance thread polls them itself, see `worker.rs`).
pub(crate) fn is_database_op(op: &str) -> bool {
    op.starts_with("db.")
}

/// Runs one host call; the JSON text of its answer. A query's documents go from the binding's
/// JSON text into the answer without being parsed ([`Database::query_json`]).
pub(crate) async fn dispatch_json(
    services: &Services,
    fetch: &FetchClient,
    manager: Option<crate::Functions>,
    op: &str,
    args: Value,
    cx: OpContext,
) -> Result<String, HostError> {
    if op == "db.query" {
        let (coll, q) = query_args(&args)?;
        tracing::trace!(function = %cx.name, op, "host call");
        let docs = database(services)?.query_json(&coll, q).await?;
        let mut out = String::with_capacity(docs.len() + 9);
        out.push_str("{\"data\":");
        out.push_str(&docs);
        out.push('}');
        return Ok(out);
    }
    dispatch(services, fetch, manager, op, args, cx)
        .await
        .map(|v| v.to_string())
}

/// The database binding, or why functions cannot reach one.
fn database(services: &Services) -> Result<Arc<dyn Database>, HostError> {
    services
        .database
        .clone()
        .ok_or_else(|| HostError::unavailable("cloud.database() is not available on this server"))
}

/// Runs one host call other than `db.query` (which [`dispatch_json`] answers as text).
/// `manager` is used for `callFunction`.
async fn dispatch(
    services: &Services,
    fetch: &FetchClient,
    manager: Option<crate::Functions>,
    op: &str,
    args: Value,
    cx: OpContext,
) -> Result<Value, HostError> {
    let s = |v: &Value, k: &str| -> Result<String, HostError> {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or_else(|| HostError::invalid(format!("'{k}' must be a string")))
    };
    let db = || database(services);
    let files = || {
        services.files.clone().ok_or_else(|| {
            HostError::unavailable("cloud file APIs are not available: storage is not configured")
        })
    };
    tracing::trace!(function = %cx.name, op, "host call");
    match op {
        "db.count" => {
            let coll = s(&args, "collection")?;
            let total = db()?
                .count(
                    &coll,
                    args.get("where").cloned().unwrap_or_else(|| json!({})),
                )
                .await?;
            Ok(json!({ "total": total }))
        }
        "db.get" => {
            let (coll, id) = (s(&args, "collection")?, s(&args, "id")?);
            let doc = db()?.get(&coll, &id, args.get("field").cloned()).await?;
            Ok(json!({ "data": doc }))
        }
        "db.add" => {
            let coll = s(&args, "collection")?;
            let id = db()?
                .add(&coll, args.get("data").cloned().unwrap_or(Value::Null))
                .await?;
            Ok(json!({ "_id": id }))
        }
        "db.set" => {
            let (coll, id) = (s(&args, "collection")?, s(&args, "id")?);
            let created = db()?
                .set(&coll, &id, args.get("data").cloned().unwrap_or(Value::Null))
                .await?;
            Ok(json!({ "created": created }))
        }
        "db.updateDoc" => {
            let (coll, id) = (s(&args, "collection")?, s(&args, "id")?);
            let n = db()?
                .update_doc(&coll, &id, args.get("data").cloned().unwrap_or(Value::Null))
                .await?;
            Ok(json!({ "updated": n }))
        }
        "db.removeDoc" => {
            let (coll, id) = (s(&args, "collection")?, s(&args, "id")?);
            let n = db()?.remove_doc(&coll, &id).await?;
            Ok(json!({ "removed": n }))
        }
        "db.updateWhere" => {
            let coll = s(&args, "collection")?;
            let w = args.get("where").cloned().unwrap_or_else(|| json!({}));
            let n = db()?
                .update(&coll, w, args.get("data").cloned().unwrap_or(Value::Null))
                .await?;
            Ok(json!({ "updated": n }))
        }
        "db.removeWhere" => {
            let coll = s(&args, "collection")?;
            let n = db()?
                .remove(
                    &coll,
                    args.get("where").cloned().unwrap_or_else(|| json!({})),
                )
                .await?;
            Ok(json!({ "removed": n }))
        }
        "storage.upload" => {
            let path = s(&args, "cloudPath")?;
            let content = args
                .get("fileContent")
                .and_then(value_bytes)
                .ok_or_else(|| HostError::invalid("fileContent must be a Buffer or a string"))?;
            let id = files()?.upload(&path, content).await?;
            Ok(json!({ "fileID": id }))
        }
        "storage.download" => {
            let id = s(&args, "fileID")?;
            let bytes = files()?.download(&id).await?;
            Ok(json!({ "fileContent": bytes_value(&bytes) }))
        }
        "storage.tempUrls" => {
            let list = args
                .get("fileList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list.len() > 50 {
                return Err(HostError::invalid("getTempFileURL takes at most 50 files"));
            }
            let items = list
                .iter()
                .map(|f| {
                    let id = f.get("fileID").and_then(Value::as_str).map(str::to_owned);
                    id.map(|id| (id, f.get("maxAge").and_then(Value::as_u64)))
                        .ok_or_else(|| HostError::invalid("each fileList item needs a fileID"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "fileList": files()?.temp_urls(items).await? }))
        }
        "storage.delete" => {
            let list = args
                .get("fileList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list.len() > 50 {
                return Err(HostError::invalid("deleteFile takes at most 50 files"));
            }
            let ids = list
                .iter()
                .map(|f| {
                    f.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| HostError::invalid("fileList must hold fileID strings"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "fileList": files()?.delete(ids).await? }))
        }
        "openapi" => {
            let api = s(&args, "api")?;
            let openapi = services.openapi.clone().ok_or_else(|| {
                HostError::unavailable(format!(
                    "cloud.openapi.{api} is not available on this server"
                ))
            })?;
            openapi
                .call(&api, args.get("args").cloned().unwrap_or_else(|| json!({})))
                .await
        }
        "pay" => {
            let method = s(&args, "api")?;
            let pay = services.pay.clone().ok_or_else(|| {
                HostError::unavailable(format!(
                    "cloud.pay.{method} is not available: WeChat Pay is not configured"
                ))
            })?;
            pay.call(
                &method,
                args.get("args").cloned().unwrap_or_else(|| json!({})),
            )
            .await
        }
        "fetch" => {
            let req = FetchRequest::from_args(&args, cx.remaining)?;
            fetch.fetch(req).await
        }
        "callFunction" => {
            let name = s(&args, "name")?;
            let manager =
                manager.ok_or_else(|| HostError::unavailable("functions are shutting down"))?;
            let data = args.get("data").cloned().unwrap_or_else(|| json!({}));
            let ctx = crate::CallContext {
                caller: cx.caller.clone(),
                request_id: cx.request_id.clone(),
                client_ip: cx.client_ip,
                source: format!("{},scf", cx.source),
                depth: cx.depth + 1,
                openid: cx.openid.clone(),
            };
            if ctx.depth > crate::MAX_CALL_DEPTH {
                return Err(HostError::invalid(format!(
                    "callFunction nested more than {} deep",
                    crate::MAX_CALL_DEPTH
                )));
            }
            match manager.call(&name, data, ctx).await {
                Ok(result) => {
                    let result: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
                    Ok(json!({ "result": result, "requestID": cx.request_id }))
                }
                Err(e) => {
                    let api = ApiError::from(e);
                    Err(HostError::new(
                        api.code,
                        format!("cloud.callFunction:fail {}", api.message),
                    ))
                }
            }
        }
        _ => Err(HostError::invalid(format!("unknown host call '{op}'"))),
    }
}
