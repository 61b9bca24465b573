-- 0004 account governance (R-ACC-2 … R-ACC-8): applications and their decisions, password
-- history, and the state an account needs for job changes and handovers.

CREATE TABLE applications (
    id {{ID}},
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    org_node_id BIGINT NOT NULL REFERENCES org_nodes (id),
    person_ref BIGINT NOT NULL REFERENCES people (id),
    account_id BIGINT REFERENCES accounts (id),
    username TEXT NOT NULL,
    roles TEXT NOT NULL,
    grants TEXT NOT NULL,
    reason TEXT NOT NULL,
    pledge BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    submitted_at BIGINT,
    decided_by BIGINT REFERENCES accounts (id),
    decided_at BIGINT,
    decision_note TEXT NOT NULL,
    carried_out_by BIGINT REFERENCES accounts (id),
    carried_out_at BIGINT
);
CREATE INDEX applications_node ON applications (org_node_id, state);

-- The last passwords' hashes, so that none of the last five is used again (R-ACC-6).
CREATE TABLE password_history (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    password_hash TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, changed_at);

-- Set by a handover (R-ACC-8) or an admin: the password must be changed before anything else.
ALTER TABLE accounts ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
-- Why the account was or will be disabled (moved, resigned, retired, other).
ALTER TABLE accounts ADD COLUMN disable_reason TEXT NOT NULL DEFAULT '';
