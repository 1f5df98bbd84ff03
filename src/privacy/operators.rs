//! The registry of Invigilator's own operators (`platform.operators`): who may be granted
//! support access by a school, and the bearer token each reads with.
//!
//! The token is 256 random bits shown once, when the operator is added; only its SHA-256 is
//! stored, so a copy of the database opens nothing. A disabled operator keeps their row (grants
//! and audit entries name them) but no grant of theirs opens anything.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::session::{random_token, token_sha256};
use crate::input::{EmailAddress, single_line};

/// The longest operator name: the same bound `--operator` takes, since both name an operator
/// in a school's audit log.
pub const NAME_MAX_CHARS: usize = 80;

/// One operator, without their token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Operator {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Operator {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// Why an operator could not be added or changed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("the operator's name {0}")]
    Name(crate::input::InputError),
    #[error("--email {0}")]
    Email(crate::input::InputError),
    #[error("an operator named {0:?} already exists")]
    Exists(String),
    #[error("no operator named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl OperatorError {
    /// Whether the person running the command can fix it by changing what they typed.
    pub fn is_caller_error(&self) -> bool {
        !matches!(self, Self::Database(_))
    }
}

/// The SHA-256 of a bearer token: what is stored and looked up.
const COLUMNS: &str = "id, name, email, created_at, disabled_at";

/// Adds an operator; returns them and their bearer token, the only time the token is seen.
#[tracing::instrument(skip(pool, email))]
pub async fn add(
    pool: &PgPool,
    name: &str,
    email: &str,
) -> Result<(Operator, String), OperatorError> {
    let name = single_line(name, NAME_MAX_CHARS).map_err(OperatorError::Name)?;
    let email = EmailAddress::parse(email).map_err(OperatorError::Email)?;
    let token = random_token();
    let added = sqlx::query_as::<_, Operator>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO platform.operators (name, email, token_sha256) VALUES ($1, $2, $3) \
         RETURNING {COLUMNS}"
    )))
    .bind(&name)
    .bind(email.as_str())
    .bind(token_sha256(&token))
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("operators_name_key") => {
            OperatorError::Exists(name.clone())
        }
        _ => OperatorError::Database(e),
    })?;
    Ok((added, token))
}

/// Every operator, by name.
#[tracing::instrument(skip(pool))]
pub async fn list(pool: &PgPool) -> Result<Vec<Operator>, sqlx::Error> {
    sqlx::query_as::<_, Operator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM platform.operators ORDER BY name"
    )))
    .fetch_all(pool)
    .await
}

/// The operator named exactly `name`, disabled or not.
#[tracing::instrument(skip(pool))]
pub async fn find_by_name(pool: &PgPool, name: &str) -> Result<Option<Operator>, sqlx::Error> {
    sqlx::query_as::<_, Operator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM platform.operators WHERE name = $1"
    )))
    .bind(name.trim())
    .fetch_optional(pool)
    .await
}

/// Disables `name`: from now on no grant of theirs opens anything, and their token is refused.
/// Disabling one already disabled changes nothing.
#[tracing::instrument(skip(pool))]
pub async fn disable(pool: &PgPool, name: &str) -> Result<Operator, OperatorError> {
    sqlx::query_as::<_, Operator>(sqlx::AssertSqlSafe(format!(
        "UPDATE platform.operators SET disabled_at = coalesce(disabled_at, now()) \
         WHERE name = $1 RETURNING {COLUMNS}"
    )))
    .bind(name.trim())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| OperatorError::NotFound(name.trim().to_owned()))
}

/// The operator whose bearer token this is (disabled or not: the caller tells "who are you?"
/// from "not any more"), or `None` for a token that is no one's.
#[tracing::instrument(skip_all)]
pub async fn by_token(pool: &PgPool, token: &str) -> Result<Option<Operator>, sqlx::Error> {
    sqlx::query_as::<_, Operator>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM platform.operators WHERE token_sha256 = $1"
    )))
    .bind(token_sha256(token))
    .fetch_optional(pool)
    .await
}
