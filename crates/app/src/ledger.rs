//! The ledger in use (R-LOG-2, R-ACC-10): appending entries — inside the transaction of the change
//! they record, or group-committed when they stand alone —, signing checkpoints, verifying the
//! whole log, and inclusion proofs. An entry is durable before the caller goes on: a change and its
//! entry commit together, and a standalone append answers only after its transaction committed.

use std::path::PathBuf;
use std::sync::Arc;

use nhiguard_ledger::{
    Checkpoint, Entry, EntryKind, Frontier, Hash, PublicKey, SignedCheckpoint, SigningKey, StoredEntry, TileHashes,
    TileId, Verifier, VerifyFailure, VerifyReport, leaf_hash,
};
use nhiguard_store::{
    Appended, Db, LedgerHead, LedgerRow, LedgerTile, NewResult, StoredCheckpoint, StoredVerification, Tx,
};

use crate::{App, AppError, Result};

mod writer;
pub(crate) use writer::GroupWriter;
use writer::write_group;

/// An entry to be appended: what, by whom, and its fields (sorted and encoded by the ledger crate).
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: EntryKind,
    pub actor: String,
    pub at_micros: i64,
    pub fields: Vec<(String, String)>,
}

/// What the ledger needs that is not in the database: who signs, and for which log.
pub struct LedgerKeys {
    pub deployment_id: String,
    pub signing: SigningKey,
    /// Where signed checkpoints are also written as small text files (none in tests).
    pub export_dir: Option<PathBuf>,
}

impl std::fmt::Debug for LedgerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerKeys").field("deployment_id", &self.deployment_id).finish_non_exhaustive()
    }
}

fn ledger_err(e: nhiguard_ledger::LedgerError) -> AppError {
    AppError::Internal(format!("ledger: {e}"))
}

impl App {
    /// Appends one step of a review or an investigation, by `current`, inside the transaction of the
    /// change it records; `fields` follow the event's name.
    pub(crate) async fn action_in(
        &self,
        tx: &mut Tx,
        kind: EntryKind,
        current: &crate::Current,
        event: &str,
        fields: Vec<(String, String)>,
    ) -> Result<()> {
        tracing::info!(event, username = %current.username, "recorded");
        let mut all = vec![("event".to_owned(), event.to_owned())];
        all.extend(fields);
        let draft =
            Draft { kind, actor: current.username.clone(), at_micros: self.now().timestamp_micros(), fields: all };
        append_in(tx, &[draft]).await.map(|_| ())
    }
}

/// Appends drafts inside `tx`, continuing from the locked head.
pub(crate) async fn append_in(tx: &mut Tx, drafts: &[Draft]) -> Result<Vec<u64>> {
    let head = tx.ledger_head().await?;
    let (rows, new_head) = build_rows(&head, drafts)?;
    tx.ledger_append(&rows, &new_head).await?;
    Ok(rows.iter().map(|r| r.seq).collect())
}

/// The rows that continue the log after `head` with these drafts (encoded, leaf-hashed), and the
/// head after them.
fn build_rows(head: &LedgerHead, drafts: &[Draft]) -> Result<(Vec<LedgerRow>, LedgerHead)> {
    let mut frontier = if head.frontier.is_empty() {
        Frontier::new()
    } else {
        Frontier::from_bytes(&head.frontier).map_err(ledger_err)?
    };
    if frontier.size() != head.size {
        return Err(AppError::Internal("ledger head and frontier disagree".into()));
    }
    let mut rows = Vec::with_capacity(drafts.len());
    for d in drafts {
        let seq = frontier.size();
        let entry = Entry::new(seq, d.at_micros, d.kind, d.actor.clone(), d.fields.clone()).map_err(ledger_err)?;
        let body = entry.encode();
        let leaf = leaf_hash(&body);
        frontier.push(leaf);
        rows.push(LedgerRow {
            seq,
            at: d.at_micros,
            kind: d.kind.code().to_owned(),
            actor: d.actor.clone(),
            body,
            leaf_hash: leaf.as_bytes().to_vec(),
        });
    }
    Ok((rows, LedgerHead { size: frontier.size(), frontier: frontier.to_bytes() }))
}

/// The result of `verify`, with what was checked.
#[derive(Debug, Clone)]
pub struct Verification {
    pub report: VerifyReport,
    pub checkpoints_found: usize,
}

/// Reads the whole log in large ordered batches and checks it against every stored checkpoint and
/// any given from outside (R-LOG-2). Needs only read access.
pub async fn verify(
    db: &Db,
    deployment_id: &str,
    key: &PublicKey,
    extra: Vec<SignedCheckpoint>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Verification> {
    let stored = db.checkpoints().await?;
    let mut checkpoints = extra;
    let mut unreadable: Option<VerifyFailure> = None;
    for c in &stored {
        match SignedCheckpoint::parse(&c.text) {
            Ok(p) => checkpoints.push(p),
            Err(e) => {
                unreadable.get_or_insert(VerifyFailure::CheckpointBadSignature { size: c.size, reason: e.to_string() });
            }
        }
    }
    let found = checkpoints.len();
    // What dates the entries for the prune check below: each checkpoint's size and time.
    let dating: Vec<SignedCheckpoint> = if db.prunes().await?.is_empty() { Vec::new() } else { checkpoints.clone() };
    let mut verifier = Verifier::new(deployment_id, key.clone(), checkpoints).map_err(ledger_err)?;
    // Retention: entries below a signed prune boundary may have had their content cleared.
    let prune_origin = format!("nhiguard.{deployment_id}.pruned");
    let mut early: Option<VerifyFailure> = None;
    for p in db.prunes().await? {
        let checked = SignedCheckpoint::parse(&p.text).map_err(|e| e.to_string()).and_then(|s| {
            if s.checkpoint().origin() != prune_origin || s.checkpoint().size() != p.below {
                return Err("not a prune statement of this log".to_owned());
            }
            s.verify(key).map_err(|e| e.to_string())
        });
        // Signed with the key or not, a prune may not take entries younger than the law allows:
        // the checkpoints (those handed out above all) date them.
        let checked = checked.and_then(|()| {
            let statement = SignedCheckpoint::parse(&p.text).map_err(|e| e.to_string())?;
            // The latest checkpoint below the boundary says the most; only a genuine one counts
            // (a forged one fails the verification by itself).
            let latest = dating
                .iter()
                .filter(|c| c.checkpoint().size() < p.below)
                .max_by_key(|c| c.checkpoint().at_secs())
                .filter(|c| c.verify(key).is_ok())
                .map(SignedCheckpoint::checkpoint);
            let dated: Vec<&nhiguard_ledger::Checkpoint> = latest.into_iter().collect();
            if let Err(f) = nhiguard_ledger::check_prune_timing(statement.checkpoint(), &dated, now.timestamp()) {
                early.get_or_insert(f);
            }
            Ok(())
        });
        match checked {
            Ok(()) => verifier.allow_pruned_below(p.below),
            Err(reason) => {
                unreadable.get_or_insert(VerifyFailure::CheckpointBadSignature {
                    size: p.below,
                    reason: format!("prune statement: {reason}"),
                });
            }
        }
    }
    // Each batch is checked on a blocking thread while the scan reads the next one.
    let mut scan = db.scan_ledger(0, u64::MAX, true)?;
    while let Some(batch) = scan.next().await? {
        let (back, go_on) = tokio::task::spawn_blocking(move || {
            let entries: Vec<StoredEntry<'_>> = (0..batch.len())
                .map(|i| StoredEntry {
                    seq: batch.seq(i),
                    bytes: batch.body(i),
                    // A stored hash of the wrong length cannot match: give one that will not.
                    leaf_hash: Some(Hash(batch.leaf(i).unwrap_or([0; 32]))),
                })
                .collect();
            let go_on = verifier.feed(&entries);
            (verifier, go_on)
        })
        .await
        .map_err(|e| AppError::Internal(format!("verification stopped: {e}")))?;
        verifier = back;
        if !go_on {
            break;
        }
    }
    let mut report = verifier.finish();
    if report.failure.is_none()
        && let Some(f) = unreadable.or(early)
    {
        report.failure = Some(f);
        report.root = None;
    }
    Ok(Verification { report, checkpoints_found: found })
}

/// An entry, whether it is in the log, and the proof against a signed checkpoint.
#[derive(Debug, Clone)]
pub struct Inclusion {
    /// The entry; for a reader whose branch does not reach the agency it names, without its actor
    /// and fields (`withheld`): the proof of its hash still holds.
    pub entry: Entry,
    pub withheld: bool,
    pub leaf: Hash,
    pub checkpoint: String,
    pub tree_size: u64,
    pub proof: Vec<Hash>,
}

impl App {
    /// The leaf hashes of the first `size` entries, read in large ordered batches.
    pub(crate) async fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>> {
        let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut scan = self.db().scan_ledger(0, size, false)?;
        while let Some(batch) = scan.next().await? {
            leaves.extend((0..batch.len()).map(|i| Hash(batch.leaf(i).unwrap_or([0; 32]))));
        }
        Ok(leaves)
    }

    pub(crate) fn ledger_keys(&self) -> &Arc<LedgerKeys> {
        &self.inner.ledger
    }

    /// The public key checkpoints are signed with, as text (for the integrity page and handing out).
    pub fn ledger_public_key(&self) -> String {
        self.ledger_keys().signing.public_key().to_text()
    }

    pub fn deployment_id(&self) -> &str {
        &self.ledger_keys().deployment_id
    }

    /// Appends one entry on its own (group-committed); returns its sequence number once durable.
    pub async fn append(&self, draft: Draft) -> Result<u64> {
        Ok(self.append_with(draft, None).await?.seq)
    }

    /// Appends one entry and, in the same transaction, stores `result` (group-committed).
    pub(crate) async fn append_with(&self, draft: Draft, result: Option<NewResult>) -> Result<Appended> {
        match &self.inner.writer {
            Some(w) => w.append(draft, result).await,
            None => {
                let (mut done, _) = write_group(self.db(), Arc::new(vec![draft]), vec![result]).await?;
                done.pop().ok_or_else(|| AppError::Internal("no sequence number".into()))
            }
        }
    }

    /// Signs a checkpoint of the log as it is now, unless nothing was added since the last one.
    pub async fn checkpoint_now(&self) -> Result<Option<StoredCheckpoint>> {
        let keys = self.ledger_keys();
        let mut tx = self.db().begin().await?;
        let head = tx.ledger_head().await?;
        let latest = self.db().latest_checkpoint().await?;
        if head.size == 0 || latest.as_ref().is_some_and(|c| c.size >= head.size) {
            return Ok(None);
        }
        let frontier = if head.frontier.is_empty() {
            Frontier::new()
        } else {
            Frontier::from_bytes(&head.frontier).map_err(ledger_err)?
        };
        let now = self.now();
        let checkpoint =
            Checkpoint::new(&keys.deployment_id, head.size, frontier.root(), now.timestamp()).map_err(ledger_err)?;
        let signed = checkpoint.sign(&keys.signing);
        let stored = StoredCheckpoint {
            size: head.size,
            at: nhiguard_store::micros(now),
            root: frontier.root().to_base64(),
            text: signed.to_text(),
        };
        tx.insert_checkpoint(&stored).await?;
        tx.commit().await?;
        if let Some(dir) = &keys.export_dir {
            let path = dir.join(format!("checkpoint-{:012}.txt", stored.size));
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &stored.text)) {
                tracing::warn!(path = %path.display(), error = %e, "could not export a checkpoint file");
            }
        }
        tracing::info!(size = stored.size, "ledger checkpoint signed");
        // Proofs against this checkpoint read the roots filled in here; should this fail, the first
        // proof asked for catches up instead.
        if let Err(e) = self.fill_nodes(stored.size).await {
            tracing::warn!(error = %e, "could not store the ledger tree's subtree roots");
        }
        Ok(Some(stored))
    }

    /// Verifies the whole log with this deployment's own key.
    pub async fn verify_ledger(&self, extra: Vec<SignedCheckpoint>) -> Result<Verification> {
        verify(self.db(), self.deployment_id(), &self.ledger_keys().signing.public_key(), extra, self.now()).await
    }

    /// The proof that entry `seq` is in the log as of the first checkpoint that covers it.
    ///
    /// The checkpoint and the entry are read while the proof's tiles and leaf hashes are, on another
    /// connection, from the size the checkpoint is expected to have: a proof is a few keyed reads of
    /// pages seldom read, and the waits for them overlap. Should the checkpoint read be another size,
    /// the proof is read again for it.
    pub async fn inclusion(&self, seq: u64) -> Result<Inclusion> {
        if i64::try_from(seq).is_err() {
            // Beyond any position a log can hold: no such entry (not a store that cannot count).
            return Err(AppError::not_found("查無此筆紀錄", "no such entry"));
        }
        let guess = self.covering_size(seq).await?;
        let guessed = async {
            match guess {
                Some(size) => Some(self.proof_from_nodes(seq, size).await),
                None => None,
            }
        };
        let (covering, guessed) = tokio::join!(self.db().checkpoint_covering(seq), guessed);
        let Some((cp, body)) = covering? else {
            return Err(AppError::conflict(
                "此筆紀錄尚未納入已簽章的檢查點，請先建立檢查點",
                "this entry is not yet covered by a signed checkpoint; make a checkpoint first",
            ));
        };
        let body = body.ok_or_else(|| AppError::not_found("查無此筆紀錄", "no such entry"))?;
        if body.is_empty() {
            return Err(AppError::conflict(
                "此筆紀錄之內容已依保存年限移除，僅留雜湊值",
                "this entry's content was removed under the retention rules; only its hash remains",
            ));
        }
        let entry = Entry::decode(&body).map_err(ledger_err)?;
        if guess.is_some_and(|g| g != cp.size) {
            // Checkpoints were removed or changed since their sizes were read: read them again.
            lock(&self.inner.checkpoint_sizes).clear();
        }
        let proof = match guessed {
            Some(Ok((_, proof))) if guess == Some(cp.size) => Ok(proof),
            _ => self.proof_from_nodes(seq, cp.size).await.map(|(_, proof)| proof),
        };
        let proof = match proof {
            Ok(proof) => proof,
            // A log from before the roots were kept, or a fill that failed: catch up, then again.
            Err(_) if self.db().ledger_nodes_size().await? < cp.size => {
                self.fill_nodes(cp.size).await?;
                self.proof_from_nodes(seq, cp.size).await?.1
            }
            Err(e) => return Err(e),
        };
        Ok(Inclusion { leaf: leaf_hash(&body), entry, withheld: false, checkpoint: cp.text, tree_size: cp.size, proof })
    }

    /// The size of the first signed checkpoint that covers entry `seq`, as far as this process has
    /// read them; those signed since are read when none it knows covers the entry.
    async fn covering_size(&self, seq: u64) -> Result<Option<u64>> {
        let covering = |sizes: &[u64]| sizes.get(sizes.partition_point(|&s| s <= seq)).copied();
        let last = {
            let sizes = lock(&self.inner.checkpoint_sizes);
            if let Some(size) = covering(&sizes) {
                return Ok(Some(size));
            }
            sizes.last().copied()
        };
        let newer = self.db().checkpoint_sizes_after(last).await?;
        let mut sizes = lock(&self.inner.checkpoint_sizes);
        for size in newer {
            // Another proof may have read some of them meanwhile.
            if sizes.last().is_none_or(|&l| size > l) {
                sizes.push(size);
            }
        }
        Ok(covering(&sizes))
    }

    /// The stored leaf hash of `seq` and its proof in the tree of `size` leaves, from the stored
    /// subtree roots: about 2·log₂(size) roots from about log₂(size)/2 tiles read by key, and at most
    /// 31 leaf hashes, whatever the size of the log. The roots must be filled in up to `size`
    /// ([`App::fill_nodes`]).
    pub(crate) async fn proof_from_nodes(&self, seq: u64, size: u64) -> Result<(Hash, Vec<Hash>)> {
        let needs = nhiguard_ledger::proof_needs(seq, size).map_err(ledger_err)?;
        let keys: Vec<(u32, u64)> = nhiguard_ledger::tiles_for(&needs).iter().map(|t| (t.band, t.index)).collect();
        let hash = |b: &[u8]| <[u8; 32]>::try_from(b).map(Hash).unwrap_or(Hash([0; 32]));
        let mut seqs: Vec<u64> = needs.leaves.iter().flat_map(|&(from, to)| from..to).collect();
        seqs.push(seq);
        seqs.sort_unstable();
        seqs.dedup();
        let (tile_rows, leaf_rows) = self.db().ledger_proof_material(&keys, &seqs).await?;
        let stored = nhiguard_ledger::roots_from_tiles(&needs, &read_tiles(&tile_rows));
        let leaves: Vec<(u64, Hash)> = leaf_rows.iter().map(|(s, h)| (*s, hash(h))).collect();
        let leaf = leaves
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, h)| *h)
            .ok_or_else(|| AppError::not_found("查無此筆紀錄", "no such entry"))?;
        let proof = nhiguard_ledger::proof_from_nodes(seq, size, &stored, &leaves).map_err(ledger_err)?;
        Ok((leaf, proof))
    }

    /// Stores the roots of the subtrees completed by the first `upto` entries, from where the last
    /// fill stopped, in transactions of at most 65,536 entries so that a long catch-up does not hold
    /// the write lock. Several processes may fill at once: the fill mark is locked and re-read.
    pub(crate) async fn fill_nodes(&self, upto: u64) -> Result<()> {
        const STEP: u64 = 1 << 16;
        loop {
            let mut tx = self.db().begin().await?;
            let head = tx.ledger_nodes_head().await?;
            if head.size >= upto {
                return Ok(());
            }
            let end = upto.min(head.size + STEP);
            let frontier = if head.frontier.is_empty() {
                Frontier::new()
            } else {
                Frontier::from_bytes(&head.frontier).map_err(ledger_err)?
            };
            if frontier.size() != head.size {
                return Err(AppError::Internal("ledger tree fill mark and frontier disagree".into()));
            }
            let mut leaves = Vec::with_capacity(usize::try_from(end - head.size).unwrap_or(0));
            let mut scan = self.db().scan_ledger(head.size, end, false)?;
            while let Some(batch) = scan.next().await? {
                for i in 0..batch.len() {
                    if batch.seq(i) != head.size + leaves.len() as u64 {
                        return Err(AppError::Internal("ledger entries are not contiguous; run ledger verify".into()));
                    }
                    leaves.push(Hash(batch.leaf(i).unwrap_or([0; 32])));
                }
            }
            if (leaves.len() as u64) < end - head.size {
                return Err(AppError::Internal("ledger entries are missing; run ledger verify".into()));
            }
            let mut completed = Vec::new();
            let frontier = nhiguard_ledger::complete_nodes(frontier, leaves, |id, h| completed.push((id, h)));
            // The tiles the last fill left partly filled get their new roots added, not replaced.
            let partial: Vec<(u32, u64)> =
                nhiguard_ledger::partial_tiles(head.size).iter().map(|t| (t.band, t.index)).collect();
            let stored = read_tiles(&tx.ledger_tiles(&partial).await?);
            let tiles: Vec<LedgerTile> = nhiguard_ledger::merge_into_tiles(&stored, &completed)
                .iter()
                .map(|(t, hashes)| (t.band, t.index, nhiguard_ledger::tile_to_bytes(hashes)))
                .collect();
            tx.ledger_nodes_extend(&tiles, &LedgerHead { size: frontier.size(), frontier: frontier.to_bytes() })
                .await?;
            tx.commit().await?;
        }
    }
}

/// The signed checkpoints' sizes, smallest first, as far as this process has read them.
pub(crate) type CheckpointSizes = std::sync::Mutex<Vec<u64>>;

fn lock(sizes: &CheckpointSizes) -> std::sync::MutexGuard<'_, Vec<u64>> {
    // A list of numbers cannot be left half-changed: a panic elsewhere does not spoil it.
    sizes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stored tiles of subtree roots, read back.
fn read_tiles(rows: &[LedgerTile]) -> Vec<(TileId, TileHashes)> {
    rows.iter()
        .map(|(band, index, bytes)| (TileId { band: *band, index: *index }, nhiguard_ledger::tile_from_bytes(bytes)))
        .collect()
}

/// What the integrity page shows.
#[derive(Debug, Clone)]
pub struct IntegrityView {
    pub public_key: String,
    pub deployment_id: String,
    pub ledger_size: u64,
    pub latest: Option<StoredCheckpoint>,
    pub checkpoints: usize,
    /// The most recent verifications, newest first.
    pub verifications: Vec<StoredVerification>,
}

/// How many past verifications the integrity page shows.
const VERIFICATIONS_SHOWN: u64 = 5;

impl App {
    async fn check_ledger_access(&self, current: &crate::Current, what: &str) -> Result<()> {
        let tree = self.db().org_tree().await?;
        if let Err(e) = nhiguard_domain::access::authorize(
            &tree,
            &current.actor(),
            nhiguard_domain::access::Action::VerifyLedger,
            None,
        ) {
            self.record(crate::events::kind::FORBIDDEN, current.event_actor(), "ledger", what).await?;
            return Err(e.into());
        }
        Ok(())
    }

    /// The public key and the latest checkpoint, for auditors to copy and hand out.
    pub async fn integrity(&self, current: &crate::Current) -> Result<IntegrityView> {
        self.check_ledger_access(current, "integrity page").await?;
        Ok(IntegrityView {
            public_key: self.ledger_public_key(),
            deployment_id: self.deployment_id().to_owned(),
            ledger_size: self.db().ledger_size().await?,
            latest: self.db().latest_checkpoint().await?,
            checkpoints: self.db().checkpoints().await?.len(),
            verifications: self.db().verifications(VERIFICATIONS_SHOWN).await?,
        })
    }

    /// Verifies the whole log for an auditor (R-LOG-2). The reading is recorded before it begins,
    /// and what it found after, as a ledger entry and a row the integrity page shows — so the page
    /// can show the result after a redirect instead of running it again on a reload, and auditors
    /// see when the log was last checked and by whom.
    pub async fn verify_for(&self, current: &crate::Current) -> Result<Verification> {
        self.check_ledger_access(current, "verify").await?;
        self.record(crate::events::kind::LEDGER_READ, current.event_actor(), "ledger", "verify").await?;
        let v = self.verify_ledger(Vec::new()).await?;
        let r = &v.report;
        let failure = r.failure.as_ref().map(|f| (f.code().to_owned(), f.message()));
        let detail = match &failure {
            None => format!("passed: {} entries, {} checkpoints", r.entries_checked, r.checkpoints_checked),
            Some((code, _)) => format!("failed: {code}"),
        };
        let mut tx = self.db().begin().await?;
        let seq = self
            .record_in(&mut tx, crate::events::kind::LEDGER_VERIFIED, current.event_actor(), "ledger", &detail)
            .await?;
        tx.insert_verification(&StoredVerification {
            at: self.now().timestamp_micros(),
            username: current.username.clone(),
            entries: r.entries_checked,
            checkpoints: r.checkpoints_checked,
            failure,
            entry_seq: seq,
        })
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    /// An entry and its inclusion proof, for an auditor; the reading is recorded first. An entry
    /// that names an agency (a query: its subject, case number and reason) is shown whole only to
    /// a reader whose branch reaches that agency, as the query log is (R-LOG-1); to others, the
    /// proof that its hash is in the log, without what it says.
    pub async fn inclusion_for(&self, current: &crate::Current, seq: u64) -> Result<Inclusion> {
        self.check_ledger_access(current, "inclusion proof").await?;
        self.record(
            crate::events::kind::LEDGER_READ,
            current.event_actor(),
            &format!("entry {seq}"),
            "inclusion proof",
        )
        .await?;
        let mut inc = self.inclusion(seq).await?;
        let agency = inc.entry.fields().iter().find(|(k, _)| k == "agency_id").and_then(|(_, v)| v.parse::<i64>().ok());
        // What concerns queries and their results (the query, its outcome, a result kept, destroyed
        // or downloaded) names people or cases: it is read whole only within the agency's branch,
        // and where the entry names no agency, only by a reader whose branch is the whole county.
        let about_queries = matches!(
            inc.entry.kind(),
            EntryKind::Query | EntryKind::QueryOutcome | EntryKind::Retention | EntryKind::Export
        );
        if agency.is_some() || about_queries {
            let tree = self.db().org_tree().await?;
            // Without an agency of its own, the entry is of its actor's (a query's outcome, a
            // result kept); one by the schedule or an unknown actor, of the county.
            let actor_agency = match agency {
                Some(_) => None,
                None => {
                    self.db().account_by_username(inc.entry.actor()).await?.and_then(|a| tree.agency_of(a.org_node_id))
                }
            };
            let target = agency.or(actor_agency).or(tree.root().map(|r| r.id));
            let reaches = nhiguard_domain::access::authorize(
                &tree,
                &current.actor(),
                nhiguard_domain::access::Action::VerifyLedger,
                target,
            )
            .is_ok();
            if !reaches {
                let e = &inc.entry;
                inc.entry = Entry::new(e.seq(), e.at_micros(), e.kind(), "", Vec::new()).map_err(ledger_err)?;
                inc.withheld = true;
            }
        }
        Ok(inc)
    }

    /// Signs a checkpoint on request (planning department, auditors).
    pub async fn checkpoint_for(&self, current: &crate::Current) -> Result<Option<StoredCheckpoint>> {
        self.check_ledger_access(current, "checkpoint").await?;
        self.checkpoint_now().await
    }
}

/// What a prune did.
#[derive(Debug, Clone)]
pub struct PruneOutcome {
    pub below: u64,
    pub cleared: u64,
    pub statement: String,
}

impl App {
    /// Clears the content of every entry older than `before` (a Taipei date), which must lie at
    /// least `ledger_retention_years` back (R-LOG-2). The entries keep their sequence numbers and
    /// leaf hashes, so the log still verifies against every checkpoint; a signed prune statement
    /// names the boundary, and the action itself is a ledger entry. Before clearing, a checkpoint
    /// covering the boundary is signed if there is none.
    pub async fn prune_ledger(&self, before: chrono::NaiveDate, by: &str) -> Result<PruneOutcome> {
        // Clearing entries cannot be undone: who ordered it is named (R-ACC-10's "who", for the log).
        let by = nhiguard_domain::ids::parse_name("by", by, 80)?;
        let by = by.as_str();
        let now = self.now();
        let today = nhiguard_domain::roc::taipei_date(now);
        let years = u32::try_from(self.settings().ledger_retention_years).unwrap_or(5).max(5);
        let limit = today.checked_sub_months(chrono::Months::new(12 * years)).unwrap_or(today);
        if before > limit {
            return Err(AppError::conflict(
                format!("查詢日誌須保存 {years} 年：只能移除 {} 以前的紀錄", nhiguard_domain::roc::long_date(limit)),
                format!("the log is kept {years} years: only entries before {limit} may be removed"),
            ));
        }
        let start = before
            .and_hms_opt(0, 0, 0)
            .map(|t| (t - chrono::Duration::hours(8)).and_utc().timestamp_micros())
            .unwrap_or(0);
        let below = self.db().ledger_first_at_or_after(start).await?;
        if below == 0 || self.db().prunes().await?.iter().any(|p| p.below >= below) {
            return Err(AppError::conflict("沒有可移除的紀錄", "there is nothing to remove"));
        }
        if self.db().latest_checkpoint().await?.is_none_or(|c| c.size < below) {
            self.checkpoint_now().await?;
        }
        let leaves = self.leaf_hashes(below).await?;
        let keys = self.ledger_keys();
        let root = nhiguard_ledger::root_from_leaves(&leaves);
        let statement = Checkpoint::new(&format!("{}.pruned", keys.deployment_id), below, root, now.timestamp())
            .map_err(ledger_err)?
            .sign(&keys.signing)
            .to_text();
        let mut tx = self.db().begin().await?;
        let cleared = tx
            .prune_ledger(&nhiguard_store::StoredPrune {
                below,
                at: nhiguard_store::micros(now),
                text: statement.clone(),
            })
            .await?;
        let fields = vec![
            ("event".to_owned(), "ledger_pruned".to_owned()),
            ("below".to_owned(), below.to_string()),
            ("before".to_owned(), before.to_string()),
            ("cleared".to_owned(), cleared.to_string()),
            ("by".to_owned(), by.to_owned()),
        ];
        append_in(
            &mut tx,
            &[Draft { kind: EntryKind::Retention, actor: by.to_owned(), at_micros: now.timestamp_micros(), fields }],
        )
        .await?;
        tx.commit().await?;
        Ok(PruneOutcome { below, cleared, statement })
    }
}
