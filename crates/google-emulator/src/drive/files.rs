//! `files.create`, `files.get`, `files.list`, `files.update`, `files.delete`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::query::{Candidate, Query};
use super::store::{DriveStore, FOLDER_MIME, File, Role};
use super::{DriveParams, masked, multipart, visible_role};
use crate::auth::{Caller, scope};
use crate::emulator::Emulator;
use crate::error::GoogleError;
use crate::paging;

const DEFAULT_FILE_FIELDS: &str = "kind,id,name,mimeType,driveId";
const DEFAULT_LIST_FIELDS: &str =
    "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType,driveId)";
const WRITE_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE];
const READ_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE, scope::DRIVE_READONLY];

/// A file's full JSON (`drive#file`).
pub(crate) fn file_json(f: &File, role: Role) -> Value {
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut v = json!({
        "kind": "drive#file",
        "id": f.id,
        "name": f.name,
        "mimeType": f.mime_type,
        "parents": f.parents,
        "appProperties": f.app_properties,
        "trashed": f.trashed,
        "createdTime": time(&f.created_time),
        "modifiedTime": time(&f.modified_time),
        "webViewLink": if f.is_folder() {
            format!("https://drive.google.com/drive/folders/{}", f.id)
        } else {
            format!("https://drive.google.com/file/d/{}/view", f.id)
        },
        "capabilities": {
            "canEdit": role >= Role::Writer,
            "canAddChildren": f.is_folder() && role >= Role::Writer,
            "canShare": role >= Role::Writer,
            "canTrash": role >= Role::FileOrganizer || (f.drive_id.is_none() && role == Role::Owner),
        },
    });
    if let Some(drive) = &f.drive_id {
        v["driveId"] = json!(drive);
        v["teamDriveId"] = json!(drive);
        // Drive reports this only for items in shared drives.
        v["hasAugmentedPermissions"] = json!(!f.permissions.is_empty());
    }
    v
}

/// The metadata Drive accepts on create and update.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileMetadata {
    name: Option<String>,
    mime_type: Option<String>,
    parents: Option<Vec<String>>,
    app_properties: Option<BTreeMap<String, Option<String>>>,
    trashed: Option<bool>,
}

fn parse_metadata(bytes: &[u8]) -> Result<FileMetadata, GoogleError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(FileMetadata::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| GoogleError::bad_request(format!("Invalid JSON payload received. {e}")))
}

/// `POST /drive/v3/files` (metadata only, JSON).
pub async fn create_json(
    State(emu): State<Emulator>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let metadata = parse_metadata(&body)?;
    create(&emu, &caller, &DriveParams::parse(raw), metadata, None)
}

/// `POST /upload/drive/v3/files?uploadType=multipart|media` (what google-drive3 always sends).
pub async fn create_upload(
    State(emu): State<Emulator>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match params.get("uploadType") {
        Some("multipart") => {
            let parts = multipart::parse(content_type, &body)
                .map_err(|e| GoogleError::bad_request(format!("Malformed multipart body: {e}")))?;
            let metadata = parse_metadata(&parts[0].body)?;
            let media_type = parts.get(1).and_then(|p| p.content_type.clone());
            create(&emu, &caller, &params, metadata, media_type)
        }
        Some("media") => create(
            &emu,
            &caller,
            &params,
            FileMetadata::default(),
            Some(content_type.to_owned()),
        ),
        Some("resumable") => Err(GoogleError::invalid_parameter(
            "uploadType",
            "Resumable uploads are not supported by the emulator.",
        )),
        _ => Err(GoogleError::invalid_parameter(
            "uploadType",
            "Invalid value for uploadType: expected media, multipart or resumable.",
        )),
    }
}

fn create(
    emu: &Emulator,
    caller: &Caller,
    params: &DriveParams,
    metadata: FileMetadata,
    media_type: Option<String>,
) -> Result<Json<Value>, GoogleError> {
    let mask = params.mask(DEFAULT_FILE_FIELDS)?;
    let parents = metadata.parents.unwrap_or_default();
    if parents.len() > 1 {
        return Err(GoogleError::forbidden(
            "cannotAddParent",
            "Increasing the number of parents is not allowed.",
        ));
    }
    let parent = parents.first().map(String::as_str).filter(|p| *p != "root");
    let mut store = emu.drive_mut();
    if let Some(parent_id) = parent {
        let parent_file = store
            .get(parent_id)
            .ok_or_else(|| GoogleError::file_not_found(parent_id))?;
        let role = visible_role(&store, caller, parent_file, params)?;
        if role < Role::Writer {
            return Err(GoogleError::insufficient_file_permissions());
        }
    }
    let mime_type = metadata
        .mime_type
        .or(media_type.filter(|m| !m.is_empty() && m != "application/json"))
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let app_properties = metadata
        .app_properties
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let file = store.create(
        metadata.name.unwrap_or_else(|| "Untitled".to_owned()),
        mime_type,
        parent,
        &caller.principal.email,
        app_properties,
    )?;
    let role = store
        .access(&file.id, &caller.principal.email)
        .unwrap_or(Role::Owner);
    Ok(masked(file_json(&file, role), &mask))
}

/// `GET /drive/v3/files/{fileId}`
pub async fn get(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(READ_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_FILE_FIELDS)?;
    let store = emu.drive();
    let file = store
        .get(&id)
        .ok_or_else(|| GoogleError::file_not_found(&id))?;
    let role = visible_role(&store, &caller, file, &params)?;
    Ok(masked(file_json(file, role), &mask))
}

/// `PATCH /drive/v3/files/{fileId}` (and the same on the upload path without media).
pub async fn update(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_FILE_FIELDS)?;
    let metadata = parse_metadata(&body)?;
    let split = |key: &str| -> Vec<String> {
        params
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, remove) = (split("addParents"), split("removeParents"));
    let mut store = emu.drive_mut();
    let file = store
        .get(&id)
        .ok_or_else(|| GoogleError::file_not_found(&id))?;
    let role = visible_role(&store, &caller, file, &params)?;
    let needs = if metadata.trashed.is_some() && file.drive_id.is_some() {
        Role::FileOrganizer
    } else {
        Role::Writer
    };
    if role < needs {
        return Err(GoogleError::insufficient_file_permissions());
    }
    if file.drive_id.is_some()
        && file.parents.len() - remove.len().min(file.parents.len()) + add.len() > 1
    {
        return Err(GoogleError::forbidden(
            "teamDrivesParentLimit",
            "A shared drive item must have exactly one parent.",
        ));
    }
    let updated = store.update(
        &id,
        metadata.name,
        metadata.trashed,
        metadata.app_properties,
        &add,
        &remove,
    )?;
    Ok(masked(file_json(&updated, role), &mask))
}

/// `DELETE /drive/v3/files/{fileId}`
pub async fn delete(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mut store = emu.drive_mut();
    let file = store
        .get(&id)
        .ok_or_else(|| GoogleError::file_not_found(&id))?;
    let role = visible_role(&store, &caller, file, &params)?;
    let needs = if file.drive_id.is_some() {
        Role::Organizer
    } else {
        Role::Owner
    };
    if role < needs || file.drive_id.as_deref() == Some(file.id.as_str()) {
        return Err(GoogleError::insufficient_file_permissions());
    }
    store.delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /drive/v3/files`
pub async fn list(
    State(emu): State<Emulator>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(READ_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_LIST_FIELDS)?;
    let query = params
        .get("q")
        .filter(|q| !q.trim().is_empty())
        .map(Query::parse)
        .transpose()
        .map_err(|e| GoogleError::invalid_query(e.to_string()))?;
    let corpora = params.get("corpora").unwrap_or("user");
    let drive_id = params.get("driveId");
    let all_drives =
        params.flag("includeItemsFromAllDrives") || params.flag("includeTeamDriveItems");
    match (corpora, drive_id) {
        ("drive", None) => {
            return Err(GoogleError::invalid_parameter(
                "driveId",
                "The driveId parameter must be specified if and only if corpora is set to drive.",
            ));
        }
        ("drive", Some(_)) | ("user" | "allDrives" | "domain", None) => {}
        (_, Some(_)) => {
            return Err(GoogleError::invalid_parameter(
                "corpora",
                "The driveId parameter must be specified if and only if corpora is set to drive.",
            ));
        }
        _ => return Err(GoogleError::invalid_parameter("corpora", "Invalid Value")),
    }
    if (drive_id.is_some() || corpora == "allDrives")
        && !(all_drives && params.supports_all_drives())
    {
        return Err(GoogleError::forbidden(
            "teamDriveAllDrivesRequired",
            "The includeItemsFromAllDrives and supportsAllDrives parameters must be set to true \
             when searching shared drives.",
        ));
    }
    let page_size = match params.get("pageSize").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return Err(GoogleError::invalid_parameter(
                "pageSize",
                "Invalid value for pageSize: must be between 1 and 1000.",
            ));
        }
    };
    let page_size = emu
        .settings()
        .max_page_size
        .map_or(page_size, |cap| page_size.min(cap));

    let files: Vec<Value> = {
        let store = emu.drive();
        let mut matches = matching(&store, &caller, query.as_ref(), drive_id, all_drives);
        sort(&mut matches, params.get("orderBy"));
        matches
            .into_iter()
            .map(|(f, role)| file_json(f, role))
            .collect()
    };
    let fingerprint = format!(
        "files|{:?}|{corpora}|{drive_id:?}|{all_drives}|{:?}|{}",
        params.get("q"),
        params.get("orderBy"),
        caller.principal.email
    );
    let (page, next) = paging::page(&files, page_size, params.get("pageToken"), &fingerprint)
        .map_err(|e| GoogleError::invalid_parameter("pageToken", e.to_string()))?;
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Ok(masked(body, &mask))
}

/// Items the caller can see that the query selects, narrowed by the parent index when the query
/// names a parent every match must have.
fn matching<'a>(
    store: &'a DriveStore,
    caller: &Caller,
    query: Option<&Query>,
    drive_id: Option<&str>,
    all_drives: bool,
) -> Vec<(&'a File, Role)> {
    let required_parent = query.and_then(|q| q.required_parents().first().map(|p| (*p).to_owned()));
    let any_parents = query.and_then(Query::any_of_parents);
    let candidates: Box<dyn Iterator<Item = &File>> = match (&required_parent, &any_parents) {
        (Some(parent), _) => Box::new(store.children_of(parent)),
        // `'a' in parents or 'b' in parents …`: each child once, from the parent index.
        (None, Some(parents)) => {
            let mut seen = std::collections::HashSet::new();
            Box::new(
                parents
                    .iter()
                    .flat_map(|p| store.children_of(p))
                    .filter(move |f| seen.insert(f.id.as_str())),
            )
        }
        (None, None) => Box::new(store.all()),
    };
    candidates
        .filter(|f| f.drive_id.as_deref() != Some(f.id.as_str()))
        .filter(|f| match drive_id {
            Some(d) => f.drive_id.as_deref() == Some(d),
            None => all_drives || f.drive_id.is_none(),
        })
        .filter(|f| {
            query.is_none_or(|q| {
                q.matches(&Candidate {
                    name: &f.name,
                    mime_type: &f.mime_type,
                    parents: &f.parents,
                    trashed: f.trashed,
                    app_properties: &f.app_properties,
                })
            })
        })
        .filter_map(|f| store.access(&f.id, &caller.principal.email).map(|r| (f, r)))
        .collect()
}

fn sort(files: &mut [(&File, Role)], order_by: Option<&str>) {
    let descending = order_by.is_some_and(|o| o.contains("desc"));
    match order_by.map(|o| o.split_whitespace().next().unwrap_or_default()) {
        Some("createdTime") => files.sort_by_key(|(f, _)| (f.created_time, f.id.clone())),
        Some("modifiedTime") => files.sort_by_key(|(f, _)| (f.modified_time, f.id.clone())),
        Some("folder") => files.sort_by_key(|(f, _)| (f.mime_type != FOLDER_MIME, f.name.clone())),
        _ => files.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
    }
    if descending {
        files.reverse();
    }
}
