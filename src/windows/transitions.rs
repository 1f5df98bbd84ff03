//! Starting and ending windows, each exactly once.
//!
//! A transition is one guarded `UPDATE … WHERE state = 'scheduled' AND starts_at <= now()`: of
//! any number of workers trying at once (the job at the instant in one, the timer's tick in
//! another), one changes the row and the rest change nothing and stop. The audit entry of the
//! transition records how late it was, so a start made after every worker was down says so.
//!
//! A start commits the change first and then locks class by class, each class in its own
//! transaction with its jobs queued at once, so the first folders lock within moments of the
//! instant rather than after the whole cohort is recorded; if a worker dies part-way, the
//! timer's next tick holds the rest ([`super::coverage::hold`]). An end changes the state and
//! asks for every unlock in one transaction: it is never left half done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::coverage::{self, Requests, window_actor};
use super::{WindowError, WindowState};
use crate::audit::{self, Action, Actor, Target};
use crate::portfolio::scan_queue::{self, ScanReason};
use crate::tenancy::{School, SchoolTx, begin_school_tx};

/// A window's two moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Start,
    End,
}

/// The timer's actor for transitions (the locks themselves are the scheduling officer's).
const TIMER: Actor = Actor::System("window-timer");

/// The windows of a school whose start or end has come.
pub async fn due(pool: &PgPool, school: &School) -> Result<Vec<(Uuid, Transition)>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let rows: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, true FROM assessment_windows WHERE state = 'scheduled' AND starts_at <= now() \
         UNION ALL \
         SELECT id, false FROM assessment_windows WHERE state = 'active' AND ends_at <= now()",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(id, start)| {
            let t = if start {
                Transition::Start
            } else {
                Transition::End
            };
            (id, t)
        })
        .collect())
}

/// How long until a window's `transition` is due (zero or negative: now), by the database's
/// clock, which the guard uses; `None` when the window is no longer waiting for it.
pub async fn wait_for(
    pool: &PgPool,
    school: &School,
    window: Uuid,
    transition: Transition,
) -> Result<Option<chrono::Duration>, sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let (state, at): (WindowState, &str) = match transition {
        Transition::Start => (WindowState::Scheduled, "starts_at"),
        Transition::End => (WindowState::Active, "ends_at"),
    };
    let micros: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT (EXTRACT(EPOCH FROM ({at} - clock_timestamp())) * 1000000)::bigint \
         FROM assessment_windows WHERE id = $1 AND state = $2"
    )))
    .bind(window)
    .bind(state)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(micros.map(chrono::Duration::microseconds))
}

/// What a start did.
#[derive(Debug)]
pub struct Started {
    /// How long after its start instant the window started.
    pub delay: chrono::Duration,
    pub classes: usize,
    pub requests: Requests,
}

/// Starts `window` if it is due and nobody has; `on_class` receives each class's requests as
/// soon as they are committed (to queue their jobs). `None`: not due, or already started.
pub async fn start<F, Fut>(
    pool: &PgPool,
    school: &School,
    window: Uuid,
    mut on_class: F,
) -> Result<Option<Started>, WindowError>
where
    F: FnMut(Requests) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tx = begin_school_tx(pool, school).await?;
    let claimed: Option<(DateTime<Utc>, Option<Uuid>, f64)> = sqlx::query_as(
        "UPDATE assessment_windows SET state = 'active', started_at = now(), updated_at = now() \
         WHERE id = $1 AND state = 'scheduled' AND starts_at <= now() \
         RETURNING starts_at, created_by, EXTRACT(EPOCH FROM (now() - starts_at))::float8",
    )
    .bind(window)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((starts_at, created_by, delay_s)) = claimed else {
        return Ok(None);
    };
    coverage::catch_classes(&mut tx, Some(window)).await?;
    let classes: Vec<Uuid> = sqlx::query_scalar(
        "SELECT course_id FROM window_classes WHERE window_id = $1 ORDER BY course_id",
    )
    .bind(window)
    .fetch_all(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &TIMER,
        Action::WindowStarted,
        Some(&Target::new("window", window)),
        json!({
            "scheduled_for": starts_at,
            "delay_seconds": (delay_s * 1000.0).round() / 1000.0,
            "classes": classes,
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(school = %school.slug, %window, delay_s, classes = classes.len(), "window started");

    let actor = window_actor(created_by);
    let mut all = Requests::default();
    for class in &classes {
        let mut tx = begin_school_tx(pool, school).await?;
        let requests = coverage::reconcile(&mut tx, &actor, window, &[*class]).await?;
        if requests.recorded > 0 {
            scan_queue::scan_after_lock(&mut tx, *class, ScanReason::WindowLock, created_by)
                .await?;
        }
        tx.commit().await?;
        all.recorded += requests.recorded;
        all.to_apply.extend(requests.to_apply.iter().cloned());
        on_class(requests).await;
    }
    Ok(Some(Started {
        delay: chrono::Duration::microseconds((delay_s * 1e6) as i64),
        classes: classes.len(),
        requests: all,
    }))
}

/// What an end did.
#[derive(Debug)]
pub struct Ended {
    pub state: WindowState,
    pub delay: chrono::Duration,
    pub requests: Requests,
}

/// Ends `window` if its end has come and nobody has ended it: an ordinary window unlocks what
/// it held; an "until released" one becomes held, locked until an officer releases it.
pub async fn end(
    pool: &PgPool,
    school: &School,
    window: Uuid,
) -> Result<Option<Ended>, WindowError> {
    let mut tx = begin_school_tx(pool, school).await?;
    let claimed: Option<(WindowState, DateTime<Utc>, Option<Uuid>, f64)> = sqlx::query_as(
        "UPDATE assessment_windows SET \
             state = CASE WHEN until_released THEN 'held' ELSE 'ended' END, \
             finished_at = CASE WHEN until_released THEN NULL ELSE now() END, updated_at = now() \
         WHERE id = $1 AND state = 'active' AND ends_at <= now() \
         RETURNING state, ends_at, created_by, EXTRACT(EPOCH FROM (now() - ends_at))::float8",
    )
    .bind(window)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((state, ends_at, created_by, delay_s)) = claimed else {
        return Ok(None);
    };
    let action = if state == WindowState::Held {
        Action::WindowHeld
    } else {
        Action::WindowEnded
    };
    audit::record(
        &mut tx,
        &TIMER,
        action,
        Some(&Target::new("window", window)),
        json!({
            "scheduled_for": ends_at,
            "delay_seconds": (delay_s * 1000.0).round() / 1000.0,
        }),
    )
    .await?;
    let requests = if state == WindowState::Ended {
        release_classes(&mut tx, &window_actor(created_by), window).await?
    } else {
        Requests::default()
    };
    tx.commit().await?;
    tracing::info!(school = %school.slug, %window, ?state, delay_s, unlocks = requests.recorded, "window ended");
    Ok(Some(Ended {
        state,
        delay: chrono::Duration::microseconds((delay_s * 1e6) as i64),
        requests,
    }))
}

/// After a window stops holding (ended, cancelled, released): every folder of its classes back
/// to what the rule gives it, in the caller's transaction.
pub async fn release_classes(
    tx: &mut SchoolTx,
    actor: &Actor,
    window: Uuid,
) -> Result<Requests, WindowError> {
    let classes: Vec<Uuid> =
        sqlx::query_scalar("SELECT course_id FROM window_classes WHERE window_id = $1")
            .bind(window)
            .fetch_all(&mut **tx)
            .await?;
    coverage::reconcile(tx, actor, window, &classes).await
}

/// The timer's safety net for one school: every due transition, then every held folder not yet
/// locked. Each set of committed requests is handed to `on_requests` to queue as it goes.
pub async fn catch_up<F, Fut>(
    pool: &PgPool,
    school: &School,
    mut on_requests: F,
) -> Result<(), WindowError>
where
    F: FnMut(Requests) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for (window, transition) in due(pool, school).await? {
        match transition {
            Transition::Start => {
                if let Some(s) = start(pool, school, window, &mut on_requests).await? {
                    tracing::warn!(school = %school.slug, %window, delay_s = s.delay.num_milliseconds() as f64 / 1000.0,
                        "window started by the timer's tick, not at its instant");
                }
            }
            Transition::End => {
                if let Some(e) = end(pool, school, window).await? {
                    on_requests(e.requests).await;
                }
            }
        }
    }
    let mut tx = begin_school_tx(pool, school).await?;
    let caught = coverage::catch_classes(&mut tx, None).await?;
    for (window, class) in &caught {
        audit::record(
            &mut tx,
            &TIMER,
            Action::WindowClassAdded,
            Some(&Target::new("window", *window)),
            json!({"class": class}),
        )
        .await?;
    }
    let requests = coverage::hold(&mut tx, false).await?;
    tx.commit().await?;
    if requests.recorded > 0 {
        on_requests(requests).await;
    }
    Ok(())
}
