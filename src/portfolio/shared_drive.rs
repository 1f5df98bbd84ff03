//! The school's Shared Drive, checked through its Drive operator accounts before it is saved: the
//! drive must exist, every account must see it, and must be its Manager (only a Manager can
//! share the folders inside, and a lock may go through any of them). A School Admin can therefore never point the school's Drive work at a drive
//! that is not theirs — another school's, say — and find out only when a sync fails.

use sqlx::PgPool;

use crate::google::{DriveClient, ErrorClass, GoogleClients, GoogleError};
use crate::input;
use crate::tenancy::School;
use crate::tenancy::settings::{self, CheckedSharedDrive};

/// Why a Shared Drive cannot be the school's.
#[derive(Debug, thiserror::Error)]
pub enum SharedDriveRefusal {
    #[error("connect the school's Drive account first: the Shared Drive is checked through it")]
    NoOperator,
    #[error(
        "the school's Drive account must be connected again before the Shared Drive can be checked"
    )]
    OperatorNeedsReconnect,
    #[error(
        "no Shared Drive with this id is visible to the school's Drive account ({account}); check the id, and that the account is a member"
    )]
    NotFound { account: String },
    #[error(
        "the school's Drive account ({account}) is not a Manager of the Shared Drive \"{name}\"; make it a Manager, then save again"
    )]
    NotManager { account: String, name: String },
    /// Google refused the question itself (the Drive API switched off for the domain, say).
    #[error(
        "Google refused to show the Shared Drive to the school's Drive account ({account}); check that the Drive API is allowed for it"
    )]
    Refused {
        account: String,
        #[source]
        cause: GoogleError,
    },
    /// Google did not answer; nothing was decided.
    #[error("Google did not answer the check")]
    Unavailable(#[source] GoogleError),
    /// Our side failed to set up the Drive client (a key, the credential store).
    #[error("the Drive client could not be set up")]
    Setup(#[source] GoogleError),
}

/// Checks that every one of the school's Drive operator accounts manages Shared Drive `id`:
/// a lock may go through any of them, so each must be able to share inside it.
#[tracing::instrument(skip(google), fields(school = %school.slug))]
pub async fn check(
    google: &GoogleClients,
    school: &School,
    id: &str,
) -> Result<CheckedSharedDrive, SharedDriveRefusal> {
    // One read of the operators' credentials: the Drive clients' own, whose errors say whether
    // none is connected or they need connecting again.
    let accounts = match google.drive_accounts(school).await {
        Ok(accounts) => accounts,
        Err(GoogleError::NoDriveOperator { .. }) => return Err(SharedDriveRefusal::NoOperator),
        Err(e) if e.class() == ErrorClass::NeedsReconnect => {
            return Err(SharedDriveRefusal::OperatorNeedsReconnect);
        }
        Err(e) if e.is_retryable() => return Err(SharedDriveRefusal::Unavailable(e)),
        Err(e) => return Err(SharedDriveRefusal::Setup(e)),
    };
    let checks = futures::future::join_all(accounts.iter().map(|drive| check_as(drive, id))).await;
    let mut checked = None;
    for result in checks {
        checked = Some(result?);
    }
    checked.ok_or(SharedDriveRefusal::NoOperator)
}

/// Checks that one Drive operator account manages Shared Drive `id`.
async fn check_as(drive: &DriveClient, id: &str) -> Result<CheckedSharedDrive, SharedDriveRefusal> {
    let account = drive.account().to_owned();
    match drive.shared_drive(id).await {
        Ok(found) if found.operator_is_manager => Ok(CheckedSharedDrive {
            id: found.id,
            // Drive's words, kept within what the registry stores.
            name: input::from_google(Some(found.name), 200).unwrap_or_default(),
        }),
        Ok(found) => Err(SharedDriveRefusal::NotManager {
            account,
            name: found.name,
        }),
        Err(e) => Err(match e.class() {
            ErrorClass::NotFound => SharedDriveRefusal::NotFound { account },
            ErrorClass::NeedsReconnect => SharedDriveRefusal::OperatorNeedsReconnect,
            ErrorClass::Permanent => SharedDriveRefusal::Refused { account, cause: e },
            _ => SharedDriveRefusal::Unavailable(e),
        }),
    }
}

/// The Shared Drive the school's folders may be made and shared in: the one in its settings,
/// once the Drive operator has been found to manage it. A drive saved before that check
/// existed is checked here, once, and the result recorded; one that fails it is not used
/// (logged, and left for the School Admin to put right in the settings).
#[tracing::instrument(skip(pool, redis, namespace, google), fields(school = %school.slug))]
pub async fn verified_drive(
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    namespace: &str,
    google: &GoogleClients,
    school: &School,
) -> Result<Option<String>, settings::SettingsError> {
    // Fresh from the database, not the cache: this decides where folders are shared.
    let current = settings::read(pool, school.id).await?;
    let Some(id) = current.shared_drive_id else {
        return Ok(None);
    };
    if current.shared_drive_checked_at.is_some() {
        return Ok(Some(id));
    }
    match check(google, school, &id).await {
        Ok(checked) => {
            settings::record_drive_check(pool, redis, namespace, school.id, &checked).await?;
            Ok(Some(id))
        }
        Err(refusal) => {
            tracing::warn!(reason = %refusal, "the Shared Drive did not pass its check; no folders are made in it");
            Ok(None)
        }
    }
}
