//! The store's one error type. It never carries row contents, only what kind of failure it was,
//! so that it can be logged safely.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite:// or postgres://")]
    BadUrl,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(
        "the database schema is version {found}, newer than this program knows ({known}); upgrade nhiguard before using this database"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    #[error("record not found")]
    NotFound,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The store's own SQLite connection refused a row (a constraint or a guard trigger): the data,
    /// not the database, is what failed.
    #[error("database error: {0}")]
    Refused(String),
}

impl StoreError {
    pub(crate) fn unavailable(e: sqlx::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }

    /// Maps a unique-constraint violation to [`StoreError::Conflict`] naming what collided.
    pub(crate) fn conflict_on(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match e.as_database_error() {
            Some(d) if d.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::from(e),
        }
    }
}

/// The store's own SQLite connections (long reads, group appends) fail as the database does: a
/// refused row as the data's failure, anything else as the database being unavailable.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation | rusqlite::ErrorCode::TypeMismatch) => {
                StoreError::Refused(format!("sqlite: {e}"))
            }
            _ => StoreError::Unavailable(format!("sqlite: {e}")),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e.to_string())
            }
            // PostgreSQL gave up waiting for a lock (`lock_timeout`) or ended a statement that ran too
            // long: the database is busy elsewhere, not wrong.
            ref db if db.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "55P03" || c == "57014") => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// A row the database refuses is the data's failure — the ledger writer then writes the other
    /// requests of its group one by one — while a full disk or a locked file is the database's, which
    /// fails the whole group at once and loudly (R-LOG-2).
    #[test]
    fn r_log_2_a_refused_row_is_told_apart_from_an_unavailable_database() {
        assert!(matches!(
            StoreError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)),
            StoreError::Refused(_)
        ));
        assert!(matches!(StoreError::from(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER)), StoreError::Refused(_)));
        assert!(matches!(StoreError::from(sqlite(rusqlite::ffi::SQLITE_FULL)), StoreError::Unavailable(_)));
        assert!(matches!(StoreError::from(sqlite(rusqlite::ffi::SQLITE_BUSY)), StoreError::Unavailable(_)));
        assert!(matches!(StoreError::from(sqlite(rusqlite::ffi::SQLITE_IOERR)), StoreError::Unavailable(_)));
    }
}
