//! The audit log's page (School Admin, Headteacher): filtered, paged, and the chain verified.

use axum::Router;

use crate::web::AppState;

/// The audit log page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
