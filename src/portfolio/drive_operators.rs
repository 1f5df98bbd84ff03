//! The school's Drive operator accounts: up to [`MAX_DRIVE_OPERATORS`] Google accounts, each a
//! Manager of the school's Shared Drive, that Drive work runs as. Google's per-user quota applies
//! to each, so a cohort's locks spread over them (see [`crate::google::GoogleClients::drive`]).
//!
//! What a School Admin may connect is checked before anything is stored: an account of the
//! school's Workspace domain, not one already connected, not a ninth, and — once the school's
//! Shared Drive is saved — a Manager of it. The checks that ask Google run before the transaction
//! that stores the grant; the count and the duplicate are checked again inside it, under a lock
//! per school, so two admins connecting at once cannot make nine.
//!
//! [`DriveAccount`] is how the School Admin's pages and `GET /api/drive-operators` describe an
//! account: who it is, whether Google still accepts it (if not, why it was set aside) and when it
//! was connected — with no secret in it.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::google::credentials::{self, CredentialStatus, MAX_DRIVE_OPERATORS};
use crate::google::{ErrorClass, GoogleClients, GoogleError};
use crate::tenancy::{School, SchoolTx, settings};

/// Why an account cannot be one of the school's Drive operator accounts. Nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum DriveAccountRefusal {
    #[error(
        "the account {account} is not one of the school's Google Workspace ({domain}); connect one of the school's own accounts"
    )]
    OtherDomain { account: String, domain: String },
    #[error("the account {account} is already one of the school's Drive accounts")]
    AlreadyConnected { account: String },
    #[error(
        "the school already has {MAX_DRIVE_OPERATORS} Drive accounts, the most it can have; remove one before connecting another"
    )]
    TooMany,
    #[error(
        "the account {account} is not a Manager of the school's Shared Drive \"{name}\"; make it a Manager in Google Drive, then connect it again"
    )]
    NotManager { account: String, name: String },
    #[error(
        "the account {account} cannot see the school's Shared Drive; add it to the Shared Drive as a Manager in Google Drive, then connect it again"
    )]
    CannotSeeDrive { account: String },
    /// Google did not answer the check (or refused the question itself); nothing was decided.
    #[error("Google did not answer the check of {account}; nothing was saved, please try again")]
    Unavailable {
        account: String,
        #[source]
        cause: GoogleError,
    },
    #[error("the school's settings could not be read: {0}")]
    Settings(#[from] settings::SettingsError),
}

impl DriveAccountRefusal {
    /// A short stable name for the audit log and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OtherDomain { .. } => "drive_account_outside_school",
            Self::AlreadyConnected { .. } => "drive_account_already_connected",
            Self::TooMany => "too_many_drive_accounts",
            Self::NotManager { .. } => "drive_account_not_manager",
            Self::CannotSeeDrive { .. } => "drive_account_cannot_see_drive",
            Self::Unavailable { .. } => "google_unavailable",
            Self::Settings(_) => "settings_unreadable",
        }
    }

    /// Whether the School Admin can put it right (the rest is ours or Google's).
    pub fn is_caller_error(&self) -> bool {
        !matches!(self, Self::Unavailable { .. } | Self::Settings(_))
    }
}

/// Whether `account` belongs to `domain` (case apart).
fn in_domain(account: &str, domain: &str) -> bool {
    account
        .rsplit_once('@')
        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
}

/// The checks that ask Google, made with the access token just granted for `account`: of the
/// school's domain and, once the school's Shared Drive is saved, a Manager of it. (The first
/// account is usually connected before the Shared Drive is chosen; the drive is then checked
/// through every account when it is saved.)
#[tracing::instrument(skip(google, pool, token), fields(school = %school.slug))]
pub async fn check_with_google(
    google: &GoogleClients,
    pool: &PgPool,
    school: &School,
    account: &str,
    token: SecretString,
) -> Result<(), DriveAccountRefusal> {
    if !in_domain(account, &school.workspace_domain) {
        return Err(DriveAccountRefusal::OtherDomain {
            account: account.to_owned(),
            domain: school.workspace_domain.clone(),
        });
    }
    let Some(drive_id) = settings::read(pool, school.id).await?.shared_drive_id else {
        return Ok(());
    };
    let drive = google.drive_with_token(school, account, token);
    let account = account.to_owned();
    match drive.shared_drive(&drive_id).await {
        Ok(found) if found.operator_is_manager => Ok(()),
        Ok(found) => Err(DriveAccountRefusal::NotManager {
            account,
            name: found.name,
        }),
        Err(e) if e.class() == ErrorClass::NotFound => {
            Err(DriveAccountRefusal::CannotSeeDrive { account })
        }
        Err(cause) => Err(DriveAccountRefusal::Unavailable { account, cause }),
    }
}

/// Whether `account` may be stored as one of the school's Drive operator accounts now, in the
/// transaction that stores it: not one already in use, and not a ninth. Connecting again an
/// account that was set aside (Google refused it) is a reconnection, and allowed.
pub async fn admit(tx: &mut SchoolTx, account: &str) -> Result<Admission, AdmitError> {
    // One admission at a time per school: the count below must still hold at commit.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('drive-operators:' || $1, 0))")
        .bind(tx.school_id().to_string())
        .execute(&mut **tx)
        .await?;
    let connected = credentials::drive_operators(tx).await?;
    if let Some(same) = connected
        .iter()
        .find(|c| c.account_email.eq_ignore_ascii_case(account))
    {
        return if same.status == CredentialStatus::Active {
            Err(AdmitError::Refused(DriveAccountRefusal::AlreadyConnected {
                account: same.account_email.clone(),
            }))
        } else {
            Ok(Admission::Reconnection(same.id))
        };
    }
    if connected.len() >= MAX_DRIVE_OPERATORS {
        return Err(AdmitError::Refused(DriveAccountRefusal::TooMany));
    }
    Ok(Admission::New)
}

/// What storing an admitted account will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new account.
    New,
    /// An account that was set aside, connected again (its credential id).
    Reconnection(Uuid),
}

/// Why [`admit`] said no.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Refused(DriveAccountRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One of the school's Drive operator accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveAccount {
    /// The credential's id (what `drive_operator.*` audit entries and the lock entries'
    /// `operator` name).
    pub id: Uuid,
    /// The Google account Drive work runs as.
    pub account: String,
    /// `Active`, or `NeedsReconnect` once Google refused it (never `Revoking`: a removed account
    /// is no longer listed).
    pub status: CredentialStatus,
    /// Why it was set aside, in the words recorded when Google refused it.
    pub status_reason: Option<String>,
    pub connected_at: DateTime<Utc>,
}

impl DriveAccount {
    /// Whether Drive work can run as it.
    pub fn works(&self) -> bool {
        self.status == CredentialStatus::Active
    }
}

/// The school's Drive operator accounts, in the order they were connected (the order Drive
/// work prefers them in), without those being revoked.
pub async fn list(tx: &mut SchoolTx) -> Result<Vec<DriveAccount>, sqlx::Error> {
    Ok(credentials::drive_operators(tx)
        .await?
        .into_iter()
        .map(|c| DriveAccount {
            id: c.id,
            account: c.account_email,
            status: c.status,
            status_reason: c.status_reason,
            connected_at: c.created_at,
        })
        .collect())
}

/// What the accounts come to: those set aside, and whether any still works.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// Accounts Google refused, in connection order.
    pub set_aside: Vec<DriveAccount>,
    /// How many accounts Google still accepts.
    pub working: usize,
}

impl Standing {
    pub fn of(accounts: &[DriveAccount]) -> Self {
        Self {
            set_aside: accounts.iter().filter(|a| !a.works()).cloned().collect(),
            working: accounts.iter().filter(|a| a.works()).count(),
        }
    }
}

/// Removes one of the school's Drive operator accounts, in the caller's transaction: from this
/// moment nothing uses it, and its grant is revoked at Google after commit (by
/// [`crate::privacy::leavers::revoke_pending`], as a leaver's is; retried if Google does not
/// answer). `false` if there is no such account.
pub async fn remove(tx: &mut SchoolTx, actor: &Actor, id: Uuid) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query(
        "UPDATE google_credentials SET status = 'revoking', \
             status_reason = 'removed by a School Admin', access_token = NULL, \
             access_token_expires_at = NULL, revoke_attempts = 0, revoke_after = now(), \
             updated_at = now() \
         WHERE id = $1 AND purpose = 'drive_operator' AND status <> 'revoking'",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if removed {
        audit::record(
            tx,
            actor,
            Action::DriveOperatorRemoved,
            Some(&Target::new("google_credential", id)),
            json!({}),
        )
        .await?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(email: &str, status: CredentialStatus) -> DriveAccount {
        DriveAccount {
            id: Uuid::new_v4(),
            account: email.to_owned(),
            status,
            status_reason: None,
            connected_at: Utc::now(),
        }
    }

    #[test]
    fn the_standing_names_the_accounts_set_aside_and_counts_those_that_work() {
        let accounts = [
            account("ops1@hillside.sch.uk", CredentialStatus::Active),
            account("ops2@hillside.sch.uk", CredentialStatus::NeedsReconnect),
            account("ops3@hillside.sch.uk", CredentialStatus::Active),
        ];
        let standing = Standing::of(&accounts);
        assert_eq!(standing.working, 2);
        assert_eq!(standing.set_aside, vec![accounts[1].clone()]);
        assert_eq!(Standing::of(&[]), Standing::default());
    }

    #[test]
    fn an_account_is_in_its_own_domain_only() {
        assert!(in_domain("ops2@hillside.sch.uk", "hillside.sch.uk"));
        assert!(in_domain("Ops2@Hillside.SCH.uk", "hillside.sch.uk"));
        assert!(!in_domain("ops2@elsewhere.sch.uk", "hillside.sch.uk"));
        assert!(!in_domain("ops2@sub.hillside.sch.uk", "hillside.sch.uk"));
        assert!(!in_domain("hillside.sch.uk", "hillside.sch.uk"));
    }
}
