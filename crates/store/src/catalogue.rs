//! Purposes, operations and linkages, with every change kept in `catalogue_history` in the same
//! transaction as the change itself (R-PUR-2, R-X-6).

use nhiguard_domain::catalogue::{Linkage, Operation, Purpose, ResultField, Status, SubjectCondition};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx, micros};

type Time = chrono::DateTime<chrono::Utc>;

#[derive(Debug, Clone)]
pub struct NewPurpose {
    pub number: i64,
    pub name_zh: String,
    pub name_en: String,
    pub legal_basis: String,
    pub nhia_approval_ref: String,
    pub nhia_approval_date: Option<chrono::NaiveDate>,
    pub status: Status,
}

#[derive(Debug, Clone)]
pub struct NewOperation {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub conditions: Vec<SubjectCondition>,
    pub results: Vec<ResultField>,
}

#[derive(Debug, Clone)]
pub struct NewLinkage {
    pub agency_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
    pub nhia_approval_ref: String,
    pub nhia_approval_date: Option<chrono::NaiveDate>,
}

/// One row of the catalogue's history.
#[derive(Debug, Clone)]
pub struct CatalogueChange {
    pub at: Time,
    pub actor_account_id: Option<i64>,
    pub entity: String,
    pub entity_id: i64,
    pub action: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn status(r: &AnyRow) -> Result<Status> {
    Status::from_code(&r.try_get::<String, _>("status")?).ok_or_else(|| corrupt("status"))
}

fn date(r: &AnyRow, col: &str) -> Result<Option<chrono::NaiveDate>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| s.parse::<chrono::NaiveDate>().map_err(|_| corrupt("date")))
        .transpose()
}

fn codes<T>(s: &str, from: fn(&str) -> Option<T>) -> Result<Vec<T>> {
    s.split(',').filter(|c| !c.is_empty()).map(|c| from(c).ok_or_else(|| corrupt("code list"))).collect()
}

fn join_codes<T: Copy>(v: &[T], code: fn(T) -> &'static str) -> String {
    v.iter().map(|x| code(*x)).collect::<Vec<_>>().join(",")
}

fn purpose(r: &AnyRow) -> Result<Purpose> {
    Ok(Purpose {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        name_zh: r.try_get("name_zh")?,
        name_en: r.try_get("name_en")?,
        legal_basis: r.try_get("legal_basis")?,
        nhia_approval_ref: r.try_get("nhia_approval_ref")?,
        nhia_approval_date: date(r, "nhia_approval_date")?,
        status: status(r)?,
    })
}

fn operation(r: &AnyRow) -> Result<Operation> {
    Ok(Operation {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        name_zh: r.try_get("name_zh")?,
        name_en: r.try_get("name_en")?,
        conditions: codes(&r.try_get::<String, _>("conditions")?, SubjectCondition::from_code)?,
        results: codes(&r.try_get::<String, _>("results")?, ResultField::from_code)?,
        status: status(r)?,
    })
}

fn linkage(r: &AnyRow) -> Result<Linkage> {
    Ok(Linkage {
        id: r.try_get("id")?,
        agency_id: r.try_get("agency_id")?,
        purpose_id: r.try_get("purpose_id")?,
        operation_id: r.try_get("operation_id")?,
        nhia_approval_ref: r.try_get("nhia_approval_ref")?,
        nhia_approval_date: date(r, "nhia_approval_date")?,
        status: status(r)?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}

/// The table and history name of each catalogue entity; fixed strings, never user input.
#[derive(Debug, Clone, Copy)]
enum Entity {
    Purpose,
    Operation,
    Linkage,
}

impl Entity {
    fn table(self) -> &'static str {
        match self {
            Entity::Purpose => "purposes",
            Entity::Operation => "operations",
            Entity::Linkage => "linkages",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Entity::Purpose => "purpose",
            Entity::Operation => "operation",
            Entity::Linkage => "linkage",
        }
    }
}

/// What one history row says: which record, what happened, by whom, and the values around it.
struct History<'a> {
    entity: Entity,
    id: i64,
    action: &'a str,
    actor: Option<i64>,
    at: Time,
    before: Option<String>,
    after: Option<String>,
}

async fn history(conn: &mut sqlx::AnyConnection, h: History<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO catalogue_history (at, actor_account_id, entity, entity_id, action, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(micros(h.at))
    .bind(h.actor)
    .bind(h.entity.name())
    .bind(h.id)
    .bind(h.action)
    .bind(h.before)
    .bind(h.after)
    .execute(conn)
    .await?;
    Ok(())
}

impl Db {
    /// The reference data's generation: it changes, in the same transaction, with every change to
    /// the org tree, purposes, operations, linkages or case-number formats (migration 0019).
    pub async fn reference_generation(&self) -> Result<i64> {
        let r = sqlx::query("SELECT n FROM reference_generation WHERE id = 1").fetch_one(self.pool()).await?;
        Ok(r.try_get("n")?)
    }

    /// Every agency's case-number format: (agency, pattern).
    pub async fn case_patterns(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT agency_id, pattern FROM case_patterns").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok((r.try_get("agency_id")?, r.try_get("pattern")?))).collect()
    }

    pub async fn purposes(&self) -> Result<Vec<Purpose>> {
        let rows = sqlx::query("SELECT * FROM purposes ORDER BY number").fetch_all(self.pool()).await?;
        rows.iter().map(purpose).collect()
    }

    pub async fn purpose(&self, id: i64) -> Result<Purpose> {
        purpose(&sqlx::query("SELECT * FROM purposes WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    pub async fn operations(&self) -> Result<Vec<Operation>> {
        let rows = sqlx::query("SELECT * FROM operations ORDER BY code").fetch_all(self.pool()).await?;
        rows.iter().map(operation).collect()
    }

    pub async fn operation(&self, id: i64) -> Result<Operation> {
        operation(&sqlx::query("SELECT * FROM operations WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    /// All linkages, or those of one agency.
    pub async fn linkages(&self, agency_id: Option<i64>) -> Result<Vec<Linkage>> {
        let rows = match agency_id {
            Some(a) => {
                sqlx::query("SELECT * FROM linkages WHERE agency_id = $1 ORDER BY purpose_id, operation_id")
                    .bind(a)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM linkages ORDER BY agency_id, purpose_id, operation_id")
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(linkage).collect()
    }

    pub async fn linkage(&self, id: i64) -> Result<Linkage> {
        linkage(&sqlx::query("SELECT * FROM linkages WHERE id = $1").bind(id).fetch_one(self.pool()).await?)
    }

    /// The history of one catalogue record, oldest first.
    pub async fn catalogue_history(&self, entity: &str, id: i64) -> Result<Vec<CatalogueChange>> {
        let rows = sqlx::query(
            "SELECT at, actor_account_id, entity, entity_id, action, before_json, after_json FROM catalogue_history \
             WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        )
        .bind(entity)
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CatalogueChange {
                    at: crate::from_micros(r.try_get("at")?),
                    actor_account_id: r.try_get("actor_account_id")?,
                    entity: r.try_get("entity")?,
                    entity_id: r.try_get("entity_id")?,
                    action: r.try_get("action")?,
                    before_json: r.try_get("before_json")?,
                    after_json: r.try_get("after_json")?,
                })
            })
            .collect()
    }
}

impl Tx {
    pub async fn insert_purpose(&mut self, p: &NewPurpose, actor: Option<i64>, at: Time) -> Result<Purpose> {
        let row = sqlx::query(
            "INSERT INTO purposes (number, name_zh, name_en, legal_basis, nhia_approval_ref, nhia_approval_date, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *",
        )
        .bind(p.number)
        .bind(&p.name_zh)
        .bind(&p.name_en)
        .bind(&p.legal_basis)
        .bind(&p.nhia_approval_ref)
        .bind(p.nhia_approval_date.map(|d| d.to_string()))
        .bind(p.status.code())
        .bind(micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("purpose number"))?;
        let created = purpose(&row)?;
        history(
            self.conn(),
            History {
                entity: Entity::Purpose,
                id: created.id,
                action: "create",
                actor,
                at,
                before: None,
                after: json(&created),
            },
        )
        .await?;
        Ok(created)
    }

    /// Replaces a purpose's editable fields (the number stays).
    pub async fn update_purpose(&mut self, id: i64, p: &NewPurpose, actor: Option<i64>, at: Time) -> Result<Purpose> {
        let before =
            purpose(&sqlx::query("SELECT * FROM purposes WHERE id = $1").bind(id).fetch_one(self.conn()).await?)?;
        let row = sqlx::query(
            "UPDATE purposes SET name_zh = $1, name_en = $2, legal_basis = $3, nhia_approval_ref = $4, \
             nhia_approval_date = $5, updated_at = $6 WHERE id = $7 RETURNING *",
        )
        .bind(&p.name_zh)
        .bind(&p.name_en)
        .bind(&p.legal_basis)
        .bind(&p.nhia_approval_ref)
        .bind(p.nhia_approval_date.map(|d| d.to_string()))
        .bind(micros(at))
        .bind(id)
        .fetch_one(self.conn())
        .await?;
        let after = purpose(&row)?;
        history(
            self.conn(),
            History {
                entity: Entity::Purpose,
                id,
                action: "update",
                actor,
                at,
                before: json(&before),
                after: json(&after),
            },
        )
        .await?;
        Ok(after)
    }

    pub async fn insert_operation(&mut self, o: &NewOperation, actor: Option<i64>, at: Time) -> Result<Operation> {
        let row = sqlx::query(
            "INSERT INTO operations (code, name_zh, name_en, conditions, results, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6) RETURNING *",
        )
        .bind(&o.code)
        .bind(&o.name_zh)
        .bind(&o.name_en)
        .bind(join_codes(&o.conditions, SubjectCondition::code))
        .bind(join_codes(&o.results, ResultField::code))
        .bind(micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("operation code"))?;
        let created = operation(&row)?;
        history(
            self.conn(),
            History {
                entity: Entity::Operation,
                id: created.id,
                action: "create",
                actor,
                at,
                before: None,
                after: json(&created),
            },
        )
        .await?;
        Ok(created)
    }

    pub async fn insert_linkage(&mut self, l: &NewLinkage, actor: Option<i64>, at: Time) -> Result<Linkage> {
        let row = sqlx::query(
            "INSERT INTO linkages (agency_id, purpose_id, operation_id, nhia_approval_ref, nhia_approval_date, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $6) RETURNING *",
        )
        .bind(l.agency_id)
        .bind(l.purpose_id)
        .bind(l.operation_id)
        .bind(&l.nhia_approval_ref)
        .bind(l.nhia_approval_date.map(|d| d.to_string()))
        .bind(micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("agency, purpose and operation"))?;
        let created = linkage(&row)?;
        history(
            self.conn(),
            History {
                entity: Entity::Linkage,
                id: created.id,
                action: "create",
                actor,
                at,
                before: None,
                after: json(&created),
            },
        )
        .await?;
        Ok(created)
    }

    async fn set_status(&mut self, entity: Entity, id: i64, to: Status, actor: Option<i64>, at: Time) -> Result<()> {
        let table = entity.table();
        let before: String = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT status FROM {table} WHERE id = $1")))
            .bind(id)
            .fetch_one(self.conn())
            .await?
            .try_get("status")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE {table} SET status = $1, updated_at = $2 WHERE id = $3")))
            .bind(to.code())
            .bind(micros(at))
            .bind(id)
            .execute(self.conn())
            .await?;
        let action = if to == Status::Retired { "retire" } else { "reactivate" };
        let wrap = |s: &str| Some(format!("{{\"status\":\"{s}\"}}"));
        history(self.conn(), History { entity, id, action, actor, at, before: wrap(&before), after: wrap(to.code()) })
            .await?;
        Ok(())
    }

    /// Retires or reactivates a purpose; old log entries keep naming it (R-PUR-2).
    pub async fn set_purpose_status(&mut self, id: i64, to: Status, actor: Option<i64>, at: Time) -> Result<()> {
        self.set_status(Entity::Purpose, id, to, actor, at).await
    }

    pub async fn set_operation_status(&mut self, id: i64, to: Status, actor: Option<i64>, at: Time) -> Result<()> {
        self.set_status(Entity::Operation, id, to, actor, at).await
    }

    pub async fn set_linkage_status(&mut self, id: i64, to: Status, actor: Option<i64>, at: Time) -> Result<()> {
        self.set_status(Entity::Linkage, id, to, actor, at).await
    }
}
