//! Which addresses a School Admin says are staff's: the patterns that let teaching a Google
//! Classroom class make someone a Teacher.
//!
//! Classroom lets anyone in a Workspace for Education domain create a class unless the domain
//! restricts it, so a student who creates one "teaches" it. Teaching a class of the school is
//! therefore not enough on its own: the person's address must also match one of these patterns.
//! A pattern is an address in which `*` stands for any run of characters and `?` for one
//! (`*@staff.hillside.sch.uk`, `?.*@hillside.sch.uk`), compared without regard to case; the
//! wildcards never reach across the `@`. No patterns (the default) means Classroom alone makes
//! nobody a Teacher: staff come in by a School Admin's invitation or role.

use serde::{Deserialize, Serialize};

/// Most patterns a school may keep: enough for every staff sub-domain and a few exceptions.
pub const MAX_PATTERNS: usize = 50;

/// Longest pattern, as long as the longest address.
pub const MAX_PATTERN_CHARS: usize = 254;

/// A school's staff address patterns, each checked and in lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StaffAddresses(Vec<String>);

/// Why a list of patterns was refused: the message names the pattern, so a School Admin sees
/// which line to mend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffAddressesError {
    #[error("at most {MAX_PATTERNS} staff address patterns")]
    TooMany,
    #[error("\"{0}\" is longer than {MAX_PATTERN_CHARS} characters")]
    TooLong(String),
    #[error("\"{0}\" needs one @ between the name and the domain, like *@staff.school.uk")]
    NotAnAddress(String),
    #[error(
        "\"{0}\" may hold only letters, digits, . - _ + ' and the wildcards * and ? (in the \
         domain: letters, digits, . - * ?)"
    )]
    Characters(String),
}

impl StaffAddresses {
    /// No patterns: nobody becomes a Teacher through Classroom alone.
    pub fn none() -> Self {
        Self::default()
    }

    /// Checks and normalises patterns as a School Admin typed them (blank ones dropped,
    /// repeats kept once, in the order given).
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, StaffAddressesError> {
        let mut kept: Vec<String> = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim().to_lowercase();
            if pattern.is_empty() || kept.contains(&pattern) {
                continue;
            }
            check(&pattern)?;
            kept.push(pattern);
        }
        if kept.len() > MAX_PATTERNS {
            return Err(StaffAddressesError::TooMany);
        }
        Ok(Self(kept))
    }

    /// The patterns in text typed one to a line (or separated by commas), as the settings form
    /// sends them, for [`Self::parse`].
    pub fn typed(text: &str) -> Vec<String> {
        text.split(['\n', ',']).map(str::to_owned).collect()
    }

    /// The patterns as saved, for storing and showing.
    pub fn patterns(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `email` (a verified address) matches any pattern.
    pub fn recognise(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return false;
        };
        self.0.iter().any(|pattern| {
            pattern.split_once('@').is_some_and(|(p_local, p_domain)| {
                glob(p_local.as_bytes(), local.as_bytes())
                    && glob(p_domain.as_bytes(), domain.as_bytes())
            })
        })
    }
}

fn check(pattern: &str) -> Result<(), StaffAddressesError> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(StaffAddressesError::TooLong(pattern.to_owned()));
    }
    let (local, domain) = match pattern.split_once('@') {
        Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => (l, d),
        _ => return Err(StaffAddressesError::NotAnAddress(pattern.to_owned())),
    };
    let wild = |c: char| c == '*' || c == '?';
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_+'".contains(c) || wild(c));
    let domain_ok = domain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || wild(c));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(StaffAddressesError::Characters(pattern.to_owned()))
    }
}

/// Whether `text` matches `pattern`, where `*` is any run (even none) and `?` any one byte.
/// Patterns and addresses are ASCII here (checked above; an address with other characters
/// simply fails to match a literal). Iterative, with one backtrack point: linear in practice
/// and never exponential, whatever a pattern holds.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again.
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> StaffAddresses {
        StaffAddresses::parse(list).unwrap()
    }

    #[test]
    fn a_staff_sub_domain_is_recognised_and_students_are_not() {
        let staff = patterns(&["*@staff.hillside.sch.uk"]);
        assert!(staff.recognise("ada.lovelace@staff.hillside.sch.uk"));
        assert!(staff.recognise("Ada.Lovelace@STAFF.Hillside.sch.uk"));
        assert!(!staff.recognise("19smithj@hillside.sch.uk"));
        assert!(!staff.recognise("ada@students.staff.hillside.sch.uk.evil.example"));
        assert!(!staff.recognise("not-an-address"));
    }

    #[test]
    fn wildcards_stay_on_their_side_of_the_at() {
        // Staff are initial.surname@, students y10.given.family@ (the demo school).
        let staff = patterns(&["?.*@riverside.example"]);
        assert!(staff.recognise("d.hughes@riverside.example"));
        assert!(!staff.recognise("y10.amy.jones@riverside.example"));
        // `*` in the name does not swallow the domain.
        let anyone_here = patterns(&["*@hillside.sch.uk"]);
        assert!(!anyone_here.recognise("x@hillside.sch.uk.evil.example"));
        assert!(!anyone_here.recognise("x@evil.example"));
        let sub_domains = patterns(&["*@*.hillside.sch.uk"]);
        assert!(sub_domains.recognise("x@staff.hillside.sch.uk"));
        assert!(!sub_domains.recognise("x@hillside.sch.uk"));
    }

    #[test]
    fn several_patterns_and_single_addresses() {
        let staff = patterns(&["*@staff.hillside.sch.uk", "bursar@hillside.sch.uk"]);
        assert!(staff.recognise("bursar@hillside.sch.uk"));
        assert!(!staff.recognise("bursar2@hillside.sch.uk"));
        assert!(StaffAddresses::none().is_empty());
        assert!(!StaffAddresses::none().recognise("anyone@hillside.sch.uk"));
    }

    #[test]
    fn typed_patterns_are_tidied() {
        let typed = StaffAddresses::parse(&StaffAddresses::typed(
            "  *@Staff.Hillside.sch.uk \r\n\n*@staff.hillside.sch.uk, bursar@hillside.sch.uk\n",
        ))
        .unwrap();
        assert_eq!(
            typed.patterns(),
            ["*@staff.hillside.sch.uk", "bursar@hillside.sch.uk"]
        );
        let blank = StaffAddresses::typed("  \n ");
        assert!(StaffAddresses::parse(&blank).unwrap().is_empty());
    }

    #[test]
    fn malformed_patterns_are_named() {
        for (typed, expected) in [
            ("staff.hillside.sch.uk", "needs one @"),
            ("@hillside.sch.uk", "needs one @"),
            ("a@b@c", "needs one @"),
            ("*@", "needs one @"),
            ("a b@hillside.sch.uk", "may hold only"),
            ("*@hill_side.sch.uk", "may hold only"),
            ("[a-z]+@x.uk", "may hold only"),
        ] {
            let err = StaffAddresses::parse(&[typed]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{typed}: {message}");
            assert!(message.contains(typed.trim()), "{typed}: {message}");
        }
        let long = format!("{}@x.uk", "a".repeat(MAX_PATTERN_CHARS));
        assert!(matches!(
            StaffAddresses::parse(&[long]),
            Err(StaffAddressesError::TooLong(_))
        ));
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("s{i}@x.uk")).collect();
        assert_eq!(
            StaffAddresses::parse(&many),
            Err(StaffAddressesError::TooMany)
        );
    }

    #[test]
    fn matching_never_blows_up() {
        let nasty = patterns(&["*a*a*a*a*a*a*a*a*a*a*b@x.uk"]);
        let long = format!("{}@x.uk", "a".repeat(200));
        assert!(!nasty.recognise(&long));
    }
}
