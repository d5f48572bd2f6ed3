//! A function's folder and its `config.json`, as CloudBase writes them:
//!
//! ```json
//! { "timeout": 10, "memorySize": 128, "envVariables": { "KEY": "v" },
//!   "triggers": [{ "name": "nightly", "type": "timer", "config": "0 0 2 * * * *" }] }
//! ```
//!
//! `runtime` picks the engine: `"quickjs"`, or `"node"` and CloudBase's `"Nodejs18.15"` (any
//! `Nodejs…`) for the Node.js runtime; without it the function runs on `[functions] runtime`.
//! Keys CloudBase uses that mean nothing here (`handler`, `installDependency`, `permissions`)
//! are accepted and ignored, so a folder copied from a CloudBase project works.
//! Timer expressions have CloudBase's 7 fields (second minute hour day month weekday year, with
//! weekdays 0–6 from Sunday) and are translated for the `cron` crate (weekdays 1–7).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// Longest `timeout` a `config.json` may ask for (CloudBase's limit).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(900);
/// Bounds of a `config.json` `memorySize`.
pub const MEMORY_BOUNDS_MIB: (u64, u64) = (16, 2048);

/// Whether `name` is a valid function name: an ASCII letter or digit, then letters, digits,
/// `-` or `_`, at most 64 in all. Anything else (dots, slashes, `..`) never names a folder.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// The engine a function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The embedded QuickJS engine (in-process, sandboxed).
    QuickJs,
    /// A pool of Node.js worker processes (trusted code).
    Node,
}

impl Runtime {
    /// `quickjs`, `node`, or CloudBase's `Nodejs18.15` & co.; the error names what is accepted.
    pub fn parse(s: &str) -> Result<Runtime, String> {
        let l = s.trim().to_ascii_lowercase();
        if l == "quickjs" {
            Ok(Runtime::QuickJs)
        } else if l == "node" || l.starts_with("nodejs") {
            Ok(Runtime::Node)
        } else {
            Err(format!(
                "runtime {s:?} is not supported: Minibase runs JavaScript, \"quickjs\" or \"node\" (CloudBase's \"Nodejs18.15\" and friends mean node)"
            ))
        }
    }

    /// `quickjs` or `node`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::QuickJs => "quickjs",
            Runtime::Node => "node",
        }
    }
}

/// A function's settings, from `config.json` over the `[functions]` defaults.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The engine `config.json` asks for (`None`: the `[functions] runtime` default).
    pub runtime: Option<Runtime>,
    /// How long one invocation may run.
    pub timeout: Duration,
    /// The instance's memory limit in bytes.
    pub memory_limit: usize,
    /// `process.env` inside the function (`envVariables`).
    pub env: BTreeMap<String, String>,
    /// Timer triggers.
    pub timers: Vec<TimerTrigger>,
}

/// One `{"type": "timer"}` trigger.
#[derive(Debug, Clone)]
pub struct TimerTrigger {
    /// The trigger's `name` (`TriggerName` in the event).
    pub name: String,
    /// The expression as written.
    pub expr: String,
    /// The parsed schedule.
    pub schedule: cron::Schedule,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    runtime: Option<String>,
    timeout: Option<f64>,
    memory_size: Option<u64>,
    #[serde(default)]
    env_variables: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    triggers: Vec<RawTrigger>,
}

#[derive(Deserialize)]
struct RawTrigger {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    config: String,
}

impl FunctionSpec {
    /// The spec of a function without `config.json`.
    pub fn defaults(timeout: Duration, memory_limit: usize) -> Self {
        FunctionSpec {
            runtime: None,
            timeout,
            memory_limit,
            env: BTreeMap::new(),
            timers: Vec::new(),
        }
    }

    /// Parses `config.json` text over the defaults. The message says which key is wrong.
    pub fn parse(text: &str, defaults: &FunctionSpec) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| format!("config.json: {e}"))?;
        let mut spec = defaults.clone();
        if let Some(r) = &raw.runtime {
            spec.runtime = Some(Runtime::parse(r).map_err(|e| format!("config.json: {e}"))?);
        }
        if let Some(t) = raw.timeout {
            if !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT.as_secs_f64()) {
                return Err(format!(
                    "config.json: timeout must be a number of seconds from 1 to {}",
                    MAX_TIMEOUT.as_secs()
                ));
            }
            spec.timeout = Duration::from_secs_f64(t);
        }
        if let Some(m) = raw.memory_size {
            let (lo, hi) = MEMORY_BOUNDS_MIB;
            if !(lo..=hi).contains(&m) {
                return Err(format!(
                    "config.json: memorySize must be from {lo} to {hi} (MB)"
                ));
            }
            spec.memory_limit = (m as usize) << 20;
        }
        for (k, v) in raw.env_variables {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            spec.env.insert(k, value);
        }
        let mut seen = std::collections::HashSet::new();
        for t in raw.triggers {
            if t.kind != "timer" {
                return Err(format!(
                    "config.json: trigger '{}' has type '{}'; only \"timer\" is supported",
                    t.name, t.kind
                ));
            }
            if t.name.is_empty() || !seen.insert(t.name.clone()) {
                return Err(format!(
                    "config.json: trigger names must be unique and non-empty ('{}')",
                    t.name
                ));
            }
            let schedule = parse_cron(&t.config)
                .map_err(|e| format!("config.json: trigger '{}': {e}", t.name))?;
            spec.timers.push(TimerTrigger {
                name: t.name,
                expr: t.config,
                schedule,
            });
        }
        Ok(spec)
    }
}

/// Parses a CloudBase 7-field cron expression (`sec min hour day month weekday year`).
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 7 {
        return Err(format!(
            "'{expr}' must have 7 fields: second minute hour day month weekday year"
        ));
    }
    let mut out: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    out[5] = translate_weekdays(fields[5])?;
    cron::Schedule::from_str(&out.join(" ")).map_err(|e| format!("'{expr}': {e}"))
}

/// CloudBase weekdays are 0–6 from Sunday; the `cron` crate's are 1–7 from Sunday. Names
/// (`MON`) pass through; step sizes (`*/2`) are not days and stay as they are.
fn translate_weekdays(field: &str) -> Result<String, String> {
    let day = |s: &str| -> Result<String, String> {
        if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            let n: u32 = s.parse().map_err(|_| format!("bad weekday '{s}'"))?;
            if n > 6 {
                return Err(format!("weekday {n} is out of range 0-6 (0 is Sunday)"));
            }
            Ok((n + 1).to_string())
        } else {
            Ok(s.to_string())
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = match range.split_once('-') {
            Some((a, b)) => format!("{}-{}", day(a)?, day(b)?),
            None => day(range)?,
        };
        items.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike};

    #[test]
    fn names() {
        for ok in ["a", "todo", "get-user_info", "A1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "a.b",
            "-a",
            "_a",
            "a b",
            &"x".repeat(65),
            "é",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn config_json() {
        let d = FunctionSpec::defaults(Duration::from_secs(3), 64 << 20);
        let s = FunctionSpec::parse(
            r#"{"timeout": 20, "memorySize": 128, "runtime": "Nodejs16.13", "envVariables": {"A": "x", "N": 3},
                "triggers": [{"name": "t", "type": "timer", "config": "0 0 2 * * * *"}]}"#,
            &d,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(20));
        assert_eq!(s.memory_limit, 128 << 20);
        assert_eq!(s.env["A"], "x");
        assert_eq!(s.env["N"], "3");
        assert_eq!(s.timers[0].name, "t");
        assert_eq!(s.runtime, Some(Runtime::Node));
        assert_eq!(
            FunctionSpec::parse(r#"{"runtime": "quickjs"}"#, &d)
                .unwrap()
                .runtime,
            Some(Runtime::QuickJs)
        );
        assert_eq!(FunctionSpec::parse("{}", &d).unwrap().runtime, None);
        assert!(
            FunctionSpec::parse(r#"{"runtime": "Python3.9"}"#, &d)
                .unwrap_err()
                .contains("Python3.9")
        );
        assert!(
            FunctionSpec::parse(r#"{"timeout": 0}"#, &d)
                .unwrap_err()
                .contains("timeout")
        );
        assert!(FunctionSpec::parse(r#"{"timeout": "x"}"#, &d).is_err());
        assert!(FunctionSpec::parse("{", &d).is_err());
        assert!(
            FunctionSpec::parse(
                r#"{"triggers": [{"name": "t", "type": "timer", "config": "0 0 2 * * *"}]}"#,
                &d
            )
            .unwrap_err()
            .contains("7 fields")
        );
        assert!(
            FunctionSpec::parse(
                r#"{"triggers": [{"name": "t", "type": "cos", "config": "x"}]}"#,
                &d
            )
            .is_err()
        );
    }

    #[test]
    fn cron_weekdays_are_cloudbase_style() {
        // Every Monday (1) at 02:00:00.
        let s = parse_cron("0 0 2 * * 1 *").unwrap();
        let start = chrono::Utc.with_ymd_and_hms(2024, 1, 3, 0, 0, 0).unwrap(); // a Wednesday
        let next = s.after(&start).next().unwrap();
        assert_eq!(next.weekday(), chrono::Weekday::Mon);
        assert_eq!(next.hour(), 2);
        // Sunday is 0.
        let sun = parse_cron("0 0 0 * * 0 *")
            .unwrap()
            .after(&start)
            .next()
            .unwrap();
        assert_eq!(sun.weekday(), chrono::Weekday::Sun);
        // Ranges and steps.
        let wk = parse_cron("0 0 9 * * 1-5 *").unwrap();
        let days: Vec<_> = wk.after(&start).take(5).map(|d| d.weekday()).collect();
        assert!(!days.contains(&chrono::Weekday::Sat) && !days.contains(&chrono::Weekday::Sun));
        assert!(parse_cron("0 0 9 * * 7 *").is_err());
        assert!(parse_cron("*/5 * * * * * *").is_ok());
        assert!(parse_cron("0 0 9 * * MON *").is_ok());
    }
}
