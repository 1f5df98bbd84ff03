//! One student's folder in one class: where it stands and its history (from the audit log),
//! worded for a teacher.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use uuid::Uuid;

use super::{Layout, PageStaff, Section, render};
use crate::audit::{self, AuditEntry, Target};
use crate::auth::ClassAccess;
use crate::portfolio::overview;
use crate::web::AppState;
use crate::web::error::PageError;

/// The most entries shown.
const HISTORY_LIMIT: i64 = 100;

pub struct HistoryLine {
    pub when: String,
    pub what: String,
    pub who: String,
}

#[derive(Template)]
#[template(path = "portfolio.html")]
pub struct PortfolioPage {
    pub layout: Layout,
    pub student: String,
    pub class_id: Uuid,
    pub class_name: String,
    pub folder_url: Option<String>,
    pub state: &'static str,
    pub state_label: &'static str,
    pub detail: Option<String>,
    pub history: Vec<HistoryLine>,
    pub limit: usize,
}

/// What an entry means to a teacher.
fn describe(entry: &AuditEntry) -> String {
    let reason = entry.details.get("reason").and_then(|r| r.as_str());
    let by_window = entry.details.get("window").is_some();
    let what = match entry.action.as_str() {
        "portfolio.lock.requested" if by_window => "Lock asked for by an assessment window",
        "portfolio.unlock.requested" if by_window => {
            "Unlock asked for at the end of an assessment window"
        }
        "portfolio.lock.requested" => "Lock asked for",
        "portfolio.unlock.requested" if reason.is_some() => "Let out of an assessment window",
        "portfolio.unlock.requested" => "Unlock asked for",
        "portfolio.lock.applied" => {
            "Locked in Drive: the student can read but not change their work"
        }
        "portfolio.unlock.applied" => "Unlocked in Drive: the student can change their work",
        "portfolio.lock.failed" => "Lock failed",
        "portfolio.unlock.failed" => "Unlock failed",
        other => other,
    };
    match reason {
        Some(reason) => format!("{what} ({reason})"),
        None => what.to_owned(),
    }
}

/// Staff names for the actors in `entries`.
async fn actor_names(
    tx: &mut crate::tenancy::SchoolTx,
    entries: &[AuditEntry],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let ids: Vec<Uuid> = entries
        .iter()
        .filter_map(|e| e.actor.strip_prefix("staff:"))
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    let names = crate::auth::staff::names(tx, &ids).await?;
    Ok(names
        .into_iter()
        .map(|(id, shown)| (format!("staff:{id}"), shown))
        .collect())
}

/// `GET /portfolios/{id}`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn portfolio_page(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = crate::web::portfolios::parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let course = staff
        .class_scope(ClassAccess::View)
        .class_of_portfolio(&mut tx, id)
        .await?
        .ok_or_else(PageError::not_found)?;
    let class = overview::class_view(&mut tx, course)
        .await?
        .ok_or_else(PageError::not_found)?;
    let history = audit::history(&mut tx, &Target::new("portfolio", id), HISTORY_LIMIT).await?;
    let names = actor_names(&mut tx, &history).await?;
    tx.commit().await?;
    // A student who has left the class keeps their history, shown without a current state.
    let row = class
        .students
        .iter()
        .find(|s| s.portfolio_id == Some(id))
        .map(|s| super::class::Row::new(s, false, &state.web));
    let lines = history
        .iter()
        .map(|e| HistoryLine {
            when: e
                .at
                .with_timezone(&chrono_tz::Europe::London)
                .format("%H:%M:%S on %-d %B %Y")
                .to_string(),
            what: describe(e),
            who: names.get(&e.actor).cloned().unwrap_or_else(|| {
                match e.actor.as_str() {
                    "system:assessment-window" => "Assessment window",
                    a if a.starts_with("system:") => "Invigilator",
                    _ => "A former member of staff",
                }
                .to_owned()
            }),
        })
        .collect();
    render(&PortfolioPage {
        layout: Layout::for_staff(&staff, Section::Classes),
        student: row
            .as_ref()
            .map_or_else(|| "Former student".to_owned(), |r| r.name.clone()),
        class_id: course,
        class_name: class.summary.name.clone(),
        folder_url: row.as_ref().and_then(|r| r.folder_url.clone()),
        state: row.as_ref().map_or("none", |r| r.state),
        state_label: row
            .as_ref()
            .map_or("No longer in the class", |r| r.state_label),
        detail: row.and_then(|r| r.detail),
        history: lines,
        limit: HISTORY_LIMIT as usize,
    })
}
