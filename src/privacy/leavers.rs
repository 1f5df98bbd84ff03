//! Leavers: a member of staff whose last role is taken away, or whom Classroom no longer lists
//! as teaching any class (and who holds no role a School Admin gave), stops being used at once.
//!
//! In the transaction that records the change, [`mark_left`] sets the staff row's `left_at`
//! and sets every Google grant of theirs aside (`revoking`): roster sync and the Drive clients
//! use only `active` grants, so nothing acts as them from that commit on. After the commit,
//! [`StopUsing::follow_up`] ends their sessions and their open live-status streams and revokes
//! the grants at Google (the revocation endpoint), deleting each row once Google has answered.
//! A revocation Google could not take (it was down, say) is tried again by the worker's timer
//! ([`revoke_pending`]) a few times, further apart each time, then given up and the row deleted
//! all the same: nothing loops forever, and every outcome is in the audit log.
//!
//! The retention run deletes a leaver's staff row 30 days after `left_at` (`privacy::retention`).

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::auth::session::Sessions;
use crate::google::GoogleClients;
use crate::google::revocation::Revocation;
use crate::portfolio::live::LiveStatus;
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// Attempts at revoking one grant before it is given up (and our copy deleted regardless).
pub const MAX_REVOKE_ATTEMPTS: i32 = 5;

/// The wait before attempt `n + 1` after `n` failed ones: 1, 2, 4, 8 minutes.
fn backoff(failed: i32) -> Duration {
    Duration::from_secs(60 * (1u64 << failed.clamp(0, 6) as u32) / 2)
}

/// Why someone is a leaver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftBecause {
    /// A School Admin took their last role away.
    RolesRevoked,
    /// A roster sync found them teaching no class any more.
    LeftClassroom,
}

/// A member of staff who has just left, and the grants set aside for revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leaver {
    pub staff_id: Uuid,
    pub credentials: Vec<Uuid>,
}

/// Records, in the caller's transaction, that `staff_id` has left: `left_at`, every grant of
/// theirs set aside for revocation, and `StaffLeft` in the audit log (ids and counts only).
#[tracing::instrument(skip(tx), fields(school = %tx.school_id()))]
pub async fn mark_left(
    tx: &mut SchoolTx,
    actor: &Actor,
    staff_id: Uuid,
    because: LeftBecause,
) -> Result<Leaver, sqlx::Error> {
    sqlx::query("UPDATE staff SET left_at = coalesce(left_at, now()) WHERE id = $1")
        .bind(staff_id)
        .execute(&mut **tx)
        .await?;
    let credentials: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE google_credentials SET status = 'revoking', \
             status_reason = 'its holder left the school', access_token = NULL, \
             access_token_expires_at = NULL, revoke_attempts = 0, revoke_after = now(), \
             updated_at = now() \
         WHERE staff_id = $1 AND status <> 'revoking' RETURNING id",
    )
    .bind(staff_id)
    .fetch_all(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        Action::StaffLeft,
        Some(&Target::new("staff", staff_id)),
        json!({"because": because, "grants_set_aside": credentials.len()}),
    )
    .await?;
    Ok(Leaver {
        staff_id,
        credentials,
    })
}

/// After a roster sync: of `stopped_teaching` (staff Classroom no longer lists on a class they
/// taught, or whose classes were retired), those who now teach no active class and hold no
/// role but the Teacher role sign-in gave them for teaching. That role goes (it existed only
/// because they taught), and each is marked as having left. A Teacher role a School Admin gave
/// stays, and so does its holder. Returns the leavers, for [`StopUsing::follow_up`].
#[tracing::instrument(skip(pool, stopped_teaching), fields(school = %school.slug))]
pub async fn after_sync(
    pool: &PgPool,
    school: &School,
    stopped_teaching: &[Uuid],
) -> Result<Vec<Leaver>, sqlx::Error> {
    if stopped_teaching.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = begin_school_tx(pool, school).await?;
    let left: Vec<Uuid> = sqlx::query_scalar(
        "SELECT s.id FROM staff s WHERE s.id = ANY($1) AND s.left_at IS NULL \
           AND NOT EXISTS (SELECT 1 FROM course_teachers ct JOIN courses c ON c.id = ct.course_id \
                           WHERE ct.staff_id = s.id AND c.active) \
           AND NOT EXISTS (SELECT 1 FROM role_assignments r WHERE r.staff_id = s.id \
                           AND NOT (r.role = 'teacher' AND r.granted_by IS NULL)) \
         ORDER BY s.id FOR UPDATE OF s",
    )
    .bind(stopped_teaching)
    .fetch_all(&mut *tx)
    .await?;
    let mut leavers = Vec::with_capacity(left.len());
    for staff_id in left {
        let roles: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM role_assignments WHERE staff_id = $1 AND role = 'teacher' \
             AND granted_by IS NULL RETURNING id",
        )
        .bind(staff_id)
        .fetch_all(&mut *tx)
        .await?;
        for role in roles {
            audit::record(
                &mut tx,
                &Actor::System("roster-sync"),
                Action::RoleRevoked,
                Some(&Target::new("role_assignment", role)),
                json!({"role": "teacher", "staff_id": staff_id, "last_role": true}),
            )
            .await?;
        }
        leavers.push(
            mark_left(
                &mut tx,
                &Actor::System("roster-sync"),
                staff_id,
                LeftBecause::LeftClassroom,
            )
            .await?,
        );
    }
    tx.commit().await?;
    Ok(leavers)
}

/// What a revocation came to, for the audit log and the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantOutcome {
    pub credential_id: Uuid,
    pub staff_id: Option<Uuid>,
    /// `revoked`, `already_ended`, `not_revocable` (a service-account key: the School Admin
    /// deletes it in Google Cloud), `retry_later` or `given_up`.
    pub outcome: &'static str,
}

/// What the follow-up of a leaver reaches: sessions, live status and Google.
pub struct StopUsing<'a> {
    pub db: &'a PgPool,
    pub google: &'a GoogleClients,
    pub sessions: &'a Sessions,
    pub live: &'a LiveStatus,
    pub redis: &'a ConnectionManager,
}

impl<'a> StopUsing<'a> {
    /// From a process's shared services (a worker, the command line).
    pub fn from_services(services: &'a crate::services::Services) -> Self {
        Self {
            db: &services.db,
            google: &services.google,
            sessions: &services.sessions,
            live: &services.live,
            redis: &services.redis,
        }
    }

    /// After the commit that recorded `leavers`: ends their sessions and open streams, then
    /// revokes their grants at Google. Failures are logged and left for [`revoke_pending`].
    #[tracing::instrument(skip_all, fields(school = %school.slug, leavers = leavers.len()))]
    pub async fn follow_up(&self, school: &School, leavers: &[Leaver]) -> Vec<GrantOutcome> {
        for leaver in leavers {
            // A session that outlives this is refused anyway at its next request: a leaver
            // holds no role (see `web::extract::CurrentStaff`).
            if let Err(e) = self.sessions.end_all_for(school.id, leaver.staff_id).await {
                tracing::error!(error = %e, "could not end a leaver's sessions");
            }
            self.live
                .end_streams(self.redis, school.id, leaver.staff_id)
                .await;
        }
        let ids: Vec<Uuid> = leavers
            .iter()
            .flat_map(|l| l.credentials.iter().copied())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        match revoke(self.db, self.google, school, Some(&ids)).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "leavers' grants not revoked now; the timer will");
                Vec::new()
            }
        }
    }
}

/// Revokes every grant of `school` set aside for revocation whose next attempt is due (the
/// worker's timer calls this for every school).
pub async fn revoke_pending(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
) -> Result<Vec<GrantOutcome>, sqlx::Error> {
    revoke(pool, google, school, None).await
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: Uuid,
    staff_id: Option<Uuid>,
    revoke_attempts: i32,
}

/// Revokes the grants set aside for revocation: `only` these (due or not), or all that are due.
#[tracing::instrument(skip(pool, google, only), fields(school = %school.slug))]
async fn revoke(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    only: Option<&[Uuid]>,
) -> Result<Vec<GrantOutcome>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let pending: Vec<Pending> = sqlx::query_as(
        "SELECT id, staff_id, revoke_attempts FROM google_credentials \
         WHERE status = 'revoking' \
           AND CASE WHEN $1::uuid[] IS NULL THEN revoke_after <= now() ELSE id = ANY($1) END \
         ORDER BY revoke_after",
    )
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut outcomes = Vec::with_capacity(pending.len());
    for grant in pending {
        let answer = google.revoke_at_google(school, grant.id).await;
        let failed = grant.revoke_attempts + 1;
        let outcome = match &answer {
            Ok(Revocation::Revoked) => "revoked",
            Ok(Revocation::AlreadyEnded) => "already_ended",
            Ok(Revocation::NotRevocable) => "not_revocable",
            Ok(Revocation::Unreadable) => "unreadable",
            Err(e) if e.is_retryable() && failed < MAX_REVOKE_ATTEMPTS => "retry_later",
            Err(_) => "given_up",
        };
        let mut tx = begin_school_tx(pool, school).await?;
        if outcome == "retry_later" {
            let error = answer.err().map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(credential = %grant.id, attempts = failed, %error,
                "Google did not take a revocation; trying again later");
            sqlx::query(
                "UPDATE google_credentials SET revoke_attempts = $2, \
                     revoke_after = now() + make_interval(secs => $3), updated_at = now() \
                 WHERE id = $1 AND status = 'revoking'",
            )
            .bind(grant.id)
            .bind(failed)
            .bind(backoff(failed).as_secs_f64())
            .execute(&mut *tx)
            .await?;
        } else {
            if let Err(e) = &answer {
                tracing::error!(credential = %grant.id, error = %e,
                    "revocation given up; our copy of the grant is deleted all the same");
            }
            // Only a grant still set aside: one its holder renewed meanwhile is theirs again.
            let deleted =
                sqlx::query("DELETE FROM google_credentials WHERE id = $1 AND status = 'revoking'")
                    .bind(grant.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if deleted == 1 {
                audit::record(
                    &mut tx,
                    &Actor::System("leavers"),
                    Action::GoogleGrantRevoked,
                    Some(&Target::new("google_credential", grant.id)),
                    json!({"staff_id": grant.staff_id, "outcome": outcome, "attempts": failed}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        outcomes.push(GrantOutcome {
            credential_id: grant.id,
            staff_id: grant.staff_id,
            outcome,
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(4), Duration::from_secs(480));
    }
}
