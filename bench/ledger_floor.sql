-- bench/ledger.py's physical floor for one transfer, run by pgbench -M prepared.
-- What a transfer must do at minimum, by hand: lock both balances in
-- primary-key order, update both (the CHECK keeps the payer's >= 0), insert the
-- transaction under a unique idempotency key and its two entries with the
-- balance after. One statement, in BEGIN ... COMMIT like transfer()'s call.
-- :hot = 0: client c moves 1 token within its own accounts 2c+1, 2c+2;
-- :hot = 1: client c pays 10 tokens from account c+1 into :hot_account.
\set flip random(0, 1)
\set src (1 - :hot) * (2 * :client_id + 1 + :flip) + :hot * (:client_id + 1)
\set dst (1 - :hot) * (2 * :client_id + 2 - :flip) + :hot * :hot_account
\set amount 1 + 9 * :hot
\set key random(1, 9000000000000000000)
BEGIN;
WITH locked AS (
    SELECT id FROM floor_account WHERE id IN (:src, :dst) ORDER BY id FOR NO KEY UPDATE
), moved AS (
    UPDATE floor_account a SET balance = a.balance + CASE WHEN a.id = :src THEN -CAST(:amount AS bigint) ELSE CAST(:amount AS bigint) END
      FROM locked WHERE a.id = locked.id
    RETURNING a.id, a.balance
), tx AS (
    INSERT INTO floor_transaction (kind, idempotency_key) VALUES ('transfer', 'floor:' || :run || ':' || :client_id || ':' || :key)
    RETURNING id
)
INSERT INTO floor_entry (transaction_id, account_id, amount, balance_after)
SELECT tx.id, moved.id, CASE WHEN moved.id = :src THEN -CAST(:amount AS bigint) ELSE CAST(:amount AS bigint) END, moved.balance FROM tx, moved;
COMMIT;
