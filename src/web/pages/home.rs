//! The start page: sign in, or (signed in) who you are, your roles and where to go. A teacher
//! goes straight to their classes; a School Admin of a school whose set-up is not finished goes
//! to the set-up checklist (decided from stored facts alone, without asking Google: see
//! [`super::setup::finished_by_stored_facts`]), and once it is, stays here, where a Drive
//! account Google has refused is named with what became of its work.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, Section, render};
use crate::auth::ClassAccess;
use crate::auth::roles::Permission;
use crate::portfolio::drive_operators::{self, DriveAccount, Standing};
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
    /// Whether they may connect the school's Drive accounts (the Connect form, the warning).
    pub can_connect_drive: bool,
    /// How many Drive accounts the school has connected.
    pub drive_accounts: usize,
    /// How many of them work, in a sentence; none when none does.
    pub drive_connected: Option<String>,
    /// Drive accounts Google refused, for who may put it right.
    pub drive_warning: Option<DriveWarning>,
}

/// The School Admin's warning that Drive accounts were set aside.
pub struct DriveWarning {
    pub heading: &'static str,
    pub message: String,
    /// The link's words.
    pub action: &'static str,
}

impl DriveWarning {
    /// The warning for the school's `accounts`, if any was set aside.
    fn of(accounts: &[DriveAccount]) -> Option<Self> {
        let standing = Standing::of(accounts);
        let names: Vec<&str> = standing
            .set_aside
            .iter()
            .map(|a| a.account.as_str())
            .collect();
        if names.is_empty() {
            return None;
        }
        let one = names.len() == 1;
        let (account, it, its) = if one {
            ("Drive account", "it", "Its")
        } else {
            ("Drive accounts", "them", "Their")
        };
        let refused = format!(
            "Google refused the school's {account} {}, so Invigilator has set {it} aside.",
            super::setup::in_words(&names)
        );
        Some(if standing.working > 0 {
            Self {
                heading: if one {
                    "A Drive account was set aside"
                } else {
                    "Drive accounts were set aside"
                },
                message: format!(
                    "{refused} {its} work has gone to the school's other Drive accounts, so locks \
                     still happen."
                ),
                action: if one {
                    "Reconnect or remove it in the settings"
                } else {
                    "Reconnect or remove them in the settings"
                },
            }
        } else {
            Self {
                heading: "Locks are waiting: no Drive account works",
                message: format!(
                    "{refused} Until {} connected again, locks are waiting: no folder can be \
                     made, locked or unlocked.",
                    if one { "it is" } else { "one is" }
                ),
                action: if one {
                    "Reconnect it in the settings"
                } else {
                    "Reconnect one in the settings"
                },
            }
        })
    }
}

/// How many of the school's Drive accounts work, in a sentence (none when none does).
fn connected_words(accounts: &[DriveAccount]) -> Option<String> {
    let working = accounts.iter().filter(|a| a.works()).count();
    match (accounts.len(), working) {
        (_, 0) => None,
        (1, _) => Some("The school's Drive account is connected.".to_owned()),
        (all, working) if all == working => {
            Some(format!("The school's {all} Drive accounts are connected."))
        }
        (all, working) => Some(format!(
            "{working} of the school's {all} Drive accounts are connected."
        )),
    }
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
    let accounts = drive_operators::list(&mut tx).await?;
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
        drive_accounts: accounts.len(),
        drive_connected: connected_words(&accounts),
        drive_warning: can_connect_drive
            .then(|| DriveWarning::of(&accounts))
            .flatten(),
    };
    Ok(render(&Home {
        layout: Layout::for_staff(&staff, Section::Home),
        signed_in: Some(signed_in),
    })?
    .into_response())
}
