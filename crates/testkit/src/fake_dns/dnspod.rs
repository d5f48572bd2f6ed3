//! Fake DNSPod (Tencent Cloud API 3.0). Every request is `POST /` with `X-TC-Action`,
//! `X-TC-Timestamp`, `X-TC-Version` and an `Authorization: TC3-HMAC-SHA256 Credential=…,
//! SignedHeaders=…, Signature=…` header, which is verified as Tencent Cloud does: the signing
//! key is derived from the SecretKey of the SecretId in the credential, the date of the
//! timestamp and the service; the canonical request covers the signed headers as received and
//! the SHA-256 of the body. Answers (also errors) are HTTP 200 `{"Response": {…}}`.

use super::{Shared, now_unix};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

struct St {
    shared: Arc<Shared>,
    secret_id: String,
    secret_key: String,
}

/// The fake server. Dropping it stops it.
pub struct FakeDnspod {
    addr: SocketAddr,
    st: Arc<St>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDnspod {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDnspod {
    /// Starts a fake holding `zones` for the account `secret_id`/`secret_key`, publishing TXT
    /// records to the challtestsrv management URL when given.
    pub async fn start(
        secret_id: &str,
        secret_key: &str,
        zones: &[&str],
        challtestsrv: Option<String>,
    ) -> FakeDnspod {
        let st = Arc::new(St {
            shared: Shared::new(zones, challtestsrv),
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake dnspod");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(st.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDnspod { addr, st, task }
    }

    /// The API base (`tls.acme.dns_api_base`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the fake saw.
    pub fn log(&self) -> super::DnsLog {
        self.st.shared.log.lock().clone()
    }

    /// The next `n` requests fail with an internal error (HTTP 500, as during an outage).
    pub fn fail_next(&self, n: u32) {
        *self.st.shared.fail_next.lock() = n;
    }
}

fn error(code: &str, message: &str) -> Response {
    axum::Json(json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": mb_core::ids::random_hex(16)}}))
        .into_response()
}

fn ok(mut body: Value) -> Response {
    body["RequestId"] = json!(mb_core::ids::random_hex(16));
    axum::Json(json!({ "Response": body })).into_response()
}

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Checks the TC3 signature of a request; `Err((code, message))` as Tencent Cloud answers.
fn verify(st: &St, headers: &HeaderMap, body: &[u8]) -> Result<(), (&'static str, String)> {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let auth = h("authorization");
    let rest = auth.strip_prefix("TC3-HMAC-SHA256 ").ok_or((
        "AuthFailure.SignatureFailure",
        "The Authorization header is not TC3-HMAC-SHA256".to_string(),
    ))?;
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = v;
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = v;
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = v;
        }
    }
    let cred: Vec<&str> = credential.split('/').collect();
    if cred.len() != 4 || cred[3] != "tc3_request" {
        return Err((
            "AuthFailure.SignatureFailure",
            "malformed Credential".into(),
        ));
    }
    if cred[0] != st.secret_id {
        return Err((
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.".into(),
        ));
    }
    let ts: i64 = h("x-tc-timestamp")
        .parse()
        .map_err(|_| ("MissingParameter", "X-TC-Timestamp".to_string()))?;
    if (now_unix() - ts).abs() > 300 {
        return Err((
            "AuthFailure.SignatureExpire",
            "The signature expired: the timestamp is more than 5 minutes off.".into(),
        ));
    }
    let date = time_date(ts);
    if cred[1] != date || cred[2] != "dnspod" {
        return Err((
            "AuthFailure.SignatureFailure",
            "The Credential scope does not match the timestamp or service.".into(),
        ));
    }
    if !signed_headers.split(';').any(|x| x == "host")
        || !signed_headers.split(';').any(|x| x == "content-type")
    {
        return Err((
            "AuthFailure.SignatureFailure",
            "content-type and host must be signed".into(),
        ));
    }
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let mut v = h(name).trim().to_string();
            if name == "x-tc-action" {
                v = v.to_ascii_lowercase();
            }
            format!("{name}:{v}\n")
        })
        .collect();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{date}/dnspod/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac256(format!("TC3{}", st.secret_key).as_bytes(), &date);
    let k_service = hmac256(&k_date, "dnspod");
    let k_signing = hmac256(&k_service, "tc3_request");
    let expected = hex::encode(hmac256(&k_signing, &to_sign));
    if expected != signature {
        return Err(("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.".into()));
    }
    Ok(())
}

fn time_date(ts: i64) -> String {
    let days = ts.div_euclid(86400);
    // civil-from-days (Howard Hinnant), to stay independent of the client's date code
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

async fn handle(State(st): State<Arc<St>>, headers: HeaderMap, body: Bytes) -> Response {
    if st.shared.take_fault() {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "upstream outage",
        )
            .into_response();
    }
    if let Err((code, msg)) = verify(&st, &headers, &body) {
        st.shared.auth_failed();
        return error(code, &msg);
    }
    if headers.get("x-tc-version").and_then(|v| v.to_str().ok()) != Some("2021-03-23") {
        return error(
            "InvalidParameterValue",
            "X-TC-Version must be 2021-03-23 for dnspod",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error("InvalidParameter", "the body is not JSON");
    };
    let action = headers
        .get("x-tc-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match action {
        "DescribeDomainList" => {
            let list: Vec<Value> = st
                .shared
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| json!({"DomainId": 1000 + i, "Name": z, "Status": "ENABLE"}))
                .collect();
            ok(
                json!({"DomainCountInfo": {"AllTotal": list.len(), "DomainTotal": list.len()}, "DomainList": list}),
            )
        }
        "CreateRecord" => {
            let zone = s("Domain");
            if !st.shared.zone_exists(&zone) {
                return error(
                    "InvalidParameterValue.DomainNotExists",
                    "当前域名有误，请返回重新操作。",
                );
            }
            if s("RecordType") != "TXT" || s("RecordLine").is_empty() || s("Value").is_empty() {
                return error(
                    "InvalidParameter",
                    "RecordType, RecordLine and Value are required",
                );
            }
            let sub = s("SubDomain");
            let fqdn = if sub.is_empty() || sub == "@" {
                zone.clone()
            } else {
                format!("{sub}.{zone}")
            };
            let rec = st.shared.create(&zone, &fqdn, &s("Value")).await;
            let id: u64 = rec.id.parse().unwrap_or(0);
            ok(json!({"RecordId": id}))
        }
        "DeleteRecord" => {
            let id = match req.get("RecordId") {
                Some(Value::Number(n)) => n.to_string(),
                _ => return error("InvalidParameter", "RecordId must be an integer"),
            };
            let exists = st
                .shared
                .log
                .lock()
                .records
                .get(&id)
                .is_some_and(|r| r.zone == s("Domain"));
            if !exists {
                return error("InvalidParameter.RecordIdInvalid", "记录编号错误。");
            }
            st.shared.delete(&id).await;
            ok(json!({}))
        }
        other => error(
            "InvalidAction",
            &format!("The action {other:?} does not exist"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::time_date;

    #[test]
    fn dates_of_timestamps() {
        assert_eq!(time_date(1551113065), "2019-02-25");
        assert_eq!(time_date(0), "1970-01-01");
        assert_eq!(time_date(951_782_400), "2000-02-29");
    }
}
