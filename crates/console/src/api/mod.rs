//! The console's JSON API under `/_/api/`, a module per page. Every handler but sign-in takes
//! an [`AdminSession`](crate::session::AdminSession) (session cookie, CSRF on changes, no
//! bearer tokens) and answers JSON; errors are the API envelope (`{"error":{code,message,
//! request_id}}`). Changes are written to the audit log after they succeed.

mod auth;
mod db;
pub mod doctor;
mod files;
mod functions;
mod logs;
mod overview;
mod pay;
mod settings;
mod users;

use crate::Console;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mb_core::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;

/// Every API route.
pub fn router() -> Router<Console> {
    Router::new()
        .merge(auth::router())
        .merge(overview::router())
        .merge(doctor::router())
        .merge(db::router())
        .merge(users::router())
        .merge(files::router())
        .merge(functions::router())
        .merge(pay::router())
        .merge(logs::router())
        .merge(settings::router())
}

/// A JSON body (request) or answer (response), with clear 400/413 refusals.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            if !ct.starts_with("application/json") {
                return Err(ApiError::invalid("Content-Type must be application/json"));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status().as_u16() == 413 {
                ApiError::too_large("request body too large")
            } else {
                ApiError::new(ErrorCode::from_status(r.status()), r.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::invalid(format!("invalid body: {e}")))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("console answer: {e}")).into_response(),
        }
    }
}

/// A query-string parameter, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?;
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            return Some(percent_decode(v));
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `limit` parameter within `1..=max` (default `default`).
pub fn limit_param(v: Option<String>, default: u64, max: u64) -> Result<u64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_decode() {
        assert_eq!(
            query_param(Some("a=1&path=img%2Fa%20b.png"), "path").as_deref(),
            Some("img/a b.png")
        );
        assert_eq!(query_param(Some("a=1"), "b"), None);
        assert_eq!(query_param(Some("p=%zz%4"), "p").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(Some("p=%E4%B8%AD"), "p").as_deref(), Some("中"));
    }
}
