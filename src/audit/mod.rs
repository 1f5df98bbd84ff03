//! The append-only, hash-chained audit log every school keeps.
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and a canonical encoding of the
//! entry (time, actor, action, target, details with sorted keys). Writers take a
//! transaction-scoped advisory lock per school, so entries chain in commit order even with many
//! writers; a trigger refuses UPDATE, DELETE and TRUNCATE and the school's role may only INSERT
//! and SELECT. [`verify`] recomputes the chain and names the first entry that does not fit.
//! A superuser can still delete the newest entries behind the trigger, leaving a shorter chain
//! that links up; so each school's head is anchored outside its schema ([`anchor`]) every
//! minute and on every verify, and a chain that ends before its anchor is reported broken.
//! Every school is verified once a day ([`daily`]).
//!
//! Details hold ids, never names or email addresses, so erasing a person's records never has to
//! touch (and break) the chain.

mod action;
pub mod anchor;
mod chain;
pub mod daily;
mod listing;
pub mod names;

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::tenancy::{School, SchoolTx, begin_school_tx};
pub use action::Action;
pub use anchor::Anchor;
pub use chain::{GENESIS, entry_hash};
pub use listing::{ActorFilter, LogFilter, LogPage, PageStart, entry, list};

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in staff member.
    Staff(Uuid),
    /// The service itself (a timer, a worker), named.
    System(&'static str),
    /// Someone not (yet) identified, e.g. a refused sign-in.
    Anonymous,
    /// One of Invigilator's own operators, by the name they gave (`--operator`), acting from
    /// the command line or under a school's support access grant.
    Operator(String),
}

/// Why a name given with `--operator` cannot name the operator in a school's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorNameError {
    #[error(
        "say who you are: give --operator NAME (or set INVIGILATOR_OPERATOR); every command that \
         acts on a school is recorded in its audit log with the operator's name"
    )]
    Missing,
    #[error("--operator must be 1 to 80 characters with no control characters")]
    Malformed,
}

impl Actor {
    /// An operator named on the command line, checked: the name is what the school's auditors
    /// read, so it must be present and printable.
    pub fn operator(name: Option<&str>) -> Result<Self, OperatorNameError> {
        let name = name.map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(OperatorNameError::Missing);
        }
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(OperatorNameError::Malformed);
        }
        Ok(Self::Operator(name.to_owned()))
    }

    fn encode(&self) -> String {
        match self {
            Self::Staff(id) => format!("staff:{id}"),
            Self::System(name) => format!("system:{name}"),
            Self::Anonymous => "anonymous".to_owned(),
            Self::Operator(name) => format!("operator:{name}"),
        }
    }
}

/// What an action was done to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: id.to_string(),
        }
    }
}

/// One entry as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: Value,
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    #[serde(skip)]
    pub hash: Vec<u8>,
}

/// Appends an entry in the caller's transaction: it is recorded exactly when the change it
/// describes commits.
#[tracing::instrument(skip(tx, details), fields(school = %tx.school_id()))]
pub async fn record(
    tx: &mut SchoolTx,
    actor: &Actor,
    action: Action,
    target: Option<&Target>,
    details: Value,
) -> Result<i64, sqlx::Error> {
    // One writer per school at a time, until this transaction ends.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("audit|{}", tx.school_id()))
        .execute(&mut **tx)
        .await?;
    let prev: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_vec());
    // Stored with microsecond precision, so hash exactly what will be read back.
    let at = Utc::now().trunc_subsecs(6);
    let actor = actor.encode();
    let (target_type, target_id) = match target {
        Some(t) => (Some(t.kind), Some(t.id.as_str())),
        None => (None, None),
    };
    let hash = entry_hash(
        &prev,
        at,
        &actor,
        action.as_str(),
        target_type,
        target_id,
        &details,
    );
    sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action, target_type, target_id, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(at)
    .bind(&actor)
    .bind(action.as_str())
    .bind(target_type)
    .bind(target_id)
    .bind(&details)
    .bind(&prev)
    .bind(hash.as_slice())
    .fetch_one(&mut **tx)
    .await
}

/// The outcome of recomputing a school's chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub entries: u64,
    /// The last entry walked (`None` for an empty log): what `entries` counts up to.
    pub last_entry_id: Option<i64>,
    /// The first entry that does not fit, and why; `None` when the chain is whole.
    pub first_break: Option<Break>,
    /// The anchor the chain was checked against, as it stood before this verify.
    pub anchor: Option<Anchor>,
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Break {
    pub entry_id: i64,
    pub kind: BreakKind,
    pub reason: String,
}

/// How an entry does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// Its content no longer gives its hash.
    Changed,
    /// It does not follow the entry before it.
    Unlinked,
    /// The log ends before its anchored entry: the newest entries were deleted.
    Truncated,
    /// The anchored entry is gone from the middle, has another hash, or has another number of
    /// entries before it than when it was anchored.
    AnchorMismatch,
}

/// Why `e` does not fit after an entry whose hash is `expected_prev`, if it does not.
fn misfit(e: &AuditEntry, expected_prev: &[u8]) -> Option<Break> {
    let (kind, reason) = if e.prev_hash != expected_prev {
        (
            BreakKind::Unlinked,
            "does not follow the entry before it (an entry was removed or reordered)",
        )
    } else if entry_hash(
        &e.prev_hash,
        e.at,
        &e.actor,
        &e.action,
        e.target_type.as_deref(),
        e.target_id.as_deref(),
        &e.details,
    )
    .as_slice()
        != e.hash.as_slice()
    {
        (
            BreakKind::Changed,
            "its content was changed after it was written",
        )
    } else {
        return None;
    };
    Some(Break {
        entry_id: e.id,
        kind,
        reason: reason.to_owned(),
    })
}

/// Recomputes the whole chain, oldest first, checks it against the school's anchor (a chain
/// shorter than its anchor, or whose anchored entry changed, is broken), and anchors the head
/// when the chain is whole. A break is logged at error level.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn verify(pool: &PgPool, school: &School) -> Result<Verification, sqlx::Error> {
    // The anchor is read before the walk starts: it names only entries committed before it was
    // written, so the walk's later snapshot sees them all. Read after, a newer anchor could name
    // entries the walk cannot see, and look like a deletion.
    let anchor = anchor::latest(pool, school.id).await?;
    let mut tx = begin_school_tx(pool, school).await?;
    let walked = {
        let mut rows = sqlx::query_as::<_, AuditEntry>(
            "SELECT id, at, actor, action, target_type, target_id, details, prev_hash, hash \
             FROM audit_log ORDER BY id",
        )
        .fetch(&mut *tx);
        let mut expected_prev = GENESIS.to_vec();
        let mut entries = 0u64;
        let mut last_entry_id = None;
        let mut first_break = None;
        let mut met_anchor = false;
        while let Some(e) = rows.try_next().await? {
            entries += 1;
            first_break = misfit(&e, &expected_prev);
            if first_break.is_none()
                && let Some(a) = &anchor
                && !met_anchor
                && e.id >= a.entry_id
            {
                // The anchored entry, with another hash; or an entry past it when it is gone
                // from the middle (and the entries after it were rewritten to link up).
                met_anchor = true;
                if e.id > a.entry_id || e.hash != a.head_hash {
                    let found = (e.id == a.entry_id).then_some(e.hash.as_slice());
                    first_break = Some(a.broken(found, Some(e.id)));
                }
            }
            last_entry_id = Some(e.id);
            if first_break.is_some() {
                break;
            }
            expected_prev = e.hash;
        }
        if first_break.is_none()
            && !met_anchor
            && let Some(a) = &anchor
        {
            first_break = Some(a.broken(None, last_entry_id));
        }
        (entries, last_entry_id, first_break, expected_prev)
    };
    tx.commit().await?;
    let (entries, last_entry_id, first_break, head_hash) = walked;
    match (&first_break, last_entry_id) {
        (Some(b), _) => tracing::error!(
            school = %school.slug,
            entry = b.entry_id,
            reason = %b.reason,
            "audit chain broken"
        ),
        (None, Some(last)) => {
            tracing::info!(
                school = %school.slug,
                seq = last,
                entries,
                head_hash = %crate::privacy::archive::hex(&head_hash),
                "audit chain verified"
            );
            let count = i64::try_from(entries).unwrap_or(i64::MAX);
            anchor::store(pool, school, last, count, &head_hash).await?;
        }
        (None, None) => tracing::info!(school = %school.slug, "audit chain empty"),
    }
    Ok(Verification {
        entries,
        last_entry_id,
        first_break,
        anchor,
    })
}

/// The entries about one target, newest first (a portfolio's history, a role's changes).
pub async fn history(
    tx: &mut SchoolTx,
    target: &Target,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as::<_, AuditEntry>(
        "SELECT id, at, actor, action, target_type, target_id, details, prev_hash, hash \
         FROM audit_log WHERE target_type = $1 AND target_id = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(target.kind)
    .bind(&target.id)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}
