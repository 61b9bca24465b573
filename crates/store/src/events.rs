//! Security events (R-ACC-10): sign-ins, refusals, account and catalogue actions. Written through
//! one function so that the ledger can take them over without touching the callers.

use sqlx::Row;

use crate::{Db, Result, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub at: Time,
    pub kind: &'a str,
    pub actor_account_id: Option<i64>,
    pub username: &'a str,
    pub target: &'a str,
    pub detail: &'a str,
    pub client_addr: &'a str,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub at: Time,
    pub kind: String,
    pub actor_account_id: Option<i64>,
    pub username: String,
    pub target: String,
    pub detail: String,
    pub client_addr: String,
}

impl Db {
    pub async fn insert_event(&self, e: &NewEvent<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO security_events (at, kind, actor_account_id, username, target, detail, client_addr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(micros(e.at))
        .bind(e.kind)
        .bind(e.actor_account_id)
        .bind(e.username)
        .bind(e.target)
        .bind(e.detail)
        .bind(e.client_addr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest events first.
    pub async fn recent_events(&self, limit: i64) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT at, kind, actor_account_id, username, target, detail, client_addr FROM security_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    at: from_micros(r.try_get("at")?),
                    kind: r.try_get("kind")?,
                    actor_account_id: r.try_get("actor_account_id")?,
                    username: r.try_get("username")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    client_addr: r.try_get("client_addr")?,
                })
            })
            .collect()
    }
}
