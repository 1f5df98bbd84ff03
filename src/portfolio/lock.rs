//! Locking and unlocking a portfolio: the student's one direct permission on their folder is
//! switched between writer (unlocked) and reader (locked).
//!
//! Nothing is lost between a click and Drive:
//! 1. a request bumps the row's `desired` + `desired_version` and appends an audit entry in ONE
//!    transaction (the row is the outbox), and a job is queued after it commits;
//! 2. the job applies the **latest** desired state — quick lock/unlock/lock clicks coalesce into
//!    one Drive call — under a per-folder lock (Drive keeps only the last of concurrent changes
//!    to one item), then records `applied` + `applied_version` and an audit entry "applied"
//!    (or "failed" with the classified reason);
//! 3. re-running a job is harmless, and the sweeper re-queues any row whose applied version lags,
//!    so a lost queue or a killed worker loses nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::scan_queue::{self, ScanReason};
use crate::audit::{self, Action, Actor, Target};
use crate::google::credentials::{self, MAX_DRIVE_OPERATORS};
use crate::google::drive::DriveRole;
use crate::google::{DriveClient, ErrorClass, GoogleClients, GoogleError};
use crate::lease::Leases;
use crate::tenancy::{School, SchoolTx, begin_school_tx, settings};

/// After this many failed attempts a request is shown as failed and no longer retried.
pub const MAX_ATTEMPTS: i32 = 8;

/// Whether the student may edit their folder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum LockState {
    Locked,
    Unlocked,
}

impl LockState {
    /// The Drive role the student holds in this state.
    pub fn role(self) -> DriveRole {
        match self {
            Self::Locked => DriveRole::Reader,
            Self::Unlocked => DriveRole::Writer,
        }
    }

    /// The audit log's name for this state reaching Drive.
    pub fn applied_action(self) -> Action {
        self.audit(Stage::Applied)
    }

    /// The audit log's name for a request for this state reaching `stage`.
    fn audit(self, stage: Stage) -> Action {
        match (self, stage) {
            (Self::Locked, Stage::Requested) => Action::LockRequested,
            (Self::Unlocked, Stage::Requested) => Action::UnlockRequested,
            (Self::Locked, Stage::Applied) => Action::LockApplied,
            (Self::Unlocked, Stage::Applied) => Action::UnlockApplied,
            (Self::Locked, Stage::Failed) => Action::LockFailed,
            (Self::Unlocked, Stage::Failed) => Action::UnlockFailed,
        }
    }
}

/// How far a lock or unlock request has got.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Requested,
    Applied,
    Failed,
}

/// A request that was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Requested {
    pub portfolio_id: Uuid,
    pub version: i64,
    pub desired: LockState,
    /// Where the folder stands now the request is recorded, for live status (read back by the
    /// same `UPDATE`, so publishing it costs no further query).
    #[serde(skip)]
    pub status: super::live::PortfolioStatus,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no such portfolio")]
    NotFound,
    #[error("this student's folder has not been made yet; it appears after the next roster sync")]
    NoFolder,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Why a lock or unlock is asked for: it decides whether the request becomes the folder's
/// standing lock by hand, and what the audit entry says.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// A click by staff: it becomes (or clears) the standing lock by hand, which a window's end
    /// returns the folder to.
    Staff,
    /// An assessment window starting, ending or taking in a student. Asks only for a change
    /// (a folder already in that state is left alone, so two workers never both ask) and may
    /// be recorded before the folder exists: the folder is then made in that state.
    Window(Uuid),
    /// An Examinations Officer letting one student out of the windows holding their folder.
    Override {
        windows: &'a [Uuid],
        reason: &'a str,
    },
}

/// Records a lock or unlock of one portfolio by staff (in the caller's transaction).
pub async fn request(
    tx: &mut SchoolTx,
    actor: &Actor,
    portfolio_id: Uuid,
    desired: LockState,
) -> Result<Requested, RequestError> {
    request_because(tx, actor, portfolio_id, desired, Cause::Staff)
        .await?
        .ok_or(RequestError::NoFolder)
}

/// Records a lock or unlock of one portfolio for `cause`. `None`: a window asked for the state
/// the folder is already in, so nothing was recorded.
pub async fn request_because(
    tx: &mut SchoolTx,
    actor: &Actor,
    portfolio_id: Uuid,
    desired: LockState,
    cause: Cause<'_>,
) -> Result<Option<Requested>, RequestError> {
    let by_window = matches!(cause, Cause::Window(_));
    let status: Option<super::live::PortfolioStatus> = sqlx::query_as(
        "UPDATE portfolios SET desired = $2, desired_version = desired_version + 1, desired_at = now(), \
             attempts = 0, failed_permanently = false, last_error = NULL, updated_at = now(), \
             locked_by_staff = CASE WHEN $3 THEN locked_by_staff ELSE $2 = 'locked' END \
         WHERE id = $1 AND (drive_folder_id IS NOT NULL OR $3) AND (desired <> $2 OR NOT $3) \
         RETURNING id AS portfolio_id, course_id, desired, desired_version, applied, \
             applied_version, failed_permanently AS failed, last_error",
    )
    .bind(portfolio_id)
    .bind(desired)
    .bind(by_window)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(status) = status else {
        if by_window {
            return Ok(None);
        }
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM portfolios WHERE id = $1)")
                .bind(portfolio_id)
                .fetch_one(&mut **tx)
                .await?;
        return Err(if exists {
            RequestError::NoFolder
        } else {
            RequestError::NotFound
        });
    };
    let version = status.desired_version;
    let details = match cause {
        Cause::Staff => json!({"version": version}),
        Cause::Window(window) => json!({"version": version, "window": window}),
        Cause::Override { windows, reason } => {
            json!({"version": version, "override_of": windows, "reason": reason})
        }
    };
    audit::record(
        tx,
        actor,
        desired.audit(Stage::Requested),
        Some(&Target::new("portfolio", portfolio_id)),
        details,
    )
    .await?;
    Ok(Some(Requested {
        portfolio_id,
        version,
        desired,
        status,
    }))
}

/// Records a lock or unlock of every current student's portfolio in a class that has a folder;
/// a lock also leaves an onward-share scan of the class to run once the locks are applied.
pub async fn request_class(
    tx: &mut SchoolTx,
    actor: &Actor,
    course_id: Uuid,
    desired: LockState,
) -> Result<Vec<Requested>, RequestError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT p.id FROM portfolios p JOIN enrolments e \
             ON e.course_id = p.course_id AND e.student_id = p.student_id AND e.ended_at IS NULL \
         WHERE p.course_id = $1 AND p.drive_folder_id IS NOT NULL ORDER BY p.id",
    )
    .bind(course_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut requested = Vec::with_capacity(ids.len());
    for id in ids {
        requested.push(request(tx, actor, id, desired).await?);
    }
    if desired == LockState::Locked && !requested.is_empty() {
        let by = match actor {
            Actor::Staff(id) => Some(*id),
            _ => None,
        };
        scan_queue::scan_after_lock(tx, course_id, ScanReason::ClassLock, by).await?;
    }
    Ok(requested)
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    desired: LockState,
    desired_version: i64,
    applied_version: i64,
    drive_folder_id: Option<String>,
    permission_id: Option<String>,
    email: Option<String>,
    attempts: i32,
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Drive now matches version `version`.
    Done { version: i64, state: LockState },
    /// Already applied (an older job, or a repeat).
    AlreadyCurrent,
    /// Will be retried (by the sweeper).
    Retry(String),
    /// Google is not answering (its circuit is open): not an attempt, tried again after the
    /// given wait.
    Deferred(Duration),
    /// Given up: shown as failed, not retried until someone asks again.
    Failed(String),
    /// Another worker is working on this folder right now.
    Busy,
}

/// Applies a portfolio's latest desired state to Drive.
#[tracing::instrument(skip(pool, google, leases), fields(school = %school.slug))]
pub async fn apply(
    pool: &PgPool,
    google: &GoogleClients,
    leases: &Leases,
    school: &School,
    portfolio_id: Uuid,
) -> Result<Applied, sqlx::Error> {
    // One change per folder at a time: Drive keeps only the last of concurrent changes. The
    // lock outlives one Drive call with its retries, and no more: a killed worker's folders
    // wait at most this long for the sweeper.
    let Ok(lock) = leases
        .acquire(
            &format!("portfolio:{portfolio_id}"),
            Duration::from_secs(30),
            Duration::from_secs(5),
        )
        .await
    else {
        return Ok(Applied::Busy);
    };
    // A request that arrived while this worker was at Drive is applied before letting go, so
    // a job that found the folder busy never leaves it behind.
    let mut result = apply_locked(pool, google, school, portfolio_id).await;
    for _ in 0..3 {
        match &result {
            Ok(Applied::Done { .. }) => {
                let again = apply_locked(pool, google, school, portfolio_id).await;
                match again {
                    Ok(Applied::AlreadyCurrent) => break,
                    other => result = other,
                }
            }
            _ => break,
        }
    }
    lock.release().await;
    result
}

async fn apply_locked(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    id: Uuid,
) -> Result<Applied, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let row = sqlx::query_as::<_, Row>(
        "SELECT p.desired, p.desired_version, p.applied_version, p.drive_folder_id, p.permission_id, \
                s.email, p.attempts \
         FROM portfolios p JOIN students s ON s.id = p.student_id WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(row) = row else {
        return Ok(Applied::AlreadyCurrent);
    };
    if row.applied_version >= row.desired_version {
        return Ok(Applied::AlreadyCurrent);
    }
    let (Some(folder), Some(email)) = (row.drive_folder_id.clone(), row.email.clone()) else {
        return fail(
            pool,
            school,
            id,
            &row,
            "the folder or the student's email is missing",
            true,
        )
        .await;
    };

    let outcome = switch(
        pool,
        google,
        school,
        &folder,
        row.permission_id.as_deref(),
        &email,
        row.desired,
    )
    .await;
    match outcome {
        Ok(Switched {
            permission_id,
            operator,
        }) => {
            let mut tx = begin_school_tx(pool, school).await?;
            let updated = sqlx::query(
                "UPDATE portfolios SET applied = $2, applied_version = $3, applied_at = now(), \
                     permission_id = $4, attempts = 0, last_error = NULL, updated_at = now() \
                 WHERE id = $1 AND applied_version < $3",
            )
            .bind(id)
            .bind(row.desired)
            .bind(row.desired_version)
            .bind(&permission_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                audit::record(
                    &mut tx,
                    &Actor::System("lock-worker"),
                    row.desired.audit(Stage::Applied),
                    Some(&Target::new("portfolio", id)),
                    // The Drive operator account that made the change, by its credential id.
                    json!({"version": row.desired_version, "operator": operator}),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Applied::Done {
                version: row.desired_version,
                state: row.desired,
            })
        }
        Err(GoogleError::Unavailable { retry_in, op }) => {
            let reason = GoogleError::Unavailable { op, retry_in }.to_string();
            defer(pool, school, id, &row, &reason, retry_in).await
        }
        Err(e) => {
            let permanent = matches!(
                e.class(),
                ErrorClass::NeedsReconnect | ErrorClass::Permanent
            ) || row.attempts + 1 >= MAX_ATTEMPTS;
            fail(pool, school, id, &row, &e.to_string(), permanent).await
        }
    }
}

/// What a switch did in Drive.
struct Switched {
    permission_id: String,
    /// The Drive operator account (credential id) that made the change.
    operator: Uuid,
}

/// Switches the student's direct permission as one of the school's Drive operator accounts
/// (whichever has room). An account Google refuses, or that no longer manages the Shared Drive,
/// is set aside (see [`crate::google::credentials::mark_needs_reconnect`]) and the change goes
/// to another, so one revoked account among several costs a cohort nothing; with none left, the
/// refusal is the answer.
async fn switch(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    folder: &str,
    permission_id: Option<&str>,
    email: &str,
    desired: LockState,
) -> Result<Switched, GoogleError> {
    let mut refused = None;
    for _ in 0..MAX_DRIVE_OPERATORS {
        // Fails with the refusal itself once no account is left.
        let drive = google.drive(school).await?;
        let result = switch_as(&drive, folder, permission_id, email, desired).await;
        let set_aside = match &result {
            Err(e) if e.class() == ErrorClass::NeedsReconnect => true,
            // Drive answers an account that is no longer a member of the Shared Drive as if
            // the folder were gone: ask whether the account still manages the drive.
            Err(e) if matches!(e.class(), ErrorClass::NotFound | ErrorClass::Permanent) => {
                no_longer_manages(pool, school, &drive).await
            }
            _ => false,
        };
        match result {
            Err(e) if set_aside => {
                tracing::warn!(operator = %drive.operator_id(), error = %e, "a Drive account was refused; the change goes to another");
                refused = Some(e);
            }
            other => {
                return other.map(|permission_id| Switched {
                    permission_id,
                    operator: drive.operator_id(),
                });
            }
        }
    }
    Err(refused.unwrap_or(GoogleError::NoDriveOperator { op: "lock" }))
}

/// Whether the account `drive` acts as has been found no longer to manage the school's Shared
/// Drive, in which case it is set aside (see
/// [`crate::google::credentials::mark_needs_reconnect`]) so that no more work goes to it.
/// `false` when it still manages it, or when that cannot be told now.
async fn no_longer_manages(pool: &PgPool, school: &School, drive: &DriveClient) -> bool {
    let Ok(Some(drive_id)) = settings::read(pool, school.id)
        .await
        .map(|s| s.shared_drive_id)
    else {
        return false;
    };
    let manages = match drive.shared_drive(&drive_id).await {
        Ok(found) => found.operator_is_manager,
        Err(e) if e.class() == ErrorClass::NotFound => false,
        Err(_) => return false,
    };
    if manages {
        return false;
    }
    let recorded = async {
        let mut tx = begin_school_tx(pool, school).await?;
        credentials::mark_needs_reconnect(
            &mut tx,
            drive.operator_id(),
            "it is no longer a Manager of the school's Shared Drive",
            None,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, credentials::CredentialError>(())
    }
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not set aside a Drive account that no longer manages the Shared Drive");
    }
    true
}

/// Switches the permission with one call, using the stored id; if Drive says it is gone, finds
/// or makes it again. Returns the permission id.
async fn switch_as(
    drive: &DriveClient,
    folder: &str,
    permission_id: Option<&str>,
    email: &str,
    desired: LockState,
) -> Result<String, GoogleError> {
    if let Some(permission) = permission_id {
        match drive
            .set_permission_role(folder, permission, desired.role())
            .await
        {
            Ok(()) => return Ok(permission.to_owned()),
            Err(e) if e.class() == ErrorClass::NotFound => {
                tracing::warn!(folder, "the student's permission was gone; making it again");
            }
            Err(e) => return Err(e),
        }
    }
    drive
        .ensure_user_permission(folder, email, desired.role())
        .await
}

async fn fail(
    pool: &PgPool,
    school: &School,
    id: Uuid,
    row: &Row,
    reason: &str,
    permanent: bool,
) -> Result<Applied, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    sqlx::query(
        "UPDATE portfolios SET attempts = attempts + 1, last_error = $2, failed_permanently = $3, \
             updated_at = now() WHERE id = $1 AND desired_version = $4",
    )
    .bind(id)
    .bind(reason)
    .bind(permanent)
    .bind(row.desired_version)
    .execute(&mut *tx)
    .await?;
    if permanent {
        audit::record(
            &mut tx,
            &Actor::System("lock-worker"),
            row.desired.audit(Stage::Failed),
            Some(&Target::new("portfolio", id)),
            json!({"version": row.desired_version, "reason": reason}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(if permanent {
        Applied::Failed(reason.to_owned())
    } else {
        Applied::Retry(reason.to_owned())
    })
}

/// Notes why a change waits while Google is not answering, without counting an attempt: a
/// long outage must not turn waiting requests into failures a person has to repeat.
async fn defer(
    pool: &PgPool,
    school: &School,
    id: Uuid,
    row: &Row,
    reason: &str,
    retry_in: Duration,
) -> Result<Applied, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    sqlx::query(
        "UPDATE portfolios SET last_error = $2, updated_at = now() \
         WHERE id = $1 AND desired_version = $3",
    )
    .bind(id)
    .bind(reason)
    .bind(row.desired_version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Applied::Deferred(retry_in))
}

/// Portfolios whose applied version has lagged behind for longer than `older_than` and that
/// have not failed for good: the sweeper queues them again.
pub async fn lagging(
    pool: &PgPool,
    school: &School,
    older_than: Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let ids = sqlx::query_scalar(
        "SELECT id FROM portfolios WHERE applied_version < desired_version AND NOT failed_permanently \
             AND drive_folder_id IS NOT NULL AND desired_at < now() - make_interval(secs => $1) ORDER BY desired_at LIMIT 5000",
    )
    .bind(older_than.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}
