//! The query pages (R-QRY-1 … R-QRY-6): the form, the answer (shown once, to the person who
//! asked), the user's own history and retained results, and destroying a result early.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::AppError;
use nhiguard_app::gateway::{QueryAnswer, QueryInput};
use nhiguard_app::i18n::Lang;
use nhiguard_domain::catalogue::ResultField;
use nhiguard_domain::roc;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, Empty, PageQuerier, PageUser};
use crate::error::{PageError, status_of};
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/query", get(form).post(run))
        .route("/results/{id}", get(result))
        .route("/results/{id}/delete", post(delete))
        .route("/results/{id}/attach", post(attach))
        .route("/results/{id}/shares", post(share))
        .route("/results/{id}/shares/{account}/delete", post(unshare))
        .route("/queries/{seq}", get(outcome))
        .route("/history", get(history))
}

#[derive(Template)]
#[template(path = "query.html")]
struct QueryPage {
    b: Base,
    options: Vec<(String, String)>,
    choice: String,
    case_number: String,
    reason: String,
    national_id: String,
    error: String,
    examples: Vec<String>,
    /// The agency's case-number format, shown beside the field.
    case_pattern: String,
}

/// The form's one select carries both ids, `purpose:operation`, so that only held pairs can be
/// chosen without any script.
#[derive(Debug, Deserialize, Default)]
pub struct QueryForm {
    #[serde(default)]
    choice: String,
    #[serde(default)]
    case_number: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    birth_date: String,
}

/// The purpose × operation pairs the user may choose, as `purpose_id:operation_id` and a label;
/// `keep` narrows the operations (a batch takes only those that look up by national ID).
pub(crate) async fn choices(
    s: &AppState,
    u: &PageUser,
    keep: impl Fn(&nhiguard_domain::catalogue::Operation) -> bool,
) -> Result<Vec<(String, String)>, PageError> {
    let lang = u.ctx.lang;
    let mut pairs = Vec::new();
    for o in s.app.query_options(&u.current).await.page(lang)? {
        for op in o.operations.iter().filter(|op| keep(op)) {
            let purpose = lang.t(&o.purpose.name_zh, &o.purpose.name_en);
            let label = format!("{}. {purpose} — {} {}", o.purpose.number, op.code, lang.t(&op.name_zh, &op.name_en));
            pairs.push((format!("{}:{}", o.purpose.id, op.id), label));
        }
    }
    Ok(pairs)
}

async fn render_form(s: &AppState, u: &PageUser, f: &QueryForm, error: String) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let pairs = choices(s, u, |_| true).await?;
    Ok(render(&QueryPage {
        b: Base::new(lang, "查詢健保資料", "Query NHI data", Some(&u.current), "/query"),
        options: pairs,
        choice: f.choice.clone(),
        case_number: f.case_number.clone(),
        reason: f.reason.clone(),
        national_id: f.national_id.clone(),
        error,
        examples: s.app.sandbox_examples(5),
        case_pattern: s
            .app
            .case_pattern_for(&u.current)
            .await
            .page(lang)?
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
    }))
}

async fn form(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    render_form(&s, &u, &QueryForm::default(), String::new()).await
}

/// The answer's fields in the reader's language; dates as the screen shows them (ROC).
fn records_view(lang: Lang, records: &[Vec<(ResultField, String)>]) -> Vec<Vec<(String, String)>> {
    let line = |r: &Vec<(ResultField, String)>| {
        r.iter().map(|(f, v)| (lang.t(f.zh(), f.en()).to_owned(), roc::shown_value(v))).collect()
    };
    records.iter().map(line).collect()
}

#[derive(Template)]
#[template(path = "answer.html")]
struct AnswerPage {
    b: Base,
    outcome: String,
    query_seq: u64,
    case_number: String,
    operation: String,
    subject: String,
    purge: String,
    message: String,
    records: Vec<Vec<(String, String)>>,
    result_id: i64,
    attached: bool,
    /// The viewer asked the query (and so may keep, share or destroy the result).
    is_owner: bool,
    /// The colleagues the owner named on the result: (account id, "name（username）").
    shared_with: Vec<(i64, String)>,
}

async fn run(
    State(s): State<AppState>,
    PageQuerier(u): PageQuerier,
    CsrfForm(f): CsrfForm<QueryForm>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let (purpose_id, operation_id) = f
        .choice
        .split_once(':')
        .and_then(|(p, o)| Some((p.parse::<i64>().ok()?, o.parse::<i64>().ok()?)))
        .unwrap_or((0, 0));
    let input = QueryInput {
        purpose_id,
        operation_id,
        case_number: f.case_number.clone(),
        reason: f.reason.clone(),
        national_id: f.national_id.clone(),
        name: f.name.clone(),
        birth_date: f.birth_date.clone(),
    };
    let answer: QueryAnswer = match s.app.run_query(&u.current, &input).await {
        Ok(a) => a,
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            let status = status_of(&e);
            let mut res = render_form(&s, &u, &f, e.message().get(lang).to_owned()).await?;
            *res.status_mut() = status;
            return Ok(res);
        }
        Err(e) => return Err(PageError::new(e, lang)),
    };
    // Post/redirect/get: reloading the page must never send the query again.
    Ok(match answer.result_id {
        Some(id) => see_other(&format!("/results/{id}")),
        None => see_other(&format!("/queries/{}", answer.query_seq)),
    })
}

/// A query that brought no result (not found, NHIA error): its outcome, for the person who asked.
async fn outcome(State(s): State<AppState>, u: PageUser, Path(seq): Path<u64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let rows = s.app.my_history(&u.current, 500).await.page(lang)?;
    let row = rows
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| PageError::new(AppError::not_found("找不到您的這筆查詢", "no such query of yours"), lang))?;
    let message = nhiguard_app::gateway::outcome_message(row.outcome, &row.detail)
        .map(|m| m.get(lang).to_owned())
        .unwrap_or_default();
    Ok(render(&AnswerPage {
        b: Base::new(lang, "查詢結果", "Result", Some(&u.current), "/query"),
        outcome: lang.t(row.outcome.zh(), row.outcome.en()).to_owned(),
        query_seq: row.seq,
        case_number: row.case_number,
        operation: row.operation,
        subject: row.subject_masked,
        purge: String::new(),
        message,
        records: Vec::new(),
        result_id: 0,
        attached: false,
        is_owner: true,
        shared_with: Vec::new(),
    }))
}

async fn result(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let (row, records) = s.app.open_result(&u.current, id).await.page(lang)?;
    let shared_with = s
        .app
        .result_shared_with(&u.current, id)
        .await
        .page(lang)?
        .into_iter()
        .map(|a| (a.id, format!("{}（{}）", a.person_name, a.username)))
        .collect();
    Ok(render(&AnswerPage {
        b: Base::new(lang, "查詢結果", "Result", Some(&u.current), "/history"),
        outcome: lang.t("已回覆", "answered").to_owned(),
        query_seq: row.query_seq,
        case_number: row.case_number.clone(),
        operation: row.operation_code.clone(),
        subject: row.subject_masked.clone(),
        purge: roc::short_date(roc::taipei_date(row.purge_after)),
        message: String::new(),
        records: records_view(lang, &records),
        result_id: row.id,
        attached: row.attached,
        is_owner: row.account_id == u.current.account_id,
        shared_with,
    }))
}

#[derive(Deserialize)]
struct AttachForm {
    attached: String,
}

async fn attach(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<AttachForm>,
) -> Result<Response, PageError> {
    s.app.attach_result(&u.current, id, f.attached == "1").await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/results/{id}")))
}

#[derive(Deserialize)]
struct ShareForm {
    username: String,
}

async fn share(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<ShareForm>,
) -> Result<Response, PageError> {
    s.app.share_result(&u.current, id, &f.username).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/results/{id}")))
}

async fn unshare(
    State(s): State<AppState>,
    u: PageUser,
    Path((id, account)): Path<(i64, i64)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.unshare_result(&u.current, id, account).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/results/{id}")))
}

async fn delete(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.delete_result(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other("/history"))
}

struct HistoryLine {
    seq: u64,
    when: String,
    purpose: String,
    operation: String,
    case_number: String,
    reason: String,
    subject: String,
    outcome: String,
}

struct ResultLine {
    id: i64,
    when: String,
    case_number: String,
    operation: String,
    subject: String,
    purge: String,
    open: bool,
    state: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    b: Base,
    history: Vec<HistoryLine>,
    results: Vec<ResultLine>,
    /// Results colleagues shared with the viewer: (id, case number, operation, masked subject, owner).
    shared: Vec<(i64, String, String, String, String)>,
}

async fn history(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let rows = s.app.my_history(&u.current, 200).await.page(lang)?;
    let results = s.app.my_results(&u.current).await.page(lang)?;
    let mut shared = Vec::new();
    for r in s.app.results_shared_with_me(&u.current).await.page(lang)? {
        let owner = s.app.account_label(Some(r.account_id)).await;
        shared.push((r.id, r.case_number, r.operation_code, r.subject_masked, owner));
    }
    Ok(render(&HistoryPage {
        b: Base::new(lang, "我的查詢紀錄", "My queries", Some(&u.current), "/history"),
        history: rows
            .into_iter()
            .map(|h| HistoryLine {
                seq: h.seq,
                when: roc::short_datetime(h.at),
                purpose: h.purpose,
                operation: h.operation,
                case_number: h.case_number,
                reason: h.reason,
                subject: h.subject_masked,
                outcome: if h.detail.is_empty() {
                    lang.t(h.outcome.zh(), h.outcome.en()).to_owned()
                } else {
                    format!(
                        "{}（{}）",
                        lang.t(h.outcome.zh(), h.outcome.en()),
                        crate::querylog::detail_text(lang, &h.detail)
                    )
                },
            })
            .collect(),
        results: results
            .into_iter()
            .map(|r| ResultLine {
                id: r.id,
                when: roc::short_datetime(r.created_at),
                case_number: r.case_number,
                operation: r.operation_code,
                subject: r.subject_masked,
                // A result kept with its case is not purged on its date (R-QRY-6).
                purge: if r.attached {
                    lang.t("隨案保存", "kept with the case").to_owned()
                } else {
                    roc::short_date(roc::taipei_date(r.purge_after))
                },
                open: r.ciphertext.is_some(),
                state: match (&r.destroyed_at, r.destroyed_by.as_deref()) {
                    (Some(t), Some("schedule")) => format!(
                        "{} {}",
                        lang.t("已依排程銷毀", "purged on schedule"),
                        roc::short_date(roc::taipei_date(*t))
                    ),
                    (Some(t), _) => {
                        format!("{} {}", lang.t("已刪除", "deleted"), roc::short_date(roc::taipei_date(*t)))
                    }
                    _ => String::new(),
                },
            })
            .collect(),
        shared,
    }))
}
