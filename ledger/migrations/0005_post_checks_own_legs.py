"""ledger_post() checks its own legs; the deferred triggers check everyone else's.

Two costs measured in a profile of one backend running ledger_post() (perf,
docs/ledger.md "Speed"):

- Planning, 22% of the call. PostgreSQL's plan cache re-planned the
  function's statements on every call (a custom plan always looked cheaper
  for its array parameters). The generic plans are the same index scans
  (checked with auto_explain), so the function now carries
  `SET plan_cache_mode = force_generic_plan`, which touches no other
  statement's planning.
- The deferred balance triggers of 0002, ~8-11%: one firing per entry plus
  one per transaction, each summing the transaction's entries at COMMIT,
  for rows this function has just built to balance.

So ledger_post() checks, before it writes, that its legs sum to zero and are
at least two, and names the transaction it writes in the transaction-local
setting `ledger.vouched_tx` for exactly as long as it inserts that
transaction's rows. The triggers are re-created with a WHEN that skips rows
of the vouched transaction, and only those: a WHEN of a constraint trigger
is evaluated when the row is inserted, so an entry anyone adds to the same
transaction afterwards (the setting is cleared before the function returns;
an error rolls it back with the rest) is queued and checked at COMMIT as
before. The setting is not a security boundary: SQL that can set it could as
well disable the triggers; the triggers catch mistakes, and every writer but
this function is still checked by them.
"""

from importlib import import_module

from django.db import migrations

from ledger.migrations._postgres import PostgresRunSQL

TRIGGERS = """
DROP TRIGGER ledger_entry_balanced ON ledger_entry;
DROP TRIGGER ledger_transaction_balanced ON ledger_transaction;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.transaction_id::text IS DISTINCT FROM current_setting('ledger.vouched_tx', true))
    EXECUTE FUNCTION ledger_check_transaction_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.id::text IS DISTINCT FROM current_setting('ledger.vouched_tx', true))
    EXECUTE FUNCTION ledger_check_transaction_balanced();
"""

FORWARD = r"""
CREATE OR REPLACE FUNCTION ledger_post(
    p_kind text, p_key text, p_fingerprint text, p_reference text, p_memo text,
    p_account_ids bigint[], p_user_ids uuid[], p_kinds text[], p_codes text[], p_shards integer[],
    p_amounts bigint[], p_frozen_leg integer, p_settle_leg integer
) RETURNS TABLE (status text, tx_id bigint, tx_created_at timestamptz, tx_fingerprint text, figure bigint, balance bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n integer := array_length(p_amounts, 1);
    ids bigint[] := p_account_ids;
    amounts bigint[] := p_amounts;
    i integer;
    leg integer;
    acc record;
    existing record;
    owner uuid;
    receivable_id bigint;
    receivable_balance bigint;
    pay bigint;
    locked_ids bigint[] := '{}';
    locked_kinds text[] := '{}';
    locked_balances bigint[] := '{}';
    new_balance bigint;
    afters bigint[];
    v_tx_id bigint;
    v_created timestamptz;
    leg_amount bigint;
    total bigint := 0;
    nonzero_legs integer := 0;
    vouched text;
BEGIN
    -- 1. The same key again: the first result, nothing written.
    SELECT t.id, t.fingerprint, t.created_at INTO existing FROM ledger_transaction t WHERE t.idempotency_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT 'replay'::text, existing.id, existing.created_at, existing.fingerprint::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- 2. Resolve the accounts (one lookup for all legs; create the missing).
    IF array_position(ids, NULL) IS NOT NULL THEN
        SELECT array_agg(COALESCE(l.id, CASE WHEN l.kind = 'system'
                   THEN (SELECT a.id FROM ledger_account a
                          WHERE a.kind = 'system' AND a.system_code = l.code AND a.shard = l.shard)
                   ELSE (SELECT a.id FROM ledger_account a WHERE a.user_id = l.user_id AND a.kind = l.kind)
               END) ORDER BY l.n)
          INTO ids
          FROM unnest(ids, p_user_ids, p_kinds, p_codes, p_shards) WITH ORDINALITY AS l(id, user_id, kind, code, shard, n);
        FOR i IN 1..n LOOP
            IF ids[i] IS NULL THEN
                ids[i] := ledger_account_id(p_user_ids[i], p_kinds[i], p_codes[i], p_shards[i]);
            END IF;
        END LOOP;
    END IF;
    FOR i IN 2..n LOOP
        IF ids[i] = ANY(ids[1:i - 1]) THEN
            RETURN QUERY SELECT 'same_account'::text, NULL::bigint, NULL::timestamptz, NULL::text, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
    END LOOP;

    -- 3. Lock the accounts with a limit (wallets >= 0, receivables <= 0) in pk
    --    order. The receivable of the spending (frozen check) or credited
    --    (debt paid first) wallet's owner is locked with them, so the debt read
    --    is current and no claw-back can change it before we commit.
    IF p_frozen_leg > 0 THEN
        owner := p_user_ids[p_frozen_leg];
    ELSIF p_settle_leg > 0 THEN
        owner := p_user_ids[p_settle_leg];
    END IF;
    FOR acc IN
        SELECT a.id, a.kind, a.balance, a.user_id FROM ledger_account a
         WHERE (a.id = ANY(ids) AND a.kind IN ('wallet', 'receivable'))
            OR (owner IS NOT NULL AND a.user_id = owner AND a.kind = 'receivable')
         ORDER BY a.id
           FOR NO KEY UPDATE
    LOOP
        IF acc.id = ANY(ids) THEN
            locked_ids := locked_ids || acc.id;
            locked_kinds := locked_kinds || acc.kind::text;
            locked_balances := locked_balances || acc.balance;
        ELSE
            receivable_id := acc.id;
            receivable_balance := acc.balance;
        END IF;
    END LOOP;

    -- 4. Checks after the lock. A wallet whose owner owes a debt may not spend.
    IF p_frozen_leg > 0 AND receivable_balance < 0 THEN
        RETURN QUERY SELECT 'frozen'::text, NULL::bigint, NULL::timestamptz, NULL::text, -receivable_balance, NULL::bigint;
        RETURN;
    END IF;
    -- A purchase pays the buyer's debt first.
    IF p_settle_leg > 0 AND receivable_balance < 0 THEN
        pay := LEAST(-receivable_balance, amounts[p_settle_leg]);
        amounts[p_settle_leg] := amounts[p_settle_leg] - pay;
        ids := ids || receivable_id;
        amounts := amounts || pay;
        locked_ids := locked_ids || receivable_id;
        locked_kinds := locked_kinds || 'receivable'::text;
        locked_balances := locked_balances || receivable_balance;
    END IF;
    afters := array_fill(NULL::bigint, ARRAY[array_length(ids, 1)]);
    FOR i IN 1..coalesce(array_length(locked_ids, 1), 0) LOOP
        leg := array_position(ids, locked_ids[i]);
        new_balance := locked_balances[i] + amounts[leg];
        IF locked_kinds[i] = 'wallet' AND new_balance < 0 THEN
            RETURN QUERY SELECT 'insufficient'::text, NULL::bigint, NULL::timestamptz, NULL::text, -new_balance, locked_balances[i];
            RETURN;
        END IF;
        IF locked_kinds[i] = 'receivable' AND new_balance > 0 THEN
            RAISE EXCEPTION 'ledger: a debt cannot be paid beyond zero (account %)', locked_ids[i]
                USING ERRCODE = 'check_violation';
        END IF;
        IF locked_kinds[i] = 'wallet' THEN
            afters[leg] := new_balance;  -- exact: the row is locked
        END IF;
    END LOOP;

    -- 5. The legs balance: checked here, at once, for the rows this function
    --    writes (the deferred triggers check every other writer at COMMIT).
    --    (A loop of plain expressions: PL/pgSQL evaluates them without
    --    starting the executor, which a query would.)
    FOREACH leg_amount IN ARRAY amounts LOOP
        total := total + leg_amount;
        IF leg_amount <> 0 THEN
            nonzero_legs := nonzero_legs + 1;
        END IF;
    END LOOP;
    IF total <> 0 OR nonzero_legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced or has fewer than 2 entries', p_key
            USING ERRCODE = 'check_violation';
    END IF;

    -- 6. The transaction row; a concurrent post of the same key that got there
    --    first wins. Its id is taken first, so the triggers' WHEN can name it.
    v_tx_id := nextval('ledger_transaction_id_seq');
    vouched := set_config('ledger.vouched_tx', v_tx_id::text, true);  -- an expression, not a query
    INSERT INTO ledger_transaction (id, kind, idempotency_key, fingerprint, reference, memo, created_at)
    VALUES (v_tx_id, p_kind, p_key, p_fingerprint, p_reference, p_memo, now())
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING created_at INTO v_created;
    IF NOT FOUND THEN
        vouched := set_config('ledger.vouched_tx', '', true);
        SELECT t.id, t.fingerprint, t.created_at INTO existing FROM ledger_transaction t WHERE t.idempotency_key = p_key;
        RETURN QUERY SELECT 'replay'::text, existing.id, existing.created_at, existing.fingerprint::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- 7. Cached balances (not for pending earnings, summed from entries), by
    --    primary key, then the entries, wallets with their balance after.
    --    Zero legs (a purchase that only paid debt) write nothing.
    UPDATE ledger_account a SET balance = a.balance + amounts[array_position(ids, a.id)]
     WHERE a.id = ANY(ids) AND a.kind <> 'earnings' AND amounts[array_position(ids, a.id)] <> 0;
    INSERT INTO ledger_entry (transaction_id, account_id, amount, balance_after, created_at)
    SELECT v_tx_id, v.id, v.amount, v.balance_after, v_created
      FROM unnest(ids, amounts, afters) AS v(id, amount, balance_after)
     WHERE v.amount <> 0
     ORDER BY v.id;
    -- Vouch for this transaction only: a row anyone adds to it later is checked at COMMIT.
    vouched := set_config('ledger.vouched_tx', '', true);

    -- The balance after of the wallet that was credited (settle leg) or spent
    -- from (frozen leg): the caller's socket push needs no second read.
    RETURN QUERY SELECT 'created'::text, v_tx_id, v_created, p_fingerprint, NULL::bigint,
        CASE WHEN p_settle_leg > 0 THEN afters[p_settle_leg] WHEN p_frozen_leg > 0 THEN afters[p_frozen_leg] END;
END;
$$;
""" + TRIGGERS

# Back to 0002's triggers and 0003's function.
BACKWARD = """
DROP TRIGGER ledger_entry_balanced ON ledger_entry;
DROP TRIGGER ledger_transaction_balanced ON ledger_transaction;
CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON ledger_entry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();
DROP FUNCTION ledger_post(text, text, text, text, text, bigint[], uuid[], text[], text[], integer[], bigint[], integer, integer);
DROP FUNCTION ledger_account_id(uuid, text, text, integer);
""" + import_module("ledger.migrations.0003_post_in_database").FORWARD


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_lean_indexes")]

    operations = [PostgresRunSQL(FORWARD, BACKWARD)]
