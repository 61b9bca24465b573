//! Batch queries (R-QRY-4): one purpose, operation, case number and reason for a file of subjects.
//! The whole file is checked first and refused, with its bad rows listed, if any row is wrong.
//! Each subject is then its own query in the ledger. Rows go out in chunks: one transaction
//! records a chunk's queries (and claims its rows), the lookups run, a second transaction records
//! their outcomes. A row whose query was recorded is not sent again unless NHIA certainly did not
//! carry it out (it could not be reached, or said it was unavailable: the row then waits and goes
//! again as a new query) — after a crash its outcome is recorded as interrupted — so a restart
//! resumes without repeating a disclosure. Where several processes share the database, one works
//! on a batch at a time (a lease). The result file is sealed like every result and purged on the
//! same schedule.

use std::sync::{Arc, Mutex};

use nhiguard_domain::catalogue::SubjectCondition;
use nhiguard_domain::national_id::NationalId;
use nhiguard_domain::query::{CaseNumber, Outcome, Reason, Subject};
use nhiguard_domain::roc;
pub use nhiguard_store::BatchRow;
use nhiguard_store::NewBatch;
use nhiguard_tabular::{FileKind, Limits, formula_risk, read_table};

use crate::gateway::{Access, QueryInput};
use crate::ledger::{Draft, append_in};
use crate::{App, AppError, Current, Result};

/// An uploaded batch.
#[derive(Debug, Clone, Default)]
pub struct BatchInput {
    pub purpose_id: i64,
    pub operation_id: i64,
    pub case_number: String,
    pub reason: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Header names taken as the subject's ID column.
const ID_COLUMNS: &[&str] = &["身分證號", "身分證統一編號", "身分證字號", "統一編號", "居留證號", "national_id", "id"];

/// Rows sent per chunk (one transaction before, one after). Each chunk costs some fixed work (the
/// lease, the owner's rights, two commits): at 200 a batch of 100,000 took 70 s on PostgreSQL and
/// 28 s on SQLite, at 1,000 28 s and 16 s (BENCHMARKS.md section 6). A crash while a chunk is out
/// leaves at most this many rows recorded as interrupted.
const CHUNK: i64 = 1000;

/// Lookups in flight at once within a chunk.
const PARALLEL: usize = 32;

/// How many of a chunk's lookups go out between two checks of the owner's right to query. A chunk's
/// queries are recorded (and its rights checked) before its first lookup, but its lookups go out
/// over a while; once the right ends — the account disabled, a grant revoked, a linkage ended — only
/// the lookups already out and at most this many after them still go (R-QRY-2), and the rest of the
/// chunk is recorded as refused. One round of [`PARALLEL`]: as many again as are out at once, so
/// that what may still go after the right ends is at most twice what is in flight anyway, for one
/// check (three reads) per round of lookups.
const RECHECK_EVERY: usize = PARALLEL;

/// The refusal recorded for a row withheld because its owner's right could not be checked.
const UNCONFIRMED: &str = "batch: right not confirmed";

/// After a chunk that NHIA could not take (unreachable, or saying it is unavailable), the batch
/// waits, then sends a single row; it goes back to full chunks once a row gets through. The wait
/// doubles up to [`WAIT_MAX`]. Without it a short outage (a night's maintenance window) would open
/// the connector's breaker and fail every remaining row at once, each recorded as a query.
const WAIT_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// After the database failed the batch's work, it starts again after a wait that doubles up to
/// this: what was recorded stays, nothing recorded is sent again. Any other error stops the batch
/// for good (`fail_batch`).
const RESTART_MAX: std::time::Duration = std::time::Duration::from_secs(300);

/// The wait before a batch's work starts again, and the one due after it: `due`, doubling up to
/// [`RESTART_MAX`], while the work fails soon after it starts; back to [`WAIT_FIRST`] once it ran
/// for longer than the longest wait (a database that failed an hour ago is not failing now).
fn restart_wait(due: std::time::Duration, ran: std::time::Duration) -> (std::time::Duration, std::time::Duration) {
    let wait = if ran > RESTART_MAX { WAIT_FIRST } else { due };
    (wait, (wait * 2).min(RESTART_MAX))
}

/// Batches being worked on in this process, and the name it works under: a lease in the database
/// tells other processes sharing it which batches are taken (`Db::batch_lease`).
#[derive(Debug)]
pub(crate) struct Running {
    tasks: Mutex<std::collections::HashMap<i64, tokio::task::AbortHandle>>,
    worker: String,
}

impl Default for Running {
    fn default() -> Self {
        let worker: String = crate::auth::random_token().map(|t| t.chars().take(12).collect()).unwrap_or_default();
        Self { tasks: Mutex::default(), worker: format!("{}-{worker}", std::process::id()) }
    }
}

/// How long a batch stays taken without a word from its worker: renewed with every chunk and every
/// [`RENEW`] while a chunk's lookups are out, and given up on a clean shutdown.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
const RENEW: std::time::Duration = std::time::Duration::from_secs(60);

/// A batch as the query its refusals record (no subject: it is the file's).
fn as_query(purpose_id: i64, operation_id: i64, case_number: &str, reason: &str) -> QueryInput {
    QueryInput {
        purpose_id,
        operation_id,
        case_number: case_number.to_owned(),
        reason: reason.to_owned(),
        ..QueryInput::default()
    }
}

fn subject_aad(batch: i64, row: u64) -> Vec<u8> {
    format!("nhiguard-batch-subject:{batch}:{row}").into_bytes()
}

fn answer_aad(batch: i64, row: u64) -> Vec<u8> {
    format!("nhiguard-batch-answer:{batch}:{row}").into_bytes()
}

fn file_aad(batch: i64) -> Vec<u8> {
    format!("nhiguard-batch-file:{batch}").into_bytes()
}

/// The subjects of a batch file, each with its row number — or why the whole file is refused: an
/// operation that does not look up by national ID, a file that cannot be read or has no ID column,
/// or any bad row (all of them listed, up to twenty).
fn batch_subjects(access: &Access, input: &BatchInput) -> Result<Vec<(u64, NationalId)>> {
    if !access.operation.conditions.contains(&SubjectCondition::NationalId) {
        return Err(AppError::invalid(
            "operation_id",
            "批次查詢僅適用以身分證號查詢之作業",
            "batches take operations that look up by national ID",
        ));
    }
    let kind =
        FileKind::sniff(&input.bytes, &input.file_name).map_err(|e| AppError::invalid("file", e.zh(), e.en()))?;
    let table =
        read_table(&input.bytes, kind, &Limits::default()).map_err(|e| AppError::invalid("file", e.zh(), e.en()))?;
    let Some(col) = ID_COLUMNS.iter().find_map(|c| table.header.iter().position(|h| h.trim().eq_ignore_ascii_case(c)))
    else {
        return Err(AppError::invalid(
            "file",
            format!("找不到身分證號欄位：第 1 列須有欄名「{}」", ID_COLUMNS[0]),
            format!("no ID column: row 1 must name a column '{}' (or national_id)", ID_COLUMNS[0]),
        ));
    };
    let mut ids = Vec::with_capacity(table.rows.len());
    let mut problems: Vec<(u64, String, String)> = Vec::new();
    // A subject twice is most likely a slip in the list; it would be two disclosures.
    let mut first_row: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    // A sheet filtered down to a few people still holds the rest: each would be looked up.
    let mut hidden = table.hidden.iter().peekable();
    for (i, row) in table.rows.iter().enumerate() {
        let row_no = nhiguard_tabular::Table::row_number(i);
        let cell = row.get(col).map(String::as_str).unwrap_or_default();
        if cell.trim().is_empty() && row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if hidden.next_if_eq(&&i).is_some() {
            problems.push((
                row_no,
                "此列被隱藏或篩選掉了；請取消隱藏與篩選，只留要查詢的人後再上傳".into(),
                "this row is hidden or filtered out; unhide and unfilter, keep only the people to look up, and upload again".into(),
            ));
            continue;
        }
        // A lone "-" is a blank left in the list, not a formula: it is refused below as no ID.
        if formula_risk(cell) && cell.trim() != "-" {
            problems.push((row_no, "儲存格看似公式".into(), "the cell looks like a formula".into()));
            continue;
        }
        // The other columns are never looked up nor copied into the result, so ordinary notes and
        // phone numbers (`+886-912-…`, `-無-`, `@line`) pass; but a cell that is a formula (`=…`)
        // or a command for the spreadsheet to run (`…|…`) means the file was made to run
        // something, and whoever prepared it should know.
        let runs = |c: &str| c.starts_with('=') || (formula_risk(c) && c.contains('|'));
        if let Some(j) = (0..row.len()).find(|&j| j != col && runs(&row[j])) {
            let named = table.header.get(j).map(|h| h.trim()).filter(|h| !h.is_empty());
            let (zh, en) = match named {
                Some(h) => (format!("「{h}」欄"), format!("column '{h}'")),
                None => (format!("第 {} 欄", j + 1), format!("column {}", j + 1)),
            };
            problems.push((
                row_no,
                format!("{zh}的儲存格是公式；請刪除該儲存格或其開頭的 = 等符號後再上傳"),
                format!("the cell in {en} is a formula; delete it, or the = (or other sign) it starts with, and upload again"),
            ));
        }
        match NationalId::parse(cell) {
            Ok(id) => match first_row.entry(id.expose().to_owned()) {
                std::collections::hash_map::Entry::Occupied(first) => problems.push((
                    row_no,
                    format!("與第 {} 列為同一人", first.get()),
                    format!("the same person as row {}", first.get()),
                )),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(row_no);
                    ids.push((row_no, id));
                }
            },
            Err(nhiguard_domain::DomainError::Invalid { zh, en, .. }) => problems.push((row_no, zh, en)),
            Err(e) => problems.push((row_no, e.to_string(), e.to_string())),
        }
    }
    if !problems.is_empty() {
        let shown = 20;
        let zh: Vec<String> = problems.iter().take(shown).map(|(r, zh, _)| format!("第 {r} 列：{zh}")).collect();
        let en: Vec<String> = problems.iter().take(shown).map(|(r, _, en)| format!("row {r}: {en}")).collect();
        let more = problems.len().saturating_sub(shown);
        return Err(AppError::invalid(
            "file",
            format!(
                "檔案有 {} 列錯誤，整批未送出，請更正後重新上傳。{}{}",
                problems.len(),
                zh.join("；"),
                if more > 0 { format!("（另 {more} 列）") } else { String::new() }
            ),
            format!(
                "{} rows are wrong; nothing was sent — correct them and upload again. {}{}",
                problems.len(),
                en.join("; "),
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            ),
        ));
    }
    if ids.is_empty() {
        return Err(AppError::invalid("file", "檔案沒有任何身分證號", "the file holds no ID"));
    }
    Ok(ids)
}

impl App {
    /// Checks and stores a batch, then starts it. The file is refused whole if any row is wrong.
    pub async fn upload_batch(&self, current: &Current, input: &BatchInput) -> Result<i64> {
        let as_query = as_query(input.purpose_id, input.operation_id, &input.case_number, &input.reason);
        let access = match self.batch_access(current, input.purpose_id, input.operation_id).await? {
            Ok(a) => a,
            Err((why, e)) => return self.refuse(current, &as_query, &format!("batch: {why}"), e).await.map(|_| 0),
        };
        let min = usize::try_from(self.settings().reason_min_chars).unwrap_or(8);
        let (case, reason) =
            match access.case_number(&input.case_number).and_then(|c| Ok((c, Reason::parse(&input.reason, min)?))) {
                Ok(p) => p,
                Err(e) => return self.refuse(current, &as_query, "batch: invalid input", e.into()).await.map(|_| 0),
            };
        // A refused file is a refused query too (R-LOG-1), recorded without its contents.
        let ids = match batch_subjects(&access, input) {
            Ok(ids) => ids,
            Err(e) => {
                let why = match &e {
                    AppError::Invalid { field, .. } => format!("batch: invalid {field}"),
                    _ => "batch: refused".to_owned(),
                };
                return self.refuse(current, &as_query, &why, e).await.map(|_| 0);
            }
        };
        let now = self.now();
        let new = NewBatch {
            account_id: current.account_id,
            purpose_id: access.purpose.id,
            operation_id: access.operation.id,
            case_number: case.as_str().to_owned(),
            reason: reason.as_str().to_owned(),
            file_name: input.file_name.chars().take(100).collect(),
            total: u64::try_from(ids.len()).unwrap_or(0),
            created_at: now,
            purge_after: now + chrono::Duration::days(self.settings().result_retention_days),
        };
        let mut tx = self.db().begin().await?;
        let id = tx.insert_batch(&new).await?;
        let mut items = Vec::with_capacity(ids.len());
        for (row, nid) in &ids {
            let (nonce, ct) = self.inner.results_key.seal(nid.expose().as_bytes(), &subject_aad(id, *row))?;
            items.push((*row, nonce, ct, nid.masked()));
        }
        tx.insert_batch_items(id, &items).await?;
        self.record_in(
            &mut tx,
            crate::events::kind::BATCH,
            current.event_actor(),
            &format!("batch {id}"),
            &format!("{} subjects, case {}", ids.len(), case.as_str()),
        )
        .await?;
        tx.commit().await?;
        self.spawn_batch(id);
        Ok(id)
    }

    /// Records an upload refused before its file was read — too large, or not a readable request —
    /// as a refused query (R-LOG-1), with whatever of its purpose, case number and reason is known
    /// (the API's come beside the file; a page's form is inside it, so unknown), and gives `e` back
    /// to show. Should the record fail, that failure is what is shown.
    pub async fn refuse_unread_upload(&self, current: &Current, input: &BatchInput, e: AppError) -> AppError {
        let why = if matches!(e, AppError::TooLarge(_)) { "batch: file too large" } else { "batch: invalid file" };
        let query = as_query(input.purpose_id, input.operation_id, &input.case_number, &input.reason);
        let recorded = async { self.append(self.refusal_draft(current, &query, why, &[]).await?).await };
        match recorded.await {
            Ok(_) => e,
            Err(failed) => failed,
        }
    }

    /// Works on a batch in the background, unless this process already does.
    pub fn spawn_batch(&self, id: i64) {
        let mut running = self.inner.batches.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains_key(&id) {
            return;
        }
        let app = self.clone();
        let task = tokio::spawn(async move {
            let mut due = WAIT_FIRST;
            loop {
                let started = std::time::Instant::now();
                match app.run_batch(id).await {
                    Ok(()) => break,
                    Err(e @ AppError::Unavailable(_)) => {
                        let (wait, next) = restart_wait(due, started.elapsed());
                        tracing::error!(batch = id, error = %e, retry_in_s = wait.as_secs(), "batch stopped; it will go on");
                        tokio::time::sleep(wait).await;
                        due = next;
                    }
                    Err(e) => {
                        if let Err(f) = app.fail_batch(id, &e).await {
                            tracing::error!(batch = id, error = %f, "batch could not be marked failed");
                        }
                        break;
                    }
                }
            }
            app.inner.batches.tasks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
        running.insert(id, task.abort_handle());
    }

    /// Stops every batch this process works on, wherever it is — as a crash would. What was
    /// recorded stays; `resume_batches` goes on from there without re-sending.
    pub fn stop_batches(&self) {
        let mut running = self.inner.batches.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for (_, task) in running.drain() {
            task.abort();
        }
    }

    /// On a clean shutdown: stops the batches and gives up their leases, so that the next start
    /// (or another process) goes on at once instead of after the lease has run out.
    pub async fn release_batches(&self) -> Result<()> {
        self.stop_batches();
        Ok(self.db().batch_release_leases(&self.inner.batches.worker).await?)
    }

    /// Picks up the unfinished batches no one works on: those a restart interrupted, and those of
    /// another process sharing the database that stopped (its lease ran out). Called at start and
    /// every minute while serving. Returns how many it took.
    pub async fn resume_batches(&self) -> Result<usize> {
        let mut taken = 0;
        for b in self.db().unfinished_batches().await? {
            let running = self.inner.batches.tasks.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&b.id);
            let now = self.now();
            if !running && self.db().batch_lease(b.id, &self.inner.batches.worker, now, now + LEASE).await? {
                self.spawn_batch(b.id);
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Stops a batch for good after an error that trying again would not cure (its sealed rows
    /// unreadable, say): the rows' sealed data is cleared, the batch shows as failed, and the stop
    /// is recorded (with the error's code; the detail goes to the server's log).
    async fn fail_batch(&self, id: i64, e: &AppError) -> Result<()> {
        tracing::error!(batch = id, error = %e, "batch failed; it will not go on");
        self.stop_batch_for_good(id, e.code()).await
    }

    /// Marks a batch failed, clears its rows' sealed data and records the stop with `why`.
    async fn stop_batch_for_good(&self, id: i64, why: &str) -> Result<()> {
        let mut tx = self.db().begin().await?;
        tx.batch_fail(id, self.now()).await?;
        let system = crate::events::Actor { account_id: None, username: "system", client_addr: "" };
        let detail = format!("stopped: {why}");
        self.record_in(&mut tx, crate::events::kind::BATCH, system, &format!("batch {id}"), &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The batch's owner, as the queries record them, and whatever keeps the account from
    /// querying now.
    async fn batch_owner(&self, b: &BatchRow) -> Result<Current> {
        let a = self.db().account(b.account_id).await?;
        Ok(self.account_current(a, crate::SessionKind::Api, &format!("batch {}", b.id)))
    }

    /// May the account send this batch's queries now: the account itself (R-ACC-6, R-ACC-7), then
    /// its right to the purpose and operation (R-PUR-3) — checked on upload and again for every chunk.
    async fn batch_access(
        &self,
        current: &Current,
        purpose_id: i64,
        operation_id: i64,
    ) -> Result<std::result::Result<Access, (String, AppError)>> {
        if let Some((why, e)) = self.query_bar(current) {
            return Ok(Err((why.to_owned(), e)));
        }
        self.query_access(current, purpose_id, operation_id).await
    }

    async fn run_batch(&self, id: i64) -> Result<()> {
        let worker = self.inner.batches.worker.as_str();
        let (mut chunk, mut wait) = (CHUNK, std::time::Duration::ZERO);
        // Every row before this one has its outcome (rows go out in order; a row sent back to
        // wait is never before the chunk it came from).
        let mut from = 0u64;
        loop {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let now = self.now();
            if !self.db().batch_lease(id, worker, now, now + LEASE).await? {
                // Done, or another process works on it: its rows out at NHIA are not interrupted.
                return Ok(());
            }
            let b = self.db().batch(id).await?;
            let owner = self.batch_owner(&b).await?;
            // A sign-in lockout (anyone mistyping the username sets one off) pauses the batch
            // until it ends; it does not end the batch.
            if owner.locked_until.is_some_and(|u| u > now) {
                wait = WAIT_FIRST;
                continue;
            }
            let pending = self.db().batch_pending(id, from, chunk).await?;
            let Some(first) = pending.first() else {
                return self.finish_batch(&b).await;
            };
            from = first.row_no;
            // The account and its right to query are checked again for every chunk.
            let access = self.batch_access(&owner, b.purpose_id, b.operation_id).await?;
            // Rows whose query was recorded but whose outcome was not: never sent again.
            let (interrupted, fresh): (Vec<_>, Vec<_>) = pending.into_iter().partition(|i| i.query_seq.is_some());
            let mut outcomes: Vec<nhiguard_store::RowOutcome> = Vec::new();
            let mut drafts = Vec::new();
            for i in &interrupted {
                let seq = i.query_seq.unwrap_or(0);
                let mut entry = self.outcome_draft(&owner.username, seq, &(Outcome::NhiaError, Vec::new(), None));
                // Not NHIA's doing: the gateway stopped before the answer was recorded.
                entry.fields.push(("interrupted".into(), "not sent again".into()));
                drafts.push(entry);
                outcomes.push((i.row_no, "interrupted".into(), None));
            }
            let access = match access {
                Ok(a) => a,
                Err((why, _)) => {
                    // Refused from here on: this chunk's unsent rows now, each its own refused query
                    // naming its subject (R-LOG-1, R-QRY-4); the next chunks the same way.
                    let why = format!("batch: {why}");
                    let query = as_query(b.purpose_id, b.operation_id, &b.case_number, &b.reason);
                    let base = self.refusal_draft(&owner, &query, &why, &[("batch", id.to_string())]).await?;
                    for i in &fresh {
                        let (Some(n), Some(c)) = (&i.subject_nonce, &i.subject_ciphertext) else { continue };
                        let plain = self.inner.results_key.open(n, c, &subject_aad(id, i.row_no))?;
                        let subject = Subject::NationalId(NationalId::parse(&String::from_utf8_lossy(&plain))?);
                        let mut entry = base.clone();
                        entry.fields.retain(|(k, _)| k != "subject_masked");
                        entry.fields.push(("subject_masked".into(), subject.masked()));
                        entry.fields.push(("conditions".into(), subject.conditions()));
                        entry.fields.push(("row".into(), i.row_no.to_string()));
                        drafts.push(entry);
                        outcomes.push((i.row_no, "refused".into(), None));
                    }
                    let mut tx = self.db().begin().await?;
                    if !tx.batch_hold(id, worker, self.now() + LEASE).await? {
                        return Ok(());
                    }
                    append_in(&mut tx, &drafts).await?;
                    tx.batch_record(id, &outcomes).await?;
                    tx.commit().await?;
                    (chunk, wait) = (CHUNK, std::time::Duration::ZERO);
                    continue;
                }
            };
            let case = CaseNumber::parse(&b.case_number)?;
            let reason = Reason::parse(&b.reason, 1)?;
            // One transaction: claim the rows and record their queries before anything is sent.
            let mut subjects = Vec::new();
            let mut tx = self.db().begin().await?;
            let claimed = tx.batch_claim(id, &fresh.iter().map(|i| i.row_no).collect::<Vec<_>>()).await?;
            let mut query_drafts = Vec::new();
            for i in fresh.iter().filter(|i| claimed.contains(&i.row_no)) {
                let (Some(n), Some(c)) = (&i.subject_nonce, &i.subject_ciphertext) else { continue };
                let plain = self.inner.results_key.open(n, c, &subject_aad(id, i.row_no))?;
                let nid = NationalId::parse(&String::from_utf8_lossy(&plain))?;
                let subject = Subject::NationalId(nid);
                query_drafts.push(self.query_draft(
                    &owner,
                    &access,
                    &case,
                    &reason,
                    &subject,
                    &[("batch", id.to_string()), ("row", i.row_no.to_string())],
                ));
                subjects.push((i.row_no, subject));
            }
            let seqs = append_in(&mut tx, &query_drafts).await?;
            let sent: Vec<(u64, u64)> = subjects.iter().map(|(r, _)| *r).zip(seqs.iter().copied()).collect();
            tx.batch_mark_sent(id, &sent).await?;
            if !outcomes.is_empty() {
                append_in(&mut tx, &drafts).await?;
                tx.batch_record(id, &outcomes).await?;
            }
            tx.commit().await?;
            let gate = Arc::new(Gate { batch: b.clone(), state: tokio::sync::Mutex::default() });
            let looked = self.lookup_chunk(id, &access, gate, subjects, seqs).await?;
            // One transaction: their outcomes, with the answers sealed.
            // Everything the entries need is read before the transaction takes the write lock.
            let mut drafts = Vec::new();
            let mut rows = Vec::new();
            // Rows NHIA certainly did not carry out, and rows withheld for want of a check of the
            // owner's right: their queries are recorded as failed or refused, and the rows go back
            // to wait for another try (a new query then).
            let mut unsent = Vec::new();
            for (row, seq, l) in &looked {
                let l = match l {
                    Ok(l) => l,
                    Err(withheld) => {
                        // Recorded as a query, then never sent: the owner's right ended meanwhile,
                        // or could not be checked (the row then waits, to go again as a new query).
                        let why = match withheld {
                            Withheld::Refused(why) => why.clone(),
                            Withheld::Unconfirmed => {
                                unsent.push(*row);
                                UNCONFIRMED.to_owned()
                            }
                        };
                        let mut entry =
                            self.outcome_draft(&owner.username, *seq, &(Outcome::Refused, Vec::new(), None));
                        entry.fields.push(("refusal".into(), why));
                        drafts.push(entry);
                        if matches!(withheld, Withheld::Refused(_)) {
                            rows.push((*row, Outcome::Refused.code().to_owned(), None));
                        }
                        continue;
                    }
                };
                let mut entry = self.outcome_draft(&owner.username, *seq, l);
                entry.fields.extend(self.relation_fields(&owner.person_name, &l.1).await?);
                drafts.push(entry);
                if l.2.as_ref().is_some_and(|e| e.retry_safe()) {
                    unsent.push(*row);
                    continue;
                }
                let sealed =
                    if l.0 == Outcome::Answered { Some(self.seal_records(&l.1, &answer_aad(id, *row))?) } else { None };
                rows.push((*row, l.0.code().to_owned(), sealed));
            }
            (chunk, wait) = if unsent.is_empty() {
                (CHUNK, std::time::Duration::ZERO)
            } else {
                tracing::warn!(
                    batch = id,
                    rows = unsent.len(),
                    "rows not carried out (NHIA unavailable, or the owner's right not confirmed): the batch waits, then tries one row"
                );
                (1, (wait * 2).clamp(WAIT_FIRST, WAIT_MAX))
            };
            let mut tx = self.db().begin().await?;
            // Should the lease have passed to another process meanwhile, it records these rows as
            // interrupted; recording them here as well would give each query two outcomes.
            let now = self.now();
            if !tx.batch_hold(id, worker, now + LEASE).await? {
                tracing::warn!(batch = id, "batch taken over by another process; its answers here are dropped");
                return Ok(());
            }
            append_in(&mut tx, &drafts).await?;
            tx.batch_record(id, &rows).await?;
            tx.batch_release(id, &unsent).await?;
            tx.commit().await?;
        }
    }

    /// A chunk's lookups, [`PARALLEL`] at a time, the lease renewed while they are out, the owner's
    /// right checked again as they go (`gate`). Sorted by row; a row `Err(_)` was not sent.
    async fn lookup_chunk(
        &self,
        id: i64,
        access: &Access,
        gate: Arc<Gate>,
        subjects: Vec<(u64, Subject)>,
        seqs: Vec<u64>,
    ) -> Result<Vec<ChunkRow>> {
        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        let mut set = tokio::task::JoinSet::new();
        let operation = Arc::new(access.operation.clone());
        for ((row, subject), seq) in subjects.into_iter().zip(seqs) {
            let app = self.clone();
            let operation = operation.clone();
            let sem = sem.clone();
            let gate = gate.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let looked = match gate.admit(&app).await {
                    Ok(()) => Ok(app.lookup(&operation, &subject, seq).await),
                    Err(withheld) => Err(withheld),
                };
                (row, seq, looked)
            });
        }
        let mut renew = tokio::time::interval(RENEW);
        renew.tick().await;
        let mut looked = Vec::new();
        loop {
            tokio::select! {
                r = set.join_next() => match r {
                    Some(r) => looked.push(r.map_err(|e| AppError::Internal(format!("batch lookup task: {e}")))?),
                    None => break,
                },
                _ = renew.tick() => {
                    // A renewal that fails loses nothing yet: the lease runs for LEASE, renewed every
                    // RENEW, and the chunk's recording checks it still holds (`batch_hold`). Giving up
                    // here would cancel the lookups out and drop the answers already in.
                    let now = self.now();
                    match self.db().batch_lease(id, &self.inner.batches.worker, now, now + LEASE).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Another process has the batch now: nothing more goes from here (it
                            // records this chunk's rows out as interrupted, never sent again).
                            tracing::warn!(batch = id, "batch lease lost while a chunk is out; its other rows are not sent");
                            gate.close(Withheld::Unconfirmed).await;
                        }
                        Err(e) => tracing::warn!(batch = id, error = %e, "could not renew the batch lease; tries again"),
                    }
                }
            }
        }
        looked.sort_by_key(|(row, _, _)| *row);
        Ok(looked)
    }

    /// Builds the result file (CSV), seals it, and clears the rows' sealed data.
    async fn finish_batch(&self, b: &BatchRow) -> Result<()> {
        if b.state == "done" {
            return Ok(());
        }
        let op = self.db().operation(b.operation_id).await?;
        let mut header = vec!["列號".to_owned(), "身分證號".to_owned(), "結果".to_owned()];
        header.extend(op.results.iter().map(|f| f.zh().to_owned()));
        // Written row by row: a batch of 100,000 subjects is never held as rows in memory.
        let mut csv = nhiguard_tabular::CsvWriter::new(&header);
        let mut lines = 0usize;
        let mut from = 0;
        loop {
            let items = self.db().batch_items(b.id, from, 5000).await?;
            let Some(last) = items.last().map(|i| i.row_no) else { break };
            for i in &items {
                let id = match (&i.subject_nonce, &i.subject_ciphertext) {
                    (Some(n), Some(c)) => {
                        String::from_utf8_lossy(&self.inner.results_key.open(n, c, &subject_aad(b.id, i.row_no))?)
                            .into_owned()
                    }
                    _ => i.subject_masked.clone(),
                };
                let outcome = i.outcome.clone().unwrap_or_default();
                let label =
                    Outcome::from_code(&outcome).map(|o| o.zh().to_owned()).unwrap_or_else(|| match outcome.as_str() {
                        "interrupted" => "中斷（未重送）".to_owned(),
                        other => other.to_owned(),
                    });
                let records = match (&i.answer_nonce, &i.answer_ciphertext) {
                    (Some(n), Some(c)) => self.open_records(n, c, &answer_aad(b.id, i.row_no))?,
                    _ => Vec::new(),
                };
                let row_no = i.row_no.to_string();
                if records.is_empty() {
                    csv.row([row_no.as_str(), id.as_str(), label.as_str()]);
                    lines += 1;
                }
                for r in &records {
                    // Dates as on screen and paper (ROC), like the rest of what the county reads.
                    let values: Vec<String> = op
                        .results
                        .iter()
                        .map(|f| r.iter().find(|(k, _)| k == f).map_or(String::new(), |(_, v)| roc::shown_value(v)))
                        .collect();
                    let head = [row_no.as_str(), id.as_str(), label.as_str()];
                    csv.row(head.into_iter().chain(values.iter().map(String::as_str)));
                    lines += 1;
                }
            }
            from = last + 1;
        }
        let csv = csv.finish();
        let (nonce, ct) = self.inner.results_key.seal(&csv, &file_aad(b.id))?;
        drop(csv);
        let mut tx = self.db().begin().await?;
        tx.batch_finish(b.id, nonce, ct, self.now()).await?;
        tx.commit().await?;
        tracing::info!(batch = b.id, rows = lines, "batch finished");
        Ok(())
    }

    /// A batch, for its owner only.
    pub async fn batch(&self, current: &Current, id: i64) -> Result<BatchRow> {
        let b = self.db().batch(id).await?;
        if b.account_id != current.account_id {
            self.record(crate::events::kind::FORBIDDEN, current.event_actor(), &format!("batch {id}"), "not the owner")
                .await?;
            return Err(AppError::forbidden(
                "批次查詢僅限查詢者本人檢視",
                "a batch is shown only to the person who ran it",
            ));
        }
        Ok(b)
    }

    pub async fn my_batches(&self, current: &Current) -> Result<Vec<BatchRow>> {
        Ok(self.db().batches_of(current.account_id).await?)
    }

    /// The result file (CSV or ODS) for its owner; every download is recorded (R-DAT-1).
    pub async fn batch_file(&self, current: &Current, id: i64, ods: bool) -> Result<(String, Vec<u8>)> {
        let b = self.batch(current, id).await?;
        if b.state != "done" {
            return Err(AppError::conflict("批次尚未完成", "the batch has not finished yet"));
        }
        let (Some(n), Some(c)) = (&b.result_nonce, &b.result_ciphertext) else {
            return Err(AppError::conflict("此批次結果已銷毀", "this batch's result has been destroyed"));
        };
        let csv = self.inner.results_key.open(n, c, &file_aad(id))?;
        let (name, bytes) = if ods {
            let table = read_table(
                &csv,
                FileKind::Csv,
                &Limits { max_rows: usize::MAX, max_bytes: usize::MAX, max_cols: 100, max_cell_chars: 10_000 },
            )
            .map_err(|e| AppError::Internal(format!("batch file: {}", e.en())))?;
            let sheet = nhiguard_tabular::Sheet {
                name: format!("批次{id}"),
                header: table.header,
                rows: table.rows,
                column_widths_cm: None,
            };
            (format!("nhiguard-batch-{id}.ods"), nhiguard_tabular::write_ods(&[sheet]))
        } else {
            (format!("nhiguard-batch-{id}.csv"), csv)
        };
        self.append(Draft {
            kind: nhiguard_ledger::EntryKind::Export,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: vec![
                ("event".into(), "batch_downloaded".into()),
                ("batch".into(), id.to_string()),
                ("file".into(), name.clone()),
            ],
        })
        .await?;
        Ok((name, bytes))
    }

    /// Destroys a finished batch's result file before its purge date, at its owner's word (R-DAT-1:
    /// each manual deletion leaves a destruction record, never the data).
    pub async fn delete_batch_result(&self, current: &Current, id: i64) -> Result<()> {
        let b = self.batch(current, id).await?;
        if b.state != "done" {
            return Err(AppError::conflict(
                "批次尚未完成，完成後才能刪除結果檔",
                "the batch has not finished; its result can be deleted once it has",
            ));
        }
        let mut tx = self.db().begin().await?;
        if !self.destroy_batch_recorded(&mut tx, id, "batch_deleted", &current.username, &current.username).await? {
            return Err(AppError::conflict("此批次結果已銷毀", "this batch's result has already been destroyed"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a finished batch's result file with its case (R-QRY-6), or lets the scheduled purge
    /// take it again (at its date, or at the next purge if that has passed). Only its owner may;
    /// recorded like a single result's.
    pub async fn attach_batch(&self, current: &Current, id: i64, attached: bool) -> Result<()> {
        let b = self.batch(current, id).await?;
        if b.state != "done" {
            return Err(AppError::conflict(
                "批次尚未完成，完成後才能隨案保存結果檔",
                "the batch has not finished; its result can be kept with the case once it has",
            ));
        }
        let mut tx = self.db().begin().await?;
        if !tx.set_batch_attached(id, attached).await? {
            return Err(AppError::conflict("此批次結果已銷毀", "this batch's result has already been destroyed"));
        }
        let event = if attached { "batch_attached" } else { "batch_detached" };
        let fields = vec![
            ("event".into(), event.into()),
            ("batch".into(), id.to_string()),
            ("case_number".into(), b.case_number.clone()),
            ("by".into(), current.username.clone()),
        ];
        let entry = Draft {
            kind: nhiguard_ledger::EntryKind::Retention,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields,
        };
        append_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The scheduled purge of batch result files (R-DAT-1).
    pub(crate) async fn purge_batches(&self) -> Result<usize> {
        let mut n = 0;
        // A batch still unfinished when its retention ends (NHIA out for a month) stops there: the
        // subjects and answers it holds are kept no longer than a finished batch's file.
        for b in self.db().unfinished_batches().await?.into_iter().filter(|b| b.purge_after <= self.now()) {
            if let Some(task) = self.inner.batches.tasks.lock().unwrap_or_else(|p| p.into_inner()).remove(&b.id) {
                task.abort();
            }
            self.stop_batch_for_good(b.id, "retention reached").await?;
            n += 1;
        }
        for b in self.db().batches_due(self.now()).await? {
            let mut tx = self.db().begin().await?;
            if self.destroy_batch_recorded(&mut tx, b.id, "batch_purged", "schedule", "system").await? {
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// Clears a batch's result file and records its destruction (`event`, by whom); false if it was
    /// destroyed already.
    async fn destroy_batch_recorded(
        &self,
        tx: &mut nhiguard_store::Tx,
        id: i64,
        event: &str,
        by: &str,
        actor: &str,
    ) -> Result<bool> {
        let now = self.now();
        if !tx.destroy_batch(id, by, now, by == "schedule").await? {
            return Ok(false);
        }
        let fields =
            vec![("event".into(), event.into()), ("batch".into(), id.to_string()), ("by".into(), by.to_owned())];
        let entry = Draft {
            kind: nhiguard_ledger::EntryKind::Retention,
            actor: actor.to_owned(),
            at_micros: now.timestamp_micros(),
            fields,
        };
        append_in(tx, &[entry]).await?;
        Ok(true)
    }
}

/// Why a chunk's row was not sent.
#[derive(Debug, Clone)]
enum Withheld {
    /// The owner's right ended while the chunk's lookups went out: recorded as refused, saying why.
    Refused(String),
    /// The right could not be checked again (the database did not answer): recorded as refused for
    /// that reason, and the row goes back to wait, to go again as a new query once it can be checked.
    Unconfirmed,
}

/// What became of one row of a chunk: looked up, or withheld.
type ChunkRow = (u64, u64, std::result::Result<crate::gateway::Looked, Withheld>);

/// The owner's right to query, checked again while a chunk's lookups go out ([`RECHECK_EVERY`]).
struct Gate {
    batch: BatchRow,
    state: tokio::sync::Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// Lookups let through since the right was last checked (the chunk's start counts as a check).
    since_check: usize,
    /// Once set, no further lookup of the chunk goes.
    closed: Option<Withheld>,
}

impl Gate {
    /// Lets no further lookup of the chunk go.
    async fn close(&self, why: Withheld) {
        self.state.lock().await.closed.get_or_insert(why);
    }

    /// Whether the next lookup may go (`Ok(())`), or why not. A check that fails closes the gate
    /// too: nothing goes out unchecked, and the lookups already out finish and are recorded.
    async fn admit(&self, app: &App) -> std::result::Result<(), Withheld> {
        let mut state = self.state.lock().await;
        if let Some(closed) = &state.closed {
            return Err(closed.clone());
        }
        if state.since_check >= RECHECK_EVERY {
            let checked = async {
                let mut owner = app.batch_owner(&self.batch).await?;
                // A sign-in lockout pauses a batch between chunks; it does not stop one under way.
                owner.locked_until = None;
                app.batch_access(&owner, self.batch.purpose_id, self.batch.operation_id).await
            };
            let closed = match checked.await {
                Ok(Ok(_)) => None,
                Ok(Err((why, _))) => Some(Withheld::Refused(format!("batch: {why}"))),
                Err(e) => {
                    tracing::warn!(batch = self.batch.id, error = %e, "could not check the owner's right; the chunk's other rows wait");
                    Some(Withheld::Unconfirmed)
                }
            };
            if let Some(closed) = closed {
                state.closed = Some(closed.clone());
                return Err(closed);
            }
            state.since_check = 0;
        }
        state.since_check += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// R-QRY-4: a batch the database keeps failing waits longer each time, up to five minutes; one
    /// that ran for a while before failing starts from the first wait again.
    #[test]
    fn r_qry_4_restart_waits_double_while_failing_at_once_and_reset_after_a_long_run() {
        // The waits taken after failures that came `runs` seconds after each start.
        let waits = |runs: &[u64]| {
            let mut due = WAIT_FIRST;
            let mut taken = Vec::new();
            for &ran in runs {
                let (wait, next) = restart_wait(due, Duration::from_secs(ran));
                taken.push(wait.as_secs());
                due = next;
            }
            taken
        };
        assert_eq!(waits(&[0; 11]), [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(waits(&[0, 0, 0, 0, 3600, 0]), [1, 2, 4, 8, 1, 2], "an hour's work between failures");
        assert_eq!(waits(&[0, 0, 0, 300]), [1, 2, 4, 8], "not longer than the longest wait");
    }
}
