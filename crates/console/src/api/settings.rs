//! The Settings page: the effective configuration, one dotted key per line, with where each
//! value came from (the file, an environment variable, `--data-dir`, or the default).
//! Secrets are never shown: only whether they are set. Also the list of admins.

use super::Json;
use crate::Console;
use crate::session::AdminSession;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use mb_core::ApiError;
use serde_json::{Value, json};

pub fn router() -> Router<Console> {
    Router::new().route("/settings", get(settings))
}

/// Whether a secret key holds a value (known secrets; others are shown as redacted).
fn secret_set(c: &config::Config, path: &str) -> Option<bool> {
    let s = match path {
        "auth.service_key" => &c.auth.service_key,
        "auth.jwt_secret" => &c.auth.jwt_secret,
        "wechat.secret" => &c.wechat.secret,
        "wechat.push_token" => &c.wechat.push_token,
        "wechat.push_aes_key" => &c.wechat.push_aes_key,
        "wechat_pay.apiv3_key" => &c.wechat_pay.apiv3_key,
        "storage.signing_secret" => &c.storage.signing_secret,
        "storage.secret_access_key" => &c.storage.secret_access_key,
        "tls.acme.dns_key_secret" => &c.tls.acme.dns_key_secret,
        _ => return None,
    };
    Some(!s.is_empty())
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

async fn settings(
    State(console): State<Console>,
    _s: AdminSession,
) -> Result<impl IntoResponse, ApiError> {
    let c = console.config();
    let value = serde_json::to_value(c).map_err(ApiError::internal)?;
    let mut flat = Vec::new();
    flatten("", &value, &mut flat);
    let entries: Vec<Value> = flat
        .into_iter()
        .map(|(key, v)| {
            let origin = c
                .origins
                .get(&key)
                .cloned()
                .or_else(|| {
                    // A key under a table set as a whole (an inline table in the file).
                    c.origins
                        .iter()
                        .find(|(k, _)| key.starts_with(&format!("{k}.")))
                        .map(|(_, o)| o.clone())
                })
                .unwrap_or_else(|| "default".into());
            let secret = config::keys::is_secret(&key);
            let shown = if secret {
                match secret_set(c, &key) {
                    Some(true) => json!("[set, redacted]"),
                    Some(false) => json!(""),
                    None => json!("[redacted]"),
                }
            } else {
                v
            };
            json!({ "key": key, "value": shown, "secret": secret, "origin": origin })
        })
        .collect();
    let admins = console.admins().list().await?;
    Ok(Json(json!({ "data": entries, "admins": admins })))
}
