//! Anchoring each school's chain head outside its schema, so that deleting the newest entries
//! (which leaves a shorter chain that still links up) is found.
//!
//! The head (newest entry's id, how many entries lead up to it, its hash) goes to
//! `platform.audit_anchors`, where a school's role has no privilege at all, and to the structured
//! log (`audit chain anchored`, fields `school`, `seq`, `entries`, `head_hash`), which lives outside
//! the database altogether. The worker's timer anchors every school once a minute
//! ([`anchor_all`]) and every verify anchors the head it found whole.
//!
//! An anchor only ever moves forward, and only over entries that extend it: the anchored entry
//! must still be there with its hash, and every newer entry must link up and hash correctly.
//! Otherwise the anchor stays where it was (the evidence) and the break is logged as an error.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use super::{AuditEntry, Break, BreakKind, GENESIS, misfit};
use crate::tenancy::{School, SchoolStatus, begin_school_tx};

/// A school's chain head as last anchored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Anchor {
    /// The newest entry anchored.
    pub entry_id: i64,
    /// How many entries the chain held up to and including it.
    pub entries: i64,
    /// Its hash (hex in JSON).
    #[serde(serialize_with = "as_hex")]
    pub head_hash: Vec<u8>,
    pub anchored_at: DateTime<Utc>,
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::privacy::archive::hex(bytes))
}

impl Anchor {
    /// The break to report when the anchored entry is not where the anchor says: `found` is the
    /// hash now at the anchored id (if that entry exists), `newest` the newest entry's id.
    pub(super) fn broken(&self, found: Option<&[u8]>, newest: Option<i64>) -> Break {
        let when = self.anchored_at.format("%Y-%m-%d %H:%M:%S UTC");
        let (kind, reason) = match (found, newest) {
            (Some(_), _) => (
                BreakKind::AnchorMismatch,
                format!(
                    "it no longer has the hash anchored outside the school's data at {when}: it \
                     was replaced"
                ),
            ),
            (None, Some(newest)) if newest > self.entry_id => (
                BreakKind::AnchorMismatch,
                format!(
                    "it was anchored outside the school's data at {when} but is no longer in the \
                     log: it was removed"
                ),
            ),
            (None, newest) => (
                BreakKind::Truncated,
                format!(
                    "the log ends at {}, but this entry was anchored outside the school's data \
                     at {when}: the newest entries were deleted",
                    newest.map_or_else(|| "no entry at all".to_owned(), |id| format!("entry {id}"))
                ),
            ),
        };
        Break {
            entry_id: self.entry_id,
            kind,
            reason,
        }
    }
}

/// The school's latest anchor, if it has one.
#[tracing::instrument(skip(pool))]
pub async fn latest(pool: &PgPool, school: Uuid) -> Result<Option<Anchor>, sqlx::Error> {
    sqlx::query_as::<_, Anchor>(
        "SELECT entry_id, entries, head_hash, anchored_at FROM platform.audit_anchors \
         WHERE tenant_id = $1",
    )
    .bind(school)
    .fetch_optional(pool)
    .await
}

/// Moves the school's anchor to this head, unless it already stands at or past it (another
/// process anchored a newer head meanwhile), and logs it. `None` when it did not move.
#[tracing::instrument(skip(pool, school, head_hash), fields(school = %school.slug))]
pub(super) async fn store(
    pool: &PgPool,
    school: &School,
    entry_id: i64,
    entries: i64,
    head_hash: &[u8],
) -> Result<Option<Anchor>, sqlx::Error> {
    let moved = sqlx::query_as::<_, Anchor>(
        "INSERT INTO platform.audit_anchors (tenant_id, entry_id, entries, head_hash) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id) DO UPDATE SET entry_id = excluded.entry_id, \
             entries = excluded.entries, head_hash = excluded.head_hash, \
             anchored_at = excluded.anchored_at \
         WHERE audit_anchors.entry_id < excluded.entry_id \
         RETURNING entry_id, entries, head_hash, anchored_at",
    )
    .bind(school.id)
    .bind(entry_id)
    .bind(entries)
    .bind(head_hash)
    .fetch_optional(pool)
    .await?;
    if let Some(a) = &moved {
        // The copy outside the database: a superuser who rewrites the anchors table cannot
        // reach the log shipped from here.
        tracing::info!(
            school = %school.slug,
            seq = a.entry_id,
            entries = a.entries,
            head_hash = %crate::privacy::archive::hex(&a.head_hash),
            "audit chain anchored"
        );
    }
    Ok(moved)
}

/// What anchoring one school did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchoring {
    /// The anchor moved to this head.
    Moved(Anchor),
    /// Nothing new since the last anchor (or an empty log, or another process got there first).
    Unchanged,
    /// The chain no longer extends the anchor: the anchor stays where it was.
    Broken(Break),
}

/// Anchors the school's head, checking first that the chain still extends the last anchor:
/// the anchored entry is there with its hash, and every newer entry links up and hashes
/// correctly. Walks only the entries since the last anchor, so it is cheap once a minute.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn anchor_school(pool: &PgPool, school: &School) -> Result<Anchoring, sqlx::Error> {
    // Read before the school's entries (see `verify`): an anchor only names committed entries,
    // so every entry it names is visible to the reads below.
    let previous = latest(pool, school.id).await?;
    let mut tx = begin_school_tx(pool, school).await?;
    let (mut expected_prev, mut entries, after) = match &previous {
        Some(a) => {
            let found: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = $1")
                    .bind(a.entry_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.as_deref() != Some(a.head_hash.as_slice()) {
                let newest: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM audit_log")
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(Anchoring::Broken(a.broken(found.as_deref(), newest)));
            }
            (a.head_hash.clone(), a.entries, a.entry_id)
        }
        None => (GENESIS.to_vec(), 0, 0),
    };
    let mut head = None;
    {
        let mut rows = sqlx::query_as::<_, AuditEntry>(
            "SELECT id, at, actor, action, target_type, target_id, details, prev_hash, hash \
             FROM audit_log WHERE id > $1 ORDER BY id",
        )
        .bind(after)
        .fetch(&mut *tx);
        while let Some(e) = rows.try_next().await? {
            if let Some(b) = misfit(&e, &expected_prev) {
                return Ok(Anchoring::Broken(b));
            }
            entries += 1;
            head = Some(e.id);
            expected_prev = e.hash;
        }
    }
    tx.commit().await?;
    let Some(head) = head else {
        return Ok(Anchoring::Unchanged);
    };
    Ok(store(pool, school, head, entries, &expected_prev)
        .await?
        .map_or(Anchoring::Unchanged, Anchoring::Moved))
}

/// Anchors every school that still has its data (the worker's timer, once a minute across all
/// processes). One school's trouble never stops the others'; a chain that no longer extends its
/// anchor is logged at error level, every time, until someone looks.
pub async fn anchor_all(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let schools = crate::tenancy::list_schools(pool).await?;
    let mut moved = 0;
    for school in schools.iter().filter(|s| s.status != SchoolStatus::Deleted) {
        match anchor_school(pool, school).await {
            Ok(Anchoring::Moved(_)) => moved += 1,
            Ok(Anchoring::Unchanged) => {}
            Ok(Anchoring::Broken(b)) => tracing::error!(
                school = %school.slug,
                entry = b.entry_id,
                reason = %b.reason,
                "audit chain broken: it no longer extends its anchor, which stays where it was"
            ),
            Err(e) => {
                tracing::error!(school = %school.slug, error = %e, "audit chain not anchored")
            }
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn anchor() -> Anchor {
        Anchor {
            entry_id: 60,
            entries: 60,
            head_hash: vec![7; 32],
            anchored_at: Utc
                .with_ymd_and_hms(2026, 12, 7, 9, 30, 0)
                .single()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn each_way_of_missing_the_anchor_says_what_happened() {
        let a = anchor();
        let cut = a.broken(None, Some(57));
        assert_eq!((cut.kind, cut.entry_id), (BreakKind::Truncated, 60));
        assert_eq!(
            cut.reason,
            "the log ends at entry 57, but this entry was anchored outside the school's data at \
             2026-12-07 09:30:00 UTC: the newest entries were deleted"
        );
        let emptied = a.broken(None, None);
        assert!(
            emptied
                .reason
                .starts_with("the log ends at no entry at all")
        );
        let gone = a.broken(None, Some(61));
        assert_eq!(gone.kind, BreakKind::AnchorMismatch);
        assert!(gone.reason.ends_with("it was removed"), "{}", gone.reason);
        let replaced = a.broken(Some(&[8; 32]), Some(60));
        assert_eq!(replaced.kind, BreakKind::AnchorMismatch);
        assert!(
            replaced.reason.ends_with("it was replaced"),
            "{}",
            replaced.reason
        );
    }
}
