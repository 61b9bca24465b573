//! Embedded migrations, run at start-up, one transaction each, the version recorded in
//! `nhiguard_schema`. A database whose schema is newer than this binary is refused rather than
//! used: an older binary cannot know what a newer schema means. Landed migrations are never edited.

use sqlx::{AssertSqlSafe, Executor, Row};

use crate::{Backend, Db, Result, StoreError};

/// One schema step: SQL both dialects share (with placeholders), and what only one of them needs.
struct Migration {
    version: i64,
    name: &'static str,
    common: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        common: include_str!("migrations/0001_foundation.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 2,
        name: "ledger",
        common: include_str!("migrations/0002_ledger.sql"),
        sqlite: include_str!("migrations/0002_ledger.sqlite.sql"),
        postgres: include_str!("migrations/0002_ledger.postgres.sql"),
    },
    Migration {
        version: 3,
        name: "gateway",
        common: include_str!("migrations/0003_gateway.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 4,
        name: "governance",
        common: include_str!("migrations/0004_governance.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 5,
        name: "batches",
        common: include_str!("migrations/0005_batches.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 6,
        name: "reviews",
        common: include_str!("migrations/0006_reviews.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 7,
        name: "investigations",
        common: include_str!("migrations/0007_investigations.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 8,
        name: "case_patterns",
        common: include_str!("migrations/0008_case_patterns.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 9,
        name: "result_shares",
        common: include_str!("migrations/0009_result_shares.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 10,
        name: "account_reviews",
        common: include_str!("migrations/0010_account_reviews.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 11,
        name: "disable_proposals",
        common: include_str!("migrations/0011_disable_proposals.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 12,
        name: "session_alerts",
        common: include_str!("migrations/0012_session_alerts.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration { version: 13, name: "totp", common: include_str!("migrations/0013_totp.sql"), sqlite: "", postgres: "" },
    Migration {
        version: 14,
        name: "person_email",
        common: include_str!("migrations/0014_person_email.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 15,
        name: "review_settings",
        common: include_str!("migrations/0015_review_settings.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 16,
        name: "calendar",
        common: include_str!("migrations/0016_calendar.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 17,
        name: "review_snapshot",
        common: include_str!("migrations/0017_review_snapshot.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 18,
        name: "ledger_nodes",
        common: include_str!("migrations/0018_ledger_nodes.sql"),
        sqlite: include_str!("migrations/0018_ledger_nodes.sqlite.sql"),
        postgres: include_str!("migrations/0018_ledger_nodes.postgres.sql"),
    },
    Migration {
        version: 19,
        name: "reference_generation",
        common: include_str!("migrations/0019_reference_generation.sql"),
        sqlite: include_str!("migrations/0019_reference_generation.sqlite.sql"),
        postgres: include_str!("migrations/0019_reference_generation.postgres.sql"),
    },
    Migration {
        version: 20,
        name: "ledger_search",
        common: "",
        sqlite: "",
        postgres: include_str!("migrations/0020_ledger_search.postgres.sql"),
    },
    Migration {
        version: 21,
        name: "ledger_tiles",
        common: include_str!("migrations/0021_ledger_tiles.sql"),
        sqlite: include_str!("migrations/0021_ledger_tiles.sqlite.sql"),
        postgres: include_str!("migrations/0021_ledger_tiles.postgres.sql"),
    },
    Migration {
        version: 22,
        name: "ledger_verifications",
        common: include_str!("migrations/0022_ledger_verifications.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 23,
        name: "batch_lease",
        common: include_str!("migrations/0023_batch_lease.sql"),
        sqlite: "",
        postgres: "",
    },
    Migration {
        version: 24,
        name: "batch_attached",
        common: include_str!("migrations/0024_batch_attached.sql"),
        sqlite: "",
        postgres: "",
    },
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 24;

fn dialect(sql: &str, backend: Backend) -> String {
    let (id, blob) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Backend::Postgres => ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BYTEA"),
    };
    sql.replace("{{ID}}", id).replace("{{BLOB}}", blob)
}

impl Db {
    /// Applies the migrations this database lacks.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool().acquire().await.map_err(StoreError::unavailable)?;
        if self.backend() == Backend::Postgres {
            // Several nhiguard processes may start at once against one PostgreSQL.
            conn.execute("SELECT pg_advisory_lock(4841021)").await?;
        }
        let result = async {
            conn.execute(
                "CREATE TABLE IF NOT EXISTS nhiguard_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .await?;
            let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM nhiguard_schema")
                .fetch_one(&mut *conn)
                .await?
                .try_get("v")?;
            if current > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew { found: current, known: SCHEMA_VERSION });
            }
            for m in MIGRATIONS.iter().filter(|m| m.version > current) {
                let (version, name) = (m.version, m.name);
                let own = match self.backend() {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                let sql = format!("{}\n{own}", dialect(m.common, self.backend()));
                let begin = if self.backend() == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
                conn.execute(begin).await?;
                // Another process starting on the same SQLite file may have applied it since the
                // version was read (SQLite has no lock to take before: BEGIN IMMEDIATE is the lock).
                let done = sqlx::query("SELECT 1 AS one FROM nhiguard_schema WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *conn)
                    .await;
                match done {
                    Ok(Some(_)) => {
                        conn.execute("COMMIT").await?;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        conn.execute("ROLLBACK").await.ok();
                        return Err(e.into());
                    }
                }
                let step = async {
                    conn.execute(AssertSqlSafe(sql.as_str())).await?;
                    sqlx::query("INSERT INTO nhiguard_schema (version, name, applied_at) VALUES ($1, $2, $3)")
                        .bind(version)
                        .bind(name)
                        .bind(crate::micros(chrono::Utc::now()))
                        .execute(&mut *conn)
                        .await?;
                    Ok::<_, StoreError>(())
                }
                .await;
                match step {
                    Ok(()) => {
                        conn.execute("COMMIT").await?;
                        tracing::info!(version, name, "database migrated");
                    }
                    Err(e) => {
                        conn.execute("ROLLBACK").await.ok();
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
        .await;
        if self.backend() == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(4841021)").await.ok();
        }
        result
    }

    /// The schema version recorded in the database (0 for an empty one).
    pub async fn schema_version(&self) -> Result<i64> {
        let v: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM nhiguard_schema")
            .fetch_one(self.pool())
            .await?
            .try_get("v")?;
        Ok(v)
    }
}
