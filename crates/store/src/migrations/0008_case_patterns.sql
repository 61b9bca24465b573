-- 0008 case-number formats (R-QRY-1): an agency may require its own format for the case number
-- every query carries (see nhiguard_domain::query::CasePattern); its units follow it.

CREATE TABLE case_patterns (
    agency_id BIGINT PRIMARY KEY REFERENCES org_nodes (id),
    pattern TEXT NOT NULL,
    set_by BIGINT NOT NULL REFERENCES accounts (id),
    set_at BIGINT NOT NULL
);
