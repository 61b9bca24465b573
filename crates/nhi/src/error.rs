//! The one error type of this crate, `NhiError`, with the words a county clerk sees (Traditional
//! Chinese first, English second) and a stable code a help desk can quote.
//!
//! An error must never carry personal data: no national ID, no name, no birth date, no result
//! field, and never the NHIA credential. Details are technical (a status code, "connection
//! refused", a JSON line and column) and are written for the log and the administrator; a
//! message that NHIA sends back is kept only after it has been cut to a safe length.

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhiError {
    /// No answer within the request timeout. The lookup may have reached NHIA, so it is never
    /// repeated automatically.
    #[error("{} / {} [{}]", self.zh(), self.en(), self.detail())]
    Timeout { after_ms: u64 },
    /// The NHIA service could not be reached or said it is unavailable (connection refused, 5xx,
    /// circuit breaker open). `may_have_answered` is false when NHIA certainly did not carry the
    /// lookup out — it was not reached, or it answered 429/503 (busy, not processed) — and true
    /// when it may have (the connection broke after the request went, another 5xx). `detail` is
    /// technical and free of personal data.
    #[error("{} / {} [{}]", self.zh(), self.en(), self.detail())]
    Unavailable { detail: String, may_have_answered: bool },
    /// NHIA refused this lookup (unknown operation, conditions it does not accept, …).
    #[error("{} / {} [{}]", self.zh(), self.en(), self.detail())]
    Rejected { code: String, message: String },
    /// NHIA answered with something of the wrong shape.
    #[error("{} / {} [{}]", self.zh(), self.en(), self.detail())]
    BadAnswer { detail: String },
    /// The connector's settings are wrong, or NHIA refused our credential or certificate.
    /// `setting` names the setting to fix.
    #[error("{} / {} [{}]", self.zh(), self.en(), self.detail())]
    Config { setting: String, detail: String },
}

impl NhiError {
    pub(crate) fn unavailable(detail: impl Into<String>, may_have_answered: bool) -> Self {
        Self::Unavailable { detail: detail.into(), may_have_answered }
    }

    pub(crate) fn bad_answer(detail: impl Into<String>) -> Self {
        Self::BadAnswer { detail: detail.into() }
    }

    pub(crate) fn config(setting: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Config { setting: setting.into(), detail: detail.into() }
    }

    pub(crate) fn rejected(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Rejected { code: safe_text(&code.into(), 40), message: safe_text(&message.into(), 200) }
    }

    /// A stable code for help desks and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "NHI-TIMEOUT",
            Self::Unavailable { .. } => "NHI-UNAVAILABLE",
            Self::Rejected { .. } => "NHI-REJECTED",
            Self::BadAnswer { .. } => "NHI-BAD-ANSWER",
            Self::Config { .. } => "NHI-CONFIG",
        }
    }

    /// True when the lookup certainly disclosed nothing and repeating it later may succeed: the
    /// service was not reached or said it was unavailable. A timeout, or a connection broken after
    /// the request went, is not retry-safe (NHIA may have answered into the void; a person may
    /// still run the lookup again, as a new logged query); rejections and configuration errors
    /// would only fail again.
    pub fn retry_safe(&self) -> bool {
        matches!(self, Self::Unavailable { may_have_answered: false, .. })
    }

    /// What to tell the person who asked, in Chinese and English, from a recorded [`NhiError::code`]
    /// alone (an outcome page opened later): [`NhiError::zh`]'s advice without the details the
    /// record does not keep. `None` for a code this version does not know.
    pub fn advice_for_code(code: &str) -> Option<(String, String)> {
        let e = match code {
            "NHI-TIMEOUT" => Self::Timeout { after_ms: 0 },
            "NHI-UNAVAILABLE" => Self::unavailable("", false),
            "NHI-BAD-ANSWER" => Self::bad_answer(""),
            "NHI-REJECTED" => {
                return Some((
                    "健保署拒絕本次查詢，請核對查詢作業與查詢條件".to_owned(),
                    "NHIA refused this lookup; check the operation and the subject's details".to_owned(),
                ));
            }
            "NHI-CONFIG" => {
                return Some((
                    "健保署連線設定有誤，請通知系統管理者".to_owned(),
                    "the NHIA connection settings are wrong; tell the system administrator".to_owned(),
                ));
            }
            _ => return None,
        };
        Some((e.zh(), e.en()))
    }

    /// What a county clerk reads, in Traditional Chinese.
    pub fn zh(&self) -> String {
        match self {
            Self::Timeout { .. } => "健保署系統逾時未回應，請稍後再試；本次查詢已記錄".to_owned(),
            Self::Unavailable { .. } => "健保署系統暫時無法連線，本次查詢未送出結果，請稍後再試".to_owned(),
            Self::Rejected { code, message } if message.is_empty() => {
                format!("健保署拒絕本次查詢（代碼 {code}），請核對查詢作業與查詢條件")
            }
            Self::Rejected { code, message } => {
                format!("健保署拒絕本次查詢（代碼 {code}：{message}），請核對查詢作業與查詢條件")
            }
            Self::BadAnswer { .. } => "健保署回傳的資料無法辨識；本次查詢已記錄，請通知系統管理者".to_owned(),
            Self::Config { setting, .. } => format!("健保署連線設定有誤（{setting}），請通知系統管理者"),
        }
    }

    /// The same in English.
    pub fn en(&self) -> String {
        match self {
            Self::Timeout { .. } => {
                "the NHIA service did not answer in time; try again later — this query was recorded".to_owned()
            }
            Self::Unavailable { .. } => {
                "the NHIA service cannot be reached at the moment; no result was received — try again later".to_owned()
            }
            Self::Rejected { code, message } if message.is_empty() => {
                format!("NHIA refused this lookup (code {code}); check the operation and the subject's details")
            }
            Self::Rejected { code, message } => {
                format!(
                    "NHIA refused this lookup (code {code}: {message}); check the operation and the subject's details"
                )
            }
            Self::BadAnswer { .. } => {
                "the NHIA answer could not be read; this query was recorded — tell the system administrator".to_owned()
            }
            Self::Config { setting, .. } => {
                format!("the NHIA connection settings are wrong ({setting}); tell the system administrator")
            }
        }
    }

    /// The technical detail for the log and the administrator (never personal data).
    pub fn detail(&self) -> String {
        match self {
            Self::Timeout { after_ms } => format!("no answer after {after_ms} ms"),
            Self::Unavailable { detail, may_have_answered } => {
                if *may_have_answered {
                    format!("{detail} (NHIA may have carried it out)")
                } else {
                    format!("{detail} (NHIA did not carry it out)")
                }
            }
            Self::Rejected { code, .. } => format!("NHIA code {code}"),
            Self::BadAnswer { detail } => detail.clone(),
            Self::Config { setting, detail } => format!("{setting}: {detail}"),
        }
    }
}

/// Text from the other side, cut to `max` characters with control characters replaced, so that
/// it cannot forge log lines or fill a page.
pub(crate) fn safe_text(s: &str, max: usize) -> String {
    s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_advice_of_its_own() {
        let errors = [
            NhiError::Timeout { after_ms: 1 },
            NhiError::unavailable("x", true),
            NhiError::rejected("E1", "m"),
            NhiError::bad_answer("x"),
            NhiError::config("nhi_endpoint", "x"),
        ];
        // A new kind of error fails to compile here until it is added to the list above.
        for e in &errors {
            match e {
                NhiError::Timeout { .. }
                | NhiError::Unavailable { .. }
                | NhiError::Rejected { .. }
                | NhiError::BadAnswer { .. }
                | NhiError::Config { .. } => {}
            }
        }
        let advice: Vec<(String, String)> = errors
            .iter()
            .map(|e| NhiError::advice_for_code(e.code()).unwrap_or_else(|| panic!("{}", e.code())))
            .collect();
        for (i, a) in advice.iter().enumerate() {
            assert!(advice.iter().skip(i + 1).all(|b| b != a), "{a:?} is given for two codes");
        }
        assert!(NhiError::advice_for_code("NHI-NEW").is_none());
    }

    #[test]
    fn only_unavailable_that_nhia_did_not_carry_out_is_retry_safe() {
        assert!(NhiError::unavailable("connection refused", false).retry_safe());
        assert!(!NhiError::unavailable("connection broke while reading the answer", true).retry_safe());
        assert!(!NhiError::Timeout { after_ms: 10 }.retry_safe());
        assert!(!NhiError::rejected("E_OPERATION", "unknown").retry_safe());
        assert!(!NhiError::bad_answer("x").retry_safe());
        assert!(!NhiError::config("endpoint", "x").retry_safe());
    }

    #[test]
    fn messages_are_bilingual_and_name_the_setting() {
        let e = NhiError::config("nhi.credential", "credential refused");
        let text = e.to_string();
        assert!(text.contains("健保署連線設定有誤（nhi.credential）"), "{text}");
        assert!(text.contains("the NHIA connection settings are wrong (nhi.credential)"), "{text}");
        assert!(text.contains("credential refused"), "{text}");
    }

    #[test]
    fn rejected_text_is_cut_and_cleaned() {
        let e = NhiError::rejected("E\nX", "a".repeat(1000));
        let NhiError::Rejected { code, message } = &e else { panic!() };
        assert_eq!(code, "E X");
        assert_eq!(message.chars().count(), 200);
    }
}
