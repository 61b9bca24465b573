//! The app crate's one error type. Each variant says what kind of failure it is, so the web layer
//! can map it to a status code exhaustively; each carries a stable code a help desk can quote and a
//! message in both languages. Internal and database details are kept for the log only and never
//! shown to a person.

use nhiguard_domain::DomainError;
use nhiguard_store::StoreError;

use crate::i18n::Text;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule (422), naming the field.
    #[error("invalid {field}: {}", message.en)]
    Invalid { field: &'static str, message: Text },
    /// Not signed in, session expired, or sign-in refused (401).
    #[error("unauthenticated: {}", .0.en)]
    Unauthenticated(Text),
    /// Signed in, but not allowed here (403).
    #[error("forbidden: {}", .0.en)]
    Forbidden(Text),
    #[error("not found: {}", .0.en)]
    NotFound(Text),
    /// A duplicate or a state that does not allow the change (409).
    #[error("conflict: {}", .0.en)]
    Conflict(Text),
    /// A request body over its limit (413): an upload too big.
    #[error("too large: {}", .0.en)]
    TooLarge(Text),
    /// The database cannot be reached (503); the detail is for the log.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data (500); the detail is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// The stable code shown with the message.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "NG-INPUT",
            AppError::Unauthenticated(_) => "NG-AUTH",
            AppError::Forbidden(_) => "NG-FORBIDDEN",
            AppError::NotFound(_) => "NG-NOTFOUND",
            AppError::Conflict(_) => "NG-CONFLICT",
            AppError::TooLarge(_) => "NG-TOO-LARGE",
            AppError::Unavailable(_) => "NG-DB-DOWN",
            AppError::Internal(_) => "NG-INTERNAL",
        }
    }

    pub fn not_found(zh: &str, en: &str) -> Self {
        AppError::NotFound(Text::new(zh, en))
    }

    pub fn forbidden(zh: &str, en: &str) -> Self {
        AppError::Forbidden(Text::new(zh, en))
    }

    pub fn conflict(zh: impl Into<String>, en: impl Into<String>) -> Self {
        AppError::Conflict(Text::new(zh, en))
    }

    pub fn invalid(field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        AppError::Invalid { field, message: Text::new(zh, en) }
    }

    /// What a person is shown.
    pub fn message(&self) -> Text {
        match self {
            AppError::Invalid { message, .. } => message.clone(),
            AppError::Unauthenticated(t)
            | AppError::Forbidden(t)
            | AppError::NotFound(t)
            | AppError::Conflict(t)
            | AppError::TooLarge(t) => t.clone(),
            AppError::Unavailable(_) => Text::new(
                "資料庫暫時無法連線，請稍後再試；若持續發生請通知資訊單位",
                "the database cannot be reached; try again shortly, and tell the IT unit if it persists",
            ),
            AppError::Internal(_) => Text::new(
                "系統發生錯誤，請通知資訊單位並提供錯誤代碼",
                "something went wrong; tell the IT unit and quote the error code",
            ),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, zh, en } => AppError::Invalid { field, message: Text::new(zh, en) },
            DomainError::Forbidden { zh, en } => AppError::Forbidden(Text::new(zh, en)),
        }
    }
}

/// What collided, in Chinese, and what to do about it (the store names it in English).
fn conflict_words(what: &str) -> (&'static str, &'static str, &'static str) {
    match what {
        "username" => ("帳號名稱", "請改用其他帳號名稱", "choose another username"),
        "employee number" => ("員工編號", "請確認是否為同一人，勿重複登錄", "check whether it is the same person"),
        "org code" => (
            "組織代碼",
            "代碼全縣不可重複（可能已由其他機關使用），請改用其他代碼",
            "codes are unique county-wide (another agency may use it): choose another",
        ),
        "purpose number" => ("業務範圍編號", "請改用其他編號", "choose another number"),
        "operation code" => ("查詢作業代號", "請改用其他代號", "choose another code"),
        "agency, purpose and operation" => (
            "連結作業（機關、業務範圍及查詢作業）",
            "此連結已存在，如已停用請改為重新啟用",
            "it exists already: reactivate it if it was ended",
        ),
        "open account review" => ("進行中的帳號清查", "請先完成進行中的清查", "finish the open review first"),
        "calendar year" | "case-number format" | "disable proposal" => (
            "設定（另一位管理者同時儲存）",
            "請重新整理頁面確認後再儲存",
            "another admin saved it at the same moment: reload, check and save again",
        ),
        _ => ("資料", "請重新整理後再試", "reload and try again"),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::not_found("找不到此筆資料", "no such record"),
            StoreError::Conflict(what) => {
                let (zh_what, zh_do, en_do) = conflict_words(what);
                AppError::conflict(
                    format!("已有相同的{zh_what}：{zh_do}"),
                    format!("a record with the same {what} already exists: {en_do}"),
                )
            }
            StoreError::Unavailable(detail) => AppError::Unavailable(detail),
            other => AppError::Internal(other.to_string()),
        }
    }
}
