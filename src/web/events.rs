//! `GET /api/events`: lock status as it changes, as server-sent events (`event: portfolios`,
//! data: a JSON array of portfolio statuses), for the caller's school and only the classes they
//! may see.

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentStaff;
use crate::auth::{ClassAccess, ClassScope};

/// The classes whose changes this person sees; `None` is every class in the school.
#[tracing::instrument(skip_all, fields(staff = %staff.staff.id))]
async fn visible_classes(
    state: &AppState,
    staff: &CurrentStaff,
) -> Result<Option<HashSet<Uuid>>, ApiError> {
    let scope = staff.class_scope(ClassAccess::View);
    match scope {
        ClassScope::Everything => Ok(None),
        ClassScope::Nothing => Err(ApiError::Forbidden),
        ClassScope::Own { .. } => {
            let mut tx = staff.school_tx(state).await?;
            let ids = scope.classes(&mut tx).await?;
            tx.commit().await?;
            Ok(Some(ids.into_iter().collect()))
        }
    }
}

/// `GET /api/events`. Which classes are visible is settled when the stream opens; the browser
/// reconnects on its own and picks up classes gained since. The stream ends when the person
/// leaves (their last role is taken away, or Classroom no longer lists them as teaching).
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "locks",
    security(("session" = [])),
    responses((status = 200, description = "Lock status as it changes", body = String, content_type = "text/event-stream"), crate::web::openapi::Failures)
)]
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn stream(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let visible = visible_classes(&state, &staff).await?;
    let updates = state
        .live
        .subscribe_for(staff.school.id, staff.staff.id)
        .await
        .map_err(|e| ApiError::internal(e, "subscribing to live status"))?;
    let events = updates.filter_map(move |batch| {
        let shown: Vec<_> = batch
            .into_iter()
            .filter(|s| visible.as_ref().is_none_or(|v| v.contains(&s.course_id)))
            .collect();
        let event = if shown.is_empty() {
            None
        } else {
            Event::default()
                .event("portfolios")
                .json_data(&shown)
                .ok()
                .map(Ok)
        };
        std::future::ready(event)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
