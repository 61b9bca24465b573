//! Batch query pages (R-QRY-4): upload a file of subjects, watch the progress, download the
//! result (each download recorded).

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::AppError;
use nhiguard_app::batch::BatchInput;
use nhiguard_domain::roc;

use crate::AppState;
use crate::ctx::{CsrfForm, Empty, PageQuerier, PageUser};
use crate::error::{PageError, status_of};
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/batches", get(list).post(upload).layer(axum::middleware::from_fn(mark_oversize)))
        .route("/batches/{id}", get(detail))
        .route("/batches/{id}/delete", post(delete))
        .route("/batches/{id}/attach", post(attach))
        .route("/batches/{id}/detach", post(detach))
        .route("/batches/{id}/result.csv", get(csv))
        .route("/batches/{id}/result.ods", get(ods))
        .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT))
}

/// A batch file may be up to 10 MiB (the tabular reader's limit), plus the form around it.
pub const UPLOAD_LIMIT: usize = 11 * 1024 * 1024;

/// Whether a request announces a body over [`UPLOAD_LIMIT`] (its Content-Length).
fn announced_oversize(req: &axum::extract::Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > UPLOAD_LIMIT as u64)
}

/// Marks an upload that announces more than [`UPLOAD_LIMIT`].
#[derive(Debug, Clone, Copy)]
pub struct AnnouncedOversize;

/// An upload that announces more than [`UPLOAD_LIMIT`] goes on to its handler without its body,
/// marked [`AnnouncedOversize`]: it is not taken in only to be thrown away, yet the handler, once
/// it knows who sent it, records the refusal (R-LOG-1) and answers 413.
pub async fn mark_oversize(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if announced_oversize(&req) {
        let (mut parts, _) = req.into_parts();
        parts.extensions.insert(AnnouncedOversize);
        return next.run(axum::extract::Request::from_parts(parts, axum::body::Body::empty())).await;
    }
    next.run(req).await
}

/// An upload that could not be read: over the limit (413), or not a well-formed request.
pub fn unreadable_upload(status: axum::http::StatusCode) -> AppError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(nhiguard_app::i18n::Text::new(
            "檔案超過 10 MiB 上限，請分成數個檔案上傳",
            "the file is over the 10 MiB limit; split it into several files",
        ))
    } else {
        AppError::invalid(
            "file",
            "無法讀取上傳內容（傳送中斷或格式有誤），請重新選擇檔案上傳",
            "the upload could not be read (cut off or malformed); choose the file and upload it again",
        )
    }
}

struct Line {
    id: i64,
    created: String,
    case_number: String,
    file: String,
    progress: String,
    state: String,
}

#[derive(Template)]
#[template(path = "batches.html")]
struct ListPage {
    b: Base,
    options: Vec<(String, String)>,
    batches: Vec<Line>,
    error: String,
    /// What was typed, kept when the upload is refused: (choice, case number, reason).
    typed: (String, String, String),
}

fn state_label(lang: nhiguard_app::i18n::Lang, s: &str) -> &'static str {
    match s {
        "queued" => lang.t("排隊中", "queued"),
        "running" => lang.t("查詢中", "running"),
        "done" => lang.t("已完成", "done"),
        _ => lang.t("失敗", "failed"),
    }
}

async fn render_list(
    s: &AppState,
    u: &PageUser,
    error: String,
    typed: (String, String, String),
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let national_id = nhiguard_domain::catalogue::SubjectCondition::NationalId;
    let options = crate::query::choices(s, u, |op| op.conditions.contains(&national_id)).await?;
    let batches = s
        .app
        .my_batches(&u.current)
        .await
        .page(lang)?
        .into_iter()
        .map(|b| Line {
            id: b.id,
            created: roc::short_datetime(b.created_at),
            case_number: b.case_number,
            file: b.file_name,
            progress: format!("{} / {}", b.done, b.total),
            state: state_label(lang, &b.state).to_owned(),
        })
        .collect();
    Ok(render(&ListPage {
        b: Base::new(lang, "批次查詢", "Batch queries", Some(&u.current), "/batches"),
        options,
        batches,
        error,
        typed,
    }))
}

async fn list(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    render_list(&s, &u, String::new(), Default::default()).await
}

/// The multipart form: its CSRF token is checked here, as `CsrfForm` reads only urlencoded forms.
async fn upload(
    State(s): State<AppState>,
    PageQuerier(u): PageQuerier,
    oversize: Option<axum::Extension<AnnouncedOversize>>,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    // Too large (announced, or found so while reading) or unreadable: refused and recorded as a
    // refused query (R-LOG-1), as the API's are — with only who tried, the form's fields being
    // inside the body that could not be read.
    let read = match oversize {
        Some(_) => Err(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
        None => read_upload_form(&mut form).await.map_err(|e| e.status()),
    };
    let (csrf, choice, case_number, reason, file_name, bytes) = match read {
        Ok(fields) => fields,
        Err(status) => {
            let unknown = BatchInput::default();
            let e = s.app.refuse_unread_upload(&u.current, &unknown, unreadable_upload(status)).await;
            return Err(PageError::new(e, lang));
        }
    };
    if csrf.is_empty() || csrf != u.current.csrf {
        s.app
            .record(
                nhiguard_app::events::kind::CSRF_REFUSED,
                u.current.event_actor(),
                "/batches",
                "missing or wrong CSRF token",
            )
            .await
            .page(lang)?;
        return Err(PageError::new(
            AppError::forbidden(
                "表單已失效或來源不明（CSRF 檢查未通過），請重新整理頁面後再送出",
                "the form has expired or did not come from this site; reload and submit again",
            ),
            lang,
        ));
    }
    let (purpose_id, operation_id) =
        choice.split_once(':').and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?))).unwrap_or((0, 0));
    let typed = (choice.clone(), case_number.clone(), reason.clone());
    let input = BatchInput { purpose_id, operation_id, case_number, reason, file_name, bytes };
    match s.app.upload_batch(&u.current, &input).await {
        Ok(id) => Ok(see_other(&format!("/batches/{id}"))),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            let status = status_of(&e);
            let mut res = render_list(&s, &u, e.message().get(lang).to_owned(), typed).await?;
            *res.status_mut() = status;
            Ok(res)
        }
        Err(e) => Err(PageError::new(e, lang)),
    }
}

/// The upload form's fields: CSRF token, choice, case number, reason, file name and file.
type UploadForm = (String, String, String, String, String, Vec<u8>);

async fn read_upload_form(form: &mut Multipart) -> Result<UploadForm, axum::extract::multipart::MultipartError> {
    let (mut csrf, mut choice, mut case_number, mut reason, mut file_name, mut bytes) =
        (String::new(), String::new(), String::new(), String::new(), String::new(), Vec::new());
    while let Some(field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            file_name = field.file_name().unwrap_or("upload").to_owned();
            bytes = field.bytes().await?.to_vec();
            continue;
        }
        let text = field.text().await?;
        match name.as_str() {
            "csrf" => csrf = text,
            "choice" => choice = text,
            "case_number" => case_number = text,
            "reason" => reason = text,
            _ => {}
        }
    }
    Ok((csrf, choice, case_number, reason, file_name, bytes))
}

#[derive(Template)]
#[template(path = "batch.html")]
struct DetailPage {
    b: Base,
    id: i64,
    state: String,
    running: bool,
    case_number: String,
    reason: String,
    file: String,
    done: u64,
    total: u64,
    answered: u64,
    not_found: u64,
    failed: u64,
    purge: String,
    attached: bool,
    downloadable: bool,
}

async fn detail(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let b = s.app.batch(&u.current, id).await.page(lang)?;
    Ok(render(&DetailPage {
        b: Base::new(lang, "批次查詢", "Batch", Some(&u.current), "/batches"),
        id,
        state: state_label(lang, &b.state).to_owned(),
        running: matches!(b.state.as_str(), "queued" | "running"),
        case_number: b.case_number.clone(),
        reason: b.reason.clone(),
        file: b.file_name.clone(),
        done: b.done,
        total: b.total,
        answered: b.answered,
        not_found: b.not_found,
        failed: b.failed,
        purge: roc::short_date(roc::taipei_date(b.purge_after)),
        attached: b.attached,
        downloadable: b.state == "done" && b.result_ciphertext.is_some(),
    }))
}

use crate::view::attachment;

/// Destroys the result file now (R-DAT-1), back to the batch's page.
async fn delete(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.delete_batch_result(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/batches/{id}")))
}

/// Keeps the result file with its case (R-QRY-6), back to the batch's page.
async fn attach(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.attach_batch(&u.current, id, true).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/batches/{id}")))
}

/// Lets the scheduled purge take the result file again.
async fn detach(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.attach_batch(&u.current, id, false).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/batches/{id}")))
}

async fn csv(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let (name, bytes) = s.app.batch_file(&u.current, id, false).await.page(u.ctx.lang)?;
    Ok(attachment(&name, "text/csv; charset=utf-8", bytes))
}

async fn ods(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let (name, bytes) = s.app.batch_file(&u.current, id, true).await.page(u.ctx.lang)?;
    Ok(attachment(&name, "application/vnd.oasis.opendocument.spreadsheet", bytes))
}
