//! Forms on pages: reading what was sent, and when it cannot be used, showing the same form
//! again with each error beside its field and everything typed kept. Nothing is saved on any
//! error: a page handler calls the same domain code as the JSON API, which refuses before it
//! writes, and turns the refusal into [`FormErrors`] with [`FormErrors::from_refusal`].
//!
//! In a template (`errors` is a [`FormErrors`]; the input's `id` is the field's name, so the
//! summary at the top links to it):
//!
//! ```text
//! {% include "form_errors.html" %}
//! <div class="field{% if errors.field("name").is_some() %} field-invalid{% endif %}">
//!   <label for="name">Name</label>
//!   {% if let Some(e) = errors.field("name") %}<p class="field-error" id="name-error"><span class="visually-hidden">Error: </span>{{ e }}</p>{% endif %}
//!   <input id="name" name="name" value="{{ form.name }}"{% if errors.field("name").is_some() %} aria-invalid="true" aria-describedby="name-error"{% endif %}>
//! </div>
//! ```

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::web::error::{ApiError, PageError};

/// What was wrong with a form: messages by field, and messages about the whole form.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    fields: Vec<(&'static str, String)>,
    general: Vec<String>,
    /// The form only narrows what a page shows (filters), so nothing could have been saved.
    filters: bool,
}

impl FormErrors {
    /// No errors (a form shown for the first time).
    pub fn none() -> Self {
        Self::default()
    }

    /// No errors yet, on a form of filters: its summary speaks of the filters and says nothing
    /// about saving.
    pub fn for_filters() -> Self {
        Self {
            filters: true,
            ..Self::default()
        }
    }

    /// Whether the form is one of filters (for `templates/form_errors.html`).
    pub fn about_filters(&self) -> bool {
        self.filters
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// Adds a message beside `field`.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.fields.push((field, message.into()));
    }

    /// Adds a message about the whole form.
    pub fn add_general(&mut self, message: impl Into<String>) {
        self.general.push(message.into());
    }

    /// The first message for `field`, to show beside it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.as_str())
    }

    /// Every message for the summary at the top: with its field (to link to) where it has one.
    pub fn summary(&self) -> Vec<(Option<&'static str>, &str)> {
        self.general
            .iter()
            .map(|m| (None, m.as_str()))
            .chain(self.fields.iter().map(|(f, m)| (Some(*f), m.as_str())))
            .collect()
    }

    /// Sorts a refusal from the domain code: what the person can fix by changing the form
    /// (a field's value, a conflict, a stale page) becomes a message on it; the rest (not
    /// found, forbidden, Google down, our fault) is an error page.
    pub fn from_refusal(error: ApiError) -> Result<Self, PageError> {
        let mut errors = Self::none();
        match error {
            ApiError::InvalidField { field, message } => errors.add(field, sentence_case(&message)),
            ApiError::Invalid(message) | ApiError::Conflict(message) => {
                errors.add_general(sentence_case(&message))
            }
            ApiError::Stale { message, .. } => errors.add_general(sentence_case(&message)),
            unavailable @ ApiError::GoogleUnavailable(_) => {
                errors.add_general(unavailable.to_string())
            }
            other => return Err(other.into()),
        }
        Ok(errors)
    }
}

/// "name is empty" → "Name is empty": a message shown on its own reads as a sentence.
pub fn sentence_case(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `?done=<code>` on a page a successful form sent the person back to: which of the page's
/// fixed notices to show. The query's text itself is never shown, so a link cannot put words
/// on our pages.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: Option<String>,
}

impl DoneQuery {
    /// The words for this code among the page's `notices` (code, words), if it is one of them.
    pub fn notice(&self, notices: &[(&str, &'static str)]) -> Option<&'static str> {
        let code = self.done.as_deref()?;
        notices.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
    }
}

/// Back to `page` after a successful form (303, so a reload does not send it again), with the
/// notice `code` for [`DoneQuery`]. `page` is one of ours, never taken from the request.
pub fn done(page: &str, code: &str) -> Response {
    let join = if page.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{page}{join}done={code}")).into_response()
}

/// A form shown again because of `errors`: 422, so scripts and tests can tell it from a
/// first showing.
pub fn reshow(page: Html<String>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

/// A form sent by a page (`application/x-www-form-urlencoded`), read with `serde_html_form`
/// so a field sent several times (ticked checkboxes) fills a `Vec`. A body that cannot be read
/// is a page saying so, not a bare 4xx.
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(unreadable(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| unreadable(StatusCode::BAD_REQUEST))?;
        serde_html_form::from_bytes(&bytes).map(Self).map_err(|e| {
            tracing::info!(error = %e, "a form could not be read");
            unreadable(StatusCode::UNPROCESSABLE_ENTITY)
        })
    }
}

fn unreadable(status: StatusCode) -> PageError {
    PageError::new(
        status,
        "That form could not be read",
        "Nothing was changed. Go back, reload the page and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_refusal_sits_beside_its_field() {
        let errors =
            FormErrors::from_refusal(ApiError::invalid_field("name", "name is empty")).unwrap();
        assert_eq!(errors.field("name"), Some("Name is empty"));
        assert_eq!(errors.summary(), vec![(Some("name"), "Name is empty")]);
    }

    #[test]
    fn only_a_known_done_code_shows_words() {
        let notices = [("saved", "Your changes are saved.")];
        let query = |code: &str| DoneQuery {
            done: Some(code.to_owned()),
        };
        assert_eq!(
            query("saved").notice(&notices),
            Some("Your changes are saved.")
        );
        assert_eq!(query("<script>").notice(&notices), None);
        assert_eq!(DoneQuery::default().notice(&notices), None);
        let back = done("/windows?view=calendar", "saved");
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            back.headers()["location"],
            "/windows?view=calendar&done=saved"
        );
    }

    #[test]
    fn a_conflict_is_about_the_whole_form_and_not_found_is_a_page() {
        let errors = FormErrors::from_refusal(ApiError::Conflict("already ended".into())).unwrap();
        assert_eq!(errors.summary(), vec![(None, "Already ended")]);
        let page = FormErrors::from_refusal(ApiError::NotFound).unwrap_err();
        assert_eq!(page.status, StatusCode::NOT_FOUND);
    }
}
