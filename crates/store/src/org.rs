//! Org nodes and people.

use nhiguard_domain::ids::PersonId;
use nhiguard_domain::org::{OrgKind, OrgNode, OrgTree};
use nhiguard_domain::person::{HrStatus, Person, Rank};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, Result, StoreError, Tx};

#[derive(Debug, Clone)]
pub struct NewOrgNode {
    pub parent_id: Option<i64>,
    pub kind: OrgKind,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub has_sections: bool,
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub person_id: PersonId,
    pub name: String,
    pub title: String,
    pub rank: Rank,
    pub hr_status: HrStatus,
    pub org_node_id: i64,
    /// Empty when none is known.
    pub email: String,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn org_node(r: &AnyRow) -> Result<OrgNode> {
    Ok(OrgNode {
        id: r.try_get("id")?,
        parent_id: r.try_get("parent_id")?,
        kind: OrgKind::from_code(&r.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("org kind"))?,
        code: r.try_get("code")?,
        name_zh: r.try_get("name_zh")?,
        name_en: r.try_get("name_en")?,
        has_sections: r.try_get::<i64, _>("has_sections")? != 0,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

pub(crate) fn person(r: &AnyRow) -> Result<Person> {
    Ok(Person {
        id: r.try_get("id")?,
        person_id: PersonId::parse(&r.try_get::<String, _>("person_id")?).map_err(|_| corrupt("person id"))?,
        name: r.try_get("name")?,
        title: r.try_get("title")?,
        rank: Rank::from_code(&r.try_get::<String, _>("rank")?).ok_or_else(|| corrupt("rank"))?,
        hr_status: HrStatus::from_code(&r.try_get::<String, _>("hr_status")?).ok_or_else(|| corrupt("hr status"))?,
        org_node_id: r.try_get("org_node_id")?,
    })
}

const PERSON_COLUMNS: &str = "id, person_id, name, title, rank, hr_status, org_node_id";

impl Db {
    /// The whole organisation (a county has hundreds of nodes: loading it whole is cheap).
    pub async fn org_tree(&self) -> Result<OrgTree> {
        let rows = sqlx::query(
            "SELECT id, parent_id, kind, code, name_zh, name_en, has_sections, active FROM org_nodes ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let nodes = rows.iter().map(org_node).collect::<Result<Vec<_>>>()?;
        OrgTree::new(nodes).map_err(|_| corrupt("org tree"))
    }

    /// Every day of the office calendar: (date, `holiday` or `workday`, name), in date order.
    pub async fn calendar_days(&self) -> Result<Vec<(chrono::NaiveDate, String, String)>> {
        let rows = sqlx::query("SELECT day, kind, name FROM calendar_days ORDER BY day").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let day: String = r.try_get("day")?;
                let day = day.parse().map_err(|_| corrupt("calendar day"))?;
                Ok((day, r.try_get("kind")?, r.try_get("name")?))
            })
            .collect()
    }

    /// The agency's case-number format, if it set one (R-QRY-1).
    pub async fn case_pattern(&self, agency_id: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT pattern FROM case_patterns WHERE agency_id = $1")
            .bind(agency_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("pattern")).transpose()?)
    }

    /// The names of everyone in service on the county's staff roll.
    pub async fn staff_names(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query("SELECT name FROM people WHERE hr_status = 'active'").fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// The person's e-mail address (empty when none is known).
    pub async fn person_email(&self, id: i64) -> Result<String> {
        Ok(sqlx::query("SELECT email FROM people WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?
            .try_get("email")?)
    }

    pub async fn person(&self, id: i64) -> Result<Person> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(self.pool()).await?;
        person(&row)
    }

    /// People placed at the given org nodes, by name.
    pub async fn people_at(&self, org_node_id: i64) -> Result<Vec<Person>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people WHERE org_node_id = $1 ORDER BY person_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_node_id).fetch_all(self.pool()).await?;
        rows.iter().map(person).collect()
    }
}

impl Tx {
    /// Replaces one year's calendar days.
    pub async fn replace_calendar_year(
        &mut self,
        year: i32,
        days: &[(chrono::NaiveDate, String, String)],
        by: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM calendar_days WHERE day >= $1 AND day <= $2")
            .bind(format!("{year:04}-01-01"))
            .bind(format!("{year:04}-12-31"))
            .execute(self.conn())
            .await?;
        for (day, kind, name) in days {
            sqlx::query("INSERT INTO calendar_days (day, kind, name, set_by, set_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(day.to_string())
                .bind(kind)
                .bind(name)
                .bind(by)
                .bind(crate::micros(at))
                .execute(self.conn())
                .await
                // Another admin saved the same year at the same moment.
                .map_err(StoreError::conflict_on("calendar year"))?;
        }
        Ok(())
    }

    /// Sets (or, with `None`, clears) an agency's case-number format.
    pub async fn set_case_pattern(
        &mut self,
        agency_id: i64,
        pattern: Option<&str>,
        by: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("DELETE FROM case_patterns WHERE agency_id = $1").bind(agency_id).execute(self.conn()).await?;
        if let Some(p) = pattern {
            sqlx::query("INSERT INTO case_patterns (agency_id, pattern, set_by, set_at) VALUES ($1, $2, $3, $4)")
                .bind(agency_id)
                .bind(p)
                .bind(by)
                .bind(crate::micros(at))
                .execute(self.conn())
                .await
                .map_err(StoreError::conflict_on("case-number format"))?;
        }
        Ok(())
    }

    pub async fn insert_org_node(&mut self, n: &NewOrgNode, at: chrono::DateTime<chrono::Utc>) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO org_nodes (parent_id, kind, code, name_zh, name_en, has_sections, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7) RETURNING id",
        )
        .bind(n.parent_id)
        .bind(n.kind.code())
        .bind(&n.code)
        .bind(&n.name_zh)
        .bind(&n.name_en)
        .bind(i64::from(n.has_sections))
        .bind(crate::micros(at))
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("org code"))?
        .try_get("id")?;
        Ok(id)
    }

    pub async fn set_person_email(&mut self, id: i64, email: &str) -> Result<()> {
        sqlx::query("UPDATE people SET email = $1 WHERE id = $2").bind(email).bind(id).execute(self.conn()).await?;
        Ok(())
    }

    pub async fn insert_person(&mut self, p: &NewPerson, at: chrono::DateTime<chrono::Utc>) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO people (person_id, name, title, rank, hr_status, org_node_id, created_at, updated_at, email) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
        )
        .bind(p.person_id.as_str())
        .bind(&p.name)
        .bind(&p.title)
        .bind(p.rank.code())
        .bind(p.hr_status.code())
        .bind(p.org_node_id)
        .bind(crate::micros(at))
        .bind(&p.email)
        .fetch_one(self.conn())
        .await
        .map_err(StoreError::conflict_on("employee number"))?
        .try_get("id")?;
        Ok(id)
    }

    pub async fn set_hr_status(&mut self, id: i64, status: HrStatus, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let done = sqlx::query("UPDATE people SET hr_status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.code())
            .bind(crate::micros(at))
            .bind(id)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
