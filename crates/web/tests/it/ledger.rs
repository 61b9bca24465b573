//! The ledger under attack (R-LOG-2): each way someone with the database password could change
//! the log — a field, a deleted entry, a reordering, an insertion, a cut tail, a replaced or forged
//! checkpoint — done directly in the database, and `verify` naming it. The same tests run on SQLite
//! and PostgreSQL.

use nhiguard_ledger::{Checkpoint, Entry, SigningKey, leaf_hash};
use sqlx::{AssertSqlSafe, Executor};

use crate::support::{PASSWORD, TestApp};

/// The demo county, a first checkpoint, then more entries and a second checkpoint, then a few
/// entries after it. Returns (size at the last checkpoint, size now).
async fn ledger_with_history() -> (TestApp, u64, u64) {
    let t = TestApp::demo().await;
    t.app.checkpoint_now().await.unwrap().expect("a first checkpoint");
    let mut c = t.client();
    for user in ["soc.user", "hlt.user", "tax.user", "civ.user"] {
        c.post_json("/api/v1/session", &serde_json::json!({"username": user, "password": PASSWORD})).await;
        c.post_json("/api/v1/session", &serde_json::json!({"username": user, "password": "Wrong-Pass-1"})).await;
    }
    let signed = t.app.checkpoint_now().await.unwrap().expect("a second checkpoint").size;
    c.post_json("/api/v1/session", &serde_json::json!({"username": "nt.user", "password": PASSWORD})).await;
    c.post_json("/api/v1/session", &serde_json::json!({"username": "pl.user", "password": PASSWORD})).await;
    let size = t.app.db().ledger_size().await.unwrap();
    assert!(size > signed && signed > 20, "{signed} {size}");
    let v = t.app.verify_ledger(Vec::new()).await.unwrap();
    assert!(v.report.is_ok(), "untouched, it verifies: {:?}", v.report.failure);
    assert_eq!((v.report.entries_checked, v.report.checkpoints_checked, v.report.signed_size), (size, 2, signed));
    (t, signed, size)
}

/// What an attacker does first: turn off the append-only triggers.
async fn drop_guards(t: &TestApp, raw: &mut sqlx::AnyConnection) {
    let sql = if t.is_postgres() {
        "ALTER TABLE ledger_entries DISABLE TRIGGER USER; ALTER TABLE ledger_checkpoints DISABLE TRIGGER USER;"
    } else {
        "DROP TRIGGER ledger_entries_no_update; DROP TRIGGER ledger_entries_no_delete; \
         DROP TRIGGER ledger_checkpoints_no_update; DROP TRIGGER ledger_checkpoints_no_delete;"
    };
    raw.execute(sql).await.unwrap();
}

async fn failure(t: &TestApp) -> (String, String) {
    let v = t.app.verify_ledger(Vec::new()).await.unwrap();
    let f = v.report.failure.expect("verification must fail");
    (f.code().to_owned(), f.message())
}

/// Re-encodes entry `seq` with one field changed (and its leaf hash recomputed, as a careful
/// attacker would), keeping its position.
async fn rewrite(t: &TestApp, raw: &mut sqlx::AnyConnection, seq: u64, new_seq: u64, field: &str, value: &str) {
    let row = t.app.db().ledger_row(seq).await.unwrap();
    let e = Entry::decode(&row.body).unwrap();
    let mut fields = e.fields().to_vec();
    if let Some(f) = fields.iter_mut().find(|(k, _)| k == field) {
        f.1 = value.to_owned();
    }
    let forged = Entry::new(new_seq, e.at_micros(), e.kind(), e.actor(), fields).unwrap().encode();
    let leaf = leaf_hash(&forged).as_bytes().to_vec();
    sqlx::query("UPDATE ledger_entries SET body = $1, leaf_hash = $2 WHERE seq = $3")
        .bind(forged)
        .bind(leaf)
        .bind(i64::try_from(seq).unwrap())
        .execute(&mut *raw)
        .await
        .unwrap();
}

#[tokio::test]
async fn r_log_2_the_database_refuses_updates_and_deletes_of_entries() {
    let (t, _, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    assert!(raw.execute("UPDATE ledger_entries SET actor = 'someone' WHERE seq = 3").await.is_err());
    assert!(raw.execute("DELETE FROM ledger_entries WHERE seq = 3").await.is_err());
    assert!(raw.execute("DELETE FROM ledger_checkpoints").await.is_err());
    assert!(t.app.verify_ledger(Vec::new()).await.unwrap().report.is_ok());
}

#[tokio::test]
async fn r_log_2_a_changed_field_is_named() {
    let (t, _, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    // Changing the bytes alone breaks the stored hash of that very entry.
    let row = t.app.db().ledger_row(5).await.unwrap();
    let e = Entry::decode(&row.body).unwrap();
    let fields: Vec<_> = e
        .fields()
        .iter()
        .map(|(k, v)| (k.clone(), if k == "target" { "someone-else".into() } else { v.clone() }))
        .collect();
    let forged = Entry::new(5, e.at_micros(), e.kind(), e.actor(), fields).unwrap().encode();
    sqlx::query("UPDATE ledger_entries SET body = $1 WHERE seq = 5").bind(forged).execute(&mut raw).await.unwrap();
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "entry_hash_mismatch");
    assert!(msg.contains("第 5 筆") && msg.contains("entry 5"), "{msg}");
}

#[tokio::test]
async fn r_log_2_a_consistent_rewrite_is_caught_by_the_signed_checkpoint() {
    let (t, _, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    rewrite(&t, &mut raw, 5, 5, "target", "someone-else").await;
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "checkpoint_root_mismatch", "{msg}");
}

#[tokio::test]
async fn r_log_2_a_deleted_entry_is_named() {
    let (t, _, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    raw.execute("DELETE FROM ledger_entries WHERE seq = 7").await.unwrap();
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "entry_missing");
    assert!(msg.contains("第 7 筆"), "{msg}");
}

#[tokio::test]
async fn r_log_2_reordered_entries_are_named() {
    let (t, _, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    let (a, b) = (t.app.db().ledger_row(3).await.unwrap(), t.app.db().ledger_row(4).await.unwrap());
    for (seq, row) in [(3i64, &b), (4, &a)] {
        sqlx::query("UPDATE ledger_entries SET body = $1, leaf_hash = $2 WHERE seq = $3")
            .bind(row.body.clone())
            .bind(row.leaf_hash.clone())
            .bind(seq)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "entry_seq_mismatch", "{msg}");
    assert!(msg.contains('3'), "{msg}");
}

#[tokio::test]
async fn r_log_2_an_inserted_entry_is_caught() {
    let (t, _, size) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    // Shift entries 10.. up by one, re-encoding each for its new place, and put a forged one at 10.
    for seq in (10..size).rev() {
        rewrite(&t, &mut raw, seq, seq + 1, "detail", "moved").await;
        sqlx::query("UPDATE ledger_entries SET seq = $1 WHERE seq = $2")
            .bind(i64::try_from(seq + 1).unwrap())
            .bind(i64::try_from(seq).unwrap())
            .execute(&mut raw)
            .await
            .unwrap();
    }
    let row = t.app.db().ledger_row(9).await.unwrap();
    let e = Entry::decode(&row.body).unwrap();
    let forged = Entry::new(10, e.at_micros(), e.kind(), "plan.admin", e.fields().to_vec()).unwrap().encode();
    sqlx::query(
        "INSERT INTO ledger_entries (seq, at, kind, actor, body, leaf_hash) VALUES (10, $1, $2, 'plan.admin', $3, $4)",
    )
    .bind(e.at_micros())
    .bind(e.kind().code())
    .bind(forged.clone())
    .bind(leaf_hash(&forged).as_bytes().to_vec())
    .execute(&mut raw)
    .await
    .unwrap();
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "checkpoint_root_mismatch", "{msg}");
}

#[tokio::test]
async fn r_log_2_a_cut_tail_is_named() {
    let (t, signed, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    // Remove everything from a little before the last checkpoint on.
    let from = signed - 3;
    raw.execute(AssertSqlSafe(format!("DELETE FROM ledger_entries WHERE seq >= {from}"))).await.unwrap();
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "tail_cut", "{msg}");
}

#[tokio::test]
async fn r_log_2_a_cut_tail_is_caught_by_a_checkpoint_kept_outside_even_when_its_copy_is_deleted() {
    let (t, signed, _) = ledger_with_history().await;
    let outside = t.app.db().latest_checkpoint().await.unwrap().unwrap().text;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    raw.execute(AssertSqlSafe(format!("DELETE FROM ledger_entries WHERE seq >= {}", signed - 2))).await.unwrap();
    raw.execute(AssertSqlSafe(format!("DELETE FROM ledger_checkpoints WHERE size >= {}", signed - 2))).await.unwrap();
    let v = t.app.verify_ledger(Vec::new()).await.unwrap();
    assert!(v.report.is_ok(), "without the outside copy the cut cannot be seen");
    let paper = nhiguard_ledger::SignedCheckpoint::parse(&outside).unwrap();
    let v = t.app.verify_ledger(vec![paper]).await.unwrap();
    assert_eq!(v.report.failure.map(|f| f.code()), Some("tail_cut"));
}

#[tokio::test]
async fn r_log_2_a_replaced_or_forged_checkpoint_is_named() {
    let (t, signed, _) = ledger_with_history().await;
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    let stored = t.app.db().latest_checkpoint().await.unwrap().unwrap();
    // Signed by another key (someone who made their own), for the true root.
    let parsed = nhiguard_ledger::SignedCheckpoint::parse(&stored.text).unwrap();
    let c = parsed.checkpoint();
    let other = SigningKey::generate("nhiguard.test").unwrap();
    let replaced = Checkpoint::new("test", c.size(), c.root(), c.at_secs()).unwrap().sign(&other).to_text();
    sqlx::query("UPDATE ledger_checkpoints SET text = $1 WHERE size = $2")
        .bind(replaced)
        .bind(i64::try_from(signed).unwrap())
        .execute(&mut raw)
        .await
        .unwrap();
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "checkpoint_bad_signature", "{msg}");

    // The real signature with one byte of it changed.
    let mut lines: Vec<String> = stored.text.lines().map(str::to_owned).collect();
    let last = lines.last_mut().unwrap();
    let flip = if last.ends_with('A') { 'B' } else { 'A' };
    last.pop();
    last.push(flip);
    let forged = format!("{}\n", lines.join("\n"));
    sqlx::query("UPDATE ledger_checkpoints SET text = $1 WHERE size = $2")
        .bind(forged)
        .bind(i64::try_from(signed).unwrap())
        .execute(&mut raw)
        .await
        .unwrap();
    let (code, _) = failure(&t).await;
    assert!(code == "checkpoint_bad_signature", "{code}");
}

#[tokio::test]
async fn r_log_2_auditors_verify_and_read_proofs_and_their_reading_is_recorded() {
    let (t, signed, _) = ledger_with_history().await;
    let mut auditor = t.api_as("hlt.auditor").await;
    let r = auditor.post_json("/api/v1/ledger/verify", &serde_json::json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ok"], true);
    let proof = auditor.get("/api/v1/ledger/entries/4/proof").await;
    assert_eq!(proof.status, 200, "{}", proof.body);
    let p = proof.json();
    assert_eq!(p["tree_size"].as_u64(), Some(signed.min(p["tree_size"].as_u64().unwrap())));
    // The proof checks out against the checkpoint's root.
    let cp = nhiguard_ledger::SignedCheckpoint::parse(p["checkpoint"].as_str().unwrap()).unwrap();
    let leaf = nhiguard_ledger::Hash::from_hex(p["leaf_hash"].as_str().unwrap()).unwrap();
    let path: Vec<_> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| nhiguard_ledger::Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    nhiguard_ledger::verify_inclusion(&leaf, 4, cp.checkpoint().size(), &path, &cp.checkpoint().root()).unwrap();
    let reads: Vec<_> =
        t.app.recent_events(50).await.unwrap().into_iter().filter(|e| e.event == "ledger_read").collect();
    assert_eq!(reads.len(), 2, "the verification and the proof were both recorded");
    assert!(reads.iter().all(|e| e.username == "hlt.auditor"));
    // Others may not.
    let mut user = t.api_as("soc.user").await;
    assert_eq!(user.post_json("/api/v1/ledger/verify", &serde_json::json!({})).await.status, 403);
    assert_eq!(user.get("/api/v1/ledger/entries/4/proof").await.status, 403);
    let beyond = auditor.get("/api/v1/ledger/entries/9223372036854775808/proof").await;
    assert_eq!(beyond.status, 404, "a position past any log is no such entry: {}", beyond.body);
    let mut web = t.browser_as("eth.officer").await;
    let page = web.get("/integrity").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("nhiguard.test+"), "the public key is shown");
    let r = web.submit("/integrity", "/integrity/verify", &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/integrity#verify-result")), "{}", r.body);
    let page = web.get("/integrity").await;
    assert!(page.body.contains("驗證通過") && page.body.contains("eth.officer"), "{}", page.body);
    assert!(page.body.contains("id=\"verifications\""), "the API's verification is listed below it");
    let verified: Vec<_> =
        t.app.recent_events(50).await.unwrap().into_iter().filter(|e| e.event == "ledger_verified").collect();
    assert_eq!(verified.len(), 2, "the API's and the page's results are ledger entries");
    assert!(verified[0].detail.starts_with("passed: "), "{:?}", verified[0]);
    assert_eq!(verified[0].username, "eth.officer");
}

/// R-LOG-2: the integrity page shows what the latest verification found, and a reload of it runs
/// nothing again and records nothing; a failed verification is recorded and shown with its cause.
#[tokio::test]
async fn r_log_2_a_verification_is_recorded_and_shown_after_a_redirect_not_run_again_on_reload() {
    let (t, _, _) = ledger_with_history().await;
    let mut web = t.browser_as("hlt.auditor").await;
    assert!(web.get("/integrity").await.body.contains("尚未在此驗證過"));
    assert_eq!(web.submit("/integrity", "/integrity/verify", &[]).await.status, 303);
    let size = t.app.db().ledger_size().await.unwrap();
    for _ in 0..2 {
        let page = web.get("/integrity").await;
        assert!(page.body.contains("驗證通過"), "{}", page.body);
    }
    assert_eq!(t.app.db().ledger_size().await.unwrap(), size, "showing the result ran and recorded nothing");

    // An entry changed behind the app's back: the next verification fails, says why, and is kept.
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    rewrite(&t, &mut raw, 5, 5, "target", "someone-else").await;
    assert_eq!(web.submit("/integrity", "/integrity/verify", &[]).await.status, 303);
    let page = web.get("/integrity").await;
    assert!(page.body.contains("驗證失敗") && page.body.contains("checkpoint_root_mismatch"), "{}", page.body);
    assert!(page.body.contains("id=\"verifications\""), "the earlier, passed one is listed below");
    let recorded = t.app.db().verifications(5).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].failure.as_ref().map(|f| f.0.as_str()), Some("checkpoint_root_mismatch"));
    assert!(recorded[1].failure.is_none());
    let entry = Entry::decode(&t.app.db().ledger_row(recorded[0].entry_seq).await.unwrap().body).unwrap();
    assert_eq!(entry.field("event"), Some("ledger_verified"));
    assert_eq!(entry.field("detail"), Some("failed: checkpoint_root_mismatch"));
    assert_eq!(entry.actor(), "hlt.auditor");
}

#[tokio::test]
async fn r_log_2_entries_can_be_pruned_only_after_five_years_and_the_log_still_verifies() {
    let (t, _, size) = ledger_with_history().await;
    let first_day = t.clock_now_date();
    // Younger than five years: refused.
    let r = t.app.prune_ledger(first_day + chrono::Duration::days(1), "plan.admin").await;
    assert!(matches!(r, Err(nhiguard_app::AppError::Conflict(_))), "{r:?}");
    // Nobody named: refused (clearing cannot be undone).
    let r = t.app.prune_ledger(first_day + chrono::Duration::days(1), "  ").await;
    assert!(matches!(r, Err(nhiguard_app::AppError::Invalid { .. })), "{r:?}");
    // Six years on, with newer entries after them.
    t.clock.advance(chrono::Duration::days(6 * 366));
    let mut c = t.client();
    c.post_json("/api/v1/session", &serde_json::json!({"username": "soc.user", "password": PASSWORD})).await;
    let out = t.app.prune_ledger(first_day + chrono::Duration::days(1), "plan.admin").await.unwrap();
    assert_eq!(out.below, size, "every entry of that first day");
    assert_eq!(out.cleared, size);
    assert!(t.app.db().ledger_row(3).await.unwrap().body.is_empty());
    let v = t.app.verify_ledger(Vec::new()).await.unwrap();
    assert!(v.report.is_ok(), "{:?}", v.report.failure);
    // The pruning is itself recorded, and a proof for a pruned entry says why there is none.
    let retention = t.app.db().ledger_recent(&["retention"], 5).await.unwrap();
    assert_eq!(retention.len(), 1);
    assert!(matches!(t.app.inclusion(3).await, Err(nhiguard_app::AppError::Conflict(_))));
    // The database refuses clearing an entry above the boundary, even with the same trick.
    let mut raw = t.raw().await;
    let above = i64::try_from(size + 1).unwrap();
    let r = sqlx::query("UPDATE ledger_entries SET body = $1 WHERE seq = $2")
        .bind(Vec::<u8>::new())
        .bind(above)
        .execute(&mut raw)
        .await;
    assert!(r.is_err());
    // A boundary moved up by someone without the key is caught.
    drop_guards(&t, &mut raw).await;
    let other = SigningKey::generate("nhiguard.test").unwrap();
    let forged =
        Checkpoint::new("test.pruned", size + 2, nhiguard_ledger::EMPTY_ROOT, 1).unwrap().sign(&other).to_text();
    sqlx::query("INSERT INTO ledger_prunes (below, at, text) VALUES ($1, 0, $2)")
        .bind(i64::try_from(size + 2).unwrap())
        .bind(forged)
        .execute(&mut raw)
        .await
        .unwrap();
    raw.execute(AssertSqlSafe(
        format!("UPDATE ledger_entries SET body = X'' WHERE seq = {}", size + 1)
            .replace("X''", if t.is_postgres() { "''::bytea" } else { "X''" }),
    ))
    .await
    .unwrap();
    let (code, msg) = failure(&t).await;
    assert!(code == "checkpoint_bad_signature" || code == "entry_unreadable", "{code}: {msg}");
}

/// R-LOG-2: a server whose clock was set years ahead to prune young entries leaves a prune
/// statement dated after any honest verification; it is found, whoever holds the key.
#[tokio::test]
async fn r_log_2_a_prune_made_under_a_clock_set_ahead_is_found() {
    let (t, _, _) = ledger_with_history().await;
    let first_day = t.clock_now_date();
    let real = t.clock_now();
    t.clock.advance(chrono::Duration::days(6 * 366));
    t.app.prune_ledger(first_day + chrono::Duration::days(1), "plan.admin").await.unwrap();
    assert!(t.app.verify_ledger(Vec::new()).await.unwrap().report.is_ok(), "at the server's own time, in order");
    // The clock put back: the statement is dated six years after the verification.
    t.clock.set(real + chrono::Duration::days(1));
    let (code, msg) = failure(&t).await;
    assert_eq!(code, "pruned_early", "{msg}");
    assert!(msg.contains("dated after"), "{msg}");
}

trait Today {
    fn clock_now_date(&self) -> chrono::NaiveDate;
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Today for TestApp {
    fn clock_now_date(&self) -> chrono::NaiveDate {
        nhiguard_domain::roc::taipei_date(self.clock_now())
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use nhiguard_domain::clock::Clock;
        self.clock.now()
    }
}

/// Every proof of a log of a few hundred entries, from the stored subtree roots, checks out against
/// the checkpoint and equals the proof from all the leaves; a log whose roots were never stored
/// (one from before they were kept) catches up on the first proof; a changed root makes a proof
/// fail, never pass.
/// An auditor of one agency proves any entry is in the log, but reads a query entry (its subject,
/// case number and reason) only if it is of an agency within the auditor's branch.
#[tokio::test]
async fn r_log_1_r_log_2_a_proof_of_another_agencys_query_withholds_what_the_entry_says() {
    let t = TestApp::demo().await;
    let p = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == 8).unwrap().id;
    let o = t.app.db().operations().await.unwrap().into_iter().find(|o| o.code == "INS01").unwrap().id;
    let id = t.app.sandbox_examples(1).remove(0);
    let mut soc = t.api_as("soc.user").await;
    let body = serde_json::json!({"purpose_id": p, "operation_id": o, "case_number": "113-兒保-000123",
        "reason": "兒少保護個案家訪前確認投保單位以聯繫家屬", "national_id": id});
    let r = soc.post_json("/api/v1/queries", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seq = r.json()["query_seq"].as_u64().unwrap();
    t.app.checkpoint_now().await.unwrap().expect("a checkpoint covering the query");
    let path = format!("/api/v1/ledger/entries/{seq}/proof");
    // The health bureau's auditor: the proof, without the social bureau's entry.
    let mut other = t.api_as("hlt.auditor").await;
    let r = other.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["withheld"], true);
    assert_eq!(p["kind"], "query");
    assert_eq!((p["actor"].as_str(), p["fields"].as_array().map(Vec::len)), (Some(""), Some(0)), "{p}");
    assert!(!r.body.contains(&id) && !r.body.contains("113-兒保-000123"), "{}", r.body);
    let cp = nhiguard_ledger::SignedCheckpoint::parse(p["checkpoint"].as_str().unwrap()).unwrap();
    let leaf = nhiguard_ledger::Hash::from_hex(p["leaf_hash"].as_str().unwrap()).unwrap();
    let path_hashes: Vec<_> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| nhiguard_ledger::Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    nhiguard_ledger::verify_inclusion(&leaf, seq, cp.checkpoint().size(), &path_hashes, &cp.checkpoint().root())
        .expect("the withheld entry's hash is still proven in the log");
    let mut web = t.browser_as("hlt.auditor").await;
    let page = web.get(&format!("/integrity/proof?seq={seq}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"withheld\"") && !page.body.contains(&id), "{}", page.body);
    // Its outcome names no agency: it is the querying user's agency's, withheld from others too.
    let rows = t.app.db().ledger_rows(0, 100_000).await.unwrap();
    let outcome = rows
        .iter()
        .map(|r| Entry::decode(&r.body).unwrap())
        .find(|e| {
            e.kind() == nhiguard_ledger::EntryKind::QueryOutcome && e.field("query_seq") == Some(&*seq.to_string())
        })
        .unwrap()
        .seq();
    let p = other.get(&format!("/api/v1/ledger/entries/{outcome}/proof")).await.json();
    assert_eq!((p["withheld"].as_bool(), p["actor"].as_str()), (Some(true), Some("")), "{p}");
    // The planning department reaches the whole county's log: the entry is read whole.
    let mut plan = t.api_as("plan.admin").await;
    let p = plan.get(&format!("/api/v1/ledger/entries/{outcome}/proof")).await.json();
    assert_eq!((p["withheld"].as_bool(), p["actor"].as_str()), (Some(false), Some("soc.user")), "{p}");
    let p = plan.get(&path).await.json();
    assert_eq!(p["withheld"], false, "{p}");
    assert_eq!(p["actor"], "soc.user");
    let conditions = format!("national_id={id}");
    assert!(p["fields"].as_array().unwrap().iter().any(|f| f[0] == "conditions" && f[1] == conditions.as_str()), "{p}");
}

#[tokio::test]
async fn r_log_2_proofs_come_from_stored_subtree_roots_and_a_wrong_root_cannot_pass() {
    let t = TestApp::demo().await;
    append_actions(&t, 0..300).await;
    let cp = t.app.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(t.app.db().ledger_nodes_size().await.unwrap(), cp.size, "filled in with the checkpoint");
    let signed = nhiguard_ledger::SignedCheckpoint::parse(&cp.text).unwrap();
    let root = signed.checkpoint().root();
    let leaves = leaf_hashes(&t, cp.size).await;
    for seq in [0, 1, 15, 16, 17, cp.size / 2, cp.size - 17, cp.size - 2, cp.size - 1] {
        let inc = t.app.inclusion(seq).await.unwrap();
        assert_eq!(inc.tree_size, cp.size);
        assert_eq!(inc.proof, nhiguard_ledger::inclusion_proof(&leaves, seq, cp.size).unwrap(), "entry {seq}");
        nhiguard_ledger::verify_inclusion(&inc.leaf, seq, cp.size, &inc.proof, &root).unwrap();
    }
    // A log whose roots were never stored.
    let mut raw = t.raw().await;
    raw.execute("DELETE FROM ledger_tiles").await.unwrap();
    sqlx::query("UPDATE ledger_nodes_head SET size = 0, frontier = $1")
        .bind(Vec::<u8>::new())
        .execute(&mut raw)
        .await
        .unwrap();
    let inc = t.app.inclusion(cp.size / 2).await.unwrap();
    nhiguard_ledger::verify_inclusion(&inc.leaf, cp.size / 2, cp.size, &inc.proof, &root).unwrap();
    assert_eq!(t.app.db().ledger_nodes_size().await.unwrap(), cp.size, "caught up");
    // A changed root: the proof that uses it no longer matches the signed root.
    // (The first tile holds the roots of leaves 0–15, 16–31, …; the first slot is changed. Entry 20
    // lies in leaves 16–31, whose sibling is the changed subtree of leaves 0–15.)
    let mut tile: Vec<u8> = sqlx::query_scalar("SELECT hashes FROM ledger_tiles WHERE band = 0 AND idx = 0")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    tile[..32].copy_from_slice(&[7u8; 32]);
    sqlx::query("UPDATE ledger_tiles SET hashes = $1 WHERE band = 0 AND idx = 0")
        .bind(tile)
        .execute(&mut raw)
        .await
        .unwrap();
    let inc = t.app.inclusion(20).await.unwrap();
    assert!(nhiguard_ledger::verify_inclusion(&inc.leaf, 20, cp.size, &inc.proof, &root).is_err());
}

/// Appends one test account action for each number of `n`.
/// The stored leaf hashes of the first `size` entries, to compute proofs from every leaf.
async fn leaf_hashes(t: &TestApp, size: u64) -> Vec<nhiguard_ledger::Hash> {
    let rows = t.app.db().ledger_rows(0, size).await.unwrap();
    rows.iter().map(|r| nhiguard_ledger::Hash(r.leaf_hash.as_slice().try_into().unwrap())).collect()
}

async fn append_actions(t: &TestApp, n: std::ops::Range<i64>) {
    for i in n {
        t.app
            .append(nhiguard_app::ledger::Draft {
                kind: nhiguard_ledger::EntryKind::AccountAction,
                actor: "plan.admin".into(),
                at_micros: 1_800_000_000_000_000 + i,
                fields: vec![("event".into(), "test".into()), ("n".into(), i.to_string())],
            })
            .await
            .unwrap();
    }
}

/// The roots are filled in at each checkpoint from where the last fill stopped, inside tiles that fill
/// left partly filled; proofs in the larger tree still equal those from every leaf.
#[tokio::test]
async fn r_log_2_proofs_stay_right_as_later_checkpoints_fill_partly_filled_tiles() {
    let t = TestApp::demo().await;
    let mut appended = 0;
    let mut sizes = Vec::new();
    for more in [70, 200, 300] {
        append_actions(&t, appended..appended + more).await;
        appended += more;
        let cp = t.app.checkpoint_now().await.unwrap().unwrap();
        assert_eq!(t.app.db().ledger_nodes_size().await.unwrap(), cp.size);
        sizes.push(cp);
    }
    let last = sizes.last().unwrap().size;
    let leaves = leaf_hashes(&t, last).await;
    for cp in &sizes {
        let root = nhiguard_ledger::SignedCheckpoint::parse(&cp.text).unwrap().checkpoint().root();
        for seq in (0..cp.size).step_by(7).chain([cp.size - 1]) {
            // The smallest checkpoint covering `seq` is the one the proof is against.
            let covering = sizes.iter().find(|c| c.size > seq).unwrap();
            if covering.size != cp.size {
                continue;
            }
            let inc = t.app.inclusion(seq).await.unwrap();
            assert_eq!(inc.tree_size, cp.size);
            assert_eq!(inc.proof, nhiguard_ledger::inclusion_proof(&leaves, seq, cp.size).unwrap(), "entry {seq}");
            nhiguard_ledger::verify_inclusion(&inc.leaf, seq, cp.size, &inc.proof, &root).unwrap();
        }
    }
}

/// A proof is read from the size this process expects the covering checkpoint to have; the
/// checkpoint read beside it has the last word. Checkpoints signed by another process sharing the
/// database are found, and a checkpoint removed behind the process's back (then named by `ledger
/// verify` against a copy kept outside) leaves no proof against it.
#[tokio::test]
async fn r_log_2_a_proof_follows_checkpoints_signed_or_removed_elsewhere() {
    let t = TestApp::demo().await;
    append_actions(&t, 0..40).await;
    let first = t.app.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(t.app.inclusion(first.size - 1).await.unwrap().tree_size, first.size);
    // Another process (an app of its own on the same database) signs the next checkpoint.
    let clock: std::sync::Arc<dyn nhiguard_domain::clock::Clock> = t.clock.clone();
    let other = t.app.with_clock(clock);
    append_actions(&t, 40..80).await;
    let second = other.checkpoint_now().await.unwrap().unwrap();
    let p = t.app.inclusion(second.size - 1).await.unwrap();
    assert_eq!((p.tree_size, p.checkpoint), (second.size, second.text.clone()));
    assert_eq!(t.app.inclusion(3).await.unwrap().tree_size, first.size, "the first covering one, as before");
    // The first checkpoint removed: proofs of its entries are now against the second.
    let mut raw = t.raw().await;
    drop_guards(&t, &mut raw).await;
    raw.execute(AssertSqlSafe(format!("DELETE FROM ledger_checkpoints WHERE size = {}", first.size))).await.unwrap();
    let p = t.app.inclusion(3).await.unwrap();
    assert_eq!(p.tree_size, second.size);
    let leaves = leaf_hashes(&t, second.size).await;
    assert_eq!(
        p.proof,
        nhiguard_ledger::inclusion_proof(&leaves, 3, second.size).unwrap(),
        "the proof in the second tree"
    );
    // The second removed too: nothing covers the entries any more.
    raw.execute(AssertSqlSafe(format!("DELETE FROM ledger_checkpoints WHERE size = {}", second.size))).await.unwrap();
    let e = t.app.inclusion(3).await.unwrap_err();
    assert!(e.to_string().contains("checkpoint"), "{e}");
}
