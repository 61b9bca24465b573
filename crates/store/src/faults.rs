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
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// Commit answers to lose, and checks of a lost one to fail.
    #[cfg(feature = "fault-injection")]
    armed: std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>,
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
        self.faults.armed[0].fetch_add(1, SeqCst);
        if fault == Fault::CommitAnswerLostUnchecked {
            self.faults.armed[1].fetch_add(1, SeqCst);
        }
    }

    /// How many armed faults have not fired yet: a test checks they did.
    pub fn faults_armed(&self) -> usize {
        self.faults.armed.iter().map(|n| n.load(std::sync::atomic::Ordering::SeqCst)).sum()
    }
}
