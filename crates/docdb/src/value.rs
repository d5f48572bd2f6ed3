//! Values: what a stored document may contain, typed values (`{"$date": ms}`,
//! `{"$serverDate": {"offset": ms}}`), document validation (field names, depth, size, ids),
//! and the order-preserving *key* encoding behind every comparison.
//!
//! A key is a byte string whose `memcmp` order is MongoDB's cross-type order
//! (null/missing < numbers < strings < objects < arrays < booleans < dates) and, within a
//! type, the type's own order. The same bytes are produced in memory ([`key_of`]) and inside
//! SQLite (the `mb_k` function, see `backend/sqlite/functions.rs`), so queries, sorts and
//! index expressions agree with the in-memory evaluator by construction.

use crate::error::DbError;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// The typed-value key of dates: `{"$date": <ms since epoch>}`.
pub const DATE: &str = "$date";
/// Written as the server's time (plus `offset`) at write time.
pub const SERVER_DATE: &str = "$serverDate";

/// Type brackets of the key encoding, in MongoDB's order. Exposed for range bounds.
pub(crate) mod bracket {
    pub const NULL: u8 = 0x10;
    pub const NUMBER: u8 = 0x20;
    pub const STRING: u8 = 0x30;
    pub const OBJECT: u8 = 0x40;
    pub const ARRAY: u8 = 0x50;
    pub const BOOL: u8 = 0x80;
    pub const DATE: u8 = 0x90;
}

/// The type bracket of a value (`None` = missing, which sorts and compares as null).
pub(crate) fn bracket_of(v: Option<&Value>) -> u8 {
    match v {
        None | Some(Value::Null) => bracket::NULL,
        Some(Value::Number(_)) => bracket::NUMBER,
        Some(Value::String(_)) => bracket::STRING,
        Some(Value::Bool(_)) => bracket::BOOL,
        Some(Value::Array(_)) => bracket::ARRAY,
        Some(Value::Object(m)) => {
            if as_date_map(m).is_some() {
                bracket::DATE
            } else {
                bracket::OBJECT
            }
        }
    }
}

/// The milliseconds of a `{"$date": ms}` value.
pub fn as_date(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) => as_date_map(m),
        _ => None,
    }
}

fn as_date_map(m: &Map<String, Value>) -> Option<i64> {
    if m.len() != 1 {
        return None;
    }
    let v = m.get(DATE)?;
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// A date value.
pub fn date(ms: i64) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert(DATE.to_string(), Value::from(ms));
    Value::Object(m)
}

fn num_bits(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f }; // -0 == 0
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Appends the key of `v` (missing = `None`, keyed as null).
pub fn encode_key(v: Option<&Value>, out: &mut Vec<u8>) {
    match v {
        None | Some(Value::Null) => out.push(bracket::NULL),
        Some(Value::Bool(b)) => {
            out.push(bracket::BOOL);
            out.push(*b as u8);
        }
        Some(Value::Number(n)) => {
            out.push(bracket::NUMBER);
            out.extend_from_slice(&num_bits(n.as_f64().unwrap_or(0.0)));
        }
        Some(Value::String(s)) => {
            out.push(bracket::STRING);
            push_escaped(out, s.as_bytes());
        }
        Some(Value::Array(a)) => {
            out.push(bracket::ARRAY);
            for e in a {
                encode_key(Some(e), out);
            }
            out.push(0);
        }
        Some(Value::Object(m)) => {
            if let Some(ms) = as_date_map(m) {
                out.push(bracket::DATE);
                out.extend_from_slice(&((ms as u64) ^ (1 << 63)).to_be_bytes());
                return;
            }
            out.push(bracket::OBJECT);
            for (k, v) in m {
                out.push(bracket_of(Some(v)));
                push_escaped(out, k.as_bytes());
                encode_key(Some(v), out);
            }
            out.push(0);
        }
    }
}

/// The key of one value.
pub fn key_of(v: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_key(v, &mut out);
    out
}

/// MongoDB's total order over values (cross-type by bracket).
pub fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    // Fast paths for the common same-type scalars; everything else through keys.
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.as_bytes().cmp(y.as_bytes()),
        _ => key_of(a).cmp(&key_of(b)),
    }
}

/// Equality in the query sense (numbers by value, `1 == 1.0`; objects field by field in order).
pub fn equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    compare(a, b) == Ordering::Equal
}

/// Limits that apply to stored documents.
#[derive(Debug, Clone, Copy)]
pub struct DocLimits {
    /// Largest serialized document in bytes.
    pub max_bytes: usize,
    /// Deepest nesting (the document itself is depth 1).
    pub max_depth: usize,
}

impl Default for DocLimits {
    fn default() -> Self {
        DocLimits {
            max_bytes: 256 * 1024,
            max_depth: 64,
        }
    }
}

/// Checks a field name (one path segment of a stored document): not empty, no `.`, not
/// starting with `$`, no `"`, `\` or control characters (they cannot be addressed in paths),
/// at most 255 bytes.
pub fn check_field_name(name: &str) -> Result<(), DbError> {
    if name.is_empty() {
        return Err(DbError::invalid("empty field name"));
    }
    if name.len() > 255 {
        return Err(DbError::invalid("field name longer than 255 bytes"));
    }
    if name.starts_with('$') {
        return Err(DbError::invalid(format!(
            "field name {name:?} may not start with '$'"
        )));
    }
    if name.contains('.') {
        return Err(DbError::invalid(format!(
            "field name {name:?} may not contain '.'"
        )));
    }
    if name
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(DbError::invalid(format!(
            "field name {name:?} may not contain '\"', '\\' or control characters"
        )));
    }
    Ok(())
}

/// Checks a document id: 1–128 characters of `A-Z a-z 0-9 _ - . : @`.
pub fn check_id(id: &str) -> Result<(), DbError> {
    if id.is_empty() || id.len() > 128 {
        return Err(DbError::invalid("_id must be 1 to 128 characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'))
    {
        return Err(DbError::invalid(
            "_id may contain only letters, digits and _ - . : @",
        ));
    }
    Ok(())
}

/// Validates a value that will be stored, resolving `$serverDate` into `$date` (`now` ms).
/// `depth` is the depth of `v` itself (a document is 1).
pub fn prepare_stored(
    v: &mut Value,
    depth: usize,
    limits: &DocLimits,
    now: i64,
) -> Result<(), DbError> {
    if depth > limits.max_depth {
        return Err(DbError::invalid(format!(
            "document nested deeper than {} levels",
            limits.max_depth
        )));
    }
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(inner) = m.get(SERVER_DATE) {
                    let offset = server_date_offset(inner)?;
                    *v = date(now.saturating_add(offset));
                    return Ok(());
                }
                if m.contains_key(DATE) {
                    if as_date_map(m).is_none() {
                        return Err(DbError::invalid(
                            "$date takes integer milliseconds since the epoch",
                        ));
                    }
                    return Ok(());
                }
            }
            for (k, child) in m.iter_mut() {
                check_field_name(k)?;
                prepare_stored(child, depth + 1, limits, now)?;
            }
            Ok(())
        }
        Value::Array(a) => {
            for child in a.iter_mut() {
                prepare_stored(child, depth + 1, limits, now)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            if n.as_f64().is_some_and(|f| f.is_finite()) {
                Ok(())
            } else {
                Err(DbError::invalid("numbers must be finite"))
            }
        }
        _ => Ok(()),
    }
}

/// The `offset` of `{"$serverDate": {"offset": ms}}` (`{}` or `true`/`null` = 0).
pub fn server_date_offset(inner: &Value) -> Result<i64, DbError> {
    match inner {
        Value::Null | Value::Bool(true) => Ok(0),
        Value::Object(o) => {
            for k in o.keys() {
                if k != "offset" {
                    return Err(DbError::invalid(format!(
                        "$serverDate: unknown option {k:?} (only \"offset\")"
                    )));
                }
            }
            match o.get("offset") {
                None => Ok(0),
                Some(n) => n.as_i64().ok_or_else(|| {
                    DbError::invalid("$serverDate.offset must be integer milliseconds")
                }),
            }
        }
        _ => Err(DbError::invalid("$serverDate takes {\"offset\": ms}")),
    }
}

/// Depth of a JSON value (a scalar is 1); stops counting at `cap`.
pub fn depth_of(v: &Value, cap: usize) -> usize {
    fn go(v: &Value, d: usize, cap: usize) -> usize {
        if d >= cap {
            return d;
        }
        match v {
            Value::Object(m) => m.values().map(|c| go(c, d + 1, cap)).max().unwrap_or(d),
            Value::Array(a) => a.iter().map(|c| go(c, d + 1, cap)).max().unwrap_or(d),
            _ => d,
        }
    }
    go(v, 1, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cross_type_order() {
        let ordered = [
            json!(null),
            json!(-5.5),
            json!(0),
            json!(1),
            json!(1.5),
            json!(1e300),
            json!(""),
            json!("a"),
            json!("a\u{0}"),
            json!("ab"),
            json!("b"),
            json!({}),
            json!({"a": 1}),
            json!({"a": 1, "b": 1}),
            json!({"b": 0}),
            json!({"a": "x"}),
            json!([]),
            json!([1]),
            json!([1, 2]),
            json!([2]),
            json!(false),
            json!(true),
            json!({"$date": -1}),
            json!({"$date": 0}),
            json!({"$date": 10}),
        ];
        for w in ordered.windows(2) {
            assert_eq!(
                compare(Some(&w[0]), Some(&w[1])),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
            assert!(
                key_of(Some(&w[0])) < key_of(Some(&w[1])),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert!(equal(Some(&json!(1)), Some(&json!(1.0))));
        assert!(equal(None, Some(&json!(null))));
        assert!(equal(Some(&json!(0.0)), Some(&json!(-0.0))));
    }

    #[test]
    fn server_dates_and_names() {
        let mut d = json!({"a": {"$serverDate": {"offset": 5}}, "b": [{"$date": 7}]});
        prepare_stored(&mut d, 1, &DocLimits::default(), 100).unwrap();
        assert_eq!(d, json!({"a": {"$date": 105}, "b": [{"$date": 7}]}));
        for bad in [
            json!({"$x": 1}),
            json!({"a.b": 1}),
            json!({"a": {"$date": "x"}}),
            json!({"a\"": 1}),
        ] {
            let mut bad = bad;
            assert!(
                prepare_stored(&mut bad, 1, &DocLimits::default(), 0).is_err(),
                "{bad}"
            );
        }
        let mut deep = json!(1);
        for _ in 0..70 {
            deep = json!({ "a": deep });
        }
        assert!(prepare_stored(&mut deep, 1, &DocLimits::default(), 0).is_err());
        assert!(check_id("abc-_.:@1").is_ok());
        assert!(check_id("a/b").is_err());
        assert!(check_id("").is_err());
    }
}
