//! The names behind the ids in audit entries, for people reading the log.
//!
//! Entries hold ids only (see the module doc of [`super`]); whoever shows them looks the names
//! up at reading time, so an erased student or a departed member of staff simply no longer
//! resolves and is shown by id. One query per kind of thing, for all the entries of a page.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use super::AuditEntry;
use crate::auth::staff::DISPLAY_NAME_SQL;
use crate::portfolio::overview::student_name;
use crate::tenancy::SchoolTx;

/// A student's folder in a class, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderName {
    pub student: String,
    pub class: String,
}

/// What the ids in some entries name. An id missing from a map no longer names anything
/// (deleted, erased) or never did.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Staff, by id: their display name, or their address when they have none.
    pub staff: HashMap<Uuid, String>,
    /// Classes (courses), by id.
    pub classes: HashMap<Uuid, String>,
    /// Portfolios, by id.
    pub folders: HashMap<Uuid, FolderName>,
    /// Assessment windows, by id.
    pub windows: HashMap<Uuid, String>,
    /// Onward-share scans, by id: the class scanned.
    pub scans: HashMap<i64, String>,
    /// Onward shares found, by id: the folder they were found in.
    pub findings: HashMap<Uuid, FolderName>,
    /// Role assignments still held, by id: whose they are.
    pub assignments: HashMap<Uuid, String>,
    /// Subject and year rules still in place, by id: “pattern” → where it puts classes.
    pub rules: HashMap<Uuid, String>,
    /// Subjects, by id.
    pub subjects: HashMap<Uuid, String>,
    /// Google accounts connected (Drive operators' and staff's sign-ins), by credential id:
    /// their address, while the connection is kept (a revoked one is deleted).
    pub accounts: HashMap<Uuid, String>,
}

/// The ids of each kind that some entries mention.
#[derive(Default)]
struct Wanted {
    staff: Vec<Uuid>,
    classes: Vec<Uuid>,
    folders: Vec<Uuid>,
    windows: Vec<Uuid>,
    scans: Vec<i64>,
    findings: Vec<Uuid>,
    assignments: Vec<Uuid>,
    rules: Vec<Uuid>,
    subjects: Vec<Uuid>,
    accounts: Vec<Uuid>,
}

/// The uuids a details value holds: one, or a list of them.
fn uuids_in(value: Option<&Value>) -> Vec<Uuid> {
    match value {
        Some(Value::String(s)) => Uuid::parse_str(s).ok().into_iter().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect(),
        _ => Vec::new(),
    }
}

impl Wanted {
    fn of(entries: &[AuditEntry]) -> Self {
        let mut wanted = Self::default();
        for e in entries {
            if let Some(id) = e.actor.strip_prefix("staff:")
                && let Ok(id) = Uuid::parse_str(id)
            {
                wanted.staff.push(id);
            }
            let target = e.target_id.as_deref().unwrap_or_default();
            let uuid = Uuid::parse_str(target).ok();
            match (e.target_type.as_deref(), uuid) {
                (Some("staff"), Some(id)) => wanted.staff.push(id),
                (Some("course"), Some(id)) => wanted.classes.push(id),
                (Some("portfolio"), Some(id)) => wanted.folders.push(id),
                (Some("window"), Some(id)) => wanted.windows.push(id),
                (Some("share_finding"), Some(id)) => wanted.findings.push(id),
                (Some("role_assignment"), Some(id)) => wanted.assignments.push(id),
                (Some("subject_rule" | "year_group_rule"), Some(id)) => wanted.rules.push(id),
                (Some("google_credential"), Some(id)) => wanted.accounts.push(id),
                (Some("share_scan"), _) => wanted.scans.extend(target.parse::<i64>().ok()),
                _ => {}
            }
            let details = &e.details;
            for key in ["staff", "staff_id"] {
                wanted.staff.extend(uuids_in(details.get(key)));
            }
            for key in ["course", "class"] {
                wanted.classes.extend(uuids_in(details.get(key)));
            }
            wanted.folders.extend(uuids_in(details.get("portfolio")));
            wanted.windows.extend(uuids_in(details.get("window")));
            for key in ["subject_id", "subject_override"] {
                wanted.subjects.extend(uuids_in(details.get(key)));
            }
            // The Drive account an applied lock or unlock went through.
            wanted.accounts.extend(uuids_in(details.get("operator")));
        }
        for list in [
            &mut wanted.staff,
            &mut wanted.classes,
            &mut wanted.folders,
            &mut wanted.windows,
            &mut wanted.findings,
            &mut wanted.assignments,
            &mut wanted.rules,
            &mut wanted.subjects,
            &mut wanted.accounts,
        ] {
            list.sort_unstable();
            list.dedup();
        }
        wanted.scans.sort_unstable();
        wanted.scans.dedup();
        wanted
    }
}

#[derive(sqlx::FromRow)]
struct FolderRow {
    id: Uuid,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    student_id: Uuid,
    class: String,
}

impl FolderRow {
    fn into_pair(self) -> (Uuid, FolderName) {
        (
            self.id,
            FolderName {
                student: student_name(
                    self.given_name.as_deref(),
                    self.family_name.as_deref(),
                    self.email.as_deref(),
                    self.student_id,
                ),
                class: self.class,
            },
        )
    }
}

/// The names behind every id `entries` mention: their actors, targets and the ids in their
/// details (`staff`, `staff_id`, `course`, `class`, `portfolio`, `window`, `subject_id`,
/// `subject_override`, `operator`).
#[tracing::instrument(skip_all, fields(school = %tx.school_id()))]
pub async fn resolve(tx: &mut SchoolTx, entries: &[AuditEntry]) -> Result<Names, sqlx::Error> {
    let wanted = Wanted::of(entries);
    let mut names = Names::default();
    if !wanted.staff.is_empty() {
        names.staff = crate::auth::staff::names(tx, &wanted.staff).await?;
    }
    if !wanted.classes.is_empty() {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, name FROM courses WHERE id = ANY($1)")
                .bind(&wanted.classes)
                .fetch_all(&mut **tx)
                .await?;
        names.classes = rows.into_iter().collect();
    }
    if !wanted.folders.is_empty() {
        let rows: Vec<FolderRow> = sqlx::query_as(
            "SELECT p.id, st.given_name, st.family_name, st.email, st.id AS student_id, \
                    c.name AS class \
             FROM portfolios p JOIN students st ON st.id = p.student_id \
             JOIN courses c ON c.id = p.course_id WHERE p.id = ANY($1)",
        )
        .bind(&wanted.folders)
        .fetch_all(&mut **tx)
        .await?;
        names.folders = rows.into_iter().map(FolderRow::into_pair).collect();
    }
    if !wanted.windows.is_empty() {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, name FROM assessment_windows WHERE id = ANY($1)")
                .bind(&wanted.windows)
                .fetch_all(&mut **tx)
                .await?;
        names.windows = rows.into_iter().collect();
    }
    if !wanted.scans.is_empty() {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT s.id, c.name FROM share_scans s JOIN courses c ON c.id = s.course_id \
             WHERE s.id = ANY($1)",
        )
        .bind(&wanted.scans)
        .fetch_all(&mut **tx)
        .await?;
        names.scans = rows.into_iter().collect();
    }
    if !wanted.findings.is_empty() {
        let rows: Vec<FolderRow> = sqlx::query_as(
            "SELECT f.id, st.given_name, st.family_name, st.email, st.id AS student_id, \
                    c.name AS class \
             FROM share_findings f JOIN portfolios p ON p.id = f.portfolio_id \
             JOIN students st ON st.id = p.student_id JOIN courses c ON c.id = p.course_id \
             WHERE f.id = ANY($1)",
        )
        .bind(&wanted.findings)
        .fetch_all(&mut **tx)
        .await?;
        names.findings = rows.into_iter().map(FolderRow::into_pair).collect();
    }
    if !wanted.assignments.is_empty() {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT r.id, {DISPLAY_NAME_SQL} FROM role_assignments r \
             JOIN staff ON staff.id = r.staff_id WHERE r.id = ANY($1)"
        )))
        .bind(&wanted.assignments)
        .fetch_all(&mut **tx)
        .await?;
        names.assignments = rows.into_iter().collect();
    }
    if !wanted.rules.is_empty() {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT r.id, '“' || r.pattern || '” → ' || s.name FROM subject_rules r \
             JOIN subjects s ON s.id = r.subject_id WHERE r.id = ANY($1) \
             UNION ALL \
             SELECT id, '“' || pattern || '” → Year ' || year_group FROM year_group_rules \
             WHERE id = ANY($1)",
        )
        .bind(&wanted.rules)
        .fetch_all(&mut **tx)
        .await?;
        names.rules = rows.into_iter().collect();
    }
    if !wanted.subjects.is_empty() {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, name FROM subjects WHERE id = ANY($1)")
                .bind(&wanted.subjects)
                .fetch_all(&mut **tx)
                .await?;
        names.subjects = rows.into_iter().collect();
    }
    if !wanted.accounts.is_empty() {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, account_email FROM google_credentials WHERE id = ANY($1)")
                .bind(&wanted.accounts)
                .fetch_all(&mut **tx)
                .await?;
        names.accounts = rows.into_iter().collect();
    }
    Ok(names)
}

/// A member of staff, as a list to choose from shows them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffChoice {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// Every member of staff (with a role or not, as long as their record is kept), by name, for
/// choosing whose entries to read.
pub async fn staff_by_name(tx: &mut SchoolTx) -> Result<Vec<StaffChoice>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT staff.id, {DISPLAY_NAME_SQL} AS name, staff.email FROM staff \
         ORDER BY lower({DISPLAY_NAME_SQL}), staff.email, staff.id"
    )))
    .fetch_all(&mut **tx)
    .await
}
