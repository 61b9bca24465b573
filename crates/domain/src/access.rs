//! Who may do what, where (R-ACC-1, R-ACC-3). Every page and API call asks [`authorize`] with the
//! signed-in [`Actor`], the [`Action`] and the org node it touches. A role reaches only its branch:
//! the planning department the whole county, an agency admin its agency and the agency's units, a
//! unit admin its unit and the units below it, supervisors, reviewers, auditors and ethics officers
//! their agency (read only), a user its own node.

use crate::DomainError;
use crate::org::OrgTree;
use crate::role::Role;

/// The signed-in account, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: i64,
    pub org_node_id: i64,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See an org node, its people and accounts.
    ViewBranch,
    /// Add, rename or retire org nodes under the target.
    ManageOrg,
    /// Add people and change their HR data at the target node.
    ManagePeople,
    /// Browse purposes and operations (every signed-in account).
    ViewCatalogue,
    /// Add, edit and retire purposes, operations and linkages (R-PUR-1, R-X-6).
    EditCatalogue,
    /// See the linkages of the agency at the target.
    ViewLinkages,
    /// Verify the ledger and read inclusion proofs (R-LOG-2): auditors, ethics officers and the
    /// planning department.
    VerifyLedger,
    /// Search and export the query log of the agency at the target (R-LOG-1): supervisors,
    /// reviewers, auditors and ethics officers of that agency, and the planning department.
    ViewQueryLog,
}

impl Action {
    fn en(self) -> &'static str {
        match self {
            Action::ViewBranch => "see this part of the organisation",
            Action::ManageOrg => "change this part of the organisation",
            Action::ManagePeople => "manage the people of this unit",
            Action::ViewCatalogue => "see the purposes",
            Action::EditCatalogue => "edit purposes and linkages",
            Action::ViewLinkages => "see this agency's linkages",
            Action::VerifyLedger => "verify the query log",
            Action::ViewQueryLog => "read this agency's query log",
        }
    }

    fn zh(self) -> &'static str {
        match self {
            Action::ViewBranch => "檢視此組織節點",
            Action::ManageOrg => "變更此組織節點",
            Action::ManagePeople => "管理此單位人員",
            Action::ViewCatalogue => "檢視業務範圍",
            Action::EditCatalogue => "編修業務範圍與連結作業",
            Action::ViewLinkages => "檢視此機關之連結作業",
            Action::VerifyLedger => "驗證查詢日誌",
            Action::ViewQueryLog => "檢視此機關之查詢日誌",
        }
    }
}

/// The top of the branch a role reaches from the actor's node, if any.
fn reach(tree: &OrgTree, actor: &Actor, role: Role) -> Option<i64> {
    match role {
        Role::PlanningAdmin => tree.root().map(|r| r.id),
        Role::UnitAdmin | Role::User => Some(actor.org_node_id),
        Role::AgencyAdmin | Role::Supervisor | Role::Reviewer | Role::Auditor | Role::EthicsOfficer => {
            // Someone placed at the county root (not in an agency) reaches the whole county, as a
            // county-level office would; only the planning department places people there.
            Some(tree.agency_of(actor.org_node_id).unwrap_or(actor.org_node_id))
        }
    }
}

/// Which roles may take each action (the branch is checked separately). Pages use it to decide
/// which links to show; [`authorize`] is still what decides.
pub fn role_allows(role: Role, action: Action) -> bool {
    match action {
        Action::ViewCatalogue => true,
        Action::ViewBranch | Action::ViewLinkages => true,
        Action::ManageOrg => matches!(role, Role::PlanningAdmin | Role::AgencyAdmin),
        Action::ManagePeople => role.is_admin(),
        Action::EditCatalogue => role == Role::PlanningAdmin,
        Action::VerifyLedger => matches!(role, Role::PlanningAdmin | Role::Auditor | Role::EthicsOfficer),
        Action::ViewQueryLog => {
            matches!(
                role,
                Role::PlanningAdmin | Role::Supervisor | Role::Reviewer | Role::Auditor | Role::EthicsOfficer
            )
        }
    }
}

/// Allowed when one of the actor's roles allows the action and reaches `target` (an org node id;
/// `None` for actions not tied to a node; changes always name a node).
pub fn authorize(tree: &OrgTree, actor: &Actor, action: Action, target: Option<i64>) -> Result<(), DomainError> {
    let allowed = actor.roles.iter().any(|&role| {
        if !role_allows(role, action) {
            return false;
        }
        let Some(target) = target else { return !matches!(action, Action::ManageOrg | Action::ManagePeople) };
        if tree.get(target).is_none() {
            return false;
        }
        if role == Role::User {
            // A user's reach is its own node, not the units below it.
            return target == actor.org_node_id;
        }
        reach(tree, actor, role).is_some_and(|top| tree.is_within(target, top))
    });
    if allowed {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            zh: format!("您沒有{}的權限", action.zh()),
            en: format!("you are not allowed to {}", action.en()),
        })
    }
}

/// The branch tops an actor can see (for listing the tree): overlapping ones are merged.
pub fn visible_tops(tree: &OrgTree, actor: &Actor) -> Vec<i64> {
    let mut tops: Vec<i64> = actor.roles.iter().filter_map(|&r| reach(tree, actor, r)).collect();
    tops.sort_unstable();
    tops.dedup();
    let all = tops.clone();
    tops.retain(|&t| !all.iter().any(|&o| o != t && tree.is_within(t, o)));
    tops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::tests::sample;

    fn actor(node: i64, roles: &[Role]) -> Actor {
        Actor { account_id: 1, org_node_id: node, roles: roles.to_vec() }
    }

    const NODES: [i64; 6] = [1, 2, 3, 4, 5, 6];

    fn allowed(a: &Actor, action: Action) -> Vec<i64> {
        let t = sample();
        NODES.into_iter().filter(|&n| authorize(&t, a, action, Some(n)).is_ok()).collect()
    }

    /// Each role × each branch of the sample tree (county 1; planning 2; health 3 → station 4 →
    /// sub 5; tax 6): exactly these nodes are reachable.
    #[test]
    fn r_acc_1_each_role_reaches_exactly_its_branch() {
        use Action::*;
        use Role::*;
        let cases: &[(i64, Role, Action, &[i64])] = &[
            (2, PlanningAdmin, ViewBranch, &[1, 2, 3, 4, 5, 6]),
            (2, PlanningAdmin, ManageOrg, &[1, 2, 3, 4, 5, 6]),
            (2, PlanningAdmin, ManagePeople, &[1, 2, 3, 4, 5, 6]),
            (3, AgencyAdmin, ViewBranch, &[3, 4, 5]),
            (3, AgencyAdmin, ManageOrg, &[3, 4, 5]),
            (3, AgencyAdmin, ManagePeople, &[3, 4, 5]),
            (4, AgencyAdmin, ManagePeople, &[3, 4, 5]),
            (4, UnitAdmin, ViewBranch, &[4, 5]),
            (4, UnitAdmin, ManagePeople, &[4, 5]),
            (4, UnitAdmin, ManageOrg, &[]),
            (4, User, ViewBranch, &[4]),
            (4, User, ManagePeople, &[]),
            (4, Supervisor, ViewBranch, &[3, 4, 5]),
            (4, Supervisor, ManagePeople, &[]),
            (5, Reviewer, ViewBranch, &[3, 4, 5]),
            (6, Auditor, ViewBranch, &[6]),
            (6, Auditor, ManageOrg, &[]),
            (3, EthicsOfficer, ViewLinkages, &[3, 4, 5]),
            (3, EthicsOfficer, ManagePeople, &[]),
            (4, Reviewer, ViewQueryLog, &[3, 4, 5]),
            (6, Auditor, ViewQueryLog, &[6]),
            (2, PlanningAdmin, ViewQueryLog, &[1, 2, 3, 4, 5, 6]),
            (4, User, ViewQueryLog, &[]),
            (3, AgencyAdmin, ViewQueryLog, &[]),
        ];
        for &(node, role, action, expect) in cases {
            assert_eq!(allowed(&actor(node, &[role]), action), expect, "{role:?} at {node} doing {action:?}");
        }
    }

    #[test]
    fn r_pur_1_only_the_planning_department_edits_the_catalogue() {
        let t = sample();
        for role in Role::ALL {
            let ok = authorize(&t, &actor(2, &[*role]), Action::EditCatalogue, None).is_ok();
            assert_eq!(ok, *role == Role::PlanningAdmin, "{role:?}");
            assert!(authorize(&t, &actor(4, &[*role]), Action::ViewCatalogue, None).is_ok());
        }
    }

    #[test]
    fn r_log_2_auditors_ethics_officers_and_the_planning_department_verify_the_ledger() {
        let t = sample();
        for role in Role::ALL {
            let ok = authorize(&t, &actor(6, &[*role]), Action::VerifyLedger, None).is_ok();
            assert_eq!(ok, matches!(role, Role::PlanningAdmin | Role::Auditor | Role::EthicsOfficer), "{role:?}");
        }
    }

    #[test]
    fn several_roles_combine_and_unknown_nodes_are_refused() {
        let t = sample();
        let a = actor(4, &[Role::User, Role::UnitAdmin]);
        assert!(authorize(&t, &a, Action::ManagePeople, Some(5)).is_ok());
        assert!(authorize(&t, &a, Action::ManagePeople, Some(3)).is_err());
        assert!(authorize(&t, &a, Action::ViewBranch, Some(99)).is_err());
        assert!(authorize(&t, &actor(4, &[]), Action::ViewCatalogue, None).is_err());
        assert_eq!(visible_tops(&t, &actor(4, &[Role::User, Role::Supervisor])), vec![3]);
    }
}
