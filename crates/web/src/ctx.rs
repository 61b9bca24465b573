//! What every request carries: the language, the client's address, the signed-in account (from
//! the session cookie for pages, from the bearer token for the API), and the CSRF check on every
//! form. Also the security headers added to every response.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use nhiguard_app::events::{Actor, kind};
use nhiguard_app::i18n::{Lang, Text};
use nhiguard_app::{AppError, Current, SessionKind};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, PageError};

pub const SESSION_COOKIE: &str = "nhiguard_session";
/// Before sign-in there is no session to bind a CSRF token to: the sign-in form is protected by
/// a random value in this cookie that the form must echo (double submit; the cookie is
/// SameSite=Strict, so another site can neither send nor read it).
pub const PRE_SESSION_COOKIE: &str = "nhiguard_pre";
pub const LANG_COOKIE: &str = "nhiguard_lang";

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure when served over HTTPS.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// A path as it may be recorded (ledger, server log): an activation link's path carries the one-time
/// token that sets the account's password, and the token is left out.
pub(crate) fn recordable_path(path: &str) -> String {
    match path.strip_prefix("/activate/") {
        Some(_) => "/activate/…".to_owned(),
        None => path.to_owned(),
    }
}

/// The request's path as the client sent it (nested routers see a shortened one).
fn full_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.path().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned())
}

/// Language and address of the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub addr: String,
    pub secure: bool,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang =
            cookie(parts, LANG_COOKIE).and_then(Lang::from_code).unwrap_or(state.app.settings().default_language);
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        let secure = state.app.settings().effective_public_url().starts_with("https://");
        Ok(Ctx { lang, addr, secure })
    }
}

/// A signed-in person on a page (session cookie).
#[derive(Debug, Clone)]
pub struct PageUser {
    pub current: Current,
    pub token: String,
    pub ctx: Ctx,
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        PageUser::extract(parts, state, false).await
    }
}

/// The sender of a query or a batch from a page: as [`PageUser`], except that an account which may
/// not query now (disabled, past its disable date, locked, password expired) reaches the handler,
/// whose query the app then refuses and records with its own fields (R-LOG-1) — turned away here,
/// it would leave no trace.
#[derive(Debug, Clone)]
pub struct PageQuerier(pub PageUser);

impl FromRequestParts<AppState> for PageQuerier {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        PageUser::extract(parts, state, true).await.map(PageQuerier)
    }
}

impl PageUser {
    async fn extract(parts: &mut Parts, state: &AppState, querying: bool) -> Result<Self, PageError> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        let lang = ctx.lang;
        let Some(token) = cookie(parts, SESSION_COOKIE).map(str::to_owned) else {
            return Err(PageError::new(AppError::Unauthenticated(Text::new("請先登入", "please sign in")), lang));
        };
        let current = if querying {
            state.app.current_for_query(&token, SessionKind::Web, &ctx.addr).await
        } else {
            state.app.current(&token, SessionKind::Web, &ctx.addr).await
        };
        let current = current.map_err(|e| PageError::new(e, lang))?;
        // R-ACC-6, R-ACC-8: an expired password is changed before any other page works (a query
        // sent all the same is refused and recorded by the app).
        let path = full_path(parts);
        if current.must_change_password && !querying && !matches!(path.as_str(), "/password" | "/signout") {
            let e = AppError::forbidden("請先變更密碼", "change your password first");
            return Err(PageError::redirect("/password", e, lang));
        }
        // R-ACC-6: where the settings require a second factor of admins, it is set up first.
        if current.must_enrol_totp && !querying && !path.starts_with("/password") && path != "/signout" {
            let e = AppError::forbidden("請先設定兩步驟驗證", "set up the second factor first");
            return Err(PageError::redirect("/password", e, lang));
        }
        parts.extensions.insert(current.clone());
        Ok(PageUser { current, token, ctx })
    }
}

/// A signed-in API client (`Authorization: Bearer …`).
#[derive(Debug, Clone)]
pub struct ApiUser {
    pub current: Current,
    pub token: String,
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        ApiUser::extract(parts, state, false).await
    }
}

/// The sender of a query or a batch through the API: as [`ApiUser`], with [`PageQuerier`]'s reason
/// to let an account barred from querying through to the handler.
#[derive(Debug, Clone)]
pub struct ApiQuerier(pub ApiUser);

impl FromRequestParts<AppState> for ApiQuerier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        ApiUser::extract(parts, state, true).await.map(ApiQuerier)
    }
}

impl ApiUser {
    async fn extract(parts: &mut Parts, state: &AppState, querying: bool) -> Result<Self, ApiError> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned())
            .ok_or_else(|| {
                ApiError(AppError::Unauthenticated(Text::new(
                    "請以 POST /api/v1/session 登入，並在 Authorization 標頭帶入 Bearer 權杖",
                    "sign in with POST /api/v1/session and send the token as `Authorization: Bearer …`",
                )))
            })?;
        let current = if querying {
            state.app.current_for_query(&token, SessionKind::Api, &ctx.addr).await.map_err(ApiError)?
        } else {
            state.app.current(&token, SessionKind::Api, &ctx.addr).await.map_err(ApiError)?
        };
        if querying {
            // Whatever bars the account from querying, the app refuses and records the query.
            return Ok(ApiUser { current, token });
        }
        if current.must_change_password
            && !matches!(full_path(parts).as_str(), "/api/v1/me/password" | "/api/v1/session")
        {
            return Err(ApiError(AppError::forbidden(
                "密碼已逾期或須變更：請先以 PUT /api/v1/me/password 變更密碼",
                "the password has expired or must be changed: change it with PUT /api/v1/me/password first",
            )));
        }
        if current.must_enrol_totp
            && !matches!(full_path(parts).as_str(), "/api/v1/me/totp" | "/api/v1/me/password" | "/api/v1/session")
        {
            return Err(ApiError(AppError::forbidden(
                "須先設定兩步驟驗證：POST /api/v1/me/totp 取得金鑰，再以 PUT /api/v1/me/totp 送出驗證碼",
                "set up the second factor first: POST /api/v1/me/totp for the secret, then PUT /api/v1/me/totp with a code",
            )));
        }
        Ok(ApiUser { current, token })
    }
}

/// A form that carries nothing but its CSRF token (a button: sign out, destroy, start).
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// A form body whose `csrf` field matched the session's token (or, before sign-in, the
/// pre-session cookie). A mismatch is refused with 403 and recorded; nothing is changed.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Ok(ctx) = Ctx::from_request_parts(&mut parts, state).await;
        let expected = match parts.extensions.get::<Current>() {
            Some(c) => Some(c.csrf.clone()),
            None => cookie(&parts, PRE_SESSION_COOKIE).map(str::to_owned),
        };
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(|_| {
            PageError::new(AppError::invalid("body", "無法讀取表單內容", "the form could not be read"), ctx.lang)
        })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let given = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
        let ok = matches!((expected.as_deref(), given), (Some(e), Some(g)) if !e.is_empty() && constant_time_eq(e.as_bytes(), g.as_bytes()));
        if !ok {
            let current = parts.extensions.get::<Current>();
            let actor = Actor {
                account_id: current.map(|c| c.account_id),
                username: current.map(|c| c.username.as_str()).unwrap_or(""),
                client_addr: &ctx.addr,
            };
            let target = recordable_path(&full_path(&parts));
            if let Err(e) = state.app.record(kind::CSRF_REFUSED, actor, &target, "missing or wrong CSRF token").await {
                // The form is refused either way; an unrecorded refusal is reported as the fault it is.
                return Err(PageError::new(e, ctx.lang));
            }
            return Err(PageError::new(
                AppError::forbidden(
                    "表單已失效或來源不明（CSRF 檢查未通過），請重新整理頁面後再送出",
                    "the form has expired or did not come from this site (CSRF check failed); reload the page and submit again",
                ),
                ctx.lang,
            ));
        }
        let value = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| PageError::new(form_error(&e), ctx.lang))?;
        Ok(CsrfForm(value))
    }
}

/// A form the handler could not read, said in Chinese first: the decoder's own words are English
/// ("missing field `reason`", "invalid digit found in string") and name no field of the page.
fn form_error(e: &serde::de::value::Error) -> AppError {
    let detail = e.to_string();
    match detail.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        Some(field) => AppError::invalid(
            "form",
            format!("表單缺少欄位「{field}」：請重新整理頁面後再送出"),
            format!("the form lacks its {field} field: reload the page and submit again"),
        ),
        None => AppError::invalid(
            "form",
            "表單中有欄位的格式不符（例如應填數字之處填了文字或留空）：請檢查後再送出",
            format!("a form field is not in its form ({detail}): check it and submit again"),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The framework's own answer to a path or query string it cannot read (`/org/abc`: "Invalid URL:
/// Cannot parse…", a plain-text 400 in English) becomes the product's: bilingual, as a page or the
/// API's JSON body, 404 for a path naming no record and 422 for a query string.
pub async fn unreadable_request(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let (parts, body) = req.into_parts();
    let lang = cookie(&parts, LANG_COOKIE).and_then(Lang::from_code).unwrap_or_default();
    let res = next.run(Request::from_parts(parts, body)).await;
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if res.status() != axum::http::StatusCode::BAD_REQUEST || !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let e = if text.starts_with("Invalid URL") {
        AppError::not_found("網址中的編號有誤，查無此筆資料", "the number in the address names no record")
    } else if text.starts_with("Failed to deserialize query string") {
        AppError::invalid(
            "query",
            "網址中的查詢條件有誤，請由頁面重新查詢",
            "the address's query is not one this page reads: search again from the page",
        )
    } else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    use axum::response::IntoResponse;
    if api { ApiError(e).into_response() } else { PageError::new(e, lang).into_response() }
}

/// Security headers on every response: no inline script (CSP), no framing, no referrer, no
/// sniffing; pages are not cached (they may show personal data).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
