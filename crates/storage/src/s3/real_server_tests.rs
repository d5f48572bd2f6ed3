//! The S3 backend against a real S3 server (s3s-fs on loopback): round trips, ranges,
//! multipart, content types, prefixes, wrong credentials and a server that goes away.

use super::*;
use crate::testing::{S3sFs, pseudo_random};

async fn backend(srv: &S3sFs, spool: &std::path::Path, prefix: &str, part_size: u64) -> S3Backend {
    let cfg = S3Config {
        bucket: srv.bucket.clone(),
        endpoint: url::Url::parse(&srv.endpoint()).unwrap(),
        region: "us-east-1".into(),
        path_style: true,
        prefix: prefix.into(),
        credentials: Credentials {
            access_key_id: srv.access_key.clone(),
            secret_access_key: srv.secret_key.clone(),
        },
        spool_dir: spool.to_path_buf(),
        part_size,
        timeout: Duration::from_secs(5),
    };
    S3Backend::open(cfg).await.unwrap()
}

fn body_of(data: Vec<u8>) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = data
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

async fn read_all(o: Object) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = o.body;
    while let Some(c) = b.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

#[tokio::test]
async fn round_trip_range_head_delete() {
    let srv = S3sFs::start();
    let spool = tempfile::tempdir().unwrap();
    let b = backend(&srv, spool.path(), "", DEFAULT_PART_SIZE).await;
    let data = pseudo_random(300_000, 7);
    let s = b.stage(body_of(data.clone())).await.unwrap();
    s.commit("photos/猫 1.png", "image/png").await.unwrap();
    assert!(std::fs::read(srv.dir().join("media/photos/猫 1.png")).unwrap() == data);
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "spool file removed"
    );

    let o = b.get("photos/猫 1.png", None).await.unwrap();
    assert_eq!(o.meta.size, 300_000);
    assert!(o.range.is_none());
    assert!(read_all(o).await == data);

    let o = b
        .get(
            "photos/猫 1.png",
            Some(ByteRange::From {
                start: 10,
                end: Some(19),
            }),
        )
        .await
        .unwrap();
    assert_eq!((o.meta.size, o.range), (300_000, Some((10, 19))));
    assert_eq!(read_all(o).await, &data[10..20]);
    let o = b
        .get("photos/猫 1.png", Some(ByteRange::Suffix(5)))
        .await
        .unwrap();
    assert_eq!(read_all(o).await, &data[data.len() - 5..]);
    let r = b
        .get(
            "photos/猫 1.png",
            Some(ByteRange::From {
                start: 300_000,
                end: None,
            }),
        )
        .await;
    assert!(
        matches!(r, Err(StorageError::RangeNotSatisfiable { size: 300_000 })),
        "{r:?}"
    );

    let h = b.head("photos/猫 1.png").await.unwrap();
    assert_eq!(h.size, 300_000);
    assert!(!h.etag.is_empty());
    assert!(matches!(b.head("nope").await, Err(StorageError::NotFound)));
    assert!(matches!(
        b.get("nope", None).await,
        Err(StorageError::NotFound)
    ));

    assert!(b.delete("photos/猫 1.png").await.unwrap());
    assert!(!b.delete("photos/猫 1.png").await.unwrap());
    assert!(matches!(
        b.get("photos/猫 1.png", None).await,
        Err(StorageError::NotFound)
    ));
}

#[tokio::test]
async fn multipart_upload_of_a_large_file() {
    let srv = S3sFs::start();
    let spool = tempfile::tempdir().unwrap();
    let part = 5 * 1024 * 1024;
    let b = backend(&srv, spool.path(), "app1/", part).await;
    let data = pseudo_random(2 * part as usize + 12345, 99);
    b.stage(body_of(data.clone()))
        .await
        .unwrap()
        .commit("big/video.mp4", "video/mp4")
        .await
        .unwrap();
    assert!(
        std::fs::read(srv.dir().join("media/app1/big/video.mp4")).unwrap() == data,
        "stored under the prefix"
    );
    let o = b.get("big/video.mp4", None).await.unwrap();
    assert_eq!(o.meta.size, data.len() as u64);
    assert!(read_all(o).await == data);
    let o = b
        .get(
            "big/video.mp4",
            Some(ByteRange::From {
                start: part - 2,
                end: Some(part + 1),
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        read_all(o).await,
        &data[part as usize - 2..part as usize + 2]
    );
    // Exactly one part's worth goes up as a single PUT.
    let exact = pseudo_random(part as usize, 3);
    b.stage(body_of(exact.clone()))
        .await
        .unwrap()
        .commit("exact.bin", "application/octet-stream")
        .await
        .unwrap();
    assert!(read_all(b.get("exact.bin", None).await.unwrap()).await == exact);
    // Empty files too.
    b.stage(body_of(Vec::new()))
        .await
        .unwrap()
        .commit("empty.txt", "text/plain")
        .await
        .unwrap();
    assert_eq!(b.head("empty.txt").await.unwrap().size, 0);
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_upstream_error() {
    let srv = S3sFs::start();
    let spool = tempfile::tempdir().unwrap();
    let mut b = backend(&srv, spool.path(), "", DEFAULT_PART_SIZE).await;
    let mut cfg = (*b.cfg).clone();
    cfg.credentials.secret_access_key = "wrong".into();
    b.cfg = Arc::new(cfg);
    let r = b
        .stage(body_of(b"x".to_vec()))
        .await
        .unwrap()
        .commit("a.txt", "text/plain")
        .await;
    match r {
        Err(StorageError::Upstream { status, code, .. }) => {
            assert_eq!(status, 403);
            assert!(
                code.contains("Signature") || code.contains("Access"),
                "{code}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_goes_away_is_unavailable_and_nothing_is_left() {
    let mut srv = S3sFs::start();
    let spool = tempfile::tempdir().unwrap();
    let part = 5 * 1024 * 1024;
    let b = backend(&srv, spool.path(), "", part).await;
    let staged = b
        .stage(body_of(pseudo_random(part as usize + 10, 5)))
        .await
        .unwrap();
    srv.kill();
    let t = Instant::now();
    let r = staged.commit("gone.bin", "application/octet-stream").await;
    assert!(matches!(r, Err(StorageError::Unavailable(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "bounded retries");
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
    srv.restart();
    assert!(matches!(
        b.head("gone.bin").await,
        Err(StorageError::NotFound)
    ));
    let r = b.get("gone.bin", None).await;
    assert!(matches!(r, Err(StorageError::NotFound)), "{r:?}");
}

use std::time::Instant;
