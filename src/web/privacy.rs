//! The data-protection JSON API (School Admin, `UsePrivacyTools`):
//! `GET /api/privacy/students/{id}/export` and `GET /api/privacy/staff/{id}/export`, each a zip
//! (see `privacy::export`). The pages' "Download their data" buttons link here, so a download
//! is the same export and the same audit entry whichever way it was asked for.
//!
//! The zip is written to an unnamed temporary file (created with mode 0600, then unlinked at
//! once; the open file stays readable), then streamed to the browser in pieces: neither the
//! export nor the answer holds the archive in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use super::portfolios::parse_id;
use crate::auth::roles::Permission;
use crate::privacy::export::{self, ExportError, Person, Requester};

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::NotFound => Self::NotFound,
            other => Self::internal(other, "subject access export"),
        }
    }
}

/// `GET /api/privacy/students/{id}/export`
#[utoipa::path(
    get,
    path = "/api/privacy/students/{id}/export",
    tag = "privacy",
    security(("session" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 200, description = "The student's subject access export", body = Vec<u8>, content_type = "application/zip"), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip(state, staff), fields(school = %staff.school.slug))]
pub async fn export_student(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let person = Person::Student(parse_id(&id)?);
    download(&state, &staff, person).await
}

/// `GET /api/privacy/staff/{id}/export`
#[utoipa::path(
    get,
    path = "/api/privacy/staff/{id}/export",
    tag = "privacy",
    security(("session" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 200, description = "The member of staff's subject access export", body = Vec<u8>, content_type = "application/zip"), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip(state, staff), fields(school = %staff.school.slug))]
pub async fn export_staff(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let person = Person::Staff(parse_id(&id)?);
    download(&state, &staff, person).await
}

/// Makes the person's export and answers with it as a download.
async fn download(
    state: &AppState,
    staff: &CurrentStaff,
    person: Person,
) -> Result<Response, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let requester = Requester {
        staff_id: staff.staff.id,
        label: format!("{} <{}>", staff.staff.display_name, staff.staff.email),
    };
    let out = unnamed_temp_file().map_err(|e| ApiError::internal(e, "temporary file"))?;
    let exported = export::export_person(
        &state.db,
        &staff.school,
        &requester,
        person,
        &state.web.drive_folder_url,
        out,
    )
    .await?;
    let mut file = exported.file;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(e, "reading the export back"))?;
    let filename = format!(
        "subject-access-{}-{}-{}.zip",
        person.kind(),
        person.id(),
        Utc::now().format("%Y%m%d-%H%M%S")
    );
    let mut response = Body::from_stream(stream_file(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // Personal data: never kept by a browser's or a proxy's cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A new file in the temporary directory, readable and writable by this process's user alone
/// (0600, from the moment it exists) and already unlinked: it disappears when closed, even if
/// the process dies first, and no other user can open it meanwhile.
fn unnamed_temp_file() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path =
        std::env::temp_dir().join(format!("invigilator-export-{}.zip", uuid::Uuid::new_v4()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// The file's bytes, 64 KiB at a time, each read off the async threads.
fn stream_file(
    file: File,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::try_unfold(Some(file), |file| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        if chunk.is_empty() {
            Ok(None)
        } else {
            Ok(Some((Bytes::from(chunk), Some(file))))
        }
    })
}
