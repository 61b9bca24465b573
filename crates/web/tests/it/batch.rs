//! Batch queries (R-QRY-4): the whole file checked first, each subject its own ledger entry, the
//! result file sealed and downloadable by its owner only, each download recorded.

use std::time::{Duration, Instant};

use nhiguard_ledger::{Entry, EntryKind};
use serde_json::Value;

use crate::support::{Client, TestApp};

const REASON: &str = "兒少保護個案名冊逐一確認投保狀態";

async fn ids(t: &TestApp) -> (i64, i64) {
    let p = t.app.db().purposes().await.unwrap().into_iter().find(|p| p.number == 8).unwrap().id;
    let o = t.app.db().operations().await.unwrap().into_iter().find(|o| o.code == "INS01").unwrap().id;
    (p, o)
}

async fn upload(c: &mut Client, t: &TestApp, file_name: &str, body: &[u8]) -> crate::support::Response {
    let (p, o) = ids(t).await;
    let q = format!(
        "/api/v1/batches?purpose_id={p}&operation_id={o}&case_number=113-%E5%85%92%E4%BF%9D-77&reason={}&file_name={file_name}",
        urlencode(REASON)
    );
    c.request_bytes("POST", &q, Some("text/csv"), body).await
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Waits until the batch is done (bounded).
async fn finished(c: &mut Client, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = c.get(&format!("/api/v1/batches/{id}")).await.json();
        if b["state"] == "done" {
            return b;
        }
        assert!(Instant::now() < deadline, "batch {id} did not finish: {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the batch's first chunk is out: its queries recorded, the lookups on their way (bounded).
async fn first_chunk_sent(t: &TestApp, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.app.db().batch_items(id, 0, 10).await.unwrap().iter().any(|i| i.query_seq.is_none()) {
        assert!(Instant::now() < deadline, "the batch never sent its first chunk");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every ledger entry, decoded.
async fn ledger(t: &TestApp) -> Vec<Entry> {
    t.app.db().ledger_rows(0, 100_000).await.unwrap().iter().map(|r| Entry::decode(&r.body).unwrap()).collect()
}

/// Uploads a file of these IDs and gives the batch's id.
async fn upload_ids(c: &mut Client, t: &TestApp, ids: &[String]) -> i64 {
    let csv = format!("身分證號\n{}\n", ids.join("\n"));
    let r = upload(c, t, "list.csv", csv.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn r_qry_4_each_subject_of_a_batch_is_its_own_query_and_the_result_file_is_recorded_when_downloaded() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(3);
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    let csv = format!("身分證號,備註\n{}\n{},第二位\n{},\"含,逗號\"\n", known[0], known[1], known[2]);
    let r = upload(&mut c, &t, "list.csv", csv.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let b = finished(&mut c, id).await;
    assert_eq!((b["total"].as_u64(), b["answered"].as_u64()), (Some(3), Some(3)), "{b}");
    assert_eq!(t.nhia.requests_seen(), seen + 3);
    let rows = t.app.db().ledger_rows(0, 100_000).await.unwrap();
    let entries: Vec<Entry> = rows.iter().map(|r| Entry::decode(&r.body).unwrap()).collect();
    let queries: Vec<&Entry> =
        entries.iter().filter(|e| e.kind() == EntryKind::Query && e.field("batch") == Some(&id.to_string())).collect();
    assert_eq!(queries.len(), 3, "one ledger entry per subject");
    assert!(queries.iter().all(|q| q.field("case_number") == Some("113-兒保-77") && q.field("reason") == Some(REASON)));
    let file = c.get(&format!("/api/v1/batches/{id}/result.csv")).await;
    assert_eq!(file.status, 200);
    assert!(file.body.starts_with('\u{feff}'), "UTF-8 BOM for Excel");
    assert!(file.body.contains("投保狀態") && file.body.contains(&known[1]));
    // Dates as on screen (ROC, 115/03/01), not as NHIA sends them (2026-03-01).
    let cells: Vec<&str> = file.body.lines().skip(1).flat_map(|l| l.split(',')).collect();
    assert!(cells.iter().all(|c| chrono::NaiveDate::parse_from_str(c, "%Y-%m-%d").is_err()), "{}", file.body);
    let roc = |c: &&str| c.split('/').count() == 3 && c.split('/').all(|p| p.parse::<u32>().is_ok());
    assert!(cells.iter().any(roc), "{}", file.body);
    let downloads = t.app.db().ledger_recent(&["export"], 10).await.unwrap();
    assert_eq!(downloads.len(), 1);
    // Only its owner sees it.
    let mut other = t.api_as("soc.reviewer").await;
    assert_eq!(other.get(&format!("/api/v1/batches/{id}")).await.status, 403);
    assert_eq!(other.get(&format!("/api/v1/batches/{id}/result.csv")).await.status, 403);
    // The rows' sealed subjects are cleared once the file is built.
    let items = t.app.db().batch_items(id, 0, 10).await.unwrap();
    assert!(items.iter().all(|i| i.subject_ciphertext.is_none() && i.answer_ciphertext.is_none()));
}

#[tokio::test]
async fn r_qry_4_a_file_with_any_bad_row_is_refused_whole_and_nothing_is_sent() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(2);
    let mut c = t.api_as("soc.user").await;
    let seen = t.nhia.requests_seen();
    let big5: &[u8] = &[
        0xa8, 0xad, 0xa4, 0xc0, 0xc3, 0xd2, 0xb8, 0xb9, b'\n', b'A', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8',
        b'9', b'\n',
    ];
    let garbage: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        ("bad.csv".into(), format!("身分證號\n{}\nA123456788\n{}\n", known[0], known[1]).into_bytes(), "第 3 列"),
        (
            "twice.csv".into(),
            format!("身分證號\n{}\n{}\n{}\n", known[0], known[1], known[0]).into_bytes(),
            "第 4 列：與第 2 列為同一人",
        ),
        ("formula.csv".into(), format!("身分證號\n{}\n=cmd|' /C calc'!A0\n", known[0]).into_bytes(), "公式"),
        (
            "formula-note.csv".into(),
            format!("身分證號,備註\n{},=cmd|' /C calc'!A0\n{},-\n", known[0], known[1]).into_bytes(),
            "第 2 列：「備註」欄的儲存格是公式",
        ),
        ("filtered.ods".into(), include_bytes!("../fixtures/filtered.ods").to_vec(), "第 3 列：此列被隱藏或篩選掉了"),
        ("header.csv".into(), format!("姓名\n{}\n", known[0]).into_bytes(), "身分證號欄位"),
        ("big5.csv".into(), big5.to_vec(), "Big5"),
        ("garbage.csv".into(), garbage, "不是文字檔"),
        ("empty.csv".into(), "身分證號\n".as_bytes().to_vec(), "檔案沒有任何身分證號"),
    ];
    for (name, body, says) in &cases {
        let r = upload(&mut c, &t, name, body).await;
        assert_eq!(r.status, 422, "{name}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], "file", "{name}");
        assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains(says), "{name}: {}", r.body);
    }
    // Each refused file is a refused query in the log, with its case number and without its contents.
    let refused: Vec<Entry> = t
        .app
        .db()
        .ledger_rows(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| Entry::decode(&r.body).unwrap())
        .filter(|e| e.kind() == EntryKind::Query && e.field("outcome") == Some("refused"))
        .collect();
    assert_eq!(refused.len(), cases.len());
    assert!(refused.iter().all(|e| e.field("refusal") == Some("batch: invalid file")
        && e.field("case_number") == Some("113-兒保-77")
        && e.field("subject_masked") == Some("")));
    // Over the limit: refused before it is read, with a message that says so and what to do.
    let (p, o) = ids(&t).await;
    let q = format!("/api/v1/batches?purpose_id={p}&operation_id={o}&case_number=113-1&reason=x&file_name=huge.csv");
    let r = c.request_announcing("POST", &q, Some("text/csv"), 12 << 20).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["error"]["message_zh"].as_str().unwrap().contains("10 MiB"), "{}", r.body);
    // Recorded as a refused query, with the case number and reason that came beside the file.
    let too_large: Vec<Entry> = ledger(&t)
        .await
        .into_iter()
        .filter(|e| e.kind() == EntryKind::Query && e.field("refusal") == Some("batch: file too large"))
        .collect();
    assert_eq!(too_large.len(), 1);
    assert_eq!((too_large[0].field("case_number"), too_large[0].field("reason")), (Some("113-1"), Some("x")));
    assert_eq!(t.nhia.requests_seen(), seen, "nothing reached NHIA");
    assert!(t.app.db().batches_of(t.account_id("soc.user").await).await.unwrap().is_empty(), "nothing was queued");
    // A refused purpose is refused for a batch too, and recorded.
    let mut tax = t.api_as("tax.user").await;
    let r = upload(&mut tax, &t, "ok.csv", format!("身分證號\n{}\n", known[0]).as_bytes()).await;
    assert_eq!(r.status, 403);
    // Ordinary notes in another column are not formulas: a blank "-", phone numbers, dashes, handles.
    let more = t.app.sandbox_examples(7);
    let notes = ["-", "+886-912-345-678", "-無-", "@nantou", "-1,000"];
    let lines: String = notes.iter().zip(&more[2..]).map(|(n, id)| format!("{id},\"{n}\"\n")).collect();
    let r = upload(&mut c, &t, "notes.csv", format!("身分證號,備註\n{lines}").as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn a_user_runs_a_small_batch_through_the_pages() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(2);
    let mut web = t.browser_as("soc.user").await;
    let page = web.get("/batches").await;
    assert_eq!(page.status, 200);
    let (p, o) = ids(&t).await;
    let csrf = page.csrf();
    let boundary = "nhiguardboundary";
    let mut body = String::new();
    for (k, v) in
        [("csrf", csrf.as_str()), ("choice", &format!("{p}:{o}")), ("case_number", "113-兒保-88"), ("reason", REASON)]
    {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n身分證號\n{}\n{}\n\r\n--{boundary}--\r\n",
        known[0], known[1]
    ));
    let r = web.request("POST", "/batches", Some(&format!("multipart/form-data; boundary={boundary}")), &body).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let at = r.header("location").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = web.get(&at).await;
        if p.body.contains("download-csv") {
            assert!(p.body.contains("2 / 2"));
            break;
        }
        assert!(Instant::now() < deadline, "{}", p.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ods = web.get(&format!("{at}/result.ods")).await;
    assert_eq!(ods.status, 200);
    assert_eq!(ods.header("content-type"), Some("application/vnd.oasis.opendocument.spreadsheet"));
    // Without the form's token: refused.
    let forged = body.replace(&csrf, "forged");
    assert_eq!(
        web.request("POST", "/batches", Some(&format!("multipart/form-data; boundary={boundary}")), &forged)
            .await
            .status,
        403
    );
    // Over the limit: refused by its announced length, before it is read.
    let r = web.request_announcing("POST", "/batches", Some("multipart/form-data; boundary=x"), 12 << 20).await;
    assert_eq!(r.status, 413);
    assert!(r.body.contains("10 MiB"), "{}", r.body);
    // Recorded as a refused query, with who tried (the form's fields were inside the body never read).
    let tried: Vec<Entry> = ledger(&t)
        .await
        .into_iter()
        .filter(|e| e.kind() == EntryKind::Query && e.field("refusal") == Some("batch: file too large"))
        .collect();
    assert_eq!(tried.len(), 1, "the refused upload is in the log");
    assert_eq!(tried[0].actor(), "soc.user");
    // R-DAT-1: the owner destroys the file early; the destruction is recorded, the file is gone.
    let id: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let mut other = t.api_as("soc.reviewer").await;
    assert_eq!(other.request_bytes("DELETE", &format!("/api/v1/batches/{id}"), None, b"").await.status, 403);
    let r = web.submit(&at, &format!("{at}/delete"), &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(at.as_str())), "{}", r.body);
    let p = web.get(&at).await;
    assert!(p.body.contains("batch-destroyed") && !p.body.contains("download-csv"), "{}", p.body);
    assert_eq!(web.get(&format!("{at}/result.csv")).await.status, 409);
    let destroyed = t.app.db().ledger_recent(&["retention"], 10).await.unwrap();
    let destroyed: Vec<Entry> = destroyed.iter().map(|r| Entry::decode(&r.body).unwrap()).collect();
    assert_eq!(destroyed.len(), 1);
    let e = &destroyed[0];
    assert_eq!(
        (e.actor(), e.field("event"), e.field("batch")),
        ("soc.user", Some("batch_deleted"), Some(&*id.to_string()))
    );
    let mut api = t.api_as("soc.user").await;
    assert_eq!(api.request_bytes("DELETE", &format!("/api/v1/batches/{id}"), None, b"").await.status, 409, "once only");
}

#[tokio::test]
async fn r_qry_4_a_stopped_batch_resumes_without_sending_a_recorded_query_again() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(5);
    let mut c = t.api_as("soc.user").await;
    // NHIA answers slowly: the batch will be stopped while its lookups are out.
    t.nhia.set_delay(Some(Duration::from_millis(1500)));
    let seen = t.nhia.requests_seen();
    let id = upload_ids(&mut c, &t, &known).await;
    // Wait until the chunk's queries are recorded (sent), then stop everything, as a crash would.
    first_chunk_sent(&t, id).await;
    t.app.stop_batches();
    t.nhia.set_delay(None);
    assert_eq!(t.app.resume_batches().await.unwrap(), 1);
    let b = finished(&mut c, id).await;
    assert_eq!(b["total"], 5);
    // Nothing recorded as sent went out again: at most one request per subject ever reached NHIA
    // (requests already on the wire when the batch stopped may still arrive).
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(t.nhia.requests_seen() - seen <= 5, "no query was sent twice: {}", t.nhia.requests_seen() - seen);
    let items = t.app.db().batch_items(id, 0, 10).await.unwrap();
    assert!(items.iter().all(|i| i.outcome.as_deref() == Some("interrupted")), "{items:?}");
    let queries = t.app.db().ledger_rows(0, 100_000).await.unwrap();
    let per_batch = queries
        .iter()
        .map(|r| Entry::decode(&r.body).unwrap())
        .filter(|e| e.kind() == EntryKind::Query && e.field("batch") == Some(&id.to_string()))
        .count();
    assert_eq!(per_batch, 5, "each subject logged once");
    // Their outcomes say the gateway stopped, not NHIA.
    let interrupted = queries
        .iter()
        .map(|r| Entry::decode(&r.body).unwrap())
        .filter(|e| e.kind() == EntryKind::QueryOutcome && e.field("interrupted") == Some("not sent again"))
        .count();
    assert_eq!(interrupted, 5);
    // The owner's history says what happened, not that NHIA failed.
    let history = c.get("/api/v1/queries").await.json();
    let details: Vec<&str> = history.as_array().unwrap().iter().filter_map(|h| h["detail"].as_str()).collect();
    assert_eq!(details.iter().filter(|d| **d == "interrupted").count(), 5, "{history}");
}

#[tokio::test]
async fn r_qry_6_a_batchs_subjects_answers_and_result_file_are_sealed_at_rest() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(2);
    let mut c = t.api_as("soc.user").await;
    // Slow enough to read the rows while they wait, on a busy machine too.
    t.nhia.set_delay(Some(Duration::from_millis(800)));
    let id = upload_ids(&mut c, &t, &known).await;
    let holds_an_id = |bytes: &[u8]| known.iter().any(|k| bytes.windows(k.len()).any(|w| w == k.as_bytes()));
    let mut raw = t.raw().await;
    let subjects: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT subject_ciphertext FROM batch_items WHERE batch_id = $1 ORDER BY row_no")
            .bind(id)
            .fetch_all(&mut raw)
            .await
            .unwrap();
    assert_eq!(subjects.len(), 2);
    assert!(subjects.iter().all(|s| s.as_deref().is_some_and(|s| !s.is_empty() && !holds_an_id(s))), "sealed");
    finished(&mut c, id).await;
    t.nhia.set_delay(None);
    let file: Option<Vec<u8>> = sqlx::query_scalar("SELECT result_ciphertext FROM batches WHERE id = $1")
        .bind(id)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    let file = file.expect("the result file is kept, sealed");
    assert!(!holds_an_id(&file), "the result file is not stored in clear");
    // What it holds in clear, as its owner downloads it: the subjects and their answers.
    let download = c.get(&format!("/api/v1/batches/{id}/result.csv")).await;
    assert!(known.iter().all(|k| download.body.contains(k.as_str())), "{}", download.body);
    // The rows' sealed subjects and answers are cleared once the file is made.
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM batch_items WHERE batch_id = $1 \
         AND (subject_ciphertext IS NOT NULL OR answer_ciphertext IS NOT NULL)",
    )
    .bind(id)
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn r_qry_4_a_batchs_progress_is_shown_while_it_runs() {
    let t = TestApp::demo().await;
    // Three chunks (1,000 rows each are recorded together): the count moves at the end of each,
    // and the second takes long enough (1,000 lookups, 32 at a time) to be seen between.
    let known = t.app.sandbox_examples(2060);
    let mut c = t.api_as("soc.user").await;
    t.nhia.set_delay(Some(Duration::from_millis(5)));
    let id = upload_ids(&mut c, &t, &known).await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = c.get(&format!("/api/v1/batches/{id}")).await.json();
        let done = b["done"].as_u64().unwrap();
        if seen.last() != Some(&done) {
            seen.push(done);
        }
        if b["state"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the batch never finished: {b}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t.nhia.set_delay(None);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "only forward: {seen:?}");
    assert!(seen.iter().any(|d| (1..2060).contains(d)), "a part done was shown before the end: {seen:?}");
    assert_eq!(seen.last(), Some(&2060));
}

#[tokio::test]
async fn r_qry_1_a_batch_case_number_follows_the_agency_format() {
    let t = TestApp::demo().await;
    let soc = t.node("SOC").await;
    let mut admin = t.api_as("soc.admin").await;
    let r = admin
        .put_json(&format!("/api/v1/org/{soc}/case-pattern"), &serde_json::json!({"pattern": "{年}-兒保-{數字6}"}))
        .await;
    assert_eq!(r.status, 204);
    let id = t.app.sandbox_examples(1).remove(0);
    let mut c = t.api_as("soc.user").await;
    let r = upload(&mut c, &t, "ids.csv", format!("身分證號\n{id}\n").as_bytes()).await;
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("case_number")), "{}", r.body);
}

#[tokio::test]
async fn r_log_1_a_batch_whose_account_is_disabled_midway_stops_and_its_refusal_names_account_and_agency() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1060);
    let mut c = t.api_as("soc.user").await;
    // Slow enough that the account is disabled while the first chunk (1,000 rows, 32 rounds of
    // lookups) is out.
    t.nhia.set_delay(Some(Duration::from_millis(40)));
    let seen = t.nhia.requests_seen();
    let id = upload_ids(&mut c, &t, &known).await;
    first_chunk_sent(&t, id).await;
    t.set_account_status("soc.user", "disabled", None).await;
    let out_at_disable = usize::try_from(t.nhia.requests_seen() - seen).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.app.db().batch(id).await.unwrap().state != "done" {
        assert!(Instant::now() < deadline, "the batch never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.nhia.set_delay(None);
    // The right is checked again as the chunk's lookups go (R-QRY-2): once it has ended, only the
    // lookups already out and at most one round of 32 after them still reach NHIA.
    let sent = usize::try_from(t.nhia.requests_seen() - seen).unwrap();
    assert!(sent <= out_at_disable + 64 && sent < 1000, "{sent} lookups went, {out_at_disable} before the disable");
    let entries = ledger(&t).await;
    // The first chunk's rows that never went: recorded as queries, then as refused, saying why.
    let withheld: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind() == EntryKind::QueryOutcome && e.field("outcome") == Some("refused"))
        .collect();
    assert_eq!(withheld.len(), 1000 - sent, "each of the chunk's unsent rows");
    assert!(withheld.iter().all(|e| e.field("refusal") == Some("batch: account disabled")));
    let answered = entries
        .iter()
        .filter(|e| e.kind() == EntryKind::QueryOutcome && e.field("outcome") == Some("answered"))
        .count();
    assert_eq!(answered, sent, "every lookup that went has its answer recorded");
    let refusals: Vec<&Entry> =
        entries.iter().filter(|e| e.kind() == EntryKind::Query && e.field("outcome") == Some("refused")).collect();
    // Each subject not sent is its own refused query, naming whom (R-LOG-1, R-QRY-4).
    assert_eq!(refusals.len(), 60);
    for (k, refusal) in refusals.iter().enumerate() {
        // The file's rows: its header is row 1, the 1,001st subject row 1,002.
        let subject = 1000 + k;
        assert_eq!(refusal.field("row"), Some((subject + 2).to_string().as_str()));
        assert_eq!(refusal.field("conditions"), Some(format!("national_id={}", known[subject]).as_str()));
        assert_eq!(refusal.field("refusal"), Some("batch: account disabled"));
        assert_eq!(refusal.field("batch"), Some(id.to_string().as_str()));
    }
    let refusal = refusals[0];
    assert_eq!(refusal.field("account_id"), Some(t.account_id("soc.user").await.to_string().as_str()));
    assert_eq!(refusal.field("agency_id"), Some(t.node("SOC").await.to_string().as_str()));
    assert_eq!(refusal.field("operation"), Some("INS01"));
    assert_eq!(refusal.field("case_number"), Some("113-兒保-77"));
    let b = t.app.db().batch(id).await.unwrap();
    assert_eq!((b.done, b.failed), (1060, 1060 - sent as u64), "the refused rows count as done, not answered");
}

#[tokio::test]
async fn r_qry_4_a_row_nhia_could_not_take_waits_and_goes_again_as_a_new_query() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1);
    let mut c = t.api_as("soc.user").await;
    // NHIA says it is unavailable to the first lookup and its two retries.
    t.nhia.unavailable_next(3);
    let seen = t.nhia.requests_seen();
    let id = upload_ids(&mut c, &t, &known).await;
    let b = finished(&mut c, id).await;
    assert_eq!((b["answered"].as_u64(), b["failed"].as_u64()), (Some(1), Some(0)), "{b}");
    assert_eq!(t.nhia.requests_seen() - seen, 4, "three refused attempts, then one answered");
    let entries = ledger(&t).await;
    let queries: Vec<u64> = entries
        .iter()
        .filter(|e| e.kind() == EntryKind::Query && e.field("batch") == Some(&id.to_string()))
        .map(Entry::seq)
        .collect();
    assert_eq!(queries.len(), 2, "each try its own query");
    let outcome = |seq: u64| {
        entries
            .iter()
            .find(|e| e.kind() == EntryKind::QueryOutcome && e.field("query_seq") == Some(&seq.to_string()))
            .and_then(|e| e.field("outcome"))
            .map(str::to_owned)
    };
    assert_eq!(outcome(queries[0]).as_deref(), Some("nhia_error"));
    assert_eq!(outcome(queries[1]).as_deref(), Some("answered"));
    let file = c.get(&format!("/api/v1/batches/{id}/result.csv")).await;
    assert!(file.body.contains(&known[0]) && file.body.contains("已回覆"), "{}", file.body);
}

/// Two processes on one database (here two apps sharing it, each with its own worker name): the one
/// holding a batch's lease works on it; the other leaves it — its rows out at NHIA are not taken for
/// interrupted ones — until that lease runs out, and then goes on from what was recorded.
#[tokio::test]
async fn r_qry_4_a_batch_is_worked_on_by_one_process_and_taken_over_when_that_one_stops() {
    let t = TestApp::demo().await;
    let other = t.app.with_clock(t.clock.clone());
    let known = t.app.sandbox_examples(10);
    let mut c = t.api_as("soc.user").await;
    let outcomes_of = |id: i64, entries: &[Entry]| -> Vec<String> {
        let queries: Vec<String> = entries
            .iter()
            .filter(|e| e.kind() == EntryKind::Query && e.field("batch") == Some(&id.to_string()))
            .map(|e| e.seq().to_string())
            .collect();
        entries
            .iter()
            .filter(|e| e.kind() == EntryKind::QueryOutcome && queries.iter().any(|q| e.field("query_seq") == Some(q)))
            .map(|e| e.field("outcome").unwrap_or_default().to_owned())
            .collect()
    };
    // The other process resumes while this one has the rows out: it leaves the batch alone.
    t.nhia.set_delay(Some(Duration::from_millis(400)));
    let id = upload_ids(&mut c, &t, &known[..5]).await;
    first_chunk_sent(&t, id).await;
    assert_eq!(other.resume_batches().await.unwrap(), 0);
    let b = finished(&mut c, id).await;
    assert_eq!((b["done"].as_u64(), b["answered"].as_u64()), (Some(5), Some(5)), "{b}");
    let entries = ledger(&t).await;
    assert_eq!(outcomes_of(id, &entries), ["answered"; 5], "one outcome per query, none interrupted");
    // This process stops mid-chunk; the other takes the batch over once the lease has run out.
    let id = upload_ids(&mut c, &t, &known[5..]).await;
    first_chunk_sent(&t, id).await;
    t.app.stop_batches();
    t.nhia.set_delay(None);
    assert_eq!(other.resume_batches().await.unwrap(), 0, "the lease still holds");
    t.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(other.resume_batches().await.unwrap(), 1);
    let b = finished(&mut c, id).await;
    assert_eq!(b["done"].as_u64(), Some(5), "{b}");
    let entries = ledger(&t).await;
    assert_eq!(outcomes_of(id, &entries), ["nhia_error"; 5], "recorded as interrupted, never sent again");
}

#[tokio::test]
async fn r_qry_4_a_row_nhia_may_have_answered_is_not_sent_again() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1);
    let mut c = t.api_as("soc.user").await;
    // The connection closes after the request went: NHIA may have carried it out.
    t.nhia.drop_next(1);
    let seen = t.nhia.requests_seen();
    let id = upload_ids(&mut c, &t, &known).await;
    let b = finished(&mut c, id).await;
    assert_eq!((b["answered"].as_u64(), b["failed"].as_u64()), (Some(0), Some(1)), "{b}");
    assert_eq!(t.nhia.requests_seen() - seen, 1, "never sent again");
}

#[tokio::test]
async fn r_acc_6_a_lockout_pauses_a_batch_and_it_goes_on_when_the_lockout_ends() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1060);
    let mut c = t.api_as("soc.user").await;
    t.nhia.set_delay(Some(Duration::from_millis(40)));
    let id = upload_ids(&mut c, &t, &known).await;
    first_chunk_sent(&t, id).await;
    // Someone mistypes the owner's password five times while the first chunk is out.
    let mut stranger = t.client();
    for _ in 0..5 {
        let wrong = serde_json::json!({"username": "soc.user", "password": "not the password 1"});
        assert_eq!(stranger.post_json("/api/v1/session", &wrong).await.status, 401);
    }
    t.nhia.set_delay(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.app.db().batch(id).await.unwrap().done < 1000 {
        assert!(Instant::now() < deadline, "the first chunk was never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Paused: past a few of its one-second looks at the lock, nothing more went out or was refused.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let b = t.app.db().batch(id).await.unwrap();
    assert_eq!((b.done, b.failed, b.state.as_str()), (1000, 0, "running"));
    // The lockout ends: the batch goes on and finishes, nothing refused.
    t.clock.advance(chrono::Duration::minutes(16));
    let mut c = t.api_as("soc.user").await;
    let b = finished(&mut c, id).await;
    assert_eq!((b["answered"].as_u64(), b["failed"].as_u64()), (Some(1060), Some(0)), "{b}");
}

#[tokio::test]
async fn r_qry_4_a_batch_that_cannot_go_on_is_marked_failed_its_sealed_rows_cleared_and_recorded() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1060);
    let mut c = t.api_as("soc.user").await;
    t.nhia.set_delay(Some(Duration::from_millis(40)));
    let id = upload_ids(&mut c, &t, &known).await;
    first_chunk_sent(&t, id).await;
    // A row of the second chunk can no longer be opened (its sealed subject damaged).
    let mut raw = t.raw().await;
    sqlx::query("UPDATE batch_items SET subject_ciphertext = $1 WHERE batch_id = $2 AND row_no = 1055")
        .bind(vec![0u8; 40])
        .bind(id)
        .execute(&mut raw)
        .await
        .unwrap();
    t.nhia.set_delay(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = c.get(&format!("/api/v1/batches/{id}")).await.json();
        if b["state"] == "failed" {
            assert_eq!(b["done"], 1000, "the first chunk's outcomes stay: {b}");
            break;
        }
        assert!(Instant::now() < deadline, "the batch never failed: {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let items = t.app.db().batch_items(id, 0, 1000).await.unwrap();
    assert!(
        items.iter().all(|i| i.subject_ciphertext.is_none() && i.answer_ciphertext.is_none()),
        "nothing sealed stays"
    );
    let events = ledger(&t).await;
    assert!(
        events.iter().any(|e| e.actor() == "system" && e.fields().iter().any(|(_, v)| v == "stopped: NG-INTERNAL")),
        "the stop is recorded"
    );
    assert_eq!(t.app.resume_batches().await.unwrap(), 0, "a failed batch is not taken up again");
}

#[tokio::test]
async fn r_dat_1_a_batch_still_unfinished_when_its_retention_ends_is_stopped_and_its_sealed_rows_cleared() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(1);
    let mut c = t.api_as("soc.user").await;
    // NHIA stays unavailable: the row waits and waits.
    t.nhia.unavailable_next(u32::MAX);
    let id = upload_ids(&mut c, &t, &known).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.nhia.requests_seen() == 0 {
        assert!(Instant::now() < deadline, "the batch never tried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t.clock.advance(chrono::Duration::days(29));
    t.app.purge_results().await.unwrap();
    assert_eq!(t.app.db().batch(id).await.unwrap().state, "running", "not before its date");
    t.clock.advance(chrono::Duration::days(2));
    t.app.purge_results().await.unwrap();
    assert_eq!(t.app.db().batch(id).await.unwrap().state, "failed");
    let items = t.app.db().batch_items(id, 0, 10).await.unwrap();
    assert!(items.iter().all(|i| i.subject_ciphertext.is_none() && i.answer_ciphertext.is_none()));
    let events = ledger(&t).await;
    assert!(events.iter().any(|e| e.fields().iter().any(|(_, v)| v == "stopped: retention reached")));
    t.nhia.clear();
}

/// R-QRY-6, R-DAT-1: a batch's result file kept with its case outlives the purge; let go again, it
/// goes at the next purge. Only its owner keeps it; each step is recorded.
#[tokio::test]
async fn r_qry_6_r_dat_1_a_batch_result_kept_with_its_case_is_not_purged_until_let_go() {
    let t = TestApp::demo().await;
    let known = t.app.sandbox_examples(2);
    let mut c = t.api_as("soc.user").await;
    let id = upload_ids(&mut c, &t, &known).await;
    finished(&mut c, id).await;
    let at = format!("/batches/{id}");
    let attached = format!("/api/v1/batches/{id}/attached");
    let mut other = t.api_as("soc.reviewer").await;
    assert_eq!(other.put_json(&attached, &serde_json::json!({"attached": true})).await.status, 403, "not its owner");
    let mut web = t.browser_as("soc.user").await;
    let r = web.submit(&at, &format!("{at}/attach"), &[]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(at.as_str())), "{}", r.body);
    let page = web.get(&at).await;
    assert!(page.body.contains("隨案保存") && page.body.contains("detach-batch"), "{}", page.body);
    assert_eq!(c.get(&format!("/api/v1/batches/{id}")).await.json()["attached"], true);
    t.clock.advance(chrono::Duration::days(31));
    t.app.purge_results().await.unwrap();
    let mut c = t.api_as("soc.user").await; // a month on: a new session
    assert_eq!(c.get(&format!("/api/v1/batches/{id}/result.csv")).await.status, 200, "kept past its date");
    // Let go: the next purge takes it, and records it.
    assert_eq!(c.put_json(&attached, &serde_json::json!({"attached": false})).await.status, 204);
    t.app.purge_results().await.unwrap();
    assert_eq!(c.get(&format!("/api/v1/batches/{id}/result.csv")).await.status, 409);
    assert_eq!(c.put_json(&attached, &serde_json::json!({"attached": true})).await.status, 409, "nothing left to keep");
    let events: Vec<String> = ledger(&t)
        .await
        .iter()
        .filter(|e| e.field("batch") == Some(&*id.to_string()))
        .filter_map(|e| e.field("event").map(str::to_owned))
        .collect();
    assert_eq!(events, ["batch_attached", "batch_downloaded", "batch_detached", "batch_purged"], "{events:?}");
}
