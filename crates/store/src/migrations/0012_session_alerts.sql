-- 0012 session alerts (R-ACC-5): one account signed in from a second address while a session from
-- another was still alive; shown to the account's admins (the sign-in itself is in the ledger).

CREATE TABLE session_alerts (
    id {{ID}},
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    client_addr TEXT NOT NULL,
    other_addr TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX session_alerts_at ON session_alerts (at);
