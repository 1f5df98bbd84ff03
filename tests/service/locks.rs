//! Locking and unlocking portfolios: the API, the worker's Drive switch, coalescing, bad input,
//! and the sweeper.

use invigilator_test_kit as common;

use common::browser::RequestBody;
use common::{OPERATOR, SHARED_DRIVE, pupil};
use google_emulator::Role;
use invigilator::portfolio::lock::{self, Applied};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use common::lock_world::lock_world;

#[tokio::test]
async fn a_teacher_locks_a_portfolio_and_the_worker_switches_drive() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(0)).await;
    assert_eq!(l.w.emu.access(&folder, &pupil(0)), Some(Role::Writer));

    let page = l.post(&format!("/api/portfolios/{id}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    let body: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(body["requested"][0]["version"], 1);
    // Answered before Drive changed.
    assert_eq!(l.w.emu.access(&folder, &pupil(0)), Some(Role::Writer));

    let updates_before = l.w.emu.calls("drive.permissions.update");
    assert!(matches!(
        l.apply(id).await,
        Applied::Done { version: 1, .. }
    ));
    assert_eq!(l.w.emu.access(&folder, &pupil(0)), Some(Role::Reader));
    assert_eq!(
        l.w.emu.calls("drive.permissions.update") - updates_before,
        1,
        "one Drive call"
    );
    assert_eq!(
        l.apply(id).await,
        Applied::AlreadyCurrent,
        "re-running is harmless"
    );

    let state: Value = serde_json::from_str(
        &l.teacher
            .get(&l.w.url(&format!("/api/portfolios/{id}")))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(state["applied"], "locked");
    assert_eq!(state["pending_since"], Value::Null);
    let actions: Vec<&str> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["portfolio.lock.applied", "portfolio.lock.requested"]
    );
}

#[tokio::test]
async fn quick_clicks_coalesce_into_one_drive_call() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(1)).await;
    for path in ["lock", "unlock", "lock"] {
        assert_eq!(
            l.post(&format!("/api/portfolios/{id}/{path}")).await.status,
            StatusCode::ACCEPTED
        );
    }
    let before = l.w.emu.calls("drive.permissions.update");
    assert!(matches!(
        l.apply(id).await,
        Applied::Done { version: 3, .. }
    ));
    assert_eq!(l.w.emu.calls("drive.permissions.update") - before, 1);
    assert_eq!(l.w.emu.access(&folder, &pupil(1)), Some(Role::Reader));
    assert_eq!(l.versions(id).await, (3, 3));
}

#[tokio::test]
async fn a_whole_class_is_locked_and_unlocked() {
    let mut l = lock_world().await;
    let course: Uuid = sqlx::query_scalar("SELECT id FROM tenant_hillside.courses")
        .fetch_one(&l.w.db.pool)
        .await
        .unwrap();
    let page = l.post(&format!("/api/classes/{course}/lock")).await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    let body: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(body["requested"].as_array().unwrap().len(), 3);
    for i in 0..3 {
        let (id, folder) = l.portfolio_of(&pupil(i)).await;
        l.apply(id).await;
        assert_eq!(l.w.emu.access(&folder, &pupil(i)), Some(Role::Reader));
    }
    assert_eq!(
        l.post(&format!("/api/classes/{course}/unlock"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    for i in 0..3 {
        let (id, folder) = l.portfolio_of(&pupil(i)).await;
        l.apply(id).await;
        assert_eq!(l.w.emu.access(&folder, &pupil(i)), Some(Role::Writer));
    }
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let mut l = lock_world().await;
    let (id, _) = l.portfolio_of(&pupil(0)).await;
    // A class the teacher does not teach, with a portfolio that has no folder yet.
    let stranger_course: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.courses (classroom_id, name, subject_id) \
         SELECT '999', 'Not yours', id FROM tenant_hillside.subjects LIMIT 1 RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let student: Uuid =
        sqlx::query_scalar("SELECT student_id FROM tenant_hillside.portfolios WHERE id = $1")
            .bind(id)
            .fetch_one(&l.w.db.pool)
            .await
            .unwrap();
    let theirs: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.portfolios (course_id, student_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(stranger_course)
    .bind(student)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let own_course: Uuid =
        sqlx::query_scalar("SELECT course_id FROM tenant_hillside.portfolios WHERE id = $1")
            .bind(id)
            .fetch_one(&l.w.db.pool)
            .await
            .unwrap();
    let no_folder: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.students (classroom_user_id, email) VALUES ('new', 'new@hillside.sch.uk') RETURNING id",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    let unfoldered: Uuid = sqlx::query_scalar(
        "INSERT INTO tenant_hillside.portfolios (course_id, student_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(own_course)
    .bind(no_folder)
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();

    let cases = [
        (
            "/api/portfolios/not-an-id/lock".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        // Only `lock` and `unlock` are actions.
        (format!("/api/portfolios/{id}/open"), StatusCode::NOT_FOUND),
        (
            format!("/api/classes/{own_course}/freeze"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/portfolios/{}/lock", Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/portfolios/{theirs}/lock"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/classes/{stranger_course}/lock"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/portfolios/{unfoldered}/lock"),
            StatusCode::CONFLICT,
        ),
    ];
    for (path, status) in cases {
        let page = l.post(&path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
    }
    let not_json = l
        .teacher
        .request(
            Method::POST,
            &l.w.url(&format!("/api/portfolios/{id}/lock")),
            Some(RequestBody::Json(json!(["lock"]), Some(l.csrf.clone()))),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_csrf = l
        .teacher
        .request(
            Method::POST,
            &l.w.url(&format!("/api/portfolios/{id}/lock")),
            Some(RequestBody::Json(json!({}), None)),
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(
        l.teacher
            .get(&l.w.url(&format!("/api/portfolios/{theirs}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let requested: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(desired_version), 0)::bigint FROM tenant_hillside.portfolios",
    )
    .fetch_one(&l.w.db.pool)
    .await
    .unwrap();
    assert_eq!(requested, 0, "no request was recorded");
}

#[tokio::test]
async fn a_permission_removed_in_drive_is_made_again() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(2)).await;
    // Someone removes the student's access by hand in Drive.
    l.remove_student_permission(id, &folder).await;
    assert_eq!(l.w.emu.access(&folder, &pupil(2)), None);

    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    assert!(matches!(l.apply(id).await, Applied::Done { .. }));
    assert_eq!(l.w.emu.access(&folder, &pupil(2)), Some(Role::Reader));
}

#[tokio::test]
async fn a_revoked_operator_fails_fast_and_the_sweeper_leaves_it_alone() {
    let mut l = lock_world().await;
    let (id, _) = l.portfolio_of(&pupil(0)).await;
    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    l.w.emu.revoke_user(OPERATOR);
    l.w.emu.expire_access_tokens();
    let outcome = l.apply(id).await;
    assert!(
        matches!(outcome, Applied::Failed(ref r) if r.contains("reconnected")),
        "{outcome:?}"
    );
    let token_calls = l.w.emu.calls("oauth2.token");
    assert!(matches!(
        l.apply(id).await,
        Applied::AlreadyCurrent | Applied::Failed(_)
    ));
    assert_eq!(l.w.emu.calls("oauth2.token"), token_calls, "no retry storm");
    let lagging = lock::lagging(&l.w.db.pool, &l.school, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(
        lagging.is_empty(),
        "failed requests are shown, not retried forever"
    );
    let state: Value = serde_json::from_str(
        &l.teacher
            .get(&l.w.url(&format!("/api/portfolios/{id}")))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(state["failed"], true);
}

#[tokio::test]
async fn the_sweeper_requeues_requests_whose_jobs_were_lost() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(1)).await;
    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    // The job never ran (the queue was lost); the request has waited a while.
    sqlx::query("UPDATE tenant_hillside.portfolios SET desired_at = now() - interval '5 minutes'")
        .execute(&l.w.db.pool)
        .await
        .unwrap();
    // Queues of their own, so no earlier job of this test is in them.
    let namespace = format!("{}sweep", l.w.db.role_prefix);
    let config = l.w.db.config(&[("TENANT_ROLE_PREFIX", &namespace)]);
    let ctx = common::services(&l.w.db, &config, &l.google);
    let (queues, redis) = (ctx.queues.clone(), ctx.redis.clone());
    let queued = invigilator::jobs::sweep(
        &l.w.db.pool,
        &l.leases,
        &queues,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(queued, 1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(invigilator::jobs::run_workers(ctx, 1, async {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while l.w.emu.access(&folder, &pupil(1)) != Some(Role::Reader) {
        assert!(
            std::time::Instant::now() < deadline,
            "the re-queued job never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(40), workers).await;
    assert_eq!(l.versions(id).await, (1, 1));

    // Finished jobs do not stay in Redis for ever.
    let config = queues.locks.get_config().clone();
    let mut conn = redis.clone();
    let finished = |conn: &mut redis::aio::ConnectionManager| {
        let config = config.clone();
        let mut conn = conn.clone();
        async move {
            let data: i64 = redis::cmd("HLEN")
                .arg(config.job_data_hash())
                .query_async(&mut conn)
                .await
                .unwrap();
            let done: i64 = redis::cmd("SCARD")
                .arg(config.done_jobs_set())
                .query_async(&mut conn)
                .await
                .unwrap();
            (data, done)
        }
    };
    let (data, done) = finished(&mut conn).await;
    assert!(
        data >= 1 && done >= 1,
        "the finished job is kept for a while"
    );
    let removed = invigilator::jobs::vacuum::vacuum(&queues, &redis, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed as i64, done);
    assert_eq!(finished(&mut conn).await, (0, 0));
}

#[tokio::test]
async fn a_lock_asked_for_before_the_student_was_shared_is_honoured_by_the_first_grant() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(0)).await;
    // As if the earlier grant never happened: no permission in Drive and none recorded.
    l.remove_student_permission(id, &folder).await;
    sqlx::query("UPDATE tenant_hillside.portfolios SET permission_id = NULL WHERE id = $1")
        .bind(id)
        .execute(&l.w.db.pool)
        .await
        .unwrap();

    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    // The folder job runs before the lock job does.
    let report =
        invigilator::portfolio::provision(&l.w.db.pool, &l.google, &l.school, SHARED_DRIVE)
            .await
            .unwrap();
    assert_eq!(report.permissions, 1, "{:?}", report.errors);
    assert_eq!(
        l.w.emu.access(&folder, &pupil(0)),
        Some(Role::Reader),
        "never writer, not even briefly"
    );
    assert_eq!(l.versions(id).await, (1, 1));
    assert_eq!(l.apply(id).await, Applied::AlreadyCurrent);
}

/// Reads server-sent events until one carries a status matching `done`, or fails after a while.
async fn wait_for_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.contains("event: portfolios"), "{event}");
                let statuses: Value = serde_json::from_str(data).unwrap();
                if let Some(found) = statuses.as_array().unwrap().iter().find(|s| done(s)) {
                    return found.clone();
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("no matching event in time")
            .unwrap()
            .expect("the stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn the_dashboard_sees_a_lock_pending_then_done_live() {
    let mut l = lock_world().await;
    let (id, _) = l.portfolio_of(&pupil(0)).await;
    let url = l.w.url("/api/events");
    let mut stream = common::http_client()
        .get(&url)
        .header("cookie", l.teacher.cookie_header(&url))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();

    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    let pending = wait_for_event(&mut stream, &mut buffer, |s| {
        s["portfolio_id"] == id.to_string()
    })
    .await;
    assert_eq!(
        (
            pending["desired"].as_str(),
            pending["desired_version"].as_i64()
        ),
        (Some("locked"), Some(1))
    );
    assert_eq!(pending["applied_version"], 0, "shown as pending first");

    // The worker announces what it applied.
    let config = l.w.db.config(&[("GOOGLE_API_BASE_URL", &l.w.emu.url())]);
    let ctx = common::services(&l.w.db, &config, &l.google);
    let job = invigilator::jobs::ApplyLockJob {
        school_id: l.school.id,
        portfolio_id: id,
        version: 1,
    };
    invigilator::jobs::run_apply_lock(job, apalis::prelude::Data::new(std::sync::Arc::new(ctx)))
        .await
        .unwrap();
    let applied = wait_for_event(&mut stream, &mut buffer, |s| s["applied_version"] == 1).await;
    assert_eq!(applied["applied"], "locked");
    assert_eq!(applied["course_id"], pending["course_id"]);
}

#[tokio::test]
async fn live_events_need_a_session() {
    let l = lock_world().await;
    let response = common::http_client()
        .get(l.w.url("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
