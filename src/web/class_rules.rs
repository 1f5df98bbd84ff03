//! Where classes belong: the School Admin's subject and year-group rules, each class's own
//! override, and the list of classes with their subject and year.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody};
use super::portfolios::parse_id;
use crate::auth::{ClassAccess, ClassScope, Permission};
use crate::roster::placement::{
    self, Override, PlacedClass, Placement, PlacementError, RuleKind, Rules,
};

impl From<PlacementError> for ApiError {
    fn from(e: PlacementError) -> Self {
        match e {
            PlacementError::Input(f) => f.into(),
            PlacementError::NoSuchRule | PlacementError::NoSuchClass => ApiError::NotFound,
            PlacementError::BadOrder => ApiError::invalid_field("ids", e.to_string()),
            PlacementError::Database(d) => d.into(),
        }
    }
}

/// `subjects` or `year-groups` from the path; any other word is not a route.
pub(crate) fn kind_from(word: &str) -> Result<RuleKind, ApiError> {
    match word {
        "subjects" => Ok(RuleKind::Subject),
        "year-groups" => Ok(RuleKind::YearGroup),
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /api/class-rules`
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<Rules>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(&state).await?;
    let rules = placement::list(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rules))
}

/// A new rule, or a change to one: a pattern, and a subject (by name) or a year group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pattern: Option<String>,
    subject: Option<String>,
    year_group: Option<i16>,
}

impl RuleBody {
    fn placement(&self) -> Result<Option<Placement>, ApiError> {
        match (&self.subject, self.year_group) {
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "year_group",
                "a rule gives a subject or a year group, not both",
            )),
            (Some(name), None) => Ok(Some(Placement::Subject(name.clone()))),
            (None, Some(year)) => Ok(Some(Placement::YearGroup(year))),
            (None, None) => Ok(None),
        }
    }
}

/// What a new rule of `kind` gives, from what was sent (a subject or a year group, at most one
/// of them): the API's and the rules page's one refusal of a rule that gives nothing, or the
/// other kind's value.
pub(crate) fn new_rule_placement(
    kind: RuleKind,
    sent: Option<Placement>,
) -> Result<Placement, ApiError> {
    match (kind, sent) {
        (RuleKind::Subject, Some(p @ Placement::Subject(_)))
        | (RuleKind::YearGroup, Some(p @ Placement::YearGroup(_))) => Ok(p),
        (RuleKind::Subject, _) => Err(ApiError::invalid_field("subject", "subject is needed")),
        (RuleKind::YearGroup, _) => Err(ApiError::invalid_field(
            "year_group",
            "year_group is needed",
        )),
    }
}

#[derive(Serialize)]
pub struct Added {
    id: Uuid,
}

/// `POST /api/class-rules/{subjects|year-groups}`: a rule after the others.
pub async fn add(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Result<(StatusCode, Json<Added>), ApiError> {
    let kind = kind_from(&kind)?;
    staff.require(Permission::ManageSettings)?;
    let pattern = body
        .pattern
        .as_deref()
        .ok_or_else(|| ApiError::invalid_field("pattern", "pattern is needed"))?;
    let placement = new_rule_placement(kind, body.placement()?)?;
    let mut tx = staff.school_tx(&state).await?;
    let id = placement::add_rule(&mut tx, staff.staff.id, pattern, &placement).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Added { id })))
}

/// `PUT /api/class-rules/{subjects|year-groups}/{id}`
pub async fn change(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((kind, raw_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_from(&kind)?;
    staff.require(Permission::ManageSettings)?;
    let id = parse_id(&raw_id)?;
    let placement = body.placement()?;
    let mut tx = staff.school_tx(&state).await?;
    placement::change_rule(
        &mut tx,
        staff.staff.id,
        kind,
        id,
        body.pattern.as_deref(),
        placement.as_ref(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/class-rules/{subjects|year-groups}/{id}`
pub async fn remove(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((kind, raw_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_from(&kind)?;
    staff.require(Permission::ManageSettings)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    placement::remove_rule(&mut tx, staff.staff.id, kind, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    ids: Vec<Uuid>,
}

/// `PUT /api/class-rules/{subjects|year-groups}/order` `{"ids": [...]}`: every rule, in order.
pub async fn reorder(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<Order>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_from(&kind)?;
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(&state).await?;
    placement::reorder(&mut tx, staff.staff.id, kind, &body.ids).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/class-rules/apply`: every class placed again now (each rule change does this
/// too; a sync does it for the classes it reads).
pub async fn apply(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<serde_json::Value>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let mut tx = staff.school_tx(&state).await?;
    let moved = placement::apply_now(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    Ok(Json(json!({"classes_moved": moved})))
}

/// `null` clears an override; absence leaves it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    #[serde(default, with = "crate::tenancy::settings::double_option")]
    subject: Option<Option<String>>,
    #[serde(default, with = "crate::tenancy::settings::double_option")]
    year_group: Option<Option<i16>>,
}

/// `PUT /api/classes/{id}/placement`: the class's own subject and/or year group.
pub async fn set_placement(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
    JsonBody(body): JsonBody<OverrideBody>,
) -> Result<Json<PlacedClass>, ApiError> {
    staff.require(Permission::ManageSettings)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let change = Override {
        subject: body.subject,
        year_group: body.year_group,
    };
    placement::set_override(&mut tx, staff.staff.id, id, &change).await?;
    let class = placement::classes(&mut tx, Some(&[id]))
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(class))
}

/// `GET /api/classes`: the classes this person may see (a School Admin: every class, to place
/// them), with subject and year group.
pub async fn classes(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<Vec<PlacedClass>>, ApiError> {
    let mut scope = staff.class_scope(ClassAccess::View);
    if scope.is_empty() && staff.can(Permission::ManageSettings) {
        scope = ClassScope::Everything;
    }
    if scope.is_empty() {
        return Err(ApiError::Forbidden);
    }
    let mut tx = staff.school_tx(&state).await?;
    let listed = match scope {
        ClassScope::Everything => placement::classes(&mut tx, None).await?,
        _ => {
            let ids = scope.classes(&mut tx).await?;
            placement::classes(&mut tx, Some(&ids)).await?
        }
    };
    tx.commit().await?;
    Ok(Json(listed))
}
