//! `GET /api/privacy/retention`: what the next daily retention run would delete (see
//! `privacy::retention`), as the page `/admin/privacy/retention` shows it.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use crate::auth::roles::Permission;
use crate::privacy::retention::{self, Due, RetentionError};

impl From<RetentionError> for ApiError {
    fn from(e: RetentionError) -> Self {
        match e {
            RetentionError::Settings(s) => s.into(),
            RetentionError::Database(d) => d.into(),
        }
    }
}

/// `GET /api/privacy/retention`
#[utoipa::path(
    get,
    path = "/api/privacy/retention",
    tag = "privacy",
    security(("session" = [])),
    responses((status = 200, description = "What the next retention run will delete", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn preview(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<Due>, ApiError> {
    Ok(Json(retention_preview(&state, &staff).await?))
}

/// The preview, for a School Admin.
pub(crate) async fn retention_preview(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<Due, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    Ok(retention::preview(&state.db, &staff.school).await?)
}
