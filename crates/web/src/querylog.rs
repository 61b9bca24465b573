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

pub fn outcome_text(lang: Lang, r: &LogRow) -> String {
    if r.detail == "no outcome recorded" {
        // Not an NHIA error: nothing about the lookup's fate was written.
        return detail_text(lang, &r.detail);
    }
    let o = lang.t(r.outcome.zh(), r.outcome.en());
    if r.detail.is_empty() { o.to_owned() } else { format!("{o}（{}）", detail_text(lang, &r.detail)) }
}

/// Why a query was refused or failed, as recorded (stable codes), in the reader's language.
pub fn detail_text(lang: Lang, detail: &str) -> String {
    let (batch, code) = match detail.strip_prefix("batch: ") {
        Some(rest) => (true, rest),
        None => (false, detail),
    };
    let field = |f: &str| match f {
        "case_number" => lang.t("案號", "case number"),
        "reason" => lang.t("查詢事由", "reason"),
        "national_id" => lang.t("身分證號", "national ID"),
        "name" => lang.t("姓名", "name"),
        "birth_date" => lang.t("出生日期", "date of birth"),
        "file" => lang.t("檔案", "file"),
        "operation_id" => lang.t("查詢作業", "operation"),
        _ => lang.t("輸入", "input"),
    };
    let text = match code {
        "no user role" => lang.t("帳號無查詢角色", "no role that may query").to_owned(),
        "purpose retired" => lang.t("業務範圍已廢止", "purpose retired").to_owned(),
        "operation retired" => lang.t("查詢作業已廢止", "operation retired").to_owned(),
        "no active linkage" => lang.t("機關無此連結作業", "no linkage of the agency").to_owned(),
        "no grant" => lang.t("未獲授權", "no grant").to_owned(),
        "unknown purpose or operation" => lang.t("業務範圍或作業不存在", "unknown purpose or operation").to_owned(),
        "account not active" | "account disabled" => lang.t("帳號已停用", "account disabled").to_owned(),
        "account past its disable date" => lang.t("帳號已逾停用日", "account past its disable date").to_owned(),
        "account not activated" => lang.t("帳號尚未啟用", "account not activated").to_owned(),
        "account locked" => lang.t("帳號鎖定中", "account locked").to_owned(),
        "password must be changed" => lang.t("密碼逾期須變更", "password must be changed").to_owned(),
        "second factor not set up" => lang.t("未設定兩步驟驗證", "second factor not set up").to_owned(),
        "interrupted" => lang.t("系統中斷，未重送", "interrupted, not sent again").to_owned(),
        // A single query whose outcome was never written: the gateway stopped (or is still waiting
        // for NHIA) after the query went out; not NHIA's doing.
        "no outcome recorded" => lang
            .t("結果未記錄（送出後系統中斷或仍在查詢中）", "no outcome recorded (stopped after sending, or still out)")
            .to_owned(),
        "invalid input" => lang.t("輸入有誤", "invalid input").to_owned(),
        c if c.starts_with("invalid ") => format!("{}{}", field(&c["invalid ".len()..]), lang.t("有誤", " invalid")),
        "NHI-TIMEOUT" => lang.t("健保署逾時", "NHIA timed out").to_owned(),
        "NHI-UNAVAILABLE" => lang.t("健保署無法連線", "NHIA unavailable").to_owned(),
        "NHI-REJECTED" => lang.t("健保署拒絕", "NHIA refused").to_owned(),
        "NHI-BAD-ANSWER" => lang.t("健保署回覆異常", "NHIA answered garbage").to_owned(),
        "NHI-CONFIG" => lang.t("連線設定有誤", "connector settings").to_owned(),
        other => other.to_owned(),
    };
    if batch { format!("{}{text}", lang.t("批次：", "batch: ")) } else { text }
}

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
