//! Translation of filters and sort keys into SQLite SQL over the `data` JSONB column.
//!
//! Every value comparison goes through `mb_k(data -> '$."a"."b"')`, the order-preserving key
//! of the value at a path (see `value.rs`): equality, ranges (bounded to the operand's type
//! bracket, so types never compare across), `IN`, sorts, and index expressions are plain SQL
//! on that key, and an index declared on the path serves them.
//!
//! That translation is exact only when no document of the collection ever held an array on
//! the way to the path (MongoDB's array traversal). The backend remembers, per collection,
//! every path that ever held an array (like MongoDB's "multikey" flag); a condition on a
//! path crossing one of those is translated to `mb_cond(data -> '<prefix>', rest, cond)`,
//! which traverses arrays with the in-memory evaluator's code.

use crate::filter::{Cond, Direction, FieldCond, Filter, SortKey};
use crate::path::FieldPath;
use crate::value::{self, key_of};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write;

/// An SQL fragment with its parameters (positional `?`).
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl Sql {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn param(&mut self, v: SqlValue) {
        self.text.push('?');
        self.params.push(v);
    }
}

/// A JSON path literal (`'$."a"."b"'`) for SQL text. Segments are validated field names
/// (no `"`, `\` or control characters), so quoting each is exact; `'` is doubled.
pub(crate) fn json_path_literal(segs: &[String]) -> String {
    let mut s = String::with_capacity(8 + segs.iter().map(|x| x.len() + 3).sum::<usize>());
    s.push_str("'$");
    for seg in segs {
        s.push_str(".\"");
        for c in seg.chars() {
            if c == '\'' {
                s.push('\'');
            }
            s.push(c);
        }
        s.push('"');
    }
    s.push('\'');
    s
}

/// The key expression of a (flat) path: what comparisons, sorts and indexes use.
pub(crate) fn key_expr(path: &FieldPath) -> String {
    format!("mb_k(data -> {})", json_path_literal(path.segments()))
}

/// Where a path sits with respect to arrays seen in the collection.
enum Split<'p> {
    /// No prefix ever held an array: one value, exact.
    Flat,
    /// `segs[..n]` is extracted in SQL; the rest is traversed by `mb_cond`/`mb_sort`.
    Arrays(&'p [String], &'p [String]),
}

/// Translates filters for one collection, knowing which of its paths ever held arrays.
pub(crate) struct Planner<'a> {
    pub arrays: Option<&'a HashSet<String>>,
}

impl Planner<'_> {
    fn split<'p>(&self, path: &'p FieldPath) -> Split<'p> {
        let segs = path.segments();
        let Some(arrays) = self.arrays.filter(|a| !a.is_empty()) else {
            return Split::Flat;
        };
        let mut prefix = String::new();
        for (i, s) in segs.iter().enumerate() {
            if i > 0 {
                prefix.push('.');
            }
            prefix.push_str(s);
            if arrays.contains(&prefix) {
                return Split::Arrays(&segs[..=i], &segs[i + 1..]);
            }
        }
        Split::Flat
    }

    /// Appends the SQL of a filter (always 0/1, never NULL, so `NOT` is safe).
    pub fn filter(&self, f: &Filter, out: &mut Sql) {
        match f {
            Filter::True => out.push("1"),
            Filter::False => out.push("0"),
            Filter::And(fs) => self.join(fs, " AND ", out),
            Filter::Or(fs) => self.join(fs, " OR ", out),
            Filter::Nor(fs) => {
                out.push("NOT ");
                self.join(fs, " OR ", out);
            }
            Filter::Field(fc) => self.field(fc, out),
            // The rule twice: as a plain term, so the planner can drive the scan from an
            // index on it (and only from it: a CASE is opaque to the planner), and as the
            // CASE's condition, which SQLite evaluates before (and instead of) the caller's
            // conditions. Never `rule AND conditions`: SQLite may evaluate the terms of an AND,
            // or seek an index on the conditions, in any order it likes.
            Filter::Gated(rule, conditions) => {
                out.push("(");
                self.filter(rule, out);
                out.push(" AND CASE WHEN ");
                self.filter(rule, out);
                out.push(" THEN ");
                self.filter(conditions, out);
                out.push(" ELSE 0 END)");
            }
        }
    }

    fn join(&self, fs: &[Filter], sep: &str, out: &mut Sql) {
        out.push("(");
        for (i, f) in fs.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            self.filter(f, out);
        }
        out.push(")");
    }

    fn field(&self, fc: &FieldCond, out: &mut Sql) {
        if fc.path.is("_id") && id_cond(&fc.cond, out) {
            return;
        }
        match self.split(&fc.path) {
            Split::Flat => flat_cond(&key_expr(&fc.path), fc.path.segments(), &fc.cond, out),
            Split::Arrays(head, rest) => generic(head, rest, &fc.cond, out),
        }
    }

    /// `ORDER BY` terms (without the keyword), `_id` last as the tie-breaker.
    pub fn order(&self, keys: &[SortKey], out: &mut Sql) {
        let mut has_id = false;
        for k in keys {
            let dir = if k.dir == Direction::Asc {
                " ASC"
            } else {
                " DESC"
            };
            if k.path.is("_id") {
                out.push("id");
                out.push(dir);
                has_id = true;
                break;
            }
            match self.split(&k.path) {
                Split::Flat => out.push(&key_expr(&k.path)),
                Split::Arrays(head, rest) => {
                    let _ = write!(out.text, "mb_sort(data -> {}, ", json_path_literal(head));
                    out.param(SqlValue::Text(rest.join(".")));
                    let _ = write!(
                        out.text,
                        ", {})",
                        if k.dir == Direction::Asc { 1 } else { -1 }
                    );
                }
            }
            out.push(dir);
            out.push(", ");
        }
        if !has_id {
            out.push("id ASC");
        }
    }
}

fn generic(head: &[String], rest: &[String], cond: &Cond, out: &mut Sql) {
    let _ = write!(out.text, "mb_cond(data -> {}, ", json_path_literal(head));
    out.param(SqlValue::Text(rest.join(".")));
    out.push(", ");
    out.param(SqlValue::Text(cond.to_json().to_string()));
    out.push(")");
}

fn key_param(v: &Value) -> SqlValue {
    SqlValue::Blob(key_of(Some(v)))
}

fn bracket_bounds(v: &Value) -> (SqlValue, SqlValue) {
    let b = value::bracket_of(Some(v));
    (SqlValue::Blob(vec![b]), SqlValue::Blob(vec![b + 1]))
}

fn flat_cond(e: &str, segs: &[String], cond: &Cond, out: &mut Sql) {
    match cond {
        Cond::Eq(x) => {
            let _ = write!(out.text, "{e} = ");
            out.param(key_param(x));
        }
        Cond::Ne(x) => {
            let _ = write!(out.text, "{e} <> ");
            out.param(key_param(x));
        }
        Cond::Lt(x) | Cond::Lte(x) | Cond::Gt(x) | Cond::Gte(x) => {
            let (lo, hi) = bracket_bounds(x);
            let op = match cond {
                Cond::Lt(_) => "<",
                Cond::Lte(_) => "<=",
                Cond::Gt(_) => ">",
                _ => ">=",
            };
            let _ = write!(out.text, "({e} {op} ");
            out.param(key_param(x));
            let _ = write!(out.text, " AND {e} >= ");
            out.param(lo);
            let _ = write!(out.text, " AND {e} < ");
            out.param(hi);
            out.push(")");
        }
        Cond::In(xs) | Cond::Nin(xs) => {
            let neg = matches!(cond, Cond::Nin(_));
            if xs.is_empty() {
                out.push(if neg { "1" } else { "0" });
                return;
            }
            let _ = write!(out.text, "{e} {}IN (", if neg { "NOT " } else { "" });
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                out.param(key_param(x));
            }
            out.push(")");
        }
        Cond::Exists(b) => {
            let _ = write!(
                out.text,
                "(data -> {} IS {}NULL)",
                json_path_literal(segs),
                if *b { "NOT " } else { "" }
            );
        }
        // No array ever lived here: nothing can have a size or elements.
        Cond::Size(_) | Cond::ElemMatchDoc(_) | Cond::ElemMatchValue(_) => out.push("0"),
        Cond::All(xs) => {
            if xs.is_empty() {
                out.push("0");
                return;
            }
            out.push("(");
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(" AND ");
                }
                let _ = write!(out.text, "{e} = ");
                out.param(key_param(x));
            }
            out.push(")");
        }
        Cond::Mod(..) | Cond::Regex(_) => generic(segs, &[], cond, out),
        Cond::Not(c) => {
            out.push("NOT (");
            flat_cond(e, segs, c, out);
            out.push(")");
        }
        Cond::And(cs) | Cond::Or(cs) | Cond::Nor(cs) => {
            if matches!(cond, Cond::Nor(_)) {
                out.push("NOT ");
            }
            let sep = if matches!(cond, Cond::And(_)) {
                " AND "
            } else {
                " OR "
            };
            out.push("(");
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    out.push(sep);
                }
                flat_cond(e, segs, c, out);
            }
            if cs.is_empty() {
                out.push(if matches!(cond, Cond::And(_)) {
                    "1"
                } else {
                    "0"
                });
            }
            out.push(")");
        }
    }
}

/// Conditions on `_id` use the primary key column directly (ids are always strings).
fn id_cond(cond: &Cond, out: &mut Sql) -> bool {
    let s = |v: &Value| v.as_str().map(|s| SqlValue::Text(s.to_string()));
    match cond {
        Cond::Eq(x) | Cond::Ne(x) => {
            let neg = matches!(cond, Cond::Ne(_));
            match s(x) {
                Some(p) => {
                    out.push(if neg { "id <> " } else { "id = " });
                    out.param(p);
                }
                None => out.push(if neg { "1" } else { "0" }),
            }
            true
        }
        Cond::Lt(x) | Cond::Lte(x) | Cond::Gt(x) | Cond::Gte(x) => {
            let op = match cond {
                Cond::Lt(_) => "<",
                Cond::Lte(_) => "<=",
                Cond::Gt(_) => ">",
                _ => ">=",
            };
            match s(x) {
                Some(p) => {
                    let _ = write!(out.text, "id {op} ");
                    out.param(p);
                }
                None => out.push("0"),
            }
            true
        }
        Cond::In(xs) | Cond::Nin(xs) => {
            let neg = matches!(cond, Cond::Nin(_));
            let strs: Vec<SqlValue> = xs.iter().filter_map(s).collect();
            if strs.is_empty() {
                out.push(if neg { "1" } else { "0" });
                return true;
            }
            out.push(if neg { "id NOT IN (" } else { "id IN (" });
            for (i, p) in strs.into_iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                out.param(p);
            }
            out.push(")");
            true
        }
        Cond::Exists(b) => {
            out.push(if *b { "1" } else { "0" });
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn translates_flat_and_array_paths() {
        let f = Filter::parse(&json!({"a.b": 1, "t": {"$gt": 2}, "_id": "x"})).unwrap();
        let mut out = Sql::default();
        Planner { arrays: None }.filter(&f, &mut out);
        assert_eq!(
            out.text,
            "(mb_k(data -> '$.\"a\".\"b\"') = ? AND (mb_k(data -> '$.\"t\"') > ? AND mb_k(data -> '$.\"t\"') >= ? AND mb_k(data -> '$.\"t\"') < ?) AND id = ?)"
        );
        let arrays: HashSet<String> = ["a".to_string()].into();
        let mut out = Sql::default();
        Planner {
            arrays: Some(&arrays),
        }
        .filter(&f, &mut out);
        assert!(
            out.text.starts_with("(mb_cond(data -> '$.\"a\"', ?, ?)"),
            "{}",
            out.text
        );
        assert_eq!(json_path_literal(&["it's".to_string()]), "'$.\"it''s\"'");
    }
}
