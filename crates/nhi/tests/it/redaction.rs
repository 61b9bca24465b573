//! Nothing personal and no credential in `Debug`, `Display`, or the connector's log lines.

use std::time::Duration;

use crate::support::{CREDENTIAL, capture, config, connector, data, req, start};
use nhiguard_nhi::{Connector, HttpConnectorConfig, LookupAnswer, NhiError, Subject};

#[tokio::test]
async fn no_id_name_or_credential_in_debug_display_or_logs() {
    let sb = start().await;
    let person = sb.data.people().iter().find(|p| !p.visits.is_empty()).unwrap();
    let id = Subject::NationalId(person.national_id.clone());
    let by_name = Subject::NameBirthDate { name: person.name.clone(), birth_date: person.birth_date };
    let base = HttpConnectorConfig { retries: 1, breaker_threshold: 2, ..config(&sb.handle.endpoint()) };
    let c = connector(base.clone());

    let mut seen: Vec<String> = vec![format!("{base:?}"), format!("{c:?}"), format!("{:?}", sb.data)];
    let mut errors: Vec<NhiError> = Vec::new();

    for (op, subject) in [("INS01", &id), ("ADR01", &id), ("ADR02", &by_name), ("VIS01", &id)] {
        let r = req(op, subject.clone());
        let answer = c.lookup(&r).await.unwrap();
        assert!(matches!(&answer, LookupAnswer::Found(v) if !v.is_empty()));
        seen.push(format!("{r:?} {answer:?}"));
    }
    errors.push(c.lookup(&req("NOPE1", id.clone())).await.unwrap_err());
    sb.faults.garbage_next(1);
    errors.push(c.lookup(&req("INS01", id.clone())).await.unwrap_err());
    sb.faults.unavailable_next(4);
    errors.push(c.lookup(&req("INS01", id.clone())).await.unwrap_err());
    errors.push(c.lookup(&req("INS01", id.clone())).await.unwrap_err()); // breaker open
    let slow = connector(HttpConnectorConfig {
        request_timeout: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(50),
        ..base.clone()
    });
    sb.faults.clear();
    sb.faults.set_delay(Some(Duration::from_millis(150)));
    errors.push(slow.lookup(&req("INS01", by_name.clone())).await.unwrap_err());
    sb.faults.clear();
    let wrong = connector(HttpConnectorConfig { credential: "wrong-credential-1234".into(), ..base.clone() });
    errors.push(wrong.lookup(&req("INS01", id.clone())).await.unwrap_err());
    errors.push(nhiguard_nhi::HttpConnector::new(HttpConnectorConfig { retries: 99, ..base }).unwrap_err());

    let kinds: Vec<&str> = errors.iter().map(NhiError::code).collect();
    for kind in ["NHI-REJECTED", "NHI-BAD-ANSWER", "NHI-UNAVAILABLE", "NHI-TIMEOUT", "NHI-CONFIG"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for e in &errors {
        seen.push(format!("{e:?}"));
        seen.push(e.to_string());
        seen.push(e.detail());
    }
    // Every test's log lines so far, not only this one's.
    let logs = capture().text();
    assert!(logs.contains("NHIA lookup attempt failed"), "the capture works: {logs}");
    for p in data().people() {
        assert!(!logs.contains(p.national_id.expose()) && !logs.contains(&p.name), "personal data in the log: {logs}");
    }
    seen.push(logs);

    let whole_id = person.national_id.expose();
    for text in &seen {
        assert!(!text.contains(whole_id), "national ID leaked: {text}");
        assert!(!text.contains(&person.name), "name leaked: {text}");
        assert!(!text.contains(&person.contact_address), "address leaked: {text}");
        assert!(!text.contains(&person.birth_date.to_string()), "birth date leaked: {text}");
        assert!(!text.contains(CREDENTIAL), "credential leaked: {text}");
        assert!(!text.contains("wrong-credential-1234"), "credential leaked: {text}");
    }
}
