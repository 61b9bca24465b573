//! The organisation and its people (R-ACC-1): browsing a branch, adding units and people,
//! recording HR status. Every call is checked against the actor's branch.

use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::ids::{Code, PersonId, parse_name};
use nhiguard_domain::org::{OrgNode, OrgTree};
use nhiguard_domain::person::{HrStatus, Person, Rank};
use nhiguard_store::{AccountRow, NewOrgNode, NewPerson};

use crate::events::kind;
use crate::{App, AppError, Current, Result};

/// One org node as a page or the API shows it.
#[derive(Debug, Clone)]
pub struct NodeDetail {
    pub node: OrgNode,
    pub path: Vec<OrgNode>,
    pub children: Vec<OrgNode>,
    pub people: Vec<Person>,
    pub accounts: Vec<AccountRow>,
    pub can_manage_org: bool,
    pub can_manage_people: bool,
    /// The case-number format of the node's agency (R-QRY-1), if set.
    pub case_pattern: Option<String>,
}

/// Form input for a new unit (or agency, under the county).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewChildInput {
    pub code: String,
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub has_sections: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewPersonInput {
    pub person_id: String,
    pub name: String,
    #[serde(default)]
    pub title: String,
    pub rank: String,
    /// Where the activation link goes when SMTP is configured (R-ACC-4); may be empty.
    #[serde(default)]
    pub email: String,
}

impl App {
    async fn tree_for(&self, current: &Current, action: Action, node: i64) -> Result<OrgTree> {
        let tree = self.db().org_tree().await?;
        if tree.get(node).is_none() {
            return Err(AppError::not_found("找不到此組織節點", "no such org node"));
        }
        if let Err(e) = authorize(&tree, &current.actor(), action, Some(node)) {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("org node {node}"), &format!("{action:?}"))
                .await?;
            return Err(e.into());
        }
        Ok(tree)
    }

    /// The nodes the actor may see, depth-first, with their depth for indentation.
    pub async fn org_overview(&self, current: &Current) -> Result<Vec<(usize, OrgNode)>> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let mut out = Vec::new();
        for top in nhiguard_domain::access::visible_tops(&tree, &actor) {
            for (depth, node) in tree.branch(top) {
                if authorize(&tree, &actor, Action::ViewBranch, Some(node.id)).is_ok() {
                    out.push((depth, node.clone()));
                }
            }
        }
        Ok(out)
    }

    pub async fn org_node(&self, current: &Current, id: i64) -> Result<NodeDetail> {
        let tree = self.tree_for(current, Action::ViewBranch, id).await?;
        let actor = current.actor();
        let node = tree.get(id).cloned().ok_or_else(|| AppError::not_found("找不到此組織節點", "no such org node"))?;
        Ok(NodeDetail {
            path: tree.path(id).into_iter().cloned().collect(),
            children: tree
                .children(id)
                .filter(|c| authorize(&tree, &actor, Action::ViewBranch, Some(c.id)).is_ok())
                .cloned()
                .collect(),
            people: self.db().people_at(id).await?,
            accounts: self.db().accounts_at(id).await?,
            can_manage_org: authorize(&tree, &actor, Action::ManageOrg, Some(id)).is_ok(),
            can_manage_people: authorize(&tree, &actor, Action::ManagePeople, Some(id)).is_ok(),
            case_pattern: self.db().case_pattern(tree.agency_of(id).unwrap_or(id)).await?,
            node,
        })
    }

    /// R-QRY-1: sets the agency's case-number format (empty clears it), by its agency admin or the
    /// planning department; its units follow it. Recorded.
    pub async fn set_case_pattern(&self, current: &Current, agency_id: i64, pattern: &str) -> Result<()> {
        let tree = self.tree_for(current, Action::ManageOrg, agency_id).await?;
        let node = tree.get(agency_id).ok_or_else(|| AppError::not_found("找不到此組織節點", "no such org node"))?;
        if node.kind != nhiguard_domain::org::OrgKind::Agency {
            return Err(AppError::invalid(
                "case_pattern",
                "案號格式依機關設定，所屬單位沿用其機關之格式；請到機關頁面設定",
                "the format is set per agency and its units follow it; set it on the agency's page",
            ));
        }
        let pattern = match pattern.trim() {
            "" => None,
            text => Some(nhiguard_domain::query::CasePattern::parse(text)?),
        };
        let mut tx = self.db().begin().await?;
        tx.set_case_pattern(agency_id, pattern.as_ref().map(|p| p.as_str()), current.account_id, self.now()).await?;
        let detail = match &pattern {
            Some(p) => format!("case-number format {}", p.as_str()),
            None => "case-number format cleared".to_owned(),
        };
        self.record_in(&mut tx, kind::ORG_CHANGE, current.event_actor(), &format!("org node {agency_id}"), &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The case-number format that applies to `current`'s queries (their agency's), if any.
    pub async fn case_pattern_for(&self, current: &Current) -> Result<Option<nhiguard_domain::query::CasePattern>> {
        let reference = self.reference().await?;
        Ok(reference.case_pattern(reference.tree.agency_of(current.org_node_id)))
    }

    /// Adds an agency (under the county) or a unit (under an agency or unit).
    pub async fn create_org_child(&self, current: &Current, parent: i64, input: &NewChildInput) -> Result<i64> {
        let tree = self.tree_for(current, Action::ManageOrg, parent).await?;
        let parent_node =
            tree.get(parent).ok_or_else(|| AppError::not_found("找不到此組織節點", "no such org node"))?;
        let code = Code::parse("code", &input.code)?;
        let name_zh = parse_name("name_zh", &input.name_zh, 60)?;
        let name_en =
            if input.name_en.trim().is_empty() { name_zh.clone() } else { parse_name("name_en", &input.name_en, 120)? };
        let new = NewOrgNode {
            parent_id: Some(parent),
            kind: parent_node.kind.child_kind(),
            code: code.as_str().to_owned(),
            name_zh,
            name_en,
            has_sections: input.has_sections.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "1" | "yes")),
        };
        let mut tx = self.db().begin().await?;
        let id = tx.insert_org_node(&new, self.now()).await?;
        self.record_in(
            &mut tx,
            kind::ORG_CHANGE,
            current.event_actor(),
            &format!("org node {id}"),
            &format!("created {} under {parent}", new.code),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn create_person(&self, current: &Current, node: i64, input: &NewPersonInput) -> Result<i64> {
        self.tree_for(current, Action::ManagePeople, node).await?;
        let p = NewPerson {
            person_id: PersonId::parse(&input.person_id)?,
            name: parse_name("name", &input.name, 40)?,
            title: if input.title.trim().is_empty() { String::new() } else { parse_name("title", &input.title, 40)? },
            rank: Rank::parse(&input.rank)?,
            hr_status: HrStatus::Active,
            org_node_id: node,
            email: nhiguard_domain::ids::parse_email(&input.email)?,
        };
        let mut tx = self.db().begin().await?;
        let id = tx.insert_person(&p, self.now()).await?;
        self.record_in(
            &mut tx,
            kind::PERSON_CHANGE,
            current.event_actor(),
            &format!("person {}", p.person_id),
            "created",
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Sets (or clears) a person's e-mail address, where activation links go (R-ACC-4).
    pub async fn set_person_email(&self, current: &Current, person: i64, email: &str) -> Result<()> {
        let email = nhiguard_domain::ids::parse_email(email)?;
        let p = self.db().person(person).await?;
        self.tree_for(current, Action::ManagePeople, p.org_node_id).await?;
        let mut tx = self.db().begin().await?;
        tx.set_person_email(person, &email).await?;
        let detail = if email.is_empty() {
            "e-mail cleared".to_owned()
        } else {
            format!("e-mail {}", nhiguard_domain::ids::mask_email(&email))
        };
        self.record_in(
            &mut tx,
            kind::PERSON_CHANGE,
            current.event_actor(),
            &format!("person {}", p.person_id),
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a person's HR status (moved, resigned, retired, …); gives the person's unit.
    pub async fn set_hr_status(&self, current: &Current, person: i64, status: &str) -> Result<i64> {
        let status = HrStatus::parse(status)?;
        let p = self.db().person(person).await?;
        self.tree_for(current, Action::ManagePeople, p.org_node_id).await?;
        let mut accounts = Vec::new();
        for id in self.db().active_accounts_of_person(person).await? {
            accounts.push((id, self.db().account(id).await?.username));
        }
        let mut tx = self.db().begin().await?;
        tx.set_hr_status(person, status, self.now()).await?;
        self.record_in(
            &mut tx,
            kind::PERSON_CHANGE,
            current.event_actor(),
            &format!("person {}", p.person_id),
            &format!("hr status {}", status.code()),
        )
        .await?;
        // R-ACC-7: a person who moved, resigned or retired should lose access; the admin confirms
        // by setting the disable date. Back in service, the proposal is withdrawn.
        for (account, username) in accounts {
            if status == HrStatus::Active {
                tx.withdraw_disable_proposal(account).await?;
                continue;
            }
            tx.propose_disable(account, status.code(), current.account_id, self.now()).await?;
            self.record_in(
                &mut tx,
                kind::DISABLE_PROPOSED,
                current.event_actor(),
                &format!("account {username}"),
                &format!("person {} is now {}", p.person_id, status.code()),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(p.org_node_id)
    }
}
