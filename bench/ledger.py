"""Ledger benchmark: transfer() and the tip storm against a like-for-like physical floor, on one PostgreSQL.

    .venv/bin/python bench/ledger.py [--clients 16] [--seconds 15] [--rounds 5] [--processes 4] [--no-write]

Starts its own throwaway PostgreSQL on loopback with the *normal* durability
settings (fsync on, synchronous_commit on, full_page_writes on) and measures,
with the same --clients clients in every scenario:

  floor      pgbench running a custom script (bench/ledger_floor.sql) that
             does by hand, in SQL, what one transfer must do at minimum:
             lock two balances in primary-key order, update both with the
             balance >= 0 check, insert the transaction (unique idempotency
             key) and its two entries (with the balance after). Tables of its
             own (a database "floor" in the same cluster: one primary key each,
             the key's unique index, the entries' foreign keys and their
             (account, id) index, i.e. what a ledger cannot do without).
             It runs as one statement inside BEGIN ... COMMIT, the same
             transaction shape and round trips as transfer() (BEGIN,
             SELECT ledger_post(...), COMMIT), with pgbench -M prepared because
             transfer() calls ledger_post() as a server-side prepared statement.
    floor_hot  the same script, every client paying from its own wallet into ONE
             account (the hot row is locked and updated by all of them).
    transfer   ledger.services.transfer(), each client its own wallet pair.
    post_sql   pgbench calling ledger_post() with exactly transfer()'s arguments
             (bench/ledger_post.sql), the same wallet pairs, the floor's
             transaction shape: not a target, it splits transfer()'s distance
             from the floor into the ledger's SQL function (post_sql / floor)
             and the Python service around it (transfer / post_sql).
    tips       the tip storm: each client a different fan, all tipping ONE creator
             through charge_with_fee (pending earnings + a sharded platform fee).

One round runs the four in turn, --seconds each; rounds alternate the order
(floor first, then ours first) so that the machine's drift hits both sides
alike. Ratios per round: transfer / floor (target >= 0.7) and tips / floor_hot
(target >= 0.8); reported as the median with the spread (min-max) over rounds.
Beside each rate: CPU per operation of the server and of the client.

The run is appended to the "## ledger" section of bench/RESULTS.md with date,
commit and load before and after (earlier runs stay as history); --no-write
prints only.
"""

import argparse
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres, Run, append_run, record_target  # noqa: E402  (bench/ is on sys.path when run as a script)

SECTION = "## ledger"
FLOOR_SQL = Path(__file__).resolve().parent / "ledger_floor.sql"
POST_SQL = Path(__file__).resolve().parent / "ledger_post.sql"
TARGET_TRANSFER = 0.7
TARGET_TIPS = 0.8
HOT_ACCOUNT = 1_000_000

FLOOR_SCHEMA = """
CREATE TABLE floor_account (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE floor_transaction (
    id bigserial PRIMARY KEY, kind text NOT NULL, idempotency_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE floor_entry (
    id bigserial PRIMARY KEY, transaction_id bigint NOT NULL REFERENCES floor_transaction,
    account_id bigint NOT NULL REFERENCES floor_account, amount bigint NOT NULL CHECK (amount <> 0),
    balance_after bigint, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX floor_entry_account_id ON floor_entry (account_id, id);
INSERT INTO floor_account SELECT g, 1000000000 FROM generate_series(1, {accounts}) g;
INSERT INTO floor_account VALUES ({hot}, 0);
VACUUM ANALYZE;
"""


def pgbench_floor(pg: Postgres, *, clients: int, seconds: int, hot: bool, script: Path = FLOOR_SQL, db: str = "floor") -> tuple[float, int, float, float]:
    """The floor script for ``seconds``: (tps, transactions, server CPU ms/op, pgbench CPU ms/op).

    Uncontended: client c moves 1 token back and forth within accounts 2c+1 and
    2c+2. Hot: client c pays 10 tokens from account c+1 into the one hot account.
    """
    command = [f"{pg.bindir}/pgbench", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "digis", "-n", "-M", "prepared",
               "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds),
               "-D", f"hot={1 if hot else 0}", "-D", f"hot_account={HOT_ACCOUNT}", "-D", f"run={os.urandom(4).hex()}",
               "-f", str(script), db]
    server0, client0 = pg.cpu_seconds(), _children_cpu()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    out = result.stdout
    server, client = pg.cpu_seconds() - server0, _children_cpu() - client0
    done = [ln for ln in out.splitlines() if ln.startswith("number of transactions actually processed")]
    failed = [ln for ln in out.splitlines() if ln.startswith("number of failed transactions")]
    if failed and not failed[0].split(":")[1].strip().startswith("0"):
        raise RuntimeError(f"pgbench had failed transactions:\n{out}")
    n = int(done[0].split(":")[1].split("/")[0])
    tps = next(float(ln.split("=")[1].split()[0]) for ln in out.splitlines() if ln.startswith("tps"))
    return tps, n, 1e3 * server / max(n, 1), 1e3 * client / max(n, 1)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _worker_process(groups, db_env, commands, barrier, results):
    """One OS process (so Python runs on every core), started once for the
    whole run: on each command (scenario, seconds) it drives one thread per id
    group of that scenario, starting the clock with the other processes."""
    os.environ.update(db_env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    from ledger import services

    User = get_user_model()
    users = {scenario: [[User.objects.get(pk=pk) for pk in ids] for ids in id_groups] for scenario, id_groups in groups.items()}
    connections.close_all()
    run_id = os.urandom(4).hex()  # fresh keys on every run: a replay costs far less than a write
    round_no = 0
    while (command := commands.get()) is not None:
        scenario, seconds = command
        round_no += 1
        stop = threading.Event()
        ready = threading.Barrier(len(users[scenario]) + 1)
        counts = [0] * len(users[scenario])
        errors = []

        def run(index, pair):
            try:
                n = 0
                ready.wait()
                while not stop.is_set():
                    n += 1
                    key = f"bench:{scenario}:{run_id}:{round_no}:{pair[0].pk}:{n}"
                    if scenario == "transfer":
                        a, b = pair
                        src, dst = (a, b) if n % 2 else (b, a)
                        services.transfer(source=src, destination=dst, amount=1, kind="transfer", idempotency_key=key)
                    else:
                        fan, creator = pair
                        services.charge_with_fee(payer=fan, creator=creator, amount=10, kind="tip", idempotency_key=key)
                    counts[index] += 1
            except BaseException as exc:  # reported, not hidden
                errors.append(repr(exc))
                if not ready.broken:
                    ready.abort()
            finally:
                connections.close_all()  # this thread's connection back to the pool for the next scenario

        threads = [threading.Thread(target=run, args=(i, pair), daemon=True) for i, pair in enumerate(users[scenario])]
        for t in threads:
            t.start()
        ready.wait()
        barrier.wait()  # every process starts the clock together
        cpu0 = time.process_time()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(60)
        results.put((sum(counts), errors, time.process_time() - cpu0))
    connections.close_all()


class Workers:
    """``processes`` worker processes holding the clients of both scenarios,
    the id groups (one thread each) spread evenly over them; started once."""

    def __init__(self, groups: dict, *, processes: int, db_env: dict, pg: Postgres):
        ctx = multiprocessing.get_context("spawn")
        self.pg = pg
        self.barrier = ctx.Barrier(processes + 1)
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(processes)]
        self.procs = [
            ctx.Process(target=_worker_process, args=({name: ids[i::processes] for name, ids in groups.items()}, db_env,
                                                      self.commands[i], self.barrier, self.results))
            for i in range(processes)
        ]
        for proc in self.procs:
            proc.start()

    def run(self, scenario: str, seconds: int) -> tuple[float, int, list, float, float]:
        """(ops/s, ops, errors, server CPU ms per op, client CPU ms per op)."""
        for queue in self.commands:
            queue.put((scenario, seconds))
        server0 = self.pg.cpu_seconds()
        self.barrier.wait(timeout=600)
        began = time.perf_counter()
        collected = [self.results.get(timeout=seconds + 120) for _ in self.procs]
        elapsed = time.perf_counter() - began
        server = self.pg.cpu_seconds() - server0
        total = sum(count for count, _, _ in collected)
        errors = [e for _, errs, _ in collected for e in errs]
        client = sum(cpu for _, _, cpu in collected)
        return total / elapsed, total, errors, 1e3 * server / max(total, 1), 1e3 * client / max(total, 1)

    def stop(self) -> None:
        if not self.procs:
            return
        for queue in self.commands:
            queue.put(None)
        for proc in self.procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
        self.procs = []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="clients in every scenario (the tip storm's payers too)")
    parser.add_argument("--seconds", type=int, default=15, help="seconds per scenario per round")
    parser.add_argument("--rounds", type=int, default=5)
    # Two worker processes per core by default. Threads of a single Python
    # process measure the GIL (16 clients in 1-2 processes: ~1200/s); one process
    # per client measures context switches (16 processes: ~1300/s, with server
    # and client CPU per transfer up by a third); 4-8 processes ran ~1700/s.
    parser.add_argument("--processes", type=int, default=2 * (os.cpu_count() or 1), help="worker processes for transfer and tips")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    processes = min(args.processes, args.clients)
    run = Run(" ".join(["bench/ledger.py", *sys.argv[1:]]))

    workers = None
    pg = Postgres(durable=True, max_connections=300).start()
    pg.createdb("floor")
    try:
        info = pg.settings()
        print(f"PostgreSQL {info.get('server_version')} fsync={info.get('fsync')} synchronous_commit={info.get('synchronous_commit')} "
              f"full_page_writes={info.get('full_page_writes')} cpus={os.cpu_count()}", flush=True)
        pg.psql(FLOOR_SCHEMA.format(accounts=2 * args.clients, hot=HOT_ACCOUNT), db="floor")

        os.environ.update({
            "DATABASE_URL": f"postgres://digis@127.0.0.1:{pg.port}/digis",
            "DJANGO_SETTINGS_MODULE": "digis.settings",
            "DB_POOL_MAX_SIZE": str(args.clients + 10),
            "DB_POOL_MIN_SIZE": "4",
            "LOG_LEVEL": "WARNING",
            # Production mode, as a deployment runs: DEBUG wraps every cursor to record queries.
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
        })
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from accounts.tests.factories import make_creator, make_user
        from ledger import selectors, services
        from ledger.checks import run_all

        # transfer: each client shuttles tokens inside its own pair of wallets.
        pairs = []
        for i in range(args.clients):
            # UUIDs 2i+1 and 2i+2: bench/ledger_post.sql names them from pgbench's client id.
            a, b = make_user(f"bench_a{i}", id=uuid.UUID(int=2 * i + 1)), make_user(f"bench_b{i}", id=uuid.UUID(int=2 * i + 2))
            services.credit_purchase(user=a, tokens=10**9, idempotency_key=f"bench:fund:a{i}", reference="bench")
            services.credit_purchase(user=b, tokens=10**9, idempotency_key=f"bench:fund:b{i}", reference="bench")
            pairs.append((a, b))
        # tips: as many payers as clients, one creator.
        creator = make_creator("bench_star")
        payers = []
        for i in range(args.clients):
            fan = make_user(f"bench_fan{i}")
            services.credit_purchase(user=fan, tokens=10**9, idempotency_key=f"bench:fund:fan{i}", reference="bench")
            payers.append(fan)
        services.transfer(source=pairs[0][0], destination=pairs[0][1], amount=1, kind="transfer", idempotency_key="bench:warmup")
        db_env = {k: os.environ[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
        db_env["DB_POOL_MAX_SIZE"] = str(args.clients // processes + 4)
        db_env["DB_POOL_MIN_SIZE"] = "1"
        from django.db import connections

        connections.close_all()

        def floor():
            tps, n, server, client = pgbench_floor(pg, clients=args.clients, seconds=args.seconds, hot=False)
            return tps, n, [], server, client

        def floor_hot():
            tps, n, server, client = pgbench_floor(pg, clients=args.clients, seconds=args.seconds, hot=True)
            return tps, n, [], server, client

        workers = Workers({"transfer": [[str(a.pk), str(b.pk)] for a, b in pairs],
                           "tip": [[str(fan.pk), str(creator.pk)] for fan in payers]},
                          processes=processes, db_env=db_env, pg=pg)

        def transfer():
            return workers.run("transfer", args.seconds)

        def post_sql():
            tps, n, server, client = pgbench_floor(pg, clients=args.clients, seconds=args.seconds, hot=False,
                                                   script=POST_SQL, db="digis")
            return tps, n, [], server, client

        def tips():
            return workers.run("tip", args.seconds)

        scenarios = {"floor": floor, "transfer": transfer, "post_sql": post_sql, "floor_hot": floor_hot, "tips": tips}
        per_round = []
        errors = []
        tips_done = 0
        for round_no in range(args.rounds):
            order = (["floor", "transfer", "post_sql", "floor_hot", "tips"] if round_no % 2 == 0
                     else ["post_sql", "transfer", "floor", "tips", "floor_hot"])
            print(f"round {round_no + 1} ({', '.join(order)}), load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            measured = {}
            for name in order:
                rate, n, errs, server, client = scenarios[name]()
                measured[name] = {"rate": rate, "n": n, "server": server, "client": client, "errors": len(errs)}
                errors += errs
                if name == "tips":
                    tips_done += n
                print(f"  {name:9s} {rate:7.0f}/s ({n} in {args.seconds} s, {len(errs)} errors) "
                      f"[CPU per op: server {server:.3f} ms, client {client:.3f} ms]", flush=True)
            measured["transfer/floor"] = measured["transfer"]["rate"] / measured["floor"]["rate"]
            measured["tips/floor_hot"] = measured["tips"]["rate"] / measured["floor_hot"]["rate"]
            measured["post_sql/floor"] = measured["post_sql"]["rate"] / measured["floor"]["rate"]
            measured["transfer/post_sql"] = measured["transfer"]["rate"] / measured["post_sql"]["rate"]
            print(f"  transfer/floor {measured['transfer/floor']:.2f}, tips/floor_hot {measured['tips/floor_hot']:.2f} "
                  f"(post_sql/floor {measured['post_sql/floor']:.2f}, transfer/post_sql {measured['transfer/post_sql']:.2f})", flush=True)
            per_round.append(measured)
        workers.stop()
        pending = selectors.pending_earnings(user=creator)
        assert pending == tips_done * 8, (pending, tips_done)
        problems = {k: v for k, v in run_all().items() if v}
        for err in errors[:5]:
            print("  error:", err)
        check = "ok" if not problems else repr(problems)
        print(f"ledger_check after the run: {check}")
    finally:
        from django.db import connections

        if workers is not None:
            workers.stop()
        try:
            connections.close_all()
        except Exception:
            pass
        pg.stop()
    run.finish()

    def spread(values):
        return statistics.median(values), min(values), max(values)

    rows = []
    for name in ("floor", "transfer", "post_sql", "floor_hot", "tips"):
        rate = spread([r[name]["rate"] for r in per_round])
        server = statistics.median(r[name]["server"] for r in per_round)
        client = statistics.median(r[name]["client"] for r in per_round)
        errs = sum(r[name]["errors"] for r in per_round)
        rows.append(f"| {name} | {rate[0]:.0f} | {rate[1]:.0f}-{rate[2]:.0f} | {server:.3f} | {client:.3f} | {errs} |")
    ratios = {}
    for key, target in (("transfer/floor", TARGET_TRANSFER), ("tips/floor_hot", TARGET_TIPS)):
        median, low, high = spread([r[key] for r in per_round])
        ratios[key] = (median, low, high, target, median >= target and not errors and check == "ok")
    table = ("| scenario | median /s | spread (min-max) /s | server CPU ms/op | client CPU ms/op | errors |\n"
             "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows))
    verdicts = [f"**{key}: {m:.3f}** (rounds {lo:.2f}-{hi:.2f}; target >= {t}: {'met' if ok else '**not met**'})"
                for key, (m, lo, hi, t, ok) in ratios.items()]
    rounds = " / ".join(f"{r['transfer/floor']:.2f} & {r['tips/floor_hot']:.2f}" for r in per_round)
    split = {key: spread([r[key] for r in per_round]) for key in ("post_sql/floor", "transfer/post_sql")}
    verdicts.append("where transfer()'s distance from the floor is: the SQL function "
                    + f"(post_sql/floor {split['post_sql/floor'][0]:.2f}, rounds {split['post_sql/floor'][1]:.2f}-{split['post_sql/floor'][2]:.2f}) "
                    + f"and the Python service around it (transfer/post_sql {split['transfer/post_sql'][0]:.2f}, "
                    + f"rounds {split['transfer/post_sql'][1]:.2f}-{split['transfer/post_sql'][2]:.2f})")
    print(table)
    for line in verdicts:
        print(line)
    if not args.no_write:
        body = (run.heading("Run")
                + f"{args.clients} clients in every scenario ({processes} worker processes for transfer and tips; pgbench "
                f"-M prepared -j {min(args.clients, os.cpu_count() or 1)}), {args.rounds} rounds of {args.seconds} s per "
                "scenario, order alternating by round. Throwaway PostgreSQL on loopback, fsync, synchronous_commit and "
                "full_page_writes on. Floor: bench/ledger_floor.sql (one statement in BEGIN ... COMMIT on tables of its "
                "own); hot: every client into one account.\n\n"
                f"{table}\n\n" + "\n".join(f"- {line}" for line in verdicts)
                + f"\n- per round (transfer/floor & tips/floor_hot): {rounds}\n- ledger_check after the run: {check}\n")
        print(f"appended to {append_run(SECTION, body)}")
    for key, (m, lo, hi, t, ok) in ratios.items():
        record_target("ledger", f"{key} ({args.clients} clients)", f"{m:.2f} ({lo:.2f}-{hi:.2f})", f">= {t}", ok)


if __name__ == "__main__":
    main()
