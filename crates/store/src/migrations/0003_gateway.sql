-- 0003 gateway: which purposes and operations each account holds, and retrieved results kept
-- encrypted until their purge date (R-QRY-5, R-QRY-6, R-DAT-1).

-- A grant lets one account query one operation under one purpose, and only while the account's
-- agency holds an active linkage for the pair (checked at query time).
CREATE TABLE grants (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    purpose_id BIGINT NOT NULL REFERENCES purposes (id),
    operation_id BIGINT NOT NULL REFERENCES operations (id),
    granted_by BIGINT REFERENCES accounts (id),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, purpose_id, operation_id)
);

-- A retrieved answer, encrypted with a key kept outside the database. The row outlives its data:
-- purging or deleting clears the ciphertext and keeps when, by whom and why (destruction record).
CREATE TABLE query_results (
    id {{ID}},
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    query_seq BIGINT NOT NULL,
    operation_code TEXT NOT NULL,
    case_number TEXT NOT NULL,
    subject_masked TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    purge_after BIGINT NOT NULL,
    nonce {{BLOB}},
    ciphertext {{BLOB}},
    attached BIGINT NOT NULL DEFAULT 0,
    destroyed_at BIGINT,
    destroyed_by TEXT
);
CREATE INDEX query_results_account ON query_results (account_id, created_at);
CREATE INDEX query_results_purge ON query_results (purge_after);
