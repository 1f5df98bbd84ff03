//! Where classes and their students' folders stand, as the dashboard shows them: one query for
//! a list of classes and one for a class's students, so a page costs the same whatever the
//! size of the class or school.
//!
//! Callers choose the classes (through [`crate::auth::ClassScope`]); nothing here checks who
//! may see them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::lock::LockState;
use crate::auth::staff::DISPLAY_NAME_SQL;
use crate::tenancy::SchoolTx;

/// A class with its counts: what "My classes" and the whole-school view list.
///
/// Each current student is counted once, in the state the class page shows for their folder:
/// no folder yet, failed, in progress, locked or unlocked (in that order of precedence), so the
/// counts add up to `students`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ClassSummary {
    pub id: Uuid,
    pub name: String,
    pub section: Option<String>,
    pub subject: Option<String>,
    pub year_group: Option<i16>,
    /// Students in the class now.
    pub students: i64,
    /// Folders Drive confirms locked, with nothing further asked.
    pub locked: i64,
    /// Folders Drive confirms unlocked, with nothing further asked.
    pub unlocked: i64,
    /// Folders whose last request is not done yet.
    pub pending: i64,
    /// Folders whose last request failed for good.
    pub failed: i64,
    /// Students with no folder yet (it is made at the next sync).
    pub no_folder: i64,
    /// The active (or held) assessment window over the class that ends first, if any.
    pub window: Option<String>,
    pub window_ends_at: Option<DateTime<Utc>>,
    /// That window has ended but keeps the class locked until an officer releases it.
    pub window_held: bool,
    /// That window runs on after its end until an officer releases it.
    pub window_until_released: bool,
}

/// Each current student's folder state, with the class page's precedence (`class::Row`).
const FOLDER_STATE: &str = "CASE WHEN p.id IS NULL OR p.drive_folder_id IS NULL THEN 'none' \
         WHEN p.failed_permanently THEN 'failed' \
         WHEN p.applied_version < p.desired_version THEN 'pending' \
         WHEN p.applied = 'locked' THEN 'locked' ELSE 'unlocked' END";

/// Counts over current students' folders; the window is the one a teacher would ask about.
fn summary_sql() -> String {
    format!(
        "SELECT c.id, c.name, c.section, s.name AS subject, c.year_group, \
             count(e.student_id) AS students, \
             count(*) FILTER (WHERE e.student_id IS NOT NULL AND {FOLDER_STATE} = 'locked') AS locked, \
             count(*) FILTER (WHERE e.student_id IS NOT NULL AND {FOLDER_STATE} = 'unlocked') AS unlocked, \
             count(*) FILTER (WHERE e.student_id IS NOT NULL AND {FOLDER_STATE} = 'pending') AS pending, \
             count(*) FILTER (WHERE e.student_id IS NOT NULL AND {FOLDER_STATE} = 'failed') AS failed, \
             count(*) FILTER (WHERE e.student_id IS NOT NULL AND {FOLDER_STATE} = 'none') AS no_folder, \
             w.name AS window, w.ends_at AS window_ends_at, \
             coalesce(w.state = 'held', false) AS window_held, \
             coalesce(w.until_released, false) AS window_until_released \
         FROM courses c \
         LEFT JOIN subjects s ON s.id = c.subject_id \
         LEFT JOIN enrolments e ON e.course_id = c.id AND e.ended_at IS NULL \
         LEFT JOIN portfolios p ON p.course_id = c.id AND p.student_id = e.student_id \
         LEFT JOIN LATERAL (SELECT w.name, w.ends_at, w.state, w.until_released \
                            FROM window_classes wc \
                            JOIN assessment_windows w ON w.id = wc.window_id \
                            WHERE wc.course_id = c.id AND w.state IN ('active', 'held') \
                            ORDER BY w.ends_at LIMIT 1) w ON true"
    )
}

/// The classes `ids` (every class when `None`) that are active in Classroom, by subject, year
/// and name: one query however many classes.
#[tracing::instrument(skip_all)]
pub async fn class_summaries(
    tx: &mut SchoolTx,
    ids: Option<&[Uuid]>,
) -> Result<Vec<ClassSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE c.active AND ($1::uuid[] IS NULL OR c.id = ANY($1)) \
         GROUP BY c.id, s.name, w.name, w.ends_at, w.state, w.until_released \
         ORDER BY s.name NULLS LAST, c.year_group NULLS LAST, c.name, c.id",
        summary_sql()
    )))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
}

/// The teachers of the classes `ids` (every class when `None`), by class, each list in name
/// order: one query however many classes.
#[tracing::instrument(skip_all)]
pub async fn class_teachers(
    tx: &mut SchoolTx,
    ids: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<String>>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT ct.course_id, {DISPLAY_NAME_SQL} AS name \
         FROM course_teachers ct JOIN staff ON staff.id = ct.staff_id \
         WHERE $1::uuid[] IS NULL OR ct.course_id = ANY($1) \
         ORDER BY ct.course_id, lower(coalesce(staff.family_name, '')), \
             lower(staff.display_name), staff.email"
    )))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut teachers: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (course, name) in rows {
        teachers.entry(course).or_default().push(name);
    }
    Ok(teachers)
}

/// One student of a class and their folder.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StudentFolder {
    pub student_id: Uuid,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    /// `None` until the roster sync has made the portfolio row.
    pub portfolio_id: Option<Uuid>,
    pub drive_folder_id: Option<String>,
    pub desired: Option<LockState>,
    pub desired_version: i64,
    pub applied: Option<LockState>,
    pub applied_version: i64,
    pub failed: bool,
    pub last_error: Option<String>,
    /// An active or held window keeps this folder locked (no override for this student).
    pub held: bool,
}

impl StudentFolder {
    /// The student's name as staff read it.
    pub fn display_name(&self) -> String {
        student_name(
            self.given_name.as_deref(),
            self.family_name.as_deref(),
            self.email.as_deref(),
            self.student_id,
        )
    }

    /// Drive has not yet done the last request.
    pub fn is_pending(&self) -> bool {
        self.portfolio_id.is_some() && !self.failed && self.applied_version < self.desired_version
    }

    /// Where the folder stands, as the summary counts it (the SQL's `FOLDER_STATE`).
    pub fn state(&self) -> FolderState {
        if self.portfolio_id.is_none() || self.drive_folder_id.is_none() {
            FolderState::NoFolder
        } else if self.failed {
            FolderState::Failed
        } else if self.is_pending() {
            FolderState::Pending
        } else if self.applied == Some(LockState::Locked) {
            FolderState::Locked
        } else {
            FolderState::Unlocked
        }
    }
}

/// Where one folder stands, each student counted in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderState {
    NoFolder,
    Failed,
    Pending,
    Locked,
    Unlocked,
}

/// A class and its current students' folders: what a class page shows.
#[derive(Debug, Clone)]
pub struct ClassView {
    pub summary: ClassSummary,
    pub students: Vec<StudentFolder>,
}

#[derive(sqlx::FromRow)]
struct ClassFacts {
    id: Uuid,
    name: String,
    section: Option<String>,
    subject: Option<String>,
    year_group: Option<i16>,
}

/// The class `course` (active or not) with its students by family and given name, or `None`
/// if there is no such class.
///
/// Simple queries on purpose, and the counts worked out here from the rows: each school's
/// transaction has its own search_path, so PostgreSQL plans every statement afresh, and on a
/// busy morning planning, not running, is what a page costs.
#[tracing::instrument(skip(tx))]
pub async fn class_view(tx: &mut SchoolTx, course: Uuid) -> Result<Option<ClassView>, sqlx::Error> {
    let Some(facts) = sqlx::query_as::<_, ClassFacts>(
        "SELECT c.id, c.name, c.section, s.name AS subject, c.year_group \
         FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id WHERE c.id = $1",
    )
    .bind(course)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let mut students: Vec<StudentFolder> = sqlx::query_as(
        "SELECT st.id AS student_id, st.given_name, st.family_name, st.email, \
             p.id AS portfolio_id, p.drive_folder_id, p.desired, \
             coalesce(p.desired_version, 0) AS desired_version, p.applied, \
             coalesce(p.applied_version, 0) AS applied_version, \
             coalesce(p.failed_permanently, false) AS failed, p.last_error, false AS held \
         FROM enrolments e \
         JOIN students st ON st.id = e.student_id \
         LEFT JOIN portfolios p ON p.course_id = e.course_id AND p.student_id = e.student_id \
         WHERE e.course_id = $1 AND e.ended_at IS NULL \
         ORDER BY lower(st.family_name), lower(st.given_name), st.email, st.id",
    )
    .bind(course)
    .fetch_all(&mut **tx)
    .await?;
    // The same rule as `windows::coverage::HELD`, for rows that are all current students: held
    // while some window over the class has not let this student out.
    let windows = crate::windows::coverage::holding_class(tx, course).await?;
    if !windows.is_empty() {
        let ids: Vec<Uuid> = windows.iter().map(|w| w.id).collect();
        let overrides: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT window_id, portfolio_id FROM window_overrides WHERE window_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        for student in &mut students {
            if let Some(portfolio) = student.portfolio_id {
                student.held = ids.iter().any(|w| !overrides.contains(&(*w, portfolio)));
            }
        }
    }
    let count =
        |f: &dyn Fn(&StudentFolder) -> bool| students.iter().filter(|s| f(s)).count() as i64;
    let summary = ClassSummary {
        id: facts.id,
        name: facts.name,
        section: facts.section,
        subject: facts.subject,
        year_group: facts.year_group,
        students: students.len() as i64,
        locked: count(&|s| s.state() == FolderState::Locked),
        unlocked: count(&|s| s.state() == FolderState::Unlocked),
        pending: count(&|s| s.state() == FolderState::Pending),
        failed: count(&|s| s.state() == FolderState::Failed),
        no_folder: count(&|s| s.state() == FolderState::NoFolder),
        window: windows.first().map(|w| w.name.clone()),
        window_ends_at: windows.first().map(|w| w.ends_at),
        window_held: windows
            .first()
            .is_some_and(|w| w.state == crate::windows::WindowState::Held),
        window_until_released: windows.first().is_some_and(|w| w.until_released),
    };
    Ok(Some(ClassView { summary, students }))
}

/// "Given Family", or the email, or the id: never blank.
pub fn student_name(
    given: Option<&str>,
    family: Option<&str>,
    email: Option<&str>,
    id: Uuid,
) -> String {
    let name = format!("{} {}", given.unwrap_or(""), family.unwrap_or(""));
    let name = name.trim();
    if !name.is_empty() {
        name.to_owned()
    } else {
        email.map_or_else(|| format!("Student {id}"), str::to_owned)
    }
}

/// The names of the students whose portfolios in `course` are `portfolios`, in order.
#[tracing::instrument(skip_all)]
pub async fn names_of(
    tx: &mut SchoolTx,
    course: Uuid,
    portfolios: &[Uuid],
) -> Result<Vec<String>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Named {
        given_name: Option<String>,
        family_name: Option<String>,
        email: Option<String>,
        id: Uuid,
    }
    let rows: Vec<Named> = sqlx::query_as(
        "SELECT st.given_name, st.family_name, st.email, st.id FROM portfolios p \
         JOIN students st ON st.id = p.student_id \
         WHERE p.course_id = $1 AND p.id = ANY($2) \
         ORDER BY lower(st.family_name), lower(st.given_name), st.id",
    )
    .bind(course)
    .bind(portfolios)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|n| {
            student_name(
                n.given_name.as_deref(),
                n.family_name.as_deref(),
                n.email.as_deref(),
                n.id,
            )
        })
        .collect())
}
