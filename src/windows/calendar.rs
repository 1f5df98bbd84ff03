//! The Examinations Officers' calendar feed: the school's windows as iCalendar, at a secret
//! address per officer that Google Calendar can subscribe to.
//!
//! The address carries a 256-bit token; only its SHA-256 is stored (a copy of the database
//! does not open anyone's feed), so the address is shown once, when it is made. Making a new
//! one revokes the old; revoking leaves none. Every read is audited as the officer's.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, EventLike, EventStatus};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Window, WindowState};
use crate::audit::{self, Action, Actor, Target};
use crate::auth::session::{random_token, token_sha256};
use crate::tenancy::SchoolTx;

/// An officer's live feed, without its secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FeedStatus {
    pub created_at: DateTime<Utc>,
    pub last_read_at: Option<DateTime<Utc>>,
}

/// Makes `staff`'s feed address (revoking any before it); returns its token, the only time it
/// is seen.
pub async fn new_feed(tx: &mut SchoolTx, staff: Uuid) -> Result<String, sqlx::Error> {
    let revoked = revoke_live(tx, staff).await?;
    let token = random_token();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO calendar_feeds (staff_id, token_sha256) VALUES ($1, $2) RETURNING id",
    )
    .bind(staff)
    .bind(token_sha256(&token))
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        &Actor::Staff(staff),
        Action::CalendarFeedCreated,
        Some(&Target::new("calendar_feed", id)),
        json!({"replaced": revoked}),
    )
    .await?;
    Ok(token)
}

async fn revoke_live(tx: &mut SchoolTx, staff: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE calendar_feeds SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL \
         RETURNING id",
    )
    .bind(staff)
    .fetch_optional(&mut **tx)
    .await
}

/// Revokes `staff`'s feed address; `false` if there was none.
pub async fn revoke(tx: &mut SchoolTx, staff: Uuid) -> Result<bool, sqlx::Error> {
    let Some(id) = revoke_live(tx, staff).await? else {
        return Ok(false);
    };
    audit::record(
        tx,
        &Actor::Staff(staff),
        Action::CalendarFeedRevoked,
        Some(&Target::new("calendar_feed", id)),
        json!({}),
    )
    .await?;
    Ok(true)
}

/// `staff`'s live feed, if any.
pub async fn status(tx: &mut SchoolTx, staff: Uuid) -> Result<Option<FeedStatus>, sqlx::Error> {
    sqlx::query_as(
        "SELECT created_at, last_read_at FROM calendar_feeds \
         WHERE staff_id = $1 AND revoked_at IS NULL",
    )
    .bind(staff)
    .fetch_optional(&mut **tx)
    .await
}

/// The officer whose live feed `token` opens, noting and auditing the read.
pub async fn open(tx: &mut SchoolTx, token: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE calendar_feeds SET last_read_at = now() \
         WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING id, staff_id",
    )
    .bind(token_sha256(token))
    .fetch_optional(&mut **tx)
    .await?;
    let Some((feed, staff)) = found else {
        return Ok(None);
    };
    audit::record(
        tx,
        &Actor::Staff(staff),
        Action::CalendarFeedRead,
        Some(&Target::new("calendar_feed", feed)),
        json!({}),
    )
    .await?;
    Ok(Some(staff))
}

/// The windows as an iCalendar document (times in UTC, which every calendar shows in its own
/// zone; a cancelled window stays, marked cancelled, so subscribers see it go).
pub fn render(school_name: &str, windows: &[Window]) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&format!("{school_name}: assessment windows"));
    for w in windows {
        let mut event = icalendar::Event::new();
        let mut description = format!(
            "Classes: {}",
            w.classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if w.until_released {
            description.push_str("\nWork stays locked after the end until it is released.");
        }
        if let Some(note) = &w.note {
            description.push_str("\n\n");
            description.push_str(note);
        }
        event
            .uid(&format!("{}@invigilator", w.id))
            .summary(&w.name)
            .description(&description)
            .starts(w.starts_at)
            .ends(w.ends_at)
            .timestamp(w.updated_at)
            .last_modified(w.updated_at)
            .status(if w.state == WindowState::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        calendar.push(event.done());
    }
    calendar.done().to_string()
}
