//! The monthly review (查核, R-REV-2 … R-REV-4): how many entries are sampled, which ones — a draw
//! nobody can choose and anybody can recompute —, who may review them, what a finding must carry
//! and the order of signatures. Pure: the checkpoint, the month's ledger seqs and the people come
//! in as arguments; nothing here reads a clock, a database or a random number generator.
//!
//! # Sample size (R-REV-2)
//!
//! With `N` queries in the month, `min(N, max(minimum, ⌈rate·N/100⌉))` entries are reviewed; by
//! default rate = 3 % and minimum = 10 (both settings), so every entry when `N ≤ 10`, 10 entries up
//! to `N = 333`, 11 at `N = 334`, 30 at 1,000 and 3,000 at 100,000. Integer arithmetic only.
//!
//! # The seed
//!
//! The seed is fixed by the signed ledger checkpoint taken after the month closed, so nobody can
//! know it while queries can still be added, and nobody can change it without the checkpoint (and
//! so the log) changing. It is the SHA-256 of this byte string (`||` is concatenation, integers
//! are big-endian, two's complement for the year):
//!
//! ```text
//! seed = SHA-256( "nhiguard-review-sample-v1\n"      26 ASCII bytes, the domain separator
//!              || checkpoint_root                    32 bytes, the Merkle root of the checkpoint
//!              || checkpoint_size                    u64, 8 bytes, the number of ledger entries
//!              || len(agency_code)                   u32, 4 bytes, length in bytes of the UTF-8 code
//!              || agency_code                        UTF-8 bytes of the agency's org code
//!              || year                               i32, 4 bytes, Gregorian year of the month reviewed
//!              || month )                            u8, 1 byte, 1–12
//! ```
//!
//! # The draw
//!
//! The population is the ledger seqs of the agency's queries in the month, sorted ascending with
//! duplicates removed (the order the caller passes them in does not matter). A stream of 64-bit
//! numbers comes from SHA-256 in counter mode: block `i` (i = 0, 1, 2, …) is
//! `SHA-256(seed || i as u64 big-endian)`, and each block gives four numbers, its bytes 0–7, 8–15,
//! 16–23 and 24–31, each read as a big-endian u64. A partial Fisher–Yates shuffle then picks `k`
//! entries: for `j = 0 … k−1`, with `r = n − j`, take numbers from the stream until one, `x`, is
//! below `⌊2⁶⁴ / r⌋ · r` (rejection, so that every index is exactly equally likely), and swap
//! position `j` with position `j + (x mod r)`. The first `k` positions, sorted ascending, are the
//! sample. `k` larger than `n` is taken as `n`.
//!
//! An auditor's script, independent of this code:
//!
//! ```python
//! import hashlib, struct
//! def seed(root: bytes, size: int, agency: str, year: int, month: int) -> bytes:
//!     a = agency.encode()
//!     return hashlib.sha256(b"nhiguard-review-sample-v1\n" + root + struct.pack(">Q", size)
//!         + struct.pack(">I", len(a)) + a + struct.pack(">i", year) + bytes([month])).digest()
//! def draw(seed: bytes, population, k: int) -> list:
//!     pop = sorted(set(population)); n = len(pop); k = min(k, n); buf = []; i = 0
//!     for j in range(k):
//!         r = n - j
//!         while True:
//!             if not buf:
//!                 b = hashlib.sha256(seed + struct.pack(">Q", i)).digest(); i += 1
//!                 buf = [int.from_bytes(b[o:o + 8], "big") for o in (0, 8, 16, 24)]
//!             x = buf.pop(0)
//!             if x < (2**64 // r) * r: break
//!         t = j + x % r
//!         pop[j], pop[t] = pop[t], pop[j]
//!     return sorted(pop[:k])
//! ```
//!
//! ## Worked example (pinned by a test)
//!
//! Checkpoint root = the bytes `00 01 02 … 1f` (`bytes(range(32))`), checkpoint size = 1,000,000,
//! agency code `health`, March 2026, and 400 queries with ledger seqs 1001 … 1400:
//!
//! - seed = `07ce1da79f332029abb41c6da5d855a6ec0aa04fbb8cb73d51466434ac3e482b`
//! - sample size = max(10, ⌈3 · 400 / 100⌉) = 12
//! - sample = 1033, 1100, 1109, 1117, 1136, 1153, 1212, 1222, 1312, 1359, 1360, 1382
//!
//! # Reviewers, findings, signatures (R-REV-3, R-REV-4)
//!
//! [`check_reviewer`] refuses, in this order: an inactive account, another agency, a rank below
//! 股長 (科長 where the agency has no sections, [`Rank::may_review`]), a reviewer whose own queries
//! are in the sample, and a reviewer who approved the account application of someone whose queries
//! are in the sample. [`check_sign_off`] refuses a sign-off while an entry lacks a finding or an
//! anomalous finding lacks a note. A review moves open → reviewed (the reviewer signs) → approved
//! (the unit head signs) and never back ([`next`]): a signed review is corrected by an
//! investigation (R-REV-5), not by reopening it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::DomainError;
use crate::person::Rank;

/// Default sampling rate, in percent of the month's queries (seed §5(一): 至少百分之三).
pub const DEFAULT_SAMPLE_RATE_PERCENT: u32 = 3;
/// Default least number of entries sampled (seed §5(一): 不得少於十筆).
pub const DEFAULT_SAMPLE_MINIMUM: u64 = 10;

/// Domain separator of the seed derivation; a new derivation gets a new version.
pub const SEED_DOMAIN: &[u8] = b"nhiguard-review-sample-v1\n";

/// The sampling settings, with the regulation's numbers as defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SampleSettings {
    pub rate_percent: u32,
    pub minimum: u64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        Self { rate_percent: DEFAULT_SAMPLE_RATE_PERCENT, minimum: DEFAULT_SAMPLE_MINIMUM }
    }
}

impl SampleSettings {
    /// [`sample_size`] with these settings.
    pub fn size(&self, n: u64) -> u64 {
        sample_size(n, self.rate_percent, self.minimum)
    }
}

/// R-REV-2: how many of `n` entries to review: `min(n, max(minimum, ⌈rate_percent·n/100⌉))`.
pub fn sample_size(n: u64, rate_percent: u32, minimum: u64) -> u64 {
    // u128 so that no rate and no month can overflow.
    let by_rate = (u128::from(n) * u128::from(rate_percent)).div_ceil(100);
    let by_rate = u64::try_from(by_rate).unwrap_or(u64::MAX);
    n.min(minimum.max(by_rate))
}

/// The 32-byte seed of one agency's monthly draw (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SampleSeed(pub [u8; 32]);

impl SampleSeed {
    /// Derives the seed from the checkpoint taken after the month closed, the agency's org code and
    /// the month reviewed (Gregorian `year`, `month` 1–12 as chrono gives it; a value above 255,
    /// which no month has, is encoded as 0).
    pub fn derive(
        checkpoint_root: [u8; 32],
        checkpoint_size: u64,
        agency_code: &str,
        year: i32,
        month: u32,
    ) -> SampleSeed {
        let code = agency_code.as_bytes();
        // An agency code is an org code of a few dozen bytes; one longer than u32 cannot occur.
        let code_len = u32::try_from(code.len()).unwrap_or(u32::MAX);
        let mut h = Sha256::new();
        h.update(SEED_DOMAIN);
        h.update(checkpoint_root);
        h.update(checkpoint_size.to_be_bytes());
        h.update(code_len.to_be_bytes());
        h.update(code);
        h.update(year.to_be_bytes());
        h.update([u8::try_from(month).unwrap_or(0)]);
        SampleSeed(h.finalize().into())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads 64 hex digits (either case, surrounding spaces ignored).
    pub fn from_hex(input: &str) -> Result<SampleSeed, DomainError> {
        let bad = || {
            DomainError::invalid(
                "seed",
                "抽樣種子須為 64 位十六進位數字（0–9、a–f）",
                "a sample seed is 64 hexadecimal digits (0–9, a–f)",
            )
        };
        let s = input.trim().as_bytes();
        if s.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = hex_digit(pair[0]).ok_or_else(bad)?;
            let lo = hex_digit(pair[1]).ok_or_else(bad)?;
            *byte = (hi << 4) | lo;
        }
        Ok(SampleSeed(out))
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for SampleSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SampleSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SampleSeed({})", self.to_hex())
    }
}

/// The counter-mode SHA-256 stream of 64-bit numbers (see the module documentation).
struct Stream {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl Stream {
    fn new(seed: &SampleSeed) -> Self {
        Stream { seed: seed.0, counter: 0, block: [0; 32], used: 32 }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used == 32 {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.block = h.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.block[self.used..self.used + 8]);
        self.used += 8;
        u64::from_be_bytes(word)
    }

    /// A uniform number in `0..r` (`r ≥ 1`), by rejection sampling.
    fn below(&mut self, r: u64) -> u64 {
        let r = u128::from(r.max(1));
        let limit = ((1u128 << 64) / r) * r;
        loop {
            let x = u128::from(self.next_u64());
            if x < limit {
                // x mod r < r ≤ u64::MAX.
                return u64::try_from(x % r).unwrap_or(0);
            }
        }
    }
}

/// R-REV-2: draws `k` distinct ledger seqs from `population` (the month's queries of one agency),
/// returned ascending. Deterministic in `seed` and the set of seqs; see the module documentation.
pub fn draw(seed: &SampleSeed, population: &[u64], k: u64) -> Vec<u64> {
    let mut pool = population.to_vec();
    pool.sort_unstable();
    pool.dedup();
    let n = pool.len();
    let k = usize::try_from(k).unwrap_or(usize::MAX).min(n);
    let mut stream = Stream::new(seed);
    for j in 0..k {
        // n − j ≥ 1 fits in u64 on every platform Rust supports.
        let r = u64::try_from(n - j).unwrap_or(u64::MAX);
        let offset = usize::try_from(stream.below(r)).unwrap_or(0);
        pool.swap(j, j + offset);
    }
    pool.truncate(k);
    pool.sort_unstable();
    pool
}

/// A person proposed as the reviewer of one agency's month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewerCandidate {
    pub account_id: i64,
    /// The agency the candidate belongs to ([`crate::org::OrgTree::agency_of`] of their node).
    pub agency_id: i64,
    pub rank: Rank,
    /// The account is enabled and the person in service.
    pub active: bool,
}

/// R-REV-3: may `candidate` review the sample of agency `agency_id`? `queries_by` are the accounts
/// whose queries are in the sample; `approved_applications_of` the accounts whose account
/// applications the candidate approved as supervisor.
pub fn check_reviewer(
    candidate: &ReviewerCandidate,
    agency_id: i64,
    agency_has_sections: bool,
    queries_by: &[i64],
    approved_applications_of: &[i64],
) -> Result<(), DomainError> {
    let refuse = |zh: String, en: String| Err(DomainError::invalid("reviewer", zh, en));
    if !candidate.active {
        return refuse(
            "此帳號已停用或人員已不在職，不能擔任查核人員；請改派在職人員".into(),
            "this account is disabled or the person is no longer in service; assign someone in service".into(),
        );
    }
    if candidate.agency_id != agency_id {
        return refuse(
            "查核人員須為本業務機關之人員（要點五(一)）；請改派本機關股長以上人員".into(),
            "the reviewer must belong to the agency whose queries are reviewed (§5(1)); assign someone of this agency"
                .into(),
        );
    }
    if !candidate.rank.may_review(agency_has_sections) {
        let (zh_rank, en_rank) = if agency_has_sections {
            ("股長以上", "section chief or above")
        } else {
            ("科長以上（本機關無股別）", "division chief or above (this agency has no sections)")
        };
        return refuse(
            format!("查核人員須為{zh_rank}人員，此人職等為{}；請改派符合職等之人員", candidate.rank.zh()),
            format!(
                "the reviewer must be {en_rank}, this person is {}; assign someone of that rank",
                candidate.rank.en()
            ),
        );
    }
    if queries_by.contains(&candidate.account_id) {
        return refuse(
            "抽查樣本含此人自己的查詢，不得自行查核；請改派其他人員".into(),
            "the sample contains this person's own queries and no one reviews their own; assign someone else".into(),
        );
    }
    if let Some(account) = queries_by.iter().find(|a| approved_applications_of.contains(a)) {
        return refuse(
            format!("抽查樣本含帳號 {account} 的查詢，而其帳號申請由此人核可，不得查核；請改派其他人員"),
            format!(
                "the sample contains queries of account {account}, whose account application this person \
                 approved; assign someone else"
            ),
        );
    }
    Ok(())
}

crate::labelled_enum!(
    /// R-REV-4: the finding on one sampled entry.
    Finding {
        Normal = ("normal", "正常", "normal"),
        Anomalous = ("anomalous", "異常", "anomalous"),
    }
);

/// Least number of characters (whitespace not counted) of the note on an anomalous finding.
pub const MIN_ANOMALY_NOTE_CHARS: usize = 10;

/// R-REV-4: may the review be signed? Every sampled entry (`findings`, by ledger seq) needs a
/// finding, and an anomalous one a note (`notes`, by seq) of at least [`MIN_ANOMALY_NOTE_CHARS`]
/// characters. The error names the first entry, by seq, that is not ready.
pub fn check_sign_off(findings: &[(u64, Option<Finding>)], notes: &[(u64, String)]) -> Result<(), DomainError> {
    let mut entries: Vec<&(u64, Option<Finding>)> = findings.iter().collect();
    entries.sort_by_key(|(seq, _)| *seq);
    for (seq, finding) in entries {
        match finding {
            None => {
                return Err(DomainError::invalid(
                    "findings",
                    format!("第 {seq} 筆尚未填寫查核結果；每筆抽查紀錄都須標示正常或異常後才能簽核"),
                    format!(
                        "entry {seq} has no finding yet; mark every sampled entry normal or anomalous before signing"
                    ),
                ));
            }
            Some(Finding::Normal) => {}
            Some(Finding::Anomalous) => {
                let longest = notes
                    .iter()
                    .filter(|(s, _)| s == seq)
                    .map(|(_, note)| note.chars().filter(|c| !c.is_whitespace()).count())
                    .max()
                    .unwrap_or(0);
                if longest < MIN_ANOMALY_NOTE_CHARS {
                    return Err(DomainError::invalid(
                        "findings",
                        format!("第 {seq} 筆標示為異常，請說明異常情形（至少 {MIN_ANOMALY_NOTE_CHARS} 個字）後再簽核"),
                        format!(
                            "entry {seq} is marked anomalous: describe the anomaly (at least {MIN_ANOMALY_NOTE_CHARS} \
                             characters) before signing"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

crate::labelled_enum!(
    /// Where a monthly review stands (R-REV-4).
    ReviewState {
        /// Sample drawn; findings being recorded.
        Open = ("open", "查核中", "open"),
        /// The reviewer has signed.
        Reviewed = ("reviewed", "查核人員已簽核", "signed by the reviewer"),
        /// The unit head has signed; final.
        Approved = ("approved", "單位主管已核定", "approved by the unit head"),
    }
);

crate::labelled_enum!(
    /// What can be done to a review.
    ReviewAction {
        /// Record or change a finding or note.
        RecordFinding = ("record_finding", "填寫查核結果", "record a finding"),
        /// The reviewer signs (after [`check_sign_off`]).
        ReviewerSign = ("reviewer_sign", "查核人員簽核", "reviewer signs"),
        /// The unit head signs.
        HeadApprove = ("head_approve", "單位主管核定", "unit head approves"),
        /// Put a review back to open.
        Reopen = ("reopen", "重新開啟", "reopen"),
    }
);

/// The state a review moves to when `action` is done in `state`, or why it cannot be done.
pub fn next(state: ReviewState, action: ReviewAction) -> Result<ReviewState, DomainError> {
    use ReviewAction as A;
    use ReviewState as S;
    let refuse = |zh: &str, en: &str| Err(DomainError::invalid("review", zh, en));
    match (state, action) {
        (S::Open, A::RecordFinding) => Ok(S::Open),
        (S::Open, A::ReviewerSign) => Ok(S::Reviewed),
        (S::Reviewed, A::HeadApprove) => Ok(S::Approved),
        (S::Open, A::HeadApprove) => refuse(
            "查核人員尚未簽核，單位主管不能核定",
            "the reviewer has not signed yet; the unit head signs after the reviewer",
        ),
        (S::Open, A::Reopen) => refuse("此查核尚在進行中，無須重新開啟", "this review is still open"),
        (S::Reviewed, A::ReviewerSign) => refuse("查核人員已簽核", "the reviewer has already signed"),
        (S::Approved, A::HeadApprove) => refuse("單位主管已核定", "the unit head has already approved this review"),
        (S::Reviewed | S::Approved, A::RecordFinding | A::Reopen) | (S::Approved, A::ReviewerSign) => refuse(
            "已簽核的查核不能修改或重新開啟；如有疑義，請開啟調查（要點五(二)）",
            "a signed review cannot be changed or reopened; if something is wrong, open an investigation (§5(2))",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: [u8; 32] = [7; 32];

    fn example_root() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn r_rev_2_sample_size_follows_the_regulation() {
        let d = SampleSettings::default();
        for (n, want) in
            [(0, 0), (1, 1), (9, 9), (10, 10), (11, 10), (333, 10), (334, 11), (400, 12), (1000, 30), (100_000, 3000)]
        {
            assert_eq!(d.size(n), want, "N = {n}");
            assert_eq!(sample_size(n, DEFAULT_SAMPLE_RATE_PERCENT, DEFAULT_SAMPLE_MINIMUM), want, "N = {n}");
        }
    }

    #[test]
    fn r_rev_2_rate_and_minimum_are_settings() {
        assert_eq!(sample_size(1000, 5, 10), 50);
        assert_eq!(sample_size(1001, 5, 10), 51);
        assert_eq!(sample_size(100, 3, 20), 20);
        assert_eq!(sample_size(15, 3, 20), 15);
        assert_eq!(sample_size(100, 0, 0), 0);
        assert_eq!(sample_size(100, 250, 0), 100);
        assert_eq!(sample_size(u64::MAX, u32::MAX, 10), u64::MAX);
    }

    #[test]
    fn r_rev_2_worked_example_is_pinned() {
        let seed = SampleSeed::derive(example_root(), 1_000_000, "health", 2026, 3);
        assert_eq!(seed.to_hex(), "07ce1da79f332029abb41c6da5d855a6ec0aa04fbb8cb73d51466434ac3e482b");
        let population: Vec<u64> = (1001..=1400).collect();
        let k = SampleSettings::default().size(population.len() as u64);
        assert_eq!(k, 12);
        assert_eq!(
            draw(&seed, &population, k),
            vec![1033, 1100, 1109, 1117, 1136, 1153, 1212, 1222, 1312, 1359, 1360, 1382]
        );
    }

    #[test]
    fn r_rev_2_second_example_matches_an_independent_script() {
        let seed = SampleSeed::derive([0; 32], 5, "tax", 2026, 12);
        assert_eq!(seed.to_hex(), "9ea6830f1aefb3433df918406a4e709c82b726ea8612ad302eb07197d02432d8");
        let pop = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110];
        assert_eq!(draw(&seed, &pop, 10), vec![10, 20, 30, 50, 60, 70, 80, 90, 100, 110]);
    }

    #[test]
    fn r_rev_2_draw_is_reproducible_and_ignores_input_order() {
        let seed = SampleSeed::derive(ROOT, 42, "health", 2026, 3);
        let pop: Vec<u64> = (1..=500).map(|i| i * 3).collect();
        let a = draw(&seed, &pop, 15);
        assert_eq!(a, draw(&SampleSeed::derive(ROOT, 42, "health", 2026, 3), &pop, 15));
        let mut shuffled = pop.clone();
        shuffled.reverse();
        shuffled.extend_from_slice(&pop[..10]);
        assert_eq!(a, draw(&seed, &shuffled, 15));
    }

    #[test]
    fn r_rev_2_seed_changes_with_every_input() {
        let base = SampleSeed::derive(ROOT, 42, "health", 2026, 3);
        let mut other_root = ROOT;
        other_root[31] ^= 1;
        let variants = [
            SampleSeed::derive(other_root, 42, "health", 2026, 3),
            SampleSeed::derive(ROOT, 43, "health", 2026, 3),
            SampleSeed::derive(ROOT, 42, "tax", 2026, 3),
            SampleSeed::derive(ROOT, 42, "health", 2025, 3),
            SampleSeed::derive(ROOT, 42, "health", 2026, 4),
        ];
        let pop: Vec<u64> = (1..=1000).collect();
        let sample = draw(&base, &pop, 30);
        for v in variants {
            assert_ne!(v, base);
            assert_ne!(draw(&v, &pop, 30), sample, "{v:?}");
        }
        // The length prefix keeps the agency code from running into the year.
        assert_ne!(SampleSeed::derive(ROOT, 42, "a", 2026, 3), SampleSeed::derive(ROOT, 42, "a\0", 2026, 3));
    }

    #[test]
    fn r_rev_2_draw_edges() {
        let seed = SampleSeed::derive(ROOT, 1, "health", 2026, 1);
        let pop: Vec<u64> = (100..110).collect();
        assert_eq!(draw(&seed, &pop, 10), pop);
        assert_eq!(draw(&seed, &pop, 99), pop);
        assert!(draw(&seed, &pop, 0).is_empty());
        assert!(draw(&seed, &[], 10).is_empty());
        assert_eq!(draw(&seed, &[5], 1), vec![5]);
    }

    #[test]
    fn r_rev_2_draw_is_distinct_and_from_the_population() {
        let pop: Vec<u64> = (0..3000).map(|i| 1_000_000 + i * 7).collect();
        for month in 1..=12 {
            let seed = SampleSeed::derive(ROOT, 9, "health", 2026, month);
            let s = draw(&seed, &pop, 90);
            assert_eq!(s.len(), 90);
            assert!(s.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
            assert!(s.iter().all(|x| pop.binary_search(x).is_ok()));
        }
    }

    #[test]
    fn r_rev_2_draw_is_roughly_uniform() {
        let pop: Vec<u64> = (1..=10).collect();
        let mut counts = [0u32; 10];
        for i in 0..10_000u64 {
            let seed = SampleSeed::derive(ROOT, i, "health", 2026, 3);
            let s = draw(&seed, &pop, 1);
            counts[(s[0] - 1) as usize] += 1;
        }
        for (i, c) in counts.iter().enumerate() {
            assert!((800..=1200).contains(c), "element {} chosen {c} times", i + 1);
        }
    }

    #[test]
    fn seed_hex_round_trips_and_rejects_garbage() {
        let seed = SampleSeed::derive(ROOT, 1, "health", 2026, 1);
        assert_eq!(SampleSeed::from_hex(&seed.to_hex()), Ok(seed));
        assert_eq!(SampleSeed::from_hex(&format!("  {}  ", seed.to_hex().to_uppercase())), Ok(seed));
        assert_eq!(seed.to_string(), seed.to_hex());
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"0".repeat(65), &"é".repeat(32)] {
            assert!(SampleSeed::from_hex(bad).is_err(), "{bad:?}");
        }
    }

    fn chief() -> ReviewerCandidate {
        ReviewerCandidate { account_id: 10, agency_id: 3, rank: Rank::SectionChief, active: true }
    }

    fn refused(r: Result<(), DomainError>, needle_en: &str) {
        match r {
            Err(DomainError::Invalid { field: "reviewer", en, zh }) => {
                assert!(en.contains(needle_en), "{en}");
                assert!(!zh.is_empty());
            }
            other => panic!("expected a refusal about {needle_en:?}, got {other:?}"),
        }
    }

    #[test]
    fn r_rev_3_a_section_chief_of_the_agency_may_review() {
        assert_eq!(check_reviewer(&chief(), 3, true, &[20, 21], &[30]), Ok(()));
        let division = ReviewerCandidate { rank: Rank::DivisionChief, ..chief() };
        assert_eq!(check_reviewer(&division, 3, false, &[20], &[]), Ok(()));
    }

    #[test]
    fn r_rev_3_refuses_another_agency() {
        refused(check_reviewer(&chief(), 6, true, &[20], &[]), "belong to the agency");
    }

    #[test]
    fn r_rev_3_refuses_a_low_rank() {
        let staff = ReviewerCandidate { rank: Rank::Staff, ..chief() };
        refused(check_reviewer(&staff, 3, true, &[20], &[]), "section chief or above");
        refused(check_reviewer(&chief(), 3, false, &[20], &[]), "division chief or above");
    }

    #[test]
    fn r_rev_3_refuses_an_inactive_account() {
        let gone = ReviewerCandidate { active: false, ..chief() };
        refused(check_reviewer(&gone, 3, true, &[20], &[]), "no longer in service");
    }

    #[test]
    fn r_rev_3_no_one_reviews_their_own_queries() {
        refused(check_reviewer(&chief(), 3, true, &[20, 10], &[]), "own");
    }

    #[test]
    fn r_rev_3_no_one_reviews_accounts_they_approved() {
        refused(check_reviewer(&chief(), 3, true, &[20, 21], &[99, 21]), "account 21");
        // Approving someone not in the sample is no conflict.
        assert_eq!(check_reviewer(&chief(), 3, true, &[20, 21], &[99]), Ok(()));
    }

    #[test]
    fn r_rev_4_sign_off_needs_every_finding() {
        let findings = [(5, Some(Finding::Normal)), (3, None), (4, None)];
        let err = check_sign_off(&findings, &[]).unwrap_err();
        assert!(err.to_string().contains("entry 3"), "{err}");
        assert_eq!(check_sign_off(&[(1, Some(Finding::Normal)), (2, Some(Finding::Normal))], &[]), Ok(()));
        assert_eq!(check_sign_off(&[], &[]), Ok(()));
    }

    #[test]
    fn r_rev_4_anomalies_need_a_note_of_ten_characters() {
        let findings = [(1, Some(Finding::Normal)), (2, Some(Finding::Anomalous))];
        let err = check_sign_off(&findings, &[]).unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
        let short = [(2, "事由與案號 不符合".to_owned())]; // 9 characters without the space
        assert!(check_sign_off(&findings, &short).is_err());
        let enough = [(1, "x".to_owned()), (2, "事由與案號不符合，待查".to_owned())];
        assert_eq!(check_sign_off(&findings, &enough), Ok(()));
        let other_entry = [(1, "事由與案號不符合，待查".to_owned())];
        assert!(check_sign_off(&findings, &other_entry).is_err());
    }

    #[test]
    fn r_rev_4_signatures_go_forward_only() {
        use ReviewAction as A;
        use ReviewState as S;
        assert_eq!(next(S::Open, A::RecordFinding), Ok(S::Open));
        assert_eq!(next(S::Open, A::ReviewerSign), Ok(S::Reviewed));
        assert_eq!(next(S::Reviewed, A::HeadApprove), Ok(S::Approved));
        assert!(next(S::Open, A::HeadApprove).is_err());
        for signed in [S::Reviewed, S::Approved] {
            let err = next(signed, A::Reopen).unwrap_err();
            assert!(err.to_string().contains("cannot be changed or reopened"), "{err}");
            assert!(next(signed, A::RecordFinding).is_err());
        }
        assert!(next(S::Reviewed, A::ReviewerSign).is_err());
        assert!(next(S::Approved, A::ReviewerSign).is_err());
        assert!(next(S::Approved, A::HeadApprove).is_err());
        assert!(next(S::Open, A::Reopen).is_err());
        for s in ReviewState::ALL {
            assert_eq!(ReviewState::from_code(s.code()), Some(*s));
        }
        assert_eq!(Finding::from_code("anomalous"), Some(Finding::Anomalous));
    }
}
