//! Integration tests: the real server (in-process through `testkit::TestServer`, or the real
//! binary where a process matters), talked to over HTTP and WebSocket. One test binary, one
//! module per area, laid out like the routes.
#![allow(clippy::unwrap_used)]

mod auth;
mod cli;
mod console;
mod console_browser;
mod db;
mod db_differential;
mod functions;
mod functions_migration;
mod functions_node;
mod pay;
mod plumbing;
mod realtime;
mod rule_gate;
mod storage;
mod tls;
mod util;
mod wechat;

/// The differential test against the document layer directly (the HTTP run is in `db.rs`).
mod db_differential_library {
    use super::db_differential::{Engine, differential};
    use mb_core::Caller;
    use serde_json::{Value, json};

    struct Library(docdb::Database, #[allow(dead_code)] tempfile::TempDir);

    impl Engine for Library {
        async fn load(&mut self, docs: &[Value]) {
            for d in docs {
                self.0
                    .create(&Caller::Service, "diff", d.clone())
                    .await
                    .unwrap();
            }
        }
        async fn run(&mut self, q: &Value) -> Result<Vec<String>, String> {
            let req = docdb::QueryRequest {
                where_: q["where"].clone(),
                order_by: q.get("orderBy").cloned().unwrap_or(Value::Null),
                skip: q.get("skip").cloned().unwrap_or(Value::Null),
                limit: q.get("limit").cloned().unwrap_or(json!(1000)),
                field: Value::Null,
            };
            self.0
                .query(&Caller::Service, "diff", &req)
                .await
                .map(|docs| {
                    docs.iter()
                        .map(|d| d["_id"].as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .map_err(|e| e.to_string())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_engine_agrees_with_mingo() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data.db", dir.path().display());
        let db = docdb::Database::open(&url, docdb::DbOptions::default()).unwrap();
        differential(&mut Library(db, dir)).await;
    }
}
