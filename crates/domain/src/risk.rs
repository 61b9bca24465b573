//! Risk flags on a month's queries (issue 6 item 5; what Protenus and FairWarning do for hospital
//! records, done for county NHI lookups). They sit beside the random sample of R-REV-2 as a
//! separate list for the reviewer: a flag is a reason to look, never a finding. Pure: the month's
//! [`QuerySummary`]s, the users' earlier volumes, the thresholds and the holiday calendar come in as
//! arguments, and the same input always gives the same flags in the same order (by seq, then kind).
//!
//! Which entries a detector flags:
//! - one entry at a time: outside office hours, close to the account's disable date, a subject who
//!   shares the user's surname or address, a subject who is a county employee;
//! - every entry of a group: a subject looked up repeatedly by one user, a subject looked up by
//!   several users, a case number whose queries give unrelated reasons (each entry whose reason is
//!   unlike another reason of the same case);
//! - per user: a volume spike flags the one query at which the month's count crossed the
//!   threshold; fishing flags each not-found answer of that user.
//!
//! Explanations never contain the subject's identifier or address.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::query::Outcome;
use crate::roc;

/// One query of the month as the detectors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySummary {
    /// Ledger seq of the query's log entry.
    pub seq: u64,
    pub account_id: i64,
    /// Surname of the person the account belongs to.
    pub account_surname: String,
    /// Household address of that person, when HR has it.
    pub account_address: Option<String>,
    pub at: DateTime<Utc>,
    /// Identifies the subject within the month (a keyed hash or the ID); only compared.
    pub subject_key: String,
    pub subject_surname: Option<String>,
    pub subject_address: Option<String>,
    /// The subject is on the county's staff roll.
    pub subject_is_employee: bool,
    pub case_number: String,
    pub reason: String,
    pub outcome: Outcome,
    /// The account's disable date (R-ACC-7), if one is set.
    pub account_disable_on: Option<NaiveDate>,
}

/// Each user's volume in the months before the one examined (the baseline of the spike detector).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryStats {
    pub prior: HashMap<i64, PriorVolume>,
}

/// `queries` queries over `months` earlier months; the average is `queries / months`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorVolume {
    pub months: u32,
    pub queries: u64,
}

impl HistoryStats {
    pub fn with(mut self, account_id: i64, months: u32, queries: u64) -> Self {
        self.prior.insert(account_id, PriorVolume { months, queries });
        self
    }
}

/// The detectors' settings. Office days are Monday to Friday, minus the holidays passed to
/// [`flags`], plus [`Thresholds::make_up_workdays`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Start of office hours, Asia/Taipei (default 08:00, inclusive).
    pub office_start: NaiveTime,
    /// End of office hours, Asia/Taipei (default 18:00, exclusive).
    pub office_end: NaiveTime,
    /// Weekend days that are working days (補行上班日), from the same calendar as the holidays.
    pub make_up_workdays: Vec<NaiveDate>,
    /// One user looking up one subject this many times in the month (default 3).
    pub repeat_by_user: u32,
    /// This many different users looking up one subject in the month (default 3).
    pub repeat_by_users: u32,
    /// A month's count at least this percentage of the user's earlier monthly average (default 300 %) …
    pub spike_factor_percent: u32,
    /// … and at least this many queries (default 20).
    pub spike_minimum: u64,
    /// Two reasons under one case number are unrelated below this character-bigram Jaccard
    /// similarity, in percent (default 30).
    pub reason_similarity_percent: u32,
    /// Queries on the disable date or up to this many days before it (default 7).
    pub disable_window_days: u32,
    /// A user's not-found answers at least this percentage of their answered lookups (default 30 %) …
    pub not_found_rate_percent: u32,
    /// … over at least this many answered lookups (default 10).
    pub not_found_minimum: u64,
    /// Detectors switched off (e.g. [`FlagKind::SharedSurname`] where one surname is very common).
    pub disabled: Vec<FlagKind>,
}

/// 08:00, checked at compile time.
pub const DEFAULT_OFFICE_START: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => panic!("08:00 is a valid time"),
};

/// 18:00, checked at compile time.
pub const DEFAULT_OFFICE_END: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(t) => t,
    None => panic!("18:00 is a valid time"),
};

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            office_start: DEFAULT_OFFICE_START,
            office_end: DEFAULT_OFFICE_END,
            make_up_workdays: Vec::new(),
            repeat_by_user: 3,
            repeat_by_users: 3,
            spike_factor_percent: 300,
            spike_minimum: 20,
            reason_similarity_percent: 30,
            disable_window_days: 7,
            not_found_rate_percent: 30,
            not_found_minimum: 10,
            disabled: Vec::new(),
        }
    }
}

crate::labelled_enum!(
    /// Why an entry is flagged. The order is the order flags of one entry are listed in.
    FlagKind {
        OffHours = ("off_hours", "非上班時間查詢", "outside office hours"),
        RepeatedSubject = ("repeated_subject", "重複查詢同一人", "same subject repeatedly"),
        SubjectByManyUsers = ("subject_by_many_users", "多人查詢同一人", "same subject, several users"),
        SharedSurname = ("shared_surname", "與查詢者同姓", "shares the user's surname"),
        SharedAddress = ("shared_address", "與查詢者同址", "shares the user's address"),
        SubjectIsEmployee = ("subject_is_employee", "被查詢者為本府員工", "subject is a county employee"),
        VolumeSpike = ("volume_spike", "查詢量驟增", "volume spike"),
        CaseReasonMismatch = ("case_reason_mismatch", "同案號事由不一致", "case number with unrelated reasons"),
        NearDisableDate = ("near_disable_date", "帳號停用前查詢", "just before the account's disable date"),
        NotFoundFishing = ("not_found_fishing", "查無資料比例偏高", "many not-found answers"),
    }
);

/// One flagged entry and why, in one line each language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub seq: u64,
    pub kind: FlagKind,
    pub explanation_zh: String,
    pub explanation_en: String,
}

/// Runs every enabled detector over one agency's month; sorted by seq, then kind.
pub fn flags(queries: &[QuerySummary], history: &HistoryStats, th: &Thresholds, holidays: &[NaiveDate]) -> Vec<Flag> {
    let mut out = Vec::new();
    let on = |k: FlagKind| !th.disabled.contains(&k);
    for q in queries {
        if on(FlagKind::OffHours) {
            out.extend(off_hours(q, th, holidays));
        }
        if on(FlagKind::SharedSurname) {
            out.extend(shared_surname(q));
        }
        if on(FlagKind::SharedAddress) {
            out.extend(shared_address(q));
        }
        if on(FlagKind::SubjectIsEmployee) && q.subject_is_employee {
            out.push(flag(
                q.seq,
                FlagKind::SubjectIsEmployee,
                "被查詢者為本府員工".into(),
                "the subject is a county employee".into(),
            ));
        }
        if on(FlagKind::NearDisableDate) {
            out.extend(near_disable_date(q, th));
        }
    }
    if on(FlagKind::RepeatedSubject) {
        repeated_subject(queries, th, &mut out);
    }
    if on(FlagKind::SubjectByManyUsers) {
        subject_by_many_users(queries, th, &mut out);
    }
    if on(FlagKind::VolumeSpike) {
        volume_spike(queries, history, th, &mut out);
    }
    if on(FlagKind::CaseReasonMismatch) {
        case_reason_mismatch(queries, th, &mut out);
    }
    if on(FlagKind::NotFoundFishing) {
        not_found_fishing(queries, th, &mut out);
    }
    out.sort_by_key(|f| (f.seq, f.kind));
    out.dedup_by_key(|f| (f.seq, f.kind));
    out
}

fn flag(seq: u64, kind: FlagKind, explanation_zh: String, explanation_en: String) -> Flag {
    Flag { seq, kind, explanation_zh, explanation_en }
}

fn weekday_zh(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "週一",
        Weekday::Tue => "週二",
        Weekday::Wed => "週三",
        Weekday::Thu => "週四",
        Weekday::Fri => "週五",
        Weekday::Sat => "週六",
        Weekday::Sun => "週日",
    }
}

fn weekday_en(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

fn off_hours(q: &QuerySummary, th: &Thresholds, holidays: &[NaiveDate]) -> Option<Flag> {
    let local = q.at.with_timezone(&roc::TAIPEI);
    let date = local.date_naive();
    let time = local.time();
    let hm = format!("{:02}:{:02}", time.hour(), time.minute());
    let hours = format!("{}–{}", th.office_start.format("%H:%M"), th.office_end.format("%H:%M"));
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !th.make_up_workdays.contains(&date);
    let (zh, en) = if holidays.contains(&date) {
        (
            format!("國定假日（{}）{hm} 查詢（非上班時間）", roc::short_date(date)),
            format!("queried on a holiday ({date}) at {hm}, outside office hours"),
        )
    } else if weekend {
        (
            format!("{} {hm} 查詢（非上班時間）", weekday_zh(date.weekday())),
            format!("queried on {} at {hm}, outside office hours", weekday_en(date.weekday())),
        )
    } else if time < th.office_start || time >= th.office_end {
        (
            format!("{} {hm} 查詢（非上班時間，上班時間 {hours}）", weekday_zh(date.weekday())),
            format!("queried on {} at {hm}, outside office hours ({hours})", weekday_en(date.weekday())),
        )
    } else {
        return None;
    };
    Some(flag(q.seq, FlagKind::OffHours, zh, en))
}

fn shared_surname(q: &QuerySummary) -> Option<Flag> {
    let mine = q.account_surname.trim();
    let theirs = q.subject_surname.as_deref()?.trim();
    (!mine.is_empty() && mine == theirs).then(|| {
        flag(
            q.seq,
            FlagKind::SharedSurname,
            format!("被查詢者與查詢者同姓（{mine}），請確認非親屬或熟人"),
            format!("the subject shares the user's surname ({mine}); check they are not a relative or acquaintance"),
        )
    })
}

/// Addresses compared after dropping whitespace and punctuation, folding full-width letters and
/// digits to ASCII, lower-casing and writing 臺 as 台.
fn normalise_address(a: &str) -> String {
    a.chars()
        .filter_map(|c| {
            let c = match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                '臺' => '台',
                _ => c,
            };
            c.is_alphanumeric().then(|| c.to_lowercase()).map(|l| l.collect::<String>())
        })
        .collect()
}

fn shared_address(q: &QuerySummary) -> Option<Flag> {
    let mine = normalise_address(q.account_address.as_deref()?);
    let theirs = normalise_address(q.subject_address.as_deref()?);
    (!mine.is_empty() && mine == theirs).then(|| {
        flag(
            q.seq,
            FlagKind::SharedAddress,
            "被查詢者與查詢者戶籍地址相同，請確認非同戶家人".into(),
            "the subject lives at the user's address; check they are not of the same household".into(),
        )
    })
}

fn near_disable_date(q: &QuerySummary, th: &Thresholds) -> Option<Flag> {
    let disable_on = q.account_disable_on?;
    let date = roc::taipei_date(q.at);
    let days = (disable_on - date).num_days();
    if !(0..=i64::from(th.disable_window_days)).contains(&days) {
        return None;
    }
    let (zh, en) = if days == 0 {
        (
            format!("於帳號停用日（{}）當天查詢", roc::short_date(disable_on)),
            format!("queried on the account's disable date ({disable_on})"),
        )
    } else {
        (
            format!("於帳號停用日（{}）前 {days} 天查詢", roc::short_date(disable_on)),
            format!("queried {days} day(s) before the account's disable date ({disable_on})"),
        )
    };
    Some(flag(q.seq, FlagKind::NearDisableDate, zh, en))
}

/// Lookups that brought an answer (found or not): an NHIA error disclosed nothing, and a batch row
/// tried again after an outage would otherwise count once per try.
fn repeated_subject(queries: &[QuerySummary], th: &Thresholds, out: &mut Vec<Flag>) {
    let mut groups: BTreeMap<(i64, &str), Vec<u64>> = BTreeMap::new();
    let answered = |q: &&QuerySummary| matches!(q.outcome, Outcome::Answered | Outcome::NotFound);
    for q in queries.iter().filter(|q| !q.subject_key.is_empty()).filter(answered) {
        groups.entry((q.account_id, q.subject_key.as_str())).or_default().push(q.seq);
    }
    for seqs in groups.values().filter(|s| s.len() >= th.repeat_by_user.max(2) as usize) {
        let n = seqs.len();
        for &seq in seqs {
            out.push(flag(
                seq,
                FlagKind::RepeatedSubject,
                format!("本月同一使用者查詢此人 {n} 次"),
                format!("this user looked up this subject {n} times this month"),
            ));
        }
    }
}

fn subject_by_many_users(queries: &[QuerySummary], th: &Thresholds, out: &mut Vec<Flag>) {
    let mut groups: BTreeMap<&str, (BTreeSet<i64>, Vec<u64>)> = BTreeMap::new();
    for q in queries.iter().filter(|q| !q.subject_key.is_empty()) {
        let g = groups.entry(q.subject_key.as_str()).or_default();
        g.0.insert(q.account_id);
        g.1.push(q.seq);
    }
    for (users, seqs) in groups.values().filter(|(u, _)| u.len() >= th.repeat_by_users.max(2) as usize) {
        let n = users.len();
        for &seq in seqs {
            out.push(flag(
                seq,
                FlagKind::SubjectByManyUsers,
                format!("本月有 {n} 名使用者查詢此人"),
                format!("{n} different users looked up this subject this month"),
            ));
        }
    }
}

fn volume_spike(queries: &[QuerySummary], history: &HistoryStats, th: &Thresholds, out: &mut Vec<Flag>) {
    let mut by_user: BTreeMap<i64, Vec<&QuerySummary>> = BTreeMap::new();
    for q in queries {
        by_user.entry(q.account_id).or_default().push(q);
    }
    for (account, mut qs) in by_user {
        // No baseline, no spike: a new user's first month is not compared with anything.
        let Some(prior) = history.prior.get(&account).filter(|p| p.months > 0) else { continue };
        // The smallest count c with c ≥ minimum and c · months · 100 ≥ factor · queries.
        let by_factor =
            (u128::from(th.spike_factor_percent) * u128::from(prior.queries)).div_ceil(u128::from(prior.months) * 100);
        let threshold = th.spike_minimum.max(u64::try_from(by_factor).unwrap_or(u64::MAX)).max(1);
        let count = qs.len() as u64;
        if count < threshold {
            continue;
        }
        qs.sort_by_key(|q| (q.at, q.seq));
        let Some(crossing) = usize::try_from(threshold - 1).ok().and_then(|i| qs.get(i)) else { continue };
        let average = prior.queries as f64 / f64::from(prior.months);
        let times = if prior.queries == 0 { String::new() } else { format!("{:.1}", count as f64 / average) };
        let (zh_times, en_times) = if times.is_empty() {
            (String::new(), String::new())
        } else {
            (format!("，為 {times} 倍"), format!(", {times}×"))
        };
        out.push(flag(
            crossing.seq,
            FlagKind::VolumeSpike,
            format!(
                "本月查詢 {count} 筆（此筆為第 {threshold} 筆，達門檻），前 {} 個月平均每月 {average:.1} 筆{zh_times}",
                prior.months
            ),
            format!(
                "{count} queries this month (this is number {threshold}, the threshold) against {average:.1} a month \
                 over the previous {} month(s){en_times}",
                prior.months
            ),
        ));
    }
}

type Bigrams = BTreeSet<(char, char)>;

/// The set of character bigrams of a reason, ignoring case, whitespace and punctuation; a reason of
/// one character is its own single "bigram".
fn bigrams(s: &str) -> Bigrams {
    let chars: Vec<char> = s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    match chars.as_slice() {
        [] => Bigrams::new(),
        [c] => Bigrams::from([(*c, *c)]),
        _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

/// Jaccard similarity |A ∩ B| / |A ∪ B| as a fraction (numerator, denominator); two empty sets are
/// identical.
fn jaccard(a: &Bigrams, b: &Bigrams) -> (u64, u64) {
    let common = a.intersection(b).count() as u64;
    let union = (a.len() + b.len()) as u64 - common;
    if union == 0 { (1, 1) } else { (common, union) }
}

/// Character-bigram Jaccard similarity of two reasons, in whole percent (rounded down).
pub fn reason_similarity_percent(a: &str, b: &str) -> u64 {
    let (num, den) = jaccard(&bigrams(a), &bigrams(b));
    num * 100 / den
}

fn case_reason_mismatch(queries: &[QuerySummary], th: &Thresholds, out: &mut Vec<Flag>) {
    // case number → distinct reason → the seqs that gave it.
    let mut cases: BTreeMap<&str, BTreeMap<&str, Vec<u64>>> = BTreeMap::new();
    for q in queries.iter().filter(|q| !q.case_number.trim().is_empty()) {
        cases.entry(q.case_number.trim()).or_default().entry(q.reason.trim()).or_default().push(q.seq);
    }
    for (case, reasons) in cases.iter().filter(|(_, r)| r.len() >= 2) {
        let list: Vec<(&str, &Vec<u64>, Bigrams)> = reasons.iter().map(|(r, seqs)| (*r, seqs, bigrams(r))).collect();
        for (i, (_, seqs, grams)) in list.iter().enumerate() {
            // The other reason of this case least like this one, if it is unlike enough.
            let worst = list
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (other, other_seqs, other_grams))| (jaccard(grams, other_grams), *other, other_seqs[0]))
                .filter(|((num, den), _, _)| num * 100 < u64::from(th.reason_similarity_percent) * den)
                .min_by(|((n1, d1), _, s1), ((n2, d2), _, s2)| (n1 * d2).cmp(&(n2 * d1)).then(s1.cmp(s2)));
            let Some(((num, den), other, other_seq)) = worst else { continue };
            let pct = num * 100 / den;
            let shown: String = other.chars().take(20).collect();
            let ellipsis = if other.chars().count() > 20 { "…" } else { "" };
            for &seq in seqs.iter() {
                out.push(flag(
                    seq,
                    FlagKind::CaseReasonMismatch,
                    format!("案號 {case} 另有事由不同的查詢（第 {other_seq} 筆「{shown}{ellipsis}」，相似度 {pct}%）"),
                    format!(
                        "case {case} also has a query with an unrelated reason (entry {other_seq}: \"{shown}{ellipsis}\", \
                         {pct}% similar)"
                    ),
                ));
            }
        }
    }
}

fn not_found_fishing(queries: &[QuerySummary], th: &Thresholds, out: &mut Vec<Flag>) {
    // Per user: (answered by NHIA, not found, seqs of the not-found ones). Refused queries never
    // reached NHIA and NHIA errors say nothing about the subject, so neither counts.
    let mut by_user: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
    for q in queries {
        let e = by_user.entry(q.account_id).or_default();
        match q.outcome {
            Outcome::Answered => e.0 += 1,
            Outcome::NotFound => {
                e.0 += 1;
                e.1.push(q.seq);
            }
            Outcome::Refused | Outcome::NhiaError => {}
        }
    }
    for (total, misses) in by_user.values() {
        let missed = misses.len() as u64;
        if *total < th.not_found_minimum.max(1) || missed * 100 < u64::from(th.not_found_rate_percent) * total {
            continue;
        }
        let pct = missed * 100 / total;
        for &seq in misses {
            out.push(flag(
                seq,
                FlagKind::NotFoundFishing,
                format!("此使用者本月 {total} 筆查詢中 {missed} 筆查無資料（{pct}%），疑似試查"),
                format!("{missed} of this user's {total} lookups this month found no one ({pct}%): possible fishing"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A Wednesday, 10:00 in Taipei.
    fn wed_10() -> DateTime<Utc> {
        taipei(2026, 3, 4, 10, 0, 0)
    }

    fn taipei(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        roc::TAIPEI.with_ymd_and_hms(y, m, d, h, min, s).unwrap().with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A query that no detector flags; tests change what they need.
    fn q(seq: u64) -> QuerySummary {
        QuerySummary {
            seq,
            account_id: 1,
            account_surname: "林".into(),
            account_address: Some("南投縣南投市中興路660號".into()),
            at: wed_10(),
            subject_key: format!("subject-{seq}"),
            subject_surname: Some("陳".into()),
            subject_address: Some("南投縣草屯鎮中正路1號".into()),
            subject_is_employee: false,
            case_number: format!("115-{seq}"),
            reason: "身心障礙者保險費補助資格審查".into(),
            outcome: Outcome::Answered,
            account_disable_on: None,
        }
    }

    fn run(queries: &[QuerySummary]) -> Vec<Flag> {
        flags(queries, &HistoryStats::default(), &Thresholds::default(), &[])
    }

    fn kinds(fs: &[Flag], kind: FlagKind) -> Vec<u64> {
        fs.iter().filter(|f| f.kind == kind).map(|f| f.seq).collect()
    }

    #[test]
    fn an_ordinary_query_raises_nothing() {
        assert_eq!(run(&[q(1), q(2)]), vec![]);
    }

    #[test]
    fn off_hours_edges() {
        let mut inside = vec![];
        for (seq, at) in [(1, taipei(2026, 3, 4, 8, 0, 0)), (2, taipei(2026, 3, 4, 17, 59, 59))] {
            inside.push(QuerySummary { at, ..q(seq) });
        }
        assert_eq!(run(&inside), vec![]);
        let early = QuerySummary { at: taipei(2026, 3, 4, 7, 59, 59), ..q(3) };
        let late = QuerySummary { at: taipei(2026, 3, 4, 18, 0, 0), ..q(4) };
        let fs = run(&[early, late]);
        assert_eq!(kinds(&fs, FlagKind::OffHours), vec![3, 4]);
        assert_eq!(fs[0].explanation_zh, "週三 07:59 查詢（非上班時間，上班時間 08:00–18:00）");
        assert_eq!(fs[1].explanation_en, "queried on Wednesday at 18:00, outside office hours (08:00–18:00)");
    }

    #[test]
    fn off_hours_weekends_holidays_and_make_up_days() {
        let sat = QuerySummary { at: taipei(2026, 3, 7, 22, 14, 0), ..q(1) };
        let fs = run(std::slice::from_ref(&sat));
        assert_eq!(fs[0].explanation_zh, "週六 22:14 查詢（非上班時間）");
        assert_eq!(fs[0].explanation_en, "queried on Saturday at 22:14, outside office hours");
        // 00:30 Taipei on Monday is still Sunday in UTC; Taipei time decides.
        let monday_early = QuerySummary { at: taipei(2026, 3, 9, 0, 30, 0), ..q(2) };
        assert!(run(&[monday_early])[0].explanation_en.contains("Monday at 00:30"));
        let holiday = QuerySummary { at: taipei(2026, 4, 3, 10, 0, 0), ..q(3) };
        let fs = flags(
            std::slice::from_ref(&holiday),
            &HistoryStats::default(),
            &Thresholds::default(),
            &[date(2026, 4, 3)],
        );
        assert_eq!(fs[0].explanation_zh, "國定假日（115/04/03）10:00 查詢（非上班時間）");
        assert_eq!(run(&[holiday]), vec![]);
        let th = Thresholds { make_up_workdays: vec![date(2026, 3, 7)], ..Thresholds::default() };
        let sat_work = QuerySummary { at: taipei(2026, 3, 7, 10, 0, 0), ..q(4) };
        assert_eq!(flags(&[sat_work], &HistoryStats::default(), &th, &[]), vec![]);
    }

    #[test]
    fn repeated_subject_by_one_user_edges() {
        let two: Vec<_> = (1..=2).map(|s| QuerySummary { subject_key: "A".into(), ..q(s) }).collect();
        assert_eq!(run(&two), vec![]);
        let three: Vec<_> = (1..=3).map(|s| QuerySummary { subject_key: "A".into(), ..q(s) }).collect();
        let fs = run(&three);
        assert_eq!(kinds(&fs, FlagKind::RepeatedSubject), vec![1, 2, 3]);
        assert_eq!(fs[0].explanation_en, "this user looked up this subject 3 times this month");
        // Tries NHIA could not answer (a batch row tried again after an outage) are not lookups.
        let mut tried = three.clone();
        tried[1].outcome = Outcome::NhiaError;
        assert_eq!(kinds(&run(&tried), FlagKind::RepeatedSubject), Vec::<u64>::new());
    }

    #[test]
    fn subject_by_several_users_edges() {
        let two: Vec<_> =
            (1..=2).map(|s| QuerySummary { subject_key: "A".into(), account_id: s as i64, ..q(s) }).collect();
        assert_eq!(run(&two), vec![]);
        let three: Vec<_> =
            (1..=3).map(|s| QuerySummary { subject_key: "A".into(), account_id: s as i64, ..q(s) }).collect();
        let fs = run(&three);
        assert_eq!(kinds(&fs, FlagKind::SubjectByManyUsers), vec![1, 2, 3]);
        assert_eq!(kinds(&fs, FlagKind::RepeatedSubject), Vec::<u64>::new());
        assert_eq!(fs[0].explanation_zh, "本月有 3 名使用者查詢此人");
    }

    fn month_of(account_id: i64, n: u64) -> Vec<QuerySummary> {
        (1..=n)
            .map(|s| QuerySummary { account_id, at: wed_10() + chrono::Duration::minutes(n as i64 - s as i64), ..q(s) })
            .collect()
    }

    #[test]
    fn volume_spike_edges() {
        let th = Thresholds::default();
        // Average 8 a month: the threshold is max(20, 24) = 24.
        let h = HistoryStats::default().with(1, 3, 24);
        assert_eq!(kinds(&flags(&month_of(1, 23), &h, &th, &[]), FlagKind::VolumeSpike), Vec::<u64>::new());
        let fs = flags(&month_of(1, 24), &h, &th, &[]);
        // Queries run backwards in time here, so the 24th in time is seq 1.
        assert_eq!(kinds(&fs, FlagKind::VolumeSpike), vec![1]);
        let f = fs.iter().find(|f| f.kind == FlagKind::VolumeSpike).unwrap();
        assert_eq!(f.explanation_zh, "本月查詢 24 筆（此筆為第 24 筆，達門檻），前 3 個月平均每月 8.0 筆，為 3.0 倍");
        // Average 2 a month: 3× is 6, but the minimum of 20 holds.
        let low = HistoryStats::default().with(1, 6, 12);
        assert_eq!(kinds(&flags(&month_of(1, 19), &low, &th, &[]), FlagKind::VolumeSpike), Vec::<u64>::new());
        assert_eq!(kinds(&flags(&month_of(1, 20), &low, &th, &[]), FlagKind::VolumeSpike).len(), 1);
        // No history, no spike.
        assert_eq!(kinds(&flags(&month_of(1, 200), &HistoryStats::default(), &th, &[]), FlagKind::VolumeSpike), vec![]);
        // A zero average with history does spike.
        let zero = HistoryStats::default().with(1, 2, 0);
        assert!(flags(&month_of(1, 20), &zero, &th, &[])[0].explanation_en.starts_with("20 queries this month"));
    }

    #[test]
    fn reason_similarity_is_bigram_jaccard() {
        assert_eq!(reason_similarity_percent("兒少保護家訪", "兒少保護家訪"), 100);
        assert_eq!(reason_similarity_percent("abc", "abd"), 33); // {ab,bc} vs {ab,bd}: 1/3
        assert_eq!(reason_similarity_percent("ab", "cd"), 0);
        assert_eq!(reason_similarity_percent("A B", "ab"), 100);
        assert_eq!(reason_similarity_percent("", ""), 100);
    }

    #[test]
    fn case_number_reuse_edges() {
        // "abcd" vs "abxy": {ab,bc,cd} vs {ab,bx,xy}: 1/5 = 20 % < 30 %: flagged.
        let a = QuerySummary { case_number: "C-1".into(), reason: "abcd".into(), ..q(1) };
        let b = QuerySummary { case_number: "C-1".into(), reason: "abxy".into(), ..q(2) };
        let fs = run(&[a.clone(), b.clone()]);
        assert_eq!(kinds(&fs, FlagKind::CaseReasonMismatch), vec![1, 2]);
        assert_eq!(
            fs[0].explanation_en,
            "case C-1 also has a query with an unrelated reason (entry 2: \"abxy\", 20% similar)"
        );
        // "abcd" vs "abce": {ab,bc,cd} vs {ab,bc,ce}: 2/4 = 50 %: related.
        let c = QuerySummary { reason: "abce".into(), ..b.clone() };
        assert_eq!(run(&[a.clone(), c]), vec![]);
        // {ab,bc,cd,de,ef,fg,gh} vs {ab,bc,cd,dx,xy,yz}: 3/10 = 30 %: not flagged.
        let d = QuerySummary { reason: "abcdefgh".into(), ..a.clone() };
        let e = QuerySummary { reason: "abcdxyz".into(), ..b.clone() };
        assert_eq!(reason_similarity_percent("abcdefgh", "abcdxyz"), 30);
        assert_eq!(run(&[d.clone(), e]), vec![]);
        // {ab,bc,cd,de,ef,fg,gh} vs {ab,bc,cd,dx,xy,yz,zw}: 3/11 = 27 %: flagged.
        let f = QuerySummary { reason: "abcdxyzw".into(), ..b.clone() };
        assert_eq!(kinds(&run(&[d, f]), FlagKind::CaseReasonMismatch), vec![1, 2]);
        // Other case numbers and identical reasons (a batch) are no mismatch.
        let other_case = QuerySummary { case_number: "C-2".into(), ..b };
        assert_eq!(run(&[a.clone(), other_case]), vec![]);
        let batch: Vec<_> = (1..=5).map(|s| QuerySummary { case_number: "C-1".into(), ..q(s) }).collect();
        assert_eq!(run(&batch), vec![]);
    }

    #[test]
    fn near_disable_date_edges() {
        let disable = date(2026, 3, 11); // wed_10 is 2026-03-04, 7 days before
        let seven = QuerySummary { account_disable_on: Some(disable), ..q(1) };
        let fs = run(&[seven]);
        assert_eq!(kinds(&fs, FlagKind::NearDisableDate), vec![1]);
        assert_eq!(fs[0].explanation_zh, "於帳號停用日（115/03/11）前 7 天查詢");
        let eight = QuerySummary { account_disable_on: Some(date(2026, 3, 12)), ..q(2) };
        assert_eq!(run(&[eight]), vec![]);
        let same_day = QuerySummary { account_disable_on: Some(date(2026, 3, 4)), ..q(3) };
        assert!(run(&[same_day])[0].explanation_en.starts_with("queried on the account's disable date"));
        let after = QuerySummary { account_disable_on: Some(date(2026, 3, 3)), ..q(4) };
        assert_eq!(run(&[after]), vec![]);
    }

    fn with_outcomes(answered: u64, not_found: u64) -> Vec<QuerySummary> {
        (1..=answered + not_found)
            .map(|s| QuerySummary {
                outcome: if s <= answered { Outcome::Answered } else { Outcome::NotFound },
                ..q(s)
            })
            .collect()
    }

    #[test]
    fn not_found_fishing_edges() {
        // 3 of 10 = 30 %: flagged, each miss.
        let fs = run(&with_outcomes(7, 3));
        assert_eq!(kinds(&fs, FlagKind::NotFoundFishing), vec![8, 9, 10]);
        assert_eq!(fs[0].explanation_zh, "此使用者本月 10 筆查詢中 3 筆查無資料（30%），疑似試查");
        // 3 of 11 = 27 %: not flagged.
        assert_eq!(run(&with_outcomes(8, 3)), vec![]);
        // 5 of 9: too few lookups to judge.
        assert_eq!(run(&with_outcomes(4, 5)), vec![]);
        // Refused queries do not count towards the minimum.
        let mut qs = with_outcomes(6, 3);
        qs.push(QuerySummary { outcome: Outcome::Refused, ..q(99) });
        assert_eq!(run(&qs), vec![]);
    }

    #[test]
    fn shared_surname_address_and_employee() {
        let same_name = QuerySummary { subject_surname: Some("林".into()), ..q(1) };
        let fs = run(&[same_name]);
        assert_eq!(kinds(&fs, FlagKind::SharedSurname), vec![1]);
        assert!(fs[0].explanation_zh.contains("同姓（林）"));
        let no_surname = QuerySummary { subject_surname: None, ..q(2) };
        assert_eq!(run(&[no_surname]), vec![]);
        let same_place =
            QuerySummary { subject_address: Some("南投縣 南投市中興路６６０號".into()), ..q(3) };
        assert_eq!(kinds(&run(&[same_place]), FlagKind::SharedAddress), vec![3]);
        let next_door = QuerySummary { subject_address: Some("南投縣南投市中興路662號".into()), ..q(4) };
        assert_eq!(run(&[next_door]), vec![]);
        assert_eq!(normalise_address("臺中市 Ａ區1號"), normalise_address("台中市a區１號"));
        let colleague = QuerySummary { subject_is_employee: true, ..q(5) };
        assert_eq!(kinds(&run(&[colleague]), FlagKind::SubjectIsEmployee), vec![5]);
    }

    #[test]
    fn flags_are_ordered_and_detectors_can_be_switched_off() {
        let everything = QuerySummary {
            at: taipei(2026, 3, 7, 23, 0, 0),
            subject_surname: Some("林".into()),
            subject_is_employee: true,
            ..q(7)
        };
        let fs = run(&[q(9), everything.clone(), QuerySummary { at: taipei(2026, 3, 8, 9, 0, 0), ..q(2) }]);
        let got: Vec<_> = fs.iter().map(|f| (f.seq, f.kind)).collect();
        assert_eq!(
            got,
            vec![
                (2, FlagKind::OffHours),
                (7, FlagKind::OffHours),
                (7, FlagKind::SharedSurname),
                (7, FlagKind::SubjectIsEmployee)
            ]
        );
        let th = Thresholds { disabled: vec![FlagKind::SharedSurname, FlagKind::OffHours], ..Thresholds::default() };
        let fs = flags(&[everything], &HistoryStats::default(), &th, &[]);
        assert_eq!(fs.iter().map(|f| f.kind).collect::<Vec<_>>(), vec![FlagKind::SubjectIsEmployee]);
        for k in FlagKind::ALL {
            assert_eq!(FlagKind::from_code(k.code()), Some(*k));
        }
    }
}
