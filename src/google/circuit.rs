//! A circuit breaker per Google API host, so that when Google cannot be reached every caller
//! fails at once instead of each waiting out its own timeouts and retries.
//!
//! After [`CircuitSettings::failures_to_open`] consecutive calls that Google did not answer
//! (a 5xx, a timeout, a refused or reset connection: the `Transient` class) the circuit
//! **opens**: calls to that host fail immediately with [`GoogleError::Unavailable`] for the
//! cool-down. Then one call goes through as a **probe** (half-open); if Google answers it —
//! with anything, a 404 or a 429 included, since an answer means Google is reachable — the
//! circuit closes, otherwise it opens for another cool-down.
//!
//! The state is per process: each process finds out for itself, within a handful of calls, and
//! nothing depends on Redis (which may be down too). What waits is recorded by the callers (a
//! lock's row), so nothing is lost while the circuit is open.
//!
//! No crate fitted: `failsafe` is unmaintained and wraps calls in its own error type, and a
//! `tower` layer would sit below the Google crates' classification.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use std::time::Instant;

use super::error::{ErrorClass, GoogleError};

/// How a failure to read our own credential store begins (see `token.rs`): not Google's.
const OUR_STORE: &str = "credential store";

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Consecutive unanswered calls that open the circuit.
    pub failures_to_open: u32,
    /// How long an open circuit refuses calls before letting a probe through.
    pub cool_down: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failures_to_open: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; everyone else waits for its answer.
    HalfOpen,
}

/// The breaker of one API host. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Circuit {
    host: Arc<str>,
    settings: CircuitSettings,
    state: Arc<Mutex<State>>,
}

/// Leave to make one call. A probe's permit dropped without an answer (the caller gave up)
/// counts as a failure, so the circuit never stays half-open for ever.
struct Permit<'a> {
    circuit: &'a Circuit,
    probe: bool,
    answered: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.answered {
            self.circuit.record(false);
        }
    }
}

impl Circuit {
    /// A closed circuit for `host`.
    pub fn new(host: &str, settings: CircuitSettings) -> Self {
        Self {
            host: host.into(),
            settings,
            state: Arc::new(Mutex::new(State::Closed { failures: 0 })),
        }
    }

    /// The host this circuit guards.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether calls are refused at the moment (open, or a probe is out).
    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value, always whole: a panic elsewhere cannot leave it torn.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A permit to call, or how long until the next probe may go.
    fn admit(&self) -> Result<Permit<'_>, Duration> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                *state = State::HalfOpen;
                tracing::info!(host = %self.host, "Google: probing whether it answers again");
                true
            }
            // The probe's answer decides soon; a caller coming back after a short while
            // finds out which way.
            State::HalfOpen => return Err(Duration::from_secs(1).min(self.settings.cool_down)),
        };
        Ok(Permit {
            circuit: self,
            probe,
            answered: false,
        })
    }

    /// Notes whether Google answered a call.
    fn record(&self, answered: bool) {
        let mut state = self.lock();
        let next = match (*state, answered) {
            (State::Closed { .. } | State::HalfOpen, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) => {
                let failures = failures + 1;
                if failures >= self.settings.failures_to_open {
                    tracing::warn!(
                        host = %self.host,
                        failures,
                        cool_down_secs = self.settings.cool_down.as_secs(),
                        "Google is not answering: calls to it are paused"
                    );
                    State::Open {
                        until: Instant::now() + self.settings.cool_down,
                    }
                } else {
                    State::Closed { failures }
                }
            }
            (State::HalfOpen, false) => State::Open {
                until: Instant::now() + self.settings.cool_down,
            },
            // A call admitted before the circuit opened says nothing about now.
            (open @ State::Open { .. }, _) => open,
        };
        if *state == State::HalfOpen && matches!(next, State::Closed { .. }) {
            tracing::info!(host = %self.host, "Google answers again: calls resume");
        }
        *state = next;
    }

    /// Runs `call` if the circuit lets it, noting whether Google answered; while the circuit is
    /// open, fails at once with [`GoogleError::Unavailable`] without running it.
    pub async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, GoogleError>>,
    ) -> Result<T, GoogleError> {
        let mut permit = self
            .admit()
            .map_err(|retry_in| GoogleError::Unavailable { op, retry_in })?;
        let result = call.await;
        permit.answered = true;
        match &result {
            Ok(_) => self.record(true),
            // Our own refusal to call, or our own credential store failing (PostgreSQL down),
            // says nothing about Google: a probe's turn passes to the next call.
            Err(GoogleError::Unavailable { .. }) => self.pass_probe(permit.probe),
            Err(GoogleError::Transient { detail, .. }) if detail.starts_with(OUR_STORE) => {
                self.pass_probe(permit.probe)
            }
            Err(e) => self.record(e.class() != ErrorClass::Transient),
        }
        result
    }

    /// A probe that never reached Google: the next call may probe at once.
    fn pass_probe(&self, probe: bool) {
        let mut state = self.lock();
        if probe && *state == State::HalfOpen {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// One circuit per API host, shared by every client a process makes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Circuits {
    settings: CircuitSettings,
    by_host: Arc<Mutex<HashMap<String, Circuit>>>,
}

impl Circuits {
    pub fn new(settings: CircuitSettings) -> Self {
        Self {
            settings,
            by_host: Arc::default(),
        }
    }

    /// The circuit of the host (with its port) that `url` points at.
    pub fn for_url(&self, url: &url::Url) -> Circuit {
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => url.as_str().to_owned(),
        };
        let mut circuits = self
            .by_host
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        circuits
            .entry(host)
            .or_insert_with_key(|host| Circuit::new(host, self.settings))
            .clone()
    }

    /// The hosts whose circuit is open now (for logs and status).
    pub fn open_hosts(&self) -> Vec<String> {
        let circuits = self
            .by_host
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        circuits
            .values()
            .filter(|c| c.is_open())
            .map(|c| c.host().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const COOL_DOWN: Duration = Duration::from_millis(200);

    /// Past the cool-down, in real time (tokio's paused clock is not built in).
    async fn cool_down() {
        tokio::time::sleep(COOL_DOWN + Duration::from_millis(50)).await;
    }

    fn settings() -> CircuitSettings {
        CircuitSettings {
            failures_to_open: 3,
            cool_down: COOL_DOWN,
        }
    }

    fn unreachable() -> GoogleError {
        GoogleError::Transient {
            op: "t",
            detail: "connection refused".into(),
        }
    }

    async fn fail(circuit: &Circuit, calls: &AtomicUsize) -> GoogleError {
        circuit
            .call("t", async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(unreachable())
            })
            .await
            .unwrap_err()
    }

    async fn succeed(circuit: &Circuit, calls: &AtomicUsize) -> Result<(), GoogleError> {
        circuit
            .call("t", async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_then_refuses_without_calling() {
        let circuit = Circuit::new("drive", settings());
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            assert!(matches!(
                fail(&circuit, &calls).await,
                GoogleError::Transient { .. }
            ));
        }
        assert!(circuit.is_open());
        let refused = fail(&circuit, &calls).await;
        assert!(
            matches!(refused, GoogleError::Unavailable { retry_in, .. } if retry_in <= COOL_DOWN),
            "{refused:?}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "the fourth call never went"
        );
        assert_eq!(refused.class(), ErrorClass::Transient);
    }

    #[tokio::test]
    async fn an_answer_of_any_kind_resets_the_count() {
        let circuit = Circuit::new("drive", settings());
        let calls = AtomicUsize::new(0);
        for _ in 0..5 {
            fail(&circuit, &calls).await;
            fail(&circuit, &calls).await;
            // A 404 is Google answering.
            let _ = circuit
                .call("t", async {
                    Err::<(), _>(GoogleError::NotFound {
                        op: "t",
                        detail: String::new(),
                    })
                })
                .await;
        }
        assert!(!circuit.is_open());
        assert_eq!(calls.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn after_the_cool_down_one_probe_decides() {
        let circuit = Circuit::new("drive", settings());
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            fail(&circuit, &calls).await;
        }
        cool_down().await;
        // The probe fails: open for another cool-down.
        fail(&circuit, &calls).await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(matches!(
            succeed(&circuit, &calls).await,
            Err(GoogleError::Unavailable { .. })
        ));
        cool_down().await;
        // This probe is answered: closed, and everyone calls again.
        succeed(&circuit, &calls).await.unwrap();
        assert!(!circuit.is_open());
        succeed(&circuit, &calls).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn while_a_probe_is_out_others_are_refused() {
        let circuit = Circuit::new("drive", settings());
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            fail(&circuit, &calls).await;
        }
        cool_down().await;
        let (answer, answered) = tokio::sync::oneshot::channel::<()>();
        let probe = {
            let circuit = circuit.clone();
            tokio::spawn(async move {
                circuit
                    .call("probe", async {
                        let _ = answered.await;
                        Ok(())
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        assert!(matches!(
            succeed(&circuit, &calls).await,
            Err(GoogleError::Unavailable { .. })
        ));
        let _ = answer.send(());
        probe.await.unwrap().unwrap();
        succeed(&circuit, &calls).await.unwrap();
    }

    #[tokio::test]
    async fn a_probe_abandoned_half_way_reopens_the_circuit() {
        let circuit = Circuit::new("drive", settings());
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            fail(&circuit, &calls).await;
        }
        cool_down().await;
        let abandoned = tokio::time::timeout(
            Duration::from_millis(10),
            circuit.call("probe", std::future::pending::<Result<(), GoogleError>>()),
        )
        .await;
        assert!(abandoned.is_err());
        assert!(matches!(
            succeed(&circuit, &calls).await,
            Err(GoogleError::Unavailable { retry_in, .. }) if retry_in > COOL_DOWN / 2
        ));
    }

    #[tokio::test]
    async fn our_own_credential_store_failing_is_not_google_failing() {
        let circuit = Circuit::new("drive", settings());
        for _ in 0..10 {
            let _ = circuit
                .call("t", async {
                    Err::<(), _>(GoogleError::Transient {
                        op: "access token",
                        detail: "credential store: pool timed out".into(),
                    })
                })
                .await;
        }
        assert!(!circuit.is_open());
    }

    #[test]
    fn one_circuit_per_host() {
        let circuits = Circuits::new(settings());
        let drive = url::Url::parse("https://www.googleapis.com/").unwrap();
        let classroom = url::Url::parse("https://classroom.googleapis.com/").unwrap();
        let a = circuits.for_url(&drive);
        for _ in 0..3 {
            a.record(false);
        }
        assert!(circuits.for_url(&drive).is_open());
        assert!(!circuits.for_url(&classroom).is_open());
        assert_eq!(circuits.open_hosts(), vec!["www.googleapis.com".to_owned()]);
    }
}
