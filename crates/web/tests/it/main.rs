//! The integration suite: the real server on a random port, over SQLite by default and over
//! PostgreSQL when `NHIGUARD_TEST_DATABASE_URL` is set (CI runs it both ways).

// A test that cannot set up or whose expectation fails should stop at once, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod account_review;
mod auth;
mod batch;
mod catalogue;
mod gateway;
mod governance;
mod investigation;
mod ledger;
mod pages;
mod review;
mod support;
