//! Which folders windows hold, and the state each folder should be in.
//!
//! A folder should be locked while any active (or held) window covers its class and the
//! student is still in it (unless an Examinations Officer let that student out of that window),
//! or while staff have it locked by hand (`portfolios.locked_by_staff`). Every start, end,
//! cancel and release asks the lock pipeline to move each folder of the window's classes that
//! is not in that state; nothing else is touched. Because the rule is computed from what is
//! stored, a folder is right whatever order windows start and end in: overlapping windows
//! keep it locked until the last ends, and a teacher's earlier lock outlasts them.

use serde_json::json;
use uuid::Uuid;

use super::{Holding, WindowError};
use crate::audit::{self, Action, Actor, Target};
use crate::input::single_line;
use crate::portfolio::lock::{self, Cause, LockState, Requested};
use crate::tenancy::SchoolTx;

/// `p` (a `portfolios` row) is held by at least one window: its class is in an active or
/// held window that has not let this student out, and the student is still in the class.
pub(super) const HELD: &str = "(EXISTS (SELECT 1 FROM window_classes wc \
         JOIN assessment_windows w ON w.id = wc.window_id \
         WHERE wc.course_id = p.course_id AND w.state IN ('active', 'held') \
           AND NOT EXISTS (SELECT 1 FROM window_overrides o \
                           WHERE o.window_id = w.id AND o.portfolio_id = p.id)) \
     AND EXISTS (SELECT 1 FROM enrolments e WHERE e.course_id = p.course_id \
                 AND e.student_id = p.student_id AND e.ended_at IS NULL))";

/// The lock requests windows made: how many were recorded, and those whose folders exist (the
/// lock jobs to queue; a folder made later is made in the requested state).
#[derive(Debug, Default)]
pub struct Requests {
    pub recorded: usize,
    pub to_apply: Vec<Requested>,
}

impl Requests {
    fn add(&mut self, requested: Requested, has_folder: bool) {
        self.recorded += 1;
        if has_folder {
            self.to_apply.push(requested);
        }
    }

    /// The portfolio ids and versions to queue.
    pub fn jobs(&self) -> Vec<(Uuid, i64)> {
        self.to_apply
            .iter()
            .map(|r| (r.portfolio_id, r.version))
            .collect()
    }

    pub fn extend(&mut self, other: Requests) {
        self.recorded += other.recorded;
        self.to_apply.extend(other.to_apply);
    }
}

/// The actor of a window's lock requests: the officer who scheduled it (or, if they are gone,
/// the service).
pub(super) fn window_actor(created_by: Option<Uuid>) -> Actor {
    created_by.map_or(Actor::System("assessment-window"), Actor::Staff)
}

/// Moves every folder of `courses` that is not in the state the rule above gives it, on behalf
/// of window `window` (the cause in the audit log).
pub async fn reconcile(
    tx: &mut SchoolTx,
    actor: &Actor,
    window: Uuid,
    courses: &[Uuid],
) -> Result<Requests, WindowError> {
    let rows: Vec<(Uuid, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.id, (p.locked_by_staff OR {HELD}) AS lock, p.drive_folder_id IS NOT NULL \
         FROM portfolios p \
         WHERE p.course_id = ANY($1) AND (p.locked_by_staff OR {HELD}) <> (p.desired = 'locked') \
         ORDER BY p.course_id, p.id"
    )))
    .bind(courses)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Requests::default();
    for (id, lock, has_folder) in rows {
        let state = if lock {
            LockState::Locked
        } else {
            LockState::Unlocked
        };
        if let Some(r) = lock::request_because(tx, actor, id, state, Cause::Window(window)).await? {
            out.add(r, has_folder);
        }
    }
    Ok(out)
}

/// Locks every held folder that is not locked yet: a student who joined a covered class, a
/// class a selection caught during the window, or what a start cut short left. With
/// `only_without_folders`, just the folders about to be made (so they are made locked).
pub async fn hold(tx: &mut SchoolTx, only_without_folders: bool) -> Result<Requests, WindowError> {
    let rows: Vec<(Uuid, Uuid, Option<Uuid>, bool)> = sqlx::query_as(
        "SELECT DISTINCT ON (p.id) p.id, w.id, w.created_by, p.drive_folder_id IS NOT NULL \
         FROM portfolios p \
         JOIN window_classes wc ON wc.course_id = p.course_id \
         JOIN assessment_windows w ON w.id = wc.window_id \
         JOIN enrolments e ON e.course_id = p.course_id AND e.student_id = p.student_id \
         WHERE w.state IN ('active', 'held') AND p.desired = 'unlocked' AND e.ended_at IS NULL \
           AND NOT ($1 AND p.drive_folder_id IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM window_overrides o \
                           WHERE o.window_id = w.id AND o.portfolio_id = p.id) \
         ORDER BY p.id, w.starts_at",
    )
    .bind(only_without_folders)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Requests::default();
    for (id, window, created_by, has_folder) in rows {
        let actor = window_actor(created_by);
        if let Some(r) =
            lock::request_because(tx, &actor, id, LockState::Locked, Cause::Window(window)).await?
        {
            out.add(r, has_folder);
        }
    }
    Ok(out)
}

/// [`hold`] for the folders about to be made, for provisioning (a database error only).
pub async fn hold_before_folders(tx: &mut SchoolTx) -> Result<usize, sqlx::Error> {
    match hold(tx, true).await {
        Ok(r) => Ok(r.recorded),
        Err(WindowError::Database(e)) => Err(e),
        Err(other) => {
            tracing::error!(error = %other, "holding new folders for a window");
            Ok(0)
        }
    }
}

/// Adds to active windows (`window`, or all) the classes their selections now catch; returns
/// the classes added to each window. A class is never taken away during a window.
pub async fn catch_classes(
    tx: &mut SchoolTx,
    window: Option<Uuid>,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO window_classes (window_id, course_id, chosen) \
         SELECT s.window_id, c.id, false FROM window_selections s \
         JOIN assessment_windows w ON w.id = s.window_id \
         JOIN courses c ON c.active \
              AND (s.subject_id IS NULL OR c.subject_id = s.subject_id) \
              AND (s.year_group IS NULL OR c.year_group = s.year_group) \
         WHERE w.state = 'active' AND ($1::uuid IS NULL OR w.id = $1) \
         ON CONFLICT (window_id, course_id) DO NOTHING \
         RETURNING window_id, course_id",
    )
    .bind(window)
    .fetch_all(&mut **tx)
    .await
}

/// The windows holding folders `p` now (the rule of [`HELD`], one row per folder and window):
/// `FROM` and `WHERE` for the two questions below, which add which folders.
const HOLDING: &str = "FROM portfolios p \
     JOIN window_classes wc ON wc.course_id = p.course_id \
     JOIN assessment_windows w ON w.id = wc.window_id \
     JOIN enrolments e ON e.course_id = p.course_id AND e.student_id = p.student_id \
     WHERE w.state IN ('active', 'held') AND e.ended_at IS NULL \
       AND NOT EXISTS (SELECT 1 FROM window_overrides o \
                       WHERE o.window_id = w.id AND o.portfolio_id = p.id)";

/// The windows holding one student's folder now, soonest end first.
pub async fn holding(tx: &mut SchoolTx, portfolio: Uuid) -> Result<Vec<Holding>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT w.id, w.name, w.ends_at, w.until_released, w.state {HOLDING} \
         AND p.id = $1 ORDER BY w.ends_at, w.id"
    )))
    .bind(portfolio)
    .fetch_all(&mut **tx)
    .await
}

/// One folder held by one window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldFolder {
    pub portfolio_id: Uuid,
    #[sqlx(flatten)]
    pub window: Holding,
}

/// Every folder of class `course` that windows hold now, with each window holding it (soonest
/// end first): what a class page says instead of an Unlock button. One query for the class.
pub async fn holding_in_class(
    tx: &mut SchoolTx,
    course: Uuid,
) -> Result<Vec<HeldFolder>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT p.id AS portfolio_id, w.id, w.name, w.ends_at, w.until_released, w.state \
         {HOLDING} AND p.course_id = $1 ORDER BY p.id, w.ends_at, w.id"
    )))
    .bind(course)
    .fetch_all(&mut **tx)
    .await
}

/// The windows holding a class now, soonest end first.
pub async fn holding_class(tx: &mut SchoolTx, course: Uuid) -> Result<Vec<Holding>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.id, w.name, w.ends_at, w.until_released, w.state FROM window_classes wc \
         JOIN assessment_windows w ON w.id = wc.window_id \
         WHERE wc.course_id = $1 AND w.state IN ('active', 'held') ORDER BY w.ends_at",
    )
    .bind(course)
    .fetch_all(&mut **tx)
    .await
}

/// The longest reason for an override.
pub const REASON_MAX_CHARS: usize = 500;

/// An Examinations Officer unlocks one student's folder inside the windows holding it, with a
/// reason that goes to the audit log (on the request, and on each window's record).
pub async fn override_unlock(
    tx: &mut SchoolTx,
    officer: Uuid,
    portfolio: Uuid,
    reason: &str,
) -> Result<Requested, WindowError> {
    let reason = single_line(reason, REASON_MAX_CHARS).map_err(|e| e.on("reason"))?;
    let windows: Vec<Uuid> = holding(tx, portfolio).await?.iter().map(|h| h.id).collect();
    if windows.is_empty() {
        return Err(WindowError::WrongState(
            "no assessment window holds this student's work now; unlock it as usual".to_owned(),
        ));
    }
    let actor = Actor::Staff(officer);
    for window in &windows {
        sqlx::query(
            "INSERT INTO window_overrides (window_id, portfolio_id, reason, by_staff) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (window_id, portfolio_id) DO NOTHING",
        )
        .bind(window)
        .bind(portfolio)
        .bind(&reason)
        .bind(officer)
        .execute(&mut **tx)
        .await?;
        audit::record(
            tx,
            &actor,
            Action::WindowOverridden,
            Some(&Target::new("window", *window)),
            json!({"portfolio": portfolio, "reason": reason}),
        )
        .await?;
    }
    let cause = Cause::Override {
        windows: &windows,
        reason: &reason,
    };
    lock::request_because(tx, &actor, portfolio, LockState::Unlocked, cause)
        .await?
        .ok_or(WindowError::NotFound)
}
