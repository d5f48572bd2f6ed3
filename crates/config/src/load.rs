//! Reading the configuration from its three sources, in increasing priority:
//! the TOML file, the `.env` file beside it, and the process environment
//! (`MINIBASE_<SECTION>__<KEY>`). The result is one TOML table, deserialised into the model
//! with the failing key's path in every error.

use crate::ConfigError;
use crate::keys::{self, KeyKind};
use crate::model::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where configuration comes from. Tests build this by hand instead of touching the process
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file, if any.
    pub file: Option<PathBuf>,
    /// Environment variables (process environment merged over `.env`).
    pub env: BTreeMap<String, String>,
}

impl Sources {
    /// The real sources: `file` (or `./minibase.toml` when it exists), the `.env` beside it
    /// (or in the current directory), and the process environment.
    pub fn from_process(file: Option<PathBuf>) -> Result<Sources, ConfigError> {
        let file = match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError::File {
                        path: f.clone(),
                        message: "no such file (create one with `minibase init`)".into(),
                    });
                }
                Some(f)
            }
            None => {
                let default = PathBuf::from("minibase.toml");
                default.exists().then_some(default)
            }
        };
        let dir = file
            .as_ref()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut env = BTreeMap::new();
        let dotenv = dir.join(".env");
        if dotenv.exists() {
            let text = std::fs::read_to_string(&dotenv).map_err(|e| ConfigError::File {
                path: dotenv.clone(),
                message: e.to_string(),
            })?;
            env = parse_dotenv(&text).map_err(|message| ConfigError::File {
                path: dotenv,
                message,
            })?;
        }
        for (k, v) in std::env::vars() {
            if k.starts_with("MINIBASE_") {
                env.insert(k, v);
            }
        }
        Ok(Sources { file, env })
    }
}

/// Parses a `.env` file: `KEY=value`, `export KEY=value`, `#` comments, single or double
/// quotes.
pub fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=value", n + 1));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("line {}: invalid variable name {k:?}", n + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // Unquoted: a trailing ` # comment` is not part of the value.
            v.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

/// `MINIBASE_TLS__ACME__EMAIL` → `tls.acme.email`; `None` for variables without `__`
/// (they are not configuration keys, e.g. `MINIBASE_CONFIG`). Names chosen by the user keep
/// their case: the variable in `MINIBASE_FUNCTIONS__ENV__SMS_KEY` (`functions.env.SMS_KEY`),
/// the function and variable in `MINIBASE_FUNCTIONS__sendSms__ENV__SMS_KEY`.
pub fn env_to_path(var: &str) -> Option<String> {
    let rest = var.strip_prefix("MINIBASE_")?;
    if !rest.contains("__") {
        return None;
    }
    let raw: Vec<&str> = rest.split("__").collect();
    let mut parts: Vec<String> = raw.iter().map(|p| p.to_ascii_lowercase()).collect();
    if parts[0] == "functions" {
        if parts.len() == 3 && parts[1] == "env" {
            parts[2] = raw[2].to_string();
        } else if parts.len() == 4 && parts[2] == "env" {
            parts[1] = raw[1].to_string();
            parts[3] = raw[3].to_string();
        }
    }
    Some(parts.join("."))
}

fn env_value(var: &str, path: &str, kind: KeyKind, raw: &str) -> Result<toml::Value, ConfigError> {
    let bad = |what: &str| ConfigError::Key {
        key: path.to_string(),
        message: format!("{what} (from {var})"),
    };
    Ok(match kind {
        KeyKind::Str => toml::Value::String(raw.to_string()),
        KeyKind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" | "" => toml::Value::Boolean(false),
            _ => return Err(bad("expected true or false")),
        },
        KeyKind::Int => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("expected an integer"))?)
        }
        KeyKind::List => {
            let t = raw.trim();
            if t.starts_with('[') {
                parse_toml_value(t).map_err(|e| bad(&format!("invalid TOML array: {e}")))?
            } else {
                toml::Value::Array(
                    t.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect(),
                )
            }
        }
        KeyKind::Toml => {
            let t = raw.trim();
            match parse_toml_value(t) {
                Ok(v) => v,
                // A bare rule expression such as doc._openid == auth.openid.
                Err(_) => toml::Value::String(t.to_string()),
            }
        }
    })
}

fn parse_toml_value(s: &str) -> Result<toml::Value, String> {
    let doc: toml::Table =
        toml::from_str(&format!("v = {s}")).map_err(|e| e.message().to_string())?;
    doc.get("v").cloned().ok_or_else(|| "no value".to_string())
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), ConfigError> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = table;
    for part in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Key {
                    key: path.to_string(),
                    message: format!("`{part}` is not a table in the config file"),
                });
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Merges the sources into one TOML table.
pub fn merged_table(sources: &Sources) -> Result<toml::Table, ConfigError> {
    let mut table = match &sources.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: format!("invalid TOML: {}", e.to_string().trim()),
            })?
        }
        None => toml::Table::new(),
    };
    for (var, raw) in &sources.env {
        let Some(path) = env_to_path(var) else {
            continue;
        };
        let Some(spec) = keys::find(&path) else {
            return Err(ConfigError::Key {
                key: path.clone(),
                message: format!("unknown key (from environment variable {var})"),
            });
        };
        let value = env_value(var, &path, spec.kind, raw)?;
        set_path(&mut table, &path, value)?;
    }
    Ok(table)
}

/// Deserialises a merged table into the model, naming the failing key.
pub fn deserialize(table: toml::Table) -> Result<Config, ConfigError> {
    let value = toml::Value::Table(table);
    serde_path_to_error::deserialize::<_, Config>(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        let message = if inner.starts_with("unknown field") {
            format!("unknown key; {inner}")
        } else {
            inner
        };
        ConfigError::Key {
            key: if path == "." { String::new() } else { path },
            message,
        }
    })
}

/// Where each value set by the operator comes from (see [`crate::Config::origins`]): every
/// leaf of the file's table, then every environment override (which wins).
pub fn origins(sources: &Sources) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, from: &str, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&path, inner, from, out),
                _ => {
                    out.insert(path, from.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(path) = &sources.file {
        if let Ok(table) = std::fs::read_to_string(path)
            .map_err(|_| ())
            .and_then(|t| toml::from_str::<toml::Table>(&t).map_err(|_| ()))
        {
            walk("", &table, &format!("file {}", path.display()), &mut out);
        }
    }
    for var in sources.env.keys() {
        if let Some(path) = env_to_path(var) {
            out.insert(path, format!("env {var}"));
        }
    }
    out
}
