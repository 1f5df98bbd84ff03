//! What a school's schema consists of: the version-1 template, the numbered changes applied after
//! it, the SHA-256 checksum of each one's text, and the grants its role receives.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::names::quote_ident;

/// Version 1 of every school's schema.
pub const TEMPLATE_SQL: &str = include_str!("../../tenant_template.sql");

/// The schema version the template produces.
pub const TEMPLATE_VERSION: i32 = 1;

/// The name recorded for version 1 among a school's applied migrations.
pub const TEMPLATE_NAME: &str = "tenant_template.sql";

/// SHA-256 of a migration's text, byte for byte as compiled in.
pub type Checksum = [u8; 32];

/// The checksum of a migration's text. Nothing is normalised: a changed comment or line ending
/// is a change, because the only safe assumption about an edited migration is that it differs.
pub fn checksum_of(sql: &str) -> Checksum {
    Sha256::digest(sql.as_bytes()).into()
}

/// The changes in `migrations/tenant/`, compiled into the binary. A unit test checks that this
/// list matches the directory, so a new file cannot be forgotten here. Each one's checksum is
/// the SHA-256 of the text compiled in here, so the binary carries exactly what it applies.
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
    (
        "0009_class_placement.sql",
        include_str!("../../migrations/tenant/0009_class_placement.sql"),
    ),
    (
        "0010_assessment_windows.sql",
        include_str!("../../migrations/tenant/0010_assessment_windows.sql"),
    ),
    (
        "0011_erasure_and_leavers.sql",
        include_str!("../../migrations/tenant/0011_erasure_and_leavers.sql"),
    ),
    (
        "0012_drive_operators.sql",
        include_str!("../../migrations/tenant/0012_drive_operators.sql"),
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

impl TenantMigration {
    /// The SHA-256 of this change's text, as recorded for every school it is applied to.
    pub fn checksum(&self) -> Checksum {
        checksum_of(&self.sql)
    }
}

/// One version of a school's schema as this build knows it: what is recorded in
/// `platform.tenant_applied_migrations` when the version is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChecksum {
    pub version: i32,
    /// `tenant_template.sql` for version 1, the migration's file name after that.
    pub name: String,
    pub checksum: Checksum,
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

    /// Every change after the template, in order (to build a variant of this set in tests).
    pub fn as_slice(&self) -> &[TenantMigration] {
        &self.list
    }

    /// Versions 1 (the template) to `version` (at most the latest), each with its checksum.
    pub fn checksums_up_to(&self, version: i32) -> Vec<VersionChecksum> {
        let template = (version >= TEMPLATE_VERSION).then(|| VersionChecksum {
            version: TEMPLATE_VERSION,
            name: TEMPLATE_NAME.to_owned(),
            checksum: checksum_of(TEMPLATE_SQL),
        });
        template
            .into_iter()
            .chain(
                self.list
                    .iter()
                    .take_while(|m| m.version <= version)
                    .map(|m| VersionChecksum {
                        version: m.version,
                        name: m.name.clone().into_owned(),
                        checksum: m.checksum(),
                    }),
            )
            .collect()
    }

    /// The digest kept in `platform.tenants.schema_checksum` for a school at `version`: SHA-256
    /// over each version number and checksum from 1 to `version`. A school whose digest is this
    /// one was built from exactly these texts, which lets `migrate` tell that every school is
    /// current and unchanged with one query over the registry.
    pub fn schema_checksum(&self, version: i32) -> Checksum {
        schema_checksum_of(&self.checksums_up_to(version))
    }
}

/// The registry's digest of a school's recorded versions (see
/// [`TenantMigrations::schema_checksum`]).
pub fn schema_checksum_of(versions: &[VersionChecksum]) -> Checksum {
    let mut digest = Sha256::new();
    for v in versions {
        digest.update(v.version.to_be_bytes());
        digest.update(v.checksum);
    }
    digest.finalize().into()
}

/// The first bytes of a checksum in hex, enough for a person to tell two apart.
pub fn short_hex(checksum: &[u8]) -> String {
    checksum
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The version number at the start of a migration file name, e.g. `0002_x.sql` → 2.
fn version_of(file: &str) -> Result<i32, MigrationSetError> {
    file.split_once('_')
        .and_then(|(n, _)| n.parse::<i32>().ok())
        .ok_or_else(|| MigrationSetError::Unnumbered(file.to_owned()))
}

/// What a school's role may do with every table of its schema: read and write school data.
const TABLE_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";
/// What it may do with every sequence (identity columns draw from them).
const SEQUENCE_PRIVILEGES: &str = "USAGE, SELECT";

/// The privileges a school's role holds on its own schema, re-applied after every change so a
/// new table is covered and a fresh school and an upgraded one end with identical grants.
/// The role may read and write school data, may only add to the audit log, and has no DDL.
///
/// This and [`exceptions_sql`] are the one place for per-table privileges: a migration that
/// needs a table to be read-only (as `audit_log` is append-only) says so in `exceptions_sql`,
/// because anything a migration revokes itself is granted again by the next upgrade.
///
/// `… ON ALL TABLES IN SCHEMA` reads the whole of `pg_class` (it has no index by schema), so it
/// costs more with every school on the server; [`build_school_sql`] avoids it.
pub(super) fn grants_sql(schema: &str, role: &str) -> String {
    let (s, r) = (quote_ident(schema), quote_ident(role));
    format!(
        "GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} TO {r};\n\
         GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {s} TO {r};\n{}",
        exceptions_sql(&s, &r)
    )
}

/// The schema grant and the exceptions to the blanket table grants, applied after them.
/// `s` and `r` are already quoted.
fn exceptions_sql(s: &str, r: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA {s} TO {r};\n\
         REVOKE UPDATE, DELETE, TRUNCATE ON {s}.audit_log FROM {r};\n\
         REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM PUBLIC;\n"
    )
}

/// Everything that builds a new school, as one script to send in one round trip: the schema,
/// its role (granted to the service's login role, so it may `SET ROLE`), the template, every
/// change in `migrations`, and the grants. It must run with the new schema first on the search
/// path; provisioning runs it in the owner transaction, the benchmark raw as its baseline.
///
/// The grants are per schema rather than per table: default privileges for the new schema are
/// switched on before the template, so each table and sequence is granted to the role as it is
/// created, and switched off again at the end, so nothing of them is left in `pg_default_acl`
/// and the catalog is exactly what [`grants_sql`] gives an upgraded school (tested). This saves
/// the `… ON ALL TABLES IN SCHEMA` scans of the whole catalog, which by the 1,000th school on
/// the server took nearly half of provisioning.
pub fn build_school_sql(schema: &str, role: &str, migrations: &TenantMigrations) -> String {
    let (s, r) = (quote_ident(schema), quote_ident(role));
    let defaults = |action: &str, to_from: &str| {
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} {action} {TABLE_PRIVILEGES} ON TABLES {to_from} {r};\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA {s} {action} {SEQUENCE_PRIVILEGES} ON SEQUENCES {to_from} {r};\n"
        )
    };
    let mut sql =
        format!("CREATE SCHEMA {s};\nCREATE ROLE {r} NOLOGIN;\nGRANT {r} TO CURRENT_USER;\n");
    sql.push_str(&defaults("GRANT", "TO"));
    // Each text ends on a new line of its own, so a final comment cannot swallow what follows.
    sql.push_str(&format!("-- {TEMPLATE_NAME}\n{TEMPLATE_SQL}\n"));
    for m in migrations.after(TEMPLATE_VERSION) {
        sql.push_str(&format!("-- {}\n{}\n", m.name, m.sql));
    }
    sql.push_str(&defaults("REVOKE", "FROM"));
    sql.push_str(&exceptions_sql(&s, &r));
    sql
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
    fn each_version_has_the_checksum_of_its_text() {
        let set = TenantMigrations::embedded();
        let latest = set.latest_version();
        let all = set.checksums_up_to(latest);
        assert_eq!(
            all.iter().map(|v| v.version).collect::<Vec<_>>(),
            (1..=latest).collect::<Vec<_>>()
        );
        assert_eq!(all[0].name, "tenant_template.sql");
        assert_eq!(
            all[0].checksum,
            <[u8; 32]>::from(Sha256::digest(TEMPLATE_SQL.as_bytes()))
        );
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/tenant");
        for v in &all[1..] {
            let on_disk = std::fs::read(format!("{dir}/{}", v.name)).unwrap();
            assert_eq!(v.checksum, <[u8; 32]>::from(Sha256::digest(&on_disk)));
        }
        assert_eq!(set.checksums_up_to(1).len(), 1);
        assert_eq!(set.checksums_up_to(latest + 5), all, "stops at the latest");
        assert!(set.checksums_up_to(0).is_empty());
    }

    #[test]
    fn the_digest_changes_with_any_text_and_only_from_that_version() {
        let base = TenantMigrations::embedded();
        let latest = base.latest_version();
        let a = base.with_next("9999_a.sql", "SELECT 1;");
        let b = base.with_next("9999_a.sql", "SELECT 2;");
        assert_eq!(a.schema_checksum(latest), base.schema_checksum(latest));
        assert_eq!(a.schema_checksum(latest), b.schema_checksum(latest));
        assert_ne!(a.schema_checksum(latest + 1), b.schema_checksum(latest + 1));
        assert_ne!(a.schema_checksum(latest + 1), a.schema_checksum(latest));

        let mut list = base.as_slice().to_vec();
        list[0].sql = format!("{}-- an edited comment\n", list[0].sql).into();
        let edited = TenantMigrations::new(list).unwrap();
        assert_eq!(edited.schema_checksum(1), base.schema_checksum(1));
        assert_ne!(edited.schema_checksum(2), base.schema_checksum(2));
        assert_ne!(edited.schema_checksum(latest), base.schema_checksum(latest));
        assert_eq!(short_hex(&[0xab; 32]), "abababababab");
    }

    #[test]
    fn the_build_grants_per_schema_and_leaves_no_default_privileges() {
        let sql = build_school_sql("tenant_x", "p_tenant_x", &TenantMigrations::embedded());
        let on = "ALTER DEFAULT PRIVILEGES IN SCHEMA \"tenant_x\" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO \"p_tenant_x\";";
        let off = "ALTER DEFAULT PRIVILEGES IN SCHEMA \"tenant_x\" REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM \"p_tenant_x\";";
        let (on_at, off_at) = (sql.find(on).unwrap(), sql.find(off).unwrap());
        let template_at = sql.find(TEMPLATE_SQL).unwrap();
        let last = EMBEDDED.last().unwrap();
        let last_at = sql.find(last.1).unwrap();
        assert!(on_at < template_at && template_at < last_at && last_at < off_at);
        assert!(
            !sql.contains("ON ALL TABLES"),
            "no scan of the whole catalog"
        );
        assert!(sql.ends_with("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA \"tenant_x\" FROM PUBLIC;\n"));
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
