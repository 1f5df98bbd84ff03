//! `invigilator demo`: the product on one machine with no Google project. A local Google (the
//! emulator crate) runs in-process; a fictional school is built in a database of the demo's
//! own — classes, students, staff in every role, a Shared Drive with every portfolio folder
//! made — and then `serve` and `work` run in the same process (see `cli.rs`).
//!
//! Every run starts from nothing ([`reset`]): the demo's database, school roles and Redis keys
//! are the demo's by name only, so a real deployment can share the servers. Two demos on the
//! same servers would reset each other's data, so a running demo holds a lease in Redis and a
//! second one stops before touching anything. The set-up is a library function ([`prepare`])
//! so a test builds the same school the command does.

pub mod banner;
pub mod config;
pub mod new_school;
pub mod reset;
pub mod school;
pub mod setup;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use google_emulator::{Emulator, RunningEmulator, Seed};

use crate::config::Config;
use crate::lease::{Lease, LeaseError, Leases};
use crate::services::Services;

/// The lease a running demo holds (under its namespace).
const RUNNING: &str = "demo-running";

/// How long the lease lasts unless renewed: a demo killed without its Ctrl-C handling (a closed
/// terminal) stops the next one for at most this long.
/// Invigilator's own operator in the demo: they read nothing of a school until its School Admin
/// grants them support access (School set-up → Support access).
pub const SUPPORT_OPERATOR: (&str, &str) = ("Sam Carter", "sam.carter@invigilator.example");

pub const RUNNING_TTL: Duration = Duration::from_secs(15);

/// A demo school, built and ready to serve.
pub struct Demo {
    pub services: Services,
    pub built: setup::Built,
    /// The second school, created but not set up (for the School Admin's checklist).
    pub new_school: crate::tenancy::School,
    /// The demo operator's bearer token, for trying support access's read API.
    pub support_token: String,
    /// From the start of [`prepare`] to the last folder.
    pub took: Duration,
    /// This demo's claim on its database and Redis keys: keep it with [`Lease::hold_while`]
    /// ([`RUNNING_TTL`]) while the demo runs; it is released when the work ends.
    pub running: Lease,
}

/// Starts the demo's Google, with nothing in it yet, on 127.0.0.1 at the port of the
/// configuration's Google address (so that address is where it answers).
pub async fn start_google(config: &Config) -> anyhow::Result<RunningEmulator> {
    let port = config
        .google_api_base_url
        .port()
        .ok_or_else(|| anyhow!("the demo's Google address has no port"))?;
    let google =
        google_emulator::start_on(&Seed::default(), SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on 127.0.0.1:{port} for the demo's Google (DEMO_GOOGLE_PORT); \
                 is another demo running?"
                )
            })?;
    // A visitor always meets the account chooser: never skip it because a request names an
    // account (our sign-in sends no login_hint, but other links may).
    google.update_settings(|s| s.auto_consent = false);
    Ok(google)
}

/// Loads the demo school into `google`, resets the demo's database and Redis keys, and builds
/// the school with its folders. `progress` hears a line as each slow step starts.
pub async fn prepare(
    config: &Config,
    google: &Emulator,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Demo> {
    let clock = Instant::now();
    let callback = config
        .public_url
        .join("auth/callback")
        .context("PUBLIC_URL cannot take the sign-in callback's path")?;
    google
        .apply_seed(&school::seed(callback.as_str()))
        .context("the demo's Google world")?;
    google
        .apply_seed(&new_school::seed())
        .context("the new demo school's Google world")?;
    for class in &school::CLASSES {
        // Classroom's teacher group holds the class's teachers; its class folder is shared
        // with the group, so the teacher reaches it in Drive.
        google.set_group(&school::teacher_group(class), &[class.teacher.to_owned()]);
    }

    let redis = crate::redis_client::lazy_connection(config).context("REDIS_URL is unusable")?;
    let leases = Leases::new(redis.clone()).namespaced(&config.tenant_role_prefix);
    let before = claim(&leases, progress).await?;
    progress("resetting the demo's database and Redis keys…");
    reset::reset_redis(&redis, &config.tenant_role_prefix).await?;
    // The reset deleted the claim with every other key: take it again before the database is
    // touched. A demo that started in between holds it now, and this one stops.
    drop(before);
    let running = claim(&leases, &mut |_| {}).await?;
    let pool = reset::reset_database(config).await?;
    let services =
        Services::new(config, pool, redis).context("the demo's services could not start")?;

    progress(&format!("building {}…", school::NAME));
    let built = setup::build(config, &services, google, progress).await?;
    let new_school = new_school::build(config, &services, google).await?;
    let (name, email) = SUPPORT_OPERATOR;
    let (_, support_token) = crate::privacy::operators::add(&services.db, name, email)
        .await
        .context("the demo's support operator")?;
    Ok(Demo {
        services,
        built,
        new_school,
        support_token,
        took: clock.elapsed(),
        running,
    })
}

/// Claims the demo's data for this process, waiting out the lease of a demo that was killed;
/// refuses while another demo is running.
async fn claim(leases: &Leases, progress: &mut (dyn FnMut(&str) + Send)) -> anyhow::Result<Lease> {
    let unreachable =
        |e: LeaseError| anyhow::Error::new(e).context("cannot reach Redis at REDIS_URL");
    match leases.acquire(RUNNING, RUNNING_TTL, Duration::ZERO).await {
        Ok(lease) => return Ok(lease),
        Err(LeaseError::Busy { .. }) => {}
        Err(e) => return Err(unreachable(e)),
    }
    progress("another demo holds the demo's data; waiting for it to stop…");
    leases
        .acquire(RUNNING, RUNNING_TTL, RUNNING_TTL + Duration::from_secs(1))
        .await
        .map_err(|e| match e {
            LeaseError::Busy { .. } => anyhow!(
                "another `invigilator demo` is running against this PostgreSQL and Redis; \
                 stop it first (two would reset each other's data)"
            ),
            e => unreachable(e),
        })
}
