//! End-to-end verification of a stored log against its signed checkpoints (R-LOG-2).
//!
//! The store hands the [`Verifier`] its rows in sequence order, in batches of any size; the verifier keeps
//! only a [`Frontier`] (at most 64 hashes) and the checkpoints, so memory does not grow with the log. For
//! each entry it checks that the sequence is contiguous from 0, that the stored bytes are a canonical entry
//! carrying that same sequence number, and that the stored leaf hash (if the store kept one) matches the
//! bytes. Whenever the tree reaches a checkpoint's size it checks the checkpoint's origin, its signature by
//! the deployment's public key, and that its root equals the recomputed root. A checkpoint larger than the
//! log means entries were cut from the end.
//!
//! Successive checkpoints are consistent with each other exactly when each one's root equals the root the
//! verifier recomputed at its size from the one sequence of entries, so no separate consistency proof is
//! needed (proofs serve parties that do not hold the entries; see `merkle`).
//!
//! Leaves of a batch are hashed on two threads, cut into aligned complete subtrees so that both threads'
//! work drops straight into the frontier.
//!
//! This module must never log or print entry contents; failures name sequence numbers and checkpoint sizes
//! only.

use std::fmt;

use serde::Serialize;

use crate::checkpoint::{SignedCheckpoint, origin_for};
use crate::entry::Entry;
use crate::error::{LedgerError, Result};
use crate::hash::{Hash, leaf_hash};
use crate::key::PublicKey;
use crate::merkle::{Frontier, pieces};

/// Below this many entries in a stretch, hashing on a second thread costs more than it saves.
const PARALLEL_MIN: usize = 4096;

/// One stored row as the verifier needs it.
#[derive(Clone, Copy, Debug)]
pub struct StoredEntry<'a> {
    /// The row's sequence number.
    pub seq: u64,
    /// The entry's canonical bytes as stored.
    pub bytes: &'a [u8],
    /// The leaf hash the store kept beside the bytes, if it keeps one.
    pub leaf_hash: Option<Hash>,
}

/// The first thing found wrong with a stored log. Sequence numbers count from 0, as stored. Each has a
/// stable [`code`](VerifyFailure::code) and a message in Traditional Chinese, then English.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum VerifyFailure {
    /// A sequence number was skipped: the entry was deleted.
    EntryMissing { seq: u64 },
    /// A sequence number came a second time.
    EntryDuplicated { seq: u64 },
    /// A sequence number came after a larger one.
    EntryOutOfOrder { seq: u64, after: u64 },
    /// The stored bytes are not a valid entry.
    EntryUnreadable { seq: u64, reason: String },
    /// The bytes are a valid entry, but of another position: moved or inserted.
    EntrySeqMismatch { seq: u64, encoded: u64 },
    /// The bytes do not hash to the stored leaf hash: the content was changed.
    EntryHashMismatch { seq: u64 },
    /// A checkpoint belongs to another log.
    CheckpointWrongOrigin { size: u64, found: String, expected: String },
    /// A checkpoint's signature is missing, invalid or by another key.
    CheckpointBadSignature { size: u64, reason: String },
    /// The first `size` entries do not hash to the checkpoint's root: some were changed, removed or inserted.
    CheckpointRootMismatch { size: u64 },
    /// A validly signed checkpoint covers more entries than the log holds: its tail was cut.
    TailCut { checkpoint_size: u64, entries: u64 },
    /// Entries below `below` had their content removed, but no signed checkpoint covering them
    /// verifies, so nothing binds what was removed.
    PruneUnanchored { below: u64 },
    /// A prune statement removed entries younger than the retention the law sets: entries from
    /// `checkpoint_size` on were written after a checkpoint signed less than [`RETENTION_YEARS`]
    /// before the statement — or the statement is dated after the verification (`checkpoint_size`
    /// then equals `below`).
    PrunedEarly { below: u64, checkpoint_size: u64 },
}

/// The fewest years entries are kept whole (R-LOG-2; a county may keep them longer).
pub const RETENTION_YEARS: i64 = 5;

/// A prune statement's date may run ahead of the verifier's clock by this much (clocks differ).
const CLOCK_SLACK_SECS: i64 = 86_400;

/// Is a prune statement (`prune`: its size is the boundary, its time when it was made) no earlier
/// than the law allows, as far as `checkpoints` can tell? Entries from a checkpoint's size on were
/// written after it was signed, so a prune reaching past that size must come at least
/// [`RETENTION_YEARS`] (of 365 days) after it; and no statement may be dated after `now_secs`. A
/// checkpoint handed out of the deployment (printed, given to the ethics unit) makes this hold even
/// against someone holding the signing key, as long as the verifier's clock is right.
pub fn check_prune_timing(
    prune: &crate::checkpoint::Checkpoint,
    checkpoints: &[&crate::checkpoint::Checkpoint],
    now_secs: i64,
) -> std::result::Result<(), VerifyFailure> {
    let below = prune.size();
    if prune.at_secs() > now_secs.saturating_add(CLOCK_SLACK_SECS) {
        return Err(VerifyFailure::PrunedEarly { below, checkpoint_size: below });
    }
    let min_age = RETENTION_YEARS * 365 * 86_400;
    let latest_before = checkpoints.iter().filter(|c| c.size() < below).max_by_key(|c| c.at_secs());
    match latest_before {
        Some(c) if prune.at_secs() < c.at_secs().saturating_add(min_age) => {
            Err(VerifyFailure::PrunedEarly { below, checkpoint_size: c.size() })
        }
        _ => Ok(()),
    }
}

impl VerifyFailure {
    /// A stable code a help desk can quote.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyFailure::EntryMissing { .. } => "entry_missing",
            VerifyFailure::EntryDuplicated { .. } => "entry_duplicated",
            VerifyFailure::EntryOutOfOrder { .. } => "entry_out_of_order",
            VerifyFailure::EntryUnreadable { .. } => "entry_unreadable",
            VerifyFailure::EntrySeqMismatch { .. } => "entry_seq_mismatch",
            VerifyFailure::EntryHashMismatch { .. } => "entry_hash_mismatch",
            VerifyFailure::CheckpointWrongOrigin { .. } => "checkpoint_wrong_origin",
            VerifyFailure::CheckpointBadSignature { .. } => "checkpoint_bad_signature",
            VerifyFailure::CheckpointRootMismatch { .. } => "checkpoint_root_mismatch",
            VerifyFailure::TailCut { .. } => "tail_cut",
            VerifyFailure::PruneUnanchored { .. } => "prune_unanchored",
            VerifyFailure::PrunedEarly { .. } => "pruned_early",
        }
    }

    /// The message, Traditional Chinese then English.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyFailure::EntryMissing { seq } => {
                write!(f, "第 {seq} 筆紀錄遺失 / entry {seq} is missing")
            }
            VerifyFailure::EntryDuplicated { seq } => {
                write!(f, "第 {seq} 筆紀錄重複出現 / entry {seq} appears more than once")
            }
            VerifyFailure::EntryOutOfOrder { seq, after } => write!(
                f,
                "第 {seq} 筆紀錄出現在第 {after} 筆之後，順序錯亂 / entry {seq} comes after entry {after}: out of order"
            ),
            VerifyFailure::EntryUnreadable { seq, reason } => write!(
                f,
                "第 {seq} 筆紀錄內容無法解讀 / entry {seq}: the stored bytes are not a valid entry ({reason})"
            ),
            VerifyFailure::EntrySeqMismatch { seq, encoded } => write!(
                f,
                "第 {seq} 筆紀錄的內容屬於第 {encoded} 筆，紀錄被搬移或插入 / entry {seq}: its content is that of \
                 entry {encoded}: an entry was moved or inserted"
            ),
            VerifyFailure::EntryHashMismatch { seq } => {
                write!(f, "第 {seq} 筆紀錄內容與雜湊不符 / entry {seq}: content does not match its hash")
            }
            VerifyFailure::CheckpointWrongOrigin { size, found, expected } => write!(
                f,
                "大小為 {size} 的檢查點屬於 {found}，不是本系統的 {expected} / checkpoint at size {size} belongs to \
                 log {found}, not {expected}"
            ),
            VerifyFailure::CheckpointBadSignature { size, reason } => write!(
                f,
                "大小為 {size} 的檢查點簽章無效 / checkpoint at size {size}: the signature is not valid for this \
                 public key ({reason})"
            ),
            VerifyFailure::CheckpointRootMismatch { size } => write!(
                f,
                "前 {size} 筆紀錄與大小為 {size} 的檢查點不符，有紀錄被修改、刪除或插入 / the first {size} entries do \
                 not match the checkpoint at size {size}: entries were changed, removed or inserted"
            ),
            VerifyFailure::TailCut { checkpoint_size, entries } => write!(
                f,
                "日誌只有 {entries} 筆紀錄，但已簽署的檢查點涵蓋 {checkpoint_size} 筆：自第 {entries} 筆起的紀錄遭截除 / \
                 the log holds {entries} entries but a signed checkpoint covers {checkpoint_size}: entries from \
                 {entries} on were cut off"
            ),
            VerifyFailure::PruneUnanchored { below } => write!(
                f,
                "第 0 至 {below} 筆前之紀錄內容已移除，卻無涵蓋它們的已簽章檢查點 / the content of entries below {below} \
                 was removed, but no signed checkpoint covering them verifies"
            ),
            VerifyFailure::PrunedEarly { below, checkpoint_size } if below == checkpoint_size => write!(
                f,
                "移除第 {below} 筆前紀錄之聲明，日期晚於驗證時間，保存年限無從確認 / the statement that removed the \
                 entries below {below} is dated after this verification: their retention cannot have been kept"
            ),
            VerifyFailure::PrunedEarly { below, checkpoint_size } => write!(
                f,
                "第 {checkpoint_size} 至 {below} 筆前之紀錄寫於某一檢查點之後未滿 {RETENTION_YEARS} 年即被移除 / the \
                 entries from {checkpoint_size} to below {below} were written after a signed checkpoint and removed \
                 less than {RETENTION_YEARS} years after it"
            ),
        }
    }
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries that passed every check before the first failure (all of them when there is none).
    pub entries_checked: u64,
    /// Checkpoints whose origin, signature and root were checked and found right.
    pub checkpoints_checked: u64,
    /// Size of the largest checkpoint found right: entries past it are checked only against themselves.
    pub signed_size: u64,
    /// Merkle root of the whole log, when it verified.
    pub root: Option<Hash>,
    /// The first failure, if any.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Streams a stored log through every check. Feed batches in sequence order with [`Verifier::feed`], then
/// call [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    origin: String,
    key: PublicKey,
    /// Sorted by size; `next` is the first not yet reached.
    checkpoints: Vec<SignedCheckpoint>,
    next: usize,
    frontier: Frontier,
    checkpoints_checked: u64,
    signed_size: u64,
    /// Entries checked when a failure stopped the run; `None` while running.
    stopped_at: Option<u64>,
    /// Entries below this may have had their content removed under retention (see
    /// [`Verifier::allow_pruned_below`]).
    pruned_below: u64,
    failure: Option<VerifyFailure>,
}

impl Verifier {
    /// A verifier for the log of `deployment_id`, checking `checkpoints` (any order) against `key`.
    pub fn new(deployment_id: &str, key: PublicKey, mut checkpoints: Vec<SignedCheckpoint>) -> Result<Verifier> {
        let origin = origin_for(deployment_id)?;
        checkpoints.sort_by_key(|c| c.checkpoint().size());
        let mut v = Verifier {
            origin,
            key,
            checkpoints,
            next: 0,
            frontier: Frontier::new(),
            checkpoints_checked: 0,
            signed_size: 0,
            stopped_at: None,
            pruned_below: 0,
            failure: None,
        };
        v.check_reached_checkpoints();
        Ok(v)
    }

    /// Accepts that the content of entries below `below` was removed under the retention rules
    /// (R-LOG-2): such rows have empty bytes and count by their stored leaf hash. The caller must
    /// have checked the signed prune statement that names `below`; the run fails unless a signed
    /// checkpoint covering `below` verifies, since only that binds the removed entries' hashes.
    pub fn allow_pruned_below(&mut self, below: u64) {
        self.pruned_below = self.pruned_below.max(below);
    }

    /// Checks the next batch of rows. Returns `false` once a failure has been found: the caller may stop
    /// reading, as later batches are ignored.
    pub fn feed(&mut self, batch: &[StoredEntry<'_>]) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let start = self.frontier.size();
        // Contiguity first, cheaply and serially: only the contiguous prefix is hashed.
        let mut seq_failure = None;
        let mut good = batch.len();
        for (i, e) in batch.iter().enumerate() {
            let expected = start + i as u64;
            if e.seq != expected {
                seq_failure = Some(sequence_failure(e.seq, expected));
                good = i;
                break;
            }
        }
        // Hash in stretches that end at checkpoint sizes, so each checkpoint is checked at its size.
        let mut done = 0usize;
        while done < good {
            let pos = start + done as u64;
            let limit = self.checkpoints[self.next..]
                .iter()
                .map(|c| c.checkpoint().size())
                .find(|&s| s > pos)
                .map_or(good, |s| good.min((s - start) as usize));
            if let Err((at, failure)) = self.absorb(&batch[done..limit], pos) {
                self.fail(at, failure);
                return false;
            }
            done = limit;
            self.check_reached_checkpoints();
            if self.failure.is_some() {
                return false;
            }
        }
        if let Some(failure) = seq_failure {
            self.fail(start + good as u64, failure);
            return false;
        }
        true
    }

    /// Ends the run: any checkpoint beyond the last entry is checked for its signature and then reported as
    /// a cut tail.
    pub fn finish(mut self) -> VerifyReport {
        if self.failure.is_none()
            && let Some(pending) = self.checkpoints.get(self.next)
        {
            let entries = self.frontier.size();
            // A forged checkpoint must not be able to accuse the log of losing entries.
            let failure = self
                .check_signature(pending)
                .err()
                .unwrap_or(VerifyFailure::TailCut { checkpoint_size: pending.checkpoint().size(), entries });
            self.fail(entries, failure);
        }
        if self.failure.is_none() && self.pruned_below > self.signed_size {
            let entries = self.frontier.size();
            self.fail(entries, VerifyFailure::PruneUnanchored { below: self.pruned_below });
        }
        VerifyReport {
            entries_checked: self.stopped_at.unwrap_or(self.frontier.size()),
            checkpoints_checked: self.checkpoints_checked,
            signed_size: self.signed_size,
            root: if self.failure.is_none() { Some(self.frontier.root()) } else { None },
            failure: self.failure,
        }
    }

    fn fail(&mut self, entries_checked: u64, failure: VerifyFailure) {
        if self.failure.is_none() {
            self.stopped_at = Some(entries_checked);
            self.failure = Some(failure);
        }
    }

    /// Checks and hashes a stretch of entries starting at leaf `pos` and adds it to the frontier; on
    /// failure returns the position of the failing entry with what is wrong.
    fn absorb(&mut self, stretch: &[StoredEntry<'_>], pos: u64) -> Result<(), (u64, VerifyFailure)> {
        let n = stretch.len();
        let parts = if n < PARALLEL_MIN {
            hash_pieces(stretch, pos, self.pruned_below)?
        } else {
            let mid = n / 2;
            let (left, right) = stretch.split_at(mid);
            let (a, b) = std::thread::scope(|scope| {
                let below = self.pruned_below;
                let b = scope.spawn(move || hash_pieces(right, pos + mid as u64, below));
                let a = hash_pieces(left, pos, below);
                (a, b.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            });
            // The left half's failure comes first in sequence order.
            let mut a = a?;
            a.extend(b?);
            a
        };
        for (hash, height) in parts {
            self.frontier.push_subtree(hash, height);
        }
        Ok(())
    }

    fn check_signature(&self, signed: &SignedCheckpoint) -> Result<(), VerifyFailure> {
        let cp = signed.checkpoint();
        if cp.origin() != self.origin {
            return Err(VerifyFailure::CheckpointWrongOrigin {
                size: cp.size(),
                found: cp.origin().to_owned(),
                expected: self.origin.clone(),
            });
        }
        signed.verify(&self.key).map_err(|e| VerifyFailure::CheckpointBadSignature {
            size: cp.size(),
            reason: match e {
                LedgerError::CheckpointUnsigned { .. } => "no signature by this key".to_owned(),
                other => other.to_string(),
            },
        })
    }

    /// Checks every checkpoint whose size the tree has just reached.
    fn check_reached_checkpoints(&mut self) {
        let size = self.frontier.size();
        while self.failure.is_none()
            && let Some(signed) = self.checkpoints.get(self.next)
            && signed.checkpoint().size() == size
        {
            let result = self.check_signature(signed).and_then(|()| {
                if signed.checkpoint().root() == self.frontier.root() {
                    Ok(())
                } else {
                    Err(VerifyFailure::CheckpointRootMismatch { size })
                }
            });
            match result {
                Ok(()) => {
                    self.checkpoints_checked += 1;
                    self.signed_size = size;
                    self.next += 1;
                }
                Err(failure) => self.fail(size, failure),
            }
        }
    }
}

fn sequence_failure(got: u64, expected: u64) -> VerifyFailure {
    if got > expected {
        VerifyFailure::EntryMissing { seq: expected }
    } else if got + 1 == expected {
        VerifyFailure::EntryDuplicated { seq: got }
    } else {
        VerifyFailure::EntryOutOfOrder { seq: got, after: expected - 1 }
    }
}

/// Checks one row and returns its leaf hash. A row below `pruned_below` whose content was removed
/// under retention (empty bytes) counts by its stored leaf hash.
fn check_entry(e: &StoredEntry<'_>, pruned_below: u64) -> Result<Hash, VerifyFailure> {
    let seq = e.seq;
    if e.bytes.is_empty()
        && seq < pruned_below
        && let Some(stored) = e.leaf_hash
    {
        return Ok(stored);
    }
    let encoded =
        Entry::check_bytes(e.bytes).map_err(|err| VerifyFailure::EntryUnreadable { seq, reason: err.to_string() })?;
    if encoded != seq {
        return Err(VerifyFailure::EntrySeqMismatch { seq, encoded });
    }
    let hash = leaf_hash(e.bytes);
    if e.leaf_hash.is_some_and(|stored| stored != hash) {
        return Err(VerifyFailure::EntryHashMismatch { seq });
    }
    Ok(hash)
}

/// Checks a stretch whose first entry is leaf `pos` and returns the roots of its aligned pieces.
fn hash_pieces(
    stretch: &[StoredEntry<'_>],
    pos: u64,
    pruned_below: u64,
) -> Result<Vec<(Hash, u32)>, (u64, VerifyFailure)> {
    let mut out = Vec::new();
    for piece in pieces(pos, pos + stretch.len() as u64) {
        let from = (piece.start - pos) as usize;
        let rows = &stretch[from..from + piece.len() as usize];
        // A complete subtree built from empty is its own frontier's only node, so its root is the piece's.
        let mut subtree = Frontier::new();
        for row in rows {
            subtree.push(check_entry(row, pruned_below).map_err(|f| (row.seq, f))?);
        }
        out.push((subtree.root(), piece.height));
    }
    Ok(out)
}

#[cfg(test)]
mod prune_tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::entry::EntryKind;
    use crate::key::SigningKey;
    use crate::merkle::root_from_leaves;

    fn setup(n: u64) -> (SigningKey, Vec<Vec<u8>>, Vec<Hash>) {
        let key = SigningKey::from_seed("nhiguard.nantou", &[5u8; 32]).unwrap();
        let bytes: Vec<Vec<u8>> = (0..n)
            .map(|i| Entry::new(i, 1_700_000_000_000_000 + i as i64, EntryKind::SignIn, "clerk", []).unwrap().encode())
            .collect();
        let hashes = bytes.iter().map(|b| leaf_hash(b)).collect();
        (key, bytes, hashes)
    }

    fn run(
        key: &SigningKey,
        bytes: &[Vec<u8>],
        hashes: &[Hash],
        cps: Vec<SignedCheckpoint>,
        below: u64,
    ) -> VerifyReport {
        let mut v = Verifier::new("nantou", key.public_key(), cps).unwrap();
        v.allow_pruned_below(below);
        let rows: Vec<StoredEntry<'_>> = bytes
            .iter()
            .zip(hashes)
            .enumerate()
            .map(|(i, (b, h))| StoredEntry { seq: i as u64, bytes: b, leaf_hash: Some(*h) })
            .collect();
        v.feed(&rows);
        v.finish()
    }

    /// R-LOG-2: a prune statement, even one signed with the deployment's own key, cannot take entries
    /// younger than five years: a checkpoint signed before they were written dates them, and a
    /// statement dated ahead of the verifier's clock (the server's clock set forward) is refused.
    #[test]
    fn r_log_2_a_prune_of_entries_younger_than_five_years_is_found() {
        let day = 86_400;
        let year = 365 * day;
        let at = |size: u64, secs: i64| Checkpoint::new("nantou", size, crate::hash::EMPTY_ROOT, secs).unwrap();
        let t0 = 1_700_000_000;
        let (c10, c20) = (at(10, t0), at(20, t0 + 30 * day));
        let cps = [&c10, &c20];
        let now = t0 + 6 * year;
        // Entries below 15 were all written before the checkpoint at 20 (a month after t0): pruning
        // them five years after the checkpoint at 10 is in time; a day earlier is not.
        assert_eq!(check_prune_timing(&at(15, t0 + 5 * year), &cps, now), Ok(()));
        assert_eq!(
            check_prune_timing(&at(15, t0 + 5 * year - day), &cps, now),
            Err(VerifyFailure::PrunedEarly { below: 15, checkpoint_size: 10 })
        );
        // Reaching past the checkpoint at 20 needs five years after it.
        assert_eq!(
            check_prune_timing(&at(25, t0 + 5 * year + day), &cps, now),
            Err(VerifyFailure::PrunedEarly { below: 25, checkpoint_size: 20 })
        );
        assert_eq!(check_prune_timing(&at(25, t0 + 5 * year + 31 * day), &cps, now), Ok(()));
        // Dated after the verification.
        let future = check_prune_timing(&at(5, now + 2 * day), &cps, now).unwrap_err();
        assert_eq!(future, VerifyFailure::PrunedEarly { below: 5, checkpoint_size: 5 });
        assert!(future.message().contains("dated after"), "{}", future.message());
        // No checkpoint before the boundary: nothing to tell by.
        assert_eq!(check_prune_timing(&at(8, t0), &cps, now), Ok(()));
    }

    #[test]
    fn r_log_2_pruned_entries_verify_by_their_hash_when_a_signed_checkpoint_covers_them() {
        let (key, mut bytes, hashes) = setup(40);
        let cp = Checkpoint::new("nantou", 30, root_from_leaves(&hashes[..30]), 1_700_000_000).unwrap().sign(&key);
        for b in bytes.iter_mut().take(10) {
            b.clear();
        }
        assert!(run(&key, &bytes, &hashes, vec![cp.clone()], 10).is_ok());
        // Without the statement, an emptied entry is unreadable.
        let r = run(&key, &bytes, &hashes, vec![cp.clone()], 0);
        assert_eq!(r.failure.map(|f| f.code()), Some("entry_unreadable"));
        // Emptying beyond the boundary is caught.
        bytes[12].clear();
        let r = run(&key, &bytes, &hashes, vec![cp.clone()], 10);
        assert_eq!(r.failure.map(|f| f.code()), Some("entry_unreadable"));
        // A changed stored hash of a pruned entry breaks the checkpoint.
        let (_, mut bytes, mut hashes2) = setup(40);
        for b in bytes.iter_mut().take(10) {
            b.clear();
        }
        hashes2[3] = Hash([9; 32]);
        let r = run(&key, &bytes, &hashes2, vec![cp], 10);
        assert_eq!(r.failure.map(|f| f.code()), Some("checkpoint_root_mismatch"));
    }

    #[test]
    fn r_log_2_pruning_without_a_covering_checkpoint_fails() {
        let (key, mut bytes, hashes) = setup(20);
        for b in bytes.iter_mut().take(5) {
            b.clear();
        }
        let r = run(&key, &bytes, &hashes, vec![], 5);
        assert_eq!(r.failure.map(|f| f.code()), Some("prune_unanchored"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::entry::EntryKind;
    use crate::key::SigningKey;
    use crate::merkle::root_from_leaves;

    const DEPLOYMENT: &str = "nantou";

    fn key() -> SigningKey {
        SigningKey::from_seed("nhiguard.nantou", &[3u8; 32]).unwrap()
    }

    struct Log {
        bytes: Vec<Vec<u8>>,
        hashes: Vec<Option<Hash>>,
        seqs: Vec<u64>,
    }

    impl Log {
        fn new(n: u64) -> Log {
            let bytes: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let fields = [
                        ("case_no".to_owned(), format!("113-{i:05}")),
                        ("national_id".to_owned(), "A123456789".to_owned()),
                        ("reason".to_owned(), "家訪".to_owned()),
                    ];
                    Entry::new(i, 1_700_000_000_000_000 + i as i64, EntryKind::Query, "clerk", fields).unwrap().encode()
                })
                .collect();
            let hashes = bytes.iter().map(|b| Some(leaf_hash(b))).collect();
            Log { bytes, hashes, seqs: (0..n).collect() }
        }

        fn root(&self, size: u64) -> Hash {
            let leaves: Vec<Hash> = self.bytes[..size as usize].iter().map(|b| leaf_hash(b)).collect();
            root_from_leaves(&leaves)
        }

        fn checkpoint(&self, size: u64) -> SignedCheckpoint {
            Checkpoint::new(DEPLOYMENT, size, self.root(size), 1_722_300_000 + size as i64).unwrap().sign(&key())
        }

        fn rows(&self) -> Vec<StoredEntry<'_>> {
            (0..self.bytes.len())
                .map(|i| StoredEntry { seq: self.seqs[i], bytes: &self.bytes[i], leaf_hash: self.hashes[i] })
                .collect()
        }

        fn remove(&mut self, i: usize) {
            self.bytes.remove(i);
            self.hashes.remove(i);
            self.seqs.remove(i);
        }

        fn verify_in_batches(&self, cps: Vec<SignedCheckpoint>, batch: usize) -> VerifyReport {
            let mut v = Verifier::new(DEPLOYMENT, key().public_key(), cps).unwrap();
            for chunk in self.rows().chunks(batch.max(1)) {
                if !v.feed(chunk) {
                    break;
                }
            }
            v.finish()
        }

        fn verify(&self, cps: Vec<SignedCheckpoint>) -> VerifyReport {
            self.verify_in_batches(cps, 1000)
        }
    }

    #[test]
    fn r_log_2_intact_log_verifies_whatever_the_batch_size() {
        let log = Log::new(300);
        let cps = vec![log.checkpoint(300), log.checkpoint(0), log.checkpoint(1), log.checkpoint(128)];
        for batch in [1, 2, 7, 64, 100, 300, 1000] {
            let r = log.verify_in_batches(cps.clone(), batch);
            assert!(r.is_ok(), "batch {batch}: {:?}", r.failure);
            assert_eq!(r.entries_checked, 300);
            assert_eq!(r.checkpoints_checked, 4);
            assert_eq!(r.signed_size, 300);
            assert_eq!(r.root, Some(log.root(300)));
        }
    }

    #[test]
    fn r_log_2_large_batches_take_the_two_thread_path() {
        let log = Log::new(3 * PARALLEL_MIN as u64 + 5);
        let n = log.bytes.len() as u64;
        let r = log.verify_in_batches(vec![log.checkpoint(n), log.checkpoint(PARALLEL_MIN as u64 + 3)], 100_000);
        assert!(r.is_ok(), "{:?}", r.failure);
        assert_eq!(r.root, Some(log.root(n)));

        let mut bad = log;
        bad.bytes[2 * PARALLEL_MIN + 1][30] ^= 1;
        let r = bad.verify_in_batches(vec![], 100_000);
        assert_eq!(r.failure, Some(VerifyFailure::EntryHashMismatch { seq: 2 * PARALLEL_MIN as u64 + 1 }));
        assert_eq!(r.entries_checked, 2 * PARALLEL_MIN as u64 + 1);
    }

    #[test]
    fn r_log_2_changed_field_is_named_by_its_hash() {
        let mut log = Log::new(100);
        let cps = vec![log.checkpoint(100)];
        let changed = Entry::decode(&log.bytes[41]).unwrap();
        let mut fields = changed.fields().to_vec();
        fields[0].1 = "113-99999".to_owned();
        log.bytes[41] = Entry::new(41, changed.at_micros(), changed.kind(), changed.actor(), fields).unwrap().encode();
        let r = log.verify(cps.clone());
        assert_eq!(r.failure, Some(VerifyFailure::EntryHashMismatch { seq: 41 }));
        assert_eq!(r.entries_checked, 41);
        assert_eq!(
            r.failure.unwrap().message(),
            "第 41 筆紀錄內容與雜湊不符 / entry 41: content does not match its hash"
        );

        // With the stored hash recomputed too, the signed checkpoint still catches it.
        log.hashes[41] = Some(leaf_hash(&log.bytes[41]));
        let r = log.verify(cps.clone());
        assert_eq!(r.failure, Some(VerifyFailure::CheckpointRootMismatch { size: 100 }));
        assert_eq!(r.root, None);

        // A store that keeps no leaf hashes is checked by the checkpoint alone.
        log.hashes.iter_mut().for_each(|h| *h = None);
        assert_eq!(log.verify(cps).failure, Some(VerifyFailure::CheckpointRootMismatch { size: 100 }));
    }

    #[test]
    fn r_log_2_deleted_entry_is_missing() {
        let mut log = Log::new(50);
        log.remove(17);
        let r = log.verify(vec![]);
        assert_eq!(r.failure, Some(VerifyFailure::EntryMissing { seq: 17 }));
        assert_eq!(r.entries_checked, 17);
    }

    #[test]
    fn r_log_2_deleted_and_renumbered_entries_fail() {
        // Deleting entry 17 and renumbering the rows after it: the bytes still carry their old numbers.
        let mut log = Log::new(50);
        log.remove(17);
        for s in log.seqs.iter_mut().skip(17) {
            *s -= 1;
        }
        assert_eq!(log.verify(vec![]).failure, Some(VerifyFailure::EntrySeqMismatch { seq: 17, encoded: 18 }));
    }

    #[test]
    fn r_log_2_duplicated_and_reordered_rows_are_named() {
        let log = Log::new(10);
        let mut rows = log.rows();
        rows.insert(5, rows[4]);
        let mut v = Verifier::new(DEPLOYMENT, key().public_key(), vec![]).unwrap();
        assert!(!v.feed(&rows));
        assert_eq!(v.finish().failure, Some(VerifyFailure::EntryDuplicated { seq: 4 }));

        let mut rows = log.rows();
        rows.swap(3, 6);
        let mut v = Verifier::new(DEPLOYMENT, key().public_key(), vec![]).unwrap();
        v.feed(&rows);
        assert_eq!(v.finish().failure, Some(VerifyFailure::EntryMissing { seq: 3 }));

        let mut rows = log.rows();
        rows.insert(7, rows[2]);
        let mut v = Verifier::new(DEPLOYMENT, key().public_key(), vec![]).unwrap();
        v.feed(&rows);
        assert_eq!(v.finish().failure, Some(VerifyFailure::EntryOutOfOrder { seq: 2, after: 6 }));
    }

    #[test]
    fn r_log_2_reordered_contents_fail() {
        // Rows keep their numbers but two entries' contents swap places.
        let mut log = Log::new(20);
        log.bytes.swap(3, 6);
        log.hashes.swap(3, 6);
        assert_eq!(log.verify(vec![]).failure, Some(VerifyFailure::EntrySeqMismatch { seq: 3, encoded: 6 }));
    }

    #[test]
    fn r_log_2_inserted_entry_fails() {
        // A forged entry slipped in as number 10, everything after renumbered and re-encoded, hashes
        // recomputed: only the signed checkpoint can tell, and it does.
        let log = Log::new(30);
        let cps = vec![log.checkpoint(30)];
        let mut forged = Log::new(31);
        forged.bytes[10] = Entry::new(10, 0, EntryKind::Export, "intruder", []).unwrap().encode();
        forged.hashes[10] = Some(leaf_hash(&forged.bytes[10]));
        let r = forged.verify(cps.clone());
        assert_eq!(r.failure, Some(VerifyFailure::CheckpointRootMismatch { size: 30 }));

        // Inserted without renumbering: the numbers give it away.
        let mut rows = log.rows();
        let extra = Entry::new(10, 0, EntryKind::Export, "intruder", []).unwrap().encode();
        rows.insert(11, StoredEntry { seq: 10, bytes: &extra, leaf_hash: None });
        let mut v = Verifier::new(DEPLOYMENT, key().public_key(), cps).unwrap();
        v.feed(&rows);
        assert_eq!(v.finish().failure, Some(VerifyFailure::EntryDuplicated { seq: 10 }));
    }

    #[test]
    fn r_log_2_truncated_tail_is_reported_against_the_checkpoint() {
        let log = Log::new(40);
        let cps = vec![log.checkpoint(20), log.checkpoint(40)];
        let mut cut = Log::new(40);
        cut.bytes.truncate(33);
        cut.hashes.truncate(33);
        cut.seqs.truncate(33);
        let r = cut.verify(cps);
        assert_eq!(r.failure, Some(VerifyFailure::TailCut { checkpoint_size: 40, entries: 33 }));
        assert_eq!(r.entries_checked, 33);
        assert_eq!(r.checkpoints_checked, 1);
        assert_eq!(r.signed_size, 20);
        assert!(r.failure.unwrap().message().contains("entries from 33 on were cut off"));
    }

    #[test]
    fn r_log_2_replaced_checkpoint_fails() {
        // Someone rewrote the log and signed nothing new, but swapped in a checkpoint signed by their own key.
        let log = Log::new(40);
        let mallory = SigningKey::from_seed("nhiguard.nantou", &[4u8; 32]).unwrap();
        let fake = Checkpoint::new(DEPLOYMENT, 40, log.root(40), 1_722_300_000).unwrap().sign(&mallory);
        let r = log.verify(vec![fake]);
        assert!(
            matches!(&r.failure, Some(VerifyFailure::CheckpointBadSignature { size: 40, reason }) if reason == "no signature by this key"),
            "{:?}",
            r.failure
        );

        // A genuine checkpoint of another deployment.
        let other = Checkpoint::new("taipei", 40, log.root(40), 1_722_300_000).unwrap().sign(&key());
        assert!(matches!(log.verify(vec![other]).failure, Some(VerifyFailure::CheckpointWrongOrigin { .. })));

        // A genuine checkpoint whose root line was edited.
        let text = log.checkpoint(40).to_text().replacen(&log.root(40).to_base64(), &log.root(39).to_base64(), 1);
        let edited = SignedCheckpoint::parse(&text).unwrap();
        assert!(matches!(
            log.verify(vec![edited]).failure,
            Some(VerifyFailure::CheckpointBadSignature { size: 40, .. })
        ));
    }

    #[test]
    fn r_log_2_forged_signature_and_wrong_public_key_fail() {
        let log = Log::new(16);
        let text = log.checkpoint(16).to_text();
        // Flip one character of the signature's base64 (not the last, whose low bits may be padding).
        let sig_start = text.rfind(' ').unwrap() + 10;
        let mut bytes = text.into_bytes();
        bytes[sig_start] = if bytes[sig_start] == b'A' { b'B' } else { b'A' };
        let forged = SignedCheckpoint::parse(&String::from_utf8(bytes).unwrap()).unwrap();
        assert!(matches!(log.verify(vec![forged]).failure, Some(VerifyFailure::CheckpointBadSignature { .. })));

        let wrong = SigningKey::from_seed("nhiguard.nantou", &[5u8; 32]).unwrap().public_key();
        let mut v = Verifier::new(DEPLOYMENT, wrong, vec![log.checkpoint(16)]).unwrap();
        v.feed(&log.rows());
        let r = v.finish();
        assert!(matches!(r.failure, Some(VerifyFailure::CheckpointBadSignature { size: 16, .. })));
        assert_eq!(r.checkpoints_checked, 0);
    }

    #[test]
    fn r_log_2_forged_checkpoint_beyond_the_log_is_not_a_cut_tail() {
        let log = Log::new(10);
        let mallory = SigningKey::from_seed("nhiguard.nantou", &[6u8; 32]).unwrap();
        let fake = Checkpoint::new(DEPLOYMENT, 99, log.root(10), 1_722_300_000).unwrap().sign(&mallory);
        assert!(matches!(log.verify(vec![fake]).failure, Some(VerifyFailure::CheckpointBadSignature { size: 99, .. })));
    }

    #[test]
    fn r_log_2_unreadable_bytes_are_named() {
        let mut log = Log::new(10);
        log.bytes[6] = vec![1, 2, 3];
        let r = log.verify(vec![]);
        assert!(matches!(r.failure, Some(VerifyFailure::EntryUnreadable { seq: 6, .. })), "{:?}", r.failure);
    }

    #[test]
    fn r_log_2_empty_log_with_and_without_checkpoints() {
        let log = Log::new(0);
        let r = log.verify(vec![log.checkpoint(0)]);
        assert!(r.is_ok());
        assert_eq!(r.root, Some(crate::hash::EMPTY_ROOT));
        assert_eq!(r.checkpoints_checked, 1);
        let full = Log::new(5);
        assert_eq!(
            log.verify(vec![full.checkpoint(5)]).failure,
            Some(VerifyFailure::TailCut { checkpoint_size: 5, entries: 0 })
        );
    }

    #[test]
    fn r_log_2_failures_never_show_entry_contents() {
        let mut log = Log::new(5);
        let mut broken =
            Entry::new(2, 0, EntryKind::Query, "clerk", [("id".to_owned(), "A123456789".to_owned())]).unwrap().encode();
        broken.push(0);
        log.bytes[2] = broken;
        let r = log.verify(vec![]);
        assert!(matches!(r.failure, Some(VerifyFailure::EntryUnreadable { seq: 2, .. })), "{:?}", r.failure);
        let shown = format!("{:?} {}", r, r.failure.as_ref().map(|f| f.message()).unwrap_or_default());
        assert!(!shown.contains("A123456789"), "{shown}");
        assert!(!shown.contains("clerk"), "{shown}");
    }

    #[test]
    fn failure_codes_are_stable() {
        let mut log = Log::new(5);
        log.remove(1);
        let r = log.verify(vec![]);
        assert_eq!(r.failure.as_ref().map(VerifyFailure::code), Some("entry_missing"));
    }
}
