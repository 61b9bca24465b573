//! The query gateway (R-PUR-3, R-QRY-1 … R-QRY-6, R-LOG-1, R-DAT-1): answered, not found,
//! refused and failed queries, each recorded; nothing malformed or unauthorised reaches NHIA;
//! results only for the person who asked, encrypted at rest, purged on time with a record.

use nhiguard_ledger::{Entry, EntryKind};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp};

async fn ids(t: &TestApp, purpose: i64, op: &str) -> (i64, i64) {
    let p = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == purpose).unwrap().id;
    let o = t.app.db().operations().await.unwrap().into_iter().find(|o| o.code == op).unwrap().id;
    (p, o)
}

fn subject(t: &TestApp) -> String {
    t.app.sandbox_examples(1).remove(0)
}

fn body(p: i64, o: i64, case: &str, reason: &str, id: &str) -> Value {
    json!({"purpose_id": p, "operation_id": o, "case_number": case, "reason": reason, "national_id": id})
}

const REASON: &str = "兒少保護個案家訪前確認投保單位以聯繫家屬";

/// Every ledger entry of a kind, decoded.
async fn entries(t: &TestApp, kind: EntryKind) -> Vec<Entry> {
    let rows = t.app.db().ledger_rows(0, 100_000).await.unwrap();
    rows.iter().map(|r| Entry::decode(&r.body).unwrap()).filter(|e| e.kind() == kind).collect()
}

#[tokio::test]
async fn r_log_1_an_answered_query_is_logged_before_and_after_and_shown_only_to_its_owner() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = subject(&t);
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000123", REASON, &id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["outcome"], "answered");
    assert_eq!(t.nhia.requests_seen(), seen + 1, "one request reached NHIA");
    let rec = &a["records"][0];
    for f in ["name", "insured_status", "insured_category", "insured_unit", "insured_since"] {
        assert!(rec[f].is_string(), "{f} in {rec}");
    }
    // R-LOG-1: the query entry carries every required field, and its outcome follows it.
    let seq = a["query_seq"].as_u64().unwrap();
    let q = entries(&t, EntryKind::Query).await.into_iter().find(|e| e.seq() == seq).unwrap();
    assert_eq!(q.actor(), "soc.user");
    for (k, v) in [("operation", "INS01"), ("purpose", "8"), ("case_number", "113-兒保-000123"), ("reason", REASON)] {
        assert_eq!(q.field(k), Some(v), "{k}");
    }
    assert_eq!(q.field("conditions"), Some(format!("national_id={id}").as_str()));
    let out = entries(&t, EntryKind::QueryOutcome).await;
    assert!(
        out.iter().any(|e| e.field("query_seq") == Some(&seq.to_string()) && e.field("outcome") == Some("answered"))
    );
    // R-QRY-5: the result reopens for its owner only.
    let rid = a["result_id"].as_i64().unwrap();
    let again = c.get(&format!("/api/v1/results/{rid}")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["records"][0]["name"], rec["name"]);
    let mut other = t.api_as("soc.reviewer").await;
    assert_eq!(other.get(&format!("/api/v1/results/{rid}")).await.status, 403);
    assert_eq!(other.request("DELETE", &format!("/api/v1/results/{rid}"), None, "").await.status, 403);
}

/// R-LOG-1: while NHIA is still answering, the query's entry is already in the database — read here
/// through another connection than the writer's: committed (and synced), not waiting in a buffer —
/// and its outcome is not there yet; the outcome is, once the answer is back.
#[tokio::test]
async fn r_log_1_a_query_is_committed_before_its_lookup_goes_out_and_its_outcome_before_the_answer() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = subject(&t);
    let mut c = t.api_as("soc.user").await;
    t.nhia.set_delay(Some(std::time::Duration::from_millis(1500)));
    let seen = t.nhia.requests_seen();
    let asked =
        tokio::spawn(async move { c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000777", REASON, &id)).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while t.nhia.requests_seen() == seen {
        assert!(std::time::Instant::now() < deadline, "the lookup never reached NHIA");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let query =
        entries(&t, EntryKind::Query).await.into_iter().find(|e| e.field("case_number") == Some("113-兒保-000777"));
    let query = query.expect("the query entry is committed while its lookup is out");
    let outcome_of = |e: &Entry| e.field("query_seq") == Some(&query.seq().to_string());
    assert!(!entries(&t, EntryKind::QueryOutcome).await.iter().any(outcome_of), "no outcome before the answer");
    let r = asked.await.unwrap();
    t.nhia.set_delay(None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["query_seq"].as_u64(), Some(query.seq()));
    assert!(entries(&t, EntryKind::QueryOutcome).await.iter().any(outcome_of), "the outcome is there once answered");
}

#[tokio::test]
async fn r_qry_6_results_are_encrypted_at_rest() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "ADR01").await;
    let mut c = t.api_as("soc.user").await;
    let a = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000124", REASON, &subject(&t))).await.json();
    let address = a["records"][0]["contact_address"].as_str().unwrap().to_owned();
    let rid = a["result_id"].as_i64().unwrap();
    let row = t.app.db().result(rid).await.unwrap();
    let ct = row.ciphertext.unwrap();
    let needle = address.as_bytes();
    assert!(!ct.windows(needle.len()).any(|w| w == needle), "the address is not stored in clear");
    assert!(!ct.windows(6).any(|w| w == "南投".as_bytes()));
}

#[tokio::test]
async fn r_qry_1_bad_input_is_refused_named_recorded_and_never_sent() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = subject(&t);
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    let cases = [
        (body(p, o, "", REASON, &id), "case_number"),
        (body(p, o, "113-1", "", &id), "reason"),
        (body(p, o, "113-1", ".", &id), "reason"),
        (body(p, o, "113-1", "aaaa", &id), "reason"),
        (body(p, o, "113-1", "aaaaaaaaaaaaaaaa", &id), "reason"),
        (body(p, o, "113-1", REASON, "A123456788"), "national_id"),
        (body(p, o, "113-1", REASON, ""), "national_id"),
    ];
    for (b, field) in &cases {
        let r = c.post_json("/api/v1/queries", b).await;
        assert_eq!(r.status, 422, "{b}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], *field, "{b}");
    }
    assert_eq!(t.nhia.requests_seen(), seen, "nothing malformed reached NHIA");
    let refused: Vec<_> =
        entries(&t, EntryKind::Query).await.into_iter().filter(|e| e.field("outcome") == Some("refused")).collect();
    assert_eq!(refused.len(), cases.len(), "each refusal recorded");
    // R-LOG-1: whom each attempt was about, as for an allowed query; a mistyped ID is not kept.
    let full = format!("national_id={id}");
    for e in &refused {
        if e.field("refusal") == Some("invalid national_id") {
            assert_eq!(e.field("conditions"), None, "{e:?}");
        } else {
            assert_eq!(e.field("conditions"), Some(full.as_str()), "{e:?}");
        }
    }
    assert_eq!(refused.iter().filter(|e| e.field("conditions").is_none()).count(), 2, "the two cases without an ID");
}

#[tokio::test]
async fn r_qry_1_an_agency_sets_its_case_number_format_and_its_units_follow_it() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = subject(&t);
    let soc = t.node("SOC").await;
    let swc = t.node("SOC-SWC").await;
    let mut admin = t.api_as("soc.admin").await;
    let set = |p: &str| json!({"pattern": p});
    let path = format!("/api/v1/org/{soc}/case-pattern");
    for bad in ["兒保", "{年}-{月}", "{數字"] {
        let r = admin.put_json(&path, &set(bad)).await;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("case_pattern")), "{bad}: {}", r.body);
    }
    let r = admin.put_json(&format!("/api/v1/org/{swc}/case-pattern"), &set("{數字}")).await;
    assert_eq!(r.status, 422, "a unit follows its agency's format: {}", r.body);
    let mut other = t.api_as("tax.admin").await;
    assert_eq!(other.put_json(&path, &set("{數字}")).await.status, 403, "another agency's admin");
    assert_eq!(admin.put_json(&path, &set("{年}-兒保-{數字6}")).await.status, 204);
    assert_eq!(admin.get(&format!("/api/v1/org/{swc}")).await.json()["case_pattern"], "{年}-兒保-{數字6}");

    let seen = t.nhia.requests_seen();
    let mut user = t.api_as("soc.user").await;
    let r = user.post_json("/api/v1/queries", &body(p, o, "113-兒保-12", REASON, &id)).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("case_number")), "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("{年}-兒保-{數字6}"), "{}", r.body);
    assert_eq!(t.nhia.requests_seen(), seen, "nothing sent");
    let refused = entries(&t, EntryKind::Query).await;
    assert_eq!(refused.last().unwrap().field("outcome"), Some("refused"), "the refusal is recorded");
    assert_eq!(user.post_json("/api/v1/queries", &body(p, o, "113-兒保-000012", REASON, &id)).await.status, 200);
    // A unit's user follows the agency's format.
    let (wp, wo) = ids(&t, 7, "ADR01").await;
    let mut unit = t.api_as("swc.user").await;
    let r =
        unit.post_json("/api/v1/queries", &body(wp, wo, "113-特境-3", "特殊境遇家庭扶助申請案確認聯絡地址", &id)).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("case_number")), "{}", r.body);
    // The query form shows the format beside the field.
    let mut web = t.browser_as("soc.user").await;
    assert!(web.get("/query").await.body.contains("case-pattern-hint"));
    // Another agency is not bound by it; cleared, it binds nobody.
    let (tp, to) = ids(&t, 2, "ADR01").await;
    let mut tax = t.api_as("tax.user").await;
    assert_eq!(
        tax.post_json("/api/v1/queries", &body(tp, to, "113-1", "房屋稅欠稅催繳查詢聯絡地址", &id)).await.status,
        200
    );
    assert_eq!(admin.put_json(&path, &set("")).await.status, 204);
    assert_eq!(user.post_json("/api/v1/queries", &body(p, o, "113-兒保-12", REASON, &id)).await.status, 200);
}

#[tokio::test]
async fn r_pur_3_only_held_purposes_operations_and_active_linkages_may_be_queried() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let seen = t.nhia.requests_seen();
    let mut soc = t.api_as("soc.user").await;
    // Purpose 2 (tax) belongs to the tax bureau's linkages, not the social department's.
    let (p2, adr) = ids(&t, 2, "ADR01").await;
    let r = soc.post_json("/api/v1/queries", &body(p2, adr, "113-1", REASON, &id)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // VIS01 is outside the social department's linkages for purpose 8.
    let (p8, vis) = ids(&t, 8, "VIS01").await;
    assert_eq!(soc.post_json("/api/v1/queries", &body(p8, vis, "113-1", REASON, &id)).await.status, 403);
    // A supervisor without the user role may not query at all.
    let mut chief = t.api_as("soc.chief").await;
    let (p8, ins) = ids(&t, 8, "INS01").await;
    assert_eq!(chief.post_json("/api/v1/queries", &body(p8, ins, "113-1", REASON, &id)).await.status, 403);
    // Unknown purpose or operation.
    assert_eq!(soc.post_json("/api/v1/queries", &body(9999, ins, "113-1", REASON, &id)).await.status, 422);
    // R-PUR-2: a retired purpose stops new queries.
    let mut plan = t.api_as("plan.admin").await;
    assert_eq!(
        plan.put_json(&format!("/api/v1/purposes/{p8}/status"), &json!({"status": "retired"})).await.status,
        204
    );
    let r = soc.post_json("/api/v1/queries", &body(p8, ins, "113-1", REASON, &id)).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("已廢止"));
    assert_eq!(t.nhia.requests_seen(), seen, "no refused query reached NHIA");
    let opts = soc.get("/api/v1/query-options").await.json();
    assert!(opts.as_array().unwrap().iter().all(|o| o["purpose_number"] != 8), "retired purposes are not offered");
    let refused =
        entries(&t, EntryKind::Query).await.into_iter().filter(|e| e.field("outcome") == Some("refused")).count();
    assert_eq!(refused, 5);
}

/// The recorded refusals: why, case number, and whether the entry names the account and agency.
async fn refusals(t: &TestApp) -> Vec<(String, String, bool)> {
    let refused = entries(t, EntryKind::Query).await.into_iter().filter(|e| e.field("outcome") == Some("refused"));
    refused
        .map(|e| {
            let named = e.field("account_id").is_some_and(|a| !a.is_empty())
                && e.field("agency_id").is_some_and(|a| !a.is_empty());
            (
                e.field("refusal").unwrap_or_default().to_owned(),
                e.field("case_number").unwrap_or_default().to_owned(),
                named,
            )
        })
        .collect()
}

#[tokio::test]
async fn r_acc_7_r_log_1_an_account_barred_at_the_moment_of_the_query_is_refused_and_recorded() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let seen = t.nhia.requests_seen();
    let id = subject(&t);
    let choice = format!("{p}:{o}");
    // Disabled while its page was open (R-ACC-7): the session ends, the query it sent is recorded.
    let mut web = t.browser_as("soc.user").await;
    let csrf = web.get("/query").await.csrf();
    t.set_account_status("soc.user", "disabled", None).await;
    let form = [("csrf", csrf.as_str()), ("choice", &choice), ("case_number", "113-D"), ("reason", REASON)];
    let r = web.post_form("/query", &[&form[..], &[("national_id", id.as_str())]].concat()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("location").unwrap().starts_with("/signin"), "{:?}", r.header("location"));
    let r = web.post_form("/query", &[&form[..], &[("national_id", id.as_str())]].concat()).await;
    assert_eq!(r.status, 303, "the session is gone: {}", r.body);
    t.set_account_status("soc.user", "active", None).await;
    // Locked by failed sign-ins (R-ACC-6): the live session stays, its queries do not go out.
    let mut c = t.api_as("soc.user").await;
    let mut stranger = t.client();
    for _ in 0..5 {
        let wrong = json!({"username": "soc.user", "password": "not the password 1"});
        assert_eq!(stranger.post_json("/api/v1/session", &wrong).await.status, 401);
    }
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-L", REASON, &id)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("鎖定"), "{}", r.body);
    assert_eq!(c.get("/api/v1/me").await.status, 200, "a lockout ends no session");
    // The password expired (R-ACC-6): signing in works, to change it; a query or a batch does not.
    t.clock.advance(chrono::Duration::days(91));
    let mut c = t.api_as("soc.user").await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-P", REASON, &id)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("變更密碼"), "{}", r.body);
    let q = format!(
        "/api/v1/batches?purpose_id={p}&operation_id={o}&case_number=113-B&reason=%E5%85%92%E5%B0%91%E4%BF%9D%E8%AD%B7%E5%80%8B%E6%A1%88%E5%90%8D%E5%86%8A%E7%A2%BA%E8%AA%8D&file_name=a.csv"
    );
    let r = c.request_bytes("POST", &q, Some("text/csv"), format!("身分證號\n{id}\n").as_bytes()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(t.nhia.requests_seen(), seen, "nothing reached NHIA");
    let recorded = refusals(&t).await;
    let expected = [
        ("account disabled", "113-D"),
        ("account locked", "113-L"),
        ("password must be changed", "113-P"),
        ("batch: password must be changed", "113-B"),
    ];
    assert_eq!(recorded.len(), expected.len(), "{recorded:?}");
    for ((why, case, named), (want_why, want_case)) in recorded.iter().zip(expected) {
        assert_eq!((why.as_str(), case.as_str(), *named), (want_why, want_case, true));
    }
}

#[tokio::test]
async fn r_acc_7_r_log_1_a_query_on_the_accounts_disable_date_is_refused_and_recorded() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let seen = t.nhia.requests_seen();
    let id = subject(&t);
    let mut c = t.api_as("soc.user").await;
    // Before its disable date the account queries; on that date (Taipei's) it no longer does, even
    // through a session opened before.
    let today = nhiguard_domain::roc::taipei_date(t.app.now());
    t.set_account_status("soc.user", "active", Some(today + chrono::Duration::days(1))).await;
    assert_eq!(c.post_json("/api/v1/queries", &body(p, o, "113-E", REASON, &id)).await.status, 200);
    assert_eq!(t.nhia.requests_seen(), seen + 1);
    t.set_account_status("soc.user", "active", Some(today)).await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-F", REASON, &id)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("停用日"), "{}", r.body);
    assert_eq!(t.nhia.requests_seen(), seen + 1, "nothing more reached NHIA");
    assert_eq!(refusals(&t).await, [("account past its disable date".to_owned(), "113-F".to_owned(), true)]);
}

#[tokio::test]
async fn not_found_and_nhia_failures_are_answered_clearly_and_recorded() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    // An ID with a valid check digit that the sandbox does not know.
    let unknown = (0..100u32)
        .map(|n| format!("B2{:08}", 10_000_000 + n * 7))
        .filter_map(|s| {
            let base = &s[..9];
            (0..10).map(|d| format!("{base}{d}")).find(|c| nhiguard_domain::national_id::NationalId::parse(c).is_ok())
        })
        .find(|c| !t.app.sandbox_examples(5000).contains(c))
        .unwrap();
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-2", REASON, &unknown)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "not_found");
    assert!(r.json()["result_id"].is_null());
    // NHIA down: the query was recorded, the outcome says so, the clerk gets a clear message.
    t.nhia.unavailable_next(10);
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-3", REASON, &subject(&t))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["outcome"], "nhia_error");
    assert!(a["message_zh"].as_str().unwrap().contains("健保署"), "{a}");
    t.nhia.clear();
    t.nhia.garbage_next(1);
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-4", REASON, &subject(&t))).await;
    assert_eq!(r.json()["outcome"], "nhia_error");
    let outcomes: Vec<String> =
        entries(&t, EntryKind::QueryOutcome).await.iter().map(|e| e.field("outcome").unwrap().to_owned()).collect();
    assert_eq!(outcomes, ["not_found", "nhia_error", "nhia_error"]);
    // "Found" with no record is no answer to an insured-status lookup: an NHIA error, nothing kept.
    t.nhia.empty_found_next(1);
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-5", REASON, &subject(&t))).await;
    let a = r.json();
    assert_eq!((a["outcome"].as_str(), a["result_id"].is_null()), (Some("nhia_error"), true), "{a}");
    assert!(a["message_zh"].as_str().unwrap().contains("無法辨識"), "{a}");
}

#[tokio::test]
async fn nhia_timing_out_is_answered_clearly_recorded_and_not_sent_again() {
    let t = TestApp::with_settings(|s| s.nhi_timeout_seconds = 1).await;
    t.app.fill_demo().await.unwrap();
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    t.nhia.set_delay(Some(std::time::Duration::from_millis(1500)));
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-T", REASON, &subject(&t))).await;
    t.nhia.set_delay(None);
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!((a["outcome"].as_str(), a["result_id"].is_null()), (Some("nhia_error"), true), "{a}");
    assert!(a["message_zh"].as_str().unwrap().contains("逾時"), "{a}");
    // A lookup NHIA may still carry out is not sent again (it would be a second disclosure).
    assert_eq!(t.nhia.requests_seen(), seen + 1);
    let outcome = entries(&t, EntryKind::QueryOutcome).await;
    assert_eq!(outcome.len(), 1);
    assert_eq!(
        (outcome[0].field("outcome"), outcome[0].field("nhia_error")),
        (Some("nhia_error"), Some("NHI-TIMEOUT"))
    );
    let query = entries(&t, EntryKind::Query).await;
    assert_eq!(query.len(), 1);
    assert_eq!(query[0].field("case_number"), Some("113-T"));
}

#[tokio::test]
async fn r_dat_1_results_are_purged_after_thirty_days_or_deleted_early_with_a_destruction_record() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    let keep = c.post_json("/api/v1/queries", &body(p, o, "113-5", REASON, &subject(&t))).await.json()["result_id"]
        .as_i64()
        .unwrap();
    let early = c.post_json("/api/v1/queries", &body(p, o, "113-6", REASON, &subject(&t))).await.json()["result_id"]
        .as_i64()
        .unwrap();
    assert_eq!(c.request("DELETE", &format!("/api/v1/results/{early}"), None, "").await.status, 204);
    assert_eq!(c.request("DELETE", &format!("/api/v1/results/{early}"), None, "").await.status, 409);
    assert_eq!(c.get(&format!("/api/v1/results/{early}")).await.status, 409);
    // A third one is kept with its case file.
    let attached = c.post_json("/api/v1/queries", &body(p, o, "113-8", REASON, &subject(&t))).await.json()["result_id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        c.put_json(&format!("/api/v1/results/{attached}/attached"), &json!({"attached": true})).await.status,
        204
    );
    let mut other = t.api_as("soc.reviewer").await;
    assert_eq!(
        other.put_json(&format!("/api/v1/results/{attached}/attached"), &json!({"attached": false})).await.status,
        403
    );
    t.clock.advance(chrono::Duration::days(29));
    assert_eq!(t.app.purge_results().await.unwrap(), 0, "not yet");
    t.clock.advance(chrono::Duration::days(2));
    assert_eq!(t.app.purge_results().await.unwrap(), 1);
    let row = t.app.db().result(keep).await.unwrap();
    assert!(row.ciphertext.is_none() && row.destroyed_by.as_deref() == Some("schedule"));
    assert!(t.app.db().result(attached).await.unwrap().ciphertext.is_some(), "the attached one stays");
    let mut c = t.api_as("soc.user").await;
    assert_eq!(c.get(&format!("/api/v1/results/{attached}")).await.status, 200);
    // The history page gives it no purge date: it is kept with the case.
    let history = t.browser_as("soc.user").await.get("/history").await.body;
    let rows: Vec<&str> = history.split("<tr>").filter(|r| r.contains("113-8") && r.contains("/results/")).collect();
    assert!(rows.len() == 1 && rows[0].contains("隨案保存"), "{history}");
    let retention = entries(&t, EntryKind::Retention).await;
    let events: Vec<(&str, &str)> =
        retention.iter().map(|e| (e.field("event").unwrap(), e.field("by").unwrap())).collect();
    assert_eq!(
        events,
        [("result_deleted", "soc.user"), ("result_attached", "soc.user"), ("result_purged", "schedule")]
    );
    assert!(retention.iter().all(|e| e.fields().iter().all(|(k, _)| k != "records")), "never the data");
    // Nor the subject: a destruction record names the result, not whom it was about.
    let id = subject(&t);
    assert!(retention.iter().all(|e| e.fields().iter().all(|(_, v)| !v.contains(&id))), "never the subject");
}

#[tokio::test]
async fn r_dat_1_r_qry_6_a_result_kept_with_its_case_just_before_the_purge_is_not_purged() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-9", REASON, &subject(&t))).await;
    let id = r.json()["result_id"].as_i64().unwrap();
    t.clock.advance(chrono::Duration::days(31));
    let mut c = t.api_as("soc.user").await;
    // The purge lists what is due; the owner keeps the result with its case before it gets to it.
    let now = t.app.now();
    let due = t.app.db().results_due(now, 1000).await.unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    let kept = c.put_json(&format!("/api/v1/results/{id}/attached"), &json!({"attached": true})).await;
    assert_eq!(kept.status, 204, "{}", kept.body);
    let shared = c.post_json(&format!("/api/v1/results/{id}/shares"), &json!({"username": "soc.reviewer"})).await;
    assert_eq!(shared.status, 204, "{}", shared.body);
    let mut tx = t.app.db().begin().await.unwrap();
    assert!(!tx.destroy_result(id, "schedule", now, true).await.unwrap(), "the keep wins");
    tx.commit().await.unwrap();
    assert_eq!(t.app.purge_results().await.unwrap(), 0);
    assert!(t.app.db().result(id).await.unwrap().ciphertext.is_some());
    assert_eq!(c.get(&format!("/api/v1/results/{id}")).await.status, 200);
    // The purge that found it kept took nothing from the colleague named on it either.
    assert_eq!(t.api_as("soc.reviewer").await.get(&format!("/api/v1/results/{id}")).await.status, 200);
    // The other way round: once destroyed, a result cannot be recorded as kept.
    assert_eq!(c.request("DELETE", &format!("/api/v1/results/{id}"), None, "").await.status, 204);
    let mut tx = t.app.db().begin().await.unwrap();
    assert!(!tx.set_result_attached(id, true).await.unwrap(), "nothing left to keep");
    tx.commit().await.unwrap();
    let kept = c.put_json(&format!("/api/v1/results/{id}/attached"), &json!({"attached": true})).await;
    assert_eq!(kept.status, 409, "{}", kept.body);
    let events: Vec<String> =
        entries(&t, EntryKind::Retention).await.iter().map(|e| e.field("event").unwrap().to_owned()).collect();
    assert_eq!(events, ["result_attached", "result_shared", "result_deleted"], "nothing recorded that did not happen");
}

#[tokio::test]
async fn r_qry_6_a_result_kept_with_its_case_is_shared_only_with_named_colleagues() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut owner = t.api_as("soc.user").await;
    let r = owner.post_json("/api/v1/queries", &body(p, o, "113-兒保-5", REASON, &subject(&t))).await;
    let id = r.json()["result_id"].as_i64().unwrap();
    let shares = format!("/api/v1/results/{id}/shares");
    let name = |u: &str| json!({"username": u});
    let mut colleague = t.api_as("soc.reviewer").await;
    assert_eq!(colleague.get(&format!("/api/v1/results/{id}")).await.status, 403, "not named yet");
    let r = owner.post_json(&shares, &name("soc.reviewer")).await;
    assert_eq!(r.status, 409, "only a result kept with its case is shared: {}", r.body);
    assert_eq!(owner.put_json(&format!("/api/v1/results/{id}/attached"), &json!({"attached": true})).await.status, 204);
    for (who, why) in
        [("tax.user", "another agency"), ("soc.chief", "no user role"), ("soc.user", "oneself"), ("nobody", "none")]
    {
        let r = owner.post_json(&shares, &name(who)).await;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("username")), "{why}: {}", r.body);
    }
    assert_eq!(colleague.post_json(&shares, &name("swc.user")).await.status, 403, "only the owner names people");
    assert_eq!(owner.post_json(&shares, &name("soc.reviewer")).await.status, 204);
    let seen = colleague.get(&format!("/api/v1/results/{id}")).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let views: Vec<Entry> = entries(&t, EntryKind::Export).await;
    assert!(views.iter().any(|e| e.field("event") == Some("result_viewed") && e.actor() == "soc.reviewer"));
    let kept = entries(&t, EntryKind::Retention).await;
    assert!(kept.iter().any(|e| e.field("event") == Some("result_shared") && e.field("with") == Some("soc.reviewer")));
    // The colleague reads it but neither deletes nor detaches it.
    assert_eq!(colleague.request("DELETE", &format!("/api/v1/results/{id}"), None, "").await.status, 403);
    assert_eq!(
        colleague.put_json(&format!("/api/v1/results/{id}/attached"), &json!({"attached": false})).await.status,
        403
    );
    let mut web = t.browser_as("soc.reviewer").await;
    assert!(web.get("/history").await.body.contains(&format!("/results/{id}")), "listed as shared with me");
    let page = web.get(&format!("/results/{id}")).await;
    assert!(page.body.contains("shared-notice") && !page.body.contains("delete-result"));
    // Removing the share, or detaching the result, ends the access.
    let reviewer = t.account_id("soc.reviewer").await;
    assert_eq!(owner.request("DELETE", &format!("{shares}/{reviewer}"), None, "").await.status, 204);
    assert_eq!(colleague.get(&format!("/api/v1/results/{id}")).await.status, 403);
    assert_eq!(owner.post_json(&shares, &name("soc.reviewer")).await.status, 204);
    assert_eq!(
        owner.put_json(&format!("/api/v1/results/{id}/attached"), &json!({"attached": false})).await.status,
        204
    );
    assert_eq!(colleague.get(&format!("/api/v1/results/{id}")).await.status, 403, "detaching ends every share");
}

#[tokio::test]
async fn the_history_lists_every_query_with_masked_subjects() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = subject(&t);
    let mut c = t.api_as("soc.user").await;
    c.post_json("/api/v1/queries", &body(p, o, "113-7", REASON, &id)).await;
    c.post_json("/api/v1/queries", &body(p, o, "", REASON, &id)).await;
    let h = c.get("/api/v1/queries").await;
    assert!(!h.body.contains(&id), "no whole ID in the history");
    let list = h.json();
    let outcomes: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["refused", "answered"]);
    assert_eq!(list[1]["case_number"], "113-7");
    assert_eq!(list[1]["subject"], format!("{}****{}", &id[..4], &id[8..]));
    // The page: each query with its case number and reason, the kept result with its purge date
    // (30 days on, in the ROC calendar), never the whole ID.
    let page = t.browser_as("soc.user").await.get("/history").await.body;
    assert!(!page.contains(&id), "no whole ID on the page");
    let queries: Vec<&str> = page.split("<tr>").filter(|r| r.contains("113-7") && r.contains(REASON)).collect();
    assert_eq!(queries.len(), 1, "{page}");
    let kept: Vec<&str> = page.split("<tr>").filter(|r| r.contains("113-7") && r.contains("/results/")).collect();
    assert!(kept.len() == 1 && kept[0].contains("115/12/27"), "{page}");
}

#[tokio::test]
async fn a_user_queries_through_the_pages() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut web = t.browser_as("soc.user").await;
    let form = web.get("/query").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("沙盒模式") && form.body.contains(&format!("{p}:{o}")));
    let id = subject(&t);
    let choice = format!("{p}:{o}");
    let r = web
        .submit(
            "/query",
            "/query",
            &[("choice", &choice), ("case_number", "113-兒保-9"), ("reason", REASON), ("national_id", &id)],
        )
        .await;
    assert_eq!(r.status, 303, "post/redirect/get: {}", r.body);
    let at = r.header("location").unwrap().to_owned();
    assert!(at.starts_with("/results/"), "{at}");
    let answer = web.get(&at).await;
    assert!(answer.body.contains("已回覆") && answer.body.contains("投保狀態"), "{}", answer.body);
    let bad = web
        .submit(
            "/query",
            "/query",
            &[("choice", &choice), ("case_number", "113-兒保-9"), ("reason", "."), ("national_id", &id)],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("查詢事由須具體說明"));
    // An NHIA error's page, opened after the answer, still says which error and what to do.
    t.nhia.garbage_next(1);
    let r = web
        .submit(
            "/query",
            "/query",
            &[("choice", &choice), ("case_number", "113-兒保-10"), ("reason", REASON), ("national_id", &id)],
        )
        .await;
    let at = r.header("location").unwrap().to_owned();
    assert!(at.starts_with("/queries/"), "{at}");
    let page = web.get(&at).await;
    assert!(page.body.contains("健保署回傳的資料無法辨識") && page.body.contains("通知系統管理者"), "{}", page.body);
    let history = web.get("/history").await;
    assert!(history.body.contains("113-兒保-9") && history.body.contains("拒絕查詢"));
    // Someone without the user role sees no options.
    let mut chief = t.browser_as("soc.chief").await;
    assert!(chief.get("/query").await.body.contains("no-options"));
    let _ = PASSWORD;
}

#[tokio::test]
async fn r_log_1_the_query_log_is_searched_within_the_branch_and_every_search_is_recorded() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let (p8, ins) = ids(&t, 8, "INS01").await;
    let (p3, hins) = ids(&t, 3, "INS01").await;
    let mut soc = t.api_as("soc.user").await;
    soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-1", REASON, &id)).await;
    soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-2", REASON, &id)).await;
    let mut hlt = t.api_as("nt.user").await;
    let r = hlt.post_json("/api/v1/queries", &body(p3, hins, "113-長者-1", "長者健康檢查名冊核對投保狀態", &id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let count = |v: &Value| v.as_array().unwrap().len();
    let mut reviewer = t.api_as("soc.reviewer").await;
    let log = reviewer.get("/api/v1/query-log").await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert_eq!(count(&log.json()), 2, "only the social department's queries");
    assert!(!log.body.contains(&id), "subjects are masked");
    // A refused query is in its agency's log too.
    soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-3", ".", &id)).await;
    let refused = reviewer.get("/api/v1/query-log").await.json();
    assert_eq!(count(&refused), 3);
    assert_eq!(refused[0]["outcome"], "refused");
    let mut chief = t.api_as("hlt.chief").await;
    let log = chief.get("/api/v1/query-log").await.json();
    assert_eq!(count(&log), 1, "the health bureau sees its health station's query");
    assert_eq!(log[0]["username"], "nt.user");
    let mut plan = t.api_as("plan.admin").await;
    assert_eq!(count(&plan.get("/api/v1/query-log").await.json()), 4);
    assert_eq!(count(&plan.get("/api/v1/query-log?case_number=%E9%95%B7%E8%80%85").await.json()), 1);
    assert_eq!(count(&plan.get("/api/v1/query-log?username=soc.user").await.json()), 3);
    assert_eq!(plan.get("/api/v1/query-log?from=115/12/01&to=115/11/01").await.status, 422);
    let far = plan.get("/api/v1/query-log?from=262142-12-01&to=262142-12-31").await;
    assert_eq!(far.status, 422, "a year past any calendar is a bad date, not a dropped connection: {}", far.body);
    assert_eq!(count(&plan.get("/api/v1/query-log?from=115/10/01&to=115/10/31").await.json()), 0);
    assert_eq!(soc.get("/api/v1/query-log").await.status, 403, "a plain user may not");
    let mut other = t.api_as("tax.reviewer").await;
    let soc_agency = t.node("SOC").await;
    assert_eq!(other.get(&format!("/api/v1/query-log?agency_id={soc_agency}")).await.status, 403);
    let reads = t.app.recent_events(100).await.unwrap().into_iter().filter(|e| e.event == "ledger_read").count();
    // Seven searches read the log; the refused and the malformed ones read nothing.
    assert_eq!(reads, 7, "every search was recorded");
    let mut web = t.browser_as("soc.reviewer").await;
    let page = web.get("/querylog").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("113-兒保-1") && !page.body.contains("113-長者-1"));
    // The agency filter offers the agencies within reach: the reviewer's own; county-wide, all.
    let option = |id: i64| format!("<option value=\"{id}\"");
    let tax_agency = t.node("TAX").await;
    assert!(page.body.contains(&option(soc_agency)) && !page.body.contains(&option(tax_agency)), "{}", page.body);
    let county = t.browser_as("plan.admin").await.get("/querylog").await;
    assert!(county.body.contains(&option(soc_agency)) && county.body.contains(&option(tax_agency)));
    // A query whose outcome was never written (the gateway stopped after sending it) reads so,
    // in Chinese first, and is not put down to NHIA.
    let sent = entries(&t, EntryKind::Query).await.into_iter().find(|e| e.field("case_number") == Some("113-兒保-1"));
    let mut fields: Vec<(String, String)> = sent.unwrap().fields().to_vec();
    for (k, v) in &mut fields {
        if k == "case_number" {
            *v = "113-兒保-中斷".into();
        }
    }
    let draft = nhiguard_app::ledger::Draft {
        kind: EntryKind::Query,
        actor: "soc.user".into(),
        at_micros: t.app.now().timestamp_micros(),
        fields,
    };
    t.app.append(draft).await.unwrap();
    let page = web.get("/querylog").await;
    let row = page.body.split("<tr").find(|r| r.contains("113-兒保-中斷")).expect("the query is listed").to_owned();
    assert!(row.contains("結果未記錄") && !row.contains("健保署"), "{row}");
    // The exports people read say so too, and why a query was refused, in Chinese.
    let csv = reviewer.get("/api/v1/query-log/export.csv").await.body;
    let line = csv.lines().find(|l| l.contains("113-兒保-中斷")).expect("exported").to_owned();
    assert!(line.contains("結果未記錄") && !line.contains("no outcome") && !line.contains("健保署"), "{line}");
    let refused = csv.lines().find(|l| l.contains("113-兒保-3")).expect("the refused query").to_owned();
    assert!(refused.contains("查詢事由有誤") && !refused.contains("invalid reason"), "{refused}");
}

#[tokio::test]
async fn r_log_2_the_query_log_exports_as_csv_ods_and_json_lines_with_proofs_and_each_export_is_recorded() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let (p8, ins) = ids(&t, 8, "INS01").await;
    let mut soc = t.api_as("soc.user").await;
    soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-31", REASON, &id)).await;
    soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-32", REASON, &id)).await;
    t.app.checkpoint_now().await.unwrap();
    let mut reviewer = t.api_as("soc.reviewer").await;
    let csv = reviewer.get("/api/v1/query-log/export.csv").await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.body.starts_with('\u{feff}') && csv.body.contains("案號") && csv.body.contains("113-兒保-31"));
    assert!(!csv.body.contains(&id), "subjects masked in exports too");
    let ods = reviewer.get("/api/v1/query-log/export.ods").await;
    assert_eq!(ods.header("content-type"), Some("application/vnd.oasis.opendocument.spreadsheet"));
    assert!(ods.body.starts_with("PK"));
    let jsonl = reviewer.get("/api/v1/query-log/export.jsonl").await;
    let lines: Vec<Value> = jsonl.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let checkpoint = lines.last().unwrap()["checkpoint"].as_str().unwrap().to_owned();
    let cp = nhiguard_ledger::SignedCheckpoint::parse(&checkpoint).unwrap();
    let queries: Vec<&Value> = lines.iter().filter(|l| l["seq"].is_u64()).collect();
    assert_eq!(queries.len(), 2);
    for q in queries {
        let leaf = nhiguard_ledger::Hash::from_hex(q["leaf_hash"].as_str().unwrap()).unwrap();
        let proof: Vec<_> = q["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| nhiguard_ledger::Hash::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        nhiguard_ledger::verify_inclusion(
            &leaf,
            q["seq"].as_u64().unwrap(),
            cp.checkpoint().size(),
            &proof,
            &cp.checkpoint().root(),
        )
        .expect("each exported query proves its place in the signed log");
    }
    assert_eq!(reviewer.get("/api/v1/query-log/export.xlsx").await.status, 404);
    assert_eq!(soc.get("/api/v1/query-log/export.csv").await.status, 403);
    let exports = t.app.db().ledger_recent(&["export"], 10).await.unwrap();
    assert_eq!(exports.len(), 3, "each export recorded");
}

#[tokio::test]
async fn r_log_2_when_the_database_is_lost_queries_are_refused_and_nothing_reaches_nhia() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    t.app.db().close().await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-9", REASON, &subject(&t))).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "NG-DB-DOWN");
    assert!(r.json()["error"]["reference"].is_string(), "a reference to quote, not the detail");
    assert!(!r.body.contains("pool"), "no internal detail shown");
    assert_eq!(t.nhia.requests_seen(), seen, "nothing was sent without its log entry");
    let h = t.client().get("/healthz").await;
    assert_eq!(h.status, 503);
}

/// The reference data a query is authorised against may be kept in memory, but never used stale: a
/// change made by another process sharing the database — here straight in the database, past
/// nhiguard entirely — refuses the very next query (R-PUR-3).
#[tokio::test]
async fn r_pur_3_a_linkage_ended_elsewhere_refuses_the_next_query() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let (p8, ins) = ids(&t, 8, "INS01").await;
    let mut soc = t.api_as("soc.user").await;
    assert_eq!(soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000001", REASON, &id)).await.status, 200);
    let mut raw = t.raw().await;
    let ended = sqlx::query("UPDATE linkages SET status = 'retired' WHERE purpose_id = $1 AND operation_id = $2")
        .bind(p8)
        .bind(ins)
        .execute(&mut raw)
        .await
        .unwrap();
    assert!(ended.rows_affected() > 0);
    let r = soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000002", REASON, &id)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // And back: restored elsewhere, allowed again at once.
    sqlx::query("UPDATE linkages SET status = 'active' WHERE purpose_id = $1 AND operation_id = $2")
        .bind(p8)
        .bind(ins)
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000003", REASON, &id)).await.status, 200);
}

/// The grants a query is checked against are read with the session on each request: one revoked —
/// here straight in the database — refuses the very next query on the same session, and one given
/// back allows it again at once (R-PUR-3).
#[tokio::test]
async fn r_pur_3_a_grant_revoked_refuses_the_next_query_on_the_same_session() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let (p8, ins) = ids(&t, 8, "INS01").await;
    let mut soc = t.api_as("soc.user").await;
    assert_eq!(soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000001", REASON, &id)).await.status, 200);
    let account: i64 = soc.get("/api/v1/me").await.json()["id"].as_i64().unwrap();
    let mut raw = t.raw().await;
    let revoked = sqlx::query("DELETE FROM grants WHERE account_id = $1 AND purpose_id = $2 AND operation_id = $3")
        .bind(account)
        .bind(p8)
        .bind(ins)
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
    let seen = t.nhia.requests_seen();
    let r = soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000002", REASON, &id)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("未獲授權"), "{}", r.body);
    assert_eq!(t.nhia.requests_seen(), seen, "nothing sent");
    sqlx::query("INSERT INTO grants (account_id, purpose_id, operation_id, granted_at) VALUES ($1, $2, $3, 0)")
        .bind(account)
        .bind(p8)
        .bind(ins)
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(soc.post_json("/api/v1/queries", &body(p8, ins, "113-兒保-000003", REASON, &id)).await.status, 200);
}

/// Every entry of the log is in it once — no two bodies alike but for their sequence number
/// (bytes 1–8 of the encoding, crates/ledger/FORMAT.md) — and the log verifies.
async fn assert_log_holds_each_entry_once(t: &TestApp) -> u64 {
    let rows = t.app.db().ledger_rows(0, 100_000).await.unwrap();
    let bodies: std::collections::BTreeSet<_> = rows.iter().map(|r| r.body[9..].to_vec()).collect();
    assert_eq!(bodies.len(), rows.len(), "an entry is in the log twice");
    assert!(t.app.verify_ledger(Vec::new()).await.unwrap().report.is_ok());
    rows.len() as u64
}

/// R-LOG-1, R-LOG-2 (PostgreSQL, where the ledger's commits cross a network): the connection breaks
/// as the query's entry and then its outcome commit, both made durable with only the answers lost.
/// The query is answered, its result reopens for its owner, and each entry is in the log once. When
/// even reading the log to tell fails, the query is refused before anything reaches NHIA, and its
/// entry (which did commit) is still not written twice.
#[tokio::test]
async fn r_log_2_a_lost_commit_answer_neither_loses_nor_doubles_a_query() {
    let t = TestApp::demo().await;
    if !t.is_postgres() {
        return; // SQLite commits inside the process: there is no answer to lose.
    }
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut c = t.api_as("soc.user").await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000501", REASON, &subject(&t))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = assert_log_holds_each_entry_once(&t).await;

    t.app.db().inject(nhiguard_store::Fault::CommitAnswerLost);
    t.app.db().inject(nhiguard_store::Fault::CommitAnswerLost);
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000502", REASON, &subject(&t))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.app.db().faults_armed(), 0, "both answers were lost");
    let a = r.json();
    assert_eq!(a["outcome"], "answered");
    assert_eq!(assert_log_holds_each_entry_once(&t).await, before + 2, "the query and its outcome, once each");
    let rid = a["result_id"].as_i64().unwrap();
    let again = c.get(&format!("/api/v1/results/{rid}")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["records"][0]["name"], a["records"][0]["name"]);
    let before = assert_log_holds_each_entry_once(&t).await;

    t.app.db().inject(nhiguard_store::Fault::CommitAnswerLostUnchecked);
    let seen = t.nhia.requests_seen();
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000503", REASON, &subject(&t))).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(t.app.db().faults_armed(), 0, "the answer was lost and the check failed");
    assert_eq!(t.nhia.requests_seen(), seen, "nothing reached NHIA");
    assert_eq!(assert_log_holds_each_entry_once(&t).await, before + 1, "the refused query's entry, once");
}

/// NHIA answers what it answers; only the fields the operation was approved for are kept (R-PUR-3).
#[tokio::test]
async fn r_pur_3_fields_outside_the_operation_are_neither_shown_nor_kept() {
    let t = TestApp::demo().await;
    let id = subject(&t);
    let (p, o) = ids(&t, 8, "INS01").await;
    // The approved operation, narrowed where nhiguard does not look: the sandbox still sends the unit.
    let mut raw = t.raw().await;
    sqlx::query("UPDATE operations SET results = 'name,insured_status' WHERE id = $1")
        .bind(o)
        .execute(&mut raw)
        .await
        .unwrap();
    let mut c = t.api_as("soc.user").await;
    let r = c.post_json("/api/v1/queries", &body(p, o, "113-兒保-000003", REASON, &id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    let fields: Vec<&String> = a["records"][0].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["insured_status", "name"], "{a}");
    let kept = c.get(&format!("/api/v1/results/{}", a["result_id"])).await.json();
    assert!(kept["records"][0].get("insured_unit").is_none(), "{kept}");
}
