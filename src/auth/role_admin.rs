//! School Admins assigning and revoking roles: audited, and never leaving a school without a
//! School Admin.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::roles::Role;
use super::staff;
use crate::audit::{self, Action, Actor, Target};
use crate::input::{EmailAddress, FieldError};
use crate::tenancy::SchoolTx;

/// Days an invitation a School Admin makes waits for its first sign-in before it lapses (the
/// retention run then deletes it). Inviting the same person again renews it.
pub const INVITATION_DAYS: i32 = 30;

/// Roles held and roles waiting for a first sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct RoleList {
    pub assignments: Vec<AssignmentView>,
    pub invitations: Vec<InvitationView>,
}

impl RoleList {
    /// Whether [`revoke`] would take this role away: anything but the school's last School
    /// Admin, so a page shows no button that would be refused.
    pub fn can_revoke(&self, assignment: &AssignmentView) -> bool {
        let school_admins = self
            .assignments
            .iter()
            .filter(|a| a.role == Role::SchoolAdmin)
            .count();
        leaves_a_school_admin(assignment.role, school_admins)
    }
}

/// Whether taking a `role` away, with `school_admins` School Admins now, leaves the school at
/// least one: the one rule [`revoke`] enforces and [`RoleList::can_revoke`] shows.
fn leaves_a_school_admin(role: Role, school_admins: usize) -> bool {
    role != Role::SchoolAdmin || school_admins > 1
}

/// A role someone holds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssignmentView {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub subject_id: Option<Uuid>,
    /// The subject's name, for a Head of Subject.
    pub subject: Option<String>,
    /// When they last signed in; none for someone known only from Classroom.
    pub last_signed_in_at: Option<DateTime<Utc>>,
}

/// A role waiting for someone's first sign-in.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub subject_id: Option<Uuid>,
    /// The subject's name, for a Head of Subject.
    pub subject: Option<String>,
    pub invited_at: DateTime<Utc>,
    /// Who invited them (their name, else their address); none for the first School Admin,
    /// named when the school was registered, or an inviter since removed.
    pub invited_by: Option<String>,
}

/// What an assignment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assigned {
    /// The person has signed in before: the role is theirs now.
    Granted { id: Uuid },
    /// They have not: it waits for their first sign-in.
    Invited { id: Uuid },
}

/// Why a role change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoleChangeError {
    #[error("a Head of Subject needs a subject, and only a Head of Subject has one")]
    SubjectMismatch,
    #[error("no such subject")]
    UnknownSubject,
    #[error(transparent)]
    Input(#[from] FieldError),
    #[error("roles go only to accounts of the school's own domain ({0})")]
    OtherDomain(String),
    #[error("no such role assignment")]
    NotFound,
    #[error("a school must keep at least one School Admin")]
    LastSchoolAdmin,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Every role held and every invitation, by email.
pub async fn list(tx: &mut SchoolTx) -> Result<RoleList, sqlx::Error> {
    let assignments = sqlx::query_as::<_, AssignmentView>(
        "SELECT r.id, r.staff_id, s.email, s.display_name, r.role, r.subject_id, \
                sub.name AS subject, s.last_signed_in_at \
         FROM role_assignments r JOIN staff s ON s.id = r.staff_id \
         LEFT JOIN subjects sub ON sub.id = r.subject_id ORDER BY s.email, r.role",
    )
    .fetch_all(&mut **tx)
    .await?;
    // The inviter is joined as `staff` unaliased, as `DISPLAY_NAME_SQL` expects.
    let invitations = sqlx::query_as::<_, InvitationView>(sqlx::AssertSqlSafe(format!(
        "SELECT i.id, i.email, i.role, i.subject_id, sub.name AS subject, i.created_at AS invited_at, \
                {} AS invited_by \
         FROM role_invitations i LEFT JOIN subjects sub ON sub.id = i.subject_id \
         LEFT JOIN staff ON staff.id = i.invited_by ORDER BY i.email, i.role",
        staff::DISPLAY_NAME_SQL
    )))
    .fetch_all(&mut **tx)
    .await?;
    Ok(RoleList {
        assignments,
        invitations,
    })
}

/// Gives `email` (an address of the school's own domain) a role: at once if they have signed
/// in, otherwise at their first sign-in.
pub async fn assign(
    tx: &mut SchoolTx,
    by: Uuid,
    school_domain: &str,
    email: &str,
    role: Role,
    subject_id: Option<Uuid>,
) -> Result<Assigned, RoleChangeError> {
    let email = EmailAddress::parse(email).map_err(|e| e.on("email"))?;
    if !email.is_in_domain(school_domain) {
        return Err(RoleChangeError::OtherDomain(school_domain.to_owned()));
    }
    let email = email.as_str();
    if (role == Role::HeadOfSubject) != subject_id.is_some() {
        return Err(RoleChangeError::SubjectMismatch);
    }
    if let Some(subject) = subject_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subjects WHERE id = $1)")
                .bind(subject)
                .fetch_one(&mut **tx)
                .await?;
        if !exists {
            return Err(RoleChangeError::UnknownSubject);
        }
    }
    let assigned = match staff::by_email(tx, email).await? {
        Some(person) => Assigned::Granted {
            id: staff::grant(tx, person.id, role, subject_id, Some(by)).await?,
        },
        None => {
            // DO UPDATE (not DO NOTHING) so a concurrent identical invitation still returns its id.
            let id: Uuid = sqlx::query_scalar(
                "INSERT INTO role_invitations (email, role, subject_id, invited_by, expires_at) \
                 VALUES ($1, $2, $3, $4, now() + make_interval(days => $5)) \
                 ON CONFLICT ON CONSTRAINT role_invitations_unique DO UPDATE SET \
                     role = EXCLUDED.role, expires_at = EXCLUDED.expires_at \
                 RETURNING id",
            )
            .bind(email)
            .bind(role)
            .bind(subject_id)
            .bind(by)
            .bind(INVITATION_DAYS)
            .fetch_one(&mut **tx)
            .await?;
            Assigned::Invited { id }
        }
    };
    let (target, id) = match &assigned {
        Assigned::Granted { id } => ("role_assignment", *id),
        Assigned::Invited { id } => ("role_invitation", *id),
    };
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::RoleAssigned,
        Some(&Target::new(target, id)),
        json!({"role": role, "subject_id": subject_id}),
    )
    .await?;
    Ok(assigned)
}

/// What a revocation took away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// A waiting invitation.
    Invitation,
    /// A role of `staff_id`; `last_role` when they hold none now, so their sessions must end.
    Role { staff_id: Uuid, last_role: bool },
}

/// Takes a role (or a waiting invitation) away. The last School Admin cannot be removed.
pub async fn revoke(tx: &mut SchoolTx, by: Uuid, id: Uuid) -> Result<Revoked, RoleChangeError> {
    // Concurrent revocations of two School Admins must not both pass the count below.
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM role_assignments WHERE role = 'school_admin' FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await?;
    let removed: Option<(Uuid, Role)> =
        sqlx::query_as("SELECT staff_id, role FROM role_assignments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let target = match removed {
        Some((_, role)) if !leaves_a_school_admin(role, admins.len()) => {
            return Err(RoleChangeError::LastSchoolAdmin);
        }
        Some((staff_id, role)) => {
            sqlx::query("DELETE FROM role_assignments WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let last_role = staff::roles(tx, staff_id).await?.is_empty();
            (
                Target::new("role_assignment", id),
                json!({"role": role, "staff_id": staff_id, "last_role": last_role}),
                Revoked::Role {
                    staff_id,
                    last_role,
                },
            )
        }
        None => {
            let role: Option<Role> =
                sqlx::query_scalar("DELETE FROM role_invitations WHERE id = $1 RETURNING role")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
            let role = role.ok_or(RoleChangeError::NotFound)?;
            (
                Target::new("role_invitation", id),
                json!({"role": role}),
                Revoked::Invitation,
            )
        }
    };
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::RoleRevoked,
        Some(&target.0),
        target.1,
    )
    .await?;
    Ok(target.2)
}
