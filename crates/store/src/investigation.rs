//! Investigations of anomalies (R-REV-5) and what their members record.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct InvestigationRow {
    pub id: i64,
    pub review_id: i64,
    pub agency_id: i64,
    /// The ledger entry whose anomalous finding opened it.
    pub seq: u64,
    pub opened_by: i64,
    pub opened_at: Time,
    pub business_account_id: Option<i64>,
    pub ethics_account_id: Option<i64>,
    pub it_account_id: Option<i64>,
    pub state: String,
    pub conclusion: String,
    pub actions: String,
    pub disabled_account_id: Option<i64>,
    pub concluded_by: Option<i64>,
    pub concluded_at: Option<Time>,
}

impl InvestigationRow {
    /// Everyone named on it: whoever opened it and the three members.
    pub fn named(&self) -> Vec<i64> {
        [Some(self.opened_by), self.business_account_id, self.ethics_account_id, self.it_account_id]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// One thing recorded on an investigation: a unit's step (`kind` = "step") or a collected entry or
/// piece of evidence (`kind` = "evidence", with the ledger `seq` when it is an entry).
#[derive(Debug, Clone)]
pub struct InvestigationNote {
    pub kind: String,
    pub party: String,
    pub seq: Option<u64>,
    pub note: String,
    pub by_account_id: i64,
    pub at: Time,
}

fn seq_of(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("seq".into()))
}

fn row(r: &AnyRow) -> Result<InvestigationRow> {
    Ok(InvestigationRow {
        id: r.try_get("id")?,
        review_id: r.try_get("review_id")?,
        agency_id: r.try_get("agency_id")?,
        seq: seq_of(r.try_get("seq")?)?,
        opened_by: r.try_get("opened_by")?,
        opened_at: from_micros(r.try_get("opened_at")?),
        business_account_id: r.try_get("business_account_id")?,
        ethics_account_id: r.try_get("ethics_account_id")?,
        it_account_id: r.try_get("it_account_id")?,
        state: r.try_get("state")?,
        conclusion: r.try_get("conclusion")?,
        actions: r.try_get("actions")?,
        disabled_account_id: r.try_get("disabled_account_id")?,
        concluded_by: r.try_get("concluded_by")?,
        concluded_at: r.try_get::<Option<i64>, _>("concluded_at")?.map(from_micros),
    })
}

impl Db {
    pub async fn investigation(&self, id: i64) -> Result<InvestigationRow> {
        row(&sqlx::query("SELECT * FROM investigations WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    /// The investigations a review's anomalies opened.
    pub async fn investigations_of_review(&self, review_id: i64) -> Result<Vec<InvestigationRow>> {
        let rows = sqlx::query("SELECT * FROM investigations WHERE review_id = $1 ORDER BY id")
            .bind(review_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(row).collect()
    }

    /// How many investigations of an agency are still open.
    pub async fn open_investigations_of(&self, agency_id: i64) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM investigations WHERE agency_id = $1 AND state = 'open'")
            .bind(agency_id)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// The investigations that name this account (as opener or member), newest first.
    pub async fn investigations_naming(&self, account_id: i64) -> Result<Vec<InvestigationRow>> {
        let rows = sqlx::query(
            "SELECT * FROM investigations WHERE opened_by = $1 OR business_account_id = $1 \
             OR ethics_account_id = $1 OR it_account_id = $1 ORDER BY id DESC",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    pub async fn investigation_notes(&self, id: i64) -> Result<Vec<InvestigationNote>> {
        let rows = sqlx::query(
            "SELECT kind, party, seq, note, by_account_id, at FROM investigation_notes \
             WHERE investigation_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InvestigationNote {
                    kind: r.try_get("kind")?,
                    party: r.try_get("party")?,
                    seq: r.try_get::<Option<i64>, _>("seq")?.map(seq_of).transpose()?,
                    note: r.try_get("note")?,
                    by_account_id: r.try_get("by_account_id")?,
                    at: from_micros(r.try_get("at")?),
                })
            })
            .collect()
    }
}

impl Tx {
    /// Opens the investigation of one sampled entry unless it is open already; returns its id and
    /// whether it is new.
    pub async fn open_investigation(
        &mut self,
        review_id: i64,
        agency_id: i64,
        seq: u64,
        opened_by: i64,
        at: Time,
    ) -> Result<(i64, bool)> {
        let seq = i64::try_from(seq).map_err(|_| StoreError::Corrupt("seq".into()))?;
        let new = sqlx::query(
            "INSERT INTO investigations (review_id, agency_id, seq, opened_by, opened_at, state) \
             VALUES ($1, $2, $3, $4, $5, 'open') ON CONFLICT (review_id, seq) DO NOTHING RETURNING id",
        )
        .bind(review_id)
        .bind(agency_id)
        .bind(seq)
        .bind(opened_by)
        .bind(micros(at))
        .fetch_optional(self.conn())
        .await?;
        if let Some(r) = new {
            return Ok((r.try_get("id")?, true));
        }
        let id = sqlx::query("SELECT id FROM investigations WHERE review_id = $1 AND seq = $2")
            .bind(review_id)
            .bind(seq)
            .fetch_one(self.conn())
            .await?
            .try_get("id")?;
        Ok((id, false))
    }

    /// Names the three members; false when the investigation is no longer open.
    /// Puts `to` in the opener's place while `from` still holds it and the investigation is open.
    pub async fn take_over_investigation(&mut self, id: i64, from: i64, to: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE investigations SET opened_by = $1 WHERE id = $2 AND opened_by = $3 AND state = 'open'")
                .bind(to)
                .bind(id)
                .bind(from)
                .execute(self.conn())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_investigation_members(&mut self, id: i64, business: i64, ethics: i64, it: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE investigations SET business_account_id = $1, ethics_account_id = $2, it_account_id = $3 \
             WHERE id = $4 AND state = 'open'",
        )
        .bind(business)
        .bind(ethics)
        .bind(it)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn add_investigation_note(&mut self, id: i64, n: &InvestigationNote) -> Result<()> {
        let seq = n.seq.map(i64::try_from).transpose().map_err(|_| StoreError::Corrupt("seq".into()))?;
        sqlx::query(
            "INSERT INTO investigation_notes (investigation_id, kind, party, seq, note, by_account_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&n.kind)
        .bind(&n.party)
        .bind(seq)
        .bind(&n.note)
        .bind(n.by_account_id)
        .bind(micros(n.at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Closes it with its audit record; false when it was closed already.
    pub async fn conclude_investigation(
        &mut self,
        id: i64,
        conclusion: &str,
        actions: &str,
        disabled_account_id: Option<i64>,
        by: i64,
        at: Time,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE investigations SET state = 'concluded', conclusion = $1, actions = $2, disabled_account_id = $3, \
             concluded_by = $4, concluded_at = $5 WHERE id = $6 AND state = 'open'",
        )
        .bind(conclusion)
        .bind(actions)
        .bind(disabled_account_id)
        .bind(by)
        .bind(micros(at))
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
