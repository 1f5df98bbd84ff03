//! Classroom v1: courses, their students and teachers, and user profiles.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use crate::auth::{Caller, scope};
use crate::directory::{COURSE_STATES, Course, Directory, User};
use crate::emulator::Emulator;
use crate::error::GoogleError;
use crate::paging;

const DEFAULT_COURSE_PAGE: usize = 100;
const DEFAULT_ROSTER_PAGE: usize = 30;
const MAX_PAGE: usize = 1000;

/// Query parameters, with repeated keys kept (`courseStates=ACTIVE&courseStates=ARCHIVED`).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `pageSize`: zero or absent means `default`; above Classroom's maximum it is reduced to it.
    fn page_size(&self, emu: &Emulator, default: usize) -> Result<usize, GoogleError> {
        let requested = match self.one("pageSize") {
            None => default,
            Some(v) => match v.parse::<i64>() {
                Ok(0) => default,
                Ok(n) if n > 0 => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
                _ => {
                    return Err(GoogleError::invalid_parameter(
                        "pageSize",
                        "Request contains an invalid argument.",
                    ));
                }
            },
        };
        Ok(emu.settings().page_size(requested))
    }
}

/// Whether the caller may see a course, by Classroom's documented rules for each state: a
/// `SUSPENDED` course only its owner; a `PROVISIONED` or `DECLINED` one its owner and the domain's
/// administrators; any other its teachers, its students and the domain's administrators.
fn can_view(dir: &Directory, caller: &Caller, course: &Course) -> bool {
    let Some(me) = caller.principal.user_id.as_deref() else {
        return false;
    };
    let owner = course.owner_id == me;
    let domain_admin = || {
        dir.user(me).is_some_and(|u| {
            u.domain_admin
                && dir
                    .user(&course.owner_id)
                    .is_some_and(|owner| owner.hosted_domain == u.hosted_domain)
        })
    };
    match course.state.as_str() {
        "SUSPENDED" => owner,
        "PROVISIONED" | "DECLINED" => owner || domain_admin(),
        _ => {
            course.teachers.iter().any(|t| t == me)
                || course.students.iter().any(|s| s == me)
                || domain_admin()
        }
    }
}

fn course_json(c: &Course) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "ownerId": c.owner_id,
        "creationTime": c.creation_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updateTime": c.update_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "enrollmentCode": c.enrollment_code,
        "courseState": c.state,
        "alternateLink": format!("https://classroom.google.com/c/{}", c.id),
        "courseGroupEmail": c.course_group_email,
        "guardiansEnabled": false,
        "calendarId": format!("classroom{}@group.calendar.google.com", c.id),
    });
    if let Some(section) = &c.section {
        v["section"] = json!(section);
    }
    if let Some(group) = &c.teacher_group_email {
        v["teacherGroupEmail"] = json!(group);
    }
    v
}

/// A `UserProfile`; email and photo only with the scopes that reveal them, as Classroom does.
fn profile_json(u: &User, caller: &Caller) -> Value {
    let mut v = json!({
        "id": u.id,
        "name": {
            "givenName": u.given_name,
            "familyName": u.family_name,
            "fullName": u.full_name(),
        },
    });
    if caller.has(scope::PROFILE_EMAILS) {
        v["emailAddress"] = json!(u.email);
    }
    if caller.has(scope::PROFILE_PHOTOS) {
        v["photoUrl"] = json!(
            u.photo_url
                .clone()
                .unwrap_or_else(|| "//lh3.googleusercontent.com/a/default-user".to_owned())
        );
    }
    v
}

/// `GET /v1/courses`
pub async fn list_courses(
    State(emu): State<Emulator>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(&[scope::COURSES, scope::COURSES_READONLY])?;
    let params = Params::parse(raw);
    let states = params.all("courseStates");
    if let Some(bad) = states.iter().find(|s| !COURSE_STATES.contains(s)) {
        return Err(GoogleError::invalid_parameter(
            "courseStates",
            format!("Invalid value at 'course_states' ({bad})"),
        ));
    }
    if params.one("teacherId").is_some() && params.one("studentId").is_some() {
        return Err(GoogleError::invalid_parameter(
            "studentId",
            "Request contains an invalid argument: teacherId and studentId cannot both be set.",
        ));
    }
    let page_size = params.page_size(&emu, DEFAULT_COURSE_PAGE)?;
    let me = caller.principal.user_id.as_deref();
    let courses: Vec<Value> = {
        let dir = emu.directory();
        // A user named in the query who does not exist is NOT_FOUND, as Classroom documents.
        let resolve = |key: &str| -> Result<Option<String>, GoogleError> {
            params
                .one(key)
                .map(|k| {
                    dir.resolve_user(k, me)
                        .map(|u| u.id.clone())
                        .ok_or_else(GoogleError::entity_not_found)
                })
                .transpose()
        };
        let teacher = resolve("teacherId")?;
        let student = resolve("studentId")?;
        let mut courses: Vec<&Course> = dir
            .courses
            .values()
            .filter(|c| can_view(&dir, &caller, c))
            .filter(|c| teacher.as_ref().is_none_or(|t| c.teachers.contains(t)))
            .filter(|c| student.as_ref().is_none_or(|s| c.students.contains(s)))
            .filter(|c| states.is_empty() || states.contains(&c.state.as_str()))
            .collect();
        // Newest first, as Classroom documents.
        courses.sort_by(|a, b| {
            (b.creation_time, b.created_seq).cmp(&(a.creation_time, a.created_seq))
        });
        courses.into_iter().map(course_json).collect()
    };
    let fingerprint = format!(
        "courses|{:?}|{:?}|{states:?}",
        params.one("teacherId"),
        params.one("studentId")
    );
    let (page, next) = paging::page(
        &courses,
        page_size,
        emu.settings().short_pages,
        params.one("pageToken"),
        &fingerprint,
    )
    .map_err(|e| GoogleError::invalid_parameter("pageToken", e.to_string()))?;
    let mut body = json!({});
    if !page.is_empty() {
        body["courses"] = json!(page);
    }
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Ok(Json(body))
}

/// `GET /v1/courses/{id}`
pub async fn get_course(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(&[scope::COURSES, scope::COURSES_READONLY])?;
    let dir = emu.directory();
    let course = dir
        .courses
        .get(&id)
        .ok_or_else(GoogleError::entity_not_found)?;
    if !can_view(&dir, &caller, course) {
        return Err(GoogleError::caller_lacks_permission());
    }
    Ok(Json(course_json(course)))
}

/// Which roster a list call reads.
#[derive(Clone, Copy)]
enum Roster {
    Students,
    Teachers,
}

async fn list_roster(
    emu: Emulator,
    caller: Caller,
    course_id: String,
    raw: Option<String>,
    roster: Roster,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(&[scope::ROSTERS, scope::ROSTERS_READONLY])?;
    let params = Params::parse(raw);
    let page_size = params.page_size(&emu, DEFAULT_ROSTER_PAGE)?;
    let members: Vec<Value> = {
        let dir = emu.directory();
        let course = dir
            .courses
            .get(&course_id)
            .ok_or_else(GoogleError::entity_not_found)?;
        if !can_view(&dir, &caller, course) {
            return Err(GoogleError::caller_lacks_permission());
        }
        let ids = match roster {
            Roster::Students => &course.students,
            Roster::Teachers => &course.teachers,
        };
        ids.iter()
            .filter_map(|id| dir.user(id))
            .map(|u| {
                json!({
                    "courseId": course.id,
                    "userId": u.id,
                    "profile": profile_json(u, &caller),
                })
            })
            .collect()
    };
    let key = match roster {
        Roster::Students => "students",
        Roster::Teachers => "teachers",
    };
    let (page, next) = paging::page(
        &members,
        page_size,
        emu.settings().short_pages,
        params.one("pageToken"),
        &format!("{key}|{course_id}"),
    )
    .map_err(|e| GoogleError::invalid_parameter("pageToken", e.to_string()))?;
    let mut body = json!({});
    if !page.is_empty() {
        body[key] = json!(page);
    }
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Ok(Json(body))
}

/// `GET /v1/courses/{courseId}/students`
pub async fn list_students(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(course_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    list_roster(emu, caller, course_id, raw, Roster::Students).await
}

/// `GET /v1/courses/{courseId}/teachers`
pub async fn list_teachers(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(course_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, GoogleError> {
    list_roster(emu, caller, course_id, raw, Roster::Teachers).await
}

/// `GET /v1/userProfiles/{userId}` (`me`, an id or an email). A profile that does not exist is
/// `PERMISSION_DENIED`, not `NOT_FOUND`, as Classroom documents: it does not reveal who exists.
pub async fn get_user_profile(
    State(emu): State<Emulator>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, GoogleError> {
    caller.require_any(&[
        scope::ROSTERS,
        scope::ROSTERS_READONLY,
        scope::PROFILE_EMAILS,
        scope::PROFILE_PHOTOS,
    ])?;
    let dir = emu.directory();
    let user = dir
        .resolve_user(&user_id, caller.principal.user_id.as_deref())
        .ok_or_else(GoogleError::caller_lacks_permission)?;
    let mut profile = profile_json(user, &caller);
    profile["permissions"] = json!([]);
    Ok(Json(profile))
}
