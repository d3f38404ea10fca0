//! Equipment pages: `/equipment` (status, search and maintenance-due
//! filters, CSV), `/equipment/new`, `/equipment/{id}` (edit, status, next
//! maintenance date, delete), and loadouts — named sets of equipment —
//! at `/equipment/loadouts` (list, create, CSV) and
//! `/equipment/loadouts/{id}` (rename, add and remove equipment, delete).

use super::{
    EXPORT_LIMIT, Refusal, joined, money_field, page_query, pager, parse_page, refusal,
    search_text, wants_csv,
};
use crate::db::DbError;
use crate::db::equipment::{self as repo, EquipmentFilter, LoadoutFilter};
use crate::domain::equipment::{
    Equipment, EquipmentFields, EquipmentInput, EquipmentStatus, Loadout, LoadoutFields,
    LoadoutInput,
};
use crate::domain::ids::{new_id, parse_id};
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

/// Registers the equipment and loadout pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/equipment")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/equipment/new", web::get().to(new_form))
    .service(
        web::resource("/equipment/loadouts")
            .route(web::get().to(loadouts))
            .route(web::post().to(create_loadout)),
    )
    .service(
        web::resource("/equipment/loadouts/{id}")
            .route(web::get().to(loadout))
            .route(web::post().to(save_loadout)),
    )
    .route("/equipment/loadouts/{id}/add", web::post().to(add_item))
    .route(
        "/equipment/loadouts/{id}/remove",
        web::post().to(remove_item),
    )
    .route(
        "/equipment/loadouts/{id}/delete",
        web::post().to(delete_loadout),
    )
    .service(
        web::resource("/equipment/{id}")
            .route(web::get().to(edit_form))
            .route(web::post().to(edit)),
    )
    .route("/equipment/{id}/delete", web::post().to(delete));
}

/// The status choices of the forms and filters: value, label.
const STATUSES: [(&str, &str); 4] = [
    ("available", "Available"),
    ("in_use", "In use"),
    ("maintenance", "In maintenance"),
    ("retired", "Retired"),
];

fn parse_status(errors: &mut FieldErrors, raw: &str) -> Option<EquipmentStatus> {
    match EquipmentStatus::try_from(raw.trim().to_string()) {
        Ok(s) => Some(s),
        Err(why) => {
            errors.insert("status".into(), why.into());
            None
        }
    }
}

/// Query of `/equipment`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    q: Option<String>,
    due: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let q: ListQuery = page_query(&req)?;
    let csv_out = wants_csv(q.format.as_deref())?;
    let page = parse_page(q.page, q.limit)?;
    let mut errors = FieldErrors::new();
    let status_key = super::blank(q.status).unwrap_or_default();
    let status = match status_key.as_str() {
        "" => None,
        s => parse_status(&mut errors, s),
    };
    let due = match super::blank(q.due).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.insert("due".into(), "must be true or false".into());
            None
        }
    };
    let text = search_text("q", q.q, 200)?;
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let today = state.today();
    let filter = EquipmentFilter {
        status,
        kind: None,
        q: text.clone(),
        maintenance_due: due,
        today,
    };
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let (rows, total) = state
        .db
        .read(move |c| repo::list(c, &filter, limit, offset))
        .await?;
    if csv_out {
        return csv(
            "equipment.csv",
            &[
                "id",
                "name",
                "type",
                "status",
                "hourly cost",
                "next maintenance",
                "maintenance due",
            ],
            rows.into_iter().map(|e| {
                let due = e.fields.maintenance_due(today);
                vec![
                    e.id,
                    e.fields.name,
                    e.fields.kind,
                    e.fields.status.as_str().into(),
                    e.fields.hourly_cost.to_decimal(),
                    e.fields
                        .next_maintenance_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    if due { "yes" } else { "no" }.into(),
                ]
            }),
        );
    }
    let rows: Vec<_> = rows.into_iter().map(|e| row_view(e, today)).collect();
    let pager = pager(&req, page, total);
    render_status(
        &state,
        &req,
        Some(&who.user),
        &who.csrf,
        StatusCode::OK,
        "office_equipment.html",
        context! {
            rows, pager, statuses => STATUSES, status => status_key,
            q => text.unwrap_or_default(), due => due.map(|d| d.to_string()).unwrap_or_default(),
        },
    )
}

/// An equipment row of a table.
#[derive(Serialize)]
struct EquipmentRow {
    #[serde(flatten)]
    e: Equipment,
    due: bool,
}

fn row_view(e: Equipment, today: chrono::NaiveDate) -> EquipmentRow {
    EquipmentRow {
        due: e.fields.maintenance_due(today),
        e,
    }
}

/// The equipment form's values.
#[derive(Debug, Deserialize, Serialize)]
struct EquipmentForm {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default, rename = "hourlyCost")]
    hourly_cost: String,
    #[serde(default = "available")]
    status: String,
    #[serde(default, rename = "nextMaintenanceDate")]
    next_maintenance_date: String,
}

fn available() -> String {
    "available".into()
}

impl Default for EquipmentForm {
    fn default() -> Self {
        EquipmentForm {
            name: String::new(),
            kind: String::new(),
            hourly_cost: String::new(),
            status: available(),
            next_maintenance_date: String::new(),
        }
    }
}

impl EquipmentForm {
    fn from_equipment(f: &EquipmentFields) -> Self {
        EquipmentForm {
            name: f.name.clone(),
            kind: f.kind.clone(),
            hourly_cost: f.hourly_cost.to_decimal(),
            status: f.status.as_str().into(),
            next_maintenance_date: f
                .next_maintenance_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
        }
    }

    /// The domain input, and the errors found reading the amount and status.
    fn input(&self) -> (EquipmentInput, FieldErrors) {
        let mut errors = FieldErrors::new();
        let hourly = money_field(&mut errors, "hourlyCost", Some(&self.hourly_cost));
        let status = parse_status(&mut errors, &self.status);
        let date = self.next_maintenance_date.trim();
        let input = EquipmentInput {
            name: Some(self.name.clone()),
            kind: Some(self.kind.clone()),
            hourly_cost: Some(hourly.unwrap_or(Money::ZERO)),
            status,
            next_maintenance_date: Some((!date.is_empty()).then(|| date.to_string())),
        };
        (input, errors)
    }
}

#[allow(clippy::too_many_arguments)]
fn render_form(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    status: StatusCode,
    item: Option<&Equipment>,
    loadouts: &[Loadout],
    form: &EquipmentForm,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let item = item.map(|e| row_view(e.clone(), state.today()));
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_equipment_form.html",
        context! { item, loadouts, form, errors, alert, statuses => STATUSES },
    )
}

async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    let form = EquipmentForm::default();
    render_form(&state, &req, &who, StatusCode::OK, None, &[], &form, None)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(form): Form<EquipmentForm>,
) -> Result<HttpResponse, UiError> {
    let (input, pre) = form.input();
    let fields = match joined(
        pre,
        EquipmentFields::merge(&EquipmentFields::default(), input),
    ) {
        Ok(f) => f,
        Err(r) => {
            return render_form(&state, &req, &who, r.status(), None, &[], &form, Some(r));
        }
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
            &format!("/equipment/{}", e.id),
            &format!("Equipment “{}” added.", e.fields.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            render_form(&state, &req, &who, r.status(), None, &[], &form, Some(r))
        }
    }
}

/// The item with `raw_id` and the loadouts it is in.
async fn load(state: &AppState, raw_id: &str) -> Result<(Equipment, Vec<Loadout>), UiError> {
    let id = path_id(raw_id)?;
    Ok(state
        .db
        .read(move |c| {
            let e = repo::get(c, &id)?.ok_or(DbError::NotFound)?;
            let (loadouts, _) = repo::list_loadouts(
                c,
                &LoadoutFilter {
                    q: None,
                    equipment_id: Some(id.clone()),
                },
                100,
                0,
            )?;
            Ok((e, loadouts))
        })
        .await?)
}

async fn edit_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let (e, loadouts) = load(&state, &id).await?;
    let form = EquipmentForm::from_equipment(&e.fields);
    render_form(
        &state,
        &req,
        &who,
        StatusCode::OK,
        Some(&e),
        &loadouts,
        &form,
        None,
    )
}

async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<EquipmentForm>,
) -> Result<HttpResponse, UiError> {
    let (current, loadouts) = load(&state, &id).await?;
    let (input, pre) = form.input();
    let refuse = |r: Refusal| {
        render_form(
            &state,
            &req,
            &who,
            r.status(),
            Some(&current),
            &loadouts,
            &form,
            Some(r),
        )
    };
    // Validate against the stored item first, so amount errors and field
    // errors are shown together; the write merges again.
    if let Err(r) = joined(pre, EquipmentFields::merge(&current.fields, input.clone())) {
        return refuse(r);
    }
    let now = state.clock.now();
    let actor = who.actor();
    let eid = current.id.clone();
    match state
        .db
        .write(move |c| {
            repo::update(c, &actor, &eid, now, |cur| {
                EquipmentFields::merge(cur, input).map_err(DbError::from)
            })
        })
        .await
    {
        Ok(e) => Ok(flash_redirect(
            &format!("/equipment/{}", e.id),
            &format!("Equipment “{}” saved.", e.fields.name),
        )),
        Err(e) => refuse(refusal(e)?),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn delete(
    state: web::Data<AppState>,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let (e, _) = load(&state, &id).await?;
    let now = state.clock.now();
    let actor = who.actor();
    let eid = e.id.clone();
    state
        .db
        .write(move |c| repo::delete(c, &actor, &eid, now))
        .await?;
    Ok(flash_redirect(
        "/equipment",
        &format!("Equipment “{}” deleted.", e.fields.name),
    ))
}

// ---------------------------------------------------------------- loadouts

/// Query of `/equipment/loadouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadoutQuery {
    q: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

/// The loadout form's values.
#[derive(Debug, Default, Deserialize, Serialize)]
struct LoadoutForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn loadouts(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
) -> Result<HttpResponse, UiError> {
    loadouts_page(
        &state,
        &req,
        &who,
        StatusCode::OK,
        &LoadoutForm::default(),
        None,
    )
    .await
}

async fn loadouts_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    status: StatusCode,
    form: &LoadoutForm,
    refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let q: LoadoutQuery = page_query(req)?;
    let csv_out = wants_csv(q.format.as_deref())?;
    let page = parse_page(q.page, q.limit)?;
    let text = search_text("q", q.q, 200)?;
    let filter = LoadoutFilter {
        q: text.clone(),
        equipment_id: None,
    };
    let (limit, offset) = if csv_out {
        (EXPORT_LIMIT, 0)
    } else {
        (page.limit.into(), page.offset())
    };
    let (rows, total) = state
        .db
        .read(move |c| repo::list_loadouts(c, &filter, limit, offset))
        .await?;
    if csv_out {
        return csv(
            "loadouts.csv",
            &[
                "id",
                "name",
                "description",
                "equipment",
                "items",
                "hourly cost",
            ],
            rows.into_iter().map(|l| {
                vec![
                    l.id,
                    l.name,
                    l.description,
                    l.equipment
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                    l.equipment.len().to_string(),
                    l.hourly_cost.to_decimal(),
                ]
            }),
        );
    }
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let pager = if req.method() == actix_web::http::Method::GET {
        pager(req, page, total)
    } else {
        super::pager_at("/equipment/loadouts", vec![], page, total)
    };
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_loadouts.html",
        context! { rows, pager, q => text.unwrap_or_default(), form, errors, alert },
    )
}

async fn create_loadout(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(form): Form<LoadoutForm>,
) -> Result<HttpResponse, UiError> {
    let input = LoadoutInput {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        equipment_ids: Some(Vec::new()),
    };
    let fields = match LoadoutFields::merge(&LoadoutFields::default(), input) {
        Ok(f) => f,
        Err(e) => {
            let r = super::domain_refusal(e);
            return loadouts_page(&state, &req, &who, r.status(), &form, Some(r)).await;
        }
    };
    let now = state.clock.now();
    let id = new_id(now).to_string();
    let actor = who.actor();
    match state
        .db
        .write(move |c| repo::insert_loadout(c, &actor, &id, fields, now))
        .await
    {
        Ok(l) => Ok(flash_redirect(
            &format!("/equipment/loadouts/{}", l.id),
            &format!("Loadout “{}” created. Now add its equipment.", l.name),
        )),
        Err(e) => {
            let r = refusal(e)?;
            loadouts_page(&state, &req, &who, r.status(), &form, Some(r)).await
        }
    }
}

async fn load_loadout(
    state: &AppState,
    raw_id: &str,
) -> Result<(Loadout, Vec<Equipment>), UiError> {
    let id = path_id(raw_id)?;
    let today = state.today();
    Ok(state
        .db
        .read(move |c| {
            let l = repo::get_loadout(c, &id)?.ok_or(DbError::NotFound)?;
            let (all, _) = repo::list(
                c,
                &EquipmentFilter {
                    status: None,
                    kind: None,
                    q: None,
                    maintenance_due: None,
                    today,
                },
                1000,
                0,
            )?;
            let addable = all
                .into_iter()
                .filter(|e| {
                    e.fields.status != EquipmentStatus::Retired && !l.equipment_ids.contains(&e.id)
                })
                .collect();
            Ok((l, addable))
        })
        .await?)
}

#[allow(clippy::too_many_arguments)]
async fn loadout_page(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    status: StatusCode,
    form: Option<&LoadoutForm>,
    refused: Option<Refusal>,
    add_refused: Option<Refusal>,
) -> Result<HttpResponse, UiError> {
    let (l, addable) = load_loadout(state, raw_id).await?;
    let form = match form {
        Some(f) => LoadoutForm {
            name: f.name.clone(),
            description: f.description.clone(),
        },
        None => LoadoutForm {
            name: l.name.clone(),
            description: l.description.clone(),
        },
    };
    let errors = refused.as_ref().map(Refusal::fields).unwrap_or_default();
    let alert = refused.as_ref().and_then(Refusal::alert);
    let add_errors = add_refused
        .as_ref()
        .map(Refusal::fields)
        .unwrap_or_default();
    let add_alert = add_refused.as_ref().and_then(Refusal::alert);
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "office_loadout.html",
        context! { l, addable, form, errors, alert, add_errors, add_alert },
    )
}

async fn loadout(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    loadout_page(&state, &req, &who, &id, StatusCode::OK, None, None, None).await
}

async fn save_loadout(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<LoadoutForm>,
) -> Result<HttpResponse, UiError> {
    let lid = path_id(&id)?;
    let input = LoadoutInput {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        equipment_ids: None,
    };
    let now = state.clock.now();
    let actor = who.actor();
    let target = lid.clone();
    match state
        .db
        .write(move |c| {
            repo::update_loadout(c, &actor, &target, now, |cur| {
                LoadoutFields::merge(cur, input).map_err(DbError::from)
            })
        })
        .await
    {
        Ok(l) => Ok(flash_redirect(
            &format!("/equipment/loadouts/{}", l.id),
            "Loadout saved.",
        )),
        Err(e) => {
            let r = refusal(e)?;
            loadout_page(
                &state,
                &req,
                &who,
                &lid,
                r.status(),
                Some(&form),
                Some(r),
                None,
            )
            .await
        }
    }
}

/// The add/remove forms' field.
#[derive(Debug, Deserialize)]
struct ItemForm {
    #[serde(default)]
    equipment_id: String,
}

async fn add_item(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<ItemForm>,
) -> Result<HttpResponse, UiError> {
    change_items(&state, &req, &who, &id, &form.equipment_id, true).await
}

async fn remove_item(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(form): Form<ItemForm>,
) -> Result<HttpResponse, UiError> {
    change_items(&state, &req, &who, &id, &form.equipment_id, false).await
}

/// Adds or removes one item through the loadout update the API uses (the
/// new set is computed inside the write from the stored one).
async fn change_items(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    raw_id: &str,
    equipment_id: &str,
    add: bool,
) -> Result<HttpResponse, UiError> {
    let lid = path_id(raw_id)?;
    let Some(eid) = parse_id(equipment_id.trim()).map(|u| u.to_string()) else {
        let r = Refusal::Fields(FieldErrors::from([(
            "equipment_id".to_string(),
            "choose a piece of equipment".to_string(),
        )]));
        return loadout_page(state, req, who, &lid, r.status(), None, None, Some(r)).await;
    };
    let now = state.clock.now();
    let actor = who.actor();
    let target = lid.clone();
    let item = eid.clone();
    let saved = state
        .db
        .write(move |c| {
            repo::update_loadout(c, &actor, &target, now, |cur| {
                let mut ids = cur.equipment_ids.clone();
                if add {
                    if !ids.contains(&item) {
                        ids.push(item);
                    }
                } else {
                    ids.retain(|x| *x != item);
                }
                LoadoutFields::merge(
                    cur,
                    LoadoutInput {
                        equipment_ids: Some(ids),
                        ..Default::default()
                    },
                )
                .map_err(DbError::from)
            })
        })
        .await;
    match saved {
        Ok(l) => Ok(flash_redirect(
            &format!("/equipment/loadouts/{}", l.id),
            if add {
                "Equipment added to the loadout."
            } else {
                "Equipment removed from the loadout."
            },
        )),
        Err(e) => {
            let r = match refusal(e)? {
                // The list's errors name the item by position; the form has one field.
                Refusal::Fields(f) => Refusal::Fields(
                    f.into_values()
                        .take(1)
                        .map(|v| ("equipment_id".to_string(), v))
                        .collect(),
                ),
                other => other,
            };
            loadout_page(state, req, who, &lid, r.status(), None, None, Some(r)).await
        }
    }
}

async fn delete_loadout(
    state: web::Data<AppState>,
    who: UiUser<Staff>,
    id: web::Path<String>,
    Form(_): Form<Empty>,
) -> Result<HttpResponse, UiError> {
    let lid = path_id(&id)?;
    let now = state.clock.now();
    let actor = who.actor();
    state
        .db
        .write(move |c| repo::delete_loadout(c, &actor, &lid, now))
        .await?;
    Ok(flash_redirect("/equipment/loadouts", "Loadout deleted."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::equipment::STATUS_VALUES;

    #[test]
    fn the_form_reads_amounts_statuses_and_dates() {
        let f = EquipmentForm {
            name: "Camera".into(),
            kind: "Drain camera".into(),
            hourly_cost: "12.5".into(),
            status: "maintenance".into(),
            next_maintenance_date: " ".into(),
        };
        let (input, errors) = f.input();
        assert!(errors.is_empty());
        assert_eq!(input.hourly_cost, Some(Money::from_cents(1250)));
        assert_eq!(input.status, Some(EquipmentStatus::Maintenance));
        assert_eq!(input.next_maintenance_date, Some(None));
        let bad = EquipmentForm {
            hourly_cost: "12,5x".into(),
            status: "lost".into(),
            ..f
        };
        let (_, errors) = bad.input();
        assert_eq!(errors["status"], STATUS_VALUES);
        assert!(errors.contains_key("hourlyCost"));
    }
}
