//! Google partial-response `fields` masks (the `fields=` query parameter).
//!
//! A mask is a comma-separated list of paths:
//!
//! ```text
//! list    := item ( "," item )*
//! item    := segment ( "/" segment )* [ "(" list ")" ]
//! segment := NAME | "*"                 NAME := [A-Za-z0-9_-]+
//! ```
//!
//! `a/b` selects sub-field `b` of `a`; `a(b,c)` selects `b` and `c` inside `a`; `*` selects
//! every field at its level (so `*/id` keeps `id` inside every field). Whitespace around
//! tokens is ignored. When a selected value is an array, the sub-mask applies to each
//! element; fields absent from the value are simply absent from the result.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::{Chars, FromStr};

use serde_json::Value;

/// How deeply paths and parentheses may nest before a mask is rejected (keeps parsing,
/// merging and applying far from the stack limit on hostile input).
const MAX_DEPTH: usize = 32;

/// The longest mask quoted verbatim in an error message.
const MAX_QUOTED_CHARS: usize = 100;

/// A `fields` mask that could not be parsed. Every message starts like Google's
/// (`Invalid field selection <mask>`) and then says what is wrong and where (character
/// offsets, from 0).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldMaskError {
    /// The mask is empty or only whitespace.
    #[error("Invalid field selection : the field mask is empty")]
    Empty,
    /// A `(` without its `)`, or a `)` without its `(`.
    #[error("Invalid field selection {mask}: unbalanced parenthesis at offset {offset}")]
    UnbalancedParenthesis {
        /// The mask (shortened if very long).
        mask: String,
        /// Where the missing `)` was expected, or where the stray `)` is.
        offset: usize,
    },
    /// A field name is missing, e.g. `id,,name`, `files()` or `files/`.
    #[error("Invalid field selection {mask}: empty field name at offset {offset}")]
    EmptySegment {
        /// The mask (shortened if very long).
        mask: String,
        /// Where the field name was expected.
        offset: usize,
    },
    /// A character that cannot appear where it does.
    #[error(
        "Invalid field selection {mask}: unexpected character {character:?} at offset {offset}"
    )]
    InvalidCharacter {
        /// The mask (shortened if very long).
        mask: String,
        /// The offending character.
        character: char,
        /// Where it is.
        offset: usize,
    },
    /// Paths and parentheses nest deeper than any real resource.
    #[error("Invalid field selection {mask}: nested more than {max} levels deep")]
    TooDeep {
        /// The mask (shortened if very long).
        mask: String,
        /// The maximum supported depth.
        max: usize,
    },
}

/// A parsed `fields` mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMask {
    root: Selection,
}

impl FieldMask {
    /// Parses a `fields` mask such as `files(id,name),nextPageToken`.
    pub fn parse(mask: &str) -> Result<FieldMask, FieldMaskError> {
        if mask.trim().is_empty() {
            return Err(FieldMaskError::Empty);
        }
        Parser::new(mask)
            .parse_mask()
            .map(|root| FieldMask { root })
    }

    /// Everything (what `*` means at the top level).
    pub fn all() -> FieldMask {
        FieldMask {
            root: Selection::All,
        }
    }

    /// Removes from `value` every field the mask does not select (recursively).
    pub fn apply(&self, value: &mut Value) {
        self.root.apply(value);
    }

    /// Whether the mask selects the top-level field `name` at all (e.g. to decide whether
    /// to compute an expensive field).
    pub fn selects(&self, name: &str) -> bool {
        match &self.root {
            Selection::All => true,
            Selection::Fields(fields) => fields.get(name).is_some(),
        }
    }
}

impl FromStr for FieldMask {
    type Err = FieldMaskError;

    fn from_str(mask: &str) -> Result<Self, Self::Err> {
        FieldMask::parse(mask)
    }
}

// ---------------------------------------------------------------------------------------
// Selection tree
// ---------------------------------------------------------------------------------------

/// What is kept of one JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    /// The whole value.
    All,
    /// Only some fields of the object (or of each object in the array).
    Fields(Fields),
}

/// The fields kept at one level.
///
/// Invariant: `wildcard` is never [`Selection::All`] (the level would then be
/// `Selection::All` itself), and every `named` entry already includes `wildcard`, so a
/// lookup never has to merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fields {
    named: BTreeMap<String, Selection>,
    wildcard: Option<Box<Selection>>,
}

impl Selection {
    /// Selects nothing; the identity for [`Selection::merge`].
    fn none() -> Selection {
        Selection::Fields(Fields::default())
    }

    /// Selects `inner` within the field `name`.
    fn field(name: String, inner: Selection) -> Selection {
        let mut fields = Fields::default();
        fields.named.insert(name, inner);
        Selection::Fields(fields)
    }

    /// Selects `inner` within every field.
    fn every_field(inner: Selection) -> Selection {
        Fields::default().with_wildcard(inner)
    }

    /// The union of two selections.
    fn merge(self, other: Selection) -> Selection {
        match (self, other) {
            (Selection::All, _) | (_, Selection::All) => Selection::All,
            (Selection::Fields(a), Selection::Fields(b)) => a.merge(b),
        }
    }

    fn apply(&self, value: &mut Value) {
        match self {
            Selection::All => {}
            Selection::Fields(fields) => fields.apply(value),
        }
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&Selection> {
        self.named.get(name).or(self.wildcard.as_deref())
    }

    fn merge(mut self, other: Fields) -> Selection {
        for (name, selection) in other.named {
            self.insert(name, selection);
        }
        match other.wildcard {
            Some(wildcard) => self.with_wildcard(*wildcard),
            None => Selection::Fields(self),
        }
    }

    /// Adds `selection` for `name`, merged with what is already selected there.
    fn insert(&mut self, name: String, selection: Selection) {
        let mut merged = match self.named.remove(&name) {
            Some(existing) => existing.merge(selection),
            None => selection,
        };
        if let Some(wildcard) = &self.wildcard {
            merged = merged.merge((**wildcard).clone());
        }
        self.named.insert(name, merged);
    }

    /// Adds `selection` for every field, restoring the type's invariant.
    fn with_wildcard(self, selection: Selection) -> Selection {
        let wildcard = match self.wildcard {
            Some(existing) => existing.merge(selection),
            None => selection,
        };
        if wildcard == Selection::All {
            return Selection::All;
        }
        let named = self
            .named
            .into_iter()
            .map(|(name, existing)| (name, existing.merge(wildcard.clone())))
            .collect();
        Selection::Fields(Fields {
            named,
            wildcard: Some(Box::new(wildcard)),
        })
    }

    fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => map.retain(|name, field| match self.get(name) {
                Some(selection) => {
                    selection.apply(field);
                    true
                }
                None => false,
            }),
            Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            // A sub-selection on a scalar or null has nothing to remove.
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

/// One step of a path: a field name or `*`.
enum Segment {
    Name(String),
    Wildcard,
}

impl Segment {
    /// Selects `inner` below this segment.
    fn wrap(self, inner: Selection) -> Selection {
        match self {
            Segment::Name(name) => Selection::field(name, inner),
            Segment::Wildcard => Selection::every_field(inner),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

struct Parser<'a> {
    mask: &'a str,
    chars: Peekable<Chars<'a>>,
    /// Character offset of the next character.
    offset: usize,
    /// Nesting depth (path segments plus parentheses) of the item being parsed.
    depth: usize,
    /// How many `(` are open.
    open_groups: usize,
}

impl<'a> Parser<'a> {
    fn new(mask: &'a str) -> Self {
        Self {
            mask,
            chars: mask.chars().peekable(),
            offset: 0,
            depth: 0,
            open_groups: 0,
        }
    }

    /// The whole mask: a list, then nothing else.
    fn parse_mask(mut self) -> Result<Selection, FieldMaskError> {
        let selection = self.parse_list()?;
        match self.peek() {
            None => Ok(selection),
            Some(')') => Err(self.unbalanced()),
            Some(c) => Err(self.invalid(c)),
        }
    }

    /// `item ( "," item )*`; stops (without consuming) at anything else.
    fn parse_list(&mut self) -> Result<Selection, FieldMaskError> {
        let mut selection = Selection::none();
        loop {
            selection = selection.merge(self.parse_item()?);
            if !self.eat(',') {
                return Ok(selection);
            }
        }
    }

    /// `segment ( "/" segment )* [ "(" list ")" ]`.
    fn parse_item(&mut self) -> Result<Selection, FieldMaskError> {
        let outer_depth = self.depth;
        let mut segments = vec![self.parse_segment()?];
        while self.eat('/') {
            self.descend()?;
            segments.push(self.parse_segment()?);
        }
        let leaf = if self.eat('(') {
            self.descend()?;
            self.open_groups += 1;
            let group = self.parse_group()?;
            self.open_groups -= 1;
            group
        } else {
            Selection::All
        };
        self.depth = outer_depth;
        Ok(segments
            .into_iter()
            .rev()
            .fold(leaf, |inner, segment| segment.wrap(inner)))
    }

    /// After `(`: a list and its closing `)`.
    fn parse_group(&mut self) -> Result<Selection, FieldMaskError> {
        let selection = self.parse_list()?;
        match self.peek() {
            Some(')') => {
                self.bump();
                Ok(selection)
            }
            None => Err(self.unbalanced()),
            Some(c) => Err(self.invalid(c)),
        }
    }

    fn parse_segment(&mut self) -> Result<Segment, FieldMaskError> {
        match self.peek() {
            Some('*') => {
                self.bump();
                Ok(Segment::Wildcard)
            }
            Some(c) if is_name_char(c) => Ok(Segment::Name(self.name())),
            None if self.open_groups > 0 => Err(self.unbalanced()),
            None | Some(',' | '/' | '(' | ')') => Err(FieldMaskError::EmptySegment {
                mask: excerpt(self.mask),
                offset: self.offset,
            }),
            Some(c) => Err(self.invalid(c)),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if !is_name_char(c) {
                break;
            }
            name.push(c);
            self.bump();
        }
        name
    }

    /// Goes one level deeper, refusing to pass [`MAX_DEPTH`].
    fn descend(&mut self) -> Result<(), FieldMaskError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FieldMaskError::TooDeep {
                mask: excerpt(self.mask),
                max: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// The next non-whitespace character, not consumed.
    fn peek(&mut self) -> Option<char> {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
        self.chars.peek().copied()
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.bump();
        }
        found
    }

    fn bump(&mut self) {
        if self.chars.next().is_some() {
            self.offset += 1;
        }
    }

    fn unbalanced(&self) -> FieldMaskError {
        FieldMaskError::UnbalancedParenthesis {
            mask: excerpt(self.mask),
            offset: self.offset,
        }
    }

    fn invalid(&self, character: char) -> FieldMaskError {
        FieldMaskError::InvalidCharacter {
            mask: excerpt(self.mask),
            character,
            offset: self.offset,
        }
    }
}

/// `text`, shortened to [`MAX_QUOTED_CHARS`] characters for quoting in an error.
fn excerpt(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mask(text: &str) -> FieldMask {
        match FieldMask::parse(text) {
            Ok(mask) => mask,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn masked(text: &str, mut value: Value) -> Value {
        mask(text).apply(&mut value);
        value
    }

    fn file() -> Value {
        json!({
            "kind": "drive#file",
            "id": "f1",
            "name": "Exam.pdf",
            "mimeType": "application/pdf",
            "parents": ["p1"],
            "appProperties": {"invigilatorStudent": "42"},
            "permissions": [
                {
                    "kind": "drive#permission",
                    "id": "perm1",
                    "role": "writer",
                    "type": "user",
                    "emailAddress": "a@example.com",
                    "permissionDetails": [
                        {"permissionType": "file", "role": "writer", "inherited": false}
                    ],
                    "displayName": "A"
                },
                {
                    "kind": "drive#permission",
                    "id": "perm2",
                    "role": "reader",
                    "type": "anyone"
                }
            ]
        })
    }

    fn file_list() -> Value {
        json!({
            "kind": "drive#fileList",
            "incompleteSearch": false,
            "nextPageToken": "tok",
            "files": [
                {"kind": "drive#file", "id": "a", "name": "A", "mimeType": "text/plain"},
                {"kind": "drive#file", "id": "b", "name": "B", "mimeType": "text/plain"}
            ]
        })
    }

    #[test]
    fn top_level_fields() {
        assert_eq!(
            masked("id,name", file()),
            json!({"id": "f1", "name": "Exam.pdf"})
        );
    }

    #[test]
    fn list_response() {
        assert_eq!(
            masked("files(id,name),nextPageToken", file_list()),
            json!({
                "nextPageToken": "tok",
                "files": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]
            })
        );
    }

    #[test]
    fn permissions_mask_on_each_array_element() {
        assert_eq!(
            masked(
                "permissions(id,role,emailAddress,type,permissionDetails)",
                file()
            ),
            json!({
                "permissions": [
                    {
                        "id": "perm1",
                        "role": "writer",
                        "type": "user",
                        "emailAddress": "a@example.com",
                        "permissionDetails": [
                            {"permissionType": "file", "role": "writer", "inherited": false}
                        ]
                    },
                    {"id": "perm2", "role": "reader", "type": "anyone"}
                ]
            })
        );
    }

    #[test]
    fn slash_paths() {
        assert_eq!(
            masked("files/id", file_list()),
            json!({"files": [{"id": "a"}, {"id": "b"}]})
        );
        assert_eq!(
            masked("appProperties/invigilatorStudent,id", file()),
            json!({"id": "f1", "appProperties": {"invigilatorStudent": "42"}})
        );
        assert_eq!(
            masked("permissions/permissionDetails/role", file()),
            json!({"permissions": [{"permissionDetails": [{"role": "writer"}]}, {}]})
        );
        assert_eq!(
            masked("permissions/permissionDetails(role,inherited)", file()),
            json!({"permissions": [
                {"permissionDetails": [{"role": "writer", "inherited": false}]},
                {}
            ]})
        );
    }

    #[test]
    fn star_selects_everything() {
        assert_eq!(masked("*", file()), file());
        assert_eq!(masked(" * ", file_list()), file_list());
        assert_eq!(mask("*"), FieldMask::all());
        assert_eq!(mask("id,*"), FieldMask::all());
        assert_eq!(mask("files(id),*"), FieldMask::all());
    }

    #[test]
    fn star_inside_parentheses() {
        assert_eq!(
            masked("files(*)", file_list()),
            json!({"files": file_list()["files"].clone()})
        );
        assert_eq!(
            masked("files(*),files(id)", file_list()),
            json!({"files": file_list()["files"].clone()})
        );
        assert_eq!(
            masked("files/*", file_list()),
            json!({"files": file_list()["files"].clone()})
        );
    }

    #[test]
    fn star_with_a_sub_mask() {
        let value = json!({
            "a": {"id": 1, "x": 2},
            "b": [{"id": 3, "x": 4}],
            "c": {"x": 5, "y": {"id": 6}},
        });
        assert_eq!(
            masked("*/id", value.clone()),
            json!({"a": {"id": 1}, "b": [{"id": 3}], "c": {}})
        );
        assert_eq!(
            masked("*(id),c/y", value.clone()),
            json!({"a": {"id": 1}, "b": [{"id": 3}], "c": {"y": {"id": 6}}})
        );
        assert_eq!(
            masked("c/y,*(id)", value.clone()),
            json!({"a": {"id": 1}, "b": [{"id": 3}], "c": {"y": {"id": 6}}})
        );
        assert_eq!(
            masked("*(id),a", value),
            json!({"a": {"id": 1, "x": 2}, "b": [{"id": 3}], "c": {}})
        );
    }

    #[test]
    fn nested_arrays() {
        let value = json!({
            "files": [
                {"id": "a", "name": "A", "permissions": [
                    {"id": "p1", "role": "owner", "type": "user"},
                    {"id": "p2", "role": "reader", "type": "anyone"}
                ]},
                {"id": "b", "name": "B", "permissions": []},
                {"id": "c", "name": "C"}
            ],
            "matrix": [[{"a": 1, "b": 2}], [{"a": 3}, {"b": 4}]]
        });
        assert_eq!(
            masked("files(id,permissions(id,role)),matrix/a", value),
            json!({
                "files": [
                    {"id": "a", "permissions": [
                        {"id": "p1", "role": "owner"},
                        {"id": "p2", "role": "reader"}
                    ]},
                    {"id": "b", "permissions": []},
                    {"id": "c"}
                ],
                "matrix": [[{"a": 1}], [{"a": 3}, {}]]
            })
        );
    }

    #[test]
    fn repeated_paths_merge() {
        assert_eq!(
            masked("files(id),files(name),files/mimeType", file_list()),
            json!({"files": [
                {"id": "a", "name": "A", "mimeType": "text/plain"},
                {"id": "b", "name": "B", "mimeType": "text/plain"}
            ]})
        );
        assert_eq!(
            masked("files(id),files", file_list()),
            json!({"files": file_list()["files"].clone()})
        );
        assert_eq!(mask("id,id,id"), mask("id"));
        assert_eq!(mask("a/b,a/c"), mask("a(b,c)"));
        assert_eq!(mask("a(b(c)),a(b(d))"), mask("a/b(c,d)"));
    }

    #[test]
    fn whitespace_around_tokens() {
        assert_eq!(
            mask(" files ( id , name ) ,\n nextPageToken\t"),
            mask("files(id,name),nextPageToken")
        );
        assert_eq!(mask("files / id"), mask("files/id"));
        assert_eq!(mask("\u{a0}id\u{3000}"), mask("id"));
    }

    #[test]
    fn absent_fields_and_odd_values_are_fine() {
        assert_eq!(masked("nope,id", file()), json!({"id": "f1"}));
        assert_eq!(masked("nope", file()), json!({}));
        assert_eq!(masked("id(x)", json!({"id": "s"})), json!({"id": "s"}));
        assert_eq!(masked("id(x)", json!({"id": null})), json!({"id": null}));
        assert_eq!(masked("id", json!("scalar")), json!("scalar"));
        assert_eq!(masked("id", json!(null)), json!(null));
        assert_eq!(
            masked("id", json!([{"id": 1, "x": 2}, 3])),
            json!([{"id": 1}, 3])
        );
    }

    #[test]
    fn all_keeps_everything() {
        let mut value = file();
        FieldMask::all().apply(&mut value);
        assert_eq!(value, file());
    }

    #[test]
    fn selects_top_level_fields() {
        let m = mask("files(id,permissions(id)),nextPageToken");
        assert!(m.selects("files"));
        assert!(m.selects("nextPageToken"));
        assert!(!m.selects("id"));
        assert!(!m.selects("permissions"));
        assert!(!m.selects("kind"));
        assert!(FieldMask::all().selects("anything"));
        assert!(mask("*").selects("permissions"));
        assert!(mask("*/id").selects("permissions"));
        assert!(mask("files/id").selects("files"));
    }

    #[test]
    fn names_may_contain_digits_underscores_and_dashes() {
        let value = json!({"a_1": 1, "b-2": 2, "c": 3});
        assert_eq!(masked("a_1,b-2", value), json!({"a_1": 1, "b-2": 2}));
    }

    #[test]
    fn from_str() {
        let parsed: Result<FieldMask, _> = "id,name".parse();
        assert_eq!(parsed, Ok(mask("id,name")));
    }

    #[test]
    fn error_messages() {
        let err = |text: &str| match FieldMask::parse(text) {
            Ok(m) => panic!("{text:?} should be rejected, parsed as {m:?}"),
            Err(e) => e,
        };
        assert_eq!(
            err("foo("),
            FieldMaskError::UnbalancedParenthesis {
                mask: "foo(".into(),
                offset: 4
            }
        );
        assert_eq!(
            err("foo(").to_string(),
            "Invalid field selection foo(: unbalanced parenthesis at offset 4"
        );
        assert_eq!(
            err("id)").to_string(),
            "Invalid field selection id): unbalanced parenthesis at offset 2"
        );
        assert_eq!(
            err("id,,name").to_string(),
            "Invalid field selection id,,name: empty field name at offset 3"
        );
        assert_eq!(
            err("files()").to_string(),
            "Invalid field selection files(): empty field name at offset 6"
        );
        assert_eq!(
            err("id;name").to_string(),
            "Invalid field selection id;name: unexpected character ';' at offset 2"
        );
        assert_eq!(
            err("").to_string(),
            "Invalid field selection : the field mask is empty"
        );
        assert_eq!(err("  "), FieldMaskError::Empty);
    }

    #[test]
    fn bad_masks_are_rejected() {
        let bad = [
            "(",
            ")",
            "()",
            "foo(",
            "foo)",
            "foo((id)",
            "foo(id))",
            "foo(id",
            "foo(id,",
            "foo(,id)",
            ",",
            "id,",
            ",id",
            "id,,name",
            "/",
            "id/",
            "/id",
            "a//b",
            "a/(b)",
            "a(b)c",
            "a(b)/c",
            "a(b)(c)",
            "a b",
            "a.b",
            "a:b",
            "a;b",
            "a'b",
            "a\"b",
            "é",
            "naïve",
            "日本",
            "🎓",
            "id,🎓",
            "\u{0}",
            "id\u{0}",
            "**",
            "*a",
            "a*",
            "*id",
            "a(*",
            "a(b c)",
            "files(id name)",
            "\\",
            "a\\b",
            "#",
            "a=b",
            "{a}",
            "[a]",
        ];
        for text in bad {
            let result = FieldMask::parse(text);
            match result {
                Ok(m) => panic!("{text:?} should be rejected, parsed as {m:?}"),
                Err(e) => assert!(
                    e.to_string().starts_with("Invalid field selection "),
                    "{text:?}: {e}"
                ),
            }
        }
    }

    #[test]
    fn very_long_and_deep_masks_do_not_panic() {
        let long = vec!["field"; 100_000].join(",");
        assert!(mask(&long).selects("field"));

        let long_bad = "x".repeat(100_000) + "!";
        let message = FieldMask::parse(&long_bad)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.len() < 300, "error quotes the whole mask");

        let deep_parens = "a(".repeat(100_000) + "b" + &")".repeat(100_000);
        assert!(matches!(
            FieldMask::parse(&deep_parens),
            Err(FieldMaskError::TooDeep { .. })
        ));
        let deep_path = vec!["a"; 100_000].join("/");
        assert!(matches!(
            FieldMask::parse(&deep_path),
            Err(FieldMaskError::TooDeep { .. })
        ));
        let ok_path = vec!["a"; MAX_DEPTH + 1].join("/");
        assert!(FieldMask::parse(&ok_path).is_ok());
        assert!(FieldMask::parse(&"(".repeat(100_000)).is_err());
        assert!(FieldMask::parse(&")".repeat(100_000)).is_err());
    }

    #[test]
    fn depth_limit_counts_the_current_item_only() {
        // Many sibling items must not accumulate depth.
        let siblings = vec!["a/b/c(d/e)"; 1_000].join(",");
        assert!(FieldMask::parse(&siblings).is_ok());
    }

    #[test]
    fn fuzzish_masks_never_panic() {
        let fragments = [
            "id", "files", "*", "(", ")", ",", "/", " ", "é", "🎓", "\u{0}", "-", "_", "\t", "a",
            "((", "))", ",,", "//",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let value = json!({"id": 1, "files": [{"id": 2, "a": [{"id": 3}]}], "a": {"b": 4}});
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 10).unwrap_or(0);
            let text: String = (0..len)
                .map(|_| fragments[usize::try_from(next()).unwrap_or(0) % fragments.len()])
                .collect();
            match FieldMask::parse(&text) {
                Ok(m) => {
                    let mut copy = value.clone();
                    m.apply(&mut copy);
                    let _ = m.selects("id");
                }
                Err(e) => assert!(
                    e.to_string().starts_with("Invalid field selection "),
                    "{text:?}: {e}"
                ),
            }
        }
    }
}
