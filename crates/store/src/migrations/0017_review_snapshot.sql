-- 0017 what a review page shows without re-reading the month: the month's population (the query
-- entries the draw was made from) and the sampled queries as the page lists them, kept at
-- preparation. The ledger stays the source: "recompute from the log" re-reads it.

ALTER TABLE reviews ADD COLUMN population TEXT NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN sample_rows TEXT NOT NULL DEFAULT '';
