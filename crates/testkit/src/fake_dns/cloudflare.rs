//! Fake Cloudflare API v4 (`/client/v4`): API-token authentication (`Authorization: Bearer`),
//! zones by name, TXT records created, listed and deleted; the `{"success","errors",
//! "messages","result"}` envelope, `10000 Authentication error` (HTTP 403) for a bad token.

use super::Shared;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

struct St {
    shared: Arc<Shared>,
    token: String,
}

/// The fake server. Dropping it stops it.
pub struct FakeCloudflare {
    addr: SocketAddr,
    st: Arc<St>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn zone_id(zone: &str) -> String {
    format!("zone{}", hex::encode(zone.as_bytes()))
}

impl FakeCloudflare {
    /// Starts a fake holding `zones` for API token `token`.
    pub async fn start(
        token: &str,
        zones: &[&str],
        challtestsrv: Option<String>,
    ) -> FakeCloudflare {
        let st = Arc::new(St {
            shared: Shared::new(zones, challtestsrv),
            token: token.into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake cloudflare");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/client/v4/zones", get(zones_list))
            .route(
                "/client/v4/zones/{zone}/dns_records",
                get(records_list).post(record_create),
            )
            .route(
                "/client/v4/zones/{zone}/dns_records/{id}",
                delete(record_delete),
            )
            .with_state(st.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCloudflare { addr, st, task }
    }

    /// The API base (`tls.acme.dns_api_base`).
    pub fn url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    /// What the fake saw.
    pub fn log(&self) -> super::DnsLog {
        self.st.shared.log.lock().clone()
    }

    /// The next `n` requests fail with HTTP 502.
    pub fn fail_next(&self, n: u32) {
        *self.st.shared.fail_next.lock() = n;
    }
}

fn envelope(result: Value) -> Response {
    axum::Json(json!({"success": true, "errors": [], "messages": [], "result": result}))
        .into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    (status, axum::Json(json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})))
        .into_response()
}

#[allow(clippy::result_large_err)] // answers early with a whole Response
fn check(st: &St, headers: &HeaderMap) -> Result<(), Response> {
    if st.shared.take_fault() {
        return Err(failure(StatusCode::BAD_GATEWAY, 502, "Bad gateway"));
    }
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == st.token);
    if ok {
        Ok(())
    } else {
        st.shared.auth_failed();
        Err(failure(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
        ))
    }
}

fn zone_of(st: &St, id: &str) -> Option<String> {
    st.shared.zones.iter().find(|z| zone_id(z) == id).cloned()
}

async fn zones_list(
    State(st): State<Arc<St>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check(&st, &headers) {
        return r;
    }
    let name = q.get("name").cloned();
    let zones: Vec<Value> = st
        .shared
        .zones
        .iter()
        .filter(|z| name.as_ref().is_none_or(|n| n == *z))
        .map(|z| json!({"id": zone_id(z), "name": z, "status": "active"}))
        .collect();
    envelope(Value::Array(zones))
}

async fn records_list(
    State(st): State<Arc<St>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check(&st, &headers) {
        return r;
    }
    let Some(zone_name) = zone_of(&st, &zone) else {
        return failure(
            StatusCode::NOT_FOUND,
            7003,
            "Could not route to /zones/…, perhaps your object identifier is invalid?",
        );
    };
    let recs: Vec<Value> = st
        .shared
        .log
        .lock()
        .records
        .values()
        .filter(|r| r.zone == zone_name && q.get("name").is_none_or(|n| *n == r.fqdn))
        .map(|r| json!({"id": r.id, "type": "TXT", "name": r.fqdn, "content": r.value}))
        .collect();
    envelope(Value::Array(recs))
}

async fn record_create(
    State(st): State<Arc<St>>,
    headers: HeaderMap,
    Path(zone): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check(&st, &headers) {
        return r;
    }
    let Some(zone_name) = zone_of(&st, &zone) else {
        return failure(
            StatusCode::NOT_FOUND,
            7003,
            "Could not route to /zones/…, perhaps your object identifier is invalid?",
        );
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return failure(StatusCode::BAD_REQUEST, 9207, "Request body is invalid.");
    };
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let name = s("name");
    if s("type") != "TXT"
        || s("content").is_empty()
        || !(name == zone_name || name.ends_with(&format!(".{zone_name}")))
    {
        return failure(
            StatusCode::BAD_REQUEST,
            9000,
            "DNS name is invalid, or type/content missing.",
        );
    }
    let rec = st.shared.create(&zone_name, &name, &s("content")).await;
    envelope(
        json!({"id": rec.id, "type": "TXT", "name": rec.fqdn, "content": rec.value, "ttl": req.get("ttl").cloned().unwrap_or(json!(1))}),
    )
}

async fn record_delete(
    State(st): State<Arc<St>>,
    headers: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = check(&st, &headers) {
        return r;
    }
    let belongs = zone_of(&st, &zone).is_some_and(|z| {
        st.shared
            .log
            .lock()
            .records
            .get(&id)
            .is_some_and(|r| r.zone == z)
    });
    if !belongs {
        return failure(StatusCode::NOT_FOUND, 81044, "Record does not exist.");
    }
    st.shared.delete(&id).await;
    envelope(json!({"id": id}))
}
