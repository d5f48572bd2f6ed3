//! The HTTP surface of Minibase.
//!
//! [`build`] turns a validated [`config::Config`] into an [`App`]: the [`AppState`] holding
//! every area's service, and the axum [`Router`] with all routes and middleware. Serving it on
//! sockets (HTTP, HTTPS, redirects) is the `edge` crate's job; the binary wires the two.
//!
//! Layout, as the areas of the product:
//! - [`routes`]: one module per area (`health`, `auth`, `db`, `storage`, `realtime`, `wechat`,
//!   `pay`, `functions`), each with `router()`;
//! - [`middleware`]: request ids, access logs, metrics, the error envelope on every error
//!   response, rate limits, timeouts;
//! - [`extract`]: `Json<T>` with clear 400/413 rejections, `ClientIp`;
//! - [`metrics`]: the Prometheus registry behind `GET /metrics`.
//!
//! Callers are established by `mb_core::Caller`'s extractor through the [`auth::ServerAuthenticator`]
//! put into every request (service key, then access tokens).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod ratelimit;
pub mod routes;
mod state;

pub use state::AppState;

use axum::Router;
use std::sync::Arc;

/// A built application: state and router, ready to be served.
pub struct App {
    /// Shared state (cheap clone).
    pub state: AppState,
    /// Every route with middleware applied.
    pub router: Router,
}

/// Builds every area from the configuration. Fails with a message naming what is wrong
/// (a rule that does not parse, a database that cannot be opened, …).
pub async fn build(
    config: config::Config,
    edge_stats: Arc<edge::EdgeStats>,
) -> anyhow::Result<App> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create server.data_dir {}: {e}",
            config.server.data_dir.display()
        )
    })?;
    let url = config.database_url();
    let options = docdb::DbOptions::from_config(&config);
    let db = tokio::task::spawn_blocking(move || docdb::Database::open(&url, options))
        .await?
        .map_err(|e| {
            anyhow::anyhow!("cannot open the database ({}): {e}", config.database_url())
        })?;
    let identity = identity::Identity::open(&config, db.clone()).await?;
    let pay = build_pay(&config, &db).await?;
    let files = build_files(&config, &db).await?;
    let wechat = wechat::Wechat::new(&config.wechat, Arc::new(wechat::DocdbKv::new(db.clone())))
        .map_err(|e| anyhow::anyhow!("wechat: {e}"))?;
    // the proactive refresher idles until a token has been fetched once
    wechat.tokens().spawn_refresher();
    let bindings = routes::functions::bindings::Bindings {
        files: Some(Arc::new(functions::bindings::StorageFiles::new(
            files.clone(),
            routes::functions::bindings::public_base_url(&config),
        ))),
        wechat: Some(wechat.clone()),
    };
    let functions = routes::functions::bindings::build(&config, &db, pay.as_ref(), bindings)?;
    let realtime =
        realtime::Realtime::start(db.clone(), realtime::RealtimeOptions::from_config(&config));
    let metrics = metrics::Metrics::default();
    let (console, recent) = build_console(
        &config,
        &db,
        &identity,
        &files,
        &functions,
        &pay,
        &realtime,
        &metrics,
        &edge_stats,
    )
    .await?;
    let areas = state::Areas {
        db,
        identity,
        pay,
        files,
        wechat,
        functions,
        realtime,
        console,
        metrics,
        recent,
    };
    let state = AppState::new(config, areas, edge_stats);
    let router = routes::app_router(state.clone());
    Ok(App { state, router })
}

/// The admin console (`console.enabled`) with its recent-requests ring and the server's
/// counters it charts.
#[allow(clippy::too_many_arguments)]
async fn build_console(
    config: &Arc<config::Config>,
    db: &docdb::Database,
    identity: &identity::Identity,
    files: &storage::Files,
    functions: &functions::Functions,
    pay: &Option<pay::service::PayService>,
    realtime: &realtime::Realtime,
    metrics: &metrics::Metrics,
    edge_stats: &Arc<edge::EdgeStats>,
) -> anyhow::Result<(
    Option<console::Console>,
    Option<console::requests::RecentRequests>,
)> {
    if !config.console.enabled {
        return Ok((None, None));
    }
    let recent = console::requests::RecentRequests::new(config.console.recent_requests as usize);
    let host = Arc::new(metrics::ConsoleHost {
        metrics: metrics.clone(),
        edge: edge_stats.clone(),
        realtime: realtime.clone(),
    });
    let console = console::Console::open(console::Deps {
        config: config.clone(),
        db: db.clone(),
        identity: identity.clone(),
        files: files.clone(),
        functions: functions.clone(),
        pay: pay.clone(),
        host,
        requests: recent.clone(),
    })
    .await
    .map_err(|e| anyhow::anyhow!("console: {}", e.message))?;
    Ok((Some(console), recent))
}

/// Files: the backend named by `storage.url` (local directories created, S3 credentials
/// checked), the signing secret, `[storage.rules]` compiled, `_files` indexed.
async fn build_files(
    config: &config::Config,
    db: &docdb::Database,
) -> anyhow::Result<storage::Files> {
    let store = storage::Storage::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rules = storage::DocdbRules::from_config(&config.storage.rules)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let index = storage::DocdbFileIndex::open(db.clone())
        .await
        .map_err(|e| anyhow::anyhow!("_files: {e}"))?;
    Ok(storage::Files::new(store, Arc::new(index), Arc::new(rules)))
}

/// WeChat Pay: `_pay_orders`' default rule and indexes always; the client, the certificate
/// refresher and the reconciler when `[wechat_pay] mchid` is set (a bad key file is a startup
/// error naming the key). The background tasks stop when the state is dropped.
async fn build_pay(
    config: &config::Config,
    db: &docdb::Database,
) -> anyhow::Result<Option<pay::service::PayService>> {
    pay::service::declare_collections(db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(options) = pay::PayOptions::from_config(config).map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(None);
    };
    let client = pay::WechatPayClient::new(options).map_err(|e| anyhow::anyhow!("{e}"))?;
    client.spawn_certificate_refresher();
    let service =
        pay::service::PayService::new(client, db.clone(), config.wechat_pay.reconcile_after.get())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    service.spawn_reconciler();
    Ok(Some(service))
}
