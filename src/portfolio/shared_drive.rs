//! The school's Shared Drive, checked through its Drive operator before it is saved: the drive
//! must exist, the operator must see it, and must be its Manager (only a Manager can share the
//! folders inside). A School Admin can therefore never point the school's Drive work at a drive
//! that is not theirs — another school's, say — and find out only when a sync fails.

use sqlx::PgPool;

use crate::google::credentials::{self, CredentialStatus};
use crate::google::{ErrorClass, GoogleClients, GoogleError};
use crate::tenancy::settings::CheckedSharedDrive;
use crate::tenancy::{School, begin_school_tx};

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
    /// Google did not answer; nothing was decided.
    #[error("Google did not answer the check: {0}")]
    Unavailable(GoogleError),
    #[error("the Drive operator could not be read")]
    Database(#[from] sqlx::Error),
    #[error("the Drive operator could not be read")]
    Credentials(#[from] crate::google::credentials::CredentialError),
}

/// Checks that the school's Drive operator manages Shared Drive `id`.
#[tracing::instrument(skip(pool, google), fields(school = %school.slug))]
pub async fn check(
    pool: &PgPool,
    google: &GoogleClients,
    school: &School,
    id: &str,
) -> Result<CheckedSharedDrive, SharedDriveRefusal> {
    let mut tx = begin_school_tx(pool, school).await?;
    let operator = credentials::drive_operator(&mut tx).await?;
    tx.commit().await?;
    match operator {
        None => return Err(SharedDriveRefusal::NoOperator),
        Some(c) if c.status == CredentialStatus::NeedsReconnect => {
            return Err(SharedDriveRefusal::OperatorNeedsReconnect);
        }
        Some(_) => {}
    }
    let drive = match google.drive(school).await {
        Ok(drive) => drive,
        Err(e) if e.class() == ErrorClass::NeedsReconnect => {
            return Err(SharedDriveRefusal::OperatorNeedsReconnect);
        }
        Err(e) => return Err(SharedDriveRefusal::Unavailable(e)),
    };
    let account = drive.account().to_owned();
    match drive.shared_drive(id).await {
        Ok(found) if found.operator_is_manager => Ok(CheckedSharedDrive {
            id: found.id,
            name: found.name,
        }),
        Ok(found) => Err(SharedDriveRefusal::NotManager {
            account,
            name: found.name,
        }),
        Err(e) => Err(match e.class() {
            ErrorClass::NotFound => SharedDriveRefusal::NotFound { account },
            ErrorClass::NeedsReconnect => SharedDriveRefusal::OperatorNeedsReconnect,
            // Google refusing the request itself (a malformed id it rejects, say) is an answer
            // about the id, not an outage.
            ErrorClass::Permanent => SharedDriveRefusal::NotFound { account },
            _ => SharedDriveRefusal::Unavailable(e),
        }),
    }
}
