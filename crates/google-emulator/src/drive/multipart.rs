//! `multipart/related` bodies, as Drive's `uploadType=multipart` takes them: a JSON metadata part
//! followed by the media part.

/// One part: its `Content-Type` (if given) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a body could not be split.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultipartError {
    #[error("Content-Type is not multipart/related with a boundary")]
    NotMultipart,
    #[error("the body does not contain the declared boundary")]
    NoParts,
}

/// The `boundary` parameter of a `multipart/related` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut pieces = content_type.split(';').map(str::trim);
    let kind = pieces.next().unwrap_or_default();
    if !kind.eq_ignore_ascii_case("multipart/related") {
        return Err(MultipartError::NotMultipart);
    }
    pieces
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty())
        .ok_or(MultipartError::NotMultipart)
}

/// Splits a body into its parts.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = boundary(content_type)?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut positions = find_all(body, &delimiter);
    if positions.is_empty() {
        return Err(MultipartError::NoParts);
    }
    positions.push(body.len());
    for window in positions.windows(2) {
        let start = window[0] + delimiter.len();
        let chunk = &body[start..window[1]];
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = strip_line_end(chunk, true);
        let chunk = strip_line_end(chunk, false);
        let (headers, content) = split_headers(chunk);
        let content_type = headers.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        });
        parts.push(Part {
            content_type,
            body: content.to_vec(),
        });
    }
    if parts.is_empty() {
        return Err(MultipartError::NoParts);
    }
    Ok(parts)
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            found.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    found
}

/// Drops one leading (or trailing) CRLF or LF.
fn strip_line_end(chunk: &[u8], leading: bool) -> &[u8] {
    if leading {
        chunk
            .strip_prefix(b"\r\n")
            .or_else(|| chunk.strip_prefix(b"\n"))
            .unwrap_or(chunk)
    } else {
        chunk
            .strip_suffix(b"\r\n")
            .or_else(|| chunk.strip_suffix(b"\n"))
            .unwrap_or(chunk)
    }
}

fn split_headers(chunk: &[u8]) -> (String, &[u8]) {
    for separator in [&b"\r\n\r\n"[..], &b"\n\n"[..]] {
        if let Some(at) = find_all(chunk, separator).first() {
            let headers = String::from_utf8_lossy(&chunk[..*at]).into_owned();
            return (headers, &chunk[at + separator.len()..]);
        }
    }
    (String::new(), chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_media_parts_are_separated() {
        let body = b"\r\n--XyZ\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"name\":\"Ada\"}\r\n--XyZ\r\nContent-Type: application/vnd.google-apps.folder\r\n\r\n\r\n--XyZ--";
        let parts = parse("multipart/related;boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(parts[0].body, b"{\"name\":\"Ada\"}");
        assert!(parts[1].body.is_empty());
    }

    #[test]
    fn wrong_content_types_and_bodies_are_refused() {
        assert_eq!(
            boundary("application/json"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            boundary("multipart/related"),
            Err(MultipartError::NotMultipart)
        );
        assert_eq!(
            parse("multipart/related; boundary=\"a\"", b"nothing here"),
            Err(MultipartError::NoParts)
        );
    }
}
