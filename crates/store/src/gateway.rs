//! Grants and retained query results. Results are stored only as ciphertext (encrypted by `app`
//! with a key outside the database); destroying one clears the ciphertext and keeps the record of
//! the destruction.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

/// One grant: an account may query `operation_id` under `purpose_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub account_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
}

#[derive(Debug, Clone)]
pub struct NewResult {
    pub account_id: i64,
    pub query_seq: u64,
    pub operation_code: String,
    pub case_number: String,
    pub subject_masked: String,
    pub created_at: Time,
    pub purge_after: Time,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A retained result; `ciphertext` is `None` once destroyed.
#[derive(Clone)]
pub struct ResultRow {
    pub id: i64,
    pub account_id: i64,
    pub query_seq: u64,
    pub operation_code: String,
    pub case_number: String,
    pub subject_masked: String,
    pub created_at: Time,
    pub purge_after: Time,
    pub nonce: Option<Vec<u8>>,
    pub ciphertext: Option<Vec<u8>>,
    pub attached: bool,
    pub destroyed_at: Option<Time>,
    pub destroyed_by: Option<String>,
}

impl std::fmt::Debug for ResultRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultRow").field("id", &self.id).field("query_seq", &self.query_seq).finish_non_exhaustive()
    }
}

fn result(r: &AnyRow) -> Result<ResultRow> {
    Ok(ResultRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        query_seq: u64::try_from(r.try_get::<i64, _>("query_seq")?).map_err(|_| StoreError::Corrupt("seq".into()))?,
        operation_code: r.try_get("operation_code")?,
        case_number: r.try_get("case_number")?,
        subject_masked: r.try_get("subject_masked")?,
        created_at: from_micros(r.try_get("created_at")?),
        purge_after: from_micros(r.try_get("purge_after")?),
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        attached: r.try_get::<i64, _>("attached")? != 0,
        destroyed_at: r.try_get::<Option<i64>, _>("destroyed_at")?.map(from_micros),
        destroyed_by: r.try_get("destroyed_by")?,
    })
}

const RESULT_COLUMNS: &str = "id, account_id, query_seq, operation_code, case_number, subject_masked, created_at, \
     purge_after, nonce, ciphertext, attached, destroyed_at, destroyed_by";

impl Db {
    /// The accounts a result is shared with.
    pub async fn result_shares(&self, id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT account_id FROM result_shares WHERE result_id = $1 ORDER BY granted_at")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
    }

    /// The results others shared with this account that still hold data, newest first.
    pub async fn results_shared_with(&self, account_id: i64) -> Result<Vec<ResultRow>> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM query_results WHERE ciphertext IS NOT NULL AND id IN \
             (SELECT result_id FROM result_shares WHERE account_id = $1) ORDER BY id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(self.pool()).await?;
        rows.iter().map(result).collect()
    }

    /// The grants of an account.
    pub async fn grants_of(&self, account_id: i64) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT account_id, purpose_id, operation_id FROM grants WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    account_id: r.try_get("account_id")?,
                    purpose_id: r.try_get("purpose_id")?,
                    operation_id: r.try_get("operation_id")?,
                })
            })
            .collect()
    }

    pub async fn result(&self, id: i64) -> Result<ResultRow> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RESULT_COLUMNS} FROM query_results WHERE id = $1")))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        result(&r)
    }

    /// An account's results, newest first.
    pub async fn results_of(&self, account_id: i64, limit: i64) -> Result<Vec<ResultRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESULT_COLUMNS} FROM query_results WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
        )))
        .bind(account_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(result).collect()
    }

    /// Results past their purge date that still hold data and are not attached to a case.
    pub async fn results_due(&self, now: Time, limit: i64) -> Result<Vec<ResultRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESULT_COLUMNS} FROM query_results WHERE purge_after <= $1 AND ciphertext IS NOT NULL \
             AND attached = 0 ORDER BY id LIMIT $2"
        )))
        .bind(micros(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(result).collect()
    }
}

impl Tx {
    pub async fn insert_grant(&mut self, g: Grant, by: Option<i64>, at: Time) -> Result<()> {
        sqlx::query(
            "INSERT INTO grants (account_id, purpose_id, operation_id, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, purpose_id, operation_id) DO NOTHING",
        )
        .bind(g.account_id)
        .bind(g.purpose_id)
        .bind(g.operation_id)
        .bind(by)
        .bind(micros(at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_result(&mut self, r: &NewResult) -> Result<i64> {
        let id: i64 = sqlx::query(crate::append::RESULT_INSERT)
            .bind(r.account_id)
            .bind(i64::try_from(r.query_seq).map_err(|_| StoreError::Corrupt("seq".into()))?)
            .bind(&r.operation_code)
            .bind(&r.case_number)
            .bind(&r.subject_masked)
            .bind(micros(r.created_at))
            .bind(micros(r.purge_after))
            .bind(r.nonce.clone())
            .bind(r.ciphertext.clone())
            .fetch_one(self.conn())
            .await?
            .try_get("id")?;
        Ok(id)
    }

    /// Clears a result's data, keeping the record of when and by whom (R-DAT-1). False if it was
    /// already gone or — when `scheduled`, the purge — is kept with its case or not yet due: the
    /// purge lists what is due first, and an attach that came in just after must win.
    pub async fn destroy_result(&mut self, id: i64, by: &str, at: Time, scheduled: bool) -> Result<bool> {
        let sql = if scheduled {
            "UPDATE query_results SET nonce = NULL, ciphertext = NULL, destroyed_at = $1, destroyed_by = $2 \
             WHERE id = $3 AND ciphertext IS NOT NULL AND attached = 0 AND purge_after <= $1"
        } else {
            "UPDATE query_results SET nonce = NULL, ciphertext = NULL, destroyed_at = $1, destroyed_by = $2 \
             WHERE id = $3 AND ciphertext IS NOT NULL"
        };
        let done = sqlx::query(sql).bind(micros(at)).bind(by).bind(id).execute(self.conn()).await?;
        if done.rows_affected() == 0 {
            // Not destroyed now: whoever may open it still may.
            return Ok(false);
        }
        self.clear_result_shares(id).await?;
        Ok(true)
    }

    /// Attaches a result to its case (kept past the purge date) or detaches it; detaching ends
    /// every share of it. False, and nothing changed, if its data is already destroyed (a purge or
    /// deletion that came in first).
    pub async fn set_result_attached(&mut self, id: i64, attached: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE query_results SET attached = $1 WHERE id = $2 AND ciphertext IS NOT NULL")
            .bind(i64::from(attached))
            .bind(id)
            .execute(self.conn())
            .await?;
        if !attached {
            self.clear_result_shares(id).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Lets `account_id` open the result too (nothing if it already may) — only while the result
    /// is kept with its case and still holds data, checked in the same statement; false otherwise.
    pub async fn share_result(&mut self, id: i64, account_id: i64, by: i64, at: Time) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO result_shares (result_id, account_id, granted_by, granted_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS \
             (SELECT 1 FROM query_results WHERE id = $1 AND attached = 1 AND ciphertext IS NOT NULL) \
             ON CONFLICT (result_id, account_id) DO NOTHING",
        )
        .bind(id)
        .bind(account_id)
        .bind(by)
        .bind(micros(at))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1
            || sqlx::query("SELECT 1 AS x FROM result_shares WHERE result_id = $1 AND account_id = $2")
                .bind(id)
                .bind(account_id)
                .fetch_optional(self.conn())
                .await?
                .is_some())
    }

    /// Ends one share; false if there was none.
    pub async fn unshare_result(&mut self, id: i64, account_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM result_shares WHERE result_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn clear_result_shares(&mut self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM result_shares WHERE result_id = $1").bind(id).execute(self.conn()).await?;
        Ok(())
    }
}
