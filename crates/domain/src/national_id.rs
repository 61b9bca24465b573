//! The subject's identifier: a Taiwan national ID (`[A-Z][12]\d{8}`) or resident certificate
//! number (new `[A-Z][89]\d{8}`, old `[A-Z][A-D]\d{8}`), checked for format and check digit before
//! anything is sent to NHIA (R-QRY-2). Its `Debug` and `Display` mask it: a subject's ID must not
//! end up whole in a log line by accident.

use std::fmt;

use crate::DomainError;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId(String);

/// The numbers the first letter stands for in the check-digit sum (I, O, W, X, Y, Z are out of
/// alphabetical order because they were added later).
fn letter_code(c: u8) -> Option<u32> {
    const CODES: [u32; 26] =
        [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33];
    c.checked_sub(b'A').and_then(|i| CODES.get(usize::from(i)).copied())
}

impl NationalId {
    /// R-QRY-2: format and check digit.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        let bad_format = || {
            DomainError::invalid(
                "national_id",
                "身分證統一編號或居留證號格式錯誤：應為 1 個英文字母加 9 個字元（如 A123456789）",
                "national ID or resident certificate number must be one letter and nine characters (e.g. A123456789)",
            )
        };
        if b.len() != 10 || !b[0].is_ascii_uppercase() || !b[2..].iter().all(u8::is_ascii_digit) {
            return Err(bad_format());
        }
        let second = match b[1] {
            b'1' | b'2' | b'8' | b'9' => u32::from(b[1] - b'0'),
            // Old resident certificates: the second letter counts as its code's last digit.
            b'A'..=b'D' => letter_code(b[1]).map(|c| c % 10).ok_or_else(bad_format)?,
            _ => return Err(bad_format()),
        };
        let first = letter_code(b[0]).ok_or_else(bad_format)?;
        let mut sum = first / 10 + (first % 10) * 9 + second * 8;
        for (i, d) in b[2..9].iter().enumerate() {
            // weights 7, 6, …, 1 for the third to ninth characters
            sum += u32::from(d - b'0') * (7 - i as u32);
        }
        sum += u32::from(b[9] - b'0');
        if sum % 10 != 0 {
            return Err(DomainError::invalid(
                "national_id",
                "身分證統一編號或居留證號檢查碼不符，請核對後重新輸入",
                "the check digit does not match: please check the number and enter it again",
            ));
        }
        Ok(Self(s))
    }

    /// The whole number, for the connector and the log entry only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A123****89: the form used in lists and on paper where settings ask for masking.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..4], &self.0[8..])
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalId({})", self.masked())
    }
}

impl fmt::Display for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_qry_2_accepts_valid_citizen_and_resident_numbers() {
        for ok in ["A123456789", "a123456789", "F131104093", "A800000014", "AC01234567"] {
            assert!(NationalId::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn r_qry_2_refuses_bad_check_digit_and_format() {
        for bad in ["A123456788", "A323456789", "1234567890", "A12345678", "A1234567890", "AE01234567", ""] {
            assert!(NationalId::parse(bad).is_err(), "{bad} should be refused");
        }
        let Err(DomainError::Invalid { zh, .. }) = NationalId::parse("A123456788") else { panic!() };
        assert!(zh.contains("檢查碼"));
    }

    #[test]
    fn debug_and_display_never_show_the_whole_number() {
        let id = NationalId::parse("A123456789").unwrap();
        assert_eq!(id.to_string(), "A123****89");
        assert!(!format!("{id:?}").contains("A123456789"));
    }
}
