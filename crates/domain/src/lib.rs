//! The rules of nhiguard, with no I/O and no async: the organisation tree, roles and who may do
//! what where, the purpose catalogue, people and their ranks, validated identifiers, ROC dates and
//! the clock. Everything here is plain data and pure functions so that it can be tested exhaustively;
//! this crate must never touch a database, a file, the network or the system clock directly.

pub mod access;
pub mod account;
pub mod account_review;
pub mod calendar;
pub mod catalogue;
pub mod clock;
pub mod error;
pub mod ids;
pub mod investigation;
pub mod national_id;
pub mod org;
pub mod password;
pub mod person;
pub mod query;
pub mod review;
pub mod risk;
pub mod roc;
pub mod role;
pub mod totp;

pub use error::{DomainError, Field};
