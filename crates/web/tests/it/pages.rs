//! The pages as a person meets them: Traditional Chinese by default with an English switch, ROC
//! dates, security headers, and health, metrics and the OpenAPI document.

use crate::support::TestApp;

#[tokio::test]
async fn pages_are_traditional_chinese_first_with_roc_dates_and_an_english_switch() {
    let t = TestApp::demo().await;
    let mut c = t.browser_as("hlt.admin").await;
    let home = c.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("lang=\"zh-TW\""));
    assert!(home.body.contains("民國115年11月27日"), "today in the ROC calendar");
    assert!(home.body.contains("南投縣政府 › 衛生局"));
    let r = c.get("/lang?to=en&back=/org").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/org")));
    let org = c.get("/org").await;
    assert!(org.body.contains("lang=\"en\"") && org.body.contains("Public Health Bureau"), "{}", org.body);
    let purposes = c.get("/purposes").await;
    assert!(purposes.body.contains("Legal basis"));
    let linkages = c.get("/linkages").await;
    assert!(linkages.body.contains("105/09/01"), "approval dates in ROC form");
    // The switch never redirects off-site.
    assert_eq!(c.get("/lang?to=zh-TW&back=//evil.example").await.header("location"), Some("/"));
    for other_site in ["/%5Cevil.example", "/%09/evil.example", "/%0A", "https://evil.example", "/%5C%5Cevil"] {
        let r = c.get(&format!("/lang?to=zh-TW&back={other_site}")).await;
        assert_eq!((r.status, r.header("location")), (303, Some("/")), "{other_site}");
    }
    let r = c.get("/lang?to=zh-TW&back=/querylog%3Ffrom%3D115%2F11%2F01").await;
    assert_eq!(r.header("location"), Some("/querylog?from=115/11/01"), "a local path with its query goes back");
}

/// An address the framework cannot read (a word where a number goes, a query string of the wrong
/// kind) is answered as the product answers: bilingual, Chinese first, a page or the API's body.
#[tokio::test]
async fn an_unreadable_address_is_answered_in_chinese_first_not_with_the_frameworks_text() {
    let t = TestApp::demo().await;
    let mut web = t.browser_as("hlt.admin").await;
    let r = web.get("/org/abc").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("網址中的編號有誤") && !r.body.contains("Cannot parse"), "{}", r.body);
    let mut api = t.api_as("soc.user").await;
    let r = api.get("/api/v1/batches/abc").await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("NG-NOTFOUND")), "{}", r.body);
    let mut reviewer = t.browser_as("soc.reviewer").await;
    let r = reviewer.get("/dashboard?agency=abc").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("網址中的查詢條件有誤"), "{}", r.body);
    let r = t.api_as("soc.reviewer").await.get("/api/v1/query-log?agency_id=abc").await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("NG-INPUT")), "{}", r.body);
    // A form whose number field holds a word, or that lacks one: said in Chinese first.
    let mut plan = t.browser_as("plan.admin").await;
    let r = plan.submit("/calendar", "/calendar", &[("year", "二〇二六"), ("text", "")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("表單中有欄位的格式不符"), "{}", r.body);
    let r = plan.submit("/calendar", "/calendar", &[("text", "")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("表單缺少欄位「year」"), "{}", r.body);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    for path in ["/signin", "/healthz", "/api/v1/openapi.json", "/no-such-page"] {
        let r = c.get(path).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(c.get("/no-such-page").await.status, 404);
    let signin = c.get("/signin").await.body;
    assert!(!signin.contains("<script>") && !signin.contains("style=\""), "no inline script or style");
}

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    let h = c.get("/healthz").await;
    assert_eq!((h.status, h.body.trim()), (200, "ok"));
    c.get("/signin").await;
    let m = c.get("/metrics").await;
    assert!(m.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(m.body.contains("nhiguard_http_requests_total{class=\"2xx\"}"));
    assert!(m.body.contains("nhiguard_database_up{backend=\""));
    let doc = c.get("/api/v1/openapi.json").await.json();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    for path in [
        "/api/v1/session",
        "/api/v1/org/{id}",
        "/api/v1/purposes",
        "/api/v1/linkages",
        "/api/v1/queries",
        "/api/v1/reviews/{id}",
        "/api/v1/investigations/{id}/conclude",
        "/api/v1/account-reviews/{id}/apply",
        "/api/v1/me/totp",
        "/api/v1/ledger/entries/{seq}/proof",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    // Every schema a path refers to is in the document.
    let text = doc.to_string();
    for reference in text.split("#/components/schemas/").skip(1) {
        let name: String = reference.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        assert!(doc["components"]["schemas"][&name].is_object(), "schema {name} is defined");
    }
}

#[tokio::test]
async fn the_planning_admin_retires_a_purpose_through_the_pages() {
    let t = TestApp::demo().await;
    let mut c = t.browser_as("plan.admin").await;
    let list = c.get("/purposes").await;
    assert!(list.body.contains("役男徵兵處理業務"));
    let five = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == 5).unwrap().id;
    let page = format!("/purposes/{five}");
    let r = c.submit(&page, &format!("/purposes/{five}/status"), &[("status", "retired")]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(page.as_str())));
    let after = c.get(&page).await;
    assert!(after.body.contains("已廢止") && after.body.contains("retire"), "history shows the retirement");
    // A user sees the catalogue but no edit forms.
    let mut user = t.browser_as("tax.user").await;
    let p = user.get(&page).await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains(&format!("/purposes/{five}/status")));
    let r = user.submit("/purposes", &format!("/purposes/{five}/status"), &[("status", "active")]).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_failed_page_sign_in_says_why_and_keeps_the_username() {
    let t = TestApp::demo().await;
    let mut c = t.client();
    let r = c.sign_in("soc.user", "wrong-Password-1").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("帳號或密碼錯誤") && r.body.contains("value=\"soc.user\""));
    assert!(!r.body.contains("wrong-Password-1"));
}
