//! The whole school at a glance (Headteacher, Examinations Officer): every class with its
//! subject, year, teachers and how its students' folders stand (locked, unlocked, in progress,
//! failed, in an assessment window), with totals, filterable by subject and year and down to
//! the classes that need attention. One query for the classes' counts and one for their
//! teachers, whatever the size of the school.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::form::{FormErrors, reshow};
use super::{Layout, PageStaff, Section, london_time, render};
use crate::auth::{ClassAccess, ClassScope, Permission};
use crate::portfolio::overview::{self, ClassSummary};
use crate::roster::placement::YEAR_GROUPS;
use crate::web::AppState;
use crate::web::error::PageError;

/// The school-wide view's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/school", get(school_page))
}

/// The year filter's value for classes with no year group.
const NO_YEAR: &str = "none";

/// The filters as sent (`?subject=&year=&attention=yes`), kept as typed so the form shows them
/// again.
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    attention: String,
}

/// Which year a filter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YearFilter {
    Any,
    Year(i16),
    NoYear,
}

/// The filters once read.
struct Filters {
    subject: Option<String>,
    year: YearFilter,
    attention: bool,
}

impl FilterForm {
    /// The filters, or what is wrong with them, field by field. `subjects` are the subjects
    /// the school's classes are in (the select's choices).
    fn read(&self, subjects: &[String]) -> Result<Filters, FormErrors> {
        let mut errors = FormErrors::for_filters();
        let subject = self.subject.trim();
        let subject = if subject.is_empty() {
            None
        } else if subjects.iter().any(|s| s == subject) {
            Some(subject.to_owned())
        } else {
            errors.add("subject", "Choose a subject from the list");
            None
        };
        let year = match self.year.trim() {
            "" => YearFilter::Any,
            NO_YEAR => YearFilter::NoYear,
            other => match other.parse::<i16>() {
                Ok(y) if YEAR_GROUPS.contains(&y) => YearFilter::Year(y),
                _ => {
                    errors.add("year", "Choose a year from the list");
                    YearFilter::Any
                }
            },
        };
        let attention = match self.attention.trim() {
            "" => false,
            "yes" => true,
            _ => {
                errors.add("attention", "Tick the box or leave it empty");
                false
            }
        };
        if errors.is_empty() {
            Ok(Filters {
                subject,
                year,
                attention,
            })
        } else {
            Err(errors)
        }
    }
}

/// One class's row.
pub struct ClassRow {
    pub id: String,
    pub name: String,
    pub subject: String,
    /// "Year 10", or "No year yet".
    pub year: String,
    pub teachers: String,
    pub students: i64,
    pub locked: i64,
    pub unlocked: i64,
    pub pending: i64,
    pub failed: i64,
    pub no_folder: i64,
    /// "“Mocks” until 11:30 on 3 March 2027"
    pub window: Option<String>,
    pub needs_attention: bool,
    subject_name: Option<String>,
    year_group: Option<i16>,
}

/// The assessment window over a class, in words: its name and until when.
fn window_words(c: &ClassSummary) -> Option<String> {
    let name = c.window.as_deref()?;
    Some(match c.window_ends_at {
        _ if c.window_held => format!("“{name}”, held until an Examinations Officer releases it"),
        Some(end) if c.window_until_released => {
            format!("“{name}” until {}, then until released", london_time(end))
        }
        Some(end) => format!("“{name}” until {}", london_time(end)),
        None => format!("“{name}” in progress"),
    })
}

impl ClassRow {
    fn new(c: ClassSummary, teachers: Option<Vec<String>>) -> Self {
        Self {
            id: c.id.to_string(),
            subject: c
                .subject
                .clone()
                .unwrap_or_else(|| "No subject yet".to_owned()),
            year: c
                .year_group
                .map_or_else(|| "No year yet".to_owned(), |y| format!("Year {y}")),
            teachers: teachers.map_or_else(|| "None recorded".to_owned(), |t| t.join(", ")),
            window: window_words(&c),
            needs_attention: c.failed > 0 || c.pending > 0,
            name: c.name,
            students: c.students,
            locked: c.locked,
            unlocked: c.unlocked,
            pending: c.pending,
            failed: c.failed,
            no_folder: c.no_folder,
            subject_name: c.subject,
            year_group: c.year_group,
        }
    }

    fn matches(&self, filters: &Filters) -> bool {
        let subject = filters
            .subject
            .as_ref()
            .is_none_or(|s| self.subject_name.as_ref() == Some(s));
        let year = match filters.year {
            YearFilter::Any => true,
            YearFilter::Year(y) => self.year_group == Some(y),
            YearFilter::NoYear => self.year_group.is_none(),
        };
        subject && year && (!filters.attention || self.needs_attention)
    }
}

/// The sums over the classes shown.
#[derive(Debug, Default)]
pub struct Totals {
    pub classes: usize,
    pub students: i64,
    pub locked: i64,
    pub unlocked: i64,
    pub pending: i64,
    pub failed: i64,
    pub no_folder: i64,
    pub in_window: usize,
    pub needing_attention: usize,
}

impl Totals {
    fn of(rows: &[ClassRow]) -> Self {
        rows.iter().fold(Self::default(), |mut t, r| {
            t.classes += 1;
            t.students += r.students;
            t.locked += r.locked;
            t.unlocked += r.unlocked;
            t.pending += r.pending;
            t.failed += r.failed;
            t.no_folder += r.no_folder;
            t.in_window += usize::from(r.window.is_some());
            t.needing_attention += usize::from(r.needs_attention);
            t
        })
    }
}

#[derive(Template)]
#[template(path = "school.html")]
pub struct SchoolPage {
    pub layout: Layout,
    pub form: FilterForm,
    pub errors: FormErrors,
    pub subjects: Vec<String>,
    pub years: Vec<i16>,
    pub any_without_year: bool,
    pub filtered: bool,
    /// Classes in the school (active in Classroom).
    pub all: usize,
    pub totals: Totals,
    /// These filters narrowed to the classes needing attention, when some do and the filter
    /// is not already on.
    pub attention_href: Option<String>,
    pub rows: Vec<ClassRow>,
}

/// `GET /school`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn school_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(form): Query<FilterForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ViewAllClasses)?;
    let mut tx = staff.school_tx(&state).await?;
    // Everything, for whoever may view all classes; asked all the same, so the one scope rule
    // decides what any page lists.
    let ids = match staff.class_scope(ClassAccess::View) {
        ClassScope::Everything => None,
        scope => Some(scope.classes(&mut tx).await?),
    };
    let summaries = overview::class_summaries(&mut tx, ids.as_deref()).await?;
    let mut teachers = overview::class_teachers(&mut tx, ids.as_deref()).await?;
    tx.commit().await?;

    let mut subjects: Vec<String> = summaries.iter().filter_map(|c| c.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    let mut years: Vec<i16> = summaries.iter().filter_map(|c| c.year_group).collect();
    years.sort_unstable();
    years.dedup();
    let any_without_year = summaries.iter().any(|c| c.year_group.is_none());
    let all: Vec<ClassRow> = summaries
        .into_iter()
        .map(|c| {
            let t = teachers.remove(&c.id);
            ClassRow::new(c, t)
        })
        .collect();
    let total = all.len();
    let (filters, errors) = match form.read(&subjects) {
        Ok(filters) => (Some(filters), FormErrors::for_filters()),
        Err(errors) => (None, errors),
    };
    let rows: Vec<ClassRow> = match &filters {
        Some(f) => all.into_iter().filter(|r| r.matches(f)).collect(),
        // A filter that cannot be read shows no classes, only the form with what to fix.
        None => Vec::new(),
    };
    let filtered = filters
        .as_ref()
        .is_some_and(|f| f.subject.is_some() || f.year != YearFilter::Any || f.attention);
    let totals = Totals::of(&rows);
    let attention_href = filters
        .as_ref()
        .filter(|f| !f.attention && totals.needing_attention > 0)
        .map(|_| {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("subject", form.subject.trim())
                .append_pair("year", form.year.trim())
                .append_pair("attention", "yes")
                .finish();
            format!("/school?{query}")
        });
    let page = SchoolPage {
        layout: Layout::for_staff(&staff, Section::School),
        totals,
        attention_href,
        form,
        errors,
        subjects,
        years,
        any_without_year,
        filtered,
        all: total,
        rows,
    };
    let html: Html<String> = render(&page)?;
    Ok(if page.errors.is_empty() {
        html.into_response()
    } else {
        reshow(html)
    })
}
