//! The sandbox NHIA: a built-in stand-in for the NHIA data service that answers from synthetic
//! people (R-QRY-3), for demos and tests. `SandboxConnector` answers in-process (unit tests);
//! `server` serves the same answers over HTTP in the documented wire format, so that the real
//! HTTP connector can be exercised end to end, with fault injection for tests.
//!
//! The sandbox knows the seed catalogue's operations (INS01, ADR01, ADR02, VIS01) and returns
//! exactly the result fields `SEED_OPERATIONS` lists for each. It must never log a subject or a
//! result, even though its people are invented: code copied from here must be safe with real ones.

/// A small enum with a Chinese label, for the sandbox's person attributes.
macro_rules! simple_enum {
    ($name:ident { $($variant:ident = $zh:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// The label NHIA uses in its answers.
            pub fn zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
        }
    };
}
pub(crate) use simple_enum;

pub mod data;
pub mod server;

use std::sync::Arc;

use nhiguard_domain::catalogue::{ResultField, SEED_OPERATIONS};

use crate::NhiError;
use crate::connector::{BoxFuture, Connector, LookupAnswer, LookupRequest, Record, Subject};
use data::{Person, SandboxData, Visit};

/// Rejection codes the sandbox (and the documented wire format) uses.
pub mod codes {
    /// The operation code is not one NHIA knows.
    pub const UNKNOWN_OPERATION: &str = "E_OPERATION";
    /// The operation does not accept this kind of subject condition.
    pub const WRONG_CONDITION: &str = "E_CONDITION";
    /// The request is malformed (not JSON, a missing or bad field).
    pub const BAD_REQUEST: &str = "E_REQUEST";
    /// The subject's conditions are malformed (e.g. a national ID with a wrong check digit).
    pub const BAD_SUBJECT: &str = "E_SUBJECT";
    /// Missing or wrong credential.
    pub const AUTH: &str = "E_AUTH";
    /// The service is unavailable (fault injection).
    pub const UNAVAILABLE: &str = "E_UNAVAILABLE";
}

/// Answers one lookup from the population, as NHIA would.
pub fn answer(data: &SandboxData, operation_code: &str, subject: &Subject) -> Result<LookupAnswer, NhiError> {
    let Some(op) = SEED_OPERATIONS.iter().find(|o| o.code == operation_code) else {
        return Err(NhiError::rejected(codes::UNKNOWN_OPERATION, "查無此查詢作業代號 / unknown operation code"));
    };
    if !op.conditions.contains(&subject.condition()) {
        return Err(NhiError::rejected(
            codes::WRONG_CONDITION,
            "此查詢作業不接受這種查詢條件 / this operation does not accept these query conditions",
        ));
    }
    let people: Vec<&Person> = match subject {
        Subject::NationalId(id) => data.person_by_id(id).into_iter().collect(),
        Subject::NameBirthDate { name, birth_date } => data.people_by_name_birth(name.trim(), *birth_date),
    };
    if people.is_empty() {
        return Ok(LookupAnswer::NotFound);
    }
    let per_visit = nhiguard_domain::catalogue::answers_per_visit(op.results);
    let mut records = Vec::new();
    for person in people {
        if per_visit {
            records.extend(person.visits.iter().map(|v| record(person, Some(v), op.results)));
        } else {
            records.push(record(person, None, op.results));
        }
    }
    Ok(LookupAnswer::Found(records))
}

fn record(person: &Person, visit: Option<&Visit>, fields: &[ResultField]) -> Record {
    let mut out: Vec<(ResultField, String)> =
        fields.iter().filter_map(|&f| value(person, visit, f).map(|v| (f, v))).collect();
    out.sort_by_key(|(f, _)| *f);
    Record::new(out)
}

fn value(p: &Person, visit: Option<&Visit>, field: ResultField) -> Option<String> {
    let iso = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    Some(match field {
        ResultField::Name => p.name.clone(),
        ResultField::BirthDate => iso(p.birth_date),
        ResultField::InsuredStatus => p.insured_status.zh().to_owned(),
        ResultField::InsuredCategory => p.insured_category.zh().to_owned(),
        ResultField::InsuredUnit => p.insured_unit.clone(),
        ResultField::InsuredSince => iso(p.insured_since),
        ResultField::ContactAddress => p.contact_address.clone(),
        ResultField::ContactPhone => p.contact_phone.clone(),
        ResultField::VisitDate => iso(visit?.date),
        ResultField::Hospital => visit?.hospital.clone(),
        ResultField::Department => visit?.department.clone(),
    })
}

/// The sandbox answering in-process, without HTTP (unit tests of the layers above).
#[derive(Debug, Clone)]
pub struct SandboxConnector {
    data: Arc<SandboxData>,
}

impl SandboxConnector {
    pub fn new(data: Arc<SandboxData>) -> Self {
        Self { data }
    }

    pub fn data(&self) -> &SandboxData {
        &self.data
    }
}

impl Connector for SandboxConnector {
    fn lookup<'a>(&'a self, req: &'a LookupRequest) -> BoxFuture<'a, Result<LookupAnswer, NhiError>> {
        Box::pin(async move { answer(&self.data, &req.operation_code, &req.subject) })
    }

    fn kind(&self) -> &'static str {
        "sandbox"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data::default_as_of;

    fn data() -> Arc<SandboxData> {
        Arc::new(SandboxData::generate(42, 300, default_as_of()))
    }

    fn req(op: &str, subject: Subject) -> LookupRequest {
        LookupRequest { operation_code: op.into(), subject, request_id: "t-1".into() }
    }

    #[tokio::test]
    async fn every_seed_operation_answers_the_catalogue_fields() {
        let data = data();
        let c = SandboxConnector::new(data.clone());
        let person = data.people().iter().find(|p| !p.visits.is_empty()).unwrap();
        for op in SEED_OPERATIONS {
            let subject = if op.conditions.contains(&nhiguard_domain::catalogue::SubjectCondition::NationalId) {
                Subject::NationalId(person.national_id.clone())
            } else {
                Subject::NameBirthDate { name: person.name.clone(), birth_date: person.birth_date }
            };
            let LookupAnswer::Found(records) = c.lookup(&req(op.code, subject)).await.unwrap() else { panic!() };
            assert!(!records.is_empty(), "{}", op.code);
            for r in &records {
                assert_eq!(r.field_codes(), op.results.to_vec(), "{}", op.code);
                assert!(r.fields().iter().all(|(_, v)| !v.is_empty()));
            }
        }
    }

    #[tokio::test]
    async fn unknown_ids_are_not_found_and_unknown_operations_rejected() {
        let data = data();
        let c = SandboxConnector::new(data.clone());
        let absent = Subject::NationalId(data.absent_id());
        assert_eq!(c.lookup(&req("INS01", absent.clone())).await.unwrap(), LookupAnswer::NotFound);
        let err = c.lookup(&req("XYZ99", absent.clone())).await.unwrap_err();
        assert!(matches!(&err, NhiError::Rejected { code, .. } if code == codes::UNKNOWN_OPERATION), "{err:?}");
        let err = c.lookup(&req("ADR02", absent)).await.unwrap_err();
        assert!(matches!(&err, NhiError::Rejected { code, .. } if code == codes::WRONG_CONDITION), "{err:?}");
    }

    #[tokio::test]
    async fn connectors_are_usable_as_trait_objects() {
        let data = data();
        let c: Arc<dyn Connector> = Arc::new(SandboxConnector::new(data.clone()));
        assert_eq!(c.kind(), "sandbox");
        let subject = Subject::NationalId(data.sample_ids(1).remove(0));
        assert!(matches!(c.lookup(&req("INS01", subject)).await, Ok(LookupAnswer::Found(_))));
    }

    #[tokio::test]
    async fn visits_answer_one_record_per_visit() {
        let data = data();
        let c = SandboxConnector::new(data.clone());
        for p in data.people().iter().take(50) {
            let LookupAnswer::Found(records) =
                c.lookup(&req("VIS01", Subject::NationalId(p.national_id.clone()))).await.unwrap()
            else {
                panic!()
            };
            assert_eq!(records.len(), p.visits.len());
        }
    }
}
