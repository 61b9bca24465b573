-- 0005 batch queries (R-QRY-4): one purpose, operation, case number and reason for many subjects,
-- each subject its own query in the ledger. Subjects and answers are sealed like every result.

CREATE TABLE batches (
    id {{ID}},
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    purpose_id BIGINT NOT NULL REFERENCES purposes (id),
    operation_id BIGINT NOT NULL REFERENCES operations (id),
    case_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    file_name TEXT NOT NULL,
    state TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    not_found BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    purge_after BIGINT NOT NULL,
    result_nonce {{BLOB}},
    result_ciphertext {{BLOB}},
    destroyed_at BIGINT,
    destroyed_by TEXT
);
CREATE INDEX batches_account ON batches (account_id, id);
CREATE INDEX batches_state ON batches (state);

-- One row of the uploaded file. `query_seq` is set in the same transaction as the query's ledger
-- entry, before the lookup goes out: after a crash, a row with a query but no outcome is never
-- sent again.
CREATE TABLE batch_items (
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    row_no BIGINT NOT NULL,
    subject_nonce {{BLOB}},
    subject_ciphertext {{BLOB}},
    subject_masked TEXT NOT NULL,
    query_seq BIGINT,
    outcome TEXT,
    answer_nonce {{BLOB}},
    answer_ciphertext {{BLOB}},
    PRIMARY KEY (batch_id, row_no)
);
