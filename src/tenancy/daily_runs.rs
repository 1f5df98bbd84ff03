//! Work done once a London day for each school (the audit chain's verify, the retention run):
//! each kind claims a school's day in its own `platform.*_runs` table, and the worker's timer
//! asks on every tick which schools have no claim for today yet.

use sqlx::PgPool;
use uuid::Uuid;

use super::{School, list_schools};

/// A kind of once-a-day work, and the table its claims are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyRuns {
    /// `audit::daily`: every school's audit chain verified.
    AuditVerify,
    /// `privacy::retention`: the retention period applied.
    Retention,
}

impl DailyRuns {
    /// The claims' table: a fixed name, never from input.
    fn table(self) -> &'static str {
        match self {
            Self::AuditVerify => "platform.audit_verify_runs",
            Self::Retention => "platform.retention_runs",
        }
    }
}

/// The schools (not deleted) with no claim of `runs` for today, London time; empty at once
/// (one query) on every tick after the day's work is done.
pub async fn schools_due_today(pool: &PgPool, runs: DailyRuns) -> Result<Vec<School>, sqlx::Error> {
    // The table name comes from the fixed list above.
    let waiting: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT t.id FROM platform.tenants t WHERE t.status <> 'deleted' AND NOT EXISTS ( \
             SELECT 1 FROM {} r WHERE r.tenant_id = t.id \
               AND r.run_on = (now() AT TIME ZONE 'Europe/London')::date)",
        runs.table()
    )))
    .fetch_all(pool)
    .await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    Ok(list_schools(pool)
        .await?
        .into_iter()
        .filter(|s| waiting.contains(&s.id))
        .collect())
}
