//! The HTTP server: probes, request ids, limits, graceful shutdown and log format.

use invigilator_test_kit as common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TestDb, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn healthz_answers_without_touching_dependencies() {
    let app = spawn_app_with(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")]).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn readyz_is_200_when_database_and_redis_answer() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "database": "ok", "redis": "ok"})
    );
}

#[tokio::test]
async fn readyz_is_503_naming_an_unreachable_redis() {
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let started = Instant::now();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["redis"], "unreachable");
    assert_eq!(body["database"], "ok");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the probe must not hang"
    );
}

#[tokio::test]
async fn readyz_is_503_naming_an_unreachable_database() {
    let app = spawn_app_with(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")]).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["redis"], "ok");
    // Connection details stay in the log, never in the response.
    assert!(!body.to_string().contains("127.0.0.1"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "from-the-load-balancer")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "from-the-load-balancer");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app_with(&[("REQUEST_BODY_LIMIT_BYTES", "2048")]).await;
    let response = app
        .client
        .post(app.url("/healthz"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn the_in_process_server_stops_when_asked() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::timeout(Duration::from_secs(5), app.shut_down())
        .await
        .expect("server stops within 5 s")
        .unwrap();
}

#[tokio::test]
async fn serve_logs_json_for_cloud_logging_and_drains_on_sigterm() {
    let db = TestDb::new().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .arg("serve")
        .env_clear()
        .envs(db.env())
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = common::http_client();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client
            .get(&url)
            .header("x-request-id", "probe-1")
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => break,
            _ if Instant::now() > deadline => panic!("server did not become ready"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit after SIGTERM: {status}");

    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["severity"].is_string()), "{logs}");
    assert!(
        lines
            .iter()
            .any(|l| l["severity"] == "INFO" && l.to_string().contains("probe-1")),
        "request logs carry the request id: {logs}"
    );
    assert!(logs.contains("shutting down"), "{logs}");
    // Nothing secret-looking is logged.
    assert!(!logs.contains("invigilator-local-secret"));
    // The security settings in effect, once, at start-up (a deployment can be checked by them).
    let settings = lines
        .iter()
        .find(|l| l.to_string().contains("security settings"))
        .unwrap_or_else(|| panic!("no security settings line: {logs}"));
    let shown = settings.to_string();
    // Cloud Logging's formatter writes field names in camelCase.
    for (field, value) in [
        ("environment", json!("development")),
        ("process", json!("serve")),
        ("databaseTransport", json!("unencrypted")),
        ("sessionCookieSecure", json!(false)),
        ("strictTransportSecurity", json!(false)),
        ("redisTls", json!(false)),
        ("tokenKeyVersions", json!(1)),
    ] {
        assert_eq!(settings[field], value, "{field} in {shown}");
    }
    assert!(
        settings["contentSecurityPolicy"]
            .as_str()
            .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
        "the CSP: {shown}"
    );
    assert!(!shown.contains(&db.url), "no database URL: {shown}");
}

#[tokio::test]
async fn work_answers_its_probes_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .args(["work", "--concurrency", "2"])
        .env_clear()
        .envs(db.env())
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = common::http_client();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(&url).send().await {
            Ok(r) if r.status() == 200 => break,
            _ if Instant::now() > deadline => panic!("worker never became ready"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // Only the probes: no sign-in or API on the worker.
    let api = client
        .get(format!("http://127.0.0.1:{port}/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "worker ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
}

/// The in-process app on `config` (not one read from the environment), on a port of its own.
async fn serve_config(config: &invigilator::config::Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let services = invigilator::services::Services::connect(config, 2).unwrap();
    let state = invigilator::web::AppState::new(config, &services).unwrap();
    let limits = invigilator::web::HttpLimits {
        body_bytes: config.request_body_limit_bytes,
        timeout: config.request_timeout,
    };
    tokio::spawn(invigilator::web::serve(
        listener,
        invigilator::web::router(state, limits),
        std::future::pending(),
    ));
    format!("http://{address}")
}

#[tokio::test]
async fn production_answers_tell_browsers_to_keep_to_https() {
    let db = TestDb::new().await;
    // Production's transport checks cannot pass against the local servers, so the environment
    // is set after reading, as if they had.
    let mut config = db.config(&[("PUBLIC_URL", "https://invigilator.example.org")]);
    config.environment = invigilator::config::Environment::Production;
    let app = serve_config(&config).await;
    let client = common::http_client();
    for path in ["/healthz", "/", "/api/me", "/no-such-page"] {
        let response = client.get(format!("{app}{path}")).send().await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path} ({})",
            response.status()
        );
    }

    // Development never does: a browser would remember it for localhost.
    let dev = spawn_app().await;
    let response = dev.client.get(dev.url("/")).send().await.unwrap();
    assert!(!response.headers().contains_key("strict-transport-security"));
    assert!(response.headers().contains_key("content-security-policy"));
}
