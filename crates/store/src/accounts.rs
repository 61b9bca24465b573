//! Accounts, their roles, activation tokens and sessions. Only hashes of secrets are stored:
//! Argon2id for passwords, SHA-256 for random tokens.

use nhiguard_domain::role::Role;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub person_ref: i64,
    pub status: String,
    pub roles: Vec<Role>,
}

/// An account with the person and org node it belongs to. `password_hash` is never shown or logged.
#[derive(Clone)]
pub struct AccountRow {
    pub id: i64,
    pub username: String,
    pub person_ref: i64,
    pub person_name: String,
    pub person_title: String,
    pub org_node_id: i64,
    pub status: String,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<Time>,
    pub failed_attempts: i64,
    pub locked_until: Option<Time>,
    pub disable_on: Option<String>,
    pub last_sign_in_at: Option<Time>,
    pub created_at: Time,
    pub must_change_password: bool,
    pub disable_reason: String,
    /// When the owner turned the second factor on (R-ACC-6), if they did.
    pub totp_enabled_at: Option<Time>,
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub account_id: i64,
    pub kind: String,
    pub csrf_token: String,
    pub created_at: Time,
    pub last_seen_at: Time,
    pub client_addr: String,
}

/// An account's columns, as [`account`] reads them (`a` the account, `p` its person).
macro_rules! account_columns {
    () => {
        "a.id, a.username, a.person_ref, p.name AS person_name, p.title AS person_title, \
         p.org_node_id, a.status, a.password_hash, a.password_changed_at, a.failed_attempts, a.locked_until, \
         a.disable_on, a.last_sign_in_at, a.created_at, a.must_change_password, a.disable_reason, a.totp_enabled_at"
    };
}

/// What a signed-in request reads first ([`Db::session_account`]).
#[derive(Debug, Clone)]
pub struct SessionAccount {
    pub session: SessionRow,
    pub account: AccountRow,
    /// The reference data's generation as this read saw it (see `Db::reference_generation`).
    pub reference_generation: i64,
    /// The account's grants (R-PUR-3).
    pub grants: Vec<crate::Grant>,
}

const ACCOUNT_SELECT: &str =
    concat!("SELECT ", account_columns!(), " FROM accounts a JOIN people p ON p.id = a.person_ref");

/// A session with its account and the account's roles, one row per role, the account's grants as
/// one list (`purpose:operation,…`, aggregated by `{AGG}`) and the reference data's generation
/// (migration 0019): what every signed-in request reads first, so one statement rather than five.
const SESSION_ACCOUNT_SELECT: &str = concat!(
    "SELECT s.kind, s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, s.client_addr, r.role, \
     (SELECT n FROM reference_generation WHERE id = 1) AS reference_generation, \
     (SELECT {AGG}(CAST(g.purpose_id AS TEXT) || ':' || CAST(g.operation_id AS TEXT), ',') \
      FROM grants g WHERE g.account_id = a.id) AS grants, ",
    account_columns!(),
    " FROM sessions s JOIN accounts a ON a.id = s.account_id JOIN people p ON p.id = a.person_ref \
     LEFT JOIN account_roles r ON r.account_id = a.id WHERE s.token_hash = $1 ORDER BY r.role"
);

fn account(r: &AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        person_ref: r.try_get("person_ref")?,
        person_name: r.try_get("person_name")?,
        person_title: r.try_get("person_title")?,
        org_node_id: r.try_get("org_node_id")?,
        status: r.try_get("status")?,
        password_hash: r.try_get("password_hash")?,
        password_changed_at: r.try_get::<Option<i64>, _>("password_changed_at")?.map(from_micros),
        failed_attempts: r.try_get("failed_attempts")?,
        locked_until: r.try_get::<Option<i64>, _>("locked_until")?.map(from_micros),
        disable_on: r.try_get("disable_on")?,
        last_sign_in_at: r.try_get::<Option<i64>, _>("last_sign_in_at")?.map(from_micros),
        created_at: from_micros(r.try_get("created_at")?),
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        disable_reason: r.try_get("disable_reason")?,
        totp_enabled_at: r.try_get::<Option<i64>, _>("totp_enabled_at")?.map(from_micros),
        roles: Vec::new(),
    })
}

/// Why an activation token could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    Used,
    Expired,
}

impl Db {
    async fn with_roles(&self, mut accounts: Vec<AccountRow>) -> Result<Vec<AccountRow>> {
        for a in &mut accounts {
            let rows = sqlx::query("SELECT role FROM account_roles WHERE account_id = $1 ORDER BY role")
                .bind(a.id)
                .fetch_all(self.pool())
                .await?;
            a.roles = rows
                .iter()
                .map(|r| r.try_get::<String, _>("role").map(|c| Role::from_code(&c)))
                .collect::<std::result::Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect();
        }
        Ok(accounts)
    }

    pub async fn account(&self, id: i64) -> Result<AccountRow> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE a.id = $1")))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(self.with_roles(vec![account(&row)?]).await?.remove(0))
    }

    pub async fn account_by_username(&self, username: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE a.username = $1")))
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(self.with_roles(vec![account(&r)?]).await?.pop()),
            None => Ok(None),
        }
    }

    /// Accounts of the people placed at an org node.
    pub async fn accounts_at(&self, org_node_id: i64) -> Result<Vec<AccountRow>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE p.org_node_id = $1 ORDER BY a.username")))
                .bind(org_node_id)
                .fetch_all(self.pool())
                .await?;
        let list = rows.iter().map(account).collect::<Result<Vec<_>>>()?;
        self.with_roles(list).await
    }

    pub async fn count_accounts(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(self.pool()).await?.try_get("n")?)
    }

    /// Which account an unused, unexpired activation token is for (without using it up).
    pub async fn check_activation_token(
        &self,
        token_hash: &str,
        now: Time,
    ) -> Result<std::result::Result<i64, TokenProblem>> {
        let row = sqlx::query("SELECT account_id, expires_at, used_at FROM activation_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(Err(TokenProblem::Unknown)) };
        if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(Err(TokenProblem::Used));
        }
        if row.try_get::<i64, _>("expires_at")? <= micros(now) {
            return Ok(Err(TokenProblem::Expired));
        }
        Ok(Ok(row.try_get("account_id")?))
    }

    /// The session of this token with its account (roles included), the account's grants and the
    /// reference generation, if there is such a session.
    pub async fn session_account(&self, token_hash: &str) -> Result<Option<SessionAccount>> {
        // The one aggregate function the two databases name differently.
        static SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
            [
                SESSION_ACCOUNT_SELECT.replace("{AGG}", "group_concat"),
                SESSION_ACCOUNT_SELECT.replace("{AGG}", "string_agg"),
            ]
        });
        let sql = match self.backend() {
            crate::Backend::Sqlite => SQL[0].as_str(),
            crate::Backend::Postgres => SQL[1].as_str(),
        };
        let rows = sqlx::query(sql).bind(token_hash).fetch_all(self.pool()).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut acc = account(first)?;
        let session = SessionRow {
            account_id: acc.id,
            kind: first.try_get("kind")?,
            csrf_token: first.try_get("csrf_token")?,
            created_at: from_micros(first.try_get("session_created_at")?),
            last_seen_at: from_micros(first.try_get("last_seen_at")?),
            client_addr: first.try_get("client_addr")?,
        };
        for r in &rows {
            if let Some(role) = r.try_get::<Option<String>, _>("role")?.as_deref().and_then(Role::from_code) {
                acc.roles.push(role);
            }
        }
        let reference_generation = first.try_get("reference_generation")?;
        let listed: Option<String> = first.try_get("grants")?;
        let grants = listed
            .iter()
            .flat_map(|l| l.split(','))
            .map(|g| {
                let parsed = g.split_once(':').and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)));
                let (purpose_id, operation_id) =
                    parsed.ok_or_else(|| StoreError::Corrupt(format!("a grant reads {g:?}")))?;
                Ok(crate::Grant { account_id: acc.id, purpose_id, operation_id })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(SessionAccount { session, account: acc, reference_generation, grants }))
    }

    /// The addresses of the account's sessions seen since `since`.
    pub async fn live_session_addrs(&self, account_id: i64, since: Time) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT client_addr FROM sessions WHERE account_id = $1 AND last_seen_at >= $2")
                .bind(account_id)
                .bind(micros(since))
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok(r.try_get("client_addr")?)).collect()
    }

    /// Session alerts since `since`: (account id, new address, the other address, when).
    pub async fn session_alerts(&self, since: Time) -> Result<Vec<(i64, String, String, Time)>> {
        let rows = sqlx::query(
            "SELECT account_id, client_addr, other_addr, at FROM session_alerts WHERE at >= $1 ORDER BY at DESC",
        )
        .bind(micros(since))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("account_id")?,
                    r.try_get("client_addr")?,
                    r.try_get("other_addr")?,
                    from_micros(r.try_get("at")?),
                ))
            })
            .collect()
    }

    /// The account's sealed TOTP secret in force (nonce, ciphertext) and the last step used.
    pub async fn totp_secret(&self, account_id: i64) -> Result<Option<(Vec<u8>, Vec<u8>, Option<i64>)>> {
        self.sealed_totp(account_id, "totp_nonce", "totp_secret").await
    }

    /// A new sealed TOTP secret waiting for its first code, if setup was started.
    pub async fn totp_pending(&self, account_id: i64) -> Result<Option<(Vec<u8>, Vec<u8>, Option<i64>)>> {
        self.sealed_totp(account_id, "totp_pending_nonce", "totp_pending_secret").await
    }

    async fn sealed_totp(
        &self,
        account_id: i64,
        nonce_column: &str,
        secret_column: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>, Option<i64>)>> {
        // Column names come from the two callers above, never from input.
        let sql =
            format!("SELECT {nonce_column} AS n, {secret_column} AS s, totp_last_step FROM accounts WHERE id = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_one(self.pool()).await?;
        let nonce: Option<Vec<u8>> = r.try_get("n")?;
        let secret: Option<Vec<u8>> = r.try_get("s")?;
        Ok(match (nonce, secret) {
            (Some(n), Some(s)) => Some((n, s, r.try_get("totp_last_step")?)),
            _ => None,
        })
    }

    pub async fn touch_session(&self, token_hash: &str, at: Time) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(micros(at))
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(())
    }

    /// Removes sessions idle since before `cutoff`; returns how many.
    pub async fn purge_idle_sessions(&self, cutoff: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
            .bind(micros(cutoff))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

impl Tx {
    /// Creates an account with its roles in one transaction.
    pub async fn insert_account(&mut self, a: &NewAccount, at: Time) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO accounts (username, person_ref, status, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&a.username)
        .bind(a.person_ref)
        .bind(&a.status)
        .bind(micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("username"))?
        .try_get("id")?;
        for role in &a.roles {
            sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.code())
                .execute(self.conn())
                .await?;
        }
        Ok(id)
    }

    /// A failed sign-in: the new count and, when the limit was reached, the lock's end.
    pub async fn record_sign_in_failure(
        &mut self,
        id: i64,
        failed_attempts: i64,
        locked_until: Option<Time>,
    ) -> Result<()> {
        sqlx::query("UPDATE accounts SET failed_attempts = $1, locked_until = $2 WHERE id = $3")
            .bind(failed_attempts)
            .bind(locked_until.map(micros))
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn record_sign_in_success(&mut self, id: i64, at: Time) -> Result<()> {
        sqlx::query("UPDATE accounts SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = $1 WHERE id = $2")
            .bind(micros(at))
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_activation_token(
        &mut self,
        token_hash: &str,
        account_id: i64,
        at: Time,
        expires: Time,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO activation_tokens (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(micros(at))
        .bind(micros(expires))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses up the token and sets the account's first password in one transaction; a token used
    /// twice at the same moment succeeds once.
    pub async fn activate_with_token(
        &mut self,
        token_hash: &str,
        password_hash: &str,
        now: Time,
    ) -> Result<std::result::Result<i64, TokenProblem>> {
        let row = sqlx::query(
            "UPDATE activation_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING account_id",
        )
        .bind(micros(now))
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await?;
        // The caller checked the token just before; losing it now means another request used it.
        let Some(row) = row else { return Ok(Err(TokenProblem::Used)) };
        let account_id: i64 = row.try_get("account_id")?;
        // A pending account becomes active; a disabled one stays disabled (it was disabled after
        // the link went out: only an approved application enables it again).
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_changed_at = $2, must_change_password = 0, \
             status = CASE WHEN status = 'pending' THEN 'active' ELSE status END, failed_attempts = 0, \
             locked_until = NULL WHERE id = $3",
        )
        .bind(password_hash)
        .bind(micros(now))
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(Ok(account_id))
    }

    /// R-ACC-4, R-ACC-10: a password reset. The old password stops working (kept in the history, so
    /// it is not chosen again), the account's sessions end, and earlier activation links that were
    /// not used expire; the caller issues the new link in the same transaction.
    pub async fn reset_password(&mut self, account_id: i64, now: Time) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_history (account_id, password_hash, changed_at) \
             SELECT id, password_hash, $1 FROM accounts WHERE id = $2 AND password_hash IS NOT NULL",
        )
        .bind(micros(now))
        .bind(account_id)
        .execute(self.conn())
        .await?;
        sqlx::query("UPDATE accounts SET password_hash = NULL WHERE id = $1")
            .bind(account_id)
            .execute(self.conn())
            .await?;
        self.expire_activation_links(account_id, now).await?;
        self.end_sessions_of(account_id).await?;
        Ok(())
    }

    /// Ends an account's one-time links not yet used: each would set its password.
    pub async fn expire_activation_links(&mut self, account_id: i64, now: Time) -> Result<()> {
        sqlx::query(
            "UPDATE activation_tokens SET expires_at = $1 WHERE account_id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(micros(now))
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Stores a new sealed TOTP secret as pending; the one in force (if any) stays in force.
    pub async fn set_totp_pending(&mut self, account_id: i64, nonce: &[u8], secret: &[u8]) -> Result<()> {
        sqlx::query("UPDATE accounts SET totp_pending_nonce = $1, totp_pending_secret = $2 WHERE id = $3")
            .bind(nonce)
            .bind(secret)
            .bind(account_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Puts the pending secret in force from `at`, its first code (in time step `step`) proved and
    /// so used; false without one.
    pub async fn promote_totp(&mut self, account_id: i64, step: i64, at: Time) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET totp_nonce = totp_pending_nonce, totp_secret = totp_pending_secret, \
             totp_pending_nonce = NULL, totp_pending_secret = NULL, totp_enabled_at = $1, totp_last_step = $2 \
             WHERE id = $3 AND totp_pending_secret IS NOT NULL",
        )
        .bind(micros(at))
        .bind(step)
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the second factor entirely (an admin's reset for a lost authenticator).
    /// Ends every session of an account (its password was set by someone else: whoever held a
    /// session under the old one is out).
    pub async fn end_sessions_of(&mut self, account_id: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(account_id).execute(self.conn()).await?;
        Ok(done.rows_affected())
    }

    pub async fn clear_totp(&mut self, account_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET totp_nonce = NULL, totp_secret = NULL, totp_pending_nonce = NULL, \
             totp_pending_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL WHERE id = $1",
        )
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records the time step a code was used in, refusing one not after the last used; false when
    /// the step was used already (a replayed code).
    pub async fn use_totp_step(&mut self, account_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_session_alert(&mut self, account_id: i64, addr: &str, other: &str, at: Time) -> Result<()> {
        sqlx::query("INSERT INTO session_alerts (account_id, client_addr, other_addr, at) VALUES ($1, $2, $3, $4)")
            .bind(account_id)
            .bind(addr)
            .bind(other)
            .bind(micros(at))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_session(
        &mut self,
        token_hash: &str,
        account_id: i64,
        kind: &str,
        csrf: &str,
        at: Time,
        addr: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, kind, csrf_token, created_at, last_seen_at, client_addr) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(kind)
        .bind(csrf)
        .bind(micros(at))
        .bind(addr)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Demo only: gives a freshly created demo account a known password and activates it.
    pub async fn set_demo_password(&mut self, account_id: i64, password_hash: &str, at: Time) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_changed_at = $2, status = 'active' WHERE id = $3",
        )
        .bind(password_hash)
        .bind(micros(at))
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Sets an account's status (`active`, `disabled`, `pending`) and optional disable date.
    pub async fn set_account_status(
        &mut self,
        account_id: i64,
        status: &str,
        disable_on: Option<chrono::NaiveDate>,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE accounts SET status = $1, disable_on = $2 WHERE id = $3")
            .bind(status)
            .bind(disable_on.map(|d| d.to_string()))
            .bind(account_id)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
