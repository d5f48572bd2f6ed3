//! WeChat platform (API.md §2, §7): WeChat login, user data, open APIs, message push.

use crate::state::AppState;
use axum::Router;

/// This area's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
