//! Drive's files, shared drives and permissions, with Drive's sharing rules:
//! - a shared drive's members reach everything in it (inherited `member` permissions);
//! - a folder's direct permissions reach everything beneath it (inherited `file` permissions);
//! - an inherited permission can never be removed or reduced on a child;
//! - a principal's permission id is the same on every item (Drive derives it from the principal).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Value, json};

use crate::error::GoogleError;

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

/// A permission role, ordered from least to most access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Reader,
    Commenter,
    Writer,
    FileOrganizer,
    Organizer,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reader" => Self::Reader,
            "commenter" => Self::Commenter,
            "writer" => Self::Writer,
            "fileOrganizer" => Self::FileOrganizer,
            "organizer" => Self::Organizer,
            "owner" => Self::Owner,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Commenter => "commenter",
            Self::Writer => "writer",
            Self::FileOrganizer => "fileOrganizer",
            Self::Organizer => "organizer",
            Self::Owner => "owner",
        }
    }

    /// What an item's effective role can do, as Drive's UI names it.
    pub fn can_edit(self) -> bool {
        self >= Self::Writer
    }
}

/// Who a permission is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    User(String),
    Group(String),
    Domain(String),
    Anyone,
}

impl Grantee {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Group(_) => "group",
            Self::Domain(_) => "domain",
            Self::Anyone => "anyone",
        }
    }

    /// Drive's permission id for this grantee: stable across items, and (as in Drive) not the
    /// account's user id.
    pub fn permission_id(&self) -> String {
        match self {
            Self::User(e) | Self::Group(e) => digits_of(e),
            Self::Domain(d) => format!("{}k", digits_of(d)),
            Self::Anyone => "anyoneWithLink".to_owned(),
        }
    }

    /// Whether this grantee covers the account `email`.
    fn covers(&self, email: &str, groups: &[String]) -> bool {
        match self {
            Self::User(e) => e == email,
            Self::Group(g) => groups.iter().any(|m| m == g),
            Self::Domain(d) => email.rsplit('@').next() == Some(d.as_str()),
            Self::Anyone => true,
        }
    }
}

/// Twenty decimal digits derived from a string: a stable id for principals Google would know.
fn digits_of(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(s.as_bytes());
    hash.iter()
        .take(20)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

/// A direct permission on one item.
#[derive(Debug, Clone)]
pub struct Permission {
    pub id: String,
    pub grantee: Grantee,
    pub role: Role,
    pub display_name: Option<String>,
}

/// A file or folder. A shared drive's root is a folder whose id is the drive id.
#[derive(Debug, Clone)]
pub struct File {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub parents: Vec<String>,
    pub drive_id: Option<String>,
    /// Owner's email, for items in someone's My Drive.
    pub owner: Option<String>,
    /// `appProperties` by the OAuth client that set them: Drive shows each app only its own.
    pub app_properties: BTreeMap<String, BTreeMap<String, String>>,
    /// The bytes uploaded with the item; `None` for folders and for items whose content the
    /// emulator was never given.
    pub content: Option<Vec<u8>>,
    pub trashed: bool,
    pub created_time: DateTime<Utc>,
    pub modified_time: DateTime<Utc>,
    pub permissions: Vec<Permission>,
}

impl File {
    pub fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    pub fn is_drive_root(&self) -> bool {
        self.drive_id.as_deref() == Some(self.id.as_str())
    }

    /// The `appProperties` an OAuth client sees: only those it set itself.
    pub fn app_properties_of(&self, client_id: &str) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.app_properties.get(client_id).unwrap_or(&NONE)
    }
}

/// A new item's metadata and content, as `files.create` received them.
#[derive(Debug, Clone, Default)]
pub struct NewFile {
    pub name: String,
    pub mime_type: String,
    /// The OAuth client creating it, which owns `app_properties`.
    pub client_id: String,
    pub app_properties: BTreeMap<String, String>,
    pub content: Option<Vec<u8>>,
}

/// A change to an item, as `files.update` received it.
#[derive(Debug, Clone, Default)]
pub struct FileChange {
    pub name: Option<String>,
    pub trashed: Option<bool>,
    /// The OAuth client making the change: only its own `appProperties` change.
    pub client_id: String,
    /// `null` values remove a key.
    pub app_properties: Option<BTreeMap<String, Option<String>>>,
    pub content: Option<Vec<u8>>,
    pub add_parents: Vec<String>,
    pub remove_parents: Vec<String>,
}

/// One source of a principal's access to an item, as `permissionDetails` reports it.
#[derive(Debug, Clone)]
pub struct AccessSource {
    /// `member` (shared-drive membership) or `file`.
    pub permission_type: &'static str,
    pub role: Role,
    pub inherited_from: Option<String>,
}

/// A principal's combined access to an item: the shape `permissions.list` returns.
#[derive(Debug, Clone)]
pub struct EffectivePermission {
    /// Whether the item is in a shared drive: only then does Drive report `permissionDetails`.
    pub in_shared_drive: bool,
    pub id: String,
    pub grantee: Grantee,
    pub role: Role,
    pub display_name: Option<String>,
    pub sources: Vec<AccessSource>,
}

impl EffectivePermission {
    /// The full JSON of a `drive#permission`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "drive#permission",
            "id": self.id,
            "type": self.grantee.kind(),
            "role": self.role.as_str(),
            "deleted": false,
        });
        if self.in_shared_drive {
            v["permissionDetails"] = json!(
                self.sources
                    .iter()
                    .map(|s| {
                        let mut d = json!({
                            "permissionType": s.permission_type,
                            "role": s.role.as_str(),
                            "inherited": s.inherited_from.is_some(),
                        });
                        if let Some(from) = &s.inherited_from {
                            d["inheritedFrom"] = json!(from);
                        }
                        d
                    })
                    .collect::<Vec<_>>()
            );
        }
        match &self.grantee {
            Grantee::User(e) | Grantee::Group(e) => v["emailAddress"] = json!(e),
            Grantee::Domain(d) => v["domain"] = json!(d),
            Grantee::Anyone => v["allowFileDiscovery"] = json!(false),
        }
        if let Some(name) = &self.display_name {
            v["displayName"] = json!(name);
        }
        v
    }
}

/// Every item in every drive.
#[derive(Debug, Default)]
pub struct DriveStore {
    files: HashMap<String, File>,
    /// parent id → child ids, so `'<id>' in parents` is an index lookup.
    children: HashMap<String, Vec<String>>,
    /// group email → member emails.
    pub groups: HashMap<String, Vec<String>>,
}

/// Drive-style item id: 33 URL-safe characters starting with `1`.
pub fn file_id() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("1{tail}")
}

impl DriveStore {
    pub fn get(&self, id: &str) -> Option<&File> {
        self.files.get(id)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn all(&self) -> impl Iterator<Item = &File> {
        self.files.values()
    }

    pub fn children_of(&self, id: &str) -> impl Iterator<Item = &File> {
        self.children
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|c| self.files.get(c))
    }

    /// Creates a shared drive whose members are `(email, role, user id if known)`.
    pub fn create_shared_drive(
        &mut self,
        id: Option<String>,
        name: &str,
        members: Vec<(String, Role)>,
    ) -> File {
        let id = id.unwrap_or_else(|| format!("0A{}", &file_id()[1..20]));
        let now = Utc::now();
        let root = File {
            id: id.clone(),
            name: name.to_owned(),
            mime_type: FOLDER_MIME.to_owned(),
            parents: Vec::new(),
            drive_id: Some(id.clone()),
            owner: None,
            app_properties: BTreeMap::new(),
            content: None,
            trashed: false,
            created_time: now,
            modified_time: now,
            permissions: members
                .into_iter()
                .map(|(email, role)| {
                    let grantee = Grantee::User(email);
                    Permission {
                        id: grantee.permission_id(),
                        grantee,
                        role,
                        display_name: None,
                    }
                })
                .collect(),
        };
        self.files.insert(id, root.clone());
        root
    }

    /// The item and its ancestors, nearest first.
    fn lineage(&self, id: &str) -> Vec<&File> {
        let mut chain = Vec::new();
        let mut next = self.files.get(id);
        while let Some(file) = next {
            // Cycles cannot be built through this API, but never loop on bad data.
            if chain.len() > 64 || chain.iter().any(|f: &&File| f.id == file.id) {
                break;
            }
            chain.push(file);
            next = file.parents.first().and_then(|p| self.files.get(p));
        }
        chain
    }

    /// Every principal's access to an item, direct and inherited, one entry per principal.
    pub fn effective_permissions(&self, id: &str) -> Vec<EffectivePermission> {
        let lineage = self.lineage(id);
        let in_shared_drive = lineage.first().is_some_and(|f| f.drive_id.is_some());
        let mut by_grantee: Vec<EffectivePermission> = Vec::new();
        for (depth, item) in lineage.iter().enumerate() {
            let permission_type = if item.is_drive_root() {
                "member"
            } else {
                "file"
            };
            for p in &item.permissions {
                let source = AccessSource {
                    permission_type,
                    role: p.role,
                    inherited_from: (depth > 0).then(|| item.id.clone()),
                };
                match by_grantee.iter_mut().find(|e| e.grantee == p.grantee) {
                    Some(e) => {
                        e.role = e.role.max(p.role);
                        e.sources.push(source);
                    }
                    None => by_grantee.push(EffectivePermission {
                        in_shared_drive,
                        id: p.id.clone(),
                        grantee: p.grantee.clone(),
                        role: p.role,
                        display_name: p.display_name.clone(),
                        sources: vec![source],
                    }),
                }
            }
        }
        if let Some(owner) = lineage.first().and_then(|f| f.owner.clone()) {
            let grantee = Grantee::User(owner);
            if !by_grantee.iter().any(|e| e.grantee == grantee) {
                by_grantee.push(EffectivePermission {
                    in_shared_drive,
                    id: grantee.permission_id(),
                    grantee,
                    role: Role::Owner,
                    display_name: None,
                    sources: vec![AccessSource {
                        permission_type: "file",
                        role: Role::Owner,
                        inherited_from: None,
                    }],
                });
            }
        }
        by_grantee
    }

    /// The highest role `email` holds on an item, through any route.
    pub fn access(&self, id: &str, email: &str) -> Option<Role> {
        let groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == email))
            .map(|(g, _)| g.clone())
            .collect();
        let lineage = self.lineage(id);
        let owned = lineage.first().and_then(|f| f.owner.as_deref()) == Some(email);
        let granted = lineage
            .iter()
            .flat_map(|f| &f.permissions)
            .filter(|p| p.grantee.covers(email, &groups))
            .map(|p| p.role)
            .max();
        if owned { Some(Role::Owner) } else { granted }
    }

    /// The role inherited by `grantee` on `id` from its ancestors (not the item itself).
    fn inherited_role(&self, id: &str, grantee: &Grantee) -> Option<Role> {
        self.lineage(id)
            .iter()
            .skip(1)
            .flat_map(|f| &f.permissions)
            .filter(|p| p.grantee == *grantee)
            .map(|p| p.role)
            .max()
    }

    /// Creates an item under `parent` (or in `owner`'s My Drive when there is no parent).
    pub fn create(
        &mut self,
        new: NewFile,
        parent: Option<&str>,
        owner: &str,
    ) -> Result<File, GoogleError> {
        let drive_id = match parent {
            Some(p) => {
                let parent = self
                    .files
                    .get(p)
                    .ok_or_else(|| GoogleError::file_not_found(p))?;
                if !parent.is_folder() {
                    return Err(GoogleError::bad_request(
                        "The specified parent is not a folder.",
                    ));
                }
                parent.drive_id.clone()
            }
            None => None,
        };
        let now = Utc::now();
        let mut app_properties = BTreeMap::new();
        if !new.app_properties.is_empty() {
            app_properties.insert(new.client_id, new.app_properties);
        }
        let is_folder = new.mime_type == FOLDER_MIME;
        let file = File {
            id: file_id(),
            name: new.name,
            mime_type: new.mime_type,
            parents: parent.map(|p| vec![p.to_owned()]).unwrap_or_default(),
            owner: drive_id.is_none().then(|| owner.to_owned()),
            drive_id,
            app_properties,
            content: if is_folder { None } else { new.content },
            trashed: false,
            created_time: now,
            modified_time: now,
            permissions: Vec::new(),
        };
        if let Some(p) = parent {
            self.children
                .entry(p.to_owned())
                .or_default()
                .push(file.id.clone());
        }
        self.files.insert(file.id.clone(), file.clone());
        Ok(file)
    }

    /// Applies a metadata change: name, trashed, appProperties (null removes a key), content,
    /// parents.
    pub fn update(&mut self, id: &str, change: FileChange) -> Result<File, GoogleError> {
        for p in &change.add_parents {
            if !self.files.get(p).is_some_and(File::is_folder) {
                return Err(GoogleError::file_not_found(p));
            }
            if self.lineage(p).iter().any(|f| f.id == id) {
                return Err(GoogleError::bad_request(
                    "The parent would create a cycle in the folder tree.",
                ));
            }
        }
        let file = self
            .files
            .get_mut(id)
            .ok_or_else(|| GoogleError::file_not_found(id))?;
        if let Some(name) = change.name {
            file.name = name;
        }
        if let Some(trashed) = change.trashed {
            file.trashed = trashed;
        }
        if let Some(props) = change.app_properties {
            let mine = file.app_properties.entry(change.client_id).or_default();
            for (k, v) in props {
                match v {
                    Some(v) => mine.insert(k, v),
                    None => mine.remove(&k),
                };
            }
            file.app_properties.retain(|_, props| !props.is_empty());
        }
        if let Some(content) = change.content
            && !file.is_folder()
        {
            file.content = Some(content);
        }
        let old_parents = file.parents.clone();
        file.parents.retain(|p| !change.remove_parents.contains(p));
        for p in &change.add_parents {
            if !file.parents.contains(p) {
                file.parents.push(p.clone());
            }
        }
        file.modified_time = Utc::now();
        let updated = file.clone();
        for p in old_parents.iter().filter(|p| !updated.parents.contains(p)) {
            if let Some(c) = self.children.get_mut(p) {
                c.retain(|c| c != id);
            }
        }
        for p in updated.parents.iter().filter(|p| !old_parents.contains(p)) {
            self.children
                .entry(p.clone())
                .or_default()
                .push(id.to_owned());
        }
        Ok(updated)
    }

    /// Deletes an item and everything beneath it.
    pub fn delete(&mut self, id: &str) -> Result<(), GoogleError> {
        let file = self
            .files
            .remove(id)
            .ok_or_else(|| GoogleError::file_not_found(id))?;
        for p in &file.parents {
            if let Some(c) = self.children.get_mut(p) {
                c.retain(|c| c != id);
            }
        }
        for child in self.children.remove(id).unwrap_or_default() {
            let _ = self.delete(&child);
        }
        Ok(())
    }

    /// Adds a direct permission, or raises/sets the role of the grantee's existing one.
    pub fn add_permission(
        &mut self,
        id: &str,
        grantee: Grantee,
        role: Role,
    ) -> Result<EffectivePermission, GoogleError> {
        if let Some(inherited) = self.inherited_role(id, &grantee)
            && role < inherited
        {
            return Err(reduce_inherited(inherited));
        }
        let file = self
            .files
            .get_mut(id)
            .ok_or_else(|| GoogleError::file_not_found(id))?;
        match file.permissions.iter_mut().find(|p| p.grantee == grantee) {
            Some(existing) => existing.role = role,
            None => file.permissions.push(Permission {
                id: grantee.permission_id(),
                grantee: grantee.clone(),
                role,
                display_name: None,
            }),
        }
        self.effective_for(id, &grantee)
    }

    /// The effective permission with this id on an item (direct or inherited).
    pub fn permission(
        &self,
        id: &str,
        permission_id: &str,
    ) -> Result<EffectivePermission, GoogleError> {
        if !self.files.contains_key(id) {
            return Err(GoogleError::file_not_found(id));
        }
        self.effective_permissions(id)
            .into_iter()
            .find(|p| p.id == permission_id)
            .ok_or_else(|| GoogleError::permission_not_found(permission_id))
    }

    fn effective_for(
        &self,
        id: &str,
        grantee: &Grantee,
    ) -> Result<EffectivePermission, GoogleError> {
        self.effective_permissions(id)
            .into_iter()
            .find(|p| p.grantee == *grantee)
            .ok_or_else(|| GoogleError::file_not_found(id))
    }

    /// Changes the role of the direct permission `permission_id` on an item.
    pub fn update_permission(
        &mut self,
        id: &str,
        permission_id: &str,
        role: Role,
    ) -> Result<EffectivePermission, GoogleError> {
        let effective = self.permission(id, permission_id)?;
        let grantee = effective.grantee.clone();
        if let Some(inherited) = self.inherited_role(id, &grantee)
            && role < inherited
        {
            return Err(reduce_inherited(inherited));
        }
        let file = self
            .files
            .get_mut(id)
            .ok_or_else(|| GoogleError::file_not_found(id))?;
        match file.permissions.iter_mut().find(|p| p.id == permission_id) {
            Some(direct) => direct.role = role,
            // Only inherited access: raising it adds a direct permission on this item.
            None => file.permissions.push(Permission {
                id: permission_id.to_owned(),
                grantee: grantee.clone(),
                role,
                display_name: None,
            }),
        }
        self.effective_for(id, &grantee)
    }

    /// Removes the direct permission `permission_id` from an item.
    pub fn delete_permission(&mut self, id: &str, permission_id: &str) -> Result<(), GoogleError> {
        // Errors with 404 if the item has no permission (direct or inherited) of this id.
        self.permission(id, permission_id)?;
        let file = self
            .files
            .get_mut(id)
            .ok_or_else(|| GoogleError::file_not_found(id))?;
        let before = file.permissions.len();
        file.permissions.retain(|p| p.id != permission_id);
        if file.permissions.len() == before {
            return Err(GoogleError::forbidden(
                "cannotModifyInheritedTeamDrivePermission",
                "Inherited permissions cannot be removed from this item; change them on the \
                 folder they come from.",
            ));
        }
        Ok(())
    }
}

fn reduce_inherited(inherited: Role) -> GoogleError {
    GoogleError::forbidden(
        "cannotModifyInheritedTeamDrivePermission",
        format!(
            "This item inherits the role {} for this user from a parent folder or the shared \
             drive; a permission on the item cannot be lower than that.",
            inherited.as_str()
        ),
    )
}
