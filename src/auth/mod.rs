//! Who is signed in and what they may do.
//!
//! - [`oidc`]: Google OpenID Connect (authorization URL, code exchange, ID-token checks).
//! - [`signin`]: the decisions between Google's redirect and a session.
//! - [`session`]: server-side sessions and sign-in attempts in Redis.
//! - [`staff`]: staff members and their roles in a school.
//! - [`staff_addresses`]: the School Admin's patterns that tell staff from students.
//! - [`roles`]: the five roles and the one permission table.
//! - [`class_scope`]: which classes a person may see or act on.

pub mod class_scope;
pub mod oidc;
pub mod role_admin;
pub mod roles;
pub mod session;
pub mod signin;
pub mod staff;
pub mod staff_addresses;

pub use class_scope::{ClassAccess, ClassScope};
pub use roles::{Permission, Role, RoleAssignment, allows};
