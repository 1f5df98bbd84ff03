//! What the demo prints once it is ready: where to go, who to be, and the line the browser
//! tests wait for.

use std::time::Duration;

use super::new_school;
use super::school::{self, STAFF, StaffMember};
use super::setup::Built;
use crate::auth::roles::Role;
use crate::cli::render_table;
use crate::config::Config;

/// The address to open, without a trailing slash.
pub fn app_url(config: &Config) -> String {
    config.public_url.as_str().trim_end_matches('/').to_owned()
}

/// The line printed last, when the server and workers are running.
pub fn ready_line(config: &Config) -> String {
    format!("demo ready: {}", app_url(config))
}

fn role(person: &StaffMember) -> String {
    match (person.role, person.subject) {
        (Role::HeadOfSubject, Some(subject)) => format!("Head of Subject ({subject})"),
        (Role::SchoolAdmin, _) => "School Admin, Drive operator".to_owned(),
        (role, _) => role.label().to_owned(),
    }
}

/// The address, the demo's Google and the table of accounts.
pub fn banner(config: &Config, google_url: &str, built: &Built, took: Duration) -> String {
    let rows: Vec<[String; 4]> = STAFF
        .iter()
        .map(|p| [p.email.to_owned(), p.full_name(), role(p), p.reach()])
        .collect();
    let example = school::students()
        .into_iter()
        .next()
        .map(|s| format!(", e.g. {}", s.email))
        .unwrap_or_default();
    format!(
        "\n{name}: {classes} classes, {students} students, {folders} portfolio folders \
         (set up in {took:.1} s: roster sync {sync:.1} s, folders {made:.1} s)\n\n\
         Open    {app}/\n\
         Google  {google_url}  (the demo's own Google: no passwords)\n\n\
         Sign in as any of these (pick the account on Google's \"Choose an account\" page):\n\n\
         {table}\n\
         Students ({students}{example}) never sign in: their folders are what is locked.\n\n\
         {new_name} was created a moment ago and is not set up: sign in as {new_admin} \
         (its School Admin) to walk the set-up checklist. Its Shared Drive's id is \
         {new_drive}; {new_teacher} teaches its classes.\n\n\
         Every run starts afresh. Ctrl-C stops the demo.\n",
        new_name = new_school::NAME,
        new_admin = new_school::SCHOOL_ADMIN.email,
        new_drive = new_school::SHARED_DRIVE_ID,
        new_teacher = new_school::TEACHER.email,
        name = built.school.name,
        classes = built.classes,
        students = built.students,
        folders = built.portfolio_folders,
        took = took.as_secs_f64(),
        sync = built.sync_took.as_secs_f64(),
        made = built.folders_took.as_secs_f64(),
        app = app_url(config),
        table = render_table(["EMAIL", "NAME", "ROLE", "CLASSES"], &rows),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::tenancy::{School, SchoolStatus};

    #[test]
    fn names_the_address_and_every_account() {
        let vars = HashMap::from([("PORT", "18080"), ("DEMO_GOOGLE_PORT", "18090")]);
        let config =
            crate::demo::config::from_lookup(|n| vars.get(n).map(|v| (*v).to_owned())).unwrap();
        let built = Built {
            school: School {
                id: uuid::Uuid::new_v4(),
                slug: school::SLUG.to_owned(),
                name: school::NAME.to_owned(),
                workspace_domain: school::DOMAIN.to_owned(),
                schema_name: "tenant_riverside".to_owned(),
                role_name: "demo_tenant_riverside".to_owned(),
                status: SchoolStatus::Active,
                schema_version: 1,
                created_at: chrono::Utc::now(),
            },
            classes: 6,
            students: 150,
            portfolio_folders: 180,
            sync_took: Duration::from_millis(300),
            folders_took: Duration::from_secs(1),
        };
        let text = banner(
            &config,
            "http://127.0.0.1:18090/",
            &built,
            Duration::from_secs(2),
        );
        assert!(text.contains("Open    http://localhost:18080/"), "{text}");
        assert!(text.contains("http://127.0.0.1:18090/"), "{text}");
        for person in &STAFF {
            let line = text
                .lines()
                .find(|l| l.starts_with(person.email))
                .unwrap_or_else(|| panic!("{} missing from\n{text}", person.email));
            assert!(line.contains(&person.full_name()), "{line}");
        }
        assert!(
            text.contains("10A Art and Design, 11A Art and Design"),
            "{text}"
        );
        assert!(
            text.contains("sign in as r.shah@northfield.example"),
            "{text}"
        );
        assert!(text.contains("0ANorthfieldPortfolios"), "{text}");
        assert_eq!(ready_line(&config), "demo ready: http://localhost:18080");
    }
}
