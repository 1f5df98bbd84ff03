//! The file metadata `files.create` and `files.update` accept, with Drive's rules on which fields
//! a request may set: output-only fields (`driveId`, `capabilities`, …) are 403
//! `fieldNotWritable`, as are `parents` and `id` on update (moves use `addParents` and
//! `removeParents`); a field `drive#file` does not have is 400.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::GoogleError;

/// Fields the Drive v3 discovery document marks "Output only".
pub const OUTPUT_ONLY: &[&str] = &[
    "capabilities",
    "driveId",
    "explicitlyTrashed",
    "exportLinks",
    "fileExtension",
    "fullFileExtension",
    "hasAugmentedPermissions",
    "hasThumbnail",
    "headRevisionId",
    "iconLink",
    "imageMediaMetadata",
    "isAppAuthorized",
    "kind",
    "lastModifyingUser",
    "md5Checksum",
    "modifiedByMe",
    "ownedByMe",
    "owners",
    "permissionIds",
    "permissions",
    "quotaBytesUsed",
    "resourceKey",
    "sha1Checksum",
    "sha256Checksum",
    "shared",
    "sharingUser",
    "size",
    "spaces",
    "teamDriveId",
    "thumbnailLink",
    "thumbnailVersion",
    "trashingUser",
    "version",
    "videoMediaMetadata",
    "viewedByMe",
    "webContentLink",
    "webViewLink",
];

/// Writable fields of `drive#file` the emulator accepts but does not keep.
const ACCEPTED_AND_IGNORED: &[&str] = &[
    "clientEncryptionDetails",
    "contentHints",
    "contentRestrictions",
    "copyRequiresWriterPermission",
    "createdTime",
    "description",
    "downloadRestrictions",
    "folderColorRgb",
    "inheritedPermissionsDisabled",
    "labelInfo",
    "linkShareMetadata",
    "modifiedByMeTime",
    "modifiedTime",
    "originalFilename",
    "properties",
    "sharedWithMeTime",
    "shortcutDetails",
    "starred",
    "trashedTime",
    "viewedByMeTime",
    "viewersCanCopyContent",
    "writersCanShare",
];

/// Which request the metadata came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Create,
    Update,
}

/// The metadata the emulator keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    pub name: Option<String>,
    pub mime_type: Option<String>,
    pub parents: Option<Vec<String>>,
    pub app_properties: Option<BTreeMap<String, Option<String>>>,
    pub trashed: Option<bool>,
}

/// Parses a request body, refusing fields the request may not set as Drive does.
pub fn parse(bytes: &[u8], request: Request) -> Result<FileMetadata, GoogleError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(FileMetadata::default());
    }
    let body: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| GoogleError::bad_request(format!("Invalid JSON payload received. {e}")))?;
    for field in body.keys() {
        check_writable(field, request)?;
    }
    // Only the fields kept are read; the others were checked above.
    let kept: Map<String, Value> = body
        .into_iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "name" | "mimeType" | "parents" | "appProperties" | "trashed"
            )
        })
        .collect();
    serde_json::from_value(Value::Object(kept))
        .map_err(|e| GoogleError::bad_request(format!("Invalid JSON payload received. {e}")))
}

fn check_writable(field: &str, request: Request) -> Result<(), GoogleError> {
    match field {
        "parents" if request == Request::Update => Err(GoogleError::field_not_writable(
            "The parents field is not directly writable in update requests. Use the addParents \
             and removeParents parameters instead.",
        )),
        "id" if request == Request::Update => Err(GoogleError::field_not_writable(
            "The resource body includes fields which are not directly writable.",
        )),
        f if OUTPUT_ONLY.contains(&f) => Err(GoogleError::field_not_writable(
            "The resource body includes fields which are not directly writable.",
        )),
        "name" | "mimeType" | "parents" | "appProperties" | "trashed" | "id" => Ok(()),
        f if ACCEPTED_AND_IGNORED.contains(&f) => Ok(()),
        f => Err(GoogleError::bad_request(format!(
            "Invalid JSON payload received. Unknown name \"{f}\" at 'resource': Cannot find field."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str, request: Request) -> Option<&'static str> {
        parse(body.as_bytes(), request).err().map(|e| e.reason)
    }

    #[test]
    fn output_only_fields_are_not_writable() {
        for body in [
            r#"{"name":"a","driveId":"0A"}"#,
            r#"{"capabilities":{}}"#,
            r#"{"kind":"drive#file"}"#,
        ] {
            assert_eq!(reason(body, Request::Create), Some("fieldNotWritable"));
            assert_eq!(reason(body, Request::Update), Some("fieldNotWritable"));
        }
    }

    #[test]
    fn parents_are_set_on_create_and_moved_with_parameters_on_update() {
        let body = r#"{"name":"a","parents":["1p"]}"#;
        let created = parse(body.as_bytes(), Request::Create).unwrap();
        assert_eq!(created.parents, Some(vec!["1p".to_owned()]));
        assert_eq!(reason(body, Request::Update), Some("fieldNotWritable"));
    }

    #[test]
    fn unknown_fields_are_bad_requests_and_known_ones_pass() {
        assert_eq!(
            reason(r#"{"nmae":"a"}"#, Request::Create),
            Some("badRequest")
        );
        let ok = parse(
            br#"{"name":"a","description":"d","appProperties":{"k":null}}"#,
            Request::Update,
        )
        .unwrap();
        assert_eq!(ok.name.as_deref(), Some("a"));
        assert_eq!(ok.app_properties.unwrap()["k"], None);
    }
}
