//! Account governance pages (R-ACC-1 … R-ACC-8): applications from filing to carrying out, the
//! owner's password change, and an account's disable date.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::AppError;
use nhiguard_app::governance::ApplicationInput;
use nhiguard_app::i18n::Lang;
use nhiguard_domain::account::{ApplicationKind, ApplicationState, ApplicationStep};
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, PageUser};
use crate::error::{PageError, status_of};
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/applications", get(list).post(file))
        .route("/applications/{id}", get(detail))
        .route("/applications/{id}/form", get(form_page))
        .route("/applications/{id}/form.odt", get(form_odt))
        .route("/applications/{id}/{step}", post(step))
        .route("/password", get(password_page).post(password_change))
        .route("/password/totp", post(totp_begin))
        .route("/password/totp/confirm", post(totp_confirm))
        .route("/accounts/{id}/disable-date", post(disable_date))
        .route("/accounts/{id}/password-reset", post(password_reset))
}

struct AppLine {
    id: i64,
    kind: String,
    person: String,
    username: String,
    state: String,
    created: String,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ListPage {
    b: Base,
    apps: Vec<AppLine>,
    kinds: Vec<(&'static str, &'static str)>,
    people: Vec<(i64, String)>,
    accounts: Vec<(i64, String)>,
    roles: Vec<(&'static str, &'static str)>,
    grants: Vec<(String, String)>,
}

async fn list(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let apps = s.app.applications(&u.current).await.page(lang)?;
    let mut lines = Vec::new();
    for a in &apps {
        lines.push(AppLine {
            id: a.id,
            kind: ApplicationKind::from_code(&a.kind).map(|k| lang.t(k.zh(), k.en()).to_owned()).unwrap_or_default(),
            person: s.app.person_label(a.person_ref).await,
            username: a.username.clone(),
            state: ApplicationState::from_code(&a.state).map(|k| lang.t(k.zh(), k.en()).to_owned()).unwrap_or_default(),
            created: roc::short_datetime(a.created_at),
        });
    }
    // What an admin can file for: the people and accounts of its branch, the linkages of its agency.
    let (mut people, mut accounts, mut grants) = (Vec::new(), Vec::new(), Vec::new());
    if u.current.roles.iter().any(|r| r.is_admin()) {
        for (_, node) in s.app.org_overview(&u.current).await.page(lang)? {
            let d = s.app.org_node(&u.current, node.id).await.page(lang)?;
            if !d.can_manage_people {
                continue;
            }
            for p in &d.people {
                people.push((p.id, format!("{} {} · {}", p.person_id, p.name, lang.t(&node.name_zh, &node.name_en))));
            }
            for a in &d.accounts {
                accounts.push((a.id, format!("{} · {}", a.username, a.person_name)));
            }
        }
        let names = s.app.names(&u.current).await.page(lang)?;
        for l in s.app.linkages(&u.current).await.page(lang)? {
            let (Some(p), Some(o)) = (names.purpose(l.purpose_id), names.operation(l.operation_id)) else {
                continue;
            };
            let label = format!("{}. {} — {}", p.number, lang.t(&p.name_zh, &p.name_en), o.code);
            if !grants.iter().any(|(k, _): &(String, String)| *k == format!("{}:{}", p.id, o.id)) {
                grants.push((format!("{}:{}", p.id, o.id), label));
            }
        }
    }
    Ok(render(&ListPage {
        b: Base::new(lang, "帳號申請", "Account applications", Some(&u.current), "/applications"),
        apps: lines,
        kinds: ApplicationKind::ALL.iter().map(|k| (k.code(), lang.t(k.zh(), k.en()))).collect(),
        people,
        accounts,
        roles: Role::ALL
            .iter()
            .filter(|r| **r != Role::PlanningAdmin)
            .map(|r| (r.code(), lang.t(r.zh(), r.en())))
            .collect(),
        grants,
    }))
}

/// The form's repeated checkboxes (`role`, `grant`) arrive as pairs.
fn input_from(pairs: &[(String, String)]) -> ApplicationInput {
    let one = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let many = |k: &str| pairs.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>().join(",");
    ApplicationInput {
        kind: one("kind"),
        person_ref: one("person_ref").parse().unwrap_or(0),
        account_id: one("account_id").parse().ok(),
        username: one("username"),
        roles: many("role"),
        grants: many("grant"),
        reason: one("reason"),
        pledge: Some(one("pledge")).filter(|v| !v.is_empty()),
    }
}

async fn file(
    State(s): State<AppState>,
    u: PageUser,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let id = s.app.file_application(&u.current, &input_from(&pairs)).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/applications/{id}")))
}

#[derive(Template)]
#[template(path = "application.html")]
struct DetailPage {
    b: Base,
    id: i64,
    state: String,
    kind: String,
    person: String,
    username: String,
    roles: String,
    grants: Vec<String>,
    reason: String,
    pledge: bool,
    steps: Vec<String>,
    activation: String,
    mailed_to: String,
    actions: Vec<(&'static str, &'static str)>,
}

/// `activation` is the one-time link to show (once), `mailed_to` the masked address it went to.
async fn render_detail(
    s: &AppState,
    u: &PageUser,
    id: i64,
    activation: String,
    mailed_to: String,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let a = s.app.application(&u.current, id).await.page(lang)?;
    let state = ApplicationState::from_code(&a.state).unwrap_or(ApplicationState::Draft);
    let name_of = |id: Option<i64>| s.app.account_label(id);
    let mut steps = vec![format!(
        "{} {} {}",
        roc::short_datetime(a.created_at),
        lang.t("建立", "filed by"),
        name_of(Some(a.created_by)).await
    )];
    if let Some(t) = a.submitted_at {
        steps.push(format!("{} {}", roc::short_datetime(t), lang.t("送出", "submitted")));
    }
    if let Some(t) = a.decided_at {
        steps.push(format!(
            "{} {} {} {}",
            roc::short_datetime(t),
            lang.t(state_word(&a.state).0, state_word(&a.state).1),
            name_of(a.decided_by).await,
            a.decision_note
        ));
    }
    if let Some(t) = a.carried_out_at {
        steps.push(format!(
            "{} {} {}",
            roc::short_datetime(t),
            lang.t("辦理", "carried out by"),
            name_of(a.carried_out_by).await
        ));
    }
    let mut actions = Vec::new();
    let mine = a.created_by == u.current.account_id;
    for step in ApplicationStep::ALL {
        let allowed_here = match step {
            ApplicationStep::Submit | ApplicationStep::Withdraw => mine,
            ApplicationStep::Approve | ApplicationStep::Reject => u.current.has(Role::Supervisor) && !mine,
            ApplicationStep::CarryOut => u.current.roles.iter().any(|r| r.is_admin()),
        };
        if allowed_here && nhiguard_domain::account::next_state(state, *step).is_ok() {
            actions.push((step_path(*step), lang.t(step.zh(), step.en())));
        }
    }
    let names = s.app.names(&u.current).await.page(lang)?;
    let grants = a
        .grants
        .split(',')
        .filter_map(|g| g.split_once(':'))
        .filter_map(|(p, o)| {
            let p = names.purpose(p.parse().ok()?)?;
            let o = names.operation(o.parse().ok()?)?;
            Some(format!("{}. {} — {}", p.number, lang.t(&p.name_zh, &p.name_en), o.code))
        })
        .collect();
    Ok(render(&DetailPage {
        b: Base::new(lang, "申請案", "Application", Some(&u.current), "/applications"),
        id,
        state: lang.t(state.zh(), state.en()).to_owned(),
        kind: ApplicationKind::from_code(&a.kind).map(|k| lang.t(k.zh(), k.en()).to_owned()).unwrap_or_default(),
        person: s.app.person_label(a.person_ref).await,
        username: a.username.clone(),
        roles: a
            .roles
            .split(',')
            .filter_map(Role::from_code)
            .map(|r| lang.t(r.zh(), r.en()))
            .collect::<Vec<_>>()
            .join("、"),
        grants,
        reason: a.reason.clone(),
        pledge: a.pledge,
        steps,
        activation,
        mailed_to,
        actions,
    }))
}

fn state_word(state: &str) -> (&'static str, &'static str) {
    match state {
        "rejected" => ("駁回", "rejected by"),
        _ => ("核准", "approved by"),
    }
}

fn step_path(step: ApplicationStep) -> &'static str {
    match step {
        ApplicationStep::Submit => "submit",
        ApplicationStep::Approve => "approve",
        ApplicationStep::Reject => "reject",
        ApplicationStep::CarryOut => "carry-out",
        ApplicationStep::Withdraw => "withdraw",
    }
}

async fn detail(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    render_detail(&s, &u, id, String::new(), String::new()).await
}

#[derive(Deserialize, Default)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn step(
    State(s): State<AppState>,
    u: PageUser,
    Path((id, step)): Path<(i64, String)>,
    CsrfForm(f): CsrfForm<NoteForm>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let step = ApplicationStep::ALL
        .iter()
        .copied()
        .find(|s| step_path(*s) == step)
        .ok_or_else(|| PageError::new(AppError::not_found("沒有這個步驟", "no such step"), lang))?;
    if step == ApplicationStep::CarryOut {
        let done = s.app.carry_out(&u.current, id).await.page(lang)?;
        return render_detail(&s, &u, id, done.activation_url.unwrap_or_default(), done.mailed_to.unwrap_or_default())
            .await;
    }
    s.app.application_step(&u.current, id, step, &f.note).await.page(lang)?;
    Ok(see_other(&format!("/applications/{id}")))
}

#[derive(Template)]
#[template(path = "application_form.html")]
struct FormPage {
    f: nhiguard_app::form::ApplicationForm,
    pledge_text: &'static str,
    printed: String,
}

/// The county's application form, filled in, for the official letter (printable A4).
async fn form_page(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let f = s.app.application_form(&u.current, id).await.page(u.ctx.lang)?;
    Ok(render(&FormPage { f, pledge_text: nhiguard_app::form::PLEDGE_ZH, printed: roc::long_datetime(s.app.now()) }))
}

/// The same form as an OpenDocument text file.
async fn form_odt(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let (name, bytes) = s.app.application_form_odt(&u.current, id).await.page(u.ctx.lang)?;
    Ok(crate::view::attachment(&name, "application/vnd.oasis.opendocument.text", bytes))
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    b: Base,
    forced: bool,
    message: String,
    /// The second factor (R-ACC-6): when it was turned on (ROC), or empty.
    totp_since: String,
    /// Setup in progress: the secret in base32 and its `otpauth://` address, shown once.
    totp_secret: String,
    totp_uri: String,
    must_enrol_totp: bool,
}

impl PasswordPage {
    async fn new(s: &AppState, u: &PageUser, message: String) -> Result<PasswordPage, PageError> {
        let lang = u.ctx.lang;
        let totp_since = s.app.second_factor_since(&u.current).await.page(lang)?;
        Ok(PasswordPage {
            b: Base::new(lang, "變更密碼", "Change password", Some(&u.current), "/password"),
            forced: u.current.must_change_password,
            message,
            totp_since: totp_since.map(roc::short_datetime).unwrap_or_default(),
            totp_secret: String::new(),
            totp_uri: String::new(),
            must_enrol_totp: u.current.must_enrol_totp,
        })
    }
}

async fn password_page(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    Ok(render(&PasswordPage::new(&s, &u, String::new()).await?))
}

#[derive(Deserialize)]
struct TotpBeginForm {
    /// A code from the authenticator in use, when moving to another.
    #[serde(default)]
    code: String,
}

/// Starts the second factor's setup and shows the secret once.
async fn totp_begin(
    State(s): State<AppState>,
    u: PageUser,
    CsrfForm(f): CsrfForm<TotpBeginForm>,
) -> Result<Response, PageError> {
    let (secret, uri) = s.app.totp_begin(&u.current, &f.code).await.page(u.ctx.lang)?;
    let mut page = PasswordPage::new(&s, &u, String::new()).await?;
    page.totp_secret = secret;
    page.totp_uri = uri;
    Ok(render(&page))
}

#[derive(Deserialize)]
struct TotpForm {
    code: String,
}

async fn totp_confirm(
    State(s): State<AppState>,
    u: PageUser,
    CsrfForm(f): CsrfForm<TotpForm>,
) -> Result<Response, PageError> {
    s.app.totp_confirm(&u.current, &f.code).await.page(u.ctx.lang)?;
    Ok(see_other("/password"))
}

#[derive(Deserialize)]
struct PasswordForm {
    old_password: String,
    password: String,
    confirm: String,
}

async fn password_change(
    State(s): State<AppState>,
    u: PageUser,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    match s.app.change_password(&u.current, &f.old_password, &f.password, &f.confirm).await {
        Ok(()) => Ok(see_other("/")),
        Err(e @ AppError::Invalid { .. }) => {
            let mut res = render(&PasswordPage::new(&s, &u, e.message().get(lang).to_owned()).await?);
            *res.status_mut() = status_of(&e);
            Ok(res)
        }
        Err(e) => Err(PageError::new(e, lang)),
    }
}

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    disable_on: String,
    reason: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    b: Base,
    username: String,
    unit: i64,
    activation: String,
    mailed_to: String,
    hours: i64,
}

/// R-ACC-4: an admin resets an account's password; the new one-time link is shown once, here,
/// unless it was mailed to its owner.
async fn password_reset(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<ReasonForm>,
) -> Result<Response, PageError> {
    let lang: Lang = u.ctx.lang;
    let done = s.app.reset_password(&u.current, id, &f.reason).await.page(lang)?;
    let a = s.app.db().account(id).await.map_err(AppError::from).page(lang)?;
    Ok(render(&ResetPage {
        b: Base::new(lang, "重設密碼", "Password reset", Some(&u.current), "/org"),
        username: a.username,
        unit: a.org_node_id,
        activation: done.activation_url.unwrap_or_default(),
        mailed_to: done.mailed_to.unwrap_or_default(),
        hours: s.app.settings().activation_hours,
    }))
}

async fn disable_date(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<DisableForm>,
) -> Result<Response, PageError> {
    let lang: Lang = u.ctx.lang;
    let unit = s.app.set_disable_date(&u.current, id, &f.disable_on, &f.reason, &f.note).await.page(lang)?;
    Ok(see_other(&format!("/org/{unit}")))
}
