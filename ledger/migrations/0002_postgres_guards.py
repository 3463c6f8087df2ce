"""PostgreSQL backstops the Python code cannot bypass.

- Every transaction's entries sum to zero and there are at least two of them,
  checked at COMMIT by deferred constraint triggers (in the spirit of
  django-hordak's check_leg): rows inserted in any order inside one database
  transaction are judged together.
- Transactions and entries are append-only: UPDATE and DELETE raise.
  (TRUNCATE, used by the test runner's flush, is not a row operation.)

SQLite (the embedded default) has no constraint triggers; there the Python
checks in ledger.services stand alone.
"""

from django.db import migrations

from ledger.migrations._postgres import PostgresRunSQL

FORWARD = r"""
CREATE FUNCTION ledger_check_transaction_balanced() RETURNS trigger AS $$
DECLARE
    tx_id bigint;
    total numeric;
    legs integer;
BEGIN
    IF TG_TABLE_NAME = 'ledger_entry' THEN
        tx_id := NEW.transaction_id;
    ELSE
        tx_id := NEW.id;
    END IF;
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs FROM ledger_entry WHERE transaction_id = tx_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: entries sum to %', tx_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    IF legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries, needs at least 2', tx_id, legs
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_check_transaction_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [PostgresRunSQL(FORWARD, BACKWARD)]
