//! The sandbox over HTTP answers as the catalogue promises, through the real HTTP connector.

use nhiguard_domain::catalogue::{SEED_OPERATIONS, SubjectCondition};
use nhiguard_nhi::{Connector, LookupAnswer, NhiError, SandboxConnector, Subject};

use crate::support::{config, connector, known, req, start};

#[tokio::test]
async fn every_operation_answers_the_fields_the_catalogue_promises() {
    let sb = start().await;
    let http = connector(config(&sb.handle.endpoint()));
    let direct = SandboxConnector::new(sb.data.clone());
    let person = sb.data.people().iter().find(|p| p.visits.len() >= 2).unwrap();
    for op in SEED_OPERATIONS {
        let subject = if op.conditions.contains(&SubjectCondition::NationalId) {
            Subject::NationalId(person.national_id.clone())
        } else {
            Subject::NameBirthDate { name: person.name.clone(), birth_date: person.birth_date }
        };
        let answer = http.lookup(&req(op.code, subject.clone())).await.unwrap();
        let LookupAnswer::Found(records) = &answer else { panic!("{}: {answer:?}", op.code) };
        assert!(!records.is_empty(), "{}", op.code);
        for r in records {
            assert_eq!(r.field_codes(), op.results.to_vec(), "{}", op.code);
        }
        // Over HTTP exactly what the sandbox answers in-process.
        assert_eq!(answer, direct.lookup(&req(op.code, subject)).await.unwrap(), "{}", op.code);
    }
    assert_eq!(sb.faults.requests_seen(), SEED_OPERATIONS.len() as u64);
}

#[tokio::test]
async fn an_id_not_in_the_population_is_not_found() {
    let sb = start().await;
    let http = connector(config(&sb.handle.endpoint()));
    let answer = http.lookup(&req("INS01", Subject::NationalId(sb.data.absent_id()))).await.unwrap();
    assert_eq!(answer, LookupAnswer::NotFound);
}

#[tokio::test]
async fn an_unknown_operation_is_rejected_with_nhias_code() {
    let sb = start().await;
    let http = connector(config(&sb.handle.endpoint()));
    let err = http.lookup(&req("TAX99", known(&sb.data))).await.unwrap_err();
    assert!(matches!(&err, NhiError::Rejected { code, .. } if code == "E_OPERATION"), "{err:?}");
    assert!(!err.retry_safe());
    let err = http.lookup(&req("ADR02", known(&sb.data))).await.unwrap_err();
    assert!(matches!(&err, NhiError::Rejected { code, .. } if code == "E_CONDITION"), "{err:?}");
}

#[tokio::test]
async fn a_wrong_credential_is_a_config_error() {
    let sb = start().await;
    let mut c = config(&sb.handle.endpoint());
    c.credential = "not-the-credential".into();
    let err = connector(c).lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(&err, NhiError::Config { setting, .. } if setting == "credential"), "{err:?}");
    assert!(err.to_string().contains("credential refused"), "{err}");
}

#[tokio::test]
async fn a_wrong_endpoint_path_is_a_config_error() {
    let sb = start().await;
    let err = connector(config(&format!("{}/wrong-prefix", sb.handle.endpoint())))
        .lookup(&req("INS01", known(&sb.data)))
        .await
        .unwrap_err();
    assert!(matches!(&err, NhiError::Config { setting, .. } if setting == "endpoint"), "{err:?}");
}

#[tokio::test]
async fn requests_of_the_wrong_shape_are_refused_by_the_sandbox() {
    let sb = start().await;
    let url = format!("{}/nhi/v1/lookup", sb.handle.endpoint());
    let (status, body) = raw_post(&url, Some(crate::support::CREDENTIAL), "{\"request_id\":\"x\"}").await;
    assert_eq!(status, 400);
    assert!(body.contains("E_REQUEST"), "{body}");
    let bad_id = r#"{"request_id":"x","operation":"INS01","subject":{"national_id":"A123456788"}}"#;
    let (status, body) = raw_post(&url, Some(crate::support::CREDENTIAL), bad_id).await;
    assert_eq!(status, 400);
    assert!(body.contains("E_SUBJECT") && !body.contains("A123456788"), "{body}");
    let (status, _) = raw_post(&url, None, bad_id).await;
    assert_eq!(status, 401);
}

/// A bare HTTP/1.1 POST over a (blocking, std) TCP socket, to send what the connector never would.
async fn raw_post(url: &str, token: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap().to_owned();
    let (host, path) = rest.split_once('/').map(|(h, p)| (h.to_owned(), p.to_owned())).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let msg = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        s.write_all(msg.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out)
}
