CREATE FUNCTION nhiguard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only';
END
$$;
-- Entries are never changed or removed, with one exception: clearing the content of an entry
-- below a recorded prune boundary, keeping everything else (the retention action, R-LOG-2).
CREATE FUNCTION nhiguard_ledger_entry_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF length(NEW.body) = 0 AND NEW.seq = OLD.seq AND NEW.leaf_hash = OLD.leaf_hash AND NEW.at = OLD.at
       AND NEW.kind = OLD.kind AND NEW.actor = OLD.actor
       AND OLD.seq < (SELECT COALESCE(MAX(below), 0) FROM ledger_prunes) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are append-only';
END
$$;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION nhiguard_ledger_entry_update();
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION nhiguard_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_append_only();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION nhiguard_append_only();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION nhiguard_append_only();
CREATE TRIGGER ledger_prunes_append_only BEFORE UPDATE OR DELETE ON ledger_prunes
    FOR EACH ROW EXECUTE FUNCTION nhiguard_append_only();
