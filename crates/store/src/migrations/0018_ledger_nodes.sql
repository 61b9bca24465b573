-- 0018 inclusion proofs in a few reads (R-LOG-2): the roots of the ledger tree's complete, aligned
-- subtrees of 16 leaves and more (`nhiguard_ledger::STORED_MIN_HEIGHT`), filled in after each
-- checkpoint up to its size. Derived from the entries' leaf hashes: `ledger verify` never trusts
-- them, and a wrong one can only make a proof fail against its signed checkpoint, never pass.

CREATE TABLE ledger_nodes (
    height INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash {{BLOB}} NOT NULL,
    PRIMARY KEY (height, idx)
);

-- How far the roots are filled in, and the tree's right edge there (to go on from). One row.
CREATE TABLE ledger_nodes_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    frontier {{BLOB}} NOT NULL
);
