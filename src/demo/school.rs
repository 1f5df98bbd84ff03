//! The demo school, Riverside Academy: a fictional school on the reserved `.example` domain
//! (no real people or addresses), as data. Six classes of exactly 30 in three subjects and
//! Years 10 and 11, 150 students, three teachers and one member of staff in each other role.
//!
//! Staff addresses are `initial.surname@`, students' `y10.given.family@`: the emulator's account
//! chooser lists accounts by address, so every member of staff comes before the first student
//! and a visitor finds who to be at the top of the page (a test holds the order).

use google_emulator::Seed;
use google_emulator::seed::{SeedClient, SeedCourse, SeedMember, SeedSharedDrive, SeedUser};

use crate::auth::roles::Role;

pub const SLUG: &str = "riverside";
pub const NAME: &str = "Riverside Academy";
pub const DOMAIN: &str = "riverside.example";
pub const SHARED_DRIVE_ID: &str = "0ARiversidePortfolios";
/// The staff addresses in its settings: `initial.surname@` is staff, `y10.given.family@` not.
pub const STAFF_ADDRESSES: &str = "?.*@riverside.example";
pub const SHARED_DRIVE_NAME: &str = "Riverside Portfolios";

/// Students in each class: the browser tests watch a whole class lock ("30 of 30").
pub const CLASS_SIZE: usize = 30;
/// Students in each year group; some are in two classes of their year.
pub const YEAR_SIZE: usize = 75;
pub const YEARS: [i16; 2] = [10, 11];

/// A class as Classroom holds it, with where the School Admin's rules place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub classroom_id: &'static str,
    pub name: &'static str,
    pub section: &'static str,
    pub subject: &'static str,
    pub year: i16,
    /// The teacher who owns it in Classroom (an email of [`STAFF`]).
    pub teacher: &'static str,
}

/// Subjects in the order of each year's classes (see [`students_of`]).
pub const SUBJECTS: [&str; 3] = ["Art and Design", "Computer Science", "Geography"];

pub const CLASSES: [Class; 6] = [
    Class {
        classroom_id: "610000000001",
        name: "10A Art and Design",
        section: "10A",
        subject: "Art and Design",
        year: 10,
        teacher: "a.okafor@riverside.example",
    },
    Class {
        classroom_id: "610000000002",
        name: "11A Art and Design",
        section: "11A",
        subject: "Art and Design",
        year: 11,
        teacher: "a.okafor@riverside.example",
    },
    Class {
        classroom_id: "610000000003",
        name: "10C Computer Science",
        section: "10C",
        subject: "Computer Science",
        year: 10,
        teacher: "d.hughes@riverside.example",
    },
    Class {
        classroom_id: "610000000004",
        name: "11C Computer Science",
        section: "11C",
        subject: "Computer Science",
        year: 11,
        teacher: "d.hughes@riverside.example",
    },
    Class {
        classroom_id: "610000000005",
        name: "10G Geography",
        section: "10G",
        subject: "Geography",
        year: 10,
        teacher: "d.hughes@riverside.example",
    },
    Class {
        classroom_id: "610000000006",
        name: "11G Geography",
        section: "11G",
        subject: "Geography",
        year: 11,
        teacher: "p.natarajan@riverside.example",
    },
];

/// How a member of staff comes by their role in the demo: the same ways as in a real school.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Teaches classes in Classroom, and has signed in before (so a sync can read them).
    Teaches,
    /// The first School Admin, named when the school was created (`tenant create
    /// --admin-email`), who has signed in, set the school up and connected Drive.
    FirstAdmin,
    /// Invited by the School Admin; the role becomes theirs at their first sign-in.
    Invited,
}

/// A demo account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffMember {
    pub email: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub role: Role,
    /// A Head of Subject's subject.
    pub subject: Option<&'static str>,
    pub arrival: Arrival,
}

impl StaffMember {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }

    /// The classes this person teaches in Classroom.
    pub fn classes(&self) -> impl Iterator<Item = &'static Class> + '_ {
        CLASSES.iter().filter(|c| c.teacher == self.email)
    }

    /// Which classes they reach, in words, for the table of accounts.
    pub fn reach(&self) -> String {
        match self.role {
            Role::Teacher => self
                .classes()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
            Role::HeadOfSubject => format!("every {} class", self.subject.unwrap_or("subject")),
            Role::ExamsOfficer | Role::Headteacher => "every class".to_owned(),
            Role::SchoolAdmin => "settings, roles, Shared Drive (its Manager)".to_owned(),
        }
    }
}

pub const STAFF: [StaffMember; 7] = [
    StaffMember {
        email: "a.okafor@riverside.example",
        given_name: "Amara",
        family_name: "Okafor",
        role: Role::Teacher,
        subject: None,
        arrival: Arrival::Teaches,
    },
    StaffMember {
        email: "d.hughes@riverside.example",
        given_name: "Daniel",
        family_name: "Hughes",
        role: Role::Teacher,
        subject: None,
        arrival: Arrival::Teaches,
    },
    StaffMember {
        email: "p.natarajan@riverside.example",
        given_name: "Priya",
        family_name: "Natarajan",
        role: Role::Teacher,
        subject: None,
        arrival: Arrival::Teaches,
    },
    StaffMember {
        email: "o.pritchard@riverside.example",
        given_name: "Owen",
        family_name: "Pritchard",
        role: Role::HeadOfSubject,
        subject: Some("Geography"),
        arrival: Arrival::Invited,
    },
    StaffMember {
        email: "g.whitfield@riverside.example",
        given_name: "Grace",
        family_name: "Whitfield",
        role: Role::ExamsOfficer,
        subject: None,
        arrival: Arrival::Invited,
    },
    StaffMember {
        email: "h.marsh@riverside.example",
        given_name: "Helen",
        family_name: "Marsh",
        role: Role::Headteacher,
        subject: None,
        arrival: Arrival::Invited,
    },
    StaffMember {
        email: "b.adeyemi@riverside.example",
        given_name: "Ben",
        family_name: "Adeyemi",
        role: Role::SchoolAdmin,
        subject: None,
        arrival: Arrival::FirstAdmin,
    },
];

/// A second Drive operator account, one the school keeps for Invigilator alone (a Manager of the
/// Shared Drive, not a person): with the School Admin's own, a year group's locks share two
/// accounts' quota. Not a staff address, so nobody signs in as it.
pub const SECOND_DRIVE_ACCOUNT: &str = "invigilator.drive@riverside.example";

/// The School Admin, who is also the first Drive operator account (a Manager of the Shared Drive).
pub fn school_admin() -> &'static StaffMember {
    // STAFF holds exactly one first admin (a unit test says so); the last entry is the fallback
    // the type system needs.
    STAFF
        .iter()
        .find(|s| s.arrival == Arrival::FirstAdmin)
        .unwrap_or(&STAFF[STAFF.len() - 1])
}

const GIVEN_NAMES: [&str; 30] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Freya", "Lily", "Florence", "Sophia",
    "Grace", "Willow", "Aisha", "Zara", "Maya", "Oliver", "George", "Noah", "Arthur", "Leo",
    "Yusuf", "Harry", "Oscar", "Jack", "Theo", "Finley", "Ethan", "Rohan", "Kai", "Samuel",
];

const FAMILY_NAMES: [&str; 25] = [
    "Bennett",
    "Clarke",
    "Patel",
    "Khan",
    "Evans",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "Ali",
    "Campbell",
    "Shaw",
    "Lewis",
    "Murphy",
    "Kaur",
    "Begum",
    "Ward",
    "Price",
    "Hall",
    "Fraser",
    "Morgan",
    "Osei",
    "Nguyen",
    "Kowalczyk",
    "Reid",
];

/// A student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub year: i16,
}

/// Student `i` of [`students`]: Year 10 first, then Year 11. Student `i` is given name
/// `i % 30` and family name `(7g + 11k) % 25` for `g = i % 30`, `k = i / 30`, so no two
/// share both names (for one given name, `11k mod 25` differs for every `k` below 25).
fn student(i: usize) -> Student {
    let (g, k) = (i % GIVEN_NAMES.len(), i / GIVEN_NAMES.len());
    let given = GIVEN_NAMES[g];
    let family = FAMILY_NAMES[(7 * g + 11 * k) % FAMILY_NAMES.len()];
    let year = YEARS[(i / YEAR_SIZE).min(YEARS.len() - 1)];
    Student {
        email: format!(
            "y{year}.{}.{}@{DOMAIN}",
            given.to_ascii_lowercase(),
            family.to_ascii_lowercase()
        ),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        year,
    }
}

/// All 150 students.
pub fn students() -> Vec<Student> {
    (0..YEAR_SIZE * YEARS.len()).map(student).collect()
}

/// The 30 students of `class`: the k-th class of a year (by [`SUBJECTS`]) takes the year's
/// students from `30k`, wrapping round, so the third class shares 15 with the first and
/// everyone in the year is in at least one class.
pub fn students_of(class: &Class) -> Vec<Student> {
    let k = SUBJECTS
        .iter()
        .position(|s| *s == class.subject)
        .unwrap_or(0);
    let first = YEARS.iter().position(|y| *y == class.year).unwrap_or(0) * YEAR_SIZE;
    (0..CLASS_SIZE)
        .map(|n| student(first + (k * CLASS_SIZE + n) % YEAR_SIZE))
        .collect()
}

/// The class's Classroom teacher group, which its Drive class folder is shared with.
pub fn teacher_group(class: &Class) -> String {
    format!("{}-teachers@{DOMAIN}", class.section.to_ascii_lowercase())
}

/// The emulator's world: the OAuth client (its one redirect URI, as a Google Cloud project
/// registers it), the domain, every account, the classes and the Shared Drive.
pub fn seed(redirect_uri: &str) -> Seed {
    let user = |email: &str, given: &str, family: &str| SeedUser::person(email, given, family);
    let mut users: Vec<SeedUser> = STAFF
        .iter()
        .map(|s| user(s.email, s.given_name, s.family_name))
        .collect();
    users.extend(
        students()
            .iter()
            .map(|s| user(&s.email, &s.given_name, &s.family_name)),
    );
    users.push(user(SECOND_DRIVE_ACCOUNT, "Invigilator", "Drive"));
    Seed {
        clients: vec![SeedClient {
            client_id: super::config::CLIENT_ID.to_owned(),
            client_secret: super::config::CLIENT_SECRET.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
        }],
        domains: vec![DOMAIN.to_owned()],
        users,
        courses: CLASSES
            .iter()
            .map(|c| SeedCourse {
                id: Some(c.classroom_id.to_owned()),
                name: c.name.to_owned(),
                section: Some(c.section.to_owned()),
                owner: c.teacher.to_owned(),
                teachers: vec![],
                students: students_of(c).into_iter().map(|s| s.email).collect(),
                state: None,
                teacher_group_email: Some(teacher_group(c)),
            })
            .collect(),
        shared_drives: vec![SeedSharedDrive {
            id: Some(SHARED_DRIVE_ID.to_owned()),
            name: SHARED_DRIVE_NAME.to_owned(),
            members: [school_admin().email, SECOND_DRIVE_ACCOUNT]
                .into_iter()
                .map(|email| SeedMember {
                    email: email.to_owned(),
                    role: "organizer".to_owned(),
                })
                .collect(),
        }],
        ..Seed::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    #[test]
    fn every_class_has_thirty_and_every_student_a_class() {
        let mut seen = BTreeSet::new();
        for class in &CLASSES {
            let students = students_of(class);
            let distinct: BTreeSet<_> = students.iter().map(|s| &s.email).collect();
            assert_eq!(distinct.len(), CLASS_SIZE, "{}", class.name);
            assert!(students.iter().all(|s| s.year == class.year));
            seen.extend(distinct.into_iter().cloned());
        }
        assert_eq!(seen.len(), students().len());
        assert_eq!(students().len(), 150);
    }

    #[test]
    fn names_and_addresses_are_unique() {
        let all = students();
        let names: BTreeSet<_> = all
            .iter()
            .map(|s| (&s.given_name, &s.family_name))
            .collect();
        assert_eq!(names.len(), all.len());
        let emails: BTreeSet<_> = all
            .iter()
            .map(|s| s.email.as_str())
            .chain(STAFF.iter().map(|s| s.email))
            .collect();
        assert_eq!(emails.len(), all.len() + STAFF.len());
    }

    #[test]
    fn staff_come_first_in_the_account_chooser() {
        let last_staff = STAFF.iter().map(|s| s.email).max().unwrap();
        let first_student = students().into_iter().map(|s| s.email).min().unwrap();
        assert!(last_staff < first_student.as_str());
    }

    #[test]
    fn teachers_teach_one_to_three_classes_and_not_each_others() {
        let mut taught: HashMap<&str, usize> = HashMap::new();
        for class in &CLASSES {
            *taught.entry(class.teacher).or_default() += 1;
            let teacher = STAFF.iter().find(|s| s.email == class.teacher).unwrap();
            assert_eq!(teacher.role, Role::Teacher);
        }
        assert_eq!(taught.len(), 3);
        assert!(taught.values().all(|n| (1..=3).contains(n)));
        let roles: BTreeSet<Role> = STAFF.iter().map(|s| s.role).collect();
        assert_eq!(roles.len(), Role::ALL.len(), "one account for every role");
        assert_eq!(
            STAFF
                .iter()
                .filter(|s| s.arrival == Arrival::FirstAdmin)
                .count(),
            1
        );
        assert!(
            STAFF
                .iter()
                .all(|s| s.email.ends_with(&format!("@{DOMAIN}")))
        );
    }
}
