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
    #[cfg(feature = "fault-injection")]
    state: std::sync::Arc<std::sync::Mutex<Armed>>,
}

#[cfg(feature = "fault-injection")]
#[derive(Debug, Default)]
struct Armed {
    /// Faults waiting for their moment, first armed first.
    faults: Vec<Fault>,
    /// The next check of a failed group's commit fails.
    fail_check: bool,
}

impl Faults {
    /// After a group committed: whether to report it failed instead.
    pub(crate) fn commit_answer_lost(&self) -> Option<StoreError> {
        #[cfg(feature = "fault-injection")]
        {
            let mut armed = self.armed();
            if let Some(at) = armed
                .faults
                .iter()
                .position(|f| matches!(f, Fault::CommitAnswerLost | Fault::CommitAnswerLostUnchecked))
            {
                armed.fail_check = armed.faults.remove(at) == Fault::CommitAnswerLostUnchecked;
                return Some(StoreError::Unavailable("connection lost during COMMIT (injected)".into()));
            }
        }
        None
    }

    /// Before the read that tells whether a failed group committed: whether it fails.
    pub(crate) fn check_fails(&self) -> Option<StoreError> {
        #[cfg(feature = "fault-injection")]
        if std::mem::take(&mut self.armed().fail_check) {
            return Some(StoreError::Unavailable("no connection (injected)".into()));
        }
        None
    }
}

#[cfg(feature = "fault-injection")]
impl Faults {
    fn armed(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "fault-injection")]
impl crate::Db {
    /// Arms `fault` on this database handle (and its clones).
    pub fn inject(&self, fault: Fault) {
        self.faults.armed().faults.push(fault);
    }
}
