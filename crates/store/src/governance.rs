//! Applications (R-ACC-2), password history (R-ACC-6), and the account changes they lead to.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, from_micros, micros};

type Time = chrono::DateTime<chrono::Utc>;

/// An application as stored; roles and grants are comma-separated codes (`purpose_id:operation_id`).
#[derive(Debug, Clone)]
pub struct ApplicationRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub org_node_id: i64,
    pub person_ref: i64,
    pub account_id: Option<i64>,
    pub username: String,
    pub roles: String,
    pub grants: String,
    pub reason: String,
    pub pledge: bool,
    pub created_by: i64,
    pub created_at: Time,
    pub submitted_at: Option<Time>,
    pub decided_by: Option<i64>,
    pub decided_at: Option<Time>,
    pub decision_note: String,
    pub carried_out_by: Option<i64>,
    pub carried_out_at: Option<Time>,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub kind: String,
    pub org_node_id: i64,
    pub person_ref: i64,
    pub account_id: Option<i64>,
    pub username: String,
    pub roles: String,
    pub grants: String,
    pub reason: String,
    pub pledge: bool,
    pub created_by: i64,
}

fn opt_time(r: &AnyRow, col: &str) -> Result<Option<Time>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(from_micros))
}

fn application(r: &AnyRow) -> Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        org_node_id: r.try_get("org_node_id")?,
        person_ref: r.try_get("person_ref")?,
        account_id: r.try_get("account_id")?,
        username: r.try_get("username")?,
        roles: r.try_get("roles")?,
        grants: r.try_get("grants")?,
        reason: r.try_get("reason")?,
        pledge: r.try_get::<i64, _>("pledge")? != 0,
        created_by: r.try_get("created_by")?,
        created_at: from_micros(r.try_get("created_at")?),
        submitted_at: opt_time(r, "submitted_at")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: opt_time(r, "decided_at")?,
        decision_note: r.try_get("decision_note")?,
        carried_out_by: r.try_get("carried_out_by")?,
        carried_out_at: opt_time(r, "carried_out_at")?,
    })
}

impl Db {
    /// Every standing disable proposal: (account id, reason code, when proposed), oldest first.
    pub async fn disable_proposals(&self) -> Result<Vec<(i64, String, Time)>> {
        let rows = sqlx::query("SELECT account_id, reason, proposed_at FROM disable_proposals ORDER BY proposed_at")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("account_id")?, r.try_get("reason")?, from_micros(r.try_get("proposed_at")?))))
            .collect()
    }

    pub async fn application(&self, id: i64) -> Result<ApplicationRow> {
        application(&sqlx::query("SELECT * FROM applications WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    /// Applications for accounts at these org nodes, newest first.
    pub async fn applications_at(&self, nodes: &[i64]) -> Result<Vec<ApplicationRow>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=nodes.len()).map(|i| format!("${i}")).collect();
        let sql =
            format!("SELECT * FROM applications WHERE org_node_id IN ({}) ORDER BY id DESC", placeholders.join(", "));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for n in nodes {
            q = q.bind(*n);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(application).collect()
    }

    /// The last `n` password hashes of an account, newest first.
    pub async fn password_history(&self, account_id: i64, n: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT password_hash FROM password_history WHERE account_id = $1 ORDER BY changed_at DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(n)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| r.try_get::<String, _>("password_hash").map_err(StoreError::from)).collect()
    }

    /// Active accounts of a person (one person, one account: R-ACC-5).
    pub async fn active_accounts_of_person(&self, person_ref: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM accounts WHERE person_ref = $1 AND status <> 'disabled'")
            .bind(person_ref)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(StoreError::from)).collect()
    }
}

impl Tx {
    /// As [`Db::active_accounts_of_person`], inside the transaction that is about to add one.
    pub async fn active_accounts_of_person(&mut self, person_ref: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM accounts WHERE person_ref = $1 AND status <> 'disabled'")
            .bind(person_ref)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(StoreError::from)).collect()
    }

    pub async fn insert_application(&mut self, a: &NewApplication, at: Time) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO applications (kind, state, org_node_id, person_ref, account_id, username, roles, grants, reason, \
             pledge, created_by, created_at, decision_note) VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '') \
             RETURNING id",
        )
        .bind(&a.kind)
        .bind(a.org_node_id)
        .bind(a.person_ref)
        .bind(a.account_id)
        .bind(&a.username)
        .bind(&a.roles)
        .bind(&a.grants)
        .bind(&a.reason)
        .bind(i64::from(a.pledge))
        .bind(a.created_by)
        .bind(micros(at))
        .fetch_one(self.conn())
        .await?
        .try_get("id")?;
        Ok(id)
    }

    /// Moves an application from `from` to `to`, recording who and when for the step; fails (false)
    /// if it is no longer in `from` (a double submission or a race).
    pub async fn move_application(
        &mut self,
        id: i64,
        from: &str,
        to: &str,
        by: i64,
        note: &str,
        at: Time,
    ) -> Result<bool> {
        let (who, when) = match to {
            "submitted" => ("created_by", "submitted_at"),
            "approved" | "rejected" => ("decided_by", "decided_at"),
            "carried_out" => ("carried_out_by", "carried_out_at"),
            _ => ("created_by", "submitted_at"),
        };
        let sql = if to == "withdrawn" {
            "UPDATE applications SET state = $1 WHERE id = $2 AND state = $3".to_owned()
        } else {
            format!(
                "UPDATE applications SET state = $1, {who} = $4, {when} = $5, decision_note = CASE WHEN $6 = '' THEN decision_note ELSE $6 END \
                 WHERE id = $2 AND state = $3"
            )
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to).bind(id).bind(from);
        if to != "withdrawn" {
            q = q.bind(by).bind(micros(at)).bind(note);
        }
        Ok(q.execute(self.conn()).await?.rows_affected() == 1)
    }

    /// Points an application at the account it created.
    pub async fn set_application_account(&mut self, id: i64, account_id: i64) -> Result<()> {
        sqlx::query("UPDATE applications SET account_id = $1 WHERE id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Replaces an account's roles and grants with exactly the approved ones.
    pub async fn replace_roles_and_grants(
        &mut self,
        account_id: i64,
        roles: &[&str],
        grants: &[(i64, i64)],
        by: i64,
        at: Time,
    ) -> Result<()> {
        sqlx::query("DELETE FROM account_roles WHERE account_id = $1").bind(account_id).execute(self.conn()).await?;
        for r in roles {
            sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, $2)")
                .bind(account_id)
                .bind(*r)
                .execute(self.conn())
                .await?;
        }
        self.replace_grants(account_id, grants, by, at).await
    }

    /// Replaces an account's grants (its roles stay).
    pub async fn replace_grants(&mut self, account_id: i64, grants: &[(i64, i64)], by: i64, at: Time) -> Result<()> {
        sqlx::query("DELETE FROM grants WHERE account_id = $1").bind(account_id).execute(self.conn()).await?;
        for (p, o) in grants {
            sqlx::query(
                "INSERT INTO grants (account_id, purpose_id, operation_id, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id)
            .bind(*p)
            .bind(*o)
            .bind(by)
            .bind(micros(at))
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// Removes these grants of an account (purpose, operation), leaving its others as they were
    /// granted — by whom and when.
    pub async fn revoke_grants(&mut self, account_id: i64, grants: &[(i64, i64)]) -> Result<()> {
        for (p, o) in grants {
            sqlx::query("DELETE FROM grants WHERE account_id = $1 AND purpose_id = $2 AND operation_id = $3")
                .bind(account_id)
                .bind(*p)
                .bind(*o)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Removes every grant of an account.
    pub async fn revoke_all_grants(&mut self, account_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM grants WHERE account_id = $1").bind(account_id).execute(self.conn()).await?;
        Ok(())
    }

    /// Sets a new password (by its owner), keeping the old hash in the history.
    pub async fn change_password(&mut self, account_id: i64, new_hash: &str, at: Time) -> Result<()> {
        sqlx::query("INSERT INTO password_history (account_id, password_hash, changed_at) SELECT id, password_hash, $1 FROM accounts WHERE id = $2 AND password_hash IS NOT NULL")
            .bind(micros(at))
            .bind(account_id)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_changed_at = $2, must_change_password = 0 WHERE id = $3",
        )
        .bind(new_hash)
        .bind(micros(at))
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Proposes disabling an account because its person's HR status changed (R-ACC-7).
    pub async fn propose_disable(&mut self, account_id: i64, reason: &str, by: i64, at: Time) -> Result<()> {
        self.withdraw_disable_proposal(account_id).await?;
        sqlx::query(
            "INSERT INTO disable_proposals (account_id, reason, proposed_at, proposed_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(account_id)
        .bind(reason)
        .bind(micros(at))
        .bind(by)
        .execute(self.conn())
        .await
        .map_err(StoreError::conflict_on("disable proposal"))?;
        Ok(())
    }

    /// Ends a proposal (an admin decided, or the person is back in service).
    pub async fn withdraw_disable_proposal(&mut self, account_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM disable_proposals WHERE account_id = $1")
            .bind(account_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets (or clears) the day an account stops working and why (R-ACC-7).
    pub async fn set_disable_date(
        &mut self,
        account_id: i64,
        on: Option<chrono::NaiveDate>,
        reason: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE accounts SET disable_on = $1, disable_reason = $2 WHERE id = $3")
            .bind(on.map(|d| d.to_string()))
            .bind(reason)
            .bind(account_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
