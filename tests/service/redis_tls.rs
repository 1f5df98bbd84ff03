//! Redis over TLS (`rediss://`), as managed Redis requires: a real `redis-server` listening only
//! on a TLS port with a certificate from a CA this test makes, trusted through `REDIS_CA_CERT`.
//! Sessions, the job queue, the rate limiter and live status all work over it; a CA that did
//! not sign the server's certificate makes `/readyz` answer 503 at once, with one log line
//! saying the certificate was not trusted.

use invigilator_test_kit as common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apalis::prelude::*;
use futures::StreamExt;
use invigilator::auth::session::{SessionLifetimes, Sessions};
use invigilator::config::Config;
use invigilator::google::rate_limit::RateLimiter;
use invigilator::jobs::{Queues, RosterSyncJob, enqueue_sync};
use invigilator::portfolio::live::{LiveStatus, PortfolioStatus};
use invigilator::portfolio::lock::LockState;
use invigilator::roster::Trigger;
use serde_json::Value;
use uuid::Uuid;

/// How long `/readyz` gives a dependency (`CHECK_TIMEOUT` in the health module): a rejected
/// certificate must be reported before it, not found out by it.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A directory of this test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("invigilator-redis-tls-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority made for one test.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost; returns (certificate, key) in PEM.
    fn server_certificate(&self) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "redis test server");
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// `redis-server` on a TLS port only (no plain port), with a certificate from its own CA,
/// stopped on drop. Nothing is persisted.
struct TlsRedis {
    port: u16,
    /// The CA that signed the server's certificate.
    ca_file: PathBuf,
    /// A CA that signed nothing here.
    other_ca_file: PathBuf,
    child: Child,
    dir: TempDir,
}

impl TlsRedis {
    async fn start() -> Self {
        let dir = TempDir::new();
        let ca = Ca::new("Invigilator test CA");
        let (certificate, key) = ca.server_certificate();
        let ca_file = dir.write("ca.pem", &ca.pem());
        let other_ca_file = dir.write("other-ca.pem", &Ca::new("Somebody else's CA").pem());
        let cert_file = dir.write("server.pem", &certificate);
        let key_file = dir.write("server.key", &key);
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(&cert_file)
            .arg("--tls-key-file")
            .arg(&key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir.0)
            .arg("--logfile")
            .arg(dir.0.join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh installs it)");
        let redis = Self {
            port,
            ca_file,
            other_ca_file,
            child,
            dir,
        };
        redis.wait_until_ready().await;
        redis
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The service's configuration for this Redis, trusting `ca` (`None`: the public roots).
    fn config(&self, ca: Option<&Path>) -> Config {
        let url = self.url();
        let ca = ca.map(|p| p.to_str().unwrap().to_owned());
        Config::from_lookup(|name| match name {
            "REDIS_URL" => Some(url.clone()),
            "REDIS_CA_CERT" => ca.clone(),
            "TENANT_ROLE_PREFIX" => Some("tlstest_".to_owned()),
            _ => None,
        })
        .unwrap()
    }

    async fn wait_until_ready(&self) {
        let client = invigilator::redis_client::client(&self.config(Some(&self.ca_file))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match ping.await {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.0.join("redis.log"));
                    panic!("redis-server did not answer over TLS: {e}\n{log:?}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Hands each job it is given to the test.
async fn hand_over(
    job: RosterSyncJob,
    seen: Data<tokio::sync::mpsc::UnboundedSender<RosterSyncJob>>,
) -> Result<(), BoxDynError> {
    seen.send(job)?;
    Ok(())
}

#[tokio::test]
async fn sessions_the_queue_the_rate_limiter_and_live_status_work_over_tls() {
    let server = TlsRedis::start().await;
    let config = server.config(Some(&server.ca_file));
    let redis = invigilator::redis_client::lazy_connection(&config).unwrap();

    // The port speaks only TLS: the same address without it gets nowhere.
    let plain = redis::Client::open(format!("redis://127.0.0.1:{}", server.port)).unwrap();
    let plain_config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)));
    let attempt = async {
        let mut conn = plain
            .get_multiplexed_async_connection_with_config(&plain_config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    assert!(
        attempt.await.is_err(),
        "plain Redis reached a TLS-only port"
    );

    // Sessions.
    let sessions = Sessions::new(
        redis.clone(),
        SessionLifetimes {
            idle: chrono::Duration::minutes(5),
            absolute: chrono::Duration::hours(1),
        },
        true,
        &config.tenant_role_prefix,
    );
    let (id, data) = sessions
        .create(Uuid::new_v4(), Uuid::new_v4())
        .await
        .unwrap();
    assert_eq!(sessions.load(&id).await.unwrap(), Some(data));

    // The queue: a job pushed is waiting, and a worker polling over TLS receives it.
    let queues = Queues::new(&redis, &config.tenant_role_prefix);
    let school_id = Uuid::new_v4();
    enqueue_sync(&queues.roster, school_id, Trigger::Manual)
        .await
        .unwrap();
    let mut conn = redis.clone();
    let stored: u64 = redis::cmd("HLEN")
        .arg(queues.roster.get_config().job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let (seen, mut received) = tokio::sync::mpsc::unbounded_channel::<RosterSyncJob>();
    let worker = WorkerBuilder::new(format!("tls-test-{}", Uuid::new_v4().simple()))
        .backend(
            queues
                .roster
                .clone()
                .poll_with_interval(Duration::from_millis(50)),
        )
        .data(seen)
        .build(hand_over);
    let running = tokio::spawn(worker.run());
    let job = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the worker receives the job over TLS")
        .unwrap();
    running.abort();
    assert_eq!(
        job,
        RosterSyncJob {
            school_id,
            trigger: Trigger::Manual
        }
    );

    // The rate limiter's script runs in Redis: one call a second, no burst, so the second
    // call at once is told to wait (on a Redis it could not reach, it would let it through).
    let limiter = RateLimiter::new(redis.clone(), 1.0, 1);
    let key = format!("tls-test:{}", Uuid::new_v4());
    assert_eq!(limiter.check(&key).await, Ok(()));
    let wait = limiter
        .check(&key)
        .await
        .expect_err("the second call waits");
    assert!(wait > Duration::from_millis(500), "{wait:?}");

    // Live status: published through the connection manager, received on a subscription.
    let live = LiveStatus::new(&config).unwrap();
    let mut statuses = Box::pin(live.subscribe(school_id).await.unwrap());
    let status = PortfolioStatus {
        portfolio_id: Uuid::new_v4(),
        course_id: Uuid::new_v4(),
        desired: LockState::Locked,
        desired_version: 1,
        applied: Some(LockState::Locked),
        applied_version: 1,
        failed: false,
        last_error: None,
    };
    live.publish(&redis, school_id, std::slice::from_ref(&status))
        .await;
    let received = tokio::time::timeout(Duration::from_secs(5), statuses.next())
        .await
        .expect("live status arrives over TLS")
        .unwrap();
    assert_eq!(received, vec![status]);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_rejected_and_named_as_such() {
    let server = TlsRedis::start().await;
    for config in [
        server.config(Some(&server.other_ca_file)),
        // Without REDIS_CA_CERT only the public roots are trusted, and they never signed this.
        server.config(None),
    ] {
        let client = invigilator::redis_client::client(&config).unwrap();
        let started = Instant::now();
        let error = match client.get_multiplexed_async_connection().await {
            Ok(_) => panic!("connected to a server whose certificate is not trusted"),
            Err(e) => e,
        };
        assert!(started.elapsed() < CHECK_TIMEOUT, "{:?}", started.elapsed());
        assert!(
            invigilator::redis_client::certificate_rejected(&error),
            "not recognised as a rejected certificate: {error}"
        );
    }
    // Other failures are not mistaken for it.
    let refused = redis::Client::open("redis://127.0.0.1:1").unwrap();
    let error = match refused.get_multiplexed_async_connection().await {
        Ok(_) => panic!("something answers on port 1"),
        Err(e) => e,
    };
    assert!(!invigilator::redis_client::certificate_rejected(&error));
}

#[tokio::test]
async fn with_the_wrong_ca_readyz_answers_503_at_once_and_logs_one_clear_line_per_probe() {
    let server = TlsRedis::start().await;
    let db = common::TestDb::new().await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .arg("serve")
        .env_clear()
        .envs(db.env())
        .env("REDIS_URL", server.url())
        .env("REDIS_CA_CERT", &server.other_ca_file)
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = common::http_client();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) if r.status() == 200 => break,
            _ if Instant::now() > deadline => panic!("server did not start"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    let probes = 2;
    for _ in 0..probes {
        let started = Instant::now();
        let response = client.get(format!("{base}/readyz")).send().await.unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["redis"], "unreachable", "{body}");
        assert_eq!(body["database"], "ok", "{body}");
        assert!(
            took < CHECK_TIMEOUT,
            "answered by the timeout, not the failure: {took:?}"
        );
    }
    // Nothing keeps retrying in the background between probes.
    tokio::time::sleep(Duration::from_secs(1)).await;

    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| matches!(l["severity"].as_str(), Some("WARNING" | "ERROR")))
        // tower-http's request log adds its own generic line for every 5xx response.
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("invigilator"))
        })
        .collect();
    assert_eq!(warnings.len(), probes, "one line per probe: {logs}");
    for line in &warnings {
        let text = line.to_string();
        assert!(text.contains("TLS certificate not trusted"), "{text}");
        assert!(text.contains("REDIS_CA_CERT"), "{text}");
    }
}

#[tokio::test]
async fn an_unreadable_redis_ca_stops_start_up_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .arg("serve")
        .env_clear()
        .env("REDIS_URL", "rediss://127.0.0.1:6380")
        .env("REDIS_CA_CERT", "/nonexistent/server-ca.pem")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("REDIS_CA_CERT: cannot read /nonexistent/server-ca.pem"),
        "{stderr}"
    );
}

#[tokio::test]
async fn work_with_the_wrong_ca_stops_at_once_with_one_clear_line() {
    let server = TlsRedis::start().await;
    let db = common::TestDb::new().await;
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_invigilator"))
        .arg("work")
        .env_clear()
        .envs(db.env())
        .env("REDIS_URL", server.url())
        .env("REDIS_CA_CERT", &server.other_ca_file)
        .env("PORT", free_port().to_string())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    // Not two minutes of restarts: the certificate is refused before any worker starts.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TLS certificate is not trusted"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("restarting"),
        "no worker restarted: {stderr}"
    );
}
