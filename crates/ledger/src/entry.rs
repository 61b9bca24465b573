//! A log entry and its canonical byte encoding, version 1 (R-LOG-1, R-LOG-2).
//!
//! The encoded bytes are what the Merkle tree hashes, so they must be the same on every machine and every
//! database, for ever: one entry has exactly one encoding, and `decode` refuses every other byte string.
//!
//! ```text
//! u8      version            = 1
//! u64     seq                  big-endian; the entry's position in the log, from 0
//! i64     at_micros            big-endian; UTC, microseconds since 1970-01-01T00:00:00Z
//! str     kind                 the kind's stable code, e.g. "query"
//! str     actor                who acted: the account name, or a job's name
//! u32     field count          big-endian
//! (str key, str value) × count  sorted by key (byte order), keys unique and non-empty
//! ```
//! where `str` is a big-endian u32 byte length followed by that many bytes of UTF-8. The whole encoding is
//! at most [`MAX_ENTRY_BYTES`]. Nothing follows the last field.
//!
//! This module must never log, print or put into an error message an entry's actor or field values: they
//! carry national IDs, case numbers and reasons. Its `Debug` shows the field keys only.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, Result};

/// The encoding version this code writes and reads.
pub const ENTRY_FORMAT_VERSION: u8 = 1;

/// The largest encoded entry accepted: far above any real entry (a query with its reason is a few hundred
/// bytes), low enough that a corrupt length cannot make a reader allocate without bound.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// What an entry records. Each variant has a stable code, written into the entry bytes; codes are never
/// renamed or reused, and an unknown code is an error on decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A query of NHI data was asked for (R-LOG-1), written before it is sent.
    Query,
    /// How a query ended: answered, refused, failed.
    QueryOutcome,
    /// An account action: create, approve, grant, revoke, disable, enable, password reset, handover (R-ACC-10).
    AccountAction,
    /// A sign-in, successful or not.
    SignIn,
    /// A step of the monthly review.
    ReviewAction,
    /// A step of the half-yearly audit.
    AuditAction,
    /// An export of reports or data.
    Export,
    /// Somebody read the query log itself.
    LedgerRead,
    /// A purge or deletion of retrieved data (R-DAT-1).
    Retention,
    /// A change to purposes, operations or linkages.
    CatalogueChange,
    /// A change to the tree of agencies and units.
    OrgChange,
}

impl EntryKind {
    /// Every kind, in code order of declaration.
    pub const ALL: [EntryKind; 11] = [
        EntryKind::Query,
        EntryKind::QueryOutcome,
        EntryKind::AccountAction,
        EntryKind::SignIn,
        EntryKind::ReviewAction,
        EntryKind::AuditAction,
        EntryKind::Export,
        EntryKind::LedgerRead,
        EntryKind::Retention,
        EntryKind::CatalogueChange,
        EntryKind::OrgChange,
    ];

    /// The stable code written into entry bytes.
    pub const fn code(self) -> &'static str {
        match self {
            EntryKind::Query => "query",
            EntryKind::QueryOutcome => "query_outcome",
            EntryKind::AccountAction => "account_action",
            EntryKind::SignIn => "sign_in",
            EntryKind::ReviewAction => "review_action",
            EntryKind::AuditAction => "audit_action",
            EntryKind::Export => "export",
            EntryKind::LedgerRead => "ledger_read",
            EntryKind::Retention => "retention",
            EntryKind::CatalogueChange => "catalogue_change",
            EntryKind::OrgChange => "org_change",
        }
    }

    /// The kind with this code.
    pub fn from_code(code: &str) -> Result<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == code).ok_or_else(|| LedgerError::UnknownEntryKind {
            // The code comes from stored bytes that may be corrupt: keep what is echoed short.
            code: code.chars().take(40).collect(),
        })
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One record of the query log. Built by [`Entry::new`] or [`Entry::decode`], so its fields are always sorted
/// with unique keys and it always encodes within [`MAX_ENTRY_BYTES`].
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    seq: u64,
    at_micros: i64,
    kind: EntryKind,
    actor: String,
    fields: Vec<(String, String)>,
}

impl Entry {
    /// A new entry; `fields` may come in any order and are sorted by key. Fails on an empty or repeated
    /// key, or when the encoding would exceed [`MAX_ENTRY_BYTES`].
    pub fn new(
        seq: u64,
        at_micros: i64,
        kind: EntryKind,
        actor: impl Into<String>,
        fields: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Entry> {
        let mut fields: Vec<(String, String)> = fields.into_iter().collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in fields.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(LedgerError::DuplicateField { key: pair[0].0.clone() });
            }
        }
        if fields.first().is_some_and(|(k, _)| k.is_empty()) {
            return Err(LedgerError::EmptyFieldKey);
        }
        let entry = Entry { seq, at_micros, kind, actor: actor.into(), fields };
        let len = entry.encoded_len();
        if len > MAX_ENTRY_BYTES {
            return Err(LedgerError::EntryTooLong { len, max: MAX_ENTRY_BYTES });
        }
        Ok(entry)
    }

    /// Position in the log, from 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When, in UTC microseconds since the Unix epoch.
    pub fn at_micros(&self) -> i64 {
        self.at_micros
    }

    /// What kind of event.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Who acted.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The fields, sorted by key.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The value of one field.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| self.fields[i].1.as_str())
    }

    fn encoded_len(&self) -> usize {
        1 + 8
            + 8
            + 4
            + self.kind.code().len()
            + 4
            + self.actor.len()
            + 4
            + self.fields.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>()
    }

    /// The canonical bytes (format version 1, see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(ENTRY_FORMAT_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at_micros.to_be_bytes());
        put_str(&mut out, self.kind.code());
        put_str(&mut out, &self.actor);
        put_len(&mut out, self.fields.len());
        for (k, v) in &self.fields {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        out
    }

    /// Reads canonical bytes back. Refuses anything `encode` would not have written: another version,
    /// truncation, trailing bytes, bad UTF-8, an unknown kind, unsorted or repeated keys, too many bytes.
    pub fn decode(bytes: &[u8]) -> Result<Entry> {
        let v = EntryView::decode(bytes)?;
        Ok(Entry {
            seq: v.seq,
            at_micros: v.at_micros,
            kind: v.kind,
            actor: v.actor.to_owned(),
            fields: v.fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        })
    }

    /// Checks that `bytes` are a canonical entry encoding, as [`Entry::decode`] does but without building
    /// the entry, and returns the sequence number written inside. The verifier's hot path.
    pub fn check_bytes(bytes: &[u8]) -> Result<u64> {
        // UTF-8 validation of short Chinese strings one by one cost more than hashing the entry; the strings
        // are copied into one buffer, separated by '\n', and validated in one call. The ASCII separator
        // keeps a truncated sequence at the end of one string from pairing with bytes of the next, so the
        // buffer is valid exactly when every string is.
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            let head = walk(bytes, |k, v| {
                buf.extend_from_slice(k);
                buf.push(b'\n');
                buf.extend_from_slice(v);
                buf.push(b'\n');
            })?;
            buf.extend_from_slice(head.actor);
            if simdutf8::basic::from_utf8(buf).is_err() {
                // Rare: take the slow path that names the part.
                return Err(Entry::decode(bytes).err().unwrap_or(LedgerError::EntryUtf8 { part: "entry" }));
            }
            Ok(head.seq)
        })
    }
}

/// An entry read in place: the same checks as [`Entry::decode`], its strings borrowed from the
/// encoded bytes. For reading many entries for a few of their fields each (a month's review reads
/// 200,000), where copying every field of every entry costs more than reading them.
#[derive(Clone)]
pub struct EntryView<'a> {
    seq: u64,
    at_micros: i64,
    kind: EntryKind,
    actor: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> EntryView<'a> {
    /// Reads a canonical entry encoding, refusing every other byte string as [`Entry::decode`] does.
    pub fn decode(bytes: &'a [u8]) -> Result<EntryView<'a>> {
        let mut fields = Vec::with_capacity(16);
        let mut bad_field = None;
        let head = walk(bytes, |k, v| match (utf8(k, "field key"), utf8(v, "field value")) {
            (Ok(k), Ok(v)) => fields.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                bad_field.get_or_insert(e);
            }
        })?;
        let actor = utf8(head.actor, "actor")?;
        if let Some(e) = bad_field {
            return Err(e);
        }
        Ok(EntryView { seq: head.seq, at_micros: head.at_micros, kind: head.kind, actor, fields })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn at_micros(&self) -> i64 {
        self.at_micros
    }

    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    pub fn actor(&self) -> &'a str {
        self.actor
    }

    /// The value of one field.
    pub fn field(&self, key: &str) -> Option<&'a str> {
        self.fields.binary_search_by(|(k, _)| (*k).cmp(key)).ok().map(|i| self.fields[i].1)
    }
}

/// As `Entry`'s: the shape, never the actor or the values.
impl fmt::Debug for EntryView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.fields.iter().map(|(k, _)| *k).collect();
        f.debug_struct("EntryView")
            .field("seq", &self.seq)
            .field("at_micros", &self.at_micros)
            .field("kind", &self.kind)
            .field("field_keys", &keys)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Per-thread buffer of `check_bytes`, kept to avoid an allocation per entry.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn utf8<'a>(bytes: &'a [u8], part: &'static str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| LedgerError::EntryUtf8 { part })
}

/// Entry contents may be personal data: `Debug` shows the shape, never the actor or the values.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.fields.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Entry")
            .field("seq", &self.seq)
            .field("at_micros", &self.at_micros)
            .field("kind", &self.kind)
            .field("actor", &"<redacted>")
            .field("field_keys", &keys)
            .finish()
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths fit: `Entry::new` caps the whole encoding at MAX_ENTRY_BYTES, far below u32::MAX.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

struct Head<'a> {
    seq: u64,
    at_micros: i64,
    kind: EntryKind,
    /// Not yet checked to be UTF-8: the callers do that, each in its own way.
    actor: &'a [u8],
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, part: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(LedgerError::EntryTruncated { part })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, part: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, part)?);
        Ok(out)
    }

    fn len(&mut self, part: &'static str) -> Result<usize> {
        let n = u32::from_be_bytes(self.array(part)?);
        usize::try_from(n).map_err(|_| LedgerError::EntryTruncated { part })
    }

    fn string(&mut self, part: &'static str) -> Result<&'a [u8]> {
        let n = self.len(part)?;
        self.take(n, part)
    }
}

/// Walks an encoding, checking every rule except UTF-8, handing each field's raw key and value to
/// `on_field`. One walker serves `decode` and the allocation-free `check_bytes`, so they cannot disagree
/// about what is canonical. Keys are compared as bytes, which is also the order of `str`.
fn walk<'a>(bytes: &'a [u8], mut on_field: impl FnMut(&'a [u8], &'a [u8])) -> Result<Head<'a>> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(LedgerError::EntryTooLong { len: bytes.len(), max: MAX_ENTRY_BYTES });
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let [version] = r.array::<1>("version")?;
    if version != ENTRY_FORMAT_VERSION {
        return Err(LedgerError::EntryVersion { found: version });
    }
    let seq = u64::from_be_bytes(r.array("sequence number")?);
    let at_micros = i64::from_be_bytes(r.array("time")?);
    let code = r.string("kind")?;
    // Every code is ASCII, so a byte match is a full check, UTF-8 included.
    let Some(kind) = EntryKind::ALL.into_iter().find(|k| k.code().as_bytes() == code) else {
        // The code comes from stored bytes that may be corrupt: keep what is echoed short.
        let code = String::from_utf8_lossy(code).chars().take(40).collect();
        return Err(LedgerError::UnknownEntryKind { code });
    };
    let actor = r.string("actor")?;
    let count = r.len("field count")?;
    let mut prev: Option<&[u8]> = None;
    for _ in 0..count {
        let key = r.string("field key")?;
        let value = r.string("field value")?;
        if key.is_empty() {
            return Err(LedgerError::EmptyFieldKey);
        }
        if let Some(p) = prev {
            let key_text = || String::from_utf8_lossy(key).into_owned();
            match p.cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(LedgerError::DuplicateField { key: key_text() });
                }
                std::cmp::Ordering::Greater => {
                    return Err(LedgerError::EntryUnsortedFields { key: key_text() });
                }
            }
        }
        prev = Some(key);
        on_field(key, value);
    }
    if r.pos != bytes.len() {
        return Err(LedgerError::EntryTrailingBytes { extra: bytes.len() - r.pos });
    }
    Ok(Head { seq, at_micros, kind, actor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    fn sample() -> Entry {
        Entry::new(
            41,
            1_722_300_000_123_456,
            EntryKind::Query,
            "clerk01",
            [s("reason", "家訪前確認投保"), s("case_no", "113-0042"), s("national_id", "A123456789")],
        )
        .unwrap()
    }

    /// Encodes by hand, field by field, so tests can build bytes `encode` would refuse to write.
    fn raw(version: u8, kind: &str, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = vec![version];
        out.extend_from_slice(&7u64.to_be_bytes());
        out.extend_from_slice(&0i64.to_be_bytes());
        put_str(&mut out, kind);
        put_str(&mut out, "a");
        put_len(&mut out, fields.len());
        for (k, v) in fields {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        out
    }

    #[test]
    fn r_log_2_round_trip_and_fields_sorted() {
        let e = sample();
        let bytes = e.encode();
        assert_eq!(bytes.len(), e.encoded_len());
        let back = Entry::decode(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(Entry::check_bytes(&bytes).unwrap(), 41);
        let keys: Vec<&str> = back.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["case_no", "national_id", "reason"]);
        assert_eq!(back.field("case_no"), Some("113-0042"));
        assert_eq!(back.field("nope"), None);
    }

    #[test]
    fn r_log_2_encoding_is_byte_exact() {
        let e = Entry::new(1, -2, EntryKind::SignIn, "ab", [s("k", "v")]).unwrap();
        let want: Vec<u8> = [
            &[1u8][..],
            &[0, 0, 0, 0, 0, 0, 0, 1],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
            &[0, 0, 0, 7],
            b"sign_in",
            &[0, 0, 0, 2],
            b"ab",
            &[0, 0, 0, 1],
            &[0, 0, 0, 1],
            b"k",
            &[0, 0, 0, 1],
            b"v",
        ]
        .concat();
        assert_eq!(e.encode(), want);
    }

    #[test]
    fn r_log_2_same_entry_same_bytes_whatever_the_field_order() {
        let a = Entry::new(0, 0, EntryKind::Export, "x", [s("b", "2"), s("a", "1")]).unwrap();
        let b = Entry::new(0, 0, EntryKind::Export, "x", [s("a", "1"), s("b", "2")]).unwrap();
        assert_eq!(a.encode(), b.encode());
    }

    #[test]
    fn every_kind_code_round_trips() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::from_code(k.code()).unwrap(), k);
            let e = Entry::new(3, 4, k, "x", []).unwrap();
            assert_eq!(Entry::decode(&e.encode()).unwrap().kind(), k);
        }
        assert!(matches!(EntryKind::from_code("other"), Err(LedgerError::UnknownEntryKind { .. })));
    }

    #[test]
    fn new_rejects_duplicate_and_empty_keys_and_too_long() {
        let dup = Entry::new(0, 0, EntryKind::Query, "x", [s("a", "1"), s("a", "2")]);
        assert!(matches!(dup, Err(LedgerError::DuplicateField { key }) if key == "a"));
        let empty = Entry::new(0, 0, EntryKind::Query, "x", [s("", "1")]);
        assert!(matches!(empty, Err(LedgerError::EmptyFieldKey)));
        let long = Entry::new(0, 0, EntryKind::Query, "x", [s("a", &"x".repeat(MAX_ENTRY_BYTES))]);
        assert!(matches!(long, Err(LedgerError::EntryTooLong { .. })));
    }

    #[test]
    fn r_log_2_decode_rejects_non_canonical_bytes() {
        let good = sample().encode();

        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(Entry::decode(&trailing), Err(LedgerError::EntryTrailingBytes { extra: 1 })));

        for cut in 0..good.len() {
            assert!(matches!(Entry::decode(&good[..cut]), Err(LedgerError::EntryTruncated { .. })), "cut at {cut}");
        }

        let mut version = good.clone();
        version[0] = 2;
        assert!(matches!(Entry::decode(&version), Err(LedgerError::EntryVersion { found: 2 })));

        assert!(matches!(
            Entry::decode(&raw(1, "query", &[("b", "1"), ("a", "2")])),
            Err(LedgerError::EntryUnsortedFields { .. })
        ));
        assert!(matches!(
            Entry::decode(&raw(1, "query", &[("a", "1"), ("a", "2")])),
            Err(LedgerError::DuplicateField { .. })
        ));
        assert!(matches!(Entry::decode(&raw(1, "query", &[("", "1")])), Err(LedgerError::EmptyFieldKey)));
        assert!(matches!(Entry::decode(&raw(1, "Query", &[])), Err(LedgerError::UnknownEntryKind { .. })));
        assert!(Entry::decode(&raw(1, "query", &[("a", "1")])).is_ok());

        // Bad UTF-8 in the actor.
        let mut bad = raw(1, "query", &[]);
        let actor_at = 1 + 8 + 8 + 4 + "query".len() + 4;
        bad[actor_at] = 0xff;
        assert!(matches!(Entry::decode(&bad), Err(LedgerError::EntryUtf8 { part: "actor" })));

        // A length prefix pointing far past the end must fail cleanly, not allocate.
        let mut huge = raw(1, "query", &[]);
        huge[1 + 8 + 8..1 + 8 + 8 + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Entry::decode(&huge), Err(LedgerError::EntryTruncated { .. })));

        let too_long = vec![1u8; MAX_ENTRY_BYTES + 1];
        assert!(matches!(Entry::decode(&too_long), Err(LedgerError::EntryTooLong { .. })));
    }

    /// The view reads what `decode` reads, borrowed, and refuses a bad field value by name.
    #[test]
    fn r_log_2_the_view_reads_an_entry_in_place_as_decode_does() {
        let e = sample();
        let bytes = e.encode();
        let v = EntryView::decode(&bytes).unwrap();
        assert_eq!((v.seq(), v.at_micros(), v.kind(), v.actor()), (e.seq(), e.at_micros(), e.kind(), e.actor()));
        for (k, value) in e.fields() {
            assert_eq!(v.field(k), Some(value.as_str()));
        }
        assert_eq!(v.field("no such field"), None);
        let mut bad = raw(1, "query", &[("a", "x")]);
        let at = bad.iter().rposition(|&b| b == b'x').unwrap();
        bad[at] = 0xff;
        assert!(matches!(EntryView::decode(&bad), Err(LedgerError::EntryUtf8 { part: "field value" })));
    }

    /// `check_bytes` (one UTF-8 pass over a scratch copy) and `decode` (string by string) must accept and
    /// reject exactly the same bytes, with the same error.
    #[test]
    fn r_log_2_check_bytes_agrees_with_decode_on_every_mutation() {
        // A value ending in the first two bytes of a three-byte character, followed by a key that starts
        // with its last byte: invalid strings whose concatenation would be valid.
        let mut split_char = raw(1, "query", &[("a", "x"), ("b", "y")]);
        let zh = "中".as_bytes();
        let a_value = split_char.iter().rposition(|&b| b == b'x').unwrap();
        split_char.splice(a_value..=a_value, zh[..2].iter().copied());
        let a_len = a_value - 4;
        split_char[a_len..a_len + 4].copy_from_slice(&2u32.to_be_bytes());
        let b_key = split_char.iter().rposition(|&b| b == b'b').unwrap();
        split_char[b_key] = zh[2];
        assert!(matches!(Entry::decode(&split_char), Err(LedgerError::EntryUtf8 { .. })));
        assert!(matches!(Entry::check_bytes(&split_char), Err(LedgerError::EntryUtf8 { .. })));

        let good = sample().encode();
        for i in 0..good.len() {
            for v in [0x00, 0x41, 0x80, 0xbf, 0xc0, 0xe4, 0xf0, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let (slow, fast) = (Entry::decode(&b), Entry::check_bytes(&b));
                match (&slow, &fast) {
                    (Ok(e), Ok(seq)) => assert_eq!(e.seq(), *seq),
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "byte {i} = {v:#x}")
                    }
                    _ => panic!("byte {i} = {v:#x}: decode {slow:?}, check_bytes {fast:?}"),
                }
            }
        }
    }

    #[test]
    fn r_log_2_debug_and_errors_never_show_values() {
        let e = sample();
        let shown = format!("{e:?}");
        assert!(!shown.contains("A123456789"));
        assert!(!shown.contains("clerk01"));
        assert!(!shown.contains("家訪"));
        assert!(shown.contains("national_id"));
    }
}
