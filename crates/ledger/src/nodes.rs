//! Inclusion proofs without the whole tree (R-LOG-2). A proof from the leaves (`merkle::inclusion_proof`)
//! reads every leaf hash of the tree: at ten million entries, seconds. But every hash a proof needs is the
//! root of an aligned, complete subtree (leaves `[i·2^L, (i+1)·2^L)`), or is made from a few of them along
//! the tree's right edge. So the store keeps those roots once they are complete — from height
//! [`STORED_MIN_HEIGHT`] up, which is one row per eight leaves — and a proof reads about 2·log₂(n) of them
//! by key plus one group of at most 2^[`STORED_MIN_HEIGHT`] leaf hashes.
//!
//! The roots are derived data: a wrong one cannot make a false proof pass, since a proof is checked against a
//! signed checkpoint's root (`verify_inclusion`), and `ledger verify` never reads them.
//!
//! They are stored in tiles ([`TileId`]): one row holds the roots of four consecutive heights inside one
//! aligned stretch of leaves (30 hashes, 960 bytes), so that the ~2·log₂(n) roots of a proof come from about
//! log₂(n)/2 rows, and the low ones — near the entry, the ones no other proof has just read — from two or
//! three. On a log of ten million entries most of a proof's time was spent touching pages that nothing had
//! read for a while, one per root (BENCHMARKS.md section 3); a tile puts a proof's nearby roots on one.

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

/// Stored roots per tile: 16 + 8 + 4 + 2, the roots of heights `4b+4 … 4b+7` inside one tile of band `b`.
pub const TILE_SLOTS: usize = 30;

/// Bytes of a stored tile: its hashes in slot order, 32 bytes each, zero where a root is not yet complete.
pub const TILE_BYTES: usize = TILE_SLOTS * 32;

/// Where each of a tile's four heights starts among its slots.
const TILE_OFFSETS: [usize; 4] = [0, 16, 24, 28];

/// A tile: band `b` keeps the roots of heights `4b + STORED_MIN_HEIGHT` to `4b + STORED_MIN_HEIGHT + 3`, and
/// tile `index` of it those inside leaves `[index·2^(4b+8), (index+1)·2^(4b+8))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    pub band: u32,
    pub index: u64,
}

impl NodeId {
    /// The tile that keeps this root and its slot there; `None` below [`STORED_MIN_HEIGHT`].
    pub fn tile(self) -> Option<(TileId, usize)> {
        let above = self.height.checked_sub(STORED_MIN_HEIGHT)?;
        let (band, level) = (above / 4, above % 4);
        // Roots of this height per tile: 2^(4 − level).
        let per = 4 - level;
        let slot = TILE_OFFSETS[level as usize] + (self.index & ((1 << per) - 1)) as usize;
        Some((TileId { band, index: self.index >> per }, slot))
    }
}

/// A tile's hashes by slot, `None` where the root is not (yet) complete.
pub type TileHashes = [Option<Hash>; TILE_SLOTS];

/// A tile as stored: [`TILE_BYTES`] bytes, zeros for an empty slot (no SHA-256 value is all zeros).
pub fn tile_to_bytes(hashes: &TileHashes) -> Vec<u8> {
    let mut out = vec![0u8; TILE_BYTES];
    for (slot, h) in hashes.iter().enumerate() {
        if let Some(h) = h {
            out[slot * 32..slot * 32 + 32].copy_from_slice(h.as_bytes());
        }
    }
    out
}

/// A stored tile read back. Bytes of the wrong length give an empty tile: a proof that needs it then fails,
/// as it must, rather than using hashes from the wrong slots.
pub fn tile_from_bytes(bytes: &[u8]) -> TileHashes {
    let mut out = [None; TILE_SLOTS];
    if bytes.len() == TILE_BYTES {
        for (slot, chunk) in bytes.chunks_exact(32).enumerate() {
            let h: [u8; 32] = chunk.try_into().unwrap_or([0; 32]);
            if h != [0; 32] {
                out[slot] = Some(Hash(h));
            }
        }
    }
    out
}

/// The tiles holding the roots a proof needs, each once, in key order.
pub fn tiles_for(needs: &ProofNeeds) -> Vec<TileId> {
    let mut tiles: Vec<TileId> = needs.stored.iter().filter_map(|n| n.tile()).map(|(t, _)| t).collect();
    tiles.sort_unstable();
    tiles.dedup();
    tiles
}

/// The roots a proof needs, taken out of the tiles read for it ([`tiles_for`]); those missing are left out.
pub fn roots_from_tiles(needs: &ProofNeeds, tiles: &[(TileId, TileHashes)]) -> Vec<(NodeId, Hash)> {
    let by_id: BTreeMap<TileId, &TileHashes> = tiles.iter().map(|(id, h)| (*id, h)).collect();
    needs
        .stored
        .iter()
        .filter_map(|n| {
            let (tile, slot) = n.tile()?;
            by_id.get(&tile).and_then(|h| h[slot]).map(|h| (*n, h))
        })
        .collect()
}

/// The tiles that completed roots go to, merged into those already stored (`stored`, the tiles that were
/// partly filled at the last fill), in key order.
pub fn merge_into_tiles(stored: &[(TileId, TileHashes)], completed: &[(NodeId, Hash)]) -> Vec<(TileId, TileHashes)> {
    let mut tiles: BTreeMap<TileId, TileHashes> = BTreeMap::new();
    for (id, (tile, slot)) in completed.iter().filter_map(|(n, h)| n.tile().map(|t| (*h, t))) {
        let entry = tiles
            .entry(tile)
            .or_insert_with(|| stored.iter().find(|(t, _)| *t == tile).map_or([None; TILE_SLOTS], |(_, h)| *h));
        entry[slot] = Some(id);
    }
    tiles.into_iter().collect()
}

/// The tiles that may already hold some roots when the tree has `size` leaves: in each band, the one the
/// next leaf falls in, if that leaf does not start it.
pub fn partial_tiles(size: u64) -> Vec<TileId> {
    // A band holds roots only once the tree has a complete subtree of its lowest height.
    (0..)
        .map(|band: u32| (band, 4 * band + STORED_MIN_HEIGHT))
        .take_while(|&(_, lowest)| lowest < 60 && size >> lowest > 0)
        .filter(|&(_, lowest)| size & ((1u64 << (lowest + 4)) - 1) != 0)
        .map(|(band, lowest)| TileId { band, index: size >> (lowest + 4) })
        .collect()
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

    /// The proof as the store gives it: roots stored in tiles, filled in two steps (the second merging
    /// into the tiles the first left partly filled), then read back by the tiles a proof asks for.
    fn proof_via_tiles(all: &[Hash], first: u64, index: u64, size: u64) -> Vec<Hash> {
        let mut stored: BTreeMap<TileId, TileHashes> = BTreeMap::new();
        let mut frontier = Frontier::new();
        for (from, to) in [(0, first), (first, all.len() as u64)] {
            let mut completed = Vec::new();
            frontier = complete_nodes(frontier, all[from as usize..to as usize].iter().copied(), |id, h| {
                completed.push((id, h));
            });
            let partial: Vec<(TileId, TileHashes)> =
                partial_tiles(from).iter().filter_map(|t| stored.get(t).map(|h| (*t, *h))).collect();
            for (t, h) in merge_into_tiles(&partial, &completed) {
                let bytes = tile_to_bytes(&h);
                stored.insert(t, tile_from_bytes(&bytes));
            }
        }
        let needs = proof_needs(index, size).unwrap();
        let tiles: Vec<(TileId, TileHashes)> =
            tiles_for(&needs).iter().filter_map(|t| stored.get(t).map(|h| (*t, *h))).collect();
        let given = roots_from_tiles(&needs, &tiles);
        let low: Vec<(u64, Hash)> =
            needs.leaves.iter().flat_map(|&(a, b)| (a..b).map(|s| (s, all[s as usize]))).collect();
        proof_from_nodes(index, size, &given, &low).unwrap()
    }

    #[test]
    fn r_log_2_tiles_keep_every_root_in_its_own_slot() {
        let all = leaves(5000);
        let mut seen = BTreeMap::new();
        for (id, _) in stored_roots(&all) {
            let (tile, slot) = id.tile().unwrap();
            assert!(slot < TILE_SLOTS);
            let span = 4 * tile.band + STORED_MIN_HEIGHT + 4;
            assert!(id.start() >> span == tile.index && (id.end() - 1) >> span == tile.index, "{id:?} in {tile:?}");
            assert_eq!(seen.insert((tile, slot), id), None, "{id:?} shares a slot");
        }
        assert_eq!(NodeId { height: 3, index: 0 }.tile(), None);
        assert_eq!(tile_from_bytes(&[1; 31]), [None; TILE_SLOTS], "a tile of the wrong length is empty");
    }

    #[test]
    fn r_log_2_a_proof_from_tiles_equals_the_proof_from_all_leaves() {
        // Fills that stop inside tiles of both bands, and at their edges.
        for (n, first) in [(300u64, 100u64), (4500, 4096), (4500, 257), (5000, 4095)] {
            let all = leaves(n);
            for size in [1, 16, 17, 255, 256, 257, first, n / 2, n - 1, n] {
                for index in [0, 1, 15, 16, 255, 256, size / 2, size.saturating_sub(17), size - 1] {
                    if index < size {
                        let expected = inclusion_proof(&all, index, size).unwrap();
                        assert_eq!(
                            proof_via_tiles(&all, first, index, size),
                            expected,
                            "{index} of {size} ({n}/{first})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn partial_tiles_are_those_the_next_leaf_falls_inside() {
        assert_eq!(partial_tiles(0), vec![]);
        assert_eq!(partial_tiles(15), vec![]);
        assert_eq!(partial_tiles(16), vec![TileId { band: 0, index: 0 }]);
        assert_eq!(partial_tiles(256), vec![TileId { band: 1, index: 0 }]);
        assert_eq!(partial_tiles(300), vec![TileId { band: 0, index: 1 }, TileId { band: 1, index: 0 }]);
        assert_eq!(partial_tiles(4096), vec![TileId { band: 2, index: 0 }]);
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
