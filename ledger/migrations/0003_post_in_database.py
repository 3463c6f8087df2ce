"""`ledger_post()`: the hot ledger writes in one round trip on PostgreSQL.

transfer(), charge_with_fee() and credit_purchase() are most of the ledger's
traffic. Done from Python they cost seven round trips (wallet lookup, BEGIN,
INSERT transaction, SELECT ... FOR NO KEY UPDATE, UPDATE, INSERT entries,
COMMIT) and the ORM's CPU for each. This function does the same work with
the same guarantees inside the server, called by ledger.services as one
statement (its own transaction when the caller has none open):

1. a key seen before returns the first transaction ('replay'); Python compares
   the fingerprint and raises IdempotencyConflict on a mismatch;
2. accounts given as (user, kind) or (system code, shard) are resolved and
   created when missing (the same race-safe unique indexes as get_or_create);
3. wallets and receivables (with the receivable of the wallet that spends or
   is credited) are locked FOR NO KEY UPDATE in primary-key order (the order
   ledger.locks uses); pending earnings and system shards are not;
4. funds and frozen wallets are checked after the lock and reported as a
   status ('insufficient', 'frozen'), not raised, so a caller's open
   transaction stays usable, as it does when Python raises InsufficientFunds;
5. the transaction row is inserted ON CONFLICT DO NOTHING: a concurrent post
   of the same key that committed first makes this one a replay;
6. balances are updated by primary key and the entries inserted, each wallet
   entry with the balance computed under the lock.

The deferred triggers of migration 0002 still check every transaction at
COMMIT, and the CHECK constraints still refuse a negative wallet: this
function is bound by the same backstops as the Python path. SQLite (the
embedded default) has no such function; ledger.services uses its Python path
there, and the suite runs both paths on PostgreSQL.
"""

from django.db import migrations

from ledger.migrations._postgres import PostgresRunSQL

FORWARD = r"""
CREATE FUNCTION ledger_account_id(p_user uuid, p_kind text, p_code text, p_shard integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    found_id bigint;
BEGIN
    LOOP
        IF p_kind = 'system' THEN
            SELECT id INTO found_id FROM ledger_account
             WHERE kind = 'system' AND system_code = p_code AND shard = p_shard;
        ELSE
            SELECT id INTO found_id FROM ledger_account WHERE user_id = p_user AND kind = p_kind;
        END IF;
        IF found_id IS NOT NULL THEN
            RETURN found_id;
        END IF;
        -- Missing: create it. A concurrent creator wins the unique index and we read theirs.
        IF p_kind = 'system' THEN
            INSERT INTO ledger_account (kind, user_id, system_code, shard, balance, created_at)
            VALUES ('system', NULL, p_code, p_shard, 0, now())
            ON CONFLICT (system_code, shard) WHERE kind = 'system' DO NOTHING
            RETURNING id INTO found_id;
        ELSE
            INSERT INTO ledger_account (kind, user_id, system_code, shard, balance, created_at)
            VALUES (p_kind, p_user, '', 0, 0, now())
            ON CONFLICT (user_id, kind) WHERE user_id IS NOT NULL DO NOTHING
            RETURNING id INTO found_id;
        END IF;
        IF found_id IS NOT NULL THEN
            RETURN found_id;
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION ledger_post(
    p_kind text, p_key text, p_fingerprint text, p_reference text, p_memo text,
    p_account_ids bigint[], p_user_ids uuid[], p_kinds text[], p_codes text[], p_shards integer[],
    p_amounts bigint[], p_frozen_leg integer, p_settle_leg integer
) RETURNS TABLE (status text, tx_id bigint, tx_created_at timestamptz, tx_fingerprint text, figure bigint, balance bigint)
LANGUAGE plpgsql AS $$
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

    -- 5. The transaction row; a concurrent post of the same key that got there first wins.
    INSERT INTO ledger_transaction (kind, idempotency_key, fingerprint, reference, memo, created_at)
    VALUES (p_kind, p_key, p_fingerprint, p_reference, p_memo, now())
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, created_at INTO v_tx_id, v_created;
    IF v_tx_id IS NULL THEN
        SELECT t.id, t.fingerprint, t.created_at INTO existing FROM ledger_transaction t WHERE t.idempotency_key = p_key;
        RETURN QUERY SELECT 'replay'::text, existing.id, existing.created_at, existing.fingerprint::text, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- 6. Cached balances (not for pending earnings, summed from entries), by
    --    primary key, then the entries, wallets with their balance after.
    --    Zero legs (a purchase that only paid debt) write nothing.
    UPDATE ledger_account a SET balance = a.balance + amounts[array_position(ids, a.id)]
     WHERE a.id = ANY(ids) AND a.kind <> 'earnings' AND amounts[array_position(ids, a.id)] <> 0;
    INSERT INTO ledger_entry (transaction_id, account_id, amount, balance_after, created_at)
    SELECT v_tx_id, v.id, v.amount, v.balance_after, v_created
      FROM unnest(ids, amounts, afters) AS v(id, amount, balance_after)
     WHERE v.amount <> 0
     ORDER BY v.id;

    -- The balance after of the wallet that was credited (settle leg) or spent
    -- from (frozen leg): the caller's socket push needs no second read.
    RETURN QUERY SELECT 'created'::text, v_tx_id, v_created, p_fingerprint, NULL::bigint,
        CASE WHEN p_settle_leg > 0 THEN afters[p_settle_leg] WHEN p_frozen_leg > 0 THEN afters[p_frozen_leg] END;
END;
$$;
"""

BACKWARD = r"""
DROP FUNCTION IF EXISTS ledger_post(text, text, text, text, text, bigint[], uuid[], text[], text[], integer[], bigint[], integer, integer);
DROP FUNCTION IF EXISTS ledger_account_id(uuid, text, text, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_postgres_guards")]

    operations = [PostgresRunSQL(FORWARD, BACKWARD)]
