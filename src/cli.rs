//! The command line: `serve`, `work`, `migrate`, `tenant create|list`, `demo` and the rest.
//!
//! Exit codes: 0 success; 1 the system failed (database down, a school's upgrade failed);
//! 2 the input was wrong (bad slug, duplicate domain, malformed configuration).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::TcpListener;

use crate::audit::{self, Action, Actor, Target};
use crate::config::Config;
use crate::google::credentials;
use crate::services::Services;
use crate::tenancy::migrate::MigrateProgress;
use crate::tenancy::{
    self, NewSchool, ProvisionError, SchoolOutcome, SchoolResult, TenantMigrations,
};
use crate::web::{self, AppState, HttpLimits};
use crate::{database, telemetry};

/// Invigilator: lock and unlock students' Drive portfolio folders.
#[derive(Debug, Parser)]
#[command(name = "invigilator", version, about)]
pub struct Cli {
    /// Who is running this command, for the audit log of every school it acts on.
    #[arg(long, global = true, env = "INVIGILATOR_OPERATOR")]
    operator: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard and JSON API on $PORT.
    Serve,
    /// Run background jobs (roster sync, portfolio folders) and their timers.
    Work {
        /// Jobs run at once by this process, 1–64.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
    /// Sync one school's Classroom rosters (and folders) now, in this process.
    Sync {
        /// The school's slug.
        slug: String,
    },
    /// Apply platform migrations, then bring every school's schema to the latest version.
    Migrate {
        /// Schools upgraded at once, 1–64 [default: $MIGRATE_CONCURRENCY or 4].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: Option<u16>,
    },
    /// The registry of schools.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The keys that encrypt Google credentials.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Invigilator's own operators, whom a school's School Admin may grant support access.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Staff sessions, for a suspected breach.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Stored Google grants, for a suspected breach.
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Try Invigilator with no Google project: a local Google, a demo school in a database of
    /// its own (reset every run), and `serve` and `work` in this process on $PORT.
    Demo,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute a school's hash chain; exit 1 naming the first broken entry.
    Verify {
        /// The school's slug.
        slug: String,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Add an operator; prints their bearer token, the only time it is shown.
    Add {
        /// The name schools see in grants and in their audit log (1–80 characters).
        name: String,
        /// Their email address.
        #[arg(long)]
        email: String,
    },
    /// List operators: name, email, when added, whether disabled.
    List,
    /// Disable an operator: their token and every grant of theirs stop working at once.
    Disable {
        /// The operator's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// End every staff session and sign-in in progress, in every school: everyone must sign in
    /// again. Recorded in every school's audit log.
    EndAll,
}

#[derive(Debug, Subcommand)]
enum GrantsCommand {
    /// Revoke at Google every stored Google grant (the Drive operators' and staff's), in every
    /// school or one: each School Admin must reconnect the Drive operator afterwards. Recorded
    /// in each school's audit log.
    RevokeAll {
        /// Only this school (its slug).
        #[arg(long)]
        school: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored credential under the newest key in TOKEN_KEYS.
    Rewrap,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a school: its registry entry, schema and database role.
    Create {
        /// Permanent short name: 3–40 of a–z, 0–9 and _, starting with a letter.
        #[arg(long)]
        slug: String,
        /// The school's name as staff know it.
        #[arg(long)]
        name: String,
        /// The school's Google Workspace domain, e.g. hillside.sch.uk.
        #[arg(long)]
        domain: String,
        /// The first School Admin: they receive the role when they first sign in.
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// List schools: slug, name, domain, status and schema version.
    List,
    /// End a school's contract: first `--export FILE` (the whole school as JSON and CSV, with
    /// a manifest; the school stops at once), then `--confirm --export FILE` (once that file
    /// verifies: Google grants revoked, Redis keys removed, schema and role dropped, registry
    /// row marked deleted, and a deletion certificate written to FILE.certificate.json). An
    /// interrupted --confirm carries on where it stopped when run again. `--cancel`, before any
    /// --confirm, makes the school active again.
    Offboard {
        /// The school's slug.
        slug: String,
        /// The export file: written by the first step, verified by --confirm.
        #[arg(long, value_name = "FILE", required_unless_present = "cancel")]
        export: Option<std::path::PathBuf>,
        /// Delete the school's data, after verifying the export at FILE.
        #[arg(long)]
        confirm: bool,
        /// Stop offboarding the school (allowed only before --confirm was ever run): it becomes
        /// active again. The export file is left for the operator to destroy.
        #[arg(long, conflicts_with_all = ["export", "confirm"])]
        cancel: bool,
    },
}

/// A failure, and whether the user's input caused it.
enum Failure {
    Input(String),
    System(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::System(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::System(explain_database_error(e))
    }
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    // A command acting on a school's data is recorded in that school's log under the operator's
    // name: without one it does nothing at all.
    let operator = match &cli.command {
        Command::Sync { .. }
        | Command::Keys { .. }
        | Command::Audit { .. }
        | Command::Sessions { .. }
        | Command::Grants { .. } => match Actor::operator(cli.operator.as_deref()) {
            Ok(actor) => Some(actor),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let operator = operator.unwrap_or(Actor::System("cli"));
    // The demo reads the same environment but owns its database, Google and key.
    let config = match cli.command {
        Command::Demo => crate::demo::config::from_env(),
        _ => Config::from_env(),
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, &config.log_filter);
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Work { concurrency } => work(config, concurrency.into()).await,
        Command::Sync { slug } => sync(config, &slug, &operator).await,
        Command::Migrate { concurrency } => migrate(config, concurrency).await,
        Command::Tenant {
            command:
                TenantCommand::Create {
                    slug,
                    name,
                    domain,
                    admin_email,
                },
        } => create_school(config, &slug, &name, &domain, admin_email.as_deref()).await,
        Command::Tenant {
            command: TenantCommand::List,
        } => list_schools(config).await,
        Command::Tenant {
            command:
                TenantCommand::Offboard {
                    slug,
                    export,
                    confirm,
                    cancel,
                },
        } => {
            let step = match (export, cancel) {
                (_, true) => Ok(OffboardStep::Cancel),
                (Some(file), false) if confirm => Ok(OffboardStep::Confirm(file)),
                (Some(file), false) => Ok(OffboardStep::Export(file)),
                (None, false) => Err(Failure::Input("give --export FILE, or --cancel".into())),
            };
            match step {
                Ok(step) => offboard(config, cli.operator.as_deref(), &slug, step).await,
                Err(e) => Err(e),
            }
        }
        Command::Keys {
            command: KeysCommand::Rewrap,
        } => rewrap_keys(config, &operator).await,
        Command::Audit {
            command: AuditCommand::Verify { slug },
        } => verify_audit(config, &slug, &operator).await,
        Command::Operator { command } => operator_command(config, command).await,
        Command::Sessions {
            command: SessionsCommand::EndAll,
        } => end_all_sessions(config, &operator).await,
        Command::Grants {
            command: GrantsCommand::RevokeAll { school },
        } => revoke_all_grants(config, school.as_deref(), &operator).await,
        Command::Demo => demo(config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::System(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Failure> {
    config.log_security_settings("serve");
    let services =
        Services::connect(&config, config.database_max_connections).context("cannot start")?;
    // Refuse to start rather than fail later on a credential no key can open.
    services
        .check_key_ring(&config)
        .await
        .context("cannot start")?;
    let listener = listen(config.port).await?;
    start_metrics(&config, &services).await?;
    serve_http(&config, &services, listener, web::shutdown_signal()).await
}

/// `GET /metrics` on `METRICS_ADDR`, if set, until the process is told to stop.
async fn start_metrics(config: &Config, services: &Services) -> Result<(), Failure> {
    if let Some(addr) = config.metrics_addr {
        crate::metrics::endpoint::MetricsEndpoint::new(
            services.queues.clone(),
            services.redis.clone(),
        )
        .spawn(addr, web::shutdown_signal())
        .await
        .context("cannot start")?;
    }
    Ok(())
}

async fn listen(port: u16) -> Result<TcpListener, Failure> {
    Ok(TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("cannot listen on port {port}"))?)
}

/// The dashboard and JSON API on `listener` until `shutdown`: `serve`, and the demo's server.
async fn serve_http(
    config: &Config,
    services: &Services,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Failure> {
    let state = AppState::new(config, services).context("cannot start")?;
    let limits = HttpLimits {
        body_bytes: config.request_body_limit_bytes,
        timeout: config.request_timeout,
    };
    tracing::info!(port = config.port, public_url = %config.public_url, "serving");
    web::serve(listener, web::router(state, limits), shutdown)
        .await
        .context("the server stopped")?;
    Ok(())
}

/// `demo`: the demo's Google, its school built afresh, then the server and the job workers
/// (what `serve` and `work` run) in this process, until Ctrl-C or SIGTERM stops both.
async fn demo(config: Config) -> Result<(), Failure> {
    // Both ports before anything is reset: a second demo stops here, leaving the first alone.
    let listener = listen(config.port).await?;
    let google = crate::demo::start_google(&config).await?;
    let crate::demo::Demo {
        services,
        built,
        took,
        running,
        support_token,
        ..
    } = crate::demo::prepare(&config, google.emulator(), &mut |line| {
        println!("{line}");
    })
    .await?;
    start_metrics(&config, &services).await?;

    // One stop for both halves: the signal, or either half ending (failing) stops the other.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = std::sync::Arc::new(stop);
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            web::shutdown_signal().await;
            stop.send_replace(true);
        })
    };
    let server = async {
        let served = serve_http(&config, &services, listener, until_stopped()).await;
        stop.send_replace(true);
        served
    };
    let workers = async {
        let worked = crate::jobs::run_workers(services.clone(), 4, until_stopped())
            .await
            .context("the workers stopped");
        stop.send_replace(true);
        worked
    };
    print!(
        "{}",
        crate::demo::banner::banner(&config, &google.url(), &built, took)
    );
    let (operator, _) = crate::demo::SUPPORT_OPERATOR;
    println!(
        "Support access: {operator}, Invigilator's operator, reads nothing until a School Admin \
         grants it (School set-up → Support access); then, for example:\n  curl -H \
         'Authorization: Bearer {support_token}' {}/api/support/{}/classes\n",
        crate::demo::banner::app_url(&config),
        built.school.slug,
    );
    println!("{}", crate::demo::banner::ready_line(&config));
    // Held while both run, so a second demo cannot reset this one's data under it.
    let (served, worked) = running
        .hold_while(crate::demo::RUNNING_TTL, async {
            tokio::join!(server, workers)
        })
        .await;
    signal.abort();
    google.stop().await;
    served?;
    worked?;
    println!("demo stopped");
    Ok(())
}

async fn work(config: Config, concurrency: usize) -> Result<(), Failure> {
    config.log_security_settings("work");
    let services =
        Services::connect(&config, config.database_max_connections).context("cannot start")?;
    services
        .check_key_ring(&config)
        .await
        .context("cannot start")?;
    refuse_untrusted_redis(&services).await?;
    // Cloud Run asks every service to answer on $PORT: the worker answers its probes.
    let probes = AppState::new(&config, &services).context("cannot start")?;
    let listener = TcpListener::bind(("0.0.0.0", config.port))
        .await
        .with_context(|| format!("cannot listen on port {}", config.port))?;
    start_metrics(&config, &services).await?;
    let (stop_probes, probes_stopped) = tokio::sync::oneshot::channel::<()>();
    let probe_server = tokio::spawn(web::serve(listener, web::probe_router(probes), async {
        let _ = probes_stopped.await;
    }));
    tracing::info!(concurrency, port = config.port, "working");
    let result = crate::jobs::run_workers(services, concurrency, web::shutdown_signal())
        .await
        .context("the workers stopped");
    let _ = stop_probes.send(());
    let _ = probe_server.await;
    Ok(result?)
}

/// Stops `work` at once, with one clear line, when Redis's TLS certificate is not trusted:
/// retrying never mends that, and the job workers would otherwise restart (and log) in a quick
/// loop for minutes. Redis merely being down is left to the workers' own restarts.
async fn refuse_untrusted_redis(services: &Services) -> Result<(), Failure> {
    let mut conn = services.redis.clone();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut conn);
    match tokio::time::timeout(std::time::Duration::from_secs(5), ping).await {
        Ok(Err(e)) if crate::redis_client::certificate_rejected(&e) => {
            Err(Failure::System(anyhow::Error::new(e).context(
                "Redis's TLS certificate is not trusted; REDIS_CA_CERT must name the CA that \
                 signed it",
            )))
        }
        _ => Ok(()),
    }
}

async fn sync(config: Config, slug: &str, operator: &Actor) -> Result<(), Failure> {
    let services = Services::connect(&config, 10).context("cannot start")?;
    let school = tenancy::find_school_by_slug(&services.db, slug)
        .await?
        .ok_or_else(|| Failure::Input(format!("no school with slug {slug:?}")))?;
    // A school being offboarded (or suspended) is not written to: its export must stay the
    // whole of its data.
    if school.status != tenancy::SchoolStatus::Active {
        return Err(Failure::Input(format!(
            "{slug} is {}; only an active school is synced",
            school.status
        )));
    }
    let mut outcome = serde_json::Map::new();
    let result = sync_and_provision(&services, &school, &mut outcome).await;
    outcome.insert("succeeded".into(), result.is_ok().into());
    // Recorded whatever happened: the school's log shows every sync an operator ran.
    let mut tx = tenancy::begin_school_tx(&services.db, &school).await?;
    audit::record(
        &mut tx,
        operator,
        Action::OperatorSync,
        Some(&Target::new("school", school.id)),
        serde_json::Value::Object(outcome),
    )
    .await?;
    tx.commit().await?;
    result
}

/// The roster sync and then the folders, printing what each did and noting its counts in
/// `outcome` for the audit entry.
async fn sync_and_provision(
    services: &Services,
    school: &tenancy::School,
    outcome: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), Failure> {
    let slug = school.slug.as_str();
    let report = crate::roster::sync_school(
        &services.db,
        &services.google,
        &services.leases,
        school,
        crate::roster::Trigger::Cli,
    )
    .await
    .map_err(|e| match e {
        crate::roster::SyncError::AlreadyRunning => {
            Failure::Input(format!("{slug}: a sync is already running"))
        }
        other => Failure::System(anyhow::Error::new(other).context(format!("syncing {slug}"))),
    })?;
    for (key, value) in [
        ("courses", report.courses as u64),
        ("added", report.added),
        ("updated", report.updated),
        ("ended", report.ended),
        ("problems", report.errors.len() as u64),
    ] {
        outcome.insert(key.into(), value.into());
    }
    crate::privacy::leavers::StopUsing::from_services(services)
        .follow_up(school, &report.leavers)
        .await;
    println!(
        "{slug}: {} course(s); {} added, {} updated, {} ended; {} Classroom call(s); {} ms",
        report.courses,
        report.added,
        report.updated,
        report.ended,
        report.api_calls,
        report.duration_ms
    );
    if report.skipped.other_domain_courses > 0 {
        println!(
            "  skipped: {} course(s) of another domain",
            report.skipped.other_domain_courses
        );
    }
    if !report.skipped.outside_students.is_empty() {
        println!(
            "  skipped: {} student(s) outside the school's domain",
            report.skipped.outside_students.len()
        );
    }
    for e in &report.errors {
        println!("  problem: {e}");
    }
    let drive = crate::portfolio::shared_drive::verified_drive(
        &services.db,
        &services.redis,
        &services.namespace,
        &services.google,
        school,
    )
    .await
    .with_context(|| format!("reading {slug}'s settings"))?;
    match drive {
        Some(drive) => {
            let folders =
                crate::portfolio::provision(&services.db, &services.google, school, &drive)
                    .await
                    .with_context(|| format!("making {slug}'s folders"))?;
            outcome.insert("portfolio_folders".into(), folders.portfolio_folders.into());
            println!(
                "{slug}: folders made: {} subject, {} class, {} portfolio; {} permission(s); {} problem(s)",
                folders.subject_folders,
                folders.class_folders,
                folders.portfolio_folders,
                folders.permissions,
                folders.errors.len()
            );
        }
        None => println!(
            "{slug}: no Shared Drive set (or it did not pass its check), so no folders yet"
        ),
    }
    Ok(())
}

async fn migrate(config: Config, concurrency: Option<u16>) -> Result<(), Failure> {
    let concurrency = concurrency.map_or(config.migrate_concurrency, usize::from);
    let pool = database::lazy_pool(&config, concurrency as u32 + 1)?;
    let clock = Instant::now();
    tenancy::migrate_platform(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("platform migrations failed: {e}"))?;
    let progress = MigrateDisplay::new();
    let report =
        tenancy::migrate_schools(&pool, &TenantMigrations::embedded(), concurrency, &progress)
            .await?;
    progress.finish();

    let failed: Vec<&SchoolOutcome> = report.failed().collect();
    let adopted = match report.adopted() {
        0 => String::new(),
        n => format!(", checksums recorded for {n} school(s) provisioned before they were kept"),
    };
    println!(
        "platform up to date; {} school(s) upgraded to version {}, {} failed{adopted} ({} ms)",
        report.upgraded(),
        report.target_version,
        failed.len(),
        clock.elapsed().as_millis()
    );
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|o| o.slug.as_str()).collect();
    Err(Failure::System(anyhow::anyhow!(
        "schema upgrade failed for {} school(s): {} (each stays at its previous version; \
         see the lines above and platform.tenant_migration_runs)",
        names.len(),
        names.join(", ")
    )))
}

async fn create_school(
    config: Config,
    slug: &str,
    name: &str,
    domain: &str,
    admin_email: Option<&str>,
) -> Result<(), Failure> {
    // Validate before touching the database, so bad input never needs a connection.
    let new = NewSchool::parse(slug, name, domain).map_err(|e| Failure::Input(e.to_string()))?;
    let admin_email = match admin_email.map(crate::input::EmailAddress::parse) {
        None => None,
        Some(Err(e)) => return Err(Failure::Input(format!("--admin-email {e}"))),
        Some(Ok(email)) if !email.is_in_domain(new.domain.as_str()) => {
            return Err(Failure::Input(format!(
                "--admin-email {email} is not an address of {}",
                new.domain.as_str()
            )));
        }
        Some(Ok(email)) => Some(email.as_str().to_owned()),
    };
    let pool = database::lazy_pool(&config, 1)?;
    let school = tenancy::provision_school(
        &pool,
        &config.tenant_role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await
    .map_err(|e| match e {
        e if e.is_caller_error() => Failure::Input(e.to_string()),
        ProvisionError::Database(e) => Failure::from(e),
        e => Failure::System(e.into()),
    })?;
    if let Some(email) = &admin_email {
        let mut tx = tenancy::begin_school_tx(&pool, &school).await?;
        sqlx::query("INSERT INTO role_invitations (email, role) VALUES ($1, 'school_admin')")
            .bind(email)
            .execute(&mut *tx)
            .await?;
        crate::audit::record(
            &mut tx,
            &crate::audit::Actor::System("cli"),
            crate::audit::Action::SchoolCreated,
            Some(&crate::audit::Target::new("school", school.id)),
            serde_json::json!({"first_admin_invited": true}),
        )
        .await?;
        tx.commit().await?;
    }
    println!(
        "created school {} ({}, {}) at schema version {}",
        school.slug, school.name, school.workspace_domain, school.schema_version
    );
    match admin_email {
        Some(email) => println!("{email} becomes School Admin at their first sign-in"),
        None => println!(
            "no School Admin named: run `tenant create` with --admin-email for new schools"
        ),
    }
    Ok(())
}

async fn verify_audit(config: Config, slug: &str, operator: &Actor) -> Result<(), Failure> {
    let pool = database::lazy_pool(&config, 1)?;
    let school = tenancy::find_school_by_slug(&pool, slug)
        .await?
        .ok_or_else(|| Failure::Input(format!("no school with slug {slug:?}")))?;
    let result = audit::verify(&pool, &school).await?;
    // Written after the walk, so it is not among the entries it counts; it names the last
    // entry walked, so a reader knows exactly what was found whole (or where it broke).
    let mut tx = tenancy::begin_school_tx(&pool, &school).await?;
    audit::record(
        &mut tx,
        operator,
        Action::OperatorAuditVerified,
        Some(&Target::new("school", school.id)),
        serde_json::json!({
            "entries": result.entries,
            "last_entry_id": result.last_entry_id,
            "intact": result.first_break.is_none(),
            "first_break": result.first_break.as_ref().map(|b| b.entry_id),
        }),
    )
    .await?;
    tx.commit().await?;
    match result.first_break {
        None => {
            println!("{slug}: audit log intact ({} entries)", result.entries);
            Ok(())
        }
        Some(b) => Err(Failure::System(anyhow::anyhow!(
            "{slug}: audit log broken at entry {}: {}",
            b.entry_id,
            b.reason
        ))),
    }
}

/// `sessions end-all`: see [`crate::privacy::breach::end_all_sessions`].
async fn end_all_sessions(config: Config, operator: &Actor) -> Result<(), Failure> {
    let services = Services::connect(&config, 2).context("cannot start")?;
    let report = crate::privacy::breach::end_all_sessions(&services, operator)
        .await
        .map_err(|e| Failure::System(e.into()))?;
    for (slug, ended) in &report.per_school {
        println!("{slug}: {ended} session(s) ended");
    }
    let total: u64 = report.per_school.values().sum::<u64>() + report.unattributed;
    println!(
        "{total} session(s) ended in {} school(s); everyone must sign in again",
        report.per_school.len()
    );
    Ok(())
}

/// `grants revoke-all`: see [`crate::privacy::breach::revoke_all_grants`].
async fn revoke_all_grants(
    config: Config,
    only: Option<&str>,
    operator: &Actor,
) -> Result<(), Failure> {
    use crate::privacy::breach::{self, BreachError};
    let services = Services::connect(&config, 2).context("cannot start")?;
    let reports = breach::revoke_all_grants(&services, operator, only)
        .await
        .map_err(|e| match e {
            BreachError::NoSuchSchool(_) | BreachError::Offboarding(_) => {
                Failure::Input(e.to_string())
            }
            e => Failure::System(e.into()),
        })?;
    let mut retrying = 0;
    for report in &reports {
        let outcomes: Vec<String> = report
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("{n} {outcome}"))
            .collect();
        retrying += report.outcomes.get("retry_later").copied().unwrap_or(0);
        println!(
            "{}: {} grant(s) set aside; {}",
            report.slug,
            report.set_aside,
            if outcomes.is_empty() {
                "none to revoke".to_owned()
            } else {
                outcomes.join(", ")
            }
        );
    }
    if retrying > 0 {
        println!(
            "{retrying} grant(s) Google did not take now: unused from now on, and retried by              `invigilator work` every minute"
        );
    }
    Ok(())
}

/// Which step of `tenant offboard` was asked for.
enum OffboardStep {
    Export(std::path::PathBuf),
    Confirm(std::path::PathBuf),
    Cancel,
}

/// `tenant offboard`: the export, the deletion (`--confirm`) or `--cancel`; see
/// [`TenantCommand`].
async fn offboard(
    config: Config,
    operator: Option<&str>,
    slug: &str,
    step: OffboardStep,
) -> Result<(), Failure> {
    use crate::privacy::offboarding::{self, OffboardError, Offboarder};
    let operator =
        crate::audit::Actor::operator(operator).map_err(|e| Failure::Input(e.to_string()))?;
    let failure = |e: OffboardError| {
        if e.is_caller_error() {
            Failure::Input(e.to_string())
        } else {
            Failure::System(anyhow::Error::new(e).context(format!("offboarding {slug}")))
        }
    };
    if let OffboardStep::Cancel = step {
        let pool = database::lazy_pool(&config, 2)?;
        offboarding::cancel(&pool, slug, &operator)
            .await
            .map_err(failure)?;
        println!(
            "{slug} is active again; its offboarding was cancelled (destroy any export file made)"
        );
        return Ok(());
    }
    let services = Services::connect(&config, 4).context("cannot start")?;
    let ctx = Offboarder {
        pool: &services.db,
        redis: &services.redis,
        namespace: &services.namespace,
        google: &services.google,
        role_prefix: &config.tenant_role_prefix,
    };
    let file = match step {
        OffboardStep::Export(file) => {
            let report =
                offboarding::export(&services.db, &services.leases, slug, &operator, &file)
                    .await
                    .map_err(failure)?;
            println!(
                "{slug}: exported {} table(s), {} row(s), {} bytes to {}",
                report.tables,
                report.rows,
                report.bytes,
                report.path.display()
            );
            println!("sha256 {}", report.sha256);
            println!(
                "{slug} is now offboarding (no sign-in, no sync); when the school has its copy, \
                 run `invigilator tenant offboard {slug} --confirm --export {}` to delete its \
                 data, or `--cancel` to make it active again",
                report.path.display()
            );
            return Ok(());
        }
        OffboardStep::Confirm(file) => file,
        OffboardStep::Cancel => return Ok(()),
    };
    let done = offboarding::confirm(&ctx, slug, &operator, &file)
        .await
        .map_err(failure)?;
    if done.already_done {
        println!("{slug} was already offboarded; its certificate is kept in the platform");
    } else {
        if done.resumed {
            println!("{slug}: carried on from where the earlier run stopped");
        }
        println!(
            "{slug}: deleted; deletion certificate written to {}",
            done.certificate_path.display()
        );
    }
    Ok(())
}

async fn list_schools(config: Config) -> Result<(), Failure> {
    let pool = database::lazy_pool(&config, 1)?;
    let schools = tenancy::list_schools(&pool).await?;
    if schools.is_empty() {
        println!("no schools yet; add one with `invigilator tenant create`");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = schools
        .into_iter()
        .map(|s| {
            [
                s.slug,
                s.name,
                s.workspace_domain,
                s.status.to_string(),
                s.schema_version.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(["SLUG", "NAME", "DOMAIN", "STATUS", "VERSION"], &rows)
    );
    Ok(())
}

async fn rewrap_keys(config: Config, operator: &Actor) -> Result<(), Failure> {
    let pool = database::lazy_pool(&config, 2)?;
    credentials::check_key_ring(&pool, &config.token_keys)
        .await
        .map_err(|e| Failure::System(e.into()))?;
    let report = credentials::rewrap_all(&pool, &config.token_keys, operator)
        .await
        .map_err(|e| Failure::System(e.into()))?;
    for (school, count) in &report.per_school {
        println!("{school}: {count} secret(s) re-encrypted");
    }
    println!(
        "{} secret(s) in {} school(s) now under key version {}",
        report.total(),
        report.per_school.len(),
        config.token_keys.newest_version()
    );
    Ok(())
}

async fn operator_command(config: Config, command: OperatorCommand) -> Result<(), Failure> {
    use crate::privacy::operators;
    let pool = database::lazy_pool(&config, 1)?;
    let refused = |e: operators::OperatorError| match e {
        e if e.is_caller_error() => Failure::Input(e.to_string()),
        operators::OperatorError::Database(e) => Failure::from(e),
        e => Failure::System(e.into()),
    };
    match command {
        OperatorCommand::Add { name, email } => {
            let (added, token) = operators::add(&pool, &name, &email)
                .await
                .map_err(refused)?;
            println!("added operator {} ({})", added.name, added.email);
            println!("bearer token (shown once; keep it in a password manager): {token}");
        }
        OperatorCommand::List => {
            let all = operators::list(&pool).await?;
            if all.is_empty() {
                println!("no operators yet; add one with `invigilator operator add`");
                return Ok(());
            }
            let rows: Vec<[String; 4]> = all
                .into_iter()
                .map(|o| {
                    [
                        o.name,
                        o.email,
                        o.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                        o.disabled_at
                            .map(|d| format!("disabled {}", d.format("%Y-%m-%d %H:%M UTC")))
                            .unwrap_or_else(|| "active".to_owned()),
                    ]
                })
                .collect();
            print!(
                "{}",
                render_table(["NAME", "EMAIL", "ADDED", "STATUS"], &rows)
            );
        }
        OperatorCommand::Disable { name } => {
            let disabled = operators::disable(&pool, &name).await.map_err(refused)?;
            println!(
                "operator {} is disabled: their token and grants no longer open anything",
                disabled.name
            );
        }
    }
    Ok(())
}

/// Left-aligned columns separated by two spaces, widths from the widest cell.
pub(crate) fn render_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Turns "relation does not exist" into the step the operator missed.
fn explain_database_error(e: sqlx::Error) -> anyhow::Error {
    let missing_table = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "42P01");
    if missing_table {
        anyhow::anyhow!("the database has no school registry yet; run `invigilator migrate` first")
    } else {
        anyhow::Error::new(e).context("database error")
    }
}

/// A progress bar on a terminal; one plain line per school otherwise (logs, CI, Cloud Run jobs).
struct MigrateDisplay {
    bar: Option<ProgressBar>,
}

impl MigrateDisplay {
    fn new() -> Self {
        Self {
            bar: std::io::stderr().is_terminal().then(ProgressBar::hidden),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl MigrateProgress for MigrateDisplay {
    fn started(&self, schools: usize) {
        match &self.bar {
            Some(bar) if schools > 0 => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(schools as u64);
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} schools {msg} ({eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            _ if schools == 0 => println!("every school is at the latest schema version"),
            _ => println!("upgrading {schools} school(s)"),
        }
    }

    fn finished(&self, outcome: &SchoolOutcome) {
        // A school provisioned before checksums were kept has this build's recorded for it.
        let adopted = if outcome.checksums_adopted {
            format!(
                "; checksums of versions 1–{} recorded from this build",
                outcome.from_version
            )
        } else {
            String::new()
        };
        let line = match &outcome.result {
            SchoolResult::Upgraded => format!(
                "{}: version {} → {} ({} ms){adopted}",
                outcome.slug,
                outcome.from_version,
                outcome.to_version,
                outcome.elapsed.as_millis()
            ),
            SchoolResult::ChecksumsRecorded => format!(
                "{}: at version {}{adopted}",
                outcome.slug, outcome.to_version
            ),
            SchoolResult::AlreadyCurrent => {
                format!(
                    "{}: already at version {}",
                    outcome.slug, outcome.to_version
                )
            }
            SchoolResult::Failed(reason) => format!(
                "{}: FAILED, stays at version {}: {reason}",
                outcome.slug, outcome.from_version
            ),
        };
        match &self.bar {
            Some(bar) => {
                if matches!(outcome.result, SchoolResult::Failed(_)) {
                    bar.println(line);
                }
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up() {
        let rows = [
            ["hillside".to_owned(), "Hillside Academy".to_owned()],
            ["oak".to_owned(), "Oak".to_owned()],
        ];
        assert_eq!(
            render_table(["SLUG", "NAME"], &rows),
            "SLUG      NAME\nhillside  Hillside Academy\noak       Oak\n"
        );
    }

    #[test]
    fn command_line_parses() {
        Cli::command_for_tests().debug_assert();
    }

    impl Cli {
        fn command_for_tests() -> clap::Command {
            <Self as clap::CommandFactory>::command()
        }
    }
}
