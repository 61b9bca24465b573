//! The office calendar (see `nhiguard_domain::calendar`): read by everyone signed in, kept by the
//! planning department one year at a time, used by the risk flags to tell office hours.

use nhiguard_domain::access::{Action, authorize};
use nhiguard_domain::calendar::{self, CalendarDay, DayKind};

use crate::events::kind;
use crate::{App, AppError, Current, Result};

impl App {
    /// Every calendar day, in date order.
    pub async fn calendar(&self) -> Result<Vec<CalendarDay>> {
        Ok(self
            .db()
            .calendar_days()
            .await?
            .into_iter()
            .filter_map(|(date, kind, name)| Some(CalendarDay { date, kind: DayKind::from_code(&kind)?, name }))
            .collect())
    }

    /// The planning department replaces one year's days with those in `text` (all or nothing).
    pub async fn set_calendar_year(&self, current: &Current, year: i32, text: &str) -> Result<usize> {
        let tree = self.db().org_tree().await?;
        if let Err(e) = authorize(&tree, &current.actor(), Action::EditCatalogue, None) {
            self.record(kind::FORBIDDEN, current.event_actor(), &format!("calendar {year}"), "edit").await?;
            return Err(e.into());
        }
        if !(2000..=2200).contains(&year) {
            return Err(AppError::invalid("year", "年份不合理", "that year is out of range"));
        }
        let days = calendar::parse_year(year, text)?;
        let rows: Vec<_> = days.iter().map(|d| (d.date, d.kind.code().to_owned(), d.name.clone())).collect();
        let mut tx = self.db().begin().await?;
        tx.replace_calendar_year(year, &rows, current.account_id, self.now()).await?;
        let holidays = days.iter().filter(|d| d.kind == DayKind::Holiday).count();
        self.record_in(
            &mut tx,
            kind::CATALOGUE_CHANGE,
            current.event_actor(),
            &format!("calendar {year}"),
            &format!("{holidays} holidays, {} make-up working days", days.len() - holidays),
        )
        .await?;
        tx.commit().await?;
        Ok(days.len())
    }

    /// The risk thresholds with the calendar's make-up working days, and the holidays.
    pub(crate) async fn risk_calendar(&self) -> Result<(nhiguard_domain::risk::Thresholds, Vec<chrono::NaiveDate>)> {
        let days = self.calendar().await?;
        let mut th = self.settings().risk.clone();
        th.make_up_workdays = days.iter().filter(|d| d.kind == DayKind::Workday).map(|d| d.date).collect();
        Ok((th, days.iter().filter(|d| d.kind == DayKind::Holiday).map(|d| d.date).collect()))
    }
}
