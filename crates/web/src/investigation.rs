//! Investigation pages (R-REV-5): the list of one's investigations, one investigation with its
//! members, steps, entries and evidence, and the printable audit record (稽核紀錄).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::investigation::InvestigationView;
use nhiguard_app::review::roc_month;
use nhiguard_domain::investigation::{InvestigationState, Party};
use nhiguard_domain::roc;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::querylog::Line;
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/investigations", get(list))
        .route("/investigations/{id}", get(detail))
        .route("/investigations/{id}/members", post(members))
        .route("/investigations/{id}/take-over", post(take_over))
        .route("/investigations/{id}/steps", post(step))
        .route("/investigations/{id}/evidence", post(evidence))
        .route("/investigations/{id}/conclude", post(conclude))
        .route("/investigations/{id}/record", get(record))
}

struct ListLine {
    id: i64,
    agency: String,
    month: String,
    seq: u64,
    opened: String,
    state: String,
}

#[derive(Template)]
#[template(path = "investigations.html")]
struct ListPage {
    b: Base,
    rows: Vec<ListLine>,
}

async fn list(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let names = s.app.names(&u.current).await.page(lang)?;
    let tree = names.tree();
    let mut rows = Vec::new();
    for line in s.app.investigation_lines(&u.current).await.page(lang)? {
        let i = line.inv;
        rows.push(ListLine {
            id: i.id,
            agency: tree.get(i.agency_id).map(|n| lang.t(&n.name_zh, &n.name_en).to_owned()).unwrap_or_default(),
            month: roc_month(line.year, line.month),
            seq: i.seq,
            opened: roc::short_datetime(i.opened_at),
            state: InvestigationState::from_code(&i.state)
                .map(|x| lang.t(x.zh(), x.en()).to_owned())
                .unwrap_or_default(),
        });
    }
    Ok(render(&ListPage {
        b: Base::new(lang, "異常調查", "Investigations", Some(&u.current), "/investigations"),
        rows,
    }))
}

struct NoteLine {
    when: String,
    party: String,
    who: String,
    seq: String,
    note: String,
}

fn note_lines(lang: nhiguard_app::i18n::Lang, v: &InvestigationView, kind: &str) -> Vec<NoteLine> {
    v.notes
        .iter()
        .filter(|n| n.kind == kind)
        .map(|n| NoteLine {
            when: roc::short_datetime(n.at),
            party: Party::from_code(&n.party).map(|p| lang.t(p.zh(), p.en()).to_owned()).unwrap_or_default(),
            who: v.name(Some(n.by_account_id)),
            seq: n.seq.map(|s| s.to_string()).unwrap_or_default(),
            note: n.note.clone(),
        })
        .collect()
}

/// The three units, who sits for each, and whether they have recorded their part.
struct MemberLine {
    party: String,
    who: String,
    done: bool,
}

fn member_lines(lang: nhiguard_app::i18n::Lang, v: &InvestigationView) -> Vec<MemberLine> {
    let stepped = v.stepped();
    [
        (Party::Business, v.inv.business_account_id),
        (Party::Ethics, v.inv.ethics_account_id),
        (Party::It, v.inv.it_account_id),
    ]
    .into_iter()
    .map(|(p, a)| MemberLine {
        party: lang.t(p.zh(), p.en()).to_owned(),
        who: if a.is_some() { v.name(a) } else { lang.t("尚未指定", "not named yet").to_owned() },
        done: stepped.contains(&p),
    })
    .collect()
}

#[derive(Template)]
#[template(path = "investigation.html")]
struct DetailPage {
    b: Base,
    id: i64,
    review_id: i64,
    agency: String,
    month: String,
    state: String,
    concluded: bool,
    opened_by: String,
    opened_at: String,
    finding_note: String,
    members: Vec<MemberLine>,
    entries: Vec<Line>,
    same_subject: Vec<Line>,
    steps: Vec<NoteLine>,
    evidence: Vec<NoteLine>,
    may_name: bool,
    my_party: String,
    is_business: bool,
    conclusion: String,
    actions: String,
    disabled: String,
}

async fn detail(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.investigation_view(&u.current, id).await.page(lang)?;
    let concluded = v.state == InvestigationState::Concluded;
    Ok(render(&DetailPage {
        b: Base::new(lang, "異常調查", "Investigation", Some(&u.current), "/investigations"),
        id,
        review_id: v.inv.review_id,
        agency: v.agency_name.clone(),
        month: roc_month(v.year, v.month),
        state: lang.t(v.state.zh(), v.state.en()).to_owned(),
        concluded,
        opened_by: v.name(Some(v.inv.opened_by)),
        opened_at: roc::short_datetime(v.inv.opened_at),
        finding_note: v.finding_note.clone(),
        members: member_lines(lang, &v),
        entries: v.entries.iter().map(|q| Line::new(lang, q)).collect(),
        same_subject: v.same_subject.iter().map(|q| Line::new(lang, q)).collect(),
        steps: note_lines(lang, &v, "step"),
        evidence: note_lines(lang, &v, "evidence"),
        may_name: v.may_name,
        my_party: if concluded {
            String::new()
        } else {
            v.my_party.map(|p| lang.t(p.zh(), p.en()).to_owned()).unwrap_or_default()
        },
        is_business: !concluded && v.my_party == Some(Party::Business),
        conclusion: v.inv.conclusion.clone(),
        actions: v.inv.actions.clone(),
        disabled: v.inv.disabled_account_id.map(|a| v.name(Some(a))).unwrap_or_default(),
    }))
}

#[derive(Template)]
#[template(path = "audit_record.html")]
struct RecordPage {
    county: String,
    id: i64,
    agency: String,
    month: String,
    printed: String,
    printed_by: String,
    opened_by: String,
    opened_at: String,
    finding_note: String,
    members: Vec<MemberLine>,
    entries: Vec<Line>,
    steps: Vec<NoteLine>,
    evidence: Vec<NoteLine>,
    conclusion: String,
    actions: String,
    disabled: String,
    concluded_by: String,
    concluded_at: String,
}

/// The audit record, printable on A4 in Traditional Chinese with ROC dates (the paper copy the
/// agency keeps five years and files with the yearly report).
async fn record(State(s): State<AppState>, u: PageUser, Path(id): Path<i64>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.audit_record(&u.current, id).await.page(lang)?;
    let names = s.app.names(&u.current).await.page(lang)?;
    let tree = names.tree();
    let zh = nhiguard_app::i18n::Lang::Zh;
    Ok(render(&RecordPage {
        county: tree.root().map(|n| n.name_zh.clone()).unwrap_or_default(),
        id,
        agency: v.agency_name.clone(),
        month: roc_month(v.year, v.month),
        printed: roc::long_datetime(s.app.now()),
        printed_by: u.current.username.clone(),
        opened_by: v.name(Some(v.inv.opened_by)),
        opened_at: roc::short_datetime(v.inv.opened_at),
        finding_note: v.finding_note.clone(),
        members: member_lines(zh, &v),
        entries: v.entries.iter().map(|q| Line::new(zh, q)).collect(),
        steps: note_lines(zh, &v, "step"),
        evidence: note_lines(zh, &v, "evidence"),
        conclusion: v.inv.conclusion.clone(),
        actions: v.inv.actions.clone(),
        disabled: v.inv.disabled_account_id.map(|a| v.name(Some(a))).unwrap_or_default(),
        concluded_by: v.name(v.inv.concluded_by),
        concluded_at: v.inv.concluded_at.map(roc::short_datetime).unwrap_or_default(),
    }))
}

#[derive(Deserialize)]
struct MembersForm {
    business: String,
    ethics: String,
    it: String,
}

async fn members(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<MembersForm>,
) -> Result<Response, PageError> {
    s.app.name_members(&u.current, id, &f.business, &f.ethics, &f.it).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/investigations/{id}")))
}

/// A supervisor takes over an investigation whose opener can no longer act, then names its members.
async fn take_over(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<crate::ctx::Empty>,
) -> Result<Response, PageError> {
    s.app.take_over_investigation(&u.current, id).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/investigations/{id}")))
}

#[derive(Deserialize)]
struct NoteForm {
    note: String,
    #[serde(default)]
    seq: String,
}

async fn step(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<NoteForm>,
) -> Result<Response, PageError> {
    s.app.record_step(&u.current, id, &f.note).await.page(u.ctx.lang)?;
    Ok(see_other(&format!("/investigations/{id}")))
}

async fn evidence(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<NoteForm>,
) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let seq = match f.seq.trim() {
        "" => None,
        text => Some(text.parse::<u64>().map_err(|_| {
            PageError::new(
                nhiguard_app::AppError::invalid(
                    "seq",
                    "序號須為數字（可留空）",
                    "the entry number is a number (or empty)",
                ),
                lang,
            )
        })?),
    };
    s.app.add_evidence(&u.current, id, seq, &f.note).await.page(lang)?;
    Ok(see_other(&format!("/investigations/{id}")))
}

#[derive(Deserialize)]
struct ConcludeForm {
    conclusion: String,
    #[serde(default)]
    actions: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    disable: Option<String>,
}

async fn conclude(
    State(s): State<AppState>,
    u: PageUser,
    Path(id): Path<i64>,
    CsrfForm(f): CsrfForm<ConcludeForm>,
) -> Result<Response, PageError> {
    s.app
        .conclude_investigation(&u.current, id, &f.conclusion, &f.actions, f.disable.is_some())
        .await
        .page(u.ctx.lang)?;
    Ok(see_other(&format!("/investigations/{id}")))
}
