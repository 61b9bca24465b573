//! SHA-256 hashes and the two hash functions of the RFC 9162 §2.1 Merkle tree (R-LOG-2).
//!
//! The 0x00 / 0x01 prefixes keep a leaf from ever being passed off as an interior node (second-preimage
//! resistance); they must never change, or no old checkpoint would verify.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::error::{LedgerError, Result};

/// A SHA-256 value: a leaf hash, an interior node hash or a tree root. Shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1),
/// `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// Hash of one leaf: SHA-256(0x00 || entry bytes) (RFC 9162 §2.1.1).
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry_bytes);
    Hash::from_digest(&hasher.finalize())
}

/// Hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One 65-byte buffer and one call: this runs once per leaf when verifying, so it is hot.
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash::from_digest(&Sha256::digest(buf))
}

impl Hash {
    fn from_digest(digest: &[u8]) -> Hash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest);
        Hash(out)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Reads 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Hash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(LedgerError::HashMalformed { reason: "hex form must be 64 digits" });
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(Hash(out))
    }

    /// Standard base64 with padding (44 characters), as a checkpoint writes its root.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Reads the base64 form; only the canonical 44-character encoding is accepted, so one hash has one text.
    pub fn from_base64(text: &str) -> Result<Hash> {
        if text.len() != 44 {
            return Err(LedgerError::HashMalformed { reason: "base64 form must be 44 characters" });
        }
        let bytes = BASE64.decode(text).map_err(|_| LedgerError::HashMalformed { reason: "not valid base64" })?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| LedgerError::HashMalformed { reason: "base64 does not decode to 32 bytes" })?;
        let hash = Hash(arr);
        if hash.to_base64() != text {
            return Err(LedgerError::HashMalformed { reason: "base64 is not in canonical form" });
        }
        Ok(hash)
    }
}

fn hex_digit(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(LedgerError::HashMalformed { reason: "not a hex digit" }),
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Hash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Hash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_log_2_empty_root_is_sha256_of_nothing() {
        assert_eq!(Hash::from_digest(&Sha256::digest(b"")), EMPTY_ROOT);
        assert_eq!(EMPTY_ROOT.to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn r_log_2_leaf_hash_of_empty_entry_is_the_ct_vector() {
        assert_eq!(leaf_hash(b"").to_hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    #[test]
    fn hex_and_base64_round_trip_and_reject_junk() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
        assert_eq!(Hash::from_base64(&h.to_base64()).unwrap(), h);
        assert!(Hash::from_hex("00").is_err());
        assert!(Hash::from_hex(&"g".repeat(64)).is_err());
        assert!(Hash::from_base64("AAAA").is_err());
        assert!(Hash::from_base64(&"!".repeat(44)).is_err());
        // The last character carries two unused bits; setting them is a second spelling of the same bytes.
        let text = EMPTY_ROOT.to_base64();
        assert!(text.ends_with("U="));
        let noncanonical = format!("{}V=", &text[..42]);
        assert!(Hash::from_base64(&noncanonical).is_err());
    }
}
