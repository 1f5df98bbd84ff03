//! The credential store: Google grants kept in each school's `google_credentials`, every secret
//! encrypted with [`crate::crypto`] and bound to its school, row and column.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::crypto::{Binding, CryptoError, KeyRing, version_of};
use crate::tenancy::{School, SchoolTx, begin_school_tx, list_schools};

const TABLE: &str = "google_credentials";

/// What a credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Purpose {
    /// A staff member's own Classroom access.
    SignIn,
    /// The school's Drive work.
    DriveOperator,
}

/// How the credential gets access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CredentialKind {
    /// A person's refresh token.
    Oauth,
    /// A service-account key (JWT-bearer grant).
    ServiceAccount,
}

/// Whether Google still accepts the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    NeedsReconnect,
    /// Its holder left: nothing uses it, and it is being revoked at Google (`privacy::leavers`).
    Revoking,
}

/// A credential's description, without its secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credential {
    pub id: Uuid,
    pub staff_id: Option<Uuid>,
    pub kind: CredentialKind,
    pub purpose: Purpose,
    pub account_email: String,
    pub scopes: Vec<String>,
    pub status: CredentialStatus,
    pub status_reason: Option<String>,
    /// When it was first stored (connected).
    pub created_at: DateTime<Utc>,
}

/// A credential with its secrets decrypted, for the token source only.
pub struct UnsealedCredential {
    pub credential: Credential,
    /// The refresh token, or the service-account key JSON.
    pub secret: SecretString,
    /// The secret as stored, identifying this grant: a reconnect replaces it.
    pub sealed: String,
    pub access_token: Option<(SecretString, DateTime<Utc>)>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no such credential")]
    NotFound,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the service-account key is not a Google JSON key file: {0}")]
    BadServiceAccountKey(String),
    #[error("database error in the credential store: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    credential: Credential,
    refresh_token: Option<String>,
    service_account_key: Option<String>,
    access_token: Option<String>,
    access_token_expires_at: Option<DateTime<Utc>>,
}

/// `SELECT` of a full credential row, followed by the rest of the query.
macro_rules! select_rows {
    ($rest:literal) => {
        concat!(
            "SELECT id, staff_id, kind, purpose, account_email, scopes, status, status_reason, \
             created_at, refresh_token, service_account_key, access_token, access_token_expires_at \
             FROM google_credentials ",
            $rest
        )
    };
}

fn binding(school: Uuid, row: Uuid, column: &'static str) -> Binding<'static> {
    Binding {
        school,
        table: TABLE,
        row,
        column,
    }
}

/// Stores (or replaces) a person's OAuth grant for `purpose`; returns the credential id.
#[tracing::instrument(skip_all, fields(school = %tx.school_id(), ?purpose))]
pub async fn save_oauth(
    tx: &mut SchoolTx,
    keys: &KeyRing,
    staff_id: Uuid,
    purpose: Purpose,
    account_email: &str,
    scopes: &[String],
    refresh_token: &SecretString,
) -> Result<Uuid, CredentialError> {
    let school = tx.school_id();
    let existing: Option<Uuid> = match purpose {
        Purpose::SignIn => {
            sqlx::query_scalar(
                "SELECT id FROM google_credentials WHERE staff_id = $1 AND purpose = 'sign_in'",
            )
            .bind(staff_id)
            .fetch_optional(&mut **tx)
            .await?
        }
        Purpose::DriveOperator => existing_operator(tx, account_email).await?,
    };
    let id = existing.unwrap_or_else(Uuid::new_v4);
    let sealed = keys.encrypt(refresh_token, binding(school, id, "refresh_token"))?;
    sqlx::query(
        "INSERT INTO google_credentials (id, staff_id, kind, purpose, account_email, scopes, refresh_token) \
         VALUES ($1, $2, 'oauth', $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET staff_id = EXCLUDED.staff_id, kind = 'oauth', \
             account_email = EXCLUDED.account_email, scopes = EXCLUDED.scopes, \
             refresh_token = EXCLUDED.refresh_token, service_account_key = NULL, \
             access_token = NULL, access_token_expires_at = NULL, \
             status = 'active', status_reason = NULL, updated_at = now()",
    )
    .bind(id)
    .bind(staff_id)
    .bind(purpose)
    .bind(account_email.to_ascii_lowercase())
    .bind(scopes)
    .bind(sealed)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The Drive operator row of `account` (not one being revoked): connecting the account again
/// replaces its grant in place.
async fn existing_operator(tx: &mut SchoolTx, account: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM google_credentials WHERE purpose = 'drive_operator' \
             AND account_email = lower($1) AND status <> 'revoking'",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await
}

/// Reads a service-account key file's account (`client_email`), refusing a file that is not a
/// Google JSON key.
pub fn service_account_email(key_file: &SecretString) -> Result<String, CredentialError> {
    let parsed: serde_json::Value = serde_json::from_str(key_file.expose_secret())
        .map_err(|e| CredentialError::BadServiceAccountKey(format!("not JSON ({e})")))?;
    let email = parsed["client_email"]
        .as_str()
        .filter(|e| e.contains('@'))
        .ok_or_else(|| CredentialError::BadServiceAccountKey("no client_email".into()))?
        .to_ascii_lowercase();
    for field in ["private_key", "token_uri"] {
        if !parsed[field].is_string() {
            return Err(CredentialError::BadServiceAccountKey(format!("no {field}")));
        }
    }
    Ok(email)
}

/// Stores a service-account key file as one of the school's Drive operators (replacing that
/// account's key if it is one already); returns the credential id.
#[tracing::instrument(skip(tx, keys, key_file), fields(school = %tx.school_id()))]
pub async fn save_service_account(
    tx: &mut SchoolTx,
    keys: &KeyRing,
    key_file: &SecretString,
    scopes: &[String],
) -> Result<Uuid, CredentialError> {
    let email = service_account_email(key_file)?;
    let school = tx.school_id();
    let id = existing_operator(tx, &email)
        .await?
        .unwrap_or_else(Uuid::new_v4);
    let sealed = keys.encrypt(key_file, binding(school, id, "service_account_key"))?;
    sqlx::query(
        "INSERT INTO google_credentials (id, kind, purpose, account_email, scopes, service_account_key) \
         VALUES ($1, 'service_account', 'drive_operator', $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET staff_id = NULL, kind = 'service_account', \
             account_email = EXCLUDED.account_email, scopes = EXCLUDED.scopes, \
             service_account_key = EXCLUDED.service_account_key, refresh_token = NULL, \
             access_token = NULL, access_token_expires_at = NULL, \
             status = 'active', status_reason = NULL, updated_at = now()",
    )
    .bind(id)
    .bind(email.to_ascii_lowercase())
    .bind(scopes)
    .bind(sealed)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The most Drive operator accounts a school may connect.
pub const MAX_DRIVE_OPERATORS: usize = 8;

/// The school's Drive operator accounts, in the order they were connected, without those being
/// revoked (removed, or their connecting School Admin left).
pub async fn drive_operators(tx: &mut SchoolTx) -> Result<Vec<Credential>, sqlx::Error> {
    sqlx::query_as::<_, Credential>(
        "SELECT id, staff_id, kind, purpose, account_email, scopes, status, status_reason, \
             created_at FROM google_credentials WHERE purpose = 'drive_operator' \
             AND status <> 'revoking' ORDER BY created_at, id",
    )
    .fetch_all(&mut **tx)
    .await
}

/// A staff member's sign-in credential, if stored.
pub async fn sign_in_credential(
    tx: &mut SchoolTx,
    staff_id: Uuid,
) -> Result<Option<Credential>, CredentialError> {
    Ok(sqlx::query_as::<_, Credential>(
        "SELECT id, staff_id, kind, purpose, account_email, scopes, status, status_reason, \
             created_at FROM google_credentials WHERE staff_id = $1 AND purpose = 'sign_in'",
    )
    .bind(staff_id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Loads and decrypts a credential.
pub async fn unseal(
    tx: &mut SchoolTx,
    keys: &KeyRing,
    id: Uuid,
) -> Result<UnsealedCredential, CredentialError> {
    let row = sqlx::query_as::<_, Row>(select_rows!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(CredentialError::NotFound)?;
    let school = tx.school_id();
    let (secret, sealed) = match (&row.refresh_token, &row.service_account_key) {
        (Some(t), _) => (
            keys.decrypt(t, binding(school, id, "refresh_token"))?,
            t.clone(),
        ),
        (None, Some(k)) => (
            keys.decrypt(k, binding(school, id, "service_account_key"))?,
            k.clone(),
        ),
        (None, None) => return Err(CredentialError::NotFound),
    };
    let access_token = match (&row.access_token, row.access_token_expires_at) {
        (Some(t), Some(expires)) => Some((
            keys.decrypt(t, binding(school, id, "access_token"))?,
            expires,
        )),
        _ => None,
    };
    Ok(UnsealedCredential {
        credential: row.credential,
        secret,
        sealed,
        access_token,
    })
}

/// Keeps a fresh access token (encrypted) so every process can use it until it expires.
pub async fn store_access_token(
    tx: &mut SchoolTx,
    keys: &KeyRing,
    id: Uuid,
    token: &SecretString,
    expires_at: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let sealed = keys.encrypt(token, binding(tx.school_id(), id, "access_token"))?;
    sqlx::query(
        "UPDATE google_credentials SET access_token = $2, access_token_expires_at = $3, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a credential as refused by Google: nothing retries it until the person reconnects.
///
/// `sealed` is the stored secret the refusal was for: if the person reconnected meanwhile (a new
/// secret in the same row), the new grant is left alone. A Drive operator account that was in
/// use is set aside: its work goes to the school's other accounts, and the audit log says so
/// (`drive_operator.set_aside`, in the same transaction), which is how the School Admin's pages
/// learn of it.
#[tracing::instrument(skip(tx, sealed), fields(school = %tx.school_id()))]
pub async fn mark_needs_reconnect(
    tx: &mut SchoolTx,
    id: Uuid,
    reason: &str,
    sealed: Option<&str>,
) -> Result<(), CredentialError> {
    let before: Option<(CredentialStatus, Purpose)> = sqlx::query_as(
        "SELECT status, purpose FROM google_credentials WHERE id = $1 AND status <> 'revoking' \
           AND ($2::text IS NULL OR refresh_token = $2 OR service_account_key = $2) FOR UPDATE",
    )
    .bind(id)
    .bind(sealed)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((status, purpose)) = before else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE google_credentials SET status = 'needs_reconnect', status_reason = $2, \
             access_token = NULL, access_token_expires_at = NULL, updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    let set_aside = (status == CredentialStatus::Active).then_some(purpose);
    if set_aside == Some(Purpose::DriveOperator) {
        audit::record(
            tx,
            &Actor::System("google"),
            Action::DriveOperatorSetAside,
            Some(&Target::new("google_credential", id)),
            serde_json::json!({"reason": reason}),
        )
        .await?;
    }
    Ok(())
}

/// What `keys rewrap` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// School slug → secrets re-encrypted.
    pub per_school: BTreeMap<String, usize>,
}

impl RewrapReport {
    pub fn total(&self) -> usize {
        self.per_school.values().sum()
    }
}

/// Re-encrypts every stored secret not already under the newest key, school by school. Each
/// school where a secret was opened and sealed again has it recorded in its own audit log as
/// `operator`'s doing, with the count, in the same transaction as the change.
pub async fn rewrap_all(
    pool: &PgPool,
    keys: &KeyRing,
    operator: &Actor,
) -> Result<RewrapReport, CredentialError> {
    let mut report = RewrapReport::default();
    for school in list_schools(pool).await? {
        let count = rewrap_school(pool, keys, &school, operator).await?;
        report.per_school.insert(school.slug.clone(), count);
    }
    Ok(report)
}

#[tracing::instrument(skip(pool, keys, operator), fields(school = %school.slug))]
async fn rewrap_school(
    pool: &PgPool,
    keys: &KeyRing,
    school: &School,
    operator: &Actor,
) -> Result<usize, CredentialError> {
    let newest = keys.newest_version();
    let mut tx = begin_school_tx(pool, school).await?;
    let rows = sqlx::query_as::<_, Row>(select_rows!("FOR UPDATE"))
        .fetch_all(&mut *tx)
        .await?;
    let mut rewrapped = 0;
    for row in rows {
        let id = row.credential.id;
        for (column, stored) in [
            ("refresh_token", row.refresh_token),
            ("service_account_key", row.service_account_key),
            ("access_token", row.access_token),
        ] {
            let Some(stored) = stored.filter(|s| version_of(s) != Some(newest)) else {
                continue;
            };
            let plain = keys.decrypt(&stored, binding(school.id, id, column))?;
            let sealed = keys.encrypt(&plain, binding(school.id, id, column))?;
            // The column name comes from the fixed list above, never from input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE google_credentials SET {column} = $2 WHERE id = $1"
            )))
            .bind(id)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
            rewrapped += 1;
        }
    }
    if rewrapped > 0 {
        audit::record(
            &mut tx,
            operator,
            Action::OperatorKeysRewrapped,
            Some(&Target::new("school", school.id)),
            serde_json::json!({"secrets": rewrapped, "key_version": newest}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rewrapped)
}

/// Every key version some stored secret was written with, and the schools holding it. Start-up
/// compares this with the key ring and refuses to run if a version is missing.
pub async fn key_versions_in_use(
    pool: &PgPool,
) -> Result<BTreeMap<u32, BTreeSet<String>>, CredentialError> {
    let schools = list_schools(pool).await?;
    let per_school = futures::stream::iter(schools)
        .map(|school| async move {
            let mut tx = begin_school_tx(pool, &school).await?;
            let versions: Vec<i32> = sqlx::query_scalar(
                "SELECT DISTINCT substring(secret FROM '^v([0-9]+):')::int FROM ( \
                     SELECT refresh_token AS secret FROM google_credentials \
                     UNION ALL SELECT service_account_key FROM google_credentials \
                     UNION ALL SELECT access_token FROM google_credentials) s \
                 WHERE secret IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((school.slug, versions))
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let mut in_use: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for result in per_school {
        let (slug, versions) = result?;
        for v in versions {
            in_use.entry(v as u32).or_default().insert(slug.clone());
        }
    }
    Ok(in_use)
}

/// Why the stored credentials cannot all be opened with the configured key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(
        "TOKEN_KEYS lacks {}; add the missing key(s) back, then run `invigilator keys rewrap`",
        .0.join("; ")
    )]
    MissingKeys(Vec<String>),
    #[error("the credential store could not be read")]
    Store(#[from] CredentialError),
}

/// Fails, naming versions and schools, if any stored secret uses a key the ring lacks.
pub async fn check_key_ring(pool: &PgPool, keys: &KeyRing) -> Result<(), KeyRingError> {
    let in_use = key_versions_in_use(pool).await?;
    let missing: Vec<String> = in_use
        .iter()
        .filter(|(v, _)| keys.key(**v).is_none())
        .map(|(v, schools)| {
            format!(
                "key version {v} (used by {})",
                schools.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KeyRingError::MissingKeys(missing))
    }
}
