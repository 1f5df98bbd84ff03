//! Creating a school: registry row, schema, role, grants, template and every tenant migration,
//! in one transaction, so a failure at any step leaves nothing behind.

use sqlx::{AssertSqlSafe, PgPool};

use super::names::{
    DomainError, SchoolName, SchoolNameError, Slug, SlugError, WorkspaceDomain, quote_ident,
};
use super::registry::{School, school_columns};
use super::schema::{TEMPLATE_SQL, TEMPLATE_VERSION, TenantMigrations, grants_sql};
use super::school_tx::begin_owner_tx;

/// A school to be created, with every field already validated.
#[derive(Debug, Clone)]
pub struct NewSchool {
    pub slug: Slug,
    pub name: SchoolName,
    pub domain: WorkspaceDomain,
}

impl NewSchool {
    /// Validates raw input, e.g. from the command line.
    pub fn parse(slug: &str, name: &str, domain: &str) -> Result<Self, ProvisionError> {
        Ok(Self {
            slug: Slug::parse(slug)?,
            name: SchoolName::parse(name)?,
            domain: WorkspaceDomain::parse(domain)?,
        })
    }
}

/// Why a school could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Slug(#[from] SlugError),
    #[error(transparent)]
    Name(#[from] SchoolNameError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("a school with slug {0:?} already exists")]
    SlugTaken(String),
    #[error("domain {0:?} already belongs to another school")]
    DomainTaken(String),
    #[error(
        "PostgreSQL role {0:?} already exists (roles are shared by every database on the server); \
         drop it, or choose another slug or TENANT_ROLE_PREFIX"
    )]
    RoleExists(String),
    #[error("schema {0:?} already exists in this database but no school owns it")]
    SchemaExists(String),
    #[error("building the school's schema failed: {0}")]
    SchemaBuild(#[source] sqlx::Error),
    #[error("database error while creating the school: {0}")]
    Database(#[from] sqlx::Error),
}

impl ProvisionError {
    /// Whether the input was at fault (exit code 2, a 4xx), rather than the system.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            Self::Slug(_)
                | Self::Name(_)
                | Self::Domain(_)
                | Self::SlugTaken(_)
                | Self::DomainTaken(_)
                | Self::RoleExists(_)
                | Self::SchemaExists(_)
        )
    }
}

/// Creates a school at `migrations.latest_version()`.
///
/// `role_prefix` is [`crate::config::Config::tenant_role_prefix`].
#[tracing::instrument(skip_all, fields(school = %new.slug))]
pub async fn provision_school(
    pool: &PgPool,
    role_prefix: &str,
    migrations: &TenantMigrations,
    new: &NewSchool,
) -> Result<School, ProvisionError> {
    let schema = new.slug.schema_name();
    let role = new.slug.role_name(role_prefix);
    let mut tx = begin_owner_tx(pool, &schema).await?;

    let school = sqlx::query_as::<_, School>(concat!(
        "INSERT INTO platform.tenants \
         (slug, name, workspace_domain, schema_name, role_name, schema_version) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        school_columns!()
    ))
    .bind(new.slug.as_str())
    .bind(new.name.as_str())
    .bind(new.domain.as_str())
    .bind(&schema)
    .bind(&role)
    .bind(migrations.latest_version())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| registry_conflict(e, new, &role))?;

    // One round trip for everything else: schema, role, the service's membership of the role,
    // version 1, every later change, and the grants. A clash with an existing role or schema
    // surfaces here as PostgreSQL's duplicate error and rolls the whole school back.
    let (s, r) = (quote_ident(&schema), quote_ident(&role));
    let mut build = format!(
        "CREATE SCHEMA {s};\nCREATE ROLE {r} NOLOGIN;\nGRANT {r} TO CURRENT_USER;\n{TEMPLATE_SQL}\n"
    );
    for m in migrations.after(TEMPLATE_VERSION) {
        build.push_str(&format!("-- {}\n{}\n", m.name, m.sql));
    }
    build.push_str(&grants_sql(&schema, &role));
    sqlx::raw_sql(AssertSqlSafe(build))
        .execute(&mut *tx)
        .await
        .map_err(|e| match sqlstate(&e).as_deref() {
            Some(DUPLICATE_OBJECT) => ProvisionError::RoleExists(role.clone()),
            Some(DUPLICATE_SCHEMA) => ProvisionError::SchemaExists(schema.clone()),
            _ => ProvisionError::SchemaBuild(e),
        })?;

    tx.commit().await?;
    tracing::info!(version = school.schema_version, "school provisioned");
    Ok(school)
}

/// PostgreSQL's "role already exists".
const DUPLICATE_OBJECT: &str = "42710";
/// PostgreSQL's "schema already exists".
const DUPLICATE_SCHEMA: &str = "42P06";

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Maps a unique violation on the registry to the field that clashed.
fn registry_conflict(err: sqlx::Error, new: &NewSchool, role: &str) -> ProvisionError {
    let constraint = err
        .as_database_error()
        .and_then(|d| d.constraint())
        .map(str::to_owned);
    match constraint.as_deref() {
        Some("tenants_slug_key" | "tenants_schema_name_key") => {
            ProvisionError::SlugTaken(new.slug.to_string())
        }
        Some("tenants_workspace_domain_key") => {
            ProvisionError::DomainTaken(new.domain.as_str().to_owned())
        }
        Some("tenants_role_name_key") => ProvisionError::RoleExists(role.to_owned()),
        _ => ProvisionError::Database(err),
    }
}
