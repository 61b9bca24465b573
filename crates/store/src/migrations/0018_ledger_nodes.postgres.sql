INSERT INTO ledger_nodes_head (id, size, frontier) VALUES (1, 0, ''::bytea);
-- The ledger head row exists from here on, so appending no longer creates it on every call.
INSERT INTO ledger_head (id, size, frontier) VALUES (1, 0, ''::bytea) ON CONFLICT (id) DO NOTHING;
