-- Entries are never changed or removed, with one exception: clearing the content of an entry
-- below a recorded prune boundary, keeping everything else (the retention action, R-LOG-2).
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
WHEN NOT (length(NEW.body) = 0 AND NEW.seq = OLD.seq AND NEW.leaf_hash = OLD.leaf_hash AND NEW.at = OLD.at
          AND NEW.kind = OLD.kind AND NEW.actor = OLD.actor
          AND OLD.seq < (SELECT COALESCE(MAX(below), 0) FROM ledger_prunes))
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger checkpoints are append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'ledger checkpoints are append-only'); END;
CREATE TRIGGER ledger_prunes_no_update BEFORE UPDATE ON ledger_prunes
BEGIN SELECT RAISE(ABORT, 'prune statements are append-only'); END;
CREATE TRIGGER ledger_prunes_no_delete BEFORE DELETE ON ledger_prunes
BEGIN SELECT RAISE(ABORT, 'prune statements are append-only'); END;
