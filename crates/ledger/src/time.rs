//! RFC 3339 UTC timestamps for checkpoint text, to the second: `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! Written here rather than taken from a date crate because the form is one fixed shape and must read back
//! byte for byte: a checkpoint's signature covers its time line. It must never accept a second spelling of
//! the same instant (offsets, fractions, lowercase `t`/`z`, leap seconds), or a signed text would have two
//! readings.

use crate::error::{LedgerError, Result};

/// 9999-12-31T23:59:59Z, the last instant with a four-digit year.
const MAX_SECS: i64 = 253_402_300_799;

fn range_error() -> LedgerError {
    LedgerError::Time { reason: "outside 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z" }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `secs` (Unix time) as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_rfc3339(secs: i64) -> Result<String> {
    if !(0..=MAX_SECS).contains(&secs) {
        return Err(range_error());
    }
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    Ok(format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60))
}

/// Reads exactly the form [`format_rfc3339`] writes.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64> {
    let bad = |reason| LedgerError::Time { reason };
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err(bad("not of the form YYYY-MM-DDTHH:MM:SSZ"));
    }
    if b[19] != b'Z' {
        return Err(bad("must be UTC, ending in Z"));
    }
    let num = |from: usize, to: usize| -> Result<i64> {
        b[from..to].iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() { Ok(acc * 10 + i64::from(c - b'0')) } else { Err(bad("expected a digit")) }
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad("month out of range")),
    };
    if d < 1 || d > month_days {
        return Err(bad("day out of range"));
    }
    if h > 23 || mi > 59 || s > 59 {
        return Err(bad("time of day out of range"));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    if secs < 0 {
        return Err(range_error());
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_722_300_000).unwrap(), "2024-07-30T00:40:00Z");
        assert_eq!(format_rfc3339(MAX_SECS).unwrap(), "9999-12-31T23:59:59Z");
        assert!(format_rfc3339(-1).is_err());
        assert!(format_rfc3339(MAX_SECS + 1).is_err());
    }

    #[test]
    fn round_trips_across_days_and_years() {
        let mut secs = 0i64;
        while secs < MAX_SECS {
            let text = format_rfc3339(secs).unwrap();
            assert_eq!(parse_rfc3339(&text).unwrap(), secs, "{text}");
            secs += 86_400 * 37 + 3_661;
        }
    }

    #[test]
    fn rejects_other_spellings() {
        for bad in [
            "2024-07-30T00:40:00",
            "2024-07-30T00:40:00z",
            "2024-07-30t00:40:00Z",
            "2024-07-30T00:40:00+00:00",
            "2024-07-30T00:40:00.0Z",
            "2024-07-30 00:40:00Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-07-30T24:00:00Z",
            "2024-07-30T23:59:60Z",
            "1969-12-31T23:59:59Z",
            "+024-07-30T00:40:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z").unwrap(), 1_709_208_000);
    }
}
