//! The circuit breaker opens after the threshold, fails fast without contacting NHIA, and
//! half-opens after the cool-down.

use std::time::Duration;

use nhiguard_nhi::{BreakerState, Connector, HttpConnectorConfig, NhiError};

use crate::support::{config, connector, known, req, start};

#[tokio::test]
async fn opens_fails_fast_then_half_opens_and_closes() {
    let sb = start().await;
    sb.faults.unavailable_next(3);
    let c = connector(HttpConnectorConfig {
        breaker_threshold: 3,
        breaker_cool_down: Duration::from_millis(400),
        ..config(&sb.handle.endpoint())
    });
    let subject = known(&sb.data);
    for _ in 0..3 {
        assert!(matches!(c.lookup(&req("INS01", subject.clone())).await, Err(NhiError::Unavailable { .. })));
    }
    assert_eq!(c.breaker_state(), BreakerState::Open);
    assert_eq!(sb.faults.requests_seen(), 3);

    let err = c.lookup(&req("INS01", subject.clone())).await.unwrap_err();
    assert!(
        matches!(&err, NhiError::Unavailable { detail, may_have_answered: false } if detail.contains("circuit")),
        "{err:?}"
    );
    assert_eq!(sb.faults.requests_seen(), 3, "an open breaker does not contact NHIA");

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(c.breaker_state(), BreakerState::HalfOpen);
    assert!(c.lookup(&req("INS01", subject)).await.is_ok());
    assert_eq!(sb.faults.requests_seen(), 4);
    assert_eq!(c.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_failed_trial_opens_it_again_and_timeouts_count() {
    let sb = start().await;
    sb.faults.set_delay(Some(Duration::from_millis(300)));
    let c = connector(HttpConnectorConfig {
        request_timeout: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(100),
        breaker_threshold: 1,
        breaker_cool_down: Duration::from_millis(400),
        ..config(&sb.handle.endpoint())
    });
    let subject = known(&sb.data);
    assert!(matches!(c.lookup(&req("INS01", subject.clone())).await, Err(NhiError::Timeout { .. })));
    assert_eq!(c.breaker_state(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(450)).await;
    // The trial times out as well: open again, without a second request slipping through.
    assert!(matches!(c.lookup(&req("INS01", subject.clone())).await, Err(NhiError::Timeout { .. })));
    assert_eq!(c.breaker_state(), BreakerState::Open);
    assert!(matches!(c.lookup(&req("INS01", subject)).await, Err(NhiError::Unavailable { .. })));
    assert_eq!(sb.faults.requests_seen(), 2);
}

#[tokio::test]
async fn rejections_do_not_open_the_breaker() {
    let sb = start().await;
    let c = connector(HttpConnectorConfig { breaker_threshold: 2, ..config(&sb.handle.endpoint()) });
    for _ in 0..4 {
        assert!(matches!(c.lookup(&req("NOPE1", known(&sb.data))).await, Err(NhiError::Rejected { .. })));
    }
    assert_eq!(c.breaker_state(), BreakerState::Closed);
}
