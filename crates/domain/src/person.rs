//! People in the county's organisation (R-ACC-1): rank decides who may review (R-REV-3), HR
//! status decides who may keep an account (R-ACC-7, R-ACC-9).

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Defines an enum with a stable storage code and Chinese/English labels for each variant.
#[macro_export]
macro_rules! labelled_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = ($code:literal, $zh:literal, $en:literal)),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable code stored in the database and used in the API.
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code),+ } }
            pub fn zh(self) -> &'static str { match self { $($name::$variant => $zh),+ } }
            pub fn en(self) -> &'static str { match self { $($name::$variant => $en),+ } }
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

labelled_enum!(
    /// Rank, from the top. 股長 and above may review; 科長 where the agency has no sections.
    Rank {
        Head = ("head", "首長", "head of agency"),
        DeputyHead = ("deputy_head", "副首長", "deputy head"),
        DivisionChief = ("division_chief", "科長", "division chief"),
        SectionChief = ("section_chief", "股長", "section chief"),
        Staff = ("staff", "科員", "staff"),
        Assistant = ("assistant", "辦事員", "assistant"),
        Contractor = ("contractor", "約用人員", "contract staff"),
    }
);

labelled_enum!(
    /// HR status of a person.
    HrStatus {
        Active = ("active", "在職", "active"),
        Moved = ("moved", "職務異動", "moved"),
        Resigned = ("resigned", "離職", "resigned"),
        Retired = ("retired", "退休", "retired"),
    }
);

impl Rank {
    /// R-REV-3: may this rank review queries? 股長 and above; in an agency without sections only
    /// 科長 and above.
    pub fn may_review(self, agency_has_sections: bool) -> bool {
        let lowest = if agency_has_sections { Rank::SectionChief } else { Rank::DivisionChief };
        self <= lowest
    }

    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Self::from_code(input.trim())
            .ok_or_else(|| DomainError::invalid("rank", "請從清單中選擇職等", "choose a rank from the list"))
    }
}

impl HrStatus {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Self::from_code(input.trim()).ok_or_else(|| {
            DomainError::invalid("hr_status", "請從清單中選擇人事狀態", "choose an HR status from the list")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: i64,
    pub person_id: crate::ids::PersonId,
    pub name: String,
    pub title: String,
    pub rank: Rank,
    pub hr_status: HrStatus,
    pub org_node_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_rev_3_section_chief_or_above_reviews_division_chief_without_sections() {
        assert!(Rank::SectionChief.may_review(true));
        assert!(!Rank::Staff.may_review(true));
        assert!(!Rank::SectionChief.may_review(false));
        assert!(Rank::DivisionChief.may_review(false));
        assert!(Rank::Head.may_review(false));
    }

    #[test]
    fn codes_round_trip() {
        for r in Rank::ALL {
            assert_eq!(Rank::from_code(r.code()), Some(*r));
        }
        assert!(HrStatus::parse("fired").is_err());
    }
}
