//! `files.list`'s `orderBy`: a comma-separated list of sort keys, each ascending unless followed
//! by `desc` (`folder,modifiedTime desc,name`), as Drive documents it. Later keys break ties of
//! earlier ones; the item id breaks any tie left, so paging is stable.

use std::cmp::Ordering;

use super::store::File;
use crate::error::GoogleError;

/// One sort key the emulator orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// Folders before other items (after them with `desc`).
    Folder,
    /// Byte order of the name: `1, 12, 2, 22`.
    Name,
    /// Digits compared as numbers: `1, 2, 12, 22`.
    NameNatural,
    CreatedTime,
    /// Also `recency`: the emulator's latest timestamp of an item is its modification.
    ModifiedTime,
    /// Nothing is starred in the emulator: every item ties.
    Starred,
    /// The size of the stored content.
    QuotaBytesUsed,
}

/// A parsed `orderBy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBy(Vec<(Key, bool)>);

impl OrderBy {
    /// Parses `orderBy`; an unknown key (or one the emulator cannot honour) is 400.
    pub fn parse(raw: Option<&str>) -> Result<Self, GoogleError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let mut keys = Vec::new();
        for item in raw.split(',') {
            let mut words = item.split_whitespace();
            let (Some(name), modifier, None) = (words.next(), words.next(), words.next()) else {
                return Err(invalid(item));
            };
            let descending = match modifier {
                None => false,
                Some(m) if m.eq_ignore_ascii_case("desc") => true,
                Some(_) => return Err(invalid(item)),
            };
            let key = match name {
                "folder" => Key::Folder,
                "name" => Key::Name,
                "name_natural" => Key::NameNatural,
                "createdTime" => Key::CreatedTime,
                "modifiedTime" | "recency" => Key::ModifiedTime,
                "starred" => Key::Starred,
                "quotaBytesUsed" => Key::QuotaBytesUsed,
                "modifiedByMeTime" | "viewedByMeTime" | "sharedWithMeTime" => {
                    return Err(GoogleError::invalid_parameter(
                        "orderBy",
                        format!("Sorting by {name} is not supported by the emulator."),
                    ));
                }
                _ => return Err(invalid(item)),
            };
            keys.push((key, descending));
        }
        Ok(Self(keys))
    }

    /// Sorts `files` by these keys, or by name when there are none.
    pub fn sort<T>(&self, files: &mut [(&File, T)]) {
        let default = [(Key::Name, false)];
        let keys = if self.0.is_empty() {
            &default[..]
        } else {
            &self.0[..]
        };
        files.sort_by(|(a, _), (b, _)| {
            keys.iter()
                .map(|(key, descending)| {
                    let order = compare(*key, a, b);
                    if *descending { order.reverse() } else { order }
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.id.cmp(&b.id))
        });
    }
}

fn invalid(item: &str) -> GoogleError {
    GoogleError::invalid_parameter(
        "orderBy",
        format!(
            "Invalid Value: {:?} is not a sort key Drive knows.",
            item.trim()
        ),
    )
}

fn compare(key: Key, a: &File, b: &File) -> Ordering {
    match key {
        Key::Folder => b.is_folder().cmp(&a.is_folder()),
        Key::Name => a.name.cmp(&b.name),
        Key::NameNatural => natural(&a.name, &b.name),
        Key::CreatedTime => a.created_time.cmp(&b.created_time),
        Key::ModifiedTime => a.modified_time.cmp(&b.modified_time),
        Key::Starred => Ordering::Equal,
        Key::QuotaBytesUsed => size(a).cmp(&size(b)),
    }
}

fn size(f: &File) -> usize {
    f.content.as_ref().map_or(0, Vec::len)
}

/// Natural order: runs of digits compare by value, everything else case-insensitively.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let number = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut digits = String::new();
                    while let Some(d) = it.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(d);
                        it.next();
                    }
                    digits
                };
                let (x, y) = (number(&mut a), number(&mut b));
                let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                let order = xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt));
                if order.is_ne() {
                    return order;
                }
            }
            (Some(x), Some(y)) => {
                let order = x.to_lowercase().cmp(y.to_lowercase());
                if order.is_ne() {
                    return order;
                }
                a.next();
                b.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_directions_parse() {
        let o = OrderBy::parse(Some("folder,modifiedTime desc,name")).unwrap();
        assert_eq!(
            o.0,
            [
                (Key::Folder, false),
                (Key::ModifiedTime, true),
                (Key::Name, false)
            ]
        );
        assert!(OrderBy::parse(Some("title")).is_err());
        assert!(OrderBy::parse(Some("name asc")).is_err());
        assert!(OrderBy::parse(Some("name desc desc")).is_err());
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        let mut names = ["File 12", "file 2", "File 1", "File 22"];
        names.sort_by(|a, b| natural(a, b));
        assert_eq!(names, ["File 1", "file 2", "File 12", "File 22"]);
    }
}
