//! Background work: apalis workers on Redis, and the timers that start periodic work.
//!
//! - A **roster sync** job syncs one school's Classroom rosters, then (once the Drive operator
//!   is connected and the Shared Drive set) makes any missing portfolio folders. Jobs are
//!   idempotent: one sync per school runs at a time (a Redis lock), and folders are found by
//!   their `appProperties` before any is made.
//! - The **sync timer** ticks every 30 seconds (a cron schedule) in every `work` process; each
//!   due school is claimed by one guarded `UPDATE` of `platform.tenants.next_sync_at`, so a tick
//!   starts each due sync exactly once however many processes run. Schools start spread over
//!   their interval.
//!
//! apalis-redis retries a failing job on its own (25 times, whatever is configured), so handlers
//! never fail a job: what went wrong is recorded (`sync_runs`) and the next timer tick tries again.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use chrono::Utc;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::distributed_lock::Locks;
use crate::google::GoogleClients;
use crate::roster::{self, SyncError, Trigger};
use crate::tenancy::registry::find_school_by_id;
use crate::tenancy::{SchoolStatus, settings};

/// The tick of the sync timer: every 30 seconds.
pub const SYNC_TIMER: &str = "0/30 * * * * *";

/// Sync one school's rosters (and then its folders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterSyncJob {
    pub school_id: Uuid,
    pub trigger: Trigger,
}

/// What every job handler can reach.
#[derive(Clone)]
pub struct JobContext {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub google: GoogleClients,
    pub locks: Locks,
}

/// Where roster-sync jobs wait.
pub type RosterQueue = RedisStorage<RosterSyncJob>;

/// The roster-sync queue; `namespace` separates deployments sharing one Redis.
pub fn roster_queue(redis: ConnectionManager, namespace: &str) -> RosterQueue {
    let config = apalis_redis::Config::default()
        .queue(format!("invigilator:{namespace}jobs:roster-sync"))
        .batch_size(4);
    RedisStorage::new(redis).with_config(config)
}

/// Asks for a sync of `school_id`.
pub async fn enqueue_sync(
    queue: &RosterQueue,
    school_id: Uuid,
    trigger: Trigger,
) -> Result<(), String> {
    let mut queue = queue.clone();
    queue
        .push(RosterSyncJob { school_id, trigger })
        .await
        .map_err(|e| e.to_string())
}

/// Runs one roster-sync job: the sync, then the folders. Never fails the job (see the module
/// documentation); everything is logged and recorded.
pub async fn run_roster_sync(
    job: RosterSyncJob,
    ctx: Data<Arc<JobContext>>,
) -> Result<(), BoxDynError> {
    let Some(school) = find_school_by_id(&ctx.db, job.school_id).await? else {
        return Ok(());
    };
    if school.status != SchoolStatus::Active {
        return Ok(());
    }
    match roster::sync_school(&ctx.db, &ctx.google, &ctx.locks, &school, job.trigger).await {
        Ok(report) => {
            tracing::info!(school = %school.slug, rows = report.rows_written(), "roster synced")
        }
        Err(SyncError::AlreadyRunning) => {
            tracing::info!(school = %school.slug, "a sync of this school is already running");
            return Ok(());
        }
        Err(e) => {
            tracing::error!(school = %school.slug, error = %e, "roster sync failed");
            return Ok(());
        }
    }
    let drive_id = match settings::load(&ctx.db, &ctx.redis, school.id).await {
        Ok(s) => s.shared_drive_id,
        Err(e) => {
            tracing::error!(school = %school.slug, error = %e, "settings unreadable");
            return Ok(());
        }
    };
    if let Some(drive_id) = drive_id {
        match crate::portfolio::provision(&ctx.db, &ctx.google, &school, &drive_id).await {
            Ok(report) => tracing::info!(
                school = %school.slug,
                folders = report.portfolio_folders,
                errors = report.errors.len(),
                "portfolio folders checked"
            ),
            Err(e) => {
                tracing::warn!(school = %school.slug, error = %e, "portfolio folders not provisioned")
            }
        }
    }
    Ok(())
}

/// Claims the schools whose timed sync is due, moving each one's next time on by its interval.
/// The `WHERE next_sync_at <= now()` makes each claim happen in exactly one process.
pub async fn claim_due_syncs(db: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE platform.tenants \
         SET next_sync_at = now() + make_interval(mins => sync_interval_minutes) \
         WHERE status = 'active' AND next_sync_at <= now() \
         RETURNING id",
    )
    .fetch_all(db)
    .await
}

/// The sync timer: on every tick of [`SYNC_TIMER`], enqueue the due schools. Runs until
/// `shutdown` completes.
pub async fn run_sync_timer(
    db: PgPool,
    queue: RosterQueue,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let schedule = match cron::Schedule::from_str(SYNC_TIMER) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the sync timer's schedule is invalid");
            return;
        }
    };
    tokio::pin!(shutdown);
    loop {
        let wait = schedule
            .upcoming(Utc)
            .next()
            .and_then(|next| (next - Utc::now()).to_std().ok())
            .unwrap_or(Duration::from_secs(30));
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        match claim_due_syncs(&db).await {
            Ok(due) => {
                for school in due {
                    if let Err(e) = enqueue_sync(&queue, school, Trigger::Timer).await {
                        tracing::error!(%school, error = %e, "could not enqueue a timed sync");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not claim due syncs"),
        }
    }
}

/// Runs the workers and the timer until `shutdown` completes, then lets jobs in flight finish
/// (up to 30 seconds).
pub async fn run_workers(
    ctx: JobContext,
    queue: RosterQueue,
    concurrency: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (stop_timer, timer_stopped) = tokio::sync::oneshot::channel::<()>();
    let timer = tokio::spawn(run_sync_timer(ctx.db.clone(), queue.clone(), async {
        let _ = timer_stopped.await;
    }));
    let ctx = Arc::new(ctx);
    // A unique name per process: apalis keeps a worker's registration after it stops.
    let process = Uuid::new_v4().simple().to_string();
    let monitor = Monitor::new()
        .register(move |run| {
            WorkerBuilder::new(format!("roster-sync-{process}-{run}"))
                .backend(queue.clone())
                .data(ctx.clone())
                .concurrency(concurrency.max(1))
                .build(run_roster_sync)
        })
        // A lost Redis (restart, FLUSHALL) stops a worker: start it again, forever.
        .should_restart(|_, error| {
            tracing::warn!(?error, "job worker stopped; restarting");
            true
        })
        .shutdown_timeout(Duration::from_secs(30));
    let result = monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await;
    let _ = stop_timer.send(());
    let _ = timer.await;
    result.map_err(|e| e.to_string())
}
