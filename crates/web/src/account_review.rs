//! Account review pages (R-ACC-9): the branch's reviews and a button to start one, one review
//! with a decision form per account, and the printable record.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::account_review::{AccountReviewView, ItemView};
use nhiguard_domain::account_review::AccountReviewState;
use nhiguard_domain::roc;

use crate::AppState;
use crate::ctx::{CsrfForm, Empty, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account-reviews", get(list).post(start))
        .route("/account-reviews/{id}", get(detail))
        .route("/account-reviews/{id}/accounts/{account}", post(decide))
        .route("/account-reviews/{id}/apply", post(apply))
        .route("/account-reviews/{id}/print", get(print))
}

struct ListLine {
    id: i64,
    started: String,
    state: String,
    applied: String,
}

#[derive(Template)]
#[template(path = "account_reviews.html")]
struct ListPage {
    b: Base,
    rows: Vec<ListLine>,
}

async fn list(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let rows = s
        .app
        .account_reviews(&u.current)
        .await
        .page(lang)?
        .into_iter()
        .map(|r| ListLine {
            id: r.id,
            started: roc::short_datetime(r.started_at),
            state: AccountReviewState::from_code(&r.state)
                .map(|x| lang.t(x.zh(), x.en()).to_owned())
                .unwrap_or_default(),
            applied: r.applied_at.map(roc::short_datetime).unwrap_or_default(),
        })
        .collect();
    Ok(render(&ListPage {
        b: Base::new(lang, "帳號清查", "Account reviews", Some(&u.current), "/account-reviews"),
        rows,
    }))
}

async fn start(State(s): State<AppState>, u: PageUser, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, PageError> {
    let id = s.app.start_account_review(&u.current).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/account-reviews/{id}")))
}

/// One account as the review page and the printed record show it.
struct Line {
    account_id: i64,
    username: String,
    name: String,
    status: String,
    last_sign_in: String,
    roles: String,
    concerns: Vec<String>,
    /// (code, label, kept when reduced)
    grants: Vec<(String, String, bool)>,
    decision: String,
    note: String,
}

fn line(lang: nhiguard_app::i18n::Lang, i: &ItemView) -> Line {
    Line {
        account_id: i.account.id,
        username: i.account.username.clone(),
        name: i.account.person_name.clone(),
        status: crate::pages::account_status_label(lang, &i.account.status),
        last_sign_in: i.account.last_sign_in_at.map(roc::short_datetime).unwrap_or_else(|| "—".into()),
        roles: i
            .item
            .roles
            .iter()
            .filter_map(|r| nhiguard_domain::role::Role::from_code(r))
            .map(|r| lang.t(r.zh(), r.en()))
            .collect::<Vec<_>>()
            .join("、"),
        concerns: i.concerns.iter().map(|c| lang.t(c.zh(), c.en()).to_owned()).collect(),
        grants: i
            .grants
            .iter()
            .map(|(code, label)| (code.clone(), label.clone(), i.item.kept_grants.contains(code)))
            .collect(),
        decision: i.decision.map(|d| lang.t(d.zh(), d.en()).to_owned()).unwrap_or_default(),
        note: i.item.note.clone(),
    }
}

#[derive(Template)]
#[template(path = "account_review.html")]
struct DetailPage {
    b: Base,
    id: i64,
    node: String,
    started: String,
    started_by: String,
    state: String,
    open: bool,
    applied: String,
    lines: Vec<Line>,
    undecided: usize,
}

fn applied_text(v: &AccountReviewView) -> String {
    match v.review.applied_at {
        Some(t) => format!("{}，{}", v.applied_by, roc::short_datetime(t)),
        None => String::new(),
    }
}

async fn detail(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.account_review(&u.current, id).await.page(lang)?;
    Ok(render(&DetailPage {
        b: Base::new(lang, "帳號清查", "Account review", Some(&u.current), "/account-reviews"),
        id,
        node: v.node_name.clone(),
        started: roc::short_datetime(v.review.started_at),
        started_by: v.started_by.clone(),
        state: lang.t(v.state.zh(), v.state.en()).to_owned(),
        open: v.state == AccountReviewState::Open,
        applied: applied_text(&v),
        undecided: v.items.iter().filter(|i| i.decision.is_none()).count(),
        lines: v.items.iter().map(|i| line(lang, i)).collect(),
    }))
}

/// The decision form, read as a map: `decision`, `note`, and one `keep:<purpose>:<operation>`
/// field per grant ticked to be kept when the decision is to reduce.
async fn decide(
    State(s): State<AppState>,
    u: PageUser,
    Path((id, account)): Path<(i64, i64)>,
    CsrfForm(f): CsrfForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let mut keep: Vec<String> = f.keys().filter_map(|k| k.strip_prefix("keep:")).map(str::to_owned).collect();
    keep.sort();
    s.app.decide_account(&u.current, id, account, field("decision"), field("note"), &keep).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/account-reviews/{id}#account-{account}")))
}

async fn apply(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.apply_account_review(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/account-reviews/{id}")))
}

#[derive(Template)]
#[template(path = "account_review_print.html")]
struct PrintPage {
    county: String,
    id: i64,
    node: String,
    started: String,
    started_by: String,
    state: String,
    applied: String,
    printed: String,
    printed_by: String,
    lines: Vec<Line>,
}

/// The review as a printable A4 record, in Traditional Chinese with ROC dates.
async fn print(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.account_review(&u.current, id).await.page(lang)?;
    let names = s.app.names(&u.current).await.page(lang)?;
    let tree = names.tree();
    let zh = nhiguard_app::i18n::Lang::Zh;
    Ok(render(&PrintPage {
        county: tree.root().map(|n| n.name_zh.clone()).unwrap_or_default(),
        id,
        node: v.node_name.clone(),
        started: roc::short_datetime(v.review.started_at),
        started_by: v.started_by.clone(),
        state: v.state.zh().to_owned(),
        applied: applied_text(&v),
        printed: roc::long_datetime(s.app.now()),
        printed_by: u.current.username.clone(),
        lines: v.items.iter().map(|i| line(zh, i)).collect(),
    }))
}
