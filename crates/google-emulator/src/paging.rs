//! Page tokens: opaque to clients, bound to the query they came from.
//!
//! Google documents that a list "may return fewer than" the page size while a next-page token
//! remains, and even an empty page. [`ShortPages`] makes the emulator do so too, so code that
//! stops at the first short page, or counts on full pages, fails here rather than in production.
//! Which pages come up short is decided by a hash of the seed, the kind of list (the `query` up to
//! its first `|`), the number of results and the position, never by chance, nor by the ids in a
//! query (which differ from run to run): the same calls on the same world see the same pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why a page token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid page token: {0}")]
pub struct PageTokenError(pub &'static str);

/// Whether (and how) pages are cut short before the end of the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortPages {
    /// Every page but the last is full.
    Never,
    /// Some pages are short or empty, chosen by this seed.
    Seeded(u64),
}

/// One page of `items`, and the token for the next page if there is one.
///
/// `query` is everything that defines the result set (filters, ordering), starting with the
/// kind of list and a `|`; a token from one query is refused by another, as Google does.
pub fn page<T: Clone>(
    items: &[T],
    page_size: usize,
    short_pages: ShortPages,
    token: Option<&str>,
    query: &str,
) -> Result<(Vec<T>, Option<String>), PageTokenError> {
    let (start, number) = match token.filter(|t| !t.is_empty()) {
        None => (0, 0),
        Some(t) => decode(t, query)?,
    };
    if start > items.len() {
        return Err(PageTokenError(
            "the token points past the end of the results",
        ));
    }
    let available = page_size.max(1).min(items.len() - start);
    let kind = query.split('|').next().unwrap_or_default();
    let shape = format!("{kind}|{}", items.len());
    let end = start + shortened(available, short_pages, &shape, start, number);
    let next = (end < items.len()).then(|| encode(end, number + 1, query));
    Ok((items[start..end].to_vec(), next))
}

/// How many of the `available` items this page holds: all of them, fewer, or none at all.
fn shortened(
    available: usize,
    short_pages: ShortPages,
    shape: &str,
    start: usize,
    number: u64,
) -> usize {
    let ShortPages::Seeded(seed) = short_pages else {
        return available;
    };
    if available == 0 {
        return 0;
    }
    let digest = Sha256::digest(format!("{seed}|{shape}|{start}|{number}").as_bytes());
    let mut roll = [0u8; 8];
    roll.copy_from_slice(&digest[..8]);
    let roll = u64::from_le_bytes(roll);
    match roll % 8 {
        // One page in eight is empty; a token remains, as the items are still to come.
        0 => 0,
        // One in four holds some but not all of what it could.
        1 | 2 if available > 1 => {
            let fewer = usize::try_from((roll >> 8) % (available as u64 - 1)).unwrap_or(0);
            1 + fewer
        }
        _ => available,
    }
}

fn fingerprint(query: &str) -> String {
    let digest = Sha256::digest(query.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn encode(offset: usize, number: u64, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{number}:{}", fingerprint(query)))
}

fn decode(token: &str, query: &str) -> Result<(usize, u64), PageTokenError> {
    let foreign = PageTokenError("not a token this service issued");
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| PageTokenError("not a token this service issued"))?;
    let raw =
        String::from_utf8(raw).map_err(|_| PageTokenError("not a token this service issued"))?;
    let mut pieces = raw.splitn(3, ':');
    let (Some(offset), Some(number), Some(print)) = (pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(foreign);
    };
    if print != fingerprint(query) {
        return Err(PageTokenError("the token belongs to a different query"));
    }
    match (offset.parse(), number.parse()) {
        (Ok(offset), Ok(number)) => Ok((offset, number)),
        _ => Err(foreign),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(items: &[u32], size: usize, short: ShortPages) -> Vec<Vec<u32>> {
        walk_query(items, size, short, "files|q")
    }

    fn walk_query(items: &[u32], size: usize, short: ShortPages, query: &str) -> Vec<Vec<u32>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = page(items, size, short, token.as_deref(), query).unwrap();
            pages.push(page);
            match next {
                Some(next) => token = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn full_pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let pages = walk(&items, 3, ShortPages::Never);
        assert_eq!(pages, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    }

    #[test]
    fn short_pages_still_walk_every_item_once_and_repeat_exactly() {
        let items: Vec<u32> = (0..200).collect();
        let pages = walk(&items, 10, ShortPages::Seeded(7));
        assert_eq!(pages.concat(), items);
        assert!(pages.iter().any(|p| p.is_empty()), "some page is empty");
        assert!(
            pages.iter().any(|p| !p.is_empty() && p.len() < 10) && pages.len() > 21,
            "some page is short: {pages:?}"
        );
        assert_eq!(walk(&items, 10, ShortPages::Seeded(7)), pages, "repeatable");
        assert_ne!(walk(&items, 10, ShortPages::Seeded(8)), pages, "seeded");
    }

    #[test]
    fn the_ids_in_a_query_do_not_change_which_pages_are_short() {
        let items: Vec<u32> = (0..50).collect();
        let short = ShortPages::Seeded(3);
        let a = walk_query(&items, 10, short, "files|'1abc' in parents");
        let b = walk_query(&items, 10, short, "files|'1xyz' in parents");
        assert_eq!(a, b);
    }

    #[test]
    fn foreign_and_garbage_tokens_are_refused() {
        let items: Vec<u32> = (0..7).collect();
        let (_, token) = page(&items, 3, ShortPages::Never, None, "q").unwrap();
        assert!(page(&items, 3, ShortPages::Never, token.as_deref(), "other").is_err());
        assert!(page(&items, 3, ShortPages::Never, Some("%%%"), "q").is_err());
        let past_the_end = encode(99, 1, "q");
        assert!(page(&items, 3, ShortPages::Never, Some(&past_the_end), "q").is_err());
    }
}
