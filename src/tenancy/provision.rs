//! Creating a school: registry row, the checksums of what it is built from, schema, role,
//! grants, template and every tenant migration, in one transaction, so a failure at any step
//! leaves nothing behind.

use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

use super::names::quote_ident;
use super::names::{DomainError, SchoolName, SchoolNameError, Slug, SlugError, WorkspaceDomain};
use super::registry::{School, school_columns};
use super::schema::{TenantMigrations, build_school_sql, schema_checksum_of};
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

    // The registry row, with a row per version recording the checksum of the text this school
    // is built from, goes in only if no role or schema of these names exists yet, so the common
    // path needs no separate check. One statement: the checksums cost no extra round trip.
    let versions = migrations.checksums_up_to(migrations.latest_version());
    let inserted = sqlx::query_as::<_, School>(concat!(
        "WITH school AS ( \
           INSERT INTO platform.tenants \
             (slug, name, workspace_domain, schema_name, role_name, schema_version, schema_checksum) \
           SELECT $1, $2, $3, $4, $5, $6, $7 \
           WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $5) \
             AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $4) \
           RETURNING ",
        school_columns!(),
        "), applied AS ( \
           INSERT INTO platform.tenant_applied_migrations (tenant_id, version, name, checksum) \
           SELECT school.id, v.version, v.name, v.checksum \
           FROM school, unnest($8::int[], $9::text[], $10::bytea[]) AS v (version, name, checksum)) \
         SELECT ",
        school_columns!(),
        " FROM school"
    ))
    .bind(new.slug.as_str())
    .bind(new.name.as_str())
    .bind(new.domain.as_str())
    .bind(&schema)
    .bind(&role)
    .bind(migrations.latest_version())
    .bind(schema_checksum_of(&versions).as_slice())
    .bind(versions.iter().map(|v| v.version).collect::<Vec<_>>())
    .bind(versions.iter().map(|v| v.name.clone()).collect::<Vec<_>>())
    .bind(versions.iter().map(|v| v.checksum.to_vec()).collect::<Vec<_>>())
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| registry_conflict(e, new, &role))?;
    let Some(school) = inserted else {
        return Err(explain_refusal(&mut tx, new, role, schema).await);
    };

    // One round trip for everything else: schema, role, the service's membership of the role,
    // version 1, every later change, and the grants. Only a race with another process creating
    // the same role or schema at this moment fails here as a duplicate.
    let build = build_school_sql(&schema, &role, migrations);
    sqlx::raw_sql(AssertSqlSafe(build))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            let is_role = e.to_string().contains(&format!("role \"{role}\""));
            match sqlstate(&e).as_deref() {
                Some(DUPLICATE_OBJECT | UNIQUE_VIOLATION) if is_role => {
                    ProvisionError::RoleExists(role.clone())
                }
                Some(DUPLICATE_SCHEMA) => ProvisionError::SchemaExists(schema.clone()),
                _ => ProvisionError::SchemaBuild(e),
            }
        })?;

    tx.commit().await?;
    tracing::info!(version = school.schema_version, "school provisioned");
    Ok(school)
}

/// PostgreSQL's "… already exists" for roles (and triggers, constraints…).
const DUPLICATE_OBJECT: &str = "42710";
/// What two concurrent `CREATE ROLE`s of one name meet.
const UNIQUE_VIOLATION: &str = "23505";
/// PostgreSQL's "schema already exists".
const DUPLICATE_SCHEMA: &str = "42P06";

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Why the registry row was not inserted: a clash with a school, a role or a schema.
async fn explain_refusal(
    conn: &mut sqlx::PgConnection,
    new: &NewSchool,
    role: String,
    schema: String,
) -> ProvisionError {
    let clash = sqlx::query_as::<_, (bool, bool, bool)>(
        "SELECT EXISTS (SELECT 1 FROM platform.tenants WHERE slug = $1), \
                EXISTS (SELECT 1 FROM platform.tenants \
                        WHERE workspace_domain = $2 AND status <> 'deleted'), \
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $3)",
    )
    .bind(new.slug.as_str())
    .bind(new.domain.as_str())
    .bind(&role)
    .fetch_one(conn)
    .await;
    match clash {
        Ok((true, _, _)) => ProvisionError::SlugTaken(new.slug.to_string()),
        Ok((_, true, _)) => ProvisionError::DomainTaken(new.domain.as_str().to_owned()),
        Ok((_, _, true)) => ProvisionError::RoleExists(role),
        Ok(_) => ProvisionError::SchemaExists(schema),
        Err(e) => ProvisionError::Database(e),
    }
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

/// What dropping a school's schema removed: each table with the rows it held.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DroppedSchool {
    pub schema: String,
    pub role: String,
    pub tables: Vec<(String, i64)>,
}

/// Why a school's schema and role were not dropped.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("the registry's slug {0:?} is not a valid slug, so nothing was dropped: {1}")]
    Slug(String, #[source] SlugError),
    #[error(
        "the registry names schema {found_schema:?} and role {found_role:?} for {slug}, but its \
         slug gives {schema:?} and {role:?}; nothing was dropped"
    )]
    NamesDiffer {
        slug: String,
        found_schema: String,
        found_role: String,
        schema: String,
        role: String,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Drops `school`'s schema (every table in it) and its role, counting each table's rows first:
/// the inverse of [`provision_school`], for offboarding. The transaction is handed back
/// uncommitted, so the caller marks the registry in the same transaction (DROP SCHEMA and DROP
/// ROLE are transactional in PostgreSQL): a stop between the two can then never leave a live
/// registry row without its schema. Dropping what is already gone is not an error.
///
/// The names dropped are derived again from the validated slug and `role_prefix`
/// ([`crate::config::Config::tenant_role_prefix`]), never taken on trust from the registry: a
/// registry row naming some other schema or role is refused.
#[tracing::instrument(skip_all, fields(school = %school.slug))]
pub async fn drop_school(
    pool: &PgPool,
    school: &School,
    role_prefix: &str,
) -> Result<(Transaction<'static, Postgres>, DroppedSchool), DropError> {
    let slug = Slug::parse(&school.slug).map_err(|e| DropError::Slug(school.slug.clone(), e))?;
    let (schema_name, role_name) = (slug.schema_name(), slug.role_name(role_prefix));
    if schema_name != school.schema_name || role_name != school.role_name {
        return Err(DropError::NamesDiffer {
            slug: school.slug.clone(),
            found_schema: school.schema_name.clone(),
            found_role: school.role_name.clone(),
            schema: schema_name,
            role: role_name,
        });
    }
    let mut tx = begin_owner_tx(pool, &schema_name).await?;
    let counted: Vec<(String, i64)> = super::row_counts::row_counts(&mut tx, &schema_name)
        .await?
        .into_iter()
        .collect();
    let schema = quote_ident(&schema_name);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;\nDROP ROLE IF EXISTS {};\n",
        quote_ident(&role_name)
    )))
    .execute(&mut *tx)
    .await?;
    tracing::info!(
        tables = counted.len(),
        "school schema and role dropped (uncommitted)"
    );
    Ok((
        tx,
        DroppedSchool {
            schema: schema_name,
            role: role_name,
            tables: counted,
        },
    ))
}
