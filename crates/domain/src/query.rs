//! What a query must carry (R-QRY-1, R-PUR-3): a case number in the agency's format, a reason that
//! is a real sentence, and the subject's conditions — each parsed once at the edge. Nothing that
//! fails here is ever sent to NHIA.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::national_id::NationalId;

/// 案號: the case file this query belongs to. The format is the agency's own (a pattern in
/// settings); by default 2–40 letters, digits, CJK characters and `-_/()（）`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNumber(String);

impl CaseNumber {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::invalid("case_number", "請填寫案號（R-QRY-1）", "enter the case number"));
        }
        let ok = (2..=40).contains(&s.chars().count())
            && s.chars().all(|c| c.is_alphanumeric() || "-_/()（）.#".contains(c))
            && s.chars().any(|c| c.is_alphanumeric());
        if !ok {
            return Err(DomainError::invalid(
                "case_number",
                "案號須為 2 至 40 個字，可含中英文、數字及 - _ / ( ) .",
                "a case number is 2 to 40 characters: letters, digits, CJK and - _ / ( ) .",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 查詢事由: why this person's data is needed. It must say something: at least `min_chars`
/// characters (a setting), not one character repeated, not only punctuation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason(String);

impl Reason {
    pub fn parse(input: &str, min_chars: usize) -> Result<Self, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::invalid("reason", "請填寫查詢事由（R-QRY-1）", "enter the reason for this query"));
        }
        let meaningful: Vec<char> = s.chars().filter(|c| c.is_alphanumeric()).collect();
        let mut distinct = meaningful.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if s.chars().count() > 500 {
            return Err(DomainError::invalid("reason", "查詢事由最多 500 字", "a reason has at most 500 characters"));
        }
        if meaningful.len() < min_chars || distinct.len() < 3.min(min_chars) {
            return Err(DomainError::invalid(
                "reason",
                format!("查詢事由須具體說明為何需要此筆資料（至少 {min_chars} 個字，不可只是重複字元或標點）"),
                format!(
                    "say why this data is needed (at least {min_chars} characters, not one character repeated or only punctuation)"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who is looked up.
#[derive(Clone, PartialEq, Eq)]
pub enum Subject {
    NationalId(NationalId),
    NameBirthDate { name: String, birth_date: chrono::NaiveDate },
}

impl Subject {
    /// The conditions as the log records them (R-LOG-1).
    pub fn conditions(&self) -> String {
        match self {
            Subject::NationalId(id) => format!("national_id={}", id.expose()),
            Subject::NameBirthDate { name, birth_date } => format!("name={name};birth_date={birth_date}"),
        }
    }

    /// Which kind of condition this is, as the catalogue names it.
    pub fn condition(&self) -> crate::catalogue::SubjectCondition {
        match self {
            Subject::NationalId(_) => crate::catalogue::SubjectCondition::NationalId,
            Subject::NameBirthDate { .. } => crate::catalogue::SubjectCondition::NameBirthDate,
        }
    }

    /// The conditions as lists, paper and log lines show them: `A123****89`, or the first
    /// character of the name and no birth date (`王** ****-**-**`).
    pub fn masked(&self) -> String {
        match self {
            Subject::NationalId(id) => id.masked(),
            Subject::NameBirthDate { name, .. } => {
                let mut chars = name.chars();
                let first: String = chars.next().into_iter().collect();
                format!("{first}{} ****-**-**", "*".repeat(chars.count()))
            }
        }
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.masked())
    }
}

crate::labelled_enum!(
    /// How a query ended (R-LOG-1).
    Outcome {
        Answered = ("answered", "已回覆", "answered"),
        NotFound = ("not_found", "查無資料", "not found"),
        Refused = ("refused", "拒絕查詢", "refused"),
        NhiaError = ("nhia_error", "健保署錯誤", "NHIA error"),
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_qry_1_case_number_is_required_and_bounded() {
        assert!(CaseNumber::parse("113-兒保-000123").is_ok());
        assert!(CaseNumber::parse("  ").is_err());
        assert!(CaseNumber::parse("---").is_err());
        assert!(CaseNumber::parse("a;DROP TABLE").is_err());
    }

    #[test]
    fn r_qry_1_reason_must_be_a_real_sentence() {
        for bad in ["", ".", "aaaa", "aaaaaaaaaaaa", "。。。。。。。。。。", "ok"] {
            assert!(Reason::parse(bad, 6).is_err(), "{bad:?}");
        }
        assert!(Reason::parse("兒少保護個案家訪前確認投保單位", 6).is_ok());
        assert!(Reason::parse(&"很".repeat(501), 6).is_err());
    }

    #[test]
    fn subjects_are_masked_in_debug() {
        let s = Subject::NationalId(NationalId::parse("A123456789").unwrap());
        assert!(!format!("{s:?}").contains("A123456789"));
        assert_eq!(s.conditions(), "national_id=A123456789");
    }
}
