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
#[utoipa::path(
    get,
    path = "/api/class-rules",
    tag = "classes",
    security(("session" = [])),
    responses((status = 200, description = "The subject and year-group rules, in order", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
#[derive(Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(
    post,
    path = "/api/class-rules/{kind}",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    params(("kind" = String, Path, description = "`subjects` or `year-groups`", pattern = "^(subjects|year-groups)$")),
    request_body(content = RuleBody, content_type = "application/json"),
    responses((status = 201, description = "The rule, after the others", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
#[utoipa::path(
    put,
    path = "/api/class-rules/{kind}/{id}",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    params(("kind" = String, Path, description = "`subjects` or `year-groups`", pattern = "^(subjects|year-groups)$"), ("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = RuleBody, content_type = "application/json"),
    responses((status = 204, description = "The rule is changed"), crate::web::openapi::Failures)
)]
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
#[utoipa::path(
    delete,
    path = "/api/class-rules/{kind}/{id}",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    params(("kind" = String, Path, description = "`subjects` or `year-groups`", pattern = "^(subjects|year-groups)$"), ("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 204, description = "The rule is removed"), crate::web::openapi::Failures)
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    ids: Vec<Uuid>,
}

/// `PUT /api/class-rules/{subjects|year-groups}/order` `{"ids": [...]}`: every rule, in order.
#[utoipa::path(
    put,
    path = "/api/class-rules/{kind}/order",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    params(("kind" = String, Path, description = "`subjects` or `year-groups`", pattern = "^(subjects|year-groups)$")),
    request_body(content = Order, content_type = "application/json"),
    responses((status = 204, description = "The rules are in the order given"), crate::web::openapi::Failures)
)]
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
#[utoipa::path(
    post,
    path = "/api/class-rules/apply",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "How many classes moved", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PlacementOverride)]
pub struct OverrideBody {
    #[serde(default, with = "crate::tenancy::settings::double_option")]
    subject: Option<Option<String>>,
    #[serde(default, with = "crate::tenancy::settings::double_option")]
    year_group: Option<Option<i16>>,
}

/// `PUT /api/classes/{id}/placement`: the class's own subject and/or year group.
#[utoipa::path(
    put,
    path = "/api/classes/{id}/placement",
    tag = "classes",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = OverrideBody, content_type = "application/json"),
    responses((status = 200, description = "The class as placed now", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
#[utoipa::path(
    get,
    path = "/api/classes",
    tag = "classes",
    security(("session" = [])),
    responses((status = 200, description = "The classes this person may see, with their subject and year group", body = serde_json::Value), crate::web::openapi::Failures)
)]
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
