//! The demo's configuration: the ordinary [`Config`], read from the environment like every
//! command's, with what the demo must own laid over it — a database of its own, the in-process
//! Google, a fresh token key, development mode and its own role prefix — so `invigilator demo`
//! needs no variable set and never reads or writes a real deployment's data.

use std::collections::HashMap;
use std::str::FromStr;

use base64::Engine;
use sqlx::postgres::PgConnectOptions;

use crate::config::{Config, ConfigError, ConfigProblem};

/// Where the demo's Google listens unless `DEMO_GOOGLE_PORT` says otherwise: fixed, so the
/// addresses the demo prints are the same every run.
pub const DEFAULT_GOOGLE_PORT: u16 = 8090;

/// The demo's `TENANT_ROLE_PREFIX`. PostgreSQL roles are cluster-wide, and every run drops the
/// school roles under this prefix: a fixed prefix of its own means a reset can never touch the
/// roles of a real deployment on the same server (which must not use a prefix starting `demo_`).
/// It also names the demo's part of Redis.
pub const ROLE_PREFIX: &str = "demo_";

/// The OAuth client the demo registers in its emulator and signs in with.
pub const CLIENT_ID: &str = "invigilator-demo";
pub const CLIENT_SECRET: &str = "invigilator-demo-secret";

/// Appended to `DATABASE_URL`'s database name to name the demo's own database.
pub const DATABASE_SUFFIX: &str = "_demo";

/// `DATABASE_URL` when unset, as for every other command in development.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/invigilator";

/// Google calls per second per school unless `GOOGLE_REQUESTS_PER_SECOND` is set. The emulator
/// sets no quota, and start-up makes about 400 Drive calls: at production's 20 a second the
/// visitor would wait 20 seconds for nothing.
const REQUESTS_PER_SECOND: &str = "200";

/// Logs unless `RUST_LOG` is set: warnings only, so the printed address and accounts are not
/// scrolled away by a line per request.
const LOG_FILTER: &str = "warn";

/// The demo's configuration from the process environment, its Google on `DEMO_GOOGLE_PORT`.
pub fn from_env() -> Result<Config, ConfigError> {
    from_lookup(|name| std::env::var(name).ok())
}

/// [`from_env`] through `lookup`, which returns a variable's value if it is set.
pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let google_port = match set(&lookup, "DEMO_GOOGLE_PORT") {
        None => DEFAULT_GOOGLE_PORT,
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                problem(
                    "DEMO_GOOGLE_PORT",
                    "expected a port number from 1 to 65535".to_owned(),
                )
            })?,
    };
    // Another prefix lets a second demo run beside the first (with its own DATABASE_URL name
    // and Redis database); it must still start `demo_`, which no real deployment uses.
    let role_prefix = match set(&lookup, "DEMO_ROLE_PREFIX") {
        None => ROLE_PREFIX.to_owned(),
        Some(p) if p.starts_with(ROLE_PREFIX) => p,
        Some(_) => {
            return Err(problem(
                "DEMO_ROLE_PREFIX",
                format!("must start with `{ROLE_PREFIX}`"),
            ));
        }
    };
    for_google(
        lookup,
        &format!("http://127.0.0.1:{google_port}/"),
        &role_prefix,
    )
}

/// The demo's configuration for a Google at `google_url` (ending in `/`), with school roles
/// under `role_prefix`. Every other variable is read through `lookup` as usual.
pub fn for_google(
    lookup: impl Fn(&str) -> Option<String>,
    google_url: &str,
    role_prefix: &str,
) -> Result<Config, ConfigError> {
    let base = set(&lookup, "DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let database_url =
        sibling_database_url(&base).map_err(|message| problem("DATABASE_URL", message))?;
    let mut owned: HashMap<&'static str, String> = HashMap::from([
        ("APP_ENV", "development".to_owned()),
        ("DATABASE_URL", database_url),
        ("TENANT_ROLE_PREFIX", role_prefix.to_owned()),
        // Its data is made afresh every run, so a key nobody else knows costs nothing.
        ("TOKEN_KEYS", format!("1:{}", fresh_key()?)),
        ("GOOGLE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("GOOGLE_API_BASE_URL", google_url.to_owned()),
        ("GOOGLE_ISSUER_URL", google_url.to_owned()),
    ]);
    // The address printed and registered with the emulator's client. A malformed PORT is left
    // for the configuration to report, naming it.
    let port = set(&lookup, "PORT").map_or(Some(8080), |p| p.trim().parse::<u16>().ok());
    if let Some(port) = port {
        owned.insert("PUBLIC_URL", format!("http://localhost:{port}"));
    }
    let defaults: HashMap<&'static str, &'static str> = HashMap::from([
        ("GOOGLE_REQUESTS_PER_SECOND", REQUESTS_PER_SECOND),
        ("RUST_LOG", LOG_FILTER),
    ]);
    Config::from_lookup(|name| {
        owned
            .get(name)
            .cloned()
            .or_else(|| set(&lookup, name))
            .or_else(|| defaults.get(name).map(|v| (*v).to_owned()))
    })
}

/// A variable's value, if set and not blank (blank counts as unset, as in [`Config`]).
fn set(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

fn problem(variable: &'static str, message: String) -> ConfigError {
    ConfigError {
        problems: vec![ConfigProblem { variable, message }],
    }
}

/// 32 random bytes in base64, for `TOKEN_KEYS`.
fn fresh_key() -> Result<String, ConfigError> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice()).map_err(|e| {
        problem(
            "TOKEN_KEYS",
            format!("no random key for the demo: the system's random source failed ({e})"),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key.as_slice()))
}

/// `url` with its database name followed by `_demo`: the same server and login, another
/// database. A URL that names its database in a way this cannot change (a `dbname` parameter)
/// is refused rather than risk resetting the database it names.
pub fn sibling_database_url(url: &str) -> Result<String, String> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))?;
    let name = format!(
        "{}{DATABASE_SUFFIX}",
        options.get_database().unwrap_or("invigilator")
    );
    // PostgreSQL cuts longer names to 63 bytes: two long names could then meet.
    if name.len() > 63 {
        return Err(format!(
            "the demo's database name {name:?} is longer than PostgreSQL's 63 bytes"
        ));
    }
    let mut sibling =
        url::Url::parse(url).map_err(|e| format!("not a usable PostgreSQL URL ({e})"))?;
    sibling.set_path(&format!("/{name}"));
    let sibling = sibling.to_string();
    let reaches = PgConnectOptions::from_str(&sibling)
        .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))?;
    if reaches.get_database() != Some(name.as_str()) {
        return Err(
            "names its database with a parameter; give the database in the URL's path instead"
                .to_owned(),
        );
    }
    Ok(sibling)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::config::Environment;

    fn demo(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn needs_no_variables_and_keeps_to_its_own_database() {
        let c = demo(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(
            c.database_url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/invigilator_demo"
        );
        assert_eq!(c.tenant_role_prefix, ROLE_PREFIX);
        assert_eq!(c.public_url.as_str(), "http://localhost:8080/");
        assert_eq!(c.google_api_base_url.as_str(), "http://127.0.0.1:8090/");
        assert_eq!(c.google_client_id, CLIENT_ID);
        assert_eq!(c.log_filter, LOG_FILTER);
    }

    #[test]
    fn real_settings_are_not_used_but_servers_are() {
        let c = demo(&[
            ("APP_ENV", "production"),
            (
                "DATABASE_URL",
                "postgres://app:pw@db.internal:5433/schools?sslmode=require",
            ),
            ("REDIS_URL", "redis://cache:6379"),
            ("TENANT_ROLE_PREFIX", "live_"),
            ("GOOGLE_CLIENT_ID", "real-client"),
            ("GOOGLE_API_BASE_URL", "https://www.googleapis.com/"),
            ("PUBLIC_URL", "https://invigilator.example.org"),
            ("PORT", "18080"),
            ("DEMO_GOOGLE_PORT", "18090"),
        ])
        .unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(
            c.database_url.expose_secret(),
            "postgres://app:pw@db.internal:5433/schools_demo?sslmode=require"
        );
        assert_eq!(c.redis_url.expose_secret(), "redis://cache:6379");
        assert_eq!(c.tenant_role_prefix, ROLE_PREFIX);
        assert_eq!(c.google_client_id, CLIENT_ID);
        assert_eq!(c.google_api_base_url.as_str(), "http://127.0.0.1:18090/");
        assert_eq!(c.public_url.as_str(), "http://localhost:18080/");
    }

    #[test]
    fn each_run_has_a_key_of_its_own() {
        let (a, b) = (demo(&[]).unwrap(), demo(&[]).unwrap());
        assert_ne!(
            a.token_keys.key(a.token_keys.newest_version()),
            b.token_keys.key(b.token_keys.newest_version())
        );
    }

    #[test]
    fn bad_ports_are_named() {
        let err = demo(&[("DEMO_GOOGLE_PORT", "google")]).unwrap_err();
        assert_eq!(err.problems[0].variable, "DEMO_GOOGLE_PORT");
        let err = demo(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.problems[0].variable, "PORT");
    }

    #[test]
    fn a_database_named_by_parameter_is_refused() {
        let err = sibling_database_url("postgres://app@db/x?dbname=live").unwrap_err();
        assert!(err.contains("path"), "{err}");
        assert_eq!(
            sibling_database_url("postgres://app@localhost/inv?host=/cloudsql/p:r:i").unwrap(),
            "postgres://app@localhost/inv_demo?host=/cloudsql/p:r:i"
        );
        assert!(sibling_database_url(&format!("postgres://db/{}", "n".repeat(60))).is_err());
    }
}
