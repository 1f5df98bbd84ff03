//! `/admin/sharing`: what the onward-share scan found on locked classes' work (whose folder,
//! which file, shared with whom, when found, where it stands), with Remove and Keep as
//! `POST /api/shares/{id}/remove|keep`; the recent scans, and "Scan now" for a class as
//! `POST /api/shares/scans`. It shows what `GET /api/shares` shows, no more.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ConfirmForm, ConfirmPage, DoneQuery, confirmed, done};
use crate::auth::roles::Permission;
use crate::auth::{ClassAccess, ClassScope};
use crate::portfolio::scan_queue::ScanReason;
use crate::portfolio::share_findings::{self, Decision, Finding, FindingStatus, Scan};
use crate::roster::placement;
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::web::portfolios::parse_id;
use crate::web::shares::{LIST_LIMIT, SCAN_LIMIT, decide_finding, queue_scan};

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/sharing", get(show))
        .route("/admin/sharing/scans", post(scan_now))
        .route("/admin/sharing/{id}/{verb}", post(decide))
}

const PAGE: &str = "/admin/sharing";

/// One finding as the page shows it.
pub struct FindingRow {
    pub id: Uuid,
    pub student: String,
    pub class_name: String,
    pub item: String,
    pub grantee: String,
    pub role: &'static str,
    pub found: String,
    pub last_seen: String,
    pub status: &'static str,
    pub status_class: &'static str,
    /// The decision, or why a removal failed.
    pub detail: Option<String>,
    pub can_remove: bool,
    pub can_keep: bool,
}

impl From<Finding> for FindingRow {
    fn from(f: Finding) -> Self {
        let grantee = match (f.grantee_type.as_str(), f.grantee.as_deref()) {
            ("anyone", _) => "Anyone with the link".to_owned(),
            ("domain", Some(domain)) => format!("Everyone at {domain}"),
            ("group", Some(group)) => format!("The group {group}"),
            (_, Some(who)) => who.to_owned(),
            (_, None) => "Someone Drive did not name".to_owned(),
        };
        let role = match f.role.as_str() {
            "reader" => "can view",
            "commenter" => "can comment",
            "writer" => "can edit",
            "fileOrganizer" | "organizer" | "owner" => "can edit and share",
            _ => "has access",
        };
        let (status, status_class) = match f.status {
            FindingStatus::Open => ("Waiting for your decision", "admin-state-open"),
            FindingStatus::Removing => ("Being removed", "admin-state-removing"),
            FindingStatus::Removed => ("Removed", "admin-state-removed"),
            FindingStatus::Kept => ("Kept", "admin-state-kept"),
            FindingStatus::Gone => ("Gone: removed in Drive", "admin-state-gone"),
        };
        let detail = match (&f.last_error, f.status, f.decided_at) {
            (Some(e), FindingStatus::Open, _) => Some(format!(
                "Drive refused to remove it ({e}). Try again, or remove it in Drive."
            )),
            (_, FindingStatus::Kept, Some(at)) => Some(format!("Kept at {}", london_time(at))),
            (_, FindingStatus::Removing | FindingStatus::Removed, Some(at)) => {
                Some(format!("Removal asked for at {}", london_time(at)))
            }
            _ => None,
        };
        Self {
            id: f.id,
            student: f.student_name,
            class_name: f.class_name,
            item: f.item_name,
            grantee,
            role,
            found: london_time(f.first_found_at),
            last_seen: london_time(f.last_seen_at),
            status,
            status_class,
            detail,
            can_remove: matches!(f.status, FindingStatus::Open | FindingStatus::Kept),
            can_keep: f.status == FindingStatus::Open,
        }
    }
}

impl FindingRow {
    /// What removing this grant does, in the words the confirmation asks with (the script's
    /// dialog and the page without it alike).
    pub fn removal_message(&self) -> String {
        format!(
            "{} will no longer have access to “{}” in {}'s folder for {}.",
            self.grantee, self.item, self.student, self.class_name
        )
    }
}

/// One scan as the page shows it.
pub struct ScanRow {
    pub class_name: String,
    pub reason: &'static str,
    pub status: &'static str,
    pub when: String,
    pub counts: String,
    pub error: Option<String>,
}

impl From<Scan> for ScanRow {
    fn from(s: Scan) -> Self {
        Self {
            class_name: s.class_name,
            reason: match s.reason {
                ScanReason::ClassLock => "After the class was locked",
                ScanReason::WindowLock => "After an assessment window locked it",
                ScanReason::Manual => "Scan now",
            },
            status: match s.status.as_str() {
                "waiting" => "Waiting for the class's locks",
                "queued" => "Queued",
                "running" => "Running",
                "done" => "Done",
                "failed" => "Failed",
                "superseded" => "Replaced by a later scan",
                _ => "Unknown",
            },
            when: london_time(s.requested_at),
            counts: format!(
                "{} folders, {} items, {} grants found",
                s.folders, s.items, s.findings
            ),
            error: s.last_error,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_sharing.html")]
pub struct SharingPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub open: Vec<FindingRow>,
    pub others: Vec<FindingRow>,
    pub scans: Vec<ScanRow>,
    /// The classes a scan can be asked for, (id, name).
    pub classes: Vec<(Uuid, String)>,
    pub scan_class: String,
}

async fn page(
    state: &AppState,
    staff: &CurrentStaff,
    notice: Option<&'static str>,
    errors: FormErrors,
    scan_class: String,
) -> Result<SharingPage, PageError> {
    staff.require(Permission::ReviewShares)?;
    let mut tx = staff.school_tx(state).await?;
    let findings = share_findings::list(&mut tx, &[], LIST_LIMIT).await?;
    let scans = share_findings::recent_scans(&mut tx, SCAN_LIMIT).await?;
    // The classes a scan may be asked for: the same scope `POST /api/shares/scans` asks.
    let classes = match staff.class_scope(ClassAccess::ReviewShares) {
        ClassScope::Everything => placement::classes(&mut tx, None).await?,
        scope => {
            let ids = scope.classes(&mut tx).await?;
            placement::classes(&mut tx, Some(&ids)).await?
        }
    };
    tx.commit().await?;
    let (open, others): (Vec<FindingRow>, Vec<FindingRow>) = findings
        .into_iter()
        .map(FindingRow::from)
        .partition(|f| f.can_keep);
    let mut classes: Vec<(Uuid, String)> = classes
        .into_iter()
        .filter(|c| c.active)
        .map(|c| (c.id, c.name))
        .collect();
    classes.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(SharingPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Sharing.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        errors,
        open,
        others,
        scans: scans.into_iter().map(ScanRow::from).collect(),
        classes,
        scan_class,
    })
}

/// `GET /admin/sharing`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice(NOTICES);
    let shown = page(&state, &staff, notice, FormErrors::none(), String::new()).await?;
    Ok(render(&shown)?.into_response())
}

/// `POST /admin/sharing/{id}/remove|keep`, as `POST /api/shares/{id}/remove|keep`; a finding
/// decided meanwhile is refused on the page. A removal is confirmed first, as a rule's is.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn decide(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path((raw_id, verb)): Path<(String, String)>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let decision = match verb.as_str() {
        "remove" => Decision::Remove,
        "keep" => Decision::Keep,
        _ => return Err(PageError::not_found()),
    };
    let id = parse_id(&raw_id)?;
    if decision == Decision::Remove
        && !confirmed(&form.confirm)
        && let Some(asking) = confirm_removal(&state, &staff, id).await?
    {
        return Ok(render(&asking)?.into_response());
    }
    match decide_finding(&state, &staff, id, decision).await {
        Ok(_) => Ok(done(
            PAGE,
            match decision {
                Decision::Remove => "removing",
                Decision::Keep => "kept",
            },
        )),
        Err(refusal) => {
            let errors = FormErrors::from_refusal(refusal)?;
            let shown = page(&state, &staff, None, errors, String::new()).await?;
            Ok(reshow(render(&shown)?))
        }
    }
}

/// The page asking to confirm a removal, without the script; none for a finding that can no
/// longer be removed (the removal is then refused in the domain's words).
async fn confirm_removal(
    state: &AppState,
    staff: &CurrentStaff,
    id: Uuid,
) -> Result<Option<ConfirmPage>, PageError> {
    staff.require(Permission::ReviewShares)?;
    let mut tx = staff.school_tx(state).await?;
    let finding = share_findings::get(&mut tx, id)
        .await?
        .ok_or_else(PageError::not_found)?;
    tx.commit().await?;
    let row = FindingRow::from(finding);
    Ok(row.can_remove.then(|| ConfirmPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Sharing.tabs(),
        csrf_token: staff.csrf_token.clone(),
        heading: "Remove this access?".to_owned(),
        message: row.removal_message(),
        action: format!("{PAGE}/{id}/remove"),
        yes: "Remove the access",
        back: PAGE,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ScanForm {
    class_id: String,
}

/// `POST /admin/sharing/scans`: a class's folders scanned now, as `POST /api/shares/scans`.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn scan_now(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<ScanForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ReviewShares)?;
    let Ok(class_id) = Uuid::parse_str(form.class_id.trim()) else {
        let mut errors = FormErrors::none();
        errors.add("class_id", "Choose a class to scan");
        let shown = page(&state, &staff, None, errors, form.class_id).await?;
        return Ok(reshow(render(&shown)?));
    };
    queue_scan(&state, &staff, class_id).await?;
    Ok(done(PAGE, "scan"))
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    (
        "removing",
        "Removal asked for: the grant is taken away in Drive in the background, usually \
             within a minute.",
    ),
    (
        "kept",
        "Kept. Later scans will not report it again unless it gives more access.",
    ),
    (
        "scan",
        "Scan asked for. It runs in the background; reload this page to see what it finds.",
    ),
];
