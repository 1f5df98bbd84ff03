//! The retention run: once a day per school, what the school no longer needs is deleted, after
//! its retention period (`retention_months`, 1–120, default 36) since the last activity.
//!
//! What goes (one function, [`due`], decides; the preview and the run both use it, so they
//! cannot differ):
//! - students with no current enrolment whose last activity (their row's last change, their
//!   last enrolment's end, their portfolios' last change) is older than the period, with
//!   everything hanging off them (enrolments, portfolios, findings and overrides on those);
//! - staff with no role, teaching no active class and holding no Google grant, who left more
//!   than 30 days ago (`left_at`, see `privacy::leavers`) or whose last activity (row change,
//!   sign-in, leaving) is older than the period; a grant keeps its holder (the Drive operator's
//!   account, say), and a leaver's grant is deleted once revoked;
//! - onward-share findings that are settled (removed, kept, gone) and were last decided or
//!   seen before the period;
//! - sync runs that started before the period, except the latest (the sync page shows it);
//! - invitations past their expiry (30 days after a School Admin made them);
//! - erasure tombstones Classroom has not shown for the period (the student has left it).
//!
//! Exactly once per school per (Europe/London) day however many workers tick: the run starts by
//! inserting the day's row in `platform.retention_runs`, and only the process whose insert wins
//! goes on. The counts go to the school's audit log (`RetentionPurged`), never names.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor};
use crate::roster::store::{hold_students, in_a_live_class};
use crate::tenancy::daily_runs::{DailyRuns, schools_due_today};
use crate::tenancy::settings::{self, SettingsError};
use crate::tenancy::{School, SchoolStatus, SchoolTx, begin_school_tx};

/// Days after leaving before a leaver's staff row is deleted.
pub const LEAVER_DAYS: i32 = 30;

/// Why a retention preview or run failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A person the run would delete, by name for the School Admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DuePerson {
    pub id: Uuid,
    pub name: String,
    /// Their last activity, as the rule above measures it.
    pub last_activity: DateTime<Utc>,
    /// When they left (staff only).
    pub left_at: Option<DateTime<Utc>>,
}

/// Everything the next run would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub retention_months: i32,
    /// Activity before this is past the retention period.
    pub cutoff: DateTime<Utc>,
    pub students: Vec<DuePerson>,
    pub staff: Vec<DuePerson>,
    #[serde(skip)]
    pub share_findings: Vec<Uuid>,
    #[serde(skip)]
    pub share_scans: Vec<i64>,
    #[serde(skip)]
    pub sync_runs: Vec<i64>,
    #[serde(skip)]
    pub invitations: Vec<Uuid>,
    #[serde(skip)]
    pub tombstones: Vec<String>,
    pub counts: Counts,
}

/// How many of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub students: usize,
    pub staff: usize,
    pub share_findings: usize,
    pub share_scans: usize,
    pub sync_runs: usize,
    pub invitations: usize,
    pub tombstones: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.students
            + self.staff
            + self.share_findings
            + self.share_scans
            + self.sync_runs
            + self.invitations
            + self.tombstones
    }
}

/// A member of staff nothing needs: no role, teaching no active class, holding no Google grant
/// (the Drive operator's account may hold no role). `s` is the staff row. Shared by `due` and
/// `purge`.
macro_rules! staff_unused {
    () => {
        "NOT EXISTS (SELECT 1 FROM role_assignments r WHERE r.staff_id = s.id) \
         AND NOT EXISTS (SELECT 1 FROM course_teachers ct JOIN courses c ON c.id = ct.course_id \
                         WHERE ct.staff_id = s.id AND c.active) \
         AND NOT EXISTS (SELECT 1 FROM google_credentials g WHERE g.staff_id = s.id)"
    };
}

/// What the next run would delete from this school, with `retention_months` as the period.
#[tracing::instrument(skip(tx), fields(school = %tx.school_id()))]
pub async fn due(tx: &mut SchoolTx, retention_months: i32) -> Result<Due, sqlx::Error> {
    let (cutoff, leavers_before): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT now() - make_interval(months => $1), now() - make_interval(days => $2)",
    )
    .bind(retention_months)
    .bind(LEAVER_DAYS)
    .fetch_one(&mut **tx)
    .await?;
    let students: Vec<DuePerson> = sqlx::query_as(concat!(
        "SELECT id, name, last_activity, NULL::timestamptz AS left_at FROM ( \
             SELECT s.id, \
                 coalesce(nullif(btrim(concat_ws(' ', s.given_name, s.family_name)), ''), \
                          s.email, s.classroom_user_id) AS name, \
                 greatest(s.updated_at, \
                          (SELECT max(coalesce(e.ended_at, c.updated_at)) FROM enrolments e \
                           JOIN courses c ON c.id = e.course_id WHERE e.student_id = s.id), \
                          (SELECT max(p.updated_at) FROM portfolios p WHERE p.student_id = s.id) \
                 ) AS last_activity \
             FROM students s WHERE ",
        "NOT ",
        in_a_live_class!(),
        " \
         ) x WHERE last_activity < $1 ORDER BY name, id",
    ))
    .bind(cutoff)
    .fetch_all(&mut **tx)
    .await?;
    let staff: Vec<DuePerson> = sqlx::query_as(concat!(
        "SELECT id, name, last_activity, left_at FROM ( \
             SELECT s.id, coalesce(nullif(btrim(s.display_name), ''), s.email) AS name, s.left_at, \
                 greatest(s.updated_at, s.last_signed_in_at, s.left_at) AS last_activity \
             FROM staff s WHERE ",
        staff_unused!(),
        " \
         ) x WHERE left_at < $2 OR last_activity < $1 ORDER BY name, id",
    ))
    .bind(cutoff)
    .bind(leavers_before)
    .fetch_all(&mut **tx)
    .await?;
    let share_findings: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM share_findings WHERE status IN ('removed', 'kept', 'gone') \
           AND coalesce(decided_at, last_seen_at) < $1 ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(&mut **tx)
    .await?;
    // Finished onward-share checks, except each class's latest, which the sharing page shows.
    let share_scans: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM share_scans s WHERE status IN ('done', 'failed', 'superseded') \
           AND status_at < $1 \
           AND id <> (SELECT max(id) FROM share_scans l WHERE l.course_id = s.course_id) \
         ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(&mut **tx)
    .await?;
    let sync_runs: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM sync_runs WHERE started_at < $1 \
           AND id <> (SELECT max(id) FROM sync_runs) ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(&mut **tx)
    .await?;
    let invitations: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM role_invitations WHERE expires_at < now() ORDER BY id")
            .fetch_all(&mut **tx)
            .await?;
    let tombstones: Vec<String> = sqlx::query_scalar(
        "SELECT classroom_user_id FROM erased_classroom_users WHERE last_seen_at < $1 \
         ORDER BY classroom_user_id",
    )
    .bind(cutoff)
    .fetch_all(&mut **tx)
    .await?;
    let counts = Counts {
        students: students.len(),
        staff: staff.len(),
        share_findings: share_findings.len(),
        share_scans: share_scans.len(),
        sync_runs: sync_runs.len(),
        invitations: invitations.len(),
        tombstones: tombstones.len(),
    };
    Ok(Due {
        retention_months,
        cutoff,
        students,
        staff,
        share_findings,
        share_scans,
        sync_runs,
        invitations,
        tombstones,
        counts,
    })
}

/// What the next run would delete, as the preview shows it (the school's own period).
pub async fn preview(pool: &PgPool, school: &School) -> Result<Due, RetentionError> {
    let months = settings::read(pool, school.id).await?.retention_months;
    let mut tx = begin_school_tx(pool, school).await?;
    let due = due(&mut tx, months).await?;
    tx.commit().await?;
    Ok(due)
}

/// Deletes exactly `due`, in the caller's transaction, and audits the counts of what went.
pub async fn purge(tx: &mut SchoolTx, due: &Due) -> Result<Counts, sqlx::Error> {
    let ids = |people: &[DuePerson]| people.iter().map(|p| p.id).collect::<Vec<_>>();
    // Each person is checked again as they are deleted: a student is never deleted while in a
    // class (sync's student writes wait for this run, see `run_daily`), nor a member of staff
    // who has just been given a role or a grant, which would go with them unrevoked.
    // Students first: their findings go with their portfolios.
    let students = sqlx::query(concat!(
        "DELETE FROM students s WHERE s.id = ANY($1) AND ",
        "NOT ",
        in_a_live_class!()
    ))
    .bind(ids(&due.students))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let staff = sqlx::query(concat!(
        "DELETE FROM staff s WHERE s.id = ANY($1) AND ",
        staff_unused!()
    ))
    .bind(ids(&due.staff))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    for (sql, what) in [
        (
            "DELETE FROM share_findings WHERE id = ANY($1)",
            due.share_findings.clone(),
        ),
        (
            "DELETE FROM role_invitations WHERE id = ANY($1)",
            due.invitations.clone(),
        ),
    ] {
        sqlx::query(sql).bind(what).execute(&mut **tx).await?;
    }
    for (sql, ids) in [
        (
            "DELETE FROM share_scans WHERE id = ANY($1)",
            &due.share_scans,
        ),
        ("DELETE FROM sync_runs WHERE id = ANY($1)", &due.sync_runs),
    ] {
        sqlx::query(sql).bind(ids).execute(&mut **tx).await?;
    }
    sqlx::query("DELETE FROM erased_classroom_users WHERE classroom_user_id = ANY($1)")
        .bind(&due.tombstones)
        .execute(&mut **tx)
        .await?;
    let deleted = Counts {
        students: students as usize,
        staff: staff as usize,
        ..due.counts
    };
    audit::record(
        tx,
        &Actor::System("retention"),
        Action::RetentionPurged,
        None,
        json!({"retention_months": due.retention_months, "deleted": deleted}),
    )
    .await?;
    Ok(deleted)
}

/// Today's run for one school, unless a process has already claimed today's: `None` then.
/// The claim is one INSERT; a concurrent one waits for it and finds the day taken.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn run_daily(pool: &PgPool, school: &School) -> Result<Option<Counts>, RetentionError> {
    let claimed: Option<chrono::NaiveDate> = sqlx::query_scalar(
        "INSERT INTO platform.retention_runs (tenant_id, run_on) \
         VALUES ($1, (now() AT TIME ZONE 'Europe/London')::date) \
         ON CONFLICT DO NOTHING RETURNING run_on",
    )
    .bind(school.id)
    .fetch_optional(pool)
    .await?;
    let Some(day) = claimed else {
        return Ok(None);
    };
    let result = async {
        let months = settings::read(pool, school.id).await?.retention_months;
        let mut tx = begin_school_tx(pool, school).await?;
        // Roster sync's and erasure's student writes wait until this run commits, so no student
        // joins a class between what `due` found and what `purge` deletes.
        hold_students(&mut tx).await?;
        let due = due(&mut tx, months).await?;
        let counts = purge(&mut tx, &due).await?;
        tx.commit().await?;
        Ok::<_, RetentionError>(counts)
    }
    .await;
    // The day stays claimed even after a failure: tomorrow's run catches up, and a failing
    // school is not retried every 30 seconds.
    let (counts, error) = match &result {
        Ok(c) => (Some(json!(c)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    sqlx::query(
        "UPDATE platform.retention_runs SET finished_at = now(), counts = $3, error = $4 \
         WHERE tenant_id = $1 AND run_on = $2",
    )
    .bind(school.id)
    .bind(day)
    .bind(counts)
    .bind(error)
    .execute(pool)
    .await?;
    let counts = result?;
    tracing::info!(deleted = counts.total(), "retention run done");
    Ok(Some(counts))
}

/// Runs today's retention for every active school that has not had it yet (the worker's timer
/// calls this on each tick; only the first claim of each school's day does anything).
pub async fn run_due(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let due = schools_due_today(pool, DailyRuns::Retention).await?;
    let mut ran = 0;
    for school in due.iter().filter(|s| s.status == SchoolStatus::Active) {
        match run_daily(pool, school).await {
            Ok(Some(_)) => ran += 1,
            Ok(None) => {}
            Err(e) => tracing::error!(school = %school.slug, error = %e, "retention run failed"),
        }
    }
    Ok(ran)
}
