//! The JSON wire format between the gateway and the NHIA data service, as documented in
//! `SANDBOX-WIRE.md`: shared by the sandbox server and the HTTP connector so that both sides agree
//! by construction. If NHIA's real format differs, only this module and `http.rs` change.
//!
//! Nothing here logs. Decoding errors are reduced to their position (line, column): serde's own
//! messages can quote the offending value, which may be personal data.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use nhiguard_domain::catalogue::ResultField;
use serde::{Deserialize, Serialize};

use crate::NhiError;
use crate::connector::{LookupAnswer, Record, Subject};

/// The path of the lookup, below the endpoint.
pub const LOOKUP_PATH: &str = "/nhi/v1/lookup";

/// Longest request id accepted.
pub const MAX_REQUEST_ID: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireRequest {
    pub request_id: String,
    pub operation: String,
    pub subject: WireSubject,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ISO 8601 (`1980-05-17`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

impl std::fmt::Debug for WireSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WireSubject(***)")
    }
}

impl WireSubject {
    pub fn from_subject(subject: &Subject) -> Self {
        match subject {
            Subject::NationalId(id) => Self { national_id: Some(id.expose().to_owned()), ..Self::default() },
            Subject::NameBirthDate { name, birth_date } => Self {
                national_id: None,
                name: Some(name.clone()),
                birth_date: Some(birth_date.format("%Y-%m-%d").to_string()),
            },
        }
    }
}

/// `{"status":"found","records":[{field: value}]}` or `{"status":"not_found"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum WireAnswer {
    Found { records: Vec<BTreeMap<String, serde_json::Value>> },
    NotFound,
}

/// `{"error":{"code":…,"message":…}}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireErrorBody {
    pub error: WireError,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl WireAnswer {
    pub fn from_answer(answer: &LookupAnswer) -> Self {
        match answer {
            LookupAnswer::NotFound => Self::NotFound,
            LookupAnswer::Found(records) => Self::Found {
                records: records
                    .iter()
                    .map(|r| {
                        r.fields()
                            .iter()
                            .map(|(f, v)| (f.code().to_owned(), serde_json::Value::String(v.clone())))
                            .collect()
                    })
                    .collect(),
            },
        }
    }

    /// Checks the shape: every value a string; fields this gateway does not know are dropped
    /// (data minimisation: what no screen shows is not kept), their names reported for a log.
    pub fn into_answer(self) -> Result<(LookupAnswer, Vec<String>), NhiError> {
        let records = match self {
            Self::NotFound => return Ok((LookupAnswer::NotFound, Vec::new())),
            Self::Found { records } => records,
        };
        let mut unknown = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for (i, raw) in records.into_iter().enumerate() {
            let mut fields = Vec::with_capacity(raw.len());
            for (name, value) in raw {
                let Some(field) = ResultField::from_code(&name) else {
                    if !unknown.contains(&name) {
                        unknown.push(crate::error::safe_text(&name, 40));
                    }
                    continue;
                };
                let serde_json::Value::String(value) = value else {
                    return Err(NhiError::bad_answer(format!("record {i}: field {} is not a string", field.code())));
                };
                fields.push((field, value));
            }
            fields.sort_by_key(|(f, _)| *f);
            out.push(Record::new(fields));
        }
        Ok((LookupAnswer::Found(out), unknown))
    }
}

/// Decodes JSON, reducing an error to its position (serde's message may quote personal data).
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, JsonFault> {
    serde_json::from_slice(bytes).map_err(|e| JsonFault {
        line: e.line(),
        column: e.column(),
        kind: match e.classify() {
            serde_json::error::Category::Io => "i/o",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "cut short",
        },
    })
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonFault {
    pub line: usize,
    pub column: usize,
    pub kind: &'static str,
}

impl std::fmt::Display for JsonFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {} column {}", self.kind, self.line, self.column)
    }
}

pub(crate) fn parse_birth_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_in_field_order() {
        let answer = LookupAnswer::Found(vec![Record::new(vec![
            (ResultField::Name, "王小明".into()),
            (ResultField::InsuredStatus, "在保".into()),
            (ResultField::InsuredSince, "2001-02-03".into()),
        ])]);
        let json = serde_json::to_vec(&WireAnswer::from_answer(&answer)).unwrap();
        let back: WireAnswer = decode(&json).unwrap();
        assert_eq!(back.into_answer().unwrap().0, answer);
    }

    #[test]
    fn unknown_fields_are_dropped_and_wrong_types_refused() {
        let w: WireAnswer = decode(br#"{"status":"found","records":[{"name":"x","salary":"1"}]}"#).unwrap();
        let (a, unknown) = w.into_answer().unwrap();
        assert_eq!(unknown, vec!["salary".to_owned()]);
        assert_eq!(a, LookupAnswer::Found(vec![Record::new(vec![(ResultField::Name, "x".into())])]));
        let w: WireAnswer = decode(br#"{"status":"found","records":[{"name":3}]}"#).unwrap();
        assert!(matches!(w.into_answer(), Err(NhiError::BadAnswer { .. })));
    }

    #[test]
    fn decode_errors_never_quote_the_input() {
        let err = decode::<WireAnswer>(br#"{"status":"A123456789"}"#).unwrap_err();
        assert!(!err.to_string().contains("A123456789"), "{err}");
    }
}
