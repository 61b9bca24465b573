CREATE FUNCTION nhiguard_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reference_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER org_nodes_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_reference_changed();
CREATE TRIGGER purposes_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON purposes
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_reference_changed();
CREATE TRIGGER operations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON operations
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_reference_changed();
CREATE TRIGGER linkages_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON linkages
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_reference_changed();
CREATE TRIGGER case_patterns_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON case_patterns
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_reference_changed();
