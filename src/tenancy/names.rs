//! Validated names of a school: its slug, Workspace domain and display name, and the PostgreSQL
//! identifiers derived from the slug.
//!
//! Schema and role names are built only from a [`Slug`] that passed validation, and are always
//! quoted with [`quote_ident`] when placed into SQL.

use std::fmt;

/// Longest slug accepted; keeps `tenant_<slug>` (and a role prefix) within PostgreSQL's
/// 63-byte identifier limit.
pub const SLUG_MAX_LEN: usize = 40;
const SLUG_MIN_LEN: usize = 3;
const NAME_MAX_LEN: usize = 200;

/// A school's short, permanent identifier: `^[a-z][a-z0-9_]{2,39}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("slug is empty; use 3–40 characters: a–z, 0–9 and _, starting with a letter")]
    Empty,
    #[error("slug {0:?} is too short; use at least {SLUG_MIN_LEN} characters")]
    TooShort(String),
    #[error("slug is {0} characters long; the limit is {SLUG_MAX_LEN}")]
    TooLong(usize),
    #[error("slug {0:?} must start with a lower-case letter a–z")]
    BadStart(String),
    #[error("slug {slug:?} contains {found:?}; use only lower-case letters a–z, digits 0–9 and _")]
    BadCharacter { slug: String, found: char },
}

impl Slug {
    /// Validates a slug. Nothing is trimmed or lower-cased: what is stored is what was typed.
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        if raw.is_empty() {
            return Err(SlugError::Empty);
        }
        let chars = raw.chars().count();
        if chars > SLUG_MAX_LEN {
            return Err(SlugError::TooLong(chars));
        }
        if let Some(found) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(SlugError::BadCharacter {
                slug: raw.to_owned(),
                found,
            });
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(SlugError::BadStart(raw.to_owned()));
        }
        if chars < SLUG_MIN_LEN {
            return Err(SlugError::TooShort(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The school's schema: `tenant_<slug>`.
    pub fn schema_name(&self) -> String {
        format!("tenant_{}", self.0)
    }

    /// The school's NOLOGIN role: `<prefix>tenant_<slug>`. The prefix separates deployments or
    /// test runs sharing one PostgreSQL cluster, where role names are global.
    pub fn role_name(&self, prefix: &str) -> String {
        format!("{prefix}tenant_{}", self.0)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Google Workspace primary domain, lower-cased, e.g. `hillside.sch.uk`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceDomain(String);

/// Why a Workspace domain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("domain {0:?} is not a Workspace domain like `school.sch.uk`")]
pub struct DomainError(pub String);

impl WorkspaceDomain {
    /// Accepts a DNS name of at least two labels; lower-cases it, as Google's `hd` claim is.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let domain = raw.trim().to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let labels: Vec<&str> = domain.split('.').collect();
        let tld_ok = labels
            .last()
            .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic()) && t.len() >= 2);
        if domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| label_ok(l)) && tld_ok
        {
            Ok(Self(domain))
        } else {
            Err(DomainError(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A school's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolName(String);

/// Why a school name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("school name must be 1–{NAME_MAX_LEN} characters with no control characters")]
pub struct SchoolNameError;

impl SchoolName {
    pub fn parse(raw: &str) -> Result<Self, SchoolNameError> {
        let name = raw.trim();
        if name.is_empty()
            || name.chars().count() > NAME_MAX_LEN
            || name.chars().any(char::is_control)
        {
            return Err(SchoolNameError);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Quotes a PostgreSQL identifier: wraps it in double quotes and doubles any inside.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_slugs_pass_and_name_their_schema_and_role() {
        let slug = Slug::parse("hillside_academy2").unwrap();
        assert_eq!(slug.schema_name(), "tenant_hillside_academy2");
        assert_eq!(slug.role_name(""), "tenant_hillside_academy2");
        assert_eq!(slug.role_name("t1_"), "t1_tenant_hillside_academy2");
        assert!(Slug::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn every_kind_of_bad_slug_is_refused() {
        assert_eq!(Slug::parse(""), Err(SlugError::Empty));
        assert!(matches!(
            Slug::parse("Hillside"),
            Err(SlugError::BadCharacter { found: 'H', .. })
        ));
        assert!(matches!(
            Slug::parse("hill\"side"),
            Err(SlugError::BadCharacter { found: '"', .. })
        ));
        assert!(matches!(
            Slug::parse("hill'side"),
            Err(SlugError::BadCharacter { .. })
        ));
        assert!(matches!(
            Slug::parse("hill side"),
            Err(SlugError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            Slug::parse("hill-side"),
            Err(SlugError::BadCharacter { .. })
        ));
        assert!(matches!(
            Slug::parse("école"),
            Err(SlugError::BadCharacter { .. })
        ));
        assert_eq!(
            Slug::parse("1hill"),
            Err(SlugError::BadStart("1hill".into()))
        );
        assert_eq!(
            Slug::parse("_hill"),
            Err(SlugError::BadStart("_hill".into()))
        );
        assert_eq!(Slug::parse("ab"), Err(SlugError::TooShort("ab".into())));
        assert_eq!(Slug::parse(&"a".repeat(41)), Err(SlugError::TooLong(41)));
    }

    #[test]
    fn domains_are_lower_cased_and_checked() {
        assert_eq!(
            WorkspaceDomain::parse(" Hillside.SCH.uk ")
                .unwrap()
                .as_str(),
            "hillside.sch.uk"
        );
        for bad in [
            "",
            "localhost",
            "hill side.sch.uk",
            "-bad.sch.uk",
            "x.y.1",
            "a..uk",
            "a@b.uk",
        ] {
            assert!(WorkspaceDomain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            SchoolName::parse("  Hillside Academy ").unwrap().as_str(),
            "Hillside Academy"
        );
        assert!(SchoolName::parse("   ").is_err());
        assert!(SchoolName::parse("Bad\u{7}Name").is_err());
        assert!(SchoolName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn identifiers_are_quoted_safely() {
        assert_eq!(quote_ident("tenant_a"), "\"tenant_a\"");
        assert_eq!(quote_ident("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
