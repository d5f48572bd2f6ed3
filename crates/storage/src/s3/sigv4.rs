//! AWS Signature Version 4 for S3 requests (header-based authentication), written out rather
//! than pulled from the AWS SDK (too heavy to build on a 2-core CI). Tested against the
//! examples AWS publishes in "Signature Calculations for the Authorization Header".
//!
//! The caller builds the request's encoded path and query with [`uri_encode`] and passes the
//! headers to sign (always `host`, `x-amz-content-sha256`, `x-amz-date`; plus `range`,
//! `x-amz-*` and whatever else the request sends and wants covered).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The payload hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An access key pair.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id (`AKIA…`, COS `SecretId`, OSS `AccessKeyId`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// sha256 hex of some bytes.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// S3's URI encoding: unreserved characters kept, everything else `%XX` (uppercase);
/// `/` kept when `keep_slash` (object key paths), encoded otherwise (query values).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of raw (unencoded) parameters: encoded, sorted, `k=v&…`.
/// Send exactly this string as the request's query so the signature matches.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One request to sign.
#[derive(Debug)]
pub struct SignRequest<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The encoded path (`/bucket/key%20name` or `/key`), as sent.
    pub path: &'a str,
    /// The canonical query string ([`canonical_query`]), as sent.
    pub query: &'a str,
    /// Headers to sign (any case; must include `host`, `x-amz-date`, `x-amz-content-sha256`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex sha256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
    /// `20130524T000000Z`.
    pub amz_date: &'a str,
    /// `us-east-1`, `ap-guangzhou`, …
    pub region: &'a str,
}

/// The canonical request (exposed for tests and debugging of signature mismatches).
pub fn canonical_request(r: &SignRequest<'_>) -> (String, String) {
    let mut hs: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed: String = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let creq = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method, r.path, r.query, canonical_headers, signed, r.payload_hash
    );
    (creq, signed)
}

/// The `Authorization` header value for a request.
pub fn authorization(creds: &Credentials, r: &SignRequest<'_>) -> String {
    let (creq, signed) = canonical_request(r);
    let date = &r.amz_date[..8.min(r.amz_date.len())];
    let scope = format!("{date}/{}/s3/aws4_request", r.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        r.amz_date,
        sha256_hex(creq.as_bytes())
    );
    let k_date = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, r.region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key_id
    )
}

#[cfg(test)]
mod tests {
    //! The examples of AWS's "Signature Calculations for the Authorization Header:
    //! Transferring Payload in a Single Chunk" page (Amazon S3 API Reference).
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        }
    }
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    const DATE: &str = "20130524T000000Z";

    fn sig(auth: &str) -> &str {
        auth.rsplit("Signature=").next().unwrap()
    }

    #[test]
    fn get_object_with_range() {
        let r = SignRequest {
            method: "GET",
            path: &format!("/{}", uri_encode("test.txt", true)),
            query: "",
            headers: &[
                ("Host", HOST),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", DATE),
            ],
            payload_hash: EMPTY_SHA256,
            amz_date: DATE,
            region: "us-east-1",
        };
        let (creq, _) = canonical_request(&r);
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let auth = authorization(&creds(), &r);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn put_object() {
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let path = format!("/{}", uri_encode("test$file.text", true));
        assert_eq!(path, "/test%24file.text");
        let r = SignRequest {
            method: "PUT",
            path: &path,
            query: "",
            headers: &[
                ("Host", HOST),
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", DATE),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", &hash),
            ],
            payload_hash: &hash,
            amz_date: DATE,
            region: "us-east-1",
        };
        assert_eq!(
            sig(&authorization(&creds(), &r)),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn get_bucket_lifecycle() {
        let q = canonical_query(&[("lifecycle", "")]);
        assert_eq!(q, "lifecycle=");
        let r = SignRequest {
            method: "GET",
            path: "/",
            query: &q,
            headers: &[
                ("Host", HOST),
                ("x-amz-date", DATE),
                ("x-amz-content-sha256", EMPTY_SHA256),
            ],
            payload_hash: EMPTY_SHA256,
            amz_date: DATE,
            region: "us-east-1",
        };
        assert_eq!(
            sig(&authorization(&creds(), &r)),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn list_objects() {
        let q = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        assert_eq!(q, "max-keys=2&prefix=J");
        let r = SignRequest {
            method: "GET",
            path: "/",
            query: &q,
            headers: &[
                ("Host", HOST),
                ("x-amz-date", DATE),
                ("x-amz-content-sha256", EMPTY_SHA256),
            ],
            payload_hash: EMPTY_SHA256,
            amz_date: DATE,
            region: "us-east-1",
        };
        assert_eq!(
            sig(&authorization(&creds(), &r)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a b/c+d~é", true), "a%20b/c%2Bd~%C3%A9");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(
            canonical_query(&[("uploadId", "x/y=z"), ("partNumber", "2")]),
            "partNumber=2&uploadId=x%2Fy%3Dz"
        );
    }
}
