//! Support access: Invigilator's operators see nothing of a school's data unless its School
//! Admin grants one of them read access, for 1 to 72 hours, with a reason. A grant ends by
//! itself at its expiry, or earlier when the School Admin revokes it; an operator who has been
//! disabled is refused whatever their grants say.
//!
//! Grants live in `platform.support_grants` (the operator reads across schools, so their
//! authority cannot live in one school's schema); each grant, revocation and read is recorded in
//! the school's own audit log, with ids only. A grant or revocation is written in a platform
//! transaction that commits only after the school's audit entry has committed: should the second
//! commit fail, the log says a little more than happened, never less.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::operators::{self, Operator};
use crate::audit::{self, Action, Actor, Target};
use crate::input::{FieldError, InputError, single_line};
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// The shortest grant, in hours.
pub const MIN_HOURS: i64 = 1;
/// The longest grant, in hours: three days covers a problem reported on a Friday afternoon;
/// anything longer should be asked for again.
pub const MAX_HOURS: i64 = 72;
/// The longest reason.
pub const REASON_MAX_CHARS: usize = 500;
/// How many grants the listing shows, newest first.
pub const LIST_LIMIT: i64 = 200;

/// A School Admin's grant, as asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// The operator's name, as `platform.operators` holds it.
    pub operator: String,
    pub hours: i64,
    pub reason: String,
}

/// Where a grant stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
}

impl GrantStatus {
    /// The word a School Admin reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

/// One grant, with its operator's name.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Grant {
    pub id: Uuid,
    pub operator_id: Uuid,
    pub operator: String,
    /// The operator has been disabled since: the grant opens nothing.
    pub operator_disabled: bool,
    pub granted_by: Uuid,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<Uuid>,
    pub status: GrantStatus,
}

/// Why a grant could not be made or revoked.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("that grant has already ended")]
    AlreadyEnded,
    #[error("no such grant")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Why an operator may not read a school now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "you have no support access to this school: its School Admin can grant it for a few hours"
    )]
    NoGrant,
    #[error("your support access to this school has expired: ask its School Admin for a new grant")]
    Expired,
    #[error("your support access to this school was revoked by its School Admin")]
    Revoked,
    #[error("your operator account is disabled")]
    OperatorDisabled,
}

const GRANT_COLUMNS: &str = "g.id, g.operator_id, o.name AS operator, \
     (o.disabled_at IS NOT NULL) AS operator_disabled, g.granted_by, g.reason, g.granted_at, \
     g.expires_at, g.revoked_at, g.revoked_by, \
     CASE WHEN g.revoked_at IS NOT NULL THEN 'revoked' \
          WHEN g.expires_at <= now() THEN 'expired' ELSE 'active' END AS status";

/// Checks a grant as asked for: hours in range, a reason, an operator who exists and is not
/// disabled. Returns the operator and the cleaned reason.
async fn check(pool: &PgPool, new: &NewGrant) -> Result<(Operator, String), GrantError> {
    if !(MIN_HOURS..=MAX_HOURS).contains(&new.hours) {
        return Err(InputError::OutOfRange {
            what: "a whole number",
            min: MIN_HOURS,
            max: MAX_HOURS,
        }
        .on("hours")
        .into());
    }
    let reason = single_line(&new.reason, REASON_MAX_CHARS).map_err(|e| e.on("reason"))?;
    let operator = match operators::find_by_name(pool, &new.operator).await? {
        Some(o) if !o.is_disabled() => o,
        Some(_) => {
            return Err(
                InputError::Malformed("is disabled: choose another operator")
                    .on("operator")
                    .into(),
            );
        }
        None if new.operator.trim().is_empty() => {
            return Err(InputError::Empty.on("operator").into());
        }
        None => {
            return Err(
                InputError::Malformed("is not one of Invigilator's operators")
                    .on("operator")
                    .into(),
            );
        }
    };
    Ok((operator, reason))
}

/// Grants `new` in `school`, by the School Admin `by`; audited in the school's log.
#[tracing::instrument(skip(pool, new), fields(school = %school.slug))]
pub async fn grant(
    pool: &PgPool,
    school: &School,
    by: Uuid,
    new: &NewGrant,
) -> Result<Grant, GrantError> {
    let (operator, reason) = check(pool, new).await?;
    let mut platform = pool.begin().await?;
    let (id, expires_at): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO platform.support_grants \
             (tenant_id, operator_id, granted_by, reason, granted_at, expires_at) \
         VALUES ($1, $2, $3, $4, now(), now() + make_interval(hours => $5)) \
         RETURNING id, expires_at",
    )
    .bind(school.id)
    .bind(operator.id)
    .bind(by)
    .bind(&reason)
    .bind(new.hours as i32)
    .fetch_one(&mut *platform)
    .await?;
    let mut tx = begin_school_tx(pool, school).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(by),
        Action::SupportAccessGranted,
        Some(&Target::new("support_grant", id)),
        json!({"operator_id": operator.id, "hours": new.hours, "expires_at": expires_at}),
    )
    .await?;
    tx.commit().await?;
    platform.commit().await?;
    find(pool, school, id).await?.ok_or(GrantError::NotFound)
}

/// Revokes grant `id` of `school`, by the School Admin `by`; audited in the school's log. A
/// grant of another school is not found; one already ended is refused.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn revoke(
    pool: &PgPool,
    school: &School,
    by: Uuid,
    id: Uuid,
) -> Result<Grant, GrantError> {
    let mut platform = pool.begin().await?;
    let revoked: Option<Uuid> = sqlx::query_scalar(
        "UPDATE platform.support_grants SET revoked_at = now(), revoked_by = $3 \
         WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL AND expires_at > now() \
         RETURNING operator_id",
    )
    .bind(id)
    .bind(school.id)
    .bind(by)
    .fetch_optional(&mut *platform)
    .await?;
    let Some(operator_id) = revoked else {
        return Err(match find(pool, school, id).await? {
            Some(_) => GrantError::AlreadyEnded,
            None => GrantError::NotFound,
        });
    };
    let mut tx = begin_school_tx(pool, school).await?;
    audit::record(
        &mut tx,
        &Actor::Staff(by),
        Action::SupportAccessRevoked,
        Some(&Target::new("support_grant", id)),
        json!({"operator_id": operator_id}),
    )
    .await?;
    tx.commit().await?;
    platform.commit().await?;
    find(pool, school, id).await?.ok_or(GrantError::NotFound)
}

/// Grant `id` of `school`, if it is one.
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn find(pool: &PgPool, school: &School, id: Uuid) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as::<_, Grant>(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM platform.support_grants g \
         JOIN platform.operators o ON o.id = g.operator_id \
         WHERE g.id = $1 AND g.tenant_id = $2"
    )))
    .bind(id)
    .bind(school.id)
    .fetch_optional(pool)
    .await
}

/// `school`'s grants, newest first (at most [`LIST_LIMIT`]).
#[tracing::instrument(skip(pool), fields(school = %school.slug))]
pub async fn list(pool: &PgPool, school: &School) -> Result<Vec<Grant>, sqlx::Error> {
    sqlx::query_as::<_, Grant>(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM platform.support_grants g \
         JOIN platform.operators o ON o.id = g.operator_id \
         WHERE g.tenant_id = $1 ORDER BY g.granted_at DESC, g.id LIMIT $2"
    )))
    .bind(school.id)
    .bind(LIST_LIMIT)
    .fetch_all(pool)
    .await
}

/// The grant that lets `operator` read `school` now, or why there is none (the most telling
/// reason: a revoked or expired grant is named rather than "no grant").
#[tracing::instrument(skip(pool, operator), fields(school = %school.slug))]
pub async fn access(
    pool: &PgPool,
    school: &School,
    operator: &Operator,
) -> Result<Result<Uuid, Refusal>, sqlx::Error> {
    if operator.is_disabled() {
        return Ok(Err(Refusal::OperatorDisabled));
    }
    let latest: Option<(Uuid, bool, bool)> = sqlx::query_as(
        "SELECT id, revoked_at IS NOT NULL, expires_at <= now() FROM platform.support_grants \
         WHERE tenant_id = $1 AND operator_id = $2 \
         ORDER BY (revoked_at IS NULL AND expires_at > now()) DESC, granted_at DESC LIMIT 1",
    )
    .bind(school.id)
    .bind(operator.id)
    .fetch_optional(pool)
    .await?;
    Ok(match latest {
        None => Err(Refusal::NoGrant),
        Some((_, true, _)) => Err(Refusal::Revoked),
        Some((_, _, true)) => Err(Refusal::Expired),
        Some((id, false, false)) => Ok(id),
    })
}

/// Records that `operator` read `what` under `grant`, in the same transaction as the read.
pub async fn record_read(
    tx: &mut SchoolTx,
    operator: &Operator,
    grant: Uuid,
    what: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let mut details = match details {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("read".into(), what.into());
    details.insert("operator_id".into(), operator.id.to_string().into());
    audit::record(
        tx,
        &Actor::Operator(operator.name.clone()),
        Action::SupportAccessRead,
        Some(&Target::new("support_grant", grant)),
        serde_json::Value::Object(details),
    )
    .await?;
    Ok(())
}

/// The hours a new grant runs, as the grant form offers them.
pub fn hour_choices() -> Vec<i64> {
    [1, 2, 4, 8, 24, 48, 72]
        .into_iter()
        .filter(|h| (MIN_HOURS..=MAX_HOURS).contains(h))
        .collect()
}
