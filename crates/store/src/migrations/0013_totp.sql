-- 0013 the optional second factor (R-ACC-6): the account's TOTP secret, sealed with the key kept
-- outside the database (never stored in the clear); enabled once its owner proved a code; the
-- last time step used, so that no code works twice.

ALTER TABLE accounts ADD COLUMN totp_nonce {{BLOB}};
ALTER TABLE accounts ADD COLUMN totp_secret {{BLOB}};
ALTER TABLE accounts ADD COLUMN totp_enabled_at BIGINT;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT;
