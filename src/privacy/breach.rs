//! A suspected breach: every staff session ended at once, and every stored Google grant
//! revoked at Google, each step recorded in every school's audit log under the operator's name
//! (a school being offboarded is left alone: its export must stay the whole of its data).
//!
//! Both are operator commands (`sessions end-all`, `grants revoke-all`), deliberately blunt:
//! after them nobody is signed in and no school's Drive or Classroom can be reached until its
//! staff sign in again and its School Admin reconnects the Drive operator. Revocation reuses the
//! leavers' path ([`super::leavers::revoke_pending`]): grants are set aside (`revoking`, unused
//! from that moment) in the same transaction as the operator's audit entry, then revoked at
//! Google one by one, a grant Google does not take now being retried by the workers' timer.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::services::Services;
use crate::tenancy::{School, SchoolStatus, begin_school_tx, list_schools};

/// Why a breach step could not be completed (what was done before the failure stays done).
#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("Redis could not be read or written")]
    Redis(#[from] redis::RedisError),
    #[error("the database could not be read or written")]
    Database(#[from] sqlx::Error),
    #[error("no school with slug {0:?}")]
    NoSuchSchool(String),
    #[error(
        "{0} is being offboarded: nothing is written to it, and its grants are revoked when its \
         offboarding is confirmed"
    )]
    Offboarding(String),
}

/// What `sessions end-all` ended.
#[derive(Debug, Default)]
pub struct SessionsEnded {
    /// Live sessions ended, by school slug (every school, including those with none).
    pub per_school: BTreeMap<String, u64>,
    /// Live sessions that named no school we hold (a school deleted meanwhile, a lost index).
    pub unattributed: u64,
}

/// Ends every staff session and sign-in in progress in this deployment, and every open
/// live-status stream of the people who had one; records `operator.sessions_ended` with the
/// count in every school's log.
#[tracing::instrument(skip_all)]
pub async fn end_all_sessions(
    services: &Services,
    operator: &Actor,
) -> Result<SessionsEnded, BreachError> {
    let (per_person, unindexed) = services.sessions.end_everyone().await?;
    let mut per_school_id: HashMap<Uuid, u64> = HashMap::new();
    for (&(school_id, staff_id), &ended) in &per_person {
        services
            .live
            .end_streams(&services.redis, school_id, staff_id)
            .await;
        *per_school_id.entry(school_id).or_default() += ended;
    }
    let mut report = SessionsEnded {
        unattributed: unindexed,
        ..SessionsEnded::default()
    };
    for school in schools(services, None).await? {
        let ended = per_school_id.remove(&school.id).unwrap_or(0);
        let mut tx = begin_school_tx(&services.db, &school).await?;
        audit::record(
            &mut tx,
            operator,
            Action::OperatorSessionsEnded,
            Some(&Target::new("school", school.id)),
            json!({"sessions": ended}),
        )
        .await?;
        tx.commit().await?;
        report.per_school.insert(school.slug.clone(), ended);
    }
    report.unattributed += per_school_id.values().sum::<u64>();
    Ok(report)
}

/// What `grants revoke-all` did in one school.
#[derive(Debug, Default)]
pub struct GrantsRevoked {
    pub slug: String,
    /// Grants set aside (nothing uses them from that moment).
    pub set_aside: usize,
    /// What became of each at Google: `revoked`, `already_ended`, `not_revocable`,
    /// `retry_later`, `given_up` (see [`super::leavers::GrantOutcome`]).
    pub outcomes: BTreeMap<&'static str, usize>,
}

/// Sets aside every stored Google grant of every school (or of `only`) and revokes each at
/// Google; records `operator.grants_revoked` in each school's log.
#[tracing::instrument(skip(services, operator))]
pub async fn revoke_all_grants(
    services: &Services,
    operator: &Actor,
    only: Option<&str>,
) -> Result<Vec<GrantsRevoked>, BreachError> {
    let mut reports = Vec::new();
    for school in schools(services, only).await? {
        let mut tx = begin_school_tx(&services.db, &school).await?;
        let set_aside: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE google_credentials SET status = 'revoking', \
                 status_reason = 'revoked by an Invigilator operator after a suspected breach', \
                 access_token = NULL, access_token_expires_at = NULL, revoke_attempts = 0, \
                 revoke_after = now(), updated_at = now() \
             WHERE status <> 'revoking' RETURNING id",
        )
        .fetch_all(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            operator,
            Action::OperatorGrantsRevoked,
            Some(&Target::new("school", school.id)),
            json!({"grants_set_aside": set_aside.len()}),
        )
        .await?;
        tx.commit().await?;
        let outcomes =
            super::leavers::revoke_pending(&services.db, &services.google, &school).await?;
        let mut report = GrantsRevoked {
            slug: school.slug.clone(),
            set_aside: set_aside.len(),
            outcomes: BTreeMap::new(),
        };
        for outcome in outcomes {
            *report.outcomes.entry(outcome.outcome).or_default() += 1;
        }
        reports.push(report);
    }
    Ok(reports)
}

/// Every active or suspended school, or only the one named. A school being offboarded is left
/// alone: its export must stay the whole of its data, and `tenant offboard --confirm` revokes
/// its grants; a deleted one holds nothing.
async fn schools(services: &Services, only: Option<&str>) -> Result<Vec<School>, BreachError> {
    let all = list_schools(&services.db).await?;
    if let Some(slug) = only {
        return match all.into_iter().find(|s| s.slug == slug) {
            None => Err(BreachError::NoSuchSchool(slug.to_owned())),
            Some(s) if s.status == SchoolStatus::Deleted => {
                Err(BreachError::NoSuchSchool(slug.to_owned()))
            }
            Some(s) if s.status == SchoolStatus::Offboarding => {
                Err(BreachError::Offboarding(s.slug))
            }
            Some(s) => Ok(vec![s]),
        };
    }
    Ok(all
        .into_iter()
        .filter(|s| matches!(s.status, SchoolStatus::Active | SchoolStatus::Suspended))
        .collect())
}
