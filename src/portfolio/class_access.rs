//! Who can reach a class folder (and so every portfolio in it): the course's teacher group as a
//! writer, or, where Classroom gives no group, each of its teachers. What we granted is recorded
//! in `class_folder_grants`, so each provisioning run follows a change of teachers — a new
//! teacher is given access, one who has left loses it — and costs no Drive call when nothing
//! changed.

use std::collections::HashSet;

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::FolderError;
use crate::audit::{self, Action, Actor, Target};
use crate::google::drive::DriveRole;
use crate::google::{DriveClient, ErrorClass};
use crate::tenancy::{School, begin_school_tx};

/// Who a class folder is shared with: the course's teacher group, or one teacher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
enum GranteeKind {
    User,
    Group,
}

impl GranteeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// One grantee of a class folder.
type Grantee = (GranteeKind, String);

/// What following the class's teachers changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessChanges {
    pub granted: u64,
    pub removed: u64,
}

/// Brings the class folder's teacher access in line with the class: its teacher group if it has
/// one, else its teachers.
#[tracing::instrument(skip(pool, drive, school, group), fields(school = %school.slug))]
pub async fn follow_teachers(
    pool: &PgPool,
    drive: &DriveClient,
    school: &School,
    course_id: Uuid,
    group: Option<&str>,
    folder: &str,
) -> Result<AccessChanges, FolderError> {
    let mut tx = begin_school_tx(pool, school).await?;
    let wanted: HashSet<Grantee> = match group {
        Some(group) => [(GranteeKind::Group, group.to_ascii_lowercase())].into(),
        None => sqlx::query_scalar::<_, String>(
            "SELECT lower(s.email) FROM course_teachers ct JOIN staff s ON s.id = ct.staff_id \
             WHERE ct.course_id = $1",
        )
        .bind(course_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|email| (GranteeKind::User, email))
        .collect(),
    };
    let granted: Vec<(GranteeKind, String, String)> = sqlx::query_as(
        "SELECT grantee_type, email, permission_id FROM class_folder_grants WHERE course_id = $1",
    )
    .bind(course_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut changes = AccessChanges::default();
    let have: HashSet<Grantee> = granted
        .iter()
        .map(|(kind, email, _)| (*kind, email.clone()))
        .collect();
    // Permissions still wanted. Drive gives a person one permission id on every item, so a
    // teacher whose address changed keeps the same one: it must not be taken away with the
    // old address's record.
    let mut still_wanted: HashSet<String> = granted
        .iter()
        .filter(|(kind, email, _)| wanted.contains(&(*kind, email.clone())))
        .map(|(_, _, permission)| permission.clone())
        .collect();
    for (kind, email) in wanted.difference(&have) {
        let permission = drive
            .ensure_permission(folder, kind.as_str(), email, DriveRole::Writer)
            .await?;
        record(pool, school, course_id, *kind, email, Some(&permission)).await?;
        still_wanted.insert(permission);
        changes.granted += 1;
    }
    for (kind, email, permission) in &granted {
        if wanted.contains(&(*kind, email.clone())) {
            continue;
        }
        if !still_wanted.contains(permission) {
            match drive.delete_permission(folder, permission).await {
                Ok(()) => {}
                // Already gone from Drive: nothing left to take away.
                Err(e) if e.class() == ErrorClass::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        record(pool, school, course_id, *kind, email, None).await?;
        changes.removed += 1;
    }
    Ok(changes)
}

/// Records a grant made (`Some(permission)`) or taken away (`None`), with its audit entry.
async fn record(
    pool: &PgPool,
    school: &School,
    course_id: Uuid,
    kind: GranteeKind,
    email: &str,
    permission: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = begin_school_tx(pool, school).await?;
    let action = match permission {
        Some(permission) => {
            sqlx::query(
                "INSERT INTO class_folder_grants (course_id, grantee_type, email, permission_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (course_id, grantee_type, email) \
                 DO UPDATE SET permission_id = EXCLUDED.permission_id, granted_at = now()",
            )
            .bind(course_id)
            .bind(kind)
            .bind(email)
            .bind(permission)
            .execute(&mut *tx)
            .await?;
            Action::ClassFolderShared
        }
        None => {
            sqlx::query(
                "DELETE FROM class_folder_grants \
                 WHERE course_id = $1 AND grantee_type = $2 AND email = $3",
            )
            .bind(course_id)
            .bind(kind)
            .bind(email)
            .execute(&mut *tx)
            .await?;
            Action::ClassFolderUnshared
        }
    };
    // Ids only: a teacher is found through the staff table, a group is named by the course.
    let staff: Option<Uuid> = sqlx::query_scalar("SELECT id FROM staff WHERE lower(email) = $1")
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &Actor::System("folders"),
        action,
        Some(&Target::new("course", course_id)),
        json!({"grantee_type": kind.as_str(), "staff": staff}),
    )
    .await?;
    tx.commit().await
}
