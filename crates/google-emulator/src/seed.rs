//! The seed file: the Google world an emulator starts with. Its format is documented in the
//! crate's README; every field but `users` has a default.

use serde::{Deserialize, Serialize};

/// A whole world: OAuth clients, Workspace domains, people, classes and shared drives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    pub clients: Vec<SeedClient>,
    pub domains: Vec<String>,
    pub users: Vec<SeedUser>,
    pub service_accounts: Vec<SeedServiceAccount>,
    pub courses: Vec<SeedCourse>,
    pub shared_drives: Vec<SeedSharedDrive>,
    pub quotas: Option<Quotas>,
}

/// An OAuth client (a Google Cloud project's web client).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs this client may use; empty allows any (handy for tests).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// A Google account. Accounts in one of `domains` are Workspace accounts and carry `hd`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// Google's numeric user id (`sub`); generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub email: String,
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub photo_url: Option<String>,
    #[serde(default = "yes")]
    pub email_verified: bool,
    /// A Workspace administrator sees every course of the domain in Classroom.
    #[serde(default)]
    pub domain_admin: bool,
}

impl SeedUser {
    /// An ordinary account with a verified address: what nearly every seed needs.
    pub fn person(
        email: impl Into<String>,
        given: impl Into<String>,
        family: impl Into<String>,
    ) -> Self {
        Self {
            id: None,
            email: email.into(),
            given_name: given.into(),
            family_name: family.into(),
            photo_url: None,
            email_verified: true,
            domain_admin: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// A service account that may use the JWT-bearer grant. Its key is generated at start-up and
/// read back through the admin API (`GET /emulator/service-accounts/{email}/key`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedServiceAccount {
    pub email: String,
    /// The OAuth client the account belongs to, for per-project quotas.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// A Classroom course and its roster; people are named by email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCourse {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub section: Option<String>,
    pub owner: String,
    #[serde(default)]
    pub teachers: Vec<String>,
    #[serde(default)]
    pub students: Vec<String>,
    /// `ACTIVE` (default), `ARCHIVED`, `PROVISIONED`, `DECLINED` or `SUSPENDED`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub teacher_group_email: Option<String>,
}

/// A shared drive and its members.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSharedDrive {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub members: Vec<SeedMember>,
}

/// A shared-drive member: `organizer`, `fileOrganizer`, `writer`, `commenter` or `reader`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMember {
    pub email: String,
    pub role: String,
}

/// Requests per second allowed per user and per project, for each API separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    pub per_user_per_second: Option<f64>,
    pub per_project_per_second: Option<f64>,
}
