-- 0015 each review keeps the sampling settings it was drawn with (R-REV-2: rate and minimum are
-- settings), so that a recompute uses the same numbers even after the settings change.

ALTER TABLE reviews ADD COLUMN sample_rate_percent BIGINT NOT NULL DEFAULT 3;
ALTER TABLE reviews ADD COLUMN sample_minimum BIGINT NOT NULL DEFAULT 10;
