//! The owner's and office's dashboard (`/dashboard`): the headline figures
//! of DESIGN §5 for a date range. Technicians are sent to their day.

use super::{UiError, UiUser, render, see_other};
use crate::domain::analytics::{DEFAULT_RANGE_DAYS, DateRange};
use crate::domain::user::Role;
use crate::http::auth::AnyRole;
use crate::http::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

/// Registers `/dashboard`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(dashboard));
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn dashboard(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: UiUser<AnyRole>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, UiError> {
    if who.user.role == Role::Technician {
        return Ok(see_other("/my-day"));
    }
    let tz = state.config().timezone();
    let range = DateRange::parse(
        q.from.as_deref().filter(|s| !s.is_empty()),
        q.to.as_deref().filter(|s| !s.is_empty()),
        state.today(),
        DEFAULT_RANGE_DAYS,
    )?;
    let d = state
        .db
        .read(move |c| crate::db::analytics::dashboard(c, &range, tz))
        .await?;
    render(&state, &req, &who, "dashboard.html", context! { d })
}
