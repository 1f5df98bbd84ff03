//! What a window would do, before it is saved: per class, how many folders it would lock and
//! which students it cannot lock (and why), whether the Drive operator can act at all, and the
//! other windows it overlaps.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::draft::Draft;
use super::london_time::utc_to_london;
use super::store::selected_classes;
use crate::tenancy::SchoolTx;

/// Why one student's folder would not lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CannotLock {
    /// Their folder has not been made yet (it is made, locked, at the next sync).
    NoFolderYet,
    /// Classroom gave no email address, so nobody can be given or refused access.
    NoEmail,
    /// The school's Drive operator is not connected (or needs reconnecting).
    DriveOperatorDisconnected,
}

#[derive(Debug, Clone, Serialize)]
pub struct StudentProblem {
    pub student_id: Uuid,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub reason: CannotLock,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassPreview {
    pub id: Uuid,
    pub name: String,
    pub subject: Option<String>,
    pub year_group: Option<i16>,
    /// Chosen one by one, rather than caught by a selection.
    pub chosen: bool,
    pub students: usize,
    pub will_lock: usize,
    pub cannot_lock: Vec<StudentProblem>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Overlap {
    pub id: Uuid,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub starts_local: String,
    #[sqlx(skip)]
    pub ends_local: String,
    /// The classes both windows cover.
    pub shared_classes: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub starts_local: String,
    pub ends_local: String,
    /// `connected`, `needs_reconnect` or `not_connected`.
    pub drive_operator: &'static str,
    pub classes: Vec<ClassPreview>,
    pub will_lock: usize,
    pub cannot_lock: usize,
    pub overlaps: Vec<Overlap>,
}

#[derive(sqlx::FromRow)]
struct Member {
    course_id: Uuid,
    student_id: Uuid,
    given_name: Option<String>,
    family_name: Option<String>,
    has_email: bool,
    has_folder: bool,
}

/// The preview of `draft` (an edit of window `editing` leaves that window out of the overlaps).
pub async fn preview(
    tx: &mut SchoolTx,
    draft: &Draft,
    editing: Option<Uuid>,
) -> Result<Preview, sqlx::Error> {
    let ids = covered_classes(tx, draft).await?;
    // The best status among the school's Drive operator accounts: one that works is enough.
    let operator: Option<String> = sqlx::query_scalar(
        "SELECT status FROM google_credentials WHERE purpose = 'drive_operator' \
             AND status <> 'revoking' ORDER BY status = 'active' DESC LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let drive_operator = match operator.as_deref() {
        Some("active") => "connected",
        Some(_) => "needs_reconnect",
        None => "not_connected",
    };
    let classes: Vec<(Uuid, String, Option<String>, Option<i16>)> = sqlx::query_as(
        "SELECT c.id, c.name, s.name, c.year_group FROM courses c \
         LEFT JOIN subjects s ON s.id = c.subject_id WHERE c.id = ANY($1) \
         ORDER BY s.name, c.year_group, c.name",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let members: Vec<Member> = sqlx::query_as(
        "SELECT e.course_id, st.id AS student_id, st.given_name, st.family_name, \
                st.email IS NOT NULL AS has_email, p.drive_folder_id IS NOT NULL AS has_folder \
         FROM enrolments e JOIN students st ON st.id = e.student_id \
         LEFT JOIN portfolios p ON p.course_id = e.course_id AND p.student_id = e.student_id \
         WHERE e.course_id = ANY($1) AND e.ended_at IS NULL \
         ORDER BY st.family_name, st.given_name, st.id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::with_capacity(classes.len());
    let (mut will_lock, mut cannot_lock) = (0, 0);
    for (id, name, subject, year_group) in classes {
        let mut class = ClassPreview {
            id,
            name,
            subject,
            year_group,
            chosen: draft.classes.contains(&id),
            students: 0,
            will_lock: 0,
            cannot_lock: Vec::new(),
        };
        for m in members.iter().filter(|m| m.course_id == id) {
            class.students += 1;
            let problem = if drive_operator != "connected" {
                Some(CannotLock::DriveOperatorDisconnected)
            } else if !m.has_email {
                Some(CannotLock::NoEmail)
            } else if !m.has_folder {
                Some(CannotLock::NoFolderYet)
            } else {
                None
            };
            match problem {
                None => class.will_lock += 1,
                Some(reason) => class.cannot_lock.push(StudentProblem {
                    student_id: m.student_id,
                    given_name: m.given_name.clone(),
                    family_name: m.family_name.clone(),
                    reason,
                }),
            }
        }
        will_lock += class.will_lock;
        cannot_lock += class.cannot_lock.len();
        out.push(class);
    }
    let overlaps = overlapping(tx, draft, &ids, editing).await?;
    Ok(Preview {
        starts_local: utc_to_london(draft.starts_at),
        ends_local: utc_to_london(draft.ends_at),
        drive_operator,
        classes: out,
        will_lock,
        cannot_lock,
        overlaps,
    })
}

/// The classes `draft` covers: those chosen, then those its selections catch today.
async fn covered_classes(tx: &mut SchoolTx, draft: &Draft) -> Result<Vec<Uuid>, sqlx::Error> {
    let caught = selected_classes(tx, &draft.selections).await?;
    let mut ids = draft.classes.clone();
    ids.extend(caught.iter().filter(|c| !draft.classes.contains(c)));
    Ok(ids)
}

/// Only the other windows `draft` overlaps (the last part of [`preview`]), without working out
/// who it would lock: a window's page shows them to everyone who may read it, and the
/// per-student part only to an Examinations Officer.
pub async fn overlaps(
    tx: &mut SchoolTx,
    draft: &Draft,
    editing: Option<Uuid>,
) -> Result<Vec<Overlap>, sqlx::Error> {
    let ids = covered_classes(tx, draft).await?;
    overlapping(tx, draft, &ids, editing).await
}

/// Windows still to come or under way, at overlapping times, sharing a class with `classes`.
async fn overlapping(
    tx: &mut SchoolTx,
    draft: &Draft,
    classes: &[Uuid],
    editing: Option<Uuid>,
) -> Result<Vec<Overlap>, sqlx::Error> {
    // Before a window starts, its classes are its chosen ones and what its selections catch.
    let mut overlaps: Vec<Overlap> = sqlx::query_as(
        "WITH covered AS ( \
             SELECT wc.window_id, wc.course_id FROM window_classes wc \
             UNION \
             SELECT s.window_id, c.id FROM window_selections s \
             JOIN assessment_windows w ON w.id = s.window_id AND w.state = 'scheduled' \
             JOIN courses c ON c.active AND (s.subject_id IS NULL OR c.subject_id = s.subject_id) \
                  AND (s.year_group IS NULL OR c.year_group = s.year_group)) \
         SELECT w.id, w.name, w.starts_at, w.ends_at, \
                array_agg(DISTINCT cv.course_id ORDER BY cv.course_id) AS shared_classes \
         FROM assessment_windows w JOIN covered cv ON cv.window_id = w.id \
         WHERE w.state IN ('scheduled', 'active', 'held') \
           AND ($4::uuid IS NULL OR w.id <> $4) \
           AND cv.course_id = ANY($1) \
           AND w.starts_at < $3 AND (w.ends_at > $2 OR w.state = 'held' \
                                     OR (w.until_released AND w.state <> 'ended')) \
         GROUP BY w.id ORDER BY w.starts_at",
    )
    .bind(classes)
    .bind(draft.starts_at)
    .bind(draft.ends_at)
    .bind(editing)
    .fetch_all(&mut **tx)
    .await?;
    for o in &mut overlaps {
        o.starts_local = utc_to_london(o.starts_at);
        o.ends_local = utc_to_london(o.ends_at);
    }
    Ok(overlaps)
}
