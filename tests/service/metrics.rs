//! `/metrics`: after real requests, a real lock applied by the workers and a sweep, the
//! exposition on the metrics port holds each series with labels an operator can use (route
//! templates, never ids), and `invigilator work` serves its own.

use invigilator_test_kit as common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::lock_world::lock_world;
use common::{TestDb, pupil};
use google_emulator::Role;
use invigilator::metrics::endpoint::MetricsEndpoint;
use reqwest::StatusCode;

/// The value of the series written exactly as `series` (name and labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// Lock jobs in Redis: waiting now or scheduled for a moment later.
fn lock_jobs(text: &str) -> f64 {
    ["waiting", "scheduled"]
        .iter()
        .map(|state| {
            let series = format!(r#"invigilator_queue_jobs{{queue="apply_lock",state="{state}"}}"#);
            value(text, &series).unwrap_or_else(|| panic!("{series} missing"))
        })
        .sum()
}

async fn scrape(client: &reqwest::Client, addr: std::net::SocketAddr) -> String {
    let answer = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "Prometheus's text format"
    );
    answer.text().await.unwrap()
}

#[tokio::test]
async fn the_exposition_counts_requests_jobs_google_calls_and_sweeps() {
    let mut l = lock_world().await;
    let (id, folder) = l.portfolio_of(&pupil(1)).await;
    // Queues of their own, so the depth read is this test's alone.
    let namespace = format!("{}mx", l.w.db.role_prefix);
    let config = l.w.db.config(&[
        ("TENANT_ROLE_PREFIX", &namespace),
        ("GOOGLE_API_BASE_URL", &l.w.emu.url()),
    ]);
    let ctx = common::services(&l.w.db, &config, &l.google);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, endpoint) = MetricsEndpoint::new(ctx.queues.clone(), ctx.redis.clone())
        .spawn("127.0.0.1:0".parse().unwrap(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    let client = common::http_client();
    let before = scrape(&client, addr).await;
    let lock_route = r#"{method="POST",route="/api/portfolios/{id}/{verb}",status="202"}"#;
    let requests = |text: &str| {
        value(
            text,
            &format!("invigilator_http_requests_total{lock_route}"),
        )
        .unwrap_or(0.0)
    };

    // A teacher's lock request (202), then a page that is not there (404).
    assert_eq!(
        l.post(&format!("/api/portfolios/{id}/lock")).await.status,
        StatusCode::ACCEPTED
    );
    let missing = l.teacher.get(&l.w.url(&format!("/api/nothing/{id}"))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Its job was queued elsewhere; as if lost, the sweeper queues it again here.
    sqlx::query("UPDATE tenant_hillside.portfolios SET desired_at = now() - interval '5 minutes'")
        .execute(&l.w.db.pool)
        .await
        .unwrap();
    let queued = invigilator::jobs::sweep(
        &l.w.db.pool,
        &l.leases,
        &ctx.queues,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(queued, 1);
    let waiting = scrape(&client, addr).await;
    assert_eq!(lock_jobs(&waiting), 1.0, "{waiting}");

    let (stop_workers, workers_stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(invigilator::jobs::run_workers(ctx, 1, async {
        let _ = workers_stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while l.w.emu.access(&folder, &pupil(1)) != Some(Role::Reader) {
        assert!(Instant::now() < deadline, "the lock was never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopped as SIGTERM stops them: the job in flight finishes and is counted.
    let _ = stop_workers.send(());
    let _ = tokio::time::timeout(Duration::from_secs(40), workers).await;

    let after = scrape(&client, addr).await;
    // Requests by route template and status, ids never in a label.
    // At least: other tests in this process may lock too.
    assert!(requests(&after) - requests(&before) >= 1.0, "{after}");
    assert!(
        !after.contains(&id.to_string()),
        "an id leaked into a label"
    );
    assert!(
        after.contains(
            r#"invigilator_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        "{after}"
    );
    assert!(
        after.contains(
            r#"invigilator_http_request_duration_seconds_bucket{method="POST",route="/api/portfolios/{id}/{verb}",le="+Inf"}"#
        ),
        "{after}"
    );
    // The job, the Drive call it made, the sweep and the syncs the world ran.
    let done = r#"invigilator_jobs_total{kind="apply_lock",outcome="done"}"#;
    assert!(value(&after, done).unwrap_or(0.0) >= 1.0, "{after}");
    assert!(
        value(
            &after,
            r#"invigilator_google_calls_total{api="drive",outcome="ok"}"#
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            r#"invigilator_google_calls_total{api="classroom",outcome="ok"}"#
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{after}"
    );
    assert!(
        value(&after, r#"invigilator_sweeper_requeued_total{kind="lock"}"#).unwrap_or(0.0) >= 1.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            r#"invigilator_roster_sync_duration_seconds_count{outcome="succeeded"}"#
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{after}"
    );
    assert_eq!(lock_jobs(&after), 0.0, "{after}");
    let _ = stop.send(());
    endpoint.await.unwrap();
}

#[tokio::test]
async fn work_serves_its_own_metrics_on_metrics_addr() {
    let db = TestDb::new().await;
    let free_port = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .args(["work", "--concurrency", "1"])
        .env_clear()
        .envs(db.env())
        .env("PORT", port.to_string())
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = common::http_client();
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        match client.get(&url).send().await {
            Ok(r) if r.status() == 200 => break r.text().await.unwrap(),
            _ if Instant::now() > deadline => panic!("the worker never served /metrics"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // Not on the probes' port, which the platform routes to.
    let public = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    for queue in [
        "roster_sync",
        "apply_lock",
        "onward_share",
        "assessment_window",
    ] {
        let series = format!(r#"invigilator_queue_jobs{{queue="{queue}",state="waiting"}}"#);
        assert_eq!(value(&text, &series), Some(0.0), "{series} in:\n{text}");
    }
}
