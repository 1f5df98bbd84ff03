//! The admin API under `/emulator/`: seed the world, look inside it, set quotas and faults.
//! Not part of Google; documented in the crate's README.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::drive::store::Role;
use crate::emulator::{DEFAULT_SHORT_PAGE_SEED, Emulator, SetupError};
use crate::limits::FaultPlan;
use crate::paging::ShortPages;
use crate::seed::{Quotas, Seed, SeedCourse, SeedSharedDrive};

/// An admin request the emulator cannot carry out.
#[derive(Debug)]
pub struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<SetupError> for AdminError {
    fn from(e: SetupError) -> Self {
        Self(StatusCode::BAD_REQUEST, e.to_string())
    }
}

fn not_found(what: &str) -> AdminError {
    AdminError(StatusCode::NOT_FOUND, format!("no such {what}"))
}

pub fn router() -> Router<Emulator> {
    Router::new()
        .route("/seed", post(seed))
        .route("/users", post(add_user))
        .route("/users/{email}", get(user))
        .route("/users/{email}/revoke", post(revoke_user))
        .route("/users/{email}/declined-scopes", put(decline_scopes))
        .route("/courses", post(add_course))
        .route("/courses/{id}", get(course))
        .route("/courses/{id}/students", post(enrol))
        .route("/courses/{id}/students/{email}", delete(unenrol))
        .route("/courses/{id}/teachers", post(add_teacher))
        .route("/courses/{id}/state", put(course_state))
        .route("/shared-drives", post(add_shared_drive))
        .route("/shared-drives/{id}/files", get(drive_files))
        .route("/files/{id}", get(file))
        .route("/files/{id}/access/{email}", get(access))
        .route("/groups/{email}", put(set_group))
        .route("/service-accounts", post(add_service_account))
        .route("/service-accounts/{email}/key", get(service_account_key))
        .route("/tokens", post(issue_token))
        .route("/tokens/expire", post(expire_tokens))
        .route("/quotas", put(set_quotas))
        .route("/faults", delete(clear_faults))
        .route("/faults/{route}", put(set_faults))
        .route("/settings", put(settings))
        .route("/stats", get(stats).delete(reset_stats))
}

async fn seed(
    State(emu): State<Emulator>,
    Json(seed): Json<Seed>,
) -> Result<StatusCode, AdminError> {
    emu.apply_seed(&seed)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
}

async fn add_user(
    State(emu): State<Emulator>,
    Json(u): Json<NewUser>,
) -> Result<Json<Value>, AdminError> {
    let user = emu.add_user(&u.email, &u.given_name, &u.family_name)?;
    Ok(Json(json!(user)))
}

async fn user(
    State(emu): State<Emulator>,
    Path(email): Path<String>,
) -> Result<Json<Value>, AdminError> {
    emu.user(&email)
        .map(|u| Json(json!(u)))
        .ok_or_else(|| not_found("user"))
}

async fn revoke_user(State(emu): State<Emulator>, Path(email): Path<String>) -> Json<Value> {
    Json(json!({"revoked": emu.revoke_user(&email)}))
}

async fn decline_scopes(
    State(emu): State<Emulator>,
    Path(email): Path<String>,
    Json(scopes): Json<BTreeSet<String>>,
) -> StatusCode {
    emu.update_settings(|s| {
        s.declined_scopes.insert(email.to_ascii_lowercase(), scopes);
    });
    StatusCode::NO_CONTENT
}

async fn add_course(
    State(emu): State<Emulator>,
    Json(c): Json<SeedCourse>,
) -> Result<Json<Value>, AdminError> {
    let course = emu.directory_mut().add_course(
        c.id,
        &c.name,
        c.section,
        &c.owner,
        &c.teachers,
        &c.students,
        c.state.as_deref(),
        c.teacher_group_email,
    );
    Ok(Json(json!(course.map_err(SetupError::from)?)))
}

async fn course(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    emu.course(&id)
        .map(|c| Json(json!(c)))
        .ok_or_else(|| not_found("course"))
}

#[derive(Deserialize)]
struct Email {
    email: String,
}

async fn enrol(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    Json(e): Json<Email>,
) -> Result<StatusCode, AdminError> {
    emu.enrol_student(&id, &e.email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unenrol(
    State(emu): State<Emulator>,
    Path((id, email)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    emu.remove_student(&id, &email)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_teacher(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    Json(e): Json<Email>,
) -> Result<StatusCode, AdminError> {
    emu.add_teacher(&id, &e.email)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CourseState {
    state: String,
}

async fn course_state(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    Json(s): Json<CourseState>,
) -> Result<StatusCode, AdminError> {
    emu.set_course_state(&id, &s.state)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_shared_drive(
    State(emu): State<Emulator>,
    Json(d): Json<SeedSharedDrive>,
) -> Result<Json<Value>, AdminError> {
    let members = d
        .members
        .iter()
        .map(|m| {
            Role::parse(&m.role)
                .map(|r| (m.email.clone(), r))
                .ok_or_else(|| {
                    AdminError(
                        StatusCode::BAD_REQUEST,
                        format!("unknown role {:?}", m.role),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(
        json!({"id": emu.create_shared_drive(d.id, &d.name, &members)}),
    ))
}

async fn drive_files(State(emu): State<Emulator>, Path(id): Path<String>) -> Json<Value> {
    Json(json!(emu.files_in_drive(&id)))
}

async fn file(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    emu.file(&id)
        .map(|f| Json(json!(f)))
        .ok_or_else(|| not_found("file"))
}

/// What one person can do with one item: `{"role": "writer", "can_edit": true}`.
async fn access(
    State(emu): State<Emulator>,
    Path((id, email)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    if emu.file(&id).is_none() {
        return Err(not_found("file"));
    }
    let role = emu.access(&id, &email);
    Ok(Json(json!({
        "role": role.map(Role::as_str),
        "can_edit": role.is_some_and(Role::can_edit),
    })))
}

async fn set_group(
    State(emu): State<Emulator>,
    Path(email): Path<String>,
    Json(members): Json<Vec<String>>,
) -> StatusCode {
    emu.set_group(&email, &members);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewServiceAccount {
    email: String,
    client_id: Option<String>,
}

async fn add_service_account(
    State(emu): State<Emulator>,
    Json(sa): Json<NewServiceAccount>,
) -> Result<Json<Value>, AdminError> {
    emu.add_service_account(&sa.email, sa.client_id.as_deref());
    emu.service_account_key_file(&sa.email)
        .map(Json)
        .ok_or_else(|| not_found("service account"))
}

async fn service_account_key(
    State(emu): State<Emulator>,
    Path(email): Path<String>,
) -> Result<Json<Value>, AdminError> {
    emu.service_account_key_file(&email)
        .map(Json)
        .ok_or_else(|| not_found("service account"))
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    scopes: Vec<String>,
    client_id: String,
}

async fn issue_token(
    State(emu): State<Emulator>,
    Json(t): Json<TokenRequest>,
) -> Result<Json<Value>, AdminError> {
    let scopes: Vec<&str> = t.scopes.iter().map(String::as_str).collect();
    emu.issue_access_token(&t.email, &scopes, &t.client_id)
        .map(|token| Json(json!({"access_token": token})))
        .ok_or_else(|| not_found("user or service account"))
}

async fn expire_tokens(State(emu): State<Emulator>) -> StatusCode {
    emu.expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn set_quotas(State(emu): State<Emulator>, Json(q): Json<Quotas>) -> StatusCode {
    emu.set_quotas(q);
    StatusCode::NO_CONTENT
}

async fn set_faults(
    State(emu): State<Emulator>,
    Path(route): Path<String>,
    Json(plan): Json<FaultPlan>,
) -> StatusCode {
    emu.set_faults(&route, plan);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(emu): State<Emulator>) -> StatusCode {
    emu.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    auto_consent: Option<bool>,
    access_token_ttl_secs: Option<i64>,
    /// Absent: unchanged; `null`: no cap; a number: the cap.
    #[serde(default, deserialize_with = "present")]
    max_page_size: Option<Option<usize>>,
    short_pages: Option<bool>,
    short_page_seed: Option<u64>,
}

/// A field that is present, even as `null` (serde would read `null` as absent).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn settings(State(emu): State<Emulator>, Json(c): Json<SettingsChange>) -> StatusCode {
    emu.update_settings(|s| {
        if let Some(v) = c.auto_consent {
            s.auto_consent = v;
        }
        if let Some(v) = c.access_token_ttl_secs {
            s.access_token_ttl_secs = v;
        }
        if let Some(v) = c.max_page_size {
            s.max_page_size = v;
        }
        let seed = match s.short_pages {
            ShortPages::Seeded(seed) => seed,
            ShortPages::Never => DEFAULT_SHORT_PAGE_SEED,
        };
        let seed = c.short_page_seed.unwrap_or(seed);
        let on = c
            .short_pages
            .unwrap_or(s.short_pages != ShortPages::Never || c.short_page_seed.is_some());
        s.short_pages = if on {
            ShortPages::Seeded(seed)
        } else {
            ShortPages::Never
        };
    });
    StatusCode::NO_CONTENT
}

async fn stats(State(emu): State<Emulator>) -> Json<Value> {
    Json(json!(emu.stats()))
}

async fn reset_stats(State(emu): State<Emulator>) -> StatusCode {
    emu.reset_stats();
    StatusCode::NO_CONTENT
}
