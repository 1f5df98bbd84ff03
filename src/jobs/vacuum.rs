//! Finished jobs out of Redis. apalis-redis keeps every finished job's arguments and metadata
//! for ever, and on a Redis that keeps nothing on disk that is memory only: a year group's
//! cohort alone leaves 1,200. Jobs that finished (done, or given up) more than an hour ago are
//! removed by apalis's own vacuum; their ids, which it leaves in the done and dead sets, are then
//! removed too.

use std::time::Duration;

use apalis_core::backend::Vacuum;
use apalis_redis::RedisStorage;
use redis::Script;
use redis::aio::ConnectionManager;

use super::{JobError, Queues};

/// How long a finished job stays in Redis (to be looked at when something went wrong).
pub const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// Removes from the sets in `KEYS[2..]` every job id whose data (`KEYS[1]`) is gone.
const TRIM_SETS: &str = r"
local removed = 0
for i = 2, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if redis.call('HEXISTS', KEYS[1], id) == 0 then
      redis.call('SREM', KEYS[i], id)
      removed = removed + 1
    end
  end
end
return removed
";

/// Built once per process.
static TRIM_SETS_SCRIPT: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(TRIM_SETS));

/// Removes jobs of every queue that finished more than `older_than` ago; returns how many.
pub async fn vacuum(
    queues: &Queues,
    redis: &ConnectionManager,
    older_than: Duration,
) -> Result<usize, JobError> {
    Ok(
        vacuum_queue(queues.roster.clone(), redis, older_than).await?
            + vacuum_queue(queues.locks.clone(), redis, older_than).await?
            + vacuum_queue(queues.shares.clone(), redis, older_than).await?
            + vacuum_queue(queues.windows.clone(), redis, older_than).await?,
    )
}

async fn vacuum_queue<Args>(
    mut queue: RedisStorage<Args>,
    redis: &ConnectionManager,
    older_than: Duration,
) -> Result<usize, JobError>
where
    RedisStorage<Args>: Vacuum + apalis_core::backend::Backend<Error = apalis_redis::Error>,
{
    let config = queue.get_config().clone();
    let removed = queue.vacuum_before(older_than).await?;
    let mut conn = redis.clone();
    let _: i64 = TRIM_SETS_SCRIPT
        .key(config.job_data_hash())
        .key(config.done_jobs_set())
        .key(config.dead_jobs_set())
        .invoke_async(&mut conn)
        .await?;
    Ok(removed)
}
