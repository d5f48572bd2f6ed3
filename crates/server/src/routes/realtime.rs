//! Realtime (API.md §4): `GET /api/realtime` (WebSocket).

use crate::state::AppState;
use axum::Router;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
