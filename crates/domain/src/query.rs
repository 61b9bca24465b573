//! What a query must carry (R-QRY-1, R-PUR-3): a case number in the agency's format, a reason that
//! is a real sentence, and the subject's conditions — each parsed once at the edge. Nothing that
//! fails here is ever sent to NHIA.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::national_id::NationalId;

/// A character a case number may hold.
fn case_char(c: char) -> bool {
    c.is_alphanumeric() || "-_/()（）.#".contains(c)
}

/// 案號: the case file this query belongs to: 2–40 letters, digits, CJK characters and `-_/()（）`;
/// an agency may also require its own format ([`CasePattern`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseNumber(String);

impl CaseNumber {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::invalid("case_number", "請填寫案號（R-QRY-1）", "enter the case number"));
        }
        let ok =
            (2..=40).contains(&s.chars().count()) && s.chars().all(case_char) && s.chars().any(char::is_alphanumeric);
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

/// One piece of a case-number format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// This character exactly.
    Literal(char),
    /// A ROC year: 2 or 3 digits.
    RocYear,
    /// Digits: exactly `n`, or 1 to 12 when `None`.
    Digits(Option<usize>),
    /// 1 to 10 letters (Chinese or Latin).
    Letters,
}

/// An agency's case-number format (R-QRY-1), written the way county staff describe their files:
/// the literal text with placeholders — `{年}` a ROC year (2–3 digits), `{數字}` one or more digits,
/// `{數字6}` exactly six, `{字}` one or more letters (Chinese or Latin). English names work too:
/// `{year}`, `{digits}`, `{digits6}`, `{letters}`. For example `{年}-兒保-{數字6}` accepts
/// `113-兒保-000123`. No regular expressions: the format is also what the query form shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePattern {
    source: String,
    pieces: Vec<Piece>,
}

impl CasePattern {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let source = input.trim().to_owned();
        let bad = |zh: String, en: String| Err(DomainError::invalid("case_pattern", zh, en));
        if source.is_empty() || source.chars().count() > 60 {
            return bad(
                "案號格式須為 1 至 60 個字，例如 {年}-兒保-{數字6}".into(),
                "a case-number format is 1 to 60 characters, e.g. {year}-CP-{digits6}".into(),
            );
        }
        let mut pieces = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            if c != '{' {
                if c == '}' {
                    return bad("格式中有多餘的 }".into(), "the format has a stray }".into());
                }
                if !case_char(c) {
                    // No case number could hold it: every query of the agency would be refused.
                    return bad(
                        format!("格式中的「{c}」不能出現在案號中；案號只含中英文、數字及 - _ / ( ) ."),
                        format!("{c:?} cannot be part of a case number (letters, digits, CJK and - _ / ( ) . only)"),
                    );
                }
                pieces.push(Piece::Literal(c));
                continue;
            }
            let mut name = String::new();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '}' {
                    closed = true;
                    break;
                }
                name.push(c);
            }
            if !closed {
                return bad(format!("格式中的 {{{name} 少了 }}"), format!("{{{name} in the format lacks its }}"));
            }
            let digits_n = |prefix: &str| name.strip_prefix(prefix).filter(|n| !n.is_empty()).map(str::parse::<usize>);
            let piece = match name.as_str() {
                "年" | "year" => Piece::RocYear,
                "數字" | "digits" => Piece::Digits(None),
                "字" | "letters" => Piece::Letters,
                _ => match digits_n("數字").or_else(|| digits_n("digits")) {
                    Some(Ok(n)) if (1..=12).contains(&n) => Piece::Digits(Some(n)),
                    _ => {
                        return bad(
                            format!(
                                "不認得的格式代號 {{{name}}}；可用 {{年}}、{{數字}}、{{數字N}}（N 為 1 至 12）、{{字}}"
                            ),
                            format!(
                                "unknown placeholder {{{name}}}; use {{year}}, {{digits}}, {{digitsN}} (N 1 to 12) or {{letters}}"
                            ),
                        );
                    }
                },
            };
            pieces.push(piece);
        }
        // The shortest and longest case numbers the format allows must fit a case number's 2 to 40.
        let (shortest, longest) = pieces.iter().fold((0usize, Some(0usize)), |(lo, hi), p| {
            let (l, h) = match p {
                Piece::Literal(_) => (1, Some(1)),
                Piece::RocYear => (2, Some(3)),
                Piece::Digits(Some(n)) => (*n, Some(*n)),
                Piece::Digits(None) => (1, Some(12)),
                Piece::Letters => (1, Some(10)),
            };
            (lo + l, hi.zip(h).map(|(a, b)| a + b))
        });
        if shortest > 40 || longest.is_some_and(|l| l < 2) {
            return bad(
                "此格式產生的案號不在 2 至 40 個字之間，無案號能符合；請調整".into(),
                "no case number fits this format: the numbers it describes are not 2 to 40 characters long".into(),
            );
        }
        if !pieces.iter().any(|p| !matches!(p, Piece::Literal(_))) {
            return bad(
                "格式須至少含一個代號，例如 {數字}；只有固定文字時每案案號都相同".into(),
                "the format needs at least one placeholder such as {digits}; fixed text alone gives every case the same number".into(),
            );
        }
        Ok(Self { source, pieces })
    }

    /// The format as the agency wrote it (shown on the query form).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, case: &str) -> bool {
        let chars: Vec<char> = case.chars().collect();
        // Does pieces[i..] match chars[pos..]? Remembered per (i, pos), so that a format of many
        // adjacent runs cannot make the search exponential.
        fn at(pieces: &[Piece], s: &[char], i: usize, pos: usize, seen: &mut [Option<bool>]) -> bool {
            let key = i * (s.len() + 1) + pos;
            if let Some(known) = seen[key] {
                return known;
            }
            let rest = &s[pos..];
            let run = |min: usize, max: usize, ok: &dyn Fn(char) -> bool, seen: &mut [Option<bool>]| {
                let longest = rest.iter().take(max).take_while(|&&c| ok(c)).count();
                (min..=longest).rev().any(|n| at(pieces, s, i + 1, pos + n, seen))
            };
            let found = match pieces.get(i) {
                None => rest.is_empty(),
                Some(Piece::Literal(c)) => rest.first() == Some(c) && at(pieces, s, i + 1, pos + 1, seen),
                Some(Piece::RocYear) => run(2, 3, &|c| c.is_ascii_digit(), seen),
                Some(Piece::Digits(Some(n))) => run(*n, *n, &|c| c.is_ascii_digit(), seen),
                Some(Piece::Digits(None)) => run(1, 12, &|c| c.is_ascii_digit(), seen),
                Some(Piece::Letters) => run(1, 10, &|c| c.is_alphabetic(), seen),
            };
            seen[key] = Some(found);
            found
        }
        let mut seen = vec![None; (self.pieces.len() + 1) * (chars.len() + 1)];
        at(&self.pieces, &chars, 0, 0, &mut seen)
    }

    /// R-QRY-1: refuses a case number that does not follow the agency's format, saying which.
    pub fn check(&self, case: &CaseNumber) -> Result<(), DomainError> {
        if self.matches(case.as_str()) {
            return Ok(());
        }
        Err(DomainError::invalid(
            "case_number",
            format!("案號不符本機關格式 {}（{{年}} 民國年、{{數字}} 數字、{{字}} 文字）", self.source),
            format!("the case number does not follow this agency's format {}", self.source),
        ))
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
    fn r_qry_1_an_agency_case_number_format() {
        let p = CasePattern::parse("{年}-兒保-{數字6}").unwrap();
        for ok in ["113-兒保-000123", "99-兒保-000001"] {
            assert!(p.matches(ok), "{ok}");
        }
        for bad in ["113-兒保-123", "1130-兒保-000123", "113-家暴-000123", "113-兒保-0001234", "113兒保000123", ""]
        {
            assert!(!p.matches(bad), "{bad}");
        }
        let q = CasePattern::parse("{year}{letters}字第{digits}號").unwrap();
        assert!(q.matches("113府社字第1130001號") && !q.matches("113府社字第號"));
        let case = CaseNumber::parse("113-兒保-12").unwrap();
        match p.check(&case) {
            Err(DomainError::Invalid { field, zh, .. }) => {
                assert!(field == "case_number" && zh.contains("{年}-兒保-{數字6}"))
            }
            other => panic!("{other:?}"),
        }
        let many = CasePattern::parse(&"{數字}".repeat(15)).unwrap();
        assert!(!many.matches(&format!("{}x", "1".repeat(39))), "answers at once, however the runs could split");
        // No case number could fit these: a space, too long at its shortest, one character at most.
        let unsatisfiable = ["{年} 兒保 {數字6}", "{數字12}{數字12}{數字12}{數字12}", "{數字1}", "{字}\u{0}"];
        for bad in ["", "兒保", "{月}-{數字}", "{數字0}", "{數字13}", "{數字", "a}{數字}"].iter().chain(&unsatisfiable)
        {
            assert!(CasePattern::parse(bad).is_err(), "{bad:?}");
        }
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
