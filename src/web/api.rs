//! The JSON API of this stage: who am I, roles, school settings, audit verification.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody};
use crate::audit::{self, Actor, Target};
use crate::auth::role_admin::{self, Assigned, RoleChangeError, RoleList};
use crate::auth::roles::{Permission, Role};
use crate::tenancy::settings::{self, SchoolSettings, SettingsChange, SettingsError};

#[derive(Serialize)]
pub struct Me {
    staff_id: Uuid,
    email: String,
    display_name: String,
    school: SchoolView,
    roles: Vec<Role>,
    permissions: Vec<Permission>,
    csrf_token: String,
}

#[derive(Serialize)]
struct SchoolView {
    slug: String,
    name: String,
}

/// `GET /api/me`
pub async fn me(staff: CurrentStaff) -> Json<Me> {
    let mut roles: Vec<Role> = staff.roles.iter().map(|r| r.role).collect();
    roles.sort();
    roles.dedup();
    Json(Me {
        staff_id: staff.staff.id,
        email: staff.staff.email.clone(),
        display_name: staff.staff.display_name.clone(),
        school: SchoolView {
            slug: staff.school.slug.clone(),
            name: staff.school.name.clone(),
        },
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| staff.can(*p))
            .collect(),
        roles,
        csrf_token: staff.csrf_token.clone(),
    })
}

/// `GET /api/roles`
pub async fn list_roles(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<RoleList>, ApiError> {
    staff.require(Permission::ManageRoles)?;
    let mut tx = staff.school_tx(&state).await?;
    let list = role_admin::list(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    email: String,
    role: Role,
    #[serde(default)]
    subject_id: Option<Uuid>,
}

fn role_error(e: RoleChangeError) -> ApiError {
    match e {
        RoleChangeError::NotFound => ApiError::NotFound,
        RoleChangeError::LastSchoolAdmin => ApiError::Conflict(e.to_string()),
        RoleChangeError::Database(d) => d.into(),
        other => ApiError::Invalid(other.to_string()),
    }
}

/// `POST /api/roles`
pub async fn assign_role(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(body): JsonBody<AssignRole>,
) -> Result<(StatusCode, Json<Assigned>), ApiError> {
    staff.require(Permission::ManageRoles)?;
    let mut tx = staff.school_tx(&state).await?;
    let assigned = role_admin::assign(
        &mut tx,
        staff.staff.id,
        &staff.school.workspace_domain,
        &body.email,
        body.role,
        body.subject_id,
    )
    .await
    .map_err(role_error)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(assigned)))
}

/// `DELETE /api/roles/{id}`
pub async fn revoke_role(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    staff.require(Permission::ManageRoles)?;
    let mut tx = staff.school_tx(&state).await?;
    role_admin::revoke(&mut tx, staff.staff.id, id)
        .await
        .map_err(role_error)?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn settings_error(e: SettingsError) -> ApiError {
    match e {
        SettingsError::NotFound => ApiError::NotFound,
        SettingsError::Database(d) => d.into(),
        other => ApiError::Invalid(other.to_string()),
    }
}

/// `GET /api/settings`
pub async fn get_settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<SchoolSettings>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    Ok(Json(
        settings::load(&state.db, &state.redis, staff.school.id)
            .await
            .map_err(settings_error)?,
    ))
}

/// `PUT /api/settings`
pub async fn put_settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(change): JsonBody<SettingsChange>,
) -> Result<Json<SchoolSettings>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let updated = settings::update(&state.db, &state.redis, staff.school.id, &change)
        .await
        .map_err(settings_error)?;
    let mut tx = staff.school_tx(&state).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(staff.staff.id),
        "settings.changed",
        Some(&Target::new("school", staff.school.id)),
        json!({
            "shared_drive_id": updated.shared_drive_id,
            "retention_months": updated.retention_months,
            "sync_interval_minutes": updated.sync_interval_minutes,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(updated))
}

/// `GET /api/audit/verify`
pub async fn verify_audit(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<audit::Verification>, ApiError> {
    staff.require(Permission::VerifyAuditLog)?;
    Ok(Json(audit::verify(&state.db, &staff.school).await?))
}

/// `POST /api/sync`: a School Admin asks for a roster sync now; answered at once (202), the
/// sync runs on a worker.
pub async fn request_sync(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    staff.require(Permission::SyncRosters)?;
    crate::jobs::enqueue_sync(
        &state.queues.roster,
        staff.school.id,
        crate::roster::Trigger::Manual,
    )
    .await
    .map_err(ApiError::Internal)?;
    let mut tx = staff.school_tx(&state).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(staff.staff.id),
        "sync.requested",
        Some(&Target::new("school", staff.school.id)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": true}))))
}
