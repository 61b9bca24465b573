//! Account reviews (R-ACC-9): an admin reviews the accounts it manages; idle accounts, people who
//! moved and accounts past their disable date are flagged; each gets a decision with a reason;
//! the decisions are applied at once and recorded; the review is printable; admins are reminded.

use serde_json::{Value, json};

use crate::support::TestApp;

fn item<'a>(review: &'a Value, username: &str) -> &'a Value {
    review["items"].as_array().unwrap().iter().find(|i| i["username"] == username).unwrap_or_else(|| {
        panic!("{username} is not in the review: {review}");
    })
}

#[tokio::test]
async fn r_acc_9_an_admin_reviews_its_accounts_and_the_decisions_are_applied_at_once() {
    let t = TestApp::demo().await;
    let mut admin = t.api_as("hlt.admin").await;
    let mut home = t.browser_as("hlt.admin").await;
    assert!(home.get("/").await.body.contains("reminder-account-review"), "never reviewed: reminded");

    // Someone moved: the review will say so.
    let person = t.app.db().account(t.account_id("hlt.user").await).await.unwrap().person_ref;
    let r = admin.put_json(&format!("/api/v1/people/{person}/hr-status"), &json!({"hr_status": "moved"})).await;
    assert!(r.status < 300, "{}", r.body);

    let id = admin.post_json("/api/v1/account-reviews", &json!({})).await.json()["id"].as_i64().unwrap();
    assert_eq!(admin.post_json("/api/v1/account-reviews", &json!({})).await.json()["id"], id, "one open at a time");
    let review = admin.get(&format!("/api/v1/account-reviews/{id}")).await.json();
    assert_eq!(item(&review, "hlt.idle")["concerns"], json!(["idle"]));
    assert_eq!(item(&review, "hlt.user")["concerns"], json!(["hr_changed"]));
    assert_eq!(item(&review, "hlt.chief")["concerns"], json!([]));
    let names: Vec<&str> =
        review["items"].as_array().unwrap().iter().map(|i| i["username"].as_str().unwrap()).collect();
    assert!(!names.contains(&"hlt.admin") && !names.contains(&"nt.user") && !names.contains(&"soc.user"), "{names:?}");
    assert!(names.contains(&"nt.admin"), "the admins of its units: {names:?}");

    // Outside the branch: refused and recorded.
    let mut other = t.api_as("soc.admin").await;
    assert_eq!(other.get(&format!("/api/v1/account-reviews/{id}")).await.status, 403);
    let mut user = t.api_as("hlt.chief").await;
    assert_eq!(user.post_json("/api/v1/account-reviews", &json!({})).await.status, 403, "not an admin");

    let decide = |who: &str| format!("/api/v1/account-reviews/{id}/accounts/{}", item(&review, who)["account_id"]);
    let apply = format!("/api/v1/account-reviews/{id}/apply");
    assert_eq!(admin.put_json(&decide("hlt.idle"), &json!({"decision": "disable"})).await.status, 204);
    let r = admin.post_json(&apply, &json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("decision")), "{}", r.body);
    // Keeping someone who moved needs a reason; a reduction only reduces.
    let r = admin.put_json(&decide("hlt.user"), &json!({"decision": "keep"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")));
    let grants: Vec<String> = item(&review, "hlt.user")["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    assert!(grants.len() >= 2, "{grants:?}");
    let r = admin
        .put_json(
            &decide("hlt.user"),
            &json!({"decision": "reduce", "note": "調任後僅辦理長者健檢", "keep": ["999:999"]}),
        )
        .await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("grants")));
    let r = admin.put_json(&decide("hlt.user"), &json!({"decision": "bogus"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("decision")));
    let r = admin
        .put_json(
            &decide("hlt.user"),
            &json!({"decision": "reduce", "note": "調任後僅辦理長者健檢", "keep": [grants[0]]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    for i in review["items"].as_array().unwrap() {
        let who = i["username"].as_str().unwrap();
        if who != "hlt.idle" && who != "hlt.user" {
            assert_eq!(admin.put_json(&decide(who), &json!({"decision": "keep"})).await.status, 204, "{who}");
        }
    }
    let user_id = t.account_id("hlt.user").await;
    let granted = "SELECT purpose_id, operation_id, granted_at FROM grants WHERE account_id = $1 ORDER BY purpose_id, operation_id";
    let mut raw = t.raw().await;
    let before: Vec<(i64, i64, i64)> = sqlx::query_as(granted).bind(user_id).fetch_all(&mut raw).await.unwrap();
    t.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(admin.post_json(&apply, &json!({})).await.status, 204);
    // The kept grant stays as it was granted (when, and by whom); only the dropped ones went.
    let after: Vec<(i64, i64, i64)> = sqlx::query_as(granted).bind(user_id).fetch_all(&mut raw).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(before.contains(&after[0]), "{after:?} kept as granted, among {before:?}");

    // Applied: disabled, reduced, recorded; closed for good.
    let idle = t.app.db().account(t.account_id("hlt.idle").await).await.unwrap();
    assert_eq!(idle.status, "disabled");
    assert!(t.app.db().grants_of(idle.id).await.unwrap().is_empty());
    assert_eq!(t.app.db().grants_of(t.account_id("hlt.user").await).await.unwrap().len(), 1);
    assert_eq!(admin.post_json(&apply, &json!({})).await.status, 409);
    assert_eq!(admin.put_json(&decide("hlt.chief"), &json!({"decision": "disable"})).await.status, 409);
    let events = t.app.recent_events(200).await.unwrap();
    assert!(
        events.iter().any(|e| e.event == "account_review" && e.detail.starts_with("applied: 1 disabled, 1 reduced"))
    );
    assert!(events.iter().any(|e| e.event == "account_disabled" && e.target == "account hlt.idle"));
    assert!(events.iter().any(|e| e.event == "forbidden" && e.target == format!("account review {id}")));

    // Printable, and the reminder is gone.
    let print = home.get(&format!("/account-reviews/{id}/print")).await;
    assert!(print.body.contains("帳號清查紀錄") && print.body.contains("hlt.idle") && print.body.contains("久未登入"));
    assert!(print.body.contains("調任後僅辦理長者健檢"));
    assert!(!home.get("/").await.body.contains("reminder-account-review"));
}

/// An agency admin reaches its unit's account review, but the unit's users are the unit admin's
/// to decide on (R-ACC-1: the agency admin manages the units' admins, the unit admin its users).
#[tokio::test]
async fn r_acc_1_r_acc_9_a_units_users_are_decided_on_by_the_unit_admin_not_the_agency_admin() {
    let t = TestApp::demo().await;
    let mut unit = t.api_as("nt.admin").await;
    let id = unit.post_json("/api/v1/account-reviews", &json!({})).await.json()["id"].as_i64().unwrap();
    let review = unit.get(&format!("/api/v1/account-reviews/{id}")).await.json();
    let decide = format!("/api/v1/account-reviews/{id}/accounts/{}", item(&review, "nt.user")["account_id"]);
    let mut agency = t.api_as("hlt.admin").await;
    assert_eq!(agency.get(&format!("/api/v1/account-reviews/{id}")).await.status, 200, "it may read it");
    let r = agency.put_json(&decide, &json!({"decision": "disable", "note": "代為停用"})).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let events = t.app.recent_events(20).await.unwrap();
    assert!(events.iter().any(|e| e.event == "forbidden" && e.target == "account nt.user"), "refusal recorded");
    // The unit admin decides; the agency admin cannot apply a disable of the unit's user either.
    assert_eq!(unit.put_json(&decide, &json!({"decision": "disable", "note": "已離職"})).await.status, 204);
    let r = agency.post_json(&format!("/api/v1/account-reviews/{id}/apply"), &json!({})).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let a = t.app.db().account(t.account_id("nt.user").await).await.unwrap();
    assert_eq!(a.status, "active", "nothing changed");
    assert_eq!(unit.post_json(&format!("/api/v1/account-reviews/{id}/apply"), &json!({})).await.status, 204);
    assert_eq!(t.app.db().account(t.account_id("nt.user").await).await.unwrap().status, "disabled");
}

#[tokio::test]
async fn r_acc_6_a_password_about_to_expire_is_reminded_on_the_home_page() {
    let t = TestApp::demo().await;
    let mut web = t.browser_as("soc.user").await;
    assert!(!web.get("/").await.body.contains("reminder-password"));
    t.clock.advance(chrono::Duration::days(80));
    let mut web = t.browser_as("soc.user").await;
    let home = web.get("/").await;
    assert!(home.body.contains("reminder-password") && home.body.contains("您的密碼將於 10 天後"), "{}", home.body);
}
