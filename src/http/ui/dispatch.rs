//! The dispatch board (`/dispatch`, owner and office): one lane per active
//! technician plus an "Unassigned" lane, by day (cards placed on a time line
//! in quarter hours) or by week (a column per day), and a tray of drafts that
//! have no date yet.
//!
//! Moving a job: `assets/static/dispatch.js` drags a card onto a lane (and a
//! time) and calls the JSON API (`POST /api/v1/work-orders/{id}/schedule`
//! onto a technician, `PATCH` of a draft's tentative date onto Unassigned);
//! without JavaScript, or from the keyboard, each movable card has a small
//! Move form posting to `POST /dispatch/move`, which applies the same rules
//! through [`crate::db::work_orders::move_on_board`] and re-renders the board
//! with the clash (409) or the field errors (400). Technicians get a 403 page.

use super::{Form, UiError, UiUser, flash_redirect, render_status};
use crate::db::employees::EmployeeFilter;
use crate::db::work_orders::{self as repo, BoardMove};
use crate::domain::employee::Employee;
use crate::domain::ids::parse_id;
use crate::domain::money::Minutes;
use crate::domain::validate::Check;
use crate::domain::work_order::{Status, WorkOrder};
use crate::domain::{DomainError, FieldErrors};
use crate::http::auth::Staff;
use crate::http::error::HttpError;
use crate::http::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Timelike};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Registers `/dispatch` and `/dispatch/move`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dispatch", web::get().to(board))
        .route("/dispatch/move", web::post().to(move_job));
}

/// Most undated drafts the tray shows (the rest are counted and linked).
const TRAY_LIMIT: i64 = 30;
/// The day view's time line covers at least these hours.
const DAY_START_HOUR: u32 = 7;
const DAY_END_HOUR: u32 = 19;
/// Where a job without a time of its own lands when moved to a day.
const DEFAULT_TIME: &str = "09:00";

/// Day or week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One day, cards on a time line.
    Day,
    /// Monday to Sunday, a column per day.
    Week,
}

impl View {
    fn parse(s: Option<&str>) -> Option<View> {
        match s.map(str::trim) {
            None | Some("") | Some("day") => Some(View::Day),
            Some("week") => Some(View::Week),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            View::Day => "day",
            View::Week => "week",
        }
    }
}

/// The days a board shows: `(first, last)`, inclusive. A week starts on Monday.
pub fn period(view: View, date: NaiveDate) -> (NaiveDate, NaiveDate) {
    match view {
        View::Day => (date, date),
        View::Week => {
            let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
            (monday, monday + Duration::days(6))
        }
    }
}

/// The `/dispatch` URL of `view` at `date`.
pub fn board_url(view: View, date: NaiveDate) -> String {
    format!(
        "/dispatch?view={}&date={}",
        view.as_str(),
        date.format("%Y-%m-%d")
    )
}

/// One job on the board.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    id: String,
    number: String,
    customer: String,
    service: String,
    status: &'static str,
    status_label: &'static str,
    priority: &'static str,
    /// Technician (employee id), "" when unassigned.
    employee: String,
    date: String,
    /// "HH:MM", "" when the draft has no time yet.
    time: String,
    /// "HH:MM" the booking ends ("" without a time).
    end: String,
    /// Length in minutes.
    minutes: i64,
    /// Day view: first quarter-hour column (0-based) and width in quarters.
    q: i64,
    w: i64,
    /// Draft or scheduled: can be moved.
    movable: bool,
    /// Unique on the page (form control ids).
    idx: usize,
    /// A one-line summary (the card's `title`).
    summary: String,
}

/// A week view cell: one technician's day.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    date: String,
    label: String,
    today: bool,
    cards: Vec<Card>,
}

/// One technician (or the Unassigned lane).
#[derive(Debug, Clone, Serialize)]
pub struct Lane {
    /// Employee id, "" for Unassigned.
    id: String,
    name: String,
    trade: String,
    /// Not active any more (still shown while they hold jobs in the period).
    inactive: bool,
    /// Jobs in the period and their booked minutes.
    count: usize,
    booked: i64,
    /// Day view.
    cards: Vec<Card>,
    /// Week view.
    cells: Vec<Cell>,
}

/// A column heading of the week view.
#[derive(Debug, Clone, Serialize)]
pub struct DayHead {
    date: String,
    label: String,
    url: String,
    today: bool,
}

/// An option of the Move form's technician select.
#[derive(Debug, Clone, Serialize)]
pub struct Tech {
    id: String,
    name: String,
}

/// Everything the board template shows.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    view: &'static str,
    date: String,
    title: String,
    from: String,
    to: String,
    prev: String,
    next: String,
    /// This board's own URL.
    self_url: String,
    today_url: String,
    day_url: String,
    week_url: String,
    is_today: bool,
    /// Week view column headings.
    days: Vec<DayHead>,
    /// Day view: hour labels of the time line, its first minute of the day
    /// and its length in hours.
    hours: Vec<String>,
    start_minute: i64,
    span_hours: i64,
    quarters: i64,
    /// The time a Move form offers for a job without one.
    default_time: &'static str,
    lanes: Vec<Lane>,
    tray: Vec<Card>,
    tray_total: i64,
    /// The job whose Move form is open when it is not on this board.
    loose: Option<Card>,
    techs: Vec<Tech>,
    jobs: usize,
}

/// What [`build`] lays out.
pub struct BoardData {
    /// Active technicians, by name.
    pub employees: Vec<Employee>,
    /// Jobs dated in the period (not cancelled), by date and time.
    pub jobs: Vec<WorkOrder>,
    /// Drafts without a date (a page of them) and how many there are.
    pub drafts: Vec<WorkOrder>,
    /// All undated drafts.
    pub drafts_total: i64,
}

fn minute_of_day(time: &str) -> Option<i64> {
    NaiveTime::parse_from_str(time, "%H:%M")
        .ok()
        .map(|t| i64::from(t.hour()) * 60 + i64::from(t.minute()))
}

fn hhmm(minute: i64) -> String {
    let m = minute.clamp(0, 24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Draft => "Draft",
        Status::Scheduled => "Scheduled",
        Status::InProgress => "In progress",
        Status::Completed => "Completed",
        Status::Cancelled => "Cancelled",
    }
}

/// The booked length of `wo` in minutes: its window, else its estimate, else
/// `default_minutes`.
fn length(wo: &WorkOrder, default_minutes: i64) -> i64 {
    match (wo.window_start, wo.window_end) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wo
            .estimated_duration_hours
            .map(|m| m.0)
            .filter(|m| *m > 0)
            .unwrap_or(default_minutes)
            .max(1),
    }
}

fn card(wo: &WorkOrder, idx: usize, default_minutes: i64) -> Card {
    let minutes = length(wo, default_minutes);
    let start = wo.scheduled_time.as_deref().and_then(minute_of_day);
    let (time, end) = match start {
        Some(s) => (hhmm(s), hhmm(s + minutes)),
        None => (String::new(), String::new()),
    };
    let when = if time.is_empty() {
        "time not set".to_string()
    } else {
        format!("{time}–{end}")
    };
    let summary = format!(
        "{} · {} · {} · {} · {} priority · {}",
        wo.work_order_number,
        wo.customer_name,
        wo.service_type,
        when,
        wo.priority_level.as_str(),
        status_label(wo.status)
    );
    Card {
        id: wo.id.clone(),
        number: wo.work_order_number.clone(),
        customer: wo.customer_name.clone(),
        service: wo.service_type.clone(),
        status: wo.status.as_str(),
        status_label: status_label(wo.status),
        priority: wo.priority_level.as_str(),
        employee: wo.assigned_employee_id.clone().unwrap_or_default(),
        date: wo.scheduled_date.clone().unwrap_or_default(),
        time,
        end,
        minutes,
        q: 0,
        w: 1,
        movable: matches!(wo.status, Status::Draft | Status::Scheduled),
        idx,
        summary,
    }
}

fn day_label(d: NaiveDate) -> String {
    d.format("%a %-d %b").to_string()
}

/// Lays out the board of `view` at `date` (`today` in the business time
/// zone) from `data`. Pure; cannot fail.
pub fn build(
    view: View,
    date: NaiveDate,
    today: NaiveDate,
    data: BoardData,
    default_minutes: i64,
) -> Board {
    let (from, to) = period(view, date);
    let step = match view {
        View::Day => 1,
        View::Week => 7,
    };
    let mut idx = 0usize;
    let mut next_idx = || {
        idx += 1;
        idx
    };
    let cards: Vec<Card> = data
        .jobs
        .iter()
        .map(|wo| card(wo, next_idx(), default_minutes))
        .collect();

    // Lanes: Unassigned first, then active technicians by name, then anyone
    // inactive who still holds jobs in the period.
    let mut lanes: Vec<Lane> = Vec::new();
    let blank_lane = |id: String, name: String, trade: String, inactive: bool| Lane {
        id,
        name,
        trade,
        inactive,
        count: 0,
        booked: 0,
        cards: Vec::new(),
        cells: Vec::new(),
    };
    lanes.push(blank_lane(
        String::new(),
        "Unassigned".into(),
        "Drafts with a date".into(),
        false,
    ));
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for e in &data.employees {
        lane_of.insert(e.id.clone(), lanes.len());
        lanes.push(blank_lane(
            e.id.clone(),
            e.fields.name.clone(),
            e.fields.trade.clone(),
            false,
        ));
    }
    for (wo, c) in data.jobs.iter().zip(&cards) {
        if !c.employee.is_empty() && !lane_of.contains_key(&c.employee) {
            lane_of.insert(c.employee.clone(), lanes.len());
            lanes.push(blank_lane(
                c.employee.clone(),
                wo.assigned_employee_name.clone().unwrap_or_default(),
                String::new(),
                true,
            ));
        }
    }

    // Day view time line: 07:00–19:00, widened to whole hours around every job.
    let (mut first, mut last) = (i64::from(DAY_START_HOUR) * 60, i64::from(DAY_END_HOUR) * 60);
    if view == View::Day {
        for c in &cards {
            if let Some(s) = minute_of_day(&c.time) {
                first = first.min(s / 60 * 60);
                last = last.max(s + c.minutes);
            }
        }
    }
    let first = first.clamp(0, 23 * 60);
    let last = ((last + 59) / 60 * 60).clamp(first + 60, 24 * 60);
    let quarters = (last - first) / 15;

    for c in cards {
        let li = lane_of.get(&c.employee).copied().unwrap_or(0);
        let lane = &mut lanes[li];
        lane.count += 1;
        lane.booked += c.minutes;
        let mut c = c;
        if let Some(s) = minute_of_day(&c.time) {
            c.q = ((s - first) / 15).clamp(0, quarters - 1);
            c.w = ((c.minutes + 14) / 15).clamp(1, quarters - c.q);
        } else {
            c.q = 0;
            c.w = 4.min(quarters);
        }
        lane.cards.push(c);
    }

    let days: Vec<NaiveDate> = (0..step).map(|i| from + Duration::days(i)).collect();
    if view == View::Week {
        for lane in &mut lanes {
            let cards = std::mem::take(&mut lane.cards);
            let mut cells: Vec<Cell> = days
                .iter()
                .map(|d| Cell {
                    date: d.format("%Y-%m-%d").to_string(),
                    label: day_label(*d),
                    today: *d == today,
                    cards: Vec::new(),
                })
                .collect();
            for c in cards {
                if let Some(cell) = cells.iter_mut().find(|x| x.date == c.date) {
                    cell.cards.push(c);
                }
            }
            lane.cells = cells;
        }
    }

    let tray: Vec<Card> = data
        .drafts
        .iter()
        .map(|wo| card(wo, next_idx(), default_minutes))
        .collect();
    let jobs = lanes.iter().map(|l| l.count).sum();
    let title = match view {
        View::Day => date.format("%A %-d %B %Y").to_string(),
        View::Week => format!(
            "Week of {} – {}",
            from.format("%-d %b"),
            to.format("%-d %b %Y")
        ),
    };
    Board {
        view: view.as_str(),
        date: date.format("%Y-%m-%d").to_string(),
        title,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        prev: board_url(view, date - Duration::days(step)),
        next: board_url(view, date + Duration::days(step)),
        self_url: board_url(view, date),
        today_url: board_url(view, today),
        day_url: board_url(View::Day, date),
        week_url: board_url(View::Week, date),
        is_today: (from..=to).contains(&today),
        days: days
            .iter()
            .map(|d| DayHead {
                date: d.format("%Y-%m-%d").to_string(),
                label: day_label(*d),
                url: board_url(View::Day, *d),
                today: *d == today,
            })
            .collect(),
        hours: (first / 60..last / 60)
            .map(|h| format!("{h:02}:00"))
            .collect(),
        start_minute: first,
        span_hours: (last - first) / 60,
        quarters,
        default_time: DEFAULT_TIME,
        lanes,
        tray,
        tray_total: data.drafts_total,
        loose: None,
        techs: data
            .employees
            .iter()
            .map(|e| Tech {
                id: e.id.clone(),
                name: e.fields.name.clone(),
            })
            .collect(),
        jobs,
    }
}

#[derive(Deserialize)]
struct BoardQuery {
    view: Option<String>,
    date: Option<String>,
    /// Open this card's Move form.
    #[serde(rename = "move")]
    move_id: Option<String>,
}

/// Reads the view and the date (default today); a bad value is a 400 page.
fn view_and_date(
    view: Option<&str>,
    date: Option<&str>,
    today: NaiveDate,
) -> Result<(View, NaiveDate), UiError> {
    let view = View::parse(view)
        .ok_or_else(|| UiError::bad_request("The view must be \"day\" or \"week\"."))?;
    let date = match date.map(str::trim).filter(|s| !s.is_empty()) {
        None => today,
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| UiError::bad_request("The date must be a date like 2026-03-02."))?,
    };
    Ok((view, date))
}

/// The card whose Move form is open, with the values it shows.
#[derive(Debug, Default, Serialize)]
struct Edit {
    /// The work order.
    id: String,
    /// Technician (employee id), "" for Unassigned.
    employee: String,
    date: String,
    time: String,
    /// Field (`employee`, `date`, `time`) → why it was refused.
    fields: FieldErrors,
}

impl Board {
    /// Card `id`, wherever it is on the board.
    fn card(&self, id: &str) -> Option<&Card> {
        let mut lanes = self
            .lanes
            .iter()
            .flat_map(|l| l.cards.iter().chain(l.cells.iter().flat_map(|c| &c.cards)));
        lanes
            .find(|c| c.id == id)
            .or_else(|| self.tray.iter().find(|c| c.id == id))
            .or_else(|| self.loose.as_ref().filter(|c| c.id == id))
    }

    /// The Move form of card `id` filled with where it is now, if the card is
    /// on this board.
    fn edit_of(&self, id: &str) -> Option<Edit> {
        let c = self.card(id).filter(|c| c.movable)?;
        Some(Edit {
            id: c.id.clone(),
            employee: c.employee.clone(),
            date: if c.date.is_empty() {
                self.date.clone()
            } else {
                c.date.clone()
            },
            time: if c.time.is_empty() {
                DEFAULT_TIME.to_string()
            } else {
                c.time.clone()
            },
            fields: FieldErrors::new(),
        })
    }
}

/// What the board shows besides the jobs: the card whose Move form is
/// open (`move=<id>`), or a refused move with its message.
enum Opened {
    None,
    Form(String),
    Refused { edit: Edit, message: String },
}

#[allow(clippy::too_many_arguments)]
async fn render_board(
    state: &AppState,
    req: &HttpRequest,
    who: &UiUser<Staff>,
    view: View,
    date: NaiveDate,
    status: StatusCode,
    opened: Opened,
) -> Result<HttpResponse, UiError> {
    let (from, to) = period(view, date);
    let (from_s, to_s) = (
        from.format("%Y-%m-%d").to_string(),
        to.format("%Y-%m-%d").to_string(),
    );
    let open_id = match &opened {
        Opened::None => None,
        Opened::Form(id) => Some(id.clone()),
        Opened::Refused { edit, .. } => Some(edit.id.clone()),
    };
    let (data, open_wo) = state
        .db
        .read(move |c| {
            let filter = EmployeeFilter {
                active: Some(true),
                ..EmployeeFilter::default()
            };
            let (employees, _) = crate::db::employees::list(c, &filter, 500, 0)?;
            let jobs = repo::on_board(c, &from_s, &to_s)?;
            let (drafts, drafts_total) = repo::undated_drafts(c, TRAY_LIMIT)?;
            let open_wo = match open_id {
                Some(id) => repo::get(c, &id)?,
                None => None,
            };
            let data = BoardData {
                employees,
                jobs,
                drafts,
                drafts_total,
            };
            Ok((data, open_wo))
        })
        .await?;
    let default_minutes = state.config().business.default_job_minutes.max(1);
    let mut b = build(view, date, state.today(), data, default_minutes);
    if let Some(wo) = open_wo
        && b.card(&wo.id).is_none()
    {
        b.loose = Some(card(&wo, 0, default_minutes));
    }
    let (edit, failure) = match opened {
        Opened::None => (None, None),
        Opened::Form(id) => (b.edit_of(&id), None),
        Opened::Refused { edit, message } => (Some(edit), Some(message)),
    };
    render_status(
        state,
        req,
        Some(&who.user),
        &who.csrf,
        status,
        "dispatch_board.html",
        context! { b, edit, failure },
    )
}

async fn board(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    q: web::Query<BoardQuery>,
) -> Result<HttpResponse, UiError> {
    let (view, date) = view_and_date(q.view.as_deref(), q.date.as_deref(), state.today())?;
    let opened = match q.move_id.as_deref().map(str::trim).and_then(parse_id) {
        Some(id) => Opened::Form(id.to_string()),
        None => Opened::None,
    };
    render_board(&state, &req, &who, view, date, StatusCode::OK, opened).await
}

/// The Move form of a card.
#[derive(Deserialize)]
struct MoveForm {
    /// The work order.
    #[serde(default)]
    id: String,
    /// Technician (employee id); "" = Unassigned.
    #[serde(default)]
    employee: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    /// The board to return to.
    view: Option<String>,
    at: Option<String>,
}

/// Validates a Move form: every bad field named (`employee`, `date`, `time`).
fn validate_move(f: &MoveForm) -> Result<BoardMove, DomainError> {
    let mut c = Check::new();
    let date = match f.date.trim() {
        "" => {
            c.fail("date", "is required");
            None
        }
        d => c.date_opt("date", Some(d)),
    };
    let time = match f.time.trim() {
        "" => {
            c.fail("time", "is required");
            None
        }
        t => c.time_opt("time", Some(t)),
    };
    let employee_id = match f.employee.trim() {
        "" => None,
        e => match parse_id(e) {
            Some(u) => Some(u.to_string()),
            None => {
                c.fail("employee", "choose a technician from the list");
                None
            }
        },
    };
    c.finish()?;
    match (date, time) {
        (Some(date), Some(time)) => Ok(BoardMove {
            employee_id,
            date,
            time,
        }),
        _ => Err(DomainError::field("date", "is required")),
    }
}

/// Maps the repository's field names to the Move form's.
fn form_fields(fields: FieldErrors) -> FieldErrors {
    fields
        .into_iter()
        .map(|(k, v)| {
            let k = match k.as_str() {
                "scheduledDate" => "date".to_string(),
                "scheduledTime" => "time".to_string(),
                "assignedEmployeeId" => "employee".to_string(),
                _ => k,
            };
            (k, v)
        })
        .collect()
}

async fn move_job(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<Staff>,
    Form(f): Form<MoveForm>,
) -> Result<HttpResponse, UiError> {
    let (view, at) = view_and_date(f.view.as_deref(), f.at.as_deref(), state.today())?;
    let id = parse_id(f.id.trim())
        .ok_or_else(UiError::not_found)?
        .to_string();
    let refused = |message: String, fields: FieldErrors| Opened::Refused {
        edit: Edit {
            id: id.clone(),
            employee: f.employee.trim().to_string(),
            date: f.date.trim().to_string(),
            time: f.time.trim().to_string(),
            fields,
        },
        message,
    };
    let result = match validate_move(&f) {
        Ok(m) => {
            let now = state.clock.now();
            let actor = who.actor();
            let default_minutes = Minutes(state.config().business.default_job_minutes.max(1));
            let wo_id = id.clone();
            state
                .db
                .write(move |c| repo::move_on_board(c, &actor, now, &wo_id, &m, default_minutes))
                .await
                .map_err(HttpError::from)
        }
        Err(e) => Err(HttpError::from(e)),
    };
    match result {
        Ok(wo) => {
            let who_name = wo
                .assigned_employee_name
                .clone()
                .unwrap_or_else(|| "Unassigned".into());
            let msg = format!(
                "{} moved to {}, {} {}.",
                wo.work_order_number,
                who_name,
                wo.scheduled_date.as_deref().unwrap_or(""),
                wo.scheduled_time.as_deref().unwrap_or("")
            );
            Ok(flash_redirect(&board_url(view, at), &msg))
        }
        Err(HttpError::Conflict(message)) => {
            let fail = refused(format!("Not moved: {message}"), FieldErrors::new());
            render_board(&state, &req, &who, view, at, StatusCode::CONFLICT, fail).await
        }
        Err(HttpError::Validation { fields, .. }) => {
            let fields = form_fields(fields);
            let list: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let fail = refused(format!("Not moved: check the {}.", list.join("; ")), fields);
            render_board(&state, &req, &who, view, at, StatusCode::BAD_REQUEST, fail).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::employee::EmployeeFields;
    use crate::domain::money::Minutes;
    use crate::domain::work_order::{CompletionPhotos, Priority};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn emp(id: &str, name: &str) -> Employee {
        Employee {
            id: id.into(),
            fields: EmployeeFields {
                name: name.into(),
                ..EmployeeFields::default()
            },
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn wo(
        n: i64,
        date: Option<&str>,
        time: Option<&str>,
        minutes: i64,
        emp: Option<&str>,
    ) -> WorkOrder {
        let status = if emp.is_some() {
            Status::Scheduled
        } else {
            Status::Draft
        };
        WorkOrder {
            id: format!("id{n}"),
            number: n,
            work_order_number: format!("WO-{n:06}"),
            customer_id: "c".into(),
            service_type: "Leak".into(),
            status,
            priority_level: Priority::High,
            scheduled_date: date.map(Into::into),
            scheduled_time: time.map(Into::into),
            estimated_duration_hours: Some(Minutes(minutes)),
            actual_duration_hours: None,
            assigned_employee_id: emp.map(Into::into),
            loadout_id: None,
            job_description: String::new(),
            special_instructions: String::new(),
            estimated_cost: None,
            actual_cost: None,
            quoted_price: None,
            final_price: None,
            profit_margin: None,
            completion_photos: CompletionPhotos::default(),
            customer_signature: None,
            customer_notes: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            customer_name: "Ann".into(),
            assigned_employee_name: emp.map(|e| format!("Name of {e}")),
            completion_notes: String::new(),
            started_at: None,
            completed_at: None,
            cancelled_at: None,
            cancel_reason: None,
            invoice_id: None,
            assigned_user_id: None,
            window_start: None,
            window_end: None,
            lead_id: None,
        }
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(
            period(View::Week, d("2026-11-22")),
            (d("2026-11-16"), d("2026-11-22"))
        );
        assert_eq!(
            period(View::Week, d("2026-11-23")),
            (d("2026-11-23"), d("2026-11-29"))
        );
        assert_eq!(
            period(View::Day, d("2026-11-23")),
            (d("2026-11-23"), d("2026-11-23"))
        );
        assert_eq!(
            board_url(View::Week, d("2026-01-05")),
            "/dispatch?view=week&date=2026-01-05"
        );
    }

    #[test]
    fn day_view_places_cards_in_quarter_hours_and_widens_the_time_line() {
        let data = BoardData {
            employees: vec![emp("e1", "Bo"), emp("e2", "Al")],
            jobs: vec![
                wo(1, Some("2026-11-23"), Some("09:15"), 90, Some("e1")),
                wo(2, Some("2026-11-23"), Some("06:30"), 60, None),
                wo(3, Some("2026-11-23"), Some("18:00"), 150, Some("e9")),
                wo(4, Some("2026-11-23"), None, 60, None),
                wo(6, Some("2026-11-23"), Some("23:00"), 120, Some("e2")),
            ],
            drafts: vec![wo(5, None, None, 60, None)],
            drafts_total: 7,
        };
        let b = build(View::Day, d("2026-11-23"), d("2026-11-23"), data, 120);
        // 06:00 (job 2 starts 06:30) to midnight (job 6 runs past it).
        assert_eq!(b.start_minute, 360);
        assert_eq!(b.span_hours, 18);
        assert_eq!(b.hours.first().map(String::as_str), Some("06:00"));
        assert_eq!(b.hours.len(), 18);
        let names: Vec<&str> = b.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Unassigned", "Bo", "Al", "Name of e9"]);
        assert!(b.lanes[3].inactive);
        let c1 = &b.lanes[1].cards[0];
        assert_eq!(
            (c1.q, c1.w),
            (13, 6),
            "09:15 is 13 quarters after 06:00; 90 min = 6"
        );
        assert_eq!((c1.time.as_str(), c1.end.as_str()), ("09:15", "10:45"));
        assert_eq!(b.lanes[0].cards.len(), 2);
        assert_eq!(
            b.lanes[0].cards[1].time, "",
            "a draft with a date but no time"
        );
        let c3 = &b.lanes[3].cards[0];
        assert_eq!((c3.q, c3.w), (48, 10));
        let c6 = &b.lanes[2].cards[0];
        assert_eq!((c6.q, c6.w), (68, 4), "cut at the end of the line");
        assert_eq!(c6.end, "24:00");
        assert_eq!(b.lanes[1].booked, 90);
        assert_eq!(b.jobs, 5);
        assert_eq!(b.tray.len(), 1);
        assert_eq!(b.tray_total, 7);
        let ids: std::collections::HashSet<usize> = b
            .lanes
            .iter()
            .flat_map(|l| l.cards.iter().map(|c| c.idx))
            .chain(b.tray.iter().map(|c| c.idx))
            .collect();
        assert_eq!(ids.len(), 6, "form ids are unique on the page");
        assert_eq!(b.prev, "/dispatch?view=day&date=2026-11-22");
        assert_eq!(b.next, "/dispatch?view=day&date=2026-11-24");
    }

    #[test]
    fn an_empty_day_keeps_the_default_hours() {
        let data = BoardData {
            employees: vec![],
            jobs: vec![],
            drafts: vec![],
            drafts_total: 0,
        };
        let b = build(View::Day, d("2026-11-23"), d("2026-11-01"), data, 120);
        assert_eq!((b.start_minute, b.span_hours), (420, 12));
        assert_eq!(b.lanes.len(), 1);
        assert!(!b.is_today);
    }

    #[test]
    fn week_view_puts_cards_in_day_cells() {
        let data = BoardData {
            employees: vec![emp("e1", "Bo")],
            jobs: vec![
                wo(1, Some("2026-11-23"), Some("09:00"), 60, Some("e1")),
                wo(2, Some("2026-11-29"), Some("10:00"), 60, Some("e1")),
                wo(3, Some("2026-11-25"), None, 60, None),
            ],
            drafts: vec![],
            drafts_total: 0,
        };
        let b = build(View::Week, d("2026-11-25"), d("2026-11-25"), data, 120);
        assert_eq!(
            (b.from.as_str(), b.to.as_str()),
            ("2026-11-23", "2026-11-29")
        );
        assert_eq!(b.days.len(), 7);
        assert!(b.days[2].today && b.is_today);
        let bo = &b.lanes[1];
        assert_eq!(bo.cells.len(), 7);
        assert_eq!(bo.cells[0].cards.len(), 1);
        assert_eq!(bo.cells[6].cards.len(), 1);
        assert!(bo.cards.is_empty());
        assert_eq!(b.lanes[0].cells[2].cards[0].number, "WO-000003");
        assert_eq!(b.prev, "/dispatch?view=week&date=2026-11-18");
        let e = b.edit_of("id3").unwrap();
        assert_eq!(
            (e.employee.as_str(), e.date.as_str(), e.time.as_str()),
            ("", "2026-11-25", DEFAULT_TIME),
            "a draft without a time is offered the default"
        );
        assert_eq!(b.edit_of("id2").unwrap().time, "10:00");
        assert!(b.edit_of("nope").is_none());
    }

    #[test]
    fn move_forms_validate_every_field() {
        let f = MoveForm {
            id: "x".into(),
            employee: "not-an-id".into(),
            date: "2026-02-30".into(),
            time: "".into(),
            view: None,
            at: None,
        };
        let Err(DomainError::Validation(fields)) = validate_move(&f) else {
            panic!("accepted");
        };
        assert_eq!(
            fields.keys().map(String::as_str).collect::<Vec<_>>(),
            ["date", "employee", "time"]
        );
        let ok = MoveForm {
            id: "x".into(),
            employee: "".into(),
            date: "2026-02-27".into(),
            time: "14:30".into(),
            view: None,
            at: None,
        };
        let m = validate_move(&ok).unwrap();
        assert_eq!(m.employee_id, None);
        assert_eq!(m.time, NaiveTime::from_hms_opt(14, 30, 0).unwrap());
        let mut f = FieldErrors::new();
        f.insert(
            "assignedEmployeeId".into(),
            "this employee is not active".into(),
        );
        assert!(form_fields(f).contains_key("employee"));
    }
}
