//! Fake Alibaba Cloud DNS (RPC API). Parameters arrive as a query string (GET) or a form body
//! (POST); the signature v1 is recomputed from them as Alibaba Cloud documents it:
//! `METHOD&%2F&percentEncode(sorted canonical query)`, HMAC-SHA1 with `AccessKeySecret&`,
//! base64. Timestamps must be within 15 minutes and each `SignatureNonce` is single-use.
//! Errors are HTTP 4xx `{"Code","Message","RequestId"}`.

use super::{Shared, now_unix, parse_form};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha1::Sha1;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

struct St {
    shared: Arc<Shared>,
    key_id: String,
    secret: String,
    nonces: Mutex<HashSet<String>>,
}

/// The fake server. Dropping it stops it.
pub struct FakeAlidns {
    addr: SocketAddr,
    st: Arc<St>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAlidns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeAlidns {
    /// Starts a fake holding `zones` for the AccessKey `key_id`/`secret`.
    pub async fn start(
        key_id: &str,
        secret: &str,
        zones: &[&str],
        challtestsrv: Option<String>,
    ) -> FakeAlidns {
        let st = Arc::new(St {
            shared: Shared::new(zones, challtestsrv),
            key_id: key_id.into(),
            secret: secret.into(),
            nonces: Mutex::new(HashSet::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake alidns");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(st.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAlidns { addr, st, task }
    }

    /// The API base (`tls.acme.dns_api_base`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the fake saw.
    pub fn log(&self) -> super::DnsLog {
        self.st.shared.log.lock().clone()
    }

    /// The next `n` requests fail with HTTP 503 (`ServiceUnavailable`).
    pub fn fail_next(&self, n: u32) {
        *self.st.shared.fail_next.lock() = n;
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"Code": code, "Message": message, "RequestId": mb_core::ids::random_hex(16)}),
        ),
    )
        .into_response()
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn expected_signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let query = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&{}&{}", encode("/"), encode(&query));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("hmac key");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `2016-02-23T12:46:24Z` → Unix seconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, clock) = s.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let c: Vec<u8> = clock
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || c.len() != 3 {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(d[1]).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(d[0]).ok()?, month, u8::try_from(d[2]).ok()?)
            .ok()?;
    let t = time::Time::from_hms(c[0], c[1], c[2]).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

async fn handle(State(st): State<Arc<St>>, method: Method, uri: Uri, body: Bytes) -> Response {
    if st.shared.take_fault() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        );
    }
    let params = if method == Method::POST {
        parse_form(&String::from_utf8_lossy(&body))
    } else {
        parse_form(uri.query().unwrap_or(""))
    };
    let p = |k: &str| params.get(k).cloned().unwrap_or_default();
    for required in [
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
        "Action",
        "Format",
    ] {
        if !params.contains_key(required) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("MissingParameter.{required}"),
                &format!("{required} is mandatory for this action."),
            );
        }
    }
    if p("AccessKeyId") != st.key_id {
        st.shared.auth_failed();
        return error(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        );
    }
    if p("SignatureMethod") != "HMAC-SHA1" || p("SignatureVersion") != "1.0" {
        st.shared.auth_failed();
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureMethod",
            "Specified signature method is not supported.",
        );
    }
    match parse_timestamp(&p("Timestamp")) {
        Some(ts) if (now_unix() - ts).abs() <= 900 => {}
        Some(_) => {
            st.shared.auth_failed();
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            );
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            );
        }
    }
    if expected_signature(method.as_str(), &params, &st.secret) != p("Signature") {
        st.shared.auth_failed();
        return error(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        );
    }
    if !st.nonces.lock().insert(p("SignatureNonce")) {
        st.shared.auth_failed();
        return error(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
    }
    if p("Version") != "2015-01-09" {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        );
    }
    let request_id = mb_core::ids::random_hex(16);
    match p("Action").as_str() {
        "DescribeDomains" => {
            let size: usize = p("PageSize").parse().unwrap_or(20).clamp(1, 100);
            let page: usize = p("PageNumber").parse().unwrap_or(1).max(1);
            let all: Vec<Value> = st
                .shared
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| json!({"DomainName": z, "DomainId": format!("dom-{i}")}))
                .collect();
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .cloned()
                .collect();
            axum::Json(json!({"TotalCount": all.len(), "PageNumber": page, "PageSize": size, "Domains": {"Domain": items}, "RequestId": request_id})).into_response()
        }
        "AddDomainRecord" => {
            let zone = p("DomainName");
            if !st.shared.zone_exists(&zone) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidDomainName.NoExist",
                    "The specified domain name does not exist. Refresh the page and try again.",
                );
            }
            if p("Type") != "TXT" || p("RR").is_empty() || p("Value").is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    "RR, Type and Value are required.",
                );
            }
            let fqdn = format!("{}.{zone}", p("RR"));
            let rec = st.shared.create(&zone, &fqdn, &p("Value")).await;
            axum::Json(json!({"RecordId": rec.id, "RequestId": request_id})).into_response()
        }
        "DeleteDomainRecord" => match st.shared.delete(&p("RecordId")).await {
            Some(rec) => {
                axum::Json(json!({"RecordId": rec.id, "RequestId": request_id})).into_response()
            }
            None => error(
                StatusCode::BAD_REQUEST,
                "DomainRecordNotBelongToUser",
                "The DNS record does not exist or does not belong to this account.",
            ),
        },
        other => error(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            &format!("Specified api {other} is not found."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_agrees_with_the_documented_vector() {
        let params: BTreeMap<String, String> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            expected_signature("GET", &params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        assert_eq!(
            expected_signature("POST", &params, "testsecret"),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
        assert_eq!(parse_timestamp("2016-02-23T12:46:24Z"), Some(1456231584));
    }
}
