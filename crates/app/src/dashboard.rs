//! The agency dashboard (issue 6): this month's queries by purpose, operation, outcome and day,
//! the review status of past months, open investigations and risk flags — what a section chief
//! glances at. Counts only: no subject, no reason. Opening it is recorded, as any reading of the
//! log is.

use std::collections::BTreeMap;

use chrono::Datelike;
use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::org::OrgKind;
use nhiguard_domain::roc;
use nhiguard_ledger::EntryKind;

use crate::ledger::Draft;
use crate::review::ReviewRow;
use crate::{App, AppError, Current, Result};

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub agency_id: i64,
    pub agency: String,
    /// The agencies the viewer may pick: (id, name).
    pub agencies: Vec<(i64, String)>,
    pub year: i32,
    pub month: u32,
    pub total: usize,
    /// (label, count), largest first.
    pub by_purpose: Vec<(String, usize)>,
    pub by_operation: Vec<(String, usize)>,
    /// (outcome code, count)
    pub by_outcome: Vec<(String, usize)>,
    /// Queries per day of the month so far, day 1 first.
    pub by_day: Vec<usize>,
    pub reviews: Vec<ReviewRow>,
    /// Open reviews older than the due days.
    pub overdue_reviews: usize,
    pub open_investigations: i64,
    /// Flags this month by kind: (flag code, count).
    pub flags: Vec<(String, usize)>,
}

fn counted(map: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

impl App {
    pub async fn dashboard(&self, current: &Current, agency: Option<i64>) -> Result<Dashboard> {
        let tree = self.db().org_tree().await?;
        let actor = current.actor();
        let agencies: Vec<(i64, String)> = match tree.root() {
            Some(r) => tree
                .branch(r.id)
                .into_iter()
                .filter(|(_, n)| {
                    n.kind == OrgKind::Agency && authorize(&tree, &actor, Action::ViewQueryLog, Some(n.id)).is_ok()
                })
                .map(|(_, n)| (n.id, n.name_zh.clone()))
                .collect(),
            None => Vec::new(),
        };
        let own = tree.agency_of(current.org_node_id);
        let chosen =
            agency.or(own.filter(|a| agencies.iter().any(|(id, _)| id == a))).or(agencies.first().map(|a| a.0));
        let Some(agency_id) = chosen.filter(|a| agencies.iter().any(|(id, _)| id == a)) else {
            self.record(crate::events::kind::FORBIDDEN, current.event_actor(), "dashboard", &format!("{agency:?}"))
                .await?;
            return Err(AppError::forbidden(
                "您沒有檢視此機關查詢統計的權限",
                "you may not see this agency's query figures",
            ));
        };
        self.append(Draft {
            kind: EntryKind::LedgerRead,
            actor: current.username.clone(),
            at_micros: self.now().timestamp_micros(),
            fields: vec![("event".into(), "dashboard".into()), ("agency_id".into(), agency_id.to_string())],
        })
        .await?;
        let today = roc::taipei_date(self.now());
        let (year, month) = (today.year(), today.month());
        let queries = self.month_queries(agency_id, year, month).await?;
        let mut by_purpose = BTreeMap::new();
        let mut by_operation = BTreeMap::new();
        let mut by_outcome = BTreeMap::new();
        let mut by_day = vec![0usize; usize::try_from(today.day()).unwrap_or(31)];
        for q in &queries {
            *by_purpose.entry(q.purpose.clone()).or_default() += 1;
            *by_operation.entry(q.operation.clone()).or_default() += 1;
            *by_outcome.entry(q.outcome.code().to_owned()).or_default() += 1;
            let day = usize::try_from(roc::taipei_date(q.at).day()).unwrap_or(1);
            if let Some(slot) = by_day.get_mut(day.saturating_sub(1)) {
                *slot += 1;
            }
        }
        let mut flags = BTreeMap::new();
        for f in self.month_flags(year, month, &queries).await? {
            *flags.entry(f.kind.code().to_owned()).or_default() += 1;
        }
        let reviews = self.db().reviews_of(&[agency_id]).await?;
        let due = chrono::Duration::days(crate::reminders::REVIEW_DUE_DAYS);
        // Not yet approved by the unit head: still open, or signed by the reviewer and waiting.
        let overdue_reviews =
            reviews.iter().filter(|r| r.state != "approved" && self.now() - r.created_at > due).count();
        Ok(Dashboard {
            agency_id,
            agency: tree.get(agency_id).map(|n| n.name_zh.clone()).unwrap_or_default(),
            agencies,
            year,
            month,
            total: queries.len(),
            by_purpose: counted(by_purpose),
            by_operation: counted(by_operation),
            by_outcome: counted(by_outcome),
            by_day,
            overdue_reviews,
            open_investigations: self.db().open_investigations_of(agency_id).await?,
            reviews,
            flags: counted(flags),
        })
    }
}
