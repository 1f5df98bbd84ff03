//! The school's Drive operator accounts over HTTP, for the School Admin:
//! `GET /api/drive-operators` lists them (who, whether Google still accepts each and if not why,
//! when connected) with the most a school may have; `DELETE /api/drive-operators/{id}` removes
//! one. Connecting one is a trip through Google's consent (`POST /auth/connect-drive`), not an
//! API call. The settings page lists and removes through the same steps here, so a refusal or
//! an audit entry is the same whichever way the School Admin went.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use super::portfolios::parse_id;
use crate::audit::Actor;
use crate::auth::roles::Permission;
use crate::google::credentials::{CredentialStatus, MAX_DRIVE_OPERATORS};
use crate::portfolio::drive_operators::{self, DriveAccount};
use crate::privacy::leavers;

/// Whether Drive work can run as an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriveOperatorStatus {
    /// Google accepts it: locks may go through it.
    Active,
    /// Google refused it (or it no longer manages the Shared Drive): set aside, its work goes
    /// to the school's other accounts until it is connected again.
    NeedsReconnect,
}

/// One Drive operator account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DriveOperatorView {
    pub id: Uuid,
    /// The Google account.
    pub account: String,
    pub status: DriveOperatorStatus,
    /// Why it was set aside; null while it works.
    pub status_reason: Option<String>,
    pub connected_at: DateTime<Utc>,
}

impl From<DriveAccount> for DriveOperatorView {
    fn from(a: DriveAccount) -> Self {
        let status = match a.status {
            CredentialStatus::Active => DriveOperatorStatus::Active,
            CredentialStatus::NeedsReconnect | CredentialStatus::Revoking => {
                DriveOperatorStatus::NeedsReconnect
            }
        };
        Self {
            id: a.id,
            account: a.account,
            status,
            status_reason: a
                .status_reason
                .filter(|_| status != DriveOperatorStatus::Active),
            connected_at: a.connected_at,
        }
    }
}

/// What `GET /api/drive-operators` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DriveOperators {
    /// In the order they were connected (the order Drive work prefers them in).
    pub accounts: Vec<DriveOperatorView>,
    /// The most accounts a school may connect.
    pub max: usize,
}

/// The school's Drive operator accounts, as the API, the settings page and the checklist read
/// them (School Admin only).
pub(crate) async fn accounts(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<Vec<DriveAccount>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(state).await?;
    let accounts = drive_operators::list(&mut tx).await?;
    tx.commit().await?;
    Ok(accounts)
}

/// Removes one of the school's Drive operator accounts, as the API and the settings page do:
/// set aside and audited (`drive_operator.removed`) in one transaction, so nothing acts as it
/// from the commit on; then its grant is revoked at Google. Should Google not answer, the
/// worker's timer tries again (`privacy::leavers::revoke_pending`), so the removal stands
/// either way. Not found for an id that is not one of the school's Drive accounts (or was
/// removed already).
pub(crate) async fn remove_account(
    state: &AppState,
    staff: &CurrentStaff,
    id: Uuid,
) -> Result<(), ApiError> {
    staff.require(Permission::ConnectDrive)?;
    let mut tx = staff.school_tx(state).await?;
    let removed = drive_operators::remove(&mut tx, &Actor::Staff(staff.staff.id), id).await?;
    if !removed {
        return Err(ApiError::NotFound);
    }
    tx.commit().await?;
    if let Err(e) = leavers::revoke_pending(&state.db, &state.google, &staff.school).await {
        tracing::warn!(error = %e, credential = %id,
            "a removed Drive account was not revoked at Google now; the worker's timer will");
    }
    Ok(())
}

/// `GET /api/drive-operators`
#[utoipa::path(
    get,
    path = "/api/drive-operators",
    tag = "settings",
    security(("session" = [])),
    responses((status = 200, description = "The school's Drive operator accounts, in the order they were connected, and the most it may have", body = DriveOperators), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<DriveOperators>, ApiError> {
    let accounts = accounts(&state, &staff).await?;
    Ok(Json(DriveOperators {
        accounts: accounts.into_iter().map(DriveOperatorView::from).collect(),
        max: MAX_DRIVE_OPERATORS,
    }))
}

/// `DELETE /api/drive-operators/{id}`
#[utoipa::path(
    delete,
    path = "/api/drive-operators/{id}",
    tag = "settings",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The account's id (a UUID); anything else, or an account already removed, is not found")),
    responses((status = 204, description = "The account is removed: nothing acts as it any more, and Google is asked to end its access"), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn remove(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    staff.require(Permission::ConnectDrive)?;
    remove_account(&state, &staff, parse_id(&raw_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
