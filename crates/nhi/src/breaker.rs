//! The circuit breaker of the HTTP connector: after `threshold` consecutive attempts that ended in
//! Unavailable or Timeout, it fails fast for `cool_down` without contacting NHIA, then lets one
//! trial attempt through (half-open); the trial's outcome closes or re-opens it.
//!
//! It counts outcomes only; it never sees a request or an answer.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::NhiError;

/// The breaker's state, for health pages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Failing fast until the cool-down ends.
    Open,
    /// The cool-down is over: the next attempt is a trial.
    HalfOpen,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    /// 0 turns the breaker off.
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

/// Leave to make one attempt; report its outcome with `record`. Dropped without a verdict (the
/// caller gave up), a trial simply frees the half-open slot.
#[must_use]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    trial: bool,
    done: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self { threshold, cool_down, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state(&self) -> BreakerState {
        let s = self.lock();
        match s.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    pub(crate) fn admit(&self) -> Result<Permit<'_>, NhiError> {
        if self.threshold == 0 {
            return Ok(Permit { breaker: self, trial: false, done: false });
        }
        let mut s = self.lock();
        let Some(until) = s.open_until else {
            return Ok(Permit { breaker: self, trial: false, done: false });
        };
        let now = Instant::now();
        if now < until {
            let left = until.saturating_duration_since(now).as_millis();
            return Err(NhiError::unavailable(
                format!(
                    "circuit breaker open after {} failures in a row; next trial in {left} ms",
                    s.consecutive_failures
                ),
                false,
            ));
        }
        if s.trial_in_flight {
            return Err(NhiError::unavailable("circuit breaker half-open: a trial lookup is in flight", false));
        }
        s.trial_in_flight = true;
        Ok(Permit { breaker: self, trial: true, done: false })
    }
}

impl Permit<'_> {
    /// `failed`: the attempt ended in Unavailable or Timeout. Any answer from NHIA, even a
    /// rejection, shows the service is up.
    pub(crate) fn record(mut self, failed: bool) {
        self.done = true;
        let b = self.breaker;
        if b.threshold == 0 {
            return;
        }
        let mut s = b.lock();
        if self.trial {
            s.trial_in_flight = false;
        }
        if failed {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            if self.trial || s.consecutive_failures >= b.threshold {
                s.open_until = Some(Instant::now() + b.cool_down);
                if !self.trial {
                    tracing::warn!(
                        failures = s.consecutive_failures,
                        cool_down_ms = b.cool_down.as_millis() as u64,
                        "NHIA connector: circuit breaker opened"
                    );
                }
            }
        } else {
            if s.open_until.is_some() {
                tracing::info!("NHIA connector: circuit breaker closed");
            }
            *s = State::default();
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.trial {
            self.breaker.lock().trial_in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_half_opens() {
        let b = Breaker::new(2, Duration::from_millis(30));
        b.admit().unwrap().record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        b.admit().unwrap().record(true);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let trial = b.admit().unwrap();
        assert!(b.admit().is_err(), "only one trial at a time");
        trial.record(true);
        assert_eq!(b.state(), BreakerState::Open, "a failed trial re-opens");
        std::thread::sleep(Duration::from_millis(40));
        b.admit().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot_and_success_resets_the_count() {
        let b = Breaker::new(1, Duration::from_millis(1));
        b.admit().unwrap().record(true);
        std::thread::sleep(Duration::from_millis(5));
        drop(b.admit().unwrap());
        assert!(b.admit().is_ok());

        let b = Breaker::new(3, Duration::from_secs(60));
        b.admit().unwrap().record(true);
        b.admit().unwrap().record(true);
        b.admit().unwrap().record(false);
        b.admit().unwrap().record(true);
        b.admit().unwrap().record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            b.admit().unwrap().record(true);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
