//! Integration tests of the NHIA connector against the sandbox NHIA served over HTTP(S) on
//! 127.0.0.1:0. Durations are short (a few hundred ms at most) and nothing asserts a timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod breaker;
mod data;
mod redaction;
mod resilience;
mod sandbox_http;
mod support;
mod tls;
