//! `/admin/privacy` ("Data protection"): find a student or member of staff by name or address,
//! then their page, `/admin/privacy/students/{id}` or `/admin/privacy/staff/{id}`, with how
//! many rows of each kind the school holds about them and a "Download their data" button. The
//! button is a link to the subject access export of the JSON API
//! (`/api/privacy/{students|staff}/{id}/export`), so a download is the one export and the one
//! audit entry, whichever way it was asked for. The student page leaves a marked place for
//! further actions (`templates/admin_privacy_actions.html`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::auth::roles::Permission;
use crate::privacy::export::{self, Person, PersonCard};
use crate::web::AppState;
use crate::web::error::{ApiError, PageError};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, render};
use crate::web::portfolios::parse_id;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/privacy", get(find))
        .route("/admin/privacy/students/{id}", get(student))
        .route("/admin/privacy/staff/{id}", get(staff_member))
}

/// At most this many of each (students, staff) are listed for one search.
const SHOWN: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FindQuery {
    q: String,
}

#[derive(Template)]
#[template(path = "admin_privacy.html")]
pub struct FindPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub query: String,
    pub searched: bool,
    pub students: Vec<PersonCard>,
    pub staff: Vec<PersonCard>,
    pub shown: i64,
}

/// `GET /admin/privacy?q=…`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn find(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<FindQuery>,
) -> Result<Response, PageError> {
    staff.require(Permission::UsePrivacyTools)?;
    let q = query.q.trim().chars().take(200).collect::<String>();
    let (students, people) = if q.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let mut tx = staff.school_tx(&state).await?;
        let found = export::search(&mut tx, &q, SHOWN).await?;
        tx.commit().await?;
        found
    };
    Ok(render(&FindPage {
        layout: Layout::for_staff(&staff, Section::Admin),
        tabs: AdminTab::Privacy.tabs(),
        searched: !q.is_empty(),
        query: q,
        students,
        staff: people,
        shown: SHOWN,
    })?
    .into_response())
}

/// One kind of row held about the person, in words.
pub struct Held {
    pub what: &'static str,
    pub rows: i64,
}

#[derive(Template)]
#[template(path = "admin_privacy_person.html")]
pub struct PersonPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    /// "student" or "member of staff".
    pub kind: &'static str,
    pub is_student: bool,
    pub person: PersonCard,
    pub held: Vec<Held>,
    pub download: String,
}

/// What each file of an export holds, as the page says it.
fn described(file: &str) -> &'static str {
    match file {
        "profile" => "Profile (name, address, Google ids)",
        "enrolments" => "Classes they are or were in",
        "portfolios" => "Portfolio folders, with their lock state and Drive link",
        "lock_history" => "Locks and unlocks of their folders",
        "window_overrides" => "Times they were let out of an assessment window",
        "share_findings" => "Onward shares found on their work",
        "audit_entries" => "Audit log entries about them",
        "roles" => "Roles they hold",
        "invitations_sent" => "Role invitations they sent",
        "classes_taught" => "Classes they teach",
        "calendar_feeds" => "Calendar feed addresses they made",
        "google_credentials" => "Google accounts connected (never the tokens)",
        "windows" => "Assessment windows they created or ended",
        "window_overrides_made" => "Students they let out of a window",
        "share_decisions" => "Onward shares they removed or kept",
        _ => "Other records",
    }
}

async fn person_page(
    state: &AppState,
    staff: &crate::web::extract::CurrentStaff,
    person: Person,
) -> Result<Response, PageError> {
    staff.require(Permission::UsePrivacyTools)?;
    let mut tx = staff.school_tx(state).await?;
    let Some(card) = export::find(&mut tx, person).await? else {
        return Err(ApiError::NotFound.into());
    };
    let held = export::summary(&mut tx, person, &state.web.drive_folder_url)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|(file, rows)| Held {
            what: described(&file),
            rows,
        })
        .collect();
    tx.commit().await?;
    let (kind, path) = match person {
        Person::Student(_) => ("student", "students"),
        Person::Staff(_) => ("member of staff", "staff"),
    };
    Ok(render(&PersonPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Privacy.tabs(),
        kind,
        is_student: matches!(person, Person::Student(_)),
        download: format!("/api/privacy/{path}/{}/export", person.id()),
        person: card,
        held,
    })?
    .into_response())
}

/// `GET /admin/privacy/students/{id}`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn student(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    person_page(&state, &staff, Person::Student(id)).await
}

/// `GET /admin/privacy/staff/{id}`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn staff_member(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    person_page(&state, &staff, Person::Staff(id)).await
}
