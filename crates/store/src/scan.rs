//! Long reads of the ledger: every entry for verification, every leaf hash for a proof, a month's
//! bodies for a review. They read hundreds of thousands of rows, and what costs is not the
//! database's work but handing each row over one at a time (BENCHMARKS.md section 3: sqlx's `Any`
//! driver delivers ~150,000 rows/s from SQLite, whose engine scans the same rows at 3,000,000/s).
//! So a scan runs on a thread (SQLite) or a task (PostgreSQL) of its own, packs rows into batches
//! of a few buffers each, and hands whole batches over a short channel: the caller works on one
//! batch while the next is read, on the other core.
//!
//! On SQLite the scan talks to the SQLite library directly (rusqlite, over the same library sqlx
//! links), on a connection of its own that can only read (`query_only`); one statement reads one
//! consistent snapshot (WAL). On PostgreSQL it opens a read-only connection of its own and reads
//! the statement's rows with `COPY … TO STDOUT (FORMAT binary)`, parsed here: a stream of bytes
//! rather than one protocol message and one decoded row object per row.

use std::path::PathBuf;

use sqlx::Row;
use tokio::sync::mpsc;

use crate::ledger::{to_i64, to_u64};
use crate::{Backend, Db, Result, StoreError};

/// Rows per batch: large enough that handing a batch over costs nothing per row, small enough
/// (~5 MiB of bodies) that two in flight do not matter.
const BATCH_ROWS: usize = 16_384;

/// Rows as a scan delivers them, packed: sequence numbers, bodies one after another with their
/// ends, and leaf hashes. A batch costs a handful of allocations however many rows it holds.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    seqs: Vec<u64>,
    body_ends: Vec<usize>,
    bodies: Vec<u8>,
    leaves: Vec<Option<[u8; 32]>>,
}

impl LedgerBatch {
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub fn seq(&self, i: usize) -> u64 {
        self.seqs[i]
    }

    /// The `i`-th row's body; empty when the scan did not read bodies (or the content was pruned).
    pub fn body(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.body_ends[i - 1] };
        self.body_ends.get(i).map_or(&[][..], |&end| &self.bodies[start..end])
    }

    /// The `i`-th row's stored leaf hash; `None` when the scan did not read hashes or the stored
    /// value is not 32 bytes long (which no content hashes to).
    pub fn leaf(&self, i: usize) -> Option<[u8; 32]> {
        self.leaves.get(i).copied().flatten()
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.seqs.last().copied()
    }

    fn push(&mut self, seq: u64, body: Option<&[u8]>, leaf: Option<Option<&[u8]>>) {
        self.seqs.push(seq);
        if let Some(b) = body {
            self.bodies.extend_from_slice(b);
            self.body_ends.push(self.bodies.len());
        }
        if let Some(l) = leaf {
            self.leaves.push(l.and_then(|l| <[u8; 32]>::try_from(l).ok()));
        }
    }
}

/// Which columns a scan reads besides the sequence number.
#[derive(Debug, Clone, Copy)]
struct Columns {
    body: bool,
    leaf: bool,
}

/// Which way a scan should go through the table on PostgreSQL; the scan's connection is its own,
/// so are its planner settings. (Neither needs PostgreSQL's JIT, which compiled for a third of a
/// second before a month's read began.)
#[derive(Debug, Clone, Copy)]
enum Path {
    /// In sequence order, along the primary key, which already is in that order. Without
    /// statistics (a young table) PostgreSQL may otherwise gather the rows by bitmap and sort them
    /// on disk, four times slower.
    BySeq,
    /// A period, through the BRIN index on the time (migration 0020), never the whole table.
    ByTime,
}

impl Path {
    fn settings(self) -> &'static str {
        match self {
            Path::BySeq => "SET enable_sort = off; SET enable_bitmapscan = off; SET jit = off",
            Path::ByTime => "SET enable_sort = off; SET enable_seqscan = off; SET jit = off",
        }
    }
}

#[derive(Debug, Clone)]
enum Param {
    Int(i64),
    Text(String),
}

/// A scan under way: batches in the order the statement delivers them.
#[derive(Debug)]
pub struct LedgerScan {
    rx: mpsc::Receiver<Result<LedgerBatch>>,
}

impl LedgerScan {
    /// The next batch, or `None` when the scan is complete. Dropping the scan stops the reader.
    pub async fn next(&mut self) -> Result<Option<LedgerBatch>> {
        self.rx.recv().await.transpose()
    }
}

impl Db {
    /// Entries with `from <= seq < to` in sequence order: sequence number, body (when `bodies`)
    /// and stored leaf hash.
    pub fn scan_ledger(&self, from: u64, to: u64, bodies: bool) -> Result<LedgerScan> {
        let sql = if bodies {
            "SELECT seq, body, leaf_hash FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq"
        } else {
            "SELECT seq, leaf_hash FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq"
        };
        let to = to.min(i64::MAX as u64);
        Ok(self.spawn_scan(
            sql.to_owned(),
            vec![Param::Int(to_i64(from)?), Param::Int(to_i64(to)?)],
            Columns { body: bodies, leaf: true },
            Path::BySeq,
        ))
    }

    /// (seq, body) of every entry of these kinds whose time lies in `[from, to)`, in no particular
    /// order (nothing to sort in the database: the caller sorts what it decoded).
    pub fn scan_bodies_between(&self, kinds: &[&str], from: i64, to: i64) -> LedgerScan {
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT seq, body FROM ledger_entries WHERE at >= $1 AND at < $2 AND kind IN ({})",
            placeholders.join(", ")
        );
        let mut params = vec![Param::Int(from), Param::Int(to)];
        params.extend(kinds.iter().map(|k| Param::Text((*k).to_owned())));
        self.spawn_scan(sql, params, Columns { body: true, leaf: false }, Path::ByTime)
    }

    fn spawn_scan(&self, sql: String, params: Vec<Param>, cols: Columns, path: Path) -> LedgerScan {
        let (tx, rx) = mpsc::channel(2);
        match (self.backend, self.sqlite_file()) {
            (Backend::Sqlite, Some(path)) => {
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = sqlite_scan(&path, &sql, &params, cols, &tx) {
                        tx.blocking_send(Err(e)).ok();
                    }
                });
            }
            (Backend::Postgres, _) if let (Some(url), Some(copy)) = (self.pg_url.clone(), copy_sql(&sql, &params)) => {
                tokio::spawn(async move {
                    if let Err(e) = pg_copy_scan(&url, &copy, cols, path, &tx).await {
                        tx.send(Err(e)).await.ok();
                    }
                });
            }
            _ => {
                let pool = self.pool().clone();
                tokio::spawn(async move {
                    if let Err(e) = pool_scan(&pool, &sql, &params, cols, &tx).await {
                        tx.send(Err(e)).await.ok();
                    }
                });
            }
        }
        LedgerScan { rx }
    }

    /// The SQLite database file, when this is one on disk (not in memory).
    fn sqlite_file(&self) -> Option<PathBuf> {
        self.sqlite_path.clone()
    }
}

/// The scan on SQLite: its own read-only connection, one statement, rows packed as they come.
fn sqlite_scan(
    path: &std::path::Path,
    sql: &str,
    params: &[Param],
    cols: Columns,
    tx: &mpsc::Sender<Result<LedgerBatch>>,
) -> Result<()> {
    let conn = crate::open_sqlite(path, true)?;
    // The store writes `$n` placeholders; SQLite reads them as named parameters, bound by position.
    let mut stmt = conn.prepare(sql)?;
    for (i, p) in params.iter().enumerate() {
        match p {
            Param::Int(v) => stmt.raw_bind_parameter(i + 1, v),
            Param::Text(v) => stmt.raw_bind_parameter(i + 1, v.as_str()),
        }?;
    }
    let mut rows = stmt.raw_query();
    let mut batch = LedgerBatch::default();
    while let Some(r) = rows.next()? {
        let seq = to_u64(r.get::<_, i64>(0)?)?;
        let mut col = 1;
        let body = if cols.body {
            col += 1;
            Some(blob(r.get_ref(col - 1)?)?)
        } else {
            None
        };
        let leaf = if cols.leaf { Some(blob(r.get_ref(col)?).ok()) } else { None };
        batch.push(seq, body, leaf);
        if batch.len() == BATCH_ROWS {
            let full = std::mem::take(&mut batch);
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(()); // the caller stopped reading
            }
        }
    }
    if !batch.is_empty() {
        tx.blocking_send(Ok(batch)).ok();
    }
    Ok(())
}

fn blob(v: rusqlite::types::ValueRef<'_>) -> Result<&[u8]> {
    match v {
        rusqlite::types::ValueRef::Blob(b) => Ok(b),
        rusqlite::types::ValueRef::Null => Ok(&[]),
        _ => Err(StoreError::Corrupt("ledger column is not a blob".into())),
    }
}

/// The scan on PostgreSQL (or SQLite in memory): one statement streamed through the pool.
async fn pool_scan(
    pool: &sqlx::AnyPool,
    sql: &str,
    params: &[Param],
    cols: Columns,
    tx: &mpsc::Sender<Result<LedgerBatch>>,
) -> Result<()> {
    use futures_util::TryStreamExt;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(*v),
            Param::Text(v) => q.bind(v.clone()),
        };
    }
    let mut rows = q.fetch(pool);
    let mut batch = LedgerBatch::default();
    while let Some(r) = rows.try_next().await? {
        let seq = to_u64(r.try_get::<i64, _>(0)?)?;
        let mut col = 1;
        let body: Option<&[u8]> = if cols.body {
            col += 1;
            Some(r.try_get(col - 1)?)
        } else {
            None
        };
        let leaf = if cols.leaf { Some(r.try_get::<&[u8], _>(col).ok()) } else { None };
        batch.push(seq, body, leaf);
        if batch.len() == BATCH_ROWS && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
            return Ok(()); // the caller stopped reading
        }
    }
    if !batch.is_empty() {
        tx.send(Ok(batch)).await.ok();
    }
    Ok(())
}

/// The statement as a binary COPY, its parameters written in: integers, and texts only when they are
/// plain lowercase words (entry kinds), so that nothing needs quoting. `None`: use the pool instead.
fn copy_sql(sql: &str, params: &[Param]) -> Option<String> {
    let mut out = sql.to_owned();
    // From the highest number down, so that `$1` does not match the start of `$10`.
    for (i, p) in params.iter().enumerate().rev() {
        let value = match p {
            Param::Int(v) => v.to_string(),
            Param::Text(t) if crate::ledger::plain_word(t) => {
                format!("'{t}'")
            }
            Param::Text(_) => return None,
        };
        out = out.replace(&format!("${}", i + 1), &value);
    }
    Some(format!("COPY ({out}) TO STDOUT (FORMAT binary)"))
}

/// The scan on PostgreSQL: its own read-only connection, one binary COPY.
async fn pg_copy_scan(
    url: &crate::PgUrl,
    copy: &str,
    cols: Columns,
    path: Path,
    tx: &mpsc::Sender<Result<LedgerBatch>>,
) -> Result<()> {
    use futures_util::TryStreamExt;
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::postgres::PgConnection::connect(url.as_str()).await.map_err(StoreError::unavailable)?;
    let settings = format!("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; {}", path.settings());
    conn.execute(sqlx::AssertSqlSafe(settings)).await?;
    let mut parser = CopyParser::default();
    let mut batch = LedgerBatch::default();
    {
        let mut stream = conn.copy_out_raw(copy).await?;
        while let Some(chunk) = stream.try_next().await? {
            parser.buf.extend_from_slice(&chunk);
            while let Some(fields) = parser.next_row()? {
                let [seq, second, third] = fields;
                let seq = seq
                    .and_then(|(a, b)| <[u8; 8]>::try_from(&parser.buf[a..b]).ok())
                    .map(i64::from_be_bytes)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| StoreError::Corrupt("ledger position".into()))?;
                let field = |f: Option<(usize, usize)>| f.map_or(&[][..], |(a, b)| &parser.buf[a..b]);
                let body = cols.body.then(|| field(second));
                let leaf = match (cols.body, cols.leaf) {
                    (true, true) => Some(third.map(|(a, b)| &parser.buf[a..b])),
                    (false, true) => Some(second.map(|(a, b)| &parser.buf[a..b])),
                    (_, false) => None,
                };
                batch.push(seq, body, leaf);
                parser.consume();
                if batch.len() == BATCH_ROWS && tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                    return Ok(()); // the caller stopped reading
                }
            }
            parser.compact();
        }
    }
    conn.close().await.ok();
    if !batch.is_empty() {
        tx.send(Ok(batch)).await.ok();
    }
    Ok(())
}

/// PostgreSQL's binary COPY format, read incrementally: a signature and header, then per row a field
/// count (−1 ends the data) and per field a length (−1 for NULL) and the bytes.
#[derive(Debug, Default)]
struct CopyParser {
    buf: Vec<u8>,
    /// Where the next row starts.
    pos: usize,
    /// Where the row last returned ends.
    row_end: usize,
    header_done: bool,
}

const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl CopyParser {
    fn be_i32(&self, at: usize) -> Option<i32> {
        self.buf.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(i32::from_be_bytes)
    }

    /// The next complete row's first three fields as ranges into `buf` (`None` for NULL or absent),
    /// or `None` when the buffer does not yet hold a whole row.
    #[allow(clippy::type_complexity)]
    fn next_row(&mut self) -> Result<Option<[Option<(usize, usize)>; 3]>> {
        let bad = || StoreError::Corrupt("unexpected COPY data from PostgreSQL".into());
        if !self.header_done {
            let fixed = COPY_SIGNATURE.len() + 8;
            if self.buf.len() < fixed {
                return Ok(None);
            }
            if &self.buf[..COPY_SIGNATURE.len()] != COPY_SIGNATURE {
                return Err(bad());
            }
            let ext = usize::try_from(self.be_i32(COPY_SIGNATURE.len() + 4).ok_or_else(bad)?).map_err(|_| bad())?;
            if self.buf.len() < fixed + ext {
                return Ok(None);
            }
            self.pos = fixed + ext;
            self.header_done = true;
        }
        let Some(count) = self.buf.get(self.pos..self.pos + 2) else { return Ok(None) };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count < 0 {
            return Ok(None); // the trailer: no more rows
        }
        let mut at = self.pos + 2;
        let mut fields = [None; 3];
        for i in 0..usize::try_from(count).map_err(|_| bad())? {
            let Some(len) = self.be_i32(at) else { return Ok(None) };
            at += 4;
            let range = if len < 0 {
                None
            } else {
                let len = usize::try_from(len).map_err(|_| bad())?;
                if self.buf.len() < at + len {
                    return Ok(None);
                }
                at += len;
                Some((at - len, at))
            };
            if let Some(f) = fields.get_mut(i) {
                *f = range;
            }
        }
        self.row_end = at;
        Ok(Some(fields))
    }

    /// Moves past the row last returned.
    fn consume(&mut self) {
        self.pos = self.row_end;
    }

    /// Drops the bytes of rows already read.
    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.row_end = self.row_end.saturating_sub(self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    #[test]
    fn binary_copy_rows_are_read_whatever_the_chunking() {
        let mut data = COPY_SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend(row(&[Some(&7i64.to_be_bytes()), Some(b"body"), Some(&[1u8; 32])]));
        data.extend(row(&[Some(&8i64.to_be_bytes()), None, Some(&[2u8; 3])]));
        data.extend_from_slice(&(-1i16).to_be_bytes());
        for chunk in [1, 3, 7, data.len()] {
            let mut p = CopyParser::default();
            let mut seen = Vec::new();
            for piece in data.chunks(chunk) {
                p.buf.extend_from_slice(piece);
                while let Some([a, b, c]) = p.next_row().unwrap() {
                    let get = |f: Option<(usize, usize)>| f.map(|(x, y)| p.buf[x..y].to_vec());
                    seen.push((get(a), get(b), get(c)));
                    p.consume();
                }
                p.compact();
            }
            assert_eq!(seen.len(), 2, "chunks of {chunk}");
            assert_eq!(seen[0].1.as_deref(), Some(&b"body"[..]));
            assert_eq!(seen[1].0.as_deref(), Some(&8i64.to_be_bytes()[..]));
            assert_eq!(seen[1].1, None);
        }
    }

    #[test]
    fn only_plain_words_are_written_into_a_copy() {
        let p = [Param::Int(5), Param::Int(-3), Param::Text("query_outcome".into())];
        let sql = copy_sql("SELECT seq FROM t WHERE a >= $1 AND b < $2 AND kind IN ($3)", &p).unwrap();
        assert!(sql.contains("a >= 5 AND b < -3 AND kind IN ('query_outcome')"), "{sql}");
        assert!(copy_sql("SELECT $1", &[Param::Text("x'; DROP".into())]).is_none());
    }
}
