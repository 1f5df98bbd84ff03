//! Text that reaches the database, checked once and the same way everywhere.
//!
//! What a person types (an email address for a role; names, patterns and reasons as the pages
//! that take them arrive, through [`single_line`]) is refused with a clear message when it
//! cannot be stored as it is: control characters and NUL (which
//! PostgreSQL's `text` cannot hold at all), or more than the field allows (an over-long value
//! would otherwise meet an index row limit or a `CHECK` and come back as a 500). What Google
//! sends (names on a roster) is not refused but cleaned, since a teacher cannot fix it.

use std::fmt;

/// The longest email address SMTP can carry (RFC 5321: a 256-octet path less its brackets).
pub const EMAIL_MAX_CHARS: usize = 254;
/// The longest local part (before the `@`) RFC 5321 allows.
pub const EMAIL_LOCAL_MAX_CHARS: usize = 64;

/// Why a value was refused, in words a School Admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains a control character (such as a line break or NUL)")]
    ControlCharacter,
    #[error("is not an email address like name@school.sch.uk")]
    NotAnEmail,
    /// A number outside the range the field takes; `what` names what the number is ("a year
    /// group"), so the message reads "year_group is a year group from 1 to 13".
    #[error("is {what} from {min} to {max}")]
    OutOfRange {
        what: &'static str,
        min: i64,
        max: i64,
    },
    /// Any other shape the field does not take; the text says what it must be.
    #[error("{0}")]
    Malformed(&'static str),
    /// The same, where the explanation is built from the value (a time that does not exist).
    #[error("{0}")]
    Explained(String),
}

/// A refused value and the field it was given for, so an API answer can name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub field: &'static str,
    pub error: InputError,
}

/// "name is empty"; an explanation that is a sentence of its own stands alone.
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            InputError::Explained(_) => write!(f, "{}", self.error),
            other => write!(f, "{} {other}", self.field),
        }
    }
}

impl InputError {
    /// This error, for `field`.
    pub fn on(self, field: &'static str) -> FieldError {
        FieldError { field, error: self }
    }
}

/// One line of text a person typed: trimmed, not empty, no control characters, at most `max`
/// characters.
pub fn single_line(raw: &str, max: usize) -> Result<String, InputError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InputError::Empty);
    }
    // Checked before counting, so a huge value is refused without walking all of it twice.
    if value.len() > max * 4 || value.chars().count() > max {
        return Err(InputError::TooLong { max });
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::ControlCharacter);
    }
    Ok(value.to_owned())
}

/// Text from Google (a roster name, say): control characters dropped, cut to `max` characters,
/// `None` when nothing is left. Google's data is never refused for being odd.
pub fn from_google(raw: Option<String>, max: usize) -> Option<String> {
    let raw = raw?;
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// An email address, normalised: trimmed and lower-cased with Unicode's full rules (not only
/// ASCII: the database's `email = lower(email)` checks lower-case everything, so an address
/// lower-cased by half would be refused there), no control characters, at most 254 characters
/// with a local part of at most 64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InputError::Empty);
        }
        if trimmed.len() > EMAIL_MAX_CHARS * 4 || trimmed.chars().count() > EMAIL_MAX_CHARS {
            return Err(InputError::TooLong {
                max: EMAIL_MAX_CHARS,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InputError::ControlCharacter);
        }
        let email = trimmed.to_lowercase();
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(InputError::NotAnEmail);
        };
        let domain_ok =
            |d: &str| d.split('.').count() >= 2 && d.split('.').all(|label| !label.is_empty());
        if local.is_empty()
            || local.chars().count() > EMAIL_LOCAL_MAX_CHARS
            || !domain_ok(domain)
            || email.chars().any(char::is_whitespace)
        {
            return Err(InputError::NotAnEmail);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// Whether the address is of exactly `domain`.
    pub fn is_in_domain(&self, domain: &str) -> bool {
        in_domain(self.domain(), domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `candidate` is exactly `domain`, ignoring ASCII case. Exactly, not "or a subdomain":
/// a multi-academy trust's domain and one of its schools' (`trust.org.uk`,
/// `oak.trust.org.uk`) can both be schools here, and neither may take in the other's classes.
pub fn in_domain(candidate: &str, domain: &str) -> bool {
    !domain.is_empty() && candidate.eq_ignore_ascii_case(domain)
}

/// Whether an email address (as Google gives it, perhaps in capitals) is of exactly `domain`.
pub fn address_in_domain(address: &str, domain: &str) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(local, d)| !local.is_empty() && in_domain(d, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_with_unicode_rules() {
        let e = EmailAddress::parse("  ÜBER.LEHRER@Hillside.SCH.UK ").unwrap();
        assert_eq!(e.as_str(), "über.lehrer@hillside.sch.uk");
        assert_eq!(e.domain(), "hillside.sch.uk");
        assert!(e.is_in_domain("hillside.sch.uk"));
    }

    #[test]
    fn bad_emails_are_refused_with_a_reason() {
        assert_eq!(EmailAddress::parse(""), Err(InputError::Empty));
        assert_eq!(
            EmailAddress::parse("a\0b@hillside.sch.uk"),
            Err(InputError::ControlCharacter)
        );
        let long = format!("{}@hillside.sch.uk", "a".repeat(20_000));
        assert_eq!(
            EmailAddress::parse(&long),
            Err(InputError::TooLong {
                max: EMAIL_MAX_CHARS
            })
        );
        let long_local = format!("{}@hillside.sch.uk", "a".repeat(65));
        assert_eq!(
            EmailAddress::parse(&long_local),
            Err(InputError::NotAnEmail)
        );
        for bad in [
            "no-at-sign",
            "@hillside.sch.uk",
            "a@localhost",
            "a@.uk",
            "a b@x.uk",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(InputError::NotAnEmail),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_the_domain_itself_belongs_to_it() {
        assert!(in_domain("Hillside.SCH.uk", "hillside.sch.uk"));
        // A trust and one of its schools can both be schools here: neither is the other's.
        assert!(!in_domain("oak.trust.org.uk", "trust.org.uk"));
        assert!(!in_domain("nothillside.sch.uk", "hillside.sch.uk"));
        assert!(!in_domain("hillside.sch.uk.evil.com", "hillside.sch.uk"));
        assert!(address_in_domain(
            "Pupil@Hillside.sch.uk",
            "hillside.sch.uk"
        ));
        assert!(!address_in_domain(
            "pupil@students.hillside.sch.uk",
            "hillside.sch.uk"
        ));
        assert!(!address_in_domain(
            "teacher@riverside.sch.uk",
            "hillside.sch.uk"
        ));
    }

    #[test]
    fn single_lines_refuse_control_characters_and_length() {
        assert_eq!(single_line("  Chemistry ", 10).unwrap(), "Chemistry");
        assert_eq!(single_line(" ", 10), Err(InputError::Empty));
        assert_eq!(single_line("a\nb", 10), Err(InputError::ControlCharacter));
        assert_eq!(
            single_line(&"é".repeat(11), 10),
            Err(InputError::TooLong { max: 10 })
        );
        assert_eq!(single_line(&"é".repeat(10), 10).unwrap(), "é".repeat(10));
    }

    #[test]
    fn text_from_google_is_cleaned_not_refused() {
        assert_eq!(
            from_google(Some("Ada\0 Love\u{7}lace".into()), 100).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(from_google(Some("\0".into()), 100), None);
        assert_eq!(
            from_google(Some("abcdef".into()), 3).as_deref(),
            Some("abc")
        );
        assert_eq!(from_google(None, 3), None);
    }
}
