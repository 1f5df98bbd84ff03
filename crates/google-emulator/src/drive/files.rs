//! `files.create`, `files.get` (metadata, or content with `alt=media`), `files.list`,
//! `files.update`, `files.delete`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::metadata::{self, FileMetadata, Request};
use super::order::OrderBy;
use super::query::{Candidate, Query};
use super::store::{DriveStore, File, FileChange, NewFile, Role};
use super::{DriveParams, masked, multipart, permissions, visible_role};
use crate::auth::{Caller, scope};
use crate::emulator::Emulator;
use crate::error::GoogleError;
use crate::paging;

const DEFAULT_FILE_FIELDS: &str = "kind,id,name,mimeType,driveId";
const DEFAULT_LIST_FIELDS: &str =
    "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType,driveId)";
const WRITE_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE];
const READ_SCOPES: &[&str] = &[scope::DRIVE, scope::DRIVE_FILE, scope::DRIVE_READONLY];
/// `files.list`'s largest page; a larger `pageSize` is reduced to it.
const MAX_LIST_PAGE: usize = 1000;
const DEFAULT_LIST_PAGE: usize = 100;

/// A file's full JSON (`drive#file`) as `caller` sees it: its role decides the capabilities, and
/// its OAuth client which `appProperties` it sees.
pub(crate) fn file_json(f: &File, role: Role, caller: &Caller) -> Value {
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut v = json!({
        "kind": "drive#file",
        "id": f.id,
        "name": f.name,
        "mimeType": f.mime_type,
        "parents": f.parents,
        "appProperties": f.app_properties_of(&caller.client_id),
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
            // The same rule permissions.create applies, so the two never disagree.
            "canShare": role >= permissions::role_needed_to_share(f),
            "canTrash": role >= Role::FileOrganizer || (f.drive_id.is_none() && role == Role::Owner),
            "canDownload": !f.is_folder(),
        },
    });
    if let Some(content) = &f.content {
        v["size"] = json!(content.len().to_string());
    }
    if let Some(drive) = &f.drive_id {
        v["driveId"] = json!(drive);
        v["teamDriveId"] = json!(drive);
        // Drive reports this only for items in shared drives.
        v["hasAugmentedPermissions"] = json!(!f.permissions.is_empty());
    }
    v
}

/// `POST /drive/v3/files` (metadata only, JSON).
pub async fn create_json(
    State(emu): State<Emulator>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let metadata = metadata::parse(&body, Request::Create)?;
    create(
        &emu,
        &caller,
        &DriveParams::parse(raw),
        metadata,
        Upload::default(),
    )
}

/// What came with the metadata in an upload request.
#[derive(Debug, Default)]
struct Upload {
    media_type: Option<String>,
    content: Option<Vec<u8>>,
}

/// Splits an upload request (`uploadType=multipart` or `media`) into metadata and content.
fn read_upload(
    params: &DriveParams,
    headers: &HeaderMap,
    body: &[u8],
    request: Request,
) -> Result<(FileMetadata, Upload), GoogleError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match params.get("uploadType") {
        Some("multipart") => {
            let parts = multipart::parse(content_type, body)
                .map_err(|e| GoogleError::bad_request(format!("Malformed multipart body: {e}")))?;
            let metadata = metadata::parse(&parts[0].body, request)?;
            let upload = match parts.get(1) {
                Some(media) => Upload {
                    media_type: media.content_type.clone(),
                    content: Some(media.body.clone()),
                },
                None => Upload::default(),
            };
            Ok((metadata, upload))
        }
        Some("media") => Ok((
            FileMetadata::default(),
            Upload {
                media_type: Some(content_type.to_owned()),
                content: Some(body.to_vec()),
            },
        )),
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
    let (metadata, upload) = read_upload(&params, &headers, &body, Request::Create)?;
    create(&emu, &caller, &params, metadata, upload)
}

fn create(
    emu: &Emulator,
    caller: &Caller,
    params: &DriveParams,
    metadata: FileMetadata,
    upload: Upload,
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
        .or(upload
            .media_type
            .filter(|m| !m.is_empty() && m != "application/json"))
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let app_properties = metadata
        .app_properties
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    // A metadata-only create of a binary file makes an empty file, as in Drive.
    let content = Some(upload.content.unwrap_or_default());
    let file = store.create(
        NewFile {
            name: metadata.name.unwrap_or_else(|| "Untitled".to_owned()),
            mime_type,
            client_id: caller.client_id.clone(),
            app_properties,
            content,
        },
        parent,
        &caller.principal.email,
    )?;
    let role = store
        .access(&file.id, &caller.principal.email)
        .unwrap_or(Role::Owner);
    Ok(masked(file_json(&file, role, caller), &mask))
}

/// `GET /drive/v3/files/{fileId}`: metadata, or with `alt=media` the content uploaded.
pub async fn get(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GoogleError> {
    caller.require_any(READ_SCOPES)?;
    let params = DriveParams::parse(raw);
    let store = emu.drive();
    let file = store
        .get(&id)
        .ok_or_else(|| GoogleError::file_not_found(&id))?;
    let role = visible_role(&store, &caller, file, &params)?;
    match params.get("alt").unwrap_or("json") {
        "json" => {
            let mask = params.mask(DEFAULT_FILE_FIELDS)?;
            Ok(masked(file_json(file, role, &caller), &mask).into_response())
        }
        "media" => download(file),
        other => Err(GoogleError::invalid_parameter(
            "alt",
            format!("Invalid value for alt: {other:?} (expected json or media)."),
        )),
    }
}

/// The content stored at upload. Folders and Google Docs editors files have none to download
/// (403, as Drive); an item whose content the emulator never received is a plain 501.
fn download(file: &File) -> Result<Response, GoogleError> {
    if file.is_folder() || file.mime_type.starts_with("application/vnd.google-apps.") {
        return Err(GoogleError::file_not_downloadable());
    }
    let content = file.content.clone().ok_or_else(|| {
        GoogleError::not_implemented(format!(
            "The emulator holds no content for file {}: it was not uploaded through the API.",
            file.id
        ))
    })?;
    let mut response = content.into_response();
    if let Ok(mime) = HeaderValue::from_str(&file.mime_type) {
        response.headers_mut().insert(CONTENT_TYPE, mime);
    }
    Ok(response)
}

/// `PATCH /drive/v3/files/{fileId}` (metadata), and `PATCH /upload/drive/v3/files/{fileId}`
/// with `uploadType=multipart|media` (metadata and new content).
pub async fn update(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(WRITE_SCOPES)?;
    let params = DriveParams::parse(raw);
    let mask = params.mask(DEFAULT_FILE_FIELDS)?;
    let (metadata, upload) = if params.get("uploadType").is_some() {
        read_upload(&params, &headers, &body, Request::Update)?
    } else {
        (metadata::parse(&body, Request::Update)?, Upload::default())
    };
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
        FileChange {
            name: metadata.name,
            trashed: metadata.trashed,
            client_id: caller.client_id.clone(),
            app_properties: metadata.app_properties,
            content: upload.content,
            add_parents: add,
            remove_parents: remove,
        },
    )?;
    Ok(masked(file_json(&updated, role, &caller), &mask))
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

/// `pageSize`: absent means the default; above Drive's maximum it is reduced to it, as Drive
/// documents; below 1 it is refused.
pub(crate) fn page_size(
    emu: &Emulator,
    params: &DriveParams,
    default: usize,
    max: usize,
) -> Result<usize, GoogleError> {
    let requested = match params.get("pageSize").map(str::parse::<i64>) {
        None => default,
        Some(Ok(n)) if n >= 1 => usize::try_from(n).unwrap_or(max).min(max),
        Some(_) => {
            return Err(GoogleError::invalid_parameter(
                "pageSize",
                format!("Invalid value for pageSize: must be between 1 and {max}."),
            ));
        }
    };
    Ok(emu.settings().page_size(requested))
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
    let order_by = OrderBy::parse(params.get("orderBy"))?;
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
    let page_size = page_size(&emu, &params, DEFAULT_LIST_PAGE, MAX_LIST_PAGE)?;

    let files: Vec<Value> = {
        let store = emu.drive();
        let mut matches = matching(&store, &caller, query.as_ref(), drive_id, all_drives);
        order_by.sort(&mut matches);
        matches
            .into_iter()
            .map(|(f, role)| file_json(f, role, &caller))
            .collect()
    };
    let fingerprint = format!(
        "files|{:?}|{corpora}|{drive_id:?}|{all_drives}|{:?}|{}|{}",
        params.get("q"),
        params.get("orderBy"),
        caller.principal.email,
        caller.client_id
    );
    let (page, next) = paging::page(
        &files,
        page_size,
        emu.settings().short_pages,
        params.get("pageToken"),
        &fingerprint,
    )
    .map_err(|e| GoogleError::invalid_parameter("pageToken", e.to_string()))?;
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Ok(masked(body, &mask))
}

/// Items the caller can see that the query selects, narrowed by the parent index when the query
/// names a parent every match must have. `appProperties` terms see only the caller's client's.
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
                    app_properties: f.app_properties_of(&caller.client_id),
                })
            })
        })
        .filter_map(|f| store.access(&f.id, &caller.principal.email).map(|r| (f, r)))
        .collect()
}
