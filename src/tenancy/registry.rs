//! The registry of schools in `platform.tenants`.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Where a school is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SchoolStatus {
    Active,
    Suspended,
    Offboarding,
    Deleted,
}

impl fmt::Display for SchoolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Offboarding => "offboarding",
            Self::Deleted => "deleted",
        })
    }
}

/// A school as the registry records it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct School {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub workspace_domain: String,
    /// Written only by provisioning, from a validated slug.
    pub schema_name: String,
    /// Written only by provisioning, from a validated slug and the configured prefix.
    pub role_name: String,
    pub status: SchoolStatus,
    pub schema_version: i32,
    pub created_at: DateTime<Utc>,
}

/// Every [`School`] column of `platform.tenants`, as a string literal.
macro_rules! school_columns {
    () => {
        "id, slug, name, workspace_domain, schema_name, role_name, status, schema_version, created_at"
    };
}
pub(crate) use school_columns;

/// `SELECT` of every [`School`] column from the registry, followed by the rest of a query.
macro_rules! select_schools {
    ($rest:literal) => {
        concat!(
            "SELECT ",
            school_columns!(),
            " FROM platform.tenants ",
            $rest
        )
    };
}

/// Every school that has not been deleted, by slug.
#[tracing::instrument(skip(pool))]
pub async fn list_schools(pool: &PgPool) -> Result<Vec<School>, sqlx::Error> {
    sqlx::query_as::<_, School>(select_schools!("WHERE status <> 'deleted' ORDER BY slug"))
        .fetch_all(pool)
        .await
}

/// The school with this slug, unless deleted.
#[tracing::instrument(skip(pool))]
pub async fn find_school_by_slug(pool: &PgPool, slug: &str) -> Result<Option<School>, sqlx::Error> {
    sqlx::query_as::<_, School>(select_schools!("WHERE slug = $1 AND status <> 'deleted'"))
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// The live school whose Workspace domain this is (the `hd` claim at sign-in).
#[tracing::instrument(skip(pool))]
pub async fn find_school_by_domain(
    pool: &PgPool,
    domain: &str,
) -> Result<Option<School>, sqlx::Error> {
    sqlx::query_as::<_, School>(select_schools!(
        "WHERE workspace_domain = lower($1) AND status <> 'deleted'"
    ))
    .bind(domain)
    .fetch_optional(pool)
    .await
}

/// The school with this id, unless deleted.
#[tracing::instrument(skip(pool))]
pub async fn find_school_by_id(pool: &PgPool, id: Uuid) -> Result<Option<School>, sqlx::Error> {
    sqlx::query_as::<_, School>(select_schools!("WHERE id = $1 AND status <> 'deleted'"))
        .bind(id)
        .fetch_optional(pool)
        .await
}
