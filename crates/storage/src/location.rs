//! `storage.url`: which backend, and where.
//!
//! - `file://dir` — local disk (relative paths are relative to the config file; the default is
//!   `file://<data_dir>/storage`).
//! - `s3://bucket?endpoint=https://host[:port]&region=…&path_style=true|false&prefix=dir/&part_size=16MiB`
//!   — any S3-compatible store. `region` defaults to `us-east-1`; `endpoint` to AWS's
//!   `https://s3.<region>.amazonaws.com`; `path_style` to `true` when the endpoint is an IP
//!   address or `localhost` (virtual-host style cannot work there), `false` otherwise.
//!   Credentials are not part of the URL (URLs get logged): see `storage.access_key_id`.

use crate::error::StorageError;
use std::path::PathBuf;

/// A parsed `storage.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Local disk under this directory.
    Local(PathBuf),
    /// An S3 bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Service endpoint, without the bucket.
        endpoint: url::Url,
        /// Signing region.
        region: String,
        /// Path-style addressing.
        path_style: bool,
        /// Key prefix inside the bucket (empty or ending with `/`).
        prefix: String,
        /// Multipart part size, when given.
        part_size: Option<u64>,
    },
}

fn bad(m: impl Into<String>) -> StorageError {
    StorageError::Config(format!("storage.url: {}", m.into()))
}

impl Location {
    /// Parses a storage URL.
    pub fn parse(s: &str) -> Result<Location, StorageError> {
        if let Some(rest) = s.strip_prefix("file://") {
            if rest.is_empty() || rest.contains('?') {
                return Err(bad(
                    "file:// needs a directory and takes no parameters (file:///var/lib/minibase/storage)",
                ));
            }
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        let Some(rest) = s.strip_prefix("s3://") else {
            return Err(bad("must start with file:// or s3://"));
        };
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        let bucket = bucket.trim_end_matches('/');
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(bad(format!(
                "{bucket:?} is not a bucket name (3-63 lowercase letters, digits, '-', '.')"
            )));
        }
        let mut endpoint = None;
        let mut region = None;
        let mut path_style = None;
        let mut prefix = String::new();
        let mut part_size = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "endpoint" => endpoint = Some(v.into_owned()),
                "region" => region = Some(v.into_owned()),
                "path_style" => {
                    path_style = Some(match v.as_ref() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("path_style must be true or false")),
                    })
                }
                "prefix" => prefix = v.into_owned(),
                "part_size" => {
                    let n = config::units::ByteSize::parse(&v)
                        .map_err(|_| bad(format!("part_size {v:?} is not a size")))?;
                    if n.bytes() < 5 * 1024 * 1024 || n.bytes() > 5 * 1024 * 1024 * 1024 {
                        return Err(bad("part_size must be between 5MiB and 5GiB"));
                    }
                    part_size = Some(n.bytes());
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?} (endpoint, region, path_style, prefix, part_size)"
                    )));
                }
            }
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("region must be like us-east-1 or ap-guangzhou"));
        }
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint =
            url::Url::parse(&endpoint).map_err(|e| bad(format!("endpoint {endpoint:?}: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(bad("endpoint must be http(s)://host[:port]"));
        }
        if endpoint.path() != "/" || endpoint.query().is_some() || !endpoint.username().is_empty() {
            return Err(bad(
                "endpoint must be just http(s)://host[:port], without path, query or credentials",
            ));
        }
        let ip_or_local = matches!(
            endpoint.host(),
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
        ) || endpoint.host_str() == Some("localhost");
        let path_style = path_style.unwrap_or(ip_or_local);
        if !path_style && bucket.contains('.') && endpoint.scheme() == "https" {
            return Err(bad(
                "a bucket name with '.' needs path_style=true over https (certificates do not cover it)",
            ));
        }
        if !prefix.is_empty() {
            if prefix.starts_with('/') || prefix.contains("..") || prefix.contains("//") {
                return Err(bad("prefix must be like \"app1/\""));
            }
            if !prefix.ends_with('/') {
                prefix.push('/');
            }
        }
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            endpoint,
            region,
            path_style,
            prefix,
            part_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            Location::parse("file:///var/x").unwrap(),
            Location::Local("/var/x".into())
        );
        let Location::S3 {
            bucket,
            endpoint,
            region,
            path_style,
            prefix,
            part_size,
        } = Location::parse("s3://media?endpoint=http://127.0.0.1:9000&region=cn-1&prefix=app")
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (
                bucket.as_str(),
                region.as_str(),
                path_style,
                prefix.as_str(),
                part_size
            ),
            ("media", "cn-1", true, "app/", None)
        );
        assert_eq!(endpoint.as_str(), "http://127.0.0.1:9000/");
        let Location::S3 { endpoint, path_style, .. } =
            Location::parse("s3://photos-1250000000?endpoint=https://cos.ap-guangzhou.myqcloud.com&region=ap-guangzhou").unwrap()
        else {
            panic!()
        };
        assert!(!path_style);
        assert_eq!(endpoint.host_str(), Some("cos.ap-guangzhou.myqcloud.com"));
        let Location::S3 {
            endpoint,
            part_size,
            ..
        } = Location::parse("s3://b-1?region=eu-west-1&part_size=16MiB").unwrap()
        else {
            panic!()
        };
        assert_eq!(endpoint.as_str(), "https://s3.eu-west-1.amazonaws.com/");
        assert_eq!(part_size, Some(16 * 1024 * 1024));
    }

    #[test]
    fn refuses() {
        for u in [
            "http://x",
            "file://",
            "s3://",
            "s3://UPPER",
            "s3://ok-bucket?endpoint=ftp://x",
            "s3://ok-bucket?endpoint=http://x/path",
            "s3://ok-bucket?endpoint=http://u:p@x",
            "s3://ok-bucket?access_key=x",
            "s3://ok-bucket?path_style=maybe",
            "s3://ok-bucket?part_size=1MiB",
            "s3://ok-bucket?prefix=/abs",
            "s3://a.b.c?endpoint=https://s3.example.com",
        ] {
            assert!(Location::parse(u).is_err(), "{u}");
        }
    }
}
