//! How cloud functions reach the other areas, and the other areas reach functions: [`build`]
//! makes the [`Functions`] manager with the database (`cloud.database()`, rules bypassed), the
//! timer lease, `cloud.pay.*` ([`PayMethods`]), files and open APIs ([`Bindings`]:
//! `functions::bindings::StorageFiles`, [`WechatOpenApi`]); then it connects payment
//! notifications to `wechat_pay.notify_function` ([`PayToFunction`]) and message push to
//! `wechat.push_function` ([`PushToFunction`]).

use async_trait::async_trait;
use functions::{CallContext, Functions, HostError, Services, Settings, host::bytes_value};
use mb_core::{ApiError, Caller};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Bindings to areas wired outside this module (storage, WeChat); `None` = not available,
/// and the function gets a clear `UNAVAILABLE` error.
#[derive(Default)]
pub struct Bindings {
    /// `cloud.uploadFile` & co.: `functions::bindings::StorageFiles` over `storage::Files`.
    pub files: Option<Arc<dyn functions::Files>>,
    /// The WeChat area: `cloud.openapi.*` ([`WechatOpenApi`]) and message push to
    /// `wechat.push_function` ([`PushToFunction`]).
    pub wechat: Option<wechat::Wechat>,
}

/// How temporary file URLs handed to functions are written, with no request to take the host
/// from: `storage.public_base_url`, else `https://` and the first of `server.domains`, else the
/// plain listener's address.
pub fn public_base_url(config: &config::Config) -> String {
    if !config.storage.public_base_url.is_empty() {
        return config
            .storage
            .public_base_url
            .trim_end_matches('/')
            .to_owned();
    }
    if let Some(domain) = config.server.domains.first() {
        return format!("https://{domain}");
    }
    let addr = config.server.http_addr.replace("0.0.0.0", "127.0.0.1");
    format!("http://{addr}")
}

/// Builds the functions area (see the module docs) and starts its timer triggers.
pub fn build(
    config: &config::Config,
    db: &docdb::Database,
    pay: Option<&pay::service::PayService>,
    bindings: Bindings,
) -> anyhow::Result<Functions> {
    let services = Services {
        database: Some(Arc::new(functions::bindings::DocDatabase::new(db.clone()))),
        lease: Some(Arc::new(functions::bindings::KvTimerLease::new(db.clone()))),
        files: bindings.files,
        openapi: bindings
            .wechat
            .clone()
            .map(|w| Arc::new(WechatOpenApi::new(w)) as Arc<dyn functions::OpenApi>),
        pay: pay.map(|p| Arc::new(PayMethods::new(p.clone())) as Arc<dyn functions::Pay>),
    };
    let functions = Functions::new(Settings::from_config(config), services)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    functions.start_timers();
    if let Some(w) = &bindings.wechat {
        if !config.wechat.push_function.is_empty() {
            w.set_push_handler(Arc::new(PushToFunction::new(functions.clone())));
        }
    }
    let notify = &config.wechat_pay.notify_function;
    if let Some(p) = pay {
        if !notify.is_empty() {
            p.set_event_sink(Arc::new(PayToFunction::new(
                functions.clone(),
                notify.clone(),
            )));
        }
    }
    tracing::info!(dir = %config.functions.dir.display(), "cloud functions ready");
    Ok(functions)
}

/// `cloud.openapi.<ns>.<method>(args)` over the WeChat area: CloudBase's camelCase arguments
/// become WeChat's snake_case, and the answer comes back camelCase with `errCode: 0` and
/// `errMsg`, as wx-server-sdk gives it. Images (`wxacode.getUnlimited`) come back as
/// `{contentType, buffer}`.
pub struct WechatOpenApi {
    wechat: wechat::Wechat,
}

impl WechatOpenApi {
    /// Binds the WeChat area.
    pub fn new(wechat: wechat::Wechat) -> Self {
        WechatOpenApi { wechat }
    }
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut up = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames object keys recursively with `f`; the values under `keep` (template `data`) are
/// left as they are.
fn rename_keys(v: Value, f: &dyn Fn(&str) -> String, keep: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = if keep.contains(&k.as_str()) {
                        v
                    } else {
                        rename_keys(v, f, keep)
                    };
                    (f(&k), v)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|x| rename_keys(x, f, keep)).collect())
        }
        other => other,
    }
}

/// `cloud.openapi.invoke({ path, method, data })`: any other open API, by its path on
/// WeChat's host, with the shared access token; `data` is sent as it is and the answer is
/// WeChat's own (snake_case) with `errCode`/`errMsg`.
async fn invoke_by_path(
    wechat: &wechat::Wechat,
    args: &Value,
) -> Result<wechat::OpenApiReply, HostError> {
    let path = args.get("path").and_then(Value::as_str).ok_or_else(|| {
        HostError::invalid("cloud.openapi.invoke needs path, e.g. '/wxa/generate_urllink'")
    })?;
    let post = match args.get("method").and_then(Value::as_str).unwrap_or("POST") {
        m if m.eq_ignore_ascii_case("POST") => true,
        m if m.eq_ignore_ascii_case("GET") => false,
        m => {
            return Err(HostError::invalid(format!(
                "cloud.openapi.invoke: method must be GET or POST, not {m:?}"
            )));
        }
    };
    wechat
        .openapi()
        .call_path(post, path, args.get("data").cloned())
        .await
        .map_err(|e| HostError::from(e.to_api_error()))
}

#[async_trait]
impl functions::OpenApi for WechatOpenApi {
    async fn call(&self, api: &str, args: Value) -> Result<Value, HostError> {
        let ok = format!("openapi.{api}:ok");
        let (reply, rename) = if api == "invoke" {
            (Some(invoke_by_path(&self.wechat, &args).await), false)
        } else {
            let body = rename_keys(args, &snake, &["data"]);
            let reply = self.wechat.openapi().call_by_name(api, body).await;
            (
                reply.map(|r| r.map_err(|e| HostError::from(e.to_api_error()))),
                true,
            )
        };
        match reply {
            None => Err(HostError::invalid(format!(
                "cloud.openapi.{api} is not supported; available: {}, and cloud.openapi.invoke({{ path, method, data }}) for any other",
                wechat::openapi::API_NAMES
                    .iter()
                    .map(|n| match *n {
                        "msgSecCheck" | "mediaCheckAsync" => format!("security.{n}"),
                        n => n.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Some(Err(e)) => Err(e),
            Some(Ok(wechat::OpenApiReply::Json(v))) => {
                let v = if rename {
                    rename_keys(v, &camel, &[])
                } else {
                    v
                };
                let mut out = match v {
                    Value::Object(m) => m,
                    other => {
                        let mut m = Map::new();
                        m.insert("result".into(), other);
                        m
                    }
                };
                out.insert("errCode".into(), json!(0));
                out.insert("errMsg".into(), json!(ok));
                Ok(Value::Object(out))
            }
            Some(Ok(wechat::OpenApiReply::Image(img))) => Ok(json!({
                "contentType": img.content_type,
                "buffer": bytes_value(&img.bytes),
                "errCode": 0,
                "errMsg": ok,
            })),
        }
    }
}

/// Hands accepted message-push messages to `wechat.push_function`: the event is the message
/// itself (`ToUserName`, `FromUserName`, `MsgType`, `Content`, …) as CloudBase delivers it,
/// `OPENID` its sender and `SOURCE` `wx_message`.
pub struct PushToFunction {
    functions: Functions,
}

impl PushToFunction {
    /// Runs pushes on `functions`.
    pub fn new(functions: Functions) -> Self {
        PushToFunction { functions }
    }
}

#[async_trait]
impl wechat::PushHandler for PushToFunction {
    async fn handle(&self, function: &str, record: &Value) -> Result<(), String> {
        let event = record.get("message").cloned().unwrap_or_else(|| json!({}));
        let id = record
            .get("_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut ctx = CallContext::new(
            Caller::System,
            format!("push-{}", &id[..id.len().min(16)]),
            None,
        )
        .with_source("wx_message");
        if let Some(openid) = record.get("openid").and_then(Value::as_str) {
            ctx = ctx.on_behalf_of(openid);
        }
        self.functions
            .invoke(function, &event, ctx)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `cloud.pay.<method>(args)` over the payment area (`createOrder`, `queryOrder`,
/// `closeOrder`, `refund`, with the bodies of API.md §8).
pub struct PayMethods {
    pay: pay::service::PayService,
}

impl PayMethods {
    /// Binds the payment service.
    pub fn new(pay: pay::service::PayService) -> Self {
        PayMethods { pay }
    }
}

#[async_trait]
impl functions::Pay for PayMethods {
    async fn call(&self, method: &str, args: Value) -> Result<Value, HostError> {
        self.pay
            .call_method(method, &args)
            .await
            .map_err(|e| HostError::from(ApiError::from(e)))
    }
}

/// Runs `wechat_pay.notify_function` once per order transition: the event is
/// `{kind: "PAID"|"REFUNDED"|"REFUND_FAILED"|"CLOSED", out_trade_no, out_refund_no?, order}`,
/// `OPENID` the payer and `SOURCE` `wx_paycallback`.
pub struct PayToFunction {
    functions: Functions,
    function: String,
}

impl PayToFunction {
    /// Runs `function` on `functions` for every payment event.
    pub fn new(functions: Functions, function: impl Into<String>) -> Self {
        PayToFunction {
            functions,
            function: function.into(),
        }
    }
}

#[async_trait]
impl pay::service::PayEventSink for PayToFunction {
    async fn on_event(&self, event: pay::service::PayEvent) {
        let payload = serde_json::to_value(&event).unwrap_or(Value::Null);
        let mut ctx = CallContext::new(Caller::System, mb_core::ids::random_hex(8), None)
            .with_source("wx_paycallback");
        if let Some(openid) = event.order.get("openid").and_then(Value::as_str) {
            ctx = ctx.on_behalf_of(openid);
        }
        if let Err(e) = self.functions.invoke(&self.function, &payload, ctx).await {
            tracing::warn!(function = %self.function, out_trade_no = %event.out_trade_no, error = %e, "payment notify function failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_styles() {
        assert_eq!(snake("templateId"), "template_id");
        assert_eq!(snake("miniprogramState"), "miniprogram_state");
        assert_eq!(snake("touser"), "touser");
        assert_eq!(camel("trace_id"), "traceId");
        assert_eq!(camel("phone_info"), "phoneInfo");
        assert_eq!(camel("errcode"), "errcode");
        let v = rename_keys(
            json!({"templateId": "t", "data": {"thing1": {"value": "x"}, "a_b": 1}, "lineColor": {"r": 1}}),
            &snake,
            &["data"],
        );
        assert_eq!(
            v,
            json!({"template_id": "t", "data": {"thing1": {"value": "x"}, "a_b": 1}, "line_color": {"r": 1}})
        );
    }
}
