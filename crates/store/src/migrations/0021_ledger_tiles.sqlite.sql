UPDATE ledger_nodes_head SET size = 0, frontier = X'' WHERE id = 1;
