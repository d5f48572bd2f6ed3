//! WeChat Pay v3 request and answer bodies, as WeChat Pay spells them, plus our own input
//! validation (amounts in fen, merchant order numbers).
//!
//! Answers are parsed leniently (unknown fields ignored, optional fields optional) because
//! WeChat Pay adds fields over time; everything we act on is checked explicitly.

use serde::{Deserialize, Serialize};

/// A JSAPI order (`POST /v3/pay/transactions/jsapi`), as our callers give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsapiOrder {
    /// 商品描述, 1–127 characters.
    pub description: String,
    /// 商户订单号, validated by [`validate_out_trade_no`].
    pub out_trade_no: String,
    /// Amount in fen (分), > 0.
    pub total: i64,
    /// The payer's openid under the paying appid.
    pub openid: String,
    /// 附加数据, returned in queries and notifications (≤ 128 characters).
    pub attach: Option<String>,
    /// Expiry, RFC 3339 (`2018-06-08T10:34:56+08:00`).
    pub time_expire: Option<String>,
}

/// `payer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's openid.
    #[serde(default)]
    pub openid: String,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// Order total in fen.
    #[serde(default)]
    pub total: Option<i64>,
    /// What the payer paid (after coupons).
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
    /// The payer's currency.
    #[serde(default)]
    pub payer_currency: Option<String>,
}

/// A transaction as answered by the order query and carried by `TRANSACTION.SUCCESS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The appid paid for.
    #[serde(default)]
    pub appid: String,
    /// The merchant id.
    #[serde(default)]
    pub mchid: String,
    /// Our order number.
    #[serde(default)]
    pub out_trade_no: String,
    /// WeChat Pay's transaction id (once paid).
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// `JSAPI`, …
    #[serde(default)]
    pub trade_type: Option<String>,
    /// `SUCCESS`, `REFUND`, `NOTPAY`, `CLOSED`, `REVOKED`, `USERPAYING`, `PAYERROR`.
    #[serde(default)]
    pub trade_state: String,
    /// Human description of the state.
    #[serde(default)]
    pub trade_state_desc: Option<String>,
    /// Bank type.
    #[serde(default)]
    pub bank_type: Option<String>,
    /// The `attach` given at creation.
    #[serde(default)]
    pub attach: Option<String>,
    /// RFC 3339 time of payment.
    #[serde(default)]
    pub success_time: Option<String>,
    /// The payer.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Amounts.
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

/// A refund request (`POST /v3/refund/domestic/refunds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The order refunded.
    pub out_trade_no: String,
    /// Our refund number (idempotency key at WeChat Pay).
    pub out_refund_no: String,
    /// Fen to refund.
    pub refund: i64,
    /// The order total in fen (WeChat Pay checks it).
    pub total: i64,
    /// 退款原因, shown to the payer.
    pub reason: Option<String>,
}

/// `amount` of a refund.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// Order total in fen.
    #[serde(default)]
    pub total: i64,
    /// Refunded in fen.
    #[serde(default)]
    pub refund: i64,
    /// Paid by the payer.
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// Refunded to the payer.
    #[serde(default)]
    pub payer_refund: Option<i64>,
    /// `CNY`.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A refund as answered by WeChat Pay, or carried by a `REFUND.*` notification
/// (which spells the status `refund_status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Merchant id (notifications only).
    #[serde(default)]
    pub mchid: Option<String>,
    /// WeChat Pay's refund id.
    #[serde(default)]
    pub refund_id: String,
    /// Our refund number.
    #[serde(default)]
    pub out_refund_no: String,
    /// WeChat Pay's transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Our order number.
    #[serde(default)]
    pub out_trade_no: String,
    /// `SUCCESS`, `CLOSED`, `PROCESSING`, `ABNORMAL`.
    #[serde(default, alias = "refund_status")]
    pub status: String,
    /// RFC 3339 time the money was returned.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Where the money went (`支付用户零钱`, …).
    #[serde(default)]
    pub user_received_account: Option<String>,
    /// Amounts.
    #[serde(default)]
    pub amount: RefundAmount,
}

/// An encrypted notification resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// Must be `AEAD_AES_256_GCM`.
    #[serde(default)]
    pub algorithm: String,
    /// base64 ciphertext ‖ tag.
    #[serde(default)]
    pub ciphertext: String,
    /// Associated data.
    #[serde(default)]
    pub associated_data: Option<String>,
    /// `transaction` or `refund`.
    #[serde(default)]
    pub original_type: Option<String>,
    /// 12-byte nonce.
    #[serde(default)]
    pub nonce: String,
}

/// A notification body as posted by WeChat Pay (before decryption).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEnvelope {
    /// Notification id (the same across WeChat Pay's retries).
    #[serde(default)]
    pub id: String,
    /// RFC 3339.
    #[serde(default)]
    pub create_time: Option<String>,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`.
    #[serde(default)]
    pub event_type: String,
    /// `encrypt-resource`.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// 回调摘要.
    #[serde(default)]
    pub summary: Option<String>,
    /// The encrypted payload.
    #[serde(default)]
    pub resource: EncryptedResource,
}

/// What a verified, decrypted notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationResource {
    /// `TRANSACTION.*`
    Transaction(Transaction),
    /// `REFUND.*`
    Refund(Refund),
}

/// A verified, decrypted notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Notification id.
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// The decrypted resource.
    pub resource: NotificationResource,
}

/// Checks a merchant order number (商户订单号): 6–32 characters of `[0-9A-Za-z_-|*]`.
pub fn validate_out_trade_no(s: &str) -> Result<(), String> {
    if !(6..=32).contains(&s.len()) {
        return Err("out_trade_no must be 6 to 32 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*'))
    {
        return Err("out_trade_no may only contain digits, letters and _ - | *".into());
    }
    Ok(())
}

/// Checks a merchant refund number (商户退款单号): 1–64 characters of `[0-9A-Za-z_-|*@]`.
pub fn validate_out_refund_no(s: &str) -> Result<(), String> {
    if !(1..=64).contains(&s.len()) {
        return Err("out_refund_no must be 1 to 64 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*' | b'@'))
    {
        return Err("out_refund_no may only contain digits, letters and _ - | * @".into());
    }
    Ok(())
}

/// The largest amount accepted, in fen (WeChat Pay's `int` limit; far above any real order).
pub const MAX_AMOUNT_FEN: i64 = i32::MAX as i64;

/// Reads an amount in fen from JSON: a positive integer (no floats, no strings, no zero).
pub fn parse_fen(v: Option<&serde_json::Value>, field: &str) -> Result<i64, String> {
    let Some(v) = v else {
        return Err(format!("{field} is required (an integer number of fen)"));
    };
    match v.as_i64() {
        Some(n) if n > 0 && n <= MAX_AMOUNT_FEN => Ok(n),
        Some(_) => Err(format!(
            "{field} must be a positive integer number of fen, at most {MAX_AMOUNT_FEN}"
        )),
        None if v.is_u64() => Err(format!("{field} is too large")),
        None if v.is_f64() => Err(format!(
            "{field} must be an integer number of fen (分), not a decimal"
        )),
        None => Err(format!("{field} must be an integer number of fen (分)")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_trade_no_rules() {
        assert!(validate_out_trade_no("123456").is_ok());
        assert!(validate_out_trade_no("A_b-c|d*e").is_ok());
        assert!(validate_out_trade_no(&"a".repeat(32)).is_ok());
        assert!(validate_out_trade_no("12345").is_err());
        assert!(validate_out_trade_no(&"a".repeat(33)).is_err());
        assert!(validate_out_trade_no("abc def").is_err());
        assert!(validate_out_trade_no("abc/../x").is_err());
        assert!(validate_out_trade_no("订单号123456").is_err());
        assert!(validate_out_refund_no("R@1").is_ok());
        assert!(validate_out_refund_no("").is_err());
        assert!(validate_out_refund_no("a/b").is_err());
    }

    #[test]
    fn fen_are_positive_integers_only() {
        assert_eq!(parse_fen(Some(&json!(1)), "amount.total"), Ok(1));
        assert_eq!(parse_fen(Some(&json!(100000)), "amount.total"), Ok(100000));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!("100"),
            json!(null),
            json!(true),
            json!(u64::MAX),
            json!(1e10),
        ] {
            assert!(parse_fen(Some(&bad), "amount.total").is_err(), "{bad}");
        }
        assert!(
            parse_fen(None, "amount.total")
                .unwrap_err()
                .contains("required")
        );
        assert!(
            parse_fen(Some(&json!(1.5)), "x")
                .unwrap_err()
                .contains("decimal")
        );
    }

    #[test]
    fn refund_notice_spelling() {
        let r: Refund = serde_json::from_value(json!({
            "mchid": "1900000100", "out_trade_no": "1217752501201407033233368018",
            "transaction_id": "1217752501201407033233368018", "out_refund_no": "1217752501201407033233368018",
            "refund_id": "1217752501201407033233368018", "refund_status": "SUCCESS",
            "success_time": "2018-06-08T10:34:56+08:00", "user_received_account": "招商银行信用卡0403",
            "amount": {"total": 999, "refund": 999, "payer_total": 999, "payer_refund": 999}
        }))
        .unwrap();
        assert_eq!(r.status, "SUCCESS");
        assert_eq!(r.amount.refund, 999);
    }
}
