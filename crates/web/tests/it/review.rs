//! The monthly review (R-REV-1 … R-REV-4): reviews prepared after the month closes, a sample
//! nobody can choose that anyone can recompute, the reviewer rules, findings and signatures.

use serde_json::{Value, json};

use crate::support::TestApp;

const REASON: &str = "兒少保護個案家訪前確認投保單位以聯繫家屬";

async fn ids(t: &TestApp, purpose: i64, op: &str) -> (i64, i64) {
    let p = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == purpose).unwrap().id;
    let o = t.app.db().operations().await.unwrap().into_iter().find(|o| o.code == op).unwrap().id;
    (p, o)
}

/// November with `n` queries by soc.user (and one by soc.reviewer when asked), then December 2nd.
pub(crate) async fn november(n: usize, reviewer_queries: bool) -> TestApp {
    november_with(n, reviewer_queries, |_| {}).await
}

/// As [`november`], with settings changed from the defaults.
pub(crate) async fn november_with(
    n: usize,
    reviewer_queries: bool,
    adjust: impl FnOnce(&mut nhiguard_app::settings::Settings),
) -> TestApp {
    let t = TestApp::with_settings(adjust).await;
    t.app.fill_demo().await.unwrap();
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = t.app.sandbox_examples(1).remove(0);
    let mut soc = t.api_as("soc.user").await;
    for i in 0..n {
        let body = json!({"purpose_id": p, "operation_id": o, "case_number": format!("113-兒保-{i}"), "reason": REASON, "national_id": id});
        assert_eq!(soc.post_json("/api/v1/queries", &body).await.status, 200);
    }
    if reviewer_queries {
        let mut r = t.api_as("soc.reviewer").await;
        let body = json!({"purpose_id": p, "operation_id": o, "case_number": "113-兒保-R", "reason": REASON, "national_id": id});
        assert_eq!(r.post_json("/api/v1/queries", &body).await.status, 200);
    }
    t.clock.advance(chrono::Duration::days(5));
    t
}

pub(crate) async fn soc_review(t: &TestApp) -> Value {
    let mut plan = t.api_as("plan.admin").await;
    let r = plan.post_json("/api/v1/reviews/prepare", &json!({"year": 2026, "month": 11})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let soc = t.node("SOC").await;
    let mut chief = t.api_as("soc.chief").await;
    let list = chief.get("/api/v1/reviews").await.json();
    let id = list.as_array().unwrap().iter().find(|r| r["agency_id"] == soc).unwrap()["id"].as_i64().unwrap();
    chief.get(&format!("/api/v1/reviews/{id}")).await.json()
}

#[tokio::test]
async fn r_rev_2_reviews_are_prepared_after_the_month_closes_with_a_sample_anyone_can_recompute() {
    let t = november(12, false).await;
    let mut plan = t.api_as("plan.admin").await;
    assert_eq!(
        plan.post_json("/api/v1/reviews/prepare", &json!({"year": 2026, "month": 12})).await.status,
        409,
        "December is still open"
    );
    let review = soc_review(&t).await;
    assert_eq!(review["queries"], 12);
    assert_eq!(review["sample"].as_array().unwrap().len(), 10, "max(10, ⌈3 % of 12⌉) = 10");
    assert_eq!(review["sample_matches"], true);
    // One user looked the same person up twelve times: flagged, with a one-line reason.
    let flags = review["flags"].as_array().unwrap();
    let repeated: Vec<&Value> = flags.iter().filter(|f| f["kind"] == "repeated_subject").collect();
    assert_eq!(repeated.len(), 12, "{flags:?}");
    assert!(!repeated[0]["explanation_zh"].as_str().unwrap().is_empty());
    // Twice is once.
    assert_eq!(
        plan.post_json("/api/v1/reviews/prepare", &json!({"year": 2026, "month": 11})).await.json()["created"],
        0
    );
    // The sample follows from the signed checkpoint, the agency and the month — and changes with them.
    let cp = nhiguard_ledger::SignedCheckpoint::parse(review["checkpoint"].as_str().unwrap()).unwrap();
    let rows = t.app.month_queries(t.node("SOC").await, 2026, 11).await.unwrap();
    let population: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    let (seed, sample) = nhiguard_app::review::draw_from(&cp, "SOC", 2026, 11, &population, &Default::default());
    assert_eq!(seed.to_hex(), review["seed"].as_str().unwrap());
    let stored: Vec<u64> = review["sample"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(sample, stored);
    let (other_seed, _) = nhiguard_app::review::draw_from(&cp, "SOC", 2026, 10, &population, &Default::default());
    assert_ne!(other_seed, seed);
    t.app.checkpoint_now().await.unwrap();
    let later =
        nhiguard_ledger::SignedCheckpoint::parse(&t.app.db().latest_checkpoint().await.unwrap().unwrap().text).unwrap();
    assert_ne!(
        nhiguard_app::review::draw_from(&later, "SOC", 2026, 11, &population, &Default::default()).0,
        seed,
        "another checkpoint, another draw"
    );
    // An agency without queries: a review that says so, with no sample.
    let mut civ = t.api_as("civ.chief").await;
    let list = civ.get("/api/v1/reviews").await.json();
    let civ_review = &list[0];
    assert_eq!((civ_review["queries"].as_u64(), civ_review["sample"].as_array().unwrap().len()), (Some(0), 0));
    // The page recomputes the draw from the population kept at preparation; the full check re-reads
    // the month from the log and lists the flags.
    let mut chief_web = t.browser_as("soc.chief").await;
    let quick = chief_web.get(&format!("/reviews/{}", review["id"])).await;
    assert!(quick.body.contains("與已簽章檢查點重新計算之樣本相符") && quick.body.contains("recompute-from-log"));
    assert!(quick.body.contains("flags-not-computed") && quick.body.contains("113-兒保-"), "the sample as kept");
    let full = chief_web.get(&format!("/reviews/{}?full=1", review["id"])).await;
    assert!(
        full.body.contains("與已簽章檢查點重新計算之樣本相符") && full.body.contains(r#"id="flags""#),
        "{}",
        full.body
    );
    // Each showing of sampled queries is a reading of the log, recorded.
    let target = format!("review {}", review["id"]);
    let reads: Vec<String> = t
        .app
        .recent_events(30)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "ledger_read" && e.target == target && e.username == "soc.chief")
        .map(|e| e.detail)
        .collect();
    assert!(
        reads.contains(&"review".to_owned()) && reads.contains(&"review read from the log".to_owned()),
        "{reads:?}"
    );
    let mut web = t.browser_as("civ.chief").await;
    let sheet = web.get(&format!("/reviews/{}/sheet", civ_review["id"])).await;
    assert!(sheet.body.contains("本月無查詢紀錄"), "{}", sheet.body);
}

#[tokio::test]
async fn r_rev_3_only_an_eligible_reviewer_of_the_agency_is_assigned() {
    let t = november(3, true).await;
    let review = soc_review(&t).await;
    let id = review["id"].as_i64().unwrap();
    let mut chief = t.api_as("soc.chief").await;
    let assign = |u: &str| json!({"username": u});
    let path = format!("/api/v1/reviews/{id}/reviewer");
    for (who, why) in [("soc.user", "rank"), ("tax.reviewer", "agency"), ("soc.reviewer", "own queries")] {
        let r = chief.post_json(&path, &assign(who)).await;
        assert_eq!(r.status, 422, "{who} ({why}): {}", r.body);
        assert_eq!(r.json()["error"]["field"], "reviewer");
    }
    // A plain user may not assign at all; nor the planning department, which reads every review
    // but is no supervisor of this agency (R-REV-3: its 權責主管 assigns).
    let mut user = t.api_as("soc.user").await;
    assert_eq!(user.post_json(&path, &assign("soc.reviewer")).await.status, 403);
    let mut planning = t.api_as("plan.admin").await;
    assert_eq!(planning.post_json(&path, &assign("soc.reviewer")).await.status, 403);
    let page = t.browser_as("plan.admin").await.get(&format!("/reviews/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&format!("/reviews/{id}/reviewer")), "no form offered that would be refused");
}

#[tokio::test]
async fn r_rev_4_every_sampled_entry_gets_a_finding_before_the_reviewer_and_then_the_head_sign() {
    let t = november(3, false).await;
    let review = soc_review(&t).await;
    let id = review["id"].as_i64().unwrap();
    let sample: Vec<u64> = review["sample"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(sample.len(), 3, "all of them when N ≤ 10");
    let mut chief = t.api_as("soc.chief").await;
    assert_eq!(
        chief.post_json(&format!("/api/v1/reviews/{id}/reviewer"), &json!({"username": "soc.reviewer"})).await.status,
        204
    );
    let mut reviewer = t.api_as("soc.reviewer").await;
    let finding = |f: &str, note: &str| json!({"finding": f, "note": note});
    // Only the assigned reviewer records findings, only on sampled entries.
    assert_eq!(
        chief.put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[0]), &finding("normal", "")).await.status,
        403
    );
    assert_eq!(
        reviewer.put_json(&format!("/api/v1/reviews/{id}/findings/999999"), &finding("normal", "")).await.status,
        422
    );
    assert_eq!(
        reviewer.put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[0]), &finding("normal", "")).await.status,
        204
    );
    assert_eq!(
        reviewer.put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[1]), &finding("normal", "")).await.status,
        204
    );
    let r = reviewer.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await;
    assert_eq!(r.status, 422, "an entry lacks a finding: {}", r.body);
    let r =
        reviewer.put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[2]), &finding("anomalous", "短")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")));
    let note = "同一案號一日內查詢三次，事由相同，請說明";
    assert_eq!(
        reviewer
            .put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[2]), &finding("anomalous", note))
            .await
            .status,
        204
    );
    assert_eq!(reviewer.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await.status, 204);
    assert_eq!(
        reviewer.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await.status,
        403,
        "not the head's signature too"
    );
    assert_eq!(
        reviewer
            .put_json(&format!("/api/v1/reviews/{id}/findings/{}", sample[0]), &finding("anomalous", note))
            .await
            .status,
        409
    );
    // Signed by the reviewer: the unit head is reminded on the home page.
    let mut chief_web = t.browser_as("soc.chief").await;
    assert!(chief_web.get("/").await.body.contains("reminder-review-approval"), "the head is reminded");
    // The head is a supervisor of this agency: a planning admin who is also a supervisor (of its
    // own department) reaches the review as planning admin, but does not approve it.
    let mut raw = t.raw().await;
    sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, 'supervisor')")
        .bind(t.account_id("plan.admin").await)
        .execute(&mut raw)
        .await
        .unwrap();
    let mut planning = t.api_as("plan.admin").await;
    assert_eq!(planning.get(&format!("/api/v1/reviews/{id}")).await.status, 200, "it may read it");
    assert_eq!(planning.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await.status, 403);
    assert_eq!(chief.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await.status, 204);
    let done = chief.get(&format!("/api/v1/reviews/{id}")).await.json();
    assert_eq!(done["state"], "approved");
    assert!(!chief_web.get("/").await.body.contains("reminder-review-approval"), "approved: no longer");
    assert_eq!(
        chief.post_json(&format!("/api/v1/reviews/{id}/sign"), &json!({})).await.status,
        422,
        "a signed review is not reopened"
    );
    let steps: Vec<String> = t
        .app
        .db()
        .ledger_recent(&["review_action"], 50)
        .await
        .unwrap()
        .iter()
        .map(|r| nhiguard_ledger::Entry::decode(&r.body).unwrap().field("event").unwrap().to_owned())
        .collect();
    for s in ["review_prepared", "reviewer_assigned", "finding", "reviewer_signed", "head_approved"] {
        assert!(steps.iter().any(|x| x == s), "{s} recorded: {steps:?}");
    }
    // The printable sheet carries the checkpoint it was built from.
    let mut web = t.browser_as("soc.chief").await;
    let sheet = web.get(&format!("/reviews/{id}/sheet")).await;
    assert!(
        sheet.body.contains("113-兒保-0")
            && sheet.body.contains(&format!("大小 {}", done["checkpoint"].as_str().unwrap().lines().nth(1).unwrap()))
    );
    assert!(sheet.body.contains("A4") || sheet.body.contains("sheet.css"));
    // R-REV-4: the record kept shows which entries were drawn, what was found, and who signed when.
    assert_eq!(sheet.body.matches("class=\"sampled\"").count(), 3, "{}", sheet.body);
    assert!(sheet.body.contains("異常：同一案號一日內查詢三次"), "{}", sheet.body);
    let signed =
        |id: &str| sheet.body.split(&format!("id=\"{id}\">")).nth(1).unwrap_or("").split('<').next().unwrap_or("");
    assert!(
        signed("reviewer-signed").contains("soc.reviewer") && signed("reviewer-signed").contains("民國"),
        "{}",
        sheet.body
    );
    assert!(signed("head-signed").contains("soc.chief"), "{}", sheet.body);
    // The same sheet as ODS (stored, so its XML is readable here): the queries and the checkpoint.
    let ods = web.get(&format!("/reviews/{id}/sheet.ods")).await;
    assert_eq!(ods.header("content-type"), Some("application/vnd.oasis.opendocument.spreadsheet"));
    assert!(ods.header("content-disposition").unwrap().contains("nhiguard-sheet-SOC-2026-11.ods"));
    let xml = ods.document_content();
    assert!(xml.contains("113-兒保-0") && xml.contains("檢查點根雜湊") && xml.contains("單位主管簽章"));
    assert!(xml.contains("抽查") && xml.contains("異常：") && xml.contains("soc.chief"), "sign-offs and findings too");
    assert!(xml.contains(done["checkpoint"].as_str().unwrap().lines().next().unwrap()), "the signed checkpoint");
    let mut outsider = t.browser_as("tax.reviewer").await;
    assert_eq!(outsider.get(&format!("/reviews/{id}/sheet.ods")).await.status, 403);
    let page = web.get(&format!("/reviews/{id}")).await;
    assert!(page.body.contains("與已簽章檢查點重新計算之樣本相符"));
}

#[tokio::test]
async fn the_demo_has_past_months_with_one_review_done_and_others_under_way() {
    let t = TestApp::demo().await;
    t.app.fill_demo_history().await.unwrap();
    t.app.fill_demo_history().await.unwrap();
    let mut plan = t.api_as("plan.admin").await;
    let reviews = plan.get("/api/v1/reviews").await.json();
    let states: Vec<&str> = reviews.as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert!(states.contains(&"approved") && states.contains(&"reviewed") && states.contains(&"open"), "{states:?}");
    assert!(reviews.as_array().unwrap().iter().any(|r| r["queries"].as_u64().unwrap() > 0));
    // R-REV-5: the older month's anomaly is under investigation, the ethics unit's part to come.
    let mut ethics = t.api_as("eth.officer").await;
    let open = ethics.get("/api/v1/investigations").await.json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let one = ethics.get(&format!("/api/v1/investigations/{}", open[0]["id"])).await.json();
    assert_eq!((one["state"].as_str(), one["stepped"].clone()), (Some("open"), serde_json::json!(["business"])));
    assert!(t.app.verify_ledger(Vec::new()).await.unwrap().report.is_ok());
}

#[tokio::test]
async fn r_rev_2_the_sample_rate_and_minimum_are_settings_kept_with_each_review() {
    let t = november_with(15, false, |s| {
        s.review_sample_minimum = 12;
        s.risk.disabled = vec![nhiguard_domain::risk::FlagKind::RepeatedSubject];
    })
    .await;
    let review = soc_review(&t).await;
    assert_eq!(review["sample"].as_array().unwrap().len(), 12, "max(12, ⌈3 % of 15⌉) = 12");
    assert_eq!(review["sample_matches"], true, "recomputed with the numbers it was drawn with");
    let flags = review["flags"].as_array().unwrap();
    assert!(!flags.iter().any(|f| f["kind"] == "repeated_subject"), "switched off: {flags:?}");
    let stored = t.app.db().review(review["id"].as_i64().unwrap()).await.unwrap();
    assert_eq!((stored.settings.rate_percent, stored.settings.minimum), (3, 12));
}

#[tokio::test]
async fn the_dashboard_counts_this_months_queries_and_charts_them_for_those_who_may_read_the_log() {
    let t = november(4, false).await;
    // December: two more queries by soc.user.
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = t.app.sandbox_examples(1).remove(0);
    let mut soc = t.api_as("soc.user").await;
    for i in 0..2 {
        let body = json!({"purpose_id": p, "operation_id": o, "case_number": format!("113-兒保-D{i}"), "reason": REASON, "national_id": id});
        assert_eq!(soc.post_json("/api/v1/queries", &body).await.status, 200);
    }
    let mut chief = t.browser_as("soc.chief").await;
    let page = chief.get("/dashboard").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<strong id="total-queries">2</strong>"#), "{}", page.body);
    assert!(page.body.contains(r#"id="chart-purposes""#) && page.body.contains("<rect class=\"bar\""));
    assert!(page.body.contains("INS01") && page.body.contains("已回覆 2"));
    assert!(!page.body.contains(&id), "counts only, never a subject");
    // Another agency's, by asking for it: refused.
    let tax = t.node("TAX").await;
    assert_eq!(chief.get(&format!("/dashboard?agency={tax}")).await.status, 403);
    // The planning department picks any agency.
    let mut plan = t.browser_as("plan.admin").await;
    let soc_id = t.node("SOC").await;
    assert!(plan.get(&format!("/dashboard?agency={soc_id}")).await.body.contains(r#"id="dashboard-agency""#));
    let mut user = t.browser_as("soc.user").await;
    assert_eq!(user.get("/dashboard").await.status, 403, "a plain user reads no log");
}

#[tokio::test]
async fn the_office_calendar_is_kept_by_the_planning_department_and_flags_holiday_queries() {
    let t = TestApp::demo().await;
    let mut web = t.browser_as("soc.user").await;
    assert!(web.get("/calendar").await.body.contains("開國紀念日"), "the demo's fixed-date holidays");
    let mut plan = t.api_as("plan.admin").await;
    let r = plan
        .put_json("/api/v1/calendar/2026", &json!({"text": "2026-11-26 放假 測試假日\n2026-11-31 放假 不存在"}))
        .await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("calendar")));
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().starts_with("第 2 行"), "{}", r.body);
    let mut other = t.api_as("soc.admin").await;
    assert_eq!(other.put_json("/api/v1/calendar/2026", &json!({"text": ""})).await.status, 403);
    // The test clock stands on Friday 27 November 2026, 10:00 in Taipei: make it a holiday.
    let r = plan.put_json("/api/v1/calendar/2026", &json!({"text": "2026-11-27 放假 測試假日"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (p, o) = ids(&t, 8, "INS01").await;
    let id = t.app.sandbox_examples(1).remove(0);
    let mut soc = t.api_as("soc.user").await;
    let body =
        json!({"purpose_id": p, "operation_id": o, "case_number": "113-兒保-H", "reason": REASON, "national_id": id});
    assert_eq!(soc.post_json("/api/v1/queries", &body).await.status, 200);
    t.clock.advance(chrono::Duration::days(5));
    let review = soc_review(&t).await;
    let flags = review["flags"].as_array().unwrap();
    assert!(
        flags.iter().any(|f| f["kind"] == "off_hours" && f["explanation_zh"].as_str().unwrap().contains("假日")),
        "{flags:?}"
    );
    assert!(!web.get("/calendar").await.body.contains("開國紀念日"), "the year was replaced whole");
}

#[tokio::test]
async fn a_subject_sharing_the_users_surname_or_on_the_staff_roll_is_flagged_without_keeping_the_name() {
    let t = TestApp::demo().await;
    let (p, o) = ids(&t, 8, "INS01").await;
    let mut soc = t.api_as("soc.reviewer").await; // 黃國華
    let mut answers = Vec::new();
    for (i, id) in t.app.sandbox_examples(60).into_iter().enumerate() {
        let body = json!({"purpose_id": p, "operation_id": o, "case_number": format!("113-兒保-S{i}"), "reason": REASON, "national_id": id});
        let a = soc.post_json("/api/v1/queries", &body).await.json();
        let name = a["records"][0]["name"].as_str().map(str::to_owned);
        answers.push((a["query_seq"].as_u64().unwrap(), name, id));
    }
    let outcomes: Vec<nhiguard_ledger::Entry> = t
        .app
        .db()
        .ledger_rows(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| nhiguard_ledger::Entry::decode(&r.body).unwrap())
        .filter(|e| e.kind() == nhiguard_ledger::EntryKind::QueryOutcome)
        .collect();
    let marked = |seq: u64, field: &str| {
        outcomes.iter().any(|e| e.field("query_seq") == Some(&seq.to_string()) && e.field(field) == Some("1"))
    };
    let same: Vec<&(u64, Option<String>, String)> =
        answers.iter().filter(|(_, n, _)| n.as_deref().is_some_and(|n| n.starts_with('黃'))).collect();
    assert!(!same.is_empty(), "the sandbox has a 黃 among 60 people: {answers:?}");
    for (seq, name, _) in &answers {
        assert_eq!(marked(*seq, "same_surname"), name.as_deref().is_some_and(|n| n.starts_with('黃')), "{name:?}");
    }
    assert!(
        !outcomes.iter().any(|e| {
            answers.iter().any(|(_, n, _)| n.as_deref().is_some_and(|n| e.fields().iter().any(|(_, v)| v.contains(n))))
        }),
        "no name in the log"
    );
    // Someone on the staff roll: once the roll is re-read, their lookup is marked.
    let (_, name, id) = answers.iter().find(|(_, n, _)| n.is_some()).cloned().unwrap();
    let mut admin = t.api_as("soc.admin").await;
    let soc_node = t.node("SOC").await;
    let r = admin
        .post_json(
            &format!("/api/v1/org/{soc_node}/people"),
            &json!({"person_id": "NT-0190", "name": name.clone().unwrap(), "rank": "staff"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    t.clock.advance(chrono::Duration::minutes(6));
    let mut soc = t.api_as("soc.user").await;
    let body =
        json!({"purpose_id": p, "operation_id": o, "case_number": "113-兒保-E", "reason": REASON, "national_id": id});
    let again = soc.post_json("/api/v1/queries", &body).await.json()["query_seq"].as_u64().unwrap();
    t.clock.advance(chrono::Duration::days(5));
    let review = soc_review(&t).await;
    let kinds: Vec<(&str, u64)> = review["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["seq"].as_u64().unwrap()))
        .collect();
    assert!(kinds.contains(&("subject_is_employee", again)), "{kinds:?}");
    assert!(kinds.iter().any(|(k, s)| *k == "shared_surname" && *s == same[0].0), "{kinds:?}");
}
