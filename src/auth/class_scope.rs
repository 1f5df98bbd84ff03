//! Which classes a signed-in person may see or act on: one answer, one SQL predicate.
//!
//! Every route that takes a class or portfolio id asks the person's [`ClassScope`], and so does
//! the live status stream; every later page or route over classes must too. A class outside the scope
//! and a class that does not exist look the same to the caller (a 404), so the scope never
//! hints at another class's existence.

use uuid::Uuid;

use super::roles::{Permission, Role, RoleAssignment, any_allows};
use crate::tenancy::SchoolTx;

/// What the classes are wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassAccess {
    /// Seeing a class, its portfolios and their history.
    View,
    /// Locking and unlocking its portfolios.
    Lock,
    /// Scanning its folders for onward shares and deciding on what was found.
    ReviewShares,
}

impl ClassAccess {
    /// The permission that reaches every class, and the one that reaches one's own (if any).
    fn permissions(self) -> (Permission, Option<Permission>) {
        match self {
            Self::View => (Permission::ViewAllClasses, Some(Permission::ViewOwnClasses)),
            Self::Lock => (
                Permission::LockAnyPortfolio,
                Some(Permission::LockOwnClasses),
            ),
            Self::ReviewShares => (Permission::ReviewShares, None),
        }
    }
}

/// The classes one person reaches for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassScope {
    /// Every class in the school.
    Everything,
    /// The classes they teach, and every class of the subjects they head.
    Own { staff_id: Uuid, subjects: Vec<Uuid> },
    /// No class at all.
    Nothing,
}

/// The one predicate over `courses c`: `$1` every class, `$2` the staff member, `$3` the
/// subjects they head. Used by every query below, so the rule lives in one string.
const IN_SCOPE: &str = "($1 OR c.subject_id = ANY($3) \
     OR EXISTS (SELECT 1 FROM course_teachers ct WHERE ct.course_id = c.id AND ct.staff_id = $2))";

impl ClassScope {
    /// The scope `roles` give `staff_id` for `access`.
    pub fn of(roles: &[RoleAssignment], staff_id: Uuid, access: ClassAccess) -> Self {
        let (any, own) = access.permissions();
        if any_allows(roles, any) {
            return Self::Everything;
        }
        if !own.is_some_and(|own| any_allows(roles, own)) {
            return Self::Nothing;
        }
        let subjects = roles
            .iter()
            .filter(|r| r.role == Role::HeadOfSubject)
            .filter_map(|r| r.subject_id)
            .collect();
        Self::Own { staff_id, subjects }
    }

    /// Whether the scope reaches any class at all (for refusing a route outright).
    pub fn is_empty(&self) -> bool {
        *self == Self::Nothing
    }

    fn binds(&self) -> (bool, Uuid, Vec<Uuid>) {
        match self {
            Self::Everything => (true, Uuid::nil(), Vec::new()),
            Self::Own { staff_id, subjects } => (false, *staff_id, subjects.clone()),
            Self::Nothing => (false, Uuid::nil(), Vec::new()),
        }
    }

    /// Whether class `course_id` exists and is in the scope.
    #[tracing::instrument(skip(self, tx))]
    pub async fn includes(&self, tx: &mut SchoolTx, course_id: Uuid) -> Result<bool, sqlx::Error> {
        if self.is_empty() {
            return Ok(false);
        }
        let (all, staff, subjects) = self.binds();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM courses c WHERE c.id = $4 AND {IN_SCOPE})"
        )))
        .bind(all)
        .bind(staff)
        .bind(subjects)
        .bind(course_id)
        .fetch_one(&mut **tx)
        .await
    }

    /// The class of portfolio `portfolio_id`, if the portfolio exists and its class is in the
    /// scope.
    #[tracing::instrument(skip(self, tx))]
    pub async fn class_of_portfolio(
        &self,
        tx: &mut SchoolTx,
        portfolio_id: Uuid,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let (all, staff, subjects) = self.binds();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT c.id FROM portfolios p JOIN courses c ON c.id = p.course_id \
             WHERE p.id = $4 AND {IN_SCOPE}"
        )))
        .bind(all)
        .bind(staff)
        .bind(subjects)
        .bind(portfolio_id)
        .fetch_optional(&mut **tx)
        .await
    }

    /// Every class in the scope, by id.
    #[tracing::instrument(skip(self, tx))]
    pub async fn classes(&self, tx: &mut SchoolTx) -> Result<Vec<Uuid>, sqlx::Error> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let (all, staff, subjects) = self.binds();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT c.id FROM courses c WHERE {IN_SCOPE} ORDER BY c.id"
        )))
        .bind(all)
        .bind(staff)
        .bind(subjects)
        .fetch_all(&mut **tx)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(role: Role, subject: Option<Uuid>) -> RoleAssignment {
        RoleAssignment {
            id: Uuid::new_v4(),
            staff_id: Uuid::nil(),
            role,
            subject_id: subject,
        }
    }

    #[test]
    fn each_role_reaches_what_the_table_says() {
        let me = Uuid::new_v4();
        let chemistry = Uuid::new_v4();
        let of = |roles: &[RoleAssignment], access| ClassScope::of(roles, me, access);
        let teacher = [holding(Role::Teacher, None)];
        let own = ClassScope::Own {
            staff_id: me,
            subjects: vec![],
        };
        assert_eq!(of(&teacher, ClassAccess::View), own);
        assert_eq!(of(&teacher, ClassAccess::Lock), own);
        assert_eq!(of(&teacher, ClassAccess::ReviewShares), ClassScope::Nothing);
        let head = [holding(Role::HeadOfSubject, Some(chemistry))];
        assert_eq!(
            of(&head, ClassAccess::Lock),
            ClassScope::Own {
                staff_id: me,
                subjects: vec![chemistry]
            }
        );
        for role in [Role::ExamsOfficer, Role::Headteacher] {
            assert_eq!(
                of(&[holding(role, None)], ClassAccess::Lock),
                ClassScope::Everything
            );
            assert_eq!(
                of(&[holding(role, None)], ClassAccess::View),
                ClassScope::Everything
            );
        }
        let admin = [holding(Role::SchoolAdmin, None)];
        assert_eq!(of(&admin, ClassAccess::View), ClassScope::Nothing);
        assert_eq!(of(&admin, ClassAccess::Lock), ClassScope::Nothing);
        assert_eq!(
            of(&admin, ClassAccess::ReviewShares),
            ClassScope::Everything
        );
        // Roles add up: a School Admin who also teaches reaches their own classes.
        let both = [
            holding(Role::SchoolAdmin, None),
            holding(Role::Teacher, None),
        ];
        assert_eq!(of(&both, ClassAccess::Lock), own);
    }
}
