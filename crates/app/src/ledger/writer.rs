//! Group commit: appends that arrive while a group is being written wait and go together into the
//! next, each answered only after its transaction committed. One sync serves many.
//!
//! On SQLite a group is built under the write lock, from the head read there, and written; the next
//! group forms while it is written. On PostgreSQL the next group is also **built** (encoded,
//! hashed) and **sent** while the one before it commits: it is built on the head the writer
//! expects that group to leave, and its transaction takes the head's lock right behind that
//! group's and checks the head is the expected one (`Db::append_prebuilt`), so the database does
//! not wait for the writer between two groups. Should the head not be the expected one — another
//! process appended, an append inside some other transaction did, or the group before failed —
//! nothing of the group is written, the groups in flight are awaited, and those that did not write
//! are written again from the head as it is, under the lock. A group whose commit failed is looked
//! for in the log first (its answer may have been lost though it committed); one whose fate cannot
//! be told is refused, never written again.

use std::collections::VecDeque;
use std::sync::Arc;

use nhiguard_store::{Appended, Db, LedgerHead, LockOrder, NewResult, Prebuilt, Written};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Draft, build_rows};
use crate::{AppError, Result};

/// One group-committed append: the entry, and optionally the sealed result of the query it
/// records, stored in the same transaction (a query's outcome and its result are durable together).
struct Request {
    draft: Draft,
    result: Option<NewResult>,
    reply: oneshot::Sender<Result<Appended, String>>,
}

/// The handle appends are sent through; the writer task runs while one exists.
#[derive(Debug, Clone)]
pub(crate) struct GroupWriter {
    tx: mpsc::Sender<Request>,
}

/// The most appends written in one transaction.
const GROUP_MAX: usize = 1000;

/// PostgreSQL: groups on their way at once (the writer keeps one connection for each).
const IN_FLIGHT: usize = 2;

/// PostgreSQL: requests enough to send a group while another is on its way.
const AHEAD_MIN: usize = 64;

/// Writes one group under the lock, from the head read there: the entries, and the results that
/// go with them. Also gives the head the group left.
pub(super) async fn write_group(db: &Db, drafts: Arc<Vec<Draft>>, results: Vec<Option<NewResult>>) -> Result<Written> {
    db.append_group(move |head| build_rows(head, &drafts), results).await
}

/// A group taken from the queue: what to write, and whom to answer.
struct Group {
    drafts: Arc<Vec<Draft>>,
    results: Vec<Option<NewResult>>,
    replies: Vec<oneshot::Sender<Result<Appended, String>>>,
}

impl Group {
    /// These requests, and as many more as are already waiting (up to [`GROUP_MAX`]).
    fn gather(first: Vec<Request>, rx: &mut mpsc::Receiver<Request>) -> Self {
        let mut drafts = Vec::with_capacity(first.len());
        let mut results = Vec::with_capacity(first.len());
        let mut replies = Vec::with_capacity(first.len());
        for r in first {
            drafts.push(r.draft);
            results.push(r.result);
            replies.push(r.reply);
        }
        while drafts.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(r) => {
                    drafts.push(r.draft);
                    results.push(r.result);
                    replies.push(r.reply);
                }
                Err(_) => break,
            }
        }
        Self { drafts: Arc::new(drafts), results, replies }
    }

    fn answer(self, done: Vec<Appended>) {
        answer(self.replies, done);
    }

    /// Under the lock; if the group as a whole fails, each request again on its own, so that one
    /// that cannot be written (a result row the database refuses, say) does not fail the others.
    /// Gives the head left by the last write that succeeded, if it was the last write.
    async fn write_locked(self, db: &Db) -> Option<LedgerHead> {
        let Group { drafts, results, replies } = self;
        let retry = (replies.len() > 1).then(|| results.clone());
        match write_group(db, drafts.clone(), results).await {
            Ok((done, head)) => {
                answer(replies, done);
                Some(head)
            }
            // One by one only when a row may be what failed: an unreachable or busy database fails
            // each of them again, one wait after another.
            Err(e) if let Some(results) = retry.filter(|_| !matches!(e, AppError::Unavailable(_))) => {
                tracing::warn!(error = %e, entries = replies.len(), "ledger group failed; writing one by one");
                let mut last = None;
                for ((d, r), reply) in drafts.iter().zip(results).zip(replies) {
                    let one = write_group(db, Arc::new(vec![d.clone()]), vec![r]).await;
                    last = one.as_ref().ok().map(|(_, head)| head.clone());
                    reply.send(one.map(|(mut v, _)| v.remove(0)).map_err(|e| e.to_string())).ok();
                }
                last
            }
            Err(e) => {
                tracing::error!(error = %e, "ledger append failed");
                fail(replies, &e.to_string());
                None
            }
        }
    }
}

/// Answers every request of a group with the same failure.
fn fail(replies: Vec<oneshot::Sender<Result<Appended, String>>>, why: &str) {
    for reply in replies {
        reply.send(Err(why.to_owned())).ok();
    }
}

fn answer(replies: Vec<oneshot::Sender<Result<Appended, String>>>, done: Vec<Appended>) {
    for (reply, a) in replies.into_iter().zip(done) {
        reply.send(Ok(a)).ok();
    }
}

/// A group sent ahead, and the statement that writes it.
struct Flight {
    group: Group,
    written: JoinHandle<Result<Prebuilt>>,
}

type Sent = std::result::Result<Result<Prebuilt>, tokio::task::JoinError>;

/// The PostgreSQL writer's state: the head the last group sent will leave, and the groups on
/// their way, oldest first.
struct Pipeline {
    db: Db,
    expected: Option<LedgerHead>,
    flights: VecDeque<Flight>,
    /// Told when the last group sent holds the head's lock.
    last_locked: Option<oneshot::Receiver<()>>,
}

impl Pipeline {
    /// Sends `group` ahead, built on the expected head — or, with none known, writes it under the
    /// lock now (which tells the head it left).
    async fn send(&mut self, group: Group) {
        let Some(expected) = self.expected.take() else {
            self.expected = group.write_locked(&self.db).await;
            return;
        };
        let (rows, new_head) = match build_rows(&expected, &group.drafts) {
            Ok(built) => built,
            Err(e) => {
                tracing::error!(error = %e, "ledger group could not be built");
                fail(group.replies, &e.to_string());
                self.expected = Some(expected);
                return;
            }
        };
        let db = self.db.clone();
        let results = group.results.clone();
        self.expected = Some(new_head.clone());
        let (locked, next) = oneshot::channel();
        let order = LockOrder { after: self.last_locked.replace(next), locked };
        let written = tokio::spawn(async move {
            db.append_prebuilt(&expected, rows, new_head, &results, order).await.map_err(AppError::from)
        });
        self.flights.push_back(Flight { group, written });
    }

    /// Settles the oldest flight, whose statement gave `written`. If it did not write (the head
    /// was not the expected one, or it failed), every later flight was built on the head it was to
    /// leave and does not write either — unless it did commit though its fate could not be told —
    /// so they are all awaited, and those that did not write are written again under the lock.
    async fn settle(&mut self, flight: Group, written: Sent) {
        let mut again = Vec::new();
        if settled(flight, written, &mut again) {
            return;
        }
        while let Some(f) = self.flights.pop_front() {
            settled(f.group, f.written.await, &mut again);
        }
        self.expected = None;
        self.last_locked = None;
        for group in again {
            self.expected = group.write_locked(&self.db).await;
        }
    }

    /// Waits for the oldest flight and settles it.
    async fn settle_oldest(&mut self) {
        if let Some(f) = self.flights.pop_front() {
            let written = f.written.await;
            self.settle(f.group, written).await;
        }
    }
}

/// Answers a flight that wrote, and keeps one that surely did not for writing again. A flight of
/// which it is unknown whether it wrote (its commit failed, and reading the log to tell failed too)
/// is answered with the failure and never written again: its entries may be in the log already, and
/// a query refused though recorded is the lesser harm than a record made twice. True if it wrote.
fn settled(group: Group, written: Sent, again: &mut Vec<Group>) -> bool {
    let unknown = match written {
        Ok(Ok(Prebuilt::Written(done))) => {
            group.answer(done);
            return true;
        }
        Ok(Ok(Prebuilt::NotWritten(why))) => {
            tracing::debug!(reason = %why, "ledger group written again under the lock");
            again.push(group);
            return false;
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("ledger writer stopped: {e}"),
    };
    tracing::error!(error = %unknown, entries = group.replies.len(), "ledger append failed; the group may be in the log");
    fail(group.replies, &unknown);
    false
}

impl GroupWriter {
    pub(crate) fn spawn(db: Db) -> Option<Self> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel::<Request>(8192);
        if db.appends_prebuilt() {
            handle.spawn(run_pipelined(db, rx));
        } else {
            handle.spawn(run_locked(db, rx));
        }
        Some(Self { tx })
    }

    pub(super) async fn append(&self, draft: Draft, result: Option<NewResult>) -> Result<Appended> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { draft, result, reply })
            .await
            .map_err(|_| AppError::Unavailable("ledger writer stopped".into()))?;
        match answer.await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(AppError::Unavailable(format!("ledger append failed: {e}"))),
            Err(_) => Err(AppError::Unavailable("ledger writer stopped".into())),
        }
    }
}

/// One group at a time, each built and written under the lock.
async fn run_locked(db: Db, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        Group::gather(vec![first], &mut rx).write_locked(&db).await;
    }
}

/// Up to [`IN_FLIGHT`] groups on their way; the next forms while they are written. With one on
/// its way, the next is sent once [`AHEAD_MIN`] requests wait (a group of a few would cost a sync
/// of its own and leave the many arriving just after it for the group after), or when the one on
/// its way is done.
async fn run_pipelined(db: Db, mut rx: mpsc::Receiver<Request>) {
    let mut p = Pipeline { db, expected: None, flights: VecDeque::new(), last_locked: None };
    let mut waiting: Vec<Request> = Vec::new();
    let mut open = true;
    while open || !waiting.is_empty() {
        if p.flights.len() >= IN_FLIGHT {
            p.settle_oldest().await;
            continue;
        }
        if !waiting.is_empty() && (p.flights.is_empty() || waiting.len() >= AHEAD_MIN || !open) {
            let group = Group::gather(std::mem::take(&mut waiting), &mut rx);
            p.send(group).await;
            continue;
        }
        let next = match p.flights.front_mut() {
            None => rx.recv().await,
            Some(oldest) => {
                tokio::select! {
                    // Answering the group that is done comes first.
                    biased;
                    written = &mut oldest.written => {
                        if let Some(f) = p.flights.pop_front() {
                            p.settle(f.group, written).await;
                        }
                        continue;
                    }
                    r = rx.recv() => r,
                }
            }
        };
        match next {
            Some(r) => waiting.push(r),
            None => open = false,
        }
    }
    while !p.flights.is_empty() {
        p.settle_oldest().await;
    }
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use nhiguard_ledger::{EntryKind, Frontier, Hash, leaf_hash};
    use nhiguard_store::testdb::TestDb;

    use super::*;

    fn draft(who: &str, i: usize) -> Draft {
        Draft {
            kind: EntryKind::AccountAction,
            actor: who.to_owned(),
            at_micros: 1_790_000_000_000_000 + i as i64,
            fields: vec![("event".into(), "test".into()), ("n".into(), i.to_string())],
        }
    }

    /// Appends `n` entries by `who` at once through `w`: the acknowledged sequence numbers, and
    /// how many failed.
    async fn append_many(w: &GroupWriter, who: &'static str, n: usize) -> (BTreeSet<u64>, usize) {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move { w.append(draft(who, i), None).await })
            })
            .collect();
        let (mut seqs, mut failed) = (BTreeSet::new(), 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(a) => assert!(seqs.insert(a.seq), "sequence number {} given twice", a.seq),
                Err(e) => {
                    assert!(matches!(&e, AppError::Unavailable(m) if m.contains("could not be checked")), "{e:?}");
                    failed += 1;
                }
            }
        }
        (seqs, failed)
    }

    /// The log is one unbroken tree, each entry in it once: no two bodies alike but for their
    /// sequence number (bytes 1–8 of the encoding, crates/ledger/FORMAT.md).
    async fn assert_one_tree_without_repeats(db: &Db) -> u64 {
        let size = db.ledger_size().await.unwrap();
        let rows = db.ledger_rows(0, size + 10).await.unwrap();
        let mut frontier = Frontier::new();
        let mut bodies = BTreeSet::new();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.seq, i as u64, "no gap");
            assert!(bodies.insert(r.body[9..].to_vec()), "entry {i} is in the log twice");
            frontier.push(leaf_hash(&r.body));
        }
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.ledger_head().await.unwrap().frontier, frontier.to_bytes(), "the stored head is the tree's");
        size
    }

    /// R-LOG-2, PostgreSQL: the connection breaks during a group's `COMMIT`, which the server made
    /// durable with only its answer lost. The group is read back and answered as written — not
    /// written again, which would put its entries in the log twice. When reading the log to tell
    /// fails too, the group's appends fail (their queries refused) and it is still not written again;
    /// and when the failure comes before the server has finished committing, the check waits for it.
    /// (SQLite commits in the process itself: there is no answer to lose.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_log_2_a_commit_whose_answer_was_lost_is_answered_and_never_written_twice() {
        let test_db = TestDb::new().await.unwrap();
        let db = test_db.open().await.unwrap();
        if !db.appends_prebuilt() {
            return;
        }
        let w = GroupWriter::spawn(db.clone()).unwrap();
        // Groups are sent ahead once the writer knows the head it is to build on.
        w.append(draft("first", 0), None).await.unwrap();

        db.inject(nhiguard_store::Fault::CommitAnswerLost);
        let (seqs, failed) = append_many(&w, "lost", 400).await;
        assert_eq!(db.faults_armed(), 0, "the fault fired");
        assert_eq!((seqs.len(), failed), (400, 0), "every append answered as written");
        assert_eq!(assert_one_tree_without_repeats(&db).await, 401);

        db.inject(nhiguard_store::Fault::CommitAnswerLostUnchecked);
        let (seqs, failed) = append_many(&w, "unknown", 400).await;
        assert_eq!(db.faults_armed(), 0, "the fault fired");
        assert!(failed > 0, "the group whose fate could not be read is refused");
        assert_eq!(seqs.len() + failed, 400);
        assert_eq!(
            assert_one_tree_without_repeats(&db).await,
            801,
            "the refused group is in the log (it did commit), once"
        );
        // The writer goes on.
        w.append(draft("after", 0), None).await.unwrap();
        assert_eq!(assert_one_tree_without_repeats(&db).await, 802);

        // The failure is reported while the transaction is still to commit, which it does a moment
        // later: the check waits for it to end rather than finding its rows not yet there.
        db.inject(nhiguard_store::Fault::CommitLate);
        let (seqs, failed) = append_many(&w, "late", 400).await;
        assert_eq!(db.faults_armed(), 0, "the fault fired");
        assert_eq!((seqs.len(), failed), (400, 0), "every append answered as written");
        assert_eq!(assert_one_tree_without_repeats(&db).await, 1202);
    }

    /// A result the database refuses: it names no account.
    fn orphan_result(query_seq: u64) -> NewResult {
        let now = chrono::Utc::now();
        NewResult {
            account_id: -1,
            query_seq,
            operation_code: "INS01".into(),
            case_number: "T-1".into(),
            subject_masked: "A12****789".into(),
            created_at: now,
            purge_after: now,
            nonce: vec![0; 12],
            ciphertext: vec![1, 2, 3],
        }
    }

    /// R-LOG-2: three writers on one database (two processes, one of them with two writers; on
    /// PostgreSQL each sending groups ahead of the others' commits), appends inside another transaction, and requests the
    /// database refuses, all at once: every acknowledged append has its own sequence number, the
    /// refused ones and only they fail, and the log is one unbroken tree whose head is the stored one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_log_2_concurrent_writers_leave_one_log_without_gaps_or_forks() {
        let test_db = TestDb::new().await.unwrap();
        let one = test_db.open().await.unwrap();
        let two = test_db.open().await.unwrap();
        // A third writer shares the first's connections, as two apps on one `Db` would.
        let writers = [
            (GroupWriter::spawn(one.clone()).unwrap(), "one"),
            (GroupWriter::spawn(two.clone()).unwrap(), "two"),
            (GroupWriter::spawn(one.clone()).unwrap(), "three"),
        ];
        let mut tasks = Vec::new();
        for i in 0..600 {
            let (w, who) = (writers[i % 3].0.clone(), writers[i % 3].1);
            let bad = i % 97 == 5;
            tasks.push(tokio::spawn(async move {
                let result = bad.then(|| orphan_result(1));
                (bad, w.append(draft(who, i), result).await)
            }));
            if i % 150 == 0 {
                // An entry written inside some other transaction, as a review step is.
                let mut tx = one.begin().await.unwrap();
                crate::ledger::append_in(&mut tx, &[draft("in-tx", i)]).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
        let mut seqs = BTreeSet::new();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                (false, Ok(a)) => assert!(seqs.insert(a.seq), "sequence number {} given twice", a.seq),
                (true, Err(e)) => {
                    refused += 1;
                    assert!(matches!(&e, AppError::Unavailable(m) if m.contains("ledger append failed")), "{e:?}");
                }
                (bad, other) => panic!("refusable {bad}: {other:?}"),
            }
        }
        assert_eq!((seqs.len(), refused), (593, 7));

        let size = one.ledger_size().await.unwrap();
        assert_eq!(size, 593 + 4, "the acknowledged appends and the four inside transactions, nothing else");
        let rows = one.ledger_rows(0, size + 10).await.unwrap();
        let mut frontier = Frontier::new();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.seq, i as u64, "no gap");
            assert_eq!(r.leaf_hash, leaf_hash(&r.body).as_bytes().to_vec(), "entry {i} hashes to its leaf");
            frontier.push(Hash(r.leaf_hash.clone().try_into().unwrap()));
        }
        assert!(seqs.iter().all(|s| *s < size));
        let mut tx = two.begin().await.unwrap();
        let head = tx.ledger_head().await.unwrap();
        drop(tx);
        assert_eq!((head.size, head.frontier), (size, frontier.to_bytes()), "the stored head is the tree's");
    }
}
