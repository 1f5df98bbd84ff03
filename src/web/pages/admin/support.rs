//! `/admin/support`: support access for Invigilator's operators. The operators who can be
//! granted access, the school's current and past grants with their expiry in London time, a
//! grant form (operator, hours, reason) as `POST /api/support-access`, and Revoke (confirmed
//! first) as `POST /api/support-access/{id}/revoke`. It shows what `GET /api/support-access`
//! shows, no more.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ConfirmForm, ConfirmPage, DoneQuery, confirmed, done};
use crate::privacy::support::{self, Grant, GrantStatus, NewGrant};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::web::portfolios::parse_id;
use crate::web::support::{grant_access, overview, revoke_access};

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/support", get(show).post(grant))
        .route("/admin/support/{id}/revoke", post(revoke))
}

const PAGE: &str = "/admin/support";

/// One grant as the page shows it.
pub struct GrantRow {
    pub id: Uuid,
    pub operator: String,
    pub reason: String,
    pub granted: String,
    pub ends: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub can_revoke: bool,
}

impl From<Grant> for GrantRow {
    fn from(g: Grant) -> Self {
        let (status, status_class) = match (g.status, g.operator_disabled) {
            (GrantStatus::Active, true) => ("Operator disabled", "admin-state-ended"),
            (GrantStatus::Active, false) => ("In force", "admin-state-granted"),
            (GrantStatus::Expired, _) => ("Expired", "admin-state-ended"),
            (GrantStatus::Revoked, _) => ("Revoked", "admin-state-ended"),
        };
        let ends = match g.revoked_at {
            Some(at) => format!("Revoked at {}", london_time(at)),
            None => london_time(g.expires_at),
        };
        Self {
            id: g.id,
            operator: g.operator,
            reason: g.reason,
            granted: london_time(g.granted_at),
            ends,
            status,
            status_class,
            can_revoke: g.status == GrantStatus::Active,
        }
    }
}

impl GrantRow {
    /// What revoking does, in the words the confirmation asks with.
    pub fn revoke_message(&self) -> String {
        format!(
            "{} will no longer be able to read this school's classes, folders, audit log or sync \
             runs. A new grant can be made at any time.",
            self.operator
        )
    }
}

/// What the grant form holds, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GrantForm {
    pub operator: String,
    pub hours: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin_support.html")]
pub struct SupportPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub form: GrantForm,
    pub operators: Vec<String>,
    pub hour_choices: Vec<i64>,
    pub min_hours: i64,
    pub max_hours: i64,
    pub current: Vec<GrantRow>,
    pub past: Vec<GrantRow>,
}

async fn page(
    state: &AppState,
    staff: &CurrentStaff,
    notice: Option<&'static str>,
    errors: FormErrors,
    form: GrantForm,
) -> Result<SupportPage, PageError> {
    let access = overview(state, staff).await?;
    let (current, past): (Vec<GrantRow>, Vec<GrantRow>) = access
        .grants
        .into_iter()
        .map(GrantRow::from)
        .partition(|g| g.can_revoke);
    Ok(SupportPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Support.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        errors,
        form,
        operators: access.operators.into_iter().map(|o| o.name).collect(),
        hour_choices: support::hour_choices(),
        min_hours: access.min_hours,
        max_hours: access.max_hours,
        current,
        past,
    })
}

/// `GET /admin/support`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = query.notice(NOTICES);
    let form = GrantForm {
        hours: "4".to_owned(),
        ..GrantForm::default()
    };
    let shown = page(&state, &staff, notice, FormErrors::none(), form).await?;
    Ok(render(&shown)?.into_response())
}

/// `POST /admin/support`: a grant, as `POST /api/support-access`; bad input is shown again
/// beside its field.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn grant(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<GrantForm>,
) -> Result<Response, PageError> {
    // Text that is not a whole number is refused by the domain's own range check (0 is below
    // MIN_HOURS), so the page and the API give the one message.
    let hours = form.hours.trim().parse::<i64>().unwrap_or(0);
    let new = NewGrant {
        operator: form.operator.clone(),
        hours,
        reason: form.reason.clone(),
    };
    match grant_access(&state, &staff, &new).await {
        Ok(_) => Ok(done(PAGE, "granted")),
        Err(refusal) => {
            let errors = FormErrors::from_refusal(refusal)?;
            let shown = page(&state, &staff, None, errors, form).await?;
            Ok(reshow(render(&shown)?))
        }
    }
}

/// `POST /admin/support/{id}/revoke`, as `POST /api/support-access/{id}/revoke`, confirmed
/// first (the script's dialog, or a page asking without it).
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn revoke(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw_id)?;
    if !confirmed(&form.confirm) {
        let access = overview(&state, &staff).await?;
        let row = access
            .grants
            .into_iter()
            .find(|g| g.id == id)
            .map(GrantRow::from)
            .ok_or_else(PageError::not_found)?;
        if row.can_revoke {
            let asking = ConfirmPage {
                layout: Layout::for_staff(&staff, Section::Admin),
                tabs: AdminTab::Support.tabs(),
                csrf_token: staff.csrf_token.clone(),
                heading: "Revoke support access?".to_owned(),
                message: row.revoke_message(),
                action: format!("{PAGE}/{id}/revoke"),
                yes: "Revoke access",
                back: PAGE,
            };
            return Ok(render(&asking)?.into_response());
        }
    }
    match revoke_access(&state, &staff, id).await {
        Ok(_) => Ok(done(PAGE, "revoked")),
        Err(refusal) => {
            let errors = FormErrors::from_refusal(refusal)?;
            let form = GrantForm {
                hours: "4".to_owned(),
                ..GrantForm::default()
            };
            let shown = page(&state, &staff, None, errors, form).await?;
            Ok(reshow(render(&shown)?))
        }
    }
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    (
        "granted",
        "Access granted. The operator can read this school until the time shown, unless you \
         revoke it first; every read appears in the audit log.",
    ),
    ("revoked", "Access revoked: it stopped working at once."),
];
