-- 0011 disable proposals (R-ACC-7): when a person moves, resigns or retires, each of their active
-- accounts is proposed for disabling; the proposal stands until an admin sets a disable date (or
-- the person is back in service).

CREATE TABLE disable_proposals (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id),
    reason TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    proposed_by BIGINT REFERENCES accounts (id)
);
