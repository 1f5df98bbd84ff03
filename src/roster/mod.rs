//! Classroom → school schema: who teaches which class, and who is in it.
//!
//! A sync asks every staff member with a working grant for their ACTIVE courses, fetches each
//! course's teachers and students once (however many teachers share it), and writes each course
//! in its own transaction, touching only rows that changed. A teacher whose grant Google refuses
//! is marked "reconnect needed" and the sync carries on with the others. A course is retired only
//! when every teacher's course list was read, so one failing teacher never makes their classes
//! look deleted. One sync per school runs at a time (a Redis lease shared by every process).
//!
//! A sync takes in only what belongs to the school. Classroom lets a course have co-teachers
//! from another domain, so a teacher of this school can list another school's course: a course
//! whose owner is not of the school's Workspace domain is skipped and
//! counted, never written. Students of the school's courses whose address is outside its domain
//! are skipped too (counted, and named by Classroom id) unless the School Admin chose to take
//! them in.

pub mod placement;
pub mod runs;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::google::classroom::{ClassroomCourse, RosterMember};
use crate::google::{ErrorClass, GoogleClients};
use crate::lease::{LeaseError, Leases};
use crate::tenancy::settings::{self, OutsideStudents};
use crate::tenancy::{School, begin_school_tx};
pub use store::Changes;

/// Teachers or courses fetched at once (a course is two Classroom calls).
const COURSE_CONCURRENCY: usize = 16;

/// Why a sync was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Timer,
    SignIn,
    Manual,
    Cli,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::SignIn => "sign_in",
            Self::Manual => "manual",
            Self::Cli => "cli",
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub courses: usize,
    pub added: u64,
    pub updated: u64,
    pub ended: u64,
    /// Classroom calls made (pages), for comparing with the minimum.
    pub api_calls: u64,
    pub errors: Vec<String>,
    /// What was left out as not the school's.
    pub skipped: Skipped,
    /// Staff this sync found to have left (teaching no class, no role a School Admin gave):
    /// marked as such, their grants set aside; the caller follows up after the sync
    /// (`privacy::leavers::StopUsing`).
    pub leavers: Vec<crate::privacy::leavers::Leaver>,
    pub duration_ms: u64,
}

/// What a sync left out because it does not belong to the school.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Courses whose owner is of another domain ("skipped: another domain's course"), or whose
    /// owner Classroom did not name with an address.
    pub other_domain_courses: u64,
    /// Students outside the school's domain, by Classroom user id (each once), when the school
    /// skips them.
    pub outside_students: BTreeSet<String>,
    /// Erased students Classroom still lists (each once): counted, never named.
    pub erased_students: u64,
}

/// Whether a course is the school's: its owner, found among its teachers, has an address of the
/// school's domain. An owner Classroom names without an address cannot be shown to be ours.
pub fn is_schools_course(
    roster_teachers: &[RosterMember],
    owner_id: Option<&str>,
    domain: &str,
) -> bool {
    let Some(owner_id) = owner_id else {
        return false;
    };
    roster_teachers
        .iter()
        .find(|t| t.user_id == owner_id)
        .and_then(|t| t.email.as_deref())
        .is_some_and(|email| crate::input::address_in_domain(email, domain))
}

impl SyncReport {
    /// Rows written: zero for a school whose rosters did not change.
    pub fn rows_written(&self) -> u64 {
        self.added + self.updated + self.ended
    }
}

/// Why a sync did not run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("another sync of this school is running")]
    AlreadyRunning,
    #[error("lock: {0}")]
    Lock(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// One teacher's course list: who, the result, and the calls it took.
type TeacherCourses = (
    Uuid,
    String,
    Result<Vec<ClassroomCourse>, crate::google::GoogleError>,
    u64,
);

/// One course as fetched, with the Classroom calls it took: its roster, or `None` for another
/// school's course; or why it could not be read.
type Fetched = Result<(Option<CourseRoster>, u64), (String, u64)>;

struct CourseRoster {
    course: ClassroomCourse,
    teachers: Vec<RosterMember>,
    students: Vec<RosterMember>,
}

/// Syncs one school, unless another process is already doing so.
#[tracing::instrument(skip(pool, google, leases), fields(school = %school.slug))]
pub async fn sync_school(
    pool: &PgPool,
    google: &GoogleClients,
    leases: &Leases,
    school: &School,
    trigger: Trigger,
) -> Result<SyncReport, SyncError> {
    let lock = leases
        .acquire(&sync_lease(school), SYNC_LOCK_TTL, Duration::ZERO)
        .await
        .map_err(|e| match e {
            LeaseError::Busy { .. } => SyncError::AlreadyRunning,
            other => SyncError::Lock(other.to_string()),
        })?;
    // Timed here, the lease held: a sync refused as already running is not a sync.
    let clock = Instant::now();
    let result = lock
        .hold_while(SYNC_LOCK_TTL, run(pool, google, school, trigger))
        .await;
    let outcome = if result.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    crate::metrics::roster_sync(outcome, clock.elapsed());
    result
}

/// A sync's lock lives this long unless renewed: renewed while the sync runs, however long,
/// and free two minutes after a killed worker's sync stopped.
const SYNC_LOCK_TTL: Duration = Duration::from_secs(120);

async fn run(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    trigger: Trigger,
) -> Result<SyncReport, SyncError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let mut report = SyncReport::default();

    // Everyone whose grant still works.
    let mut tx = begin_school_tx(pool, school).await?;
    let teachers: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT s.id, s.email FROM staff s JOIN google_credentials c ON c.staff_id = s.id \
         WHERE c.purpose = 'sign_in' AND c.status = 'active' ORDER BY s.email",
    )
    .fetch_all(&mut *tx)
    .await?;
    // Students erased at the school's request: never taken in again.
    let erased: BTreeSet<String> =
        sqlx::query_scalar("SELECT classroom_user_id FROM erased_classroom_users")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    tx.commit().await?;

    // Each teacher's ACTIVE courses (several teachers at once); a course shared by several
    // teachers is fetched once.
    let listed: Vec<TeacherCourses> = futures::stream::iter(teachers)
        .map(|(staff_id, email)| async move {
            match google.classroom(school, staff_id).await {
                Ok(classroom) => {
                    let list = classroom.list_my_courses().await;
                    (staff_id, email, list, classroom.calls())
                }
                Err(e) => (staff_id, email, Err(e), 0),
            }
        })
        .buffer_unordered(COURSE_CONCURRENCY)
        .collect()
        .await;
    let mut courses: BTreeMap<String, (ClassroomCourse, Uuid)> = BTreeMap::new();
    let mut read_from: Vec<Uuid> = Vec::new();
    let mut listed = listed;
    // A stable order, so the teacher a shared course is fetched through does not vary by timing.
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    for (staff_id, _email, result, calls) in listed {
        report.api_calls += calls;
        match result {
            Ok(list) => {
                read_from.push(staff_id);
                for c in list {
                    courses.entry(c.id.clone()).or_insert((c, staff_id));
                }
            }
            Err(e) => {
                // Staff ids, not emails: sync_runs is kept, and read by admins.
                let what = if e.class() == ErrorClass::NeedsReconnect {
                    format!("staff {staff_id}: reconnect needed")
                } else {
                    format!(
                        "staff {staff_id}: courses could not be read ({:?})",
                        e.class()
                    )
                };
                tracing::warn!(error = %e, "a teacher's courses could not be read; carrying on");
                report.errors.push(what);
            }
        }
    }

    // Rosters, several courses at once; a course that cannot be read is left as it was.
    let domain = school.workspace_domain.as_str();
    let fetched: Vec<Fetched> = futures::stream::iter(courses.into_values())
        .map(|(course, via)| async move {
            let classroom = google
                .classroom(school, via)
                .await
                .map_err(|e| (format!("course {}: {e}", course.id), 0))?;
            let teachers = classroom
                .list_teachers(&course.id)
                .await
                .map_err(|e| (format!("course {}: {e}", course.id), classroom.calls()))?;
            // Another school's class: its pupils are not even fetched.
            if !is_schools_course(&teachers, course.owner_id.as_deref(), domain) {
                tracing::info!(course = %course.id, "skipped: another domain's course");
                return Ok((None, classroom.calls()));
            }
            let students = classroom
                .list_students(&course.id)
                .await
                .map_err(|e| (format!("course {}: {e}", course.id), classroom.calls()))?;
            Ok((
                Some(CourseRoster {
                    course,
                    teachers,
                    students,
                }),
                classroom.calls(),
            ))
        })
        .buffer_unordered(COURSE_CONCURRENCY)
        .collect()
        .await;

    let outside_students = settings::read(pool, school.id)
        .await
        .map(|s| s.outside_domain_students)
        .unwrap_or_else(|e| {
            // The safe reading: nothing from outside the school is taken in.
            tracing::warn!(error = %e, "settings unreadable; outside students are skipped");
            OutsideStudents::Skip
        });
    let mut seen: Vec<String> = Vec::new();
    let mut erased_seen: BTreeSet<String> = BTreeSet::new();
    let mut stopped_teaching: Vec<Uuid> = Vec::new();
    let mut every_course_read = true;
    for result in fetched {
        match result {
            Ok((None, pages)) => {
                // Not seen either: a course of another school written by an earlier version
                // is marked inactive below like any course that is gone.
                report.api_calls += pages;
                report.skipped.other_domain_courses += 1;
            }
            Ok((Some(mut roster), pages)) => {
                report.api_calls += pages;
                if outside_students == OutsideStudents::Skip {
                    // Nothing shows a student without an address to be the school's either.
                    roster.students.retain(|s| {
                        let ours = s
                            .email
                            .as_deref()
                            .is_some_and(|e| crate::input::address_in_domain(e, domain));
                        if !ours {
                            report.skipped.outside_students.insert(s.user_id.clone());
                        }
                        ours
                    });
                }
                roster.students.retain(|s| {
                    let erased = erased.contains(&s.user_id);
                    if erased {
                        erased_seen.insert(s.user_id.clone());
                    }
                    !erased
                });
                seen.push(roster.course.id.clone());
                // One transaction per course: a failure leaves that course as it was.
                let mut tx = begin_school_tx(pool, school).await?;
                match store::write_course(
                    &mut tx,
                    &roster.course,
                    &roster.teachers,
                    &roster.students,
                )
                .await
                {
                    Ok((changes, unlinked)) => {
                        tx.commit().await?;
                        stopped_teaching.extend(unlinked);
                        report.added += changes.added;
                        report.updated += changes.updated;
                        report.ended += changes.ended;
                        report.courses += 1;
                    }
                    Err(e) => {
                        tracing::error!(course = %roster.course.id, error = %e, "course not written");
                        report
                            .errors
                            .push(format!("course {}: not saved", roster.course.id));
                    }
                }
            }
            Err((e, calls)) => {
                report.api_calls += calls;
                every_course_read = false;
                report.errors.push(e);
            }
        }
    }
    // A course is retired only if someone who teaches it was asked and did not list it; and not
    // at all if some course could not be read this time.
    if every_course_read && !read_from.is_empty() {
        let mut tx = begin_school_tx(pool, school).await?;
        let (retired, teachers) = store::retire_courses(&mut tx, &seen, &read_from).await?;
        tx.commit().await?;
        report.ended += retired;
        stopped_teaching.extend(teachers);
    }
    report.skipped.erased_students = erased_seen.len() as u64;
    if !erased_seen.is_empty() {
        // Classroom still shows them: their tombstone stays for another retention period.
        let ids: Vec<&String> = erased_seen.iter().collect();
        let mut tx = begin_school_tx(pool, school).await?;
        sqlx::query(
            "UPDATE erased_classroom_users SET last_seen_at = now() WHERE classroom_user_id = ANY($1)",
        )
        .bind(ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    stopped_teaching.sort();
    stopped_teaching.dedup();
    report.leavers = crate::privacy::leavers::after_sync(pool, school, &stopped_teaching).await?;

    report.duration_ms = clock.elapsed().as_millis() as u64;
    let mut tx = begin_school_tx(pool, school).await?;
    sqlx::query(
        "INSERT INTO sync_runs (started_at, trigger, courses, added, updated, ended, api_calls, errors, \
                                skipped, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(started_at)
    .bind(trigger.as_str())
    .bind(report.courses as i32)
    .bind(report.added as i32)
    .bind(report.updated as i32)
    .bind(report.ended as i32)
    .bind(report.api_calls as i32)
    .bind(serde_json::json!(report.errors))
    .bind(serde_json::json!({
        "other_domain_courses": report.skipped.other_domain_courses,
        "outside_students": report.skipped.outside_students.len(),
        "outside_student_ids": report.skipped.outside_students,
        "erased_students": report.skipped.erased_students,
    }))
    .bind(report.duration_ms as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        courses = report.courses,
        rows = report.rows_written(),
        other_domain_courses = report.skipped.other_domain_courses,
        outside_students = report.skipped.outside_students.len(),
        erased_students = report.skipped.erased_students,
        leavers = report.leavers.len(),
        errors = report.errors.len(),
        ms = report.duration_ms,
        "roster sync finished"
    );
    Ok(report)
}

/// The lease a school's roster sync holds while it writes; anything that must not overlap a
/// sync (offboarding's final export) takes the same one.
pub fn sync_lease(school: &School) -> String {
    format!("roster-sync:{}", school.id)
}
