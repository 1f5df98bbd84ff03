//! Roles and what they allow: the one permission table.
//!
//! A person may hold several roles in a school; a Head of Subject holds theirs per subject.
//! Route-level checks ask [`allows`]; which classes a Teacher or Head of Subject reaches is
//! decided by the domain code that reads their classes and subjects.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role in one school.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Teacher,
    HeadOfSubject,
    ExamsOfficer,
    Headteacher,
    SchoolAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Teacher,
        Role::HeadOfSubject,
        Role::ExamsOfficer,
        Role::Headteacher,
        Role::SchoolAdmin,
    ];

    /// The role's name as the JSON API, the database and forms spell it ("head_of_subject"):
    /// the same as its serde and sqlx names (a unit test holds them together).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::HeadOfSubject => "head_of_subject",
            Self::ExamsOfficer => "exams_officer",
            Self::Headteacher => "headteacher",
            Self::SchoolAdmin => "school_admin",
        }
    }

    /// The name staff see.
    pub fn label(self) -> &'static str {
        match self {
            Self::Teacher => "Teacher",
            Self::HeadOfSubject => "Head of Subject",
            Self::ExamsOfficer => "Examinations Officer",
            Self::Headteacher => "Headteacher",
            Self::SchoolAdmin => "School Admin",
        }
    }
}

/// Something a route lets a person do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the classes one teaches (or, for a Head of Subject, their subjects' classes).
    ViewOwnClasses,
    /// Lock and unlock portfolios in those classes.
    LockOwnClasses,
    /// See every class in the school.
    ViewAllClasses,
    /// Lock and unlock any portfolio.
    LockAnyPortfolio,
    /// Create, edit and cancel assessment windows; override a window for one student.
    ManageWindows,
    /// Read the audit log.
    ReadAuditLog,
    /// Recompute the audit log's hash chain.
    VerifyAuditLog,
    /// School settings (Workspace domain, Shared Drive, retention, sync interval).
    ManageSettings,
    /// Assign and revoke roles.
    ManageRoles,
    /// Connect the school's Drive operator.
    ConnectDrive,
    /// Run a roster sync now.
    SyncRosters,
    /// Subject access export, erasure, retention purge, offboarding.
    UsePrivacyTools,
    /// See what the onward-share scan found, and remove or keep each grant.
    ReviewShares,
}

impl Permission {
    pub const ALL: [Permission; 13] = [
        Permission::ViewOwnClasses,
        Permission::LockOwnClasses,
        Permission::ViewAllClasses,
        Permission::LockAnyPortfolio,
        Permission::ManageWindows,
        Permission::ReadAuditLog,
        Permission::VerifyAuditLog,
        Permission::ManageSettings,
        Permission::ManageRoles,
        Permission::ConnectDrive,
        Permission::SyncRosters,
        Permission::UsePrivacyTools,
        Permission::ReviewShares,
    ];
}

/// The permission table. Every route's check ends here.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    match role {
        R::Teacher | R::HeadOfSubject => {
            matches!(permission, P::ViewOwnClasses | P::LockOwnClasses)
        }
        R::ExamsOfficer => matches!(
            permission,
            P::ViewOwnClasses
                | P::LockOwnClasses
                | P::ViewAllClasses
                | P::LockAnyPortfolio
                | P::ManageWindows
        ),
        R::Headteacher => matches!(
            permission,
            P::ViewOwnClasses
                | P::LockOwnClasses
                | P::ViewAllClasses
                | P::LockAnyPortfolio
                | P::ReadAuditLog
                | P::VerifyAuditLog
        ),
        R::SchoolAdmin => matches!(
            permission,
            P::ReadAuditLog
                | P::VerifyAuditLog
                | P::ManageSettings
                | P::ManageRoles
                | P::ConnectDrive
                | P::SyncRosters
                | P::UsePrivacyTools
                | P::ReviewShares
        ),
    }
}

/// One role a person holds (with its subject, for a Head of Subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RoleAssignment {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub role: Role,
    pub subject_id: Option<Uuid>,
}

/// Whether any of `roles` allows `permission`.
pub fn any_allows(roles: &[RoleAssignment], permission: Permission) -> bool {
    roles.iter().any(|r| allows(r.role, permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roles_name_is_its_serde_name() {
        for role in Role::ALL {
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::from(role.as_str()),
                "{role:?}"
            );
            assert_eq!(
                serde_json::from_value::<Role>(role.as_str().into()).unwrap(),
                role
            );
        }
    }

    #[test]
    fn the_table_matches_the_design() {
        use Permission as P;
        // Only School Admins manage the school; only they and Headteachers verify the audit log.
        for p in [
            P::ManageSettings,
            P::ManageRoles,
            P::ConnectDrive,
            P::UsePrivacyTools,
            P::ReviewShares,
        ] {
            let holders: Vec<Role> = Role::ALL.into_iter().filter(|r| allows(*r, p)).collect();
            assert_eq!(holders, [Role::SchoolAdmin], "{p:?}");
        }
        let verifiers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| allows(*r, P::VerifyAuditLog))
            .collect();
        assert_eq!(verifiers, [Role::Headteacher, Role::SchoolAdmin]);
        let windows: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| allows(*r, P::ManageWindows))
            .collect();
        assert_eq!(windows, [Role::ExamsOfficer]);
        // Every permission belongs to someone.
        for p in Permission::ALL {
            assert!(
                Role::ALL.into_iter().any(|r| allows(r, p)),
                "{p:?} unreachable"
            );
        }
    }
}
