//! The School Admin's set-up checklist: each step checked live, with how to fix what fails.

use axum::Router;

use crate::web::AppState;

/// The checklist's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
