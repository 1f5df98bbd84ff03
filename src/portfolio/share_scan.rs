//! The onward-share scan. An editor in a Shared Drive can share a file onward, so while a
//! class is unlocked a student may have given someone else access to their work; locking the
//! folder does not take that access away. After a class is locked, its folders' contents are
//! listed and every direct grant on them that is neither ours nor the Drive operator's becomes a
//! finding for the School Admin ([`super::share_findings`]).
//!
//! - A class lock leaves a `waiting` scan in the same transaction (the row is the outbox). When
//!   the last lock of the class is applied, or fails for good, the lock worker moves it to
//!   `queued` and queues its job; the sweeper does the same for any it missed (see
//!   [`super::scan_queue`], which the lock pipeline and this module share).
//! - The scan never delays a lock: before each Drive call it waits while the school has lock
//!   requests not yet applied, so lock jobs have the school's quota to themselves.
//! - It costs one listing per 40 folders per level of subfolders, plus one `permissions.list`
//!   per item that has permissions of its own (`hasAugmentedPermissions`): items that only
//!   inherit (nearly all) cost nothing more.
//! - The folders themselves are not scanned: in a Shared Drive only Managers can share a folder,
//!   and the student's one direct permission on it is the lock itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::scan_queue;
use super::share_findings::{self, Found};
use crate::audit::{self, Action, Actor, Target};
use crate::google::drive::PARENTS_PER_LISTING;
use crate::google::{DriveClient, ErrorClass, GoogleClients, GoogleError};
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// After this many attempts a scan is shown as failed.
pub const MAX_SCAN_ATTEMPTS: i32 = 5;
/// Subfolders deeper than this are not followed (a student's own folder tree).
const MAX_DEPTH: usize = 20;
/// The longest a scan waits, in all, for lock work to finish before going ahead anyway (a lock
/// that keeps failing must not hold the scan back for ever).
const LOCK_YIELD_BUDGET: Duration = Duration::from_secs(300);
/// How often a waiting scan looks again.
const LOCK_YIELD_POLL: Duration = Duration::from_millis(200);
/// A scan still `running` after this long was cut off (a killed worker): it is run again.
const RUNNING_TIMEOUT: Duration = Duration::from_secs(600);

/// Scans to queue again: queued for longer than `older_than` (a lost queue), or cut off while
/// running. A cut-off scan whose class already has another scan waiting is superseded by it;
/// one that has used up its attempts is marked failed.
pub async fn stalled(
    pool: &PgPool,
    school: &School,
    older_than: Duration,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let cut_off = "status = 'running' AND status_at < now() - make_interval(secs => $1)";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE share_scans s SET status = 'superseded', status_at = now() WHERE {cut_off} \
           AND EXISTS (SELECT 1 FROM share_scans o WHERE o.course_id = s.course_id \
               AND o.status IN ('waiting', 'queued'))"
    )))
    .bind(RUNNING_TIMEOUT.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    let failed: Vec<(i64, Uuid)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE share_scans SET status = 'failed', status_at = now(), \
             last_error = coalesce(last_error, 'the scan was cut off too often') \
         WHERE {cut_off} AND attempts >= $2 RETURNING id, course_id"
    )))
    .bind(RUNNING_TIMEOUT.as_secs_f64())
    .bind(MAX_SCAN_ATTEMPTS)
    .fetch_all(&mut *tx)
    .await?;
    for (id, course) in failed {
        audit_failed(&mut tx, id, course, "the scan was cut off too often").await?;
    }
    let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE share_scans SET status = 'queued', status_at = now() \
         WHERE (status = 'queued' AND status_at < now() - make_interval(secs => $2)) \
            OR ({cut_off}) \
         RETURNING id"
    )))
    .bind(RUNNING_TIMEOUT.as_secs_f64())
    .bind(older_than.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// Marks a queued scan failed without running it (for a school with no Shared Drive set, say),
/// so the sweeper does not queue it again and again.
pub async fn fail_queued(
    pool: &PgPool,
    school: &School,
    scan_id: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let failed: Option<Uuid> = sqlx::query_scalar(
        "UPDATE share_scans SET status = 'failed', status_at = now(), last_error = $2 \
         WHERE id = $1 AND status = 'queued' RETURNING course_id",
    )
    .bind(scan_id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(course) = failed {
        audit_failed(&mut tx, scan_id, course, reason).await?;
    }
    tx.commit().await
}

/// The audit entry of a scan given up on.
async fn audit_failed(
    tx: &mut SchoolTx,
    scan_id: i64,
    course_id: Uuid,
    reason: &str,
) -> Result<(), sqlx::Error> {
    audit::record(
        tx,
        &Actor::System("share-scan"),
        Action::ShareScanFailed,
        Some(&Target::new("share_scan", scan_id)),
        json!({"course": course_id, "reason": reason}),
    )
    .await
    .map(drop)
}

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Finished: this many items looked at, Drive requests made, and findings new this time.
    Done {
        items: u32,
        api_calls: u32,
        new_findings: u32,
    },
    /// Not queued (already running elsewhere, done, or unknown), or taken over by another run
    /// while this one worked: nothing recorded.
    NotQueued,
    /// Will be run again by the sweeper.
    Retry(String),
    /// Given up: shown as failed.
    Failed(String),
}

/// Runs scan `scan_id` over the school's Shared Drive `drive_id`.
#[tracing::instrument(skip(pool, google), fields(school = %school.slug))]
pub async fn run(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    drive_id: &str,
    scan_id: i64,
) -> Result<ScanOutcome, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let claimed: Option<(Uuid, i32)> = sqlx::query_as(
        "UPDATE share_scans SET status = 'running', status_at = now(), attempts = attempts + 1 \
         WHERE id = $1 AND status = 'queued' RETURNING course_id, attempts",
    )
    .bind(scan_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((course_id, attempts)) = claimed else {
        tx.commit().await?;
        return Ok(ScanOutcome::NotQueued);
    };
    let folders: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT p.id, p.drive_folder_id FROM portfolios p \
         JOIN enrolments e ON e.course_id = p.course_id AND e.student_id = p.student_id \
             AND e.ended_at IS NULL \
         WHERE p.course_id = $1 AND p.drive_folder_id IS NOT NULL",
    )
    .bind(course_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let portfolios: Vec<Uuid> = folders.iter().map(|(portfolio, _)| *portfolio).collect();
    let mut walk = Walk::new(pool, school, &folders);
    let result = match google.drive(school).await {
        Ok(drive) => walk.run(&drive, drive_id).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(found) => {
            let claim = share_findings::Claim {
                scan_id,
                attempts,
                course_id,
            };
            let recorded = share_findings::record(
                pool,
                school,
                &claim,
                &portfolios,
                walk.items,
                walk.calls,
                &found,
            )
            .await?;
            Ok(match recorded {
                Some(new_findings) => ScanOutcome::Done {
                    items: walk.items,
                    api_calls: walk.calls,
                    new_findings,
                },
                None => ScanOutcome::NotQueued,
            })
        }
        Err(e) => {
            let permanent = matches!(
                e.class(),
                ErrorClass::NeedsReconnect | ErrorClass::Permanent
            ) || attempts >= MAX_SCAN_ATTEMPTS;
            let reason = e.to_string();
            let mut tx = begin_school_tx(pool, school).await?;
            // Only this run's claim (a scan re-queued as cut off may be running elsewhere); a
            // retry gives way to a scan already waiting for the class.
            let status: Option<String> = sqlx::query_scalar(
                "UPDATE share_scans s SET status_at = now(), last_error = $3, \
                     api_calls = api_calls + $4, status = CASE WHEN $2 THEN 'failed' \
                         WHEN EXISTS (SELECT 1 FROM share_scans o WHERE o.course_id = s.course_id \
                             AND o.status IN ('waiting', 'queued')) THEN 'superseded' \
                         ELSE 'queued' END \
                 WHERE id = $1 AND status = 'running' AND attempts = $5 RETURNING status",
            )
            .bind(scan_id)
            .bind(permanent)
            .bind(&reason)
            .bind(walk.calls as i32)
            .bind(attempts)
            .fetch_optional(&mut *tx)
            .await?;
            if status.is_none() {
                return Ok(ScanOutcome::NotQueued);
            }
            if permanent {
                audit_failed(&mut tx, scan_id, course_id, &reason).await?;
            }
            tx.commit().await?;
            Ok(if permanent {
                ScanOutcome::Failed(reason)
            } else {
                ScanOutcome::Retry(reason)
            })
        }
    }
}

/// One scan's walk down the class's folders.
struct Walk<'a> {
    pool: &'a PgPool,
    school: &'a School,
    /// Every item reached → the portfolio it lies in.
    portfolio_of: HashMap<String, Uuid>,
    items: u32,
    calls: u32,
    yielded: Duration,
}

impl<'a> Walk<'a> {
    fn new(pool: &'a PgPool, school: &'a School, folders: &[(Uuid, String)]) -> Self {
        Self {
            pool,
            school,
            portfolio_of: folders
                .iter()
                .map(|(portfolio, folder)| (folder.clone(), *portfolio))
                .collect(),
            items: 0,
            calls: 0,
            yielded: Duration::ZERO,
        }
    }

    /// Lists every level of the portfolio folders' contents, then the permissions of each item
    /// that has its own; returns the grants that are not ours.
    async fn run(
        &mut self,
        drive: &DriveClient,
        drive_id: &str,
    ) -> Result<Vec<Found>, GoogleError> {
        let operator = drive.account().to_ascii_lowercase();
        let mut level: Vec<String> = self.portfolio_of.keys().cloned().collect();
        let mut augmented = Vec::new();
        for _ in 0..MAX_DEPTH {
            if level.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for parents in level.chunks(PARENTS_PER_LISTING) {
                self.yield_to_locks().await;
                let (children, calls) = drive.children_of(drive_id, parents).await?;
                self.calls += calls;
                for item in children {
                    let Some(portfolio) = item
                        .parents
                        .iter()
                        .find_map(|p| self.portfolio_of.get(p).copied())
                    else {
                        continue;
                    };
                    if self
                        .portfolio_of
                        .insert(item.id.clone(), portfolio)
                        .is_some()
                    {
                        continue; // reached twice (an item with two parents)
                    }
                    self.items += 1;
                    if item.is_folder {
                        next.push(item.id.clone());
                    }
                    if item.has_direct_permissions {
                        augmented.push((portfolio, item));
                    }
                }
            }
            level = next;
        }
        let mut found = Vec::new();
        for (portfolio, item) in augmented {
            self.yield_to_locks().await;
            self.calls += 1;
            let permissions = match drive.list_permissions(&item.id).await {
                Ok(p) => p,
                // Deleted since it was listed: nothing is shared any more.
                Err(e) if e.class() == ErrorClass::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Every direct grant counts, the student's own included: a direct writer grant on a
            // file would let them edit it while their folder is locked.
            for p in permissions {
                if p.inherited
                    || p.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&operator))
                {
                    continue;
                }
                found.push(Found {
                    portfolio_id: portfolio,
                    item_id: item.id.clone(),
                    item_name: item.name.clone(),
                    permission_id: p.id,
                    grantee_type: p.kind,
                    grantee: p.email.or(p.domain),
                    role: p.role.as_str().to_owned(),
                });
            }
        }
        Ok(found)
    }

    /// Waits while the school has lock requests waiting to be applied, so that the scan's calls
    /// never take the quota a lock needs; gives up waiting after [`LOCK_YIELD_BUDGET`] in all.
    async fn yield_to_locks(&mut self) {
        while self.yielded < LOCK_YIELD_BUDGET {
            match scan_queue::locks_pending(self.pool, self.school).await {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not check for lock work; scanning on");
                    return;
                }
            }
            let started = Instant::now();
            tokio::time::sleep(LOCK_YIELD_POLL).await;
            self.yielded += started.elapsed();
        }
    }
}
