//! Monthly reviews and their findings.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct NewReview {
    pub agency_id: i64,
    pub year: i32,
    pub month: u32,
    pub queries: u64,
    pub checkpoint_size: u64,
    pub checkpoint_text: String,
    pub seed: String,
    pub sample: Vec<u64>,
    /// The sampling settings the draw used.
    pub settings: nhiguard_domain::review::SampleSettings,
    /// The month's query entries the draw was made from.
    pub population: Vec<u64>,
    /// The sampled queries as the review page lists them (JSON, written by `app`).
    pub sample_rows: String,
}

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub agency_id: i64,
    pub year: i32,
    pub month: u32,
    pub queries: u64,
    pub checkpoint_size: u64,
    pub checkpoint_text: String,
    pub seed: String,
    pub sample: Vec<u64>,
    /// The sampling settings the draw used.
    pub settings: nhiguard_domain::review::SampleSettings,
    /// The month's query entries as kept at preparation (empty for reviews prepared before
    /// they were kept).
    pub population: Vec<u64>,
    /// The sampled queries as kept at preparation (JSON; empty as above).
    pub sample_rows: String,
    pub state: String,
    pub reviewer_account_id: Option<i64>,
    pub reviewer_signed_at: Option<Time>,
    pub head_account_id: Option<i64>,
    pub head_signed_at: Option<Time>,
    pub created_at: Time,
}

#[derive(Debug, Clone)]
pub struct FindingRow {
    pub seq: u64,
    pub finding: String,
    pub note: String,
    pub by_account_id: i64,
    pub at: Time,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A comma-separated list of sequence numbers.
fn seqs(text: &str) -> Result<Vec<u64>> {
    text.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().map_err(|_| corrupt("sequence list"))).collect()
}

fn review(r: &AnyRow) -> Result<ReviewRow> {
    let sample: String = r.try_get("sample")?;
    Ok(ReviewRow {
        id: r.try_get("id")?,
        agency_id: r.try_get("agency_id")?,
        year: i32::try_from(r.try_get::<i64, _>("year")?).map_err(|_| corrupt("year"))?,
        month: u32::try_from(r.try_get::<i64, _>("month")?).map_err(|_| corrupt("month"))?,
        queries: u64::try_from(r.try_get::<i64, _>("queries")?).map_err(|_| corrupt("queries"))?,
        checkpoint_size: u64::try_from(r.try_get::<i64, _>("checkpoint_size")?).map_err(|_| corrupt("size"))?,
        checkpoint_text: r.try_get("checkpoint_text")?,
        seed: r.try_get("seed")?,
        sample: sample
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| corrupt("sample")))
            .collect::<Result<_>>()?,
        settings: nhiguard_domain::review::SampleSettings {
            rate_percent: u32::try_from(r.try_get::<i64, _>("sample_rate_percent")?).map_err(|_| corrupt("rate"))?,
            minimum: u64::try_from(r.try_get::<i64, _>("sample_minimum")?).map_err(|_| corrupt("minimum"))?,
        },
        population: seqs(&r.try_get::<String, _>("population")?)?,
        sample_rows: r.try_get("sample_rows")?,
        state: r.try_get("state")?,
        reviewer_account_id: r.try_get("reviewer_account_id")?,
        reviewer_signed_at: r.try_get::<Option<i64>, _>("reviewer_signed_at")?.map(from_micros),
        head_account_id: r.try_get("head_account_id")?,
        head_signed_at: r.try_get::<Option<i64>, _>("head_signed_at")?.map(from_micros),
        created_at: from_micros(r.try_get("created_at")?),
    })
}

impl Db {
    pub async fn review(&self, id: i64) -> Result<ReviewRow> {
        review(&sqlx::query("SELECT * FROM reviews WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    pub async fn review_for(&self, agency_id: i64, year: i32, month: u32) -> Result<Option<ReviewRow>> {
        let r = sqlx::query("SELECT * FROM reviews WHERE agency_id = $1 AND year = $2 AND month = $3")
            .bind(agency_id)
            .bind(i64::from(year))
            .bind(i64::from(month))
            .fetch_optional(self.pool())
            .await?;
        r.as_ref().map(review).transpose()
    }

    /// Reviews of these agencies, newest month first.
    pub async fn reviews_of(&self, agencies: &[i64]) -> Result<Vec<ReviewRow>> {
        if agencies.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=agencies.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT * FROM reviews WHERE agency_id IN ({}) ORDER BY year DESC, month DESC, agency_id",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in agencies {
            q = q.bind(*a);
        }
        q.fetch_all(self.pool()).await?.iter().map(review).collect()
    }

    pub async fn findings(&self, review_id: i64) -> Result<Vec<FindingRow>> {
        let rows = sqlx::query(
            "SELECT seq, finding, note, by_account_id, at FROM review_findings WHERE review_id = $1 ORDER BY seq",
        )
        .bind(review_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FindingRow {
                    seq: u64::try_from(r.try_get::<i64, _>("seq")?).map_err(|_| corrupt("seq"))?,
                    finding: r.try_get("finding")?,
                    note: r.try_get("note")?,
                    by_account_id: r.try_get("by_account_id")?,
                    at: from_micros(r.try_get("at")?),
                })
            })
            .collect()
    }
}

impl Tx {
    /// Creates a month's review unless it exists (returns its id either way, and whether new).
    pub async fn insert_review(&mut self, r: &NewReview, at: Time) -> Result<(i64, bool)> {
        let sample: Vec<String> = r.sample.iter().map(u64::to_string).collect();
        let row = sqlx::query(
            "INSERT INTO reviews (agency_id, year, month, queries, checkpoint_size, checkpoint_text, seed, sample, state, created_at, \
             sample_rate_percent, sample_minimum, population, sample_rows) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13) \
             ON CONFLICT (agency_id, year, month) DO NOTHING RETURNING id",
        )
        .bind(r.agency_id)
        .bind(i64::from(r.year))
        .bind(i64::from(r.month))
        .bind(i64::try_from(r.queries).map_err(|_| corrupt("queries"))?)
        .bind(i64::try_from(r.checkpoint_size).map_err(|_| corrupt("size"))?)
        .bind(&r.checkpoint_text)
        .bind(&r.seed)
        .bind(sample.join(","))
        .bind(micros(at))
        .bind(i64::from(r.settings.rate_percent))
        .bind(i64::try_from(r.settings.minimum).map_err(|_| corrupt("minimum"))?)
        .bind(r.population.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
        .bind(&r.sample_rows)
        .fetch_optional(self.conn())
        .await?;
        match row {
            Some(r) => Ok((r.try_get("id")?, true)),
            None => {
                let id: i64 = sqlx::query("SELECT id FROM reviews WHERE agency_id = $1 AND year = $2 AND month = $3")
                    .bind(r.agency_id)
                    .bind(i64::from(r.year))
                    .bind(i64::from(r.month))
                    .fetch_one(self.conn())
                    .await?
                    .try_get("id")?;
                Ok((id, false))
            }
        }
    }

    pub async fn set_reviewer(&mut self, id: i64, account_id: i64) -> Result<()> {
        sqlx::query("UPDATE reviews SET reviewer_account_id = $1 WHERE id = $2 AND state = 'open'")
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn upsert_finding(
        &mut self,
        id: i64,
        seq: u64,
        finding: &str,
        note: &str,
        by: i64,
        at: Time,
    ) -> Result<()> {
        let seq = i64::try_from(seq).map_err(|_| corrupt("seq"))?;
        sqlx::query("DELETE FROM review_findings WHERE review_id = $1 AND seq = $2")
            .bind(id)
            .bind(seq)
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO review_findings (review_id, seq, finding, note, by_account_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(seq)
            .bind(finding)
            .bind(note)
            .bind(by)
            .bind(micros(at))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Moves a review from `from` to `to`, recording the signer; false if it was not in `from`.
    pub async fn sign_review(&mut self, id: i64, from: &str, to: &str, by: i64, at: Time) -> Result<bool> {
        let sql = if to == "reviewed" {
            "UPDATE reviews SET state = $1, reviewer_signed_at = $2 WHERE id = $3 AND state = $4 AND reviewer_account_id = $5"
        } else {
            "UPDATE reviews SET state = $1, head_signed_at = $2, head_account_id = $5 WHERE id = $3 AND state = $4"
        };
        let done = sqlx::query(sql).bind(to).bind(micros(at)).bind(id).bind(from).bind(by).execute(self.conn()).await?;
        Ok(done.rows_affected() == 1)
    }
}
