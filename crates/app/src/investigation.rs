//! Investigations of anomalies (R-REV-5, §5(二)): an anomalous finding in the monthly review opens
//! one; whoever opened it names a member of the business unit, the ethics unit and the IT unit;
//! each member records their part and may collect further entries and evidence; the business
//! member closes it with an audit record (稽核紀錄) — the conclusion and the actions taken, of which
//! disabling the account is applied in the same step. Only the people named on it can see it;
//! every step, and every opening of it, is a ledger entry (kept with the ledger, at least five
//! years).

use std::collections::HashMap;

use nhiguard_domain::investigation::{self, InvestigationState, Member, Party};
use nhiguard_domain::person::HrStatus;
use nhiguard_ledger::EntryKind;
pub use nhiguard_store::{InvestigationNote, InvestigationRow};

use crate::events::kind;
use crate::querylog::{LogRow, assemble};
use crate::{App, AppError, Current, Result};

/// An investigation as a list shows it: with the month of the review that opened it.
#[derive(Debug, Clone)]
pub struct InvestigationLine {
    pub inv: InvestigationRow,
    pub year: i32,
    pub month: u32,
}

/// One investigation with what its page shows.
#[derive(Debug, Clone)]
pub struct InvestigationView {
    pub inv: InvestigationRow,
    pub state: InvestigationState,
    pub agency_name: String,
    pub year: i32,
    pub month: u32,
    /// The anomalous finding's note.
    pub finding_note: String,
    /// The entry that opened it, then the entries collected since.
    pub entries: Vec<LogRow>,
    /// The same subject looked up by anyone in the agency that month (the opened entry aside).
    pub same_subject: Vec<LogRow>,
    pub notes: Vec<InvestigationNote>,
    /// Account id → "name（username）", for everyone the page mentions.
    pub names: HashMap<i64, String>,
    /// The viewer's unit on it, if the viewer is a member.
    pub my_party: Option<Party>,
    /// May the viewer name (or rename) the members?
    pub may_name: bool,
}

impl InvestigationView {
    pub fn name(&self, account: Option<i64>) -> String {
        account.and_then(|a| self.names.get(&a).cloned()).unwrap_or_default()
    }

    /// The units whose current member has recorded a step.
    pub fn stepped(&self) -> Vec<Party> {
        stepped_by_members(&self.inv, &self.notes)
    }
}

fn party_of(inv: &InvestigationRow, account_id: i64) -> Option<Party> {
    if inv.business_account_id == Some(account_id) {
        Some(Party::Business)
    } else if inv.ethics_account_id == Some(account_id) {
        Some(Party::Ethics)
    } else if inv.it_account_id == Some(account_id) {
        Some(Party::It)
    } else {
        None
    }
}

/// Only whoever opened it names (or renames) the members: a member cannot choose who checks them.
fn may_name(inv: &InvestigationRow, account_id: i64) -> bool {
    inv.state == InvestigationState::Open.code() && inv.opened_by == account_id
}

/// The units whose current member has recorded a step (a replaced member's steps do not count).
fn stepped_by_members(inv: &InvestigationRow, notes: &[InvestigationNote]) -> Vec<Party> {
    let mut out: Vec<Party> = notes
        .iter()
        .filter(|n| n.kind == "step")
        .filter_map(|n| Party::from_code(&n.party).filter(|p| party_of(inv, n.by_account_id) == Some(*p)))
        .collect();
    out.sort();
    out.dedup();
    out
}

impl App {
    /// Opens the investigation of an anomalous sampled entry inside the finding's transaction
    /// (called by [`App::record_finding`]); does nothing if that entry's is open already.
    pub(crate) async fn open_investigation_in(
        &self,
        tx: &mut nhiguard_store::Tx,
        current: &Current,
        review: &nhiguard_store::ReviewRow,
        seq: u64,
    ) -> Result<()> {
        let (id, new) = tx.open_investigation(review.id, review.agency_id, seq, current.account_id, self.now()).await?;
        if new {
            self.investigation_entry_in(
                tx,
                current,
                id,
                "investigation_opened",
                format!("review {} entry {seq}", review.id),
            )
            .await?;
        }
        Ok(())
    }

    async fn investigation_entry_in(
        &self,
        tx: &mut nhiguard_store::Tx,
        current: &Current,
        id: i64,
        event: &str,
        detail: String,
    ) -> Result<()> {
        let fields = vec![
            ("investigation_id".into(), id.to_string()),
            ("detail".into(), detail),
            ("client_addr".into(), current.client_addr.clone()),
        ];
        self.action_in(tx, EntryKind::AuditAction, current, event, fields).await
    }

    /// The investigation, if `current` is named on it; anyone else is refused and the attempt
    /// recorded.
    async fn named_investigation(&self, current: &Current, id: i64) -> Result<InvestigationRow> {
        let inv = self.db().investigation(id).await?;
        if !inv.named().contains(&current.account_id) {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("investigation {id}"), "not named on it")
                .await?;
            return Err(AppError::forbidden(
                "僅參與此調查之人員可檢視",
                "only the people named on this investigation may see it",
            ));
        }
        Ok(inv)
    }

    /// The open investigations waiting for `current`'s unit to record its part (home-page
    /// reminders): (id, the unit). Reads no log lines.
    pub async fn investigations_waiting_for(&self, current: &Current) -> Result<Vec<(i64, Party)>> {
        let mut out = Vec::new();
        for inv in self.db().investigations_naming(current.account_id).await? {
            if inv.state != InvestigationState::Open.code() {
                continue;
            }
            let Some(party) = party_of(&inv, current.account_id) else { continue };
            let notes = self.db().investigation_notes(inv.id).await?;
            if !stepped_by_members(&inv, &notes).contains(&party) {
                out.push((inv.id, party));
            }
        }
        Ok(out)
    }

    /// The investigations that name `current`, newest first.
    pub async fn investigations(&self, current: &Current) -> Result<Vec<InvestigationRow>> {
        Ok(self.db().investigations_naming(current.account_id).await?)
    }

    /// The investigations that name `current`, newest first, each with its review's month.
    pub async fn investigation_lines(&self, current: &Current) -> Result<Vec<InvestigationLine>> {
        let mut months: HashMap<i64, (i32, u32)> = HashMap::new();
        let mut out = Vec::new();
        for inv in self.investigations(current).await? {
            let (year, month) = match months.get(&inv.review_id) {
                Some(m) => *m,
                None => {
                    let r = self.db().review(inv.review_id).await?;
                    *months.entry(inv.review_id).or_insert((r.year, r.month))
                }
            };
            out.push(InvestigationLine { inv, year, month });
        }
        Ok(out)
    }

    /// The investigations a review's anomalies opened that `current` may open (is named on).
    pub async fn investigations_of_review(&self, current: &Current, review_id: i64) -> Result<Vec<InvestigationRow>> {
        Ok(self
            .db()
            .investigations_of_review(review_id)
            .await?
            .into_iter()
            .filter(|i| i.named().contains(&current.account_id))
            .collect())
    }

    /// One query of the log by its sequence number (with its outcome, which follows it closely).
    async fn log_row(&self, seq: u64) -> Result<Option<LogRow>> {
        if i64::try_from(seq).is_err() {
            return Ok(None);
        }
        let rows = self.db().ledger_rows(seq, 2_000).await?;
        let purposes = self.db().purposes().await?;
        Ok(assemble(&rows, &purposes)?.into_iter().find(|r| r.seq == seq))
    }

    /// The investigation with the log lines it concerns; opening it is recorded as a reading of
    /// the log (some members, the IT unit's admin for one, cannot otherwise read it).
    pub async fn investigation_view(&self, current: &Current, id: i64) -> Result<InvestigationView> {
        let inv = self.named_investigation(current, id).await?;
        self.record(kind::LEDGER_READ, current.event_actor(), &format!("investigation {id}"), "opened").await?;
        let review = self.db().review(inv.review_id).await?;
        let tree = self.db().org_tree().await?;
        let notes = self.db().investigation_notes(id).await?;
        let mut entries = Vec::new();
        for seq in std::iter::once(inv.seq).chain(notes.iter().filter_map(|n| n.seq)) {
            if entries.iter().any(|e: &LogRow| e.seq == seq) {
                continue;
            }
            if let Some(r) = self.log_row(seq).await? {
                entries.push(r);
            }
        }
        let same_subject = match entries.first() {
            Some(first) => self
                .month_queries(inv.agency_id, review.year, review.month)
                .await?
                .into_iter()
                // A query that names no subject (a malformed ID, a refused file) shares none.
                .filter(|q| !first.subject_key.is_empty() && q.subject_key == first.subject_key && q.seq != first.seq)
                .collect(),
            None => Vec::new(),
        };
        let finding_note = self
            .db()
            .findings(inv.review_id)
            .await?
            .into_iter()
            .find(|f| f.seq == inv.seq)
            .map(|f| f.note)
            .unwrap_or_default();
        let mut ids: Vec<i64> = inv.named();
        ids.extend(notes.iter().map(|n| n.by_account_id));
        ids.extend(inv.concluded_by);
        ids.extend(inv.disabled_account_id);
        let mut names = HashMap::new();
        for a in ids {
            if let std::collections::hash_map::Entry::Vacant(e) = names.entry(a)
                && let Ok(acc) = self.db().account(a).await
            {
                e.insert(format!("{}（{}）", acc.person_name, acc.username));
            }
        }
        Ok(InvestigationView {
            state: InvestigationState::from_code(&inv.state).unwrap_or(InvestigationState::Open),
            agency_name: tree.get(inv.agency_id).map(|n| n.name_zh.clone()).unwrap_or_default(),
            year: review.year,
            month: review.month,
            finding_note,
            entries,
            same_subject,
            notes,
            names,
            my_party: party_of(&inv, current.account_id),
            may_name: may_name(&inv, current.account_id),
            inv,
        })
    }

    async fn member(&self, field: &'static str, username: &str) -> Result<Member> {
        let a = self.db().account_by_username(username.trim()).await?.ok_or_else(|| {
            AppError::invalid(field, "找不到此帳號，請輸入帳號名稱", "no such account; enter a username")
        })?;
        let tree = self.db().org_tree().await?;
        let person = self.db().person(a.person_ref).await?;
        Ok(Member {
            account_id: a.id,
            agency_id: tree.agency_of(a.org_node_id).unwrap_or(a.org_node_id),
            roles: a.roles.clone(),
            active: a.status == "active" && person.hr_status == HrStatus::Active,
        })
    }

    /// The accounts whose queries are under investigation (none of them may sit on it).
    async fn investigated(&self, inv: &InvestigationRow) -> Result<Vec<i64>> {
        let notes = self.db().investigation_notes(inv.id).await?;
        let mut out = Vec::new();
        for seq in std::iter::once(inv.seq).chain(notes.iter().filter_map(|n| n.seq)) {
            if let Some(a) = self.log_row(seq).await?.and_then(|r| r.account_id) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Whether `current` may take the opener's place (R-REV-5: an anomaly must reach its audit
    /// record): the investigation is open, its opener's account no longer active, and `current` a
    /// supervisor of the reviewed agency who is neither named on it nor under investigation.
    async fn may_take_over(&self, current: &Current, inv: &InvestigationRow) -> Result<bool> {
        if inv.state != InvestigationState::Open.code() || inv.named().contains(&current.account_id) {
            return Ok(false);
        }
        if self.db().account(inv.opened_by).await?.status == "active" {
            return Ok(false);
        }
        Ok(self.supervises(current, inv.agency_id).await?
            && !self.investigated(inv).await?.contains(&current.account_id))
    }

    /// The investigations of a review whose opener can no longer act and that `current` may take
    /// over (the review page offers it). Reads no log lines but the ones that say who is investigated.
    pub async fn investigations_to_take_over(
        &self,
        current: &Current,
        review_id: i64,
    ) -> Result<Vec<InvestigationRow>> {
        let mut out = Vec::new();
        for inv in self.db().investigations_of_review(review_id).await? {
            if self.may_take_over(current, &inv).await? {
                out.push(inv);
            }
        }
        Ok(out)
    }

    /// A supervisor of the reviewed agency takes the place of an opener whose account is no longer
    /// active, so that members can be named and the audit record made (recorded).
    pub async fn take_over_investigation(&self, current: &Current, id: i64) -> Result<()> {
        let inv = self.db().investigation(id).await?;
        if !self.may_take_over(current, &inv).await? {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("investigation {id}"), "take over").await?;
            return Err(AppError::forbidden(
                "僅於開啟調查者帳號已停用時，由被查核機關之權責主管（非受調查者）接手",
                "only when the opener's account is no longer active, and only a supervisor of the reviewed agency who is not under investigation, takes it over",
            ));
        }
        let from = self.account_label(Some(inv.opened_by)).await;
        let mut tx = self.db().begin().await?;
        if !tx.take_over_investigation(id, inv.opened_by, current.account_id).await? {
            return Err(AppError::conflict(
                "調查狀態已變更，請重新整理",
                "the investigation changed meanwhile; reload",
            ));
        }
        let detail = format!("taken over from {from}, whose account is no longer active");
        self.investigation_entry_in(&mut tx, current, id, "investigation_taken_over", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Names the business, ethics and IT members (by whoever opened it, or the business member
    /// while it is open).
    pub async fn name_members(&self, current: &Current, id: i64, business: &str, ethics: &str, it: &str) -> Result<()> {
        let inv = self.named_investigation(current, id).await?;
        if inv.state != InvestigationState::Open.code() {
            return Err(AppError::conflict(
                "已作成稽核紀錄之調查不能再變更",
                "a concluded investigation cannot change",
            ));
        }
        if !may_name(&inv, current.account_id) {
            return Err(AppError::forbidden(
                "由開啟調查之查核人員指定參與人員",
                "the reviewer who opened it names the members",
            ));
        }
        let (b, e, i) = (
            self.member("business", business).await?,
            self.member("ethics", ethics).await?,
            self.member("it", it).await?,
        );
        investigation::check_members(inv.agency_id, &b, &e, &i, &self.investigated(&inv).await?)?;
        let mut tx = self.db().begin().await?;
        if !tx.set_investigation_members(id, b.account_id, e.account_id, i.account_id).await? {
            return Err(AppError::conflict(
                "調查狀態已變更，請重新整理",
                "the investigation changed meanwhile; reload",
            ));
        }
        let detail = format!("business {} ethics {} it {}", business.trim(), ethics.trim(), it.trim());
        self.investigation_entry_in(&mut tx, current, id, "investigation_members", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A member records what their unit did.
    pub async fn record_step(&self, current: &Current, id: i64, note: &str) -> Result<()> {
        let inv = self.open_for_member(current, id).await?;
        let party = party_of(&inv, current.account_id).ok_or_else(|| {
            AppError::forbidden("僅業務、政風、資訊單位之參與人員可記錄", "only the three units' members record steps")
        })?;
        investigation::check_note("note", note)?;
        let mut tx = self.db().begin().await?;
        tx.add_investigation_note(id, &self.note("step", party, None, note, current)).await?;
        self.investigation_entry_in(
            &mut tx,
            current,
            id,
            "investigation_step",
            format!("{}: {}", party.code(), note.trim()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A member collects another entry of the agency's query log, or a piece of evidence
    /// described in words (no `seq`).
    pub async fn add_evidence(&self, current: &Current, id: i64, seq: Option<u64>, note: &str) -> Result<()> {
        let inv = self.open_for_member(current, id).await?;
        let party = party_of(&inv, current.account_id)
            .ok_or_else(|| AppError::forbidden("僅參與人員可蒐集證據", "only the members collect evidence"))?;
        investigation::check_note("note", note)?;
        if let Some(seq) = seq {
            let row = self.log_row(seq).await?;
            if row.as_ref().and_then(|r| r.agency_id) != Some(inv.agency_id) {
                return Err(AppError::invalid(
                    "seq",
                    "此序號不是本機關的查詢紀錄；請從查詢日誌確認序號",
                    "that number is not a query of this agency; check it in the query log",
                ));
            }
            // Evidence that puts a member's own query under investigation: that member cannot stay
            // on it (R-REV-5); whoever opened it names another first.
            if let Some(member) = row.and_then(|r| r.account_id).filter(|a| inv.named().contains(a)) {
                let who = self.account_label(Some(member)).await;
                return Err(AppError::conflict(
                    format!("此筆為調查成員 {who} 本人之查詢：請先由開啟調查者另行指派成員，再列為證據"),
                    format!(
                        "that is a query of {who}, a member of this investigation: have another member named first, then add it"
                    ),
                ));
            }
        }
        let mut tx = self.db().begin().await?;
        tx.add_investigation_note(id, &self.note("evidence", party, seq, note, current)).await?;
        let detail = match seq {
            Some(s) => format!("entry {s}: {}", note.trim()),
            None => note.trim().to_owned(),
        };
        self.investigation_entry_in(&mut tx, current, id, "investigation_evidence", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    fn note(&self, kind: &str, party: Party, seq: Option<u64>, note: &str, current: &Current) -> InvestigationNote {
        InvestigationNote {
            kind: kind.to_owned(),
            party: party.code().to_owned(),
            seq,
            note: note.trim().to_owned(),
            by_account_id: current.account_id,
            at: self.now(),
        }
    }

    async fn open_for_member(&self, current: &Current, id: i64) -> Result<InvestigationRow> {
        let inv = self.named_investigation(current, id).await?;
        if inv.state != InvestigationState::Open.code() {
            return Err(AppError::conflict(
                "已作成稽核紀錄之調查不能再變更",
                "a concluded investigation cannot change",
            ));
        }
        Ok(inv)
    }

    /// The business member closes it with the audit record: the conclusion, the actions taken,
    /// and — when `disable` — the investigated account disabled in the same step.
    pub async fn conclude_investigation(
        &self,
        current: &Current,
        id: i64,
        conclusion: &str,
        actions: &str,
        disable: bool,
    ) -> Result<()> {
        let inv = self.open_for_member(current, id).await?;
        if inv.business_account_id != Some(current.account_id) {
            return Err(AppError::forbidden(
                "由業務單位參與人員作成稽核紀錄",
                "the business-unit member makes the audit record",
            ));
        }
        let notes = self.db().investigation_notes(id).await?;
        investigation::check_conclusion(&stepped_by_members(&inv, &notes), conclusion)?;
        let disabled = if disable {
            let account = self.log_row(inv.seq).await?.and_then(|r| r.account_id).ok_or_else(|| {
                AppError::invalid(
                    "disable",
                    "受調查之查詢沒有帳號可停用",
                    "the investigated query has no account to disable",
                )
            })?;
            Some(self.db().account(account).await?)
        } else {
            None
        };
        let mut tx = self.db().begin().await?;
        if !tx
            .conclude_investigation(
                id,
                conclusion.trim(),
                actions.trim(),
                disabled.as_ref().map(|a| a.id),
                current.account_id,
                self.now(),
            )
            .await?
        {
            return Err(AppError::conflict(
                "調查狀態已變更，請重新整理",
                "the investigation changed meanwhile; reload",
            ));
        }
        if let Some(a) = &disabled {
            tx.set_account_status(a.id, "disabled", None).await?;
            self.record_in(
                &mut tx,
                kind::ACCOUNT_DISABLED,
                current.event_actor(),
                &format!("account {}", a.username),
                &format!("investigation {id}"),
            )
            .await?;
        }
        let detail = format!(
            "conclusion: {} | actions: {}{}",
            conclusion.trim(),
            actions.trim(),
            disabled.as_ref().map(|a| format!(" | disabled {}", a.username)).unwrap_or_default()
        );
        self.investigation_entry_in(&mut tx, current, id, "investigation_concluded", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit record to print, for the members and whoever opened it, once concluded; printing
    /// is recorded.
    pub async fn audit_record(&self, current: &Current, id: i64) -> Result<InvestigationView> {
        let view = self.investigation_view(current, id).await?;
        if view.state != InvestigationState::Concluded {
            return Err(AppError::conflict(
                "調查尚未作成稽核紀錄",
                "the investigation has not been concluded with an audit record yet",
            ));
        }
        self.record(kind::LEDGER_READ, current.event_actor(), &format!("investigation {id}"), "audit record printed")
            .await?;
        Ok(view)
    }
}
