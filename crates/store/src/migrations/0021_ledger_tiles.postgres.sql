UPDATE ledger_nodes_head SET size = 0, frontier = ''::bytea WHERE id = 1;
