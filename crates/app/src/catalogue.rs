//! The purpose catalogue (R-PUR-1, R-PUR-2, R-X-6): everyone signed in may browse purposes and
//! operations and the linkages of their own branch; only the planning department adds, edits and
//! retires. Retiring never deletes: history and old log entries keep naming what was retired.

use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::catalogue::{
    Linkage, Operation, Purpose, ResultField, Status, SubjectCondition, parse_approval_ref, parse_code_list, parse_date,
};
use nhiguard_domain::ids::{Code, parse_name};
use nhiguard_domain::org::OrgKind;
use nhiguard_store::{CatalogueChange, NewLinkage, NewOperation, NewPurpose};

use crate::events::kind;
use crate::{App, AppError, Current, Result};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PurposeInput {
    #[serde(default)]
    pub number: Option<String>,
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    pub legal_basis: String,
    #[serde(default)]
    pub nhia_approval_ref: String,
    #[serde(default)]
    pub nhia_approval_date: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OperationInput {
    pub code: String,
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    /// Comma-separated condition codes, e.g. `national_id`.
    pub conditions: String,
    /// Comma-separated result field codes.
    pub results: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LinkageInput {
    pub agency_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
    pub nhia_approval_ref: String,
    #[serde(default)]
    pub nhia_approval_date: String,
}

/// A purpose with what hangs on it.
#[derive(Debug, Clone)]
pub struct PurposeDetail {
    pub purpose: Purpose,
    pub linkages: Vec<Linkage>,
    pub history: Vec<CatalogueChange>,
}

impl App {
    async fn check(&self, current: &Current, action: Action, node: Option<i64>) -> Result<()> {
        let tree = self.db().org_tree().await?;
        if let Err(e) = authorize(&tree, &current.actor(), action, node) {
            self.record(kind::FORBIDDEN, current.event_actor(), "catalogue", &format!("{action:?}")).await?;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn purposes(&self, current: &Current) -> Result<Vec<Purpose>> {
        self.check(current, Action::ViewCatalogue, None).await?;
        Ok(self.db().purposes().await?)
    }

    pub async fn operations(&self, current: &Current) -> Result<Vec<Operation>> {
        self.check(current, Action::ViewCatalogue, None).await?;
        Ok(self.db().operations().await?)
    }

    /// The linkages the actor may see: all for the planning department, else those of agencies
    /// within the actor's reach.
    pub async fn linkages(&self, current: &Current) -> Result<Vec<Linkage>> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let all = self.db().linkages(None).await?;
        Ok(all
            .into_iter()
            .filter(|l| authorize(&tree, &actor, Action::ViewLinkages, Some(l.agency_id)).is_ok())
            .collect())
    }

    pub async fn purpose_detail(&self, current: &Current, id: i64) -> Result<PurposeDetail> {
        self.check(current, Action::ViewCatalogue, None).await?;
        let purpose = self.db().purpose(id).await?;
        let linkages = self.linkages(current).await?.into_iter().filter(|l| l.purpose_id == id).collect();
        Ok(PurposeDetail { purpose, linkages, history: self.db().catalogue_history("purpose", id).await? })
    }

    fn purpose_fields(input: &PurposeInput, number: i64) -> Result<NewPurpose> {
        let name_zh = parse_name("name_zh", &input.name_zh, 200)?;
        Ok(NewPurpose {
            number,
            name_en: if input.name_en.trim().is_empty() {
                name_zh.clone()
            } else {
                parse_name("name_en", &input.name_en, 300)?
            },
            name_zh,
            legal_basis: nhiguard_domain::ids::parse_text("legal_basis", &input.legal_basis, 1000)?,
            nhia_approval_ref: parse_approval_ref(&input.nhia_approval_ref, false)?,
            nhia_approval_date: parse_date("nhia_approval_date", &input.nhia_approval_date)?,
            status: Status::Active,
        })
    }

    /// Adds a purpose under the open clause (item 12 and after): with its legal basis and, once
    /// NHIA approved it, the approval reference.
    pub async fn create_purpose(&self, current: &Current, input: &PurposeInput) -> Result<Purpose> {
        self.check(current, Action::EditCatalogue, None).await?;
        let number = match input.number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(n) => n.parse::<i64>().ok().filter(|n| (1..=999).contains(n)).ok_or_else(|| {
                AppError::invalid(
                    "number",
                    "款次須為 1 至 999 的整數",
                    "the item number is a whole number from 1 to 999",
                )
            })?,
            None => self.db().purposes().await?.iter().map(|p| p.number).max().unwrap_or(0) + 1,
        };
        let fields = Self::purpose_fields(input, number)?;
        let mut tx = self.db().begin().await?;
        let p = tx.insert_purpose(&fields, Some(current.account_id), self.now()).await?;
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("purpose {}", p.number),
            "created",
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_purpose(&self, current: &Current, id: i64, input: &PurposeInput) -> Result<Purpose> {
        self.check(current, Action::EditCatalogue, None).await?;
        let existing = self.db().purpose(id).await?;
        let fields = Self::purpose_fields(input, existing.number)?;
        let mut tx = self.db().begin().await?;
        let p = tx.update_purpose(id, &fields, Some(current.account_id), self.now()).await?;
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("purpose {}", p.number),
            "edited",
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    /// Retires (or reactivates) a purpose: no new queries under it; history stays (R-PUR-2).
    pub async fn set_purpose_status(&self, current: &Current, id: i64, to: Status) -> Result<()> {
        self.check(current, Action::EditCatalogue, None).await?;
        let p = self.db().purpose(id).await?;
        if p.status == to {
            return Err(AppError::conflict(
                format!("此業務範圍已是「{}」", to.zh()),
                format!("this purpose is already {}", to.en()),
            ));
        }
        let mut tx = self.db().begin().await?;
        tx.set_purpose_status(id, to, Some(current.account_id), self.now()).await?;
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("purpose {}", p.number),
            to.code(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_operation(&self, current: &Current, input: &OperationInput) -> Result<Operation> {
        self.check(current, Action::EditCatalogue, None).await?;
        let name_zh = parse_name("name_zh", &input.name_zh, 100)?;
        let new = NewOperation {
            code: Code::parse("code", &input.code)?.as_str().to_ascii_uppercase(),
            name_en: if input.name_en.trim().is_empty() {
                name_zh.clone()
            } else {
                parse_name("name_en", &input.name_en, 200)?
            },
            name_zh,
            conditions: parse_code_list("conditions", &input.conditions, SubjectCondition::from_code)?,
            results: parse_code_list("results", &input.results, ResultField::from_code)?,
        };
        let mut tx = self.db().begin().await?;
        let o = tx.insert_operation(&new, Some(current.account_id), self.now()).await?;
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("operation {}", o.code),
            "created",
        )
        .await?;
        tx.commit().await?;
        Ok(o)
    }

    pub async fn set_operation_status(&self, current: &Current, id: i64, to: Status) -> Result<()> {
        self.check(current, Action::EditCatalogue, None).await?;
        let o = self.db().operation(id).await?;
        if o.status == to {
            return Err(AppError::conflict(
                format!("此查詢作業已是「{}」", to.zh()),
                format!("this operation is already {}", to.en()),
            ));
        }
        let mut tx = self.db().begin().await?;
        tx.set_operation_status(id, to, Some(current.account_id), self.now()).await?;
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("operation {}", o.code),
            to.code(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an NHIA-approved linkage: an agency (not a unit) × an active purpose × an active
    /// operation, with the approval reference.
    pub async fn create_linkage(&self, current: &Current, input: &LinkageInput) -> Result<Linkage> {
        self.check(current, Action::EditCatalogue, None).await?;
        let tree = self.db().org_tree().await?;
        match tree.get(input.agency_id) {
            Some(n) if n.kind == OrgKind::Agency => {}
            _ => {
                return Err(AppError::invalid(
                    "agency_id",
                    "連結作業須屬於一個業務機關",
                    "a linkage belongs to an agency",
                ));
            }
        }
        let purpose = self.db().purpose(input.purpose_id).await?;
        let operation = self.db().operation(input.operation_id).await?;
        if purpose.status != Status::Active || operation.status != Status::Active {
            return Err(AppError::invalid(
                "purpose_id",
                "已廢止的業務範圍或查詢作業不能新增連結作業",
                "a retired purpose or operation cannot get a new linkage",
            ));
        }
        let new = NewLinkage {
            agency_id: input.agency_id,
            purpose_id: input.purpose_id,
            operation_id: input.operation_id,
            nhia_approval_ref: parse_approval_ref(&input.nhia_approval_ref, true)?,
            nhia_approval_date: parse_date("nhia_approval_date", &input.nhia_approval_date)?,
        };
        let mut tx = self.db().begin().await?;
        let l = tx.insert_linkage(&new, Some(current.account_id), self.now()).await?;
        self.record_in(&mut tx, kind::CATALOGUE_CHANGE, current.event_actor(), &format!("linkage {}", l.id), "created")
            .await?;
        tx.commit().await?;
        Ok(l)
    }

    pub async fn set_linkage_status(&self, current: &Current, id: i64, to: Status) -> Result<()> {
        self.check(current, Action::EditCatalogue, None).await?;
        let l = self.db().linkage(id).await?;
        if l.status == to {
            return Err(AppError::conflict(
                format!("此連結作業已是「{}」", to.zh()),
                format!("this linkage is already {}", to.en()),
            ));
        }
        let mut tx = self.db().begin().await?;
        tx.set_linkage_status(id, to, Some(current.account_id), self.now()).await?;
        self.record_in(&mut tx, kind::CATALOGUE_CHANGE, current.event_actor(), &format!("linkage {id}"), to.code())
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
