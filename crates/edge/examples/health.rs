//! The edge alone, for profiling and benchmarks: serves `GET /api/health` (JSON) with the
//! listeners and TLS of a `minibase.toml`, without the rest of Minibase. Compare it with
//! `minibase serve` to see what the middleware costs, and with nginx to see what the edge costs.
//!
//! ```sh
//! cargo run --release -p minibase-edge --example health -- path/to/minibase.toml
//! ```
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map(std::path::PathBuf::from);
    let config = config::load(path, None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().route(
            "/api/health",
            get(|| async {
                axum::Json(
                    serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
                )
            }),
        );
        let edge =
            minibase_edge::Edge::bind(&config, Arc::new(minibase_edge::EdgeStats::default()))
                .await?;
        eprintln!("http {:?} https {:?}", edge.http_addr(), edge.https_addr());
        edge.serve(app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
