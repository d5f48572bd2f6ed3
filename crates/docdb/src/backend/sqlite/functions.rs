//! SQL functions registered on every SQLite connection. They are deterministic, so they may
//! appear in index expressions:
//!
//! - `mb_k(json)`: the order-preserving key of a JSON value (text, as `data -> '$.path'`
//!   returns it; SQL NULL = missing). Comparisons, `IN`, sorts and indexes all go through it,
//!   which gives MongoDB's cross-type order and type-strict comparisons in plain SQL.
//! - `mb_cond(json, rest, cond)`: evaluates an operator object on the path `rest` below a
//!   value, with MongoDB's array traversal — used only for paths that may cross arrays in
//!   this collection (see `sql.rs`). It runs the same code as the in-memory evaluator.
//! - `mb_sort(json, rest, dir)`: the sort key of such a path (smallest element ascending,
//!   largest descending).
//!
//! Parsed arguments (`cond`, `rest`) are cached per statement with SQLite auxdata.

use crate::error::DbError;
use crate::filter::{Cond, Direction, sort_key_at};
use crate::value::{bracket, encode_key};
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use serde_json::Value;

fn number_key(f: f64, out: &mut Vec<u8>) {
    let v = serde_json::Number::from_f64(f).map(Value::Number);
    encode_key(v.as_ref(), out);
}

/// The key of a JSON text (or an SQL scalar) as `mb_k` computes it.
pub(crate) fn key_from_sql(v: ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    match v {
        ValueRef::Null => out.push(bracket::NULL),
        ValueRef::Integer(i) => encode_key(Some(&Value::from(i)), &mut out),
        ValueRef::Real(f) => number_key(f, &mut out),
        ValueRef::Text(t) | ValueRef::Blob(t) => key_from_json_text(t, &mut out),
    }
    out
}

fn key_from_json_text(t: &[u8], out: &mut Vec<u8>) {
    match t {
        b"null" => out.push(bracket::NULL),
        b"true" => encode_key(Some(&Value::Bool(true)), out),
        b"false" => encode_key(Some(&Value::Bool(false)), out),
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
            out.push(bracket::STRING);
            for &b in inner {
                out.push(b);
                if b == 0 {
                    out.push(0xff);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
        [b'-' | b'0'..=b'9', ..] => match std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(f) => number_key(f, out),
            None => out.push(bracket::NULL),
        },
        _ => match serde_json::from_slice::<Value>(t) {
            Ok(v) => encode_key(Some(&v), out),
            Err(_) => out.push(bracket::NULL),
        },
    }
}

/// Parses the JSON text a `->` produced (`None` for SQL NULL, i.e. missing).
pub(crate) fn json_arg(v: ValueRef<'_>) -> Option<Value> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(Value::from(i)),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map(Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => serde_json::from_slice(t).ok(),
    }
}

fn text_arg(v: ValueRef<'_>) -> Result<String, DbError> {
    match v {
        ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
        _ => Err(DbError::internal("expected a text argument")),
    }
}

fn rest_path(ctx: &Context<'_>, arg: i32) -> rusqlite::Result<std::sync::Arc<Vec<String>>> {
    ctx.get_or_create_aux(arg, |v| -> Result<Vec<String>, DbError> {
        let s = text_arg(v)?;
        Ok(if s.is_empty() {
            Vec::new()
        } else {
            s.split('.').map(str::to_string).collect()
        })
    })
}

/// Registers the functions on a connection.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("mb_k", 1, flags, |ctx| Ok(key_from_sql(ctx.get_raw(0))))?;
    conn.create_scalar_function("mb_cond", 3, flags, |ctx| {
        let rest = rest_path(ctx, 1)?;
        let cond = ctx.get_or_create_aux(2, |v| -> Result<Cond, DbError> {
            let text = text_arg(v)?;
            let json: Value = serde_json::from_str(&text).map_err(DbError::internal)?;
            Cond::parse_operator_object(&json)
        })?;
        let v = json_arg(ctx.get_raw(0));
        Ok(cond.eval_at(v.as_ref(), &rest) as i64)
    })?;
    conn.create_scalar_function("mb_sort", 3, flags, |ctx| {
        let rest = rest_path(ctx, 1)?;
        let dir = if ctx.get::<i64>(2)? < 0 {
            Direction::Desc
        } else {
            Direction::Asc
        };
        let v = json_arg(ctx.get_raw(0));
        Ok(sort_key_at(v.as_ref(), &rest, dir))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::key_of;
    use serde_json::json;

    #[test]
    fn text_keys_match_value_keys() {
        for v in [
            json!(null),
            json!(true),
            json!(false),
            json!(1),
            json!(-2.5),
            json!("a"),
            json!("a\"b"),
            json!("x\u{0}y"),
            json!([1, "a"]),
            json!({"$date": 5}),
            json!({"a": {"b": 1}}),
            json!(12345678901234567890u64),
        ] {
            let text = serde_json::to_string(&v).unwrap();
            let mut out = Vec::new();
            key_from_json_text(text.as_bytes(), &mut out);
            assert_eq!(out, key_of(Some(&v)), "{v}");
        }
        assert_eq!(key_from_sql(ValueRef::Null), key_of(None));
    }
}
