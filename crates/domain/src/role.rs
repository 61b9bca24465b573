//! The roles an account can hold. An account may hold several (a section chief is often both a
//! user and a reviewer); each role's reach is limited to a branch of the org tree (see `access`).

crate::labelled_enum!(
    Role {
        /// 計畫處管理者: runs the system for the whole county, creates agency admins, edits the catalogue.
        PlanningAdmin = ("planning_admin", "計畫處管理者", "planning-department admin"),
        /// 機關管理者: manages accounts of its agency and the admins of its units.
        AgencyAdmin = ("agency_admin", "機關管理者", "agency admin"),
        /// 單位管理者: manages the users of its unit.
        UnitAdmin = ("unit_admin", "單位管理者", "unit admin"),
        /// 使用者: runs NHI queries.
        User = ("user", "使用者", "user"),
        /// 權責主管: approves account applications and query purposes.
        Supervisor = ("supervisor", "權責主管", "supervisor"),
        /// 查核人員: the monthly sample check.
        Reviewer = ("reviewer", "查核人員", "reviewer"),
        /// 稽核人員: the half-yearly internal audit.
        Auditor = ("auditor", "稽核人員", "auditor"),
        /// 政風人員: joins investigations of anomalies.
        EthicsOfficer = ("ethics_officer", "政風人員", "ethics officer"),
    }
);

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::PlanningAdmin | Role::AgencyAdmin | Role::UnitAdmin)
    }

    pub fn parse(input: &str) -> Result<Self, crate::DomainError> {
        Self::from_code(input.trim())
            .ok_or_else(|| crate::DomainError::invalid("role", "請從清單中選擇角色", "choose a role from the list"))
    }
}
