//! The hash of an audit entry: SHA-256 over the previous hash and a canonical encoding.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of a school's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// `sha256(prev || canonical(entry))`.
pub fn entry_hash(
    prev: &[u8],
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target_type: Option<&str>,
    target_id: Option<&str>,
    details: &Value,
) -> [u8; 32] {
    let mut canonical = String::new();
    write_canonical(
        &serde_json::json!({
            "at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actor": actor,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": details,
        }),
        &mut canonical,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical.as_bytes());
    hasher.finalize().into()
}

/// JSON with object keys sorted at every level and no insignificant whitespace, whatever order
/// the value was built or read back in (PostgreSQL's jsonb reorders keys).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash_but_content_does() {
        let at = Utc::now();
        let a = entry_hash(
            &GENESIS,
            at,
            "staff:1",
            "lock",
            None,
            None,
            &json!({"b": 1, "a": {"y": 2, "x": [1, 2]}}),
        );
        let b = entry_hash(
            &GENESIS,
            at,
            "staff:1",
            "lock",
            None,
            None,
            &json!({"a": {"x": [1, 2], "y": 2}, "b": 1}),
        );
        assert_eq!(a, b);
        let c = entry_hash(
            &GENESIS,
            at,
            "staff:1",
            "lock",
            None,
            None,
            &json!({"a": {"x": [2, 1], "y": 2}, "b": 1}),
        );
        assert_ne!(a, c);
        let d = entry_hash(
            &[1; 32],
            at,
            "staff:1",
            "lock",
            None,
            None,
            &json!({"b": 1, "a": {"y": 2, "x": [1, 2]}}),
        );
        assert_ne!(a, d, "the previous hash is part of the input");
    }
}
