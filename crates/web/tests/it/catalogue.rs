//! The purpose catalogue, operations and linkages (R-PUR-1, R-PUR-2, R-X-6).

use crate::support::TestApp;

#[tokio::test]
async fn r_pur_1_the_seed_catalogue_has_items_1_to_12_with_item_6_retired() {
    let t = TestApp::demo().await;
    let mut c = t.api_as("soc.user").await;
    let list = c.get("/api/v1/purposes").await.json();
    let items: Vec<(i64, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["number"].as_i64().unwrap(), p["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(items.len(), 12);
    for (n, status) in &items {
        assert_eq!(status, if *n == 6 { "retired" } else { "active" }, "item {n}");
    }
    let eight = list.as_array().unwrap().iter().find(|p| p["number"] == 8).unwrap();
    assert_eq!(eight["legal_basis"], "兒童及少年福利與權益保障法第五十四條及第七十條");
    let ops = c.get("/api/v1/operations").await.json();
    assert!(ops.as_array().unwrap().iter().any(|o| o["code"] == "INS01" && o["conditions"][0] == "national_id"));
}

#[tokio::test]
async fn r_pur_1_only_the_planning_department_edits_the_catalogue() {
    let t = TestApp::demo().await;
    let body = serde_json::json!({"name_zh": "新業務", "legal_basis": "某法第一條"});
    for user in ["soc.admin", "hlt.admin", "soc.user", "soc.chief", "hlt.auditor", "eth.officer"] {
        let mut c = t.api_as(user).await;
        assert_eq!(c.post_json("/api/v1/purposes", &body).await.status, 403, "{user}");
        assert_eq!(
            c.put_json("/api/v1/purposes/1/status", &serde_json::json!({"status": "retired"})).await.status,
            403
        );
    }
    let mut plan = t.api_as("plan.admin").await;
    let r = plan.post_json("/api/v1/purposes", &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["number"], 13, "next item number");
    let r = plan.post_json("/api/v1/purposes", &serde_json::json!({"name_zh": "  ", "legal_basis": "x"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("name_zh")));
    let r = plan
        .post_json("/api/v1/purposes", &serde_json::json!({"number": 8, "name_zh": "重複", "legal_basis": "x"}))
        .await;
    assert_eq!(r.status, 409);
    let r = plan
        .post_json(
            "/api/v1/purposes",
            &serde_json::json!({"name_zh": "日期錯", "legal_basis": "x", "nhia_approval_date": "115/13/40"}),
        )
        .await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("nhia_approval_date")));
    let r = plan.request("POST", "/api/v1/purposes", Some("application/json"), "{not json").await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn r_pur_2_retiring_keeps_the_purpose_its_linkages_and_its_history() {
    let t = TestApp::demo().await;
    let mut plan = t.api_as("plan.admin").await;
    let purposes = plan.get("/api/v1/purposes").await.json();
    let nine = purposes.as_array().unwrap().iter().find(|p| p["number"] == 9).unwrap()["id"].as_i64().unwrap();
    let path = format!("/api/v1/purposes/{nine}/status");
    assert_eq!(plan.put_json(&path, &serde_json::json!({"status": "retired"})).await.status, 204);
    assert_eq!(plan.put_json(&path, &serde_json::json!({"status": "retired"})).await.status, 409, "already retired");
    assert_eq!(plan.put_json(&path, &serde_json::json!({"status": "gone"})).await.status, 422);
    let p = plan.get(&format!("/api/v1/purposes/{nine}")).await.json();
    assert_eq!(p["status"], "retired");
    let history = t.app.db().catalogue_history("purpose", nine).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["create", "retire"]);
    assert_eq!(history[1].actor_account_id, Some(t.account_id("plan.admin").await));
    // Its linkage remains on record.
    assert!(t.app.db().linkages(None).await.unwrap().iter().any(|l| l.purpose_id == nine));
    // Editing records the values before and after.
    let r = plan
        .put_json(
            &format!("/api/v1/purposes/{nine}"),
            &serde_json::json!({"name_zh": "家庭暴力防治業務", "legal_basis": "家庭暴力防治法第一條"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let last = t.app.db().catalogue_history("purpose", nine).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "update");
    assert!(last.before_json.unwrap().contains("精神衛生法") && last.after_json.unwrap().contains("家庭暴力防治業務"));
}

#[tokio::test]
async fn linkages_are_seen_within_the_branch_and_must_be_sound_to_be_added() {
    let t = TestApp::demo().await;
    let soc = t.node("SOC").await;
    let mut soc_user = t.api_as("soc.user").await;
    let mine = soc_user.get("/api/v1/linkages").await.json();
    assert!(!mine.as_array().unwrap().is_empty());
    assert!(mine.as_array().unwrap().iter().all(|l| l["agency_id"] == soc), "only its own agency's linkages");
    let mut plan = t.api_as("plan.admin").await;
    let all = plan.get("/api/v1/linkages").await.json();
    assert!(all.as_array().unwrap().len() > mine.as_array().unwrap().len());

    let purposes = plan.get("/api/v1/purposes").await.json();
    let id_of =
        |n: i64| purposes.as_array().unwrap().iter().find(|p| p["number"] == n).unwrap()["id"].as_i64().unwrap();
    let ops = plan.get("/api/v1/operations").await.json();
    let vis = ops.as_array().unwrap().iter().find(|o| o["code"] == "VIS01").unwrap()["id"].as_i64().unwrap();
    let body = |agency: i64, purpose: i64, reference: &str| serde_json::json!({"agency_id": agency, "purpose_id": purpose, "operation_id": vis, "nhia_approval_ref": reference, "nhia_approval_date": "115/10/01"});
    let r = plan.post_json("/api/v1/linkages", &body(t.node("HLT-NT").await, id_of(3), "健保資字第1150000001號")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("agency_id")), "a unit holds no linkage");
    let r = plan.post_json("/api/v1/linkages", &body(t.node("HLT").await, id_of(3), " ")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("nhia_approval_ref")));
    let r = plan.post_json("/api/v1/linkages", &body(t.node("HLT").await, id_of(6), "健保資字第1150000001號")).await;
    assert_eq!(r.status, 422, "item 6 is retired");
    let r = plan.post_json("/api/v1/linkages", &body(t.node("HLT").await, id_of(3), "健保資字第1150000001號")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["nhia_approval_date"], "2026-10-01", "ISO in the API");
    let r = plan.post_json("/api/v1/linkages", &body(t.node("HLT").await, id_of(3), "健保資字第1150000001號")).await;
    assert_eq!(r.status, 409, "the same link twice");
    let r = soc_user.post_json("/api/v1/linkages", &body(soc, id_of(1), "x")).await;
    assert_eq!(r.status, 403);
}
