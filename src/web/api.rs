//! The JSON API of this stage: who am I, roles, school settings, audit verification.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::drive_operators::DriveOperatorView;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody};
use crate::audit::{self, Action, Actor, Target};
use crate::auth::role_admin::{self, Assigned, Revoked, RoleChangeError, RoleList};
use crate::auth::roles::{Permission, Role};
use crate::portfolio::shared_drive::{self, SharedDriveRefusal};
use crate::privacy::leavers;
use crate::tenancy::settings::{self, SchoolSettings, SettingsChange, SettingsError};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    staff_id: Uuid,
    email: String,
    display_name: String,
    school: SchoolView,
    roles: Vec<Role>,
    permissions: Vec<Permission>,
    csrf_token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SchoolView {
    slug: String,
    name: String,
}

/// `GET /api/me`
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "staff",
    security(("session" = [])),
    responses((status = 200, description = "The signed-in member of staff, their school, roles, permissions and CSRF token", body = Me), crate::web::openapi::Failures)
)]
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
#[utoipa::path(
    get,
    path = "/api/roles",
    tag = "roles",
    security(("session" = [])),
    responses((status = 200, description = "Every role and invitation", body = serde_json::Value), crate::web::openapi::Failures)
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    email: String,
    role: Role,
    #[serde(default)]
    subject_id: Option<Uuid>,
}

impl From<RoleChangeError> for ApiError {
    fn from(e: RoleChangeError) -> Self {
        match e {
            RoleChangeError::NotFound => ApiError::NotFound,
            RoleChangeError::LastSchoolAdmin => ApiError::Conflict(e.to_string()),
            RoleChangeError::Database(d) => d.into(),
            RoleChangeError::Input(f) => f.into(),
            RoleChangeError::OtherDomain(_) => ApiError::invalid_field("email", e.to_string()),
            RoleChangeError::SubjectMismatch | RoleChangeError::UnknownSubject => {
                ApiError::invalid_field("subject_id", e.to_string())
            }
        }
    }
}

/// `POST /api/roles`
#[utoipa::path(
    post,
    path = "/api/roles",
    tag = "roles",
    security(("session" = [], "csrf" = [])),
    request_body(content = AssignRole, content_type = "application/json"),
    responses((status = 201, description = "The role given (or the invitation made)", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(assigned)))
}

/// `DELETE /api/roles/{id}`
#[utoipa::path(
    delete,
    path = "/api/roles/{id}",
    tag = "roles",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 204, description = "The role or invitation is taken away"), crate::web::openapi::Failures)
)]
pub async fn revoke_role(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &staff, super::portfolios::parse_id(&raw_id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a role or an invitation away, as `DELETE /api/roles/{id}` and the people page do:
/// audited, never the last School Admin, and someone left with no role is a leaver
/// (`privacy::leavers`): signed out everywhere, their live streams ended, their Google grants
/// set aside in the same transaction and revoked at Google after it.
pub(crate) async fn revoke(
    state: &AppState,
    staff: &CurrentStaff,
    id: Uuid,
) -> Result<Revoked, ApiError> {
    staff.require(Permission::ManageRoles)?;
    let mut tx = staff.school_tx(state).await?;
    let revoked = role_admin::revoke(&mut tx, staff.staff.id, id).await?;
    let leaver = match revoked {
        Revoked::Role {
            staff_id,
            last_role: true,
        } => Some(
            leavers::mark_left(
                &mut tx,
                &Actor::Staff(staff.staff.id),
                staff_id,
                leavers::LeftBecause::RolesRevoked,
            )
            .await?,
        ),
        _ => None,
    };
    tx.commit().await?;
    if let Some(leaver) = leaver {
        // Should any of this fail, a session is still refused at its next request (see
        // `CurrentStaff`), and the worker's timer revokes the grants.
        leavers::StopUsing {
            db: &state.db,
            google: &state.google,
            sessions: &state.sessions,
            live: &state.live,
            redis: &state.redis,
        }
        .follow_up(&staff.school, &[leaver])
        .await;
    }
    Ok(revoked)
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::NotFound => ApiError::NotFound,
            SettingsError::Database(d) => d.into(),
            SettingsError::Retention => ApiError::invalid_field("retention_months", e.to_string()),
            SettingsError::SyncInterval => {
                ApiError::invalid_field("sync_interval_minutes", e.to_string())
            }
            SettingsError::SharedDrive
            | SettingsError::SharedDriveNotChecked
            | SettingsError::SharedDriveTaken => {
                ApiError::invalid_field("shared_drive_id", e.to_string())
            }
            SettingsError::StaffAddresses(_) => {
                ApiError::invalid_field("staff_addresses", e.to_string())
            }
        }
    }
}

impl From<SharedDriveRefusal> for ApiError {
    fn from(e: SharedDriveRefusal) -> Self {
        match e {
            SharedDriveRefusal::Unavailable(g) => ApiError::GoogleUnavailable(g),
            SharedDriveRefusal::Setup(g) => ApiError::internal(g, "setting up the Drive client"),
            refusal => ApiError::invalid_field("shared_drive_id", refusal.to_string()),
        }
    }
}

/// The settings, and how far the school's set-up has got.
#[derive(Serialize)]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: SchoolSettings,
    pub setup: SetupState,
}

/// What is still needed before portfolio folders can be made.
#[derive(Serialize)]
pub struct SetupState {
    /// The first of the school's Drive accounts that Google still accepts (else the first of
    /// all, needing reconnecting): kept for clients from before a school could connect
    /// several; `drive_operators` lists them all.
    pub drive_operator: Option<DriveOperatorState>,
    /// Every Drive operator account, in the order they were connected, each with its status.
    pub drive_operators: Vec<DriveOperatorView>,
    /// The Shared Drive, its name and when the operator was found to manage it.
    pub shared_drive: Option<SharedDriveState>,
    /// Both are in place: syncs make and share folders.
    pub ready: bool,
}

/// One of the school's Drive operator accounts, as `drive_operator` has always said it.
#[derive(Serialize)]
pub struct DriveOperatorState {
    pub account: String,
    pub needs_reconnect: bool,
}

/// The saved Shared Drive.
#[derive(Serialize)]
pub struct SharedDriveState {
    pub id: String,
    pub name: Option<String>,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The check passed when the drive was saved (a drive is only saved after it has).
    pub check: &'static str,
}

/// The settings with how far set-up has got, as `GET /api/settings` and the settings page
/// show them.
pub(crate) async fn settings_view(
    state: &AppState,
    staff: &CurrentStaff,
    settings: SchoolSettings,
) -> Result<SettingsView, ApiError> {
    let accounts = super::drive_operators::accounts(state, staff).await?;
    // The first that works, else the first of all (to say which needs reconnecting), for
    // clients that read the one `drive_operator` from before several could be connected.
    let drive_operator = accounts
        .iter()
        .find(|a| a.works())
        .or(accounts.first())
        .map(|a| DriveOperatorState {
            account: a.account.clone(),
            needs_reconnect: !a.works(),
        });
    let shared_drive = settings.shared_drive_id.clone().map(|id| SharedDriveState {
        id,
        name: settings.shared_drive_name.clone(),
        checked_at: settings.shared_drive_checked_at,
        check: if settings.shared_drive_checked_at.is_some() {
            "operator_is_manager"
        } else {
            "not_checked"
        },
    });
    let ready =
        drive_operator.as_ref().is_some_and(|o| !o.needs_reconnect) && shared_drive.is_some();
    Ok(SettingsView {
        settings,
        setup: SetupState {
            drive_operator,
            drive_operators: accounts.into_iter().map(DriveOperatorView::from).collect(),
            shared_drive,
            ready,
        },
    })
}

/// `GET /api/settings`
#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "settings",
    security(("session" = [])),
    responses((status = 200, description = "The school's settings and how far set-up has got", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn get_settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(read_settings(&state, &staff).await?))
}

/// The saved settings and how far set-up has got, as `GET /api/settings` and the settings page
/// show them.
pub(crate) async fn read_settings(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<SettingsView, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let settings = settings::load(
        &state.db,
        &state.redis,
        &state.web.namespace,
        staff.school.id,
    )
    .await?;
    settings_view(state, staff, settings).await
}

/// `PUT /api/settings`. A new Shared Drive is checked through the school's Drive operator
/// first; if the check fails, nothing is saved.
#[utoipa::path(
    put,
    path = "/api/settings",
    tag = "settings",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::tenancy::settings::SettingsChange, content_type = "application/json"),
    responses((status = 200, description = "The settings as saved", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn put_settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(change): JsonBody<SettingsChange>,
) -> Result<Json<SettingsView>, ApiError> {
    let updated = change_settings(&state, &staff, &change).await?;
    Ok(Json(settings_view(&state, &staff, updated).await?))
}

/// Applies a settings change, as `PUT /api/settings` and the settings page do: values checked
/// first, then a new Shared Drive checked live through the school's Drive operator; a refusal
/// at either step saves nothing. Only then are the settings saved (`platform.tenants`) and the
/// change audited, in one transaction: a change is never saved without its audit entry.
pub(crate) async fn change_settings(
    state: &AppState,
    staff: &CurrentStaff,
    change: &SettingsChange,
) -> Result<SchoolSettings, ApiError> {
    staff.require(Permission::ManageSettings)?;
    change.validate()?;
    let checked = match change.new_shared_drive() {
        Some(id) => Some(shared_drive::check(&state.google, &staff.school, id).await?),
        None => None,
    };
    Ok(settings::update(
        &state.db,
        &state.redis,
        &state.web.namespace,
        &staff.school,
        &Actor::Staff(staff.staff.id),
        change,
        checked.as_ref(),
    )
    .await?)
}

/// `GET /api/audit/verify`
#[utoipa::path(
    get,
    path = "/api/audit/verify",
    tag = "audit",
    security(("session" = [])),
    responses((status = 200, description = "Whether the school's audit chain is unbroken", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn verify_audit(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<audit::Verification>, ApiError> {
    staff.require(Permission::VerifyAuditLog)?;
    Ok(Json(audit::verify(&state.db, &staff.school).await?))
}

/// `POST /api/sync`: a School Admin asks for a roster sync now; answered at once (202), the
/// sync runs on a worker.
#[utoipa::path(
    post,
    path = "/api/sync",
    tag = "roster",
    security(("session" = [], "csrf" = [])),
    responses((status = 202, description = "A roster sync is queued", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn request_sync(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    queue_sync(&state, &staff).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": true}))))
}

/// Queues a roster sync now, as `POST /api/sync` and the sync page do. The request is audited
/// and committed first, and only then queued: a sync is never queued without its audit entry
/// (if queueing then fails, the entry records a request that the caller sees refused).
pub(crate) async fn queue_sync(state: &AppState, staff: &CurrentStaff) -> Result<(), ApiError> {
    staff.require(Permission::SyncRosters)?;
    let mut tx = staff.school_tx(state).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(staff.staff.id),
        Action::SyncRequested,
        Some(&Target::new("school", staff.school.id)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    crate::jobs::enqueue_sync(
        &state.queues.roster,
        staff.school.id,
        crate::roster::Trigger::Manual,
    )
    .await?;
    Ok(())
}
