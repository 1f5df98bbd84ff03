//! Typed Drive operations: folders found or made idempotently through `appProperties`, and the
//! one direct permission each student has on their folder.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use google_drive3::DriveHub;
use google_drive3::api::{File, Permission};

use super::call::{ApiCaller, all_pages};
use super::error::GoogleError;
use super::token::TokenSource;
use super::{Connector, GoogleEndpoints, HyperClient};
use crate::lease::Leases;
use crate::tenancy::School;

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// Paging stops here even if Google keeps sending page tokens.
const MAX_PAGES: u32 = 1000;
/// What folder lookups read of each file.
const FOLDER_FIELDS: &str = "files(id,name,mimeType,appProperties,trashed)";

/// A Drive permission role. Unknown roles are kept, not refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DriveRole {
    Reader,
    Commenter,
    Writer,
    FileOrganizer,
    Organizer,
    Owner,
    Other(String),
}

impl DriveRole {
    /// Drive's roles from least to most access.
    pub const BY_REACH: [DriveRole; 6] = [
        Self::Reader,
        Self::Commenter,
        Self::Writer,
        Self::FileOrganizer,
        Self::Organizer,
        Self::Owner,
    ];

    pub fn parse(s: &str) -> Self {
        match s {
            "reader" => Self::Reader,
            "commenter" => Self::Commenter,
            "writer" => Self::Writer,
            "fileOrganizer" => Self::FileOrganizer,
            "organizer" => Self::Organizer,
            "owner" => Self::Owner,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Reader => "reader",
            Self::Commenter => "commenter",
            Self::Writer => "writer",
            Self::FileOrganizer => "fileOrganizer",
            Self::Organizer => "organizer",
            Self::Owner => "owner",
            Self::Other(s) => s,
        }
    }
}

/// A folder as Drive reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: String,
    pub name: String,
    pub app_properties: HashMap<String, String>,
}

/// One principal's access to an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPermission {
    pub id: String,
    pub role: DriveRole,
    /// `user`, `group`, `domain` or `anyone`.
    pub kind: String,
    pub email: Option<String>,
    pub domain: Option<String>,
    /// True only when every source of this access is inherited (from the drive or a parent).
    pub inherited: bool,
}

/// An item inside a portfolio folder, as the onward-share scan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveItem {
    pub id: String,
    pub name: String,
    pub is_folder: bool,
    pub parents: Vec<String>,
    /// Whether the item has permissions of its own, not only inherited ones (Drive's
    /// `hasAugmentedPermissions`; assumed true when Drive leaves it out).
    pub has_direct_permissions: bool,
}

/// A shared drive, as the Drive operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDrive {
    pub id: String,
    pub name: String,
    /// Whether the operator can manage the drive's members (is a Manager).
    pub operator_is_manager: bool,
}

/// How many parents one listing names: keeps the `q` well inside Drive's length limit.
pub const PARENTS_PER_LISTING: usize = 40;

/// Drive, as one school's Drive operator.
pub struct DriveClient {
    hub: DriveHub<Connector>,
    caller: ApiCaller,
    school: School,
    leases: Leases,
}

impl DriveClient {
    pub(super) fn new(
        hyper: &HyperClient,
        endpoints: &GoogleEndpoints,
        tokens: TokenSource,
        caller: ApiCaller,
        school: School,
        leases: Leases,
    ) -> Self {
        let mut hub = DriveHub::new(hyper.clone(), tokens.clone());
        let root = endpoints.drive_root.to_string();
        hub.base_url(format!("{root}drive/v3/"));
        hub.root_url(root);
        Self {
            hub,
            caller,
            school,
            leases,
        }
    }

    /// The account Drive work runs as.
    pub fn account(&self) -> &str {
        self.caller.account()
    }

    /// The stored credential (the Drive operator account) this client acts with.
    pub fn operator_id(&self) -> uuid::Uuid {
        self.caller.credential_id()
    }

    /// A shared drive as the operator sees it: its name and whether the operator may manage
    /// its members (only a Manager can share folders inside it). A drive the operator is not a
    /// member of is `NotFound`, as Drive answers.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn shared_drive(&self, id: &str) -> Result<SharedDrive, GoogleError> {
        let op = "get shared drive";
        let drive = self
            .caller
            .send(op, |mut delegate| async move {
                self.hub
                    .drives()
                    .get(id)
                    .param("fields", "id,name,capabilities(canManageMembers)")
                    .delegate(&mut delegate)
                    .doit()
                    .await
            })
            .await?;
        Ok(SharedDrive {
            id: drive.id.unwrap_or_else(|| id.to_owned()),
            name: drive.name.unwrap_or_default(),
            operator_is_manager: drive
                .capabilities
                .and_then(|c| c.can_manage_members)
                .unwrap_or(false),
        })
    }

    /// A folder by id.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn folder(&self, id: &str) -> Result<Folder, GoogleError> {
        let op = "get folder";
        let file = self
            .caller
            .send(op, |mut delegate| async move {
                self.hub
                    .files()
                    .get(id)
                    .supports_all_drives(true)
                    .param("fields", "id,name,mimeType,appProperties,trashed")
                    .delegate(&mut delegate)
                    .doit()
                    .await
            })
            .await?;
        folder_from(op, file)
    }

    /// The folders under `parent` in shared drive `drive_id` whose `appProperties` hold
    /// `key = value`, oldest first. An incomplete search (Drive may say so) is an error, never a
    /// short answer: a missed folder would be created twice.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn find_folders(
        &self,
        drive_id: &str,
        parent: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<Folder>, GoogleError> {
        let op = "find folder";
        let q = format!(
            "'{}' in parents and mimeType = '{FOLDER_MIME}' and trashed = false and \
             appProperties has {{ key='{}' and value='{}' }}",
            quote(parent),
            quote(key),
            quote(value)
        );
        let (files, _) = self
            .list_in_drive(op, drive_id, &q, FOLDER_FIELDS, Some("createdTime"), 100)
            .await?;
        let mut found: Vec<Folder> = Vec::new();
        for file in files {
            let folder = folder_from(op, file)?;
            if !found.iter().any(|f| f.id == folder.id) {
                found.push(folder);
            }
        }
        Ok(found)
    }

    /// Creates the folder marked `key = value` under `parent`. A retry first looks for the
    /// folder again: an attempt whose answer was lost (a 5xx or reset after Drive acted) may
    /// have created it, and creating again would make a duplicate.
    async fn create_marked_folder(
        &self,
        drive_id: &str,
        parent: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Folder, GoogleError> {
        let op = "create folder";
        let attempts = AtomicUsize::new(0);
        let app_properties = HashMap::from([(key.to_owned(), value.to_owned())]);
        let mime = FOLDER_MIME.parse().map_err(|_| GoogleError::Permanent {
            op,
            detail: "bad MIME type".into(),
        })?;
        let create = |mut delegate| {
            let request = File {
                name: Some(name.to_owned()),
                mime_type: Some(FOLDER_MIME.to_owned()),
                parents: Some(vec![parent.to_owned()]),
                app_properties: Some(app_properties.clone()),
                ..File::default()
            };
            let mime = Clone::clone(&mime);
            async move {
                self.hub
                    .files()
                    .create(request)
                    .supports_all_drives(true)
                    .param("fields", "id,name,mimeType,appProperties,trashed")
                    .delegate(&mut delegate)
                    .upload(Cursor::new(Vec::<u8>::new()), mime)
                    .await
            }
        };
        self.caller
            .with_retries(|| async {
                if attempts.fetch_add(1, Ordering::SeqCst) > 0
                    && let Some(made) = self
                        .find_folders(drive_id, parent, key, value)
                        .await?
                        .into_iter()
                        .next()
                {
                    return Ok(made);
                }
                folder_from(op, self.caller.attempt(op, &create).await?)
            })
            .await
    }

    /// The folder under `parent` (in shared drive `drive_id`) marked `key = value`, created
    /// (named `name`) if there is none.
    ///
    /// Idempotent across retries, crashes and processes: the folder is found by its
    /// `appProperties`; a Redis lease on (school, parent, key, value) makes concurrent callers
    /// take turns, so two of them do not both create it; and a create whose answer was lost
    /// looks again before creating again. Should duplicates exist anyway (made by hand in
    /// Drive), the oldest is used and the others are logged. No database connection is held
    /// while Drive is called.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn ensure_folder(
        &self,
        drive_id: &str,
        parent: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Folder, GoogleError> {
        let op = "ensure folder";
        let lock = self
            .leases
            .acquire(
                &format!("drive-folder:{}:{parent}:{key}:{value}", self.school.id),
                Duration::from_secs(120),
                Duration::from_secs(60),
            )
            .await
            .map_err(|e| GoogleError::Transient {
                op,
                detail: e.to_string(),
            })?;
        let result = async {
            let existing = self.find_folders(drive_id, parent, key, value).await?;
            match existing.split_first() {
                Some((oldest, others)) => {
                    if !others.is_empty() {
                        tracing::warn!(folder = %oldest.id, duplicates = others.len(), "duplicate folders found; using the oldest");
                    }
                    Ok(oldest.clone())
                }
                None => self.create_marked_folder(drive_id, parent, name, key, value).await,
            }
        }
        .await;
        lock.release().await;
        result
    }

    /// The folders directly under `parent` carrying app property `key`, by its value: one
    /// listing for a whole class instead of one search per student.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn marked_children(
        &self,
        drive_id: &str,
        parent: &str,
        key: &str,
    ) -> Result<HashMap<String, Folder>, GoogleError> {
        let op = "list folders";
        let q = format!(
            "'{}' in parents and mimeType = '{FOLDER_MIME}' and trashed = false",
            quote(parent)
        );
        let (files, _) = self
            .list_in_drive(op, drive_id, &q, FOLDER_FIELDS, Some("createdTime"), 1000)
            .await?;
        let mut found: HashMap<String, Folder> = HashMap::new();
        for file in files {
            let folder = folder_from(op, file)?;
            if let Some(value) = folder.app_properties.get(key).cloned() {
                // Oldest first: a later duplicate never replaces the first.
                found.entry(value).or_insert(folder);
            }
        }
        Ok(found)
    }

    /// Makes sure each `(name, value)` has a folder under `parent` marked `key = value`, with one
    /// listing and one lock for the whole set; returns them by value, each with whether it was
    /// made just now (a new folder has no permissions yet, so no need to look for any).
    pub async fn ensure_marked_children(
        &self,
        drive_id: &str,
        parent: &str,
        key: &str,
        wanted: &[(String, String)],
    ) -> Result<HashMap<String, (Folder, bool)>, GoogleError> {
        let op = "ensure folders";
        let lock = self
            .leases
            .acquire(
                &format!("drive-children:{}:{parent}:{key}", self.school.id),
                Duration::from_secs(600),
                Duration::from_secs(120),
            )
            .await
            .map_err(|e| GoogleError::Transient {
                op,
                detail: e.to_string(),
            })?;
        let result = async {
            let mut folders: HashMap<String, (Folder, bool)> = self
                .marked_children(drive_id, parent, key)
                .await?
                .into_iter()
                .map(|(value, folder)| (value, (folder, false)))
                .collect();
            for (name, value) in wanted {
                if !folders.contains_key(value) {
                    let folder = self
                        .create_marked_folder(drive_id, parent, name, key, value)
                        .await?;
                    folders.insert(value.clone(), (folder, true));
                }
            }
            Ok(folders)
        }
        .await;
        lock.release().await;
        result
    }

    /// Every principal with access to an item, direct and inherited (all pages).
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn list_permissions(&self, item: &str) -> Result<Vec<FolderPermission>, GoogleError> {
        let op = "list permissions";
        let (listed, _) = all_pages(op, MAX_PAGES, |token| async move {
            let token = &token;
            let list = self
                .caller
                .send(op, |mut delegate| async move {
                    let mut call = self
                        .hub
                        .permissions()
                        .list(item)
                        .supports_all_drives(true)
                        .param(
                            "fields",
                            "nextPageToken,permissions(id,role,emailAddress,domain,type,permissionDetails)",
                        );
                    if let Some(t) = &token {
                        call = call.page_token(t);
                    }
                    call.delegate(&mut delegate).doit().await
                })
                .await?;
            Ok((list.permissions.unwrap_or_default(), list.next_page_token))
        })
        .await?;
        let mut seen = HashSet::new();
        let mut permissions = Vec::new();
        for p in listed {
            let permission = permission_from(op, p)?;
            if seen.insert(permission.id.clone()) {
                permissions.push(permission);
            }
        }
        Ok(permissions)
    }

    /// Gives `email` a direct permission with `role` on a folder, without an email; returns its
    /// id. If they already hold a direct permission, it is switched to `role` (or left as is).
    pub async fn ensure_user_permission(
        &self,
        folder: &str,
        email: &str,
        role: DriveRole,
    ) -> Result<String, GoogleError> {
        self.ensure_permission(folder, "user", email, role).await
    }

    /// As [`Self::ensure_user_permission`], for a `user` or a `group` (a course's teacher group).
    #[tracing::instrument(skip(self, email), fields(school = %self.school.slug))]
    pub async fn ensure_permission(
        &self,
        folder: &str,
        kind: &'static str,
        email: &str,
        role: DriveRole,
    ) -> Result<String, GoogleError> {
        let existing = self.list_permissions(folder).await?.into_iter().find(|p| {
            p.kind == kind
                && !p.inherited
                && p.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        match existing {
            Some(p) if p.role == role => Ok(p.id),
            Some(p) => {
                self.set_permission_role(folder, &p.id, role).await?;
                Ok(p.id)
            }
            None => self.create_permission(folder, kind, email, role).await,
        }
    }

    /// Creates a direct user permission (no notification email); returns its id.
    pub async fn create_user_permission(
        &self,
        folder: &str,
        email: &str,
        role: DriveRole,
    ) -> Result<String, GoogleError> {
        self.create_permission(folder, "user", email, role).await
    }

    /// Creates a direct `user` or `group` permission (no notification email); returns its id.
    #[tracing::instrument(skip(self, email), fields(school = %self.school.slug))]
    pub async fn create_permission(
        &self,
        folder: &str,
        kind: &'static str,
        email: &str,
        role: DriveRole,
    ) -> Result<String, GoogleError> {
        let op = "share folder";
        let role = &role;
        let created = self
            .caller
            .send(op, |mut delegate| async move {
                let request = Permission {
                    type_: Some(kind.to_owned()),
                    role: Some(role.as_str().to_owned()),
                    email_address: Some(email.to_owned()),
                    ..Permission::default()
                };
                self.hub
                    .permissions()
                    .create(request, folder)
                    .send_notification_email(false)
                    .supports_all_drives(true)
                    .param("fields", "id,role,type,emailAddress")
                    .delegate(&mut delegate)
                    .doit()
                    .await
            })
            .await?;
        created.id.ok_or_else(|| GoogleError::Transient {
            op,
            detail: "Drive answered without a permission id".to_owned(),
        })
    }

    /// The items (not trashed) directly inside any of `parents` (at most
    /// [`PARENTS_PER_LISTING`]), all pages; with the number of requests it took.
    #[tracing::instrument(skip(self, parents), fields(school = %self.school.slug, parents = parents.len()))]
    pub async fn children_of(
        &self,
        drive_id: &str,
        parents: &[String],
    ) -> Result<(Vec<DriveItem>, u32), GoogleError> {
        let op = "list folder contents";
        if parents.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let any_parent = parents
            .iter()
            .map(|p| format!("'{}' in parents", quote(p)))
            .collect::<Vec<_>>()
            .join(" or ");
        let q = format!("({any_parent}) and trashed = false");
        let (files, pages) = self
            .list_in_drive(
                op,
                drive_id,
                &q,
                "files(id,name,mimeType,parents,hasAugmentedPermissions)",
                None,
                1000,
            )
            .await?;
        let items = files
            .into_iter()
            .filter_map(|file| {
                Some(DriveItem {
                    is_folder: file.mime_type.as_deref() == Some(FOLDER_MIME),
                    name: file.name.unwrap_or_default(),
                    parents: file.parents.unwrap_or_default(),
                    has_direct_permissions: file.has_augmented_permissions.unwrap_or(true),
                    id: file.id?,
                })
            })
            .collect();
        Ok((items, pages))
    }

    /// Every item in shared drive `drive_id` that `q` selects, all pages (`files` is the
    /// partial-response mask for each file); with the number of requests it took. An incomplete
    /// search (Drive may say so) is an error, never a short answer.
    async fn list_in_drive(
        &self,
        op: &'static str,
        drive_id: &str,
        q: &str,
        files: &str,
        order_by: Option<&str>,
        page_size: i32,
    ) -> Result<(Vec<File>, u32), GoogleError> {
        let fields = &format!("nextPageToken,incompleteSearch,{files}");
        all_pages(op, MAX_PAGES, |token| async move {
            let token = &token;
            let list = self
                .caller
                .send(op, |mut delegate| async move {
                    let mut call = self
                        .hub
                        .files()
                        .list()
                        .q(q)
                        .corpora("drive")
                        .drive_id(drive_id)
                        .include_items_from_all_drives(true)
                        .supports_all_drives(true)
                        .page_size(page_size)
                        .param("fields", fields);
                    if let Some(order) = order_by {
                        call = call.order_by(order);
                    }
                    if let Some(t) = &token {
                        call = call.page_token(t);
                    }
                    call.delegate(&mut delegate).doit().await
                })
                .await?;
            if list.incomplete_search == Some(true) {
                return Err(GoogleError::Transient {
                    op,
                    detail: "Drive reported an incomplete search".to_owned(),
                });
            }
            Ok((list.files.unwrap_or_default(), list.next_page_token))
        })
        .await
    }

    /// Removes a permission from an item (a grant the School Admin chose to remove).
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn delete_permission(
        &self,
        item: &str,
        permission_id: &str,
    ) -> Result<(), GoogleError> {
        let op = "remove permission";
        self.caller
            .send(op, |mut delegate| async move {
                self.hub
                    .permissions()
                    .delete(item, permission_id)
                    .supports_all_drives(true)
                    .delegate(&mut delegate)
                    .doit()
                    .await
                    .map(|response| (response, ()))
            })
            .await
    }

    /// Moves an item to the shared drive's trash (`files.update {trashed: true}`), where the
    /// drive's managers can still restore it for 30 days. An item already gone is `NotFound`.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn trash(&self, item: &str) -> Result<(), GoogleError> {
        let op = "trash folder";
        self.caller
            .send(op, |mut delegate| async move {
                let request = File {
                    trashed: Some(true),
                    ..File::default()
                };
                self.hub
                    .files()
                    .update(request, item)
                    .supports_all_drives(true)
                    .param("fields", "id,trashed")
                    .delegate(&mut delegate)
                    .doit_without_upload()
                    .await
            })
            .await
            .map(drop)
    }

    /// Switches an existing permission's role: the lock/unlock call, one request.
    #[tracing::instrument(skip(self), fields(school = %self.school.slug))]
    pub async fn set_permission_role(
        &self,
        folder: &str,
        permission_id: &str,
        role: DriveRole,
    ) -> Result<(), GoogleError> {
        let op = "switch permission";
        let wanted = role.as_str();
        let updated = self
            .caller
            .send(op, |mut delegate| async move {
                let request = Permission {
                    role: Some(wanted.to_owned()),
                    ..Permission::default()
                };
                self.hub
                    .permissions()
                    .update(request, folder, permission_id)
                    .supports_all_drives(true)
                    .param("fields", "id,role")
                    .delegate(&mut delegate)
                    .doit()
                    .await
            })
            .await?;
        match updated.role.as_deref().map(DriveRole::parse) {
            Some(r) if r == role => Ok(()),
            other => Err(GoogleError::Transient {
                op,
                detail: format!(
                    "Drive reported role {other:?} after setting {}",
                    role.as_str()
                ),
            }),
        }
    }
}

/// Escapes a value for a single-quoted `q` literal.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

fn folder_from(op: &'static str, file: File) -> Result<Folder, GoogleError> {
    let id = file.id.ok_or_else(|| GoogleError::Transient {
        op,
        detail: "Drive answered without a file id".to_owned(),
    })?;
    if file.mime_type.as_deref().is_some_and(|m| m != FOLDER_MIME) {
        return Err(GoogleError::Permanent {
            op,
            detail: format!("{id} is not a folder"),
        });
    }
    Ok(Folder {
        name: file.name.unwrap_or_default(),
        app_properties: file.app_properties.unwrap_or_default(),
        id,
    })
}

fn permission_from(op: &'static str, p: Permission) -> Result<FolderPermission, GoogleError> {
    let id = p.id.ok_or_else(|| GoogleError::Transient {
        op,
        detail: "Drive listed a permission without an id".to_owned(),
    })?;
    let details = p.permission_details.unwrap_or_default();
    Ok(FolderPermission {
        role: DriveRole::parse(p.role.as_deref().unwrap_or("unknown")),
        kind: p.type_.unwrap_or_else(|| "unknown".to_owned()),
        email: p.email_address.map(|e| e.to_ascii_lowercase()),
        domain: p.domain,
        inherited: !details.is_empty() && details.iter().all(|d| d.inherited == Some(true)),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_literals_are_escaped() {
        assert_eq!(quote("O'Brien"), "O\\'Brien");
        assert_eq!(quote("a\\b"), "a\\\\b");
    }

    #[test]
    fn unknown_roles_are_kept() {
        assert_eq!(DriveRole::parse("writer"), DriveRole::Writer);
        assert_eq!(
            DriveRole::parse("superUser"),
            DriveRole::Other("superUser".into())
        );
        assert_eq!(DriveRole::parse("superUser").as_str(), "superUser");
    }
}
