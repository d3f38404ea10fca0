//! Team pages: `/employees` (active filter, search, CSV), `/employees/new`
//! and `/employees/{id}` — name, e-mail, trade, skills, hourly rate, the
//! user account they sign in with, and whether they can be assigned work.

use super::{
    EXPORT_LIMIT, Refusal, joined, money_field, page_query, pager, parse_page, refusal,
    search_text, split_list, wants_csv,
};
use crate::db::DbError;
use crate::db::employees::{self as repo, EmployeeFilter, LinkableUser};
use crate::domain::employee::{Employee, EmployeeFields, EmployeeInput};
use crate::domain::ids::new_id;
use crate::domain::money::Money;
use crate::domain::{DomainError, FieldErrors};
use crate::http::auth::Staff;
use crate::http::path_id;
use crate::http::state::AppState;
use crate::http::ui::{Form, UiError, UiUser, csv, flash_redirect, render_status};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// Registers the team pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/employees")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/employees/new", web::get().to(new_form))
    .service(
        web::resource("/employees/{id}")
            .route(web::get().to(edit_form))
            .route(web::post().to(edit)),
    );
}

/// Query of `/employees`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    active: Option<String>,
    q: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

/// A row of the team table.
#[derive(Serialize)]
struct EmployeeRow {
    #[serde(flatten)]
    e: Employee,
    user_email: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let q: ListQuery = page_query(&req)?;
    let csv_out = wants_csv(q.format.as_deref())?;
    let page = parse_page(q.page, q.limit)?;
    let active_key = super::blank(q.active).unwrap_or_else(|| "true".into());
    let active = match active_key.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        "all" => None,
        _ => {
            return Err(DomainError::field("active", "must be true, false or all").into());
        }
    };
    let text = search_text("q", q.q, 200)?;
    let filter = EmployeeFilter {
        active,
        skill: None,
        trade: None,
        q: text.clone(),
    };
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let ((rows, total), users) = state
        .db
        .read(move |c| {
            Ok((
                repo::list(c, &filter, limit, offset)?,
                repo::linkable_users(c)?,
            ))
        })
        .await?;
    let email_of = |uid: &Option<String>| {
        uid.as_ref()
            .and_then(|id| users.iter().find(|u| &u.id == id))
            .map(|u| u.email.clone())
    };
    if csv_out {
        return csv(
            "employees.csv",
            &[
                "id",
                "name",
                "email",
                "trade",
                "skills",
                "hourly rate",
                "active",
                "user",
            ],
            rows.into_iter().map(|e| {
                let user = email_of(&e.fields.user_id).unwrap_or_default();
                let f = e.fields;
                vec![
                    e.id,
                    f.name,
                    f.email,
                    f.trade,
                    f.skills.join("; "),
                    f.hourly_rate.to_decimal(),
                    if f.active { "yes" } else { "no" }.into(),
                    user,
                ]
            }),
        );
    }
    let rows: Vec<EmployeeRow> = rows
        .into_iter()
        .map(|e| EmployeeRow {
            user_email: email_of(&e.fields.user_id),
            e,
        })
        .collect();
    let pager = pager(&req, page, total);
    render_status(
        &state,
        &req,
        Some(&who.user),
        &who.csrf,
        StatusCode::OK,
        "office_employees.html",
        context! { rows, pager, active => active_key, q => text.unwrap_or_default() },
    )
}

/// The employee form's values.
#[derive(Debug, Deserialize, Serialize)]
struct EmployeeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    trade: String,
    #[serde(default)]
    skills: String,
    #[serde(default, rename = "hourlyRate")]
    hourly_rate: String,
    #[serde(default, rename = "userId")]
    user_id: String,
    /// A checkbox: present (any value) means active.
    #[serde(default)]
    active: Option<String>,
}

impl EmployeeForm {
    fn blank() -> Self {
        EmployeeForm {
            name: String::new(),
            email: String::new(),
            trade: String::new(),
            skills: String::new(),
            hourly_rate: String::new(),
            user_id: String::new(),
            active: Some("true".into()),
        }
    }

    fn from_employee(f: &EmployeeFields) -> Self {
        EmployeeForm {
            name: f.name.clone(),
            email: f.email.clone(),
            trade: f.trade.clone(),
            skills: f.skills.join(", "),
            hourly_rate: f.hourly_rate.to_decimal(),
            user_id: f.user_id.clone().unwrap_or_default(),
            active: f.active.then(|| "true".into()),
        }
    }

    /// The domain input, and the errors found reading the rate.
    fn input(&self) -> (EmployeeInput, FieldErrors) {
        let mut errors = FieldErrors::new();
        let rate = money_field(&mut errors, "hourlyRate", Some(&self.hourly_rate));
        let input = EmployeeInput {
            name: Some(self.name.clone()),
            email: Some(self.email.clone()),
            user_id: Some(Some(self.user_id.trim().to_string())),
            trade: Some(self.trade.clone()),
            skills: Some(split_list(Some(&self.skills))),
            hourly_rate: Some(rate.unwrap_or(Money::ZERO)),
            active: Some(self.active.is_some()),
        };
        (input, errors)
    }
}

async fn render_form(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    status: StatusCode,
    employee: Option<&Employee>,
    form: &EmployeeForm,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let users: Vec<LinkableUser> = state.db.read(repo::linkable_users).await?;
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_employee_form.html",
        context! { employee, form, users, errors, alert },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    render_form(
        &state,
        &req,
        &who,
        StatusCode::OK,
        None,
        &EmployeeForm::blank(),
        None,
    )
    .await
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(form): Form<EmployeeForm>,
) -> Result<HttpResponse, UiError> {
    let (input, pre) = form.input();
    let fields = match joined(
        pre,
        EmployeeFields::merge(&EmployeeFields::default(), input),
    ) {
        Ok(f) => f,
        Err(r) => return render_form(&state, &req, &who, r.status(), None, &form, Some(r)).await,
    };
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    match state
        .db
        .write(move |c| repo::insert(c, &actor, &id, fields, now))
        .await
    {
        Ok(e) => Ok(flash_redirect(
            "/employees",
            &format!("“{}” added to the team.", e.fields.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            render_form(&state, &req, &who, r.status(), None, &form, Some(r)).await
        }
    }
}

async fn load(state: &AppState, raw_id: &str) -> Result<Employee, UiError> {
    let id = path_id(raw_id)?;
    Ok(state
        .db
        .read(move |c| repo::get(c, &id)?.ok_or(DbError::NotFound))
        .await?)
}

async fn edit_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let e = load(&state, &id).await?;
    let form = EmployeeForm::from_employee(&e.fields);
    render_form(&state, &req, &who, StatusCode::OK, Some(&e), &form, None).await
}

async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<EmployeeForm>,
) -> Result<HttpResponse, UiError> {
    let current = load(&state, &id).await?;
    let (input, pre) = form.input();
    if let Err(r) = joined(pre, EmployeeFields::merge(&current.fields, input.clone())) {
        return render_form(
            &state,
            &req,
            &who,
            r.status(),
            Some(&current),
            &form,
            Some(r),
        )
        .await;
    }
    let now = state.clock.now();
    let actor = who.actor();
    let eid = current.id.clone();
    match state
        .db
        .write(move |c| {
            repo::update(c, &actor, &eid, now, |cur| {
                EmployeeFields::merge(cur, input).map_err(DbError::from)
            })
        })
        .await
    {
        Ok(e) => Ok(flash_redirect(
            "/employees",
            &format!("“{}” saved.", e.fields.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            render_form(
                &state,
                &req,
                &who,
                r.status(),
                Some(&current),
                &form,
                Some(r),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unticked_box_is_inactive_and_skills_split() {
        let mut f = EmployeeForm::blank();
        f.skills = "Plumbing, gas,  ".into();
        f.hourly_rate = "42.50".into();
        f.active = None;
        let (input, errors) = f.input();
        assert!(errors.is_empty());
        assert_eq!(input.active, Some(false));
        assert_eq!(input.skills.as_deref().unwrap(), ["Plumbing", "gas"]);
        assert_eq!(input.hourly_rate, Some(Money::from_cents(4250)));
        assert_eq!(input.user_id, Some(Some(String::new())));
    }
}
