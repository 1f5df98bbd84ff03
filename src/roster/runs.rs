//! The record of roster syncs (`sync_runs`), as the School Admin reads it: the latest runs, what
//! each one's errors were about, and when the next timed sync is due.
//!
//! A run's errors are stored as short texts naming staff and courses by id, never by address
//! (the table is kept); [`Problem::parse`] reads back the shapes [`super::sync_school`] writes,
//! so a page can name the person or class.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::tenancy::SchoolTx;

/// One roster sync as recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SyncRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `timer`, `sign_in`, `manual` or `cli` (see [`super::Trigger`]).
    pub trigger: String,
    pub courses: i32,
    pub added: i32,
    pub updated: i32,
    pub ended: i32,
    pub api_calls: i32,
    pub duration_ms: i32,
    pub errors: sqlx::types::Json<Vec<String>>,
    pub skipped: sqlx::types::Json<SkippedCounts>,
}

/// What a run left out as not the school's (the counts of `sync_runs.skipped`; runs from before
/// it was recorded read as nothing skipped).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SkippedCounts {
    #[serde(default)]
    pub other_domain_courses: i64,
    #[serde(default)]
    pub outside_students: i64,
    /// Erased students Classroom still lists (`privacy::erasure`).
    #[serde(default)]
    pub erased_students: i64,
}

impl SyncRun {
    /// What went wrong, each error read back into who or what it was about.
    pub fn problems(&self) -> Vec<Problem> {
        self.errors.0.iter().map(|e| Problem::parse(e)).collect()
    }
}

/// One error of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A member of staff whose Google account must be connected again (their grant was refused).
    StaffReconnect(Uuid),
    /// A member of staff whose class list Classroom did not give.
    StaffCoursesUnread(Uuid),
    /// A class (by Classroom id) that could not be read from Classroom.
    CourseUnread { classroom_id: String },
    /// A class (by Classroom id) that was read but could not be saved.
    CourseNotSaved { classroom_id: String },
    /// Anything else, as recorded.
    Other(String),
}

impl Problem {
    /// Reads one recorded error (`staff <id>: reconnect needed`, `staff <id>: courses could not
    /// be read (…)`, `course <id>: not saved`, `course <id>: <Google's error>`).
    pub fn parse(recorded: &str) -> Self {
        if let Some(rest) = recorded.strip_prefix("staff ")
            && let Some((id, what)) = rest.split_once(": ")
            && let Ok(id) = Uuid::parse_str(id)
        {
            if what == "reconnect needed" {
                return Self::StaffReconnect(id);
            }
            if what.starts_with("courses could not be read") {
                return Self::StaffCoursesUnread(id);
            }
        }
        if let Some(rest) = recorded.strip_prefix("course ")
            && let Some((id, what)) = rest.split_once(": ")
        {
            let classroom_id = id.to_owned();
            return if what == "not saved" {
                Self::CourseNotSaved { classroom_id }
            } else {
                Self::CourseUnread { classroom_id }
            };
        }
        Self::Other(recorded.to_owned())
    }
}

/// The latest `limit` runs, newest first.
pub async fn recent(tx: &mut SchoolTx, limit: i64) -> Result<Vec<SyncRun>, sqlx::Error> {
    sqlx::query_as::<_, SyncRun>(
        "SELECT id, started_at, finished_at, trigger, courses, added, updated, ended, api_calls, \
                duration_ms, errors, skipped \
         FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// When the school's next timed sync is due (the timer claims it then; see `jobs`).
pub async fn next_due(pool: &PgPool, school: Uuid) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT next_sync_at FROM platform.tenants WHERE id = $1")
        .bind(school)
        .fetch_optional(pool)
        .await
}

/// The names of the classes with these Classroom ids, for naming them in a run's errors.
pub async fn course_names(
    tx: &mut SchoolTx,
    classroom_ids: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT classroom_id, name FROM courses WHERE classroom_id = ANY($1)")
        .bind(classroom_ids)
        .fetch_all(&mut **tx)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_errors_are_read_back_into_who_or_what() {
        let id = Uuid::nil();
        assert_eq!(
            Problem::parse(&format!("staff {id}: reconnect needed")),
            Problem::StaffReconnect(id)
        );
        assert_eq!(
            Problem::parse(&format!(
                "staff {id}: courses could not be read (Transient)"
            )),
            Problem::StaffCoursesUnread(id)
        );
        assert_eq!(
            Problem::parse("course 123: not saved"),
            Problem::CourseNotSaved {
                classroom_id: "123".into()
            }
        );
        assert_eq!(
            Problem::parse("course 123: Google said no: 500"),
            Problem::CourseUnread {
                classroom_id: "123".into()
            }
        );
        assert_eq!(
            Problem::parse("staff not-an-id: reconnect needed"),
            Problem::Other("staff not-an-id: reconnect needed".into())
        );
    }
}
