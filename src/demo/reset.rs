//! Every run of the demo starts from nothing: its database dropped and made again, its school
//! roles dropped, its keys in Redis deleted. Each step touches only what is the demo's by name
//! — the database ending `_demo`, roles under its prefix, keys in its Redis namespace — so the
//! same PostgreSQL and Redis can hold a real deployment alongside.

use std::str::FromStr;

use anyhow::{Context, bail};
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use super::config::DATABASE_SUFFIX;
use crate::config::Config;
use crate::tenancy::names::quote_ident;

/// Drops the demo's database (connections and all) and its school roles, makes the database
/// again and applies the platform migrations; returns a pool on it.
pub async fn reset_database(config: &Config) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(config.database_url.expose_secret())
        .context("DATABASE_URL is unusable")?;
    let name = options.get_database().unwrap_or_default().to_owned();
    // Belt and braces: this drops a database, so it must be one the demo named.
    if !name.ends_with(DATABASE_SUFFIX) || config.tenant_role_prefix.is_empty() {
        bail!("refusing to reset {name:?}: not a demo database");
    }
    let mut admin = maintenance_connection(&options).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&name)
        )))
        .await
        .with_context(|| format!("cannot drop the demo's database {name:?}"))?;
    // After the database: a school role cannot be dropped while it holds grants there.
    drop_school_roles(&mut admin, &config.tenant_role_prefix).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            quote_ident(&name)
        )))
        .await
        .with_context(|| {
            format!(
                "cannot create the demo's database {name:?} (DATABASE_URL's role needs CREATEDB)"
            )
        })?;
    let _ = admin.close().await;
    let pool = crate::database::lazy_pool(config, config.database_max_connections)
        .context("DATABASE_URL is unusable")?;
    crate::tenancy::migrate_platform(&pool)
        .await
        .context("the platform migrations failed on the demo's database")?;
    Ok(pool)
}

/// A connection to the server outside the demo's database (which is about to be dropped): the
/// `postgres` maintenance database every server has, else `template1`.
async fn maintenance_connection(options: &PgConnectOptions) -> anyhow::Result<PgConnection> {
    let mut last = None;
    for database in ["postgres", "template1"] {
        match PgConnection::connect_with(&options.clone().database(database)).await {
            Ok(conn) => return Ok(conn),
            Err(e) => last = Some(e),
        }
    }
    let cause = last.map_or_else(|| anyhow::anyhow!("no attempt"), anyhow::Error::new);
    Err(cause.context(
        "cannot reach PostgreSQL at DATABASE_URL (scripts/run starts a local one; see README)",
    ))
}

/// Drops every school role under `prefix` (PostgreSQL roles outlive databases). Only school
/// roles (`{prefix}tenant_…`): a login role under the prefix is not the demo's to drop.
async fn drop_school_roles(admin: &mut PgConnection, prefix: &str) -> anyhow::Result<()> {
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)")
            .bind(format!("{prefix}tenant_"))
            .fetch_all(&mut *admin)
            .await
            .context("cannot list the demo's school roles")?;
    for role in roles {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {}",
                quote_ident(&role)
            )))
            .await
            .with_context(|| format!("cannot drop the demo's school role {role:?}"))?;
    }
    Ok(())
}

/// The glob patterns of the demo's Redis keys, for a deployment namespace (`TENANT_ROLE_PREFIX`)
/// of `a-z`, `0-9` and `_` (none of them special to a glob).
///
/// Every key the service names itself is `invigilator:{namespace}…`, and apalis keeps each
/// queue's keys (`…:active`, `…:data`, `…:workers`, …) under the queue's name, which is
/// `invigilator:{namespace}jobs:…`: one pattern covers sessions, sign-in attempts, leases,
/// cached settings and every job. The sign-in throttle's keys sit under the rate limiter's
/// `invigilator:ratelimit:` with the namespace after it. (Google's per-school rate limits are
/// keyed by school id, which is new every run; they expire on their own.)
pub fn redis_patterns(namespace: &str) -> [String; 2] {
    [
        format!("invigilator:{namespace}*"),
        format!("invigilator:ratelimit:signin:{namespace}*"),
    ]
}

/// Deletes the demo's keys from Redis; returns how many.
///
/// Not `FLUSHDB` and not a logical database of its own: the Redis at `REDIS_URL` may be
/// shared with a real deployment (FLUSHDB would empty its queues and end its sessions), and
/// managed Redis (clustered, or Memorystore with some settings) may offer only database 0. The
/// namespace makes the demo's keys findable by name instead.
pub async fn reset_redis(redis: &ConnectionManager, namespace: &str) -> anyhow::Result<u64> {
    if namespace.is_empty()
        || !namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("refusing to clear Redis for the namespace {namespace:?}");
    }
    let mut deleted = 0;
    for pattern in redis_patterns(namespace) {
        deleted += crate::redis_client::delete_matching(redis, &pattern)
            .await
            .context("cannot clear the demo's keys in Redis at REDIS_URL (scripts/run starts a local one)")?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_stay_in_the_namespace() {
        let [own, throttles] = redis_patterns("demo_");
        assert_eq!(own, "invigilator:demo_*");
        assert_eq!(throttles, "invigilator:ratelimit:signin:demo_*");
    }
}
