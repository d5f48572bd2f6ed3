//! Low-level probes of a TLS server: a rustls handshake restricted to one protocol version
//! that accepts any certificate and records the chain (trust is judged separately, so one
//! handshake tells us about versions, chain, names and dates at once), and a hand-written
//! TLS 1.0 / 1.1 ClientHello, since rustls (rightly) cannot speak those versions.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Accepts any certificate (the chain is judged afterwards), verifying signatures properly.
#[derive(Debug)]
pub(crate) struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration for probing: one protocol version (or both), any certificate.
pub(crate) fn probe_config(
    version: Option<&'static rustls::SupportedProtocolVersion>,
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match version {
        Some(v) => vec![v],
        None => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"));
    let mut cfg = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// What one handshake found.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub chain: Vec<CertificateDer<'static>>,
    pub alpn: Option<Vec<u8>>,
}

/// Connects and completes a TLS handshake with `cfg`.
pub(crate) async fn handshake(
    addr: SocketAddr,
    host: &str,
    cfg: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(Handshake, tokio_rustls::client::TlsStream<TcpStream>), String> {
    let name =
        ServerName::try_from(host.to_string()).map_err(|e| format!("invalid server name: {e}"))?;
    let work = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let chain = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let alpn = conn.alpn_protocol().map(|p| p.to_vec());
        Ok((Handshake { chain, alpn }, tls))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Whether the server completes a ServerHello for TLS 1.0 (`0x0301`) or 1.1 (`0x0302`).
pub(crate) async fn legacy_version_accepted(
    addr: SocketAddr,
    host: &str,
    version: u16,
    timeout: Duration,
) -> bool {
    let work = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(&client_hello(version, host)).await.ok()?;
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.ok()?;
        if head[0] != 0x16 {
            return Some(false); // an alert (protocol_version, handshake_failure) or garbage
        }
        let mut hs = [0u8; 6];
        s.read_exact(&mut hs).await.ok()?;
        // handshake type 2 = ServerHello; then 3 length bytes; then server_version
        Some(hs[0] == 2 && u16::from_be_bytes([hs[4], hs[5]]) == version)
    };
    tokio::time::timeout(timeout, work)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// A TLS 1.0/1.1 ClientHello with the cipher suites such servers speak and SNI.
fn client_hello(version: u16, host: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    let random: Vec<u8> = hex_random(32);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    let suites: [u16; 10] = [
        0xc013, 0xc014, 0xc009, 0xc00a, 0x002f, 0x0035, 0x0033, 0x0039, 0x000a, 0x00ff,
    ];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    let name = host.as_bytes();
    if host.parse::<std::net::IpAddr>().is_err() {
        ext.extend_from_slice(&[0x00, 0x00]);
        ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
        ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
    }
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x17, 0x00, 0x18, 0x00, 0x1d,
    ]); // groups
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]); // point formats
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn hex_random(n: usize) -> Vec<u8> {
    hex::decode(mb_core::ids::random_hex(n)).unwrap_or_else(|_| vec![0x42; n])
}
