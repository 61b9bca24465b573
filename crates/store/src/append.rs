//! A group-committed append: ledger entries, and beside some of them the sealed result of the query
//! they record, in one transaction with one sync. The caller builds the rows from the head it is
//! handed (the Merkle frontier is `app`'s and the `ledger` crate's business); this module locks the
//! head, writes, and commits.
//!
//! On SQLite the whole transaction runs in one call on a thread of its own, on a connection kept for
//! it, with its statements prepared once: through sqlx each of its six or more statements would be a
//! round trip to a connection thread and back, each with two wake-ups, which cost more than the
//! statements themselves (BENCHMARKS.md sections 1 and 3). It takes its turn among this process's
//! writers like any other (`Db::begin`). On PostgreSQL it runs on one of two connections kept for
//! it (two, so that a group built ahead can queue for the head's lock while the group before
//! commits: `Db::append_prebuilt`), through sqlx's PostgreSQL driver: the head row is locked
//! `FOR UPDATE`, so that several processes sharing the database take turns, then the entries, their
//! results and the new head go in as one statement of `UNNEST`ed arrays, one text prepared once,
//! where a multi-row `VALUES` list would be a new statement of up to 3,000 parameters for every
//! group size. On SQLite in memory it is an ordinary
//! transaction through the pool. The SQL texts are shared wherever the dialects allow.

use std::sync::{Arc, Mutex};

use crate::gateway::NewResult;
use crate::ledger::{LedgerHead, LedgerRow, to_i64, to_u64};
use crate::{Backend, Db, Result, StoreError, micros};

/// The columns of an entry row; inserts add `VALUES ($1 … $6)` groups.
pub(crate) const ENTRY_INSERT: &str = "INSERT INTO ledger_entries (seq, at, kind, actor, body, leaf_hash) VALUES ";
pub(crate) const HEAD_UPDATE: &str = "UPDATE ledger_head SET size = $1, frontier = $2 WHERE id = 1";
/// The head; on PostgreSQL locked until the transaction ends, so that appenders take turns across
/// processes (SQLite's write lock, taken at `BEGIN IMMEDIATE`, already does that).
pub(crate) const HEAD_SELECT: &str = "SELECT size, frontier FROM ledger_head WHERE id = 1";
pub(crate) const HEAD_SELECT_LOCKED: &str = "SELECT size, frontier FROM ledger_head WHERE id = 1 FOR UPDATE";
pub(crate) const RESULT_INSERT: &str = "INSERT INTO query_results (account_id, query_seq, operation_code, \
     case_number, subject_masked, created_at, purge_after, nonce, ciphertext) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

/// What one append of a group wrote: its sequence number and, if it carried one, its result's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub result_id: Option<i64>,
}

/// What a group append wrote: each row's sequence number and result id, and the head it left.
pub type Written = (Vec<Appended>, LedgerHead);

/// A group built ahead found the head not to be the one it was built on.
struct HeadMoved;

/// What became of a group sent ahead ([`Db::append_prebuilt`]).
#[derive(Debug)]
pub enum Prebuilt {
    /// Durable: what each row became.
    Written(Vec<Appended>),
    /// Nothing of the group is in the log (nothing was sent, the head was not the expected one,
    /// or the transaction failed and the log, read once it had ended, does not hold the group):
    /// the caller may write it again. Says why.
    NotWritten(String),
}

/// The SQLite connection kept for group appends, opened on first use.
pub(crate) type NativeWriter = Arc<Mutex<Option<rusqlite::Connection>>>;

/// The PostgreSQL connections kept for group appends, each opened on first use: two, so that one
/// group can be on its way while the one before it commits (`Db::append_prebuilt`).
pub(crate) type PgWriter = Arc<[tokio::sync::Mutex<Option<sqlx::postgres::PgConnection>>; 2]>;

/// PostgreSQL, once the head is locked (and, for a group built ahead, found to be the expected
/// one): the head moved on, the entries and the results in one statement, the results' ids
/// returned. One statement text for every group size, prepared once.
const GROUP_INSERT: &str = "WITH head AS (\
         UPDATE ledger_head SET size = $1, frontier = $2 WHERE id = 1 RETURNING 1\
     ), entries AS (\
         INSERT INTO ledger_entries (seq, at, kind, actor, body, leaf_hash) \
         SELECT * FROM UNNEST($3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[], $7::BYTEA[], $8::BYTEA[]) \
         RETURNING 1\
     ), results AS (\
         INSERT INTO query_results (account_id, query_seq, operation_code, case_number, subject_masked, \
         created_at, purge_after, nonce, ciphertext) \
         SELECT * FROM UNNEST($9::BIGINT[], $10::BIGINT[], $11::TEXT[], $12::TEXT[], $13::TEXT[], \
         $14::BIGINT[], $15::BIGINT[], $16::BYTEA[], $17::BYTEA[]) RETURNING id, query_seq\
     ) \
     SELECT (SELECT count(*) FROM head) AS heads, (SELECT count(*) FROM entries) AS entries, r.ids, r.query_seqs \
     FROM (SELECT COALESCE(array_agg(id ORDER BY id), '{}') AS ids, \
         COALESCE(array_agg(query_seq ORDER BY id), '{}') AS query_seqs FROM results) AS r";

/// Keeps groups sent ahead in order: each locks the head only once the group before it holds the
/// lock (or has given up), so that it queues behind that group instead of finding the head the
/// group has yet to leave.
#[derive(Debug)]
pub struct LockOrder {
    /// Told when the group before this one holds the lock; `None` for the first.
    pub after: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Tells the group after this one.
    pub locked: tokio::sync::oneshot::Sender<()>,
}

impl Db {
    /// Whether appends may be built ahead of the lock ([`Db::append_prebuilt`]): PostgreSQL with
    /// its own writer connections. SQLite has one writer at a time whatever is done, and gains
    /// nothing from it.
    pub fn appends_prebuilt(&self) -> bool {
        self.backend == Backend::Postgres && self.pg_url.is_some()
    }

    /// Writes rows built on `expected` — the head the caller believes the groups before will
    /// leave — with `results[i]` beside row `i`, and moves the head to `new_head`.
    /// [`Prebuilt::NotWritten`] when nothing was written: the head, once locked, was not
    /// `expected` (another process appended, or a group before this one failed), or the
    /// transaction failed; the caller builds again from the head as it is. Returns only once the
    /// transaction is durable. PostgreSQL only.
    ///
    /// A transaction that failed may still have committed: when the connection breaks during
    /// `COMMIT`, the server may have made it durable with only its answer lost. Writing such a
    /// group again would put its entries in the log twice, so after a failure the log is read on a
    /// new connection, once the failed transaction has ended (the read waits for the head's lock,
    /// which that transaction held until it committed or rolled back): the group's first and last
    /// leaf hashes at their sequence numbers mean it committed (a group commits whole), and it is
    /// reported written. An `Err` means that read failed too: whether the group is in the log is
    /// unknown, and it must not be written again.
    pub async fn append_prebuilt(
        &self,
        expected: &LedgerHead,
        rows: Vec<LedgerRow>,
        new_head: LedgerHead,
        results: &[Option<NewResult>],
        order: LockOrder,
    ) -> Result<Prebuilt> {
        let Some(url) = self.pg_url.as_ref().filter(|_| self.backend == Backend::Postgres) else {
            return Ok(Prebuilt::NotWritten("prebuilt appends need PostgreSQL".into()));
        };
        // Waited for before a connection is taken: a group waiting for the one before it holds
        // none, so that the groups before it (of this writer or of another sharing these
        // connections) always find one.
        if let Some(after) = order.after {
            after.await.ok();
        }
        // Until a statement is sent, a failure has written nothing.
        let mut slot = match self.pg_writer_slot(url).await {
            Ok(slot) => slot,
            Err(e) => return Ok(Prebuilt::NotWritten(e.to_string())),
        };
        let marks = GroupMarks::of(&rows);
        #[cfg(feature = "fault-injection")]
        if self.faults.commit_late() {
            let failed = crate::faults::commit_late(slot.take(), rows, new_head, results.to_vec(), order.locked).await;
            return self.after_failed_group(slot, url, failed, marks, results).await;
        }
        let Some(conn) = slot.as_mut() else { return Ok(Prebuilt::NotWritten("no ledger writer".into())) };
        let built = |head: &LedgerHead| if head == expected { Ok((rows, new_head)) } else { Err(HeadMoved) };
        let failed = match pg_append(conn, Some(order.locked), built, results).await {
            Ok((done, _)) => match self.faults.commit_answer_lost() {
                None => return Ok(Prebuilt::Written(done)),
                Some(injected) => injected,
            },
            Err(NativeFailure::Build(HeadMoved)) => return Ok(Prebuilt::NotWritten("the ledger head moved".into())),
            Err(NativeFailure::Store(e)) => e,
        };
        self.after_failed_group(slot, url, failed, marks, results).await
    }

    /// A group's transaction `failed`: whether it is in the log all the same (see
    /// [`Db::append_prebuilt`]).
    async fn after_failed_group(
        &self,
        mut slot: tokio::sync::MutexGuard<'_, Option<sqlx::postgres::PgConnection>>,
        url: &crate::PgUrl,
        failed: StoreError,
        marks: Option<GroupMarks>,
        results: &[Option<NewResult>],
    ) -> Result<Prebuilt> {
        // A connection that may be broken is not kept; the check opens another, which stays.
        *slot = None;
        let Some(marks) = marks else { return Ok(Prebuilt::NotWritten(failed.to_string())) };
        let checked = match self.faults.check_fails() {
            Some(injected) => Err(injected),
            None => match open_pg_writer(url).await {
                Ok(conn) => pg_group_landed(slot.insert(conn), &marks, results).await,
                Err(e) => Err(e),
            },
        };
        match checked {
            Ok(Some(done)) => {
                tracing::warn!(error = %failed, entries = done.len(), "ledger group committed though its answer was lost");
                Ok(Prebuilt::Written(done))
            }
            Ok(None) => Ok(Prebuilt::NotWritten(failed.to_string())),
            Err(check) => {
                *slot = None;
                Err(StoreError::Unavailable(format!(
                    "{failed}; whether the ledger group was written could not be checked: {check}"
                )))
            }
        }
    }

    /// A free writer connection's slot (the first one's when both are taken), its connection
    /// opened if it has none.
    async fn pg_writer_slot(
        &self,
        url: &crate::PgUrl,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<sqlx::postgres::PgConnection>>> {
        let mut guard = match self.pg_writer.iter().find_map(|slot| slot.try_lock().ok()) {
            Some(free) => free,
            None => self.pg_writer[0].lock().await,
        };
        if guard.is_none() {
            *guard = Some(open_pg_writer(url).await?);
        }
        Ok(guard)
    }

    /// Locks the ledger head, hands it to `build` for the rows that continue the log (and the head
    /// after them), writes them and `results[i]` beside row `i`, and commits. Returns, only once the
    /// transaction is durable, what each row became and the head left; on any failure nothing is
    /// written.
    pub async fn append_group<E, F>(&self, build: F, results: Vec<Option<NewResult>>) -> Result<Written, E>
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
    ) -> Result<Written, E>
    where
        F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
        E: From<StoreError>,
    {
        let mut slot = self.pg_writer_slot(url).await?;
        let Some(conn) = slot.as_mut() else { return Err(StoreError::Unavailable("no ledger writer".into()).into()) };
        let done = pg_append(conn, None, build, &results).await;
        if matches!(&done, Err(NativeFailure::Store(_))) {
            // A broken connection is not kept; the next group opens another.
            *slot = None;
        }
        done.map_err(NativeFailure::into_caller)
    }

    /// The same through the pool: SQLite in memory (and PostgreSQL were it ever without a URL).
    async fn append_group_pooled<E, F>(&self, build: F, results: Vec<Option<NewResult>>) -> Result<Written, E>
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
        Ok((out, new_head))
    }
}

/// A failure of the native append: the store's own, or the caller's `build`.
/// How long the writer waits for a PostgreSQL connection, or for the ledger head's lock held by
/// another transaction, before it fails the appends waiting on it (and so refuses their queries)
/// rather than hang them: the pool's own wait for a connection.
const PG_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Opens a connection of the writer's own, with [`PG_WRITER_WAIT`] on connecting and on locks.
async fn open_pg_writer(url: &crate::PgUrl) -> Result<sqlx::postgres::PgConnection> {
    use sqlx::{Connection, Executor};
    let connect = sqlx::postgres::PgConnection::connect(url.as_str());
    let mut conn = tokio::time::timeout(PG_WRITER_WAIT, connect)
        .await
        .map_err(|_| StoreError::Unavailable(format!("no connection to PostgreSQL within {PG_WRITER_WAIT:?}")))?
        .map_err(StoreError::unavailable)?;
    conn.execute(sqlx::AssertSqlSafe(format!("SET lock_timeout = {}", PG_WRITER_WAIT.as_millis())))
        .await
        .map_err(StoreError::unavailable)?;
    Ok(conn)
}

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

/// A group's entries as columns, for PostgreSQL's `UNNEST`.
struct EntryColumns<'a> {
    seqs: Vec<i64>,
    ats: Vec<i64>,
    kinds: Vec<&'a str>,
    actors: Vec<&'a str>,
    bodies: Vec<&'a [u8]>,
    leaves: Vec<&'a [u8]>,
}

impl<'a> EntryColumns<'a> {
    fn of(rows: &'a [LedgerRow]) -> Result<Self> {
        let mut c = Self {
            seqs: Vec::with_capacity(rows.len()),
            ats: Vec::with_capacity(rows.len()),
            kinds: Vec::with_capacity(rows.len()),
            actors: Vec::with_capacity(rows.len()),
            bodies: Vec::with_capacity(rows.len()),
            leaves: Vec::with_capacity(rows.len()),
        };
        for r in rows {
            c.seqs.push(to_i64(r.seq)?);
            c.ats.push(r.at);
            c.kinds.push(r.kind.as_str());
            c.actors.push(r.actor.as_str());
            c.bodies.push(r.body.as_slice());
            c.leaves.push(r.leaf_hash.as_slice());
        }
        Ok(c)
    }
}

/// A group's results as columns, for PostgreSQL's `UNNEST`.
#[derive(Default)]
struct ResultColumns<'a> {
    account_ids: Vec<i64>,
    query_seqs: Vec<i64>,
    operation_codes: Vec<&'a str>,
    case_numbers: Vec<&'a str>,
    subjects: Vec<&'a str>,
    created: Vec<i64>,
    purge_after: Vec<i64>,
    nonces: Vec<&'a [u8]>,
    ciphertexts: Vec<&'a [u8]>,
}

impl<'a> ResultColumns<'a> {
    fn push(&mut self, r: &'a NewResult) -> Result<()> {
        self.account_ids.push(r.account_id);
        self.query_seqs.push(to_i64(r.query_seq)?);
        self.operation_codes.push(&r.operation_code);
        self.case_numbers.push(&r.case_number);
        self.subjects.push(&r.subject_masked);
        self.created.push(micros(r.created_at));
        self.purge_after.push(micros(r.purge_after));
        self.nonces.push(&r.nonce);
        self.ciphertexts.push(&r.ciphertext);
        Ok(())
    }
}

/// PostgreSQL, with the head locked in `tx`: the entries, their results and the new head in one
/// statement; each row's sequence number and result id.
pub(crate) async fn write_locked(
    tx: &mut sqlx::postgres::PgConnection,
    rows: &[LedgerRow],
    new_head: &LedgerHead,
    results: &[Option<NewResult>],
) -> Result<Vec<Appended>> {
    use sqlx::Row;
    let cols = EntryColumns::of(rows)?;
    let mut res = ResultColumns::default();
    for r in results.iter().flatten() {
        res.push(r)?;
    }
    let row = sqlx::query(GROUP_INSERT)
        .bind(to_i64(new_head.size)?)
        .bind(&new_head.frontier)
        .bind(&cols.seqs)
        .bind(&cols.ats)
        .bind(&cols.kinds)
        .bind(&cols.actors)
        .bind(&cols.bodies)
        .bind(&cols.leaves)
        .bind(&res.account_ids)
        .bind(&res.query_seqs)
        .bind(&res.operation_codes)
        .bind(&res.case_numbers)
        .bind(&res.subjects)
        .bind(&res.created)
        .bind(&res.purge_after)
        .bind(&res.nonces)
        .bind(&res.ciphertexts)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::conflict_on("ledger sequence number"))?;
    let (heads, written): (i64, i64) = (row.try_get("heads")?, row.try_get("entries")?);
    if heads != 1 || written != to_i64(rows.len() as u64)? {
        return Err(StoreError::Unavailable(format!("ledger group wrote {written} of {} entries", rows.len())));
    }
    // Each result's id, by the query it answers.
    let ids: Vec<i64> = row.try_get("ids")?;
    let query_seqs: Vec<i64> = row.try_get("query_seqs")?;
    let mut by_query: std::collections::HashMap<i64, std::collections::VecDeque<i64>> = Default::default();
    for (id, q) in ids.into_iter().zip(query_seqs) {
        by_query.entry(q).or_default().push_back(id);
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let result_id = match results.get(i).and_then(Option::as_ref) {
            Some(res) => Some(
                by_query
                    .get_mut(&to_i64(res.query_seq)?)
                    .and_then(|q| q.pop_front())
                    .ok_or_else(|| StoreError::Unavailable("a stored result has no id".into()))?,
            ),
            None => None,
        };
        out.push(Appended { seq: r.seq, result_id });
    }
    Ok(out)
}

/// A group's first and last rows, by which a read of the log tells whether it was written.
struct GroupMarks {
    first: (u64, Vec<u8>),
    last: (u64, Vec<u8>),
}

impl GroupMarks {
    fn of(rows: &[LedgerRow]) -> Option<Self> {
        let (first, last) = (rows.first()?, rows.last()?);
        Some(Self { first: (first.seq, first.leaf_hash.clone()), last: (last.seq, last.leaf_hash.clone()) })
    }
}

/// Whether the group marked by `marks` is in the log, and if so what each of its rows became: the
/// sequence numbers run from the first to the last, and each result is found by its nonce (random,
/// one per result) among the results of its account since the earliest of them.
async fn pg_group_landed(
    conn: &mut sqlx::postgres::PgConnection,
    marks: &GroupMarks,
    results: &[Option<NewResult>],
) -> Result<Option<Vec<Appended>>> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let landed = pg_group_landed_in(&mut tx, marks, results).await;
    // Ended now, not when the connection is next used: the head's lock must go at once.
    tx.rollback().await?;
    landed
}

async fn pg_group_landed_in(
    tx: &mut sqlx::postgres::PgConnection,
    marks: &GroupMarks,
    results: &[Option<NewResult>],
) -> Result<Option<Vec<Appended>>> {
    use sqlx::Row;
    // Until the failed transaction has ended its rows cannot be seen, and it holds this lock.
    sqlx::query("SELECT size FROM ledger_head WHERE id = 1 FOR SHARE").fetch_one(&mut *tx).await?;
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_entries WHERE (seq = $1 AND leaf_hash = $2) OR (seq = $3 AND leaf_hash = $4)",
    )
    .bind(to_i64(marks.first.0)?)
    .bind(&marks.first.1)
    .bind(to_i64(marks.last.0)?)
    .bind(&marks.last.1)
    .fetch_one(&mut *tx)
    .await?;
    if found != if marks.first.0 == marks.last.0 { 1 } else { 2 } {
        return Ok(None);
    }
    let mut ids = std::collections::HashMap::new();
    let sealed: Vec<&NewResult> = results.iter().flatten().collect();
    if let Some(since) = sealed.iter().map(|r| micros(r.created_at)).min() {
        let accounts: Vec<i64> = sealed.iter().map(|r| r.account_id).collect();
        let nonces: Vec<&[u8]> = sealed.iter().map(|r| r.nonce.as_slice()).collect();
        let rows = sqlx::query(
            "SELECT id, nonce FROM query_results WHERE account_id = ANY($1) AND created_at >= $2 AND nonce = ANY($3)",
        )
        .bind(&accounts)
        .bind(since)
        .bind(&nonces)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            ids.insert(r.try_get::<Vec<u8>, _>("nonce")?, r.try_get::<i64, _>("id")?);
        }
    }
    let mut out = Vec::new();
    for (i, seq) in (marks.first.0..=marks.last.0).enumerate() {
        let result_id = match results.get(i).and_then(Option::as_ref) {
            Some(r) => Some(
                *ids.get(&r.nonce).ok_or_else(|| StoreError::Unavailable("a stored result was not found".into()))?,
            ),
            None => None,
        };
        out.push(Appended { seq, result_id });
    }
    Ok(Some(out))
}

/// PostgreSQL: locks the head (telling `locked` once it holds it or gave up), builds the rows on
/// it, writes them and commits.
async fn pg_append<E, F>(
    conn: &mut sqlx::postgres::PgConnection,
    locked: Option<tokio::sync::oneshot::Sender<()>>,
    build: F,
    results: &[Option<NewResult>],
) -> std::result::Result<Written, NativeFailure<E>>
where
    F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
{
    use sqlx::{Connection, Row};
    let mut tx = conn.begin().await?;
    let r = sqlx::query(HEAD_SELECT_LOCKED).fetch_one(&mut *tx).await;
    if let Some(locked) = locked {
        locked.send(()).ok();
    }
    let r = r?;
    let head = LedgerHead { size: to_u64(r.try_get::<i64, _>("size")?)?, frontier: r.try_get("frontier")? };
    let written = match build(&head) {
        Ok((rows, new_head)) => write_locked(&mut tx, &rows, &new_head, results)
            .await
            .map(|out| (out, new_head))
            .map_err(NativeFailure::Store),
        Err(e) => Err(NativeFailure::Build(e)),
    };
    match written {
        Ok(out) => {
            tx.commit().await?;
            Ok(out)
        }
        Err(e) => {
            // Ended now, not when this connection is next used: the head's lock must go at once,
            // since the writer's other connection may be about to want it.
            tx.rollback().await.ok();
            Err(e)
        }
    }
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
) -> std::result::Result<Written, NativeFailure<E>>
where
    F: FnOnce(&LedgerHead) -> std::result::Result<(Vec<LedgerRow>, LedgerHead), E>,
{
    if slot.is_none() {
        *slot = Some(crate::open_sqlite(path, false)?);
    }
    let Some(conn) = slot.as_mut() else { return Err(StoreError::Unavailable("no ledger writer".into()).into()) };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Prepared once like the inserts: `query_row` would parse the text again for every group.
    let head = tx.prepare_cached(HEAD_SELECT)?.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)));
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
        tx.prepare_cached(HEAD_UPDATE)?.execute(rusqlite::params![to_i64(new_head.size)?, &new_head.frontier])?;
    }
    tx.commit()?;
    Ok((out, new_head))
}
