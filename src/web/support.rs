//! Support access over HTTP: the School Admin's grants (`/api/support-access`, session and CSRF
//! like every dashboard call) and the operators' reads under a grant (`/api/support/{slug}/…`,
//! a bearer token and nothing else).
//!
//! An operator's read takes no session and no CSRF token, and refuses any request carrying a
//! cookie, so a browser's ambient credentials can never be used for it. A bad or missing token is
//! a 401; no live grant (none, expired, revoked) or a disabled operator is a 403 saying which;
//! an unknown school is a 404. Every read is recorded in the school's log, as the operator's, in
//! the same transaction as the read. Students are given by id only: support needs the states of
//! folders, not who the students are.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorDetail};
use super::extract::{CurrentStaff, JsonBody};
use super::portfolios::{check_body, parse_id};
use crate::audit::{LogFilter, PageStart};
use crate::auth::roles::Permission;
use crate::portfolio::lock::LockState;
use crate::portfolio::overview::{self, ClassSummary};
use crate::privacy::operators::{self, Operator};
use crate::privacy::support::{self, Grant, GrantError, NewGrant, Refusal};
use crate::tenancy::{School, SchoolStatus, SchoolTx, begin_school_tx, find_school_by_slug};

/// How many audit entries and sync runs one support read returns, newest first.
const AUDIT_LIMIT: i64 = 100;
const SYNC_RUN_LIMIT: i64 = 50;

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::Field(f) => f.into(),
            GrantError::AlreadyEnded => ApiError::Conflict(e.to_string()),
            GrantError::NotFound => ApiError::NotFound,
            GrantError::Database(d) => d.into(),
        }
    }
}

/// An operator a grant can name.
#[derive(Debug, Serialize)]
pub struct OperatorChoice {
    pub name: String,
}

/// What `GET /api/support-access` answers, and the page shows.
#[derive(Debug, Serialize)]
pub struct SupportAccess {
    /// Operators who can be granted access now (not disabled), by name.
    pub operators: Vec<OperatorChoice>,
    /// Grants, newest first.
    pub grants: Vec<Grant>,
    pub min_hours: i64,
    pub max_hours: i64,
}

/// Reads the operators and the school's grants, as the API and the page do.
pub(crate) async fn overview(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<SupportAccess, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let operators = operators::list(&state.db)
        .await?
        .into_iter()
        .filter(|o| !o.is_disabled())
        .map(|o| OperatorChoice { name: o.name })
        .collect();
    let grants = support::list(&state.db, &staff.school).await?;
    Ok(SupportAccess {
        operators,
        grants,
        min_hours: support::MIN_HOURS,
        max_hours: support::MAX_HOURS,
    })
}

/// Grants support access, as the API and the page do (audited by the domain).
pub(crate) async fn grant_access(
    state: &AppState,
    staff: &CurrentStaff,
    new: &NewGrant,
) -> Result<Grant, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    Ok(support::grant(&state.db, &staff.school, staff.staff.id, new).await?)
}

/// Revokes a grant, as the API and the page do (audited by the domain).
pub(crate) async fn revoke_access(
    state: &AppState,
    staff: &CurrentStaff,
    id: Uuid,
) -> Result<Grant, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    Ok(support::revoke(&state.db, &staff.school, staff.staff.id, id).await?)
}

/// `GET /api/support-access`: the operators and this school's grants.
#[utoipa::path(
    get,
    path = "/api/support-access",
    tag = "support",
    security(("session" = [])),
    responses((status = 200, description = "The operators and this school's grants", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<SupportAccess>, ApiError> {
    Ok(Json(overview(&state, &staff).await?))
}

#[derive(Debug, Serialize)]
pub struct GrantAnswer {
    grant: Grant,
}

/// `POST /api/support-access` `{"operator", "hours", "reason"}`: 201 with the grant.
#[utoipa::path(
    post,
    path = "/api/support-access",
    tag = "support",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::privacy::support::NewGrant, content_type = "application/json"),
    responses((status = 201, description = "The grant", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    body: Bytes,
) -> Result<(StatusCode, Json<GrantAnswer>), ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let JsonBody(new) = JsonBody::<NewGrant>::parse(&body)?;
    let grant = grant_access(&state, &staff, &new).await?;
    Ok((StatusCode::CREATED, Json(GrantAnswer { grant })))
}

/// `POST /api/support-access/{id}/revoke`: the grant, ended now.
#[utoipa::path(
    post,
    path = "/api/support-access/{id}/revoke",
    tag = "support",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = Option<crate::web::openapi::EmptyBody>, content_type = "application/json", description = "Optional"),
    responses((status = 200, description = "The grant, ended now", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn revoke(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Json<GrantAnswer>, ApiError> {
    staff.require(Permission::UsePrivacyTools)?;
    let id = parse_id(&raw_id)?;
    check_body(&body)?;
    let grant = revoke_access(&state, &staff, id).await?;
    Ok(Json(GrantAnswer { grant }))
}

/// Why an operator's read was refused.
#[derive(Debug)]
pub enum SupportReadError {
    /// No usable bearer token (missing, malformed, unknown) or cookies sent: 401.
    Unauthenticated(&'static str),
    /// No live grant, or a disabled operator: 403.
    Refused(Refusal),
    Api(ApiError),
}

impl From<ApiError> for SupportReadError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sqlx::Error> for SupportReadError {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for SupportReadError {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated(message) => {
                let mut response = ErrorDetail::new("unauthenticated", message)
                    .into_response_with(StatusCode::UNAUTHORIZED);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            Self::Refused(refusal) => ErrorDetail::new("forbidden", refusal.to_string())
                .into_response_with(StatusCode::FORBIDDEN),
            Self::Api(e) => e.into_response(),
        }
    }
}

/// An operator identified by their bearer token (not yet checked against any school).
pub struct SupportOperator(pub Operator);

impl FromRequestParts<AppState> for SupportOperator {
    type Rejection = SupportReadError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::COOKIE) {
            return Err(SupportReadError::Unauthenticated(
                "support reads take a bearer token and nothing else: send no cookies",
            ));
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(SupportReadError::Unauthenticated(
                "send your operator token as Authorization: Bearer <token>",
            ))?;
        let operator = operators::by_token(&state.db, token).await?.ok_or(
            SupportReadError::Unauthenticated("that token is not an operator's"),
        )?;
        Ok(Self(operator))
    }
}

/// The live school `slug` and the operator's grant on it, and a transaction on it for the read.
async fn begin_read(
    state: &AppState,
    operator: &Operator,
    slug: &str,
) -> Result<(SchoolTx, Uuid), SupportReadError> {
    let school: School = find_school_by_slug(&state.db, slug)
        .await?
        .filter(|s| s.status == SchoolStatus::Active)
        .ok_or(ApiError::NotFound)?;
    let grant = support::access(&state.db, &school, operator)
        .await?
        .map_err(SupportReadError::Refused)?;
    let tx = begin_school_tx(&state.db, &school).await?;
    Ok((tx, grant))
}

#[derive(Debug, Serialize)]
pub struct SupportClasses {
    classes: Vec<ClassSummary>,
}

/// `GET /api/support/{slug}/classes`: every active class with its folders' counts.
#[utoipa::path(
    get,
    path = "/api/support/{slug}/classes",
    tag = "support",
    security(("operator_token" = [])),
    params(("slug" = String, Path, description = "The school's slug")),
    responses((status = 200, description = "Every active class with its folders' counts (an operator with a live grant)", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(operator = %operator.name, slug = %slug))]
pub async fn classes(
    State(state): State<AppState>,
    SupportOperator(operator): SupportOperator,
    Path(slug): Path<String>,
) -> Result<Json<SupportClasses>, SupportReadError> {
    let (mut tx, grant) = begin_read(&state, &operator, &slug).await?;
    let classes = overview::class_summaries(&mut tx, None).await?;
    support::record_read(
        &mut tx,
        &operator,
        grant,
        "classes",
        json!({"classes": classes.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SupportClasses { classes }))
}

/// One student's folder as support sees it: ids and states, no name or address.
#[derive(Debug, Serialize)]
pub struct SupportFolder {
    student_id: Uuid,
    portfolio_id: Option<Uuid>,
    has_folder: bool,
    desired: Option<LockState>,
    desired_version: i64,
    applied: Option<LockState>,
    applied_version: i64,
    failed: bool,
    last_error: Option<String>,
    held_by_window: bool,
}

#[derive(Debug, Serialize)]
pub struct SupportClass {
    class: ClassSummary,
    folders: Vec<SupportFolder>,
}

/// `GET /api/support/{slug}/classes/{id}`: a class's folders and where each stands.
#[utoipa::path(
    get,
    path = "/api/support/{slug}/classes/{id}",
    tag = "support",
    security(("operator_token" = [])),
    params(("slug" = String, Path, description = "The school's slug"), ("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 200, description = "A class's folders and where each stands", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(operator = %operator.name, slug = %slug))]
pub async fn class(
    State(state): State<AppState>,
    SupportOperator(operator): SupportOperator,
    Path((slug, raw_id)): Path<(String, String)>,
) -> Result<Json<SupportClass>, SupportReadError> {
    let (mut tx, grant) = begin_read(&state, &operator, &slug).await?;
    let id = parse_id(&raw_id)?;
    let view = overview::class_view(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let folders: Vec<SupportFolder> = view
        .students
        .into_iter()
        .map(|s| SupportFolder {
            student_id: s.student_id,
            portfolio_id: s.portfolio_id,
            has_folder: s.drive_folder_id.is_some(),
            desired: s.desired,
            desired_version: s.desired_version,
            applied: s.applied,
            applied_version: s.applied_version,
            failed: s.failed,
            last_error: s.last_error,
            held_by_window: s.held,
        })
        .collect();
    support::record_read(
        &mut tx,
        &operator,
        grant,
        "class",
        json!({"class_id": id, "folders": folders.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SupportClass {
        class: view.summary,
        folders,
    }))
}

#[derive(Debug, Serialize)]
pub struct SupportAudit {
    entries: Vec<crate::audit::AuditEntry>,
}

/// `GET /api/support/{slug}/audit`: the latest audit entries, newest first.
#[utoipa::path(
    get,
    path = "/api/support/{slug}/audit",
    tag = "support",
    security(("operator_token" = [])),
    params(("slug" = String, Path, description = "The school's slug")),
    responses((status = 200, description = "The latest audit entries, newest first", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(operator = %operator.name, slug = %slug))]
pub async fn audit_log(
    State(state): State<AppState>,
    SupportOperator(operator): SupportOperator,
    Path(slug): Path<String>,
) -> Result<Json<SupportAudit>, SupportReadError> {
    let (mut tx, grant) = begin_read(&state, &operator, &slug).await?;
    let page = crate::audit::list(
        &mut tx,
        &LogFilter::default(),
        PageStart::Newest,
        AUDIT_LIMIT,
    )
    .await?;
    support::record_read(
        &mut tx,
        &operator,
        grant,
        "audit",
        json!({"entries": page.entries.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SupportAudit {
        entries: page.entries,
    }))
}

#[derive(Debug, Serialize)]
pub struct SupportSyncRuns {
    runs: Vec<crate::roster::runs::SyncRun>,
}

/// `GET /api/support/{slug}/sync-runs`: the latest roster syncs, newest first.
#[utoipa::path(
    get,
    path = "/api/support/{slug}/sync-runs",
    tag = "support",
    security(("operator_token" = [])),
    params(("slug" = String, Path, description = "The school's slug")),
    responses((status = 200, description = "The latest roster syncs, newest first", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(operator = %operator.name, slug = %slug))]
pub async fn sync_runs(
    State(state): State<AppState>,
    SupportOperator(operator): SupportOperator,
    Path(slug): Path<String>,
) -> Result<Json<SupportSyncRuns>, SupportReadError> {
    let (mut tx, grant) = begin_read(&state, &operator, &slug).await?;
    let runs = crate::roster::runs::recent(&mut tx, SYNC_RUN_LIMIT).await?;
    support::record_read(
        &mut tx,
        &operator,
        grant,
        "sync_runs",
        json!({"runs": runs.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SupportSyncRuns { runs }))
}
