//! What happens between Google's redirect back and a session: verify, find the school and the
//! person, decide whether they may enter, store their grant, audit.

use axum::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

use super::oidc::{IdClaims, Oidc, OidcError, Tokens};
use super::roles::Role;
use super::session::{LoginAttempt, LoginPurpose};
use super::staff::{self, Profile};
use super::staff_addresses::StaffAddresses;
use crate::audit::{self, Action, Actor, Target};
use crate::crypto::KeyRing;
use crate::google::classroom::{ClassroomClient, ClassroomCourse};
use crate::google::credentials::{self, CredentialStatus, Purpose};
use crate::google::{DRIVE_SCOPE, ErrorClass, GoogleClients, GoogleError};
use crate::input::{self, EmailAddress};
use crate::portfolio::drive_operators;
use crate::tenancy::{School, SchoolStatus, begin_school_tx, find_school_by_domain};

/// What a teacher's sign-in asks Google for.
pub const TEACHER_SCOPES: &[&str] = &[
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/classroom.courses.readonly",
    "https://www.googleapis.com/auth/classroom.rosters.readonly",
    "https://www.googleapis.com/auth/classroom.profile.emails",
];

/// What connecting the Drive operator asks for (added to earlier grants).
pub const DRIVE_OPERATOR_SCOPES: &[&str] = &["openid", "email", DRIVE_SCOPE];

/// Why someone was not let in. Each has a plain message for the person and a short code for the
/// audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoAttempt,
    StateMismatch,
    CodeRejected,
    BadIdToken(String),
    NonceMismatch,
    EmailNotVerified,
    NoHostedDomain,
    UnknownSchool,
    SchoolNotActive,
    ScopesNotGranted(Vec<String>),
    NotStaff,
    /// Not one of the staff addresses the School Admin listed, and no role or invitation:
    /// teaching a Classroom class (which students can create) is not enough.
    NotStaffAddress,
    DriveScopeNotGranted,
    DriveAccountOutsideSchool,
    /// The account may not become one of the school's Drive accounts (see
    /// [`crate::portfolio::drive_operators`]).
    DriveAccountRefused {
        code: &'static str,
        message: String,
    },
    NotPermitted,
    Declined,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoAttempt => "no_attempt",
            Self::StateMismatch => "state_mismatch",
            Self::CodeRejected => "code_rejected",
            Self::BadIdToken(_) => "bad_id_token",
            Self::NonceMismatch => "nonce_mismatch",
            Self::EmailNotVerified => "email_not_verified",
            Self::NoHostedDomain => "no_hosted_domain",
            Self::UnknownSchool => "unknown_school",
            Self::SchoolNotActive => "school_not_active",
            Self::ScopesNotGranted(_) => "scopes_not_granted",
            Self::NotStaff => "not_staff",
            Self::NotStaffAddress => "not_staff_address",
            Self::DriveScopeNotGranted => "drive_scope_not_granted",
            Self::DriveAccountOutsideSchool => "drive_account_outside_school",
            Self::DriveAccountRefused { code, .. } => code,
            Self::NotPermitted => "not_permitted",
            Self::Declined => "declined",
        }
    }

    /// What the person is told (UK English, no jargon they cannot act on).
    pub fn message(&self) -> String {
        match self {
            Self::NoAttempt | Self::StateMismatch => {
                "This sign-in link has expired or was opened in another browser. Please start again.".to_owned()
            }
            Self::CodeRejected => "Google did not accept this sign-in (it may have been used already). Please start again.".to_owned(),
            Self::BadIdToken(_) | Self::NonceMismatch => {
                "We could not confirm this sign-in came from Google. Please start again.".to_owned()
            }
            Self::EmailNotVerified => "Your Google account's email address is not verified.".to_owned(),
            Self::NoHostedDomain => {
                "Please sign in with your school Google account, not a personal one.".to_owned()
            }
            Self::UnknownSchool => "Your school does not use Invigilator yet. Ask your school's IT team.".to_owned(),
            Self::SchoolNotActive => "Invigilator is not available for your school at the moment.".to_owned(),
            Self::ScopesNotGranted(_) => {
                "Invigilator needs every permission on Google's consent screen to show your classes. \
                 Please sign in again and leave all the boxes ticked."
                    .to_owned()
            }
            Self::NotStaff => {
                "Your account does not teach any Google Classroom classes and has no role in \
                 Invigilator. Ask your school's Invigilator administrator if you need access."
                    .to_owned()
            }
            Self::NotStaffAddress => {
                "Invigilator is for your school's staff. Your account is not one of the staff \
                 addresses your school has listed, and you have not been given a role, so a \
                 Google Classroom class of your own does not give you access. If you are a \
                 member of staff, ask your school's Invigilator School Admin to add your \
                 address to the staff addresses in Invigilator's settings, or to invite you."
                    .to_owned()
            }
            Self::DriveScopeNotGranted => {
                "Connecting Drive needs permission to manage files in Drive. Please try again and tick that box.".to_owned()
            }
            Self::DriveAccountOutsideSchool => {
                "The Drive operator must be an account of your school's Google Workspace.".to_owned()
            }
            // Each reason starts with a word of ours (never an address), so a capital is safe.
            Self::DriveAccountRefused { message, .. } => {
                let mut sentence = message.clone();
                if let Some(first) = sentence.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                format!("{sentence}.")
            }
            Self::NotPermitted => "You no longer have permission to do that.".to_owned(),
            Self::Declined => "You cancelled the sign-in.".to_owned(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotStaff
            | Self::NotStaffAddress
            | Self::SchoolNotActive
            | Self::UnknownSchool
            | Self::NoHostedDomain => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<OidcError> for SignInError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::CodeRejected => SignInError::refused(Refusal::CodeRejected, None),
            OidcError::NoIdToken => {
                SignInError::refused(Refusal::BadIdToken("no ID token".into()), None)
            }
            OidcError::BadIdToken(r) => SignInError::refused(Refusal::BadIdToken(r), None),
            OidcError::NonceMismatch => SignInError::refused(Refusal::NonceMismatch, None),
            OidcError::Unavailable(d) => SignInError::Unavailable(d),
        }
    }
}

/// A failed sign-in.
#[derive(Debug)]
pub enum SignInError {
    /// The person (or an attacker) is turned away; `school` when it is known, for the audit log.
    Refused {
        refusal: Refusal,
        school: Option<Box<School>>,
    },
    /// Google did not answer; try again.
    Unavailable(String),
    /// Our fault; logged.
    Internal(String),
}

impl SignInError {
    pub fn refused(refusal: Refusal, school: Option<&School>) -> Self {
        Self::Refused {
            refusal,
            school: school.map(|s| Box::new(s.clone())),
        }
    }
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

/// A successful callback.
#[derive(Debug)]
pub enum Completed {
    SignedIn {
        school: School,
        staff_id: Uuid,
        /// Their first sign-in: their classes should be synced now, not at the next tick.
        first_time: bool,
    },
    DriveConnected {
        school: School,
        staff_id: Uuid,
    },
    /// Google gave no refresh token and we hold none: ask again with `prompt=consent`.
    ConsentNeeded,
}

/// Everything the callback needs.
#[derive(Clone)]
pub struct SignInService {
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    pub google: GoogleClients,
    pub oidc: Arc<Oidc>,
}

/// Names from Google are cut to this many characters before they are stored.
const NAME_MAX_CHARS: usize = 200;
const PHOTO_URL_MAX_CHARS: usize = 2048;

/// Most distinct course owners looked up for one sign-in: someone who co-teaches many other
/// schools' classes and none of ours is turned away without a call per class.
const MAX_OWNER_LOOKUPS: usize = 10;

/// Whether any of `courses` (the person's own active courses) belongs to the school: owned by
/// the person (whose token named this school) or by another account of the school's domain.
/// Co-teaching another school's class makes nobody a Teacher here.
async fn teaches_a_course_of(
    classroom: &ClassroomClient,
    courses: &[ClassroomCourse],
    sub: &str,
    domain: &str,
) -> Result<bool, GoogleError> {
    if courses.iter().any(|c| c.owner_id.as_deref() == Some(sub)) {
        return Ok(true);
    }
    let owners: BTreeSet<&str> = courses
        .iter()
        .filter_map(|c| c.owner_id.as_deref())
        .collect();
    for owner in owners.into_iter().take(MAX_OWNER_LOOKUPS) {
        match classroom.user_email(owner).await {
            Ok(Some(email)) if crate::input::address_in_domain(&email, domain) => return Ok(true),
            Ok(_) => {}
            // A grant Google no longer accepts will not do for the next owner either.
            Err(e) if e.class() == ErrorClass::NeedsReconnect => return Err(e),
            // Classroom will not show this owner: not shown to be ours.
            Err(e) if !e.is_retryable() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Whether `granted` includes `wanted`, counting Google's long names for the basic scopes.
fn granted(granted: &[String], wanted: &str) -> bool {
    let long = match wanted {
        "email" => Some("https://www.googleapis.com/auth/userinfo.email"),
        "profile" => Some("https://www.googleapis.com/auth/userinfo.profile"),
        _ => None,
    };
    granted
        .iter()
        .any(|g| g == wanted || Some(g.as_str()) == long)
}

impl SignInService {
    /// Finishes a sign-in (or a Drive connection) from Google's code.
    pub async fn complete(
        &self,
        attempt: &LoginAttempt,
        code: &str,
    ) -> Result<Completed, SignInError> {
        let tokens = self.oidc.exchange(code, &attempt.pkce_verifier).await?;
        let claims = self.oidc.verify(&tokens.id_token, &attempt.nonce).await?;
        if claims.email_verified != Some(true) || claims.email.is_none() {
            return Err(SignInError::refused(Refusal::EmailNotVerified, None));
        }
        match &attempt.purpose {
            LoginPurpose::SignIn => self.sign_in(attempt, tokens, claims).await,
            LoginPurpose::ConnectDrive {
                school_id,
                staff_id,
            } => {
                self.connect_drive(*school_id, *staff_id, tokens, claims)
                    .await
            }
        }
    }

    async fn sign_in(
        &self,
        attempt: &LoginAttempt,
        tokens: Tokens,
        claims: IdClaims,
    ) -> Result<Completed, SignInError> {
        let hd = claims
            .hd
            .as_deref()
            .ok_or_else(|| SignInError::refused(Refusal::NoHostedDomain, None))?;
        let school = find_school_by_domain(&self.pool, hd)
            .await?
            .ok_or_else(|| SignInError::refused(Refusal::UnknownSchool, None))?;
        if school.status != SchoolStatus::Active {
            return Err(SignInError::refused(
                Refusal::SchoolNotActive,
                Some(&school),
            ));
        }
        let missing: Vec<String> = TEACHER_SCOPES
            .iter()
            .filter(|s| !granted(&tokens.scopes, s))
            .map(|s| (*s).to_owned())
            .collect();
        if !missing.is_empty() {
            self.audit_refusal(
                &school,
                &Refusal::ScopesNotGranted(missing.clone()),
                &claims.sub,
            )
            .await;
            return Err(SignInError::refused(
                Refusal::ScopesNotGranted(missing),
                Some(&school),
            ));
        }
        // A verified address is always well formed; one that is not cannot be stored.
        let email = claims
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok())
            .map(|e| e.as_str().to_owned())
            .ok_or_else(|| SignInError::refused(Refusal::EmailNotVerified, Some(&school)))?;

        // May this person enter? A role, an invitation, or (at a staff address) teaching a
        // Classroom course.
        let mut tx = begin_school_tx(&self.pool, &school).await?;
        let known = staff::by_sub(&mut tx, &claims.sub).await?;
        let has_role = match &known {
            Some(s) => !staff::roles(&mut tx, s.id).await?.is_empty(),
            None => false,
        };
        let invited = staff::has_invitation(&mut tx, &email).await?;
        tx.commit().await?;
        // Classroom lets students create classes: only an address the School Admin listed as
        // staff's may become a Teacher by teaching one (and Classroom is not even asked for
        // anyone else).
        if !(has_role || invited) {
            let staff_addresses = crate::tenancy::settings::read(&self.pool, school.id)
                .await
                .map_err(|e| SignInError::Internal(format!("settings: {e}")))?
                .staff_addresses;
            let listed = StaffAddresses::parse(&staff_addresses).unwrap_or_else(|e| {
                // Saved patterns were checked; one that no longer parses recognises nobody.
                tracing::error!(error = %e, "saved staff addresses unreadable");
                StaffAddresses::none()
            });
            if !listed.recognise(&email) {
                self.audit_refusal(&school, &Refusal::NotStaffAddress, &claims.sub)
                    .await;
                return Err(SignInError::refused(
                    Refusal::NotStaffAddress,
                    Some(&school),
                ));
            }
        }
        let teaches = if has_role || invited {
            false
        } else {
            let classroom =
                self.google
                    .classroom_with_token(&school, &email, tokens.access_token.clone());
            let teaches = async {
                let courses = classroom.list_my_courses().await?;
                teaches_a_course_of(&classroom, &courses, &claims.sub, &school.workspace_domain)
                    .await
            };
            match teaches.await {
                Ok(teaches) => teaches,
                // Google answered but will not show this account's classes (Classroom is off
                // for them, or refused): they teach nothing we can see.
                Err(e) if !e.is_retryable() => {
                    tracing::info!(class = ?e.class(), "Classroom refused a signing-in account");
                    false
                }
                Err(e) => return Err(SignInError::Unavailable(e.to_string())),
            }
        };
        if !(has_role || invited || teaches) {
            self.audit_refusal(&school, &Refusal::NotStaff, &claims.sub)
                .await;
            return Err(SignInError::refused(Refusal::NotStaff, Some(&school)));
        }

        let mut tx = begin_school_tx(&self.pool, &school).await?;
        // Google's words, cleaned (never refused) before they are stored.
        let display_name = input::from_google(claims.name.clone(), NAME_MAX_CHARS)
            .unwrap_or_else(|| email.clone());
        let given_name = input::from_google(claims.given_name.clone(), NAME_MAX_CHARS);
        let family_name = input::from_google(claims.family_name.clone(), NAME_MAX_CHARS);
        // A cut URL is a broken one: an over-long photo address is dropped instead.
        let photo_url = claims
            .picture
            .clone()
            .filter(|p| p.len() <= PHOTO_URL_MAX_CHARS && !p.chars().any(char::is_control));
        let person = staff::upsert_signed_in(
            &mut tx,
            &Profile {
                sub: &claims.sub,
                email: &email,
                display_name: &display_name,
                given_name: given_name.as_deref(),
                family_name: family_name.as_deref(),
                photo_url: photo_url.as_deref(),
            },
        )
        .await?;
        let mut granted_roles = staff::accept_invitations(&mut tx, person.id, &email).await?;
        if teaches {
            staff::grant(&mut tx, person.id, Role::Teacher, None, None).await?;
            granted_roles.push(Role::Teacher);
        }
        // Classroom can be read for them from now on if they had no grant before; co-teachers'
        // staff rows are made by sync, so "first time" is about the grant, not the row.
        let stored = credentials::sign_in_credential(&mut tx, person.id)
            .await
            .map_err(|e| SignInError::Internal(e.to_string()))?;
        let first_grant = stored.is_none();
        match &tokens.refresh_token {
            Some(refresh) => {
                credentials::save_oauth(
                    &mut tx,
                    &self.keys,
                    person.id,
                    Purpose::SignIn,
                    &email,
                    &tokens.scopes,
                    refresh,
                )
                .await
                .map_err(|e| SignInError::Internal(e.to_string()))?;
            }
            None => {
                let usable = stored.is_some_and(|c| c.status == CredentialStatus::Active);
                if !usable && !attempt.forced_consent {
                    // Nothing is written: the person is sent to Google's consent screen again.
                    tx.rollback().await?;
                    return Ok(Completed::ConsentNeeded);
                }
            }
        }
        audit::record(
            &mut tx,
            &Actor::Staff(person.id),
            Action::SignIn,
            Some(&Target::new("staff", person.id)),
            json!({"roles_granted": granted_roles}),
        )
        .await?;
        tx.commit().await?;
        Ok(Completed::SignedIn {
            school,
            staff_id: person.id,
            first_time: first_grant,
        })
    }

    async fn connect_drive(
        &self,
        school_id: Uuid,
        staff_id: Uuid,
        tokens: Tokens,
        claims: IdClaims,
    ) -> Result<Completed, SignInError> {
        let school = crate::tenancy::registry::find_school_by_id(&self.pool, school_id)
            .await?
            .ok_or_else(|| SignInError::refused(Refusal::UnknownSchool, None))?;
        if claims.hd.as_deref() != Some(school.workspace_domain.as_str()) {
            self.audit_refusal(&school, &Refusal::DriveAccountOutsideSchool, &claims.sub)
                .await;
            return Err(SignInError::refused(
                Refusal::DriveAccountOutsideSchool,
                Some(&school),
            ));
        }
        if !granted(&tokens.scopes, DRIVE_SCOPE) {
            self.audit_refusal(&school, &Refusal::DriveScopeNotGranted, &claims.sub)
                .await;
            return Err(SignInError::refused(
                Refusal::DriveScopeNotGranted,
                Some(&school),
            ));
        }
        let Some(refresh) = tokens.refresh_token.as_ref() else {
            return Err(SignInError::Unavailable(
                "Google did not grant offline access to Drive; please try again".to_owned(),
            ));
        };
        let email = claims.email.clone().unwrap_or_default();
        // Asked of Google before anything is stored: of the school, and a Manager of its
        // Shared Drive.
        if let Err(refusal) = drive_operators::check_with_google(
            &self.google,
            &self.pool,
            &school,
            &email,
            tokens.access_token.clone(),
        )
        .await
        {
            return Err(self
                .refuse_drive_account(&school, refusal, &claims.sub)
                .await);
        }
        let mut tx = begin_school_tx(&self.pool, &school).await?;
        // Roles may have changed while the person was at Google.
        let roles = staff::roles(&mut tx, staff_id).await?;
        if !super::roles::any_allows(&roles, super::roles::Permission::ConnectDrive) {
            return Err(SignInError::refused(Refusal::NotPermitted, Some(&school)));
        }
        let admission = match drive_operators::admit(&mut tx, &email).await {
            Ok(admission) => admission,
            Err(drive_operators::AdmitError::Refused(refusal)) => {
                tx.rollback().await?;
                return Err(self
                    .refuse_drive_account(&school, refusal, &claims.sub)
                    .await);
            }
            Err(e) => return Err(SignInError::Internal(e.to_string())),
        };
        let credential = credentials::save_oauth(
            &mut tx,
            &self.keys,
            staff_id,
            Purpose::DriveOperator,
            &email,
            &[DRIVE_SCOPE.to_owned()],
            refresh,
        )
        .await
        .map_err(|e| SignInError::Internal(e.to_string()))?;
        audit::record(
            &mut tx,
            &Actor::Staff(staff_id),
            Action::DriveOperatorConnected,
            Some(&Target::new("google_credential", credential)),
            json!({"reconnected": admission != drive_operators::Admission::New}),
        )
        .await?;
        tx.commit().await?;
        Ok(Completed::DriveConnected { school, staff_id })
    }

    /// An account that may not become one of the school's Drive accounts: audited as a refusal
    /// when the School Admin can put it right; Google not answering is only "try again".
    async fn refuse_drive_account(
        &self,
        school: &School,
        refusal: drive_operators::DriveAccountRefusal,
        sub: &str,
    ) -> SignInError {
        if !refusal.is_caller_error() {
            tracing::warn!(error = %refusal, "a Drive account could not be checked");
            return SignInError::Unavailable(refusal.to_string());
        }
        let refusal = Refusal::DriveAccountRefused {
            code: refusal.code(),
            message: refusal.to_string(),
        };
        self.audit_refusal(school, &refusal, sub).await;
        SignInError::refused(refusal, Some(school))
    }

    /// Records a refusal in the school's audit log (ids only: Google's `sub`, never an email).
    pub async fn audit_refusal(&self, school: &School, refusal: &Refusal, sub: &str) {
        let result = async {
            let mut tx = begin_school_tx(&self.pool, school).await?;
            audit::record(
                &mut tx,
                &Actor::Anonymous,
                Action::SignInRefused,
                None,
                json!({"reason": refusal.code(), "google_sub": sub}),
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not audit a refused sign-in");
        }
    }
}
