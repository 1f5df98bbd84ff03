//! Drive v3: files (folders) and permissions in shared drives and My Drive.

pub mod drives;
pub mod files;
pub mod metadata;
pub mod multipart;
pub mod order;
pub mod permissions;
pub mod query;
pub mod store;

use std::collections::HashMap;

use axum::Json;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::GoogleError;
use crate::field_mask::FieldMask;
use store::{File, Role};

/// Drive's query parameters (single-valued).
#[derive(Debug, Default)]
pub(crate) struct DriveParams(HashMap<String, String>);

impl DriveParams {
    pub fn parse(raw: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    /// `supportsAllDrives=true` (or its deprecated twin `supportsTeamDrives`).
    pub fn supports_all_drives(&self) -> bool {
        self.flag("supportsAllDrives") || self.flag("supportsTeamDrives")
    }

    /// The `fields` mask, or `default` when the caller gave none.
    pub fn mask(&self, default: &str) -> Result<FieldMask, GoogleError> {
        let raw = self
            .get("fields")
            .filter(|f| !f.trim().is_empty())
            .unwrap_or(default);
        FieldMask::parse(raw).map_err(|e| GoogleError::invalid_parameter("fields", e.to_string()))
    }
}

/// Applies a field mask and answers with JSON.
pub(crate) fn masked(mut value: Value, mask: &FieldMask) -> Json<Value> {
    mask.apply(&mut value);
    Json(value)
}

/// The caller's role on `file`, enforcing Drive's visibility rules: an item in a shared drive
/// is invisible (404) unless the request says `supportsAllDrives=true`, and an item the caller
/// cannot see at all is also 404, never 403.
pub(crate) fn visible_role(
    store: &store::DriveStore,
    caller: &Caller,
    file: &File,
    params: &DriveParams,
) -> Result<Role, GoogleError> {
    if file.drive_id.is_some() && !params.supports_all_drives() {
        return Err(GoogleError::file_not_found(&file.id));
    }
    store
        .access(&file.id, &caller.principal.email)
        .ok_or_else(|| GoogleError::file_not_found(&file.id))
}
