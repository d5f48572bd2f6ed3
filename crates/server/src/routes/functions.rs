//! Cloud functions (API.md §6): `/api/functions/{name}` and `/fn/{name}/…`.

use crate::state::AppState;
use axum::Router;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
