//! Account reviews (R-ACC-9) and their items. Lists of codes (concerns, roles, grants as
//! `purpose_id:operation_id`) are stored comma-separated: they are read and written whole.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct AccountReviewRow {
    pub id: i64,
    pub org_node_id: i64,
    pub started_by: i64,
    pub started_at: Time,
    pub state: String,
    pub applied_by: Option<i64>,
    pub applied_at: Option<Time>,
}

/// One account as the review found it, and the decision on it (empty until made).
#[derive(Debug, Clone)]
pub struct AccountReviewItem {
    pub account_id: i64,
    pub concerns: Vec<String>,
    pub roles: Vec<String>,
    pub grants: Vec<String>,
    pub decision: String,
    pub kept_grants: Vec<String>,
    pub note: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<Time>,
}

/// An account as a new review lists it.
#[derive(Debug, Clone)]
pub struct NewReviewItem {
    pub account_id: i64,
    pub concerns: Vec<String>,
    pub roles: Vec<String>,
    pub grants: Vec<String>,
}

/// A decision on one item, as recorded.
#[derive(Debug, Clone)]
pub struct ItemDecision<'a> {
    pub decision: &'a str,
    pub kept_grants: &'a [String],
    pub note: &'a str,
    pub by: i64,
    pub at: Time,
}

fn list(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn review(r: &AnyRow) -> Result<AccountReviewRow> {
    Ok(AccountReviewRow {
        id: r.try_get("id")?,
        org_node_id: r.try_get("org_node_id")?,
        started_by: r.try_get("started_by")?,
        started_at: from_micros(r.try_get("started_at")?),
        state: r.try_get("state")?,
        applied_by: r.try_get("applied_by")?,
        applied_at: r.try_get::<Option<i64>, _>("applied_at")?.map(from_micros),
    })
}

impl Db {
    pub async fn account_review(&self, id: i64) -> Result<AccountReviewRow> {
        review(&sqlx::query("SELECT * FROM account_reviews WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    /// The reviews of these org nodes, newest first.
    pub async fn account_reviews_of(&self, node: i64) -> Result<Vec<AccountReviewRow>> {
        let rows =
            sqlx::query("SELECT * FROM account_reviews WHERE org_node_id = $1 ORDER BY started_at DESC, id DESC")
                .bind(node)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(review).collect()
    }

    pub async fn account_review_items(&self, id: i64) -> Result<Vec<AccountReviewItem>> {
        let rows = sqlx::query("SELECT * FROM account_review_items WHERE review_id = $1 ORDER BY account_id")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountReviewItem {
                    account_id: r.try_get("account_id")?,
                    concerns: list(&r.try_get::<String, _>("concerns")?),
                    roles: list(&r.try_get::<String, _>("roles")?),
                    grants: list(&r.try_get::<String, _>("grants")?),
                    decision: r.try_get("decision")?,
                    kept_grants: list(&r.try_get::<String, _>("kept_grants")?),
                    note: r.try_get("note")?,
                    decided_by: r.try_get("decided_by")?,
                    decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(from_micros),
                })
            })
            .collect()
    }
}

impl Tx {
    pub async fn insert_account_review(
        &mut self,
        node: i64,
        by: i64,
        at: Time,
        items: &[NewReviewItem],
    ) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO account_reviews (org_node_id, started_by, started_at, state) VALUES ($1, $2, $3, 'open') RETURNING id",
        )
        .bind(node)
        .bind(by)
        .bind(micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(crate::StoreError::conflict_on("open account review"))?
        .try_get("id")?;
        for i in items {
            sqlx::query(
                "INSERT INTO account_review_items (review_id, account_id, concerns, roles, grants) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(i.account_id)
            .bind(i.concerns.join(","))
            .bind(i.roles.join(","))
            .bind(i.grants.join(","))
            .execute(self.conn())
            .await?;
        }
        Ok(id)
    }

    /// Records a decision while the review is open; false otherwise.
    pub async fn decide_account_review_item(&mut self, id: i64, account_id: i64, d: &ItemDecision<'_>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE account_review_items SET decision = $1, kept_grants = $2, note = $3, decided_by = $4, decided_at = $5 \
             WHERE review_id = $6 AND account_id = $7 AND review_id IN (SELECT id FROM account_reviews WHERE state = 'open')",
        )
        .bind(d.decision)
        .bind(d.kept_grants.join(","))
        .bind(d.note)
        .bind(d.by)
        .bind(micros(d.at))
        .bind(id)
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the review applied; false if it was not open.
    pub async fn apply_account_review(&mut self, id: i64, by: i64, at: Time) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE account_reviews SET state = 'applied', applied_by = $1, applied_at = $2 WHERE id = $3 AND state = 'open'",
        )
        .bind(by)
        .bind(micros(at))
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
