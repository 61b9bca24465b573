//! The binary as an operator runs it: a crash in the middle of many appends, and several processes
//! sharing one database (R-LOG-2). Runs on SQLite, and on PostgreSQL when
//! `NHIGUARD_TEST_DATABASE_URL` is set.

// A test that cannot set up or whose expectation fails should stop at once, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Datelike;
use nhiguard_ledger::Entry;
use nhiguard_store::Db;
use nhiguard_store::testdb::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Deployment {
    dir: PathBuf,
    db: TestDb,
}

impl Deployment {
    async fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nhiguard-cli-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        Deployment { dir, db: TestDb::new().await.unwrap() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nhiguard"));
        c.args(args)
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--database-url")
            .arg(&self.db.url)
            .env_remove("NHIGUARD_TEST_DATABASE_URL")
            .env("NHIGUARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Starts `demo` (first) or `serve` on a free port and waits until it answers.
    #[expect(clippy::zombie_processes, reason = "the child goes to the caller, which kills and waits for it")]
    async fn start(&self, subcommand: &str) -> (Child, SocketAddr) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = self.command(&[subcommand, "--listen", &addr.to_string()]).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = request(addr, "GET", "/healthz", "").await {
                return (child, addr);
            }
            if Instant::now() >= deadline {
                kill(&mut child);
                panic!("{subcommand} did not come up");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn verify(&self) -> (bool, String) {
        let out = self.command(&["ledger", "verify"]).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Every entry's sequence number and actor.
    async fn entries(&self) -> Vec<(u64, String)> {
        let db = Db::open_read_only(&self.db.url).await.unwrap();
        let rows = db.ledger_rows(0, 1_000_000).await.unwrap();
        db.close().await;
        rows.iter().map(|r| (r.seq, Entry::decode(&r.body).unwrap().actor().to_owned())).collect()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A bare HTTP/1.1 request; returns the status and body.
async fn request(addr: SocketAddr, method: &str, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

/// A failed sign-in by a made-up username: one ledger entry, acknowledged (401) only once durable.
async fn failed_sign_in(addr: SocketAddr, who: &str) -> bool {
    let body = serde_json::json!({"username": who, "password": "Not-The-Password-1"}).to_string();
    matches!(request(addr, "POST", "/api/v1/session", &body).await, Ok((401, _)))
}

fn kill(child: &mut Child) {
    // SIGKILL: no chance to flush or shut down cleanly.
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_log_2_every_acknowledged_append_survives_a_sigkill_and_the_ledger_verifies() {
    let d = Deployment::new("crash").await;
    let (mut server, addr) = d.start("demo").await;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..400 {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let who = format!("crash-{i:04}");
            let ok = failed_sign_in(addr, &who).await;
            if ok {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            ok.then_some(who)
        }));
    }
    // Kill once some appends were acknowledged, while the rest are still in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&mut server);
    let mut acknowledged = BTreeSet::new();
    for t in tasks {
        if let Some(who) = t.await.unwrap() {
            acknowledged.insert(who);
        }
    }
    assert!(acknowledged.len() < 400, "the kill came while appends were in flight");
    assert!(!acknowledged.is_empty(), "some appends were acknowledged before the kill");
    // The restarted server recovers and keeps appending after what survived.
    let (mut again, addr) = d.start("serve").await;
    assert!(failed_sign_in(addr, "after-restart").await);
    kill(&mut again);
    let entries = d.entries().await;
    let present: BTreeSet<String> = entries.iter().map(|(_, a)| a.clone()).collect();
    let lost: Vec<_> = acknowledged.iter().filter(|w| !present.contains(*w)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(present.contains("after-restart"));
    let seqs: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "no gaps");
    let (ok, text) = d.verify();
    assert!(ok, "{text}");
    assert!(text.contains("驗證通過"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_log_2_two_processes_sharing_one_database_append_without_gaps_or_forks() {
    let d = Deployment::new("pair").await;
    let (mut first, a) = d.start("demo").await;
    let (mut second, b) = d.start("serve").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let addr = if i % 2 == 0 { a } else { b };
        let who = format!("pair-{i:03}");
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"username": who, "password": "Not-The-Password-1"}).to_string();
            (who, request(addr, "POST", "/api/v1/session", &body).await)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    let mut other = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (who, Ok((401, _))) => {
                acknowledged.insert(who);
            }
            (_, Ok((status, body))) => other.push(format!("{status} {}", body.chars().take(160).collect::<String>())),
            (_, Err(e)) => other.push(e.to_string()),
        }
    }
    // On a loaded 2-core machine a request may time out unanswered; what matters is that every
    // acknowledged append is there, once, in one unbroken sequence.
    assert!(acknowledged.len() >= 150, "only {} of 200 appends were acknowledged: {other:?}", acknowledged.len());
    kill(&mut first);
    kill(&mut second);
    let entries = d.entries().await;
    let seqs: Vec<u64> = entries.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "no gaps, no duplicates");
    let pairs: BTreeSet<String> =
        entries.iter().filter(|(_, a)| a.starts_with("pair-")).map(|(_, a)| a.clone()).collect();
    assert!(acknowledged.is_subset(&pairs), "every acknowledged append is in the log");
    assert_eq!(entries.iter().filter(|(_, a)| a.starts_with("pair-")).count(), pairs.len(), "none twice");
    let (ok, text) = d.verify();
    assert!(ok, "{text}");
}

#[tokio::test]
async fn ledger_verify_fails_with_a_message_when_the_key_file_is_missing_or_the_database_is_unreachable() {
    let d = Deployment::new("nokey").await;
    let (mut server, _) = d.start("demo").await;
    kill(&mut server);
    std::fs::rename(d.dir.join("ledger-signing.key"), d.dir.join("moved.key")).unwrap();
    let (ok, text) = d.verify();
    assert!(!ok && text.contains("ledger-signing.key"), "{text}");
    // serve refuses to make a new key for a log that already has entries.
    let out = d.command(&["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore the original key file"));
    let out = Command::new(env!("CARGO_BIN_EXE_nhiguard"))
        .args(["ledger", "verify", "--database-url", "postgres://nobody@127.0.0.1:1/none", "--data-dir"])
        .arg(&d.dir)
        .env_remove("NHIGUARD_TEST_DATABASE_URL")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_nhiguard"))
        .args(["serve", "--listen", "not-an-address"])
        .env_remove("NHIGUARD_TEST_DATABASE_URL")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen") && err.contains("127.0.0.1:8080"), "names the setting and what is allowed: {err}");
}

/// R-REV-2: anyone can recompute a month's sample from the recorded inputs — an auditor with the
/// public key handed out, without the server's signing key file.
#[tokio::test]
async fn r_rev_2_a_sample_is_recomputed_with_the_public_key_alone() {
    let d = Deployment::new("recompute").await;
    let (mut server, _) = d.start("demo").await;
    kill(&mut server);
    let out = d.command(&["ledger", "public-key"]).stdout(Stdio::piped()).output().unwrap();
    assert!(out.status.success());
    let public = d.dir.join("handed-out.pub");
    std::fs::write(&public, &out.stdout).unwrap();
    std::fs::rename(d.dir.join("ledger-signing.key"), d.dir.join("kept-elsewhere.key")).unwrap();
    // The demo's last month has its reviews prepared.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let last = today.with_day(1).unwrap() - chrono::Duration::days(1);
    let month = last.format("%Y-%m").to_string();
    let recompute = |extra: &[&str]| {
        let mut args = vec!["review", "recompute", "--agency", "SOC", "--month", &month];
        args.extend_from_slice(extra);
        let out = d.command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) = recompute(&[]);
    assert_ne!(code, Some(0), "without a key there is nothing to check the signature with: {text}");
    assert!(text.contains("ledger-signing.key"), "{text}");
    let (code, text) = recompute(&["--public-key", public.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("matches the stored review's sample"), "{text}");
    // Another deployment's key does not pass.
    let other = d.dir.join("other.pub");
    let key = nhiguard_ledger::SigningKey::generate("nhiguard.other").unwrap().public_key().to_text();
    std::fs::write(&other, key).unwrap();
    let (code, text) = recompute(&["--public-key", other.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("signature"), "{text}");
}

/// A county's own database is never filled with demo accounts (a published password, grants no one
/// applied for), and no command makes a new key for a log that already has entries: `serve` would
/// take it up, and the checkpoints signed so far would no longer verify.
#[tokio::test]
async fn demo_keeps_out_of_a_deployment_and_no_command_makes_a_key_for_a_log_with_entries() {
    let d = Deployment::new("initdemo").await;
    let run = |args: &[&str]| {
        let out = d.command(args).stderr(Stdio::piped()).stdout(Stdio::piped()).output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    // The county's first admin happens to be called as the demo's planning admin is.
    let (code, text) =
        run(&["init", "--admin-name", "王大明", "--admin-person-id", "NT-9001", "--admin-username", "plan.admin"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&["demo", "--listen", "127.0.0.1:0"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("demo data") && text.contains("--data-dir"), "says why and what to do: {text}");
    let db = Db::open_read_only(&d.db.url).await.unwrap();
    assert!(db.account_by_username("soc.user").await.unwrap().is_none(), "no demo account was added");
    db.close().await;
    // The key files lost: init (refused anyway) and demo make no new ones.
    for key in ["ledger-signing.key", "results.key"] {
        std::fs::rename(d.dir.join(key), d.dir.join(format!("{key}.away"))).unwrap();
    }
    for args in
        [&["init", "--admin-name", "李", "--admin-person-id", "NT-9002"][..], &["demo", "--listen", "127.0.0.1:0"]]
    {
        let (code, text) = run(args);
        assert_ne!(code, Some(0), "{args:?}: {text}");
        assert!(text.contains("restore the original key file"), "{args:?}: {text}");
        assert!(!d.dir.join("ledger-signing.key").exists() && !d.dir.join("results.key").exists(), "{args:?}");
    }
}

/// The embedded database names the people looked up (in its log's query entries): its folder and
/// files are the service account's alone, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn the_embedded_database_and_its_folder_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("nhiguard-cli-perms-{}", std::process::id())).join("data");
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
    let out = Command::new(env!("CARGO_BIN_EXE_nhiguard"))
        .args(["init", "--admin-name", "王大明", "--admin-person-id", "NT-9001", "--data-dir"])
        .arg(&dir)
        .env_remove("NHIGUARD_TEST_DATABASE_URL")
        .env_remove("NHIGUARD_DATABASE_URL")
        .env("NHIGUARD_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["nhiguard.db", "ledger-signing.key", "results.key"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

/// A reading command pointed at the wrong folder says there is no database there, with the database
/// exit code, and leaves nothing behind.
#[tokio::test]
async fn a_reading_command_on_a_folder_without_a_database_says_so_and_creates_nothing() {
    let dir = std::env::temp_dir().join(format!("nhiguard-cli-nodb-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let public = dir.join("handed-out.pub");
    std::fs::write(&public, nhiguard_ledger::SigningKey::generate("nhiguard.nantou").unwrap().public_key().to_text())
        .unwrap();
    for args in [
        &["ledger", "verify", "--public-key", public.to_str().unwrap()][..],
        &["review", "recompute", "--agency", "SOC", "--month", "2026-10", "--public-key", public.to_str().unwrap()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nhiguard"))
            .args(args)
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("NHIGUARD_TEST_DATABASE_URL")
            .env_remove("NHIGUARD_DATABASE_URL")
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("no database file at"), "{args:?}: {err}");
        assert!(!dir.join("nhiguard.db").exists(), "{args:?}: nothing created");
    }
    std::fs::remove_dir_all(&dir).ok();
}
