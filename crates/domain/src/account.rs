//! Account governance rules (R-ACC-1 … R-ACC-3): who may manage which accounts (delegated
//! administration down the org tree), what an application may ask for, how it moves from draft to
//! carried out, and who may approve it. Pure: the app loads the tree and the linkages and asks.

use crate::DomainError;
use crate::access::Actor;
use crate::org::{OrgKind, OrgTree};
use crate::role::Role;

crate::labelled_enum!(
    /// What an application asks for (R-ACC-2).
    ApplicationKind {
        NewAccount = ("new_account", "新增帳號", "new account"),
        ChangeGrants = ("change_grants", "異動權限", "change of permissions"),
        Reenable = ("reenable", "恢復使用", "re-enable"),
        Removal = ("removal", "停用帳號", "removal"),
    }
);

crate::labelled_enum!(
    /// Where an application stands.
    ApplicationState {
        Draft = ("draft", "草稿", "draft"),
        Submitted = ("submitted", "待核", "submitted"),
        Approved = ("approved", "已核准", "approved"),
        Rejected = ("rejected", "已駁回", "rejected"),
        CarriedOut = ("carried_out", "已辦理", "carried out"),
        Withdrawn = ("withdrawn", "已撤回", "withdrawn"),
    }
);

crate::labelled_enum!(
    /// A step taken on an application.
    ApplicationStep {
        Submit = ("submit", "送出", "submit"),
        Approve = ("approve", "核准", "approve"),
        Reject = ("reject", "駁回", "reject"),
        CarryOut = ("carry_out", "辦理", "carry out"),
        Withdraw = ("withdraw", "撤回", "withdraw"),
    }
);

/// draft → submitted → approved / rejected → carried out; draft or submitted → withdrawn.
pub fn next_state(from: ApplicationState, step: ApplicationStep) -> Result<ApplicationState, DomainError> {
    use ApplicationState as S;
    use ApplicationStep as A;
    let to = match (from, step) {
        (S::Draft, A::Submit) => S::Submitted,
        (S::Submitted, A::Approve) => S::Approved,
        (S::Submitted, A::Reject) => S::Rejected,
        (S::Approved, A::CarryOut) => S::CarriedOut,
        (S::Draft | S::Submitted, A::Withdraw) => S::Withdrawn,
        _ => {
            return Err(DomainError::invalid(
                "state",
                format!("申請案目前為「{}」，不能{}", from.zh(), step.zh()),
                format!("the application is {}: it cannot be {}ed now", from.en(), step.en()),
            ));
        }
    };
    Ok(to)
}

fn forbidden(zh: impl Into<String>, en: impl Into<String>) -> DomainError {
    DomainError::Forbidden { zh: zh.into(), en: en.into() }
}

/// R-ACC-1: may `actor` manage an account with `roles` placed at `node`? The planning
/// department manages everyone; an agency admin manages the non-admin accounts of its agency and
/// the unit admins of the units directly below it; a unit admin manages the non-admin accounts of
/// its unit and the unit admins of the units directly below it. Nobody manages above or beside
/// their own branch, and nobody but the planning department makes agency admins.
/// R-ACC-10: the reason given for an account action (a handover, a reset) says something, as an
/// investigation's notes must.
pub fn check_reason(field: crate::Field, text: &str) -> Result<(), DomainError> {
    crate::investigation::check_note(field, text)
}

pub fn may_manage(tree: &OrgTree, actor: &Actor, node: i64, roles: &[Role]) -> Result<(), DomainError> {
    let Some(target) = tree.get(node) else {
        return Err(DomainError::invalid("org_node_id", "找不到此組織節點", "no such org node"));
    };
    if actor.roles.contains(&Role::PlanningAdmin) {
        return Ok(());
    }
    if roles.contains(&Role::PlanningAdmin) || roles.contains(&Role::AgencyAdmin) {
        return Err(forbidden("機關管理者帳號由計畫處設定", "agency admins are set up by the planning department"));
    }
    let own = actor.org_node_id;
    let admin_here = (actor.roles.contains(&Role::AgencyAdmin)
        && tree.get(own).is_some_and(|n| n.kind == OrgKind::Agency))
        || actor.roles.contains(&Role::UnitAdmin);
    if !admin_here {
        return Err(forbidden("您不是管理者，不能管理帳號", "only admins manage accounts"));
    }
    let makes_unit_admin = roles.contains(&Role::UnitAdmin);
    if node == own && !makes_unit_admin {
        return Ok(());
    }
    if target.parent_id == Some(own)
        && makes_unit_admin
        && roles.iter().all(|r| matches!(r, Role::UnitAdmin | Role::User))
    {
        return Ok(());
    }
    if node == own {
        return Err(forbidden("單位管理者由上一層級之管理者配賦", "a unit admin is set up by the admin one level up"));
    }
    Err(forbidden(
        "此帳號不在您的管理範圍：上層配賦同層使用者及下一層管理者",
        "this account is outside your branch: an admin manages users of its own level and the admins one level down",
    ))
}

/// R-ACC-2: may `approver` decide an application for an account at `node`, filed by `created_by`
/// for person `applicant_person`? A supervisor (權責主管) of the same agency (the planning
/// department's for agency-admin applications), who is neither the one who filed it nor the
/// person it is for.
pub fn may_approve(
    tree: &OrgTree,
    approver: &Actor,
    approver_person: i64,
    node: i64,
    created_by: i64,
    applicant_person: i64,
) -> Result<(), DomainError> {
    if !approver.roles.contains(&Role::Supervisor) {
        return Err(forbidden("僅權責主管可核定申請案", "only a supervisor may decide an application"));
    }
    if approver.account_id == created_by || approver_person == applicant_person {
        return Err(forbidden(
            "不得核定自己提出或為自己申請的案件",
            "you may not decide an application you filed or that is for you",
        ));
    }
    let reach = tree.agency_of(approver.org_node_id).unwrap_or(approver.org_node_id);
    if !tree.is_within(node, reach) {
        return Err(forbidden(
            "申請人不屬於您的機關，請由其權責主管核定",
            "the applicant is outside your agency: their own supervisor decides",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::tests::sample;

    fn actor(id: i64, node: i64, roles: &[Role]) -> Actor {
        Actor { account_id: id, org_node_id: node, roles: roles.to_vec() }
    }

    #[test]
    fn r_acc_2_states_move_only_forward() {
        use ApplicationState as S;
        use ApplicationStep as A;
        assert_eq!(next_state(S::Draft, A::Submit).unwrap(), S::Submitted);
        assert_eq!(next_state(S::Submitted, A::Approve).unwrap(), S::Approved);
        assert_eq!(next_state(S::Approved, A::CarryOut).unwrap(), S::CarriedOut);
        assert!(next_state(S::Draft, A::CarryOut).is_err(), "not before approval");
        assert!(next_state(S::Rejected, A::CarryOut).is_err());
        assert!(next_state(S::CarriedOut, A::Withdraw).is_err());
        assert!(next_state(S::Approved, A::Approve).is_err(), "no double approval");
    }

    /// county 1; planning 2; health 3 → station 4 → sub 5; tax 6
    #[test]
    fn r_acc_1_delegated_administration_down_one_level_only() {
        let t = sample();
        let plan = actor(1, 2, &[Role::PlanningAdmin]);
        let health = actor(2, 3, &[Role::AgencyAdmin]);
        let station = actor(3, 4, &[Role::UnitAdmin]);
        assert!(may_manage(&t, &plan, 3, &[Role::AgencyAdmin]).is_ok());
        assert!(may_manage(&t, &health, 3, &[Role::AgencyAdmin]).is_err(), "only planning makes agency admins");
        assert!(may_manage(&t, &health, 3, &[Role::User, Role::Reviewer]).is_ok());
        assert!(may_manage(&t, &health, 4, &[Role::UnitAdmin]).is_ok(), "the admins of its units");
        assert!(may_manage(&t, &health, 4, &[Role::User]).is_err(), "a unit's users are the unit admin's");
        assert!(may_manage(&t, &health, 5, &[Role::UnitAdmin]).is_err(), "two levels down");
        assert!(may_manage(&t, &health, 6, &[Role::User]).is_err(), "beside");
        assert!(may_manage(&t, &station, 4, &[Role::User]).is_ok());
        assert!(may_manage(&t, &station, 4, &[Role::UnitAdmin]).is_err(), "not its own level's admins");
        assert!(may_manage(&t, &station, 5, &[Role::UnitAdmin]).is_ok());
        assert!(may_manage(&t, &station, 3, &[Role::User]).is_err(), "above");
        assert!(may_manage(&t, &actor(4, 3, &[Role::User, Role::Supervisor]), 3, &[Role::User]).is_err());
    }

    #[test]
    fn r_acc_2_supervisors_of_the_same_agency_decide_but_never_their_own() {
        let t = sample();
        let chief = actor(10, 3, &[Role::Supervisor]);
        assert!(may_approve(&t, &chief, 100, 4, 2, 101).is_ok());
        assert!(may_approve(&t, &chief, 100, 6, 2, 101).is_err(), "another agency");
        assert!(may_approve(&t, &chief, 100, 4, 10, 101).is_err(), "filed it");
        assert!(may_approve(&t, &chief, 101, 4, 2, 101).is_err(), "for themselves");
        assert!(may_approve(&t, &actor(11, 3, &[Role::AgencyAdmin]), 102, 4, 2, 101).is_err(), "not a supervisor");
    }
}
