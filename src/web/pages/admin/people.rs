//! `/admin/people`: who holds which role (with when they last signed in) and the invitations
//! waiting for a first sign-in; a role given by email, and a role or invitation taken away
//! (once confirmed). The same domain steps as `POST /api/roles` and `DELETE /api/roles/{id}`,
//! so the same refusals: an address of another domain, a Head of Subject without a subject, and
//! never the last School Admin.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{ConfirmForm, ConfirmPage, DoneQuery, confirmed, done};
use crate::auth::role_admin::{self, Assigned, Revoked, RoleList};
use crate::auth::roles::{Permission, Role};
use crate::roster::placement::{self, Subject};
use crate::web::AppState;
use crate::web::api;
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, london_time, render};
use crate::web::portfolios::parse_id;

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/people", get(show).post(assign))
        .route("/admin/people/{id}/revoke", post(revoke))
}

const PAGE: &str = "/admin/people";

/// "Head of Subject (Geography)", or the role's name.
fn role_words(role: Role, subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("{} ({s})", role.label()),
        None => role.label().to_owned(),
    }
}

/// One role someone holds.
pub struct AssignmentRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    pub last_sign_in: Option<String>,
    /// False for the school's last School Admin, whose role cannot be taken away.
    pub can_revoke: bool,
}

/// One role waiting for a first sign-in.
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited: String,
}

/// The assignment form, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssignForm {
    email: String,
    role: String,
    subject_id: String,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
pub struct PeoplePage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub form: AssignForm,
    pub assignments: Vec<AssignmentRow>,
    pub invitations: Vec<InvitationRow>,
    /// (value, label) of each role.
    pub roles: Vec<(&'static str, &'static str)>,
    pub subjects: Vec<Subject>,
}

async fn load(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<(RoleList, Vec<Subject>), PageError> {
    staff.require(Permission::ManageRoles)?;
    let mut tx = staff.school_tx(state).await?;
    let list = role_admin::list(&mut tx).await?;
    // "Unsorted" holds the classes no rule places: nobody heads it.
    let subjects = placement::subjects(&mut tx)
        .await?
        .into_iter()
        .filter(|s| s.name != "Unsorted")
        .collect();
    tx.commit().await?;
    Ok((list, subjects))
}

fn page(
    staff: &CurrentStaff,
    (list, subjects): (RoleList, Vec<Subject>),
    form: AssignForm,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> PeoplePage {
    let assignments = list
        .assignments
        .iter()
        .map(|a| AssignmentRow {
            can_revoke: list.can_revoke(a),
            id: a.id,
            name: a.display_name.clone(),
            email: a.email.clone(),
            role: role_words(a.role, a.subject.as_deref()),
            last_sign_in: a.last_signed_in_at.map(london_time),
        })
        .collect();
    let invitations = list
        .invitations
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role: role_words(i.role, i.subject.as_deref()),
            invited: match i.invited_by {
                Some(by) => format!("{} by {by}", london_time(i.invited_at)),
                None => london_time(i.invited_at),
            },
        })
        .collect();
    PeoplePage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::People.tabs(),
        csrf_token: staff.csrf_token.clone(),
        notice,
        errors,
        form,
        assignments,
        invitations,
        roles: Role::ALL
            .into_iter()
            .map(|r| (r.as_str(), r.label()))
            .collect(),
        subjects,
    }
}

/// `GET /admin/people`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let loaded = load(&state, &staff).await?;
    let notice = query.notice(NOTICES);
    Ok(render(&page(
        &staff,
        loaded,
        AssignForm::default(),
        FormErrors::none(),
        notice,
    ))?
    .into_response())
}

/// `POST /admin/people`: a role given by email, as `POST /api/roles`.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn assign(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    PageForm(form): PageForm<AssignForm>,
) -> Result<Response, PageError> {
    let loaded = load(&state, &staff).await?;
    let mut errors = FormErrors::none();
    let role = Role::ALL.into_iter().find(|r| r.as_str() == form.role);
    if role.is_none() {
        errors.add("role", "Choose a role");
    }
    let subject_id = match form.subject_id.trim() {
        "" => None,
        id => match Uuid::parse_str(id) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("subject_id", "Choose a subject from the list");
                None
            }
        },
    };
    if let (Some(role), true) = (role, errors.is_empty()) {
        let mut tx = staff.school_tx(&state).await?;
        let assigned = role_admin::assign(
            &mut tx,
            staff.staff.id,
            &staff.school.workspace_domain,
            &form.email,
            role,
            subject_id,
        )
        .await;
        match assigned {
            Ok(assigned) => {
                tx.commit().await?;
                return Ok(match assigned {
                    Assigned::Granted { .. } => done(PAGE, "granted"),
                    Assigned::Invited { .. } => done(PAGE, "invited"),
                });
            }
            Err(refusal) => errors = FormErrors::from_refusal(ApiError::from(refusal))?,
        }
    }
    Ok(reshow(render(&page(&staff, loaded, form, errors, None))?))
}

/// `POST /admin/people/{id}/revoke`: a role or an invitation taken away once confirmed, as
/// `DELETE /api/roles/{id}`.
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn revoke(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw_id)?;
    let loaded = load(&state, &staff).await?;
    if !confirmed(&form.confirm) {
        let (list, _) = &loaded;
        // The same words as the script's dialog on the page (`templates/admin_people.html`).
        let (heading, message, yes) = list
            .assignments
            .iter()
            .find(|a| a.id == id)
            .map(|a| {
                (
                    "Take this role away?",
                    format!(
                        "{} ({}) will no longer be {}.",
                        a.display_name,
                        a.email,
                        role_words(a.role, a.subject.as_deref())
                    ),
                    "Take the role away",
                )
            })
            .or_else(|| {
                list.invitations.iter().find(|i| i.id == id).map(|i| {
                    (
                        "Withdraw this invitation?",
                        format!(
                            "The invitation for {} to be {} will be withdrawn.",
                            i.email,
                            role_words(i.role, i.subject.as_deref())
                        ),
                        "Withdraw the invitation",
                    )
                })
            })
            .ok_or(ApiError::NotFound)?;
        return Ok(render(&ConfirmPage {
            layout: Layout::for_staff(&staff, Section::Admin),
            tabs: AdminTab::People.tabs(),
            csrf_token: staff.csrf_token.clone(),
            heading: heading.to_owned(),
            message,
            action: format!("{PAGE}/{id}/revoke"),
            yes,
            back: PAGE,
        })?
        .into_response());
    }
    match api::revoke(&state, &staff, id).await {
        Ok(Revoked::Invitation) => Ok(done(PAGE, "withdrawn")),
        Ok(Revoked::Role { .. }) => Ok(done(PAGE, "revoked")),
        Err(refusal) => {
            let errors = FormErrors::from_refusal(refusal)?;
            Ok(reshow(render(&page(
                &staff,
                loaded,
                AssignForm::default(),
                errors,
                None,
            ))?))
        }
    }
}

/// The notices a successful form's redirect back here may ask for (`?done=`).
const NOTICES: &[(&str, &str)] = &[
    ("granted", "Role given. It is theirs from their next page."),
    (
        "invited",
        "Invitation saved. The role becomes theirs when they first sign in with that address.",
    ),
    ("revoked", "Role taken away."),
    ("withdrawn", "Invitation withdrawn."),
];
