//! `/admin/settings`: the Shared Drive, retention, the sync interval, students from outside
//! the school's domain and the staff addresses, saved as `PUT /api/settings` saves them (a new
//! Shared Drive checked live through the Drive accounts first); and the school's Drive operator
//! accounts, as `GET /api/drive-operators` lists them, with Connect another (while there are
//! fewer than eight), Reconnect for one set aside, and Remove after confirming
//! (`POST /admin/drive-operators/{id}/remove`, as `DELETE /api/drive-operators/{id}`).

use std::ops::RangeInclusive;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ConfirmForm, ConfirmPage, DoneQuery, confirmed, done};
use crate::auth::roles::Permission;
use crate::auth::staff_addresses::StaffAddresses;
use crate::google::credentials::MAX_DRIVE_OPERATORS;
use crate::portfolio::drive_operators::{DriveAccount, Standing};
use crate::tenancy::settings::{self, OutsideStudents, SettingsChange, SettingsError};
use crate::web::AppState;
use crate::web::api::{self, SettingsView};
use crate::web::drive_operators::{accounts, remove_account};
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::setup::account_state;
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::web::portfolios::parse_id;

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/settings", get(show).post(save))
        .route("/admin/drive-operators/{id}/remove", post(remove))
}

const PAGE: &str = "/admin/settings";

/// What the form holds: as saved, or as typed when it comes back with an error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    shared_drive_id: String,
    retention_months: String,
    sync_interval_minutes: String,
    outside_domain_students: String,
    /// One pattern a line; absent (a form from before the field) changes nothing.
    staff_addresses: Option<String>,
}

impl SettingsForm {
    fn from_saved(view: &SettingsView) -> Self {
        let s = &view.settings;
        Self {
            shared_drive_id: s.shared_drive_id.clone().unwrap_or_default(),
            retention_months: s.retention_months.to_string(),
            sync_interval_minutes: s.sync_interval_minutes.to_string(),
            outside_domain_students: outside_word(s.outside_domain_students).to_owned(),
            staff_addresses: Some(s.staff_addresses.join("\n")),
        }
    }
}

fn outside_word(choice: OutsideStudents) -> &'static str {
    match choice {
        OutsideStudents::Skip => "skip",
        OutsideStudents::Include => "include",
    }
}

/// The saved settings, in words.
pub struct Saved {
    pub shared_drive: Option<String>,
    pub retention: String,
    pub interval: String,
    pub outside: &'static str,
    /// The staff address patterns, or what having none means.
    pub staff_addresses: String,
}

/// One of the school's Drive accounts as the page shows it.
pub struct DriveAccountRow {
    pub id: Uuid,
    pub account: String,
    pub works: bool,
    /// The state in words; its class only colours them.
    pub status: &'static str,
    pub status_class: &'static str,
    /// For one set aside: why, and where its work went.
    pub detail: Option<String>,
    pub connected: String,
    /// What removing it does, as the confirmation asks (the script's dialog and the page
    /// without it alike).
    pub removal_message: String,
}

impl DriveAccountRow {
    fn new(account: &DriveAccount, standing: &Standing) -> Self {
        let works = account.works();
        // The accounts that would still work once this one is gone.
        let others_working = standing.working - usize::from(works);
        let detail = (!works).then(|| {
            let why = account
                .status_reason
                .as_deref()
                .map(|r| r.trim().trim_end_matches('.'))
                .filter(|r| !r.is_empty())
                .map(|r| format!("Google refused it ({r})."))
                .unwrap_or_else(|| "Google refused it.".to_owned());
            let meanwhile = if others_working > 0 {
                "Its work has gone to the school's other Drive accounts."
            } else {
                "No other Drive account works, so locks are waiting."
            };
            format!(
                "{why} {meanwhile} Reconnect it (signing in to Google as this account), or remove \
                 it."
            )
        });
        let gone = format!(
            "Invigilator will stop working in Drive as {}, and Google will be told to end its \
             access.",
            account.account
        );
        let removal_message = if others_working > 0 {
            format!("{gone} Locks go through the school's other Drive accounts.")
        } else {
            format!(
                "{gone} No other Drive account works: until one is connected, no folder can be \
                 made, locked or unlocked."
            )
        };
        let (status, status_class) = account_state(works);
        Self {
            id: account.id,
            account: account.account.clone(),
            works,
            status,
            status_class,
            detail,
            connected: london_time(account.connected_at),
            removal_message,
        }
    }
}

fn account_rows(accounts: &[DriveAccount]) -> Vec<DriveAccountRow> {
    let standing = Standing::of(accounts);
    accounts
        .iter()
        .map(|a| DriveAccountRow::new(a, &standing))
        .collect()
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
pub struct SettingsPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub form: SettingsForm,
    pub saved: Saved,
    /// The school's Drive accounts, in the order they were connected.
    pub accounts: Vec<DriveAccountRow>,
    /// The most a school may connect.
    pub max: usize,
    /// Whether this person may connect, reconnect and remove Drive accounts.
    pub can_connect: bool,
    pub ready: bool,
    /// The values the number fields take, for their hints (the domain's own limits).
    pub retention_months: RangeInclusive<i32>,
    pub sync_interval_minutes: RangeInclusive<i32>,
}

fn page(
    staff: &CurrentStaff,
    accounts: &[DriveAccount],
    view: SettingsView,
    form: SettingsForm,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> SettingsPage {
    let s = &view.settings;
    let shared_drive = s.shared_drive_id.as_ref().map(|id| {
        let name = s
            .shared_drive_name
            .as_deref()
            .unwrap_or("name not known yet");
        match s.shared_drive_checked_at {
            Some(at) => format!(
                "{name} ({id}), checked through the Drive accounts at {}",
                london_time(at)
            ),
            None => format!("{name} ({id}), not checked yet"),
        }
    });
    let saved = Saved {
        shared_drive,
        retention: format!("{} months", s.retention_months),
        interval: format!("every {} minutes", s.sync_interval_minutes),
        outside: match s.outside_domain_students {
            OutsideStudents::Skip => "left out of the school's classes",
            OutsideStudents::Include => "taken in like the school's own students",
        },
        staff_addresses: if s.staff_addresses.is_empty() {
            "none: teaching a Classroom class makes nobody a Teacher; staff come in by \
             invitation"
                .to_owned()
        } else {
            s.staff_addresses.join(", ")
        },
    };
    SettingsPage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Settings.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        errors,
        form,
        saved,
        accounts: account_rows(accounts),
        max: MAX_DRIVE_OPERATORS,
        can_connect: staff.can(Permission::ConnectDrive),
        ready: view.setup.ready,
        retention_months: settings::RETENTION_MONTHS,
        sync_interval_minutes: settings::SYNC_INTERVAL_MINUTES,
    }
}

/// `GET /admin/settings`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let view = api::read_settings(&state, &staff).await?;
    let accounts = accounts(&state, &staff).await?;
    let notice = query.notice(NOTICES);
    let form = SettingsForm::from_saved(&view);
    let shown = page(&staff, &accounts, view, form, FormErrors::none(), notice);
    Ok(render(&shown)?.into_response())
}

/// A whole number typed into a field, or the domain's own refusal of that field.
fn whole_number(typed: &str, refusal: SettingsError, errors: &mut FormErrors) -> Option<i32> {
    match typed.trim().parse::<i32>() {
        Ok(n) => Some(n),
        Err(_) => {
            if let Ok(field_errors) = FormErrors::from_refusal(ApiError::from(refusal)) {
                for (field, message) in field_errors.summary() {
                    if let Some(field) = field {
                        errors.add(field, message);
                    }
                }
            }
            None
        }
    }
}

/// `POST /admin/settings`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn save(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<SettingsForm>,
) -> Result<Response, PageError> {
    let view = api::read_settings(&state, &staff).await?;
    let mut errors = FormErrors::none();
    let retention = whole_number(
        &form.retention_months,
        SettingsError::Retention,
        &mut errors,
    );
    let interval = whole_number(
        &form.sync_interval_minutes,
        SettingsError::SyncInterval,
        &mut errors,
    );
    let outside = match form.outside_domain_students.as_str() {
        "skip" => Some(OutsideStudents::Skip),
        "include" => Some(OutsideStudents::Include),
        _ => {
            errors.add(
                "outside_domain_students",
                "Choose whether students from outside the school's domain are left out or taken in",
            );
            None
        }
    };
    if errors.is_empty() {
        // The drive is checked (and audited as checked) only when it changes.
        let typed = form.shared_drive_id.trim();
        let saved = view.settings.shared_drive_id.as_deref().unwrap_or("");
        let shared_drive_id = match (typed == saved, typed.is_empty()) {
            (true, _) => None,
            (false, true) => Some(None),
            (false, false) => Some(Some(typed.to_owned())),
        };
        let change = SettingsChange {
            shared_drive_id,
            retention_months: retention,
            sync_interval_minutes: interval,
            outside_domain_students: outside,
            staff_addresses: form.staff_addresses.as_deref().map(StaffAddresses::typed),
        };
        match api::change_settings(&state, &staff, &change).await {
            Ok(_) => return Ok(done(PAGE, "saved")),
            Err(refusal) => errors = FormErrors::from_refusal(refusal)?,
        }
    }
    let accounts = accounts(&state, &staff).await?;
    Ok(reshow(render(&page(
        &staff, &accounts, view, form, errors, None,
    ))?))
}

/// `POST /admin/drive-operators/{id}/remove`, as `DELETE /api/drive-operators/{id}`, confirmed
/// first (the script's dialog, or a page asking without it). An account that is not the
/// school's, or was removed meanwhile, is not found.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn remove(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    staff.require(Permission::ConnectDrive)?;
    let id = parse_id(&raw_id)?;
    if !confirmed(&form.confirm) {
        let accounts = accounts(&state, &staff).await?;
        let row = account_rows(&accounts)
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(PageError::not_found)?;
        let asking = ConfirmPage {
            layout: Layout::for_staff(&staff, Section::Admin),
            tabs: AdminTab::Settings.tabs(),
            csrf_token: staff.csrf_token.clone(),
            heading: "Remove this Drive account?".to_owned(),
            message: row.removal_message,
            action: format!("/admin/drive-operators/{id}/remove"),
            yes: "Remove the Drive account",
            back: PAGE,
        };
        return Ok(render(&asking)?.into_response());
    }
    remove_account(&state, &staff, id).await?;
    Ok(done(PAGE, "drive-removed"))
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    ("saved", "Settings saved."),
    (
        "drive-removed",
        "Drive account removed. Invigilator no longer works in Drive as it, and asks Google to \
         end its access.",
    ),
];
