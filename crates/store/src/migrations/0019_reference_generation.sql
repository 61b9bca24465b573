-- 0019 a number that changes whenever the reference data changes: the organisation tree, the
-- purposes, operations and linkages, and the case-number formats. Every query is authorised
-- against them (R-PUR-3, R-QRY-1); a process may keep a copy and use it for as long as this number
-- is the one it read the copy under. The triggers of this migration move it in the same
-- transaction as any change, however made, so that no process, of however many share the
-- database, can authorise against a stale copy.

CREATE TABLE reference_generation (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO reference_generation (id, n) VALUES (1, 1);
