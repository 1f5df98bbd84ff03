//! Where classes and their students' folders stand, as the dashboard shows them: one query for
//! a list of classes and one for a class's students, so a page costs the same whatever the
//! size of the class or school.
//!
//! Callers choose the classes (through [`crate::auth::ClassScope`]); nothing here checks who
//! may see them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::lock::LockState;
use crate::tenancy::SchoolTx;

/// A class with its counts: what "My classes" lists.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ClassSummary {
    pub id: Uuid,
    pub name: String,
    pub section: Option<String>,
    pub subject: Option<String>,
    pub year_group: Option<i16>,
    /// Students in the class now.
    pub students: i64,
    /// Folders Drive confirms locked.
    pub locked: i64,
    /// Folders whose last request is not done yet.
    pub pending: i64,
    /// Folders whose last request failed for good.
    pub failed: i64,
    /// The active (or held) assessment window over the class that ends first, if any.
    pub window: Option<String>,
    pub window_ends_at: Option<DateTime<Utc>>,
}

/// Counts over current students' folders; the window is the one a teacher would ask about.
const SUMMARY: &str = "SELECT c.id, c.name, c.section, s.name AS subject, c.year_group, \
         count(e.student_id) AS students, \
         count(*) FILTER (WHERE p.applied = 'locked') AS locked, \
         count(*) FILTER (WHERE p.applied_version < p.desired_version \
                          AND NOT p.failed_permanently) AS pending, \
         count(*) FILTER (WHERE p.failed_permanently) AS failed, \
         w.name AS window, w.ends_at AS window_ends_at \
     FROM courses c \
     LEFT JOIN subjects s ON s.id = c.subject_id \
     LEFT JOIN enrolments e ON e.course_id = c.id AND e.ended_at IS NULL \
     LEFT JOIN portfolios p ON p.course_id = c.id AND p.student_id = e.student_id \
     LEFT JOIN LATERAL (SELECT w.name, w.ends_at FROM window_classes wc \
                        JOIN assessment_windows w ON w.id = wc.window_id \
                        WHERE wc.course_id = c.id AND w.state IN ('active', 'held') \
                        ORDER BY w.ends_at LIMIT 1) w ON true";

/// The classes `ids` (every class when `None`) that are active in Classroom, by subject, year
/// and name.
#[tracing::instrument(skip_all)]
pub async fn class_summaries(
    tx: &mut SchoolTx,
    ids: Option<&[Uuid]>,
) -> Result<Vec<ClassSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SUMMARY} WHERE c.active AND ($1::uuid[] IS NULL OR c.id = ANY($1)) \
         GROUP BY c.id, s.name, w.name, w.ends_at \
         ORDER BY s.name NULLS LAST, c.year_group NULLS LAST, c.name, c.id"
    )))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
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
        locked: count(&|s| s.portfolio_id.is_some() && s.applied == Some(LockState::Locked)),
        pending: count(&|s| s.is_pending()),
        failed: count(&|s| s.portfolio_id.is_some() && s.failed),
        window: windows.first().map(|w| w.name.clone()),
        window_ends_at: windows.first().map(|w| w.ends_at),
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
