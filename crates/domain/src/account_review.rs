//! R-ACC-9: the periodic review of a branch's accounts. For each account the review names what
//! needs a look — a second account of the same person, no sign-in for a long time, a person who
//! moved, resigned or retired, an account past its disable date — and the admin decides: keep,
//! reduce (keep only some of its grants) or disable, with a note where the decision needs one.

use chrono::{DateTime, NaiveDate, Utc};

use crate::DomainError;
use crate::person::HrStatus;

crate::labelled_enum!(
    /// What makes an account worth a look.
    Concern {
        Duplicate = ("duplicate", "同一人有多個使用中帳號", "the person has another active account"),
        Idle = ("idle", "久未登入", "no sign-in for a long time"),
        HrChanged = ("hr_changed", "人員已異動、離職或退休", "the person moved, resigned or retired"),
        PastDisableDate = ("past_disable_date", "已逾停用日", "past its disable date"),
    }
);

crate::labelled_enum!(
    /// The admin's decision on one account.
    Decision {
        Keep = ("keep", "維持", "keep"),
        Reduce = ("reduce", "縮減權限", "reduce"),
        Disable = ("disable", "停用", "disable"),
    }
);

crate::labelled_enum!(
    /// Where a review stands.
    AccountReviewState {
        Open = ("open", "清查中", "open"),
        Applied = ("applied", "已執行", "applied"),
    }
);

/// What the review knows of one account.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub account_id: i64,
    pub person_ref: i64,
    /// `active`, `pending` or `disabled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub hr_status: HrStatus,
    pub disable_on: Option<NaiveDate>,
}

/// The concerns of `account` among all accounts of the branch `all` (for duplicates), on the
/// Taipei date `today`. An account never signed in counts as idle once it is `idle_days` old.
pub fn concerns(
    account: &AccountFacts,
    all: &[AccountFacts],
    now: DateTime<Utc>,
    today: NaiveDate,
    idle_days: i64,
) -> Vec<Concern> {
    let mut out = Vec::new();
    let active = |a: &AccountFacts| a.status == "active";
    if active(account)
        && all.iter().any(|o| o.account_id != account.account_id && o.person_ref == account.person_ref && active(o))
    {
        out.push(Concern::Duplicate);
    }
    let last = account.last_sign_in_at.unwrap_or(account.created_at);
    if account.status != "disabled" && (now - last).num_days() >= idle_days {
        out.push(Concern::Idle);
    }
    if account.hr_status != HrStatus::Active && account.status != "disabled" {
        out.push(Concern::HrChanged);
    }
    if account.status != "disabled" && account.disable_on.is_some_and(|d| d <= today) {
        out.push(Concern::PastDisableDate);
    }
    out
}

/// Checks one decision: keeping an account that has a concern, and every reduction, need a note
/// that says why; a reduction must leave out at least one grant and add none.
pub fn check_decision(
    decision: Decision,
    concerns: &[Concern],
    note: &str,
    current_grants: &[String],
    kept_grants: &[String],
) -> Result<(), DomainError> {
    let written = note.chars().filter(|c| !c.is_whitespace()).count();
    let needs_note = decision == Decision::Reduce || (decision == Decision::Keep && !concerns.is_empty());
    if needs_note && written < 4 {
        return Err(DomainError::invalid(
            "note",
            "維持有疑慮之帳號或縮減權限，須說明理由（至少 4 字）",
            "keeping an account with a concern, or reducing one, needs a note of at least 4 characters",
        ));
    }
    if decision == Decision::Reduce {
        if let Some(extra) = kept_grants.iter().find(|g| !current_grants.contains(g)) {
            return Err(DomainError::invalid(
                "grants",
                format!("{extra} 不是此帳號現有的權限；清查只能縮減，不能新增"),
                format!("{extra} is not a grant of this account; a review only reduces"),
            ));
        }
        if kept_grants.len() >= current_grants.len() {
            return Err(DomainError::invalid(
                "grants",
                "縮減權限須至少取消一項；若全部保留請選「維持」",
                "a reduction must drop at least one grant; choose keep to keep them all",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(id: i64, person: i64, last_days_ago: Option<i64>) -> AccountFacts {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap();
        AccountFacts {
            account_id: id,
            person_ref: person,
            status: "active".into(),
            created_at: now - chrono::Duration::days(400),
            last_sign_in_at: last_days_ago.map(|d| now - chrono::Duration::days(d)),
            hr_status: HrStatus::Active,
            disable_on: None,
        }
    }

    #[test]
    fn r_acc_9_concerns_name_duplicates_idle_hr_changes_and_past_disable_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 2, 0, 0).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let a = facts(1, 10, Some(3));
        let b = facts(2, 10, Some(89));
        let c = facts(3, 11, Some(90));
        let mut d = facts(4, 12, None);
        d.hr_status = HrStatus::Retired;
        d.disable_on = NaiveDate::from_ymd_opt(2026, 11, 29);
        let all = [a.clone(), b.clone(), c.clone(), d.clone()];
        assert_eq!(concerns(&a, &all, now, today, 90), vec![Concern::Duplicate]);
        assert_eq!(concerns(&b, &all, now, today, 90), vec![Concern::Duplicate], "89 days is not yet idle");
        assert_eq!(concerns(&c, &all, now, today, 90), vec![Concern::Idle]);
        assert_eq!(
            concerns(&d, &all, now, today, 90),
            vec![Concern::Idle, Concern::HrChanged, Concern::PastDisableDate]
        );
        let mut off = d.clone();
        off.status = "disabled".into();
        assert!(concerns(&off, &all, now, today, 90).is_empty(), "a disabled account needs nothing");
    }

    #[test]
    fn r_acc_9_decisions_need_reasons_and_reductions_only_reduce() {
        let grants = vec!["8:INS01".to_owned(), "8:ADR01".to_owned()];
        assert!(check_decision(Decision::Keep, &[], "", &grants, &[]).is_ok());
        assert!(check_decision(Decision::Keep, &[Concern::Idle], "", &grants, &[]).is_err());
        assert!(check_decision(Decision::Keep, &[Concern::Idle], "育嬰留停中，明年復職", &grants, &[]).is_ok());
        assert!(check_decision(Decision::Disable, &[Concern::Idle], "", &grants, &[]).is_ok());
        let one = vec!["8:INS01".to_owned()];
        assert!(check_decision(Decision::Reduce, &[], "業務調整只需投保查詢", &grants, &one).is_ok());
        assert!(check_decision(Decision::Reduce, &[], "業務調整", &grants, &grants).is_err(), "nothing dropped");
        assert!(check_decision(Decision::Reduce, &[], "業務調整", &grants, &["9:ADR01".to_owned()]).is_err(), "added");
        assert!(check_decision(Decision::Reduce, &[], "", &grants, &one).is_err(), "no note");
    }
}
