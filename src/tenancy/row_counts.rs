//! How many rows each table of a school's schema holds now: for the deletion certificate (what
//! was dropped), the check that nothing changed since an offboarding export, and the School
//! Admin's "What Invigilator holds" page.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::names::quote_ident;

/// Rows per table of `schema`, by table name. Table names come from the catalogue and are
/// quoted; one statement counts them all (a school has a few dozen tables).
#[tracing::instrument(skip(conn))]
pub async fn row_counts(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    if tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let schema = quote_ident(schema);
    // Each table's name goes in as a bound parameter; only the identifiers are in the text.
    let sql = tables
        .iter()
        .enumerate()
        .map(|(i, table)| {
            format!(
                "SELECT ${}::text, count(*) FROM {schema}.{}",
                i + 1,
                quote_ident(table)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
    for table in &tables {
        query = query.bind(table);
    }
    Ok(query.fetch_all(&mut *conn).await?.into_iter().collect())
}
