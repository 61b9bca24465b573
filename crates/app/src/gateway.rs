//! The query gateway (R-PUR-3, R-QRY-1 … R-QRY-6, R-LOG-1, R-DAT-1): a user asks for one NHIA
//! operation under one purpose, with a case number, a reason and the subject's conditions. The
//! gateway checks everything before anything leaves, records the query in the ledger before
//! sending it, records the outcome before showing it, seals what came back, and purges it when its
//! time is up. Refusals are recorded too.

use std::sync::Arc;

use chrono::Duration;
use nhiguard_domain::catalogue::{Operation, Purpose, ResultField, Status, SubjectCondition};
use nhiguard_domain::national_id::NationalId;
use nhiguard_domain::query::{CaseNumber, Outcome, Reason, Subject};
use nhiguard_domain::role::Role;
use nhiguard_ledger::EntryKind;
use nhiguard_nhi::{Connector, LookupAnswer, LookupRequest, SandboxData};
use nhiguard_store::{Grant, NewResult, ResultRow};

use crate::i18n::Text;
use crate::ledger::{Draft, append_in};
use crate::{App, AppError, Current, Result};

/// The NHIA side: the connector every lookup goes through, and — in sandbox mode — the synthetic
/// people, so that the demo can suggest subjects to try.
#[derive(Debug, Clone)]
pub struct Nhi {
    pub connector: Arc<dyn Connector>,
    pub sandbox: Option<Arc<SandboxData>>,
    /// The built-in sandbox server, kept running as long as the app holds this.
    pub sandbox_server: Option<Arc<nhiguard_nhi::SandboxHandle>>,
}

/// What an allowed query needs: the purpose, the operation, and the asking user's agency.
#[derive(Debug, Clone)]
pub struct Access {
    pub purpose: Purpose,
    pub operation: Operation,
    pub agency: Option<i64>,
    /// The agency's case-number format, if it set one (R-QRY-1).
    pub case_pattern: Option<nhiguard_domain::query::CasePattern>,
}

impl Access {
    /// The case number, well formed and in the agency's format (R-QRY-1).
    pub fn case_number(&self, input: &str) -> std::result::Result<CaseNumber, nhiguard_domain::DomainError> {
        let case = CaseNumber::parse(input)?;
        if let Some(p) = &self.case_pattern {
            p.check(&case)?;
        }
        Ok(case)
    }
}

/// What a lookup came back with: the outcome, the records, and NHIA's error if any.
pub type Looked = (Outcome, Vec<Vec<(ResultField, String)>>, Option<nhiguard_nhi::NhiError>);

/// The query form as submitted (strings as typed; parsed here).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueryInput {
    pub purpose_id: i64,
    pub operation_id: i64,
    #[serde(default)]
    pub case_number: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub national_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub birth_date: String,
}

/// What the user may query: each purpose with the operations the user holds under it.
#[derive(Debug, Clone)]
pub struct QueryOption {
    pub purpose: Purpose,
    pub operations: Vec<Operation>,
}

/// The answer as shown to the user who asked (R-QRY-5).
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub query_seq: u64,
    pub outcome: Outcome,
    pub result_id: Option<i64>,
    pub records: Vec<Vec<(ResultField, String)>>,
    pub message: Option<Text>,
    pub purge_after: Option<chrono::DateTime<chrono::Utc>>,
}

fn field(pairs: &mut Vec<(String, String)>, k: &str, v: impl Into<String>) {
    pairs.push((k.to_owned(), v.into()));
}

/// Cuts free text that goes into a refusal record: enough to see what was tried, bounded.
fn clip(s: &str) -> String {
    s.trim().chars().take(200).collect()
}

fn serialize_records(records: &[Vec<(ResultField, String)>]) -> Vec<u8> {
    let list: Vec<Vec<(&str, &str)>> =
        records.iter().map(|r| r.iter().map(|(f, v)| (f.code(), v.as_str())).collect()).collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

fn deserialize_records(bytes: &[u8]) -> Result<Vec<Vec<(ResultField, String)>>> {
    let list: Vec<Vec<(String, String)>> =
        serde_json::from_slice(bytes).map_err(|e| AppError::Internal(format!("stored result: {e}")))?;
    Ok(list
        .into_iter()
        .map(|r| r.into_iter().filter_map(|(f, v)| ResultField::from_code(&f).map(|f| (f, v))).collect())
        .collect())
}

fn result_aad(account_id: i64, query_seq: u64) -> Vec<u8> {
    format!("nhiguard-result:{account_id}:{query_seq}").into_bytes()
}

impl App {
    fn nhi(&self) -> &Nhi {
        &self.inner.nhi
    }

    /// Sample subjects the sandbox knows, for the demo's query page; none against real NHIA.
    pub fn sandbox_examples(&self, n: usize) -> Vec<String> {
        self.nhi()
            .sandbox
            .as_ref()
            .map(|d| d.sample_ids(n).iter().map(|id| id.expose().to_owned()).collect())
            .unwrap_or_default()
    }

    /// What this user may query now: its grants, under active purposes and operations, for which
    /// its agency holds an active linkage (R-PUR-3, R-ACC-3).
    pub async fn query_options(&self, current: &Current) -> Result<Vec<QueryOption>> {
        if !current.has(Role::User) {
            return Ok(Vec::new());
        }
        let tree = self.db().org_tree().await?;
        let Some(agency) = tree.agency_of(current.org_node_id) else { return Ok(Vec::new()) };
        let linkages = self.db().linkages(Some(agency)).await?;
        let grants = self.db().grants_of(current.account_id).await?;
        let purposes = self.db().purposes().await?;
        let operations = self.db().operations().await?;
        let mut out: Vec<QueryOption> = Vec::new();
        for p in purposes.into_iter().filter(|p| p.status == Status::Active) {
            let ops: Vec<Operation> = operations
                .iter()
                .filter(|o| o.status == Status::Active)
                .filter(|o| {
                    grants.contains(&Grant { account_id: current.account_id, purpose_id: p.id, operation_id: o.id })
                        && linkages
                            .iter()
                            .any(|l| l.purpose_id == p.id && l.operation_id == o.id && l.status == Status::Active)
                })
                .cloned()
                .collect();
            if !ops.is_empty() {
                out.push(QueryOption { purpose: p, operations: ops });
            }
        }
        Ok(out)
    }

    /// Whether the account may query at this moment, beside its grants (issue 5: active, not
    /// locked, password not expired, not past its disable date; R-ACC-6, R-ACC-7): why not, for
    /// the refusal record, with the error to show.
    pub(crate) fn query_bar(&self, current: &Current) -> Option<(&'static str, AppError)> {
        if let Some(b) = &current.barred {
            return Some((b.why, AppError::Unauthenticated(b.message.clone())));
        }
        if let Some(until) = current.locked_until.filter(|u| *u > self.now()) {
            let e = AppError::Forbidden(crate::auth::locked_until_text(until, "期間不得查詢", "no query until then"));
            return Some(("account locked", e));
        }
        if current.must_change_password {
            let e = AppError::forbidden(
                "密碼已逾期或須變更，請先變更密碼再查詢",
                "the password has expired or must be changed: change it, then query",
            );
            return Some(("password must be changed", e));
        }
        if current.must_enrol_totp {
            let e = AppError::forbidden("請先設定兩步驟驗證再查詢", "set up the second factor, then query");
            return Some(("second factor not set up", e));
        }
        None
    }

    /// Records a refused query (R-LOG-1: refused ones too) and returns the error to show.
    pub(crate) async fn refuse(
        &self,
        current: &Current,
        input: &QueryInput,
        why: &str,
        err: AppError,
    ) -> Result<QueryAnswer> {
        self.append(self.refusal_draft(current, input, why, &[]).await?).await?;
        Err(err)
    }

    /// A refused query's ledger entry: who, under what, with which case number and reason, and why
    /// not — the fields an allowed query's entry has, so that the log's readers see refusals too.
    pub(crate) async fn refusal_draft(
        &self,
        current: &Current,
        input: &QueryInput,
        why: &str,
        extra: &[(&str, String)],
    ) -> Result<Draft> {
        let mut f = Vec::new();
        field(&mut f, "account_id", current.account_id.to_string());
        let agency = self.db().org_tree().await?.agency_of(current.org_node_id);
        field(&mut f, "agency_id", agency.map(|a| a.to_string()).unwrap_or_default());
        field(&mut f, "purpose_id", input.purpose_id.to_string());
        field(&mut f, "operation_id", input.operation_id.to_string());
        if let Ok(p) = self.db().purpose(input.purpose_id).await {
            field(&mut f, "purpose", p.number.to_string());
        }
        if let Ok(o) = self.db().operation(input.operation_id).await {
            field(&mut f, "operation", o.code);
        }
        field(&mut f, "case_number", clip(&input.case_number));
        field(&mut f, "reason", clip(&input.reason));
        // R-LOG-1: the subject's conditions, as an allowed query's entry has them, so that an
        // attempt without the right to it still says whom it was about. What does not parse as a
        // subject (a mistyped ID) is recorded as such, not kept.
        let subject = match NationalId::parse(&input.national_id) {
            Ok(id) => Some(Subject::NationalId(id)),
            Err(_) => {
                let name = nhiguard_domain::ids::parse_name("name", &input.name, 40).ok();
                let born = nhiguard_domain::catalogue::parse_date("birth_date", &input.birth_date).ok().flatten();
                name.zip(born).map(|(name, birth_date)| Subject::NameBirthDate { name, birth_date })
            }
        };
        match &subject {
            Some(s) => {
                field(&mut f, "conditions", s.conditions());
                field(&mut f, "subject_masked", s.masked());
            }
            None if !input.national_id.trim().is_empty() => field(&mut f, "subject_masked", "(invalid id)"),
            None => field(&mut f, "subject_masked", String::new()),
        }
        field(&mut f, "outcome", Outcome::Refused.code());
        field(&mut f, "refusal", why);
        field(&mut f, "client_addr", current.client_addr.clone());
        for (k, v) in extra {
            field(&mut f, k, v.clone());
        }
        Ok(Draft {
            kind: EntryKind::Query,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: f,
        })
    }

    /// May this user query `operation_id` under `purpose_id` now (R-PUR-3)? Returns what the
    /// query needs, or why not (for the refusal record) with the error to show.
    pub(crate) async fn query_access(
        &self,
        current: &Current,
        purpose_id: i64,
        operation_id: i64,
    ) -> Result<std::result::Result<Access, (String, AppError)>> {
        let reference = self.reference_at(current.reference_generation).await?;
        let agency = reference.tree.agency_of(current.org_node_id);
        let purpose = reference.purposes.get(&purpose_id).cloned();
        let operation = reference.operations.get(&operation_id).cloned();
        let refuse = |why: &str, e: AppError| Ok(Err((why.to_owned(), e)));
        let (Some(purpose), Some(operation)) = (purpose, operation) else {
            let e = AppError::invalid("purpose_id", "請選擇業務範圍與查詢作業", "choose a purpose and an operation");
            return refuse("unknown purpose or operation", e);
        };
        let refused = |zh: &str, en: &str| AppError::forbidden(zh, en);
        if !current.has(Role::User) {
            return refuse(
                "no user role",
                refused("您的帳號沒有查詢健保資料的角色", "your account has no role that may query NHI data"),
            );
        }
        if purpose.status != Status::Active {
            return refuse(
                "purpose retired",
                refused("此業務範圍已廢止，不得再以此查詢", "this purpose is retired: no new queries under it"),
            );
        }
        if operation.status != Status::Active {
            return refuse("operation retired", refused("此查詢作業已廢止", "this operation is retired"));
        }
        let linked = match agency {
            Some(a) => reference.linkages.iter().any(|l| {
                l.agency_id == a
                    && l.purpose_id == purpose.id
                    && l.operation_id == operation.id
                    && l.status == Status::Active
            }),
            None => false,
        };
        if !linked {
            let e = refused(
                "貴機關沒有此業務範圍與查詢作業之有效連結作業（健保署核准）",
                "your agency holds no active NHIA-approved linkage for this purpose and operation",
            );
            return refuse("no active linkage", e);
        }
        let grant = Grant { account_id: current.account_id, purpose_id: purpose.id, operation_id: operation.id };
        let held = match &current.grants {
            Some(grants) => grants.contains(&grant),
            None => self.db().grants_of(current.account_id).await?.contains(&grant),
        };
        if !held {
            let e = refused(
                "您未獲授權以此業務範圍執行此查詢作業，請依程序申請",
                "you hold no grant for this operation under this purpose; apply for one",
            );
            return refuse("no grant", e);
        }
        let case_pattern = reference.case_pattern(agency);
        Ok(Ok(Access { purpose, operation, agency, case_pattern }))
    }

    /// The query's ledger entry (R-LOG-1), written before the lookup is sent. Public for the
    /// benchmarks, which fill a month's log without sending anything.
    pub fn query_draft(
        &self,
        current: &Current,
        a: &Access,
        case: &CaseNumber,
        reason: &Reason,
        subject: &Subject,
        extra: &[(&str, String)],
    ) -> Draft {
        let mut f = Vec::new();
        field(&mut f, "account_id", current.account_id.to_string());
        field(&mut f, "agency_id", a.agency.map(|x| x.to_string()).unwrap_or_default());
        field(&mut f, "purpose", a.purpose.number.to_string());
        field(&mut f, "purpose_id", a.purpose.id.to_string());
        field(&mut f, "operation", a.operation.code.clone());
        field(&mut f, "operation_id", a.operation.id.to_string());
        field(&mut f, "case_number", case.as_str());
        field(&mut f, "reason", reason.as_str());
        field(&mut f, "conditions", subject.conditions());
        field(&mut f, "subject_masked", subject.masked());
        field(&mut f, "outcome", "sent");
        field(&mut f, "client_addr", current.client_addr.clone());
        for (k, v) in extra {
            field(&mut f, k, v.clone());
        }
        Draft {
            kind: EntryKind::Query,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: f,
        }
    }

    /// Sends one lookup; NHIA's answer or failure becomes an outcome. Only the fields the
    /// operation was approved for are kept (R-PUR-3): anything else NHIA sends is dropped before it
    /// is shown, sealed or written to a file.
    pub(crate) async fn lookup(&self, operation: &Operation, subject: &Subject, query_seq: u64) -> Looked {
        let request = LookupRequest {
            operation_code: operation.code.clone(),
            subject: subject.clone(),
            request_id: format!("{}-{query_seq}", self.deployment_id()),
        };
        match self.nhi().connector.lookup(&request).await {
            // A person found with nothing to say of them: only a visit lookup may answer so.
            Ok(LookupAnswer::Found(rs))
                if rs.is_empty() && !nhiguard_domain::catalogue::answers_per_visit(&operation.results) =>
            {
                let e = nhiguard_nhi::NhiError::BadAnswer { detail: "found, with no record".into() };
                tracing::warn!(query_seq, code = e.code(), detail = %e.detail(), "NHIA lookup failed");
                (Outcome::NhiaError, Vec::new(), Some(e))
            }
            Ok(LookupAnswer::Found(rs)) => {
                let mut dropped = 0usize;
                let records = rs
                    .into_iter()
                    .map(|r| {
                        let mut fields = r.into_fields();
                        let before = fields.len();
                        fields.retain(|(f, _)| operation.results.contains(f));
                        dropped += before - fields.len();
                        fields
                    })
                    .collect();
                if dropped > 0 {
                    tracing::warn!(query_seq, operation = %operation.code, dropped, "NHIA answered fields outside the operation; dropped");
                }
                (Outcome::Answered, records, None)
            }
            Ok(LookupAnswer::NotFound) => (Outcome::NotFound, Vec::new(), None),
            Err(e) => {
                tracing::warn!(query_seq, code = e.code(), detail = %e.detail(), "NHIA lookup failed");
                (Outcome::NhiaError, Vec::new(), Some(e))
            }
        }
    }

    /// Issue 6's relation facts about an answered subject, as outcome fields: the same surname as
    /// the user, a name on the county's staff roll. Facts only — never the name itself.
    pub(crate) async fn relation_fields(
        &self,
        person_name: &str,
        records: &[Vec<(ResultField, String)>],
    ) -> Result<Vec<(String, String)>> {
        let Some(name) = records.iter().flatten().find(|(f, _)| *f == ResultField::Name).map(|(_, v)| v.trim()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let surname = |n: &str| n.chars().next();
        if surname(name).is_some() && surname(name) == surname(person_name.trim()) {
            out.push(("same_surname".to_owned(), "1".to_owned()));
        }
        if self.staff_names().await?.contains(name) {
            out.push(("subject_is_employee".to_owned(), "1".to_owned()));
        }
        Ok(out)
    }

    /// The staff roll's names, read at most every five minutes: every answered lookup asks.
    async fn staff_names(&self) -> Result<Arc<std::collections::HashSet<String>>> {
        let mut cache = self.inner.staff_names.lock().await;
        let now = self.now();
        if let Some((at, names)) = cache.as_ref()
            && (now - *at).num_seconds().abs() < 300
        {
            return Ok(names.clone());
        }
        let names = Arc::new(self.db().staff_names().await?);
        *cache = Some((now, names.clone()));
        Ok(names)
    }

    /// The outcome's ledger entry, written before the answer is shown.
    pub fn outcome_draft(&self, username: &str, query_seq: u64, looked: &Looked) -> Draft {
        let (outcome, records, error) = looked;
        let mut o = Vec::new();
        field(&mut o, "query_seq", query_seq.to_string());
        field(&mut o, "outcome", outcome.code());
        field(&mut o, "records", records.len().to_string());
        if let Some(e) = error {
            field(&mut o, "nhia_error", e.code());
        }
        Draft {
            kind: EntryKind::QueryOutcome,
            actor: username.to_owned(),
            at_micros: self.now().timestamp_micros(),
            fields: o,
        }
    }

    pub(crate) fn seal_records(
        &self,
        records: &[Vec<(ResultField, String)>],
        aad: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.inner.results_key.seal(&serialize_records(records), aad)
    }

    pub(crate) fn open_records(&self, nonce: &[u8], ct: &[u8], aad: &[u8]) -> Result<Vec<Vec<(ResultField, String)>>> {
        deserialize_records(&self.inner.results_key.open(nonce, ct, aad)?)
    }

    /// Runs one query end to end.
    pub async fn run_query(&self, current: &Current, input: &QueryInput) -> Result<QueryAnswer> {
        if let Some((why, e)) = self.query_bar(current) {
            return self.refuse(current, input, why, e).await;
        }
        // 1. Who may ask for what (R-PUR-3): checked before the input, so that nothing is parsed
        //    for a query that may not happen at all.
        let access = match self.query_access(current, input.purpose_id, input.operation_id).await? {
            Ok(a) => a,
            Err((why, e)) => return self.refuse(current, input, &why, e).await,
        };

        // 2. The input (R-QRY-1, R-QRY-2): nothing malformed goes out.
        let min = usize::try_from(self.settings().reason_min_chars).unwrap_or(8);
        let parsed = (|| {
            let case = access.case_number(&input.case_number)?;
            let reason = Reason::parse(&input.reason, min)?;
            let subject = if access.operation.conditions.contains(&SubjectCondition::NationalId) {
                Subject::NationalId(NationalId::parse(&input.national_id)?)
            } else {
                let name = nhiguard_domain::ids::parse_name("name", &input.name, 40)?;
                let birth_date =
                    nhiguard_domain::catalogue::parse_date("birth_date", &input.birth_date)?.ok_or_else(|| {
                        nhiguard_domain::DomainError::invalid("birth_date", "請填寫出生日期", "enter the date of birth")
                    })?;
                Subject::NameBirthDate { name, birth_date }
            };
            Ok::<_, nhiguard_domain::DomainError>((case, reason, subject))
        })();
        let (case, reason, subject) = match parsed {
            Ok(p) => p,
            Err(e) => {
                let why = match &e {
                    nhiguard_domain::DomainError::Invalid { field, .. } => format!("invalid {field}"),
                    nhiguard_domain::DomainError::Forbidden { .. } => "forbidden".to_owned(),
                };
                return self.refuse(current, input, &why, e.into()).await;
            }
        };

        // 3. The query entry, durable before anything is sent (R-LOG-1).
        let query_seq = self.append(self.query_draft(current, &access, &case, &reason, &subject, &[])).await?;

        // 4. NHIA.
        let looked = self.lookup(&access.operation, &subject, query_seq).await;

        // 5. The outcome entry and the sealed result, in one transaction, before the answer is shown.
        let now = self.now();
        let purge_after = now + Duration::days(self.settings().result_retention_days);
        // Read what the entry needs before the transaction takes SQLite's write lock.
        let mut outcome_entry = self.outcome_draft(&current.username, query_seq, &looked);
        outcome_entry.fields.extend(self.relation_fields(&current.person_name, &looked.1).await?);
        let (outcome, records, error) = looked;
        let result = if outcome == Outcome::Answered {
            let (nonce, ciphertext) = self.seal_records(&records, &result_aad(current.account_id, query_seq))?;
            Some(NewResult {
                account_id: current.account_id,
                query_seq,
                operation_code: access.operation.code.clone(),
                case_number: case.as_str().to_owned(),
                subject_masked: subject.masked(),
                created_at: now,
                purge_after,
                nonce,
                ciphertext,
            })
        } else {
            None
        };
        // Group-committed with the other queries' outcomes: one sync serves them all.
        let result_id = self.append_with(outcome_entry, result).await?.result_id;
        let message = match &error {
            Some(e) => Some(Text::new(e.zh(), e.en())),
            None => outcome_message(outcome, ""),
        };
        Ok(QueryAnswer { query_seq, outcome, result_id, records, message, purge_after: result_id.map(|_| purge_after) })
    }

    /// A retained result, for its owner and the colleagues named on it while it is kept with its
    /// case (R-QRY-5, R-QRY-6); every opening is recorded.
    pub async fn open_result(
        &self,
        current: &Current,
        id: i64,
    ) -> Result<(ResultRow, Vec<Vec<(ResultField, String)>>)> {
        let row = self.db().result(id).await?;
        // A colleague named on it must still be a user of the owner's agency (people move).
        let shared = row.attached
            && self.db().result_shares(id).await?.contains(&current.account_id)
            && current.has(Role::User)
            && {
                let tree = self.db().org_tree().await?;
                let owner = self.db().account(row.account_id).await?;
                let agency = |node: i64| tree.agency_of(node).unwrap_or(node);
                agency(owner.org_node_id) == agency(current.org_node_id)
            };
        if row.account_id != current.account_id && !shared {
            self.record(
                crate::events::kind::FORBIDDEN,
                current.event_actor(),
                &format!("result {id}"),
                "neither the owner nor named on it",
            )
            .await?;
            return Err(AppError::forbidden(
                "查詢結果僅限查詢者本人及其指定之承辦人員檢視",
                "a result is shown only to the person who asked and the colleagues they named",
            ));
        }
        let (Some(nonce), Some(ct)) = (&row.nonce, &row.ciphertext) else {
            return Err(AppError::conflict("此查詢結果已銷毀", "this result has been destroyed"));
        };
        let records = self.open_records(nonce, ct, &result_aad(row.account_id, row.query_seq))?;
        self.append(Draft {
            kind: EntryKind::Export,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: vec![
                ("event".into(), "result_viewed".into()),
                ("result_id".into(), id.to_string()),
                ("query_seq".into(), row.query_seq.to_string()),
            ],
        })
        .await?;
        Ok((row, records))
    }

    /// Clears one result in `tx` with its destruction record (what, when, by whom or by schedule;
    /// never the data): deleted by `by`, or purged by the schedule when `by` is `None`. False if it
    /// was already gone, or — for the schedule — is now kept with its case.
    async fn destroy_recorded(&self, tx: &mut nhiguard_store::Tx, row: &ResultRow, by: Option<&str>) -> Result<bool> {
        let now = self.now();
        let (event, by, actor, scheduled) = match by {
            Some(who) => ("result_deleted", who, who, false),
            None => ("result_purged", "schedule", "system", true),
        };
        // The schedule's purge destroys only what is due and not kept with its case, checked again
        // in the update itself: the owner may have kept it since the purge listed it.
        if !tx.destroy_result(row.id, by, now, scheduled).await? {
            return Ok(false);
        }
        let fields = vec![
            ("event".into(), event.into()),
            ("result_id".into(), row.id.to_string()),
            ("query_seq".into(), row.query_seq.to_string()),
            ("by".into(), by.into()),
        ];
        let draft =
            Draft { kind: EntryKind::Retention, actor: actor.into(), at_micros: now.timestamp_micros(), fields };
        append_in(tx, &[draft]).await?;
        Ok(true)
    }

    /// Destroys a result early, by its owner (R-DAT-1: 電子檔如無保留必要性，應即刪除).
    pub async fn delete_result(&self, current: &Current, id: i64) -> Result<()> {
        let row = self.db().result(id).await?;
        if row.account_id != current.account_id {
            return Err(AppError::forbidden(
                "僅查詢者本人可刪除查詢結果",
                "only the person who asked may delete a result",
            ));
        }
        let mut tx = self.db().begin().await?;
        if !self.destroy_recorded(&mut tx, &row, Some(&current.username)).await? {
            return Err(AppError::conflict("此查詢結果已銷毀", "this result has already been destroyed"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The scheduled purge (R-DAT-1): results past their date and not attached to a case are
    /// destroyed, each with a destruction record.
    pub async fn purge_results(&self) -> Result<usize> {
        let batches = self.purge_batches().await?;
        let due = self.db().results_due(self.now(), 1000).await?;
        let mut n = 0;
        for row in due {
            let mut tx = self.db().begin().await?;
            if self.destroy_recorded(&mut tx, &row, None).await? {
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n + batches)
    }

    /// The user's own queries, newest first (allowed, refused and their outcomes), with
    /// subjects masked.
    pub async fn my_history(&self, current: &Current, limit: u64) -> Result<Vec<crate::querylog::LogRow>> {
        let rows = self.db().ledger_by_actor(&current.username, &["query", "query_outcome"], limit * 2).await?;
        let mut out = crate::querylog::assemble(&rows, &self.db().purposes().await?)?;
        out.truncate(usize::try_from(limit).unwrap_or(100));
        Ok(out)
    }

    /// R-QRY-6: the owner of a result kept with its case names a colleague who may open it too —
    /// an active user of the same agency. Recorded; detaching or destroying the result ends it.
    pub async fn share_result(&self, current: &Current, id: i64, username: &str) -> Result<()> {
        let row = self.owned_live_result(current, id).await?;
        if !row.attached {
            return Err(AppError::conflict(
                "請先附卷保存，才能指定共用之承辦人員",
                "keep the result with its case first; only then can colleagues be named",
            ));
        }
        let other = self
            .db()
            .account_by_username(username.trim())
            .await?
            .ok_or_else(|| AppError::invalid("username", "找不到此帳號", "no such account"))?;
        let tree = self.db().org_tree().await?;
        let agency = |node: i64| tree.agency_of(node).unwrap_or(node);
        let refuse = |zh: &str, en: &str| Err(AppError::invalid("username", zh, en));
        if other.id == current.account_id {
            return refuse("不需指定本人", "you need not name yourself");
        }
        if other.status != "active" || !other.roles.contains(&Role::User) {
            return refuse("此帳號未啟用或沒有使用者角色", "this account is not active or holds no user role");
        }
        if agency(other.org_node_id) != agency(current.org_node_id) {
            return refuse("僅能指定同一機關之承辦人員", "only colleagues of the same agency can be named");
        }
        let mut tx = self.db().begin().await?;
        if !tx.share_result(id, other.id, current.account_id, self.now()).await? {
            return Err(AppError::conflict(
                "此結果已取消附卷或已銷毀，不能共用",
                "this result is no longer kept with its case, or is destroyed; it cannot be shared",
            ));
        }
        self.retention_in(&mut tx, current, "result_shared", &row, &other.username).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a share of a result (its owner only); recorded.
    pub async fn unshare_result(&self, current: &Current, id: i64, account_id: i64) -> Result<()> {
        let row = self.owned_live_result(current, id).await?;
        let other = self.db().account(account_id).await?;
        let mut tx = self.db().begin().await?;
        if !tx.unshare_result(id, account_id).await? {
            return Err(AppError::not_found("此人未被指定共用此結果", "this person is not named on this result"));
        }
        self.retention_in(&mut tx, current, "result_unshared", &row, &other.username).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The results colleagues shared with `current` that still hold data.
    pub async fn results_shared_with_me(&self, current: &Current) -> Result<Vec<ResultRow>> {
        Ok(self.db().results_shared_with(current.account_id).await?)
    }

    /// Whom a result is shared with (for its owner's page).
    pub async fn result_shared_with(&self, current: &Current, id: i64) -> Result<Vec<nhiguard_store::AccountRow>> {
        let row = self.db().result(id).await?;
        if row.account_id != current.account_id {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for a in self.db().result_shares(id).await? {
            out.push(self.db().account(a).await?);
        }
        Ok(out)
    }

    async fn owned_live_result(&self, current: &Current, id: i64) -> Result<ResultRow> {
        let row = self.db().result(id).await?;
        if row.account_id != current.account_id {
            self.record(
                crate::events::kind::FORBIDDEN,
                current.event_actor(),
                &format!("result {id}"),
                "not the owner",
            )
            .await?;
            return Err(AppError::forbidden("僅查詢者本人可處理此查詢結果", "only the person who asked may do this"));
        }
        if row.ciphertext.is_none() {
            return Err(AppError::conflict("此查詢結果已銷毀", "this result has been destroyed"));
        }
        Ok(row)
    }

    async fn retention_in(
        &self,
        tx: &mut nhiguard_store::Tx,
        current: &Current,
        event: &str,
        row: &ResultRow,
        whom: &str,
    ) -> Result<()> {
        let fields = vec![
            ("event".into(), event.into()),
            ("result_id".into(), row.id.to_string()),
            ("case_number".into(), row.case_number.clone()),
            ("by".into(), current.username.clone()),
            ("with".into(), whom.to_owned()),
        ];
        let draft = Draft {
            kind: EntryKind::Retention,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields,
        };
        append_in(tx, &[draft]).await.map(|_| ())
    }

    /// Keeps a result with its case past the purge date (R-QRY-6: 併案或附卷), or lets it go again;
    /// its owner only, and recorded.
    pub async fn attach_result(&self, current: &Current, id: i64, attached: bool) -> Result<()> {
        let row = self.owned_live_result(current, id).await?;
        let mut tx = self.db().begin().await?;
        if !tx.set_result_attached(id, attached).await? {
            return Err(AppError::conflict("此查詢結果已銷毀", "this result has already been destroyed"));
        }
        let event = if attached { "result_attached" } else { "result_detached" };
        let fields = vec![
            ("event".into(), event.into()),
            ("result_id".into(), id.to_string()),
            ("case_number".into(), row.case_number.clone()),
            ("by".into(), current.username.clone()),
        ];
        append_in(
            &mut tx,
            &[Draft {
                kind: EntryKind::Retention,
                actor: current.username.clone(),
                at_micros: self.now().timestamp_micros(),
                fields,
            }],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's retained results, newest first.
    pub async fn my_results(&self, current: &Current) -> Result<Vec<ResultRow>> {
        Ok(self.db().results_of(current.account_id, 200).await?)
    }
}

/// Starts the built-in sandbox NHIA on a local port and connects to it over HTTP with the real
/// connector, so that the demo and the tests exercise the same path as production. The sandbox
/// runs as long as the returned value (or the app holding it) lives.
/// The connector's timeout and retries are the settings' (`nhi_timeout_seconds`, `nhi_retries`),
/// as with NHIA itself.
pub async fn sandbox_nhi(seed: u64, as_of: chrono::NaiveDate, settings: &crate::Settings) -> Result<Nhi> {
    sandbox_nhi_with_faults(seed, as_of, settings, None).await
}

/// As [`sandbox_nhi`], with a fault-injection handle for tests (NHIA down, slow, answering garbage).
pub async fn sandbox_nhi_with_faults(
    seed: u64,
    as_of: chrono::NaiveDate,
    settings: &crate::Settings,
    faults: Option<nhiguard_nhi::SandboxFaults>,
) -> Result<Nhi> {
    let data = Arc::new(SandboxData::generate(seed, 5000, as_of));
    let credential = crate::auth::random_token()?;
    let mut config = nhiguard_nhi::SandboxConfig::new(data.clone(), credential.clone());
    if let Some(f) = faults {
        config = config.with_faults(f);
    }
    let handle = nhiguard_nhi::spawn_sandbox(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .map_err(|e| AppError::Internal(format!("sandbox: {e}")))?;
    let mut c = nhiguard_nhi::HttpConnectorConfig::new(handle.endpoint(), credential);
    patience(&mut c, settings);
    let connector = nhiguard_nhi::HttpConnector::new(c)
        .map_err(|e| AppError::Internal(format!("sandbox connector: {}", e.detail())))?;
    Ok(Nhi { connector: Arc::new(connector), sandbox: Some(data), sandbox_server: Some(Arc::new(handle)) })
}

/// What a query's outcome tells the person who asked, from what its record keeps: the outcome and,
/// for an NHIA error, its code (the outcome page is opened after the answer is gone).
pub fn outcome_message(outcome: Outcome, nhia_error: &str) -> Option<Text> {
    if nhia_error == crate::querylog::INTERRUPTED {
        return Some(Text::new(
            "查詢送出後系統中斷，未取得結果，亦未重送；如仍需要請重新查詢",
            "the system stopped while the lookup was out: no result was kept and it was not sent again; query again if still needed",
        ));
    }
    match outcome {
        Outcome::NotFound => {
            Some(Text::new("健保署查無符合條件之資料", "NHIA has no record matching these conditions"))
        }
        Outcome::NhiaError => Some(match nhiguard_nhi::NhiError::advice_for_code(nhia_error) {
            Some((zh, en)) => Text::new(zh, en),
            None => Text::new(
                "健保署未能回覆（已記錄）；請稍後再試，如持續發生請通知資訊單位",
                "NHIA could not answer (recorded); try again later, and tell the IT unit if it persists",
            ),
        }),
        _ => None,
    }
}

/// How long a connector waits for NHIA, and how often it tries again, from the settings.
fn patience(c: &mut nhiguard_nhi::HttpConnectorConfig, s: &crate::Settings) {
    c.request_timeout = std::time::Duration::from_secs(u64::try_from(s.nhi_timeout_seconds).unwrap_or(10));
    c.connect_timeout = c.request_timeout.min(std::time::Duration::from_secs(3));
    c.retries = u32::try_from(s.nhi_retries).unwrap_or(2);
}

/// The real NHIA connector from the settings; errors name the setting to fix.
pub fn nhia_connector(s: &crate::Settings) -> std::result::Result<Nhi, String> {
    let mut c = nhiguard_nhi::HttpConnectorConfig::new(s.nhi_endpoint.clone(), s.nhi_credential.clone());
    let path = |v: &str| (!v.is_empty()).then(|| std::path::PathBuf::from(v));
    c.client_cert_pem = path(&s.nhi_client_cert);
    c.client_key_pem = path(&s.nhi_client_key);
    c.ca_pem = path(&s.nhi_ca);
    patience(&mut c, s);
    match nhiguard_nhi::HttpConnector::new(c) {
        Ok(conn) => Ok(Nhi { connector: Arc::new(conn), sandbox: None, sandbox_server: None }),
        Err(nhiguard_nhi::NhiError::Config { setting, detail }) => {
            Err(format!("nhi_{}: {detail}", setting.trim_end_matches("_pem")))
        }
        Err(e) => Err(e.detail()),
    }
}
