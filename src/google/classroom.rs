//! Typed Classroom operations, as one staff member: their active courses, and every student and
//! teacher of a course (all pages, duplicates dropped).

use std::collections::HashSet;

use google_classroom1::Classroom;
use uuid::Uuid;

use super::error::GoogleError;
use super::rate_limit::RateLimiter;
use super::retry::{RetryAfter, RetryPolicy, with_retry};
use super::token::TokenSource;
use super::{Connector, GoogleEndpoints, HyperClient, REQUEST_TIMEOUT, guard_call};
use crate::input::{self, EmailAddress};

/// Names from Classroom are cut to this many characters.
const NAME_MAX_CHARS: usize = 200;

/// Paging stops here even if Google keeps sending page tokens.
const MAX_PAGES: usize = 500;

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
    /// Requests sent (every attempt, retries included).
    calls: std::sync::atomic::AtomicU64,
    hub: Classroom<Connector>,
    tokens: TokenSource,
    limiter: RateLimiter,
    retry: RetryPolicy,
    school_id: Uuid,
}

#[derive(Clone, Copy)]
enum Roster {
    Students,
    Teachers,
}

impl ClassroomClient {
    pub(super) fn new(
        hyper: &HyperClient,
        endpoints: &GoogleEndpoints,
        tokens: TokenSource,
        limiter: RateLimiter,
        retry: RetryPolicy,
        school_id: Uuid,
    ) -> Self {
        let mut hub = Classroom::new(hyper.clone(), tokens.clone());
        let root = endpoints.classroom_root.to_string();
        hub.base_url(root.clone());
        hub.root_url(root);
        Self {
            calls: std::sync::atomic::AtomicU64::new(0),
            hub,
            tokens,
            limiter,
            retry,
            school_id,
        }
    }

    pub fn account(&self) -> &str {
        self.tokens.account()
    }

    /// Requests this client has sent, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn throttle(&self) {
        self.limiter
            .acquire(&super::limit_key(self.school_id))
            .await;
    }

    async fn call<T, F, Fut>(&self, op: &'static str, mut call: F) -> Result<T, GoogleError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GoogleError>>,
    {
        let result = with_retry(
            &self.retry,
            self.tokens.account(),
            || self.tokens.invalidate(),
            || {
                self.calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                guard_call(op, REQUEST_TIMEOUT, call())
            },
        )
        .await;
        super::record_refusal(&self.tokens, result).await
    }

    /// The ACTIVE courses this person teaches, all pages.
    #[tracing::instrument(skip(self))]
    pub async fn list_my_courses(&self) -> Result<Vec<ClassroomCourse>, GoogleError> {
        let op = "list courses";
        let mut courses = Vec::new();
        let mut seen = HashSet::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .call(op, || async {
                    self.throttle().await;
                    let mut retry_after = RetryAfter::default();
                    let mut call = self
                        .hub
                        .courses()
                        .list()
                        .teacher_id("me")
                        .add_course_states("ACTIVE")
                        .page_size(100);
                    if let Some(t) = &page_token {
                        call = call.page_token(t);
                    }
                    let result = call.delegate(&mut retry_after).doit().await;
                    result
                        .map(|(_, p)| p)
                        .map_err(|e| GoogleError::from_api(op, e, retry_after.0))
                })
                .await?;
            for c in page.courses.unwrap_or_default() {
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
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => page_token = Some(next),
                None => return Ok(courses),
            }
        }
        Err(GoogleError::Transient {
            op,
            detail: format!("Classroom kept returning page tokens after {MAX_PAGES} pages"),
        })
    }

    /// A user's email address as Classroom shows it to this account (`None` when hidden).
    #[tracing::instrument(skip(self))]
    pub async fn user_email(&self, user_id: &str) -> Result<Option<String>, GoogleError> {
        let op = "get user profile";
        let profile = self
            .call(op, || async {
                self.throttle().await;
                let mut retry_after = RetryAfter::default();
                let result = self
                    .hub
                    .user_profiles()
                    .get(user_id)
                    .delegate(&mut retry_after)
                    .doit()
                    .await;
                result
                    .map(|(_, p)| p)
                    .map_err(|e| GoogleError::from_api(op, e, retry_after.0))
            })
            .await?;
        Ok(profile
            .email_address
            .and_then(|e| EmailAddress::parse(&e).ok())
            .map(|e| e.as_str().to_owned()))
    }

    /// Every student of a course.
    pub async fn list_students(&self, course_id: &str) -> Result<Vec<RosterMember>, GoogleError> {
        self.roster(course_id, Roster::Students).await
    }

    /// Every teacher of a course.
    pub async fn list_teachers(&self, course_id: &str) -> Result<Vec<RosterMember>, GoogleError> {
        self.roster(course_id, Roster::Teachers).await
    }

    #[tracing::instrument(skip(self, roster))]
    async fn roster(
        &self,
        course_id: &str,
        roster: Roster,
    ) -> Result<Vec<RosterMember>, GoogleError> {
        let op = match roster {
            Roster::Students => "list students",
            Roster::Teachers => "list teachers",
        };
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (profiles, next) = self
                .call(op, || async {
                    self.throttle().await;
                    let mut retry_after = RetryAfter::default();
                    let token = page_token.clone();
                    match roster {
                        Roster::Students => {
                            let mut call =
                                self.hub.courses().students_list(course_id).page_size(100);
                            if let Some(t) = &token {
                                call = call.page_token(t);
                            }
                            let result = call.delegate(&mut retry_after).doit().await;
                            let after = retry_after.0;
                            result
                                .map(|(_, p)| {
                                    let list = p.students.unwrap_or_default();
                                    (
                                        list.into_iter()
                                            .map(|s| (s.user_id, s.profile))
                                            .collect::<Vec<_>>(),
                                        p.next_page_token,
                                    )
                                })
                                .map_err(|e| GoogleError::from_api(op, e, after))
                        }
                        Roster::Teachers => {
                            let mut call =
                                self.hub.courses().teachers_list(course_id).page_size(100);
                            if let Some(t) = &token {
                                call = call.page_token(t);
                            }
                            let result = call.delegate(&mut retry_after).doit().await;
                            let after = retry_after.0;
                            result
                                .map(|(_, p)| {
                                    let list = p.teachers.unwrap_or_default();
                                    (
                                        list.into_iter()
                                            .map(|t| (t.user_id, t.profile))
                                            .collect::<Vec<_>>(),
                                        p.next_page_token,
                                    )
                                })
                                .map_err(|e| GoogleError::from_api(op, e, after))
                        }
                    }
                })
                .await?;
            for (user_id, profile) in profiles {
                let profile = profile.unwrap_or_default();
                let Some(user_id) = user_id.or(profile.id.clone()).filter(|id| !id.is_empty())
                else {
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
            match next.filter(|t| !t.is_empty()) {
                Some(next) => page_token = Some(next),
                None => return Ok(members),
            }
        }
        Err(GoogleError::Transient {
            op,
            detail: format!("Classroom kept returning page tokens after {MAX_PAGES} pages"),
        })
    }
}
