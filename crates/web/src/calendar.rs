//! The office calendar page: every year's holidays and make-up working days; the planning
//! department pastes a year from the official announcement.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::Datelike;
use nhiguard_domain::access;
use nhiguard_domain::calendar::DayKind;
use nhiguard_domain::roc;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new().route("/calendar", get(page).post(save))
}

struct Year {
    year: i32,
    roc: i32,
    /// (ROC date, weekday, kind, name, is a holiday)
    days: Vec<(String, String, String, String, bool)>,
    /// The year as the edit box shows it.
    text: String,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct Page {
    b: Base,
    years: Vec<Year>,
    can_edit: bool,
}

const WEEKDAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];

async fn page(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let days = s.app.calendar().await.page(lang)?;
    let this = roc::taipei_date(s.app.now()).year();
    let mut years: Vec<Year> = Vec::new();
    for y in [this, this + 1] {
        let of_year: Vec<_> = days.iter().filter(|d| d.date.year() == y).collect();
        years.push(Year {
            year: y,
            roc: roc::roc_year(y),
            days: of_year
                .iter()
                .map(|d| {
                    (
                        roc::short_date(d.date),
                        WEEKDAYS[d.date.weekday().num_days_from_monday() as usize].to_owned(),
                        lang.t(d.kind.zh(), d.kind.en()).to_owned(),
                        d.name.clone(),
                        d.kind == DayKind::Holiday,
                    )
                })
                .collect(),
            text: of_year
                .iter()
                .map(|d| format!("{} {} {}", roc::short_date(d.date), d.kind.zh(), d.name))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(render(&Page {
        b: Base::new(lang, "辦公日曆", "Office calendar", Some(&u.current), "/calendar"),
        years,
        can_edit: u.current.roles.iter().any(|r| access::role_allows(*r, access::Action::EditCatalogue)),
    }))
}

#[derive(Deserialize)]
struct SaveForm {
    year: i32,
    #[serde(default)]
    text: String,
}

async fn save(State(s): State<AppState>, u: PageUser, CsrfForm(f): CsrfForm<SaveForm>) -> Result<Response, PageError> {
    s.app.set_calendar_year(&u.current, f.year, &f.text).await.page(u.ctx.lang)?;
    Ok(see_other("/calendar"))
}
