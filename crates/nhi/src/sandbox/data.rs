//! The sandbox's synthetic population: people generated from a seed, each with a valid national
//! ID, a Chinese name, a birth date, NHI insurance details, a contact address in Nantou County, a
//! phone and recent medical visits. Same seed, size and reference date → the same people, byte
//! for byte (a small SplitMix64 generator of our own, so no library upgrade can change them).
//!
//! The people are invented, but they are treated like real ones: `Debug` shows a masked ID only,
//! and nothing here logs.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{Datelike, Days, NaiveDate};
use nhiguard_domain::national_id::NationalId;

/// Size of the default population.
pub const DEFAULT_SIZE: usize = 5000;

/// Largest population `SandboxData::generate` makes (larger sizes are cut to this).
pub const MAX_SIZE: usize = 2_000_000;

/// The day NHI began (全民健康保險開辦): no one is insured before it.
const NHI_START: (i32, u32, u32) = (1995, 3, 1);

/// The reference date of `SandboxData::with_seed`: visits fall in the two years before it.
pub const DEFAULT_AS_OF: (i32, u32, u32) = (2026, 1, 1);

crate::sandbox::simple_enum!(Sex { Male = "男", Female = "女" });
crate::sandbox::simple_enum!(InsuredStatus { Insured = "在保", Withdrawn = "退保", Suspended = "停保" });
crate::sandbox::simple_enum!(InsuredCategory {
    First = "第一類",
    Second = "第二類",
    Third = "第三類",
    Fourth = "第四類",
    Fifth = "第五類",
    Sixth = "第六類",
});

/// One synthetic person.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    pub national_id: NationalId,
    pub name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub insured_status: InsuredStatus,
    pub insured_category: InsuredCategory,
    pub insured_unit: String,
    pub insured_since: NaiveDate,
    pub contact_address: String,
    pub contact_phone: String,
    /// Oldest first.
    pub visits: Vec<Visit>,
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Person({}, {} visits)", self.national_id.masked(), self.visits.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub date: NaiveDate,
    pub hospital: String,
    pub department: String,
}

/// The population and its indexes.
pub struct SandboxData {
    seed: u64,
    as_of: NaiveDate,
    people: Vec<Person>,
    by_id: HashMap<String, usize>,
    by_name_birth: HashMap<(String, NaiveDate), Vec<usize>>,
}

impl fmt::Debug for SandboxData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxData")
            .field("seed", &self.seed)
            .field("as_of", &self.as_of)
            .field("people", &self.people.len())
            .finish()
    }
}

impl SandboxData {
    /// `DEFAULT_SIZE` people with visits in the two years before `DEFAULT_AS_OF`.
    pub fn with_seed(seed: u64) -> Self {
        Self::generate(seed, DEFAULT_SIZE, default_as_of())
    }

    /// `size` people (at most `MAX_SIZE`); visits fall in the two years before `as_of` (give the
    /// clock's date for a demo, a fixed date for tests).
    pub fn generate(seed: u64, size: usize, as_of: NaiveDate) -> Self {
        let size = size.min(MAX_SIZE);
        let mut rng = Rng::new(seed);
        let mut people = Vec::with_capacity(size);
        let mut by_id = HashMap::with_capacity(size);
        let mut seen = HashSet::with_capacity(size);
        // Rare ID collisions are drawn again; the bound only guards against a generator bug.
        let mut tries = 0usize;
        while people.len() < size && tries < size.saturating_mul(4) + 16 {
            tries += 1;
            let Some(person) = make_person(&mut rng, as_of) else { continue };
            if !seen.insert(person.national_id.expose().to_owned()) {
                continue;
            }
            by_id.insert(person.national_id.expose().to_owned(), people.len());
            people.push(person);
        }
        let mut by_name_birth: HashMap<(String, NaiveDate), Vec<usize>> = HashMap::new();
        for (i, p) in people.iter().enumerate() {
            by_name_birth.entry((p.name.clone(), p.birth_date)).or_default().push(i);
        }
        Self { seed, as_of, people, by_id, by_name_birth }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person_by_id(&self, id: &NationalId) -> Option<&Person> {
        self.by_id.get(id.expose()).and_then(|&i| self.people.get(i))
    }

    pub fn people_by_name_birth(&self, name: &str, birth_date: NaiveDate) -> Vec<&Person> {
        self.by_name_birth
            .get(&(name.to_owned(), birth_date))
            .map(|ix| ix.iter().filter_map(|&i| self.people.get(i)).collect())
            .unwrap_or_default()
    }

    /// `n` IDs of people in the population, spread over it, the same every time (for tests and
    /// demos). Fewer if the population is smaller.
    pub fn sample_ids(&self, n: usize) -> Vec<NationalId> {
        let len = self.people.len();
        if n == 0 || len == 0 {
            return Vec::new();
        }
        let n = n.min(len);
        (0..n).filter_map(|k| self.people.get(k * len / n)).map(|p| p.national_id.clone()).collect()
    }

    /// A valid national ID that belongs to no one in the population (for not-found demos).
    pub fn absent_id(&self) -> NationalId {
        let mut rng = Rng::new(self.seed ^ 0xA5A5_5A5A_0F0F_F0F0);
        loop {
            if let Some(id) = make_id(&mut rng, b'M', 1)
                && !self.by_id.contains_key(id.expose())
            {
                return id;
            }
        }
    }
}

pub(crate) fn default_as_of() -> NaiveDate {
    let (y, m, d) = DEFAULT_AS_OF;
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// SplitMix64: tiny, fast, and fixed forever (the population must not change with a dependency).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.index(items.len());
        items.get(i).copied().unwrap_or_default()
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The numbers the first letter stands for in the check-digit sum (as in the domain's parser).
const LETTER_CODES: [u32; 26] =
    [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33];

/// A national ID (second digit 1/2) or new-style resident certificate number (8/9) with the
/// right check digit; confirmed by the domain's own parser.
fn make_id(rng: &mut Rng, letter: u8, second: u32) -> Option<NationalId> {
    let code = *LETTER_CODES.get(usize::from(letter.checked_sub(b'A')?))?;
    let digits: Vec<u32> = (0..7).map(|_| rng.below(10) as u32).collect();
    let mut sum = code / 10 + (code % 10) * 9 + second * 8;
    for (i, d) in digits.iter().enumerate() {
        sum += d * (7 - i as u32);
    }
    let check = (10 - sum % 10) % 10;
    let mut s = String::with_capacity(10);
    s.push(char::from(letter));
    s.extend(
        std::iter::once(second).chain(digits).chain(std::iter::once(check)).filter_map(|d| char::from_digit(d, 10)),
    );
    NationalId::parse(&s).ok()
}

const SURNAMES: &[&str] = &[
    "陳", "林", "黃", "張", "李", "王", "吳", "劉", "蔡", "楊", "許", "鄭", "謝", "洪", "郭", "邱", "曾", "廖", "賴",
    "徐", "周", "葉", "蘇", "莊", "呂", "江", "何", "蕭", "羅", "高", "潘", "簡", "朱", "鍾", "游", "彭", "詹", "胡",
];
const MALE_FIRST: &[&str] =
    &["志", "建", "俊", "家", "冠", "宗", "承", "柏", "彥", "文", "國", "信", "宏", "明", "振", "正", "嘉", "子"];
const MALE_SECOND: &[&str] =
    &["明", "宏", "偉", "豪", "傑", "翔", "霖", "諺", "銘", "輝", "雄", "賢", "廷", "安", "峰", "緯", "勳", "榮"];
const FEMALE_FIRST: &[&str] =
    &["淑", "美", "雅", "怡", "佳", "欣", "靜", "詩", "宜", "惠", "秀", "麗", "玉", "思", "品", "郁", "婉", "芷"];
const FEMALE_SECOND: &[&str] =
    &["芬", "婷", "君", "慧", "玲", "如", "萍", "涵", "珍", "華", "琪", "瑜", "蓉", "妤", "庭", "真", "雯", "晴"];

const TOWNSHIPS: &[&str] = &[
    "南投市",
    "埔里鎮",
    "草屯鎮",
    "竹山鎮",
    "集集鎮",
    "名間鄉",
    "鹿谷鄉",
    "中寮鄉",
    "魚池鄉",
    "國姓鄉",
    "水里鄉",
    "信義鄉",
    "仁愛鄉",
];
const ROADS: &[&str] = &[
    "中山路",
    "中正路",
    "民生路",
    "民族路",
    "復興路",
    "文化路",
    "和平路",
    "光明路",
    "信義路",
    "仁愛路",
    "中興路",
    "自強路",
    "成功路",
    "建國路",
    "博愛路",
    "三民路",
    "育英街",
    "西安路",
    "南昌街",
    "八德路",
];
const SECTIONS: &[&str] = &["一段", "二段", "三段"];
const COMPANY_PREFIX: &[&str] =
    &["日月", "合歡", "玉山", "中興", "藍田", "九九峰", "八卦", "清境", "濁水", "武嶺", "鳳凰", "貓羅"];
const COMPANY_TRADE: &[&str] =
    &["工業", "食品", "精密", "營造", "茶業", "觀光", "電子", "物流", "紙業", "醫療器材", "竹藝", "酒業"];
const GOVERNMENT_UNITS: &[&str] =
    &["南投縣政府", "南投縣政府衛生局", "南投縣政府稅務局", "南投縣政府警察局", "南投縣立南投國民中學"];
const UNIONS: &[&str] = &["泥水業", "汽車駕駛員", "美容業", "水電業", "廚師", "木工業", "裝潢業"];
const HOSPITALS: &[&str] = &[
    "衛生福利部南投醫院",
    "衛生福利部草屯療養院",
    "埔里基督教醫院",
    "臺中榮民總醫院埔里分院",
    "竹山秀傳醫院",
    "佑民醫院",
    "曾漢棋綜合醫院",
    "東華醫院",
];
const CLINIC_NAMES: &[&str] = &["仁愛", "康寧", "安心", "大順", "博愛", "信生", "惠民", "長春", "德安"];
const CLINIC_KINDS: &[&str] = &["診所", "家庭醫學科診所", "耳鼻喉科診所", "小兒科診所", "牙醫診所", "中醫診所"];
const DEPARTMENTS: &[&str] = &[
    "家庭醫學科",
    "內科",
    "外科",
    "小兒科",
    "婦產科",
    "骨科",
    "眼科",
    "耳鼻喉科",
    "皮膚科",
    "牙科",
    "中醫科",
    "復健科",
    "精神科",
    "急診醫學科",
];

fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap_or(date)
}

/// A date uniform in `[from, to]` (or `to` when the range is empty).
fn date_between(rng: &mut Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days();
    if span <= 0 {
        return to;
    }
    days_before(to, rng.below(span as u64 + 1))
}

fn make_person(rng: &mut Rng, as_of: NaiveDate) -> Option<Person> {
    // Most people carry Nantou's letter M; residents (外籍人士) get the new 8/9 numbers.
    let letter = if rng.chance(70) { b'M' } else { b'A' + rng.below(26) as u8 };
    let resident = rng.chance(3);
    let male = rng.chance(50);
    let second = match (resident, male) {
        (false, true) => 1,
        (false, false) => 2,
        (true, true) => 8,
        (true, false) => 9,
    };
    let national_id = make_id(rng, letter, second)?;
    let sex = if male { Sex::Male } else { Sex::Female };

    let surname = rng.pick(SURNAMES);
    let (first, second_char) = if male { (MALE_FIRST, MALE_SECOND) } else { (FEMALE_FIRST, FEMALE_SECOND) };
    let name = format!("{surname}{}{}", rng.pick(first), rng.pick(second_char));

    // Ages 0–94.
    let birth_date = days_before(as_of, rng.below(95 * 365));
    let age = as_of.year() - birth_date.year();

    let insured_status = match rng.below(100) {
        0..=87 => InsuredStatus::Insured,
        88..=94 => InsuredStatus::Withdrawn,
        _ => InsuredStatus::Suspended,
    };
    let township = rng.pick(TOWNSHIPS);
    let (insured_category, insured_unit) = if !(20..65).contains(&age) && rng.chance(60) {
        (InsuredCategory::Sixth, format!("{township}公所"))
    } else {
        match rng.below(100) {
            0..=29 => {
                let kind = if rng.chance(70) { "股份有限公司" } else { "有限公司" };
                (InsuredCategory::First, format!("{}{}{kind}", rng.pick(COMPANY_PREFIX), rng.pick(COMPANY_TRADE)))
            }
            30..=44 => (InsuredCategory::First, rng.pick(GOVERNMENT_UNITS).to_owned()),
            45..=46 => (InsuredCategory::First, format!("{township}公所")),
            47..=61 => (InsuredCategory::Second, format!("南投縣{}職業工會", rng.pick(UNIONS))),
            62..=76 => (InsuredCategory::Third, format!("{township}農會")),
            77 => (InsuredCategory::Fourth, "內政部役政署".to_owned()),
            78..=81 => (InsuredCategory::Fifth, format!("{township}公所")),
            _ => (InsuredCategory::Sixth, format!("{township}公所")),
        }
    };
    let nhi_start = NaiveDate::from_ymd_opt(NHI_START.0, NHI_START.1, NHI_START.2).unwrap_or(NaiveDate::MIN);
    let insured_since = date_between(rng, birth_date.max(nhi_start), as_of);

    let mut contact_address = format!("南投縣{township}{}", rng.pick(ROADS));
    if rng.chance(30) {
        contact_address.push_str(rng.pick(SECTIONS));
    }
    if rng.chance(35) {
        contact_address.push_str(&format!("{}巷", 1 + rng.below(300)));
    }
    contact_address.push_str(&format!("{}號", 1 + rng.below(500)));
    if rng.chance(25) {
        contact_address.push_str(&format!("{}樓", 2 + rng.below(10)));
    }
    let contact_phone = if rng.chance(60) {
        format!("049-2{:06}", rng.below(1_000_000))
    } else {
        format!("09{:02}-{:06}", rng.below(100), rng.below(1_000_000))
    };

    let visit_count = match rng.below(100) {
        0..=24 => 0,
        25..=54 => 1,
        55..=74 => 2,
        75..=89 => 3,
        _ => 4,
    };
    let mut visits: Vec<Visit> = (0..visit_count)
        .map(|_| {
            let date = days_before(as_of, rng.below(730));
            let hospital = if rng.chance(45) {
                rng.pick(HOSPITALS).to_owned()
            } else if rng.chance(20) {
                format!("南投縣{}衛生所", rng.pick(TOWNSHIPS))
            } else {
                format!("{}{}{}", rng.pick(TOWNSHIPS), rng.pick(CLINIC_NAMES), rng.pick(CLINIC_KINDS))
            };
            Visit { date: date.max(birth_date), hospital, department: rng.pick(DEPARTMENTS).to_owned() }
        })
        .collect();
    visits.sort_by_key(|v| v.date);

    Some(Person {
        national_id,
        name,
        birth_date,
        sex,
        insured_status,
        insured_category,
        insured_unit,
        insured_since,
        contact_address,
        contact_phone,
        visits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_unique_and_match_sex() {
        let data = SandboxData::with_seed(7);
        assert_eq!(data.len(), DEFAULT_SIZE);
        let mut ids = HashSet::new();
        for p in data.people() {
            let id = p.national_id.expose();
            assert!(NationalId::parse(id).is_ok());
            assert!(ids.insert(id.to_owned()));
            let second = id.as_bytes()[1];
            let male = matches!(second, b'1' | b'8');
            assert_eq!(male, p.sex == Sex::Male, "{:?}", p);
        }
    }

    #[test]
    fn dates_are_consistent() {
        let data = SandboxData::with_seed(11);
        let as_of = data.as_of();
        let two_years_ago = days_before(as_of, 731);
        for p in data.people() {
            assert!(p.birth_date <= as_of && p.insured_since <= as_of && p.insured_since >= p.birth_date);
            assert!(p.visits.len() <= 4);
            for v in &p.visits {
                assert!(v.date <= as_of && v.date >= two_years_ago);
            }
            assert!(p.contact_address.starts_with("南投縣"));
            assert!(TOWNSHIPS.iter().any(|t| p.contact_address[9..].starts_with(t)));
        }
    }

    #[test]
    fn lookups_by_id_and_by_name_and_birth_date() {
        let data = SandboxData::generate(3, 200, default_as_of());
        let p = &data.people()[17];
        assert_eq!(data.person_by_id(&p.national_id), Some(p));
        assert!(data.people_by_name_birth(&p.name, p.birth_date).contains(&p));
        assert!(data.person_by_id(&data.absent_id()).is_none());
        assert_eq!(data.sample_ids(10).len(), 10);
        assert_eq!(data.sample_ids(1000).len(), 200);
    }

    #[test]
    fn small_and_empty_populations_work() {
        assert!(SandboxData::generate(1, 0, default_as_of()).is_empty());
        assert!(SandboxData::generate(1, 0, default_as_of()).sample_ids(3).is_empty());
        assert_eq!(SandboxData::generate(1, 1, NaiveDate::MIN).len(), 1);
    }
}
