//! The query log page for supervisors, reviewers, auditors and ethics officers (R-LOG-1).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use nhiguard_app::i18n::Lang;
use nhiguard_app::querylog::{ExportFormat, LogFilter, LogRow};
use nhiguard_domain::roc;

use crate::AppState;
use crate::ctx::PageUser;
use crate::error::PageError;
use crate::pages::{OrPage, render};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new().route("/querylog", get(page)).route("/querylog/export.{ext}", get(export))
}

/// A file for download.
pub fn attachment(name: &str, format: ExportFormat, bytes: Vec<u8>) -> Response {
    let content_type = match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Ods => "application/vnd.oasis.opendocument.spreadsheet",
        ExportFormat::Jsonl => "application/x-ndjson",
    };
    crate::view::attachment(name, content_type, bytes)
}

async fn export(
    State(s): State<AppState>,
    u: PageUser,
    Path(ext): Path<String>,
    Query(q): Query<FilterQuery>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let format = ExportFormat::from_ext(&ext)
        .ok_or_else(|| PageError::new(nhiguard_app::AppError::not_found("沒有這種格式", "no such format"), lang))?;
    let (name, bytes) = s.app.export_log(&u.current, &q.filter(), format).await.page(lang)?;
    Ok(attachment(&name, format, bytes))
}

/// One query as a page shows it: the subject masked, the outcome with its reason.
pub struct Line {
    pub seq: u64,
    pub when: String,
    pub username: String,
    pub purpose: String,
    pub operation: String,
    pub case_number: String,
    pub reason: String,
    pub subject: String,
    pub outcome: String,
}

impl Line {
    pub fn new(lang: Lang, r: &LogRow) -> Line {
        Line {
            seq: r.seq,
            when: roc::short_datetime(r.at),
            username: r.username.clone(),
            purpose: r.purpose.clone(),
            operation: r.operation.clone(),
            case_number: r.case_number.clone(),
            reason: r.reason.clone(),
            subject: r.subject_masked.clone(),
            outcome: outcome_text(lang, r),
        }
    }
}

pub use nhiguard_app::querylog::{detail_text, outcome_text};

#[derive(Template)]
#[template(path = "querylog.html")]
struct LogPage {
    b: Base,
    from: String,
    to: String,
    agency_id: String,
    username: String,
    case_number: String,
    agencies: Vec<(String, String)>,
    rows: Vec<Line>,
    period: String,
    query: String,
    formats: Vec<&'static str>,
}

/// Query filters arrive as strings; an empty agency means "all within reach".
#[derive(Debug, Default, serde::Deserialize)]
pub struct FilterQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    agency_id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    case_number: String,
}

impl FilterQuery {
    pub fn filter(&self) -> LogFilter {
        LogFilter {
            from: self.from.clone(),
            to: self.to.clone(),
            agency_id: self.agency_id.trim().parse().ok(),
            username: self.username.clone(),
            case_number: self.case_number.clone(),
        }
    }

    pub fn to_query(&self) -> String {
        serde_urlencoded::to_string([
            ("from", &self.from),
            ("to", &self.to),
            ("agency_id", &self.agency_id),
            ("username", &self.username),
            ("case_number", &self.case_number),
        ])
        .unwrap_or_default()
    }
}

async fn page(State(s): State<AppState>, u: PageUser, Query(q): Query<FilterQuery>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let (rows, from, to) = s.app.search_log(&u.current, &q.filter()).await.page(lang)?;
    let agencies = s
        .app
        .log_agencies(&u.current)
        .await
        .page(lang)?
        .into_iter()
        .map(|n| (n.id.to_string(), lang.t(&n.name_zh, &n.name_en).to_owned()))
        .collect();
    Ok(render(&LogPage {
        b: Base::new(lang, "查詢日誌", "Query log", Some(&u.current), "/querylog"),
        from: roc::short_date(from),
        to: roc::short_date(to),
        agency_id: q.agency_id.clone(),
        username: q.username.clone(),
        case_number: q.case_number.clone(),
        agencies,
        period: format!("{} – {}", roc::short_date(from), roc::short_date(to)),
        query: q.to_query(),
        formats: vec!["csv", "ods", "jsonl"],
        rows: rows.iter().map(|r| Line::new(lang, r)).collect(),
    }))
}
