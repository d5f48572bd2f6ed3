//! Human units in configuration: durations like `2h`, `30d`, `1h30m`, `500ms` and sizes like
//! `1MiB`, `50MiB`, `512KiB`, `10MB`, `1048576`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written as `<n><unit>` pairs: `ms`, `s`, `m`, `h`, `d` (e.g. `1h30m`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `2h`, `30d`, `1h30m`, `250ms`, `0`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "0" {
            return Ok(HumanDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err("empty duration; write e.g. \"30s\", \"2h\" or \"30d\"".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!(
                    "invalid duration {s:?}; write e.g. \"30s\", \"2h\" or \"30d\""
                ));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("invalid number in duration {s:?}"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let d = match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
                "h" => Duration::from_secs(n.saturating_mul(3600)),
                "d" => Duration::from_secs(n.saturating_mul(86400)),
                "" => {
                    return Err(format!(
                        "duration {s:?} has no unit; write e.g. \"{n}s\" (units: ms, s, m, h, d)"
                    ));
                }
                other => {
                    return Err(format!(
                        "unknown unit {other:?} in duration {s:?} (units: ms, s, m, h, d)"
                    ));
                }
            };
            total = total.saturating_add(d);
        }
        Ok(HumanDuration(total))
    }
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let ms = d.as_millis();
        if ms == 0 {
            f.write_str("0")
        } else if ms % 86_400_000 == 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(i64),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a duration string like \"30s\", \"2h\" or \"30d\"")
        })? {
            Raw::S(s) => HumanDuration::parse(&s).map_err(serde::de::Error::custom),
            Raw::N(0) => Ok(HumanDuration(Duration::ZERO)),
            Raw::N(n) => Err(serde::de::Error::custom(format!(
                "duration {n} has no unit; write e.g. \"{n}s\" (units: ms, s, m, h, d)"
            ))),
        }
    }
}

/// A size in bytes, written `1048576`, `512KiB`, `1MiB`, `50MiB`, `1GiB`, `10MB` (SI), `1m`
/// (nginx style, 1024-based).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a size; see the type docs.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if digits == 0 {
            return Err(format!(
                "invalid size {s:?}; write e.g. \"1MiB\" or \"512KiB\""
            ));
        }
        let n: u64 = t[..digits]
            .parse()
            .map_err(|_| format!("invalid size {s:?}"))?;
        let mult: u64 = match t[digits..].trim() {
            "" | "B" | "b" => 1,
            "KiB" | "k" | "K" | "kb" => 1 << 10,
            "MiB" | "m" | "M" | "mb" => 1 << 20,
            "GiB" | "g" | "G" | "gb" => 1 << 30,
            "KB" => 1000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit {other:?} in size {s:?} (units: B, KiB, MiB, GiB, KB, MB, GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
    /// Bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
    /// Bytes as usize (saturating).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b != 0 && b % (1 << 30) == 0 {
            write!(f, "{}GiB", b >> 30)
        } else if b != 0 && b % (1 << 20) == 0 {
            write!(f, "{}MiB", b >> 20)
        } else if b != 0 && b % (1 << 10) == 0 {
            write!(f, "{}KiB", b >> 10)
        } else {
            write!(f, "{b}")
        }
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(u64),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a size like \"1MiB\" or a number of bytes")
        })? {
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
            Raw::N(n) => Ok(ByteSize(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("2h").unwrap().get(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            HumanDuration::parse("30d").unwrap().get(),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(
            HumanDuration::parse("1h30m").unwrap().get(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().get(),
            Duration::from_millis(250)
        );
        assert!(HumanDuration::parse("2").is_err());
        assert!(HumanDuration::parse("2x").is_err());
        assert!(HumanDuration::parse("h").is_err());
        assert_eq!(HumanDuration::parse("90m").unwrap().to_string(), "90m");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("1MiB").unwrap().bytes(), 1 << 20);
        assert_eq!(ByteSize::parse("50MiB").unwrap().bytes(), 50 << 20);
        assert_eq!(ByteSize::parse("10MB").unwrap().bytes(), 10_000_000);
        assert_eq!(ByteSize::parse("1024").unwrap().bytes(), 1024);
        assert!(ByteSize::parse("1XB").is_err());
        assert!(ByteSize::parse("").is_err());
        assert_eq!(ByteSize(256 << 10).to_string(), "256KiB");
    }
}
