//! Every kind of key Invigilator writes to Redis, declared in one place.
//!
//! `docs/data-map.md` has a row (`redis:<name>`) for each kind, saying what it holds, about whom
//! and for how long; a test holds the two together and fails for any key that real flows write
//! and no kind here matches. A new kind of key is added here first, then to the data map.
//!
//! `{ns}` in a prefix is the deployment's namespace (`TENANT_ROLE_PREFIX`), which separates
//! deployments sharing one Redis.

/// One kind of key: its name in the data map and the prefix every key of the kind starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyKind {
    pub name: &'static str,
    pub prefix: &'static str,
}

impl KeyKind {
    /// The prefix with the namespace filled in.
    pub fn prefix_in(&self, namespace: &str) -> String {
        self.prefix.replace("{ns}", namespace)
    }
}

/// Every kind of key, by name. (Live lock status goes over pub/sub channels, which store no key.)
pub const KINDS: [KeyKind; 12] = [
    // A signed-in session (`auth::session`), under the SHA-256 of its id.
    KeyKind {
        name: "session",
        prefix: "invigilator:{ns}session:",
    },
    // A sign-in in progress (PKCE verifier, state, nonce).
    KeyKind {
        name: "login",
        prefix: "invigilator:{ns}login:",
    },
    // A staff member's live sessions, to end them together.
    KeyKind {
        name: "staff-sessions",
        prefix: "invigilator:{ns}staff-sessions:",
    },
    // A school's cached settings (`tenancy::settings`), and the generation that invalidates them.
    KeyKind {
        name: "school-settings",
        prefix: "invigilator:{ns}school-settings:",
    },
    KeyKind {
        name: "school-settings-generation",
        prefix: "invigilator:{ns}school-settings-generation:",
    },
    // Leases (`lease::Leases::acquire`): one holder at a time.
    KeyKind {
        name: "lock",
        prefix: "invigilator:{ns}lock:",
    },
    // Shared capacity (`lease::Leases::try_slot`).
    KeyKind {
        name: "slots",
        prefix: "invigilator:{ns}slots:",
    },
    // apalis's job queues (`jobs`): every key apalis keeps sits under the queue's name.
    KeyKind {
        name: "jobs",
        prefix: "invigilator:{ns}jobs:",
    },
    // apalis's own list of every queue its workers serve, shared by all deployments on one
    // Redis (queue names only).
    KeyKind {
        name: "apalis-registry",
        prefix: "core:apalis:",
    },
    // The sign-in throttle (`web::auth_routes`), per client IP address and per school.
    KeyKind {
        name: "ratelimit-signin",
        prefix: "invigilator:ratelimit:signin:{ns}",
    },
    // A school's shared limits on Google calls (`google`), by school id: its Classroom calls
    // and each Drive operator account's (`…:{school}:drive:{credential}`).
    KeyKind {
        name: "ratelimit-google",
        prefix: "invigilator:ratelimit:google:",
    },
    // The Google project's limit per API, every school of the deployment together (`google`).
    KeyKind {
        name: "ratelimit-google-project",
        prefix: "invigilator:ratelimit:google-project:{ns}",
    },
];

/// The kind `key` is, in the deployment `namespace`: the one with the longest matching prefix
/// (so `school-settings-generation:` is not taken for `school-settings:`).
pub fn kind_of(key: &str, namespace: &str) -> Option<&'static KeyKind> {
    KINDS
        .iter()
        .filter(|k| key.starts_with(&k.prefix_in(namespace)))
        .max_by_key(|k| k.prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart_by_their_longest_prefix() {
        let kind = |key: &str| kind_of(key, "t1_").map(|k| k.name);
        assert_eq!(kind("invigilator:t1_session:ab"), Some("session"));
        assert_eq!(
            kind("invigilator:t1_school-settings-generation:x"),
            Some("school-settings-generation")
        );
        assert_eq!(
            kind("invigilator:t1_school-settings:x:3"),
            Some("school-settings")
        );
        assert_eq!(
            kind("invigilator:ratelimit:signin:t1_ip:127.0.0.1"),
            Some("ratelimit-signin")
        );
        assert_eq!(
            kind("invigilator:t2_session:ab"),
            None,
            "another deployment"
        );
        assert_eq!(kind("invigilator:t1_mystery:1"), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }
}
