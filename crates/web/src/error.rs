//! How errors reach people. The mapping from [`AppError`] to a status is exhaustive: invalid
//! input 422, not signed in 401, not allowed 403, missing 404, conflict 409, database down 503,
//! anything else 500. A 5xx is logged with its detail under a reference code; the person sees the
//! code and a message, never the detail.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use nhiguard_app::AppError;
use nhiguard_app::i18n::Lang;

use crate::view::Base;

pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Logs a server-side failure and returns the reference a person can quote.
fn reference_for(e: &AppError) -> Option<String> {
    if !matches!(e, AppError::Unavailable(_) | AppError::Internal(_)) {
        return None;
    }
    let mut buf = [0u8; 4];
    getrandom::fill(&mut buf).ok();
    let reference = format!("{}-{:02X}{:02X}{:02X}{:02X}", e.code(), buf[0], buf[1], buf[2], buf[3]);
    tracing::error!(reference, error = %e, "request failed");
    Some(reference)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    b: Base,
    status: u16,
    code: &'static str,
    field: String,
    message_zh: String,
    message_en: String,
    reference: String,
}

/// An error on a page: rendered as HTML in the person's language; "not signed in" sends the
/// browser to the sign-in page.
#[derive(Debug)]
pub struct PageError {
    pub error: AppError,
    pub lang: Lang,
    /// Send the browser here instead of showing the error (e.g. to change an expired password).
    pub redirect: Option<&'static str>,
}

impl PageError {
    pub fn new(error: AppError, lang: Lang) -> Self {
        Self { error, lang, redirect: None }
    }

    pub fn redirect(to: &'static str, error: AppError, lang: Lang) -> Self {
        Self { error, lang, redirect: Some(to) }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(to) = self.redirect {
            return Redirect::to(to).into_response();
        }
        if matches!(self.error, AppError::Unauthenticated(_)) {
            return Redirect::to("/signin").into_response();
        }
        render_error(&self.error, self.lang)
    }
}

/// The name of a form field as the person saw it on the page.
fn field_label(lang: Lang, field: &str) -> String {
    let zh = match field {
        "password" => "密碼",
        "confirm" => "確認密碼",
        "old_password" => "目前密碼",
        "username" => "帳號",
        "case_number" => "案號",
        "reason" => "事由",
        "national_id" => "身分證號",
        "name" | "name_zh" => "名稱",
        "name_en" => "英文名稱",
        "code" => "代碼",
        "legal_basis" => "法令依據",
        "nhia_approval_ref" => "健保署核准文號",
        "nhia_approval_date" => "核准日期",
        "person_id" => "員工編號",
        "rank" => "職等",
        "hr_status" => "人事狀態",
        "file" => "檔案",
        "pledge" => "保密切結",
        "note" => "意見",
        "reviewer" => "查核人員",
        "finding" => "查核結果",
        _ => return field.to_owned(),
    };
    match lang {
        Lang::Zh => format!("{zh}（{field}）"),
        Lang::En => field.to_owned(),
    }
}

pub fn render_error(error: &AppError, lang: Lang) -> Response {
    let status = status_of(error);
    let reference = reference_for(error).unwrap_or_default();
    let message = error.message();
    let page = ErrorPage {
        b: Base::new(lang, "無法完成", "Could not be done", None, "/"),
        status: status.as_u16(),
        code: error.code(),
        field: match error {
            AppError::Invalid { field, .. } => field_label(lang, field),
            _ => String::new(),
        },
        message_zh: message.zh,
        message_en: message.en,
        reference,
    };
    match page.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page could not be rendered");
            (status, "error").into_response()
        }
    }
}

/// An error in the JSON API: `{"error": {code, field, message_zh, message_en, reference}}`.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let reference = reference_for(&self.0);
        let message = self.0.message();
        let field = match &self.0 {
            AppError::Invalid { field, .. } => Some(*field),
            _ => None,
        };
        let body = serde_json::json!({
            "error": {
                "code": self.0.code(),
                "field": field,
                "message_zh": message.zh,
                "message_en": message.en,
                "reference": reference,
            }
        });
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        res
    }
}
