//! The `nhiguard` binary: parses the command line, builds the settings, opens the database, wires
//! the parts together and runs the chosen command. It holds no rules and no SQL; it is the only
//! place that prints to the terminal.

/// A request allocates and frees many small buffers on two worker threads; mimalloc's per-thread
/// free lists cost less per call than the system allocator's (BENCHMARKS.md section 1).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use nhiguard_app::App;
use nhiguard_app::Keys;
use nhiguard_app::gateway::Nhi;
use nhiguard_app::ledger::LedgerKeys;
use nhiguard_app::settings::{self, Settings, redact_url};
use nhiguard_app::vault::ResultsKey;
use nhiguard_domain::clock::SystemClock;
use nhiguard_ledger::{PublicKey, SignedCheckpoint, SigningKey};
use nhiguard_store::Db;

#[derive(Parser, Debug)]
#[command(
    name = "nhiguard",
    version,
    about = "健保資料查詢管理系統 — the county's gateway to NHI data and the record of its use"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Settings that every command which opens the database accepts.
#[derive(Args, Debug, Clone)]
struct Common {
    /// TOML settings file.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Address and port to serve on (also NHIGUARD_LISTEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Folder for the embedded database and key files (also NHIGUARD_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// sqlite://PATH or postgres://… (also NHIGUARD_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fill a demo county into ./nhiguard-data (created or reused), print the sign-ins, and serve.
    Demo(Common),
    /// Serve a deployment.
    Serve(Common),
    /// The tamper-evident log: verify it end to end, sign a checkpoint now, print the public key,
    /// or clear entries past their retention.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Scheduled work for deployments that drive it from cron (the server also runs it itself).
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// The monthly review.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Prepare a new, empty deployment and print the first admin's one-time activation link.
    Init {
        #[command(flatten)]
        common: Common,
        /// Name of the county or city government at the top of the organisation.
        #[arg(long, default_value = "南投縣政府")]
        county_name: String,
        /// Username of the first planning-department admin.
        #[arg(long, default_value = "admin")]
        admin_username: String,
        /// Full name of that admin.
        #[arg(long)]
        admin_name: String,
        /// That admin's employee number.
        #[arg(long)]
        admin_person_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Recompute every entry and check every signed checkpoint; exit 0 when all holds, otherwise 1
    /// and the first entry or checkpoint that fails. Opens the database read-only.
    Verify {
        #[command(flatten)]
        common: Common,
        /// A checkpoint kept outside the database (printed, handed to the ethics unit); repeatable.
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Vec<std::path::PathBuf>,
        /// The public key to check signatures with; default: the public half of the key file.
        #[arg(long, value_name = "FILE")]
        public_key: Option<std::path::PathBuf>,
    },
    /// Sign a checkpoint of the log as it is now and print it.
    Checkpoint(Common),
    /// Print the public key checkpoints are signed with.
    PublicKey(Common),
    /// Clear the content of entries older than DATE, which must be at least
    /// `ledger_retention_years` back; hashes stay, so the log still verifies (R-LOG-2).
    Prune {
        #[command(flatten)]
        common: Common,
        /// First day to keep (YYYY-MM-DD or ROC 110/01/01); everything before it is cleared.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// Who orders the removal (recorded with it), e.g. the planning department's officer.
        #[arg(long, value_name = "NAME")]
        by: String,
    },
}

#[derive(Subcommand, Debug)]
enum ReviewCommand {
    /// Recompute an agency's sample for a month from a signed checkpoint (R-REV-2), with read
    /// access only, and compare it with the stored review.
    Recompute {
        #[command(flatten)]
        common: Common,
        /// The agency's org code (e.g. SOC).
        #[arg(long)]
        agency: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The checkpoint the sample was drawn from (from the sheet or the review page); default:
        /// the one the stored review names.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
        /// The public key to check the checkpoint's signature with (as `ledger public-key` prints
        /// it), for an auditor who does not hold the server's key file; default: the public half
        /// of the key file.
        #[arg(long, value_name = "FILE")]
        public_key: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Run what is due: a ledger checkpoint, last month's reviews, purging results and batch
    /// files past their retention, removing idle sessions.
    RunDue(Common),
}

/// A failure that ends the program with a message and an exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("設定錯誤 / bad setting: {0}")]
    Settings(#[from] settings::SettingsError),
    #[error("無法讀取設定檔 / cannot read settings file {path}: {source}")]
    ConfigFile { path: String, source: std::io::Error },
    #[error("無法建立資料夾 / cannot create data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("資料庫 / database ({url}): {source}")]
    Database { url: String, source: nhiguard_store::StoreError },
    #[error("{}", app_text(.0))]
    App(#[from] nhiguard_app::AppError),
    #[error("無法在 {addr} 提供服務 / cannot serve on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("簽章金鑰 / signing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("無法讀取 / cannot read {path}: {reason}")]
    Input { path: String, reason: String },
    #[error("查詢日誌驗證失敗 / the ledger does not verify: {0}")]
    VerifyFailed(String),
}

/// An application error as the operator at the terminal reads it: the message, its code, and for a
/// fault (the database, a bug) the detail a page would keep for the server's log.
fn app_text(e: &nhiguard_app::AppError) -> String {
    let m = e.message();
    match e {
        nhiguard_app::AppError::Unavailable(detail) | nhiguard_app::AppError::Internal(detail) => {
            format!("{}\n{}\n[{}] {detail}", m.zh, m.en, e.code())
        }
        _ => format!("{}\n{}", m.zh, m.en),
    }
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Settings(_) | CliError::ConfigFile { .. } => 2,
            CliError::Database { .. } | CliError::App(nhiguard_app::AppError::Unavailable(_)) => 3,
            CliError::Key { .. } => 4,
            _ => 1,
        }
    }
}

fn load_settings(c: &Common) -> Result<Settings, CliError> {
    let file = match &c.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| CliError::ConfigFile { path: path.display().to_string(), source })?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let mut flags = Vec::new();
    for (key, value) in [("listen", &c.listen), ("data_dir", &c.data_dir), ("database_url", &c.database_url)] {
        if let Some(v) = value {
            flags.push((key, v.clone()));
        }
    }
    Ok(settings::load(file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), std::env::vars(), &flags)?)
}

fn init_logging(s: &Settings) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&s.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn key_error(path: &std::path::Path, reason: impl std::fmt::Display) -> CliError {
    CliError::Key { path: path.display().to_string(), reason: reason.to_string() }
}

/// Loads the checkpoint signing key (kept outside the database). A missing one is made only for a
/// log that has nothing to lose yet — by any command, `init` and `demo` included: a new key for a
/// log with entries would make its checkpoints fail to verify, and `serve` would take it up.
async fn signing_key(s: &Settings, db: &Db) -> Result<SigningKey, CliError> {
    let path = s.effective_ledger_key_file();
    if path.exists() {
        return SigningKey::read_key_file(&path).map_err(|e| key_error(&path, e));
    }
    let url = redact_url(&s.effective_database_url());
    let empty = db.ledger_size().await.map_err(|source| CliError::Database { url, source })? == 0;
    if !empty {
        return Err(key_error(
            &path,
            "檔案不存在，而日誌已有紀錄：請還原原金鑰檔（勿另建新金鑰，否則既有檢查點將無法驗證）/ the file is missing \
             but the log has entries: restore the original key file (a new key would not verify the existing checkpoints)",
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| key_error(&path, e))?;
    }
    let key = SigningKey::generate(&format!("nhiguard.{}", s.deployment_id)).map_err(|e| key_error(&path, e))?;
    key.write_key_file(&path).map_err(|e| key_error(&path, e))?;
    tracing::warn!(path = %path.display(), "created a new ledger signing key: keep a copy of it outside this machine");
    Ok(key)
}

async fn open_db(s: &Settings) -> Result<Db, CliError> {
    let url = s.effective_database_url();
    if s.database_url.is_empty() {
        let data_dir = |source| CliError::DataDir { path: s.data_dir.display().to_string(), source };
        // The folder holds the database and the keys: its owner's alone.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&s.data_dir)
            .map_err(data_dir)?;
        #[cfg(not(unix))]
        std::fs::create_dir_all(&s.data_dir).map_err(data_dir)?;
    }
    let db = Db::open(&url).await.map_err(|source| CliError::Database { url: redact_url(&url), source })?;
    if s.database_url.is_empty() {
        owner_only(&s.data_dir.join("nhiguard.db"));
    }
    Ok(db)
}

/// The embedded database and its log files, readable by the service's account only: the log's
/// query entries name the people looked up. SQLite creates them as the umask allows (often 0644).
fn owner_only(database: &std::path::Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(path = %path.display(), error = %e, "could not make the database file the owner's alone");
                }
            }
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = database;
}

/// Loads the key retrieved results are encrypted with; a missing one is made only for an empty log.
fn results_key(s: &Settings, log_empty: bool) -> Result<ResultsKey, CliError> {
    let path = s.effective_results_key_file();
    if path.exists() {
        return ResultsKey::read_file(&path).map_err(|e| key_error(&path, e));
    }
    if !log_empty {
        return Err(key_error(
            &path,
            "檔案不存在：請還原原金鑰檔，否則已保存之查詢結果無法開啟 / the file is missing: restore it, or the \
             results kept so far cannot be opened",
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| key_error(&path, e))?;
    }
    let key = ResultsKey::generate()?;
    key.write_file(&path).map_err(|e| key_error(&path, e))?;
    Ok(key)
}

/// The NHIA side: the real connector when an endpoint is set, else the built-in sandbox.
async fn nhi(s: &Settings) -> Result<Nhi, CliError> {
    if s.nhi_endpoint.is_empty() {
        tracing::warn!("nhi_endpoint is not set: lookups go to the built-in sandbox with synthetic people");
        let today = nhiguard_domain::roc::taipei_date(chrono::Utc::now());
        return Ok(nhiguard_app::gateway::sandbox_nhi(20_161_127, today, s).await?);
    }
    nhiguard_app::gateway::nhia_connector(s).map_err(|problem| {
        CliError::Settings(settings::SettingsError { key: "nhi".into(), source_name: "settings".into(), problem })
    })
}

async fn open(s: &Settings) -> Result<App, CliError> {
    let db = open_db(s).await?;
    let url = redact_url(&s.effective_database_url());
    let log_empty = db.ledger_size().await.map_err(|source| CliError::Database { url, source })? == 0;
    let keys = Keys {
        ledger: LedgerKeys {
            deployment_id: s.deployment_id.clone(),
            signing: signing_key(s, &db).await?,
            export_dir: Some(s.checkpoint_dir()),
        },
        results: results_key(s, log_empty)?,
    };
    Ok(App::new(db, s.clone(), Arc::new(SystemClock), keys, nhi(s).await?))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The scheduled work: a signed checkpoint of the ledger, last month's reviews once it closed,
/// purging results, removing idle sessions.
async fn run_due(app: &App) {
    match app.checkpoint_now().await {
        Ok(Some(c)) => tracing::info!(size = c.size, "checkpoint signed"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "could not sign a ledger checkpoint"),
    }
    match app.prepare_due_reviews().await {
        Ok(n) if n > 0 => tracing::info!(reviews = n, "monthly reviews prepared"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not prepare the monthly reviews"),
    }
    match app.purge_results().await {
        Ok(n) if n > 0 => tracing::info!(purged = n, "retrieved results purged"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not purge retrieved results"),
    }
    match app.purge_idle_sessions().await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "idle sessions removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not remove idle sessions"),
    }
}

/// Runs the scheduled work in the server every `checkpoint_minutes`.
fn spawn_jobs(app: App) {
    // A batch whose server stopped (another sharing the database) goes on here once its lease has
    // run out. Only while serving: a one-shot `jobs run-due` would take a batch and then exit.
    let batches = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match batches.resume_batches().await {
                Ok(n) if n > 0 => tracing::info!(batches = n, "batches taken over"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not resume batches"),
            }
        }
    });
    tokio::spawn(async move {
        let minutes = u64::try_from(app.settings().checkpoint_minutes).unwrap_or(10).max(1);
        let mut tick = tokio::time::interval(Duration::from_secs(minutes * 60));
        loop {
            tick.tick().await;
            run_due(&app).await;
        }
    });
}

/// The key checkpoints are checked with: the public key file given, or the public half of the
/// deployment's signing key file.
fn read_public_key(s: &Settings, given: Option<&std::path::Path>) -> Result<PublicKey, CliError> {
    match given {
        Some(path) => PublicKey::parse(read_text(path)?.trim())
            .map_err(|e| CliError::Input { path: path.display().to_string(), reason: e.to_string() }),
        None => {
            let path = s.effective_ledger_key_file();
            Ok(SigningKey::read_key_file(&path).map_err(|e| key_error(&path, e))?.public_key())
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI is where nhiguard talks to the terminal")]
fn print_recompute(seed: &str, n: usize, sample: &[u64]) {
    println!("種子 / seed: {seed}");
    println!("查詢筆數 / queries: {n}; 抽查 / sampled: {}", sample.len());
    println!(
        "樣本（日誌序號）/ sample (ledger seqs): {}",
        sample.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
}

#[expect(clippy::print_stdout, reason = "the CLI is where nhiguard talks to the terminal")]
fn print_line(s: &str) {
    println!("{s}");
}

fn read_text(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Input { path: path.display().to_string(), reason: e.to_string() })
}

#[expect(clippy::print_stdout, reason = "the CLI is where nhiguard talks to the terminal")]
async fn ledger_command(command: LedgerCommand) -> Result<(), CliError> {
    match command {
        LedgerCommand::Verify { common, from_checkpoint, public_key } => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let url = s.effective_database_url();
            let db = Db::open_read_only(&url)
                .await
                .map_err(|source| CliError::Database { url: redact_url(&url), source })?;
            let key = read_public_key(&s, public_key.as_deref())?;
            let mut extra = Vec::new();
            for path in &from_checkpoint {
                extra.push(
                    SignedCheckpoint::parse(&read_text(path)?)
                        .map_err(|e| CliError::Input { path: path.display().to_string(), reason: e.to_string() })?,
                );
            }
            let v = nhiguard_app::ledger::verify(&db, &s.deployment_id, &key, extra, chrono::Utc::now()).await?;
            let r = &v.report;
            match &r.failure {
                None => {
                    println!(
                        "驗證通過 / verified: {} 筆紀錄 entries, {} 個檢查點 checkpoints (signed up to {}), root {}",
                        r.entries_checked,
                        r.checkpoints_checked,
                        r.signed_size,
                        r.root.map(|h| h.to_base64()).unwrap_or_default()
                    );
                    if r.signed_size < r.entries_checked {
                        println!(
                            "注意 / note: 最後 {} 筆尚未納入已簽章檢查點 / the last {} entries are not yet covered by a signed checkpoint",
                            r.entries_checked - r.signed_size,
                            r.entries_checked - r.signed_size
                        );
                    }
                    Ok(())
                }
                Some(f) => Err(CliError::VerifyFailed(format!("[{}] {}", f.code(), f.message()))),
            }
        }
        LedgerCommand::Checkpoint(common) => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            match app.checkpoint_now().await? {
                Some(c) => print!("{}", c.text),
                None => println!("日誌自上次檢查點後無新紀錄 / nothing new since the last checkpoint"),
            }
            Ok(())
        }
        LedgerCommand::Prune { common, before, by } => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let date = nhiguard_domain::catalogue::parse_date("before", &before).ok().flatten().ok_or_else(|| {
                CliError::Input { path: "--before".into(), reason: "a date is 2020-12-31 or ROC 109/12/31".into() }
            })?;
            let app = open(&s).await?;
            let out = app.prune_ledger(date, by.trim()).await?;
            println!(
                "已移除第 0 至 {} 筆前共 {} 筆紀錄之內容（雜湊值保留，日誌仍可驗證）/ cleared the content of {} entries below {} (hashes kept; the log still verifies)",
                out.below, out.cleared, out.cleared, out.below
            );
            print!("{}", out.statement);
            Ok(())
        }
        LedgerCommand::PublicKey(common) => {
            let s = load_settings(&common)?;
            let path = s.effective_ledger_key_file();
            println!("{}", SigningKey::read_key_file(&path).map_err(|e| key_error(&path, e))?.public_key().to_text());
            Ok(())
        }
    }
}

async fn serve(app: App) -> Result<(), CliError> {
    let addr = app.settings().listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr: addr.to_string(), source })?;
    tracing::info!(%addr, backend = app.db().backend().name(), "nhiguard serving");
    // Batches a stop interrupted go on where they were (never re-sending a recorded query).
    match app.resume_batches().await {
        Ok(n) if n > 0 => tracing::info!(batches = n, "resuming interrupted batches"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not resume batches"),
    }
    spawn_jobs(app.clone());
    let served = nhiguard_web::serve(app.clone(), listener, shutdown_signal()).await;
    // A clean stop frees this server's batches for the next start (or another server) at once.
    if let Err(e) = app.release_batches().await {
        tracing::error!(error = %e, "could not give up the batches' leases");
    }
    served.map_err(|source| CliError::Listen { addr: addr.to_string(), source })
}

#[expect(clippy::print_stdout, reason = "the CLI is where nhiguard talks to the terminal")]
async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(common) => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            let accounts = app.fill_demo().await?;
            app.fill_demo_history().await?;
            app.checkpoint_now().await?;
            println!("\n健保資料查詢管理系統 nhiguard — 示範縣 demo county");
            println!("網址 / address: {}", s.effective_public_url());
            println!("資料庫 / database: {}", redact_url(&s.effective_database_url()));
            println!(
                "\n示範帳號（密碼皆為 {}）/ demo sign-ins (password {} for all):",
                nhiguard_app::seed::DEMO_PASSWORD,
                nhiguard_app::seed::DEMO_PASSWORD
            );
            for a in &accounts {
                let roles: Vec<&str> = a.roles.iter().map(|r| r.zh()).collect();
                println!("  {:<14} {:<18} {}", a.username, roles.join("、"), a.who);
            }
            let examples = app.sandbox_examples(5);
            if !examples.is_empty() {
                println!(
                    "\n沙盒健保署的虛構身分證號，可供查詢試用 / invented IDs the sandbox NHIA knows, to try a query:"
                );
                println!("  {}", examples.join("  "));
                println!(
                    "  例如以 soc.user 登入，於「查詢」頁選擇業務範圍、填寫案號與事由 / e.g. sign in as soc.user and open 查詢"
                );
            }
            println!("\n按 Ctrl-C 結束 / press Ctrl-C to stop\n");
            serve(app).await
        }
        Command::Serve(common) => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            if app.db().count_accounts().await.map_err(nhiguard_app::AppError::from)? == 0 {
                tracing::warn!("this database has no accounts yet: run `nhiguard init` to create the first admin");
            }
            serve(app).await
        }
        Command::Init { common, county_name, admin_username, admin_name, admin_person_id } => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            let out = app.init_deployment(&county_name, &admin_username, &admin_name, &admin_person_id).await?;
            println!("已建立計畫處管理者帳號 / created the planning-department admin: {}", out.username);
            println!(
                "請僅交付本人以下一次性啟用連結（{} 小時內有效）/ give only that person this one-time link (valid {} hours):",
                out.expires_hours, out.expires_hours
            );
            println!("{}", out.activation_url);
            app.checkpoint_now().await?;
            println!(
                "查詢日誌簽章公鑰（請另行保存並交付政風單位）/ ledger signing public key (keep a copy; give one to the ethics unit):"
            );
            println!("{}", app.ledger_public_key());
            Ok(())
        }
        Command::Ledger { command } => ledger_command(command).await,
        Command::Review { command: ReviewCommand::Recompute { common, agency, month, checkpoint, public_key } } => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let bad_month =
                || CliError::Input { path: "--month".into(), reason: "a month is YYYY-MM, e.g. 2026-10".into() };
            let (y, m) = month.split_once('-').ok_or_else(bad_month)?;
            let (year, month): (i32, u32) = (y.parse().map_err(|_| bad_month())?, m.parse().map_err(|_| bad_month())?);
            let url = s.effective_database_url();
            let db = Db::open_read_only(&url)
                .await
                .map_err(|source| CliError::Database { url: redact_url(&url), source })?;
            let tree = db.org_tree().await.map_err(nhiguard_app::AppError::from)?;
            let node = tree
                .root()
                .map(|r| tree.branch(r.id))
                .unwrap_or_default()
                .into_iter()
                .find(|(_, n)| n.code == agency)
                .map(|(_, n)| n.id)
                .ok_or_else(|| CliError::Input {
                    path: "--agency".into(),
                    reason: format!("no agency with code {agency}"),
                })?;
            let stored = db.review_for(node, year, month).await.map_err(nhiguard_app::AppError::from)?;
            let text = match (&checkpoint, &stored) {
                (Some(path), _) => read_text(path)?,
                (None, Some(r)) => r.checkpoint_text.clone(),
                (None, None) => {
                    return Err(CliError::Input {
                        path: "--checkpoint".into(),
                        reason: "no stored review for that month: give the checkpoint".into(),
                    });
                }
            };
            let cp = SignedCheckpoint::parse(&text)
                .map_err(|e| CliError::Input { path: "--checkpoint".into(), reason: e.to_string() })?;
            let key = read_public_key(&s, public_key.as_deref())?;
            cp.verify(&key)
                .map_err(|e| CliError::VerifyFailed(format!("the checkpoint's signature does not verify: {e}")))?;
            let rows = nhiguard_app::review::month_rows(&db, node, year, month).await?;
            let population: Vec<u64> = rows.iter().map(|r| r.seq).collect();
            // The numbers the stored review was drawn with; without one, today's settings.
            let settings = stored.as_ref().map(|r| r.settings).unwrap_or_else(|| s.sample_settings());
            let (seed, sample) = nhiguard_app::review::draw_from(&cp, &agency, year, month, &population, &settings);
            print_recompute(&seed.to_hex(), population.len(), &sample);
            match stored {
                Some(r) if r.seed == seed.to_hex() && r.sample == sample => {
                    print_line("與已存之查核樣本相符 / matches the stored review's sample");
                    Ok(())
                }
                Some(_) => Err(CliError::VerifyFailed(
                    "與已存之查核樣本不符 / does not match the stored review's sample".into(),
                )),
                None => Ok(()),
            }
        }
        Command::Jobs { command: JobsCommand::RunDue(common) } => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            run_due(&app).await;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nhiguard: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
