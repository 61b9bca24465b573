//! The purpose catalogue (R-PUR-1, R-PUR-2, R-X-6): purposes with their legal basis, the NHIA
//! operations, and the linkages (agency × purpose × operation) that NHIA approved. All of it is
//! data, editable with history; what ships here is only the seed's catalogue as default data for a
//! new deployment.

use serde::{Deserialize, Serialize};

use crate::DomainError;

crate::labelled_enum!(
    /// Status of a purpose, operation or linkage. Retired ones stop new use and keep their history.
    Status {
        Active = ("active", "使用中", "active"),
        Retired = ("retired", "已廢止", "retired"),
    }
);

crate::labelled_enum!(
    /// What identifies the subject for an operation.
    SubjectCondition {
        NationalId = ("national_id", "身分證統一編號／居留證號", "national ID / resident certificate no."),
        NameBirthDate = ("name_birth_date", "姓名及出生日期", "name and date of birth"),
    }
);

crate::labelled_enum!(
    /// A field an operation returns.
    ResultField {
        Name = ("name", "姓名", "name"),
        BirthDate = ("birth_date", "出生日期", "date of birth"),
        InsuredStatus = ("insured_status", "投保狀態", "insured status"),
        InsuredCategory = ("insured_category", "投保類別", "insured category"),
        InsuredUnit = ("insured_unit", "投保單位", "insured unit"),
        InsuredSince = ("insured_since", "投保日期", "insured since"),
        ContactAddress = ("contact_address", "聯絡地址", "contact address"),
        ContactPhone = ("contact_phone", "聯絡電話", "contact phone"),
        VisitDate = ("visit_date", "就醫日期", "visit date"),
        Hospital = ("hospital", "就醫院所", "hospital or clinic"),
        Department = ("department", "就醫科別", "department"),
    }
);

/// Parses a comma-separated list of codes of a labelled enum; refuses unknown codes and an empty list.
pub fn parse_code_list<T: Copy + PartialEq>(
    field: crate::Field,
    input: &str,
    from_code: fn(&str) -> Option<T>,
) -> Result<Vec<T>, DomainError> {
    let mut out = Vec::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v = from_code(part).ok_or_else(|| {
            DomainError::invalid(field, format!("不認得的代碼「{part}」"), format!("unknown code '{part}'"))
        })?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(DomainError::invalid(field, "至少選擇一項", "choose at least one"));
    }
    Ok(out)
}

/// A purpose as the seed words it: item number, the business, and its legal basis.
#[derive(Debug, Clone, Copy)]
pub struct SeedPurpose {
    pub number: i64,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub legal_basis: &'static str,
    pub status: Status,
}

/// §2 of the regulation (南投縣政府應用衛生福利部中央健康保險署資訊作業管理要點, as amended 113-07-30).
pub const SEED_PURPOSES: &[SeedPurpose] = &[
    SeedPurpose {
        number: 1,
        name_zh: "身心障礙者參加社會保險保險費補助作業",
        name_en: "Social insurance premium subsidies for people with disabilities",
        legal_basis: "身心障礙者參加社會保險保險費補助辦法第八條及第九條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 2,
        name_zh: "土地稅稽徵及催繳作業、房屋稅稽徵業務、使用牌照稅稽徵、催繳作業及欠稅執行業務",
        name_en: "Land, house and vehicle licence tax collection, reminders and enforcement of arrears",
        legal_basis: "稅捐稽徵法第十八條至第十九條及第三十條，行政程序法第六十七條至第六十九條及第七十一條至第七十三條，土地稅法第四十條、第四十三條、第四十六條及第四十九條，房屋稅條例第十二條及使用牌照稅法第十條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 3,
        name_zh: "六十五歲以上長者健康檢查保健服務實施計畫",
        name_en: "Health checks for seniors aged 65 and over",
        legal_basis: "老人福利法第二十一條及老人健康檢查保健服務及追蹤服務準則",
        status: Status::Active,
    },
    SeedPurpose {
        number: 4,
        name_zh: "協尋傳染病或有傳染病之虞個案",
        name_en: "Tracing cases of infectious disease or suspected infection",
        legal_basis: "傳染病防治法第七條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 5,
        name_zh: "役男徵兵處理業務",
        name_en: "Conscription of men liable for military service",
        legal_basis: "兵役法第一條、第三十二條及徵兵規則第四條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 6,
        name_zh: "（刪除）",
        name_en: "(deleted)",
        legal_basis: "（本款已刪除）",
        status: Status::Retired,
    },
    SeedPurpose {
        number: 7,
        name_zh: "特殊境遇家庭扶助業務",
        name_en: "Assistance to families in hardship",
        legal_basis: "特殊境遇家庭扶助條例第九條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 8,
        name_zh: "兒童及少年保護、脆弱家庭個案管理及六歲以下弱勢兒童主動關懷方案",
        name_en: "Child and youth protection, vulnerable-family case management and outreach to disadvantaged children under six",
        legal_basis: "兒童及少年福利與權益保障法第五十四條及第七十條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 9,
        name_zh: "家庭暴力防治業務、強化社會安全網計畫及整合型心理健康工作計畫",
        name_en: "Domestic violence prevention, the social safety net programme and integrated mental health work",
        legal_basis: "家庭暴力防治法第一條、精神衛生法第六條及自殺防治法第十三條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 10,
        name_zh: "各項疫苗接種業務之預防接種受害情形調查",
        name_en: "Investigation of vaccine injury in immunisation programmes",
        legal_basis: "傳染病防治法第三十條及預防接種受害救濟基金徵收及審議辦法第七條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 11,
        name_zh: "南投縣兒童死亡原因回溯分析案例討論會議相關業務",
        name_en: "Nantou County child death review meetings",
        legal_basis: "兒童及少年福利與權益保障法第十三條",
        status: Status::Active,
    },
    SeedPurpose {
        number: 12,
        name_zh: "依其他法令規定，由本府向衛生福利部中央健康保險署申請通過後，提供本府及所屬機關辦理相關業務",
        name_en: "Other business under other laws, once approved by the NHIA on the county's application",
        legal_basis: "其他法令規定（經衛生福利部中央健康保險署申請通過者）",
        status: Status::Active,
    },
];

/// Whether an operation with these result fields answers one record per medical visit — possibly
/// none, for a person with no visits — rather than one record per person found.
pub fn answers_per_visit(results: &[ResultField]) -> bool {
    results.iter().any(|f| matches!(f, ResultField::VisitDate | ResultField::Hospital | ResultField::Department))
}

/// An NHIA lookup as shipped by default. Codes are the county's; the connector maps them to NHIA's.
#[derive(Debug, Clone, Copy)]
pub struct SeedOperation {
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub conditions: &'static [SubjectCondition],
    pub results: &'static [ResultField],
}

pub const SEED_OPERATIONS: &[SeedOperation] = &[
    SeedOperation {
        code: "INS01",
        name_zh: "投保狀態查詢",
        name_en: "Insured status",
        conditions: &[SubjectCondition::NationalId],
        results: &[
            ResultField::Name,
            ResultField::InsuredStatus,
            ResultField::InsuredCategory,
            ResultField::InsuredUnit,
            ResultField::InsuredSince,
        ],
    },
    SeedOperation {
        code: "ADR01",
        name_zh: "聯絡地址查詢",
        name_en: "Contact address",
        conditions: &[SubjectCondition::NationalId],
        results: &[ResultField::Name, ResultField::ContactAddress, ResultField::ContactPhone],
    },
    SeedOperation {
        code: "ADR02",
        name_zh: "聯絡地址查詢（姓名及出生日期）",
        name_en: "Contact address by name and date of birth",
        conditions: &[SubjectCondition::NameBirthDate],
        results: &[ResultField::Name, ResultField::BirthDate, ResultField::ContactAddress],
    },
    SeedOperation {
        code: "VIS01",
        name_zh: "就醫紀錄查詢",
        name_en: "Recent medical visits",
        conditions: &[SubjectCondition::NationalId],
        results: &[ResultField::Name, ResultField::VisitDate, ResultField::Hospital, ResultField::Department],
    },
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    pub id: i64,
    pub number: i64,
    pub name_zh: String,
    pub name_en: String,
    pub legal_basis: String,
    pub nhia_approval_ref: String,
    pub nhia_approval_date: Option<chrono::NaiveDate>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub conditions: Vec<SubjectCondition>,
    pub results: Vec<ResultField>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linkage {
    pub id: i64,
    pub agency_id: i64,
    pub purpose_id: i64,
    pub operation_id: i64,
    pub nhia_approval_ref: String,
    pub nhia_approval_date: Option<chrono::NaiveDate>,
    pub status: Status,
}

/// An NHIA approval reference such as 健保資字第1130012345號: required for a linkage, free text
/// otherwise, bounded.
pub fn parse_approval_ref(input: &str, required: bool) -> Result<String, DomainError> {
    let s = input.trim();
    if s.is_empty() {
        if required {
            return Err(DomainError::invalid(
                "nhia_approval_ref",
                "請填寫健保署核准文號",
                "enter the NHIA approval reference",
            ));
        }
        return Ok(String::new());
    }
    crate::ids::parse_name("nhia_approval_ref", s, 64)
}

/// An ISO date (2026-11-27) or an ROC date (115/11/27 or 115-11-27).
pub fn parse_date(field: crate::Field, input: &str) -> Result<Option<chrono::NaiveDate>, DomainError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        DomainError::invalid(
            field,
            "日期格式應為 115/11/27（民國）或 2026-11-27",
            "a date is 115/11/27 (ROC) or 2026-11-27",
        )
    };
    let parts: Vec<&str> = s.split(['/', '-']).collect();
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let (y, m, d): (i32, u32, u32) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    let year = if y < 1000 { y + 1911 } else { y };
    if !(1800..=9999).contains(&year) {
        // Beyond any date the county deals in; and far enough from chrono's limits that a day
        // added to it (the end of a search period) cannot overflow.
        return Err(bad());
    }
    chrono::NaiveDate::from_ymd_opt(year, m, d).map(Some).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_roc_or_gregorian_within_four_digit_years() {
        let d = |s: &str| parse_date("date", s);
        assert_eq!(d("115/11/27").unwrap(), chrono::NaiveDate::from_ymd_opt(2026, 11, 27));
        assert_eq!(d("2026-11-27").unwrap(), chrono::NaiveDate::from_ymd_opt(2026, 11, 27));
        assert_eq!(d(" ").unwrap(), None);
        for bad in ["262142-12-31", "10000-01-01", "1799-12-31", "115/13/01", "115/2/30", "-1/1/1", "115/11"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn r_pur_1_seed_catalogue_has_eleven_live_items_and_item_6_retired() {
        let live: Vec<i64> = SEED_PURPOSES.iter().filter(|p| p.status == Status::Active).map(|p| p.number).collect();
        assert_eq!(live, vec![1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
        let six = SEED_PURPOSES.iter().find(|p| p.number == 6).unwrap();
        assert_eq!(six.status, Status::Retired);
        assert!(SEED_PURPOSES.iter().all(|p| !p.legal_basis.is_empty()));
    }

    #[test]
    fn dates_parse_in_roc_and_iso() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 7, 30).unwrap();
        assert_eq!(parse_date("d", "113/07/30").unwrap(), Some(d));
        assert_eq!(parse_date("d", "2024-07-30").unwrap(), Some(d));
        assert_eq!(parse_date("d", "").unwrap(), None);
        assert!(parse_date("d", "113/02/30").is_err());
        assert!(parse_date("d", "yesterday").is_err());
    }

    #[test]
    fn code_lists_refuse_unknown_and_empty() {
        let v = parse_code_list("results", "name, contact_address,name", ResultField::from_code).unwrap();
        assert_eq!(v, vec![ResultField::Name, ResultField::ContactAddress]);
        assert!(parse_code_list("results", "name,salary", ResultField::from_code).is_err());
        assert!(parse_code_list("results", " , ", ResultField::from_code).is_err());
    }
}
