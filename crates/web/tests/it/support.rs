//! A live nhiguard on a random port over a fresh database (SQLite by default, PostgreSQL when
//! `NHIGUARD_TEST_DATABASE_URL` is set), a clock the test moves, and a small HTTP/1.1 client
//! with a cookie jar, so that tests exercise exactly what a browser or API client would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::TimeZone;
use nhiguard_app::{App, Settings};
use nhiguard_domain::clock::ManualClock;
use nhiguard_store::testdb::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const PASSWORD: &str = nhiguard_app::seed::DEMO_PASSWORD;

pub struct TestApp {
    pub addr: SocketAddr,
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
    /// The sandbox NHIA's fault switches and request counter.
    pub nhia: nhiguard_nhi::SandboxFaults,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}

/// 2026-11-27 10:00 Taipei: a weekday in office hours.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap()
}

impl TestApp {
    /// An empty deployment (migrated, no data).
    pub async fn empty() -> TestApp {
        Self::with_settings(|_| {}).await
    }

    /// An empty deployment whose settings `adjust` changes from the defaults.
    pub async fn with_settings(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new().await.expect("test database");
        let store = db.open().await.expect("open test database");
        let clock = Arc::new(ManualClock::new(start_time()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = Settings { listen: addr, ..Settings::default() };
        adjust(&mut settings);
        let keys = nhiguard_app::Keys {
            ledger: nhiguard_app::ledger::LedgerKeys {
                deployment_id: "test".into(),
                signing: nhiguard_ledger::SigningKey::generate("nhiguard.test").unwrap(),
                export_dir: None,
            },
            results: nhiguard_app::vault::ResultsKey::generate().unwrap(),
        };
        // The sandbox NHIA over HTTP, reached through the real connector.
        let faults = nhiguard_nhi::SandboxFaults::new();
        let nhi = nhiguard_app::gateway::sandbox_nhi_with_faults(
            7,
            start_time().date_naive(),
            &settings,
            Some(faults.clone()),
        )
        .await
        .unwrap();
        let app = App::new(store, settings, clock.clone(), keys, nhi);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            nhiguard_web::serve(served, listener, async {
                rx.await.ok();
            })
            .await
            .ok();
        });
        TestApp { addr, app, clock, db, nhia: faults, shutdown: Some(tx) }
    }

    /// The demo county.
    pub async fn demo() -> TestApp {
        let t = Self::empty().await;
        t.app.fill_demo().await.expect("demo data");
        t
    }

    /// A raw connection to the test database, as someone holding the database password has.
    pub async fn raw(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&self.db.url).await.unwrap()
    }

    pub fn is_postgres(&self) -> bool {
        self.db.url.starts_with("postgres")
    }

    pub fn client(&self) -> Client {
        Client { addr: self.addr, cookies: BTreeMap::new(), bearer: None, from: std::net::Ipv4Addr::LOCALHOST }
    }

    /// An API client signed in as `username`.
    pub async fn api_as(&self, username: &str) -> Client {
        let mut c = self.client();
        let r = c.post_json("/api/v1/session", &serde_json::json!({"username": username, "password": PASSWORD})).await;
        assert_eq!(r.status, 200, "sign-in of {username}: {}", r.body);
        c.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
        c
    }

    /// A browser client signed in as `username` through the sign-in page.
    pub async fn browser_as(&self, username: &str) -> Client {
        let mut c = self.client();
        let r = c.sign_in(username, PASSWORD).await;
        assert_eq!(r.status, 303, "sign-in of {username}: {}", r.body);
        c
    }

    /// The id of the org node with this code.
    pub async fn node(&self, code: &str) -> i64 {
        let tree = self.app.db().org_tree().await.unwrap();
        let root = tree.root().unwrap().id;
        tree.branch(root)
            .into_iter()
            .find(|(_, n)| n.code == code)
            .map(|(_, n)| n.id)
            .unwrap_or_else(|| panic!("no node {code}"))
    }

    /// Sets an account's status and disable date directly (what the account-governance pages will do).
    pub async fn set_account_status(&self, username: &str, status: &str, disable_on: Option<chrono::NaiveDate>) {
        let id = self.account_id(username).await;
        let mut tx = self.app.db().begin().await.unwrap();
        tx.set_account_status(id, status, disable_on).await.unwrap();
        tx.commit().await.unwrap();
    }

    pub async fn account_id(&self, username: &str) -> i64 {
        self.app.db().account_by_username(username).await.unwrap().unwrap().id
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as sent, for what is not text (an ODS, an ODT).
    pub bytes: Vec<u8>,
}

impl Response {
    /// The XML inside an OpenDocument body (its entries are compressed).
    pub fn document_content(&self) -> String {
        nhiguard_tabular::document_content(&self.bytes, 256 << 20).expect("an OpenDocument file")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// The value of the first hidden `csrf` field in the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

pub struct Client {
    addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
    pub bearer: Option<String>,
    /// The loopback address requests come from (127.0.0.1 unless a test plays another computer).
    pub from: std::net::Ipv4Addr,
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&")
}

impl Client {
    pub async fn request(&mut self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> Response {
        self.request_bytes(method, path, content_type, body.as_bytes()).await
    }

    pub async fn request_bytes(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Response {
        self.send(method, path, content_type, body.len(), body).await
    }

    /// A request announcing a body of `declared` bytes and sending none: what a server refuses by
    /// its length alone. (Sending the bytes would race the server's early answer and close.)
    pub async fn request_announcing(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        declared: usize,
    ) -> Response {
        self.send(method, path, content_type, declared, b"").await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        declared: usize,
        body: &[u8],
    ) -> Response {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((self.from, 0))).unwrap();
        let mut stream = socket.connect(self.addr).await.unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        if let Some(t) = &self.bearer {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        req.push_str(&format!("Content-Length: {declared}\r\n\r\n"));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let rest = raw.get(split + 4..).unwrap_or_default();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let bytes = if chunked { dechunk(rest) } else { rest.to_vec() };
        let body = String::from_utf8_lossy(&bytes).into_owned();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap();
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
        }
        Response { status, headers, body, bytes }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None, "").await
    }

    pub async fn post_form(&mut self, path: &str, pairs: &[(&str, &str)]) -> Response {
        self.request("POST", path, Some("application/x-www-form-urlencoded"), &form(pairs)).await
    }

    pub async fn post_json(&mut self, path: &str, v: &serde_json::Value) -> Response {
        self.request("POST", path, Some("application/json"), &v.to_string()).await
    }

    pub async fn put_json(&mut self, path: &str, v: &serde_json::Value) -> Response {
        self.request("PUT", path, Some("application/json"), &v.to_string()).await
    }

    /// Through the sign-in page, with its CSRF token.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Response {
        let page = self.get("/signin").await;
        let csrf = page.csrf();
        self.post_form("/signin", &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }

    /// Posts a form on a page, with the CSRF token taken from that page.
    pub async fn submit(&mut self, page: &str, action: &str, pairs: &[(&str, &str)]) -> Response {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_form(action, &all).await
    }
}

fn dechunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(end) = bytes[i..].windows(2).position(|w| w == b"\r\n") else { break };
        let size = usize::from_str_radix(String::from_utf8_lossy(&bytes[i..i + end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + end + 2;
        out.extend_from_slice(&bytes[start..(start + size).min(bytes.len())]);
        i = start + size + 2;
    }
    out
}

/// A mail server for tests: it accepts every message over plain SMTP on a random local port and
/// keeps each message's text (headers and body as sent). Stands in for the county's mail server,
/// which is outside the product.
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub messages: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpSink {
    /// Starts the sink; returns it and the `smtp_url` that reaches it.
    pub async fn start() -> (SmtpSink, String) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let sink = SmtpSink::default();
        let kept = sink.messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 sink ESMTP\r\n").await.ok();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                write.write_all(b"354 go on\r\n").await.ok();
                                let mut message = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    message.push_str(&l);
                                    message.push('\n');
                                }
                                kept.lock().unwrap().push(message);
                                b"250 kept\r\n"
                            }
                            "QUIT" => {
                                write.write_all(b"221 bye\r\n").await.ok();
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        write.write_all(reply).await.ok();
                    }
                });
            }
        });
        (sink, url)
    }

    /// The decoded text of message `i` (its body is base64).
    pub fn text(&self, i: usize) -> String {
        use base64::Engine;
        let raw = self.messages.lock().unwrap()[i].clone();
        let body: String = raw.split("\n\n").skip(1).collect::<Vec<_>>().join("").split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap()
    }

    pub fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
}
