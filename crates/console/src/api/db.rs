//! The Database page: collections with counts and rules, a document browser (`where` JSON,
//! `orderBy`, paging, with the total), documents viewed, created, replaced and deleted as
//! the admin (rules do not apply; system collections stay read-only, internal ones out of
//! reach), the collection's indexes and rules, and the rule tester, which asks docdb's own
//! evaluator whether a given user may read/create/update/delete a document.

use super::Json;
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::AdminSession;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use docdb::{QueryRequest, RuleOp};
use mb_core::{ApiError, Caller, UserIdentity};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/db/collections", get(collections))
        .route("/db/{coll}/meta", get(meta))
        .route("/db/{coll}/query", post(query))
        .route("/db/{coll}/docs", post(create))
        .route(
            "/db/{coll}/docs/{id}",
            get(read).put(replace).delete(delete),
        )
        .route("/db/{coll}/rules/test", post(rule_test))
}

/// Refuses internal collections (`_sessions`, `_admins`, …): nobody browses them.
fn check(console: &Console, coll: &str) -> Result<(), ApiError> {
    if !config::valid_collection_name(coll) {
        return Err(ApiError::invalid(format!(
            "invalid collection name {coll:?}"
        )));
    }
    if console.db().is_internal(coll) {
        return Err(ApiError::denied(format!(
            "collection {coll} is internal to Minibase"
        )));
    }
    Ok(())
}

async fn collections(
    State(console): State<Console>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    let db = console.db();
    let mut list: Vec<(String, u64)> = db
        .collections()
        .await?
        .into_iter()
        .filter(|c| !db.is_internal(&c.name))
        .map(|c| (c.name, c.count))
        .collect();
    // Collections opened in the config appear even before their first document.
    for name in console.config().collections.keys() {
        if !list.iter().any(|(n, _)| n == name) {
            list.push((name.clone(), 0));
        }
    }
    list.sort();
    let out: Vec<Value> = list
        .into_iter()
        .map(|(name, count)| {
            let rules = db.rules_of(&name);
            json!({ "name": name, "count": count, "system": rules.system, "rules": rules })
        })
        .collect();
    Ok(Json(json!({ "data": out })))
}

async fn meta(
    State(console): State<Console>,
    Path(coll): Path<String>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let indexes = console.db().indexes(&coll).await?;
    Ok(Json(json!({
        "name": coll,
        "indexes": indexes,
        "rules": console.db().rules_of(&coll),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct QueryBody {
    #[serde(rename = "where")]
    where_: Value,
    #[serde(rename = "orderBy")]
    order_by: Value,
    skip: Value,
    limit: Value,
}

async fn query(
    State(console): State<Console>,
    Path(coll): Path<String>,
    _s: AdminSession,
    Json(body): Json<QueryBody>,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let limit = if body.limit.is_null() {
        json!(20)
    } else {
        body.limit
    };
    let req = QueryRequest {
        where_: body.where_.clone(),
        order_by: body.order_by,
        skip: body.skip,
        limit,
        field: Value::Null,
    };
    let db = console.db();
    let (docs, total) = tokio::try_join!(
        db.query(&Caller::Admin, &coll, &req),
        db.count(&Caller::Admin, &coll, &body.where_)
    )?;
    Ok(Json(json!({ "data": docs, "total": total })))
}

async fn read(
    State(console): State<Console>,
    Path((coll, id)): Path<(String, String)>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    match console.db().get(&Caller::Admin, &coll, &id).await? {
        Some(doc) => Ok(Json(json!({ "data": doc }))),
        None => Err(ApiError::not_found("no such document")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocBody {
    data: Value,
}

async fn create(
    State(console): State<Console>,
    Path(coll): Path<String>,
    s: AdminSession,
    meta: RequestMeta,
    Json(body): Json<DocBody>,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let db = console.db();
    let id = db.create(&Caller::Admin, &coll, body.data).await?;
    let after = db.get(&Caller::Admin, &coll, &id).await?;
    let target = format!("{coll}/{id}");
    audit::record(
        db,
        &s.admin,
        &meta,
        Change {
            action: "db.create",
            target: &target,
            before: None,
            after,
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!({ "_id": id }))))
}

async fn replace(
    State(console): State<Console>,
    Path((coll, id)): Path<(String, String)>,
    s: AdminSession,
    meta: RequestMeta,
    Json(body): Json<DocBody>,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let db = console.db();
    let before = db.get(&Caller::Admin, &coll, &id).await?;
    let created = db.set(&Caller::Admin, &coll, &id, body.data).await?;
    let after = db.get(&Caller::Admin, &coll, &id).await?;
    let target = format!("{coll}/{id}");
    audit::record(
        db,
        &s.admin,
        &meta,
        Change {
            action: if created { "db.create" } else { "db.update" },
            target: &target,
            before,
            after,
        },
    )
    .await;
    Ok(Json(json!({ "_id": id, "created": created })))
}

async fn delete(
    State(console): State<Console>,
    Path((coll, id)): Path<(String, String)>,
    s: AdminSession,
    meta: RequestMeta,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let db = console.db();
    let before = db.get(&Caller::Admin, &coll, &id).await?;
    let n = db.delete_by_id(&Caller::Admin, &coll, &id).await?;
    if n == 0 {
        return Err(ApiError::not_found("no such document"));
    }
    let target = format!("{coll}/{id}");
    audit::record(
        db,
        &s.admin,
        &meta,
        Change {
            action: "db.delete",
            target: &target,
            before,
            after: None,
        },
    )
    .await;
    Ok(Json(json!({ "deleted": n })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTest {
    /// The user's openid (`auth.openid`); empty = an anonymous caller.
    #[serde(default)]
    openid: String,
    /// `read`, `create`, `update`, `delete`.
    op: String,
    /// A stored document to test against.
    #[serde(default)]
    id: Option<String>,
    /// Or a document given here (the new document, for `create`).
    #[serde(default)]
    doc: Option<Value>,
    /// `request.data`: the update (for `update`).
    #[serde(default)]
    data: Option<Value>,
}

/// The caller a rule test runs as: the user with this openid as they would sign in (their
/// stored uid and unionid when they exist).
async fn user_caller(console: &Console, openid: &str) -> Result<(Caller, Option<Value>), ApiError> {
    if openid.is_empty() {
        return Ok((Caller::Anonymous, None));
    }
    if openid.len() > 128 {
        return Err(ApiError::invalid("openid must be at most 128 characters"));
    }
    let found = console
        .db()
        .query(
            &Caller::System,
            identity::USERS,
            &QueryRequest {
                where_: json!({ "openid": openid }),
                limit: json!(1),
                ..Default::default()
            },
        )
        .await?
        .into_iter()
        .next();
    let s = |d: &Value, k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    let user = match &found {
        Some(d) => UserIdentity {
            uid: s(d, "_id").unwrap_or_default(),
            openid: openid.to_string(),
            unionid: s(d, "unionid"),
            platform: s(d, "platform").unwrap_or_else(|| "wechat".into()),
            session_id: String::new(),
        },
        None => UserIdentity {
            uid: identity::user_id("wechat", openid),
            openid: openid.to_string(),
            unionid: None,
            platform: "wechat".into(),
            session_id: String::new(),
        },
    };
    Ok((Caller::User(user), found))
}

async fn rule_test(
    State(console): State<Console>,
    Path(coll): Path<String>,
    _s: AdminSession,
    Json(body): Json<RuleTest>,
) -> Result<impl IntoResponse, ApiError> {
    check(&console, &coll)?;
    let op = RuleOp::parse(&body.op)
        .ok_or_else(|| ApiError::invalid("op must be read, create, update or delete"))?;
    let doc = match (&body.id, body.doc) {
        (Some(id), None) => console
            .db()
            .get(&Caller::System, &coll, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no document {id} in {coll}")))?,
        (None, Some(doc)) if doc.is_object() => doc,
        _ => {
            return Err(ApiError::invalid(
                "give either id (a stored document) or doc (a JSON object)",
            ));
        }
    };
    let (caller, user) = user_caller(&console, body.openid.trim()).await?;
    let check = console
        .db()
        .check_rule(&caller, &coll, op, &doc, body.data.as_ref())?;
    Ok(Json(json!({
        "allowed": check.allowed,
        "rule": check.rule,
        "reason": check.reason,
        "caller": caller.user().map(|u| json!({ "uid": u.uid, "openid": u.openid, "unionid": u.unionid, "known": user.is_some() })),
    })))
}
