//! Timeouts, retries and faults: a lookup is repeated only where it certainly did not reach NHIA.

use std::time::Duration;

use nhiguard_nhi::{Connector, HttpConnectorConfig, LookupAnswer, NhiError};

use crate::support::{closed_port, config, connector, known, req, start};

#[tokio::test]
async fn a_timeout_is_reported_and_never_retried() {
    let sb = start().await;
    sb.faults.set_delay(Some(Duration::from_millis(600)));
    let c = connector(HttpConnectorConfig {
        request_timeout: Duration::from_millis(150),
        connect_timeout: Duration::from_millis(150),
        retries: 3,
        ..config(&sb.handle.endpoint())
    });
    let err = c.lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(err, NhiError::Timeout { after_ms: 150 }), "{err:?}");
    assert!(!err.retry_safe());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sb.faults.requests_seen(), 1, "a timed-out lookup must not be sent again");
}

#[tokio::test]
async fn two_503s_then_success_with_three_retries() {
    let sb = start().await;
    sb.faults.unavailable_next(2);
    let c = connector(HttpConnectorConfig { retries: 3, ..config(&sb.handle.endpoint()) });
    let answer = c.lookup(&req("ADR01", known(&sb.data))).await.unwrap();
    assert!(matches!(answer, LookupAnswer::Found(ref r) if r.len() == 1), "{answer:?}");
    assert_eq!(sb.faults.requests_seen(), 3);
}

#[tokio::test]
async fn retries_run_out_on_a_lasting_503() {
    let sb = start().await;
    sb.faults.unavailable_next(10);
    let c = connector(HttpConnectorConfig { retries: 2, ..config(&sb.handle.endpoint()) });
    let err = c.lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(err, NhiError::Unavailable { .. }) && err.retry_safe(), "{err:?}");
    assert_eq!(sb.faults.requests_seen(), 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_request_timeout_ends_the_retries() {
    let sb = start().await;
    sb.faults.unavailable_next(5);
    sb.faults.set_retry_after(60);
    let c = connector(HttpConnectorConfig { retries: 3, ..config(&sb.handle.endpoint()) });
    let err = c.lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(err, NhiError::Unavailable { .. }), "{err:?}");
    assert_eq!(sb.faults.requests_seen(), 1);
}

#[tokio::test]
async fn garbage_is_a_bad_answer_and_not_retried() {
    let sb = start().await;
    sb.faults.garbage_next(1);
    let c = connector(HttpConnectorConfig { retries: 3, ..config(&sb.handle.endpoint()) });
    let err = c.lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(err, NhiError::BadAnswer { .. }), "{err:?}");
    assert_eq!(sb.faults.requests_seen(), 1);
}

#[tokio::test]
async fn a_connection_closed_without_answer_is_not_retried() {
    let sb = start().await;
    sb.faults.drop_next(1);
    let c = connector(HttpConnectorConfig { retries: 3, ..config(&sb.handle.endpoint()) });
    let err = c.lookup(&req("INS01", known(&sb.data))).await.unwrap_err();
    assert!(matches!(err, NhiError::Unavailable { may_have_answered: true, .. }), "{err:?}");
    assert!(!err.retry_safe(), "NHIA may have answered: a batch must not send it again");
    assert_eq!(sb.faults.requests_seen(), 1, "the request may have reached NHIA: never repeated");
    // The next lookup opens a fresh connection and works.
    assert!(c.lookup(&req("INS01", known(&sb.data))).await.is_ok());
}

#[tokio::test]
async fn connection_refused_is_unavailable_and_retry_safe() {
    let addr = closed_port().await;
    let c = connector(HttpConnectorConfig { retries: 2, ..config(&format!("http://{addr}")) });
    let err = c.lookup(&req("INS01", known(&crate::support::data()))).await.unwrap_err();
    assert!(matches!(err, NhiError::Unavailable { may_have_answered: false, .. }), "{err:?}");
    assert!(err.retry_safe());
    assert!(err.to_string().contains("健保署系統暫時無法連線"), "{err}");
}

#[tokio::test]
async fn many_concurrent_lookups_share_the_pool() {
    let sb = start().await;
    let c = std::sync::Arc::new(connector(config(&sb.handle.endpoint())));
    let ids = sb.data.sample_ids(50);
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let c = c.clone();
        tasks.spawn(async move { c.lookup(&req("INS01", nhiguard_nhi::Subject::NationalId(id))).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert!(matches!(r.unwrap().unwrap(), LookupAnswer::Found(_)));
    }
    assert_eq!(sb.faults.requests_seen(), 50);
}
