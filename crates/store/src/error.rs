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

/// The store's own SQLite connections (long reads, group appends) fail as the database does.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(format!("sqlite: {e}"))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}
