//! Portfolio folders in the school's Shared Drive: subject → class → student, one folder per
//! student per class, each with exactly one direct permission for its student (writer when
//! unlocked, reader when locked).
//!
//! Folders are found by their `appProperties` (`invigilatorSubject`, `invigilatorCourse`,
//! `invigilatorPortfolio` = our ids), so a crash between creating a folder in Drive and recording
//! it here never leads to a second folder: the next run finds the first. Folders are never
//! deleted by this code.

pub mod class_access;
pub mod drive_operators;
pub mod live;
pub mod lock;
pub mod overview;
pub mod scan_queue;
pub mod share_findings;
pub mod share_scan;
pub mod shared_drive;

use std::collections::HashMap;

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::google::{DriveClient, GoogleClients, GoogleError};
use crate::portfolio::lock::LockState;
use crate::tenancy::{School, begin_school_tx};

/// Classes provisioned at once.
const CLASS_CONCURRENCY: usize = 8;

/// What a provisioning run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub subject_folders: u64,
    pub class_folders: u64,
    pub portfolio_folders: u64,
    pub permissions: u64,
    /// Teachers (or teacher groups) given access to a class folder, and those whose access was
    /// taken away because they no longer teach the class.
    pub class_access_granted: u64,
    pub class_access_removed: u64,
    pub errors: Vec<String>,
}

/// Why provisioning could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error(transparent)]
    Google(#[from] GoogleError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct ClassRow {
    course_id: Uuid,
    name: String,
    section: Option<String>,
    drive_folder_id: Option<String>,
    teacher_group_email: Option<String>,
    subject_id: Uuid,
    subject_name: String,
    subject_folder_id: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct PortfolioRow {
    id: Uuid,
    drive_folder_id: Option<String>,
    permission_id: Option<String>,
    desired: LockState,
    desired_version: i64,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    classroom_user_id: String,
}

/// "Family, Given — portfolio", falling back to what is known.
fn folder_name(p: &PortfolioRow) -> String {
    let person = match (&p.family_name, &p.given_name) {
        (Some(f), Some(g)) => format!("{f}, {g}"),
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => p
            .email
            .clone()
            .unwrap_or_else(|| format!("Student {}", p.classroom_user_id)),
    };
    format!("{person} — portfolio")
}

fn class_name(c: &ClassRow) -> String {
    match c.section.as_deref().filter(|s| !s.is_empty()) {
        Some(section) => format!("{} ({section})", c.name),
        None => c.name.clone(),
    }
}

/// Makes sure every active class has its folders and every enrolled student their portfolio
/// folder and permission, in shared drive `drive_id`.
#[tracing::instrument(skip(pool, google), fields(school = %school.slug))]
pub async fn provision(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    drive_id: &str,
) -> Result<FolderReport, FolderError> {
    let drive = google.drive(school).await?;
    let mut report = FolderReport::default();

    // Every active enrolment has a portfolio row (the row is the lock pipeline's outbox).
    let mut tx = begin_school_tx(pool, school).await?;
    sqlx::query(
        "INSERT INTO portfolios (course_id, student_id) \
         SELECT e.course_id, e.student_id FROM enrolments e JOIN courses c ON c.id = e.course_id \
         WHERE e.ended_at IS NULL AND c.active \
         ON CONFLICT (course_id, student_id) DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    // A student who joined a class a window holds gets a folder that is locked from the start.
    crate::windows::coverage::hold_before_folders(&mut tx).await?;
    let classes = sqlx::query_as::<_, ClassRow>(
        "SELECT c.id AS course_id, c.name, c.section, c.drive_folder_id, c.teacher_group_email, \
                s.id AS subject_id, s.name AS subject_name, s.drive_folder_id AS subject_folder_id \
         FROM courses c JOIN subjects s ON s.id = c.subject_id WHERE c.active ORDER BY s.name, c.name",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    // Subjects first (few), then classes in parallel.
    let mut subject_folders: HashMap<Uuid, String> = HashMap::new();
    for class in &classes {
        if subject_folders.contains_key(&class.subject_id) {
            continue;
        }
        let folder = match &class.subject_folder_id {
            Some(id) => id.clone(),
            None => {
                let made = drive
                    .ensure_folder(
                        drive_id,
                        drive_id,
                        &class.subject_name,
                        "invigilatorSubject",
                        &class.subject_id.to_string(),
                    )
                    .await?;
                let mut tx = begin_school_tx(pool, school).await?;
                sqlx::query(
                    "UPDATE subjects SET drive_folder_id = $2, updated_at = now() WHERE id = $1",
                )
                .bind(class.subject_id)
                .bind(&made.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                report.subject_folders += 1;
                made.id
            }
        };
        subject_folders.insert(class.subject_id, folder);
    }

    let results: Vec<Result<FolderReport, String>> = futures::stream::iter(classes)
        .map(|class| {
            let drive = &drive;
            let subject_folder = subject_folders
                .get(&class.subject_id)
                .cloned()
                .unwrap_or_default();
            async move {
                provision_class(pool, drive, school, drive_id, &subject_folder, &class)
                    .await
                    .map_err(|e| format!("class {}: {e}", class_name(&class)))
            }
        })
        .buffer_unordered(CLASS_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(r) => {
                report.class_folders += r.class_folders;
                report.portfolio_folders += r.portfolio_folders;
                report.permissions += r.permissions;
                report.class_access_granted += r.class_access_granted;
                report.class_access_removed += r.class_access_removed;
                report.errors.extend(r.errors);
            }
            Err(e) => {
                tracing::warn!(error = %e, "class folders not provisioned");
                report.errors.push(e);
            }
        }
    }
    Ok(report)
}

async fn provision_class(
    pool: &PgPool,
    drive: &DriveClient,
    school: &School,
    drive_id: &str,
    subject_folder: &str,
    class: &ClassRow,
) -> Result<FolderReport, FolderError> {
    let mut report = FolderReport::default();
    let class_folder = match &class.drive_folder_id {
        Some(id) => id.clone(),
        None => {
            let made = drive
                .ensure_folder(
                    drive_id,
                    subject_folder,
                    &class_name(class),
                    "invigilatorCourse",
                    &class.course_id.to_string(),
                )
                .await?;
            let mut tx = begin_school_tx(pool, school).await?;
            sqlx::query(
                "UPDATE courses SET drive_folder_id = $2, updated_at = now() WHERE id = $1",
            )
            .bind(class.course_id)
            .bind(&made.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.class_folders += 1;
            made.id
        }
    };
    // Recorded grants make this free when nothing changed, and finish a share a crash cut off.
    let access = class_access::follow_teachers(
        pool,
        drive,
        school,
        class.course_id,
        class.teacher_group_email.as_deref(),
        &class_folder,
    )
    .await?;
    report.class_access_granted += access.granted;
    report.class_access_removed += access.removed;

    let mut tx = begin_school_tx(pool, school).await?;
    let portfolios = sqlx::query_as::<_, PortfolioRow>(
        "SELECT p.id, p.drive_folder_id, p.permission_id, p.desired, p.desired_version, s.email, s.given_name, s.family_name, s.classroom_user_id \
         FROM portfolios p JOIN students s ON s.id = p.student_id \
         JOIN enrolments e ON e.course_id = p.course_id AND e.student_id = p.student_id \
         WHERE p.course_id = $1 AND e.ended_at IS NULL \
           AND (p.drive_folder_id IS NULL OR p.permission_id IS NULL)",
    )
    .bind(class.course_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if portfolios.is_empty() {
        return Ok(report);
    }

    // One listing of the class folder finds every folder made before (even by a run that
    // crashed before recording it); only the missing ones are created.
    let wanted: Vec<(String, String)> = portfolios
        .iter()
        .filter(|p| p.drive_folder_id.is_none())
        .map(|p| (folder_name(p), p.id.to_string()))
        .collect();
    let folders = if wanted.is_empty() {
        HashMap::new()
    } else {
        drive
            .ensure_marked_children(drive_id, &class_folder, "invigilatorPortfolio", &wanted)
            .await?
    };

    for p in portfolios {
        let (folder, fresh) = match (&p.drive_folder_id, folders.get(&p.id.to_string())) {
            (Some(id), _) => (id.clone(), false),
            (None, Some((f, fresh))) => {
                let mut tx = begin_school_tx(pool, school).await?;
                sqlx::query(
                    "UPDATE portfolios SET drive_folder_id = $2, updated_at = now() WHERE id = $1",
                )
                .bind(p.id)
                .bind(&f.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                report.portfolio_folders += 1;
                (f.id.clone(), *fresh)
            }
            (None, None) => continue,
        };
        let Some(email) = p.email.as_deref() else {
            tracing::warn!(portfolio = %p.id, "a student without an email cannot be given their folder");
            report.errors.push(format!(
                "portfolio {}: the student has no email address",
                p.id
            ));
            continue;
        };
        if p.permission_id.is_some() {
            continue;
        }
        // The first grant already honours a lock asked for before the folder was shared.
        let role = p.desired.role();
        // A folder made just now has no permissions to look through first.
        let granted = if fresh {
            drive.create_user_permission(&folder, email, role).await
        } else {
            drive.ensure_user_permission(&folder, email, role).await
        };
        match granted {
            Ok(permission) => {
                let mut tx = begin_school_tx(pool, school).await?;
                let updated = sqlx::query(
                    "UPDATE portfolios SET permission_id = $2, applied = $3, applied_version = $4, \
                         applied_at = now(), last_error = NULL, attempts = 0, \
                         failed_permanently = false, updated_at = now() \
                     WHERE id = $1 AND applied_version <= $4",
                )
                .bind(p.id)
                .bind(&permission)
                .bind(p.desired)
                .bind(p.desired_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // A request made before the folder existed (a window holding the class) is
                // applied by this first grant: the log says so, as the lock worker would.
                if updated == 1 && p.desired_version > 0 {
                    audit::record(
                        &mut tx,
                        &Actor::System("lock-worker"),
                        p.desired.applied_action(),
                        Some(&Target::new("portfolio", p.id)),
                        json!({"version": p.desired_version, "first_grant": true}),
                    )
                    .await?;
                }
                tx.commit().await?;
                report.permissions += 1;
            }
            Err(e) => {
                tracing::warn!(portfolio = %p.id, error = %e, "student permission not created");
                report.errors.push(format!("portfolio {}: {e}", p.id));
            }
        }
    }
    Ok(report)
}
