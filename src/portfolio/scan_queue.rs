//! The onward-share scan's queue in PostgreSQL, shared by the lock pipeline and the scan: the
//! `waiting` scan a class lock leaves in its own transaction, a School Admin's scan asked for
//! now, when a waiting scan may go (its class has no lock left to apply), and whether a school
//! still has locks to apply (while it does, the scan waits). Kept apart from both so that
//! neither [`super::lock`] nor [`super::share_scan`] needs the other.

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// Why a scan was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ScanReason {
    ClassLock,
    WindowLock,
    Manual,
}

/// Records that a class's folders are to be scanned once its locks are applied (in the caller's
/// transaction, with the lock requests). A scan already waiting for the class covers this one.
pub async fn scan_after_lock(
    tx: &mut SchoolTx,
    course_id: Uuid,
    reason: ScanReason,
    requested_by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO share_scans (course_id, reason, requested_by) VALUES ($1, $2, $3) \
         ON CONFLICT (course_id) WHERE status IN ('waiting', 'queued') DO NOTHING",
    )
    .bind(course_id)
    .bind(reason)
    .bind(requested_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A scan of a class asked for now (School Admin): queued at once, or the one already pending
/// for the class brought forward. Returns its id; queue its job after commit.
pub async fn request_now(
    tx: &mut SchoolTx,
    course_id: Uuid,
    requested_by: Uuid,
) -> Result<i64, sqlx::Error> {
    // One statement, so a class lock adding its own scan at the same moment cannot collide.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO share_scans (course_id, reason, requested_by, status) \
         VALUES ($1, 'manual', $2, 'queued') \
         ON CONFLICT (course_id) WHERE status IN ('waiting', 'queued') \
         DO UPDATE SET status = 'queued', status_at = now() RETURNING id",
    )
    .bind(course_id)
    .bind(requested_by)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        &Actor::Staff(requested_by),
        Action::ShareScanRequested,
        Some(&Target::new("share_scan", id)),
        json!({"course": course_id}),
    )
    .await?;
    Ok(id)
}

/// Moves to `queued` the waiting scans whose class has no lock left to apply — only the class
/// of `portfolio` if given (the lock worker, after each lock), else every class (the sweeper).
/// Returns the scans to queue after commit. Each lock commits before it asks, so the last one
/// to ask always sees every lock of the class applied; the status guard queues each scan once.
pub async fn ready(tx: &mut SchoolTx, portfolio: Option<Uuid>) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE share_scans s SET status = 'queued', status_at = now() \
         WHERE s.status = 'waiting' \
           AND ($1::uuid IS NULL OR s.course_id = (SELECT course_id FROM portfolios WHERE id = $1)) \
           AND NOT EXISTS (SELECT 1 FROM portfolios p WHERE p.course_id = s.course_id \
               AND p.applied_version < p.desired_version AND NOT p.failed_permanently) \
         RETURNING s.id",
    )
    .bind(portfolio)
    .fetch_all(&mut **tx)
    .await
}

/// Whether the school has lock requests still to apply (that have not failed for good): while
/// it does, background Drive work such as the onward-share scan waits.
pub async fn locks_pending(pool: &PgPool, school: &School) -> Result<bool, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let pending = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM portfolios \
             WHERE applied_version < desired_version AND NOT failed_permanently)",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(pending)
}
