//! Typed Classroom operations, as one staff member: their active courses, and every student and
//! teacher of a course (all pages, duplicates dropped).

use std::collections::HashSet;

use google_classroom1::Classroom;

use super::call::{ApiCaller, all_pages};
use super::circuit::Circuit;
use super::error::GoogleError;
use super::rate_limit::{Limit, SharedLimits};
use super::retry::RetryPolicy;
use super::token::TokenSource;
use super::{Connector, GoogleEndpoints, HyperClient};
use crate::input::{self, EmailAddress};

/// Names from Classroom are cut to this many characters.
const NAME_MAX_CHARS: usize = 200;

/// Paging stops here even if Google keeps sending page tokens.
const MAX_PAGES: u32 = 500;

/// A course's state; states Classroom may add later are kept, not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourseState {
    Active,
    Archived,
    Provisioned,
    Declined,
    Suspended,
    Other(String),
}

impl CourseState {
    pub fn parse(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "ARCHIVED" => Self::Archived,
            "PROVISIONED" => Self::Provisioned,
            "DECLINED" => Self::Declined,
            "SUSPENDED" => Self::Suspended,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A Classroom course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassroomCourse {
    pub id: String,
    /// Empty when Classroom sent none; callers decide what to show.
    pub name: String,
    pub section: Option<String>,
    pub state: CourseState,
    pub owner_id: Option<String>,
    pub teacher_group_email: Option<String>,
}

/// A student or teacher on a roster. Classroom may omit any profile field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterMember {
    pub user_id: String,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub full_name: Option<String>,
}

/// Classroom, as one staff member.
pub struct ClassroomClient {
    hub: Classroom<Connector>,
    caller: ApiCaller,
}

/// One page of a roster: each member's user id and profile, and the next page's token.
type RosterPage = (
    Vec<(Option<String>, Option<google_classroom1::api::UserProfile>)>,
    Option<String>,
);

impl ClassroomClient {
    pub(super) fn new(
        hyper: &HyperClient,
        endpoints: &GoogleEndpoints,
        tokens: TokenSource,
        limits: SharedLimits,
        limits_used: Vec<Limit>,
        retry: RetryPolicy,
        circuit: Circuit,
    ) -> Self {
        let mut hub = Classroom::new(hyper.clone(), tokens.clone());
        let root = endpoints.classroom_root.to_string();
        hub.base_url(root.clone());
        hub.root_url(root);
        Self {
            hub,
            caller: ApiCaller::new("classroom", tokens, limits, limits_used, retry, circuit),
        }
    }

    pub fn account(&self) -> &str {
        self.caller.account()
    }

    /// Requests this client has sent, retries included.
    pub fn calls(&self) -> u64 {
        self.caller.sent()
    }

    /// The ACTIVE courses this person teaches, all pages.
    #[tracing::instrument(skip(self))]
    pub async fn list_my_courses(&self) -> Result<Vec<ClassroomCourse>, GoogleError> {
        let op = "list courses";
        let (listed, _) = all_pages(op, MAX_PAGES, |token| async move {
            let token = &token;
            let page = self
                .caller
                .send(op, |mut delegate| async move {
                    let mut call = self
                        .hub
                        .courses()
                        .list()
                        .teacher_id("me")
                        .add_course_states("ACTIVE")
                        .page_size(100);
                    if let Some(t) = token {
                        call = call.page_token(t);
                    }
                    call.delegate(&mut delegate).doit().await
                })
                .await?;
            Ok((page.courses.unwrap_or_default(), page.next_page_token))
        })
        .await?;
        let mut courses = Vec::new();
        let mut seen = HashSet::new();
        for c in listed {
            let Some(id) = c.id.filter(|id| !id.is_empty()) else {
                tracing::warn!("Classroom listed a course without an id; skipped");
                continue;
            };
            if !seen.insert(id.clone()) {
                tracing::warn!(course = %id, "Classroom listed a course twice; kept the first");
                continue;
            }
            courses.push(ClassroomCourse {
                name: input::from_google(c.name, NAME_MAX_CHARS).unwrap_or_default(),
                section: input::from_google(c.section, NAME_MAX_CHARS),
                state: CourseState::parse(c.course_state.as_deref().unwrap_or("")),
                owner_id: c.owner_id,
                teacher_group_email: c.teacher_group_email,
                id,
            });
        }
        Ok(courses)
    }

    /// A user's email address as Classroom shows it to this account (`None` when hidden).
    #[tracing::instrument(skip(self))]
    pub async fn user_email(&self, user_id: &str) -> Result<Option<String>, GoogleError> {
        let profile = self
            .caller
            .send("get user profile", |mut delegate| async move {
                self.hub
                    .user_profiles()
                    .get(user_id)
                    .delegate(&mut delegate)
                    .doit()
                    .await
            })
            .await?;
        Ok(profile
            .email_address
            .and_then(|e| EmailAddress::parse(&e).ok())
            .map(|e| e.as_str().to_owned()))
    }

    /// Every student of a course.
    pub async fn list_students(&self, course_id: &str) -> Result<Vec<RosterMember>, GoogleError> {
        let op = "list students";
        let (entries, _) = all_pages(op, MAX_PAGES, |token| async move {
            let token = &token;
            self.caller
                .send(op, |mut delegate| async move {
                    let mut call = self.hub.courses().students_list(course_id).page_size(100);
                    if let Some(t) = token {
                        call = call.page_token(t);
                    }
                    call.delegate(&mut delegate).doit().await
                })
                .await
                .map(|page| -> RosterPage {
                    let list = page.students.unwrap_or_default();
                    (
                        list.into_iter().map(|s| (s.user_id, s.profile)).collect(),
                        page.next_page_token,
                    )
                })
        })
        .await?;
        Ok(roster_members(course_id, entries))
    }

    /// Every teacher of a course.
    pub async fn list_teachers(&self, course_id: &str) -> Result<Vec<RosterMember>, GoogleError> {
        let op = "list teachers";
        let (entries, _) = all_pages(op, MAX_PAGES, |token| async move {
            let token = &token;
            self.caller
                .send(op, |mut delegate| async move {
                    let mut call = self.hub.courses().teachers_list(course_id).page_size(100);
                    if let Some(t) = token {
                        call = call.page_token(t);
                    }
                    call.delegate(&mut delegate).doit().await
                })
                .await
                .map(|page| -> RosterPage {
                    let list = page.teachers.unwrap_or_default();
                    (
                        list.into_iter().map(|t| (t.user_id, t.profile)).collect(),
                        page.next_page_token,
                    )
                })
        })
        .await?;
        Ok(roster_members(course_id, entries))
    }
}

/// Roster entries as we keep them: each user once, with an id, names and address cleaned.
fn roster_members(
    course_id: &str,
    entries: Vec<(Option<String>, Option<google_classroom1::api::UserProfile>)>,
) -> Vec<RosterMember> {
    let mut members = Vec::new();
    let mut seen = HashSet::new();
    for (user_id, profile) in entries {
        let profile = profile.unwrap_or_default();
        let Some(user_id) = user_id.or(profile.id.clone()).filter(|id| !id.is_empty()) else {
            tracing::warn!(course = %course_id, "a roster entry had no user id; skipped");
            continue;
        };
        if !seen.insert(user_id.clone()) {
            tracing::warn!(course = %course_id, user = %user_id, "listed twice; kept the first");
            continue;
        }
        let name = profile.name.unwrap_or_default();
        // Cleaned, not refused: a NUL in one pupil's name must not fail a whole class.
        members.push(RosterMember {
            user_id,
            email: profile
                .email_address
                .and_then(|e| EmailAddress::parse(&e).ok())
                .map(|e| e.as_str().to_owned()),
            given_name: input::from_google(name.given_name, NAME_MAX_CHARS),
            family_name: input::from_google(name.family_name, NAME_MAX_CHARS),
            full_name: input::from_google(name.full_name, NAME_MAX_CHARS),
        });
    }
    members
}
