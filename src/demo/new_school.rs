//! The demo's second school, Northfield School: created a moment ago and not set up at all, so a
//! visitor (and the browser tests) can walk the School Admin's set-up checklist from the start.
//! Only what `invigilator tenant create --admin-email` leaves exists — the school and its first
//! School Admin's invitation — plus one teacher who has signed in, so a roster sync has classes
//! to find. No Drive operator, no Shared Drive in the settings, no sync, no rules: the admin
//! does each through the pages.

use anyhow::Context;
use google_emulator::Seed;
use google_emulator::seed::{SeedCourse, SeedMember, SeedSharedDrive, SeedUser};

use super::school::{Arrival, StaffMember};
use crate::auth::roles::Role;
use crate::config::Config;
use crate::services::Services;
use crate::tenancy::{self, NewSchool, School, TenantMigrations, begin_school_tx};

pub const SLUG: &str = "northfield";
pub const NAME: &str = "Northfield School";
pub const DOMAIN: &str = "northfield.example";
/// The Shared Drive its School Admin manages in Google, ready to be entered in the settings.
pub const SHARED_DRIVE_ID: &str = "0ANorthfieldPortfolios";
pub const SHARED_DRIVE_NAME: &str = "Northfield Portfolios";

/// The first School Admin: invited when the school was created, never signed in yet.
pub const SCHOOL_ADMIN: StaffMember = StaffMember {
    email: "r.shah@northfield.example",
    given_name: "Rachel",
    family_name: "Shah",
    role: Role::SchoolAdmin,
    subject: None,
    arrival: Arrival::FirstAdmin,
};

/// A teacher who has signed in, so the first sync finds their classes.
pub const TEACHER: StaffMember = StaffMember {
    email: "t.evans@northfield.example",
    given_name: "Tom",
    family_name: "Evans",
    role: Role::Teacher,
    subject: None,
    arrival: Arrival::Teaches,
};

/// Its classes in Classroom: (Classroom id, name, section). The names carry a subject and a
/// year ("9E English") for the admin's first rules to catch.
pub const CLASSES: [(&str, &str, &str); 2] = [
    ("620000000001", "9E English", "9E"),
    ("620000000002", "9H History", "9H"),
];

/// Students in each class (every Year 9 student is in both).
pub const CLASS_SIZE: usize = 8;

const STUDENTS: [(&str, &str); CLASS_SIZE] = [
    ("Alfie", "Barker"),
    ("Bethany", "Cole"),
    ("Callum", "Dunn"),
    ("Darcey", "Ellis"),
    ("Elliot", "Frost"),
    ("Farah", "Gill"),
    ("Gabriel", "Hart"),
    ("Hannah", "Iqbal"),
];

/// The students' addresses, `y9.given.family@northfield.example`.
pub fn student_emails() -> Vec<String> {
    STUDENTS
        .iter()
        .map(|(g, f)| {
            format!(
                "y9.{}.{}@{DOMAIN}",
                g.to_ascii_lowercase(),
                f.to_ascii_lowercase()
            )
        })
        .collect()
}

/// The class's Classroom teacher group.
pub fn teacher_group(section: &str) -> String {
    format!("{}-teachers@{DOMAIN}", section.to_ascii_lowercase())
}

/// Its part of the emulator's world: the domain, its accounts, classes and Shared Drive (with
/// the School Admin as its Manager, as a school's Google admin would have made it).
pub fn seed() -> Seed {
    let mut users = vec![
        SeedUser::person(
            SCHOOL_ADMIN.email,
            SCHOOL_ADMIN.given_name,
            SCHOOL_ADMIN.family_name,
        ),
        SeedUser::person(TEACHER.email, TEACHER.given_name, TEACHER.family_name),
    ];
    users.extend(
        STUDENTS
            .iter()
            .zip(student_emails())
            .map(|((g, f), email)| SeedUser::person(&email, *g, *f)),
    );
    Seed {
        domains: vec![DOMAIN.to_owned()],
        users,
        courses: CLASSES
            .iter()
            .map(|(id, name, section)| SeedCourse {
                id: Some((*id).to_owned()),
                name: (*name).to_owned(),
                section: Some((*section).to_owned()),
                owner: TEACHER.email.to_owned(),
                teachers: vec![],
                students: student_emails(),
                state: None,
                teacher_group_email: Some(teacher_group(section)),
            })
            .collect(),
        shared_drives: vec![SeedSharedDrive {
            id: Some(SHARED_DRIVE_ID.to_owned()),
            name: SHARED_DRIVE_NAME.to_owned(),
            members: vec![SeedMember {
                email: SCHOOL_ADMIN.email.to_owned(),
                role: "organizer".to_owned(),
            }],
        }],
        ..Seed::default()
    }
}

/// Creates the school as `tenant create --admin-email` does, and signs its teacher in.
pub async fn build(
    config: &Config,
    services: &Services,
    google: &google_emulator::Emulator,
) -> anyhow::Result<School> {
    for (_, _, section) in &CLASSES {
        google.set_group(&teacher_group(section), &[TEACHER.email.to_owned()]);
    }
    let new = NewSchool::parse(SLUG, NAME, DOMAIN).context("the new demo school's names")?;
    let school = tenancy::provision_school(
        &services.db,
        &config.tenant_role_prefix,
        &TenantMigrations::embedded(),
        &new,
    )
    .await
    .context("cannot create the new demo school")?;
    let mut tx = begin_school_tx(&services.db, &school).await?;
    super::setup::invite_first_admin(&mut tx, &school, SCHOOL_ADMIN.email).await?;
    super::setup::sign_in(&mut tx, config, google, &TEACHER).await?;
    tx.commit().await?;
    Ok(school)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_staff_come_before_every_student_in_the_account_chooser() {
        let first_student = super::super::school::students()
            .into_iter()
            .map(|s| s.email)
            .chain(student_emails())
            .min()
            .unwrap();
        for staff in [SCHOOL_ADMIN.email, TEACHER.email] {
            assert!(staff < first_student.as_str(), "{staff}");
        }
    }
}
