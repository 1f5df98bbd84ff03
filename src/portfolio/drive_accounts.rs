//! The school's Drive operator accounts as a School Admin reads them: who each is, whether
//! Google still accepts it (and if not, why it was set aside) and when it was connected. The
//! credential store ([`crate::google::credentials`]) keeps what the Google clients need; this is
//! the description the settings page, the set-up checklist, the home page's warning and
//! `GET /api/drive-operators` share, with no secret in it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::google::credentials::CredentialStatus;
use crate::tenancy::SchoolTx;

/// One of the school's Drive operator accounts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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
    sqlx::query_as(
        "SELECT id, account_email AS account, status, status_reason, created_at AS connected_at \
         FROM google_credentials WHERE purpose = 'drive_operator' AND status <> 'revoking' \
         ORDER BY created_at, id",
    )
    .fetch_all(&mut **tx)
    .await
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
}
