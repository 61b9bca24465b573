//! Account governance (R-ACC-1 … R-ACC-10): applications filed by an admin for a person, decided
//! by that person's supervisor, carried out by the admin exactly as approved; delegated
//! administration down the org tree; grants only within the agency's active linkages; job-change
//! disable dates; password changes with history and expiry. Every step is a ledger entry written
//! in the same transaction as the change.

use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::account::{
    ApplicationKind, ApplicationState, ApplicationStep, may_approve, may_manage, next_state,
};
use nhiguard_domain::catalogue::Status;
use nhiguard_domain::ids::Username;
use nhiguard_domain::role::Role;
pub use nhiguard_store::ApplicationRow;
use nhiguard_store::{NewAccount, NewApplication};

use crate::events::kind;
use crate::{App, AppError, Current, Result};

/// An application as filed (strings as typed).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ApplicationInput {
    pub kind: String,
    /// The person the account is for (an existing person of the org).
    pub person_ref: i64,
    /// For a change, re-enable or removal: the account concerned.
    #[serde(default)]
    pub account_id: Option<i64>,
    /// For a new account.
    #[serde(default)]
    pub username: String,
    /// Comma-separated role codes.
    #[serde(default)]
    pub roles: String,
    /// Comma-separated `purpose_id:operation_id` pairs.
    #[serde(default)]
    pub grants: String,
    pub reason: String,
    /// The applicant's confidentiality pledge (保密切結) was signed.
    #[serde(default)]
    pub pledge: Option<String>,
}

/// What carrying out a new-account application produced: the activation link, shown once to the
/// admin to hand over sealed (R-ACC-4).
#[derive(Debug, Clone)]
pub struct CarriedOut {
    pub account_id: i64,
    /// The one-time link, when it is to be handed over by the admin (no mail server, or no
    /// address known, or the mail failed).
    pub activation_url: Option<String>,
    /// Where the link was mailed instead, masked (`l***@nantou.gov.tw`).
    pub mailed_to: Option<String>,
}

fn parse_roles(s: &str) -> Result<Vec<Role>> {
    let roles: Vec<Role> = nhiguard_domain::catalogue::parse_code_list("roles", s, Role::from_code)?;
    Ok(roles)
}

fn parse_grants(s: &str) -> Result<Vec<(i64, i64)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pair = part.split_once(':').and_then(|(p, o)| Some((p.trim().parse().ok()?, o.trim().parse().ok()?)));
        match pair {
            Some(g) if !out.contains(&g) => out.push(g),
            Some(_) => {}
            None => {
                return Err(AppError::invalid(
                    "grants",
                    format!("權限格式錯誤：「{part}」"),
                    format!("a grant is purpose_id:operation_id, not '{part}'"),
                ));
            }
        }
    }
    Ok(out)
}

impl App {
    async fn refuse_account_action<T>(
        &self,
        current: &Current,
        target: &str,
        e: nhiguard_domain::DomainError,
    ) -> Result<T> {
        self.record(kind::FORBIDDEN, current.event_actor(), target, &e.to_string()).await?;
        Err(e.into())
    }

    /// R-ACC-3: every requested grant must lie within the active linkages of the account's agency.
    async fn check_grants(&self, node: i64, grants: &[(i64, i64)]) -> Result<std::result::Result<(), String>> {
        let tree = self.db().org_tree().await?;
        let Some(agency) = tree.agency_of(node) else {
            return Ok(if grants.is_empty() { Ok(()) } else { Err("no agency".into()) });
        };
        let linkages = self.db().linkages(Some(agency)).await?;
        let purposes = self.db().purposes().await?;
        let operations = self.db().operations().await?;
        for (p, o) in grants {
            // A retired operation cannot be queried, so it is not granted either.
            let held =
                linkages.iter().any(|l| l.purpose_id == *p && l.operation_id == *o && l.status == Status::Active)
                    && purposes.iter().any(|x| x.id == *p && x.status == Status::Active)
                    && operations.iter().any(|x| x.id == *o && x.status == Status::Active);
            if !held {
                return Ok(Err(format!("{p}:{o}")));
            }
        }
        Ok(Ok(()))
    }

    /// R-ACC-5: one person, one account — an account is not enabled again while its person has
    /// another in use.
    async fn check_one_account(&self, account: &nhiguard_store::AccountRow) -> Result<()> {
        let others = self.db().active_accounts_of_person(account.person_ref).await?;
        if others.iter().any(|&id| id != account.id) {
            return Err(AppError::conflict(
                "此人已有另一個使用中的帳號：一人一帳號，不能再恢復此帳號",
                "this person has another account in use (one person, one account): this one is not enabled again",
            ));
        }
        Ok(())
    }

    /// Files an application (a draft) for a person at the admin's reach (R-ACC-1, R-ACC-2, R-ACC-3).
    pub async fn file_application(&self, current: &Current, input: &ApplicationInput) -> Result<i64> {
        let kind = ApplicationKind::from_code(input.kind.trim())
            .ok_or_else(|| AppError::invalid("kind", "請選擇申請類別", "choose the kind of application"))?;
        let person = self
            .db()
            .person(input.person_ref)
            .await
            .map_err(|_| AppError::invalid("person_ref", "請選擇申請人", "choose the person"))?;
        // A re-enabled account comes back with what this application lists and the supervisor
        // approves, not with whatever it held before (R-ACC-2).
        let lists_rights =
            matches!(kind, ApplicationKind::NewAccount | ApplicationKind::ChangeGrants | ApplicationKind::Reenable);
        let roles = if lists_rights { parse_roles(&input.roles)? } else { Vec::new() };
        let grants = if lists_rights { parse_grants(&input.grants)? } else { Vec::new() };
        let reason = nhiguard_domain::ids::parse_text("reason", &input.reason, 500)?;
        let tree = self.db().org_tree().await?;
        let target = format!("person {}", person.person_id);
        // For an existing account, the roles that matter are also the ones it holds now.
        let account = match (kind, input.account_id) {
            (ApplicationKind::NewAccount, _) => None,
            (_, Some(id)) => Some(self.db().account(id).await?),
            (_, None) => return Err(AppError::invalid("account_id", "請選擇帳號", "choose the account")),
        };
        if let Some(a) = &account
            && a.person_ref != person.id
        {
            return Err(AppError::invalid("account_id", "此帳號不屬於申請人", "this account belongs to someone else"));
        }
        let mut all_roles = roles.clone();
        if let Some(a) = &account {
            all_roles.extend(a.roles.iter().copied());
        }
        if let Err(e) = may_manage(&tree, &current.actor(), person.org_node_id, &all_roles) {
            return self.refuse_account_action(current, &target, e).await.map(|()| 0);
        }
        if let Err(pair) = self.check_grants(person.org_node_id, &grants).await? {
            let e = nhiguard_domain::DomainError::Forbidden {
                zh: format!("所申請權限（{pair}）超出該機關經健保署核准之連結作業"),
                en: format!("the grant {pair} is beyond the NHIA-approved linkages of the agency"),
            };
            return self.refuse_account_action(current, &target, e).await.map(|()| 0);
        }
        if kind == ApplicationKind::Reenable
            && let Some(a) = &account
        {
            self.check_one_account(a).await?;
            if roles.is_empty() {
                return Err(AppError::invalid(
                    "roles",
                    "恢復使用須列出所申請之角色（及查詢權限）",
                    "a re-enable lists the roles (and query permissions) asked for",
                ));
            }
        }
        let username = if kind == ApplicationKind::NewAccount {
            let u = Username::parse(&input.username)?;
            if self.db().account_by_username(u.as_str()).await?.is_some() {
                return Err(AppError::conflict("此帳號名稱已被使用", "this username is taken"));
            }
            // R-ACC-5: one person, one account.
            if !self.db().active_accounts_of_person(person.id).await?.is_empty() {
                return Err(AppError::conflict(
                    "此人已有使用中的帳號：一人一帳號，請改以權限異動申請，或先停用原帳號",
                    "this person already has an account (one person, one account): apply for a change instead, or disable it first",
                ));
            }
            if roles.is_empty() {
                return Err(AppError::invalid("roles", "請至少選擇一個角色", "choose at least one role"));
            }
            u.to_string()
        } else {
            account.as_ref().map(|a| a.username.clone()).unwrap_or_default()
        };
        let new = NewApplication {
            kind: kind.code().into(),
            org_node_id: person.org_node_id,
            person_ref: person.id,
            account_id: account.as_ref().map(|a| a.id),
            username,
            roles: roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(","),
            grants: grants.iter().map(|(p, o)| format!("{p}:{o}")).collect::<Vec<_>>().join(","),
            reason,
            pledge: input.pledge.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "1" | "yes")),
            created_by: current.account_id,
        };
        let mut tx = self.db().begin().await?;
        let id = tx.insert_application(&new, self.now()).await?;
        self.record_in(
            &mut tx,
            kind::APPLICATION,
            current.event_actor(),
            &format!("application {id}"),
            &format!("filed {} for {target}", kind.code()),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn step(&self, current: &Current, id: i64, step: ApplicationStep, note: &str) -> Result<ApplicationRow> {
        // A note goes into the record and the ledger: bounded, and only what can be shown.
        nhiguard_domain::ids::parse_note("note", note, 500)?;
        let a = self.db().application(id).await?;
        let from =
            ApplicationState::from_code(&a.state).ok_or_else(|| AppError::Internal("application state".into()))?;
        let to = next_state(from, step)?;
        let tree = self.db().org_tree().await?;
        let target = format!("application {id}");
        match step {
            ApplicationStep::Submit | ApplicationStep::Withdraw => {
                if a.created_by != current.account_id {
                    let e = nhiguard_domain::DomainError::Forbidden {
                        zh: "僅申請案之建立者可送出或撤回".into(),
                        en: "only whoever filed it may submit or withdraw it".into(),
                    };
                    self.refuse_account_action(current, &target, e).await?;
                }
                if step == ApplicationStep::Submit && !a.pledge {
                    return Err(AppError::invalid(
                        "pledge",
                        "送出前須由申請人簽署保密切結",
                        "the applicant's confidentiality pledge is required before submitting",
                    ));
                }
            }
            ApplicationStep::Approve | ApplicationStep::Reject => {
                let me = self.db().account(current.account_id).await?;
                if let Err(e) =
                    may_approve(&tree, &current.actor(), me.person_ref, a.org_node_id, a.created_by, a.person_ref)
                {
                    self.refuse_account_action(current, &target, e).await?;
                }
                if step == ApplicationStep::Reject && note.trim().chars().count() < 2 {
                    return Err(AppError::invalid("note", "駁回時請說明理由", "say why when rejecting"));
                }
            }
            ApplicationStep::CarryOut => {
                let roles = parse_roles(&a.roles).unwrap_or_default();
                if let Err(e) = may_manage(&tree, &current.actor(), a.org_node_id, &roles) {
                    self.refuse_account_action(current, &target, e).await?;
                }
            }
        }
        debug_assert!(to != from);
        Ok(a)
    }

    /// Submits, approves, rejects or withdraws an application (R-ACC-2).
    pub async fn application_step(&self, current: &Current, id: i64, step: ApplicationStep, note: &str) -> Result<()> {
        if step == ApplicationStep::CarryOut {
            return self.carry_out(current, id).await.map(|_| ());
        }
        let a = self.step(current, id, step, note).await?;
        let to = next_state(ApplicationState::from_code(&a.state).unwrap_or(ApplicationState::Draft), step)?;
        let mut tx = self.db().begin().await?;
        if !tx.move_application(id, &a.state, to.code(), current.account_id, note.trim(), self.now()).await? {
            return Err(AppError::conflict(
                "申請案已被他人處理，請重新整理",
                "the application was handled meanwhile; reload",
            ));
        }
        self.record_in(
            &mut tx,
            kind::APPLICATION,
            current.event_actor(),
            &format!("application {id}"),
            &format!("{} {}", step.code(), note.trim()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Carries out an approved application exactly as approved, in one transaction with its record.
    pub async fn carry_out(&self, current: &Current, id: i64) -> Result<CarriedOut> {
        let a = self.step(current, id, ApplicationStep::CarryOut, "").await?;
        let kind = ApplicationKind::from_code(&a.kind).ok_or_else(|| AppError::Internal("application kind".into()))?;
        if kind == ApplicationKind::Reenable
            && let Some(account) = a.account_id
        {
            // Another account may have been made for the person since the approval.
            self.check_one_account(&self.db().account(account).await?).await?;
        }
        let roles: Vec<&str> = a.roles.split(',').filter(|r| !r.is_empty()).collect();
        let grants = parse_grants(&a.grants)?;
        // The agency's linkages may have changed since the approval: check again.
        if let Err(pair) = self.check_grants(a.org_node_id, &grants).await? {
            return Err(AppError::conflict(
                format!("權限 {pair} 已不在機關之有效連結作業內，請重新申請"),
                format!("the grant {pair} is no longer within the agency's active linkages; file a new application"),
            ));
        }
        let now = self.now();
        let mut tx = self.db().begin().await?;
        if !tx.move_application(id, "approved", "carried_out", current.account_id, "", now).await? {
            return Err(AppError::conflict(
                "申請案已被他人處理，請重新整理",
                "the application was handled meanwhile; reload",
            ));
        }
        let (account_id, detail) = match kind {
            ApplicationKind::NewAccount => {
                // R-ACC-5: checked again here, under the write: two applications for one person
                // may both have been filed while the person had no account.
                if !tx.active_accounts_of_person(a.person_ref).await?.is_empty() {
                    return Err(AppError::conflict(
                        "此人已有使用中的帳號（一人一帳號）：本申請不予辦理，請撤回；如需異動權限請改提權限異動申請",
                        "this person already has an account (one person, one account): withdraw this application, and apply for a change instead",
                    ));
                }
                let new = NewAccount {
                    username: a.username.clone(),
                    person_ref: a.person_ref,
                    status: "pending".into(),
                    roles: parse_roles(&a.roles)?,
                };
                let account_id = tx.insert_account(&new, now).await?;
                tx.replace_roles_and_grants(account_id, &roles, &grants, current.account_id, now).await?;
                tx.set_application_account(id, account_id).await?;
                (account_id, format!("created {} with roles {} and grants {}", a.username, a.roles, a.grants))
            }
            ApplicationKind::ChangeGrants => {
                let account_id = a.account_id.ok_or_else(|| AppError::Internal("no account".into()))?;
                tx.replace_roles_and_grants(account_id, &roles, &grants, current.account_id, now).await?;
                (account_id, format!("roles {} and grants {}", a.roles, a.grants))
            }
            ApplicationKind::Reenable => {
                let account_id = a.account_id.ok_or_else(|| AppError::Internal("no account".into()))?;
                if roles.is_empty() {
                    // Filed before re-enables listed what they ask for: nothing approved to give.
                    return Err(AppError::conflict(
                        "此恢復使用申請未列出角色及查詢權限，無從依核准內容辦理；請撤回後重新申請",
                        "this re-enable lists no roles or permissions, so there is nothing approved to carry out: withdraw it and file again",
                    ));
                }
                tx.replace_roles_and_grants(account_id, &roles, &grants, current.account_id, now).await?;
                tx.set_account_status(account_id, "active", None).await?;
                (account_id, format!("re-enabled with roles {} and grants {}", a.roles, a.grants))
            }
            ApplicationKind::Removal => {
                let account_id = a.account_id.ok_or_else(|| AppError::Internal("no account".into()))?;
                tx.set_account_status(account_id, "disabled", None).await?;
                tx.revoke_all_grants(account_id).await?;
                (account_id, "disabled and every grant revoked".to_owned())
            }
        };
        self.record_in(
            &mut tx,
            kind::APPLICATION,
            current.event_actor(),
            &format!("application {id}"),
            &format!("carried out: {detail}"),
        )
        .await?;
        // The new account's link in the same transaction: an account is never left without one.
        let token = match kind {
            ApplicationKind::NewAccount => {
                Some(self.issue_activation_in(&mut tx, account_id, current.event_actor()).await?)
            }
            _ => None,
        };
        tx.commit().await?;
        let Some(token) = token else {
            return Ok(CarriedOut { account_id, activation_url: None, mailed_to: None });
        };
        let url = self.activation_url(&token);
        Ok(match self.mail_activation(current, account_id, &url, false).await? {
            Some(masked) => CarriedOut { account_id, activation_url: None, mailed_to: Some(masked) },
            None => CarriedOut { account_id, activation_url: Some(url), mailed_to: None },
        })
    }

    /// "name（username）" of an account for pages and printed records; empty for none or one
    /// that cannot be read.
    pub async fn account_label(&self, account: Option<i64>) -> String {
        match account {
            Some(id) => {
                self.db().account(id).await.map(|x| format!("{}（{}）", x.person_name, x.username)).unwrap_or_default()
            }
            None => String::new(),
        }
    }

    /// "ID name（title）" of a person on the staff roll for pages; empty for one that cannot be read.
    pub async fn person_label(&self, person: i64) -> String {
        self.db().person(person).await.map(|p| format!("{} {}（{}）", p.person_id, p.name, p.title)).unwrap_or_default()
    }

    /// R-ACC-6: when the signed-in account turned its second factor on, if it has.
    pub async fn second_factor_since(&self, current: &Current) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(self.db().account(current.account_id).await?.totp_enabled_at)
    }

    /// R-ACC-4: sends the activation link to the owner when a mail server is set and their address
    /// known; returns the masked address, or `None` when the admin must hand the link over (the
    /// reason is recorded).
    async fn mail_activation(
        &self,
        current: &Current,
        account_id: i64,
        url: &str,
        reset: bool,
    ) -> Result<Option<String>> {
        let Some(mailer) = &self.inner.mailer else { return Ok(None) };
        let account = self.db().account(account_id).await?;
        let email = self.db().person_email(account.person_ref).await?;
        let target = format!("account {}", account.username);
        if email.is_empty() {
            self.record(
                kind::ACTIVATION_ISSUED,
                current.event_actor(),
                &target,
                "no e-mail address: shown to the admin",
            )
            .await?;
            return Ok(None);
        }
        let masked = nhiguard_domain::ids::mask_email(&email);
        let hours = self.settings().activation_hours;
        let (subject, body) = if reset {
            (
                "健保資料查詢管理系統密碼重設 / Your nhiguard password was reset",
                format!(
                    "{name} 您好：\n\n管理者已重設您的健保資料查詢管理系統帳號 {user} 之密碼，原密碼已失效。請於 {hours} 小時內開啟下列連結設定新密碼（僅能使用一次）：\n\n{url}\n\n若您未請求重設，請立即通知貴機關管理者。\n\nThe password of your account {user} was reset by your admin; the old one no longer works. Open this link within {hours} hours to set a new one (it works once):\n{url}\n",
                    name = account.person_name,
                    user = account.username,
                ),
            )
        } else {
            (
                "健保資料查詢管理系統帳號開通 / Your nhiguard account",
                format!(
                    "{name} 您好：\n\n您的健保資料查詢管理系統帳號 {user} 已開通。請於 {hours} 小時內開啟下列連結設定密碼（僅能使用一次）：\n\n{url}\n\n若您未申請此帳號，請勿開啟並通知貴機關管理者。\n\nYour account {user} is ready. Open this link within {hours} hours to set your password (it works once):\n{url}\n",
                    name = account.person_name,
                    user = account.username,
                ),
            )
        };
        match mailer.send(&email, subject, body).await {
            Ok(()) => {
                self.record(kind::ACTIVATION_ISSUED, current.event_actor(), &target, &format!("mailed to {masked}"))
                    .await?;
                Ok(Some(masked))
            }
            Err(e) => {
                tracing::warn!(error = %e, account = %account.username, "activation mail failed");
                self.record(kind::ACTIVATION_ISSUED, current.event_actor(), &target, "mail failed: shown to the admin")
                    .await?;
                Ok(None)
            }
        }
    }

    /// The applications of the actor's branch (admins, supervisors), newest first.
    pub async fn applications(&self, current: &Current) -> Result<Vec<ApplicationRow>> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let nodes: Vec<i64> = nhiguard_domain::access::visible_tops(&tree, &actor)
            .into_iter()
            .flat_map(|top| tree.branch(top).into_iter().map(|(_, n)| n.id).collect::<Vec<_>>())
            .filter(|&n| authorize(&tree, &actor, Action::ViewBranch, Some(n)).is_ok())
            .collect();
        if !(current.roles.iter().any(|r| r.is_admin()) || current.has(Role::Supervisor)) {
            return Ok(Vec::new());
        }
        Ok(self.db().applications_at(&nodes).await?)
    }

    /// One application, for those who handle them (R-ACC-2): an admin or a supervisor whose branch
    /// holds its unit — the roles that list it, not every role that may see the unit (it carries
    /// the applicant's employee number and reason).
    pub async fn application(&self, current: &Current, id: i64) -> Result<ApplicationRow> {
        let a = self.db().application(id).await?;
        let tree = self.db().org_tree().await?;
        let mut handler = current.actor();
        handler.roles.retain(|r| r.is_admin() || *r == Role::Supervisor);
        if let Err(e) = authorize(&tree, &handler, Action::ViewBranch, Some(a.org_node_id)) {
            self.refuse_account_action(current, &format!("application {id}"), e).await?;
        }
        Ok(a)
    }

    /// R-ACC-5: the last week's sign-ins from a second address while another session was alive,
    /// for the accounts `current` manages: (account, new address, other address, when).
    pub async fn session_alerts(
        &self,
        current: &Current,
    ) -> Result<Vec<(nhiguard_store::AccountRow, String, String, chrono::DateTime<chrono::Utc>)>> {
        if !current.roles.iter().any(|r| r.is_admin()) {
            return Ok(Vec::new());
        }
        let tree = self.db().org_tree().await?;
        let mut out = Vec::new();
        for (id, addr, other, at) in self.db().session_alerts(self.now() - chrono::Duration::days(7)).await? {
            let a = self.db().account(id).await?;
            if may_manage(&tree, &current.actor(), a.org_node_id, &a.roles).is_ok() {
                out.push((a, addr, other, at));
            }
        }
        Ok(out)
    }

    /// R-ACC-7: the accounts proposed for disabling (their person moved, resigned or retired) that
    /// `current` manages: (account, reason code).
    pub async fn disable_proposals(&self, current: &Current) -> Result<Vec<(nhiguard_store::AccountRow, String)>> {
        if !current.roles.iter().any(|r| r.is_admin()) {
            return Ok(Vec::new());
        }
        let tree = self.db().org_tree().await?;
        let mut out = Vec::new();
        for (id, reason, _) in self.db().disable_proposals().await? {
            let a = self.db().account(id).await?;
            if a.status == "active" && may_manage(&tree, &current.actor(), a.org_node_id, &a.roles).is_ok() {
                out.push((a, reason));
            }
        }
        Ok(out)
    }

    /// R-ACC-7: sets the day an account stops working (00:00 Asia/Taipei) and why; a date in the
    /// past applies at once. Gives the account's unit.
    pub async fn set_disable_date(
        &self,
        current: &Current,
        account_id: i64,
        on: &str,
        reason: &str,
        note: &str,
    ) -> Result<i64> {
        let a = self.db().account(account_id).await?;
        let tree = self.db().org_tree().await?;
        if let Err(e) = may_manage(&tree, &current.actor(), a.org_node_id, &a.roles) {
            return self.refuse_account_action(current, &format!("account {}", a.username), e).await;
        }
        let date = nhiguard_domain::catalogue::parse_date("disable_on", on)?;
        let reason = nhiguard_domain::person::HrStatus::from_code(reason.trim())
            .map(|r| r.code().to_owned())
            .or_else(|| (reason.trim() == "other").then(|| "other".to_owned()))
            .ok_or_else(|| {
                AppError::invalid(
                    "reason",
                    "停用原因須為 moved、resigned、retired 或 other",
                    "the reason is moved, resigned, retired or other",
                )
            })?;
        // R-ACC-10: "other" says what (the listed reasons speak for themselves).
        if date.is_some() && reason == "other" {
            nhiguard_domain::account::check_reason("note", note)?;
        }
        let mut tx = self.db().begin().await?;
        tx.set_disable_date(account_id, date, &reason).await?;
        tx.withdraw_disable_proposal(account_id).await?;
        let detail = match (date, note.trim()) {
            (Some(d), "") => format!("disable on {d} ({reason})"),
            (Some(d), note) => format!("disable on {d} ({reason}): {note}"),
            (None, _) => "disable date cleared".to_owned(),
        };
        self.record_in(
            &mut tx,
            kind::ACCOUNT_DISABLE_DATE,
            current.event_actor(),
            &format!("account {}", a.username),
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(a.org_node_id)
    }

    /// The owner changes the password (R-ACC-6): the current one must be right, the new one must
    /// follow the rules and not be one of the last five.
    pub async fn change_password(&self, current: &Current, old: &str, new: &str, confirm: &str) -> Result<()> {
        let a = self.db().account(current.account_id).await?;
        let ok = crate::auth::verify_password_off_thread(old, vec![a.password_hash.clone()]).await?;
        if !ok {
            self.record(kind::PASSWORD_CHANGE_FAILED, current.event_actor(), &a.username, "wrong current password")
                .await?;
            return Err(AppError::invalid("old_password", "目前密碼不正確", "the current password is wrong"));
        }
        if new != confirm {
            return Err(AppError::invalid("confirm", "兩次輸入的新密碼不一致", "the two new passwords differ"));
        }
        nhiguard_domain::password::check(new, self.settings().password_policy(), &a.username, &a.person_name)?;
        let mut previous = self.db().password_history(a.id, 4).await?;
        previous.extend(a.password_hash.clone());
        let reused = crate::auth::verify_password_off_thread(new, previous.into_iter().map(Some).collect()).await?;
        if reused {
            return Err(AppError::invalid(
                "password",
                "新密碼不可與最近 5 次使用過的密碼相同",
                "the new password must differ from the last 5",
            ));
        }
        let hash = crate::auth::hash_password_off_thread(new).await?;
        let mut tx = self.db().begin().await?;
        tx.change_password(a.id, &hash, self.now()).await?;
        self.record_in(&mut tx, kind::PASSWORD_CHANGE, current.event_actor(), &a.username, "by owner").await?;
        tx.commit().await?;
        Ok(())
    }
}

impl App {
    /// R-ACC-4, R-ACC-10: an admin resets the password of an account it manages — forgotten, or
    /// possibly known to someone else, or a first activation link that expired unused. The old
    /// password stops working at once and the account's sessions end; the owner sets a new one
    /// through a one-time link, mailed to them as on creation or shown once to the admin to hand
    /// over. A disabled account is not reset: an approved application enables it again (R-ACC-2).
    pub async fn reset_password(&self, current: &Current, account_id: i64, reason: &str) -> Result<CarriedOut> {
        let a = self.db().account(account_id).await?;
        let tree = self.db().org_tree().await?;
        let target = format!("account {}", a.username);
        if let Err(e) = nhiguard_domain::account::may_manage(&tree, &current.actor(), a.org_node_id, &a.roles) {
            self.record(kind::FORBIDDEN, current.event_actor(), &target, "password reset").await?;
            return Err(e.into());
        }
        if a.id == current.account_id {
            return Err(AppError::invalid(
                "account",
                "不能重設自己的密碼；請於「變更密碼」頁變更，或請上一層級之管理者重設",
                "you cannot reset your own password: change it on the password page, or ask the admin above you",
            ));
        }
        if a.status == "disabled" {
            return Err(AppError::conflict(
                "此帳號已停用；須以申請恢復，不能重設密碼",
                "this account is disabled: it is enabled again by an application, not by a password reset",
            ));
        }
        nhiguard_domain::account::check_reason("reason", reason)?;
        let mut tx = self.db().begin().await?;
        tx.reset_password(a.id, self.now()).await?;
        self.record_in(&mut tx, kind::PASSWORD_RESET, current.event_actor(), &target, reason.trim()).await?;
        let token = self.issue_activation_in(&mut tx, a.id, current.event_actor()).await?;
        tx.commit().await?;
        let url = self.activation_url(&token);
        Ok(match self.mail_activation(current, a.id, &url, true).await? {
            Some(masked) => CarriedOut { account_id: a.id, activation_url: None, mailed_to: Some(masked) },
            None => CarriedOut { account_id: a.id, activation_url: Some(url), mailed_to: None },
        })
    }
}

/// What the incoming admin gives for a handover.
#[derive(Debug, Clone, Copy)]
pub struct Handover<'a> {
    /// The outgoing admin's username.
    pub outgoing: &'a str,
    /// Why (R-ACC-10).
    pub reason: &'a str,
    /// Keep the outgoing account under this new password (typed twice), instead of disabling it.
    pub new_password: Option<&'a str>,
    pub confirm: Option<&'a str>,
}

impl App {
    /// R-ACC-8: the incoming admin takes over the branch from the outgoing one in one recorded
    /// step, saying why (R-ACC-10). The outgoing account is disabled (its grants revoked); or,
    /// where it must be kept, the incoming admin sets its password in the same step — so the
    /// outgoing admin, who knew the old one, cannot sign in and choose the next — and its sessions
    /// and second factor end with the old password.
    pub async fn handover(&self, current: &Current, h: &Handover<'_>) -> Result<()> {
        let me = self.db().account(current.account_id).await?;
        let out = self
            .db()
            .account_by_username(h.outgoing.trim())
            .await?
            .ok_or_else(|| AppError::invalid("outgoing", "找不到原管理者帳號", "no such outgoing admin account"))?;
        let admin_roles = |roles: &[Role]| roles.iter().copied().filter(|r| r.is_admin()).collect::<Vec<_>>();
        let same_branch = out.org_node_id == me.org_node_id;
        let mine = admin_roles(&me.roles);
        let theirs = admin_roles(&out.roles);
        if out.id == me.id
            || !same_branch
            || mine.is_empty()
            || theirs.is_empty()
            || theirs.iter().any(|r| !mine.contains(r))
        {
            let e = nhiguard_domain::DomainError::Forbidden {
                zh: "交接須由同一單位、具相同管理者角色之新任管理者辦理".into(),
                en: "a handover is made by the incoming admin of the same unit with the same admin role".into(),
            };
            return self.refuse_account_action(current, &format!("account {}", out.username), e).await;
        }
        nhiguard_domain::account::check_reason("reason", h.reason)?;
        let hash = match h.new_password {
            Some(new) => {
                if Some(new) != h.confirm {
                    return Err(AppError::invalid("confirm", "兩次輸入的新密碼不一致", "the two new passwords differ"));
                }
                let policy = self.settings().password_policy();
                nhiguard_domain::password::check(new, policy, &out.username, &out.person_name)?;
                let mut previous = self.db().password_history(out.id, 4).await?;
                previous.extend(out.password_hash.clone());
                if crate::auth::verify_password_off_thread(new, previous.into_iter().map(Some).collect()).await? {
                    return Err(AppError::invalid(
                        "password",
                        "新密碼不可與此帳號最近 5 次使用過的密碼相同",
                        "the new password must differ from the account's last 5",
                    ));
                }
                Some(crate::auth::hash_password_off_thread(new).await?)
            }
            None => None,
        };
        let mut tx = self.db().begin().await?;
        let detail = if let Some(hash) = hash {
            tx.change_password(out.id, &hash, self.now()).await?;
            tx.clear_totp(out.id).await?;
            // A link issued earlier (a reset mailed to the outgoing admin) would set the next one.
            tx.expire_activation_links(out.id, self.now()).await?;
            let ended = tx.end_sessions_of(out.id).await?;
            format!(
                "took over from {}; account kept, password set by the incoming admin, {ended} sessions ended: {}",
                out.username,
                h.reason.trim()
            )
        } else {
            tx.set_account_status(out.id, "disabled", None).await?;
            tx.revoke_all_grants(out.id).await?;
            format!("took over from {}; outgoing account disabled: {}", out.username, h.reason.trim())
        };
        self.record_in(&mut tx, kind::HANDOVER, current.event_actor(), &format!("account {}", out.username), &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
