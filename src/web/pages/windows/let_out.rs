//! Letting one student out of the assessment windows holding their work (Examinations
//! Officer): `GET /portfolios/{id}/override` asks for the reason, `POST` does what
//! `POST /api/portfolios/{id}/override` does (the same scope, the same domain call, the same
//! refusals and audit entries) and returns to the class page with a notice.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{field_message, hold_until};
use crate::auth::{ClassAccess, Permission};
use crate::portfolio::overview;
use crate::tenancy::SchoolTx;
use crate::web::AppState;
use crate::web::error::{ApiError, PageError};
use crate::web::extract::CurrentStaff;
use crate::web::pages::form::{FormErrors, PageForm, reshow};
use crate::web::pages::{Layout, PageStaff, Section, render};
use crate::web::portfolios::{commit_and_enqueue, parse_id};
use crate::windows::{Holding, WindowError, coverage};

/// The form as sent.
#[derive(Debug, Default, Deserialize)]
pub struct LetOutForm {
    #[serde(default)]
    pub reason: String,
}

/// A window holding the student, in words.
pub struct HoldingLine {
    pub id: Uuid,
    pub name: String,
    /// "until 11:30 on 23 March 2027" ([`hold_until`]).
    pub until: String,
}

impl From<&Holding> for HoldingLine {
    fn from(h: &Holding) -> Self {
        Self {
            id: h.id,
            name: h.name.clone(),
            until: hold_until(h),
        }
    }
}

/// The question before letting one student out (`/portfolios/{id}/override`): the windows
/// holding them and the reason asked for.
#[derive(Template)]
#[template(path = "windows_let_out.html")]
pub struct LetOutPage {
    pub layout: Layout,
    pub portfolio_id: Uuid,
    pub student: String,
    pub class_id: Uuid,
    pub class_name: String,
    pub holding: Vec<HoldingLine>,
    pub form: LetOutForm,
    pub errors: FormErrors,
    pub csrf_token: String,
}

/// The student the form is about.
struct Student {
    portfolio_id: Uuid,
    class_id: Uuid,
    class_name: String,
    name: String,
    /// The windows holding their folder now.
    holding: Vec<Holding>,
}

/// The student, their class (asked as the API asks: the lock scope, "not found" for one out of
/// reach) and what holds them.
async fn load(tx: &mut SchoolTx, staff: &CurrentStaff, raw_id: &str) -> Result<Student, PageError> {
    staff.require(Permission::ManageWindows)?;
    let portfolio_id = parse_id(raw_id)?;
    let class_id = staff
        .class_scope(ClassAccess::Lock)
        .class_of_portfolio(tx, portfolio_id)
        .await?
        .ok_or_else(PageError::not_found)?;
    let class = overview::class_view(tx, class_id)
        .await?
        .ok_or_else(PageError::not_found)?;
    let name = class
        .students
        .iter()
        .find(|s| s.portfolio_id == Some(portfolio_id))
        .map_or_else(|| "This student".to_owned(), |s| s.display_name());
    Ok(Student {
        portfolio_id,
        class_id,
        class_name: class.summary.name,
        name,
        holding: coverage::holding(tx, portfolio_id).await?,
    })
}

fn page(
    staff: &CurrentStaff,
    student: Student,
    form: LetOutForm,
    errors: FormErrors,
) -> LetOutPage {
    LetOutPage {
        layout: Layout::for_staff(staff, Section::Classes),
        portfolio_id: student.portfolio_id,
        student: student.name,
        class_id: student.class_id,
        class_name: student.class_name,
        holding: student.holding.iter().map(HoldingLine::from).collect(),
        form,
        errors,
        csrf_token: staff.csrf_token.clone(),
    }
}

/// `GET /portfolios/{id}/override`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn let_out_form(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
) -> Result<Html<String>, PageError> {
    let mut tx = staff.school_tx(&state).await?;
    let student = load(&mut tx, &staff, &raw_id).await?;
    tx.commit().await?;
    render(&page(
        &staff,
        student,
        LetOutForm::default(),
        FormErrors::none(),
    ))
}

/// `POST /portfolios/{id}/override`
#[tracing::instrument(skip_all, fields(school = %staff.school.slug))]
pub async fn let_out(
    State(state): State<AppState>,
    PageStaff(staff): PageStaff,
    Path(raw_id): Path<String>,
    PageForm(form): PageForm<LetOutForm>,
) -> Result<Response, PageError> {
    let mut tx = staff.school_tx(&state).await?;
    let student = load(&mut tx, &staff, &raw_id).await?;
    let refused = match coverage::override_unlock(
        &mut tx,
        staff.staff.id,
        student.portfolio_id,
        &form.reason,
    )
    .await
    {
        Ok(requested) => {
            commit_and_enqueue(&state, &staff, tx, std::slice::from_ref(&requested)).await?;
            let class = student.class_id;
            return Ok(crate::web::pages::form::done(
                &format!("/classes/{class}"),
                super::LET_OUT,
            ));
        }
        Err(refused) => refused,
    };
    // Nothing was written: the transaction is dropped, so rolled back.
    drop(tx);
    let errors = match refused {
        WindowError::Input(f) => {
            let mut errors = FormErrors::none();
            errors.add(f.field, field_message(&f, form.reason.trim().is_empty()));
            errors
        }
        other => FormErrors::from_refusal(ApiError::from(other))?,
    };
    Ok(reshow(render(&page(&staff, student, form, errors))?))
}
