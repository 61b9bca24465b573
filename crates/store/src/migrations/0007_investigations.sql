-- 0007 investigations (R-REV-5): an anomalous finding opens one; the business, ethics and IT
-- units each name a member and record their part; it ends in an audit record (稽核紀錄). Every
-- change is also a ledger entry; these tables are what the pages read.

CREATE TABLE investigations (
    id {{ID}},
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    agency_id BIGINT NOT NULL REFERENCES org_nodes (id),
    seq BIGINT NOT NULL,
    opened_by BIGINT NOT NULL REFERENCES accounts (id),
    opened_at BIGINT NOT NULL,
    business_account_id BIGINT REFERENCES accounts (id),
    ethics_account_id BIGINT REFERENCES accounts (id),
    it_account_id BIGINT REFERENCES accounts (id),
    state TEXT NOT NULL,
    conclusion TEXT NOT NULL DEFAULT '',
    actions TEXT NOT NULL DEFAULT '',
    disabled_account_id BIGINT REFERENCES accounts (id),
    concluded_by BIGINT REFERENCES accounts (id),
    concluded_at BIGINT,
    UNIQUE (review_id, seq)
);

-- What each unit did, and the entries and evidence collected, in the order they were added.
CREATE TABLE investigation_notes (
    id {{ID}},
    investigation_id BIGINT NOT NULL REFERENCES investigations (id),
    kind TEXT NOT NULL,
    party TEXT NOT NULL,
    seq BIGINT,
    note TEXT NOT NULL,
    by_account_id BIGINT NOT NULL REFERENCES accounts (id),
    at BIGINT NOT NULL
);
CREATE INDEX investigation_notes_by_investigation ON investigation_notes (investigation_id, id);
