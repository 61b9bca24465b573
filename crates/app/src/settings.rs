//! Settings, layered: defaults → TOML file (`--config`) → `NHIGUARD_*` environment → command-line
//! flags. Each setting is declared once in [`SPECS`] (name, meaning, default, what is allowed); the
//! README's table is checked against it by a test. Unknown keys are refused, and a bad value stops
//! start-up naming the setting and what is allowed. The `cli` crate reads the file and the
//! environment; this module only interprets them, so it can be tested without touching either.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::i18n::Lang;

#[derive(Clone, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://<data_dir>/nhiguard.db`. May hold a
    /// password, so `Debug` never prints it.
    pub database_url: String,
    /// The address people reach the server at, for links in messages; empty means `http://<listen>`.
    pub public_url: String,
    pub session_idle_minutes: i64,
    pub activation_hours: i64,
    pub lockout_attempts: i64,
    pub lockout_minutes: i64,
    pub password_min_length: i64,
    /// A password expires after this many days and must then be changed first (R-ACC-6).
    pub password_max_age_days: i64,
    /// Lowest zxcvbn strength score (0–4) a new password needs (R-ACC-6).
    pub password_min_score: i64,
    pub default_language: Lang,
    pub log: String,
    /// Names this deployment's log in every signed checkpoint (`nhiguard.<id>`); never changed
    /// once the first checkpoint is signed.
    pub deployment_id: String,
    /// The checkpoint signing key; empty means `<data_dir>/ledger-signing.key`.
    pub ledger_key_file: String,
    pub checkpoint_minutes: i64,
    /// The fewest letters or digits a query reason must have (R-QRY-1).
    pub reason_min_chars: i64,
    /// Days a retrieved result is kept before the scheduled purge (R-DAT-1).
    pub result_retention_days: i64,
    /// NHIA's data service; empty means the built-in sandbox with synthetic people.
    pub nhi_endpoint: String,
    /// The credential NHIA issued; never logged or shown.
    pub nhi_credential: String,
    pub nhi_client_cert: String,
    pub nhi_client_key: String,
    pub nhi_ca: String,
    pub nhi_timeout_seconds: i64,
    pub nhi_retries: i64,
    /// The results key file; empty means `<data_dir>/results.key`.
    pub results_key_file: String,
    /// Years the ledger keeps every entry whole (R-LOG-2: never below 5).
    pub ledger_retention_years: i64,
    /// An account with no sign-in for this many days is flagged in account reviews (R-ACC-9).
    pub account_idle_days: i64,
    /// Admins are reminded when their branch has had no account review for this many months.
    pub account_review_months: i64,
    /// Days before a password expires on which its owner is reminded (R-ACC-6).
    pub password_reminder_days: Vec<i64>,
    /// Admins must set up the second factor before anything else (R-ACC-6).
    pub totp_required_for_admins: bool,
    /// The mail server for activation links, e.g. `smtps://user:password@mail.nantou.gov.tw`; empty:
    /// links are shown once to the admin instead. Holds a password: never logged.
    pub smtp_url: String,
    /// The sender of those messages.
    pub smtp_from: String,
    /// R-REV-2: the share of a month's queries reviewed (never below the regulation's 3 %) …
    pub review_sample_rate_percent: i64,
    /// … and the fewest reviewed (never below 10; all of them below that).
    pub review_sample_minimum: i64,
    /// The risk flags' thresholds (issue 6's detectors), each a `risk_…` setting.
    pub risk: nhiguard_domain::risk::Thresholds,
}

impl Settings {
    /// The monthly review's sampling settings (R-REV-2).
    pub fn sample_settings(&self) -> nhiguard_domain::review::SampleSettings {
        nhiguard_domain::review::SampleSettings {
            rate_percent: u32::try_from(self.review_sample_rate_percent).unwrap_or(3),
            minimum: u64::try_from(self.review_sample_minimum).unwrap_or(10),
        }
    }

    /// The password rules these settings make.
    pub fn password_policy(&self) -> nhiguard_domain::password::Policy {
        nhiguard_domain::password::Policy {
            min_length: usize::try_from(self.password_min_length).unwrap_or(12),
            min_score: u8::try_from(self.password_min_score).unwrap_or(3),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./nhiguard-data"),
            database_url: String::new(),
            public_url: String::new(),
            session_idle_minutes: 15,
            activation_hours: 24,
            lockout_attempts: 5,
            lockout_minutes: 15,
            password_min_length: 12,
            password_max_age_days: 90,
            password_min_score: 3,
            default_language: Lang::Zh,
            log: "info".into(),
            deployment_id: "nantou".into(),
            ledger_key_file: String::new(),
            checkpoint_minutes: 10,
            reason_min_chars: 8,
            result_retention_days: 30,
            nhi_endpoint: String::new(),
            nhi_credential: String::new(),
            nhi_client_cert: String::new(),
            nhi_client_key: String::new(),
            nhi_ca: String::new(),
            nhi_timeout_seconds: 10,
            nhi_retries: 2,
            results_key_file: String::new(),
            ledger_retention_years: 5,
            account_idle_days: 90,
            account_review_months: 6,
            password_reminder_days: vec![14, 3],
            totp_required_for_admins: false,
            smtp_url: String::new(),
            smtp_from: "健保資料查詢管理系統 <nhiguard@localhost>".into(),
            review_sample_rate_percent: 3,
            review_sample_minimum: 10,
            risk: nhiguard_domain::risk::Thresholds::default(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("activation_hours", &self.activation_hours)
            .field("lockout_attempts", &self.lockout_attempts)
            .field("lockout_minutes", &self.lockout_minutes)
            .field("password_min_length", &self.password_min_length)
            .field("password_max_age_days", &self.password_max_age_days)
            .field("password_min_score", &self.password_min_score)
            .field("default_language", &self.default_language)
            .field("log", &self.log)
            .field("deployment_id", &self.deployment_id)
            .field("ledger_key_file", &self.ledger_key_file)
            .field("checkpoint_minutes", &self.checkpoint_minutes)
            .field("reason_min_chars", &self.reason_min_chars)
            .field("result_retention_days", &self.result_retention_days)
            .field("nhi_endpoint", &self.nhi_endpoint)
            .field("nhi_credential", &if self.nhi_credential.is_empty() { "" } else { "***" })
            .field("nhi_client_cert", &self.nhi_client_cert)
            .field("nhi_client_key", &self.nhi_client_key)
            .field("nhi_ca", &self.nhi_ca)
            .field("nhi_timeout_seconds", &self.nhi_timeout_seconds)
            .field("nhi_retries", &self.nhi_retries)
            .field("results_key_file", &self.results_key_file)
            .field("ledger_retention_years", &self.ledger_retention_years)
            .field("account_idle_days", &self.account_idle_days)
            .field("account_review_months", &self.account_review_months)
            .field("password_reminder_days", &self.password_reminder_days)
            .field("totp_required_for_admins", &self.totp_required_for_admins)
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("smtp_from", &self.smtp_from)
            .field("review_sample_rate_percent", &self.review_sample_rate_percent)
            .field("review_sample_minimum", &self.review_sample_minimum)
            .field("risk", &self.risk)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// The database to open: the configured URL, or the SQLite file under the data directory.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("nhiguard.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn effective_ledger_key_file(&self) -> PathBuf {
        if self.ledger_key_file.is_empty() {
            self.data_dir.join("ledger-signing.key")
        } else {
            PathBuf::from(&self.ledger_key_file)
        }
    }

    pub fn effective_results_key_file(&self) -> PathBuf {
        if self.results_key_file.is_empty() {
            self.data_dir.join("results.key")
        } else {
            PathBuf::from(&self.results_key_file)
        }
    }

    /// Where signed checkpoints are also written as text files, to copy and hand out.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.data_dir.join("checkpoints")
    }

    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

/// A setting that could not be used: which one, where it came from, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{key}` ({source_name}): {problem}")]
pub struct SettingsError {
    pub key: String,
    pub source_name: String,
    pub problem: String,
}

type Setter = fn(&mut Settings, &str) -> Result<(), String>;

/// One setting: its key, what it means, its default as written in the README, and how to apply it.
pub struct Spec {
    pub key: &'static str,
    pub meaning: &'static str,
    pub default: &'static str,
    set: Setter,
}

/// The log filter: a level, or tracing directives (`target=level`, comma-separated). A bare word
/// that is not a level would be read as a target name and silence everything else, errors
/// included, so it is refused.
fn log_filter(v: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let v = v.trim();
    let usage = "use error, warn, info or debug, or directives such as nhiguard=debug,sqlx=warn";
    if v.is_empty() {
        return Err(format!("must not be empty; {usage}"));
    }
    for part in v.split(',').map(str::trim) {
        let level = match part.split_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => return Err(format!("{part:?} names no target; {usage}")),
            None => part,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!("{level:?} is not a level (error, warn, info, debug, trace, off); {usage}"));
        }
    }
    Ok(v.to_owned())
}

/// NHIA's address: https, or http only to this machine (the sandbox): the credential and the
/// subjects' IDs never cross a network unencrypted.
fn nhi_endpoint(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.starts_with("https://") {
        return Ok(v.to_owned());
    }
    let Some(rest) = v.strip_prefix("http://") else {
        return Err("must start with https:// (or http:// for a sandbox on this machine)".into());
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "http:// only for a sandbox on this machine (localhost, 127.0.0.1); NHIA at {host:?} needs https://"
        ))
    }
}

fn int_in(v: &str, min: i64, max: i64) -> Result<i64, String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from {min} to {max}, got {v:?}")),
    }
}

pub static SPECS: &[Spec] = &[
    Spec {
        key: "listen",
        meaning: "address and port to serve on",
        default: "127.0.0.1:8080",
        set: |s, v| {
            s.listen = v
                .trim()
                .parse()
                .map_err(|_| format!("must be an address and port such as 127.0.0.1:8080, got {v:?}"))?;
            Ok(())
        },
    },
    Spec {
        key: "data_dir",
        meaning: "folder for the embedded database and key files",
        default: "./nhiguard-data",
        set: |s, v| {
            if v.trim().is_empty() {
                return Err("must be a folder path, got an empty value".into());
            }
            s.data_dir = PathBuf::from(v.trim());
            Ok(())
        },
    },
    Spec {
        key: "database_url",
        meaning: "sqlite://PATH or postgres://USER@HOST/DB; empty: SQLite in data_dir",
        default: "(empty)",
        set: |s, v| {
            let v = v.trim();
            if !(v.is_empty() || v.starts_with("sqlite:") || v.starts_with("postgres:") || v.starts_with("postgresql:"))
            {
                return Err("must start with sqlite:// or postgres://".into());
            }
            s.database_url = v.to_owned();
            Ok(())
        },
    },
    Spec {
        key: "public_url",
        meaning: "address people use to reach the server (for activation links); empty: http://LISTEN",
        default: "(empty)",
        set: |s, v| {
            let v = v.trim();
            if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
                return Err("must start with http:// or https://".into());
            }
            s.public_url = v.to_owned();
            Ok(())
        },
    },
    Spec {
        key: "session_idle_minutes",
        meaning: "a session ends after this many minutes without a request",
        default: "15",
        set: |s, v| {
            s.session_idle_minutes = int_in(v, 1, 480)?;
            Ok(())
        },
    },
    Spec {
        key: "activation_hours",
        meaning: "how long a one-time activation link stays valid (R-ACC-4)",
        default: "24",
        set: |s, v| {
            s.activation_hours = int_in(v, 1, 168)?;
            Ok(())
        },
    },
    Spec {
        key: "lockout_attempts",
        meaning: "failed sign-ins in a row that lock an account (R-ACC-6)",
        default: "5",
        set: |s, v| {
            s.lockout_attempts = int_in(v, 3, 20)?;
            Ok(())
        },
    },
    Spec {
        key: "lockout_minutes",
        meaning: "how long a locked account stays locked (R-ACC-6)",
        default: "15",
        set: |s, v| {
            s.lockout_minutes = int_in(v, 1, 1440)?;
            Ok(())
        },
    },
    Spec {
        key: "password_min_length",
        meaning: "shortest password allowed (R-ACC-6)",
        default: "12",
        set: |s, v| {
            s.password_min_length = int_in(v, 12, 128)?;
            Ok(())
        },
    },
    Spec {
        key: "password_max_age_days",
        meaning: "a password expires after this many days and must then be changed before anything else (R-ACC-6)",
        default: "90",
        set: |s, v| {
            s.password_max_age_days = int_in(v, 1, 365)?;
            Ok(())
        },
    },
    Spec {
        key: "password_min_score",
        meaning: "how hard to guess a new password must be: zxcvbn's score 0–4, where 3 means more than 10^8 guesses (R-ACC-6)",
        default: "3",
        set: |s, v| {
            s.password_min_score = int_in(v, 0, 4)?;
            Ok(())
        },
    },
    Spec {
        key: "default_language",
        meaning: "language of pages before a person chooses: zh-TW or en",
        default: "zh-TW",
        set: |s, v| {
            s.default_language = Lang::from_code(v.trim()).ok_or_else(|| format!("must be zh-TW or en, got {v:?}"))?;
            Ok(())
        },
    },
    Spec {
        key: "log",
        meaning: "log filter (error, warn, info, debug, or a tracing directive)",
        default: "info",
        set: |s, v| {
            s.log = log_filter(v)?;
            Ok(())
        },
    },
    Spec {
        key: "deployment_id",
        meaning: "names this deployment's log in signed checkpoints (nhiguard.ID); never change it once used",
        default: "nantou",
        set: |s, v| {
            let v = v.trim();
            let ok = (1..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(format!("must be 1 to 64 letters, digits, - _ or ., got {v:?}"));
            }
            s.deployment_id = v.to_owned();
            Ok(())
        },
    },
    Spec {
        key: "ledger_key_file",
        meaning: "the checkpoint signing key (mode 0600, kept outside the database); empty: data_dir/ledger-signing.key",
        default: "(empty)",
        set: |s, v| {
            s.ledger_key_file = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "checkpoint_minutes",
        meaning: "how often the server signs a ledger checkpoint (R-LOG-2)",
        default: "10",
        set: |s, v| {
            s.checkpoint_minutes = int_in(v, 1, 1440)?;
            Ok(())
        },
    },
    Spec {
        key: "reason_min_chars",
        meaning: "the fewest letters or digits a query reason must have (R-QRY-1)",
        default: "8",
        set: |s, v| {
            s.reason_min_chars = int_in(v, 2, 100)?;
            Ok(())
        },
    },
    Spec {
        key: "result_retention_days",
        meaning: "days a retrieved result is kept before the scheduled purge, unless attached to a case (R-DAT-1)",
        default: "30",
        set: |s, v| {
            s.result_retention_days = int_in(v, 1, 365)?;
            Ok(())
        },
    },
    Spec {
        key: "nhi_endpoint",
        meaning: "NHIA data service, https://…; empty: the built-in sandbox with synthetic people",
        default: "(empty)",
        set: |s, v| {
            s.nhi_endpoint = nhi_endpoint(v)?;
            Ok(())
        },
    },
    Spec {
        key: "nhi_credential",
        meaning: "the credential NHIA issued (sent as a bearer token; never logged)",
        default: "(empty)",
        set: |s, v| {
            s.nhi_credential = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "nhi_client_cert",
        meaning: "PEM file of the TLS client certificate for NHIA",
        default: "(empty)",
        set: |s, v| {
            s.nhi_client_cert = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "nhi_client_key",
        meaning: "PEM file of that certificate's private key",
        default: "(empty)",
        set: |s, v| {
            s.nhi_client_key = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "nhi_ca",
        meaning: "PEM file of the CA that signs NHIA's server certificate; empty: the system's",
        default: "(empty)",
        set: |s, v| {
            s.nhi_ca = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "nhi_timeout_seconds",
        meaning: "how long to wait for NHIA's answer (a lookup that timed out is never resent); the built-in sandbox is waited for the same",
        default: "10",
        set: |s, v| {
            s.nhi_timeout_seconds = int_in(v, 1, 120)?;
            Ok(())
        },
    },
    Spec {
        key: "nhi_retries",
        meaning: "retries when NHIA could not be reached at all (never after a request was sent)",
        default: "2",
        set: |s, v| {
            s.nhi_retries = int_in(v, 0, 5)?;
            Ok(())
        },
    },
    Spec {
        key: "results_key_file",
        meaning: "the key retrieved results, batch subjects and second-factor secrets are sealed with (mode 0600, outside the database; losing it loses them, and everyone's second factor must be reset); empty: data_dir/results.key",
        default: "(empty)",
        set: |s, v| {
            s.results_key_file = v.trim().to_owned();
            Ok(())
        },
    },
    Spec {
        key: "ledger_retention_years",
        meaning: "years every ledger entry is kept whole before `ledger prune` may clear it (R-LOG-2; at least 5)",
        default: "5",
        set: |s, v| {
            s.ledger_retention_years = int_in(v, 5, 100)?;
            Ok(())
        },
    },
    Spec {
        key: "account_idle_days",
        meaning: "an account with no sign-in for this many days is flagged in account reviews (R-ACC-9)",
        default: "90",
        set: |s, v| {
            s.account_idle_days = int_in(v, 7, 3650)?;
            Ok(())
        },
    },
    Spec {
        key: "account_review_months",
        meaning: "admins are reminded when their branch has had no account review for this many months (R-ACC-9)",
        default: "6",
        set: |s, v| {
            s.account_review_months = int_in(v, 1, 24)?;
            Ok(())
        },
    },
    Spec {
        key: "password_reminder_days",
        meaning: "the home page reminds a password's owner from the first of these days before it expires, urgently from the last, comma-separated (R-ACC-6)",
        default: "14,3",
        set: |s, v| {
            let mut days = Vec::new();
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                days.push(int_in(part, 1, 60)?);
            }
            days.sort_unstable_by(|a, b| b.cmp(a));
            days.dedup();
            s.password_reminder_days = days;
            Ok(())
        },
    },
    Spec {
        key: "totp_required_for_admins",
        meaning: "admins must set up the second factor (an authenticator app's 6-digit codes) before anything else: true or false (R-ACC-6)",
        default: "false",
        set: |s, v| {
            s.totp_required_for_admins = match v.trim() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                other => return Err(format!("must be true or false, got {other:?}")),
            };
            Ok(())
        },
    },
    Spec {
        key: "review_sample_rate_percent",
        meaning: "share of a month's queries the monthly review samples, in percent; never below the regulation's 3 (R-REV-2)",
        default: "3",
        set: |s, v| {
            s.review_sample_rate_percent = int_in(v, 3, 100)?;
            Ok(())
        },
    },
    Spec {
        key: "review_sample_minimum",
        meaning: "fewest entries the monthly review samples (all of them when there are fewer); never below 10 (R-REV-2)",
        default: "10",
        set: |s, v| {
            s.review_sample_minimum = int_in(v, 10, 10_000)?;
            Ok(())
        },
    },
    Spec {
        key: "risk_office_hours",
        meaning: "office hours, Asia/Taipei, as HH:MM-HH:MM; queries outside them (or on weekends and holidays) are flagged",
        default: "08:00-18:00",
        set: |s, v| {
            let parse = |t: &str| {
                chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M")
                    .map_err(|_| format!("must be HH:MM-HH:MM, got {v:?}"))
            };
            let (a, b) = v.split_once('-').ok_or_else(|| format!("must be HH:MM-HH:MM, got {v:?}"))?;
            let (start, end) = (parse(a)?, parse(b)?);
            if start >= end {
                return Err(format!("the start must come before the end, got {v:?}"));
            }
            s.risk.office_start = start;
            s.risk.office_end = end;
            Ok(())
        },
    },
    Spec {
        key: "risk_repeat_subject",
        meaning: "one subject looked up this many times in a month by one user, or by this many users, is flagged",
        default: "3",
        set: |s, v| {
            let n = u32::try_from(int_in(v, 2, 1000)?).map_err(|e| e.to_string())?;
            s.risk.repeat_by_user = n;
            s.risk.repeat_by_users = n;
            Ok(())
        },
    },
    Spec {
        key: "risk_spike_percent",
        meaning: "a user's month at this percentage of their earlier monthly average (and at least risk_spike_minimum queries) is flagged",
        default: "300",
        set: |s, v| {
            s.risk.spike_factor_percent = u32::try_from(int_in(v, 110, 10_000)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_spike_minimum",
        meaning: "fewest queries in a month before a rise counts as a spike",
        default: "20",
        set: |s, v| {
            s.risk.spike_minimum = u64::try_from(int_in(v, 1, 1_000_000)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_reason_similarity_percent",
        meaning: "two reasons under one case number count as unrelated below this similarity, in percent",
        default: "30",
        set: |s, v| {
            s.risk.reason_similarity_percent = u32::try_from(int_in(v, 1, 100)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_disable_window_days",
        meaning: "queries this many days before an account's disable date (or on it) are flagged",
        default: "7",
        set: |s, v| {
            s.risk.disable_window_days = u32::try_from(int_in(v, 0, 365)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_not_found_percent",
        meaning: "a user whose not-found answers reach this percentage (over at least risk_not_found_minimum lookups) is flagged as possibly fishing",
        default: "30",
        set: |s, v| {
            s.risk.not_found_rate_percent = u32::try_from(int_in(v, 1, 100)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_not_found_minimum",
        meaning: "fewest lookups in a month before the not-found share counts",
        default: "10",
        set: |s, v| {
            s.risk.not_found_minimum = u64::try_from(int_in(v, 1, 1_000_000)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Spec {
        key: "risk_off",
        meaning: "risk flags switched off, comma-separated codes (e.g. shared_surname where one surname is very common); empty: all on",
        default: "(empty)",
        set: |s, v| {
            let mut off = Vec::new();
            for code in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                off.push(nhiguard_domain::risk::FlagKind::from_code(code).ok_or_else(|| {
                    let known: Vec<&str> = nhiguard_domain::risk::FlagKind::ALL.iter().map(|k| k.code()).collect();
                    format!("{code:?} is not a flag; the flags are {}", known.join(", "))
                })?);
            }
            s.risk.disabled = off;
            Ok(())
        },
    },
    Spec {
        key: "smtp_url",
        meaning: "mail server for activation links: smtps://user:password@host (TLS), smtp://host:587?tls=required (STARTTLS) or smtp://host (local relay); empty: links are shown once to the admin",
        default: "(empty)",
        set: |s, v| {
            let v = v.trim();
            if !v.is_empty() {
                crate::mail::check_url(v)?;
            }
            s.smtp_url = v.to_owned();
            Ok(())
        },
    },
    Spec {
        key: "smtp_from",
        meaning: "sender of those messages, e.g. 健保資料查詢管理系統 <nhiguard@nantou.gov.tw>",
        default: "健保資料查詢管理系統 <nhiguard@localhost>",
        set: |s, v| {
            crate::mail::check_from(v)?;
            s.smtp_from = v.trim().to_owned();
            Ok(())
        },
    },
];

/// Environment variables that start with `NHIGUARD_` but are not settings.
const NON_SETTING_ENV: &[&str] = &["NHIGUARD_TEST_DATABASE_URL"];

fn apply(s: &mut Settings, key: &str, value: &str, source_name: &str) -> Result<(), SettingsError> {
    let spec = SPECS.iter().find(|sp| sp.key == key).ok_or_else(|| SettingsError {
        key: key.to_owned(),
        source_name: source_name.to_owned(),
        problem: format!(
            "unknown setting; known settings are: {}",
            SPECS.iter().map(|sp| sp.key).collect::<Vec<_>>().join(", ")
        ),
    })?;
    (spec.set)(s, value).map_err(|problem| SettingsError {
        key: key.to_owned(),
        source_name: source_name.to_owned(),
        problem,
    })
}

/// Builds the settings from the layers, later ones winning. `toml_text` is the `--config` file's
/// content, `env` the process environment, `flags` the command-line values given.
pub fn load(
    toml_text: Option<(&str, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(&str, String)],
) -> Result<Settings, SettingsError> {
    let mut s = Settings::default();
    if let Some((path, text)) = toml_text {
        let table: toml::Table = toml::from_str(text).map_err(|e| SettingsError {
            key: "(file)".into(),
            source_name: path.to_owned(),
            problem: format!("not valid TOML: {}", e.message()),
        })?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(v) => v,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(SettingsError {
                        key,
                        source_name: path.to_owned(),
                        problem: format!("must be a string, a number or true/false, got {}", other.type_str()),
                    });
                }
            };
            apply(&mut s, &key, &text, path)?;
        }
    }
    let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("NHIGUARD_")).collect();
    env.sort();
    for (name, value) in env {
        if NON_SETTING_ENV.contains(&name.as_str()) {
            continue;
        }
        let key = name["NHIGUARD_".len()..].to_ascii_lowercase();
        apply(&mut s, &key, &value, &name)?;
    }
    for (key, value) in flags {
        apply(&mut s, key, value, &format!("--{}", key.replace('_', "-")))?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        let file = "session_idle_minutes = 20\nlisten = \"0.0.0.0:9000\"\nlog = \"debug\"";
        let s = load(
            Some(("nhiguard.toml", file)),
            env(&[("NHIGUARD_SESSION_IDLE_MINUTES", "30"), ("PATH", "/bin")]),
            &[("listen", "127.0.0.1:7000".into())],
        )
        .unwrap();
        assert_eq!(s.session_idle_minutes, 30);
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.log, "debug");
        assert_eq!(s.lockout_attempts, 5);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_setting_and_what_is_allowed() {
        let e = load(Some(("f.toml", "sesion_idle = 3")), [], &[]).unwrap_err();
        assert_eq!(e.key, "sesion_idle");
        assert!(e.problem.contains("known settings"));
        let e = load(None, env(&[("NHIGUARD_SESSION_IDLE_MINUTES", "0")]), &[]).unwrap_err();
        assert_eq!((e.key.as_str(), e.source_name.as_str()), ("session_idle_minutes", "NHIGUARD_SESSION_IDLE_MINUTES"));
        assert!(e.problem.contains("from 1 to 480"), "{}", e.problem);
        let e = load(None, env(&[("NHIGUARD_FOO", "1")]), &[]).unwrap_err();
        assert_eq!(e.key, "foo");
        let e = load(None, [], &[("database_url", "mysql://x".into())]).unwrap_err();
        assert!(e.problem.contains("sqlite://"));
        assert!(load(Some(("f.toml", "listen = [1]")), [], &[]).is_err());
        assert!(load(Some(("f.toml", "= broken")), [], &[]).unwrap_err().problem.contains("TOML"));
        assert!(load(None, env(&[("NHIGUARD_TEST_DATABASE_URL", "postgres://x")]), &[]).is_ok());
    }

    #[test]
    fn a_log_filter_is_a_level_or_directives_never_a_bare_word_that_silences_everything() {
        for ok in ["info", "warn", "nhiguard=debug,sqlx=warn", "DEBUG", "off"] {
            assert!(load(None, env(&[("NHIGUARD_LOG", ok)]), &[]).is_ok(), "{ok}");
        }
        for bad in ["warning", "nhiguard=loud", "=debug", "verbose", " "] {
            let e = load(None, env(&[("NHIGUARD_LOG", bad)]), &[]).unwrap_err();
            assert_eq!(e.key, "log", "{bad}");
            assert!(e.problem.contains("error, warn, info"), "{bad}: {}", e.problem);
        }
    }

    #[test]
    fn nhia_is_reached_over_https_unless_the_sandbox_runs_on_this_machine() {
        let endpoint = |v: &str| load(None, [], &[("nhi_endpoint", v.into())]).map(|s| s.nhi_endpoint);
        assert!(endpoint("https://nhi.example.gov.tw/api").is_ok());
        assert!(endpoint("http://127.0.0.1:9000").is_ok());
        assert!(endpoint("http://localhost/x").is_ok());
        let e = endpoint("http://nhi.example.gov.tw").unwrap_err();
        assert!(e.problem.contains("https://") && e.problem.contains("nhi.example.gov.tw"), "{}", e.problem);
        assert!(endpoint("http://127.0.0.1.evil.example").is_err());
        assert!(endpoint("ftp://x").is_err());
    }

    #[test]
    fn a_toml_file_may_write_true_and_false_as_toml_booleans() {
        let s = load(Some(("f.toml", "totp_required_for_admins = true")), [], &[]).unwrap();
        assert!(s.totp_required_for_admins);
    }

    #[test]
    fn r_acc_6_password_minimum_cannot_go_below_twelve() {
        assert!(load(None, [], &[("password_min_length", "8".into())]).is_err());
    }

    #[test]
    fn debug_never_prints_a_database_password() {
        let s = load(None, [], &[("database_url", "postgres://nhi:s3cret@db/nhi".into())]).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret") && shown.contains("nhi:***@db"));
    }
}

#[cfg(test)]
mod readme {
    /// The README's settings table lists every setting with its default, so the two cannot drift.
    #[test]
    fn the_readme_settings_table_matches_the_specs() {
        let readme = include_str!("../../../README.md");
        for spec in super::SPECS {
            let row = format!(
                "| `{}` | {} | {} |",
                spec.key,
                if spec.default == "(empty)" { "(empty)".to_owned() } else { format!("`{}`", spec.default) },
                spec.meaning
            );
            assert!(readme.contains(&row), "README lacks the row: {row}");
        }
    }
}
