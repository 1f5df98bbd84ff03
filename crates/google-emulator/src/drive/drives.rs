//! `drives.get`: a shared drive's metadata and what the caller may do in it.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use super::store::Role;
use super::{DriveParams, masked};
use crate::auth::{Caller, scope};
use crate::emulator::Emulator;
use crate::error::GoogleError;

const DEFAULT_DRIVE_FIELDS: &str = "kind,id,name";

/// `GET /drive/v3/drives/{driveId}`. A drive the caller is not a member of is 404, as in
/// Drive: its existence is not revealed.
pub async fn get(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(&[scope::DRIVE, scope::DRIVE_READONLY])?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_DRIVE_FIELDS)?;
    let store = emu.drive();
    let root = store
        .get(&id)
        .filter(|f| f.is_drive_root())
        .ok_or_else(|| GoogleError::drive_not_found(&id))?;
    let role = store
        .access(&id, &caller.principal.email)
        .ok_or_else(|| GoogleError::drive_not_found(&id))?;
    let manager = role >= Role::Organizer;
    let time = root
        .created_time
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({
        "kind": "drive#drive",
        "id": root.id,
        "name": root.name,
        "createdTime": time,
        "hidden": false,
        "capabilities": {
            "canAddChildren": role >= Role::Writer,
            "canComment": role >= Role::Commenter,
            "canCopy": true,
            "canDeleteDrive": manager,
            "canDownload": true,
            "canEdit": role >= Role::Writer,
            "canListChildren": true,
            "canManageMembers": manager,
            "canReadRevisions": role >= Role::Commenter,
            "canRename": role >= Role::Writer,
            "canRenameDrive": manager,
            "canShare": manager,
        },
        "restrictions": {
            "adminManagedRestrictions": false,
            "copyRequiresWriterPermission": false,
            "domainUsersOnly": false,
            "driveMembersOnly": false,
            "sharingFoldersRequiresOrganizerPermission": false,
        },
    });
    Ok(masked(body, &mask))
}
