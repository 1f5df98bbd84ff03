//! What Invigilator holds, as `docs/data-map.md` declares it: every column of a school's schema
//! and of the platform schema, and every kind of Redis key, with its category, purpose, whom it
//! is about and how long it is kept.
//!
//! The document is compiled in and read here once, so the School Admin's "What Invigilator
//! holds" page shows the very declaration the data-map test holds against the live catalogue and
//! Redis: a column added without an entry fails the test, and an entry can never be on the page
//! without being in the document. [`held`] adds how many rows of each of the school's tables
//! exist now.

use std::sync::LazyLock;

use serde::Serialize;

use crate::tenancy::row_counts::row_counts;
use crate::tenancy::{School, SchoolTx};

/// The document, as written.
const DOCUMENT: &str = include_str!("../../docs/data-map.md");

/// Where a group of entries is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A table of the school's own schema.
    School,
    /// A table of the platform schema, shared by every school.
    Platform,
    /// Kinds of Redis key.
    Redis,
}

/// One row of the map: a column, or a kind of Redis key.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The machine-read first cell: `table.column`, `platform.table.column` or `redis:kind`.
    pub item: String,
    /// For a Redis key kind, the key's pattern; `None` for a column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub category: String,
    pub purpose: String,
    pub about: String,
    pub retention: String,
}

impl Entry {
    /// The column's name without its table (`email` of `staff.email`), or the key kind.
    pub fn short_name(&self) -> &str {
        match self.item.strip_prefix("redis:") {
            Some(kind) => kind,
            None => self.item.rsplit('.').next().unwrap_or(&self.item),
        }
    }
}

/// A table (or the Redis section) with what the document says of it.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub place: Place,
    /// The table's name (`students`, `platform.tenants`), or `redis`.
    pub name: String,
    /// The document's sentence about the table, if it has one.
    pub description: String,
    pub entries: Vec<Entry>,
}

static GROUPS: LazyLock<Vec<Group>> = LazyLock::new(|| parse(DOCUMENT));

/// Every group of the map, in the document's order.
pub fn groups() -> &'static [Group] {
    &GROUPS
}

/// Every entry's first cell, as the data-map test compares them with what is really held.
pub fn items() -> impl Iterator<Item = &'static str> {
    groups()
        .iter()
        .flat_map(|g| g.entries.iter().map(|e| e.item.as_str()))
}

/// Reads the document: `## ` headings name the place, `### ` headings a table, the first
/// paragraph after it describes the table, and table rows whose first cell is code are entries.
fn parse(text: &str) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut place = None;
    // Whether the last group pushed is still being read (a `## ` heading ends it).
    let mut reading = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            place = [
                ("School schema", Place::School),
                ("Platform schema", Place::Platform),
                ("Redis", Place::Redis),
            ]
            .into_iter()
            .find_map(|(start, place)| heading.starts_with(start).then_some(place));
            // Redis keys have no tables: the section is one group.
            reading = place == Some(Place::Redis);
            if reading {
                groups.push(Group::new(Place::Redis, "redis"));
            }
        } else if let (Some(name), Some(place)) = (line.strip_prefix("### "), place) {
            groups.push(Group::new(place, name.trim_matches('`')));
            reading = true;
        } else if let Some(group) = groups.last_mut().filter(|_| reading) {
            if let Some(entry) = entry_of(line) {
                group.entries.push(entry);
            } else if group.entries.is_empty() && !line.trim().is_empty() && !line.starts_with('|')
            {
                // The paragraph between a heading and its table.
                if !group.description.is_empty() {
                    group.description.push(' ');
                }
                group.description.push_str(line.trim());
            }
        }
    }
    groups
}

impl Group {
    fn new(place: Place, name: &str) -> Self {
        Group {
            place,
            name: name.to_owned(),
            description: String::new(),
            entries: Vec::new(),
        }
    }
}

/// A table row whose first cell is code: five cells for a column, six for a Redis key kind.
fn entry_of(line: &str) -> Option<Entry> {
    let inner = line.strip_prefix("| `")?.strip_suffix(" |")?;
    let cells: Vec<&str> = inner.split(" | ").map(str::trim).collect();
    let code = |cell: &str| cell.trim_matches('`').to_owned();
    let item = code(cells.first()?.trim_start_matches('`'));
    match cells.as_slice() {
        [_, category, purpose, about, retention] => Some(Entry {
            item,
            key: None,
            category: (*category).to_owned(),
            purpose: (*purpose).to_owned(),
            about: (*about).to_owned(),
            retention: (*retention).to_owned(),
        }),
        [_, key, category, purpose, about, retention] => Some(Entry {
            item,
            key: Some(code(key)),
            category: (*category).to_owned(),
            purpose: (*purpose).to_owned(),
            about: (*about).to_owned(),
            retention: (*retention).to_owned(),
        }),
        _ => None,
    }
}

/// A group of the map with, for a table of the school's schema, how many rows it holds now.
#[derive(Debug, Serialize)]
pub struct Held {
    #[serde(flatten)]
    pub group: &'static Group,
    /// Rows held now, for the school's own tables; `None` for the platform's and Redis.
    pub rows: Option<i64>,
}

/// The whole map, with the school's row counts: what the School Admin's page and API show.
pub async fn held(tx: &mut SchoolTx, school: &School) -> Result<Vec<Held>, sqlx::Error> {
    let counts = row_counts(tx, &school.schema_name).await?;
    Ok(groups()
        .iter()
        .map(|group| Held {
            group,
            rows: match group.place {
                // A declared table not yet in this school's schema holds nothing.
                Place::School => Some(counts.get(&group.name).copied().unwrap_or(0)),
                Place::Platform | Place::Redis => None,
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_reads_into_school_platform_and_redis_groups() {
        let groups = groups();
        let students = groups
            .iter()
            .find(|g| g.name == "students")
            .expect("the students table is declared");
        assert_eq!(students.place, Place::School);
        assert!(!students.description.is_empty());
        let email = students
            .entries
            .iter()
            .find(|e| e.item == "students.email")
            .expect("a student's address is declared");
        assert_eq!(email.short_name(), "email");
        assert!(email.category.starts_with("Personal data"));
        assert_eq!(email.about, "Student");

        let tenants = groups
            .iter()
            .find(|g| g.name == "platform.tenants")
            .expect("the registry is declared");
        assert_eq!(tenants.place, Place::Platform);

        let redis = groups
            .iter()
            .find(|g| g.place == Place::Redis)
            .expect("the Redis keys are declared");
        let session = redis
            .entries
            .iter()
            .find(|e| e.item == "redis:session")
            .expect("sessions are declared");
        assert_eq!(session.short_name(), "session");
        assert!(
            session
                .key
                .as_deref()
                .is_some_and(|k| k.contains("session:"))
        );
    }

    #[test]
    fn every_group_has_entries_and_every_table_a_description() {
        for group in groups() {
            assert!(!group.entries.is_empty(), "{} has no entries", group.name);
            if group.place != Place::Redis {
                assert!(
                    !group.description.is_empty(),
                    "{} has no description",
                    group.name
                );
            }
            for entry in &group.entries {
                for cell in [
                    &entry.category,
                    &entry.purpose,
                    &entry.about,
                    &entry.retention,
                ] {
                    assert!(!cell.is_empty(), "{} has an empty cell", entry.item);
                }
            }
        }
    }
}
