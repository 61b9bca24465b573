//! Account reviews (R-ACC-9): an admin reviews every account of its branch that it manages; the
//! review lists what needs a look (see `nhiguard_domain::account_review`) and each account's roles
//! and grants as they were at the start; each account gets a decision with a note; applying the
//! review carries out every decision in one transaction. The review is kept and printable, every
//! step is a ledger entry, and admins are reminded when their branch has gone too long without one.

use std::collections::HashMap;

use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::account::may_manage;
use nhiguard_domain::account_review::{self, AccountFacts, AccountReviewState, Concern, Decision};
use nhiguard_domain::roc;
pub use nhiguard_store::{AccountReviewItem, AccountReviewRow};
use nhiguard_store::{AccountRow, ItemDecision, NewReviewItem};

use crate::events::kind;
use crate::{App, AppError, Current, Result};

/// One account of a review with what its page shows.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub item: AccountReviewItem,
    pub account: AccountRow,
    pub concerns: Vec<Concern>,
    pub decision: Option<Decision>,
    /// Each grant at the start: (`purpose_id:operation_id`, label).
    pub grants: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct AccountReviewView {
    pub review: AccountReviewRow,
    pub state: AccountReviewState,
    pub node_name: String,
    pub started_by: String,
    pub applied_by: String,
    pub items: Vec<ItemView>,
}

fn grant_code(purpose_id: i64, operation_id: i64) -> String {
    format!("{purpose_id}:{operation_id}")
}

fn parse_grant(code: &str) -> Option<(i64, i64)> {
    let (p, o) = code.split_once(':')?;
    Some((p.parse().ok()?, o.parse().ok()?))
}

impl App {
    /// The node an admin reviews: the county for the planning department, else its own node.
    async fn review_node(&self, current: &Current) -> Result<i64> {
        if !current.roles.iter().any(|r| r.is_admin()) {
            self.record(kind::FORBIDDEN, current.event_actor(), "account review", "not an admin").await?;
            return Err(AppError::forbidden("僅管理者可辦理帳號清查", "only admins review accounts"));
        }
        let tree = self.db().org_tree().await?;
        Ok(if current.has(nhiguard_domain::role::Role::PlanningAdmin) {
            tree.root().map(|r| r.id).unwrap_or(current.org_node_id)
        } else {
            current.org_node_id
        })
    }

    /// The accounts of the branch at `node` that `current` manages.
    async fn managed_accounts(&self, current: &Current, node: i64) -> Result<Vec<AccountRow>> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let mut out = Vec::new();
        for (_, n) in tree.branch(node) {
            for a in self.db().accounts_at(n.id).await? {
                if a.id != current.account_id && may_manage(&tree, &actor, a.org_node_id, &a.roles).is_ok() {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// Starts a review of the admin's branch (or returns the one still open).
    pub async fn start_account_review(&self, current: &Current) -> Result<i64> {
        let node = self.review_node(current).await?;
        if let Some(open) =
            self.db().account_reviews_of(node).await?.into_iter().find(|r| r.state == AccountReviewState::Open.code())
        {
            return Ok(open.id);
        }
        let accounts = self.managed_accounts(current, node).await?;
        let mut facts = Vec::with_capacity(accounts.len());
        for a in &accounts {
            facts.push(AccountFacts {
                account_id: a.id,
                person_ref: a.person_ref,
                status: a.status.clone(),
                created_at: a.created_at,
                last_sign_in_at: a.last_sign_in_at,
                hr_status: self.db().person(a.person_ref).await?.hr_status,
                disable_on: a.disable_on.as_deref().and_then(|d| d.parse().ok()),
            });
        }
        let (now, today) = (self.now(), roc::taipei_date(self.now()));
        let mut items = Vec::with_capacity(accounts.len());
        for (a, f) in accounts.iter().zip(&facts) {
            let concerns = account_review::concerns(f, &facts, now, today, self.settings().account_idle_days);
            items.push(NewReviewItem {
                account_id: a.id,
                concerns: concerns.iter().map(|c| c.code().to_owned()).collect(),
                roles: a.roles.iter().map(|r| r.code().to_owned()).collect(),
                grants: self
                    .db()
                    .grants_of(a.id)
                    .await?
                    .iter()
                    .map(|g| grant_code(g.purpose_id, g.operation_id))
                    .collect(),
            });
        }
        let mut tx = self.db().begin().await?;
        let id = match tx.insert_account_review(node, current.account_id, now, &items).await {
            Ok(id) => id,
            // Another admin of the branch started one a moment ago: that one is the open one.
            Err(nhiguard_store::StoreError::Conflict(_)) => {
                drop(tx);
                let open = self.db().account_reviews_of(node).await?;
                return open
                    .into_iter()
                    .find(|r| r.state == AccountReviewState::Open.code())
                    .map(|r| r.id)
                    .ok_or_else(|| AppError::conflict("請重新整理後再試", "reload and try again"));
            }
            Err(e) => return Err(e.into()),
        };
        let flagged = items.iter().filter(|i| !i.concerns.is_empty()).count();
        self.record_in(
            &mut tx,
            kind::ACCOUNT_REVIEW,
            current.event_actor(),
            &format!("account review {id}"),
            &format!("started for org node {node}: {} accounts, {flagged} with concerns", items.len()),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The reviews of the admin's branch, newest first.
    pub async fn account_reviews(&self, current: &Current) -> Result<Vec<AccountReviewRow>> {
        let node = self.review_node(current).await?;
        Ok(self.db().account_reviews_of(node).await?)
    }

    async fn reviewable(&self, current: &Current, id: i64) -> Result<AccountReviewRow> {
        let r = self.db().account_review(id).await?;
        let tree = self.db().org_tree().await?;
        let admin = current.roles.iter().any(|r| r.is_admin());
        if !admin || authorize(&tree, &current.actor(), Action::ManagePeople, Some(r.org_node_id)).is_err() {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("account review {id}"), "outside the branch")
                .await?;
            return Err(AppError::forbidden(
                "此帳號清查不在您的管理範圍",
                "this account review is outside your branch",
            ));
        }
        Ok(r)
    }

    /// A review's decisions change accounts, so they are made by an admin who manages each
    /// account changed (R-ACC-1): an agency admin reaching a unit's review may read it, but the
    /// unit's users are decided on by the unit's admin.
    async fn check_manages(
        &self,
        tree: &nhiguard_domain::org::OrgTree,
        current: &Current,
        account: &AccountRow,
    ) -> Result<()> {
        if let Err(e) = may_manage(tree, &current.actor(), account.org_node_id, &account.roles) {
            let target = format!("account {}", account.username);
            self.record(kind::FORBIDDEN, current.event_actor(), &target, "account review decision").await?;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn account_review(&self, current: &Current, id: i64) -> Result<AccountReviewView> {
        let review = self.reviewable(current, id).await?;
        let tree = self.db().org_tree().await?;
        let purposes: HashMap<i64, String> =
            self.db().purposes().await?.into_iter().map(|p| (p.id, format!("{}. {}", p.number, p.name_zh))).collect();
        let operations: HashMap<i64, String> =
            self.db().operations().await?.into_iter().map(|o| (o.id, o.code)).collect();
        let label = |code: &str| match parse_grant(code) {
            Some((p, o)) => format!(
                "{} — {}",
                purposes.get(&p).cloned().unwrap_or_default(),
                operations.get(&o).cloned().unwrap_or_default()
            ),
            None => code.to_owned(),
        };
        let name =
            |a: Option<AccountRow>| a.map(|a| format!("{}（{}）", a.person_name, a.username)).unwrap_or_default();
        let mut items = Vec::new();
        for item in self.db().account_review_items(id).await? {
            items.push(ItemView {
                account: self.db().account(item.account_id).await?,
                concerns: item.concerns.iter().filter_map(|c| Concern::from_code(c)).collect(),
                decision: Decision::from_code(&item.decision),
                grants: item.grants.iter().map(|g| (g.clone(), label(g))).collect(),
                item,
            });
        }
        // Accounts with something to look at first.
        items.sort_by_key(|i| (i.concerns.is_empty(), i.account.username.clone()));
        Ok(AccountReviewView {
            state: AccountReviewState::from_code(&review.state).unwrap_or(AccountReviewState::Open),
            node_name: tree.get(review.org_node_id).map(|n| n.name_zh.clone()).unwrap_or_default(),
            started_by: name(self.db().account(review.started_by).await.ok()),
            applied_by: match review.applied_by {
                Some(a) => name(self.db().account(a).await.ok()),
                None => String::new(),
            },
            review,
            items,
        })
    }

    /// Records the decision on one account of an open review.
    pub async fn decide_account(
        &self,
        current: &Current,
        id: i64,
        account_id: i64,
        decision: &str,
        note: &str,
        kept_grants: &[String],
    ) -> Result<()> {
        let review = self.reviewable(current, id).await?;
        if review.state != AccountReviewState::Open.code() {
            return Err(AppError::conflict("此帳號清查已執行，不能再修改", "this account review has been applied"));
        }
        let item = self
            .db()
            .account_review_items(id)
            .await?
            .into_iter()
            .find(|i| i.account_id == account_id)
            .ok_or_else(|| AppError::not_found("此帳號不在本次清查內", "this account is not in this review"))?;
        let decision = Decision::from_code(decision.trim()).ok_or_else(|| {
            AppError::invalid("decision", "請選擇維持、縮減權限或停用", "choose keep, reduce or disable")
        })?;
        let concerns: Vec<Concern> = item.concerns.iter().filter_map(|c| Concern::from_code(c)).collect();
        let kept: Vec<String> = if decision == Decision::Reduce { kept_grants.to_vec() } else { Vec::new() };
        account_review::check_decision(decision, &concerns, note, &item.grants, &kept)?;
        let account = self.db().account(account_id).await?;
        self.check_manages(&self.db().org_tree().await?, current, &account).await?;
        let mut tx = self.db().begin().await?;
        let d = ItemDecision {
            decision: decision.code(),
            kept_grants: &kept,
            note: note.trim(),
            by: current.account_id,
            at: self.now(),
        };
        if !tx.decide_account_review_item(id, account_id, &d).await? {
            return Err(AppError::conflict("此帳號清查已執行，不能再修改", "this account review has been applied"));
        }
        self.record_in(
            &mut tx,
            kind::ACCOUNT_REVIEW,
            current.event_actor(),
            &format!("account {}", account.username),
            &format!("review {id}: {} {}", decision.code(), note.trim()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Carries out every decision at once: disabled accounts lose their grants too; reduced ones
    /// keep only the grants chosen. Every account must have a decision first.
    pub async fn apply_account_review(&self, current: &Current, id: i64) -> Result<()> {
        let review = self.reviewable(current, id).await?;
        if review.state != AccountReviewState::Open.code() {
            return Err(AppError::conflict("此帳號清查已執行", "this account review has been applied already"));
        }
        let items = self.db().account_review_items(id).await?;
        let undecided = items.iter().filter(|i| Decision::from_code(&i.decision).is_none()).count();
        if undecided > 0 {
            return Err(AppError::invalid(
                "decision",
                format!("尚有 {undecided} 個帳號未決定；每個帳號都須決定後才能執行"),
                format!("{undecided} accounts have no decision yet; decide every one before applying"),
            ));
        }
        let now = self.now();
        // Read everything first: the transaction below holds SQLite's write lock.
        let mut accounts = Vec::with_capacity(items.len());
        let tree = self.db().org_tree().await?;
        for i in &items {
            let account = self.db().account(i.account_id).await?;
            if matches!(Decision::from_code(&i.decision), Some(Decision::Disable | Decision::Reduce)) {
                self.check_manages(&tree, current, &account).await?;
            }
            accounts.push(account);
        }
        let mut tx = self.db().begin().await?;
        if !tx.apply_account_review(id, current.account_id, now).await? {
            return Err(AppError::conflict("此帳號清查已執行", "this account review has been applied already"));
        }
        let (mut disabled, mut reduced) = (0, 0);
        for (i, account) in items.iter().zip(&accounts) {
            let target = format!("account {}", account.username);
            match Decision::from_code(&i.decision) {
                Some(Decision::Disable) => {
                    if account.status != "disabled" {
                        tx.set_account_status(account.id, "disabled", None).await?;
                    }
                    tx.revoke_all_grants(account.id).await?;
                    let detail = format!("account review {id}: {}", i.note);
                    self.record_in(&mut tx, kind::ACCOUNT_DISABLED, current.event_actor(), &target, &detail).await?;
                    disabled += 1;
                }
                Some(Decision::Reduce) => {
                    // Only the grants the decision dropped go, inside this transaction; the others stay
                    // as they were granted, and so does one granted since the review began.
                    let dropped: Vec<(i64, i64)> =
                        i.grants.iter().filter(|g| !i.kept_grants.contains(g)).filter_map(|g| parse_grant(g)).collect();
                    tx.revoke_grants(account.id, &dropped).await?;
                    let dropped_codes: Vec<String> = dropped.iter().map(|(p, o)| grant_code(*p, *o)).collect();
                    let detail = format!("account review {id}: grants [{}] revoked", dropped_codes.join(","));
                    self.record_in(&mut tx, kind::APPLICATION, current.event_actor(), &target, &detail).await?;
                    reduced += 1;
                }
                Some(Decision::Keep) | None => {}
            }
        }
        self.record_in(
            &mut tx,
            kind::ACCOUNT_REVIEW,
            current.event_actor(),
            &format!("account review {id}"),
            &format!("applied: {disabled} disabled, {reduced} reduced, {} kept", items.len() - disabled - reduced),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// R-ACC-9 reminder: for an admin, how long since its branch's last applied review (None when
    /// one is recent enough, or for someone who is not an admin).
    pub async fn account_review_overdue(&self, current: &Current) -> Result<Option<String>> {
        if !current.roles.iter().any(|r| r.is_admin()) {
            return Ok(None);
        }
        let node = self.review_node(current).await?;
        let last = self.db().account_reviews_of(node).await?.into_iter().filter_map(|r| r.applied_at).max();
        let months = self.settings().account_review_months;
        let due = last.is_none_or(|t| self.now() - t > chrono::Duration::days(months * 30));
        Ok(due.then(|| match last {
            Some(t) => roc::short_date(roc::taipei_date(t)),
            None => String::new(),
        }))
    }
}
