//! Checkpoints: signed tree heads in the C2SP tlog-checkpoint / signed-note text form (R-LOG-2).
//!
//! ```text
//! nhiguard.<deployment-id>
//! <size>
//! <base64 root>
//! <RFC 3339 UTC time, to the second>
//!
//! — <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>
//! ```
//! The signature covers the four body lines, each ending in `\n`. The signature line starts with U+2014 EM
//! DASH and a space, as in C2SP and Go's `sumdb/note`; an ASCII `-` is not accepted, so every checkpoint
//! has one spelling. A checkpoint may carry more signature lines (e.g. later witness cosignatures); lines
//! by other keys are kept but ignored when checking against one key.
//!
//! A checkpoint is published (integrity page, yearly package) so that a later rewrite of the log, even by
//! someone with database access, no longer matches what was signed. This module must never accept a text
//! that reads in two ways: parsing is strict and re-rendering a parsed checkpoint gives the same bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{LedgerError, Result};
use crate::hash::Hash;
use crate::key::{PublicKey, SigningKey, check_key_name};
use crate::time::{format_rfc3339, parse_rfc3339};

/// Every origin line starts with this, followed by the deployment id.
const ORIGIN_PREFIX: &str = "nhiguard.";
const SIG_PREFIX: &str = "\u{2014} ";
/// Bounds that keep a hostile text from costing much to parse.
const MAX_TEXT: usize = 16 * 1024;
const MAX_SIGNATURES: usize = 16;

/// Checks a deployment id: 1–64 ASCII letters, digits, `-`, `_` or `.`.
pub(crate) fn check_deployment_id(id: &str) -> Result<()> {
    let bad = |reason| Err(LedgerError::DeploymentId { reason });
    if id.is_empty() || id.len() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if !id.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
        return bad("may hold only ASCII letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// The origin line of a deployment's log: `nhiguard.<deployment id>`.
pub(crate) fn origin_for(deployment_id: &str) -> Result<String> {
    check_deployment_id(deployment_id)?;
    Ok(format!("{ORIGIN_PREFIX}{deployment_id}"))
}

/// A tree head: this log (origin) had `size` entries with Merkle root `root` at `at_secs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    at_secs: i64,
}

impl Checkpoint {
    /// A checkpoint of the log of `deployment_id`; `at_secs` is Unix time in whole seconds (UTC), within
    /// years 1970–9999.
    pub fn new(deployment_id: &str, size: u64, root: Hash, at_secs: i64) -> Result<Checkpoint> {
        let origin = origin_for(deployment_id)?;
        format_rfc3339(at_secs)?;
        Ok(Checkpoint { origin, size, root, at_secs })
    }

    /// `nhiguard.<deployment id>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of entries covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Merkle root of the first `size` entries.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// When it was made, Unix seconds UTC.
    pub fn at_secs(&self) -> i64 {
        self.at_secs
    }

    /// The signed body: four lines, each ending in `\n`.
    pub fn body(&self) -> String {
        // `new` and `parse` both checked the time, so formatting cannot fail; the fallback keeps this total.
        let time = format_rfc3339(self.at_secs).unwrap_or_default();
        format!("{}\n{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64(), time)
    }

    /// Signs the body with `key`.
    pub fn sign(&self, key: &SigningKey) -> SignedCheckpoint {
        let signature = NoteSignature::make(key, self.body().as_bytes());
        SignedCheckpoint { checkpoint: self.clone(), signatures: vec![signature] }
    }
}

/// One signature line of a signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NoteSignature {
    name: String,
    key_id: [u8; 4],
    /// The bytes after the key id; 64 for Ed25519, other lengths for other algorithms of other keys.
    signature: Vec<u8>,
}

impl NoteSignature {
    fn make(key: &SigningKey, message: &[u8]) -> NoteSignature {
        NoteSignature { name: key.name().to_owned(), key_id: key.key_id(), signature: key.sign_raw(message).to_vec() }
    }

    fn line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(blob))
    }

    fn parse(line: &str, line_no: usize) -> Result<NoteSignature> {
        let bad = |reason| LedgerError::CheckpointMalformed { line: line_no, reason };
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(bad("a signature line must start with '— '"))?;
        let (name, b64) = rest.split_once(' ').ok_or(bad("a signature line is '— <name> <base64>'"))?;
        check_key_name(name).map_err(|_| bad("the key name is not valid"))?;
        let blob = BASE64.decode(b64).map_err(|_| bad("the signature is not base64"))?;
        if blob.len() < 5 {
            return Err(bad("the signature is too short"));
        }
        let (id, signature) = blob.split_at(4);
        let key_id = [id[0], id[1], id[2], id[3]];
        let sig = NoteSignature { name: name.to_owned(), key_id, signature: signature.to_vec() };
        if sig.line() != format!("{line}\n") {
            return Err(bad("the signature is not in canonical base64"));
        }
        Ok(sig)
    }
}

/// A checkpoint with its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    signatures: Vec<NoteSignature>,
}

impl SignedCheckpoint {
    /// The tree head that was signed.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The full text: body, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.checkpoint.body();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Reads the text form, strictly (see the module doc). Does not check signatures: that is
    /// [`SignedCheckpoint::verify`], which needs the public key.
    pub fn parse(text: &str) -> Result<SignedCheckpoint> {
        let bad = |line, reason| LedgerError::CheckpointMalformed { line, reason };
        if text.len() > MAX_TEXT {
            return Err(bad(1, "the text is too long"));
        }
        let (body, sigs) = text.split_once("\n\n").ok_or(bad(1, "no blank line before the signatures"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, time] = lines[..] else {
            return Err(bad(lines.len().min(5), "the body must be exactly 4 lines: origin, size, root, time"));
        };
        let id = origin.strip_prefix(ORIGIN_PREFIX).ok_or(bad(1, "the origin must start with 'nhiguard.'"))?;
        check_deployment_id(id).map_err(|_| bad(1, "the deployment id in the origin is not valid"))?;
        let canonical_number =
            !size.is_empty() && size.bytes().all(|c| c.is_ascii_digit()) && (size == "0" || !size.starts_with('0'));
        if !canonical_number {
            return Err(bad(2, "the size must be a decimal number without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| bad(2, "the size is too large"))?;
        let root = Hash::from_base64(root).map_err(|_| bad(3, "the root must be 44 characters of base64"))?;
        let at_secs = parse_rfc3339(time).map_err(|_| bad(4, "the time must be YYYY-MM-DDTHH:MM:SSZ"))?;

        let sigs = sigs.strip_suffix('\n').ok_or(bad(6, "the text must end with a newline"))?;
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(bad(6 + i, "too many signature lines"));
            }
            signatures.push(NoteSignature::parse(line, 6 + i)?);
        }
        let checkpoint = Checkpoint { origin: origin.to_owned(), size, root, at_secs };
        Ok(SignedCheckpoint { checkpoint, signatures })
    }

    /// Checks that `key` signed this checkpoint: a signature line with the key's name and id must be
    /// present, and every such line must verify.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        let size = self.checkpoint.size;
        let mut ours = self.signatures.iter().filter(|s| s.name == key.name() && s.key_id == key.key_id()).peekable();
        if ours.peek().is_none() {
            return Err(LedgerError::CheckpointUnsigned { size, key_name: key.name().to_owned() });
        }
        let body = self.checkpoint.body();
        for s in ours {
            let valid =
                <[u8; 64]>::try_from(s.signature.as_slice()).is_ok_and(|sig| key.verify_raw(body.as_bytes(), &sig));
            if !valid {
                return Err(LedgerError::CheckpointSignatureInvalid { size, key_name: key.name().to_owned() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    const GO_SECRET: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

    fn key(name: &str) -> SigningKey {
        SigningKey::from_seed(name, &[7u8; 32]).unwrap()
    }

    fn sample() -> Checkpoint {
        Checkpoint::new("nantou", 42, leaf_hash(b"x"), 1_722_300_000).unwrap()
    }

    /// Ed25519 is deterministic, so signing Go's example note with Go's example key must give Go's bytes.
    #[test]
    fn r_log_2_signature_line_matches_go_sumdb_note() {
        let key = SigningKey::from_secret_text(GO_SECRET).unwrap();
        let text =
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        let line = NoteSignature::make(&key, text.as_bytes()).line();
        assert_eq!(
            line,
            "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
    }

    #[test]
    fn r_log_2_text_form_round_trips_and_verifies() {
        let k = key("nhiguard.nantou");
        let signed = sample().sign(&k);
        let text = signed.to_text();
        let root = leaf_hash(b"x").to_base64();
        assert!(text.starts_with(&format!("nhiguard.nantou\n42\n{root}\n2024-07-30T00:40:00Z\n\n— nhiguard.nantou ")));
        let back = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.to_text(), text);
        back.verify(&k.public_key()).unwrap();
    }

    #[test]
    fn r_log_2_changed_checkpoint_fails_its_signature() {
        let k = key("nhiguard.nantou");
        let text = sample().sign(&k).to_text();
        let other_root = leaf_hash(b"y").to_base64();
        let tampered = [
            text.replacen("\n42\n", "\n43\n", 1),
            text.replacen(&leaf_hash(b"x").to_base64(), &other_root, 1),
            text.replacen("00:40:00Z", "00:40:01Z", 1),
            text.replacen("nhiguard.nantou\n", "nhiguard.taipei\n", 1),
        ];
        for t in tampered {
            let parsed = SignedCheckpoint::parse(&t).unwrap();
            assert!(
                matches!(parsed.verify(&k.public_key()), Err(LedgerError::CheckpointSignatureInvalid { .. })),
                "{t}"
            );
        }
    }

    #[test]
    fn r_log_2_forged_signature_and_wrong_key_fail() {
        let k = key("nhiguard.nantou");
        let mut signed = sample().sign(&k);
        signed.signatures[0].signature[10] ^= 1;
        assert!(matches!(
            signed.verify(&k.public_key()),
            Err(LedgerError::CheckpointSignatureInvalid { size: 42, .. })
        ));

        let signed = sample().sign(&k);
        let impostor = SigningKey::from_seed("nhiguard.nantou", &[8u8; 32]).unwrap();
        assert!(matches!(signed.verify(&impostor.public_key()), Err(LedgerError::CheckpointUnsigned { .. })));
        // Same secret under another name is another key.
        let renamed = key("nhiguard.other");
        assert!(matches!(signed.verify(&renamed.public_key()), Err(LedgerError::CheckpointUnsigned { .. })));

        // A signature by the impostor, labelled with the real key's name and id, must not pass.
        let mut forged = sample().sign(&impostor);
        forged.signatures[0].key_id = k.key_id();
        assert!(matches!(forged.verify(&k.public_key()), Err(LedgerError::CheckpointSignatureInvalid { .. })));
    }

    #[test]
    fn r_log_2_other_signatures_are_kept_and_ignored() {
        let k = key("nhiguard.nantou");
        let witness = SigningKey::from_seed("witness.example", &[9u8; 32]).unwrap();
        let mut signed = sample().sign(&k);
        signed.signatures.push(NoteSignature::make(&witness, sample().body().as_bytes()));
        let back = SignedCheckpoint::parse(&signed.to_text()).unwrap();
        back.verify(&k.public_key()).unwrap();
        back.verify(&witness.public_key()).unwrap();
    }

    #[test]
    fn r_log_2_malformed_checkpoint_text_is_rejected_with_its_line() {
        let text = sample().sign(&key("nhiguard.nantou")).to_text();
        let cases: Vec<(String, usize)> = vec![
            (text.replacen("nhiguard.nantou\n", "other.nantou\n", 1), 1),
            (text.replacen("nhiguard.nantou\n", "nhiguard.nan tou\n", 1), 1),
            (text.replacen("\n42\n", "\n042\n", 1), 2),
            (text.replacen("\n42\n", "\n-42\n", 1), 2),
            (text.replacen("\n42\n", "\n99999999999999999999\n", 1), 2),
            (text.replacen(&leaf_hash(b"x").to_base64(), "AAAA", 1), 3),
            (text.replacen("2024-07-30T00:40:00Z", "2024-07-30T00:40:00+00:00", 1), 4),
            (text.replacen("\u{2014} ", "- ", 1), 6),
            (text.replacen("\n\n", "\n", 1), 1),
            (text.replacen("2024-07-30T00:40:00Z\n", "2024-07-30T00:40:00Z\nextra\n", 1), 5),
            (text.trim_end_matches('\n').to_owned(), 6),
            (format!("{text}\n"), 7),
            (format!("{text}— nhiguard.nantou !!!!\n"), 7),
        ];
        for (bad, line) in cases {
            match SignedCheckpoint::parse(&bad) {
                Err(LedgerError::CheckpointMalformed { line: got, .. }) => {
                    assert_eq!(got, line, "{bad}")
                }
                other => panic!("expected a malformed-text error for {bad:?}, got {other:?}"),
            }
        }
        assert!(SignedCheckpoint::parse("").is_err());
        assert!(SignedCheckpoint::parse(&"x".repeat(MAX_TEXT + 1)).is_err());
    }

    #[test]
    fn checkpoint_new_checks_its_inputs() {
        assert!(Checkpoint::new("", 0, Hash::default(), 0).is_err());
        assert!(Checkpoint::new("a b", 0, Hash::default(), 0).is_err());
        assert!(Checkpoint::new("ok", 0, Hash::default(), -1).is_err());
        assert_eq!(Checkpoint::new("ok", 0, Hash::default(), 0).unwrap().origin(), "nhiguard.ok");
    }
}
