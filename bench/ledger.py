"""Ledger benchmark: pgbench TPC-B-like vs transfer() vs a 64-payer tip storm, on one PostgreSQL.

    .venv/bin/python bench/ledger.py [--clients 16] [--payers 64] [--seconds 15] [--scale 16] [--processes N]

Starts its own throwaway PostgreSQL on loopback with the *normal* durability
settings (fsync on, synchronous_commit on, full_page_writes on), then measures:

  (a) pgbench's built-in tpcb-like script, --clients clients, scale --scale;
  (b) uncontended transfers/s through ledger.services.transfer(): --clients
      threads, each moving tokens within its own pair of wallets;
  (c) a tip storm: --payers threads, each a different fan, all tipping ONE
      creator through charge_with_fee (creator earnings + sharded platform fee).

Prints the rates and the ratios (b)/(a) and (c)/(b) the issue asks for.
"""

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from servers import Postgres  # noqa: E402  (bench/ is on sys.path when run as a script)


def server_cpu_seconds(pg: Postgres) -> float:
    """CPU used so far by the PostgreSQL server: live backends and workers plus exited ones.

    CPU per operation does not depend on what else the shared machine runs, so
    it explains a throughput ratio that load moves around.
    """
    tick = os.sysconf("SC_CLK_TCK")
    postmaster = open(os.path.join(pg.data, "postmaster.pid")).readline().strip()
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # own utime, stime + exited children's
        elif fields[1] == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def pgbench_tpcb(pg: Postgres, *, clients: int, scale: int, seconds: int) -> tuple[float, float, float]:
    """(tps, server CPU ms per transaction, pgbench's own CPU ms per transaction)."""
    base = [f"{pg.bindir}/pgbench", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "digis"]
    subprocess.run([*base, "-i", "-q", "-s", str(scale), "pgbench"], check=True, capture_output=True)
    server0, client0 = server_cpu_seconds(pg), _children_cpu()
    out = subprocess.run(
        [*base, "-b", "tpcb-like", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds), "-n", "pgbench"],
        check=True, capture_output=True, text=True,
    ).stdout
    server, client = server_cpu_seconds(pg) - server0, _children_cpu() - client0
    for line in out.splitlines():
        if line.startswith("tps =") or line.startswith("tps="):
            tps = float(line.split("=")[1].split()[0])
            done = [ln for ln in out.splitlines() if ln.startswith("number of transactions actually processed")]
            n = int(done[0].split(":")[1].split("/")[0]) if done else tps * seconds
            return tps, 1e3 * server / n, 1e3 * client / n
    raise RuntimeError(f"could not read pgbench output:\n{out}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _worker_process(scenario, id_groups, seconds, db_env, barrier, results):
    """One OS process (so Python runs on every core) driving len(id_groups) threads."""
    os.environ.update(db_env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections

    from ledger import services

    User = get_user_model()
    stop = threading.Event()
    ready = threading.Barrier(len(id_groups) + 1)
    counts = [0] * len(id_groups)
    run_id = os.urandom(4).hex()  # fresh keys on every run: a replay costs far less than a write
    errors = []

    def run(index, ids):
        try:
            users = [User.objects.get(pk=pk) for pk in ids]
            n = 0
            ready.wait()
            while not stop.is_set():
                n += 1
                key = f"bench:{scenario}:{run_id}:{ids[0]}:{n}"
                if scenario == "transfer":
                    a, b = users
                    src, dst = (a, b) if n % 2 else (b, a)
                    services.transfer(source=src, destination=dst, amount=1, kind="transfer", idempotency_key=key)
                else:
                    fan, creator = users
                    services.charge_with_fee(payer=fan, creator=creator, amount=10, kind="tip", idempotency_key=key)
                counts[index] += 1
        except BaseException as exc:  # reported, not hidden
            errors.append(repr(exc))
            if not ready.broken:
                ready.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, ids), daemon=True) for i, ids in enumerate(id_groups)]
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


def run_workers(scenario, id_groups, *, seconds, processes, db_env, pg) -> tuple[float, int, list, float, float]:
    """Spread the id groups (one thread each) over `processes` processes.

    Returns (ops/s, ops, errors, server CPU ms per op, client CPU ms per op).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    chunks = [id_groups[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_worker_process, args=(scenario, chunk, seconds, db_env, barrier, results)) for chunk in chunks]
    for proc in procs:
        proc.start()
    server0 = server_cpu_seconds(pg)
    barrier.wait(timeout=300)
    began = time.perf_counter()
    collected = [results.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.perf_counter() - began
    server = server_cpu_seconds(pg) - server0
    for proc in procs:
        proc.join(30)
    total = sum(count for count, _, _ in collected)
    errors = [e for _, errs, _ in collected for e in errs]
    client = sum(cpu for _, _, cpu in collected)
    return total / elapsed, total, errors, 1e3 * server / max(total, 1), 1e3 * client / max(total, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--payers", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--scale", type=int, default=16)
    # Two worker processes per core by default. Threads of a single Python
    # process measure the GIL (16 clients in 1-2 processes: ~1200/s); one process
    # per client measures context switches (16 processes: ~1300/s, with server
    # and client CPU per transfer up by a third); 4-8 processes ran ~1700/s.
    parser.add_argument("--processes", type=int, default=2 * (os.cpu_count() or 1), help="worker processes for (b) and (c)")
    args = parser.parse_args()
    b_processes = c_processes = args.processes

    pg = Postgres(durable=True, max_connections=300).start()
    pg.createdb("pgbench")
    try:
        info = pg.settings()
        print(f"PostgreSQL {info.get('server_version')} fsync={info.get('fsync')} synchronous_commit={info.get('synchronous_commit')} "
              f"full_page_writes={info.get('full_page_writes')} cpus={os.cpu_count()}", flush=True)
        tpcb, a_server, a_client = pgbench_tpcb(pg, clients=args.clients, scale=args.scale, seconds=args.seconds)
        print(f"(a) pgbench tpcb-like, scale {args.scale}, {args.clients} clients: {tpcb:.0f} tps "
              f"[CPU per op: server {a_server:.3f} ms, client {a_client:.3f} ms]", flush=True)

        os.environ.update({
            "DATABASE_URL": f"postgres://digis@127.0.0.1:{pg.port}/digis",
            "DJANGO_SETTINGS_MODULE": "digis.settings",
            "DB_POOL_MAX_SIZE": str(max(args.clients, args.payers) + 10),
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

        # (b) uncontended: each thread shuttles tokens inside its own pair of wallets.
        pairs = []
        for i in range(args.clients):
            a, b = make_user(f"bench_a{i}"), make_user(f"bench_b{i}")
            services.credit_purchase(user=a, tokens=10**9, idempotency_key=f"bench:fund:a{i}", reference="bench")
            services.credit_purchase(user=b, tokens=10**9, idempotency_key=f"bench:fund:b{i}", reference="bench")
            pairs.append((a, b))

        services.transfer(source=pairs[0][0], destination=pairs[0][1], amount=1, kind="transfer", idempotency_key="bench:warmup")
        db_env = {k: os.environ[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
        db_env["DB_POOL_MAX_SIZE"] = str(max(args.clients // b_processes, args.payers // c_processes) + 4)
        db_env["DB_POOL_MIN_SIZE"] = "1"
        from django.db import connections

        connections.close_all()
        transfers, n_b, errors_b, b_server, b_client = run_workers(
            "transfer", [[str(a.pk), str(b.pk)] for a, b in pairs], seconds=args.seconds, processes=b_processes,
            db_env=db_env, pg=pg,
        )
        print(f"(b) transfer(), {args.clients} threads over {b_processes} processes, own wallet pairs: "
              f"{transfers:.0f} transfers/s ({n_b} in {args.seconds}s, {len(errors_b)} errors) "
              f"[CPU per op: server {b_server:.3f} ms, client {b_client:.3f} ms]", flush=True)

        # (c) tip storm: many payers, one creator.
        creator = make_creator("bench_star")
        payers = []
        for i in range(args.payers):
            fan = make_user(f"bench_fan{i}")
            services.credit_purchase(user=fan, tokens=10**9, idempotency_key=f"bench:fund:fan{i}", reference="bench")
            payers.append(fan)

        connections.close_all()
        tips, n_c, errors_c, c_server, c_client = run_workers(
            "tip", [[str(fan.pk), str(creator.pk)] for fan in payers], seconds=args.seconds, processes=c_processes,
            db_env=db_env, pg=pg,
        )
        print(f"(c) tip storm, {args.payers} payers -> 1 creator over {c_processes} processes: "
              f"{tips:.0f} tips/s ({n_c} in {args.seconds}s, {len(errors_c)} errors) "
              f"[CPU per op: server {c_server:.3f} ms, client {c_client:.3f} ms]", flush=True)
        pending = selectors.pending_earnings(user=creator)
        assert pending == n_c * 8, (pending, n_c)
        problems = {k: v for k, v in run_all().items() if v}
        for err in (errors_b + errors_c)[:5]:
            print("  error:", err)
        print(f"ledger_check after the run: {'ok' if not problems else problems}")
        print(f"(b)/(a) = {transfers / tpcb:.2f}   (c)/(b) = {tips / transfers:.2f}   "
              f"(CPU per op, server + client: a {a_server + a_client:.3f} ms, b {b_server + b_client:.3f} ms, "
              f"c {c_server + c_client:.3f} ms; load average now {os.getloadavg()[0]:.2f})")
    finally:
        from django.db import connections

        try:
            connections.close_all()
        except Exception:
            pass
        pg.stop()


if __name__ == "__main__":
    main()
