//! Sign-in, sessions, lockout, CSRF and activation (R-ACC-4, R-ACC-6, R-ACC-10).

use crate::support::{PASSWORD, TestApp};

async fn events(t: &TestApp) -> Vec<(String, String, String)> {
    t.app.recent_events(200).await.unwrap().into_iter().map(|e| (e.event, e.username, e.detail)).collect()
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_401_with_the_same_message_and_are_recorded() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    let wrong =
        c.post_json("/api/v1/session", &serde_json::json!({"username": "soc.user", "password": "Nope-Nope-123"})).await;
    let unknown =
        c.post_json("/api/v1/session", &serde_json::json!({"username": "nobody", "password": PASSWORD})).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(
        wrong.json()["error"]["message_zh"],
        unknown.json()["error"]["message_zh"],
        "no hint which usernames exist"
    );
    assert_eq!(wrong.json()["error"]["code"], "NG-AUTH");
    assert!(!wrong.body.contains("Nope-Nope-123"));
    let ev = events(&t).await;
    assert!(ev.iter().any(|(k, u, _)| k == "sign_in_failed" && u == "soc.user"));
    assert!(ev.iter().any(|(k, u, d)| k == "sign_in_failed" && u == "nobody" && d == "unknown username"));
    assert!(
        ev.iter().all(|(_, _, d)| !d.contains(PASSWORD) && !d.contains("Nope-Nope-123")),
        "no password in the record"
    );
}

#[tokio::test]
async fn r_acc_6_five_failures_lock_the_account_for_fifteen_minutes() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    for _ in 0..5 {
        let r = c
            .post_json("/api/v1/session", &serde_json::json!({"username": "tax.user", "password": "Wrong-Pass-999"}))
            .await;
        assert_eq!(r.status, 401);
    }
    // The right password does not help while locked.
    let r = c.post_json("/api/v1/session", &serde_json::json!({"username": "tax.user", "password": PASSWORD})).await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("鎖定"), "{}", r.body);
    assert!(events(&t).await.iter().any(|(k, u, _)| k == "lockout" && u == "tax.user"));
    t.clock.advance(chrono::Duration::minutes(16));
    let r = c.post_json("/api/v1/session", &serde_json::json!({"username": "tax.user", "password": PASSWORD})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn disabled_pending_and_past_disable_date_accounts_cannot_sign_in() {
    let t = TestApp::demo().await;
    t.set_account_status("civ.user", "disabled", None).await;
    t.set_account_status("pl.user", "pending", None).await;
    let today = nhiguard_domain::roc::taipei_date(t.clock_now());
    t.set_account_status("ct.user", "active", Some(today)).await;
    let mut c = t.client();
    for (user, word) in [("civ.user", "停用"), ("pl.user", "尚未啟用"), ("ct.user", "停用日")] {
        let r = c.post_json("/api/v1/session", &serde_json::json!({"username": user, "password": PASSWORD})).await;
        assert_eq!(r.status, 401, "{user}");
        assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains(word), "{user}: {}", r.body);
    }
}

#[tokio::test]
async fn r_acc_7_a_session_stops_working_when_the_account_is_disabled_or_reaches_its_disable_date() {
    let t = TestApp::demo().await;
    let mut c = t.api_as("soc.user").await;
    assert_eq!(c.get("/api/v1/me").await.status, 200);
    let tomorrow = nhiguard_domain::roc::taipei_date(t.clock_now()).succ_opt().unwrap();
    t.set_account_status("soc.user", "active", Some(tomorrow)).await;
    assert_eq!(c.get("/api/v1/me").await.status, 200);
    // 00:00 Taipei on the disable date is 16:00 UTC the day before: at 23:50 it still works.
    t.clock.advance(chrono::Duration::hours(13) + chrono::Duration::minutes(50));
    let mut c = t.api_as("soc.user").await;
    assert_eq!(c.get("/api/v1/me").await.status, 200, "still the day before in Taipei");
    t.clock.advance(chrono::Duration::minutes(11));
    let r = c.get("/api/v1/me").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("停用日"));
}

#[tokio::test]
async fn sessions_expire_after_the_idle_timeout_and_sign_out_ends_them() {
    let t = TestApp::demo().await;
    let mut api = t.api_as("hlt.user").await;
    t.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(api.get("/api/v1/me").await.status, 200, "activity keeps it alive");
    t.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(api.get("/api/v1/me").await.status, 200);
    t.clock.advance(chrono::Duration::minutes(16));
    let r = api.get("/api/v1/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let mut api = t.api_as("hlt.user").await;
    assert_eq!(api.request("DELETE", "/api/v1/session", None, "").await.status, 204);
    assert_eq!(api.get("/api/v1/me").await.status, 401);

    let mut web = t.browser_as("hlt.user").await;
    assert_eq!(web.get("/").await.status, 200);
    let r = web.submit("/", "/signout", &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/signin")));
    assert_eq!(web.get("/").await.status, 303, "signed out: back to the sign-in page");
}

#[tokio::test]
async fn a_web_session_cookie_is_not_an_api_token_and_vice_versa() {
    let t = TestApp::demo().await;
    let web = t.browser_as("soc.user").await;
    let token = web.cookies.get("nhiguard_session").unwrap().clone();
    let mut c = t.client();
    c.bearer = Some(token);
    assert_eq!(c.get("/api/v1/me").await.status, 401);
    let api = t.api_as("soc.user").await;
    let mut c = t.client();
    c.cookies.insert("nhiguard_session".into(), api.bearer.unwrap());
    assert_eq!(c.get("/").await.status, 303);
}

#[tokio::test]
async fn cookies_are_httponly_and_samesite_strict() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    let page = c.get("/signin").await;
    let pre = page.headers_named("set-cookie").join("\n");
    assert!(pre.contains("nhiguard_pre=") && pre.contains("HttpOnly") && pre.contains("SameSite=Strict"));
    let r = c.sign_in("soc.user", PASSWORD).await;
    let set =
        r.headers_named("set-cookie").into_iter().find(|c| c.starts_with("nhiguard_session=")).unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
}

#[tokio::test]
async fn forms_without_or_with_a_forged_csrf_token_are_refused_change_nothing_and_are_recorded() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    // Sign-in form: no token, then a token that is not the cookie's.
    c.get("/signin").await;
    let r = c.post_form("/signin", &[("username", "soc.user"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 403);
    let r = c.post_form("/signin", &[("csrf", "forged"), ("username", "soc.user"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF"));
    assert!(!c.cookies.contains_key("nhiguard_session"));

    let mut admin = t.browser_as("plan.admin").await;
    let before = t.app.db().purposes().await.unwrap().len();
    let r = admin.post_form("/purposes", &[("csrf", "forged"), ("name_zh", "偽造"), ("legal_basis", "無")]).await;
    assert_eq!(r.status, 403);
    let r = admin.post_form("/purposes", &[("name_zh", "偽造"), ("legal_basis", "無")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(t.app.db().purposes().await.unwrap().len(), before, "nothing changed");
    let ev = events(&t).await;
    assert!(ev.iter().filter(|(k, _, _)| k == "csrf_refused").count() >= 4);
}

#[tokio::test]
async fn r_acc_4_init_issues_a_one_time_link_the_owner_sets_the_password_and_the_link_dies() {
    let t = TestApp::empty().await;
    let out = t.app.init_deployment("南投縣政府", "admin", "王大明", "NT-9001").await.unwrap();
    let token = out.activation_url.rsplit('/').next().unwrap().to_owned();
    assert!(out.activation_url.starts_with(&format!("http://{}/activate/", t.addr)));
    // Nobody has a password yet: sign-in is refused.
    let mut c = t.client();
    assert_eq!(c.sign_in("admin", "Anything-123x").await.status, 401);
    // A second init is refused.
    assert!(t.app.init_deployment("南投縣政府", "admin2", "李", "NT-9002").await.is_err());

    let path = format!("/activate/{token}");
    let page = c.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("admin"));
    let csrf = page.csrf();
    // A form whose token went stale (another tab replaced it) is refused and recorded, without
    // the link's token: whoever reads the log must not be able to set the password.
    let r = c.post_form(&path, &[("csrf", "stale"), ("password", "x"), ("confirm", "x")]).await;
    assert_eq!(r.status, 403);
    let refused = t.app.recent_events(10).await.unwrap();
    let refusal = refused.iter().find(|e| e.event == "csrf_refused").expect("the refusal is recorded");
    assert_eq!(refusal.target, "/activate/…");
    let rows = t.app.db().ledger_rows(0, 10_000).await.unwrap();
    assert!(!rows.iter().any(|r| r.body.windows(token.len()).any(|w| w == token.as_bytes())), "nowhere in the log");
    for (pw, rule) in [("short1A", "至少需 12"), ("alllowercase1234", "大寫"), ("Admin-Password-1", "帳號或姓名")]
    {
        let r = c.post_form(&path, &[("csrf", &csrf), ("password", pw), ("confirm", pw)]).await;
        assert_eq!(r.status, 422, "{pw}");
        assert!(r.body.contains(rule), "{pw}: {}", r.body);
    }
    let r = c
        .post_form(&path, &[("csrf", &csrf), ("password", "Sun-Moon-Lake-115"), ("confirm", "Sun-Moon-Lake-116")])
        .await;
    assert_eq!(r.status, 422);
    let r = c
        .post_form(&path, &[("csrf", &csrf), ("password", "Sun-Moon-Lake-115"), ("confirm", "Sun-Moon-Lake-115")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.sign_in("admin", "Sun-Moon-Lake-115").await.status, 303);

    let mut other = t.client();
    let again = other.get(&path).await;
    assert_eq!(again.status, 409, "used link");
    assert!(again.body.contains("已使用"));
    assert_eq!(other.get("/activate/not-a-real-token").await.status, 404);
    let ev = events(&t).await;
    assert!(ev.iter().any(|(k, u, _)| k == "activation" && u == "admin"));
    assert!(ev.iter().all(|(_, _, d)| !d.contains(&token)), "the token is not recorded");
}

#[tokio::test]
async fn r_acc_4_an_activation_link_expires_after_24_hours() {
    let t = TestApp::empty().await;
    let out = t.app.init_deployment("南投縣政府", "admin", "王大明", "NT-9001").await.unwrap();
    let path = out.activation_url.split(&t.addr.to_string()).nth(1).unwrap().to_owned();
    t.clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let mut c = t.client();
    let r = c.get(&path).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("逾期"));
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl ClockNow for TestApp {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use nhiguard_domain::clock::Clock;
        self.clock.now()
    }
}

/// The current six digits of a base32 secret at the test clock's time.
fn totp_now(t: &TestApp, secret: &str) -> String {
    let key = nhiguard_domain::totp::base32_decode(secret).unwrap();
    let step = nhiguard_domain::totp::step_of(t.app.now().timestamp());
    format!("{:06}", nhiguard_domain::totp::code_at_step(&key, step))
}

#[tokio::test]
async fn r_acc_6_the_optional_second_factor_is_needed_at_sign_in_once_set_up_and_each_code_works_once() {
    let t = TestApp::demo().await;
    let mut c = t.api_as("soc.user").await;
    let setup = c.post_json("/api/v1/me/totp", &serde_json::json!({})).await.json();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert!(setup["uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    let raw: Vec<u8> = {
        let mut db = t.raw().await;
        sqlx::query_scalar::<_, Vec<u8>>("SELECT totp_pending_secret FROM accounts WHERE username = 'soc.user'")
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    assert!(!raw.windows(20).any(|w| w == nhiguard_domain::totp::base32_decode(&secret).unwrap()), "sealed at rest");
    // Not in force until a code from it is confirmed.
    let sign = |totp: &str| serde_json::json!({"username": "soc.user", "password": PASSWORD, "totp": totp});
    assert_eq!(t.client().post_json("/api/v1/session", &sign("")).await.status, 200);
    let r = c.put_json("/api/v1/me/totp", &serde_json::json!({"code": "000000"})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("code")));
    let code = totp_now(&t, &secret);
    assert_eq!(c.put_json("/api/v1/me/totp", &serde_json::json!({"code": code})).await.status, 204);
    // Now a sign-in needs it, and the code used to confirm does not work again.
    let r = t.client().post_json("/api/v1/session", &sign("")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.json()["error"]["message_zh"].as_str().unwrap().starts_with("帳號或密碼錯誤"),
        "the same as a wrong password"
    );
    assert_eq!(t.client().post_json("/api/v1/session", &sign(&code)).await.status, 401, "replayed");
    t.clock.advance(chrono::Duration::seconds(30));
    let fresh = totp_now(&t, &secret);
    assert_eq!(t.client().post_json("/api/v1/session", &sign(&fresh)).await.status, 200);
    // Through the sign-in page too.
    t.clock.advance(chrono::Duration::seconds(30));
    let mut web = t.client();
    let page = web.get("/signin").await;
    assert!(page.body.contains("name=\"totp\""));
    let r = web
        .submit(
            "/signin",
            "/signin",
            &[("username", "soc.user"), ("password", PASSWORD), ("totp", &totp_now(&t, &secret))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(web.get("/password").await.body.contains("totp-on"));
    // Moving to another authenticator needs a code from this one, and until the new one is
    // confirmed the old one stays in force.
    let r = c.post_json("/api/v1/me/totp", &serde_json::json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("code")));
    t.clock.advance(chrono::Duration::seconds(30));
    let r = c.post_json("/api/v1/me/totp", &serde_json::json!({"code": totp_now(&t, &secret)})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.client().post_json("/api/v1/session", &sign("")).await.status, 401, "still on while moving");
    // A lost phone: the admin resets it, another agency's admin may not.
    let account = t.account_id("soc.user").await;
    let mut other = t.api_as("hlt.admin").await;
    assert_eq!(
        other.post_json(&format!("/api/v1/accounts/{account}/totp-reset"), &serde_json::json!({})).await.status,
        403
    );
    let mut admin = t.api_as("soc.admin").await;
    let reset = format!("/api/v1/accounts/{account}/totp-reset");
    // R-ACC-10: with a reason.
    let r = admin.post_json(&reset, &serde_json::json!({})).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("reason")), "{}", r.body);
    let why = "本人手機遺失，經電話確認身分後重設";
    assert_eq!(admin.post_json(&reset, &serde_json::json!({"reason": why})).await.status, 204);
    assert_eq!(t.client().post_json("/api/v1/session", &sign("")).await.status, 200, "off after the reset");
    let events = t.app.recent_events(50).await.unwrap();
    assert!(events.iter().any(|e| e.event == "totp" && e.detail == format!("reset by admin: {why}")));
    assert!(events.iter().any(|e| e.event == "totp" && e.detail == "enabled"));
    assert!(
        events
            .iter()
            .any(|e| e.event == "sign_in_failed" && e.detail.starts_with("wrong or reused second-factor code"))
    );
}

#[tokio::test]
async fn r_acc_6_a_setting_requires_admins_to_set_up_the_second_factor_before_anything_else() {
    let t = TestApp::with_settings(|s| s.totp_required_for_admins = true).await;
    t.app.fill_demo().await.unwrap();
    let mut admin = t.browser_as("hlt.admin").await;
    let r = admin.get("/org").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/password")));
    assert!(admin.get("/password").await.body.contains("totp-required"));
    let mut api = t.api_as("hlt.admin").await;
    assert_eq!(api.get("/api/v1/org").await.status, 403);
    let secret =
        api.post_json("/api/v1/me/totp", &serde_json::json!({})).await.json()["secret"].as_str().unwrap().to_owned();
    let code = totp_now(&t, &secret);
    assert_eq!(api.put_json("/api/v1/me/totp", &serde_json::json!({"code": code})).await.status, 204);
    assert_eq!(api.get("/api/v1/org").await.status, 200, "set up: everything works again");
    let mut user = t.browser_as("hlt.user").await;
    assert_eq!(user.get("/org").await.status, 200, "users are not required to");
}

/// The session, its account and every one of the account's roles come from one read, on every request,
/// so that a change of permissions (R-ACC-2) holds from the very next request.
#[tokio::test]
async fn r_acc_2_a_session_brings_all_its_account_roles_and_a_removed_one_is_gone_at_once() {
    let t = TestApp::demo().await;
    let mut c = t.api_as("soc.reviewer").await;
    let me = c.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    let mut roles: Vec<String> =
        me.json()["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
    roles.sort();
    let mut expected = vec![
        nhiguard_domain::role::Role::Reviewer.code().to_owned(),
        nhiguard_domain::role::Role::User.code().to_owned(),
    ];
    expected.sort();
    assert_eq!(roles, expected);
    assert_eq!(me.json()["username"], "soc.reviewer");
    // A role taken away in the database is gone on the very next request.
    let mut raw = t.raw().await;
    sqlx::query("DELETE FROM account_roles WHERE account_id = $1 AND role = $2")
        .bind(me.json()["id"].as_i64().unwrap())
        .bind(nhiguard_domain::role::Role::Reviewer.code())
        .execute(&mut raw)
        .await
        .unwrap();
    let me = c.get("/api/v1/me").await;
    assert_eq!(me.json()["roles"], serde_json::json!([nhiguard_domain::role::Role::User.code()]));
    // An account with no role left still has a session that says so, rather than none.
    sqlx::query("DELETE FROM account_roles WHERE account_id = $1")
        .bind(me.json()["id"].as_i64().unwrap())
        .execute(&mut raw)
        .await
        .unwrap();
    let me = c.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["roles"], serde_json::json!([]));
}
