//! The use cases of nhiguard, one module per area. Each takes what it needs from `store`, enforces
//! the rules of `domain`, records what the rules ask to be recorded, and returns typed errors. This
//! crate knows nothing of HTTP; it must never return or log a password, token or NHI datum.

pub mod account_review;
pub mod auth;
pub mod batch;
pub mod calendar;
pub mod catalogue;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod form;
pub mod gateway;
pub mod governance;
pub mod i18n;
pub mod investigation;
pub mod ledger;
pub mod mail;
pub mod org;
pub mod querylog;
mod reference;
pub mod reminders;
pub mod review;
pub mod seed;
pub mod settings;
pub mod vault;

use std::sync::Arc;

use nhiguard_domain::clock::Clock;
use nhiguard_store::Db;

pub use auth::{Barred, Current, SessionKind, SignedIn};
pub use error::{AppError, Result};
pub use nhiguard_store::{StoredCheckpoint, StoredVerification, from_micros};
pub use reference::Names;
pub use settings::Settings;

/// Everything a use case needs, passed explicitly; cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

type StaffNames = tokio::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, Arc<std::collections::HashSet<String>>)>>;

#[derive(Debug)]
struct Inner {
    db: Db,
    settings: Settings,
    clock: Arc<dyn Clock>,
    ledger: Arc<ledger::LedgerKeys>,
    writer: Option<ledger::GroupWriter>,
    results_key: vault::ResultsKey,
    nhi: gateway::Nhi,
    batches: batch::Running,
    mailer: Option<mail::Mailer>,
    /// The staff roll's names and when they were read (issue 6's employee flag).
    staff_names: StaffNames,
    /// The reference data while it is unchanged (see `reference`).
    reference: reference::Cached,
    /// The signed checkpoints' sizes as far as read (see `ledger`).
    checkpoint_sizes: ledger::CheckpointSizes,
}

/// The keys kept outside the database: the ledger's signing key and the results key.
#[derive(Debug)]
pub struct Keys {
    pub ledger: ledger::LedgerKeys,
    pub results: vault::ResultsKey,
}

impl App {
    /// Wires the parts. Inside a tokio runtime this also starts the ledger's group-commit writer.
    pub fn new(db: Db, settings: Settings, clock: Arc<dyn Clock>, keys: Keys, nhi: gateway::Nhi) -> Self {
        let writer = ledger::GroupWriter::spawn(db.clone());
        let ledger = Arc::new(keys.ledger);
        // The settings checked both values when they were read; a failure here is reported and
        // activation links fall back to being shown to the admin.
        let mailer = mail::Mailer::from_settings(&settings.smtp_url, &settings.smtp_from).unwrap_or_else(|e| {
            tracing::error!(error = %e, "mail is off");
            None
        });
        Self {
            inner: Arc::new(Inner {
                db,
                settings,
                clock,
                ledger,
                writer,
                results_key: keys.results,
                nhi,
                batches: Default::default(),
                mailer,
                staff_names: Default::default(),
                reference: Default::default(),
                checkpoint_sizes: Default::default(),
            }),
        }
    }

    /// The same app seeing another clock: for filling the demo's past months, whose entries must
    /// carry past times. Shares the database, keys, ledger writer and connector.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                db: i.db.clone(),
                settings: i.settings.clone(),
                clock,
                ledger: i.ledger.clone(),
                writer: i.writer.clone(),
                results_key: i.results_key.clone(),
                nhi: i.nhi.clone(),
                batches: Default::default(),
                mailer: i.mailer.clone(),
                staff_names: Default::default(),
                reference: Default::default(),
                checkpoint_sizes: Default::default(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// `/healthz`: the database answers.
    pub async fn health(&self) -> Result<()> {
        self.db().ping().await.map_err(|e| AppError::Unavailable(e.to_string()))
    }
}
