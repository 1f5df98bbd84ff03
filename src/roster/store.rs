//! Writing a course's roster into the school schema: one transaction per course, and no write
//! at all for a row that has not changed.

use std::collections::HashSet;

use uuid::Uuid;

use crate::google::classroom::{ClassroomCourse, RosterMember};
use crate::tenancy::SchoolTx;

/// What one course's write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: u64,
    pub updated: u64,
    pub ended: u64,
}

impl Changes {
    pub fn rows(&self) -> u64 {
        self.added + self.updated + self.ended
    }
}

impl std::ops::AddAssign for Changes {
    fn add_assign(&mut self, o: Self) {
        self.added += o.added;
        self.updated += o.updated;
        self.ended += o.ended;
    }
}

/// Upserts one course with its teachers and students. `name` falls back to the course id when
/// Classroom sent none. Returns what changed and the staff Classroom no longer lists as this
/// class's teachers (who may have left the school: see `privacy::leavers`). An erased
/// student (`erased_classroom_users`) is never written, whatever the caller passes.
pub async fn write_course(
    tx: &mut SchoolTx,
    course: &ClassroomCourse,
    teachers: &[RosterMember],
    students: &[RosterMember],
) -> Result<(Changes, Vec<Uuid>), sqlx::Error> {
    let mut changes = Changes::default();
    let (subject, year_group) =
        super::placement::place(tx, &course.id, &course.name, course.section.as_deref()).await?;
    let name = if course.name.trim().is_empty() {
        tracing::warn!(course = %course.id, "a course without a name; shown by its id");
        format!("Course {}", course.id)
    } else {
        course.name.trim().to_owned()
    };
    // Insert, or update only what changed (the WHERE keeps unchanged rows untouched).
    let row: Option<(Uuid, bool)> = sqlx::query_as(
        "INSERT INTO courses AS c (classroom_id, name, section, subject_id, teacher_group_email, \
                                   classroom_state, active, last_synced_at, year_group) \
         VALUES ($1, $2, $3, $4, $5, 'ACTIVE', true, now(), $6) \
         ON CONFLICT (classroom_id) DO UPDATE SET name = EXCLUDED.name, section = EXCLUDED.section, \
             subject_id = EXCLUDED.subject_id, teacher_group_email = EXCLUDED.teacher_group_email, \
             classroom_state = 'ACTIVE', active = true, year_group = EXCLUDED.year_group, \
             updated_at = now() \
         WHERE (c.name, c.section, c.subject_id, c.teacher_group_email, c.classroom_state, c.active, \
                c.year_group) \
               IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.section, EXCLUDED.subject_id, \
                                 EXCLUDED.teacher_group_email, 'ACTIVE', true, EXCLUDED.year_group) \
         RETURNING id, (xmax = 0)",
    )
    .bind(&course.id)
    .bind(&name)
    .bind(&course.section)
    .bind(subject)
    .bind(&course.teacher_group_email)
    .bind(year_group)
    .fetch_optional(&mut **tx)
    .await?;
    let course_id = match row {
        Some((id, inserted)) => {
            if inserted {
                changes.added += 1;
            } else {
                changes.updated += 1;
            }
            id
        }
        None => {
            sqlx::query_scalar("SELECT id FROM courses WHERE classroom_id = $1")
                .bind(&course.id)
                .fetch_one(&mut **tx)
                .await?
        }
    };

    // Teachers: staff by Google id (Classroom's user id is the account's `sub`).
    let teacher_ids: Vec<String> = teachers.iter().map(|t| t.user_id.clone()).collect();
    let teacher_emails: Vec<Option<String>> = teachers.iter().map(|t| t.email.clone()).collect();
    let teacher_names: Vec<String> = teachers.iter().map(display_name).collect();
    let known_teachers = teachers.iter().filter(|t| t.email.is_some()).count();
    if known_teachers < teachers.len() {
        tracing::warn!(course = %course.id, "teachers without an email are not added as staff");
    }
    let staff_changed = sqlx::query(
        "INSERT INTO staff AS s (google_sub, email, display_name) \
         SELECT sub, lower(email), name FROM unnest($1::text[], $2::text[], $3::text[]) AS t(sub, email, name) \
         WHERE email IS NOT NULL \
         ON CONFLICT (google_sub) DO UPDATE SET email = EXCLUDED.email, updated_at = now() \
         WHERE s.email IS DISTINCT FROM EXCLUDED.email",
    )
    .bind(&teacher_ids)
    .bind(&teacher_emails)
    .bind(&teacher_names)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changes.added += staff_changed;
    // Someone who had left and teaches again is staff again.
    sqlx::query(
        "UPDATE staff SET left_at = NULL WHERE google_sub = ANY($1) AND left_at IS NOT NULL",
    )
    .bind(&teacher_ids)
    .execute(&mut **tx)
    .await?;
    let linked = sqlx::query(
        "INSERT INTO course_teachers (course_id, staff_id) \
         SELECT $1, s.id FROM staff s WHERE s.google_sub = ANY($2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(course_id)
    .bind(&teacher_ids)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changes.added += linked;
    let unlinked: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM course_teachers ct USING staff s \
         WHERE ct.course_id = $1 AND s.id = ct.staff_id AND NOT (s.google_sub = ANY($2)) \
         RETURNING ct.staff_id",
    )
    .bind(course_id)
    .bind(&teacher_ids)
    .fetch_all(&mut **tx)
    .await?;
    changes.ended += unlinked.len() as u64;

    // Students: a teacher listed as a student is left out (Classroom allows it; we do not).
    let teacher_set: HashSet<&str> = teachers.iter().map(|t| t.user_id.as_str()).collect();
    let students: Vec<&RosterMember> = students
        .iter()
        .filter(|s| {
            let also_teacher = teacher_set.contains(s.user_id.as_str());
            if also_teacher {
                tracing::warn!(course = %course.id, "a teacher is also listed as a student; kept as teacher only");
            }
            !also_teacher
        })
        .collect();
    let ids: Vec<String> = students.iter().map(|s| s.user_id.clone()).collect();
    hold_students(tx).await?;
    let emails: Vec<Option<String>> = students.iter().map(|s| s.email.clone()).collect();
    let given: Vec<Option<String>> = students.iter().map(|s| s.given_name.clone()).collect();
    let family: Vec<Option<String>> = students.iter().map(|s| s.family_name.clone()).collect();
    let upserted = sqlx::query(
        "INSERT INTO students AS s (classroom_user_id, email, given_name, family_name) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, email, given, family) \
         WHERE NOT EXISTS (SELECT 1 FROM erased_classroom_users x WHERE x.classroom_user_id = t.id) \
         ON CONFLICT (classroom_user_id) DO UPDATE SET email = EXCLUDED.email, \
             given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name, updated_at = now() \
         WHERE (s.email, s.given_name, s.family_name) \
               IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.given_name, EXCLUDED.family_name)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&given)
    .bind(&family)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changes.updated += upserted;
    let enrolled = sqlx::query(
        "INSERT INTO enrolments AS e (course_id, student_id) \
         SELECT $1, s.id FROM students s WHERE s.classroom_user_id = ANY($2) \
         ON CONFLICT (course_id, student_id) DO UPDATE SET ended_at = NULL, started_at = now() \
         WHERE e.ended_at IS NOT NULL",
    )
    .bind(course_id)
    .bind(&ids)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changes.added += enrolled;
    // Students who left get an end date; their portfolio and history stay.
    let ended = sqlx::query(
        "UPDATE enrolments e SET ended_at = now() FROM students s \
         WHERE e.course_id = $1 AND s.id = e.student_id AND e.ended_at IS NULL \
           AND NOT (s.classroom_user_id = ANY($2))",
    )
    .bind(course_id)
    .bind(&ids)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    changes.ended += ended;
    Ok((changes, unlinked))
}

/// Marks courses Classroom no longer returns as inactive — only courses taught by someone whose
/// course list was read in this run (`read_from`): a class whose teachers could not be asked
/// (grant refused, never signed in) is left as it was. Rows, enrolments and portfolios stay.
/// Returns how many courses were retired and the staff who taught them (who may now teach
/// nothing).
pub async fn retire_courses(
    tx: &mut SchoolTx,
    seen: &[String],
    read_from: &[Uuid],
) -> Result<(u64, Vec<Uuid>), sqlx::Error> {
    let retired: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE courses c SET active = false, updated_at = now() \
         WHERE c.active AND NOT (c.classroom_id = ANY($1)) \
           AND EXISTS (SELECT 1 FROM course_teachers ct WHERE ct.course_id = c.id AND ct.staff_id = ANY($2)) \
         RETURNING c.id",
    )
    .bind(seen)
    .bind(read_from)
    .fetch_all(&mut **tx)
    .await?;
    let teachers: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT staff_id FROM course_teachers WHERE course_id = ANY($1)",
    )
    .bind(&retired)
    .fetch_all(&mut **tx)
    .await?;
    Ok((retired.len() as u64, teachers))
}

fn display_name(m: &RosterMember) -> String {
    m.full_name
        .clone()
        .or_else(|| match (&m.given_name, &m.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        })
        .or_else(|| m.email.clone())
        .unwrap_or_default()
}

/// SQL, true when the student `s` is in a class Classroom still has: an open enrolment in an
/// active class. A class Classroom stopped returning (archived at the end of the year, say)
/// keeps its enrolments open so its page still shows who was in it, but holds nobody in
/// Classroom. Erasure (is the student still listed?) and retention (may they go?) both ask it.
macro_rules! in_a_live_class {
    () => {
        "EXISTS (SELECT 1 FROM enrolments e JOIN courses c ON c.id = e.course_id \
                 WHERE e.student_id = s.id AND e.ended_at IS NULL AND c.active)"
    };
}
pub(crate) use in_a_live_class;

/// Holds this school's student rows against erasure until the transaction ends. Sync takes it
/// before taking students in and erasure before deleting one: without it, a sync's insert that
/// waited on the row an erasure was deleting would be retried by PostgreSQL after the erasure
/// committed, and bring the student back under a new id past the tombstone it never saw.
pub async fn hold_students(tx: &mut SchoolTx) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("students|{}", tx.school_id()))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
