//! Grants found by the onward-share scan ([`super::share_scan`]) and the School Admin's
//! decision on each: remove it from Drive, or keep it.
//!
//! A finding is `open` until decided. `remove` makes it `removing` and queues a job that deletes
//! the permission (a grant already gone counts as removed); `keep` makes it `kept`, and later
//! scans leave it so unless its role rises above the one kept (a reader kept is not a writer
//! kept). A finding a later scan no longer sees becomes `gone`; one seen again after it was
//! removed or had gone is `open` again. The audit log records every step by id only: the
//! grantee's address stays in this table, which erasure of the student clears with the folder's
//! row.

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::google::drive::DriveRole;
use crate::google::{ErrorClass, GoogleClients};
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// A direct grant the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub portfolio_id: Uuid,
    pub item_id: String,
    pub item_name: String,
    pub permission_id: String,
    /// `user`, `group`, `domain` or `anyone`.
    pub grantee_type: String,
    /// The email address or domain; none for `anyone`.
    pub grantee: Option<String>,
    pub role: String,
}

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Removing,
    Removed,
    Kept,
    Gone,
}

impl FindingStatus {
    /// The status named `s` (`open`, `removing`, `removed`, `kept`, `gone`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "removing" => Self::Removing,
            "removed" => Self::Removed,
            "kept" => Self::Kept,
            "gone" => Self::Gone,
            _ => return None,
        })
    }
}

/// One run's claim on a scan: the scan, and the attempt this run is.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub scan_id: i64,
    pub attempts: i32,
    pub course_id: Uuid,
}

/// Records a finished scan of `portfolios`' folders: the scan closed, its findings, and the open
/// findings in those portfolios it no longer saw marked gone, in one transaction. Returns how
/// many findings are new (or back), or `None` (and records nothing) if the scan is no longer
/// this run's (it was re-queued as cut off and another run took it).
pub async fn record(
    pool: &PgPool,
    school: &School,
    claim: &Claim,
    portfolios: &[Uuid],
    items: u32,
    api_calls: u32,
    found: &[Found],
) -> Result<Option<u32>, sqlx::Error> {
    let Claim {
        scan_id,
        attempts,
        course_id,
    } = *claim;
    let mut tx = begin_school_tx(pool, school).await?;
    let ours: Option<i64> = sqlx::query_scalar(
        "UPDATE share_scans SET status = 'done', status_at = now(), folders = $2, items = $3, \
             api_calls = api_calls + $4, findings = $5, last_error = NULL \
         WHERE id = $1 AND status = 'running' AND attempts = $6 RETURNING id",
    )
    .bind(scan_id)
    .bind(portfolios.len() as i32)
    .bind(items as i32)
    .bind(api_calls as i32)
    .bind(found.len() as i32)
    .bind(attempts)
    .fetch_optional(&mut *tx)
    .await?;
    if ours.is_none() {
        return Ok(None);
    }
    let actor = Actor::System("share-scan");
    let mut new = 0u32;
    // Drive's roles by reach, for comparing roles in SQL; an unknown one counts as the most.
    let roles_by_reach: Vec<&str> = DriveRole::BY_REACH.iter().map(DriveRole::as_str).collect();
    for f in found {
        let grantee_type = match f.grantee_type.as_str() {
            t @ ("user" | "group" | "domain" | "anyone") => t,
            _ => "unknown",
        };
        // The CTE reads the row as it was before this statement: no row means a new finding.
        // A kept grant whose role has risen since is open again: it is not what was kept.
        let (id, previous, status): (Uuid, Option<FindingStatus>, FindingStatus) = sqlx::query_as(
            "WITH old AS (SELECT status FROM share_findings WHERE drive_item_id = $2 AND permission_id = $4) \
             INSERT INTO share_findings AS f (portfolio_id, drive_item_id, item_name, permission_id, \
                 grantee_type, grantee, role, last_scan_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT ON CONSTRAINT share_findings_item_permission_key DO UPDATE SET \
                 portfolio_id = EXCLUDED.portfolio_id, item_name = EXCLUDED.item_name, role = EXCLUDED.role, \
                 grantee = EXCLUDED.grantee, last_seen_at = now(), last_scan_id = EXCLUDED.last_scan_id, \
                 status = CASE \
                     WHEN f.status IN ('removed', 'gone') THEN 'open' \
                     WHEN f.status = 'kept' AND coalesce(array_position($9::text[], EXCLUDED.role), 99) \
                         > coalesce(array_position($9::text[], coalesce(f.kept_role, f.role)), 99) THEN 'open' \
                     ELSE f.status END \
             RETURNING f.id, (SELECT status FROM old), f.status",
        )
        .bind(f.portfolio_id)
        .bind(&f.item_id)
        .bind(&f.item_name)
        .bind(&f.permission_id)
        .bind(grantee_type)
        .bind(&f.grantee)
        .bind(&f.role)
        .bind(scan_id)
        .bind(&roles_by_reach)
        .fetch_one(&mut *tx)
        .await?;
        let fresh = previous.is_none();
        let reopened =
            status == FindingStatus::Open && previous.is_some_and(|p| p != FindingStatus::Open);
        if fresh || reopened {
            new += 1;
            audit::record(
                &mut tx,
                &actor,
                Action::ShareFound,
                Some(&Target::new("share_finding", id)),
                json!({"portfolio": f.portfolio_id, "grantee_type": grantee_type, "role": f.role, "scan": scan_id}),
            )
            .await?;
        }
    }
    // Only where this scan looked: a student who has left the class keeps their findings.
    sqlx::query(
        "UPDATE share_findings SET status = 'gone' \
         WHERE portfolio_id = ANY($1) AND status = 'open' AND last_scan_id IS DISTINCT FROM $2",
    )
    .bind(portfolios)
    .bind(scan_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &actor,
        Action::ShareScanFinished,
        Some(&Target::new("share_scan", scan_id)),
        json!({"course": course_id, "items": items, "api_calls": api_calls, "findings": found.len(), "new": new}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(new))
}

/// A finding as the School Admin sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Finding {
    pub id: Uuid,
    pub status: FindingStatus,
    pub portfolio_id: Uuid,
    pub class_id: Uuid,
    pub class_name: String,
    pub student_id: Uuid,
    pub student_name: String,
    pub item_id: String,
    pub item_name: String,
    pub grantee_type: String,
    pub grantee: Option<String>,
    pub role: String,
    pub first_found_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

const FINDING_COLUMNS: &str = "f.id, f.status, f.portfolio_id, c.id AS class_id, c.name AS class_name, \
     s.id AS student_id, btrim(coalesce(s.given_name, '') || ' ' || coalesce(s.family_name, '')) AS student_name, \
     f.drive_item_id AS item_id, f.item_name, f.grantee_type, f.grantee, f.role, f.first_found_at, \
     f.last_seen_at, f.decided_by, f.decided_at, f.last_error \
     FROM share_findings f JOIN portfolios p ON p.id = f.portfolio_id \
     JOIN courses c ON c.id = p.course_id JOIN students s ON s.id = p.student_id";

/// Findings, newest first; only those in `statuses` if any are given.
pub async fn list(
    tx: &mut SchoolTx,
    statuses: &[FindingStatus],
    limit: i64,
) -> Result<Vec<Finding>, sqlx::Error> {
    sqlx::query_as::<_, Finding>(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS} WHERE cardinality($1::text[]) = 0 OR f.status = ANY($1) \
         ORDER BY f.first_found_at DESC, f.id LIMIT $2"
    )))
    .bind(statuses)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// One finding.
pub async fn get(tx: &mut SchoolTx, id: Uuid) -> Result<Option<Finding>, sqlx::Error> {
    sqlx::query_as::<_, Finding>(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS} WHERE f.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// A scan as the School Admin sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Scan {
    pub id: i64,
    pub class_id: Uuid,
    pub class_name: String,
    pub reason: super::scan_queue::ScanReason,
    pub status: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub status_at: chrono::DateTime<chrono::Utc>,
    pub folders: i32,
    pub items: i32,
    pub api_calls: i32,
    pub findings: i32,
    pub last_error: Option<String>,
}

/// The latest scans, newest first.
pub async fn recent_scans(tx: &mut SchoolTx, limit: i64) -> Result<Vec<Scan>, sqlx::Error> {
    sqlx::query_as::<_, Scan>(
        "SELECT sc.id, sc.course_id AS class_id, c.name AS class_name, sc.reason, sc.status, \
             sc.requested_at, sc.status_at, sc.folders, sc.items, sc.api_calls, sc.findings, sc.last_error \
         FROM share_scans sc JOIN courses c ON c.id = sc.course_id \
         ORDER BY sc.requested_at DESC, sc.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// What the School Admin decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take the grant away in Drive.
    Remove,
    /// Leave it, and stop reporting it.
    Keep,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no such finding")]
    NotFound,
    #[error(
        "this grant is {0:?} already; only an open or kept grant can be removed, and only an open one kept"
    )]
    NotOpen(FindingStatus),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Records a decision (in the caller's transaction). For `Remove`, queue the removal job
/// after commit.
pub async fn decide(
    tx: &mut SchoolTx,
    staff_id: Uuid,
    id: Uuid,
    decision: Decision,
) -> Result<FindingStatus, DecideError> {
    use FindingStatus::{Kept, Open, Removing};
    let (to, from, action): (FindingStatus, &[FindingStatus], Action) = match decision {
        Decision::Remove => (Removing, &[Open, Kept], Action::ShareRemoveRequested),
        Decision::Keep => (Kept, &[Open], Action::ShareKept),
    };
    let updated: Option<Uuid> = sqlx::query_scalar(
        "UPDATE share_findings SET status = $2, decided_by = $3, decided_at = now(), last_error = NULL, \
             kept_role = CASE WHEN $2 = 'kept' THEN role ELSE kept_role END, \
             attempted_at = CASE WHEN $2 = 'removing' THEN now() ELSE attempted_at END \
         WHERE id = $1 AND status = ANY($4) RETURNING portfolio_id",
    )
    .bind(id)
    .bind(to)
    .bind(staff_id)
    .bind(from)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(portfolio) = updated else {
        let status: Option<FindingStatus> =
            sqlx::query_scalar("SELECT status FROM share_findings WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        return Err(match status {
            Some(s) => DecideError::NotOpen(s),
            None => DecideError::NotFound,
        });
    };
    audit::record(
        tx,
        &Actor::Staff(staff_id),
        action,
        Some(&Target::new("share_finding", id)),
        json!({"portfolio": portfolio}),
    )
    .await?;
    Ok(to)
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The grant is gone from Drive.
    Removed,
    /// Not waiting for removal (decided otherwise since, or done already).
    NotPending,
    /// Will be tried again by the sweeper.
    Retry(String),
    /// Drive refused for good: the finding is open again, with the reason.
    Failed(String),
}

/// Deletes the grant of a finding marked for removal.
#[tracing::instrument(skip(pool, google), fields(school = %school.slug))]
pub async fn remove(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    id: Uuid,
) -> Result<Removal, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let pending: Option<(String, String)> = sqlx::query_as(
        "SELECT drive_item_id, permission_id FROM share_findings WHERE id = $1 AND status = 'removing'",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some((item, permission)) = pending else {
        return Ok(Removal::NotPending);
    };
    let result = match google.drive(school).await {
        Ok(drive) => drive.delete_permission(&item, &permission).await,
        Err(e) => Err(e),
    };
    let (outcome, status, action) = match result {
        // A grant already gone is as good as removed.
        Ok(()) => (Removal::Removed, "removed", Some(Action::ShareRemoved)),
        Err(e) if e.class() == ErrorClass::NotFound => {
            (Removal::Removed, "removed", Some(Action::ShareRemoved))
        }
        Err(e)
            if matches!(
                e.class(),
                ErrorClass::NeedsReconnect | ErrorClass::Permanent
            ) =>
        {
            (
                Removal::Failed(e.to_string()),
                "open",
                Some(Action::ShareRemoveFailed),
            )
        }
        Err(e) => (Removal::Retry(e.to_string()), "removing", None),
    };
    let error = match &outcome {
        Removal::Failed(reason) | Removal::Retry(reason) => Some(reason.as_str()),
        Removal::Removed | Removal::NotPending => None,
    };
    let mut tx = begin_school_tx(pool, school).await?;
    let updated = sqlx::query(
        "UPDATE share_findings SET status = $2, last_error = $3 WHERE id = $1 AND status = 'removing'",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if let (1, Some(action)) = (updated, action) {
        audit::record(
            &mut tx,
            &Actor::System("share-removal"),
            action,
            Some(&Target::new("share_finding", id)),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Removals last queued more than `older_than` ago and still not done (a lost queue, a Drive
/// error): the sweeper queues them again, once per `older_than`, not on every tick.
pub async fn stalled_removals(
    pool: &PgPool,
    school: &School,
    older_than: std::time::Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let ids = sqlx::query_scalar(
        "UPDATE share_findings SET attempted_at = now() WHERE id IN ( \
             SELECT id FROM share_findings WHERE status = 'removing' \
                 AND coalesce(attempted_at, decided_at) < now() - make_interval(secs => $1) \
             LIMIT 1000) \
         RETURNING id",
    )
    .bind(older_than.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}
