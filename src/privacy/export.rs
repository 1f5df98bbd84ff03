//! Subject access export: every row we hold about one student or one member of staff, as a zip
//! of JSON and CSV files with a manifest (see [`super::archive`]).
//!
//! What each export holds (one JSON and one CSV file per item):
//!
//! - a student: `profile`, `enrolments` (with the class's name), `portfolios` (lock state and a
//!   link to the Drive folder), `lock_history` (the lock and unlock entries of the audit log for
//!   their folders), `window_overrides` (times an officer let them out of an assessment window,
//!   with the reason), `share_findings` (onward shares found on their work, with the grantee's
//!   address and the item's name), `audit_entries` (every audit entry about them: they, one of
//!   their folders or a finding on it is the target, or their id is in its details);
//! - a member of staff: `profile`, `roles`, `invitations_sent`, `classes_taught`,
//!   `calendar_feeds` (when each secret feed address was made, revoked and last read; not the
//!   hash of its secret), `google_credentials` (account, scopes, status and dates; never a token
//!   or key), `windows` (assessment windows they created or ended), `window_overrides_made`,
//!   `share_decisions` (onward shares they removed or kept), `audit_entries` (they acted, or
//!   they, one of their roles, feeds or credentials is the target, or their id is in its
//!   details).
//!
//! The export reads one snapshot of the school's data and is recorded in the audit log
//! (`subject_access.exported`, ids and counts only) once written.

use std::fs::File;

use chrono::Utc;
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::archive::{
    ArchiveError, ArchiveLabel, ArchiveWriter, Bind, Manifest, ManifestSchool, Source, Subject,
};
use crate::audit::{self, Action, Actor, Target};
use crate::auth::staff::DISPLAY_NAME_SQL;
use crate::portfolio::overview::student_name;
use crate::tenancy::{School, SchoolTx, begin_school_snapshot_tx, begin_school_tx};

/// Whose data is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    Student(Uuid),
    Staff(Uuid),
}

impl Person {
    pub fn id(self) -> Uuid {
        match self {
            Self::Student(id) | Self::Staff(id) => id,
        }
    }

    /// `student` or `staff`, as audit targets and manifests name them.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Student(_) => "student",
            Self::Staff(_) => "staff",
        }
    }
}

/// Why an export was not made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No such person in this school (or in this school's schema at all).
    #[error("no such person in this school")]
    NotFound,
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("database")]
    Database(#[from] sqlx::Error),
}

/// Who a person is, for the pages: named by the rules the rest of the product names them by
/// (`portfolio::overview::student_name`, `auth::staff::DISPLAY_NAME_SQL`), never blank.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonCard {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
}

/// A student's row as the pages' cards read it, before it is named.
#[derive(sqlx::FromRow)]
struct StudentCardRow {
    id: Uuid,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
}

impl From<StudentCardRow> for PersonCard {
    fn from(row: StudentCardRow) -> Self {
        Self {
            name: student_name(
                row.given_name.as_deref(),
                row.family_name.as_deref(),
                row.email.as_deref(),
                row.id,
            ),
            id: row.id,
            email: row.email,
        }
    }
}

/// The staff card's columns: their display name by the one rule, and address.
fn staff_card_sql(filter: &str) -> String {
    format!("SELECT id, {DISPLAY_NAME_SQL} AS name, email FROM staff {filter}")
}

/// Who is asking: the member of staff, and how the archive names them.
#[derive(Debug, Clone)]
pub struct Requester {
    pub staff_id: Uuid,
    /// "Name <address>", on every CSV's first line and in the manifest.
    pub label: String,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub file: File,
    pub manifest: Manifest,
}

/// The person, if they are in this school.
#[tracing::instrument(skip(tx))]
pub async fn find(tx: &mut SchoolTx, person: Person) -> Result<Option<PersonCard>, sqlx::Error> {
    match person {
        Person::Student(id) => Ok(sqlx::query_as::<_, StudentCardRow>(
            "SELECT id, given_name, family_name, email FROM students WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(PersonCard::from)),
        Person::Staff(id) => {
            sqlx::query_as::<_, PersonCard>(AssertSqlSafe(staff_card_sql("WHERE id = $1")))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
        }
    }
}

/// The files of a person's export, each as the query reading its rows. `folder_url` is where a
/// Drive folder opens in a browser when its id is appended.
pub fn sources(person: Person, folder_url: &str) -> Vec<Source> {
    let id = || vec![Bind::Uuid(person.id())];
    match person {
        Person::Student(_) => vec![
            Source::new(
                "profile",
                "SELECT id, classroom_user_id, email, given_name, family_name, \
                 created_at, updated_at FROM students WHERE id = $1",
                id(),
            ),
            Source::new(
                "enrolments",
                "SELECT e.course_id, c.name AS class_name, c.section AS class_section, \
                 e.started_at, e.ended_at \
                 FROM enrolments e JOIN courses c ON c.id = e.course_id \
                 WHERE e.student_id = $1 ORDER BY e.started_at, c.name",
                id(),
            ),
            Source::new(
                "portfolios",
                "SELECT p.id, p.course_id, c.name AS class_name, p.drive_folder_id, \
                 CASE WHEN p.drive_folder_id IS NOT NULL THEN $2 || p.drive_folder_id END \
                     AS folder_link, \
                 p.permission_id, p.desired, p.desired_version, p.desired_at, p.applied, \
                 p.applied_version, p.applied_at, p.locked_by_staff, p.attempts, p.last_error, \
                 p.failed_permanently, p.created_at, p.updated_at \
                 FROM portfolios p JOIN courses c ON c.id = p.course_id \
                 WHERE p.student_id = $1 ORDER BY c.name",
                vec![Bind::Uuid(person.id()), Bind::Text(folder_url.to_owned())],
            ),
            Source::new(
                "lock_history",
                "SELECT a.id, a.at, a.actor, a.action, a.target_id AS portfolio_id, a.details \
                 FROM audit_log a \
                 WHERE a.target_type = 'portfolio' AND a.action LIKE 'portfolio.%' \
                   AND a.target_id IN (SELECT id::text FROM portfolios WHERE student_id = $1) \
                 ORDER BY a.id",
                id(),
            ),
            Source::new(
                "window_overrides",
                "SELECT o.window_id, w.name AS window_name, o.portfolio_id, o.reason, \
                 o.by_staff, o.at \
                 FROM window_overrides o JOIN assessment_windows w ON w.id = o.window_id \
                 WHERE o.portfolio_id IN (SELECT id FROM portfolios WHERE student_id = $1) \
                 ORDER BY o.at",
                id(),
            ),
            Source::new(
                "share_findings",
                "SELECT f.id, f.portfolio_id, f.drive_item_id, f.item_name, f.permission_id, \
                 f.grantee_type, f.grantee, f.role, f.kept_role, f.status, f.first_found_at, \
                 f.last_seen_at, f.decided_by, f.decided_at, f.last_error \
                 FROM share_findings f \
                 WHERE f.portfolio_id IN (SELECT id FROM portfolios WHERE student_id = $1) \
                 ORDER BY f.first_found_at",
                id(),
            ),
            Source::new(
                "audit_entries",
                audit_entries_sql(
                    "SELECT $1::uuid::text \
                     UNION ALL SELECT id::text FROM portfolios WHERE student_id = $1 \
                     UNION ALL SELECT f.id::text FROM share_findings f \
                         JOIN portfolios p ON p.id = f.portfolio_id WHERE p.student_id = $1",
                    "('student', 'portfolio', 'share_finding')",
                    "false",
                ),
                id(),
            ),
        ],
        Person::Staff(_) => vec![
            Source::new(
                "profile",
                "SELECT id, google_sub, email, display_name, given_name, family_name, photo_url, \
                 last_signed_in_at, left_at, created_at, updated_at FROM staff WHERE id = $1",
                id(),
            ),
            Source::new(
                "roles",
                "SELECT r.id, r.role, r.subject_id, s.name AS subject_name, r.granted_by, \
                 r.granted_at \
                 FROM role_assignments r LEFT JOIN subjects s ON s.id = r.subject_id \
                 WHERE r.staff_id = $1 ORDER BY r.granted_at",
                id(),
            ),
            Source::new(
                "invitations_sent",
                "SELECT id, email, role, subject_id, created_at FROM role_invitations \
                 WHERE invited_by = $1 ORDER BY created_at",
                id(),
            ),
            Source::new(
                "invitations_received",
                "SELECT i.id, i.email, i.role, i.subject_id, i.invited_by, i.created_at, \
                 i.expires_at FROM role_invitations i JOIN staff s ON lower(s.email) = lower(i.email) \
                 WHERE s.id = $1 ORDER BY i.created_at",
                id(),
            ),
            Source::new(
                "class_folder_access",
                "SELECT g.course_id, c.name AS class_name, g.grantee_type, g.email, \
                 g.permission_id, g.granted_at FROM class_folder_grants g \
                 JOIN courses c ON c.id = g.course_id JOIN staff s ON lower(s.email) = lower(g.email) \
                 WHERE s.id = $1 ORDER BY c.name",
                id(),
            ),
            Source::new(
                "share_scans_requested",
                "SELECT id, course_id, reason, requested_at, status, status_at FROM share_scans \
                 WHERE requested_by = $1 ORDER BY requested_at",
                id(),
            ),
            Source::new(
                "classes_taught",
                "SELECT t.course_id, c.name AS class_name, c.section AS class_section, \
                 t.created_at FROM course_teachers t JOIN courses c ON c.id = t.course_id \
                 WHERE t.staff_id = $1 ORDER BY c.name",
                id(),
            ),
            Source::new(
                "calendar_feeds",
                "SELECT id, created_at, revoked_at, last_read_at FROM calendar_feeds \
                 WHERE staff_id = $1 ORDER BY created_at",
                id(),
            ),
            Source::new(
                "google_credentials",
                "SELECT id, kind, purpose, account_email, scopes, status, status_reason, \
                 created_at, updated_at FROM google_credentials WHERE staff_id = $1 \
                 ORDER BY created_at",
                id(),
            ),
            Source::new(
                "windows",
                "SELECT id, name, starts_at, ends_at, state, created_by, created_at, \
                 finished_by, finished_at FROM assessment_windows \
                 WHERE created_by = $1 OR finished_by = $1 ORDER BY starts_at",
                id(),
            ),
            Source::new(
                "window_overrides_made",
                "SELECT window_id, portfolio_id, reason, at FROM window_overrides \
                 WHERE by_staff = $1 ORDER BY at",
                id(),
            ),
            Source::new(
                "share_decisions",
                "SELECT id, portfolio_id, status, kept_role, decided_at FROM share_findings \
                 WHERE decided_by = $1 ORDER BY decided_at",
                id(),
            ),
            Source::new(
                "audit_entries",
                audit_entries_sql(
                    "SELECT $1::uuid::text \
                     UNION ALL SELECT id::text FROM role_assignments WHERE staff_id = $1 \
                     UNION ALL SELECT id::text FROM calendar_feeds WHERE staff_id = $1 \
                     UNION ALL SELECT id::text FROM google_credentials WHERE staff_id = $1",
                    "('staff', 'role_assignment', 'calendar_feed', 'google_credential')",
                    "a.actor = 'staff:' || $1::uuid::text",
                ),
                id(),
            ),
        ],
    }
}

/// Audit entries whose target is one of `ids` (of the `kinds` listed), or whose details hold
/// one of them, or that match `also`.
fn audit_entries_sql(ids: &str, kinds: &str, also: &str) -> String {
    format!(
        "WITH ids(id) AS ({ids}) \
         SELECT a.id, a.at, a.actor, a.action, a.target_type, a.target_id, a.details \
         FROM audit_log a \
         WHERE {also} \
            OR (a.target_type IN {kinds} AND a.target_id IN (SELECT id FROM ids)) \
            OR EXISTS (SELECT 1 FROM ids WHERE strpos(a.details::text, ids.id) > 0) \
         ORDER BY a.id"
    )
}

/// How many rows each file of a person's export would hold now, for the person's page.
#[tracing::instrument(skip(tx, folder_url))]
pub async fn summary(
    tx: &mut SchoolTx,
    person: Person,
    folder_url: &str,
) -> Result<Vec<(String, i64)>, ExportError> {
    let mut counts = Vec::new();
    for source in sources(person, folder_url) {
        let n = source.count(tx).await?;
        counts.push((source.name, n));
    }
    Ok(counts)
}

/// Writes `person`'s export into `out` and records it in the audit log. Unknown in this
/// school → [`ExportError::NotFound`], and nothing is written or recorded.
#[tracing::instrument(skip(pool, school, requester, folder_url, out), fields(school = %school.slug))]
pub async fn export_person(
    pool: &PgPool,
    school: &School,
    requester: &Requester,
    person: Person,
    folder_url: &str,
    out: File,
) -> Result<Exported, ExportError> {
    let mut tx = begin_school_snapshot_tx(pool, school).await?;
    if find(&mut tx, person).await?.is_none() {
        return Err(ExportError::NotFound);
    }
    let label = ArchiveLabel {
        school: ManifestSchool {
            slug: school.slug.clone(),
            name: school.name.clone(),
        },
        subject: Subject {
            kind: person.kind().to_owned(),
            id: person.id(),
        },
        requester: requester.label.clone(),
        at: Utc::now(),
    };
    let mut archive = ArchiveWriter::new(std::io::BufWriter::new(out), label);
    for source in sources(person, folder_url) {
        archive.add(&mut tx, &source).await?;
    }
    tx.commit().await?;
    let (out, manifest) = archive.finish()?;
    let file = out
        .into_inner()
        .map_err(|e| ArchiveError::Io(e.into_error()))?;

    // Recorded once the export exists; the entry holds ids and counts only.
    let mut tx = begin_school_tx(pool, school).await?;
    let rows: u64 = manifest
        .files
        .iter()
        .filter(|f| f.name.ends_with(".json"))
        .map(|f| f.rows)
        .sum();
    audit::record(
        &mut tx,
        &Actor::Staff(requester.staff_id),
        Action::SubjectAccessExported,
        Some(&Target::new(person.kind(), person.id())),
        json!({"files": manifest.files.len(), "rows": rows}),
    )
    .await?;
    tx.commit().await?;
    Ok(Exported { file, manifest })
}

/// People whose name or address contains `query` (case-insensitively), at most `limit` of
/// each, students and staff.
#[tracing::instrument(skip(tx, query))]
pub async fn search(
    tx: &mut SchoolTx,
    query: &str,
    limit: i64,
) -> Result<(Vec<PersonCard>, Vec<PersonCard>), sqlx::Error> {
    // The query is a literal piece of text, never a pattern.
    let pattern = format!(
        "%{}%",
        query
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let students = sqlx::query_as::<_, StudentCardRow>(
        "SELECT id, given_name, family_name, email FROM students \
         WHERE email ILIKE $1 OR (coalesce(given_name, '') || ' ' || coalesce(family_name, '')) ILIKE $1 \
            OR id::text = $2 \
         ORDER BY family_name, given_name, email LIMIT $3",
    )
    .bind(&pattern)
    .bind(query.trim())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(PersonCard::from)
    .collect();
    let staff = sqlx::query_as::<_, PersonCard>(AssertSqlSafe(staff_card_sql(
        "WHERE email ILIKE $1 OR display_name ILIKE $1 \
            OR (coalesce(given_name, '') || ' ' || coalesce(family_name, '')) ILIKE $1 \
            OR id::text = $2 \
         ORDER BY display_name, email LIMIT $3",
    )))
    .bind(&pattern)
    .bind(query.trim())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok((students, staff))
}
