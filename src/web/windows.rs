//! Assessment windows over HTTP: list, read, preview, create, edit, cancel, release; an
//! officer's override for one student; the officers' calendar feed. Reading is for anyone who
//! sees classes (over the classes they see); everything else is the Examinations Officer's
//! (`ManageWindows` in the permission table). Every call is audited.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{CurrentStaff, JsonBody, QueryParams};
use super::portfolios::{check_body, commit_and_enqueue, parse_id};
use crate::audit::{self, Action, Actor, Target};
use crate::auth::{ClassAccess, ClassScope, Permission};
use crate::portfolio::lock::Requested;
use crate::tenancy::SchoolTx;
use crate::windows::coverage;
use crate::windows::draft::WindowFields;
use crate::windows::london_time::london_to_utc;
use crate::windows::preview::{self, Preview};
use crate::windows::store::{self, ListFilter};
use crate::windows::{Window, WindowError, WindowState, calendar};

impl From<WindowError> for ApiError {
    fn from(e: WindowError) -> Self {
        match e {
            WindowError::Input(f) => f.into(),
            WindowError::NotFound => ApiError::NotFound,
            WindowError::WrongState(message) => ApiError::Conflict(message),
            WindowError::Database(d) => d.into(),
        }
    }
}

/// The classes whose windows this person may see: `None` for every class. (The pages ask it
/// too.)
pub(crate) async fn visible_classes(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    match staff.class_scope(ClassAccess::View) {
        ClassScope::Everything => Ok(None),
        ClassScope::Nothing => Err(ApiError::Forbidden),
        scope => Ok(Some(scope.classes(tx).await?)),
    }
}

/// Records a read or a change of windows in the audit log (the pages record theirs with it).
pub(crate) async fn record(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
    action: Action,
    window: Option<Uuid>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let target = window.map(|id| Target::new("window", id));
    audit::record(
        tx,
        &Actor::Staff(staff.staff.id),
        action,
        target.as_ref(),
        details,
    )
    .await?;
    Ok(())
}

/// `?from=2027-03-01&to=2027-04-01&class=…&state=scheduled`; dates and times are London's.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    class: Option<String>,
    state: Option<String>,
}

/// A day (`2027-03-01`, from its midnight) or a time, on London's clock.
fn london_bound(raw: &str, field: &'static str) -> Result<chrono::DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    let with_time = if raw.len() == 10 {
        format!("{raw}T00:00")
    } else {
        raw.to_owned()
    };
    london_to_utc(&with_time).map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

impl ListQuery {
    fn filter(&self) -> Result<ListFilter, ApiError> {
        let state = match self.state.as_deref() {
            None => None,
            Some(raw) => Some(
                serde_json::from_value::<WindowState>(json!(raw)).map_err(|_| {
                    ApiError::invalid_field(
                        "state",
                        "state is one of scheduled, active, held, ended, cancelled",
                    )
                })?,
            ),
        };
        let class = self
            .class
            .as_deref()
            .map(|c| Uuid::parse_str(c.trim()))
            .transpose()
            .map_err(|_| ApiError::invalid_field("class", "class is a class id"))?;
        Ok(ListFilter {
            id: None,
            from: self
                .from
                .as_deref()
                .map(|f| london_bound(f, "from"))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|t| london_bound(t, "to"))
                .transpose()?,
            class,
            state,
            states: Vec::new(),
        })
    }
}

/// `GET /api/windows`
#[utoipa::path(
    get,
    path = "/api/windows",
    tag = "windows",
    security(("session" = [])),
    params(ListQuery),
    responses((status = 200, description = "The windows over the classes this person sees", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<Window>>, ApiError> {
    let filter = query.filter()?;
    let mut tx = staff.school_tx(&state).await?;
    let visible = visible_classes(&mut tx, &staff).await?;
    let windows: Vec<Window> = store::list(&mut tx, &filter, visible.as_deref())
        .await?
        .into_iter()
        .map(|w| w.narrowed_to(visible.as_deref()))
        .collect();
    record(
        &mut tx,
        &staff,
        Action::WindowsListed,
        None,
        json!({"from": filter.from, "to": filter.to, "class": filter.class,
               "state": filter.state, "count": windows.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(windows))
}

/// A window this person may see, or "not found".
pub(crate) async fn visible_window(
    tx: &mut SchoolTx,
    staff: &CurrentStaff,
    id: Uuid,
) -> Result<Window, ApiError> {
    let visible = visible_classes(tx, staff).await?;
    window_among(tx, visible.as_deref(), id).await
}

/// A window over one of the `visible` classes (`None`: every class), or "not found": for a
/// caller that needs the person's classes for more than finding the window.
pub(crate) async fn window_among(
    tx: &mut SchoolTx,
    visible: Option<&[Uuid]>,
    id: Uuid,
) -> Result<Window, ApiError> {
    let filter = ListFilter {
        id: Some(id),
        ..ListFilter::default()
    };
    store::list(tx, &filter, visible)
        .await?
        .pop()
        .ok_or(ApiError::NotFound)
}

/// `GET /api/windows/{id}`
#[utoipa::path(
    get,
    path = "/api/windows/{id}",
    tag = "windows",
    security(("session" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    responses((status = 200, description = "The window", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn get(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
) -> Result<Json<Window>, ApiError> {
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let visible = visible_classes(&mut tx, &staff).await?;
    let window = window_among(&mut tx, visible.as_deref(), id).await?;
    record(&mut tx, &staff, Action::WindowViewed, Some(id), json!({})).await?;
    tx.commit().await?;
    Ok(Json(window.narrowed_to(visible.as_deref())))
}

/// `POST /api/windows/preview`: what a window would lock, before it is saved. It refuses what
/// saving would refuse (the same [`store::check`] as the form's preview).
#[utoipa::path(
    post,
    path = "/api/windows/preview",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::windows::draft::WindowFields, content_type = "application/json"),
    responses((status = 200, description = "What the window would lock", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn preview_new(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(fields): JsonBody<WindowFields>,
) -> Result<Json<Preview>, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let draft = store::check(&mut tx, &fields, None, Utc::now()).await?;
    let preview = preview::preview(&mut tx, &draft, None).await?;
    record(
        &mut tx,
        &staff,
        Action::WindowPreviewed,
        None,
        json!({"classes": preview.classes.len(), "will_lock": preview.will_lock}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(preview))
}

/// `POST /api/windows/{id}/preview`: the same for an edit of a saved window.
#[utoipa::path(
    post,
    path = "/api/windows/{id}/preview",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = crate::windows::draft::WindowFields, content_type = "application/json"),
    responses((status = 200, description = "What the edited window would lock", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn preview_edit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
    JsonBody(fields): JsonBody<WindowFields>,
) -> Result<Json<Preview>, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let saved = store::get(&mut tx, id).await?;
    let base = store::draft_of(&mut tx, &saved).await?;
    let draft = if saved.state == WindowState::Scheduled {
        store::check(&mut tx, &fields, Some(&base), Utc::now()).await?
    } else {
        base
    };
    let preview = preview::preview(&mut tx, &draft, Some(id)).await?;
    record(
        &mut tx,
        &staff,
        Action::WindowPreviewed,
        Some(id),
        json!({"classes": preview.classes.len(), "will_lock": preview.will_lock}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(preview))
}

/// Queues a saved window's start and end jobs. A window saved but not queued still starts: the
/// timer's tick catches it (late by up to a tick), so this never fails the request.
pub(crate) async fn schedule(state: &AppState, staff: &CurrentStaff, window: &Window) {
    if let Err(e) =
        crate::jobs::windows::schedule(&state.queues.windows, staff.school.id, window).await
    {
        tracing::error!(window = %window.id, error = %e,
            "could not queue a window's jobs; the timer's tick will start and end it");
    }
}

/// `POST /api/windows`
#[utoipa::path(
    post,
    path = "/api/windows",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::windows::draft::WindowFields, content_type = "application/json"),
    responses((status = 201, description = "The window, scheduled", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    JsonBody(fields): JsonBody<WindowFields>,
) -> Result<(StatusCode, Json<Window>), ApiError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let window = store::create(&mut tx, staff.staff.id, &fields, Utc::now()).await?;
    tx.commit().await?;
    schedule(&state, &staff, &window).await;
    Ok((StatusCode::CREATED, Json(window)))
}

/// `PUT /api/windows/{id}`: anything before the start; only the end after it.
#[utoipa::path(
    put,
    path = "/api/windows/{id}",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = crate::windows::draft::WindowFields, content_type = "application/json"),
    responses((status = 200, description = "The window as changed", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn edit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
    JsonBody(fields): JsonBody<WindowFields>,
) -> Result<Json<Window>, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    let edited = store::edit(&mut tx, staff.staff.id, id, &fields, Utc::now()).await?;
    tx.commit().await?;
    schedule(&state, &staff, &edited.window).await;
    Ok(Json(edited.window))
}

#[derive(Serialize)]
pub struct Finished {
    window: Window,
    /// How many folders were asked to change.
    requested: usize,
}

/// `POST /api/windows/{id}/cancel` and `…/release`
#[utoipa::path(
    post,
    path = "/api/windows/{id}/{verb}",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found"), ("verb" = String, Path, description = "`cancel` or `release`", pattern = "^(cancel|release)$")),
    request_body(content = Option<crate::web::openapi::EmptyBody>, content_type = "application/json", description = "Optional"),
    responses((status = 200, description = "The window, cancelled or released", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn finish(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((raw_id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Finished>, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    check_body(&body)?;
    let mut tx = staff.school_tx(&state).await?;
    let (window, requests) = match verb.as_str() {
        "cancel" => store::cancel(&mut tx, staff.staff.id, id).await?,
        "release" => store::release(&mut tx, staff.staff.id, id).await?,
        _ => return Err(ApiError::NotFound),
    };
    commit_and_enqueue(&state, &staff, tx, &requests.to_apply).await?;
    Ok(Json(Finished {
        window,
        requested: requests.recorded,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UnlockOneStudent)]
pub struct OverrideBody {
    reason: Option<String>,
}

/// `POST /api/portfolios/{id}/override` `{"reason": "…"}`: an Examinations Officer unlocks one
/// student inside the windows holding their work.
#[utoipa::path(
    post,
    path = "/api/portfolios/{id}/override",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, format = Uuid, description = "The id (a UUID); anything else is not found")),
    request_body(content = OverrideBody, content_type = "application/json"),
    responses((status = 202, description = "The student's folder is unlocked by a worker", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn override_unlock(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(raw_id): Path<String>,
    JsonBody(body): JsonBody<OverrideBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    staff.require(Permission::ManageWindows)?;
    let id = parse_id(&raw_id)?;
    let mut tx = staff.school_tx(&state).await?;
    staff
        .class_scope(ClassAccess::Lock)
        .class_of_portfolio(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let reason = body.reason.unwrap_or_default();
    let requested: Requested =
        coverage::override_unlock(&mut tx, staff.staff.id, id, &reason).await?;
    commit_and_enqueue(&state, &staff, tx, std::slice::from_ref(&requested)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"requested": [requested]})),
    ))
}

#[derive(Serialize)]
pub struct FeedAnswer {
    /// Only when just made: the address is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    feed: Option<calendar::FeedStatus>,
}

/// `GET /api/windows/calendar-feed`: whether this officer has a live feed.
#[utoipa::path(
    get,
    path = "/api/windows/calendar-feed",
    tag = "windows",
    security(("session" = [])),
    responses((status = 200, description = "Whether this officer has a live calendar feed", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn feed_status(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Json<FeedAnswer>, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let feed = calendar::status(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    Ok(Json(FeedAnswer { url: None, feed }))
}

/// `POST /api/windows/calendar-feed`: a new secret address (the old one stops working).
#[utoipa::path(
    post,
    path = "/api/windows/calendar-feed",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    request_body(content = Option<crate::web::openapi::EmptyBody>, content_type = "application/json", description = "Optional"),
    responses((status = 201, description = "A new secret address for the feed", body = serde_json::Value), crate::web::openapi::Failures)
)]
pub async fn new_feed(
    State(state): State<AppState>,
    staff: CurrentStaff,
    body: Bytes,
) -> Result<(StatusCode, Json<FeedAnswer>), ApiError> {
    staff.require(Permission::ManageWindows)?;
    check_body(&body)?;
    let mut tx = staff.school_tx(&state).await?;
    let token = calendar::new_feed(&mut tx, staff.staff.id).await?;
    let feed = calendar::status(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    let url = feed_url(&state, &staff, &token);
    Ok((
        StatusCode::CREATED,
        Json(FeedAnswer {
            url: Some(url),
            feed,
        }),
    ))
}

/// The feed's address for a token just made (served by [`feed`]).
pub(crate) fn feed_url(state: &AppState, staff: &CurrentStaff, token: &str) -> String {
    format!(
        "{}/calendar/{}/{token}.ics",
        state.web.origin, staff.school.slug
    )
}

/// `DELETE /api/windows/calendar-feed`: the address stops working.
#[utoipa::path(
    delete,
    path = "/api/windows/calendar-feed",
    tag = "windows",
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "The feed's address stops working"), crate::web::openapi::Failures)
)]
pub async fn revoke_feed(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<StatusCode, ApiError> {
    staff.require(Permission::ManageWindows)?;
    let mut tx = staff.school_tx(&state).await?;
    let revoked = calendar::revoke(&mut tx, staff.staff.id).await?;
    tx.commit().await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// How far back the feed reaches: a term's windows are enough for a calendar.
const FEED_HISTORY_DAYS: i64 = 120;

/// `GET /calendar/{school}/{token}.ics`: the school's windows for a calendar subscription. No
/// session: the secret address is the credential. Anything wrong is one plain 404.
pub async fn feed(
    State(state): State<AppState>,
    Path((slug, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let Some(token) = file.strip_suffix(".ics").filter(|t| t.len() <= 64) else {
        return Err(ApiError::NotFound);
    };
    let school = match crate::tenancy::find_school_by_slug(&state.db, &slug).await? {
        Some(s) if s.status == crate::tenancy::SchoolStatus::Active => s,
        _ => return Err(ApiError::NotFound),
    };
    let mut tx = crate::tenancy::begin_school_tx(&state.db, &school).await?;
    let Some(officer) = calendar::open(&mut tx, token).await? else {
        return Err(ApiError::NotFound);
    };
    // An officer who is no longer one has no feed, whether or not it was revoked.
    let roles = crate::auth::staff::roles(&mut tx, officer).await?;
    if !crate::auth::roles::any_allows(&roles, Permission::ManageWindows) {
        return Err(ApiError::NotFound);
    }
    let filter = ListFilter {
        from: Some(Utc::now() - chrono::Duration::days(FEED_HISTORY_DAYS)),
        ..ListFilter::default()
    };
    let windows = store::list(&mut tx, &filter, None).await?;
    tx.commit().await?;
    let body = calendar::render(&school.name, &windows);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
