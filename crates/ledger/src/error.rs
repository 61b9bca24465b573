//! The crate's one error type: every way an operation of the ledger can fail, each variant naming what
//! failed and why.
//!
//! Messages must never carry an entry's field values or actor (they may be personal data), nor any secret
//! key material; they may name field keys, sizes, indices and file paths. Failures found while verifying a
//! stored log are not errors but [`crate::VerifyFailure`]s, reported in a [`crate::VerifyReport`].

use std::path::PathBuf;

/// Result of a ledger operation.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Everything that can go wrong in the ledger crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    // --- entries ---
    /// The entry, encoded, would exceed [`crate::MAX_ENTRY_BYTES`].
    #[error("entry encodes to {len} bytes, more than the limit of {max}")]
    EntryTooLong { len: usize, max: usize },
    /// A field key is the empty string.
    #[error("entry has a field with an empty key")]
    EmptyFieldKey,
    /// Two fields share a key.
    #[error("entry has field `{key}` more than once")]
    DuplicateField { key: String },
    /// The bytes end before the named part is complete.
    #[error("entry bytes end inside the {part}")]
    EntryTruncated { part: &'static str },
    /// Bytes are left over after the last field.
    #[error("entry bytes have {extra} bytes after the last field")]
    EntryTrailingBytes { extra: usize },
    /// The first byte names an encoding this code does not know.
    #[error(
        "entry encoding version {found} is not supported (this code reads version {})",
        crate::ENTRY_FORMAT_VERSION
    )]
    EntryVersion { found: u8 },
    /// A string in the entry is not UTF-8.
    #[error("entry {part} is not valid UTF-8")]
    EntryUtf8 { part: &'static str },
    /// Fields are not in strictly ascending key order, so the bytes are not canonical.
    #[error("entry field `{key}` is out of order: fields must be sorted by key")]
    EntryUnsortedFields { key: String },
    /// The kind code is not one of [`crate::EntryKind`]'s.
    #[error("entry kind code {code:?} is unknown")]
    UnknownEntryKind { code: String },

    // --- hashes and the Merkle tree ---
    /// A hash in text form is not 64 hex digits or 44 base64 characters of 32 bytes.
    #[error("hash text is malformed: {reason}")]
    HashMalformed { reason: &'static str },
    /// A leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A tree size is larger than the leaves supplied.
    #[error("tree size {size} is larger than the {available} leaves supplied")]
    SizeOutOfRange { size: u64, available: u64 },
    /// A consistency proof was asked between sizes that are not old ≤ new.
    #[error("tree sizes are in the wrong order: old size {old} is larger than new size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    /// An inclusion proof does not prove the leaf is in the tree with that root.
    #[error("inclusion proof for leaf {index} in tree of size {size} does not verify: {reason}")]
    InclusionProofInvalid { index: u64, size: u64, reason: &'static str },
    /// A consistency proof does not prove the new tree extends the old one.
    #[error("consistency proof from size {old} to size {new} does not verify: {reason}")]
    ConsistencyProofInvalid { old: u64, new: u64, reason: &'static str },
    /// Serialised frontier bytes are not valid.
    #[error("frontier bytes are malformed: {reason}")]
    FrontierMalformed { reason: &'static str },

    // --- keys ---
    /// A key name is empty, too long, or contains whitespace, control characters or `+`.
    #[error("key name is not valid: {reason}")]
    KeyName { reason: &'static str },
    /// A key in text form could not be read.
    #[error("key text is malformed: {reason}")]
    KeyMalformed { reason: &'static str },
    /// The operating system could not supply randomness for a new key.
    #[error("could not get randomness from the operating system for a new key: {reason}")]
    Randomness { reason: String },
    /// `write_key_file` refuses to overwrite a key.
    #[error("key file {} already exists; refusing to overwrite a signing key", path.display())]
    KeyFileExists { path: PathBuf },
    /// A signing key file can be read by group or others.
    #[error(
        "key file {} has mode {mode:o}, readable by group or others; make it private with `chmod 600`",
        path.display()
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    /// The key file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    KeyFileIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // --- checkpoints ---
    /// A deployment id (the part of the origin after `nhiguard.`) is not valid.
    #[error("deployment id is not valid: {reason}")]
    DeploymentId { reason: &'static str },
    /// A time cannot be written or read as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`, years 1970–9999).
    #[error("time is not valid: {reason}")]
    Time { reason: &'static str },
    /// Checkpoint text does not follow the format; `line` counts from 1.
    #[error("checkpoint text is malformed at line {line}: {reason}")]
    CheckpointMalformed { line: usize, reason: &'static str },
    /// The checkpoint carries no signature by the key it is checked against.
    #[error("checkpoint at size {size} has no signature by key {key_name}")]
    CheckpointUnsigned { size: u64, key_name: String },
    /// A signature by the key is present but does not verify.
    #[error("checkpoint at size {size}: the signature by key {key_name} does not verify")]
    CheckpointSignatureInvalid { size: u64, key_name: String },
}
