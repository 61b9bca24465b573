-- 0006 monthly reviews (R-REV-1 … R-REV-4): one per agency and month, its sample drawn from the
-- signed checkpoint taken after the month closed, its reviewer, findings and sign-offs.

CREATE TABLE reviews (
    id {{ID}},
    agency_id BIGINT NOT NULL REFERENCES org_nodes (id),
    year BIGINT NOT NULL,
    month BIGINT NOT NULL,
    queries BIGINT NOT NULL,
    checkpoint_size BIGINT NOT NULL,
    checkpoint_text TEXT NOT NULL,
    seed TEXT NOT NULL,
    sample TEXT NOT NULL,
    state TEXT NOT NULL,
    reviewer_account_id BIGINT REFERENCES accounts (id),
    reviewer_signed_at BIGINT,
    head_account_id BIGINT REFERENCES accounts (id),
    head_signed_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (agency_id, year, month)
);

CREATE TABLE review_findings (
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    seq BIGINT NOT NULL,
    finding TEXT NOT NULL,
    note TEXT NOT NULL,
    by_account_id BIGINT NOT NULL REFERENCES accounts (id),
    at BIGINT NOT NULL,
    PRIMARY KEY (review_id, seq)
);
