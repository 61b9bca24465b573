//! Inclusion proofs without the whole tree (R-LOG-2). A proof from the leaves (`merkle::inclusion_proof`)
//! reads every leaf hash of the tree: at ten million entries, seconds. But every hash a proof needs is the
//! root of an aligned, complete subtree (leaves `[i·2^L, (i+1)·2^L)`), or is made from a few of them along
//! the tree's right edge. So the store keeps those roots once they are complete — from height
//! [`STORED_MIN_HEIGHT`] up, which is one row per eight leaves — and a proof reads about 2·log₂(n) of them
//! by key plus one group of at most 2^[`STORED_MIN_HEIGHT`] leaf hashes.
//!
//! The roots are derived data: a wrong one cannot make a false proof pass, since a proof is checked against a
//! signed checkpoint's root (`verify_inclusion`), and `ledger verify` never reads them.

use std::collections::BTreeMap;

use crate::error::{LedgerError, Result};
use crate::hash::{Hash, node_hash};
use crate::merkle::Frontier;

/// The lowest height whose subtree roots are stored: below it, roots are computed from at most
/// 2^(this − 1) leaf hashes read in one range.
pub const STORED_MIN_HEIGHT: u32 = 4;

/// An aligned complete subtree: leaves `[index·2^height, (index+1)·2^height)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub height: u32,
    pub index: u64,
}

impl NodeId {
    pub fn start(self) -> u64 {
        self.index << self.height
    }

    pub fn end(self) -> u64 {
        (self.index + 1) << self.height
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// The leaf ranges whose tree heads form the inclusion proof of `index` in a tree of `size` leaves, in
/// proof order (RFC 9162 §2.1.3.1, PATH).
fn path_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    // PATH recurses into the half holding `index` and appends the other half's head after the recursion;
    // walking down and reversing gives the same order.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The aligned complete subtrees whose roots make up MTH of `[lo, hi)`, left to right (RFC 9162's split).
fn range_nodes(lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    let n = hi - lo;
    if n.is_power_of_two() && lo.trailing_zeros() >= n.trailing_zeros() {
        let height = n.trailing_zeros();
        out.push(NodeId { height, index: lo >> height });
        return;
    }
    let k = split(n);
    range_nodes(lo, lo + k, out);
    range_nodes(lo + k, hi, out);
}

/// MTH of `[lo, hi)` from the roots of its aligned complete subtrees.
fn range_head(lo: u64, hi: u64, roots: &BTreeMap<NodeId, Hash>) -> Result<Hash> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.trailing_zeros() >= n.trailing_zeros() {
        let height = n.trailing_zeros();
        let id = NodeId { height, index: lo >> height };
        return roots.get(&id).copied().ok_or(LedgerError::SizeOutOfRange { size: hi, available: lo });
    }
    let k = split(n);
    Ok(node_hash(&range_head(lo, lo + k, roots)?, &range_head(lo + k, hi, roots)?))
}

/// What an inclusion proof of `index` in a tree of `size` leaves needs: the stored subtree roots (height ≥
/// [`STORED_MIN_HEIGHT`]) and the leaf ranges holding every lower one — at most two, each within one group
/// of 2^[`STORED_MIN_HEIGHT`] leaves: beside `index`, and at the tree's right edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofNeeds {
    pub stored: Vec<NodeId>,
    pub leaves: Vec<(u64, u64)>,
}

/// What to read for the proof of `index` in a tree of `size` leaves.
pub fn proof_needs(index: u64, size: u64) -> Result<ProofNeeds> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut nodes = Vec::new();
    for (lo, hi) in path_ranges(index, size) {
        range_nodes(lo, hi, &mut nodes);
    }
    let (low, stored): (Vec<NodeId>, Vec<NodeId>) = nodes.into_iter().partition(|n| n.height < STORED_MIN_HEIGHT);
    // Subtrees below the stored height lie beside `index` or along the right edge: one range per group.
    let mut leaves: Vec<(u64, u64)> = Vec::new();
    for n in low {
        let group = n.start() >> STORED_MIN_HEIGHT;
        match leaves.iter_mut().find(|(a, _)| a >> STORED_MIN_HEIGHT == group) {
            Some(r) => *r = (r.0.min(n.start()), r.1.max(n.end())),
            None => leaves.push((n.start(), n.end())),
        }
    }
    leaves.sort_unstable();
    Ok(ProofNeeds { stored, leaves })
}

/// The inclusion proof of `index` in a tree of `size` leaves, from the stored roots `needs.stored` asks for
/// and the leaf hashes (by sequence number) of `needs.leaves`. Equal to `merkle::inclusion_proof` over all
/// the leaves; an error, never a wrong proof, when something asked for is missing.
pub fn proof_from_nodes(index: u64, size: u64, stored: &[(NodeId, Hash)], leaves: &[(u64, Hash)]) -> Result<Vec<Hash>> {
    let mut roots: BTreeMap<NodeId, Hash> = stored.iter().copied().collect();
    let leaf_of: BTreeMap<u64, Hash> = leaves.iter().copied().collect();
    let mut low = Vec::new();
    for (lo, hi) in path_ranges(index, size) {
        range_nodes(lo, hi, &mut low);
    }
    for id in low.into_iter().filter(|n| n.height < STORED_MIN_HEIGHT) {
        let mut f = Frontier::new();
        for seq in id.start()..id.end() {
            let leaf = leaf_of.get(&seq).ok_or(LedgerError::SizeOutOfRange { size: seq + 1, available: seq })?;
            f.push(*leaf);
        }
        roots.insert(id, f.root());
    }
    path_ranges(index, size).into_iter().map(|(lo, hi)| range_head(lo, hi, &roots)).collect()
}

/// Appends leaves from a frontier on, reporting every subtree root of height ≥ [`STORED_MIN_HEIGHT`] that a
/// leaf completes: what the store keeps for proofs. Returns the frontier after the leaves.
pub fn complete_nodes(
    mut frontier: Frontier,
    leaves: impl IntoIterator<Item = Hash>,
    mut completed: impl FnMut(NodeId, Hash),
) -> Frontier {
    for leaf in leaves {
        frontier.push_reporting(leaf, |id, hash| {
            if id.height >= STORED_MIN_HEIGHT {
                completed(id, hash);
            }
        });
    }
    frontier
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::merkle::{inclusion_proof, root_from_leaves};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Every subtree root of height ≥ STORED_MIN_HEIGHT, as the store would keep it.
    fn stored_roots(all: &[Hash]) -> BTreeMap<NodeId, Hash> {
        let mut out = BTreeMap::new();
        complete_nodes(Frontier::new(), all.iter().copied(), |id, h| {
            out.insert(id, h);
        });
        out
    }

    fn proof_via_nodes(all: &[Hash], stored: &BTreeMap<NodeId, Hash>, index: u64, size: u64) -> Vec<Hash> {
        let needs = proof_needs(index, size).unwrap();
        let given: Vec<(NodeId, Hash)> = needs.stored.iter().map(|id| (*id, stored[id])).collect();
        let low: Vec<(u64, Hash)> =
            needs.leaves.iter().flat_map(|&(a, b)| (a..b).map(|s| (s, all[s as usize]))).collect();
        proof_from_nodes(index, size, &given, &low).unwrap()
    }

    #[test]
    fn r_log_2_completed_roots_are_the_subtree_roots() {
        let all = leaves(300);
        let stored = stored_roots(&all);
        assert_eq!(stored.len(), 300 / 16 + 300 / 32 + 300 / 64 + 300 / 128 + 300 / 256);
        for (id, h) in &stored {
            assert!(id.height >= STORED_MIN_HEIGHT);
            assert_eq!(*h, root_from_leaves(&all[id.start() as usize..id.end() as usize]), "{id:?}");
        }
    }

    #[test]
    fn r_log_2_a_proof_from_stored_roots_equals_the_proof_from_all_leaves() {
        let all = leaves(140);
        let stored = stored_roots(&all);
        for size in 1..=140u64 {
            for index in 0..size {
                let expected = inclusion_proof(&all, index, size).unwrap();
                assert_eq!(proof_via_nodes(&all, &stored, index, size), expected, "index {index} size {size}");
            }
        }
    }

    #[test]
    fn r_log_2_a_proof_in_a_large_tree_reads_few_hashes() {
        let size = 100_003u64;
        let all = leaves(size);
        let stored = stored_roots(&all);
        for index in [0, 1, 15, 16, 65_535, 65_536, 99_999, 100_000, 100_002] {
            let needs = proof_needs(index, size).unwrap();
            assert!(needs.stored.len() <= 2 * 17, "{} stored roots for index {index}", needs.stored.len());
            assert!(needs.leaves.len() <= 2);
            assert!(needs.leaves.iter().all(|(a, b)| b - a <= 16), "{:?} for index {index}", needs.leaves);
            assert_eq!(proof_via_nodes(&all, &stored, index, size), inclusion_proof(&all, index, size).unwrap());
        }
    }

    #[test]
    fn a_missing_root_is_an_error_not_a_wrong_proof() {
        let all = leaves(64);
        let low: Vec<(u64, Hash)> = (0..16).map(|s| (s, all[s as usize])).collect();
        assert!(proof_from_nodes(3, 64, &[], &low).is_err());
        assert!(proof_from_nodes(3, 64, &[], &low[..3]).is_err());
        assert!(proof_needs(64, 64).is_err());
    }
}
