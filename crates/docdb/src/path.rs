//! Field paths (`a.b.0.c`) as used in `where`, `orderBy`, `field` and updates: parsing,
//! validation, and walking values in memory.

use crate::error::DbError;
use crate::value::check_field_name;
use serde_json::Value;
use std::fmt;

/// Most segments a path may have.
pub const MAX_SEGMENTS: usize = 32;

/// A validated dotted field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    raw: String,
    segs: Vec<String>,
}

impl FieldPath {
    /// Parses `a.b.0.c`. Every segment must be a valid field name (no `$` prefix, no quotes…).
    pub fn parse(raw: &str) -> Result<FieldPath, DbError> {
        if raw.is_empty() {
            return Err(DbError::invalid("empty field path"));
        }
        let segs: Vec<String> = raw.split('.').map(str::to_string).collect();
        if segs.len() > MAX_SEGMENTS {
            return Err(DbError::invalid(format!(
                "field path {raw:?} has more than {MAX_SEGMENTS} segments"
            )));
        }
        for s in &segs {
            if s.is_empty() {
                return Err(DbError::invalid(format!(
                    "bad field path {raw:?}: empty segment"
                )));
            }
            check_field_name(s).map_err(|e| match e {
                DbError::Invalid(m) => DbError::invalid(format!("bad field path {raw:?}: {m}")),
                other => other,
            })?;
        }
        Ok(FieldPath {
            raw: raw.to_string(),
            segs,
        })
    }

    /// The path of a single top-level field (already validated as a name by the caller).
    pub(crate) fn from_segments(segs: Vec<String>) -> FieldPath {
        FieldPath {
            raw: segs.join("."),
            segs,
        }
    }

    /// `a.b.c`.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    /// The segments.
    pub fn segments(&self) -> &[String] {
        &self.segs
    }
    /// Whether this path is exactly `name`.
    pub fn is(&self, name: &str) -> bool {
        self.segs.len() == 1 && self.segs[0] == name
    }
    /// The first segment.
    pub fn first(&self) -> &str {
        &self.segs[0]
    }
    /// `self` is `other` or inside it (`a.b` is within `a`).
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        other.segs.len() <= self.segs.len() && self.segs[..other.segs.len()] == other.segs[..]
    }
    /// Appends the segments of `rest`.
    pub fn join(&self, rest: &FieldPath) -> FieldPath {
        let mut segs = self.segs.clone();
        segs.extend(rest.segs.iter().cloned());
        FieldPath::from_segments(segs)
    }

    /// The value at this path, following object keys and array indexes literally (no
    /// fan-out over arrays). Used by projections, updates and sorts of simple documents.
    pub fn get<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        let mut cur = v;
        for s in &self.segs {
            cur = match cur {
                Value::Object(m) => m.get(s)?,
                Value::Array(a) => a.get(array_index(s)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// A segment read as an array index (`0`, `12`; no sign, no leading zeros).
pub fn array_index(seg: &str) -> Option<usize> {
    if seg.is_empty() || seg.len() > 9 || !seg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if seg.len() > 1 && seg.starts_with('0') {
        return None;
    }
    seg.parse().ok()
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_and_get() {
        let p = FieldPath::parse("a.b.1.c").unwrap();
        assert_eq!(p.segments().len(), 4);
        assert_eq!(p.get(&json!({"a": {"b": [0, {"c": 5}]}})), Some(&json!(5)));
        for bad in ["", "a..b", ".a", "a.", "a.$b", "$a", "a.\"b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(array_index("01"), None);
        assert_eq!(array_index("10"), Some(10));
        assert!(
            FieldPath::parse("a.b")
                .unwrap()
                .starts_with(&FieldPath::parse("a").unwrap())
        );
    }
}
