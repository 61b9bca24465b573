//! The Ed25519 key that signs checkpoints, its public half, and the key file (R-LOG-2).
//!
//! Text forms are those of Go's `golang.org/x/mod/sumdb/note` (and C2SP signed-note), so standard tools can
//! read them: secret `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`, public
//! `<name>+<key id hex>+<base64(0x01 || public key)>`, key id = first 4 bytes of
//! SHA-256(name || "\n" || 0x01 || public key).
//!
//! This module must never let the secret half reach a log, an error message or `Debug` output; it leaves the
//! secret only in the key file, written with mode 0600, or in the text a caller explicitly asks for.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{LedgerError, Result};

/// The signature-type byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;
const SECRET_PREFIX: &str = "PRIVATE+KEY+";
/// A key file is a single short line; refuse to read more than this so a wrong path cannot eat memory.
const KEY_FILE_MAX: u64 = 1024;

/// Checks a key name the way signed notes require: non-empty, no whitespace, control characters or `+`.
pub(crate) fn check_key_name(name: &str) -> Result<()> {
    let bad = |reason| Err(LedgerError::KeyName { reason });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 128 {
        return bad("longer than 128 bytes");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+') {
        return bad("contains whitespace, a control character or '+'");
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of `<name>+<key id>+<base64(0x01 || key)>`.
struct KeyText<'a> {
    name: &'a str,
    id: [u8; 4],
    /// The 32 key bytes after the type byte; secret for a signing key, hence wiped on drop.
    key: Zeroizing<[u8; 32]>,
}

/// Splits `<name>+<hex8>+<base64>` (the base64 may itself contain `+`) and checks name, id and algorithm.
fn split_key_text(text: &str) -> Result<KeyText<'_>> {
    let bad = |reason| LedgerError::KeyMalformed { reason };
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected <name>+<key id>+<key data>"));
    };
    check_key_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad("key id must be 8 lowercase hex digits"));
    }
    let mut id = [0u8; 4];
    for (slot, pair) in id.iter_mut().zip(id_hex.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad("key id is not hex"))?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| bad("key id is not hex"))?;
    }
    let raw = Zeroizing::new(BASE64.decode(data).map_err(|_| bad("key data is not base64"))?);
    if raw.len() != 33 || raw[0] != ALG_ED25519 {
        return Err(bad("key data is not an Ed25519 key (type byte 0x01 and 32 bytes)"));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&raw[1..]);
    Ok(KeyText { name, id, key })
}

/// The key that signs checkpoints. `Debug` shows its name and key id, never the secret.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key_id: [u8; 4],
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new key from operating-system randomness. `name` is what signature lines carry, e.g.
    /// `nhiguard.nantou`.
    pub fn generate(name: &str) -> Result<SigningKey> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| LedgerError::Randomness { reason: e.to_string() })?;
        SigningKey::from_seed(name, &seed)
    }

    /// The key with this 32-byte Ed25519 seed: for tests and fixed vectors; real keys come from
    /// [`SigningKey::generate`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SigningKey> {
        check_key_name(name)?;
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let key_id = key_id(name, inner.verifying_key().as_bytes());
        Ok(SigningKey { name: name.to_owned(), key_id, inner })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, for verifiers and the integrity page.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { name: self.name.clone(), key_id: self.key_id, inner: self.inner.verifying_key() }
    }

    /// Signs `message`; the caller is the checkpoint module, which alone decides what gets signed.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }

    pub(crate) fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The secret text form, `PRIVATE+KEY+<name>+<key id>+<base64>`. It is the secret: write it only where
    /// a key belongs (prefer [`SigningKey::write_key_file`]).
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.inner.as_bytes());
        Zeroizing::new(format!("{SECRET_PREFIX}{}+{}+{}", self.name, hex4(&self.key_id), BASE64.encode(*raw)))
    }

    /// Reads the secret text form; the key id must match the name and key.
    pub fn from_secret_text(text: &str) -> Result<SigningKey> {
        let rest = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(LedgerError::KeyMalformed { reason: "secret key text must start with PRIVATE+KEY+" })?;
        let parts = split_key_text(rest)?;
        let key = SigningKey::from_seed(parts.name, &parts.key)?;
        if key.key_id != parts.id {
            return Err(LedgerError::KeyMalformed { reason: "key id does not match the name and key" });
        }
        Ok(key)
    }

    /// Writes the key to a new file with mode 0600. Fails if the file exists: a signing key is never
    /// silently replaced, since checkpoints signed by the old one could then no longer be checked.
    pub fn write_key_file(&self, path: &Path) -> Result<()> {
        let io_err = |source| LedgerError::KeyFileIo { path: path.to_owned(), source };
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => LedgerError::KeyFileExists { path: path.to_owned() },
                _ => io_err(e),
            })?;
        let mut text = self.to_secret_text();
        text.push('\n');
        file.write_all(text.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)
    }

    /// Reads a key file written by [`SigningKey::write_key_file`]. Refuses a file that group or others may
    /// read: a leaked signing key lets anyone sign a rewritten log.
    pub fn read_key_file(path: &Path) -> Result<SigningKey> {
        let io_err = |source| LedgerError::KeyFileIo { path: path.to_owned(), source };
        let file = File::open(path).map_err(io_err)?;
        // Check the opened file itself, so the mode we judge is the mode of what we read.
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(io_err(io::Error::other("not a regular file")));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(LedgerError::KeyFilePermissions { path: path.to_owned(), mode });
        }
        let mut text = Zeroizing::new(String::new());
        file.take(KEY_FILE_MAX).read_to_string(&mut text).map_err(io_err)?;
        SigningKey::from_secret_text(&text)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &hex4(&self.key_id))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The public half of a [`SigningKey`]: what verifiers are given. Its text form is
/// `<name>+<key id>+<base64(0x01 || key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key_id: [u8; 4],
    inner: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// The key's name, as signature lines carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id as 8 hex digits.
    pub fn key_id_hex(&self) -> String {
        hex4(&self.key_id)
    }

    pub(crate) fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The text form, one line (for the integrity page and `--public-key FILE`).
    pub fn to_text(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.inner.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&self.key_id), BASE64.encode(raw))
    }

    /// Reads the text form (surrounding whitespace, such as a file's final newline, is ignored). Refuses a
    /// key id that does not match, an invalid curve point and a weak (small-order) key.
    pub fn parse(text: &str) -> Result<PublicKey> {
        let KeyText { name, id, key: bytes } = split_key_text(text.trim())?;
        let inner = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| LedgerError::KeyMalformed { reason: "not a valid Ed25519 public key" })?;
        if inner.is_weak() {
            return Err(LedgerError::KeyMalformed { reason: "a weak (small-order) Ed25519 public key" });
        }
        if key_id(name, &bytes) != id {
            return Err(LedgerError::KeyMalformed { reason: "key id does not match the name and key" });
        }
        Ok(PublicKey { name: name.to_owned(), key_id: id, inner })
    }

    /// True when `signature` is a valid strict Ed25519 signature of `message` by this key.
    pub(crate) fn verify_raw(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.inner.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key pair of Go's sumdb/note documentation, a fixed vector for the text forms and the key id.
    const GO_SECRET: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_PUBLIC: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    fn temp_path(tag: &str) -> std::path::PathBuf {
        let mut n = [0u8; 8];
        getrandom::fill(&mut n).unwrap();
        std::env::temp_dir().join(format!("nhiguard-ledger-{tag}-{}", u64::from_be_bytes(n)))
    }

    #[test]
    fn r_log_2_go_note_key_vector() {
        let key = SigningKey::from_secret_text(GO_SECRET).unwrap();
        assert_eq!(key.public_key().to_text(), GO_PUBLIC);
        assert_eq!(key.to_secret_text().as_str(), GO_SECRET);
        assert_eq!(PublicKey::parse(GO_PUBLIC).unwrap(), key.public_key());
        assert_eq!(key.public_key().key_id_hex(), "c74f20a3");
    }

    #[test]
    fn r_log_2_key_text_rejects_mangling() {
        assert!(PublicKey::parse(&GO_PUBLIC.replace("c74f20a3", "c74f20a4")).is_err());
        assert!(PublicKey::parse(&GO_PUBLIC.replace("Peter", "Paul")).is_err());
        assert!(PublicKey::parse(&GO_PUBLIC.replace("+ARpc", "+AhR")).is_err());
        assert!(PublicKey::parse("PeterNeumann+c74f20a3").is_err());
        assert!(SigningKey::from_secret_text(&GO_SECRET.replace("c74f20a3", "00000000")).is_err());
        assert!(SigningKey::from_secret_text(GO_PUBLIC).is_err());
        assert!(SigningKey::generate("has space").is_err());
        assert!(SigningKey::generate("has+plus").is_err());
        assert!(SigningKey::generate("").is_err());
    }

    #[test]
    fn r_log_2_debug_never_shows_the_secret() {
        let key = SigningKey::generate("nhiguard.test").unwrap();
        let shown = format!("{key:?}");
        let secret = key.to_secret_text();
        // PREFIX name+keyid+base64, and base64 may itself contain '+': all after the key id.
        let secret_b64 = secret.strip_prefix(SECRET_PREFIX).unwrap().splitn(3, '+').nth(2).unwrap();
        assert_eq!(secret_b64.len(), 44, "the whole base64 of 33 bytes");
        assert!(!shown.contains(secret_b64), "{shown}");
        assert!(shown.contains("redacted"));
        assert_ne!(key.to_secret_text(), SigningKey::generate("nhiguard.test").unwrap().to_secret_text());
    }

    #[test]
    fn r_log_2_key_file_is_private_and_never_overwritten() {
        let path = temp_path("key");
        let key = SigningKey::generate("nhiguard.test").unwrap();
        key.write_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = SigningKey::read_key_file(&path).unwrap();
        assert_eq!(back.public_key(), key.public_key());

        let again = SigningKey::generate("nhiguard.test").unwrap().write_key_file(&path);
        assert!(matches!(again, Err(LedgerError::KeyFileExists { .. })));
        assert_eq!(SigningKey::read_key_file(&path).unwrap().public_key(), key.public_key());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = SigningKey::read_key_file(&path).unwrap_err();
        assert!(matches!(err, LedgerError::KeyFilePermissions { mode: 0o640, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"));
        std::fs::remove_file(&path).unwrap();

        assert!(matches!(SigningKey::read_key_file(&path), Err(LedgerError::KeyFileIo { .. })));
    }
}
