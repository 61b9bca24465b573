//! The tamper-evident query log's pure logic (R-LOG-2): how an [`Entry`] is encoded, how entries are hashed
//! into an RFC 9162 Merkle tree, how a tree head is signed as a [`Checkpoint`], and how a stored log is
//! [`Verifier`]-checked end to end.
//!
//! This crate knows nothing of HTTP or of any database: the store keeps the rows (sequence number, encoded
//! bytes, leaf hash, checkpoint text) and the app wires them through here. It must never log or print entry
//! contents, and never expose a signing key's secret half except through the key file it writes itself.
//!
//! The formats are fixed in `FORMAT.md` beside this crate's `Cargo.toml`; change them only by adding a new
//! version, because signed checkpoints outlive the code that wrote them.

mod checkpoint;
mod entry;
mod error;
mod hash;
mod key;
mod merkle;
mod nodes;
mod time;
mod verify;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use entry::{ENTRY_FORMAT_VERSION, Entry, EntryKind, EntryView, MAX_ENTRY_BYTES};
pub use error::{LedgerError, Result};
pub use hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
pub use key::{PublicKey, SigningKey};
pub use merkle::{
    Frontier, consistency_proof, inclusion_proof, root_from_leaves, verify_consistency, verify_inclusion,
};
pub use nodes::{
    NodeId, ProofNeeds, STORED_MIN_HEIGHT, TILE_BYTES, TILE_SLOTS, TileHashes, TileId, complete_nodes,
    merge_into_tiles, partial_tiles, proof_from_nodes, proof_needs, roots_from_tiles, tile_from_bytes, tile_to_bytes,
    tiles_for,
};
pub use verify::{RETENTION_YEARS, StoredEntry, Verifier, VerifyFailure, VerifyReport, check_prune_timing};
