//! The HTTP trigger (`ANY /fn/{name}/{rest…}`), with CloudBase's HTTP-access shapes.
//!
//! The request becomes the "integration request" event
//! `{path, httpMethod, headers, queryStringParameters, requestContext, body, isBase64Encoded}`
//! (`path` is the part after `/fn/{name}`, starting with `/`; header names are lower case;
//! text bodies are passed as text, anything else base64 with `isBase64Encoded: true`).
//!
//! What `main` returns becomes the response, as CloudBase does:
//! - an object with a numeric `statusCode` is an integration response
//!   `{statusCode, headers, body, isBase64Encoded}` (`body` a string, or any JSON value which is
//!   then sent as JSON; header values may be arrays for repeated headers such as `set-cookie`);
//! - a string or a number → 200 `text/plain; charset=utf-8`;
//! - any other object, an array, a boolean → 200 `application/json`;
//! - `undefined`/`null` → 200 with an empty body.

use crate::{CallContext, FunctionError, Functions};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// An HTTP request to a function.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path after `/fn/{name}`, starting with `/`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers to send (validated names and values).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` → `{"a":"1","b":"x y"}` (a repeated key keeps its last value).
fn query_object(q: Option<&str>) -> Value {
    let mut m = Map::new();
    for part in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        m.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Value::Object(m)
}

fn is_text(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct.contains("x-www-form-urlencoded")
        || ct.contains("graphql")
}

impl HttpRequest {
    /// The integration-request event.
    pub fn event(&self, request_id: &str, appid: &str, env_id: &str) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            let k = k.to_ascii_lowercase();
            match headers.get_mut(&k) {
                Some(Value::String(prev)) => {
                    prev.push_str(if k == "cookie" { "; " } else { ", " });
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k, Value::String(v.clone()));
                }
            }
        }
        let content_type = headers
            .get("content-type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let text = if self.body.is_empty() || content_type.is_empty() || is_text(&content_type) {
            std::str::from_utf8(&self.body).ok()
        } else {
            None
        };
        let (body, b64) = match text {
            Some(t) => (t.to_owned(), false),
            None => (
                base64::engine::general_purpose::STANDARD.encode(&self.body),
                true,
            ),
        };
        json!({
            "path": if self.path.is_empty() { "/" } else { self.path.as_str() },
            "httpMethod": self.method,
            "headers": headers,
            "queryStringParameters": query_object(self.query.as_deref()),
            "requestContext": { "requestId": request_id, "envId": env_id, "appId": appid, "uin": "" },
            "body": body,
            "isBase64Encoded": b64,
        })
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
];

fn valid_header_name(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
fn valid_header_value(v: &str) -> bool {
    v.bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
}

/// Turns what `main` returned into the response (see the module docs).
pub fn response(name: &str, result: Value) -> Result<HttpResponse, FunctionError> {
    let bad = |m: String| FunctionError::BadResponse {
        name: name.to_owned(),
        message: m,
    };
    let text = |s: String| HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: s.into_bytes(),
    };
    let json_body = |v: &Value| HttpResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: v.to_string().into_bytes(),
    };
    match result {
        Value::Null => Ok(HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }),
        Value::String(s) => Ok(text(s)),
        Value::Number(n) => Ok(text(n.to_string())),
        Value::Object(ref m) if m.get("statusCode").is_some_and(Value::is_number) => {
            let status = m["statusCode"]
                .as_u64()
                .filter(|s| (200..=599).contains(s))
                .ok_or_else(|| {
                    bad(format!(
                        "statusCode must be an integer from 200 to 599, not {}",
                        m["statusCode"]
                    ))
                })? as u16;
            let mut headers = Vec::new();
            let mut has_type = false;
            if let Some(h) = m.get("headers") {
                let h = h
                    .as_object()
                    .ok_or_else(|| bad("headers must be an object".into()))?;
                for (k, v) in h {
                    let k = k.to_ascii_lowercase();
                    if !valid_header_name(&k) {
                        return Err(bad(format!("invalid header name '{k}'")));
                    }
                    if HOP_BY_HOP.contains(&k.as_str()) {
                        continue;
                    }
                    let values: Vec<String> = match v {
                        Value::Array(items) => items.iter().map(scalar).collect::<Option<_>>(),
                        other => scalar(other).map(|s| vec![s]),
                    }
                    .ok_or_else(|| {
                        bad(format!(
                            "header '{k}' must be a string, a number or an array of them"
                        ))
                    })?;
                    for val in values {
                        if !valid_header_value(&val) {
                            return Err(bad(format!("invalid value for header '{k}'")));
                        }
                        has_type |= k == "content-type";
                        headers.push((k.clone(), val));
                    }
                }
            }
            let b64 = m
                .get("isBase64Encoded")
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
            let body = match m.get("body") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) if b64 => base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|_| {
                        bad("isBase64Encoded is true but body is not valid base64".into())
                    })?,
                Some(Value::String(s)) => {
                    if !has_type {
                        headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
                    }
                    s.clone().into_bytes()
                }
                Some(other) => {
                    if !has_type {
                        headers.push((
                            "content-type".into(),
                            "application/json; charset=utf-8".into(),
                        ));
                    }
                    other.to_string().into_bytes()
                }
            };
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        }
        other => Ok(json_body(&other)),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Functions {
    /// Runs `name` as an HTTP trigger: the request becomes the integration-request event and
    /// what `main` returns becomes the response. `ctx.source` is usually `http`.
    pub async fn http(
        &self,
        name: &str,
        req: HttpRequest,
        ctx: CallContext,
    ) -> Result<HttpResponse, FunctionError> {
        let s = self.settings();
        let event = req.event(&ctx.request_id, &s.appid, &s.env_id);
        let result = self.invoke(name, &event, ctx).await?;
        response(name, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_shape() {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/a/b".into(),
            query: Some("x=1&y=hello%20world&z=a+b&x=2".into()),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("cookie".into(), "a=1".into()),
                ("cookie".into(), "b=2".into()),
            ],
            body: br#"{"k":1}"#.to_vec(),
        };
        let e = req.event("rid", "wx1", "env");
        assert_eq!(e["path"], "/a/b");
        assert_eq!(e["httpMethod"], "POST");
        assert_eq!(e["headers"]["content-type"], "application/json");
        assert_eq!(e["headers"]["cookie"], "a=1; b=2");
        assert_eq!(
            e["queryStringParameters"],
            json!({"x": "2", "y": "hello world", "z": "a b"})
        );
        assert_eq!(e["body"], r#"{"k":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["requestContext"]["requestId"], "rid");
        let bin = HttpRequest {
            method: "PUT".into(),
            path: "/".into(),
            headers: vec![("content-type".into(), "image/png".into())],
            body: vec![0, 159, 146, 150],
            ..Default::default()
        };
        let e = bin.event("r", "", "");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ+Slg==");
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
        assert_eq!(percent_decode("%E4%BD%A0"), "你");
    }

    #[test]
    fn response_shapes() {
        let r = response("f", json!("hello")).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"hello".as_slice()));
        assert_eq!(r.headers[0].1, "text/plain; charset=utf-8");
        let r = response("f", json!({"foo": "bar"})).unwrap();
        assert_eq!(r.headers[0].1, "application/json; charset=utf-8");
        assert_eq!(r.body, br#"{"foo":"bar"}"#);
        let r = response("f", json!({"statusCode": 201, "headers": {"Content-Type": "text/html", "set-cookie": ["a=1", "b=2"], "Content-Length": "9"}, "body": "<p>x</p>"})).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers,
            vec![
                ("content-type".to_string(), "text/html".to_string()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into())
            ]
        );
        let r = response(
            "f",
            json!({"statusCode": 200, "body": "AAEC", "isBase64Encoded": true}),
        )
        .unwrap();
        assert_eq!(r.body, vec![0, 1, 2]);
        let r = response("f", json!({"statusCode": 200, "body": {"a": 1}})).unwrap();
        assert_eq!(r.body, br#"{"a":1}"#);
        assert!(response("f", json!({"statusCode": 99})).is_err());
        assert!(
            response(
                "f",
                json!({"statusCode": 200, "headers": {"bad name": "x"}})
            )
            .is_err()
        );
        assert!(response("f", json!({"statusCode": 200, "headers": {"x": "a\r\nb"}})).is_err());
        assert!(
            response(
                "f",
                json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true})
            )
            .is_err()
        );
        assert_eq!(response("f", Value::Null).unwrap().body, Vec::<u8>::new());
    }
}
