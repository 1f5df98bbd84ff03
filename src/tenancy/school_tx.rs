//! The one way into a school's data: a transaction scoped to that school's schema and role.
//!
//! [`begin_school_tx`] sets `search_path` and `role` with `set_config(…, true)`, which lasts only
//! until the transaction ends, so a pooled connection never carries one school's settings into
//! the next borrower. Inside, unqualified table names resolve to the school's schema, and the
//! school's role has no privileges on any other school's schema.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::names::quote_ident;
use super::registry::School;

/// A transaction running as one school's role with only that school's schema on the path.
pub struct SchoolTx {
    tx: Transaction<'static, Postgres>,
    school_id: Uuid,
}

impl SchoolTx {
    /// The school this transaction belongs to.
    pub fn school_id(&self) -> Uuid {
        self.school_id
    }

    /// Makes the transaction's changes permanent.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Discards the transaction's changes. Dropping a `SchoolTx` does the same.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for SchoolTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for SchoolTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// Opens a transaction for `school`'s data, as its role, with only its schema on the path.
#[tracing::instrument(skip_all, fields(school = %school.slug))]
pub async fn begin_school_tx(pool: &PgPool, school: &School) -> Result<SchoolTx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    set_scope(&mut tx, &school.schema_name, Some(&school.role_name)).await?;
    Ok(SchoolTx {
        tx,
        school_id: school.id,
    })
}

/// Carries on `tx`, which has done work of the service's own (in `platform`), as `school`'s
/// role with only its schema on the path: for a registry change and its entry in the school's
/// audit log, which must commit together or not at all.
#[tracing::instrument(skip_all, fields(school = %school.slug))]
pub async fn continue_as_school(
    mut tx: Transaction<'static, Postgres>,
    school: &School,
) -> Result<SchoolTx, sqlx::Error> {
    set_scope(&mut tx, &school.schema_name, Some(&school.role_name)).await?;
    Ok(SchoolTx {
        tx,
        school_id: school.id,
    })
}

/// Opens a read-only transaction for `school`'s data that sees one snapshot throughout
/// (`REPEATABLE READ`): for exports, which read each table more than once (JSON, then CSV) and
/// must find the same rows every time, whatever is written meanwhile.
#[tracing::instrument(skip_all, fields(school = %school.slug))]
pub async fn begin_school_snapshot_tx(
    pool: &PgPool,
    school: &School,
) -> Result<SchoolTx, sqlx::Error> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    set_scope(&mut tx, &school.schema_name, Some(&school.role_name)).await?;
    Ok(SchoolTx {
        tx,
        school_id: school.id,
    })
}

/// Opens a transaction as the schema's owner (the service's login role) with `schema` on the
/// path: for provisioning and schema migrations only, which need DDL rights no school role has.
pub(super) async fn begin_owner_tx(
    pool: &PgPool,
    schema: &str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    set_scope(&mut tx, schema, None).await?;
    Ok(tx)
}

/// The only place that sets `search_path` or `role`; both transaction-local, in one round trip.
/// `pg_temp` goes last so a temporary table can never shadow a school table.
async fn set_scope(
    conn: &mut PgConnection,
    schema: &str,
    role: Option<&str>,
) -> Result<(), sqlx::Error> {
    let search_path = format!("{}, pg_temp", quote_ident(schema));
    match role {
        Some(role) => {
            sqlx::query("SELECT set_config('search_path', $1, true), set_config('role', $2, true)")
                .bind(&search_path)
                .bind(role)
                .execute(conn)
                .await?;
        }
        None => {
            sqlx::query("SELECT set_config('search_path', $1, true)")
                .bind(&search_path)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
