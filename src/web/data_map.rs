//! `GET /api/privacy/data-map`: what Invigilator holds (`docs/data-map.md`, read by
//! `privacy::data_map`), with how many rows of each of the school's tables exist now, as the
//! page `/admin/privacy/held` shows it. It names kinds of record and counts, never a person, so
//! reading it is not an audited read.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use crate::auth::roles::Permission;
use crate::privacy::data_map::{self, Held};

/// `GET /api/privacy/data-map`
#[utoipa::path(
    get,
    path = "/api/privacy/data-map",
    tag = "privacy",
    security(("session" = [])),
    responses((status = 200, description = "Every kind of record Invigilator holds, why, about whom and for how long, with the school's row counts", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn show(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<Vec<Held>>, ApiError> {
    Ok(Json(data_map_of(&state, &staff).await?))
}

/// The map with the school's counts, for a School Admin.
pub(crate) async fn data_map_of(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<Vec<Held>, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let mut tx = staff.school_tx(state).await?;
    let held = data_map::held(&mut tx, &staff.school).await?;
    tx.commit().await?;
    Ok(held)
}
