//! Projections (`field` of a query): `{"name": true, "address.city": true}` keeps only those
//! fields (and `_id` unless `"_id": false`); `{"secret": false}` drops fields. Inclusion and
//! exclusion cannot be mixed (except for `_id`). Paths reach into arrays of objects as
//! MongoDB does (`items.name` keeps `name` of each object element).
//!
//! A projection only shapes documents the read rule already allowed; it is applied after
//! the query, so it can never widen what a caller sees.

use crate::error::DbError;
use crate::path::FieldPath;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
struct Node {
    leaf: bool,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, segs: &[String]) {
        match segs.split_first() {
            None => {
                self.leaf = true;
                self.children.clear();
            }
            Some((first, rest)) => {
                if self.leaf {
                    return;
                }
                self.children.entry(first.clone()).or_default().insert(rest);
            }
        }
    }
}

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {
    include: bool,
    tree: Node,
    keep_id: bool,
}

impl Projection {
    /// Parses `field` (`null` or `{}` = whole documents).
    pub fn parse(v: &Value) -> Result<Option<Projection>, DbError> {
        let m = match v {
            Value::Null => return Ok(None),
            Value::Object(m) => m,
            _ => {
                return Err(DbError::invalid(
                    "field must be an object such as {\"name\": true}",
                ));
            }
        };
        if m.is_empty() {
            return Ok(None);
        }
        if m.len() > 256 {
            return Err(DbError::invalid("field lists at most 256 paths"));
        }
        let mut mode: Option<bool> = None;
        let mut keep_id = true;
        let mut tree = Node::default();
        for (k, v) in m {
            let on = match v {
                Value::Bool(b) => *b,
                Value::Number(n) if n.as_i64() == Some(1) => true,
                Value::Number(n) if n.as_i64() == Some(0) => false,
                _ => return Err(DbError::invalid(format!("field.{k}: use true or false"))),
            };
            let path = FieldPath::parse(k)?;
            if path.is("_id") {
                keep_id = on;
                continue;
            }
            match mode {
                None => mode = Some(on),
                Some(m) if m != on => {
                    return Err(DbError::invalid(
                        "field cannot mix inclusion (true) and exclusion (false), except for _id",
                    ));
                }
                _ => {}
            }
            tree.insert(path.segments());
        }
        Ok(Some(Projection {
            include: mode.unwrap_or(false),
            tree,
            keep_id,
        }))
    }

    /// Shapes one document.
    pub fn apply(&self, doc: Value) -> Value {
        let Value::Object(mut m) = doc else {
            return doc;
        };
        let id = m.get("_id").cloned();
        let mut out = if self.include {
            match include(Value::Object(m), &self.tree) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            }
        } else {
            exclude(&mut m, &self.tree);
            m
        };
        out.shift_remove("_id");
        let mut res = Map::with_capacity(out.len() + 1);
        if self.keep_id {
            if let Some(id) = id {
                res.insert("_id".into(), id);
            }
        }
        res.extend(out);
        Value::Object(res)
    }
}

fn include(v: Value, node: &Node) -> Option<Value> {
    if node.leaf {
        return Some(v);
    }
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                if let Some(n) = node.children.get(&k) {
                    if let Some(x) = include(child, n) {
                        out.insert(k, x);
                    }
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter()
                .filter(|e| e.is_object() || e.is_array())
                .filter_map(|e| include(e, node))
                .collect(),
        )),
        _ => None,
    }
}

fn exclude(m: &mut Map<String, Value>, node: &Node) {
    for (k, n) in &node.children {
        if n.leaf {
            m.shift_remove(k);
        } else if let Some(child) = m.get_mut(k) {
            exclude_value(child, n);
        }
    }
}

fn exclude_value(v: &mut Value, node: &Node) {
    match v {
        Value::Object(m) => exclude(m, node),
        Value::Array(a) => a.iter_mut().for_each(|e| exclude_value(e, node)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn include_and_exclude() {
        let d = json!({"_id": "1", "_openid": "o", "name": "n", "addr": {"city": "c", "zip": 1}, "items": [{"a": 1, "b": 2}, 5]});
        let p = Projection::parse(&json!({"name": true, "addr.city": true, "items.a": true}))
            .unwrap()
            .unwrap();
        assert_eq!(
            p.apply(d.clone()),
            json!({"_id": "1", "name": "n", "addr": {"city": "c"}, "items": [{"a": 1}]})
        );
        let p = Projection::parse(&json!({"name": false, "addr.zip": false, "_id": false}))
            .unwrap()
            .unwrap();
        assert_eq!(
            p.apply(d.clone()),
            json!({"_openid": "o", "addr": {"city": "c"}, "items": [{"a": 1, "b": 2}, 5]})
        );
        let p = Projection::parse(&json!({"_id": false})).unwrap().unwrap();
        assert_eq!(p.apply(json!({"_id": "1", "x": 1})), json!({"x": 1}));
        assert!(Projection::parse(&json!({"a": true, "b": false})).is_err());
        assert!(Projection::parse(&json!({"a": "yes"})).is_err());
        assert!(Projection::parse(&json!(["a"])).is_err());
    }
}
