//! Typed clients for the server-side open APIs (服务端接口) that take the shared access token:
//! content security (`msgSecCheck` v2, `mediaCheckAsync`), subscribe messages
//! (`subscribeMessage.send`), unlimited mini-program codes (`wxacode.getUnlimited`) and phone
//! numbers (`phonenumber.getPhoneNumber`).
//!
//! Every call goes through [`AccessTokenManager::call`], so a rejected token (40001/42001) is
//! refreshed once and the call retried once. Request types accept WeChat's snake_case field
//! names and CloudBase's camelCase ones (`templateId`, `miniprogramState`, `isHyaline`, …), so
//! code moved from `cloud.openapi` works unchanged. [`OpenApi::call_by_name`] is what
//! `POST /api/wechat/openapi/{api}` and functions use.

use crate::client::{Call, RawReply, WechatClient, parse_json};
use crate::error::WechatError;
use crate::token::AccessTokenManager;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

fn default_version() -> u8 {
    2
}

/// `msgSecCheck` (v2) request: is this text acceptable? (文本内容安全识别)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsgSecCheck {
    /// The text (≤ 2500 characters).
    pub content: String,
    /// Always 2 (v2 API).
    #[serde(default = "default_version")]
    pub version: u8,
    /// 1 profile, 2 comment, 3 forum, 4 social log.
    pub scene: u8,
    /// The author's openid (must have used the mini program in the last 2 hours).
    pub openid: String,
    /// Optional title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Optional user nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Optional personal signature (scene 1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The verdict of a content check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecVerdict {
    /// `pass`, `review` or `risky`.
    pub suggest: String,
    /// 100 normal; 10001 ads, 20001 politics, 20002 porn, 20003 abuse, 20006 crime, …
    pub label: i64,
}

/// `msgSecCheck` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MsgSecCheckResult {
    /// The overall verdict.
    pub result: SecVerdict,
    /// Per-strategy details as WeChat gives them.
    #[serde(default)]
    pub detail: Vec<Value>,
    /// WeChat's trace id.
    #[serde(default)]
    pub trace_id: String,
}

/// `mediaCheckAsync` request: check an image or audio file; the verdict arrives later as a
/// `wxa_media_check` push event (消息推送).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaCheckAsync {
    /// A URL WeChat can download.
    #[serde(alias = "mediaUrl")]
    pub media_url: String,
    /// 1 audio, 2 image.
    #[serde(alias = "mediaType")]
    pub media_type: u8,
    /// Always 2.
    #[serde(default = "default_version")]
    pub version: u8,
    /// 1 profile, 2 comment, 3 forum, 4 social log.
    pub scene: u8,
    /// The uploader's openid.
    pub openid: String,
}

/// `mediaCheckAsync` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaCheckAsyncResult {
    /// Matches the `trace_id` of the later push event.
    pub trace_id: String,
}

/// `subscribeMessage.send` request (发送订阅消息).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeMessage {
    /// The recipient's openid.
    pub touser: String,
    /// The template id from the console.
    #[serde(alias = "templateId")]
    pub template_id: String,
    /// Page opened when the message is tapped (`index?foo=bar`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `{"thing1": {"value": "…"}, …}`.
    pub data: Map<String, Value>,
    /// `developer`, `trial` or `formal` (default).
    #[serde(
        default,
        alias = "miniprogramState",
        skip_serializing_if = "Option::is_none"
    )]
    pub miniprogram_state: Option<String>,
    /// `zh_CN` (default), `en_US`, `zh_HK`, `zh_TW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// `subscribeMessage.send` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubscribeSendResult {
    /// The message id, when WeChat gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<Value>,
}

/// `wxacode.getUnlimited` request (获取不限制的小程序码).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WxacodeUnlimited {
    /// Up to 32 visible characters, passed to the page as `scene`.
    pub scene: String,
    /// A published page, without a leading `/`; default the home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Whether WeChat checks that `page` exists (default true).
    #[serde(default, alias = "checkPath", skip_serializing_if = "Option::is_none")]
    pub check_path: Option<bool>,
    /// `release` (default), `trial` or `develop`.
    #[serde(default, alias = "envVersion", skip_serializing_if = "Option::is_none")]
    pub env_version: Option<String>,
    /// Width in px, 280..=1280.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Automatic line colour.
    #[serde(default, alias = "autoColor", skip_serializing_if = "Option::is_none")]
    pub auto_color: Option<bool>,
    /// `{"r":0,"g":0,"b":0}` when `auto_color` is false.
    #[serde(default, alias = "lineColor", skip_serializing_if = "Option::is_none")]
    pub line_color: Option<Value>,
    /// Transparent background (PNG).
    #[serde(default, alias = "isHyaline", skip_serializing_if = "Option::is_none")]
    pub is_hyaline: Option<bool>,
}

/// An image WeChat generated.
#[derive(Debug, Clone)]
pub struct Image {
    /// `image/jpeg` or `image/png`.
    pub content_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// `phonenumber.getPhoneNumber` request: the code from `<button open-type="getPhoneNumber">`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetPhoneNumber {
    /// The single-use code (valid 5 minutes).
    pub code: String,
    /// Optional openid, as WeChat accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
}

/// A phone number, as `getuserphonenumber` answers in `phone_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneInfo {
    /// With country code for non-mainland numbers (`+1 202…`), otherwise the plain number.
    pub phone_number: String,
    /// Without country code.
    pub pure_phone_number: String,
    /// `86`, …
    pub country_code: String,
    /// `{"timestamp","appid"}`.
    #[serde(default)]
    pub watermark: Value,
}

/// What [`OpenApi::call_by_name`] answers: JSON (WeChat's shape without errcode/errmsg) or an image.
#[derive(Debug, Clone)]
pub enum OpenApiReply {
    /// A JSON object.
    Json(Value),
    /// Image bytes with their content type.
    Image(Image),
}

/// The API names `call_by_name` knows, as written in URLs.
pub const API_NAMES: &[&str] = &[
    "msgSecCheck",
    "mediaCheckAsync",
    "subscribeMessage.send",
    "wxacode.getUnlimited",
    "phonenumber.getPhoneNumber",
    "subscribeMessage.getTemplateList",
    "subscribeMessage.addTemplate",
    "subscribeMessage.deleteTemplate",
    "subscribeMessage.getCategory",
    "templateMessage.send",
    "uniformMessage.send",
    "customerServiceMessage.send",
    "wxacode.get",
    "wxacode.createQRCode",
    "urlscheme.generate",
    "urllink.generate",
];

/// Open APIs passed through by path: the request body goes to WeChat as it is (snake_case
/// keys), the answer comes back without `errcode`/`errmsg` (or as an image). `(name, POST?,
/// path)`.
const PATH_APIS: &[(&str, bool, &str)] = &[
    (
        "subscribeMessage.getTemplateList",
        false,
        "/wxaapi/newtmpl/gettemplate",
    ),
    (
        "subscribeMessage.addTemplate",
        true,
        "/wxaapi/newtmpl/addtemplate",
    ),
    (
        "subscribeMessage.deleteTemplate",
        true,
        "/wxaapi/newtmpl/deltemplate",
    ),
    (
        "subscribeMessage.getCategory",
        false,
        "/wxaapi/newtmpl/getcategory",
    ),
    (
        "templateMessage.send",
        true,
        "/cgi-bin/message/wxopen/template/send",
    ),
    (
        "uniformMessage.send",
        true,
        "/cgi-bin/message/wxopen/template/uniform_send",
    ),
    (
        "customerServiceMessage.send",
        true,
        "/cgi-bin/message/custom/send",
    ),
    ("wxacode.get", true, "/wxa/getwxacode"),
    (
        "wxacode.createQRCode",
        true,
        "/cgi-bin/wxaapp/createwxaqrcode",
    ),
    ("urlscheme.generate", true, "/wxa/generatescheme"),
    ("urllink.generate", true, "/wxa/generate_urllink"),
];

/// Whether `path` may be called through [`OpenApi::call_path`]: a plain API path on WeChat's
/// host (`/wxa/…`, `/cgi-bin/…`), not the token or login endpoints.
pub fn callable_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 128
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
        && !path.contains("..")
        && !path.contains("//")
        && !path.starts_with("/sns/")
        && !path.contains("token")
}

/// The open-API clients. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OpenApi {
    client: WechatClient,
    tokens: Arc<AccessTokenManager>,
}

impl OpenApi {
    /// Open APIs calling through `tokens` (which owns the client).
    pub fn new(tokens: Arc<AccessTokenManager>) -> Self {
        OpenApi {
            client: tokens.client().clone(),
            tokens,
        }
    }

    /// The token manager.
    pub fn tokens(&self) -> &Arc<AccessTokenManager> {
        &self.tokens
    }

    async fn post_json(
        &self,
        path: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<Value, WechatError> {
        self.tokens
            .call(|token| {
                self.client.call_json(Call {
                    post: true,
                    path,
                    query: vec![("access_token", token)],
                    body: Some(body.clone()),
                    idempotent,
                })
            })
            .await
    }

    /// `POST wxa/msg_sec_check` (v2).
    pub async fn msg_sec_check(&self, req: &MsgSecCheck) -> Result<MsgSecCheckResult, WechatError> {
        if req.content.is_empty() {
            return Err(WechatError::InvalidRequest(
                "content must not be empty".into(),
            ));
        }
        let v = self
            .post_json("/wxa/msg_sec_check", &to_value(req)?, true)
            .await?;
        from_value(v)
    }

    /// `POST wxa/media_check_async` (v2).
    pub async fn media_check_async(
        &self,
        req: &MediaCheckAsync,
    ) -> Result<MediaCheckAsyncResult, WechatError> {
        let v = self
            .post_json("/wxa/media_check_async", &to_value(req)?, false)
            .await?;
        from_value(v)
    }

    /// `POST cgi-bin/message/subscribe/send`. 43101: the user has not subscribed (or used up
    /// their one-time subscription).
    pub async fn send_subscribe_message(
        &self,
        req: &SubscribeMessage,
    ) -> Result<SubscribeSendResult, WechatError> {
        let v = self
            .post_json("/cgi-bin/message/subscribe/send", &to_value(req)?, false)
            .await?;
        from_value(v)
    }

    /// `POST wxa/getwxacodeunlimit`: the image, or WeChat's error.
    pub async fn get_unlimited_wxacode(
        &self,
        req: &WxacodeUnlimited,
    ) -> Result<Image, WechatError> {
        if req.scene.is_empty() || req.scene.chars().count() > 32 {
            return Err(WechatError::InvalidRequest(
                "scene must be 1 to 32 characters".into(),
            ));
        }
        let body = to_value(req)?;
        let raw: RawReply = self
            .tokens
            .call(|token| async {
                let raw = self
                    .client
                    .call_raw(Call {
                        post: true,
                        path: "/wxa/getwxacodeunlimit",
                        query: vec![("access_token", token)],
                        body: Some(body.clone()),
                        idempotent: true,
                    })
                    .await?;
                if raw.is_json() {
                    // an errcode answer (a JSON success is not an image: unexpected)
                    parse_json(&raw.body)?;
                    return Err(WechatError::BadResponse(
                        "wxacode answered JSON without an image".into(),
                    ));
                }
                Ok(raw)
            })
            .await?;
        let content_type = if raw.content_type.is_empty() {
            "image/jpeg".to_string()
        } else {
            raw.content_type
        };
        Ok(Image {
            content_type,
            bytes: raw.body,
        })
    }

    /// `POST wxa/business/getuserphonenumber`: the phone number behind a getPhoneNumber code.
    pub async fn get_phone_number(&self, req: &GetPhoneNumber) -> Result<PhoneInfo, WechatError> {
        if req.code.is_empty() {
            return Err(WechatError::InvalidRequest("code must not be empty".into()));
        }
        let v = self
            .post_json("/wxa/business/getuserphonenumber", &to_value(req)?, false)
            .await?;
        let info = v
            .get("phone_info")
            .cloned()
            .ok_or_else(|| WechatError::BadResponse("no phone_info".into()))?;
        from_value(info)
    }

    /// Calls the open API at `path` with the shared access token: `body` is sent as JSON
    /// (POST) and the answer is its JSON without `errcode`/`errmsg`, or the bytes of an image.
    /// A non-zero errcode is WeChat's error, as WeChat gave it.
    pub async fn call_path(
        &self,
        post: bool,
        path: &str,
        body: Option<Value>,
    ) -> Result<OpenApiReply, WechatError> {
        if !callable_path(path) {
            return Err(WechatError::InvalidRequest(format!(
                "{path:?} is not an open API path such as /wxa/generate_urllink"
            )));
        }
        let body = if post {
            Some(body.unwrap_or_else(|| Value::Object(Map::new())))
        } else {
            None
        };
        let raw: RawReply = self
            .tokens
            .call(|token| {
                let body = body.clone();
                async move {
                    let raw = self
                        .client
                        .call_raw(Call {
                            post,
                            path,
                            query: vec![("access_token", token)],
                            body,
                            idempotent: !post,
                        })
                        .await?;
                    if raw.is_json() {
                        parse_json(&raw.body)?;
                    }
                    Ok(raw)
                }
            })
            .await?;
        if raw.is_json() {
            let mut v = parse_json(&raw.body)?;
            if let Some(m) = v.as_object_mut() {
                m.remove("errcode");
                m.remove("errmsg");
            }
            return Ok(OpenApiReply::Json(v));
        }
        Ok(OpenApiReply::Image(Image {
            content_type: if raw.content_type.is_empty() {
                "image/jpeg".into()
            } else {
                raw.content_type
            },
            bytes: raw.body,
        }))
    }

    /// Calls an open API by its name (see [`API_NAMES`]; CloudBase's `security.` prefixed names
    /// are accepted too) with a JSON request. `None` for an unknown name.
    ///
    /// `msgSecCheck` without `version` or `openid` is the old (v1) form that wx-server-sdk
    /// still accepts: only `content`, answered by an errcode (87014 for risky content).
    pub async fn call_by_name(
        &self,
        api: &str,
        body: Value,
    ) -> Option<Result<OpenApiReply, WechatError>> {
        let api = api.strip_prefix("security.").unwrap_or(api);
        if let Some((_, post, path)) = PATH_APIS.iter().find(|(n, _, _)| *n == api) {
            return Some(self.call_path(*post, path, Some(body)).await);
        }
        Some(match api {
            "msgSecCheck" if body.get("version").is_none() && body.get("openid").is_none() => {
                match body.get("content").and_then(Value::as_str) {
                    Some(c) if !c.is_empty() => {
                        let v1 = serde_json::json!({ "content": c });
                        self.call_path(true, "/wxa/msg_sec_check", Some(v1)).await
                    }
                    _ => Err(WechatError::InvalidRequest(
                        "msgSecCheck needs a non-empty content".into(),
                    )),
                }
            }
            "msgSecCheck" => match parse::<MsgSecCheck>(body) {
                Ok(r) => self.msg_sec_check(&r).await.and_then(json_reply),
                Err(e) => Err(e),
            },
            "mediaCheckAsync" => match parse::<MediaCheckAsync>(body) {
                Ok(r) => self.media_check_async(&r).await.and_then(json_reply),
                Err(e) => Err(e),
            },
            "subscribeMessage.send" => match parse::<SubscribeMessage>(body) {
                Ok(r) => self.send_subscribe_message(&r).await.and_then(json_reply),
                Err(e) => Err(e),
            },
            "wxacode.getUnlimited" => match parse::<WxacodeUnlimited>(body) {
                Ok(r) => self
                    .get_unlimited_wxacode(&r)
                    .await
                    .map(OpenApiReply::Image),
                Err(e) => Err(e),
            },
            "phonenumber.getPhoneNumber" => match parse::<GetPhoneNumber>(body) {
                Ok(r) => self
                    .get_phone_number(&r)
                    .await
                    .and_then(|p| to_value(&p))
                    .map(|p| OpenApiReply::Json(serde_json::json!({ "phone_info": p }))),
                Err(e) => Err(e),
            },
            _ => return None,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, WechatError> {
    serde_json::from_value(body)
        .map_err(|e| WechatError::InvalidRequest(format!("invalid request body: {e}")))
}

fn json_reply<T: Serialize>(v: T) -> Result<OpenApiReply, WechatError> {
    to_value(&v).map(OpenApiReply::Json)
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, WechatError> {
    serde_json::to_value(v).map_err(|e| WechatError::InvalidRequest(e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, WechatError> {
    serde_json::from_value(v).map_err(|e| WechatError::BadResponse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_aliases() {
        let m: SubscribeMessage = serde_json::from_value(serde_json::json!({
            "touser": "o1", "templateId": "T", "miniprogramState": "developer", "data": {"thing1": {"value": "x"}}
        }))
        .unwrap();
        assert_eq!(m.template_id, "T");
        let out = serde_json::to_value(&m).unwrap();
        assert_eq!(out["template_id"], "T");
        assert_eq!(out["miniprogram_state"], "developer");
        assert!(out.get("page").is_none());
        let w: WxacodeUnlimited =
            serde_json::from_value(serde_json::json!({"scene": "a=1", "isHyaline": true})).unwrap();
        assert_eq!(w.is_hyaline, Some(true));
        let c: MsgSecCheck =
            serde_json::from_value(serde_json::json!({"content": "hi", "scene": 2, "openid": "o"}))
                .unwrap();
        assert_eq!(c.version, 2);
    }

    #[test]
    fn callable_paths() {
        for ok in [
            "/wxa/generate_urllink",
            "/cgi-bin/message/custom/send",
            "/wxaapi/newtmpl/gettemplate",
        ] {
            assert!(callable_path(ok), "{ok}");
        }
        for bad in [
            "wxa/x",
            "/sns/jscode2session",
            "/cgi-bin/token",
            "/cgi-bin/stable_token",
            "/a/../b",
            "/a?b=1",
            "/a//b",
            "/a b",
        ] {
            assert!(!callable_path(bad), "{bad}");
        }
    }

    #[test]
    fn bad_requests_are_clear() {
        let e = parse::<MsgSecCheck>(serde_json::json!({"content": 1})).unwrap_err();
        assert!(matches!(e, WechatError::InvalidRequest(_)));
        let e = parse::<SubscribeMessage>(
            serde_json::json!({"touser": "o", "template_id": "t", "data": {}, "bogus": 1}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
