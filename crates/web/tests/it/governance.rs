//! Account governance (R-ACC-1 … R-ACC-8): an application from filing to carrying out, every
//! refusal on the way, one person one account, removal, disable dates and password changes.

use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp};

async fn pair(t: &TestApp, purpose: i64, op: &str) -> String {
    let p = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == purpose).unwrap().id;
    let o = t.app.db().operations().await.unwrap().into_iter().find(|o| o.code == op).unwrap().id;
    format!("{p}:{o}")
}

/// A new person at `code`, added by `admin`; returns the person's row id.
async fn new_person(t: &TestApp, admin: &str, code: &str, pid: &str, name: &str) -> i64 {
    let mut c = t.api_as(admin).await;
    let r = c
        .post_json(
            &format!("/api/v1/org/{}/people", t.node(code).await),
            &json!({"person_id": pid, "name": name, "rank": "staff"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

fn application(person: i64, username: &str, roles: &[&str], grants: &[String], pledge: bool) -> Value {
    json!({"kind": "new_account", "person_ref": person, "username": username, "roles": roles, "grants": grants,
           "reason": "新進社工員，辦理長者健康檢查業務", "pledge": pledge})
}

async fn application_status(t: &TestApp, username: &str, id: i64) -> u16 {
    t.api_as(username).await.get(&format!("/api/v1/applications/{id}")).await.status
}

#[tokio::test]
async fn r_acc_2_an_application_goes_from_filing_to_a_working_account() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0299", "蕭宇恩").await;
    let grant = pair(&t, 3, "INS01").await;
    let mut admin = t.api_as("hlt.admin").await;
    // Without the confidentiality pledge it cannot be submitted.
    let r = admin
        .post_json(
            "/api/v1/applications",
            &application(person, "hlt.new", &["user"], std::slice::from_ref(&grant), false),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let draft = r.json()["id"].as_i64().unwrap();
    let r = admin.post_json(&format!("/api/v1/applications/{draft}/submit"), &json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("pledge")));
    assert_eq!(admin.post_json(&format!("/api/v1/applications/{draft}/withdraw"), &json!({})).await.status, 200);
    let r = admin
        .post_json(
            "/api/v1/applications",
            &application(person, "hlt.new", &["user"], std::slice::from_ref(&grant), true),
        )
        .await;
    let id = r.json()["id"].as_i64().unwrap();
    // Not before approval; not approved by the admin who filed it.
    let r = admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await.json()["state"],
        "submitted"
    );
    assert_eq!(admin.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await.status, 403);
    // Read by those who handle it only: not by a user or an auditor of the same agency (it
    // carries the applicant's employee number and reason), on the API or the page.
    assert_eq!(application_status(&t, "hlt.chief", id).await, 200);
    for other in ["hlt.user", "hlt.auditor", "nt.user"] {
        assert_eq!(application_status(&t, other, id).await, 403, "{other}");
        let mut web = t.browser_as(other).await;
        assert_eq!(web.get(&format!("/applications/{id}")).await.status, 403, "{other}");
    }
    // A note that is more than a note, or holds what cannot be shown, is refused, not a 500.
    let mut chief = t.api_as("hlt.chief").await;
    for note in ["x".repeat(70_000), "同意\u{0}".to_owned()] {
        let r = chief.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({"note": note})).await;
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")), "{}", r.body);
    }
    // A supervisor of another agency may not decide it.
    let mut tax = t.api_as("tax.reviewer").await;
    assert_eq!(tax.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await.status, 403);
    let mut chief = t.api_as("hlt.chief").await;
    let r = chief.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({"note": "同意"})).await;
    assert_eq!(r.json()["state"], "approved", "{}", r.body);
    assert_eq!(chief.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await.status, 422, "twice");
    let r = admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let link = r.json()["activation_url"].as_str().unwrap().to_owned();
    assert_eq!(admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await.status, 422, "once");
    // The owner activates and may query exactly what was approved.
    let path = link.split(&t.addr.to_string()).nth(1).unwrap().to_owned();
    let mut owner = t.client();
    let page = owner.get(&path).await;
    let csrf = page.csrf();
    let r = owner
        .post_form(&path, &[("csrf", &csrf), ("password", "Sun-Moon-Lake-115"), ("confirm", "Sun-Moon-Lake-115")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut user = t.client();
    let r = user.post_json("/api/v1/session", &json!({"username": "hlt.new", "password": "Sun-Moon-Lake-115"})).await;
    assert_eq!(r.status, 200);
    user.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    let options = user.get("/api/v1/query-options").await.json();
    let held: Vec<String> = options
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["operations"].as_array().unwrap().iter().map(move |op| format!("{}:{}", o["purpose_id"], op["id"]))
        })
        .collect();
    assert_eq!(held, vec![grant]);
    // Every step is a ledger entry.
    let steps: Vec<String> = t
        .app
        .recent_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "application")
        .map(|e| e.detail)
        .collect();
    assert!(steps.iter().any(|d| d.starts_with("carried out: created hlt.new")), "{steps:?}");
    assert!(steps.iter().any(|d| d.starts_with("approve")));
    // The county's form, filled in, for the official letter: A4 page and ODT.
    let mut web = t.browser_as("hlt.admin").await;
    // Its page names the person by staff ID and title, and each step's account by name and username.
    let page = web.get(&format!("/applications/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("NT-0299 蕭宇恩（"), "{}", page.body);
    let filed = page.body.split("建立 ").nth(1).and_then(|rest| rest.split("<br>").next()).unwrap_or_default();
    assert!(filed.ends_with("（hlt.admin）") && !filed.starts_with('（'), "filed by: {filed}");
    let form = web.get(&format!("/applications/{id}/form")).await;
    assert_eq!(form.status, 200);
    for words in [
        "使用者帳號申請表",
        "蕭宇恩",
        "NT-0299",
        "老人福利法第二十一條",
        "保密切結",
        "申請人已勾選同意",
        "同意",
        "計畫處承辦人",
    ] {
        assert!(form.body.contains(words), "{words}: {}", form.body);
    }
    let odt = web.get(&format!("/applications/{id}/form.odt")).await;
    assert_eq!(odt.header("content-type"), Some("application/vnd.oasis.opendocument.text"));
    assert!(odt.body.contains("application/vnd.oasis.opendocument.text") && odt.document_content().contains("蕭宇恩"));
    let mut other = t.browser_as("tax.admin").await;
    assert_eq!(other.get(&format!("/applications/{id}/form")).await.status, 403, "another agency's");
    let mut plain = t.browser_as("hlt.user").await;
    assert_eq!(plain.get(&format!("/applications/{id}/form")).await.status, 403, "a plain user of the branch");
}

#[tokio::test]
async fn r_acc_1_r_acc_3_applications_outside_the_branch_or_beyond_the_agency_are_refused_and_recorded() {
    let t = TestApp::demo().await;
    let tax_person = t.app.db().people_at(t.node("TAX").await).await.unwrap()[0].id;
    let hlt_person = new_person(&t, "hlt.admin", "HLT", "NT-0298", "韓承恩").await;
    let station_person = new_person(&t, "nt.admin", "HLT-NT", "NT-0297", "范雅琪").await;
    let mut admin = t.api_as("hlt.admin").await;
    let health = pair(&t, 3, "INS01").await;
    let tax_grant = pair(&t, 2, "ADR01").await;
    let cases = [
        (application(tax_person, "x.one", &["user"], &[], true), 403, "beside its branch"),
        (application(hlt_person, "x.two", &["agency_admin"], &[], true), 403, "only planning makes agency admins"),
        (
            application(hlt_person, "x.three", &["user"], std::slice::from_ref(&tax_grant), true),
            403,
            "beyond the agency's linkages",
        ),
        (
            application(station_person, "x.four", &["user"], std::slice::from_ref(&health), true),
            403,
            "a unit's users are the unit admin's",
        ),
        (application(hlt_person, "hlt.user", &["user"], &[], true), 409, "username taken"),
        (application(hlt_person, "x.five", &[], &[], true), 422, "no role"),
        (application(hlt_person, "x.six", &["user"], &["1:".to_owned()], true), 422, "malformed grant"),
    ];
    for (body, status, why) in &cases {
        let r = admin.post_json("/api/v1/applications", body).await;
        assert_eq!(r.status, *status, "{why}: {}", r.body);
    }
    // The unit admin one level up may make a unit admin; the unit's own admin may add its users.
    let r = admin
        .post_json("/api/v1/applications", &application(station_person, "nt.second", &["unit_admin"], &[], true))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut unit = t.api_as("nt.admin").await;
    let r = unit
        .post_json("/api/v1/applications", &application(station_person, "nt.third", &["user"], &[health], true))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let refused = t.app.recent_events(200).await.unwrap().into_iter().filter(|e| e.event == "forbidden").count();
    assert_eq!(refused, 4, "each refusal recorded");
    // R-ACC-5: one person, one account.
    let existing = t.app.db().account_by_username("hlt.user").await.unwrap().unwrap().person_ref;
    let r = admin.post_json("/api/v1/applications", &application(existing, "hlt.user2", &["user"], &[], true)).await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn r_acc_2_nobody_decides_their_own_application() {
    let t = TestApp::demo().await;
    // pl.admin is both the health station's unit admin and a supervisor.
    let person = new_person(&t, "pl.admin", "HLT-PL", "NT-0296", "溫柏宇").await;
    let mut pl = t.api_as("pl.admin").await;
    let id =
        pl.post_json("/api/v1/applications", &application(person, "pl.two", &["user"], &[], true)).await.json()["id"]
            .as_i64()
            .unwrap();
    pl.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
    assert_eq!(pl.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await.status, 403);
    let mut chief = t.api_as("hlt.chief").await;
    let r = chief.post_json(&format!("/api/v1/applications/{id}/reject"), &json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")), "a rejection says why");
    let r = chief.post_json(&format!("/api/v1/applications/{id}/reject"), &json!({"note": "業務無查詢需要"})).await;
    assert_eq!(r.json()["state"], "rejected");
    assert_eq!(pl.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await.status, 422);
}

#[tokio::test]
async fn r_acc_2_a_removal_disables_the_account_and_revokes_its_grants() {
    let t = TestApp::demo().await;
    let account = t.app.db().account_by_username("tax.user").await.unwrap().unwrap();
    let mut admin = t.api_as("tax.admin").await;
    let body = json!({"kind": "removal", "person_ref": account.person_ref, "account_id": account.id, "reason": "調職至民政處", "pledge": true});
    let id = admin.post_json("/api/v1/applications", &body).await.json()["id"].as_i64().unwrap();
    admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
    let mut chief = t.api_as("tax.reviewer").await;
    assert_eq!(chief.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await.status, 200);
    assert_eq!(admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await.status, 200);
    assert!(t.app.db().grants_of(account.id).await.unwrap().is_empty());
    let r = t.client().post_json("/api/v1/session", &json!({"username": "tax.user", "password": PASSWORD})).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn r_acc_7_a_disable_date_stops_the_account_and_only_its_admin_sets_it() {
    let t = TestApp::demo().await;
    let nt_user = t.account_id("nt.user").await;
    let mut agency = t.api_as("hlt.admin").await;
    let body = json!({"disable_on": "2026-11-27", "reason": "moved"});
    assert_eq!(
        agency.put_json(&format!("/api/v1/accounts/{nt_user}/disable-date"), &body).await.status,
        403,
        "the unit admin's user"
    );
    let mut unit = t.api_as("nt.admin").await;
    let r = unit
        .put_json(
            &format!("/api/v1/accounts/{nt_user}/disable-date"),
            &json!({"disable_on": "2026-11-27", "reason": "fired"}),
        )
        .await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("reason")));
    // R-ACC-10: "other" is said in words.
    let path = format!("/api/v1/accounts/{nt_user}/disable-date");
    let r = unit.put_json(&path, &json!({"disable_on": "2026-12-31", "reason": "other"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("note")), "{}", r.body);
    let why = "借調至縣府其他機關一年，期滿再議";
    let r = unit.put_json(&path, &json!({"disable_on": "2026-12-31", "reason": "other", "note": why})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let events = t.app.recent_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.event == "account_disable_date" && e.detail.ends_with(why)), "{events:?}");
    // Today's date applies at once.
    assert_eq!(unit.put_json(&format!("/api/v1/accounts/{nt_user}/disable-date"), &body).await.status, 204);
    let r = t.client().post_json("/api/v1/session", &json!({"username": "nt.user", "password": PASSWORD})).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn r_acc_6_password_changes_follow_the_rules_and_an_expired_password_blocks_everything_else() {
    let t = TestApp::demo().await;
    let mut c = t.api_as("civ.user").await;
    let change = |old: &str, new: &str| json!({"old_password": old, "password": new, "confirm": new});
    let r = c.put_json("/api/v1/me/password", &change("Wrong-Pass-111", "Jade-Mountain-3952")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("old_password")));
    let r = c.put_json("/api/v1/me/password", &change(PASSWORD, PASSWORD)).await;
    assert_eq!(r.status, 422, "the current one is one of the last five");
    let r = c.put_json("/api/v1/me/password", &change(PASSWORD, "short")).await;
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("至少需 12"));
    let r = c.put_json("/api/v1/me/password", &change(PASSWORD, "Qwertyuiop12")).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("password")), "too easy to guess");
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("太容易被猜中"));
    assert_eq!(c.put_json("/api/v1/me/password", &change(PASSWORD, "Jade-Mountain-3952")).await.status, 204);
    assert_eq!(
        c.put_json("/api/v1/me/password", &change("Jade-Mountain-3952", PASSWORD)).await.status,
        422,
        "no going back"
    );
    // 91 days on, nothing but the password change works.
    t.clock.advance(chrono::Duration::days(91));
    let mut c = t.client();
    let r = c.post_json("/api/v1/session", &json!({"username": "civ.user", "password": "Jade-Mountain-3952"})).await;
    c.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    assert_eq!(c.get("/api/v1/me").await.status, 403);
    let mut web = t.client();
    assert_eq!(web.sign_in("civ.user", "Jade-Mountain-3952").await.status, 303);
    let r = web.get("/org").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/password")));
    assert!(web.get("/password").await.body.contains("password-forced"));
    assert_eq!(c.put_json("/api/v1/me/password", &change("Jade-Mountain-3952", "Taroko-Gorge-7781")).await.status, 204);
    assert_eq!(c.get("/api/v1/me").await.status, 200);
}

#[tokio::test]
async fn an_admin_files_and_carries_out_through_the_pages() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "soc.admin", "SOC", "NT-0199", "嚴嘉玲").await;
    let grant = pair(&t, 8, "INS01").await;
    let mut web = t.browser_as("soc.admin").await;
    let person_s = person.to_string();
    let r = web
        .submit(
            "/applications",
            "/applications",
            &[
                ("kind", "new_account"),
                ("person_ref", &person_s),
                ("username", "soc.new"),
                ("role", "user"),
                ("grant", &grant),
                ("reason", "兒少保護個案管理新進社工"),
                ("pledge", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = r.header("location").unwrap().to_owned();
    let id = page.rsplit('/').next().unwrap().to_owned();
    assert_eq!(web.submit(&page, &format!("/applications/{id}/submit"), &[]).await.status, 303);
    let mut chief = t.browser_as("soc.chief").await;
    assert!(chief.get("/applications").await.body.contains("soc.new"));
    assert_eq!(chief.submit(&page, &format!("/applications/{id}/approve"), &[("note", "同意")]).await.status, 303);
    let done = web.submit(&page, &format!("/applications/{id}/carry-out"), &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("activation-link") && done.body.contains("/activate/"));
    assert!(!web.get(&page).await.body.contains("/activate/"), "the link is shown once");
}

#[tokio::test]
async fn r_acc_8_the_incoming_admin_takes_over_and_the_outgoing_account_stops() {
    let t = TestApp::demo().await;
    // A second agency admin of the health bureau, as an application would have made it.
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0287", "孫立行").await;
    let mut tx = t.app.db().begin().await.unwrap();
    let roles = vec![nhiguard_domain::role::Role::AgencyAdmin];
    let new = nhiguard_store::NewAccount {
        username: "hlt.admin2".into(),
        person_ref: person,
        status: "pending".into(),
        roles,
    };
    let id = tx.insert_account(&new, crate::support::start_time()).await.unwrap();
    let hash = nhiguard_app::auth::hash_password(PASSWORD).unwrap();
    tx.set_demo_password(id, &hash, crate::support::start_time()).await.unwrap();
    tx.commit().await.unwrap();
    let mut incoming = t.api_as("hlt.admin2").await;
    let reason = "原管理者調任稅務局，職務由本人接任";
    let to = |who: &str| json!({"outgoing": who, "reason": reason});
    // Not someone of another unit or role.
    assert_eq!(incoming.post_json("/api/v1/handover", &to("tax.admin")).await.status, 403);
    assert_eq!(incoming.post_json("/api/v1/handover", &to("hlt.user")).await.status, 403);
    // R-ACC-10: with a reason.
    let r = incoming.post_json("/api/v1/handover", &json!({"outgoing": "hlt.admin", "reason": "交接"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("reason")), "{}", r.body);
    assert_eq!(incoming.post_json("/api/v1/handover", &to("hlt.admin")).await.status, 204);
    let r = t.client().post_json("/api/v1/session", &json!({"username": "hlt.admin", "password": PASSWORD})).await;
    assert_eq!(r.status, 401, "the outgoing admin is disabled");
    let steps = t.app.recent_events(20).await.unwrap();
    assert!(steps.iter().any(|e| e.event == "handover" && e.detail.contains("hlt.admin") && e.detail.contains(reason)));
}

/// R-ACC-8: "its password must be changed at once by the incoming admin" — in the handover itself,
/// so that the outgoing admin, who knew the old password, cannot sign in and choose the next one.
#[tokio::test]
async fn r_acc_8_a_kept_admin_accounts_password_is_set_by_the_incoming_admin_in_the_handover() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "tax.admin", "TAX", "NT-0386", "石昱廷").await;
    let mut tx = t.app.db().begin().await.unwrap();
    let roles = vec![nhiguard_domain::role::Role::AgencyAdmin];
    let new = nhiguard_store::NewAccount {
        username: "tax.admin2".into(),
        person_ref: person,
        status: "pending".into(),
        roles,
    };
    let id = tx.insert_account(&new, crate::support::start_time()).await.unwrap();
    tx.set_demo_password(id, &nhiguard_app::auth::hash_password(PASSWORD).unwrap(), crate::support::start_time())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut outgoing = t.api_as("tax.admin").await;
    assert_eq!(outgoing.get("/api/v1/me").await.status, 200);
    // A one-time link of the outgoing account is out (a reset mailed to its owner, say).
    let planning = nhiguard_app::events::Actor { account_id: None, username: "plan.admin", client_addr: "" };
    let outstanding = t.app.issue_activation(t.account_id("tax.admin").await, planning).await.unwrap();
    let mut incoming = t.api_as("tax.admin2").await;
    let reason = "原管理者帳號綁定稅務系統排程，須保留";
    let kept = "Kept-Admin-Tax-2026";
    let handover = |body: Value| {
        let mut b = json!({"outgoing": "tax.admin", "reason": reason, "keep": true});
        b.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        b
    };
    let r = incoming.post_json("/api/v1/handover", &handover(json!({}))).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("new_password")), "{}", r.body);
    let r = incoming.post_json("/api/v1/handover", &handover(json!({"new_password": kept, "confirm": "x"}))).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("confirm")), "{}", r.body);
    let r =
        incoming.post_json("/api/v1/handover", &handover(json!({"new_password": "short", "confirm": "short"}))).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("password")), "{}", r.body);
    let r =
        incoming.post_json("/api/v1/handover", &handover(json!({"new_password": PASSWORD, "confirm": PASSWORD}))).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("password")), "the old one: {}", r.body);
    assert_eq!(outgoing.get("/api/v1/me").await.status, 200, "nothing changed by the refused attempts");
    let r = incoming.post_json("/api/v1/handover", &handover(json!({"new_password": kept, "confirm": kept}))).await;
    assert_eq!(r.status, 204, "{}", r.body);
    // The outgoing admin's session is over and the old password no longer opens the account.
    assert_eq!(outgoing.get("/api/v1/me").await.status, 401);
    let old = t.client().post_json("/api/v1/session", &json!({"username": "tax.admin", "password": PASSWORD})).await;
    assert_eq!(old.status, 401, "{}", old.body);
    let new = t.client().post_json("/api/v1/session", &json!({"username": "tax.admin", "password": kept})).await;
    assert_eq!(new.status, 200, "the incoming admin holds it now: {}", new.body);
    let (status, body) =
        activate(&t, &format!("http://{}/activate/{outstanding}", t.addr), "Taken-Back-Tax-2026").await;
    assert_eq!(status, 409, "the link out before the handover sets nothing now: {body}");
    let a = t.app.db().account(t.account_id("tax.admin").await).await.unwrap();
    assert_eq!((a.status.as_str(), a.must_change_password), ("active", false));
    let steps = t.app.recent_events(20).await.unwrap();
    let h = steps.iter().find(|e| e.event == "handover").expect("recorded");
    assert!(h.detail.contains("password set by the incoming admin") && h.detail.contains(reason), "{h:?}");
    assert!(!h.detail.contains(kept), "never the password");
}

#[tokio::test]
async fn r_acc_7_an_hr_change_proposes_the_disable_which_the_admin_confirms_with_a_date() {
    let t = TestApp::demo().await;
    let mut admin = t.api_as("hlt.admin").await;
    let account = t.account_id("hlt.user").await;
    let person = t.app.db().account(account).await.unwrap().person_ref;
    let r = admin.put_json(&format!("/api/v1/people/{person}/hr-status"), &json!({"hr_status": "resigned"})).await;
    assert!(r.status < 300, "{}", r.body);
    let events = t.app.recent_events(20).await.unwrap();
    assert!(events.iter().any(|e| e.event == "disable_proposed" && e.target == "account hlt.user"));
    let mut web = t.browser_as("hlt.admin").await;
    let home = web.get("/").await;
    assert!(home.body.contains("reminder-disable-proposal") && home.body.contains("已離職"), "{}", home.body);
    let hlt = t.node("HLT").await;
    assert!(web.get(&format!("/org/{hlt}")).await.body.contains("建議停用"));
    // Another agency's admin is not reminded of it.
    let mut other = t.browser_as("tax.admin").await;
    assert!(!other.get("/").await.body.contains("reminder-disable-proposal"));
    // The admin confirms: today, so at once; the proposal is gone.
    let today = nhiguard_domain::roc::taipei_date(t.app.now()).to_string();
    let r = web
        .submit(
            &format!("/org/{hlt}"),
            &format!("/accounts/{account}/disable-date"),
            &[("disable_on", &today), ("reason", "resigned")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!web.get("/").await.body.contains("reminder-disable-proposal"));
    assert_eq!(t.app.db().account(account).await.unwrap().disable_on.as_deref(), Some(today.as_str()));
    let mut gone = t.client();
    assert_eq!(gone.sign_in("hlt.user", crate::support::PASSWORD).await.status, 401, "the account stops at once");
}

#[tokio::test]
async fn r_acc_5_a_second_address_while_a_session_is_alive_is_flagged_to_the_admin() {
    let t = TestApp::demo().await;
    let mut office = t.client();
    assert_eq!(office.sign_in("hlt.user", PASSWORD).await.status, 303);
    let mut admin = t.browser_as("hlt.admin").await;
    assert!(!admin.get("/").await.body.contains("reminder-concurrent-session"), "one place is fine");
    let mut elsewhere = t.client();
    elsewhere.from = std::net::Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(elsewhere.sign_in("hlt.user", PASSWORD).await.status, 303, "flagged, not refused");
    let home = admin.get("/").await;
    assert!(home.body.contains("reminder-concurrent-session") && home.body.contains("127.0.0.2"), "{}", home.body);
    let events = t.app.recent_events(20).await.unwrap();
    assert!(events.iter().any(|e| e.event == "concurrent_session" && e.detail.contains("127.0.0.1")));
    let mut other = t.browser_as("tax.admin").await;
    assert!(!other.get("/").await.body.contains("reminder-concurrent-session"), "not another agency's admin");
}

#[tokio::test]
async fn r_acc_4_with_a_mail_server_the_activation_link_goes_to_its_owner_and_the_admin_never_sees_it() {
    let (sink, url) = crate::support::SmtpSink::start().await;
    let t = TestApp::with_settings(|s| s.smtp_url = url).await;
    t.app.fill_demo().await.unwrap();
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0298", "蕭宇恩").await;
    let mut admin = t.api_as("hlt.admin").await;
    let r = admin.put_json(&format!("/api/v1/people/{person}/email"), &json!({"email": "not-an-address"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("email")));
    let r =
        admin.put_json(&format!("/api/v1/people/{person}/email"), &json!({"email": "Hsiao.YuEn@nantou.gov.tw"})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let grant = pair(&t, 3, "INS01").await;
    let id = admin
        .post_json("/api/v1/applications", &application(person, "hlt.hsiao", &["user"], &[grant], true))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
    t.api_as("hlt.chief").await.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await;
    let r = admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done = r.json();
    assert!(done["activation_url"].is_null(), "the admin never sees the link: {done}");
    assert_eq!(done["mailed_to"], "h***@nantou.gov.tw");
    assert_eq!(sink.count(), 1);
    let raw = sink.messages.lock().unwrap()[0].clone();
    assert!(raw.contains("hsiao.yuen@nantou.gov.tw"), "addressed to the owner: {raw}");
    let text = sink.text(0);
    let link = text.split_whitespace().find(|w| w.contains("/activate/")).unwrap().to_owned();
    assert!(text.contains("蕭宇恩") && text.contains("hlt.hsiao"));
    // The owner sets the password through the mailed link.
    let path = link.split(&t.addr.to_string()).nth(1).unwrap().to_owned();
    let mut owner = t.client();
    let csrf = owner.get(&path).await.csrf();
    let r = owner
        .post_form(&path, &[("csrf", &csrf), ("password", "Sun-Moon-Lake-115"), ("confirm", "Sun-Moon-Lake-115")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = t.app.recent_events(50).await.unwrap();
    assert!(events.iter().any(|e| e.event == "activation_issued" && e.detail == "mailed to h***@nantou.gov.tw"));
    assert!(!events.iter().any(|e| e.detail.contains("/activate/")), "the link is never recorded");
}

#[tokio::test]
async fn r_act_1_a_query_shows_who_ran_it_under_which_application_who_approved_and_who_set_it_up() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0297", "蕭宇恩").await;
    let grant = pair(&t, 3, "INS01").await;
    let mut admin = t.api_as("hlt.admin").await;
    let id = admin
        .post_json(
            "/api/v1/applications",
            &application(person, "hlt.chain", &["user"], std::slice::from_ref(&grant), true),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
    t.api_as("hlt.chief")
        .await
        .post_json(&format!("/api/v1/applications/{id}/approve"), &json!({"note": "同意"}))
        .await;
    let link =
        admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await.json()["activation_url"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = link.split(&t.addr.to_string()).nth(1).unwrap().to_owned();
    let mut owner = t.client();
    let csrf = owner.get(&path).await.csrf();
    owner
        .post_form(&path, &[("csrf", &csrf), ("password", "Sun-Moon-Lake-115"), ("confirm", "Sun-Moon-Lake-115")])
        .await;
    let mut user = t.client();
    let r = user.post_json("/api/v1/session", &json!({"username": "hlt.chain", "password": "Sun-Moon-Lake-115"})).await;
    user.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    let (p, o) = grant.split_once(':').map(|(p, o)| (p.parse::<i64>().unwrap(), o.parse::<i64>().unwrap())).unwrap();
    let subject = t.app.sandbox_examples(1).remove(0);
    let mut seqs = Vec::new();
    for case in ["113-長者-1", "113-長者-2"] {
        let body = json!({"purpose_id": p, "operation_id": o, "case_number": case, "reason": "長者健康檢查名冊核對投保狀態", "national_id": subject});
        seqs.push(user.post_json("/api/v1/queries", &body).await.json()["query_seq"].as_u64().unwrap());
    }
    t.clock.advance(chrono::Duration::days(5));
    t.api_as("plan.admin").await.post_json("/api/v1/reviews/prepare", &json!({"year": 2026, "month": 11})).await;
    let hlt = t.node("HLT").await;
    let review = t.app.db().review_for(hlt, 2026, 11).await.unwrap().unwrap();
    let mut chief = t.browser_as("hlt.chief").await;
    let page = chief.get(&format!("/reviews/{}/entries/{}", review.id, seqs[0])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for words in [
        format!("申請案 #{id}"),
        "許文雄（hlt.chief）".into(),
        "李明哲（hlt.admin）".into(),
        "蕭宇恩（hlt.chain）".into(),
        "113-長者-2".into(),
    ] {
        assert!(page.body.contains(&words), "{words}: {}", page.body);
    }
    let mut other = t.browser_as("soc.chief").await;
    assert_eq!(other.get(&format!("/reviews/{}/entries/{}", review.id, seqs[0])).await.status, 403);
}

/// R-ACC-5: two new-account applications filed for one person while the person had none are not
/// both carried out.
#[tokio::test]
async fn r_acc_5_two_applications_for_one_person_make_one_account() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0290", "范子晴").await;
    let grant = pair(&t, 3, "INS01").await;
    let mut admin = t.api_as("hlt.admin").await;
    let mut chief = t.api_as("hlt.chief").await;
    let mut ids = Vec::new();
    for username in ["hlt.fan", "hlt.fan2"] {
        let r = admin
            .post_json(
                "/api/v1/applications",
                &application(person, username, &["user"], std::slice::from_ref(&grant), true),
            )
            .await;
        assert_eq!(r.status, 201, "{username}: {}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
        let r = chief.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await;
        assert_eq!(r.json()["state"], "approved", "{}", r.body);
        ids.push(id);
    }
    let r = admin.post_json(&format!("/api/v1/applications/{}/carry-out", ids[0]), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.post_json(&format!("/api/v1/applications/{}/carry-out", ids[1]), &json!({})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap_or_default().contains("一人一帳號"), "{}", r.body);
    assert_eq!(t.app.db().active_accounts_of_person(person).await.unwrap().len(), 1);
    assert!(t.app.db().account_by_username("hlt.fan2").await.unwrap().is_none());
}

/// R-ACC-3: an operation retired from the catalogue is not granted, though the agency's linkage to
/// it still stands (no query could use it).
#[tokio::test]
async fn r_acc_3_a_retired_operation_is_not_granted() {
    let t = TestApp::demo().await;
    let person = new_person(&t, "hlt.admin", "HLT", "NT-0289", "柯品妤").await;
    let grant = pair(&t, 3, "INS01").await;
    let operation: i64 = grant.split(':').nth(1).unwrap().parse().unwrap();
    let mut plan = t.api_as("plan.admin").await;
    let r = plan.put_json(&format!("/api/v1/operations/{operation}/status"), &json!({"status": "retired"})).await;
    assert!(r.status < 300, "{}", r.body);
    let mut admin = t.api_as("hlt.admin").await;
    let r = admin
        .post_json(
            "/api/v1/applications",
            &application(person, "hlt.ko", &["user"], std::slice::from_ref(&grant), true),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// Sets a password through a one-time link, as its owner would; the page's status.
async fn activate(t: &TestApp, link: &str, password: &str) -> (u16, String) {
    let path = link.split(&t.addr.to_string()).nth(1).unwrap().to_owned();
    let mut owner = t.client();
    let page = owner.get(&path).await;
    if page.status != 200 {
        return (page.status, page.body);
    }
    let csrf = page.csrf();
    let r = owner.post_form(&path, &[("csrf", &csrf), ("password", password), ("confirm", password)]).await;
    (r.status, r.body)
}

/// R-ACC-4, R-ACC-10: a forgotten (or possibly known) password is reset by an admin who manages
/// the account, with a reason; the old password and sessions stop at once, and only the owner
/// sets the next one, through a one-time link that a newer reset voids.
#[tokio::test]
async fn r_acc_4_r_acc_10_an_admin_resets_a_password_and_the_owner_sets_the_next_one() {
    let t = TestApp::demo().await;
    let mut user = t.api_as("hlt.user").await;
    assert_eq!(user.get("/api/v1/me").await.status, 200);
    let path = format!("/api/v1/accounts/{}/password-reset", t.account_id("hlt.user").await);
    let reason = "本人遺忘密碼，經電話確認身分後重設";
    let mut admin = t.api_as("hlt.admin").await;
    // Refused: no real reason; an admin of another agency; the agency admin for a unit's user.
    let r = admin.post_json(&path, &json!({"reason": "忘記"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("reason")), "{}", r.body);
    assert_eq!(t.api_as("soc.admin").await.post_json(&path, &json!({"reason": reason})).await.status, 403);
    let nt_user = format!("/api/v1/accounts/{}/password-reset", t.account_id("nt.user").await);
    assert_eq!(admin.post_json(&nt_user, &json!({"reason": reason})).await.status, 403);
    assert_eq!(user.get("/api/v1/me").await.status, 200, "nothing changed by the refusals");
    let events = t.app.recent_events(20).await.unwrap();
    assert!(events.iter().any(|e| e.event == "forbidden" && e.target == "account hlt.user"), "refusal recorded");

    let r = admin.post_json(&path, &json!({"reason": reason})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = r.json()["activation_url"].as_str().unwrap().to_owned();
    assert_eq!(user.get("/api/v1/me").await.status, 401, "the account's sessions ended");
    let old = t.client().post_json("/api/v1/session", &json!({"username": "hlt.user", "password": PASSWORD})).await;
    assert_eq!(old.status, 401, "the old password no longer works");
    // A second reset (the first link went astray) voids the first link.
    let second =
        admin.post_json(&path, &json!({"reason": reason})).await.json()["activation_url"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (status, body) = activate(&t, &first, "Sun-Moon-Lake-115").await;
    assert!(status == 409 && body.contains("逾期"), "{status} {body}");
    // Not back to the old password; then a new one, and the account works as before.
    let (status, body) = activate(&t, &second, PASSWORD).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = activate(&t, &second, "Sun-Moon-Lake-115").await;
    assert_eq!(status, 200, "{body}");
    let new = t
        .client()
        .post_json("/api/v1/session", &json!({"username": "hlt.user", "password": "Sun-Moon-Lake-115"}))
        .await;
    assert_eq!(new.status, 200, "{}", new.body);
    let a = t.app.db().account(t.account_id("hlt.user").await).await.unwrap();
    assert_eq!(a.status, "active");
    let events = t.app.recent_events(50).await.unwrap();
    let resets: Vec<_> = events.iter().filter(|e| e.event == "password_reset").collect();
    assert_eq!(resets.len(), 2);
    assert!(resets.iter().all(|e| e.username == "hlt.admin" && e.target == "account hlt.user" && e.detail == reason));
    assert!(!events.iter().any(|e| e.detail.contains("/activate/")), "the link is never recorded");
}

/// A link issued before an account was disabled does not enable it again; a disabled account is
/// not reset (R-ACC-2: an approved application enables it). The page shows the link once.
#[tokio::test]
async fn r_acc_4_a_reset_link_does_not_enable_a_disabled_account() {
    let t = TestApp::demo().await;
    let id = t.account_id("hlt.user").await;
    let mut web = t.browser_as("hlt.admin").await;
    let unit = format!("/org/{}", t.node("HLT").await);
    assert!(web.get(&unit).await.body.contains(&format!("/accounts/{id}/password-reset")));
    let r =
        web.submit(&unit, &format!("/accounts/{id}/password-reset"), &[("reason", "疑似密碼外洩，先行重設密碼")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"activation-link\""), "{}", r.body);
    let link = r.body.split("<pre id=\"activation-link\">").nth(1).unwrap().split("</pre>").next().unwrap().to_owned();
    t.set_account_status("hlt.user", "disabled", None).await;
    let (status, body) = activate(&t, &link, "Sun-Moon-Lake-115").await;
    assert_eq!(status, 200, "{body}");
    let a = t.app.db().account(id).await.unwrap();
    assert_eq!(a.status, "disabled", "still disabled");
    let r = t
        .client()
        .post_json("/api/v1/session", &json!({"username": "hlt.user", "password": "Sun-Moon-Lake-115"}))
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .api_as("hlt.admin")
        .await
        .post_json(&format!("/api/v1/accounts/{id}/password-reset"), &json!({"reason": "疑似密碼外洩，先行重設密碼"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

/// R-ACC-2, R-ACC-5: an account enabled again holds what its application listed and the supervisor
/// approved — not the roles and grants it kept while disabled — and is not enabled beside another
/// account of the same person.
#[tokio::test]
async fn r_acc_2_r_acc_5_a_re_enabled_account_holds_only_what_was_approved() {
    let t = TestApp::demo().await;
    let account = t.account_id("hlt.user").await;
    let before = t.app.db().grants_of(account).await.unwrap();
    assert!(before.len() > 1, "the demo user holds several grants: {before:?}");
    // Disabled by a date: roles and grants stay on the row.
    t.set_account_status("hlt.user", "disabled", None).await;
    let person = t.app.db().account(account).await.unwrap().person_ref;
    let grant = pair(&t, 3, "INS01").await;
    let mut admin = t.api_as("hlt.admin").await;
    let file = |roles: &[&str]| {
        json!({"kind": "reenable", "person_ref": person, "account_id": account, "roles": roles,
               "grants": [grant.clone()], "reason": "留職停薪期滿復職，恢復辦理長者健檢業務", "pledge": true})
    };
    let r = admin.post_json("/api/v1/applications", &file(&[])).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("roles")), "{}", r.body);
    let r = admin.post_json("/api/v1/applications", &file(&["user"])).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    admin.post_json(&format!("/api/v1/applications/{id}/submit"), &json!({})).await;
    let r = t.api_as("hlt.chief").await.post_json(&format!("/api/v1/applications/{id}/approve"), &json!({})).await;
    assert_eq!(r.json()["state"], "approved", "{}", r.body);
    // One filed before re-enables listed their rights (as a database from before holds them):
    // nothing approved to give, so it is not carried out.
    let mut raw = t.raw().await;
    let set = |roles: &str| format!("UPDATE applications SET roles = '{roles}' WHERE id = {id}");
    sqlx::query(sqlx::AssertSqlSafe(set(""))).execute(&mut raw).await.unwrap();
    let r = admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(t.app.db().account(account).await.unwrap().status, "disabled");
    sqlx::query(sqlx::AssertSqlSafe(set("user"))).execute(&mut raw).await.unwrap();
    let r = admin.post_json(&format!("/api/v1/applications/{id}/carry-out"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = t.app.db().account(account).await.unwrap();
    assert_eq!(a.status, "active");
    assert_eq!(a.roles, vec![nhiguard_domain::role::Role::User]);
    let held: Vec<String> = t
        .app
        .db()
        .grants_of(account)
        .await
        .unwrap()
        .iter()
        .map(|g| format!("{}:{}", g.purpose_id, g.operation_id))
        .collect();
    assert_eq!(held, vec![grant.clone()], "only the approved grant");

    // One person, one account: not enabled again beside another of the same person.
    t.set_account_status("hlt.user", "disabled", None).await;
    let mut tx = t.app.db().begin().await.unwrap();
    let other = nhiguard_store::NewAccount {
        username: "hlt.user2".into(),
        person_ref: person,
        status: "active".into(),
        roles: vec![nhiguard_domain::role::Role::User],
    };
    tx.insert_account(&other, crate::support::start_time()).await.unwrap();
    tx.commit().await.unwrap();
    let r = admin.post_json("/api/v1/applications", &file(&["user"])).await;
    assert_eq!(r.status, 409, "{}", r.body);
}
