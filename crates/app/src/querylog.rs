//! The query log as people read it (R-LOG-1): each query with its account, time, purpose,
//! operation, case number, reason, masked subject and outcome, assembled from the ledger's query
//! and outcome entries. Supervisors, reviewers, auditors and ethics officers search their agency's
//! log; the planning department the whole county's. Every search is itself recorded (R-LOG-2).

use std::collections::HashMap;

use chrono::NaiveDate;
use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::catalogue::Purpose;
use nhiguard_domain::query::Outcome;
use nhiguard_domain::roc;
use nhiguard_ledger::{EntryKind, EntryView};
use nhiguard_store::LedgerRow;

use crate::events::kind;
use crate::i18n::Lang;
use crate::{App, AppError, Current, Result};

/// One query as the log shows it; the subject is masked.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogRow {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub username: String,
    pub agency_id: Option<i64>,
    pub purpose: String,
    pub operation: String,
    pub case_number: String,
    pub reason: String,
    pub subject_masked: String,
    /// An opaque key of the subject's conditions (a hash), to see repeated lookups of one person
    /// without showing who; never shown on a page.
    pub subject_key: String,
    /// The account's id as recorded.
    pub account_id: Option<i64>,
    pub outcome: Outcome,
    /// Why a query was refused, or NHIA's error code.
    pub detail: String,
    /// What the answer told about the subject's relation to the user, recorded at the time as
    /// facts without the data (issue 6's risk flags): same surname as the user …
    pub same_surname: bool,
    /// … or a name on the county's staff roll.
    pub subject_is_employee: bool,
}

/// Decodes ledger rows and pairs each query with its outcome; newest first.
pub(crate) fn assemble(rows: &[LedgerRow], purposes: &[Purpose]) -> Result<Vec<LogRow>> {
    let mut assembler = Assembler::default();
    for r in rows {
        assembler.push(r.seq, &r.body)?;
    }
    assembler.finish(purposes)
}

/// Pairs queries with their outcomes as entries arrive (in any order), so that a long read can be
/// decoded while the database is still delivering it. Each entry is read in place
/// (`EntryView`), and only what the log shows is copied out of it: a month's review reads 200,000
/// entries, and copying every field of each cost more than reading them.
/// A search's conditions, asked of each query as it arrives.
type Keep = Box<dyn FnMut(&LogRow) -> bool + Send>;

#[derive(Default)]
pub(crate) struct Assembler {
    outcomes: HashMap<u64, Recorded>,
    /// Each query as the log shows it but for its outcome, with the purpose it names.
    queries: Vec<(LogRow, Option<i64>)>,
    /// Keeps only the queries it says yes to (a search's conditions), as they arrive.
    keep: Option<Keep>,
    /// The most queries kept; past it, [`Assembler::push`] refuses instead of answering with
    /// part of them.
    limit: Option<usize>,
    /// With `keep`: the queries dropped, so that only the kept ones' outcomes are held (entries
    /// come in no set order: an outcome before its query is held until the query comes), and a
    /// long period's other outcomes take no memory.
    dropped: std::collections::HashSet<u64>,
}

/// The detail of a query whose lookup was out when the gateway stopped (a batch's row): no answer
/// was recorded, and the row was not sent again.
pub const INTERRUPTED: &str = "interrupted";

/// What a query's outcome entry says.
struct Recorded {
    outcome: Outcome,
    nhia_error: String,
    same_surname: bool,
    subject_is_employee: bool,
}

impl Assembler {
    /// An assembler that keeps only the queries `keep` says yes to, at most `limit` of them.
    pub(crate) fn keeping(keep: impl FnMut(&LogRow) -> bool + Send + 'static, limit: usize) -> Self {
        Self { keep: Some(Box::new(keep)), limit: Some(limit), ..Self::default() }
    }

    pub(crate) fn push(&mut self, seq: u64, body: &[u8]) -> Result<()> {
        let e = EntryView::decode(body).map_err(|e| AppError::Internal(format!("ledger entry {seq}: {e}")))?;
        match e.kind() {
            EntryKind::QueryOutcome => {
                if let Some(q) = e.field("query_seq").and_then(|s| s.parse::<u64>().ok()) {
                    let recorded = Recorded {
                        outcome: Outcome::from_code(e.field("outcome").unwrap_or_default())
                            .unwrap_or(Outcome::NhiaError),
                        // A batch row the gateway's stop interrupted says so instead of an NHIA code,
                        // and one withheld when its owner's right ended midway says why.
                        nhia_error: match (e.field("interrupted"), e.field("refusal")) {
                            (Some(_), _) => INTERRUPTED.to_owned(),
                            (None, Some(why)) => why.to_owned(),
                            (None, None) => e.field("nhia_error").unwrap_or_default().to_owned(),
                        },
                        same_surname: e.field("same_surname") == Some("1"),
                        subject_is_employee: e.field("subject_is_employee") == Some("1"),
                    };
                    if self.keep.is_none() || !self.dropped.contains(&q) {
                        self.outcomes.insert(q, recorded);
                    }
                }
            }
            EntryKind::Query => {
                let f = |k: &str| e.field(k).unwrap_or_default();
                let refused = f("outcome") == "refused";
                let row = LogRow {
                    seq: e.seq(),
                    at: nhiguard_store::from_micros(e.at_micros()),
                    username: e.actor().to_owned(),
                    agency_id: f("agency_id").parse().ok(),
                    purpose: String::new(),
                    operation: f("operation").to_owned(),
                    case_number: f("case_number").to_owned(),
                    reason: f("reason").to_owned(),
                    subject_masked: f("subject_masked").to_owned(),
                    subject_key: subject_key(f("conditions")),
                    account_id: f("account_id").parse().ok(),
                    // Until the outcome entry is paired with it: none may have been recorded.
                    outcome: if refused { Outcome::Refused } else { Outcome::NhiaError },
                    detail: if refused { f("refusal").to_owned() } else { "no outcome recorded".to_owned() },
                    same_surname: false,
                    subject_is_employee: false,
                };
                if self.keep.as_mut().is_some_and(|keep| !keep(&row)) {
                    self.dropped.insert(row.seq);
                    self.outcomes.remove(&row.seq);
                    return Ok(());
                }
                if self.limit.is_some_and(|limit| self.queries.len() >= limit) {
                    return Err(too_many(self.queries.len()));
                }
                self.queries.push((row, f("purpose_id").parse::<i64>().ok()));
            }
            _ => {}
        }
        Ok(())
    }

    /// The queries, newest first, each with its outcome.
    pub(crate) fn finish(self, purposes: &[Purpose]) -> Result<Vec<LogRow>> {
        let Assembler { mut outcomes, mut queries, .. } = self;
        let labels: HashMap<i64, String> =
            purposes.iter().map(|p| (p.id, format!("{}. {}", p.number, p.name_zh))).collect();
        queries.sort_unstable_by_key(|(r, _)| std::cmp::Reverse(r.seq));
        Ok(queries
            .into_iter()
            .map(|(mut row, purpose_id)| {
                if row.outcome != Outcome::Refused
                    && let Some(o) = outcomes.remove(&row.seq)
                {
                    row.outcome = o.outcome;
                    row.detail = o.nhia_error;
                    row.same_surname = o.same_surname;
                    row.subject_is_employee = o.subject_is_employee;
                }
                if let Some(label) = purpose_id.and_then(|id| labels.get(&id)) {
                    row.purpose.clone_from(label);
                }
                row
            })
            .collect())
    }
}

/// An opaque key of a subject's conditions: the first 12 bytes of their SHA-256, in hex.
fn subject_key(conditions: &str) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    if conditions.is_empty() {
        return String::new();
    }
    let mut key = String::with_capacity(24);
    for b in sha2::Sha256::digest(conditions.as_bytes()).iter().take(12) {
        write!(key, "{b:02x}").ok();
    }
    key
}

/// A query's outcome in the reader's language, with why it was refused or failed (pages, the
/// printed review sheet and the exports alike).
pub fn outcome_text(lang: Lang, r: &LogRow) -> String {
    if r.detail == "no outcome recorded" {
        // Not an NHIA error: nothing about the lookup's fate was written.
        return detail_text(lang, &r.detail);
    }
    let o = lang.t(r.outcome.zh(), r.outcome.en());
    if r.detail.is_empty() { o.to_owned() } else { format!("{o}（{}）", detail_text(lang, &r.detail)) }
}

/// Why a query was refused or failed, as recorded (stable codes), in the reader's language.
pub fn detail_text(lang: Lang, detail: &str) -> String {
    let (batch, code) = match detail.strip_prefix("batch: ") {
        Some(rest) => (true, rest),
        None => (false, detail),
    };
    let field = |f: &str| match f {
        "case_number" => lang.t("案號", "case number"),
        "reason" => lang.t("查詢事由", "reason"),
        "national_id" => lang.t("身分證號", "national ID"),
        "name" => lang.t("姓名", "name"),
        "birth_date" => lang.t("出生日期", "date of birth"),
        "file" => lang.t("檔案", "file"),
        "operation_id" => lang.t("查詢作業", "operation"),
        _ => lang.t("輸入", "input"),
    };
    let text = match code {
        "no user role" => lang.t("帳號無查詢角色", "no role that may query").to_owned(),
        "purpose retired" => lang.t("業務範圍已廢止", "purpose retired").to_owned(),
        "operation retired" => lang.t("查詢作業已廢止", "operation retired").to_owned(),
        "no active linkage" => lang.t("機關無此連結作業", "no linkage of the agency").to_owned(),
        "no grant" => lang.t("未獲授權", "no grant").to_owned(),
        "unknown purpose or operation" => lang.t("業務範圍或作業不存在", "unknown purpose or operation").to_owned(),
        "account not active" | "account disabled" => lang.t("帳號已停用", "account disabled").to_owned(),
        "account past its disable date" => lang.t("帳號已逾停用日", "account past its disable date").to_owned(),
        "account not activated" => lang.t("帳號尚未啟用", "account not activated").to_owned(),
        "account locked" => lang.t("帳號鎖定中", "account locked").to_owned(),
        "password must be changed" => lang.t("密碼逾期須變更", "password must be changed").to_owned(),
        "second factor not set up" => lang.t("未設定兩步驟驗證", "second factor not set up").to_owned(),
        "interrupted" => lang.t("系統中斷，未重送", "interrupted, not sent again").to_owned(),
        // A single query whose outcome was never written: the gateway stopped (or is still waiting
        // for NHIA) after the query went out; not NHIA's doing.
        "no outcome recorded" => lang
            .t("結果未記錄（送出後系統中斷或仍在查詢中）", "no outcome recorded (stopped after sending, or still out)")
            .to_owned(),
        "invalid input" => lang.t("輸入有誤", "invalid input").to_owned(),
        "file too large" => lang.t("檔案超過 10 MiB 上限", "file over the 10 MiB limit").to_owned(),
        "right not confirmed" => lang
            .t("無法確認查詢權限，未送出，稍後重試", "right to query not confirmed: not sent, tried again later")
            .to_owned(),
        c if c.starts_with("invalid ") => format!("{}{}", field(&c["invalid ".len()..]), lang.t("有誤", " invalid")),
        "NHI-TIMEOUT" => lang.t("健保署逾時", "NHIA timed out").to_owned(),
        "NHI-UNAVAILABLE" => lang.t("健保署無法連線", "NHIA unavailable").to_owned(),
        "NHI-REJECTED" => lang.t("健保署拒絕", "NHIA refused").to_owned(),
        "NHI-BAD-ANSWER" => lang.t("健保署回覆異常", "NHIA answered garbage").to_owned(),
        "NHI-CONFIG" => lang.t("連線設定有誤", "connector settings").to_owned(),
        other => other.to_owned(),
    };
    if batch { format!("{}{text}", lang.t("批次：", "batch: ")) } else { text }
}

/// What to search for; dates are Taipei calendar days, both ends included.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub agency_id: Option<i64>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub case_number: String,
}

impl LogFilter {
    /// The period as UTC microseconds `[from, to)`; by default the last 31 days up to today.
    fn period(&self, today: NaiveDate) -> Result<(NaiveDate, NaiveDate)> {
        let to = nhiguard_domain::catalogue::parse_date("to", &self.to)?.unwrap_or(today);
        let from =
            nhiguard_domain::catalogue::parse_date("from", &self.from)?.unwrap_or(to - chrono::Duration::days(31));
        if from > to {
            return Err(AppError::invalid("from", "起日不可晚於迄日", "the start date is after the end date"));
        }
        if (to - from).num_days() > 400 {
            return Err(AppError::invalid("from", "一次最多查詢 400 天", "search at most 400 days at a time"));
        }
        Ok((from, to))
    }

    pub fn describe(&self) -> String {
        format!(
            "from={} to={} agency={} user={} case={}",
            self.from,
            self.to,
            self.agency_id.map(|a| a.to_string()).unwrap_or_default(),
            self.username,
            self.case_number
        )
    }
}

fn day_start_micros(d: NaiveDate) -> i64 {
    // 00:00 in Taipei.
    d.and_hms_opt(0, 0, 0).map(|t| (t - chrono::Duration::hours(8)).and_utc().timestamp_micros()).unwrap_or(0)
}

/// The most queries one search answers with. Past it the search is refused, never cut short: a
/// list that silently lacks its newest queries would mislead whoever reads it.
const SEARCH_LIMIT: usize = 100_000;

fn too_many(limit: usize) -> AppError {
    AppError::invalid(
        "from",
        format!("符合條件的查詢超過 {limit} 筆：請縮短期間，或加上機關、帳號、案號條件"),
        format!("more than {limit} queries match: shorten the period, or add an agency, a user or a case number"),
    )
}

impl App {
    /// The agencies whose query log `current` may read, in the tree's order: the search form's
    /// choices (R-LOG-2: who reads the log is bounded by branch). Listing them reads no log, so it
    /// is not recorded.
    pub async fn log_agencies(&self, current: &Current) -> Result<Vec<nhiguard_domain::org::OrgNode>> {
        let names = self.names(current).await?;
        let tree = names.tree();
        let actor = current.actor();
        Ok(tree
            .root()
            .map(|r| tree.branch(r.id))
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, n)| n.kind == nhiguard_domain::org::OrgKind::Agency)
            .filter(|(_, n)| authorize(tree, &actor, Action::ViewQueryLog, Some(n.id)).is_ok())
            .map(|(_, n)| n.clone())
            .collect())
    }

    /// Searches the query log within the actor's reach; the search is recorded first.
    pub async fn search_log(
        &self,
        current: &Current,
        filter: &LogFilter,
    ) -> Result<(Vec<LogRow>, NaiveDate, NaiveDate)> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let target = filter.agency_id.or_else(|| tree.agency_of(current.org_node_id)).or(tree.root().map(|r| r.id));
        if let Err(e) = authorize(&tree, &actor, Action::ViewQueryLog, target) {
            self.record(kind::FORBIDDEN, current.event_actor(), "query log", &filter.describe()).await?;
            return Err(e.into());
        }
        let (from, to) = filter.period(roc::taipei_date(self.now()))?;
        self.record(kind::LEDGER_READ, current.event_actor(), "query log search", &filter.describe()).await?;
        let purposes = self.db().purposes().await?;
        let end = day_start_micros(to + chrono::Duration::days(1));
        // Every query of the period is read, each kept or dropped as it comes (a county's month
        // may hold hundreds of thousands; one agency's are what is kept).
        let (wanted_agency, username, case) =
            (filter.agency_id, filter.username.trim().to_lowercase(), filter.case_number.trim().to_owned());
        let mut reach: HashMap<i64, bool> = HashMap::new();
        let keep = move |r: &LogRow| {
            let Some(agency) = r.agency_id else { return false };
            r.at.timestamp_micros() < end
                && *reach
                    .entry(agency)
                    .or_insert_with(|| authorize(&tree, &actor, Action::ViewQueryLog, Some(agency)).is_ok())
                && wanted_agency.is_none_or(|a| agency == a || tree.is_within(agency, a))
                && (username.is_empty() || r.username == username)
                && (case.is_empty() || r.case_number.contains(&case))
        };
        let mut assembler = Assembler::keeping(keep, SEARCH_LIMIT);
        // Outcomes are written just after their query: read a little past the end for them.
        self.db()
            .for_each_body_between(
                &["query", "query_outcome"],
                day_start_micros(from),
                end + 60_000_000,
                |seq, body| assembler.push(seq, body),
            )
            .await?;
        Ok((assembler.finish(&purposes)?, from, to))
    }
}

/// The export formats of the query log (R-LOG-2 item: CSV for Excel, ODS, JSON Lines with proofs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ods,
    Jsonl,
}

impl ExportFormat {
    pub fn from_ext(ext: &str) -> Option<Self> {
        match ext {
            "csv" => Some(Self::Csv),
            "ods" => Some(Self::Ods),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }
    pub fn ext(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ods => "ods",
            Self::Jsonl => "jsonl",
        }
    }
}

/// One line of the JSON Lines export: the query as logged (ISO 8601 times), the subject masked,
/// and the proof that its entry is in the log as of the latest checkpoint.
#[derive(Debug, serde::Serialize)]
struct ExportLine<'a> {
    seq: u64,
    at: String,
    username: &'a str,
    agency_id: Option<i64>,
    purpose: &'a str,
    operation: &'a str,
    case_number: &'a str,
    reason: &'a str,
    subject: &'a str,
    outcome: &'a str,
    detail: &'a str,
    leaf_hash: Option<String>,
    tree_size: Option<u64>,
    proof: Option<Vec<String>>,
}

impl App {
    /// Exports a search of the query log; the export is itself a ledger entry (R-LOG-2).
    pub async fn export_log(
        &self,
        current: &Current,
        filter: &LogFilter,
        format: ExportFormat,
    ) -> Result<(String, Vec<u8>)> {
        let (rows, from, to) = self.search_log(current, filter).await?;
        self.append(crate::ledger::Draft {
            kind: EntryKind::Export,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: vec![
                ("event".into(), "query_log_export".into()),
                ("format".into(), format.ext().into()),
                ("filter".into(), filter.describe()),
                ("rows".into(), rows.len().to_string()),
            ],
        })
        .await?;
        let name = format!("nhiguard-query-log-{from}-{to}.{}", format.ext());
        let header =
            ["序號", "日期時間", "帳號", "業務範圍", "作業代號", "案號", "查詢事由", "被查詢者", "結果", "說明"];
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.seq.to_string(),
                    r.at.with_timezone(&roc::taipei()).to_rfc3339(),
                    r.username.clone(),
                    r.purpose.clone(),
                    r.operation.clone(),
                    r.case_number.clone(),
                    r.reason.clone(),
                    r.subject_masked.clone(),
                    // For people reading it: in Chinese, as on the page (the JSON Lines keep the codes).
                    if r.detail == "no outcome recorded" { String::new() } else { r.outcome.zh().to_owned() },
                    if r.detail.is_empty() { String::new() } else { detail_text(Lang::Zh, &r.detail) },
                ]
            })
            .collect();
        let bytes = match format {
            ExportFormat::Csv => nhiguard_tabular::write_csv(&header, &table),
            ExportFormat::Ods => nhiguard_tabular::write_ods(&[nhiguard_tabular::Sheet {
                name: "查詢日誌".into(),
                header: header.iter().map(|h| (*h).to_owned()).collect(),
                rows: table,
                column_widths_cm: None,
            }]),
            ExportFormat::Jsonl => {
                // Proofs against the latest checkpoint, each from the stored subtree roots.
                let cp = self.db().latest_checkpoint().await?;
                if let Some(c) = &cp
                    && self.db().ledger_nodes_size().await? < c.size
                {
                    self.fill_nodes(c.size).await?;
                }
                let mut lines = Vec::with_capacity(rows.len());
                for r in &rows {
                    let covered = cp.as_ref().filter(|c| r.seq < c.size);
                    let (leaf, proof) = match covered {
                        Some(c) => {
                            let (leaf, proof) = self.proof_from_nodes(r.seq, c.size).await?;
                            (Some(leaf.to_hex()), Some(proof.iter().map(|h| h.to_hex()).collect()))
                        }
                        None => (None, None),
                    };
                    lines.push(ExportLine {
                        seq: r.seq,
                        at: r.at.to_rfc3339(),
                        username: &r.username,
                        agency_id: r.agency_id,
                        purpose: &r.purpose,
                        operation: &r.operation,
                        case_number: &r.case_number,
                        reason: &r.reason,
                        subject: &r.subject_masked,
                        outcome: r.outcome.code(),
                        detail: &r.detail,
                        leaf_hash: leaf,
                        tree_size: covered.map(|c| c.size),
                        proof,
                    });
                }
                let mut out = nhiguard_tabular::write_jsonl(&lines).map_err(|e| AppError::Internal(e.en()))?;
                if let Some(c) = cp {
                    // The checkpoint the proofs lead to, as the last line.
                    let tail = serde_json::json!({"checkpoint": c.text, "size": c.size});
                    out.extend_from_slice(tail.to_string().as_bytes());
                    out.push(b'\n');
                }
                out
            }
        };
        Ok((name, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(seq: u64, agency: i64) -> Vec<u8> {
        let fields =
            [("agency_id", agency.to_string()), ("case_number", format!("C-{seq}")), ("outcome", "sent".into())];
        let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v));
        nhiguard_ledger::Entry::new(seq, 1_700_000_000_000_000, EntryKind::Query, "clerk", fields).unwrap().encode()
    }

    /// R-LOG-1: a search keeps only what it was asked for as it reads, and past its limit refuses
    /// instead of answering with part of the queries (the newest would be what was left out).
    #[test]
    fn r_log_1_a_search_keeps_what_matches_and_refuses_rather_than_cut_short() {
        let mut a = Assembler::keeping(|r: &LogRow| r.agency_id == Some(7), 2);
        for (seq, agency) in [(0, 7), (1, 8), (2, 8), (3, 7), (4, 8)] {
            a.push(seq, &query(seq, agency)).unwrap();
        }
        assert_eq!(a.outcomes.len(), 0);
        // Outcomes, one before its query: the kept query's is held, the dropped ones' are not.
        let outcome = |seq: u64, of: u64| {
            let fields = [("query_seq", of.to_string()), ("outcome", "answered".to_owned())];
            let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v));
            nhiguard_ledger::Entry::new(seq, 1, EntryKind::QueryOutcome, "clerk", fields).unwrap().encode()
        };
        a.push(10, &outcome(10, 1)).unwrap();
        a.push(11, &outcome(11, 3)).unwrap();
        a.push(12, &outcome(12, 9)).unwrap();
        a.push(9, &query(9, 8)).unwrap();
        assert_eq!(a.outcomes.keys().copied().collect::<Vec<_>>(), [3], "{:?}", a.outcomes.keys());
        let rows = a.finish(&[]).unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 0], "the other agency's are not counted");
        assert_eq!(rows[0].outcome, Outcome::Answered);
        let mut a = Assembler::keeping(|r: &LogRow| r.agency_id == Some(7), 2);
        a.push(0, &query(0, 7)).unwrap();
        a.push(1, &query(1, 7)).unwrap();
        let e = a.push(2, &query(2, 7)).unwrap_err();
        assert!(matches!(&e, AppError::Invalid { .. }), "{e:?}");
        assert!(e.message().get(crate::i18n::Lang::Zh).contains("超過 2 筆"), "{e:?}");
    }
}
