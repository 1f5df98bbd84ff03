//! Assessment windows' pages: list and month calendar, create and edit with a preview, cancel,
//! release, a student's override, and the calendar feed's address.

use axum::Router;

use crate::web::AppState;

/// The windows pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
