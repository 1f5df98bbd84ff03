//! Page tokens: opaque to clients, bound to the query they came from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why a page token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid page token: {0}")]
pub struct PageTokenError(pub &'static str);

/// One page of `items`, and the token for the next page if there is one.
///
/// `query` is everything that defines the result set (filters, ordering); a token from one
/// query is refused by another, as Google does.
pub fn page<T: Clone>(
    items: &[T],
    page_size: usize,
    token: Option<&str>,
    query: &str,
) -> Result<(Vec<T>, Option<String>), PageTokenError> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => decode(t, query)?,
    };
    if start > items.len() {
        return Err(PageTokenError(
            "the token points past the end of the results",
        ));
    }
    let end = (start + page_size.max(1)).min(items.len());
    let next = (end < items.len()).then(|| encode(end, query));
    Ok((items[start..end].to_vec(), next))
}

fn fingerprint(query: &str) -> String {
    let digest = Sha256::digest(query.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn encode(offset: usize, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{}", fingerprint(query)))
}

fn decode(token: &str, query: &str) -> Result<usize, PageTokenError> {
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| PageTokenError("not a token this service issued"))?;
    let raw =
        String::from_utf8(raw).map_err(|_| PageTokenError("not a token this service issued"))?;
    let (offset, print) = raw
        .split_once(':')
        .ok_or(PageTokenError("not a token this service issued"))?;
    if print != fingerprint(query) {
        return Err(PageTokenError("the token belongs to a different query"));
    }
    offset
        .parse()
        .map_err(|_| PageTokenError("not a token this service issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let (first, token) = page(&items, 3, None, "q").unwrap();
        assert_eq!(first, [0, 1, 2]);
        let (second, token) = page(&items, 3, token.as_deref(), "q").unwrap();
        assert_eq!(second, [3, 4, 5]);
        let (third, token) = page(&items, 3, token.as_deref(), "q").unwrap();
        assert_eq!(third, [6]);
        assert!(token.is_none());
    }

    #[test]
    fn foreign_and_garbage_tokens_are_refused() {
        let items: Vec<u32> = (0..7).collect();
        let (_, token) = page(&items, 3, None, "q").unwrap();
        assert!(page(&items, 3, token.as_deref(), "other").is_err());
        assert!(page(&items, 3, Some("%%%"), "q").is_err());
        assert!(page(&items, 3, Some(&encode(99, "q")), "q").is_err());
    }
}
