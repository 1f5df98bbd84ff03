//! One way to call Google, for Drive and Classroom alike: wait for the school's shared rate
//! limit, send with `Retry-After` captured, classify the answer ([`GoogleError::from_api`]),
//! retry under the policy ([`super::retry`]) with a token refresh after a 401, and record a
//! credential Google refused. An operation is then its request and nothing else; paging is
//! [`all_pages`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::circuit::Circuit;
use super::error::GoogleError;
use super::rate_limit::{Limit, SharedLimits};
use super::retry::{RetryAfter, RetryPolicy, with_retry};
use super::token::TokenSource;
use super::{REQUEST_TIMEOUT, guard_call, record_refusal};

/// What a request built by a `google-*` crate answers: the HTTP response and the decoded body.
pub(super) type Answer<T> = Result<(google_drive3::common::Response, T), google_drive3::Error>;

/// Calls Google as one account, within the shared limits its calls count against.
pub(super) struct ApiCaller {
    /// Which Google API (`drive`, `classroom`), for the metrics.
    api: &'static str,
    tokens: TokenSource,
    limits: SharedLimits,
    /// The account's limit for the school, and the project's.
    limits_used: Vec<Limit>,
    /// The first call's slot was taken when the account was chosen (see
    /// [`super::GoogleClients::drive`]); set until that call is made.
    first_slot_taken: AtomicBool,
    retry: RetryPolicy,
    /// Fails calls at once while Google's host is not answering.
    circuit: Circuit,
    /// Requests sent, every attempt counted.
    sent: AtomicU64,
}

impl ApiCaller {
    pub(super) fn new(
        api: &'static str,
        tokens: TokenSource,
        limits: SharedLimits,
        limits_used: Vec<Limit>,
        retry: RetryPolicy,
        circuit: Circuit,
    ) -> Self {
        Self {
            api,
            tokens,
            limits,
            limits_used,
            first_slot_taken: AtomicBool::new(false),
            retry,
            circuit,
            sent: AtomicU64::new(0),
        }
    }

    /// Says that the first call's slot is already taken.
    pub(super) fn with_first_slot_taken(self, taken: bool) -> Self {
        self.first_slot_taken.store(taken, Ordering::Relaxed);
        self
    }

    /// The account the calls are made as.
    pub(super) fn account(&self) -> &str {
        self.tokens.account()
    }

    /// The stored credential the calls are made with.
    pub(super) fn credential_id(&self) -> uuid::Uuid {
        self.tokens.credential_id()
    }

    /// Requests sent so far, retries included.
    pub(super) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends `request` (built afresh for each attempt, with the delegate it is given), retrying
    /// as the policy says.
    pub(super) async fn send<T, F, Fut>(
        &self,
        op: &'static str,
        request: F,
    ) -> Result<T, GoogleError>
    where
        F: Fn(RetryAfter) -> Fut,
        Fut: Future<Output = Answer<T>>,
    {
        self.with_retries(|| self.attempt(op, &request)).await
    }

    /// One attempt at `request`: throttled, bounded in time, classified. For operations whose
    /// attempts do more than send (see [`Self::with_retries`]).
    pub(super) async fn attempt<T, F, Fut>(
        &self,
        op: &'static str,
        request: &F,
    ) -> Result<T, GoogleError>
    where
        F: Fn(RetryAfter) -> Fut,
        Fut: Future<Output = Answer<T>>,
    {
        let retry_after = RetryAfter::default();
        let started = std::time::Instant::now();
        // The wait for the rate limit counts against the attempt's time, as the call does: a
        // quota that stays busy ends the attempt as a transient failure, retried later.
        let limited = guard_call(op, REQUEST_TIMEOUT, async {
            if !self.first_slot_taken.swap(false, Ordering::Relaxed) {
                self.limits.acquire(&self.limits_used).await;
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            request(retry_after.clone())
                .await
                .map(|(_, body)| body)
                .map_err(|e| GoogleError::from_api(op, e, retry_after.delay()))
        });
        // Boxed: the Google crates' request futures are large, and one more layer holding one
        // by value overflows a debug build's 2 MiB test-thread stack.
        let result = self.circuit.call(op, Box::pin(limited)).await;
        crate::metrics::google_call(self.api, &result, started.elapsed());
        result
    }

    /// Runs `attempt` under the retry policy (a fresh access token once after a 401), and
    /// records a credential Google refused so nothing retries it until its owner reconnects.
    pub(super) async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, GoogleError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GoogleError>>,
    {
        let result = with_retry(
            &self.retry,
            self.tokens.account(),
            || self.tokens.invalidate(),
            attempt,
        )
        .await;
        record_refusal(&self.tokens, result).await
    }
}

/// Every page of a listing: `page` is asked for each page token in turn (`None` first) and
/// answers with that page's items and the next token. Stops after `max_pages` pages even if
/// Google keeps sending tokens. Returns the items and the number of pages read.
pub(super) async fn all_pages<T, F, Fut>(
    op: &'static str,
    max_pages: u32,
    mut page: F,
) -> Result<(Vec<T>, u32), GoogleError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), GoogleError>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for read in 1..=max_pages {
        let (more, next) = page(token.take()).await?;
        items.extend(more);
        match next.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok((items, read)),
        }
    }
    Err(GoogleError::Transient {
        op,
        detail: format!("Google kept returning page tokens after {max_pages} pages"),
    })
}
