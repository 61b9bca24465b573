//! R-REV-5 (§5(二)): an anomaly found in the monthly review opens a joint investigation by the
//! business unit, the ethics unit (政風單位) and the IT unit (資訊單位), which ends in an audit record
//! (稽核紀錄). The rules here: who may be named for each unit, and when the investigation may close.
//!
//! Who counts as the IT unit: the regulation leaves the split between the business and the IT unit
//! to each agency (要點五(一) 「依機關業務分工」); in nhiguard the people who run the system for an
//! agency or for the county are its admins, so the IT member is an account holding an admin role.

use std::collections::BTreeSet;

use crate::DomainError;
use crate::role::Role;

crate::labelled_enum!(
    /// The three units an investigation must involve.
    Party {
        Business = ("business", "業務單位", "business unit"),
        Ethics = ("ethics", "政風單位", "ethics unit"),
        It = ("it", "資訊單位", "IT unit"),
    }
);

crate::labelled_enum!(
    /// Where an investigation stands.
    InvestigationState {
        Open = ("open", "調查中", "under investigation"),
        Concluded = ("concluded", "已作成稽核紀錄", "audit record made"),
    }
);

/// Fewest characters (whitespace not counted) of a step's note and of the conclusion.
pub const MIN_TEXT_CHARS: usize = 10;

/// A person proposed for one of the three units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub account_id: i64,
    /// The agency the account belongs to ([`crate::org::OrgTree::agency_of`] of its node).
    pub agency_id: i64,
    pub roles: Vec<Role>,
    /// The account is enabled and the person in service.
    pub active: bool,
}

/// Checks the three people named for an investigation of agency `agency_id`'s queries;
/// `investigated` are the accounts whose queries are under investigation: none of them may sit on
/// it.
pub fn check_members(
    agency_id: i64,
    business: &Member,
    ethics: &Member,
    it: &Member,
    investigated: &[i64],
) -> Result<(), DomainError> {
    let refuse = |field, zh: &str, en: &str| Err(DomainError::invalid(field, zh, en));
    for (field, m) in [("business", business), ("ethics", ethics), ("it", it)] {
        if !m.active {
            return refuse(
                field,
                "此帳號已停用或人員已不在職；請改指定在職人員",
                "this account is disabled or the person is no longer in service; name someone in service",
            );
        }
        if investigated.contains(&m.account_id) {
            return refuse(
                field,
                "受調查之查詢由此帳號所為，此人不得參與調查；請改指定他人",
                "the queries under investigation were made by this account; name someone else",
            );
        }
    }
    let distinct: BTreeSet<i64> = [business.account_id, ethics.account_id, it.account_id].into();
    if distinct.len() < 3 {
        return refuse(
            "it",
            "三個單位須各由不同人員參與；請指定三位不同人員",
            "each unit must be represented by a different person; name three people",
        );
    }
    if business.agency_id != agency_id {
        return refuse(
            "business",
            "業務單位人員須為被查核機關之人員；請改指定本機關人員",
            "the business-unit member must belong to the agency whose queries are investigated",
        );
    }
    if !ethics.roles.contains(&Role::EthicsOfficer) {
        return refuse(
            "ethics",
            "政風單位人員須具政風人員角色；請改指定政風處人員",
            "the ethics-unit member must hold the ethics-officer role",
        );
    }
    if !it.roles.iter().any(|r| matches!(r, Role::PlanningAdmin | Role::AgencyAdmin)) {
        return refuse(
            "it",
            "資訊單位人員須為系統管理者（計畫處或機關管理者）；請改指定管理者",
            "the IT-unit member must be a system admin (planning department or agency admin)",
        );
    }
    Ok(())
}

/// Counts what a person wrote, ignoring whitespace.
fn chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// A step's note must say something.
pub fn check_note(field: crate::Field, text: &str) -> Result<(), DomainError> {
    if chars(text) < MIN_TEXT_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("請具體說明（至少 {MIN_TEXT_CHARS} 字）"),
            format!("write it out (at least {MIN_TEXT_CHARS} characters)"),
        ));
    }
    Ok(())
}

/// May the investigation close with this conclusion? Each of the three units must have recorded a
/// step (`stepped` lists the parties that did), and the conclusion must say something.
pub fn check_conclusion(stepped: &[Party], conclusion: &str) -> Result<(), DomainError> {
    let missing: Vec<Party> = Party::ALL.iter().copied().filter(|p| !stepped.contains(p)).collect();
    if !missing.is_empty() {
        let zh: Vec<&str> = missing.iter().map(|p| p.zh()).collect();
        let en: Vec<&str> = missing.iter().map(|p| p.en()).collect();
        return Err(DomainError::invalid(
            "conclusion",
            format!("{}尚未記錄調查情形，須三個單位皆有紀錄才能作成稽核紀錄", zh.join("、")),
            format!("the {} has not recorded its part; all three units must before the audit record", en.join(", ")),
        ));
    }
    check_note("conclusion", conclusion)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, agency: i64, roles: &[Role]) -> Member {
        Member { account_id: id, agency_id: agency, roles: roles.to_vec(), active: true }
    }

    fn field(r: Result<(), DomainError>) -> Option<&'static str> {
        match r {
            Err(DomainError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn r_rev_5_three_different_people_one_per_unit() {
        let business = m(1, 10, &[Role::Reviewer]);
        let ethics = m(2, 90, &[Role::EthicsOfficer]);
        let it = m(3, 80, &[Role::PlanningAdmin]);
        assert_eq!(check_members(10, &business, &ethics, &it, &[7]), Ok(()));
        assert_eq!(field(check_members(11, &business, &ethics, &it, &[7])), Some("business"), "another agency");
        assert_eq!(field(check_members(10, &business, &m(2, 90, &[Role::Auditor]), &it, &[7])), Some("ethics"));
        assert_eq!(field(check_members(10, &business, &ethics, &m(3, 80, &[Role::User]), &[7])), Some("it"));
        assert_eq!(check_members(10, &business, &ethics, &m(3, 10, &[Role::AgencyAdmin]), &[7]), Ok(()));
        assert_eq!(field(check_members(10, &business, &ethics, &m(1, 10, &[Role::AgencyAdmin]), &[7])), Some("it"));
        assert_eq!(field(check_members(10, &business, &ethics, &it, &[1])), Some("business"), "the investigated");
        let mut gone = ethics.clone();
        gone.active = false;
        assert_eq!(field(check_members(10, &business, &gone, &it, &[7])), Some("ethics"));
    }

    #[test]
    fn r_rev_5_the_audit_record_needs_every_unit_and_a_conclusion() {
        let done = "查詢確有案件依據，承辦人已補正事由";
        assert_eq!(field(check_conclusion(&[Party::Business, Party::Ethics], done)), Some("conclusion"));
        match check_conclusion(&[Party::Business], done) {
            Err(DomainError::Invalid { zh, .. }) => assert!(zh.contains("政風單位、資訊單位"), "{zh}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(check_conclusion(&[Party::It, Party::Ethics, Party::Business], done), Ok(()));
        assert_eq!(field(check_conclusion(Party::ALL, "     短   ")), Some("conclusion"));
    }
}
