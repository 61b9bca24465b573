//! What a person should do soon, shown on their home page: a password about to expire (R-ACC-6),
//! a branch overdue for its account review (R-ACC-9), a monthly review waiting for its reviewer or
//! past its time (R-REV-4), an investigation waiting for their unit's part (R-REV-5).

use chrono::Duration;
use nhiguard_domain::org::OrgKind;
use nhiguard_domain::review::ReviewState;
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;

use crate::i18n::Text;
use crate::{App, Current, Result};

/// Days after its creation by which a month's review should be signed by its reviewer.
pub const REVIEW_DUE_DAYS: i64 = 15;

#[derive(Debug, Clone)]
pub struct Reminder {
    /// A stable name for the kind of reminder (pages use it as an id).
    pub kind: &'static str,
    pub text: Text,
    pub link: String,
}

impl App {
    pub async fn reminders(&self, current: &Current) -> Result<Vec<Reminder>> {
        let mut out = Vec::new();
        let now = self.now();
        let account = self.db().account(current.account_id).await?;
        if let Some(changed) = account.password_changed_at {
            let expires = changed + Duration::days(self.settings().password_max_age_days);
            let left = (expires - now).num_days();
            // From the first reminder day on; from the last, urgently.
            let days = &self.settings().password_reminder_days;
            let (first, last) = (days.first().copied().unwrap_or(14), days.last().copied().unwrap_or(3));
            if (0..=first).contains(&left) {
                let on = roc::short_date(roc::taipei_date(expires));
                let (kind, zh, en) = if left <= last {
                    ("password-urgent", "請立即變更", "change it now")
                } else {
                    ("password", "請及早變更", "change it soon")
                };
                out.push(Reminder {
                    kind,
                    text: Text::new(
                        format!("您的密碼將於 {left} 天後（{on}）到期，{zh}"),
                        format!("your password expires in {left} days ({on}); {en}"),
                    ),
                    link: "/password".into(),
                });
            }
        }
        if let Some(last) = self.account_review_overdue(current).await? {
            let months = self.settings().account_review_months;
            let (zh, en) = if last.is_empty() {
                ("尚未辦理過帳號清查".to_owned(), "has never had an account review".to_owned())
            } else {
                (format!("上次帳號清查於 {last}"), format!("was last reviewed on {last}"))
            };
            out.push(Reminder {
                kind: "account-review",
                text: Text::new(
                    format!("您管理的範圍{zh}，已逾 {months} 個月，請辦理帳號清查"),
                    format!("your branch {en}, more than {months} months ago: review its accounts"),
                ),
                link: "/account-reviews".into(),
            });
        }
        for (a, addr, other, at) in self.session_alerts(current).await? {
            let when = roc::short_datetime(at);
            out.push(Reminder {
                kind: "concurrent-session",
                text: Text::new(
                    format!("帳號 {}（{}）於 {when} 自 {addr} 登入時，另有自 {other} 之連線仍在使用，請確認是否為本人", a.username, a.person_name),
                    format!("account {} ({}) signed in from {addr} at {when} while a session from {other} was alive: check it was them", a.username, a.person_name),
                ),
                link: format!("/org/{}", a.org_node_id),
            });
        }
        for (a, reason) in self.disable_proposals(current).await? {
            let why = nhiguard_domain::person::HrStatus::from_code(&reason);
            out.push(Reminder {
                kind: "disable-proposal",
                text: Text::new(
                    format!(
                        "{}（{}）已{}，建議設定帳號停用日",
                        a.person_name,
                        a.username,
                        why.map(|w| w.zh()).unwrap_or("異動")
                    ),
                    format!(
                        "{} ({}) has {}: set the account's disable date",
                        a.person_name,
                        a.username,
                        why.map(|w| w.en()).unwrap_or("changed")
                    ),
                ),
                link: format!("/org/{}", a.org_node_id),
            });
        }
        let tree = self.db().org_tree().await?;
        let agency = tree.agency_of(current.org_node_id);
        if let Some(agency) = agency.filter(|a| tree.get(*a).is_some_and(|n| n.kind == OrgKind::Agency)) {
            for r in self.db().reviews_of(&[agency]).await? {
                // Signed by its reviewer, the review waits for a unit head of the agency.
                if r.state == ReviewState::Reviewed.code()
                    && current.has(Role::Supervisor)
                    && r.reviewer_account_id != Some(current.account_id)
                {
                    let month = crate::review::roc_month(r.year, r.month);
                    out.push(Reminder {
                        kind: "review-approval",
                        text: Text::new(
                            format!("{month}查核已由查核人員簽核，待單位主管核定"),
                            format!(
                                "the review of {}-{:02} is signed by its reviewer and waits for your approval",
                                r.year, r.month
                            ),
                        ),
                        link: format!("/reviews/{}", r.id),
                    });
                    continue;
                }
                if r.state != ReviewState::Open.code() {
                    continue;
                }
                let month = crate::review::roc_month(r.year, r.month);
                let late = now - r.created_at > Duration::days(REVIEW_DUE_DAYS);
                let late_zh = if late { "（已逾期）" } else { "" };
                let late_en = if late { " (overdue)" } else { "" };
                if r.reviewer_account_id == Some(current.account_id) {
                    out.push(Reminder {
                        kind: "review",
                        text: Text::new(
                            format!("{month}查詢紀錄待您查核{late_zh}"),
                            format!("the review of {}-{:02} is waiting for you{late_en}", r.year, r.month),
                        ),
                        link: format!("/reviews/{}", r.id),
                    });
                } else if r.reviewer_account_id.is_none() && current.has(Role::Supervisor) {
                    out.push(Reminder {
                        kind: "review-unassigned",
                        text: Text::new(
                            format!("{month}查核尚未指派查核人員{late_zh}"),
                            format!("the review of {}-{:02} has no reviewer yet{late_en}", r.year, r.month),
                        ),
                        link: format!("/reviews/{}", r.id),
                    });
                }
            }
        }
        for (id, party) in self.investigations_waiting_for(current).await? {
            out.push(Reminder {
                kind: "investigation",
                text: Text::new(
                    format!("異常調查 #{id} 待{}記錄調查情形", party.zh()),
                    format!("investigation #{id} is waiting for the {}'s part", party.en()),
                ),
                link: format!("/investigations/{id}"),
            });
        }
        Ok(out)
    }
}
