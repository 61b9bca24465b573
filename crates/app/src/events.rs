//! Recording security and account events (R-ACC-10): who, when, what, against what, from where.
//! Never a password, token or NHI datum. A failure to record is logged loudly; the ledger issue
//! will make these entries tamper-evident behind this same function.

use nhiguard_store::NewEvent;

use crate::App;

/// Stable event kinds, as stored.
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
}

/// The actor of an event: an account, or nobody (before sign-in).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub account_id: Option<i64>,
    pub username: &'a str,
    pub client_addr: &'a str,
}

impl App {
    pub async fn record(&self, kind: &str, actor: Actor<'_>, target: &str, detail: &str) {
        let e = NewEvent {
            at: self.now(),
            kind,
            actor_account_id: actor.account_id,
            username: actor.username,
            target,
            detail,
            client_addr: actor.client_addr,
        };
        tracing::info!(
            event = kind,
            username = actor.username,
            target,
            detail,
            addr = actor.client_addr,
            "security event"
        );
        if let Err(e) = self.db().insert_event(&e).await {
            tracing::error!(event = kind, error = %e, "could not record a security event");
        }
    }
}
