//! A group-committed append: ledger entries, and beside some of them the sealed result of the query
//! they record, in one transaction with one sync. The caller builds the rows from the head it is
//! handed (the Merkle frontier is `app`'s and the `ledger` crate's business); this module locks the
//! head, writes, and commits.
//!
//! On SQLite the whole transaction runs in one call on a thread of its own, on a connection kept for
//! it, with its statements prepared once: through sqlx each of its six or more statements would be a
//! round trip to a connection thread and back, each with two wake-ups, which cost more than the
//! statements themselves (BENCHMARKS.md sections 1 and 3). It takes its turn among this process's
//! writers like any other (`Db::begin`). On PostgreSQL it runs on a connection of its own, kept for
//! it, through sqlx's PostgreSQL driver: the entries go in as one `INSERT … SELECT FROM UNNEST` of
//! six arrays, one statement text prepared once, where a multi-row `VALUES` list would be a new
//! statement of up to 3,000 parameters for every group size. The head row is locked `FOR UPDATE`,
//! so several processes sharing the database take turns. On SQLite in memory it is an ordinary
//! transaction through the pool. The SQL texts are shared wherever the dialects allow.

use std::sync::{Arc, Mutex};

use crate::gateway::NewResult;
use crate::ledger::{LedgerHead, LedgerRow, to_i64, to_u64};
use crate::{Backend, Db, Result, StoreError, micros};

/// The columns of an entry row; inserts add `VALUES ($1 … $6)` groups.
pub(crate) const ENTRY_INSERT: &str = "INSERT INTO ledger_entries (seq, at, kind, actor, body, leaf_hash) VALUES ";
pub(crate) const HEAD_UPDATE: &str = "UPDATE ledger_head SET size = $1, frontier = $2 WHERE id = 1";
pub(crate) const RESULT_INSERT: &str = "INSERT INTO query_results (account_id, query_seq, operation_code, \
     case_number, subject_masked, created_at, purge_after, nonce, ciphertext) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

/// What one append of a group wrote: its sequence number and, if it carried one, its result's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub result_id: Option<i64>,
}

/// The SQLite connection kept for group appends, opened on first use.
pub(crate) type NativeWriter = Arc<Mutex<Option<rusqlite::Connection>>>;

/// The PostgreSQL connection kept for group appends, opened on first use.
pub(crate) type PgWriter = Arc<tokio::sync::Mutex<Option<sqlx::postgres::PgConnection>>>;

/// PostgreSQL: a group's entries as six arrays, one row per index.
const ENTRY_INSERT_UNNEST: &str = "INSERT INTO ledger_entries (seq, at, kind, actor, body, leaf_hash) \
     SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BYTEA[])";

impl Db {
    /// Locks the ledger head, hands it to `build` for the rows that continue the log (and the head
    /// after them), writes them and `results[i]` beside row `i`, and commits. Returns only once the
    /// transaction is durable; on any failure nothing is written.
    pub async fn append_group<E, F>(&self, build: F, results: Vec<Option<NewResult>>) -> Result<Vec<Appended>, E>
    where
        F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E> + Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if let (Backend::Postgres, Some(url)) = (self.backend, &self.pg_url) {
            return self.append_group_pg(url, build, results).await;
        }
        let (Backend::Sqlite, Some(path), Some(turn)) = (self.backend, &self.sqlite_path, &self.write_turn) else {
            return self.append_group_pooled(build, results).await;
        };
        let turn = self.write_turn_for(turn).await?;
        let path = path.clone();
        let writer = self.native_writer.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn; // held until the transaction has ended
            let mut slot = writer.lock().map_err(|_| StoreError::Unavailable("ledger writer poisoned".into()))?;
            let done = native_append(&mut slot, &path, build, &results);
            if matches!(&done, Err(NativeFailure::Store(_))) {
                // The connection may be in a state worth not keeping (a full disk, a broken file).
                *slot = None;
            }
            done.map_err(NativeFailure::into_caller)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("ledger writer stopped: {e}")))?
    }

    /// PostgreSQL, on the connection kept for it.
    async fn append_group_pg<E, F>(
        &self,
        url: &crate::PgUrl,
        build: F,
        results: Vec<Option<NewResult>>,
    ) -> Result<Vec<Appended>, E>
    where
        F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
        E: From<StoreError>,
    {
        use sqlx::Connection;
        let mut slot = self.pg_writer.lock().await;
        if slot.is_none() {
            *slot = Some(sqlx::postgres::PgConnection::connect(url.as_str()).await.map_err(StoreError::unavailable)?);
        }
        let Some(conn) = slot.as_mut() else { return Err(StoreError::Unavailable("no ledger writer".into()).into()) };
        let done = pg_append(conn, build, &results).await;
        if matches!(&done, Err(NativeFailure::Store(_))) {
            // A broken connection is not kept; the next group opens another.
            *slot = None;
        }
        done.map_err(NativeFailure::into_caller)
    }

    /// The same through the pool: SQLite in memory (and PostgreSQL were it ever without a URL).
    async fn append_group_pooled<E, F>(&self, build: F, results: Vec<Option<NewResult>>) -> Result<Vec<Appended>, E>
    where
        F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let head = tx.ledger_head().await?;
        let (rows, new_head) = build(&head)?;
        tx.ledger_append(&rows, &new_head).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, result) in rows.iter().zip(results.iter().chain(std::iter::repeat(&None))) {
            let result_id = match result {
                Some(r) => Some(tx.insert_result(r).await?),
                None => None,
            };
            out.push(Appended { seq: row.seq, result_id });
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// A failure of the native append: the store's own, or the caller's `build`.
enum NativeFailure<E> {
    Store(StoreError),
    Build(E),
}

impl<E: From<StoreError>> NativeFailure<E> {
    fn into_caller(self) -> E {
        match self {
            NativeFailure::Store(e) => E::from(e),
            NativeFailure::Build(e) => e,
        }
    }
}

impl<E> From<StoreError> for NativeFailure<E> {
    fn from(e: StoreError) -> Self {
        NativeFailure::Store(e)
    }
}

impl<E> From<sqlx::Error> for NativeFailure<E> {
    fn from(e: sqlx::Error) -> Self {
        NativeFailure::Store(StoreError::from(e))
    }
}

async fn pg_append<E, F>(
    conn: &mut sqlx::postgres::PgConnection,
    build: F,
    results: &[Option<NewResult>],
) -> std::result::Result<Vec<Appended>, NativeFailure<E>>
where
    F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
{
    use sqlx::{Connection, Row};
    let mut tx = conn.begin().await?;
    let r = sqlx::query("SELECT size, frontier FROM ledger_head WHERE id = 1 FOR UPDATE").fetch_one(&mut *tx).await?;
    let head = LedgerHead { size: to_u64(r.try_get::<i64, _>("size")?)?, frontier: r.try_get("frontier")? };
    let (rows, new_head) = build(&head).map_err(NativeFailure::Build)?;
    let mut seqs = Vec::with_capacity(rows.len());
    let mut ats = Vec::with_capacity(rows.len());
    let mut kinds = Vec::with_capacity(rows.len());
    let mut actors = Vec::with_capacity(rows.len());
    let mut bodies = Vec::with_capacity(rows.len());
    let mut leaves = Vec::with_capacity(rows.len());
    for r in &rows {
        seqs.push(to_i64(r.seq)?);
        ats.push(r.at);
        kinds.push(r.kind.as_str());
        actors.push(r.actor.as_str());
        bodies.push(r.body.as_slice());
        leaves.push(r.leaf_hash.as_slice());
    }
    sqlx::query(ENTRY_INSERT_UNNEST)
        .bind(&seqs)
        .bind(&ats)
        .bind(&kinds)
        .bind(&actors)
        .bind(&bodies)
        .bind(&leaves)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::conflict_on("ledger sequence number"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let result_id = match results.get(i).and_then(Option::as_ref) {
            Some(res) => Some(
                sqlx::query(RESULT_INSERT)
                    .bind(res.account_id)
                    .bind(to_i64(res.query_seq)?)
                    .bind(&res.operation_code)
                    .bind(&res.case_number)
                    .bind(&res.subject_masked)
                    .bind(micros(res.created_at))
                    .bind(micros(res.purge_after))
                    .bind(&res.nonce)
                    .bind(&res.ciphertext)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>("id")?,
            ),
            None => None,
        };
        out.push(Appended { seq: r.seq, result_id });
    }
    sqlx::query(HEAD_UPDATE).bind(to_i64(new_head.size)?).bind(&new_head.frontier).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(out)
}

impl<E> From<rusqlite::Error> for NativeFailure<E> {
    fn from(e: rusqlite::Error) -> Self {
        NativeFailure::Store(StoreError::from(e))
    }
}

fn native_append<E, F>(
    slot: &mut Option<rusqlite::Connection>,
    path: &std::path::Path,
    build: F,
    results: &[Option<NewResult>],
) -> std::result::Result<Vec<Appended>, NativeFailure<E>>
where
    F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
{
    if slot.is_none() {
        *slot = Some(crate::open_sqlite(path, false)?);
    }
    let Some(conn) = slot.as_mut() else { return Err(StoreError::Unavailable("no ledger writer".into()).into()) };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let head = tx.query_row("SELECT size, frontier FROM ledger_head WHERE id = 1", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    });
    let head = match head {
        Ok((size, frontier)) => LedgerHead { size: to_u64(size)?, frontier },
        Err(rusqlite::Error::QueryReturnedNoRows) => return Err(StoreError::NotFound.into()),
        Err(e) => return Err(e.into()),
    };
    let (rows, new_head) = build(&head).map_err(NativeFailure::Build)?;
    let mut out = Vec::with_capacity(rows.len());
    {
        let mut insert = tx.prepare_cached(&format!("{ENTRY_INSERT}($1, $2, $3, $4, $5, $6)"))?;
        let mut result_insert = tx.prepare_cached(RESULT_INSERT)?;
        for (i, r) in rows.iter().enumerate() {
            let inserted = insert.execute(rusqlite::params![
                to_i64(r.seq)?,
                r.at,
                r.kind.as_str(),
                r.actor.as_str(),
                r.body.as_slice(),
                r.leaf_hash.as_slice()
            ]);
            match inserted {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::Conflict("ledger sequence number").into());
                }
                Err(e) => return Err(e.into()),
            }
            let result_id = match results.get(i).and_then(Option::as_ref) {
                Some(res) => Some(result_insert.query_row(
                    rusqlite::params![
                        res.account_id,
                        to_i64(res.query_seq)?,
                        res.operation_code.as_str(),
                        res.case_number.as_str(),
                        res.subject_masked.as_str(),
                        micros(res.created_at),
                        micros(res.purge_after),
                        res.nonce.as_slice(),
                        res.ciphertext.as_slice()
                    ],
                    |row| row.get::<_, i64>(0),
                )?),
                None => None,
            };
            out.push(Appended { seq: r.seq, result_id });
        }
        tx.prepare_cached(HEAD_UPDATE)?.execute(rusqlite::params![to_i64(new_head.size)?, new_head.frontier])?;
    }
    tx.commit()?;
    Ok(out)
}
