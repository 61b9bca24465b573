-- 0023 which process works on a batch, and until when (R-QRY-4). Several nhiguard processes may
-- share one database and each resumes unfinished batches; the one holding an unexpired lease
-- works on a batch, the others leave it be — so rows another process has out at NHIA are not
-- taken for interrupted ones. A process renews its lease with every chunk; a lease that ran out
-- (its process stopped) may be taken over.
ALTER TABLE batches ADD COLUMN worker TEXT;
ALTER TABLE batches ADD COLUMN lease_until BIGINT;
