//! Reading the log a page at a time, narrowed by who, what, which class and when: what the
//! audit log page shows.
//!
//! Pages are keyset-paged by entry id (newest first), so a page costs the same however far
//! back it is and entries written meanwhile never shift one page's rows onto the next. Only the
//! filters asked for are put into the statement (each value a bound parameter), so PostgreSQL
//! plans each shape with the indexes that fit it: the primary key read backwards for the
//! newest entries, `audit_log_at` for dates, `audit_log_target` for a class.
//!
//! A class's entries are those whose target is the class itself (`course`), one of its
//! portfolios, one of its onward-share scans, a share found in one of its portfolios, or an
//! assessment window that covers it. Entries whose target is something else but whose details
//! mention the class (none today) are not found by the class filter.

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

/// What a class's entries are about: the class, its portfolios, its scans, the shares found in
/// its portfolios and the windows over it, as `(target_type, target_id)` pairs.
const CLASS_TARGETS: [&str; 5] = [
    "SELECT 'course', c.id::text FROM courses c WHERE c.id = ",
    "SELECT 'portfolio', p.id::text FROM portfolios p WHERE p.course_id = ",
    "SELECT 'share_scan', s.id::text FROM share_scans s WHERE s.course_id = ",
    "SELECT 'share_finding', f.id::text FROM share_findings f \
     JOIN portfolios fp ON fp.id = f.portfolio_id WHERE fp.course_id = ",
    "SELECT 'window', wc.window_id::text FROM window_classes wc WHERE wc.course_id = ",
];

/// Appends `filter`'s conditions, each value bound.
fn push_filter(query: &mut QueryBuilder<Postgres>, filter: &LogFilter) {
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
    if let Some(class) = filter.class {
        query.push(" AND (target_type, target_id) IN (");
        for (i, part) in CLASS_TARGETS.iter().enumerate() {
            if i > 0 {
                query.push(" UNION ALL ");
            }
            query.push(part).push_bind(class);
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
    id: i64,
    older: bool,
) -> Result<bool, sqlx::Error> {
    let mut query = QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM audit_log WHERE true");
    push_filter(&mut query, filter);
    query
        .push(if older { " AND id < " } else { " AND id > " })
        .push_bind(id)
        .push(")");
    query.build_query_scalar().fetch_one(&mut **tx).await
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
    let mut query = QueryBuilder::new(COLUMNS);
    push_filter(&mut query, filter);
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
            any_beyond(tx, filter, newest, false)
                .await?
                .then_some(newest),
        ),
        PageStart::After(_) => (
            any_beyond(tx, filter, oldest, true)
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
