//! The office calendar: holidays, and the weekend days that are working days (補行上班日), as the
//! Directorate-General of Personnel Administration announces each year. The risk flags use it to
//! tell office hours from the rest; the planning department keeps it, one year at a time, in the
//! plain form the announcement can be copied into:
//!
//! ```text
//! 2026-01-01 放假 開國紀念日
//! 115/02/07 上班 春節補行上班
//! ```
//!
//! A date (ISO or ROC), `放假` (holiday) or `上班` (make-up working day, which must fall on a
//! weekend), and a name. Blank lines and lines starting with `#` are skipped.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::DomainError;

crate::labelled_enum!(
    /// What a calendar day is.
    DayKind {
        Holiday = ("holiday", "放假", "holiday"),
        Workday = ("workday", "上班", "make-up working day"),
    }
);

/// One day of the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarDay {
    pub date: NaiveDate,
    pub kind: DayKind,
    pub name: String,
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    // ROC: 115/02/07 or 115-2-7.
    let parts: Vec<&str> = text.split(['/', '-']).collect();
    let [y, m, d] = parts.as_slice() else { return None };
    let roc: i32 = y.parse().ok()?;
    if !(1..=200).contains(&roc) {
        return None;
    }
    NaiveDate::from_ymd_opt(roc + 1911, m.parse().ok()?, d.parse().ok()?)
}

/// Reads one year's calendar; every line must be right, or nothing is taken (the error names the
/// first bad line).
pub fn parse_year(year: i32, text: &str) -> Result<Vec<CalendarDay>, DomainError> {
    let mut out: Vec<CalendarDay> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |zh: String, en: String| {
            Err(DomainError::invalid("calendar", format!("第 {n} 行：{zh}"), format!("line {n}: {en}")))
        };
        let mut words = line.split_whitespace();
        let (Some(date), Some(kind)) = (words.next(), words.next()) else {
            return bad("須為「日期 放假或上班 名稱」".into(), "write a date, 放假 or 上班, and a name".into());
        };
        let name: String = words.collect::<Vec<_>>().join(" ");
        let Some(date) = parse_date(date) else {
            return bad(
                format!("看不懂日期「{date}」，請寫 2026-01-01 或 115/01/01"),
                format!("cannot read the date {date:?}"),
            );
        };
        if date.year() != year {
            return bad(format!("{date} 不在 {year} 年"), format!("{date} is not in {year}"));
        }
        let kind = match kind {
            "放假" | "holiday" => DayKind::Holiday,
            "上班" | "workday" => DayKind::Workday,
            other => return bad(format!("「{other}」須為放假或上班"), format!("{other:?} must be 放假 or 上班")),
        };
        if kind == DayKind::Workday && !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return bad(format!("{date} 不是週末，無須補行上班"), format!("{date} is not a weekend day"));
        }
        if name.is_empty() || name.chars().count() > 30 || name.chars().any(char::is_control) {
            return bad(
                "名稱須為 1 至 30 字，不含控制字元".into(),
                "the name is 1 to 30 characters, without control characters".into(),
            );
        }
        if out.iter().any(|d| d.date == date) {
            return bad(format!("{date} 重複"), format!("{date} appears twice"));
        }
        out.push(CalendarDay { date, kind, name });
    }
    out.sort_by_key(|d| d.date);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_is_read_whole_or_refused_naming_the_line() {
        let days = parse_year(2026, "# 115年\n2026-01-01 放假 開國紀念日\n\n115/02/07 上班 春節補行上班\n").unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!((days[1].date, days[1].kind), (NaiveDate::from_ymd_opt(2026, 2, 7).unwrap(), DayKind::Workday));
        for (text, line) in [
            ("2026-01-01 放假 元旦\n2026-13-01 放假 x", "第 2 行"),
            ("2025-12-31 放假 跨年", "第 1 行"),
            ("2026-01-02 上班 補班", "第 1 行"),
            ("2026-01-01 休息 元旦", "第 1 行"),
            ("2026-01-01 放假 元旦\n2026-01-01 放假 again", "第 2 行"),
            ("2026-01-01 放假", "第 1 行"),
            ("2026-01-01 放假 元旦\u{0}", "第 1 行"),
        ] {
            match parse_year(2026, text) {
                Err(DomainError::Invalid { zh, .. }) => assert!(zh.starts_with(line), "{text:?}: {zh}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
