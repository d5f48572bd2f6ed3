//! The security-rule language (API.md §3 "Rules"), reusable with other variable roots.
//!
//! A rule is `true`, `false` or an expression over *roots* (`auth.openid`, `doc.<path>`,
//! `request.data.<path>`, `now`; the storage area uses `auth`, `resource`, `now`) with
//! `== != < <= > >= in && || !`, parentheses, and string/number/bool/null literals and
//! `[…]` lists. [`Rule::parse`] reports errors with their column.
//!
//! Evaluation is *partial*: every root except the document root (`doc`) is known when a
//! request is checked, so [`Rule::to_filter`] folds them into constants and what remains is
//! a condition on the document, i.e. a query [`Filter`]. That filter is ANDed into SQL for
//! reads (so a rule never leaks a count) and evaluated in memory ([`Filter::matches`]) on
//! single documents for writes and by realtime. One set of semantics serves all three:
//!
//! - comparisons with a document field follow query semantics (`doc.tags == 'a'` holds when
//!   the array `tags` contains `'a'`; `!=` holds for a missing field; `<` never compares
//!   across types);
//! - a comparison with an *undefined* value (a missing root field such as `auth.openid` for an
//!   anonymous caller) is false, whichever the operator;
//! - `x in [..]` / `x in doc.list`: membership; a bare `doc.flag` means `doc.flag == true`;
//! - comparing two document fields with each other is refused when the rule is parsed.

use crate::error::DbError;
use crate::filter::{Cond, FieldCond, Filter};
use crate::path::FieldPath;
use crate::value::{self, bracket_of, compare, equal};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt;

/// A rule syntax or semantic error, with its 1-based column.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// 1-based character column in the rule source.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

impl std::error::Error for RuleError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    List(Vec<Expr>),
    Ref { root: String, path: Vec<String> },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Box<Expr>),
}

/// A parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source: String,
    expr: Expr,
    doc_root: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(Value),
    Op(&'static str),
    End,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

fn err(column: usize, message: impl Into<String>) -> RuleError {
    RuleError {
        column,
        message: message.into(),
    }
}

impl Lexer {
    fn next(&mut self) -> Result<(Tok, usize), RuleError> {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let col = start + 1;
        let Some(&c) = self.chars.get(self.pos) else {
            return Ok((Tok::End, col));
        };
        let two: String = self.chars[self.pos..(self.pos + 2).min(self.chars.len())]
            .iter()
            .collect();
        for op in ["==", "!=", "<=", ">=", "&&", "||"] {
            if two == op {
                self.pos += 2;
                return Ok((Tok::Op(op), col));
            }
        }
        if c == '=' {
            return Err(err(col, "unexpected '=' (use '==' to compare)"));
        }
        if c == '&' || c == '|' {
            return Err(err(col, format!("unexpected '{c}' (use '{c}{c}')")));
        }
        for op in ["<", ">", "!", "(", ")", "[", "]", ",", "."] {
            if c.to_string() == op {
                self.pos += 1;
                return Ok((Tok::Op(op), col));
            }
        }
        if c == '\'' || c == '"' {
            let quote = c;
            self.pos += 1;
            let mut s = String::new();
            loop {
                let Some(&d) = self.chars.get(self.pos) else {
                    return Err(err(col, "unterminated string"));
                };
                self.pos += 1;
                if d == quote {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = self.chars.get(self.pos) else {
                        return Err(err(col, "unterminated string"));
                    };
                    self.pos += 1;
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    s.push(d);
                }
            }
            return Ok((Tok::Str(s), col));
        }
        if c.is_ascii_digit()
            || (c == '-'
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_some_and(|d| d.is_ascii_digit()))
        {
            self.pos += 1;
            while self.pos < self.chars.len()
                && (self.chars[self.pos].is_ascii_digit() || self.chars[self.pos] == '.')
            {
                self.pos += 1;
            }
            let text: String = self.chars[start..self.pos].iter().collect();
            let v: Value = serde_json::from_str(&text)
                .map_err(|_| err(col, format!("bad number {text:?}")))?;
            return Ok((Tok::Num(v), col));
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            while self.pos < self.chars.len()
                && (self.chars[self.pos].is_alphanumeric()
                    || self.chars[self.pos] == '_'
                    || self.chars[self.pos] == '$')
            {
                self.pos += 1;
            }
            return Ok((
                Tok::Ident(self.chars[start..self.pos].iter().collect()),
                col,
            ));
        }
        Err(err(col, format!("unexpected character {c:?}")))
    }
}

struct Parser<'r> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    roots: &'r [&'r str],
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn col(&self) -> usize {
        self.toks[self.i].1
    }
    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn eat(&mut self, op: &str) -> bool {
        if *self.peek()
            == Tok::Op(match op {
                "(" => "(",
                ")" => ")",
                "]" => "]",
                "," => ",",
                "." => ".",
                "&&" => "&&",
                "||" => "||",
                "!" => "!",
                "[" => "[",
                _ => return false,
            })
        {
            self.bump();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.unary()?;
        while self.eat("&&") {
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.eat("!") {
            self.depth += 1;
            if self.depth > 64 {
                return Err(err(self.col(), "rule nested too deeply"));
            }
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Expr, RuleError> {
        let l = self.primary()?;
        let op = match self.peek() {
            Tok::Op("==") => Some(CmpOp::Eq),
            Tok::Op("!=") => Some(CmpOp::Ne),
            Tok::Op("<") => Some(CmpOp::Lt),
            Tok::Op("<=") => Some(CmpOp::Le),
            Tok::Op(">") => Some(CmpOp::Gt),
            Tok::Op(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        let col = self.col();
        if let Some(op) = op {
            self.bump();
            let r = self.primary()?;
            self.check_not_two_doc_refs(&l, &r, col)?;
            return Ok(Expr::Cmp(op, Box::new(l), Box::new(r)));
        }
        if *self.peek() == Tok::Ident("in".into()) {
            self.bump();
            let r = self.primary()?;
            self.check_not_two_doc_refs(&l, &r, col)?;
            return Ok(Expr::In(Box::new(l), Box::new(r)));
        }
        Ok(l)
    }
    fn check_not_two_doc_refs(&self, l: &Expr, r: &Expr, col: usize) -> Result<(), RuleError> {
        let is_doc = |e: &Expr| matches!(e, Expr::Ref { root, .. } if root == "doc");
        if is_doc(l) && is_doc(r) {
            return Err(err(
                col,
                "comparing two document fields with each other is not supported",
            ));
        }
        Ok(())
    }
    fn primary(&mut self) -> Result<Expr, RuleError> {
        let (tok, col) = self.bump();
        match tok {
            Tok::Op("(") => {
                self.depth += 1;
                if self.depth > 64 {
                    return Err(err(col, "rule nested too deeply"));
                }
                let e = self.or()?;
                self.depth -= 1;
                if !self.eat(")") {
                    return Err(err(self.col(), "expected ')'"));
                }
                Ok(e)
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.primary()?);
                        if self.eat("]") {
                            break;
                        }
                        if !self.eat(",") {
                            return Err(err(self.col(), "expected ',' or ']'"));
                        }
                    }
                }
                Ok(Expr::List(items))
            }
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Num(n) => Ok(Expr::Lit(n)),
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                _ => {
                    if !self.roots.contains(&id.as_str()) {
                        return Err(err(
                            col,
                            format!(
                                "unknown name {id:?} (expected one of: {})",
                                self.roots.join(", ")
                            ),
                        ));
                    }
                    let mut path = Vec::new();
                    while self.eat(".") {
                        let (t, c) = self.bump();
                        match t {
                            Tok::Ident(s) => path.push(s),
                            Tok::Num(Value::Number(n)) if n.is_u64() => path.push(n.to_string()),
                            _ => return Err(err(c, "expected a field name after '.'")),
                        }
                    }
                    if id == "doc" {
                        if path.is_empty() {
                            return Err(err(col, "write doc.<field>"));
                        }
                        FieldPath::parse(&path.join(".")).map_err(|e| err(col, e.to_string()))?;
                    }
                    Ok(Expr::Ref { root: id, path })
                }
            },
            Tok::End => Err(err(col, "unexpected end of rule")),
            Tok::Op(op) => Err(err(col, format!("unexpected '{op}'"))),
        }
    }
}

/// Known values of the roots, for evaluating a rule.
#[derive(Debug, Clone, Default)]
pub struct RuleEnv {
    roots: Map<String, Value>,
}

impl RuleEnv {
    /// An empty environment (every root undefined).
    pub fn new() -> Self {
        RuleEnv::default()
    }
    /// Sets a root (`auth`, `now`, `request`, `resource`, …).
    pub fn with(mut self, root: &str, value: Value) -> Self {
        self.roots.insert(root.to_string(), value);
        self
    }
    /// Sets a root in place.
    pub fn set(&mut self, root: &str, value: Value) {
        self.roots.insert(root.to_string(), value);
    }
    fn lookup(&self, root: &str, path: &[String]) -> Option<Value> {
        let mut cur = self.roots.get(root)?;
        for seg in path {
            cur = match cur {
                Value::Object(m) => m.get(seg)?,
                Value::Array(a) => a.get(crate::path::array_index(seg)?)?,
                _ => return None,
            };
        }
        Some(cur.clone())
    }
}

/// A partially evaluated term.
enum Term {
    /// A known value (`None` = undefined).
    Const(Option<Value>),
    /// A field of the document.
    Doc(FieldPath),
    /// A condition.
    Cond(Filter),
}

fn bool_filter(b: bool) -> Filter {
    if b { Filter::True } else { Filter::False }
}

fn field(path: FieldPath, cond: Cond) -> Filter {
    let source = cond.to_json();
    Filter::Field(FieldCond { path, cond, source })
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn const_cmp(op: CmpOp, a: &Value, b: &Value) -> bool {
    match op {
        CmpOp::Eq => equal(Some(a), Some(b)),
        CmpOp::Ne => !equal(Some(a), Some(b)),
        _ => {
            if bracket_of(Some(a)) != bracket_of(Some(b)) {
                return false;
            }
            let o = compare(Some(a), Some(b));
            match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }
        }
    }
}

impl Rule {
    /// Parses a rule over `roots` (e.g. `["auth", "doc", "request", "now"]`); `doc` is the
    /// document root when listed.
    pub fn parse(source: &str, roots: &[&str]) -> Result<Rule, RuleError> {
        if source.len() > 4096 {
            return Err(err(1, "rule longer than 4096 characters"));
        }
        let mut lx = Lexer {
            chars: source.chars().collect(),
            pos: 0,
        };
        let mut toks = Vec::new();
        loop {
            let (t, c) = lx.next()?;
            let end = t == Tok::End;
            toks.push((t, c));
            if end {
                break;
            }
        }
        let mut p = Parser {
            toks,
            i: 0,
            roots,
            depth: 0,
        };
        let expr = p.or()?;
        if *p.peek() != Tok::End {
            return Err(err(p.col(), "unexpected text after the end of the rule"));
        }
        Ok(Rule {
            source: source.to_string(),
            expr,
            doc_root: roots.contains(&"doc").then(|| "doc".to_string()),
        })
    }

    /// The constant rule `true` or `false`.
    pub fn constant(b: bool) -> Rule {
        Rule {
            source: b.to_string(),
            expr: Expr::Lit(Value::Bool(b)),
            doc_root: None,
        }
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Folds the known roots of `env`: what remains is a filter on the document.
    pub fn to_filter(&self, env: &RuleEnv) -> Filter {
        match self.term(&self.expr, env) {
            Term::Cond(f) => f,
            Term::Const(v) => bool_filter(v == Some(Value::Bool(true))),
            Term::Doc(p) => field(p, Cond::Eq(Value::Bool(true))),
        }
    }

    /// Evaluates a rule that has no document root (e.g. storage rules) or on a document.
    pub fn allows(&self, env: &RuleEnv, doc: Option<&Value>) -> bool {
        let f = self.to_filter(env);
        match doc {
            Some(d) => f.matches(d),
            None => f.matches(&Value::Object(Map::new())),
        }
    }

    fn as_filter(&self, t: Term) -> Filter {
        match t {
            Term::Cond(f) => f,
            Term::Const(v) => bool_filter(v == Some(Value::Bool(true))),
            Term::Doc(p) => field(p, Cond::Eq(Value::Bool(true))),
        }
    }

    fn term(&self, e: &Expr, env: &RuleEnv) -> Term {
        match e {
            Expr::Lit(v) => Term::Const(Some(v.clone())),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match self.term(it, env) {
                        Term::Const(Some(v)) => out.push(v),
                        // Undefined or document values inside a list literal: the list is unusable.
                        _ => return Term::Const(None),
                    }
                }
                Term::Const(Some(Value::Array(out)))
            }
            Expr::Ref { root, path, .. } => {
                if self.doc_root.as_deref() == Some(root.as_str()) {
                    Term::Doc(FieldPath::from_segments(path.clone()))
                } else {
                    Term::Const(env.lookup(root, path))
                }
            }
            Expr::Not(inner) => {
                let f = self.as_filter(self.term(inner, env));
                Term::Cond(match f {
                    Filter::True => Filter::False,
                    Filter::False => Filter::True,
                    other => Filter::Nor(vec![other]),
                })
            }
            Expr::And(a, b) => {
                let fa = self.as_filter(self.term(a, env));
                if matches!(fa, Filter::False) {
                    return Term::Cond(Filter::False);
                }
                Term::Cond(fa.and(self.as_filter(self.term(b, env))))
            }
            Expr::Or(a, b) => {
                let fa = self.as_filter(self.term(a, env));
                if matches!(fa, Filter::True) {
                    return Term::Cond(Filter::True);
                }
                let fb = self.as_filter(self.term(b, env));
                Term::Cond(match (fa, fb) {
                    (Filter::False, x) | (x, Filter::False) => x,
                    (Filter::True, _) | (_, Filter::True) => Filter::True,
                    (x, y) => Filter::Or(vec![x, y]),
                })
            }
            Expr::Cmp(op, a, b) => Term::Cond(match (self.term(a, env), self.term(b, env)) {
                (Term::Const(None), _) | (_, Term::Const(None)) => Filter::False,
                (Term::Const(Some(x)), Term::Const(Some(y))) => bool_filter(const_cmp(*op, &x, &y)),
                (Term::Doc(p), Term::Const(Some(x))) => cmp_field(p, *op, x),
                (Term::Const(Some(x)), Term::Doc(p)) => cmp_field(p, flip(*op), x),
                // Conditions compared with values, or two document fields (refused at parse).
                _ => Filter::False,
            }),
            Expr::In(a, b) => Term::Cond(match (self.term(a, env), self.term(b, env)) {
                (Term::Const(None), _) | (_, Term::Const(None)) => Filter::False,
                (Term::Const(Some(x)), Term::Const(Some(Value::Array(list)))) => {
                    bool_filter(list.iter().any(|y| equal(Some(&x), Some(y))))
                }
                (Term::Const(Some(_)), Term::Const(Some(_))) => Filter::False,
                (Term::Doc(p), Term::Const(Some(Value::Array(list)))) => field(p, Cond::In(list)),
                (Term::Const(Some(x)), Term::Doc(p)) => field(p, Cond::Eq(x)),
                _ => Filter::False,
            }),
        }
    }
}

fn cmp_field(p: FieldPath, op: CmpOp, x: Value) -> Filter {
    if matches!(x, Value::Object(_)) && value::as_date(&x).is_none() {
        // Objects are compared whole by $eq; fine for ==/!=, meaningless for ranges.
    }
    field(
        p,
        match op {
            CmpOp::Eq => Cond::Eq(x),
            CmpOp::Ne => Cond::Ne(x),
            CmpOp::Lt => Cond::Lt(x),
            CmpOp::Le => Cond::Lte(x),
            CmpOp::Gt => Cond::Gt(x),
            CmpOp::Ge => Cond::Gte(x),
        },
    )
}

/// The roots of document rules.
pub const DOC_ROOTS: &[&str] = &["auth", "doc", "request", "now"];

/// Parses a config rule value (`true`, `false` or an expression) for `key` (e.g.
/// `collections.todos.read`), naming the key in the error.
pub fn parse_config_rule(
    key: &str,
    src: &config::RuleSource,
    roots: &[&str],
) -> Result<Rule, DbError> {
    match src {
        config::RuleSource::Bool(b) => Ok(Rule::constant(*b)),
        config::RuleSource::Expr(s) => match s.trim() {
            "true" => Ok(Rule::constant(true)),
            "false" => Ok(Rule::constant(false)),
            _ => Rule::parse(s, roots).map_err(|e| DbError::invalid(format!("{key}: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(openid: Option<&str>) -> RuleEnv {
        let mut e = RuleEnv::new().with("now", json!(1000));
        if let Some(o) = openid {
            e.set("auth", json!({"openid": o, "uid": "u1"}));
        }
        e
    }

    #[test]
    fn owner_rule() {
        let r = Rule::parse("doc._openid == auth.openid", DOC_ROOTS).unwrap();
        let mine = json!({"_openid": "a"});
        let theirs = json!({"_openid": "b"});
        assert!(r.allows(&env(Some("a")), Some(&mine)));
        assert!(!r.allows(&env(Some("a")), Some(&theirs)));
        assert!(!r.allows(&env(None), Some(&json!({}))));
        assert!(!r.allows(&env(None), Some(&mine)));
        let f = r.to_filter(&env(Some("a")));
        assert_eq!(f.to_json(), json!({"_openid": {"$eq": "a"}}));
    }

    #[test]
    fn operators_and_constants() {
        let r = Rule::parse(
            "(doc.public == true || doc._openid == auth.openid) && !(doc.banned) && doc.n >= 3 && 'x' in doc.tags && doc.kind in ['a', 'b'] && now > 10",
            DOC_ROOTS,
        )
        .unwrap();
        let d = json!({"public": true, "n": 3, "tags": ["x"], "kind": "a", "_openid": "z"});
        assert!(r.allows(&env(Some("a")), Some(&d)));
        let mut d2 = d.clone();
        d2["banned"] = json!(true);
        assert!(!r.allows(&env(Some("a")), Some(&d2)));
        let mut d3 = d.clone();
        d3["n"] = json!("9");
        assert!(!r.allows(&env(Some("a")), Some(&d3)));
        let w = Rule::parse("request.data.title != null && auth.uid == 'u1'", DOC_ROOTS).unwrap();
        let e = env(Some("a")).with("request", json!({"data": {"title": "t"}}));
        assert!(w.allows(&e, None));
        assert!(!w.allows(&env(Some("a")).with("request", json!({"data": {}})), None));
    }

    #[test]
    fn errors_have_columns() {
        let e = Rule::parse("doc._openid == auth.openid &&", DOC_ROOTS).unwrap_err();
        assert_eq!(e.column, 30);
        let e = Rule::parse("doc.a = 1", DOC_ROOTS).unwrap_err();
        assert_eq!(e.column, 7);
        let e = Rule::parse("user.id == 1", DOC_ROOTS).unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown name"));
        let e = Rule::parse("doc.a == doc.b", DOC_ROOTS).unwrap_err();
        assert_eq!(e.column, 7);
        assert!(
            Rule::parse(
                "resource.openid == auth.openid",
                &["auth", "resource", "now"]
            )
            .is_ok()
        );
        assert!(Rule::parse("'unterminated", DOC_ROOTS).is_err());
        let cfg = parse_config_rule(
            "collections.todos.read",
            &config::RuleSource::Expr("doc.a ==".into()),
            DOC_ROOTS,
        )
        .unwrap_err();
        assert!(
            cfg.to_string().contains("collections.todos.read: "),
            "{cfg}"
        );
    }

    #[test]
    fn storage_style_roots() {
        let r = Rule::parse(
            "resource.openid == auth.openid || resource.path == 'public/x'",
            &["auth", "resource", "now"],
        )
        .unwrap();
        let e = RuleEnv::new()
            .with("auth", json!({"openid": "a"}))
            .with("resource", json!({"openid": "a", "path": "p"}));
        assert!(r.allows(&e, None));
        let e = RuleEnv::new().with("resource", json!({"openid": "a", "path": "public/x"}));
        assert!(r.allows(&e, None));
        let e = RuleEnv::new().with("resource", json!({"openid": "a", "path": "p"}));
        assert!(!r.allows(&e, None));
    }
}
