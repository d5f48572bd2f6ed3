//! The query language (`where`, API.md §3): parsing JSON into a [`Filter`] and evaluating it
//! in memory with MongoDB semantics.
//!
//! Queries against the database are *translated to SQL* (see `backend/sqlite/sql.rs`); this
//! in-memory evaluator exists for the realtime area (does a changed document match a
//! watch?), for rules on single documents, and as the reference the SQL translation is
//! tested against. Where the translation needs per-row array traversal it calls the very
//! same [`Cond::eval_at`] through a SQLite function, so both agree by construction.
//!
//! Semantics (MongoDB's):
//! - a path resolves to *candidates*: object keys are followed; an array met on the way
//!   fans out over its elements (documents continue the path; a numeric segment also indexes
//!   the array); a leaf array contributes itself and each of its elements;
//! - `$eq`, `$lt`… match when *any* candidate matches; a missing field compares as `null`
//!   for `$eq`/`$in`; values of different types never compare with `$lt/$lte/$gt/$gte`;
//! - `$neq`/`$nin`/`$not` are the negations (so they match documents missing the field);
//! - a plain nested object is flattened into paths (CloudBase); `{"$eq": {...}}` compares
//!   whole objects.

use crate::error::DbError;
use crate::path::{FieldPath, array_index};
use crate::value::{self, bracket_of, compare, equal};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::sync::Arc;

/// Most conditions (leaves) one `where` may hold.
pub const MAX_CONDITIONS: usize = 512;

/// A parsed `where`.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Matches everything.
    True,
    /// Matches nothing.
    False,
    /// All must match.
    And(Vec<Filter>),
    /// Any must match.
    Or(Vec<Filter>),
    /// None may match.
    Nor(Vec<Filter>),
    /// A condition on one field path.
    Field(FieldCond),
    /// A caller's rule gating their own conditions: matches when the rule (first) and then
    /// the conditions (second) match. The conditions are never evaluated on a document the
    /// rule excludes — in memory and in every backend's translation — so what a condition
    /// costs can never tell anything about a document the caller may not see. Built by
    /// [`Filter::gated`].
    Gated(Box<Filter>, Box<Filter>),
}

/// A condition on one field path, with its canonical JSON (the operator object), which the
/// SQL translation hands to SQLite functions when a path may traverse arrays.
#[derive(Debug, Clone)]
pub struct FieldCond {
    /// The field.
    pub path: FieldPath,
    /// The condition.
    pub cond: Cond,
    /// `cond` as an operator object, e.g. `{"$gt": 5}`.
    pub source: Value,
}

/// A compiled regular expression (`$regex` + `$options`), linear-time (`regex` crate).
#[derive(Debug, Clone)]
pub struct QueryRegex {
    /// The pattern as given.
    pub pattern: String,
    /// The options as given (`i`, `m`, `s`, `x`).
    pub options: String,
    /// Compiled.
    pub re: Arc<regex::Regex>,
}

impl QueryRegex {
    /// Compiles a pattern with MongoDB-style options.
    pub fn new(pattern: &str, options: &str) -> Result<QueryRegex, DbError> {
        if pattern.len() > 4096 {
            return Err(DbError::invalid("$regex pattern longer than 4096 bytes"));
        }
        let mut b = regex::RegexBuilder::new(pattern);
        b.size_limit(1 << 20).dfa_size_limit(1 << 20);
        for c in options.chars() {
            match c {
                'i' => b.case_insensitive(true),
                'm' => b.multi_line(true),
                's' => b.dot_matches_new_line(true),
                'x' => b.ignore_whitespace(true),
                other => {
                    return Err(DbError::invalid(format!(
                        "$options: unknown flag {other:?} (i, m, s, x)"
                    )));
                }
            };
        }
        let re = b
            .build()
            .map_err(|e| DbError::invalid(format!("$regex: {}", first_line(&e.to_string()))))?;
        Ok(QueryRegex {
            pattern: pattern.to_string(),
            options: options.to_string(),
            re: Arc::new(re),
        })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// An operator expression on one field.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `$eq`
    Eq(Value),
    /// `$neq`
    Ne(Value),
    /// `$lt`
    Lt(Value),
    /// `$lte`
    Lte(Value),
    /// `$gt`
    Gt(Value),
    /// `$gte`
    Gte(Value),
    /// `$in`
    In(Vec<Value>),
    /// `$nin`
    Nin(Vec<Value>),
    /// `$exists`
    Exists(bool),
    /// `$size`
    Size(u64),
    /// `$mod`: `[divisor, remainder]`
    Mod(i64, i64),
    /// `$all`
    All(Vec<Value>),
    /// `$elemMatch` with a document filter (`{a: 1, b: {$gt: 2}}`).
    ElemMatchDoc(Box<Filter>),
    /// `$elemMatch` with operators on the element itself (`{$gt: 1, $lt: 5}`).
    ElemMatchValue(Box<Cond>),
    /// `$regex` (+ `$options`)
    Regex(QueryRegex),
    /// `$not`
    Not(Box<Cond>),
    /// Several operators on the same field (`{$gt: 1, $lt: 5}`), or `$and` at field level.
    And(Vec<Cond>),
    /// `$or` at field level.
    Or(Vec<Cond>),
    /// `$nor` at field level.
    Nor(Vec<Cond>),
}

struct Parser {
    conditions: usize,
    max_depth: usize,
}

impl Parser {
    fn count(&mut self) -> Result<(), DbError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(DbError::invalid(format!(
                "where has more than {MAX_CONDITIONS} conditions"
            )));
        }
        Ok(())
    }
}

impl Filter {
    /// Parses a `where` object (`null` or absent = everything).
    pub fn parse(v: &Value) -> Result<Filter, DbError> {
        Self::parse_with_depth(v, 64)
    }

    /// Parses a `where`, refusing nesting deeper than `max_depth`.
    pub fn parse_with_depth(v: &Value, max_depth: usize) -> Result<Filter, DbError> {
        if value::depth_of(v, max_depth + 1) > max_depth {
            return Err(DbError::invalid(format!(
                "where nested deeper than {max_depth} levels"
            )));
        }
        let mut p = Parser {
            conditions: 0,
            max_depth,
        };
        match v {
            Value::Null => Ok(Filter::True),
            Value::Object(m) => parse_doc(&mut p, m, None).map(simplify),
            _ => Err(DbError::invalid("where must be an object")),
        }
    }

    /// A filter `path == value`.
    pub fn eq(path: FieldPath, v: Value) -> Filter {
        let source = op_obj("$eq", v.clone());
        Filter::Field(FieldCond {
            path,
            cond: Cond::Eq(v),
            source,
        })
    }

    /// `self AND other`.
    pub fn and(self, other: Filter) -> Filter {
        simplify(Filter::And(vec![self, other]))
    }

    /// `rule` gating `conditions` (see [`Filter::Gated`]): how a caller's own `where` is
    /// combined with what their rules let them see, everywhere.
    pub fn gated(rule: Filter, conditions: Filter) -> Filter {
        match (rule, conditions) {
            (Filter::False, _) | (_, Filter::False) => Filter::False,
            (Filter::True, c) => c,
            (r, Filter::True) => r,
            (r, c) => Filter::Gated(Box::new(r), Box::new(c)),
        }
    }

    /// Whether a document matches.
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Filter::True => true,
            Filter::False => false,
            Filter::And(fs) => fs.iter().all(|f| f.matches(doc)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(doc)),
            Filter::Nor(fs) => !fs.iter().any(|f| f.matches(doc)),
            Filter::Field(fc) => fc.cond.eval_at(Some(doc), fc.path.segments()),
            Filter::Gated(rule, conditions) => rule.matches(doc) && conditions.matches(doc),
        }
    }

    /// Every field path the filter reads.
    pub fn paths(&self, out: &mut Vec<FieldPath>) {
        match self {
            Filter::True | Filter::False => {}
            Filter::And(fs) | Filter::Or(fs) | Filter::Nor(fs) => {
                fs.iter().for_each(|f| f.paths(out))
            }
            Filter::Field(fc) => out.push(fc.path.clone()),
            Filter::Gated(rule, conditions) => {
                rule.paths(out);
                conditions.paths(out);
            }
        }
    }
}

fn simplify(f: Filter) -> Filter {
    match f {
        Filter::Gated(rule, conditions) => Filter::gated(simplify(*rule), simplify(*conditions)),
        Filter::And(fs) => {
            let mut out = Vec::with_capacity(fs.len());
            for f in fs.into_iter().map(simplify) {
                match f {
                    Filter::True => {}
                    Filter::False => return Filter::False,
                    Filter::And(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Filter::True,
                1 => out.pop().unwrap_or(Filter::True),
                _ => Filter::And(out),
            }
        }
        Filter::Or(fs) => {
            let mut out = Vec::with_capacity(fs.len());
            for f in fs.into_iter().map(simplify) {
                match f {
                    Filter::True => return Filter::True,
                    Filter::False => {}
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Filter::False,
                1 => out.pop().unwrap_or(Filter::False),
                _ => Filter::Or(out),
            }
        }
        Filter::Nor(fs) => {
            let mut out = Vec::with_capacity(fs.len());
            for f in fs.into_iter().map(simplify) {
                match f {
                    Filter::True => return Filter::False,
                    Filter::False => {}
                    other => out.push(other),
                }
            }
            if out.is_empty() {
                Filter::True
            } else {
                Filter::Nor(out)
            }
        }
        other => other,
    }
}

fn op_obj(op: &str, v: Value) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert(op.to_string(), v);
    Value::Object(m)
}

fn is_operator_object(m: &Map<String, Value>) -> Result<bool, DbError> {
    let dollar = m.keys().filter(|k| k.starts_with('$')).count();
    if dollar == 0 {
        Ok(false)
    } else if dollar == m.len() {
        Ok(true)
    } else {
        Err(DbError::invalid(
            "an object mixes operators ($…) and field names",
        ))
    }
}

/// Whether an object is a field-level condition (`{"$gt": 1}`, `{"$or": [{"$lt": 0}]}`)
/// rather than a document filter (`{"a": 1}`, `{"$or": [{"a": 1}]}`).
fn is_cond_object(m: &Map<String, Value>) -> bool {
    !m.is_empty()
        && m.iter().all(|(k, v)| {
            k.starts_with('$')
                && (!matches!(k.as_str(), "$and" | "$or" | "$nor")
                    || v.as_array().is_some_and(|items| {
                        items
                            .iter()
                            .all(|it| it.as_object().is_some_and(is_cond_object))
                    }))
        })
}

fn parse_logical(
    p: &mut Parser,
    op: &str,
    v: &Value,
    prefix: Option<&FieldPath>,
) -> Result<Vec<Filter>, DbError> {
    let Value::Array(items) = v else {
        return Err(DbError::invalid(format!(
            "{op} takes an array of conditions"
        )));
    };
    if items.is_empty() {
        return Err(DbError::invalid(format!("{op} takes a non-empty array")));
    }
    items
        .iter()
        .map(|it| match it {
            Value::Object(m) => parse_doc(p, m, prefix),
            _ => Err(DbError::invalid(format!("{op} takes an array of objects"))),
        })
        .collect()
}

/// Parses a document-level filter; `prefix` is set when flattening a nested plain object.
fn parse_doc(
    p: &mut Parser,
    m: &Map<String, Value>,
    prefix: Option<&FieldPath>,
) -> Result<Filter, DbError> {
    let mut parts = Vec::with_capacity(m.len());
    for (k, v) in m {
        match k.as_str() {
            "$and" => parts.push(Filter::And(parse_logical(p, "$and", v, prefix)?)),
            "$or" => parts.push(Filter::Or(parse_logical(p, "$or", v, prefix)?)),
            "$nor" => parts.push(Filter::Nor(parse_logical(p, "$nor", v, prefix)?)),
            k if k.starts_with('$') => {
                return Err(DbError::invalid(format!(
                    "unknown query operator {k} (at document level: $and, $or, $nor)"
                )));
            }
            _ => {
                let rel = FieldPath::parse(k)?;
                let path = match prefix {
                    Some(pre) => pre.join(&rel),
                    None => rel,
                };
                if path.segments().len() > crate::path::MAX_SEGMENTS {
                    return Err(DbError::invalid(format!("field path {path} is too long")));
                }
                parts.push(parse_field(p, path, v)?);
            }
        }
    }
    Ok(Filter::And(parts))
}

fn parse_field(p: &mut Parser, path: FieldPath, v: &Value) -> Result<Filter, DbError> {
    if let Value::Object(m) = v {
        if m.len() == 1 && m.contains_key(value::DATE) {
            let val = parse_value(v)?;
            p.count()?;
            return Ok(Filter::Field(FieldCond {
                path,
                cond: Cond::Eq(val),
                source: op_obj("$eq", v.clone()),
            }));
        }
        if !m.is_empty() {
            if is_operator_object(m)? {
                let cond = parse_ops(p, m)?;
                return Ok(Filter::Field(FieldCond {
                    path,
                    cond,
                    source: v.clone(),
                }));
            }
            // CloudBase flattening: {"style": {"color": "red"}} ≡ {"style.color": "red"}.
            return parse_doc(p, m, Some(&path));
        }
    }
    let val = parse_value(v)?;
    p.count()?;
    Ok(Filter::Field(FieldCond {
        path,
        cond: Cond::Eq(val),
        source: op_obj("$eq", v.clone()),
    }))
}

/// Checks an operand value: typed values allowed (`$date`), other `$` keys refused.
pub(crate) fn parse_value(v: &Value) -> Result<Value, DbError> {
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if m.contains_key(value::SERVER_DATE) {
                    return Err(DbError::invalid("$serverDate is only allowed in writes"));
                }
                if m.contains_key(value::DATE) {
                    return if value::as_date(v).is_some() {
                        Ok(v.clone())
                    } else {
                        Err(DbError::invalid(
                            "$date takes integer milliseconds since the epoch",
                        ))
                    };
                }
            }
            for (k, c) in m {
                if k.starts_with('$') {
                    return Err(DbError::invalid(format!(
                        "unexpected operator {k} inside a value"
                    )));
                }
                parse_value(c)?;
            }
            Ok(v.clone())
        }
        Value::Array(a) => {
            for c in a {
                parse_value(c)?;
            }
            Ok(v.clone())
        }
        _ => Ok(v.clone()),
    }
}

fn array_operand<'a>(op: &str, v: &'a Value) -> Result<&'a Vec<Value>, DbError> {
    match v {
        Value::Array(a) => {
            if a.len() > MAX_CONDITIONS {
                return Err(DbError::invalid(format!(
                    "{op} takes at most {MAX_CONDITIONS} values"
                )));
            }
            for x in a {
                if let Value::Object(m) = x {
                    if m.keys().any(|k| k == "$regex") {
                        return Err(DbError::invalid(format!(
                            "{op}: regular expressions inside {op} are not supported"
                        )));
                    }
                }
                parse_value(x)?;
            }
            Ok(a)
        }
        _ => Err(DbError::invalid(format!("{op} takes an array"))),
    }
}

fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn parse_ops(p: &mut Parser, m: &Map<String, Value>) -> Result<Cond, DbError> {
    let mut conds = Vec::with_capacity(m.len());
    let regex_opts = m.get("$options");
    if regex_opts.is_some() && !m.contains_key("$regex") {
        return Err(DbError::invalid("$options needs $regex"));
    }
    for (op, arg) in m {
        p.count()?;
        let c = match op.as_str() {
            "$eq" => Cond::Eq(parse_value(arg)?),
            "$neq" | "$ne" => Cond::Ne(parse_value(arg)?),
            "$lt" => Cond::Lt(parse_value(arg)?),
            "$lte" => Cond::Lte(parse_value(arg)?),
            "$gt" => Cond::Gt(parse_value(arg)?),
            "$gte" => Cond::Gte(parse_value(arg)?),
            "$in" => Cond::In(array_operand("$in", arg)?.clone()),
            "$nin" => Cond::Nin(array_operand("$nin", arg)?.clone()),
            "$all" => Cond::All(array_operand("$all", arg)?.clone()),
            "$exists" => match arg {
                Value::Bool(b) => Cond::Exists(*b),
                _ => return Err(DbError::invalid("$exists takes true or false")),
            },
            "$size" => match integer(arg) {
                Some(n) if n >= 0 => Cond::Size(n as u64),
                _ => return Err(DbError::invalid("$size takes a non-negative integer")),
            },
            "$mod" => match arg.as_array().map(Vec::as_slice) {
                Some([d, r]) => match (integer(d), integer(r)) {
                    (Some(0), _) => return Err(DbError::invalid("$mod: divisor must not be 0")),
                    (Some(d), Some(r)) => Cond::Mod(d, r),
                    _ => return Err(DbError::invalid("$mod takes [divisor, remainder] integers")),
                },
                _ => return Err(DbError::invalid("$mod takes [divisor, remainder]")),
            },
            "$elemMatch" => match arg {
                Value::Object(inner) if !inner.is_empty() => {
                    if is_cond_object(inner) {
                        Cond::ElemMatchValue(Box::new(parse_ops(p, inner)?))
                    } else {
                        Cond::ElemMatchDoc(Box::new(simplify(parse_doc(p, inner, None)?)))
                    }
                }
                _ => return Err(DbError::invalid("$elemMatch takes a non-empty object")),
            },
            "$not" => match arg {
                Value::Object(inner) if !inner.is_empty() && is_operator_object(inner)? => {
                    Cond::Not(Box::new(parse_ops(p, inner)?))
                }
                _ => {
                    return Err(DbError::invalid(
                        "$not takes an operator object such as {\"$gt\": 5}",
                    ));
                }
            },
            "$and" | "$or" | "$nor" => {
                let Value::Array(items) = arg else {
                    return Err(DbError::invalid(format!(
                        "{op} takes an array of operator objects"
                    )));
                };
                if items.is_empty() {
                    return Err(DbError::invalid(format!("{op} takes a non-empty array")));
                }
                let mut cs = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::Object(inner) if !inner.is_empty() && is_operator_object(inner)? => {
                            cs.push(parse_ops(p, inner)?)
                        }
                        _ => {
                            return Err(DbError::invalid(format!(
                                "{op} on a field takes operator objects such as {{\"$gt\": 5}}"
                            )));
                        }
                    }
                }
                match op.as_str() {
                    "$and" => Cond::And(cs),
                    "$or" => Cond::Or(cs),
                    _ => Cond::Nor(cs),
                }
            }
            "$regex" => {
                let Value::String(pat) = arg else {
                    return Err(DbError::invalid("$regex takes a string"));
                };
                let opts = match regex_opts {
                    None => "",
                    Some(Value::String(s)) => s.as_str(),
                    Some(_) => {
                        return Err(DbError::invalid("$options takes a string such as \"i\""));
                    }
                };
                Cond::Regex(QueryRegex::new(pat, opts)?)
            }
            "$options" => continue,
            "$serverDate" => return Err(DbError::invalid("$serverDate is only allowed in writes")),
            other => return Err(DbError::invalid(format!("unknown query operator {other}"))),
        };
        conds.push(c);
    }
    let _ = p.max_depth;
    Ok(if conds.len() == 1 {
        conds.pop().unwrap_or(Cond::And(vec![]))
    } else {
        Cond::And(conds)
    })
}

impl Filter {
    /// The filter as a `where` object again (canonical form: conditions as operator objects).
    pub fn to_json(&self) -> Value {
        match self {
            Filter::True => Value::Object(Map::new()),
            Filter::False => serde_json::json!({"_id": {"$in": []}}),
            Filter::And(fs) => op_obj(
                "$and",
                Value::Array(fs.iter().map(Filter::to_json).collect()),
            ),
            Filter::Or(fs) => op_obj(
                "$or",
                Value::Array(fs.iter().map(Filter::to_json).collect()),
            ),
            Filter::Nor(fs) => op_obj(
                "$nor",
                Value::Array(fs.iter().map(Filter::to_json).collect()),
            ),
            Filter::Field(fc) => op_obj(fc.path.as_str(), fc.cond.to_json()),
            // The same documents; the order of evaluation is not part of the JSON form.
            Filter::Gated(rule, conditions) => op_obj(
                "$and",
                Value::Array(vec![rule.to_json(), conditions.to_json()]),
            ),
        }
    }
}

impl Cond {
    /// The condition as an operator object (`{"$gt": 5}`), parseable by
    /// [`Cond::parse_operator_object`].
    pub fn to_json(&self) -> Value {
        let list = |xs: &Vec<Value>| Value::Array(xs.clone());
        let conds = |cs: &Vec<Cond>| Value::Array(cs.iter().map(Cond::to_json).collect());
        match self {
            Cond::Eq(v) => op_obj("$eq", v.clone()),
            Cond::Ne(v) => op_obj("$neq", v.clone()),
            Cond::Lt(v) => op_obj("$lt", v.clone()),
            Cond::Lte(v) => op_obj("$lte", v.clone()),
            Cond::Gt(v) => op_obj("$gt", v.clone()),
            Cond::Gte(v) => op_obj("$gte", v.clone()),
            Cond::In(xs) => op_obj("$in", list(xs)),
            Cond::Nin(xs) => op_obj("$nin", list(xs)),
            Cond::All(xs) => op_obj("$all", list(xs)),
            Cond::Exists(b) => op_obj("$exists", Value::Bool(*b)),
            Cond::Size(n) => op_obj("$size", Value::from(*n)),
            Cond::Mod(d, r) => op_obj("$mod", serde_json::json!([d, r])),
            Cond::ElemMatchDoc(f) => {
                let inner = match f.to_json() {
                    Value::Object(m) if m.is_empty() => serde_json::json!({"$and": [{}]}),
                    other => other,
                };
                op_obj("$elemMatch", inner)
            }
            Cond::ElemMatchValue(c) => op_obj("$elemMatch", c.to_json()),
            Cond::Regex(r) => serde_json::json!({"$regex": r.pattern, "$options": r.options}),
            Cond::Not(c) => op_obj("$not", c.to_json()),
            Cond::And(cs) => op_obj("$and", conds(cs)),
            Cond::Or(cs) => op_obj("$or", conds(cs)),
            Cond::Nor(cs) => op_obj("$nor", conds(cs)),
        }
    }
}

/// One candidate a path resolves to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cand<'a> {
    /// The value at the path (possibly an array).
    Value(&'a Value),
    /// An element of an array found at the end of the path.
    Elem(&'a Value),
    /// Nothing there.
    Missing,
}

impl<'a> Cand<'a> {
    fn get(self) -> Option<&'a Value> {
        match self {
            Cand::Value(v) | Cand::Elem(v) => Some(v),
            Cand::Missing => None,
        }
    }
}

/// Resolves `segs` from `v` (`None` = missing) into candidates, MongoDB style.
pub(crate) fn candidates<'a>(v: Option<&'a Value>, segs: &[String], out: &mut Vec<Cand<'a>>) {
    resolve(v, segs, false, out)
}

/// `fanned`: the path already went through an array; then a missing field or a scalar in
/// the way contributes nothing instead of a missing candidate (elements lacking the field
/// do not make `{"a.x": null}` match `a: [{"y": 1}]`, as in mingo).
fn resolve<'a>(v: Option<&'a Value>, segs: &[String], fanned: bool, out: &mut Vec<Cand<'a>>) {
    let Some(v) = v else {
        if !fanned {
            out.push(Cand::Missing);
        }
        return;
    };
    let Some((seg, rest)) = segs.split_first() else {
        out.push(Cand::Value(v));
        if let Value::Array(a) = v {
            out.extend(a.iter().map(Cand::Elem));
        }
        return;
    };
    match v {
        Value::Object(m) => resolve(m.get(seg), rest, fanned, out),
        Value::Array(a) => {
            if let Some(i) = array_index(seg) {
                // Indexing is not a fan-out: `items.0.x` is missing when `items` is empty.
                resolve(a.get(i), rest, fanned, out);
            }
            for e in a {
                if let Value::Object(m) = e {
                    if let Some(c) = m.get(seg) {
                        resolve(Some(c), rest, true, out);
                    }
                }
            }
        }
        _ => {
            if !fanned {
                out.push(Cand::Missing);
            }
        }
    }
}

fn same_bracket_cmp(c: Option<&Value>, x: &Value) -> Option<Ordering> {
    if bracket_of(c) != bracket_of(Some(x)) {
        return None;
    }
    Some(compare(c, Some(x)))
}

impl Cond {
    /// Evaluates the condition on the path `segs` below `v` (`v` = the document, or the
    /// value of the path's first field when called from SQL with the rest of the path).
    pub fn eval_at(&self, v: Option<&Value>, segs: &[String]) -> bool {
        let mut cands = Vec::with_capacity(4);
        candidates(v, segs, &mut cands);
        self.eval_cands(&cands)
    }

    fn eval_cands(&self, cands: &[Cand<'_>]) -> bool {
        match self {
            Cond::Eq(x) => cands.iter().any(|c| equal(c.get(), Some(x))),
            Cond::Ne(x) => !cands.iter().any(|c| equal(c.get(), Some(x))),
            Cond::Lt(x) => cands
                .iter()
                .any(|c| same_bracket_cmp(c.get(), x) == Some(Ordering::Less)),
            Cond::Lte(x) => cands.iter().any(|c| {
                matches!(
                    same_bracket_cmp(c.get(), x),
                    Some(Ordering::Less | Ordering::Equal)
                )
            }),
            Cond::Gt(x) => cands
                .iter()
                .any(|c| same_bracket_cmp(c.get(), x) == Some(Ordering::Greater)),
            Cond::Gte(x) => cands.iter().any(|c| {
                matches!(
                    same_bracket_cmp(c.get(), x),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            }),
            Cond::In(xs) => cands
                .iter()
                .any(|c| xs.iter().any(|x| equal(c.get(), Some(x)))),
            Cond::Nin(xs) => !cands
                .iter()
                .any(|c| xs.iter().any(|x| equal(c.get(), Some(x)))),
            Cond::Exists(b) => cands.iter().any(|c| !matches!(c, Cand::Missing)) == *b,
            Cond::Size(n) => cands
                .iter()
                .any(|c| matches!(c, Cand::Value(Value::Array(a)) if a.len() as u64 == *n)),
            Cond::Mod(d, r) => cands.iter().any(|c| match c.get() {
                Some(Value::Number(n)) => {
                    let i = n
                        .as_i64()
                        .unwrap_or_else(|| n.as_f64().unwrap_or(0.0).trunc() as i64);
                    i.checked_rem(*d) == Some(*r)
                }
                _ => false,
            }),
            Cond::All(xs) => {
                !xs.is_empty()
                    && xs
                        .iter()
                        .all(|x| cands.iter().any(|c| equal(c.get(), Some(x))))
            }
            Cond::ElemMatchDoc(f) => cands.iter().any(|c| match c {
                Cand::Value(Value::Array(a)) => a
                    .iter()
                    .any(|e| e.is_object() && value::as_date(e).is_none() && f.matches(e)),
                _ => false,
            }),
            Cond::ElemMatchValue(cond) => cands.iter().any(|c| match c {
                Cand::Value(Value::Array(a)) => {
                    a.iter().any(|e| cond.eval_cands(&[Cand::Value(e)]))
                }
                _ => false,
            }),
            Cond::Regex(r) => cands
                .iter()
                .any(|c| matches!(c.get(), Some(Value::String(s)) if r.re.is_match(s))),
            Cond::Not(c) => !c.eval_cands(cands),
            Cond::And(cs) => cs.iter().all(|c| c.eval_cands(cands)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval_cands(cands)),
            Cond::Nor(cs) => !cs.iter().any(|c| c.eval_cands(cands)),
        }
    }

    /// Parses an operator object (`{"$gt": 5}`) on its own (the SQL functions use this).
    pub fn parse_operator_object(v: &Value) -> Result<Cond, DbError> {
        let mut p = Parser {
            conditions: 0,
            max_depth: 64,
        };
        match v {
            Value::Object(m) if m.len() == 1 && m.contains_key(value::DATE) => {
                Ok(Cond::Eq(parse_value(v)?))
            }
            Value::Object(m) if !m.is_empty() && is_operator_object(m)? => parse_ops(&mut p, m),
            other => Ok(Cond::Eq(parse_value(other)?)),
        }
    }
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One `orderBy` key.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// The field.
    pub path: FieldPath,
    /// The direction.
    pub dir: Direction,
}

/// The key a document sorts by on `segs` below `v`: for arrays MongoDB sorts ascending by
/// the smallest element and descending by the largest; a missing field sorts as null.
pub fn sort_key_at(v: Option<&Value>, segs: &[String], dir: Direction) -> Vec<u8> {
    let mut cands = Vec::with_capacity(4);
    candidates(v, segs, &mut cands);
    let mut best: Option<Vec<u8>> = None;
    for c in &cands {
        // Mongo: an array at the leaf sorts by its elements (the Elem candidates), not itself;
        // an empty array sorts as if it were undefined (below null).
        let k = match c {
            Cand::Value(Value::Array(a)) if a.is_empty() => vec![0x00],
            Cand::Value(Value::Array(_)) => continue,
            other => value::key_of(other.get()),
        };
        best = Some(match best {
            None => k,
            Some(b) => match dir {
                Direction::Asc => b.min(k),
                Direction::Desc => b.max(k),
            },
        });
    }
    best.unwrap_or_else(|| value::key_of(None))
}

/// Parses `orderBy`: `[["field", "asc"|"desc"], …]` (at most 8 keys).
pub fn parse_order_by(v: &Value) -> Result<Vec<SortKey>, DbError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => {
            return Err(DbError::invalid(
                "orderBy must be an array of [field, \"asc\"|\"desc\"]",
            ));
        }
    };
    if items.len() > 8 {
        return Err(DbError::invalid("orderBy takes at most 8 fields"));
    }
    items
        .iter()
        .map(|it| {
            let pair = it.as_array().filter(|a| a.len() == 2 || a.len() == 1);
            let Some(pair) = pair else {
                return Err(DbError::invalid(
                    "orderBy items are [field, \"asc\"|\"desc\"]",
                ));
            };
            let Some(field) = pair[0].as_str() else {
                return Err(DbError::invalid("orderBy field must be a string"));
            };
            let dir = match pair.get(1).map(|d| d.as_str()) {
                None | Some(Some("asc")) => Direction::Asc,
                Some(Some("desc")) => Direction::Desc,
                _ => {
                    return Err(DbError::invalid(
                        "orderBy direction must be \"asc\" or \"desc\"",
                    ));
                }
            };
            Ok(SortKey {
                path: FieldPath::parse(field)?,
                dir,
            })
        })
        .collect()
}

/// Compares two documents by `orderBy`, then by `_id` (the order queries return).
pub fn compare_docs(a: &Value, b: &Value, order: &[SortKey]) -> Ordering {
    for k in order {
        let ka = sort_key_at(Some(a), k.path.segments(), k.dir);
        let kb = sort_key_at(Some(b), k.path.segments(), k.dir);
        let o = match k.dir {
            Direction::Asc => ka.cmp(&kb),
            Direction::Desc => kb.cmp(&ka),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let ida = a.get("_id").and_then(Value::as_str).unwrap_or("");
    let idb = b.get("_id").and_then(Value::as_str).unwrap_or("");
    ida.cmp(idb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(w: Value, d: Value) -> bool {
        Filter::parse(&w).unwrap().matches(&d)
    }

    #[test]
    fn equality_flattening_and_arrays() {
        let d = json!({"a": 1, "style": {"color": "red", "size": 2}, "tags": ["x", "y"], "items": [{"n": 1}, {"n": 5}]});
        assert!(m(json!({"a": 1}), d.clone()));
        assert!(m(json!({"a": 1.0}), d.clone()));
        assert!(!m(json!({"a": "1"}), d.clone()));
        assert!(m(json!({"style": {"color": "red"}}), d.clone()));
        assert!(m(json!({"style.color": "red"}), d.clone()));
        assert!(!m(json!({"style": {"$eq": {"color": "red"}}}), d.clone()));
        assert!(m(
            json!({"style": {"$eq": {"color": "red", "size": 2}}}),
            d.clone()
        ));
        assert!(m(json!({"tags": "x"}), d.clone()));
        assert!(m(json!({"tags": ["x", "y"]}), d.clone()));
        assert!(m(json!({"tags.1": "y"}), d.clone()));
        assert!(m(json!({"items.n": 5}), d.clone()));
        assert!(m(json!({"items.1.n": 5}), d.clone()));
        assert!(!m(json!({"items.0.n": 5}), d.clone()));
        assert!(m(json!({"missing": null}), d.clone()));
        assert!(m(json!({"missing": {"$neq": 1}}), d.clone()));
        assert!(m(json!({"missing": {"$nin": [1]}}), d.clone()));
        assert!(!m(json!({"missing": {"$exists": true}}), d.clone()));
        assert!(m(json!({"a": {"$exists": true}}), d.clone()));
    }

    #[test]
    fn comparisons_and_operators() {
        let d = json!({"n": 5, "s": "m", "arr": [1, 10], "when": {"$date": 1000}, "objs": [{"a": 1, "b": 2}, {"a": 3, "b": 1}]});
        assert!(m(json!({"n": {"$gt": 4, "$lt": 6}}), d.clone()));
        assert!(!m(json!({"n": {"$gt": "a"}}), d.clone()));
        assert!(!m(json!({"s": {"$gt": 1}}), d.clone()));
        assert!(m(json!({"s": {"$gte": "m"}}), d.clone()));
        assert!(m(json!({"arr": {"$gt": 5, "$lt": 3}}), d.clone()));
        assert!(!m(
            json!({"arr": {"$elemMatch": {"$gt": 5, "$lt": 3}}}),
            d.clone()
        ));
        assert!(m(json!({"arr": {"$size": 2}}), d.clone()));
        assert!(m(json!({"arr": {"$all": [10, 1]}}), d.clone()));
        assert!(!m(json!({"arr": {"$all": [10, 2]}}), d.clone()));
        assert!(m(json!({"n": {"$mod": [2, 1]}}), d.clone()));
        assert!(m(json!({"n": {"$in": [1, 5]}}), d.clone()));
        assert!(m(json!({"when": {"$gt": {"$date": 999}}}), d.clone()));
        assert!(m(json!({"when": {"$date": 1000}}), d.clone()));
        assert!(!m(json!({"when": {"$gt": 999}}), d.clone()));
        assert!(m(
            json!({"objs": {"$elemMatch": {"a": 1, "b": 2}}}),
            d.clone()
        ));
        assert!(!m(
            json!({"objs": {"$elemMatch": {"a": 1, "b": 1}}}),
            d.clone()
        ));
        assert!(m(
            json!({"s": {"$regex": "^M", "$options": "i"}}),
            d.clone()
        ));
        assert!(!m(json!({"s": {"$regex": "^M"}}), d.clone()));
        assert!(m(json!({"n": {"$not": {"$gt": 5}}}), d.clone()));
        assert!(m(json!({"$or": [{"n": 1}, {"s": "m"}]}), d.clone()));
        assert!(m(json!({"$nor": [{"n": 1}, {"s": "x"}]}), d.clone()));
        assert!(m(
            json!({"n": {"$or": [{"$lt": 0}, {"$gt": 4}]}}),
            d.clone()
        ));
        assert!(m(
            json!({"$and": [{"n": 5}, {"$or": [{"s": "m"}]}]}),
            d.clone()
        ));
    }

    #[test]
    fn malformed_where_is_refused() {
        for bad in [
            json!({"a": {"$foo": 1}}),
            json!({"$where": "1"}),
            json!({"a": {"$in": 1}}),
            json!({"a": {"$exists": 1}}),
            json!({"a": {"$size": -1}}),
            json!({"a": {"$mod": [0, 1]}}),
            json!({"a": {"$regex": "("}}),
            json!({"a": {"$gt": 1, "b": 2}}),
            json!({"a..b": 1}),
            json!({"$or": []}),
            json!({"a": {"$serverDate": {}}}),
            json!([1]),
        ] {
            assert!(Filter::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorting() {
        let order = parse_order_by(&json!([["a", "asc"]])).unwrap();
        let mut docs = [
            json!({"_id": "1", "a": "x"}),
            json!({"_id": "2", "a": 3}),
            json!({"_id": "3"}),
            json!({"_id": "4", "a": [5, 1]}),
            json!({"_id": "5", "a": null}),
        ];
        docs.sort_by(|a, b| compare_docs(a, b, &order));
        let ids: Vec<_> = docs.iter().map(|d| d["_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["3", "5", "4", "2", "1"]);
    }
}
