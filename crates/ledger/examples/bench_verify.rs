//! Benchmark of end-to-end verification (R-LOG-2): how fast the `Verifier` checks a log, against the floor
//! of hashing the same bytes once with SHA-256 on one thread.
//!
//! Usage: `cargo run --release -p nhiguard-ledger --example bench_verify -- [ENTRIES]` (default 1,000,000).
//! Builds synthetic ~300-byte query entries in memory (not timed), then prints one Markdown table row on
//! stdout (the header goes to stderr) for `BENCHMARKS.md`. It must never be used on real log data: it
//! exists to measure, and keeps everything in memory.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use nhiguard_ledger::{Checkpoint, Entry, EntryKind, Frontier, SigningKey, StoredEntry, Verifier, leaf_hash};
use sha2::{Digest as _, Sha256};

const BATCH: usize = 1 << 16;
const CHECKPOINT_EVERY: u64 = 100_000;

fn main() -> Result<(), Box<dyn Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.replace(['_', ','], "").parse()?,
        None => 1_000_000,
    };

    // The store's view: contiguous bytes with offsets, and the leaf hash column.
    let mut bytes = Vec::new();
    let mut offsets = Vec::with_capacity(n as usize + 1);
    offsets.push(0usize);
    for seq in 0..n {
        let entry = synthetic(seq)?;
        bytes.extend_from_slice(&entry.encode());
        offsets.push(bytes.len());
    }
    let entry_bytes = |i: usize| &bytes[offsets[i]..offsets[i + 1]];
    let hashes: Vec<_> = (0..n as usize).map(|i| leaf_hash(entry_bytes(i))).collect();

    // Checkpoints along the way, as a deployment signing every so often would have.
    let key = SigningKey::from_seed("nhiguard.bench", &[42u8; 32])?;
    let mut frontier = Frontier::new();
    let mut checkpoints = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        frontier.push(*h);
        let size = i as u64 + 1;
        if size.is_multiple_of(CHECKPOINT_EVERY) || size == n {
            checkpoints.push(Checkpoint::new("bench", size, frontier.root(), 1_722_300_000)?.sign(&key));
        }
    }
    let checkpoint_count = checkpoints.len();

    // (a) The floor: SHA-256 once over each entry's bytes, one thread.
    let started = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..n as usize {
        let digest = Sha256::digest(entry_bytes(i));
        acc[0] ^= digest[0];
    }
    black_box(acc);
    let raw_secs = started.elapsed().as_secs_f64();

    // (b) The verifier, fed in batches as the store would page them.
    let started = Instant::now();
    let mut verifier = Verifier::new("bench", key.public_key(), checkpoints)?;
    let mut rows = Vec::with_capacity(BATCH);
    let mut next = 0usize;
    while next < n as usize {
        rows.clear();
        let end = (next + BATCH).min(n as usize);
        rows.extend((next..end).map(|i| StoredEntry {
            seq: i as u64,
            bytes: entry_bytes(i),
            leaf_hash: Some(hashes[i]),
        }));
        if !verifier.feed(&rows) {
            break;
        }
        next = end;
    }
    let report = verifier.finish();
    let verify_secs = started.elapsed().as_secs_f64();
    if let Some(failure) = &report.failure {
        return Err(format!("the synthetic log did not verify: {failure}").into());
    }

    let avg = bytes.len() as f64 / n as f64;
    let raw_rate = n as f64 / raw_secs;
    let verify_rate = n as f64 / verify_secs;
    eprintln!(
        "| entries | avg bytes | checkpoints | raw SHA-256, 1 thread (entries/s) | Verifier (entries/s) | Verifier / raw |"
    );
    eprintln!("|---|---|---|---|---|---|");
    println!(
        "| {n} | {avg:.0} | {checkpoint_count} | {raw_rate:.0} | {verify_rate:.0} | {:.2} |",
        verify_rate / raw_rate
    );
    Ok(())
}

/// A query entry of about 300 bytes with the fields R-LOG-1 asks for; every value synthetic.
fn synthetic(seq: u64) -> Result<Entry, nhiguard_ledger::LedgerError> {
    let f = |k: &str, v: String| (k.to_owned(), v);
    Entry::new(
        seq,
        1_722_300_000_000_000 + seq as i64 * 1_000,
        EntryKind::Query,
        format!("clerk{:03}", seq % 500),
        [
            f("case_no", format!("113-{:06}", seq % 1_000_000)),
            f("national_id", format!("Z{:09}", (seq * 7_919) % 1_000_000_000)),
            f("operation", "NHI-Q01".to_owned()),
            f("purpose", "06 社會救助資格審查".to_owned()),
            f("reason", format!("依社會救助法辦理低收入戶資格複查，第 {} 案", seq % 9_973)),
            f("unit", "南投縣政府社會及勞動處".to_owned()),
            f("outcome", "pending".to_owned()),
        ],
    )
}
