//! `permissions.create`, `list`, `get`, `update`, `delete`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{DriveStore, File, Grantee, Role};
use super::{DriveParams, masked, visible_role};
use crate::auth::{Caller, scope};
use crate::emulator::Emulator;
use crate::error::GoogleError;
use crate::paging;

const DEFAULT_PERMISSION_FIELDS: &str = "kind,id,type,role";
const DEFAULT_LIST_FIELDS: &str = "kind,nextPageToken,permissions(kind,id,type,role)";
/// `permissions.list`'s largest page (and its default); a larger `pageSize` is reduced to it.
const MAX_LIST_PAGE: usize = 100;
const WRITE_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE];
const READ_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE, scope::DRIVE_READONLY];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    role: Option<String>,
    email_address: Option<String>,
    domain: Option<String>,
}

fn parse_body(bytes: &[u8]) -> Result<PermissionBody, GoogleError> {
    serde_json::from_slice(bytes)
        .map_err(|e| GoogleError::bad_request(format!("Invalid JSON payload received. {e}")))
}

fn parse_role(role: Option<&str>) -> Result<Role, GoogleError> {
    let role =
        role.ok_or_else(|| GoogleError::bad_request("The permission role field is required."))?;
    Role::parse(role)
        .ok_or_else(|| GoogleError::bad_request(format!("The provided role '{role}' is invalid.")))
}

/// The role needed to change sharing on `file`: in a shared drive, only organizers may share a
/// folder (Drive's default `sharingFoldersRequiresOrganizerPermission`) and only organizers change
/// membership; writers may share files. In My Drive, writers may share. `capabilities.canShare`
/// reports the same rule.
pub(crate) fn role_needed_to_share(file: &File) -> Role {
    match &file.drive_id {
        Some(drive) if drive == &file.id || file.is_folder() => Role::Organizer,
        _ => Role::Writer,
    }
}

fn check_can_share(
    store: &DriveStore,
    caller: &Caller,
    file: &File,
    params: &DriveParams,
) -> Result<(), GoogleError> {
    let role = visible_role(store, caller, file, params)?;
    if role < role_needed_to_share(file) {
        return Err(GoogleError::insufficient_file_permissions());
    }
    Ok(())
}

/// `POST /drive/v3/files/{fileId}/permissions`
pub async fn create(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(file_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_PERMISSION_FIELDS)?;
    let body = parse_body(&body)?;
    let role = parse_role(body.role.as_deref())?;
    let grantee = match body.kind.as_deref() {
        Some("user") | Some("group") => {
            let email = body
                .email_address
                .as_deref()
                .filter(|e| e.contains('@'))
                .ok_or_else(|| {
                    GoogleError::bad_request(
                        "The permission emailAddress field is required for this type.",
                    )
                })?
                .to_ascii_lowercase();
            if body.kind.as_deref() == Some("user") {
                Grantee::User(email)
            } else {
                Grantee::Group(email)
            }
        }
        Some("domain") => Grantee::Domain(body.domain.clone().ok_or_else(|| {
            GoogleError::bad_request("The permission domain field is required for this type.")
        })?),
        Some("anyone") => Grantee::Anyone,
        Some(other) => {
            return Err(GoogleError::bad_request(format!(
                "The provided type '{other}' is invalid."
            )));
        }
        None => {
            return Err(GoogleError::bad_request(
                "The permission type field is required.",
            ));
        }
    };
    // Drive: "not allowed for other requests" than sharing with users or groups.
    if matches!(grantee, Grantee::Domain(_) | Grantee::Anyone)
        && params.get("sendNotificationEmail").is_some()
    {
        return Err(GoogleError::invalid_sharing_request(
            "Bad Request. User message: \"sendNotificationEmail parameter is only applicable for \
             permissions of type 'user' or 'group'.\"",
        ));
    }
    if role == Role::Owner {
        return Err(GoogleError::forbidden(
            "forbidden",
            "Ownership can only be transferred with transferOwnership=true; the emulator does not support it.",
        ));
    }
    let permission = {
        let mut store = emu.drive_mut();
        let file = store
            .get(&file_id)
            .ok_or_else(|| GoogleError::file_not_found(&file_id))?;
        check_can_share(&store, &caller, file, &params)?;
        store.add_permission(&file_id, grantee.clone(), role)?
    };
    let notifies = matches!(grantee, Grantee::User(_) | Grantee::Group(_))
        && params.get("sendNotificationEmail") != Some("false");
    if notifies {
        emu.limits().stats.notification_emails += 1;
    }
    Ok(masked(permission.to_json(), &mask))
}

/// `GET /drive/v3/files/{fileId}/permissions`
pub async fn list(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(file_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(READ_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_LIST_FIELDS)?;
    let page_size = super::files::page_size(&emu, &params, MAX_LIST_PAGE, MAX_LIST_PAGE)?;
    let permissions: Vec<Value> = {
        let store = emu.drive();
        let file = store
            .get(&file_id)
            .ok_or_else(|| GoogleError::file_not_found(&file_id))?;
        visible_role(&store, &caller, file, &params)?;
        store
            .effective_permissions(&file_id)
            .iter()
            .map(|p| p.to_json())
            .collect()
    };
    let (page, next) = paging::page(
        &permissions,
        page_size,
        emu.settings().short_pages,
        params.get("pageToken"),
        &format!("permissions|{file_id}"),
    )
    .map_err(|e| GoogleError::invalid_parameter("pageToken", e.to_string()))?;
    let mut body = json!({"kind": "drive#permissionList", "permissions": page});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Ok(masked(body, &mask))
}

/// `GET /drive/v3/files/{fileId}/permissions/{permissionId}`
pub async fn get(
    State(emu): State<Emulator>,
    caller: Caller,
    Path((file_id, permission_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(READ_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_PERMISSION_FIELDS)?;
    let store = emu.drive();
    let file = store
        .get(&file_id)
        .ok_or_else(|| GoogleError::file_not_found(&file_id))?;
    visible_role(&store, &caller, file, &params)?;
    let permission = store.permission(&file_id, &permission_id)?;
    Ok(masked(permission.to_json(), &mask))
}

/// `PATCH /drive/v3/files/{fileId}/permissions/{permissionId}`
pub async fn update(
    State(emu): State<Emulator>,
    caller: Caller,
    Path((file_id, permission_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_PERMISSION_FIELDS)?;
    let role = parse_role(parse_body(&body)?.role.as_deref())?;
    let mut store = emu.drive_mut();
    let file = store
        .get(&file_id)
        .ok_or_else(|| GoogleError::file_not_found(&file_id))?;
    check_can_share(&store, &caller, file, &params)?;
    let permission = store.update_permission(&file_id, &permission_id, role)?;
    Ok(masked(permission.to_json(), &mask))
}

/// `DELETE /drive/v3/files/{fileId}/permissions/{permissionId}`
pub async fn delete(
    State(emu): State<Emulator>,
    caller: Caller,
    Path((file_id, permission_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mut store = emu.drive_mut();
    let file = store
        .get(&file_id)
        .ok_or_else(|| GoogleError::file_not_found(&file_id))?;
    check_can_share(&store, &caller, file, &params)?;
    store.delete_permission(&file_id, &permission_id)?;
    Ok(StatusCode::NO_CONTENT)
}
