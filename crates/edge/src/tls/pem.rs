//! Loading a certificate chain and its private key from PEM, as downloaded from the Tencent
//! Cloud / Aliyun SSL consoles (the nginx download: a `_bundle.crt` or `.pem` with leaf and
//! intermediate, and a `.key`), or written by our self-signed CA and ACME client.
//!
//! Everything an operator can get wrong is caught here with a message naming the file and
//! what to do: missing or unreadable files, DER instead of PEM, swapped files, encrypted keys,
//! a key that belongs to another certificate, an expired or not-yet-valid certificate. What is
//! merely risky (a chain without its intermediate, a world-readable key, an expiring
//! certificate) becomes a warning.

use super::store::ServedCert;
use super::x509::{CertFacts, format_time};
use crate::EdgeError;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where one certificate/key pair is read from, and the config keys that named the files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PairFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub chain: Option<PathBuf>,
    /// `tls` or `tls.certificates[2]`, for messages.
    pub key_prefix: String,
}

/// A loaded pair, ready to serve, and what looked wrong but not fatal.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub cert: ServedCert,
    pub leaf: CertFacts,
    pub warnings: Vec<String>,
}

fn read(path: &Path, what: &str, key: &str) -> Result<Vec<u8>, EdgeError> {
    std::fs::read(path).map_err(|e| {
        let msg = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{what} not found (config key `{key}`): check the path; certificates for nginx downloaded from the Tencent Cloud / Aliyun SSL console work as they are"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "cannot read the {what} (config key `{key}`): permission denied; let the user Minibase runs as read it (e.g. `chown minibase {}` and `chmod 600` for keys)",
                path.display()
            ),
            _ => format!("cannot read the {what} (config key `{key}`): {e}"),
        };
        EdgeError::CertFile { path: path.to_path_buf(), message: msg }
    })
}

fn parse_certs(
    path: &Path,
    pem: &[u8],
    key: &str,
) -> Result<Vec<CertificateDer<'static>>, EdgeError> {
    let err = |message: String| EdgeError::CertFile {
        path: path.to_path_buf(),
        message,
    };
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        out.push(
            item.map_err(|e| err(format!("broken PEM certificate (config key `{key}`): {e}")))?,
        );
    }
    if out.is_empty() {
        let text = String::from_utf8_lossy(pem);
        let message = if text.contains("PRIVATE KEY-----") {
            format!(
                "this file holds a private key, not a certificate (config key `{key}`): are cert_file and key_file swapped?"
            )
        } else if pem.first() == Some(&0x30) {
            format!(
                "this is a DER (binary) certificate (config key `{key}`); convert it: `openssl x509 -inform der -in {0} -out {0}.pem`, or download the nginx (PEM) version from the console",
                path.display()
            )
        } else {
            format!(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in this file (config key `{key}`); use the nginx download (`*_bundle.crt` or `.pem`)"
            )
        };
        return Err(err(message));
    }
    Ok(out)
}

fn parse_key(path: &Path, pem: &[u8], key: &str) -> Result<PrivateKeyDer<'static>, EdgeError> {
    let err = |message: String| EdgeError::CertFile {
        path: path.to_path_buf(),
        message,
    };
    let text = String::from_utf8_lossy(pem);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(err(format!(
            "the private key is encrypted with a password (config key `{1}`), which a server cannot type at start; write an unencrypted copy: `openssl pkey -in {0} -out {0}.plain` (it asks for the password), `chmod 600` it and point `{1}` at it",
            path.display(),
            key_file_key(key)
        )));
    }
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => Ok(k),
        Err(_) if text.contains("-----BEGIN CERTIFICATE-----") => Err(err(format!(
            "this file holds a certificate, not a private key (config key `{}`): are cert_file and key_file swapped?",
            key_file_key(key)
        ))),
        Err(_) if pem.first() == Some(&0x30) => Err(err(format!(
            "this is a DER (binary) key (config key `{}`); convert it: `openssl pkey -inform der -in {1} -out {1}.pem`",
            key_file_key(key),
            path.display()
        ))),
        Err(_) => Err(err(format!(
            "no private key in this file (config key `{}`): expected -----BEGIN PRIVATE KEY----- (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)",
            key_file_key(key)
        ))),
    }
}

fn key_file_key(prefix: &str) -> String {
    format!("{prefix}.key_file")
}

/// Reads and checks one pair of files.
pub(crate) fn load_files(files: &PairFiles, now: i64) -> Result<Loaded, EdgeError> {
    let cert_key = format!("{}.cert_file", files.key_prefix);
    let cert_pem = read(&files.cert, "certificate file", &cert_key)?;
    let mut chain = parse_certs(&files.cert, &cert_pem, &cert_key)?;
    if let Some(chain_file) = &files.chain {
        let chain_key = format!("{}.chain_file", files.key_prefix);
        let pem = read(chain_file, "chain file", &chain_key)?;
        chain.extend(parse_certs(chain_file, &pem, &chain_key)?);
    }
    let key_pem = read(
        &files.key,
        "private key file",
        &key_file_key(&files.key_prefix),
    )?;
    let key = parse_key(&files.key, &key_pem, &files.key_prefix)?;
    let mut loaded = from_parts(chain, key, &files.cert, &files.key, &files.key_prefix, now)?;
    if let Some(w) = key_permissions_warning(&files.key) {
        loaded.warnings.push(w);
    }
    Ok(loaded)
}

/// Checks a chain (in any order) and its key: finds the leaf by the key, orders the chain
/// leaf → intermediates, refuses mismatched keys and expired leaves.
pub(crate) fn from_parts(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
    key_prefix: &str,
    now: i64,
) -> Result<Loaded, EdgeError> {
    let cert_err = |message: String| EdgeError::CertFile {
        path: cert_path.to_path_buf(),
        message,
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| EdgeError::CertFile {
        path: key_path.to_path_buf(),
        message: format!(
            "unsupported private key (config key `{}`): {e}; RSA (2048+) and ECDSA P-256/P-384 keys work",
            key_file_key(key_prefix)
        ),
    })?;
    let mut facts = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        facts.push(
            CertFacts::parse(der)
                .map_err(|e| cert_err(format!("certificate #{} in the file: {e}", i + 1)))?,
        );
    }
    let spki = signing_key.public_key().map(|k| k.as_ref().to_vec());
    let leaf_idx = match &spki {
        Some(spki) => facts.iter().position(|f| &f.spki == spki),
        None => Some(0),
    };
    let Some(leaf_idx) = leaf_idx else {
        return Err(EdgeError::CertFile {
            path: key_path.to_path_buf(),
            message: format!(
                "this private key does not belong to the certificate in {} ({}): download the key and the certificate of the same order together",
                cert_path.display(),
                facts[0].subject_cn
            ),
        });
    };
    let mut warnings = Vec::new();
    if leaf_idx != 0 {
        warnings.push(format!(
            "{}: the server certificate is not the first in the file; serving it first (leaf, then intermediates)",
            cert_path.display()
        ));
    }
    // Order: leaf, then each issuer found in the file; the rest (if any) after.
    let mut remaining: Vec<usize> = (0..chain.len()).filter(|i| *i != leaf_idx).collect();
    let mut order = vec![leaf_idx];
    loop {
        let last = &facts[*order.last().unwrap_or(&leaf_idx)];
        if last.self_issued() {
            break;
        }
        match remaining
            .iter()
            .position(|i| facts[*i].subject_raw == last.issuer_raw)
        {
            Some(p) => order.push(remaining.remove(p)),
            None => break,
        }
    }
    let linked = order.len();
    order.extend(remaining);
    let leaf = facts[leaf_idx].clone();
    if leaf.not_after < now {
        return Err(cert_err(format!(
            "the certificate for {} expired on {}: renew it in the certificate console and download it again (or let Minibase get certificates itself: tls.mode = \"acme\")",
            leaf.subject_cn,
            format_time(leaf.not_after)
        )));
    }
    if leaf.not_before > now + 300 {
        return Err(cert_err(format!(
            "the certificate for {} is not valid until {}: check the server's clock (`timedatectl`)",
            leaf.subject_cn,
            format_time(leaf.not_before)
        )));
    }
    if linked == 1 && !leaf.self_issued() {
        warnings.push(format!(
            "{}: the file has only the server certificate, not its intermediate (issued by {}); phones and WeChat will refuse an incomplete chain — use the nginx `*_bundle.crt`, or set {}.chain_file",
            cert_path.display(),
            leaf.issuer_cn,
            key_prefix
        ));
    }
    for i in order.iter().skip(1) {
        let f = &facts[*i];
        if f.not_after < now {
            warnings.push(format!(
                "{}: the chain certificate {} expired on {}; download the current chain",
                cert_path.display(),
                f.subject_cn,
                format_time(f.not_after)
            ));
        }
    }
    if leaf.not_after < now + 30 * 86400 {
        warnings.push(format!(
            "{}: the certificate for {} expires on {}: renew it soon",
            cert_path.display(),
            leaf.subject_cn,
            format_time(leaf.not_after)
        ));
    }
    let ordered: Vec<CertificateDer<'static>> = order.iter().map(|i| chain[*i].clone()).collect();
    let mut names = leaf.dns_names.clone();
    if names.is_empty() && !leaf.subject_cn.is_empty() {
        names.push(leaf.subject_cn.to_ascii_lowercase());
    }
    Ok(Loaded {
        cert: ServedCert {
            key: Arc::new(CertifiedKey::new(ordered, signing_key)),
            names,
            not_after: leaf.not_after,
            origin: cert_path.display().to_string(),
        },
        leaf,
        warnings,
    })
}

/// Parses PEM text we wrote ourselves (self-signed, ACME) into chain and key.
pub(crate) fn parse_pem_pair(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
    key_prefix: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), EdgeError> {
    Ok((
        parse_certs(cert_path, cert_pem, &format!("{key_prefix}.cert_file"))?,
        parse_key(key_path, key_pem, key_prefix)?,
    ))
}

#[cfg(unix)]
fn key_permissions_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{}: the private key is readable by other users (mode {:o}); `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn key_permissions_warning(_path: &Path) -> Option<String> {
    None
}
