//! The start page: sign in, or (signed in) who you are, your roles and where to go. A teacher
//! goes straight to their classes; a School Admin of a school whose set-up is not finished goes
//! to the set-up checklist (decided from stored facts alone, without asking Google: see
//! [`super::setup::finished_by_stored_facts`]), and once it is, stays here.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, Section, render};
use crate::auth::ClassAccess;
use crate::auth::roles::Permission;
use crate::google::credentials::{self, CredentialStatus};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::MaybeStaff;

/// What the home page shows someone signed in: who they are, and what their roles offer.
pub struct SignedIn {
    pub school_name: String,
    pub display_name: String,
    pub email: String,
    /// Their roles' names, in a line.
    pub roles: String,
    /// For the Connect form's POST.
    pub csrf_token: String,
    /// Whether they may view any class (a link to their classes).
    pub sees_classes: bool,
    /// Whether they may connect the school's Drive account (the Connect form).
    pub can_connect_drive: bool,
    /// Whether the Drive account is connected and Google still accepts it.
    pub drive_connected: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct Home {
    pub layout: Layout,
    pub signed_in: Option<SignedIn>,
}

/// Whether the home page has something of its own for `staff` (for now: the Drive connection);
/// if not, it sends them to their classes.
pub(super) fn has_own_page(staff: &crate::web::extract::CurrentStaff) -> bool {
    staff.can(Permission::ConnectDrive) || staff.class_scope(ClassAccess::View).is_empty()
}

/// What the sign-in routes add to `/` on their way back (`?drive=connected`).
#[derive(Debug, Default, Deserialize)]
pub struct Arrival {
    #[serde(default)]
    drive: String,
}

/// `GET /`: the sign-in page; signed in, the set-up checklist (for a School Admin whose school
/// is not set up yet), the classes (for whoever only teaches) or the home page with what the
/// person's roles offer.
#[tracing::instrument(skip_all)]
pub async fn home(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
    Query(arrival): Query<Arrival>,
) -> Result<Response, PageError> {
    let Some(staff) = staff else {
        return Ok(render(&Home {
            layout: Layout::anonymous(),
            signed_in: None,
        })?
        .into_response());
    };
    if staff.can(Permission::ManageSettings)
        && !super::setup::finished_by_stored_facts(&state, &staff).await?
    {
        // A fixed notice for a fixed code: nothing from the address is shown.
        let to = if arrival.drive == "connected" {
            "/setup?done=drive-connected"
        } else {
            "/setup"
        };
        return Ok(Redirect::to(to).into_response());
    }
    let sees_classes = !staff.class_scope(ClassAccess::View).is_empty();
    let can_connect_drive = staff.can(Permission::ConnectDrive);
    if !has_own_page(&staff) {
        return Ok(Redirect::to("/classes").into_response());
    }
    let mut tx = staff.school_tx(&state).await?;
    let operator = credentials::drive_operator(&mut tx)
        .await
        .map_err(PageError::internal)?;
    tx.commit().await?;
    let mut roles: Vec<&str> = staff.roles.iter().map(|r| r.role.label()).collect();
    roles.dedup();
    let signed_in = SignedIn {
        school_name: staff.school.name.clone(),
        display_name: staff.staff.display_name.clone(),
        email: staff.staff.email.clone(),
        roles: roles.join(", "),
        csrf_token: staff.csrf_token.clone(),
        sees_classes,
        can_connect_drive,
        drive_connected: operator.is_some_and(|o| o.status == CredentialStatus::Active),
    };
    Ok(render(&Home {
        layout: Layout::for_staff(&staff, Section::Home),
        signed_in: Some(signed_in),
    })?
    .into_response())
}
