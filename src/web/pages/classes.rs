//! "My classes": every class the person may see, with its subject, year, size, how many folders
//! are locked and any assessment window in progress; searchable and filterable (on the server,
//! so it works without the script; the script narrows the list as you type).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::{Layout, PageStaff, Section, london_time, render};
use crate::auth::{ClassAccess, ClassScope};
use crate::portfolio::overview::{self, ClassSummary};
use crate::web::AppState;
use crate::web::error::PageError;

/// One class as the list shows it.
pub struct ClassCard {
    pub id: String,
    pub name: String,
    /// "Chemistry · Year 10 · Set 2"
    pub placement: String,
    pub students: i64,
    pub locked: i64,
    pub pending: i64,
    pub failed: i64,
    /// "Assessment window “Mocks” until 11:30 on 3 March 2027"
    pub window: Option<String>,
    /// Lower-case name and section, for the script's filter.
    pub search: String,
    subject: Option<String>,
    year_group: Option<i16>,
}

impl From<ClassSummary> for ClassCard {
    fn from(c: ClassSummary) -> Self {
        let mut placement: Vec<String> = Vec::new();
        placement.extend(c.subject.clone());
        placement.extend(c.year_group.map(|y| format!("Year {y}")));
        placement.extend(c.section.clone().filter(|s| !s.is_empty()));
        if placement.is_empty() {
            placement.push("No subject or year yet".to_owned());
        }
        let window = c.window.map(|name| match c.window_ends_at {
            Some(end) => format!("Assessment window “{name}” until {}", london_time(end)),
            None => format!("Assessment window “{name}” in progress"),
        });
        Self {
            id: c.id.to_string(),
            search: format!("{} {}", c.name, c.section.as_deref().unwrap_or("")).to_lowercase(),
            name: c.name,
            placement: placement.join(" · "),
            students: c.students,
            locked: c.locked,
            pending: c.pending,
            failed: c.failed,
            window,
            subject: c.subject,
            year_group: c.year_group,
        }
    }
}

#[derive(Template)]
#[template(path = "classes.html")]
pub struct ClassesPage {
    pub layout: Layout,
    pub q: String,
    pub subject: String,
    pub year: Option<i16>,
    pub subjects: Vec<String>,
    pub years: Vec<i16>,
    pub total: usize,
    pub shown: Vec<ClassCard>,
}

/// The list's filters; anything unreadable is simply no filter.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    year: String,
}

/// `GET /classes`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn classes_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, PageError> {
    let scope = staff.class_scope(ClassAccess::View);
    if scope.is_empty() {
        return Err(crate::web::error::ApiError::Forbidden.into());
    }
    let mut tx = staff.school_tx(&state).await?;
    let summaries = match scope {
        ClassScope::Everything => overview::class_summaries(&mut tx, None).await?,
        _ => {
            let ids = scope.classes(&mut tx).await?;
            overview::class_summaries(&mut tx, Some(&ids)).await?
        }
    };
    tx.commit().await?;
    let cards: Vec<ClassCard> = summaries.into_iter().map(ClassCard::from).collect();
    let mut subjects: Vec<String> = cards.iter().filter_map(|c| c.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    let mut years: Vec<i16> = cards.iter().filter_map(|c| c.year_group).collect();
    years.sort_unstable();
    years.dedup();
    let q = filters.q.trim().to_lowercase();
    let year: Option<i16> = filters.year.trim().parse().ok();
    let subject = filters.subject.trim().to_owned();
    let total = cards.len();
    let shown = cards
        .into_iter()
        .filter(|c| q.is_empty() || c.search.contains(&q))
        .filter(|c| subject.is_empty() || c.subject.as_deref() == Some(subject.as_str()))
        .filter(|c| year.is_none() || c.year_group == year)
        .collect();
    render(&ClassesPage {
        layout: Layout::for_staff(&staff, Section::Classes),
        q: filters.q.trim().to_owned(),
        subject,
        year,
        subjects,
        years,
        total,
        shown,
    })
}
