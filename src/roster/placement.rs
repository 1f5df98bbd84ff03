//! Where a class belongs: its subject and its year group. Each comes from the School Admin's
//! rules — patterns on the class's name or section (SQL `ILIKE`, `%` for anything), the first
//! match by position wins — unless the class has an override of its own. The rules are applied
//! at every sync and, at once, to every class whenever a rule or an override changes, all
//! through the SQL in this module, so the two can never disagree.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, Target};
use crate::input::{self, FieldError, InputError};
use crate::tenancy::SchoolTx;

/// The year groups a class can be placed in, by a rule or an override: Year 1 to Year 13.
pub const YEAR_GROUPS: RangeInclusive<i16> = 1..=13;

/// Longest pattern, and longest subject name (as the database allows).
pub const PATTERN_MAX_CHARS: usize = 200;
pub const SUBJECT_NAME_MAX_CHARS: usize = 120;

/// Which rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Subject,
    YearGroup,
}

impl RuleKind {
    fn table(self) -> &'static str {
        match self {
            Self::Subject => "subject_rules",
            Self::YearGroup => "year_group_rules",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Self::Subject => "subject_rule",
            Self::YearGroup => "year_group_rule",
        }
    }
}

/// Whether a class whose name and section are the SQL expressions `name` and `section` matches
/// the pattern expression `pattern`: the one matching rule, used by placement and by the preview
/// of a rule not yet saved alike.
fn matches_sql(name: &str, section: &str, pattern: &str) -> String {
    format!("({name} ILIKE {pattern} OR coalesce({section}, '') ILIKE {pattern})")
}

/// `column` of the first rule of `kind` (by position) matching a class whose name and section
/// are the SQL expressions given, or NULL.
fn first_rule_sql(kind: RuleKind, column: &str, name: &str, section: &str) -> String {
    format!(
        "(SELECT r.{column} FROM {} r WHERE {} ORDER BY r.position LIMIT 1)",
        kind.table(),
        matches_sql(name, section, "r.pattern"),
    )
}

/// The subject (a uuid) of a class whose name and section are the SQL expressions given: its
/// first matching rule, else "Unsorted".
fn subject_sql(name: &str, section: &str) -> String {
    format!(
        "coalesce({}, (SELECT id FROM subjects WHERE name = 'Unsorted'))",
        first_rule_sql(RuleKind::Subject, "subject_id", name, section)
    )
}

/// The year group (or NULL) of a class whose name and section are the SQL expressions given.
fn year_sql(name: &str, section: &str) -> String {
    first_rule_sql(RuleKind::YearGroup, "year_group", name, section)
}

/// Where a class Classroom calls `name`/`section` (id `classroom_id`) belongs now: its override,
/// if it has one (it is known already), else the rules.
pub async fn place(
    tx: &mut SchoolTx,
    classroom_id: &str,
    name: &str,
    section: Option<&str>,
) -> Result<(Uuid, Option<i16>), sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce((SELECT subject_override FROM courses WHERE classroom_id = $3), {}), \
                coalesce((SELECT year_group_override FROM courses WHERE classroom_id = $3), {})",
        subject_sql("$1", "$2"),
        year_sql("$1", "$2"),
    )))
    .bind(name)
    .bind(section)
    .bind(classroom_id)
    .fetch_one(&mut **tx)
    .await
}

/// Places every class again by its override or the rules; returns how many moved.
pub async fn apply_to_all(tx: &mut SchoolTx) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE courses c SET subject_id = p.subject, year_group = p.year, updated_at = now() \
         FROM (SELECT k.id, coalesce(k.subject_override, {}) AS subject, \
                      coalesce(k.year_group_override, {}) AS year FROM courses k) p \
         WHERE p.id = c.id AND (c.subject_id, c.year_group) IS DISTINCT FROM (p.subject, p.year)",
        subject_sql("k.name", "k.section"),
        year_sql("k.name", "k.section"),
    )))
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Places every class again now, as a School Admin asked (each rule change does this too),
/// audited with how many classes moved; returns that number.
pub async fn apply_now(tx: &mut SchoolTx, by: Uuid) -> Result<u64, sqlx::Error> {
    let moved = apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassRulesApplied,
        None,
        json!({"classes_moved": moved}),
    )
    .await?;
    Ok(moved)
}

/// A class that a rule not yet saved would match, and whether it would decide where the class
/// belongs once added after the others.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Caught {
    pub id: Uuid,
    pub name: String,
    pub section: Option<String>,
    pub active: bool,
    /// Where the class is now.
    pub subject: Option<String>,
    pub year_group: Option<i16>,
    /// The class has its own subject or year (of the rule's kind), which wins over every rule.
    pub overridden: bool,
    /// The pattern of an existing rule that matches first, and so keeps the class.
    pub earlier_rule: Option<String>,
}

impl Caught {
    /// The new rule would place this class: nothing ahead of it claims the class.
    pub fn placed_by_new_rule(&self) -> bool {
        !self.overridden && self.earlier_rule.is_none()
    }
}

/// The classes a new rule of `kind` with `pattern` would catch, by the same matching as
/// placement, without saving anything. A new rule goes after the others, so a class an existing
/// rule matches (or with an override of its own) is listed but stays where it is.
pub async fn preview_new_rule(
    tx: &mut SchoolTx,
    kind: RuleKind,
    pattern: &str,
) -> Result<Vec<Caught>, PlacementError> {
    let pattern = parse_pattern(pattern)?;
    let override_column = match kind {
        RuleKind::Subject => "subject_override",
        RuleKind::YearGroup => "year_group_override",
    };
    Ok(sqlx::query_as::<_, Caught>(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.name, c.section, c.active, s.name AS subject, c.year_group, \
                c.{override_column} IS NOT NULL AS overridden, {} AS earlier_rule \
         FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id \
         WHERE {} \
         ORDER BY NOT c.active, c.name",
        first_rule_sql(kind, "pattern", "c.name", "c.section"),
        matches_sql("c.name", "c.section", "$1"),
    )))
    .bind(&pattern)
    .fetch_all(&mut **tx)
    .await?)
}

/// One rule as the School Admin sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Rule {
    pub id: Uuid,
    pub position: i32,
    pub pattern: String,
    /// For a subject rule.
    pub subject_id: Option<Uuid>,
    pub subject: Option<String>,
    /// For a year-group rule.
    pub year_group: Option<i16>,
}

/// Both lists of rules, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    pub subject_rules: Vec<Rule>,
    pub year_group_rules: Vec<Rule>,
}

pub async fn list(tx: &mut SchoolTx) -> Result<Rules, sqlx::Error> {
    let subject_rules = sqlx::query_as::<_, Rule>(
        "SELECT r.id, r.position, r.pattern, r.subject_id, s.name AS subject, NULL::smallint AS year_group \
         FROM subject_rules r JOIN subjects s ON s.id = r.subject_id ORDER BY r.position",
    )
    .fetch_all(&mut **tx)
    .await?;
    let year_group_rules = sqlx::query_as::<_, Rule>(
        "SELECT id, position, pattern, NULL::uuid AS subject_id, NULL::text AS subject, year_group \
         FROM year_group_rules ORDER BY position",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(Rules {
        subject_rules,
        year_group_rules,
    })
}

/// What a rule places a class in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A subject, by name (made if the school has none of that name yet).
    Subject(String),
    YearGroup(i16),
}

impl Placement {
    fn kind(&self) -> RuleKind {
        match self {
            Self::Subject(_) => RuleKind::Subject,
            Self::YearGroup(_) => RuleKind::YearGroup,
        }
    }
}

/// Why a rule or an override was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error(transparent)]
    Input(#[from] FieldError),
    #[error("no such rule")]
    NoSuchRule,
    #[error("no such class")]
    NoSuchClass,
    #[error("the new order must name every rule exactly once")]
    BadOrder,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A pattern a person typed, as `ILIKE` can use it: one line, at most 200 characters, and not
/// ending in the escape character (PostgreSQL refuses such a pattern when it is used).
pub fn parse_pattern(raw: &str) -> Result<String, FieldError> {
    let pattern = input::single_line(raw, PATTERN_MAX_CHARS).map_err(|e| e.on("pattern"))?;
    let trailing = pattern.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 {
        return Err(FieldError {
            field: "pattern",
            error: InputError::Malformed("ends with a lone \\, which escapes nothing"),
        });
    }
    Ok(pattern)
}

fn parse_year(year: i16) -> Result<i16, FieldError> {
    if YEAR_GROUPS.contains(&year) {
        Ok(year)
    } else {
        Err(not_a_year_group())
    }
}

/// A year group as a form sends it (text), refused in the same words as a number outside
/// [`YEAR_GROUPS`].
pub fn year_group_from_text(typed: &str) -> Result<i16, FieldError> {
    typed
        .trim()
        .parse::<i16>()
        .map_err(|_| not_a_year_group())
        .and_then(parse_year)
}

fn not_a_year_group() -> FieldError {
    FieldError {
        field: "year_group",
        error: InputError::OutOfRange {
            what: "a year group",
            min: (*YEAR_GROUPS.start()).into(),
            max: (*YEAR_GROUPS.end()).into(),
        },
    }
}

/// The subject named `name`, made if the school has none yet.
async fn subject_named(tx: &mut SchoolTx, name: &str) -> Result<Uuid, PlacementError> {
    let name = input::single_line(name, SUBJECT_NAME_MAX_CHARS).map_err(|e| e.on("subject"))?;
    Ok(sqlx::query_scalar(
        "WITH made AS (INSERT INTO subjects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id) \
         SELECT id FROM made UNION ALL SELECT id FROM subjects WHERE name = $1 LIMIT 1",
    )
    .bind(&name)
    .fetch_one(&mut **tx)
    .await?)
}

/// A subject of the school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Subject {
    pub id: Uuid,
    pub name: String,
}

/// The school's subjects by name ("Unsorted", where classes no rule places sit, among them).
pub async fn subjects(tx: &mut SchoolTx) -> Result<Vec<Subject>, sqlx::Error> {
    sqlx::query_as::<_, Subject>("SELECT id, name FROM subjects ORDER BY name")
        .fetch_all(&mut **tx)
        .await
}

/// Adds a rule after the others; places every class again. Returns its id.
pub async fn add_rule(
    tx: &mut SchoolTx,
    by: Uuid,
    pattern: &str,
    placement: &Placement,
) -> Result<Uuid, PlacementError> {
    let pattern = parse_pattern(pattern)?;
    let kind = placement.kind();
    let id: Uuid = match placement {
        Placement::Subject(name) => {
            let subject = subject_named(tx, name).await?;
            sqlx::query_scalar(
                "INSERT INTO subject_rules (position, pattern, subject_id) \
                 SELECT coalesce(max(position), 0) + 1, $1, $2 FROM subject_rules RETURNING id",
            )
            .bind(&pattern)
            .bind(subject)
            .fetch_one(&mut **tx)
            .await?
        }
        Placement::YearGroup(year) => {
            sqlx::query_scalar(
                "INSERT INTO year_group_rules (position, pattern, year_group) \
                 SELECT coalesce(max(position), 0) + 1, $1, $2 FROM year_group_rules RETURNING id",
            )
            .bind(&pattern)
            .bind(parse_year(*year)?)
            .fetch_one(&mut **tx)
            .await?
        }
    };
    let moved = apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassRuleAdded,
        Some(&Target::new(kind.target(), id)),
        json!({"classes_moved": moved}),
    )
    .await?;
    Ok(id)
}

/// Changes a rule's pattern and/or what it places a class in; places every class again.
pub async fn change_rule(
    tx: &mut SchoolTx,
    by: Uuid,
    kind: RuleKind,
    id: Uuid,
    pattern: Option<&str>,
    placement: Option<&Placement>,
) -> Result<(), PlacementError> {
    let pattern = pattern.map(parse_pattern).transpose()?;
    let changed = match (kind, placement) {
        (RuleKind::Subject, Some(Placement::Subject(name))) => {
            let subject = subject_named(tx, name).await?;
            sqlx::query(
                "UPDATE subject_rules SET pattern = coalesce($2, pattern), subject_id = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(&pattern)
            .bind(subject)
            .execute(&mut **tx)
            .await?
        }
        (RuleKind::YearGroup, Some(Placement::YearGroup(year))) => {
            sqlx::query(
                "UPDATE year_group_rules SET pattern = coalesce($2, pattern), year_group = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(&pattern)
            .bind(parse_year(*year)?)
            .execute(&mut **tx)
            .await?
        }
        (_, None) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {} SET pattern = coalesce($2, pattern) WHERE id = $1",
                kind.table()
            )))
            .bind(id)
            .bind(&pattern)
            .execute(&mut **tx)
            .await?
        }
        (RuleKind::Subject, Some(_)) => {
            return Err(FieldError {
                field: "year_group",
                error: InputError::Malformed("belongs to year-group rules, not subject rules"),
            }
            .into());
        }
        (RuleKind::YearGroup, Some(_)) => {
            return Err(FieldError {
                field: "subject",
                error: InputError::Malformed("belongs to subject rules, not year-group rules"),
            }
            .into());
        }
    };
    if changed.rows_affected() == 0 {
        return Err(PlacementError::NoSuchRule);
    }
    let moved = apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassRuleChanged,
        Some(&Target::new(kind.target(), id)),
        json!({"classes_moved": moved}),
    )
    .await?;
    Ok(())
}

/// Removes a rule; places every class again.
pub async fn remove_rule(
    tx: &mut SchoolTx,
    by: Uuid,
    kind: RuleKind,
    id: Uuid,
) -> Result<(), PlacementError> {
    let removed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {} WHERE id = $1",
        kind.table()
    )))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(PlacementError::NoSuchRule);
    }
    let moved = apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassRuleRemoved,
        Some(&Target::new(kind.target(), id)),
        json!({"classes_moved": moved}),
    )
    .await?;
    Ok(())
}

/// Puts the rules of `kind` in the order of `ids`, which must name each of them once; places
/// every class again.
pub async fn reorder(
    tx: &mut SchoolTx,
    by: Uuid,
    kind: RuleKind,
    ids: &[Uuid],
) -> Result<(), PlacementError> {
    let table = kind.table();
    let mut current: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} ORDER BY id FOR UPDATE"
    )))
    .fetch_all(&mut **tx)
    .await?;
    let mut wanted = ids.to_vec();
    wanted.sort();
    current.sort();
    if wanted != current {
        return Err(PlacementError::BadOrder);
    }
    // Two steps, since positions are unique at every row: out of the way, then into place.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET position = -position"
    )))
    .execute(&mut **tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} t SET position = o.n FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, n) \
         WHERE t.id = o.id"
    )))
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    let moved = apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassRulesReordered,
        None,
        json!({"kind": kind, "order": ids, "classes_moved": moved}),
    )
    .await?;
    Ok(())
}

/// A class's own subject and/or year group, or (`None` inside) back to the rules.
#[derive(Debug, Clone, Default)]
pub struct Override {
    pub subject: Option<Option<String>>,
    pub year_group: Option<Option<i16>>,
}

/// Sets or clears a class's overrides, and places it again.
pub async fn set_override(
    tx: &mut SchoolTx,
    by: Uuid,
    course_id: Uuid,
    change: &Override,
) -> Result<(), PlacementError> {
    let subject = match &change.subject {
        Some(Some(name)) => Some(Some(subject_named(tx, name).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let year = match change.year_group {
        Some(Some(y)) => Some(Some(parse_year(y)?)),
        other => other,
    };
    let updated = sqlx::query(
        "UPDATE courses SET \
             subject_override = CASE WHEN $2 THEN $3 ELSE subject_override END, \
             year_group_override = CASE WHEN $4 THEN $5 ELSE year_group_override END, \
             updated_at = now() \
         WHERE id = $1",
    )
    .bind(course_id)
    .bind(subject.is_some())
    .bind(subject.flatten())
    .bind(year.is_some())
    .bind(year.flatten())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(PlacementError::NoSuchClass);
    }
    apply_to_all(tx).await?;
    audit::record(
        tx,
        &Actor::Staff(by),
        Action::ClassPlacementSet,
        Some(&Target::new("course", course_id)),
        json!({"subject_override": subject.flatten(), "year_group_override": year.flatten()}),
    )
    .await?;
    Ok(())
}

/// A class with where it belongs, for the School Admin's list and the windows to come.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlacedClass {
    pub id: Uuid,
    pub name: String,
    pub section: Option<String>,
    pub active: bool,
    pub subject_id: Option<Uuid>,
    pub subject: Option<String>,
    pub year_group: Option<i16>,
    pub subject_overridden: bool,
    pub year_group_overridden: bool,
}

/// The classes `ids` (every class when `None`), by subject, year and name.
pub async fn classes(
    tx: &mut SchoolTx,
    ids: Option<&[Uuid]>,
) -> Result<Vec<PlacedClass>, sqlx::Error> {
    sqlx::query_as::<_, PlacedClass>(
        "SELECT c.id, c.name, c.section, c.active, c.subject_id, s.name AS subject, c.year_group, \
                c.subject_override IS NOT NULL AS subject_overridden, \
                c.year_group_override IS NOT NULL AS year_group_overridden \
         FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id \
         WHERE $1::uuid[] IS NULL OR c.id = ANY($1) \
         ORDER BY s.name, c.year_group, c.name",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
}

/// A class with where it belongs and why: the rule of each kind that placed it (none when an
/// override decides, or no rule matches).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ExplainedClass {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub class: PlacedClass,
    pub subject_rule_id: Option<Uuid>,
    pub subject_rule: Option<String>,
    pub year_group_rule_id: Option<Uuid>,
    pub year_group_rule: Option<String>,
}

/// Every class, by subject, year and name, with the rule that placed it, by the same matching
/// as placement.
pub async fn explained_classes(tx: &mut SchoolTx) -> Result<Vec<ExplainedClass>, sqlx::Error> {
    let rule = |kind, column| first_rule_sql(kind, column, "c.name", "c.section");
    sqlx::query_as::<_, ExplainedClass>(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.name, c.section, c.active, c.subject_id, s.name AS subject, c.year_group, \
                c.subject_override IS NOT NULL AS subject_overridden, \
                c.year_group_override IS NOT NULL AS year_group_overridden, \
                CASE WHEN c.subject_override IS NULL THEN {} END AS subject_rule_id, \
                CASE WHEN c.subject_override IS NULL THEN {} END AS subject_rule, \
                CASE WHEN c.year_group_override IS NULL THEN {} END AS year_group_rule_id, \
                CASE WHEN c.year_group_override IS NULL THEN {} END AS year_group_rule \
         FROM courses c LEFT JOIN subjects s ON s.id = c.subject_id \
         ORDER BY NOT c.active, s.name, c.year_group, c.name",
        rule(RuleKind::Subject, "id"),
        rule(RuleKind::Subject, "pattern"),
        rule(RuleKind::YearGroup, "id"),
        rule(RuleKind::YearGroup, "pattern"),
    )))
    .fetch_all(&mut **tx)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_that_ilike_would_refuse_are_refused_first() {
        assert_eq!(parse_pattern(" 11% ").unwrap(), "11%");
        assert_eq!(parse_pattern("a\\\\").unwrap(), "a\\\\");
        assert!(parse_pattern("a\\").is_err());
        assert!(parse_pattern("").is_err());
        assert!(parse_pattern("a\nb").is_err());
        assert!(parse_pattern(&"x".repeat(201)).is_err());
    }

    #[test]
    fn a_typed_year_group_is_one_of_the_year_groups() {
        assert_eq!(year_group_from_text(" 11 ").unwrap(), 11);
        for typed in ["0", "14", "eleven", ""] {
            assert_eq!(
                year_group_from_text(typed).unwrap_err().to_string(),
                "year_group is a year group from 1 to 13",
                "{typed:?}"
            );
        }
    }
}
