-- 0020 PostgreSQL: the ledger's searches by time and kind, kept cheap to append to. Nearly every
-- entry is a query or its outcome, and entries arrive in time order. Time ranges (a month's
-- review, the query log of a period) are served by a BRIN index on the time, a few pages for
-- the whole log; the rarer kinds (account actions, sign-ins, review steps …) keep a B-tree of
-- their own, so that "the newest account actions" stays a short read in a log of millions of
-- queries. Queries and outcomes by time go through the BRIN index and by person through
-- (actor, at). Appending a query then updates one B-tree besides the primary key instead of two.
-- SQLite keeps its two B-trees: its writer is not held back by them (BENCHMARKS.md section 3).
-- A BRIN index knows a range of pages only once the range is summarized: autosummarize asks
-- autovacuum to do it as each range fills, and until then the range is read whole (only the
-- newest few, in a log that grows by thousands of entries a day; after a bulk load, VACUUM).
DROP INDEX ledger_entries_kind_at;
CREATE INDEX ledger_entries_at ON ledger_entries USING brin (at) WITH (autosummarize = on);
CREATE INDEX ledger_entries_rare_kind_at ON ledger_entries (kind, at) WHERE kind NOT IN ('query', 'query_outcome');
