//! `cloudPath` validation (API.md §5) and the `mb://` file ids built from it.
//!
//! A cloud path is the developer-chosen name of a file, such as `avatars/oA1b2c/head.jpg`. It
//! is refused when it:
//! - is empty, longer than [`MAX_PATH_BYTES`] bytes (UTF-8), or has a segment longer than
//!   [`MAX_SEGMENT_BYTES`] (file systems refuse longer names);
//! - starts or ends with `/`, or contains `//` (an empty segment);
//! - contains `..` anywhere, or a segment that is `.`;
//! - contains a backslash, a control character (C0, DEL, C1), an invisible format character
//!   (zero-width and bidirectional overrides, which make names lie about themselves), or one
//!   of `` ` ^ " { } [ ] ~ % # ? < > | `` — the characters CloudBase also advises against,
//!   and `?`/`#`/`%` which would break temporary URLs;
//! - starts with `.minibase/`, the prefix Minibase keeps for its own temporary objects.
//!
//! Letters of any script (中文 file names), digits, spaces and `- _ . ! * ' ( ) + , ; = @ & $ :`
//! are allowed.

use crate::error::StorageError;
use std::fmt;

/// The longest cloud path, in bytes of UTF-8 (CloudBase's limit is 850).
pub const MAX_PATH_BYTES: usize = 850;
/// The longest segment between slashes, in bytes of UTF-8 (file systems allow 255).
pub const MAX_SEGMENT_BYTES: usize = 255;
/// First segment reserved for Minibase's own temporary objects.
pub const RESERVED_PREFIX: &str = ".minibase";
/// The scheme of file ids.
pub const FILE_ID_SCHEME: &str = "mb://";

const FORBIDDEN: &[char] = &[
    '\\', '`', '^', '"', '{', '}', '[', ']', '~', '%', '#', '?', '<', '>', '|',
];

fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A validated cloud path. Constructed only through [`CloudPath::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloudPath(String);

impl CloudPath {
    /// Validates a cloud path (see the module docs for the rules).
    pub fn parse(s: &str) -> Result<CloudPath, StorageError> {
        let bad = |m: &str| Err(StorageError::InvalidPath(m.to_string()));
        if s.is_empty() {
            return bad("must not be empty");
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(StorageError::InvalidPath(format!(
                "longer than {MAX_PATH_BYTES} bytes"
            )));
        }
        if s.starts_with('/') {
            return bad("must not start with '/'");
        }
        if s.ends_with('/') {
            return bad("must not end with '/'");
        }
        if s.contains("..") {
            return bad("must not contain '..'");
        }
        if let Some(c) = s.chars().find(|c| c.is_control() || invisible(*c)) {
            return Err(StorageError::InvalidPath(format!(
                "must not contain control or invisible characters (U+{:04X})",
                c as u32
            )));
        }
        if let Some(c) = s.chars().find(|c| FORBIDDEN.contains(c)) {
            return Err(StorageError::InvalidPath(format!("must not contain {c:?}")));
        }
        for seg in s.split('/') {
            if seg.is_empty() {
                return bad("must not contain '//'");
            }
            if seg == "." {
                return bad("must not contain a '.' segment");
            }
            if seg.len() > MAX_SEGMENT_BYTES {
                return Err(StorageError::InvalidPath(format!(
                    "a name between slashes is longer than {MAX_SEGMENT_BYTES} bytes"
                )));
            }
        }
        if s.split('/').next() == Some(RESERVED_PREFIX) {
            return bad("the .minibase/ prefix is reserved");
        }
        Ok(CloudPath(s.to_string()))
    }

    /// Parses a file id `mb://<cloudPath>` (the form answered by upload and taken by
    /// temp-urls and delete).
    pub fn from_file_id(id: &str) -> Result<CloudPath, StorageError> {
        match id.strip_prefix(FILE_ID_SCHEME) {
            Some(p) => CloudPath::parse(p),
            None => Err(StorageError::InvalidPath(format!(
                "a fileID starts with {FILE_ID_SCHEME}"
            ))),
        }
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `mb://<path>`.
    pub fn file_id(&self) -> String {
        format!("{FILE_ID_SCHEME}{}", self.0)
    }

    /// The last segment (the file name).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The extension of the file name, lowercased, without the dot.
    pub fn extension(&self) -> Option<String> {
        let name = self.file_name();
        let (stem, ext) = name.rsplit_once('.')?;
        if stem.is_empty() || ext.is_empty() {
            return None;
        }
        Some(ext.to_ascii_lowercase())
    }

    /// The path percent-encoded for use in a URL path (each segment encoded, `/` kept).
    pub fn url_encoded(&self) -> String {
        encode_path(&self.0)
    }
}

impl fmt::Display for CloudPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
pub(crate) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "a.jpg",
            "avatars/oAbc-123_x/head.JPG",
            "图片/2024/猫 咪.png",
            "x/y/z/w.tar.gz",
            "a-b_c.d!e*f'(g)+h,i;j=k@l&m$n:o",
            ".hidden",
            "dir/.minibase/x",
        ] {
            assert!(CloudPath::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_hostile_paths() {
        let long_seg = "a".repeat(256);
        let long_path = format!("{}/b", vec!["abcdefgh"; 100].join("/"));
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            "a..b",
            "..",
            "a\\b",
            "a/\\..\\b",
            "a\0b",
            "a\nb",
            "a\rb",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{202e}gpj.exe",
            "a//b",
            "a/",
            "./a",
            "a/./b",
            "a%2e%2e/b",
            "a?b",
            "a#b",
            ".minibase/staging/x",
            ".minibase",
            long_seg.as_str(),
            long_path.as_str(),
        ] {
            assert!(CloudPath::parse(p).is_err(), "{p:?} should be refused");
        }
    }

    #[test]
    fn file_ids() {
        let p = CloudPath::from_file_id("mb://a/b.png").unwrap();
        assert_eq!(p.as_str(), "a/b.png");
        assert_eq!(p.file_id(), "mb://a/b.png");
        assert_eq!(p.extension().as_deref(), Some("png"));
        assert!(CloudPath::from_file_id("cloud://a/b.png").is_err());
        assert!(CloudPath::from_file_id("mb:///etc/passwd").is_err());
        assert_eq!(
            CloudPath::parse("图 1.png").unwrap().url_encoded(),
            "%E5%9B%BE%201.png"
        );
        assert_eq!(CloudPath::parse(".bashrc").unwrap().extension(), None);
    }
}
