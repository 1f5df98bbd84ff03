//! Reading the log a page at a time, narrowed by who, what, which class and when: what the
//! audit log page shows.
//!
//! Pages are keyset-paged by entry id (newest first), so a page costs the same however far
//! back it is and entries written meanwhile never shift one page's rows onto the next. Only the
//! filters asked for are put into the statement (each value a bound parameter), so PostgreSQL
//! plans each shape with the indexes that fit it: the primary key read backwards for the
//! newest entries, `audit_log_at` for dates, `audit_log_target` for a class (see [`fence`]).
//! Who and what have no index of their own: a filter on them reads the log backwards until a
//! page is full, which for an actor or action seldom seen reads the whole log (about 0.1 s for
//! 300,000 entries on the development machine; see docs/oversight.md).
//!
//! A class's entries are those whose target is the class itself (`course`), one of its
//! portfolios, one of its onward-share scans, a share found in one of its portfolios, or an
//! assessment window that covers it: every entry written about a class today has one of these
//! targets (a scan's or a window's details name the class too, but are not searched).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Action, AuditEntry};
use crate::tenancy::SchoolTx;

/// Whose entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorFilter {
    /// One member of staff.
    Staff(Uuid),
    /// Invigilator itself: its timers and workers (`system:…`).
    Service,
    /// Someone not signed in (a refused sign-in).
    Anonymous,
}

/// What to narrow the log to; every field left `None` is not a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub actor: Option<ActorFilter>,
    pub action: Option<Action>,
    /// A class (course id): see the module doc for which entries are about it.
    pub class: Option<Uuid>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// The newest entries.
    Newest,
    /// The entries just older than this id.
    Before(i64),
    /// The entries just newer than this id.
    After(i64),
}

/// One page of entries, newest first, and where the pages beside it start.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub entries: Vec<AuditEntry>,
    /// Older entries exist: ask for [`PageStart::Before`] this id.
    pub older: Option<i64>,
    /// Newer entries exist: ask for [`PageStart::After`] this id.
    pub newer: Option<i64>,
}

const COLUMNS: &str = "SELECT id, at, actor, action, target_type, target_id, details, prev_hash, hash \
     FROM audit_log WHERE true";

/// The kinds of target a class's entries have, and the ids of each that belong to a class
/// (`$1`): the class, its portfolios, its scans, the shares found in its portfolios, the windows
/// over it.
const CLASS_TARGETS: &str = "SELECT 'course', c.id::text FROM courses c WHERE c.id = $1 \
     UNION ALL SELECT 'portfolio', p.id::text FROM portfolios p WHERE p.course_id = $1 \
     UNION ALL SELECT 'share_scan', s.id::text FROM share_scans s WHERE s.course_id = $1 \
     UNION ALL SELECT 'share_finding', f.id::text FROM share_findings f \
               JOIN portfolios fp ON fp.id = f.portfolio_id WHERE fp.course_id = $1 \
     UNION ALL SELECT 'window', wc.window_id::text FROM window_classes wc WHERE wc.course_id = $1";

/// What a class's entries are about, by target type. Looked up first, so the log is then read
/// through `audit_log_target` with each kind's ids bound (a rare class costs a few index
/// lookups, not a scan of the log), or backwards by id when the class's entries are many.
#[derive(Debug, Default)]
struct ClassTargets(Vec<(String, Vec<String>)>);

impl ClassTargets {
    async fn of(tx: &mut SchoolTx, class: Uuid) -> Result<Self, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(CLASS_TARGETS)
            .bind(class)
            .fetch_all(&mut **tx)
            .await?;
        let mut targets: Vec<(String, Vec<String>)> = Vec::new();
        for (kind, id) in rows {
            match targets.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, ids)) => ids.push(id),
                None => targets.push((kind, vec![id])),
            }
        }
        Ok(Self(targets))
    }
}

/// Appends `filter`'s conditions, each value bound; `targets` are the filter's class's.
fn push_filter(
    query: &mut QueryBuilder<Postgres>,
    filter: &LogFilter,
    targets: Option<&ClassTargets>,
) {
    match filter.actor {
        Some(ActorFilter::Staff(id)) => {
            query.push(" AND actor = ").push_bind(format!("staff:{id}"));
        }
        Some(ActorFilter::Service) => {
            query.push(" AND actor LIKE 'system:%'");
        }
        Some(ActorFilter::Anonymous) => {
            query.push(" AND actor = 'anonymous'");
        }
        None => {}
    }
    if let Some(action) = filter.action {
        query.push(" AND action = ").push_bind(action.as_str());
    }
    if let Some(targets) = targets {
        // No target at all (a class that is gone): nothing matches.
        query.push(" AND (false");
        for (kind, ids) in &targets.0 {
            query
                .push(" OR (target_type = ")
                .push_bind(kind.clone())
                .push(" AND target_id = ANY(")
                .push_bind(ids.clone())
                .push("))");
        }
        query.push(")");
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(until) = filter.until {
        query.push(" AND at < ").push_bind(until);
    }
}

/// Whether any entry matching `filter` lies beyond `id` (older when `older`, else newer).
async fn any_beyond(
    tx: &mut SchoolTx,
    filter: &LogFilter,
    targets: Option<&ClassTargets>,
    id: i64,
    older: bool,
) -> Result<bool, sqlx::Error> {
    let mut query =
        QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM (SELECT id FROM audit_log WHERE true");
    push_filter(&mut query, filter, targets);
    query
        .push(if older { " AND id < " } else { " AND id > " })
        .push_bind(id)
        .push(fence(targets))
        .push(") beyond)");
    query.build_query_scalar().fetch_one(&mut **tx).await
}

/// With a class, the entries are picked before they are ordered and cut to a page (`OFFSET 0`
/// keeps PostgreSQL from pushing the page's `LIMIT` into the pick): it then reads the class's
/// entries through `audit_log_target`, costing what the class has, rather than reading the log
/// backwards until a page is full, which for a class seldom mentioned is the whole log.
fn fence(targets: Option<&ClassTargets>) -> &'static str {
    if targets.is_some() { " OFFSET 0" } else { "" }
}

/// One page of at most `size` entries matching `filter`, starting at `start`, newest first.
#[tracing::instrument(skip(tx), fields(school = %tx.school_id()))]
pub async fn list(
    tx: &mut SchoolTx,
    filter: &LogFilter,
    start: PageStart,
    size: i64,
) -> Result<LogPage, sqlx::Error> {
    let size = size.max(1);
    let targets = match filter.class {
        Some(class) => Some(ClassTargets::of(tx, class).await?),
        None => None,
    };
    let targets = targets.as_ref();
    let mut query = QueryBuilder::new("SELECT * FROM (");
    query.push(COLUMNS);
    push_filter(&mut query, filter, targets);
    // Newer pages read upwards from their start, then turn round.
    let upwards = matches!(start, PageStart::After(_));
    match start {
        PageStart::Newest => {}
        PageStart::Before(id) => {
            query.push(" AND id < ").push_bind(id);
        }
        PageStart::After(id) => {
            query.push(" AND id > ").push_bind(id);
        }
    }
    query
        .push(fence(targets))
        .push(") entries")
        .push(if upwards {
            " ORDER BY id ASC"
        } else {
            " ORDER BY id DESC"
        })
        .push(" LIMIT ")
        .push_bind(size + 1);
    let mut entries: Vec<AuditEntry> = query.build_query_as().fetch_all(&mut **tx).await?;
    // One more than a page was asked for: its presence says the list goes on that way.
    let goes_on = entries.len() as i64 > size;
    entries.truncate(size as usize);
    if upwards {
        entries.reverse();
    }
    let (newest, oldest) = match (entries.first(), entries.last()) {
        (Some(first), Some(last)) => (first.id, last.id),
        _ => {
            return Ok(LogPage {
                entries,
                older: None,
                newer: None,
            });
        }
    };
    let (older, newer) = match start {
        PageStart::Newest => (goes_on.then_some(oldest), None),
        PageStart::Before(_) => (
            goes_on.then_some(oldest),
            any_beyond(tx, filter, targets, newest, false)
                .await?
                .then_some(newest),
        ),
        PageStart::After(_) => (
            any_beyond(tx, filter, targets, oldest, true)
                .await?
                .then_some(oldest),
            goes_on.then_some(newest),
        ),
    };
    Ok(LogPage {
        entries,
        older,
        newer,
    })
}

/// One entry, by id.
pub async fn entry(tx: &mut SchoolTx, id: i64) -> Result<Option<AuditEntry>, sqlx::Error> {
    let mut query = QueryBuilder::new(COLUMNS);
    query.push(" AND id = ").push_bind(id);
    query.build_query_as().fetch_optional(&mut **tx).await
}
