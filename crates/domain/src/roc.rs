//! Dates as county staff read them: the ROC (民國) calendar in Asia/Taipei. Screens and paper use
//! these; exports and the API use ISO 8601. Taiwan has kept UTC+8 without daylight saving since
//! 1979, so a fixed offset is exact for every date this system will hold.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};

/// Asia/Taipei (UTC+8). Checked at compile time.
pub const TAIPEI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Asia/Taipei.
pub fn taipei() -> FixedOffset {
    TAIPEI
}

/// The calendar date in Taipei of an instant.
pub fn taipei_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&taipei()).date_naive()
}

/// ROC year of a Gregorian year (1912 = 民國元年).
pub fn roc_year(gregorian: i32) -> i32 {
    gregorian - 1911
}

/// 民國115年11月27日
pub fn long_date(d: NaiveDate) -> String {
    format!("民國{}年{}月{}日", roc_year(d.year()), d.month(), d.day())
}

/// 115/11/27
pub fn short_date(d: NaiveDate) -> String {
    format!("{}/{:02}/{:02}", roc_year(d.year()), d.month(), d.day())
}

/// A value as the screen shows it: an ISO date (2026-11-27, as NHIA sends dates) as 115/11/27,
/// anything else unchanged.
pub fn shown_value(v: &str) -> String {
    match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
        Ok(d) => short_date(d),
        Err(_) => v.to_owned(),
    }
}

/// 115/11/27 14:05 in Taipei time.
pub fn short_datetime(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&taipei());
    format!("{} {:02}:{:02}", short_date(local.date_naive()), local.hour(), local.minute())
}

/// 民國115年11月27日 14:05 in Taipei time.
pub fn long_datetime(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&taipei());
    format!("{} {:02}:{:02}", long_date(local.date_naive()), local.hour(), local.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn roc_dates_match_the_forms_county_staff_use() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(long_date(d), "民國115年11月27日");
        assert_eq!(short_date(d), "115/11/27");
        let first = NaiveDate::from_ymd_opt(1912, 1, 1).unwrap();
        assert_eq!(long_date(first), "民國1年1月1日");
        assert_eq!(shown_value("2026-11-27"), "115/11/27");
        assert_eq!(shown_value("臺北市立聯合醫院"), "臺北市立聯合醫院");
    }

    #[test]
    fn taipei_date_crosses_midnight_eight_hours_before_utc() {
        let late_utc = Utc.with_ymd_and_hms(2026, 11, 26, 16, 30, 0).unwrap();
        assert_eq!(taipei_date(late_utc), NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
        assert_eq!(short_datetime(late_utc), "115/11/27 00:30");
    }
}
