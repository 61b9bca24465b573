//! The county's admin application form (附件：南投縣政府查詢中央健康保險署健保資料機關管理者申請表,
//! R-ACC-2): an account application filled in for the official letter to the planning department,
//! as a printable A4 page and as an OpenDocument text file. An application for an ordinary user
//! prints the same form under the user-account title.

use nhiguard_domain::account::{ApplicationKind, ApplicationState};
use nhiguard_domain::roc;
use nhiguard_domain::role::Role;

use crate::{App, Current, Result};

/// The confidentiality pledge (保密切結) as the form prints it.
pub const PLEDGE_ZH: &str = "本人保證僅於辦理上列業務所需時查詢健保資料，並遵守個人資料保護法及本府管理要點；\
     查得之資料不作其他用途、不洩漏或交付他人，帳號密碼不與他人共用；如有違反，願負相關法律責任。";

/// What the form shows, every value already in words.
#[derive(Debug, Clone)]
pub struct ApplicationForm {
    pub title: String,
    pub number: i64,
    pub kind: String,
    pub state: String,
    pub agency: String,
    pub unit: String,
    pub person_id: String,
    pub name: String,
    pub job_title: String,
    pub email: String,
    pub username: String,
    pub roles: String,
    /// (purpose, its legal basis, operation)
    pub grants: Vec<(String, String, String)>,
    pub reason: String,
    pub pledge: bool,
    pub filed: String,
    pub filed_by: String,
    pub decided: String,
    pub carried_out: String,
}

impl App {
    /// The form, for the admins and supervisors who handle applications (it shows the applicant's
    /// e-mail, employee number and reason).
    pub async fn application_form(&self, current: &Current, id: i64) -> Result<ApplicationForm> {
        if !(current.roles.iter().any(|r| r.is_admin()) || current.has(Role::Supervisor)) {
            self.record(crate::events::kind::FORBIDDEN, current.event_actor(), &format!("application {id}"), "form")
                .await?;
            return Err(crate::AppError::forbidden(
                "申請表僅供管理者及權責主管檢視",
                "the application form is for admins and supervisors",
            ));
        }
        let a = self.application(current, id).await?;
        let tree = self.db().org_tree().await?;
        let person = self.db().person(a.person_ref).await?;
        let agency_id = tree.agency_of(a.org_node_id).unwrap_or(a.org_node_id);
        let name_of = |node: i64| tree.get(node).map(|n| n.name_zh.clone()).unwrap_or_default();
        let roles: Vec<Role> = a.roles.split(',').filter_map(|r| Role::from_code(r.trim())).collect();
        let admin = roles.iter().any(|r| matches!(r, Role::AgencyAdmin | Role::UnitAdmin | Role::PlanningAdmin));
        let purposes = self.db().purposes().await?;
        let operations = self.db().operations().await?;
        let mut grants = Vec::new();
        for part in a.grants.split(',').filter(|p| !p.is_empty()) {
            let Some((p, o)) = part.split_once(':') else { continue };
            let p = purposes.iter().find(|x| x.id.to_string() == p.trim());
            let o = operations.iter().find(|x| x.id.to_string() == o.trim());
            if let (Some(p), Some(o)) = (p, o) {
                grants.push((
                    format!("{}. {}", p.number, p.name_zh),
                    p.legal_basis.clone(),
                    format!("{} {}", o.code, o.name_zh),
                ));
            }
        }
        let who = |acc: Option<i64>| self.account_label(acc);
        let state = ApplicationState::from_code(&a.state);
        let decided = match a.decided_at {
            Some(t) => format!(
                "{} {} {}{}",
                roc::short_datetime(t),
                state.map(|s| s.zh()).unwrap_or_default(),
                who(a.decided_by).await,
                if a.decision_note.is_empty() { String::new() } else { format!("：{}", a.decision_note) }
            ),
            None => String::new(),
        };
        let carried_out = match a.carried_out_at {
            Some(t) => format!("{} {}", roc::short_datetime(t), who(a.carried_out_by).await),
            None => String::new(),
        };
        Ok(ApplicationForm {
            title: if admin {
                "南投縣政府查詢中央健康保險署健保資料機關管理者申請表".into()
            } else {
                "南投縣政府查詢中央健康保險署健保資料使用者帳號申請表".into()
            },
            number: a.id,
            kind: ApplicationKind::from_code(&a.kind).map(|k| k.zh().to_owned()).unwrap_or_default(),
            state: state.map(|s| s.zh().to_owned()).unwrap_or_default(),
            agency: name_of(agency_id),
            unit: if agency_id == a.org_node_id { String::new() } else { name_of(a.org_node_id) },
            person_id: person.person_id.to_string(),
            name: person.name.clone(),
            job_title: person.title.clone(),
            email: self.db().person_email(a.person_ref).await?,
            username: a.username.clone(),
            roles: roles.iter().map(|r| r.zh()).collect::<Vec<_>>().join("、"),
            grants,
            reason: a.reason.clone(),
            pledge: a.pledge,
            filed: roc::short_datetime(a.created_at),
            filed_by: who(Some(a.created_by)).await,
            decided,
            carried_out,
        })
    }

    /// The form as an OpenDocument text file: (file name, bytes).
    pub async fn application_form_odt(&self, current: &Current, id: i64) -> Result<(String, Vec<u8>)> {
        use nhiguard_tabular::Block;
        let f = self.application_form(current, id).await?;
        let row = |k: &str, v: &str| vec![k.to_owned(), v.to_owned()];
        let mut grants = vec![vec!["業務範圍".to_owned(), "法令依據".to_owned(), "查詢作業".to_owned()]];
        grants.extend(f.grants.iter().map(|(p, l, o)| vec![p.clone(), l.clone(), o.clone()]));
        let blocks = vec![
            Block::Title(f.title.clone()),
            Block::Paragraph(format!("申請編號：第 {} 號　申請類別：{}　目前狀態：{}", f.number, f.kind, f.state)),
            Block::Heading("一、申請人資料".into()),
            Block::Table {
                rows: vec![
                    row("申請機關", &f.agency),
                    row("單位", &f.unit),
                    row("員工編號", &f.person_id),
                    row("姓名", &f.name),
                    row("職稱", &f.job_title),
                    row("電子郵件", &f.email),
                    row("帳號", &f.username),
                    row("角色", &f.roles),
                ],
                widths_cm: vec![4.0, 13.0],
            },
            Block::Heading("二、申請查詢之業務範圍及作業".into()),
            Block::Table { rows: grants, widths_cm: vec![5.0, 8.0, 4.0] },
            Block::Heading("三、申請理由".into()),
            Block::Paragraph(f.reason.clone()),
            Block::Heading("四、保密切結".into()),
            Block::Paragraph(format!("{}\n（{}）", PLEDGE_ZH, if f.pledge { "申請人已勾選同意" } else { "尚未簽署" })),
            Block::Heading("五、辦理紀錄".into()),
            Block::Table {
                rows: vec![
                    row("填表", &format!("{} {}", f.filed, f.filed_by)),
                    row("審核", &f.decided),
                    row("設定", &f.carried_out),
                ],
                widths_cm: vec![4.0, 13.0],
            },
            Block::Heading("六、簽章".into()),
            Block::Table {
                rows: vec![
                    vec!["申請人".into(), "單位主管".into(), "機關首長".into()],
                    vec!["\n\n".into(), "\n\n".into(), "\n\n".into()],
                    vec!["計畫處承辦人".into(), "計畫處科長".into(), "計畫處處長".into()],
                    vec!["\n\n".into(), "\n\n".into(), "\n\n".into()],
                ],
                widths_cm: vec![5.6, 5.6, 5.8],
            },
        ];
        Ok((format!("nhiguard-application-{}.odt", f.number), nhiguard_tabular::write_odt(&blocks)))
    }
}
