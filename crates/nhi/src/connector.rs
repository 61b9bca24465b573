//! What the gateway asks NHIA and what it gets back: the `Connector` trait (dyn-compatible, so the
//! app holds an `Arc<dyn Connector>` chosen at start-up), the lookup request with its subject, the
//! answer with its records, and `Secret` for credentials.
//!
//! Every `Debug` here is written so that a stray `tracing::debug!("{req:?}")` leaks nothing: a
//! national ID shows masked (`A123****89`), a name shows its first character only, a birth date
//! not at all, and result values never. Use `Subject::masked` for a log line.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use nhiguard_domain::catalogue::ResultField;

use crate::NhiError;

/// A boxed, sendable future: what `Connector::lookup` returns so that the trait stays usable as
/// `dyn Connector`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A way to reach NHIA's data service: the real HTTP connector or the sandbox.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Sends one lookup and waits for its answer. One call is one disclosure of personal data:
    /// implementations repeat a request only where it certainly did not reach NHIA.
    fn lookup<'a>(&'a self, req: &'a LookupRequest) -> BoxFuture<'a, Result<LookupAnswer, NhiError>>;

    /// A short name for logs and the health page ("http", "sandbox").
    fn kind(&self) -> &'static str;
}

/// One lookup: the operation code (INS01, ADR01, …), who it is about, and the gateway's unique id
/// for it, sent to NHIA for tracing and as an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    pub operation_code: String,
    pub subject: Subject,
    pub request_id: String,
}

/// The subject's query conditions: the domain's validated type, so that nothing unparsed reaches
/// a connector.
pub use nhiguard_domain::query::Subject;

/// What NHIA said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// One record for most operations, one per visit for visit lookups (possibly none: the person
    /// is known and had no visits).
    Found(Vec<Record>),
    /// NHIA knows no one with these conditions.
    NotFound,
}

/// One record of an answer: result fields with their values, in the order of `ResultField`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Record {
    fields: Vec<(ResultField, String)>,
}

impl Record {
    /// A record with its fields in the order given.
    pub fn new(fields: Vec<(ResultField, String)>) -> Self {
        Self { fields }
    }

    pub fn fields(&self) -> &[(ResultField, String)] {
        &self.fields
    }

    pub fn into_fields(self) -> Vec<(ResultField, String)> {
        self.fields
    }

    /// The value of one field, if the record has it.
    pub fn get(&self, field: ResultField) -> Option<&str> {
        self.fields.iter().find(|(f, _)| *f == field).map(|(_, v)| v.as_str())
    }

    /// The fields present, in order.
    pub fn field_codes(&self) -> Vec<ResultField> {
        self.fields.iter().map(|(f, _)| *f).collect()
    }
}

impl fmt::Debug for Record {
    /// Field names only: result values are personal data and must not reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.fields.iter().map(|(field, _)| format!("{}=***", field.code()))).finish()
    }
}

/// A credential or other secret: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use nhiguard_domain::national_id::NationalId;

    #[test]
    fn debug_masks_subjects_records_and_secrets() {
        let id = NationalId::parse("A123456789").unwrap();
        let req = LookupRequest {
            operation_code: "INS01".into(),
            subject: Subject::NationalId(id),
            request_id: "r-1".into(),
        };
        let text = format!("{req:?}");
        assert!(text.contains("A123****89") && !text.contains("A123456789"), "{text}");

        let s = Subject::NameBirthDate {
            name: "王小明".into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        };
        let text = format!("{s:?}");
        assert_eq!(text, "Subject(王** ****-**-**)");

        let r = Record::new(vec![(ResultField::Name, "王小明".into())]);
        assert_eq!(format!("{r:?}"), r#"["name=***"]"#);
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }

    #[test]
    fn records_answer_by_field() {
        let r = Record::new(vec![(ResultField::Name, "王小明".into()), (ResultField::Hospital, "埔基".into())]);
        assert_eq!(r.get(ResultField::Hospital), Some("埔基"));
        assert_eq!(r.get(ResultField::VisitDate), None);
        assert_eq!(r.field_codes(), vec![ResultField::Name, ResultField::Hospital]);
    }
}
