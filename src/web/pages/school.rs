//! The whole school at a glance (Headteacher, Examinations Officer): every class's state.

use axum::Router;

use crate::web::AppState;

/// The school-wide view's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
