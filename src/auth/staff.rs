//! Staff members as sign-in knows them, and the roles they hold.

use std::collections::HashMap;

use uuid::Uuid;

use super::roles::{Role, RoleAssignment};
use crate::tenancy::SchoolTx;

/// A member of staff's name wherever one is shown (pages, the audit log, sync problems): their
/// display name, or their address when the display name is blank. A SQL expression over the
/// `staff` table under its own name, so a query that joins it must not alias it.
pub const DISPLAY_NAME_SQL: &str = "coalesce(nullif(btrim(staff.display_name), ''), staff.email)";

/// The names ([`DISPLAY_NAME_SQL`]) of these members of staff, by id; an id with no staff row
/// is left out.
pub async fn names(tx: &mut SchoolTx, ids: &[Uuid]) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT staff.id, {DISPLAY_NAME_SQL} FROM staff WHERE staff.id = ANY($1)"
    )))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Staff {
    pub id: Uuid,
    pub google_sub: String,
    pub email: String,
    pub display_name: String,
    pub photo_url: Option<String>,
}

/// What Google says about a person at sign-in.
pub struct Profile<'a> {
    pub sub: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub photo_url: Option<&'a str>,
}

pub async fn by_sub(tx: &mut SchoolTx, sub: &str) -> Result<Option<Staff>, sqlx::Error> {
    sqlx::query_as::<_, Staff>(
        "SELECT id, google_sub, email, display_name, photo_url FROM staff WHERE google_sub = $1",
    )
    .bind(sub)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn by_id(tx: &mut SchoolTx, id: Uuid) -> Result<Option<Staff>, sqlx::Error> {
    sqlx::query_as::<_, Staff>(
        "SELECT id, google_sub, email, display_name, photo_url FROM staff WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// A staff member and their roles in one round trip (every signed-in request asks).
#[tracing::instrument(skip(tx))]
pub async fn with_roles(
    tx: &mut SchoolTx,
    id: Uuid,
) -> Result<Option<(Staff, Vec<RoleAssignment>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Joined {
        #[sqlx(flatten)]
        staff: Staff,
        role_id: Option<Uuid>,
        role: Option<Role>,
        subject_id: Option<Uuid>,
    }
    let rows: Vec<Joined> = sqlx::query_as(
        "SELECT s.id, s.google_sub, s.email, s.display_name, s.photo_url, \
             r.id AS role_id, r.role, r.subject_id \
         FROM staff s LEFT JOIN role_assignments r ON r.staff_id = s.id \
         WHERE s.id = $1 ORDER BY r.role, r.subject_id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let staff = first.staff.clone();
    let roles = rows
        .iter()
        .filter_map(|r| {
            Some(RoleAssignment {
                id: r.role_id?,
                staff_id: staff.id,
                role: r.role?,
                subject_id: r.subject_id,
            })
        })
        .collect();
    Ok(Some((staff, roles)))
}

pub async fn by_email(tx: &mut SchoolTx, email: &str) -> Result<Option<Staff>, sqlx::Error> {
    sqlx::query_as::<_, Staff>(
        "SELECT id, google_sub, email, display_name, photo_url FROM staff WHERE lower(email) = lower($1) \
         ORDER BY created_at LIMIT 1",
    )
    .bind(email)
    .fetch_optional(&mut **tx)
    .await
}

/// Creates or refreshes a staff member by Google's `sub` (emails can change; `sub` cannot),
/// recording the sign-in time.
pub async fn upsert_signed_in(tx: &mut SchoolTx, p: &Profile<'_>) -> Result<Staff, sqlx::Error> {
    sqlx::query_as::<_, Staff>(
        "INSERT INTO staff (google_sub, email, display_name, given_name, family_name, photo_url, last_signed_in_at) \
         VALUES ($1, lower($2), $3, $4, $5, $6, now()) \
         ON CONFLICT (google_sub) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, \
             given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name, \
             photo_url = EXCLUDED.photo_url, last_signed_in_at = now(), updated_at = now(), \
             left_at = NULL \
         RETURNING id, google_sub, email, display_name, photo_url",
    )
    .bind(p.sub)
    .bind(p.email)
    .bind(p.display_name)
    .bind(p.given_name)
    .bind(p.family_name)
    .bind(p.photo_url)
    .fetch_one(&mut **tx)
    .await
}

/// Every role a staff member holds.
pub async fn roles(tx: &mut SchoolTx, staff_id: Uuid) -> Result<Vec<RoleAssignment>, sqlx::Error> {
    sqlx::query_as::<_, RoleAssignment>(
        "SELECT id, staff_id, role, subject_id FROM role_assignments WHERE staff_id = $1 ORDER BY role, subject_id",
    )
    .bind(staff_id)
    .fetch_all(&mut **tx)
    .await
}

/// Whether invitations are waiting for this (verified) email. A lapsed invitation (past its
/// `expires_at`) waits for nobody; the retention run deletes it.
pub async fn has_invitation(tx: &mut SchoolTx, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM role_invitations WHERE email = lower($1) \
                        AND (expires_at IS NULL OR expires_at > now()))",
    )
    .bind(email)
    .fetch_one(&mut **tx)
    .await
}

/// Turns the invitations for `email` into roles of `staff_id`; returns the roles granted.
pub async fn accept_invitations(
    tx: &mut SchoolTx,
    staff_id: Uuid,
    email: &str,
) -> Result<Vec<Role>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH taken AS (DELETE FROM role_invitations WHERE email = lower($2) \
                            AND (expires_at IS NULL OR expires_at > now()) \
                        RETURNING role, subject_id, invited_by) \
         INSERT INTO role_assignments (staff_id, role, subject_id, granted_by) \
         SELECT $1, role, subject_id, invited_by FROM taken \
         ON CONFLICT ON CONSTRAINT role_assignments_unique DO NOTHING \
         RETURNING role",
    )
    .bind(staff_id)
    .bind(email)
    .fetch_all(&mut **tx)
    .await
}

/// Grants a role (no-op if held); returns the assignment id. `DO UPDATE` rather than
/// `DO NOTHING`, so a concurrent identical grant still returns the id.
pub async fn grant(
    tx: &mut SchoolTx,
    staff_id: Uuid,
    role: Role,
    subject_id: Option<Uuid>,
    granted_by: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    // Someone given a role is staff again, if they had left.
    sqlx::query("UPDATE staff SET left_at = NULL WHERE id = $1 AND left_at IS NOT NULL")
        .bind(staff_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar(
        "INSERT INTO role_assignments (staff_id, role, subject_id, granted_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT ON CONSTRAINT role_assignments_unique DO UPDATE SET role = EXCLUDED.role \
         RETURNING id",
    )
    .bind(staff_id)
    .bind(role)
    .bind(subject_id)
    .bind(granted_by)
    .fetch_one(&mut **tx)
    .await
}
