//! Recording account and security events (R-ACC-10) as ledger entries: who, when, what, against
//! what, from where — never a password, token or NHI datum. [`App::record_in`] writes the entry in
//! the transaction of the change it records, so the two commit or fail together; [`App::record`]
//! appends a standalone entry (a refusal, a failed sign-in) and returns only once it is durable. If
//! the ledger cannot be written, the caller's request fails: nothing happens unrecorded.

use nhiguard_ledger::{Entry, EntryKind};
use nhiguard_store::Tx;

use crate::ledger::{Draft, append_in};
use crate::{App, AppError, Result};

/// Stable event codes, as recorded in each entry's `event` field.
pub mod kind {
    pub const SIGN_IN: &str = "sign_in";
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    pub const LOCKOUT: &str = "lockout";
    pub const SIGN_OUT: &str = "sign_out";
    pub const SESSION_EXPIRED: &str = "session_expired";
    pub const ACTIVATION: &str = "activation";
    pub const ACTIVATION_FAILED: &str = "activation_failed";
    pub const ACTIVATION_ISSUED: &str = "activation_issued";
    pub const FORBIDDEN: &str = "forbidden";
    pub const CSRF_REFUSED: &str = "csrf_refused";
    pub const ORG_CHANGE: &str = "org_change";
    pub const PERSON_CHANGE: &str = "person_change";
    pub const ACCOUNT_CREATE: &str = "account_create";
    pub const CATALOGUE_CHANGE: &str = "catalogue_change";
    pub const LEDGER_READ: &str = "ledger_read";
    /// What a verification of the whole log found (written after the `ledger_read` that began it).
    pub const LEDGER_VERIFIED: &str = "ledger_verified";
    pub const APPLICATION: &str = "application";
    pub const BATCH: &str = "batch";
    pub const HANDOVER: &str = "handover";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const ACCOUNT_REVIEW: &str = "account_review";
    pub const DISABLE_PROPOSED: &str = "disable_proposed";
    pub const CONCURRENT_SESSION: &str = "concurrent_session";
    pub const TOTP: &str = "totp";
    pub const ACCOUNT_DISABLE_DATE: &str = "account_disable_date";
    pub const PASSWORD_CHANGE: &str = "password_change";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const PASSWORD_CHANGE_FAILED: &str = "password_change_failed";
}

/// The ledger kind each event is filed under.
fn entry_kind(event: &str) -> EntryKind {
    match event {
        kind::SIGN_IN | kind::SIGN_IN_FAILED | kind::LOCKOUT | kind::SIGN_OUT | kind::SESSION_EXPIRED => {
            EntryKind::SignIn
        }
        kind::ORG_CHANGE => EntryKind::OrgChange,
        kind::CATALOGUE_CHANGE => EntryKind::CatalogueChange,
        kind::LEDGER_READ | kind::LEDGER_VERIFIED => EntryKind::LedgerRead,
        _ => EntryKind::AccountAction,
    }
}

/// The actor of an event: an account, or nobody (before sign-in).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub account_id: Option<i64>,
    pub username: &'a str,
    pub client_addr: &'a str,
}

/// An event as read back from the ledger.
#[derive(Debug, Clone)]
pub struct EventView {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub event: String,
    pub username: String,
    pub target: String,
    pub detail: String,
    pub client_addr: String,
}

impl App {
    fn draft(&self, event: &str, actor: Actor<'_>, target: &str, detail: &str) -> Draft {
        let mut fields = vec![
            ("event".to_owned(), event.to_owned()),
            ("target".to_owned(), target.to_owned()),
            ("detail".to_owned(), detail.to_owned()),
            ("client_addr".to_owned(), actor.client_addr.to_owned()),
        ];
        if let Some(id) = actor.account_id {
            fields.push(("account_id".to_owned(), id.to_string()));
        }
        let username = if actor.username.is_empty() { "-" } else { actor.username };
        Draft { kind: entry_kind(event), actor: username.to_owned(), at_micros: self.now().timestamp_micros(), fields }
    }

    /// Records a standalone event; returns once it is durable.
    pub async fn record(&self, event: &str, actor: Actor<'_>, target: &str, detail: &str) -> Result<()> {
        tracing::info!(event, username = actor.username, target, detail, addr = actor.client_addr, "recorded");
        self.append(self.draft(event, actor, target, detail)).await.map(|_| ())
    }

    /// Records an event inside the transaction of the change it records; gives its sequence number.
    pub async fn record_in(
        &self,
        tx: &mut Tx,
        event: &str,
        actor: Actor<'_>,
        target: &str,
        detail: &str,
    ) -> Result<u64> {
        tracing::info!(event, username = actor.username, target, detail, addr = actor.client_addr, "recorded");
        let seqs = append_in(tx, &[self.draft(event, actor, target, detail)]).await?;
        seqs.first().copied().ok_or_else(|| AppError::Internal("no sequence number".into()))
    }

    /// The newest account and security events, newest first (for admins and tests).
    pub async fn recent_events(&self, limit: u64) -> Result<Vec<EventView>> {
        let kinds = ["sign_in", "account_action", "org_change", "catalogue_change", "ledger_read"];
        let rows = self.db().ledger_recent(&kinds, limit).await?;
        rows.into_iter()
            .map(|r| {
                let e =
                    Entry::decode(&r.body).map_err(|e| AppError::Internal(format!("ledger entry {}: {e}", r.seq)))?;
                let f = |k: &str| e.field(k).unwrap_or_default().to_owned();
                Ok(EventView {
                    seq: e.seq(),
                    at: nhiguard_store::from_micros(e.at_micros()),
                    event: f("event"),
                    username: e.actor().to_owned(),
                    target: f("target"),
                    detail: f("detail"),
                    client_addr: f("client_addr"),
                })
            })
            .collect()
    }
}
