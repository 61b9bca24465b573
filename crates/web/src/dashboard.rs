//! The agency dashboard page (issue 6): counts and server-drawn SVG charts — no script, no
//! external library, nothing the CSP would have to allow.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use nhiguard_app::review::roc_month;
use nhiguard_domain::review::ReviewState;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::PageUser;
use crate::error::PageError;
use crate::pages::{OrPage, render};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

/// One bar of a horizontal bar chart, in SVG user units.
struct Bar {
    label: String,
    count: usize,
    y: usize,
    width: usize,
}

/// Width of the bar area of a horizontal chart.
const BAR_AREA: usize = 260;
/// Height of one row of a horizontal chart.
const ROW: usize = 22;

fn bars(rows: &[(String, usize)]) -> Vec<Bar> {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    rows.iter()
        .enumerate()
        .map(|(i, (label, count))| Bar {
            label: label.chars().take(16).collect(),
            count: *count,
            y: i * ROW,
            width: (count * BAR_AREA).div_ceil(max),
        })
        .collect()
}

/// One day's column of the month chart.
struct Day {
    day: usize,
    count: usize,
    x: usize,
    y: usize,
    height: usize,
}

const DAY_WIDTH: usize = 12;
const DAY_HEIGHT: usize = 80;

fn days(counts: &[usize]) -> Vec<Day> {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let height = (count * DAY_HEIGHT).div_ceil(max);
            Day { day: i + 1, count, x: i * DAY_WIDTH, y: DAY_HEIGHT - height, height }
        })
        .collect()
}

struct ReviewLine {
    id: i64,
    month: String,
    state: String,
    sampled: usize,
    open: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page {
    b: Base,
    agency_id: i64,
    agency: String,
    agencies: Vec<(i64, String)>,
    month: String,
    total: usize,
    by_purpose: Vec<Bar>,
    purpose_height: usize,
    by_operation: Vec<Bar>,
    operation_height: usize,
    by_outcome: Vec<(String, usize)>,
    days: Vec<Day>,
    days_width: usize,
    reviews: Vec<ReviewLine>,
    overdue_reviews: usize,
    open_investigations: i64,
    flags: Vec<(String, usize)>,
    flag_total: usize,
}

#[derive(Deserialize)]
struct Pick {
    agency: Option<i64>,
}

async fn dashboard(State(s): State<AppState>, u: PageUser, Query(pick): Query<Pick>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let d = s.app.dashboard(&u.current, pick.agency).await.page(lang)?;
    let by_purpose = bars(&d.by_purpose);
    let by_operation = bars(&d.by_operation);
    let days = days(&d.by_day);
    Ok(render(&Page {
        b: Base::new(lang, "查核儀表板", "Dashboard", Some(&u.current), "/dashboard"),
        agency_id: d.agency_id,
        agency: d.agency.clone(),
        agencies: d.agencies.clone(),
        month: roc_month(d.year, d.month),
        total: d.total,
        purpose_height: by_purpose.len().max(1) * ROW,
        operation_height: by_operation.len().max(1) * ROW,
        by_purpose,
        by_operation,
        by_outcome: d
            .by_outcome
            .iter()
            .map(|(code, n)| {
                let label = nhiguard_domain::query::Outcome::from_code(code).map(|o| lang.t(o.zh(), o.en()));
                (label.unwrap_or(code).to_owned(), *n)
            })
            .collect(),
        days_width: days.len().max(1) * DAY_WIDTH,
        days,
        reviews: d
            .reviews
            .iter()
            .take(12)
            .map(|r| ReviewLine {
                id: r.id,
                month: roc_month(r.year, r.month),
                state: ReviewState::from_code(&r.state).map(|x| lang.t(x.zh(), x.en()).to_owned()).unwrap_or_default(),
                sampled: r.sample.len(),
                open: r.state == ReviewState::Open.code(),
            })
            .collect(),
        overdue_reviews: d.overdue_reviews,
        open_investigations: d.open_investigations,
        flag_total: d.flags.iter().map(|f| f.1).sum(),
        flags: d
            .flags
            .iter()
            .map(|(code, n)| {
                let label = nhiguard_domain::risk::FlagKind::from_code(code).map(|k| lang.t(k.zh(), k.en()));
                (label.unwrap_or(code).to_owned(), *n)
            })
            .collect(),
    }))
}
