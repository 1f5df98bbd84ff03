//! Locking and unlocking from the dashboard: one student's portfolio or a whole class. Answers
//! at once (202, with the request's version); the Drive change happens on a worker.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use crate::audit::{self, Actor, AuditEntry, Target};
use crate::auth::ClassAccess;
use crate::portfolio::lock::{self, LockState, RequestError, Requested};
use crate::portfolio::overview;
use crate::tenancy::SchoolTx;
use crate::windows::{Holding, coverage};

/// An id from the path; anything that is not one is simply not found.
pub(super) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// Action requests take no body, or an empty JSON object; anything else is refused.
pub(super) fn check_body(body: &Bytes) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) if map.is_empty() => Ok(()),
        _ => Err(ApiError::Invalid(
            "send no body, or an empty JSON object `{}`".to_owned(),
        )),
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotFound => ApiError::NotFound,
            RequestError::NoFolder => ApiError::Conflict(e.to_string()),
            RequestError::Database(d) => d.into(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    requested: Vec<Requested>,
}

/// Commits the requests, then queues their jobs and shows them as pending on every dashboard
/// watching the school.
pub(super) async fn commit_and_enqueue(
    state: &AppState,
    staff: &CurrentStaff,
    tx: SchoolTx,
    requested: &[Requested],
) -> Result<(), ApiError> {
    tx.commit().await?;
    crate::jobs::hand_over_locks(
        &state.queues.locks,
        &state.live,
        &state.redis,
        staff.school.id,
        requested,
    )
    .await;
    Ok(())
}

/// `lock` or `unlock` from the path; any other word is not a route.
fn desired_from(verb: &str) -> Result<LockState, ApiError> {
    match verb {
        "lock" => Ok(LockState::Locked),
        "unlock" => Ok(LockState::Unlocked),
        _ => Err(ApiError::NotFound),
    }
}

/// Refuses, as "not found", anyone who may not lock in this class.
async fn may_lock(tx: &mut SchoolTx, staff: &CurrentStaff, course: Uuid) -> Result<(), ApiError> {
    if staff
        .class_scope(ClassAccess::Lock)
        .includes(tx, course)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// The class of a portfolio this person may act on for `access`; anything else is "not found".
async fn class_of(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
    portfolio: Uuid,
    access: ClassAccess,
) -> Result<Uuid, ApiError> {
    staff
        .class_scope(access)
        .class_of_portfolio(tx, portfolio)
        .await?
        .ok_or(ApiError::NotFound)
}

/// An unlock during an assessment window is refused for everyone, naming the window; an
/// Examinations Officer lets one student out with a reason (`…/override`) instead.
fn refuse_while_held(holding: Vec<Holding>) -> Result<(), ApiError> {
    match holding.first() {
        None => Ok(()),
        Some(window) => Err(ApiError::Conflict(format!(
            "This work cannot be unlocked now: {}. An Examinations Officer can unlock one \
             student, giving a reason.",
            window.describe()
        ))),
    }
}

/// `POST /api/portfolios/{id}/lock` and `…/unlock`
#[utoipa::path(
    post,
    path = "/api/portfolios/{id}/{verb}",
    tag = "locks",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found"), ("verb" = String, Path, description = "`lock` or `unlock`", pattern = "^(lock|unlock)$")),
    request_body(content = Option<crate::web::openapi::EmptyBody>, content_type = "application/json", description = "Optional"),
    responses((status = 202, description = "The request is recorded; a worker changes Drive", body = Accepted), crate::web::openapi::Failures)
)]
pub async fn request_portfolio(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((raw_id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let desired = desired_from(&verb)?;
    let id = parse_id(&raw_id)?;
    check_body(&body)?;
    let mut tx = staff.school_tx(&state).await?;
    class_of(&mut tx, &staff, id, ClassAccess::Lock).await?;
    if desired == LockState::Unlocked {
        refuse_while_held(coverage::holding(&mut tx, id).await?)?;
    }
    let requested = lock::request(&mut tx, &Actor::Staff(staff.staff.id), id, desired).await?;
    let requested = vec![requested];
    commit_and_enqueue(&state, &staff, tx, &requested).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { requested })))
}

/// What a class action may carry: the portfolios the page showed, so a page that is out of date
/// (a student joined or left since it was loaded) does not act on a class it no longer shows.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClassActionBody {
    expected_portfolios: Option<Vec<Uuid>>,
}

fn class_action_body(body: &Bytes) -> Result<ClassActionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ClassActionBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Invalid(format!(
            "send no body, or {{\"expected_portfolios\": [portfolio ids]}}: {e}"
        ))
    })
}

/// Refuses, saying who joined and who left, when the class's students are not the ones the
/// page showed.
async fn refuse_if_roster_changed(
    tx: &mut SchoolTx,
    course: Uuid,
    expected: &[Uuid],
) -> Result<(), ApiError> {
    let students = overview::class_view(tx, course)
        .await?
        .map(|v| v.students)
        .unwrap_or_default();
    let current: HashSet<Uuid> = students.iter().filter_map(|s| s.portfolio_id).collect();
    let expected: HashSet<Uuid> = expected.iter().copied().collect();
    let joined: Vec<String> = students
        .iter()
        .filter(|s| s.portfolio_id.is_some_and(|p| !expected.contains(&p)))
        .map(|s| s.display_name())
        .collect();
    let gone: Vec<Uuid> = expected.difference(&current).copied().collect();
    if joined.is_empty() && gone.is_empty() {
        return Ok(());
    }
    let left = overview::names_of(tx, course, &gone).await?;
    let mut changes = Vec::new();
    if !joined.is_empty() {
        changes.push(format!("{} joined", joined.join(", ")));
    }
    if !left.is_empty() {
        changes.push(format!("{} left", left.join(", ")));
    }
    if left.len() < gone.len() {
        changes.push("a student left".to_owned());
    }
    Err(ApiError::Stale {
        message: format!(
            "The class has changed since this page was loaded: {}. Nothing was changed; check \
             the list (now up to date) and try again.",
            changes.join("; ")
        ),
        joined,
        left,
    })
}

/// `POST /api/classes/{id}/lock` and `…/unlock`: every current student with a folder.
#[utoipa::path(
    post,
    path = "/api/classes/{id}/{verb}",
    tag = "locks",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found"), ("verb" = String, Path, description = "`lock` or `unlock`", pattern = "^(lock|unlock)$")),
    request_body(content = Option<ClassActionBody>, content_type = "application/json", description = "Optional"),
    responses((status = 202, description = "Every current student's request is recorded", body = Accepted), crate::web::openapi::Failures)
)]
pub async fn request_class(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((raw_id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let desired = desired_from(&verb)?;
    let course = parse_id(&raw_id)?;
    let body = class_action_body(&body)?;
    let mut tx = staff.school_tx(&state).await?;
    may_lock(&mut tx, &staff, course).await?;
    if let Some(expected) = &body.expected_portfolios {
        refuse_if_roster_changed(&mut tx, course, expected).await?;
    }
    if desired == LockState::Unlocked {
        refuse_while_held(coverage::holding_class(&mut tx, course).await?)?;
    }
    let requested =
        lock::request_class(&mut tx, &Actor::Staff(staff.staff.id), course, desired).await?;
    commit_and_enqueue(&state, &staff, tx, &requested).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { requested })))
}

#[derive(Serialize, sqlx::FromRow)]
pub struct PortfolioState {
    id: Uuid,
    course_id: Uuid,
    student_id: Uuid,
    desired: LockState,
    desired_version: i64,
    applied: Option<LockState>,
    applied_version: i64,
    /// When the request still waiting was made (null when Drive matches).
    pending_since: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<String>,
    failed: bool,
    #[sqlx(skip)]
    history: Vec<AuditEntry>,
}

/// `GET /api/portfolios/{id}`: state and history.
#[utoipa::path(
    get,
    path = "/api/portfolios/{id}",
    tag = "locks",
    security(("session" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 200, description = "The portfolio's lock state and history", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn portfolio(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
) -> Result<Json<PortfolioState>, ApiError> {
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    class_of(&mut tx, &staff, id, ClassAccess::View).await?;
    let mut row = sqlx::query_as::<_, PortfolioState>(
        "SELECT id, course_id, student_id, desired, desired_version, applied, applied_version, \
             CASE WHEN applied_version < desired_version THEN desired_at END AS pending_since, \
             last_error, failed_permanently AS failed \
         FROM portfolios WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    row.history = audit::history(&mut tx, &Target::new("portfolio", id), 50).await?;
    tx.commit().await?;
    Ok(Json(row))
}
