//! One PostgreSQL schema per school.
//!
//! - [`names`]: validated slugs, domains and the schema/role names derived from them.
//! - [`registry`]: the schools in `platform.tenants`.
//! - [`provision`]: creating a school in one transaction.
//! - [`school_tx`]: the one function that opens a transaction scoped to a school (and the one
//!   that carries a transaction of the service's own on as a school's, for a registry change
//!   and its audit entry).
//! - [`schema`]: the template, the numbered changes after it with the checksum of each, and the
//!   school role's grants.
//! - [`migrate`]: bringing the platform and every school up to date.

pub mod daily_runs;
pub mod migrate;
pub mod names;
pub mod provision;
pub mod registry;
pub mod row_counts;
pub mod schema;
pub mod school_tx;
pub mod settings;

pub use migrate::{MigrateReport, SchoolOutcome, SchoolResult, migrate_platform, migrate_schools};
pub use names::{SchoolName, Slug, WorkspaceDomain};
pub use provision::{DroppedSchool, NewSchool, ProvisionError, drop_school, provision_school};
pub use registry::{
    School, SchoolStatus, find_school_by_domain, find_school_by_slug, list_schools,
};
pub use schema::{TenantMigration, TenantMigrations};
pub use school_tx::{SchoolTx, begin_school_snapshot_tx, begin_school_tx, continue_as_school};
