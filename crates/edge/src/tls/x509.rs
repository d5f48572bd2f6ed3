//! What we need to know about an X.509 certificate (names, validity, issuer, key), parsed once
//! with x509-parser. Shared by certificate loading, the self-signed CA and `doctor`.

use std::net::IpAddr;
use x509_parser::prelude::*;

/// The facts of one certificate.
#[derive(Debug, Clone)]
pub struct CertFacts {
    /// Subject common name (or the whole subject when it has no CN).
    pub subject_cn: String,
    /// Issuer common name (or the whole issuer).
    pub issuer_cn: String,
    /// DER of the subject name, to link a certificate to its issuer.
    pub subject_raw: Vec<u8>,
    /// DER of the issuer name.
    pub issuer_raw: Vec<u8>,
    /// Seconds since the epoch.
    pub not_before: i64,
    /// Seconds since the epoch.
    pub not_after: i64,
    /// SAN DNS names, lower case.
    pub dns_names: Vec<String>,
    /// SAN IP addresses.
    pub ip_addrs: Vec<IpAddr>,
    /// DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// `RSA`, `ECDSA P-256`, … for messages.
    pub key_kind: String,
    /// Serial number, hex.
    pub serial: String,
}

impl CertFacts {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<CertFacts, String> {
        let (_, cert) = parse_x509_certificate(der)
            .map_err(|e| format!("not a valid X.509 certificate ({e})"))?;
        let cn = |name: &X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_string)
                .unwrap_or_else(|| name.to_string())
        };
        let mut dns_names = Vec::new();
        let mut ip_addrs = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => {
                        dns_names.push(d.trim_end_matches('.').to_ascii_lowercase())
                    }
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            ip_addrs.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            ip_addrs.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
        }
        let pk = cert.public_key();
        let key_kind = match pk.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
            Ok(x509_parser::public_key::PublicKey::EC(ec)) => format!("ECDSA {}", ec.key_size()),
            _ => pk.algorithm.algorithm.to_id_string(),
        };
        Ok(CertFacts {
            subject_cn: cn(cert.subject()),
            issuer_cn: cn(cert.issuer()),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            dns_names,
            ip_addrs,
            spki: pk.raw.to_vec(),
            is_ca: cert.is_ca(),
            key_kind,
            serial: cert.raw_serial_as_string().replace(':', ""),
        })
    }

    /// Whether subject and issuer are the same name (a root or a self-signed certificate).
    pub fn self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `host` (lower case, no trailing dot) is covered by a SAN (one-label wildcards).
    pub fn covers(&self, host: &str) -> bool {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.ip_addrs.contains(&ip);
        }
        self.dns_names.iter().any(|n| name_matches(n, host))
    }
}

/// Whether a certificate name (`api.example.com` or `*.example.com`) matches `host`.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .strip_suffix(parent)
            .and_then(|l| l.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == host,
    }
}

/// A UTC date for messages: `2026-01-31 08:00:00 UTC`.
pub fn format_time(unix: i64) -> String {
    match ::time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    ::time::OffsetDateTime::now_utc().unix_timestamp()
}
