//! Windows on time: a job at each window's start and end instant, and the timer's catch-up.
//!
//! Saving a window queues two delayed jobs (apalis-redis keeps them by the second); the job
//! runs at the second its instant falls in, waits out the rest by the database's clock, and
//! makes the guarded transition. A job for an instant that has moved (an edit) finds the
//! window not due and does nothing; the edit queued jobs of its own. Redis keeps nothing on
//! disk, so a job can be lost: the timer's tick ([`tick`]) makes every transition that is due
//! and holds every folder a window should hold, so the worst a lost job costs is one tick.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JobError;
use crate::services::Services;
use crate::tenancy::registry::find_school_by_id;
use crate::tenancy::{School, SchoolStatus};
use crate::windows::coverage::Requests;
use crate::windows::transitions::{self, Transition};

/// A window's start or end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowJob {
    pub school_id: Uuid,
    pub window_id: Uuid,
    pub transition: Transition,
}

/// Where window jobs wait for their instant.
pub type WindowQueue = RedisStorage<WindowJob>;

/// The window queue; `namespace` separates deployments sharing one Redis.
pub fn window_queue(redis: ConnectionManager, namespace: &str) -> WindowQueue {
    let config = apalis_redis::Config::default()
        .queue(format!("invigilator:{namespace}jobs:assessment-windows"))
        .batch_size(8);
    RedisStorage::new(redis).with_config(config)
}

/// A job that runs this much before its instant sleeps the rest; one further off is put back.
const LONGEST_SLEEP: Duration = Duration::from_secs(5);

/// Queues the start and end jobs of a window (after it is saved or its times change).
pub async fn schedule(
    queue: &WindowQueue,
    school_id: Uuid,
    window: &crate::windows::Window,
) -> Result<(), JobError> {
    let mut queue = queue.clone();
    for (transition, at) in [
        (Transition::Start, window.starts_at),
        (Transition::End, window.ends_at),
    ] {
        let job = WindowJob {
            school_id,
            window_id: window.id,
            transition,
        };
        push_at(&mut queue, job, at).await?;
    }
    Ok(())
}

async fn push_at(
    queue: &mut WindowQueue,
    job: WindowJob,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), JobError> {
    // apalis-redis schedules by whole seconds: the job runs at the start of the second its
    // instant falls in, and waits out the fraction.
    let second = u64::try_from(at.timestamp()).unwrap_or(0);
    let task = TaskBuilder::new(job).run_at_timestamp(second).build();
    queue.push_task(task).await?;
    Ok(())
}

/// Queues the lock jobs of committed window requests and shows the folders as pending on the
/// school's dashboards.
pub async fn hand_over(ctx: &Services, school: &School, requests: Requests) {
    super::hand_over_locks(
        &ctx.queues.locks,
        &ctx.live,
        &ctx.redis,
        school.id,
        &requests.to_apply,
    )
    .await;
}

/// Runs one window job. Never fails the job: a transition not made here is made by the tick.
pub async fn run_window_job(job: WindowJob, ctx: Data<Arc<Services>>) -> Result<(), BoxDynError> {
    let mut run = crate::metrics::JobRun::start("assessment_window");
    run.outcome("skipped");
    let Some(school) = find_school_by_id(&ctx.db, job.school_id).await? else {
        return Ok(());
    };
    if school.status != SchoolStatus::Active {
        return Ok(());
    }
    run.outcome("error");
    let Some(wait) = transitions::wait_for(&ctx.db, &school, job.window_id, job.transition).await?
    else {
        run.outcome("skipped");
        return Ok(()); // cancelled, edited into another state, or done by someone else
    };
    if let Ok(wait) = wait.to_std() {
        if wait > LONGEST_SLEEP {
            // The window's instant moved later: its own job is queued; this one is spent.
            run.outcome("skipped");
            return Ok(());
        }
        tokio::time::sleep(wait).await;
    }
    let result = match job.transition {
        Transition::Start => transitions::start(&ctx.db, &school, job.window_id, |r| {
            hand_over(&ctx, &school, r)
        })
        .await
        .map(|s| s.map(|s| s.delay)),
        Transition::End => match transitions::end(&ctx.db, &school, job.window_id).await {
            Ok(Some(e)) => {
                let delay = e.delay;
                hand_over(&ctx, &school, e.requests).await;
                Ok(Some(delay))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        },
    };
    run.outcome(match &result {
        Ok(Some(_)) => "done",
        Ok(None) => "skipped",
        Err(_) => "failed",
    });
    match result {
        Ok(Some(delay)) => tracing::info!(
            school = %school.slug,
            window = %job.window_id,
            transition = ?job.transition,
            delay_ms = delay.num_milliseconds(),
            "window transition made at its instant"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(school = %school.slug, window = %job.window_id, error = %e,
            "window transition failed; the timer will try again"),
    }
    Ok(())
}

/// The timer's safety net, in one process per tick: every school's due transitions and
/// unheld folders.
pub async fn tick(ctx: &Services) -> Result<(), JobError> {
    let Ok(held) = ctx
        .leases
        .acquire("window-tick", Duration::from_secs(25), Duration::ZERO)
        .await
    else {
        return Ok(());
    };
    let schools = crate::tenancy::list_schools(&ctx.db).await?;
    for school in schools
        .into_iter()
        .filter(|s| s.status == SchoolStatus::Active)
    {
        let result = transitions::catch_up(&ctx.db, &school, |r| {
            let school = school.clone();
            async move { hand_over(ctx, &school, r).await }
        })
        .await;
        if let Err(e) = result {
            // One school's trouble never stops the others'.
            tracing::error!(school = %school.slug, error = %e, "window catch-up failed");
        }
    }
    held.release().await;
    Ok(())
}
