//! The School Admin's pages: settings, subject and year rules, staff and roles, Classroom sync,
//! onward-share findings.

use axum::Router;

use crate::web::AppState;

/// The School Admin's pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
