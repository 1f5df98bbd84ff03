//! Background work: apalis workers on Redis, and the timers that start periodic work.
//!
//! - A **roster sync** job syncs one school's Classroom rosters, then (once the Drive operator
//!   is connected and the Shared Drive set) makes any missing portfolio folders. Jobs are
//!   idempotent: one sync per school runs at a time (a Redis lease), and folders are found by
//!   their `appProperties` before any is made.
//! - The **sync timer** ticks every 30 seconds (a cron schedule) in every `work` process; each
//!   due school is claimed by one guarded `UPDATE` of `platform.tenants.next_sync_at`, so a tick
//!   starts each due sync exactly once however many processes run. Schools start spread over
//!   their interval.
//!
//! - **Onward-share** jobs ([`shares`]) scan a class's folders after it is locked and remove the
//!   grants a School Admin chose to remove, on their own low-priority queue.
//! - The same timer anchors every school's audit chain head outside its schema once a minute
//!   across all processes, and starts each school's daily audit verify ([`crate::audit`]).
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

use crate::lease::Leases;
use crate::roster::{self, SyncError, Trigger};
use crate::services::Services;
use crate::tenancy::SchoolStatus;
use crate::tenancy::registry::find_school_by_id;

mod error;
mod polling;
pub mod restarts;
pub mod shares;
pub mod vacuum;
pub mod windows;

pub use error::JobError;
pub use shares::{ShareJob, ShareQueue, share_queue};
pub use windows::{WindowJob, WindowQueue, window_queue};

/// Restarts further apart than this are separate troubles (see [`restarts`]).
const RESTART_GAP: Duration = Duration::from_secs(5);
/// How long workers may keep failing and restarting before the process gives up.
const RESTART_LIMIT: Duration = Duration::from_secs(120);

/// How often finished jobs are cleared out of Redis.
const VACUUM_EVERY: Duration = Duration::from_secs(600);

/// The tick of the sync timer: every 30 seconds.
pub const SYNC_TIMER: &str = "0/30 * * * * *";

/// Apply a portfolio's latest lock state to Drive (the version is for the logs: the job always
/// applies the latest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyLockJob {
    pub school_id: Uuid,
    pub portfolio_id: Uuid,
    pub version: i64,
}

/// Where lock jobs wait.
pub type LockQueue = RedisStorage<ApplyLockJob>;

/// The lock queue; `namespace` separates deployments sharing one Redis.
pub fn lock_queue(redis: ConnectionManager, namespace: &str) -> LockQueue {
    let config = apalis_redis::Config::default()
        .queue(format!("invigilator:{namespace}jobs:apply-lock"))
        .batch_size(16);
    RedisStorage::new(redis).with_config(config)
}

/// Queues the application of these requests.
pub async fn enqueue_locks(
    queue: &LockQueue,
    school_id: Uuid,
    requested: &[(Uuid, i64)],
) -> Result<(), JobError> {
    let mut queue = queue.clone();
    let jobs: Vec<ApplyLockJob> = requested
        .iter()
        .map(|(portfolio_id, version)| ApplyLockJob {
            school_id,
            portfolio_id: *portfolio_id,
            version: *version,
        })
        .collect();
    Ok(queue.push_bulk(jobs).await?)
}

/// Hands committed lock requests to the workers: queues their jobs and shows their folders as
/// pending on the school's dashboards (each request carries the status its `UPDATE` read back).
/// A queue that cannot be reached is only logged: the requests are recorded, and the sweeper
/// queues them again shortly.
pub async fn hand_over_locks(
    locks: &LockQueue,
    live: &crate::portfolio::live::LiveStatus,
    redis: &ConnectionManager,
    school_id: Uuid,
    requested: &[crate::portfolio::lock::Requested],
) {
    if requested.is_empty() {
        return;
    }
    let jobs: Vec<(Uuid, i64)> = requested
        .iter()
        .map(|r| (r.portfolio_id, r.version))
        .collect();
    if let Err(e) = enqueue_locks(locks, school_id, &jobs).await {
        tracing::warn!(%school_id, error = %e, "could not queue lock jobs; the sweeper will");
    }
    let statuses: Vec<_> = requested.iter().map(|r| r.status.clone()).collect();
    live.publish(redis, school_id, &statuses).await;
}

/// How many lock jobs of one school may run at once in all workers together: enough to keep
/// its Drive quota (every operator account's together) busy — half a second of calls, plus a
/// little — and no more, so that a worker never sits waiting on one school's quota while
/// another school's locks queue behind.
fn school_slots(requests_per_second: f64) -> u32 {
    (requests_per_second * 0.5).ceil() as u32 + 2
}

/// Every queue, as the server and the workers reach them.
#[derive(Clone)]
pub struct Queues {
    pub roster: RosterQueue,
    pub locks: LockQueue,
    pub shares: ShareQueue,
    pub windows: WindowQueue,
}

impl Queues {
    /// The queues of the deployment named by `namespace` (`TENANT_ROLE_PREFIX`).
    pub fn new(redis: &ConnectionManager, namespace: &str) -> Self {
        Self {
            roster: roster_queue(redis.clone(), namespace),
            locks: lock_queue(redis.clone(), namespace),
            shares: share_queue(redis.clone(), namespace),
            windows: window_queue(redis.clone(), namespace),
        }
    }
}

/// Runs one lock job. Never fails the job: the outcome is on the portfolio row and in the audit
/// log, and the sweeper retries what is left behind.
pub async fn run_apply_lock(
    job: ApplyLockJob,
    ctx: Data<Arc<Services>>,
) -> Result<(), BoxDynError> {
    let mut run = crate::metrics::JobRun::start("apply_lock");
    let Some(school) = find_school_by_id(&ctx.db, job.school_id).await? else {
        run.outcome("skipped");
        return Ok(());
    };
    // A suspended or offboarding school's folders wait (the sweeper queues them again if it
    // comes back); a deleted school is not found at all.
    if school.status != SchoolStatus::Active {
        run.outcome("skipped");
        return Ok(());
    }
    // Sized by the school's Drive operator accounts: each brings its own quota.
    let per_second = ctx.google.drive_requests_per_second(&school).await;
    let slots = school_slots(per_second);
    let Some(slot) = ctx
        .leases
        .try_slot(
            &format!("lock-jobs:{}", school.id),
            slots,
            Duration::from_secs(60),
        )
        .await
    else {
        // This school's quota is busy: come back when a round of its calls has gone out.
        let after = Duration::from_secs_f64(f64::from(slots) / per_second.max(0.1) / 2.0);
        let mut queue = ctx.queues.locks.clone();
        let later = TaskBuilder::new(job.clone()).run_after(after).build();
        if let Err(e) = queue.push_task(later).await {
            // The request is recorded; the sweeper queues it again.
            tracing::warn!(error = %e, "could not put a lock job back");
        }
        run.outcome("deferred");
        return Ok(());
    };
    use crate::portfolio::lock::{Applied, LockState};
    let outcome =
        crate::portfolio::lock::apply(&ctx.db, &ctx.google, &ctx.leases, &school, job.portfolio_id)
            .await;
    slot.release().await;
    if let Ok(applied) = &outcome {
        run.outcome(match applied {
            Applied::Done { .. } => "done",
            Applied::AlreadyCurrent => "already_current",
            Applied::Retry(_) => "retry",
            Applied::Deferred(_) => "google_unavailable",
            Applied::Failed(_) => "failed",
            Applied::Busy => "busy",
        });
    }
    match outcome {
        Ok(Applied::Deferred(wait)) => {
            // Back when Google's circuit lets a call through again, spread over a second so a
            // cohort does not arrive all at once; the sweeper is the backstop if this is lost.
            let after = wait + Duration::from_millis(fastrand::u64(0..1000));
            let mut queue = ctx.queues.locks.clone();
            let later = TaskBuilder::new(job.clone()).run_after(after).build();
            if let Err(e) = queue.push_task(later).await {
                tracing::warn!(error = %e, "could not put a waiting lock job back");
            }
        }
        Ok(outcome) => {
            tracing::debug!(portfolio = %job.portfolio_id, ?outcome, "lock job done");
            if matches!(outcome, Applied::Done { .. } | Applied::Failed(_)) {
                // The last lock of a locked class starts its onward-share scan.
                let may_start_scan = !matches!(
                    outcome,
                    Applied::Done {
                        state: LockState::Unlocked,
                        ..
                    }
                );
                publish_outcome(&ctx, &school, job.portfolio_id, may_start_scan).await;
            }
        }
        Err(e) => tracing::error!(portfolio = %job.portfolio_id, error = %e, "lock job failed"),
    }
    Ok(())
}

/// After a lock is applied or given up: publishes the portfolio's new status to the school's
/// dashboards and, if asked, starts the onward-share scans its class now allows, all read in
/// one transaction (best effort: the sweeper starts any scan missed).
async fn publish_outcome(
    ctx: &Services,
    school: &crate::tenancy::School,
    portfolio_id: Uuid,
    may_start_scan: bool,
) {
    let read = async {
        let mut tx = crate::tenancy::begin_school_tx(&ctx.db, school).await?;
        let statuses = crate::portfolio::live::statuses(&mut tx, &[portfolio_id]).await?;
        let scans = if may_start_scan {
            crate::portfolio::scan_queue::ready(&mut tx, Some(portfolio_id)).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok::<_, sqlx::Error>((statuses, scans))
    }
    .await;
    match read {
        Ok((statuses, scans)) => {
            ctx.live.publish(&ctx.redis, school.id, &statuses).await;
            if !scans.is_empty() {
                shares::queue_scans(&ctx.queues.shares, school.id, &scans).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "live status or scans not read"),
    }
}

/// Re-queues every school's portfolios whose applied version has lagged for more than
/// `older_than` (a lost queue, a killed worker), and its onward-share work left behind. Only
/// one process sweeps per tick (a lease).
pub async fn sweep(
    db: &PgPool,
    leases: &Leases,
    queues: &Queues,
    older_than: Duration,
) -> Result<usize, JobError> {
    let Ok(held) = leases
        .acquire("lock-sweeper", Duration::from_secs(25), Duration::ZERO)
        .await
    else {
        return Ok(0);
    };
    let mut queued = 0;
    let schools = crate::tenancy::list_schools(db).await?;
    for school in schools
        .into_iter()
        .filter(|s| s.status == SchoolStatus::Active)
    {
        // One school's trouble never stops the others' sweep, and locks go first.
        match sweep_locks(db, &queues.locks, &school, older_than).await {
            Ok(n) => {
                crate::metrics::sweeper_requeued("lock", n);
                queued += n
            }
            Err(e) => tracing::error!(school = %school.slug, error = %e, "lock sweep failed"),
        }
        match shares::sweep_school(db, &queues.shares, &school, older_than).await {
            Ok(n) => {
                crate::metrics::sweeper_requeued("onward_share", n);
                queued += n
            }
            Err(e) => {
                tracing::error!(school = %school.slug, error = %e, "onward-share sweep failed")
            }
        }
    }
    held.release().await;
    Ok(queued)
}

/// Re-queues one school's lock requests that have lagged for more than `older_than`.
async fn sweep_locks(
    db: &PgPool,
    queue: &LockQueue,
    school: &crate::tenancy::School,
    older_than: Duration,
) -> Result<usize, JobError> {
    let lagging = crate::portfolio::lock::lagging(db, school, older_than).await?;
    if lagging.is_empty() {
        return Ok(0);
    }
    tracing::info!(school = %school.slug, count = lagging.len(), "re-queueing lagging lock requests");
    let pairs: Vec<(Uuid, i64)> = lagging.iter().map(|id| (*id, 0)).collect();
    enqueue_locks(queue, school.id, &pairs).await?;
    Ok(lagging.len())
}

/// Sync one school's rosters (and then its folders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterSyncJob {
    pub school_id: Uuid,
    pub trigger: Trigger,
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
) -> Result<(), JobError> {
    let mut queue = queue.clone();
    Ok(queue.push(RosterSyncJob { school_id, trigger }).await?)
}

/// Runs one roster-sync job: the sync, then the folders. Never fails the job (see the module
/// documentation); everything is logged and recorded.
pub async fn run_roster_sync(
    job: RosterSyncJob,
    ctx: Data<Arc<Services>>,
) -> Result<(), BoxDynError> {
    let mut run = crate::metrics::JobRun::start("roster_sync");
    let Some(school) = find_school_by_id(&ctx.db, job.school_id).await? else {
        run.outcome("skipped");
        return Ok(());
    };
    if school.status != SchoolStatus::Active {
        run.outcome("skipped");
        return Ok(());
    }
    match roster::sync_school(&ctx.db, &ctx.google, &ctx.leases, &school, job.trigger).await {
        Ok(report) => {
            tracing::info!(school = %school.slug, rows = report.rows_written(), "roster synced");
            // Leavers stop being used at once: sessions, streams, then their grants at Google.
            crate::privacy::leavers::StopUsing::from_services(&ctx)
                .follow_up(&school, &report.leavers)
                .await;
        }
        Err(SyncError::AlreadyRunning) => {
            tracing::info!(school = %school.slug, "a sync of this school is already running");
            run.outcome("already_running");
            return Ok(());
        }
        Err(e) => {
            tracing::error!(school = %school.slug, error = %e, "roster sync failed");
            run.outcome("failed");
            return Ok(());
        }
    }
    // The roster is in; folders that could not be made are retried at the next sync.
    run.outcome("done");
    let drive_id = match crate::portfolio::shared_drive::verified_drive(
        &ctx.db,
        &ctx.redis,
        &ctx.namespace,
        &ctx.google,
        &school,
    )
    .await
    {
        Ok(drive) => drive,
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

/// Makes a claimed sync due again (its job could not be queued).
async fn unclaim_sync(db: &PgPool, school: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE platform.tenants SET next_sync_at = now() WHERE id = $1")
        .bind(school)
        .execute(db)
        .await
        .map(drop)
}

/// The timer: on every tick of [`SYNC_TIMER`], enqueue the due school syncs, sweep lagging
/// lock requests, and catch up on assessment windows. Runs until `shutdown` completes.
pub async fn run_sync_timer(ctx: Arc<Services>, shutdown: impl std::future::Future<Output = ()>) {
    let (db, redis, leases, queues) = (&ctx.db, &ctx.redis, &ctx.leases, &ctx.queues);
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
        // Windows first: a start that a lost job missed is the most urgent thing here.
        if let Err(e) = windows::tick(&ctx).await {
            tracing::error!(error = %e, "the window timer failed");
        }
        match claim_due_syncs(db).await {
            Ok(due) => {
                for school in due {
                    if let Err(e) = enqueue_sync(&queues.roster, school, Trigger::Timer).await {
                        tracing::error!(%school, error = %e, "could not enqueue a timed sync");
                        // Claimed but not queued: due again on the next tick, not an interval later.
                        if let Err(e) = unclaim_sync(db, school).await {
                            tracing::error!(%school, error = %e, "could not release a claimed sync");
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not claim due syncs"),
        }
        match sweep(db, leases, queues, ctx.lock_sweep_after).await {
            Ok(queued) => tracing::debug!(queued, "lock sweep done"),
            Err(e) => tracing::error!(error = %e, "the lock sweeper failed"),
        }
        // Leavers' grants Google did not take at once, and today's retention runs (each
        // school's claimed once a day in the database, whichever process gets there first).
        privacy_tick(&ctx).await;
        audit_tick(&ctx).await;
        // Once per VACUUM_EVERY in all processes: the lock is never released, it expires.
        if let Ok(_once) = leases
            .acquire("job-vacuum", VACUUM_EVERY, Duration::ZERO)
            .await
        {
            match vacuum::vacuum(queues, redis, vacuum::KEEP_FINISHED).await {
                Ok(removed) => tracing::info!(removed, "finished jobs removed from Redis"),
                Err(e) => tracing::warn!(error = %e, "could not remove finished jobs"),
            }
        }
    }
}

/// The data-protection timers: retries of leavers' grant revocations (one process a minute, a
/// lease), and the daily retention run of every school due one (in the background: a large
/// school's run must not hold up the next tick).
async fn privacy_tick(ctx: &Arc<Services>) {
    // Once per REVOCATION_SWEEP_EVERY in all processes (the lease is left to expire, as the
    // vacuum's is): the sweep opens a transaction in every school, and the retries it looks for
    // are due a minute apart at the soonest, so every tick would only repeat it for nothing.
    if ctx
        .leases
        .acquire("leaver-revocations", REVOCATION_SWEEP_EVERY, Duration::ZERO)
        .await
        .is_ok()
    {
        match crate::tenancy::list_schools(&ctx.db).await {
            Ok(schools) => {
                for school in schools.iter().filter(|s| s.status == SchoolStatus::Active) {
                    if let Err(e) =
                        crate::privacy::leavers::revoke_pending(&ctx.db, &ctx.google, school).await
                    {
                        tracing::error!(school = %school.slug, error = %e, "leavers' grants not revoked");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not list schools for leavers' grants"),
        }
    }
    let db = ctx.db.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::privacy::retention::run_due(&db).await {
            tracing::error!(error = %e, "the retention timer failed");
        }
    });
}

/// The audit log's timers: every school's chain head anchored outside its schema once a minute
/// in all processes (a lease left to expire, as the vacuum's), and every school's daily verify
/// (each school's day claimed once in the database; in the background, as a whole chain of a
/// large school takes a while).
async fn audit_tick(ctx: &Arc<Services>) {
    if ctx
        .leases
        .acquire("audit-anchors", AUDIT_ANCHOR_EVERY, Duration::ZERO)
        .await
        .is_ok()
    {
        match crate::audit::anchor::anchor_all(&ctx.db).await {
            Ok(moved) => tracing::debug!(moved, "audit chains anchored"),
            Err(e) => {
                tracing::error!(error = %e, "could not list schools to anchor their audit chains")
            }
        }
    }
    let db = ctx.db.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::audit::daily::verify_due(&db).await {
            tracing::error!(error = %e, "the scheduled audit verify failed");
        }
    });
}

/// How long the anchoring lease lasts: a little under a minute, so that the tick a minute
/// later (every process ticks on the same 30-second marks) finds it gone and anchors again,
/// and the tick half a minute later does not.
const AUDIT_ANCHOR_EVERY: Duration = Duration::from_secs(55);

/// How often, at most, any process sweeps every school for leavers' grants whose revocation at
/// Google is due again (the first retry is a minute after the refusal).
const REVOCATION_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often an idle lock worker asks Redis for work. apalis-redis wakes an idle worker only
/// on its heartbeat (30 s) otherwise, far too late for a teacher waiting on a lock; one small
/// script call per interval per process is cheap for Redis.
const LOCK_POLL: Duration = Duration::from_millis(25);
/// Roster syncs are minutes apart; a second's wait is unnoticeable.
const ROSTER_POLL: Duration = Duration::from_secs(1);
/// Onward-share work is background work; half a second keeps a School Admin's removal prompt.
const SHARE_POLL: Duration = Duration::from_millis(500);
/// A window's start must be on time to within a second: its job is promoted and picked up by
/// the next poll after its second begins.
const WINDOW_POLL: Duration = Duration::from_millis(100);

/// Runs the workers and the timer until `shutdown` completes, then lets jobs in flight finish
/// (up to 8 seconds).
pub async fn run_workers(
    ctx: Services,
    concurrency: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), JobError> {
    let queues = ctx.queues.clone();
    let (stop_timer, timer_stopped) = tokio::sync::oneshot::channel::<()>();
    let ctx = Arc::new(ctx);
    let timer = tokio::spawn(run_sync_timer(ctx.clone(), async {
        let _ = timer_stopped.await;
    }));
    // A unique name per process: apalis keeps a worker's registration after it stops.
    let process = Uuid::new_v4().simple().to_string();
    let lock_ctx = ctx.clone();
    let lock_process = process.clone();
    let share_ctx = ctx.clone();
    let share_process = process.clone();
    let window_ctx = ctx.clone();
    let window_process = process.clone();
    let window_queue = queues.windows.clone();
    let budget = restarts::RestartStreak::new(RESTART_GAP, RESTART_LIMIT);
    let (give_up, gave_up) = tokio::sync::watch::channel(false);
    let mut gave_up_signal = gave_up.clone();
    let roster_queue = queues.roster.clone();
    let lock_queue = queues.locks.clone();
    let share_queue = queues.shares.clone();
    let monitor = Monitor::new()
        .register(move |run| {
            WorkerBuilder::new(format!("roster-sync-{process}-{run}"))
                .backend(
                    roster_queue
                        .clone()
                        .poll_with_strategy(polling::EveryInterval::new(ROSTER_POLL)),
                )
                .data(ctx.clone())
                .concurrency(concurrency.max(1))
                .build(run_roster_sync)
        })
        .register(move |run| {
            // Lock jobs are short Drive calls: more of them at once, within the school's quota.
            WorkerBuilder::new(format!("apply-lock-{lock_process}-{run}"))
                .backend(
                    lock_queue
                        .clone()
                        .poll_with_strategy(polling::EveryInterval::new(LOCK_POLL)),
                )
                .data(lock_ctx.clone())
                .concurrency((concurrency * 4).max(1))
                .build(run_apply_lock)
        })
        .register(move |run| {
            // One at a time per process: scans yield to locks and share the school's quota.
            WorkerBuilder::new(format!("onward-shares-{share_process}-{run}"))
                .backend(
                    share_queue
                        .clone()
                        .poll_with_strategy(polling::EveryInterval::new(SHARE_POLL)),
                )
                .data(share_ctx.clone())
                .concurrency(1)
                .build(shares::run_share_job)
        })
        .register(move |run| {
            // A window's instant may not wait for a busy worker: two at once, polled often.
            WorkerBuilder::new(format!("assessment-windows-{window_process}-{run}"))
                .backend(
                    window_queue
                        .clone()
                        .poll_with_strategy(polling::EveryInterval::new(WINDOW_POLL)),
                )
                .data(window_ctx.clone())
                .concurrency(2)
                .build(windows::run_window_job)
        })
        // A lost Redis (restart, FLUSHALL) stops a worker: start it again, unless it has
        // kept failing for minutes.
        .should_restart(move |_, error| {
            if budget.allow() {
                tracing::warn!(?error, "job worker stopped; restarting");
                return true;
            }
            tracing::error!(
                ?error,
                "job workers have kept stopping for {} s; stopping this process",
                RESTART_LIMIT.as_secs()
            );
            let _ = give_up.send(true);
            false
        })
        // Cloud Run allows 10 s between SIGTERM and SIGKILL; what is cut off is re-run by the
        // sweeper, and every job is safe to run twice.
        .shutdown_timeout(Duration::from_secs(8));
    let result = monitor
        .run_with_signal(async move {
            tokio::select! {
                () = shutdown => {}
                _ = gave_up_signal.changed() => {}
            }
            Ok(())
        })
        .await;
    let _ = stop_timer.send(());
    let _ = timer.await;
    if *gave_up.borrow() {
        return Err(JobError::WorkersGaveUp(RESTART_LIMIT.as_secs()));
    }
    Ok(result?)
}
