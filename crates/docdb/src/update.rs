//! The update language (`data` of PATCH and bulk update, API.md §3): parsing into an
//! [`Update`] and applying it to one document.
//!
//! Updates are applied inside the single writer (see `backend`), on the stored document
//! read in the same transaction, which is what makes every update atomic per document:
//! 100 concurrent `$inc` add exactly 100. Applying also reports which fields changed, for
//! the change bus (`updatedFields` / `removedFields` of realtime snapshots).

use crate::error::DbError;
use crate::filter::{Cond, Filter, parse_value};
use crate::path::{FieldPath, array_index};
use crate::value::{self, compare, equal};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// Most operations one update may hold.
pub const MAX_OPS: usize = 512;

/// A parsed update.
#[derive(Debug, Clone)]
pub struct Update {
    ops: Vec<(FieldPath, Op)>,
}

/// How `$push` sorts the array after inserting.
#[derive(Debug, Clone)]
pub enum PushSort {
    /// By the elements themselves (1 / -1).
    Value(bool),
    /// By fields of object elements (`{"score": -1}`), ascending when `true`.
    Fields(Vec<(FieldPath, bool)>),
}

/// One operation on one path.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set the value (a plain value or `$set`).
    Set(Value),
    /// `$remove`
    Remove,
    /// `$inc`
    Inc(Number),
    /// `$mul`
    Mul(Number),
    /// `$min`
    Min(Value),
    /// `$max`
    Max(Value),
    /// `$rename`
    Rename(FieldPath),
    /// `$push`
    Push {
        /// Values to insert.
        each: Vec<Value>,
        /// Where (negative = from the end); end when absent.
        position: Option<i64>,
        /// Sort after inserting.
        sort: Option<PushSort>,
        /// Keep the first n (n ≥ 0) or last -n elements.
        slice: Option<i64>,
    },
    /// `$pop`: 1 removes the last element, -1 the first.
    Pop(bool),
    /// `$shift`: remove the first element.
    Shift,
    /// `$unshift`: prepend.
    Unshift(Vec<Value>),
    /// `$addToSet`
    AddToSet(Vec<Value>),
    /// `$pull`
    Pull(PullCond),
    /// `$pullAll`
    PullAll(Vec<Value>),
}

/// What `$pull` removes.
#[derive(Debug, Clone)]
pub enum PullCond {
    /// Elements matching an operator object (`{"$gt": 5}`) or equal to a value.
    Value(Cond),
    /// Object elements matching a document filter (`{"score": {"$lt": 3}}`).
    Doc(Filter),
}

/// What applying an update changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Paths set, with their new values (dotted paths).
    pub updated: Map<String, Value>,
    /// Paths removed.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.removed.is_empty()
    }
}

fn reserved(p: &FieldPath) -> bool {
    matches!(p.first(), "_id" | "_openid")
}

fn number(op: &str, v: &Value) -> Result<Number, DbError> {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(n.clone()),
        _ => Err(DbError::invalid(format!("{op} takes a number"))),
    }
}

fn values(op: &str, v: &Value) -> Result<Vec<Value>, DbError> {
    match v {
        Value::Array(a) => {
            for x in a {
                check_write_value(x)?;
            }
            Ok(a.clone())
        }
        _ => Err(DbError::invalid(format!("{op} takes an array"))),
    }
}

/// A value written by an update: field names checked, typed values allowed.
fn check_write_value(v: &Value) -> Result<(), DbError> {
    let mut copy = v.clone();
    // $serverDate is resolved later, on the whole document; here only validate shape.
    value::prepare_stored(
        &mut copy,
        1,
        &value::DocLimits {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
        },
        0,
    )
}

impl Update {
    /// Parses an update object.
    pub fn parse(v: &Value) -> Result<Update, DbError> {
        let Value::Object(m) = v else {
            return Err(DbError::invalid("update data must be an object"));
        };
        if m.is_empty() {
            return Err(DbError::invalid("update data is empty"));
        }
        let mut ops = Vec::new();
        parse_into(m, None, &mut ops)?;
        if ops.len() > MAX_OPS {
            return Err(DbError::invalid(format!(
                "update has more than {MAX_OPS} operations"
            )));
        }
        for (i, (a, op)) in ops.iter().enumerate() {
            if reserved(a) {
                return Err(DbError::invalid(format!(
                    "{a}: _id and _openid cannot be updated"
                )));
            }
            if let Op::Rename(to) = op {
                if reserved(to) {
                    return Err(DbError::invalid(format!("{a}: cannot rename to {to}")));
                }
                if to.starts_with(a) || a.starts_with(to) {
                    return Err(DbError::invalid(format!("{a}: cannot rename to {to}")));
                }
            }
            for (b, op_b) in &ops[i + 1..] {
                let mut targets_a = vec![a];
                if let Op::Rename(to) = op {
                    targets_a.push(to);
                }
                let mut targets_b = vec![b];
                if let Op::Rename(to) = op_b {
                    targets_b.push(to);
                }
                for x in &targets_a {
                    for y in &targets_b {
                        if x.starts_with(y) || y.starts_with(x) {
                            return Err(DbError::invalid(format!(
                                "update paths {x} and {y} conflict"
                            )));
                        }
                    }
                }
            }
        }
        Ok(Update { ops })
    }

    /// The operations.
    pub fn ops(&self) -> &[(FieldPath, Op)] {
        &self.ops
    }

    /// Applies the update to `doc` (an object). `$serverDate` values become `now + offset`.
    pub fn apply(&self, doc: &mut Value, now: i64) -> Result<Changes, DbError> {
        let mut ch = Changes::default();
        for (path, op) in &self.ops {
            apply_op(doc, path, op, now, &mut ch)?;
        }
        Ok(ch)
    }
}

fn parse_into(
    m: &Map<String, Value>,
    prefix: Option<&FieldPath>,
    ops: &mut Vec<(FieldPath, Op)>,
) -> Result<(), DbError> {
    for (k, v) in m {
        if k.starts_with('$') {
            return Err(DbError::invalid(format!(
                "unexpected operator {k} as a field name; write {{\"field\": {{\"{k}\": …}}}}"
            )));
        }
        let rel = FieldPath::parse(k)?;
        let path = match prefix {
            Some(p) => p.join(&rel),
            None => rel,
        };
        if path.segments().len() > crate::path::MAX_SEGMENTS {
            return Err(DbError::invalid(format!("field path {path} is too long")));
        }
        if ops.len() > MAX_OPS {
            return Err(DbError::invalid(format!(
                "update has more than {MAX_OPS} operations"
            )));
        }
        match v {
            Value::Object(o)
                if o.len() == 1
                    && (o.contains_key(value::DATE) || o.contains_key(value::SERVER_DATE)) =>
            {
                check_write_value(v)?;
                ops.push((path, Op::Set(v.clone())));
            }
            Value::Object(o) if !o.is_empty() && o.keys().all(|k| k.starts_with('$')) => {
                if o.len() != 1 {
                    return Err(DbError::invalid(format!("{path}: one operator per field")));
                }
                let (op, arg) = o
                    .iter()
                    .next()
                    .ok_or_else(|| DbError::invalid("empty operator"))?;
                ops.push((path, parse_op(op, arg)?));
            }
            Value::Object(o) if !o.is_empty() => {
                if o.keys().any(|k| k.starts_with('$')) {
                    return Err(DbError::invalid(format!(
                        "{path}: an object mixes operators ($…) and field names"
                    )));
                }
                parse_into(o, Some(&path), ops)?;
            }
            other => {
                check_write_value(other)?;
                ops.push((path, Op::Set(other.clone())));
            }
        }
    }
    Ok(())
}

fn parse_op(op: &str, arg: &Value) -> Result<Op, DbError> {
    Ok(match op {
        "$set" => {
            check_write_value(arg)?;
            Op::Set(arg.clone())
        }
        "$remove" | "$unset" => match arg {
            Value::Bool(true) => Op::Remove,
            _ if op == "$unset" => Op::Remove,
            _ => return Err(DbError::invalid("$remove takes true")),
        },
        "$inc" => Op::Inc(number("$inc", arg)?),
        "$mul" => Op::Mul(number("$mul", arg)?),
        "$min" => {
            check_write_value(arg)?;
            Op::Min(arg.clone())
        }
        "$max" => {
            check_write_value(arg)?;
            Op::Max(arg.clone())
        }
        "$rename" => match arg {
            Value::String(s) => Op::Rename(FieldPath::parse(s)?),
            _ => {
                return Err(DbError::invalid(
                    "$rename takes the new field path as a string",
                ));
            }
        },
        "$push" => match arg {
            Value::Array(_) => Op::Push {
                each: values("$push", arg)?,
                position: None,
                sort: None,
                slice: None,
            },
            Value::Object(o) if o.contains_key("each") || o.contains_key("$each") => {
                let mut each = Vec::new();
                let mut position = None;
                let mut sort = None;
                let mut slice = None;
                for (k, v) in o {
                    match k.trim_start_matches('$') {
                        "each" => each = values("$push.each", v)?,
                        "position" => {
                            position = Some(v.as_i64().ok_or_else(|| {
                                DbError::invalid("$push.position takes an integer")
                            })?)
                        }
                        "slice" => {
                            slice =
                                Some(v.as_i64().ok_or_else(|| {
                                    DbError::invalid("$push.slice takes an integer")
                                })?)
                        }
                        "sort" => sort = Some(parse_push_sort(v)?),
                        other => {
                            return Err(DbError::invalid(format!(
                                "$push: unknown option {other:?}"
                            )));
                        }
                    }
                }
                Op::Push {
                    each,
                    position,
                    sort,
                    slice,
                }
            }
            other => {
                check_write_value(other)?;
                Op::Push {
                    each: vec![other.clone()],
                    position: None,
                    sort: None,
                    slice: None,
                }
            }
        },
        "$pop" => match arg.as_i64() {
            Some(1) => Op::Pop(true),
            Some(-1) => Op::Pop(false),
            _ => return Err(DbError::invalid("$pop takes 1 (last) or -1 (first)")),
        },
        "$shift" => Op::Shift,
        "$unshift" => match arg {
            Value::Array(_) => Op::Unshift(values("$unshift", arg)?),
            other => {
                check_write_value(other)?;
                Op::Unshift(vec![other.clone()])
            }
        },
        "$addToSet" => match arg {
            Value::Object(o)
                if o.len() == 1 && (o.contains_key("each") || o.contains_key("$each")) =>
            {
                let v = o
                    .get("each")
                    .or_else(|| o.get("$each"))
                    .unwrap_or(&Value::Null);
                Op::AddToSet(values("$addToSet.each", v)?)
            }
            other => {
                check_write_value(other)?;
                Op::AddToSet(vec![other.clone()])
            }
        },
        "$pull" => Op::Pull(match arg {
            Value::Object(o) if !o.is_empty() && !o.keys().all(|k| k.starts_with('$')) => {
                PullCond::Doc(Filter::parse(arg)?)
            }
            other => PullCond::Value(Cond::parse_operator_object(other)?),
        }),
        "$pullAll" => {
            let vs = values("$pullAll", arg)?;
            for v in &vs {
                parse_value(v)?;
            }
            Op::PullAll(vs)
        }
        other => return Err(DbError::invalid(format!("unknown update operator {other}"))),
    })
}

fn parse_push_sort(v: &Value) -> Result<PushSort, DbError> {
    match v {
        Value::Number(n) if n.as_i64() == Some(1) => Ok(PushSort::Value(true)),
        Value::Number(n) if n.as_i64() == Some(-1) => Ok(PushSort::Value(false)),
        Value::Object(o) if !o.is_empty() => o
            .iter()
            .map(|(k, d)| match d.as_i64() {
                Some(1) => Ok((FieldPath::parse(k)?, true)),
                Some(-1) => Ok((FieldPath::parse(k)?, false)),
                _ => Err(DbError::invalid("$push.sort directions are 1 or -1")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(PushSort::Fields),
        _ => Err(DbError::invalid("$push.sort takes 1, -1 or {field: 1|-1}")),
    }
}

/// The container that holds the last segment of `path`, created as needed when `create`.
fn parent_mut<'a>(
    doc: &'a mut Value,
    path: &FieldPath,
    create: bool,
) -> Result<Option<&'a mut Value>, DbError> {
    let segs = path.segments();
    let mut cur = doc;
    for seg in &segs[..segs.len() - 1] {
        cur = match cur {
            Value::Object(m) => {
                if !m.contains_key(seg.as_str()) {
                    if !create {
                        return Ok(None);
                    }
                    m.insert(seg.clone(), Value::Object(Map::new()));
                }
                match m.get_mut(seg.as_str()) {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            Value::Array(a) => {
                let Some(i) = array_index(seg) else {
                    return Err(DbError::invalid(format!(
                        "{path}: {seg:?} is not an index of the array on the way"
                    )));
                };
                if i >= a.len() {
                    if !create {
                        return Ok(None);
                    }
                    if i > a.len() + 10_000 {
                        return Err(DbError::invalid(format!(
                            "{path}: array index {i} too far past the end"
                        )));
                    }
                    a.resize(i + 1, Value::Null);
                    a[i] = Value::Object(Map::new());
                }
                &mut a[i]
            }
            other => {
                if !create {
                    return Ok(None);
                }
                return Err(DbError::invalid(format!(
                    "{path}: cannot create a field inside a {} value",
                    type_name(other)
                )));
            }
        };
    }
    Ok(Some(cur))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &FieldPath) -> Result<Option<&'a mut Value>, DbError> {
    let last = path.segments().last().map(String::as_str).unwrap_or("");
    let Some(parent) = parent_mut(doc, path, false)? else {
        return Ok(None);
    };
    Ok(match parent {
        Value::Object(m) => m.get_mut(last),
        Value::Array(a) => array_index(last).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

fn set_at(doc: &mut Value, path: &FieldPath, v: Value) -> Result<(), DbError> {
    let last = path.segments().last().map(String::as_str).unwrap_or("");
    let Some(parent) = parent_mut(doc, path, true)? else {
        return Err(DbError::invalid(format!("{path}: cannot be set")));
    };
    match parent {
        Value::Object(m) => {
            m.insert(last.to_string(), v);
            Ok(())
        }
        Value::Array(a) => {
            let Some(i) = array_index(last) else {
                return Err(DbError::invalid(format!(
                    "{path}: {last:?} is not an index of the array"
                )));
            };
            if i >= a.len() {
                if i > a.len() + 10_000 {
                    return Err(DbError::invalid(format!(
                        "{path}: array index {i} too far past the end"
                    )));
                }
                a.resize(i + 1, Value::Null);
            }
            a[i] = v;
            Ok(())
        }
        other => Err(DbError::invalid(format!(
            "{path}: cannot create a field inside a {} value",
            type_name(other)
        ))),
    }
}

fn remove_at(doc: &mut Value, path: &FieldPath) -> Result<Option<Value>, DbError> {
    let last = path.segments().last().map(String::as_str).unwrap_or("");
    let Some(parent) = parent_mut(doc, path, false)? else {
        return Ok(None);
    };
    Ok(match parent {
        Value::Object(m) => m.shift_remove(last),
        // MongoDB's $unset on an array element sets it to null, keeping positions.
        Value::Array(a) => match array_index(last).and_then(|i| a.get_mut(i)) {
            Some(slot) => Some(std::mem::replace(slot, Value::Null)),
            None => None,
        },
        _ => None,
    })
}

fn resolve_server_dates(v: &mut Value, now: i64) -> Result<(), DbError> {
    value::prepare_stored(
        v,
        1,
        &value::DocLimits {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
        },
        now,
    )
}

fn arith(cur: &Number, n: &Number, mul: bool) -> Value {
    if let (Some(a), Some(b)) = (cur.as_i64(), n.as_i64()) {
        let r = if mul {
            a.checked_mul(b)
        } else {
            a.checked_add(b)
        };
        if let Some(r) = r {
            return Value::from(r);
        }
    }
    let (a, b) = (cur.as_f64().unwrap_or(0.0), n.as_f64().unwrap_or(0.0));
    let r = if mul { a * b } else { a + b };
    Number::from_f64(r)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn array_at<'a>(
    doc: &'a mut Value,
    path: &FieldPath,
    op: &str,
    create: bool,
) -> Result<Option<&'a mut Vec<Value>>, DbError> {
    if get_mut(doc, path)?.is_none() {
        if !create {
            return Ok(None);
        }
        set_at(doc, path, Value::Array(Vec::new()))?;
    }
    match get_mut(doc, path)? {
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(DbError::invalid(format!(
            "{op} on {path}: the field holds a {}, not an array",
            type_name(other)
        ))),
        None => Ok(None),
    }
}

fn record(doc: &Value, path: &FieldPath, ch: &mut Changes) {
    let v = path.get(doc).cloned().unwrap_or(Value::Null);
    ch.updated.insert(path.as_str().to_string(), v);
}

fn apply_op(
    doc: &mut Value,
    path: &FieldPath,
    op: &Op,
    now: i64,
    ch: &mut Changes,
) -> Result<(), DbError> {
    match op {
        Op::Set(v) => {
            let mut v = v.clone();
            resolve_server_dates(&mut v, now)?;
            if path.get(doc) == Some(&v) {
                return Ok(());
            }
            set_at(doc, path, v)?;
            record(doc, path, ch);
        }
        Op::Remove => {
            if remove_at(doc, path)?.is_some() {
                ch.removed.push(path.as_str().to_string());
            }
        }
        Op::Inc(n) | Op::Mul(n) => {
            let mul = matches!(op, Op::Mul(_));
            let name = if mul { "$mul" } else { "$inc" };
            let new = match get_mut(doc, path)? {
                None => {
                    if mul {
                        Value::from(0)
                    } else {
                        Value::Number(n.clone())
                    }
                }
                Some(Value::Number(cur)) => arith(cur, n, mul),
                Some(other) => {
                    return Err(DbError::invalid(format!(
                        "{name} on {path}: the field holds a {}, not a number",
                        type_name(other)
                    )));
                }
            };
            if new.is_null() {
                return Err(DbError::invalid(format!(
                    "{name} on {path}: result is not a finite number"
                )));
            }
            set_at(doc, path, new)?;
            record(doc, path, ch);
        }
        Op::Min(v) | Op::Max(v) => {
            let mut v = v.clone();
            resolve_server_dates(&mut v, now)?;
            let want = if matches!(op, Op::Min(_)) {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            let replace = match path.get(doc) {
                None => true,
                Some(cur) => compare(Some(&v), Some(cur)) == want,
            };
            if replace {
                set_at(doc, path, v)?;
                record(doc, path, ch);
            }
        }
        Op::Rename(to) => {
            if let Some(v) = remove_at(doc, path)? {
                set_at(doc, to, v)?;
                ch.removed.push(path.as_str().to_string());
                record(doc, to, ch);
            }
        }
        Op::Push {
            each,
            position,
            sort,
            slice,
        } => {
            let mut each = each.clone();
            for v in &mut each {
                resolve_server_dates(v, now)?;
            }
            let Some(arr) = array_at(doc, path, "$push", true)? else {
                return Ok(());
            };
            let len = arr.len() as i64;
            let at = match position {
                None => len,
                Some(p) if *p < 0 => (len + p).max(0),
                Some(p) => (*p).min(len),
            } as usize;
            arr.splice(at..at, each);
            if let Some(s) = sort {
                match s {
                    PushSort::Value(asc) => arr.sort_by(|a, b| {
                        let o = compare(Some(a), Some(b));
                        if *asc { o } else { o.reverse() }
                    }),
                    PushSort::Fields(fields) => arr.sort_by(|a, b| {
                        for (f, asc) in fields {
                            let o = compare(f.get(a), f.get(b));
                            let o = if *asc { o } else { o.reverse() };
                            if o != Ordering::Equal {
                                return o;
                            }
                        }
                        Ordering::Equal
                    }),
                }
            }
            if let Some(n) = slice {
                let len = arr.len();
                if *n >= 0 {
                    arr.truncate((*n as usize).min(len));
                } else {
                    let keep = ((-*n) as usize).min(len);
                    arr.drain(..len - keep);
                }
            }
            record(doc, path, ch);
        }
        Op::Pop(last) => {
            if let Some(arr) = array_at(doc, path, "$pop", false)? {
                if !arr.is_empty() {
                    if *last {
                        arr.pop();
                    } else {
                        arr.remove(0);
                    }
                    record(doc, path, ch);
                }
            }
        }
        Op::Shift => {
            if let Some(arr) = array_at(doc, path, "$shift", false)? {
                if !arr.is_empty() {
                    arr.remove(0);
                    record(doc, path, ch);
                }
            }
        }
        Op::Unshift(vals) => {
            let mut vals = vals.clone();
            for v in &mut vals {
                resolve_server_dates(v, now)?;
            }
            if let Some(arr) = array_at(doc, path, "$unshift", true)? {
                arr.splice(0..0, vals);
                record(doc, path, ch);
            }
        }
        Op::AddToSet(vals) => {
            let mut vals = vals.clone();
            for v in &mut vals {
                resolve_server_dates(v, now)?;
            }
            let created = path.get(doc).is_none();
            if let Some(arr) = array_at(doc, path, "$addToSet", true)? {
                let mut changed = created;
                for v in vals {
                    if !arr.iter().any(|e| equal(Some(e), Some(&v))) {
                        arr.push(v);
                        changed = true;
                    }
                }
                if changed {
                    record(doc, path, ch);
                }
            }
        }
        Op::Pull(cond) => {
            if let Some(arr) = array_at(doc, path, "$pull", false)? {
                let before = arr.len();
                arr.retain(|e| match cond {
                    PullCond::Value(c) => !c.eval_at(Some(e), &[]),
                    PullCond::Doc(f) => !(e.is_object() && f.matches(e)),
                });
                if arr.len() != before {
                    record(doc, path, ch);
                }
            }
        }
        Op::PullAll(vals) => {
            if let Some(arr) = array_at(doc, path, "$pullAll", false)? {
                let before = arr.len();
                arr.retain(|e| !vals.iter().any(|v| equal(Some(e), Some(v))));
                if arr.len() != before {
                    record(doc, path, ch);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn up(doc: Value, u: Value) -> (Value, Changes) {
        let mut d = doc;
        let ch = Update::parse(&u).unwrap().apply(&mut d, 1000).unwrap();
        (d, ch)
    }

    #[test]
    fn set_merge_and_operators() {
        let (d, ch) = up(
            json!({"a": 1, "s": {"x": 1, "y": 2}}),
            json!({"s": {"x": 5}, "b": {"$set": {"k": 1}}}),
        );
        assert_eq!(d, json!({"a": 1, "s": {"x": 5, "y": 2}, "b": {"k": 1}}));
        assert_eq!(ch.updated.get("s.x"), Some(&json!(5)));
        let (d, _) = up(
            json!({"n": 1, "f": 1.5}),
            json!({"n": {"$inc": 2}, "f": {"$mul": 2}, "m": {"$inc": 1}}),
        );
        assert_eq!(d, json!({"n": 3, "f": 3.0, "m": 1}));
        let (d, ch) = up(
            json!({"a": 1, "b": 2}),
            json!({"a": {"$remove": true}, "b": {"$rename": "c"}}),
        );
        assert_eq!(d, json!({"c": 2}));
        assert_eq!(ch.removed, vec!["a".to_string(), "b".to_string()]);
        let (d, _) = up(
            json!({"lo": 5, "hi": 5}),
            json!({"lo": {"$min": 3}, "hi": {"$min": 9}}),
        );
        assert_eq!(d, json!({"lo": 3, "hi": 5}));
        let (d, _) = up(json!({}), json!({"t": {"$serverDate": {"offset": 1}}}));
        assert_eq!(d, json!({"t": {"$date": 1001}}));
        let (d, _) = up(json!({"a": [1]}), json!({"a.2": 7}));
        assert_eq!(d, json!({"a": [1, null, 7]}));
    }

    #[test]
    fn array_operators() {
        let (d, _) = up(
            json!({"a": [3, 1]}),
            json!({"a": {"$push": {"each": [2, 9], "position": 1, "sort": 1, "slice": 3}}}),
        );
        assert_eq!(d, json!({"a": [1, 2, 3]}));
        let (d, _) = up(json!({"a": [1, 2, 3]}), json!({"a": {"$pop": 1}}));
        assert_eq!(d, json!({"a": [1, 2]}));
        let (d, _) = up(json!({"a": [1, 2, 3]}), json!({"a": {"$shift": true}}));
        assert_eq!(d, json!({"a": [2, 3]}));
        let (d, _) = up(json!({"a": [2]}), json!({"a": {"$unshift": [0, 1]}}));
        assert_eq!(d, json!({"a": [0, 1, 2]}));
        let (d, _) = up(
            json!({"a": [1]}),
            json!({"a": {"$addToSet": {"each": [1, 2, 2]}}}),
        );
        assert_eq!(d, json!({"a": [1, 2]}));
        let (d, _) = up(
            json!({"a": [1, 5, 7]}),
            json!({"a": {"$pull": {"$gte": 5}}}),
        );
        assert_eq!(d, json!({"a": [1]}));
        let (d, _) = up(
            json!({"a": [{"s": 1}, {"s": 4}]}),
            json!({"a": {"$pull": {"s": {"$lt": 3}}}}),
        );
        assert_eq!(d, json!({"a": [{"s": 4}]}));
        let (d, _) = up(
            json!({"a": [1, 2, 1, 3]}),
            json!({"a": {"$pullAll": [1, 3]}}),
        );
        assert_eq!(d, json!({"a": [2]}));
        let (d, _) = up(
            json!({"a": [{"x": 2}, {"x": 1}]}),
            json!({"a": {"$push": {"each": [{"x": 3}], "sort": {"x": -1}}}}),
        );
        assert_eq!(d, json!({"a": [{"x": 3}, {"x": 2}, {"x": 1}]}));
    }

    #[test]
    fn refusals() {
        for bad in [
            json!({"_id": "x"}),
            json!({"_openid": "x"}),
            json!({"a": {"$foo": 1}}),
            json!({"a": {"$inc": "x"}}),
            json!({"a": 1, "a.b": 2}),
            json!({"$set": {"a": 1}}),
            json!({}),
            json!({"a": {"$rename": "_id"}}),
            json!({"a": {"$pop": 2}}),
        ] {
            assert!(Update::parse(&bad).is_err(), "{bad}");
        }
        let u = Update::parse(&json!({"a": {"$inc": 1}})).unwrap();
        assert!(u.apply(&mut json!({"a": "x"}), 0).is_err());
        let u = Update::parse(&json!({"a.b": 1})).unwrap();
        assert!(u.apply(&mut json!({"a": 5}), 0).is_err());
    }
}
