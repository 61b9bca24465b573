//! The `nhiguard` binary: parses the command line, builds the settings, opens the database, wires
//! the parts together and runs the chosen command. It holds no rules and no SQL; it is the only
//! place that prints to the terminal.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use nhiguard_app::App;
use nhiguard_app::settings::{self, Settings, redact_url};
use nhiguard_domain::clock::SystemClock;
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
    #[error("{}\n{}", .0.message().zh, .0.message().en)]
    App(#[from] nhiguard_app::AppError),
    #[error("無法在 {addr} 提供服務 / cannot serve on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Settings(_) | CliError::ConfigFile { .. } => 2,
            CliError::Database { .. } => 3,
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

async fn open(s: &Settings) -> Result<App, CliError> {
    let url = s.effective_database_url();
    if s.database_url.is_empty() {
        std::fs::create_dir_all(&s.data_dir)
            .map_err(|source| CliError::DataDir { path: s.data_dir.display().to_string(), source })?;
    }
    let db = Db::open(&url).await.map_err(|source| CliError::Database { url: redact_url(&url), source })?;
    Ok(App::new(db, s.clone(), Arc::new(SystemClock)))
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

/// Runs the scheduled work in the server: for now, removing idle sessions.
fn spawn_jobs(app: App) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            match app.purge_idle_sessions().await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "idle sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not remove idle sessions"),
            }
        }
    });
}

async fn serve(app: App) -> Result<(), CliError> {
    let addr = app.settings().listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr: addr.to_string(), source })?;
    tracing::info!(%addr, backend = app.db().backend().name(), "nhiguard serving");
    spawn_jobs(app.clone());
    nhiguard_web::serve(app, listener, shutdown_signal())
        .await
        .map_err(|source| CliError::Listen { addr: addr.to_string(), source })
}

#[expect(clippy::print_stdout, reason = "the CLI is where nhiguard talks to the terminal")]
async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(common) => {
            let s = load_settings(&common)?;
            init_logging(&s);
            let app = open(&s).await?;
            let accounts = app.fill_demo().await?;
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
