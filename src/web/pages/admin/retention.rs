//! `/admin/privacy/retention`: what the next daily retention run will delete, as
//! `GET /api/privacy/retention` reports it (`privacy::retention::due`, which the run itself
//! uses): the students and staff by name, and how many of everything else.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::privacy::retention::{Due, LEAVER_DAYS};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::web::retention::retention_preview;

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/privacy/retention", get(show))
}

/// A person as the page lists them.
pub struct PersonRow {
    pub name: String,
    pub last_activity: String,
    pub left: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_retention.html")]
pub struct RetentionPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub due: Due,
    pub cutoff: String,
    pub leaver_days: i32,
    pub students: Vec<PersonRow>,
    pub staff: Vec<PersonRow>,
}

/// `GET /admin/privacy/retention`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    let due = retention_preview(&state, &staff).await?;
    let rows = |people: &[crate::privacy::retention::DuePerson]| {
        people
            .iter()
            .map(|p| PersonRow {
                name: p.name.clone(),
                last_activity: london_time(p.last_activity),
                left: p.left_at.map(london_time),
            })
            .collect()
    };
    Ok(render(&RetentionPage {
        layout: Layout::for_staff(&staff, Section::Admin),
        tabs: AdminTab::Privacy.tabs(),
        cutoff: london_time(due.cutoff),
        leaver_days: LEAVER_DAYS,
        students: rows(&due.students),
        staff: rows(&due.staff),
        due,
    })?
    .into_response())
}
