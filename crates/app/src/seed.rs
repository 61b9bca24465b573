//! Starting data: the seed's purpose catalogue for a new deployment (`init`), and the demo county
//! (`demo`). Both are idempotent: run twice, they change nothing the second time.

use nhiguard_domain::catalogue::{SEED_OPERATIONS, SEED_PURPOSES, Status};
use nhiguard_domain::ids::PersonId;
use nhiguard_domain::org::OrgKind;
use nhiguard_domain::person::{HrStatus, Rank};
use nhiguard_domain::role::Role;
use nhiguard_store::{NewAccount, NewLinkage, NewOperation, NewOrgNode, NewPerson, NewPurpose};

use crate::events::{Actor, kind};
use crate::{App, AppError, Result};

/// The demo account nobody has used for months, for the account review to find (R-ACC-9).
pub const IDLE_DEMO_ACCOUNT: &str = "hlt.idle";

/// The password every demo account shares; printed by `nhiguard demo`, never used outside it.
pub const DEMO_PASSWORD: &str = "Nantou-Demo-115";

const SYSTEM: Actor<'static> = Actor { account_id: None, username: "system", client_addr: "local" };

/// What `init` created: the first admin and the link only that admin should receive.
#[derive(Debug)]
pub struct InitOutcome {
    pub username: String,
    pub activation_url: String,
    pub expires_hours: i64,
}

/// The demo's sign-ins, for the banner `nhiguard demo` prints.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: &'static str,
    pub who: &'static str,
    pub roles: &'static [Role],
}

/// (org code, person id, name, title, rank, username, roles)
/// What `init` records of the first admin it creates; `demo` looks for it.
const INIT_DETAIL: &str = "first planning-department admin (init)";

type DemoPerson = (&'static str, &'static str, &'static str, &'static str, Rank, &'static str, &'static [Role]);

const DEMO_PEOPLE: &[DemoPerson] = &[
    ("PLAN", "NT-0001", "王建民", "資訊科科長", Rank::DivisionChief, "plan.admin", &[Role::PlanningAdmin]),
    ("PLAN", "NT-0002", "蔡惠如", "稽核專員", Rank::Staff, "plan.auditor", &[Role::Auditor]),
    ("SOC", "NT-0101", "林雅婷", "社會救助科股長", Rank::SectionChief, "soc.admin", &[Role::AgencyAdmin]),
    ("SOC", "NT-0102", "陳志明", "社會工作員", Rank::Staff, "soc.user", &[Role::User]),
    ("SOC", "NT-0103", "張淑芬", "保護服務科科長", Rank::DivisionChief, "soc.chief", &[Role::Supervisor]),
    ("SOC", "NT-0104", "黃國華", "保護服務科股長", Rank::SectionChief, "soc.reviewer", &[Role::Reviewer, Role::User]),
    ("SOC-SWC", "NT-0111", "吳佩君", "社工督導", Rank::Staff, "swc.user", &[Role::User]),
    ("HLT", "NT-0201", "李明哲", "企劃科股長", Rank::SectionChief, "hlt.admin", &[Role::AgencyAdmin]),
    ("HLT", "NT-0202", "周美玲", "疾病管制科科員", Rank::Staff, "hlt.user", &[Role::User]),
    (
        "HLT",
        "NT-0203",
        "許文雄",
        "疾病管制科科長",
        Rank::DivisionChief,
        "hlt.chief",
        &[Role::Supervisor, Role::Reviewer],
    ),
    ("HLT", "NT-0204", "鄭麗華", "稽核人員", Rank::Staff, "hlt.auditor", &[Role::Auditor]),
    ("HLT", "NT-0205", "林志偉", "衛生保健科科員", Rank::Staff, "hlt.idle", &[Role::User]),
    ("HLT-NT", "NT-0211", "謝宗翰", "南投市衛生所護理長", Rank::SectionChief, "nt.admin", &[Role::UnitAdmin]),
    ("HLT-NT", "NT-0212", "郭怡君", "公共衛生護理師", Rank::Staff, "nt.user", &[Role::User]),
    (
        "HLT-PL",
        "NT-0221",
        "洪俊傑",
        "埔里鎮衛生所主任",
        Rank::DivisionChief,
        "pl.admin",
        &[Role::UnitAdmin, Role::Supervisor],
    ),
    ("HLT-PL", "NT-0222", "曾淑娟", "公共衛生護理師", Rank::Staff, "pl.user", &[Role::User]),
    ("HLT-CT", "NT-0231", "賴冠宇", "公共衛生護理師", Rank::Staff, "ct.user", &[Role::User]),
    ("TAX", "NT-0301", "邱志豪", "資訊股股長", Rank::SectionChief, "tax.admin", &[Role::AgencyAdmin]),
    ("TAX", "NT-0302", "潘雅雯", "稅務員", Rank::Staff, "tax.user", &[Role::User]),
    ("TAX", "NT-0303", "蘇建良", "法務股股長", Rank::SectionChief, "tax.reviewer", &[Role::Reviewer, Role::Supervisor]),
    ("CIV", "NT-0401", "楊淑惠", "兵役科科員", Rank::Staff, "civ.admin", &[Role::AgencyAdmin]),
    ("CIV", "NT-0402", "劉家豪", "兵役科科員", Rank::Staff, "civ.user", &[Role::User]),
    ("CIV", "NT-0403", "簡明德", "兵役科科長", Rank::DivisionChief, "civ.chief", &[Role::Reviewer, Role::Supervisor]),
    ("ETH", "NT-0501", "高志遠", "政風處專員", Rank::Staff, "eth.officer", &[Role::EthicsOfficer]),
];

/// (code, parent code, name, English name, has sections)
const DEMO_ORG: &[(&str, &str, &str, &str, bool)] = &[
    ("PLAN", "NTC", "計畫處", "Department of Planning", true),
    ("SOC", "NTC", "社會及勞動處", "Department of Social and Labor Affairs", true),
    ("SOC-SWC", "SOC", "南投縣社會福利服務中心", "Nantou Social Welfare Service Centre", false),
    ("HLT", "NTC", "衛生局", "Public Health Bureau", true),
    ("HLT-NT", "HLT", "南投市衛生所", "Nantou City Health Station", false),
    ("HLT-PL", "HLT", "埔里鎮衛生所", "Puli Township Health Station", false),
    ("HLT-CT", "HLT", "草屯鎮衛生所", "Caotun Township Health Station", false),
    ("TAX", "NTC", "稅務局", "Revenue Service Bureau", true),
    ("CIV", "NTC", "民政處", "Department of Civil Affairs", false),
    ("ETH", "NTC", "政風處", "Department of Government Ethics", false),
];

/// (agency code, purpose number, operation code, NHIA approval ref, ISO date)
const DEMO_LINKAGES: &[(&str, i64, &str, &str, &str)] = &[
    ("SOC", 1, "INS01", "健保資字第1050012001號", "2016-09-01"),
    ("SOC", 7, "INS01", "健保資字第1050012002號", "2016-09-01"),
    ("SOC", 7, "ADR01", "健保資字第1050012002號", "2016-09-01"),
    ("SOC", 8, "INS01", "健保資字第1070034511號", "2018-08-20"),
    ("SOC", 8, "ADR01", "健保資字第1070034511號", "2018-08-20"),
    ("SOC", 9, "ADR01", "健保資字第1100051234號", "2021-08-10"),
    ("SOC", 11, "VIS01", "健保資字第1130078800號", "2024-09-02"),
    ("HLT", 3, "INS01", "健保資字第1050012003號", "2016-09-01"),
    ("HLT", 3, "ADR01", "健保資字第1050012003號", "2016-09-01"),
    ("HLT", 4, "ADR01", "健保資字第1050012004號", "2016-09-01"),
    ("HLT", 4, "VIS01", "健保資字第1090020456號", "2020-04-15"),
    ("HLT", 10, "VIS01", "健保資字第1120065432號", "2023-10-30"),
    ("TAX", 2, "ADR01", "健保資字第1050012005號", "2016-09-01"),
    ("TAX", 2, "ADR02", "健保資字第1060023456號", "2017-05-12"),
    ("CIV", 5, "INS01", "健保資字第1050012006號", "2016-09-01"),
    ("CIV", 5, "ADR01", "健保資字第1050012006號", "2016-09-01"),
];

impl App {
    /// Installs the seed's purposes and the default operations if the catalogue is empty.
    pub async fn install_catalogue(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.db().begin().await?;
        if self.db().purposes().await?.is_empty() {
            for p in SEED_PURPOSES {
                let new = NewPurpose {
                    number: p.number,
                    name_zh: p.name_zh.into(),
                    name_en: p.name_en.into(),
                    legal_basis: p.legal_basis.into(),
                    nhia_approval_ref: String::new(),
                    nhia_approval_date: None,
                    status: p.status,
                };
                tx.insert_purpose(&new, None, now).await?;
            }
        }
        if self.db().operations().await?.is_empty() {
            for o in SEED_OPERATIONS {
                let new = NewOperation {
                    code: o.code.into(),
                    name_zh: o.name_zh.into(),
                    name_en: o.name_en.into(),
                    conditions: o.conditions.to_vec(),
                    results: o.results.to_vec(),
                };
                tx.insert_operation(&new, None, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ensure_root(&self, county_name: &str) -> Result<i64> {
        let tree = self.db().org_tree().await?;
        if let Some(root) = tree.root() {
            return Ok(root.id);
        }
        let root = NewOrgNode {
            parent_id: None,
            kind: OrgKind::County,
            code: "NTC".into(),
            name_zh: county_name.into(),
            name_en: "Nantou County Government".into(),
            has_sections: true,
        };
        let mut tx = self.db().begin().await?;
        let id = tx.insert_org_node(&root, self.now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// `nhiguard init`: the county, its planning department, the catalogue and the first
    /// planning-department admin, who receives a one-time activation link (no password anywhere).
    pub async fn init_deployment(
        &self,
        county_name: &str,
        admin_username: &str,
        admin_name: &str,
        admin_person_id: &str,
    ) -> Result<InitOutcome> {
        if self.db().count_accounts().await? > 0 {
            return Err(AppError::conflict(
                "此資料庫已初始化（已有帳號）；如需新管理者，請由計畫處管理者建立",
                "this database is already initialised (it has accounts); a planning-department admin creates further admins",
            ));
        }
        let username = nhiguard_domain::ids::Username::parse(admin_username)?;
        let person_id = PersonId::parse(admin_person_id)?;
        let name = nhiguard_domain::ids::parse_name("name", admin_name, 40)?;
        self.install_catalogue().await?;
        let root = self.ensure_root(county_name).await?;
        let now = self.now();
        let tree = self.db().org_tree().await?;
        let mut tx = self.db().begin().await?;
        let plan = match tree.children(root).find(|n| n.code == "PLAN") {
            Some(n) => n.id,
            None => {
                let n = NewOrgNode {
                    parent_id: Some(root),
                    kind: OrgKind::Agency,
                    code: "PLAN".into(),
                    name_zh: "計畫處".into(),
                    name_en: "Department of Planning".into(),
                    has_sections: true,
                };
                tx.insert_org_node(&n, now).await?
            }
        };
        let person = NewPerson {
            person_id,
            name,
            title: "計畫處管理者".into(),
            rank: Rank::Staff,
            hr_status: HrStatus::Active,
            org_node_id: plan,
            email: String::new(),
        };
        let person_ref = tx.insert_person(&person, now).await?;
        let account = NewAccount {
            username: username.to_string(),
            person_ref,
            status: "pending".into(),
            roles: vec![Role::PlanningAdmin],
        };
        let account_id = tx.insert_account(&account, now).await?;
        self.record_in(&mut tx, kind::ACCOUNT_CREATE, SYSTEM, username.as_str(), INIT_DETAIL).await?;
        tx.commit().await?;
        let token = self.issue_activation(account_id, SYSTEM).await?;
        Ok(InitOutcome {
            username: username.to_string(),
            activation_url: self.activation_url(&token),
            expires_hours: self.settings().activation_hours,
        })
    }

    /// Whether `init` set this database up (its record of the first admin is among the log's
    /// first account actions): a county's own, whatever its accounts are called.
    async fn set_up_by_init(&self) -> Result<bool> {
        let first = self.db().ledger_between(&["account_action"], 0, i64::MAX, 200).await?;
        Ok(first
            .iter()
            .any(|r| nhiguard_ledger::EntryView::decode(&r.body).is_ok_and(|e| e.field("detail") == Some(INIT_DETAIL))))
    }

    /// `nhiguard demo`: the Nantou demo county with people of every role and rank and the
    /// linkages its agencies hold. Accounts already present are left as they are.
    pub async fn fill_demo(&self) -> Result<Vec<DemoAccount>> {
        // A database `init` set up is a county's own: demo accounts with a published password and
        // grants no one applied for must never land in it. A demo's own database (its planning
        // admin there) is filled again as before.
        if self.set_up_by_init().await?
            || (self.db().count_accounts().await? > 0
                && self.db().account_by_username(DEMO_PEOPLE[0].5).await?.is_none())
        {
            return Err(AppError::conflict(
                "此資料庫已有正式帳號，不能填入示範資料（示範帳號共用公開密碼）；請以另一個 --data-dir 或 --database-url 執行 demo",
                "this database holds a deployment's own accounts: demo data (accounts sharing a published password) is not added to it; run demo with another --data-dir or --database-url",
            ));
        }
        self.install_catalogue().await?;
        let root = self.ensure_root("南投縣政府").await?;
        let now = self.now();
        let mut tree = self.db().org_tree().await?;
        for &(code, parent, zh, en, sections) in DEMO_ORG {
            if tree.branch(root).iter().any(|(_, n)| n.code == code) {
                continue;
            }
            let parent_node = tree
                .branch(root)
                .into_iter()
                .find(|(_, n)| n.code == parent)
                .map(|(_, n)| n.clone())
                .ok_or_else(|| AppError::Internal(format!("demo parent {parent} missing")))?;
            let new = NewOrgNode {
                parent_id: Some(parent_node.id),
                kind: parent_node.kind.child_kind(),
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
                has_sections: sections,
            };
            let mut tx = self.db().begin().await?;
            tx.insert_org_node(&new, now).await?;
            tx.commit().await?;
            tree = self.db().org_tree().await?;
        }
        let id_of = |code: &str| tree.branch(root).into_iter().find(|(_, n)| n.code == code).map(|(_, n)| n.id);
        let hash = crate::auth::hash_password_off_thread(DEMO_PASSWORD).await?;
        let mut banner = Vec::new();
        for &(org, pid, name, title, rank, username, roles) in DEMO_PEOPLE {
            banner.push(DemoAccount { username, who: title, roles });
            if self.db().account_by_username(username).await?.is_some() {
                continue;
            }
            let org_node_id = id_of(org).ok_or_else(|| AppError::Internal(format!("demo org {org} missing")))?;
            let person = NewPerson {
                person_id: PersonId::parse(pid)?,
                name: name.into(),
                title: title.into(),
                rank,
                hr_status: HrStatus::Active,
                org_node_id,
                email: String::new(),
            };
            let mut tx = self.db().begin().await?;
            let person_ref = tx.insert_person(&person, now).await?;
            let account =
                NewAccount { username: username.into(), person_ref, status: "pending".into(), roles: roles.to_vec() };
            let account_id = tx.insert_account(&account, now).await?;
            tx.set_demo_password(account_id, &hash, now).await?;
            if username == IDLE_DEMO_ACCOUNT {
                // Created long ago and last used half a year back: what an account review is for.
                tx.record_sign_in_success(account_id, now - chrono::Duration::days(200)).await?;
            }
            self.record_in(&mut tx, kind::ACCOUNT_CREATE, SYSTEM, username, "demo account").await?;
            tx.commit().await?;
        }
        self.fill_demo_calendar().await?;
        let purposes = self.db().purposes().await?;
        let operations = self.db().operations().await?;
        let existing = self.db().linkages(None).await?;
        for &(agency, number, op, reference, date) in DEMO_LINKAGES {
            let (Some(agency_id), Some(p), Some(o)) = (
                id_of(agency),
                purposes.iter().find(|p| p.number == number && p.status == Status::Active),
                operations.iter().find(|o| o.code == op),
            ) else {
                continue;
            };
            if existing.iter().any(|l| l.agency_id == agency_id && l.purpose_id == p.id && l.operation_id == o.id) {
                continue;
            }
            let new = NewLinkage {
                agency_id,
                purpose_id: p.id,
                operation_id: o.id,
                nhia_approval_ref: reference.into(),
                nhia_approval_date: date.parse().ok(),
            };
            let mut tx = self.db().begin().await?;
            tx.insert_linkage(&new, None, now).await?;
            tx.commit().await?;
        }
        // Users hold what their agency's linkages allow (through applications once the account
        // governance flow exists; granted directly here so that the demo can query at once).
        let linkages = self.db().linkages(None).await?;
        let tree = self.db().org_tree().await?;
        let mut tx = self.db().begin().await?;
        for &(org, _, _, _, _, username, roles) in DEMO_PEOPLE {
            if !roles.contains(&Role::User) {
                continue;
            }
            let (Some(node), Some(account)) = (id_of(org), self.db().account_by_username(username).await?) else {
                continue;
            };
            let Some(agency) = tree.agency_of(node) else { continue };
            for l in linkages.iter().filter(|l| l.agency_id == agency && l.status == Status::Active) {
                let g = nhiguard_store::Grant {
                    account_id: account.id,
                    purpose_id: l.purpose_id,
                    operation_id: l.operation_id,
                };
                tx.insert_grant(g, None, now).await?;
            }
        }
        tx.commit().await?;
        Ok(banner)
    }
}

/// Who makes the demo's past queries: (username, purpose number, operation code, case prefix, reason).
const DEMO_QUERIES: &[(&str, i64, &str, &str, &str)] = &[
    ("soc.user", 8, "INS01", "兒保", "兒少保護個案家訪前確認投保單位以聯繫家屬"),
    ("soc.user", 8, "ADR01", "兒保", "兒少保護個案查詢聯絡地址以安排訪視"),
    ("swc.user", 7, "ADR01", "特境", "特殊境遇家庭扶助申請案確認聯絡地址"),
    ("hlt.user", 4, "ADR01", "疫調", "傳染病接觸者協尋，確認聯絡地址以通知採檢"),
    ("nt.user", 3, "INS01", "長者", "六十五歲以上長者健康檢查名冊核對投保狀態"),
    ("pl.user", 3, "INS01", "長者", "長者健康檢查追蹤服務確認投保單位"),
    ("tax.user", 2, "ADR01", "欠稅", "房屋稅欠稅催繳，查詢納稅義務人聯絡地址"),
    ("civ.user", 5, "ADR01", "役男", "役男徵兵處理，查詢役男聯絡地址寄送通知"),
];

/// (agency code, reviewer, head) for the demo's finished review month.
const DEMO_REVIEWERS: &[(&str, &str, Option<&str>)] = &[
    ("SOC", "soc.reviewer", Some("soc.chief")),
    ("HLT", "hlt.chief", Some("pl.admin")),
    ("TAX", "tax.reviewer", None),
    ("CIV", "civ.chief", None),
];

/// Holidays on fixed dates (月日, name). The demo's calendar holds only these; the lunar holidays
/// and the bridging days off and worked (補假, 補行上班) change every year and are entered from the
/// official announcement.
const FIXED_HOLIDAYS: &[(u32, u32, &str)] = &[
    (1, 1, "開國紀念日"),
    (2, 28, "和平紀念日"),
    (4, 4, "兒童節"),
    (5, 1, "勞動節"),
    (9, 28, "孔子誕辰紀念日"),
    (10, 10, "國慶日"),
    (10, 25, "臺灣光復暨金門古寧頭大捷紀念日"),
    (12, 25, "行憲紀念日"),
];

impl App {
    /// This year's and next year's fixed-date holidays, unless a calendar exists.
    async fn fill_demo_calendar(&self) -> Result<()> {
        if !self.calendar().await?.is_empty() {
            return Ok(());
        }
        let Some(plan) = self.db().account_by_username("plan.admin").await? else { return Ok(()) };
        let this = chrono::Datelike::year(&nhiguard_domain::roc::taipei_date(self.now()));
        let mut tx = self.db().begin().await?;
        for year in [this, this + 1] {
            let days: Vec<_> = FIXED_HOLIDAYS
                .iter()
                .filter_map(|&(m, d, name)| {
                    Some((chrono::NaiveDate::from_ymd_opt(year, m, d)?, "holiday".to_owned(), name.to_owned()))
                })
                .collect();
            tx.replace_calendar_year(year, &days, plan.id, self.now()).await?;
        }
        self.record_in(&mut tx, kind::CATALOGUE_CHANGE, SYSTEM, "calendar", "demo: fixed-date holidays").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Two past months of queries by the demo's users, so that the query log, the reviews and the
    /// reports have content: the older month's reviews carried through (signed, some approved), the
    /// last month's prepared and waiting for their reviewers. Does nothing if queries exist.
    pub async fn fill_demo_history(&self) -> Result<()> {
        if !self.db().ledger_between(&["query"], 0, i64::MAX, 1).await?.is_empty() {
            return Ok(());
        }
        let today = nhiguard_domain::roc::taipei_date(self.now());
        let last = crate::review::previous_month(today);
        let first_of_last = chrono::NaiveDate::from_ymd_opt(last.0, last.1, 1).unwrap_or(today);
        let older = crate::review::previous_month(first_of_last);
        let subjects = self.sandbox_examples(200);
        if subjects.is_empty() {
            return Ok(());
        }
        let purposes = self.db().purposes().await?;
        let operations = self.db().operations().await?;
        let mut n = 0usize;
        // The two closed months get their reviews; this month's days so far fill the dashboard.
        let this = (chrono::Datelike::year(&today), chrono::Datelike::month(&today));
        for (year, month) in [older, last, this] {
            let clock = std::sync::Arc::new(nhiguard_domain::clock::ManualClock::new(self.now()));
            let past = self.with_clock(clock.clone());
            for day in 1..=28u32 {
                let Some(date) = chrono::NaiveDate::from_ymd_opt(year, month, day) else { continue };
                if date >= today {
                    break;
                }
                if chrono::Datelike::weekday(&date).number_from_monday() > 5 {
                    continue;
                }
                for (i, &(user, purpose, op, prefix, reason)) in DEMO_QUERIES.iter().enumerate() {
                    // Not every user queries every day: a fixed pattern, the same on every run.
                    if !(day as usize * 7 + i * 3).is_multiple_of(5) {
                        continue;
                    }
                    let minute = u32::try_from((n * 37) % 420).unwrap_or(0);
                    let at = date
                        .and_hms_opt(8 + minute / 60, minute % 60, 0)
                        .map(|t| (t - chrono::Duration::hours(8)).and_utc());
                    let (Some(at), Some(p), Some(o)) =
                        (at, purposes.iter().find(|x| x.number == purpose), operations.iter().find(|x| x.code == op))
                    else {
                        continue;
                    };
                    clock.set(at);
                    let Some(account) = self.db().account_by_username(user).await? else { continue };
                    let current = crate::Current {
                        account_id: account.id,
                        username: account.username.clone(),
                        person_name: account.person_name.clone(),
                        person_title: account.person_title.clone(),
                        org_node_id: account.org_node_id,
                        roles: account.roles.clone(),
                        csrf: String::new(),
                        kind: crate::SessionKind::Web,
                        client_addr: "demo".into(),
                        must_change_password: false,
                        must_enrol_totp: false,
                        reference_generation: None,
                        grants: None,
                        locked_until: None,
                        barred: None,
                    };
                    let input = crate::gateway::QueryInput {
                        purpose_id: p.id,
                        operation_id: o.id,
                        case_number: format!("{}-{prefix}-{:04}", year - 1911, n + 1),
                        reason: reason.into(),
                        national_id: subjects[n % subjects.len()].clone(),
                        ..Default::default()
                    };
                    past.run_query(&current, &input).await?;
                    n += 1;
                }
            }
            if (year, month) != this {
                self.prepare_reviews(year, month).await?;
            }
        }
        // The older month: reviewed, and approved where the agency has a second supervisor.
        let tree = self.db().org_tree().await?;
        for &(code, reviewer, head) in DEMO_REVIEWERS {
            let Some(agency) = tree
                .root()
                .and_then(|r| tree.branch(r.id).into_iter().find(|(_, x)| x.code == code).map(|(_, x)| x.id))
            else {
                continue;
            };
            let Some(review) = self.db().review_for(agency, older.0, older.1).await? else { continue };
            let as_user = |name: &str| {
                let name = name.to_owned();
                async move {
                    let a = self
                        .db()
                        .account_by_username(&name)
                        .await?
                        .ok_or_else(|| AppError::Internal(format!("demo {name}")))?;
                    Ok::<_, AppError>(crate::Current {
                        account_id: a.id,
                        username: a.username.clone(),
                        person_name: a.person_name.clone(),
                        person_title: a.person_title.clone(),
                        org_node_id: a.org_node_id,
                        roles: a.roles.clone(),
                        csrf: String::new(),
                        kind: crate::SessionKind::Web,
                        client_addr: "demo".into(),
                        must_change_password: false,
                        must_enrol_totp: false,
                        reference_generation: None,
                        grants: None,
                        locked_until: None,
                        barred: None,
                    })
                }
            };
            let head_of = head.map(as_user);
            let assigner = as_user(head.unwrap_or(reviewer)).await?;
            self.assign_reviewer(&assigner, review.id, reviewer).await?;
            let assigner = as_user(reviewer).await?;
            for (i, seq) in review.sample.iter().enumerate() {
                let (finding, note) = if i == 0 && code == "SOC" {
                    ("anomalous", "同一案號短期內重複查詢，已請承辦人補充說明")
                } else {
                    ("normal", "")
                };
                self.record_finding(&assigner, review.id, *seq, finding, note).await?;
            }
            self.sign_review(&assigner, review.id).await?;
            if let Some(h) = head_of {
                self.sign_review(&h.await?, review.id).await?;
            }
            // The anomaly's investigation, under way: its members named, the business unit's
            // part recorded, the ethics and IT units' still to come.
            for inv in self.db().investigations_of_review(review.id).await? {
                self.name_members(&assigner, inv.id, "soc.chief", "eth.officer", "plan.admin").await?;
                let business = as_user("soc.chief").await?;
                self.record_step(
                    &business,
                    inv.id,
                    "已約談承辦人，其說明同案號之家訪前後各查詢一次，正調閱個案紀錄核對",
                )
                .await?;
            }
        }
        Ok(())
    }
}
