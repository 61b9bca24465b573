//! Sign-in, sessions, bearer tokens and activation (R-ACC-4, R-ACC-6). Passwords are hashed with
//! Argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane); session and activation tokens are
//! 256-bit random values of which only the SHA-256 is stored. Web sessions and API bearer tokens
//! are the same kind of record, bound to one account, so the API has no shared or anonymous keys.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use chrono::Duration;
use nhiguard_domain::access::Actor as DomainActor;
use nhiguard_domain::role::Role;
use nhiguard_domain::{password, roc};
use nhiguard_store::{AccountRow, TokenProblem};
use sha2::{Digest, Sha256};

use crate::events::{Actor, kind};
use crate::i18n::Text;
use crate::{App, AppError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session: cookie plus CSRF token on every form.
    Web,
    /// An API client: `Authorization: Bearer …`.
    Api,
}

impl SessionKind {
    fn code(self) -> &'static str {
        match self {
            SessionKind::Web => "web",
            SessionKind::Api => "api",
        }
    }
}

/// A new session: the token goes to the client once and is never stored or logged.
#[derive(Clone)]
pub struct SignedIn {
    pub token: String,
    pub csrf: String,
    pub account_id: i64,
    pub expires_in_minutes: i64,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

/// The signed-in account of a request.
#[derive(Debug, Clone)]
pub struct Current {
    pub account_id: i64,
    pub username: String,
    pub person_name: String,
    pub person_title: String,
    pub org_node_id: i64,
    pub roles: Vec<Role>,
    pub csrf: String,
    pub kind: SessionKind,
    pub client_addr: String,
    /// The password expired or a handover asked for a new one: nothing else works until it is
    /// changed (R-ACC-6, R-ACC-8).
    pub must_change_password: bool,
    /// The settings require a second factor of admins and this admin has none yet: nothing else
    /// works until it is set up (R-ACC-6).
    pub must_enrol_totp: bool,
    /// The reference data's generation read with the session at the start of this request, so that
    /// authorising a query need not read it again; `None` (a batch, the demo) reads it when needed.
    pub reference_generation: Option<i64>,
    /// The account's grants (R-PUR-3), read with the session likewise; `None` reads them when needed.
    pub grants: Option<Vec<nhiguard_store::Grant>>,
    /// A sign-in lockout in force (R-ACC-6). It ends no session — whoever set it off need not be the
    /// session's holder — but no query goes out until it ends.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The account may no longer act (disabled, past its disable date). Only a query route
    /// ([`App::current_for_query`], whose session is then ended) and a batch working for the
    /// account see such a `Current`: the query is refused and recorded.
    pub barred: Option<Barred>,
}

/// Why an account may not act at all any more, for the person (`message`) and the log (`why`).
#[derive(Debug, Clone)]
pub struct Barred {
    pub why: &'static str,
    pub message: Text,
}

impl Current {
    pub fn actor(&self) -> DomainActor {
        DomainActor { account_id: self.account_id, org_node_id: self.org_node_id, roles: self.roles.clone() }
    }

    pub fn event_actor(&self) -> Actor<'_> {
        Actor { account_id: Some(self.account_id), username: &self.username, client_addr: &self.client_addr }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A 256-bit random token, base64url.
pub fn random_token() -> Result<String> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Binds a sealed TOTP secret to its account: moved to another row, it does not open.
fn totp_aad(account_id: i64) -> String {
    format!("nhiguard-totp:{account_id}")
}

/// What is stored for a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Argon2id with OWASP's parameters (the crate's defaults: m = 19 MiB, t = 2, p = 1).
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

fn verify_password(password: &str, stored: Option<&str>) -> bool {
    // An account without a password (not yet activated) and an unknown user still cost one hash,
    // so that timing does not tell which usernames exist.
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$F0b3VHpSnhw2dvvYv1c0c8Ih5fYbhIxF7AbEZvn1jm0";
    let hash = stored.unwrap_or(DUMMY);
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some(),
        Err(_) => false,
    }
}

/// At most this many Argon2 computations run at once: each holds 19 MiB and a core for tens of
/// milliseconds, so a burst of sign-ins waits its turn instead of growing the blocking pool (up to
/// 512 threads, 10 GiB) and starving everything else. One per core.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Runs one Argon2 job on the blocking pool (so that it never stalls the async workers), once a
/// permit is free.
async fn off_thread<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit =
        hashing_permits().acquire().await.map_err(|e| AppError::Internal(format!("password hashing permits: {e}")))?;
    tokio::task::spawn_blocking(job).await.map_err(|e| AppError::Internal(format!("password hashing task: {e}")))
}

/// Argon2 takes tens of milliseconds of CPU by design: see [`off_thread`].
pub async fn hash_password_off_thread(password: &str) -> Result<String> {
    let password = password.to_owned();
    off_thread(move || hash_password(&password)).await?
}

/// As [`hash_password_off_thread`], for checking a password against stored hashes (any match).
pub async fn verify_password_off_thread(password: &str, stored: Vec<Option<String>>) -> Result<bool> {
    let password = password.to_owned();
    off_thread(move || stored.iter().any(|h| verify_password(&password, h.as_deref()))).await
}

/// A lockout (R-ACC-6) until `until`, and what to do about it.
pub(crate) fn locked_until_text(until: chrono::DateTime<chrono::Utc>, then_zh: &str, then_en: &str) -> Text {
    Text::new(
        format!("連續登入失敗次數過多，帳號鎖定至 {}，{then_zh}", roc::short_datetime(until)),
        format!("too many failed sign-ins: the account is locked until {}; {then_en}", until.to_rfc3339()),
    )
}

fn bad_credentials() -> AppError {
    AppError::Unauthenticated(Text::new(
        "帳號或密碼錯誤（已啟用兩步驟驗證者，請一併輸入驗證器目前顯示的 6 位數字）",
        "wrong username or password (with a second factor set up, also type the six digits your authenticator shows now)",
    ))
}

impl App {
    /// Whether an account may act now: active, not past its disable date (checked against
    /// Taipei's calendar so that the date means what the admin meant).
    fn account_usable(&self, a: &AccountRow) -> std::result::Result<(), Barred> {
        let barred = |why, zh: &str, en: &str| Err(Barred { why, message: Text::new(zh, en) });
        match a.status.as_str() {
            "active" => {}
            "pending" => {
                return barred(
                    "account not activated",
                    "帳號尚未啟用：請使用管理者交付的啟用連結設定密碼",
                    "this account is not activated yet: use the activation link from your admin to set a password",
                );
            }
            _ => {
                return barred(
                    "account disabled",
                    "帳號已停用，請洽所屬機關管理者",
                    "this account is disabled; ask your agency admin",
                );
            }
        }
        if let Some(d) = a.disable_on.as_deref().and_then(|d| d.parse::<chrono::NaiveDate>().ok())
            && roc::taipei_date(self.now()) >= d
        {
            return barred(
                "account past its disable date",
                "帳號已於停用日起停止使用，請洽所屬機關管理者",
                "this account stopped working on its disable date; ask your agency admin",
            );
        }
        Ok(())
    }

    /// The account as a request (or a batch working for it) acts: its roles and grants, and
    /// whatever keeps it from acting or from querying now.
    pub(crate) fn account_current(&self, account: AccountRow, kind: SessionKind, addr: &str) -> Current {
        let max_age = Duration::days(self.settings().password_max_age_days);
        let expired = account.password_changed_at.is_some_and(|t| self.now() - t > max_age);
        let must_enrol_totp = self.settings().totp_required_for_admins
            && account.roles.iter().any(|r| r.is_admin())
            && account.totp_enabled_at.is_none();
        Current {
            must_change_password: account.must_change_password || expired,
            must_enrol_totp,
            barred: self.account_usable(&account).err(),
            locked_until: account.locked_until,
            account_id: account.id,
            username: account.username,
            person_name: account.person_name,
            person_title: account.person_title,
            org_node_id: account.org_node_id,
            roles: account.roles,
            csrf: String::new(),
            kind,
            client_addr: addr.to_owned(),
            reference_generation: None,
            grants: None,
        }
    }

    /// Signs in with username and password (R-ACC-6 lockout). Every outcome is recorded.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        totp: &str,
        kind: SessionKind,
        addr: &str,
    ) -> Result<SignedIn> {
        let now = self.now();
        let typed = username.trim().to_ascii_lowercase();
        let who = Actor { account_id: None, username: &typed, client_addr: addr };
        let Some(account) = self.db().account_by_username(&typed).await? else {
            verify_password_off_thread(password, vec![None]).await?;
            self.record(kind::SIGN_IN_FAILED, who, &typed, "unknown username").await?;
            return Err(bad_credentials());
        };
        let who = Actor { account_id: Some(account.id), ..who };
        if let Some(until) = account.locked_until.filter(|u| *u > now) {
            self.record(kind::SIGN_IN_FAILED, who, &typed, "account locked").await?;
            return Err(AppError::Unauthenticated(locked_until_text(
                until,
                "請稍後再試或洽管理者",
                "try later or ask your admin",
            )));
        }
        if !verify_password_off_thread(password, vec![account.password_hash.clone()]).await? {
            self.sign_in_failed(&account, who, &typed, "wrong password").await?;
            return Err(bad_credentials());
        }
        // R-ACC-6: the second factor, for those who turned it on; a code works once.
        let totp_step = if account.totp_enabled_at.is_some() {
            match self.check_totp(account.id, totp).await? {
                Some(step) => Some(step),
                None => {
                    self.sign_in_failed(&account, who, &typed, "wrong or reused second-factor code").await?;
                    // The same answer as a wrong password: a distinct one would tell that the
                    // password was right.
                    return Err(bad_credentials());
                }
            }
        } else {
            None
        };
        if let Err(b) = self.account_usable(&account) {
            self.record(kind::SIGN_IN_FAILED, who, &typed, b.why).await?;
            return Err(AppError::Unauthenticated(b.message));
        }
        let token = random_token()?;
        let csrf = random_token()?;
        // R-ACC-5: one person, one account, one place at a time; a second address while another
        // session is alive is flagged to the account's admins.
        let idle = Duration::minutes(self.settings().session_idle_minutes);
        let others: Vec<String> =
            self.db().live_session_addrs(account.id, now - idle).await?.into_iter().filter(|a| a != addr).collect();
        let mut tx = self.db().begin().await?;
        if let Some(step) = totp_step
            && !tx.use_totp_step(account.id, step).await?
        {
            // Another sign-in used this code a moment ago.
            return Err(bad_credentials());
        }
        tx.record_sign_in_success(account.id, now).await?;
        tx.insert_session(&token_hash(&token), account.id, kind.code(), &csrf, now, addr).await?;
        self.record_in(&mut tx, kind::SIGN_IN, who, &typed, kind.code()).await?;
        if let Some(other) = others.first() {
            tx.insert_session_alert(account.id, addr, other, now).await?;
            self.record_in(&mut tx, kind::CONCURRENT_SESSION, who, &typed, &format!("also signed in from {other}"))
                .await?;
        }
        tx.commit().await?;
        Ok(SignedIn { token, csrf, account_id: account.id, expires_in_minutes: self.settings().session_idle_minutes })
    }

    /// The account behind a session token, if the session is alive (idle timeout) and the account
    /// still usable; touches the session.
    pub async fn current(&self, token: &str, kind: SessionKind, addr: &str) -> Result<Current> {
        let current = self.current_for_query(token, kind, addr).await?;
        match current.barred {
            Some(b) => Err(AppError::Unauthenticated(b.message)),
            None => Ok(current),
        }
    }

    /// As [`App::current`] for a request that sends a query or a batch, except that an account
    /// that may no longer act still comes back, carrying why in [`Current::barred`] (its session
    /// is ended all the same): the query is then refused and recorded with its own fields (R-LOG-1)
    /// — turned away before it is read, it would leave no trace.
    pub async fn current_for_query(&self, token: &str, kind: SessionKind, addr: &str) -> Result<Current> {
        let now = self.now();
        let hash = token_hash(token);
        let expired = || {
            AppError::Unauthenticated(Text::new(
                "請先登入（或登入已逾時）",
                "please sign in (or your session has expired)",
            ))
        };
        let Some(nhiguard_store::SessionAccount { session, account, reference_generation, grants }) =
            self.db().session_account(&hash).await?
        else {
            return Err(expired());
        };
        if session.kind != kind.code() {
            return Err(expired());
        }
        let idle = Duration::minutes(self.settings().session_idle_minutes);
        if now - session.last_seen_at > idle {
            self.db().delete_session(&hash).await?;
            let who = Actor { account_id: Some(account.id), username: &account.username, client_addr: addr };
            self.record(kind::SESSION_EXPIRED, who, &account.username, "idle timeout").await?;
            return Err(AppError::Unauthenticated(Text::new(
                "閒置逾時，請重新登入",
                "your session timed out; please sign in again",
            )));
        }
        let current = self.account_current(account, kind, addr);
        if current.barred.is_some() {
            self.db().delete_session(&hash).await?;
        } else if now - session.last_seen_at > Duration::seconds(30) {
            // Writing on every request would make reads write; a minute's precision is enough.
            self.db().touch_session(&hash, now).await?;
        }
        Ok(Current {
            csrf: session.csrf_token,
            reference_generation: Some(reference_generation),
            grants: Some(grants),
            ..current
        })
    }

    /// Counts a failed sign-in toward the lockout (R-ACC-6) and records it, and the lockout if
    /// this one reached it.
    async fn sign_in_failed(&self, account: &AccountRow, who: Actor<'_>, typed: &str, why: &str) -> Result<()> {
        let s = self.settings();
        let now = self.now();
        let failed = account.failed_attempts + 1;
        let lock = (failed >= s.lockout_attempts).then(|| now + Duration::minutes(s.lockout_minutes));
        let mut tx = self.db().begin().await?;
        tx.record_sign_in_failure(account.id, if lock.is_some() { 0 } else { failed }, lock).await?;
        let detail = format!("{why} ({failed} in a row)");
        self.record_in(&mut tx, kind::SIGN_IN_FAILED, who, typed, &detail).await?;
        if lock.is_some() {
            let detail = format!("locked for {} minutes", s.lockout_minutes);
            self.record_in(&mut tx, kind::LOCKOUT, who, typed, &detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The step a typed code matches for this account, if it does and was not used before.
    async fn check_totp(&self, account_id: i64, typed: &str) -> Result<Option<i64>> {
        let Some((nonce, sealed, last)) = self.db().totp_secret(account_id).await? else { return Ok(None) };
        let secret = self.inner.results_key.open(&nonce, &sealed, totp_aad(account_id).as_bytes())?;
        Ok(nhiguard_domain::totp::verify(&secret, typed, self.now().timestamp(), last))
    }

    /// Starts (or restarts) setting up the second factor: a new secret, sealed, not yet in force;
    /// returns it in base32 and as an `otpauth://` address for the authenticator app.
    /// Someone who already has one proves it with a current code first, so that a borrowed
    /// session cannot switch the second factor off.
    pub async fn totp_begin(&self, current: &Current, current_code: &str) -> Result<(String, String)> {
        let enabled = self.db().account(current.account_id).await?.totp_enabled_at.is_some();
        if enabled {
            let step = self.check_totp(current.account_id, current_code).await?;
            let mut tx = self.db().begin().await?;
            let fresh = match step {
                Some(s) => tx.use_totp_step(current.account_id, s).await?,
                None => false,
            };
            if !fresh {
                return Err(AppError::invalid(
                    "code",
                    "更換驗證器前，請先輸入目前驗證器顯示的 6 位數字",
                    "to move to another authenticator, first type the six digits the current one shows",
                ));
            }
            tx.commit().await?;
        }
        let mut secret = [0u8; nhiguard_domain::totp::SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
        let (nonce, sealed) = self.inner.results_key.seal(&secret, totp_aad(current.account_id).as_bytes())?;
        let mut tx = self.db().begin().await?;
        tx.set_totp_pending(current.account_id, &nonce, &sealed).await?;
        self.record_in(&mut tx, kind::TOTP, current.event_actor(), &current.username, "setup started").await?;
        tx.commit().await?;
        let issuer = format!("nhiguard {}", self.settings().deployment_id);
        Ok((
            nhiguard_domain::totp::base32(&secret),
            nhiguard_domain::totp::otpauth_uri(&issuer, &current.username, &secret),
        ))
    }

    /// Puts the new secret in force once its owner typed a code from it; until then the one in
    /// force (if any) stays.
    pub async fn totp_confirm(&self, current: &Current, typed: &str) -> Result<()> {
        let Some((nonce, sealed, _)) = self.db().totp_pending(current.account_id).await? else {
            return Err(AppError::conflict("請先開始設定兩步驟驗證", "start the second-factor setup first"));
        };
        let secret = self.inner.results_key.open(&nonce, &sealed, totp_aad(current.account_id).as_bytes())?;
        let step = nhiguard_domain::totp::verify(&secret, typed, self.now().timestamp(), None).ok_or_else(|| {
            AppError::invalid(
                "code",
                "驗證碼不正確；請確認驗證器的時間正確，並輸入目前顯示的 6 位數字",
                "that code is not right; check the authenticator's clock and type the six digits it shows now",
            )
        })?;
        let mut tx = self.db().begin().await?;
        if !tx.promote_totp(current.account_id, step, self.now()).await? {
            return Err(AppError::conflict("設定已變更，請重新開始", "the setup changed meanwhile; start again"));
        }
        self.record_in(&mut tx, kind::TOTP, current.event_actor(), &current.username, "enabled").await?;
        tx.commit().await?;
        Ok(())
    }

    /// An admin removes the second factor of an account it manages (a lost or replaced phone); the
    /// owner sets it up again. Recorded with its reason (R-ACC-10).
    pub async fn reset_totp(&self, current: &Current, account_id: i64, reason: &str) -> Result<()> {
        let a = self.db().account(account_id).await?;
        let tree = self.db().org_tree().await?;
        if let Err(e) = nhiguard_domain::account::may_manage(&tree, &current.actor(), a.org_node_id, &a.roles) {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("account {}", a.username), "reset totp")
                .await?;
            return Err(e.into());
        }
        nhiguard_domain::account::check_reason("reason", reason)?;
        let mut tx = self.db().begin().await?;
        tx.clear_totp(account_id).await?;
        self.record_in(
            &mut tx,
            kind::TOTP,
            current.event_actor(),
            &format!("account {}", a.username),
            &format!("reset by admin: {}", reason.trim()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn sign_out(&self, token: &str, current: &Current) -> Result<()> {
        self.db().delete_session(&token_hash(token)).await?;
        self.record(kind::SIGN_OUT, current.event_actor(), &current.username, current.kind.code()).await?;
        Ok(())
    }

    /// Creates a one-time activation token for an account (R-ACC-4); returns the token, to be
    /// handed only to the account's owner.
    pub async fn issue_activation(&self, account_id: i64, actor: Actor<'_>) -> Result<String> {
        let mut tx = self.db().begin().await?;
        let token = self.issue_activation_in(&mut tx, account_id, actor).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// As [`App::issue_activation`], inside a transaction of the caller's (the account's creation,
    /// a reset): the link exists exactly when what it is for does.
    pub(crate) async fn issue_activation_in(
        &self,
        tx: &mut nhiguard_store::Tx,
        account_id: i64,
        actor: Actor<'_>,
    ) -> Result<String> {
        let now = self.now();
        let token = random_token()?;
        let expires = now + Duration::hours(self.settings().activation_hours);
        tx.insert_activation_token(&token_hash(&token), account_id, now, expires).await?;
        self.record_in(tx, kind::ACTIVATION_ISSUED, actor, &format!("account {account_id}"), "one-time link issued")
            .await?;
        Ok(token)
    }

    pub fn activation_url(&self, token: &str) -> String {
        format!("{}/activate/{token}", self.settings().effective_public_url())
    }

    fn token_problem(p: TokenProblem) -> AppError {
        match p {
            TokenProblem::Unknown => AppError::not_found(
                "此啟用連結無效，請確認連結完整，或請管理者重新核發",
                "this activation link is not valid; check that it is complete, or ask your admin for a new one",
            ),
            TokenProblem::Used => AppError::conflict(
                "此啟用連結已使用過；若非本人使用，請立即通知管理者",
                "this activation link has already been used; if not by you, tell your admin at once",
            ),
            TokenProblem::Expired => AppError::conflict(
                "此啟用連結已逾期，請管理者重新核發",
                "this activation link has expired; ask your admin for a new one",
            ),
        }
    }

    /// The username an activation token is for, if the token can still be used.
    pub async fn activation_target(&self, token: &str) -> Result<String> {
        match self.db().check_activation_token(&token_hash(token), self.now()).await? {
            Ok(account_id) => Ok(self.db().account(account_id).await?.username),
            Err(p) => Err(Self::token_problem(p)),
        }
    }

    /// The owner sets the first password with the one-time token (R-ACC-4, R-ACC-6).
    pub async fn activate(&self, token: &str, new_password: &str, confirm: &str, addr: &str) -> Result<()> {
        let now = self.now();
        let hash = token_hash(token);
        let account_id = match self.db().check_activation_token(&hash, now).await? {
            Ok(id) => id,
            Err(p) => {
                let who = Actor { account_id: None, username: "", client_addr: addr };
                self.record(kind::ACTIVATION_FAILED, who, "activation link", &format!("{p:?}")).await?;
                return Err(Self::token_problem(p));
            }
        };
        let account = self.db().account(account_id).await?;
        if new_password != confirm {
            return Err(AppError::invalid("confirm", "兩次輸入的密碼不一致", "the two passwords differ"));
        }
        password::check(new_password, self.settings().password_policy(), &account.username, &account.person_name)?;
        // After a reset, the link does not bring back an old password (R-ACC-6).
        let previous = self.db().password_history(account.id, 5).await?;
        if !previous.is_empty()
            && verify_password_off_thread(new_password, previous.into_iter().map(Some).collect()).await?
        {
            return Err(AppError::invalid(
                "password",
                "新密碼不可與最近 5 次使用過的密碼相同",
                "the new password must differ from the last 5",
            ));
        }
        let pw_hash = hash_password_off_thread(new_password).await?;
        let mut tx = self.db().begin().await?;
        match tx.activate_with_token(&hash, &pw_hash, now).await? {
            Ok(_) => {
                let who = Actor { account_id: Some(account.id), username: &account.username, client_addr: addr };
                self.record_in(&mut tx, kind::ACTIVATION, who, &account.username, "password set by owner").await?;
                tx.commit().await?;
                Ok(())
            }
            Err(p) => Err(Self::token_problem(p)),
        }
    }
}

impl App {
    /// Removes sessions idle past the timeout (the scheduled job; expiry is also checked on use).
    pub async fn purge_idle_sessions(&self) -> Result<u64> {
        let cutoff = self.now() - Duration::minutes(self.settings().session_idle_minutes);
        Ok(self.db().purge_idle_sessions(cutoff).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = hash_password("Correct-Horse-42").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("Correct-Horse-42", Some(&h)));
        assert!(!verify_password("correct-horse-42", Some(&h)));
        assert!(!verify_password("anything", None));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
