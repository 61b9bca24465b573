//! The ledger's rows: entries (canonical bytes and leaf hash, with the time, kind and actor beside
//! them for searching), the head (size and Merkle frontier), and signed checkpoints. This module
//! only stores and reads; encoding, hashing and signing are the `ledger` crate's, sequencing is
//! `app`'s. Nothing here updates or deletes an entry.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Db, Result, StoreError, Tx};

/// One entry row. `body` is the canonical encoding; the other columns repeat parts of it so that
/// the log can be searched without decoding every entry (they are never trusted for display).
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub seq: u64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub body: Vec<u8>,
    pub leaf_hash: Vec<u8>,
}

/// The tree after the last entry: its size and its frontier (see `nhiguard_ledger::Frontier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerHead {
    pub size: u64,
    pub frontier: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub at: i64,
    pub root: String,
    pub text: String,
}

pub(crate) fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative ledger position".into()))
}

pub(crate) fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("ledger position out of range".into()))
}

fn row(r: &AnyRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        seq: to_u64(r.try_get("seq")?)?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        actor: r.try_get("actor")?,
        body: r.try_get("body")?,
        leaf_hash: r.try_get("leaf_hash")?,
    })
}

fn checkpoint(r: &AnyRow) -> Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: to_u64(r.try_get("size")?)?,
        at: r.try_get("at")?,
        root: r.try_get("root")?,
        text: r.try_get("text")?,
    })
}

/// Rows per INSERT statement: well under both databases' limits on bound parameters.
const INSERT_CHUNK: usize = 500;

impl Tx {
    /// The head, locked until this transaction ends so that appenders take turns — within one
    /// process and across several sharing one PostgreSQL. (SQLite's `BEGIN IMMEDIATE` already holds
    /// the database's single write lock.)
    /// The row exists from the migration on (0018); a missing row means the table was tampered
    /// with, and appending stops rather than starting a second log at 0.
    pub async fn ledger_head(&mut self) -> Result<LedgerHead> {
        let sql = match self.backend() {
            Backend::Sqlite => crate::append::HEAD_SELECT,
            Backend::Postgres => crate::append::HEAD_SELECT_LOCKED,
        };
        let r = sqlx::query(sql).fetch_one(self.conn()).await?;
        Ok(LedgerHead { size: to_u64(r.try_get("size")?)?, frontier: r.try_get("frontier")? })
    }

    /// Appends rows that continue the log from the head read in this transaction, and moves the
    /// head. The rows' sequence numbers must start at the old size and be contiguous; the primary
    /// key refuses a second writer's duplicate should the lock ever be bypassed.
    pub async fn ledger_append(&mut self, rows: &[LedgerRow], new_head: &LedgerHead) -> Result<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut sql = String::from(crate::append::ENTRY_INSERT);
            for i in 0..chunk.len() {
                let b = i * 6;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(to_i64(r.seq)?)
                    .bind(r.at)
                    .bind(r.kind.clone())
                    .bind(r.actor.clone())
                    .bind(r.body.clone())
                    .bind(r.leaf_hash.clone());
            }
            q.execute(self.conn()).await.map_err(StoreError::conflict_on("ledger sequence number"))?;
        }
        sqlx::query(crate::append::HEAD_UPDATE)
            .bind(to_i64(new_head.size)?)
            .bind(new_head.frontier.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<()> {
        sqlx::query("INSERT INTO ledger_checkpoints (size, at, root, text) VALUES ($1, $2, $3, $4)")
            .bind(to_i64(c.size)?)
            .bind(c.at)
            .bind(&c.root)
            .bind(&c.text)
            .execute(self.conn())
            .await
            .map_err(StoreError::conflict_on("checkpoint size"))?;
        Ok(())
    }
}

/// A verification of the whole log, as recorded (migration 0022).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVerification {
    pub at: i64,
    pub username: String,
    pub entries: u64,
    pub checkpoints: u64,
    /// The first failure's code and message; `None` when everything held.
    pub failure: Option<(String, String)>,
    /// The ledger entry that records it.
    pub entry_seq: u64,
}

impl Tx {
    pub async fn insert_verification(&mut self, v: &StoredVerification) -> Result<()> {
        let (code, message) = v.failure.clone().unzip();
        sqlx::query(
            "INSERT INTO ledger_verifications (at, username, entries, checkpoints, failure_code, failure_message, \
             entry_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(v.at)
        .bind(&v.username)
        .bind(to_i64(v.entries)?)
        .bind(to_i64(v.checkpoints)?)
        .bind(code)
        .bind(message)
        .bind(to_i64(v.entry_seq)?)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Db {
    /// The most recent verifications, newest first.
    pub async fn verifications(&self, limit: u64) -> Result<Vec<StoredVerification>> {
        let rows = sqlx::query(
            "SELECT at, username, entries, checkpoints, failure_code, failure_message, entry_seq \
             FROM ledger_verifications ORDER BY id DESC LIMIT $1",
        )
        .bind(to_i64(limit)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let code: Option<String> = r.try_get("failure_code")?;
                let message: Option<String> = r.try_get("failure_message")?;
                Ok(StoredVerification {
                    at: r.try_get("at")?,
                    username: r.try_get("username")?,
                    entries: to_u64(r.try_get("entries")?)?,
                    checkpoints: to_u64(r.try_get("checkpoints")?)?,
                    failure: code.map(|c| (c, message.unwrap_or_default())),
                    entry_seq: to_u64(r.try_get("entry_seq")?)?,
                })
            })
            .collect()
    }
}

impl Db {
    /// How many entries the log holds, by its head.
    pub async fn ledger_size(&self) -> Result<u64> {
        let r = sqlx::query("SELECT size FROM ledger_head WHERE id = 1").fetch_optional(self.pool()).await?;
        match r {
            Some(r) => to_u64(r.try_get("size")?),
            None => Ok(0),
        }
    }

    /// Entries from `from` on, in sequence order, at most `limit` of them. Large ordered batches
    /// are what makes verification fast: reading costs more than hashing.
    pub async fn ledger_rows(&self, from: u64, limit: u64) -> Result<Vec<LedgerRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, actor, body, leaf_hash FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(to_i64(from)?)
        .bind(to_i64(limit)?)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// One entry by its sequence number.
    pub async fn ledger_row(&self, seq: u64) -> Result<LedgerRow> {
        let r = sqlx::query("SELECT seq, at, kind, actor, body, leaf_hash FROM ledger_entries WHERE seq = $1")
            .bind(to_i64(seq)?)
            .fetch_one(self.pool())
            .await?;
        row(&r)
    }

    /// The newest entries of the given kinds, newest first.
    pub async fn ledger_recent(&self, kinds: &[&str], limit: u64) -> Result<Vec<LedgerRow>> {
        // Entry kinds are plain lowercase words, written into the statement as they are: on
        // PostgreSQL the rarer kinds have an index of their own (migration 0020) that the planner
        // can choose only when it sees which kinds are asked for. Anything else is bound.
        let (list, bound): (Vec<String>, &[&str]) = if kinds.iter().all(|k| plain_word(k)) {
            (kinds.iter().map(|k| format!("'{k}'")).collect(), &[])
        } else {
            ((0..kinds.len()).map(|i| format!("${}", i + 1)).collect(), kinds)
        };
        let sql = format!(
            "SELECT seq, at, kind, actor, body, leaf_hash FROM ledger_entries WHERE kind IN ({}) ORDER BY seq DESC LIMIT ${}",
            list.join(", "),
            bound.len() + 1
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for k in bound {
            q = q.bind(*k);
        }
        let rows = q.bind(to_i64(limit)?).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// Every checkpoint, smallest first.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query("SELECT size, at, root, text FROM ledger_checkpoints ORDER BY size")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(checkpoint).collect()
    }

    /// The smallest checkpoint that covers entry `seq`, if one does, with the entry's body (`None`
    /// when the entry is missing) — one statement, since a proof is a few keyed reads and the
    /// round trips are most of its time.
    pub async fn checkpoint_covering(&self, seq: u64) -> Result<Option<(StoredCheckpoint, Option<Vec<u8>>)>> {
        let r = sqlx::query(
            "SELECT c.size, c.at, c.root, c.text, e.body FROM \
             (SELECT size, at, root, text FROM ledger_checkpoints WHERE size > $1 ORDER BY size LIMIT 1) c \
             LEFT JOIN ledger_entries e ON e.seq = $2",
        )
        .bind(to_i64(seq)?)
        .bind(to_i64(seq)?)
        .fetch_optional(self.pool())
        .await?;
        r.map(|r| Ok((checkpoint(&r)?, r.try_get("body")?))).transpose()
    }

    /// The sizes of the checkpoints larger than `after` (all, for `None`), smallest first.
    pub async fn checkpoint_sizes_after(&self, after: Option<u64>) -> Result<Vec<u64>> {
        let after = after.map(to_i64).transpose()?.unwrap_or(-1);
        let rows = sqlx::query("SELECT size FROM ledger_checkpoints WHERE size > $1 ORDER BY size")
            .bind(after)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| to_u64(r.try_get("size")?)).collect()
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let r = sqlx::query("SELECT size, at, root, text FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        r.as_ref().map(checkpoint).transpose()
    }
}

impl Db {
    /// How many entries of `kind` one actor wrote in `[from, to)` (through the `(actor, at)` index).
    pub async fn count_by_actor(&self, actor: &str, kind: &str, from: i64, to: i64) -> Result<u64> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM ledger_entries WHERE actor = $1 AND at >= $2 AND at < $3 AND kind = $4",
        )
        .bind(actor)
        .bind(from)
        .bind(to)
        .bind(kind)
        .fetch_one(self.pool())
        .await?;
        to_u64(r.try_get("n")?)
    }

    /// One actor's newest entries of the given kinds, newest first.
    pub async fn ledger_by_actor(&self, actor: &str, kinds: &[&str], limit: u64) -> Result<Vec<LedgerRow>> {
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT seq, at, kind, actor, body, leaf_hash FROM ledger_entries WHERE actor = $1 AND kind IN ({}) \
             ORDER BY seq DESC LIMIT ${}",
            placeholders.join(", "),
            kinds.len() + 2
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(actor);
        for k in kinds {
            q = q.bind(*k);
        }
        let rows = q.bind(to_i64(limit)?).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }
}

impl Db {
    /// (seq, body) of every entry of these kinds in `[from, to)`, in no particular order: the
    /// lean read of a whole period (a month's review reads 200,000 rows), with nothing to sort in
    /// the database and nothing decoded twice.
    pub async fn ledger_bodies_between(&self, kinds: &[&str], from: i64, to: i64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each_body_between(kinds, from, to, |seq, body| {
            out.push((seq, body.to_vec()));
            Ok::<(), StoreError>(())
        })
        .await?;
        Ok(out)
    }

    /// As [`Db::ledger_bodies_between`], handing each (seq, body) to `each` as the database
    /// delivers it, so that the caller decodes while the database reads (the read runs on a
    /// thread or task of its own, see `scan`).
    pub async fn for_each_body_between<E: From<StoreError>>(
        &self,
        kinds: &[&str],
        from: i64,
        to: i64,
        mut each: impl FnMut(u64, &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut scan = self.scan_bodies_between(kinds, from, to);
        while let Some(batch) = scan.next().await? {
            for i in 0..batch.len() {
                each(batch.seq(i), batch.body(i))?;
            }
        }
        Ok(())
    }

    /// Entries of the given kinds whose time lies in `[from, to)` (UTC microseconds), oldest
    /// first, at most `limit` of them.
    pub async fn ledger_between(&self, kinds: &[&str], from: i64, to: i64, limit: u64) -> Result<Vec<LedgerRow>> {
        let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT seq, at, kind, actor, body, leaf_hash FROM ledger_entries WHERE at >= $1 AND at < $2 AND kind IN ({}) \
             ORDER BY seq LIMIT ${}",
            placeholders.join(", "),
            kinds.len() + 3
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
        for k in kinds {
            q = q.bind(*k);
        }
        let rows = q.bind(to_i64(limit)?).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }
}

/// Whether `text` is a plain lowercase word (letters and `_`), as every entry kind is: such a text
/// may be written into a statement as a literal, nothing in it needing quoting.
pub(crate) fn plain_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A signed statement that entries below `below` had their content removed.
#[derive(Debug, Clone)]
pub struct StoredPrune {
    pub below: u64,
    pub at: i64,
    pub text: String,
}

impl Db {
    /// The first entry at or after `at` (UTC microseconds), or the size when there is none.
    pub async fn ledger_first_at_or_after(&self, at: i64) -> Result<u64> {
        let r = sqlx::query("SELECT MIN(seq) AS s FROM ledger_entries WHERE at >= $1")
            .bind(at)
            .fetch_one(self.pool())
            .await?;
        match r.try_get::<Option<i64>, _>("s")? {
            Some(s) => to_u64(s),
            None => self.ledger_size().await,
        }
    }

    pub async fn prunes(&self) -> Result<Vec<StoredPrune>> {
        let rows =
            sqlx::query("SELECT below, at, text FROM ledger_prunes ORDER BY below").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(StoredPrune { below: to_u64(r.try_get("below")?)?, at: r.try_get("at")?, text: r.try_get("text")? })
            })
            .collect()
    }
}

impl Tx {
    /// Records a prune statement and clears the content of every entry below it; sequence numbers,
    /// times, kinds, actors and leaf hashes stay. Returns how many entries were cleared.
    pub async fn prune_ledger(&mut self, p: &StoredPrune) -> Result<u64> {
        sqlx::query("INSERT INTO ledger_prunes (below, at, text) VALUES ($1, $2, $3)")
            .bind(to_i64(p.below)?)
            .bind(p.at)
            .bind(&p.text)
            .execute(self.conn())
            .await
            .map_err(StoreError::conflict_on("prune boundary"))?;
        let done = sqlx::query("UPDATE ledger_entries SET body = $1 WHERE seq < $2 AND length(body) > 0")
            .bind(Vec::<u8>::new())
            .bind(to_i64(p.below)?)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected())
    }
}

/// One stored tile of subtree roots (`nhiguard_ledger::TileId`): band, index, its bytes.
pub type LedgerTile = (u32, u64, Vec<u8>);

impl Tx {
    /// How far the subtree roots are filled in, locked until this transaction ends.
    pub async fn ledger_nodes_head(&mut self) -> Result<LedgerHead> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT size, frontier FROM ledger_nodes_head WHERE id = 1",
            Backend::Postgres => "SELECT size, frontier FROM ledger_nodes_head WHERE id = 1 FOR UPDATE",
        };
        let r = sqlx::query(sql).fetch_one(self.conn()).await?;
        Ok(LedgerHead { size: to_u64(r.try_get("size")?)?, frontier: r.try_get("frontier")? })
    }

    /// The stored tiles among `keys` (band, index), in this transaction.
    pub async fn ledger_tiles(&mut self, keys: &[(u32, u64)]) -> Result<Vec<LedgerTile>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let cond: Vec<String> =
            (0..keys.len()).map(|i| format!("(band = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2)).collect();
        let sql = format!("SELECT band, idx, hashes FROM ledger_tiles WHERE {}", cond.join(" OR "));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (band, index) in keys {
            q = q.bind(i64::from(*band)).bind(to_i64(*index)?);
        }
        q.fetch_all(self.conn()).await?.iter().map(tile).collect()
    }

    /// Stores tiles of subtree roots — new ones, and those partly filled before, whole — and moves the
    /// fill mark.
    pub async fn ledger_nodes_extend(&mut self, tiles: &[LedgerTile], head: &LedgerHead) -> Result<()> {
        for chunk in tiles.chunks(INSERT_CHUNK) {
            let mut sql = String::from("INSERT INTO ledger_tiles (band, idx, hashes) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 3;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${})", b + 1, b + 2, b + 3));
            }
            sql.push_str(" ON CONFLICT (band, idx) DO UPDATE SET hashes = excluded.hashes");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (band, index, hashes) in chunk {
                q = q.bind(i64::from(*band)).bind(to_i64(*index)?).bind(hashes.clone());
            }
            q.execute(self.conn()).await?;
        }
        sqlx::query("UPDATE ledger_nodes_head SET size = $1, frontier = $2 WHERE id = 1")
            .bind(to_i64(head.size)?)
            .bind(head.frontier.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Db {
    /// How many leaves the stored subtree roots cover.
    pub async fn ledger_nodes_size(&self) -> Result<u64> {
        let r = sqlx::query("SELECT size FROM ledger_nodes_head WHERE id = 1").fetch_optional(self.pool()).await?;
        r.map_or(Ok(0), |r| to_u64(r.try_get("size")?))
    }

    /// What an inclusion proof reads, in one statement: these tiles of subtree roots (band, index) and
    /// the leaf hashes of these entries (those missing are left out). One round trip, not two: a proof
    /// is a handful of keyed reads, so the trips are most of its time.
    pub async fn ledger_proof_material(
        &self,
        tiles: &[(u32, u64)],
        seqs: &[u64],
    ) -> Result<(Vec<LedgerTile>, Vec<(u64, Vec<u8>)>)> {
        let mut parts = Vec::new();
        let mut n = 0;
        let mut mark = || {
            n += 1;
            format!("${n}")
        };
        // The lists are padded with keys no row has (-1) to a few fixed lengths, so that the
        // statement's text — hence its prepared form, kept per connection — is one of a handful
        // rather than one per proof shape: preparing anew cost a round trip of its own.
        let (tile_slots, seq_slots) = (padded(tiles.len(), 8), padded(seqs.len(), 32));
        if tile_slots > 0 {
            let cond: Vec<String> =
                (0..tile_slots).map(|_| format!("(band = {} AND idx = {})", mark(), mark())).collect();
            parts.push(format!("SELECT band, idx, hashes FROM ledger_tiles WHERE {}", cond.join(" OR ")));
        }
        if seq_slots > 0 {
            // A list of keys, not ranges: PostgreSQL, unsure how many rows a few short ranges hold,
            // guessed a hundred thousand and compiled the query (JIT) for a quarter of a second.
            let keys: Vec<String> = (0..seq_slots).map(|_| mark()).collect();
            parts.push(format!(
                "SELECT -1 AS band, seq AS idx, leaf_hash AS hashes FROM ledger_entries WHERE seq IN ({})",
                keys.join(", ")
            ));
        }
        if parts.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(parts.join(" UNION ALL ")));
        for (band, index) in tiles {
            q = q.bind(i64::from(*band)).bind(to_i64(*index)?);
        }
        for _ in tiles.len()..tile_slots {
            q = q.bind(-1_i64).bind(-1_i64);
        }
        for s in seqs {
            q = q.bind(to_i64(*s)?);
        }
        for _ in seqs.len()..seq_slots {
            q = q.bind(-1_i64);
        }
        let (mut tiles, mut leaves) = (Vec::new(), Vec::new());
        for r in q.fetch_all(self.pool()).await? {
            match tile(&r)? {
                (band, index, hashes) if band != u32::MAX => tiles.push((band, index, hashes)),
                (_, seq, hash) => leaves.push((seq, hash)),
            }
        }
        Ok((tiles, leaves))
    }
}

/// A tile row; a band of -1 (a leaf hash in [`Db::ledger_proof_material`]) comes back as `u32::MAX`.
fn tile(r: &AnyRow) -> Result<LedgerTile> {
    let band: i64 = r.try_get("band")?;
    Ok((u32::try_from(band).unwrap_or(u32::MAX), to_u64(r.try_get("idx")?)?, r.try_get("hashes")?))
}

/// `n` rounded up to a multiple of `step` (0 stays 0).
fn padded(n: usize, step: usize) -> usize {
    n.div_ceil(step) * step
}
