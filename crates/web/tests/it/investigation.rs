//! Investigations of anomalies (R-REV-5): an anomalous finding opens one; the business, ethics and
//! IT units are named and each records its part; it ends in an audit record; only the people named
//! see it; every step is a ledger entry.

use serde_json::{Value, json};

use crate::review::{november, soc_review};
use crate::support::TestApp;

/// November's SOC review with soc.reviewer assigned and the first sampled entry found anomalous;
/// returns the review, the sample and the investigation's id.
async fn anomaly(t: &TestApp) -> (i64, Vec<u64>, i64) {
    let review = soc_review(t).await;
    let id = review["id"].as_i64().unwrap();
    let sample: Vec<u64> = review["sample"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let mut chief = t.api_as("soc.chief").await;
    let r = chief.post_json(&format!("/api/v1/reviews/{id}/reviewer"), &json!({"username": "soc.reviewer"})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut reviewer = t.api_as("soc.reviewer").await;
    let note = "同一對象一日內重複查詢，事由未載明個案關聯";
    let r = reviewer
        .put_json(
            &format!("/api/v1/reviews/{id}/findings/{}", sample[0]),
            &json!({"finding": "anomalous", "note": note}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let list = reviewer.get("/api/v1/investigations").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "the anomaly opened one: {list}");
    assert_eq!((list[0]["seq"].as_u64(), list[0]["state"].as_str()), (Some(sample[0]), Some("open")));
    (id, sample, list[0]["id"].as_i64().unwrap())
}

fn events(t: &TestApp, rows: &[nhiguard_store::LedgerRow]) -> Vec<String> {
    let _ = t;
    rows.iter()
        .map(|r| nhiguard_ledger::Entry::decode(&r.body).unwrap().field("event").unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn r_rev_5_an_anomaly_opens_an_investigation_that_the_three_units_close_with_an_audit_record() {
    let t = november(3, false).await;
    let (review, sample, inv) = anomaly(&t).await;
    let path = format!("/api/v1/investigations/{inv}");
    let mut reviewer = t.api_as("soc.reviewer").await;

    // The finding stands: the investigation decides.
    let r = reviewer
        .put_json(&format!("/api/v1/reviews/{review}/findings/{}", sample[0]), &json!({"finding": "normal"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Nobody outside it sees it, and the attempt is recorded.
    let mut ethics = t.api_as("eth.officer").await;
    assert_eq!(ethics.get(&path).await.status, 403);
    let refused = t.app.db().ledger_recent(&["account_action"], 5).await.unwrap();
    assert!(events(&t, &refused).contains(&"forbidden".to_owned()));

    // Members: one per unit, each the right kind of person.
    let members = |b: &str, e: &str, i: &str| json!({"business": b, "ethics": e, "it": i});
    let mp = format!("{path}/members");
    for (body, field, why) in [
        (members("tax.user", "eth.officer", "plan.admin"), "business", "another agency"),
        (members("soc.user", "eth.officer", "plan.admin"), "business", "made the query under investigation"),
        (members("soc.chief", "plan.auditor", "plan.admin"), "ethics", "not an ethics officer"),
        (members("soc.chief", "eth.officer", "tax.user"), "it", "not a system admin"),
        (members("soc.chief", "eth.officer", "soc.chief"), "it", "one person twice"),
        (members("soc.chief", "eth.officer", "nobody.here"), "it", "no such account"),
    ] {
        let r = reviewer.put_json(&mp, &body).await;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some(field)), "{why}: {}", r.body);
    }
    let mut chief = t.api_as("soc.chief").await;
    assert_eq!(chief.put_json(&mp, &members("soc.chief", "eth.officer", "plan.admin")).await.status, 403);
    assert_eq!(reviewer.put_json(&mp, &members("soc.chief", "eth.officer", "plan.admin")).await.status, 204);
    assert_eq!(ethics.get(&path).await.status, 200, "named now");
    assert_eq!(
        chief.put_json(&mp, &members("soc.chief", "eth.officer", "hlt.admin")).await.status,
        403,
        "a member does not choose who checks them"
    );
    let mut outsider = t.api_as("tax.admin").await;
    assert_eq!(outsider.get(&path).await.status, 403);

    // The audit record needs all three units' parts and a real conclusion.
    let conclude = |disable: bool| json!({"conclusion": "經查該查詢無個案依據，屬不當查詢，已告誡承辦人", "actions": "移請人事單位議處", "disable_account": disable});
    let r = chief.post_json(&format!("{path}/conclude"), &conclude(true)).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("conclusion")), "{}", r.body);
    let step = |n: &str| json!({"note": n});
    assert_eq!(reviewer.post_json(&format!("{path}/steps"), &step("查核人員非參與單位，不能記錄")).await.status, 403);
    let r = chief.post_json(&format!("{path}/steps"), &step("短")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")));
    let mut it = t.api_as("plan.admin").await;
    for (who, note) in [
        (&mut chief, "訪談承辦人陳志明，查詢時無對應個案卷宗"),
        (&mut ethics, "政風處調閱查詢日誌，確認無其他異常查詢"),
        (&mut it, "資訊科確認登入來源為辦公室電腦，無帳號遭盜用跡象"),
    ] {
        let r = who.post_json(&format!("{path}/steps"), &step(note)).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    // Evidence: an entry of this agency's log, not just any number.
    let r = ethics.post_json(&format!("{path}/evidence"), &json!({"seq": 1, "note": "第一筆日誌不是查詢紀錄"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("seq")), "{}", r.body);
    let far = json!({"seq": 9_223_372_036_854_775_808u64, "note": "此序號超出整個查詢日誌之範圍"});
    let r = ethics.post_json(&format!("{path}/evidence"), &far).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("seq")), "{}", r.body);
    // A member's own query as evidence: that member would sit on an investigation of themselves.
    let fields = [
        ("account_id", t.account_id("soc.chief").await.to_string()),
        ("agency_id", t.node("SOC").await.to_string()),
        ("case_number", "113-兒保-主管".to_owned()),
        ("conditions", "national_id=A123456789".to_owned()),
        ("outcome", "sent".to_owned()),
    ];
    let own = t
        .app
        .append(nhiguard_app::ledger::Draft {
            kind: nhiguard_ledger::EntryKind::Query,
            actor: "soc.chief".into(),
            at_micros: t.app.now().timestamp_micros(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
        .await
        .unwrap();
    let r =
        ethics.post_json(&format!("{path}/evidence"), &json!({"seq": own, "note": "業務單位主管亦曾查詢同一人"})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("soc.chief"), "names the member: {}", r.body);
    let r = ethics
        .post_json(&format!("{path}/evidence"), &json!({"seq": sample[1], "note": "同一承辦人同日之另一筆查詢"}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(ethics.post_json(&format!("{path}/conclude"), &conclude(true)).await.status, 403, "business only");
    let r = chief.post_json(&format!("{path}/conclude"), &conclude(true)).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Closed for good; the account that made the query is disabled in the same step.
    let done: Value = chief.get(&path).await.json();
    assert_eq!(done["state"], "concluded");
    assert_eq!(done["stepped"], json!(["business", "ethics", "it"]));
    assert_eq!(done["entries"], json!([sample[0], sample[1]]));
    let soc_user = t.account_id("soc.user").await;
    assert_eq!(done["disabled_account_id"], soc_user);
    assert_eq!(t.app.db().account(soc_user).await.unwrap().status, "disabled");
    assert_eq!(chief.post_json(&format!("{path}/steps"), &step("結案後補充說明不應被接受")).await.status, 409);
    assert_eq!(chief.post_json(&format!("{path}/conclude"), &conclude(false)).await.status, 409);
    assert_eq!(reviewer.put_json(&mp, &members("soc.chief", "eth.officer", "plan.admin")).await.status, 409);

    // Every step is a ledger entry, and the ledger still verifies.
    let audit = events(&t, &t.app.db().ledger_recent(&["audit_action"], 50).await.unwrap());
    for e in [
        "investigation_opened",
        "investigation_members",
        "investigation_step",
        "investigation_evidence",
        "investigation_concluded",
    ] {
        assert!(audit.contains(&e.to_owned()), "{e}: {audit:?}");
    }
    let accounts = events(&t, &t.app.db().ledger_recent(&["account_action"], 50).await.unwrap());
    assert!(accounts.contains(&"account_disabled".to_owned()));
    assert!(t.app.verify_ledger(Vec::new()).await.unwrap().report.is_ok());

    // The pages: the review links to it for those named; the audit record prints in Chinese.
    let mut web = t.browser_as("soc.chief").await;
    let page = web.get(&format!("/reviews/{review}")).await;
    assert!(page.body.contains(&format!("/investigations/{inv}")), "the review links to it");
    let page = web.get(&format!("/investigations/{inv}")).await;
    assert!(page.body.contains("已作成稽核紀錄") && page.body.contains("經查該查詢無個案依據"));
    let record = web.get(&format!("/investigations/{inv}/record")).await;
    assert_eq!(record.status, 200);
    assert!(record.body.contains("稽核紀錄") && record.body.contains("移請人事單位議處"), "{}", record.body);
    assert!(record.body.contains("政風單位") && record.body.contains("高志遠"));
    let mut stranger = t.browser_as("tax.admin").await;
    assert_eq!(stranger.get(&format!("/investigations/{inv}/record")).await.status, 403);
    let list = stranger.get("/investigations").await;
    assert!(list.body.contains("目前沒有您參與的調查"));
}

#[tokio::test]
async fn r_rev_5_the_audit_record_is_only_printed_once_concluded() {
    let t = november(2, false).await;
    let (_, _, inv) = anomaly(&t).await;
    let mut web = t.browser_as("soc.reviewer").await;
    assert_eq!(web.get(&format!("/investigations/{inv}/record")).await.status, 409);
    let page = web.get(&format!("/investigations/{inv}")).await;
    assert!(page.body.contains("調查中") && page.body.contains("name-members"), "the opener names the members");
    // The list shows it with the month of the review that opened it.
    let list = web.get("/investigations").await;
    assert!(list.body.contains(&format!("/investigations/{inv}")) && list.body.contains("年11月"), "{}", list.body);
}

/// R-REV-5: an anomaly reaches its audit record even when the reviewer who opened the investigation
/// leaves before naming anyone: a supervisor of the reviewed agency takes the opener's place.
#[tokio::test]
async fn r_rev_5_a_supervisor_takes_over_an_investigation_whose_opener_has_left() {
    let t = november(3, false).await;
    let (review, _, inv) = anomaly(&t).await;
    let path = format!("/api/v1/investigations/{inv}/take-over");
    let mut chief = t.api_as("soc.chief").await;
    // While the reviewer can still act: not taken from them.
    assert_eq!(chief.post_json(&path, &json!({})).await.status, 403);
    t.set_account_status("soc.reviewer", "disabled", None).await;
    // Not by someone who supervises another agency, nor by anyone else.
    assert_eq!(t.api_as("tax.reviewer").await.post_json(&path, &json!({})).await.status, 403);
    assert_eq!(t.api_as("soc.user").await.post_json(&path, &json!({})).await.status, 403);
    // The agency's supervisor is offered it on the review page, takes it over and names the members.
    let mut web = t.browser_as("soc.chief").await;
    let page = web.get(&format!("/reviews/{review}")).await;
    assert!(page.body.contains(&format!("/investigations/{inv}/take-over")), "{}", page.body);
    let r = web.submit(&format!("/reviews/{review}"), &format!("/investigations/{inv}/take-over"), &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/investigations/{inv}").as_str())), "{}", r.body);
    let members = json!({"business": "soc.chief", "ethics": "eth.officer", "it": "plan.admin"});
    let r = chief.put_json(&format!("/api/v1/investigations/{inv}/members"), &members).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(t.api_as("eth.officer").await.get(&format!("/api/v1/investigations/{inv}")).await.status, 200);
    assert_eq!(chief.post_json(&path, &json!({})).await.status, 403, "once only");
    let audit = events(&t, &t.app.db().ledger_recent(&["audit_action"], 20).await.unwrap());
    assert!(audit.contains(&"investigation_taken_over".to_owned()), "{audit:?}");
}
