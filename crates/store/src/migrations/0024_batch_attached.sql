-- 0024 a batch's result file kept with its case (R-QRY-6, R-DAT-1): as a single result may be,
-- the owner attaches it to the case, and the scheduled purge leaves it until it is detached (then
-- it goes at the next purge once past its date) or deleted.
ALTER TABLE batches ADD COLUMN attached BIGINT NOT NULL DEFAULT 0;
