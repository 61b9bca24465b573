//! Batches of queries and their rows. Subjects and answers arrive here already sealed by `app`.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::ledger::to_u64;
use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct NewBatch {
    pub account_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
    pub case_number: String,
    pub reason: String,
    pub file_name: String,
    pub total: u64,
    pub created_at: Time,
    pub purge_after: Time,
}

#[derive(Clone)]
pub struct BatchRow {
    pub id: i64,
    pub account_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
    pub case_number: String,
    pub reason: String,
    pub file_name: String,
    pub state: String,
    pub total: u64,
    pub done: u64,
    pub answered: u64,
    pub not_found: u64,
    pub failed: u64,
    pub created_at: Time,
    pub finished_at: Option<Time>,
    pub purge_after: Time,
    pub result_nonce: Option<Vec<u8>>,
    pub result_ciphertext: Option<Vec<u8>>,
    pub destroyed_at: Option<Time>,
    /// Kept with its case: the scheduled purge leaves the result file (R-QRY-6).
    pub attached: bool,
}

impl std::fmt::Debug for BatchRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRow").field("id", &self.id).field("state", &self.state).finish_non_exhaustive()
    }
}

/// A sealed value: (nonce, ciphertext).
pub type Sealed = (Vec<u8>, Vec<u8>);

/// A row's outcome as recorded: (row number, outcome code, the sealed answer if any).
pub type RowOutcome = (u64, String, Option<Sealed>);

/// One row of a batch; sealed values stay sealed here.
#[derive(Clone)]
pub struct BatchItem {
    pub row_no: u64,
    pub subject_nonce: Option<Vec<u8>>,
    pub subject_ciphertext: Option<Vec<u8>>,
    pub subject_masked: String,
    pub query_seq: Option<u64>,
    pub outcome: Option<String>,
    pub answer_nonce: Option<Vec<u8>>,
    pub answer_ciphertext: Option<Vec<u8>>,
}

impl std::fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchItem").field("row_no", &self.row_no).finish_non_exhaustive()
    }
}

fn u(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative count".into()))
}

fn i(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("count out of range".into()))
}

fn batch(r: &AnyRow) -> Result<BatchRow> {
    Ok(BatchRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        purpose_id: r.try_get("purpose_id")?,
        operation_id: r.try_get("operation_id")?,
        case_number: r.try_get("case_number")?,
        reason: r.try_get("reason")?,
        file_name: r.try_get("file_name")?,
        state: r.try_get("state")?,
        total: u(r.try_get("total")?)?,
        done: u(r.try_get("done")?)?,
        answered: u(r.try_get("answered")?)?,
        not_found: u(r.try_get("not_found")?)?,
        failed: u(r.try_get("failed")?)?,
        created_at: from_micros(r.try_get("created_at")?),
        finished_at: r.try_get::<Option<i64>, _>("finished_at")?.map(from_micros),
        purge_after: from_micros(r.try_get("purge_after")?),
        result_nonce: r.try_get("result_nonce")?,
        result_ciphertext: r.try_get("result_ciphertext")?,
        destroyed_at: r.try_get::<Option<i64>, _>("destroyed_at")?.map(from_micros),
        attached: r.try_get::<i64, _>("attached")? != 0,
    })
}

fn item(r: &AnyRow) -> Result<BatchItem> {
    Ok(BatchItem {
        row_no: u(r.try_get("row_no")?)?,
        subject_nonce: r.try_get("subject_nonce")?,
        subject_ciphertext: r.try_get("subject_ciphertext")?,
        subject_masked: r.try_get("subject_masked")?,
        // -1 marks a row claimed by a transaction that did not commit; it reads as never sent.
        query_seq: r.try_get::<Option<i64>, _>("query_seq")?.filter(|s| *s >= 0).map(u).transpose()?,
        outcome: r.try_get("outcome")?,
        answer_nonce: r.try_get("answer_nonce")?,
        answer_ciphertext: r.try_get("answer_ciphertext")?,
    })
}

impl Db {
    pub async fn batch(&self, id: i64) -> Result<BatchRow> {
        batch(&sqlx::query("SELECT * FROM batches WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    pub async fn batches_of(&self, account_id: i64) -> Result<Vec<BatchRow>> {
        let rows = sqlx::query("SELECT * FROM batches WHERE account_id = $1 ORDER BY id DESC LIMIT 100")
            .bind(account_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(batch).collect()
    }

    /// Batches a restart must pick up again.
    pub async fn unfinished_batches(&self) -> Result<Vec<BatchRow>> {
        let rows = sqlx::query("SELECT * FROM batches WHERE state IN ('queued', 'running') ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(batch).collect()
    }

    /// Takes or renews the lease on an unfinished batch for `worker` until `until` (migration 0023):
    /// false while another worker's lease has not run out at `now`, or once the batch is done.
    pub async fn batch_lease(&self, batch_id: i64, worker: &str, now: Time, until: Time) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE batches SET worker = $1, lease_until = $2 WHERE id = $3 AND state IN ('queued', 'running') \
             AND (worker IS NULL OR worker = $1 OR lease_until < $4)",
        )
        .bind(worker)
        .bind(micros(until))
        .bind(batch_id)
        .bind(micros(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up every lease `worker` holds (a clean shutdown): the batches are free at once.
    pub async fn batch_release_leases(&self, worker: &str) -> Result<()> {
        sqlx::query("UPDATE batches SET worker = NULL, lease_until = NULL WHERE worker = $1")
            .bind(worker)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Rows without an outcome from row `from` on, in order, at most `limit`. The caller passes
    /// the first row it has not seen done, so that each chunk does not read past all the rows
    /// done before it.
    pub async fn batch_pending(&self, batch_id: i64, from: u64, limit: i64) -> Result<Vec<BatchItem>> {
        let rows = sqlx::query(
            "SELECT * FROM batch_items WHERE batch_id = $1 AND row_no >= $2 AND outcome IS NULL ORDER BY row_no LIMIT $3",
        )
        .bind(batch_id)
        .bind(i(from)?)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item).collect()
    }

    /// Every row, in order, from `from` on (for building the result file in pieces).
    pub async fn batch_items(&self, batch_id: i64, from: u64, limit: i64) -> Result<Vec<BatchItem>> {
        let rows =
            sqlx::query("SELECT * FROM batch_items WHERE batch_id = $1 AND row_no >= $2 ORDER BY row_no LIMIT $3")
                .bind(batch_id)
                .bind(i(from)?)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(item).collect()
    }

    /// Batches whose result file is past its purge date.
    pub async fn batches_due(&self, now: Time) -> Result<Vec<BatchRow>> {
        let rows =
            sqlx::query(
                "SELECT * FROM batches WHERE purge_after <= $1 AND destroyed_at IS NULL AND state = 'done' AND attached = 0",
            )
                .bind(micros(now))
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(batch).collect()
    }
}

/// Rows written by one statement: a chunk of a batch (200) fits in one.
const ROWS_PER_STATEMENT: usize = 400;

/// `count` rows of `width` placeholders numbered from `$first`, for a `VALUES` list: `($2, $3),
/// ($4, $5)` for width 2. Its columns are `column1`, `column2` … on both databases.
fn placeholders(first: usize, count: usize, width: usize) -> String {
    let group = |k: usize| {
        let cells: Vec<String> = (0..width).map(|c| format!("${}", first + k * width + c)).collect();
        format!("({})", cells.join(", "))
    };
    (0..count).map(group).collect::<Vec<_>>().join(", ")
}

impl Tx {
    pub async fn insert_batch(&mut self, b: &NewBatch) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO batches (account_id, purpose_id, operation_id, case_number, reason, file_name, state, total, done, \
             answered, not_found, failed, created_at, purge_after) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, 0, 0, 0, $8, $9) \
             RETURNING id",
        )
        .bind(b.account_id)
        .bind(b.purpose_id)
        .bind(b.operation_id)
        .bind(&b.case_number)
        .bind(&b.reason)
        .bind(&b.file_name)
        .bind(i(b.total)?)
        .bind(micros(b.created_at))
        .bind(micros(b.purge_after))
        .fetch_one(self.conn())
        .await?
        .try_get("id")?;
        Ok(id)
    }

    /// Adds rows (row number, sealed subject nonce and ciphertext, masked subject).
    pub async fn insert_batch_items(&mut self, batch_id: i64, items: &[(u64, Vec<u8>, Vec<u8>, String)]) -> Result<()> {
        for chunk in items.chunks(400) {
            let mut sql = String::from(
                "INSERT INTO batch_items (batch_id, row_no, subject_nonce, subject_ciphertext, subject_masked) VALUES ",
            );
            for k in 0..chunk.len() {
                let b = k * 5;
                if k > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (row, nonce, ct, masked) in chunk {
                q = q.bind(batch_id).bind(i(*row)?).bind(nonce.clone()).bind(ct.clone()).bind(masked.clone());
            }
            q.execute(self.conn()).await?;
        }
        Ok(())
    }

    /// Claims rows nobody has sent yet; returns those this transaction got. Another process working
    /// on the same batch waits on the rows' locks and then finds them taken.
    pub async fn batch_claim(&mut self, batch_id: i64, rows: &[u64]) -> Result<Vec<u64>> {
        let mut got = Vec::new();
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            // Every listed row is updated, a taken one to what it had: a condition on query_seq
            // would have PostgreSQL's generic plan read the whole batch for each chunk (its
            // estimate of the matching rows goes stale as the batch runs). A row this transaction
            // got reads -1; one taken before reads its query's number (claim and number commit
            // together).
            let sql = format!(
                "UPDATE batch_items SET query_seq = COALESCE(batch_items.query_seq, -1) FROM (VALUES {}) AS v \
                 WHERE batch_items.batch_id = $1 AND batch_items.row_no = v.column1 \
                 RETURNING batch_items.row_no, batch_items.query_seq",
                placeholders(2, part.len(), 1)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(batch_id);
            for row in part {
                q = q.bind(i(*row)?);
            }
            for r in q.fetch_all(self.conn()).await? {
                if r.try_get::<i64, _>("query_seq")? == -1 {
                    got.push(to_u64(r.try_get::<i64, _>("row_no")?)?);
                }
            }
        }
        got.sort_unstable();
        Ok(got)
    }

    /// Marks claimed rows as sent, each with its query's ledger sequence number.
    pub async fn batch_mark_sent(&mut self, batch_id: i64, rows: &[(u64, u64)]) -> Result<()> {
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE batch_items SET query_seq = v.column2 FROM (VALUES {}) AS v \
                 WHERE batch_items.batch_id = $1 AND batch_items.row_no = v.column1",
                placeholders(2, part.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(batch_id);
            for (row, seq) in part {
                q = q.bind(i(*row)?).bind(i(*seq)?);
            }
            q.execute(self.conn()).await?;
        }
        sqlx::query("UPDATE batches SET state = 'running' WHERE id = $1 AND state = 'queued'")
            .bind(batch_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Puts sent rows back among those to send: their lookups certainly did not reach NHIA.
    pub async fn batch_release(&mut self, batch_id: i64, rows: &[u64]) -> Result<()> {
        for row in rows {
            sqlx::query(
                "UPDATE batch_items SET query_seq = NULL WHERE batch_id = $1 AND row_no = $2 AND outcome IS NULL",
            )
            .bind(batch_id)
            .bind(i(*row)?)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// Keeps the lease while this transaction records what `worker` did (renewed to `until`):
    /// false if another worker has taken the batch over, whose records then stand alone. On
    /// PostgreSQL the batch's row stays locked to the end of the transaction, so a takeover waits
    /// for it and then finds the renewed lease.
    pub async fn batch_hold(&mut self, batch_id: i64, worker: &str, until: Time) -> Result<bool> {
        let done = sqlx::query("UPDATE batches SET lease_until = $1 WHERE id = $2 AND worker = $3")
            .bind(micros(until))
            .bind(batch_id)
            .bind(worker)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records rows' outcomes (with sealed answers) and moves the counters. Only the batch's lease
    /// holder records, in a transaction that holds the lease ([`Tx::batch_hold`]), so a row gets
    /// one outcome. (A condition on `outcome` here would have PostgreSQL's generic plan read the
    /// whole batch for each chunk.)
    pub async fn batch_record(&mut self, batch_id: i64, rows: &[RowOutcome]) -> Result<()> {
        let mut recorded: Vec<String> = Vec::with_capacity(rows.len());
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE batch_items SET outcome = v.column2, answer_nonce = v.column3, answer_ciphertext = v.column4 \
                 FROM (VALUES {}) AS v WHERE batch_items.batch_id = $1 AND batch_items.row_no = v.column1 \
                 RETURNING batch_items.outcome",
                placeholders(2, part.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(batch_id);
            for (row, outcome, answer) in part {
                let (nonce, ct) = answer.clone().map_or((None, None), |(n, c)| (Some(n), Some(c)));
                q = q.bind(i(*row)?).bind(outcome.clone()).bind(nonce).bind(ct);
            }
            for r in q.fetch_all(self.conn()).await? {
                recorded.push(r.try_get("outcome")?);
            }
        }
        let count = |o: &str| recorded.iter().filter(|r| r.as_str() == o).count() as i64;
        let (answered, not_found) = (count("answered"), count("not_found"));
        let done = recorded.len() as i64;
        self.batch_count(batch_id, done, answered, not_found, done - answered - not_found).await
    }

    async fn batch_count(
        &mut self,
        batch_id: i64,
        done: i64,
        answered: i64,
        not_found: i64,
        failed: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE batches SET done = done + $1, answered = answered + $2, not_found = not_found + $3, failed = failed + $4 WHERE id = $5",
        )
        .bind(done)
        .bind(answered)
        .bind(not_found)
        .bind(failed)
        .bind(batch_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Ends a batch that cannot go on: marked failed, its rows' sealed data cleared, its lease given up.
    pub async fn batch_fail(&mut self, batch_id: i64, at: Time) -> Result<()> {
        sqlx::query(
            "UPDATE batches SET state = 'failed', finished_at = $1, worker = NULL, lease_until = NULL WHERE id = $2",
        )
        .bind(micros(at))
        .bind(batch_id)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "UPDATE batch_items SET subject_nonce = NULL, subject_ciphertext = NULL, answer_nonce = NULL, answer_ciphertext = NULL \
             WHERE batch_id = $1",
        )
        .bind(batch_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Stores the sealed result file, clears the rows' sealed data, and closes the batch.
    pub async fn batch_finish(&mut self, batch_id: i64, nonce: Vec<u8>, ct: Vec<u8>, at: Time) -> Result<()> {
        sqlx::query("UPDATE batches SET state = 'done', finished_at = $1, result_nonce = $2, result_ciphertext = $3 WHERE id = $4")
            .bind(micros(at))
            .bind(nonce)
            .bind(ct)
            .bind(batch_id)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "UPDATE batch_items SET subject_nonce = NULL, subject_ciphertext = NULL, answer_nonce = NULL, answer_ciphertext = NULL \
             WHERE batch_id = $1",
        )
        .bind(batch_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Clears a batch's result file, keeping the record of when and by whom.
    /// Clears a batch's result file; `scheduled`: only if it is not kept with its case (an attach
    /// that came in just before the purge wins). False if nothing was cleared.
    pub async fn destroy_batch(&mut self, batch_id: i64, by: &str, at: Time, scheduled: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE batches SET result_nonce = NULL, result_ciphertext = NULL, destroyed_at = $1, destroyed_by = $2, \
             attached = 0 WHERE id = $3 AND destroyed_at IS NULL AND (attached = 0 OR $4 = 0)",
        )
        .bind(micros(at))
        .bind(by)
        .bind(batch_id)
        .bind(i64::from(scheduled))
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps a finished batch's result file with its case, or lets it go at its purge date again;
    /// false if there is no result file to keep.
    pub async fn set_batch_attached(&mut self, batch_id: i64, attached: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE batches SET attached = $1 WHERE id = $2 AND destroyed_at IS NULL AND result_ciphertext IS NOT NULL",
        )
        .bind(i64::from(attached))
        .bind(batch_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
