-- 0021 the stored subtree roots (0018) kept in tiles: one row per band of four heights inside one
-- aligned stretch of leaves (`nhiguard_ledger::TileId`), 30 hashes of 32 bytes, zeros where a root is
-- not yet complete. A proof then reads a few rows instead of one per root. Derived data as before:
-- the fill mark goes back to zero and the next checkpoint (or proof) fills the tiles in again.

DROP TABLE ledger_nodes;

CREATE TABLE ledger_tiles (
    band INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hashes {{BLOB}} NOT NULL,
    PRIMARY KEY (band, idx)
);
