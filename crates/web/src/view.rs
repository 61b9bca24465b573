//! What every page shares (the frame: title, language, the signed-in person, the CSRF token for
//! forms) and small formatting helpers for dates in the ROC calendar.

use nhiguard_app::Current;
use nhiguard_app::i18n::Lang;
use nhiguard_domain::access;

/// The frame of every page.
#[derive(Debug, Clone)]
pub struct Base {
    pub lang: Lang,
    pub title: String,
    pub user: Option<Badge>,
    pub csrf: String,
    /// Current path, for the language switch to come back to.
    pub here: String,
}

/// Who is signed in, as the header shows it.
#[derive(Debug, Clone)]
pub struct Badge {
    pub username: String,
    pub name: String,
    pub roles: String,
    /// May open the integrity page (R-LOG-2).
    pub ledger: bool,
    /// May search the query log (R-LOG-1).
    pub querylog: bool,
    /// May be named on an investigation (R-REV-5): the query-log roles and the admins.
    pub investigations: bool,
    /// Manages accounts (R-ACC-9: reviews them).
    pub admin: bool,
}

impl Base {
    pub fn new(lang: Lang, zh: &str, en: &str, current: Option<&Current>, here: &str) -> Self {
        Base {
            lang,
            title: lang.t(zh, en).to_owned(),
            user: current.map(|c| Badge {
                username: c.username.clone(),
                name: c.person_name.clone(),
                roles: c.roles.iter().map(|r| lang.t(r.zh(), r.en())).collect::<Vec<_>>().join("、"),
                ledger: c.roles.iter().any(|r| access::role_allows(*r, access::Action::VerifyLedger)),
                querylog: c.roles.iter().any(|r| access::role_allows(*r, access::Action::ViewQueryLog)),
                admin: c.roles.iter().any(|r| r.is_admin()),
                investigations: c
                    .roles
                    .iter()
                    .any(|r| r.is_admin() || access::role_allows(*r, access::Action::ViewQueryLog)),
            }),
            csrf: current.map(|c| c.csrf.clone()).unwrap_or_default(),
            here: here.to_owned(),
        }
    }

    /// Picks the text of the page's language.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.t(zh, en)
    }

    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "en",
            Lang::En => "zh-TW",
        }
    }

    pub fn other_lang_label(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "English",
            Lang::En => "中文",
        }
    }
}

/// A file for download, named so the browser saves it under `name`.
pub fn attachment(name: &str, content_type: &str, bytes: impl Into<axum::body::Body>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    (headers, bytes.into()).into_response()
}

/// An optional date as the screen shows it: 115/11/27, or a dash.
pub fn roc_date(d: Option<chrono::NaiveDate>) -> String {
    d.map(nhiguard_domain::roc::short_date).unwrap_or_else(|| "—".into())
}
