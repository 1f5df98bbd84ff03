//! The School Admin's view of the onward-share scan: what it found, each grant's removal or
//! keeping, and a scan of a class asked for by hand.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody, QueryParams};
use super::portfolios::{check_body, parse_id};
use crate::auth::ClassAccess;
use crate::auth::roles::Permission;
use crate::jobs::ShareJob;
use crate::portfolio::scan_queue;
use crate::portfolio::share_findings::{self, DecideError, Decision, Finding, FindingStatus, Scan};

/// How many findings and scans one listing shows (the sharing page shows the same).
pub(crate) const LIST_LIMIT: i64 = 500;
pub(crate) const SCAN_LIMIT: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses; every status when absent.
    status: Option<String>,
}

#[derive(Serialize)]
pub struct Listing {
    findings: Vec<Finding>,
    scans: Vec<Scan>,
}

fn parse_statuses(raw: Option<&str>) -> Result<Vec<FindingStatus>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|s| {
            FindingStatus::parse(s.trim()).ok_or_else(|| {
                ApiError::Invalid(format!(
                    "unknown status {s:?}: use open, removing, removed, kept or gone"
                ))
            })
        })
        .collect()
}

/// `GET /api/shares[?status=open,removing]`: findings, newest first, and the latest scans.
#[utoipa::path(
    get,
    path = "/api/shares",
    tag = "shares",
    security(("session" = [])),
    params(ListQuery),
    responses((status = 200, description = "Onward-share findings, newest first, and the latest scans", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Listing>, ApiError> {
    staff.require(Permission::ReviewShares)?;
    let statuses = parse_statuses(query.status.as_deref())?;
    let mut tx = staff.school_tx(&state).await?;
    let findings = share_findings::list(&mut tx, &statuses, LIST_LIMIT).await?;
    let scans = share_findings::recent_scans(&mut tx, SCAN_LIMIT).await?;
    tx.commit().await?;
    Ok(Json(Listing { findings, scans }))
}

#[derive(Serialize)]
pub struct Decided {
    finding: Finding,
}

/// `POST /api/shares/{id}/remove` (202: the grant is removed in Drive by a worker) and
/// `POST /api/shares/{id}/keep` (200).
#[utoipa::path(
    post,
    path = "/api/shares/{id}/{verb}",
    tag = "shares",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found"), ("verb" = String, Path, description = "`remove` or `keep`", pattern = "^(remove|keep)$")),
    request_body(content = Option<crate::web::openapi::EmptyBody>, content_type = "application/json", description = "Optional"),
    responses((status = 200, description = "The finding is kept", body = serde_json::Value), (status = 202, description = "The grant is removed in Drive by a worker", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn decide(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((raw_id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Decided>), ApiError> {
    let decision = match verb.as_str() {
        "remove" => Decision::Remove,
        "keep" => Decision::Keep,
        _ => return Err(ApiError::NotFound),
    };
    staff.require(Permission::ReviewShares)?;
    let id = parse_id(&raw_id)?;
    check_body(&body)?;
    let finding = decide_finding(&state, &staff, id, decision).await?;
    let status = match decision {
        Decision::Keep => StatusCode::OK,
        Decision::Remove => StatusCode::ACCEPTED,
    };
    Ok((status, Json(Decided { finding })))
}

/// Records the School Admin's decision on a finding, as the API and the sharing page do
/// (audited by the domain), and for a removal queues the job that deletes the grant in Drive.
/// Returns the finding as it stands now.
pub(crate) async fn decide_finding(
    state: &AppState,
    staff: &CurrentStaff,
    id: Uuid,
    decision: Decision,
) -> Result<Finding, ApiError> {
    staff.require(Permission::ReviewShares)?;
    let mut tx = staff.school_tx(state).await?;
    share_findings::decide(&mut tx, staff.staff.id, id, decision).await?;
    let finding = share_findings::get(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    if decision == Decision::Remove {
        let job = ShareJob::Remove {
            school_id: staff.school.id,
            finding_id: id,
        };
        if let Err(e) = crate::jobs::shares::enqueue(&state.queues.shares, vec![job]).await {
            // The decision is recorded; the sweeper queues the removal.
            tracing::warn!(error = %e, "could not queue a removal; the sweeper will");
        }
    }
    Ok(finding)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    class_id: Uuid,
}

#[derive(Serialize)]
pub struct ScanQueued {
    scan_id: i64,
}

/// `POST /api/shares/scans` `{"class_id": …}`: scan one class's folders now.
#[utoipa::path(
    post,
    path = "/api/shares/scans",
    tag = "shares",
    security(("session" = [], "csrf" = [])),
    request_body(content = ScanRequest, content_type = "application/json"),
    responses((status = 202, description = "A scan of the class is queued", body = serde_json::Value), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn request_scan(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(body): JsonBody<ScanRequest>,
) -> Result<(StatusCode, Json<ScanQueued>), ApiError> {
    let scan_id = queue_scan(&state, &staff, body.class_id).await?;
    Ok((StatusCode::ACCEPTED, Json(ScanQueued { scan_id })))
}

/// Scans a class's folders now, as the API and the sharing page do: a class out of reach is
/// not found; the request is audited by the domain and its job queued. Returns the scan's id.
pub(crate) async fn queue_scan(
    state: &AppState,
    staff: &CurrentStaff,
    class_id: Uuid,
) -> Result<i64, ApiError> {
    staff.require(Permission::ReviewShares)?;
    let mut tx = staff.school_tx(state).await?;
    if !staff
        .class_scope(ClassAccess::ReviewShares)
        .includes(&mut tx, class_id)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    let scan_id = scan_queue::request_now(&mut tx, class_id, staff.staff.id).await?;
    tx.commit().await?;
    let job = ShareJob::Scan {
        school_id: staff.school.id,
        scan_id,
    };
    if let Err(e) = crate::jobs::shares::enqueue(&state.queues.shares, vec![job]).await {
        tracing::warn!(error = %e, "could not queue a scan; the sweeper will");
    }
    Ok(scan_id)
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::NotFound => ApiError::NotFound,
            DecideError::NotOpen(_) => ApiError::Conflict(e.to_string()),
            DecideError::Database(d) => d.into(),
        }
    }
}
