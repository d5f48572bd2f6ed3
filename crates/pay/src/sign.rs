//! What we sign: every request to WeChat Pay (the `Authorization` header) and the
//! `wx.requestPayment` parameters handed to the mini program (`paySign`).
//!
//! Formats (WeChat Pay API v3):
//! - request: `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY\n`, SHA256withRSA, base64, sent as
//!   `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`;
//! - paySign: `APPID\nTIMESTAMP\nNONCESTR\nprepay_id=…\n`, same algorithm, `signType: "RSA"`.

use crate::crypto::MerchantKey;
use serde::{Deserialize, Serialize};

/// The scheme name of the `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// The message signed for a request.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header value for one request.
pub fn authorization(
    key: &MerchantKey,
    mchid: &str,
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    let signature =
        key.sign(request_message(method, path_and_query, timestamp, nonce, body).as_bytes());
    format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",serial_no=\"{}\",signature=\"{signature}\"",
        key.serial_no()
    )
}

/// The message signed for `paySign`.
pub fn pay_sign_message(appid: &str, timestamp: &str, nonce: &str, prepay_id: &str) -> String {
    format!("{appid}\n{timestamp}\n{nonce}\nprepay_id={prepay_id}\n")
}

/// Exactly what `wx.requestPayment` takes (field names as WeChat spells them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPayment {
    /// Seconds since the epoch, as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// Random string (32 alphanumerics).
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// Always `"RSA"`.
    #[serde(rename = "signType")]
    pub sign_type: String,
    /// SHA256withRSA of [`pay_sign_message`] by the merchant key, base64.
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// Builds the `wx.requestPayment` parameters for a prepay id.
pub fn request_payment(
    key: &MerchantKey,
    appid: &str,
    prepay_id: &str,
    timestamp: i64,
    nonce: &str,
) -> RequestPayment {
    let ts = timestamp.to_string();
    let pay_sign = key.sign(pay_sign_message(appid, &ts, nonce, prepay_id).as_bytes());
    RequestPayment {
        time_stamp: ts,
        nonce_str: nonce.to_string(),
        package: format!("prepay_id={prepay_id}"),
        sign_type: "RSA".into(),
        pay_sign,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::verify_sha256_rsa;

    fn key() -> MerchantKey {
        MerchantKey::from_key(
            crate::crypto::tests::test_key().clone(),
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        )
        .unwrap()
    }

    #[test]
    fn message_formats() {
        assert_eq!(
            request_message(
                "GET",
                "/v3/certificates",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                ""
            ),
            "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
        );
        assert_eq!(
            pay_sign_message(
                "wx8888888888888888",
                "1414561699",
                "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                "wx201410272009395522657a690389285100"
            ),
            "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
        );
    }

    #[test]
    fn authorization_header_is_verifiable() {
        let k = key();
        let h = authorization(
            &k,
            "1900009191",
            "POST",
            "/v3/pay/transactions/jsapi",
            1554208460,
            "NONCE1",
            "{\"a\":1}",
        );
        assert!(h.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"NONCE1\",timestamp=\"1554208460\",serial_no=\"5157F09EFDC096DE15EBE81A47057A7232F1B8E1\",signature=\""));
        let sig = h
            .rsplit("signature=\"")
            .next()
            .unwrap()
            .trim_end_matches('"');
        let msg = request_message(
            "POST",
            "/v3/pay/transactions/jsapi",
            1554208460,
            "NONCE1",
            "{\"a\":1}",
        );
        assert!(verify_sha256_rsa(k.public_key(), msg.as_bytes(), sig));
    }

    #[test]
    fn request_payment_shape_and_pay_sign() {
        let k = key();
        let p = request_payment(&k, "wxAPP", "wx2017", 1414561699, "NONCESTR");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["timeStamp"], "1414561699");
        assert_eq!(v["nonceStr"], "NONCESTR");
        assert_eq!(v["package"], "prepay_id=wx2017");
        assert_eq!(v["signType"], "RSA");
        let msg = "wxAPP\n1414561699\nNONCESTR\nprepay_id=wx2017\n";
        assert!(verify_sha256_rsa(
            k.public_key(),
            msg.as_bytes(),
            v["paySign"].as_str().unwrap()
        ));
    }
}
