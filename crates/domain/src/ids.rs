//! Validated identifiers that come in from forms, the API and files. Each is parsed once at the
//! edge and trusted afterwards: nothing invalid gets past `parse`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

macro_rules! text_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(
    /// A sign-in name: 3–32 of lower-case letters, digits, `.`, `_`, `-`, starting with a letter.
    Username
);
text_newtype!(
    /// A person's id in the county's HR records (employee number): 2–20 letters, digits or `-`.
    PersonId
);
text_newtype!(
    /// A short stable code for an org node, purpose or operation: 1–32 of A–Z, a–z, 0–9, `-`, `_`.
    Code
);

impl Username {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim().to_ascii_lowercase();
        let ok = (3..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(s))
        } else {
            Err(DomainError::invalid(
                "username",
                "帳號須為 3 至 32 個小寫英文字母、數字或 . _ -，並以英文字母開頭",
                "a username is 3 to 32 lower-case letters, digits or . _ -, starting with a letter",
            ))
        }
    }
}

impl PersonId {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim().to_ascii_uppercase();
        let ok = (2..=20).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(s))
        } else {
            Err(DomainError::invalid(
                "person_id",
                "員工編號須為 2 至 20 個英文字母、數字或 -",
                "an employee number is 2 to 20 letters, digits or -",
            ))
        }
    }
}

impl Code {
    pub fn parse(field: crate::Field, input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        let ok = (1..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                field,
                "代碼須為 1 至 32 個英文字母、數字、- 或 _",
                "a code is 1 to 32 letters, digits, - or _",
            ))
        }
    }
}

/// An e-mail address for activation links (R-ACC-4): empty (none) or `local@domain.tld`, ASCII,
/// at most 254 characters. Only its shape is checked; the mail server decides the rest.
pub fn parse_email(input: &str) -> Result<String, DomainError> {
    let s = input.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Ok(s);
    }
    let ok = s.len() <= 254
        && s.is_ascii()
        && !s.chars().any(|c| c.is_whitespace() || "<>,;:\"()[]\\".contains(c))
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !ok {
        return Err(DomainError::invalid(
            "email",
            "電子郵件地址格式不正確，例如 name@nantou.gov.tw",
            "that is not an e-mail address, e.g. name@nantou.gov.tw",
        ));
    }
    Ok(s)
}

/// Shows an address so its owner recognises it without spelling it out: `s***@nantou.gov.tw`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// Free text typed in a box of several lines (a legal basis, an application's reason): trimmed,
/// 1–`max` characters, line breaks kept (as `\n`), no other control characters.
pub fn parse_text(field: crate::Field, input: &str, max: usize) -> Result<String, DomainError> {
    let s = input.trim().replace("\r\n", "\n").replace('\r', "\n");
    if s.is_empty() {
        return Err(DomainError::invalid(field, "此欄不可空白", "this field is required"));
    }
    if s.chars().count() > max {
        return Err(DomainError::invalid(field, format!("此欄最多 {max} 個字"), format!("at most {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(
            field,
            "此欄含有無法顯示的控制字元，請重新輸入",
            "this field holds a control character that cannot be shown: type it again",
        ));
    }
    Ok(s)
}

/// Optional free text (a note): as [`parse_text`], but may be empty.
pub fn parse_note(field: crate::Field, input: &str, max: usize) -> Result<String, DomainError> {
    if input.trim().is_empty() { Ok(String::new()) } else { parse_text(field, input, max) }
}

/// A required display name (of a person, org node, purpose, …): trimmed, 1–`max` characters, no
/// control characters.
pub fn parse_name(field: crate::Field, input: &str, max: usize) -> Result<String, DomainError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "此欄不可空白", "this field is required"));
    }
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            format!("此欄最多 {max} 個字，且不可含控制字元"),
            format!("at most {max} characters, without control characters"),
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_several_lines_keeps_its_line_breaks_and_nothing_else_unprintable() {
        assert_eq!(
            parse_text("legal_basis", " 傳染病防治法第七條\r\n第四十三條 ", 100).unwrap(),
            "傳染病防治法第七條\n第四十三條"
        );
        assert!(parse_text("legal_basis", "", 100).is_err());
        assert!(parse_text("legal_basis", "第七條\u{0}", 100).is_err());
        assert!(parse_text("legal_basis", &"字".repeat(101), 100).is_err());
        assert_eq!(parse_note("note", "  ", 10).unwrap(), "");
        assert!(parse_note("note", &"x".repeat(11), 10).is_err());
    }

    #[test]
    fn r_acc_4_email_addresses() {
        assert_eq!(parse_email(" Lin.YaTing@Nantou.gov.tw ").unwrap(), "lin.yating@nantou.gov.tw");
        assert_eq!(parse_email("").unwrap(), "");
        for bad in ["no-at", "a@b", "a@@b.tw", "a b@c.tw", "林@nantou.gov.tw", "a@.tw", "<a@b.tw>"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(mask_email("lin.yating@nantou.gov.tw"), "l***@nantou.gov.tw");
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse(" Alice.Lin ").unwrap().as_str(), "alice.lin");
        for bad in ["ab", "1abc", "a b c", "abc!", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_not_be_blank_or_too_long() {
        assert!(parse_name("name", "  ", 10).is_err());
        assert!(parse_name("name", "衛生局", 3).is_ok());
        assert!(parse_name("name", "衛生局局", 3).is_err());
        assert!(parse_name("name", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn person_ids_and_codes() {
        assert_eq!(PersonId::parse("nt-00123").unwrap().as_str(), "NT-00123");
        assert!(PersonId::parse("x").is_err());
        assert!(Code::parse("code", "INS-01").is_ok());
        assert!(Code::parse("code", "有中文").is_err());
    }
}
