//! A test PKI for TLS tests: a root and an intermediate CA (ECDSA, rcgen) issuing leaf
//! certificates with ECDSA keys (rcgen) or RSA keys (the `openssl` command: rcgen with ring
//! cannot generate RSA keys), written out the way SSL consoles hand them out (`_bundle.crt`,
//! leaf and chain apart, `.key`), plus [`openssl`] for key format conversions in tests and
//! [`client_config`] for in-process TLS clients that trust a test root.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use time::{Duration, OffsetDateTime};

/// A root CA and an intermediate CA.
pub struct Pki {
    /// Where the root was written.
    pub dir: PathBuf,
    /// The root certificate (PEM file), what clients trust.
    pub root_pem: PathBuf,
    /// The intermediate certificate (PEM text).
    pub inter_pem: String,
    inter: Issuer<'static, KeyPair>,
}

/// A leaf certificate issued by the intermediate, with its key.
pub struct Leaf {
    /// The leaf alone (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The intermediate (PEM).
    pub chain_pem: String,
    /// The leaf (DER), to compare with what a server presents.
    pub der: Vec<u8>,
}

/// Where [`Leaf::write`] put the files.
#[derive(Debug, Clone)]
pub struct LeafFiles {
    /// `<name>.crt`: the leaf alone.
    pub cert: PathBuf,
    /// `<name>_bundle.crt`: leaf then intermediate (the Tencent Cloud nginx download).
    pub bundle: PathBuf,
    /// `<name>.key` (mode 0600).
    pub key: PathBuf,
    /// `<name>_chain.crt`: the intermediate alone.
    pub chain: PathBuf,
}

/// Which key a leaf gets.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

impl Leaf {
    /// Writes the files into `dir` as `<name>…`.
    pub fn write(&self, dir: &Path, name: &str) -> LeafFiles {
        let f = LeafFiles {
            cert: dir.join(format!("{name}.crt")),
            bundle: dir.join(format!("{name}_bundle.crt")),
            key: dir.join(format!("{name}.key")),
            chain: dir.join(format!("{name}_chain.crt")),
        };
        let write =
            |p: &Path, s: &str| std::fs::write(p, s).expect("write a test certificate file");
        write(&f.cert, &self.cert_pem);
        write(&f.bundle, &format!("{}{}", self.cert_pem, self.chain_pem));
        write(&f.key, &self.key_pem);
        write(&f.chain, &self.chain_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        f
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "Minibase Test PKI");
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str, path_len: u8) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    p
}

impl Pki {
    /// A new root (written to `dir/root.pem`) and intermediate.
    pub fn new(dir: &Path) -> Pki {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("key");
        let root_params = ca_params("Minibase Test Root", 1);
        let root_cert = root_params.self_signed(&root_key).expect("root");
        let root = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let inter_params = ca_params("Minibase Test Intermediate", 0);
        let inter_cert = inter_params
            .signed_by(&inter_key, &root)
            .expect("intermediate");
        let inter = Issuer::new(inter_params, inter_key);
        let root_pem = dir.join("root.pem");
        std::fs::write(&root_pem, root_cert.pem()).expect("write root.pem");
        Pki {
            dir: dir.to_path_buf(),
            root_pem,
            inter,
            inter_pem: inter_cert.pem(),
        }
    }

    /// A leaf for `names`, valid from yesterday for 90 days.
    pub fn leaf(&self, names: &[&str], kind: KeyKind) -> Leaf {
        let now = OffsetDateTime::now_utc();
        self.leaf_valid(
            names,
            kind,
            now - Duration::days(1),
            now + Duration::days(90),
        )
    }

    /// A leaf for `names` with the given validity (expired ones too).
    pub fn leaf_valid(
        &self,
        names: &[&str],
        kind: KeyKind,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Leaf {
        let key = match kind {
            KeyKind::Ecdsa => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key"),
            KeyKind::Rsa => KeyPair::from_pem(&openssl_rsa_pkcs8()).expect("RSA key"),
        };
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
        p.distinguished_name = dn(names.first().copied().unwrap_or("leaf"));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.not_before = not_before;
        p.not_after = not_after;
        let cert = p.signed_by(&key, &self.inter).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain_pem: self.inter_pem.clone(),
            der: cert.der().to_vec(),
        }
    }
}

/// A fresh 2048-bit RSA key as PKCS#8 PEM, from `openssl genpkey`.
pub fn openssl_rsa_pkcs8() -> String {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("PEM is ASCII")
}

/// Runs `openssl <args>` with `input` on stdin and returns stdout (key conversions, encrypted
/// keys).
pub fn openssl(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("openssl output is text")
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3, ALPN `http/1.1`) trusting the
/// certificates of the PEM file `root_pem`.
pub fn client_config(root_pem: &Path) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(root_pem).expect("root PEM readable") {
        roots
            .add(c.expect("root PEM parses"))
            .expect("root certificate accepted");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}
