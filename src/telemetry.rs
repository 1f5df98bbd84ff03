//! Logging: JSON lines for Cloud Logging in production, readable lines in development.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is a `RUST_LOG`-style directive string, already
/// validated by the configuration.
///
/// JSON output carries Cloud Logging's `severity`, an RFC 3339 time and the fields of the
/// enclosing spans (request id, school slug). Call once, at start-up.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::builder()
        .parse(filter)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(tracing_stackdriver::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second call (tests that start several apps in one process) keeps the first subscriber.
    drop(result);
}
