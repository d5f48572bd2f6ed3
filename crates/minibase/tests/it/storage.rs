//! Files through HTTP (API.md §5), against local disk and against a real S3 server (s3s-fs):
//! uploads exactly as `wx.uploadFile` sends them, temporary URLs, downloads with Range and
//! ETag, deletes, storage rules, limits, hostile paths and a backend that goes away.

use crate::util::expect_error;
use ::storage::testing::{S3sFs, pseudo_random as data};
use serde_json::{Value, json};
use testkit::TestServer;

const BOUNDARY: &str = "----WebKitFormBoundaryMb7Xq2";
const SECRET: &str = "test-signing-secret-0123456789abcdef";

/// A multipart body as wx.uploadFile builds it; `path_first` puts `cloudPath` before the file.
fn form(cloud_path: Option<&str>, file: Option<&[u8]>, path_first: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let path_part = |out: &mut Vec<u8>| {
        if let Some(p) = cloud_path {
            out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"cloudPath\"\r\n\r\n{p}\r\n").as_bytes());
        }
    };
    if path_first {
        path_part(&mut out);
    }
    if let Some(f) = file {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"wxfile://tmp_abc.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(f);
        out.extend_from_slice(b"\r\n");
    }
    if !path_first {
        path_part(&mut out);
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn post_form(srv: &TestServer, token: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut req = srv
        .http()
        .post(srv.url("/api/storage/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("upload request")
}

async fn upload(srv: &TestServer, token: &str, path: &str, bytes: &[u8]) -> reqwest::Response {
    post_form(srv, Some(token), form(Some(path), Some(bytes), true)).await
}

async fn upload_ok(srv: &TestServer, token: &str, path: &str, bytes: &[u8]) -> String {
    let res = upload(srv, token, path, bytes).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let v: Value = res.json().await.expect("json");
    v["fileID"].as_str().expect("fileID").to_string()
}

async fn post_json(
    srv: &TestServer,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> reqwest::Response {
    let mut req = srv.http().post(srv.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

async fn temp_url(srv: &TestServer, token: &str, file_id: &str) -> Value {
    let res = post_json(
        srv,
        Some(token),
        "/api/storage/temp-urls",
        json!({"fileList":[{"fileID": file_id, "maxAge": 600}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    v["fileList"][0].clone()
}

/// The `_files` rows for a path, read as a service caller.
async fn files_rows(srv: &TestServer, path: &str) -> Vec<Value> {
    let res = post_json(
        srv,
        Some(srv.service_key()),
        "/api/db/_files/query",
        json!({"where": {"path": path}}),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let v: Value = res.json().await.expect("json");
    v["data"].as_array().cloned().unwrap_or_default()
}

async fn start_local() -> TestServer {
    TestServer::builder()
        .config(|c| {
            c.auth.dev_login = true;
            c.storage.signing_secret = config::Secret::new(SECRET);
            c.limits.upload = config::ByteSize::parse("8MiB").expect("size");
        })
        .start()
        .await
}

async fn start_s3(s3: &S3sFs) -> TestServer {
    let url = s3.storage_url();
    let (ak, sk) = (s3.access_key.clone(), s3.secret_key.clone());
    TestServer::builder()
        .config(move |c| {
            c.auth.dev_login = true;
            c.storage.url = url;
            c.storage.access_key_id = ak;
            c.storage.secret_access_key = config::Secret::new(sk);
            c.storage.signing_secret = config::Secret::new(SECRET);
            c.storage.timeout = config::HumanDuration::parse("2s").expect("duration");
            c.limits.upload = config::ByteSize::parse("24MiB").expect("size");
        })
        .start()
        .await
}

/// Upload, temp URL, full and ranged download, 304, delete: the whole life of a file.
async fn round_trip(srv: &TestServer, size: usize) {
    let token = srv.user_token("oUserA").await;
    let bytes = data(size, size as u64);
    let id = upload_ok(srv, &token, "photos/猫 cat.jpg", &bytes).await;
    assert_eq!(id, "mb://photos/猫 cat.jpg");

    let rows = files_rows(srv, "photos/猫 cat.jpg").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["size"], size as u64);
    assert_eq!(rows[0]["_openid"], "oUserA");
    assert_eq!(rows[0]["fileID"], id);
    assert_eq!(rows[0]["sha256"].as_str().map(str::len), Some(64));

    let t = temp_url(srv, &token, &id).await;
    assert_eq!(t["status"], 0, "{t}");
    assert_eq!(t["maxAge"], 600);
    let url = t["tempFileURL"].as_str().expect("url").to_string();
    assert!(url.starts_with(&srv.url("/storage/photos/")), "{url}");

    let res = srv.http().get(&url).send().await.expect("download");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    assert_eq!(res.headers()["content-length"], size.to_string().as_str());
    let etag = res.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", rows[0]["sha256"].as_str().expect("sha"))
    );
    let got = res.bytes().await.expect("bytes");
    assert!(got[..] == bytes[..], "downloaded bytes equal uploaded ones");

    let res = srv
        .http()
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 100-199/{size}").as_str()
    );
    assert!(res.bytes().await.expect("bytes")[..] == bytes[100..200]);
    let res = srv
        .http()
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .expect("suffix");
    assert_eq!(res.status(), 206);
    assert!(res.bytes().await.expect("bytes")[..] == bytes[size - 10..]);
    let res = srv
        .http()
        .get(&url)
        .header("range", format!("bytes={size}-"))
        .send()
        .await
        .expect("416");
    assert_eq!(res.status(), 416);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );

    let res = srv
        .http()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("304");
    assert_eq!(res.status(), 304);

    let res = post_json(
        srv,
        Some(&token),
        "/api/storage/delete",
        json!({"fileList": [id]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["fileList"][0]["status"], 0, "{v}");
    assert!(files_rows(srv, "photos/猫 cat.jpg").await.is_empty());
    assert_eq!(
        srv.http().get(&url).send().await.expect("gone").status(),
        404
    );
    // Deleting it again: a user learns nothing about paths they do not own (a missing file has
    // no owner, so the rule refuses); the service key is told the truth.
    let v: Value = post_json(
        srv,
        Some(&token),
        "/api/storage/delete",
        json!({"fileList": [id.clone()]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"][0]["status"], -1);
    assert_eq!(v["fileList"][0]["code"], "PERMISSION_DENIED");
    let v: Value = post_json(
        srv,
        Some(srv.service_key()),
        "/api/storage/delete",
        json!({"fileList": [id]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"][0]["code"], "NOT_FOUND");
    assert!(
        v["fileList"][0]["errMsg"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn local_round_trip_small_and_multi_mib() {
    let srv = start_local().await;
    round_trip(&srv, 1000).await;
    round_trip(&srv, 5 * 1024 * 1024 + 17).await;
    // Stored under data_dir/storage by default.
    let token = srv.user_token("oUserA").await;
    upload_ok(&srv, &token, "a/b.png", b"\x89PNG\r\n\x1a\nrest").await;
    assert_eq!(
        std::fs::read(srv.data_dir().join("storage/a/b.png")).expect("file"),
        b"\x89PNG\r\n\x1a\nrest"
    );
    assert_eq!(
        files_rows(&srv, "a/b.png").await[0]["contentType"],
        "image/png"
    );
    srv.stop().await;
}

#[tokio::test]
async fn s3_round_trip_small_and_multi_mib() {
    let s3 = S3sFs::start();
    let srv = start_s3(&s3).await;
    round_trip(&srv, 1000).await;
    round_trip(&srv, 20 * 1024 * 1024 + 5).await; // multipart (8 MiB parts)
    let token = srv.user_token("oUserA").await;
    upload_ok(&srv, &token, "x/y.txt", b"hello").await;
    assert_eq!(
        std::fs::read(s3.dir().join("media/x/y.txt")).expect("object"),
        b"hello"
    );
    srv.stop().await;
}

#[tokio::test]
async fn cloud_path_after_the_file_and_other_fields() {
    let srv = start_local().await;
    let token = srv.user_token("oUserA").await;
    let res = post_form(
        &srv,
        Some(&token),
        form(Some("late/path.bin"), Some(b"late bytes"), false),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(
        std::fs::read(srv.data_dir().join("storage/late/path.bin")).expect("file"),
        b"late bytes"
    );
    // A path refused after the bytes arrived leaves nothing behind.
    let res = post_form(
        &srv,
        Some(&token),
        form(Some("../escape.bin"), Some(b"x"), false),
    )
    .await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let tmp = srv.data_dir().join("storage/.minibase/tmp");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        std::fs::read_dir(&tmp).expect("tmp dir").count(),
        0,
        "staged file removed"
    );
    srv.stop().await;
}

#[tokio::test]
async fn over_the_limit_is_413_and_nothing_is_stored() {
    let srv = start_local().await; // limits.upload = 8MiB
    let token = srv.user_token("oUserA").await;
    let res = upload(&srv, &token, "big/too.bin", &data(8 * 1024 * 1024 + 1, 1)).await;
    expect_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(!srv.data_dir().join("storage/big/too.bin").exists());
    assert!(files_rows(&srv, "big/too.bin").await.is_empty());
    // Exactly the limit is fine.
    upload_ok(&srv, &token, "big/ok.bin", &data(8 * 1024 * 1024, 2)).await;
    // A declared Content-Length far over the limit is refused before reading.
    let res = upload(&srv, &token, "big/too2.bin", &data(9 * 1024 * 1024, 3)).await;
    expect_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    srv.stop().await;
}

#[tokio::test]
async fn hostile_paths_are_refused() {
    let srv = start_local().await;
    let token = srv.user_token("oUserA").await;
    for p in [
        "../etc/passwd",
        "a/../../x",
        "/abs.txt",
        "a\\b.txt",
        "a\u{0}b",
        "a//b",
        "a/",
        "",
        ".minibase/tmp/x",
        "a%2e%2e/b",
    ] {
        let res = upload(&srv, &token, p, b"x").await;
        expect_error(res, 400, "INVALID_ARGUMENT").await;
    }
    assert!(!srv.data_dir().join("etc").exists());
    assert!(!srv.data_dir().join("x").exists());
    // The download route refuses traversal too (unsigned, and signed ones cannot name such paths).
    let res = srv
        .http()
        .get(srv.url("/storage/..%2F..%2Fdata.db?exp=9999999999&sig=x"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 403);
    // Hostile fileIDs in temp-urls and delete fail per file.
    let v: Value = post_json(
        &srv,
        Some(&token),
        "/api/storage/temp-urls",
        json!({"fileList": [{"fileID": "mb://../x"}, {"fileID": "cloud://x"}]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"][0]["code"], "INVALID_ARGUMENT");
    assert_eq!(v["fileList"][1]["status"], -1);
    srv.stop().await;
}

#[tokio::test]
async fn another_users_file_is_off_limits() {
    let srv = start_local().await;
    let a = srv.user_token("oUserA").await;
    let b = srv.user_token("oUserB").await;
    let id = upload_ok(&srv, &a, "shared/a.jpg", b"A's bytes").await;
    // B cannot overwrite it …
    let res = upload(&srv, &b, "shared/a.jpg", b"B's bytes").await;
    expect_error(res, 403, "PERMISSION_DENIED").await;
    // … not even sending cloudPath after the file.
    let res = post_form(
        &srv,
        Some(&b),
        form(Some("shared/a.jpg"), Some(b"B again"), false),
    )
    .await;
    expect_error(res, 403, "PERMISSION_DENIED").await;
    assert_eq!(
        std::fs::read(srv.data_dir().join("storage/shared/a.jpg")).expect("file"),
        b"A's bytes"
    );
    // … nor get a temporary URL (same answer as for a file that does not exist) …
    let t = temp_url(&srv, &b, &id).await;
    assert_eq!(
        (t["status"].clone(), t["code"].clone()),
        (json!(-1), json!("PERMISSION_DENIED"))
    );
    let t = temp_url(&srv, &b, "mb://shared/nothing.jpg").await;
    assert_eq!(t["code"], "PERMISSION_DENIED");
    // … nor delete it.
    let v: Value = post_json(
        &srv,
        Some(&b),
        "/api/storage/delete",
        json!({"fileList": [id.clone()]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"][0]["code"], "PERMISSION_DENIED");
    assert!(srv.data_dir().join("storage/shared/a.jpg").exists());
    // The owner overwrites and keeps ownership; the service key bypasses rules.
    upload_ok(&srv, &a, "shared/a.jpg", b"A v2").await;
    let t = temp_url(&srv, srv.service_key(), &id).await;
    assert_eq!(t["status"], 0);
    let res = upload(&srv, srv.service_key(), "shared/a.jpg", b"by service").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        files_rows(&srv, "shared/a.jpg").await[0]["_openid"],
        "oUserA",
        "owner kept on overwrite"
    );
    srv.stop().await;
}

#[tokio::test]
async fn configured_rules_apply() {
    let srv = TestServer::builder()
        .config(|c| {
            c.auth.dev_login = true;
            c.storage.rules.read = config::RuleSource::Bool(true);
            c.storage.rules.write = config::RuleSource::Expr(
                "resource.openid == auth.openid && resource.path != 'locked.txt'".into(),
            );
            c.storage.public_base_url = "https://api.example.com/".into();
        })
        .start()
        .await;
    let a = srv.user_token("oUserA").await;
    let b = srv.user_token("oUserB").await;
    let id = upload_ok(&srv, &a, "pub/a.txt", b"hi").await;
    let t = temp_url(&srv, &b, &id).await;
    assert_eq!(t["status"], 0, "read = true");
    assert!(
        t["tempFileURL"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://api.example.com/storage/pub/a.txt?exp=")),
        "{t}"
    );
    expect_error(
        upload(&srv, &a, "locked.txt", b"x").await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn expired_and_tampered_urls_are_403() {
    let srv = start_local().await;
    let token = srv.user_token("oUserA").await;
    let id = upload_ok(&srv, &token, "sig/a.txt", b"secret bytes").await;
    let url = temp_url(&srv, &token, &id).await["tempFileURL"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(srv.http().get(&url).send().await.expect("ok").status(), 200);
    let signer = ::storage::UrlSigner::new(SECRET.as_bytes());
    let path = ::storage::CloudPath::parse("sig/a.txt").expect("path");
    let past = mb_core::now_ms() / 1000 - 10;
    let expired = srv.url(&signer.signed_path(&path, past));
    expect_error(
        srv.http().get(&expired).send().await.expect("req"),
        403,
        "PERMISSION_DENIED",
    )
    .await;
    let tampered = [
        url.replace("sig/a.txt", "sig/b.txt"),
        url.replace("exp=", "exp=1"),
        format!("{}A", url),
        url.split("&sig=").next().expect("part").to_string(),
        url.split('?').next().expect("part").to_string(),
        srv.url(
            &::storage::UrlSigner::new(b"another-secret-another-secret-xx")
                .signed_path(&path, past + 1000),
        ),
    ];
    for t in tampered {
        let res = srv.http().get(&t).send().await.expect("req");
        assert_eq!(res.status(), 403, "{t}");
    }
    // maxAge is capped at storage.max_age.
    let v: Value = post_json(
        &srv,
        Some(&token),
        "/api/storage/temp-urls",
        json!({"fileList":[{"fileID": id, "maxAge": 999_999_999}]}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"][0]["maxAge"], 7 * 24 * 3600);
    srv.stop().await;
}

#[tokio::test]
async fn batches_over_50_are_refused() {
    let srv = start_local().await;
    let token = srv.user_token("oUserA").await;
    let list: Vec<Value> = (0..51)
        .map(|i| json!({"fileID": format!("mb://x/{i}")}))
        .collect();
    expect_error(
        post_json(
            &srv,
            Some(&token),
            "/api/storage/temp-urls",
            json!({"fileList": list}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let list: Vec<String> = (0..51).map(|i| format!("mb://x/{i}")).collect();
    expect_error(
        post_json(
            &srv,
            Some(&token),
            "/api/storage/delete",
            json!({"fileList": list}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let list: Vec<String> = (0..50).map(|i| format!("mb://x/{i}")).collect();
    let v: Value = post_json(
        &srv,
        Some(&token),
        "/api/storage/delete",
        json!({"fileList": list}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(v["fileList"].as_array().map(Vec::len), Some(50));
    srv.stop().await;
}

#[tokio::test]
async fn malformed_requests() {
    let srv = start_local().await;
    let token = srv.user_token("oUserA").await;
    // Not multipart.
    let res = srv
        .http()
        .post(srv.url("/api/storage/upload"))
        .bearer_auth(&token)
        .json(&json!({"cloudPath": "a"}))
        .send()
        .await
        .expect("req");
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    // Broken multipart (no closing boundary, garbage).
    let res = post_form(&srv, Some(&token), b"--nonsense\r\n\r\n".to_vec()).await;
    expect_error(res, 400, "INVALID_ARGUMENT").await;
    let mut truncated = form(Some("t/x.bin"), Some(&data(10_000, 4)), true);
    truncated.truncate(5000);
    expect_error(
        post_form(&srv, Some(&token), truncated).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(!srv.data_dir().join("storage/t/x.bin").exists());
    // Missing cloudPath, missing file.
    expect_error(
        post_form(&srv, Some(&token), form(None, Some(b"x"), true)).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        post_form(&srv, Some(&token), form(Some("a.txt"), None, true)).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    // Bad JSON shapes.
    expect_error(
        post_json(
            &srv,
            Some(&token),
            "/api/storage/temp-urls",
            json!({"fileList": "x"}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        post_json(
            &srv,
            Some(&token),
            "/api/storage/delete",
            json!({"files": []}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    expect_error(
        post_json(
            &srv,
            Some(&token),
            "/api/storage/temp-urls",
            json!({"fileList": [{"fileID": "mb://a", "maxAge": -1}]}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    // A bad Range header.
    let id = upload_ok(&srv, &token, "r/a.txt", b"0123456789").await;
    let url = temp_url(&srv, &token, &id).await["tempFileURL"]
        .as_str()
        .expect("url")
        .to_string();
    expect_error(
        srv.http()
            .get(&url)
            .header("range", "bytes=9-2")
            .send()
            .await
            .expect("req"),
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn unauthenticated_calls_are_401() {
    let srv = start_local().await;
    expect_error(
        post_form(&srv, None, form(Some("a.txt"), Some(b"x"), true)).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        post_json(
            &srv,
            None,
            "/api/storage/temp-urls",
            json!({"fileList": []}),
        )
        .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        post_json(&srv, None, "/api/storage/delete", json!({"fileList": []})).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        post_form(
            &srv,
            Some("not-a-token"),
            form(Some("a.txt"), Some(b"x"), true),
        )
        .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    assert!(!srv.data_dir().join("storage/a.txt").exists());
    srv.stop().await;
}

#[tokio::test]
async fn s3_going_away_mid_upload_is_a_clear_error_and_leaves_nothing() {
    let mut s3 = S3sFs::start();
    let srv = start_s3(&s3).await;
    let token = srv.user_token("oUserA").await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = form(
        Some("gone/video.mp4"),
        Some(&data(12 * 1024 * 1024, 9)),
        true,
    );
    let req = srv
        .http()
        .post(srv.url("/api/storage/upload"))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", body.len())
        .body(reqwest::Body::wrap_stream(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
        )));
    let call = tokio::spawn(req.send());
    let mut chunks = body.chunks(256 * 1024);
    for c in chunks.by_ref().take(8) {
        tx.send(Ok(c.to_vec())).await.expect("send");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    s3.kill();
    for c in chunks {
        tx.send(Ok(c.to_vec())).await.expect("send");
    }
    drop(tx);
    let res = call.await.expect("join").expect("response");
    let body = expect_error(res, 503, "UNAVAILABLE").await;
    assert_eq!(body["error"]["upstream"]["service"], "s3");
    assert!(
        files_rows(&srv, "gone/video.mp4").await.is_empty(),
        "no metadata row"
    );
    s3.restart();
    assert!(!s3.dir().join("media/gone/video.mp4").exists());
    let t = temp_url(&srv, &token, "mb://gone/video.mp4").await;
    assert_eq!(t["status"], -1);
    srv.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_times_out_and_leaves_nothing() {
    let srv = TestServer::builder()
        .config(|c| {
            c.auth.dev_login = true;
            c.server.idle_timeout = config::HumanDuration::parse("1s").expect("duration");
        })
        .start()
        .await;
    let token = srv.user_token("oUserA").await;
    let body = form(Some("slow/a.bin"), Some(&data(100_000, 3)), true);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let req = srv
        .http()
        .post(srv.url("/api/storage/upload"))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", body.len())
        .body(reqwest::Body::wrap_stream(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
        )));
    let call = tokio::spawn(req.send());
    tx.send(Ok(body[..20_000].to_vec())).await.expect("send");
    // Then silence, longer than the idle limit.
    let res = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .expect("answered in time")
        .expect("join");
    drop(tx);
    let body = expect_error(
        res.expect("an answer, not a reset"),
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too long")),
        "{body}"
    );
    assert!(!srv.data_dir().join("storage/slow/a.bin").exists());
    assert!(files_rows(&srv, "slow/a.bin").await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        std::fs::read_dir(srv.data_dir().join("storage/.minibase/tmp"))
            .expect("tmp")
            .count(),
        0
    );
    srv.stop().await;
}
