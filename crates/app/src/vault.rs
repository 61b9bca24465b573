//! Retrieved NHI data at rest (R-QRY-6, R-DAT-1): sealed with XChaCha20-Poly1305 under a key kept
//! in a file outside the database (mode 0600), so that a copy of the database alone reveals no
//! result. Each result is bound to its row by the associated data, so ciphertexts cannot be
//! swapped between rows unnoticed.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{AppError, Result};

/// The key results are sealed with. `Debug` never shows it.
#[derive(Clone)]
pub struct ResultsKey([u8; 32]);

impl std::fmt::Debug for ResultsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultsKey(***)")
    }
}

const PREFIX: &str = "NHIGUARD-RESULTS-KEY-1 ";

impl ResultsKey {
    pub fn generate() -> Result<Self> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
        Ok(Self(k))
    }

    /// Writes a new key file readable by its owner only; refuses to overwrite one.
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        writeln!(f, "{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(self.0))?;
        f.sync_all()
    }

    /// Reads a key file; refuses one that group or others can read.
    pub fn read_file(path: &Path) -> std::result::Result<Self, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err("the key file is readable by others: chmod 600 it".into());
        }
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let b64 = text.trim().strip_prefix(PREFIX).ok_or("not a results key file")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| "not a results key file")?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "not a results key file")?;
        Ok(Self(key))
    }

    /// Seals `plain` for the row named by `aad`; returns (nonce, ciphertext).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
        let ct = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| AppError::Internal("sealing a result failed".into()))?;
        Ok((nonce.to_vec(), ct))
    }

    pub fn open(&self, nonce: &[u8], ct: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; 24] =
            nonce.try_into().map_err(|_| AppError::Internal("a stored result has a bad nonce".into()))?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        cipher.decrypt(&XNonce::from(nonce), Payload { msg: ct, aad }).map_err(|_| {
            AppError::Internal("a stored result could not be opened (wrong key, or the data was changed)".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_qry_6_results_are_sealed_and_bound_to_their_row() {
        let k = ResultsKey::generate().unwrap();
        let (n, ct) = k.seal(b"contact_address=Nantou", b"result 1").unwrap();
        assert!(!ct.windows(7).any(|w| w == b"contact"), "no plaintext in the ciphertext");
        assert_eq!(k.open(&n, &ct, b"result 1").unwrap(), b"contact_address=Nantou");
        assert!(k.open(&n, &ct, b"result 2").is_err(), "moved to another row");
        assert!(ResultsKey::generate().unwrap().open(&n, &ct, b"result 1").is_err(), "another key");
        assert_eq!(format!("{k:?}"), "ResultsKey(***)");
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("nhiguard-vault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.key");
        std::fs::remove_file(&path).ok();
        let k = ResultsKey::generate().unwrap();
        k.write_file(&path).unwrap();
        assert!(k.write_file(&path).is_err());
        let back = ResultsKey::read_file(&path).unwrap();
        let (n, ct) = k.seal(b"x", b"a").unwrap();
        assert_eq!(back.open(&n, &ct, b"a").unwrap(), b"x");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(ResultsKey::read_file(&path).unwrap_err().contains("chmod 600"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
