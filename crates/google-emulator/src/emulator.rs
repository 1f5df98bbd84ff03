//! The emulator's state and the operations tests, the demo and benchmarks use directly (the admin
//! HTTP API in [`crate::admin`] exposes the same).
//!
//! State is split by area, each behind its own lock held only for in-memory work (never across
//! an await or an injected delay), so thousands of concurrent calls do not queue on one lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use serde_json::{Value, json};

use crate::directory::{Course, Directory, DirectoryError, OAuthClient, User};
use crate::drive::store::{DriveStore, Role};
use crate::keys::KeyPair;
use crate::limits::{FaultPlan, Limits, Stats};
use crate::paging::ShortPages;
use crate::seed::{Quotas, Seed};
use crate::tokens::{Principal, TokenStore};

/// Behaviour switches that tests flip.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Skip the consent page when `login_hint` names a user: redirect at once with a code.
    pub auto_consent: bool,
    /// Lifetime of access tokens, seconds (Google: 3599).
    pub access_token_ttl_secs: i64,
    /// Caps every `pageSize`, to force paging in tests.
    pub max_page_size: Option<usize>,
    /// Whether list pages come up short (or empty) before the end, as Google's may. On by
    /// default, so every client's paging is exercised.
    pub short_pages: ShortPages,
    /// Scopes each user (by email) unticks on the consent page (granular consent).
    pub declined_scopes: HashMap<String, BTreeSet<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auto_consent: true,
            access_token_ttl_secs: 3599,
            max_page_size: None,
            short_pages: ShortPages::Seeded(DEFAULT_SHORT_PAGE_SEED),
            declined_scopes: HashMap::new(),
        }
    }
}

/// The seed of short pages unless a test picks another.
pub const DEFAULT_SHORT_PAGE_SEED: u64 = 17;

impl Settings {
    /// The page size a list answers with: `requested`, within the test cap if one is set.
    pub fn page_size(&self, requested: usize) -> usize {
        self.max_page_size
            .map_or(requested, |cap| requested.min(cap))
            .max(1)
    }
}

/// A service account usable with the JWT-bearer grant.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub email: String,
    pub client_id: String,
    pub key: KeyPair,
}

/// Why a seed or admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("shared drive {drive:?}: unknown role {role:?}")]
    BadRole { drive: String, role: String },
    #[error("no shared drive or file with id {0}")]
    UnknownFile(String),
}

pub(crate) struct Shared {
    pub base_url: RwLock<String>,
    pub directory: RwLock<Directory>,
    pub drive: RwLock<DriveStore>,
    pub tokens: Mutex<TokenStore>,
    pub limits: Mutex<Limits>,
    pub settings: RwLock<Settings>,
    pub service_accounts: RwLock<HashMap<String, ServiceAccount>>,
    pub signing_key: KeyPair,
}

/// A handle on one emulated Google. Cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

/// A file as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub parents: Vec<String>,
    pub drive_id: Option<String>,
    /// Every OAuth client's `appProperties` together (each client sees only its own in Drive).
    pub app_properties: BTreeMap<String, String>,
    pub trashed: bool,
    /// Direct permissions: `(email or domain, role)`.
    pub permissions: Vec<(String, String)>,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Emulator {
    /// A world built from `seed`.
    pub fn new(seed: &Seed) -> Result<Self, SetupError> {
        let emulator = Self {
            shared: Arc::new(Shared {
                base_url: RwLock::new("http://127.0.0.1/".to_owned()),
                directory: RwLock::new(Directory::default()),
                drive: RwLock::new(DriveStore::default()),
                tokens: Mutex::new(TokenStore::default()),
                limits: Mutex::new(Limits::default()),
                settings: RwLock::new(Settings::default()),
                service_accounts: RwLock::new(HashMap::new()),
                signing_key: KeyPair::shared(),
            }),
        };
        emulator.apply_seed(seed)?;
        Ok(emulator)
    }

    /// Adds everything in `seed` to the world.
    pub fn apply_seed(&self, seed: &Seed) -> Result<(), SetupError> {
        {
            let mut dir = self.directory_mut();
            for c in &seed.clients {
                dir.add_client(OAuthClient {
                    client_id: c.client_id.clone(),
                    client_secret: c.client_secret.clone(),
                    redirect_uris: c.redirect_uris.clone(),
                });
            }
            for d in &seed.domains {
                dir.add_domain(d);
            }
            for u in &seed.users {
                dir.add_user(
                    u.id.clone(),
                    &u.email,
                    &u.given_name,
                    &u.family_name,
                    u.photo_url.clone(),
                    u.email_verified,
                    u.domain_admin,
                )?;
            }
            for c in &seed.courses {
                dir.add_course(
                    c.id.clone(),
                    &c.name,
                    c.section.clone(),
                    &c.owner,
                    &c.teachers,
                    &c.students,
                    c.state.as_deref(),
                    c.teacher_group_email.clone(),
                )?;
            }
        }
        for sa in &seed.service_accounts {
            self.add_service_account(&sa.email, sa.client_id.as_deref());
        }
        for d in &seed.shared_drives {
            let members = d
                .members
                .iter()
                .map(|m| {
                    Role::parse(&m.role)
                        .map(|r| (m.email.clone(), r))
                        .ok_or_else(|| SetupError::BadRole {
                            drive: d.name.clone(),
                            role: m.role.clone(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.create_shared_drive(d.id.clone(), &d.name, &members);
        }
        if let Some(q) = seed.quotas {
            self.set_quotas(q);
        }
        Ok(())
    }

    pub(crate) fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        read(&self.shared.directory)
    }

    pub(crate) fn directory_mut(&self) -> RwLockWriteGuard<'_, Directory> {
        write(&self.shared.directory)
    }

    pub(crate) fn drive(&self) -> RwLockReadGuard<'_, DriveStore> {
        read(&self.shared.drive)
    }

    pub(crate) fn drive_mut(&self) -> RwLockWriteGuard<'_, DriveStore> {
        write(&self.shared.drive)
    }

    pub(crate) fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.shared.tokens)
    }

    pub(crate) fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.shared.limits)
    }

    pub fn settings(&self) -> Settings {
        read(&self.shared.settings).clone()
    }

    /// Changes settings in place.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut write(&self.shared.settings));
    }

    pub(crate) fn signing_key(&self) -> &KeyPair {
        &self.shared.signing_key
    }

    /// The emulator's own address, ending in `/` (the issuer, and every API's base URL).
    pub fn base_url(&self) -> String {
        read(&self.shared.base_url).clone()
    }

    pub(crate) fn set_base_url(&self, url: String) {
        *write(&self.shared.base_url) = url;
    }

    /// The issuer in ID tokens: the base URL without its trailing slash.
    pub fn issuer(&self) -> String {
        self.base_url().trim_end_matches('/').to_owned()
    }

    pub fn add_user(
        &self,
        email: &str,
        given_name: &str,
        family_name: &str,
    ) -> Result<User, SetupError> {
        Ok(self.directory_mut().add_user(
            None,
            email,
            given_name,
            family_name,
            None,
            true,
            false,
        )?)
    }

    pub fn user(&self, email: &str) -> Option<User> {
        self.directory().user_by_email(email).cloned()
    }

    pub fn add_domain(&self, domain: &str) {
        self.directory_mut().add_domain(domain);
    }

    pub fn add_client(&self, client_id: &str, client_secret: &str) {
        self.directory_mut().add_client(OAuthClient {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uris: Vec::new(),
        });
    }

    /// Adds a course taught by `owner` (an existing user's email), with these students.
    pub fn add_course(
        &self,
        name: &str,
        section: Option<&str>,
        owner: &str,
        students: &[String],
    ) -> Result<Course, SetupError> {
        Ok(self.directory_mut().add_course(
            None,
            name,
            section.map(str::to_owned),
            owner,
            &[],
            students,
            None,
            None,
        )?)
    }

    pub fn course(&self, id: &str) -> Option<Course> {
        self.directory().courses.get(id).cloned()
    }

    pub fn enrol_student(&self, course_id: &str, email: &str) -> Result<(), SetupError> {
        Ok(self.directory_mut().set_student(course_id, email, false)?)
    }

    pub fn remove_student(&self, course_id: &str, email: &str) -> Result<(), SetupError> {
        Ok(self.directory_mut().set_student(course_id, email, true)?)
    }

    pub fn add_teacher(&self, course_id: &str, email: &str) -> Result<(), SetupError> {
        Ok(self.directory_mut().set_teacher(course_id, email, false)?)
    }

    /// Takes a teacher off a course, as a Classroom admin removing a co-teacher does.
    pub fn remove_teacher(&self, course_id: &str, email: &str) -> Result<(), SetupError> {
        Ok(self.directory_mut().set_teacher(course_id, email, true)?)
    }

    pub fn set_course_state(&self, course_id: &str, state: &str) -> Result<(), SetupError> {
        Ok(self.directory_mut().set_course_state(course_id, state)?)
    }

    /// Creates a shared drive with these `(email, role)` members; returns its id.
    pub fn create_shared_drive(
        &self,
        id: Option<String>,
        name: &str,
        members: &[(String, Role)],
    ) -> String {
        let members = members
            .iter()
            .map(|(email, role)| (email.to_ascii_lowercase(), *role))
            .collect();
        self.drive_mut().create_shared_drive(id, name, members).id
    }

    /// Adds members to a Google Group (for `type: group` permissions and teacher groups).
    pub fn set_group(&self, group_email: &str, members: &[String]) {
        self.drive_mut()
            .groups
            .insert(group_email.to_ascii_lowercase(), members.to_vec());
    }

    /// The highest role `email` holds on an item (through membership, folders or a direct grant).
    pub fn access(&self, file_id: &str, email: &str) -> Option<Role> {
        self.drive().access(file_id, &email.to_ascii_lowercase())
    }

    pub fn file(&self, id: &str) -> Option<FileSummary> {
        self.drive().get(id).map(summarise)
    }

    /// Every item in a shared drive (not the drive itself).
    pub fn files_in_drive(&self, drive_id: &str) -> Vec<FileSummary> {
        let drive = self.drive();
        let mut files: Vec<FileSummary> = drive
            .all()
            .filter(|f| f.drive_id.as_deref() == Some(drive_id) && f.id != drive_id)
            .map(summarise)
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        files
    }

    pub fn set_quotas(&self, quotas: Quotas) {
        self.limits().quotas = quotas;
    }

    /// Sets the fault plan for a route id (e.g. `drive.permissions.update`) or `*`.
    pub fn set_faults(&self, route: &str, plan: FaultPlan) {
        self.limits().faults.insert(route.to_owned(), plan);
    }

    pub fn clear_faults(&self) {
        self.limits().faults.clear();
    }

    pub fn stats(&self) -> Stats {
        self.limits().stats.clone()
    }

    /// Calls to one route, all statuses.
    pub fn calls(&self, route: &str) -> u64 {
        self.limits()
            .stats
            .calls
            .get(route)
            .map_or(0, |by_status| by_status.values().sum())
    }

    pub fn reset_stats(&self) {
        self.limits().stats = Stats::default();
    }

    /// Revokes every token `email` holds, as when a user removes the app's access: their refresh
    /// tokens then answer `invalid_grant`.
    pub fn revoke_user(&self, email: &str) -> usize {
        let Some(user) = self.user(email) else {
            return 0;
        };
        self.tokens().revoke_user(&user.id, &user.email)
    }

    /// Makes every outstanding access token expire.
    pub fn expire_access_tokens(&self) {
        self.tokens().expire_access_tokens();
    }

    /// Mints an access token directly, skipping OAuth: for tests of the APIs alone.
    pub fn issue_access_token(
        &self,
        email: &str,
        scopes: &[&str],
        client_id: &str,
    ) -> Option<String> {
        let principal = self.principal(email)?;
        let ttl = chrono::Duration::seconds(self.settings().access_token_ttl_secs);
        let scopes = crate::auth::scope::as_granted(scopes.iter().map(|s| (*s).to_owned()));
        Some(
            self.tokens()
                .mint_access(principal, client_id, scopes, ttl, None),
        )
    }

    /// Mints a refresh token as if `email` had consented to `scopes` for `client_id` with
    /// offline access: for tests of token refresh without the browser step.
    pub fn issue_refresh_token(
        &self,
        email: &str,
        scopes: &[&str],
        client_id: &str,
    ) -> Option<String> {
        let user = self.user(email)?;
        let scopes = crate::auth::scope::as_granted(scopes.iter().map(|s| (*s).to_owned()));
        let token = crate::tokens::random_token("1//0emu-", 64);
        let mut tokens = self.tokens();
        tokens
            .grants
            .entry((client_id.to_owned(), user.id.clone()))
            .or_default()
            .extend(scopes.iter().cloned());
        tokens.refresh.insert(
            token.clone(),
            crate::tokens::RefreshToken {
                user_id: user.id,
                client_id: client_id.to_owned(),
                scopes,
            },
        );
        Some(token)
    }

    /// A user or service account by email.
    pub(crate) fn principal(&self, email: &str) -> Option<Principal> {
        let email = email.to_ascii_lowercase();
        if let Some(u) = self.directory().user_by_email(&email) {
            return Some(Principal {
                email: u.email.clone(),
                user_id: Some(u.id.clone()),
            });
        }
        read(&self.shared.service_accounts)
            .contains_key(&email)
            .then_some(Principal {
                email,
                user_id: None,
            })
    }

    /// Creates a service account (or returns the existing one) and its key.
    pub fn add_service_account(&self, email: &str, client_id: Option<&str>) -> ServiceAccount {
        let email = email.to_ascii_lowercase();
        if let Some(sa) = read(&self.shared.service_accounts).get(&email) {
            return sa.clone();
        }
        let sa = ServiceAccount {
            email: email.clone(),
            client_id: client_id.map_or_else(|| format!("{}-client", email), str::to_owned),
            key: KeyPair::generate(),
        };
        write(&self.shared.service_accounts).insert(email, sa.clone());
        sa
    }

    pub(crate) fn service_account(&self, email: &str) -> Option<ServiceAccount> {
        read(&self.shared.service_accounts)
            .get(&email.to_ascii_lowercase())
            .cloned()
    }

    /// A service-account key file in Google's JSON format.
    pub fn service_account_key_file(&self, email: &str) -> Option<Value> {
        let sa = self.service_account(email)?;
        Some(json!({
            "type": "service_account",
            "project_id": "invigilator-emulator",
            "private_key_id": sa.key.kid,
            "private_key": sa.key.private_pem(),
            "client_email": sa.email,
            "client_id": sa.client_id,
            "auth_uri": format!("{}o/oauth2/v2/auth", self.base_url()),
            "token_uri": format!("{}token", self.base_url()),
        }))
    }

    /// Signs a JWT-bearer assertion with a service account's key, as a client library would.
    pub fn sign_assertion(&self, email: &str, claims: &Value) -> Option<String> {
        Some(self.service_account(email)?.key.sign(claims))
    }
}

fn summarise(f: &crate::drive::store::File) -> FileSummary {
    FileSummary {
        id: f.id.clone(),
        name: f.name.clone(),
        mime_type: f.mime_type.clone(),
        parents: f.parents.clone(),
        drive_id: f.drive_id.clone(),
        app_properties: f
            .app_properties
            .values()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        trashed: f.trashed,
        permissions: f
            .permissions
            .iter()
            .map(|p| {
                let who = match &p.grantee {
                    crate::drive::store::Grantee::User(e)
                    | crate::drive::store::Grantee::Group(e) => e.clone(),
                    crate::drive::store::Grantee::Domain(d) => d.clone(),
                    crate::drive::store::Grantee::Anyone => "anyone".to_owned(),
                };
                (who, p.role.as_str().to_owned())
            })
            .collect(),
    }
}
