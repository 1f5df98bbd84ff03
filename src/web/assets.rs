//! The dashboard's one stylesheet and one script, compiled into the binary so the service needs
//! no file system and no CDN (a school's filtered network reaches only us).
//!
//! Pages link them by an address carrying a hash of their content, cached by browsers for a
//! year: a new release changes the address, so nobody runs yesterday's script against today's
//! pages. The plain addresses (`/static/app.css`) answer too, revalidated every time.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

// Each area's styles and script live in their own file and are served as one of each.
const CSS: &str = concat!(
    include_str!("../../static/app.css"),
    include_str!("../../static/windows.css"),
    include_str!("../../static/heads.css"),
    include_str!("../../static/admin.css"),
);
const JS: &str = concat!(
    include_str!("../../static/app.js"),
    include_str!("../../static/windows.js"),
    include_str!("../../static/heads.js"),
    include_str!("../../static/admin.js"),
);

/// One served file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    /// `app-<hash>.css`
    versioned: String,
    /// `"<hash>"`, for revalidating the plain address.
    etag: String,
}

impl Asset {
    fn new(body: &'static str, stem: &str, extension: &str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            body,
            content_type,
            versioned: format!("{stem}-{hash}.{extension}"),
            etag: format!("\"{hash}\""),
        }
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        Asset::new(CSS, "app", "css", "text/css; charset=utf-8"),
        Asset::new(JS, "app", "js", "text/javascript; charset=utf-8"),
    ]
});

/// The stylesheet's address, for the layout.
pub fn css_url() -> String {
    format!("/static/{}", ASSETS[0].versioned)
}

/// The script's address, for the layout.
pub fn js_url() -> String {
    format!("/static/{}", ASSETS[1].versioned)
}

/// `GET /static/{file}`
pub async fn serve(Path(file): Path<String>, headers: axum::http::HeaderMap) -> Response {
    for asset in ASSETS.iter() {
        let plain = format!("app.{}", asset.versioned.rsplit('.').next().unwrap_or(""));
        let cache = if file == asset.versioned {
            "public, max-age=31536000, immutable"
        } else if file == plain {
            "no-cache"
        } else {
            continue;
        };
        let etag = HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\""));
        if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
                (header::ETAG, etag),
            ],
            asset.body,
        )
            .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_addresses_change_with_the_content() {
        let a = Asset::new("a", "app", "css", "text/css");
        let b = Asset::new("b", "app", "css", "text/css");
        assert_ne!(a.versioned, b.versioned);
        assert!(css_url().starts_with("/static/app-") && css_url().ends_with(".css"));
        assert!(js_url().ends_with(".js"));
    }
}
