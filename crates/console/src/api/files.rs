//! The Files page: files listed by path prefix (from `_files`, in path order, paged by the
//! last path seen), downloaded or previewed, uploaded (the request body is the file) and
//! deleted, as the admin (storage rules do not apply).
//!
//! Previews are served from the console's own origin, so only raster images are shown inline;
//! everything else (HTML, SVG, scripts) is sent as an attachment, and every answer carries a
//! sandboxing CSP: an uploaded file can never run as the console.

use super::{Json, limit_param, query_param};
use crate::Console;
use crate::audit::{self, Change, RequestMeta};
use crate::session::AdminSession;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use docdb::QueryRequest;
use futures_util::TryStreamExt;
use mb_core::{ApiError, Caller};
use serde_json::{Value, json};
use storage::CloudPath;

pub fn router() -> Router<Console> {
    Router::new()
        .route("/files", get(list))
        .route("/files/raw", get(download).put(upload).delete(remove))
}

fn path_param(uri: &Uri) -> Result<CloudPath, ApiError> {
    let p = query_param(uri.query(), "path").ok_or_else(|| ApiError::invalid("path is missing"))?;
    CloudPath::parse(&p).map_err(ApiError::from)
}

/// Content types shown inline in the console (raster images only).
fn previewable(content_type: &str) -> bool {
    matches!(
        content_type.split(';').next().unwrap_or("").trim(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/bmp"
    )
}

async fn list(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = query_param(uri.query(), "prefix").unwrap_or_default();
    let after = query_param(uri.query(), "after");
    let limit = limit_param(query_param(uri.query(), "limit"), 100, 500)?;
    if prefix.len() > 1024 || after.as_ref().is_some_and(|a| a.len() > 1024) {
        return Err(ApiError::invalid("prefix and after are at most 1024 bytes"));
    }
    let mut conds = vec![json!({ "path": { "$gte": prefix } })];
    if !prefix.is_empty() {
        conds.push(json!({ "path": { "$lt": format!("{prefix}\u{10FFFF}") } }));
    }
    if let Some(a) = &after {
        conds.push(json!({ "path": { "$gt": a } }));
    }
    let docs = console
        .db()
        .query(
            &Caller::Admin,
            storage::docdb_adapter::COLLECTION,
            &QueryRequest {
                where_: json!({ "$and": conds }),
                order_by: json!([["path", "asc"]]),
                limit: json!(limit),
                ..Default::default()
            },
        )
        .await?;
    let next = (docs.len() as u64 == limit)
        .then(|| docs.last().and_then(|d| d.get("path").cloned()))
        .flatten();
    let data: Vec<Value> = docs
        .into_iter()
        .map(|d| {
            let ct = d.get("contentType").and_then(Value::as_str).unwrap_or("");
            json!({
                "path": d.get("path"),
                "size": d.get("size"),
                "contentType": ct,
                "preview": previewable(ct),
                "openid": d.get("_openid"),
                "updatedAt": d.get("updatedAt"),
            })
        })
        .collect();
    Ok(Json(json!({ "data": data, "next": next })))
}

async fn download(
    State(console): State<Console>,
    _s: AdminSession,
    uri: Uri,
) -> Result<Response, ApiError> {
    let path = path_param(&uri)?;
    let attachment = query_param(uri.query(), "download").is_some();
    let d = console.files().open(&path, None).await?;
    let inline = !attachment && previewable(&d.content_type);
    let name: String = path
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut res = Response::new(Body::from_stream(d.object.body));
    let h = res.headers_mut();
    let hv = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    h.insert(
        header::CONTENT_TYPE,
        if inline {
            hv(&d.content_type)
        } else {
            HeaderValue::from_static("application/octet-stream")
        },
    );
    h.insert(header::CONTENT_LENGTH, hv(&d.object.meta.size.to_string()));
    h.insert(
        header::CONTENT_DISPOSITION,
        hv(&format!(
            "{}; filename=\"{name}\"",
            if inline { "inline" } else { "attachment" }
        )),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // Applies to the file itself when opened directly: no scripts, no plugins, no origin.
    h.insert(
        "x-mb-file-csp",
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    Ok(res)
}

async fn upload(
    State(console): State<Console>,
    s: AdminSession,
    meta: RequestMeta,
    uri: Uri,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let path = path_param(&uri)?;
    let body: storage::ByteStream = Box::pin(
        req.into_body()
            .into_data_stream()
            .map_err(|e| std::io::Error::other(e.to_string())),
    );
    let files = console.files();
    let staged = files.stage(body).await?;
    let record = files.upload(&Caller::Admin, &path, staged).await?;
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "files.upload",
            target: path.as_str(),
            before: None,
            after: Some(json!({ "size": record.size, "contentType": record.content_type, "sha256": record.sha256 })),
        },
    )
    .await;
    Ok(Json(json!({
        "fileID": record.file_id(),
        "path": record.path,
        "size": record.size,
        "contentType": record.content_type,
    })))
}

async fn remove(
    State(console): State<Console>,
    s: AdminSession,
    meta: RequestMeta,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let path = path_param(&uri)?;
    let file_id = format!("{}{}", storage::path::FILE_ID_SCHEME, path.as_str());
    let results = console
        .files()
        .delete(&Caller::Admin, std::slice::from_ref(&file_id))
        .await?;
    let r = results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("delete answered nothing"))?;
    if r.status != 0 {
        return Err(match r.code {
            "NOT_FOUND" => ApiError::not_found(r.err_msg),
            "INVALID_ARGUMENT" => ApiError::invalid(r.err_msg),
            _ => ApiError::unavailable(r.err_msg),
        });
    }
    audit::record(
        console.db(),
        &s.admin,
        &meta,
        Change {
            action: "files.delete",
            target: path.as_str(),
            before: None,
            after: None,
        },
    )
    .await;
    Ok(Json(json!({ "deleted": true })))
}
