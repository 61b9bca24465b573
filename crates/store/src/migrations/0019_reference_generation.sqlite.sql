CREATE TRIGGER org_nodes_insert_generation AFTER INSERT ON org_nodes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER org_nodes_update_generation AFTER UPDATE ON org_nodes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER org_nodes_delete_generation AFTER DELETE ON org_nodes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER purposes_insert_generation AFTER INSERT ON purposes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER purposes_update_generation AFTER UPDATE ON purposes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER purposes_delete_generation AFTER DELETE ON purposes
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER operations_insert_generation AFTER INSERT ON operations
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER operations_update_generation AFTER UPDATE ON operations
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER operations_delete_generation AFTER DELETE ON operations
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER linkages_insert_generation AFTER INSERT ON linkages
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER linkages_update_generation AFTER UPDATE ON linkages
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER linkages_delete_generation AFTER DELETE ON linkages
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER case_patterns_insert_generation AFTER INSERT ON case_patterns
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER case_patterns_update_generation AFTER UPDATE ON case_patterns
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER case_patterns_delete_generation AFTER DELETE ON case_patterns
    BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
