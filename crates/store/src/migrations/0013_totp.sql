-- 0013 the optional second factor (R-ACC-6): the account's TOTP secret, sealed with the key kept
-- outside the database (never stored in the clear); a new secret waits in the pending columns
-- until its owner proves a code from it, so that the one in force stays in force meanwhile; the
-- last time step used, so that no code works twice.

ALTER TABLE accounts ADD COLUMN totp_nonce {{BLOB}};
ALTER TABLE accounts ADD COLUMN totp_secret {{BLOB}};
ALTER TABLE accounts ADD COLUMN totp_enabled_at BIGINT;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT;
ALTER TABLE accounts ADD COLUMN totp_pending_nonce {{BLOB}};
ALTER TABLE accounts ADD COLUMN totp_pending_secret {{BLOB}};
