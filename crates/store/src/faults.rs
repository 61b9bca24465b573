//! Seams for tests of what no test could time: a healthy PostgreSQL made to fail as a broken
//! network would, at the one moment that matters. Compiled in only with the `fault-injection`
//! feature, which only the tests enable; without it every check below is a constant "no fault".

use crate::StoreError;

/// A fault a test arms on a [`crate::Db`]; each fires once.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next group sent ahead (`Db::append_prebuilt`) commits, then fails as if the connection
    /// broke before `COMMIT`'s answer came.
    CommitAnswerLost,
    /// The same, and the read that tells whether the group committed fails too.
    CommitAnswerLostUnchecked,
    /// The next group sent ahead is written and reported failed while its transaction, still
    /// holding the head's lock, is yet to commit, which it does a moment later: as when the
    /// client's side of a connection breaks while the server is finishing `COMMIT`.
    CommitLate,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// Commit answers to lose, and checks of a lost one to fail.
    #[cfg(feature = "fault-injection")]
    armed: std::sync::Arc<[std::sync::atomic::AtomicUsize; 3]>,
}

impl Faults {
    /// After a group committed: whether to report it failed instead.
    pub(crate) fn commit_answer_lost(&self) -> Option<StoreError> {
        #[cfg(feature = "fault-injection")]
        if self.fire(0) {
            return Some(StoreError::Unavailable("connection lost during COMMIT (injected)".into()));
        }
        None
    }

    /// Before the read that tells whether a failed group committed: whether it fails.
    pub(crate) fn check_fails(&self) -> Option<StoreError> {
        #[cfg(feature = "fault-injection")]
        if self.fire(1) {
            return Some(StoreError::Unavailable("no connection (injected)".into()));
        }
        None
    }
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// Whether the next group is to be written by [`commit_late`].
    pub(crate) fn commit_late(&self) -> bool {
        self.fire(2)
    }

    fn fire(&self, which: usize) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.armed[which].fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[cfg(feature = "fault-injection")]
impl crate::Db {
    /// Arms `fault` on this database handle (and its clones).
    pub fn inject(&self, fault: Fault) {
        use std::sync::atomic::Ordering::SeqCst;
        match fault {
            Fault::CommitAnswerLost => self.faults.armed[0].fetch_add(1, SeqCst),
            Fault::CommitAnswerLostUnchecked => {
                self.faults.armed[1].fetch_add(1, SeqCst);
                self.faults.armed[0].fetch_add(1, SeqCst)
            }
            Fault::CommitLate => self.faults.armed[2].fetch_add(1, SeqCst),
        };
    }

    /// How many armed faults have not fired yet: a test checks they did.
    pub fn faults_armed(&self) -> usize {
        self.faults.armed.iter().map(|n| n.load(std::sync::atomic::Ordering::SeqCst)).sum()
    }
}

/// [`Fault::CommitLate`]: writes the group on `conn` (the head is the expected one: the test arms
/// this with nothing else appending), tells the group after it that the head is locked, and
/// returns the failure as soon as the rows are written; the transaction commits 300 ms later.
#[cfg(feature = "fault-injection")]
pub(crate) async fn commit_late(
    conn: Option<sqlx::postgres::PgConnection>,
    rows: Vec<crate::LedgerRow>,
    new_head: crate::LedgerHead,
    results: Vec<Option<crate::NewResult>>,
    locked: tokio::sync::oneshot::Sender<()>,
) -> StoreError {
    use sqlx::Connection;
    let Some(mut conn) = conn else { return StoreError::Unavailable("no ledger writer".into()) };
    let (written, rows_in) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let Ok(mut tx) = conn.begin().await else { return };
        if sqlx::query(crate::append::HEAD_SELECT_LOCKED).execute(&mut *tx).await.is_err() {
            return;
        }
        locked.send(()).ok();
        if crate::append::write_locked(&mut tx, &rows, &new_head, &results).await.is_ok() {
            written.send(()).ok();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            tx.commit().await.ok();
        }
    });
    rows_in.await.ok();
    StoreError::Unavailable("connection lost during COMMIT (injected, committing late)".into())
}
