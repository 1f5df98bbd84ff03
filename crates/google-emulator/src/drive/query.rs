//! Drive v3's `q` search language: the subset this emulator supports.
//!
//! See Google's "Search query terms and operators" for Drive v3. The supported grammar is:
//!
//! ```text
//! query    := or
//! or       := and ( "or" and )*
//! and      := unary ( "and" unary )*
//! unary    := "not" unary | "(" or ")" | term
//! term     := STRING "in" "parents"
//!           | "mimeType" ( "=" | "!=" ) STRING
//!           | "name" ( "=" | "!=" | "contains" ) STRING
//!           | "trashed" ( "=" | "!=" ) BOOL
//!           | "appProperties" "has" "{" pair "and" pair "}"
//! pair     := ( "key" | "value" ) "=" STRING      (one of each, in either order)
//! BOOL     := "true" | "false"
//! STRING   := "'" ( any char but ' and \ | "\'" | "\\" )* "'"
//! ```
//!
//! Keywords (`and`, `or`, `not`, `in`, `contains`, `has`, `true`, `false`) are
//! case-insensitive; field names (`mimeType`, `name`, `trashed`, `appProperties`, `parents`,
//! `key`, `value`) are case-sensitive, as in Google. Whitespace between tokens is free.
//!
//! `name contains 's'` follows Google's documented behaviour: a case-insensitive *prefix*
//! match against the start of the name or of any word in it (`'Hello'` and `'wor'` match
//! `"Hello World"`, but `'World'` does not match `"HelloWorld"`).

use std::collections::BTreeMap;
use std::fmt;
use std::iter::Peekable;
use std::str::{Chars, FromStr};

/// How deeply `not` and parentheses may nest before the query is rejected (keeps the
/// recursive-descent parser far away from the stack limit on hostile input).
const MAX_NESTING: usize = 64;

/// The longest token text quoted verbatim in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// The supported fields, used to suggest the right spelling for a mis-cased field name.
const SUPPORTED_FIELDS: [&str; 5] = ["name", "mimeType", "trashed", "appProperties", "parents"];

/// Fields Google supports in `q` but this emulator does not.
const UNSUPPORTED_FIELDS: [&str; 15] = [
    "fullText",
    "modifiedTime",
    "viewedByMeTime",
    "createdTime",
    "starred",
    "properties",
    "visibility",
    "sharedWithMe",
    "shortcutDetails.targetId",
    "memberCount",
    "organizerCount",
    "hidden",
    "labels",
    "owners",
    "writers",
];

/// Collections Google allows on the right of `in` but this emulator does not.
const UNSUPPORTED_COLLECTIONS: [&str; 3] = ["owners", "writers", "readers"];

/// A `q` that could not be parsed. `message` is the complete, human-readable text
/// (e.g. `Invalid query: unknown field 'owner'`), suitable for Google's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The full error text, starting with `Invalid query: `.
    pub message: String,
}

impl QueryError {
    fn new(detail: impl fmt::Display) -> Self {
        Self {
            message: format!("Invalid query: {detail}"),
        }
    }
}

/// What a query can look at in one file.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The file's `name`.
    pub name: &'a str,
    /// The file's `mimeType`.
    pub mime_type: &'a str,
    /// The ids of the file's parent folders.
    pub parents: &'a [String],
    /// Whether the file is in the trash.
    pub trashed: bool,
    /// The file's private-to-the-app `appProperties`.
    pub app_properties: &'a BTreeMap<String, String>,
}

/// A parsed Drive `q` search query.
#[derive(Debug, Clone)]
pub struct Query {
    root: Expr,
}

impl Query {
    /// Parses a `q` string, rejecting anything outside the supported subset.
    pub fn parse(q: &str) -> Result<Query, QueryError> {
        let tokens = tokenize(q)?;
        if tokens.is_empty() {
            return Err(QueryError::new("the query is empty"));
        }
        let root = Parser::new(tokens, q.chars().count()).parse_query()?;
        Ok(Query { root })
    }

    /// Whether `file` satisfies the query.
    pub fn matches(&self, file: &Candidate<'_>) -> bool {
        self.root.matches(file)
    }

    /// The parent ids named by `'<id>' in parents` terms that every match must satisfy
    /// (terms joined only by top-level `and`), so callers can narrow a search by parent
    /// index. Empty if none / under `or`. Duplicates are listed once, in query order.
    pub fn required_parents(&self) -> Vec<&str> {
        let conjuncts = match &self.root {
            Expr::And(operands) => operands.as_slice(),
            other => std::slice::from_ref(other),
        };
        let mut parents: Vec<&str> = Vec::new();
        for id in conjuncts.iter().filter_map(Expr::as_in_parents) {
            if !parents.contains(&id) {
                parents.push(id);
            }
        }
        parents
    }

    /// The parents of a top-level conjunct made only of `'<id>' in parents` terms joined by
    /// `or` (`('a' in parents or 'b' in parents) and …`): every match has one of them, so
    /// callers can narrow a search to their children. `None` if there is no such conjunct.
    pub fn any_of_parents(&self) -> Option<Vec<&str>> {
        let conjuncts = match &self.root {
            Expr::And(operands) => operands.as_slice(),
            other => std::slice::from_ref(other),
        };
        conjuncts.iter().find_map(|c| match c {
            Expr::Or(operands) => operands.iter().map(Expr::as_in_parents).collect(),
            _ => None,
        })
    }
}

impl FromStr for Query {
    type Err = QueryError;

    fn from_str(q: &str) -> Result<Self, Self::Err> {
        Query::parse(q)
    }
}

// ---------------------------------------------------------------------------------------
// Syntax tree and evaluation
// ---------------------------------------------------------------------------------------

/// A boolean combination of terms. `And`/`Or` are kept flat (no `And` directly inside an
/// `And`), which keeps evaluation iterative for long chains.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

impl Expr {
    /// Builds an `and` of `operands`, flattening nested `and`s.
    fn and(operands: Vec<Expr>) -> Expr {
        let split = |e| match e {
            Expr::And(inner) => Ok(inner),
            other => Err(other),
        };
        Self::flatten(operands, split, Expr::And)
    }

    /// Builds an `or` of `operands`, flattening nested `or`s.
    fn or(operands: Vec<Expr>) -> Expr {
        let split = |e| match e {
            Expr::Or(inner) => Ok(inner),
            other => Err(other),
        };
        Self::flatten(operands, split, Expr::Or)
    }

    /// Splices into one list every operand that `split` recognises as the same connective
    /// (`Ok(its operands)`), then wraps the list with `build` unless only one is left.
    fn flatten(
        operands: Vec<Expr>,
        split: impl Fn(Expr) -> Result<Vec<Expr>, Expr>,
        build: impl FnOnce(Vec<Expr>) -> Expr,
    ) -> Expr {
        let mut flat = Vec::with_capacity(operands.len());
        for operand in operands {
            match split(operand) {
                Ok(inner) => flat.extend(inner),
                Err(other) => flat.push(other),
            }
        }
        match <[Expr; 1]>::try_from(flat) {
            Ok([single]) => single,
            Err(many) => build(many),
        }
    }

    fn matches(&self, file: &Candidate<'_>) -> bool {
        match self {
            Expr::And(operands) => operands.iter().all(|e| e.matches(file)),
            Expr::Or(operands) => operands.iter().any(|e| e.matches(file)),
            Expr::Not(inner) => !inner.matches(file),
            Expr::Term(term) => term.matches(file),
        }
    }

    fn as_in_parents(&self) -> Option<&str> {
        match self {
            Expr::Term(Term::InParents(id)) => Some(id),
            _ => None,
        }
    }
}

/// `=` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Equality {
    Eq,
    Ne,
}

impl Equality {
    fn holds(self, equal: bool) -> bool {
        match self {
            Equality::Eq => equal,
            Equality::Ne => !equal,
        }
    }
}

/// The operators allowed on `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameOp {
    Equality(Equality),
    Contains,
}

/// One leaf condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    InParents(String),
    MimeType(Equality, String),
    Name(NameOp, String),
    Trashed(Equality, bool),
    AppProperty { key: String, value: String },
}

impl Term {
    fn matches(&self, file: &Candidate<'_>) -> bool {
        match self {
            Term::InParents(id) => file.parents.iter().any(|p| p == id),
            Term::MimeType(op, value) => op.holds(file.mime_type == value),
            Term::Name(NameOp::Equality(op), value) => op.holds(file.name == value),
            Term::Name(NameOp::Contains, needle) => name_contains(file.name, needle),
            Term::Trashed(op, value) => op.holds(file.trashed == *value),
            Term::AppProperty { key, value } => file.app_properties.get(key) == Some(value),
        }
    }
}

/// Drive's `name contains`: a case-insensitive prefix match at the start of the name or of
/// any word in it. A needle that does not start with a letter or digit cannot be aligned
/// to a word, so it is matched as a plain case-insensitive substring.
fn name_contains(name: &str, needle: &str) -> bool {
    let name = name.to_lowercase();
    let needle = needle.to_lowercase();
    if !needle.chars().next().is_some_and(char::is_alphanumeric) {
        return name.contains(&needle);
    }
    word_starts(&name).any(|start| name[start..].starts_with(&needle))
}

/// Byte offsets in `s` where a run of alphanumeric characters begins.
fn word_starts(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut previous_alphanumeric = false;
    s.char_indices().filter_map(move |(offset, c)| {
        let alphanumeric = c.is_alphanumeric();
        let starts_word = alphanumeric && !previous_alphanumeric;
        previous_alphanumeric = alphanumeric;
        starts_word.then_some(offset)
    })
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    /// A bare word: a keyword, field name or literal such as `true`.
    Word(String),
    /// A single-quoted string literal, unescaped.
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Op(Comparison),
}

/// Comparison operators, including those only recognised to produce a precise error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    fn as_str(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Ne => "!=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    /// Character offset of the token's first character in the query.
    offset: usize,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Word(word) => write!(f, "'{}'", excerpt(word)),
            TokenKind::Str(text) => write!(f, "string '{}'", excerpt(text)),
            TokenKind::LParen => f.write_str("'('"),
            TokenKind::RParen => f.write_str("')'"),
            TokenKind::LBrace => f.write_str("'{'"),
            TokenKind::RBrace => f.write_str("'}'"),
            TokenKind::Op(op) => write!(f, "'{}'", op.as_str()),
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

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer {
        chars: input.chars().peekable(),
        offset: 0,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    /// Character offset of the next character.
    offset: usize,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        self.offset += 1;
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.chars.peek() == Some(&expected);
        if found {
            self.bump();
        }
        found
    }

    fn skip_whitespace(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, QueryError> {
        self.skip_whitespace();
        let offset = self.offset;
        let Some(c) = self.bump() else {
            return Ok(None);
        };
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '{' => TokenKind::LBrace,
            '}' => TokenKind::RBrace,
            '=' => TokenKind::Op(Comparison::Eq),
            '!' if self.eat('=') => TokenKind::Op(Comparison::Ne),
            '<' if self.eat('=') => TokenKind::Op(Comparison::Le),
            '<' => TokenKind::Op(Comparison::Lt),
            '>' if self.eat('=') => TokenKind::Op(Comparison::Ge),
            '>' => TokenKind::Op(Comparison::Gt),
            '\'' => TokenKind::Str(self.string_body(offset)?),
            '"' => {
                return Err(QueryError::new(format!(
                    "string literals must be single-quoted ('...'), found '\"' at offset {offset}"
                )));
            }
            c if is_word_char(c) => TokenKind::Word(self.word(c)),
            other => {
                return Err(QueryError::new(format!(
                    "unexpected character {other:?} at offset {offset}"
                )));
            }
        };
        Ok(Some(Token { kind, offset }))
    }

    fn word(&mut self, first: char) -> String {
        let mut word = String::from(first);
        while let Some(&c) = self.chars.peek() {
            if !is_word_char(c) {
                break;
            }
            word.push(c);
            self.bump();
        }
        word
    }

    /// Reads the rest of a string literal whose opening quote was at `start`.
    fn string_body(&mut self, start: usize) -> Result<String, QueryError> {
        let unterminated =
            || QueryError::new(format!("unterminated string starting at offset {start}"));
        let mut text = String::new();
        loop {
            let escape_offset = self.offset;
            match self.bump().ok_or_else(unterminated)? {
                '\'' => return Ok(text),
                '\\' => match self.bump().ok_or_else(unterminated)? {
                    escaped @ ('\'' | '\\') => text.push(escaped),
                    other => {
                        return Err(QueryError::new(format!(
                            "invalid escape sequence '\\{}' at offset {escape_offset} \
                             (only \\' and \\\\ are allowed)",
                            other.escape_debug()
                        )));
                    }
                },
                c => text.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

struct Parser {
    tokens: Peekable<std::vec::IntoIter<Token>>,
    /// Character length of the query, reported as the offset of "end of query".
    end: usize,
    /// Current nesting of `not` and parentheses.
    depth: usize,
}

impl Parser {
    fn new(tokens: Vec<Token>, end: usize) -> Self {
        Self {
            tokens: tokens.into_iter().peekable(),
            end,
            depth: 0,
        }
    }

    fn parse_query(mut self) -> Result<Expr, QueryError> {
        let expr = self.parse_or()?;
        match self.tokens.next() {
            None => Ok(expr),
            Some(Token {
                kind: TokenKind::RParen,
                offset,
            }) => Err(QueryError::new(format!("unmatched ')' at offset {offset}"))),
            Some(token) => Err(QueryError::new(format!(
                "unexpected {} at offset {} (expected 'and', 'or' or the end of the query)",
                token.kind, token.offset
            ))),
        }
    }

    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let mut operands = vec![self.parse_and()?];
        while self.eat_keyword("or") {
            operands.push(self.parse_and()?);
        }
        Ok(Expr::or(operands))
    }

    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let mut operands = vec![self.parse_unary()?];
        while self.eat_keyword("and") {
            operands.push(self.parse_unary()?);
        }
        Ok(Expr::and(operands))
    }

    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            let inner = self.nested(Self::parse_unary)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat(&TokenKind::LParen) {
            let inner = self.nested(Self::parse_or)?;
            self.expect(&TokenKind::RParen, "')'")?;
            return Ok(inner);
        }
        self.parse_term().map(Expr::Term)
    }

    /// Runs `parse` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Expr, QueryError>,
    ) -> Result<Expr, QueryError> {
        if self.depth >= MAX_NESTING {
            return Err(QueryError::new(format!(
                "the query nests 'not' and parentheses more than {MAX_NESTING} levels deep"
            )));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn parse_term(&mut self) -> Result<Term, QueryError> {
        let token = self.next_or_end("a search term")?;
        match token.kind {
            TokenKind::Str(id) => self.finish_in_parents(id),
            TokenKind::Word(ref word) if is_keyword(word) => {
                Err(unexpected(&token, "a search term"))
            }
            TokenKind::Word(field) => self.parse_field_term(&field),
            _ => Err(unexpected(&token, "a search term")),
        }
    }

    /// After `'<id>'`: expects `in parents`.
    fn finish_in_parents(&mut self, id: String) -> Result<Term, QueryError> {
        self.expect_keyword("in")?;
        let token = self.next_or_end("'parents'")?;
        match &token.kind {
            TokenKind::Word(word) if word == "parents" => Ok(Term::InParents(id)),
            TokenKind::Word(word) if UNSUPPORTED_COLLECTIONS.contains(&word.as_str()) => {
                Err(QueryError::new(format!(
                    "'in {word}' is not supported by this emulator (only 'in parents' is)"
                )))
            }
            _ => Err(unexpected(&token, "'parents'")),
        }
    }

    fn parse_field_term(&mut self, field: &str) -> Result<Term, QueryError> {
        match field {
            "mimeType" => {
                let op = self.equality(field)?;
                Ok(Term::MimeType(op, self.string(field)?))
            }
            "name" => {
                let op = self.name_op()?;
                Ok(Term::Name(op, self.string(field)?))
            }
            "trashed" => {
                let op = self.equality(field)?;
                Ok(Term::Trashed(op, self.boolean()?))
            }
            "appProperties" => self.app_properties(),
            "parents" => Err(QueryError::new(
                "'parents' must be written as '<folder id>' in parents",
            )),
            other => Err(unknown_field(other)),
        }
    }

    /// `=` or `!=` after `field`.
    fn equality(&mut self, field: &str) -> Result<Equality, QueryError> {
        let token = self.next_or_end("'=' or '!='")?;
        match token.kind {
            TokenKind::Op(Comparison::Eq) => Ok(Equality::Eq),
            TokenKind::Op(Comparison::Ne) => Ok(Equality::Ne),
            _ => Err(unsupported_operator(field, &token, "'=' or '!='")),
        }
    }

    /// `=`, `!=` or `contains` after `name`.
    fn name_op(&mut self) -> Result<NameOp, QueryError> {
        const EXPECTED: &str = "'=', '!=' or 'contains'";
        let token = self.next_or_end(EXPECTED)?;
        match token.kind {
            TokenKind::Op(Comparison::Eq) => Ok(NameOp::Equality(Equality::Eq)),
            TokenKind::Op(Comparison::Ne) => Ok(NameOp::Equality(Equality::Ne)),
            _ if token.is_keyword("contains") => Ok(NameOp::Contains),
            _ => Err(unsupported_operator("name", &token, EXPECTED)),
        }
    }

    /// A string literal compared against `field`.
    fn string(&mut self, field: &str) -> Result<String, QueryError> {
        let token = self.next_or_end("a quoted string")?;
        match token.kind {
            TokenKind::Str(text) => Ok(text),
            _ => Err(QueryError::new(format!(
                "expected a quoted string for '{field}', found {} at offset {}",
                token.kind, token.offset
            ))),
        }
    }

    fn boolean(&mut self) -> Result<bool, QueryError> {
        let token = self.next_or_end("true or false")?;
        if token.is_keyword("true") {
            Ok(true)
        } else if token.is_keyword("false") {
            Ok(false)
        } else {
            Err(QueryError::new(format!(
                "expected true or false for 'trashed', found {} at offset {}",
                token.kind, token.offset
            )))
        }
    }

    /// After `appProperties`: `has { key='k' and value='v' }`, key and value in either order.
    fn app_properties(&mut self) -> Result<Term, QueryError> {
        let token = self.next_or_end("'has'")?;
        if !token.is_keyword("has") {
            return Err(unsupported_operator("appProperties", &token, "'has'"));
        }
        self.expect(&TokenKind::LBrace, "'{'")?;
        let first = self.property_pair()?;
        self.expect_keyword("and")?;
        let second = self.property_pair()?;
        self.expect(&TokenKind::RBrace, "'}'")?;
        match (first, second) {
            ((PairField::Key, key), (PairField::Value, value))
            | ((PairField::Value, value), (PairField::Key, key)) => {
                Ok(Term::AppProperty { key, value })
            }
            _ => Err(QueryError::new(
                "appProperties has { ... } needs exactly one key='...' and one value='...'",
            )),
        }
    }

    /// `key = '<k>'` or `value = '<v>'` inside `appProperties has { ... }`.
    fn property_pair(&mut self) -> Result<(PairField, String), QueryError> {
        let token = self.next_or_end("key or value")?;
        let field = match &token.kind {
            TokenKind::Word(word) if word == "key" => PairField::Key,
            TokenKind::Word(word) if word == "value" => PairField::Value,
            _ => return Err(unexpected(&token, "key or value")),
        };
        self.expect(&TokenKind::Op(Comparison::Eq), "'='")?;
        let text = self.string(field.as_str())?;
        Ok((field, text))
    }

    fn next_or_end(&mut self, expected: &str) -> Result<Token, QueryError> {
        self.tokens.next().ok_or_else(|| {
            QueryError::new(format!(
                "expected {expected}, found the end of the query at offset {}",
                self.end
            ))
        })
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        self.tokens.next_if(|t| &t.kind == kind).is_some()
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        self.tokens.next_if(|t| t.is_keyword(keyword)).is_some()
    }

    fn expect(&mut self, kind: &TokenKind, expected: &str) -> Result<(), QueryError> {
        let token = self.next_or_end(expected)?;
        if &token.kind == kind {
            Ok(())
        } else {
            Err(unexpected(&token, expected))
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        let expected = format!("'{keyword}'");
        let token = self.next_or_end(&expected)?;
        if token.is_keyword(keyword) {
            Ok(())
        } else {
            Err(unexpected(&token, &expected))
        }
    }
}

/// The two halves of `appProperties has { key='k' and value='v' }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairField {
    Key,
    Value,
}

impl PairField {
    fn as_str(self) -> &'static str {
        match self {
            PairField::Key => "key",
            PairField::Value => "value",
        }
    }
}

fn is_keyword(word: &str) -> bool {
    ["and", "or", "not", "in", "contains", "has", "true", "false"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn unexpected(token: &Token, expected: &str) -> QueryError {
    QueryError::new(format!(
        "expected {expected}, found {} at offset {}",
        token.kind, token.offset
    ))
}

fn unsupported_operator(field: &str, token: &Token, expected: &str) -> QueryError {
    QueryError::new(format!(
        "operator {} is not supported for '{field}' at offset {} (expected {expected})",
        token.kind, token.offset
    ))
}

fn unknown_field(field: &str) -> QueryError {
    if UNSUPPORTED_FIELDS.contains(&field) {
        return QueryError::new(format!(
            "field '{field}' is not supported by this emulator (supported: name, mimeType, \
             trashed, appProperties, '<id>' in parents)"
        ));
    }
    let field = excerpt(field);
    match SUPPORTED_FIELDS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(&field))
    {
        Some(known) => QueryError::new(format!(
            "unknown field '{field}' (field names are case-sensitive; did you mean '{known}'?)"
        )),
        None => QueryError::new(format!("unknown field '{field}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct File {
        name: String,
        mime_type: String,
        parents: Vec<String>,
        trashed: bool,
        app_properties: BTreeMap<String, String>,
    }

    impl File {
        fn new(name: &str) -> Self {
            Self {
                name: name.to_owned(),
                mime_type: "text/plain".to_owned(),
                parents: Vec::new(),
                trashed: false,
                app_properties: BTreeMap::new(),
            }
        }

        fn mime(mut self, mime_type: &str) -> Self {
            self.mime_type = mime_type.to_owned();
            self
        }

        fn parent(mut self, id: &str) -> Self {
            self.parents.push(id.to_owned());
            self
        }

        fn trashed(mut self) -> Self {
            self.trashed = true;
            self
        }

        fn prop(mut self, key: &str, value: &str) -> Self {
            self.app_properties.insert(key.to_owned(), value.to_owned());
            self
        }

        fn candidate(&self) -> Candidate<'_> {
            Candidate {
                name: &self.name,
                mime_type: &self.mime_type,
                parents: &self.parents,
                trashed: self.trashed,
                app_properties: &self.app_properties,
            }
        }
    }

    const FOLDER: &str = "application/vnd.google-apps.folder";

    fn query(q: &str) -> Query {
        match Query::parse(q) {
            Ok(query) => query,
            Err(e) => panic!("{q:?} should parse: {e}"),
        }
    }

    fn matches(q: &str, file: &File) -> bool {
        query(q).matches(&file.candidate())
    }

    fn error(q: &str) -> String {
        match Query::parse(q) {
            Ok(query) => panic!("{q:?} should be rejected, parsed as {query:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn in_parents() {
        let file = File::new("a").parent("p1").parent("p2");
        assert!(matches("'p1' in parents", &file));
        assert!(matches("'p2' in parents", &file));
        assert!(!matches("'p3' in parents", &file));
        assert!(!matches("'p1' in parents", &File::new("orphan")));
    }

    #[test]
    fn mime_type_equality() {
        let folder = File::new("f").mime(FOLDER);
        assert!(matches(&format!("mimeType = '{FOLDER}'"), &folder));
        assert!(!matches(&format!("mimeType != '{FOLDER}'"), &folder));
        assert!(matches(
            &format!("mimeType != '{FOLDER}'"),
            &File::new("doc")
        ));
        assert!(!matches("mimeType = 'application/vnd'", &folder));
    }

    #[test]
    fn name_equality_is_exact() {
        let file = File::new("Report 2024");
        assert!(matches("name = 'Report 2024'", &file));
        assert!(!matches("name = 'report 2024'", &file));
        assert!(!matches("name = 'Report'", &file));
        assert!(matches("name != 'Report'", &file));
        assert!(!matches("name != 'Report 2024'", &file));
    }

    #[test]
    fn name_contains_is_case_insensitive_word_prefix() {
        let file = File::new("Hello World-draft.txt");
        for needle in ["Hello", "hello", "HELLO WO", "wor", "draft", "txt", "h", ""] {
            assert!(
                matches(&format!("name contains '{needle}'"), &file),
                "{needle}"
            );
        }
        for needle in ["ello", "orld", "World!", "xyz"] {
            assert!(
                !matches(&format!("name contains '{needle}'"), &file),
                "{needle}"
            );
        }
        assert!(!matches("name contains 'World'", &File::new("HelloWorld")));
        assert!(matches("name contains 'Hello'", &File::new("HelloWorld")));
    }

    #[test]
    fn name_contains_with_punctuation_or_unicode() {
        assert!(matches("name contains '(1)'", &File::new("Report (1).pdf")));
        assert!(matches(
            "name contains '.pdf'",
            &File::new("Report (1).pdf")
        ));
        assert!(matches("name contains 'élève'", &File::new("Liste ÉLÈVES")));
        assert!(matches("name contains '日本'", &File::new("資料 日本語")));
    }

    #[test]
    fn trashed() {
        let live = File::new("a");
        let binned = File::new("b").trashed();
        assert!(matches("trashed = false", &live));
        assert!(!matches("trashed = false", &binned));
        assert!(matches("trashed = true", &binned));
        assert!(matches("trashed != true", &live));
        assert!(matches("trashed != false", &binned));
        assert!(matches("trashed = TRUE", &binned));
        assert!(matches("trashed = False", &live));
    }

    #[test]
    fn app_properties_has() {
        let file = File::new("a")
            .prop("invigilatorStudent", "42")
            .prop("k", "v");
        assert!(matches(
            "appProperties has { key='invigilatorStudent' and value='42' }",
            &file
        ));
        assert!(matches(
            "appProperties has { value='42' and key='invigilatorStudent' }",
            &file
        ));
        assert!(matches("appProperties has{key='k' AND value='v'}", &file));
        assert!(matches(
            "appProperties  HAS  {\n\tkey = 'k'\n and\tvalue = 'v' \n}",
            &file
        ));
        assert!(!matches(
            "appProperties has { key='invigilatorStudent' and value='43' }",
            &file
        ));
        assert!(!matches(
            "appProperties has { key='v' and value='k' }",
            &file
        ));
        assert!(!matches(
            "appProperties has { key='x' and value='' }",
            &file
        ));
    }

    #[test]
    fn the_query_a_real_client_sends() {
        let q = "'abc' in parents and mimeType = 'application/vnd.google-apps.folder' and \
                 trashed = false and appProperties has { key='invigilatorStudent' and value='42' }";
        let hit = File::new("Student 42")
            .mime(FOLDER)
            .parent("abc")
            .prop("invigilatorStudent", "42");
        assert!(matches(q, &hit));
        assert!(!matches(q, &File::new("x").mime(FOLDER).parent("abc")));
        assert!(!matches(
            q,
            &File::new("x")
                .mime(FOLDER)
                .parent("other")
                .prop("invigilatorStudent", "42")
        ));
        let binned = File::new("x")
            .mime(FOLDER)
            .parent("abc")
            .prop("invigilatorStudent", "42")
            .trashed();
        assert!(!matches(q, &binned));
        assert_eq!(query(q).required_parents(), ["abc"]);
    }

    #[test]
    fn other_client_queries() {
        let file = File::new("Exam.pdf").mime("application/pdf").parent("root");
        assert!(matches("'root' in parents and trashed=false", &file));
        assert!(matches(
            "name = 'Exam.pdf' and 'root' in parents and trashed = false",
            &file
        ));
        assert!(matches(
            "mimeType != 'application/vnd.google-apps.folder' and trashed = false",
            &file
        ));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let a = File::new("a");
        // name='a' or (name='b' and trashed=true)
        assert!(matches("name = 'a' or name = 'b' and trashed = true", &a));
        // (name='b' and trashed=true) or name='a'
        assert!(matches("name = 'b' and trashed = true or name = 'a'", &a));
        // (name='a' and trashed=true) or name='b'
        assert!(!matches("name = 'a' and trashed = true or name = 'b'", &a));
        assert!(!matches(
            "name = 'a' and (trashed = true or name = 'b')",
            &a
        ));
    }

    #[test]
    fn not_applies_to_one_term() {
        let a = File::new("a");
        assert!(matches("not name = 'b'", &a));
        assert!(!matches("not name = 'a'", &a));
        // (not name='b') and trashed=false
        assert!(matches("not name = 'b' and trashed = false", &a));
        assert!(!matches("not (name = 'b' or trashed = false)", &a));
        assert!(matches("not not name = 'a'", &a));
        assert!(matches("NOT 'p' in parents", &a));
        assert!(!matches("not 'p' in parents", &a.parent("p")));
    }

    #[test]
    fn parentheses() {
        let a = File::new("a").parent("p");
        assert!(matches("(name = 'a')", &a));
        assert!(matches("((('p' in parents)))", &a));
        assert!(matches(
            "('x' in parents or 'p' in parents) and (name = 'z' or name = 'a')",
            &a
        ));
        assert!(!matches(
            "('x' in parents or 'p' in parents) and (name = 'z' or trashed = true)",
            &a
        ));
        assert!(matches("(name='a')and(trashed=false)", &a));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let a = File::new("a").parent("p");
        assert!(matches("name = 'x' OR name = 'a'", &a));
        assert!(matches("name = 'a' AnD 'p' IN parents", &a));
        assert!(matches("Not name = 'x'", &a));
        assert!(matches("name CONTAINS 'A'", &a));
        assert!(matches("name = 'x' Or trashed = FALSE", &a));
    }

    #[test]
    fn string_escapes() {
        assert!(matches(r"name = 'O\'Brien'", &File::new("O'Brien")));
        assert!(matches(r"name = 'C:\\temp'", &File::new(r"C:\temp")));
        assert!(matches(r"name = '\\\''", &File::new(r"\'")));
        assert!(matches(r"name = ''", &File::new("")));
        assert!(matches(
            r"'it\'s' in parents",
            &File::new("x").parent("it's")
        ));
        assert!(matches(
            r"appProperties has { key='a\'b' and value='c\\d' }",
            &File::new("x").prop("a'b", r"c\d")
        ));
    }

    #[test]
    fn literals_may_contain_operators_and_keywords() {
        let file = File::new("a and b or (not c) = 'd' {}");
        assert!(matches(r"name = 'a and b or (not c) = \'d\' {}'", &file));
    }

    #[test]
    fn unicode_literals_and_whitespace() {
        let file = File::new("Élève – 試験 🎓");
        assert!(matches("name = 'Élève – 試験 🎓'", &file));
        assert!(matches("\u{3000}name\u{a0}=\n'Élève – 試験 🎓'\t", &file));
    }

    #[test]
    fn required_parents_from_top_level_and() {
        assert_eq!(query("'a' in parents").required_parents(), ["a"]);
        assert_eq!(
            query("'a' in parents and trashed = false and 'b' in parents").required_parents(),
            ["a", "b"]
        );
        assert_eq!(
            query("('a' in parents and name = 'x') and 'b' in parents").required_parents(),
            ["a", "b"]
        );
        assert_eq!(
            query("'a' in parents and 'a' in parents").required_parents(),
            ["a"]
        );
    }

    #[test]
    fn required_parents_empty_under_or_or_not() {
        let none: [&str; 0] = [];
        assert_eq!(query("trashed = false").required_parents(), none);
        assert_eq!(
            query("'a' in parents or 'b' in parents").required_parents(),
            none
        );
        assert_eq!(
            query("'a' in parents and trashed = false or name = 'x'").required_parents(),
            none
        );
        assert_eq!(query("not 'a' in parents").required_parents(), none);
        assert_eq!(
            query("('a' in parents or 'b' in parents) and 'c' in parents").required_parents(),
            ["c"]
        );
    }

    #[test]
    fn any_of_parents_narrows_an_or_of_parents() {
        assert_eq!(
            query("('a' in parents or 'b' in parents) and trashed = false").any_of_parents(),
            Some(vec!["a", "b"])
        );
        assert_eq!(
            query("'a' in parents or 'b' in parents").any_of_parents(),
            Some(vec!["a", "b"])
        );
        assert_eq!(query("'a' in parents or name = 'x'").any_of_parents(), None);
        assert_eq!(query("trashed = false").any_of_parents(), None);
        assert_eq!(
            query("not ('a' in parents or 'b' in parents)").any_of_parents(),
            None
        );
    }

    #[test]
    fn and_or_chains_are_flattened() {
        let q = query("(name = 'a' and (trashed = false and 'p' in parents)) and name = 'b'");
        assert!(matches!(&q.root, Expr::And(ops) if ops.len() == 4));
        let q = query("name = 'a' or (name = 'b' or name = 'c')");
        assert!(matches!(&q.root, Expr::Or(ops) if ops.len() == 3));
        let q = query("name = 'a' or (name = 'b' and name = 'c')");
        assert!(matches!(&q.root, Expr::Or(ops) if ops.len() == 2));
    }

    #[test]
    fn long_valid_query() {
        let q = vec!["name != 'x'"; 5_000].join(" and ");
        assert!(matches(&q, &File::new("a")));
        let q = vec!["name = 'x'"; 5_000].join(" or ") + " or name = 'a'";
        assert!(matches(&q, &File::new("a")));
    }

    #[test]
    fn from_str() {
        let parsed: Result<Query, _> = "trashed = false".parse();
        assert!(parsed.is_ok());
        let failed: Result<Query, _> = "owner = 'x'".parse();
        assert!(failed.is_err());
    }

    #[test]
    fn error_messages_are_precise() {
        assert_eq!(error("owner = 'x'"), "Invalid query: unknown field 'owner'");
        assert_eq!(error(""), "Invalid query: the query is empty");
        assert_eq!(error("  \n "), "Invalid query: the query is empty");
        assert_eq!(
            error("mimetype = 'x'"),
            "Invalid query: unknown field 'mimetype' (field names are case-sensitive; \
             did you mean 'mimeType'?)"
        );
        assert_eq!(
            error("mimeType contains 'image/'"),
            "Invalid query: operator 'contains' is not supported for 'mimeType' at offset 9 \
             (expected '=' or '!=')"
        );
        assert_eq!(
            error("name = 'unterminated"),
            "Invalid query: unterminated string starting at offset 7"
        );
        assert_eq!(
            error("name = 'a' name = 'b'"),
            "Invalid query: unexpected 'name' at offset 11 (expected 'and', 'or' or the end \
             of the query)"
        );
        assert_eq!(
            error("name = 'a')"),
            "Invalid query: unmatched ')' at offset 10"
        );
        assert_eq!(
            error("(name = 'a'"),
            "Invalid query: expected ')', found the end of the query at offset 11"
        );
        assert_eq!(
            error(r"name = 'a\nb'"),
            r"Invalid query: invalid escape sequence '\n' at offset 9 (only \' and \\ are allowed)"
        );
        assert_eq!(
            error("fullText contains 'x'"),
            "Invalid query: field 'fullText' is not supported by this emulator (supported: \
             name, mimeType, trashed, appProperties, '<id>' in parents)"
        );
        assert_eq!(
            error("'me' in owners"),
            "Invalid query: 'in owners' is not supported by this emulator (only 'in parents' is)"
        );
    }

    #[test]
    fn error_display_matches_message_field() {
        let Err(e) = Query::parse("owner = 'x'") else {
            panic!("should fail");
        };
        assert_eq!(e.to_string(), e.message);
        assert!(e.message.starts_with("Invalid query: "));
    }

    #[test]
    fn bad_queries_are_rejected() {
        let bad = [
            "name",
            "name =",
            "name = ",
            "name == 'a'",
            "name = \"a\"",
            "name = a",
            "name < 'a'",
            "name >= 'a'",
            "name ! 'a'",
            "name in 'a'",
            "name contains",
            "'a' in",
            "'a' in Parents",
            "'a' in folders",
            "'a' parents",
            "'a'",
            "parents = 'a'",
            "mimeType = true",
            "mimeType contains 'a'",
            "mimeType has { key='a' and value='b' }",
            "Name = 'a'",
            "trashed",
            "trashed = 'false'",
            "trashed = yes",
            "trashed contains true",
            "trashed = false and",
            "trashed = false or",
            "and trashed = false",
            "or",
            "not",
            "not not",
            "trashed = false not name = 'a'",
            "()",
            "(",
            ")",
            "((trashed = false)",
            "(trashed = false))",
            "trashed = false )",
            "{ trashed = false }",
            "appProperties = 'a'",
            "appProperties has",
            "appProperties has {",
            "appProperties has { }",
            "appProperties has { key='a' }",
            "appProperties has { key='a' and }",
            "appProperties has { key='a' and key='b' }",
            "appProperties has { value='a' and value='b' }",
            "appProperties has { key='a' or value='b' }",
            "appProperties has { key='a' and value='b'",
            "appProperties has { key='a' and value='b' and key='c' }",
            "appProperties has { Key='a' and value='b' }",
            "appProperties has { key='a', value='b' }",
            "appProperties has { key=a and value='b' }",
            "appProperties has ( key='a' and value='b' )",
            "appproperties has { key='a' and value='b' }",
            "properties has { key='a' and value='b' }",
            "modifiedTime > '2012-06-04T12:00:00'",
            "starred = true",
            "name = 'a' & trashed = false",
            "name = 'a' && trashed = false",
            "name = 'a' || trashed = false",
            "name = 'a';",
            "name = 'a' -- comment",
            "name = 'é",
            "name = 'ends with backslash\\",
            "name = 'bad escape \\x'",
            "naïve = 'a'",
            "名前 = 'a'",
            "name = 'a' 🎓",
            "\u{0}",
            "name\u{0} = 'a'",
            "'\u{0}' in parents and",
            "''",
            "'' in",
            "true",
            "false",
            "in parents",
            "contains 'a'",
            "has",
            "=",
            "!=",
            "!",
            "'",
            "\\",
            "name = 'a' and and trashed = false",
            "name = 'a' or or trashed = false",
        ];
        for q in bad {
            let result = Query::parse(q);
            assert!(result.is_err(), "{q:?} should be rejected: {result:?}");
            if let Err(e) = result {
                assert!(e.message.starts_with("Invalid query: "), "{q:?}: {e}");
            }
        }
    }

    #[test]
    fn very_long_and_deep_inputs_do_not_panic() {
        let long_word = "x".repeat(1_000_000);
        let message = error(&long_word);
        assert!(
            message.len() < 200,
            "error quotes the whole input: {}",
            message.len()
        );

        let long_string = format!("name = '{}", "y".repeat(1_000_000));
        assert!(error(&long_string).contains("unterminated"));

        let deep_parens = "(".repeat(100_000) + "trashed = false" + &")".repeat(100_000);
        assert!(error(&deep_parens).contains("levels deep"));

        let deep_not = "not ".repeat(100_000) + "trashed = false";
        assert!(error(&deep_not).contains("levels deep"));

        let ok_depth = "(".repeat(MAX_NESTING) + "trashed = false" + &")".repeat(MAX_NESTING);
        assert!(matches(&ok_depth, &File::new("a")));

        let unbalanced = "(".repeat(10_000);
        assert!(Query::parse(&unbalanced).is_err());
        let closers = ")".repeat(10_000);
        assert!(Query::parse(&closers).is_err());
    }

    #[test]
    fn fuzzish_inputs_never_panic() {
        let fragments = [
            "name",
            "mimeType",
            "trashed",
            "appProperties",
            "has",
            "{",
            "}",
            "key",
            "value",
            "=",
            "!=",
            "contains",
            "in",
            "parents",
            "and",
            "or",
            "not",
            "(",
            ")",
            "'a'",
            "'\\''",
            "'",
            "\\",
            "true",
            "false",
            "é",
            "🎓",
            "\u{0}",
            " ",
            "<",
            ">=",
            "!",
            "\"",
            "\u{200b}",
            "'x\\",
            ",",
        ];
        // A small deterministic pseudo-random generator (xorshift) keeps the test
        // dependency-free and reproducible.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let file = File::new("a").parent("a").prop("a", "a");
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 12).unwrap_or(0);
            let q: Vec<&str> = (0..len)
                .map(|_| {
                    let i = usize::try_from(next()).unwrap_or(0) % fragments.len();
                    fragments[i]
                })
                .collect();
            let separator = if next() % 2 == 0 { " " } else { "" };
            let q = q.join(separator);
            match Query::parse(&q) {
                Ok(parsed) => {
                    let _ = parsed.matches(&file.candidate());
                    let _ = parsed.required_parents();
                }
                Err(e) => assert!(e.message.starts_with("Invalid query: "), "{q:?}: {e}"),
            }
        }
    }

    #[test]
    fn every_byte_sequence_prefix_of_a_valid_query_is_handled() {
        let q = "'abc' in parents and mimeType = 'application/vnd.google-apps.folder' and \
                 trashed = false and appProperties has { key='invigilator\\'Student' and \
                 value='42' } or not (name contains 'é🎓')";
        assert!(Query::parse(q).is_ok());
        for (end, _) in q.char_indices() {
            let _ = Query::parse(&q[..end]);
            let _ = Query::parse(&q[end..]);
        }
    }
}
