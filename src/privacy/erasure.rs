//! Erasing one student at a School Admin's request (UK GDPR Article 17, as the school's
//! processor).
//!
//! In one transaction: the student row goes, and with it (by the schema's cascades) everything
//! hanging off it: enrolments, portfolios, the window overrides and onward-share findings on
//! those portfolios. The audit log keeps its entries (they hold ids, never names) and gains one
//! `StudentErased` entry with ids and counts. A student Classroom still lists in a class leaves
//! a tombstone keyed by their Classroom user id alone (`erased_classroom_users`), so roster sync
//! never takes them in again; the School Admin is told to remove them in Classroom. So after an
//! erasure no row outside the audit log holds the student's id.
//!
//! The Drive folders are kept or trashed as the School Admin chose. Trashing is a call to
//! Google, made after the commit ([`trash_folders`]): the erasure of our records never waits on
//! Drive, and a folder Drive would not trash is reported by id, never hidden.
//!
//! The School Admin confirms by typing the student's email address (Classroom's; the Classroom
//! user id for a student it gives no address), which no two students share: a typed name could
//! match two people.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::google::GoogleClients;
use crate::tenancy::{School, SchoolTx};

/// What becomes of the student's Drive folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriveFolders {
    /// Left where they are (the school keeps the work, e.g. for an exam board).
    Keep,
    /// Moved to the shared drive's trash.
    Trash,
}

impl DriveFolders {
    /// The choice as a form sends it (`keep` or `trash`); anything else is no choice.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keep" => Some(Self::Keep),
            "trash" => Some(Self::Trash),
            _ => None,
        }
    }
}

/// Why an erasure was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no such student")]
    NotFound,
    #[error("type the student's {0} exactly as shown to confirm the erasure")]
    Confirmation(&'static str),
    #[error("choose whether the student's Drive folders are kept or moved to the trash")]
    NoFolderChoice,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The student as the confirmation page shows them, with what the erasure would remove.
#[derive(Debug, Clone, Serialize)]
pub struct StudentToErase {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub classroom_user_id: String,
    /// The classes Classroom still has them in, by name (an archived class is left out).
    pub classes: Vec<String>,
    pub enrolments: i64,
    /// Drive folders we made for them.
    pub folders: i64,
    pub share_findings: i64,
    pub window_overrides: i64,
    /// Classroom still lists them in a class: they are tombstoned and the School Admin must
    /// remove them in Classroom.
    pub still_enrolled: bool,
}

impl StudentToErase {
    /// What to type to confirm: what the expected text is called.
    pub fn confirmation_label(&self) -> &'static str {
        if self.email.is_some() {
            "email address"
        } else {
            "Classroom user id"
        }
    }

    /// The text to type.
    pub fn confirmation_text(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.classroom_user_id)
    }

    /// Whether `typed` confirms this erasure: the expected text, ignoring case and surrounding
    /// spaces (addresses are case-blind).
    pub fn confirmed_by(&self, typed: &str) -> bool {
        typed
            .trim()
            .eq_ignore_ascii_case(self.confirmation_text().trim())
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    classroom_user_id: String,
    classes: Vec<String>,
    enrolments: i64,
    folders: i64,
    share_findings: i64,
    window_overrides: i64,
}

/// A student of this school, with what erasing them would remove; `lock` holds their row until
/// the transaction ends (so a sync cannot add to what is counted).
#[tracing::instrument(skip(tx), fields(school = %tx.school_id()))]
pub async fn describe(
    tx: &mut SchoolTx,
    id: Uuid,
    lock: bool,
) -> Result<StudentToErase, ErasureError> {
    if lock {
        sqlx::query("SELECT 1 FROM students WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.id, s.given_name, s.family_name, s.email, s.classroom_user_id, \
             coalesce((SELECT array_agg(c.name ORDER BY c.name) FROM enrolments e \
                       JOIN courses c ON c.id = e.course_id \
                       WHERE e.student_id = s.id AND e.ended_at IS NULL AND c.active), '{}') \
                 AS classes, \
             (SELECT count(*) FROM enrolments e WHERE e.student_id = s.id) AS enrolments, \
             (SELECT count(*) FROM portfolios p WHERE p.student_id = s.id \
                 AND p.drive_folder_id IS NOT NULL) AS folders, \
             (SELECT count(*) FROM share_findings f JOIN portfolios p ON p.id = f.portfolio_id \
                 WHERE p.student_id = s.id) AS share_findings, \
             (SELECT count(*) FROM window_overrides o JOIN portfolios p ON p.id = o.portfolio_id \
                 WHERE p.student_id = s.id) AS window_overrides \
         FROM students s WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let row = row.ok_or(ErasureError::NotFound)?;
    Ok(StudentToErase {
        id: row.id,
        name: crate::portfolio::overview::student_name(
            row.given_name.as_deref(),
            row.family_name.as_deref(),
            row.email.as_deref(),
            row.id,
        ),
        email: row.email,
        classroom_user_id: row.classroom_user_id,
        // Listed in a class Classroom still has.
        still_enrolled: !row.classes.is_empty(),
        classes: row.classes,
        enrolments: row.enrolments,
        folders: row.folders,
        share_findings: row.share_findings,
        window_overrides: row.window_overrides,
    })
}

/// What an erasure removed (counts), and the folders left for [`trash_folders`].
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    pub student_id: Uuid,
    pub enrolments: i64,
    pub portfolios: i64,
    pub share_findings: i64,
    pub window_overrides: i64,
    /// Our records showed them still in a Classroom class: the School Admin should remove them
    /// there too. (The tombstone is written either way, see [`erase`].)
    pub still_in_classroom: bool,
    pub drive_folders: DriveFolders,
    /// Their Drive folders' ids (none of our rows holds these any more).
    #[serde(skip)]
    pub folder_ids: Vec<String>,
}

/// Erases student `id` of this school in the caller's transaction, if `confirmation` is what
/// [`StudentToErase::confirmed_by`] expects; nothing changes otherwise.
#[tracing::instrument(skip(tx, confirmation), fields(school = %tx.school_id()))]
pub async fn erase(
    tx: &mut SchoolTx,
    by: &Actor,
    id: Uuid,
    confirmation: &str,
    drive_folders: Option<DriveFolders>,
) -> Result<Erased, ErasureError> {
    crate::roster::store::hold_students(tx).await?;
    let student = describe(tx, id, true).await?;
    if !student.confirmed_by(confirmation) {
        return Err(ErasureError::Confirmation(student.confirmation_label()));
    }
    let drive_folders = drive_folders.ok_or(ErasureError::NoFolderChoice)?;
    let (portfolios, folder_ids): (i64, Vec<String>) = sqlx::query_as(
        "SELECT count(*), coalesce(array_agg(drive_folder_id) FILTER (WHERE drive_folder_id IS NOT NULL), '{}') \
         FROM portfolios WHERE student_id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    // Always, not only when our records show them enrolled: Classroom may list them in a class
    // we do not read yet (its teacher has not signed in), and that class's first sync must not
    // bring them back. It holds only Classroom's id; retention removes it once Classroom has not
    // listed them for the school's retention period.
    sqlx::query(
        "INSERT INTO erased_classroom_users (classroom_user_id) VALUES ($1) \
         ON CONFLICT (classroom_user_id) DO UPDATE SET erased_at = now(), last_seen_at = now()",
    )
    .bind(&student.classroom_user_id)
    .execute(&mut **tx)
    .await?;
    // Enrolments, portfolios, their findings and overrides go with the row (ON DELETE CASCADE).
    sqlx::query("DELETE FROM students WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let erased = Erased {
        student_id: id,
        enrolments: student.enrolments,
        portfolios,
        share_findings: student.share_findings,
        window_overrides: student.window_overrides,
        still_in_classroom: student.still_enrolled,
        drive_folders,
        folder_ids,
    };
    audit::record(
        tx,
        by,
        Action::StudentErased,
        Some(&Target::new("student", id)),
        json!({
            "enrolments": erased.enrolments,
            "portfolios": erased.portfolios,
            "share_findings": erased.share_findings,
            "window_overrides": erased.window_overrides,
            "still_in_classroom": erased.still_in_classroom,
            "drive_folders": erased.drive_folders,
            "folders": erased.folder_ids.len(),
            // Drive's ids, not personal data: if trashing stops part-way (or the folders were
            // kept), the School Admin can still find every folder the student had.
            "folder_ids": erased.folder_ids,
        }),
    )
    .await?;
    Ok(erased)
}

/// What became of the folders after the commit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderOutcome {
    /// Folders moved to the trash (or already gone from Drive).
    pub trashed: usize,
    /// Folders Drive would not trash, by id, for the School Admin to delete by hand.
    pub not_trashed: Vec<String>,
    /// Why, in words, when some were not trashed.
    pub problem: Option<String>,
}

/// Moves the erased student's folders to the trash, as the Drive operator. Every failure is
/// reported in the outcome (and logged), never hidden.
#[tracing::instrument(skip(google, folder_ids), fields(school = %school.slug, folders = folder_ids.len()))]
pub async fn trash_folders(
    google: &GoogleClients,
    school: &School,
    folder_ids: &[String],
) -> FolderOutcome {
    let mut outcome = FolderOutcome::default();
    if folder_ids.is_empty() {
        return outcome;
    }
    let drive = match google.drive(school).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "an erased student's folders could not be trashed");
            outcome.not_trashed = folder_ids.to_vec();
            outcome.problem = Some(e.to_string());
            return outcome;
        }
    };
    for folder in folder_ids {
        match drive.trash(folder).await {
            Ok(()) => outcome.trashed += 1,
            // Already gone: nothing left to trash.
            Err(e) if e.class() == crate::google::ErrorClass::NotFound => outcome.trashed += 1,
            Err(e) => {
                tracing::warn!(error = %e, "an erased student's folder was not trashed");
                outcome.not_trashed.push(folder.clone());
                outcome.problem = Some(e.to_string());
            }
        }
    }
    outcome
}

/// The whole answer to an erasure, as the API returns it and the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    #[serde(flatten)]
    pub erased: Erased,
    pub folders: FolderOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(email: Option<&str>) -> StudentToErase {
        StudentToErase {
            id: Uuid::nil(),
            name: "Pupil One".into(),
            email: email.map(str::to_owned),
            classroom_user_id: "1234".into(),
            classes: vec![],
            enrolments: 0,
            folders: 0,
            share_findings: 0,
            window_overrides: 0,
            still_enrolled: false,
        }
    }

    #[test]
    fn the_address_confirms_whatever_its_case() {
        let s = student(Some("pupil001@hillside.sch.uk"));
        assert!(s.confirmed_by(" Pupil001@Hillside.sch.uk "));
        assert!(!s.confirmed_by("pupil002@hillside.sch.uk"));
        assert!(!s.confirmed_by(""));
        assert!(!s.confirmed_by("Pupil One"));
    }

    #[test]
    fn without_an_address_the_classroom_id_confirms() {
        let s = student(None);
        assert_eq!(s.confirmation_label(), "Classroom user id");
        assert!(s.confirmed_by("1234"));
    }

    #[test]
    fn only_keep_or_trash_is_a_choice() {
        assert_eq!(DriveFolders::parse("keep"), Some(DriveFolders::Keep));
        assert_eq!(DriveFolders::parse("trash"), Some(DriveFolders::Trash));
        assert_eq!(DriveFolders::parse(""), None);
    }
}
