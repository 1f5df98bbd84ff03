//! Configuration: every environment variable the service reads, in one place.
//!
//! Development (the default `APP_ENV`) has working defaults for a laptop with PostgreSQL and Redis
//! on localhost. Production requires every secret and address to be given explicitly. Start-up
//! reports every missing or malformed variable at once, not one per attempt.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::KeyRing;

/// A 32-byte key used only when `APP_ENV=development` and `TOKEN_KEYS` is unset. It is public,
/// so production refuses to start with it.
const DEVELOPMENT_KEY: &[u8; 32] = b"invigilator-development-only-key";

/// Logs when `RUST_LOG` is unset: our own at info, PostgreSQL's chatty notices only if serious.
const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// The variables that hold secrets: held in `secrecy` types here, redacted in `Debug`, and
/// given from Secret Manager in a deployment (`cloudrun.yaml`, checked by a test).
pub const SECRET_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "TOKEN_KEYS",
    "GOOGLE_CLIENT_SECRET",
];

/// Where the service runs; decides which variables may fall back to defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines with Cloud Logging's `severity` field.
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

/// The service's configuration, read once at start-up.
pub struct Config {
    pub environment: Environment,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub redis_url: SecretString,
    /// The CA that signed the Redis server's certificate (`REDIS_CA_CERT`), trusted in place of
    /// the public roots for `rediss://`. Managed Redis with a private CA (Memorystore) needs it.
    pub redis_ca_cert: Option<CaCertificate>,
    pub port: u16,
    /// The address people use to reach the dashboard (sign-in redirects, cookie security).
    pub public_url: Url,
    /// Shared with every task that encrypts or decrypts credentials.
    pub token_keys: std::sync::Arc<KeyRing>,
    pub google_client_id: String,
    pub google_client_secret: SecretString,
    /// Base of the Google REST APIs (Drive, Classroom); the emulator's address in tests.
    pub google_api_base_url: Url,
    /// Google's OpenID Connect issuer; the emulator's address in tests.
    pub google_issuer_url: Url,
    /// Google API calls per second one Google account may make for one school (each Drive
    /// operator account; Classroom for the school as a whole), shared by every process (Redis).
    pub google_requests_per_second: f64,
    /// Google API calls per second (each API apart) the whole deployment may make through its
    /// one OAuth client, every school together: the Google project's own quota.
    pub google_project_requests_per_second: f64,
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,invigilator=debug`.
    pub log_filter: String,
    /// Prepended to every school's PostgreSQL role name. Roles are cluster-wide, so two
    /// deployments (or test runs) sharing one PostgreSQL cluster need different prefixes.
    pub tenant_role_prefix: String,
    /// How many schools `migrate` upgrades at once.
    pub migrate_concurrency: usize,
    /// How long a lock request may wait unapplied before the sweeper queues it again.
    pub lock_sweep_after: Duration,
    pub request_body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Proxies in front of the service that append to `X-Forwarded-For` (Cloud Run's front end
    /// is one). The client's address is the entry that many from the end; 0 ignores the header
    /// and uses the connection's peer.
    pub trusted_proxy_hops: usize,
    /// Where `GET /metrics` listens (`METRICS_ADDR`), apart from the public port; unset, no
    /// metrics are served.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// A PEM file of one or more CA certificates, read and checked at start-up so that a wrong path
/// or a file of the wrong kind is a configuration problem, not a failed connection later.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate {
    path: PathBuf,
    pem: Vec<u8>,
}

impl CaCertificate {
    /// Reads `path` and checks that every certificate in it can serve as a trust anchor.
    pub fn read(path: &Path) -> Result<Self, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;

        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown} ({e})"))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown} is not valid PEM ({e})"))?;
        if certificates.is_empty() {
            return Err(format!(
                "{shown} holds no certificate (expected PEM with -----BEGIN CERTIFICATE-----)"
            ));
        }
        // The same check the TLS connection makes, so what passes here is trusted there.
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| format!("{shown} holds a certificate that cannot be parsed ({e})"))?;
        }
        Ok(Self {
            path: path.to_owned(),
            pem,
        })
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's contents, as read at start-up.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public, not secret, but long: the path says which file it is.
        f.debug_tuple("CaCertificate").field(&self.path).finish()
    }
}

/// One variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub message: String,
}

/// Every problem found in the environment, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.variable, p.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, which returns a variable's value if it is set.
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup: &|name| lookup(name).filter(|v| !v.trim().is_empty()),
            problems: Vec::new(),
        };

        let environment = r.parse("APP_ENV", Environment::Development, |v| {
            match v.to_ascii_lowercase().as_str() {
                "development" | "dev" => Ok(Environment::Development),
                "production" | "prod" => Ok(Environment::Production),
                _ => Err("expected `development` or `production`".to_owned()),
            }
        });
        let dev = environment == Some(Environment::Development);

        let database_url = r.secret(
            "DATABASE_URL",
            dev.then_some("postgres://postgres@127.0.0.1:5432/invigilator"),
            |v| {
                if !(v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                    return Err("expected a postgres:// URL".to_owned());
                }
                // The same parser the pool uses, so what passes here connects there.
                sqlx::postgres::PgConnectOptions::from_str(v)
                    .map(|_| ())
                    .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))
            },
        );
        let database_max_connections = r.parse("DATABASE_MAX_CONNECTIONS", 10, |v| {
            parse_in_range(v, 1, 1000)
        });
        let redis_url = r.secret("REDIS_URL", dev.then_some("redis://127.0.0.1:6379"), |v| {
            let url = Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
            match url.scheme() {
                "redis" | "rediss" => Ok(()),
                other => Err(format!(
                    "scheme is `{other}`; expected redis:// or rediss://"
                )),
            }
        });
        let redis_ca_cert = r.parse("REDIS_CA_CERT", None, |v| {
            CaCertificate::read(Path::new(v)).map(Some)
        });
        // A CA with plain redis:// would be ignored, leaving the connection unencrypted.
        if let (Some(Some(_)), Some(url)) = (&redis_ca_cert, &redis_url)
            && Url::parse(url.expose_secret()).is_ok_and(|u| u.scheme() == "redis")
        {
            r.problem(
                "REDIS_CA_CERT",
                "set, but REDIS_URL is not rediss:// (TLS); use rediss:// or unset REDIS_CA_CERT",
            );
        }
        let port = r.parse("PORT", 8080u16, |v| {
            v.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| "expected a port number from 1 to 65535".to_owned())
        });
        let public_url = r.required_parse(
            "PUBLIC_URL",
            dev.then(|| format!("http://localhost:{}", port.unwrap_or(8080))),
            parse_http_url,
        );
        let token_keys = match r.value("TOKEN_KEYS").map(zeroize::Zeroizing::new) {
            Some(spec) => match KeyRing::parse(&spec) {
                Ok(ring)
                    if !dev
                        && ring
                            .versions()
                            .any(|v| ring.key(v) == Some(DEVELOPMENT_KEY)) =>
                {
                    r.problem(
                        "TOKEN_KEYS",
                        "holds the public development key; generate real keys",
                    );
                    None
                }
                Ok(ring) => Some(ring),
                Err(e) => {
                    r.problem("TOKEN_KEYS", e.to_string());
                    None
                }
            },
            None if dev => KeyRing::parse(&format!(
                "1:{}",
                base64::engine::general_purpose::STANDARD.encode(DEVELOPMENT_KEY)
            ))
            .ok(),
            None => {
                r.problem(
                    "TOKEN_KEYS",
                    "required in production: `1:<base64 of 32 random bytes>` (`openssl rand -base64 32`)",
                );
                None
            }
        };
        let google_client_id = r.required_parse(
            "GOOGLE_CLIENT_ID",
            dev.then(|| "invigilator-local".to_owned()),
            |v| Ok(v.to_owned()),
        );
        let google_client_secret = r.secret(
            "GOOGLE_CLIENT_SECRET",
            dev.then_some("invigilator-local-secret"),
            |_| Ok(()),
        );
        let google_api_base_url = r.required_parse(
            "GOOGLE_API_BASE_URL",
            Some("https://www.googleapis.com/".to_owned()),
            parse_base_url,
        );
        let google_issuer_url = r.required_parse(
            "GOOGLE_ISSUER_URL",
            Some("https://accounts.google.com".to_owned()),
            parse_http_url,
        );
        let google_requests_per_second = r.parse("GOOGLE_REQUESTS_PER_SECOND", 20.0, |v| {
            v.parse::<f64>()
                .ok()
                .filter(|n| (0.1..=1000.0).contains(n))
                .ok_or_else(|| "expected a number of calls per second from 0.1 to 1000".to_owned())
        });
        let google_project_requests_per_second =
            r.parse("GOOGLE_PROJECT_REQUESTS_PER_SECOND", 200.0, |v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|n| (0.1..=100_000.0).contains(n))
                    .ok_or_else(|| {
                        "expected a number of calls per second from 0.1 to 100000".to_owned()
                    })
            });
        let log_format = r.parse(
            "LOG_FORMAT",
            if dev {
                LogFormat::Pretty
            } else {
                LogFormat::Json
            },
            |v| match v.to_ascii_lowercase().as_str() {
                "json" => Ok(LogFormat::Json),
                "pretty" | "text" => Ok(LogFormat::Pretty),
                _ => Err("expected `json` or `pretty`".to_owned()),
            },
        );
        let log_filter = r.parse("RUST_LOG", DEFAULT_LOG_FILTER.to_owned(), |v| {
            tracing_subscriber::EnvFilter::builder()
                .parse(v)
                .map(|_| v.to_owned())
                .map_err(|e| format!("not a tracing filter ({e})"))
        });
        let tenant_role_prefix = r.parse("TENANT_ROLE_PREFIX", String::new(), |v| {
            let ok = v.len() <= 16
                && v.starts_with(|c: char| c.is_ascii_lowercase())
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if ok {
                Ok(v.to_owned())
            } else {
                Err("expected up to 16 characters a-z, 0-9 or _, starting with a letter".to_owned())
            }
        });
        let migrate_concurrency = r.parse("MIGRATE_CONCURRENCY", 4, |v| {
            parse_in_range(v, 1, 64).map(|n| n as usize)
        });
        let request_body_limit_bytes = r.parse("REQUEST_BODY_LIMIT_BYTES", 1024 * 1024, |v| {
            parse_in_range(v, 1024, 64 * 1024 * 1024).map(|n| n as usize)
        });
        let lock_sweep_after = r.parse("LOCK_SWEEP_AFTER_SECS", Duration::from_secs(60), |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| "expected a number of seconds from 1 to 3600".to_owned())
        });
        let request_timeout = r.parse("REQUEST_TIMEOUT_SECS", Duration::from_secs(30), |v| {
            parse_in_range(v, 1, 3600).map(|n| Duration::from_secs(n.into()))
        });
        let trusted_proxy_hops = r.parse("TRUSTED_PROXY_HOPS", usize::from(!dev), |v| {
            parse_in_range(v, 0, 8).map(|n| n as usize)
        });
        let metrics_addr = r.parse("METRICS_ADDR", None, |v| {
            v.parse::<std::net::SocketAddr>()
                .map(Some)
                .map_err(|_| "expected an address and port, e.g. 127.0.0.1:9090".to_owned())
        });

        if !dev {
            refuse_plain_transport(
                &mut r,
                &public_url,
                &google_api_base_url,
                &google_issuer_url,
            );
            if let Some(url) = &database_url
                && let Err(message) = database_transport_in_production(url.expose_secret())
            {
                r.problem("DATABASE_URL", message);
            }
        }

        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        // Every `None` above recorded a problem, so reaching here means all are present.
        let missing = || ConfigError {
            problems: vec![ConfigProblem {
                variable: "(internal)",
                message: "a value was neither read nor reported".to_owned(),
            }],
        };
        Ok(Self {
            environment: environment.ok_or_else(missing)?,
            database_url: database_url.ok_or_else(missing)?,
            database_max_connections: database_max_connections.ok_or_else(missing)?,
            redis_url: redis_url.ok_or_else(missing)?,
            redis_ca_cert: redis_ca_cert.ok_or_else(missing)?,
            port: port.ok_or_else(missing)?,
            public_url: public_url.ok_or_else(missing)?,
            token_keys: std::sync::Arc::new(token_keys.ok_or_else(missing)?),
            google_client_id: google_client_id.ok_or_else(missing)?,
            google_client_secret: google_client_secret.ok_or_else(missing)?,
            google_api_base_url: google_api_base_url.ok_or_else(missing)?,
            google_issuer_url: google_issuer_url.ok_or_else(missing)?,
            google_requests_per_second: google_requests_per_second.ok_or_else(missing)?,
            google_project_requests_per_second: google_project_requests_per_second
                .ok_or_else(missing)?,
            log_format: log_format.ok_or_else(missing)?,
            log_filter: log_filter.ok_or_else(missing)?,
            tenant_role_prefix: tenant_role_prefix.ok_or_else(missing)?,
            migrate_concurrency: migrate_concurrency.ok_or_else(missing)?,
            lock_sweep_after: lock_sweep_after.ok_or_else(missing)?,
            request_body_limit_bytes: request_body_limit_bytes.ok_or_else(missing)?,
            request_timeout: request_timeout.ok_or_else(missing)?,
            trusted_proxy_hops: trusted_proxy_hops.ok_or_else(missing)?,
            metrics_addr: metrics_addr.ok_or_else(missing)?,
        })
    }

    /// Whether answers tell browsers to use only https here from now on
    /// (`Strict-Transport-Security`): in production, where `PUBLIC_URL` is always https. Never
    /// in development, where a browser would remember it for `localhost` and refuse the demo.
    pub fn strict_transport_security(&self) -> bool {
        self.environment == Environment::Production
    }

    /// How PostgreSQL is reached (checked at start-up, so it parses).
    pub fn database_transport(&self) -> DatabaseTransport {
        DatabaseTransport::of(self.database_url.expose_secret())
            .unwrap_or(DatabaseTransport::Unencrypted)
    }

    /// Whether Redis is reached over TLS (`rediss://`).
    pub fn redis_tls(&self) -> bool {
        Url::parse(self.redis_url.expose_secret()).is_ok_and(|u| u.scheme() == "rediss")
    }

    /// Writes one log line of the security settings in effect, for whoever checks a deployment
    /// (never a secret: no URL with credentials, no key, only yes/no and public addresses).
    pub fn log_security_settings(&self, process: &'static str) {
        let environment = match self.environment {
            Environment::Development => "development",
            Environment::Production => "production",
        };
        tracing::info!(
            process,
            environment,
            public_url = %self.public_url,
            google_api_base_url = %self.google_api_base_url,
            google_issuer_url = %self.google_issuer_url,
            database_transport = self.database_transport().describe(),
            redis_tls = self.redis_tls(),
            redis_private_ca = self.redis_ca_cert.is_some(),
            session_cookie_secure = self.secure_cookies(),
            strict_transport_security = self.strict_transport_security(),
            content_security_policy = crate::web::security_headers::content_security_policy(
                &self.google_issuer_url.origin().ascii_serialization()
            )
            .to_str()
            .unwrap_or("default-src 'none'"),
            trusted_proxy_hops = self.trusted_proxy_hops,
            token_key_versions = self.token_keys.versions().count(),
            request_body_limit_bytes = self.request_body_limit_bytes,
            request_timeout_secs = self.request_timeout.as_secs(),
            "security settings"
        );
        if self.environment == Environment::Production && !self.redis_tls() {
            // Allowed (a VPC-only Memorystore without TLS exists), but sessions cross it.
            tracing::warn!("REDIS_URL is not rediss://: sessions travel to Redis unencrypted");
        }
    }

    /// Whether cookies must carry `Secure`: always, except plain http on localhost.
    pub fn secure_cookies(&self) -> bool {
        let local = matches!(
            self.public_url.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        );
        !(self.public_url.scheme() == "http" && local)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field(
                "database_url",
                &redact_url(self.database_url.expose_secret()),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("redis_url", &redact_url(self.redis_url.expose_secret()))
            .field("redis_ca_cert", &self.redis_ca_cert)
            .field("port", &self.port)
            .field("public_url", &self.public_url.as_str())
            .field("token_keys", &self.token_keys)
            .field("google_client_id", &self.google_client_id)
            .field("google_client_secret", &"[REDACTED]")
            .field("google_api_base_url", &self.google_api_base_url.as_str())
            .field("google_issuer_url", &self.google_issuer_url.as_str())
            .field(
                "google_requests_per_second",
                &self.google_requests_per_second,
            )
            .field(
                "google_project_requests_per_second",
                &self.google_project_requests_per_second,
            )
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("tenant_role_prefix", &self.tenant_role_prefix)
            .field("migrate_concurrency", &self.migrate_concurrency)
            .field("lock_sweep_after", &self.lock_sweep_after)
            .field("request_body_limit_bytes", &self.request_body_limit_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field("metrics_addr", &self.metrics_addr)
            .finish()
    }
}

/// In production, every address people or Google tokens travel to must be `https://`: a
/// sign-in code, a session cookie or an access token sent over plain http can be read on the
/// way. Development keeps the emulator's `http://` addresses.
fn refuse_plain_transport(
    r: &mut Reader<'_>,
    public_url: &Option<Url>,
    google_api_base_url: &Option<Url>,
    google_issuer_url: &Option<Url>,
) {
    for (variable, url) in [
        ("PUBLIC_URL", public_url),
        ("GOOGLE_API_BASE_URL", google_api_base_url),
        ("GOOGLE_ISSUER_URL", google_issuer_url),
    ] {
        if let Some(url) = url
            && url.scheme() != "https"
        {
            r.problem(
                variable,
                format!(
                    "is {}://, and production needs https:// (APP_ENV=production)",
                    url.scheme()
                ),
            );
        }
    }
}

/// How the service reaches PostgreSQL, as far as the connection's privacy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseTransport {
    /// Cloud SQL's unix socket (`host=/cloudsql/...`): the Cloud SQL connector encrypts the
    /// path to the instance, so no TLS of our own is needed.
    CloudSqlSocket,
    /// TLS is required; `verified` when the server's certificate is checked too.
    Tls { verified: bool },
    /// TLS only if the server offers it, or none at all.
    Unencrypted,
}

impl DatabaseTransport {
    /// Reads it from a `DATABASE_URL` (and `PGSSLMODE`, which the pool honours too).
    pub fn of(database_url: &str) -> Result<Self, String> {
        use sqlx::postgres::{PgConnectOptions, PgSslMode};
        let options = PgConnectOptions::from_str(database_url)
            .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))?;
        if options
            .get_socket()
            .is_some_and(|socket| socket.starts_with("/cloudsql/"))
        {
            return Ok(Self::CloudSqlSocket);
        }
        Ok(match options.get_ssl_mode() {
            PgSslMode::Require => Self::Tls { verified: false },
            PgSslMode::VerifyCa | PgSslMode::VerifyFull => Self::Tls { verified: true },
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer => Self::Unencrypted,
        })
    }

    /// For the start-up log line.
    pub fn describe(self) -> &'static str {
        match self {
            Self::CloudSqlSocket => "cloud_sql_socket",
            Self::Tls { verified: true } => "tls_verified",
            Self::Tls { verified: false } => "tls",
            Self::Unencrypted => "unencrypted",
        }
    }
}

/// Production reaches PostgreSQL over TLS (`sslmode=require` or stronger) or Cloud SQL's
/// socket; `prefer` (the default) silently falls back to plain text when TLS fails.
fn database_transport_in_production(database_url: &str) -> Result<(), String> {
    match DatabaseTransport::of(database_url)? {
        DatabaseTransport::Unencrypted => Err(
            "production needs TLS to PostgreSQL: add sslmode=require (or verify-ca, \
             verify-full), or use Cloud SQL's socket (host=/cloudsql/...) (APP_ENV=production)"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// A URL with any password (in the authority or a `password=` parameter) replaced, for logs
/// and `Debug`.
fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("REDACTED"));
            }
            if url.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "REDACTED".into()
                        } else {
                            v
                        };
                        (k.into_owned(), v.into_owned())
                    })
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        Err(_) => "[unparseable URL]".to_owned(),
    }
}

fn parse_in_range(v: &str, min: u32, max: u32) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("expected a whole number from {min} to {max}"))
}

fn parse_http_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".to_owned());
    }
    Ok(url)
}

/// Like [`parse_http_url`], and ends in `/` so relative API paths join beneath it.
fn parse_base_url(v: &str) -> Result<Url, String> {
    let mut url = parse_http_url(v)?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// Reads variables and collects problems instead of stopping at the first.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn value(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable,
            message: message.into(),
        });
    }

    /// An optional variable with a default.
    fn parse<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.value(name) {
            None => Some(default),
            Some(v) => match parse(v.trim()) {
                Ok(t) => Some(t),
                Err(message) => {
                    self.problem(name, message);
                    None
                }
            },
        }
    }

    /// A variable that must be set unless `default` is given.
    fn required_parse<T>(
        &mut self,
        name: &'static str,
        default: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.value(name).or(default) {
            None => {
                self.problem(name, "required but not set");
                None
            }
            Some(v) => match parse(v.trim()) {
                Ok(t) => Some(t),
                Err(message) => {
                    self.problem(name, message);
                    None
                }
            },
        }
    }

    /// A secret that must be set unless `default` is given; `check` validates without copying.
    fn secret(
        &mut self,
        name: &'static str,
        default: Option<&str>,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<SecretString> {
        let value = self.value(name).or(default.map(str::to_owned));
        match value {
            None => {
                self.problem(name, "required but not set");
                None
            }
            Some(v) => match check(v.trim()) {
                Ok(()) => Some(SecretString::from(v.trim().to_owned())),
                Err(message) => {
                    self.problem(name, message);
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn development_runs_with_no_variables() {
        let c = config(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.port, 8080);
        assert_eq!(c.public_url.as_str(), "http://localhost:8080/");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.migrate_concurrency, 4);
        assert!(!c.secure_cookies());
        assert_eq!(c.trusted_proxy_hops, 0, "no proxy on a laptop");
    }

    #[test]
    fn production_trusts_one_proxy_unless_told_otherwise() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let production = [
            ("APP_ENV", "production"),
            (
                "DATABASE_URL",
                "postgres://app@db/invigilator?sslmode=require",
            ),
            ("REDIS_URL", "redis://cache:6379"),
            ("PUBLIC_URL", "https://invigilator.example.org"),
            ("TOKEN_KEYS", &format!("1:{key}")),
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "secret"),
        ];
        assert_eq!(config(&production).unwrap().trusted_proxy_hops, 1);
        let mut two = production.to_vec();
        two.push(("TRUSTED_PROXY_HOPS", "2"));
        assert_eq!(config(&two).unwrap().trusted_proxy_hops, 2);
        let err = config(&[("TRUSTED_PROXY_HOPS", "-1")]).unwrap_err();
        assert_eq!(err.problems[0].variable, "TRUSTED_PROXY_HOPS");
    }

    #[test]
    fn production_names_every_missing_variable_at_once() {
        let err = config(&[("APP_ENV", "production")]).unwrap_err();
        let named: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
        for var in [
            "DATABASE_URL",
            "REDIS_URL",
            "PUBLIC_URL",
            "TOKEN_KEYS",
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
        ] {
            assert!(named.contains(&var), "{var} not reported in {err}");
        }
    }

    #[test]
    fn malformed_values_are_each_reported() {
        let err = config(&[
            ("PORT", "eighty"),
            ("DATABASE_URL", "mysql://x"),
            ("TOKEN_KEYS", "1:short"),
            ("LOG_FORMAT", "xml"),
            ("TENANT_ROLE_PREFIX", "Bad-Prefix"),
            ("MIGRATE_CONCURRENCY", "0"),
        ])
        .unwrap_err();
        let named: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            named,
            [
                "DATABASE_URL",
                "PORT",
                "TOKEN_KEYS",
                "LOG_FORMAT",
                "TENANT_ROLE_PREFIX",
                "MIGRATE_CONCURRENCY"
            ]
        );
        assert!(err.to_string().contains("PORT: expected a port number"));
    }

    #[test]
    fn production_refuses_the_public_development_key() {
        let dev_key = base64::engine::general_purpose::STANDARD.encode(DEVELOPMENT_KEY);
        let err = config(&[
            ("APP_ENV", "production"),
            (
                "DATABASE_URL",
                "postgres://app@db/invigilator?sslmode=require",
            ),
            ("REDIS_URL", "redis://cache:6379"),
            ("PUBLIC_URL", "https://invigilator.example.org"),
            ("TOKEN_KEYS", &format!("1:{dev_key}")),
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "secret"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].variable, "TOKEN_KEYS");
    }

    /// Everything production needs, each safe; a test changes one thing.
    fn production(overrides: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let mut vars: Vec<(&str, String)> = vec![
            ("APP_ENV", "production".to_owned()),
            (
                "DATABASE_URL",
                "postgres://app@db/invigilator?sslmode=verify-full".to_owned(),
            ),
            ("REDIS_URL", "rediss://cache:6378".to_owned()),
            ("PUBLIC_URL", "https://invigilator.example.org".to_owned()),
            ("TOKEN_KEYS", format!("1:{key}")),
            ("GOOGLE_CLIENT_ID", "id".to_owned()),
            ("GOOGLE_CLIENT_SECRET", "secret".to_owned()),
        ];
        for (name, value) in overrides {
            vars.retain(|(n, _)| n != name);
            vars.push((name, (*value).to_owned()));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        config(&vars)
    }

    /// The one problem production found, by variable and message.
    fn only_problem(overrides: &[(&'static str, &str)]) -> (&'static str, String) {
        let err = production(overrides)
            .err()
            .unwrap_or_else(|| panic!("{overrides:?} was accepted in production"));
        assert_eq!(err.problems.len(), 1, "{err}");
        (err.problems[0].variable, err.problems[0].message.clone())
    }

    #[test]
    fn production_accepts_https_and_tls_everywhere() {
        let c = production(&[]).unwrap();
        assert!(c.strict_transport_security());
        assert!(c.secure_cookies());
        assert!(c.redis_tls());
        assert_eq!(
            c.database_transport(),
            DatabaseTransport::Tls { verified: true }
        );
    }

    #[test]
    fn production_refuses_a_plain_http_public_url() {
        let (variable, message) = only_problem(&[("PUBLIC_URL", "http://invigilator.example.org")]);
        assert_eq!(variable, "PUBLIC_URL");
        assert!(message.contains("https://"), "{message}");
        assert!(message.contains("APP_ENV=production"), "{message}");
    }

    #[test]
    fn production_refuses_plain_http_to_google() {
        for variable in ["GOOGLE_API_BASE_URL", "GOOGLE_ISSUER_URL"] {
            let (named, message) = only_problem(&[(variable, "http://127.0.0.1:8090")]);
            assert_eq!(named, variable);
            assert!(message.contains("is http://"), "{message}");
        }
        // Both at once are both named.
        let err = production(&[
            ("GOOGLE_API_BASE_URL", "http://emulator:8090"),
            ("GOOGLE_ISSUER_URL", "http://emulator:8090"),
        ])
        .unwrap_err();
        let named: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
        assert_eq!(named, ["GOOGLE_API_BASE_URL", "GOOGLE_ISSUER_URL"]);
    }

    #[test]
    fn production_refuses_a_database_url_without_tls() {
        for url in [
            "postgres://app@db/invigilator",
            "postgres://app@db/invigilator?sslmode=prefer",
            "postgres://app@db/invigilator?sslmode=allow",
            "postgres://app@db/invigilator?sslmode=disable",
            // A socket that is not Cloud SQL's proves nothing about the path.
            "postgres://app@localhost/invigilator?host=/var/run/postgresql",
        ] {
            let (variable, message) = only_problem(&[("DATABASE_URL", url)]);
            assert_eq!(variable, "DATABASE_URL", "{url}");
            assert!(message.contains("sslmode=require"), "{message}");
            assert!(!message.contains("app@db"), "the URL is not repeated");
        }
        for (url, transport) in [
            (
                "postgres://app@db/invigilator?sslmode=require",
                DatabaseTransport::Tls { verified: false },
            ),
            (
                "postgres://app@db/invigilator?sslmode=verify-ca",
                DatabaseTransport::Tls { verified: true },
            ),
            (
                "postgres://app:pw@localhost/invigilator?host=/cloudsql/proj:europe-west2:db",
                DatabaseTransport::CloudSqlSocket,
            ),
        ] {
            let c = production(&[("DATABASE_URL", url)]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.database_transport(), transport, "{url}");
        }
    }

    #[test]
    fn development_keeps_the_emulators_plain_http_addresses() {
        let c = config(&[
            ("GOOGLE_API_BASE_URL", "http://127.0.0.1:8090"),
            ("GOOGLE_ISSUER_URL", "http://127.0.0.1:8090"),
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/invigilator",
            ),
        ])
        .unwrap();
        assert!(!c.strict_transport_security());
        assert_eq!(c.database_transport(), DatabaseTransport::Unencrypted);
        assert!(!c.redis_tls());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = config(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/invigilator"),
            ("REDIS_URL", "rediss://:redispass@cache:6379"),
            ("GOOGLE_CLIENT_SECRET", "very-secret-value"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        for secret in ["hunter2", "redispass", "very-secret-value"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn cloud_sql_socket_urls_are_accepted() {
        let c = config(&[(
            "DATABASE_URL",
            "postgres://app:pw@localhost/invigilator?host=/cloudsql/proj:europe-west2:db",
        )])
        .unwrap();
        assert!(!format!("{c:?}").contains(":pw@"));
        let c = config(&[(
            "DATABASE_URL",
            "postgres://app@localhost/invigilator?host=/cloudsql/p:r:i&password=s3cret",
        )])
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
    }

    #[test]
    fn role_prefix_is_bounded_so_role_names_fit_postgres() {
        assert!(config(&[("TENANT_ROLE_PREFIX", &"p".repeat(16))]).is_ok());
        let err = config(&[("TENANT_ROLE_PREFIX", &"p".repeat(17))]).unwrap_err();
        assert_eq!(err.problems[0].variable, "TENANT_ROLE_PREFIX");
    }

    /// A file of its own under the system's temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!(
                "invigilator-config-{}.pem",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_redis_ca_is_read_at_start_up_and_shown_only_by_its_path() {
        let pem = ca_pem();
        let file = TempFile::new(pem.as_bytes());
        let c = config(&[
            ("REDIS_URL", "rediss://cache.internal:6378"),
            ("REDIS_CA_CERT", file.path()),
        ])
        .unwrap();
        let ca = c.redis_ca_cert.as_ref().unwrap();
        assert_eq!(ca.pem(), pem.as_bytes());
        assert_eq!(ca.path(), file.0.as_path());
        let shown = format!("{c:?}");
        assert!(shown.contains(file.path()), "{shown}");
        assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
        assert!(config(&[]).unwrap().redis_ca_cert.is_none());
    }

    #[test]
    fn a_redis_ca_that_cannot_be_used_is_a_configuration_problem() {
        let problem = |vars: &[(&str, &str)]| {
            let err = config(vars).unwrap_err();
            assert_eq!(err.problems.len(), 1, "{err}");
            assert_eq!(err.problems[0].variable, "REDIS_CA_CERT");
            err.problems[0].message.clone()
        };
        let tls = ("REDIS_URL", "rediss://cache.internal:6378");
        let missing = problem(&[tls, ("REDIS_CA_CERT", "/nonexistent/server-ca.pem")]);
        assert!(
            missing.contains("cannot read /nonexistent/server-ca.pem"),
            "{missing}"
        );

        let not_pem = TempFile::new(b"this is not a certificate\n");
        let message = problem(&[tls, ("REDIS_CA_CERT", not_pem.path())]);
        assert!(message.contains("holds no certificate"), "{message}");

        let key_only = TempFile::new(
            rcgen::KeyPair::generate()
                .unwrap()
                .serialize_pem()
                .as_bytes(),
        );
        let message = problem(&[tls, ("REDIS_CA_CERT", key_only.path())]);
        assert!(message.contains("holds no certificate"), "{message}");

        let garbled =
            TempFile::new(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let message = problem(&[tls, ("REDIS_CA_CERT", garbled.path())]);
        assert!(message.contains("cannot be parsed"), "{message}");

        // Plain redis:// would ignore the CA and send everything unencrypted.
        let ca = TempFile::new(ca_pem().as_bytes());
        let message = problem(&[
            ("REDIS_URL", "redis://cache.internal:6379"),
            ("REDIS_CA_CERT", ca.path()),
        ]);
        assert!(message.contains("not rediss://"), "{message}");
    }

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        assert_eq!(config(&[]).unwrap().metrics_addr, None);
        let c = config(&[("METRICS_ADDR", "127.0.0.1:9090")]).unwrap();
        assert_eq!(c.metrics_addr, Some(([127, 0, 0, 1], 9090).into()));
        let err = config(&[("METRICS_ADDR", "9090")]).unwrap_err();
        assert_eq!(err.problems[0].variable, "METRICS_ADDR");
    }

    #[test]
    fn https_public_url_means_secure_cookies() {
        let c = config(&[("PUBLIC_URL", "https://invigilator.example.org")]).unwrap();
        assert!(c.secure_cookies());
        let c = config(&[("GOOGLE_API_BASE_URL", "http://127.0.0.1:9000/google")]).unwrap();
        assert_eq!(
            c.google_api_base_url.as_str(),
            "http://127.0.0.1:9000/google/"
        );
    }
}
