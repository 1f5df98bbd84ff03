//! The dashboard's pages: server-rendered (askama) over one layout, one stylesheet and one small
//! script. Every page asks the same class scope and permission table as the JSON API, and shows
//! only what the person may do.

mod admin;
mod audit;
mod class;
mod classes;
pub mod form;
mod home;
mod portfolio;
mod school;
mod setup;
mod windows;

pub use class::{class_page, class_rows};
pub use classes::classes_page;
pub use home::home;
pub use portfolio::portfolio_page;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::AppState;
use super::error::{ApiError, PageError};
use super::extract::CurrentStaff;
use crate::auth::ClassAccess;
use crate::auth::roles::Permission;

/// The pages of the exams officers', heads' and School Admins' areas (the teachers' pages are
/// routed in [`super::router`]).
pub fn area_routes() -> Router<AppState> {
    Router::new()
        .merge(windows::routes())
        .merge(school::routes())
        .merge(audit::routes())
        .merge(setup::routes())
        .merge(admin::routes())
}

/// What the layout needs: the asset addresses and, when someone is signed in, who they are and
/// where they may go.
pub struct Layout {
    pub css: String,
    pub js: String,
    pub chrome: Option<Chrome>,
}

/// The signed-in part of the layout.
pub struct Chrome {
    pub school_name: String,
    pub display_name: String,
    pub csrf_token: String,
    pub nav: Vec<NavLink>,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The sections of the dashboard, for marking the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Classes,
    /// Every class at a glance (Headteacher, Examinations Officer).
    School,
    /// Assessment windows.
    Windows,
    /// The audit log (School Admin, Headteacher).
    Audit,
    /// The School Admin's pages: set-up checklist, settings, rules, people, sync, sharing.
    Admin,
}

impl Layout {
    /// The layout for someone not signed in (sign-in and error pages).
    pub fn anonymous() -> Self {
        Self {
            css: super::assets::css_url(),
            js: super::assets::js_url(),
            chrome: None,
        }
    }

    /// The layout for `staff`, with the links their roles allow.
    pub fn for_staff(staff: &CurrentStaff, section: Section) -> Self {
        let sees_classes = !staff.class_scope(ClassAccess::View).is_empty();
        let mut nav = Vec::new();
        // The home page only sends someone who just teaches on to their classes.
        if home::has_own_page(staff) {
            nav.push(NavLink {
                href: "/",
                label: "Home",
                current: section == Section::Home,
            });
        }
        let mut link = |href, label, of: Section| {
            nav.push(NavLink {
                href,
                label,
                current: section == of,
            })
        };
        if sees_classes {
            link("/classes", "My classes", Section::Classes);
        }
        if staff.can(Permission::ViewAllClasses) {
            link("/school", "Whole school", Section::School);
        }
        if sees_classes {
            link("/windows", "Assessment windows", Section::Windows);
        }
        if staff.can(Permission::ReadAuditLog) {
            link("/audit", "Audit log", Section::Audit);
        }
        if staff.can(Permission::ManageSettings) {
            link("/setup", "School set-up", Section::Admin);
        }
        Self {
            chrome: Some(Chrome {
                school_name: staff.school.name.clone(),
                display_name: staff.staff.display_name.clone(),
                csrf_token: staff.csrf_token.clone(),
                nav,
            }),
            ..Self::anonymous()
        }
    }
}

/// A time as people in the school read it: Europe/London, e.g. "14:05 on 3 March 2027". In the
/// autumn's repeated hour it says which of the two it is ("01:30 (BST) on 25 October 2026"), so
/// no time on a page, the audit log's above all, is ambiguous.
pub fn london_time(at: DateTime<Utc>) -> String {
    london_format(at, "%H:%M")
}

/// [`london_time`] to the second, for the audit log.
pub fn london_time_seconds(at: DateTime<Utc>) -> String {
    london_format(at, "%H:%M:%S")
}

fn london_format(at: DateTime<Utc>, clock: &str) -> String {
    use chrono::{LocalResult, TimeZone};
    use chrono_tz::Europe::London;
    let local = at.with_timezone(&London);
    let zone = match London.from_local_datetime(&local.naive_local()) {
        LocalResult::Ambiguous(first, _) if first == local => " (BST)",
        LocalResult::Ambiguous(..) => " (GMT)",
        _ => "",
    };
    format!(
        "{}{zone} on {}",
        local.format(clock),
        local.format("%-d %B %Y")
    )
}

/// Renders a page.
fn render(page: &impl askama::Template) -> Result<axum::response::Html<String>, PageError> {
    page.render()
        .map(axum::response::Html)
        .map_err(PageError::internal)
}

/// A signed-in member of staff, for pages: anyone else is sent to the sign-in page.
pub struct PageStaff(pub CurrentStaff);

impl FromRequestParts<AppState> for PageStaff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match CurrentStaff::from_request_parts(parts, state).await {
            Ok(staff) => Ok(Self(staff)),
            Err(ApiError::Unauthenticated) => Err(Redirect::to("/").into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// The School Admin's pages, for the tabs along their top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTab {
    Setup,
    Settings,
    Rules,
    People,
    Sync,
    Sharing,
    /// Data protection: find a person, export or erase their records, the retention preview.
    Privacy,
    Support,
}

impl AdminTab {
    const ALL: [AdminTab; 8] = [
        Self::Setup,
        Self::Settings,
        Self::Rules,
        Self::People,
        Self::Sync,
        Self::Sharing,
        Self::Privacy,
        Self::Support,
    ];

    fn href(self) -> &'static str {
        match self {
            Self::Setup => "/setup",
            Self::Settings => "/admin/settings",
            Self::Rules => "/admin/rules",
            Self::People => "/admin/people",
            Self::Sync => "/admin/sync",
            Self::Sharing => "/admin/sharing",
            Self::Support => "/admin/support",
            Self::Privacy => "/admin/privacy",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Setup => "Checklist",
            Self::Settings => "Settings",
            Self::Rules => "Subjects and years",
            Self::People => "Staff and roles",
            Self::Sync => "Classroom sync",
            Self::Sharing => "Sharing",
            Self::Support => "Support access",
            Self::Privacy => "Data protection",
        }
    }

    /// The tabs, this one marked current (`templates/admin_tabs.html` shows them).
    pub fn tabs(self) -> Vec<NavLink> {
        Self::ALL
            .into_iter()
            .map(|tab| NavLink {
                href: tab.href(),
                label: tab.label(),
                current: tab == self,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn london_times_say_which_of_the_autumns_two_they_are() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            london_time(at("2027-03-03T14:05:00Z")),
            "14:05 on 3 March 2027"
        );
        assert_eq!(
            london_time(at("2026-07-01T08:00:00Z")),
            "09:00 on 1 July 2026"
        );
        // 25 October 2026: 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
        assert_eq!(
            london_time(at("2026-10-25T00:30:00Z")),
            "01:30 (BST) on 25 October 2026"
        );
        assert_eq!(
            london_time_seconds(at("2026-10-25T01:30:07Z")),
            "01:30:07 (GMT) on 25 October 2026"
        );
    }
}
