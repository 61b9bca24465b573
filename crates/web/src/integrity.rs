//! The integrity page (R-LOG-2): the public key and the latest signed checkpoint to hand out, a
//! verification of the whole log, and the inclusion proof of one entry. For auditors, ethics
//! officers and the planning department; every reading of the log is itself recorded by `app`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use nhiguard_app::AppError;
use nhiguard_app::StoredVerification;
use nhiguard_domain::roc;
use serde::Deserialize;

use crate::AppState;
use crate::ctx::{CsrfForm, Empty, PageUser};
use crate::error::PageError;
use crate::pages::{OrPage, render, see_other};
use crate::view::Base;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrity", get(page))
        .route("/integrity/verify", post(verify))
        .route("/integrity/checkpoint", post(checkpoint))
        .route("/integrity/proof", get(proof))
        .route("/integrity/public-key.txt", get(public_key))
        .route("/integrity/checkpoint.txt", get(latest_checkpoint))
}

/// A recorded verification, as the page shows it.
pub struct VerifyView {
    pub when: String,
    pub by: String,
    pub ok: bool,
    pub entries: u64,
    pub checkpoints: u64,
    pub code: String,
    pub message: String,
    /// The ledger entry that records it.
    pub entry_seq: u64,
}

impl From<&StoredVerification> for VerifyView {
    fn from(v: &StoredVerification) -> Self {
        let (code, message) = v.failure.clone().unwrap_or_default();
        VerifyView {
            when: roc::short_datetime(nhiguard_app::from_micros(v.at)),
            by: v.username.clone(),
            ok: v.failure.is_none(),
            entries: v.entries,
            checkpoints: v.checkpoints,
            code,
            message,
            entry_seq: v.entry_seq,
        }
    }
}

#[derive(Template)]
#[template(path = "integrity.html")]
struct IntegrityPage {
    b: Base,
    deployment_id: String,
    ledger_size: u64,
    checkpoints: usize,
    latest_when: String,
    latest_text: String,
    public_key: String,
    /// The latest verification, then the ones before it.
    verification: Option<VerifyView>,
    earlier: Vec<VerifyView>,
}

async fn page(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.integrity(&u.current).await.page(lang)?;
    let mut verifications = v.verifications.iter().map(VerifyView::from);
    Ok(render(&IntegrityPage {
        b: Base::new(lang, "查詢日誌完整性", "Query log integrity", Some(&u.current), "/integrity"),
        deployment_id: v.deployment_id,
        ledger_size: v.ledger_size,
        checkpoints: v.checkpoints,
        latest_when: v
            .latest
            .as_ref()
            .map(|c| format!("{} · {}", roc::short_datetime(nhiguard_app::from_micros(c.at)), c.size))
            .unwrap_or_else(|| "—".into()),
        latest_text: v.latest.map(|c| c.text).unwrap_or_default(),
        public_key: v.public_key,
        verification: verifications.next(),
        earlier: verifications.collect(),
    }))
}

/// Runs a verification; what it found is recorded and shown on the page it redirects to, so that a
/// reload shows the result again instead of running it again.
async fn verify(State(s): State<AppState>, u: PageUser, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, PageError> {
    s.app.verify_for(&u.current).await.page(u.ctx.lang)?;
    Ok(see_other("/integrity#verify-result"))
}

async fn checkpoint(
    State(s): State<AppState>,
    u: PageUser,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    s.app.checkpoint_for(&u.current).await.page(u.ctx.lang)?;
    Ok(see_other("/integrity"))
}

#[derive(Deserialize)]
struct ProofQuery {
    seq: String,
}

#[derive(Template)]
#[template(path = "proof.html")]
struct ProofPage {
    b: Base,
    seq: u64,
    when: String,
    kind: String,
    actor: String,
    fields: Vec<(String, String)>,
    withheld: bool,
    leaf: String,
    tree_size: u64,
    proof: Vec<String>,
    checkpoint: String,
}

async fn proof(State(s): State<AppState>, u: PageUser, Query(q): Query<ProofQuery>) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let seq: u64 = q
        .seq
        .trim()
        .parse()
        .map_err(|_| {
            AppError::invalid("seq", "紀錄序號須為 0 以上的整數", "the entry number is a whole number, 0 or more")
        })
        .page(lang)?;
    let inc = s.app.inclusion_for(&u.current, seq).await.page(lang)?;
    Ok(render(&ProofPage {
        b: Base::new(lang, "包含證明", "Inclusion proof", Some(&u.current), "/integrity"),
        seq,
        when: roc::long_datetime(nhiguard_app::from_micros(inc.entry.at_micros())),
        kind: inc.entry.kind().code().to_owned(),
        actor: inc.entry.actor().to_owned(),
        fields: inc.entry.fields().to_vec(),
        withheld: inc.withheld,
        leaf: inc.leaf.to_hex(),
        tree_size: inc.tree_size,
        proof: inc.proof.iter().map(|h| h.to_hex()).collect(),
        checkpoint: inc.checkpoint,
    }))
}

fn text_file(name: &str, body: String) -> Response {
    crate::view::attachment(name, "text/plain; charset=utf-8", body)
}

async fn public_key(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let v = s.app.integrity(&u.current).await.page(u.ctx.lang)?;
    Ok(text_file(&format!("nhiguard-{}-public-key.txt", v.deployment_id), format!("{}\n", v.public_key)))
}

async fn latest_checkpoint(State(s): State<AppState>, u: PageUser) -> Result<Response, PageError> {
    let lang = u.ctx.lang;
    let v = s.app.integrity(&u.current).await.page(lang)?;
    let c = v.latest.ok_or_else(|| AppError::not_found("尚無檢查點", "there is no checkpoint yet")).page(lang)?;
    Ok(text_file(&format!("nhiguard-{}-checkpoint-{}.txt", v.deployment_id, c.size), c.text))
}
