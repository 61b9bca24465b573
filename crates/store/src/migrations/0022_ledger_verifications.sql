-- 0022 verifications of the whole log run by auditors from the integrity page or the API (R-LOG-2):
-- who ran one, when, and what it found. Each is also a ledger entry (`ledger_verified`), written in
-- the same transaction: the entry is the record; this table lets the page show the latest result
-- after its redirect, and the recent ones, without searching the log.

CREATE TABLE ledger_verifications (
    id {{ID}},
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    entries BIGINT NOT NULL,
    checkpoints BIGINT NOT NULL,
    -- NULL when everything held.
    failure_code TEXT,
    failure_message TEXT,
    entry_seq BIGINT NOT NULL
);
CREATE INDEX ledger_verifications_at ON ledger_verifications (at);
