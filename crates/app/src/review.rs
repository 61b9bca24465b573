//! The monthly review (R-REV-1 … R-REV-4): after each month closes, every agency's queries of
//! that month form its query record sheet; a sample is drawn from the signed checkpoint taken
//! after the close (see `nhiguard_domain::review` for the derivation anyone can recompute); an
//! eligible reviewer records a finding for each sampled entry and signs; the unit head approves.
//! Every step is a ledger entry.

use chrono::{Datelike, NaiveDate};
use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::org::OrgKind;
use nhiguard_domain::review::{self, Finding, ReviewAction, ReviewState, SampleSeed, check_reviewer, check_sign_off};
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;
use nhiguard_ledger::{EntryKind, SignedCheckpoint};
use nhiguard_store::NewReview;
pub use nhiguard_store::{FindingRow, ReviewRow};

use crate::ledger::{Draft, append_in};
use crate::querylog::LogRow;
use crate::{App, AppError, Current, Result};

/// One line of the query record sheet (R-REV-1): ROC date, Taipei time, the subject masked.
#[derive(Debug, Clone)]
pub struct SheetRow {
    pub seq: u64,
    pub date: String,
    pub time: String,
    pub username: String,
    pub name: String,
    pub purpose: String,
    pub operation: String,
    pub subject: String,
    pub case_number: String,
    pub reason: String,
    pub outcome: String,
    /// Drawn for the review: "抽查"; else empty.
    pub sampled: String,
    /// The reviewer's finding on a sampled entry (正常 / 異常：note); empty until recorded.
    pub finding: String,
}

/// The month's query record sheet with what heads it.
#[derive(Debug, Clone)]
pub struct RecordSheet {
    pub review: ReviewRow,
    pub county: String,
    pub agency: String,
    /// 民國115年10月
    pub month: String,
    /// The root hash of the checkpoint the sample was drawn from, base64.
    pub checkpoint_root: String,
    pub rows: Vec<SheetRow>,
    /// The electronic sign-offs, once made: "name（username） ROC date and time"; empty before.
    pub reviewer_signed: String,
    pub head_signed: String,
}

/// 民國115年10月
pub fn roc_month(year: i32, month: u32) -> String {
    format!("民國{}年{}月", nhiguard_domain::roc::roc_year(year), month)
}

/// A review with what its page shows.
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub review: ReviewRow,
    pub agency_name: String,
    pub agency_code: String,
    /// The sampled queries.
    pub sample: Vec<LogRow>,
    pub findings: Vec<FindingRow>,
    /// Recomputed now from the stored checkpoint: does it give the stored sample?
    pub sample_matches: bool,
    /// Risk flags over the whole month, each explaining itself (a list apart from the sample);
    /// `None` on the quick view, which does not read the month.
    pub flags: Option<Vec<nhiguard_domain::risk::Flag>>,
    /// Whether the sample was recomputed from the ledger itself (the full view) or from the month's
    /// population kept at preparation (the quick view).
    pub from_ledger: bool,
}

fn month_bounds(year: i32, month: u32) -> Option<(i64, i64)> {
    let start = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let micros =
        |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| (t - chrono::Duration::hours(8)).and_utc().timestamp_micros());
    Some((micros(start)?, micros(next)?))
}

/// The month before the Taipei date `today`.
pub fn previous_month(today: NaiveDate) -> (i32, u32) {
    if today.month() == 1 { (today.year() - 1, 12) } else { (today.year(), today.month() - 1) }
}

/// Every query of one agency in one month (allowed and refused), oldest first. Needs only read
/// access, so that `nhiguard review recompute` can use it too.
pub async fn month_rows(db: &nhiguard_store::Db, agency_id: i64, year: i32, month: u32) -> Result<Vec<LogRow>> {
    Ok(month_rows_by_agency(db, year, month).await?.remove(&agency_id).unwrap_or_default())
}

/// Every query of one month, by agency, each agency's oldest first: one read of the month for all
/// of them (reading is what costs).
pub async fn month_rows_by_agency(
    db: &nhiguard_store::Db,
    year: i32,
    month: u32,
) -> Result<std::collections::HashMap<i64, Vec<LogRow>>> {
    let (from, to) =
        month_bounds(year, month).ok_or_else(|| AppError::invalid("month", "月份錯誤", "no such month"))?;
    // Outcomes follow their query: read a little past the end for them.
    let purposes = db.purposes().await?;
    let mut assembler = crate::querylog::Assembler::default();
    db.for_each_body_between(&["query", "query_outcome"], from, to + 60_000_000, |seq, body| assembler.push(seq, body))
        .await?;
    let mut out: std::collections::HashMap<i64, Vec<LogRow>> = std::collections::HashMap::new();
    // Assembled newest first; pushing from the end keeps each agency oldest first.
    for r in assembler.finish(&purposes)?.into_iter().rev() {
        if let Some(agency) = r.agency_id.filter(|_| r.at.timestamp_micros() < to) {
            out.entry(agency).or_default().push(r);
        }
    }
    Ok(out)
}

/// R-REV-2: the seed and the sample a signed checkpoint gives for an agency's month.
pub fn draw_from(
    checkpoint: &SignedCheckpoint,
    agency_code: &str,
    year: i32,
    month: u32,
    population: &[u64],
    settings: &review::SampleSettings,
) -> (SampleSeed, Vec<u64>) {
    let c = checkpoint.checkpoint();
    let seed = SampleSeed::derive(c.root().0, c.size(), agency_code, year, month);
    let n = u64::try_from(population.len()).unwrap_or(0);
    let k = settings.size(n);
    (seed, review::draw(&seed, population, k))
}

impl App {
    /// Every query of one agency in one month (allowed and refused), oldest first.
    pub async fn month_queries(&self, agency_id: i64, year: i32, month: u32) -> Result<Vec<LogRow>> {
        month_rows(self.db(), agency_id, year, month).await
    }

    /// Creates the reviews of a closed month for every agency (the job on the 1st; it catches up
    /// after downtime and does nothing twice). A checkpoint is signed first, so the seed comes from
    /// a checkpoint taken after the month closed.
    pub async fn prepare_reviews(&self, year: i32, month: u32) -> Result<usize> {
        let (_, end) =
            month_bounds(year, month).ok_or_else(|| AppError::invalid("month", "月份錯誤", "no such month"))?;
        if self.now().timestamp_micros() < end {
            return Err(AppError::conflict("該月份尚未結束", "that month has not closed yet"));
        }
        self.checkpoint_now().await?;
        let Some(cp) = self.db().latest_checkpoint().await? else { return Ok(0) };
        let signed = SignedCheckpoint::parse(&cp.text).map_err(|e| AppError::Internal(format!("checkpoint: {e}")))?;
        let tree = self.db().org_tree().await?;
        let agencies: Vec<(i64, String)> = match tree.root() {
            Some(r) => tree
                .branch(r.id)
                .into_iter()
                .filter(|(_, n)| n.kind == OrgKind::Agency)
                .map(|(_, n)| (n.id, n.code.clone()))
                .collect(),
            None => Vec::new(),
        };
        let mut created = 0;
        let mut by_agency = month_rows_by_agency(self.db(), year, month).await?;
        for (agency, code) in agencies {
            if self.db().review_for(agency, year, month).await?.is_some() {
                continue;
            }
            let queries = by_agency.remove(&agency).unwrap_or_default();
            let population: Vec<u64> = queries.iter().map(|q| q.seq).collect();
            let settings = self.settings().sample_settings();
            let (seed, sample) = draw_from(&signed, &code, year, month, &population, &settings);
            let new = NewReview {
                agency_id: agency,
                year,
                month,
                queries: u64::try_from(population.len()).unwrap_or(0),
                checkpoint_size: cp.size,
                checkpoint_text: cp.text.clone(),
                seed: seed.to_hex(),
                sample: sample.clone(),
                settings,
                sample_rows: serde_json::to_string(&{
                    // A set: the month may hold 100,000 queries and the sample thousands.
                    let drawn: std::collections::HashSet<u64> = sample.iter().copied().collect();
                    queries.iter().filter(|q| drawn.contains(&q.seq)).collect::<Vec<_>>()
                })
                .map_err(|e| AppError::Internal(format!("review snapshot: {e}")))?,
                population: population.clone(),
            };
            let mut tx = self.db().begin().await?;
            let (id, new_one) = tx.insert_review(&new, self.now()).await?;
            if new_one {
                let fields = vec![
                    ("event".into(), "review_prepared".into()),
                    ("review_id".into(), id.to_string()),
                    ("agency_id".into(), agency.to_string()),
                    ("month".into(), format!("{year}-{month:02}")),
                    ("queries".into(), population.len().to_string()),
                    ("sample".into(), sample.iter().map(u64::to_string).collect::<Vec<_>>().join(",")),
                    ("seed".into(), seed.to_hex()),
                    ("sample_rate_percent".into(), settings.rate_percent.to_string()),
                    ("sample_minimum".into(), settings.minimum.to_string()),
                    ("checkpoint_size".into(), cp.size.to_string()),
                ];
                append_in(
                    &mut tx,
                    &[Draft {
                        kind: EntryKind::ReviewAction,
                        actor: "system".into(),
                        at_micros: self.now().timestamp_micros(),
                        fields,
                    }],
                )
                .await?;
                created += 1;
            }
            tx.commit().await?;
        }
        Ok(created)
    }

    /// The job: prepare last month's reviews if they are missing.
    pub async fn prepare_due_reviews(&self) -> Result<usize> {
        let (year, month) = previous_month(nhiguard_domain::roc::taipei_date(self.now()));
        self.prepare_reviews(year, month).await
    }

    async fn check_review_access(&self, current: &Current, agency_id: i64) -> Result<()> {
        let tree = self.db().org_tree().await?;
        if let Err(e) = authorize(&tree, &current.actor(), Action::ViewQueryLog, Some(agency_id)) {
            self.record(
                crate::events::kind::FORBIDDEN,
                current.event_actor(),
                &format!("review of agency {agency_id}"),
                "view",
            )
            .await?;
            return Err(e.into());
        }
        Ok(())
    }

    /// The reviews the actor may see, newest first.
    pub async fn reviews(&self, current: &Current) -> Result<Vec<ReviewRow>> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let agencies: Vec<i64> = match tree.root() {
            Some(r) => tree
                .branch(r.id)
                .into_iter()
                .filter(|(_, n)| {
                    n.kind == OrgKind::Agency && authorize(&tree, &actor, Action::ViewQueryLog, Some(n.id)).is_ok()
                })
                .map(|(_, n)| n.id)
                .collect(),
            None => Vec::new(),
        };
        Ok(self.db().reviews_of(&agencies).await?)
    }

    /// One review with its sample, findings, a fresh recomputation of the sample, and the month's
    /// risk flags: the whole month re-read from the ledger.
    pub async fn review_view(&self, current: &Current, id: i64) -> Result<ReviewView> {
        self.review_view_from(current, id, true).await
    }

    /// The review page's view: with `from_ledger` false (and a population kept at preparation),
    /// the draw is recomputed from the kept population and the signed checkpoint and the sampled
    /// queries come as kept, without reading the month; the page offers the full check.
    pub async fn review_view_from(&self, current: &Current, id: i64, from_ledger: bool) -> Result<ReviewView> {
        let review = self.db().review(id).await?;
        self.check_review_access(current, review.agency_id).await?;
        // The page shows sampled queries (case numbers, reasons): a reading of the log, recorded
        // as the query log's searches are.
        let how = if from_ledger { "review read from the log" } else { "review" };
        self.record(crate::events::kind::LEDGER_READ, current.event_actor(), &format!("review {id}"), how).await?;
        self.review_view_unrecorded(review, from_ledger).await
    }

    /// The view, for the app's own checks (whose reading is not someone's).
    async fn review_view_unrecorded(&self, review: ReviewRow, from_ledger: bool) -> Result<ReviewView> {
        let id = review.id;
        let tree = self.db().org_tree().await?;
        let agency = tree.get(review.agency_id).cloned().ok_or_else(|| AppError::Internal("review agency".into()))?;
        let quick = !from_ledger && (review.queries == 0 || !review.population.is_empty());
        let queries = if quick {
            serde_json::from_str::<Vec<LogRow>>(if review.sample_rows.is_empty() { "[]" } else { &review.sample_rows })
                .map_err(|e| AppError::Internal(format!("review snapshot: {e}")))?
        } else {
            self.month_queries(review.agency_id, review.year, review.month).await?
        };
        let population: Vec<u64> =
            if quick { review.population.clone() } else { queries.iter().map(|q| q.seq).collect() };
        let sample_matches = match SignedCheckpoint::parse(&review.checkpoint_text) {
            Ok(cp) => {
                cp.verify(&self.ledger_keys().signing.public_key()).is_ok() && {
                    let (seed, sample) =
                        draw_from(&cp, &agency.code, review.year, review.month, &population, &review.settings);
                    seed.to_hex() == review.seed && sample == review.sample
                }
            }
            Err(_) => false,
        };
        let flags = if quick { None } else { Some(self.month_flags(review.year, review.month, &queries).await?) };
        let drawn: std::collections::HashSet<u64> = review.sample.iter().copied().collect();
        let sample = queries.into_iter().filter(|q| drawn.contains(&q.seq)).collect();
        Ok(ReviewView {
            flags,
            from_ledger: !quick,
            findings: self.db().findings(id).await?,
            agency_name: agency.name_zh.clone(),
            agency_code: agency.code.clone(),
            sample,
            sample_matches,
            review,
        })
    }

    /// The month's risk flags (issue 6: off hours, repeated subjects, volume spikes, reused case
    /// numbers, queries just before a disable date, fishing, same surname, staff roll), with the
    /// `risk_…` settings and the office calendar.
    pub(crate) async fn month_flags(
        &self,
        year: i32,
        month: u32,
        queries: &[LogRow],
    ) -> Result<Vec<nhiguard_domain::risk::Flag>> {
        use nhiguard_domain::risk::{HistoryStats, QuerySummary, flags};
        let mut summaries = Vec::with_capacity(queries.len());
        let mut accounts = std::collections::HashMap::new();
        for q in queries {
            let Some(id) = q.account_id else { continue };
            if let std::collections::hash_map::Entry::Vacant(e) = accounts.entry(id) {
                e.insert(self.db().account(id).await.ok());
            }
            let account = accounts.get(&id).and_then(Option::as_ref);
            summaries.push(QuerySummary {
                seq: q.seq,
                account_id: id,
                account_surname: account.as_ref().map(|a| a.person_name.chars().take(1).collect()).unwrap_or_default(),
                account_address: None,
                at: q.at,
                subject_key: q.subject_key.clone(),
                // Recorded at the time as a fact, not the name: the detector needs only the match.
                subject_surname: q
                    .same_surname
                    .then(|| account.as_ref().map(|a| a.person_name.chars().take(1).collect()).unwrap_or_default()),
                subject_address: None,
                subject_is_employee: q.subject_is_employee,
                case_number: q.case_number.clone(),
                reason: q.reason.clone(),
                outcome: q.outcome,
                account_disable_on: account.and_then(|a| a.disable_on.as_deref().and_then(|d| d.parse().ok())),
            });
        }
        // Each account's volume over the three months before: its query entries counted through
        // the (actor, at) index, one statement per account of this month. Reading and decoding
        // the earlier months whole cost seconds in a large county's log (BENCHMARKS.md section 5).
        let mut history = HistoryStats::default();
        let (mut y, mut m) = (year, month);
        for _ in 0..3 {
            (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        }
        let bounds = month_bounds(y, m).zip(month_bounds(year, month));
        if let Some(((from, _), (to, _))) = bounds {
            for (id, account) in &accounts {
                let Some(a) = account else { continue };
                let n = self.db().count_by_actor(&a.username, EntryKind::Query.code(), from, to).await?;
                if n > 0 {
                    history = history.with(*id, 3, n);
                }
            }
        }
        let (thresholds, holidays) = self.risk_calendar().await?;
        Ok(flags(&summaries, &history, &thresholds, &holidays))
    }

    /// The month's whole query record sheet (R-REV-1), as it is printed and downloaded; reading
    /// it is recorded.
    pub async fn review_sheet(&self, current: &Current, id: i64, format: &str) -> Result<RecordSheet> {
        let review = self.db().review(id).await?;
        self.check_review_access(current, review.agency_id).await?;
        self.append(Draft {
            kind: EntryKind::LedgerRead,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: vec![
                ("event".into(), "review_sheet".into()),
                ("review_id".into(), id.to_string()),
                ("format".into(), format.into()),
            ],
        })
        .await?;
        let tree = self.db().org_tree().await?;
        let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let findings: std::collections::HashMap<u64, FindingRow> =
            self.db().findings(id).await?.into_iter().map(|f| (f.seq, f)).collect();
        let finding_text = |f: &FindingRow| match Finding::from_code(&f.finding) {
            Some(Finding::Anomalous) => format!("異常：{}", f.note),
            Some(Finding::Normal) if f.note.is_empty() => "正常".to_owned(),
            Some(Finding::Normal) => format!("正常：{}", f.note),
            None => f.finding.clone(),
        };
        let drawn: std::collections::HashSet<u64> = review.sample.iter().copied().collect();
        let mut rows = Vec::new();
        for q in self.month_queries(review.agency_id, review.year, review.month).await? {
            if !names.contains_key(&q.username) {
                let name = self.db().account_by_username(&q.username).await?.map(|a| a.person_name);
                names.insert(q.username.clone(), name.unwrap_or_default());
            }
            let local = q.at.with_timezone(&roc::taipei());
            let outcome = crate::querylog::outcome_text(crate::i18n::Lang::Zh, &q);
            rows.push(SheetRow {
                seq: q.seq,
                date: roc::short_date(local.date_naive()),
                time: local.format("%H:%M:%S").to_string(),
                name: names.get(&q.username).cloned().unwrap_or_default(),
                username: q.username,
                purpose: q.purpose,
                operation: q.operation,
                subject: q.subject_masked,
                case_number: q.case_number,
                reason: q.reason,
                outcome,
                sampled: if drawn.contains(&q.seq) { "抽查".to_owned() } else { String::new() },
                finding: findings.get(&q.seq).map(finding_text).unwrap_or_default(),
            });
        }
        let signed = |account: Option<i64>, at: Option<chrono::DateTime<chrono::Utc>>| async move {
            match (account, at) {
                (Some(a), Some(at)) => format!("{} {}", self.account_label(Some(a)).await, roc::long_datetime(at)),
                _ => String::new(),
            }
        };
        let reviewer_signed = signed(review.reviewer_account_id, review.reviewer_signed_at).await;
        let head_signed = signed(review.head_account_id, review.head_signed_at).await;
        Ok(RecordSheet {
            reviewer_signed,
            head_signed,
            county: tree.root().map(|n| n.name_zh.clone()).unwrap_or_default(),
            agency: tree.get(review.agency_id).map(|n| n.name_zh.clone()).unwrap_or_default(),
            month: roc_month(review.year, review.month),
            checkpoint_root: SignedCheckpoint::parse(&review.checkpoint_text)
                .map(|c| c.checkpoint().root().to_base64())
                .unwrap_or_default(),
            review,
            rows,
        })
    }

    /// The sheet as an ODS workbook: the queries, then the checkpoint it was built from and the
    /// sign-off lines, so that the file anchors the electronic log as the paper copy does.
    pub async fn review_sheet_ods(&self, current: &Current, id: i64) -> Result<(String, Vec<u8>)> {
        let sheet = self.review_sheet(current, id, "ods").await?;
        let header = [
            "序號",
            "日期",
            "時間",
            "帳號",
            "姓名",
            "業務範圍",
            "作業代號",
            "查詢條件",
            "案號",
            "查詢事由",
            "結果",
            "抽查",
            "查核結果",
        ];
        let rows: Vec<Vec<String>> = sheet
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.seq.to_string(),
                    r.date.clone(),
                    r.time.clone(),
                    r.username.clone(),
                    r.name.clone(),
                    r.purpose.clone(),
                    r.operation.clone(),
                    r.subject.clone(),
                    r.case_number.clone(),
                    r.reason.clone(),
                    r.outcome.clone(),
                    r.sampled.clone(),
                    r.finding.clone(),
                ]
            })
            .collect();
        let about = vec![
            vec!["機關".to_owned(), sheet.agency.clone()],
            vec!["月份".to_owned(), sheet.month.clone()],
            vec!["查詢筆數".to_owned(), sheet.rows.len().to_string()],
            vec!["檢查點大小".to_owned(), sheet.review.checkpoint_size.to_string()],
            vec!["檢查點根雜湊".to_owned(), sheet.checkpoint_root.clone()],
            vec!["已簽章檢查點".to_owned(), sheet.review.checkpoint_text.clone()],
            vec!["查核人員簽章".to_owned(), sheet.reviewer_signed.clone()],
            vec!["單位主管簽章".to_owned(), sheet.head_signed.clone()],
        ];
        let bytes = nhiguard_tabular::write_ods(&[
            nhiguard_tabular::Sheet {
                name: "查詢紀錄單".into(),
                header: header.iter().map(|h| (*h).to_owned()).collect(),
                rows,
                column_widths_cm: Some(vec![1.6, 2.2, 1.8, 2.4, 2.0, 3.0, 1.8, 3.0, 3.0, 6.0, 1.6, 1.2, 4.0]),
            },
            nhiguard_tabular::Sheet {
                name: "檢查點及簽核".into(),
                header: vec!["項目".into(), "內容".into()],
                rows: about,
                column_widths_cm: Some(vec![5.0, 14.0]),
            },
        ]);
        let name = format!(
            "nhiguard-sheet-{}-{}-{:02}.ods",
            self.db().org_tree().await?.get(sheet.review.agency_id).map(|n| n.code.clone()).unwrap_or_default(),
            sheet.review.year,
            sheet.review.month
        );
        Ok((name, bytes))
    }

    async fn review_entry(
        &self,
        tx: &mut nhiguard_store::Tx,
        current: &Current,
        id: i64,
        event: &str,
        detail: String,
    ) -> Result<()> {
        let fields = vec![("review_id".into(), id.to_string()), ("detail".into(), detail)];
        self.action_in(tx, EntryKind::ReviewAction, current, event, fields).await
    }

    /// Assigns the reviewer (R-REV-3): by the agency's supervisors or admins.
    /// Whether `current` is a supervisor of the agency: the supervisor role itself must reach it,
    /// not another role the account holds (the planning department's, say).
    pub(crate) async fn supervises(&self, current: &Current, agency_id: i64) -> Result<bool> {
        let tree = self.db().org_tree().await?;
        let mut head = current.actor();
        head.roles.retain(|role| *role == Role::Supervisor);
        Ok(authorize(&tree, &head, Action::ViewQueryLog, Some(agency_id)).is_ok())
    }

    pub async fn assign_reviewer(&self, current: &Current, id: i64, username: &str) -> Result<()> {
        let r = self.db().review(id).await?;
        self.check_review_access(current, r.agency_id).await?;
        // R-REV-3: the agency's supervisor (權責主管) names the month's reviewer.
        if !self.supervises(current, r.agency_id).await? {
            return Err(AppError::forbidden(
                "由本機關之權責主管指派查核人員",
                "a supervisor of this agency assigns the reviewer",
            ));
        }
        if r.state != "open" {
            return Err(AppError::conflict("已簽核之查核不能改派", "a signed review cannot be reassigned"));
        }
        let a = self
            .db()
            .account_by_username(username.trim())
            .await?
            .ok_or_else(|| AppError::invalid("reviewer", "找不到此帳號", "no such account"))?;
        let tree = self.db().org_tree().await?;
        let person = self.db().person(a.person_ref).await?;
        let agency = tree.get(r.agency_id).ok_or_else(|| AppError::Internal("agency".into()))?;
        let candidate = review::ReviewerCandidate {
            account_id: a.id,
            agency_id: tree.agency_of(a.org_node_id).unwrap_or(a.org_node_id),
            rank: person.rank,
            active: a.status == "active" && person.hr_status == nhiguard_domain::person::HrStatus::Active,
        };
        let view = self.review_view_unrecorded(r.clone(), false).await?;
        let mut queries_by = Vec::new();
        for q in &view.sample {
            if let Some(acc) = self.db().account_by_username(&q.username).await? {
                queries_by.push(acc.id);
            }
        }
        let approved: Vec<i64> = self
            .db()
            .applications_at(&tree.branch(r.agency_id).into_iter().map(|(_, n)| n.id).collect::<Vec<_>>())
            .await?
            .into_iter()
            .filter(|app| app.decided_by == Some(a.id) && app.state == "carried_out")
            .filter_map(|app| app.account_id)
            .collect();
        check_reviewer(&candidate, r.agency_id, agency.has_sections, &queries_by, &approved)?;
        if !a.roles.contains(&Role::Reviewer) {
            return Err(AppError::invalid(
                "reviewer",
                "此帳號沒有查核人員角色，請先依程序申請",
                "this account has no reviewer role; apply for it first",
            ));
        }
        let mut tx = self.db().begin().await?;
        tx.set_reviewer(id, a.id).await?;
        self.review_entry(&mut tx, current, id, "reviewer_assigned", a.username.clone()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the assigned reviewer's finding on one sampled entry (R-REV-4).
    pub async fn record_finding(&self, current: &Current, id: i64, seq: u64, finding: &str, note: &str) -> Result<()> {
        let r = self.db().review(id).await?;
        if r.reviewer_account_id != Some(current.account_id) {
            return Err(AppError::forbidden(
                "僅受指派之查核人員可記錄查核結果",
                "only the assigned reviewer records findings",
            ));
        }
        if r.state != "open" {
            return Err(AppError::conflict("已簽核之查核不能再修改", "a signed review cannot be changed"));
        }
        if !r.sample.contains(&seq) {
            return Err(AppError::invalid("seq", "此筆不在抽查樣本內", "this entry is not in the sample"));
        }
        let finding = Finding::from_code(finding.trim())
            .ok_or_else(|| AppError::invalid("finding", "請選擇正常或異常", "choose normal or anomalous"))?;
        let note = note.trim();
        if finding == Finding::Anomalous
            && note.chars().filter(|c| !c.is_whitespace()).count() < review::MIN_ANOMALY_NOTE_CHARS
        {
            return Err(AppError::invalid(
                "note",
                format!("異常須說明（至少 {} 字）", review::MIN_ANOMALY_NOTE_CHARS),
                format!("an anomaly needs a note of at least {} characters", review::MIN_ANOMALY_NOTE_CHARS),
            ));
        }
        // R-REV-5: an anomaly opens an investigation, which then decides; the finding stands.
        if finding == Finding::Normal && self.db().investigations_of_review(id).await?.iter().any(|i| i.seq == seq) {
            return Err(AppError::conflict(
                "此筆已因異常開啟調查，查核結果不能改為正常；調查結論請於稽核紀錄中說明",
                "an investigation was opened on this anomaly, so the finding cannot become normal; \
                 the investigation's audit record gives the conclusion",
            ));
        }
        let mut tx = self.db().begin().await?;
        tx.upsert_finding(id, seq, finding.code(), note, current.account_id, self.now()).await?;
        self.review_entry(&mut tx, current, id, "finding", format!("entry {seq}: {} {note}", finding.code())).await?;
        if finding == Finding::Anomalous {
            self.open_investigation_in(&mut tx, current, &r, seq).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The reviewer signs (every sampled entry must have a finding), then the unit head approves.
    pub async fn sign_review(&self, current: &Current, id: i64) -> Result<()> {
        let r = self.db().review(id).await?;
        self.check_review_access(current, r.agency_id).await?;
        let state = ReviewState::from_code(&r.state).ok_or_else(|| AppError::Internal("review state".into()))?;
        let now = self.now();
        let mut tx = self.db().begin().await?;
        match state {
            ReviewState::Open => {
                if r.reviewer_account_id != Some(current.account_id) {
                    return Err(AppError::forbidden("僅受指派之查核人員可簽核", "only the assigned reviewer signs"));
                }
                let findings = self.db().findings(id).await?;
                let pairs: Vec<(u64, Option<Finding>)> = r
                    .sample
                    .iter()
                    .map(|s| (*s, findings.iter().find(|f| f.seq == *s).and_then(|f| Finding::from_code(&f.finding))))
                    .collect();
                let notes: Vec<(u64, String)> = findings.iter().map(|f| (f.seq, f.note.clone())).collect();
                check_sign_off(&pairs, &notes)?;
                review::next(state, ReviewAction::ReviewerSign)?;
                if !tx.sign_review(id, "open", "reviewed", current.account_id, now).await? {
                    return Err(AppError::conflict(
                        "查核狀態已變更，請重新整理",
                        "the review changed meanwhile; reload",
                    ));
                }
                self.review_entry(&mut tx, current, id, "reviewer_signed", String::new()).await?;
            }
            ReviewState::Reviewed => {
                let heads_it = self.supervises(current, r.agency_id).await?;
                if !heads_it || r.reviewer_account_id == Some(current.account_id) {
                    return Err(AppError::forbidden(
                        "由單位主管（非查核人員本人）核定",
                        "the unit head, not the reviewer, approves",
                    ));
                }
                review::next(state, ReviewAction::HeadApprove)?;
                if !tx.sign_review(id, "reviewed", "approved", current.account_id, now).await? {
                    return Err(AppError::conflict(
                        "查核狀態已變更，請重新整理",
                        "the review changed meanwhile; reload",
                    ));
                }
                self.review_entry(&mut tx, current, id, "head_approved", String::new()).await?;
            }
            ReviewState::Approved => {
                review::next(state, ReviewAction::Reopen)?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// R-ACT-1: who answers for one query — the account and person who ran it, the application
/// that gave the account its permissions (who filed it, which supervisor approved it, which admin
/// carried it out), and whether the account could query at the time.
#[derive(Debug, Clone)]
pub struct Chain {
    pub query: LogRow,
    pub username: String,
    pub person: String,
    pub title: String,
    /// The latest application carried out for the account before the query: (number, kind,
    /// filed by, approved by and when, carried out by and when).
    pub application: Option<(i64, String, String, String, String)>,
    /// Why the query was refused (the recorded code), or `None` when it was allowed: the account
    /// was active and held the purpose, operation and linkage at that moment.
    pub refused: Option<String>,
    /// The same account's other queries of the same subject in the month.
    pub same_subject: Vec<LogRow>,
}

impl App {
    /// The chain of responsibility of one query of a review's month, for the people who may see
    /// that review (R-ACT-1, R-REV-4).
    pub async fn review_entry_chain(&self, current: &Current, id: i64, seq: u64) -> Result<Chain> {
        let review = self.db().review(id).await?;
        self.check_review_access(current, review.agency_id).await?;
        let what = format!("entry {seq}: chain and the user's queries of the subject");
        self.record(crate::events::kind::LEDGER_READ, current.event_actor(), &format!("review {id}"), &what).await?;
        let month = self.month_queries(review.agency_id, review.year, review.month).await?;
        let query = month.iter().find(|q| q.seq == seq).cloned().ok_or_else(|| {
            AppError::not_found("此筆不是本月份本機關的查詢", "that entry is not a query of this review's month")
        })?;
        let account = match query.account_id {
            Some(a) => Some(self.db().account(a).await?),
            None => None,
        };
        let who = |acc: Option<i64>| self.account_label(acc);
        let mut application = None;
        if let Some(a) = &account {
            let tree = self.db().org_tree().await?;
            let nodes: Vec<i64> = tree
                .branch(tree.agency_of(a.org_node_id).unwrap_or(a.org_node_id))
                .into_iter()
                .map(|(_, n)| n.id)
                .collect();
            let latest = self
                .db()
                .applications_at(&nodes)
                .await?
                .into_iter()
                .filter(|app| app.account_id == Some(a.id) && app.carried_out_at.is_some_and(|t| t <= query.at))
                .max_by_key(|app| app.carried_out_at);
            if let Some(app) = latest {
                let when = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(roc::short_datetime).unwrap_or_default();
                application = Some((
                    app.id,
                    nhiguard_domain::account::ApplicationKind::from_code(&app.kind)
                        .map(|k| k.zh().to_owned())
                        .unwrap_or_default(),
                    who(Some(app.created_by)).await,
                    format!("{} {}", who(app.decided_by).await, when(app.decided_at)),
                    format!("{} {}", who(app.carried_out_by).await, when(app.carried_out_at)),
                ));
            }
        }
        let refused = (query.outcome == nhiguard_domain::query::Outcome::Refused).then(|| query.detail.clone());
        let same_subject = month
            .iter()
            .filter(|q| {
                // A query that names no subject (a malformed ID, a refused file) shares none.
                q.seq != seq
                    && !query.subject_key.is_empty()
                    && q.subject_key == query.subject_key
                    && q.account_id == query.account_id
            })
            .cloned()
            .collect();
        Ok(Chain {
            username: query.username.clone(),
            person: account.as_ref().map(|a| a.person_name.clone()).unwrap_or_default(),
            title: account.as_ref().map(|a| a.person_title.clone()).unwrap_or_default(),
            application,
            refused,
            same_subject,
            query,
        })
    }
}
