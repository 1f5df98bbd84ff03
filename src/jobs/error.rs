//! What can go wrong queueing, sweeping and running background work, with its cause kept.

/// A failure of the job machinery (not of a job's own work, which is recorded where it
/// happened: `sync_runs`, a portfolio's `last_error`, a scan's status).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the job could not be queued")]
    Push(#[from] apalis_core::backend::TaskSinkError<apalis_redis::Error>),
    #[error("the job queue could not be reached")]
    Queue(#[from] apalis_redis::Error),
    #[error("Redis could not be reached")]
    Redis(#[from] redis::RedisError),
    #[error("the database could not be reached")]
    Database(#[from] sqlx::Error),
    #[error("job workers kept stopping for {0} s (is Redis reachable?)")]
    WorkersGaveUp(u64),
    #[error("the job workers stopped")]
    Workers(#[from] apalis_core::monitor::MonitorError),
}
