//! The RFC 9162 §2.1 Merkle tree over leaf hashes: tree heads, the append-only [`Frontier`], and inclusion
//! and consistency proofs with their verifiers (R-LOG-2).
//!
//! The tree shape (split at the largest power of two smaller than n) is the standard one, so any CT or
//! C2SP tlog tool can check our proofs. This module must never depend on where leaves are stored; callers
//! hand it hashes.

use crate::error::{LedgerError, Result};
use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// Below this many leaves a second thread costs more than it saves.
const PARALLEL_MIN: usize = 1 << 14;

/// The largest power of two strictly smaller than `n`; `n` must be at least 2 (RFC 9162 §2.1.1's `k`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The right edge of a tree: for each 1-bit of the size, from the highest, the root of that aligned,
/// complete subtree. At most 64 hashes, enough to append and to compute the root without the leaves.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

/// Version byte of [`Frontier::to_bytes`].
const FRONTIER_FORMAT_VERSION: u8 = 1;

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(leaf, 0);
    }

    /// Appends one leaf hash and reports the root of every subtree it completes (height ≥ 1), lowest
    /// first: the merges the frontier makes anyway.
    pub(crate) fn push_reporting(&mut self, leaf: Hash, mut completed: impl FnMut(crate::nodes::NodeId, Hash)) {
        let end = self.size + 1;
        let mut hash = leaf;
        let mut h = 0;
        while (self.size >> h) & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            hash = node_hash(&left, &hash);
            h += 1;
            completed(crate::nodes::NodeId { height: h, index: (end >> h) - 1 }, hash);
        }
        self.nodes.push(hash);
        self.size = end;
    }

    /// Appends the root of a complete subtree of `2^height` leaves. Only valid when the size is a multiple
    /// of `2^height`, which the callers in this crate guarantee by cutting ranges into aligned pieces.
    pub(crate) fn push_subtree(&mut self, mut hash: Hash, height: u32) {
        debug_assert!(self.size.trailing_zeros() >= height, "unaligned subtree");
        // Binary addition of 2^height to the size: every carry merges two equal subtrees.
        let mut h = height;
        while (self.size >> h) & 1 == 1 {
            // The bit is set, so by the invariant nodes.len() == popcount(size) there is a node to pop.
            let Some(left) = self.nodes.pop() else { break };
            hash = node_hash(&left, &hash);
            h += 1;
        }
        self.nodes.push(hash);
        self.size += 1u64 << height;
    }

    /// The tree head: MTH of all leaves pushed so far ([`EMPTY_ROOT`] when none).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return EMPTY_ROOT;
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Serialises as: version byte 1, size as big-endian u64, then the subtree hashes (one per 1-bit of
    /// the size, highest first), 32 bytes each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 32 * self.nodes.len());
        out.push(FRONTIER_FORMAT_VERSION);
        out.extend_from_slice(&self.size.to_be_bytes());
        for n in &self.nodes {
            out.extend_from_slice(&n.0);
        }
        out
    }

    /// Reads [`Frontier::to_bytes`] back; the hash count must match the size exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Frontier> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(LedgerError::FrontierMalformed { reason: "empty" });
        };
        if version != FRONTIER_FORMAT_VERSION {
            return Err(LedgerError::FrontierMalformed { reason: "unknown version" });
        }
        if rest.len() < 8 {
            return Err(LedgerError::FrontierMalformed { reason: "too short for the size" });
        }
        let (size_bytes, hashes) = rest.split_at(8);
        let mut size = [0u8; 8];
        size.copy_from_slice(size_bytes);
        let size = u64::from_be_bytes(size);
        if hashes.len() != 32 * size.count_ones() as usize {
            return Err(LedgerError::FrontierMalformed { reason: "hash count does not match the size" });
        }
        let nodes = hashes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect();
        Ok(Frontier { size, nodes })
    }
}

/// An aligned complete subtree: leaves `[start, start + 2^height)` with `start` a multiple of `2^height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: u64,
    pub height: u32,
}

impl Piece {
    pub fn len(self) -> u64 {
        1u64 << self.height
    }
}

/// Cuts `[start, end)` into the fewest aligned complete subtrees, left to right. Each can be hashed on its
/// own (on any thread) and then pushed onto a frontier whose size is `start`.
pub(crate) fn pieces(start: u64, end: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let room = end - pos;
        let max_by_room = u64::BITS - 1 - room.leading_zeros();
        let height = if pos == 0 { max_by_room } else { pos.trailing_zeros().min(max_by_room) };
        out.push(Piece { start: pos, height });
        pos += 1u64 << height;
    }
    out
}

/// The root of a complete subtree, from its leaves in order.
pub(crate) fn subtree_root(leaves: impl IntoIterator<Item = Hash>) -> Hash {
    let mut f = Frontier::new();
    for l in leaves {
        f.push(l);
    }
    f.root()
}

fn mth_serial(leaves: &[Hash]) -> Hash {
    subtree_root(leaves.iter().copied())
}

/// MTH(D[n]) of the leaf hashes (RFC 9162 §2.1.1). Large inputs are hashed on two threads, cut at an
/// aligned point near the middle so both halves are aligned pieces of the one tree.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    let n = leaves.len();
    if n < PARALLEL_MIN {
        return mth_serial(leaves);
    }
    let mid = n / 2;
    let hash_range = |from: usize, to: usize| -> Vec<(Hash, u32)> {
        pieces(from as u64, to as u64)
            .into_iter()
            .map(|p| {
                let s = p.start as usize;
                (mth_serial(&leaves[s..s + p.len() as usize]), p.height)
            })
            .collect()
    };
    let (left, right) = std::thread::scope(|scope| {
        let right = scope.spawn(|| hash_range(mid, n));
        let left = hash_range(0, mid);
        (left, right.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let mut f = Frontier::new();
    for (h, height) in left.into_iter().chain(right) {
        f.push_subtree(h, height);
    }
    f.root()
}

fn check_size(size: u64, available: usize) -> Result<usize> {
    let available = available as u64;
    if size > available {
        return Err(LedgerError::SizeOutOfRange { size, available });
    }
    Ok(size as usize)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of the first `tree_size` leaves
/// (RFC 9162 §2.1.3.1). Needs every leaf hash of that tree.
pub fn inclusion_proof(leaves: &[Hash], index: u64, tree_size: u64) -> Result<Vec<Hash>> {
    let n = check_size(tree_size, leaves.len())?;
    if index >= tree_size {
        return Err(LedgerError::IndexOutOfRange { index, size: tree_size });
    }
    let mut out = Vec::new();
    path(index as usize, &leaves[..n], &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root_from_leaves(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root_from_leaves(&d[..k]));
    }
}

/// Checks that `leaf` is at `index` in the tree of `tree_size` leaves whose head is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, tree_size: u64, proof: &[Hash], root: &Hash) -> Result<()> {
    let fail = |reason| Err(LedgerError::InclusionProofInvalid { index, size: tree_size, reason });
    if index >= tree_size {
        return fail("the index is not inside the tree");
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return fail("the proof is too long");
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("the proof is too short");
    }
    if r != *root {
        return fail("the computed root differs");
    }
    Ok(())
}

/// The consistency proof that the tree of the first `new_size` leaves extends the tree of the first
/// `old_size` (RFC 9162 §2.1.4.1). Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
    if old_size > new_size {
        return Err(LedgerError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    let n = check_size(new_size, leaves.len())?;
    let mut out = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(old_size as usize, &leaves[..n], true, &mut out);
    }
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root_from_leaves(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root_from_leaves(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root_from_leaves(&d[..k]));
    }
}

/// Checks that the tree of `new_size` leaves with head `new_root` extends the tree of `old_size` leaves
/// with head `old_root` (RFC 9162 §2.1.4.2). Equal sizes need equal roots and an empty proof; the empty old
/// tree needs [`EMPTY_ROOT`] and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    let fail = |reason| Err(LedgerError::ConsistencyProofInvalid { old: old_size, new: new_size, reason });
    if old_size > new_size {
        return Err(LedgerError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return fail("the proof must be empty");
        }
        if old_size == 0 && *old_root != EMPTY_ROOT {
            return fail("the old root is not the empty tree's");
        }
        if old_size == new_size && old_root != new_root {
            return fail("equal sizes with different roots");
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return fail("the proof is empty");
    };
    // When the old tree is a complete subtree its root is the proof's implicit first node.
    let (seed, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (first, rest) };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if snode == 0 {
            return fail("the proof is too long");
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("the proof is too short");
    }
    if fr != *old_root {
        return fail("the computed old root differs");
    }
    if sr != *new_root {
        return fail("the computed new root differs");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn h(hex: &str) -> Hash {
        Hash::from_hex(hex).unwrap()
    }

    /// The eight leaves of the Certificate Transparency / Trillian reference tree.
    fn ct_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// The RFC's recursive definition, written plainly, to check the fast paths against.
    fn mth_reference(d: &[Hash]) -> Hash {
        match d.len() {
            0 => EMPTY_ROOT,
            1 => d[0],
            n => {
                let k = split(n);
                node_hash(&mth_reference(&d[..k]), &mth_reference(&d[k..]))
            }
        }
    }

    fn synthetic(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn flip(h: &Hash, byte: usize) -> Hash {
        let mut x = *h;
        x.0[byte % 32] ^= 0x01;
        x
    }

    #[test]
    fn r_log_2_ct_reference_roots() {
        let leaves = ct_leaves();
        for (n, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(root_from_leaves(&leaves[..n]), h(want), "size {n}");
            let mut f = Frontier::new();
            leaves[..n].iter().for_each(|l| f.push(*l));
            assert_eq!(f.root(), h(want), "frontier size {n}");
        }
    }

    #[test]
    fn r_log_2_ct_reference_inclusion_proofs() {
        let leaves = ct_leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            assert_eq!(inclusion_proof(&leaves, index, size).unwrap(), want, "{index}/{size}");
            verify_inclusion(&leaves[index as usize], index, size, &want, &h(CT_ROOTS[size as usize])).unwrap();
        }
    }

    #[test]
    fn r_log_2_ct_reference_consistency_proofs() {
        let leaves = ct_leaves();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            assert_eq!(consistency_proof(&leaves, old, new).unwrap(), want, "{old}->{new}");
            verify_consistency(old, new, &h(CT_ROOTS[old as usize]), &h(CT_ROOTS[new as usize]), &want).unwrap();
        }
    }

    #[test]
    fn r_log_2_split_is_the_rfc_split() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)] {
            assert_eq!(split(n), k, "n = {n}");
        }
    }

    #[test]
    fn r_log_2_roots_agree_with_the_reference_for_every_size() {
        let leaves = synthetic(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), EMPTY_ROOT);
        for n in 1..=leaves.len() {
            f.push(leaves[n - 1]);
            let want = mth_reference(&leaves[..n]);
            assert_eq!(f.root(), want, "frontier {n}");
            assert_eq!(root_from_leaves(&leaves[..n]), want, "root_from_leaves {n}");
            assert_eq!(f.size(), n as u64);
            assert_eq!(Frontier::from_bytes(&f.to_bytes()).unwrap(), f);
        }
    }

    #[test]
    fn r_log_2_parallel_root_matches_serial_root() {
        for n in [PARALLEL_MIN, PARALLEL_MIN + 1, 3 * PARALLEL_MIN + 17, 1 << 16] {
            let leaves = synthetic(n);
            assert_eq!(root_from_leaves(&leaves), mth_reference(&leaves), "n = {n}");
        }
    }

    #[test]
    fn pieces_cover_the_range_aligned() {
        for start in 0..70u64 {
            for end in start..140u64 {
                let ps = pieces(start, end);
                let mut pos = start;
                for p in &ps {
                    assert_eq!(p.start, pos);
                    assert_eq!(p.start % p.len(), 0);
                    pos += p.len();
                }
                assert_eq!(pos, end);
            }
        }
    }

    #[test]
    fn r_log_2_pushing_pieces_equals_pushing_leaves() {
        let leaves = synthetic(100);
        for cut in 0..=100usize {
            let mut f = Frontier::new();
            leaves[..cut].iter().for_each(|l| f.push(*l));
            for p in pieces(cut as u64, 100) {
                let s = p.start as usize;
                f.push_subtree(mth_reference(&leaves[s..s + p.len() as usize]), p.height);
            }
            assert_eq!(f.root(), mth_reference(&leaves), "cut {cut}");
        }
    }

    #[test]
    fn frontier_bytes_reject_junk() {
        assert!(Frontier::from_bytes(&[]).is_err());
        assert!(Frontier::from_bytes(&[2, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Frontier::from_bytes(&[1, 0, 0]).is_err());
        let mut f = Frontier::new();
        f.push(leaf_hash(b"a"));
        let mut bytes = f.to_bytes();
        bytes.pop();
        assert!(Frontier::from_bytes(&bytes).is_err());
        assert_eq!(Frontier::from_bytes(&Frontier::new().to_bytes()).unwrap(), Frontier::new());
    }

    /// Brute force over every size 1..=64 and every index: each proof verifies, and a single flipped byte
    /// in the proof, the leaf or the root makes it fail, as do a wrong index or size.
    #[test]
    fn r_log_2_every_inclusion_proof_verifies_and_every_tamper_fails() {
        let leaves = synthetic(64);
        for n in 1..=64u64 {
            let root = root_from_leaves(&leaves[..n as usize]);
            for i in 0..n {
                let leaf = leaves[i as usize];
                let proof = inclusion_proof(&leaves, i, n).unwrap();
                verify_inclusion(&leaf, i, n, &proof, &root).unwrap();
                for (j, p) in proof.iter().enumerate() {
                    for byte in [0, 17, 31] {
                        let mut bad = proof.clone();
                        bad[j] = flip(p, byte);
                        assert!(verify_inclusion(&leaf, i, n, &bad, &root).is_err(), "proof {i}/{n}");
                    }
                }
                for byte in [0, 31] {
                    assert!(verify_inclusion(&flip(&leaf, byte), i, n, &proof, &root).is_err());
                    assert!(verify_inclusion(&leaf, i, n, &proof, &flip(&root, byte)).is_err());
                }
                if !proof.is_empty() {
                    assert!(verify_inclusion(&leaf, i, n, &proof[..proof.len() - 1], &root).is_err());
                }
                let mut longer = proof.clone();
                longer.push(leaf);
                assert!(verify_inclusion(&leaf, i, n, &longer, &root).is_err());
                assert!(verify_inclusion(&leaf, n, n, &proof, &root).is_err());
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(verify_inclusion(&leaf, other, n, &proof, &root).is_err(), "{other}/{n}");
                }
            }
        }
        assert!(matches!(inclusion_proof(&leaves, 5, 5), Err(LedgerError::IndexOutOfRange { .. })));
        assert!(matches!(inclusion_proof(&leaves, 0, 65), Err(LedgerError::SizeOutOfRange { .. })));
    }

    /// Brute force over every pair old ≤ new ≤ 64: each proof verifies, and any flipped byte in the proof or
    /// either root fails.
    #[test]
    fn r_log_2_every_consistency_proof_verifies_and_every_tamper_fails() {
        let leaves = synthetic(64);
        let roots: Vec<Hash> = (0..=64).map(|n| root_from_leaves(&leaves[..n])).collect();
        for new in 0..=64u64 {
            for old in 0..=new {
                let (r1, r2) = (roots[old as usize], roots[new as usize]);
                let proof = consistency_proof(&leaves, old, new).unwrap();
                verify_consistency(old, new, &r1, &r2, &proof).unwrap();
                for (j, p) in proof.iter().enumerate() {
                    for byte in [0, 13, 31] {
                        let mut bad = proof.clone();
                        bad[j] = flip(p, byte);
                        assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err(), "{old}->{new}");
                    }
                }
                // Any new root is consistent with the empty tree, so only old > 0 pins the new root.
                if old > 0 {
                    assert!(verify_consistency(old, new, &flip(&r1, 5), &r2, &proof).is_err());
                    assert!(verify_consistency(old, new, &r1, &flip(&r2, 30), &proof).is_err());
                }
                if !proof.is_empty() {
                    assert!(verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]).is_err());
                }
                let mut longer = proof.clone();
                longer.push(r1);
                assert!(verify_consistency(old, new, &r1, &r2, &longer).is_err());
            }
        }
        assert!(matches!(consistency_proof(&leaves, 5, 3), Err(LedgerError::SizesOutOfOrder { old: 5, new: 3 })));
        assert!(verify_consistency(5, 3, &roots[5], &roots[3], &[]).is_err());
    }
}
