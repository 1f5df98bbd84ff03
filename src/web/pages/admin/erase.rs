//! `/admin/privacy/students/{id}/erase`: the question page of a student's erasure. The School
//! Admin sees what would go, types the student's email address and chooses whether the Drive
//! folders are kept or trashed; the answer erases as `POST /api/privacy/students/{id}/erase`
//! does (`web::erasure`), and the page after says what was done, which folders Drive would not
//! trash, and whether the student must still be removed in Classroom.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::privacy::erasure::{DriveFolders, ErasureReport, StudentToErase};
use crate::web::AppState;
use crate::web::erasure::{erase_student, student_to_erase};
use crate::web::error::PageError;
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{AdminTab, Layout, NavLink, PageStaff, Section, render};

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/admin/privacy/students/{id}/erase",
        get(show).post(confirm),
    )
}

/// What the form holds: empty, or as typed when it comes back with an error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EraseForm {
    confirmation: String,
    drive_folders: String,
}

#[derive(Template)]
#[template(path = "admin_erase.html")]
pub struct ErasePage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub csrf_token: String,
    pub student: StudentToErase,
    pub form: EraseForm,
    pub errors: FormErrors,
    pub action: String,
}

#[derive(Template)]
#[template(path = "admin_erased.html")]
pub struct ErasedPage {
    pub layout: Layout,
    pub tabs: Vec<NavLink>,
    pub name: String,
    pub report: ErasureReport,
}

impl ErasedPage {
    pub fn trashed(&self) -> bool {
        self.report.erased.drive_folders == DriveFolders::Trash
    }
}

fn page(
    staff: &CurrentStaff,
    student: StudentToErase,
    form: EraseForm,
    errors: FormErrors,
) -> ErasePage {
    ErasePage {
        layout: Layout::for_staff(staff, Section::Admin),
        tabs: AdminTab::Privacy.tabs(),
        csrf_token: staff.csrf_token.clone(),
        action: format!("/admin/privacy/students/{}/erase", student.id),
        student,
        form,
        errors,
    }
}

/// `GET /admin/privacy/students/{id}/erase`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn show(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let student = student_to_erase(&state, &staff, &id).await?;
    Ok(render(&page(
        &staff,
        student,
        EraseForm::default(),
        FormErrors::none(),
    ))?
    .into_response())
}

/// `POST /admin/privacy/students/{id}/erase`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
async fn confirm(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<EraseForm>,
) -> Result<Response, PageError> {
    let student = student_to_erase(&state, &staff, &id).await?;
    let choice = DriveFolders::parse(&form.drive_folders);
    match erase_student(&state, &staff, &id, &form.confirmation, choice).await {
        // The outcome is shown here rather than after a redirect: which folders Drive would
        // not trash is known only now, and nothing about the student is kept to show later.
        Ok(report) => Ok(render(&ErasedPage {
            layout: Layout::for_staff(&staff, Section::Admin),
            tabs: AdminTab::Privacy.tabs(),
            name: student.name,
            report,
        })?
        .into_response()),
        Err(refusal) => {
            let errors = FormErrors::from_refusal(refusal)?;
            Ok(reshow(render(&page(&staff, student, form, errors))?))
        }
    }
}
