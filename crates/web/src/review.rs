//! Monthly review pages (R-REV-1 … R-REV-4): the list, one month's review with its sample, the
//! reviewer's findings and the signatures, and the printable query record sheet.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nhiguard_domain::review::Finding;
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(list))
        .route("/reviews/{id}", get(detail))
        .route("/reviews/{id}/sheet", get(sheet))
        .route("/reviews/{id}/reviewer", post(assign))
        .route("/reviews/{id}/findings/{seq}", post(finding))
        .route("/reviews/{id}/sign", post(sign))
        .route("/assets/sheet.css", get(css))
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../assets/sheet.css"),
    )
        .into_response()
}

fn roc_month(year: i32, month: u32) -> String {
    format!("民國{}年{}月", roc::roc_year(year), month)
}

struct Line {
    id: i64,
    month: String,
    agency: String,
    queries: u64,
    sampled: usize,
    state: String,
}

#[derive(Template)]
#[template(path = "reviews.html")]
struct ListPage {
    b: Base,
    rows: Vec<Line>,
}

fn state_label(lang: nhiguard_app::i18n::Lang, s: &str) -> String {
    nhiguard_domain::review::ReviewState::from_code(s).map(|x| lang.t(x.zh(), x.en()).to_owned()).unwrap_or_default()
}

async fn list(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let tree = s.app.db().org_tree().await.map_err(|e| PageError::new(e.into(), lang))?;
    let rows = s
        .app
        .reviews(&u.current)
        .await
        .page(lang)?
        .into_iter()
        .map(|r| Line {
            id: r.id,
            month: roc_month(r.year, r.month),
            agency: tree.get(r.agency_id).map(|n| lang.t(&n.name_zh, &n.name_en).to_owned()).unwrap_or_default(),
            queries: r.queries,
            sampled: r.sample.len(),
            state: state_label(lang, &r.state),
        })
        .collect();
    Ok(render(&ListPage { b: Base::new(lang, "每月查核", "Monthly reviews", Some(&u.current), "/reviews"), rows }))
}

struct SampleLine {
    seq: u64,
    when: String,
    username: String,
    operation: String,
    case_number: String,
    reason: String,
    subject: String,
    finding: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct DetailPage {
    b: Base,
    id: i64,
    agency: String,
    month: String,
    state: String,
    queries: u64,
    sampled: usize,
    checkpoint_size: u64,
    seed: String,
    matches: bool,
    reviewer: String,
    sample: Vec<SampleLine>,
    can_assign: bool,
    can_review: bool,
    can_sign: bool,
    sign_label: String,
    flags: Vec<(u64, String)>,
    /// (entry, investigation) for the anomalies whose investigation the viewer is named on.
    investigations: Vec<(u64, i64)>,
}

async fn detail(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.review_view(&u.current, id).await.page(lang)?;
    let investigations =
        s.app.investigations_of_review(&u.current, id).await.page(lang)?.into_iter().map(|i| (i.seq, i.id)).collect();
    let r = &v.review;
    let reviewer = match r.reviewer_account_id {
        Some(a) => {
            s.app.db().account(a).await.map(|x| format!("{}（{}）", x.person_name, x.username)).unwrap_or_default()
        }
        None => lang.t("尚未指派", "not assigned").to_owned(),
    };
    let mine = r.reviewer_account_id == Some(u.current.account_id);
    let sign_label = match r.state.as_str() {
        "open" => lang.t("查核人員簽核", "Sign as reviewer"),
        _ => lang.t("單位主管核定", "Approve as unit head"),
    }
    .to_owned();
    let can_sign = (r.state == "open" && mine) || (r.state == "reviewed" && u.current.has(Role::Supervisor) && !mine);
    Ok(render(&DetailPage {
        b: Base::new(lang, "每月查核", "Monthly review", Some(&u.current), "/reviews"),
        id,
        agency: v.agency_name.clone(),
        month: roc_month(r.year, r.month),
        state: state_label(lang, &r.state),
        queries: r.queries,
        sampled: r.sample.len(),
        checkpoint_size: r.checkpoint_size,
        seed: r.seed.clone(),
        matches: v.sample_matches,
        reviewer,
        sample: v
            .sample
            .iter()
            .map(|q| SampleLine {
                seq: q.seq,
                when: roc::short_datetime(q.at),
                username: q.username.clone(),
                operation: q.operation.clone(),
                case_number: q.case_number.clone(),
                reason: q.reason.clone(),
                subject: q.subject_masked.clone(),
                finding: v
                    .findings
                    .iter()
                    .find(|f| f.seq == q.seq)
                    .map(|f| {
                        let label = Finding::from_code(&f.finding).map(|x| lang.t(x.zh(), x.en())).unwrap_or_default();
                        if f.note.is_empty() { label.to_owned() } else { format!("{label}：{}", f.note) }
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        can_assign: r.state == "open" && (u.current.has(Role::Supervisor) || u.current.has(Role::AgencyAdmin)),
        can_review: r.state == "open" && mine,
        can_sign,
        sign_label,
        investigations,
        flags: v.flags.iter().map(|f| (f.seq, lang.t(&f.explanation_zh, &f.explanation_en).to_owned())).collect(),
    }))
}

#[derive(Template)]
#[template(path = "sheet.html")]
struct SheetPage {
    county: String,
    agency: String,
    month: String,
    printed: String,
    printed_by: String,
    checkpoint_size: u64,
    checkpoint_root: String,
    rows: Vec<SheetLine>,
}

/// One line of the printed sheet.
struct SheetLine {
    seq: u64,
    date: String,
    time: String,
    username: String,
    name: String,
    purpose: String,
    operation: String,
    subject: String,
    case_number: String,
    reason: String,
    outcome: String,
}

async fn sheet(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let (r, rows) = s.app.review_sheet(&u.current, id).await.page(lang)?;
    let tree = s.app.db().org_tree().await.map_err(|e| PageError::new(e.into(), lang))?;
    let root = nhiguard_ledger::SignedCheckpoint::parse(&r.checkpoint_text)
        .map(|c| c.checkpoint().root().to_base64())
        .unwrap_or_default();
    let mut lines = Vec::new();
    for q in rows {
        let local = q.at.with_timezone(&roc::taipei());
        let name =
            s.app.db().account_by_username(&q.username).await.ok().flatten().map(|a| a.person_name).unwrap_or_default();
        lines.push(SheetLine {
            seq: q.seq,
            date: roc::short_date(local.date_naive()),
            time: local.format("%H:%M:%S").to_string(),
            username: q.username.clone(),
            name,
            purpose: q.purpose.clone(),
            operation: q.operation.clone(),
            subject: q.subject_masked.clone(),
            case_number: q.case_number.clone(),
            reason: q.reason.clone(),
            outcome: q.outcome.zh().to_owned(),
        });
    }
    Ok(render(&SheetPage {
        county: tree.root().map(|n| n.name_zh.clone()).unwrap_or_default(),
        agency: tree.get(r.agency_id).map(|n| n.name_zh.clone()).unwrap_or_default(),
        month: roc_month(r.year, r.month),
        printed: roc::long_datetime(s.app.now()),
        printed_by: u.current.username.clone(),
        checkpoint_size: r.checkpoint_size,
        checkpoint_root: root,
        rows: lines,
    }))
}

#[derive(Deserialize)]
struct AssignForm {
    username: String,
}

async fn assign(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<AssignForm>,
) -> Result<Response, PageError> {
    s.app.assign_reviewer(&u.current, id, &f.username).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/reviews/{id}")))
}

#[derive(Deserialize)]
struct FindingForm {
    finding: String,
    #[serde(default)]
    note: String,
}

async fn finding(
    State(s): State<AppState>,
    u: PageUser,
    Path((id, seq)): Path<(i64, u64)>,
    CsrfForm(f): CsrfForm<FindingForm>,
) -> Result<Response, PageError> {
    s.app.record_finding(&u.current, id, seq, &f.finding, &f.note).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/reviews/{id}")))
}

#[derive(Deserialize)]
struct Empty {}

async fn sign(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.sign_review(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/reviews/{id}")))
}
