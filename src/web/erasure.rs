//! `POST /api/privacy/students/{id}/erase`: a School Admin erases one student (see
//! `privacy::erasure`). The page `/admin/privacy/students/{id}/erase` acts through
//! [`erase_student`] too, so both refuse, audit and report alike.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody};
use super::portfolios::parse_id;
use crate::audit::Actor;
use crate::auth::roles::Permission;
use crate::privacy::erasure::{self, DriveFolders, ErasureError, ErasureReport, StudentToErase};

impl From<ErasureError> for ApiError {
    fn from(e: ErasureError) -> Self {
        match e {
            ErasureError::NotFound => ApiError::NotFound,
            ErasureError::Confirmation(_) => ApiError::invalid_field("confirmation", e.to_string()),
            ErasureError::NoFolderChoice => ApiError::invalid_field("drive_folders", e.to_string()),
            ErasureError::Database(d) => d.into(),
        }
    }
}

/// The body of an erasure: the typed confirmation and what becomes of the Drive folders.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    #[serde(default)]
    confirmation: String,
    #[serde(default)]
    drive_folders: Option<DriveFolders>,
}

/// `POST /api/privacy/students/{id}/erase`
#[utoipa::path(
    post,
    path = "/api/privacy/students/{id}/erase",
    tag = "privacy",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = EraseBody, content_type = "application/json"),
    responses((status = 200, description = "What was erased", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn erase(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EraseBody>,
) -> Result<Json<ErasureReport>, ApiError> {
    let report = erase_student(&state, &staff, &id, &body.confirmation, body.drive_folders).await?;
    Ok(Json(report))
}

/// The student an erasure page is about, for a School Admin; another school's or an unknown
/// id is not found.
pub(crate) async fn student_to_erase(
    state: &AppState,
    staff: &CurrentStaff,
    id: &str,
) -> Result<StudentToErase, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let id = parse_id(id)?;
    let mut tx = staff.school_tx(state).await?;
    let student = erasure::describe(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(student)
}

/// Erases a student as the API and the page do: records in one transaction, then the Drive
/// folders trashed if that was the choice (a folder Drive would not trash is in the report).
pub(crate) async fn erase_student(
    state: &AppState,
    staff: &CurrentStaff,
    id: &str,
    confirmation: &str,
    drive_folders: Option<DriveFolders>,
) -> Result<ErasureReport, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let id = parse_id(id)?;
    let mut tx = staff.school_tx(state).await?;
    let erased = erasure::erase(
        &mut tx,
        &Actor::Staff(staff.staff.id),
        id,
        confirmation,
        drive_folders,
    )
    .await?;
    tx.commit().await?;
    let folders = match erased.drive_folders {
        DriveFolders::Trash => {
            erasure::trash_folders(&state.google, &staff.school, &erased.folder_ids).await
        }
        DriveFolders::Keep => erasure::FolderOutcome::default(),
    };
    Ok(ErasureReport { erased, folders })
}
