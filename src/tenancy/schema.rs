//! What a school's schema consists of: the version-1 template, the numbered changes applied after
//! it, and the grants its role receives.

use std::borrow::Cow;

use super::names::quote_ident;

/// Version 1 of every school's schema.
pub const TEMPLATE_SQL: &str = include_str!("../../tenant_template.sql");

/// The schema version the template produces.
pub const TEMPLATE_VERSION: i32 = 1;

/// The changes in `migrations/tenant/`, compiled into the binary. A unit test checks that this
/// list matches the directory, so a new file cannot be forgotten here.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "0002_staff_last_signed_in.sql",
        include_str!("../../migrations/tenant/0002_staff_last_signed_in.sql"),
    ),
    (
        "0003_google_credentials.sql",
        include_str!("../../migrations/tenant/0003_google_credentials.sql"),
    ),
    (
        "0004_role_invitations.sql",
        include_str!("../../migrations/tenant/0004_role_invitations.sql"),
    ),
    (
        "0005_roster_sync.sql",
        include_str!("../../migrations/tenant/0005_roster_sync.sql"),
    ),
    (
        "0006_share_scans.sql",
        include_str!("../../migrations/tenant/0006_share_scans.sql"),
    ),
    (
        "0007_class_folder_grants.sql",
        include_str!("../../migrations/tenant/0007_class_folder_grants.sql"),
    ),
    (
        "0008_sync_skipped.sql",
        include_str!("../../migrations/tenant/0008_sync_skipped.sql"),
    ),
];

/// One numbered change to every school's schema.
#[derive(Debug, Clone)]
pub struct TenantMigration {
    /// The version the schema is at after this change (2, 3, …).
    pub version: i32,
    pub name: Cow<'static, str>,
    pub sql: Cow<'static, str>,
}

/// Why a set of tenant migrations is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationSetError {
    #[error("tenant migration file {0:?} does not start with a version number like `0002_`")]
    Unnumbered(String),
    #[error(
        "tenant migrations must be numbered 2, 3, 4… without gaps; expected {expected}, found {found}"
    )]
    Gap { expected: i32, found: i32 },
}

/// The ordered changes that take a school's schema from version 1 to the latest version.
#[derive(Debug, Clone)]
pub struct TenantMigrations {
    list: Vec<TenantMigration>,
}

impl TenantMigrations {
    /// The migrations shipped with this build.
    pub fn embedded() -> Self {
        let list = EMBEDDED
            .iter()
            .map(|(file, sql)| TenantMigration {
                version: version_of(file).unwrap_or(0),
                name: Cow::Borrowed(*file),
                sql: Cow::Borrowed(*sql),
            })
            .collect();
        // The unit test `embedded_list_matches_directory` keeps this list numbered correctly.
        Self { list }
    }

    /// A set built from explicit migrations, e.g. in tests and benchmarks.
    pub fn new(mut list: Vec<TenantMigration>) -> Result<Self, MigrationSetError> {
        list.sort_by_key(|m| m.version);
        for (expected, m) in (TEMPLATE_VERSION + 1..).zip(&list) {
            if m.version != expected {
                return Err(MigrationSetError::Gap {
                    expected,
                    found: m.version,
                });
            }
        }
        Ok(Self { list })
    }

    /// This set plus one more change at the next version.
    pub fn with_next(&self, name: &str, sql: &str) -> Self {
        let mut list = self.list.clone();
        list.push(TenantMigration {
            version: self.latest_version() + 1,
            name: Cow::Owned(name.to_owned()),
            sql: Cow::Owned(sql.to_owned()),
        });
        Self { list }
    }

    /// Only the template: schools provisioned with this set stay at version 1.
    pub fn none() -> Self {
        Self { list: Vec::new() }
    }

    /// The version a school reaches after every migration here.
    pub fn latest_version(&self) -> i32 {
        self.list.last().map_or(TEMPLATE_VERSION, |m| m.version)
    }

    /// The changes a school at `version` still needs, in order.
    pub fn after(&self, version: i32) -> impl Iterator<Item = &TenantMigration> {
        self.list.iter().filter(move |m| m.version > version)
    }
}

/// The version number at the start of a migration file name, e.g. `0002_x.sql` → 2.
fn version_of(file: &str) -> Result<i32, MigrationSetError> {
    file.split_once('_')
        .and_then(|(n, _)| n.parse::<i32>().ok())
        .ok_or_else(|| MigrationSetError::Unnumbered(file.to_owned()))
}

/// The privileges a school's role holds on its own schema, re-applied after every change so a
/// new table is covered and a fresh school and an upgraded one end with identical grants.
/// The role may read and write school data, may only add to the audit log, and has no DDL.
///
/// This is the one place for per-table privileges: a migration that needs a table to be
/// read-only (as `audit_log` is append-only) says so here, because anything a migration revokes
/// itself is granted again by the next upgrade.
pub(super) fn grants_sql(schema: &str, role: &str) -> String {
    let (s, r) = (quote_ident(schema), quote_ident(role));
    format!(
        "GRANT USAGE ON SCHEMA {s} TO {r};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};\n\
         REVOKE UPDATE, DELETE, TRUNCATE ON {s}.audit_log FROM {r};\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r};\n\
         REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM PUBLIC;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_matches_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/tenant");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = EMBEDDED.iter().map(|(f, _)| *f).collect();
        assert_eq!(files, embedded, "update EMBEDDED in src/tenancy/schema.rs");
        for (file, sql) in EMBEDDED {
            let on_disk = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert_eq!(&on_disk, sql);
        }
        let set = TenantMigrations::embedded();
        TenantMigrations::new(set.list.clone()).expect("embedded migrations are numbered 2, 3, …");
    }

    #[test]
    fn gaps_are_refused() {
        let m = |version| TenantMigration {
            version,
            name: "x".into(),
            sql: "".into(),
        };
        assert_eq!(
            TenantMigrations::new(vec![m(2), m(4)]).unwrap_err(),
            MigrationSetError::Gap {
                expected: 3,
                found: 4
            }
        );
        let set = TenantMigrations::new(vec![m(3), m(2)]).unwrap();
        assert_eq!(set.latest_version(), 3);
        assert_eq!(set.after(2).map(|m| m.version).collect::<Vec<_>>(), vec![3]);
        assert_eq!(set.with_next("y", "").latest_version(), 4);
        assert_eq!(TenantMigrations::none().latest_version(), 1);
        assert!(version_of("readme.sql").is_err());
    }
}
