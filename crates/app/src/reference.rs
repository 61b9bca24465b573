//! The reference data every query is authorised against — the organisation tree, the purposes,
//! operations and linkages, the case-number formats — kept in memory while it is unchanged. A
//! county's is small and changes a few times a year, yet reading it took five of a query's
//! statements (BENCHMARKS.md section 1). Each use reads one number, the database's reference
//! generation, which triggers move in the same transaction as any change (migration 0019); the copy
//! is used only while that number is the one it was read under. So a retired purpose or a dropped
//! linkage refuses the very next query, in this process and in any other sharing the database.

use std::collections::HashMap;
use std::sync::Arc;

use nhiguard_domain::catalogue::{Linkage, Operation, Purpose};
use nhiguard_domain::org::OrgTree;

use crate::{App, Result};

/// One consistent copy of the reference data.
#[derive(Debug)]
pub(crate) struct Reference {
    generation: i64,
    pub tree: OrgTree,
    pub purposes: HashMap<i64, Purpose>,
    pub operations: HashMap<i64, Operation>,
    pub linkages: Vec<Linkage>,
    /// By agency.
    pub case_patterns: HashMap<i64, String>,
}

impl Reference {
    /// The agency's case-number format, if it set one (R-QRY-1). A stored format was checked when
    /// it was set; one that no longer parses is not applied.
    pub fn case_pattern(&self, agency: Option<i64>) -> Option<nhiguard_domain::query::CasePattern> {
        agency.and_then(|a| self.case_patterns.get(&a)).and_then(|p| nhiguard_domain::query::CasePattern::parse(p).ok())
    }
}

/// The copy this process holds, if any.
pub(crate) type Cached = std::sync::Mutex<Option<Arc<Reference>>>;

impl App {
    /// The reference data as the database holds it now: the kept copy when its generation is still
    /// current, otherwise a fresh read (kept for the next use).
    pub(crate) async fn reference(&self) -> Result<Arc<Reference>> {
        self.reference_at(None).await
    }

    /// The same, given the generation when it was just read (with the request's session,
    /// `Current::reference_generation`); `None` reads it.
    pub(crate) async fn reference_at(&self, generation: Option<i64>) -> Result<Arc<Reference>> {
        let generation = match generation {
            Some(g) => g,
            None => self.db().reference_generation().await?,
        };
        if let Some(r) = self.cached_reference().filter(|r| r.generation == generation) {
            return Ok(r);
        }
        // Read after the generation: the copy is at least as new as the number it is kept under,
        // so a change committed meanwhile only makes the next use read again.
        let db = self.db();
        let fresh = Arc::new(Reference {
            generation,
            tree: db.org_tree().await?,
            purposes: db.purposes().await?.into_iter().map(|p| (p.id, p)).collect(),
            operations: db.operations().await?.into_iter().map(|o| (o.id, o)).collect(),
            linkages: db.linkages(None).await?,
            case_patterns: db.case_patterns().await?.into_iter().collect(),
        });
        if let Ok(mut slot) = self.inner.reference.lock() {
            *slot = Some(fresh.clone());
        }
        Ok(fresh)
    }

    fn cached_reference(&self) -> Option<Arc<Reference>> {
        self.inner.reference.lock().ok().and_then(|slot| slot.clone())
    }
}

/// The names pages show beside what they list — agencies and units, purposes, operations — from
/// the reference data as of the request's session read. Names only: what a user may see or do with
/// any of them is checked where it is listed or done.
#[derive(Debug, Clone)]
pub struct Names(Arc<Reference>);

impl Names {
    pub fn tree(&self) -> &OrgTree {
        &self.0.tree
    }

    pub fn purpose(&self, id: i64) -> Option<&Purpose> {
        self.0.purposes.get(&id)
    }

    pub fn operation(&self, id: i64) -> Option<&Operation> {
        self.0.operations.get(&id)
    }
}

impl App {
    /// The names of the reference data for a page `current` is shown (see [`Names`]); no read
    /// beyond the request's own when the kept copy is current.
    pub async fn names(&self, current: &crate::Current) -> Result<Names> {
        Ok(Names(self.reference_at(current.reference_generation).await?))
    }
}
