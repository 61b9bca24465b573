//! R-ACC-1: every role reaches exactly its branch, over the API and the pages. Each demo account
//! is tried against each agency and unit: allowed where the rules say, 403 elsewhere, and every
//! refusal recorded.

use crate::support::TestApp;

/// (username, org codes it may view) — everything else in `ALL` must be refused.
const VIEW: &[(&str, &[&str])] = &[
    ("plan.admin", &["NTC", "PLAN", "SOC", "SOC-SWC", "HLT", "HLT-NT", "HLT-PL", "HLT-CT", "TAX", "CIV", "ETH"]),
    ("plan.auditor", &["PLAN"]),
    ("soc.admin", &["SOC", "SOC-SWC"]),
    ("soc.user", &["SOC"]),
    ("soc.chief", &["SOC", "SOC-SWC"]),
    ("swc.user", &["SOC-SWC"]),
    ("hlt.admin", &["HLT", "HLT-NT", "HLT-PL", "HLT-CT"]),
    ("hlt.chief", &["HLT", "HLT-NT", "HLT-PL", "HLT-CT"]),
    ("nt.admin", &["HLT-NT"]),
    ("nt.user", &["HLT-NT"]),
    ("pl.admin", &["HLT", "HLT-NT", "HLT-PL", "HLT-CT"]),
    ("tax.reviewer", &["TAX"]),
    ("civ.chief", &["CIV"]),
    ("eth.officer", &["ETH"]),
];

/// (username, org codes where it may add people) — the admins' branches; nobody else may.
const MANAGE_PEOPLE: &[(&str, &[&str])] = &[
    ("plan.admin", &["NTC", "PLAN", "SOC", "SOC-SWC", "HLT", "HLT-NT", "HLT-PL", "HLT-CT", "TAX", "CIV", "ETH"]),
    ("soc.admin", &["SOC", "SOC-SWC"]),
    ("hlt.admin", &["HLT", "HLT-NT", "HLT-PL", "HLT-CT"]),
    ("nt.admin", &["HLT-NT"]),
    ("pl.admin", &["HLT-PL"]),
    ("tax.admin", &["TAX"]),
    ("soc.user", &[]),
    ("soc.chief", &[]),
    ("hlt.chief", &[]),
    ("eth.officer", &[]),
    ("plan.auditor", &[]),
];

const ALL: &[&str] = &["NTC", "PLAN", "SOC", "SOC-SWC", "HLT", "HLT-NT", "HLT-PL", "HLT-CT", "TAX", "CIV", "ETH"];

#[tokio::test]
async fn r_acc_1_each_role_sees_exactly_its_branch_over_the_api() {
    let t = TestApp::demo().await;
    for (user, allowed) in VIEW {
        let mut c = t.api_as(user).await;
        for code in ALL {
            let r = c.get(&format!("/api/v1/org/{}", t.node(code).await)).await;
            let expect = if allowed.contains(code) { 200 } else { 403 };
            assert_eq!(r.status, expect, "{user} viewing {code}: {}", r.body);
            if expect == 403 {
                assert_eq!(r.json()["error"]["code"], "NG-FORBIDDEN");
            }
        }
        // The overview lists exactly the allowed nodes.
        let list = c.get("/api/v1/org").await.json();
        let mut codes: Vec<String> =
            list.as_array().unwrap().iter().map(|n| n["code"].as_str().unwrap().to_owned()).collect();
        codes.sort();
        let mut want: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(codes, want, "{user}'s overview");
    }
    let refusals = t.app.recent_events(1000).await.unwrap().into_iter().filter(|e| e.event == "forbidden").count();
    let expected: usize = VIEW.iter().map(|(_, a)| ALL.len() - a.len()).sum();
    assert_eq!(refusals, expected, "every refusal is recorded");
}

#[tokio::test]
async fn r_acc_1_only_admins_add_people_and_only_inside_their_branch() {
    let t = TestApp::demo().await;
    let mut n = 0;
    for (user, allowed) in MANAGE_PEOPLE {
        let mut c = t.api_as(user).await;
        for code in ALL {
            n += 1;
            let body = serde_json::json!({"person_id": format!("T-{n}"), "name": "測試人員", "rank": "staff"});
            let r = c.post_json(&format!("/api/v1/org/{}/people", t.node(code).await), &body).await;
            let expect = if allowed.contains(code) { 201 } else { 403 };
            assert_eq!(r.status, expect, "{user} adding a person at {code}: {}", r.body);
        }
    }
    // Refused attempts wrote nothing.
    let people_at_tax = t.app.db().people_at(t.node("TAX").await).await.unwrap();
    assert_eq!(
        people_at_tax.iter().filter(|p| p.person_id.as_str().starts_with("T-")).count(),
        2,
        "plan.admin and tax.admin only"
    );
}

#[tokio::test]
async fn r_acc_1_agency_admins_add_units_in_their_agency_and_unit_admins_cannot_restructure() {
    let t = TestApp::demo().await;
    let hlt = t.node("HLT").await;
    let tax = t.node("TAX").await;
    let mut c = t.api_as("hlt.admin").await;
    let r = c
        .post_json(
            &format!("/api/v1/org/{hlt}/children"),
            &serde_json::json!({"code": "HLT-JJ", "name_zh": "集集鎮衛生所"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new_id = r.json()["id"].as_i64().unwrap();
    let node = c.get(&format!("/api/v1/org/{new_id}")).await.json();
    assert_eq!(node["node"]["kind"], "unit");
    assert_eq!(node["node"]["parent_id"], hlt);
    let r = c
        .post_json(&format!("/api/v1/org/{tax}/children"), &serde_json::json!({"code": "TAX-X", "name_zh": "不該建立"}))
        .await;
    assert_eq!(r.status, 403);
    let mut unit_admin = t.api_as("nt.admin").await;
    let r = unit_admin
        .post_json(
            &format!("/api/v1/org/{}/children", t.node("HLT-NT").await),
            &serde_json::json!({"code": "NT-X", "name_zh": "下層"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Duplicate codes conflict; bad codes are named.
    let r = c
        .post_json(&format!("/api/v1/org/{hlt}/children"), &serde_json::json!({"code": "HLT-JJ", "name_zh": "重複"}))
        .await;
    assert_eq!(r.status, 409);
    let message = r.json()["error"]["message_zh"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("組織代碼") && message.contains("請改用其他代碼") && !message.contains("org code"),
        "{message}"
    );
    let r = c
        .post_json(&format!("/api/v1/org/{hlt}/children"), &serde_json::json!({"code": "有 空白", "name_zh": "x"}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["field"], "code");
}

/// The org page's forms for a person's HR status and an account's disable date (R-ACC-7) go back
/// to the unit they were made in; from outside the branch they are refused and change nothing.
#[tokio::test]
async fn r_acc_7_hr_status_and_disable_date_forms_return_to_their_unit_and_stay_in_the_branch() {
    let t = TestApp::demo().await;
    let tax = t.node("TAX").await;
    let person = t.app.db().people_at(tax).await.unwrap()[0].id;
    let account = t.app.db().account(t.account_id("tax.user").await).await.unwrap();
    let (page, account_page) = (format!("/org/{tax}"), format!("/org/{}", account.org_node_id));
    let mut soc = t.browser_as("soc.admin").await;
    let r = soc.submit("/org", &format!("/people/{person}/hr-status"), &[("hr_status", "retired")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = soc
        .submit(
            "/org",
            &format!("/accounts/{}/disable-date", account.id),
            &[("disable_on", "2099-01-01"), ("reason", "moved")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(t.app.db().person(person).await.unwrap().hr_status.code(), "active");
    assert_eq!(t.app.db().account(account.id).await.unwrap().disable_on, None);

    let mut admin = t.browser_as("tax.admin").await;
    let r = admin.submit(&page, &format!("/people/{person}/hr-status"), &[("hr_status", "moved")]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(page.as_str())), "{}", r.body);
    let r = admin
        .submit(
            &page,
            &format!("/accounts/{}/disable-date", account.id),
            &[("disable_on", "2099-01-01"), ("reason", "moved")],
        )
        .await;
    assert_eq!((r.status, r.header("location")), (303, Some(account_page.as_str())), "{}", r.body);
    assert_eq!(t.app.db().person(person).await.unwrap().hr_status.code(), "moved");
    assert!(t.app.db().account(account.id).await.unwrap().disable_on.is_some());
}

#[tokio::test]
async fn hr_status_changes_stay_in_the_branch_and_bad_values_are_named() {
    let t = TestApp::demo().await;
    let person = t.app.db().people_at(t.node("TAX").await).await.unwrap()[0].id;
    let mut tax = t.api_as("tax.admin").await;
    let mut soc = t.api_as("soc.admin").await;
    let path = format!("/api/v1/people/{person}/hr-status");
    assert_eq!(soc.put_json(&path, &serde_json::json!({"hr_status": "retired"})).await.status, 403);
    let r = tax.put_json(&path, &serde_json::json!({"hr_status": "fired"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("hr_status")));
    assert_eq!(tax.put_json(&path, &serde_json::json!({"hr_status": "moved"})).await.status, 204);
    assert_eq!(t.app.db().person(person).await.unwrap().hr_status.code(), "moved");
    assert_eq!(
        tax.put_json("/api/v1/people/999999/hr-status", &serde_json::json!({"hr_status": "moved"})).await.status,
        404
    );
}

#[tokio::test]
async fn r_acc_1_pages_refuse_other_branches_with_403() {
    let t = TestApp::demo().await;
    let mut c = t.browser_as("soc.admin").await;
    let r = c.get(&format!("/org/{}", t.node("HLT").await)).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("NG-FORBIDDEN"));
    let r = c.get(&format!("/org/{}", t.node("SOC-SWC").await)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("吳佩君"));
    // A form aimed at another branch is refused too.
    let page = format!("/org/{}", t.node("SOC").await);
    let r = c
        .submit(
            &page,
            &format!("/org/{}/people", t.node("TAX").await),
            &[("person_id", "X-1"), ("name", "某人"), ("rank", "staff")],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_api_without_a_token_or_with_a_bad_one_is_401() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    for path in ["/api/v1/me", "/api/v1/org", "/api/v1/purposes", "/api/v1/linkages"] {
        let r = c.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"]["code"], "NG-AUTH");
    }
    c.bearer = Some("not-a-token".into());
    assert_eq!(c.get("/api/v1/me").await.status, 401);
    assert_eq!(c.get("/api/v1/nothing-here").await.status, 404);
}
