INSERT INTO ledger_nodes_head (id, size, frontier) VALUES (1, 0, X'');
-- The ledger head row exists from here on, so appending no longer creates it on every call.
INSERT OR IGNORE INTO ledger_head (id, size, frontier) VALUES (1, 0, X'');
