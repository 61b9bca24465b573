//! The HTML pages. Each handler extracts, calls one use case, and renders one template; a form
//! post that succeeds redirects (303) so that reloading never submits twice.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use nhiguard_app::auth::random_token;
use nhiguard_app::catalogue::{LinkageInput, OperationInput, PurposeInput};
use nhiguard_app::i18n::Lang;
use nhiguard_app::org::{NewChildInput, NewPersonInput};
use nhiguard_app::{AppError, SessionKind};
use nhiguard_domain::catalogue::{ResultField, Status, SubjectCondition};
use nhiguard_domain::org::OrgKind;
use nhiguard_domain::person::{HrStatus, Rank};
use nhiguard_domain::roc;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, Ctx, Empty, LANG_COOKIE, PRE_SESSION_COOKIE, PageUser, SESSION_COOKIE, set_cookie};
use crate::error::{PageError, render_error};
use crate::view::{Base, roc_date};

type PageResult = Result<Response, PageError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/lang", get(switch_lang))
        .route("/activate/{token}", get(activate_page).post(activate))
        .route("/org", get(org))
        .route("/org/{id}", get(org_node))
        .route("/org/{id}/children", post(org_add_child))
        .route("/org/{id}/people", post(org_add_person))
        .route("/org/{id}/case-pattern", post(org_case_pattern))
        .route("/people/{id}/hr-status", post(person_hr_status))
        .route("/purposes", get(purposes).post(purpose_create))
        .route("/purposes/{id}", get(purpose).post(purpose_update))
        .route("/purposes/{id}/status", post(purpose_status))
        .route("/operations", get(operations).post(operation_create))
        .route("/operations/{id}/status", post(operation_status))
        .route("/linkages", get(linkages).post(linkage_create))
        .route("/linkages/{id}/status", post(linkage_status))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/assets/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
}

pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => render_error(&AppError::Internal(format!("template: {e}")), Lang::Zh),
    }
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(crate) trait OrPage<T> {
    fn page(self, lang: Lang) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, AppError> {
    fn page(self, lang: Lang) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(e, lang))
    }
}

pub async fn not_found(ctx: Ctx) -> Response {
    render_error(&AppError::not_found("找不到此頁面", "no such page"), ctx.lang)
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../assets/app.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../assets/app.js"),
    )
        .into_response()
}

async fn icon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")],
        include_str!("../assets/icon.svg"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    #[serde(default)]
    back: String,
}

/// A path on this site and nothing else: browsers read `//host`, `/\\host` and `/<tab>/host` as
/// another site, so the second character may not be a slash or backslash, and only the characters
/// of an ordinary path and query are let through (which also keeps the Location header valid).
fn is_local_path(p: &str) -> bool {
    let mut chars = p.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~?=&%#+".contains(c))
}

async fn switch_lang(ctx: Ctx, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::from_code(&q.to).unwrap_or(ctx.lang);
    let back = if is_local_path(&q.back) { q.back.as_str() } else { "/" };
    let mut res = see_other(back);
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LANG_COOKIE, lang.code(), ctx.secure, Some(31_536_000))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

// ---- sign-in, sign-out, activation ----

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    b: Base,
    pre_csrf: String,
    message: String,
    username: String,
}

/// Renders a pre-session form page with a fresh double-submit token in its cookie.
fn with_pre_session(ctx: &Ctx, build: impl FnOnce(String) -> Response) -> Response {
    let token = random_token().unwrap_or_default();
    let mut res = build(token.clone());
    if let Ok(v) = HeaderValue::from_str(&set_cookie(PRE_SESSION_COOKIE, &token, ctx.secure, None)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn signin_page(ctx: Ctx) -> Response {
    with_pre_session(&ctx, |pre_csrf| {
        render(&SigninPage {
            b: Base::new(ctx.lang, "登入", "Sign in", None, "/signin"),
            pre_csrf,
            message: String::new(),
            username: String::new(),
        })
    })
}

#[derive(Deserialize)]
struct SigninForm {
    username: String,
    password: String,
    /// The second factor's code, for accounts that have one (R-ACC-6).
    #[serde(default)]
    totp: String,
}

async fn signin(State(s): State<AppState>, ctx: Ctx, CsrfForm(f): CsrfForm<SigninForm>) -> Response {
    match s.app.sign_in(&f.username, &f.password, &f.totp, SessionKind::Web, &ctx.addr).await {
        Ok(signed) => {
            let mut res = see_other("/");
            for c in [
                set_cookie(SESSION_COOKIE, &signed.token, ctx.secure, None),
                set_cookie(PRE_SESSION_COOKIE, "", ctx.secure, Some(0)),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(e @ AppError::Unauthenticated(_)) => {
            let message = e.message().get(ctx.lang).to_owned();
            let username = f.username.clone();
            let mut res = with_pre_session(&ctx, |pre_csrf| {
                render(&SigninPage {
                    b: Base::new(ctx.lang, "登入", "Sign in", None, "/signin"),
                    pre_csrf,
                    message,
                    username,
                })
            });
            *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            res
        }
        Err(e) => PageError::new(e, ctx.lang).into_response(),
    }
}

async fn signout(State(s): State<AppState>, u: PageUser, CsrfForm(_): CsrfForm<Empty>) -> PageResult {
    s.app.sign_out(&u.token, &u.current).await.page(u.ctx.lang)?;
    let mut res = see_other("/signin");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", u.ctx.secure, Some(0))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    b: Base,
    username: String,
    token: String,
    pre_csrf: String,
    min_length: i64,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    b: Base,
    text: String,
    link: String,
    link_label: String,
}

async fn activate_page(State(s): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> PageResult {
    let username = s.app.activation_target(&token).await.page(ctx.lang)?;
    let min_length = s.app.settings().password_min_length;
    Ok(with_pre_session(&ctx, |pre_csrf| {
        render(&ActivatePage {
            b: Base::new(ctx.lang, "啟用帳號", "Activate your account", None, "/"),
            username,
            token,
            pre_csrf,
            min_length,
        })
    }))
}

#[derive(Deserialize)]
struct ActivateForm {
    password: String,
    confirm: String,
}

async fn activate(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    CsrfForm(f): CsrfForm<ActivateForm>,
) -> PageResult {
    s.app.activate(&token, &f.password, &f.confirm, &ctx.addr).await.page(ctx.lang)?;
    Ok(render(&MessagePage {
        b: Base::new(ctx.lang, "帳號已啟用", "Account activated", None, "/"),
        text: ctx.lang.t("密碼已設定，請以新密碼登入。", "Your password is set; sign in with it.").into(),
        link: "/signin".into(),
        link_label: ctx.lang.t("前往登入", "Sign in").into(),
    }))
}

// ---- home and organisation ----

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    b: Base,
    name: String,
    username: String,
    title: String,
    org_path: String,
    roles: String,
    today: String,
    /// (kind, text, link) of what the person should do soon.
    reminders: Vec<(&'static str, String, String)>,
}

async fn home(State(s): State<AppState>, u: PageUser) -> PageResult {
    let lang = u.ctx.lang;
    let names = s.app.names(&u.current).await.page(lang)?;
    let tree = names.tree();
    let org_path = tree
        .path(u.current.org_node_id)
        .iter()
        .map(|n| lang.t(&n.name_zh, &n.name_en).to_owned())
        .collect::<Vec<_>>()
        .join(" › ");
    let b = Base::new(lang, "首頁", "Home", Some(&u.current), "/");
    let roles = b.user.as_ref().map(|x| x.roles.clone()).unwrap_or_default();
    let today = roc::long_date(roc::taipei_date(s.app.now()));
    let reminders = s
        .app
        .reminders(&u.current)
        .await
        .page(lang)?
        .into_iter()
        .map(|r| (r.kind, r.text.get(lang).to_owned(), r.link))
        .collect();
    Ok(render(&HomePage {
        b,
        name: u.current.person_name.clone(),
        username: u.current.username.clone(),
        title: u.current.person_title.clone(),
        org_path,
        roles,
        today,
        reminders,
    }))
}

struct TreeRow {
    id: i64,
    depth: usize,
    name: String,
    kind: String,
    code: String,
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    b: Base,
    nodes: Vec<TreeRow>,
}

async fn org(State(s): State<AppState>, u: PageUser) -> PageResult {
    let lang = u.ctx.lang;
    let nodes = s.app.org_overview(&u.current).await.page(lang)?;
    Ok(render(&OrgPage {
        b: Base::new(lang, "組織", "Organisation", Some(&u.current), "/org"),
        nodes: nodes
            .into_iter()
            .map(|(depth, n)| TreeRow {
                id: n.id,
                depth: depth.min(6),
                name: lang.t(&n.name_zh, &n.name_en).to_owned(),
                kind: lang.t(n.kind.zh(), n.kind.en()).to_owned(),
                code: n.code,
            })
            .collect(),
    }))
}

struct PersonRow {
    id: i64,
    person_id: String,
    name: String,
    title: String,
    rank: String,
    hr_status: String,
    username: String,
    roles: String,
    account_status: String,
    /// 0 when the person has no account.
    account_id: i64,
    /// The ROC disable date, or empty.
    disable_on: String,
    /// Why the account is proposed for disabling (R-ACC-7), or empty.
    proposal: String,
}

#[derive(Template)]
#[template(path = "org_node.html")]
struct OrgNodePage {
    b: Base,
    id: i64,
    name: String,
    kind: String,
    code: String,
    has_sections: bool,
    path: Vec<(i64, String)>,
    children: Vec<(i64, String)>,
    people: Vec<PersonRow>,
    can_manage_org: bool,
    can_manage_people: bool,
    /// The agency's case-number format, and whether this node is the agency that sets it.
    case_pattern: String,
    is_agency: bool,
    ranks: Vec<(&'static str, &'static str)>,
    hr_statuses: Vec<(&'static str, &'static str)>,
}

pub(crate) fn account_status_label(lang: Lang, s: &str) -> String {
    match s {
        "active" => lang.t("使用中", "active"),
        "pending" => lang.t("待啟用", "awaiting activation"),
        _ => lang.t("已停用", "disabled"),
    }
    .to_owned()
}

async fn org_node(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> PageResult {
    let lang = u.ctx.lang;
    let d = s.app.org_node(&u.current, id).await.page(lang)?;
    let proposals = s.app.disable_proposals(&u.current).await.page(lang)?;
    let name_of = |zh: &str, en: &str| lang.t(zh, en).to_owned();
    let people = d
        .people
        .iter()
        .map(|p| {
            let acc = d.accounts.iter().find(|a| a.person_ref == p.id);
            PersonRow {
                id: p.id,
                person_id: p.person_id.to_string(),
                name: p.name.clone(),
                title: p.title.clone(),
                rank: lang.t(p.rank.zh(), p.rank.en()).into(),
                hr_status: lang.t(p.hr_status.zh(), p.hr_status.en()).into(),
                username: acc.map(|a| a.username.clone()).unwrap_or_else(|| "—".into()),
                roles: acc
                    .map(|a| a.roles.iter().map(|r| lang.t(r.zh(), r.en())).collect::<Vec<_>>().join("、"))
                    .unwrap_or_default(),
                account_status: acc.map(|a| account_status_label(lang, &a.status)).unwrap_or_default(),
                account_id: acc.map(|a| a.id).unwrap_or(0),
                disable_on: acc
                    .and_then(|a| a.disable_on.as_deref())
                    .and_then(|d| d.parse().ok())
                    .map(roc::short_date)
                    .unwrap_or_default(),
                proposal: acc
                    .and_then(|a| proposals.iter().find(|(p, _)| p.id == a.id))
                    .and_then(|(_, why)| HrStatus::from_code(why))
                    .map(|w| format!("{}（{}）", lang.t("建議停用", "disable proposed"), lang.t(w.zh(), w.en())))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let here = format!("/org/{id}");
    Ok(render(&OrgNodePage {
        b: Base::new(lang, &d.node.name_zh, &d.node.name_en, Some(&u.current), &here),
        id,
        name: name_of(&d.node.name_zh, &d.node.name_en),
        kind: name_of(d.node.kind.zh(), d.node.kind.en()),
        code: d.node.code.clone(),
        has_sections: d.node.has_sections,
        path: d.path.iter().map(|n| (n.id, name_of(&n.name_zh, &n.name_en))).collect(),
        children: d.children.iter().map(|n| (n.id, name_of(&n.name_zh, &n.name_en))).collect(),
        people,
        can_manage_org: d.can_manage_org,
        can_manage_people: d.can_manage_people,
        case_pattern: d.case_pattern.clone().unwrap_or_default(),
        is_agency: d.node.kind == nhiguard_domain::org::OrgKind::Agency,
        ranks: Rank::ALL.iter().map(|r| (r.code(), lang.t(r.zh(), r.en()))).collect(),
        hr_statuses: HrStatus::ALL.iter().map(|r| (r.code(), lang.t(r.zh(), r.en()))).collect(),
    }))
}

async fn org_add_child(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<NewChildInput>,
) -> PageResult {
    let child = s.app.create_org_child(&u.current, id, &f).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/org/{child}")))
}

#[derive(Deserialize)]
struct CasePatternForm {
    #[serde(default)]
    pattern: String,
}

async fn org_case_pattern(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<CasePatternForm>,
) -> PageResult {
    s.app.set_case_pattern(&u.current, id, &f.pattern).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/org/{id}")))
}

async fn org_add_person(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<NewPersonInput>,
) -> PageResult {
    s.app.create_person(&u.current, id, &f).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/org/{id}")))
}

#[derive(Deserialize)]
struct HrForm {
    hr_status: String,
}

async fn person_hr_status(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<HrForm>,
) -> PageResult {
    let unit = s.app.set_hr_status(&u.current, id, &f.hr_status).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/org/{unit}")))
}

// ---- catalogue ----

struct PurposeRow {
    id: i64,
    number: i64,
    name: String,
    legal_basis: String,
    status: String,
    status_code: &'static str,
}

#[derive(Template)]
#[template(path = "purposes.html")]
struct PurposesPage {
    b: Base,
    purposes: Vec<PurposeRow>,
    can_edit: bool,
}

async fn purposes(State(s): State<AppState>, u: PageUser) -> PageResult {
    let lang = u.ctx.lang;
    let list = s.app.purposes(&u.current).await.page(lang)?;
    Ok(render(&PurposesPage {
        b: Base::new(lang, "業務範圍", "Purposes", Some(&u.current), "/purposes"),
        purposes: list
            .into_iter()
            .map(|p| PurposeRow {
                id: p.id,
                number: p.number,
                name: lang.t(&p.name_zh, &p.name_en).to_owned(),
                legal_basis: p.legal_basis,
                status: lang.t(p.status.zh(), p.status.en()).into(),
                status_code: p.status.code(),
            })
            .collect(),
        can_edit: u.current.has(nhiguard_domain::role::Role::PlanningAdmin),
    }))
}

async fn purpose_create(State(s): State<AppState>, u: PageUser, CsrfForm(f): CsrfForm<PurposeInput>) -> PageResult {
    let p = s.app.create_purpose(&u.current, &f).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/purposes/{}", p.id)))
}

struct LinkageRow {
    id: i64,
    agency: String,
    purpose: String,
    operation: String,
    approval: String,
    date: String,
    status: String,
    status_code: &'static str,
}

#[derive(Template)]
#[template(path = "purpose.html")]
struct PurposePage {
    b: Base,
    id: i64,
    number: i64,
    name: String,
    name_zh: String,
    name_en: String,
    legal_basis: String,
    approval_ref: String,
    approval_date: String,
    approval_date_input: String,
    status: String,
    status_code: &'static str,
    linkages: Vec<LinkageRow>,
    history: Vec<(String, String, String)>,
    can_edit: bool,
}

/// Linkage rows with names resolved in the page's language.
async fn linkage_rows(
    s: &AppState,
    u: &PageUser,
    list: Vec<nhiguard_domain::catalogue::Linkage>,
) -> Result<Vec<LinkageRow>, AppError> {
    let lang = u.ctx.lang;
    let names = s.app.names(&u.current).await?;
    Ok(list
        .into_iter()
        .map(|l| LinkageRow {
            id: l.id,
            agency: names
                .tree()
                .get(l.agency_id)
                .map(|n| lang.t(&n.name_zh, &n.name_en).to_owned())
                .unwrap_or_default(),
            purpose: names
                .purpose(l.purpose_id)
                .map(|p| format!("{}. {}", p.number, lang.t(&p.name_zh, &p.name_en)))
                .unwrap_or_default(),
            operation: names
                .operation(l.operation_id)
                .map(|o| format!("{} {}", o.code, lang.t(&o.name_zh, &o.name_en)))
                .unwrap_or_default(),
            approval: l.nhia_approval_ref,
            date: roc_date(l.nhia_approval_date),
            status: lang.t(l.status.zh(), l.status.en()).into(),
            status_code: l.status.code(),
        })
        .collect())
}

async fn purpose(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> PageResult {
    let lang = u.ctx.lang;
    let d = s.app.purpose_detail(&u.current, id).await.page(lang)?;
    let p = d.purpose;
    let here = format!("/purposes/{id}");
    Ok(render(&PurposePage {
        b: Base::new(lang, &p.name_zh, &p.name_en, Some(&u.current), &here),
        id,
        number: p.number,
        name: lang.t(&p.name_zh, &p.name_en).to_owned(),
        legal_basis: p.legal_basis.clone(),
        approval_ref: p.nhia_approval_ref.clone(),
        approval_date: roc_date(p.nhia_approval_date),
        approval_date_input: p.nhia_approval_date.map(|d| d.to_string()).unwrap_or_default(),
        status: lang.t(p.status.zh(), p.status.en()).into(),
        status_code: p.status.code(),
        linkages: linkage_rows(&s, &u, d.linkages).await.page(lang)?,
        history: d
            .history
            .iter()
            .map(|h| {
                (
                    roc::short_datetime(h.at),
                    h.action.clone(),
                    h.actor_account_id.map(|a| format!("#{a}")).unwrap_or_else(|| lang.t("系統", "system").into()),
                )
            })
            .collect(),
        can_edit: u.current.has(nhiguard_domain::role::Role::PlanningAdmin),
        name_zh: p.name_zh,
        name_en: p.name_en,
    }))
}

async fn purpose_update(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<PurposeInput>,
) -> PageResult {
    s.app.update_purpose(&u.current, id, &f).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/purposes/{id}")))
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

fn parse_status(v: &str) -> Result<Status, AppError> {
    Status::from_code(v)
        .ok_or_else(|| AppError::invalid("status", "狀態須為 active 或 retired", "status is active or retired"))
}

async fn purpose_status(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<StatusForm>,
) -> PageResult {
    let lang = u.ctx.lang;
    s.app.set_purpose_status(&u.current, id, parse_status(&f.status).page(lang)?).await.page(lang)?;
    Ok(see_other(&format!("/purposes/{id}")))
}

struct OperationRow {
    id: i64,
    code: String,
    name: String,
    conditions: String,
    results: String,
    status: String,
    status_code: &'static str,
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    b: Base,
    operations: Vec<OperationRow>,
    can_edit: bool,
    condition_codes: Vec<&'static str>,
    result_codes: Vec<&'static str>,
}

async fn operations(State(s): State<AppState>, u: PageUser) -> PageResult {
    let lang = u.ctx.lang;
    let list = s.app.operations(&u.current).await.page(lang)?;
    Ok(render(&OperationsPage {
        b: Base::new(lang, "查詢作業", "Operations", Some(&u.current), "/operations"),
        operations: list
            .into_iter()
            .map(|o| OperationRow {
                id: o.id,
                name: lang.t(&o.name_zh, &o.name_en).to_owned(),
                conditions: o.conditions.iter().map(|c| lang.t(c.zh(), c.en())).collect::<Vec<_>>().join("、"),
                results: o.results.iter().map(|c| lang.t(c.zh(), c.en())).collect::<Vec<_>>().join("、"),
                status: lang.t(o.status.zh(), o.status.en()).into(),
                status_code: o.status.code(),
                code: o.code,
            })
            .collect(),
        can_edit: u.current.has(nhiguard_domain::role::Role::PlanningAdmin),
        condition_codes: SubjectCondition::ALL.iter().map(|c| c.code()).collect(),
        result_codes: ResultField::ALL.iter().map(|c| c.code()).collect(),
    }))
}

async fn operation_create(State(s): State<AppState>, u: PageUser, CsrfForm(f): CsrfForm<OperationInput>) -> PageResult {
    s.app.create_operation(&u.current, &f).await.page(u.ctx.lang)?;
    Ok(see_other("/operations"))
}

async fn operation_status(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<StatusForm>,
) -> PageResult {
    let lang = u.ctx.lang;
    s.app.set_operation_status(&u.current, id, parse_status(&f.status).page(lang)?).await.page(lang)?;
    Ok(see_other("/operations"))
}

#[derive(Template)]
#[template(path = "linkages.html")]
struct LinkagesPage {
    b: Base,
    linkages: Vec<LinkageRow>,
    can_edit: bool,
    agencies: Vec<(i64, String)>,
    purpose_options: Vec<(i64, String)>,
    operation_options: Vec<(i64, String)>,
}

async fn linkages(State(s): State<AppState>, u: PageUser) -> PageResult {
    let lang = u.ctx.lang;
    let list = s.app.linkages(&u.current).await.page(lang)?;
    let can_edit = u.current.has(nhiguard_domain::role::Role::PlanningAdmin);
    let (mut agencies, mut purpose_options, mut operation_options) = (Vec::new(), Vec::new(), Vec::new());
    if can_edit {
        let names = s.app.names(&u.current).await.page(lang)?;
        let tree = names.tree();
        if let Some(root) = tree.root() {
            agencies = tree
                .children(root.id)
                .filter(|n| n.kind == OrgKind::Agency)
                .map(|n| (n.id, lang.t(&n.name_zh, &n.name_en).to_owned()))
                .collect();
        }
        purpose_options = s
            .app
            .purposes(&u.current)
            .await
            .page(lang)?
            .into_iter()
            .filter(|p| p.status == Status::Active)
            .map(|p| (p.id, format!("{}. {}", p.number, lang.t(&p.name_zh, &p.name_en))))
            .collect();
        operation_options = s
            .app
            .operations(&u.current)
            .await
            .page(lang)?
            .into_iter()
            .filter(|o| o.status == Status::Active)
            .map(|o| (o.id, format!("{} {}", o.code, lang.t(&o.name_zh, &o.name_en))))
            .collect();
    }
    Ok(render(&LinkagesPage {
        b: Base::new(lang, "連結作業", "Linkages", Some(&u.current), "/linkages"),
        linkages: linkage_rows(&s, &u, list).await.page(lang)?,
        can_edit,
        agencies,
        purpose_options,
        operation_options,
    }))
}

async fn linkage_create(State(s): State<AppState>, u: PageUser, CsrfForm(f): CsrfForm<LinkageInput>) -> PageResult {
    s.app.create_linkage(&u.current, &f).await.page(u.ctx.lang)?;
    Ok(see_other("/linkages"))
}

async fn linkage_status(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<StatusForm>,
) -> PageResult {
    let lang = u.ctx.lang;
    s.app.set_linkage_status(&u.current, id, parse_status(&f.status).page(lang)?).await.page(lang)?;
    Ok(see_other("/linkages"))
}
