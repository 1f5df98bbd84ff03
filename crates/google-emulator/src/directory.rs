//! People, OAuth clients, service accounts and Classroom courses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rand::Rng;

/// A Google account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub photo_url: Option<String>,
    pub email_verified: bool,
    pub domain_admin: bool,
    /// The Workspace domain (`hd`), if the email's domain is one.
    pub hosted_domain: Option<String>,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
            .trim()
            .to_owned()
    }
}

/// An OAuth client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// A Classroom course.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Course {
    pub id: String,
    pub name: String,
    pub section: Option<String>,
    pub owner_id: String,
    pub state: String,
    pub teacher_group_email: Option<String>,
    pub course_group_email: String,
    pub enrollment_code: String,
    pub creation_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub teachers: Vec<String>,
    pub students: Vec<String>,
    /// Order of creation: courses made in the same millisecond still list newest first.
    pub created_seq: u64,
}

/// Course states Classroom knows.
pub const COURSE_STATES: &[&str] = &["ACTIVE", "ARCHIVED", "PROVISIONED", "DECLINED", "SUSPENDED"];

/// Everyone and every class.
#[derive(Debug, Default)]
pub struct Directory {
    pub domains: BTreeSet<String>,
    pub users: HashMap<String, User>,
    by_email: HashMap<String, String>,
    pub clients: HashMap<String, OAuthClient>,
    pub courses: BTreeMap<String, Course>,
    courses_created: u64,
}

/// Why a directory change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("no user with email {0}")]
    UnknownUser(String),
    #[error("a user with email {0} already exists")]
    DuplicateUser(String),
    #[error("no course with id {0}")]
    UnknownCourse(String),
    #[error("course state {0:?} is not one of ACTIVE, ARCHIVED, PROVISIONED, DECLINED, SUSPENDED")]
    BadCourseState(String),
    #[error("{0:?} is not an email address")]
    BadEmail(String),
}

/// A numeric id in Google's style (21 digits, no leading zero).
pub fn numeric_id() -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(21);
    id.push(char::from(b'1' + rng.gen_range(0..9)));
    for _ in 0..20 {
        id.push(char::from(b'0' + rng.gen_range(0..10)));
    }
    id
}

impl Directory {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.by_email
            .get(&email.to_ascii_lowercase())
            .and_then(|id| self.users.get(id))
    }

    /// A user by id, by email, or `"me"` given the caller's id.
    pub fn resolve_user(&self, key: &str, me: Option<&str>) -> Option<&User> {
        match key {
            "me" => me.and_then(|id| self.users.get(id)),
            k if k.contains('@') => self.user_by_email(k),
            k => self.users.get(k),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_user(
        &mut self,
        id: Option<String>,
        email: &str,
        given_name: &str,
        family_name: &str,
        photo_url: Option<String>,
        email_verified: bool,
        domain_admin: bool,
    ) -> Result<User, DirectoryError> {
        let email = email.trim().to_ascii_lowercase();
        let Some((_, domain)) = email
            .split_once('@')
            .filter(|(l, d)| !l.is_empty() && d.contains('.'))
        else {
            return Err(DirectoryError::BadEmail(email));
        };
        if self.by_email.contains_key(&email) {
            return Err(DirectoryError::DuplicateUser(email));
        }
        let user = User {
            id: id.unwrap_or_else(numeric_id),
            hosted_domain: self.domains.contains(domain).then(|| domain.to_owned()),
            email: email.clone(),
            given_name: given_name.to_owned(),
            family_name: family_name.to_owned(),
            photo_url,
            email_verified,
            domain_admin,
        };
        self.by_email.insert(email, user.id.clone());
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    pub fn add_domain(&mut self, domain: &str) {
        let domain = domain.trim().to_ascii_lowercase();
        for user in self.users.values_mut() {
            if user.email.ends_with(&format!("@{domain}")) {
                user.hosted_domain = Some(domain.clone());
            }
        }
        self.domains.insert(domain);
    }

    fn id_of(&self, email: &str) -> Result<String, DirectoryError> {
        self.user_by_email(email)
            .map(|u| u.id.clone())
            .ok_or_else(|| DirectoryError::UnknownUser(email.to_owned()))
    }

    /// Adds a course; `owner`, `teachers` and `students` are emails of existing users.
    #[allow(clippy::too_many_arguments)]
    pub fn add_course(
        &mut self,
        id: Option<String>,
        name: &str,
        section: Option<String>,
        owner: &str,
        teachers: &[String],
        students: &[String],
        state: Option<&str>,
        teacher_group_email: Option<String>,
    ) -> Result<Course, DirectoryError> {
        let state = state.unwrap_or("ACTIVE").to_owned();
        if !COURSE_STATES.contains(&state.as_str()) {
            return Err(DirectoryError::BadCourseState(state));
        }
        let owner_id = self.id_of(owner)?;
        let mut teacher_ids = vec![owner_id.clone()];
        for t in teachers {
            let id = self.id_of(t)?;
            if !teacher_ids.contains(&id) {
                teacher_ids.push(id);
            }
        }
        let mut student_ids = Vec::new();
        for s in students {
            let id = self.id_of(s)?;
            if !student_ids.contains(&id) {
                student_ids.push(id);
            }
        }
        let id = id.unwrap_or_else(|| numeric_id()[..12].to_owned());
        let now = Utc::now();
        self.courses_created += 1;
        let domain = owner.rsplit('@').next().unwrap_or("example.org").to_owned();
        let course = Course {
            course_group_email: format!("course_{id}@{domain}"),
            enrollment_code: id.chars().rev().take(7).collect(),
            id: id.clone(),
            name: name.to_owned(),
            section,
            owner_id,
            state,
            teacher_group_email,
            creation_time: now,
            update_time: now,
            teachers: teacher_ids,
            students: student_ids,
            created_seq: self.courses_created,
        };
        self.courses.insert(id, course.clone());
        Ok(course)
    }

    pub fn course_mut(&mut self, id: &str) -> Result<&mut Course, DirectoryError> {
        self.courses
            .get_mut(id)
            .ok_or_else(|| DirectoryError::UnknownCourse(id.to_owned()))
    }

    /// Adds (or with `remove`, takes away) a student from a course.
    pub fn set_student(
        &mut self,
        course_id: &str,
        email: &str,
        remove: bool,
    ) -> Result<(), DirectoryError> {
        let user_id = self.id_of(email)?;
        let course = self.course_mut(course_id)?;
        course.students.retain(|s| *s != user_id);
        if !remove {
            course.students.push(user_id);
        }
        course.update_time = Utc::now();
        Ok(())
    }

    /// Adds (or removes) a teacher.
    pub fn set_teacher(
        &mut self,
        course_id: &str,
        email: &str,
        remove: bool,
    ) -> Result<(), DirectoryError> {
        let user_id = self.id_of(email)?;
        let course = self.course_mut(course_id)?;
        course.teachers.retain(|s| *s != user_id);
        if !remove {
            course.teachers.push(user_id);
        }
        course.update_time = Utc::now();
        Ok(())
    }

    pub fn set_course_state(&mut self, course_id: &str, state: &str) -> Result<(), DirectoryError> {
        if !COURSE_STATES.contains(&state) {
            return Err(DirectoryError::BadCourseState(state.to_owned()));
        }
        let course = self.course_mut(course_id)?;
        state.clone_into(&mut course.state);
        course.update_time = Utc::now();
        Ok(())
    }

    pub fn add_client(&mut self, client: OAuthClient) {
        self.clients.insert(client.client_id.clone(), client);
    }
}
