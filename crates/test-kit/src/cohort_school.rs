//! A whole school for the benchmarks: teachers, students in classes, a Drive operator who
//! organises the Shared Drive (and, when asked, more Drive operator accounts, each a Manager of
//! it too), and everyone's Google grant stored as if each had signed in.

use google_emulator::Seed;
use google_emulator::seed::{SeedClient, SeedCourse, SeedMember, SeedSharedDrive, SeedUser};
use invigilator::config::Config;
use invigilator::google::credentials::{Purpose, save_oauth};
use invigilator::tenancy::{self, NewSchool, School, TenantMigrations, begin_school_tx};
use uuid::Uuid;

use crate::{DRIVE_SCOPE, TEACHER_SCOPES, TestDb};

/// The shape of the school.
pub struct CohortSchool {
    pub domain: &'static str,
    /// The Shared Drive's id.
    pub drive: &'static str,
    pub teachers: usize,
    pub students: usize,
    pub classes: usize,
    /// Class `c`'s name and section.
    pub class_name: fn(usize) -> (String, String),
    /// The first digit of the classes' Classroom ids (schools in one emulator differ).
    pub id_digit: char,
}

impl CohortSchool {
    pub fn teacher(&self, i: usize) -> String {
        format!("teacher{i:02}@{}", self.domain)
    }

    pub fn student(&self, i: usize) -> String {
        format!("student{i:04}@{}", self.domain)
    }

    /// The Drive operator account whose grant [`Self::provision`] stores.
    pub fn operator(&self) -> String {
        self.operator_account(0)
    }

    /// Drive operator account `i`: `operator@` first, then `operator2@`, `operator3@`…
    pub fn operator_account(&self, i: usize) -> String {
        match i {
            0 => format!("operator@{}", self.domain),
            i => format!("operator{}@{}", i + 1, self.domain),
        }
    }

    /// The emulator's world with one Drive operator account (see [`Self::seed_with_operators`]).
    pub fn seed(&self) -> Seed {
        self.seed_with_operators(1)
    }

    /// The emulator's world: class `c` is owned by teacher `c % teachers` and holds an equal
    /// share of the students, in order; `operators` accounts (at least one) are organizers
    /// (Managers) of the Shared Drive, each able to be connected as a Drive operator.
    pub fn seed_with_operators(&self, operators: usize) -> Seed {
        let operators = operators.max(1);
        let user = |email: String, given: String| SeedUser::person(email, given, "Bench");
        let mut users: Vec<SeedUser> = (0..self.teachers)
            .map(|i| user(self.teacher(i), format!("T{i}")))
            .collect();
        users.extend((0..self.students).map(|i| user(self.student(i), format!("S{i}"))));
        users.extend((0..operators).map(|i| {
            let given = if i == 0 {
                "Operator".into()
            } else {
                format!("Operator{}", i + 1)
            };
            user(self.operator_account(i), given)
        }));
        let per_class = self.students / self.classes;
        Seed {
            clients: vec![SeedClient {
                client_id: "invigilator-local".into(),
                client_secret: "invigilator-local-secret".into(),
                redirect_uris: vec![],
            }],
            domains: vec![self.domain.into()],
            users,
            courses: (0..self.classes)
                .map(|c| {
                    let (name, section) = (self.class_name)(c);
                    SeedCourse {
                        id: Some(format!("{}{c:011}", self.id_digit)),
                        name,
                        section: Some(section),
                        owner: self.teacher(c % self.teachers),
                        teachers: vec![],
                        students: (c * per_class..(c + 1) * per_class)
                            .map(|i| self.student(i))
                            .collect(),
                        state: None,
                        teacher_group_email: Some(format!("class{c}-teachers@{}", self.domain)),
                    }
                })
                .collect(),
            shared_drives: vec![SeedSharedDrive {
                id: Some(self.drive.into()),
                name: "Portfolios".into(),
                members: (0..operators)
                    .map(|i| SeedMember {
                        email: self.operator_account(i),
                        role: "organizer".into(),
                    })
                    .collect(),
            }],
            ..Seed::default()
        }
    }

    /// Registers the school (slug `bench`) in `db` and stores, encrypted, a sign-in grant for
    /// every teacher and the Drive grant of the operator.
    pub async fn provision(
        &self,
        db: &TestDb,
        emu: &google_emulator::Emulator,
        config: &Config,
    ) -> School {
        let new = NewSchool::parse("bench", "Bench School", self.domain).unwrap();
        let school = tenancy::provision_school(
            &db.pool,
            &config.tenant_role_prefix,
            &TenantMigrations::embedded(),
            &new,
        )
        .await
        .unwrap();
        let mut tx = begin_school_tx(&db.pool, &school).await.unwrap();
        let people = (0..self.teachers)
            .map(|i| (self.teacher(i), Purpose::SignIn, TEACHER_SCOPES))
            .chain([(self.operator(), Purpose::DriveOperator, &[DRIVE_SCOPE][..])]);
        for (email, purpose, scopes) in people {
            let staff: Uuid = sqlx::query_scalar(
                "INSERT INTO staff (google_sub, email, display_name) VALUES ($1, $2, $2) RETURNING id",
            )
            .bind(emu.user(&email).expect("a seeded user").id)
            .bind(&email)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let refresh = emu
                .issue_refresh_token(&email, scopes, "invigilator-local")
                .unwrap();
            let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
            save_oauth(
                &mut tx,
                &config.token_keys,
                staff,
                purpose,
                &email,
                &scopes,
                &secrecy::SecretString::from(refresh),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        school
    }

    /// Connects Drive operator accounts `1..operators` (the seed must have made them Managers,
    /// [`Self::seed_with_operators`]) besides the one [`Self::provision`] stored: each under its
    /// own staff row (by its Google id) with its encrypted Drive grant, as the first is stored.
    /// Returns each new account with its credential id, in order.
    pub async fn connect_more_operators(
        &self,
        db: &TestDb,
        emu: &google_emulator::Emulator,
        school: &School,
        operators: usize,
    ) -> Vec<(String, Uuid)> {
        let mut connected = Vec::new();
        for i in 1..operators {
            let email = self.operator_account(i);
            let staff = crate::add_google_staff(db, school, emu, &email).await;
            let credential = crate::store_grant(
                db,
                emu,
                school,
                staff,
                &email,
                Purpose::DriveOperator,
                &[DRIVE_SCOPE],
            )
            .await;
            connected.push((email, credential));
        }
        connected
    }
}
