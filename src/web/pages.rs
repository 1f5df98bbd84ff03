//! Pages: for now the start page (sign in, or who you are and signing out).

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::AppState;
use super::error::PageError;
use super::extract::MaybeStaff;
use crate::auth::roles::Permission;
use crate::google::credentials::{self, CredentialStatus};

pub struct SignedIn {
    pub school_name: String,
    pub display_name: String,
    pub email: String,
    pub roles: String,
    pub csrf_token: String,
    pub can_connect_drive: bool,
    pub drive_connected: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct Home {
    pub signed_in: Option<SignedIn>,
}

/// `GET /`
pub async fn home(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
) -> Result<Html<String>, PageError> {
    let signed_in = match staff {
        None => None,
        Some(staff) => {
            let mut tx = staff.school_tx(&state).await.map_err(PageError::internal)?;
            let operator = credentials::drive_operator(&mut tx)
                .await
                .map_err(PageError::internal)?;
            tx.commit().await.map_err(PageError::internal)?;
            let mut roles: Vec<&str> = staff.roles.iter().map(|r| r.role.label()).collect();
            roles.dedup();
            Some(SignedIn {
                school_name: staff.school.name.clone(),
                display_name: staff.staff.display_name.clone(),
                email: staff.staff.email.clone(),
                roles: roles.join(", "),
                csrf_token: staff.csrf_token.clone(),
                can_connect_drive: staff.can(Permission::ConnectDrive),
                drive_connected: operator.is_some_and(|o| o.status == CredentialStatus::Active),
            })
        }
    };
    Home { signed_in }
        .render()
        .map(Html)
        .map_err(PageError::internal)
}
