-- 0002 ledger: the tamper-evident log (R-LOG-2). nhiguard never updates or deletes these rows, and
-- the triggers of this migration refuse it in the database too. Someone holding the database
-- password could drop the triggers: that is why each entry is bound into a Merkle tree and the tree
-- heads are signed with a key kept outside the database (see crates/ledger/FORMAT.md).

CREATE TABLE ledger_entries (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    body {{BLOB}} NOT NULL,
    leaf_hash {{BLOB}} NOT NULL
);
CREATE INDEX ledger_entries_kind_at ON ledger_entries (kind, at);
CREATE INDEX ledger_entries_actor_at ON ledger_entries (actor, at);

-- The tree's right edge after the last entry: appending reads only this row, never the whole log.
-- Its one row (id 1) is also the lock that serialises appenders, across processes on PostgreSQL.
CREATE TABLE ledger_head (
    id BIGINT PRIMARY KEY,
    size BIGINT NOT NULL,
    frontier {{BLOB}} NOT NULL
);

-- Signed statements that the content of every entry below `below` was removed under the retention
-- rules (R-LOG-2); the entries keep their sequence numbers and leaf hashes, so the tree still
-- verifies against every checkpoint.
CREATE TABLE ledger_prunes (
    below BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    text TEXT NOT NULL
);

CREATE TABLE ledger_checkpoints (
    size BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    root TEXT NOT NULL,
    text TEXT NOT NULL
);
