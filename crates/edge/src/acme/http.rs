//! The HTTP client instant-acme talks to the ACME server through: reqwest on rustls (ring),
//! trusting the web PKI plus `tls.acme.ca_file`, with connect and overall timeouts so a stuck
//! CA cannot hang issuance.

use crate::EdgeError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: reqwest::Client,
}

impl AcmeHttp {
    pub(crate) fn new(ca_file: &Path) -> Result<AcmeHttp, EdgeError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("minibase/", env!("CARGO_PKG_VERSION")));
        if !ca_file.as_os_str().is_empty() {
            let pem = std::fs::read(ca_file).map_err(|e| EdgeError::CertFile {
                path: ca_file.to_path_buf(),
                message: format!("cannot read tls.acme.ca_file: {e}"),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| EdgeError::CertFile {
                    path: ca_file.to_path_buf(),
                    message: format!("tls.acme.ca_file is not a PEM certificate: {e}"),
                })?;
            if certs.is_empty() {
                return Err(EdgeError::CertFile {
                    path: ca_file.to_path_buf(),
                    message: "tls.acme.ca_file holds no PEM certificate".into(),
                });
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b
            .build()
            .map_err(|e| EdgeError::Tls(format!("cannot build the ACME HTTP client: {e}")))?;
        Ok(AcmeHttp { client })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(never) => match never {},
            };
            let res = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let status = res.status();
            let headers = res.headers().clone();
            let bytes = res
                .bytes()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let mut out = http::Response::new(Full::new(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(BytesResponse::from(out))
        })
    }
}
