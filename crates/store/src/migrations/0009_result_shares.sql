-- 0009 results kept with a case may be shared with named colleagues (R-QRY-5, R-QRY-6): the owner
-- names them; nobody else may open the result. Destroying or detaching the result ends every share.

CREATE TABLE result_shares (
    result_id BIGINT NOT NULL REFERENCES query_results (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    granted_by BIGINT NOT NULL REFERENCES accounts (id),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (result_id, account_id)
);
CREATE INDEX result_shares_by_account ON result_shares (account_id);
