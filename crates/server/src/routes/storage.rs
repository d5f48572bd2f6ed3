//! Files (API.md §5): `/api/storage/…` and `/storage/{cloudPath}`.

use crate::state::AppState;
use axum::Router;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
