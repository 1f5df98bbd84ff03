//! `/admin/privacy/held` ("What Invigilator holds"): every kind of record Invigilator keeps for
//! the school — each table of its own schema with how many rows it holds now, the platform's
//! records about schools, and the short-lived Redis keys — each with what it is, its category,
//! whom it is about and how long it is kept, as `GET /api/privacy/data-map` answers. For the
//! School Admin and the school's data-protection officer, in the words of `docs/data-map.md`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::privacy::data_map::{Entry, Held, Place};
use crate::web::AppState;
use crate::web::data_map::data_map_of;
use crate::web::error::PageError;
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, render};

/// A piece of the map's text: plain, or code (between backticks in the document).
pub struct Span<'a> {
    pub code: bool,
    pub text: &'a str,
}

/// The map's text in pieces, so the template shows `retention_months` as code, escaped as any
/// other text, never as raw HTML.
pub fn spans(text: &str) -> Vec<Span<'_>> {
    text.split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| Span {
            code: i % 2 == 1,
            text: piece,
        })
        .collect()
}

/// "None" in the map's "about" column, as the page says it.
pub fn whom(about: &str) -> &str {
    if about == "None" { "No one" } else { about }
}

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/privacy/held", get(show))
}

/// A table as the page lists it: what it is, and a summary of its columns.
pub struct TableRow {
    pub name: String,
    pub description: String,
    /// Rows held now, for the school's own tables.
    pub rows: Option<i64>,
    /// Whom its columns are about ("Student, Staff"), "No one" when none.
    pub about: String,
    /// How long it is kept, when every column says the same.
    pub retention: Option<String>,
    pub entries: &'static [Entry],
}

#[derive(Template)]
#[template(path = "admin_data_map.html")]
pub struct DataMapPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub school: Vec<TableRow>,
    pub platform: Vec<TableRow>,
    pub redis: &'static [Entry],
    pub total_rows: i64,
}

impl TableRow {
    fn of(held: &Held) -> Self {
        let group = held.group;
        // Whom the table is about, in the order the page names them, from its columns' cells
        // ("Staff and students, by id in …" is about staff and students).
        let about: Vec<&str> = [
            ("student", "Students"),
            ("staff", "Staff"),
            ("school admin", "Staff"),
            ("third part", "Third parties"),
            ("operator", "Invigilator operators"),
        ]
        .into_iter()
        .filter(|(word, _)| {
            group
                .entries
                .iter()
                .any(|e| e.about.to_lowercase().contains(word))
        })
        .map(|(_, whom)| whom)
        .fold(Vec::new(), |mut named, whom| {
            if !named.contains(&whom) {
                named.push(whom);
            }
            named
        });
        let first = group.entries.first().map(|e| e.retention.as_str());
        let same = group
            .entries
            .iter()
            .all(|e| Some(e.retention.as_str()) == first);
        TableRow {
            name: group.name.clone(),
            description: group.description.clone(),
            rows: held.rows,
            about: if about.is_empty() {
                "No one".to_owned()
            } else {
                about.join(", ")
            },
            retention: first.filter(|_| same).map(str::to_owned),
            entries: &group.entries,
        }
    }
}

/// `GET /admin/privacy/held`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
) -> Result<Response, PageError> {
    let held = data_map_of(&state, &staff).await?;
    let tables = |place: Place| {
        held.iter()
            .filter(|h| h.group.place == place)
            .map(TableRow::of)
            .collect::<Vec<_>>()
    };
    let redis = held
        .iter()
        .find(|h| h.group.place == Place::Redis)
        .map_or(&[][..], |h| &h.group.entries[..]);
    let school = tables(Place::School);
    Ok(render(&DataMapPage {
        layout: Layout::for_staff(&staff, Section::Admin),
        tabs: AdminTab::Privacy.tabs(),
        total_rows: school.iter().filter_map(|t| t.rows).sum(),
        platform: tables(Place::Platform),
        school,
        redis,
    })?
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_alternate_with_plain_text() {
        let pieces: Vec<(bool, &str)> = spans("after `retention_months` once `x`")
            .iter()
            .map(|s| (s.code, s.text))
            .collect();
        assert_eq!(
            pieces,
            [
                (false, "after "),
                (true, "retention_months"),
                (false, " once "),
                (true, "x")
            ]
        );
        assert_eq!(whom("None"), "No one");
        assert_eq!(whom("Student"), "Student");
    }
}
