//! Live status: every change to a portfolio's lock state is published on its school's Redis
//! channel, so dashboards show a lock the moment it is done.
//!
//! A message is a snapshot of the rows, not a diff: a dashboard that misses one (pub/sub keeps
//! nothing) is put right by the next, and repeats are harmless. Publishing is best effort; the
//! portfolio rows stay the truth that `GET /api/portfolios/{id}` reads.

use futures::{Stream, StreamExt};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::lock::LockState;
use crate::config::Config;
use crate::tenancy::SchoolTx;

/// Where one portfolio stands, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct PortfolioStatus {
    pub portfolio_id: Uuid,
    pub course_id: Uuid,
    pub desired: LockState,
    pub desired_version: i64,
    pub applied: Option<LockState>,
    pub applied_version: i64,
    /// Given up until someone asks again.
    pub failed: bool,
    pub last_error: Option<String>,
}

impl PortfolioStatus {
    /// Drive matches what was last asked for.
    pub fn is_applied(&self) -> bool {
        self.applied_version >= self.desired_version
    }
}

/// The current status of these portfolios.
pub async fn statuses(
    tx: &mut SchoolTx,
    ids: &[Uuid],
) -> Result<Vec<PortfolioStatus>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id AS portfolio_id, course_id, desired, desired_version, applied, applied_version, \
             failed_permanently AS failed, last_error \
         FROM portfolios WHERE id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
}

/// Publishes and subscribes to schools' status channels.
#[derive(Clone)]
pub struct LiveStatus {
    client: redis::Client,
    namespace: String,
}

impl std::fmt::Debug for LiveStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the Redis URL, which may carry a password.
        f.debug_struct("LiveStatus")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl LiveStatus {
    /// Channels of this deployment (`TENANT_ROLE_PREFIX` separates deployments sharing Redis).
    pub fn new(config: &Config) -> redis::RedisResult<Self> {
        Ok(Self {
            client: crate::redis_client::client(config)?,
            namespace: config.tenant_role_prefix.clone(),
        })
    }

    fn channel(&self, school_id: Uuid) -> String {
        format!("invigilator:{}live:{school_id}", self.namespace)
    }

    /// Tells everyone watching this school; a failure is logged, never passed on.
    pub async fn publish(
        &self,
        redis: &ConnectionManager,
        school_id: Uuid,
        statuses: &[PortfolioStatus],
    ) {
        if statuses.is_empty() {
            return;
        }
        let payload = match serde_json::to_string(statuses) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "live status not serialised");
                return;
            }
        };
        let mut redis = redis.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(self.channel(school_id))
            .arg(payload)
            .query_async(&mut redis)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "live status not published; dashboards catch up on reload");
        }
    }

    /// Where a school's "this person's streams must end" notes go (a leaver's, say).
    fn ended_channel(&self, school_id: Uuid) -> String {
        format!("invigilator:{}live-ended:{school_id}", self.namespace)
    }

    /// Ends every open stream of one staff member in every process (see
    /// [`Self::subscribe_for`]). Best effort, like [`Self::publish`]: a stream that misses it
    /// still has no session behind it, so the browser's reconnect is refused.
    pub async fn end_streams(&self, redis: &ConnectionManager, school_id: Uuid, staff_id: Uuid) {
        let mut redis = redis.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(self.ended_channel(school_id))
            .arg(staff_id.to_string())
            .query_async(&mut redis)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not ask open live-status streams to end");
        }
    }

    /// Every status published for this school from now on, as [`Self::subscribe`], for one
    /// staff member: the stream ends when [`Self::end_streams`] is called for them.
    pub async fn subscribe_for(
        &self,
        school_id: Uuid,
        staff_id: Uuid,
    ) -> redis::RedisResult<impl Stream<Item = Vec<PortfolioStatus>> + Send + use<>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        let statuses = self.channel(school_id);
        let ended = self.ended_channel(school_id);
        pubsub.subscribe(&[&statuses, &ended]).await?;
        let staff = staff_id.to_string();
        Ok(pubsub
            .into_on_message()
            .take_while(move |message| {
                let ends = message.get_channel_name() == ended
                    && message.get_payload::<String>().ok().as_deref() == Some(staff.as_str());
                std::future::ready(!ends)
            })
            .filter_map(move |message| {
                let about_statuses = message.get_channel_name() == statuses;
                async move {
                    if !about_statuses {
                        return None;
                    }
                    let payload: String = message.get_payload().ok()?;
                    match serde_json::from_str(&payload) {
                        Ok(statuses) => Some(statuses),
                        Err(e) => {
                            tracing::warn!(error = %e, "a live status message was not understood");
                            None
                        }
                    }
                }
            }))
    }

    /// Every status published for this school from now on, in batches as published.
    pub async fn subscribe(
        &self,
        school_id: Uuid,
    ) -> redis::RedisResult<impl Stream<Item = Vec<PortfolioStatus>> + Send + use<>> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.channel(school_id)).await?;
        Ok(pubsub.into_on_message().filter_map(|message| async move {
            let payload: String = message.get_payload().ok()?;
            match serde_json::from_str(&payload) {
                Ok(statuses) => Some(statuses),
                Err(e) => {
                    tracing::warn!(error = %e, "a live status message was not understood");
                    None
                }
            }
        }))
    }
}
