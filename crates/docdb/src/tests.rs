//! Tests of the whole crate: a [`Database`] over a temporary SQLite file, as other areas use
//! it (callers, rules, system and internal collections, concurrency, change events, indexes,
//! SQL translation agreeing with the in-memory evaluator).

use crate::change::ChangeOp;
use crate::{CollectionRules, Database, DbError, DbOptions, Filter, QueryRequest};
use config::{CollectionConfig, IndexConfig, RuleSource};
use mb_core::{Caller, UserIdentity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn user(openid: &str) -> Caller {
    Caller::User(UserIdentity {
        uid: format!("u-{openid}"),
        openid: openid.to_string(),
        unionid: None,
        platform: "dev".into(),
        session_id: "s".into(),
    })
}

fn owner_only() -> CollectionConfig {
    CollectionConfig {
        read: Some(RuleSource::Expr("doc._openid == auth.openid".into())),
        write: Some(RuleSource::Expr("doc._openid == auth.openid".into())),
        ..Default::default()
    }
}

fn open_with(dir: &tempfile::TempDir, collections: BTreeMap<String, CollectionConfig>) -> Database {
    let url = format!("sqlite://{}/sub/data.db", dir.path().display());
    Database::open(
        &url,
        DbOptions {
            collections,
            ..DbOptions::default()
        },
    )
    .unwrap()
}

fn open(dir: &tempfile::TempDir) -> Database {
    let mut c = BTreeMap::new();
    c.insert("todos".to_string(), owner_only());
    open_with(dir, c)
}

fn q(w: Value) -> QueryRequest {
    QueryRequest {
        where_: w,
        ..Default::default()
    }
}

#[tokio::test]
async fn crud_as_system_and_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let sys = Caller::System;
    let id = db
        .create(
            &sys,
            "_users",
            json!({"openid": "o1", "profile": {"nick": "n"}}),
        )
        .await
        .unwrap();
    assert_eq!(id.len(), 32);
    let doc = db.get(&sys, "_users", &id).await.unwrap().unwrap();
    assert_eq!(
        doc,
        json!({"_id": id, "openid": "o1", "profile": {"nick": "n"}})
    );
    assert!(db.get(&sys, "_users", "nope").await.unwrap().is_none());
    assert!(matches!(
        db.create(&sys, "_users", json!({"_id": id, "x": 1})).await,
        Err(DbError::Conflict(_))
    ));

    let found = db
        .query(&sys, "_users", &q(json!({"profile": {"nick": "n"}})))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        db.count(&sys, "_users", &json!({"openid": "o1"}))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.count(&sys, "_users", &json!({"openid": "o2"}))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.count(&sys, "never_written", &Value::Null).await.unwrap(),
        0
    );

    assert_eq!(
        db.update_by_id(&sys, "_users", &id, &json!({"profile": {"city": "sz"}}))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.update_by_id(&sys, "_users", "missing", &json!({"a": 1}))
            .await
            .unwrap(),
        0
    );
    let doc = db.get(&sys, "_users", &id).await.unwrap().unwrap();
    assert_eq!(doc["profile"], json!({"nick": "n", "city": "sz"}));

    assert!(
        !db.set(&sys, "_users", &id, json!({"openid": "o1b"}))
            .await
            .unwrap()
    );
    assert!(
        db.set(&sys, "_users", "fixed-id", json!({"openid": "o3"}))
            .await
            .unwrap()
    );
    assert_eq!(
        db.get(&sys, "_users", &id).await.unwrap().unwrap(),
        json!({"_id": id, "openid": "o1b"})
    );

    // Service reads system collections but never writes them.
    assert_eq!(
        db.query(&Caller::Service, "_users", &q(Value::Null))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        db.create(&Caller::Service, "_users", json!({})).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.remove_where(&Caller::Service, "_users", &json!({}))
            .await,
        Err(DbError::PermissionDenied(_))
    ));

    assert_eq!(
        db.update_where(
            &sys,
            "_users",
            &json!({"openid": {"$in": ["o1b", "o3"]}}),
            &json!({"seen": true})
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        db.remove_where(&sys, "_users", &json!({"openid": "o3"}))
            .await
            .unwrap(),
        1
    );
    assert_eq!(db.delete_by_id(&sys, "_users", &id).await.unwrap(), 1);
    assert_eq!(db.delete_by_id(&sys, "_users", &id).await.unwrap(), 0);
    assert_eq!(db.count(&sys, "_users", &Value::Null).await.unwrap(), 0);

    // Bad input.
    assert!(matches!(
        db.create(&sys, "bad name", json!({})).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.create(&sys, "c", json!([1])).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.create(&sys, "c", json!({"$x": 1})).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.create(&sys, "c", json!({"_id": 5})).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.get(&sys, "c", "a/b").await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.query(&sys, "c", &q(json!({"a": {"$bad": 1}}))).await,
        Err(DbError::Invalid(_))
    ));
    let big = "x".repeat(300 * 1024);
    assert!(matches!(
        db.create(&sys, "c", json!({"big": big})).await,
        Err(DbError::TooLarge(_))
    ));
    assert!(matches!(
        db.update_by_id(&sys, "c", "x", &json!({"_id": "y"})).await,
        Err(DbError::Invalid(_))
    ));
}

#[tokio::test]
async fn users_see_only_their_own_documents() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let (a, b) = (user("alice"), user("bob"));
    let ia = db
        .create(&a, "todos", json!({"t": "a1", "n": 1}))
        .await
        .unwrap();
    let ib = db
        .create(&b, "todos", json!({"t": "b1", "n": 1}))
        .await
        .unwrap();
    assert_eq!(
        db.get(&a, "todos", &ia).await.unwrap().unwrap()["_openid"],
        "alice"
    );
    assert!(db.get(&a, "todos", &ib).await.unwrap().is_none());
    let mine = db.query(&a, "todos", &q(Value::Null)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(db.count(&a, "todos", &Value::Null).await.unwrap(), 1);
    // Asking for bob's documents explicitly still finds nothing.
    assert_eq!(
        db.count(&a, "todos", &json!({"_openid": "bob"}))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.query(&a, "todos", &q(json!({"_id": ib})))
            .await
            .unwrap()
            .len(),
        0
    );
    // Writes to bob's document are refused and change nothing.
    assert!(matches!(
        db.update_by_id(&a, "todos", &ib, &json!({"t": "x"})).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.delete_by_id(&a, "todos", &ib).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.set(&a, "todos", &ib, json!({"t": "x"})).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert_eq!(
        db.update_where(&a, "todos", &json!({"n": 1}), &json!({"n": 2}))
            .await
            .unwrap(),
        1
    );
    assert_eq!(db.remove_where(&a, "todos", &Value::Null).await.unwrap(), 1);
    assert_eq!(
        db.get(&Caller::Service, "todos", &ib)
            .await
            .unwrap()
            .unwrap(),
        json!({"_id": ib, "_openid": "bob", "t": "b1", "n": 1})
    );
    // _openid is unforgeable.
    assert!(matches!(
        db.create(&a, "todos", json!({"_openid": "bob"})).await,
        Err(DbError::Invalid(_))
    ));
    assert!(matches!(
        db.update_by_id(&b, "todos", &ib, &json!({"_openid": "alice"}))
            .await,
        Err(DbError::Invalid(_))
    ));
    // Creating a document that would not be yours: impossible, stamped; anonymous refused.
    assert!(matches!(
        db.create(&Caller::Anonymous, "todos", json!({})).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert_eq!(
        db.query(&Caller::Anonymous, "todos", &q(Value::Null))
            .await
            .unwrap()
            .len(),
        0
    );
    // Undeclared collections are closed to users.
    assert!(matches!(
        db.create(&a, "secret", json!({})).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.query(&a, "secret", &q(Value::Null)).await,
        Err(DbError::PermissionDenied(_))
    ));
    // A user's set creates with their _openid, and replaces keeping it.
    assert!(db.set(&a, "todos", "mine", json!({"v": 1})).await.unwrap());
    assert!(!db.set(&a, "todos", "mine", json!({"v": 2})).await.unwrap());
    assert_eq!(
        db.get(&a, "todos", "mine").await.unwrap().unwrap(),
        json!({"_id": "mine", "_openid": "alice", "v": 2})
    );
}

#[tokio::test]
async fn system_and_internal_collections() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.declare_internal("_sessions");
    db.declare_rules(
        "_pay_orders",
        CollectionRules::parse(Some("doc.openid == auth.openid"), None).unwrap(),
    )
    .unwrap();
    assert!(db.is_internal("_sessions"));
    db.create(&Caller::System, "_sessions", json!({"_id": "s1"}))
        .await
        .unwrap();
    assert!(matches!(
        db.get(&Caller::Service, "_sessions", "s1").await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.query(&user("a"), "_sessions", &q(Value::Null)).await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(
        db.get(&Caller::System, "_sessions", "s1")
            .await
            .unwrap()
            .is_some()
    );

    db.create(
        &Caller::System,
        "_pay_orders",
        json!({"_id": "o1", "openid": "alice", "state": "NOTPAY"}),
    )
    .await
    .unwrap();
    db.create(
        &Caller::System,
        "_pay_orders",
        json!({"_id": "o2", "openid": "bob", "state": "NOTPAY"}),
    )
    .await
    .unwrap();
    assert!(
        db.get(&user("alice"), "_pay_orders", "o1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        db.get(&user("alice"), "_pay_orders", "o2")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        db.query(&user("alice"), "_pay_orders", &q(Value::Null))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        db.update_by_id(
            &user("alice"),
            "_pay_orders",
            "o1",
            &json!({"state": "SUCCESS"})
        )
        .await,
        Err(DbError::PermissionDenied(_))
    ));
    assert!(matches!(
        db.get(&user("alice"), "_files", "x").await,
        Err(DbError::PermissionDenied(_))
    ));
}

#[tokio::test]
async fn conditional_update_is_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create(
        &Caller::System,
        "_pay_orders",
        json!({"_id": "x", "state": "NOTPAY"}),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.update_where(
                &Caller::System,
                "_pay_orders",
                &json!({"_id": "x", "state": "NOTPAY"}),
                &json!({"state": "SUCCESS", "by": i}),
            )
            .await
            .unwrap()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 1);
}

#[tokio::test]
async fn concurrent_increments_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create(&Caller::Service, "counters", json!({"_id": "c", "n": 0}))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.update_by_id(
                &Caller::Service,
                "counters",
                "c",
                &json!({"n": {"$inc": 1}}),
            )
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(
        db.get(&Caller::Service, "counters", "c")
            .await
            .unwrap()
            .unwrap()["n"],
        100
    );
}

#[tokio::test]
async fn change_events_follow_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let mut rx = db.subscribe();
    let s = Caller::Service;
    db.create(&s, "things", json!({"_id": "a", "n": 1}))
        .await
        .unwrap();
    db.update_by_id(
        &s,
        "things",
        "a",
        &json!({"n": {"$inc": 1}, "gone": {"$remove": true}, "m": 5}),
    )
    .await
    .unwrap();
    db.set(&s, "things", "a", json!({"n": 9})).await.unwrap();
    db.delete_by_id(&s, "things", "a").await.unwrap();
    assert!(db.create(&s, "things", json!({"_id": "a"})).await.is_ok());
    assert!(db.create(&s, "things", json!({"_id": "a"})).await.is_err());
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(rx.recv().await.unwrap());
    }
    assert!(
        rx.try_recv().unwrap().is_none(),
        "a failed write publishes nothing"
    );
    assert_eq!(
        got.iter().map(|e| e.op).collect::<Vec<_>>(),
        [
            ChangeOp::Add,
            ChangeOp::Update,
            ChangeOp::Replace,
            ChangeOp::Remove,
            ChangeOp::Add
        ]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    let upd = &got[1];
    assert_eq!(
        upd.doc.as_ref().unwrap(),
        &json!({"_id": "a", "n": 2, "m": 5})
    );
    assert_eq!(
        upd.updated_fields.as_ref().unwrap(),
        json!({"n": 2, "m": 5}).as_object().unwrap()
    );
    assert!(upd.removed_fields.as_ref().unwrap().is_empty());
    assert_eq!(got[2].doc.as_ref().unwrap(), &json!({"_id": "a", "n": 9}));
    assert!(got[3].doc.is_none());
    // System writes publish too.
    db.create(&Caller::System, "_files", json!({"_id": "f"}))
        .await
        .unwrap();
    let e = rx.recv().await.unwrap();
    assert_eq!((e.collection.as_str(), e.id.as_str()), ("_files", "f"));
}

#[tokio::test]
async fn data_survives_reopen_and_indexes_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = BTreeMap::new();
    let mut todos = owner_only();
    todos.indexes = vec![
        IndexConfig {
            fields: vec!["_openid".into(), "due".into()],
            unique: false,
        },
        IndexConfig {
            fields: vec!["code".into()],
            unique: true,
        },
    ];
    c.insert("todos".to_string(), todos);
    {
        let db = open_with(&dir, c.clone());
        for i in 0..50 {
            db.create(
                &Caller::Service,
                "todos",
                json!({"_openid": format!("u{}", i % 5), "due": i, "code": format!("c{i}")}),
            )
            .await
            .unwrap();
        }
        assert!(matches!(
            db.create(&Caller::Service, "todos", json!({"code": "c1"}))
                .await,
            Err(DbError::Conflict(_))
        ));
        assert!(matches!(
            db.update_by_id(&Caller::Service, "todos", "nope", &json!({"a": 1}))
                .await,
            Ok(0)
        ));
        db.close();
    }
    let db = open_with(&dir, c.clone());
    assert_eq!(
        db.count(&Caller::Service, "todos", &Value::Null)
            .await
            .unwrap(),
        50
    );
    let plan = db
        .explain("todos", &json!({"_openid": "u1"}), &json!([["due", "asc"]]))
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("USING INDEX mbx_todos_"), "{plan}");
    assert!(
        !plan.contains("TEMP B-TREE"),
        "the index also serves the order: {plan}"
    );
    let page = db
        .query(
            &user("u1"),
            "todos",
            &QueryRequest {
                order_by: json!([["due", "desc"]]),
                limit: json!(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|d| d["due"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [46, 41, 36]
    );
    // Dropping the unique index from config drops it from the database.
    c.get_mut("todos").unwrap().indexes.pop();
    db.close();
    drop(db);
    let db = open_with(&dir, c);
    db.create(&Caller::Service, "todos", json!({"code": "c1"}))
        .await
        .unwrap();
    // A bad rule refuses to open, naming the key and column.
    let mut bad = BTreeMap::new();
    bad.insert(
        "todos".to_string(),
        CollectionConfig {
            read: Some(RuleSource::Expr("doc.a == ".into())),
            ..Default::default()
        },
    );
    let url = format!("sqlite://{}/other.db", dir.path().display());
    let err = Database::open(
        &url,
        DbOptions {
            collections: bad,
            ..DbOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("collections.todos.read: unexpected end of rule at column 10"),
        "{err}"
    );
}

#[tokio::test]
async fn array_paths_switch_translation() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let s = Caller::Service;
    db.create(&s, "c", json!({"_id": "1", "tags": "a", "items": {"n": 1}}))
        .await
        .unwrap();
    assert_eq!(db.count(&s, "c", &json!({"tags": "a"})).await.unwrap(), 1);
    db.create(
        &s,
        "c",
        json!({"_id": "2", "tags": ["a", "b"], "items": [{"n": 1}, {"n": 2}]}),
    )
    .await
    .unwrap();
    assert_eq!(db.count(&s, "c", &json!({"tags": "a"})).await.unwrap(), 2);
    assert_eq!(db.count(&s, "c", &json!({"items.n": 2})).await.unwrap(), 1);
    assert_eq!(db.count(&s, "c", &json!({"items.n": 1})).await.unwrap(), 2);
    assert_eq!(
        db.count(&s, "c", &json!({"tags": {"$size": 2}}))
            .await
            .unwrap(),
        1
    );
    let plan = db
        .explain("c", &json!({"tags": "a"}), &Value::Null)
        .await
        .unwrap();
    assert!(!plan.is_empty());
}

/// A small reproducible generator: documents with nested objects, arrays, mixed types and
/// missing fields, and filters over all operators; SQL results must equal the in-memory
/// evaluator's, in the same order. (The full differential test against mingo runs over
/// HTTP in `crates/minibase/tests`.)
#[tokio::test]
async fn sql_agrees_with_in_memory_evaluator() {
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }
    fn scalar(r: &mut Rng) -> Value {
        match r.pick(8) {
            0 => Value::Null,
            1 => json!(r.pick(2) == 0),
            2 | 3 => json!(r.pick(6) as i64 - 1),
            4 => json!(r.pick(4) as f64 + 0.5),
            5 | 6 => json!(["a", "b", "c", "B"][r.pick(4)]),
            _ => json!({"$date": r.pick(3) as i64 * 1000}),
        }
    }
    fn val(r: &mut Rng, depth: usize) -> Value {
        match if depth > 1 { 0 } else { r.pick(6) } {
            0..=2 => scalar(r),
            3 | 4 => Value::Array((0..r.pick(4)).map(|_| val(r, depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for f in ["x", "y"] {
                    if r.pick(3) > 0 {
                        m.insert(f.to_string(), val(r, depth + 1));
                    }
                }
                Value::Object(m)
            }
        }
    }
    fn path(r: &mut Rng) -> String {
        ["a", "b", "a.x", "a.y", "b.x", "a.0", "b.1.x", "a.x.y", "c"][r.pick(9)].to_string()
    }
    fn cond(r: &mut Rng) -> Value {
        let v = scalar(r);
        match r.pick(14) {
            0 => v,
            1 => json!({"$eq": v}),
            2 => json!({"$neq": v}),
            3 => json!({"$lt": v}),
            4 => json!({"$gte": v}),
            5 => json!({"$in": [v, scalar(r)]}),
            6 => json!({"$nin": [v]}),
            7 => json!({"$exists": r.pick(2) == 0}),
            8 => json!({"$size": r.pick(3)}),
            9 => json!({"$all": [v]}),
            10 => json!({"$elemMatch": {"$gt": 0}}),
            11 => json!({"$not": {"$lte": v}}),
            12 => json!({"$mod": [2, 1]}),
            _ => json!({"$regex": "^b", "$options": "i"}),
        }
    }
    fn filter(r: &mut Rng, depth: usize) -> Value {
        match if depth > 1 { 0 } else { r.pick(5) } {
            0..=2 => {
                let mut m = serde_json::Map::new();
                m.insert(path(r), cond(r));
                Value::Object(m)
            }
            3 => json!({"$or": [filter(r, depth + 1), filter(r, depth + 1)]}),
            _ => json!({"$nor": [filter(r, depth + 1)]}),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let s = Caller::Service;
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut docs = Vec::new();
    for i in 0..120 {
        let mut m = serde_json::Map::new();
        m.insert("_id".into(), json!(format!("d{i:03}")));
        for f in ["a", "b", "c"] {
            if rng.pick(4) > 0 {
                m.insert(f.into(), val(&mut rng, 0));
            }
        }
        let d = Value::Object(m);
        db.create(&s, "diff", d.clone()).await.unwrap();
        docs.push(d);
    }
    for _ in 0..400 {
        let w = filter(&mut rng, 0);
        let order = json!([[
            path(&mut rng),
            if rng.pick(2) == 0 { "asc" } else { "desc" }
        ]]);
        let f = Filter::parse(&w).unwrap();
        let sort = crate::filter::parse_order_by(&order).unwrap();
        let mut expect: Vec<&Value> = docs.iter().filter(|d| f.matches(d)).collect();
        expect.sort_by(|a, b| crate::filter::compare_docs(a, b, &sort));
        let req = QueryRequest {
            where_: w.clone(),
            order_by: order.clone(),
            limit: json!(1000),
            ..Default::default()
        };
        let got = db.query(&s, "diff", &req).await.unwrap();
        let ids = |v: Vec<&Value>| {
            v.iter()
                .map(|d| d["_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(got.iter().collect()),
            ids(expect),
            "where {w} orderBy {order}"
        );
    }
    // And the backend's SQL for flat paths is exercised too: a collection without arrays.
    let backend_check = db
        .count(&s, "diff", &json!({"c": {"$exists": true}}))
        .await
        .unwrap();
    assert!(backend_check > 0);
}

#[tokio::test]
async fn a_panicking_write_fails_alone() {
    use crate::backend::sqlite::{SqliteBackend, SqliteOptions};
    use crate::backend::{Action, Backend, Target, WriteOp};
    let dir = tempfile::tempdir().unwrap();
    let bus = std::sync::Arc::new(crate::LocalBus::default());
    let b = SqliteBackend::open(
        &dir.path().join("x.db"),
        SqliteOptions::default(),
        bus,
        Vec::new(),
    )
    .unwrap();
    b.write(WriteOp::Insert {
        collection: "c".into(),
        doc: json!({"_id": "a"}),
    })
    .await
    .unwrap();
    let boom = |_: Option<&Value>| -> Result<Action, DbError> { panic!("boom") };
    let r = b
        .write(WriteOp::Modify {
            collection: "c".into(),
            target: Target::Id("a".into()),
            decide: Box::new(boom),
        })
        .await;
    assert!(matches!(r, Err(DbError::Internal(_))));
    b.write(WriteOp::Insert {
        collection: "c".into(),
        doc: json!({"_id": "b"}),
    })
    .await
    .unwrap();
    assert_eq!(b.count("c", Filter::True).await.unwrap(), 2);
    b.close();
}

#[tokio::test]
async fn unusual_names_are_addressed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let s = Caller::Service;
    db.create(
        &s,
        "Notes",
        json!({"_id": "1", "it's": 1, "中文": {"键": "值"}, "a b": [1]}),
    )
    .await
    .unwrap();
    db.create(&s, "notes", json!({"_id": "1", "other": true}))
        .await
        .unwrap();
    assert_eq!(db.count(&s, "Notes", &json!({"it's": 1})).await.unwrap(), 1);
    assert_eq!(
        db.count(&s, "Notes", &json!({"中文.键": "值"}))
            .await
            .unwrap(),
        1
    );
    assert_eq!(db.count(&s, "Notes", &json!({"a b": 1})).await.unwrap(), 1);
    assert_eq!(
        db.get(&s, "notes", "1").await.unwrap().unwrap(),
        json!({"_id": "1", "other": true})
    );
    db.ensure_index("Notes", &["中文.键", "-it's"], false)
        .await
        .unwrap();
    db.ensure_index("Notes", &["中文.键", "-it's"], false)
        .await
        .unwrap();
    let plan = db
        .explain(
            "Notes",
            &json!({"中文.键": "值"}),
            &json!([["it's", "desc"]]),
        )
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("USING INDEX mbs_"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let got = db
        .query(
            &s,
            "Notes",
            &QueryRequest {
                where_: json!({"it's": {"$gte": 1}}),
                field: json!({"中文": true}),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(got, vec![json!({"_id": "1", "中文": {"键": "值"}})]);
}

/// The read rule gates a user's conditions in SQL whatever indexes exist: a user's condition
/// never drives an index seek (that would run it on hidden documents' keys), the rule's
/// fields may; a service caller's conditions use every index as before.
#[tokio::test]
async fn rules_gate_user_conditions_in_the_plan() {
    let idx = |f: &str| IndexConfig {
        fields: vec![f.to_string()],
        unique: false,
    };
    for rule_index in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = owner_only();
        config.indexes = vec![idx("diary")];
        if rule_index {
            config.indexes.push(idx("_openid"));
        }
        let db = open_with(&dir, BTreeMap::from([("diaries".to_string(), config)]));
        for (who, text) in [("a", "PIN=7 secret"), ("b", "mine")] {
            db.create(&user(who), "diaries", json!({ "diary": text }))
                .await
                .unwrap();
        }
        let w = json!({"diary": "PIN=7 secret"});
        // the service's plan seeks the index on `diary`: learn its (hashed) name
        let service = db
            .explain("diaries", &w, &Value::Null)
            .await
            .unwrap()
            .join("\n");
        let diary_index = service
            .split_whitespace()
            .find(|t| t.starts_with("mbx_diaries_"))
            .unwrap_or_else(|| panic!("the service uses the diary index: {service}"))
            .to_string();
        let plan = db
            .explain_as(&user("b"), "diaries", &w, &Value::Null)
            .await
            .unwrap()
            .join("\n");
        assert!(!plan.contains(&diary_index), "{plan}");
        if rule_index {
            assert!(plan.contains("USING INDEX mbx_diaries_"), "{plan}");
        } else {
            assert!(plan.contains("SCAN c_diaries"), "{plan}");
        }
        // and the answers are right: B finds nothing of A's, A finds theirs
        assert_eq!(db.count(&user("b"), "diaries", &w).await.unwrap(), 0);
        assert_eq!(db.count(&user("a"), "diaries", &w).await.unwrap(), 1);
        assert_eq!(
            db.update_where(&user("b"), "diaries", &w, &json!({"x": 1}))
                .await
                .unwrap(),
            0
        );
        assert_eq!(db.remove_where(&user("b"), "diaries", &w).await.unwrap(), 0);
        assert_eq!(db.count(&Caller::Service, "diaries", &w).await.unwrap(), 1);
        db.close();
    }
}

/// `Filter::gated` keeps the rule and the conditions apart (the rule is evaluated first by
/// `matches`, a short-circuiting `&&`) and simplifies the trivial cases.
#[test]
fn gated_filters_keep_the_rule_apart() {
    let rule = Filter::parse(&json!({"_openid": "b"})).unwrap();
    let conditions = Filter::parse(&json!({"n": {"$gt": 1}})).unwrap();
    let gated = Filter::gated(rule.clone(), conditions.clone());
    assert!(matches!(gated, Filter::Gated(..)));
    assert!(!gated.matches(&json!({"_openid": "a", "n": 5})));
    assert!(!gated.matches(&json!({"_openid": "b", "n": 0})));
    assert!(gated.matches(&json!({"_openid": "b", "n": 5})));
    // AND-ing more conditions onto a gated filter keeps the gate
    let more = gated.and(Filter::parse(&json!({"m": 1})).unwrap());
    assert!(!more.matches(&json!({"_openid": "a", "n": 5, "m": 1})));
    assert!(matches!(
        Filter::gated(Filter::True, conditions.clone()),
        Filter::Field(_)
    ));
    assert!(matches!(
        Filter::gated(Filter::False, conditions),
        Filter::False
    ));
    assert!(matches!(
        Filter::gated(rule, Filter::True),
        Filter::Field(_)
    ));
}
