//! Onward-share work, on its own low-priority queue so it never sits in front of a lock: the
//! scan of a class after it is locked, and the removals a School Admin asks for.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::JobError;
use crate::portfolio::share_findings::{self, Removal};
use crate::portfolio::share_scan::{self, ScanOutcome};
use crate::services::Services;
use crate::tenancy::registry::find_school_by_id;
use crate::tenancy::{School, SchoolStatus, begin_school_tx, settings};

/// One piece of onward-share work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShareJob {
    /// Run a queued scan.
    Scan { school_id: Uuid, scan_id: i64 },
    /// Delete the grant of a finding marked for removal.
    Remove { school_id: Uuid, finding_id: Uuid },
}

/// Where onward-share jobs wait.
pub type ShareQueue = RedisStorage<ShareJob>;

/// The onward-share queue; `namespace` separates deployments sharing one Redis.
pub fn share_queue(redis: ConnectionManager, namespace: &str) -> ShareQueue {
    let config = apalis_redis::Config::default()
        .queue(format!("invigilator:{namespace}jobs:onward-shares"))
        .batch_size(2);
    RedisStorage::new(redis).with_config(config)
}

/// Queues these jobs. The work is recorded in the database first, so a failure here only
/// delays it until the sweeper's next tick.
pub async fn enqueue(queue: &ShareQueue, jobs: Vec<ShareJob>) -> Result<(), JobError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut queue = queue.clone();
    Ok(queue.push_bulk(jobs).await?)
}

/// Queues these scans (best effort: the sweeper finds any missed).
pub async fn queue_scans(queue: &ShareQueue, school_id: Uuid, scans: &[i64]) {
    if let Err(e) = enqueue(queue, scan_jobs(school_id, scans)).await {
        tracing::warn!(error = %e, "could not queue share scans; the sweeper will");
    }
}

fn scan_jobs(school_id: Uuid, scans: &[i64]) -> Vec<ShareJob> {
    scans
        .iter()
        .map(|&scan_id| ShareJob::Scan { school_id, scan_id })
        .collect()
}

/// Runs one onward-share job. Never fails the job: the outcome is on the scan or finding row,
/// and the sweeper queues again what is left.
pub async fn run_share_job(job: ShareJob, ctx: Data<Arc<Services>>) -> Result<(), BoxDynError> {
    let mut run = crate::metrics::JobRun::start("onward_share");
    let school_id = match &job {
        ShareJob::Scan { school_id, .. } | ShareJob::Remove { school_id, .. } => *school_id,
    };
    let Some(school) = find_school_by_id(&ctx.db, school_id).await? else {
        run.outcome("skipped");
        return Ok(());
    };
    if school.status != SchoolStatus::Active {
        run.outcome("skipped");
        return Ok(());
    }
    // Each branch below logs its own result; the count says only that the job ran.
    run.outcome("done");
    match job {
        ShareJob::Scan { scan_id, .. } => {
            let drive_id = match settings::load(&ctx.db, &ctx.redis, &ctx.namespace, school.id)
                .await
            {
                Ok(s) => s.shared_drive_id,
                Err(e) => {
                    tracing::warn!(school = %school.slug, error = %e, "settings unreadable; scan left for the sweeper");
                    return Ok(());
                }
            };
            let Some(drive_id) = drive_id else {
                let reason = "the school has no Shared Drive set";
                if let Err(e) = share_scan::fail_queued(&ctx.db, &school, scan_id, reason).await {
                    tracing::error!(school = %school.slug, scan_id, error = %e, "could not record a failed scan");
                }
                return Ok(());
            };
            match share_scan::run(&ctx.db, &ctx.google, &school, &drive_id, scan_id).await {
                Ok(ScanOutcome::Done {
                    items,
                    api_calls,
                    new_findings,
                }) => {
                    tracing::info!(school = %school.slug, scan_id, items, api_calls, new_findings, "share scan done")
                }
                Ok(outcome) => {
                    tracing::info!(school = %school.slug, scan_id, ?outcome, "share scan not done")
                }
                Err(e) => {
                    tracing::error!(school = %school.slug, scan_id, error = %e, "share scan failed")
                }
            }
        }
        ShareJob::Remove { finding_id, .. } => {
            match share_findings::remove(&ctx.db, &ctx.google, &school, finding_id).await {
                Ok(Removal::Removed) => {
                    tracing::info!(school = %school.slug, %finding_id, "grant removed")
                }
                Ok(outcome) => {
                    tracing::info!(school = %school.slug, %finding_id, ?outcome, "grant not removed")
                }
                Err(e) => {
                    tracing::error!(school = %school.slug, %finding_id, error = %e, "removal failed")
                }
            }
        }
    }
    Ok(())
}

/// One school's part of the sweep: scans whose class has settled, scans and removals left
/// behind for longer than `older_than`. Returns how many jobs were queued.
pub async fn sweep_school(
    db: &PgPool,
    queue: &ShareQueue,
    school: &School,
    older_than: Duration,
) -> Result<usize, JobError> {
    let mut tx = begin_school_tx(db, school).await?;
    let mut scans = crate::portfolio::scan_queue::ready(&mut tx, None).await?;
    tx.commit().await?;
    scans.extend(share_scan::stalled(db, school, older_than).await?);
    let removals = share_findings::stalled_removals(db, school, older_than).await?;
    let mut jobs = scan_jobs(school.id, &scans);
    jobs.extend(removals.into_iter().map(|finding_id| ShareJob::Remove {
        school_id: school.id,
        finding_id,
    }));
    let queued = jobs.len();
    enqueue(queue, jobs).await?;
    Ok(queued)
}
