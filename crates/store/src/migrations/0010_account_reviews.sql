-- 0010 account reviews (R-ACC-9): an admin reviews the accounts of its branch; each account is
-- listed with what needs a look and the grants it held when the review started, gets a decision
-- (keep / reduce / disable) with a note, and the decisions are applied in one step.

CREATE TABLE account_reviews (
    id {{ID}},
    org_node_id BIGINT NOT NULL REFERENCES org_nodes (id),
    started_by BIGINT NOT NULL REFERENCES accounts (id),
    started_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    applied_by BIGINT REFERENCES accounts (id),
    applied_at BIGINT
);
CREATE INDEX account_reviews_by_node ON account_reviews (org_node_id, started_at);
-- One open review per branch at a time.
CREATE UNIQUE INDEX account_reviews_one_open ON account_reviews (org_node_id) WHERE state = 'open';

CREATE TABLE account_review_items (
    review_id BIGINT NOT NULL REFERENCES account_reviews (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    concerns TEXT NOT NULL,
    roles TEXT NOT NULL,
    grants TEXT NOT NULL,
    decision TEXT NOT NULL DEFAULT '',
    kept_grants TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    decided_by BIGINT REFERENCES accounts (id),
    decided_at BIGINT,
    PRIMARY KEY (review_id, account_id)
);
