//! The scheduled verify: once a day, every school's whole chain is recomputed and checked
//! against its anchor (which [`super::verify`] then moves on), without anyone having to press
//! a button. A break is logged at error level (for the alerting on error logs), a whole chain at
//! info level.
//!
//! Exactly once per school per (Europe/London) day however many workers tick: the run starts by
//! inserting the day's row in `platform.audit_verify_runs`, and only the process whose insert
//! wins goes on; the row then keeps the outcome for operators. The school's own log is not
//! written to: a daily entry would only lengthen the chain it checks.

use sqlx::PgPool;

use super::Verification;
use crate::tenancy::School;
use crate::tenancy::daily_runs::{DailyRuns, schools_due_today};

/// Today's verify of one school, unless a process has already claimed today's: `None` then.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn verify_daily(
    pool: &PgPool,
    school: &School,
) -> Result<Option<Verification>, sqlx::Error> {
    let claimed: Option<chrono::NaiveDate> = sqlx::query_scalar(
        "INSERT INTO platform.audit_verify_runs (tenant_id, run_on) \
         VALUES ($1, (now() AT TIME ZONE 'Europe/London')::date) \
         ON CONFLICT DO NOTHING RETURNING run_on",
    )
    .bind(school.id)
    .fetch_optional(pool)
    .await?;
    let Some(day) = claimed else {
        return Ok(None);
    };
    let result = super::verify(pool, school).await;
    // The day stays claimed even after a failure: tomorrow's run tries again, and the minute's
    // anchoring keeps watching the newest entries meanwhile.
    let (entries, break_entry, break_reason, error) = match &result {
        Ok(v) => (
            i64::try_from(v.entries).ok(),
            v.first_break.as_ref().map(|b| b.entry_id),
            v.first_break.as_ref().map(|b| b.reason.clone()),
            None,
        ),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    sqlx::query(
        "UPDATE platform.audit_verify_runs SET finished_at = now(), entries = $3, \
             break_entry_id = $4, break_reason = $5, error = $6 \
         WHERE tenant_id = $1 AND run_on = $2",
    )
    .bind(school.id)
    .bind(day)
    .bind(entries)
    .bind(break_entry)
    .bind(break_reason)
    .bind(error)
    .execute(pool)
    .await?;
    let verification = result?;
    match &verification.first_break {
        Some(b) => tracing::error!(
            school = %school.slug,
            entry = b.entry_id,
            reason = %b.reason,
            "scheduled audit verify: the chain is broken; tell the school's data protection \
             officer and do not change the database"
        ),
        None => tracing::info!(
            school = %school.slug,
            entries = verification.entries,
            "scheduled audit verify: the chain is intact"
        ),
    }
    Ok(Some(verification))
}

/// Runs today's verify of every school with data that has not had it yet (the worker's timer
/// calls this on each tick; only the first claim of each school's day does anything). Returns
/// how many schools were verified.
pub async fn verify_due(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut ran = 0;
    for school in schools_due_today(pool, DailyRuns::AuditVerify).await? {
        match verify_daily(pool, &school).await {
            Ok(Some(_)) => ran += 1,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(school = %school.slug, error = %e, "scheduled audit verify failed")
            }
        }
    }
    Ok(ran)
}
