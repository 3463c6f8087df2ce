-- bench/ledger.py's "post_sql" scenario: exactly the call transfer() makes,
-- ledger_post() with the same arguments (users' wallets resolved in the
-- database, the frozen check on the payer), driven by pgbench -M prepared in the
-- same BEGIN ... COMMIT shape as the floor. Set beside the floor and transfer(),
-- it splits transfer()'s distance from the floor into the ledger's SQL function
-- (post_sql / floor) and the Python service around it (transfer / post_sql).
-- Client c shuttles 1 token within the wallets of users 2c+1 and 2c+2, whose
-- UUIDs bench/ledger.py makes from those integers.
\set flip random(0, 1)
\set src 2 * :client_id + 1 + :flip
\set dst 2 * :client_id + 2 - :flip
\set key random(1, 9000000000000000000)
BEGIN;
SELECT status FROM ledger_post(
    'transfer', 'post:' || :run || ':' || :client_id || ':' || :key, repeat('f', 64), '', '',
    '{NULL,NULL}'::bigint[],
    ARRAY[CAST(lpad(to_hex(CAST(:src AS bigint)), 32, '0') AS uuid), CAST(lpad(to_hex(CAST(:dst AS bigint)), 32, '0') AS uuid)],
    '{wallet,wallet}'::text[], '{"",""}'::text[], '{0,0}'::integer[], '{-1,1}'::bigint[], 1, 0);
COMMIT;
