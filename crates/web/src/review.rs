//! Monthly review pages (R-REV-1 … R-REV-4): the list, one month's review with its sample, the
//! reviewer's findings and the signatures, and the printable query record sheet.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nhiguard_app::review::{RecordSheet, roc_month};
use nhiguard_domain::review::Finding;
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, Empty, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::view::{Base, attachment};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(list))
        .route("/reviews/{id}", get(detail))
        .route("/reviews/{id}/sheet", get(sheet))
        .route("/reviews/{id}/sheet.ods", get(sheet_ods))
        .route("/reviews/{id}/reviewer", post(assign))
        .route("/reviews/{id}/findings/{seq}", post(finding))
        .route("/reviews/{id}/sign", post(sign))
        .route("/reviews/{id}/entries/{seq}", get(entry))
        .route("/assets/sheet.css", get(css))
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../assets/sheet.css"),
    )
        .into_response()
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
    let names = s.app.names(&u.current).await.page(lang)?;
    let tree = names.tree();
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
    /// The sample was recomputed from the ledger (and the flags computed) rather than from the
    /// population kept at preparation.
    from_ledger: bool,
    /// (entry, investigation) for the anomalies whose investigation the viewer is named on.
    investigations: Vec<(u64, i64)>,
    /// Investigations whose opener can no longer act, which this supervisor may take over.
    takeovers: Vec<(u64, i64)>,
}

/// `?full=1` re-reads the month from the ledger: the recomputation from the log itself and the
/// risk flags. Without it the page recomputes the draw from the population kept at preparation.
#[derive(Deserialize)]
struct DetailQuery {
    full: Option<String>,
}

async fn detail(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.review_view_from(&u.current, id, q.full.is_some()).await.page(lang)?;
    let investigations =
        s.app.investigations_of_review(&u.current, id).await.page(lang)?.into_iter().map(|i| (i.seq, i.id)).collect();
    let takeovers = s
        .app
        .investigations_to_take_over(&u.current, id)
        .await
        .page(lang)?
        .into_iter()
        .map(|i| (i.seq, i.id))
        .collect();
    let r = &v.review;
    let reviewer = match r.reviewer_account_id {
        Some(_) => s.app.account_label(r.reviewer_account_id).await,
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
        can_assign: r.state == "open" && u.current.has(Role::Supervisor),
        can_review: r.state == "open" && mine,
        can_sign,
        sign_label,
        investigations,
        takeovers,
        flags: v
            .flags
            .iter()
            .flatten()
            .map(|f| (f.seq, lang.t(&f.explanation_zh, &f.explanation_en).to_owned()))
            .collect(),
        from_ledger: v.from_ledger,
    }))
}

#[derive(Template)]
#[template(path = "sheet.html")]
struct SheetPage {
    printed: String,
    printed_by: String,
    sheet: RecordSheet,
}

/// The printable sheet: A4 landscape, page numbers, sign-off boxes (the browser's print saves it as
/// PDF).
async fn sheet(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let sheet = s.app.review_sheet(&u.current, id, "html").await.page(u.ctx.lang)?;
    Ok(render(&SheetPage { printed: roc::long_datetime(s.app.now()), printed_by: u.current.username.clone(), sheet }))
}

/// The sheet as an ODS workbook.
async fn sheet_ods(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let (name, bytes) = s.app.review_sheet_ods(&u.current, id).await.page(u.ctx.lang)?;
    Ok(attachment(&name, "application/vnd.oasis.opendocument.spreadsheet", bytes))
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

async fn sign(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.sign_review(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/reviews/{id}")))
}

#[derive(Template)]
#[template(path = "review_entry.html")]
struct EntryPage {
    b: Base,
    id: i64,
    query: crate::querylog::Line,
    person: String,
    title: String,
    application: Option<(i64, String, String, String, String)>,
    state_then: String,
    same_subject: Vec<crate::querylog::Line>,
}

/// R-ACT-1, R-REV-4: one query's chain of responsibility and the same user's other queries of
/// that subject in the month, for the reviewer.
async fn entry(
    State(s): State<AppState>,
    u: PageUser,
    Path((id, seq)): Path<(i64, u64)>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let c = s.app.review_entry_chain(&u.current, id, seq).await.page(lang)?;
    let state_then = match &c.refused {
        Some(code) => format!("{}（{}）", lang.t("拒絕查詢", "refused"), crate::querylog::detail_text(lang, code)),
        None => lang
            .t(
                "帳號使用中，查詢時已通過授權檢查（角色、業務範圍、連結作業、權限）",
                "active; the query passed every check at that moment (role, purpose, linkage, grant)",
            )
            .to_owned(),
    };
    Ok(render(&EntryPage {
        b: Base::new(lang, "查詢責任鏈", "Chain of responsibility", Some(&u.current), "/reviews"),
        id,
        query: crate::querylog::Line::new(lang, &c.query),
        person: c.person.clone(),
        title: c.title.clone(),
        application: c.application.clone(),
        state_then,
        same_subject: c.same_subject.iter().map(|q| crate::querylog::Line::new(lang, q)).collect(),
    }))
}
