//! The School Admin's pages: settings, subject and year rules, staff and roles, Classroom sync,
//! onward-share findings, data protection (what Invigilator holds, finding a person, their export,
//! erasure, the retention preview) and support access. Each page asks the same permission as its JSON API counterpart
//! and acts through the same shared step (`web::api`, `web::class_rules`, `web::shares`), so a
//! refusal, an audit entry or a queued job is the same whichever way the School Admin went.
//!
//! Every form posts back to its page's address; on success the answer is a 303 to the page with
//! `?done=<code>` (a fixed notice per code, never text from the address); on a refusal the page is
//! shown again (422) with the message beside the field and what was typed kept.

mod data_map;
mod erase;
mod people;
mod privacy;
mod retention;
mod rules;
mod settings;
mod sharing;
mod support;
mod sync;

use askama::Template;
use axum::Router;
use serde::Deserialize;

use super::form::FormErrors;
use super::{Layout, NavLink};
use crate::web::AppState;

/// The School Admin's pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(settings::routes())
        .merge(rules::routes())
        .merge(people::routes())
        .merge(sync::routes())
        .merge(sharing::routes())
        .merge(support::routes())
        .merge(erase::routes())
        .merge(retention::routes())
        .merge(data_map::routes())
        .merge(privacy::routes())
}

use super::form::sentence_case;
// After a successful form: back to the page with the notice's code, read by each page.
use super::form::{DoneQuery, done};

/// The confirmation step's answer, sent with a form that removes something.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfirmForm {
    confirm: String,
}

/// A form whose button is all it says (its CSRF token is the guard's).
#[derive(Debug, Deserialize)]
struct ButtonOnly {}

/// The page asking to confirm a removal, for a browser without the script (whose dialog asks
/// instead, and sends the form on with `confirm=yes`).
#[derive(Template)]
#[template(path = "admin_confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub heading: String,
    pub message: String,
    /// Where the confirmed form goes.
    pub action: String,
    /// The button's words.
    pub yes: &'static str,
    /// The page to go back to.
    pub back: &'static str,
}

/// A yes from the confirmation step of a form that removes something: the script's dialog adds
/// it, and without the script the first press shows a page asking (see
/// `templates/admin_confirm.html`).
fn confirmed(answer: &str) -> bool {
    answer == "yes"
}

/// Moves a refusal's field messages onto the ids one form of a page gives its fields (a page
/// with several forms cannot give two inputs the id `pattern`). `fields` maps each API field
/// name to the form's id and the words a person knows it by, which replace the API's name at
/// the start of a message ("Year_group is …" → "Year group is …"); a message for a field not
/// listed stays about the whole form.
fn on_form(errors: FormErrors, fields: &[(&str, &'static str, &str)]) -> FormErrors {
    let mut moved = FormErrors::none();
    for (field, message) in errors.summary() {
        match field.and_then(|f| fields.iter().find(|(api, _, _)| *api == f)) {
            Some((api, id, label)) => {
                let worded = match message.strip_prefix(&format!("{} ", sentence_case(api))) {
                    Some(rest) => format!("{label} {rest}"),
                    None => message.to_owned(),
                };
                moved.add(id, worded)
            }
            None => moved.add_general(message),
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_moves_onto_the_forms_own_field_ids() {
        let mut errors = FormErrors::none();
        errors.add("pattern", "Pattern is empty");
        errors.add("year_group", "Year_group is a year group from 1 to 13");
        errors.add("ids", "The new order must name every rule exactly once");
        errors.add_general("Already done");
        let moved = on_form(
            errors,
            &[
                ("pattern", "year-pattern", "The pattern"),
                ("year_group", "year-year_group", "The year"),
            ],
        );
        assert_eq!(moved.field("year-pattern"), Some("The pattern is empty"));
        assert_eq!(
            moved.field("year-year_group"),
            Some("The year is a year group from 1 to 13")
        );
        assert_eq!(moved.field("pattern"), None);
        assert_eq!(moved.summary().len(), 4);
    }
}
