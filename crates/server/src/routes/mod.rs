//! All routes, one module per area, merged into one router with the middleware of
//! [`crate::middleware`]. Path constants live with their area.

pub mod auth;
pub mod db;
pub mod functions;
pub mod health;
pub mod pay;
pub mod realtime;
pub mod storage;
pub mod wechat;

use crate::middleware;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use mb_core::ApiError;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The whole application router.
pub fn app_router(state: AppState) -> Router {
    let config = state.config();
    let mut router = Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(db::router())
        .merge(storage::router())
        .merge(realtime::router())
        .merge(wechat::router())
        .merge(pay::router())
        .merge(functions::router())
        // `[functions.routes]` paths, else 404.
        .fallback(functions::routed)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                mb_core::ErrorCode::MethodNotAllowed,
                "method not allowed for this route",
            )
        });
    // The admin console: its own router (pages and JSON API) behind the same middleware.
    if let Some(c) = state.console() {
        router = router.nest_service("/_", c.router());
    }
    // The middleware as one stack, applied with one `Router::layer`: axum boxes every route
    // once per `layer` call and clones that box on every request, so one call is the cheapest
    // (outermost first: observe, CORS, the body limit).
    let stack = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .option_layer(cors_layer(&config.server.cors_origins))
        .layer(DefaultBodyLimit::max(config.limits.body.as_usize()));
    router.layer(stack).with_state(state)
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}
